/**
 * `sluice warehouse schema`: the SQL of the tables and columns for a corpus, planned by the destination kind's own
 * code, with the settings of the config's warehouse destination for the source or the kind's defaults.
 * (That this SQL is what the loader creates is checked against a real PostgreSQL in
 * destinations/postgres/warehouse.pg.test.ts.)
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it, vi } from "vitest";
import { warehouseCommand } from "../../src/cli/warehouse.ts";
import { tempFolder } from "../support/temp-folder.ts";

const CORPUS = "test/fixtures/events-5k.ndjson";
const dir = tempFolder("warehouse-cli");

afterEach(() => vi.restoreAllMocks());

async function run(positional: string[], options: Record<string, string>, config = "filters") {
  let out = "";
  const errors: string[] = [];
  vi.spyOn(console, "error").mockImplementation((m: string) => void errors.push(m));
  const code = await warehouseCommand(positional, options, config, (t) => (out += t));
  return { code, out, errors };
}

it("prints CREATE statements for every table the corpus needs, with the kind's defaults when the config has no warehouse", async () => {
  const { code, out } = await run(["schema"], { source: "web", events: CORPUS });
  expect(code).toBe(0);
  expect(out).toMatch(/^-- 5000 event\(s\) of source web, planned by kind postgres with its default settings/);
  expect(out).toContain('CREATE SCHEMA IF NOT EXISTS "web";');
  const tables = [...out.matchAll(/CREATE TABLE IF NOT EXISTS "web"\."(\w+)"/g)].map((m) => m[1]);
  expect(tables).toEqual(expect.arrayContaining(["sluice_discards", "tracks", "identifies", "users", "pages", "screens", "groups", "aliases", "order_completed", "product_viewed"]));
  expect(new Set(tables).size).toBe(tables.length);
  expect(out).toMatch(/CREATE TABLE IF NOT EXISTS "web"\."order_completed" \(\n {2}"id" text PRIMARY KEY,[^;]*\n {2}"revenue" double precision,/);
});

it("uses the settings of the config's postgres destination for the source", async () => {
  writeFileSync(
    join(dir, "sluice.yaml"),
    `sources:
  - id: web
    name: Web
    write_keys: [wk_cli_test]
destinations:
  - id: dwh
    name: DWH
    kind: postgres
    sources: [web]
    settings: { schema: analytics, skip_tracks_table: true }
`,
  );
  const { code, out } = await run(["schema"], { source: "web", events: CORPUS }, dir);
  expect(code).toBe(0);
  expect(out).toContain(`planned by destination "dwh" in ${dir}`);
  expect(out).toContain('CREATE SCHEMA IF NOT EXISTS "analytics";');
  expect(out).not.toContain('"analytics"."tracks"');
  expect(out).toContain('"analytics"."product_viewed"');
});

it("refuses a missing --source, an unknown destination and an unreadable line", async () => {
  expect((await run(["schema"], { events: CORPUS })).code).toBe(1);
  const unknown = await run(["schema"], { source: "web", events: CORPUS, destination: "nope" });
  expect(unknown.code).toBe(1);
  expect(unknown.errors.join("\n")).toMatch(/no destination "nope"/);
  const bad = join(dir, "bad.ndjson");
  writeFileSync(bad, '{"type":"track","event":"A","messageId":"1"}\n{oops\n');
  const broken = await run(["schema"], { source: "web", events: bad });
  expect(broken.code).toBe(1);
  expect(broken.errors.join("\n")).toMatch(/bad\.ndjson: line 2: /);
});

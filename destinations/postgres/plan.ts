/**
 * Schema evolution, planned against what the database has: tables that are missing are created, columns that
 * are missing are added with the type their values infer (up to `max_columns` per table), and an existing
 * column's type never changes. Then each row is fitted to the columns as they are; what does not fit becomes a
 * discard. Pure: the loader runs the plan, `sluice warehouse schema` prints it.
 */
import { SYSTEM_COLUMNS, type Discard, type Row, type TableRows } from "./rows.ts";
import { asText, coerce, inferType, kindOf, widen, type ColumnKind, type ColumnType } from "./types.ts";

/** The columns of each table of one schema, as information_schema says: column → data_type. */
export type KnownSchema = Map<string, Map<string, string>>;

export const DISCARDS_TABLE = "sluice_discards";
const DISCARD_COLUMNS: [string, ColumnType][] = [
  ["table_name", "text"],
  ["row_id", "text"],
  ["column_name", "text"],
  ["column_value", "text"],
  ["received_at", "timestamptz"],
  ["uuid_ts", "timestamptz"],
  ["reason", "text"],
];

export type Change =
  | { op: "create_schema" }
  | { op: "create_table"; table: string; columns: [string, ColumnType][]; primaryKey: string[] }
  | { op: "add_columns"; table: string; columns: [string, ColumnType][] };

/**
 * What to create so the rows' columns exist: the schema and `sluice_discards` when missing, each missing table
 * with its system columns and the new columns, and each existing table's new columns. Columns past
 * `maxColumns` are left out (their values become discards when the rows are fitted).
 */
export function planChanges(known: KnownSchema, tables: readonly TableRows[], maxColumns: number): Change[] {
  const changes: Change[] = [];
  if (known.size === 0) changes.push({ op: "create_schema" });
  if (!known.has(DISCARDS_TABLE)) changes.push({ op: "create_table", table: DISCARDS_TABLE, columns: DISCARD_COLUMNS, primaryKey: ["table_name", "row_id", "column_name"] });
  for (const { table, shape, rows } of tables) {
    const existing = known.get(table);
    const system = SYSTEM_COLUMNS[shape];
    // A table made by hand may lack system columns (uuid_ts is on every insert): they come first.
    const missing = [...system].filter(([c]) => !existing?.has(c));
    const have = new Map<string, string>([...(existing ?? []), ...missing]);
    const fresh = newColumns(have, rows, Math.max(0, maxColumns - have.size));
    if (!existing) changes.push({ op: "create_table", table, columns: [...system, ...fresh], primaryKey: ["id"] });
    else if (missing.length + fresh.length > 0) changes.push({ op: "add_columns", table, columns: [...missing, ...fresh] });
  }
  return changes;
}

/** Columns the rows use that `have` lacks, in order of first use, typed by their values; at most `room`. */
function newColumns(have: ReadonlyMap<string, string>, rows: readonly Row[], room: number): [string, ColumnType][] {
  const types = new Map<string, ColumnType>();
  for (const row of rows) {
    for (const [column, cell] of row.cells) {
      if (have.has(column)) continue;
      const type = inferType(cell.value);
      if (!type) continue;
      const seen = types.get(column);
      if (seen) types.set(column, widen(seen, type));
      else if (types.size < room) types.set(column, type);
    }
  }
  return [...types];
}

/** A row as it is inserted: column → value as the driver sends it. */
export interface FittedRow {
  id: string;
  values: Map<string, unknown>;
  events: number[];
}

/**
 * Fits a table's rows to its columns: each value coerced to its column's type, or discarded with the reason
 * (type mismatch; no column because the table has `maxColumns`). The row itself always loads.
 */
export function fitRows(columns: ReadonlyMap<string, string>, rows: readonly Row[], table: string, maxColumns: number, discards: Discard[]): FittedRow[] {
  const kinds = new Map<string, ColumnKind>();
  for (const [column, dataType] of columns) kinds.set(column, kindOf(dataType));
  const fitted: FittedRow[] = new Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const values = new Map<string, unknown>();
    for (const [column, cell] of row.cells) {
      const kind = kinds.get(column);
      let reason: string | undefined;
      if (kind === undefined) reason = `no column: the table has max_columns (${maxColumns}) columns`;
      else if (kind === "text") values.set(column, asText(cell.value));
      else {
        const result = coerce(cell.value, kind, columns.get(column)!);
        if (result.ok) values.set(column, result.value);
        else reason = result.reason;
      }
      if (reason !== undefined) discards.push({ table, rowId: row.id, column, value: cell.value, receivedAt: row.receivedAt, reason, events: row.events });
    }
    fitted[r] = { id: row.id, values, events: row.events };
  }
  return fitted;
}

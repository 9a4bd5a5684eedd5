/**
 * Column types: what a new column gets from the first value seen, and how a value is made to fit a column that
 * exists (never the other way round: an existing column's type never changes). Pure.
 */

/** The column types Sluice creates. */
export type ColumnType = "bigint" | "double precision" | "boolean" | "timestamptz" | "text";

/** How a value is written into a column of any PostgreSQL type (an analyst may have made one by hand). */
export type ColumnKind = "integer" | "float" | "boolean" | "timestamp" | "json" | "text";

const ISO_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)$/;

/**
 * An ISO-8601 date and time with a zone (`Z` or an offset) that names a real instant: `2026-02-30T…` and
 * `24:00` are not, and neither is a date without a time (text).
 */
export function isIsoTimestamp(value: string): boolean {
  const m = ISO_TIMESTAMP.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? "0"].map(Number) as [number, number, number, number, number, number];
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return day <= daysInMonth;
}

/** The type a new column gets from a value; undefined for null (no type to learn from). */
export function inferType(value: unknown): ColumnType | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return Number.isSafeInteger(value) ? "bigint" : "double precision";
  if (typeof value === "string" && isIsoTimestamp(value)) return "timestamptz";
  return "text";
}

/** Two values of one new column in one batch: an integer and a float make a float column; otherwise the first wins. */
export function widen(first: ColumnType, next: ColumnType): ColumnType {
  if ((first === "bigint" && next === "double precision") || (first === "double precision" && next === "bigint")) return "double precision";
  return first;
}

/** information_schema.columns.data_type → how values are written into it. */
export function kindOf(dataType: string): ColumnKind {
  switch (dataType) {
    case "bigint":
    case "integer":
    case "smallint":
      return "integer";
    case "double precision":
    case "real":
    case "numeric":
      return "float";
    case "boolean":
      return "boolean";
    case "timestamp with time zone":
    case "timestamp without time zone":
    case "timestamptz":
      return "timestamp";
    case "json":
    case "jsonb":
      return "json";
    default:
      return "text";
  }
}

/** Text for a value in a text column, or for `sluice_discards.column_value`. */
export function asText(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  return JSON.stringify(value) ?? String(value);
}

export type Coerced = { ok: true; value: unknown } | { ok: false; reason: string };

/**
 * A value made to fit a column, as the driver sends it: an integer into a float column is fine, anything into a
 * text column is stringified (arrays and objects as JSON), anything else that does not fit is refused with the
 * reason `sluice_discards` records.
 */
export function coerce(value: unknown, kind: ColumnKind, dataType: string): Coerced {
  switch (kind) {
    case "text":
      return { ok: true, value: asText(value) };
    case "json":
      return { ok: true, value };
    case "integer":
      if (typeof value === "number" && Number.isSafeInteger(value)) return { ok: true, value: String(value) };
      break;
    case "float":
      if (typeof value === "number" && Number.isFinite(value)) return { ok: true, value };
      break;
    case "boolean":
      if (typeof value === "boolean") return { ok: true, value };
      break;
    case "timestamp":
      if (typeof value === "string" && isIsoTimestamp(value)) return { ok: true, value };
      break;
  }
  return { ok: false, reason: `type mismatch: column is ${dataType}, value is ${inferType(value) ?? "null"}` };
}

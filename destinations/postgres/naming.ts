/**
 * Table and column names as Segment's warehouses spell them: snake_case, a leading digit or a reserved SQL word
 * gets `_` in front, at most 63 characters (PostgreSQL's identifier limit) with a deterministic hash suffix when
 * cut. Pure: used by the loader, `sluice warehouse schema` and the tests alike.
 */

/** PostgreSQL's NAMEDATALEN - 1. */
export const MAX_IDENTIFIER = 63;

/** Tables Sluice creates itself in every schema; a track event whose name maps to one gets `_` in front. */
const BUILT_IN_TABLES: ReadonlySet<string> = new Set(["tracks", "identifies", "users", "pages", "screens", "groups", "aliases", "sluice_discards"]);

/**
 * SQL key words PostgreSQL reserves (reserved, or reserved as a function or type name, in its key word
 * appendix): unquoted they cannot name a column, so analysts' SQL would need quotes. Such names get `_`.
 */
const RESERVED = new Set(
  (
    "all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate collation " +
    "column concurrently constraint create cross current_catalog current_date current_role current_schema current_time " +
    "current_timestamp current_user default deferrable desc distinct do else end except false fetch for foreign freeze " +
    "from full grant group having ilike in initially inner intersect into is isnull join lateral leading left like limit " +
    "localtime localtimestamp natural not notnull null offset on only or order outer overlaps placing primary references " +
    "returning right select session_user similar some symmetric system_user table tablesample then to trailing true union " +
    "unique user using variadic verbose when where window with"
  ).split(" "),
);

/**
 * Segment's snake_case of one name: words split at case changes and at anything not a letter or digit, joined
 * by `_`, lower case; no leading, trailing or repeated `_`. Letters outside a-z are not kept.
 * @example snakeCase("Order Completed") // "order_completed"
 * @example snakeCase("HTTPStatusCode") // "http_status_code"
 */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z])([A-Z])/g, "$1_$2")
    .replace(/([0-9])([A-Z][a-z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
}

/** FNV-1a (32 bits) of the UTF-16 code units, as 8 hex digits: a short, stable, dependency-free tag. */
function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

/**
 * A snake_case word sequence made a safe identifier: empty → `_`, a leading digit or a reserved word gets `_`
 * in front, and a name longer than 63 characters keeps its first 54 and ends `_<hash of the whole name>`, so two
 * long names that share a start still differ.
 */
export function safeIdentifier(snake: string): string {
  let name = snake === "" ? "_" : snake;
  if (/^[0-9]/.test(name) || RESERVED.has(name)) name = `_${name}`;
  if (name.length > MAX_IDENTIFIER) name = `${name.slice(0, MAX_IDENTIFIER - 9)}_${shortHash(name)}`;
  return name;
}

/**
 * The column of a flattened property path: each segment snake_cased, joined by `_`.
 * @example columnName(["context", "userAgent"]) // "context_user_agent"
 */
export function columnName(path: readonly string[]): string {
  return safeIdentifier(path.map(snakeCase).filter((p) => p !== "").join("_"));
}

const memo = new Map<string, string>();
/** Names seen before are looked up, not recomputed: an isolate meets the same few hundred keys again and again. */
const MEMO_LIMIT = 20_000;

/**
 * `columnName` of a path given as its segments joined by NUL (how the flattener carries it), memoized per isolate.
 */
export function columnNameOfKey(key: string): string {
  let name = memo.get(key);
  if (name === undefined) {
    if (memo.size >= MEMO_LIMIT) memo.clear();
    name = columnName(key.split("\0"));
    memo.set(key, name);
  }
  return name;
}

/**
 * The table of a track event: its name snake_cased; one that names a built-in table gets `_` in front.
 * @example eventTableName("Identifies") // "_identifies"
 */
export function eventTableName(event: string): string {
  const name = safeIdentifier(snakeCase(event));
  return BUILT_IN_TABLES.has(name) ? `_${name}` : name;
}

/** The schema of a source when the destination names none: the source id, as a safe identifier. */
export function schemaName(sourceId: string): string {
  return safeIdentifier(snakeCase(sourceId));
}

/** `"name"`: identifiers Sluice makes are [a-z0-9_] already; quoting keeps any key word harmless. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Value semantics shared by the FQL compiler: path access, type names, equality, conversions.
 * Events are JSON: `undefined` (a missing field) is treated exactly like `null` everywhere.
 */

const hasOwn = Object.prototype.hasOwnProperty;

export type FqlTypeName = "string" | "number" | "list" | "bool" | "null" | "object";

/** Canonical array index ("0", "1", … without leading zeros), else -1. */
export function arrayIndexOf(segment: string): number {
  if (!/^(?:0|[1-9][0-9]{0,8})$/.test(segment)) return -1;
  return Number(segment);
}

/**
 * One step of path access: own properties of a non-array object, or an element of an array when the segment is
 * a canonical index (precomputed as `index`, -1 otherwise). Never reads the prototype chain, so `__proto__`,
 * `constructor`, `length` etc. resolve only if they are own data of the event.
 */
export function step(value: unknown, key: string, index: number): unknown {
  if (typeof value !== "object" || value === null) return undefined;
  if (Array.isArray(value)) return index >= 0 && index < value.length ? value[index] : undefined;
  return hasOwn.call(value, key) ? (value as Record<string, unknown>)[key] : undefined;
}

/** Step for a segment known not to be an array index: cheaper on the hot path. */
export function stepKey(value: unknown, key: string): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  return hasOwn.call(value, key) ? (value as Record<string, unknown>)[key] : undefined;
}

/**
 * Reads `segments` from `event` with own-property access only. Missing fields, and paths that run through a
 * non-object, give `undefined` (FQL treats it as `null`). Arrays are indexed by canonical numeric segments.
 */
export function readPath(event: unknown, segments: readonly string[]): unknown {
  let value = event;
  for (let i = 0; i < segments.length; i++) {
    const key = segments[i]!;
    value = step(value, key, arrayIndexOf(key));
    if (value === undefined) return undefined;
  }
  return value;
}

/** The FQL type of a value; `undefined` is "null". Non-JSON values (functions, symbols, bigints) are "object". */
export function typeName(value: unknown): FqlTypeName {
  switch (typeof value) {
    case "string":
      return "string";
    case "number":
      return "number";
    case "boolean":
      return "bool";
    case "undefined":
      return "null";
    case "object":
      return value === null ? "null" : Array.isArray(value) ? "list" : "object";
    default:
      return "object";
  }
}

/**
 * FQL `=`: same type and strictly equal, no coercion. `null` equals `null` (and a missing field). Lists compare
 * element-wise and deeply; objects compare deeply by their own enumerable keys (order-insensitive).
 */
export function fqlEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || a === undefined) return b === null || b === undefined;
  if (typeof a !== "object" || typeof b !== "object" || b === null) return false;
  const aIsArray = Array.isArray(a);
  if (aIsArray !== Array.isArray(b)) return false;
  if (aIsArray) {
    const la = a as readonly unknown[];
    const lb = b as readonly unknown[];
    if (la.length !== lb.length) return false;
    for (let i = 0; i < la.length; i++) if (!fqlEquals(la[i], lb[i])) return false;
    return true;
  }
  const oa = a as Record<string, unknown>;
  const ob = b as Record<string, unknown>;
  const keys = Object.keys(oa);
  if (keys.length !== Object.keys(ob).length) return false;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (!hasOwn.call(ob, k) || !fqlEquals(oa[k], ob[k])) return false;
  }
  return true;
}

/** Number of bytes of the UTF-8 encoding of `s`, counted without allocating (lone surrogates count as U+FFFD: 3). */
export function utf8ByteLength(s: string): number {
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        // Pair: 2 code units → 4 bytes.
        bytes += 2;
        i++;
      } else {
        bytes += 2;
      }
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/** `length(x)`: UTF-8 bytes of a string, items of a list, 0 for everything else (null, numbers, bools, objects). */
export function fqlLength(value: unknown): number {
  if (typeof value === "string") return utf8ByteLength(value);
  if (Array.isArray(value)) return value.length;
  return 0;
}

const WORD_START = /(^|\s)(\S)/gu;

export function fqlLowercase(value: unknown): string | null {
  return typeof value === "string" ? value.toLowerCase() : null;
}

export function fqlUppercase(value: unknown): string | null {
  return typeof value === "string" ? value.toUpperCase() : null;
}

// The words of a string as lodash's `_.words` finds them (its Unicode pattern), with Unicode letter classes where
// lodash has Latin-1 ranges: lower-case runs, upper-case runs (an acronym ends before an upper+lower pair:
// XMLHttp → XML Http), digit runs, English ordinals (1st, 2nd, 3rd, 4th…), emoji. Anything else separates.
const UPPER = "\\p{Lu}\\p{Lt}";
const LOWER = "\\p{Ll}";
/** Letters without case (CJK, …) and combining marks: they join either side, as lodash's "misc". */
const CASELESS = "\\p{Lm}\\p{Lo}\\p{M}";
const BREAK = "[^\\p{L}\\p{M}\\p{N}]";
const EMOJI_PART = "\\p{Extended_Pictographic}[\\u{FE0F}\\u{1F3FB}-\\u{1F3FF}]*";
const WORD = new RegExp(
  [
    `[${UPPER}]?[${LOWER}]+(?=${BREAK}|[${UPPER}]|$)`,
    `[${UPPER}${CASELESS}]+(?=${BREAK}|[${UPPER}][${LOWER}${CASELESS}]|$)`,
    `[${UPPER}]?[${LOWER}${CASELESS}]+`,
    `[${UPPER}]+`,
    "\\d*(?:1ST|2ND|3RD|(?![123])\\dTH)(?=\\b|[a-z_])",
    "\\d*(?:1st|2nd|3rd|(?![123])\\dth)(?=\\b|[A-Z_])",
    "\\p{Nd}+",
    `${EMOJI_PART}(?:\\u200D${EMOJI_PART})*`,
  ].join("|"),
  "gu",
);
/** Removed before splitting, as lodash does: "don't" is one word. */
const APOSTROPHES = /['\u2019]/g;

/** Lower-case words joined by `separator`: `Order Completed`, `orderCompleted`, `ORDER-COMPLETED` → order_completed. */
function joinWords(value: unknown, separator: string): string | null {
  if (typeof value !== "string") return null;
  return (value.replace(APOSTROPHES, "").match(WORD) ?? []).map((w) => w.toLowerCase()).join(separator);
}

/** `snakecase(x)`: lower-case words joined by `_` (lodash's `_.snakeCase`, accents kept). */
export function fqlSnakecase(value: unknown): string | null {
  return joinWords(value, "_");
}

/** `kebabcase(x)`: lower-case words joined by `-` (lodash's `_.kebabCase`, accents kept). */
export function fqlKebabcase(value: unknown): string | null {
  return joinWords(value, "-");
}

/** Upper-cases the first character of every whitespace-separated word; the rest of each word is kept. */
export function fqlTitlecase(value: unknown): string | null {
  return typeof value === "string" ? value.replace(WORD_START, titleWord) : null;
}

function titleWord(_match: string, before: string, first: string): string {
  return before + first.toUpperCase();
}

const TRUE_STRINGS = new Set(["true", "t", "1"]);
const FALSE_STRINGS = new Set(["false", "f", "0", ""]);

/**
 * `bool(x)`: bools as is; numbers: non-zero → true; strings (trimmed, case-insensitive): "true"/"t"/"1" → true,
 * "false"/"f"/"0"/"" → false, anything else → null; lists: non-empty → true; null, objects → null.
 */
export function fqlBool(value: unknown): boolean | null {
  switch (typeof value) {
    case "boolean":
      return value;
    case "number":
      return value !== 0 && !Number.isNaN(value);
    case "string": {
      const s = value.trim().toLowerCase();
      if (TRUE_STRINGS.has(s)) return true;
      if (FALSE_STRINGS.has(s)) return false;
      return null;
    }
    case "object":
      return Array.isArray(value) ? value.length > 0 : null;
    default:
      return null;
  }
}

/**
 * `string(x)`: strings as is; numbers in JavaScript's shortest round-trip form (12 → "12", 12.5 → "12.5");
 * bools → "true"/"false"; lists and objects → their JSON text; null → null.
 */
export function fqlString(value: unknown): string | null {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
      return Number.isFinite(value) ? String(value) : null;
    case "boolean":
      return value ? "true" : "false";
    case "object":
      if (value === null) return null;
      try {
        return JSON.stringify(value) ?? null;
      } catch {
        return null;
      }
    default:
      return null;
  }
}

const DECIMAL = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

/**
 * `number(x)`: numbers as is; strings holding a decimal number (surrounding whitespace allowed, e.g. " 12.5",
 * "-3", "1e3") → that number, any other string (including "", "0x10", "Infinity") → null; everything else → null.
 */
export function fqlNumber(value: unknown): number | null {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value !== "string") return null;
  const s = value.trim();
  if (!DECIMAL.test(s)) return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

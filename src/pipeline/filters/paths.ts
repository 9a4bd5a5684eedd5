/**
 * Dotted-path compilation and copy-on-write updates for filter actions.
 *
 * Every update returns the SAME node when nothing changed and otherwise a new node that shares all untouched
 * subtrees with the input, so the caller's event is never mutated and unchanged events keep their identity.
 * Updates given an `Owned` list record the copies they make there, and change a node already on it in place
 * (returning it): the second edit of an event does not copy again what the first one already copied.
 */
import { parseFqlPath } from "../fql/index.ts";
import { RuleProblem } from "./errors.ts";

export type Path = readonly string[];
export type JsonObject = Record<string, unknown>;

/**
 * The objects and arrays one event's edits created: referenced once each, from the edited event only (never from
 * the input event or another event), so changing them in place is safe. A handful per event: a list beats a set.
 */
export type Owned = object[];

/** Keys that must never be read or written through a configured path. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function checkKey(key: string, what: string): void {
  if (FORBIDDEN_KEYS.has(key)) throw new RuleProblem(`${what} uses the forbidden key "${key}"`);
}

/**
 * Compiles a dotted FQL-style path (`properties.product\ 1.price`) to its segments.
 * `allowRoot` permits "" (the top level of the event), used by DROP/ALLOW_PROPERTIES.
 */
export function compilePath(source: unknown, what: string, allowRoot = false): string[] {
  if (typeof source !== "string") throw new RuleProblem(`${what} must be a string`);
  if (source === "") {
    if (allowRoot) return [];
    throw new RuleProblem(`${what} must not be empty`);
  }
  let segments: string[];
  try {
    segments = parseFqlPath(source);
  } catch (err) {
    const column = typeof (err as { column?: unknown }).column === "number" ? (err as { column: number }).column : undefined;
    throw new RuleProblem(`${what} "${source}" is not a valid path: ${(err as Error).message}`, column);
  }
  if (segments.length === 0 || segments.some((s) => s === "")) {
    throw new RuleProblem(`${what} "${source}" has an empty path segment`);
  }
  for (const segment of segments) checkKey(segment, `${what} "${source}"`);
  return segments;
}

/** True when `prefix` is a (non-strict) prefix of `path`. */
export function isPrefix(prefix: Path, path: Path): boolean {
  if (prefix.length > path.length) return false;
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== path[i]) return false;
  return true;
}

/** Own-property write that is safe even for a key named `__proto__` (copied from parsed JSON). */
export function putKey(target: JsonObject, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** Shallow copy of `node` with `key` set to `value`; `node` itself when `own` holds it. */
export function withKey(node: JsonObject, key: string, value: unknown, own?: Owned): JsonObject {
  if (own !== undefined && own.includes(node)) {
    putKey(node, key, value);
    return node;
  }
  const copy = { ...node };
  putKey(copy, key, value);
  own?.push(copy);
  return copy;
}

/** Deep copy of a JSON value (own enumerable keys only). */
export function cloneJson<T>(value: T): T {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(cloneJson) as T;
  const out: JsonObject = {};
  for (const key of Object.keys(value)) putKey(out, key, cloneJson((value as JsonObject)[key]));
  return out as T;
}

const INDEX = /^(?:0|[1-9][0-9]*)$/;

/**
 * Applies `fn` to every plain object addressed by `segments` and returns the updated `node`.
 * Arrays fan out: an array met on the way (or at the end) applies the rest of the path to each element, unless
 * the next segment is a canonical index (`products.0`), which selects that element.
 */
export function updateObjectsAt(node: unknown, segments: Path, i: number, fn: (object: JsonObject, own?: Owned) => JsonObject, own?: Owned): unknown {
  if (Array.isArray(node)) {
    const segment = segments[i];
    if (segment !== undefined && INDEX.test(segment)) {
      const index = Number(segment);
      if (index >= node.length) return node;
      const child: unknown = node[index];
      const updated = updateObjectsAt(child, segments, i + 1, fn, own);
      if (updated === child) return node;
      const copy = ownedArray(node, own);
      copy[index] = updated;
      return copy;
    }
    let copy: unknown[] | undefined;
    for (let k = 0; k < node.length; k++) {
      const child: unknown = node[k];
      const updated = updateObjectsAt(child, segments, i, fn, own);
      if (updated !== child) {
        copy ??= ownedArray(node, own);
        copy[k] = updated;
      }
    }
    return copy ?? node;
  }
  if (!isPlainObject(node)) return node;
  if (i === segments.length) return fn(node, own);
  const key = segments[i] as string;
  if (!Object.hasOwn(node, key)) return node;
  const child = node[key];
  const updated = updateObjectsAt(child, segments, i + 1, fn, own);
  return updated === child ? node : withKey(node, key, updated, own);
}

/** `array` itself when `own` holds it, else a copy (recorded in `own`). */
function ownedArray(array: unknown[], own: Owned | undefined): unknown[] {
  if (own !== undefined && own.includes(array)) return array;
  const copy = array.slice();
  own?.push(copy);
  return copy;
}

/** Marker for "no value at this path". */
export const MISSING: unique symbol = Symbol("missing");

/** Reads a value through plain objects only (own properties); arrays and primitives on the way → MISSING. */
export function getIn(root: JsonObject, segments: Path): unknown {
  let node: unknown = root;
  for (const key of segments) {
    if (!isPlainObject(node) || !Object.hasOwn(node, key)) return MISSING;
    node = node[key];
  }
  return node;
}

/**
 * Writes `value` at `segments`, creating missing (or null) intermediate objects. Returns the new root, the same
 * root when the value is already there, or `null` when an intermediate exists but is not a plain object (an array,
 * string, …): we never clobber data to make room for a write.
 */
export function setIn(node: JsonObject, segments: Path, i: number, value: unknown, own?: Owned): JsonObject | null {
  const key = segments[i] as string;
  const present = Object.hasOwn(node, key);
  if (i === segments.length - 1) {
    if (present && Object.is(node[key], value)) return node;
    return withKey(node, key, value, own);
  }
  const child = present ? node[key] : undefined;
  let base: JsonObject;
  if (child === undefined || child === null) {
    base = {};
    own?.push(base);
  } else if (isPlainObject(child)) base = child;
  else return null;
  const updated = setIn(base, segments, i + 1, value, own);
  if (updated === null) return null;
  return updated === child ? node : withKey(node, key, updated, own);
}

/** Removes the key at `segments` (plain objects only). Returns the same root when there is nothing to remove. */
export function deleteIn(node: JsonObject, segments: Path, i: number, own?: Owned): JsonObject {
  const key = segments[i] as string;
  if (!Object.hasOwn(node, key)) return node;
  if (i === segments.length - 1) return withoutKeys(node, (k) => k === key, own);
  const child = node[key];
  if (!isPlainObject(child)) return node;
  const updated = deleteIn(child, segments, i + 1, own);
  return updated === child ? node : withKey(node, key, updated, own);
}

/**
 * Copy of `node` without the keys for which `drop` is true (key order kept), recorded in `own`. Always a copy:
 * `delete` would turn the object into a slow dictionary, whose serialization costs more than the copy.
 */
export function withoutKeys(node: JsonObject, drop: (key: string) => boolean, own?: Owned): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(node)) if (!drop(key)) putKey(out, key, node[key]);
  own?.push(out);
  return out;
}

/**
 * Sizes of JSON text without building or encoding more than needed: exact UTF-8 byte counts for the 64 KB queue
 * message budget, and a cheap upper bound that lets normalize skip measuring events that cannot exceed 32 KB.
 * Also the nesting depth check that keeps recursive walkers (JSON.stringify among them) from overflowing.
 */

type JsonObject = Record<string, unknown>;

const encoder = new TextEncoder();
/** Scratch space for measuring: encodeInto writes here and reports the byte count, nothing is allocated. */
const scratch = new Uint8Array(64 * 1024);

/**
 * UTF-8 byte length of a string (lone surrogates count as U+FFFD, 3 bytes, as TextEncoder writes them). The
 * engine's encoder does it natively, a chunk of the scratch buffer at a time.
 */
export function utf8Length(s: string): number {
  let total = 0;
  let rest = s;
  for (;;) {
    const { read, written } = encoder.encodeInto(rest, scratch);
    total += written;
    if (read >= rest.length) return total;
    rest = rest.slice(read);
  }
}

/**
 * An upper bound of the UTF-8 size of JSON.stringify(value) without serializing it: a UTF-16 unit takes at most
 * 6 bytes written as JSON (`\u001f`; else at most 3), a number at most 24 characters. Stops counting past `limit`
 * (and answers Infinity for structures too deep to walk here): the caller then measures exactly.
 */
export function jsonBytesBound(value: unknown, limit: number): number {
  return bound(value, limit, 0, 0);
}

function bound(v: unknown, limit: number, total: number, depth: number): number {
  switch (typeof v) {
    case "string":
      return total + 6 * v.length + 2;
    case "number":
      return total + 24;
    case "boolean":
      return total + 5;
    case "object": {
      if (v === null) return total + 4;
      if (depth > 32 || typeof (v as { toJSON?: unknown }).toJSON === "function") return Infinity;
      total += 2;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length && total <= limit; i++) total = bound(v[i], limit, total + 1, depth + 1);
        return total;
      }
      for (const key in v) {
        if (!Object.hasOwn(v, key)) continue;
        total = bound((v as JsonObject)[key], limit, total + 6 * key.length + 4, depth + 1);
        if (total > limit) return total;
      }
      return total;
    }
    default:
      return total + 4; // undefined, functions and symbols: left out, or null in arrays
  }
}

/**
 * Whether objects and arrays in `v` nest more than `levels` deep (`v` itself, if one, is level 1). The recursion
 * stops at `levels`, so it cannot overflow the stack however deep `v` is; JSON.stringify and other walkers can.
 */
export function nestedDeeperThan(v: unknown, levels: number): boolean {
  if (typeof v !== "object" || v === null) return false;
  if (levels <= 0) return true;
  if (Array.isArray(v)) {
    for (const item of v) if (nestedDeeperThan(item, levels - 1)) return true;
    return false;
  }
  for (const key in v) if (nestedDeeperThan((v as JsonObject)[key], levels - 1)) return true;
  return false;
}

/**
 * JSON serialization of the copies one request routes to its destinations, reusing the text of what they share.
 *
 * Filters, transformations and the tracking plan never mutate an event: they copy on write (filters/paths.ts,
 * plans/enforce.ts), so a destination's copy shares every untouched value with the event it was routed from. A
 * `Node` keeps that event's JSON split per key (object values stringified natively, once); a copy is written
 * against it as pieces — the node's fragment for every key whose value is the same (===), recursing into
 * changed objects against the node of the original object — straight into the caller's list of message
 * pieces, joined once per message. Output is byte-identical to JSON.stringify (key order, skipped
 * undefined/functions/symbols, toJSON, escaping); test/unit/serialize.test.ts checks it on the corpus.
 *
 * INVARIANT: a node is only valid while its object (and everything under it) is not mutated in place. Nodes
 * live in the serializer routeEvents attaches to the lists it returns, i.e. for one request; nothing in src
 * mutates an event after normalizeRequest returns it (the test checks that filters leave their input as it was).
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

/** An object's JSON, per key. */
interface Node {
  readonly keys: string[];
  /** The values of `keys` (read in bulk: a keyed read per key is a megamorphic lookup, several times slower). */
  readonly values: unknown[];
  /** `"key":value` per key; undefined where JSON.stringify skips the value. */
  readonly frags: (string | undefined)[];
  /** UTF-8 bytes of each fragment. */
  readonly fragBytes: number[];
  /** UTF-8 bytes of the whole object's JSON. */
  readonly bytes: number;
  /** Nodes of object values, made when a copy changed something inside them (index = key index). */
  kids: (Node | null | undefined)[] | undefined;
  /** The whole JSON, joined once when the object itself is delivered. */
  json: string | undefined;
}

/** Printable ASCII but `"` and `\`: JSON.stringify writes such a string as it is, one byte per character. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** UTF-8 bytes of the last string quote() or valueJson() returned (saves allocating pairs on the hot path). */
let lastBytes = 0;

function quote(s: string): string {
  if (PLAIN.test(s)) {
    lastBytes = s.length + 2;
    return `"${s}"`;
  }
  const json = JSON.stringify(s);
  lastBytes = utf8Length(json);
  return json;
}

/** A plain JSON object (no toJSON): written key by key; anything else goes to JSON.stringify whole. */
function isNodeable(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && typeof (v as { toJSON?: unknown }).toJSON !== "function";
}

/** JSON of a property's value (undefined when JSON.stringify leaves the property out). */
function valueJson(key: string, v: unknown): string | undefined {
  switch (typeof v) {
    case "string":
      return quote(v);
    case "number": {
      const json = Number.isFinite(v) ? `${v}` : "null";
      lastBytes = json.length;
      return json;
    }
    case "boolean":
      lastBytes = v ? 4 : 5;
      return v ? "true" : "false";
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
    default: {
      if (v === null) {
        lastBytes = 4;
        return "null";
      }
      if (typeof (v as { toJSON?: unknown }).toJSON === "function") return valueJson(key, (v as { toJSON(k: string): unknown }).toJSON(key));
      const json = JSON.stringify(v); // objects, arrays; a bigint throws as JSON.stringify does
      lastBytes = utf8Length(json);
      return json;
    }
  }
}

function build(obj: JsonObject): Node {
  const keys = Object.keys(obj);
  const values = Object.values(obj);
  const n = keys.length;
  const frags: (string | undefined)[] = new Array(n);
  const fragBytes: number[] = new Array(n);
  let bytes = 2;
  let present = 0;
  for (let i = 0; i < n; i++) {
    const key = keys[i]!;
    const value = valueJson(key, values[i]);
    if (value === undefined) {
      fragBytes[i] = 0;
      continue;
    }
    const size = lastBytes + 1;
    const k = quote(key);
    frags[i] = `${k}:${value}`;
    fragBytes[i] = size + lastBytes;
    bytes += size + lastBytes;
    present++;
  }
  if (present > 1) bytes += present - 1;
  return { keys, values, frags, fragBytes, bytes, kids: undefined, json: undefined };
}

function wholeJson(node: Node): string {
  if (node.json === undefined) {
    const parts: string[] = [];
    for (const f of node.frags) if (f !== undefined) parts.push(f);
    node.json = `{${parts.join(",")}}`;
  }
  return node.json;
}

/** The node of the object at key index `h` of `base`, if it is one a copy can be written against. */
function kid(base: Node, h: number): Node | undefined {
  const kids = (base.kids ??= []);
  let k = kids[h];
  if (k === undefined) {
    const v = base.values[h];
    k = kids[h] = isNodeable(v) ? build(v) : null;
  }
  return k ?? undefined;
}

/**
 * Appends the JSON of `obj` to `out` as pieces, reusing `base`'s fragments for keys whose value is identical;
 * returns its UTF-8 bytes.
 */
function writeAgainst(out: string[], obj: JsonObject, base: Node): number {
  const keys = Object.keys(obj);
  const values = Object.values(obj);
  const bk = base.keys;
  const bv = base.values;
  out.push("{");
  let bytes = 2;
  let first = true;
  let j = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const v = values[i];
    // Copies keep their base's key order, so the base's next key is almost always this one.
    const h = bk[j] === key ? j : bk.indexOf(key);
    if (h >= 0) j = h + 1;
    if (h >= 0 && bv[h] === v) {
      const frag = base.frags[h];
      if (frag === undefined) continue;
      if (first) first = false;
      else {
        out.push(",");
        bytes++;
      }
      out.push(frag);
      bytes += base.fragBytes[h]!;
      continue;
    }
    const inner = h >= 0 && isNodeable(v) ? kid(base, h) : undefined;
    let frag: string | undefined;
    let size = 0;
    if (inner === undefined) {
      const value = valueJson(key, v);
      if (value === undefined) continue;
      size = lastBytes + 1;
      frag = `${quote(key)}:${value}`;
    } else {
      size = 1;
      frag = `${quote(key)}:`;
    }
    size += lastBytes;
    if (first) first = false;
    else {
      out.push(",");
      bytes++;
    }
    out.push(frag);
    bytes += size;
    if (inner !== undefined) bytes += writeAgainst(out, v as JsonObject, inner);
  }
  out.push("}");
  return bytes;
}

/** Appends JSON.stringify(value) to `out`; returns its UTF-8 bytes. */
function writeNatively(out: string[], value: unknown): number {
  const json = JSON.stringify(value);
  out.push(json);
  return utf8Length(json);
}

/**
 * One request's routed events, serialized once each and shared by the copies routed to every destination.
 */
export class RequestSerializer {
  private readonly nodes: (Node | undefined)[];

  /** @param inputs the events routed (after the tracking plan and the source's filters) */
  constructor(private readonly inputs: readonly object[]) {
    this.nodes = new Array(inputs.length);
  }

  /** Appends the JSON of `event`, a copy of (or the same as) input `i`, to `out`; returns its UTF-8 bytes. */
  write(out: string[], event: unknown, i: number): number {
    const input = this.inputs[i];
    if (!isNodeable(input) || !isNodeable(event)) return writeNatively(out, event);
    const node = (this.nodes[i] ??= build(input));
    if (event !== input) return writeAgainst(out, event, node);
    out.push(wholeJson(node));
    return node.bytes;
  }
}

/**
 * A routed list's serializer, as a non-enumerable symbol property of the list: it lives exactly as long as the
 * list, and equality checks, spreads and JSON ignore it. (Not a WeakMap: entries with young keys keep the
 * whole request's objects alive through scavenges, which cost more than the serialization saves.)
 */
const SERIALIZER = Symbol("sluice.serializer");

interface Attached {
  serializer: RequestSerializer;
  /** Per event of the list, the index of the input it was routed from. */
  from: readonly number[];
}

export function attachSerializer(list: readonly object[], serializer: RequestSerializer, from: readonly number[]): void {
  Object.defineProperty(list, SERIALIZER, { value: { serializer, from } satisfies Attached });
}

/** Appends the JSON of `list[i]` to `out` as pieces; returns its UTF-8 bytes. */
export type ListWriter = (out: string[], i: number) => number;

/** A writer for the events of `list`: through the request's shared text when routeEvents made the list. */
export function listWriter(list: readonly unknown[]): ListWriter {
  const s = (list as { [SERIALIZER]?: Attached })[SERIALIZER];
  // Lists are not changed after routing; the length check guards against a caller that did.
  if (!s || s.from.length !== list.length) return (out, i) => writeNatively(out, list[i]);
  const { serializer, from } = s;
  return (out, i) => serializer.write(out, list[i], from[i]!);
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

/**
 * JSON Schema draft-07 compiled into closures: Workers forbid `eval` and `new Function`, so instead of generating
 * code (as ajv does) every schema node becomes a closure specialised by keyword, built once (like src/pipeline/fql).
 *
 * - `test(value)` answers valid / invalid, stops at the first failure and allocates nothing (no objects, arrays,
 *   strings or closures; V8 itself boxes a fractional number read from an object, ~16 bytes, as any reader does);
 * - `validate(value)` lists every violation with its path, typed as Segment types them (Required, Invalid Type,
 *   Pattern, Enum, Format, Range, Length, Unplanned Property for `additionalProperties: false`, Schema for the
 *   rest). Call it only after `test` failed: valid events never pay for paths or messages.
 *
 * Supported: type (with integer and type lists), properties, required, additionalProperties, patternProperties,
 * propertyNames, enum, const, pattern, format (see ./formats.ts), minLength/maxLength (Unicode code points),
 * minimum/maximum/exclusiveMinimum/exclusiveMaximum/multipleOf, items (schema or tuple), additionalItems,
 * minItems/maxItems/uniqueItems, contains, minProperties/maxProperties, dependencies, allOf/anyOf/oneOf/not,
 * if/then/else, definitions, and $ref to any local JSON pointer (`#`, `#/definitions/…`). Annotations are ignored:
 * $schema, $id, title, description, default, examples, $comment, readOnly, writeOnly, and the keys Segment's
 * exports put in schemas (`labels`, `id`, `key`). Anything else is a build error naming the keyword, as are
 * keywords that draft-07 would silently skip (`then` without `if`, `additionalItems` without a tuple, validation
 * keywords beside `$ref`) and a `$ref` cycle that never descends into the data. A regex runs only on strings of at most
 * MAX_PATTERN_INPUT characters (src/pipeline/pattern-input.ts): a longer value, or a longer property name where
 * `patternProperties` apply, is a Pattern violation.
 *
 * @example
 *   const schema = compileJsonSchema({ type: "object", properties: { revenue: { type: "number" } }, required: ["revenue"] });
 *   schema.test({ revenue: 5 })        // true
 *   schema.validate({ revenue: "5" })  // [{ type: "Invalid Type", field: "revenue", description: "revenue: expected number, got string", path: ["revenue"] }]
 */
import { atMostCodePoints, codePoints, MAX_PATTERN_INPUT } from "../pipeline/pattern-input.ts";
import { FORMATS } from "./formats.ts";
import type { Violation, ViolationType } from "./types.ts";

export type PathSegment = string | number;

/** A violation with its path as segments (the `field` string is for people; the path is exact). */
export interface SchemaViolation extends Violation {
  path: PathSegment[];
}

/** A schema that cannot be compiled; `schemaPath` locates the offending keyword inside the schema. */
export class JsonSchemaError extends Error {
  override readonly name = "JsonSchemaError";
  constructor(
    readonly schemaPath: PathSegment[],
    readonly detail: string,
  ) {
    super(`${schemaPath.length ? `#/${schemaPath.join("/")}` : "#"}: ${detail}`);
  }
}

export interface CompiledSchema {
  /** True iff `value` is valid. Allocates nothing (see the module comment). */
  test(value: unknown): boolean;
  /** Every violation, in schema order; empty iff valid. */
  validate(value: unknown): SchemaViolation[];
}

export interface SchemaOptions {
  /**
   * Judges each regex (`pattern`, `patternProperties`) once it parses: a sentence saying what is wrong with it makes
   * compiling fail there. The config build passes its ReDoS check (src/config/pattern-safety.ts); the worker, which
   * only gets plans the build accepted, passes none.
   */
  patternProblem?: (source: string) => string | undefined;
}

/** Compiles a draft-07 schema; throws JsonSchemaError naming the keyword when it cannot. */
export function compileJsonSchema(schema: unknown, options: SchemaOptions = {}): CompiledSchema {
  const root = new Compiler(schema, options).compileRoot();
  return {
    test: (value) => root(value, SILENT),
    validate(value) {
      const state: State = { out: [], path: [], depth: 0 };
      root(value, state);
      return state.out!;
    },
  };
}

/** Dotted field name of a path, as in `context.protocols.violations`: `properties.products.0.price`. */
export function fieldName(path: readonly PathSegment[]): string {
  return path.join(".");
}

/**
 * Resolves a local `$ref` (`#`, `#/definitions/a`, percent- and ~-escaped) against `root`; undefined when it points
 * nowhere. Exported for the plan engine, which reads declared property names through references.
 */
export function resolvePointer(root: unknown, ref: string): { value: unknown; path: PathSegment[] } | undefined {
  if (ref !== "#" && !ref.startsWith("#/")) return undefined;
  let value = root;
  const path: PathSegment[] = [];
  if (ref === "#") return { value, path };
  for (const raw of ref.slice(2).split("/")) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    } catch {
      return undefined;
    }
    if (Array.isArray(value) && /^(?:0|[1-9]\d*)$/.test(segment) && Number(segment) < value.length) {
      value = value[Number(segment)];
      path.push(Number(segment));
    } else if (isObject(value) && Object.hasOwn(value, segment)) {
      value = value[segment];
      path.push(segment);
    } else return undefined;
  }
  return { value, path };
}

// ---------------------------------------------------------------------------------------------------------------
// Run time

/**
 * `out === null`: answer only (stop at the first failure, record nothing, never touch `path`).
 * Otherwise: collect every violation; `path` is the location of the value being checked.
 */
interface State {
  out: SchemaViolation[] | null;
  path: PathSegment[];
  /** Recursion through `$ref`, bounded so a deeply nested event cannot exhaust the stack. */
  depth: number;
}
type Check = (value: unknown, state: State) => boolean;
type Obj = Record<string, unknown>;

/** Shared by every `test()`: silent mode never writes to it except `depth`, which it restores. */
const SILENT: State = { out: null, path: [], depth: 0 };
const MAX_REF_DEPTH = 200;

const PASS: Check = () => true;

/** A value or property name a regex would run on but that is over the bound (see src/pipeline/pattern-input.ts). */
const TOO_LONG_FOR_PATTERN = `is longer than ${MAX_PATTERN_INPUT} characters, the most a pattern is tested on`;

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const hasOwn = (o: Obj, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** Keys such as `constructor` or `__proto__` must be checked with hasOwn; any other key by reading it. */
const inherited = (k: string): boolean => k in Object.prototype;

function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** Records a violation at the current path (plus `key`) and returns false; call only when `state.out` is set. */
function report(state: State, type: ViolationType, message: string, key?: PathSegment, sentence = false): false {
  const path = key === undefined ? state.path.slice() : [...state.path, key];
  const field = fieldName(path);
  const description = sentence ? `${field || "the value"} ${message}` : `${field || "(root)"}: ${message}`;
  state.out!.push({ type, field, description, path });
  return false;
}

/** Runs every check (all of them when collecting, up to the first failure when answering). */
function every(checks: Check[]): Check {
  const live = checks.filter((c) => c !== PASS);
  if (live.length === 0) return PASS;
  if (live.length === 1) return live[0]!;
  if (live.length === 2) {
    const [a, b] = live as [Check, Check];
    return (v, st) => {
      if (a(v, st)) return b(v, st);
      if (st.out === null) return false;
      b(v, st);
      return false;
    };
  }
  return (v, st) => {
    let ok = true;
    for (let i = 0; i < live.length; i++) {
      if (!live[i]!(v, st)) {
        if (st.out === null) return false;
        ok = false;
      }
    }
    return ok;
  };
}

/** Evaluates `check` without recording anything (for anyOf, oneOf, not, if, contains, propertyNames). */
function quietly(check: Check, v: unknown, st: State): boolean {
  const out = st.out;
  if (out === null) return check(v, st);
  st.out = null;
  const ok = check(v, st);
  st.out = out;
  return ok;
}

/** Checks `value` (found under `key`) with `check`, extending the path while collecting. */
function descend(check: Check, value: unknown, key: PathSegment, st: State): boolean {
  if (st.out === null) return check(value, st);
  st.path.push(key);
  const ok = check(value, st);
  st.path.pop();
  return ok;
}

/** Equality of JSON values (numbers by value, objects by keys regardless of order). Allocates nothing. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  let count = 0;
  for (const k in a) {
    if (!hasOwn(a as Obj, k)) continue;
    if (!hasOwn(b as Obj, k) || !jsonEqual((a as Obj)[k], (b as Obj)[k])) return false;
    count++;
  }
  for (const k in b) if (hasOwn(b as Obj, k)) count--;
  return count === 0;
}

function countKeys(o: Obj): number {
  let n = 0;
  for (const k in o) if (hasOwn(o, k)) n++;
  return n;
}

/** Shows schema values in messages: `"USD", "EUR"`, at most 10 of them. */
function preview(values: readonly unknown[]): string {
  const shown = values.slice(0, 10).map((v) => JSON.stringify(v));
  return values.length > 10 ? `${shown.join(", ")}, … (${values.length} values)` : shown.join(", ");
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// ---------------------------------------------------------------------------------------------------------------
// Build time

const ANNOTATIONS = new Set([
  "$schema",
  "$id",
  "$comment",
  "title",
  "description",
  "default",
  "examples",
  "readOnly",
  "writeOnly",
  // Segment's exports: `labels` (draft-07 era), `id` and `key` (schemas migrated from the Config API).
  "labels",
  "id",
  "key",
]);
const KEYWORDS = new Set([
  "type",
  "enum",
  "const",
  "multipleOf",
  "maximum",
  "exclusiveMaximum",
  "minimum",
  "exclusiveMinimum",
  "maxLength",
  "minLength",
  "pattern",
  "format",
  "items",
  "additionalItems",
  "maxItems",
  "minItems",
  "uniqueItems",
  "contains",
  "maxProperties",
  "minProperties",
  "required",
  "properties",
  "patternProperties",
  "additionalProperties",
  "dependencies",
  "propertyNames",
  "if",
  "then",
  "else",
  "allOf",
  "anyOf",
  "oneOf",
  "not",
  "$ref",
  "definitions",
]);
/** Keywords of later drafts, named as such in the error (so nobody thinks they were checked). */
const LATER_DRAFTS = new Set([
  "$defs",
  "$anchor",
  "$dynamicRef",
  "$dynamicAnchor",
  "$recursiveRef",
  "$recursiveAnchor",
  "$vocabulary",
  "dependentRequired",
  "dependentSchemas",
  "unevaluatedProperties",
  "unevaluatedItems",
  "prefixItems",
  "minContains",
  "maxContains",
  "contentSchema",
]);

const TYPE_NAMES = ["null", "boolean", "object", "array", "number", "integer", "string"] as const;
type TypeName = (typeof TYPE_NAMES)[number];

const TYPE_TESTS: Record<TypeName, (v: unknown) => boolean> = {
  null: (v) => v === null,
  boolean: (v) => typeof v === "boolean",
  object: isObject,
  array: Array.isArray,
  number: (v) => typeof v === "number",
  integer: Number.isInteger,
  string: (v) => typeof v === "string",
};

/** `type` and the keywords of that type in one closure, the type test written out (not a call) for speed. */
function typed(name: TypeName, inner: Check, fail: Check): Check {
  switch (name) {
    case "string":
      return (v, st) => (typeof v === "string" ? inner(v, st) : fail(v, st));
    case "number":
      return (v, st) => (typeof v === "number" ? inner(v, st) : fail(v, st));
    case "integer":
      return (v, st) => (Number.isInteger(v) ? inner(v, st) : fail(v, st));
    case "object":
      return (v, st) => (typeof v === "object" && v !== null && !Array.isArray(v) ? inner(v, st) : fail(v, st));
    case "array":
      return (v, st) => (Array.isArray(v) ? inner(v, st) : fail(v, st));
    default:
      return (v, st) => (TYPE_TESTS[name](v) ? inner(v, st) : fail(v, st));
  }
}

/** Runs `check` on values that pass `is`; others pass (type-specific keywords ignore other types). */
function guarded(is: (v: unknown) => boolean, check: Check): Check {
  return (v, st) => !is(v) || check(v, st);
}

class Compiler {
  /** Compiled `$ref` targets by pointer; `check` is unset while the target is being compiled. */
  private readonly refs = new Map<string, { check?: Check }>();
  /** Every `definitions` entry, compiled after the root (so unused ones are checked too) unless a $ref got there first. */
  private readonly definitions: PathSegment[][] = [];
  /** `$ref` targets by pointer → the targets their schema refers to without the data getting deeper. */
  private readonly sameValueRefs = new Map<string, Set<string>>();

  constructor(
    private readonly root: unknown,
    private readonly options: SchemaOptions,
  ) {}

  compileRoot(): Check {
    const check = this.ref([], "#", [], undefined);
    for (let i = 0; i < this.definitions.length; i++) {
      const target = this.definitions[i]!;
      if (!this.refs.has(JSON.stringify(target))) this.ref(target, `#/${target.join("/")}`, target, undefined);
    }
    return check;
  }

  private fail(at: PathSegment[], detail: string): never {
    throw new JsonSchemaError(at, detail);
  }

  /**
   * The compiled check of the schema at `target` (a path in the root schema), compiled once. `from` is the target
   * whose schema holds this reference with the data no deeper (undefined once it got deeper): a cycle of such
   * references would recurse forever, whichever target of it was compiled first.
   */
  private ref(target: PathSegment[], ref: string, at: PathSegment[], from: string | undefined): Check {
    const id = JSON.stringify(target);
    if (from !== undefined) {
      if (this.leadsTo(id, from)) this.fail(at, `"$ref": "${ref}" refers back to itself without going deeper into the data (infinite recursion)`);
      const targets = this.sameValueRefs.get(from) ?? new Set();
      this.sameValueRefs.set(from, targets.add(id));
    }
    let entry = this.refs.get(id);
    if (entry === undefined) {
      entry = {};
      this.refs.set(id, entry);
      let value = this.root;
      for (const s of target) value = (value as Record<string | number, unknown>)[s];
      entry.check = this.node(value, target, id);
    }
    if (entry.check !== undefined) return entry.check;
    // Recursive data (a tree): reached again further down, while still being compiled. Bound the depth.
    const pending = entry;
    return (v, st) => {
      if (st.depth >= MAX_REF_DEPTH) return st.out === null ? false : report(st, "Schema", `nested deeper than ${MAX_REF_DEPTH} levels`);
      st.depth++;
      const ok = pending.check!(v, st);
      st.depth--;
      return ok;
    };
  }

  /** Whether target `from` reaches target `to` through references that keep the data where it is. */
  private leadsTo(from: string, to: string, seen = new Set<string>()): boolean {
    if (from === to) return true;
    if (seen.has(from)) return false;
    seen.add(from);
    for (const next of this.sameValueRefs.get(from) ?? []) if (this.leadsTo(next, to, seen)) return true;
    return false;
  }

  /** Compiles a subschema found at `at`; `from` as for `ref` (pass undefined when the data gets deeper). */
  private node(schema: unknown, at: PathSegment[], from: string | undefined): Check {
    if (schema === true) return PASS;
    if (schema === false) return (_v, st) => (st.out === null ? false : report(st, "Schema", "is not allowed", undefined, true));
    if (!isObject(schema)) this.fail(at, `a schema must be an object or a boolean, got ${jsonType(schema)}`);

    for (const k of Object.keys(schema)) {
      if (KEYWORDS.has(k) || ANNOTATIONS.has(k)) continue;
      if (LATER_DRAFTS.has(k)) this.fail([...at, k], `unsupported keyword "${k}": it belongs to a later draft than draft-07`);
      this.fail([...at, k], `unsupported keyword "${k}"`);
    }
    if (isObject(schema.definitions)) {
      for (const name of Object.keys(schema.definitions)) this.definitions.push([...at, "definitions", name]);
    } else if (schema.definitions !== undefined) this.fail([...at, "definitions"], `"definitions" must be a map of schemas`);

    if (schema.$ref !== undefined) {
      const ref = schema.$ref;
      if (typeof ref !== "string") this.fail([...at, "$ref"], `"$ref" must be a string`);
      const beside = Object.keys(schema).filter((k) => KEYWORDS.has(k) && k !== "$ref" && k !== "definitions");
      if (beside.length > 0)
        this.fail([...at, beside[0]!], `"${beside[0]}" beside "$ref" would be ignored by draft-07: wrap both in "allOf"`);
      if (ref !== "#" && !ref.startsWith("#/"))
        this.fail([...at, "$ref"], `"$ref": only references inside the same schema ("#" or "#/definitions/…") are supported, got "${ref}"`);
      const target = resolvePointer(this.root, ref);
      if (!target) this.fail([...at, "$ref"], `"$ref": "${ref}" points to nothing in this schema`);
      return this.ref(target.path, ref, [...at, "$ref"], from);
    }

    const s = schema;
    const type = s.type === undefined ? undefined : this.type(s.type, [...at, "type"]);
    // Keywords of one instance type each, run only on values of that type (JSON Schema's rule).
    const byType: Record<"number" | "string" | "array" | "object", Check> = {
      number: this.numbers(s, at),
      string: this.strings(s, at),
      array: this.arrays(s, at),
      object: this.objects(s, at, from),
    };
    const checks: Check[] = [];
    const only = typeof s.type === "string" ? (s.type === "integer" ? "number" : s.type) : undefined;
    const others = (Object.keys(byType) as (keyof typeof byType)[]).filter((t) => t !== only && byType[t] !== PASS);
    if (type !== undefined && only !== undefined && others.length === 0 && Object.hasOwn(byType, only) && byType[only as keyof typeof byType] !== PASS) {
      // `type: object` with object keywords (the usual case): one test of the type instead of two.
      checks.push(typed(s.type as TypeName, byType[only as keyof typeof byType], type));
    } else {
      if (type !== undefined) checks.push(type);
      for (const t of Object.keys(byType) as (keyof typeof byType)[]) {
        const inner = byType[t];
        if (inner !== PASS) checks.push(guarded(TYPE_TESTS[t], inner));
      }
    }
    if (s.enum !== undefined) checks.push(this.enumeration(s.enum, [...at, "enum"]));
    if (Object.hasOwn(s, "const")) checks.push(this.constant(s.const));
    checks.push(this.combinators(s, at, from));
    return every(checks);
  }

  private schemaList(value: unknown, at: PathSegment[], keyword: string): unknown[] {
    if (!Array.isArray(value) || value.length === 0) this.fail(at, `"${keyword}" must be a non-empty list of schemas`);
    return value;
  }

  private nonNegativeInteger(s: Obj, keyword: string, at: PathSegment[]): number | undefined {
    const v = s[keyword];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) this.fail([...at, keyword], `"${keyword}" must be a non-negative integer`);
    return v;
  }

  private number(s: Obj, keyword: string, at: PathSegment[]): number | undefined {
    const v = s[keyword];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      const hint = typeof v === "boolean" ? " (draft-04's boolean form is not draft-07)" : "";
      this.fail([...at, keyword], `"${keyword}" must be a number${hint}`);
    }
    return v;
  }

  private regex(source: unknown, at: PathSegment[], keyword: string): RegExp {
    if (typeof source !== "string") this.fail(at, `"${keyword}" must be a string (a regular expression)`);
    let re: RegExp;
    try {
      re = new RegExp(source, "u");
    } catch (err) {
      this.fail(at, `"${keyword}": invalid regular expression ${JSON.stringify(source)} (${(err as Error).message})`);
    }
    const problem = this.options.patternProblem?.(source);
    if (problem !== undefined) this.fail(at, `"${keyword}": ${problem}`);
    return re;
  }

  private type(spec: unknown, at: PathSegment[]): Check {
    const names = typeof spec === "string" ? [spec] : spec;
    if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== "string" || !(TYPE_NAMES as readonly string[]).includes(n)))
      this.fail(at, `"type" must be one of ${TYPE_NAMES.join(", ")}, or a list of them`);
    if (new Set(names).size !== names.length) this.fail(at, `"type" lists a type twice`);
    const types = names as TypeName[];
    const expected = types.length === 1 ? types[0]! : `${types.slice(0, -1).join(", ")} or ${types[types.length - 1]}`;
    const fail = (v: unknown, st: State) => (st.out === null ? false : report(st, "Invalid Type", `expected ${expected}, got ${jsonType(v)}`));
    if (types.length === 1) {
      switch (types[0]!) {
        case "string":
          return (v, st) => typeof v === "string" || fail(v, st);
        case "number":
          return (v, st) => typeof v === "number" || fail(v, st);
        case "integer":
          return (v, st) => Number.isInteger(v) || fail(v, st);
        case "boolean":
          return (v, st) => typeof v === "boolean" || fail(v, st);
        case "null":
          return (v, st) => v === null || fail(v, st);
        case "object":
          return (v, st) => isObject(v) || fail(v, st);
        case "array":
          return (v, st) => Array.isArray(v) || fail(v, st);
      }
    }
    const bit = { null: 1, boolean: 2, object: 4, array: 8, number: 16 | 32, integer: 32, string: 64 } as const;
    let mask = 0;
    for (const t of types) mask |= bit[t];
    const bitsOf = (v: unknown): number => {
      switch (typeof v) {
        case "string":
          return 64;
        case "number":
          return Number.isInteger(v) ? 32 : 16;
        case "boolean":
          return 2;
        case "object":
          return v === null ? 1 : Array.isArray(v) ? 8 : 4;
        default:
          return 0;
      }
    };
    return (v, st) => (bitsOf(v) & mask) !== 0 || fail(v, st);
  }

  private enumeration(values: unknown, at: PathSegment[]): Check {
    if (!Array.isArray(values) || values.length === 0) this.fail(at, `"enum" must be a non-empty list`);
    const primitives = new Set(values.filter((v) => typeof v !== "object" || v === null));
    const structured = values.filter((v) => typeof v === "object" && v !== null);
    const message = `must be one of ${preview(values)}`;
    return (v, st) => {
      if (typeof v !== "object" || v === null ? primitives.has(v) : structured.some((x) => jsonEqual(v, x))) return true;
      return st.out === null ? false : report(st, "Enum", message);
    };
  }

  private constant(value: unknown): Check {
    const message = `must be ${JSON.stringify(value)}`;
    return (v, st) => jsonEqual(v, value) || (st.out === null ? false : report(st, "Enum", message));
  }

  private numbers(s: Obj, at: PathSegment[]): Check {
    const checks: Check[] = [];
    const bound = (keyword: string, ok: (v: number, limit: number) => boolean, words: string) => {
      const limit = this.number(s, keyword, at);
      if (limit === undefined) return;
      const message = `must be ${words} ${limit}`;
      checks.push((v, st) => ok(v as number, limit) || (st.out === null ? false : report(st, "Range", message)));
    };
    bound("minimum", (v, l) => v >= l, "≥");
    bound("maximum", (v, l) => v <= l, "≤");
    bound("exclusiveMinimum", (v, l) => v > l, ">");
    bound("exclusiveMaximum", (v, l) => v < l, "<");
    const m = this.number(s, "multipleOf", at);
    if (m !== undefined) {
      if (m <= 0) this.fail([...at, "multipleOf"], `"multipleOf" must be greater than 0`);
      const message = `must be a multiple of ${m}`;
      // v/m within a few ulps of an integer: 0.3 is a multiple of 0.1 although 0.3/0.1 = 2.9999999999999996.
      checks.push((v, st) => {
        const q = (v as number) / m;
        if (Math.abs(q - Math.round(q)) <= 4 * Number.EPSILON * Math.max(1, Math.abs(q))) return true;
        return st.out === null ? false : report(st, "Range", message);
      });
    }
    return every(checks);
  }

  private strings(s: Obj, at: PathSegment[]): Check {
    const checks: Check[] = [];
    const min = this.nonNegativeInteger(s, "minLength", at);
    if (min !== undefined && min > 0) {
      const message = `must be at least ${plural(min, "character")}`;
      checks.push((v, st) => {
        const str = v as string;
        if (str.length >= 2 * min || (str.length >= min && codePoints(str) >= min)) return true;
        return st.out === null ? false : report(st, "Length", message);
      });
    }
    const max = this.nonNegativeInteger(s, "maxLength", at);
    if (max !== undefined) {
      const message = `must be at most ${plural(max, "character")}`;
      checks.push((v, st) => {
        const str = v as string;
        if (atMostCodePoints(str, max)) return true;
        return st.out === null ? false : report(st, "Length", message);
      });
    }
    if (s.pattern !== undefined) {
      const re = this.regex(s.pattern, [...at, "pattern"], "pattern");
      const message = `does not match the pattern ${re.source}`;
      checks.push((v, st) => {
        const str = v as string;
        if (atMostCodePoints(str, MAX_PATTERN_INPUT)) return re.test(str) || (st.out === null ? false : report(st, "Pattern", message));
        return st.out === null ? false : report(st, "Pattern", TOO_LONG_FOR_PATTERN);
      });
    }
    if (s.format !== undefined) {
      const name = s.format;
      if (typeof name !== "string" || !Object.hasOwn(FORMATS, name))
        this.fail([...at, "format"], `unknown format ${JSON.stringify(name)} (supported: ${Object.keys(FORMATS).join(", ")})`);
      const valid = FORMATS[name]!;
      const message = `must be a valid ${name}`;
      checks.push((v, st) => valid(v as string) || (st.out === null ? false : report(st, "Format", message)));
    }
    return every(checks);
  }

  private arrays(s: Obj, at: PathSegment[]): Check {
    const checks: Check[] = [];
    const items = s.items;
    if (Array.isArray(items)) {
      const tuple = items.map((item, i) => this.node(item, [...at, "items", i], undefined));
      checks.push((v, st) => {
        const list = v as unknown[];
        const n = Math.min(list.length, tuple.length);
        let ok = true;
        for (let i = 0; i < n; i++) {
          if (!descend(tuple[i]!, list[i], i, st)) {
            if (st.out === null) return false;
            ok = false;
          }
        }
        return ok;
      });
      if (s.additionalItems === false) {
        const message = `must have at most ${plural(tuple.length, "item")}`;
        checks.push((v, st) => (v as unknown[]).length <= tuple.length || (st.out === null ? false : report(st, "Length", message)));
      } else if (s.additionalItems !== undefined) {
        const rest = this.node(s.additionalItems, [...at, "additionalItems"], undefined);
        if (rest !== PASS) checks.push((v, st) => eachItem(rest, v as unknown[], tuple.length, st));
      }
    } else {
      if (s.additionalItems !== undefined)
        this.fail([...at, "additionalItems"], `"additionalItems" only applies when "items" is a list (a tuple); draft-07 would ignore it here`);
      if (items !== undefined) {
        const each = this.node(items, [...at, "items"], undefined);
        if (each !== PASS) checks.push((v, st) => eachItem(each, v as unknown[], 0, st));
      }
    }
    const min = this.nonNegativeInteger(s, "minItems", at);
    if (min !== undefined && min > 0) {
      const message = `must have at least ${plural(min, "item")}`;
      checks.push((v, st) => (v as unknown[]).length >= min || (st.out === null ? false : report(st, "Length", message)));
    }
    const max = this.nonNegativeInteger(s, "maxItems", at);
    if (max !== undefined) {
      const message = `must have at most ${plural(max, "item")}`;
      checks.push((v, st) => (v as unknown[]).length <= max || (st.out === null ? false : report(st, "Length", message)));
    }
    if (s.uniqueItems !== undefined) {
      if (typeof s.uniqueItems !== "boolean") this.fail([...at, "uniqueItems"], `"uniqueItems" must be true or false`);
      if (s.uniqueItems) checks.push(uniqueItems);
    }
    if (s.contains !== undefined) {
      const wanted = this.node(s.contains, [...at, "contains"], undefined);
      checks.push((v, st) => {
        const list = v as unknown[];
        for (let i = 0; i < list.length; i++) if (quietly(wanted, list[i], st)) return true;
        return st.out === null ? false : report(st, "Schema", `must contain an item that matches "contains"`);
      });
    }
    return every(checks);
  }

  private objects(s: Obj, at: PathSegment[], from: string | undefined): Check {
    const checks: Check[] = [];
    let declared: string[] = [];
    if (s.properties !== undefined) {
      if (!isObject(s.properties)) this.fail([...at, "properties"], `"properties" must be a map of schemas`);
      declared = Object.keys(s.properties);
      const keys: string[] = [];
      const subs: Check[] = [];
      for (const k of declared) {
        const sub = this.node(s.properties[k], [...at, "properties", k], undefined);
        if (sub === PASS) continue;
        keys.push(k);
        subs.push(sub);
      }
      if (keys.length > 0) checks.push(propertiesCheck(keys, subs));
    }
    if (s.required !== undefined) {
      const req = s.required;
      if (!Array.isArray(req) || req.some((k) => typeof k !== "string") || new Set(req).size !== req.length)
        this.fail([...at, "required"], `"required" must be a list of distinct property names`);
      if (req.length > 0) checks.push(requiredCheck(req as string[]));
    }

    const patterns: RegExp[] = [];
    const patternChecks: Check[] = [];
    if (s.patternProperties !== undefined) {
      if (!isObject(s.patternProperties)) this.fail([...at, "patternProperties"], `"patternProperties" must be a map of schemas`);
      for (const [source, sub] of Object.entries(s.patternProperties)) {
        patterns.push(this.regex(source, [...at, "patternProperties", source], "patternProperties"));
        patternChecks.push(this.node(sub, [...at, "patternProperties", source], undefined));
      }
    }
    let additional: Check | false | undefined;
    if (s.additionalProperties === false) additional = false;
    else if (s.additionalProperties !== undefined) {
      const sub = this.node(s.additionalProperties, [...at, "additionalProperties"], undefined);
      if (sub !== PASS) additional = sub;
    }
    if (patterns.length > 0 || additional !== undefined) checks.push(extraPropertiesCheck(new Set(declared), patterns, patternChecks, additional));

    if (s.propertyNames !== undefined) {
      const names = this.node(s.propertyNames, [...at, "propertyNames"], undefined);
      if (names !== PASS)
        checks.push((v, st) => {
          const o = v as Obj;
          let ok = true;
          for (const k in o) {
            if (!hasOwn(o, k) || quietly(names, k, st)) continue;
            if (st.out === null) return false;
            ok = report(st, "Schema", `the property name is not allowed by "propertyNames"`, k);
          }
          return ok;
        });
    }
    if (s.dependencies !== undefined) {
      if (!isObject(s.dependencies)) this.fail([...at, "dependencies"], `"dependencies" must be a map`);
      for (const [key, dep] of Object.entries(s.dependencies)) {
        const where = [...at, "dependencies", key];
        let then: Check;
        if (Array.isArray(dep)) {
          if (dep.some((k) => typeof k !== "string")) this.fail(where, `"dependencies": a list must hold property names`);
          if (dep.length === 0) continue;
          then = requiredCheck(dep as string[], key);
        } else then = this.node(dep, where, from);
        const check = inherited(key) ? (o: Obj) => hasOwn(o, key) : (o: Obj) => o[key] !== undefined;
        checks.push((v, st) => !check(v as Obj) || then(v, st));
      }
    }
    const min = this.nonNegativeInteger(s, "minProperties", at);
    if (min !== undefined && min > 0) {
      const message = `must have at least ${plural(min, "property", "properties")}`;
      checks.push((v, st) => countKeys(v as Obj) >= min || (st.out === null ? false : report(st, "Length", message)));
    }
    const max = this.nonNegativeInteger(s, "maxProperties", at);
    if (max !== undefined) {
      const message = `must have at most ${plural(max, "property", "properties")}`;
      checks.push((v, st) => countKeys(v as Obj) <= max || (st.out === null ? false : report(st, "Length", message)));
    }
    return every(checks);
  }

  private combinators(s: Obj, at: PathSegment[], from: string | undefined): Check {
    const checks: Check[] = [];
    if (s.allOf !== undefined) {
      const subs = this.schemaList(s.allOf, [...at, "allOf"], "allOf").map((x, i) => this.node(x, [...at, "allOf", i], from));
      checks.push(every(subs));
    }
    if (s.anyOf !== undefined) {
      const subs = this.schemaList(s.anyOf, [...at, "anyOf"], "anyOf").map((x, i) => this.node(x, [...at, "anyOf", i], from));
      checks.push((v, st) => {
        for (let i = 0; i < subs.length; i++) if (quietly(subs[i]!, v, st)) return true;
        return st.out === null ? false : report(st, "Schema", `does not match any of the schemas in "anyOf"`);
      });
    }
    if (s.oneOf !== undefined) {
      const subs = this.schemaList(s.oneOf, [...at, "oneOf"], "oneOf").map((x, i) => this.node(x, [...at, "oneOf", i], from));
      checks.push((v, st) => {
        let matches = 0;
        for (let i = 0; i < subs.length && matches < 2; i++) if (quietly(subs[i]!, v, st)) matches++;
        if (matches === 1) return true;
        if (st.out === null) return false;
        return report(st, "Schema", matches === 0 ? `does not match any of the schemas in "oneOf"` : `matches more than one of the schemas in "oneOf"`);
      });
    }
    if (s.not !== undefined) {
      const sub = this.node(s.not, [...at, "not"], from);
      checks.push((v, st) => !quietly(sub, v, st) || (st.out === null ? false : report(st, "Schema", `must not match the schema in "not"`)));
    }
    if (s.if !== undefined) {
      const cond = this.node(s.if, [...at, "if"], from);
      const then = s.then === undefined ? PASS : this.node(s.then, [...at, "then"], from);
      const otherwise = s.else === undefined ? PASS : this.node(s.else, [...at, "else"], from);
      if (then !== PASS || otherwise !== PASS) checks.push((v, st) => (quietly(cond, v, st) ? then(v, st) : otherwise(v, st)));
    } else {
      for (const k of ["then", "else"])
        if (s[k] !== undefined) this.fail([...at, k], `"${k}" without "if" would be ignored by draft-07`);
    }
    return every(checks);
  }
}

function eachItem(check: Check, list: unknown[], from: number, st: State): boolean {
  let ok = true;
  for (let i = from; i < list.length; i++) {
    if (!descend(check, list[i], i, st)) {
      if (st.out === null) return false;
      ok = false;
    }
  }
  return ok;
}

function propertiesCheck(keys: string[], subs: Check[]): Check {
  const guarded = keys.map(inherited);
  return (v, st) => {
    const o = v as Obj;
    let ok = true;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const x = o[k];
      if (x === undefined || (guarded[i] && !hasOwn(o, k))) continue;
      if (!descend(subs[i]!, x, k, st)) {
        if (st.out === null) return false;
        ok = false;
      }
    }
    return ok;
  };
}

/** `required`, or a `dependencies` list (then `dependsOn` names the property whose presence requires them). */
function requiredCheck(keys: string[], dependsOn?: string): Check {
  const guarded = keys.map(inherited);
  return (v, st) => {
    const o = v as Obj;
    let ok = true;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (guarded[i] ? hasOwn(o, k) : o[k] !== undefined) continue;
      if (st.out === null) return false;
      const message = dependsOn === undefined ? "is required" : `is required when ${fieldName([...st.path, dependsOn])} is present`;
      ok = report(st, "Required", message, k, true);
    }
    return ok;
  };
}

/** patternProperties and additionalProperties: both look at the event's keys rather than the schema's. */
function extraPropertiesCheck(declared: Set<string>, patterns: RegExp[], patternChecks: Check[], additional: Check | false | undefined): Check {
  return (v, st) => {
    const o = v as Obj;
    let ok = true;
    for (const k in o) {
      if (!hasOwn(o, k)) continue;
      if (patterns.length > 0 && !atMostCodePoints(k, MAX_PATTERN_INPUT)) {
        // Not tested against patternProperties, so its schema there is unknown: the name itself is the violation.
        if (st.out === null) return false;
        ok = report(st, "Pattern", `the property name ${TOO_LONG_FOR_PATTERN}`, k);
        continue;
      }
      let planned = declared.has(k);
      for (let j = 0; j < patterns.length; j++) {
        if (!patterns[j]!.test(k)) continue;
        planned = true;
        if (!descend(patternChecks[j]!, o[k], k, st)) {
          if (st.out === null) return false;
          ok = false;
        }
      }
      if (planned || additional === undefined) continue;
      if (additional === false) {
        if (st.out === null) return false;
        ok = report(st, "Unplanned Property", `is not allowed (additionalProperties: false)`, k, true);
      } else if (!descend(additional, o[k], k, st)) {
        if (st.out === null) return false;
        ok = false;
      }
    }
    return ok;
  };
}

/** Small lists compare every pair (no allocation); long ones index their primitives in a Set first. */
const uniqueItems: Check = (v, st) => {
  const list = v as unknown[];
  const n = list.length;
  let dup: [number, number] | undefined;
  if (n <= 32) {
    outer: for (let i = 1; i < n; i++)
      for (let j = 0; j < i; j++)
        if (jsonEqual(list[i], list[j])) {
          dup = [j, i];
          break outer;
        }
  } else {
    const seen = new Map<unknown, number>();
    const objects: number[] = [];
    for (let i = 0; i < n && !dup; i++) {
      const x = list[i];
      if (typeof x === "object" && x !== null) {
        for (const j of objects)
          if (jsonEqual(x, list[j])) {
            dup = [j, i];
            break;
          }
        objects.push(i);
      } else if (seen.has(x)) dup = [seen.get(x)!, i];
      else seen.set(x, i);
    }
  }
  if (!dup) return true;
  return st.out === null ? false : report(st, "Schema", `items must be unique (items ${dup[0]} and ${dup[1]} are equal)`);
};

/**
 * A small declarative schema for config objects: one definition gives both the runtime check (unknown keys
 * rejected, every problem reported with its path) and the TypeScript type (`Infer<typeof schema>`).
 *
 * @example
 *   const Source = s.object({ id: s.string({ pattern: /^[a-z0-9_-]+$/ }), write_keys: s.array(s.string()) });
 *   const problems: Problem[] = [];
 *   const value = Source.check(input, [], problems); // problems: [{ path: ["id"], message: "…" }]
 */
export type Path = (string | number)[];
export interface Problem {
  path: Path;
  message: string;
}

export interface Schema<T> {
  readonly describe: string;
  /** Returns the checked (defaults applied) value, or undefined after pushing at least one problem. */
  check(value: unknown, path: Path, problems: Problem[]): T | undefined;
}
export type Infer<S> = S extends Schema<infer T> ? T : never;

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "list";
  return typeof v;
}

function fail(problems: Problem[], path: Path, message: string): undefined {
  problems.push({ path, message });
  return undefined;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function string(opts: { pattern?: RegExp; enum?: readonly string[]; maxLength?: number; minLength?: number } = {}): Schema<string> {
  const describe = opts.enum ? `one of ${opts.enum.map((e) => JSON.stringify(e)).join(", ")}` : "a string";
  return {
    describe,
    check(v, path, problems) {
      if (typeof v !== "string") return fail(problems, path, `expected ${describe}, got ${typeName(v)}`);
      if (opts.enum && !opts.enum.includes(v)) return fail(problems, path, `expected ${describe}, got ${JSON.stringify(v)}`);
      if (opts.pattern && !opts.pattern.test(v)) return fail(problems, path, `${JSON.stringify(v)} must match ${opts.pattern.source}`);
      if (opts.minLength !== undefined && v.length < opts.minLength)
        return fail(problems, path, opts.minLength === 1 ? `must not be empty` : `must be at least ${opts.minLength} characters`);
      if (opts.maxLength !== undefined && v.length > opts.maxLength)
        return fail(problems, path, `must be at most ${opts.maxLength} characters`);
      return v;
    },
  };
}

function literal<const L extends string>(...values: L[]): Schema<L> {
  return string({ enum: values }) as Schema<L>;
}

function number(opts: { min?: number; max?: number; integer?: boolean } = {}): Schema<number> {
  const describe = opts.integer ? "an integer" : "a number";
  return {
    describe,
    check(v, path, problems) {
      if (typeof v !== "number" || !Number.isFinite(v)) return fail(problems, path, `expected ${describe}, got ${typeName(v)}`);
      if (opts.integer && !Number.isInteger(v)) return fail(problems, path, `expected ${describe}, got ${v}`);
      if (opts.min !== undefined && v < opts.min) return fail(problems, path, `must be ≥ ${opts.min}, got ${v}`);
      if (opts.max !== undefined && v > opts.max) return fail(problems, path, `must be ≤ ${opts.max}, got ${v}`);
      return v;
    },
  };
}

function boolean(): Schema<boolean> {
  return {
    describe: "true or false",
    check(v, path, problems) {
      return typeof v === "boolean" ? v : fail(problems, path, `expected true or false, got ${typeName(v)}`);
    },
  };
}

function unknownValue(): Schema<unknown> {
  return { describe: "any value", check: (v) => v };
}

function array<T>(item: Schema<T>, opts: { minItems?: number } = {}): Schema<T[]> {
  return {
    describe: `a list of ${item.describe}`,
    check(v, path, problems) {
      if (!Array.isArray(v)) return fail(problems, path, `expected a list, got ${typeName(v)}`);
      if (opts.minItems !== undefined && v.length < opts.minItems)
        return fail(problems, path, `must have at least ${opts.minItems} item(s)`);
      const before = problems.length;
      const out = v.map((x, i) => item.check(x, [...path, i], problems));
      return problems.length === before ? (out as T[]) : undefined;
    },
  };
}

function record<T>(value: Schema<T>, key?: Schema<string>): Schema<Record<string, T>> {
  return {
    describe: `a map of ${value.describe}`,
    check(v, path, problems) {
      if (!isPlainObject(v)) return fail(problems, path, `expected a map, got ${typeName(v)}`);
      const before = problems.length;
      const out: Record<string, T> = {};
      for (const [k, x] of Object.entries(v)) {
        if (key) key.check(k, [...path, k], problems);
        const checked = value.check(x, [...path, k], problems);
        if (checked !== undefined) Object.defineProperty(out, k, { value: checked, enumerable: true, writable: true, configurable: true });
      }
      return problems.length === before ? out : undefined;
    },
  };
}

interface Optional<T> extends Schema<T | undefined> {
  readonly optional: true;
}
function optional<T>(inner: Schema<T>): Optional<T> {
  return { describe: inner.describe, optional: true, check: (v, path, problems) => (v === undefined ? undefined : inner.check(v, path, problems)) };
}
/** May be omitted in config; the checked value always has it (so the output type has it too). */
interface Defaulted<T> extends Schema<T> {
  readonly optional: true;
  readonly defaulted: true;
  /** The value used when the key is omitted (generated docs show it). */
  readonly fallback: T;
}
function withDefault<T>(inner: Schema<T>, fallback: T): Defaulted<T> {
  return {
    describe: inner.describe,
    optional: true,
    defaulted: true,
    fallback,
    check: (v, path, problems) => (v === undefined ? structuredClone(fallback) : inner.check(v, path, problems)),
  };
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends Defaulted<unknown> ? never : S[K] extends Optional<unknown> ? K : never }[keyof S];
type ObjectOf<S extends Shape> = { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & {
  [K in OptionalKeys<S>]?: Infer<S[K]>;
};

/** An object with exactly these keys; `ignore` lists foreign keys accepted and dropped (e.g. Segment bookkeeping). */
function object<S extends Shape>(shape: S, opts: { ignore?: readonly string[] } = {}): Schema<ObjectOf<S>> & { shape: S } {
  const known = Object.keys(shape);
  return {
    shape,
    describe: "a map",
    check(v, path, problems) {
      if (!isPlainObject(v)) return fail(problems, path, `expected a map, got ${typeName(v)}`);
      const before = problems.length;
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        if (!Object.hasOwn(shape, k) && !opts.ignore?.includes(k))
          problems.push({ path: [...path, k], message: `unknown key "${k}" (expected one of: ${known.join(", ")})` });
      }
      for (const k of known) {
        const field = shape[k]!;
        const present = Object.hasOwn(v, k) ? v[k] : undefined;
        if (present === undefined && !("optional" in field)) {
          problems.push({ path: [...path, k], message: `missing required key "${k}"` });
          continue;
        }
        const checked = field.check(present, [...path, k], problems);
        if (checked !== undefined) out[k] = checked;
      }
      return problems.length === before ? (out as ObjectOf<S>) : undefined;
    },
  };
}

/** One of several object shapes chosen by a discriminating key, e.g. actions by `type`. */
function tagged<K extends string, M extends Record<string, Schema<unknown>>>(key: K, variants: M): Schema<Infer<M[keyof M]>> {
  const names = Object.keys(variants);
  return {
    describe: `a map with ${key}: ${names.join(" | ")}`,
    check(v, path, problems) {
      if (!isPlainObject(v)) return fail(problems, path, `expected a map, got ${typeName(v)}`);
      const tag = v[key];
      if (typeof tag !== "string" || !Object.hasOwn(variants, tag))
        return fail(problems, [...path, key], `expected ${key} to be one of ${names.join(", ")}, got ${JSON.stringify(tag)}`);
      return variants[tag]!.check(v, path, problems) as Infer<M[keyof M]> | undefined;
    },
  };
}

function oneOf<A, B>(a: Schema<A>, b: Schema<B>): Schema<A | B> {
  return {
    describe: `${a.describe} or ${b.describe}`,
    check(v, path, problems) {
      const trial: Problem[] = [];
      const first = a.check(v, path, trial);
      if (trial.length === 0) return first;
      const trial2: Problem[] = [];
      const second = b.check(v, path, trial2);
      if (trial2.length === 0) return second;
      return fail(problems, path, `expected ${a.describe} or ${b.describe}`);
    },
  };
}

export const s = { string, literal, number, boolean, unknown: unknownValue, array, record, optional, withDefault, object, tagged, oneOf };

/** Formats a path as `sources[0].write_keys[1]`. */
export function formatPath(path: Path): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? p : `.${p}`;
  return out;
}

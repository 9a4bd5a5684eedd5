/**
 * Destination filters (docs/filters.md): compiles a destination's `filters:` list once into a single function.
 *
 * Evaluation of one event:
 *  1. Every enabled filter's condition (`if` FQL / "all", `where` JSONPath; both must hold when both are given) is
 *     evaluated once, against the INCOMING event. Nothing else happens — and nothing is allocated except the
 *     returned outcome — when no filter matches; the event is returned as the same object.
 *  2. Segment's actions of all matching filters run in Segment's fixed order, regardless of filter order:
 *     SAMPLE → DROP → DROP_PROPERTIES → ALLOW_PROPERTIES (within one stage: filter order, then action order).
 *     The first SAMPLE that samples the event out, or the first DROP, ends evaluation.
 *  3. Our transformations (RENAME_EVENT, RENAME_PROPERTIES, COPY, MOVE, SET, HASH_PROPERTIES, CAST) of the
 *     matching filters then run in the order written (filter order, then action order).
 * The input event is never mutated: changed objects are shallow-copied along the path from the root (copy-on-write).
 */
import { createHash } from "node:crypto";
import { compileFql, FqlSyntaxError, readPath } from "../fql/index.ts";
import { FilterRuleError, RuleProblem, type FilterRuleLocation } from "./errors.ts";
import { compileJsonPath, looksLikeJsonPath } from "./jsonpath.ts";
import { md5Fraction, md5PrefixBelow } from "./md5.ts";
import {
  checkKey,
  cloneJson,
  compilePath,
  deleteIn,
  getIn,
  isPlainObject,
  isPrefix,
  type JsonObject,
  MISSING,
  type Owned,
  type Path,
  setIn,
  updateObjectsAt,
  withKey,
  withoutKeys,
} from "./paths.ts";

export { FilterRuleError } from "./errors.ts";

export interface FilterSpec {
  title: string;
  /** Default true; disabled filters are validated but never run. */
  enabled?: boolean;
  /** FQL source, or "all". */
  if?: string;
  /** JSONPath condition: true when the path matches anything. With `if`, both must hold. */
  where?: string;
  actions: ActionSpec[];
}

export type CastType = "string" | "number" | "boolean";

export type ActionSpec =
  | { type: "DROP" }
  | { type: "SAMPLE"; percent: number; path?: string }
  | { type: "DROP_PROPERTIES"; fields: Record<string, string[]> }
  | { type: "ALLOW_PROPERTIES"; fields: Record<string, string[]> }
  | { type: "RENAME_EVENT"; to: string }
  | { type: "RENAME_PROPERTIES"; fields: Record<string, string> }
  | { type: "COPY"; from: string; to: string }
  | { type: "MOVE"; from: string; to: string }
  | { type: "SET"; path: string; value: unknown }
  | { type: "HASH_PROPERTIES"; fields: string[]; salt?: string }
  | { type: "CAST"; fields: Record<string, CastType> };

export type FilterOutcome =
  | { kept: true; event: Record<string, unknown> }
  | { kept: false; reason: "dropped" | "sampled_out"; filter: string };

export type CompiledFilters = (event: Record<string, unknown>) => FilterOutcome;

export interface CompileFiltersOptions {
  /** Source of randomness for SAMPLE without `path`; defaults to Math.random. Must return values in [0, 1). */
  random?: () => number;
}

export const MAX_TITLE_LENGTH = 64;

export const ACTION_TYPES = [
  "DROP",
  "SAMPLE",
  "DROP_PROPERTIES",
  "ALLOW_PROPERTIES",
  "RENAME_EVENT",
  "RENAME_PROPERTIES",
  "COPY",
  "MOVE",
  "SET",
  "HASH_PROPERTIES",
  "CAST",
] as const;

const CAST_TYPES: ReadonlySet<string> = new Set(["string", "number", "boolean"]);

type Condition = (event: JsonObject) => boolean;
/** An edit of one event; `own` lists what this event's edits created so far (see paths.ts `Owned`). */
type Transform = (event: JsonObject, own: Owned) => JsonObject;

type Dropped = Extract<FilterOutcome, { kept: false }>;

interface Stages {
  sample: { slot: number; outcome: Dropped; keep: (event: JsonObject) => boolean }[];
  drop: { slot: number; outcome: Dropped }[];
  dropProperties: { slot: number; run: Transform }[];
  allowProperties: { slot: number; run: Transform }[];
  transform: { slot: number; run: Transform }[];
}

export function compileFilters(specs: FilterSpec[], options: CompileFiltersOptions = {}): CompiledFilters {
  if (!Array.isArray(specs)) throw new TypeError("compileFilters: specs must be an array");
  const random = options.random ?? Math.random;
  const conditions: (Condition | null)[] = [];
  const stages: Stages = { sample: [], drop: [], dropProperties: [], allowProperties: [], transform: [] };

  specs.forEach((spec, filterIndex) => {
    const at: At = (problem, location = {}, cause) =>
      toRuleError(problem, { filterIndex, ...location }, describeFilter(spec, filterIndex), cause);

    if (!isPlainObject(spec)) throw at("a filter must be an object");
    const { title } = spec;
    if (typeof title !== "string" || title.trim() === "") throw at("`title` must be a non-empty string", { field: "title" });
    if (title.length > MAX_TITLE_LENGTH) {
      throw at(`\`title\` is ${title.length} characters; the limit is ${MAX_TITLE_LENGTH}`, { field: "title" });
    }
    if (spec.enabled !== undefined && typeof spec.enabled !== "boolean") throw at("`enabled` must be true or false", { field: "enabled" });

    const condition = compileCondition(spec, at);

    if (!Array.isArray(spec.actions) || spec.actions.length === 0) throw at("`actions` must be a non-empty list", { field: "actions" });
    const slot = conditions.length;
    const compiled: (() => void)[] = [];
    spec.actions.forEach((action, actionIndex) => {
      try {
        compiled.push(compileAction(action, slot, title, stages, random));
      } catch (err) {
        if (err instanceof FilterRuleError) throw err;
        throw at(err, { actionIndex, ...(err instanceof FieldProblem ? { field: err.field } : {}) });
      }
    });

    if (spec.enabled === false) return; // validated, but never runs
    conditions.push(condition);
    for (const register of compiled) register();
  });

  const count = conditions.length;
  if (count === 0) return (event) => ({ kept: true, event });

  const matched = new Uint8Array(count);
  const { sample, drop } = stages;
  const edits = [stages.dropProperties, stages.allowProperties, stages.transform];

  return (event) => {
    let any = false;
    for (let i = 0; i < count; i++) {
      const condition = conditions[i];
      const hit = condition === null || condition === undefined ? true : condition(event);
      matched[i] = hit ? 1 : 0;
      if (hit) any = true;
    }
    if (!any) return { kept: true, event };

    for (let i = 0; i < sample.length; i++) {
      const s = sample[i]!;
      if (matched[s.slot] === 1 && !s.keep(event)) return s.outcome;
    }
    for (let i = 0; i < drop.length; i++) {
      const d = drop[i]!;
      if (matched[d.slot] === 1) return d.outcome;
    }
    const own: Owned = [];
    let current = event;
    for (let l = 0; l < edits.length; l++) {
      const list = edits[l]!;
      for (let i = 0; i < list.length; i++) {
        const t = list[i]!;
        if (matched[t.slot] === 1) current = t.run(current, own);
      }
    }
    return { kept: true, event: current };
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

class FieldProblem extends RuleProblem {
  readonly field: string;
  constructor(field: string, message: string, column?: number) {
    super(message, column);
    this.field = field;
  }
}

/** Re-throws `problem` from a helper with the given field attached. */
function inField<T>(field: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof FieldProblem || !(err instanceof Error)) throw err;
    throw new FieldProblem(field, err.message, (err as RuleProblem).column);
  }
}

function describeFilter(spec: unknown, filterIndex: number): string {
  const title = isPlainObject(spec) && typeof spec.title === "string" ? ` ("${spec.title.slice(0, MAX_TITLE_LENGTH)}")` : "";
  return `filters[${filterIndex}]${title}`;
}

type At = (problem: unknown, location?: Omit<FilterRuleLocation, "filterIndex">, cause?: unknown) => FilterRuleError;

function toRuleError(problem: unknown, location: FilterRuleLocation, where: string, cause?: unknown): FilterRuleError {
  const message = problem instanceof Error ? problem.message : String(problem);
  const column = location.column ?? (problem instanceof RuleProblem || problem instanceof FqlSyntaxError ? problem.column : undefined);
  const full: FilterRuleLocation = { ...location };
  if (column !== undefined) full.column = column;
  let prefix = where;
  if (location.actionIndex !== undefined) prefix += ` actions[${location.actionIndex}]`;
  if (location.field !== undefined) prefix += ` ${location.field}`;
  const origin = cause ?? (problem instanceof Error ? problem : undefined);
  return new FilterRuleError(`${prefix}: ${message}`, full, origin === undefined ? { detail: message } : { cause: origin, detail: message });
}

// ---------------------------------------------------------------------------------------------------------------
// Conditions

function compileCondition(spec: FilterSpec, at: At): Condition | null {
  const hasIf = spec.if !== undefined;
  const hasWhere = spec.where !== undefined;
  if (!hasIf && !hasWhere) throw at('a filter needs `if` (FQL, or "all") and/or `where` (JSONPath)', { field: "if" });

  let fql: Condition | null = null;
  if (hasIf) {
    if (typeof spec.if !== "string" || spec.if.trim() === "") throw at('`if` must be an FQL string or "all"', { field: "if" });
    if (spec.if.trim() !== "all") {
      try {
        fql = compileFql(spec.if);
      } catch (err) {
        throw at(err instanceof Error ? `invalid FQL: ${err.message}` : err, {
          field: "if",
          ...(err instanceof FqlSyntaxError ? { column: err.column } : {}),
        }, err);
      }
    }
  }

  let where: Condition | null = null;
  if (hasWhere) {
    try {
      const path = compileJsonPath(spec.where, "where");
      where = (event) => path.test(event);
    } catch (err) {
      throw at(err instanceof Error ? `invalid JSONPath: ${err.message}` : err, {
        field: "where",
        ...(err instanceof RuleProblem && err.column !== undefined ? { column: err.column } : {}),
      }, err);
    }
  }

  if (fql && where) {
    const a = fql;
    const b = where;
    return (event) => a(event) && b(event);
  }
  return fql ?? where;
}

// ---------------------------------------------------------------------------------------------------------------
// Actions. Each compiler validates its action and returns a function that registers it in the stages; registration
// is deferred so that disabled filters are fully validated but never run.

function compileAction(action: unknown, slot: number, title: string, stages: Stages, random: () => number): () => void {
  if (!isPlainObject(action)) throw new RuleProblem("an action must be an object");
  const type = action.type;
  if (typeof type !== "string" || !(ACTION_TYPES as readonly string[]).includes(type)) {
    throw new FieldProblem("type", `unknown action type ${JSON.stringify(type)} (expected one of ${ACTION_TYPES.join(", ")})`);
  }
  const spec = action as ActionSpec;
  const transform = (run: Transform) => () => void stages.transform.push({ slot, run });
  switch (spec.type) {
    case "DROP":
      return () => void stages.drop.push({ slot, outcome: Object.freeze({ kept: false, reason: "dropped", filter: title }) });
    case "SAMPLE": {
      const keep = compileSample(spec, random);
      return () => void stages.sample.push({ slot, outcome: Object.freeze({ kept: false, reason: "sampled_out", filter: title }), keep });
    }
    case "DROP_PROPERTIES": {
      const run = compilePropertyList(spec.fields, "drop");
      return () => void stages.dropProperties.push({ slot, run });
    }
    case "ALLOW_PROPERTIES": {
      const run = compilePropertyList(spec.fields, "allow");
      return () => void stages.allowProperties.push({ slot, run });
    }
    case "RENAME_EVENT":
      return transform(compileRenameEvent(spec.to));
    case "RENAME_PROPERTIES":
      return transform(compileRenameProperties(spec.fields));
    case "COPY":
    case "MOVE":
      return transform(compileCopyMove(spec.type, spec.from, spec.to));
    case "SET":
      return transform(compileSet(spec.path, spec.value, Object.hasOwn(spec, "value")));
    case "HASH_PROPERTIES":
      return transform(compileHash(spec.fields, spec.salt));
    case "CAST":
      return transform(compileCast(spec.fields));
  }
}

// SAMPLE --------------------------------------------------------------------------------------------------------

function compileSample(spec: { percent: unknown; path?: unknown }, random: () => number): (event: JsonObject) => boolean {
  const { percent } = spec;
  if (typeof percent !== "number" || !Number.isFinite(percent) || percent < 0 || percent > 1) {
    throw new FieldProblem("percent", `\`percent\` must be a number between 0 and 1 (0.1 = 10%), got ${JSON.stringify(percent)}`);
  }
  if (spec.path === undefined) return () => random() < percent;

  const segments = inField("path", () => compilePath(spec.path, "`path`"));
  if (percent >= 1) return () => true;
  if (percent <= 0) return () => false;
  // keep iff uint64(first 8 bytes of MD5) < percent·2^64. md5Fraction rounds that uint64 to a double, so `<` and
  // `>` against percent are exact; only a tie (fraction === percent, probability ~2^-54) needs the exact
  // comparison, done as two 32-bit halves of ceil(percent·2^64).
  const threshold = BigInt(Math.ceil(percent * 2 ** 64));
  const high = Number(threshold >> 32n);
  const low = Number(threshold & 0xffffffffn);
  return (event) => {
    const key = sampleKey(readPath(event, segments));
    const fraction = md5Fraction(key);
    return fraction < percent || (fraction === percent && md5PrefixBelow(key, high, low));
  };
}

/** The string hashed for deterministic sampling: JSON of the value; a missing value hashes as `null`. */
export function sampleKey(value: unknown): string {
  return value === undefined ? "null" : (JSON.stringify(value) ?? "null");
}

// DROP_PROPERTIES / ALLOW_PROPERTIES ------------------------------------------------------------------------------

function compilePropertyList(fields: unknown, mode: "drop" | "allow"): Transform {
  if (!isPlainObject(fields) || Object.keys(fields).length === 0) {
    throw new FieldProblem("fields", "`fields` must be a non-empty map of object path → list of keys");
  }
  const steps: Transform[] = [];
  for (const [objectPath, names] of Object.entries(fields)) {
    const field = `fields.${objectPath === "" ? '""' : objectPath}`;
    inField(field, () => {
      const segments = compilePath(objectPath, "object path", true);
      if (!Array.isArray(names) || names.some((n) => typeof n !== "string" || n === "")) {
        throw new RuleProblem("must be a list of non-empty key names");
      }
      if (names.length === 0 && (mode === "drop" || segments.length === 0)) {
        throw new RuleProblem(mode === "drop" ? "lists no keys to drop" : "an empty allow-list at the top level would empty the event");
      }
      const keys = new Set<string>();
      for (const name of names as string[]) {
        if (looksLikeJsonPath(name)) {
          if (mode === "allow") {
            throw new RuleProblem(`JSONPath "${name}" is not supported in ALLOW_PROPERTIES (list the keys to keep)`);
          }
          const path = compileJsonPath(name, "drop");
          steps.push((event, own) => updateObjectsAt(event, segments, 0, path.drop, own) as JsonObject);
        } else {
          checkKey(name, "key");
          keys.add(name);
        }
      }
      if (mode === "allow") {
        steps.push((event, own) => updateObjectsAt(event, segments, 0, (object) => keepOnly(object, keys, own), own) as JsonObject);
      } else if (keys.size > 0) {
        steps.push((event, own) => updateObjectsAt(event, segments, 0, (object) => dropKeys(object, keys, own), own) as JsonObject);
      }
    });
  }
  return chain(steps);
}

function dropKeys(object: JsonObject, keys: ReadonlySet<string>, own: Owned): JsonObject {
  for (const key of keys) if (Object.hasOwn(object, key)) return withoutKeys(object, (k) => keys.has(k), own);
  return object;
}

function keepOnly(object: JsonObject, keys: ReadonlySet<string>, own: Owned): JsonObject {
  for (const key of Object.keys(object)) if (!keys.has(key)) return withoutKeys(object, (k) => !keys.has(k), own);
  return object;
}

function chain(steps: Transform[]): Transform {
  if (steps.length === 1) return steps[0]!;
  return (event, own) => {
    let current = event;
    for (let i = 0; i < steps.length; i++) current = steps[i]!(current, own);
    return current;
  };
}

// Transformations -------------------------------------------------------------------------------------------------

function compileRenameEvent(to: unknown): Transform {
  if (typeof to !== "string" || to.trim() === "") throw new FieldProblem("to", "`to` must be a non-empty event name");
  return (event, own) => (typeof event.event === "string" && event.event !== to ? withKey(event, "event", to, own) : event);
}

function compileRenameProperties(fields: unknown): Transform {
  if (!isPlainObject(fields) || Object.keys(fields).length === 0) {
    throw new FieldProblem("fields", "`fields` must be a non-empty map of old path → new path");
  }
  const steps = Object.entries(fields).map(([from, to]) =>
    inField(`fields.${from}`, () => {
      if (typeof to !== "string") throw new RuleProblem("the new path must be a string");
      return movePath(compilePath(from, "old path"), compilePath(to, "new path"));
    }),
  );
  return chain(steps);
}

function compileCopyMove(type: "COPY" | "MOVE", from: unknown, to: unknown): Transform {
  const source = inField("from", () => compilePath(from, "`from`"));
  const target = inField("to", () => compilePath(to, "`to`"));
  if (type === "MOVE") return movePath(source, target);
  if (source.length === target.length && isPrefix(source, target)) throw new FieldProblem("to", "`from` and `to` are the same path");
  return (event, own) => {
    const value = getIn(event, source);
    if (value === MISSING) return event;
    // A copy: the two paths must not share an object a later edit could change in place.
    return setIn(event, target, 0, cloneJson(value), own) ?? event;
  };
}

/** MOVE / RENAME_PROPERTIES: skipped when the source is missing or the target cannot be written. */
function movePath(source: Path, target: Path): Transform {
  if (isPrefix(source, target)) {
    throw new RuleProblem(source.length === target.length ? "source and target are the same path" : "cannot move a value inside itself");
  }
  return (event, own) => {
    const value = getIn(event, source);
    if (value === MISSING) return event;
    return setIn(deleteIn(event, source, 0, own), target, 0, value, own) ?? event;
  };
}

function compileSet(path: unknown, value: unknown, hasValue: boolean): Transform {
  const target = inField("path", () => compilePath(path, "`path`"));
  if (!hasValue || value === undefined) throw new FieldProblem("value", "`value` is required (use null to set null)");
  let literal: unknown;
  try {
    const json = JSON.stringify(value);
    if (json === undefined) throw new Error("not JSON");
    literal = JSON.parse(json);
  } catch {
    throw new FieldProblem("value", "`value` must be a JSON value");
  }
  const isObject = typeof literal === "object" && literal !== null;
  return (event, own) => setIn(event, target, 0, isObject ? cloneJson(literal) : literal, own) ?? event;
}

/**
 * Applies `fn` to the value at each dotted path; arrays on the way fan out (`properties.products.email` →
 * every product's email). `fn` returns MISSING to leave the value unchanged.
 */
function compileValueUpdate(path: Path, fn: (value: unknown) => unknown): Transform {
  const container = path.slice(0, -1);
  const key = path[path.length - 1]!;
  const update = (object: JsonObject, own?: Owned): JsonObject => {
    if (!Object.hasOwn(object, key)) return object;
    const next = fn(object[key]);
    return next === MISSING ? object : withKey(object, key, next, own);
  };
  return (event, own) => updateObjectsAt(event, container, 0, update, own) as JsonObject;
}

function compileHash(fields: unknown, salt: unknown): Transform {
  if (!Array.isArray(fields) || fields.length === 0) throw new FieldProblem("fields", "`fields` must be a non-empty list of paths");
  if (salt !== undefined && typeof salt !== "string") throw new FieldProblem("salt", "`salt` must be a string");
  const prefix = salt ?? "";
  const steps = fields.map((field, k) =>
    compileValueUpdate(
      inField(`fields[${k}]`, () => compilePath(field, "path")),
      (value) => (value === null || value === undefined ? MISSING : hashValue(prefix, value)),
    ),
  );
  return chain(steps);
}

/** SHA-256 hex of salt + value (strings as-is, anything else as JSON). */
export function hashValue(salt: string, value: unknown): string {
  return createHash("sha256")
    .update(salt + (typeof value === "string" ? value : JSON.stringify(value)))
    .digest("hex");
}

function compileCast(fields: unknown): Transform {
  if (!isPlainObject(fields) || Object.keys(fields).length === 0) {
    throw new FieldProblem("fields", "`fields` must be a non-empty map of path → string | number | boolean");
  }
  const steps = Object.entries(fields).map(([path, type]) =>
    inField(`fields.${path}`, () => {
      if (typeof type !== "string" || !CAST_TYPES.has(type)) {
        throw new RuleProblem(`unknown type ${JSON.stringify(type)} (expected string, number or boolean)`);
      }
      const convert = castTo(type as CastType);
      return compileValueUpdate(compilePath(path, "path"), (value) => {
        if (value === null) return MISSING;
        const next = convert(value);
        return Object.is(next, value) ? MISSING : next;
      });
    }),
  );
  return chain(steps);
}

/** Conversions for CAST; values that cannot be converted become null. */
export function castTo(type: CastType): (value: unknown) => unknown {
  switch (type) {
    case "string":
      return (value) => (typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : JSON.stringify(value));
    case "number":
      return (value) => {
        if (typeof value === "number") return Number.isFinite(value) ? value : null;
        if (typeof value === "boolean") return value ? 1 : 0;
        if (typeof value === "string" && value.trim() !== "") {
          const n = Number(value);
          return Number.isFinite(n) ? n : null;
        }
        return null;
      };
    case "boolean":
      return (value) => {
        if (typeof value === "boolean") return value;
        if (value === 1 || value === 0) return value === 1;
        if (typeof value === "string") {
          const s = value.trim().toLowerCase();
          if (s === "true" || s === "1") return true;
          if (s === "false" || s === "0") return false;
        }
        return null;
      };
  }
}

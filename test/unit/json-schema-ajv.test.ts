/**
 * Differential test of src/plans/json-schema.ts against ajv 8 (draft-07), the reference implementation: over
 * generated schema/value pairs, `test(value)` must answer what ajv answers, and `validate(value)` must be empty
 * exactly when `test` passes. Seeded and bounded; a failure prints the shrunk schema and value.
 *
 * Schemas use every keyword the engine supports, built from small shared pools (keys, strings, numbers, patterns)
 * so that values often sit on a bound, match a pattern or equal an enum entry: both valid and invalid cases occur
 * (the last test checks the mix). Values go through JSON (JSON.parse(JSON.stringify(v))), as events do.
 *
 * Intended divergences from ajv, kept out of generation or mapped:
 *  - multipleOf: the engine accepts a quotient within 4 ulps of an integer (0.3 is a multiple of 0.1), ajv demands
 *    an exact float quotient (0.3 / 0.1 = 2.9999999999999996: not a multiple). The price of the tolerance: a value
 *    a few ulps off a multiple passes too (1.0000000000000002 is a "multiple of 1", though not an integer).
 *    Generated divisors and values are dyadic (0.25, 0.5, 2.5 = 5/2, …) so every quotient is exact.
 *  - format: ajv has no formats built in; it is given the engine's own predicates (src/plans/formats.ts, tested on
 *    their own), so this test checks where `format` applies (strings only, inside every combinator), not the formats.
 *  - Inherited names (`hasOwnProperty`, `isPrototypeOf`): the engine counts own properties only; ajv reads
 *    `data[key]` (so `{}` has an `isPrototypeOf`) unless `ownProperties: true`, which it is given here.
 *    `constructor`, `valueOf` and `toString` are never generated as keys: ajv's deep equality (enum, const,
 *    uniqueItems) calls or compares them (`{"toString": 0}` throws; `{"constructor": {}}` differs from itself).
 *  - `__proto__`: ajv drops it from `properties` (so it is also "additional" there); the engine checks it as the
 *    ordinary JSON key it is. Never generated.
 *  - Build errors: the engine refuses schemas that draft-07 would silently (partly) ignore, and ajv compiles them:
 *    `then`/`else` without `if`, `additionalItems` without a tuple `items`, validation keywords beside `$ref`,
 *    unknown keywords or formats, an empty `enum`, and a `$ref` cycle that never descends into the data (on which
 *    ajv's validator recurses until the stack overflows). Never generated, except the last (references between
 *    definitions make such cycles): a schema the engine refuses for that reason alone is discarded (fc.pre); a
 *    cycle it misses makes ajv overflow its stack, which fails the test.
 *  - Leniency: the engine takes `items: []` as an empty tuple and an `enum` listing a value twice as meaning the
 *    obvious; the draft-07 meta-schema, and so ajv, refuses both. Never generated.
 *  - Non-finite numbers and `undefined` are not JSON and never reach the engine (ajv counts Infinity an integer).
 *    `1.0` is the number 1 once parsed, so "integer" cannot tell them apart on either side.
 *  - Regex dialect: none; both compile `pattern` and `patternProperties` with `new RegExp(source, "u")`.
 * And two ajv bugs around empty arrays (tuple `items`, `contains`): ajv gets an equivalent schema (see forAjv).
 */
import Ajv, { type ValidateFunction } from "ajv";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileJsonSchema, FORMATS, JsonSchemaError, type CompiledSchema } from "../../src/plans/index.ts";

type Schema = boolean | { [k: string]: unknown };
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

// Pools shared by schemas and values, so a value often is what the schema names.
const KEYS = ["a", "b", "ab", "x1", "Y", "hasOwnProperty", "isPrototypeOf"];
const KEY_PATTERNS = ["^a", "\\d$", "^[A-Z]", "^(?:b|ab)$", "o"];
const STRING_PATTERNS = ["^a", "b$", "^[a-c]*$", "\\d", "^.$", "^\\p{Lu}", "\u{1F600}", "^(?:a|bc)+$"];
const STRINGS = [
  ...["", "a", "b", "ab", "abc", "bc", "x1", "Y", "A1", "constructor", "\u00e9", "\ud800"],
  ...["\u{1F600}", "a\u{1F600}", "\u{1F600}\u{1F600}", "\u{1F600}b\u{1F600}"], // U+1F600: one code point in two UTF-16 units
  ...["2020-02-29", "2021-02-29", "2020-01-01T10:00:00Z", "12:30:00", "a@b.co", "https://x.y/z", "127.0.0.1", "::1", "example.com"],
  "123e4567-e89b-12d3-a456-426614174000",
];
/** Dyadic, so `v / multipleOf` is exact (see multipleOf above). */
const NUMBERS = [-3, -1, -0.5, 0, 0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 1e6];
const MULTIPLES = [0.25, 0.5, 1, 2, 2.5, 3];
const TYPES = ["null", "boolean", "object", "array", "number", "integer", "string"];

const atom = fc.oneof(fc.constant(null), fc.boolean(), fc.constantFrom(...NUMBERS), fc.integer({ min: -20, max: 20 }), fc.constantFrom(...STRINGS), fc.constantFrom(...KEYS));
/** Few enough that lists repeat them: equal by value, distinct objects once through JSON (uniqueItems, enum). */
const SMALL = [null, 0, 1, 2.5, "a", "\u{1F600}", true, [], [1], ["a", 1], {}, { a: 1 }, { a: 1, b: [] }, { b: [] }];

const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", maxDepth: 3, withCrossShrink: true },
    { weight: 4, arbitrary: atom },
    { weight: 2, arbitrary: fc.array(tie("value"), { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.array(fc.constantFrom(...SMALL), { maxLength: 5 }) },
    { weight: 2, arbitrary: fc.dictionary(fc.constantFrom(...KEYS), tie("value"), { maxKeys: 4 }) },
  ),
}));

/**
 * Longer than 32 items, where uniqueItems indexes primitives in a Map instead of comparing every pair: distinct
 * numbers, then a few values from a small pool that may repeat (as objects equal by value, or as strings).
 */
const longArray = fc
  .tuple(fc.uniqueArray(fc.integer({ min: 10, max: 1000 }), { minLength: 30, maxLength: 36 }), fc.array(fc.constantFrom(...SMALL, "b", "ab"), { maxLength: 4 }))
  .map(([distinct, more]) => [...distinct, ...more]);

const json = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

/** The root's two definitions, named so that their pointers need escaping ("~1" is "/", "~0" is "~"). */
const DEFINITIONS: Record<string, string> = { "#/definitions/d~10": "d/0", "#/definitions/d~01": "d~1" };
const REFS = ["#", ...Object.keys(DEFINITIONS)];

/**
 * Schemas. `deeper` may be a `$ref` (to the root or to a definition) and is used only where the data gets deeper
 * (items, properties, …), so "#" never loops; `same` (allOf, not, if, …) sees the same value and refers only to
 * definitions, which may still close a loop (see the build-error divergence above). A schema object takes one to
 * three keywords of one family (so keywords that interact meet: patternProperties and additionalProperties, a tuple
 * and additionalItems), sometimes plus one of any family.
 */
const schemas = fc.letrec<{ deeper: Schema; same: Schema; object: Record<string, unknown> }>((tie) => {
  const deeper = tie("deeper") as fc.Arbitrary<Schema>;
  const same = tie("same") as fc.Arbitrary<Schema>;
  const list = (s: fc.Arbitrary<Schema>) => fc.array(s, { minLength: 1, maxLength: 3 });
  const keyword = <T>(name: string, arb: fc.Arbitrary<T>) => arb.map((v) => ({ [name]: v }));
  const orFalse = (s: fc.Arbitrary<Schema>) => fc.oneof(fc.constant(false), s);
  const families: fc.Arbitrary<Record<string, unknown>>[][] = [
    [
      keyword("type", fc.constantFrom(...TYPES)),
      keyword("type", fc.subarray(TYPES, { minLength: 1, maxLength: 3 })),
      keyword("enum", fc.uniqueArray(value.map(json), { minLength: 1, maxLength: 4, selector: (v) => JSON.stringify(v) })),
      keyword("const", value.map(json)),
    ],
    [
      keyword("type", fc.constantFrom("number", "integer")),
      keyword("minimum", fc.constantFrom(...NUMBERS)),
      keyword("maximum", fc.constantFrom(...NUMBERS)),
      keyword("exclusiveMinimum", fc.constantFrom(...NUMBERS)),
      keyword("exclusiveMaximum", fc.constantFrom(...NUMBERS)),
      keyword("multipleOf", fc.constantFrom(...MULTIPLES)),
    ],
    [
      keyword("type", fc.constant("string")),
      keyword("minLength", fc.nat(3)),
      keyword("maxLength", fc.nat(3)),
      keyword("pattern", fc.constantFrom(...STRING_PATTERNS)),
      keyword("format", fc.constantFrom(...Object.keys(FORMATS))),
    ],
    [
      keyword("type", fc.constant("array")),
      keyword("items", deeper),
      fc.record({ items: fc.array(deeper, { minLength: 1, maxLength: 3 }), additionalItems: orFalse(deeper) }, { requiredKeys: ["items"] }),
      keyword("minItems", fc.nat(3)),
      keyword("maxItems", fc.nat(3)),
      keyword("uniqueItems", fc.boolean()),
      keyword("contains", deeper),
    ],
    [
      keyword("type", fc.constant("object")),
      keyword("properties", fc.dictionary(fc.constantFrom(...KEYS), deeper, { maxKeys: 3 })),
      keyword("required", fc.subarray(KEYS, { maxLength: 3 })),
      keyword("additionalProperties", orFalse(deeper)),
      fc.record(
        { patternProperties: fc.dictionary(fc.constantFrom(...KEY_PATTERNS), deeper, { minKeys: 1, maxKeys: 2 }), additionalProperties: orFalse(deeper) },
        { requiredKeys: ["patternProperties"] },
      ),
      keyword("propertyNames", same),
      keyword("dependencies", fc.dictionary(fc.constantFrom(...KEYS), fc.oneof(fc.subarray(KEYS, { maxLength: 2 }), same), { maxKeys: 2 })),
      keyword("minProperties", fc.nat(3)),
      keyword("maxProperties", fc.nat(3)),
    ],
    [
      keyword("allOf", list(same)),
      keyword("anyOf", list(same)),
      keyword("oneOf", list(same)),
      keyword("not", same),
      fc.record({ if: same, then: same, else: same }, { requiredKeys: ["if"] }),
    ],
  ];
  const ofOneFamily = fc.oneof(...families.map((f) => fc.array(fc.oneof(...f), { minLength: 1, maxLength: 3 })));
  const any = fc.oneof(...families.flat());
  return {
    object: fc.tuple(ofOneFamily, fc.option(any, { freq: 3 })).map(([fs, extra]) => {
      const s = Object.assign({}, ...fs, extra ?? {}) as Record<string, unknown>;
      // A later `items` schema may have replaced the tuple its `additionalItems` came with (a build error).
      if (!Array.isArray(s.items)) delete s.additionalItems;
      return s;
    }),
    same: fc.oneof(
      { depthSize: "small", maxDepth: 3, withCrossShrink: true },
      { weight: 1, arbitrary: fc.boolean() },
      { weight: 1, arbitrary: fc.constantFrom(REFS[1]!, REFS[2]!).map(($ref) => ({ $ref })) },
      { weight: 6, arbitrary: tie("object") },
    ),
    deeper: fc.oneof(
      { depthSize: "small", maxDepth: 3, withCrossShrink: true },
      { weight: 1, arbitrary: fc.boolean() },
      { weight: 1, arbitrary: fc.constantFrom(...REFS).map(($ref) => ({ $ref })) },
      { weight: 6, arbitrary: tie("object") },
    ),
  };
});

const rootSchema = fc
  .record({ root: schemas.object, d0: schemas.object, d1: schemas.same })
  .map(({ root, d0, d1 }) => ({ ...root, definitions: { "d/0": d0, "d~1": d1 } }));

/**
 * Values shaped by `schema`, so that its nested keywords meet data: objects with its property names (values shaped
 * by their subschemas), arrays of items shaped by `items`/`contains`, its enum entries, strings and numbers from
 * the pools its bounds come from. Any of them may still be replaced by a random value, at every level.
 */
function near(schema: unknown, root: Record<string, unknown>, depth = 0): fc.Arbitrary<unknown> {
  if (!isObject(schema) || depth > 4) return value;
  if (typeof schema.$ref === "string") {
    const target = schema.$ref === "#" ? root : (root.definitions as Record<string, unknown>)[DEFINITIONS[schema.$ref]!];
    return near(target, root, depth + 1);
  }
  const sub = (x: unknown) => near(x, root, depth + 1);
  const options: fc.Arbitrary<unknown>[] = [value];
  if (Array.isArray(schema.enum)) options.push(fc.constantFrom(...schema.enum));
  if ("const" in schema) options.push(fc.constant(schema.const));
  for (const k of ["allOf", "anyOf", "oneOf"]) if (Array.isArray(schema[k])) options.push(...(schema[k] as unknown[]).map(sub));
  for (const k of ["not", "if", "then", "else"]) if (k in schema) options.push(sub(schema[k]));
  const has = (...ks: string[]) => ks.some((k) => k in schema);
  if (has("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")) options.push(fc.constantFrom(...NUMBERS));
  if (has("minLength", "maxLength", "pattern", "format", "propertyNames")) options.push(fc.constantFrom(...STRINGS, ...KEYS));
  if (has("items", "contains", "minItems", "maxItems", "uniqueItems")) {
    const shapes: fc.Arbitrary<unknown>[] = [value, fc.constantFrom(...SMALL)];
    if (isObject(schema.items) || typeof schema.items === "boolean") shapes.push(sub(schema.items));
    if ("contains" in schema) shapes.push(sub(schema.contains));
    const tuple = Array.isArray(schema.items) ? (schema.items as unknown[]).map(sub) : [];
    const rest = "additionalItems" in schema ? sub(schema.additionalItems) : fc.oneof(...shapes);
    options.push(
      fc.tuple(fc.tuple(...tuple), fc.array(rest, { maxLength: 3 }), fc.nat(tuple.length)).map(([head, tail, cut]) => (tail.length ? [...head, ...tail] : head.slice(0, cut))),
      fc.array(fc.oneof(...shapes), { maxLength: 5 }),
    );
    if (schema.uniqueItems === true) options.push(longArray);
  }
  if (has("properties", "required", "additionalProperties", "patternProperties", "propertyNames", "dependencies", "minProperties", "maxProperties")) {
    const properties = isObject(schema.properties) ? schema.properties : {};
    const patterns = Object.entries(isObject(schema.patternProperties) ? schema.patternProperties : {});
    const shaped = (k: string) => {
      const s = k in properties ? properties[k] : (patterns.find(([p]) => new RegExp(p, "u").test(k))?.[1] ?? schema.additionalProperties);
      return s === undefined ? value : fc.oneof(sub(s), value);
    };
    options.push(
      fc.uniqueArray(fc.constantFrom(...KEYS), { maxLength: 4 }).chain((keys) => fc.tuple(...keys.map(shaped)).map((vs) => Object.fromEntries(keys.map((k, i) => [k, vs[i]])))),
    );
  }
  return fc.oneof(...options);
}

/** A schema and many values for it: compiling (ajv's above all) costs far more than validating. */
const cases = rootSchema.chain((schema) =>
  fc.tuple(
    fc.constant(schema),
    fc.array(fc.oneof({ weight: 6, arbitrary: near(schema, schema) }, { weight: 3, arbitrary: value }, { weight: 1, arbitrary: longArray }), { minLength: 15, maxLength: 25 }).map((vs) => vs.map(json)),
  ),
);

const ajv = new Ajv({
  strict: false,
  ownProperties: true,
  formats: Object.fromEntries(Object.entries(FORMATS).map(([name, validate]) => [name, { type: "string" as const, validate }])),
});

/**
 * The same schema, rewritten around two ajv 8.20 bugs (its generated code reads a `valid` variable that nothing set
 * when an array is empty; JavaScript's `var` keeps the value of the previous loop iteration, or undefined):
 *  - a tuple `items` on an empty array skips the keywords after it (outside allErrors mode, which would not help:
 *    ajv leaves it inside not/anyOf/oneOf/if): {"items": [{"type": "string"}], "contains": {"type": "number"}}
 *    accepts []. Here the tuple goes in an `allOf`
 *    of its own, so nothing comes after it.
 *  - `contains` on an empty array, evaluated in a loop, answers what it answered for the previous item:
 *    {"items": {"contains": {"type": "number"}}} accepts [[1], []]. Here `contains: X` becomes its definition, "an array does not
 *    have only items that fail X": {"anyOf": [{"not": {"type": "array"}}, {"not": {"items": {"not": X}}}]}.
 */
function forAjv(schema: unknown): unknown {
  if (!isObject(schema)) return schema;
  const each = (list: unknown) => (list as unknown[]).map(forAjv);
  const byName = (map: unknown) => Object.fromEntries(Object.entries(map as object).map(([k, v]) => [k, Array.isArray(v) ? v : forAjv(v)]));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === "items") out[k] = Array.isArray(v) ? each(v) : forAjv(v);
    else if (["additionalItems", "contains", "additionalProperties", "propertyNames", "not", "if", "then", "else"].includes(k)) out[k] = forAjv(v);
    else if (["properties", "patternProperties", "dependencies", "definitions"].includes(k)) out[k] = byName(v);
    else if (["allOf", "anyOf", "oneOf"].includes(k)) out[k] = each(v);
    else out[k] = v; // values (enum, const) and numbers
  }
  const moved: unknown[] = [];
  if (Array.isArray(out.items)) {
    moved.push("additionalItems" in out ? { items: out.items, additionalItems: out.additionalItems } : { items: out.items });
    delete out.items;
    delete out.additionalItems;
  }
  if ("contains" in out) {
    moved.push({ anyOf: [{ not: { type: "array" } }, { not: { items: { not: out.contains } } }] });
    delete out.contains;
  }
  if (moved.length > 0) out.allOf = [...moved, ...((out.allOf as unknown[] | undefined) ?? [])];
  return out;
}

/** Both compiled, or undefined when the engine refuses a `$ref` loop (a documented divergence). */
function compileBoth(schema: Schema): { ours: CompiledSchema; theirs: ValidateFunction } | undefined {
  let ours: CompiledSchema;
  try {
    ours = compileJsonSchema(schema);
  } catch (err) {
    if (err instanceof JsonSchemaError && err.detail.includes("infinite recursion")) return undefined;
    throw err;
  }
  return { ours, theirs: ajv.compile(forAjv(schema) as Schema) };
}

function verdicts(schema: Schema, vs: unknown[]): { ours: boolean; collected: boolean; theirs: boolean }[] | undefined {
  const both = compileBoth(schema);
  if (!both) return undefined;
  return vs.map((v) => ({ ours: both.ours.test(v), collected: both.ours.validate(v).length === 0, theirs: both.theirs(v) as boolean }));
}

const SEED = 20260711;

describe("compileJsonSchema agrees with ajv (draft-07)", () => {
  it("on generated schemas and values", () => {
    fc.assert(
      fc.property(cases, ([schema, vs]) => {
        const got = verdicts(schema, vs);
        fc.pre(got !== undefined);
        for (let i = 0; i < vs.length; i++) {
          const { ours, collected, theirs } = got[i]!;
          if (ours !== theirs || collected !== ours)
            throw new Error(`value ${JSON.stringify(vs[i])}: test() ${ours}, validate() ${collected ? "empty" : "non-empty"}, ajv ${theirs}`);
        }
      }),
      { seed: SEED, numRuns: 1000 },
    );
  }, 60_000);

  it("on the examples that ajv 8.20 gets wrong unless rewritten (see forAjv)", () => {
    const examples: [Schema, unknown, valid: boolean][] = [
      [{ items: [{ type: "string" }], contains: { type: "number" } }, [], false],
      [{ not: { items: [{ type: "string" }], contains: { type: "number" } } }, [], true],
      [{ items: { contains: { type: "number" } } }, [[1], []], false],
    ];
    for (const [schema, v, valid] of examples) {
      const { ours, collected, theirs } = verdicts(schema, [v])![0]!;
      expect({ ours, collected, theirs }, JSON.stringify(schema)).toEqual({ ours: valid, collected: valid, theirs: valid });
    }
  });

  it("sees both valid and invalid values, so agreement means something", () => {
    let valid = 0;
    let invalid = 0;
    for (const [schema, vs] of fc.sample(cases, { seed: SEED, numRuns: 200 })) {
      for (const v of verdicts(schema, vs) ?? []) v.theirs ? valid++ : invalid++;
    }
    const share = valid / (valid + invalid);
    expect(share).toBeGreaterThan(0.15);
    expect(share).toBeLessThan(0.85);
  }, 60_000);
});

/**
 * The draft-07 compiler of src/plans/json-schema.ts, keyword by keyword: valid instances pass `test` and yield no
 * violation; invalid ones fail `test` and yield exactly the expected typed violations (type, field, description);
 * schemas it cannot honour fail at build, naming the keyword and where it is.
 */
import { describe, expect, it } from "vitest";
import { MAX_PATTERN_INPUT } from "../../src/pipeline/pattern-input.ts";
import { compileJsonSchema, FORMATS, JsonSchemaError, type PathSegment, type ViolationType } from "../../src/plans/index.ts";

interface Case {
  schema: unknown;
  valid: unknown[];
  invalid: [instance: unknown, violations: [type: ViolationType, field: string, description: string][]][];
}

/** One table per keyword (or keyword family); every row is checked with both test() and validate(). */
const KEYWORDS: Record<string, Case> = {
  "type: one name": {
    schema: { type: "string" },
    valid: ["", "a"],
    invalid: [
      [1, [["Invalid Type", "", "(root): expected string, got number"]]],
      [null, [["Invalid Type", "", "(root): expected string, got null"]]],
    ],
  },
  "type: integer accepts whole numbers only": {
    schema: { type: "integer" },
    valid: [0, -3, 1.0, 2 ** 53],
    invalid: [
      [1.5, [["Invalid Type", "", "(root): expected integer, got number"]]],
      ["1", [["Invalid Type", "", "(root): expected integer, got string"]]],
    ],
  },
  "type: number accepts integers": { schema: { type: "number" }, valid: [1, 1.5, -0], invalid: [[true, [["Invalid Type", "", "(root): expected number, got boolean"]]]] },
  "type: object and array are told apart": {
    schema: { type: "object" },
    valid: [{}],
    invalid: [
      [[], [["Invalid Type", "", "(root): expected object, got array"]]],
      [null, [["Invalid Type", "", "(root): expected object, got null"]]],
    ],
  },
  "type: a list of names": {
    schema: { type: ["string", "null", "integer"] },
    valid: ["x", null, 3],
    invalid: [
      [3.5, [["Invalid Type", "", "(root): expected string, null or integer, got number"]]],
      [[], [["Invalid Type", "", "(root): expected string, null or integer, got array"]]],
    ],
  },
  "properties: checks present properties only, with their path": {
    schema: { properties: { revenue: { type: "number" }, nested: { properties: { sku: { type: "string" } } } } },
    valid: [{}, { revenue: 1 }, { nested: {} }, { other: "x" }, "not an object"],
    invalid: [
      [{ revenue: "1" }, [["Invalid Type", "revenue", "revenue: expected number, got string"]]],
      [{ nested: { sku: 5 } }, [["Invalid Type", "nested.sku", "nested.sku: expected string, got number"]]],
    ],
  },
  "properties: names of Object.prototype members are real properties": {
    schema: JSON.parse('{"properties": {"constructor": {"type": "string"}, "__proto__": {"type": "string"}}, "required": ["toString"]}'),
    valid: [JSON.parse('{"toString": 1}'), JSON.parse('{"toString": 1, "constructor": "c", "__proto__": "p"}')],
    invalid: [
      [{}, [["Required", "toString", "toString is required"]]],
      [JSON.parse('{"toString": 1, "__proto__": 5}'), [["Invalid Type", "__proto__", "__proto__: expected string, got number"]]],
    ],
  },
  required: {
    schema: { required: ["order_id", "revenue"] },
    valid: [{ order_id: "o", revenue: 0 }, { order_id: null, revenue: false }, ["not an object"]],
    invalid: [
      [{ revenue: 1 }, [["Required", "order_id", "order_id is required"]]],
      [
        {},
        [
          ["Required", "order_id", "order_id is required"],
          ["Required", "revenue", "revenue is required"],
        ],
      ],
    ],
  },
  "additionalProperties: false reports each extra name as unplanned": {
    schema: { properties: { a: {} }, additionalProperties: false },
    valid: [{}, { a: 1 }],
    invalid: [
      [
        { a: 1, b: 2, c: 3 },
        [
          ["Unplanned Property", "b", "b is not allowed (additionalProperties: false)"],
          ["Unplanned Property", "c", "c is not allowed (additionalProperties: false)"],
        ],
      ],
    ],
  },
  "additionalProperties: a schema for the other names": {
    schema: { properties: { a: {} }, additionalProperties: { type: "number" } },
    valid: [{ a: "x", b: 1 }],
    invalid: [[{ a: "x", b: "y" }, [["Invalid Type", "b", "b: expected number, got string"]]]],
  },
  "patternProperties: every matching name, declared or not; matches are not additional": {
    schema: { properties: { x_a: { type: "string" } }, patternProperties: { "^x_": { minLength: 2 } }, additionalProperties: false },
    valid: [{ x_a: "ab", x_b: "cd" }],
    invalid: [
      [{ x_a: "a" }, [["Length", "x_a", "x_a: must be at least 2 characters"]]],
      [{ y: 1 }, [["Unplanned Property", "y", "y is not allowed (additionalProperties: false)"]]],
    ],
  },
  "patternProperties: Unicode patterns (u flag)": {
    schema: { patternProperties: { "^\\p{L}+$": { type: "string" } } },
    valid: [{ café: "x", "1": 2 }],
    invalid: [[{ naïve: 1 }, [["Invalid Type", "naïve", "naïve: expected string, got number"]]]],
  },
  propertyNames: {
    schema: { propertyNames: { pattern: "^[a-z_]+$" } },
    valid: [{ snake_case: 1 }, {}],
    invalid: [[{ ok: 1, "Not OK": 2 }, [["Schema", "Not OK", 'Not OK: the property name is not allowed by "propertyNames"']]]],
  },
  enum: {
    schema: { enum: ["USD", "EUR", 1, null, { a: [1] }] },
    valid: ["USD", 1, 1.0, null, { a: [1] }],
    invalid: [
      ["usd", [["Enum", "", '(root): must be one of "USD", "EUR", 1, null, {"a":[1]}']]],
      [{ a: [2] }, [["Enum", "", '(root): must be one of "USD", "EUR", 1, null, {"a":[1]}']]],
      ["1", [["Enum", "", '(root): must be one of "USD", "EUR", 1, null, {"a":[1]}']]],
    ],
  },
  "enum: long lists are shortened in the description": {
    schema: { enum: Array.from({ length: 12 }, (_, i) => i) },
    valid: [11],
    invalid: [[12, [["Enum", "", "(root): must be one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, … (12 values)"]]]],
  },
  const: {
    schema: { const: { b: 2, a: [1, "x"] } },
    valid: [{ a: [1, "x"], b: 2 }],
    invalid: [[{ a: [1, "x"] }, [["Enum", "", '(root): must be {"b":2,"a":[1,"x"]}']]]],
  },
  pattern: {
    schema: { pattern: "^SKU-\\d+$" },
    valid: ["SKU-1", 42],
    invalid: [["sku-1", [["Pattern", "", "(root): does not match the pattern ^SKU-\\d+$"]]]],
  },
  "pattern: not anchored unless written so": { schema: { pattern: "ab" }, valid: ["xxabxx"], invalid: [["a b", [["Pattern", "", "(root): does not match the pattern ab"]]]] },
  "minLength/maxLength count code points": {
    schema: { minLength: 2, maxLength: 3 },
    valid: ["ab", "abc", "😀😀", "😀😀😀", 1],
    invalid: [
      ["😀", [["Length", "", "(root): must be at least 2 characters"]]],
      ["😀😀😀😀", [["Length", "", "(root): must be at most 3 characters"]]],
      ["abcd", [["Length", "", "(root): must be at most 3 characters"]]],
    ],
  },
  "minimum/maximum": {
    schema: { minimum: 0, maximum: 100 },
    valid: [0, 100, 50.5, "x"],
    invalid: [
      [-1, [["Range", "", "(root): must be ≥ 0"]]],
      [100.01, [["Range", "", "(root): must be ≤ 100"]]],
    ],
  },
  "exclusiveMinimum/exclusiveMaximum": {
    schema: { exclusiveMinimum: 0, exclusiveMaximum: 1 },
    valid: [0.5],
    invalid: [
      [0, [["Range", "", "(root): must be > 0"]]],
      [1, [["Range", "", "(root): must be < 1"]]],
    ],
  },
  "multipleOf tolerates binary fractions": {
    schema: { multipleOf: 0.01 },
    valid: [19.99, 0.3, 100, 0],
    invalid: [[0.015, [["Range", "", "(root): must be a multiple of 0.01"]]]],
  },
  "items: one schema for every item": {
    schema: { items: { type: "string" } },
    valid: [[], ["a", "b"], "not a list"],
    invalid: [
      [
        ["a", 1, 2],
        [
          ["Invalid Type", "1", "1: expected string, got number"],
          ["Invalid Type", "2", "2: expected string, got number"],
        ],
      ],
    ],
  },
  "items: a tuple, additionalItems false": {
    schema: { items: [{ type: "string" }, { type: "number" }], additionalItems: false },
    valid: [[], ["a"], ["a", 1]],
    invalid: [
      [[1, 1], [["Invalid Type", "0", "0: expected string, got number"]]],
      [["a", 1, true], [["Length", "", "(root): must have at most 2 items"]]],
    ],
  },
  "items: a tuple, additionalItems a schema": {
    schema: { items: [{ type: "string" }], additionalItems: { type: "boolean" } },
    valid: [["a", true, false]],
    invalid: [[["a", true, 0], [["Invalid Type", "2", "2: expected boolean, got number"]]]],
  },
  "minItems/maxItems": {
    schema: { minItems: 1, maxItems: 2 },
    valid: [[1], [1, 2]],
    invalid: [
      [[], [["Length", "", "(root): must have at least 1 item"]]],
      [[1, 2, 3], [["Length", "", "(root): must have at most 2 items"]]],
    ],
  },
  uniqueItems: {
    schema: { uniqueItems: true },
    valid: [[1, "1", [1], { a: 1 }, { a: 2 }], Array.from({ length: 100 }, (_, i) => i)],
    invalid: [
      [[{ a: 1, b: 2 }, 3, { b: 2, a: 1 }], [["Schema", "", "(root): items must be unique (items 0 and 2 are equal)"]]],
      [[...Array.from({ length: 50 }, (_, i) => i), 7], [["Schema", "", "(root): items must be unique (items 7 and 50 are equal)"]]],
      [[...Array.from({ length: 50 }, (_, i) => ({ i })), { i: 3 }], [["Schema", "", "(root): items must be unique (items 3 and 50 are equal)"]]],
    ],
  },
  contains: {
    schema: { contains: { const: "vip" } },
    valid: [["a", "vip"]],
    invalid: [[["a"], [["Schema", "", '(root): must contain an item that matches "contains"']]]],
  },
  "minProperties/maxProperties": {
    schema: { minProperties: 1, maxProperties: 2 },
    valid: [{ a: 1 }, { a: 1, b: 2 }],
    invalid: [
      [{}, [["Length", "", "(root): must have at least 1 property"]]],
      [{ a: 1, b: 2, c: 3 }, [["Length", "", "(root): must have at most 2 properties"]]],
    ],
  },
  "dependencies: a list of names": {
    schema: { dependencies: { coupon: ["discount"] } },
    valid: [{}, { discount: 1 }, { coupon: "x", discount: 1 }],
    invalid: [[{ coupon: "x" }, [["Required", "discount", "discount is required when coupon is present"]]]],
  },
  "dependencies: a schema": {
    schema: { dependencies: { coupon: { required: ["discount"], properties: { discount: { minimum: 1 } } } } },
    valid: [{ coupon: "x", discount: 1 }],
    invalid: [[{ coupon: "x", discount: 0 }, [["Range", "discount", "discount: must be ≥ 1"]]]],
  },
  allOf: {
    schema: { allOf: [{ type: "number" }, { minimum: 2 }] },
    valid: [3],
    invalid: [
      ["x", [["Invalid Type", "", "(root): expected number, got string"]]],
      [1, [["Range", "", "(root): must be ≥ 2"]]],
    ],
  },
  anyOf: {
    schema: { anyOf: [{ type: "string" }, { minimum: 10 }] },
    valid: ["x", 10],
    invalid: [[5, [["Schema", "", '(root): does not match any of the schemas in "anyOf"']]]],
  },
  oneOf: {
    schema: { oneOf: [{ type: "integer" }, { minimum: 2 }] },
    valid: [1, 2.5],
    invalid: [
      [3, [["Schema", "", '(root): matches more than one of the schemas in "oneOf"']]],
      [1.5, [["Schema", "", '(root): does not match any of the schemas in "oneOf"']]],
    ],
  },
  not: {
    schema: { not: { type: "null" } },
    valid: [0, ""],
    invalid: [[null, [["Schema", "", '(root): must not match the schema in "not"']]]],
  },
  "if/then/else": {
    schema: { if: { properties: { type: { const: "vip" } } }, then: { required: ["tier"] }, else: { properties: { tier: false } } },
    valid: [{ type: "vip", tier: 1 }, { type: "basic" }],
    invalid: [
      [{ type: "vip" }, [["Required", "tier", "tier is required"]]],
      [{ type: "basic", tier: 1 }, [["Schema", "tier", "tier is not allowed"]]],
    ],
  },
  "boolean schemas": {
    schema: { properties: { anything: true, nothing: false } },
    valid: [{ anything: [1] }, {}],
    invalid: [[{ nothing: 1 }, [["Schema", "nothing", "nothing is not allowed"]]]],
  },
  "$ref to definitions": {
    schema: { definitions: { money: { type: "number", minimum: 0 } }, properties: { revenue: { $ref: "#/definitions/money" }, tax: { $ref: "#/definitions/money" } } },
    valid: [{ revenue: 1, tax: 0 }],
    invalid: [[{ revenue: -1, tax: "0" }, [["Range", "revenue", "revenue: must be ≥ 0"], ["Invalid Type", "tax", "tax: expected number, got string"]]]],
  },
  "$ref: escaped pointers": {
    schema: { definitions: { "a/b": { type: "string" }, "c~d": { type: "number" }, "e f": { type: "boolean" } }, items: [{ $ref: "#/definitions/a~1b" }, { $ref: "#/definitions/c~0d" }, { $ref: "#/definitions/e%20f" }] },
    valid: [["x", 1, true]],
    invalid: [[["x", 1, 1], [["Invalid Type", "2", "2: expected boolean, got number"]]]],
  },
  "$ref: # makes recursive schemas (a tree)": {
    schema: { type: "object", properties: { name: { type: "string" }, children: { type: "array", items: { $ref: "#" } } } },
    valid: [{ name: "a", children: [{ name: "b", children: [{ name: "c" }] }] }],
    invalid: [[{ children: [{ children: [{ name: 1 }] }] }, [["Invalid Type", "children.0.children.0.name", "children.0.children.0.name: expected string, got number"]]]],
  },
  "annotations and Segment's bookkeeping keys are ignored": {
    schema: {
      $schema: "http://json-schema.org/draft-07/schema#",
      $id: "https://example.com/x",
      $comment: "c",
      title: "t",
      description: "d",
      default: 1,
      examples: [1],
      readOnly: true,
      writeOnly: false,
      labels: {},
      id: "/properties/properties",
      key: "x",
      type: "number",
    },
    valid: [1],
    invalid: [["1", [["Invalid Type", "", "(root): expected number, got string"]]]],
  },
};

describe("compileJsonSchema: keywords", () => {
  for (const [name, { schema, valid, invalid }] of Object.entries(KEYWORDS)) {
    describe(name, () => {
      const compiled = compileJsonSchema(schema);
      it.each(valid.map((v) => [JSON.stringify(v)?.slice(0, 60) ?? String(v), v]))("accepts %s", (_label, value) => {
        expect(compiled.test(value)).toBe(true);
        expect(compiled.validate(value)).toEqual([]);
      });
      it.each(invalid.map(([v, expected]) => [JSON.stringify(v).slice(0, 60), v, expected] as const))("rejects %s", (_label, value, expected) => {
        expect(compiled.test(value)).toBe(false);
        expect(compiled.validate(value).map(({ type, field, description }) => [type, field, description])).toEqual(expected);
      });
    });
  }
});

describe("compileJsonSchema: formats", () => {
  const FORMAT_CASES: Record<string, { valid: string[]; invalid: string[] }> = {
    "date-time": {
      valid: ["2024-02-29T23:59:60Z", "2026-11-21T04:47:19.068Z", "2026-11-21t04:47:19+05:30", "2026-11-21 04:47:19-00:00"],
      invalid: ["2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-21T24:00:00Z", "2026-11-21T04:47:19", "2026-11-21T04:47:19+24:00", "2026-11-21"],
    },
    date: { valid: ["2024-02-29", "2026-12-31"], invalid: ["2025-02-29", "2026-04-31", "2026-1-01", "20261101"] },
    time: { valid: ["04:47:19", "04:47:19.5Z", "23:59:59+01:00"], invalid: ["24:00:00", "04:60:00", "4:47:19", "04:47:19+1:00"] },
    email: { valid: ["user636@example.com", "a.b+tag@sub.example.co"], invalid: ["user@localhost", "@example.com", "a b@example.com", "user@-example.com"] },
    uri: { valid: ["https://shop.example.com/products?q=1#x", "mailto:a@b.co", "urn:isbn:0451450523", "http://x/%20"], invalid: ["/relative/path", "https://exa mple.com", "http://x/%zz", "https://例え.jp"] },
    uuid: { valid: ["123e4567-e89b-12d3-a456-426614174000", "urn:uuid:123E4567-E89B-12D3-A456-426614174000"], invalid: ["123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400g"] },
    ipv4: { valid: ["127.0.0.1", "255.255.255.255", "0.0.0.0"], invalid: ["256.0.0.1", "1.2.3", "01.2.3.4", "1.2.3.4.5"] },
    ipv6: {
      valid: ["::", "::1", "2001:db8::8a2e:370:7334", "2001:0db8:0000:0000:0000:ff00:0042:8329", "fe80::", "::ffff:192.0.2.128", "1:2:3:4:5:6:1.2.3.4", "1::1.2.3.4"],
      invalid: ["2001:db8::8a2e::7334", "1:2:3:4:5:6:7:8:9", "12345::", "::ffff:256.0.0.1", "1:2:3:4:5:6:7::8"],
    },
    hostname: { valid: ["example.com", "a-b.example.co", "localhost", "example.com."], invalid: ["-example.com", "exa_mple.com", "a".repeat(64) + ".com", ""] },
  };
  it("knows exactly the documented formats", () => {
    expect(Object.keys(FORMATS).sort()).toEqual(Object.keys(FORMAT_CASES).sort());
  });
  for (const [format, { valid, invalid }] of Object.entries(FORMAT_CASES)) {
    const compiled = compileJsonSchema({ format });
    it.each(valid)(`${format} accepts %s`, (value) => expect(compiled.test(value)).toBe(true));
    it.each(invalid)(`${format} rejects %s`, (value) => {
      expect(compiled.test(value)).toBe(false);
      expect(compiled.validate(value)).toEqual([{ type: "Format", field: "", description: `(root): must be a valid ${format}`, path: [] }]);
    });
  }
  it("lets non-strings pass a format, as JSON Schema says", () => {
    expect(compileJsonSchema({ format: "email" }).test(42)).toBe(true);
  });
});

describe("compileJsonSchema: violations", () => {
  it("reports every violation of an object at once, each with its exact path", () => {
    const schema = compileJsonSchema({
      type: "object",
      properties: {
        properties: {
          type: "object",
          properties: {
            revenue: { type: "number" },
            products: { type: "array", items: { type: "object", properties: { price: { type: "number", minimum: 0 } }, required: ["sku"] } },
          },
          required: ["order_id"],
        },
      },
    });
    const found = schema.validate({ properties: { revenue: "5", products: [{ sku: "a", price: 1 }, { price: -1 }] } });
    expect(found).toEqual([
      { type: "Invalid Type", field: "properties.revenue", description: "properties.revenue: expected number, got string", path: ["properties", "revenue"] },
      { type: "Range", field: "properties.products.1.price", description: "properties.products.1.price: must be ≥ 0", path: ["properties", "products", 1, "price"] },
      { type: "Required", field: "properties.products.1.sku", description: "properties.products.1.sku is required", path: ["properties", "products", 1, "sku"] },
      { type: "Required", field: "properties.order_id", description: "properties.order_id is required", path: ["properties", "order_id"] },
    ]);
  });

  it("never quotes the instance's values in descriptions (they may be personal data)", () => {
    const schema = compileJsonSchema({ properties: { email: { type: "string", format: "email", pattern: "@corp\\.com$", maxLength: 5 } } });
    const descriptions = schema.validate({ email: "jane.doe@gmail" }).map((v) => v.description);
    expect(descriptions).toHaveLength(3);
    for (const d of descriptions) expect(d).not.toContain("jane");
  });

  it("treats a property whose value is undefined as absent (JSON has no undefined)", () => {
    const schema = compileJsonSchema({ properties: { a: { type: "string" } }, required: ["b"] });
    expect(schema.validate({ a: undefined, b: undefined })).toEqual([{ type: "Required", field: "b", description: "b is required", path: ["b"] }]);
  });

  it("stops a recursive schema at 200 levels instead of exhausting the stack", () => {
    const tree = compileJsonSchema({ properties: { child: { $ref: "#" } } });
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 5000; i++) deep = { child: deep };
    expect(tree.test(deep)).toBe(false);
    const [violation] = tree.validate(deep);
    expect(violation).toMatchObject({ type: "Schema", description: expect.stringMatching(/nested deeper than 200 levels$/) });
    expect(violation!.path).toHaveLength(201);
  });

  it("is reusable: test() and validate() interleave without leaking state", () => {
    const schema = compileJsonSchema({ properties: { a: { anyOf: [{ type: "string" }, { type: "number" }] }, b: { not: { type: "string" } } } });
    expect(schema.validate({ a: true, b: "x" })).toHaveLength(2);
    expect(schema.test({ a: 1, b: 1 })).toBe(true);
    expect(schema.validate({ a: 1, b: "x" })).toEqual([{ type: "Schema", field: "b", description: 'b: must not match the schema in "not"', path: ["b"] }]);
  });
});

describe("compileJsonSchema: build errors name the keyword and where it is", () => {
  const ERRORS: [what: string, schema: unknown, at: PathSegment[], message: RegExp][] = [
    ["an unknown keyword", { properties: { a: { typ: "string" } } }, ["properties", "a", "typ"], /unsupported keyword "typ"/],
    ["a later-draft keyword", { $defs: {} }, ["$defs"], /"\$defs": it belongs to a later draft/],
    ["OpenAPI's nullable", { type: "string", nullable: true }, ["nullable"], /unsupported keyword "nullable"/],
    ["an unknown type", { type: "float" }, ["type"], /"type" must be one of null, boolean, object, array, number, integer, string/],
    ["a type listed twice", { type: ["string", "string"] }, ["type"], /lists a type twice/],
    ["an unknown format", { format: "phone" }, ["format"], /unknown format "phone" \(supported: date-time, date, time, email, uri, uuid, ipv4, ipv6, hostname\)/],
    ["an invalid pattern", { pattern: "([a-z]" }, ["pattern"], /"pattern": invalid regular expression/],
    ["a pattern only valid without the u flag", { pattern: "\\_" }, ["pattern"], /invalid regular expression/],
    ["an invalid patternProperties key", { patternProperties: { "[": {} } }, ["patternProperties", "["], /invalid regular expression/],
    ["a negative minLength", { minLength: -1 }, ["minLength"], /non-negative integer/],
    ["draft-04's boolean exclusiveMinimum", { minimum: 0, exclusiveMinimum: true }, ["exclusiveMinimum"], /must be a number \(draft-04's boolean form/],
    ["multipleOf 0", { multipleOf: 0 }, ["multipleOf"], /greater than 0/],
    ["required that is not a list of names", { required: "a" }, ["required"], /list of distinct property names/],
    ["required listing a name twice", { required: ["a", "a"] }, ["required"], /distinct/],
    ["an empty enum", { enum: [] }, ["enum"], /non-empty list/],
    ["a schema that is neither object nor boolean", { properties: { a: "string" } }, ["properties", "a"], /must be an object or a boolean, got string/],
    ["then without if", { then: { type: "string" } }, ["then"], /"then" without "if"/],
    ["additionalItems without a tuple", { items: {}, additionalItems: false }, ["additionalItems"], /only applies when "items" is a list/],
    ["a validation keyword beside $ref", { definitions: { a: {} }, properties: { x: { $ref: "#/definitions/a", type: "string" } } }, ["properties", "x", "type"], /beside "\$ref"/],
    ["a remote $ref", { $ref: "https://example.com/schema.json" }, ["$ref"], /only references inside the same schema/],
    ["a $ref to nothing", { $ref: "#/definitions/missing" }, ["$ref"], /points to nothing/],
    ["a $ref loop without data in between", { definitions: { a: { $ref: "#/definitions/b" }, b: { allOf: [{ $ref: "#/definitions/a" }] } }, $ref: "#/definitions/a" }, ["definitions", "b", "allOf", 0, "$ref"], /infinite recursion/],
    ["a root $ref to itself", { $ref: "#" }, ["$ref"], /infinite recursion/],
    [
      "a $ref loop without data in between, whose targets were first reached deeper in the data",
      { definitions: { a: { items: { $ref: "#/definitions/b" }, allOf: [{ $ref: "#/definitions/b" }] }, b: { allOf: [{ $ref: "#/definitions/a" }] } }, $ref: "#/definitions/a" },
      ["definitions", "a", "allOf", 0, "$ref"],
      /infinite recursion/,
    ],
    ["a mistake in an unused definition", { definitions: { unused: { minimum: "0" } } }, ["definitions", "unused", "minimum"], /"minimum" must be a number/],
    ["an empty anyOf", { anyOf: [] }, ["anyOf"], /non-empty list of schemas/],
  ];
  it.each(ERRORS)("rejects %s", (_what, schema, at, message) => {
    let error: unknown;
    try {
      compileJsonSchema(schema);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(JsonSchemaError);
    expect((error as JsonSchemaError).schemaPath).toEqual(at);
    expect((error as JsonSchemaError).detail).toMatch(message);
  });
});

describe("compileJsonSchema: a regex runs only on strings of at most MAX_PATTERN_INPUT characters", () => {
  const TOO_LONG = `is longer than ${MAX_PATTERN_INPUT} characters, the most a pattern is tested on`;

  it("makes a longer value a Pattern violation instead of testing it", () => {
    const schema = compileJsonSchema({ properties: { a: { pattern: "^a*$" } } });
    expect(schema.test({ a: "a".repeat(MAX_PATTERN_INPUT) })).toBe(true);
    // Counted in code points, as maxLength is: 2048 emoji are 4096 UTF-16 units.
    expect(compileJsonSchema({ pattern: "^.*$" }).test("\u{1F600}".repeat(MAX_PATTERN_INPUT))).toBe(true);
    expect(schema.test({ a: "a".repeat(MAX_PATTERN_INPUT + 1) })).toBe(false);
    expect(schema.validate({ a: "a".repeat(MAX_PATTERN_INPUT + 1) })).toEqual([{ type: "Pattern", field: "a", description: `a: ${TOO_LONG}`, path: ["a"] }]);
  });

  it("answers at once for a catastrophic regex the build would have refused", () => {
    // The worker compiles without the build's check; were such a regex deployed, the bound keeps a long value off it.
    const schema = compileJsonSchema({ pattern: "^(\\w+\\s?)*$" });
    expect(schema.validate(`${"a".repeat(MAX_PATTERN_INPUT)}!`)).toEqual([{ type: "Pattern", field: "", description: `(root): ${TOO_LONG}`, path: [] }]);
  });

  it("makes a longer property name a Pattern violation where patternProperties apply", () => {
    const schema = compileJsonSchema({ patternProperties: { "^x_": { type: "number" } } });
    const short = `x_${"a".repeat(MAX_PATTERN_INPUT - 2)}`;
    expect(schema.validate({ [short]: "1" })).toEqual([
      { type: "Invalid Type", field: short, description: `${short}: expected number, got string`, path: [short] },
    ]);
    const long = `${short}a`;
    expect(schema.validate({ [long]: "1" })).toEqual([{ type: "Pattern", field: long, description: `${long}: the property name ${TOO_LONG}`, path: [long] }]);
    expect(compileJsonSchema({ properties: { [long]: {} } }).test({ [long]: 1 })).toBe(true);
  });
});

describe("compileJsonSchema: options.patternProblem", () => {
  const refuseX = (source: string) => (source.includes("x") ? `regular expression ${JSON.stringify(source)} is refused` : undefined);

  it.each([
    [{ properties: { a: { pattern: "^x$" } } }, ["properties", "a", "pattern"], '"pattern": regular expression "^x$" is refused'],
    [{ patternProperties: { "^a": {}, "^x": {} } }, ["patternProperties", "^x"], '"patternProperties": regular expression "^x" is refused'],
  ])("fails the build where it refuses a regex: %j", (schema, at, detail) => {
    expect(() => compileJsonSchema(schema, { patternProblem: refuseX })).toThrow(expect.objectContaining({ schemaPath: at, detail }));
  });

  it("is asked only about regexes that parse, and not at all without the option", () => {
    const asked: string[] = [];
    const patternProblem = (source: string) => void asked.push(source);
    expect(() => compileJsonSchema({ pattern: "([" }, { patternProblem })).toThrow(/invalid regular expression/);
    compileJsonSchema({ pattern: "^a$", patternProperties: { "^b": {} } }, { patternProblem });
    expect(asked).toEqual(["^a$", "^b"]);
    expect(compileJsonSchema({ pattern: "^x$" }).test("x")).toBe(true);
  });
});

/**
 * Tracking plans in a config folder (src/config/plan-file.ts via loadConfigDir): Segment's exports load unchanged,
 * the short-hand lands as Segment rules, sources name their plan with enforcement defaults applied, and every
 * mistake is reported as `file:line: rule: message` with the rule named as operators know it.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatConfigError, loadConfigDir, type LoadResult } from "../../src/config/load.ts";
import { compilePlan, enforcePlan, type PlanRule } from "../../src/plans/index.ts";
import { configFolders, lineOf, loadDemoConfig, where } from "./support/config-folders.ts";

const { folder } = configFolders("plan-config-test");

const mainFile = (source = "    tracking_plan: web\n") => `sources:
  - id: web
    name: Website
    write_keys: [wk_test_web_1]
${source}`;

/** Writes sluice.yaml (a source using plan "web" unless given) plus `files` into a fresh folder and loads it. */
function load(files: Record<string, string>, main = mainFile()): LoadResult {
  const dir = folder({ "sluice.yaml": main, ...files });
  return loadConfigDir(dir, dir);
}
const PLAN = join("plans", "web.yaml");

/** Rules as Segment's Public API returns them (GET /tracking-plans/{id}/rules), bookkeeping included. */
const SEGMENT_RULES = [
  {
    type: "TRACK",
    key: "Add to Cart",
    version: 1,
    jsonSchema: {
      $schema: "http://json-schema.org/draft-07/schema#",
      type: "object",
      labels: {},
      description: "addToCart",
      properties: {
        context: {},
        traits: {},
        properties: {
          type: "object",
          properties: {
            user_id: { description: "", type: "string" },
            item_id: { description: "", type: "string", id: "/properties/properties/properties/item_id", key: "item_id" },
          },
          required: ["user_id", "item_id"],
        },
      },
      required: ["properties"],
    },
    createdAt: "2023-09-08T19:02:55.000Z",
    updatedAt: "2023-09-08T19:02:55.000Z",
    deprecatedAt: "0001-01-01T00:00:00.000Z",
  },
  {
    type: "IDENTIFY",
    version: 2,
    jsonSchema: { properties: { context: {}, traits: { type: "object", properties: { email: { type: "string", format: "email" } } }, properties: {} } },
    createdAt: "2023-09-08T19:02:55.000Z",
    updatedAt: "2023-09-08T19:02:55.000Z",
    deprecatedAt: "0001-01-01T00:00:00.000Z",
  },
  { type: "COMMON", key: null, version: 1, jsonSchema: null, createdAt: "2023-09-08T19:02:55.000Z" },
];
/** What the config keeps of them: the rules themselves, JSON Schemas untouched. */
const LOADED: PlanRule[] = [
  { type: "TRACK", key: "Add to Cart", version: 1, jsonSchema: SEGMENT_RULES[0]!.jsonSchema as PlanRule["jsonSchema"] },
  { type: "IDENTIFY", version: 2, jsonSchema: SEGMENT_RULES[1]!.jsonSchema as PlanRule["jsonSchema"] },
  { type: "COMMON", version: 1, jsonSchema: {} },
];

describe("plan files: Segment exports load unchanged", () => {
  it.each([
    ["the Public API's list-rules response ({data: {rules, pagination}})", { data: { rules: SEGMENT_RULES, pagination: { current: "MA==", totalEntries: 3 } } }],
    ["a plan with its rules ({trackingPlan, rules})", { trackingPlan: { id: "tp_1", slug: "web", name: "Web", type: "LIVE", updatedAt: "2024-01-01T00:00:00Z" }, rules: SEGMENT_RULES }],
    ["a bare list of rules", SEGMENT_RULES],
  ])("loads %s", (_what, exported) => {
    const { config, errors } = load({ "plans/web.json": JSON.stringify(exported, null, 2) });
    expect(errors).toEqual([]);
    expect(config!.plans).toStrictEqual({ web: LOADED });
  });

  it("enforces the loaded export as Segment would", () => {
    const { config } = load({ "plans/web.json": JSON.stringify({ data: { rules: SEGMENT_RULES } }) });
    const plan = compilePlan(config!.plans!.web!);
    const base = { messageId: "m", receivedAt: "t", timestamp: "t", userId: "u" };
    const d = enforcePlan(plan, { violations: "block" }, { ...base, type: "track", event: "Add to Cart", properties: { user_id: "u" } });
    expect(d).toMatchObject({ action: "block", findings: [{ type: "Required", field: "properties.item_id", description: "properties.item_id is required" }] });
  });

  it("loads the same rules from YAML as from JSON", () => {
    const yaml = `rules:
  - type: TRACK
    key: Add to Cart
    version: 1
    jsonSchema:
      $schema: http://json-schema.org/draft-07/schema#
      type: object
      labels: {}
      description: addToCart
      properties:
        context: {}
        traits: {}
        properties:
          type: object
          properties:
            user_id: { description: "", type: string }
            item_id: { description: "", type: string, id: /properties/properties/properties/item_id, key: item_id }
          required: [user_id, item_id]
      required: [properties]
`;
    const { config, errors } = load({ "plans/web.yaml": yaml });
    expect(errors).toEqual([]);
    expect(config!.plans!.web).toStrictEqual([LOADED[0]]);
  });
});

describe("plan files: short-hand and sources", () => {
  const SHORT = `property_groups:
  order:
    order_id: { type: string, required: true }
    revenue: number
events:
  - name: Order Completed
    use: [order]
    properties:
      coupon: string
  - type: identify
    traits:
      email: { type: string, format: email }
rules:
  - { type: COMMON, version: 1, jsonSchema: { required: [userId] } }
`;

  it("expands events into Segment rules next to the plan's own rules", () => {
    const { config, errors } = load({ "plans/web.yaml": SHORT });
    expect(errors).toEqual([]);
    expect(config!.plans!.web!.map((r) => [r.type, r.key, r.version])).toEqual([
      ["COMMON", undefined, 1],
      ["TRACK", "Order Completed", 1],
      ["IDENTIFY", undefined, 1],
    ]);
    expect(config!.plans!.web![1]!.jsonSchema).toMatchObject({
      properties: { properties: { properties: { order_id: { type: "string" }, revenue: { type: "number" }, coupon: { type: "string" } }, required: ["order_id"] } },
    });
  });

  it("gives a source its plan and applies the enforcement defaults (all allow) to the settings left out", () => {
    const { config, errors } = load({ "plans/web.yaml": SHORT }, mainFile("    tracking_plan: web\n    enforcement: { violations: quarantine }\n"));
    expect(errors).toEqual([]);
    expect(config!.sources[0]).toMatchObject({
      tracking_plan: "web",
      enforcement: { unplanned_events: "allow", unplanned_properties: "allow", violations: "quarantine", common_violations: "allow" },
    });
  });

  it("leaves sources without a plan as they were", () => {
    const { config, errors } = load({ "plans/web.yaml": SHORT }, mainFile(""));
    expect(errors).toEqual([]);
    expect(config!.sources[0]).not.toHaveProperty("tracking_plan");
    expect(config!.sources[0]).not.toHaveProperty("enforcement");
    expect(Object.keys(config!.plans!)).toEqual(["web"]);
  });

  it("loads the demo folder's plan", () => {
    const { config, errors } = loadDemoConfig();
    expect(errors).toEqual([]);
    expect(config!.sources[0]).toMatchObject({ tracking_plan: "web", enforcement: { unplanned_events: "allow", violations: "allow" } });
    expect(() => compilePlan(config!.plans!.web!)).not.toThrow();
  });
});

describe("plan files: errors name the file, the line and the rule", () => {
  it("formats errors as file:line: rule: message", () => {
    const text = `events:
  - name: Order Completed
    version: 2
    properties:
      revenue: { type: money }
`;
    const { errors } = load({ "plans/web.yaml": text });
    expect(errors.map(formatConfigError)).toEqual([
      `${PLAN}:${lineOf(text, "money")}: TRACK "Order Completed" v2: properties.revenue.type: expected one of "string", "number", "integer", "boolean", "object", "array", "null", got "money"`,
    ]);
  });

  it("points at the JSON Schema keyword it cannot honour", () => {
    const text = `rules:
  - type: TRACK
    key: Signed Up
    version: 3
    jsonSchema:
      properties:
        properties:
          properties:
            method: { type: string, dependentRequired: {} }
`;
    const { errors } = load({ "plans/web.yaml": text });
    expect(where(errors)).toEqual([{ file: PLAN, line: lineOf(text, "dependentRequired"), rule: 'TRACK "Signed Up" v3' }]);
    expect(errors[0]!.message).toMatch(/jsonSchema\.properties\.properties\.properties\.method\.dependentRequired: unsupported keyword "dependentRequired"/);
  });

  it("reports an invalid regex, an unknown format and a bad $ref in a Segment rule on their lines", () => {
    const text = `rules:
  - type: TRACK
    key: A
    jsonSchema: { properties: { properties: { properties: { sku: { pattern: "([" } } } } }
  - type: TRACK
    key: B
    jsonSchema: { properties: { x: { format: phone-number } } }
  - type: IDENTIFY
    jsonSchema: { properties: { traits: { $ref: "#/definitions/nope" } } }
`;
    const { errors } = load({ "plans/web.yaml": text });
    expect(where(errors)).toEqual([
      { file: PLAN, line: lineOf(text, '"(["'), rule: 'TRACK "A" v1' },
      { file: PLAN, line: lineOf(text, "phone-number"), rule: 'TRACK "B" v1' },
      { file: PLAN, line: lineOf(text, "nope"), rule: "IDENTIFY v1" },
    ]);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/"pattern": invalid regular expression/),
      expect.stringMatching(/unknown format "phone-number"/),
      expect.stringMatching(/points to nothing/),
    ]);
  });

  it("refuses regexes that can backtrack super-linearly, with file, line and rule, in both forms", () => {
    // Single-quoted YAML keeps backslashes as written.
    const text = String.raw`property_groups:
  ids:
    ref: { type: string, pattern: '^\d*\d*$' }
rules:
  - type: TRACK
    key: A
    jsonSchema: { properties: { properties: { properties: { name: { type: string, pattern: '^(\w+\s?)*$' } } } } }
  - type: TRACK
    key: C
    jsonSchema:
      properties:
        properties:
          patternProperties:
            '(a+)+$': {}
events:
  - name: B
    properties:
      sku: { type: string, pattern: '^SKU-\d+$' }
      email: { type: string, pattern: '^[^@\s]+@[^@\s]+\.[^@\s]+$' }
`;
    const { errors } = load({ "plans/web.yaml": text });
    expect(where(errors)).toEqual([
      { file: PLAN, line: lineOf(text, "name: {"), rule: 'TRACK "A" v1' },
      { file: PLAN, line: lineOf(text, "(a+)+$"), rule: 'TRACK "C" v1' },
      { file: PLAN, line: lineOf(text, "ref:"), rule: "property_groups.ids.ref.pattern" },
      { file: PLAN, line: lineOf(text, "email:"), rule: 'TRACK "B" v1' },
    ]);
    const expected = [
      ['jsonSchema.properties.properties.properties.name.pattern: "pattern": ', String.raw`^(\w+\s?)*$`, "exponential"],
      ['jsonSchema.properties.properties.patternProperties.(a+)+$: "patternProperties": ', "(a+)+$", "exponential"],
      ["", String.raw`^\d*\d*$`, "quadratic"],
      ["properties.email.pattern: ", String.raw`^[^@\s]+@[^@\s]+\.[^@\s]+$`, "quadratic"],
    ];
    errors.forEach(({ message }, i) => {
      const [at, source, growth] = expected[i]!;
      const head = `${at}regular expression ${JSON.stringify(source)} can take ${growth} time to match (it backtracks at `;
      expect(message.slice(0, head.length)).toBe(head);
      expect(message).toMatch(/; slow on input like .+\): rewrite it so that no part of a text can be matched in more than one way$/);
    });
  });

  it("rejects unknown keys on a rule, a short-hand event and a property spec", () => {
    const text = `rules:
  - { type: TRACK, key: A, version: 1, jsonSchema: {}, colour: red }
events:
  - name: B
    propertes: {}
  - name: C
    properties:
      total: { type: number, requried: true }
`;
    const { errors } = load({ "plans/web.yaml": text });
    expect(where(errors)).toEqual([
      { file: PLAN, line: lineOf(text, "colour"), rule: 'TRACK "A" v1' },
      { file: PLAN, line: lineOf(text, "propertes"), rule: 'TRACK "B" v1' },
      { file: PLAN, line: lineOf(text, "requried"), rule: 'TRACK "C" v1' },
    ]);
    expect(errors[0]!.message).toBe('colour: unknown key "colour" (expected one of: type, key, version, jsonSchema)');
  });

  it("rejects a use of an unknown property group", () => {
    const text = `property_groups:
  order: { order_id: string }
events:
  - name: Order Completed
    use: [order, money]
`;
    const { errors } = load({ "plans/web.yaml": text });
    expect(errors).toEqual([
      { file: PLAN, line: lineOf(text, "use:"), rule: 'TRACK "Order Completed" v1', message: 'unknown property group "money" (known: order)' },
    ]);
  });

  it("rejects two groups that define one property differently", () => {
    const text = `property_groups:
  a: { currency: string }
  b: { currency: { type: string, enum: [USD] } }
events:
  - { name: X, use: [a, b] }
`;
    expect(load({ "plans/web.yaml": text }).errors.map((e) => e.message)).toEqual(['property "currency" is defined differently by groups "a" and "b"']);
  });

  it("rejects duplicate type + key + version, across the Segment rules and the short-hand", () => {
    const text = `rules:
  - { type: TRACK, key: Signed Up, version: 2, jsonSchema: {} }
events:
  - name: Signed Up
    version: 2
  - name: Signed Up
  - type: identify
  - type: identify
`;
    const { errors } = load({ "plans/web.yaml": text });
    expect(errors.map(formatConfigError)).toEqual([
      `${PLAN}:4: TRACK "Signed Up" v2: duplicate rule: TRACK "Signed Up" v2 is already defined on line 2`,
      `${PLAN}:8: IDENTIFY v1: duplicate rule: IDENTIFY v1 is already defined on line 7`,
    ]);
  });

  it("asks for a name on track events and refuses one on identify and group", () => {
    const text = `events:
  - properties: { a: string }
  - type: group
    name: Company
`;
    const { errors } = load({ "plans/web.yaml": text });
    expect(errors.map((e) => [e.line, e.rule, e.message])).toEqual([
      [2, "event #1", "a track event needs a name (the exact event name)"],
      [4, "GROUP v1", 'group rules are not keyed by name: remove "name"'],
    ]);
  });

  it("reports short-hand property specs with an invalid pattern or an unknown format on their lines", () => {
    const text = `events:
  - name: X
    properties:
      sku: { type: string, pattern: "[" }
      email: { type: string, format: mail }
`;
    const { errors } = load({ "plans/web.yaml": text });
    expect(where(errors)).toEqual([
      { file: PLAN, line: lineOf(text, "sku"), rule: 'TRACK "X" v1' },
      { file: PLAN, line: lineOf(text, "mail }"), rule: 'TRACK "X" v1' },
    ]);
  });

  it("rejects a TRACK rule without a key and an unknown rule type", () => {
    const text = `- { type: TRACK, version: 1, jsonSchema: {} }
- { type: ALIAS, version: 1, jsonSchema: {} }
`;
    const { errors } = load({ "plans/web.yaml": text });
    expect(errors.map((e) => [e.line, e.rule])).toEqual([
      [1, "TRACK v1"],
      [2, "ALIAS v1"],
    ]);
    expect(errors[0]!.message).toMatch(/needs the event name/);
  });

  it("rejects unknown top-level keys and a plan file of the wrong shape", () => {
    const a = load({ "plans/web.yaml": "rules: []\nevent: []\n" }).errors;
    expect(a).toEqual([{ file: PLAN, line: 2, rule: "", message: expect.stringMatching(/^unknown key "event" \(expected rules, events, property_groups/) }]);
    const b = load({ "plans/web.yaml": "just text\n" }).errors;
    expect(b[0]!.message).toMatch(/expected a list of rules/);
  });

  it("rejects a source naming a plan that does not exist, listing the known ones", () => {
    const text = mainFile("    tracking_plan: mobile\n");
    const { errors } = load({ "plans/web.yaml": "[]\n" }, text);
    expect(errors).toEqual([
      { file: "sluice.yaml", line: lineOf(text, "tracking_plan"), rule: "sources[0].tracking_plan", message: 'unknown tracking plan "mobile" (known: web)' },
    ]);
  });

  it("does not add an unknown-plan error when the plan exists but is invalid", () => {
    const { errors } = load({ "plans/web.yaml": "- { type: TRACK, key: A, jsonSchema: { type: text } }\n" });
    expect(where(errors)).toEqual([{ file: PLAN, line: 1, rule: 'TRACK "A" v1' }]);
  });

  it("rejects enforcement without a plan and unknown enforcement values", () => {
    const noPlan = mainFile("    enforcement: { violations: block }\n");
    expect(load({}, noPlan).errors).toEqual([
      { file: "sluice.yaml", line: lineOf(noPlan, "enforcement"), rule: "sources[0].enforcement", message: "enforcement needs a tracking_plan" },
    ]);
    const badValue = mainFile("    tracking_plan: web\n    enforcement:\n      unplanned_properties: block\n");
    expect(load({ "plans/web.yaml": "[]\n" }, badValue).errors).toEqual([
      {
        file: "sluice.yaml",
        line: lineOf(badValue, "unplanned_properties"),
        rule: "sources[0].enforcement.unplanned_properties",
        message: 'expected one of "allow", "omit", got "block"',
      },
    ]);
  });

  it("checks that violation_reports names a destination", () => {
    const main = `${mainFile("    tracking_plan: web\n    enforcement:\n      violation_reports: nowhere\n")}destinations:
  - { id: reports, name: Reports, kind: webhook, sources: [web], settings: { url: "http://127.0.0.1:9/" } }
`;
    expect(load({ "plans/web.yaml": "[]\n" }, main).errors).toEqual([
      { file: "sluice.yaml", line: lineOf(main, "violation_reports"), rule: "sources[0].enforcement.violation_reports", message: 'unknown destination "nowhere"' },
    ]);
    const ok = load({ "plans/web.yaml": "[]\n" }, main.replace("nowhere", "reports"));
    expect(ok.errors).toEqual([]);
    expect(ok.config!.sources[0]!.enforcement).toMatchObject({ violations: "allow", violation_reports: "reports" });
  });

  it("rejects a plan file whose name is not a valid id, and two files for one plan", () => {
    const bad = load({ "plans/Web Plan.yaml": "[]\n" }, mainFile("")).errors;
    expect(bad.map((e) => [e.file, e.message])).toEqual([[join("plans", "Web Plan.yaml"), expect.stringMatching(/plan id "Web Plan" \(the file name\) must match/)]]);
    const twice = load({ "plans/web.json": "[]", "plans/web.yaml": "[]\n" }).errors;
    expect(twice).toEqual([{ file: PLAN, line: 1, rule: "", message: 'plan "web" is defined by two files' }]);
  });
});

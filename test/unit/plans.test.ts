/**
 * The tracking-plan engine (src/plans): which rule an event meets, what is found, and what every enforcement
 * setting does with it — including every combination of settings against planned and unplanned, valid and invalid
 * events — plus versions, property groups, the short-hand, COMMON rules, `context.protocols` and immutability.
 */
import { describe, expect, it } from "vitest";
import {
  compilePlan,
  DRAFT_07,
  ENFORCEMENT_OPTIONS,
  enforcePlan,
  PlanRuleError,
  shorthandRule,
  type Enforcement,
  type PlanDecision,
  type PlanRule,
} from "../../src/plans/index.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { MAX_PATTERN_INPUT } from "../../src/pipeline/pattern-input.ts";

/** A normalized event of `type` with the fields given (the enrichment fields every event has). */
function event(type: SluiceEvent["type"], fields: Record<string, unknown> = {}): SluiceEvent {
  return { type, messageId: "m-1", receivedAt: "2026-01-01T00:00:00.000Z", timestamp: "2026-01-01T00:00:00.000Z", userId: "u1", ...fields };
}
const track = (name: string, properties?: Record<string, unknown>, more: Record<string, unknown> = {}) =>
  event("track", { event: name, ...(properties ? { properties } : {}), ...more });

/** Deep-freezes a value so any mutation by the engine throws. */
function frozen<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) frozen(v);
    Object.freeze(value);
  }
  return value;
}

const ORDER_V1: PlanRule = {
  type: "TRACK",
  key: "Order Completed",
  version: 1,
  jsonSchema: {
    $schema: DRAFT_07,
    type: "object",
    properties: {
      properties: {
        type: "object",
        properties: {
          order_id: { type: "string" },
          revenue: { type: "number" },
          currency: { enum: ["USD", "EUR"] },
          products: { type: "array", items: { type: "object", properties: { sku: { type: "string" }, price: { type: "number" } }, required: ["sku"] } },
          shipping: { type: "object", properties: { method: { type: "string" }, cost: { type: "number" } } },
        },
        required: ["order_id", "revenue"],
      },
    },
    required: ["properties"],
  },
};
const ORDER_V2: PlanRule = {
  type: "TRACK",
  key: "Order Completed",
  version: 2,
  jsonSchema: { properties: { properties: { type: "object", properties: { total: { type: "number" } }, required: ["total"] } } },
};
const COMMON: PlanRule = {
  type: "COMMON",
  version: 1,
  jsonSchema: { properties: { context: { type: "object", properties: { locale: { type: "string", pattern: "^[a-z]{2}-[A-Z]{2}$" } } } } },
};
const RULES: PlanRule[] = [
  ORDER_V2,
  ORDER_V1,
  { type: "TRACK", key: "Signed Up", version: 1, jsonSchema: { properties: { properties: { type: "object", properties: { method: { enum: ["email", "google"] } } } } } },
  { type: "IDENTIFY", version: 1, jsonSchema: { properties: { traits: { type: "object", properties: { email: { type: "string", format: "email" }, plan: { type: "string" } } } } } },
  { type: "PAGE", version: 1, jsonSchema: { properties: { properties: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } } } },
  { type: "PAGE", key: "Pricing", version: 1, jsonSchema: { properties: { properties: { type: "object", properties: { plan: { type: "string" } }, required: ["plan"] } } } },
  COMMON,
];
const PLAN = compilePlan(RULES);
const ALLOW_ALL: Enforcement = { unplanned_events: "allow", unplanned_properties: "allow", violations: "allow", common_violations: "allow" };

const validOrder = (more: Record<string, unknown> = {}) => track("Order Completed", { order_id: "o-1", revenue: 42, currency: "USD", ...more });
const protocolsOf = (d: PlanDecision) => (d.event.context as { protocols?: Record<string, unknown> } | undefined)?.protocols;

describe("enforcePlan: valid events", () => {
  it("allows a planned, valid event and returns the very same object with no findings", () => {
    const input = frozen(validOrder());
    const decision = enforcePlan(PLAN, ALLOW_ALL, input);
    expect(decision).toEqual({ action: "allow", event: input, findings: [], ruleType: "TRACK", ruleKey: "Order Completed", version: 1 });
    expect(decision.event).toBe(input);
  });

  it("adds nothing to context when nothing was found", () => {
    const input = validOrder();
    expect(enforcePlan(PLAN, { violations: "block" }, input).event).not.toHaveProperty("context");
  });
});

describe("enforcePlan: what is found", () => {
  it("reports a track event without a TRACK rule as an unplanned event", () => {
    const d = enforcePlan(PLAN, ALLOW_ALL, track("Order Complete", { revenue: 1 }));
    expect(d.findings).toEqual([
      { kind: "unplanned_event", type: "Unplanned Event", field: "event", description: 'event "Order Complete" is not in the tracking plan (did you mean "Order Completed"?)', path: ["event"] },
    ]);
    expect(d).not.toHaveProperty("ruleKey");
  });

  it("matches track event names exactly (case and spacing count)", () => {
    expect(enforcePlan(PLAN, ALLOW_ALL, track("order completed", {})).findings[0]!.type).toBe("Unplanned Event");
    expect(enforcePlan(PLAN, ALLOW_ALL, track("Order Completed ", {})).findings[0]!.type).toBe("Unplanned Event");
  });

  it("does not call identify, group, page, screen or alias events without a rule unplanned: only COMMON applies", () => {
    const plan = compilePlan([COMMON]);
    for (const type of ["identify", "group", "page", "screen", "alias"] as const) {
      expect(enforcePlan(plan, { unplanned_events: "block" }, event(type, { traits: { anything: 1 } })).action).toBe("allow");
      const bad = enforcePlan(plan, { common_violations: "block" }, event(type, { context: { locale: "french" } }));
      expect(bad).toMatchObject({ action: "block", reason: "Common Violation" });
    }
  });

  it("reports each unplanned property with its path, top-level names only", () => {
    const d = enforcePlan(PLAN, ALLOW_ALL, validOrder({ coupon: "X", gift: true, shipping: { method: "ups", carrier_note: "n" } }));
    expect(d.findings.map((f) => [f.kind, f.type, f.field, f.description])).toEqual([
      ["unplanned_property", "Unplanned Property", "properties.coupon", "properties.coupon is not in the tracking plan"],
      ["unplanned_property", "Unplanned Property", "properties.gift", "properties.gift is not in the tracking plan"],
    ]);
  });

  it("reports unplanned traits of identify events", () => {
    const d = enforcePlan(PLAN, ALLOW_ALL, event("identify", { traits: { email: "a@b.co", phone: "555" } }));
    expect(d.findings.map((f) => f.field)).toEqual(["traits.phone"]);
  });

  it("finds nothing unplanned when the rule's schema does not list the object's properties", () => {
    const plan = compilePlan([{ type: "TRACK", key: "Any", version: 1, jsonSchema: { properties: { properties: { type: "object" }, traits: {}, context: {} } } }]);
    expect(enforcePlan(plan, { unplanned_properties: "omit" }, track("Any", { whatever: 1 })).findings).toEqual([]);
  });

  it("counts names matching patternProperties, or allowed by an additionalProperties schema, as planned", () => {
    const plan = compilePlan([
      { type: "TRACK", key: "P", version: 1, jsonSchema: { properties: { properties: { properties: { a: {} }, patternProperties: { "^x_": {} } } } } },
      { type: "TRACK", key: "A", version: 1, jsonSchema: { properties: { properties: { properties: { a: {} }, additionalProperties: { type: "number" } } } } },
    ]);
    expect(enforcePlan(plan, ALLOW_ALL, track("P", { a: 1, x_b: 2, y: 3 })).findings.map((f) => f.field)).toEqual(["properties.y"]);
    expect(enforcePlan(plan, ALLOW_ALL, track("A", { a: 1, b: 2 })).findings).toEqual([]);
  });

  it("tests no name longer than MAX_PATTERN_INPUT against patternProperties: it is unplanned, and a Pattern violation", () => {
    const plan = compilePlan([{ type: "TRACK", key: "P", version: 1, jsonSchema: { properties: { properties: { properties: { a: {} }, patternProperties: { "^x_": {} } } } } }]);
    const fits = `x_${"b".repeat(MAX_PATTERN_INPUT - 2)}`;
    expect(enforcePlan(plan, ALLOW_ALL, track("P", { a: 1, [fits]: 2 })).findings).toEqual([]);
    const long = `${fits}b`;
    expect(enforcePlan(plan, ALLOW_ALL, track("P", { a: 1, [long]: 2 })).findings.map(({ kind, type, field }) => [kind, type, field])).toEqual([
      ["unplanned_property", "Unplanned Property", `properties.${long}`],
      ["violation", "Pattern", `properties.${long}`],
    ]);
  });

  it("makes names outside additionalProperties: false violations (governed by `violations`), not unplanned properties", () => {
    const plan = compilePlan([
      { type: "TRACK", key: "Closed", version: 1, jsonSchema: { properties: { properties: { properties: { a: {} }, additionalProperties: false } } } },
    ]);
    const d = enforcePlan(plan, { unplanned_properties: "omit", violations: "block" }, track("Closed", { a: 1, b: 2 }));
    expect(d).toMatchObject({ action: "block", reason: "Violation" });
    expect(d.findings).toEqual([
      { kind: "violation", type: "Unplanned Property", field: "properties.b", description: "properties.b is not allowed (additionalProperties: false)", path: ["properties", "b"] },
    ]);
  });

  it("reports schema violations with Segment's types and readable descriptions", () => {
    const d = enforcePlan(PLAN, ALLOW_ALL, track("Order Completed", { revenue: "42", currency: "usd", products: [{ price: 1 }] }));
    expect(d.findings.map(({ type, field, description }) => ({ type, field, description }))).toEqual([
      { type: "Invalid Type", field: "properties.revenue", description: "properties.revenue: expected number, got string" },
      { type: "Enum", field: "properties.currency", description: 'properties.currency: must be one of "USD", "EUR"' },
      { type: "Required", field: "properties.products.0.sku", description: "properties.products.0.sku is required" },
      { type: "Required", field: "properties.order_id", description: "properties.order_id is required" },
    ]);
  });

  it("reports a track event without properties when its rule requires them", () => {
    const d = enforcePlan(PLAN, ALLOW_ALL, track("Order Completed"));
    expect(d.findings.map((f) => [f.type, f.field])).toEqual([["Required", "properties"]]);
  });
});

describe("enforcePlan: page and screen rules", () => {
  it("uses the PAGE rule keyed by the page name, else the PAGE rule without a key", () => {
    expect(enforcePlan(PLAN, ALLOW_ALL, event("page", { name: "Pricing", properties: { path: "/p" } })).findings.map((f) => f.field)).toEqual([
      "properties.path",
      "properties.plan",
    ]);
    const home = enforcePlan(PLAN, ALLOW_ALL, event("page", { name: "Home", properties: {} }));
    expect(home).toMatchObject({ ruleType: "PAGE", version: 1 });
    expect(home).not.toHaveProperty("ruleKey");
    expect(home.findings.map((f) => f.field)).toEqual(["properties.path"]);
    expect(enforcePlan(PLAN, ALLOW_ALL, event("page", { properties: { path: "/" } })).findings).toEqual([]);
  });

  it("lets a screen without a SCREEN rule through (only COMMON applies)", () => {
    expect(enforcePlan(PLAN, { unplanned_events: "block", violations: "block" }, event("screen", { name: "Cart" })).action).toBe("allow");
  });
});

describe("enforcePlan: versions", () => {
  it("picks the version named by context.protocols.event_version", () => {
    const d = enforcePlan(PLAN, ALLOW_ALL, track("Order Completed", { total: 5 }, { context: { protocols: { event_version: 2 } } }));
    expect(d).toMatchObject({ version: 2, findings: [] });
  });

  it.each([
    ["missing", undefined],
    ["a string", "2"],
    ["a fraction", 1.5],
    ["a version the plan does not have", 9],
    ["null", null],
  ])("falls back to the oldest version when event_version is %s", (_what, version) => {
    const context = version === undefined ? {} : { protocols: { event_version: version } };
    const d = enforcePlan(PLAN, ALLOW_ALL, track("Order Completed", { order_id: "o", revenue: 1 }, { context }));
    expect(d).toMatchObject({ version: 1, findings: [] });
  });

  it("orders versions by number whatever the order of the rules", () => {
    const plan = compilePlan([
      { ...ORDER_V2, version: 7 },
      { ...ORDER_V1, version: 3 },
    ]);
    expect(enforcePlan(plan, ALLOW_ALL, validOrder()).version).toBe(3);
  });

  it("selects COMMON versions the same way", () => {
    const plan = compilePlan([COMMON, { type: "COMMON", version: 2, jsonSchema: { required: ["userId"] } }]);
    const anonymous = (v?: number) => event("identify", { userId: undefined, anonymousId: "a", context: v ? { protocols: { event_version: v } } : {} });
    expect(enforcePlan(plan, ALLOW_ALL, anonymous()).findings).toEqual([]);
    expect(enforcePlan(plan, ALLOW_ALL, anonymous(2)).findings.map((f) => [f.kind, f.field])).toEqual([["common_violation", "userId"]]);
  });
});

describe("enforcePlan: what each setting does", () => {
  it.each([
    ["allow", "allow", undefined],
    ["block", "block", "Unplanned Event"],
    ["quarantine", "quarantine", "Unplanned Event"],
  ] as const)("unplanned_events: %s → %s", (setting, action, reason) => {
    const input = frozen(track("Mystery Event", { a: 1 }));
    const d = enforcePlan(PLAN, { unplanned_events: setting }, input);
    expect(d.action).toBe(action);
    expect(d.reason).toBe(reason);
    expect(d.findings).toHaveLength(1);
    if (action === "allow") expect(protocolsOf(d)).toEqual({ omitted: [], omitted_on_violation: [], violations: [{ type: "Unplanned Event", field: "event", description: 'event "Mystery Event" is not in the tracking plan' }] });
    else expect(d.event).toBe(input);
  });

  it("unplanned_properties: allow keeps unplanned properties and lists them as violations", () => {
    const d = enforcePlan(PLAN, { unplanned_properties: "allow" }, frozen(validOrder({ coupon: "X" })));
    expect(d.action).toBe("allow");
    expect(d.event.properties).toEqual({ order_id: "o-1", revenue: 42, currency: "USD", coupon: "X" });
    expect(protocolsOf(d)).toEqual({
      omitted: [],
      omitted_on_violation: [],
      violations: [{ type: "Unplanned Property", field: "properties.coupon", description: "properties.coupon is not in the tracking plan" }],
    });
  });

  it("unplanned_properties: omit removes them and lists them in omitted", () => {
    const d = enforcePlan(PLAN, { unplanned_properties: "omit" }, frozen(validOrder({ coupon: "X", gift: true })));
    expect(d.action).toBe("allow");
    expect(d.event.properties).toEqual({ order_id: "o-1", revenue: 42, currency: "USD" });
    expect(protocolsOf(d)).toMatchObject({ omitted: ["properties.coupon", "properties.gift"], omitted_on_violation: [] });
  });

  it("violations: allow keeps the event intact and lists the violations", () => {
    const d = enforcePlan(PLAN, { violations: "allow" }, frozen(validOrder({ revenue: "42" })));
    expect(d).toMatchObject({ action: "allow", event: { properties: { revenue: "42" } } });
    expect(protocolsOf(d)).toMatchObject({ omitted_on_violation: [], violations: [{ type: "Invalid Type", field: "properties.revenue" }] });
  });

  it("violations: omit removes the offending fields, keeps the event and lists them in omitted_on_violation", () => {
    const d = enforcePlan(PLAN, { violations: "omit" }, frozen(validOrder({ revenue: "42", currency: "usd", shipping: { method: 1, cost: 2 } })));
    expect(d.action).toBe("allow");
    expect(d.event.properties).toEqual({ order_id: "o-1", shipping: { cost: 2 } });
    expect(protocolsOf(d)).toMatchObject({ omitted: [], omitted_on_violation: ["properties.revenue", "properties.currency", "properties.shipping.method"] });
  });

  it("violations: omit removes a whole list when one of its items is wrong (items are never removed one by one)", () => {
    const d = enforcePlan(PLAN, { violations: "omit" }, validOrder({ products: [{ sku: "a" }, { sku: 1 }] }));
    expect(d.event.properties).not.toHaveProperty("products");
    expect(protocolsOf(d)).toMatchObject({ omitted_on_violation: ["properties.products"] });
  });

  it("violations: omit cannot fix a missing required field: the event goes on with the violation listed", () => {
    const d = enforcePlan(PLAN, { violations: "omit" }, track("Order Completed", { revenue: 1 }));
    expect(d.action).toBe("allow");
    expect(d.event.properties).toEqual({ revenue: 1 });
    expect(protocolsOf(d)).toMatchObject({ omitted_on_violation: [], violations: [{ type: "Required", field: "properties.order_id" }] });
  });

  it.each([
    ["block", "block"],
    ["quarantine", "quarantine"],
  ] as const)("violations: %s stops the event, which comes back unchanged with its findings", (setting, action) => {
    const input = frozen(validOrder({ revenue: "42" }));
    const d = enforcePlan(PLAN, { violations: setting }, input);
    expect(d).toMatchObject({ action, reason: "Violation", ruleKey: "Order Completed", version: 1 });
    expect(d.event).toBe(input);
    expect(d.findings.map((f) => f.field)).toEqual(["properties.revenue"]);
  });

  it("common_violations: omit removes the offending context field", () => {
    const d = enforcePlan(PLAN, { common_violations: "omit" }, validOrder({}));
    const input = frozen({ ...validOrder(), context: { locale: "english", library: { name: "js" } } });
    const out = enforcePlan(PLAN, { common_violations: "omit" }, input);
    expect(d.findings).toEqual([]);
    expect(out.event.context).toEqual({
      library: { name: "js" },
      protocols: {
        omitted: [],
        omitted_on_violation: ["context.locale"],
        violations: [{ type: "Pattern", field: "context.locale", description: "context.locale: does not match the pattern ^[a-z]{2}-[A-Z]{2}$" }],
      },
    });
  });

  it.each([
    ["block", "block"],
    ["quarantine", "quarantine"],
  ] as const)("common_violations: %s stops the event with reason Common Violation", (setting, action) => {
    const d = enforcePlan(PLAN, { common_violations: setting }, validOrder({}));
    expect(d.action).toBe("allow");
    const bad = enforcePlan(PLAN, { common_violations: setting }, { ...validOrder(), context: { locale: "x" } });
    expect(bad).toMatchObject({ action, reason: "Common Violation" });
  });

  it("checks COMMON after the rule's omissions (Segment: standard controls first)", () => {
    const plan = compilePlan([ORDER_V1, { type: "COMMON", version: 1, jsonSchema: { properties: { properties: { properties: { revenue: { type: "number" } } } } } }]);
    const d = enforcePlan(plan, { violations: "omit", common_violations: "block" }, validOrder({ revenue: "42" }));
    expect(d.action).toBe("allow");
    expect(d.findings.map((f) => f.kind)).toEqual(["violation"]);
  });

  it("uses the defaults (allow everything) when the source has no enforcement block", () => {
    const d = enforcePlan(PLAN, undefined, track("Mystery", { a: 1 }, { context: { locale: "x" } }));
    expect(d.action).toBe("allow");
    expect(d.findings.map((f) => f.kind)).toEqual(["unplanned_event", "common_violation"]);
  });
});

describe("enforcePlan: every combination of settings", () => {
  type Setting = { [K in keyof Enforcement]: Enforcement[K] };
  const combos: Setting[] = [];
  for (const unplanned_events of ENFORCEMENT_OPTIONS.unplanned_events)
    for (const unplanned_properties of ENFORCEMENT_OPTIONS.unplanned_properties)
      for (const violations of ENFORCEMENT_OPTIONS.violations)
        for (const common_violations of ENFORCEMENT_OPTIONS.common_violations) combos.push({ unplanned_events, unplanned_properties, violations, common_violations });

  const SEVERITY = { allow: 0, omit: 1, block: 2, quarantine: 3 } as const;
  /** The documented rule, independently: the strongest setting among the kinds found wins; the first kind gives the reason. */
  function expected(settings: Setting, kinds: { unplannedEvent: boolean; unplannedProperty: boolean; violation: boolean; common: boolean }) {
    const applicable: [string, keyof typeof SEVERITY][] = [];
    if (kinds.unplannedEvent) applicable.push(["Unplanned Event", settings.unplanned_events]);
    if (kinds.unplannedProperty) applicable.push(["(unplanned property)", settings.unplanned_properties]);
    if (kinds.violation) applicable.push(["Violation", settings.violations]);
    if (kinds.common) applicable.push(["Common Violation", settings.common_violations]);
    const top = Math.max(0, ...applicable.map(([, s]) => SEVERITY[s]));
    if (top < 2) return { action: "allow" };
    return { action: top === 3 ? "quarantine" : "block", reason: applicable.find(([, s]) => SEVERITY[s] === top)![0] };
  }

  const badLocale = { context: { locale: "english", protocols: { event_version: 1, client: "kept" } } };
  const EVENTS = {
    "planned, valid": { event: validOrder(), kinds: { unplannedEvent: false, unplannedProperty: false, violation: false, common: false } },
    "planned, unplanned property": { event: validOrder({ coupon: "X" }), kinds: { unplannedEvent: false, unplannedProperty: true, violation: false, common: false } },
    "planned, invalid": { event: validOrder({ revenue: "42" }), kinds: { unplannedEvent: false, unplannedProperty: false, violation: true, common: false } },
    "planned, common violation": { event: { ...validOrder(), ...badLocale }, kinds: { unplannedEvent: false, unplannedProperty: false, violation: false, common: true } },
    "planned, everything wrong": {
      event: { ...validOrder({ coupon: "X", revenue: "42" }), ...badLocale },
      kinds: { unplannedEvent: false, unplannedProperty: true, violation: true, common: true },
    },
    "unplanned, valid": { event: track("Mystery", { revenue: "42" }), kinds: { unplannedEvent: true, unplannedProperty: false, violation: false, common: false } },
    "unplanned, common violation": { event: track("Mystery", { revenue: "42" }, badLocale), kinds: { unplannedEvent: true, unplannedProperty: false, violation: false, common: true } },
  };
  for (const e of Object.values(EVENTS)) frozen(e.event);

  it.each(combos.map((c) => [Object.values(c).join(" / "), c] as const))("%s", (_label, settings) => {
    for (const [name, { event: input, kinds }] of Object.entries(EVENTS)) {
      const before = JSON.stringify(input);
      const d = enforcePlan(PLAN, settings, input);
      const want = expected(settings, kinds);
      expect({ name, action: d.action, reason: d.reason }).toEqual({ name, ...want, reason: want.reason });
      expect(JSON.stringify(input)).toBe(before);
      const found = new Set(d.findings.map((f) => f.kind));
      expect({ name, found: [...found].sort() }).toEqual({
        name,
        found: (
          [
            kinds.unplannedEvent && "unplanned_event",
            kinds.unplannedProperty && "unplanned_property",
            kinds.violation && "violation",
            kinds.common && "common_violation",
          ].filter(Boolean) as string[]
        ).sort(),
      });
      if (d.action !== "allow") {
        expect(d.event).toBe(input);
        continue;
      }
      const anything = Object.values(kinds).some(Boolean);
      if (!anything) {
        expect(d.event).toBe(input);
        continue;
      }
      const props = d.event.properties as Record<string, unknown>;
      const protocols = protocolsOf(d)!;
      expect({ name, coupon: "coupon" in props }).toEqual({ name, coupon: kinds.unplannedProperty && settings.unplanned_properties !== "omit" });
      expect({ name, revenue: "revenue" in props }).toEqual({ name, revenue: !kinds.violation || settings.violations !== "omit" });
      const context = d.event.context as Record<string, unknown>;
      expect({ name, locale: "locale" in context }).toEqual({ name, locale: kinds.common && settings.common_violations !== "omit" });
      expect(protocols.omitted).toEqual(kinds.unplannedProperty && settings.unplanned_properties === "omit" ? ["properties.coupon"] : []);
      expect(protocols.omitted_on_violation).toEqual([
        ...(kinds.violation && settings.violations === "omit" ? ["properties.revenue"] : []),
        ...(kinds.common && settings.common_violations === "omit" ? ["context.locale"] : []),
      ]);
      expect(protocols.violations).toEqual(d.findings.map(({ type, field, description }) => ({ type, field, description })));
      if (kinds.common) expect(protocols).toMatchObject({ event_version: 1, client: "kept" });
    }
  });
});

describe("enforcePlan: context.protocols", () => {
  it("keeps the client's own keys (event_version included) and replaces any it sent under our names", () => {
    const input = frozen(validOrder({ coupon: "X" }));
    const withContext = frozen({
      ...input,
      context: { library: { name: "analytics.js" }, protocols: { event_version: 1, sourceId: "s", omitted: ["forged"], violations: "forged" } },
    });
    const d = enforcePlan(PLAN, { unplanned_properties: "omit" }, withContext);
    expect(d.event.context).toEqual({
      library: { name: "analytics.js" },
      protocols: {
        event_version: 1,
        sourceId: "s",
        omitted: ["properties.coupon"],
        omitted_on_violation: [],
        violations: [{ type: "Unplanned Property", field: "properties.coupon", description: "properties.coupon is not in the tracking plan" }],
      },
    });
  });

  it("creates context when the event had none, and copies only what changed", () => {
    const input: SluiceEvent = frozen({ ...validOrder({ coupon: "X" }), traits: { t: 1 } });
    const d = enforcePlan(PLAN, ALLOW_ALL, input);
    expect(d.event).not.toBe(input);
    expect(d.event.properties).toBe(input.properties);
    expect(d.event.traits).toBe(input.traits);
    expect(protocolsOf(d)).toMatchObject({ omitted: [], omitted_on_violation: [] });
  });

  it("never removes context.protocols itself, even when COMMON says it is wrong", () => {
    const plan = compilePlan([{ type: "COMMON", version: 1, jsonSchema: { properties: { context: { properties: { protocols: { properties: { event_version: { type: "string" } } } } } } } }]);
    const d = enforcePlan(plan, { common_violations: "omit" }, event("identify", { context: { protocols: { event_version: 1 } } }));
    expect(protocolsOf(d)).toMatchObject({ event_version: 1, omitted_on_violation: [] });
  });
});

describe("the short-hand", () => {
  it("expands to exactly the JSON Schema of the equivalent Segment rule", () => {
    const segment: PlanRule = {
      type: "TRACK",
      key: "Order Completed",
      version: 2,
      jsonSchema: {
        $schema: DRAFT_07,
        type: "object",
        description: "A customer paid.",
        properties: {
          properties: {
            type: "object",
            properties: {
              order_id: { type: "string" },
              revenue: { description: "after discounts", type: "number" },
              currency: { type: "string", enum: ["USD", "EUR"] },
              sku: { type: "string", pattern: "^SKU-\\d+$" },
              email: { type: ["string", "null"], format: "email" },
            },
            required: ["order_id", "revenue"],
          },
        },
        required: ["properties"],
      },
    };
    const short = shorthandRule(
      {
        name: "Order Completed",
        version: 2,
        description: "A customer paid.",
        properties: {
          order_id: { type: "string", required: true },
          revenue: { type: "number", required: true, description: "after discounts" },
          currency: { type: "string", enum: ["USD", "EUR"] },
          sku: { type: "string", pattern: "^SKU-\\d+$" },
          email: { type: ["string", "null"], format: "email" },
        },
      },
      {},
    );
    expect(short).toStrictEqual(segment);
    // …and both behave the same.
    const bad = validOrder({ revenue: "1", sku: "x", email: null });
    expect(enforcePlan(compilePlan([short]), ALLOW_ALL, bad).findings).toEqual(enforcePlan(compilePlan([segment]), ALLOW_ALL, bad).findings);
  });

  it("puts identify and group data under traits, and a type name alone means just that type", () => {
    expect(shorthandRule({ type: "identify", traits: { email: "string", age: ["integer", "null"] } }, {})).toStrictEqual({
      type: "IDENTIFY",
      version: 1,
      jsonSchema: { $schema: DRAFT_07, type: "object", properties: { traits: { type: "object", properties: { email: { type: "string" }, age: { type: ["integer", "null"] } } } } },
    });
  });

  it("declares an empty property list for an event listed without properties (so every property is unplanned)", () => {
    const rule = shorthandRule({ name: "Cart Viewed" }, {});
    expect(rule.jsonSchema).toEqual({ $schema: DRAFT_07, type: "object", properties: { properties: { type: "object", properties: {} } } });
    expect(enforcePlan(compilePlan([rule]), ALLOW_ALL, track("Cart Viewed", { x: 1 })).findings.map((f) => f.field)).toEqual(["properties.x"]);
  });

  it("closes the object with additional_properties: false", () => {
    const rule = shorthandRule({ name: "Closed", properties: { a: "string" }, additional_properties: false }, {});
    expect((rule.jsonSchema as { properties: { properties: Record<string, unknown> } }).properties.properties.additionalProperties).toBe(false);
    expect(enforcePlan(compilePlan([rule]), { violations: "block" }, track("Closed", { a: "x", b: 1 })).action).toBe("block");
  });

  it("merges property groups in `use` order, the event's own specs winning", () => {
    const groups = {
      order: { order_id: { type: "string" as const, required: true }, currency: "string" as const },
      money: { revenue: { type: "number" as const, required: true } },
    };
    const checkout = shorthandRule({ name: "Checkout Started", use: ["order", "money"], properties: { currency: { type: "string", enum: ["USD"] } } }, groups);
    const completed = shorthandRule({ name: "Order Completed", use: ["order", "money"] }, groups);
    expect(checkout.jsonSchema).toMatchObject({
      properties: {
        properties: {
          properties: { order_id: { type: "string" }, currency: { type: "string", enum: ["USD"] }, revenue: { type: "number" } },
          required: ["order_id", "revenue"],
        },
      },
    });
    const plan = compilePlan([checkout, completed]);
    // One definition, many uses: the group's rules hold for every event that uses it.
    for (const name of ["Checkout Started", "Order Completed"]) {
      expect(enforcePlan(plan, ALLOW_ALL, track(name, { revenue: 1 })).findings.map((f) => f.field)).toEqual(["properties.order_id"]);
    }
    expect(enforcePlan(plan, ALLOW_ALL, track("Checkout Started", { order_id: "o", revenue: 1, currency: "EUR" })).findings.map((f) => f.type)).toEqual(["Enum"]);
    expect(enforcePlan(plan, ALLOW_ALL, track("Order Completed", { order_id: "o", revenue: 1, currency: "EUR" })).findings).toEqual([]);
  });

  it("does not let a property group named __proto__-like keys pollute anything", () => {
    const groups = { g: JSON.parse('{"__proto__": {"type": "string"}}') };
    const rule = shorthandRule({ name: "X", use: ["g"] }, groups);
    expect(Object.keys((rule.jsonSchema as { properties: { properties: { properties: object } } }).properties.properties.properties)).toEqual(["__proto__"]);
    expect(({} as Record<string, unknown>).type).toBeUndefined();
  });
});

describe("compilePlan: errors", () => {
  const failing = (rules: PlanRule[]): PlanRuleError => {
    try {
      compilePlan(rules);
    } catch (err) {
      if (err instanceof PlanRuleError) return err;
      throw err;
    }
    throw new Error("compilePlan did not throw");
  };

  it("names the rule, the index and the keyword of an invalid schema", () => {
    const err = failing([ORDER_V1, { type: "TRACK", key: "Signed Up", version: 2, jsonSchema: { properties: { properties: { properties: { plan: { type: "text" } } } } } }]);
    expect(err).toMatchObject({ index: 1, rule: 'TRACK "Signed Up" v2', at: ["jsonSchema", "properties", "properties", "properties", "plan", "type"] });
    expect(err.message).toMatch(/^TRACK "Signed Up" v2: jsonSchema\.properties\.properties\.properties\.plan\.type: "type" must be one of/);
  });

  it("rejects two rules with the same type, key and version", () => {
    expect(failing([ORDER_V1, { ...ORDER_V1 }])).toMatchObject({ index: 1, rule: 'TRACK "Order Completed" v1', detail: expect.stringMatching(/duplicate rule/) });
  });

  it("rejects a TRACK rule without a key, and versions that are not positive integers", () => {
    expect(failing([{ type: "TRACK", version: 1, jsonSchema: {} }]).detail).toMatch(/needs the event name/);
    expect(failing([{ ...ORDER_V1, version: 0 }]).detail).toMatch(/version must be an integer ≥ 1/);
  });

  it("ignores the key of IDENTIFY, GROUP and COMMON rules", () => {
    const plan = compilePlan([{ type: "IDENTIFY", key: "whatever", version: 1, jsonSchema: { required: ["userId"] } }]);
    expect(enforcePlan(plan, ALLOW_ALL, event("identify", { userId: undefined })).findings.map((f) => f.field)).toEqual(["userId"]);
  });
});

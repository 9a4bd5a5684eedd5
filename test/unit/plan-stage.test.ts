/**
 * The tracking-plan stage of ingest (src/pipeline/plan-stage.ts) as compilePipeline wires it: which events are
 * routed, blocked or quarantined, what is counted where, violation reports, and the admin API's plan figures.
 */
import { describe, expect, it } from "vitest";
import { DestinationSchema, type BuiltConfig } from "../../src/config/model.ts";
import { planCounters } from "../../src/http/plan-routes.ts";
import { compilePipeline, ingest } from "../../src/pipeline/compile.ts";
import type { NormalizeOptions } from "../../src/pipeline/normalize.ts";
import { slug } from "../../src/pipeline/plan-stage.ts";
import type { Tally } from "../../src/pipeline/route.ts";
import { shorthandRule } from "../../src/plans/index.ts";

class RecordingTally implements Tally {
  readonly counts = new Map<string, number>();
  count(scope: string, metric: string, n = 1): void {
    if (n === 0) return;
    const key = `${scope} ${metric}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }
}

const orderRule = shorthandRule({ name: "Order Completed", properties: { order_id: { type: "string", required: true }, revenue: "number" } }, {});
const config: BuiltConfig = {
  version: 1,
  origin: "test",
  sources: [
    {
      id: "shop",
      name: "Shop",
      environment: "prod",
      write_keys: ["wk_shop_1234"],
      tracking_plan: "orders",
      enforcement: { unplanned_events: "block", unplanned_properties: "omit", violations: "quarantine", common_violations: "allow", violation_reports: "reports" },
    },
    { id: "lax", name: "Lax", environment: "prod", write_keys: ["wk_lax_12345"], tracking_plan: "orders" },
    { id: "plain", name: "Plain", environment: "prod", write_keys: ["wk_plain_1234"] },
  ],
  destinations: [
    DestinationSchema.check({ id: "hook", name: "Hook", kind: "webhook", sources: "*" }, [], [])!,
    DestinationSchema.check({ id: "reports", name: "Reports", kind: "webhook", sources: ["plain"] }, [], [])!,
  ],
  filters: {},
  sourceFilters: { shop: [{ title: "No pings", if: 'event = "Ping"', actions: [{ type: "DROP" }] } as never] },
  plans: { orders: [orderRule, shorthandRule({ name: "Ping" }, {})] },
};
const pipeline = compilePipeline(config, { webhook: { receivesAllEvents: false } });
const opts = (): NormalizeOptions => {
  let n = 0;
  return { receivedAt: new Date("2024-05-01T12:00:00.000Z"), newMessageId: () => `gen-${++n}`, requestBytes: 2048 };
};
const track = (messageId: string, event: string, properties: Record<string, unknown>) => ({ type: "track", userId: "u1", messageId, event, properties });

describe("compilePipeline: plans", () => {
  it("compiles a source's plan once, with its revision and enforcement (violation_reports kept apart)", () => {
    const shop = pipeline.source("shop")!.plan!;
    expect(shop).toMatchObject({ id: "orders", rules: 2, revision: expect.stringMatching(/^[0-9a-f]{12}$/), violationReports: "reports" });
    expect(shop.enforcement).toEqual({ unplanned_events: "block", unplanned_properties: "omit", violations: "quarantine", common_violations: "allow" });
    expect(pipeline.source("lax")!.plan!.compiled).toBe(shop.compiled);
    expect(pipeline.source("lax")!.plan!.enforcement).toEqual({});
    expect(pipeline.source("plain")!.plan).toBeUndefined();
    expect(pipeline.plan("orders")!.revision).toBe(shop.revision);
    expect(pipeline.plan("nope")).toBeUndefined();
  });

  it("changes the revision when the rules change", () => {
    const changed = compilePipeline({ ...config, plans: { orders: [orderRule] } }, {});
    expect(changed.plan("orders")!.revision).not.toBe(pipeline.plan("orders")!.revision);
  });

  it("refuses a source whose plan the built config lacks", () => {
    expect(() => compilePipeline({ ...config, plans: {} }, {})).toThrow(/tracking plan "orders"/);
  });
});

describe("ingest with a tracking plan", () => {
  it("routes allowed events (omissions in context.protocols), counts blocked ones, hands quarantined ones back intact", () => {
    const tally = new RecordingTally();
    const body = {
      batch: [
        track("ok", "Order Completed", { order_id: "o1", revenue: 5 }),
        track("extra", "Order Completed", { order_id: "o2", revenue: 5, debug: 1, note: "x" }),
        track("bad", "Order Completed", { order_id: "o3", revenue: "5" }),
        track("unplanned", "Refund Issued", {}),
        track("ping", "Ping", {}),
      ],
    };
    const result = ingest(pipeline.source("shop")!, body, "batch", opts(), tally);
    expect(result.accepted).toHaveLength(5);
    expect(result.blocked).toBe(1);
    expect(result.quarantined.map((d) => d.event.messageId)).toEqual(["bad"]);
    expect(result.quarantined[0]!.event).toBe(result.accepted[2]);
    expect(result.quarantined[0]!.reason).toBe("Violation");
    const routed = result.routed.get("hook")!.events;
    expect(routed.map((e) => e.messageId)).toEqual(["ok", "extra"]);
    expect(routed[0]).not.toHaveProperty("context");
    expect(routed[1]!.properties).toEqual({ order_id: "o2", revenue: 5 });
    expect((routed[1]!.context as { protocols: { omitted: string[] } }).protocols.omitted).toEqual(["properties.debug", "properties.note"]);

    expect(tally.snapshot()).toEqual({
      "destination:hook routed": 2,
      "destination:reports routed": 4,
      "plan:orders blocked.unplanned_event": 1,
      "plan:orders omitted": 2,
      "plan:orders quarantined.violation": 1,
      "plan:orders validated": 5,
      "plan:orders violation_reports": 4,
      "plan:orders violations.invalid_type": 1,
      "plan:orders violations.unplanned_event": 1,
      "plan:orders violations.unplanned_property": 2,
      "plan:orders with_violations": 3,
      "source:shop accepted": 5,
      "source:shop blocked.unplanned_event": 1,
      "source:shop dropped.filter.No pings": 1,
      "source:shop omitted": 2,
      "source:shop quarantined.violation": 1,
      "source:shop validated": 5,
      "source:shop with_violations": 3,
    });
    // Nothing accepted vanishes: routed or dropped, blocked or quarantined.
    const c = tally.snapshot();
    expect(c["destination:hook routed"]! + c["source:shop dropped.filter.No pings"]! + c["source:shop blocked.unplanned_event"]! + c["source:shop quarantined.violation"]!).toBe(
      c["source:shop accepted"]!,
    );
  });

  it("reports each finding as Segment's Violation Generated event, to the violation_reports destination only", () => {
    const result = ingest(pipeline.source("shop")!, { ...track("bad", "Order Completed", { revenue: "5" }), sentAt: "2024-05-01T11:59:59.000Z", context: { app: { version: "3.2" } } }, "track", opts(), new RecordingTally());
    expect(result.routed.has("reports")).toBe(false);
    expect(result.reports!.destination).toBe("reports");
    const reports = result.reports!.events;
    expect(reports.map((r) => (r.properties as { violationType: string }).violationType)).toEqual(["Invalid Type", "Required"]);
    expect(reports[1]).toEqual({
      type: "track",
      event: "Violation Generated",
      userId: "schema-violations",
      messageId: expect.stringMatching(/^sch-[0-9a-f]{32}$/),
      receivedAt: "2024-05-01T12:00:00.000Z",
      timestamp: "2024-05-01T12:00:00.000Z",
      context: { app: { version: "3.2" }, library: { name: "sluice" } },
      integrations: {},
      properties: {
        appVersion: "3.2",
        eventMessageID: "bad",
        eventName: "Order Completed",
        eventSentAt: "2024-05-01T11:59:59.000Z",
        eventTimestamp: expect.any(String),
        eventType: "track",
        sourceID: "shop",
        sourceName: "Shop",
        sourceSlug: "shop",
        trackingPlanID: "orders",
        trackingPlanName: "orders",
        trackingPlanRevision: pipeline.plan("orders")!.revision,
        violationDescription: "properties.order_id is required",
        violationField: "properties.order_id",
        violationType: "Required",
        action: "quarantine",
      },
    });
    expect(new Set(reports.map((r) => r.messageId)).size).toBe(2);
    // The same event resent makes the same reports (receivers dedupe by messageId).
    const again = ingest(pipeline.source("shop")!, track("bad", "Order Completed", { revenue: "5" }), "track", opts(), new RecordingTally());
    expect(again.reports!.events.map((r) => r.messageId)).toEqual(reports.map((r) => r.messageId));
  });

  it("with the default enforcement (allow), routes everything with its findings and counts them", () => {
    const tally = new RecordingTally();
    const result = ingest(pipeline.source("lax")!, { batch: [track("bad", "Order Completed", { revenue: "5" }), track("u", "Refund Issued", {})] }, "batch", opts(), tally);
    expect(result.blocked).toBe(0);
    expect(result.quarantined).toEqual([]);
    expect(result.reports).toBeUndefined();
    const routed = result.routed.get("hook")!.events;
    expect(routed.map((e) => (e.context as { protocols: { violations: { type: string }[] } }).protocols.violations.map((v) => v.type))).toEqual([["Invalid Type", "Required"], ["Unplanned Event"]]);
    expect(tally.snapshot()).toMatchObject({ "source:lax validated": 2, "source:lax with_violations": 2, "plan:orders validated": 2 });
    expect(tally.snapshot()).not.toHaveProperty(["source:lax omitted"]);
  });

  it("does nothing for a source without a plan", () => {
    const tally = new RecordingTally();
    const result = ingest(pipeline.source("plain")!, track("x", "Anything", { a: 1 }), "track", opts(), tally);
    expect(result.routed.get("hook")!.events[0]).not.toHaveProperty("context");
    expect(tally.snapshot()).toEqual({ "source:plain accepted": 1, "destination:hook routed": 1, "destination:reports routed": 1 });
  });
});

describe("plan figures for the admin API", () => {
  it("sums days and breaks blocked, quarantined, requarantined and violations down by reason", () => {
    const figures = planCounters([
      { counters: { validated: 10, with_violations: 4, omitted: 3, "blocked.unplanned_event": 1, "quarantined.violation": 2, replayed: 1, "violations.invalid_type": 2 } },
      { counters: { validated: 5, "blocked.common_violation": 2, "quarantined.violation": 1, "requarantined.violation": 1, violation_reports: 7, "dropped.filter.x": 9 } },
    ]);
    expect(figures).toEqual({
      validated: 15,
      with_violations: 4,
      omitted: 3,
      blocked: { total: 3, unplanned_event: 1, common_violation: 2 },
      quarantined: { total: 3, violation: 3 },
      replayed: 1,
      requarantined: { total: 1, violation: 1 },
      violations: { total: 2, invalid_type: 2 },
      violation_reports: 7,
    });
  });

  it("slugs reasons and violation types for counter names", () => {
    expect(["Unplanned Event", "Common Violation", "Invalid Type", "Unplanned Property"].map(slug)).toEqual(["unplanned_event", "common_violation", "invalid_type", "unplanned_property"]);
  });
});

import { DestinationSchema, type DestinationConfig } from "../../src/config/model.ts";
import { describe, expect, it } from "vitest";
import type { BuiltConfig } from "../../src/config/model.ts";
import { compilePipeline, ingest } from "../../src/pipeline/compile.ts";
import type { NormalizeOptions, SluiceEvent } from "../../src/pipeline/normalize.ts";
import { integrationEnabled, routeEvents, type RouteTarget, type Tally } from "../../src/pipeline/route.ts";

/** A destination as the config loader builds it (defaults applied). */
function destination(raw: Record<string, unknown>): DestinationConfig {
  return DestinationSchema.check(raw, [], [])!;
}

/** Records every count so tests can assert what was dropped, where and why. */
class RecordingTally implements Tally {
  readonly counts = new Map<string, number>();
  count(scope: string, metric: string, n = 1): void {
    const key = `${scope} ${metric}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }
  get(scope: string, metric: string): number | undefined {
    return this.counts.get(`${scope} ${metric}`);
  }
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }
}

function event(messageId: string, extra: Record<string, unknown> = {}): SluiceEvent {
  return { type: "track", event: "Order Completed", userId: "u1", messageId, receivedAt: "2024-05-01T12:00:00.000Z", timestamp: "2024-05-01T12:00:00.000Z", ...extra };
}

describe("integrationEnabled (Segment's integrations object rule)", () => {
  const cases: [string, unknown, string, boolean, boolean][] = [
    // description, integrations, destination name, receivesAllEvents, expected
    ["no integrations object sends everywhere", undefined, "Mixpanel", false, true],
    ["null integrations sends everywhere", null, "Mixpanel", false, true],
    ["an empty object sends everywhere", {}, "Mixpanel", false, true],
    ["All: true sends everywhere", { All: true }, "Mixpanel", false, true],
    ["All: false stops a destination that is not named", { All: false }, "Mixpanel", false, false],
    ["All: false with the destination named true sends to it", { All: false, Mixpanel: true }, "Mixpanel", false, true],
    ["an options object counts as enabled", { All: false, Mixpanel: { apiKey: "k" } }, "Mixpanel", false, true],
    ["an empty options object counts as enabled", { All: false, Mixpanel: {} }, "Mixpanel", false, true],
    ["naming the destination false stops it", { Mixpanel: false }, "Mixpanel", false, false],
    ["naming it false wins over All: true", { All: true, Mixpanel: false }, "Mixpanel", false, false],
    ["names are case-sensitive (a false for another spelling does not stop it)", { mixpanel: false }, "Mixpanel", false, true],
    ["names are case-sensitive (a true for another spelling does not enable it)", { All: false, mixpanel: true }, "Mixpanel", false, false],
    ["a null entry falls back to All", { All: false, Mixpanel: null }, "Mixpanel", false, false],
    ["other destinations' entries do not matter", { Amplitude: false }, "Mixpanel", false, true],
    ["All: false still reaches a receivesAllEvents target", { All: false }, "Data Lake", true, true],
    ["All: false still reaches a receivesAllEvents target named true", { All: false, "Data Lake": true }, "Data Lake", true, true],
    ["a receivesAllEvents target named false is stopped", { All: false, "Data Lake": false }, "Data Lake", true, false],
    ["a receivesAllEvents target named false is stopped even with All: true", { All: true, "Data Lake": false }, "Data Lake", true, false],
    ["inherited names like toString are not entries", {}, "toString", false, true],
    ["inherited names like constructor are not entries", { All: false }, "constructor", false, false],
  ];

  it.each(cases)("%s", (_name, integrations, name, receivesAllEvents, expected) => {
    expect(integrationEnabled(integrations, name, receivesAllEvents)).toBe(expected);
  });
});

/** A source without filters of its own. */
const WEB = { id: "web", stage: {} };

describe("routeEvents", () => {
  const mixpanel: RouteTarget = { id: "mp", name: "Mixpanel", receivesAllEvents: false };
  const lake: RouteTarget = { id: "lake", name: "Data Lake", receivesAllEvents: true };
  const hook: RouteTarget = {
    id: "hook",
    name: "Hook",
    receivesAllEvents: false,
    transform: (e) => (e.event === "Secret" ? { kept: false, reason: "filter" } : { kept: true, event: { ...e, event: `hooked ${e.event as string}` } }),
  };

  it("sends every event to every target when no integrations object says otherwise", () => {
    const tally = new RecordingTally();
    const events = [event("m1"), event("m2")];
    const routed = routeEvents(events, WEB, [mixpanel, lake], tally);
    expect(routed.get("mp")?.events).toEqual(events);
    expect(routed.get("lake")?.events).toEqual(events);
    expect(tally.snapshot()).toEqual({ "destination:lake routed": 2, "destination:mp routed": 2 });
  });

  it("counts each drop per destination with its reason and keeps order", () => {
    const tally = new RecordingTally();
    const events = [
      event("m1"),
      event("m2", { integrations: { All: false } }),
      event("m3", { integrations: { Mixpanel: false } }),
      event("m4", { integrations: { All: false, "Data Lake": false, Hook: true } }),
      event("m5", { event: "Secret" }),
      event("m6", { integrations: { All: false, Mixpanel: { region: "eu" } } }),
    ];
    const routed = routeEvents(events, WEB, [mixpanel, lake, hook], tally);

    expect(routed.get("mp")?.events.map((e) => e.messageId)).toEqual(["m1", "m5", "m6"]);
    expect(routed.get("lake")?.events.map((e) => e.messageId)).toEqual(["m1", "m2", "m3", "m5", "m6"]);
    expect(routed.get("hook")?.events.map((e) => [e.messageId, e.event])).toEqual([
      ["m1", "hooked Order Completed"],
      ["m3", "hooked Order Completed"],
      ["m4", "hooked Order Completed"],
    ]);
    expect(tally.snapshot()).toEqual({
      "destination:hook dropped.filter": 1,
      "destination:hook dropped.integrations": 2,
      "destination:hook routed": 3,
      "destination:lake dropped.integrations": 1,
      "destination:lake routed": 5,
      "destination:mp dropped.integrations": 3,
      "destination:mp routed": 3,
    });
  });

  it("drops event types the destination's kind does not take, counted dropped.unsupported_type", () => {
    const tally = new RecordingTally();
    const slackLike: RouteTarget = { id: "ops", name: "Ops", receivesAllEvents: false, eventTypes: new Set(["track"]) };
    const events = [event("m1"), event("m2", { type: "identify", event: undefined }), event("m3", { type: "page", event: undefined })];
    const routed = routeEvents(events, WEB, [slackLike], tally);
    expect(routed.get("ops")?.events.map((e) => e.messageId)).toEqual(["m1"]);
    expect(tally.snapshot()).toEqual({ "destination:ops dropped.unsupported_type": 2, "destination:ops routed": 1 });
  });

  it("accounts for every event at every target: routed + dropped = events", () => {
    const tally = new RecordingTally();
    const events = Array.from({ length: 30 }, (_, i) =>
      event(`m${i}`, { event: i % 5 === 0 ? "Secret" : "Other", integrations: i % 3 === 0 ? { All: false } : i % 4 === 0 ? { Hook: false } : {} }),
    );
    routeEvents(events, WEB, [mixpanel, lake, hook], tally);
    for (const id of ["mp", "lake", "hook"]) {
      const scope = `destination:${id}`;
      const total = [...tally.counts].filter(([k]) => k.startsWith(`${scope} `)).reduce((a, [, n]) => a + n, 0);
      expect(total).toBe(events.length);
    }
  });

  it("leaves out a target that receives nothing and counts no routed events for it", () => {
    const tally = new RecordingTally();
    const routed = routeEvents([event("m1", { integrations: { All: false } })], WEB, [mixpanel, lake], tally);
    expect(routed.has("mp")).toBe(false);
    expect(tally.get("destination:mp", "routed")).toBeUndefined();
    expect(tally.get("destination:mp", "dropped.integrations")).toBe(1);
    expect(routed.get("lake")?.events).toHaveLength(1);
  });

  it("runs source filters once, before every destination, and counts their drops on the source", () => {
    const tally = new RecordingTally();
    let calls = 0;
    const source = {
      id: "web",
      stage: { transform: (e: SluiceEvent) => (calls++, e.event === "Secret" ? { kept: false as const, reason: "filter.No secrets" } : { kept: true as const, event: { ...e, tagged: true } }) },
    };
    const routed = routeEvents([event("m1"), event("m2", { event: "Secret" })], source, [mixpanel, lake], tally);
    expect(calls).toBe(2);
    expect(routed.get("mp")?.events).toEqual([expect.objectContaining({ messageId: "m1", tagged: true })]);
    expect(routed.get("lake")?.events).toHaveLength(1);
    expect(tally.get("source:web", "dropped.filter.No secrets")).toBe(1);
  });

  it("never applies a stage whose secret is missing: its events travel pending, to be filtered by the consumer", () => {
    const tally = new RecordingTally();
    const deferredHook: RouteTarget = { ...hook, deferred: "secret SALT is not set" };
    const routed = routeEvents([event("m1", { event: "Secret" })], WEB, [deferredHook, mixpanel], tally);
    expect(routed.get("hook")).toEqual({ events: [expect.objectContaining({ messageId: "m1", event: "Secret" })], pending: "destination" });
    expect(routed.get("mp")?.pending).toBeUndefined();
    const all = routeEvents([event("m2")], { id: "web", stage: { deferred: "secret X is not set" } }, [hook], tally);
    expect(all.get("hook")?.pending).toBe("all");
  });

  it("lists the events a destination's filters threw on for its dead letters, grouped by reason, not as drops", () => {
    const tally = new RecordingTally();
    const fragile: RouteTarget = {
      id: "fragile",
      name: "Fragile",
      receivesAllEvents: false,
      transform: (e) => {
        if (e.event === "Deep") throw new RangeError("Maximum call stack size exceeded");
        return { kept: true, event: { ...e, filtered: true } };
      },
    };
    const deep = [event("m1", { event: "Deep" }), event("m3", { event: "Deep" })];
    const routed = routeEvents([deep[0]!, event("m2"), deep[1]!], WEB, [fragile, mixpanel], tally);
    expect(routed.get("fragile")).toEqual({
      events: [expect.objectContaining({ messageId: "m2", filtered: true })],
      failed: [{ pending: "destination", reason: "filters of destination:fragile threw: RangeError: Maximum call stack size exceeded", events: deep }],
    });
    expect(routed.get("mp")?.events).toHaveLength(3);
    expect(routed.get("mp")?.failed).toBeUndefined();
    expect(tally.snapshot()).toEqual({ "destination:fragile failed.filter_error": 2, "destination:fragile routed": 1, "destination:mp routed": 3 });
  });

  it("when the source's filters throw, every target the event is for gets it whole, with all stages still to run", () => {
    const tally = new RecordingTally();
    const source = {
      id: "web",
      stage: {
        transform: (e: SluiceEvent) => {
          if (e.messageId === "bad") throw new Error("boom");
          return { kept: true as const, event: { ...e, tagged: true } };
        },
      },
    };
    const bad = event("bad", { integrations: { Hook: false } });
    const routed = routeEvents([bad], source, [mixpanel, hook, lake], tally);
    const failed = [{ pending: "all", reason: "filters of source:web threw: Error: boom", events: [bad] }];
    expect(routed.get("mp")).toEqual({ events: [], failed });
    expect(routed.get("lake")).toEqual({ events: [], failed });
    expect(routed.has("hook")).toBe(false); // the integrations object rules it out, as for any event
    expect(tally.snapshot()).toEqual({ "destination:hook dropped.integrations": 1, "source:web failed.filter_error": 1 });
  });

  it("returns an empty map for no events or no targets", () => {
    const tally = new RecordingTally();
    expect(routeEvents([], WEB, [mixpanel], tally).size).toBe(0);
    expect(routeEvents([event("m1")], WEB, [], tally).size).toBe(0);
    expect(tally.counts.size).toBe(0);
  });
});

describe("compilePipeline and ingest", () => {
  const config: BuiltConfig = {
    version: 1,
    origin: "test",
    sources: [
      { id: "web", name: "Website", environment: "prod", write_keys: ["wk_web_1234", "wk_web_5678"] },
      { id: "ios", name: "iOS", environment: "prod", write_keys: ["wk_ios_1234"] },
    ],
    destinations: [
      destination({ id: "hook", name: "Hook", kind: "webhook", enabled: true, sources: ["web"], settings: {} }),
      destination({ id: "lake", name: "Data Lake", kind: "lake", enabled: true, sources: "*", settings: {} }),
      destination({ id: "off", name: "Disabled", kind: "webhook", enabled: false, sources: "*", settings: {} }),
    ],
    filters: {},
    sourceFilters: {},
  };
  const kinds = { webhook: { receivesAllEvents: false }, lake: { receivesAllEvents: true } };
  const pipeline = compilePipeline(config, kinds);
  const opts = (): NormalizeOptions => {
    let n = 0;
    return { receivedAt: new Date("2024-05-01T12:00:00.000Z"), newMessageId: () => `gen-${++n}`, requestBytes: 2048 };
  };

  it("finds sources by each of their write keys and by id", () => {
    expect(pipeline.sourceForWriteKey("wk_web_1234")?.config.id).toBe("web");
    expect(pipeline.sourceForWriteKey("wk_web_5678")?.config.id).toBe("web");
    expect(pipeline.sourceForWriteKey("wk_ios_1234")?.config.id).toBe("ios");
    expect(pipeline.sourceForWriteKey("wk_unknown")).toBeUndefined();
    expect(pipeline.source("ios")?.config.name).toBe("iOS");
    expect(pipeline.destination("hook")?.kind).toBe("webhook");
    expect(pipeline.destination("nope")).toBeUndefined();
  });

  it("targets only enabled destinations fed by the source, with the kind's receivesAllEvents", () => {
    expect(pipeline.source("web")?.targets).toEqual([
      { id: "hook", name: "Hook", receivesAllEvents: false },
      { id: "lake", name: "Data Lake", receivesAllEvents: true },
    ]);
    expect(pipeline.source("ios")?.targets).toEqual([{ id: "lake", name: "Data Lake", receivesAllEvents: true }]);
  });

  it("counts accepted and rejected (by code) per source and routes the accepted events", () => {
    const tally = new RecordingTally();
    const body = {
      batch: [
        { type: "track", userId: "u", event: "A", messageId: "a" },
        { type: "track", userId: "u", messageId: "no-event" },
        { type: "identify", userId: "u", messageId: "b", integrations: { All: false } },
        { type: "whatever", userId: "u" },
        { type: "track", event: "A" },
        { type: "page", anonymousId: "x", messageId: "c" },
      ],
    };
    const result = ingest(pipeline.source("web")!, body, "batch", opts(), tally);
    expect(result.accepted.map((e) => e.messageId)).toEqual(["a", "b", "c"]);
    expect(result.rejected.map((r) => r.index)).toEqual([1, 3, 4]);
    expect(result.routed.get("hook")?.events.map((e) => e.messageId)).toEqual(["a", "c"]);
    expect(result.routed.get("lake")?.events.map((e) => e.messageId)).toEqual(["a", "b", "c"]);
    expect(result.routed.has("off")).toBe(false);
    expect(tally.snapshot()).toEqual({
      "destination:hook dropped.integrations": 1,
      "destination:hook routed": 2,
      "destination:lake routed": 3,
      "source:web accepted": 3,
      "source:web rejected.missing_field": 1,
      "source:web rejected.missing_identity": 1,
      "source:web rejected.unknown_type": 1,
    });
  });

  it("counts under the source that sent the events", () => {
    const tally = new RecordingTally();
    ingest(pipeline.source("ios")!, { userId: "u", event: "Opened" }, "track", opts(), tally);
    ingest(pipeline.source("ios")!, { event: "Opened" }, "track", opts(), tally);
    expect(tally.get("source:ios", "accepted")).toBe(1);
    expect(tally.get("source:ios", "rejected.missing_identity")).toBe(1);
    expect(tally.get("source:web", "accepted")).toBeUndefined();
  });

  it("counts no accepted events and routes nothing when every event is rejected", () => {
    const tally = new RecordingTally();
    const result = ingest(pipeline.source("web")!, { batch: [{ type: "track", userId: "u" }] }, "batch", opts(), tally);
    expect(result.accepted).toEqual([]);
    expect(result.routed.size).toBe(0);
    expect(tally.snapshot()).toEqual({ "source:web rejected.missing_field": 1 });
  });
});

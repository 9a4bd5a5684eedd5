import { describe, expect, it } from "vitest";
import { LIMITS, normalizeRequest, type EventType, type NormalizeOptions, type NormalizeResult } from "../../src/pipeline/normalize.ts";
import { corpusEvents } from "../fixtures/corpus.ts";

const RECEIVED_AT = new Date("2024-05-01T12:00:00.000Z");

function options(overrides: Partial<NormalizeOptions> = {}): NormalizeOptions {
  let n = 0;
  return { receivedAt: RECEIVED_AT, newMessageId: () => `generated-${++n}`, requestBytes: 1024, ...overrides };
}

function normalize(body: unknown, route: EventType | "batch", overrides: Partial<NormalizeOptions> = {}): NormalizeResult {
  return normalizeRequest(body, route, options(overrides));
}

/** Normalizes one event on its own route and returns the single outcome. */
function single(body: Record<string, unknown>, route: EventType) {
  const result = normalize(body, route);
  expect(result.accepted.length + result.rejected.length).toBe(1);
  return result;
}

const utf8 = (s: string) => new TextEncoder().encode(s).length;

describe("required fields per type", () => {
  const cases: { name: string; route: EventType; body: Record<string, unknown>; code?: string }[] = [
    { name: "accepts a track event with userId and event", route: "track", body: { userId: "u1", event: "Signed Up" } },
    { name: "accepts a track event identified only by anonymousId", route: "track", body: { anonymousId: "a1", event: "Signed Up" } },
    { name: "rejects a track event without an event name", route: "track", body: { userId: "u1" }, code: "missing_field" },
    { name: "rejects a track event with an empty event name", route: "track", body: { userId: "u1", event: "" }, code: "missing_field" },
    { name: "rejects a track event whose event is not a string", route: "track", body: { userId: "u1", event: 42 }, code: "missing_field" },
    { name: "rejects a track event without userId or anonymousId", route: "track", body: { event: "Signed Up" }, code: "missing_identity" },
    { name: "accepts an identify with userId only", route: "identify", body: { userId: "u1", traits: { plan: "pro" } } },
    { name: "accepts an identify with anonymousId only", route: "identify", body: { anonymousId: "a1" } },
    { name: "rejects an identify without any identity", route: "identify", body: { traits: { plan: "pro" } }, code: "missing_identity" },
    { name: "rejects an identify whose ids are empty strings", route: "identify", body: { userId: "", anonymousId: "" }, code: "missing_identity" },
    { name: "rejects an identify whose ids are null", route: "identify", body: { userId: null, anonymousId: null }, code: "missing_identity" },
    { name: "accepts an identify whose userId is null but anonymousId is set", route: "identify", body: { userId: null, anonymousId: "a1" } },
    { name: "accepts a page without a name", route: "page", body: { anonymousId: "a1" } },
    { name: "accepts a page with a name", route: "page", body: { anonymousId: "a1", name: "Home", properties: { path: "/" } } },
    { name: "rejects a page whose name is not a string", route: "page", body: { anonymousId: "a1", name: 7 }, code: "invalid_field" },
    { name: "rejects a page without any identity", route: "page", body: { name: "Home" }, code: "missing_identity" },
    { name: "accepts a screen with a name", route: "screen", body: { userId: "u1", name: "Settings" } },
    { name: "rejects a screen whose name is an object", route: "screen", body: { userId: "u1", name: { x: 1 } }, code: "invalid_field" },
    { name: "rejects a screen without any identity", route: "screen", body: { name: "Settings" }, code: "missing_identity" },
    { name: "accepts a group with groupId", route: "group", body: { userId: "u1", groupId: "g1", traits: { name: "Acme" } } },
    { name: "rejects a group without groupId", route: "group", body: { userId: "u1" }, code: "missing_field" },
    { name: "rejects a group with an empty groupId", route: "group", body: { userId: "u1", groupId: "" }, code: "missing_field" },
    { name: "rejects a group without any identity", route: "group", body: { groupId: "g1" }, code: "missing_identity" },
    { name: "accepts an alias with userId and previousId", route: "alias", body: { userId: "u1", previousId: "a1" } },
    { name: "rejects an alias without previousId", route: "alias", body: { userId: "u1" }, code: "missing_field" },
    { name: "rejects an alias identified only by anonymousId", route: "alias", body: { anonymousId: "a1", previousId: "a0" }, code: "missing_identity" },
    { name: "rejects an alias with an empty previousId", route: "alias", body: { userId: "u1", previousId: "" }, code: "missing_field" },
  ];

  it.each(cases)("$name", ({ route, body, code }) => {
    const result = single(body, route);
    if (code === undefined) {
      expect(result.rejected).toEqual([]);
      expect(result.accepted[0]!.type).toBe(route);
    } else {
      expect(result.accepted).toEqual([]);
      expect(result.rejected[0]).toMatchObject({ index: 0, code });
      expect(result.rejected[0]!.reason).toEqual(expect.any(String));
    }
  });

  it("names the missing field in the reason", () => {
    expect(single({ userId: "u1" }, "track").rejected[0]!.reason).toContain('"event"');
    expect(single({ userId: "u1" }, "group").rejected[0]!.reason).toContain('"groupId"');
    expect(single({ userId: "u1" }, "alias").rejected[0]!.reason).toContain('"previousId"');
    expect(single({ event: "X" }, "track").rejected[0]!.reason).toMatch(/userId.*anonymousId/);
  });
});

describe("object-typed fields", () => {
  const fields = ["properties", "traits", "context", "integrations"] as const;
  const badValues: [string, unknown][] = [
    ["a list", [1, 2]],
    ["a string", "text"],
    ["a number", 5],
    ["a boolean", true],
  ];

  for (const field of fields) {
    it.each(badValues)(`rejects "${field}" when it is %s`, (_what, value) => {
      const result = single({ userId: "u1", event: "E", [field]: value }, "track");
      expect(result.rejected[0]).toMatchObject({ index: 0, code: "invalid_field" });
      expect(result.rejected[0]!.reason).toContain(`"${field}"`);
    });

    it(`accepts "${field}" when it is an object or null`, () => {
      expect(single({ userId: "u1", event: "E", [field]: { a: 1 } }, "track").accepted).toHaveLength(1);
      expect(single({ userId: "u1", event: "E", [field]: null }, "track").accepted).toHaveLength(1);
    });
  }
});

describe("messageId", () => {
  it("assigns a messageId when the event has none", () => {
    const result = single({ userId: "u1", event: "E" }, "track");
    expect(result.accepted[0]!.messageId).toBe("generated-1");
  });

  it("assigns a messageId when it is null", () => {
    expect(single({ userId: "u1", event: "E", messageId: null }, "track").accepted[0]!.messageId).toBe("generated-1");
  });

  it("assigns a distinct messageId to each item of a batch that lacks one", () => {
    const result = normalize({ batch: [{ type: "track", userId: "u", event: "A" }, { type: "track", userId: "u", event: "B" }] }, "batch");
    expect(result.accepted.map((e) => e.messageId)).toEqual(["generated-1", "generated-2"]);
  });

  it("keeps the client's messageId", () => {
    expect(single({ userId: "u1", event: "E", messageId: "client-1" }, "track").accepted[0]!.messageId).toBe("client-1");
  });

  it(`accepts a messageId of exactly ${LIMITS.maxMessageIdLength} characters`, () => {
    const id = "m".repeat(LIMITS.maxMessageIdLength);
    expect(single({ userId: "u1", event: "E", messageId: id }, "track").accepted[0]!.messageId).toBe(id);
  });

  it(`rejects a messageId longer than ${LIMITS.maxMessageIdLength} characters and reports it truncated`, () => {
    const id = "m".repeat(LIMITS.maxMessageIdLength + 1);
    const result = single({ userId: "u1", event: "E", messageId: id }, "track");
    expect(result.rejected[0]).toMatchObject({ index: 0, code: "message_id_too_long", messageId: id.slice(0, LIMITS.maxMessageIdLength) });
  });

  it.each([
    ["an empty string", ""],
    ["a number", 42],
    ["an object", { id: 1 }],
  ])("rejects a messageId that is %s", (_what, messageId) => {
    expect(single({ userId: "u1", event: "E", messageId }, "track").rejected[0]).toMatchObject({ code: "invalid_field" });
  });

  it.each([
    ["a NUL", "id\u0000x"],
    ["a newline", "id\nx"],
    ["a tab", "\tid"],
    ["DEL", "id\u007f"],
    ["a C1 control", "id\u0085x"],
  ])("rejects a messageId containing %s and accepts the rest of the batch", (_what, messageId) => {
    const result = normalize({ batch: [{ type: "track", userId: "u", event: "E", messageId }, { type: "track", userId: "u", event: "E", messageId: "good" }] }, "batch");
    expect(result.rejected).toEqual([{ index: 0, messageId, code: "invalid_message_id", reason: expect.stringContaining('"messageId"') }]);
    expect(result.accepted.map((e) => e.messageId)).toEqual(["good"]);
  });

  it("accepts a messageId with spaces, punctuation and non-ASCII letters", () => {
    const id = "order 42/été-✓:α";
    expect(single({ userId: "u1", event: "E", messageId: id }, "track").accepted[0]!.messageId).toBe(id);
  });
});

describe("timestamps", () => {
  it("sets receivedAt to the request time", () => {
    const event = single({ userId: "u1", event: "E" }, "track").accepted[0]!;
    expect(event.receivedAt).toBe(RECEIVED_AT.toISOString());
  });

  it("gives every event of a request the same receivedAt", () => {
    const batch = Array.from({ length: 5 }, (_, i) => ({ type: "track", userId: `u${i}`, event: "E", timestamp: `2024-05-01T11:0${i}:00.000Z` }));
    const result = normalize({ batch }, "batch");
    expect(new Set(result.accepted.map((e) => e.receivedAt))).toEqual(new Set([RECEIVED_AT.toISOString()]));
  });

  it("without a timestamp, timestamp = receivedAt and there is no originalTimestamp", () => {
    const event = single({ userId: "u1", event: "E" }, "track").accepted[0]!;
    expect(event.timestamp).toBe(RECEIVED_AT.toISOString());
    expect(event).not.toHaveProperty("originalTimestamp");
  });

  it("without sentAt, timestamp = originalTimestamp = the client's timestamp (as ISO UTC)", () => {
    const event = single({ userId: "u1", event: "E", timestamp: "2024-05-01T13:59:00+02:00" }, "track").accepted[0]!;
    expect(event.originalTimestamp).toBe("2024-05-01T11:59:00.000Z");
    expect(event.timestamp).toBe("2024-05-01T11:59:00.000Z");
    expect(event).not.toHaveProperty("sentAt");
  });

  it("corrects clock skew with the event's sentAt: timestamp = receivedAt − (sentAt − originalTimestamp)", () => {
    // The client's clock runs one hour ahead: it stamped the event 5 s before sending it.
    const event = single({ userId: "u1", event: "E", timestamp: "2024-05-01T13:00:00.000Z", sentAt: "2024-05-01T13:00:05.000Z" }, "track")
      .accepted[0]!;
    expect(event.originalTimestamp).toBe("2024-05-01T13:00:00.000Z");
    expect(event.sentAt).toBe("2024-05-01T13:00:05.000Z");
    expect(event.timestamp).toBe("2024-05-01T11:59:55.000Z");
    expect(event.receivedAt).toBe("2024-05-01T12:00:00.000Z");
  });

  it("writes times as Date does, dates it rolls over (Feb 30, 24:00) and fractional ms included", () => {
    for (const [timestamp, sentAt] of [
      ["2026-02-30T10:00:00.000Z", "2026-02-30T10:00:05.000Z"],
      ["2025-02-29T24:00:00.000Z", "2025-03-01T00:00:00.000Z"],
      ["2024-02-29T23:59:59.999Z", "2024-02-29T23:59:59.999Z"],
      ["2024-05-01T13:00:00.000Z", 1_714_568_405_000.75],
      [1_714_568_400_000.5, "2024-05-01T13:00:05.000Z"],
      ["0000-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"],
    ] as const) {
      const event = single({ userId: "u1", event: "E", timestamp, sentAt }, "track").accepted[0]!;
      const [t, s] = [timestamp, sentAt].map((v) => (typeof v === "number" ? v : Date.parse(v))) as [number, number];
      expect(event.originalTimestamp, String(timestamp)).toBe(new Date(timestamp).toISOString());
      expect(event.sentAt, String(sentAt)).toBe(new Date(sentAt).toISOString());
      expect(event.timestamp, String(timestamp)).toBe(new Date(RECEIVED_AT.getTime() - (s - t)).toISOString());
    }
  });

  it("uses the batch envelope's sentAt for items that have none", () => {
    const result = normalize(
      { sentAt: "2024-05-01T11:00:30.000Z", batch: [{ type: "track", userId: "u", event: "E", timestamp: "2024-05-01T11:00:00.000Z" }] },
      "batch",
    );
    const event = result.accepted[0]!;
    expect(event.timestamp).toBe("2024-05-01T11:59:30.000Z");
    expect(event.originalTimestamp).toBe("2024-05-01T11:00:00.000Z");
    expect(event.sentAt).toBe("2024-05-01T11:00:30.000Z");
  });

  it("prefers an item's own sentAt over the batch envelope's", () => {
    const result = normalize(
      {
        sentAt: "2024-05-01T11:00:30.000Z",
        batch: [{ type: "track", userId: "u", event: "E", timestamp: "2024-05-01T11:00:00.000Z", sentAt: "2024-05-01T11:00:10.000Z" }],
      },
      "batch",
    );
    expect(result.accepted[0]!.timestamp).toBe("2024-05-01T11:59:50.000Z");
    expect(result.accepted[0]!.sentAt).toBe("2024-05-01T11:00:10.000Z");
  });

  it("applies the batch sentAt to each item with its own originalTimestamp", () => {
    const result = normalize(
      {
        sentAt: "2024-05-01T10:00:00.000Z",
        batch: [
          { type: "track", userId: "u", event: "A", timestamp: "2024-05-01T09:59:00.000Z" },
          { type: "track", userId: "u", event: "B", timestamp: "2024-05-01T09:58:00.000Z" },
          { type: "track", userId: "u", event: "C" },
        ],
      },
      "batch",
    );
    expect(result.accepted.map((e) => e.timestamp)).toEqual(["2024-05-01T11:59:00.000Z", "2024-05-01T11:58:00.000Z", "2024-05-01T12:00:00.000Z"]);
  });

  it.each([
    ["timestamp", "yesterday"],
    ["sentAt", "not a date"],
    ["timestamp", { at: 1 }],
  ])("rejects an event whose %s is not a date", (field, value) => {
    const result = single({ userId: "u1", event: "E", [field]: value }, "track");
    expect(result.rejected[0]).toMatchObject({ code: "invalid_field" });
    expect(result.rejected[0]!.reason).toContain(`"${field}"`);
  });

  // Each of these once threw RangeError from toISOString(), failing the whole request.
  it.each([
    ["a timestamp of 1e16 ms", { timestamp: 1e16 }, "timestamp"],
    ["a timestamp of -1e16 ms", { timestamp: -1e16 }, "timestamp"],
    ["a sentAt of 1e16 ms", { sentAt: 1e16 }, "sentAt"],
    ["a timestamp past the last ISO date", { timestamp: "+275760-09-13T00:00:00.001Z" }, "timestamp"],
    ["a timestamp before the first ISO date", { timestamp: "-271821-04-19T23:59:59.999Z" }, "timestamp"],
    ["a skew correction that leaves the range", { timestamp: "+275760-09-13T00:00:00.000Z", sentAt: "-271821-04-20T00:00:00.000Z" }, "timestamp"],
  ])("rejects only the event with %s, accepting the rest of the batch", (_what, times, field) => {
    const batch = [{ type: "track", userId: "u", event: "Poison", messageId: "poison", ...times }, { type: "track", userId: "u", event: "Good", messageId: "good" }];
    const result = normalize({ batch }, "batch");
    expect(result.rejected).toEqual([{ index: 0, messageId: "poison", code: "invalid_field", reason: expect.stringContaining(`"${field}"`) }]);
    expect(result.accepted.map((e) => e.messageId)).toEqual(["good"]);
  });

  it("accepts the first and last dates a Date can hold", () => {
    for (const timestamp of ["+275760-09-13T00:00:00.000Z", "-271821-04-20T00:00:00.000Z", 8.64e15, -8.64e15]) {
      const event = single({ userId: "u1", event: "E", timestamp }, "track").accepted[0]!;
      expect(event.originalTimestamp).toBe(new Date(timestamp).toISOString());
    }
  });

  it("rejects only the event whose timestamp the batch sentAt moves out of range", () => {
    const batch = [
      { type: "track", userId: "u", event: "E", messageId: "far", timestamp: "-271821-04-20T00:00:00.000Z" },
      { type: "track", userId: "u", event: "E", messageId: "near", timestamp: "2024-05-01T11:00:00.000Z" },
    ];
    const result = normalize({ sentAt: "+275760-09-13T00:00:00.000Z", batch }, "batch");
    expect(result.rejected).toEqual([expect.objectContaining({ index: 0, messageId: "far", code: "invalid_field" })]);
    expect(result.accepted.map((e) => e.messageId)).toEqual(["near"]);
  });

  it.each([1e16, "+275761-01-01T00:00:00.000Z", "not a date", { at: 1 }])("makes a batch sentAt of %j invalidate the request", (sentAt) => {
    const result = normalize({ sentAt, batch: [{ type: "track", userId: "u", event: "E" }] }, "batch");
    expect(result).toEqual({ accepted: [], rejected: [], invalid: { code: "invalid_field", reason: expect.stringContaining('batch "sentAt"') } });
  });
});

describe("nesting depth", () => {
  /** An object nested `levels` deep, counting itself: levels 1 is `{}`. */
  const nested = (levels: number): Record<string, unknown> => {
    let v: Record<string, unknown> = {};
    for (let i = 1; i < levels; i++) v = { a: v };
    return v;
  };
  const list = (levels: number): unknown[] => {
    let v: unknown[] = [];
    for (let i = 1; i < levels; i++) v = [v];
    return v;
  };

  it(`accepts an event nested exactly ${LIMITS.maxDepth} levels deep, the event being the first`, () => {
    const event = single({ userId: "u1", event: "E", properties: nested(LIMITS.maxDepth - 1) }, "track").accepted[0]!;
    expect(event.properties).toEqual(nested(LIMITS.maxDepth - 1));
  });

  it.each([
    ["one level too deep in properties", { properties: nested(LIMITS.maxDepth) }],
    ["one level too deep in a list", { properties: { list: list(LIMITS.maxDepth - 1) } }],
    ["thousands of levels deep", { properties: nested(10_000) }],
    ["thousands of levels deep in an unknown field", { extra: list(10_000) }],
  ])("rejects only the event %s, accepting the rest of the batch", (_what, extra) => {
    const batch = [{ type: "track", userId: "u", event: "Deep", messageId: "deep", ...extra }, { type: "track", userId: "u", event: "Good", messageId: "good" }];
    // Above 32 KB the size check runs too; it must not be what meets the deep event (JSON.stringify overflows).
    for (const requestBytes of [1024, 100_000]) {
      const result = normalize({ batch }, "batch", { requestBytes });
      expect(result.rejected).toEqual([{ index: 0, messageId: "deep", code: "nesting_too_deep", reason: expect.stringContaining(String(LIMITS.maxDepth)) }]);
      expect(result.accepted.map((e) => e.messageId)).toEqual(["good"]);
    }
  });

  it("rejects a deep event on a single-event route", () => {
    expect(single({ userId: "u1", event: "E", traits: nested(10_000) }, "track").rejected[0]).toMatchObject({ code: "nesting_too_deep" });
  });

  it("rejects an item whose type is deeply nested without stringifying it", () => {
    const result = normalize({ batch: [{ type: list(10_000), userId: "u", event: "E" }, { type: "track", userId: "u", event: "E" }] }, "batch", { requestBytes: 100_000 });
    expect(result.rejected).toEqual([{ index: 0, code: "unknown_type", reason: '"type" must be a string' }]);
    expect(result.accepted).toHaveLength(1);
  });

  it.each(["context", "integrations"])("takes one level off for batch-level %s, which is merged into each event", (field) => {
    const ok = normalize({ [field]: nested(LIMITS.maxDepth - 1), batch: [{ type: "track", userId: "u", event: "E" }] }, "batch");
    expect(ok.accepted).toHaveLength(1);
    for (const levels of [LIMITS.maxDepth, 10_000]) {
      const result = normalize({ [field]: nested(levels), batch: [{ type: "track", userId: "u", event: "E" }] }, "batch", { requestBytes: 100_000 });
      expect(result).toEqual({ accepted: [], rejected: [], invalid: { code: "nesting_too_deep", reason: expect.stringContaining(`batch "${field}"`) } });
    }
  });
});

describe("batch envelope", () => {
  it("merges batch-level context into each item, the item's keys winning", () => {
    const result = normalize(
      {
        context: { library: { name: "analytics-node" }, ip: "1.1.1.1" },
        batch: [
          { type: "track", userId: "u", event: "A", context: { ip: "2.2.2.2", locale: "fr-FR" } },
          { type: "track", userId: "u", event: "B" },
        ],
      },
      "batch",
    );
    expect(result.accepted[0]!.context).toEqual({ library: { name: "analytics-node" }, ip: "2.2.2.2", locale: "fr-FR" });
    expect(result.accepted[1]!.context).toEqual({ library: { name: "analytics-node" }, ip: "1.1.1.1" });
  });

  it("merges batch-level integrations into each item, the item's keys winning", () => {
    const result = normalize(
      {
        integrations: { All: false, Mixpanel: true },
        batch: [
          { type: "track", userId: "u", event: "A", integrations: { Mixpanel: false, Amplitude: true } },
          { type: "track", userId: "u", event: "B" },
        ],
      },
      "batch",
    );
    expect(result.accepted[0]!.integrations).toEqual({ All: false, Mixpanel: false, Amplitude: true });
    expect(result.accepted[1]!.integrations).toEqual({ All: false, Mixpanel: true });
  });

  it("gives each item its own merged context object", () => {
    const result = normalize({ context: { ip: "1.1.1.1" }, batch: [{ type: "track", userId: "u", event: "A" }, { type: "track", userId: "u", event: "B" }] }, "batch");
    const [a, b] = result.accepted;
    expect(a!.context).not.toBe(b!.context);
    (a!.context as Record<string, unknown>).ip = "changed";
    expect((b!.context as Record<string, unknown>).ip).toBe("1.1.1.1");
  });

  it("leaves context absent when neither the batch nor the item has one", () => {
    const result = normalize({ batch: [{ type: "track", userId: "u", event: "A" }] }, "batch");
    expect(result.accepted[0]).not.toHaveProperty("context");
  });
});

describe("writeKey", () => {
  it("strips writeKey from a single event", () => {
    const event = single({ userId: "u1", event: "E", writeKey: "wk_secret_123" }, "track").accepted[0]!;
    expect(event).not.toHaveProperty("writeKey");
    expect(JSON.stringify(event)).not.toContain("wk_secret_123");
  });

  it("strips writeKey from batch items and never copies the envelope's", () => {
    const result = normalize({ writeKey: "wk_envelope_1", batch: [{ type: "identify", userId: "u", writeKey: "wk_item_1" }] }, "batch");
    const event = result.accepted[0]!;
    expect(event).not.toHaveProperty("writeKey");
    expect(JSON.stringify(event)).not.toMatch(/wk_envelope_1|wk_item_1/);
  });
});

describe("prototype pollution", () => {
  const proto = Object.prototype as Record<string, unknown>;

  it("never lets __proto__ keys of an event pollute prototypes", () => {
    const body = JSON.parse(
      '{"userId":"u1","event":"E","__proto__":{"polluted":"top"},"properties":{"__proto__":{"polluted":"props"}},' +
        '"context":{"__proto__":{"polluted":"ctx"}},"integrations":{"__proto__":{"All":false}}}',
    ) as Record<string, unknown>;
    const event = single(body, "track").accepted[0]!;
    expect(proto.polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(event)).toBe(Object.prototype);
    expect(event.polluted).toBeUndefined();
    for (const field of ["properties", "context", "integrations"]) {
      const value = event[field] as Record<string, unknown>;
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect(value.polluted).toBeUndefined();
      expect(value.All).toBeUndefined();
    }
  });

  it("never lets __proto__ keys of a batch envelope or item pollute prototypes when merging", () => {
    const body = JSON.parse(
      '{"__proto__":{"polluted":"body"},"context":{"__proto__":{"polluted":"envctx"},"ip":"1.1.1.1"},' +
        '"integrations":{"__proto__":{"All":false}},' +
        '"batch":[{"type":"track","userId":"u","event":"E","__proto__":{"polluted":"item"},"context":{"__proto__":{"polluted":"itemctx"}}}]}',
    ) as unknown;
    const result = normalize(body, "batch");
    expect(result.rejected).toEqual([]);
    const event = result.accepted[0]!;
    expect(proto.polluted).toBeUndefined();
    expect(proto.All).toBeUndefined();
    expect(Object.getPrototypeOf(event)).toBe(Object.prototype);
    expect(event.polluted).toBeUndefined();
    const context = event.context as Record<string, unknown>;
    const integrations = event.integrations as Record<string, unknown>;
    expect(Object.getPrototypeOf(context)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(integrations)).toBe(Object.prototype);
    expect(context.polluted).toBeUndefined();
    expect(context.ip).toBe("1.1.1.1");
    expect(integrations.All).toBeUndefined();
  });
});

describe("types", () => {
  it("rejects a batch item with an unknown type", () => {
    const result = normalize({ batch: [{ type: "purchase", userId: "u", messageId: "m1" }] }, "batch");
    expect(result.rejected).toEqual([{ index: 0, messageId: "m1", code: "unknown_type", reason: expect.stringContaining('"purchase"') }]);
  });

  it("rejects a batch item without a type", () => {
    const result = normalize({ batch: [{ userId: "u", event: "E" }] }, "batch");
    expect(result.rejected[0]).toMatchObject({ index: 0, code: "unknown_type", reason: expect.stringContaining('"type"') });
  });

  it.each(["Track", "constructor", "toString", "batch"])("rejects the type %j in a batch", (type) => {
    expect(normalize({ batch: [{ type, userId: "u", event: "E" }] }, "batch").rejected[0]).toMatchObject({ code: "unknown_type" });
  });

  it("takes the type from the route on single-event routes", () => {
    const event = single({ type: "identify", userId: "u1", event: "E" }, "track").accepted[0]!;
    expect(event.type).toBe("track");
  });

  it("rejects a single-event body that is not an object", () => {
    for (const body of [null, "text", 42, [{ userId: "u" }]]) {
      const result = normalize(body, "track");
      expect(result.rejected).toEqual([{ index: 0, code: "invalid_event", reason: expect.any(String) }]);
    }
  });

  it("makes a batch body without a batch list invalidate the request", () => {
    for (const body of [null, [], { batch: "x" }, { events: [] }]) {
      const result = normalize(body, "batch");
      expect(result).toEqual({ accepted: [], rejected: [], invalid: { code: "invalid_event", reason: expect.stringContaining('"batch"') } });
    }
  });

  it("accepts an empty batch with nothing accepted or rejected", () => {
    expect(normalize({ batch: [] }, "batch")).toEqual({ accepted: [], rejected: [] });
  });
});

describe("event size", () => {
  /** A track event whose JSON is exactly `bytes` long (ASCII padding). */
  function eventOfSize(bytes: number, messageId: string): Record<string, unknown> {
    const event = { type: "track", userId: "u", event: "Big", messageId, properties: { pad: "" } };
    const base = utf8(JSON.stringify(event));
    event.properties.pad = "x".repeat(bytes - base);
    expect(utf8(JSON.stringify(event))).toBe(bytes);
    return event;
  }

  it("rejects an oversize event in a batch larger than 32 KB and accepts the others", () => {
    const batch = [
      { type: "track", userId: "u", event: "Small", messageId: "m0" },
      { type: "track", userId: "u", event: "Big", messageId: "m1", properties: { blob: "x".repeat(33 * 1024) } },
      { type: "identify", userId: "u", messageId: "m2" },
    ];
    const body = { batch };
    const result = normalize(body, "batch", { requestBytes: utf8(JSON.stringify(body)) });
    expect(result.accepted.map((e) => e.messageId)).toEqual(["m0", "m2"]);
    expect(result.rejected).toEqual([{ index: 1, messageId: "m1", code: "event_too_large", reason: expect.stringContaining(String(LIMITS.maxEventBytes)) }]);
  });

  it(`accepts an event of exactly ${LIMITS.maxEventBytes} bytes and rejects one byte more`, () => {
    const body = { batch: [eventOfSize(LIMITS.maxEventBytes, "exact"), eventOfSize(LIMITS.maxEventBytes + 1, "over")] };
    const result = normalize(body, "batch", { requestBytes: utf8(JSON.stringify(body)) });
    expect(result.accepted.map((e) => e.messageId)).toEqual(["exact"]);
    expect(result.rejected).toMatchObject([{ index: 1, messageId: "over", code: "event_too_large" }]);
  });

  it("measures event size in UTF-8 bytes, not characters", () => {
    // 17,000 "é" are 34,000 bytes but only 17,000 characters.
    const big = { type: "track", userId: "u", event: "Accents", messageId: "accents", properties: { text: "é".repeat(17_000) } };
    expect(JSON.stringify(big).length).toBeLessThan(LIMITS.maxEventBytes);
    const body = { batch: [big] };
    const result = normalize(body, "batch", { requestBytes: utf8(JSON.stringify(body)) });
    expect(result.rejected).toMatchObject([{ index: 0, messageId: "accents", code: "event_too_large" }]);
  });

  it("rejects a batch item that is over 32 KB once the batch-level context is merged into it", () => {
    // Each item is small, but the envelope's context is copied into every item: left unchecked, one accepted
    // event is ~140 KB, more than a Queue message can hold (128 KB), and 2,500 such items would be ~350 MB.
    const body = {
      context: { blob: "x".repeat(140 * 1024) },
      batch: [
        { type: "track", userId: "u", event: "A", messageId: "a" },
        { type: "track", userId: "u", event: "B", messageId: "b" },
      ],
    };
    const result = normalize(body, "batch", { requestBytes: utf8(JSON.stringify(body)) });
    for (const e of result.accepted) expect(utf8(JSON.stringify(e))).toBeLessThanOrEqual(LIMITS.maxEventBytes + 1024);
    expect(result.rejected).toMatchObject([
      { index: 0, messageId: "a", code: "event_too_large" },
      { index: 1, messageId: "b", code: "event_too_large" },
    ]);
  });

  it("rejects an oversize event on a single-event route", () => {
    const body = { userId: "u", event: "Big", properties: { blob: "y".repeat(40_000) } };
    const result = normalize(body, "track", { requestBytes: utf8(JSON.stringify(body)) });
    expect(result.rejected).toMatchObject([{ index: 0, code: "event_too_large" }]);
  });
});

describe("partial batches", () => {
  it("accepts the valid items in order and reports each rejection with index, messageId, code and reason", () => {
    const body = {
      batch: [
        { type: "track", userId: "u", event: "A", messageId: "ok-0" },
        { type: "track", userId: "u", messageId: "no-event" },
        "not an object",
        { type: "identify", messageId: "no-identity" },
        { type: "page", anonymousId: "a", messageId: "ok-4" },
        { type: "group", userId: "u", messageId: "no-group" },
        { type: "alias", userId: "u", previousId: "p", messageId: "ok-6" },
        { type: "track", userId: "u", event: "A", properties: [], messageId: "bad-props" },
        { type: "nonsense", userId: "u", messageId: "bad-type" },
        { type: "screen", userId: "u" },
      ],
    };
    const result = normalize(body, "batch");
    expect(result.accepted.map((e) => [e.type, e.messageId])).toEqual([
      ["track", "ok-0"],
      ["page", "ok-4"],
      ["alias", "ok-6"],
      ["screen", "generated-1"],
    ]);
    expect(result.rejected.map(({ index, messageId, code }) => ({ index, messageId, code }))).toEqual([
      { index: 1, messageId: "no-event", code: "missing_field" },
      { index: 2, messageId: undefined, code: "invalid_event" },
      { index: 3, messageId: "no-identity", code: "missing_identity" },
      { index: 5, messageId: "no-group", code: "missing_field" },
      { index: 7, messageId: "bad-props", code: "invalid_field" },
      { index: 8, messageId: "bad-type", code: "unknown_type" },
    ]);
    for (const r of result.rejected) expect(r.reason.length).toBeGreaterThan(0);
  });
});

describe("the corpus (test/fixtures/events-5k.ndjson)", () => {
  const events = corpusEvents();

  it("normalizes every event as accepted via a batch route, each keeping its messageId and type", () => {
    expect(events.length).toBe(5000);
    for (let start = 0; start < events.length; start += LIMITS.maxBatchEvents) {
      const chunk = events.slice(start, start + LIMITS.maxBatchEvents);
      const body = { sentAt: "2026-11-26T00:00:00.000Z", batch: chunk };
      const result = normalize(body, "batch", { requestBytes: utf8(JSON.stringify(body)) });
      expect(result.rejected).toEqual([]);
      expect(result.accepted.map((e) => e.messageId)).toEqual(chunk.map((e) => e.messageId));
      expect(result.accepted.map((e) => e.type)).toEqual(chunk.map((e) => e.type));
      for (const e of result.accepted) {
        expect(e.receivedAt).toBe(RECEIVED_AT.toISOString());
        expect(Number.isNaN(Date.parse(e.timestamp))).toBe(false);
      }
    }
  });
});

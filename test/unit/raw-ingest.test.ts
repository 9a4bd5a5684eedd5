/**
 * The raw ingest message (v2): the edge checks a request (checkRequest) and queues its body text; the router builds
 * the events from it (parseIngestMessage). The events must be exactly those the edge built before (normalizeRequest,
 * then JSON through a v1 message): same enrichment, same ids, same rejections.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkRequest, LIMITS, normalizeRequest, type EventType } from "../../src/pipeline/normalize.ts";
import { enqueue, parseIngestMessage, rawIngestBody } from "../../src/queue/messages.ts";
import { corpusEvents } from "../fixtures/corpus.ts";

const RECEIVED_AT = new Date("2024-05-01T12:00:00.000Z");
const counter = () => {
  let n = 0;
  return () => `gen-${++n}`;
};

/** Today's edge (events built, then carried as JSON) against the edge's check + the router's build from the text. */
function bothPaths(text: string, route: EventType | "batch", receivedAt = RECEIVED_AT) {
  const requestBytes = new TextEncoder().encode(text).length;
  const old = normalizeRequest(JSON.parse(text), route, { receivedAt, requestBytes, newMessageId: counter() });
  const checked = checkRequest(JSON.parse(text), route, { receivedAt, requestBytes, newMessageId: counter() });
  const message = checked.accepted > 0 ? rawIngestBody({ source: "web", t0: receivedAt.getTime(), route }, checked, text) : undefined;
  const parsed = message ? parseIngestMessage(message.body) : undefined;
  return { old, checked, message, parsed, viaV1: JSON.parse(JSON.stringify(old.accepted)) as unknown };
}

function expectSame(text: string, route: EventType | "batch", receivedAt = RECEIVED_AT) {
  const { old, checked, message, parsed, viaV1 } = bothPaths(text, route, receivedAt);
  expect(checked.invalid).toEqual(old.invalid);
  expect(checked.rejected).toEqual(old.rejected);
  expect(checked.accepted).toBe(old.accepted.length);
  if (old.accepted.length === 0) return expect(message).toBeUndefined();
  expect(message!.bytes).toBe(new TextEncoder().encode(message!.body).length);
  expect(parsed).toBeDefined();
  expect(parsed!.events).toEqual(viaV1);
  expect(parsed!.t0).toBe(receivedAt.getTime());
}

describe("old path and raw path build the same events", () => {
  const corpus = corpusEvents();

  it("for every corpus event, in batches with a batch envelope", () => {
    for (let i = 0; i < corpus.length; i += 100) {
      const batch = corpus.slice(i, i + 100).map((e, j) => (j % 3 === 0 ? { ...e, messageId: undefined, writeKey: "wk" } : e));
      const body = { batch, sentAt: "2024-05-01T11:59:58.000Z", context: { library: { name: "batch" }, ip: "1.2.3.4" }, integrations: { All: true }, writeKey: "wk" };
      expectSame(JSON.stringify(body), "batch");
    }
  });

  it("for every corpus event, alone on its type's route", () => {
    for (const e of corpus) expectSame(JSON.stringify({ ...e, sentAt: "2024-05-01T11:59:59.000Z" }), e.type as EventType);
  });

  it("for odd events: rejected ones, missing ids, writeKey, __proto__, skewed clocks, nesting, oversize", () => {
    const deep = (n: number): unknown => (n === 0 ? 1 : { d: deep(n - 1) });
    const batch = [
      { type: "track", userId: "u", event: "E", messageId: "m-1" },
      { type: "track", userId: "u" },
      "not an object",
      { type: "nope", userId: "u" },
      { type: "identify", anonymousId: "a", traits: { email: "x@example.com" }, writeKey: "wk_secret" },
      { type: "track", userId: "u", event: "E", timestamp: "2024-05-01T11:00:00.000Z", sentAt: 1_714_564_790_000 },
      { type: "track", userId: "u", event: "E", timestamp: "garbage" },
      { type: "page", userId: 7, name: null, properties: null },
      { type: "track", userId: "u", event: "Big", properties: { blob: "x".repeat(LIMITS.maxEventBytes) } },
      { type: "track", userId: "u", event: "Deep", properties: deep(LIMITS.maxDepth + 2) },
      { type: "alias", userId: "u", previousId: "p", context: { ip: "9.9.9.9" }, integrations: { Mixpanel: false } },
      { type: "group", userId: "u", groupId: "g", messageId: "x".repeat(101) },
      { type: "screen", anonymousId: "a", messageId: "bad\u0001id" },
    ];
    const text = JSON.stringify({ batch, context: { locale: "fr" }, sentAt: "2024-05-01T11:59:00.000Z" }).replace('{"type":"track","userId":"u"}', '{"type":"track","userId":"u","__proto__":{"polluted":true},"event":"P"}');
    const { old, parsed } = bothPaths(text, "batch");
    expect(old.rejected.map((r) => r.code)).toEqual(["invalid_event", "unknown_type", "invalid_field", "event_too_large", "nesting_too_deep", "message_id_too_long", "invalid_message_id"]);
    expectSame(text, "batch");
    for (const e of parsed!.events) expect(e).not.toHaveProperty("writeKey");
    // The oversize event took gen-5 before it was measured, on both paths; it is not routed, nor is its id.
    expect(parsed!.events.map((e) => e.messageId)).toEqual(["m-1", "gen-1", "gen-2", "gen-3", "gen-4", "gen-6"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("for generated events and envelopes", () => {
    const id = fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(undefined), fc.constant(null));
    const time = fc.oneof(fc.constant(undefined), fc.date({ min: new Date(-1e15), max: new Date(1e15), noInvalidDate: true }).map((d) => d.toISOString()), fc.integer(), fc.string({ maxLength: 6 }));
    const event = fc.record(
      {
        type: fc.constantFrom("track", "identify", "page", "screen", "group", "alias", "other"),
        userId: id, anonymousId: id, previousId: id, groupId: id, event: fc.oneof(fc.string({ maxLength: 3 }), fc.constant(undefined)),
        messageId: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 3 })), timestamp: time, sentAt: time,
        properties: fc.oneof(fc.constant(undefined), fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 2 }))),
        context: fc.oneof(fc.constant(undefined), fc.constant(null), fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 }))),
        writeKey: fc.oneof(fc.constant(undefined), fc.constant("wk")),
      },
      { requiredKeys: [] },
    );
    const envelope = fc.record({ context: fc.dictionary(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 })), integrations: fc.dictionary(fc.string({ maxLength: 3 }), fc.boolean()), sentAt: time }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 8 }), envelope, fc.integer({ min: 0, max: 2e12 }), (batch, env, now) => {
        const text = JSON.stringify({ ...env, batch });
        expectSame(text, "batch", new Date(now));
        if (batch[0]) expectSame(JSON.stringify(batch[0]), "track", new Date(now));
      }),
      { numRuns: 300 },
    );
  });
});

describe("parseIngestMessage", () => {
  const text = JSON.stringify({ batch: [{ type: "track", userId: "u", event: "A" }, { type: "track" }, { type: "track", userId: "u", event: "B", messageId: "b" }] });
  const checked = () => checkRequest(JSON.parse(text), "batch", { receivedAt: RECEIVED_AT, requestBytes: text.length, newMessageId: () => "edge-id" });

  it("builds the accepted events only, with the edge's ids, and the header's counts", () => {
    const c = checked();
    expect(c).toMatchObject({ accepted: 2, ids: { 0: "edge-id" } });
    const m = parseIngestMessage(rawIngestBody({ source: "web", t0: RECEIVED_AT.getTime(), route: "batch", counts: { requests: 1 } }, c, text).body)!;
    expect(m).toMatchObject({ kind: "ingest", source: "web", t0: RECEIVED_AT.getTime(), counts: { requests: 1 } });
    expect(m.events.map((e) => [e.event, e.messageId, e.receivedAt])).toEqual([["A", "edge-id", "2024-05-01T12:00:00.000Z"], ["B", "b", "2024-05-01T12:00:00.000Z"]]);
  });

  it("refuses a raw message whose events are not those the edge accepted (it is dead-lettered whole, not half routed)", () => {
    const good = rawIngestBody({ source: "web", t0: RECEIVED_AT.getTime(), route: "batch" }, checked(), text).body;
    const [head, body] = [good.slice(0, good.indexOf("\n")), good.slice(good.indexOf("\n") + 1)];
    const withHeader = (patch: Record<string, unknown>) => `${JSON.stringify({ ...JSON.parse(head), ...patch })}\n${body}`;
    expect(parseIngestMessage(withHeader({}))).toBeDefined();
    expect(parseIngestMessage(withHeader({ n: 3 }))).toBeUndefined(); // a count that does not match
    expect(parseIngestMessage(withHeader({ skip: [] }))).toBeUndefined(); // a rejected event not skipped
    expect(parseIngestMessage(withHeader({ ids: {} }))).toBeUndefined(); // an id the edge did not fix
    // Each message replays its own ids: one refused for a missing id leaves the next one's untouched.
    expect(parseIngestMessage(withHeader({ ids: { 0: "next-id" } }))!.events.map((e) => e.messageId)).toEqual(["next-id", "b"]);
    expect(parseIngestMessage(withHeader({ route: "nope" }))).toBeUndefined();
    expect(parseIngestMessage(`${head}\n{"batch":`)).toBeUndefined();
    expect(parseIngestMessage(head)).toBeUndefined();
  });

  it("still parses the messages of the release before (v1: events built at the edge)", async () => {
    const sent: string[] = [];
    const events = normalizeRequest(JSON.parse(text), "batch", { receivedAt: RECEIVED_AT, requestBytes: text.length, newMessageId: () => "old-id" }).accepted;
    await enqueue({ sendBatch: async (ms) => void sent.push(...ms.map((m) => m.body as string)) }, { kind: "ingest", source: "web", t0: 5 }, events, { first: { counts: { requests: 1 } } });
    const m = parseIngestMessage(sent[0]!)!;
    expect(m).toMatchObject({ v: 1, source: "web", t0: 5, counts: { requests: 1 } });
    expect(m.events).toEqual(JSON.parse(JSON.stringify(events)));
  });
});

/** Segment's /v1/batch as its HTTP Tracking API documents it, and a Sluice receiving what Sluice forwards. */
import { describe, expect, it } from "vitest";
import { normalizeRequest, type SluiceEvent } from "../../src/pipeline/normalize.ts";
import { corpusEvents } from "../../test/fixtures/corpus.ts";
import { checkedSettings, json, NOW, recordingFetch, vendorContext } from "../../test/support/vendor-fetch.ts";
import { segment } from "./index.ts";

function ev(fields: Record<string, unknown>): SluiceEvent {
  return { type: "track", event: "E", userId: "u", messageId: "m-1", timestamp: "2026-11-23T11:00:00.000Z", receivedAt: "2026-11-23T11:00:01.000Z", ...fields } as SluiceEvent;
}

async function run(events: SluiceEvent[], raw: Record<string, unknown> = { write_key: "${env.SEGMENT_WRITE_KEY}" }) {
  const { fetch, requests } = recordingFetch(() => json(200, { success: true }));
  const results = await segment.deliver(events, vendorContext(checkedSettings(segment, raw), fetch));
  return { results, requests, bodies: requests.map((r) => JSON.parse(r.body) as { batch: SluiceEvent[]; sentAt: string }) };
}

describe("segment", () => {
  it("posts the events as they are to api.segment.io/v1/batch with Basic write_key:", async () => {
    const events = [ev({ messageId: "a", context: { ip: "1.2.3.4", traits: { email: "x@y" } }, integrations: { Mixpanel: false } }), ev({ messageId: "b", type: "identify", traits: { plan: "pro" } })];
    const { requests, bodies, results } = await run(events);
    expect(results).toEqual([{ ok: true }, { ok: true }]);
    expect(requests[0]!.url).toBe("https://api.segment.io/v1/batch");
    expect(requests[0]!.headers.get("authorization")).toBe(`Basic ${btoa("secret:SEGMENT_WRITE_KEY:")}`);
    expect(bodies[0]).toEqual({ batch: events, sentAt: new Date(NOW).toISOString() });
  });

  it("endpoint points it at Segment's EU region or any Segment-compatible receiver", async () => {
    const { requests } = await run([ev({})], { write_key: "k", endpoint: "https://events.eu1.segmentapis.com/" });
    expect(requests[0]!.url).toBe("https://events.eu1.segmentapis.com/v1/batch");
  });

  it("another Sluice accepts every forwarded event unchanged (its normalizer, the shape of accept())", async () => {
    const corpus = corpusEvents<SluiceEvent>().slice(0, 600).map((e): SluiceEvent => ({ ...e, receivedAt: "2026-11-23T12:00:00.000Z" }));
    const { requests } = await run(corpus);
    expect(requests.length).toBeGreaterThan(1);
    const received: SluiceEvent[] = [];
    for (const request of requests) {
      const out = normalizeRequest(JSON.parse(request.body), "batch", { receivedAt: new Date(NOW), newMessageId: () => "generated", requestBytes: request.body.length });
      expect(out.invalid).toBeUndefined();
      expect(out.rejected).toEqual([]);
      received.push(...out.accepted);
    }
    expect(received.map((e) => e.messageId)).toEqual(corpus.map((e) => e.messageId));
    expect(received.map((e) => [e.type, e.userId, e.anonymousId, e.event ?? e.name, e.properties ?? e.traits])).toEqual(corpus.map((e) => [e.type, e.userId, e.anonymousId, e.event ?? e.name, e.properties ?? e.traits]));
  });

  it("an event over 32 KB fails alone, finally; its neighbours go", async () => {
    const { results, bodies } = await run([ev({ messageId: "big", properties: { blob: "x".repeat(33 * 1024) } }), ev({ messageId: "small" })]);
    expect(results.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["too_large", "ok"]);
    expect(bodies[0]!.batch.map((e) => e.messageId)).toEqual(["small"]);
  });
});

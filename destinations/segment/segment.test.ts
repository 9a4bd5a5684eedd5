/** Segment's /v1/batch as its HTTP Tracking API documents it, and a Sluice receiving what Sluice forwards. */
import { EdgeCounts } from "../../src/ingest/counts.ts";
import { describe, expect, it } from "vitest";
import type { BuiltConfig } from "../../src/config/model.ts";
import { accept } from "../../src/ingest/accept.ts";
import type { IngestPorts } from "../../src/ingest/ports.ts";
import { compilePipeline } from "../../src/pipeline/compile.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { parseIngestMessage } from "../../src/queue/messages.ts";
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

  it("another Sluice accepts every forwarded event unchanged, through its own accept() with the write key", async () => {
    const corpus = corpusEvents<SluiceEvent>().slice(0, 600).map((e): SluiceEvent => ({ ...e, receivedAt: "2026-11-23T12:00:00.000Z" }));
    // The receiving Sluice: its request path with in-memory ports; what it queues is what it accepted.
    const downstream: BuiltConfig = { version: 1, origin: "test", sources: [{ id: "upstream", name: "Upstream", environment: "prod", write_keys: ["wk_downstream_1"] }], destinations: [], filters: {}, sourceFilters: {} };
    const pipeline = compilePipeline(downstream, {});
    const queued: SluiceEvent[] = [];
    const ports: IngestPorts = {
      pipeline: () => pipeline,
      stats: new EdgeCounts({ count: () => {}, flush: async () => {} }),
      ingest: { sendBatch: async (messages) => void messages.forEach((m) => queued.push(...parseIngestMessage(m.body)!.events)) },
      clock: () => new Date(NOW),
      newMessageId: () => "generated",
      waitUntil: () => {},
    };
    const replies: { status: number; accepted: unknown }[] = [];
    const fetch = (async (url: RequestInfo | URL, init?: RequestInit) => {
      const body = String(init?.body);
      const reply = await accept(
        { route: new URL(String(url)).pathname.replace("/v1/", ""), path: new URL(String(url)).pathname, authorization: new Headers(init?.headers).get("authorization"), readBody: async () => ({ json: JSON.parse(body), bytes: new TextEncoder().encode(body).length }) },
        ports,
      );
      replies.push({ status: reply.status, accepted: reply.body.accepted });
      return json(reply.status, reply.body);
    }) as typeof globalThis.fetch;
    const results = await segment.deliver(corpus, vendorContext(checkedSettings(segment, { write_key: "wk_downstream_1", endpoint: "https://sluice.example" }), fetch));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(replies.length).toBeGreaterThan(1);
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(queued.map((e) => e.messageId)).toEqual(corpus.map((e) => e.messageId));
    // Everything the downstream reads comes through, the time included: the client's sentAt does not move it again.
    const fields = (e: SluiceEvent) => [e.type, e.userId, e.anonymousId, e.event ?? e.name, e.properties ?? e.traits, e.context, e.integrations, e.timestamp];
    expect(queued.map(fields)).toEqual(corpus.map(fields));
    expect(corpus.filter((e) => e.sentAt !== undefined).length).toBeGreaterThan(500);
  });

  it("an event over 32 KB fails alone, finally; its neighbours go", async () => {
    const { results, bodies } = await run([ev({ messageId: "big", properties: { blob: "x".repeat(33 * 1024) } }), ev({ messageId: "small" })]);
    expect(results.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["too_large", "ok"]);
    expect(bodies[0]!.batch.map((e) => e.messageId)).toEqual(["small"]);
  });
});

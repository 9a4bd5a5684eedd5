/**
 * The Tracking API's HTTP layer through `app.request()` with fake ports (no workerd): write-key errors, body limits,
 * partial batches, rate limits, queue failures and what they give back, CORS; and that the request path's one
 * durable write is the ingest queue (no dedup, plan, filter, R2 or delivery work). The worker project covers the same
 * routes against real bindings (test/worker/ingest.test.ts, limits.test.ts, refunds.test.ts).
 */
import { describe, expect, it } from "vitest";
import type { BuiltConfig } from "../../src/config/model.ts";
import { createApp, type SluiceEnv } from "../../src/http/app.ts";
import type { IngestGuards } from "../../src/ingest/ports.ts";
import type { Admission } from "../../src/limits/lease.ts";
import { compilePipeline } from "../../src/pipeline/compile.ts";
import { LIMITS } from "../../src/pipeline/normalize.ts";
import { INGEST_TARGET_BYTES, parseIngestMessage } from "../../src/queue/messages.ts";
import { Telemetry } from "../../src/telemetry.ts";

const KEY = "wk_unit_web";
const basic = (key: string) => `Basic ${btoa(`${key}:`)}`;

const config: BuiltConfig = {
  version: 1,
  origin: "test/unit/http-ingest.test.ts",
  sources: [{ id: "web", name: "Website", write_keys: [KEY] } as BuiltConfig["sources"][number]],
  destinations: [
    {
      id: "hook",
      name: "Hook",
      kind: "webhook",
      enabled: true,
      sources: "*",
      settings: { url: "https://hooks.example.com/in" },
      retry: { window_hours: 4, base_delay_seconds: 5, max_delay_seconds: 1800 },
      circuit_breaker: { failures_to_open: 10, cooldown_seconds: 15, max_cooldown_seconds: 600 },
    },
  ],
  filters: {},
  sourceFilters: {},
  plans: { strict: [{ type: "track", key: "Signed Up", version: 1, schema: { properties: { properties: { required: ["never_sent"] } } } }] as never },
};
config.sources[0]!.tracking_plan = "strict";

interface Harness {
  request(path: string, init?: RequestInit): Promise<Response>;
  /** Messages sent to the ingest queue, parsed. */
  delivered(): ReturnType<typeof parseIngestMessage>[];
  /** Raw bodies sent to the ingest queue. */
  sent: MessageSendRequest[];
  refunds: Admission[];
  /** Bindings other than INGEST the request touched, and pipeline stages it ran (plan, source filters). */
  touched: string[];
  /** Counts that reached the isolate's Telemetry (`<scope> <metric>`). */
  counted: string[];
}

/** The app as src/index.ts builds it, over in-memory bindings; `guards` and `sendBatch` replace the parts a test needs. */
function harness(options: { admission?: Admission | (() => Admission); sendBatch?: (msgs: MessageSendRequest[]) => Promise<unknown>; newMessageId?: () => string; uncompiled?: true } = {}): Harness {
  const sent: MessageSendRequest[] = [];
  const touched: string[] = [];
  const h = { refunds: [] as Admission[] };
  const pipeline = compilePipeline(config, {}, {});
  // The source's plan and filters record when they run: the request path must run neither.
  const web = pipeline.source("web")!;
  const plan = web.plan!;
  Object.defineProperty(web, "plan", { get: () => (touched.push("plan"), plan) });
  web.stage = { transform: (event) => (touched.push("source filters"), { kept: true, event }) };
  const guards: IngestGuards = {
    admit: async () => (typeof options.admission === "function" ? options.admission() : options.admission) ?? { admitted: true, taken: 1 },
    refund: (_source, admission) => void h.refunds.push(admission),
  };
  const queue = { sendBatch: options.sendBatch ?? (async (msgs: MessageSendRequest[]) => void sent.push(...msgs)), send: async () => {} };
  // Every other binding (DEDUP, BUCKET, ARCHIVE, DELIVERIES, …) records that it was reached.
  const env = new Proxy({ INGEST: queue } as Record<string, unknown>, {
    get: (target, name) => (name === "INGEST" ? target.INGEST : typeof name === "string" ? void touched.push(name) : undefined),
  }) as unknown as SluiceEnv;
  const telemetry = new Telemetry(() => {
    throw new Error("not flushed in this test");
  });
  // What reaches the isolate's telemetry (the request path's counts should ride in the ingest messages instead).
  const counted: string[] = [];
  const count = telemetry.count.bind(telemetry);
  telemetry.count = (scope, metric, n) => (counted.push(`${scope} ${metric}`), count(scope, metric, n));
  const compiled = () => {
    if (options.uncompiled) throw new Error("the config was compiled");
    return pipeline;
  };
  const app = createApp({ pipeline: compiled, kinds: {}, telemetry, guards: { bind: () => guards }, ...(options.newMessageId ? { newMessageId: options.newMessageId } : {}) });
  const ctx = { waitUntil: (p: Promise<unknown>) => void p.catch(() => {}), passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
  return {
    get refunds() {
      return h.refunds;
    },
    sent,
    touched,
    counted,
    request: async (path, init) => app.request(path, init, env, ctx),
    delivered: () => sent.map((m) => parseIngestMessage(m.body)),
  };
}

const post = (body: unknown, headers: Record<string, string> = { authorization: basic(KEY) }): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: typeof body === "string" ? body : JSON.stringify(body),
});
const track = (messageId: string) => ({ type: "track", event: "Signed Up", userId: "u1", messageId });

describe("write key", () => {
  it.each([
    ["no key at all", {}, "missing_write_key"],
    ["an unknown key", { authorization: basic("wk_nope") }, "invalid_write_key"],
    ["a header that is not Basic base64 (and no key in the body)", { authorization: "Basic %%%" }, "missing_write_key"],
    ["Basic base64 that does not decode", { authorization: "Basic a" }, "invalid_write_key"],
  ])("answers 401 for %s", async (_what, headers, code) => {
    const res = await harness().request("/v1/track", post(track("m1"), headers));
    expect(res.status).toBe(401);
    const json = (await res.json()) as { error: { code: string } };
    expect(json.error.code).toBe(code);
  });

  it("checks a header key before reading the body: a bad key with a bad body is a 401", async () => {
    const res = await harness().request("/v1/track", post("{not json", { authorization: basic("wk_nope") }));
    expect(res.status).toBe(401);
  });

  it("takes the key from the body when there is no header", async () => {
    const h = harness();
    const res = await h.request("/v1/track", post({ ...track("m1"), writeKey: KEY }, {}));
    expect(res.status).toBe(200);
    expect(h.delivered().flatMap((m) => m!.events.map((e) => e.messageId))).toEqual(["m1"]);
  });
});

describe("body limits", () => {
  it("answers 413 for a body over the request limit, before reading it", async () => {
    const res = await harness().request("/v1/track", post(track("m1"), { authorization: basic(KEY), "content-length": String(LIMITS.maxRequestBytes + 1) }));
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("request_too_large");
  });

  it(`answers 413 for a batch of more than ${LIMITS.maxBatchEvents} events`, async () => {
    const batch = Array.from({ length: LIMITS.maxBatchEvents + 1 }, (_, i) => ({ type: "track", event: "E", userId: "u", messageId: `b${i}` }));
    const res = await harness().request("/v1/batch", post({ batch }));
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("batch_too_large");
  });

  it("answers 415 for an unsupported Content-Encoding and 400 for a body that is not JSON", async () => {
    const h = harness();
    expect((await h.request("/v1/track", post(track("m1"), { authorization: basic(KEY), "content-encoding": "br" }))).status).toBe(415);
    const res = await h.request("/v1/track", post("{not json"));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_json");
  });
});

describe("partial batches", () => {
  it("answers 200 with the valid events queued and each rejected one listed", async () => {
    const h = harness();
    const res = await h.request("/v1/batch", post({ batch: [track("ok-1"), { type: "track", userId: "u1", messageId: "no-name" }, track("ok-2")] }));
    expect(res.status).toBe(200);
    const json = (await res.json()) as { success: boolean; accepted: number; rejected: { index: number; messageId: string; code: string }[] };
    expect(json).toMatchObject({ success: true, accepted: 2 });
    expect(json.rejected.map((r) => [r.index, r.messageId, r.code])).toEqual([[1, "no-name", "missing_field"]]);
    expect(h.delivered().flatMap((m) => m!.events.map((e) => e.messageId))).toEqual(["ok-1", "ok-2"]);
    expect(h.delivered()[0]).toMatchObject({ kind: "ingest", source: "web" });
  });

  it("answers 400 with every rejection when none is valid, and queues nothing", async () => {
    const h = harness();
    const res = await h.request("/v1/batch", post({ batch: [{ type: "track", userId: "u1" }, "x"] }));
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: { code: string }; rejected: unknown[] };
    expect(json.error.code).toBe("no_valid_events");
    expect(json.rejected).toHaveLength(2);
    expect(h.sent).toEqual([]);
    expect(h.refunds).toEqual([]);
  });
});

describe("rate limit", () => {
  it("answers 429 with Retry-After and queues nothing", async () => {
    const h = harness({ admission: { admitted: false, retryAfterSeconds: 7 } });
    const res = await h.request("/v1/track", post(track("m1")));
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("7");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
    expect(h.delivered()).toEqual([]);
  });
});

describe("server errors give back what the request took", () => {
  it.each([
    ["the queue rejects", async () => Promise.reject(new Error("queue down"))],
    ["the binding throws", () => {
      throw new Error("binding gone");
    }],
  ])("answers 503 when %s, and refunds the tokens", async (_what, sendBatch) => {
    const h = harness({ admission: { admitted: true, taken: 3 }, sendBatch });
    const res = await h.request("/v1/track", post(track("m1")));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("queue_unavailable");
    expect(h.refunds).toEqual([{ admitted: true, taken: 3 }]);
  });

  it("answers 500 for anything unexpected, and refunds the tokens", async () => {
    const h = harness({ admission: { admitted: true, taken: 2 }, newMessageId: () => {
      throw new Error("id bug");
    } });
    const res = await h.request("/v1/track", post({ type: "track", event: "Signed Up", userId: "u1" }));
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("internal_error");
    expect(h.refunds).toEqual([{ admitted: true, taken: 2 }]);
  });
});

describe("the one durable write", () => {
  it("queues the events for the router and makes no dedup, plan, filter, R2 or delivery call", async () => {
    const h = harness();
    // The plan would quarantine this event (a required property is missing): the request path does not look.
    const res = await h.request("/v1/batch", post({ batch: [track("w-1"), track("w-2"), track("w-1")] }));
    expect(res.status).toBe(200);
    const json = await res.json();
    expect(json).toEqual({ success: true, accepted: 3 });
    expect(h.touched).toEqual([]);
    expect(h.delivered()).toHaveLength(1);
    expect(h.delivered()[0]!.events.map((e) => e.messageId)).toEqual(["w-1", "w-2", "w-1"]);
  });

  it("queues a request's (inflated) body text as it came, behind a header: the router builds the accepted events", async () => {
    let n = 0;
    const h = harness({ newMessageId: () => `edge-${++n}` });
    const text = JSON.stringify({ writeKey: KEY, context: { ip: "1.2.3.4" }, batch: [track("r-1"), { type: "track", userId: "u1" }, { type: "identify", userId: "u2", writeKey: KEY }] });
    const gzipped = await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
    const res = await h.request("/v1/batch", { method: "POST", body: gzipped, headers: { "content-encoding": "gzip" } });
    expect(await res.json()).toMatchObject({ success: true, accepted: 2, rejected: [{ index: 1, code: "missing_field" }] });
    expect(h.sent).toHaveLength(1);
    const body = h.sent[0]!.body as string;
    expect(body.slice(body.indexOf("\n") + 1)).toBe(text);
    expect(JSON.parse(body.slice(0, body.indexOf("\n")))).toMatchObject({ v: 2, route: "batch", n: 2, skip: [1], ids: { 2: "edge-1" } });
    // A redelivery builds the same events: the ids were fixed at the edge.
    for (const m of [h.delivered()[0]!, parseIngestMessage(body)!]) {
      expect(m.events.map((e) => [e.type, e.messageId, e.context])).toEqual([["track", "r-1", { ip: "1.2.3.4" }], ["identify", "edge-1", { ip: "1.2.3.4" }]]);
      for (const e of m.events) expect(e).not.toHaveProperty("writeKey");
    }
  });

  it("writes at most ceil(bytes / 128 KB) messages for a large batch, each within 128 KB", async () => {
    const h = harness();
    const batch = Array.from({ length: 300 }, (_, i) => ({ ...track(`big-${i}`), properties: { text: "x".repeat(1400) } }));
    const body = JSON.stringify({ batch });
    const res = await h.request("/v1/batch", post(body));
    expect(res.status).toBe(200);
    const bytes = new TextEncoder().encode(body).length;
    // 128 KB as the queue counts it: 128,000 bytes.
    expect(h.sent.length).toBeLessThanOrEqual(Math.ceil(bytes / 128_000));
    expect(h.sent.length).toBeGreaterThan(1);
    for (const m of h.sent) expect(new TextEncoder().encode(m.body as string).length).toBeLessThanOrEqual(INGEST_TARGET_BYTES);
    expect(h.delivered().flatMap((m) => m!.events.map((e) => e.messageId))).toEqual(batch.map((e) => e.messageId));
    expect(h.touched).toEqual([]);
  });
});

describe("counters ride to the router", () => {
  it("puts the request's counts in its first ingest message only, and writes no counter itself", async () => {
    const h = harness();
    const batch = Array.from({ length: 300 }, (_, i) => ({ ...track(`c-${i}`), properties: { text: "x".repeat(1400) } }));
    const body = JSON.stringify({ batch: [...batch, { type: "track", userId: "u1" }] });
    expect((await h.request("/v1/batch", post(body))).status).toBe(200);
    const [first, ...rest] = h.delivered();
    expect(rest.length).toBeGreaterThan(0);
    expect(first!.counts).toEqual({ requests: 1, bytes: new TextEncoder().encode(body).length, accepted: 300, "rejected.missing_field": 1 });
    for (const m of rest) expect(m!.counts).toBeUndefined();
    // Nothing reached the isolate's telemetry or the STATS binding.
    expect(h.counted).toEqual([]);
    expect(h.touched).toEqual([]);
  });

  it("carries what requests answered 400 or 429 counted in the source's next message", async () => {
    let denied = true;
    const h = harness({ admission: () => (denied ? { admitted: false, retryAfterSeconds: 1 } : { admitted: true, taken: 1 }) });
    expect((await h.request("/v1/track", post(track("m1")))).status).toBe(429);
    denied = false;
    expect((await h.request("/v1/batch", post({ batch: [{ type: "track", userId: "u1" }] }))).status).toBe(400);
    expect(h.sent).toEqual([]);
    expect((await h.request("/v1/track", post(track("m2")))).status).toBe(200);
    expect((await h.request("/v1/track", post(track("m3")))).status).toBe(200);
    const [second, third] = h.delivered();
    expect(second!.counts).toMatchObject({ requests: 3, accepted: 1, "rejected.rate_limited": 1, "rejected.missing_field": 1 });
    expect(third!.counts).toMatchObject({ requests: 1, accepted: 1 });
    expect(third!.counts!["rejected.rate_limited"]).toBeUndefined();
  });

  it("keeps the counts of a request whose messages could not be queued for the next one", async () => {
    let down = true;
    const sent: MessageSendRequest[] = [];
    const h = harness({ sendBatch: async (msgs) => (down ? Promise.reject(new Error("queue down")) : void sent.push(...msgs)) });
    expect((await h.request("/v1/track", post(track("m1")))).status).toBe(503);
    down = false;
    expect((await h.request("/v1/track", post(track("m1")))).status).toBe(200);
    expect(parseIngestMessage(sent[0]!.body)!.counts).toMatchObject({ requests: 2, accepted: 2, enqueue_failed: 1 });
  });
});

describe("CORS", () => {
  it("answers a browser's preflight for the Tracking API", async () => {
    const res = await harness().request("/v1/track", {
      method: "OPTIONS",
      headers: { origin: "https://shop.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    expect(res.headers.get("access-control-max-age")).toBe("86400");
  });

  it("answers an unknown route 404 without compiling the config", async () => {
    const res = await harness({ uncompiled: true }).request("/v1/nope", post(track("m1")));
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe("no Tracking API route /v1/nope");
  });

  it("answers an unknown route 404 and a GET on a tracking route 405", async () => {
    const h = harness();
    expect((await h.request("/v1/nope", post(track("m1")))).status).toBe(404);
    const res = await h.request("/v1/track");
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST, OPTIONS");
  });
});

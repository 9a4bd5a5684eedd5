import { Breakers } from "../../src/delivery/breaker.ts";
import { DestinationSchema, type DestinationConfig } from "../../src/config/model.ts";
import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { destinationKinds } from "../../destinations/index.ts";
import { batchKey, signBody, webhook } from "../../destinations/webhook/index.ts";
import type { BuiltConfig } from "../../src/config/model.ts";
import type { Problem } from "../../src/config/schema.ts";
import type { DeliveryContext, EventResult } from "../../src/delivery/destination.ts";
import { deferral, PermanentError, RetryableError, type DeliveryError } from "../../src/delivery/errors.ts";
import { compilePipeline } from "../../src/pipeline/compile.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { consumeDeliveries } from "../../src/queue/consumer.ts";
import { packMessages } from "../../src/queue/messages.ts";
import type { DeadLetter } from "../../src/queue/messages.ts";

/** A destination as the config loader builds it (defaults applied). */
function destination(raw: Record<string, unknown>): DestinationConfig {
  return DestinationSchema.check(raw, [], [])!;
}

const NOW = Date.parse("2024-05-01T12:00:00.000Z");
const URL = "https://hooks.example.com/sluice";

interface Recorded {
  url: string;
  method: string | undefined;
  headers: Headers;
  body: string;
  signal: AbortSignal | undefined;
}

type Responder = (req: Recorded, index: number) => Response | Promise<Response>;

/** A fetch that records each request and answers with `respond`. */
function fakeFetch(respond: Responder = () => new Response("ok", { status: 200 })) {
  const requests: Recorded[] = [];
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const rec: Recorded = {
      url: String(input),
      method: init?.method,
      headers: new Headers(init?.headers as HeadersInit),
      body: String(init?.body),
      signal: init?.signal ?? undefined,
    };
    requests.push(rec);
    return respond(rec, requests.length - 1);
  }) as unknown as typeof globalThis.fetch;
  return { fetch, requests };
}

type WebhookSettings = Parameters<typeof webhook.maxEventsPerCall>[0];

/** Settings as the config loader would produce them (defaults applied, validated). */
function settings(raw: Record<string, unknown>): WebhookSettings {
  const problems: Problem[] = [];
  const checked = webhook.settings.check({ url: URL, ...raw }, [], problems);
  expect(problems).toEqual([]);
  return checked!;
}

function context(cfg: WebhookSettings, fetch: typeof globalThis.fetch, sources?: readonly string[]): DeliveryContext<WebhookSettings> {
  return { destinationId: "hook", settings: cfg, bucket: {} as R2Bucket, durableObject: () => undefined, fetch, now: () => NOW, sources };
}

/** Delivers as the consumer would; every event from source "web" unless told. */
function send(evs: SluiceEvent[], cfg: WebhookSettings, fetch: typeof globalThis.fetch, sources = evs.map(() => "web")): Promise<EventResult[]> {
  return webhook.deliver(evs, context(cfg, fetch, sources));
}

function events(n: number, prefix = "m"): SluiceEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    type: "track" as const,
    event: "Order Completed",
    userId: `u${i}`,
    messageId: `${prefix}${i}`,
    properties: { total: i * 10, note: "café ☕" },
    receivedAt: "2024-05-01T12:00:00.000Z",
    timestamp: "2024-05-01T11:59:59.000Z",
  }));
}

const hmac = (secret: string, body: string) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
/** The event as the webhook sends it: stamped with its source. */
const sent = (e: SluiceEvent, source = "web") => ({ ...e, context: { sluice: { source } } });

function failure(result: EventResult | undefined) {
  if (!result || result.ok) throw new Error(`expected a failed result, got ${JSON.stringify(result)}`);
  return result.error;
}

describe("webhook: single-event mode", () => {
  it("posts one JSON event per request with Idempotency-Key = messageId", async () => {
    const { fetch, requests } = fakeFetch();
    const evs = events(3);
    const results = await send(evs, settings({}), fetch);
    expect(results).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    expect(requests).toHaveLength(3);
    const byId = new Map(requests.map((r) => [r.headers.get("idempotency-key"), r]));
    for (const e of evs) {
      const req = byId.get(e.messageId)!;
      expect(req).toBeDefined();
      expect(req.url).toBe(URL);
      expect(req.method).toBe("POST");
      expect(req.headers.get("content-type")).toBe("application/json");
      expect(JSON.parse(req.body)).toEqual(sent(e));
    }
  });

  it("reads a 2xx answer to its end (the connection is reused), and cancels one that declares more than 64 KB", async () => {
    const reads: string[] = [];
    const answer = (chunks: number, size: number, headers: HeadersInit = {}) => {
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === chunks) return controller.close();
          sent++;
          reads.push(`chunk ${sent}/${chunks}`);
          controller.enqueue(new Uint8Array(size));
        },
        cancel() {
          reads.push("cancelled");
        },
      });
      return new Response(body, { status: 200, headers });
    };
    // Unsized (chunked) and short: read whole.
    expect(await send(events(1), settings({}), fakeFetch(() => answer(3, 5)).fetch)).toEqual([{ ok: true }]);
    expect(reads).toEqual(["chunk 1/3", "chunk 2/3", "chunk 3/3"]);
    reads.length = 0;
    // Declared long: cancelled, not read.
    expect(await send(events(1), settings({}), fakeFetch(() => answer(100, 16 * 1024, { "content-length": String(100 * 16 * 1024) })).fetch)).toEqual([{ ok: true }]);
    expect(reads.at(-1)).toBe("cancelled");
    expect(reads.filter((r) => r.startsWith("chunk")).length).toBeLessThan(3);
  });

  it("signs `<X-Sluice-Timestamp>.<body>` with X-Sluice-Signature = sha256=HMAC-SHA256, the timestamp being the send time", async () => {
    const { fetch, requests } = fakeFetch();
    await send(events(2), settings({ secret: "hook-secret" }), fetch);
    expect(requests).toHaveLength(2);
    for (const req of requests) {
      const timestamp = req.headers.get("x-sluice-timestamp");
      expect(timestamp).toBe(String(Math.floor(NOW / 1000)));
      const signature = req.headers.get("x-sluice-signature");
      expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
      expect(signature).toBe(hmac("hook-secret", `${timestamp}.${req.body}`));
      // The body alone no longer verifies: a captured request cannot be replayed with a new timestamp.
      expect(signature).not.toBe(hmac("hook-secret", req.body));
    }
  });

  it("signBody matches an independent HMAC over `<timestamp>.<body>`, including non-ASCII text", async () => {
    for (const body of ["", "{}", '{"note":"café ☕ 😀"}']) {
      expect(await signBody("k", 1714564800, body)).toBe(hmac("k", `1714564800.${body}`));
    }
    expect(await signBody("k1", 1, "{}")).not.toBe(await signBody("k2", 1, "{}"));
    expect(await signBody("k", 1, "{}")).not.toBe(await signBody("k", 2, "{}"));
  });

  it("sends no signature or timestamp without a secret", async () => {
    const { fetch, requests } = fakeFetch();
    await send(events(1), settings({}), fetch);
    expect(requests[0]!.headers.has("x-sluice-signature")).toBe(false);
    expect(requests[0]!.headers.has("x-sluice-timestamp")).toBe(false);
  });

  it("stamps the source each event came through into context.sluice.source, replacing a client's own", async () => {
    const { fetch, requests } = fakeFetch();
    const evs = events(2);
    evs[0]!.context = { ip: "203.0.113.7", sluice: { source: "admin", trusted: true } };
    await send(evs, settings({ secret: "s" }), fetch, ["web", "ios"]);
    const byId = new Map(requests.map((r) => [r.headers.get("idempotency-key"), JSON.parse(r.body)]));
    expect(byId.get("m0").context).toEqual({ ip: "203.0.113.7", sluice: { source: "web" } });
    expect(byId.get("m1").context).toEqual({ sluice: { source: "ios" } });
    // The caller's events are not changed.
    expect(evs[0]!.context).toEqual({ ip: "203.0.113.7", sluice: { source: "admin", trusted: true } });
  });

  it("retries (never guesses) when the consumer did not give the events' sources", async () => {
    const { fetch, requests } = fakeFetch();
    await expect(webhook.deliver(events(2), context(settings({}), fetch))).rejects.toBeInstanceOf(RetryableError);
    await expect(webhook.deliver(events(2), context(settings({}), fetch, ["web"]))).rejects.toBeInstanceOf(RetryableError);
    expect(requests).toHaveLength(0);
  });

  it("sends a messageId that is not a safe header token as its SHA-256 hex, without failing its neighbours", async () => {
    const { fetch, requests } = fakeFetch();
    const odd = ["line\nbreak", "tab\there", "café", "€uro", "emoji 😀", " padded", "x".repeat(201), "\u0000"];
    const evs = events(odd.length + 1);
    odd.forEach((id, i) => (evs[i]!.messageId = id));
    const results = await send(evs, settings({ secret: "s" }), fetch);
    expect(results.every((r) => r.ok)).toBe(true);
    const keys = new Map(requests.map((r) => [(JSON.parse(r.body) as SluiceEvent).messageId, r.headers.get("idempotency-key")]));
    for (const id of odd) expect(keys.get(id)).toBe(sha256(id));
    expect(keys.get(`m${odd.length}`)).toBe(`m${odd.length}`);
  });

  it("sends a safe messageId (visible ASCII, up to 200 characters) unchanged", async () => {
    const { fetch, requests } = fakeFetch();
    const ids = ["x".repeat(200), "order-42:retry#1", "~!\"{}"];
    const evs = events(ids.length);
    ids.forEach((id, i) => (evs[i]!.messageId = id));
    await send(evs, settings({}), fetch);
    expect(requests.map((r) => r.headers.get("idempotency-key")).sort()).toEqual([...ids].sort());
  });

  it("fails only the event it cannot send, permanently, and still sends its neighbours", async () => {
    const { fetch, requests } = fakeFetch();
    const evs = events(3);
    evs[1]!.properties = { huge: 10n };
    const results = await send(evs, settings({}), fetch);
    expect(results[0]).toEqual({ ok: true });
    expect(failure(results[1])).toMatchObject({ retryable: false, code: "unsendable" });
    expect(failure(results[1]).message).toMatch(/BigInt/);
    expect(results[2]).toEqual({ ok: true });
    expect(requests.map((r) => r.headers.get("idempotency-key")).sort()).toEqual(["m0", "m2"]);
  });

  it("sends the configured custom headers", async () => {
    const { fetch, requests } = fakeFetch();
    await send(events(1), settings({ headers: { Authorization: "Bearer t0k", "X-Tenant": "acme" } }), fetch);
    const headers = requests[0]!.headers;
    expect(headers.get("authorization")).toBe("Bearer t0k");
    expect(headers.get("x-tenant")).toBe("acme");
    expect(headers.get("idempotency-key")).toBe("m0");
  });

  it("lets its own Content-Type, User-Agent and Idempotency-Key win over custom headers whatever their case", async () => {
    const { fetch, requests } = fakeFetch();
    const custom = { "Content-Type": "text/plain", "User-Agent": "Acme/1.0", "Idempotency-Key": "fixed" };
    await send(events(1), settings({ headers: custom }), fetch);
    const lower = fakeFetch();
    await send(events(1), settings({ headers: { "content-type": "text/plain", "user-agent": "Acme/1.0", "idempotency-key": "fixed" } }), lower.fetch);
    for (const headers of [lower.requests[0]!.headers, requests[0]!.headers]) {
      expect(headers.get("content-type")).toBe("application/json");
      expect(headers.get("user-agent")).toBe("Sluice/0.1");
      expect(headers.get("idempotency-key")).toBe("m0");
    }
  });

  it("passes a timeout signal to fetch", async () => {
    const { fetch, requests } = fakeFetch();
    await send(events(1), settings({}), fetch);
    expect(requests[0]!.signal).toBeInstanceOf(AbortSignal);
  });

  it("returns one result per event, in the events' order, whatever the completion order", async () => {
    const statusFor: Record<string, number> = { m0: 200, m1: 400, m2: 503, m3: 204, m4: 404 };
    const { fetch } = fakeFetch(async (req) => {
      const id = req.headers.get("idempotency-key")!;
      await new Promise((r) => setTimeout(r, id === "m0" ? 20 : 1));
      const status = statusFor[id]!;
      return new Response(status === 204 ? null : `status ${status}`, { status });
    });
    const results = await send(events(5), settings({ concurrency: 5 }), fetch);
    expect(results[0]).toEqual({ ok: true });
    expect(failure(results[1])).toBeInstanceOf(PermanentError);
    expect(failure(results[2])).toBeInstanceOf(RetryableError);
    expect(results[3]).toEqual({ ok: true });
    expect(failure(results[4])).toMatchObject({ status: 404 });
  });

  it("keeps at most `concurrency` requests in flight", async () => {
    let inFlight = 0;
    let peak = 0;
    const { fetch, requests } = fakeFetch(async () => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      return new Response("ok");
    });
    const results = await send(events(12), settings({ concurrency: 3 }), fetch);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(requests).toHaveLength(12);
    expect(peak).toBe(3);
  });
});

describe("webhook: batch mode", () => {
  it("posts the events as {batch:[…]} in one request, signed, with a batch idempotency key", async () => {
    const { fetch, requests } = fakeFetch();
    const evs = events(3);
    const results = await send(evs, settings({ secret: "s", batch: { enabled: true, max_events: 10 } }), fetch);
    expect(results).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    expect(requests).toHaveLength(1);
    const req = requests[0]!;
    expect(JSON.parse(req.body)).toEqual({ batch: evs.map((e) => sent(e)) });
    expect(req.headers.get("idempotency-key")).toMatch(/^batch-[0-9a-f]{32}$/);
    expect(req.headers.get("x-sluice-signature")).toBe(hmac("s", `${req.headers.get("x-sluice-timestamp")}.${req.body}`));
  });

  it("stamps each event of a batch with its own source", async () => {
    const { fetch, requests } = fakeFetch();
    await send(events(2), settings({ batch: { enabled: true } }), fetch, ["web", "ios"]);
    expect((JSON.parse(requests[0]!.body) as { batch: SluiceEvent[] }).batch.map((e) => e.context)).toEqual([{ sluice: { source: "web" } }, { sluice: { source: "ios" } }]);
  });

  it("keys a batch by the JSON of its messageId list, so lists that join alike do not collide", async () => {
    const { fetch, requests } = fakeFetch();
    const cfg = settings({ batch: { enabled: true } });
    const [ab] = events(1);
    const [a, b] = events(2);
    await send([{ ...ab!, messageId: "a\nb" }], cfg, fetch);
    await send([{ ...a!, messageId: "a" }, { ...b!, messageId: "b" }], cfg, fetch);
    const keys = requests.map((r) => r.headers.get("idempotency-key"));
    expect(keys[0]).not.toBe(keys[1]);
    expect(keys[1]).toBe(`batch-${sha256(JSON.stringify(["a", "b"])).slice(0, 32)}`);
  });

  it("leaves out of the batch only the event it cannot send, failing it permanently", async () => {
    const { fetch, requests } = fakeFetch();
    const evs = events(3);
    evs[0]!.properties = { huge: 10n };
    const results = await send(evs, settings({ batch: { enabled: true } }), fetch);
    expect(failure(results[0])).toMatchObject({ retryable: false, code: "unsendable" });
    expect(results.slice(1)).toEqual([{ ok: true }, { ok: true }]);
    expect(requests).toHaveLength(1);
    expect(JSON.parse(requests[0]!.body)).toEqual({ batch: evs.slice(1).map((e) => sent(e)) });
    expect(requests[0]!.headers.get("idempotency-key")).toBe(await batchKey(["m1", "m2"]));
  });

  it("derives the batch idempotency key from the messageIds", async () => {
    const { fetch, requests } = fakeFetch();
    const ctx = context(settings({ batch: { enabled: true } }), fetch, ["web", "web", "web"]);
    await webhook.deliver(events(3), ctx);
    await webhook.deliver(events(3), ctx);
    await webhook.deliver(events(3, "other-"), ctx);
    const keys = requests.map((r) => r.headers.get("idempotency-key"));
    expect(keys[0]).toBe(keys[1]);
    expect(keys[2]).not.toBe(keys[0]);
  });

  it("cuts a call's events into bodies of at most 512 KB, each event serialized once and in order", async () => {
    const { fetch, requests } = fakeFetch();
    // 40 events of ~30 KB: 1.2 MB in all, so three bodies.
    const evs = events(40).map((e) => ({ ...e, properties: { blob: "x".repeat(30_000) } }));
    const results = await send(evs, settings({ batch: { enabled: true, max_events: 100 } }), fetch);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(requests.length).toBe(3);
    for (const r of requests) expect(Buffer.byteLength(r.body)).toBeLessThanOrEqual(512 * 1024);
    const ids = requests.flatMap((r) => (JSON.parse(r.body) as { batch: SluiceEvent[] }).batch.map((e) => e.messageId));
    expect(ids).toEqual(evs.map((e) => e.messageId));
    expect(new Set(requests.map((r) => r.headers.get("idempotency-key"))).size).toBe(3);
  });

  it("asks for at most batch.max_events per call (100 per call in single mode)", () => {
    expect(webhook.maxEventsPerCall(settings({ batch: { enabled: true, max_events: 7 } }))).toBe(7);
    expect(webhook.maxEventsPerCall(settings({ batch: { enabled: false, max_events: 7 } }))).toBe(100);
  });

  it("applies one failure to every event of the batch", async () => {
    const { fetch } = fakeFetch(() => new Response("schema mismatch", { status: 422 }));
    const results = await send(events(4), settings({ batch: { enabled: true } }), fetch);
    expect(results).toHaveLength(4);
    for (const r of results) expect(failure(r)).toMatchObject({ retryable: false, status: 422 });
  });

  /** Runs the real queue consumer on one delivery message for a batching webhook (max_events 2). */
  async function consume(body: unknown, fetch: typeof globalThis.fetch, overrides: Partial<Parameters<typeof consumeDeliveries>[1]> = {}) {
    const config: BuiltConfig = {
      version: 1,
      origin: "test",
      sources: [{ id: "web", name: "Website", environment: "prod", write_keys: ["wk_web_12345"] }],
      destinations: [
        destination({ id: "hook", name: "Hook", kind: "webhook", enabled: true, sources: ["web"], settings: { ...settings({ batch: { enabled: true, max_events: 2 } }) } }),
      ],
      filters: {},
      sourceFilters: {},
    };
    const pipeline = compilePipeline(config, { webhook: { receivesAllEvents: false } });
    const outcome: string[] = [];
    const deadLetters: DeadLetter[] = [];
    const message = {
      id: "msg-1",
      timestamp: new Date(NOW),
      body,
      attempts: 1,
      ack: () => outcome.push("ack"),
      retry: (o?: QueueRetryOptions) => outcome.push(`retry ${o?.delaySeconds}`),
    };
    const batch = { queue: "deliveries", messages: [message], retryAll() {}, ackAll() {} } as unknown as MessageBatch<unknown>;
    await consumeDeliveries(batch, {
      pipeline,
      kinds: destinationKinds,
      env: {} as Env,
      bucket: {} as R2Bucket,
      retries: {} as Queue,
      inRetryQueue: false,
      tally: { count() {} },
      breakers: new Breakers(),
      storeDeadLetter: async (d) => void deadLetters.push(d),
      fetch,
      now: () => NOW,
      random: () => 0.5,
      ...overrides,
    });
    return { outcome, deadLetters };
  }

  it("hands an adapter only the Durable Object bindings its definition declares, never the Worker's env", async () => {
    const seen: Record<string, unknown> = {};
    const probe = (declared?: string[]) => ({
      ...destinationKinds.webhook!,
      ...(declared ? { durableObjects: declared } : {}),
      async deliver(events: readonly SluiceEvent[], ctx: DeliveryContext<unknown>) {
        Object.assign(seen, { env: (ctx as unknown as { env?: unknown }).env, lake: ctx.durableObject("LAKE_BUFFER"), dedup: ctx.durableObject("DEDUP") });
        return events.map(() => ({ ok: true as const }));
      },
    });
    const env = { LAKE_BUFFER: { lake: true }, DEDUP: { dedup: true }, ADMIN_TOKEN: "secret" } as unknown as Env;
    const body = { v: 1, dest: "hook", source: "web", t0: NOW, tries: 0, events: events(1) };
    expect((await consume(body, fakeFetch().fetch, { env, kinds: { webhook: probe(["LAKE_BUFFER"]) } })).outcome).toEqual(["ack"]);
    expect(seen).toEqual({ env: undefined, lake: { lake: true }, dedup: undefined });
    await consume(body, fakeFetch().fetch, { env, kinds: { webhook: probe() } });
    expect(seen).toEqual({ env: undefined, lake: undefined, dedup: undefined });
  });

  it("hands an adapter only the Hyperdrive bindings its definition names for its settings, and only real ones", async () => {
    let seen: unknown[] = [];
    const probe = (names: string[]) => ({
      ...destinationKinds.webhook!,
      hyperdrive: () => names,
      async deliver(events: readonly SluiceEvent[], ctx: DeliveryContext<unknown>) {
        seen = ["WAREHOUSE", "OTHER", "ADMIN_TOKEN"].map((b) => ctx.hyperdrive?.(b));
        return events.map(() => ({ ok: true as const }));
      },
    });
    const warehouse = { connectionString: "postgres://u:p@h/db" };
    const env = { WAREHOUSE: warehouse, OTHER: { connectionString: "postgres://x" }, ADMIN_TOKEN: "secret" } as unknown as Env;
    const body = { v: 1, dest: "hook", source: "web", t0: NOW, tries: 0, events: events(1) };
    expect((await consume(body, fakeFetch().fetch, { env, kinds: { webhook: probe(["WAREHOUSE", "ADMIN_TOKEN"]) } })).outcome).toEqual(["ack"]);
    expect(seen).toEqual([warehouse, undefined, undefined]);
  });

  it("counts a delivery the kind only deferred (pacing) as no failure for the circuit breaker; a 503 counts", async () => {
    const probe = (error: () => DeliveryError) => ({
      ...destinationKinds.webhook!,
      async deliver(evs: readonly SluiceEvent[]) {
        return evs.map(() => ({ ok: false as const, error: error() }));
      },
    });
    const body = { v: 1, dest: "hook", source: "web", t0: NOW, tries: 0, events: events(2) };
    const breakers = new Breakers();
    for (let i = 0; i < 3; i++) {
      const { outcome } = await consume(body, fakeFetch().fetch, { breakers, inRetryQueue: true, kinds: { webhook: probe(() => deferral("next slot in 2000 ms", 2)) } });
      expect(outcome).toEqual(["retry 2"]);
    }
    expect(breakers.state("hook")).toEqual({ kind: "closed", failures: 0 });
    await consume(body, fakeFetch().fetch, { breakers, inRetryQueue: true, kinds: { webhook: probe(() => new RetryableError("down", 503)) } });
    expect(breakers.state("hook")).toEqual({ kind: "closed", failures: 1 });
  });

  it("is delivered in chunks of batch.max_events by the queue consumer", async () => {
    const { fetch, requests } = fakeFetch();
    const [packed] = packMessages({ v: 1, dest: "hook", source: "web", t0: NOW, tries: 0 }, events(5));
    const { outcome, deadLetters } = await consume(packed!.body, fetch);
    expect(outcome).toEqual(["ack"]);
    expect(deadLetters).toEqual([]);
    expect(requests.map((r) => (JSON.parse(r.body) as { batch: SluiceEvent[] }).batch.map((e) => e.messageId))).toEqual([["m0", "m1"], ["m2", "m3"], ["m4"]]);
  });

  it("delivers the neighbours of an event that cannot be serialized and dead-letters that event alone", async () => {
    const { fetch, requests } = fakeFetch();
    const evs = events(3);
    evs[1]!.properties = { huge: 10n };
    const { outcome, deadLetters } = await consume({ v: 1, dest: "hook", source: "web", t0: NOW, tries: 0, events: evs }, fetch);
    expect(outcome).toEqual(["ack"]);
    expect(requests.map((r) => (JSON.parse(r.body) as { batch: SluiceEvent[] }).batch.map((e) => e.messageId))).toEqual([["m0"], ["m2"]]);
    expect(deadLetters.map((d) => ({ ids: d.events.map((e) => e.messageId), code: d.code }))).toEqual([{ ids: ["m1"], code: "unsendable" }]);
  });
});

describe("webhook: responses and failures", () => {
  async function deliverOne(respond: Responder, raw: Record<string, unknown> = {}): Promise<EventResult> {
    const { fetch } = fakeFetch(respond);
    const [result] = await send(events(1), settings(raw), fetch);
    return result!;
  }

  it.each([200, 201, 202, 204, 299])("treats %i as delivered", async (status) => {
    expect(await deliverOne(() => new Response(status === 204 ? null : "fine", { status }))).toEqual({ ok: true });
  });

  it.each<[string, number, Record<string, string>, number | undefined]>([
    ["503 without Retry-After", 503, {}, undefined],
    ["503 with Retry-After seconds", 503, { "retry-after": "17" }, 17],
    ["429 with Retry-After seconds", 429, { "retry-after": "30" }, 30],
    ["429 with an HTTP-date Retry-After", 429, { "retry-after": new Date(NOW + 45_000).toUTCString() }, 45],
    ["408", 408, {}, undefined],
    ["500", 500, {}, undefined],
    ["423", 423, {}, undefined],
  ])("turns %s into a RetryableError", async (_what, status, headers, retryAfterSeconds) => {
    const error = failure(await deliverOne(() => new Response("busy", { status, headers })));
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ retryable: true, status });
    expect((error as RetryableError).retryAfterSeconds).toBe(retryAfterSeconds);
    expect(error.message).toBe(`HTTP ${status}: busy`);
  });

  it.each([400, 401, 404, 410, 413, 501])("turns %i into a PermanentError with status and body snippet", async (status) => {
    const error = failure(await deliverOne(() => new Response(`{"error":"nope ${status}"}`, { status })));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ retryable: false, status });
    expect(error.message).toBe(`HTTP ${status}: {"error":"nope ${status}"}`);
  });

  it("keeps only the first 200 characters of an error body", async () => {
    const error = failure(await deliverOne(() => new Response(`${"a".repeat(200)}${"b".repeat(5000)}`, { status: 400 })));
    expect(error.message).toBe(`HTTP 400: ${"a".repeat(200)}`);
  });

  it("turns a network error into a RetryableError without a status", async () => {
    const error = failure(
      await deliverOne(() => {
        throw new TypeError("fetch failed");
      }),
    );
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.status).toBeUndefined();
    expect(error.message).toContain("network error: fetch failed");
  });

  it("turns a timeout into a RetryableError naming the timeout", async () => {
    const hang: Responder = (req) =>
      new Promise<Response>((_, reject) => {
        req.signal!.addEventListener("abort", () => reject(req.signal!.reason));
      });
    const error = failure(await deliverOne(hang, { timeout_ms: 100 }));
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.message).toBe("timed out after 100 ms");
  });

  it("treats an abort error thrown by fetch as a timeout", async () => {
    const error = failure(
      await deliverOne(() => {
        throw new DOMException("The operation was aborted", "AbortError");
      }),
    );
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.message).toMatch(/timed out/);
  });

  it("still fails retryably when the error body cannot be read", async () => {
    const body = new ReadableStream({
      start(controller) {
        controller.error(new Error("connection reset"));
      },
    });
    const error = failure(await deliverOne(() => new Response(body, { status: 502 })));
    expect(error).toMatchObject({ retryable: true, status: 502, message: "HTTP 502" });
  });
});

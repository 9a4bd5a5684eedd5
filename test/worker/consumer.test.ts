import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import type { DeadLetter, DeliveryMessage } from "../../src/queue/messages.ts";
import { basic, eventually, post, WEB_KEY } from "./helpers.ts";
import { sink } from "./setup.ts";

function event(n: number) {
  return { type: "track", event: "Order Completed", userId: `u${n}`, messageId: `m-${n}`, receivedAt: new Date().toISOString(), timestamp: new Date().toISOString() };
}

function message(dest: string, events: ReturnType<typeof event>[], extra: Partial<DeliveryMessage> = {}): string {
  return JSON.stringify({ v: 1, dest, source: "web", t0: Date.now(), tries: 0, events, ...extra });
}

/**
 * Runs the real queue handler on a batch from the retries queue (where a retry decision is `msg.retry`);
 * getQueueResult does not report retry delays, so they are recorded here.
 */
async function runBatch(bodies: string[], attempts = 1, workerEnv: Env = env, queue = "sluice-retries") {
  const batch = createMessageBatch(queue, bodies.map((body, i) => ({ id: `msg-${i}`, timestamp: new Date(), attempts, body })));
  const delays: Record<string, number | undefined> = {};
  for (const m of batch.messages) {
    const retry = m.retry.bind(m);
    m.retry = (options?: QueueRetryOptions) => {
      delays[m.id] = options?.delaySeconds;
      retry(options);
    };
  }
  const ctx = createExecutionContext();
  await worker.queue(batch, workerEnv, ctx);
  return { ...(await getQueueResult(batch, ctx)), delays };
}

async function deadLetters(destination: string): Promise<DeadLetter[]> {
  const list = await env.BUCKET.list({ prefix: `dead-letters/${destination}/` });
  return Promise.all(list.objects.map(async (o) => JSON.parse(await (await env.BUCKET.get(o.key))!.text()) as DeadLetter));
}

describe("delivery consumer decisions, per message", () => {
  it("acks a message whose events were all delivered", async () => {
    const result = await runBatch([message("hook", [event(1), event(2)])]);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(result.retryMessages).toEqual([]);
    expect(sink.requests.map((r) => JSON.parse(r.body).messageId)).toEqual(["m-1", "m-2"]);
  });

  it("retries a message with backoff when the destination answers 503", async () => {
    sink.responder = () => new Response("down", { status: 503 });
    const result = await runBatch([message("hook", [event(1)])]);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toHaveLength(1);
    expect(result.retryMessages[0]!.msgId).toBe("msg-0");
    expect(result.delays["msg-0"]).toBeGreaterThanOrEqual(2);
    expect(result.delays["msg-0"]).toBeLessThanOrEqual(5);
  });

  it("moves a message that fails on its first delivery to the retries queue, delayed, with its attempt count", async () => {
    sink.responder = () => new Response("down", { status: 503 });
    const moved: MessageSendRequest[] = [];
    const retries = { sendBatch: async (msgs: Iterable<MessageSendRequest>) => void moved.push(...msgs), send: async () => {} };
    const result = await runBatch([message("hook", [event(1)])], 1, { ...env, RETRIES: retries as unknown as Queue }, "sluice-deliveries");
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(result.retryMessages).toEqual([]);
    expect(moved).toHaveLength(1);
    expect(JSON.parse(moved[0]!.body as string)).toMatchObject({ dest: "hook", tries: 1, lastError: "HTTP 503: down", events: [{ messageId: "m-1" }] });
    expect(moved[0]!.delaySeconds).toBeGreaterThanOrEqual(2);
  });

  it("honours the destination's Retry-After on 429", async () => {
    sink.responder = () => new Response("slow down", { status: 429, headers: { "retry-after": "120" } });
    const result = await runBatch([message("hook", [event(1)])]);
    expect(result.retryMessages).toEqual([{ msgId: "msg-0" }]);
    expect(result.delays["msg-0"]).toBe(120);
  });

  it("dead-letters a message the destination rejects for good (400), with the reason", async () => {
    sink.responder = () => new Response("bad payload", { status: 400 });
    const result = await runBatch([message("hook", [event(7)])]);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    const dl = (await deadLetters("hook")).find((d) => d.events[0]?.messageId === "m-7");
    expect(dl!.reason).toContain("HTTP 400: bad payload");
    expect(dl!.events.map((e) => e.messageId)).toEqual(["m-7"]);
  });

  it("decides each message of a batch on its own", async () => {
    sink.responder = (req) => (JSON.parse(req.body).userId === "u2" ? new Response("", { status: 500 }) : new Response("ok"));
    const result = await runBatch([message("hook", [event(1)]), message("hook", [event(2)]), message("hook", [event(3)])]);
    expect(result.explicitAcks.sort()).toEqual(["msg-0", "msg-2"]);
    expect(result.retryMessages.map((r: { msgId: string }) => r.msgId)).toEqual(["msg-1"]);
  });

  it("retries only the failed events of a partially delivered message", async () => {
    sink.responder = (req) => (JSON.parse(req.body).userId === "u2" ? new Response("", { status: 503 }) : new Response("ok"));
    const requeued: MessageSendRequest[] = [];
    const recordingQueue = { sendBatch: async (msgs: Iterable<MessageSendRequest>) => void requeued.push(...msgs), send: async () => {} };
    const result = await runBatch([message("hook", [event(1), event(2), event(3)])], 1, { ...env, RETRIES: recordingQueue as unknown as Queue });
    // The original is acked; only the failed event goes back on the queue, delayed, with its attempt count.
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(result.retryMessages).toEqual([]);
    expect(requeued).toHaveLength(1);
    const body = JSON.parse(requeued[0]!.body as string) as DeliveryMessage;
    expect(body.events.map((e) => e.messageId)).toEqual(["m-2"]);
    expect(body).toMatchObject({ dest: "hook", tries: 1, lastError: "HTTP 503" });
    expect(requeued[0]!.delaySeconds).toBeGreaterThanOrEqual(2);
  });

  it("dead-letters once the retry window is spent", async () => {
    sink.responder = () => new Response("", { status: 503 });
    const result = await runBatch([message("hook", [event(9)], { t0: Date.now() - 5 * 3600_000 })], 12);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    const dl = (await deadLetters("hook")).find((d) => d.events[0]?.messageId === "m-9");
    expect(dl!.reason).toMatch(/retry window of 4 h exhausted after 12 attempt/);
    expect(dl!.attempts).toBe(12);
  });

  it("dead-letters events for a destination that is no longer configured", async () => {
    const result = await runBatch([message("gone", [event(1)])]);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect((await deadLetters("gone"))[0]!.reason).toContain(`destination "gone" is no longer configured`);
  });

  it("delivers every event of a message when one messageId is no valid header value, keyed by its SHA-256", async () => {
    const odd = "odd\nid €uro 😀";
    const result = await runBatch([message("hook", [event(1), { ...event(2), messageId: odd }, event(3)])]);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(result.retryMessages).toEqual([]);
    const keys = Object.fromEntries(sink.requests.map((r) => [JSON.parse(r.body).messageId, r.headers["idempotency-key"]]));
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(odd)));
    expect(keys).toEqual({ "m-1": "m-1", [odd]: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""), "m-3": "m-3" });
  });

  it.each(["sluice-retries", "sluice-dead-letters"])("%s: keeps a malformed message whole as a dead letter instead of dropping it", async (queue) => {
    const body = `{not json ${queue} ${"y".repeat(3000)}`;
    const result = await runBatch([body], 1, env, queue);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    const dl = (await deadLetters("unknown")).find((d) => d.body?.startsWith(`{not json ${queue} `));
    expect(dl).toMatchObject({ code: "malformed", body, events: [] });
  });

  it("posts a batch to a batching webhook in chunks of max_events", async () => {
    const result = await runBatch([message("batched", [1, 2, 3, 4, 5].map(event))]);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(sink.requests.map((r) => JSON.parse(r.body).batch.length)).toEqual([3, 2]);
  });

  it("stores what the platform dead-lettered after max_retries", async () => {
    const batch = createMessageBatch("sluice-dead-letters", [{ id: "dl-0", timestamp: new Date(), attempts: 1, body: message("hook", [event(5)], { lastError: "HTTP 503" }) }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual(["dl-0"]);
    const dl = (await deadLetters("hook")).find((d) => d.events[0]?.messageId === "m-5");
    expect(dl?.reason).toContain("max_retries");
    expect(dl?.lastError).toBe("HTTP 503");
  });
});

describe("end to end through the real queue", () => {
  it("delivers an accepted event to the webhook, signed with a timestamp, stamped with its source, with its messageId as Idempotency-Key", async () => {
    const messageId = `e2e-${crypto.randomUUID()}`;
    // A client claiming another source: the stamp says where the event really came from.
    const res = await post("/v1/track", { userId: "u1", event: "Signed Up", messageId, context: { sluice: { source: "ios" } } }, { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(200);
    const req = await eventually(async () => sink.requests.find((r) => r.url === "http://hook.test/events" && JSON.parse(r.body).messageId === messageId));
    expect(req.headers["idempotency-key"]).toBe(messageId);
    const timestamp = req.headers["x-sluice-timestamp"]!;
    expect(Math.abs(Date.now() / 1000 - Number(timestamp))).toBeLessThan(300);
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode("test-hook-secret"), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    const sig = req.headers["x-sluice-signature"]!.replace(/^sha256=/, "");
    const bytes = new Uint8Array(sig.match(/../g)!.map((h) => parseInt(h, 16)));
    expect(await crypto.subtle.verify("HMAC", key, bytes, new TextEncoder().encode(`${timestamp}.${req.body}`))).toBe(true);
    expect(JSON.parse(req.body)).toMatchObject({ type: "track", event: "Signed Up", userId: "u1", context: { sluice: { source: "web" } } });
  });

  it("honours the integrations object per destination", async () => {
    const messageId = `integrations-${crypto.randomUUID()}`;
    await post("/v1/track", { userId: "u1", event: "X", messageId, integrations: { All: false, Inspector: true } }, { authorization: basic(WEB_KEY) });
    const { storedEvents } = await import("./helpers.ts");
    await eventually(async () => (await storedEvents()).find((e) => e.messageId === messageId));
    expect(sink.requests.some((r) => r.body.includes(messageId))).toBe(false);
  });
});

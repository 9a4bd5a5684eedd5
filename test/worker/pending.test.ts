/**
 * Filter stages that could not run at ingest ("pending": a secret was missing) run exactly once before anything
 * leaves, on every path an event can take: first queue, retries queue, dead letter, replay.
 * "vault" waits on a secret the tests never set; "hook" hashes `properties.phone` with HASH_SALT and drops `email`.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import type { DeliveryMessage } from "../../src/queue/messages.ts";
import type { DeadLetter } from "../../src/queue/messages.ts";
import { eventually } from "./helpers.ts";
import { sink } from "./setup.ts";

const admin = (path: string, init: RequestInit = {}) =>
  SELF.fetch(`http://sluice.test${path}`, { ...init, headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" } });

function event(messageId: string) {
  return { type: "track", event: "Order Completed", userId: "u-pii", messageId, properties: { email: "a@example.com", phone: "555-0100" }, receivedAt: new Date().toISOString(), timestamp: new Date().toISOString() };
}
const pendingBody = (dest: string, messageId: string, extra: Partial<DeliveryMessage> = {}) =>
  JSON.stringify({ v: 1, dest, source: "web", t0: Date.now(), tries: 0, pending: "destination", events: [event(messageId)], ...extra });

function recordingQueue() {
  const sent: string[] = [];
  return { sent, queue: { sendBatch: async (msgs: Iterable<MessageSendRequest>) => void sent.push(...[...msgs].map((m) => m.body as string)), send: async () => {} } as unknown as Queue };
}

async function runBatch(queue: string, bodies: string[], workerEnv: Env = env) {
  const batch = createMessageBatch(queue, bodies.map((body, i) => ({ id: `p${i}`, timestamp: new Date(), attempts: 1, body })));
  const ctx = createExecutionContext();
  await worker.queue(batch, workerEnv, ctx);
  return getQueueResult(batch, ctx);
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function deadLetterWith(destination: string, messageId: string): Promise<DeadLetter | undefined> {
  const list = await env.BUCKET.list({ prefix: `dead-letters/${destination}/` });
  for (const o of list.objects) {
    const d = JSON.parse(await (await env.BUCKET.get(o.key))!.text()) as DeadLetter;
    if (d.events.some((e) => e.messageId === messageId)) return d;
  }
  return undefined;
}

const sentTo = (host: string, messageId: string) => sink.requests.filter((r) => r.url.startsWith(`http://${host}`) && r.body.includes(messageId));

describe("pending filters on every delivery path", () => {
  it("first queue → retries queue: events still waiting for their filters stay pending, never go out unfiltered", async () => {
    const retries = recordingQueue();
    const first = await runBatch("sluice-deliveries", [pendingBody("vault", "pv-1")], { ...env, RETRIES: retries.queue });
    expect(first.explicitAcks).toEqual(["p0"]);
    expect(retries.sent).toHaveLength(1);
    const moved = JSON.parse(retries.sent[0]!) as DeliveryMessage;
    expect(moved).toMatchObject({ dest: "vault", tries: 1, pending: "destination", events: [{ messageId: "pv-1", userId: "u-pii" }] });
    // The retries queue gets exactly that body: it must wait again, not deliver.
    const again = await runBatch("sluice-retries", retries.sent);
    expect(again.retryMessages).toEqual([{ msgId: "p0" }]);
    expect(sentTo("vault.test", "pv-1")).toEqual([]);
  });

  it.each(["sluice-deliveries", "sluice-retries"])("%s: events filtered before a failed delivery move on filtered, and are not filtered again (hashed once)", async (queue) => {
    const retries = recordingQueue();
    const messageId = `ph-${queue}`;
    sink.responder = () => new Response("down", { status: 503 });
    const failed = await runBatch(queue, [pendingBody("hook", messageId)], { ...env, RETRIES: retries.queue });
    expect(failed.explicitAcks).toEqual(["p0"]);
    expect(retries.sent).toHaveLength(1);
    expect(JSON.parse(retries.sent[0]!) as DeliveryMessage).toMatchObject({ tries: 1, events: [{ messageId, properties: { phone: await sha256Hex("test-salt555-0100") } }] });
    expect((JSON.parse(retries.sent[0]!) as DeliveryMessage).pending).toBeUndefined();
    sink.responder = undefined;
    await runBatch("sluice-retries", retries.sent);
    const bodies = sentTo("hook.test", messageId).map((r) => JSON.parse(r.body) as { properties: Record<string, unknown> });
    expect(bodies.map((b) => b.properties)).toEqual([{ phone: await sha256Hex("test-salt555-0100") }, { phone: await sha256Hex("test-salt555-0100") }]);
  });

  it("a dead letter of events still waiting for their filters says so", async () => {
    const result = await runBatch("sluice-retries", [pendingBody("vault", "pv-2", { t0: Date.now() - 5 * 3600_000 })]);
    expect(result.explicitAcks).toEqual(["p0"]);
    const dl = await deadLetterWith("vault", "pv-2");
    expect(dl).toMatchObject({ code: "filters_pending", pending: "destination", events: [{ userId: "u-pii" }] });
  });

  it("dead-letter queue → replay, through the real queues: the replayed events are filtered before delivery", async () => {
    // What the platform moves to the dead-letter queue after max_retries: the delivery message as it was, pending.
    await env.DEAD_LETTERS.send(pendingBody("hook", "ph-3"), { contentType: "text" });
    const dl = await eventually(() => deadLetterWith("hook", "ph-3"));
    expect(dl).toMatchObject({ code: "max_retries", pending: "destination" });
    const replay = await admin("/admin/dead-letters/replay", { method: "POST", body: JSON.stringify({ ids: [dl.id], destination: "hook" }) });
    expect(await replay.json()).toMatchObject({ replayed: 1, events: 1 });
    const req = await eventually(async () => sentTo("hook.test", "ph-3")[0]);
    expect((JSON.parse(req.body) as { properties: unknown }).properties).toEqual({ phone: await sha256Hex("test-salt555-0100") });
  });
});

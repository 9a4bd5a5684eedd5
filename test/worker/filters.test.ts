import { createExecutionContext, createMessageBatch, env, getQueueResult, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { basic, eventually, IOS_KEY, post, routeIngest, storedEvents, WEB_KEY } from "./helpers.ts";
import { sink } from "./setup.ts";

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

type Stats = { scopes: Record<string, { counters: Record<string, number> }[]> };
async function counters(scope: string): Promise<Record<string, number>> {
  const res = await SELF.fetch("http://sluice.test/admin/stats", { headers: { authorization: "Bearer test-admin-token" } });
  return ((await res.json()) as Stats).scopes[scope]?.[0]?.counters ?? {};
}

describe("filters in the running worker", () => {
  it("strips and hashes PII for the webhook while the inspector gets the event whole", async () => {
    const messageId = `pii-${crypto.randomUUID()}`;
    await post("/v1/track", { userId: "u1", event: "Order Completed", messageId, properties: { email: "a@example.com", phone: "555-0100", total: 3 } }, { authorization: basic(WEB_KEY) });
    const req = await eventually(async () => sink.requests.find((r) => r.url === "http://hook.test/events" && r.body.includes(messageId)));
    const delivered = JSON.parse(req.body) as { properties: Record<string, unknown> };
    expect(delivered.properties).toEqual({ phone: await sha256Hex("test-salt555-0100"), total: 3 });
    const whole = await eventually(async () => (await storedEvents()).find((e) => e.messageId === messageId));
    expect(whole.properties).toEqual({ email: "a@example.com", phone: "555-0100", total: 3 });
  });

  it("drops what a destination filter drops, counted under the filter's title", async () => {
    const messageId = `internal-${crypto.randomUUID()}`;
    await post("/v1/track", { userId: "u1", event: "Internal Test", messageId }, { authorization: basic(WEB_KEY) });
    await eventually(async () => (await storedEvents()).find((e) => e.messageId === messageId));
    expect(sink.requests.some((r) => r.url.startsWith("http://hook.test") && r.body.includes(messageId))).toBe(false);
    const hook = await eventually(async () => ((await counters("destination:hook"))["dropped.filter.Drop internal tests"] ? counters("destination:hook") : undefined));
    expect(hook["dropped.filter.Drop internal tests"]).toBeGreaterThanOrEqual(1);
  });

  it("applies source filters before every destination, counted on the source", async () => {
    const messageId = `debug-${crypto.randomUUID()}`;
    const res = await post("/v1/track", { userId: "u1", event: "Debug", messageId }, { authorization: basic(IOS_KEY) });
    expect(await res.json()).toEqual({ success: true, accepted: 1 });
    const ios = await eventually(async () => ((await counters("source:ios"))["dropped.filter.No debug events from the app"] ? counters("source:ios") : undefined));
    expect(ios["dropped.filter.No debug events from the app"]).toBeGreaterThanOrEqual(1);
    expect((await storedEvents()).some((e) => e.messageId === messageId)).toBe(false);
  });

  it("holds back events whose filters need a missing secret: retried, never delivered unfiltered", async () => {
    const body = JSON.stringify({ v: 1, dest: "vault", source: "web", t0: Date.now(), tries: 0, pending: "destination", events: [{ type: "track", event: "X", userId: "u-secret", messageId: "v1", receivedAt: new Date().toISOString(), timestamp: new Date().toISOString() }] });
    const batch = createMessageBatch("sluice-retries", [{ id: "vault-0", timestamp: new Date(), attempts: 1, body }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.retryMessages).toEqual([{ msgId: "vault-0" }]);
    expect(sink.requests.some((r) => r.url.startsWith("http://vault.test"))).toBe(false);
  });

  it("routes events for such a destination to the retries queue still pending; the other destinations get them at once", async () => {
    const sent: string[] = [];
    const recording = { sendBatch: async (msgs: Iterable<MessageSendRequest>) => void sent.push(...[...msgs].map((m) => m.body as string)), send: async () => {} };
    const messageId = `pending-${crypto.randomUUID()}`;
    const settled = await routeIngest("web", [{ userId: "u-secret", event: "X", messageId }], { env: { ...env, RETRIES: recording as unknown as Queue } });
    expect(settled).toMatchObject({ acked: 1, retried: 0 });
    const vault = sent.map((b) => JSON.parse(b)).find((m) => m.dest === "vault");
    expect(vault).toMatchObject({ pending: "destination", tries: 1, events: [expect.objectContaining({ userId: "u-secret" })] });
    expect(sent.map((b) => JSON.parse(b)).find((m) => m.dest === "hook")).toBeUndefined();
    expect(sink.requests.some((r) => r.url.startsWith("http://vault.test"))).toBe(false);
    expect(sink.requests.some((r) => r.body.includes(messageId))).toBe(true);
  });
});

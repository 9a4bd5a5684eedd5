/**
 * A filter that throws never drops an accepted event: the event ends as a dead letter with the reason, holding the
 * filter stages still to run, so a replay (after a fix) filters it once. "fragile" (sources: [deep]) has a `$..`
 * filter, which overflows the stack on an event nested 5,000 objects deep (queued messages only: ingest caps nesting
 * at 64 levels), and a JSONPath filter expression that throws when an item's `flag` is null.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import config from "sluice-config";
import { destinationKinds } from "../../destinations/index.ts";
import worker from "../../src/index.ts";
import { compilePipeline, routeNormalized } from "../../src/pipeline/compile.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { routedSends, type DeliveryMessage } from "../../src/queue/messages.ts";
import type { DeadLetter } from "../../src/queue/messages.ts";
import { basic, eventually, post } from "./helpers.ts";
import { sink } from "./setup.ts";

const DEEP_KEY = "wk_test_deep";
const admin = (path: string, init: RequestInit = {}) =>
  SELF.fetch(`http://sluice.test${path}`, { ...init, headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" } });

function nested(depth: number): Record<string, unknown> {
  let o: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < depth; i++) o = { a: o };
  return o;
}

function event(messageId: string, properties: Record<string, unknown> = {}) {
  return { type: "track", event: "Tree", userId: "u1", messageId, properties, receivedAt: new Date().toISOString(), timestamp: new Date().toISOString() };
}
const pendingBody = (events: unknown[]) => JSON.stringify({ v: 1, dest: "fragile", source: "deep", t0: Date.now(), tries: 0, pending: "destination", events });

async function deadLettersWith(messageId: string): Promise<DeadLetter[]> {
  const list = await env.BUCKET.list({ prefix: "dead-letters/fragile/" });
  const all = await Promise.all(list.objects.map(async (o) => JSON.parse(await (await env.BUCKET.get(o.key))!.text()) as DeadLetter));
  return all.filter((d) => d.events.some((e) => e.messageId === messageId));
}

async function runBatch(queue: string, bodies: string[], workerEnv: Env = env) {
  const batch = createMessageBatch(queue, bodies.map((body, i) => ({ id: `f${i}`, timestamp: new Date(), attempts: 1, body })));
  const ctx = createExecutionContext();
  await worker.queue(batch, workerEnv, ctx);
  return getQueueResult(batch, ctx);
}

const sentToFragile = (messageId: string) => sink.requests.filter((r) => r.url.startsWith("http://fragile.test") && r.body.includes(messageId));
const THREW = /^filters of destination:fragile threw: RangeError: Maximum call stack size exceeded/;

describe("a filter that throws dead-letters the event", () => {
  it("at ingest: an event nested past the cap is rejected and never reaches a filter", async () => {
    const res = await post("/v1/track", event(`tree-${crypto.randomUUID()}`, { tree: nested(5000) }), { authorization: basic(DEEP_KEY) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "nesting_too_deep" } });
  });

  it("from routing: dead-lettered with the reason through the real dead-letter queue, listed, counted; a replay filters it again", { timeout: 30_000 }, async () => {
    // Ingest's depth cap keeps such an event out of the request path, so route it as ingest does and send what
    // routing hands the dead-letter queue (the same routedSends ingest and quarantine replay use).
    const messageId = `tree-${crypto.randomUUID()}`;
    const counted: string[] = [];
    const source = compilePipeline(config, destinationKinds, env as unknown as Record<string, unknown>).sourceForWriteKey(DEEP_KEY)!;
    const routed = routeNormalized(source, { accepted: [event(messageId, { tree: nested(5000) }) as unknown as SluiceEvent], rejected: [] }, { count: (scope, metric) => void counted.push(`${scope} ${metric}`) });
    expect(counted).toContain("destination:fragile failed.filter_error");
    const sends = routedSends(routed.routed.get("fragile")!).filter((s) => s.queue === "DEAD_LETTERS");
    expect(sends).toHaveLength(1);
    const { fields, events } = sends[0]!;
    await env.DEAD_LETTERS.send(JSON.stringify({ v: 1, dest: "fragile", source: "deep", t0: Date.now(), tries: 0, ...fields, events }), { contentType: "text" });

    const [dl] = await eventually(async () => ((await deadLettersWith(messageId)).length > 0 ? deadLettersWith(messageId) : undefined));
    expect(dl).toMatchObject({ destination: "fragile", source: "deep", code: "filter_error", pending: "destination", events: [{ messageId }] });
    expect(dl!.reason).toMatch(THREW);
    const listed = (await (await admin("/admin/dead-letters?destination=fragile&category=filter_error&limit=500")).json()) as { entries: { id: string }[] };
    expect(listed.entries.map((e) => e.id)).toContain(dl!.id);

    // The filter is still broken: the replayed event goes through it once more and is dead-lettered again.
    const replay = await admin("/admin/dead-letters/replay", { method: "POST", body: JSON.stringify({ ids: [dl!.id], destination: "fragile" }) });
    expect(await replay.json()).toMatchObject({ replayed: 1, events: 1 });
    const again = await eventually(async () => (await deadLettersWith(messageId)).find((d) => d.id !== dl!.id));
    expect(again).toMatchObject({ code: "filter_error", pending: "destination", events: [{ messageId }] });
    expect(again!.reason).toMatch(THREW);
    type Stats = { scopes: Record<string, { counters: Record<string, number> }[]> };
    const failed = async () => ((await (await admin("/admin/stats")).json()) as Stats).scopes["destination:fragile"]?.[0]?.counters["failed.filter_error"];
    expect(await eventually(failed)).toBeGreaterThanOrEqual(1);
    expect(sentToFragile(messageId)).toEqual([]);
  });

  it("in the consumer's pending stage: the event it threw on is dead-lettered, the others delivered filtered", async () => {
    const result = await runBatch("sluice-deliveries", [pendingBody([event("tree-c1", { tree: nested(5000) }), event("flat-c1", { ssn: "078-05-1120" }), event("flat-c2")])]);
    expect(result.explicitAcks).toEqual(["f0"]);
    const [dl, ...more] = await deadLettersWith("tree-c1");
    expect(more).toEqual([]);
    expect(dl).toMatchObject({ code: "filter_error", pending: "destination", attempts: 1, events: [{ messageId: "tree-c1" }] });
    expect(dl!.reason).toMatch(THREW);
    expect(sentToFragile("flat-c1")).toEqual([]); // its own filter dropped it
    expect(sentToFragile("flat-c2")).toHaveLength(1);
  });

  it("in the retries queue: a failed delivery moves the filtered rest on, so the event is dead-lettered once", async () => {
    sink.responder = () => new Response("down", { status: 503 });
    const moved: string[] = [];
    const retries = { sendBatch: async (msgs: Iterable<MessageSendRequest>) => void moved.push(...[...msgs].map((m) => m.body as string)), send: async () => {} };
    const result = await runBatch("sluice-retries", [pendingBody([event("tree-r1", { tree: nested(5000) }), event("flat-r1")])], { ...env, RETRIES: retries as unknown as Queue });
    expect(result.explicitAcks).toEqual(["f0"]);
    expect(result.retryMessages).toEqual([]);
    expect(moved.map((b) => JSON.parse(b) as DeliveryMessage)).toEqual([expect.objectContaining({ tries: 1, events: [expect.objectContaining({ messageId: "flat-r1" })] })]);
    expect((JSON.parse(moved[0]!) as DeliveryMessage).pending).toBeUndefined();
    expect(await deadLettersWith("tree-r1")).toHaveLength(1);
  });
});

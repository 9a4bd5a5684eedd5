/**
 * The dead-letter backstop: messages the dead-letter consumer could not store (R2 or the index kept failing) are
 * written whole to R2 by the backstop queue's consumer, counted, listed by the admin API and can be requeued.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import type { DeadLetter } from "../../src/queue/messages.ts";
import { eventually } from "./helpers.ts";

const admin = (path: string, init: RequestInit = {}) => SELF.fetch(`http://sluice.test${path}`, { ...init, headers: { authorization: "Bearer test-admin-token" } });
const backstopQueue = (env as unknown as { TEST_BACKSTOP: Queue }).TEST_BACKSTOP;

type Entry = { id: string; queue: string; messageId: string; attempts: number; bytes: number };
type Shown = { entry: Entry; body: string; bodyEncoding?: string };

/** The backstop entry whose body `match` accepts, read through the admin API. */
async function findEntry(match: (body: string) => boolean): Promise<Shown | undefined> {
  const list = (await (await admin("/admin/dead-letters-backstop?limit=1000")).json()) as { entries: Entry[] };
  for (const e of list.entries) {
    const shown = (await (await admin(`/admin/dead-letters-backstop/${e.id}`)).json()) as Shown;
    if (match(shown.body)) return shown;
  }
  return undefined;
}

async function backstopCounters(): Promise<Record<string, number> | undefined> {
  const stats = (await (await admin("/admin/stats")).json()) as { scopes: Record<string, { counters: Record<string, number> }[]> };
  return stats.scopes["dead-letters:backstop"]?.[0]?.counters;
}

describe("dead-letter backstop", () => {
  it("stores a message whole through the real backstop queue, lists and counts it; requeued, it becomes a dead letter", { timeout: 30_000 }, async () => {
    const messageId = `bs-${crypto.randomUUID()}`;
    const event = { type: "track", event: "Big", userId: "u1", messageId, properties: { note: "n".repeat(5000) }, receivedAt: new Date().toISOString(), timestamp: new Date().toISOString() };
    const body = JSON.stringify({ v: 1, dest: "hook", source: "web", t0: Date.now(), tries: 3, lastError: "index unavailable", events: [event] });
    await backstopQueue.send(body, { contentType: "text" });

    const shown = await eventually(() => findEntry((b) => b.includes(messageId)));
    expect(shown.body).toBe(body);
    expect(shown.entry).toMatchObject({ queue: "sluice-dead-letters-backstop", attempts: 1, bytes: body.length });
    expect((await eventually(backstopCounters))?.stored).toBeGreaterThanOrEqual(1);

    const requeued = await admin(`/admin/dead-letters-backstop/${shown.entry.id}/requeue`, { method: "POST" });
    expect(await requeued.json()).toEqual({ requeued: shown.entry.id });
    expect((await admin(`/admin/dead-letters-backstop/${shown.entry.id}`)).status).toBe(404);
    const dl = await eventually(async () => {
      const list = await env.BUCKET.list({ prefix: "dead-letters/hook/" });
      for (const o of list.objects) {
        const d = JSON.parse(await (await env.BUCKET.get(o.key))!.text()) as DeadLetter;
        if (d.events.some((e) => e.messageId === messageId)) return d;
      }
      return undefined;
    });
    expect(dl).toMatchObject({ code: "max_retries", lastError: "index unavailable", events: [{ properties: { note: "n".repeat(5000) } }] });
  });

  it("keeps any body whole: text that is not a delivery message as it is, bytes as base64", async () => {
    const text = `{not json ${"z".repeat(3000)}`;
    const batch = createMessageBatch("sluice-dead-letters-backstop", [
      { id: "bs-text", timestamp: new Date(), attempts: 2, body: text },
      { id: "bs-bytes", timestamp: new Date(), attempts: 1, body: new Uint8Array([0, 255, 1]) },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks.sort()).toEqual(["bs-bytes", "bs-text"]);
    expect(await findEntry((b) => b === text)).toMatchObject({ entry: { messageId: "bs-text", attempts: 2 } });
    expect(await findEntry((b) => b === "AP8B")).toMatchObject({ entry: { messageId: "bs-bytes" }, bodyEncoding: "base64" });
  });
});

import { createExecutionContext, createMessageBatch, env, getQueueResult, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { eventually } from "./helpers.ts";
import { sink } from "./setup.ts";

const admin = (path: string, init: RequestInit = {}) =>
  SELF.fetch(`http://sluice.test${path}`, { ...init, headers: { authorization: "Bearer test-admin-token", "content-type": "application/json", ...(init.headers ?? {}) } });

function event(id: string, extra: Record<string, unknown> = {}) {
  return { type: "track", event: "Order Completed", userId: "u1", messageId: id, receivedAt: new Date().toISOString(), timestamp: new Date().toISOString(), ...extra };
}
const body = (dest: string, events: unknown[], extra: Record<string, unknown> = {}) => JSON.stringify({ v: 1, dest, source: "web", t0: Date.now(), tries: 0, events, ...extra });

/** Runs a batch from the retries queue, where a retry decision is `msg.retry` (so getQueueResult shows it). */
async function run(bodies: string[]) {
  const batch = createMessageBatch("sluice-retries", bodies.map((b, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body: b })));
  const delays: Record<string, number | undefined> = {};
  for (const m of batch.messages) {
    const retry = m.retry.bind(m);
    m.retry = (o?: QueueRetryOptions) => {
      delays[m.id] = o?.delaySeconds;
      retry(o);
    };
  }
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return { ...(await getQueueResult(batch, ctx)), delays };
}

describe("batching across messages", () => {
  it("combines the events of several messages for a batching destination into calls of max_events", async () => {
    const result = await run([body("batched", [event("b1")]), body("batched", [event("b2"), event("b3")]), body("batched", [event("b4")])]);
    expect(result.explicitAcks.sort()).toEqual(["m0", "m1", "m2"]);
    expect(sink.requests.map((r) => (JSON.parse(r.body) as { batch: { messageId: string }[] }).batch.map((e) => e.messageId))).toEqual([["b1", "b2", "b3"], ["b4"]]);
  });

  it("maps a failed batch call back to exactly the messages whose events it carried", async () => {
    sink.responder = (req) => (req.body.includes('"b4"') ? new Response("", { status: 503 }) : new Response("ok"));
    const result = await run([body("batched", [event("b1")]), body("batched", [event("b2"), event("b3")]), body("batched", [event("b4")])]);
    expect(result.explicitAcks.sort()).toEqual(["m0", "m1"]);
    expect(result.retryMessages).toEqual([{ msgId: "m2" }]);
  });
});

describe("circuit breaker", () => {
  it("stops calling a destination that keeps failing and makes its messages wait for the cooldown", async () => {
    sink.responder = () => new Response("down", { status: 503 });
    await run([body("flaky", [event("f1")])]);
    await run([body("flaky", [event("f2")])]);
    const callsBefore = sink.requests.length;
    expect(callsBefore).toBe(2);
    const third = await run([body("flaky", [event("f3")])]);
    expect(sink.requests.length).toBe(callsBefore); // not called while open
    expect(third.retryMessages).toEqual([{ msgId: "m0" }]);
    expect(third.delays.m0).toBeGreaterThanOrEqual(29);
  });
});

describe("dead letters: index, admin API, replay once, purge", () => {
  it("lists a dead letter with its reason, shows its events, replays it once and purges it", async () => {
    const id = `dl-${crypto.randomUUID()}`;
    sink.responder = () => new Response("no such hook", { status: 404 });
    const dlResult = await run([body("hook", [event(id)])]);
    expect(dlResult.explicitAcks).toEqual(["m0"]);

    const listed = (await (await admin(`/admin/dead-letters?destination=hook&category=http_404&limit=500`)).json()) as { entries: { id: string; name: string; reason: string; events: number }[] };
    const entry = listed.entries.find((e) => e.reason.includes("no such hook"));
    expect(entry).toMatchObject({ name: "Order Completed", events: 1 });

    const shown = (await (await admin(`/admin/dead-letters/${entry!.id}`)).json()) as { record: { events: { messageId: string }[]; attempts: number; lastError: string } };
    expect(shown.record.events[0]!.messageId).toBe(id);
    expect(shown.record.lastError).toContain("HTTP 404");

    // The destination recovered: replay, twice at once; only one replay may hand the events on.
    sink.responder = undefined;
    const before = sink.requests.length;
    const [a, b] = await Promise.all([
      admin("/admin/dead-letters/replay", { method: "POST", body: JSON.stringify({ ids: [entry!.id], destination: "hook" }) }),
      admin("/admin/dead-letters/replay", { method: "POST", body: JSON.stringify({ ids: [entry!.id], destination: "hook" }) }),
    ]);
    const pages = [(await a.json()) as { replayed: number }, (await b.json()) as { replayed: number }];
    expect(pages.map((p) => p.replayed).sort()).toEqual([0, 1]);
    await eventually(async () => sink.requests.slice(before).find((r) => r.body.includes(id)));
    await new Promise((r) => setTimeout(r, 1500));
    expect(sink.requests.slice(before).filter((r) => r.body.includes(id))).toHaveLength(1);

    const after = (await (await admin(`/admin/dead-letters/${entry!.id}`)).json()) as { entry: { status: string } };
    expect(after.entry.status).toBe("replayed");
    const purged = (await (await admin("/admin/dead-letters/purge", { method: "POST", body: JSON.stringify({ ids: [entry!.id], destination: "hook" }) })).json()) as { purged: number };
    expect(purged.purged).toBe(1);
    expect((await admin(`/admin/dead-letters/${entry!.id}`)).status).toBe(404);
  });

  it("rejects unknown filters with 400", async () => {
    const res = await admin("/admin/dead-letters?colour=red");
    expect(res.status).toBe(400);
  });
});

describe("delivery metrics", () => {
  it("reports delivered, failures by reason and latency percentiles, as JSON and OpenMetrics", async () => {
    sink.responder = (req) => (req.body.includes('"x2"') ? new Response("", { status: 500 }) : new Response("ok"));
    await run([body("hook", [event("x1")]), body("hook", [event("x2")])]);
    const metrics = await eventually(async () => {
      const json = (await (await admin("/admin/destinations/metrics")).json()) as { destinations: Record<string, { delivered: number; failed: Record<string, number>; latency_ms: { p50?: number; p95?: number } }> };
      const hook = json.destinations.hook!;
      return hook.delivered > 0 && hook.failed.http_500 ? hook : undefined;
    });
    expect(metrics.latency_ms.p95).toBeGreaterThan(0);
    const text = await (await admin("/admin/metrics")).text();
    expect(text).toMatch(/^# TYPE sluice_events counter$/m);
    expect(text).toMatch(/sluice_events_total\{scope="destination",id="hook",outcome="failed",reason="http_500"\} \d+/);
    expect(text).toMatch(/sluice_delivery_latency_seconds_bucket\{destination="hook",le="\+Inf"\} \d+/);
    expect(text.trimEnd().endsWith("# EOF")).toBe(true);
  });
});

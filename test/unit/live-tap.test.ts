/**
 * The console's live feed as the router sees it (src/live/live.ts, src/router/route.ts): no console open → at most
 * one Durable Object call per source per refresh, however many events (10,000 here: one call); a console open → each
 * batch published with per-event plan findings and per-destination outcomes (delivered, filtered and by what,
 * retrying, dead-lettered, quarantined), sampled beyond MAX_RECORDS_PER_BATCH with the true count.
 */
import { describe, expect, it } from "vitest";
import { DestinationSchema, type BuiltConfig } from "../../src/config/model.ts";
import { LiveTap, MAX_RECORDS_PER_BATCH, type DeliveryReport, type LiveBatch, type LiveSink } from "../../src/live/live.ts";
import { compilePipeline } from "../../src/pipeline/compile.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { shorthandRule } from "../../src/plans/index.ts";
import type { RouterPorts } from "../../src/router/ports.ts";
import { route } from "../../src/router/route.ts";

const config: BuiltConfig = {
  version: 1,
  origin: "test/unit/live-tap.test.ts",
  sources: [{ id: "shop", name: "Shop", environment: "prod", write_keys: ["wk_shop_1234"], tracking_plan: "orders", enforcement: { violations: "quarantine" } } as BuiltConfig["sources"][number]],
  destinations: [
    DestinationSchema.check({ id: "hook", name: "Hook", kind: "webhook", sources: "*" }, [], [])!,
    DestinationSchema.check({ id: "crm", name: "CRM", kind: "webhook", sources: "*" }, [], [])!,
  ],
  filters: {},
  sourceFilters: {},
  plans: { orders: [shorthandRule({ name: "Order Completed", properties: { order_id: { type: "string", required: true } } }, {})] },
};

/** A LiveObject stand-in that counts its calls. */
class CountingSink implements LiveSink {
  calls = 0;
  open = false;
  batches: LiveBatch[] = [];
  async watched(): Promise<boolean> {
    this.calls++;
    return this.open;
  }
  async publish(_source: string, batch: LiveBatch): Promise<void> {
    this.calls++;
    this.batches.push(batch);
  }
}

function world(clock: { now: number }) {
  const sink = new CountingSink();
  const pipeline = compilePipeline(config, { webhook: { receivesAllEvents: false } });
  // "crm" drops anonymous events (a filter's reason), and its delivery retries events named "Slow".
  pipeline.source("shop")!.targets.find((t) => t.id === "crm")!.transform = (event) => (event.userId ? { kept: true, event } : { kept: false, reason: "drop_anonymous" });
  const ports: RouterPorts = {
    pipeline,
    dedup: async (_source, events) => ({ fresh: events, duplicates: 0, inFlight: new Set(), retryAfterSeconds: 0, release: async () => {}, commit: async () => {} }),
    newToken: () => "t",
    quarantine: { hold: async () => [], remove: async () => {} },
    deliver: async (dest, messages, observe) => {
      if (!observe) return;
      const report: DeliveryReport = { retrying: new Map(), deadLettered: new Map() };
      for (const e of messages.flatMap((m) => m.events)) if (dest === "crm" && e.event === "Slow") report.retrying.set(e.messageId, "http_503");
      return report;
    },
    deadLetters: { sendBatch: async () => {} },
    stats: { count: () => {} },
    live: new LiveTap(sink, () => clock.now, 10_000),
  };
  let n = 0;
  const batch = (events: Partial<SluiceEvent>[]) => ({
    messages: [
      {
        id: `m${n++}`,
        timestamp: new Date(),
        attempts: 1,
        body: JSON.stringify({ v: 1, kind: "ingest", source: "shop", t0: 1_000, events: events.map((e, i) => ({ type: "track", userId: "u1", event: "Order Completed", properties: { order_id: "o1" }, messageId: `id-${n}-${i}`, receivedAt: "2026-01-01T00:00:00.000Z", ...e })) }),
        ack: () => {},
        retry: () => {},
      },
    ] as Message<unknown>[],
  });
  return { sink, ports, batch };
}

describe("live feed: cost when no console is open", () => {
  it("asks the LiveObject once for 10,000 events in 100 batches within the refresh (≤ 1 call per 10,000 events)", async () => {
    const clock = { now: 0 };
    const w = world(clock);
    for (let b = 0; b < 100; b++) {
      await route(w.batch(Array.from({ length: 100 }, () => ({}))), w.ports);
      clock.now += 50; // 100 batches over 5 s
    }
    expect(w.sink.calls).toBe(1);
    expect(w.sink.batches).toEqual([]);
  });

  it("learns that a console opened at the next refresh, and publishes from then on", async () => {
    const clock = { now: 0 };
    const w = world(clock);
    await route(w.batch([{}]), w.ports);
    w.sink.open = true;
    await route(w.batch([{}]), w.ports);
    expect(w.sink.batches).toHaveLength(0);
    clock.now += 10_000;
    await route(w.batch([{}]), w.ports);
    expect(w.sink.batches).toHaveLength(1);
  });
});

describe("live feed: a LiveObject that does not answer", () => {
  it("reads as not watched after timeoutMs, and routing goes on without it", async () => {
    const clock = { now: 0 };
    const w = world(clock);
    w.sink.watched = () => new Promise<boolean>(() => {});
    w.ports.live = new LiveTap(w.sink, () => clock.now, 10_000, 20);
    const settled: string[] = [];
    const batch = w.batch([{}]);
    for (const m of batch.messages) m.ack = () => void settled.push("ack");
    await route(batch, w.ports);
    expect(settled).toEqual(["ack"]);
    expect(await w.ports.live.watching("shop")).toBe(false);
  });
});

describe("live feed: what a console sees", () => {
  it("describes each event: findings, and per destination delivered / filtered by which filter / retrying / quarantined", async () => {
    const w = world({ now: 0 });
    w.sink.open = true;
    await route(
      w.batch([
        { messageId: "ok" },
        { messageId: "anon", userId: undefined, anonymousId: "a1" },
        { messageId: "slow", event: "Slow" },
        { messageId: "bad", properties: {} },
      ]),
      w.ports,
    );
    const [batch] = w.sink.batches;
    const byId = Object.fromEntries(batch!.records.map((r) => [r.messageId, r]));
    expect(batch!.total).toBe(4);
    expect(byId.ok!.destinations).toEqual({ hook: { status: "delivered" }, crm: { status: "delivered" } });
    expect(byId.ok!.findings).toEqual([]);
    expect(byId.anon!.destinations).toEqual({ hook: { status: "delivered" }, crm: { status: "filtered", reason: "drop_anonymous" } });
    expect(byId.slow!.destinations.crm).toEqual({ status: "retrying", error: "http_503" });
    expect(byId.bad!.destinations.hook).toEqual({ status: "quarantined", reason: "Violation" });
    expect(byId.bad!.findings.map((f) => f.field)).toContain("properties.order_id");
    expect(JSON.parse(byId.ok!.json)).toMatchObject({ messageId: "ok", event: "Order Completed" });
    expect(byId.ok).toMatchObject({ type: "track", name: "Order Completed", userId: "u1" });
  });

  it("samples a large batch and says how many events there were", async () => {
    const w = world({ now: 0 });
    w.sink.open = true;
    await route(w.batch(Array.from({ length: 100 }, () => ({}))), w.ports);
    expect(w.sink.batches[0]!.total).toBe(100);
    expect(w.sink.batches[0]!.records).toHaveLength(MAX_RECORDS_PER_BATCH);
  });
});

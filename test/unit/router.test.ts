/**
 * The router (src/router/route.ts) with fake ports: dedup per batch (client resends, queue redeliveries, holds of an
 * invocation that died), quarantine once per batch and source, first delivery attempts per destination, and the
 * order of outcomes: commit only once every destination's outcome is durable, then ack; any failure → retry, no commit.
 */
import { describe, expect, it } from "vitest";
import { DestinationSchema, type BuiltConfig } from "../../src/config/model.ts";
import { claimBatch } from "../../src/dedup/batch.ts";
import { DedupClaims, type DedupShard } from "../../src/dedup/claims.ts";
import { compilePipeline } from "../../src/pipeline/compile.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import type { Tally } from "../../src/pipeline/route.ts";
import { shorthandRule } from "../../src/plans/index.ts";
import { parseDeliveryMessage, type DeliveryMessage } from "../../src/queue/messages.ts";
import type { RouterPorts } from "../../src/router/ports.ts";
import { route } from "../../src/router/route.ts";
import type { ClaimRequest, ClaimResult, Commit } from "../../src/storage/dedup-object.ts";

const HOLD_MS = 15_000;

const config: BuiltConfig = {
  version: 1,
  origin: "test/unit/router.test.ts",
  sources: [
    { id: "web", name: "Web", environment: "prod", write_keys: ["wk_web_12345"], dedup: { window_hours: 24, shards: 2 } } as BuiltConfig["sources"][number],
    { id: "shop", name: "Shop", environment: "prod", write_keys: ["wk_shop_1234"], tracking_plan: "orders", enforcement: { violations: "quarantine" } } as BuiltConfig["sources"][number],
  ],
  destinations: [
    DestinationSchema.check({ id: "good", name: "Good", kind: "webhook", sources: "*" }, [], [])!,
    DestinationSchema.check({ id: "bad", name: "Bad", kind: "webhook", sources: ["web"] }, [], [])!,
  ],
  filters: {},
  sourceFilters: {},
  plans: { orders: [shorthandRule({ name: "Order Completed", properties: { order_id: { type: "string", required: true } } }, {})] },
};

/** Shards as DedupObject decides: accepted ids by commit, claims held per token for HOLD_MS of `clock`. */
function fakeDedup(clock: { now: number }) {
  const accepted = new Set<string>();
  const holds = new Map<string, { token: string; at: number }>();
  const calls: string[] = [];
  const options = { releaseFails: false };
  const shard = (): DedupShard => ({
    claim(req: ClaimRequest): ClaimResult {
      calls.push("claim");
      const duplicates: string[] = [];
      const inFlight: string[] = [];
      let last = 0;
      for (const id of req.ids) {
        const h = holds.get(id);
        if (accepted.has(id)) duplicates.push(id);
        else if (h && h.token !== req.token && clock.now - h.at < HOLD_MS) {
          inFlight.push(id);
          last = Math.max(last, h.at);
        }
      }
      if (inFlight.length > 0) return { duplicates, inFlight, heldForMs: last + HOLD_MS - clock.now };
      for (const id of req.ids) if (!accepted.has(id)) holds.set(id, { token: req.token, at: clock.now });
      return { duplicates, inFlight };
    },
    commit(_windowMs: number, commits: Commit[]) {
      calls.push("commit");
      for (const c of commits) for (const id of c.ids) (accepted.add(id), holds.delete(id));
    },
    release(token: string) {
      calls.push("release");
      if (options.releaseFails) throw new Error("the isolate died");
      for (const [id, h] of holds) if (h.token === token) holds.delete(id);
    },
  });
  return { accepted, calls, options, claims: new DedupClaims({ onError: () => {} }), shards: shard };
}

class RecordingTally implements Tally {
  readonly counts: Record<string, number> = {};
  count(scope: string, metric: string, n = 1): void {
    if (n !== 0) this.counts[`${scope} ${metric}`] = (this.counts[`${scope} ${metric}`] ?? 0) + n;
  }
}

interface FakeMessage extends Message<unknown> {
  settled?: "ack" | { retry: number | undefined };
}

function message(id: string, source: string, events: Partial<SluiceEvent>[], attempts = 1, counts?: Record<string, number>): FakeMessage {
  const body = JSON.stringify({ v: 1, kind: "ingest", source, t0: 1_000, ...(counts ? { counts } : {}), events: events.map((e) => ({ type: "track", userId: "u1", event: "Signed Up", receivedAt: "2026-01-01T00:00:00.000Z", ...e })) });
  const m: FakeMessage = {
    id,
    timestamp: new Date(),
    attempts,
    body,
    ack: () => void (m.settled ??= "ack"),
    retry: (o?: QueueRetryOptions) => void (m.settled ??= { retry: o?.delaySeconds }),
  };
  return m;
}

/** Router ports over fakes: `fail` names destinations whose delivery rejects (no durable outcome). */
function world() {
  const clock = { now: 0 };
  const dedup = fakeDedup(clock);
  const received: Record<string, string[]> = {};
  const log: string[] = [];
  const held: string[][] = [];
  const deadLettered: DeliveryMessage[] = [];
  const deadBodies: unknown[] = [];
  const pipeline = compilePipeline(config, { webhook: { receivesAllEvents: false } });
  // Destination "good" has a filter that throws on events named "Boom".
  const good = pipeline.source("web")!.targets.find((t) => t.id === "good")!;
  good.transform = (event) => {
    if (event.event === "Boom") throw new Error("boom");
    return { kept: true, event };
  };
  const fail = new Set<string>();
  const tally = new RecordingTally();
  const users: { source: string; ids: string[]; day: string }[] = [];
  const ports: RouterPorts = {
    pipeline,
    dedup: (source, events, token) => claimBatch(dedup.claims, dedup.shards, source, events, token),
    newToken: () => `batch-${Math.random()}`,
    quarantine: {
      hold: async (_source, decisions) => {
        held.push(decisions.map((d) => d.event.messageId));
        return decisions.map((d, i) => ({ id: `q${i}`, at: 0, source: "shop", destination: "-", name: "", category: "", reason: "", attempts: 1, events: 1, key: `k#${i}`, status: "stored" as const }));
      },
      remove: async () => {},
    },
    deliver: async (dest, messages) => {
      await Promise.resolve();
      if (fail.has(dest)) throw new Error(`${dest} could not be settled`);
      (received[dest] ??= []).push(...messages.flatMap((m) => m.events.map((e) => e.messageId)));
      log.push(`delivered ${dest}`);
    },
    deadLetters: {
      sendBatch: async (msgs) => {
        for (const m of msgs) {
          const parsed = parseDeliveryMessage(m.body);
          if (parsed) deadLettered.push(parsed);
          else deadBodies.push(m.body);
        }
      },
    },
    stats: tally,
    users: (source, events, day) => void users.push({ source: source.id, ids: events.map((e) => String(e.userId ?? e.anonymousId)), day }),
  };
  const run = async (...msgs: FakeMessage[]) => {
    await route({ messages: msgs }, ports);
    return msgs.map((m) => m.settled);
  };
  return { clock, dedup, received, log, held, deadLettered, deadBodies, fail, tally, users, ports, run };
}

describe("route(): dedup", () => {
  it("delivers an event once across client resends: in one batch, and in a later batch", async () => {
    const w = world();
    expect(await w.run(message("a", "web", [{ messageId: "m1" }, { messageId: "m2" }]), message("b", "web", [{ messageId: "m1" }]))).toEqual(["ack", "ack"]);
    expect(w.received).toEqual({ good: ["m1", "m2"], bad: ["m1", "m2"] });
    expect(await w.run(message("c", "web", [{ messageId: "m2" }, { messageId: "m3" }]))).toEqual(["ack"]);
    expect(w.received).toEqual({ good: ["m1", "m2", "m3"], bad: ["m1", "m2", "m3"] });
    expect(w.tally.counts["source:web duplicates"]).toBe(2);
    // Hourly counts per event name (alerts) count each event once: duplicates are not counted again.
    expect(w.tally.counts["source:web event.Signed Up"]).toBe(3);
    // One claim per shard per batch, never one per message.
    expect(w.dedup.calls.filter((c) => c === "claim").length).toBeLessThanOrEqual(4);
  });

  it("absorbs a queue redelivery of a message an earlier invocation finished: acked, not delivered again", async () => {
    const w = world();
    await w.run(message("a", "web", [{ messageId: "r1" }]));
    expect(await w.run(message("a", "web", [{ messageId: "r1" }], 2))).toEqual(["ack"]);
    expect(w.received).toEqual({ good: ["r1"], bad: ["r1"] });
    expect(w.tally.counts["source:web duplicates"]).toBe(1);
  });

  it("retries a redelivered message whose ids a dead invocation still holds, after the time left on the hold", async () => {
    const w = world();
    w.fail.add("bad");
    w.dedup.options.releaseFails = true; // the invocation died: its claims were never released
    await w.run(message("a", "web", [{ messageId: "h1" }]));
    w.fail.clear();
    w.clock.now = 5_000;
    const [first, other] = await w.run(message("a", "web", [{ messageId: "h1" }], 2), message("n", "web", [{ messageId: "n1" }]));
    expect(first).toEqual({ retry: 10 });
    expect(other).toBe("ack"); // the rest of the batch goes on
    w.clock.now = HOLD_MS + 1;
    expect(await w.run(message("a", "web", [{ messageId: "h1" }], 3))).toEqual(["ack"]);
    expect(w.received.bad).toEqual(["n1", "h1"]);
    expect(w.tally.counts["source:web in_flight"]).toBe(1);
  });
});

describe("route(): a router that fails after some destinations succeeded", () => {
  it("is redelivered: the healthy destination may get a duplicate, no event is lost, dedup commits only after all outcomes", async () => {
    const w = world();
    w.fail.add("bad");
    expect(await w.run(message("a", "web", [{ messageId: "c1" }, { messageId: "c2" }]))).toEqual([{ retry: 5 }]);
    expect(w.received).toEqual({ good: ["c1", "c2"] });
    expect(w.dedup.calls).not.toContain("commit");
    expect(w.dedup.accepted.size).toBe(0);
    w.fail.clear();
    expect(await w.run(message("a", "web", [{ messageId: "c1" }, { messageId: "c2" }], 2))).toEqual(["ack"]);
    expect(w.received).toEqual({ good: ["c1", "c2", "c1", "c2"], bad: ["c1", "c2"] });
    expect([...w.dedup.accepted].sort()).toEqual(["c1", "c2"]);
    // The commit came after every destination's outcome.
    expect(w.dedup.calls.at(-1)).toBe("commit");
  });

  it("settles other sources of the batch on their own", async () => {
    const w = world();
    w.fail.add("bad");
    expect(await w.run(message("a", "web", [{ messageId: "s1" }]), message("b", "shop", [{ messageId: "s2", event: "Order Completed", properties: { order_id: "o" } }]))).toEqual([{ retry: 5 }, "ack"]);
  });
});

describe("route(): what the request path counted, and the users", () => {
  it("adds a settled message's counts to the source's stats and its events' users to the sketch, once", async () => {
    const w = world();
    const counted = message("a", "web", [{ messageId: "c1", userId: "alice" }, { messageId: "c2", userId: "bob" }], 1, { requests: 2, bytes: 900, accepted: 2, "rejected.missing_field": 1 });
    expect(await w.run(counted, message("b", "web", [{ messageId: "c3", userId: "alice" }]))).toEqual(["ack", "ack"]);
    expect(w.tally.counts).toMatchObject({ "source:web requests": 2, "source:web bytes": 900, "source:web accepted": 2, "source:web rejected.missing_field": 1 });
    expect(w.users).toEqual([
      { source: "web", ids: ["alice", "bob"], day: "1970-01-01" },
      { source: "web", ids: ["alice"], day: "1970-01-01" },
    ]);
  });

  it("counts nothing for a message it retries: its counts are added when it is settled", async () => {
    const w = world();
    w.fail.add("bad");
    const m = message("a", "web", [{ messageId: "r1" }], 1, { requests: 1, accepted: 1 });
    expect(await w.run(m)).toEqual([{ retry: 5 }]);
    expect(w.tally.counts["source:web accepted"]).toBeUndefined();
    expect(w.users).toEqual([]);
    w.fail.clear();
    expect(await w.run(message("a", "web", [{ messageId: "r1" }], 2, { requests: 1, accepted: 1 }))).toEqual(["ack"]);
    expect(w.tally.counts["source:web accepted"]).toBe(1);
    expect(w.users).toHaveLength(1);
  });

  it("routes the events of a message whose counts are not numbers, and leaves those counts out", async () => {
    const w = world();
    expect(await w.run(message("a", "web", [{ messageId: "b1" }], 1, { accepted: "many" as unknown as number }))).toEqual(["ack"]);
    expect(w.received.good).toEqual(["b1"]);
    expect(w.tally.counts["source:web accepted"]).toBeUndefined();
  });

  it("keeps the counts of a source no longer configured (its events go to the dead letters)", async () => {
    const w = world();
    expect(await w.run(message("a", "gone", [{ messageId: "g1" }], 1, { requests: 1, accepted: 1 }))).toEqual(["ack"]);
    expect(w.tally.counts["source:gone accepted"]).toBe(1);
    expect(w.users).toEqual([]);
  });
});

describe("route(): plan, quarantine, filters", () => {
  it("holds a batch's quarantined events of a source in one store call, and delivers the rest", async () => {
    const w = world();
    const bad = (id: string) => ({ messageId: id, event: "Order Completed", properties: {} });
    const ok = (id: string) => ({ messageId: id, event: "Order Completed", properties: { order_id: "o" } });
    expect(await w.run(message("a", "shop", [bad("q1"), ok("k1")]), message("b", "shop", [bad("q2")]))).toEqual(["ack", "ack"]);
    expect(w.held).toEqual([["q1", "q2"]]);
    expect(w.received).toEqual({ good: ["k1"] });
    expect(w.tally.counts["plan:orders quarantined.violation"]).toBe(2);
  });

  it("sends what a filter threw on to the dead letters, for that destination only", async () => {
    const w = world();
    expect(await w.run(message("a", "web", [{ messageId: "f1", event: "Boom" }, { messageId: "f2" }]))).toEqual(["ack"]);
    expect(w.deadLettered.map((d) => [d.dest, d.failure?.code, d.events.map((e) => e.messageId)])).toEqual([["good", "filter_error", ["f1"]]]);
    expect(w.received).toEqual({ good: ["f2"], bad: ["f1", "f2"] });
  });

  it("dead-letters a message that is not an ingest message", async () => {
    const w = world();
    const m = message("x", "web", []);
    (m as { body: unknown }).body = "{not json";
    expect(await w.run(m)).toEqual(["ack"]);
    // Not a delivery message: the dead-letter queue's consumer keeps the body whole (code "malformed").
    expect(w.deadBodies).toEqual(["{not json"]);
  });
});

import { describe, expect, it } from "vitest";
import { EdgeCounts } from "../../src/ingest/counts.ts";
import { Telemetry } from "../../src/telemetry.ts";
import type { StatsObject } from "../../src/storage/stats-object.ts";

/** A STATS namespace that records every add(day, counts) per scope. */
function fakeStats() {
  const adds: { scope: string; counts: Record<string, number> }[] = [];
  const ns = {
    idFromName: (scope: string) => scope,
    get: (scope: string) => ({ add: async (_day: string, counts: Record<string, number>) => void adds.push({ scope, counts }) }),
  };
  return { ns: ns as unknown as DurableObjectNamespace<StatsObject>, adds };
}

describe("telemetry flushes", () => {
  it("flushJoin writes at once when no flush is scheduled", async () => {
    const f = fakeStats();
    const t = new Telemetry(() => f.ns);
    t.count("destination:hook", "delivered", 3);
    const waits: Promise<unknown>[] = [];
    t.flushJoin((p) => waits.push(p));
    await Promise.all(waits);
    expect(f.adds).toEqual([{ scope: "destination:hook", counts: { delivered: 3 } }]);
  });

  it("flushJoin adds to a scheduled flush instead of calling again", async () => {
    const f = fakeStats();
    const t = new Telemetry(() => f.ns);
    const scheduled: Promise<unknown>[] = [];
    t.count("source:web", "requests");
    t.flushSoon((p) => scheduled.push(p), 20);
    t.count("source:web", "requests");
    const joined: Promise<unknown>[] = [];
    t.flushJoin((p) => joined.push(p));
    expect(joined).toHaveLength(0);
    expect(f.adds).toHaveLength(0);
    await Promise.all(scheduled);
    expect(f.adds).toEqual([{ scope: "source:web", counts: { requests: 2 } }]);
  });
});

describe("the request path's counts (EdgeCounts)", () => {
  it("writes what no message took within the spill delay, once, through the telemetry", async () => {
    const f = fakeStats();
    const t = new Telemetry(() => f.ns);
    const edge = new EdgeCounts(t, 20);
    edge.count("source:web", "requests");
    edge.count("source:web", "rejected.rate_limited", 5);
    edge.count("source:app", "requests");
    const waits: Promise<unknown>[] = [];
    edge.spillSoon((p) => waits.push(p));
    edge.spillSoon((p) => waits.push(p));
    expect(waits).toHaveLength(1);
    // A message of source app takes its counts before the spill: they are not written twice.
    expect(edge.take("source:app")).toEqual({ requests: 1 });
    await Promise.all(waits);
    expect(f.adds).toEqual([{ scope: "source:web", counts: { requests: 1, "rejected.rate_limited": 5 } }]);
    expect(edge.take("source:web")).toBeUndefined();
  });

  it("gives taken counts back when their message was not sent", () => {
    const edge = new EdgeCounts(new Telemetry(() => fakeStats().ns));
    edge.count("source:web", "accepted", 3);
    const taken = edge.take("source:web");
    edge.count("source:web", "accepted", 1);
    edge.restore("source:web", taken);
    expect(edge.take("source:web")).toEqual({ accepted: 4 });
  });
});

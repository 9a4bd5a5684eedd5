/**
 * Suite "ratelimit": leased rate limits, simulated. Several isolates run the real lease code
 * (src/limits/lease.ts) against one source bucket running the real bucket maths (src/limits/token-bucket.ts, as
 * the SourceObject does), on a simulated clock, with a Durable Object round trip of RTT_MS (the bucket is
 * updated half-way through it). A steady stream of requests (1–19 events each, 10 on average) arrives at 80 %
 * and at 150 % of the source's limit, spread unevenly over the isolates; rejected requests are not retried
 * (the offered load stays what it says).
 *
 * Figures, each a ratio with its absolute numbers:
 *  - Durable Object calls per 1,000 accepted events (target ≤ 10): what leasing saves over one call per request;
 *  - accepted rate over each 10 s window vs the configured rate (150 %) or the offered rate (80 %; nothing
 *    should be refused), target within ±10 %. The first window is reported apart: it includes the bucket's
 *    initial burst, which a token bucket grants by design.
 * Timed contenders (ns per op, in the JSON): the per-request and per-event costs these features add in the
 * isolate (bucket maths as the object runs it, HyperLogLog add, dedup claim planning).
 */
import { planClaims } from "../src/dedup/plan.ts";
import { leaseGrant, TokenLease, type LeaseGrant } from "../src/limits/lease.ts";
import { fullBucket, lease, type BucketLimits, type BucketState, type LeaseRequest } from "../src/limits/token-bucket.ts";
import { HyperLogLog } from "../src/usage/hyperloglog.ts";
import { measure, renderTable, type Contender, type Suite, type SuiteResult } from "./lib.ts";

const LIMITS: BucketLimits = { rate: 1000, burst: 1000 };
/** Share of the source's traffic each isolate receives (Cloudflare spreads requests unevenly). */
const ISOLATE_SHARES = [0.4, 0.3, 0.2, 0.1];
const DURATION_S = 60;
const WINDOW_S = 10;
const RTT_MS = 25;
const MEAN_EVENTS = 10;

/** Deterministic PRNG (mulberry32), so every run simulates the same traffic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A min-heap of timed callbacks: the simulated event loop. */
class Timeline {
  private heap: { t: number; seq: number; fn: () => void }[] = [];
  private seq = 0;
  now = 0;

  at(t: number, fn: () => void): void {
    const h = this.heap;
    h.push({ t, seq: this.seq++, fn });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(h[p]!, h[i]!)) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  /** Runs callbacks in time order; after each, lets every promise continuation run before the clock moves. */
  async run(): Promise<void> {
    const h = this.heap;
    while (h.length > 0) {
      const top = h[0]!;
      const last = h.pop()!;
      if (h.length > 0) {
        h[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
          if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
          if (m === i) break;
          [h[m], h[i]] = [h[i]!, h[m]!];
          i = m;
        }
      }
      this.now = top.t;
      top.fn();
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private less(a: { t: number; seq: number }, b: { t: number; seq: number }): boolean {
    return a.t < b.t || (a.t === b.t && a.seq < b.seq);
  }
}

export interface SimResult {
  load: number;
  isolates: number;
  offeredEvents: number;
  acceptedEvents: number;
  requests: number;
  deniedRequests: number;
  /** Calls to the source's Durable Object. */
  calls: number;
  windows: { from: number; offered: number; accepted: number }[];
}

/** One source, `shares.length` isolates, `load` × the limit offered for DURATION_S. */
export async function simulate(load: number, shares = ISOLATE_SHARES, seed = 42, leaseOptions: { leaseSeconds?: number; ttlSeconds?: number } = {}): Promise<SimResult> {
  const tl = new Timeline();
  const random = prng(seed);
  let bucket: BucketState = fullBucket(LIMITS, 0);
  let calls = 0;
  const acquire = (req: LeaseRequest): Promise<LeaseGrant> => {
    calls++;
    const sent = tl.now;
    return new Promise((resolve) => {
      let grant: LeaseGrant = { granted: 0 };
      tl.at(sent + RTT_MS / 2, () => {
        const r = lease(bucket, req, LIMITS, tl.now);
        bucket = r.state;
        grant = leaseGrant(r);
      });
      tl.at(sent + RTT_MS, () => resolve(grant));
    });
  };
  const isolates = shares.map(() => new TokenLease({ limits: LIMITS, acquire, now: () => tl.now, ...leaseOptions }));
  const windows = Array.from({ length: DURATION_S / WINDOW_S }, (_, i) => ({ from: i * WINDOW_S, offered: 0, accepted: 0 }));
  const windowOf = (ms: number) => windows[Math.min(windows.length - 1, Math.floor(ms / 1000 / WINDOW_S))]!;
  const result: SimResult = { load, isolates: shares.length, offeredEvents: 0, acceptedEvents: 0, requests: 0, deniedRequests: 0, calls: 0, windows };

  const requestsPerSecond = (load * LIMITS.rate) / MEAN_EVENTS;
  const total = Math.round(requestsPerSecond * DURATION_S);
  const cumulative = shares.map((_, i) => shares.slice(0, i + 1).reduce((a, b) => a + b, 0));
  for (let i = 0; i < total; i++) {
    // Evenly spaced arrivals with ±50 % jitter: a steady stream, not a metronome.
    const t = ((i + 0.5 + (random() - 0.5)) * 1000) / requestsPerSecond;
    const events = 1 + Math.floor(random() * (2 * MEAN_EVENTS - 1));
    const u = random();
    const isolate = isolates[cumulative.findIndex((c) => u < c)] ?? isolates.at(-1)!;
    tl.at(t, () => {
      result.requests++;
      result.offeredEvents += events;
      windowOf(t).offered += events;
      void isolate.take(events).then((a) => {
        if (a.admitted) {
          result.acceptedEvents += events;
          windowOf(tl.now).accepted += events;
        } else result.deniedRequests++;
      });
    });
  }
  await tl.run();
  result.calls = calls;
  return result;
}

interface Figure {
  label: string;
  ratio: number;
  min?: number;
  max?: number;
  absolute: string;
  target: string;
  pass: boolean;
}

const fmt = (x: number, d = 2) => x.toFixed(d);
const int = (x: number) => Math.round(x).toLocaleString("en-US");

function figures(sim: SimResult): Figure[] {
  const pct = `${Math.round(sim.load * 100)}%`;
  const perThousand = (sim.calls / sim.acceptedEvents) * 1000;
  const out: Figure[] = [
    {
      label: `${pct} load: DO calls / 1,000 accepted events`,
      ratio: perThousand,
      absolute: `${int(sim.calls)} calls / ${int(sim.acceptedEvents)} events (${int(sim.requests)} requests)`,
      target: "≤ 10",
      pass: perThousand <= 10,
    },
  ];
  const steady = sim.windows.slice(1);
  const configured = LIMITS.rate * WINDOW_S;
  if (sim.load > 1) {
    const ratios = steady.map((w) => w.accepted / configured);
    out.push({
      label: `${pct} load: accepted / configured rate, 10 s windows 2–${sim.windows.length}`,
      ratio: ratios.reduce((a, b) => a + b, 0) / ratios.length,
      min: Math.min(...ratios),
      max: Math.max(...ratios),
      absolute: `${int(Math.min(...steady.map((w) => w.accepted)))}–${int(Math.max(...steady.map((w) => w.accepted)))} / ${int(configured)} events per window`,
      target: "0.9–1.1",
      pass: ratios.every((r) => r >= 0.9 && r <= 1.1),
    });
  } else {
    const ratios = steady.map((w) => w.accepted / w.offered);
    out.push({
      label: `${pct} load: accepted / offered rate, 10 s windows 2–${sim.windows.length}`,
      ratio: ratios.reduce((a, b) => a + b, 0) / ratios.length,
      min: Math.min(...ratios),
      max: Math.max(...ratios),
      absolute: `${int(steady.reduce((a, w) => a + w.accepted, 0))} / ${int(steady.reduce((a, w) => a + w.offered, 0))} events (${fmt(steady.reduce((a, w) => a + w.accepted, 0) / steady.length / configured)}× configured)`,
      target: "0.9–1.1",
      pass: ratios.every((r) => r >= 0.9 && r <= 1.1),
    });
  }
  const first = sim.windows[0]!;
  out.push({
    label: `${pct} load: accepted / configured rate, first 10 s window (initial burst)`,
    ratio: first.accepted / configured,
    absolute: `${int(first.accepted)} / ${int(configured)} events (burst ${int(LIMITS.burst)})`,
    target: "—",
    pass: true,
  });
  return out;
}

function hotPathContenders(): Contender<unknown>[] {
  const ids = Array.from({ length: 1000 }, (_, i) => `5f1c${i.toString(16).padStart(6, "0")}-7a3e-4c1b-9d2e-0b8a6f4c2d1e`);
  const users = ids.map((id) => `u:${id.slice(0, 12)}`);
  const events = ids.map((messageId) => ({ messageId }));
  let state: BucketState = fullBucket(LIMITS, 0);
  let now = 0;
  const sketch = new HyperLogLog();
  return [
    {
      name: "bucket lease (object side)",
      unit: "call",
      opsPerRun: 1000,
      run: () => {
        let granted = 0;
        for (let i = 0; i < 1000; i++) {
          now += 1;
          const r = lease(state, { need: 10, want: 100, min: 50, giveBack: 0 }, LIMITS, now);
          state = r.state;
          granted += r.granted;
        }
        return granted;
      },
    },
    {
      name: "hyperloglog add",
      unit: "event",
      opsPerRun: 1000,
      run: () => {
        let changed = 0;
        for (const u of users) if (sketch.add(u)) changed++;
        return changed + sketch.registers[0]!;
      },
    },
    {
      name: "dedup claim plan (8 shards)",
      unit: "event",
      opsPerRun: 1000,
      run: () => planClaims(events, 8).byShard.size,
    },
  ];
}

export const ratelimitSuite: Suite = {
  name: "ratelimit",
  async run(): Promise<SuiteResult> {
    const sims = [await simulate(0.8), await simulate(1.5)];
    const wide = [await simulate(0.8, Array(16).fill(1 / 16)), await simulate(1.5, Array(16).fill(1 / 16))];
    const main = sims.flatMap(figures);
    const extra = wide.flatMap(figures);
    const rows = (fs: Figure[]) =>
      fs.map((f) => [f.label, fmt(f.ratio), f.min === undefined ? "" : `[${fmt(f.min)}–${fmt(f.max!)}]`, f.target, f.target === "—" ? "" : f.pass ? "ok" : "MISS", f.absolute]);
    const header = ["figure", "ratio", "[min–max]", "target", "", "absolute"];
    const align = [false, true, true, false, false, false];
    const timed = await measure(hotPathContenders());
    const notes = [
      `ratelimit: leased token bucket, simulated: limit ${LIMITS.rate} events/s, burst ${LIMITS.burst}, ${DURATION_S} s, requests of 1–19 events,` +
        ` Durable Object round trip ${RTT_MS} ms, real lease code and bucket maths.`,
      `  ${ISOLATE_SHARES.length} isolates with ${ISOLATE_SHARES.map((s) => `${s * 100}%`).join("/")} of the traffic:`,
      ...renderTable(header, rows(main), align).split("\n").map((l) => `  ${l}`),
      `  16 isolates, even shares (diagnostic: 50–94 events/s per isolate; a lease holds up to 30 s of an isolate's traffic`,
      `  but at most a quarter of burst, 250 events here, so each renews every 3–5 s):`,
      ...renderTable(header, rows(extra), align).split("\n").map((l) => `  ${l}`),
      `  isolate-side costs: ${timed.measurements.map((m) => `${m.name} ${m.nsPerOp.toFixed(0)} ns/${m.unit}`).join(", ")}`,
    ];
    const missed = main.filter((f) => !f.pass);
    if (missed.length > 0) notes.push(`  ratelimit targets missed: ${missed.map((f) => f.label).join("; ")}`);
    return {
      name: "ratelimit",
      description: `leased rate limits: ${ISOLATE_SHARES.length} simulated isolates against one bucket at 80% and 150% of ${LIMITS.rate} events/s`,
      measure: timed,
      ratios: [],
      checks: {
        limits: LIMITS,
        rttMs: RTT_MS,
        figures: main.map((f) => ({ ...f, ratio: Number(f.ratio.toFixed(3)) })),
        diagnostic16Isolates: extra.map((f) => ({ ...f, ratio: Number(f.ratio.toFixed(3)) })),
        simulations: [...sims, ...wide],
      },
      notes,
    };
  },
};

/**
 * Suite "pipeline": the whole per-request core on one core, vs its floor, and how it scales.
 *
 * Every contender works from the raw request body (a string) of the 5,000-event corpus cut into requests, as the
 * worker receives them. The pipeline and ingest contenders run the worker's own request path, `accept()`
 * (src/ingest/accept.ts), with in-memory ports (./pipeline-fixture.ts BenchIngest): write key → JSON.parse →
 * normalizeRequest → routeNormalized (tracking plan, integrations object, each destination's 3 filters + 2
 * transformations) → enqueue per destination into counting fake queues.
 *
 * Contenders (all in one measure() call, interleaved):
 *  - parse+stringify:    JSON.parse of the request body + JSON.stringify of each of its events — the floor no
 *                        pipeline can beat (it must read the events and write them out at least once).
 *  - pipeline dN rM:     N destinations (1, 10, 50), requests of M events (10, 100). d10 r100 is the headline.
 *  - stage 1 / stage 2:  d10 r100 cut short — parse+normalize+plan; then + routing with filters (no
 *                        serialization) — so the table says where the time goes.
 *  - router d10:        the router itself, route() (src/router/route.ts) as production calls it, on the ingest
 *                        messages accept() wrote (queue batches of 5 × 100 events, and of 100 single-event messages),
 *                        each destination's events serialized once; vs its per-copy floor: parse the message bodies +
 *                        one JSON.stringify per event per destination that receives it.
 *  - ingest d10 r100/r1: the headline plus what the router adds per event beyond routing (dedup claim planning:
 *                        a 64-bit hash per messageId; the usage HyperLogLog), for 100-event batches and
 *                        for single-event requests (`/v1/track` bodies): the CPU the "cost" suite prices.
 *
 * Units: ns per event (accepted events = corpus events; the corpus has no invalid events). Per-destination cost
 * = ns per event ÷ destinations.
 */
import type { SluiceEvent } from "../src/pipeline/normalize.ts";
import { CORPUS_PATH, corpusLines } from "../test/fixtures/corpus.ts";
import { measure, median, ratio, type Contender, type Measurement, type Suite, type SuiteResult } from "./lib.ts";
import { BenchIngest, benchConfig, queuedShape, requestsOf, type BenchRequest } from "./pipeline-fixture.ts";
import { parseIngestMessage } from "../src/queue/messages.ts";

/** The measurements of the last run in this process (the "cost" suite reuses them). */
export let lastPipelineRun: { ingestBatch: Measurement; ingestSingle: Measurement; pipeline: Measurement; floor: Measurement } | undefined;

/** Times `run` over the requests; `run` may be async (`BenchIngest.run`, which calls the worker's `accept()`). */
export function requestContender(name: string, requests: BenchRequest[], run: (req: BenchRequest) => number | Promise<number>): Contender<BenchRequest[]> {
  // A batch is a slice of consecutive requests worth ~500 events (as the other suites' 500-event chunks), so a
  // round covers the whole corpus and single-event requests do not pay a timer read each.
  const perBatch = Math.max(1, Math.round(500 / (requests[0]?.events ?? 1)));
  const batches: BenchRequest[][] = [];
  for (let i = 0; i < requests.length; i += perBatch) batches.push(requests.slice(i, i + perBatch));
  let next = 0;
  return {
    name,
    unit: "event",
    prepare: () => batches[next++ % batches.length]!,
    opsPerRun: (batch) => batch.reduce((n, r) => n + r.events, 0),
    batchMultiple: batches.length,
    run(batch) {
      let sum = 0;
      for (let i = 0; i < batch.length; i++) {
        const r = run(batch[i]!);
        // Synchronous contenders stay synchronous (no microtask in their timing); an async one is awaited in turn.
        if (typeof r !== "number") return finishAsync(r, i);
        sum += r;
      }
      return sum;
      async function finishAsync(first: Promise<number>, at: number): Promise<number> {
        sum += await first;
        for (let i = at + 1; i < batch.length; i++) sum += await run(batch[i]!);
        return sum;
      }
    },
  };
}

/** One queue batch of ingest message bodies for the router, and how many events it carries. */
interface RouterBatch {
  bodies: string[];
  events: number;
}

/**
 * The events an ingest message body carries, parsed and nothing more (the router floor's parse): a raw message's
 * header and request items as the client sent them, a v1 message's events.
 */
function carried(body: string): unknown[] {
  const newline = body.indexOf("\n");
  if (newline === -1) return (JSON.parse(body) as { events: unknown[] }).events;
  JSON.parse(body.slice(0, newline));
  const json = JSON.parse(body.slice(newline + 1)) as { batch?: unknown[] };
  return Array.isArray(json.batch) ? json.batch : [json];
}

/** The ingest messages accept() writes for `requests`, cut into queue batches of ≤ `maxMessages` and ~500 events. */
async function routerBatches(engine: BenchIngest, requests: BenchRequest[], maxMessages: number): Promise<RouterBatch[]> {
  const batches: RouterBatch[] = [];
  let current: RouterBatch = { bodies: [], events: 0 };
  for (const req of requests) {
    for (const body of await engine.ingestBodies(req)) {
      current.bodies.push(body);
      current.events += parseIngestMessage(body)!.events.length;
      if (current.bodies.length >= maxMessages || current.events >= 500) {
        batches.push(current);
        current = { bodies: [], events: 0 };
      }
    }
  }
  if (current.bodies.length > 0) batches.push(current);
  return batches;
}

/** Times `run` over the router batches, one batch per timed run. */
function batchContender(name: string, batches: RouterBatch[], run: (batch: RouterBatch) => number | Promise<number>): Contender<RouterBatch> {
  let next = 0;
  return { name, unit: "event", prepare: () => batches[next++ % batches.length]!, opsPerRun: (b) => b.events, batchMultiple: batches.length, run };
}

/** Divides a measurement by `k` (e.g. ns per event → ns per event per destination), keeping its rounds. */
function scaled(m: Measurement, k: number, name: string, unit: string): Measurement {
  const roundsNsPerOp = m.roundsNsPerOp.map((x) => x / k);
  return { ...m, name, unit, nsPerOp: m.nsPerOp / k, opsPerSec: m.opsPerSec * k, roundsNsPerOp };
}

export const pipelineSuite: Suite = {
  name: "pipeline",
  async run(): Promise<SuiteResult> {
    const lines = corpusLines();
    const r100 = requestsOf(lines, 100);
    const r10 = requestsOf(lines, 10);
    const r1 = requestsOf(lines, 1);
    const DESTS = [1, 10, 50] as const;
    const ingest = new Map(DESTS.map((d) => [d, new BenchIngest(benchConfig(d, lines))]));
    const d10 = ingest.get(10)!;
    const full = new BenchIngest(benchConfig(10, lines), true);

    // Untimed: what the headline config does with the corpus (also checks every request is accepted).
    const shape = { events: 0, accepted: 0, deliveries: 0, messages: 0, bytes: 0, destinations: 0 };
    for (const req of r100) {
      const o = await d10.run(req);
      const queued = queuedShape(o);
      shape.events += req.events;
      shape.accepted += o.accepted;
      shape.destinations += queued.destinations;
      shape.deliveries += queued.deliveries;
      shape.messages += o.messages;
      shape.bytes += o.bytes;
    }
    if (shape.accepted !== shape.events) throw new Error(`bench/pipeline: ${shape.events - shape.accepted} corpus events were not accepted`);

    const floor = requestContender("parse+stringify", r100, (req) => {
      const body = JSON.parse(req.body) as { batch: unknown[] };
      let sum = 0;
      for (let i = 0; i < body.batch.length; i++) sum += JSON.stringify(body.batch[i]).length;
      return sum;
    });
    const pipelines: Contender<BenchRequest[]>[] = [];
    for (const d of DESTS) {
      for (const [size, reqs] of [[100, r100], [10, r10]] as const) {
        const engine = ingest.get(d)!;
        pipelines.push(requestContender(`pipeline d${d} r${size}`, reqs, async (req) => (await engine.run(req)).bytes));
      }
    }
    // Per-copy floor: parse the body, then stringify each event once per distinct copy d10 delivers (the
    // serialization any design that packs per destination at ingest must pay).
    const copies = new Map(r100.map((req) => [req, d10.copiesPerEvent(req)]));
    let distinctCopies = 0;
    let distinctJson = 0;
    for (const k of copies.values())
      for (let i = 0; i < k.objects.length; i++) {
        distinctCopies += k.objects[i]!;
        distinctJson += k.texts[i]!;
      }
    // Design floor: the per-copy floor plus the tracking plan's check of each event — the least this design (plan
    // at ingest, a serialized copy per destination) pays, with normalization and every filter for free.
    const copyFloor = (name: string, withPlan: boolean) =>
      requestContender(name, r100, (req) => {
        const body = JSON.parse(req.body) as { batch: SluiceEvent[] };
        const k = copies.get(req)!.objects;
        let sum = 0;
        for (let i = 0; i < body.batch.length; i++) {
          if (withPlan) sum += d10.checkPlan(body.batch[i]!);
          for (let c = 0; c < k[i]!; c++) sum += JSON.stringify(body.batch[i]).length;
        }
        return sum;
      });
    const deliveryFloor = copyFloor("parse + stringify per copy (d10)", false);
    const designFloor = copyFloor("parse + plan + stringify per copy (d10)", true);
    const front = requestContender("stage 1: parse+normalize+plan", r100, (req) => d10.runFront(req));
    const frontNoCheck = requestContender("stage 1 without the 32 KB event check", r100, (req) => d10.runFront(req, true));
    const route = requestContender("stage 2: + route d10 (no serialization)", r100, (req) => d10.runRouteOnly(req));
    const ingestBatch = requestContender("ingest d10 r100 (+dedup plan, usage)", r100, async (req) => (await full.run(req)).bytes);
    const ingestSingle = requestContender("ingest d10 r1 (+dedup plan, usage)", r1, async (req) => (await full.run(req)).bytes);

    // The router, route() as production calls it, on the ingest messages accept() wrote (batches of 5 messages of 100
    // events, and of 100 single-event messages: the queue's max_batch_size), vs its per-copy floor: parse those
    // message bodies + one JSON.stringify per event per destination that receives it (the serialization any
    // delivery pays). Copies are counted untimed, from the router's own fan-out.
    const routerSets = { r100: await routerBatches(d10, r100, 100), r1: await routerBatches(d10, r1, 100) };
    // Copies per event of each message body, from a run of the router over the batch (ids are unique within one).
    const copiesOf = new Map<string, number[]>();
    // The events as delivered (built by the router from a raw message): what the floor's stringifies serialize.
    const builtOf = new Map<string, SluiceEvent[]>();
    for (const batch of [...routerSets.r100, ...routerSets.r1]) {
      const copiesById = new Map<string, number>();
      await d10.routeBatch(batch.bodies, (_dest, events) => {
        for (const e of events) copiesById.set(e.messageId, (copiesById.get(e.messageId) ?? 0) + 1);
      });
      for (const body of batch.bodies) {
        const events = parseIngestMessage(body)!.events;
        builtOf.set(body, events);
        copiesOf.set(body, events.map((e) => copiesById.get(e.messageId) ?? 0));
      }
    }
    let routerCopies = 0;
    for (const batch of routerSets.r100) for (const body of batch.bodies) for (const k of copiesOf.get(body)!) routerCopies += k;
    const routerFloor = (name: string, batches: RouterBatch[]) =>
      batchContender(name, batches, (batch) => {
        let sum = 0;
        for (const body of batch.bodies) {
          sum += carried(body).length;
          const events = builtOf.get(body)!;
          const k = copiesOf.get(body)!;
          for (let i = 0; i < events.length; i++) for (let c = 0; c < k[i]!; c++) sum += JSON.stringify(events[i]).length;
        }
        return sum;
      });
    const routerR100 = batchContender("router d10 (route(), 100-event messages)", routerSets.r100, (batch) => d10.routeBatch(batch.bodies));
    const routerR1 = batchContender("router d10 (route(), single-event messages)", routerSets.r1, (batch) => d10.routeBatch(batch.bodies));
    const routerFloorR100 = routerFloor("router per-copy floor (100-event messages)", routerSets.r100);
    const routerFloorR1 = routerFloor("router per-copy floor (single-event messages)", routerSets.r1);

    const contenders = [floor, deliveryFloor, designFloor, ...pipelines, front, frontNoCheck, route, ingestBatch, ingestSingle, routerR100, routerFloorR100, routerR1, routerFloorR1];
    const result = await measure(contenders);
    const m = (name: string) => result.measurements.find((x) => x.name === name)!;
    const mFloor = m("parse+stringify");
    const p = (d: number, r: number) => m(`pipeline d${d} r${r}`);
    const perDest = (d: number, r: number) => scaled(p(d, r), d, `d${d} r${r} per destination`, "event·dest");

    const ratios = [
      ratio("pipeline", "pipeline d10 / parse+stringify", p(10, 100), mFloor, {
        target: { op: "<", value: 3 },
        note: "normalize → plan → 10 destinations × (3 filters + 2 transformations) → packMessages, 100-event requests",
      }),
      ratio("pipeline", "pipeline d10 / per-copy floor", p(10, 100), m(deliveryFloor.name), {
        note: "vs parse + one stringify per distinct copy delivered: the least a design that serializes per destination at ingest pays",
      }),
      ratio("pipeline", "per-copy floor / parse+stringify (d10)", m(deliveryFloor.name), mFloor, {
        note: "serialization alone: parse + one stringify per distinct copy the 10 destinations receive",
      }),
      ratio("pipeline", "design floor (+ plan) / parse+stringify (d10)", m(designFloor.name), mFloor, {
        note: "per-copy floor + the tracking plan's check, normalization and filters free: above 3, no pipeline of this design meets the 3× target",
      }),
      ratio("pipeline", "stage 1 (parse, normalize, plan) / floor", m(front.name), mFloor, { note: "destination-independent part" }),
      ratio("pipeline", "stage 1 without / with the 32 KB event check", m(frontNoCheck.name), m(front.name), {
        note: "normalize stringifies + UTF-8-encodes every event of a request > 32 KB to check its size",
      }),
      ratio("pipeline", "stage 2 (+ route d10) / floor", m(route.name), mFloor, { note: "+ integrations and 10 destinations' filters, no serialization" }),
      ratio("pipeline", "pipeline d1 / parse+stringify", p(1, 100), mFloor),
      ratio("pipeline", "pipeline d50 / parse+stringify", p(50, 100), mFloor),
      ratio("pipeline", "per-destination cost d10 / d1", perDest(10, 100), perDest(1, 100), {
        target: { op: "<=", value: 1 },
        note: "≤ 1: cost grows no worse than linearly from 1 to 10 destinations",
      }),
      ratio("pipeline", "per-destination cost d50 / d10", perDest(50, 100), perDest(10, 100), {
        target: { op: "<=", value: 1 },
        note: "≤ 1: cost grows no worse than linearly from 10 to 50 destinations",
      }),
      ratio("pipeline", "10-event / 100-event requests, d10", p(10, 10), p(10, 100), { note: "per-request overhead (headers, message envelopes), per event" }),
      ratio("pipeline", "10-event / 100-event requests, d50", p(50, 10), p(50, 100)),
      ratio("pipeline", "router d10 / its per-copy floor", m(routerR100.name), m(routerFloorR100.name), {
        target: { op: "<=", value: 1.5 },
        note: "route() on 5 ingest messages of 100 events per batch vs parse + one stringify per event per receiving destination",
      }),
      ratio("pipeline", "router d10 / its per-copy floor, single-event messages", m(routerR1.name), m(routerFloorR1.name), {
        target: { op: "<=", value: 1.5 },
        note: "route() on queue batches of 100 one-event messages (single-event clients)",
      }),
      ratio("pipeline", "ingest r100 (+guards) / floor", m(ingestBatch.name), mFloor, { note: "what the cost model prices for batched clients" }),
      ratio("pipeline", "ingest r1 / ingest r100, per event", m(ingestSingle.name), m(ingestBatch.name), { note: "single-event requests (/v1/track) vs batches of 100" }),
    ];

    lastPipelineRun = { ingestBatch: m(ingestBatch.name), ingestSingle: m(ingestSingle.name), pipeline: p(10, 100), floor: mFloor };

    // Where does it bend? Fixed cost (d → 0) and marginal cost per added destination, per request size.
    const notes: string[] = [];
    const f = (x: number) => `${x.toFixed(0)} ns`;
    notes.push(
      `pipeline: ${lines.length} events as ${r100.length} requests of 100 (and ${r10.length} of 10, ${r1.length} of 1); plan stage: ${d10.planStage}.`,
      `  d10 r100 shape: ${shape.deliveries} deliveries for ${shape.events} events (${(shape.deliveries / shape.events).toFixed(2)} destinations per event after filters), ${(distinctCopies / shape.events).toFixed(2)} distinct copies per event (${(distinctJson / shape.events).toFixed(2)} distinct JSON texts),` +
        ` ${shape.messages} queue messages of ${(shape.bytes / shape.messages / 1024).toFixed(1)} KB on average (${(shape.messages / shape.events).toFixed(3)} per event).`,
      `  router: ${routerSets.r100.length} batches of 100-event messages, ${routerSets.r1.length} of single-event messages; ${(routerCopies / lines.length).toFixed(2)} destination copies per event (the floor's stringifies).`,
    );
    for (const r of [100, 10]) {
      const c1 = p(1, r).nsPerOp;
      const c10 = p(10, r).nsPerOp;
      const c50 = p(50, r).nsPerOp;
      // Marginal cost of one more destination, 1→10 and 10→50, per round (the contenders ran interleaved), then
      // the median of their per-round ratio: > 1 means each destination past 10 costs more than the first ten did.
      const rounds = p(1, r).roundsNsPerOp.map((_, k) => {
        const [a, b, c] = [p(1, r), p(10, r), p(50, r)].map((x) => x.roundsNsPerOp[k]!) as [number, number, number];
        return { low: (b - a) / 9, high: (c - b) / 40 };
      });
      const bend = median(rounds.map((x) => x.high / x.low));
      const lo = Math.min(...rounds.map((x) => x.high / x.low));
      const hi = Math.max(...rounds.map((x) => x.high / x.low));
      notes.push(
        `  scaling r${r}: ${f(c1)} / ${f(c10)} / ${f(c50)} per event at 1 / 10 / 50 destinations; per destination ${f(c1)} / ${f(c10 / 10)} / ${f(c50 / 50)};` +
          ` marginal cost of a destination ${f(median(rounds.map((x) => x.low)))} (1→10), ${f(median(rounds.map((x) => x.high)))} (10→50), ratio ${bend.toFixed(2)} [${lo.toFixed(2)}–${hi.toFixed(2)}]: ` +
          (bend <= 1.25 ? "linear, no bend" : `bends up ×${bend.toFixed(2)} past 10 destinations`) +
          "; the fixed part (parse, normalize, plan) is shared, so per-destination cost falls as destinations are added.",
      );
    }
    return {
      name: "pipeline",
      description: `normalize → plan → N destinations × (3 filters + 2 transformations) → packMessages over ${lines.length} events (${CORPUS_PATH})`,
      measure: result,
      ratios,
      checks: { shape, planStage: d10.planStage },
      notes,
    };
  },
};

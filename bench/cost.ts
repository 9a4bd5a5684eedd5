/**
 * Suite "cost": Cloudflare list-price cost per million events, for single-event clients (analytics.js, mobile:
 * one event per request) and batched clients (server libraries: 100 events per request), for the "pipeline"
 * suite's 10-destination config (a source with a tracking plan, dedup on, a rate limit; 10 webhooks × 3 filters +
 * 2 transformations), next to the parse-and-enqueue floor (bench/floor-worker).
 *
 * Inputs, each measured or counted, never assumed where it can be measured:
 *  - CPU per event: the "pipeline" suite's `ingest d10 r1` and `ingest d10 r100` contenders (the request path
 *    plus dedup planning and the usage sketch), and its parse+stringify floor; measured in this run (if the
 *    pipeline suite did not run in this process, a shorter measurement of the same contenders is made here).
 *    Node's V8 on this machine stands in for workerd; the consumer's CPU is not measured (see the notes).
 *  - Durable Object calls, the SQLite rows they write, Queue messages and their 64 KB billing units, Worker
 *    invocations: counted by ./cost-sim.ts, which runs the real app (createApp with the real guards and
 *    telemetry) on one isolate under a virtual clock at a given per-isolate rate, then the real queue consumer
 *    on what was queued, with counting fakes for every binding. Per-second work (lease renewals, coalesced
 *    telemetry / dedup-commit / usage flushes) is spread over the events an isolate sees, so it depends on the
 *    per-isolate rate: the headline assumes 100 events/s per isolate; 10 and 1,000 are in the notes.
 *
 * Not included: the $5/month plan fee and included usage (marginal prices only), destination-side costs (R2
 * writes, the receivers), retries and dead letters, storage (GB-month) of dedup ids and counters.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { corpusLines } from "../test/fixtures/corpus.ts";
import { BenchIngest, benchConfig, requestsOf, type BenchRequest } from "./pipeline-fixture.ts";
import { externalResult, measure, pairedRatio, renderTable, runsMeasurement, type Contender, type Measurement, type RatioFigure, type Suite, type SuiteResult } from "./lib.ts";
import { lastPipelineRun, requestContender } from "./pipeline.ts";
import type { Scenario, SimResult } from "./cost-sim.ts";

/** Cloudflare list prices (Workers Paid), USD, marginal — beyond what the plan includes. */
export const PRICES = {
  checked: "2026-11-26",
  source:
    "developers.cloudflare.com: workers/platform/pricing, durable-objects/platform/pricing, queues/platform/pricing (stored copies consulted on the date above)",
  workersRequestsPerMillion: 0.3,
  workersCpuMsPerMillion: 0.02,
  doRequestsPerMillion: 0.15,
  doGbSecondsPerMillion: 12.5,
  doRowsWrittenPerMillion: 1.0,
  doRowsReadPerMillion: 0.001,
  queueOperationsPerMillion: 0.4,
  /** Bytes per Queue billing unit: each 64 KB written, read or deleted is one operation. */
  queueUnitBytes: 64 * 1024,
  /** Durable Object duration is billed at 128 MB while active. */
  doGb: 0.128,
  /** Assumed wall time a Durable Object stays active per call (not measurable locally). */
  doActiveMsPerCallAssumed: 2,
  /** Messages per floor consumer invocation (bench/floor-worker/wrangler.toml max_batch_size), full batches at scale. */
  consumerBatch: 100,
  unsure: [
    "whether each Queue consumer invocation is billed as one Workers request (counted here: the router's invocations of up to 100 messages; the floor's consumer: messages ÷ 100)",
    "Durable Object duration: the active wall time per call is assumed (2 ms at 128 MB); it is under 3% of the request price either way",
    "SQLite-backed Durable Object rows written at $1.00/M (billed since January 2026 per the docs' release notes; same rate as D1)",
    "CPU: Node's V8 on a shared 2-core machine stands in for workerd's; CPU is a small share of the total at $0.02 per million CPU-ms",
  ],
} as const;

const HEADLINE_RATE = 100;
const SENSITIVITY = [10, 1000] as const;
const DESTINATIONS = 10;

function runSimulation(scenarios: Scenario[]): Promise<SimResult[]> {
  const script = fileURLToPath(new URL("./cost-sim.ts", import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, JSON.stringify(scenarios)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(out.trim().split("\n").pop() ?? "") as SimResult[]);
      } catch (e) {
        reject(new Error(`bench/cost-sim failed: ${String(e)}\n${out.slice(-2000)}\n${err.slice(-4000)}`));
      }
    });
  });
}

/** CPU per event from the pipeline suite of this run, or a shorter measurement of the same contenders. */
async function cpuPerEvent(lines: string[]): Promise<{ single: Measurement; batch: Measurement; floor: Measurement; source: string }> {
  if (lastPipelineRun) return { single: lastPipelineRun.ingestSingle, batch: lastPipelineRun.ingestBatch, floor: lastPipelineRun.floor, source: "pipeline suite (this run)" };
  const full = new BenchIngest(benchConfig(DESTINATIONS, lines), true);
  const r100 = requestsOf(lines, 100);
  const r1 = requestsOf(lines, 1);
  const result = await measure(
    [
      requestContender("ingest d10 r1 (+dedup plan, usage)", r1, async (r) => (await full.run(r)).bytes),
      requestContender("ingest d10 r100 (+dedup plan, usage)", r100, async (r) => (await full.run(r)).bytes),
      requestContender("parse+stringify", r100, (r) => {
        const body = JSON.parse(r.body) as { batch: unknown[] };
        return body.batch.reduce<number>((n, e) => n + JSON.stringify(e).length, 0);
      }),
    ],
    { rounds: 5 },
  );
  const [single, batch, floor] = result.measurements as [Measurement, Measurement, Measurement];
  return { single, batch, floor, source: "measured by the cost suite (pipeline suite not run)" };
}

interface Breakdown {
  label: string;
  workersRequests: number;
  cpuMs: number;
  doRequests: number;
  doRowsWritten: number;
  doGbSeconds: number;
  queueOps: number;
}

/** Per event → dollars per million events, by component. */
function dollars(b: Breakdown) {
  const p = PRICES;
  const parts = {
    "Workers requests": b.workersRequests * p.workersRequestsPerMillion,
    "Workers CPU": b.cpuMs * p.workersCpuMsPerMillion,
    "DO requests": b.doRequests * p.doRequestsPerMillion,
    "DO rows written": b.doRowsWritten * p.doRowsWrittenPerMillion,
    "DO duration": b.doGbSeconds * p.doGbSecondsPerMillion,
    "Queue operations": b.queueOps * p.queueOperationsPerMillion,
  };
  return { parts, total: Object.values(parts).reduce((a, x) => a + x, 0) };
}

function sluiceBreakdown(label: string, sim: SimResult, cpuNsPerEvent: number): Breakdown {
  const e = sim.events;
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, x) => a + x, 0);
  const doCalls = sum(sim.doCalls);
  return {
    label,
    workersRequests: (sim.requests + sim.consumer.invocations) / e,
    cpuMs: cpuNsPerEvent / 1e6,
    doRequests: doCalls / e,
    doRowsWritten: sum(sim.doRowsWritten) / e,
    doGbSeconds: (doCalls * PRICES.doActiveMsPerCallAssumed * PRICES.doGb) / 1000 / e,
    queueOps: (3 * sim.queue.billingUnits) / e,
  };
}

/** The floor worker: one message per request (the batch as sent), no Durable Objects. */
function floorBreakdown(label: string, eventsPerRequest: number, bytesPerEvent: number, cpuNsPerEvent: number): Breakdown {
  const units = Math.ceil((eventsPerRequest * bytesPerEvent) / PRICES.queueUnitBytes);
  return {
    label,
    workersRequests: 1 / eventsPerRequest + 1 / (PRICES.consumerBatch * eventsPerRequest),
    cpuMs: cpuNsPerEvent / 1e6,
    doRequests: 0,
    doRowsWritten: 0,
    doGbSeconds: 0,
    queueOps: (3 * units) / eventsPerRequest,
  };
}

/** Durable Object calls the Tracking API made (phase "ingest" of the simulation) per 1,000 events. */
const requestPathCalls = (s: SimResult) =>
  ((1000 * Object.entries(s.doCalls).reduce((n, [k, v]) => (k.startsWith("ingest:") ? n + v : n), 0)) / s.events).toFixed(2);

const usd = (x: number) => (x >= 0.1 ? `$${x.toFixed(2)}` : `$${x.toFixed(4)}`);

export const costSuite: Suite = {
  name: "cost",
  async run(): Promise<SuiteResult> {
    const lines = corpusLines();
    const cpu = await cpuPerEvent(lines);
    const bytesPerEvent = lines.reduce((n, l) => n + Buffer.byteLength(l), 0) / lines.length;
    const scenarios: Scenario[] = [];
    for (const rate of [HEADLINE_RATE, ...SENSITIVITY])
      for (const client of ["single", "batch"] as const) scenarios.push({ client, eventsPerSecond: rate, seconds: rate >= 1000 ? 10 : rate === HEADLINE_RATE ? 120 : 30, destinations: DESTINATIONS });
    const sims = await runSimulation(scenarios);
    const sim = (client: "single" | "batch", rate: number) => sims.find((s) => s.client === client && s.eventsPerSecond === rate)!;
    for (const s of sims) if (s.accepted !== s.events) throw new Error(`bench/cost: ${s.events - s.accepted} events not accepted in ${s.client}@${s.eventsPerSecond}`);

    const rows: Breakdown[] = [
      sluiceBreakdown("sluice, single-event clients", sim("single", HEADLINE_RATE), cpu.single.nsPerOp),
      sluiceBreakdown("sluice, batched (100/request)", sim("batch", HEADLINE_RATE), cpu.batch.nsPerOp),
      floorBreakdown("floor, single-event clients", 1, bytesPerEvent, cpu.floor.nsPerOp),
      floorBreakdown("floor, batched (100/request)", 100, bytesPerEvent, cpu.floor.nsPerOp),
    ];
    const costs = rows.map((r) => ({ row: r, ...dollars(r) }));
    const [single, batch, floorSingle, floorBatch] = costs as [(typeof costs)[0], (typeof costs)[0], (typeof costs)[0], (typeof costs)[0]];

    // Figures: ratios of two costs computed in this run; the absolute $/M beside them.
    const asMeasurement = (name: string, dollarsPerMillion: number): Measurement => runsMeasurement(name, "M events", [dollarsPerMillion * 1e9], [1]);
    const fig = (label: string, a: (typeof costs)[0], b: (typeof costs)[0], note?: string): RatioFigure =>
      pairedRatio("cost", label, asMeasurement(a.row.label, a.total), asMeasurement(b.row.label, b.total), { numerator: [a.total], denominator: [b.total] }, {
        ...(note ? { note } : {}),
        numeratorText: `${a.row.label} ${usd(a.total)}/M events`,
        denominatorText: `${b.row.label} ${usd(b.total)}/M events`,
      });
    // Durable Object calls the request path made, per 1,000 events (the issue's target: ≤ 1, single-event clients included).
    const requestPath = (label: string, s: SimResult): RatioFigure => {
      const calls = Object.entries(s.doCalls).reduce((n, [k, v]) => (k.startsWith("ingest:") ? n + v : n), 0);
      return pairedRatio("cost", `request-path DO calls per 1,000 events, ${label}`, runsMeasurement(`request-path DO calls, ${label}`, "call", [1e9], [calls]), runsMeasurement(`events, ${label}`, "event", [1e9], [s.events]), { numerator: [calls * 1000], denominator: [s.events] }, {
        target: { op: "<=", value: 1 },
        note: `accept() through createApp on one isolate, ${HEADLINE_RATE} events/s, counting bindings (bench/cost-sim.ts)`,
        numeratorText: `${calls} calls (${Object.entries(s.doCalls).filter(([k]) => k.startsWith("ingest:")).map(([k, v]) => `${k.slice(7)} ${v}`).join(", ") || "none"})`,
        denominatorText: `${s.events} events in ${s.seconds} s`,
      });
    };
    const ratios = [
      requestPath("single-event", sim("single", HEADLINE_RATE)),
      requestPath("batched", sim("batch", HEADLINE_RATE)),
      fig("$/M events: single-event / batched clients", single, batch, `10 destinations, ${HEADLINE_RATE} events/s per isolate`),
      fig("$/M events: sluice / floor, batched", batch, floorBatch, "floor = parse + one Queue message per request"),
      fig("$/M events: sluice / floor, single-event", single, floorSingle),
    ];

    // The table of components (per event, and $ per million events).
    const header = ["", "Workers req", "CPU ms", "DO req", "DO rows written", "Queue ops", "$ req", "$ CPU", "$ DO req", "$ DO rows", "$ DO dur.", "$ Queue", "$/M events"];
    const table = renderTable(
      header,
      costs.map((c) => [
        c.row.label,
        c.row.workersRequests.toFixed(3),
        c.row.cpuMs.toFixed(4),
        c.row.doRequests.toFixed(3),
        c.row.doRowsWritten.toFixed(2),
        c.row.queueOps.toFixed(2),
        ...Object.values(c.parts).map(usd),
        usd(c.total),
      ]),
      header.map((_, i) => i > 0),
    );
    const perEvent = (s: SimResult, key: "doCalls" | "doRowsWritten") =>
      Object.entries(s[key])
        .map(([k, v]) => `${k} ${(v / s.events).toFixed(3)}`)
        .join(", ");
    const sensitivity = SENSITIVITY.map((rate) => {
      const a = dollars(sluiceBreakdown("", sim("single", rate), cpu.single.nsPerOp)).total;
      const b = dollars(sluiceBreakdown("", sim("batch", rate), cpu.batch.nsPerOp)).total;
      return `${rate} events/s per isolate: single ${usd(a)}, batched ${usd(b)} per M events`;
    }).join("; ");
    const hs = sim("single", HEADLINE_RATE);
    const hb = sim("batch", HEADLINE_RATE);
    const notes = [
      `cost: per event, and USD per million events at list price (Workers Paid, marginal; prices checked ${PRICES.checked}: requests $${PRICES.workersRequestsPerMillion}/M,` +
        ` CPU $${PRICES.workersCpuMsPerMillion}/M ms, DO requests $${PRICES.doRequestsPerMillion}/M, DO rows written $${PRICES.doRowsWrittenPerMillion}/M,` +
        ` DO duration $${PRICES.doGbSecondsPerMillion}/M GB-s, Queue operations $${PRICES.queueOperationsPerMillion}/M per 64 KB written/read/deleted).`,
      ...table.split("\n").map((l) => `  ${l}`),
      `  CPU: ${cpu.source}: ingest ${(cpu.single.nsPerOp / 1000).toFixed(1)} µs/event single, ${(cpu.batch.nsPerOp / 1000).toFixed(1)} µs/event batched; floor ${(cpu.floor.nsPerOp / 1000).toFixed(1)} µs/event.`,
      `  single-event @${HEADLINE_RATE}/s/isolate, DO calls per event: ${perEvent(hs, "doCalls")}.`,
      `    rows written per event: ${perEvent(hs, "doRowsWritten")}.`,
      `    queue: ${(hs.queue.messages / hs.events).toFixed(2)} ingest messages per event, ${(hs.queue.bytes / hs.queue.messages / 1024).toFixed(1)} KB each; router ${hs.consumer.invocations} invocations, ${hs.consumer.deliveryCalls} webhook calls (first attempts inline).`,
      `    DO calls on the request path per 1,000 events: ${requestPathCalls(hs)}.`,
      `  batched @${HEADLINE_RATE}/s/isolate, DO calls per event: ${perEvent(hb, "doCalls")}.`,
      `    rows written per event: ${perEvent(hb, "doRowsWritten")}.`,
      `    queue: ${(hb.queue.messages / hb.events).toFixed(3)} ingest messages per event, ${(hb.queue.bytes / hb.queue.messages / 1024).toFixed(1)} KB each; router ${hb.consumer.invocations} invocations, ${hb.consumer.deliveryCalls} webhook calls (first attempts inline).`,
      `    DO calls on the request path per 1,000 events: ${requestPathCalls(hb)}.`,
      `  sensitivity to traffic per isolate (per-second work spread over fewer or more events): ${sensitivity}.`,
      `  not included: plan fee and included usage, adapters' CPU (the CPU figure is accept() + the router's routing, not the webhook calls; at $0.02/M CPU-ms even 1 ms/event is $0.02/M), destinations' own costs, retries, storage.`,
      `  unsure: ${PRICES.unsure.join("; ")}.`,
    ];
    return {
      name: "cost",
      description: `list-price cost per million events, ${DESTINATIONS} destinations, single-event vs batched clients, vs the floor`,
      measure: externalResult([cpu.single, cpu.batch, cpu.floor]),
      ratios,
      checks: { prices: PRICES, breakdowns: costs.map((c) => ({ ...c.row, dollarsPerMillion: c.parts, total: c.total })), simulations: sims },
      notes,
    };
  },
};

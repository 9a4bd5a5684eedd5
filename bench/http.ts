/**
 * Suite "http": Sluice in workerd (`wrangler dev`, the default config) vs the platform's floor — a minimal Hono
 * worker that only parses a batch and enqueues it (bench/floor-worker/), all driven by the same load generator
 * (autocannon, in this process) over loopback: POST /v1/batch with 100-event batches from the corpus, the same
 * connections and duration, runs rotating A, B, C, D, A, B, C, D.
 *
 *  - A "sluice": the demo config (filters/): source "web" with its tracking plan and dedup (default: 1 shard), an
 *    R2 destination and a signed webhook, whose URL (in a copy of the folder) points at a counting sink this suite
 *    starts in its own process, so deliveries succeed. Bundled once with `wrangler deploy --dry-run` and served
 *    with no_bundle (wrangler dev would otherwise restart whenever someone edits src/ during a run). Its router
 *    (the ingest queue's consumer) delivers while the load runs, in the same workerd thread as the requests: R2
 *    writes, and one signed webhook POST per event, 10 at a time, which delivers a few hundred events per second
 *    while tens of thousands are accepted. A is the request path's throughput with that work beside it, not a
 *    sustained end-to-end rate (docs/performance.md says what that is); the sink's count of events received
 *    during the run is reported with it. A and D get a fresh server per run (warm-up, run, stop), so the backlog a
 *    run leaves behind never runs beside another contender nor piles up across runs.
 *  - B "sluice ingest only": the same bundle with no queue consumers: the request path alone (a local queue with
 *    no consumer drops what is sent to it, so B does not pay the local queue's bookkeeping that D and A pay). C: B with `dedup: false` (its own bundle): a control (dedup runs in the router, not on the request path).
 *  - D "floor": bench/floor-worker (Hono, JSON parse, one Queue send of the batch; its consumer acks).
 *  B and C run without consumers, so they compare with D only loosely.
 *  - Every request carries fresh messageIds (a fresh suffix per request), so dedup never short-cuts anything.
 *  - Figures: events/s (2xx responses × 100 ÷ run time), p50/p99 latency (all responses), errors (connection
 *    errors and resets — wrangler dev's proxy resets some connections under load — timeouts, non-2xx), the CPU
 *    time of each server's process group (wrangler + workerd, from /proc) per accepted event, and for A the
 *    webhook deliveries the sink received during the run and the events they carried.
 *
 * Diagnostics (BENCH_HTTP_DIAGNOSE=1, three more runs per pair, ratios without targets): where A's share goes.
 *  - "router, no destinations": A with every destination disabled, so the router keeps up (dedup, plan, stats
 *    for every accepted event, nothing to deliver): the cost of a router that is not held back by deliveries.
 *  - "slow webhook": A with the webhook pointed at a receiver that answers after 200 ms: the same router, a few
 *    dozen per-event POSTs a second instead of hundreds.
 *  - "router in a 2nd process": the load goes to B while a second, fresh `wrangler dev` (A's bundle) works off a
 *    backlog posted to it just before (BENCH_HTTP_BACKLOG requests of 100 events, 300), delivering to the same sink:
 *    what the request path gets when the router runs in a process of its own on the same machine.
 *
 * Knobs: BENCH_HTTP_SECONDS (10), BENCH_HTTP_CONNECTIONS (10), BENCH_HTTP_PAIRS (2), BENCH_HTTP_WARMUP_SECONDS (3).
 */
import autocannon, { type Result } from "autocannon";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isSeq, parseDocument, type YAMLMap, type YAMLSeq } from "yaml";
import { join } from "node:path";
import { corpusLines } from "../test/fixtures/corpus.ts";
import { externalResult, median, pairedRatio, runsMeasurement, type RatioFigure, type Suite, type SuiteResult } from "./lib.ts";
import { buildSluiceBundle, bundledWranglerConfig, groupCpuSeconds, REPO_ROOT, startDev, startSink, type DevServer, type Sink, type SluiceBundle } from "./workers.ts";

const BATCH = 100;
const DEMO_WRITE_KEY = "wk_demo_web";
const DEMO_HOOK_URL = "http://127.0.0.1:9911/";
const DEMO_HOOK_SECRET = "demo-hook-secret";
/** The answer delay of the diagnostic's slow webhook receiver. */
const SLOW_HOOK_MS = 200;

type Kind = "sluice" | "sluice ingest only" | "ingest only, dedup off" | "floor" | "router, no destinations" | "router in a 2nd process" | "slow webhook";

interface Run {
  server: Kind;
  seconds: number;
  requests2xx: number;
  eventsPerSec: number;
  requestsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
  resets: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  /** Server process group CPU seconds during the run. */
  cpuSeconds: number;
  /** Webhook deliveries the sink received during the run (A only). */
  deliveredDuring?: number;
  /** Events those deliveries carried. */
  eventsDeliveredDuring?: number;
}

/**
 * 100-event /v1/batch bodies over the corpus, as templates: each messageId carries a placeholder that every request
 * replaces with a fresh suffix (see `load`).
 */
const ID_PLACEHOLDER = "__BENCH_ID__";
function batchTemplates(lines: readonly string[]): string[][] {
  const templates: string[][] = [];
  for (let i = 0; i + BATCH <= lines.length; i += BATCH) {
    const events = lines.slice(i, i + BATCH).map((l) => {
      const e = JSON.parse(l) as Record<string, unknown>;
      return { ...e, messageId: `${String(e.messageId)}-${ID_PLACEHOLDER}` };
    });
    templates.push(JSON.stringify({ batch: events, sentAt: new Date().toISOString() }).split(ID_PLACEHOLDER));
  }
  return templates;
}

let requestSerial = 0;
/** The next request body: the next template with a suffix no earlier request used. */
function nextBody(templates: string[][], k: number): string {
  return templates[k % templates.length]!.join(`${process.pid.toString(36)}-${(requestSerial++).toString(36)}`);
}

/** The demo config folder, copied, with the webhook pointed at `sinkUrl`. */
function demoConfigCopy(dir: string, sinkUrl: string): { replaced: number } {
  cpSync(join(REPO_ROOT, "filters"), dir, { recursive: true });
  let replaced = 0;
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ya?ml|json)$/.test(entry.name)) {
        const text = readFileSync(path, "utf8");
        if (text.includes(DEMO_HOOK_URL)) {
          replaced += text.split(DEMO_HOOK_URL).length - 1;
          writeFileSync(path, text.replaceAll(DEMO_HOOK_URL, sinkUrl));
        }
      }
    }
  };
  walk(dir);
  return { replaced };
}

/** Sets `key: value` on every item of a copied sluice.yaml's `list` (e.g. `dedup: false` on every source). */
function setOnEvery(path: string, list: "sources" | "destinations", key: string, value: unknown): void {
  const doc = parseDocument(readFileSync(path, "utf8"));
  const items = doc.get(list) as YAMLSeq | undefined;
  if (!items || !isSeq(items)) throw new Error(`bench/http: ${path} has no ${list} list`);
  for (const item of items.items) (item as YAMLMap).set(key, value);
  writeFileSync(path, doc.toString());
}

async function load(server: DevServer, templates: string[][], seconds: number, connections: number, authorization?: string): Promise<Result> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (authorization) headers.authorization = authorization;
  let k = 0;
  return autocannon({
    url: server.url,
    connections,
    duration: seconds,
    timeout: 30,
    // setupRequest runs before every request: a fresh body (Content-Length follows it).
    requests: [{ method: "POST", path: "/v1/batch", headers, setupRequest: (req) => ({ ...req, body: nextBody(templates, k++) }) }],
  });
}

/** POSTs the `k`th batch body; throws unless all 100 events are accepted. */
async function postBatch(what: string, server: DevServer, templates: string[][], k: number, authorization: string | undefined): Promise<void> {
  const res = await fetch(`${server.url}/v1/batch`, { method: "POST", headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) }, body: nextBody(templates, k) });
  const text = await res.text();
  if (!res.ok || !/"accepted":100/.test(text)) throw new Error(`bench/http: ${what} answered ${res.status} ${text.slice(0, 300)}`);
}

/** Posts `requests` bodies (`connections` at a time) and waits for every answer: a backlog for a router to work off. */
async function post(server: DevServer, templates: string[][], requests: number, connections: number, authorization: string): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < requests) await postBatch("the backlog post", server, templates, next++, authorization);
    }),
  );
}

/** One measured run; with `counting`, the deliveries that sink received during it are recorded too. */
async function measureRun(kind: Kind, server: DevServer, templates: string[][], seconds: number, connections: number, auth: string | undefined, counting?: Sink): Promise<Run> {
  const sinkBefore = await counting?.count();
  const cpuBefore = groupCpuSeconds(server.pgid);
  const r = await load(server, templates, seconds, connections, auth);
  const cpuSeconds = groupCpuSeconds(server.pgid) - cpuBefore;
  const sinkAfter = await counting?.count();
  const elapsed = (new Date(r.finish).getTime() - new Date(r.start).getTime()) / 1000 || r.duration;
  const statusCodes = Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([code, v]) => [code, (v as { count: number }).count]));
  return {
    server: kind,
    seconds: elapsed,
    requests2xx: r["2xx"],
    eventsPerSec: (r["2xx"] * BATCH) / elapsed,
    requestsPerSec: r["2xx"] / elapsed,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors,
    resets: r.resets,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    statusCodes,
    cpuSeconds,
    ...(sinkBefore && sinkAfter ? { deliveredDuring: sinkAfter.requests - sinkBefore.requests, eventsDeliveredDuring: sinkAfter.events - sinkBefore.events } : {}),
  };
}

const fmtRate = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0));
const summary = (runs: Run[]) => {
  const eps = median(runs.map((r) => r.eventsPerSec));
  const rps = median(runs.map((r) => r.requestsPerSec));
  const errs = runs.reduce((n, r) => n + r.errors + r.timeouts + r.non2xx, 0);
  return `${fmtRate(eps)} events/s (${rps.toFixed(0)} req/s), p50 ${median(runs.map((r) => r.p50)).toFixed(0)} ms, p99 ${median(runs.map((r) => r.p99)).toFixed(0)} ms, ${errs} errors`;
};

export const httpSuite: Suite = {
  name: "http",
  async run(): Promise<SuiteResult> {
    const seconds = Number(process.env.BENCH_HTTP_SECONDS ?? 10);
    const connections = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 10);
    const pairs = Number(process.env.BENCH_HTTP_PAIRS ?? 2);
    const warmup = Number(process.env.BENCH_HTTP_WARMUP_SECONDS ?? 3);
    const templates = batchTemplates(corpusLines());
    const auth = `Basic ${Buffer.from(`${DEMO_WRITE_KEY}:`).toString("base64")}`;

    const tmp = mkdtempSync(join(tmpdir(), "sluice-bench-http-"));
    const servers: DevServer[] = [];
    let sink: Sink | undefined;
    let slowSink: Sink | undefined;
    const tomls: { remove: () => void }[] = [];
    const bundles: SluiceBundle[] = [];
    try {
      sink = await startSink();
      /** A copy of the demo config (webhook → `hookUrl`, then `edit`), bundled once. */
      const bundleOf = async (tag: string, hookUrl: string, edit?: (sluiceYaml: string) => void) => {
        const dir = join(tmp, `config-${tag}`);
        const copied = demoConfigCopy(dir, hookUrl);
        edit?.(join(dir, "sluice.yaml"));
        const bundle = await buildSluiceBundle({ configDir: dir }, `http-${tag}`);
        bundles.push(bundle);
        return { bundle: bundle.bundle, replaced: copied.replaced };
      };
      /** Its wrangler config (see the module comment), removed at the end. */
      const served = (bundle: string, tag: string, options: { withoutConsumers?: boolean } = {}) => {
        const toml = bundledWranglerConfig(bundle, `http-${tag}`, options);
        tomls.push(toml);
        return toml.path;
      };
      const demo = await bundleOf("demo", sink.url);
      const replaced = demo.replaced;
      const noDedupBundle = await bundleOf("nodedup", sink.url, (yaml) => setOnEvery(yaml, "sources", "dedup", false));
      const full = served(demo.bundle, "full");
      const ingestOnly = served(demo.bundle, "ingest", { withoutConsumers: true });
      const noDedup = served(noDedupBundle.bundle, "nodedup", { withoutConsumers: true });
      const backlog = Number(process.env.BENCH_HTTP_BACKLOG ?? 300);
      let diagnostics: { slowHook: string; noDestinations: string; slowSink: Sink } | undefined;
      if (process.env.BENCH_HTTP_DIAGNOSE === "1") {
        slowSink = await startSink({ delayMs: SLOW_HOOK_MS });
        diagnostics = {
          slowHook: served((await bundleOf("slowhook", slowSink.url)).bundle, "slowhook"),
          noDestinations: served((await bundleOf("nodest", sink.url, (yaml) => setOnEvery(yaml, "destinations", "enabled", false))).bundle, "nodest"),
          slowSink,
        };
      }
      const vars = { HOOK_SECRET: DEMO_HOOK_SECRET, ADMIN_TOKEN: "bench-admin-token" };
      const floorToml = join(REPO_ROOT, "bench", "floor-worker", "wrangler.toml");
      if (!existsSync(floorToml)) throw new Error(`bench/http: ${floorToml} is missing`);

      const sanity = (kind: Kind, server: DevServer, a: string | undefined) => postBatch(kind, server, templates, 0, a);
      // Servers without consumers (B, C) drop what they queue: started, checked and warmed up once. Servers with
      // consumers (A, D) get a fresh one per run: a backlog their consumer leaves never runs beside another
      // contender, and it cannot pile up across runs (a workerd holding a local queue's backlog dies near 1.8 GB).
      const longLived = new Map<Kind, DevServer>();
      for (const [kind, path] of [["sluice ingest only", ingestOnly], ["ingest only, dedup off", noDedup]] as const) {
        const server = await startDev(path, { vars });
        servers.push(server);
        await sanity(kind, server, auth);
        await load(server, templates, warmup, connections, auth);
        longLived.set(kind, server);
      }
      interface Contender {
        path: string;
        vars: Record<string, string>;
        auth?: string;
      }
      const sluiceWith = (path: string): Contender => ({ path, vars, auth });
      const floor: Contender = { path: floorToml, vars: {} };
      /** A server started for one use and stopped after it, whatever happens (stopping drops its backlog). */
      const withFresh = async <T,>(kind: Kind, c: Contender, use: (server: DevServer) => Promise<T>): Promise<T> => {
        const server = await startDev(c.path, { vars: c.vars });
        servers.push(server);
        try {
          await sanity(kind, server, c.auth);
          return await use(server);
        } finally {
          servers.splice(servers.indexOf(server), 1);
          await server.stop();
        }
      };
      const freshRun = (kind: Kind, c: Contender, counting?: Sink) =>
        withFresh(kind, c, async (server) => {
          await load(server, templates, warmup, connections, c.auth);
          return measureRun(kind, server, templates, seconds, connections, c.auth, counting);
        });
      const runs: Run[] = [];
      for (let i = 0; i < pairs; i++) {
        runs.push(await freshRun("sluice", sluiceWith(full), sink));
        for (const [kind, server] of longLived) runs.push(await measureRun(kind, server, templates, seconds, connections, auth));
        runs.push(await freshRun("floor", floor));
        if (diagnostics) {
          runs.push(await freshRun("router, no destinations", sluiceWith(diagnostics.noDestinations)));
          runs.push(await freshRun("slow webhook", sluiceWith(diagnostics.slowHook), diagnostics.slowSink));
          runs.push(
            await withFresh("sluice", sluiceWith(full), async (router) => {
              await post(router, templates, backlog, connections, auth);
              return measureRun("router in a 2nd process", longLived.get("sluice ingest only")!, templates, seconds, connections, auth, sink);
            }),
          );
        }
      }
      const of = (kind: Kind) => runs.filter((r) => r.server === kind);
      const s = of("sluice");
      const si = of("sluice ingest only");
      const sd = of("ingest only, dedup off");
      const f = of("floor");
      const nd = of("router, no destinations");
      const rp = of("router in a 2nd process");
      const sw = of("slow webhook");
      const nsPerEvent = (rs: Run[]) => rs.map((r) => 1e9 / r.eventsPerSec);
      const events = (rs: Run[]) => rs.map((r) => r.requests2xx * BATCH);
      // CPU per accepted event; a run that completed nothing has no such figure (NaN, left out of the ratios).
      const cpuPerEvent = (rs: Run[]) => rs.map((r) => (r.requests2xx > 0 ? (r.cpuSeconds * 1e9) / (r.requests2xx * BATCH) : Number.NaN));
      const finitePairs = (a: number[], b: number[]) => {
        const keep = a.map((x, i) => Number.isFinite(x) && Number.isFinite(b[i]!));
        return { numerator: a.filter((_, i) => keep[i]), denominator: b.filter((_, i) => keep[i]) };
      };
      const mS = runsMeasurement("sluice (wrangler dev)", "event", nsPerEvent(s), events(s));
      const mI = runsMeasurement("sluice ingest only (no consumer)", "event", nsPerEvent(si), events(si));
      const mD = runsMeasurement("sluice ingest only, dedup off", "event", nsPerEvent(sd), events(sd));
      const mF = runsMeasurement("floor worker (wrangler dev)", "event", nsPerEvent(f), events(f));
      const finite = (xs: number[]) => (xs.some(Number.isFinite) ? xs.filter(Number.isFinite) : [Number.NaN]);
      const cS = runsMeasurement("sluice server CPU", "event", finite(cpuPerEvent(s)), events(s));
      const cI = runsMeasurement("sluice ingest-only server CPU", "event", finite(cpuPerEvent(si)), events(si));
      const cF = runsMeasurement("floor server CPU", "event", finite(cpuPerEvent(f)), events(f));
      const eps = (rs: Run[]) => rs.map((r) => r.eventsPerSec);
      const ms = (rs: Run[], k: "p50" | "p99") => `${median(rs.map((r) => r[k])).toFixed(0)} ms`;
      const cpuText = (m: typeof cS) => `${(m.nsPerOp / 1000).toFixed(1)} µs CPU/event`;
      const diagnosticRatios = diagnostics
        ? (() => {
            const mN = runsMeasurement("sluice, router with no destinations", "event", nsPerEvent(nd), events(nd));
            const mR = runsMeasurement("sluice ingest only, router in a 2nd process", "event", nsPerEvent(rp), events(rp));
            const mW = runsMeasurement(`sluice, webhook answering after ${SLOW_HOOK_MS} ms`, "event", nsPerEvent(sw), events(sw));
            return [
              pairedRatio("http", "throughput, slow webhook / floor", mW, mF, { numerator: eps(sw), denominator: eps(f) }, {
                note: `diagnostic: A with its webhook's receiver answering after ${SLOW_HOOK_MS} ms, so the router makes a few dozen POSTs a second instead of hundreds`,
                numeratorText: `slow webhook ${summary(sw)}`,
                denominatorText: `floor ${summary(f)}`,
              }),
              pairedRatio("http", "p99 latency, slow webhook / floor", mW, mF, { numerator: sw.map((r) => r.p99), denominator: f.map((r) => r.p99) }, {
                numeratorText: `slow webhook p99 ${ms(sw, "p99")}`,
                denominatorText: `floor p99 ${ms(f, "p99")}`,
              }),
              pairedRatio("http", "throughput router with no destinations / floor", mN, mF, { numerator: eps(nd), denominator: eps(f) }, {
                note: "diagnostic: A with every destination disabled; the router keeps up with what is accepted, in the same thread",
                numeratorText: `no destinations ${summary(nd)}`,
                denominatorText: `floor ${summary(f)}`,
              }),
              pairedRatio("http", "throughput, router in a 2nd process / floor", mR, mF, { numerator: eps(rp), denominator: eps(f) }, {
                note: `diagnostic: B's request path while another wrangler dev works off ${backlog} requests with A's config, on the same cores`,
                numeratorText: `router in a 2nd process ${summary(rp)}`,
                denominatorText: `floor ${summary(f)}`,
              }),
              pairedRatio("http", "p99 latency, router in a 2nd process / floor", mR, mF, { numerator: rp.map((r) => r.p99), denominator: f.map((r) => r.p99) }, {
                numeratorText: `router in a 2nd process p99 ${ms(rp, "p99")}`,
                denominatorText: `floor p99 ${ms(f, "p99")}`,
              }),
            ];
          })()
        : [];
      const cpuPairs = finitePairs(cpuPerEvent(s), cpuPerEvent(f));
      const ratios: RatioFigure[] = [
        pairedRatio("http", "throughput sluice / floor (events/s)", mS, mF, { numerator: eps(s), denominator: eps(f) }, {
          target: { op: ">=", value: 0.6 },
          note: `default config with its deliveries running; 100-event batches, ${connections} connections, ${seconds} s per run, runs rotating ×${pairs}`,
          numeratorText: `sluice ${summary(s)}`,
          denominatorText: `floor ${summary(f)}`,
        }),
        pairedRatio("http", "p50 latency sluice / floor", mS, mF, { numerator: s.map((r) => r.p50), denominator: f.map((r) => r.p50) }, {
          numeratorText: `sluice p50 ${ms(s, "p50")}`,
          denominatorText: `floor p50 ${ms(f, "p50")}`,
        }),
        pairedRatio("http", "p99 latency sluice / floor", mS, mF, { numerator: s.map((r) => r.p99), denominator: f.map((r) => r.p99) }, {
          target: { op: "<=", value: 1.5 },
          numeratorText: `sluice p99 ${ms(s, "p99")}`,
          denominatorText: `floor p99 ${ms(f, "p99")}`,
        }),
        pairedRatio("http", "throughput ingest-only sluice / floor", mI, mF, { numerator: eps(si), denominator: eps(f) }, {
          target: { op: ">=", value: 0.85 },
          note: "the request path alone: the same bundle with no queue consumers (nothing delivered while the load runs)",
          numeratorText: `sluice ingest only ${summary(si)}`,
          denominatorText: `floor ${summary(f)}`,
        }),
        pairedRatio("http", "throughput ingest-only, dedup off / floor", mD, mF, { numerator: eps(sd), denominator: eps(f) }, {
          note: "control: B with dedup: false — dedup runs in the router, so with no consumers this should match B",
          numeratorText: `dedup off ${summary(sd)}`,
          denominatorText: `floor ${summary(f)}`,
        }),
        ...diagnosticRatios,
        ...(cpuPairs.numerator.length > 0
          ? [
              pairedRatio("http", "server CPU per event sluice / floor", cS, cF, cpuPairs, {
                note: "CPU of wrangler + workerd per accepted event during the run, incl. local queues, Durable Objects, R2 and deliveries",
                numeratorText: `sluice ${cpuText(cS)}`,
                denominatorText: `floor ${cpuText(cF)}`,
              }),
            ]
          : []),
        ...(finitePairs(cpuPerEvent(si), cpuPerEvent(f)).numerator.length > 0
          ? [
              pairedRatio("http", "server CPU per event ingest-only / floor", cI, cF, finitePairs(cpuPerEvent(si), cpuPerEvent(f)), {
                numeratorText: `sluice ingest only ${cpuText(cI)}`,
                denominatorText: `floor ${cpuText(cF)}`,
              }),
            ]
          : []),
      ];
      const notes = [
        `http: wrangler dev (workerd) on loopback, autocannon ${connections} connections × ${seconds} s per run, POST /v1/batch with ${BATCH}-event batches (fresh messageIds each request), runs: ${runs.map((r) => r.server).join(", ")}.`,
        `  sluice: demo config (filters/) copy, webhook → counting sink (${replaced} URL replaced), served from one dry-run bundle; "ingest only": the same bundle with no queue consumers (and a bundle of the copy with dedup: false);` +
          ` floor: bench/floor-worker (parse + one Queue send; consumer acks).`,
        ...runs.map(
          (r, i) =>
            `  run ${String(i + 1).padStart(2)} ${r.server.padEnd(22)} ${fmtRate(r.eventsPerSec).padStart(6)} events/s  ${r.requestsPerSec.toFixed(0).padStart(4)} req/s  p50 ${r.p50.toFixed(0)} ms  p99 ${r.p99.toFixed(0)} ms` +
            `  errors ${r.errors} (resets ${r.resets}) timeouts ${r.timeouts} non-2xx ${r.non2xx}  server CPU ${r.cpuSeconds.toFixed(1)} s` +
            (r.deliveredDuring !== undefined ? `  webhook deliveries during the run ${r.deliveredDuring} (${((r.deliveredDuring ?? 0) / r.seconds).toFixed(0)}/s) carrying ${r.eventsDeliveredDuring} events (${fmtRate((r.eventsDeliveredDuring ?? 0) / r.seconds)}/s)` : ""),
        ),
      ];
      return { name: "http", description: "Sluice in wrangler dev vs a parse-and-enqueue Hono worker, 100-event batches", measure: externalResult([mS, mI, mD, mF, cS, cI, cF]), ratios, checks: { runs }, notes };
    } finally {
      for (const server of servers.reverse()) await server.stop().catch(() => {});
      await sink?.stop().catch(() => {});
      await slowSink?.stop().catch(() => {});
      for (const t of tomls) t.remove();
      for (const b of bundles) b.remove();
      rmSync(tmp, { recursive: true, force: true });
    }
  },
};

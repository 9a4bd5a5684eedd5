/**
 * Suite "footprint": what Sluice costs before it handles an event.
 *
 *  - Bundle size: `wrangler deploy --dry-run --outdir <tmp>` of Sluice with the default config (filters/), through
 *    the real [build] step; the output module's raw bytes and its gzip (zlib, level 9 — what the platform's 3 MB /
 *    10 MB limits are checked against is the compressed upload, wrangler prints the same kind of figure), beside the
 *    floor worker's (bench/floor-worker: Hono + a queue send). Target < 300 KB gzip.
 *  - Startup: module evaluation + config compile, for Sluice built with a 50-destination config (the "pipeline"
 *    suite's config: 50 webhooks × 3 filters + 2 transformations, a 20-rule tracking plan; a BuiltConfig written
 *    in code, bundled the same way), measured in Node's V8 in fresh child processes, alternating with the floor:
 *      eval     — `await import(bundle)`: read, parse, compile and evaluate the module (what an isolate pays on a
 *                 cold start before the first request; `cloudflare:workers` is stubbed as a plain class);
 *      router   — a first GET / (Hono builds its matcher on first use; no config involved), reported apart;
 *      compile  — then a request with an unknown write key: the worker compiles its config on first use (the
 *                 write-key table, the sources and their destinations, secrets), then answers 401 at once. Filter
 *                 lists without secrets and tracking plans compile on first use (src/pipeline/compile.ts): the
 *                 first event routed to them pays, i.e. the first batch below, not this figure;
 *      first request — then one valid 100-event batch with in-memory bindings (queue, Durable Object stubs):
 *                 the cold path of the first real request, including the deferred compile of the 50 destinations'
 *                 filters and the plan; a second identical batch after it shows what of that is one-time work.
 *    The floor pays eval + its first batch. Target: eval + compile < 50 ms; "cold path" adds the first batch, so
 *    work moved from start-up to the first request still shows there.
 */
import { gzipSync } from "node:zlib";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { buildConfigModule } from "../src/config/build.ts";
import { corpusLines } from "../test/fixtures/corpus.ts";
import { externalResult, median, pairedRatio, runsMeasurement, type RatioFigure, type Suite, type SuiteResult } from "./lib.ts";
import { benchConfig, WRITE_KEY } from "./pipeline-fixture.ts";
import { buildSluiceBundle, dryRunBuild, REPO_ROOT, type SluiceBundle } from "./workers.ts";

const GZIP_BUDGET = 300 * 1024;
const STARTUP_BUDGET_MS = 50;
const DESTINATIONS = 50;

/** Runs in a fresh `node` (no loaders): imports the bundle and drives its first requests; prints one JSON line. */
const HARNESS = String.raw`
const [bundleUrl, kind, writeKey, bodyFile] = process.argv.slice(2);
const { readFileSync } = await import("node:fs");
const body = readFileSync(bodyFile, "utf8");
const calls = { queue: 0, durableObject: 0 };
const stub = () => new Proxy({}, { get: (_, method) => async (...args) => {
  calls.durableObject++;
  if (method === "claim") return { duplicates: [], inFlight: [] };
  if (method === "lease") return { granted: args[1]?.want ?? 1 };
  return undefined;
} });
const namespace = () => ({ idFromName: (n) => n, get: () => stub() });
const queue = { send: async () => { calls.queue++; }, sendBatch: async (m) => { calls.queue += m.length; } };
const env = { INGEST: queue, DELIVERIES: queue, RETRIES: queue, DEAD_LETTERS: queue, QUEUE: queue, STATS: namespace(), SOURCES: namespace(), DEDUP: namespace(), ARCHIVE: namespace(), LAKE_BUFFER: namespace(), BUCKET: {}, HOOK_SECRET: "x", ADMIN_TOKEN: "x" };
const ctx = { waitUntil() {}, passThroughOnException() {} };
const post = (key) => new Request("http://bench.local/v1/batch", { method: "POST", headers: { "content-type": "application/json", ...(key ? { authorization: "Basic " + btoa(key + ":") } : {}) }, body });
// Node's own lazy start-up work, which workerd does not have (its Request/Response, crypto and module loading are
// native and ready): warm the ESM loader, undici's Request/Response, WebCrypto and TextEncoder before timing, and
// build both requests up front.
await import("data:text/javascript,export default 1");
await new Response(JSON.stringify({ a: 1 }), { headers: { "content-type": "application/json" } }).json();
await new Request("http://bench.local/", { method: "POST", body: "{}" }).text();
crypto.randomUUID();
await crypto.subtle.digest("SHA-256", new TextEncoder().encode("x"));
new TextDecoder().decode(new Uint8Array(1));
const unknownKey = post("wk_unknown_bench_key");
const firstBatch = post(kind === "sluice" ? writeKey : "");
const secondBatch = post(kind === "sluice" ? writeKey : "");
const t0 = performance.now();
const mod = await import(bundleUrl);
const t1 = performance.now();
// The router's own first-use work (Hono builds its matcher on the first request): GET / compiles no config.
const root = await mod.default.fetch(new Request("http://bench.local/"), env, ctx);
await root.text();
const tRouter = performance.now();
let compileMs = 0;
let compileStatus = 0;
if (kind === "sluice") {
  const res = await mod.default.fetch(unknownKey, env, ctx);
  compileStatus = res.status;
  await res.text();
  compileMs = performance.now() - tRouter;
}
const t2 = performance.now();
const res = await mod.default.fetch(firstBatch, env, ctx);
const text = await res.text();
const t3 = performance.now();
const res2 = await mod.default.fetch(secondBatch, env, ctx);
await res2.text();
const t4 = performance.now();
console.log(JSON.stringify({ evalMs: t1 - t0, routerMs: tRouter - t1, rootStatus: root.status, compileMs, compileStatus, firstRequestMs: t3 - t2, status: res.status, body: text.slice(0, 200), secondRequestMs: t4 - t3, secondStatus: res2.status, calls }));
process.exit(0);
`;

/** A copy of the bundle importable by Node: `cloudflare:workers` points at a stub module. */
function nodeLoadable(bundle: string, dir: string, name: string): string {
  const stub = join(dir, "cloudflare-workers-stub.mjs");
  writeFileSync(
    stub,
    "export class DurableObject { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }\n" +
      "export class WorkerEntrypoint { constructor(ctx, env) { this.ctx = ctx; this.env = env; } }\n" +
      "export class RpcTarget {}\nexport class WorkflowEntrypoint {}\nexport const env = {};\n",
  );
  const text = readFileSync(bundle, "utf8").replace(/from\s*"cloudflare:workers"/g, `from ${JSON.stringify(pathToFileURL(stub).href)}`);
  const out = join(dir, name);
  writeFileSync(out, text);
  return out;
}

interface Startup {
  evalMs: number;
  /** First GET / (the router's first use; no config compile). */
  routerMs: number;
  rootStatus: number;
  compileMs: number;
  compileStatus: number;
  firstRequestMs: number;
  status: number;
  body: string;
  /** The same batch again, right after: the first batch minus this is one-time work (deferred compile, cold code). */
  secondRequestMs: number;
  secondStatus: number;
  calls: { queue: number; durableObject: number };
}

function startupOnce(harness: string, bundle: string, kind: "sluice" | "floor", bodyFile: string): Promise<Startup> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [harness, pathToFileURL(bundle).href, kind, WRITE_KEY, bodyFile], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      const line = out.trim().split("\n").pop() ?? "";
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(line) as Startup);
      } catch (e) {
        reject(new Error(`startup harness (${kind}) failed: ${String(e)}\n${out}\n${err}`));
      }
    });
  });
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

export const footprintSuite: Suite = {
  name: "footprint",
  async run(): Promise<SuiteResult> {
    const lines = corpusLines();
    const work = mkdtempSync(join(tmpdir(), "sluice-bench-footprint-"));
    const bundles: SluiceBundle[] = [];
    try {
      // The default config, through the real build step; the 50-destination BuiltConfig written as the module
      // the build step would write; the floor worker.
      const demo = await buildSluiceBundle({ configDir: join(REPO_ROOT, "filters") }, "footprint");
      bundles.push(demo);
      const configModule = join(work, "config-50.ts");
      const modelImport = relative(dirname(configModule), join(REPO_ROOT, "src", "config", "model.ts")).replaceAll("\\", "/");
      writeFileSync(configModule, buildConfigModule(benchConfig(DESTINATIONS, lines), modelImport));
      const big = await buildSluiceBundle({ configModule }, "footprint-50");
      bundles.push(big);
      const floorOut = join(work, "floor-out");
      mkdirSync(floorOut);
      const floor = await dryRunBuild(join(REPO_ROOT, "bench", "floor-worker", "wrangler.toml"), floorOut);

      const size = (path: string) => {
        const raw = readFileSync(path);
        return { raw: raw.length, gzip: gzipSync(raw, { level: 9 }).length };
      };
      const sDemo = size(demo.bundle);
      const sBig = size(big.bundle);
      const sFloor = size(floor.bundle);
      const wranglerSays = /Total Upload: ([^\n]+)/.exec(demo.log)?.[1]?.trim();

      // Startup: fresh processes, alternating sluice(50) / floor, medians.
      const harness = join(work, "harness.mjs");
      writeFileSync(harness, HARNESS);
      const bodyFile = join(work, "batch.json");
      writeFileSync(bodyFile, JSON.stringify({ batch: lines.slice(0, 100).map((l) => JSON.parse(l) as unknown) }));
      const sluiceMod = nodeLoadable(big.bundle, work, "sluice-50.mjs");
      const floorMod = nodeLoadable(floor.bundle, work, "floor.mjs");
      const repeats = Number(process.env.BENCH_STARTUP_RUNS ?? 9);
      const s: Startup[] = [];
      const f: Startup[] = [];
      await startupOnce(harness, sluiceMod, "sluice", bodyFile); // untimed: OS file cache
      await startupOnce(harness, floorMod, "floor", bodyFile);
      for (let i = 0; i < repeats; i++) {
        s.push(await startupOnce(harness, sluiceMod, "sluice", bodyFile));
        f.push(await startupOnce(harness, floorMod, "floor", bodyFile));
      }
      for (const r of s) {
        if (r.compileStatus !== 401) throw new Error(`footprint: the unknown-key request answered ${r.compileStatus}, expected 401`);
        if (r.status !== 200) throw new Error(`footprint: the first batch answered ${r.status}: ${r.body}`);
        if (r.secondStatus !== 200) throw new Error(`footprint: the second batch answered ${r.secondStatus}`);
      }
      const startup = s.map((r) => r.evalMs + r.compileMs);
      const floorStartup = f.map((r) => r.evalMs);
      const coldPath = s.map((r) => r.evalMs + r.compileMs + r.firstRequestMs);
      const floorColdPath = f.map((r) => r.evalMs + r.firstRequestMs);
      const ms = (xs: number[]) => `${median(xs).toFixed(1)} ms`;
      const mStartup = runsMeasurement(`sluice eval + compile (${DESTINATIONS} destinations)`, "start", startup.map((x) => x * 1e6), startup.map(() => 1));
      const mFloor = runsMeasurement("floor eval", "start", floorStartup.map((x) => x * 1e6), floorStartup.map(() => 1));
      const mBudget = runsMeasurement(`${STARTUP_BUDGET_MS} ms budget`, "start", startup.map(() => STARTUP_BUDGET_MS * 1e6), startup.map(() => 1));
      const mGzip = runsMeasurement("sluice bundle gzip", "byte", [sDemo.gzip], [1]);
      const mGzipBudget = runsMeasurement("300 KB budget", "byte", [GZIP_BUDGET], [1]);
      const mFloorGzip = runsMeasurement("floor bundle gzip", "byte", [sFloor.gzip], [1]);

      const ratios: RatioFigure[] = [
        pairedRatio("footprint", "bundle gzip / 300 KB budget", mGzip, mGzipBudget, { numerator: [sDemo.gzip], denominator: [GZIP_BUDGET] }, {
          target: { op: "<", value: 1 },
          note: "default config (filters/), wrangler deploy --dry-run output, gzip -9",
          numeratorText: `sluice ${kb(sDemo.gzip)} gzip (${kb(sDemo.raw)} raw)`,
          denominatorText: `budget ${kb(GZIP_BUDGET)}`,
        }),
        pairedRatio("footprint", "bundle gzip sluice / floor", mGzip, mFloorGzip, { numerator: [sDemo.gzip], denominator: [sFloor.gzip] }, {
          numeratorText: `sluice ${kb(sDemo.gzip)} gzip`,
          denominatorText: `floor ${kb(sFloor.gzip)} gzip (${kb(sFloor.raw)} raw)`,
        }),
        pairedRatio("footprint", `startup (eval + compile, ${DESTINATIONS} dest) / 50 ms`, mStartup, mBudget, { numerator: startup, denominator: startup.map(() => STARTUP_BUDGET_MS) }, {
          target: { op: "<", value: 1 },
          note: `fresh node processes ×${repeats}, alternating with the floor`,
          numeratorText: `sluice ${ms(startup)} (eval ${ms(s.map((r) => r.evalMs))} + compile ${ms(s.map((r) => r.compileMs))})`,
          denominatorText: `budget ${STARTUP_BUDGET_MS} ms`,
        }),
        pairedRatio("footprint", "startup sluice (50 dest) / floor", mStartup, mFloor, { numerator: startup, denominator: floorStartup }, {
          note: "eval + compile vs the floor's eval (it has nothing to compile)",
          numeratorText: `sluice ${ms(startup)}`,
          denominatorText: `floor eval ${ms(floorStartup)}`,
        }),
        pairedRatio("footprint", "first batch after start sluice / floor", mStartup, mFloor, { numerator: s.map((r) => r.firstRequestMs), denominator: f.map((r) => r.firstRequestMs) }, {
          note: "cold path of the first 100-event request (in-memory bindings), after eval (+ compile); it compiles the filters and plan the batch reaches",
          numeratorText: `sluice ${ms(s.map((r) => r.firstRequestMs))} (second batch ${ms(s.map((r) => r.secondRequestMs))})`,
          denominatorText: `floor ${ms(f.map((r) => r.firstRequestMs))} (second batch ${ms(f.map((r) => r.secondRequestMs))})`,
        }),
        pairedRatio("footprint", "cold path (eval + compile + first batch) / floor", mStartup, mFloor, { numerator: coldPath, denominator: floorColdPath }, {
          note: "everything a fresh isolate does up to its first answered batch: work deferred from start-up still counts here",
          numeratorText: `sluice ${ms(coldPath)}`,
          denominatorText: `floor ${ms(floorColdPath)}`,
        }),
      ];
      const notes = [
        `footprint: bundles from wrangler deploy --dry-run (wrangler: ${wranglerSays ?? "?"}); raw / gzip -9: default config ${kb(sDemo.raw)} / ${kb(sDemo.gzip)},` +
          ` ${DESTINATIONS}-destination config ${kb(sBig.raw)} / ${kb(sBig.gzip)}, floor ${kb(sFloor.raw)} / ${kb(sFloor.gzip)}.`,
        `  startup in Node ${process.version} (same V8 family as workerd), fresh process per measurement, ${repeats} alternating pairs: sluice eval ${ms(s.map((r) => r.evalMs))},` +
          ` router warm-up ${ms(s.map((r) => r.routerMs))}, compile ${ms(s.map((r) => r.compileMs))}, first batch ${ms(s.map((r) => r.firstRequestMs))} (${s[0]?.calls.durableObject ?? 0} Durable Object calls, ${s[0]?.calls.queue ?? 0} queue messages; it compiles the 50 destinations' filters and the plan on first use), second batch ${ms(s.map((r) => r.secondRequestMs))};` +
          ` floor eval ${ms(f.map((r) => r.evalMs))}, router warm-up ${ms(f.map((r) => r.routerMs))}, first batch ${ms(f.map((r) => r.firstRequestMs))}, second batch ${ms(f.map((r) => r.secondRequestMs))}.`,
      ];
      return {
        name: "footprint",
        description: "bundle size (wrangler --dry-run) and cold start (module evaluation + config compile)",
        measure: externalResult([mGzip, mFloorGzip, mStartup, mFloor]),
        ratios,
        checks: { sizes: { default: sDemo, destinations50: sBig, floor: sFloor }, startup: { sluice: s, floor: f } },
        notes,
      };
    } finally {
      for (const b of bundles) b.remove();
      rmSync(work, { recursive: true, force: true });
    }
  },
};

/**
 * Suite "console": how long the console's pages take on `wrangler dev` with 10,000 stored events. The worker runs
 * with two sources: "shop" (9,000 events, a tracking plan that quarantines the 10 % that violate it, the rest
 * delivered to a webhook) and "legacy" (1,000 events to a webhook that answers 400: dead letters). Once every event
 * has its outcome, the bench signs in and fetches each page in turn (all pages per round, rounds alternating the
 * order), measuring the time to the whole response body on a fresh connection. Target: median < 300 ms per page.
 * The absolute figures are printed beside each ratio to the budget.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../scripts/local-wrangler.ts";
import { startSink } from "../scripts/sink.ts";
import { postJson, startWranglerDev, type DevWorker } from "../test/e2e/wrangler-dev.ts";
import { externalResult, median, pairedRatio, runsMeasurement, type RatioFigure, type Suite, type SuiteResult } from "./lib.ts";

const BUDGET_MS = 300;
const ADMIN_TOKEN = "bench-console-admin";
const EVENTS = { shop: 9_000, legacy: 1_000 };

const PLAN = `events:
  - name: Order Completed
    properties:
      order_id: { type: string, required: true }
`;

/** GET on a fresh connection: status, and ms to the last byte of the body. */
function timedGet(url: string, headers: Record<string, string>): Promise<{ status: number; ms: number; bytes: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers }, (res) => {
      let bytes = 0;
      res.on("data", (c: Buffer) => (bytes += c.length));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0, bytes }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

async function signIn(dev: DevWorker): Promise<string> {
  const res = await fetch(`${dev.url}/console/sign-in`, { method: "POST", redirect: "manual", headers: { origin: dev.url, "content-type": "application/x-www-form-urlencoded" }, body: `token=${ADMIN_TOKEN}` });
  const cookie = res.headers.get("set-cookie")?.split(";")[0];
  if (res.status !== 303 || !cookie) throw new Error(`sign-in answered ${res.status}`);
  return cookie;
}

async function adminJson<T>(dev: DevWorker, path: string): Promise<T> {
  const res = await fetch(`${dev.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return (await res.json()) as T;
}

/** Sends the events: 100 per batch, a few batches at a time. */
async function store(dev: DevWorker): Promise<void> {
  const batches: { key: string; batch: unknown[] }[] = [];
  for (const [source, n] of Object.entries(EVENTS)) {
    for (let b = 0; b < n / 100; b++) {
      batches.push({
        key: `wk_bench_${source}`,
        batch: Array.from({ length: 100 }, (_, i) => {
          const k = b * 100 + i;
          const bad = source === "shop" && k % 10 === 0;
          return { type: "track", event: "Order Completed", userId: `user-${k % 700}`, messageId: `${source}-${k}`, properties: bad ? { revenue: k } : { order_id: `o-${k}`, revenue: k } };
        }),
      });
    }
  }
  for (let i = 0; i < batches.length; i += 4) {
    await Promise.all(
      batches.slice(i, i + 4).map(async ({ key, batch }) => {
        const res = await postJson(`${dev.url}/v1/batch`, { batch }, { authorization: `Basic ${Buffer.from(`${key}:`).toString("base64")}` });
        if (res.status !== 200) throw new Error(`batch answered ${res.status}: ${res.body}`);
      }),
    );
  }
}

type Scopes = Record<string, { counters: Record<string, number> }[]>;
const sum = (scopes: Scopes, scope: string, counter: string) => (scopes[scope] ?? []).reduce((n, d) => n + (d.counters[counter] ?? 0), 0);

export const consoleSuite: Suite = {
  name: "console",
  async run(): Promise<SuiteResult> {
    const rounds = Number(process.env.BENCH_CONSOLE_ROUNDS ?? 15);
    const tmp = mkdtempSync(join(tmpdir(), "sluice-bench-console-"));
    const sink = await startSink();
    const refusingPort = await freePort();
    const refusing = createServer((_req, res) => res.writeHead(400, { "content-type": "application/json" }).end('{"error":"bench: refused"}'));
    await new Promise<void>((r) => refusing.listen(refusingPort, "127.0.0.1", r));
    let dev: DevWorker | undefined;
    try {
      const configDir = join(tmp, "config");
      mkdirSync(join(configDir, "plans"), { recursive: true });
      writeFileSync(join(configDir, "plans", "shop.yaml"), PLAN);
      writeFileSync(
        join(configDir, "sluice.yaml"),
        `sources:
  - { id: shop, name: Shop, write_keys: [wk_bench_shop], tracking_plan: shop, enforcement: { violations: quarantine } }
  - { id: legacy, name: Legacy, write_keys: [wk_bench_legacy] }
destinations:
  - { id: hook, name: Hook, kind: webhook, sources: [shop], settings: { url: "${sink.url}" } }
  - { id: refusing, name: Refusing, kind: webhook, sources: [legacy], settings: { url: "http://127.0.0.1:${refusingPort}/" } }
`,
      );
      dev = await startWranglerDev(configDir, join(tmp, "state"), { ADMIN_TOKEN });
      const t0 = performance.now();
      await store(dev);
      // Every event has its outcome: delivered, quarantined, or dead-lettered.
      const deadline = Date.now() + 300_000;
      let outcomes = 0;
      for (;;) {
        const { scopes } = await adminJson<{ scopes: Scopes }>(dev, "/admin/stats");
        outcomes = sum(scopes, "destination:hook", "delivered") + sum(scopes, "source:shop", "quarantined.violation") + sum(scopes, "destination:refusing", "dead_lettered");
        if (outcomes >= EVENTS.shop + EVENTS.legacy) break;
        if (Date.now() > deadline) throw new Error(`only ${outcomes} of 10,000 events have an outcome after 5 minutes`);
        await new Promise((r) => setTimeout(r, 500));
      }
      const storeSeconds = (performance.now() - t0) / 1000;
      const dead = await adminJson<{ entries: { id: string }[]; totals: { stored: number } }>(dev, "/admin/dead-letters?limit=1");
      const quarantined = await adminJson<{ entries: { id: string }[]; totals: { stored: number } }>(dev, "/admin/quarantine?limit=1");
      const cookie = await signIn(dev);
      const pages = [
        "/console/live?source=shop",
        "/console/delivery?window=1h",
        "/console/delivery?window=24h",
        "/console/delivery?window=7d",
        "/console/plan",
        `/console/plan/entry/${quarantined.entries[0]?.id}`,
        "/console/dead-letters",
        `/console/dead-letters/entry/${dead.entries[0]?.id}`,
        "/console/usage",
      ];
      const times = new Map<string, number[]>(pages.map((p) => [p, []]));
      const sizes = new Map<string, number>();
      // One warm-up round (the isolate compiles the config and builds Hono's router on first use).
      for (const p of pages) await timedGet(`${dev.url}${p}`, { cookie });
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 === 0 ? pages : [...pages].reverse();
        for (const p of order) {
          const res = await timedGet(`${dev.url}${p}`, { cookie });
          if (res.status !== 200) throw new Error(`${p} answered ${res.status}`);
          times.get(p)!.push(res.ms);
          sizes.set(p, res.bytes);
        }
      }
      const label = (p: string) => p.replace(/\/entry\/[^/?]+$/, "/entry/<id>");
      const measurements = pages.map((p) => runsMeasurement(label(p), "page", times.get(p)!.map((ms) => ms * 1e6), times.get(p)!.map(() => 1)));
      const budget = runsMeasurement(`${BUDGET_MS} ms budget`, "page", Array(rounds).fill(BUDGET_MS * 1e6), Array(rounds).fill(1));
      const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.95) - 1)]!;
      const ratios: RatioFigure[] = pages.map((p, i) =>
        pairedRatio("console", `${label(p)} / ${BUDGET_MS} ms`, measurements[i]!, budget, { numerator: times.get(p)!, denominator: times.get(p)!.map(() => BUDGET_MS) }, {
          target: { op: "<", value: 1 },
          numeratorText: `median ${median(times.get(p)!).toFixed(1)} ms, p95 ${p95(times.get(p)!).toFixed(1)} ms, ${(sizes.get(p)! / 1024).toFixed(1)} KB`,
          denominatorText: `budget ${BUDGET_MS} ms`,
        }),
      );
      const notes = [
        `console: wrangler dev with ${EVENTS.shop + EVENTS.legacy} events stored in ${storeSeconds.toFixed(0)} s (` +
          `${quarantined.totals.stored} quarantine entries, ${dead.totals.stored} dead-letter entries); ${rounds} rounds of every page, fresh connection per request, time to the last byte.`,
      ];
      return { name: "console", description: "console pages on wrangler dev with 10,000 stored events", measure: externalResult([...measurements, budget]), ratios, checks: { storeSeconds, quarantineEntries: quarantined.totals.stored, deadLetterEntries: dead.totals.stored }, notes };
    } finally {
      await dev?.stop();
      await sink.close();
      refusing.close();
      rmSync(tmp, { recursive: true, force: true });
    }
  },
};

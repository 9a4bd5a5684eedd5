/**
 * The "cost" suite's simulation, run in its own process (it replaces Date.now and setTimeout with a virtual clock,
 * which must not leak into other suites): the real HTTP app (src/http/app.ts createApp, with the real SourceGuards
 * and Telemetry) serves a stream of requests on one isolate, and the real router (src/router/route.ts route, with
 * the real dedup claims and the consumer's deliverFirst) then routes and delivers what was queued on the ingest
 * queue, in batches of max_batch_size (100), flushing its telemetry and user sketches after each batch as src/index.ts does. Every binding is an in-memory fake that counts the
 * billable operations: Durable Object calls (by method) and the SQLite rows each writes, Queue messages and bytes.
 *
 * Usage: tsx bench/cost-sim.ts '<json scenario list>' — prints one JSON line with a result per scenario.
 * A scenario: { client: "single" | "batch", eventsPerSecond: per-isolate rate, seconds, destinations }.
 */
import { destinationKinds } from "../destinations/index.ts";
import { Breakers } from "../src/delivery/breaker.ts";
import { createApp, type SluiceEnv } from "../src/http/app.ts";
import { SourceGuards } from "../src/http/guards.ts";
import { compilePipeline } from "../src/pipeline/compile.ts";
import { commitRows } from "../src/storage/dedup-index.ts";
import { deliverFirst, type ConsumerDeps } from "../src/queue/consumer.ts";
import { claimBatch } from "../src/dedup/batch.ts";
import { DedupClaims, type DedupShards } from "../src/dedup/claims.ts";
import { route } from "../src/router/route.ts";
import { Telemetry } from "../src/telemetry.ts";
import { corpusLines } from "../test/fixtures/corpus.ts";
import { benchConfig, WRITE_KEY } from "./pipeline-fixture.ts";

export interface Scenario {
  client: "single" | "batch";
  eventsPerSecond: number;
  seconds: number;
  destinations: number;
}

export interface SimResult extends Scenario {
  requests: number;
  events: number;
  accepted: number;
  /** Durable Object calls by "<phase>:<class>.<method>" (phase: ingest, router). */
  doCalls: Record<string, number>;
  /** SQLite rows written by those calls (plus, for dedup, the alarm's later deletes: `DedupObject.expiry`). */
  doRowsWritten: Record<string, number>;
  queue: { sendBatchCalls: number; messages: number; bytes: number; billingUnits: number };
  consumer: { invocations: number; deliveryCalls: number; acked: number; retried: number };
}

// ---------------------------------------------------------------------------------------------------------------
// Virtual time

let now = Date.UTC(2026, 10, 25, 12, 0, 0);
interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}
let timers: Timer[] = [];
let seq = 0;
const realSetImmediate = setImmediate;
Date.now = () => now;
(globalThis as { setTimeout: unknown }).setTimeout = (fn: () => void, ms = 0) => {
  const t = { at: now + Math.max(0, ms), seq: seq++, fn };
  timers.push(t);
  return t;
};
(globalThis as { clearTimeout: unknown }).clearTimeout = (t: Timer) => {
  timers = timers.filter((x) => x !== t);
};
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => realSetImmediate(r));
};
/** Advances the clock to `t`, running due timers in order (and what they resolve). */
async function advanceTo(t: number): Promise<void> {
  for (;;) {
    timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const next = timers[0];
    if (!next || next.at > t) break;
    timers.shift();
    now = Math.max(now, next.at);
    next.fn();
    await settle();
  }
  now = Math.max(now, t);
}

// ---------------------------------------------------------------------------------------------------------------
// Counting bindings

/** Counts per "<phase>:<class>.<method>" (phase: ingest, or router). */
function counters() {
  const doCalls: Record<string, number> = {};
  const doRowsWritten: Record<string, number> = {};
  const state = { phase: "ingest" };
  const call = (what: string, rows = 0) => {
    const key = `${state.phase}:${what}`;
    doCalls[key] = (doCalls[key] ?? 0) + 1;
    if (rows) doRowsWritten[key] = (doRowsWritten[key] ?? 0) + rows;
  };
  const rows = (what: string, n: number) => {
    const key = `${state.phase}:${what}`;
    doRowsWritten[key] = (doRowsWritten[key] ?? 0) + n;
  };
  return { doCalls, doRowsWritten, call, rows, state };
}

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");
const UNIT = 64 * 1024;

async function simulate(s: Scenario, lines: string[]): Promise<SimResult> {
  const c = counters();
  const queued: { body: string; timestamp: Date }[] = [];
  const queue = { sendBatchCalls: 0, messages: 0, bytes: 0, billingUnits: 0 };
  const namespace = (cls: string, methods: Record<string, (...args: any[]) => unknown>) => ({
    idFromName: (name: string) => name,
    get: () =>
      new Proxy(
        {},
        {
          get: (_, method: string) => async (...args: unknown[]) => {
            const impl = methods[method];
            if (!impl) throw new Error(`cost-sim: ${cls}.${method} is not simulated`);
            return impl(...args);
          },
        },
      ),
  });
  const seen = new Set<string>();
  const counting = {
      async sendBatch(messages: { body: string }[]) {
        queue.sendBatchCalls++;
        for (const m of messages) {
          const bytes = utf8(m.body);
          queue.messages++;
          queue.bytes += bytes;
          queue.billingUnits += Math.ceil(bytes / UNIT);
          queued.push({ body: m.body, timestamp: new Date(now) });
        }
      },
      async send() {
        throw new Error("cost-sim: send is not simulated");
      },
  };
  const env = {
    INGEST: counting,
    // SourceObject: a lease writes the bucket row; a sketch merge reads and writes the day's sketch row.
    SOURCES: namespace("SourceObject", {
      lease: (_limits: unknown, req: { want: number }) => (c.call("SourceObject.lease", 1), { granted: req.want }),
      addUsers: () => (c.call("SourceObject.addUsers", 1), undefined),
    }),
    // DedupObject (src/storage/dedup-object.ts): a claim reads and writes nothing (claims are held in memory, ids
    // are looked up in its in-memory index); a commit call writes one row for all the ids it names (dedup-index.ts
    // commitRows). The alarm later deletes each of those rows whole.
    DEDUP: namespace("DedupObject", {
      claim: (req: { ids: string[] }) => {
        const fresh = req.ids.filter((id) => !seen.has(id));
        for (const id of fresh) seen.add(id);
        c.call("DedupObject.claim", 0);
        return { duplicates: req.ids.filter((id) => !fresh.includes(id)), inFlight: [] };
      },
      commit: (_windowMs: number, commits: { ids: string[] }[]) => {
        const rows = commitRows(commits.reduce((n, x) => n + x.ids.length, 0));
        c.call("DedupObject.commit", rows);
        c.rows("DedupObject.expiry", rows);
      },
      release: () => c.call("DedupObject.release"),
    }),
    // StatsObject.add: one row per call (a day's counters are one JSON row).
    STATS: namespace("StatsObject", {
      add: () => (c.call("StatsObject.add", 1), undefined),
      read: () => ({}),
    }),
    RETRIES: { send: async () => {}, sendBatch: async () => {} },
    HOOK_SECRET: "x",
    ADMIN_TOKEN: "x",
  } as unknown as SluiceEnv;

  const config = benchConfig(s.destinations, lines, { source: { rate_limit: { events_per_second: 1_000_000 } } });
  const pipeline = compilePipeline(config, destinationKinds, {});
  const ingestTelemetry = new Telemetry(() => env.STATS as never);
  const app = createApp({ pipeline: () => pipeline, kinds: destinationKinds, telemetry: ingestTelemetry, guards: new SourceGuards() });
  const pending: Promise<unknown>[] = [];
  const ctx = { waitUntil: (p: Promise<unknown>) => void pending.push(p.catch(() => {})), passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
  const auth = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString("base64")}`;

  const size = s.client === "single" ? 1 : 100;
  const requestsPerSecond = s.eventsPerSecond / size;
  const total = Math.max(1, Math.round(requestsPerSecond * s.seconds));
  const start = now;
  let events = 0;
  let accepted = 0;
  let cursor = 0;
  for (let r = 0; r < total; r++) {
    await advanceTo(start + (r * 1000) / requestsPerSecond);
    const chunk: Record<string, unknown>[] = [];
    for (let i = 0; i < size; i++) {
      const e = JSON.parse(lines[cursor++ % lines.length]!) as Record<string, unknown>;
      chunk.push({ ...e, messageId: `${String(e.messageId)}-r${r}` });
    }
    const path = size === 1 ? `/v1/${String(chunk[0]!.type)}` : "/v1/batch";
    const body = JSON.stringify(size === 1 ? chunk[0] : { batch: chunk });
    const res = await app.fetch(new Request(`https://sluice.example${path}`, { method: "POST", headers: { authorization: auth, "content-type": "application/json" }, body }), env, ctx);
    const json = (await res.json()) as { accepted?: number };
    if (res.status !== 200) throw new Error(`cost-sim: ${path} answered ${res.status} ${JSON.stringify(json)}`);
    events += size;
    accepted += json.accepted ?? 0;
  }
  await advanceTo(now + 15_000); // a spill of counts no message carried (none here: every request is accepted)
  await Promise.all(pending);

  // The router, in a separate isolate: batches of 100 messages (max_batch_size), telemetry flushed per batch.
  c.state.phase = "router";
  const consumerTelemetry = new Telemetry(() => env.STATS as never);
  const routerGuards = new SourceGuards();
  const consumer = { invocations: 0, deliveryCalls: 0, acked: 0, retried: 0 };
  const fakeFetch = (async () => {
    consumer.deliveryCalls++;
    return new Response("{}", { status: 200 });
  }) as typeof fetch;
  const deps: ConsumerDeps = {
    pipeline,
    kinds: destinationKinds,
    env: env as unknown as Env,
    bucket: {} as R2Bucket,
    retries: env.RETRIES as unknown as Queue,
    inRetryQueue: false,
    tally: consumerTelemetry,
    breakers: new Breakers(),
    storeDeadLetter: async () => {
      throw new Error("cost-sim: nothing should be dead-lettered");
    },
    fetch: fakeFetch,
    now: () => now,
    random: () => 0.5,
  };
  const claims = new DedupClaims();
  const shards: DedupShards = (sourceId, shard) => env.DEDUP.get(env.DEDUP.idFromName(`${sourceId}:${shard}`)) as never;
  const noQuarantine = async () => {
    throw new Error("cost-sim: the bench plan quarantines nothing");
  };
  const ingested = queued.splice(0);
  for (let i = 0; i < ingested.length; i += 100) {
    const messages = ingested.slice(i, i + 100).map((q, k) => ({
      id: `m${i + k}`,
      timestamp: q.timestamp,
      body: q.body,
      attempts: 1,
      ack: () => void consumer.acked++,
      retry: () => void consumer.retried++,
    }));
    consumer.invocations++;
    await route({ messages } as unknown as MessageBatch<unknown>, {
      pipeline,
      dedup: (source, events, token) => claimBatch(claims, shards, source, events, token),
      newToken: () => `batch-${i}`,
      quarantine: { hold: noQuarantine, remove: noQuarantine },
      deliver: (dest, msgs) => deliverFirst(dest, msgs, deps),
      deadLetters: counting,
      stats: consumerTelemetry,
      users: (source, events, day) => routerGuards.users(source, events, day),
    });
    await Promise.all([consumerTelemetry.flush(), routerGuards.flushUsers(env)]);
  }
  return { ...s, requests: total, events, accepted, doCalls: c.doCalls, doRowsWritten: c.doRowsWritten, queue, consumer };
}

const scenarios = JSON.parse(process.argv[2] ?? "[]") as Scenario[];
const lines = corpusLines();
const results: SimResult[] = [];
for (const s of scenarios) results.push(await simulate(s, lines));
console.log(JSON.stringify(results));
process.exit(0);

/**
 * The config and the request path the "pipeline", "footprint" and "cost" suites share.
 *
 *  - benchConfig(n): a BuiltConfig built in code — one source ("web", write key wk_bench_web) with a tracking plan
 *    generated from the corpus (./plans-fixture.ts: 20 rules × 10 properties) and n webhook destinations, each with
 *    3 Segment filters + 2 transformations. Five filter recipes rotate over the destinations (product analytics,
 *    ads, warehouse-like, support tool, a second analytics tool), and each destination's list differs from every
 *    other's (a destination tag, a salt, an allow-list, a property name), so destinations differ as they do in
 *    production and no two of them turn an event into the same JSON by construction.
 *    One destination is named "Holdout Hook": the corpus's `integrations: {All: false, "Holdout Hook": true}`
 *    events go to it only.
 *  - BenchIngest: the worker's path, `accept()` (src/ingest/accept.ts) and then `route()` (src/router/route.ts)
 *    on what it queued, both with in-memory ports: write key → JSON.parse of the body → normalizeRequest → ingest
 *    message → tracking plan, source filters, integrations, destination filters → one delivery message per
 *    destination (the router's deliver port enqueues them, as a quarantine replay does, instead of calling the
 *    adapters). With `full`, also a rate-limit admit (always admitted) and what the router does per event beyond
 *    routing (dedup claim planning, the usage sketch).
 *    Its other methods time stages of that path on their own.
 */
import { randomUUID } from "node:crypto";
import { destinationKinds } from "../destinations/index.ts";
import { dedupSettings } from "../src/config/source-limits.ts";
import type { BuiltConfig, DestinationConfig, SourceConfig } from "../src/config/model.ts";
import { planClaims } from "../src/dedup/plan.ts";
import { compilePipeline, routeNormalized, type CompiledPipeline, type CompiledSource } from "../src/pipeline/compile.ts";
import type { FilterSpec } from "../src/pipeline/filters/index.ts";
import { normalizeRequest, type EventType, type NormalizeResult, type SluiceEvent } from "../src/pipeline/normalize.ts";
import { compilePlan, enforcePlan, type CompiledPlan, type PlanRule } from "../src/plans/index.ts";
import { accept } from "../src/ingest/accept.ts";
import { EdgeCounts } from "../src/ingest/counts.ts";
import type { IngestGuards, IngestStats } from "../src/ingest/ports.ts";
import { enqueue, parseDeliveryMessage, utf8Length } from "../src/queue/messages.ts";
import type { QuarantineHold, RouterPorts } from "../src/router/ports.ts";
import { route } from "../src/router/route.ts";
import { Telemetry } from "../src/telemetry.ts";
import { UsageRecorder } from "../src/usage/recorder.ts";
import { generatePlan } from "./plans-fixture.ts";

type Event = Record<string, unknown>;

export const WRITE_KEY = "wk_bench_web";
export const SOURCE_ID = "web";
export const PLAN_ID = "bench";

const TOOL_NAMES = ["Mixpanel", "Google Ads", "Warehouse Hook", "Holdout Hook", "Amplitude", "Braze", "Meta CAPI", "Snowflake Hook", "Zendesk", "Heap"];

/** Destination i's display name: unique, the first ten are real-looking tool names. */
export function destinationName(i: number): string {
  const base = TOOL_NAMES[i % TOOL_NAMES.length]!;
  return i < TOOL_NAMES.length ? base : `${base} ${Math.floor(i / TOOL_NAMES.length) + 1}`;
}

export const destinationId = (i: number) => `dest-${String(i).padStart(2, "0")}`;

/** 3 Segment filters (drop / sample / property actions) + 2 Sluice transformations, by recipe. */
export function destinationFilters(i: number): FilterSpec[] {
  const id = destinationId(i);
  /** 0 for the first five destinations, 1 for the next five, …: the same recipe, configured differently. */
  const round = Math.floor(i / 5);
  switch (i % 5) {
    case 0: // product analytics
      return [
        { title: "Drop noisy events", if: 'event in ["Video Playback Started", "Feature Used"]', actions: [{ type: "DROP" }] },
        { title: "Strip PII", if: "all", actions: [{ type: "DROP_PROPERTIES", fields: { properties: ["email", "phone"], traits: ["email", "phone"] } }] },
        { title: "Sample page views by user", if: 'type = "page"', actions: [{ type: "SAMPLE", percent: 0.5, path: "anonymousId" }] },
        { title: "Name the order total", if: 'event = "Order Completed"', actions: [{ type: "RENAME_PROPERTIES", fields: { "properties.total": "properties.order_total" } }] },
        { title: "Tag the destination", if: "all", actions: [{ type: "SET", path: "context.sluice.destination", value: id }] },
      ];
    case 1: // ads / conversions
      return [
        { title: "Only track and identify", if: '!(type in ["track", "identify"])', actions: [{ type: "DROP" }] },
        { title: "Drop small orders", if: 'event = "Order Completed" and properties.revenue < 10', actions: [{ type: "DROP" }] },
        { title: "Order allow-list", if: 'event = "Order Completed"', actions: [{ type: "ALLOW_PROPERTIES", fields: { properties: ["order_id", "revenue", "currency", ...(round % 2 === 0 ? ["products"] : ["coupon"])] } }] },
        { title: "Hash emails", if: 'type = "identify"', actions: [{ type: "HASH_PROPERTIES", fields: ["traits.email"], salt: `bench-salt-${id}` }] },
        { title: "Revenue as a number", if: 'event = "Order Completed"', actions: [{ type: "CAST", fields: { "properties.revenue": "number" } }] },
      ];
    case 2: // warehouse-like
      return [
        { title: "Drop test events", if: 'match(event, "Test *") or properties.test = true', actions: [{ type: "DROP" }] },
        { title: "Drop email campaigns", if: 'context.campaign.medium = "email"', actions: [{ type: "DROP" }] },
        { title: "No IPs or user agents", if: "all", actions: [{ type: "DROP_PROPERTIES", fields: { context: ["ip", "userAgent"] } }] },
        { title: "Page URL as a property", if: 'type = "page"', actions: [{ type: "COPY", from: "context.page.url", to: "properties.page_url" }] },
        { title: "Load marker", if: "all", actions: [{ type: "SET", path: "context.sluice.load", value: id }] },
      ];
    case 3: // support tool: people and accounts only
      return [
        { title: "Only identify and group", if: '!(type in ["identify", "group"])', actions: [{ type: "DROP" }] },
        { title: "Drop anonymous people", if: "length(userId) < 1", actions: [{ type: "DROP" }] },
        { title: "No phone numbers", if: "all", actions: [{ type: "DROP_PROPERTIES", fields: { traits: ["phone"] } }] },
        { title: "Snake-case created at", if: 'type = "identify"', actions: [{ type: "RENAME_PROPERTIES", fields: { "traits.createdAt": round % 2 === 0 ? "traits.created_at" : "traits.signed_up_at" } }] },
        { title: "Logins as a number", if: 'type = "identify"', actions: [{ type: "CAST", fields: { "traits.logins": "number" } }] },
      ];
    default: // a second analytics tool
      return [
        { title: "Drop searches", if: 'event = "Search Performed"', actions: [{ type: "DROP" }] },
        { title: "Sample anonymous pages", if: 'type = "page" and userId = null', actions: [{ type: "SAMPLE", percent: 0.9, path: "anonymousId" }] },
        { title: "Strip emails", if: "all", actions: [{ type: "DROP_PROPERTIES", fields: { properties: ["email"] } }] },
        { title: "New signup name", if: 'event = "Signed Up"', actions: [{ type: "RENAME_EVENT", to: "Sign Up Completed" }] },
        { title: "Locale on track events", if: 'type = "track"', actions: [{ type: "COPY", from: "context.locale", to: round % 2 === 0 ? "properties.locale" : "properties.user_locale" }] },
      ];
  }
}

function destination(i: number): DestinationConfig {
  return {
    id: destinationId(i),
    name: destinationName(i),
    kind: "webhook",
    enabled: true,
    sources: "*",
    settings: { url: `https://hooks.example.com/${destinationId(i)}`, headers: {}, timeout_ms: 10_000, batch: { enabled: true, max_events: 100 }, concurrency: 10 },
    retry: { window_hours: 4, base_delay_seconds: 5, max_delay_seconds: 1800 },
    circuit_breaker: { failures_to_open: 10, cooldown_seconds: 15, max_cooldown_seconds: 600 },
  };
}

let planCache: PlanRule[] | undefined;
/** The corpus-derived plan (./plans-fixture.ts), computed once per process. */
export function benchPlan(lines: readonly string[]): PlanRule[] {
  return (planCache ??= generatePlan(lines.map((l) => JSON.parse(l) as Event)));
}

export interface BenchConfigOptions {
  /** Source limits for the "cost" simulation (rate limit leases); the pipeline suite leaves them out. */
  source?: Partial<SourceConfig>;
}

/** See the module comment. `lines` is the corpus (the plan is generated from it). */
export function benchConfig(destinations: number, lines: readonly string[], options: BenchConfigOptions = {}): BuiltConfig {
  const source: SourceConfig = {
    id: SOURCE_ID,
    name: "Website",
    environment: "prod",
    write_keys: [WRITE_KEY],
    tracking_plan: PLAN_ID,
    // The demo's enforcement (filters/sluice.yaml): report only, findings travel in context.protocols.
    enforcement: { unplanned_events: "allow", unplanned_properties: "allow", violations: "allow", common_violations: "allow" },
    ...options.source,
  };
  const dests = Array.from({ length: destinations }, (_, i) => destination(i));
  return {
    version: 1,
    origin: `bench/pipeline-fixture.ts (${destinations} destinations)`,
    sources: [source],
    destinations: dests,
    filters: Object.fromEntries(dests.map((d, i) => [d.id, destinationFilters(i)])),
    sourceFilters: {},
    plans: { [PLAN_ID]: benchPlan(lines) },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Requests

export interface BenchRequest {
  route: EventType | "batch";
  body: string;
  events: number;
}

/** The corpus as requests of `size` events: `/v1/batch` bodies (`{batch, sentAt}`), or single-event bodies for 1. */
export function requestsOf(lines: readonly string[], size: number): BenchRequest[] {
  const out: BenchRequest[] = [];
  const sentAt = "2026-11-25T12:00:00.000Z";
  for (let i = 0; i < lines.length; i += size) {
    const chunk = lines.slice(i, i + size);
    if (size === 1) {
      const event = JSON.parse(chunk[0]!) as Event;
      out.push({ route: event.type as EventType, body: JSON.stringify({ ...event, sentAt }), events: 1 });
    } else {
      out.push({ route: "batch", body: `{"batch":[${chunk.join(",")}],"sentAt":${JSON.stringify(sentAt)}}`, events: chunk.length });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The request path

export interface IngestOutcome {
  accepted: number;
  /** Queue messages and their bytes (what sendBatch was given), and sendBatch calls. */
  messages: number;
  bytes: number;
  sendBatches: number;
  /** The message bodies, for an untimed look at what was queued (`queuedShape`). */
  sent: string[];
}

/** Destinations that received at least one event, and events routed summed over destinations. */
export function queuedShape(outcome: IngestOutcome): { destinations: number; deliveries: number } {
  const messages = outcome.sent.map((b) => parseDeliveryMessage(b)!);
  return { destinations: new Set(messages.map((m) => m.dest)).size, deliveries: messages.reduce((n, m) => n + m.events.length, 0) };
}

const AUTHORIZATION = `Basic ${btoa(`${WRITE_KEY}:`)}`;
const NO_QUARANTINE: QuarantineHold = {
  hold: async () => {
    throw new Error("bench: the bench plan quarantines nothing");
  },
  remove: async () => {},
};

/** The worker's request path with in-memory ports, and its stages on their own: see the module comment. */
export class BenchIngest {
  readonly pipeline: CompiledPipeline;
  readonly source: CompiledSource;
  /** The real Telemetry (only count() is used: in-memory aggregation, as per request in the worker). */
  readonly telemetry = new Telemetry(() => {
    throw new Error("bench: telemetry is never flushed");
  });
  private readonly usage = new UsageRecorder();
  /** The request path's counters as the worker keeps them (they ride in the ingest messages); never flushed. */
  private readonly stats: IngestStats = new EdgeCounts({ count: (scope, metric, n) => this.telemetry.count(scope, metric, n), flush: async () => {} });
  /** What SourceGuards does in the isolate, without its Durable Object calls (used with `full`). */
  private readonly guards: IngestGuards = {
    admit: async () => ({ admitted: true, taken: 0 }),
    refund: () => {},
  };
  /** Set when this version of routeNormalized does not apply the tracking plan itself (then we do, before it). */
  private readonly fallbackPlan: { plan: CompiledPlan; enforcement: SourceConfig["enforcement"] } | undefined;
  private readonly shards: number;
  /** The source's tracking plan compiled on its own, for floors that check events against it (see `checkPlan`). */
  private readonly plan: { plan: CompiledPlan; enforcement: SourceConfig["enforcement"] } | undefined;

  constructor(
    readonly config: BuiltConfig,
    private readonly full = false,
  ) {
    this.pipeline = compilePipeline(config, destinationKinds, {});
    const source = this.pipeline.sourceForWriteKey(WRITE_KEY);
    if (!source) throw new Error("bench: the bench config has no source for its write key");
    this.source = source;
    const planId = source.config.tracking_plan;
    const wired = (source as { plan?: unknown }).plan !== undefined;
    this.plan = planId && config.plans?.[planId] ? { plan: compilePlan(config.plans[planId]!), enforcement: source.config.enforcement } : undefined;
    this.fallbackPlan = wired ? undefined : this.plan;
    this.shards = dedupSettings(source.config.dedup)?.shards ?? 8;
  }

  /** The tracking plan's decision for one event, alone (no normalization, no routing): 1 when allowed. */
  checkPlan(event: SluiceEvent): number {
    if (!this.plan) return 1;
    return enforcePlan(this.plan.plan, this.plan.enforcement, event).action === "allow" ? 1 : 0;
  }

  /** Whether the tracking plan runs inside routeNormalized (the wired worker) or in this harness before it. */
  get planStage(): "routeNormalized" | "bench fallback (enforcePlan before routeNormalized)" | "none" {
    if (this.fallbackPlan) return "bench fallback (enforcePlan before routeNormalized)";
    return (this.source as { plan?: unknown }).plan !== undefined ? "routeNormalized" : "none";
  }

  /**
   * The worker's request path itself: `accept()` (src/ingest/accept.ts) with in-memory ports. The queues count
   * what sendBatch is given; counters ride in the ingest messages and the router adds them to the real Telemetry
   * (flushing is I/O: not here). With `full`, a rate-limit admit (always admitted), and the router's dedup claim
   * planning and usage sketch, as in production without their Durable Object calls.
   */
  async run(req: BenchRequest): Promise<IngestOutcome> {
    const sent: string[] = [];
    const ingested: MessageSendRequest[] = [];
    const outcome = { accepted: 0, messages: 0, bytes: 0, sendBatches: 0 };
    const queue = {
      async sendBatch(messages: MessageSendRequest[]) {
        outcome.sendBatches++;
        outcome.messages += messages.length;
        for (const m of messages) {
          outcome.bytes += utf8Length(m.body as string);
          sent.push(m.body as string);
        }
      },
    };
    const reply = await accept(
      { route: req.route, path: `/v1/${req.route}`, authorization: AUTHORIZATION, readBody: async () => ({ json: JSON.parse(req.body) as unknown, bytes: req.body.length, text: req.body }) },
      {
        pipeline: () => this.pipeline,
        stats: this.stats,
        ingest: { sendBatch: async (messages) => void ingested.push(...messages) },
        ...(this.full ? { guards: this.guards } : {}),
        clock: () => new Date(),
        newMessageId: randomUUID,
        waitUntil: () => {},
      },
    );
    if (reply.status !== 200) throw new Error(`bench: accept() answered ${reply.status} ${JSON.stringify(reply.body)}`);
    outcome.accepted = reply.body.accepted as number;
    let failed: unknown;
    const settle = { ack() {}, retry() {
      failed ??= new Error("bench: the router retried a message");
    } };
    await route({ messages: ingested.map((m, i) => ({ id: String(i), timestamp: new Date(), attempts: 1, body: m.body, ...settle }) as Message<unknown>) }, this.routerPorts(queue));
    if (failed) throw failed;
    return { ...outcome, sent };
  }

  /** The ingest message bodies `accept()` writes for the request (untimed set-up of the router contenders). */
  async ingestBodies(req: BenchRequest): Promise<string[]> {
    const bodies: string[] = [];
    const reply = await accept(
      { route: req.route, path: `/v1/${req.route}`, authorization: AUTHORIZATION, readBody: async () => ({ json: JSON.parse(req.body) as unknown, bytes: req.body.length, text: req.body }) },
      {
        pipeline: () => this.pipeline,
        stats: this.stats,
        ingest: { sendBatch: async (messages) => void bodies.push(...messages.map((m) => m.body as string)) },
        clock: () => new Date(),
        newMessageId: randomUUID,
        waitUntil: () => {},
      },
    );
    if (reply.status !== 200) throw new Error(`bench: accept() answered ${reply.status} ${JSON.stringify(reply.body)}`);
    return bodies;
  }

  /**
   * The router itself, `route()` (src/router/route.ts) as production calls it, on one queue batch of ingest message
   * bodies: parse, dedup (no duplicates: the claim's I/O is not CPU), plan, filters, fan-out; each destination's
   * messages are handed to `deliver`, which by default serializes their events once (JSON.stringify of the
   * events: the body any delivery writes). Returns the bytes serialized.
   */
  async routeBatch(bodies: readonly string[], deliver?: (dest: string, events: readonly SluiceEvent[]) => void): Promise<number> {
    let bytes = 0;
    let failed: unknown;
    const settle = {
      ack() {},
      retry() {
        failed ??= new Error("bench: the router retried a message");
      },
    };
    const none = { duplicates: 0, inFlight: new Set<string>(), retryAfterSeconds: 0, release: async () => {}, commit: async () => {} };
    const timestamp = new Date();
    await route(
      { messages: bodies.map((body, i) => ({ id: String(i), timestamp, attempts: 1, body, ...settle }) as Message<unknown>) },
      {
        pipeline: this.pipeline,
        dedup: async (_source, events) => ({ ...none, fresh: events }),
        newToken: () => "bench",
        quarantine: NO_QUARANTINE,
        deliver: async (dest, messages) => {
          for (const m of messages) {
            if (deliver) deliver(dest, m.events);
            else bytes += JSON.stringify(m.events).length;
          }
        },
        deadLetters: { sendBatch: async () => void (failed ??= new Error("bench: the router dead-lettered events")) },
        stats: this.telemetry,
      },
    );
    if (failed) throw failed;
    return bytes;
  }

  /** The router's ports: deliveries enqueued to `queue` (counted), dedup as the guards' claim planning (`full`). */
  private routerPorts(queue: { sendBatch(messages: MessageSendRequest[]): Promise<void> }): RouterPorts {
    const none = { duplicates: 0, inFlight: new Set<string>(), retryAfterSeconds: 0, release: async () => {}, commit: async () => {} };
    return {
      pipeline: this.pipeline,
      dedup: async (_source, events) => ({ ...none, fresh: this.full ? planClaims(events, this.shards).candidates : events }),
      newToken: () => "bench",
      quarantine: NO_QUARANTINE,
      deliver: async (_dest, messages) => void (await Promise.all(messages.map(({ v: _, events, ...header }) => enqueue(queue, header, events)))),
      deadLetters: queue,
      stats: this.telemetry,
      ...(this.full ? { users: (source, events, day) => this.usage.observe(source, events, day) } : {}),
    };
  }

  /**
   * Stage 1 only (parse, normalize, tracking plan): the destination-independent part. `skipSizeCheck` tells
   * normalizeRequest the body is small (requestBytes 0), which skips its per-event 32 KB check (a JSON.stringify
   * and a UTF-8 encode of every event of a request over 32 KB): a diagnostic of what that check costs.
   */
  runFront(req: BenchRequest, skipSizeCheck = false): number {
    const json = JSON.parse(req.body) as unknown;
    const normalized = normalizeRequest(json, req.route, { receivedAt: new Date(), requestBytes: skipSizeCheck ? 0 : req.body.length, newMessageId: () => randomUUID() });
    const planned = this.planned(normalized);
    const plan = (this.source as { plan?: { compiled: CompiledPlan; enforcement: SourceConfig["enforcement"] } }).plan;
    let sum = planned.accepted.length;
    if (plan) for (const e of planned.accepted) sum += enforcePlan(plan.compiled, plan.enforcement, e).findings.length;
    return sum;
  }

  /**
   * For each event of the request (in order), how many distinct copies of it the destinations receive — what
   * must be serialized (destinations sharing an untouched object share its JSON) — and how many different JSON
   * texts those copies are. Untimed helper.
   */
  copiesPerEvent(req: BenchRequest): { objects: number[]; texts: number[] } {
    const normalized = normalizeRequest(JSON.parse(req.body), req.route, { receivedAt: new Date(), requestBytes: req.body.length, newMessageId: () => randomUUID() });
    const index = new Map(normalized.accepted.map((e, i) => [e.messageId, i]));
    const objects = normalized.accepted.map(() => new Set<SluiceEvent>());
    const result = routeNormalized(this.source, this.planned(normalized), this.telemetry);
    for (const routed of result.routed.values()) for (const e of routed.events) objects[index.get(e.messageId)!]!.add(e);
    return { objects: objects.map((o) => o.size), texts: objects.map((o) => new Set([...o].map((e) => JSON.stringify(e))).size) };
  }

  /** Stages 1–2 (… → routing with every destination's filters), without serialization. */
  runRouteOnly(req: BenchRequest): number {
    const json = JSON.parse(req.body) as unknown;
    const normalized = normalizeRequest(json, req.route, { receivedAt: new Date(), requestBytes: req.body.length, newMessageId: () => randomUUID() });
    const result = routeNormalized(this.source, this.planned(normalized), this.telemetry);
    let sum = 0;
    for (const routed of result.routed.values()) sum += routed.events.length;
    return sum;
  }

  private planned(normalized: NormalizeResult): NormalizeResult {
    const fb = this.fallbackPlan;
    if (!fb) return normalized;
    const allowed: SluiceEvent[] = [];
    for (const e of normalized.accepted) {
      const d = enforcePlan(fb.plan, fb.enforcement, e);
      if (d.action === "allow") allowed.push(d.event);
    }
    return { accepted: allowed, rejected: normalized.rejected };
  }
}

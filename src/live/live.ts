/**
 * Live events for the console: what the router tells the per-source LiveObject (src/storage/live-object.ts) about
 * the events it routes, while a console watches that source, and only then. Pure: the router reaches it through
 * its `live` port (src/router/ports.ts), the worker entry wires the Durable Object in.
 *
 * Cost when no console is open: the router asks "is anyone watching source X?" at most once per source per
 * isolate per `refreshMs` (a Durable Object call); between asks it reads the answer from memory.
 */
import type { CompiledSource, Planned } from "../pipeline/compile.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import { applyStage, integrationEnabled } from "../pipeline/route.ts";
import { enforcePlan, type PlanDecision } from "../plans/index.ts";

/** What one destination did with one event. */
export type LiveOutcome =
  | { status: "delivered" }
  | { status: "filtered"; reason: string }
  | { status: "retrying"; error?: string }
  | { status: "dead_lettered"; reason: string }
  | { status: "blocked" | "quarantined"; reason: string };

export interface LiveFinding {
  type: string;
  field: string;
  description: string;
}

/** One event as the console shows it. */
export interface LiveRecord {
  /** When the router saw it (ms). */
  at: number;
  messageId: string;
  type: string;
  /** Track event name, or page/screen name. */
  name?: string;
  userId?: string;
  anonymousId?: string;
  /** The event as accepted (JSON text, cut at MAX_EVENT_CHARS). */
  json: string;
  truncated?: true;
  findings: LiveFinding[];
  /** Per destination id. */
  destinations: Record<string, LiveOutcome>;
}

/** What the router publishes per batch and source: a sample of the events, and how many there were. */
export interface LiveBatch {
  at: number;
  /** Events routed in this batch (all of them, shown or not). */
  total: number;
  records: LiveRecord[];
}

/** Per destination: messageIds retried and dead-lettered by its first attempt (the rest were delivered). */
export interface DeliveryReport {
  retrying: Map<string, string>;
  deadLettered: Map<string, string>;
}

/** At most this many events of one batch are described (the view says when it shows fewer than arrived). */
export const MAX_RECORDS_PER_BATCH = 25;
export const MAX_EVENT_CHARS = 8_000;

/** Where the live feed goes (the LiveObject of a source). */
export interface LiveSink {
  /** Whether a console watches the source now (a Durable Object call). */
  watched(sourceId: string): Promise<boolean>;
  publish(sourceId: string, batch: LiveBatch): Promise<void>;
}

/**
 * The router's view of the live feed: `watching` answers from a per-isolate memory refreshed at most every
 * `refreshMs` per source, so a source nobody watches costs one Durable Object call per `refreshMs`, whatever
 * its traffic. A failing or slow sink never fails routing, nor holds it up longer than `timeoutMs`: it reads as
 * "not watched".
 */
export class LiveTap {
  private readonly known = new Map<string, { watched: boolean; at: number }>();
  private readonly asking = new Map<string, Promise<boolean>>();

  constructor(
    private readonly sink: LiveSink,
    private readonly now: () => number = Date.now,
    readonly refreshMs = 10_000,
    /** A sink slower than this reads as "not watched" (or, publishing, is left behind): routing never waits on it longer. */
    readonly timeoutMs = 1_000,
  ) {}

  private within<T>(p: Promise<T>, fallback: T): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), this.timeoutMs)));
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }

  async watching(sourceId: string): Promise<boolean> {
    const hit = this.known.get(sourceId);
    const t = this.now();
    if (hit && t - hit.at < this.refreshMs) return hit.watched;
    let pending = this.asking.get(sourceId);
    if (!pending) {
      pending = this.within(this.sink.watched(sourceId).catch(() => false), false).then((watched) => {
        this.known.set(sourceId, { watched, at: this.now() });
        this.asking.delete(sourceId);
        return watched;
      });
      this.asking.set(sourceId, pending);
    }
    return pending;
  }

  /** Publishes a batch; a console that closed meanwhile is learned at the next refresh. Never throws. */
  async publish(sourceId: string, batch: LiveBatch): Promise<void> {
    try {
      await this.within(this.sink.publish(sourceId, batch), undefined);
    } catch (err) {
      console.error(JSON.stringify({ msg: "live publish failed", source: sourceId, error: String(err) }));
    }
  }
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/**
 * What the console's Live view shows of one routing step: `planned` as planAndRoute returned it, the plan decisions
 * the step held (quarantined or blocked), and what each destination's first attempt did.
 */
export function liveBatch(source: CompiledSource, events: readonly SluiceEvent[], planned: Planned, held: readonly PlanDecision[], delivery: ReadonlyMap<string, DeliveryReport>, at: number): LiveBatch {
  const routedIds = new Map<string, Set<string>>();
  const filterFailed = new Map<string, Map<string, string>>();
  for (const [dest, routed] of planned.routed) {
    routedIds.set(dest, new Set(routed.events.map((e) => e.messageId)));
    const failed = new Map<string, string>();
    for (const f of routed.failed ?? []) for (const e of f.events) failed.set(e.messageId, f.reason);
    if (failed.size > 0) filterFailed.set(dest, failed);
  }
  const verdicts = new Map(held.map((d) => [d.event.messageId, { status: d.action === "block" ? ("blocked" as const) : ("quarantined" as const), reason: d.reason ?? "Violation" }]));
  return describe(source, events, { routedIds, filterFailed, held: verdicts, delivery }, at);
}

/**
 * Describes routed events for the console: plan findings (the plan checked again on this event), and per
 * destination what happened. Whether an event reached a destination is what the router did (`routedIds`); a filter's
 * reason is found by running the destination's filters again on the event alone (pure, only while watched).
 */
function describe(
  source: CompiledSource,
  events: readonly SluiceEvent[],
  outcome: {
    /** messageIds handed to each destination. */
    routedIds: ReadonlyMap<string, ReadonlySet<string>>;
    /** messageIds a filter threw on, per destination (dead letters). */
    filterFailed: ReadonlyMap<string, ReadonlyMap<string, string>>;
    /** The plan's verdict for events it did not allow. */
    held: ReadonlyMap<string, { status: "blocked" | "quarantined"; reason: string }>;
    delivery: ReadonlyMap<string, DeliveryReport>;
  },
  at: number,
): LiveBatch {
  const records: LiveRecord[] = [];
  for (const event of events.slice(0, MAX_RECORDS_PER_BATCH)) {
    let json = JSON.stringify(event);
    const truncated = json.length > MAX_EVENT_CHARS;
    if (truncated) json = json.slice(0, MAX_EVENT_CHARS);
    const findings = source.plan ? enforcePlan(source.plan.compiled, source.plan.enforcement, event).findings.map((f) => ({ type: f.type, field: f.field, description: f.description })) : [];
    const destinations: Record<string, LiveOutcome> = {};
    const held = outcome.held.get(event.messageId);
    for (const target of source.targets) {
      if (held) {
        destinations[target.id] = held;
        continue;
      }
      const failed = outcome.filterFailed.get(target.id)?.get(event.messageId);
      if (failed !== undefined) {
        destinations[target.id] = { status: "dead_lettered", reason: failed };
        continue;
      }
      if (outcome.routedIds.get(target.id)?.has(event.messageId)) {
        const report = outcome.delivery.get(target.id);
        const dead = report?.deadLettered.get(event.messageId);
        const retry = report?.retrying.get(event.messageId);
        destinations[target.id] = dead !== undefined ? { status: "dead_lettered", reason: dead } : retry !== undefined ? { status: "retrying", error: retry } : { status: "delivered" };
        continue;
      }
      destinations[target.id] = { status: "filtered", reason: filterReason(source, target, event) };
    }
    records.push({
      at,
      messageId: event.messageId,
      type: event.type,
      ...(str(event.event) ?? str(event.name) ? { name: str(event.event) ?? str(event.name) } : {}),
      ...(str(event.userId) ? { userId: str(event.userId) } : {}),
      ...(str(event.anonymousId) ? { anonymousId: str(event.anonymousId) } : {}),
      json,
      ...(truncated ? { truncated: true as const } : {}),
      findings,
      destinations,
    });
  }
  return { at, total: events.length, records };
}

/** Why `target` did not receive `event`: the first stage that dropped it, as routeEvents decides. */
function filterReason(source: CompiledSource, target: CompiledSource["targets"][number], event: SluiceEvent): string {
  let e = event;
  if (source.stage.transform && !source.stage.deferred) {
    const out = applyStage(source.stage, e);
    if (!out.kept) return `source filter: ${"failed" in out ? "threw" : out.reason}`;
    e = out.event;
  }
  if (!integrationEnabled(e.integrations, target.name, target.receivesAllEvents)) return "integrations";
  if (target.eventTypes && !target.eventTypes.has(e.type)) return "unsupported_type";
  const out = applyStage(target, e);
  if (!out.kept) return "failed" in out ? "filter threw" : out.reason;
  // Kept when run again: a sampling filter chose differently the first time.
  return "filtered (sampled)";
}

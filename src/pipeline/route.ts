/**
 * Fan-out: decide, per destination, which normalized events it receives and in what form.
 * Pure: the caller supplies compiled stages and a tally for the reasons events are not sent.
 */
import type { SluiceEvent } from "./normalize.ts";

/** Where counts go; one implementation aggregates in memory and flushes to a Durable Object. */
export interface Tally {
  count(scope: string, metric: string, n?: number): void;
}

export type TransformOutcome = { kept: true; event: SluiceEvent } | { kept: false; reason: string };
export type EventTransform = (event: SluiceEvent) => TransformOutcome;
/** A stage's result: kept, dropped (a choice, counted), or failed (a filter threw: the event is dead-lettered). */
export type StageOutcome = TransformOutcome | { kept: false; failed: string };

/** Filter stages still to run on events: "all" (the source's and the destination's) or the destination's only. */
export type PendingStages = "all" | "destination";

/**
 * Events a filter threw on, for one destination: they become one dead letter with `reason`, holding the events as
 * they entered the stage that threw and the stages still to run, so a replay (after a fix) filters them once.
 */
export interface FilterFailure {
  pending: PendingStages;
  reason: string;
  events: SluiceEvent[];
}

/** A compiled filter list (a source's or a destination's). */
export interface Stage {
  transform?: EventTransform;
  /**
   * Why the filters could not be compiled here (a `${env.NAME}` secret they use is not set). Events then travel
   * unfiltered, marked pending, and the consumer filters them once it can; they are never sent unfiltered.
   */
  deferred?: string;
}

export interface RouteTarget extends Stage {
  id: string;
  /** The name clients use in the `integrations` object (case-sensitive). */
  name: string;
  /** Warehouses and data lakes still receive events sent with `integrations.All: false`. */
  receivesAllEvents: boolean;
  /** Types the destination's kind takes; undefined: all. */
  eventTypes?: ReadonlySet<string>;
  /** The destination's own selection (its kind's `select`): a drop reason for an event it does not take. */
  select?: (event: SluiceEvent) => string | undefined;
}

/**
 * Events for one destination; `pending` says which filter stages are still to run (in the consumer). `failed`:
 * events a filter threw on, for the dead letters (`events` may then be empty).
 */
export interface Routed {
  events: SluiceEvent[];
  pending?: PendingStages;
  failed?: FilterFailure[];
}

/**
 * Segment's rule: `integrations[name] ?? (integrations.All !== false)`; an options object counts as enabled.
 * @example integrationEnabled({ All: false, Mixpanel: {} }, "Mixpanel", false) // true
 */
export function integrationEnabled(integrations: unknown, name: string, receivesAllEvents: boolean): boolean {
  if (typeof integrations !== "object" || integrations === null) return true;
  const table = integrations as Record<string, unknown>;
  const own = Object.hasOwn(table, name) ? table[name] : undefined;
  if (own !== undefined && own !== null) return own !== false;
  return receivesAllEvents || table.All !== false;
}

/**
 * Runs one stage; a transform that throws fails closed: the event is not sent, and the caller dead-letters it.
 * @example applyStage({}, event) // { kept: true, event }
 */
export function applyStage(stage: Stage, event: SluiceEvent): StageOutcome {
  if (!stage.transform) return { kept: true, event };
  try {
    return stage.transform(event);
  } catch (err) {
    return { kept: false, failed: String(err) };
  }
}

/** Counts a stage that threw (`failed.filter_error` on its scope) and returns the reason its dead letter gives. */
export function stageFailed(scope: string, error: string, tally: Tally): string {
  tally.count(scope, "failed.filter_error");
  return `filters of ${scope} threw: ${error}`;
}

/** Adds an event to `failures`: one entry (one dead letter) per stages-to-run and reason. */
export function addFailure(failures: FilterFailure[], pending: PendingStages, reason: string, event: SluiceEvent): void {
  const same = failures.find((f) => f.pending === pending && f.reason === reason);
  if (same) same.events.push(event);
  else failures.push({ pending, reason, events: [event] });
}

/** Drops of one scope by reason, counted once per reason (`dropped.<reason>`) rather than once per event. */
class Drops {
  private readonly byReason = new Map<string, number>();
  add(reason: string): void {
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1);
  }
  countTo(tally: Tally, scope: string): void {
    for (const [reason, n] of this.byReason) tally.count(scope, `dropped.${reason}`, n);
  }
}

/**
 * Returns, for each target that receives at least one event, the events to deliver to it (input order).
 * Source filters run once per event, before every destination's. Every event not sent to a target is
 * counted under `destination:<id>` (or `source:<id>` for source filters) as `dropped.<reason>`, or, when a
 * filter threw, listed in the target's `failed` (counted `failed.filter_error` where it threw).
 */
export function routeEvents(
  events: readonly SluiceEvent[],
  source: { id: string; stage: Stage },
  targets: readonly RouteTarget[],
  tally: Tally,
): Map<string, Routed> {
  const out = new Map<string, Routed>();
  const sourceScope = `source:${source.id}`;
  let filtered: readonly SluiceEvent[] = events;
  /** Events the source's filters threw on, with the error: each enabled target dead-letters them, all stages pending. */
  const sourceFailed: { event: SluiceEvent; reason: string }[] = [];
  if (source.stage.transform && !source.stage.deferred) {
    const kept: SluiceEvent[] = [];
    const drops = new Drops();
    for (const event of events) {
      const outcome = applyStage(source.stage, event);
      if (outcome.kept) kept.push(outcome.event);
      else if ("failed" in outcome) sourceFailed.push({ event, reason: stageFailed(sourceScope, outcome.failed, tally) });
      else drops.add(outcome.reason);
    }
    drops.countTo(tally, sourceScope);
    filtered = kept;
  }
  for (const target of targets) {
    const scope = `destination:${target.id}`;
    const pending = source.stage.deferred ? "all" : target.deferred ? "destination" : undefined;
    let list: SluiceEvent[] | undefined;
    let failed: FilterFailure[] | undefined;
    const drops = new Drops();
    for (const event of filtered) {
      if (!integrationEnabled(event.integrations, target.name, target.receivesAllEvents)) {
        drops.add("integrations");
        continue;
      }
      if (target.eventTypes && !target.eventTypes.has(event.type)) {
        drops.add("unsupported_type");
        continue;
      }
      const unselected = target.select?.(event);
      if (unselected !== undefined) {
        drops.add(unselected);
        continue;
      }
      let delivered = event;
      if (!pending) {
        const outcome = applyStage(target, event);
        if (!outcome.kept) {
          if ("failed" in outcome) addFailure((failed ??= []), "destination", stageFailed(scope, outcome.failed, tally), event);
          else drops.add(outcome.reason);
          continue;
        }
        delivered = outcome.event;
      }
      (list ??= []).push(delivered);
    }
    for (const { event, reason } of sourceFailed) {
      if (integrationEnabled(event.integrations, target.name, target.receivesAllEvents)) addFailure((failed ??= []), "all", reason, event);
      else drops.add("integrations");
    }
    drops.countTo(tally, scope);
    if (list) tally.count(scope, "routed", list.length);
    if (list || failed) out.set(target.id, { events: list ?? [], ...(pending ? { pending } : {}), ...(failed ? { failed } : {}) });
  }
  return out;
}

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
}

/** Events for one destination; `pending` says which filter stages are still to run (in the consumer). */
export interface Routed {
  events: SluiceEvent[];
  pending?: "all" | "destination";
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
 * Runs one stage; a transform that throws fails closed (the event is not sent) with a counted reason.
 * @example applyStage({}, event) // { kept: true, event }
 */
export function applyStage(stage: Stage, event: SluiceEvent): TransformOutcome {
  if (!stage.transform) return { kept: true, event };
  try {
    return stage.transform(event);
  } catch {
    return { kept: false, reason: "filter_error" };
  }
}

/**
 * Returns, for each target that receives at least one event, the events to deliver to it (input order).
 * Source filters run once per event, before every destination's. Every event not sent to a target is
 * counted under `destination:<id>` (or `source:<id>` for source filters) as `dropped.<reason>`.
 */
export function routeEvents(
  events: readonly SluiceEvent[],
  source: { id: string; stage: Stage },
  targets: readonly RouteTarget[],
  tally: Tally,
): Map<string, Routed> {
  const out = new Map<string, Routed>();
  let filtered: readonly SluiceEvent[] = events;
  if (source.stage.transform && !source.stage.deferred) {
    const kept: SluiceEvent[] = [];
    for (const event of events) {
      const outcome = applyStage(source.stage, event);
      if (outcome.kept) kept.push(outcome.event);
      else tally.count(`source:${source.id}`, `dropped.${outcome.reason}`);
    }
    filtered = kept;
  }
  for (const target of targets) {
    const scope = `destination:${target.id}`;
    const pending = source.stage.deferred ? "all" : target.deferred ? "destination" : undefined;
    let list: SluiceEvent[] | undefined;
    for (const event of filtered) {
      if (!integrationEnabled(event.integrations, target.name, target.receivesAllEvents)) {
        tally.count(scope, "dropped.integrations");
        continue;
      }
      let delivered = event;
      if (!pending) {
        const outcome = applyStage(target, event);
        if (!outcome.kept) {
          tally.count(scope, `dropped.${outcome.reason}`);
          continue;
        }
        delivered = outcome.event;
      }
      (list ??= []).push(delivered);
    }
    if (list) {
      out.set(target.id, pending ? { events: list, pending } : { events: list });
      tally.count(scope, "routed", list.length);
    }
  }
  return out;
}

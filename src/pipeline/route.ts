/**
 * Fan-out: decide, per destination, which normalized events it receives and in what form.
 * Pure: the caller supplies compiled targets and a tally for the reasons events are not sent.
 */
import type { SluiceEvent } from "./normalize.ts";

/** Where counts go; one implementation aggregates in memory and flushes to a Durable Object. */
export interface Tally {
  count(scope: string, metric: string, n?: number): void;
}

export type EventTransform = (event: SluiceEvent) => { kept: true; event: SluiceEvent } | { kept: false; reason: string };

export interface RouteTarget {
  id: string;
  /** The name clients use in the `integrations` object (case-sensitive). */
  name: string;
  /** Warehouses and data lakes still receive events sent with `integrations.All: false`. */
  receivesAllEvents: boolean;
  /** Compiled filters and transformations for this destination, if any. */
  transform?: EventTransform;
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
 * Returns, for each target that receives at least one event, the events to deliver to it (same order as input).
 * Every event not sent to a target is counted under `destination:<id>` with its reason.
 */
export function routeEvents(events: readonly SluiceEvent[], targets: readonly RouteTarget[], tally: Tally): Map<string, SluiceEvent[]> {
  const out = new Map<string, SluiceEvent[]>();
  for (const target of targets) {
    const scope = `destination:${target.id}`;
    let list: SluiceEvent[] | undefined;
    for (const event of events) {
      if (!integrationEnabled(event.integrations, target.name, target.receivesAllEvents)) {
        tally.count(scope, "dropped.integrations");
        continue;
      }
      let delivered = event;
      if (target.transform) {
        const outcome = target.transform(event);
        if (!outcome.kept) {
          tally.count(scope, `dropped.${outcome.reason}`);
          continue;
        }
        delivered = outcome.event;
      }
      (list ??= []).push(delivered);
    }
    if (list) {
      out.set(target.id, list);
      tally.count(scope, "routed", list.length);
    }
  }
  return out;
}

/**
 * Hourly counts per (source, event name) for the volume and new-event alerts: a counter `event.<name>` on the
 * source's scope, counted in memory with the rest of the telemetry. Bounded: at most MAX_EVENT_NAMES distinct names
 * per source and hour (per isolate here, per scope in the StatsObject); the overflow counts as `event._other`.
 */
import type { Tally } from "../pipeline/route.ts";

export const MAX_EVENT_NAMES = 200;
/** Longer names are cut (a counter name, not the event). */
export const MAX_EVENT_NAME_LENGTH = 120;
export const EVENT_PREFIX = "event.";
export const OTHER_EVENT = `${EVENT_PREFIX}_other`;

/** The counter an event counts under: its track name, or `(page)`/`(identify)`… for other types. */
export function eventCounter(event: { type: string; event?: unknown }): string {
  const name = event.type === "track" && typeof event.event === "string" ? event.event : `(${event.type})`;
  return EVENT_PREFIX + name.slice(0, MAX_EVENT_NAME_LENGTH);
}

/** Distinct names counted per scope in the current hour. */
export class EventNameTally {
  private seen = new Map<string, { hour: number; names: Set<string> }>();

  constructor(private readonly max = MAX_EVENT_NAMES) {}

  count(tally: Tally, scope: string, events: readonly { type: string; event?: unknown }[], now = Date.now()): void {
    if (events.length === 0) return;
    const hour = Math.floor(now / 3_600_000);
    let s = this.seen.get(scope);
    if (!s || s.hour !== hour) this.seen.set(scope, (s = { hour, names: new Set() }));
    // Tallied by the event's own name or type string first (no counter name built per event), then per counter.
    const byName = new Map<string, number>();
    const byType = new Map<string, number>();
    for (const e of events) {
      if (e.type === "track" && typeof e.event === "string") byName.set(e.event, (byName.get(e.event) ?? 0) + 1);
      else byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
    }
    const counts = new Map<string, number>();
    const add = (counter: string, n: number) => {
      let name = counter;
      if (!s.names.has(name)) {
        if (s.names.size >= this.max) name = OTHER_EVENT;
        else s.names.add(name);
      }
      counts.set(name, (counts.get(name) ?? 0) + n);
    };
    for (const [name, n] of byName) add(eventCounter({ type: "track", event: name }), n);
    for (const [type, n] of byType) add(eventCounter({ type }), n);
    for (const [name, n] of counts) tally.count(scope, name, n);
  }
}

/**
 * The StatsObject's side of the cap: names of `counts` new to the hour's row go to `event._other` once the row holds
 * `max` names. @example capEventNames({ "event.A": 1 }, { "event.B": 2 }, 1) // { "event._other": 2 }
 */
export function capEventNames(stored: Readonly<Record<string, number>>, counts: Record<string, number>, max = MAX_EVENT_NAMES): Record<string, number> {
  let names = 0;
  for (const k of Object.keys(stored)) if (k.startsWith(EVENT_PREFIX) && k !== OTHER_EVENT) names++;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(counts)) {
    let key = k;
    if (k.startsWith(EVENT_PREFIX) && k !== OTHER_EVENT && !Object.hasOwn(stored, k)) {
      if (names >= max) key = OTHER_EVENT;
      else names++;
    }
    out[key] = (out[key] ?? 0) + v;
  }
  return out;
}

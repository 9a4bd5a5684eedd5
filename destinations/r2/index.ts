/**
 * R2: keeps every event it receives as NDJSON objects in the Worker's R2 bucket, under
 * `<prefix>/<destination-id>/dt=YYYY-MM-DD/<time>-<uuid>.ndjson`. Needs no server, so the demo config uses it
 * to show events arriving; `GET /admin/destinations/<id>/events` reads the newest back.
 */
import { s } from "../../src/config/schema.ts";
import { defineDestination, type EventResult } from "../../src/delivery/destination.ts";
import { RetryableError, unsendable } from "../../src/delivery/errors.ts";

const settings = s.object({
  prefix: s.withDefault(s.string({ pattern: /^[a-z0-9_/-]+$/ }), "events"),
  max_events_per_object: s.withDefault(s.number({ integer: true, min: 1, max: 10_000 }), 500),
});

/** Key prefix under which a destination's objects live; shared with the admin reader. */
export function r2KeyPrefix(prefix: string, destinationId: string): string {
  return `${prefix}/${destinationId}/`;
}

export const r2 = defineDestination({
  kind: "r2",
  description: "Store events as NDJSON objects in the Worker's R2 bucket (for inspection and archives)",
  settings,
  receivesAllEvents: false,
  maxEventsPerCall: (cfg) => cfg.max_events_per_object,
  async deliver(events, ctx): Promise<EventResult[]> {
    const now = new Date(ctx.now());
    const day = now.toISOString().slice(0, 10);
    // Time first so a listing is in arrival order; the uuid keeps concurrent writers apart.
    const key = `${r2KeyPrefix(ctx.settings.prefix, ctx.destinationId)}dt=${day}/${now.toISOString()}-${crypto.randomUUID()}.ndjson`;
    // Each event is serialized on its own, so one that cannot be fails alone and the rest are stored.
    const results: EventResult[] = new Array(events.length);
    const lines: string[] = [];
    events.forEach((e, i) => {
      try {
        lines.push(JSON.stringify(e));
        results[i] = { ok: true };
      } catch (err) {
        results[i] = { ok: false, error: unsendable(err) };
      }
    });
    if (lines.length === 0) return results;
    try {
      await ctx.bucket.put(key, lines.join("\n") + "\n", { httpMetadata: { contentType: "application/x-ndjson" } });
    } catch (err) {
      throw new RetryableError(`R2 put failed: ${(err as Error).message}`, undefined, undefined, "storage");
    }
    return results;
  },
});

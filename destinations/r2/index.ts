/**
 * R2: keeps every event it receives as NDJSON objects in the Worker's R2 bucket, under
 * `<prefix>/<destination-id>/dt=YYYY-MM-DD/<time>-<uuid>.ndjson`. Needs no server, so the demo config uses it
 * to show events arriving; `GET /admin/destinations/<id>/events` reads the newest back.
 */
import { s } from "../../src/config/schema.ts";
import { defineDestination } from "../../src/delivery/destination.ts";
import { RetryableError } from "../../src/delivery/errors.ts";

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
  async deliver(events, ctx) {
    const now = new Date(ctx.now());
    const day = now.toISOString().slice(0, 10);
    // Time first so a listing is in arrival order; the uuid keeps concurrent writers apart.
    const key = `${r2KeyPrefix(ctx.settings.prefix, ctx.destinationId)}dt=${day}/${now.toISOString()}-${crypto.randomUUID()}.ndjson`;
    const body = events.map((e) => JSON.stringify(e)).join("\n") + "\n";
    try {
      await ctx.bucket.put(key, body, { httpMetadata: { contentType: "application/x-ndjson" } });
    } catch (err) {
      throw new RetryableError(`R2 put failed: ${(err as Error).message}`, undefined, undefined, "storage");
    }
    return events.map(() => ({ ok: true as const }));
  },
});

/**
 * Data lake: a raw copy of every event routed here, in the Worker's R2 bucket, partitioned
 * `<prefix>/source=<id>/dt=YYYY-MM-DD/hour=HH/` by the event's `receivedAt`, as large gzip NDJSON and Parquet
 * files. Queue messages hold at most 60 KB, so files are assembled across messages by a LakeBufferObject per
 * (destination, source, partition hour); deliver() reports events delivered once that object has them durably.
 * Receives events sent with `integrations.All: false` (only `integrations["<name>"]: false` keeps them out).
 */
import { s } from "../../src/config/schema.ts";
import { defineDestination, eventSources, type EventResult } from "../../src/delivery/destination.ts";
import { RetryableError, unsendable } from "../../src/delivery/errors.ts";
import type { LakeBufferObject, LakeRow, LakeTarget } from "./buffer-object.ts";
import { LAKE_FORMATS, lakeBufferName, partitionOf, type LakeFormat } from "./files.ts";

/** The wrangler.toml binding of the buffers' Durable Object namespace. */
const LAKE_BUFFER = "LAKE_BUFFER";

const settings = s.object({
  prefix: s.withDefault(s.string({ pattern: /^[a-z0-9_-]+(\/[a-z0-9_-]+)*$/ }), "lake"),
  /** Buffered raw JSON per file before it is written (the files themselves are smaller: compressed). */
  target_file_mb: s.withDefault(s.number({ min: 0.001, max: 1024 }), 64),
  max_file_age_seconds: s.withDefault(s.number({ integer: true, min: 1, max: 86_400 }), 300),
  formats: s.withDefault(s.array(s.literal(...LAKE_FORMATS), { minItems: 1 }), [...LAKE_FORMATS]),
});
export type DatalakeSettings = NonNullable<ReturnType<typeof settings.check>>;

/** The buffer object of one (destination, source, partition), for the adapter, operators and tests. */
export function lakeBuffer(namespace: DurableObjectNamespace<LakeBufferObject>, destinationId: string, sourceId: string, receivedAt: unknown, nowMs = Date.now()) {
  return namespace.get(namespace.idFromName(lakeBufferName(destinationId, sourceId, partitionOf(receivedAt, nowMs))));
}

export const datalake = defineDestination({
  kind: "datalake",
  description: "Keep every event in R2 as large gzip NDJSON and Parquet files, partitioned by source, day and hour",
  settings,
  durableObjects: [LAKE_BUFFER],
  receivesAllEvents: true,
  // Each call is split by partition and appended in parallel; a queue batch (≤ 100 messages of ≤ 60 KB) fits.
  maxEventsPerCall: () => 5000,
  async deliver(events, ctx): Promise<EventResult[]> {
    const namespace = ctx.durableObject(LAKE_BUFFER) as DurableObjectNamespace<LakeBufferObject> | undefined;
    if (!namespace) throw new RetryableError("the LAKE_BUFFER Durable Object binding is missing (wrangler.toml)", undefined, undefined, "lake_binding");
    const sources = eventSources(events, ctx);
    const now = ctx.now();
    const formats = [...new Set(ctx.settings.formats)] as LakeFormat[];
    const groups = new Map<string, { target: LakeTarget; rows: LakeRow[]; indexes: number[] }>();
    const results: EventResult[] = new Array(events.length);
    events.forEach((event, i) => {
      let json: string;
      try {
        json = JSON.stringify(event);
      } catch (err) {
        // This event fails alone; its neighbours are still appended.
        results[i] = { ok: false, error: unsendable(err) };
        return;
      }
      const sourceId = sources[i]!;
      const p = partitionOf(event.receivedAt, now);
      const name = lakeBufferName(ctx.destinationId, sourceId, p);
      let group = groups.get(name);
      if (!group) {
        const target: LakeTarget = {
          destinationId: ctx.destinationId,
          sourceId,
          dt: p.dt,
          hour: p.hour,
          prefix: ctx.settings.prefix,
          targetBytes: Math.max(1, Math.round(ctx.settings.target_file_mb * 1024 * 1024)),
          maxAgeMs: ctx.settings.max_file_age_seconds * 1000,
          formats,
        };
        groups.set(name, (group = { target, rows: [], indexes: [] }));
      }
      group.rows.push({ messageId: event.messageId, json });
      group.indexes.push(i);
    });
    await Promise.all(
      [...groups].map(async ([name, group]) => {
        let result: EventResult = { ok: true };
        try {
          await namespace.get(namespace.idFromName(name)).append(group.target, group.rows);
        } catch (err) {
          result = { ok: false, error: new RetryableError(`lake buffer ${name}: ${(err as Error).message ?? String(err)}`, undefined, undefined, "lake_buffer") };
        }
        for (const i of group.indexes) results[i] = result;
      }),
    );
    return results;
  },
});

/**
 * Dead letters: events a destination could not take within the retry window, or refused for good, or that a filter
 * threw on. Kept in R2 (never expired) with enough context to understand and replay them.
 */
import type { SluiceEvent } from "../pipeline/normalize.ts";
import { bodyText, enqueue, type DeadLetter } from "../queue/messages.ts";
import type { ArchiveObject } from "../storage/archive-object.ts";
import type { ArchiveKind } from "./replay.ts";

export const DEAD_LETTER_PREFIX = "dead-letters/";

/** `dead-letters/<destination>/<YYYY-MM-DD>/<time>-<id>.json`, so listings go by destination and time. */
export function deadLetterKey(d: Pick<DeadLetter, "destination" | "deadLetteredAt" | "id">): string {
  return `${DEAD_LETTER_PREFIX}${d.destination}/${d.deadLetteredAt.slice(0, 10)}/${d.deadLetteredAt}-${d.id}.json`;
}

/** The archive shard that indexes a destination's dead letters. */
export function deadLetterShard(destination: string): string {
  return `deadletters:${destination}`;
}

/** Event names (track) or types of a record, for listing and filtering. */
export function eventNames(events: readonly SluiceEvent[]): string {
  const names = new Set<string>();
  for (const e of events) names.add(typeof e.event === "string" ? e.event : e.type);
  return [...names].slice(0, 20).join(",");
}

/** The backstop: what the dead-letter queue could not store as dead letters, one R2 object per queue message. */
export const BACKSTOP_PREFIX = "dead-letters-backstop/";
/** Counters of the backstop (`stored`, `requeued`), in /admin/stats and /admin/metrics. */
export const BACKSTOP_SCOPE = "dead-letters:backstop";

/**
 * Writes a message body whole to R2: one put and no index, so it depends on as little as possible. The id (when
 * the message reached the backstop queue, then its message id: listings sort by time) comes from the message
 * alone, so a redelivered message overwrites its own copy.
 */
export async function storeBackstopped(bucket: R2Bucket, queue: string, msg: Message<unknown>): Promise<string> {
  const id = `${msg.timestamp.toISOString()}-${msg.id}`;
  const { body, bodyEncoding } = bodyText(msg.body);
  await bucket.put(BACKSTOP_PREFIX + id, body, {
    httpMetadata: { contentType: "text/plain; charset=utf-8" },
    customMetadata: { queue, messageId: msg.id, attempts: String(msg.attempts), ...(bodyEncoding ? { bodyEncoding } : {}) },
  });
  return id;
}

/** Writes the record to R2, then indexes it; throws if either fails (the caller retries the message). */
export async function storeDeadLetter(bucket: R2Bucket, archive: DurableObjectNamespace<ArchiveObject>, d: DeadLetter): Promise<string> {
  const key = deadLetterKey(d);
  await bucket.put(key, JSON.stringify(d), {
    httpMetadata: { contentType: "application/json" },
    customMetadata: { destination: d.destination, source: d.source, events: String(d.events.length), reason: d.reason.slice(0, 512) },
  });
  await archive.get(archive.idFromName(deadLetterShard(d.destination))).add({
    id: d.id,
    at: Date.parse(d.deadLetteredAt),
    source: d.source,
    destination: d.destination,
    name: eventNames(d.events),
    category: d.code ?? "error",
    reason: d.reason,
    attempts: d.attempts,
    events: d.events.length,
    key,
    status: "stored",
  });
  return key;
}

/**
 * Dead letters as an admin archive: shards per destination, replay re-sends the events to their destination
 * through the normal delivery queue with a fresh retry window.
 */
export const deadLetterArchive: ArchiveKind = {
  name: "dead-letters",
  shards(pipeline, q) {
    if (q.destination) return [deadLetterShard(q.destination)];
    return [...pipeline.config.destinations.map((d) => deadLetterShard(d.id)), deadLetterShard("unknown")];
  },
  async replay(entry, record, env, pipeline) {
    const d = record as DeadLetter;
    if (!pipeline.destination(d.destination)) throw new Error(`destination "${d.destination}" is not configured; nothing to replay to`);
    if (d.events.length === 0) return { outcome: "replayed", events: 0 };
    await enqueue(env.DELIVERIES, { dest: d.destination, source: d.source, t0: Date.now(), tries: 0, pending: d.pending }, d.events);
    return { outcome: "replayed", events: d.events.length };
  },
};

/**
 * Dead letters: events a destination could not take within the retry window, or refused for good. Kept in R2
 * (never expired) with enough context to understand and replay them.
 */
import type { SluiceEvent } from "../pipeline/normalize.ts";

export interface DeadLetter {
  id: string;
  destination: string;
  source: string;
  reason: string;
  attempts: number;
  firstError?: string;
  lastError?: string;
  /** When the events were accepted, and when they were given up on (ISO). */
  acceptedAt: string;
  deadLetteredAt: string;
  events: SluiceEvent[];
}

export const DEAD_LETTER_PREFIX = "dead-letters/";

/** `dead-letters/<destination>/<YYYY-MM-DD>/<time>-<id>.json`, so listings go by destination and time. */
export function deadLetterKey(d: Pick<DeadLetter, "destination" | "deadLetteredAt" | "id">): string {
  return `${DEAD_LETTER_PREFIX}${d.destination}/${d.deadLetteredAt.slice(0, 10)}/${d.deadLetteredAt}-${d.id}.json`;
}

export async function storeDeadLetter(bucket: R2Bucket, d: DeadLetter): Promise<string> {
  const key = deadLetterKey(d);
  await bucket.put(key, JSON.stringify(d), {
    httpMetadata: { contentType: "application/json" },
    customMetadata: { destination: d.destination, source: d.source, events: String(d.events.length), reason: d.reason.slice(0, 512) },
  });
  return key;
}

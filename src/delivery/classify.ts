/**
 * The one place that decides what happens to a delivery message after an attempt: ack, retry with a delay,
 * dead-letter, or split (retry only the events that failed retryably, dead-letter those that failed for good).
 * Pure: time and randomness come in as arguments.
 */
import type { SluiceEvent } from "../pipeline/normalize.ts";
import type { EventResult } from "./destination.ts";
import type { DeliveryError } from "./errors.ts";

export interface RetryPolicy {
  /** How long after acceptance events keep being retried (Segment: 4 hours). */
  windowMs: number;
  baseDelaySeconds: number;
  maxDelaySeconds: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { windowMs: 4 * 3600_000, baseDelaySeconds: 5, maxDelaySeconds: 1800 };
/** Cloudflare Queues accept delays up to 12 hours. */
const MAX_QUEUE_DELAY_SECONDS = 43_200;

export type Decision =
  | { kind: "ack"; delivered: number }
  | { kind: "retry"; delaySeconds: number; error: string }
  | { kind: "dead-letter"; reason: string }
  | {
      kind: "split";
      delivered: number;
      retry?: { events: SluiceEvent[]; delaySeconds: number; error: string };
      deadLetter?: { events: SluiceEvent[]; reason: string };
    };

export interface Attempt {
  /** 1 for the first attempt on these events. */
  attempt: number;
  /** When the events were accepted (ms). */
  acceptedAt: number;
  now: number;
  /** In [0, 1): jitter source. */
  random: number;
}

/**
 * Randomized exponential backoff ("full jitter" halved: between 50% and 100% of the exponential step),
 * or exactly the destination's `Retry-After` when it sent one.
 * @example backoffSeconds(3, undefined, 0.5, DEFAULT_RETRY_POLICY) // 15 (5·2² = 20, times 0.75)
 */
export function backoffSeconds(attempt: number, retryAfter: number | undefined, random: number, policy: RetryPolicy): number {
  if (retryAfter !== undefined) return Math.min(Math.max(1, Math.ceil(retryAfter)), MAX_QUEUE_DELAY_SECONDS);
  const step = Math.min(policy.maxDelaySeconds, policy.baseDelaySeconds * 2 ** Math.max(0, attempt - 1));
  return Math.max(1, Math.round(step * (0.5 + random / 2)));
}

function describe(error: DeliveryError): string {
  return error.message;
}

/**
 * @example classify(events, [{ ok: true }], attempt, policy) // { kind: "ack", delivered: 1 }
 */
export function classify(events: readonly SluiceEvent[], results: readonly EventResult[], at: Attempt, policy: RetryPolicy = DEFAULT_RETRY_POLICY): Decision {
  let delivered = 0;
  const retryable: SluiceEvent[] = [];
  const permanent: SluiceEvent[] = [];
  let retryError: DeliveryError | undefined;
  let permanentError: DeliveryError | undefined;
  for (let i = 0; i < events.length; i++) {
    const r = results[i];
    if (!r) throw new Error(`adapter returned ${results.length} results for ${events.length} events`);
    if (r.ok) delivered++;
    else if (r.error.retryable) {
      retryable.push(events[i]!);
      retryError ??= r.error;
    } else {
      permanent.push(events[i]!);
      permanentError ??= r.error;
    }
  }
  if (retryable.length === 0 && permanent.length === 0) return { kind: "ack", delivered };

  let retry: { events: SluiceEvent[]; delaySeconds: number; error: string } | undefined;
  let deadLetter: { events: SluiceEvent[]; reason: string } | undefined;
  if (retryError) {
    const error = describe(retryError);
    if (at.now - at.acceptedAt >= policy.windowMs) {
      const hours = Math.round((policy.windowMs / 3600_000) * 10) / 10;
      deadLetter = { events: retryable, reason: `retry window of ${hours} h exhausted after ${at.attempt} attempt(s); last error: ${error}` };
    } else {
      const retryAfter = "retryAfterSeconds" in retryError ? (retryError.retryAfterSeconds as number | undefined) : undefined;
      retry = { events: retryable, delaySeconds: backoffSeconds(at.attempt, retryAfter, at.random, policy), error };
    }
  }
  if (permanentError) {
    // An event our adapter could not turn into a request never reached the destination: say so, not "rejected".
    const reason = `${permanentError.code === "unsendable" ? "not sent" : "rejected by destination"}: ${describe(permanentError)}`;
    deadLetter = deadLetter ? { events: [...deadLetter.events, ...permanent], reason: `${deadLetter.reason}; ${reason}` } : { events: permanent, reason };
  }

  if (delivered === 0 && retry && !deadLetter) return { kind: "retry", delaySeconds: retry.delaySeconds, error: retry.error };
  if (delivered === 0 && deadLetter && !retry) return { kind: "dead-letter", reason: deadLetter.reason };
  return { kind: "split", delivered, retry, deadLetter };
}

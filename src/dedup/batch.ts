/**
 * Dedup for the router (src/router/): a queue batch's events of one source, claimed with one call per shard under
 * one token (the batch's). Events repeated within the batch, and ids accepted within the window (a client's resend,
 * or a queue redelivery of a message an earlier invocation finished), are duplicates. Ids another unfinished
 * invocation holds are in flight: nothing is claimed then, and the router retries the messages that carry them.
 */
import { dedupSettings } from "../config/source-limits.ts";
import type { SourceConfig } from "../config/model.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import type { DedupClaims, DedupShards } from "./claims.ts";
import { planClaims } from "./plan.ts";

export interface BatchClaim<E> {
  /** Events to route, in batch order (empty while ids are in flight). */
  fresh: E[];
  /** Events set aside: repeated in the batch, or accepted within the window. */
  duplicates: number;
  /** Ids an unfinished invocation holds; when non-empty nothing was claimed. */
  inFlight: ReadonlySet<string>;
  /** With inFlight: whole seconds (≥ 1) until those holds expire. */
  retryAfterSeconds: number;
  /** Drops the claims (the batch failed; its redelivery claims again). */
  release(): Promise<void>;
  /** Records the ids as accepted, now: every outcome of their events is durable. */
  commit(): Promise<void>;
}

/** Claims `events` of `source` under `token`: one call per shard of the ids, none for a source without dedup. */
export async function claimBatch<E extends SluiceEvent>(claims: DedupClaims, shards: DedupShards, source: SourceConfig, events: E[], token: string): Promise<BatchClaim<E>> {
  const settings = dedupSettings(source.dedup);
  const none = { duplicates: 0, inFlight: new Set<string>(), retryAfterSeconds: 0, release: async () => {}, commit: async () => {} };
  if (!settings || events.length === 0) return { ...none, fresh: events };
  const plan = planClaims(events, settings.shards);
  const outcome = await claims.claim(shards, source.id, settings.windowMs, plan.byShard, token);
  if (outcome.inFlight > 0) return { ...none, fresh: [], inFlight: outcome.inFlightIds, retryAfterSeconds: outcome.retryAfterSeconds };
  const fresh = outcome.duplicates.size === 0 ? plan.candidates : plan.candidates.filter((e) => !outcome.duplicates.has(e.messageId));
  return {
    fresh,
    duplicates: plan.repeated.length + plan.candidates.length - fresh.length,
    inFlight: none.inFlight,
    retryAfterSeconds: 0,
    release: outcome.release,
    commit: async () => {
      outcome.commit();
      await claims.flush(shards);
    },
  };
}

/**
 * What the Tracking API handler asks of a source beyond the pipeline: may this request in (rate limit), which
 * of its events are new (dedup), and who sent them (usage). One instance per isolate holds the leases, the
 * pending dedup commits and the user sketches; the Durable Objects are reached through the request's env.
 */
import { dedupSettings } from "../config/source-limits.ts";
import type { SourceConfig } from "../config/model.ts";
import { DedupClaims, type DedupShards } from "../dedup/claims.ts";
import { planClaims } from "../dedup/plan.ts";
import type { Admission } from "../limits/lease.ts";
import { RateLimiter, type LeaseStub } from "../limits/rate-limiter.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import { UsageRecorder, type UsersStub } from "../usage/recorder.ts";
import { ApiError } from "../api-error.ts";
import type { DedupResult, IngestGuards, WaitUntil } from "../ingest/ports.ts";

type Bindings = Pick<Env, "SOURCES" | "DEDUP">;

const log = (msg: string) => (err: unknown, source?: string) => console.error(JSON.stringify({ msg, ...(source ? { source } : {}), error: String(err) }));

const sourceStub = (env: Bindings, sourceId: string) => env.SOURCES.get(env.SOURCES.idFromName(sourceId));
const leaseStub = (env: Bindings): LeaseStub => (sourceId) => sourceStub(env, sourceId);
const usersStub = (env: Bindings): UsersStub => (sourceId) => sourceStub(env, sourceId);
const dedupShards = (env: Bindings): DedupShards => (sourceId, shard) => env.DEDUP.get(env.DEDUP.idFromName(`${sourceId}:${shard}`));

export class SourceGuards {
  readonly limiter = new RateLimiter({ onError: (sourceId, err) => log("rate limit unavailable; admitting")(err, sourceId) });
  readonly claims = new DedupClaims({ onError: (what, err) => log(`${what} failed`)(err) });
  readonly usage = new UsageRecorder({ onError: log("usage flush failed") });

  /** Rate limit: `events` tokens from the source's bucket, spent from this isolate's lease when it can. */
  admit(env: Bindings, source: SourceConfig, events: number): Promise<Admission> {
    return this.limiter.admit(leaseStub(env), source, events);
  }

  /** Gives back what `admit` took, for a request whose events were not accepted after all. */
  refund(source: SourceConfig, admission: Admission): void {
    this.limiter.refund(source.id, admission);
  }

  /**
   * Dedup: drops events whose messageId came earlier in the request or was accepted within the source's
   * window, and claims the others. Server-assigned messageIds are new by construction and cost nothing.
   * @throws ApiError 503 when another unfinished request holds some of the ids (the client retries).
   */
  async dedup<E extends SluiceEvent>(env: Bindings, source: SourceConfig, events: E[], assigned: ReadonlySet<string>): Promise<DedupResult<E>> {
    const settings = dedupSettings(source.dedup);
    const none = { duplicates: 0, unchecked: 0, release: async () => {}, commit: () => {} };
    if (!settings || events.length === 0) return { fresh: events, ...none };
    const plan = planClaims(events, assigned, settings.shards);
    if (plan.byShard.size === 0) return { ...none, fresh: plan.candidates, duplicates: plan.repeated.length };
    const outcome = await this.claims.claim(dedupShards(env), source.id, settings.windowMs, plan.byShard);
    if (outcome.inFlight > 0) {
      const wait = outcome.retryAfterSeconds;
      throw new ApiError(503, "in_flight", `${outcome.inFlight} of these messageIds are being accepted by another request; retry in ${wait} s`, { "retry-after": String(wait) });
    }
    const fresh = outcome.duplicates.size === 0 ? plan.candidates : plan.candidates.filter((e) => !outcome.duplicates.has(e.messageId));
    return {
      fresh,
      duplicates: plan.repeated.length + plan.candidates.length - fresh.length,
      unchecked: outcome.unchecked,
      release: outcome.release,
      commit: outcome.commit,
    };
  }

  /** These guards as the request path's port, bound to one request's env and waitUntil. */
  bind(env: Bindings, waitUntil: WaitUntil): IngestGuards {
    return {
      admit: (source, events) => this.admit(env, source, events),
      refund: (source, admission) => this.refund(source, admission),
      dedup: (source, events, assigned) => this.dedup(env, source, events, assigned),
      accepted: (source, events, day, claim) => this.accepted(env, source, events, day, claim, waitUntil),
    };
  }

  /** After the events are queued: commit the claims and count the users (both flushed within about a second). */
  accepted(env: Bindings, source: SourceConfig, events: readonly SluiceEvent[], day: string, claim: DedupResult<SluiceEvent> | undefined, waitUntil: WaitUntil): void {
    claim?.commit();
    this.claims.flushSoon(dedupShards(env), waitUntil);
    this.usage.observe(source, events, day);
    this.usage.flushSoon(usersStub(env), waitUntil);
  }
}

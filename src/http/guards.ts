/**
 * What Sluice asks of a source beyond the pipeline: may this request in (rate limit, on the request path), and who
 * sent its events (usage, counted by the router from settled ingest messages). One instance per isolate holds the
 * leases and the user sketches; the Durable Objects are reached through the env of the request or queue batch.
 */
import type { SourceConfig } from "../config/model.ts";
import type { Admission } from "../limits/lease.ts";
import { RateLimiter, type LeaseStub } from "../limits/rate-limiter.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import { UsageRecorder, type UsersStub } from "../usage/recorder.ts";
import type { IngestGuards } from "../ingest/ports.ts";

type Bindings = Pick<Env, "SOURCES">;

const log = (msg: string) => (err: unknown, source?: string) => console.error(JSON.stringify({ msg, ...(source ? { source } : {}), error: String(err) }));

const sourceStub = (env: Bindings, sourceId: string) => env.SOURCES.get(env.SOURCES.idFromName(sourceId));
const leaseStub = (env: Bindings): LeaseStub => (sourceId) => sourceStub(env, sourceId);
const usersStub = (env: Bindings): UsersStub => (sourceId) => sourceStub(env, sourceId);

export class SourceGuards {
  readonly limiter = new RateLimiter({ onError: (sourceId, err) => log("rate limit unavailable; admitting")(err, sourceId) });
  readonly usage = new UsageRecorder({ onError: log("usage flush failed") });

  /** Rate limit: `events` tokens from the source's bucket, spent from this isolate's lease when it can. */
  admit(env: Bindings, source: SourceConfig, events: number): Promise<Admission> {
    return this.limiter.admit(leaseStub(env), source, events);
  }

  /** Gives back what `admit` took, for a request whose events were not accepted after all. */
  refund(source: SourceConfig, admission: Admission): void {
    this.limiter.refund(source.id, admission);
  }

  /** These guards as the request path's port, bound to one request's env. */
  bind(env: Bindings): IngestGuards {
    return {
      admit: (source, events) => this.admit(env, source, events),
      refund: (source, admission) => this.refund(source, admission),
    };
  }

  /** The router's port: the users of a settled message's events, received on `day`. */
  users(source: SourceConfig, events: readonly SluiceEvent[], day: string): void {
    this.usage.observe(source, events, day);
  }

  /** After a router batch: merges the sketches it changed into the sources' SourceObjects (one call per source and day). */
  flushUsers(env: Bindings): Promise<void> {
    return this.usage.flush(usersStub(env));
  }
}

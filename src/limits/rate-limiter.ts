/**
 * Per-isolate rate limiting: one TokenLease per limited source, leasing from that source's SourceObject.
 * Sources without `rate_limit` are admitted without any call.
 */
import { bucketLimits, type RateLimitConfig } from "../config/source-limits.ts";
import { TokenLease, type Admission, type LeaseGrant } from "./lease.ts";
import type { BucketLimits, LeaseRequest } from "./token-bucket.ts";

/** The SourceObject's lease method, as the isolate reaches it (an RPC stub in the worker, a fake in tests). */
export type LeaseStub = (sourceId: string) => { lease(limits: BucketLimits, req: LeaseRequest): Promise<LeaseGrant> };

const ADMITTED: Admission = { admitted: true, taken: 0 };

export class RateLimiter {
  private readonly leases = new Map<string, TokenLease>();
  private stub: LeaseStub | undefined;

  constructor(private readonly options: { now?: () => number; onError?: (sourceId: string, err: unknown) => void } = {}) {}

  /**
   * Admits a request of `events` events from the source, or says when to retry.
   * @param stub reaches the source's Durable Object (the binding of the current request).
   */
  async admit(stub: LeaseStub, source: { id: string; rate_limit?: RateLimitConfig }, events: number): Promise<Admission> {
    if (!source.rate_limit) return ADMITTED;
    this.stub = stub;
    return this.leaseFor(source.id, bucketLimits(source.rate_limit)).take(events);
  }

  /** Returns the tokens an admitted request took, when its events were not accepted after all. */
  refund(sourceId: string, admission: Admission): void {
    if (admission.admitted) this.leases.get(sourceId)?.refund(admission.taken);
  }

  private leaseFor(sourceId: string, limits: BucketLimits): TokenLease {
    const existing = this.leases.get(sourceId);
    if (existing && existing.limits.rate === limits.rate && existing.limits.burst === limits.burst) return existing;
    const holder = new TokenLease({
      limits,
      acquire: (req) => this.stub!(sourceId).lease(limits, req),
      ...(this.options.now ? { now: this.options.now } : {}),
      onAcquireError: (err) => this.options.onError?.(sourceId, err),
    });
    this.leases.set(sourceId, holder);
    return holder;
  }
}

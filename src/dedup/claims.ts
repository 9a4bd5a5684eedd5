/**
 * The isolate's side of dedup: claims a router batch's messageIds with one call per shard, releases them when the
 * batch fails, and commits them once every outcome of its events is durable, all of a shard's in one call (one
 * storage write): a claim itself writes nothing. Until a commit is stored, this isolate answers for its ids itself:
 * they are duplicates without asking the shard, which would still hold them in flight.
 */
import type { ClaimRequest, ClaimResult, Commit } from "../storage/dedup-object.ts";

/** A DedupObject as the isolate reaches it (an RPC stub in the worker, a fake in tests). */
export interface DedupShard {
  claim(req: ClaimRequest): Promise<ClaimResult> | ClaimResult;
  commit(windowMs: number, commits: Commit[]): Promise<void> | void;
  release(token: string): Promise<void> | void;
}
export type DedupShards = (sourceId: string, shard: number) => DedupShard;

export interface ClaimOutcome {
  /** Ids already accepted within the window. */
  duplicates: Set<string>;
  /** Ids another unfinished request holds; when > 0 nothing of this request stays claimed. */
  inFlight: number;
  /** Those ids. */
  inFlightIds: Set<string>;
  /** With inFlight: whole seconds (≥ 1) until the holds on them expire, the longest over the shards. */
  retryAfterSeconds: number;
  /** Ids whose shard could not be reached: treated as new (delivered at least once rather than lost). */
  unchecked: number;
  /** Drops this request's claims (its events were not queued). */
  release(): Promise<void>;
  /** Makes this request's claims final (its events are queued); sent with the next flush. */
  commit(): void;
}

interface PendingCommits {
  sourceId: string;
  shard: number;
  windowMs: number;
  /** Oldest first. */
  commits: Commit[];
  /** When the oldest of them was made (ms). */
  since: number;
}

/** 12 random base64url characters (72 bits): names one request's claims in each shard. */
export function newClaimToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
}

/** Ids whose commits may wait in one isolate for an unreachable shard (about 10 MB). */
export const MAX_WAITING_IDS = 100_000;

export class DedupClaims {
  private pending = new Map<string, PendingCommits>();
  /** Ids this isolate committed whose commit is not stored yet, by source and shard. */
  private readonly committed = new Map<string, Set<string>>();

  constructor(private readonly options: { newToken?: () => string; onError?: (what: string, err: unknown) => void } = {}) {}

  /** Commits waiting to be sent (tests and diagnostics). */
  get pendingCommits(): number {
    let n = 0;
    for (const p of this.pending.values()) n += p.commits.length;
    return n;
  }

  /** @param token names the claims (default: a new one); the router claims a whole queue batch under one. */
  async claim(shards: DedupShards, sourceId: string, windowMs: number, byShard: ReadonlyMap<number, string[]>, token = (this.options.newToken ?? newClaimToken)()): Promise<ClaimOutcome> {
    const duplicates = new Set<string>();
    const toClaim: [number, string[]][] = [];
    for (const [shard, ids] of byShard) {
      const mine = this.committed.get(commitKey(sourceId, shard));
      let rest = ids;
      if (mine) {
        rest = [];
        for (const id of ids) if (mine.has(id)) duplicates.add(id);
        else rest.push(id);
      }
      if (rest.length > 0) toClaim.push([shard, rest]);
    }
    const calls = toClaim.map(async ([shard, ids]) => shards(sourceId, shard).claim({ token, ids, windowMs }));
    const results = await Promise.allSettled(calls);
    const inFlightIds = new Set<string>();
    let heldForMs = 0;
    let unchecked = 0;
    const touched: [number, string[]][] = [];
    toClaim.forEach(([shard, ids], i) => {
      const r = results[i]!;
      if (r.status === "rejected") {
        this.options.onError?.("dedup claim", r.reason);
        unchecked += ids.length;
        touched.push([shard, ids]); // it may have been applied before the failure
        return;
      }
      for (const id of r.value.inFlight) inFlightIds.add(id);
      // A shard of the earlier release does not say how long: its former fixed answer.
      if (r.value.inFlight.length > 0) heldForMs = Math.max(heldForMs, r.value.heldForMs ?? 2000);
      for (const id of r.value.duplicates) duplicates.add(id);
      if (r.value.inFlight.length > 0 || r.value.duplicates.length === ids.length) return;
      const dups = new Set(r.value.duplicates);
      touched.push([shard, dups.size === 0 ? ids : ids.filter((id) => !dups.has(id))]);
    });
    const release = async () => {
      const done = await Promise.allSettled(touched.map(async ([shard]) => shards(sourceId, shard).release(token)));
      for (const d of done) if (d.status === "rejected") this.options.onError?.("dedup release", d.reason);
    };
    const inFlight = inFlightIds.size;
    if (inFlight > 0) await release();
    return {
      duplicates,
      inFlight,
      inFlightIds,
      retryAfterSeconds: Math.max(1, Math.ceil(heldForMs / 1000)),
      unchecked,
      release,
      commit: () => {
        for (const [shard, ids] of touched) {
          this.addCommits(sourceId, shard, windowMs, [{ token, ids }]);
          const key = commitKey(sourceId, shard);
          let mine = this.committed.get(key);
          if (!mine) this.committed.set(key, (mine = new Set()));
          for (const id of ids) mine.add(id);
        }
      },
    };
  }

  /** Sends every pending commit now; failed ones are kept for the next flush. */
  async flush(shards: DedupShards): Promise<void> {
    const batch = [...this.pending.values()];
    this.pending = new Map();
    await Promise.all(
      batch.map(async ({ sourceId, shard, windowMs, commits, since }) => {
        try {
          await shards(sourceId, shard).commit(windowMs, commits);
          // Stored: the shard answers for these ids from now on.
          for (const c of commits) this.forget(commitKey(sourceId, shard), c);
        } catch (err) {
          this.options.onError?.("dedup commit", err);
          this.addCommits(sourceId, shard, windowMs, commits, since);
          this.trim();
        }
      }),
    );
  }

  /**
   * While a shard cannot be reached its commits wait here (sent again with the next flush a request schedules);
   * past MAX_WAITING_IDS the oldest are given up (logged), so an outage cannot exhaust the isolate's memory.
   * Giving up costs no event: a resend of those ids is then delivered again.
   */
  private trim(): void {
    let waiting = 0;
    for (const p of this.pending.values()) for (const c of p.commits) waiting += c.ids.length;
    if (waiting <= MAX_WAITING_IDS) return;
    for (const [key, p] of [...this.pending].sort((a, b) => a[1].since - b[1].since)) {
      while (waiting > MAX_WAITING_IDS && p.commits.length > 0) {
        const c = p.commits.shift()!;
        waiting -= c.ids.length;
        this.forget(key, c);
        this.options.onError?.("dedup commit given up", new Error(`${c.ids.length} ids of ${p.sourceId}:${p.shard} stay unrecorded`));
      }
      if (p.commits.length === 0) this.pending.delete(key);
    }
  }

  /** This isolate no longer answers for a commit's ids (stored, or given up). */
  private forget(key: string, commit: Commit): void {
    const mine = this.committed.get(key);
    if (!mine) return;
    for (const id of commit.ids) mine.delete(id);
    if (mine.size === 0) this.committed.delete(key);
  }

  /** Queues commits for a shard; `since` older than what waits (a failed send coming back) goes first. */
  private addCommits(sourceId: string, shard: number, windowMs: number, commits: Commit[], since = Date.now()): void {
    if (commits.length === 0) return;
    const key = commitKey(sourceId, shard);
    const p = this.pending.get(key);
    if (!p) this.pending.set(key, { sourceId, shard, windowMs, commits: [...commits], since });
    else if (since < p.since) {
      p.commits.unshift(...commits);
      p.since = since;
    } else p.commits.push(...commits);
  }
}

const commitKey = (sourceId: string, shard: number) => `${sourceId}\u0000${shard}`;

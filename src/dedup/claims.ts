/**
 * The isolate's side of dedup: claims a request's messageIds with one call per shard, releases them when the
 * request fails, and commits them once its events are on the queue. Commits ride along with the next claim to
 * the same shard, or go out on their own about a second later: no extra call per request under load.
 */
import type { ClaimRequest, ClaimResult } from "../storage/dedup-object.ts";

/** A DedupObject as the isolate reaches it (an RPC stub in the worker, a fake in tests). */
export interface DedupShard {
  claim(req: ClaimRequest): Promise<ClaimResult>;
  commit(tokens: string[]): Promise<void> | void;
  release(token: string, ids: string[]): Promise<void> | void;
}
export type DedupShards = (sourceId: string, shard: number) => DedupShard;

export interface ClaimOutcome {
  /** Ids already accepted within the window. */
  duplicates: Set<string>;
  /** Ids another unfinished request holds; when > 0 nothing of this request stays claimed. */
  inFlight: number;
  /** Ids whose shard could not be reached: treated as new (delivered at least once rather than lost). */
  unchecked: number;
  /** Drops this request's claims (its events were not queued). */
  release(): Promise<void>;
  /** Makes this request's claims final (its events are queued); sent with the next call to each shard. */
  commit(): void;
}

interface PendingCommits {
  sourceId: string;
  shard: number;
  tokens: string[];
}

/** 12 random base64url characters (72 bits): stored on every claimed row, so kept short. */
export function newClaimToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
}

export class DedupClaims {
  private pending = new Map<string, PendingCommits>();
  private flushing: Promise<void> | undefined;

  constructor(private readonly options: { newToken?: () => string; onError?: (what: string, err: unknown) => void } = {}) {}

  /** Commits waiting to be sent (tests and diagnostics). */
  get pendingCommits(): number {
    let n = 0;
    for (const p of this.pending.values()) n += p.tokens.length;
    return n;
  }

  async claim(shards: DedupShards, sourceId: string, windowMs: number, byShard: ReadonlyMap<number, string[]>): Promise<ClaimOutcome> {
    const token = (this.options.newToken ?? newClaimToken)();
    const calls = [...byShard].map(async ([shard, ids]) => {
      const commits = this.takeCommits(sourceId, shard);
      try {
        return await shards(sourceId, shard).claim({ token, ids, windowMs, ...(commits.length > 0 ? { commits } : {}) });
      } catch (err) {
        this.addCommits(sourceId, shard, commits);
        throw err;
      }
    });
    const results = await Promise.allSettled(calls);
    const duplicates = new Set<string>();
    let inFlight = 0;
    let unchecked = 0;
    const touched: [number, string[]][] = [];
    [...byShard].forEach(([shard, ids], i) => {
      const r = results[i]!;
      if (r.status === "rejected") {
        this.options.onError?.("dedup claim", r.reason);
        unchecked += ids.length;
        touched.push([shard, ids]); // it may have been applied before the failure
        return;
      }
      inFlight += r.value.inFlight.length;
      for (const id of r.value.duplicates) duplicates.add(id);
      if (r.value.inFlight.length === 0 && r.value.duplicates.length < ids.length) touched.push([shard, ids]);
    });
    const release = async () => {
      const done = await Promise.allSettled(touched.map(async ([shard, ids]) => shards(sourceId, shard).release(token, ids)));
      for (const d of done) if (d.status === "rejected") this.options.onError?.("dedup release", d.reason);
    };
    if (inFlight > 0) await release();
    return {
      duplicates,
      inFlight,
      unchecked,
      release,
      commit: () => {
        for (const [shard] of touched) this.addCommits(sourceId, shard, [token]);
      },
    };
  }

  /** Sends pending commits about `delayMs` from now, once, however many requests ask meanwhile. */
  flushSoon(shards: DedupShards, waitUntil: (p: Promise<unknown>) => void, delayMs = 1000): void {
    if (this.flushing || this.pending.size === 0) return;
    this.flushing = (async () => {
      await new Promise((r) => setTimeout(r, delayMs));
      this.flushing = undefined;
      await this.flush(shards);
    })();
    waitUntil(this.flushing);
  }

  /** Sends every pending commit now; failed ones are kept for the next call or flush. */
  async flush(shards: DedupShards): Promise<void> {
    const batch = [...this.pending.values()];
    this.pending = new Map();
    await Promise.all(
      batch.map(async ({ sourceId, shard, tokens }) => {
        try {
          await shards(sourceId, shard).commit(tokens);
        } catch (err) {
          this.options.onError?.("dedup commit", err);
          this.addCommits(sourceId, shard, tokens);
        }
      }),
    );
  }

  private takeCommits(sourceId: string, shard: number): string[] {
    const key = `${sourceId}\u0000${shard}`;
    const p = this.pending.get(key);
    if (!p) return [];
    this.pending.delete(key);
    return p.tokens;
  }

  private addCommits(sourceId: string, shard: number, tokens: string[]): void {
    if (tokens.length === 0) return;
    const key = `${sourceId}\u0000${shard}`;
    const p = this.pending.get(key);
    if (p) p.tokens.push(...tokens);
    else this.pending.set(key, { sourceId, shard, tokens: [...tokens] });
  }
}

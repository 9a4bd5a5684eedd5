/**
 * Dedup by messageId, the pure part: which shard holds an id, and how a batch's events split into those to claim
 * (the first occurrence of each messageId, grouped by shard) and those repeated inside the batch. Server-assigned
 * ids are claimed too: the router cannot tell them apart, and claiming one costs nothing extra.
 */
import { hash64 } from "../usage/hyperloglog.ts";

/** The shard (0 … shards−1) of a messageId; stable across isolates and deploys for a given shard count. */
export function shardOf(messageId: string, shards: number): number {
  return hash64(messageId, 0x5eed)[0] % shards;
}

export interface ClaimPlan<E> {
  /** Events to deliver if their claims succeed, in order. */
  candidates: E[];
  /** Same messageId as an earlier event of this request: acknowledged, not delivered. */
  repeated: E[];
  /** Their messageIds to claim, by shard. */
  byShard: Map<number, string[]>;
}

/** @example planClaims([{ messageId: "a" }, { messageId: "a" }], 8).repeated.length // 1 */
export function planClaims<E extends { messageId: string }>(events: readonly E[], shards: number): ClaimPlan<E> {
  const seen = new Set<string>();
  const candidates: E[] = [];
  const repeated: E[] = [];
  const byShard = new Map<number, string[]>();
  for (const event of events) {
    const id = event.messageId;
    if (seen.has(id)) {
      repeated.push(event);
      continue;
    }
    seen.add(id);
    candidates.push(event);
    const shard = shardOf(id, shards);
    let ids = byShard.get(shard);
    if (!ids) byShard.set(shard, (ids = []));
    ids.push(id);
  }
  return { candidates, repeated, byShard };
}

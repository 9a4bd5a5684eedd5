import { describe, expect, it } from "vitest";
import { DedupClaims, newClaimToken, type DedupShard } from "../../src/dedup/claims.ts";
import { planClaims, shardOf } from "../../src/dedup/plan.ts";
import type { ClaimRequest, ClaimResult } from "../../src/storage/dedup-object.ts";

describe("dedup plan", () => {
  it("keeps the first event of a repeated messageId and sets the others aside", () => {
    const events = [{ messageId: "a", n: 1 }, { messageId: "b", n: 2 }, { messageId: "a", n: 3 }];
    const plan = planClaims(events, new Set(), 4);
    expect(plan.candidates.map((e) => e.n)).toEqual([1, 2]);
    expect(plan.repeated.map((e) => e.n)).toEqual([3]);
    expect([...plan.byShard.values()].flat().sort()).toEqual(["a", "b"]);
  });

  it("claims no server-assigned messageId (new by construction)", () => {
    const plan = planClaims([{ messageId: "srv-1" }, { messageId: "c" }], new Set(["srv-1"]), 4);
    expect(plan.candidates).toHaveLength(2);
    expect([...plan.byShard.values()].flat()).toEqual(["c"]);
  });

  it("spreads ids evenly and stably over the shards", () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[shardOf(`msg-${i}`, 8)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(850);
    expect(shardOf("msg-1", 8)).toBe(shardOf("msg-1", 8));
  });
});

/** In memory, what a DedupObject decides (committed within the window → duplicate; pending → in flight). */
function fakeShards() {
  const rows = new Map<string, { token: string }>();
  const committed = new Set<string>();
  const calls: { shard: number; method: string; arg: unknown }[] = [];
  let failing = new Set<number>();
  const shard = (n: number): DedupShard => ({
    async claim(req: ClaimRequest): Promise<ClaimResult> {
      calls.push({ shard: n, method: "claim", arg: req });
      if (failing.has(n)) throw new Error("shard down");
      for (const t of req.commits ?? []) committed.add(t);
      const duplicates: string[] = [];
      const inFlight: string[] = [];
      const fresh: string[] = [];
      for (const id of req.ids) {
        const row = rows.get(id);
        if (!row) fresh.push(id);
        else if (committed.has(row.token)) duplicates.push(id);
        else inFlight.push(id);
      }
      if (inFlight.length === 0) for (const id of fresh) rows.set(id, { token: req.token });
      return { duplicates, inFlight };
    },
    commit(tokens) {
      calls.push({ shard: n, method: "commit", arg: tokens });
      for (const t of tokens) committed.add(t);
    },
    release(token, ids) {
      calls.push({ shard: n, method: "release", arg: ids });
      for (const id of ids) if (rows.get(id)?.token === token) rows.delete(id);
    },
  });
  return { shards: (_source: string, n: number) => shard(n), calls, rows, failWith: (s: number[]) => (failing = new Set(s)) };
}

const byShard = (ids: string[]) => planClaims(ids.map((messageId) => ({ messageId })), new Set(), 4).byShard;

describe("dedup claims (isolate side)", () => {
  it("finds duplicates of committed requests, with commits riding along with the next claim", async () => {
    const f = fakeShards();
    const claims = new DedupClaims();
    const first = await claims.claim(f.shards, "web", 86_400_000, byShard(["a", "b"]));
    expect(first.duplicates.size).toBe(0);
    first.commit();
    expect(claims.pendingCommits).toBeGreaterThan(0);
    const second = await claims.claim(f.shards, "web", 86_400_000, byShard(["a", "b", "c"]));
    expect([...second.duplicates].sort()).toEqual(["a", "b"]);
    expect(f.calls.filter((c) => c.method === "commit")).toHaveLength(0);
  });

  it("releases the claims of a failed request, so its retry is new", async () => {
    const f = fakeShards();
    const claims = new DedupClaims();
    const failed = await claims.claim(f.shards, "web", 86_400_000, byShard(["a", "b"]));
    await failed.release();
    expect(f.rows.size).toBe(0);
    const retry = await claims.claim(f.shards, "web", 86_400_000, byShard(["a", "b"]));
    expect(retry.duplicates.size).toBe(0);
    expect(retry.inFlight).toBe(0);
  });

  it("reports ids another unfinished request holds, and keeps none of its own claims", async () => {
    const f = fakeShards();
    const claims = new DedupClaims();
    await claims.claim(f.shards, "web", 86_400_000, byShard(["a"])); // not committed yet
    const other = await claims.claim(f.shards, "web", 86_400_000, byShard(["a", "x", "y", "z"]));
    expect(other.inFlight).toBe(1);
    expect([...f.rows.keys()]).toEqual(["a"]);
  });

  it("treats ids of an unreachable shard as new, and still commits there later", async () => {
    const f = fakeShards();
    const errors: string[] = [];
    const claims = new DedupClaims({ onError: (what) => errors.push(what) });
    const ids = ["a", "b", "c", "d", "e", "f"];
    const plan = byShard(ids);
    const down = [...plan.keys()][0]!;
    f.failWith([down]);
    const outcome = await claims.claim(f.shards, "web", 86_400_000, plan);
    expect(outcome.unchecked).toBe(plan.get(down)!.length);
    expect(errors).toEqual(["dedup claim"]);
    outcome.commit();
    f.failWith([]);
    await claims.flush(f.shards);
    expect(f.calls.some((c) => c.method === "commit" && c.shard === down)).toBe(true);
  });

  it("keeps commits that could not be sent for the next flush", async () => {
    const f = fakeShards();
    const claims = new DedupClaims();
    const outcome = await claims.claim(f.shards, "web", 86_400_000, byShard(["a"]));
    outcome.commit();
    let fail = true;
    const flaky = (s: string, n: number): DedupShard => ({
      ...f.shards(s, n),
      commit: (t) => {
        if (fail) throw new Error("down");
        return f.shards(s, n).commit(t);
      },
    });
    await claims.flush(flaky);
    expect(claims.pendingCommits).toBe(1);
    fail = false;
    await claims.flush(flaky);
    expect(claims.pendingCommits).toBe(0);
  });

  it("makes short random tokens", () => {
    const t = newClaimToken();
    expect(t).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(newClaimToken()).not.toBe(t);
  });
});

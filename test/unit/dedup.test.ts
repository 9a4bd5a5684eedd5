import { describe, expect, it } from "vitest";
import { DedupClaims, MAX_WAITING_IDS, newClaimToken, type DedupShard } from "../../src/dedup/claims.ts";
import { planClaims, shardOf } from "../../src/dedup/plan.ts";
import type { ClaimRequest, ClaimResult } from "../../src/storage/dedup-object.ts";
import { fingerprint, FINGERPRINT_BYTES, FingerprintIndex, forEachPacked, packFingerprints } from "../../src/storage/dedup-index.ts";

describe("dedup plan", () => {
  it("keeps the first event of a repeated messageId and sets the others aside", () => {
    const events = [{ messageId: "a", n: 1 }, { messageId: "b", n: 2 }, { messageId: "a", n: 3 }];
    const plan = planClaims(events, 4);
    expect(plan.candidates.map((e) => e.n)).toEqual([1, 2]);
    expect(plan.repeated.map((e) => e.n)).toEqual([3]);
    expect([...plan.byShard.values()].flat().sort()).toEqual(["a", "b"]);
  });

  it("spreads ids evenly and stably over the shards", () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8000; i++) counts[shardOf(`msg-${i}`, 8)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(850);
    expect(shardOf("msg-1", 8)).toBe(shardOf("msg-1", 8));
  });
});

/** In memory, what a DedupObject decides (committed within the window → duplicate; pending → in flight). */
/** Shards that behave as DedupObject does: held claims by token, accepted ids by commit. */
function fakeShards() {
  const rows = new Map<string, { token: string }>();
  const accepted = new Set<string>();
  const calls: { shard: number; method: string; arg: unknown }[] = [];
  let failing = new Set<number>();
  const shard = (n: number): DedupShard => ({
    async claim(req: ClaimRequest): Promise<ClaimResult> {
      calls.push({ shard: n, method: "claim", arg: req });
      if (failing.has(n)) throw new Error("shard down");
      const duplicates: string[] = [];
      const inFlight: string[] = [];
      const fresh: string[] = [];
      for (const id of req.ids) {
        const row = rows.get(id);
        if (accepted.has(id)) duplicates.push(id);
        else if (!row || row.token === req.token) fresh.push(id);
        else inFlight.push(id);
      }
      if (inFlight.length === 0) for (const id of fresh) rows.set(id, { token: req.token });
      return { duplicates, inFlight };
    },
    commit(_windowMs, commits) {
      calls.push({ shard: n, method: "commit", arg: commits });
      if (failing.has(n)) throw new Error("shard down");
      for (const c of commits)
        for (const id of c.ids) {
          accepted.add(id);
          if (rows.get(id)?.token === c.token) rows.delete(id);
        }
    },
    release(token) {
      calls.push({ shard: n, method: "release", arg: token });
      for (const [id, row] of rows) if (row.token === token) rows.delete(id);
    },
  });
  return { shards: (_source: string, n: number) => shard(n), calls, rows, failWith: (s: number[]) => (failing = new Set(s)) };
}

const byShard = (ids: string[]) => planClaims(ids.map((messageId) => ({ messageId })), 4).byShard;

describe("dedup claims (isolate side)", () => {
  it("holds a request's ids in flight elsewhere until its commit is flushed; its own isolate knows them at once", async () => {
    const f = fakeShards();
    const claims = new DedupClaims();
    const first = await claims.claim(f.shards, "web", 86_400_000, byShard(["a", "b"]));
    expect(first.duplicates.size).toBe(0);
    first.commit();
    expect(claims.pendingCommits).toBeGreaterThan(0);
    // Not stored yet. Another isolate must not acknowledge a resend (the outcome is not recorded): in flight.
    const elsewhere = await new DedupClaims().claim(f.shards, "web", 86_400_000, byShard(["a", "c"]));
    expect(elsewhere.inFlight).toBe(1);
    // This isolate queued them: a resend here is a duplicate, without asking the shard about "a".
    const callsBefore = f.calls.length;
    const here = await claims.claim(f.shards, "web", 86_400_000, byShard(["a", "b"]));
    expect([...here.duplicates].sort()).toEqual(["a", "b"]);
    expect(f.calls.length).toBe(callsBefore);
    await claims.flush(f.shards);
    expect(claims.pendingCommits).toBe(0);
    // One commit call per shard, naming the ids (the shard may have forgotten the claim meanwhile).
    const sent = f.calls.filter((c) => c.method === "commit").flatMap((c) => c.arg as { ids: string[] }[]).flatMap((c) => c.ids);
    expect(sent.sort()).toEqual(["a", "b"]);
    const second = await claims.claim(f.shards, "web", 86_400_000, byShard(["a", "b", "c"]));
    expect([...second.duplicates].sort()).toEqual(["a", "b"]);
    // Only what this request claimed is committed: not the duplicates it found.
    second.commit();
    await claims.flush(f.shards);
    const last = f.calls.filter((c) => c.method === "commit").at(-1)!.arg as { ids: string[] }[];
    expect(last.flatMap((c) => c.ids)).toEqual(["c"]);
  });

  it("flushes the commits of many requests in one call per shard", async () => {
    const f = fakeShards();
    const claims = new DedupClaims();
    for (const ids of [["a", "b"], ["c"], ["d", "e", "f"]]) (await claims.claim(f.shards, "web", 86_400_000, byShard(ids))).commit();
    await claims.flush(f.shards);
    const commitCalls = f.calls.filter((c) => c.method === "commit");
    expect(new Set(commitCalls.map((c) => c.shard)).size).toBe(commitCalls.length);
    expect(commitCalls.flatMap((c) => (c.arg as { ids: string[] }[]).flatMap((x) => x.ids)).sort()).toEqual(["a", "b", "c", "d", "e", "f"]);
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

  it("answers the longest hold left over the shards, in whole seconds, at least 1", async () => {
    const claims = new DedupClaims();
    const holding = (heldForMs: Record<number, number>) => (_source: string, n: number): DedupShard => ({
      claim: (req) => (heldForMs[n] === undefined ? { duplicates: [], inFlight: [] } : { duplicates: [], inFlight: req.ids.slice(0, 1), heldForMs: heldForMs[n] }),
      commit: () => {},
      release: () => {},
    });
    const ids = ["a", "b", "c", "d", "e", "f", "g", "h"];
    const shards = [...byShard(ids).keys()];
    expect(shards.length).toBeGreaterThan(1);
    const outcome = await claims.claim(holding({ [shards[0]!]: 4_200, [shards[1]!]: 900 }), "web", 86_400_000, byShard(ids));
    expect(outcome.inFlight).toBe(2);
    expect(outcome.retryAfterSeconds).toBe(5);
    expect((await claims.claim(holding({ [shards[0]!]: 12 }), "web", 86_400_000, byShard(ids))).retryAfterSeconds).toBe(1);
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
      commit: (w, t) => {
        if (fail) throw new Error("down");
        return f.shards(s, n).commit(w, t);
      },
    });
    await claims.flush(flaky);
    expect(claims.pendingCommits).toBe(1);
    fail = false;
    await claims.flush(flaky);
    expect(claims.pendingCommits).toBe(0);
  });

  it("gives up the oldest waiting commits past MAX_WAITING_IDS, so an unreachable shard cannot exhaust memory", async () => {
    const f = fakeShards();
    const errors: string[] = [];
    const claims = new DedupClaims({ onError: (what) => errors.push(what) });
    const big = (tag: string) => new Map([[0, Array.from({ length: MAX_WAITING_IDS / 2 }, (_, i) => `${tag}-${i}`)]]);
    for (const tag of ["old", "mid", "new"]) (await claims.claim(f.shards, "web", 86_400_000, big(tag))).commit();
    f.failWith([0]);
    await claims.flush(f.shards);
    expect(claims.pendingCommits).toBe(2);
    expect(errors).toEqual(["dedup commit", "dedup commit given up"]);
    // The given-up ids are asked of the shard again (it still holds them in flight); the kept ones are known here.
    f.failWith([]);
    const again = await claims.claim(f.shards, "web", 86_400_000, new Map([[0, ["old-1", "new-1"]]]));
    expect([...again.duplicates]).toEqual(["new-1"]);
    expect(again.inFlight).toBe(1);
  });

  it("makes short random tokens", () => {
    const t = newClaimToken();
    expect(t).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(newClaimToken()).not.toBe(t);
  });
});

describe("dedup packed layout", () => {
  it("packs fingerprints 8 bytes each and reads them back in order", () => {
    const fps = ["a", "b", "an id of 100 characters".padEnd(100, "x")].map(fingerprint);
    const blob = packFingerprints(fps);
    expect(blob.byteLength).toBe(3 * FINGERPRINT_BYTES);
    const back: [number, number][] = [];
    forEachPacked(blob.buffer, (hi, lo) => back.push([hi, lo]));
    expect(back).toEqual(fps);
    expect(() => forEachPacked(new Uint8Array(7), () => {})).toThrow(RangeError);
  });

  it("gives distinct ids distinct fingerprints, independent of the shard", () => {
    const seen = new Set<string>();
    const perShard = new Array<number>(4).fill(0);
    for (let i = 0; i < 200_000; i++) {
      const [hi, lo] = fingerprint(`msg-${i}`);
      seen.add(`${hi}:${lo}`);
      if (shardOf(`msg-${i}`, 4) === 0) perShard[lo & 3]!++;
    }
    expect(seen.size).toBe(200_000);
    // Within one shard the low bits (the table's slot) still spread evenly.
    for (const c of perShard) expect(c).toBeGreaterThan(11_500);
  });

  it("maps fingerprints to when they were accepted, through growth, replacement, and pruning by time", () => {
    const index = new FingerprintIndex();
    const n = 50_000;
    const t0 = Date.UTC(2026, 11, 1);
    const atOf = (i: number) => t0 + (i % 10) * 60_000;
    for (let i = 0; i < n; i++) index.set(...fingerprint(`id-${i}`), atOf(i));
    expect(index.size).toBe(n);
    // 3/8 to 3/4 full: 16–32 bytes per id.
    expect(index.bytes / n).toBeGreaterThanOrEqual(16);
    expect(index.bytes / n).toBeLessThanOrEqual(32);
    for (let i = 0; i < n; i += 997) expect(index.get(...fingerprint(`id-${i}`))).toBe(atOf(i));
    expect(index.get(...fingerprint("never-set"))).toBe(0);
    // Kept to the second, rounded up: never earlier than the commit.
    index.set(...fingerprint("late"), t0 + 1);
    expect(index.get(...fingerprint("late"))).toBe(t0 + 1000);
    // A later time replaces the earlier one (an id accepted again after its window).
    index.set(...fingerprint("id-0"), t0 + 3_600_000);
    expect([index.get(...fingerprint("id-0")), index.size]).toEqual([t0 + 3_600_000, n + 1]);
    // Everything before the last minute's commits pruned: only those and the replaced id stay, in a smaller table.
    const before = index.bytes;
    index.retain((at) => at >= atOf(9));
    expect(index.size).toBe(n / 10 + 1);
    expect(index.bytes).toBeLessThan(before);
    expect(index.bytes / index.size).toBeLessThanOrEqual(32);
    expect(index.get(...fingerprint("id-9"))).toBe(atOf(9));
    expect(index.get(...fingerprint("id-1"))).toBe(0);
    expect(index.get(...fingerprint("id-0"))).toBe(t0 + 3_600_000);
    expect(() => index.set(1, 2, 0)).toThrow(RangeError);
  });
});

/**
 * Per-source rate limits, dedup and usage, through the real worker and its Durable Objects
 * (sources limited-a, limited-b, deduped, undeduped and metered in test/worker/config/sluice.yaml).
 */
import { createExecutionContext, createScheduledController, env, runDurableObjectAlarm, runInDurableObject, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { shardOf } from "../../src/dedup/plan.ts";
import { DEFAULT_DEDUP } from "../../src/config/source-limits.ts";
import { COMMIT_CHUNK, DedupObject, PENDING_TTL_MS } from "../../src/storage/dedup-object.ts";
import { fingerprint, packFingerprints } from "../../src/storage/dedup-index.ts";
import type { SourceUsage } from "../../src/usage/report.ts";
import { basic, eventually, post, routeIngest } from "./helpers.ts";
import { sink } from "./setup.ts";

const HOOK = "http://limits.test/events";
const uid = () => crypto.randomUUID().slice(0, 8);

/** Webhook deliveries of one messageId (the limits hook posts one event per request). */
const deliveries = (messageId: string) => sink.requests.filter((r) => r.url === HOOK && JSON.parse(r.body).messageId === messageId);

const admin = (path: string) => SELF.fetch(`http://sluice.test${path}`, { headers: { authorization: "Bearer test-admin-token" } });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `target` with some of its members replaced (a Durable Object's storage with an instrumented `sql.exec`). */
const through = <T extends object>(target: T, own: Record<string, unknown>) =>
  new Proxy(target, {
    get: (t, key) => {
      if (typeof key === "string" && key in own) return own[key];
      const value = Reflect.get(t, key);
      return typeof value === "function" ? value.bind(t) : value;
    },
  });

/** A DedupObject on `state` whose SQL statements go through `exec`. */
function instrumented(state: DurableObjectState, env: unknown, exec: (query: string, ...bindings: unknown[]) => unknown): DedupObject {
  const storage = through(state.storage, { sql: through(state.storage.sql, { exec }) });
  const shard = new DedupObject(state, env);
  Object.defineProperty(shard, "ctx", { value: through(state, { storage }) });
  return shard;
}

/** Runs `fn` inside a new DedupObject named `<prefix>-<uid>:0`, on its storage (it builds its own instances there). */
async function inNewShard(prefix: string, fn: (state: DurableObjectState) => Promise<void>): Promise<void> {
  const stub = env.DEDUP.get(env.DEDUP.idFromName(`${prefix}-${uid()}:0`));
  await stub.size(); // create the object
  await runInDurableObject(stub, (_instance, state) => fn(state));
}

/** Appends a commit row of `ids` at time `at` as the packed layout stores it. */
const insertBatch = (state: DurableObjectState, at: number, ids: string[]) =>
  void state.storage.sql.exec("INSERT INTO batches (at, fps) VALUES (?, ?)", at, packFingerprints(ids.map(fingerprint)).buffer);

describe("rate limits", () => {
  it("answers 429 with Retry-After and a JSON error once the source's budget is spent; those events are not accepted", async () => {
    const key = basic("wk_test_limited_a");
    const ids = Array.from({ length: 8 }, (_, i) => `rl-${uid()}-${i}`);
    const responses: Response[] = [];
    for (const messageId of ids) responses.push(await post("/v1/track", { userId: "u1", event: "Tick", messageId }, { authorization: key }));
    // burst 5, 0.5 events/s: the first five pass, the rest wait.
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    const limited = responses[5]!;
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number.isInteger(Number(limited.headers.get("retry-after")))).toBe(true);
    expect(await limited.json()).toEqual({ error: { code: "rate_limited", message: expect.stringContaining("rate limit") } });

    await eventually(async () => (ids.slice(0, 5).every((id) => deliveries(id).length === 1) ? true : undefined));
    await sleep(1500);
    for (const id of ids.slice(5)) expect(deliveries(id)).toEqual([]);
  }, 15_000);

  it("keeps one budget per source: another source is not limited by the first", async () => {
    const a = basic("wk_test_limited_a");
    let limited = false;
    for (let i = 0; i < 10 && !limited; i++) limited = (await post("/v1/track", { userId: "u1", event: "Tick" }, { authorization: a })).status === 429;
    expect(limited).toBe(true);
    const b = basic("wk_test_limited_b");
    for (let i = 0; i < 5; i++) expect((await post("/v1/track", { userId: "u1", event: "Tick" }, { authorization: b })).status).toBe(200);
  });

  it("charges a batch one token per event", async () => {
    const b = basic("wk_test_limited_b");
    let status = 200;
    for (let i = 0; i < 3 && status === 200; i++) {
      status = (await post("/v1/batch", { batch: Array.from({ length: 4 }, () => ({ type: "track", userId: "u1", event: "Tick" })) }, { authorization: b })).status;
    }
    expect(status).toBe(429);
  });

  it("keeps the bucket in the source's Durable Object: spent after the burst", async () => {
    const a = basic("wk_test_limited_a");
    for (let i = 0; i < 10; i++) await post("/v1/track", { userId: "u1", event: "Tick" }, { authorization: a });
    const stub = env.SOURCES.get(env.SOURCES.idFromName("limited-a"));
    const state = await runInDurableObject(stub, (instance) => instance.bucketState());
    expect(state!.tokens).toBeLessThan(1);
  });

  it("makes no Durable Object call for a source without rate_limit", async () => {
    await post("/v1/track", { userId: "u1", event: "Tick" }, { authorization: basic("wk_test_deduped") });
    const stub = env.SOURCES.get(env.SOURCES.idFromName("deduped"));
    expect(await runInDurableObject(stub, (instance) => instance.bucketState())).toBeUndefined();
  });
});

describe("dedup", () => {
  const key = basic("wk_test_deduped");

  it("delivers a retried batch with the same messageIds once, and a repeated id in a batch once", async () => {
    const [m1, m2] = [`dd-${uid()}-1`, `dd-${uid()}-2`];
    const batch = {
      batch: [
        { type: "track", userId: "u1", event: "A", messageId: m1 },
        { type: "track", userId: "u1", event: "B", messageId: m2 },
        { type: "track", userId: "u1", event: "A", messageId: m1 },
      ],
    };
    // Accepted at the edge as sent: the router behind the queue sets the duplicates aside.
    const first = await post("/v1/batch", batch, { authorization: key });
    expect(await first.json()).toEqual({ success: true, accepted: 3 });
    const retry = await post("/v1/batch", batch, { authorization: key, "x-retry-count": "1" });
    expect(retry.status).toBe(200);
    expect(await retry.json()).toEqual({ success: true, accepted: 3 });

    await eventually(async () => (deliveries(m1).length > 0 && deliveries(m2).length > 0 ? true : undefined));
    await sleep(1500);
    expect(deliveries(m1)).toHaveLength(1);
    expect(deliveries(m2)).toHaveLength(1);
  }, 15_000);

  // The queue rejects, or its binding throws instead of rejecting: both are a failed enqueue (503 queue_unavailable).
  const rejecting = async () => Promise.reject(new Error("queue down"));
  const throwing = () => {
    throw new Error("boom");
  };
  it.each([
    { failure: "the events cannot be queued", sendBatch: rejecting, status: 503 },
    { failure: "the queue binding throws instead of rejecting", sendBatch: throwing, status: 503 },
  ])("answers 503 when $failure, and the client's retry is delivered once", async ({ sendBatch, status }) => {
    const messageId = `dd-${uid()}-q`;
    const body = JSON.stringify({ userId: "u1", event: "Queued Later", messageId });
    const broken = { ...env, INGEST: { send: sendBatch, sendBatch } };
    const failed = await worker.fetch!(
      new Request("http://sluice.test/v1/track", { method: "POST", headers: { authorization: key }, body }) as Request<unknown, IncomingRequestCfProperties>,
      broken as unknown as typeof env,
      createExecutionContext(),
    );
    expect(failed.status).toBe(status);

    const retry = await post("/v1/track", body, { authorization: key });
    expect(await retry.json()).toEqual({ success: true, accepted: 1 });
    await eventually(async () => (deliveries(messageId).length > 0 ? true : undefined));
    expect(deliveries(messageId)).toHaveLength(1);
  });

  const route = (events: Record<string, unknown>[], attempts = 1) => routeIngest("deduped", events, { attempts });

  it("holds back a message whose ids another invocation holds, and drops it as a duplicate once that one committed", async () => {
    const messageId = `dd-${uid()}-f`;
    const shard = env.DEDUP.get(env.DEDUP.idFromName(`deduped:${shardOf(messageId, DEFAULT_DEDUP.shards)}`));
    await shard.claim({ token: "other-batch", ids: [messageId], windowMs: 86_400_000 });
    expect(await route([{ messageId }])).toEqual({ acked: 0, retried: 1, delays: [15] });

    await shard.commit(86_400_000, [{ token: "other-batch", ids: [messageId] }]);
    expect(await route([{ messageId }], 2)).toEqual({ acked: 1, retried: 0, delays: [] });
    await sleep(500);
    expect(deliveries(messageId)).toHaveLength(0);
  });

  it("retries a dead invocation's ids after the time actually left on its hold (15 s at most)", async () => {
    const messageId = `dd-${uid()}-dead`;
    const shard = env.DEDUP.get(env.DEDUP.idFromName(`deduped:${shardOf(messageId, DEFAULT_DEDUP.shards)}`));
    await shard.claim({ token: "dead", ids: [messageId], windowMs: 86_400_000 });
    const age = (ms: number) =>
      runInDurableObject(shard, (instance) => {
        (instance as unknown as { held: Map<string, { at: number }> }).held.get("dead")!.at -= ms;
      });

    await age(10_300); // 4.7 s left: rounded up
    expect((await route([{ messageId }])).delays).toEqual([5]);
    await age(4_200); // under a second left: never below 1
    expect((await route([{ messageId }], 2)).delays).toEqual([1]);

    await age(500); // 15 s: the hold is gone, the redelivery is routed and delivered once
    expect(await route([{ messageId }], 3)).toEqual({ acked: 1, retried: 0, delays: [] });
    await eventually(async () => (deliveries(messageId).length > 0 ? true : undefined));
    expect(deliveries(messageId)).toHaveLength(1);
  });

  it("forgets a claim after PENDING_TTL_MS: the request that held it is gone", async () => {
    const shard = env.DEDUP.get(env.DEDUP.idFromName(`stale-${uid()}:0`));
    await shard.claim({ token: "dead", ids: ["s-1"], windowMs: 86_400_000 });
    expect(await shard.claim({ token: "live", ids: ["s-1"], windowMs: 86_400_000 })).toMatchObject({ duplicates: [], inFlight: ["s-1"] });
    await runInDurableObject(shard, (instance) => {
      (instance as unknown as { held: Map<string, { at: number }> }).held.get("dead")!.at -= PENDING_TTL_MS + 1;
    });
    expect(await shard.claim({ token: "live", ids: ["s-1"], windowMs: 86_400_000 })).toEqual({ duplicates: [], inFlight: [] });
    expect(await shard.size()).toEqual({ accepted: 0, rows: 0, held: 1 });
  });

  it("reads the ids a shard accepted under the earlier schema where they are, until its alarm has expired them", async () => {
    await inNewShard("migrate", async (state) => {
      const sql = state.storage.sql;
      const day = 86_400_000;
      sql.exec("CREATE TABLE seen (id TEXT PRIMARY KEY, token TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID");
      sql.exec("CREATE TABLE commits (token TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID");
      sql.exec("INSERT INTO seen (id, token, at) VALUES ('old-committed', 't1', ?), ('old-pending', 't2', ?), ('old-expired', 't1', ?)", Date.now(), Date.now(), Date.now() - 2 * day);
      sql.exec("INSERT INTO commits (token, at) VALUES ('t1', ?)", Date.now());
      // The object as a deploy of this version starts it on that storage.
      const upgraded = new DedupObject(state, env);
      expect(upgraded.claim({ token: "n", ids: ["old-committed", "old-pending", "old-expired"], windowMs: day })).toEqual({ duplicates: ["old-committed"], inFlight: [] });
      // An isolate of the earlier release commits by token only: ignored, no error.
      await (upgraded.commit as unknown as (tokens: string[]) => Promise<void>)(["t2"]);
      // The alarm expires old rows; once none is left the old tables go.
      await upgraded.alarm();
      expect(sql.exec("SELECT id FROM seen ORDER BY id").toArray()).toEqual([{ id: "old-committed" }, { id: "old-pending" }]);
      sql.exec("UPDATE seen SET at = ?", Date.now() - 2 * day);
      await upgraded.alarm();
      expect(sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('seen', 'commits')").toArray()).toEqual([]);
      expect(upgraded.claim({ token: "m", ids: ["old-committed"], windowMs: day })).toEqual({ duplicates: [], inFlight: [] });
    });
  });

  it("writes one row per commit whatever its number of ids; a larger commit than COMMIT_CHUNK takes more", async () => {
    await inNewShard("rows", async (state) => {
      // Every statement's cursor: its rowsWritten is final once the object has read it.
      let cursors: { rowsWritten: number }[] = [];
      const shard = instrumented(state, env, (query, ...bindings) => {
        const cursor = state.storage.sql.exec(query, ...bindings);
        cursors.push(cursor);
        return cursor;
      });
      const written = () => cursors.reduce((n, c) => n + c.rowsWritten, 0);
      const day = 86_400_000;
      await shard.commit(day, [{ token: "w", ids: ["first"] }]); // also stores the window (meta)
      for (const n of [1, 20, 5_000]) {
        cursors = [];
        const ids = Array.from({ length: n }, (_, i) => `w-${n}-${i}`);
        await shard.commit(day, [{ token: "a", ids: ids.slice(0, n >> 1) }, { token: "b", ids: ids.slice(n >> 1) }]);
        expect({ n, written: written() }).toEqual({ n, written: 1 });
        expect(shard.claim({ token: "c", ids: [ids[0]!, ids.at(-1)!], windowMs: day }).duplicates).toEqual([ids[0], ids.at(-1)]);
      }
      // Ids all inside their window: nothing to write.
      cursors = [];
      await shard.commit(day, [{ token: "d", ids: ["first", "w-20-3"] }]);
      expect(written()).toBe(0);
      // Past COMMIT_CHUNK ids (each up to the 100-character messageId limit): one row per chunk.
      const many = Array.from({ length: COMMIT_CHUNK * 2 + 7 }, (_, i) => `${"m".repeat(90)}-${i}`);
      cursors = [];
      await shard.commit(day, [{ token: "e", ids: many }]);
      expect(written()).toBe(3);
      expect(shard.size()).toEqual({ accepted: 1 + 1 + 20 + 5_000 + many.length, rows: 1 + 3 + 3, held: 0 });
    });
  });

  it("takes an id for a duplicate within the window and accepts it again after (shortened window)", async () => {
    const shard = env.DEDUP.get(env.DEDUP.idFromName(`window-${uid()}:0`));
    const windowMs = 500;
    await shard.commit(windowMs, [{ token: "a", ids: ["win-1", "win-2"] }]);
    expect(await shard.claim({ token: "b", ids: ["win-1", "win-2", "win-3"], windowMs })).toEqual({ duplicates: ["win-1", "win-2"], inFlight: [] });
    await shard.release("b");
    await sleep(windowMs + 1050); // the index keeps times to the second, rounded up
    expect(await shard.claim({ token: "c", ids: ["win-1", "win-2"], windowMs })).toEqual({ duplicates: [], inFlight: [] });
    // Accepted again: a new window from this commit.
    await shard.commit(windowMs, [{ token: "c", ids: ["win-1"] }]);
    expect(await shard.claim({ token: "d", ids: ["win-1", "win-2"], windowMs })).toEqual({ duplicates: ["win-1"], inFlight: [] });
    expect((await shard.size()).rows).toBe(2);
  });

  it("keeps an id's first window when a commit repeats within it, starts a new one after it, and keeps it across the alarm and a restart", async () => {
    const hour = 3_600_000;
    await inNewShard("recommit", async (state) => {
      const sql = state.storage.sql;
      const shard = new DedupObject(state, env);
      const dup = (o: DedupObject, id: string) => o.claim({ token: `q-${uid()}`, ids: [id], windowMs: hour }).duplicates.length === 1;
      await shard.commit(hour, [{ token: "a", ids: ["r-1", "r-2"] }]);
      await shard.commit(hour, [{ token: "b", ids: ["r-1"] }]);
      // Inside its window: no new row, the id keeps its first time.
      expect(sql.exec("SELECT count(*) AS n FROM batches").one().n).toBe(1);
      // The first row's window has passed (not deleted yet): a commit of r-1 starts a new window in a new row.
      sql.exec("UPDATE batches SET at = ?", Date.now() - 2 * hour);
      const restarted = new DedupObject(state, env); // loads the index from storage
      expect([dup(restarted, "r-1"), dup(restarted, "r-2")]).toEqual([false, false]);
      await restarted.commit(hour, [{ token: "c", ids: ["r-1"] }]);
      expect(sql.exec("SELECT count(*) AS n FROM batches").one().n).toBe(2);
      expect(dup(restarted, "r-1")).toBe(true);
      // The alarm deletes the old row whole; r-1 lives on in its new row, in memory and after a restart.
      await state.storage.deleteAlarm();
      await restarted.alarm();
      expect(sql.exec("SELECT count(*) AS n FROM batches").one().n).toBe(1);
      expect(restarted.size()).toMatchObject({ accepted: 1, rows: 1 });
      expect([dup(restarted, "r-1"), dup(restarted, "r-2")]).toEqual([true, false]);
      const again = new DedupObject(state, env);
      expect([dup(again, "r-1"), dup(again, "r-2")]).toEqual([true, false]);
    });
  });

  it("logs once when a shard holds more ids than it is sized for, at commit and when a restart loads them", async () => {
    await inNewShard("sizing", async (state) => {
      const logged: string[] = [];
      const error = console.error;
      console.error = (line: string) => void logged.push(line);
      try {
        const sized = (o: DedupObject): DedupObject => (Object.assign(o, { sizingIds: 3 }), o);
        const shard = sized(new DedupObject(state, env));
        await shard.commit(3_600_000, [{ token: "a", ids: ["z-1", "z-2", "z-3"] }]);
        expect(logged).toEqual([]);
        await shard.commit(3_600_000, [{ token: "b", ids: ["z-4"] }, { token: "c", ids: ["z-5"] }]);
        await shard.commit(3_600_000, [{ token: "d", ids: ["z-6"] }]);
        expect(logged.map((l) => JSON.parse(l))).toEqual([{ msg: expect.stringContaining("raise the source's dedup shards"), ids: 5, sized_for: 3, index_bytes: expect.any(Number) }]);
        sized(new DedupObject(state, env)).claim({ token: "e", ids: ["z-1"], windowMs: 3_600_000 });
        expect(logged.map((l) => JSON.parse(l).ids)).toEqual([5, 6]);
      } finally {
        console.error = error;
      }
    });
  });

  it("honours ids stored one row each by the previous release, and expires them there", async () => {
    await inNewShard("perid", async (state) => {
      const sql = state.storage.sql;
      const day = 86_400_000;
      const early = Date.now() - 1000;
      sql.exec("CREATE TABLE accepted (id TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID");
      sql.exec("INSERT INTO accepted (id, at) VALUES ('old-live', ?), ('old-expired', ?)", early, Date.now() - 2 * day);
      const upgraded = new DedupObject(state, env);
      expect(upgraded.claim({ token: "n", ids: ["old-live", "old-expired", "new"], windowMs: day })).toEqual({ duplicates: ["old-live"], inFlight: [] });
      // old-live keeps its first window: the commit writes only the others.
      await upgraded.commit(day, [{ token: "n", ids: ["old-expired", "new"] }, { token: "x", ids: ["old-live"] }]);
      expect(upgraded.size()).toEqual({ accepted: 2 + 2, rows: 1, held: 0 });
      await state.storage.deleteAlarm();
      await upgraded.alarm();
      expect(sql.exec("SELECT id, at FROM accepted").toArray()).toEqual([{ id: "old-live", at: early }]);
      expect(upgraded.claim({ token: "m", ids: ["old-live", "old-expired", "new"], windowMs: day }).duplicates).toEqual(["old-live", "old-expired", "new"]);
      // Once the last old id has expired, the old table goes.
      sql.exec("UPDATE accepted SET at = ?", Date.now() - 2 * day);
      await upgraded.alarm();
      expect(sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'accepted'").toArray()).toEqual([]);
      expect(upgraded.claim({ token: "k", ids: ["old-live", "new"], windowMs: day }).duplicates).toEqual(["new"]);
    });
  });

  it("delivers concurrent batches and their resends once, and absorbs a queue redelivery of a routed message", async () => {
    const batches = Array.from({ length: 8 }, (_, r) => ({
      batch: Array.from({ length: 5 }, (_, i) => ({ type: "track", userId: "u1", event: "C", messageId: `cc-${uid()}-${r}-${i}` })),
    }));
    // Each batch and its resend, all at once: they meet in the router's batches or in the shards.
    const answers = await Promise.all([...batches, ...batches].map((b) => post("/v1/batch", b, { authorization: key })));
    for (const res of answers) expect(await res.json()).toEqual({ success: true, accepted: 5 });
    const ids = batches.flatMap((b) => b.batch.map((e) => e.messageId));
    await eventually(async () => (ids.every((id) => deliveries(id).length > 0) ? true : undefined), 15_000);

    // The queue delivers a message the router already finished again (its ack was lost): acked, not delivered.
    // (Delivered is not yet finished: until the router's commit, its ids are in flight and the copy waits.)
    const redelivered = batches[0]!.batch;
    const settled = await eventually(async () => {
      const r = await route(redelivered, 2);
      return r.acked === 1 ? r : (expect(r.delays[0]).toBeGreaterThanOrEqual(1), undefined);
    });
    expect(settled).toEqual({ acked: 1, retried: 0, delays: [] });
    await sleep(1500);
    for (const id of ids) expect(deliveries(id)).toHaveLength(1);
  }, 25_000);

  it("deletes expired commit rows whole when the shard's alarm runs, and forgets their ids", async () => {
    const shard = env.DEDUP.get(env.DEDUP.idFromName(`expiry-${uid()}:0`));
    const hour = 3_600_000;
    await runInDurableObject(shard, (_instance, state) => insertBatch(state, Date.now() - 2 * hour, ["old-1", "old-2", "old-3"]));
    await shard.commit(hour, [{ token: "t-new", ids: ["fresh-1", "fresh-2"] }]);
    expect(await shard.size()).toEqual({ accepted: 5, rows: 2, held: 0 });
    expect(await runDurableObjectAlarm(shard)).toBe(true);
    expect(await shard.size()).toEqual({ accepted: 2, rows: 1, held: 0 });
    expect(await shard.claim({ token: "c", ids: ["old-1", "fresh-2"], windowMs: hour })).toEqual({ duplicates: ["fresh-2"], inFlight: [] });
    // Still holding an id: the alarm set itself again.
    expect(await runInDurableObject(shard, (_i, state) => state.storage.getAlarm())).not.toBeNull();
  });

  it("sets its next alarm even when a run throws, so expiry heals after a storage failure", async () => {
    await inNewShard("heal", async (state) => {
      // The object's storage, whose first DELETE throws.
      let failures = 1;
      const shard = instrumented(state, env, (query, ...bindings) => {
        if (failures > 0 && query.startsWith("DELETE")) {
          failures--;
          throw new Error("storage blip");
        }
        return state.storage.sql.exec(query, ...bindings);
      });
      const hour = 3_600_000;
      insertBatch(state, Date.now() - 2 * hour, ["expired"]);
      await shard.commit(hour, [{ token: "t", ids: ["kept"] }]);

      await state.storage.deleteAlarm(); // the platform takes the alarm as it runs it
      await expect(shard.alarm()).rejects.toThrow("storage blip");
      const next = await state.storage.getAlarm();
      expect(next).toBeGreaterThan(Date.now());
      expect(next).toBeLessThanOrEqual(Date.now() + 60_000);

      await state.storage.deleteAlarm();
      await shard.alarm();
      expect(shard.claim({ token: "c", ids: ["expired", "kept"], windowMs: hour }).duplicates).toEqual(["kept"]);
      expect(state.storage.sql.exec("SELECT count(*) AS n FROM batches").one().n).toBe(1);
      expect(await state.storage.getAlarm()).toBeGreaterThan(Date.now());
    });
  });
});

/** One run of the 5-minute Cron Trigger (the alerts' evaluation). */
async function runAlertsCron(): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled!(createScheduledController({ cron: "*/5 * * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}

describe("usage", () => {
  it("reports requests, accepted events, bytes, rejections, duplicates and distinct users; alerts once past the MTU budget", async () => {
    const key = basic("wk_test_metered");
    const [a, b, c] = [`us-${uid()}-a`, `us-${uid()}-b`, `us-${uid()}-c`];
    // The request rejected whole comes first: what it counted rides to the router in the next request's message.
    const bodies = [
      { batch: [{ type: "track", userId: "mu1" }] },
      { batch: [{ type: "track", userId: "mu1", event: "A", messageId: a }, { type: "identify", anonymousId: "anon-1", messageId: b }] },
      { route: "track", userId: "mu2", event: "B", messageId: c },
      { batch: [{ type: "track", userId: "mu1", event: "A", messageId: a }, { type: "identify", anonymousId: "anon-1", messageId: b }] },
    ];
    let bytes = 0;
    const statuses: number[] = [];
    for (const { route, ...body } of bodies as ({ route?: string } & Record<string, unknown>)[]) {
      const text = JSON.stringify(body);
      bytes += new TextEncoder().encode(text).length;
      statuses.push((await post(route ? `/v1/${route}` : "/v1/batch", text, { authorization: key })).status);
    }
    expect(statuses).toEqual([400, 200, 200, 200]);

    const today = new Date().toISOString().slice(0, 10);
    const usage = await eventually(async () => {
      const json = (await (await admin(`/admin/usage?source=metered&since=${today}`)).json()) as { sources: SourceUsage[] };
      const day = json.sources[0]?.days.find((d) => d.day === today);
      return day && day.requests === 4 && day.users === 3 && day.duplicates === 2 ? json.sources[0] : undefined;
    });
    expect(usage.days.find((d) => d.day === today)).toEqual({
      day: today,
      requests: 4,
      // Accepted at the edge (resends included); the router counts the resent ones as duplicates.
      accepted: 5,
      bytes,
      duplicates: 2,
      rejected: { missing_field: 1 },
      users: 3,
    });

    // Budget 4 users, alert at 50 %: the source's mtu_budget is an mtu_budget alert rule; one evaluation of the
    // alerts cron sends one alert, through the delivery queue to the limits hook.
    const isBudgetAlert = (r: { url: string; body: string }) => r.url === HOOK && JSON.parse(r.body).properties?.kind === "mtu_budget";
    await runAlertsCron();
    const alert = await eventually(async () => sink.requests.find(isBudgetAlert));
    expect(JSON.parse(alert.body)).toMatchObject({
      type: "track",
      event: "Alert Fired",
      properties: { alert_id: "mtu-budget-metered", source: "metered", observed: 3, expected: 4, threshold: 0.5 },
    });
    const month = await eventually(async () => {
      const json = (await (await admin(`/admin/usage?source=metered&since=${today}`)).json()) as { sources: SourceUsage[] };
      return json.sources[0]?.months.find((m) => m.alertSentAt);
    });
    expect(month).toMatchObject({ month: today.slice(0, 7), mtu: 3, budget: 4, share: 0.75 });

    // A new user later in the month does not alert again.
    await post("/v1/track", { userId: "mu3", event: "C" }, { authorization: key });
    await eventually(async () => {
      const json = (await (await admin(`/admin/usage?source=metered&since=${today}`)).json()) as { sources: SourceUsage[] };
      return json.sources[0]?.months[0]?.mtu === 4 ? true : undefined;
    });
    await runAlertsCron();
    await sleep(1500);
    expect(sink.requests.filter(isBudgetAlert)).toHaveLength(1);
  }, 20_000);

  it("answers 404 for an unknown source and 400 for a bad day", async () => {
    expect((await admin("/admin/usage?source=nope")).status).toBe(404);
    expect((await admin("/admin/usage?since=yesterday")).status).toBe(400);
  });
});

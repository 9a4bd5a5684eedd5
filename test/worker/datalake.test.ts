/**
 * The datalake destination end to end in workerd: HTTP API → queue → adapter → LakeBufferObject → R2 files,
 * read back as gzip NDJSON and (with hyparquet) Parquet.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult, runInDurableObject } from "cloudflare:test";
import { parquetReadObjects } from "hyparquet";
import { describe, expect, it } from "vitest";
import type { LakeBufferObject, LakeTarget } from "../../destinations/datalake/buffer-object.ts";
import { lakeBufferName, partitionOf } from "../../destinations/datalake/files.ts";
import { lakeBuffer } from "../../destinations/datalake/index.ts";
import worker from "../../src/index.ts";
import { basic, eventually, IOS_KEY, post, storedEvents, WEB_KEY } from "./helpers.ts";

type Json = Record<string, unknown>;
interface Row {
  key: string;
  source: string;
  dt: string;
  hour: string;
  row: Json;
}

const KEY = /^([a-z0-9_-]+)\/source=([a-z0-9_-]+)\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/([a-z0-9_-]+-\d{8}T\d{9}Z-[0-9a-f]{8})\.(ndjson\.gz|parquet)$/;

async function gunzip(body: ReadableStream): Promise<string> {
  return new Response(body.pipeThrough(new DecompressionStream("gzip"))).text();
}

/** Every row of every lake file, per format, with the partition its key names. */
async function readLake(prefix = "lake"): Promise<{ ndjson: Row[]; parquet: Row[]; keys: string[] }> {
  const out = { ndjson: [] as Row[], parquet: [] as Row[], keys: [] as string[] };
  let cursor: string | undefined;
  do {
    const list = await env.BUCKET.list({ prefix: `${prefix}/`, cursor });
    for (const o of list.objects) {
      const m = KEY.exec(o.key);
      if (!m || m[1] !== prefix) throw new Error(`unexpected lake key ${o.key}`);
      out.keys.push(o.key);
      const [, , source, dt, hour, , ext] = m as unknown as [string, string, string, string, string, string, string];
      const obj = (await env.BUCKET.get(o.key))!;
      if (ext === "ndjson.gz") {
        for (const line of (await gunzip(obj.body)).split("\n")) if (line) out.ndjson.push({ key: o.key, source, dt, hour, row: JSON.parse(line) });
      } else {
        for (const row of (await parquetReadObjects({ file: await obj.arrayBuffer() })) as Json[]) out.parquet.push({ key: o.key, source, dt, hour, row });
      }
    }
    cursor = list.truncated ? list.cursor : undefined;
  } while (cursor);
  return out;
}

/** The lake's rows for the given messageIds, once each id is in both formats (flushing the buffers meanwhile). */
async function landed(ids: string[], flush: () => Promise<unknown>, timeoutMs?: number, prefix = "lake") {
  return eventually(async () => {
    await flush();
    const lake = await readLake(prefix);
    const want = new Set(ids);
    const ndjson = lake.ndjson.filter((r) => want.has(r.row.messageId as string));
    const parquet = lake.parquet.filter((r) => want.has(r.row.messageId as string));
    const complete = (rows: Row[]) => ids.every((id) => rows.some((r) => r.row.messageId === id));
    return complete(ndjson) && complete(parquet) ? { ndjson, parquet, keys: lake.keys } : undefined;
  }, timeoutMs);
}

/** Flushes the buffers of (source, hour) for every hour in [from, to] (a test can straddle an hour). */
function flusher(source: string, from: number, to = Date.now()) {
  return async () => {
    const hours = new Set<string>();
    for (let t = from; ; t += 3600_000) {
      hours.add(new Date(Math.min(t, to)).toISOString().slice(0, 13));
      if (t >= to) break;
    }
    await Promise.all([...hours].map((h) => lakeBuffer(env.LAKE_BUFFER, "lake", source, `${h}:00:00.000Z`).flush()));
  };
}

function count<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of items) m.set(key(t), (m.get(key(t)) ?? 0) + 1);
  return m;
}

// Queue delivery (≤ 1 s batches) and the 2 s max age make these slower than the default 5 s allows.
describe("datalake destination", { timeout: 30_000 }, () => {
  it("lands every event once per format, in its source/day/hour partition, with JSON columns round-tripping", async () => {
    const run = crypto.randomUUID().slice(0, 8);
    const started = Date.now();
    const web = Array.from({ length: 25 }, (_, i) => ({
      type: i % 5 === 0 ? "identify" : "track",
      ...(i % 5 === 0 ? { traits: { plan: "pro", seats: i, tags: ["a", "ü"] } } : { event: `Order ${i}`, properties: { revenue: i * 1.25, items: [{ sku: `s${i}`, qty: 1 }], none: null } }),
      userId: `u${i}`,
      messageId: `lake-${run}-w${i}`,
      timestamp: "2026-04-26T09:00:00.000Z",
      sentAt: "2026-04-26T09:00:01.000Z",
      context: { library: { name: "analytics-node", version: "3.1.0" }, ip: "203.0.113.9", page: { path: `/p/${i}` } },
    }));
    const res = await post("/v1/batch", { batch: web }, { authorization: basic(WEB_KEY) });
    expect(await res.json()).toEqual({ success: true, accepted: 25 });
    const ios = [{ type: "screen", name: "Home", anonymousId: "a1", messageId: `lake-${run}-i0`, properties: { from: "push" } }];
    await post("/v1/batch", { batch: ios }, { authorization: basic(IOS_KEY) });

    const ids = [...web, ...ios].map((e) => e.messageId);
    const flushAll = async () => Promise.all([flusher("web", started)(), flusher("ios", started)()]);
    const { ndjson, parquet } = await landed(ids, flushAll);

    for (const rows of [ndjson, parquet]) {
      // Exactly once each.
      expect([...count(rows, (r) => r.row.messageId as string).values()].every((n) => n === 1)).toBe(true);
      expect(rows).toHaveLength(ids.length);
      for (const r of rows) {
        const receivedAt = (rows === ndjson ? r.row.receivedAt : (r.row.raw as Json).receivedAt) as string;
        expect({ source: r.source, dt: r.dt, hour: r.hour }).toEqual({ source: (r.row.messageId as string).includes("-i") ? "ios" : "web", ...partitionOf(receivedAt, 0) });
      }
    }

    const byId = (rows: Row[]) => new Map(rows.map((r) => [r.row.messageId as string, r.row]));
    const nd = byId(ndjson);
    const pq = byId(parquet);
    for (const sent of [...web, ...ios] as Json[]) {
      const id = sent.messageId as string;
      const raw = nd.get(id)!;
      // NDJSON holds the event as routed: what was sent, plus the enrichment (the client's timestamp moves to
      // originalTimestamp; timestamp is corrected for clock skew).
      const { timestamp, ...rest } = sent;
      expect(raw).toMatchObject(rest);
      if (timestamp) expect(raw.originalTimestamp).toBe(timestamp);
      expect(raw.receivedAt).toEqual(expect.any(String));
      const row = pq.get(id)!;
      expect(row.raw).toEqual(raw);
      expect(row.properties).toEqual(raw.properties ?? null);
      expect(row.traits).toEqual(raw.traits ?? null);
      expect(row.context).toEqual(raw.context ?? null);
      expect(row).toMatchObject({ messageId: id, type: raw.type, event: raw.event ?? null, name: raw.name ?? null, userId: raw.userId ?? null, anonymousId: raw.anonymousId ?? null });
      expect((row.receivedAt as Date).toISOString()).toBe(raw.receivedAt);
      expect((row.timestamp as Date).toISOString()).toBe(raw.timestamp);
      if (raw.sentAt) expect((row.sentAt as Date).toISOString()).toBe(raw.sentAt);
    }
    expect(pq.get(`lake-${run}-w1`)).toMatchObject({ context_library_name: "analytics-node", context_library_version: "3.1.0", context_ip: "203.0.113.9", context_page_path: "/p/1" });
  });

  it("still gets an event sent with integrations.All: false (the inspector does not)", async () => {
    const started = Date.now();
    const messageId = `lake-allfalse-${crypto.randomUUID()}`;
    const res = await post("/v1/track", { userId: "u1", event: "Private", messageId, integrations: { All: false } }, { authorization: basic(WEB_KEY) });
    expect(await res.json()).toEqual({ success: true, accepted: 1 });
    const { ndjson, parquet } = await landed([messageId], flusher("web", started));
    expect(ndjson.map((r) => r.row.integrations)).toEqual([{ All: false }]);
    expect(parquet).toHaveLength(1);
    expect((await storedEvents()).some((e) => e.messageId === messageId)).toBe(false);
  });

  it("does not duplicate rows when a message is redelivered, before or after a flush", async () => {
    const run = crypto.randomUUID().slice(0, 8);
    const receivedAt = new Date().toISOString();
    const events = [0, 1, 2].map((i) => ({ type: "track", event: "Redelivered", userId: "u1", messageId: `lake-redo-${run}-${i}`, receivedAt, timestamp: receivedAt }));
    const body = JSON.stringify({ v: 1, dest: "lake", source: "web", t0: Date.now(), tries: 0, events });
    const deliver = async (attempts: number) => {
      const batch = createMessageBatch("sluice-deliveries", [{ id: `redo-${attempts}`, timestamp: new Date(), attempts, body }]);
      const ctx = createExecutionContext();
      await worker.queue(batch, env, ctx);
      expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual([`redo-${attempts}`]);
    };
    const stub = lakeBuffer(env.LAKE_BUFFER, "lake", "web", receivedAt);
    await deliver(1);
    await deliver(2); // redelivered while still buffered
    await stub.flush();
    await deliver(3); // redelivered after its rows were flushed
    await stub.flush();
    const ids = events.map((e) => e.messageId);
    const { ndjson, parquet } = await landed(ids, () => stub.flush());
    for (const rows of [ndjson, parquet]) expect([...count(rows, (r) => r.row.messageId as string)].sort()).toEqual(ids.map((id) => [id, 1]));
    expect((await stub.status()).seenIds).toBeGreaterThanOrEqual(3);
  });

  it("keeps the rows when a write fails, and the retried flush rewrites the same files", async () => {
    // A buffer of its own (no pipeline traffic, no age alarm during the test), fed directly.
    const receivedAt = new Date().toISOString();
    const p = partitionOf(receivedAt, 0);
    const target: LakeTarget = { destinationId: "lakefail", sourceId: "ios", ...p, prefix: "lakefail", targetBytes: 1 << 20, maxAgeMs: 3600_000, formats: ["ndjson_gzip", "parquet"] };
    const stub = env.LAKE_BUFFER.get(env.LAKE_BUFFER.idFromName(lakeBufferName("lakefail", "ios", p)));
    const rows = [0, 1].map((i) => {
      const event = { type: "track", event: "Fragile", userId: "u1", messageId: `lake-fail-${crypto.randomUUID()}-${i}`, receivedAt, timestamp: receivedAt };
      return { messageId: event.messageId, json: JSON.stringify(event) };
    });
    expect(await stub.append(target, rows)).toMatchObject({ added: 2, duplicates: 0 });

    // The Parquet put fails after the NDJSON one succeeded.
    const failed = await runInDurableObject(stub, async (instance: LakeBufferObject) => {
      const self = instance as unknown as { env: Env };
      const real = self.env.BUCKET;
      const put = (key: string, ...rest: unknown[]) => (key.endsWith(".parquet") ? Promise.reject(new Error("R2 unavailable")) : (real.put as (...a: unknown[]) => unknown).call(real, key, ...rest));
      self.env = { ...self.env, BUCKET: { put } as unknown as R2Bucket };
      try {
        return await instance.flush().then(() => "flushed", (err: Error) => err.message);
      } finally {
        self.env = { ...self.env, BUCKET: real };
      }
    });
    expect(failed).toContain("R2 unavailable");
    const status = await stub.status();
    expect(status).toMatchObject({ bufferedRows: 2, pending: { rows: 2 } });
    const baseName = status.pending!.baseName;
    expect((await readLake("lakefail")).keys).toEqual([`lakefail/source=ios/dt=${p.dt}/hour=${p.hour}/${baseName}.ndjson.gz`]);

    // The retry writes the same keys (the NDJSON is replaced, not duplicated), then deletes the rows.
    const result = await stub.flush();
    expect(result.files.map((f) => f.key.split("/").pop())).toEqual([`${baseName}.ndjson.gz`, `${baseName}.parquet`]);
    expect(await stub.status()).toMatchObject({ bufferedRows: 0 });
    expect((await stub.status()).pending).toBeUndefined();
    const lake = await readLake("lakefail");
    expect(lake.keys).toHaveLength(2);
    expect(lake.ndjson.map((r) => r.row.messageId)).toEqual(rows.map((r) => r.messageId));
    expect(lake.parquet.map((r) => r.row.messageId)).toEqual(rows.map((r) => r.messageId));
    // Appending the same rows again adds nothing.
    expect(await stub.append(target, rows)).toMatchObject({ added: 0, duplicates: 2, bufferedRows: 0 });
  });

  it("writes full files by itself once the buffer reaches the target size, and keeps the tail until its max age", async () => {
    const receivedAt = new Date().toISOString();
    const p = partitionOf(receivedAt, 0);
    const target: LakeTarget = { destinationId: "lakesize", sourceId: "web", ...p, prefix: "lakesize", targetBytes: 10_000, maxAgeMs: 3600_000, formats: ["ndjson_gzip", "parquet"] };
    const stub = env.LAKE_BUFFER.get(env.LAKE_BUFFER.idFromName(lakeBufferName("lakesize", "web", p)));
    // 25 rows of exactly 1,000 bytes (999 of JSON and the newline) against a 10,000 byte target.
    const rows = Array.from({ length: 25 }, (_, i) => {
      const event = { type: "track", event: "Sized", messageId: `lake-size-${crypto.randomUUID()}-${String(i).padStart(2, "0")}`, receivedAt, pad: "" };
      event.pad = "x".repeat(999 - JSON.stringify(event).length);
      return { messageId: event.messageId, json: JSON.stringify(event) };
    });
    expect(await stub.append(target, rows)).toMatchObject({ added: 25, bufferedRows: 25, bufferedBytes: 25_000 });
    // No operator flush: the alarm writes two files of 10 rows; 5 rows wait for their max age (an hour here).
    const lake = await eventually(async () => {
      const l = await readLake("lakesize");
      return l.keys.length === 4 ? l : undefined;
    });
    const perFile = count(lake.ndjson, (r) => r.key);
    expect([...perFile.values()]).toEqual([10, 10]);
    expect(lake.parquet.map((r) => r.row.messageId)).toEqual(rows.slice(0, 20).map((r) => r.messageId));
    const status = await stub.status();
    expect(status).toMatchObject({ bufferedRows: 5, bufferedBytes: 5_000 });
    expect(status.alarm).toBe(status.oldestBufferedAt! + 3600_000);
  });

  it("flushes by itself through the pipeline: at the target size, and when the oldest row reaches its max age", async () => {
    const run = crypto.randomUUID().slice(0, 8);
    // ~120 KB of events against a 0.05 MB (51,200 byte) target: two full files, and a tail the age alarm writes.
    const batch = Array.from({ length: 60 }, (_, i) => ({ type: "track", event: "Bulk", userId: `u${i}`, messageId: `lake-bulk-${run}-${i}`, properties: { pad: "x".repeat(1900) } }));
    const started = Date.now();
    await post("/v1/batch", { batch }, { authorization: basic(IOS_KEY) });
    const ids = batch.map((e) => e.messageId);
    const { ndjson, parquet } = await landed(ids, async () => {}, 20_000);
    expect(ndjson).toHaveLength(60);
    expect(parquet).toHaveLength(60);
    const files = count(ndjson, (r) => r.key);
    expect(files.size).toBeGreaterThanOrEqual(3);
    // Each file holds at most the target size, plus the one event that crossed it.
    for (const n of files.values()) expect(n).toBeLessThanOrEqual(Math.ceil(51_200 / 1900) + 1);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

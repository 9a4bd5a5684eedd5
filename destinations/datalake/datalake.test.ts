import { parquetMetadata, parquetReadObjects } from "hyparquet";
import { describe, expect, it } from "vitest";
import type { Problem } from "../../src/config/schema.ts";
import type { DeliveryContext } from "../../src/delivery/destination.ts";
import { RetryableError } from "../../src/delivery/errors.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import type { LakeRow, LakeTarget } from "./buffer-object.ts";
import {
  LAKE_COLUMNS,
  MemorySink,
  R2ObjectSink,
  fileBaseName,
  fileKey,
  lakeBufferName,
  partitionOf,
  partitionPath,
  writeNdjsonGzip,
  writeParquet,
  type ByteSink,
} from "./files.ts";
import { datalake, type DatalakeSettings } from "./index.ts";

const NOW = Date.UTC(2026, 3, 26, 12, 0, 0);

function event(n: number, extra: Record<string, unknown> = {}): SluiceEvent {
  return {
    type: "track",
    event: "Order Completed",
    userId: `u${n}`,
    messageId: `m-${n}`,
    receivedAt: "2026-04-26T09:15:30.250Z",
    timestamp: "2026-04-26T09:15:29.000Z",
    originalTimestamp: "2026-04-26T09:15:28.000Z",
    sentAt: "2026-04-26T09:15:29.500Z",
    properties: { revenue: n * 1.5, products: [{ sku: `s${n}`, price: 10 }], note: "ünïcødé ✓", nothing: null },
    context: { library: { name: "analytics.js", version: "5.1.0" }, ip: "203.0.113.7", page: { url: "https://example.com/a", path: "/a" } },
    integrations: {},
    ...extra,
  };
}

async function gunzip(bytes: Uint8Array): Promise<string> {
  return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
}

function arrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

async function parquet(lines: string[][]): Promise<{ buffer: ArrayBuffer; rows: Record<string, unknown>[] }> {
  const sink = new MemorySink();
  await writeParquet(lines, sink);
  const buffer = arrayBuffer(sink.bytes());
  return { buffer, rows: (await parquetReadObjects({ file: buffer })) as Record<string, unknown>[] };
}

describe("partitions and names", () => {
  it("partitions by receivedAt in UTC, hour zero-padded", () => {
    expect(partitionOf("2026-04-26T09:15:30.250Z", NOW)).toEqual({ dt: "2026-04-26", hour: "09" });
    expect(partitionOf("2026-04-26T23:59:59.999-02:00", NOW)).toEqual({ dt: "2026-04-27", hour: "01" });
    expect(partitionOf(Date.UTC(2026, 0, 1, 0, 0), NOW)).toEqual({ dt: "2026-01-01", hour: "00" });
  });

  it("falls back to the delivery time when receivedAt is missing or unreadable", () => {
    for (const bad of [undefined, null, "yesterday", "", {}, Number.NaN, -1, 8.64e15]) expect(partitionOf(bad, NOW)).toEqual({ dt: "2026-04-26", hour: "12" });
  });

  it("lays files out hive-style under the prefix, one base name per flush for both formats", () => {
    const p = { dt: "2026-04-26", hour: "09" };
    expect(partitionPath("lake", "web", p)).toBe("lake/source=web/dt=2026-04-26/hour=09/");
    const base = fileBaseName("lake", Date.UTC(2026, 3, 26, 9, 15, 0, 123), "1a2b3c4d");
    expect(base).toBe("lake-20260426T091500123Z-1a2b3c4d");
    expect(fileKey("raw/lake", "ios", p, base, "parquet")).toBe("raw/lake/source=ios/dt=2026-04-26/hour=09/lake-20260426T091500123Z-1a2b3c4d.parquet");
    expect(fileKey("lake", "web", p, base, "ndjson_gzip")).toBe("lake/source=web/dt=2026-04-26/hour=09/lake-20260426T091500123Z-1a2b3c4d.ndjson.gz");
    expect(lakeBufferName("lake", "web", p)).toBe("lake/web/2026-04-26/09");
  });
});

describe("gzip NDJSON encoder", () => {
  it("writes one line per row across chunks, in order, as one gzip stream", async () => {
    const lines = [1, 2, 3, 4, 5].map((n) => JSON.stringify(event(n)));
    const sink = new MemorySink();
    await writeNdjsonGzip([lines.slice(0, 2), [], lines.slice(2)], sink);
    const bytes = sink.bytes();
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
    const text = await gunzip(bytes);
    expect(text).toBe(lines.join("\n") + "\n");
    expect(text.split("\n").filter(Boolean).map((l) => JSON.parse(l))).toEqual([1, 2, 3, 4, 5].map((n) => event(n)));
  });

  it("accepts async chunks and fails (without hanging) when the sink fails", async () => {
    async function* chunks() {
      for (let i = 0; i < 50; i++) yield [JSON.stringify({ ...event(i), pad: crypto.randomUUID().repeat(2000) })];
    }
    const failing: ByteSink = { write: async () => Promise.reject(new Error("R2 down")) };
    await expect(writeNdjsonGzip(chunks(), failing)).rejects.toThrow("R2 down");
  });
});

describe("Parquet encoder", () => {
  it("types the common fields: strings UTF8, timestamps INT64 millis (UTC), JSON columns", async () => {
    const { buffer } = await parquet([[JSON.stringify(event(1))]]);
    const md = parquetMetadata(buffer);
    const byName = Object.fromEntries(md.schema.slice(1).map((e) => [e.name, e]));
    expect(Object.keys(byName)).toEqual(LAKE_COLUMNS.map((c) => c.name));
    expect(byName.messageId).toMatchObject({ type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" });
    expect(byName.userId).toMatchObject({ type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" });
    for (const t of ["timestamp", "originalTimestamp", "sentAt", "receivedAt"])
      expect(byName[t]).toMatchObject({ type: "INT64", converted_type: "TIMESTAMP_MILLIS", logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MILLIS" } });
    for (const j of ["properties", "traits", "context", "raw"]) expect(byName[j]).toMatchObject({ type: "BYTE_ARRAY", converted_type: "JSON" });
    expect(md.created_by).toContain("sluice");
  });

  it("round-trips: typed columns hold the values, JSON columns the original objects, raw the whole event", async () => {
    const events = [
      event(1),
      event(2, { type: "identify", event: undefined, traits: { plan: "pro", tags: ["a", "b"], nested: { deep: [1, { x: true }] } }, properties: undefined }),
      event(3, { type: "page", name: "Home", userId: 42, anonymousId: "anon-3", sentAt: "not a date", context: { locale: "de-DE", userAgent: "UA/1" } }),
    ].map((e) => JSON.parse(JSON.stringify(e)) as Record<string, unknown>);
    const { rows } = await parquet([events.map((e) => JSON.stringify(e))]);
    expect(rows).toHaveLength(3);
    const [a, b, c] = rows as Record<string, unknown>[];
    expect(a).toMatchObject({
      messageId: "m-1", type: "track", event: "Order Completed", name: null, userId: "u1", anonymousId: null,
      context_library_name: "analytics.js", context_library_version: "5.1.0", context_ip: "203.0.113.7",
      context_page_url: "https://example.com/a", context_page_path: "/a", context_locale: null,
    });
    expect((a!.receivedAt as Date).toISOString()).toBe("2026-04-26T09:15:30.250Z");
    expect((a!.timestamp as Date).toISOString()).toBe("2026-04-26T09:15:29.000Z");
    expect((a!.originalTimestamp as Date).toISOString()).toBe("2026-04-26T09:15:28.000Z");
    expect((a!.sentAt as Date).toISOString()).toBe("2026-04-26T09:15:29.500Z");
    for (const [row, original] of [[a, events[0]], [b, events[1]], [c, events[2]]] as const) {
      expect(row!.properties).toEqual(original!.properties ?? null);
      expect(row!.traits).toEqual(original!.traits ?? null);
      expect(row!.context).toEqual(original!.context ?? null);
      expect(row!.raw).toEqual(original);
    }
    expect(b).toMatchObject({ type: "identify", event: null, properties: null });
    // A number where a string belongs is kept as text; an unreadable timestamp is null (raw still has it).
    expect(c).toMatchObject({ type: "page", name: "Home", userId: "42", anonymousId: "anon-3", sentAt: null, context_locale: "de-DE", context_user_agent: "UA/1" });
    expect((c!.raw as Record<string, unknown>).sentAt).toBe("not a date");
  });

  it("writes one row group per chunk, with statistics on typed columns only", async () => {
    const chunks = [[1, 2], [3], [4, 5, 6]].map((ns) => ns.map((n) => JSON.stringify(event(n))));
    const { buffer, rows } = await parquet(chunks);
    expect(rows.map((r) => r.messageId)).toEqual(["m-1", "m-2", "m-3", "m-4", "m-5", "m-6"]);
    const md = parquetMetadata(buffer);
    expect(md.row_groups.map((g) => Number(g.num_rows))).toEqual([2, 1, 3]);
    const stats = (name: string) => md.row_groups[0]!.columns.find((c) => c.meta_data?.path_in_schema[0] === name)?.meta_data?.statistics;
    expect(stats("receivedAt")?.min_value).toBeDefined();
    expect(stats("raw")?.min_value).toBeUndefined();
    expect(stats("properties")?.max_value).toBeUndefined();
  });

  it("streams to the sink per row group instead of holding the file", async () => {
    const writes: number[] = [];
    const sink: ByteSink = { write: async (b) => void writes.push(b.length) };
    const big = (n: number) => JSON.stringify(event(n, { properties: { blob: crypto.randomUUID().repeat(300) } }));
    await writeParquet([Array.from({ length: 50 }, (_, i) => big(i)), Array.from({ length: 50 }, (_, i) => big(100 + i))], sink);
    expect(writes.length).toBeGreaterThanOrEqual(3); // header + group 1, group 2, footer
  });
});

/** A fake R2 bucket recording puts and multipart uploads. */
function fakeBucket(opts: { failPart?: number } = {}) {
  const log: string[] = [];
  const objects = new Map<string, Uint8Array>();
  const bucket = {
    async put(key: string, value: Uint8Array) {
      log.push(`put ${key} ${value.length}`);
      objects.set(key, value);
    },
    async createMultipartUpload(key: string) {
      log.push(`create ${key}`);
      const parts = new Map<number, Uint8Array>();
      return {
        async uploadPart(n: number, value: Uint8Array) {
          if (n === opts.failPart) throw new Error(`part ${n} failed`);
          log.push(`part ${n} ${value.length}`);
          parts.set(n, value.slice());
          return { partNumber: n, etag: `e${n}` };
        },
        async complete(list: { partNumber: number }[]) {
          log.push(`complete ${list.map((p) => p.partNumber).join(",")}`);
          const all = list.map((p) => parts.get(p.partNumber)!);
          const out = new Uint8Array(all.reduce((n, p) => n + p.length, 0));
          let at = 0;
          for (const p of all) (out.set(p, at), (at += p.length));
          objects.set(key, out);
        },
        async abort() {
          log.push(`abort ${key}`);
        },
      };
    },
  };
  return { bucket: bucket as unknown as R2Bucket, log, objects };
}

describe("R2 object sink", () => {
  const bytes = (n: number, seed = 0) => Uint8Array.from({ length: n }, (_, i) => (i + seed) % 251);

  it("puts a file smaller than one part in one request", async () => {
    const { bucket, log, objects } = fakeBucket();
    const sink = new R2ObjectSink(bucket, "k", {}, 10);
    await sink.write(bytes(4));
    await sink.write(bytes(5, 4));
    await sink.close();
    expect(log).toEqual(["put k 9"]);
    expect([...objects.get("k")!]).toEqual([...bytes(9)]);
  });

  it("uploads larger files in equal parts and a shorter last one, byte for byte", async () => {
    const { bucket, log, objects } = fakeBucket();
    const sink = new R2ObjectSink(bucket, "k", {}, 10);
    for (const [len, seed] of [[7, 0], [9, 7], [3, 16], [6, 19]] as const) await sink.write(bytes(len, seed));
    await sink.close();
    expect(log).toEqual(["create k", "part 1 10", "part 2 10", "part 3 5", "complete 1,2,3"]);
    expect([...objects.get("k")!]).toEqual([...bytes(25)]);
    expect(sink.size).toBe(25);
  });

  it("completes without an empty last part when the size is an exact multiple", async () => {
    const { bucket, log } = fakeBucket();
    const sink = new R2ObjectSink(bucket, "k", {}, 10);
    await sink.write(bytes(20));
    await sink.close();
    expect(log).toEqual(["create k", "part 1 10", "part 2 10", "complete 1,2"]);
  });

  it("aborts an unfinished multipart upload", async () => {
    const { bucket, log } = fakeBucket({ failPart: 2 });
    const sink = new R2ObjectSink(bucket, "k", {}, 10);
    await expect(sink.write(bytes(25))).rejects.toThrow("part 2 failed");
    await sink.abort();
    expect(log).toEqual(["create k", "part 1 10", "abort k"]);
  });
});

describe("datalake settings", () => {
  const check = (v: unknown) => {
    const problems: Problem[] = [];
    return { value: datalake.settings.check(v, [], problems), problems: problems.map((p) => `${p.path.join(".")}: ${p.message}`) };
  };

  it("defaults: prefix lake, 64 MB, 300 s, both formats", () => {
    expect(check({}).value).toEqual({ prefix: "lake", target_file_mb: 64, max_file_age_seconds: 300, formats: ["ndjson_gzip", "parquet"] });
  });

  it("rejects bad values with their path", () => {
    expect(check({ prefix: "/lake/" }).problems[0]).toMatch(/^prefix: /);
    expect(check({ formats: [] }).problems[0]).toMatch(/^formats: must have at least 1/);
    expect(check({ formats: ["csv"] }).problems[0]).toMatch(/^formats\.0: expected one of "ndjson_gzip", "parquet"/);
    expect(check({ target_file_mb: 4096 }).problems[0]).toMatch(/^target_file_mb: must be ≤ 1024/);
    expect(check({ max_file_age_seconds: 0 }).problems[0]).toMatch(/^max_file_age_seconds: must be ≥ 1/);
    expect(check({ colour: "blue" }).problems[0]).toMatch(/unknown key "colour"/);
  });

  it("receives events sent with integrations.All: false", () => {
    expect(datalake.receivesAllEvents).toBe(true);
  });
});

describe("datalake deliver()", () => {
  type Call = { name: string; target: LakeTarget; rows: LakeRow[] };
  function namespace(fail: (name: string) => boolean = () => false) {
    const calls: Call[] = [];
    const ns = {
      idFromName: (name: string) => ({ name }),
      get: (id: { name: string }) => ({
        append: async (target: LakeTarget, rows: LakeRow[]) => {
          if (fail(id.name)) throw new Error("object overloaded");
          calls.push({ name: id.name, target, rows });
          return { added: rows.length, duplicates: 0, bufferedRows: rows.length, bufferedBytes: 0 };
        },
      }),
    };
    return { ns, calls };
  }
  const settings: DatalakeSettings = { prefix: "lake", target_file_mb: 0.5, max_file_age_seconds: 60, formats: ["parquet", "ndjson_gzip", "parquet"] };
  const ctx = (ns: unknown, sources?: string[]): DeliveryContext<DatalakeSettings> => ({
    destinationId: "lake", settings, bucket: {} as R2Bucket, durableObject: (b: string) => (b === "LAKE_BUFFER" ? (ns as unknown as DurableObjectNamespace) : undefined), fetch, now: () => NOW, sources,
  });

  it("appends each (source, partition hour) to its own buffer, raw JSON, and answers ok per event", async () => {
    const { ns, calls } = namespace();
    const events = [event(1), event(2, { receivedAt: "2026-04-26T10:00:00.000Z" }), event(3), event(4, { receivedAt: undefined })];
    const results = await datalake.deliver(events, ctx(ns, ["web", "web", "ios", "web"]));
    expect(results).toEqual([{ ok: true }, { ok: true }, { ok: true }, { ok: true }]);
    const byName = Object.fromEntries(calls.map((c) => [c.name, c]));
    expect(Object.keys(byName).sort()).toEqual(["lake/ios/2026-04-26/09", "lake/web/2026-04-26/09", "lake/web/2026-04-26/10", "lake/web/2026-04-26/12"]);
    expect(byName["lake/web/2026-04-26/09"]!.rows).toEqual([{ messageId: "m-1", json: JSON.stringify(events[0]) }]);
    expect(byName["lake/web/2026-04-26/09"]!.target).toEqual({
      destinationId: "lake", sourceId: "web", dt: "2026-04-26", hour: "09", prefix: "lake", targetBytes: 524288, maxAgeMs: 60_000, formats: ["parquet", "ndjson_gzip"],
    });
  });

  it("fails only the events of a buffer that could not take them, retryably", async () => {
    const { ns } = namespace((name) => name.startsWith("lake/ios/"));
    const results = await datalake.deliver([event(1), event(2)], ctx(ns, ["web", "ios"]));
    expect(results[0]).toEqual({ ok: true });
    expect(results[1]!.ok).toBe(false);
    const error = (results[1] as { error: RetryableError }).error;
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.message).toContain("object overloaded");
  });

  it("fails only the event it cannot serialize, permanently, and appends its neighbours", async () => {
    const { ns, calls } = namespace();
    const results = await datalake.deliver([event(1), event(2, { properties: { huge: 10n } }), event(3)], ctx(ns, ["web", "web", "web"]));
    expect(results[0]).toEqual({ ok: true });
    expect(results[1]).toMatchObject({ ok: false, error: { retryable: false, code: "unsendable" } });
    expect(results[2]).toEqual({ ok: true });
    expect(calls.flatMap((c) => c.rows.map((r) => r.messageId))).toEqual(["m-1", "m-3"]);
  });

  it("retries (never guesses) when the consumer did not give the events' sources", async () => {
    const { ns } = namespace();
    await expect(datalake.deliver([event(1)], ctx(ns))).rejects.toBeInstanceOf(RetryableError);
    await expect(datalake.deliver([event(1)], ctx(undefined, ["web"]))).rejects.toBeInstanceOf(RetryableError);
  });
});

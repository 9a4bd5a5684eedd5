/**
 * The data lake's file layout and encoders, free of Workers APIs beyond web standards (so they are unit-tested
 * in Node): partition naming, gzip NDJSON via CompressionStream, Parquet via hyparquet-writer, and a sink that
 * streams either into one R2 object (multipart above one part), so memory never scales with the file size.
 *
 * Layout: `<prefix>/source=<source-id>/dt=YYYY-MM-DD/hour=HH/<destination-id>-<flush time>-<nonce>.{ndjson.gz,parquet}`,
 * partitioned by the event's `receivedAt` (UTC), the hive convention query engines read as columns.
 */
import type { ColumnSource, SchemaElement } from "hyparquet-writer/src/index.js";

export const LAKE_FORMATS = ["ndjson_gzip", "parquet"] as const;
export type LakeFormat = (typeof LAKE_FORMATS)[number];

export const FORMAT_EXTENSION: Record<LakeFormat, string> = { ndjson_gzip: ".ndjson.gz", parquet: ".parquet" };
export const FORMAT_CONTENT_TYPE: Record<LakeFormat, string> = {
  // Not `Content-Encoding: gzip`: HTTP clients would inflate it on download and then fail on the .gz name.
  ndjson_gzip: "application/gzip",
  parquet: "application/vnd.apache.parquet",
};

/** Raw event JSON read per step when encoding; also one Parquet row group. Bounds memory per flush. */
export const ROW_GROUP_BYTES = 4 * 1024 * 1024;
/**
 * R2 multipart part size. R2 wants every part but the last ≥ 5 MiB and all of them the same size, so files
 * above this size are uploaded in parts of exactly this many bytes.
 */
export const PART_BYTES = 8 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------------------
// Partitions and names

/** One partition: a UTC day and hour. */
export interface Partition {
  dt: string;
  hour: string;
}

/** Years 0000–9999 only, so the ISO string always has its fixed shape. */
const MAX_ISO_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * The partition of an event by its `receivedAt` (Sluice sets it on every accepted event); an unreadable value
 * falls back to `fallbackMs` (the delivery time).
 * @example partitionOf("2026-04-26T09:15:00.000Z", Date.now()) // { dt: "2026-04-26", hour: "09" }
 */
export function partitionOf(receivedAt: unknown, fallbackMs: number): Partition {
  const ms = typeof receivedAt === "string" ? Date.parse(receivedAt) : typeof receivedAt === "number" ? receivedAt : Number.NaN;
  const iso = new Date(Number.isFinite(ms) && ms >= 0 && ms <= MAX_ISO_MS ? ms : fallbackMs).toISOString();
  return { dt: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

/** @example partitionPath("lake", "web", { dt: "2026-04-26", hour: "09" }) // "lake/source=web/dt=2026-04-26/hour=09/" */
export function partitionPath(prefix: string, sourceId: string, p: Partition): string {
  return `${prefix}/source=${sourceId}/dt=${p.dt}/hour=${p.hour}/`;
}

/**
 * The base name of one flush's files (both formats share it). Chosen once per flush and persisted with it, so a
 * retried flush overwrites its own files; the time and nonce keep flushes (and destinations) apart.
 * @example fileBaseName("lake", Date.UTC(2026, 3, 26, 9, 15), "1a2b3c4d") // "lake-20260426T091500000Z-1a2b3c4d"
 */
export function fileBaseName(destinationId: string, flushStartedMs: number, nonce: string): string {
  return `${destinationId}-${new Date(flushStartedMs).toISOString().replace(/[-:.]/g, "")}-${nonce}`;
}

export function fileKey(prefix: string, sourceId: string, p: Partition, baseName: string, format: LakeFormat): string {
  return partitionPath(prefix, sourceId, p) + baseName + FORMAT_EXTENSION[format];
}

/** The Durable Object that buffers one (destination, source, partition hour). */
export function lakeBufferName(destinationId: string, sourceId: string, p: Partition): string {
  return `${destinationId}/${sourceId}/${p.dt}/${p.hour}`;
}

// ---------------------------------------------------------------------------------------------------------
// Sinks

/** Where encoded bytes go, in order. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
}

/** Rows to encode: raw event JSON strings, in steps of at most about ROW_GROUP_BYTES. */
export type RowChunks = Iterable<readonly string[]> | AsyncIterable<readonly string[]>;

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]!.length === total) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Collects everything in memory (tests, small files). */
export class MemorySink implements ByteSink {
  private chunks: Uint8Array[] = [];
  private total = 0;
  async write(bytes: Uint8Array): Promise<void> {
    this.chunks.push(bytes);
    this.total += bytes.length;
  }
  bytes(): Uint8Array {
    return concat(this.chunks, this.total);
  }
}

/**
 * Streams bytes into one R2 object: a single put when the whole object fits one part, else a multipart upload
 * of equal PART_BYTES parts (created lazily) and a shorter last part. `close()` makes the object visible (a put
 * to an existing key replaces it); `abort()` discards an unfinished upload.
 */
export class R2ObjectSink implements ByteSink {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private upload?: R2MultipartUpload;
  private parts: R2UploadedPart[] = [];
  /** Bytes written so far. */
  size = 0;

  constructor(
    private readonly bucket: R2Bucket,
    readonly key: string,
    private readonly options: R2PutOptions & R2MultipartOptions,
    private readonly partBytes = PART_BYTES,
  ) {}

  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    this.size += bytes.length;
    while (this.pendingBytes >= this.partBytes) await this.uploadPart(this.take(this.partBytes));
  }

  /** Removes and returns the first n pending bytes. */
  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const head = this.pending[0]!;
      const used = Math.min(head.length, n - at);
      out.set(used === head.length ? head : head.subarray(0, used), at);
      at += used;
      if (used === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(used);
    }
    this.pendingBytes -= n;
    return out;
  }

  private async uploadPart(part: Uint8Array): Promise<void> {
    this.upload ??= await this.bucket.createMultipartUpload(this.key, this.options);
    this.parts.push(await this.upload.uploadPart(this.parts.length + 1, part));
  }

  async close(): Promise<void> {
    const rest = this.take(this.pendingBytes);
    if (!this.upload) {
      await this.bucket.put(this.key, rest, this.options);
      return;
    }
    if (rest.length > 0) await this.uploadPart(rest);
    await this.upload.complete(this.parts);
  }

  async abort(): Promise<void> {
    await this.upload?.abort();
  }
}

// ---------------------------------------------------------------------------------------------------------
// NDJSON (gzip)

const encoder = new TextEncoder();

/** One gzip stream of `line\n` for every row, streamed to the sink. */
export async function writeNdjsonGzip(chunks: RowChunks, sink: ByteSink): Promise<void> {
  const gzip = new CompressionStream("gzip");
  const writer = gzip.writable.getWriter();
  const drain = (async () => {
    const reader = gzip.readable.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      await sink.write(value);
    }
  })();
  // If the sink fails, the compressor stops being read and a write would wait forever: race against it.
  const drainFailed = drain.then(() => new Promise<never>(() => {}));
  drainFailed.catch(() => {});
  try {
    for await (const lines of chunks) {
      if (lines.length === 0) continue;
      await Promise.race([writer.write(encoder.encode(lines.join("\n") + "\n")), drainFailed]);
    }
    await Promise.race([writer.close(), drainFailed]);
  } catch (err) {
    await writer.abort(err).catch(() => {});
    await drain.catch(() => {});
    throw err;
  }
  await drain;
}

// ---------------------------------------------------------------------------------------------------------
// Parquet

type Json = Record<string, unknown>;
type ColumnKind = "string" | "timestamp" | "json";

export interface LakeColumn {
  name: string;
  kind: ColumnKind;
  /** Always present (Sluice guarantees it on every event). */
  required?: boolean;
  get(event: Json): unknown;
}

function at(event: Json, ...path: string[]): unknown {
  let v: unknown = event;
  for (const k of path) {
    if (typeof v !== "object" || v === null || Array.isArray(v) || !Object.hasOwn(v, k)) return undefined;
    v = (v as Json)[k];
  }
  return v;
}

/** Strings as they are; numbers and booleans (e.g. a numeric userId) as text; anything else null (it stays in `raw`). */
function text(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return null;
}

/** ISO-8601 text or epoch millis → Date; anything unreadable null (the original stays in `raw`). */
function time(v: unknown): Date | null {
  const ms = typeof v === "string" ? Date.parse(v) : typeof v === "number" ? v : Number.NaN;
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(Math.trunc(ms)) : null;
}

/** Plain objects only (a JSON column holds the object or null). */
function object(v: unknown): Json | null {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : null;
}

const field = (name: string, kind: ColumnKind, get: (e: Json) => unknown, required = false): LakeColumn => ({ name, kind, get, required });

/**
 * The Parquet columns, in file order: Segment's common fields typed (strings; timestamps as INT64 millis, UTC),
 * a few context fields flattened, then `properties`, `traits`, `context` and the whole event (`raw`) as JSON
 * text, so nothing the event held is lost.
 */
export const LAKE_COLUMNS: readonly LakeColumn[] = [
  field("messageId", "string", (e) => text(e.messageId) ?? "", true),
  field("type", "string", (e) => text(e.type) ?? "", true),
  field("event", "string", (e) => text(e.event)),
  field("name", "string", (e) => text(e.name)),
  field("userId", "string", (e) => text(e.userId)),
  field("anonymousId", "string", (e) => text(e.anonymousId)),
  field("groupId", "string", (e) => text(e.groupId)),
  field("previousId", "string", (e) => text(e.previousId)),
  field("timestamp", "timestamp", (e) => time(e.timestamp)),
  field("originalTimestamp", "timestamp", (e) => time(e.originalTimestamp)),
  field("sentAt", "timestamp", (e) => time(e.sentAt)),
  field("receivedAt", "timestamp", (e) => time(e.receivedAt)),
  field("context_library_name", "string", (e) => text(at(e, "context", "library", "name"))),
  field("context_library_version", "string", (e) => text(at(e, "context", "library", "version"))),
  field("context_ip", "string", (e) => text(at(e, "context", "ip"))),
  field("context_user_agent", "string", (e) => text(at(e, "context", "userAgent"))),
  field("context_locale", "string", (e) => text(at(e, "context", "locale"))),
  field("context_page_url", "string", (e) => text(at(e, "context", "page", "url"))),
  field("context_page_path", "string", (e) => text(at(e, "context", "page", "path"))),
  field("properties", "json", (e) => object(e.properties)),
  field("traits", "json", (e) => object(e.traits)),
  field("context", "json", (e) => object(e.context)),
  field("raw", "json", (e) => e),
];

function schemaElement(c: LakeColumn): SchemaElement {
  const repetition_type = c.required ? "REQUIRED" : "OPTIONAL";
  switch (c.kind) {
    case "string":
      return { name: c.name, type: "BYTE_ARRAY", converted_type: "UTF8", logical_type: { type: "STRING" }, repetition_type };
    case "json":
      return { name: c.name, type: "BYTE_ARRAY", converted_type: "JSON", logical_type: { type: "JSON" }, repetition_type };
    case "timestamp":
      return {
        name: c.name,
        type: "INT64",
        converted_type: "TIMESTAMP_MILLIS",
        logical_type: { type: "TIMESTAMP", isAdjustedToUTC: true, unit: "MILLIS" },
        repetition_type,
      };
  }
}

export const LAKE_SCHEMA: SchemaElement[] = [{ name: "root", num_children: LAKE_COLUMNS.length }, ...LAKE_COLUMNS.map(schemaElement)];

/** Column data for one row group. JSON columns get objects: the writer serializes them. */
export function parquetColumnData(lines: readonly string[]): ColumnSource[] {
  const events = lines.map((line) => JSON.parse(line) as Json);
  return LAKE_COLUMNS.map((c) => ({
    name: c.name,
    data: events.map((e) => c.get(e)),
    // min/max of a JSON column would copy whole documents into the footer; typed columns keep theirs (pruning).
    statistics: c.kind !== "json",
  }));
}

/**
 * hyparquet-writer is loaded (and evaluated) on the first Parquet file an isolate writes, not at every isolate's
 * start: most isolates never write one (only datalake buffer objects do, and only for the parquet format).
 */
let parquetLib: ReturnType<typeof loadParquetLib> | undefined;
async function loadParquetLib() {
  const { ByteWriter, ParquetWriter } = await import("hyparquet-writer/src/index.js");
  /** A ByteWriter that hands what it holds to a sink after every row group, so memory is one row group. */
  class SinkWriter extends ByteWriter {
    constructor(private readonly sink: ByteSink) {
      super(1 << 20);
    }
    flush(): Promise<void> | undefined {
      if (this.index === 0) return undefined;
      const bytes = new Uint8Array(this.buffer.slice(0, this.index));
      this.index = 0;
      return this.sink.write(bytes);
    }
    override finish(): Promise<void> | undefined {
      return this.flush();
    }
  }
  return { ParquetWriter, SinkWriter };
}

/** One Parquet file (SNAPPY pages, one row group per chunk of rows), streamed to the sink. */
export async function writeParquet(chunks: RowChunks, sink: ByteSink, kvMetadata: { key: string; value: string }[] = []): Promise<number> {
  const { ParquetWriter, SinkWriter } = await (parquetLib ??= loadParquetLib());
  const writer = new SinkWriter(sink);
  const pq = new ParquetWriter({ writer, schema: LAKE_SCHEMA, createdBy: "sluice datalake (hyparquet-writer)", kvMetadata });
  let rows = 0;
  for await (const lines of chunks) {
    if (lines.length === 0) continue;
    await pq.write({ columnData: parquetColumnData(lines), rowGroupSize: lines.length });
    rows += lines.length;
  }
  await pq.finish();
  return rows;
}

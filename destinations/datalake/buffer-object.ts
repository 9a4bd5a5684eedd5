/**
 * LakeBufferObject: one Durable Object per (datalake destination, source, partition hour) that assembles the
 * events of many queue messages into large files. SQLite-backed:
 *
 * - `append` stores events (deduplicated by messageId, so a redelivered message adds nothing) and answers only
 *   once they are durable; the adapter reports the events delivered only then.
 * - A flush starts when the buffered raw JSON reaches the target size (soon after, from the alarm) or the oldest
 *   row reaches its max age (alarm), or when an operator calls `flush()`. It first records which rows it takes
 *   and the files' base name, writes every format to R2, and only then deletes the rows. A failed write leaves
 *   everything as it was and the retry rewrites the same keys with the same rows (R2 puts replace), so a flush
 *   never loses or duplicates rows.
 * - The messageIds seen stay for DEDUPE_MS after they were buffered, so redeliveries after a flush (queue retries
 *   of a partly failed batch, a dead-letter replay) are still recognized; then the alarm prunes them.
 */
import { DurableObject } from "cloudflare:workers";
import { utf8Length } from "../../src/pipeline/json-size.ts";
import {
  FORMAT_CONTENT_TYPE,
  R2ObjectSink,
  ROW_GROUP_BYTES,
  fileBaseName,
  fileKey,
  writeNdjsonGzip,
  writeParquet,
  type LakeFormat,
} from "./files.ts";

/** What a buffer is and how it flushes; sent with every append (settings may change with a deploy). */
export interface LakeTarget {
  destinationId: string;
  sourceId: string;
  dt: string;
  hour: string;
  prefix: string;
  targetBytes: number;
  maxAgeMs: number;
  formats: LakeFormat[];
}

export interface LakeRow {
  messageId: string;
  /** The event as routed to the destination, JSON. */
  json: string;
}

export interface AppendResult {
  added: number;
  duplicates: number;
  bufferedRows: number;
  bufferedBytes: number;
}

export interface LakeFile {
  key: string;
  format: LakeFormat;
  rows: number;
  /** Object size. */
  bytes: number;
}

export interface FlushResult {
  files: LakeFile[];
  rows: number;
  remainingRows: number;
}

export interface LakeBufferStatus {
  target?: LakeTarget;
  bufferedRows: number;
  bufferedBytes: number;
  oldestBufferedAt?: number;
  seenIds: number;
  pending?: PendingFlush;
  alarm: number | null;
  failures: number;
}

/** A flush in progress: the rows it takes (seq ≤ maxSeq) and the files' base name. Persisted before writing. */
export interface PendingFlush {
  baseName: string;
  prefix: string;
  maxSeq: number;
  rows: number;
  bytes: number;
  formats: LakeFormat[];
}

/** How long a messageId is remembered after it was buffered (the queue's retry window is 4 h by default). */
export const DEDUPE_MS = 48 * 3600_000;
/** Retry delays after a failed flush: 10 s doubling to 10 min. */
const RETRY_BASE_MS = 10_000;
const RETRY_MAX_MS = 600_000;

export class LakeBufferObject extends DurableObject<Env> {
  private target?: LakeTarget;
  private targetJson?: string;
  private bufferedRows = 0;
  private bufferedBytes = 0;
  private flushing?: Promise<unknown>;
  private failures = 0;
  /** No flush attempt before this time (backoff after a failure). */
  private retryAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS rows (seq INTEGER PRIMARY KEY AUTOINCREMENT, json TEXT NOT NULL, bytes INTEGER NOT NULL, added_at INTEGER NOT NULL)");
    sql.exec("CREATE TABLE IF NOT EXISTS seen (message_id TEXT PRIMARY KEY, at INTEGER NOT NULL)");
    sql.exec("CREATE INDEX IF NOT EXISTS seen_at ON seen (at)");
    sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    this.targetJson = this.meta("target");
    if (this.targetJson) this.target = JSON.parse(this.targetJson) as LakeTarget;
    this.recount();
  }

  // ------------------------------------------------------------------------------------------------- RPC

  /** Buffers events; duplicates (by messageId) are skipped. Resolves once the rows are durable. */
  async append(target: LakeTarget, rows: LakeRow[]): Promise<AppendResult> {
    this.configure(target);
    const now = Date.now();
    const sql = this.ctx.storage.sql;
    let added = 0;
    let duplicates = 0;
    let addedBytes = 0;
    // All or nothing; the reply leaves only once the transaction is durable (output gate).
    this.ctx.storage.transactionSync(() => {
      for (const row of rows) {
        const fresh = sql.exec("INSERT INTO seen (message_id, at) VALUES (?, ?) ON CONFLICT (message_id) DO NOTHING RETURNING at", row.messageId, now).toArray();
        if (fresh.length === 0) {
          duplicates++;
          continue;
        }
        const bytes = utf8Length(row.json) + 1;
        sql.exec("INSERT INTO rows (json, bytes, added_at) VALUES (?, ?, ?)", row.json, bytes, now);
        added++;
        addedBytes += bytes;
      }
    });
    this.bufferedRows += added;
    this.bufferedBytes += addedBytes;
    await this.schedule(now);
    return { added, duplicates, bufferedRows: this.bufferedRows, bufferedBytes: this.bufferedBytes };
  }

  /** Operator flush: writes everything buffered now (in files of about the target size), whatever its age. */
  async flush(): Promise<FlushResult> {
    try {
      return await this.runFlush(true);
    } finally {
      this.prune(Date.now());
      await this.schedule(Date.now());
    }
  }

  status(): Promise<LakeBufferStatus> {
    const seenIds = this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM seen").one().n;
    const pending = this.pending();
    return this.ctx.storage.getAlarm().then((alarm) => ({
      ...(this.target ? { target: this.target } : {}),
      bufferedRows: this.bufferedRows,
      bufferedBytes: this.bufferedBytes,
      ...(this.bufferedRows > 0 ? { oldestBufferedAt: this.oldestBufferedAt() } : {}),
      seenIds,
      ...(pending ? { pending } : {}),
      alarm,
      failures: this.failures,
    }));
  }

  override async alarm(): Promise<void> {
    try {
      await this.runFlush(false);
    } catch {
      // Logged and backed off in runFlush; the alarm set below retries.
    }
    this.prune(Date.now());
    await this.schedule(Date.now());
  }

  // ------------------------------------------------------------------------------------------- internals

  private meta(key: string): string | undefined {
    return this.ctx.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value;
  }

  private setMeta(key: string, value: string | undefined): void {
    if (value === undefined) this.ctx.storage.sql.exec("DELETE FROM meta WHERE key = ?", key);
    else this.ctx.storage.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
  }

  private configure(target: LakeTarget): void {
    const json = JSON.stringify(target);
    if (json === this.targetJson) return;
    this.setMeta("target", json);
    this.target = target;
    this.targetJson = json;
  }

  private describe(): string {
    const t = this.target;
    return t ? `${t.destinationId}/${t.sourceId}/${t.dt}/${t.hour}` : this.ctx.id.toString();
  }

  /** Recomputes the in-memory totals (once at start, and after each flush). */
  private recount(): void {
    const r = this.ctx.storage.sql.exec<{ n: number; b: number }>("SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM rows").one();
    this.bufferedRows = r.n;
    this.bufferedBytes = r.b;
  }

  private oldestBufferedAt(): number | undefined {
    return this.ctx.storage.sql.exec<{ added_at: number }>("SELECT added_at FROM rows ORDER BY seq LIMIT 1").toArray()[0]?.added_at;
  }

  private pending(): PendingFlush | undefined {
    const json = this.meta("pending");
    return json ? (JSON.parse(json) as PendingFlush) : undefined;
  }

  /** Sets the alarm to the next thing due: a flush (size, age, pending, retry) or pruning remembered ids. */
  private async schedule(now: number): Promise<void> {
    let due: number | undefined;
    if (this.target && (this.bufferedRows > 0 || this.pending())) {
      const ageDue = (this.oldestBufferedAt() ?? now) + this.target.maxAgeMs;
      due = this.pending() || this.bufferedBytes >= this.target.targetBytes ? now : ageDue;
      due = Math.max(due, this.retryAt);
    } else {
      const oldestSeen = this.ctx.storage.sql.exec<{ at: number }>("SELECT at FROM seen ORDER BY at LIMIT 1").toArray()[0]?.at;
      if (oldestSeen !== undefined) due = oldestSeen + DEDUPE_MS;
    }
    const current = await this.ctx.storage.getAlarm();
    if (due === undefined) {
      if (current !== null) await this.ctx.storage.deleteAlarm();
    } else if (current === null || current > due || (current < this.retryAt && due >= this.retryAt)) {
      await this.ctx.storage.setAlarm(due);
    }
  }

  /** Forgets messageIds older than DEDUPE_MS whose rows are no longer buffered. */
  private prune(now: number): void {
    const cutoff = Math.min(now - DEDUPE_MS, this.oldestBufferedAt() ?? Number.POSITIVE_INFINITY);
    this.ctx.storage.sql.exec("DELETE FROM seen WHERE at < ?", cutoff);
  }

  /**
   * One flush at a time (alarm and operator): a second caller waits for the first, then runs. A failure, whoever
   * ran it, backs the alarm off (10 s doubling to 10 min); an operator flush does not wait for the backoff.
   */
  private async runFlush(all: boolean): Promise<FlushResult> {
    const run = (this.flushing ?? Promise.resolve()).catch(() => {}).then(() => this.flushNow(all));
    this.flushing = run;
    try {
      const result = await run;
      this.failures = 0;
      this.retryAt = 0;
      return result;
    } catch (err) {
      this.failures++;
      const delay = Math.min(RETRY_BASE_MS * 2 ** (this.failures - 1), RETRY_MAX_MS);
      this.retryAt = Date.now() + delay;
      console.error(JSON.stringify({ msg: "lake flush failed", buffer: this.describe(), attempt: this.failures, retryInSeconds: delay / 1000, error: String(err) }));
      throw err;
    } finally {
      if (this.flushing === run) this.flushing = undefined;
    }
  }

  private async flushNow(all: boolean): Promise<FlushResult> {
    const files: LakeFile[] = [];
    let rows = 0;
    const target = this.target;
    if (!target) return { files, rows, remainingRows: this.bufferedRows };
    const sql = this.ctx.storage.sql;
    const oldest = this.oldestBufferedAt();
    // Once the oldest row is due, everything buffered now goes out (in files of about the target size); rows
    // appended meanwhile wait for their own turn unless they fill a file.
    const drain = all || (oldest !== undefined && oldest + target.maxAgeMs <= Date.now());
    const drainTo = drain ? (sql.exec<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM rows").one().seq ?? 0) : 0;
    for (;;) {
      let pending = this.pending();
      if (!pending) {
        if (this.bufferedRows === 0) break;
        const first = sql.exec<{ seq: number }>("SELECT seq FROM rows ORDER BY seq LIMIT 1").one().seq;
        if (!(first <= drainTo || this.bufferedBytes >= target.targetBytes)) break;
        pending = this.startFlush(target, Date.now());
      }
      files.push(...(await this.writeFiles(target, pending)));
      this.ctx.storage.transactionSync(() => {
        this.ctx.storage.sql.exec("DELETE FROM rows WHERE seq <= ?", pending.maxSeq);
        this.setMeta("pending", undefined);
      });
      this.recount();
      rows += pending.rows;
    }
    return { files, rows, remainingRows: this.bufferedRows };
  }

  /** Chooses the rows of the next file (oldest first, up to the target size) and records the flush. */
  private startFlush(target: LakeTarget, now: number): PendingFlush {
    const sql = this.ctx.storage.sql;
    const cut = sql
      .exec<{ seq: number }>(
        "SELECT seq FROM (SELECT seq, SUM(bytes) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) AS total FROM rows) WHERE total >= ? ORDER BY seq LIMIT 1",
        target.targetBytes,
      )
      .toArray()[0]?.seq;
    const maxSeq = cut ?? sql.exec<{ seq: number }>("SELECT MAX(seq) AS seq FROM rows").one().seq;
    const taken = sql.exec<{ n: number; b: number }>("SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM rows WHERE seq <= ?", maxSeq).one();
    const nonce = crypto.randomUUID().slice(0, 8);
    const pending: PendingFlush = { baseName: fileBaseName(target.destinationId, now, nonce), prefix: target.prefix, maxSeq, rows: taken.n, bytes: taken.b, formats: [...target.formats] };
    this.setMeta("pending", JSON.stringify(pending));
    return pending;
  }

  /** The pending rows, oldest first, in steps of about ROW_GROUP_BYTES of JSON. */
  private *chunks(maxSeq: number): Generator<string[]> {
    let after = 0;
    for (;;) {
      const lines: string[] = [];
      let bytes = 0;
      const cursor = this.ctx.storage.sql.exec<{ seq: number; json: string; bytes: number }>(
        "SELECT seq, json, bytes FROM rows WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT 100000",
        after,
        maxSeq,
      );
      for (const row of cursor) {
        lines.push(row.json);
        bytes += row.bytes;
        after = row.seq;
        if (bytes >= ROW_GROUP_BYTES) break;
      }
      if (lines.length === 0) return;
      yield lines;
    }
  }

  /** Writes every format of one flush; any failure aborts it and leaves the rows for the next attempt. */
  private async writeFiles(target: LakeTarget, pending: PendingFlush): Promise<LakeFile[]> {
    const files: LakeFile[] = [];
    const p = { dt: target.dt, hour: target.hour };
    for (const format of pending.formats) {
      const key = fileKey(pending.prefix, target.sourceId, p, pending.baseName, format);
      const sink = new R2ObjectSink(this.env.BUCKET, key, {
        httpMetadata: { contentType: FORMAT_CONTENT_TYPE[format] },
        customMetadata: { rows: String(pending.rows), destination: target.destinationId, source: target.sourceId },
      });
      try {
        if (format === "parquet") await writeParquet(this.chunks(pending.maxSeq), sink, [{ key: "sluice.destination", value: target.destinationId }, { key: "sluice.source", value: target.sourceId }]);
        else await writeNdjsonGzip(this.chunks(pending.maxSeq), sink);
        await sink.close();
      } catch (err) {
        await sink.abort().catch(() => {});
        throw err;
      }
      files.push({ key, format, rows: pending.rows, bytes: sink.size });
    }
    return files;
  }
}

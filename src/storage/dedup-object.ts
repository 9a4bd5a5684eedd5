/**
 * Durable Object holding the messageIds one source accepted recently, for one shard of the id space
 * (`<source>:<shard>`, shard = hash(messageId) mod shards). A request claims its ids with one call: an id
 * accepted within the window is a duplicate, an id another unfinished request claimed is in flight, the others
 * are held for this request's token. Claims are held in memory only, so a claim writes nothing and is not
 * delayed by a storage flush; what must last is the commit (every outcome of the events is durable): the router
 * sends a batch's commits with their ids, and each call is one write.
 *
 * Layout: a commit is ONE row of `batches` (its time and its ids' 64-bit fingerprints packed in a blob, see
 * dedup-index.ts), whatever its number of ids; the rows are loaded into an in-memory index on first use, and the
 * alarm deletes whole rows once their window has passed. Cost: 1 row written per commit call, 1 per row deleted.
 *
 * If this object restarts between a claim and its commit, the claim is forgotten: the commit still records the
 * ids (it names them), but a resend arriving in between is accepted again (delivered twice, never lost), as a
 * claim older than `PENDING_TTL_MS` is (the isolate died before it could commit or release).
 */
import { DurableObject } from "cloudflare:workers";
import { COMMIT_CHUNK, fingerprint, FingerprintIndex, forEachPacked, packFingerprints } from "./dedup-index.ts";

export { COMMIT_CHUNK } from "./dedup-index.ts";

/**
 * A claim not committed within this time is treated as absent (its request died). Above a request's usual
 * lifetime plus the ~1 s commit delay, yet short enough that a client's quick retries outlast a dead request's hold.
 */
export const PENDING_TTL_MS = 15_000;
/** Rows of the per-id tables of earlier releases deleted per alarm run; more left → the alarm runs again at once. */
const DELETE_CHUNK = 20_000;
/** Commit rows looked at (and deleted when expired) per alarm run; more expired → the alarm runs again at once. */
const ROW_CHUNK = 1_000;
/**
 * Accepted ids a shard is sized for per window (docs/limits.md#dedup): its index then takes at most 48 MB of the
 * object's 128 MB, 72 MB while it doubles; at 3 million it would double to 144 MB. Past this, the shard logs once.
 */
export const SHARD_SIZING_IDS = 2_500_000;
/** When an alarm run that threw runs again. */
const ALARM_RETRY_MS = 60_000;

export interface ClaimRequest {
  /** Unique per request; commits and releases name it. */
  token: string;
  ids: string[];
  windowMs: number;
}

export interface ClaimResult {
  /** Ids accepted within the window: acknowledge, do not deliver. */
  duplicates: string[];
  /**
   * Ids claimed by another request that has not finished: its outcome is unknown, so this request must not
   * acknowledge them yet (answer 503: the client retries). When non-empty, nothing was claimed.
   */
  inFlight: string[];
  /** With inFlight: ms until the last of their holds expires, however long their requests take (the Retry-After). */
  heldForMs?: number;
}

/** One request's claimed ids, now queued: they are accepted from now on. */
export interface Commit {
  token: string;
  ids: string[];
}

interface Held {
  at: number;
  ids: string[];
}

export class DedupObject extends DurableObject {
  private alarmScheduled = false;
  /** The window last stored in `meta` (the alarm reads it from there). */
  private windowMs: number | undefined;
  /** Claims not committed yet, by token, oldest first (Map order is claim order). */
  private readonly held = new Map<string, Held>();
  /** The token holding each claimed id. */
  private readonly holder = new Map<string, string>();
  /** Accepted ids' fingerprints → when; loaded from `batches` on first use. */
  private index: FingerprintIndex | undefined;
  /** SHARD_SIZING_IDS (tests lower it). */
  private readonly sizingIds = SHARD_SIZING_IDS;
  /** Set once the index has passed sizingIds (logged once per instance). */
  private oversized = false;
  /** Per-id tables of earlier releases that still hold accepted ids: read until the alarm has expired them all. */
  private legacy: { accepted: boolean; seen: boolean };

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    const sql = ctx.storage.sql;
    ctx.storage.transactionSync(() => {
      sql.exec("CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, fps BLOB NOT NULL)");
      sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)");
    });
    this.windowMs = sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'window_ms'").toArray()[0]?.value;
    // Until 2026-12 each accepted id was a row of `accepted`; until 2026-11 claims were stored (`seen`) and made
    // final by a row in `commits`. Those ids are read where they are (copying up to a window of them at start could
    // exceed the CPU and storage limits) and expire there.
    const has = (table: string) => sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", table).toArray().length > 0;
    this.legacy = { accepted: has("accepted"), seen: has("seen") };
    // Every object of the previous release made `accepted`, most never used it: no read per claim for those.
    if (this.legacy.accepted && sql.exec("SELECT 1 FROM accepted LIMIT 1").toArray().length === 0) {
      sql.exec("DROP TABLE accepted");
      this.legacy.accepted = false;
    }
  }

  /** Claims the ids that are new; see ClaimResult. Reads only (loads the index once). */
  claim(req: ClaimRequest): ClaimResult {
    const now = Date.now();
    this.forgetStale(now);
    const duplicates: string[] = [];
    const inFlight: string[] = [];
    const fresh: string[] = [];
    const accepted = this.acceptedSince(req.ids, now - req.windowMs);
    let lastHeld = 0;
    for (const id of req.ids) {
      if (accepted.has(id)) duplicates.push(id);
      else {
        const token = this.holder.get(id);
        if (token === undefined || token === req.token) fresh.push(id);
        else {
          inFlight.push(id);
          lastHeld = Math.max(lastHeld, this.held.get(token)!.at);
        }
      }
    }
    if (inFlight.length > 0) return { duplicates, inFlight, heldForMs: lastHeld + PENDING_TTL_MS - now };
    if (fresh.length === 0) return { duplicates, inFlight };
    let held = this.held.get(req.token);
    if (!held) this.held.set(req.token, (held = { at: now, ids: [] }));
    for (const id of fresh) {
      if (this.holder.get(id) === req.token) continue; // a retried call of the same request
      this.holder.set(id, req.token);
      held.ids.push(id);
    }
    return { duplicates, inFlight };
  }

  /**
   * Records these requests' ids as accepted (their events are on the queue): one row for the whole batch (one
   * per COMMIT_CHUNK ids). An id accepted within the window is left out: it keeps its first window (a retried
   * commit does not stretch it); one whose window had passed, its row not yet deleted by the alarm, starts a new one.
   */
  async commit(windowMs: number, commits: Commit[]): Promise<void> {
    // An isolate of the earlier release sends commit(tokens) without ids: nothing to record (its claims were
    // never held here). Its resends may be delivered twice while both releases run.
    if (typeof windowMs !== "number" || !Array.isArray(commits)) return;
    const now = Date.now();
    const ids = new Set<string>();
    for (const c of commits) for (const id of c.ids) ids.add(id);
    const accepted = this.acceptedSince([...ids], now - windowMs);
    const fps: [number, number][] = [];
    for (const id of ids) if (!accepted.has(id)) fps.push(fingerprint(id));
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (let i = 0; i < fps.length; i += COMMIT_CHUNK) sql.exec("INSERT INTO batches (at, fps) VALUES (?, ?)", now, packFingerprints(fps.slice(i, i + COMMIT_CHUNK)).buffer);
    });
    // Stored: now the index (had the write failed, it would not claim ids that are not on disk).
    const index = this.loaded();
    for (const [hi, lo] of fps) index.set(hi, lo, now);
    this.checkSizing(index);
    // Written: the holds can go (had the write failed, they would still answer in flight for the retry).
    for (const c of commits) this.drop(c.token);
    if (fps.length > 0) await this.scheduleExpiry(windowMs, now);
  }

  /** Drops a failed request's claims, so its retry is not taken for a duplicate or held in flight. */
  release(token: string): void {
    this.drop(token);
  }

  /** Accepted ids (fingerprints in the index, plus ids in an earlier release's table), commit rows, held claims (tests and diagnostics). */
  size(): { accepted: number; rows: number; held: number } {
    const sql = this.ctx.storage.sql;
    const legacy = this.legacy.accepted ? sql.exec<{ n: number }>("SELECT count(*) AS n FROM accepted").one().n : 0;
    const rows = sql.exec<{ n: number }>("SELECT count(*) AS n FROM batches").one().n;
    return { accepted: this.loaded().size + legacy, rows, held: this.holder.size };
  }

  /**
   * Deletes what has expired; runs again while anything is stored. Self-healing: whatever throws, the next run
   * is set in the finally (the platform gives up retrying a throwing alarm after six tries, and a commit sets
   * none while it believes one is set).
   */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const sql = this.ctx.storage.sql;
    let next: number | undefined = now + ALARM_RETRY_MS;
    try {
      const windowMs = sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'window_ms'").toArray()[0]?.value ?? 24 * 3_600_000;
      const cutoff = now - windowMs;
      // The oldest rows first; those before the first one still inside its window go (a row whose clock ran
      // behind its predecessor's waits for them: kept a little longer, never dropped early).
      const oldest = sql.exec<{ seq: number; at: number }>("SELECT seq, at FROM batches ORDER BY seq LIMIT ?", ROW_CHUNK).toArray();
      const live = oldest.findIndex((r) => r.at >= cutoff);
      const expired = live === -1 ? oldest : oldest.slice(0, live);
      let again = expired.length === ROW_CHUNK;
      if (expired.length > 0) {
        sql.exec("DELETE FROM batches WHERE seq <= ?", expired.at(-1)!.seq);
        this.index?.retain((at) => at >= cutoff);
      }
      if (this.legacy.accepted) {
        again ||= sql.exec("DELETE FROM accepted WHERE id IN (SELECT id FROM accepted WHERE at < ? LIMIT ?)", cutoff, DELETE_CHUNK).rowsWritten >= DELETE_CHUNK;
        if (sql.exec("SELECT 1 FROM accepted LIMIT 1").toArray().length === 0) {
          sql.exec("DROP TABLE accepted");
          this.legacy.accepted = false;
        }
      }
      if (this.legacy.seen) {
        again ||= sql.exec("DELETE FROM seen WHERE id IN (SELECT id FROM seen WHERE at < ? LIMIT ?)", cutoff, DELETE_CHUNK).rowsWritten >= DELETE_CHUNK;
        if (sql.exec("SELECT 1 FROM seen LIMIT 1").toArray().length === 0) {
          sql.exec("DROP TABLE seen");
          sql.exec("DROP TABLE IF EXISTS commits");
          this.legacy.seen = false;
        }
      }
      const more = this.legacy.accepted || this.legacy.seen || sql.exec("SELECT 1 FROM batches LIMIT 1").toArray().length > 0;
      next = !more ? undefined : again ? now + 1000 : now + expiryInterval(windowMs);
    } finally {
      // Unset until setAlarm succeeds: should it throw too, the next commit sets the alarm.
      this.alarmScheduled = false;
      if (next !== undefined) {
        await this.ctx.storage.setAlarm(next);
        this.alarmScheduled = true;
      }
    }
  }

  /** The index of the commit rows, read from storage on first use (a restarted object rebuilds it). */
  private loaded(): FingerprintIndex {
    if (this.index) return this.index;
    const index = new FingerprintIndex();
    // In row order: an id committed again after its window passed takes its later row's time.
    for (const { at, fps } of this.ctx.storage.sql.exec<{ at: number; fps: ArrayBuffer }>("SELECT at, fps FROM batches ORDER BY seq")) forEachPacked(fps, (hi, lo) => index.set(hi, lo, at));
    this.checkSizing(index);
    return (this.index = index);
  }

  /** Tells the operator when this shard holds more ids than its memory is sized for: the source needs more shards. */
  private checkSizing(index: FingerprintIndex): void {
    if (this.oversized || index.size <= this.sizingIds) return;
    this.oversized = true;
    console.error(JSON.stringify({ msg: "dedup shard past its sizing: raise the source's dedup shards", ids: index.size, sized_for: this.sizingIds, index_bytes: index.bytes }));
  }

  /** Which of these ids were accepted after `since` (ms): by fingerprint in the index, by id in the earlier tables. */
  private acceptedSince(ids: readonly string[], since: number): Set<string> {
    const index = this.loaded();
    const accepted = new Set<string>();
    for (const id of ids) {
      if (index.get(...fingerprint(id)) > since) accepted.add(id);
    }
    if (!this.legacy.accepted && !this.legacy.seen) return accepted;
    // Set-based: one statement per table whatever the number of ids (one JSON parameter: no bound-parameter limit).
    const sql = this.ctx.storage.sql;
    const json = JSON.stringify(ids);
    const rows: { id: string; at: number }[] = [];
    if (this.legacy.accepted) rows.push(...sql.exec<{ id: string; at: number }>("SELECT id, at FROM accepted WHERE id IN (SELECT value FROM json_each(?))", json));
    if (this.legacy.seen)
      rows.push(...sql.exec<{ id: string; at: number }>("SELECT s.id AS id, s.at AS at FROM seen s JOIN commits c ON c.token = s.token WHERE s.id IN (SELECT value FROM json_each(?))", json));
    for (const r of rows) if (r.at > since) accepted.add(r.id);
    return accepted;
  }

  private drop(token: string): void {
    const held = this.held.get(token);
    if (!held) return;
    this.held.delete(token);
    for (const id of held.ids) if (this.holder.get(id) === token) this.holder.delete(id);
  }

  /** Forgets claims older than PENDING_TTL_MS: their request is gone. Oldest first, so this stops early. */
  private forgetStale(now: number): void {
    for (const [token, held] of this.held) {
      if (held.at > now - PENDING_TTL_MS) return;
      this.drop(token);
    }
  }

  private async scheduleExpiry(windowMs: number, now: number): Promise<void> {
    if (windowMs !== this.windowMs) {
      this.ctx.storage.sql.exec("INSERT INTO meta (key, value) VALUES ('window_ms', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", windowMs);
      this.windowMs = windowMs;
    }
    if (this.alarmScheduled) return;
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + expiryInterval(windowMs));
    this.alarmScheduled = true;
  }
}

/** How often expired rows are deleted: a 24th of the window (1 h for 24 h), at least a minute. */
export function expiryInterval(windowMs: number): number {
  return Math.max(60_000, Math.min(3_600_000, Math.round(windowMs / 24)));
}

/**
 * Durable Object holding the messageIds one source accepted recently, for one shard of the id space
 * (`<source>:<shard>`, shard = hash(messageId) mod shards). A request claims its ids with one call: an id
 * accepted within the window is a duplicate, an id another unfinished request claimed is in flight, the others
 * are held for this request's token. Claims are held in memory only, so a claim writes nothing and is not
 * delayed by a storage flush; what must last is the commit (the events are queued): the isolate sends its
 * commits, with their ids, about a second later, and each batch of them is one write. An alarm deletes expired
 * ids.
 *
 * If this object restarts between a claim and its commit, the claim is forgotten: the commit still records the
 * ids (it names them), but a resend arriving in between is accepted again (delivered twice, never lost), as a
 * claim older than `PENDING_TTL_MS` is (the isolate died before it could commit or release).
 *
 * Cost per accepted event: one row written at commit, one when the alarm deletes it, one read per claim.
 */
import { DurableObject } from "cloudflare:workers";

/**
 * A claim not committed within this time is treated as absent (its request died). Above a request's usual
 * lifetime plus the ~1 s commit delay, yet short enough that a client's quick retries outlast a dead request's hold.
 */
export const PENDING_TTL_MS = 15_000;
/** Rows deleted per alarm run; more left → the alarm runs again at once. */
const DELETE_CHUNK = 20_000;
/** When an alarm run that threw runs again. */
const ALARM_RETRY_MS = 60_000;
/** Ids per INSERT statement: one JSON parameter stays far under SQLite's 2 MB string limit (100-char ids). */
export const COMMIT_CHUNK = 5_000;

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
  /** Tables of the earlier release still hold accepted ids: read until the alarm has expired them all. */
  private legacy: boolean;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    const sql = ctx.storage.sql;
    ctx.storage.transactionSync(() => {
      // WITHOUT ROWID: the primary key is the table, so an accepted id is one b-tree row and no index.
      sql.exec("CREATE TABLE IF NOT EXISTS accepted (id TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID");
      sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)");
    });
    // Until 2026-11 claims were stored (`seen`) and made final by a row in `commits`. Those ids are read where they
    // are (copying up to a window of them at start could exceed the CPU and storage limits) and expire there.
    this.legacy = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'seen'").toArray().length > 0;
  }

  /** Claims the ids that are new; see ClaimResult. Reads only. */
  claim(req: ClaimRequest): ClaimResult {
    const now = Date.now();
    this.forgetStale(now);
    const duplicates: string[] = [];
    const inFlight: string[] = [];
    const fresh: string[] = [];
    // Set-based: one statement reads the claim's ids whatever their number (they travel as one JSON parameter:
    // no bound-parameter limit).
    const sql = this.ctx.storage.sql;
    const ids = JSON.stringify(req.ids);
    const acceptedAt = new Map<string, number>();
    for (const row of sql.exec<{ id: string; at: number }>("SELECT id, at FROM accepted WHERE id IN (SELECT value FROM json_each(?))", ids)) acceptedAt.set(row.id, row.at);
    if (this.legacy)
      for (const row of sql.exec<{ id: string; at: number }>("SELECT s.id AS id, s.at AS at FROM seen s JOIN commits c ON c.token = s.token WHERE s.id IN (SELECT value FROM json_each(?))", ids))
        if (!acceptedAt.has(row.id)) acceptedAt.set(row.id, row.at);
    let lastHeld = 0;
    for (const id of req.ids) {
      const at = acceptedAt.get(id);
      if (at !== undefined && at > now - req.windowMs) duplicates.push(id);
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
   * Records these requests' ids as accepted (their events are on the queue): one write for the whole batch. An
   * id accepted within the window keeps its time (a retried commit does not stretch the window); one whose window
   * had passed, not yet deleted by the alarm, starts a new one.
   */
  async commit(windowMs: number, commits: Commit[]): Promise<void> {
    // An isolate of the earlier release sends commit(tokens) without ids: nothing to record (its claims were
    // never held here). Its resends may be delivered twice while both releases run.
    if (typeof windowMs !== "number" || !Array.isArray(commits)) return;
    const now = Date.now();
    const ids: string[] = [];
    for (const c of commits) ids.push(...c.ids);
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (let i = 0; i < ids.length; i += COMMIT_CHUNK)
        sql.exec(
          // `WHERE true`: SQLite's upsert after INSERT … SELECT needs a WHERE to parse.
          "INSERT INTO accepted (id, at) SELECT value, ? FROM json_each(?) WHERE true ON CONFLICT (id) DO UPDATE SET at = excluded.at WHERE accepted.at <= ?",
          now,
          JSON.stringify(ids.slice(i, i + COMMIT_CHUNK)),
          now - windowMs,
        );
    });
    // Written: the holds can go (had the write failed, they would still answer in flight for the retry).
    for (const c of commits) this.drop(c.token);
    if (ids.length > 0) await this.scheduleExpiry(windowMs, now);
  }

  /** Drops a failed request's claims, so its retry is not taken for a duplicate or held in flight. */
  release(token: string): void {
    this.drop(token);
  }

  /** Ids accepted and claims held (tests and diagnostics). */
  size(): { accepted: number; held: number } {
    return { accepted: this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM accepted").one().n, held: this.holder.size };
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
      let deleted = sql.exec("DELETE FROM accepted WHERE id IN (SELECT id FROM accepted WHERE at < ? LIMIT ?)", now - windowMs, DELETE_CHUNK).rowsWritten;
      if (this.legacy) {
        deleted += sql.exec("DELETE FROM seen WHERE id IN (SELECT id FROM seen WHERE at < ? LIMIT ?)", now - windowMs, DELETE_CHUNK).rowsWritten;
        if (sql.exec("SELECT 1 FROM seen LIMIT 1").toArray().length === 0) {
          sql.exec("DROP TABLE seen");
          sql.exec("DROP TABLE IF EXISTS commits");
          this.legacy = false;
        }
      }
      const more = this.legacy || sql.exec("SELECT 1 FROM accepted LIMIT 1").toArray().length > 0;
      next = !more ? undefined : deleted >= DELETE_CHUNK ? now + 1000 : now + expiryInterval(windowMs);
    } finally {
      // Unset until setAlarm succeeds: should it throw too, the next commit sets the alarm.
      this.alarmScheduled = false;
      if (next !== undefined) {
        await this.ctx.storage.setAlarm(next);
        this.alarmScheduled = true;
      }
    }
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

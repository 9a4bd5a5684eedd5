/**
 * Durable Object holding the messageIds one source accepted recently, for one shard of the id space
 * (`<source>:<shard>`, shard = hash(messageId) mod shards). One call per shard per request claims the ids of
 * that request: an id already accepted within the window is a duplicate; a new one is recorded as pending under
 * the request's token. Pending claims become accepted when the token is committed (after the events are on
 * the queue), are deleted by `release` when the request failed, and are ignored once `PENDING_TTL_MS` old (the
 * isolate died in between: the retry is then delivered again rather than lost). An alarm deletes expired rows.
 *
 * Cost per event: one row written to claim it, one written when the alarm deletes it, one read per claim; a
 * commit is one row per request and shard, not per event.
 */
import { DurableObject } from "cloudflare:workers";

/** A claim not committed within this time is treated as absent. Far above a request's lifetime. */
export const PENDING_TTL_MS = 60_000;
/** Rows deleted per alarm run; more left → the alarm runs again at once. */
const DELETE_CHUNK = 20_000;

export interface ClaimRequest {
  /** Unique per request; commits and releases name it. */
  token: string;
  ids: string[];
  windowMs: number;
  /** Tokens of earlier requests whose events are now queued (piggybacked commits). */
  commits?: string[];
}

export interface ClaimResult {
  /** Ids accepted within the window: acknowledge, do not deliver. */
  duplicates: string[];
  /**
   * Ids claimed by another request that has not finished: its outcome is unknown, so this request must not
   * acknowledge them yet (answer 503: the client retries). When non-empty, nothing was claimed.
   */
  inFlight: string[];
}

interface SeenRow {
  token: string;
  at: number;
  committed: number;
  [column: string]: SqlStorageValue;
}

export class DedupObject extends DurableObject {
  private alarmScheduled = false;
  /** The window last stored in `meta` (the alarm reads it from there). */
  private windowMs: number | undefined;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    const sql = ctx.storage.sql;
    // WITHOUT ROWID: the primary key is the table, so a claim writes one b-tree row and no index.
    sql.exec("CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, token TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID");
    sql.exec("CREATE TABLE IF NOT EXISTS commits (token TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID");
    sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)");
  }

  /** Claims the ids that are new; see ClaimResult. */
  async claim(req: ClaimRequest): Promise<ClaimResult> {
    const now = Date.now();
    const sql = this.ctx.storage.sql;
    if (req.commits?.length) this.applyCommits(req.commits, now);
    const duplicates: string[] = [];
    const inFlight: string[] = [];
    const fresh: string[] = [];
    // Set-based: one statement reads the claim's ids, one writes the new ones, whatever their number (the ids
    // travel as one JSON parameter: no bound-parameter limit), instead of two statements per id.
    const ids = JSON.stringify(req.ids);
    const found = new Map<string, SeenRow>();
    for (const row of sql.exec<SeenRow & { id: string }>(
      "SELECT s.id AS id, s.token AS token, s.at AS at, c.token IS NOT NULL AS committed FROM seen s LEFT JOIN commits c ON c.token = s.token WHERE s.id IN (SELECT value FROM json_each(?))",
      ids,
    ))
      found.set(row.id, row);
    for (const id of req.ids) {
      const row = found.get(id);
      if (!row) fresh.push(id);
      else if (row.committed) (row.at > now - req.windowMs ? duplicates : fresh).push(id);
      else if (row.token === req.token) continue;
      else (row.at > now - PENDING_TTL_MS ? inFlight : fresh).push(id);
    }
    if (inFlight.length > 0) return { duplicates, inFlight };
    if (fresh.length > 0) {
      sql.exec("INSERT OR REPLACE INTO seen (id, token, at) SELECT value, ?, ? FROM json_each(?)", req.token, now, fresh.length === req.ids.length ? ids : JSON.stringify(fresh));
      await this.scheduleExpiry(req.windowMs, now);
    }
    return { duplicates, inFlight };
  }

  /** Makes the claims of these requests final (their events are on the queue). */
  commit(tokens: string[]): void {
    this.applyCommits(tokens, Date.now());
  }

  /** Drops a failed request's claims, so its retry is not taken for a duplicate. */
  release(token: string, ids: string[]): void {
    this.ctx.storage.sql.exec("DELETE FROM seen WHERE id IN (SELECT value FROM json_each(?)) AND token = ?", JSON.stringify(ids), token);
  }

  /** Rows currently stored (tests and diagnostics). */
  size(): { seen: number; commits: number } {
    const sql = this.ctx.storage.sql;
    return {
      seen: sql.exec<{ n: number }>("SELECT count(*) AS n FROM seen").one().n,
      commits: sql.exec<{ n: number }>("SELECT count(*) AS n FROM commits").one().n,
    };
  }

  /** Deletes what has expired; runs again while anything is stored. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    const sql = this.ctx.storage.sql;
    const windowMs = sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'window_ms'").toArray()[0]?.value ?? 24 * 3_600_000;
    const cutoff = now - windowMs;
    const deleted = sql.exec("DELETE FROM seen WHERE id IN (SELECT id FROM seen WHERE at < ? LIMIT ?)", cutoff, DELETE_CHUNK).rowsWritten;
    sql.exec("DELETE FROM commits WHERE at < ?", cutoff - PENDING_TTL_MS);
    this.alarmScheduled = false;
    const left = sql.exec<{ n: number }>("SELECT EXISTS (SELECT 1 FROM seen) + EXISTS (SELECT 1 FROM commits) AS n").one().n;
    if (left > 0) {
      await this.ctx.storage.setAlarm(deleted >= DELETE_CHUNK ? now + 1000 : now + expiryInterval(windowMs));
      this.alarmScheduled = true;
    }
  }

  private applyCommits(tokens: string[], now: number): void {
    this.ctx.storage.sql.exec("INSERT OR IGNORE INTO commits (token, at) SELECT value, ? FROM json_each(?)", now, JSON.stringify(tokens));
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

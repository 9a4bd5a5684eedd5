/**
 * The index of what Sluice keeps for an operator (dead letters, quarantined events): one Durable Object per
 * shard (`deadletters:<destination>`, `quarantine:<source>`), SQLite rows pointing at the full records in R2.
 * It lists and filters them, and makes replay happen once: `claim` moves rows from stored to replaying
 * atomically, so two replays of the same entries cannot both get them.
 */
import { DurableObject } from "cloudflare:workers";

export type ArchiveStatus = "stored" | "replaying" | "replayed";

export interface ArchiveEntry {
  id: string;
  /** When the entry was stored (ms). */
  at: number;
  source: string;
  destination: string;
  /** Event name(s) for filtering (track names, or types); comma-separated when several. */
  name: string;
  /** What kind of failure: an error code (`http_503`, `timeout`, …) or violation types. Comma-separated. */
  category: string;
  reason: string;
  attempts: number;
  /** Number of events in the record. */
  events: number;
  /** R2 key of the full record: an object, or `<object>#<line>` of an NDJSON object (src/archive/records.ts). */
  key: string;
  status: ArchiveStatus;
  replayedAt?: number;
}

export interface ArchiveQuery {
  from?: number;
  to?: number;
  source?: string;
  /** Only entries of these sources (an access token's scope). */
  sources?: string[];
  destination?: string;
  /** Substring of the event name(s). */
  name?: string;
  /** Substring of the category (error code or violation type). */
  category?: string;
  status?: ArchiveStatus;
  ids?: string[];
  limit?: number;
}

/** A row as SQLite returns it: the entry's fields, with snake_case replay bookkeeping. */
type Row = Omit<ArchiveEntry, "replayedAt"> & { replayed_at: number | null; claimed_at: number | null } & Record<string, SqlStorageValue>;

function toEntry(r: Row): ArchiveEntry {
  const { replayed_at, claimed_at: _claimed, ...rest } = r;
  return replayed_at === null ? { ...rest } : { ...rest, replayedAt: replayed_at };
}

/** SQL WHERE clause and bindings for a query; every value is bound, never spliced. */
function where(q: ArchiveQuery): { sql: string; args: SqlStorageValue[] } {
  const parts: string[] = [];
  const args: SqlStorageValue[] = [];
  if (q.from !== undefined) parts.push("at >= ?") && args.push(q.from);
  if (q.to !== undefined) parts.push("at <= ?") && args.push(q.to);
  if (q.source) parts.push("source = ?") && args.push(q.source);
  if (q.sources) {
    parts.push(`source IN (${q.sources.map(() => "?").join(",") || "NULL"})`);
    args.push(...q.sources);
  }
  if (q.destination) parts.push("destination = ?") && args.push(q.destination);
  if (q.name) parts.push("instr(name, ?) > 0") && args.push(q.name);
  if (q.category) parts.push("instr(category, ?) > 0") && args.push(q.category);
  if (q.status) parts.push("status = ?") && args.push(q.status);
  if (q.ids) {
    parts.push(`id IN (${q.ids.map(() => "?").join(",") || "NULL"})`);
    args.push(...q.ids);
  }
  return { sql: parts.length ? `WHERE ${parts.join(" AND ")}` : "", args };
}

export class ArchiveObject extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS entries (
      id TEXT PRIMARY KEY, at INTEGER NOT NULL, source TEXT NOT NULL, destination TEXT NOT NULL, name TEXT NOT NULL,
      category TEXT NOT NULL, reason TEXT NOT NULL, attempts INTEGER NOT NULL, events INTEGER NOT NULL, key TEXT NOT NULL,
      status TEXT NOT NULL, replayed_at INTEGER, claimed_at INTEGER)`);
    ctx.storage.sql.exec("CREATE INDEX IF NOT EXISTS entries_at ON entries (at)");
  }

  add(entry: ArchiveEntry): void {
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO entries (id, at, source, destination, name, category, reason, attempts, events, key, status, replayed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      entry.id, entry.at, entry.source, entry.destination, entry.name, entry.category, entry.reason.slice(0, 2000), entry.attempts, entry.events, entry.key, entry.status, entry.replayedAt ?? null,
    );
  }

  /** Adds several entries in one transaction (one call per request, e.g. the events a request quarantined). */
  addMany(entries: ArchiveEntry[]): number {
    this.ctx.storage.transactionSync(() => {
      for (const entry of entries) this.add(entry);
    });
    return entries.length;
  }

  /** Newest first. */
  list(q: ArchiveQuery = {}): ArchiveEntry[] {
    const { sql, args } = where(q);
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 10_000);
    return this.ctx.storage.sql.exec<Row>(`SELECT * FROM entries ${sql} ORDER BY at DESC, id DESC LIMIT ${limit}`, ...args).toArray().map(toEntry);
  }

  get(id: string): ArchiveEntry | undefined {
    const row = this.ctx.storage.sql.exec<Row>("SELECT * FROM entries WHERE id = ?", id).toArray()[0];
    return row ? toEntry(row) : undefined;
  }

  /**
   * Claims stored entries matching the query for replay (oldest first): they become `replaying` and are
   * returned. Replayed entries are never returned again; a claim whose replay never settled (the worker died)
   * becomes claimable again after `staleMs`.
   */
  claim(q: ArchiveQuery, now: number, staleMs = 300_000): ArchiveEntry[] {
    const { sql, args } = where({ ...q, status: undefined });
    const claimable = "(status = 'stored' OR (status = 'replaying' AND claimed_at < ?))";
    const filter = sql ? `${sql} AND ${claimable}` : `WHERE ${claimable}`;
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
    return this.ctx.storage.transactionSync(() => {
      const rows = this.ctx.storage.sql.exec<Row>(`SELECT * FROM entries ${filter} ORDER BY at ASC, id ASC LIMIT ${limit}`, ...args, now - staleMs).toArray();
      for (const r of rows) this.ctx.storage.sql.exec("UPDATE entries SET status = 'replaying', claimed_at = ? WHERE id = ?", now, r.id);
      return rows.map((r) => toEntry({ ...r, status: "replaying" }));
    });
  }

  /** Marks claimed entries replayed (done) or back to stored (the replay could not hand them on). */
  settle(ids: string[], outcome: "replayed" | "stored", now: number): void {
    for (const id of ids) {
      this.ctx.storage.sql.exec("UPDATE entries SET status = ?, replayed_at = ? WHERE id = ? AND status = 'replaying'", outcome, outcome === "replayed" ? now : null, id);
    }
  }

  /** Deletes matching entries and returns them, so the caller deletes their R2 records. */
  purge(q: ArchiveQuery): ArchiveEntry[] {
    const { sql, args } = where(q);
    return this.ctx.storage.transactionSync(() => {
      const rows = this.ctx.storage.sql.exec<Row>(`SELECT * FROM entries ${sql}`, ...args).toArray();
      for (const r of rows) this.ctx.storage.sql.exec("DELETE FROM entries WHERE id = ?", r.id);
      return rows.map(toEntry);
    });
  }

  /**
   * Of these R2 objects, those some entry still points at (whole, or a line of it): a purge deletes an object
   * only once no entry needs it.
   */
  referenced(objects: string[]): string[] {
    // '#' + 1 is '$': the range holds exactly the keys `<object>#…`.
    return objects.filter((o) => this.ctx.storage.sql.exec("SELECT 1 FROM entries WHERE key = ? OR (key >= ? AND key < ?) LIMIT 1", o, `${o}#`, `${o}$`).toArray().length > 0);
  }

  /** Counts by status, for progress reports; of the given sources only when `sources` is set. */
  counts(q: Pick<ArchiveQuery, "sources"> = {}): Record<ArchiveStatus, number> {
    const out: Record<ArchiveStatus, number> = { stored: 0, replaying: 0, replayed: 0 };
    const { sql, args } = where({ sources: q.sources });
    for (const r of this.ctx.storage.sql.exec<{ status: ArchiveStatus; n: number }>(`SELECT status, COUNT(*) AS n FROM entries ${sql} GROUP BY status`, ...args)) out[r.status] = r.n;
    return out;
  }
}

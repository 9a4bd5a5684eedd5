/**
 * Durable Object of one source (`idFromName(<source id>)`), in SQLite: the source's token bucket (leased out to
 * isolates, see src/limits/lease.ts), its distinct-user sketches per UTC day and month (merged from per-isolate
 * HyperLogLog sketches, see src/usage/recorder.ts), and when MTU budget alerts of earlier releases went out (the
 * alert is now an `mtu_budget` alert rule, src/alerts/).
 * The maths lives in pure modules; this class only keeps state and exposes RPC methods.
 */
import { DurableObject } from "cloudflare:workers";
import { leaseGrant, type LeaseGrant } from "../limits/lease.ts";
import { fullBucket, lease, type BucketLimits, type BucketState, type LeaseRequest } from "../limits/token-bucket.ts";
import { HyperLogLog } from "../usage/hyperloglog.ts";
import type { DistinctUsers } from "../usage/report.ts";

/** Day sketches older than this are deleted (month sketches are kept). */
const KEEP_DAYS = 400;

export class SourceObject extends DurableObject<Env> {
  private bucket: BucketState | undefined;
  private prunedOn: string | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS bucket (id INTEGER PRIMARY KEY CHECK (id = 1), tokens REAL NOT NULL, updated_at INTEGER NOT NULL)");
    sql.exec("CREATE TABLE IF NOT EXISTS sketches (period TEXT PRIMARY KEY, registers BLOB NOT NULL)");
    sql.exec("CREATE TABLE IF NOT EXISTS alerts (month TEXT PRIMARY KEY, sent_at INTEGER NOT NULL, users INTEGER NOT NULL)");
    const row = sql.exec<{ tokens: number; updated_at: number }>("SELECT tokens, updated_at FROM bucket WHERE id = 1").toArray()[0];
    if (row) this.bucket = { tokens: row.tokens, updatedAt: row.updated_at };
  }

  /** Grants an isolate a lease of tokens (or says when to ask again). Limits come from the config at each call. */
  lease(limits: BucketLimits, req: LeaseRequest): LeaseGrant {
    const now = Date.now();
    const result = lease(this.bucket ?? fullBucket(limits, now), req, limits, now);
    this.bucket = result.state;
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO bucket (id, tokens, updated_at) VALUES (1, ?, ?)", result.state.tokens, result.state.updatedAt);
    return leaseGrant(result);
  }

  /** The bucket as last stored (tests and diagnostics). */
  bucketState(): BucketState | undefined {
    return this.bucket;
  }

  /**
   * Merges an isolate's sketch of the day's users into the day and its month. The budget alert is an `mtu_budget`
   * alert rule (src/alerts/), which reads `users`.
   */
  async addUsers(day: string, sketch: Uint8Array): Promise<{ monthUsers: number }> {
    const incoming = HyperLogLog.fromBytes(sketch);
    const month = day.slice(0, 7);
    this.mergeInto(day, incoming);
    const monthUsers = this.mergeInto(month, incoming).count();
    this.prune(day);
    return { monthUsers };
  }

  /** Distinct users per day since `since` (inclusive) and per month of those days. */
  users(since = "0000-00-00"): DistinctUsers {
    const sql = this.ctx.storage.sql;
    const rows = sql.exec<{ period: string; registers: ArrayBuffer }>("SELECT period, registers FROM sketches WHERE period >= ? ORDER BY period DESC", since.slice(0, 7)).toArray();
    const alerts = new Map(sql.exec<{ month: string; sent_at: number }>("SELECT month, sent_at FROM alerts").toArray().map((r) => [r.month, r.sent_at]));
    const days: DistinctUsers["days"] = [];
    const months: DistinctUsers["months"] = [];
    for (const r of rows) {
      const users = Math.round(HyperLogLog.fromBytes(r.registers).count());
      if (r.period.length === 10) {
        if (r.period >= since) days.push({ day: r.period, users });
      } else {
        const sent = alerts.get(r.period);
        months.push({ month: r.period, users, ...(sent !== undefined ? { alertSentAt: new Date(sent).toISOString() } : {}) });
      }
    }
    return { days, months };
  }

  private mergeInto(period: string, incoming: HyperLogLog): HyperLogLog {
    const sql = this.ctx.storage.sql;
    const row = sql.exec<{ registers: ArrayBuffer }>("SELECT registers FROM sketches WHERE period = ?", period).toArray()[0];
    const merged = row ? HyperLogLog.fromBytes(row.registers).merge(incoming) : HyperLogLog.fromBytes(incoming.toBytes());
    sql.exec("INSERT OR REPLACE INTO sketches (period, registers) VALUES (?, ?)", period, merged.toBytes());
    return merged;
  }

  private prune(day: string): void {
    if (this.prunedOn === day) return;
    const cutoff = new Date(Date.parse(`${day}T00:00:00Z`) - KEEP_DAYS * 86_400_000).toISOString().slice(0, 10);
    this.ctx.storage.sql.exec("DELETE FROM sketches WHERE length(period) = 10 AND period < ?", cutoff);
    this.prunedOn = day;
  }
}

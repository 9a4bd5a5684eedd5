/**
 * The audit trail (src/access/audit.ts): one Durable Object, SQLite rows, newest first. `begin` writes a record
 * before an action runs (the caller refuses the action when it fails) and prunes records past the retention;
 * `finish` completes it with what the action did.
 */
import { DurableObject } from "cloudflare:workers";
import { AUDIT_RETENTION_DAYS, type AuditQuery, type AuditRecord, type AuditStart, type AuditStatus } from "../access/audit.ts";

type Row = {
  id: number; at: number; token: string; role: string; action: string; target: string; filters: string; ip: string;
  status: AuditStatus; counts: string | null; error: string | null; finished_at: number | null;
} & Record<string, SqlStorageValue>;

function toRecord(r: Row): AuditRecord {
  return {
    id: r.id, at: r.at, token: r.token, role: r.role, action: r.action, target: r.target, filters: JSON.parse(r.filters) as Record<string, unknown>, ip: r.ip, status: r.status,
    ...(r.counts !== null ? { counts: JSON.parse(r.counts) as Record<string, number> } : {}),
    ...(r.error !== null ? { error: r.error } : {}),
    ...(r.finished_at !== null ? { finishedAt: r.finished_at } : {}),
  };
}

export class AuditObject extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS audit (
      id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, token TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL,
      target TEXT NOT NULL, filters TEXT NOT NULL, ip TEXT NOT NULL, status TEXT NOT NULL, counts TEXT, error TEXT, finished_at INTEGER)`);
    ctx.storage.sql.exec("CREATE INDEX IF NOT EXISTS audit_at ON audit (at)");
  }

  /** Writes a started record and returns its id; prunes records older than the retention. */
  begin(start: AuditStart): number {
    return this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec("DELETE FROM audit WHERE at < ?", start.at - AUDIT_RETENTION_DAYS * 86_400_000);
      const row = this.ctx.storage.sql
        .exec<{ id: number }>(
          "INSERT INTO audit (at, token, role, action, target, filters, ip, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'started') RETURNING id",
          start.at, start.token, start.role, start.action, start.target, JSON.stringify(start.filters).slice(0, 4000), start.ip,
        )
        .one();
      return row.id;
    });
  }

  finish(id: number, outcome: { status: "done" | "failed"; counts?: Record<string, number>; error?: string }, at: number): void {
    this.ctx.storage.sql.exec(
      "UPDATE audit SET status = ?, counts = ?, error = ?, finished_at = ? WHERE id = ?",
      outcome.status, outcome.counts ? JSON.stringify(outcome.counts) : null, outcome.error?.slice(0, 2000) ?? null, at, id,
    );
  }

  /** Newest first. */
  list(q: AuditQuery): AuditRecord[] {
    const parts: string[] = [];
    const args: SqlStorageValue[] = [];
    if (q.from !== undefined) parts.push("at >= ?") && args.push(q.from);
    if (q.to !== undefined) parts.push("at <= ?") && args.push(q.to);
    if (q.token) parts.push("token = ?") && args.push(q.token);
    if (q.action) parts.push("substr(action, 1, ?) = ?") && args.push(q.action.length, q.action);
    if (q.before !== undefined) parts.push("id < ?") && args.push(q.before);
    const where = parts.length ? `WHERE ${parts.join(" AND ")}` : "";
    const limit = Math.min(Math.max(q.limit, 1), 1000);
    return this.ctx.storage.sql.exec<Row>(`SELECT * FROM audit ${where} ORDER BY id DESC LIMIT ${limit}`, ...args).toArray().map(toRecord);
  }
}

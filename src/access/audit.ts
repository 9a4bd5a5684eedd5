/**
 * The audit trail's records and queries, pure. Every mutating admin call and every read of event bodies is
 * recorded (src/storage/audit-object.ts) before it runs, then completed with what it did.
 */
import type { Principal } from "./principal.ts";

/** Records are kept at least this long (pruned past it). */
export const AUDIT_RETENTION_DAYS = 400;

export type AuditStatus = "started" | "done" | "failed";

/** What is written before the action runs. */
export interface AuditStart {
  at: number;
  token: string;
  role: string;
  /** The action as the role table names it (`replay`, `purge`, `read.events`) and the archive or object it is on. */
  action: string;
  /** The route, e.g. `POST /admin/quarantine/purge`. */
  target: string;
  /** The filters (body or query) the action was given. */
  filters: Record<string, unknown>;
  ip: string;
}

export interface AuditRecord extends AuditStart {
  id: number;
  status: AuditStatus;
  /** What the action did (e.g. `{ purged: 3 }`), once done. */
  counts?: Record<string, number>;
  error?: string;
  finishedAt?: number;
}

export interface AuditQuery {
  from?: number;
  to?: number;
  token?: string;
  /** Prefix of the action (`replay` matches `replay quarantine`). */
  action?: string;
  /** Records with an id below this (the `cursor` of the previous page). */
  before?: number;
  limit: number;
}

export function auditStart(p: Principal, action: string, target: string, filters: Record<string, unknown>, ip: string, at: number): AuditStart {
  return { at, token: p.id, role: p.role, action, target, filters, ip };
}

/** Numeric fields of an action's answer: what it affected, as the audit record keeps it. */
export function countsOf(answer: Record<string, unknown>): Record<string, number> {
  return Object.fromEntries(Object.entries(answer).filter((e): e is [string, number] => typeof e[1] === "number"));
}

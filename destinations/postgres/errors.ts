/**
 * What a PostgreSQL failure means for delivery. An error with a SQLSTATE came from the server: connection,
 * resource, lock and shutdown classes are worth retrying, the rest (bad data, a missing privilege, a limit)
 * fails the same way every time and dead-letters with the server's message. Anything without one (refused,
 * reset, timed out) never reached the server's judgement: retried. Pure.
 */
import { PermanentError, RetryableError, type DeliveryError } from "../../src/delivery/errors.ts";

/** SQLSTATE classes a retry can cure: connection (08), invalid transaction state (25: a read-only replica
 * after failover), invalid authorization (28) and unknown database (3D) until an operator fixes the binding,
 * rollbacks (40: serialization, deadlock), insufficient resources (53), object in use / lock (55), operator
 * intervention (57: shutdown), system errors (58), internal errors (XX). */
const RETRYABLE_CLASSES = new Set(["08", "25", "28", "3D", "40", "53", "55", "57", "58", "XX"]);

/** DDL that lost a race with another loader doing the same thing: the object exists now, which is all we wanted. */
export const ALREADY_EXISTS = new Set(["42P06", "42P07", "42701", "42710", "23505"]);

/** The schema changed under a cached view of it (a column or table is gone): refresh and retry. */
export const SCHEMA_MOVED = new Set(["42703", "42P01", "3F000"]);

/** The SQLSTATE of a server error, or undefined for a failure that never got one (network, timeout). */
export function sqlState(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const { code, severity } = err as { code?: unknown; severity?: unknown };
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && severity !== undefined ? code : undefined;
}

export function pgError(err: unknown, doing: string): DeliveryError {
  const message = err instanceof Error ? err.message : String(err);
  const state = sqlState(err);
  if (state === undefined) {
    const code = typeof (err as { code?: unknown })?.code === "string" ? (err as { code: string }).code : undefined;
    return new RetryableError(`postgres ${doing}: ${message}`, undefined, undefined, "pg_connection" + (code ? `_${code.toLowerCase()}` : ""));
  }
  const text = `postgres ${doing}: ${message} (SQLSTATE ${state})`;
  if (RETRYABLE_CLASSES.has(state.slice(0, 2)) || SCHEMA_MOVED.has(state)) return new RetryableError(text, undefined, undefined, `pg_${state}`);
  return new PermanentError(text, undefined, `pg_${state}`);
}

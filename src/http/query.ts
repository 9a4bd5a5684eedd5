/** Query and body filters shared by the admin routes: the same errors everywhere. */
import { ApiError } from "../api-error.ts";

/** An ISO-8601 time or epoch milliseconds; undefined when absent. */
export function queryTime(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const n = typeof v === "number" ? v : /^\d+$/.test(String(v)) ? Number(v) : Date.parse(String(v));
  if (!Number.isFinite(n)) throw new ApiError(400, "invalid_query", `${what} must be an ISO-8601 time or epoch milliseconds`);
  return n;
}

/** Refuses a filter the route does not know (a typo must not widen a purge or replay). */
export function rejectUnknown(input: Record<string, unknown>, known: readonly string[]): void {
  for (const k of Object.keys(input)) if (!known.includes(k)) throw new ApiError(400, "invalid_query", `unknown filter "${k}" (known: ${known.join(", ")})`);
}

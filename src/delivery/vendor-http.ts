/**
 * One JSON POST as vendor kinds make it: the response read once (status, a bounded body, Retry-After), or a
 * `RetryableError` for a network failure or timeout. What a status means stays with the kind (most use
 * `errorForResponse`; some read per-event failures from the body first).
 */
import { RetryableError } from "./errors.ts";

export interface VendorResponse {
  status: number;
  /** The body's first `maxBodyChars` characters (enough for a vendor's error list, bounded for a huge page). */
  body: string;
  retryAfter: string | null;
}

export interface PostOptions {
  headers?: Record<string, string>;
  timeoutMs?: number;
  maxBodyChars?: number;
}

/** Statuses answered by the request, never thrown; the body is always consumed so the connection is freed. */
export async function postJson(fetcher: typeof fetch, url: string, body: string, opts: PostOptions = {}): Promise<VendorResponse> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let response: Response;
  try {
    response = await fetcher(url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "Sluice/0.1", ...opts.headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
    throw timedOut
      ? new RetryableError(`timed out after ${timeoutMs} ms`, undefined, undefined, "timeout")
      : new RetryableError(`network error: ${err instanceof Error ? err.message : String(err)}`, undefined, undefined, "network");
  }
  const text = await response.text().catch(() => "");
  return { status: response.status, body: text.slice(0, opts.maxBodyChars ?? 2000), retryAfter: response.headers.get("retry-after") };
}

/** `https://host/` + `path` without a doubled or missing slash; the endpoint may carry a path prefix (a proxy). */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`;
}

/** An `http(s)://` URL or a `${env.NAME}` reference (resolved at run time): what `endpoint`/`host` settings take. */
export const URL_OR_SECRET = /^(https?:\/\/\S+|\$\{env\.[A-Za-z_][A-Za-z0-9_]*\}\S*)$/;

/**
 * Errors that say what happens next. Adapters throw (or return per event) one of these, never a bare Error;
 * the classifier turns them into ack / retry(delay) / dead-letter.
 */
export abstract class DeliveryError extends Error {
  abstract readonly retryable: boolean;
  /** HTTP status when the failure came from one; for metrics and dead-letter records. */
  readonly status?: number;
  /** Short label for metrics (`failed.<code>`): `http_503`, `timeout`, `network`, `secret_missing`, … */
  readonly code: string;
  constructor(message: string, status?: number, code?: string) {
    super(message);
    this.status = status;
    this.code = code ?? (status !== undefined ? `http_${status}` : "error");
  }
}

/**
 * A deferral: the kind held these events back itself (pacing to the vendor's rate) without calling the
 * destination. Retried after `retryAfterSeconds` like any RetryableError, but no sign the destination is down, so
 * the circuit breaker does not count it.
 */
export function deferral(message: string, retryAfterSeconds: number): RetryableError {
  return new RetryableError(message, undefined, retryAfterSeconds, DEFERRED);
}

/** The code (and `failed.<code>` metric) of a deferral. */
export const DEFERRED = "paced";

export const isDeferral = (error: DeliveryError): boolean => error.retryable && error.code === DEFERRED;

/** Worth trying again later: timeouts, network errors, 408/423/429/5xx (except 501), a secret not set yet. */
export class RetryableError extends DeliveryError {
  readonly retryable = true;
  constructor(
    message: string,
    status?: number,
    /** The destination's own `Retry-After`, in seconds; the classifier honours it. */
    readonly retryAfterSeconds?: number,
    code?: string,
  ) {
    super(message, status, code);
  }
}

/** Will fail the same way every time (other 4xx, a payload the destination rejects): dead-letter with the reason. */
export class PermanentError extends DeliveryError {
  readonly retryable = false;
}

/**
 * One event our own code could not turn into a request or record (e.g. a value the platform refuses): only that
 * event fails, permanently, since it would fail the same way on every retry; its neighbours are still sent.
 */
export function unsendable(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  return new PermanentError(`event could not be sent: ${err instanceof Error ? err.message : String(err)}`, undefined, "unsendable");
}

/** Statuses worth retrying, as Segment: 408, 423, 429 and 5xx except 501. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 423 || status === 429 || (status >= 500 && status !== 501);
}

/**
 * Reads `Retry-After` as seconds (delta-seconds or an HTTP date); undefined when absent or unreadable.
 * @example parseRetryAfter("120", Date.now()) // 120
 */
export function parseRetryAfter(header: string | null, nowMs: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // Only an HTTP date is valid otherwise; Date.parse would also read "-1" or "2.5" as years.
  if (!/[A-Za-z]/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** Maps an HTTP response status to a result: undefined for 2xx, else the typed error. */
export function errorForResponse(status: number, bodySnippet: string, retryAfter: string | null, nowMs: number): DeliveryError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const message = `HTTP ${status}${bodySnippet ? `: ${bodySnippet}` : ""}`;
  if (isRetryableStatus(status)) return new RetryableError(message, status, parseRetryAfter(retryAfter, nowMs));
  return new PermanentError(message, status);
}

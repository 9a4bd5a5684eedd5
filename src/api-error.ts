/**
 * An error the API answers with its own status and `{ "error": { "code", "message" } }` body: the Tracking API
 * request path (src/ingest/) and the admin routes (src/http/) throw it; the HTTP shell answers it.
 */
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 413 | 415 | 429 | 500 | 503,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    /** Extra top-level fields of the body, e.g. the rejected events of a batch. */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }

  body(): Record<string, unknown> {
    return { error: { code: this.code, message: this.message }, ...this.extra };
  }
}

/**
 * Webhook: POSTs events as JSON to an HTTP endpoint, one event per request or a batch `{ "batch": [...] }`.
 * Each event carries `context.sluice.source`: the id of the source it came through, set here from the queue
 * message (a client's own `context.sluice` is replaced), so a receiver can trust it when sources share this
 * destination. With a secret, receivers verify `X-Sluice-Signature: sha256=<hex HMAC-SHA256 of
 * "<X-Sluice-Timestamp>.<body>">` and reject stale timestamps (replays). They dedupe on `Idempotency-Key`:
 * the messageId when it is a safe header token, else its SHA-256 hex; for a batch, a hash of its messageIds.
 */
import { createHash, createHmac } from "node:crypto";
import { s } from "../../src/config/schema.ts";
import { defineDestination, eventResult, eventSources, type DeliveryContext, type EventResult } from "../../src/delivery/destination.ts";
import { errorForResponse, RetryableError, unsendable, type DeliveryError } from "../../src/delivery/errors.ts";
import { utf8Length } from "../../src/pipeline/json-size.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";

const URL_OR_SECRET = /^(https?:\/\/\S+|\$\{env\.[A-Za-z_][A-Za-z0-9_]*\}\S*)$/;

const settings = s.object({
  url: s.string({ pattern: URL_OR_SECRET }),
  secret: s.optional(s.string({ minLength: 1 })),
  headers: s.withDefault(s.record(s.string()), {}),
  timeout_ms: s.withDefault(s.number({ integer: true, min: 100, max: 30_000 }), 10_000),
  batch: s.withDefault(
    s.object({
      enabled: s.withDefault(s.boolean(), false),
      max_events: s.withDefault(s.number({ integer: true, min: 1, max: 1000 }), 100),
    }),
    { enabled: false, max_events: 100 },
  ),
  /** Parallel requests per deliver() call in single-event mode. */
  concurrency: s.withDefault(s.number({ integer: true, min: 1, max: 50 }), 10),
});
type WebhookSettings = NonNullable<ReturnType<typeof settings.check>>;

/**
 * `sha256=<hex>` over `<timestamp>.<body>` (the exact body bytes); exported so sinks and tests verify with the
 * same code. Signing the time lets a receiver reject a captured request replayed later.
 */
export function signBody(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Visible ASCII, bounded: header-safe everywhere (Headers refuses controls and, in workerd, anything above U+00FF; it trims spaces). */
const SAFE_KEY = /^[\x21-\x7e]{1,200}$/;

/**
 * The Idempotency-Key of one event: its messageId when that is a safe header token, else the SHA-256 hex of it
 * (stable, so a redelivery still dedupes). Holds for messages queued before ingest refused such ids.
 */
function eventKey(messageId: string): string {
  return SAFE_KEY.test(messageId) ? messageId : sha256Hex(messageId);
}

/** Of the id list's JSON, so ids holding a separator cannot collide (`["a\nb"]` vs `["a","b"]`). */
export function batchKey(messageIds: readonly string[]): string {
  return `batch-${sha256Hex(JSON.stringify(messageIds)).slice(0, 32)}`;
}

/** The event as sent: the source stamped inside the signed body (the queue message's, never the client's). */
function withSource(event: SluiceEvent, source: string): SluiceEvent {
  const context = event.context && typeof event.context === "object" ? event.context : {};
  return { ...event, context: { ...context, sluice: { source } } };
}

/** POSTs one body. `base` holds the operator's headers; Headers() folds case, so ours replace theirs. */
async function post(body: string, idempotencyKey: string, base: Headers, ctx: DeliveryContext<WebhookSettings>): Promise<DeliveryError | undefined> {
  const { settings: cfg } = ctx;
  const headers = new Headers(base);
  headers.set("content-type", "application/json");
  headers.set("user-agent", "Sluice/0.1");
  headers.set("idempotency-key", idempotencyKey);
  if (cfg.secret) {
    // Signed at send time: a retry hours later carries a fresh timestamp, within any receiver's tolerance.
    const timestamp = Math.floor(ctx.now() / 1000);
    headers.set("x-sluice-timestamp", String(timestamp));
    headers.set("x-sluice-signature", signBody(cfg.secret, timestamp, body));
  }
  let response: Response;
  try {
    response = await ctx.fetch(cfg.url, { method: "POST", headers, body, signal: AbortSignal.timeout(cfg.timeout_ms) });
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
    return timedOut
      ? new RetryableError(`timed out after ${cfg.timeout_ms} ms`, undefined, undefined, "timeout")
      : new RetryableError(`network error: ${(err as Error).message}`, undefined, undefined, "network");
  }
  const ok = response.status >= 200 && response.status < 300;
  const snippet = ok ? "" : (await response.text().catch(() => "")).slice(0, 200);
  if (ok) await discardBody(response);
  return errorForResponse(response.status, snippet, response.headers.get("retry-after"), ctx.now());
}

/**
 * Reads a 2xx answer's body to its end (the usual `{"ok":true}`), so the connection goes back to the pool:
 * cancelling an unfinished body closes it, and the next POST pays a new connection (in workerd, cancel() was
 * most of a webhook POST's CPU). A body past 64 KB is cancelled rather than read on.
 */
async function discardBody(response: Response): Promise<void> {
  if (!response.body) return;
  const reader = response.body.getReader();
  try {
    for (let read = 0; read <= 64 * 1024; ) {
      const chunk = await reader.read();
      if (chunk.done) return;
      read += chunk.value.byteLength;
    }
    await reader.cancel();
  } catch {
    // A body that breaks off: the status already said delivered.
  }
}

/** A batch body stays under common receivers' 1 MB limits. */
const MAX_BATCH_BYTES = 512 * 1024;

/**
 * The batch bodies of a call: each event serialized once, on its own (one that cannot be fails alone, in
 * `results`, and the rest still go), the parts cut into bodies of at most MAX_BATCH_BYTES.
 */
function batchBodies(events: readonly SluiceEvent[], sources: readonly string[], results: EventResult[]): { parts: string[]; sent: number[] }[] {
  const bodies: { parts: string[]; sent: number[] }[] = [];
  let body = { parts: [] as string[], sent: [] as number[] };
  let bytes = 0;
  events.forEach((event, i) => {
    let part: string;
    try {
      part = JSON.stringify(withSource(event, sources[i]!));
    } catch (err) {
      results[i] = { ok: false, error: unsendable(err) };
      return;
    }
    const size = utf8Length(part) + 1;
    if (body.sent.length > 0 && bytes + size > MAX_BATCH_BYTES) {
      bodies.push(body);
      body = { parts: [], sent: [] };
      bytes = 0;
    }
    body.parts.push(part);
    body.sent.push(i);
    bytes += size;
  });
  if (body.sent.length > 0) bodies.push(body);
  return bodies;
}

export const webhook = defineDestination({
  kind: "webhook",
  description: "POST JSON to an HTTP endpoint, signed with HMAC-SHA256 when a secret is set",
  settings,
  receivesAllEvents: false,
  maxEventsPerCall: (cfg) => (cfg.batch.enabled ? cfg.batch.max_events : 100),
  async deliver(events, ctx): Promise<EventResult[]> {
    const sources = eventSources(events, ctx);
    // Built once: a bad operator header fails the whole call (retried), not each event for good.
    const base = new Headers(ctx.settings.headers);
    const results: EventResult[] = new Array(events.length);
    if (ctx.settings.batch.enabled) {
      for (const body of batchBodies(events, sources, results)) {
        const outcome = eventResult(await post(`{"batch":[${body.parts.join(",")}]}`, batchKey(body.sent.map((i) => events[i]!.messageId)), base, ctx));
        for (const i of body.sent) results[i] = outcome;
      }
      return results;
    }
    let next = 0;
    const worker = async () => {
      while (next < events.length) {
        const i = next++;
        const event = events[i]!;
        try {
          results[i] = eventResult(await post(JSON.stringify(withSource(event, sources[i]!)), eventKey(event.messageId), base, ctx));
        } catch (err) {
          results[i] = { ok: false, error: unsendable(err) };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(ctx.settings.concurrency, events.length) }, worker));
    return results;
  },
});

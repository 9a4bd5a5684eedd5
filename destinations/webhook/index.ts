/**
 * Webhook: POSTs events as JSON to an HTTP endpoint, one event per request or a batch `{ "batch": [...] }`.
 * Each event carries `context.sluice.source`: the id of the source it came through, set here from the queue
 * message (a client's own `context.sluice` is replaced), so a receiver can trust it when sources share this
 * destination. With a secret, receivers verify `X-Sluice-Signature: sha256=<hex HMAC-SHA256 of
 * "<X-Sluice-Timestamp>.<body>">` and reject stale timestamps (replays). They dedupe on `Idempotency-Key`:
 * the messageId when it is a safe header token, else its SHA-256 hex; for a batch, a hash of its messageIds.
 */
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

const encoder = new TextEncoder();
const keyCache = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keyCache.set(secret, key);
  }
  return key;
}

const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

function hex(buf: ArrayBuffer): string {
  const bytes = new Uint8Array(buf);
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX_BYTES[bytes[i]!];
  return out;
}

/**
 * `sha256=<hex>` over `<timestamp>.<body>` (the exact body bytes); exported so sinks and tests verify with the
 * same code. Signing the time lets a receiver reject a captured request replayed later.
 */
export async function signBody(secret: string, timestamp: number, body: string): Promise<string> {
  return `sha256=${hex(await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(`${timestamp}.${body}`)))}`;
}

async function sha256Hex(text: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** Visible ASCII, bounded: header-safe everywhere (Headers refuses controls and, in workerd, anything above U+00FF; it trims spaces). */
const SAFE_KEY = /^[\x21-\x7e]{1,200}$/;

/**
 * The Idempotency-Key of one event: its messageId when that is a safe header token, else the SHA-256 hex of it
 * (stable, so a redelivery still dedupes). Holds for messages queued before ingest refused such ids.
 */
async function eventKey(messageId: string): Promise<string> {
  return SAFE_KEY.test(messageId) ? messageId : sha256Hex(messageId);
}

/** Of the id list's JSON, so ids holding a separator cannot collide (`["a\nb"]` vs `["a","b"]`). */
export async function batchKey(messageIds: readonly string[]): Promise<string> {
  return `batch-${(await sha256Hex(JSON.stringify(messageIds))).slice(0, 32)}`;
}

/** The event as sent: the source stamped inside the signed body (the queue message's, never the client's). */
function withSource(event: SluiceEvent, source: string): SluiceEvent {
  const context = event.context && typeof event.context === "object" ? event.context : {};
  return { ...event, context: { ...context, sluice: { source } } };
}

/**
 * POSTs one body. `base` holds the operator's headers with lower-case names, so ours (lower-case too) replace
 * theirs. A plain record: building a Headers object and setting each name costs a runtime call per header.
 */
async function post(body: string, idempotencyKey: string, base: Record<string, string>, ctx: DeliveryContext<WebhookSettings>): Promise<DeliveryError | undefined> {
  const { settings: cfg } = ctx;
  const headers: Record<string, string> = { ...base, "content-type": "application/json", "user-agent": "Sluice/0.1", "idempotency-key": idempotencyKey };
  if (cfg.secret) {
    // Signed at send time: a retry hours later carries a fresh timestamp, within any receiver's tolerance.
    const timestamp = Math.floor(ctx.now() / 1000);
    headers["x-sluice-timestamp"] = String(timestamp);
    headers["x-sluice-signature"] = await signBody(cfg.secret, timestamp, body);
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
 * cancelling an unfinished body closes it, and the next POST pays a new connection (in workerd, cancel() was most
 * of a webhook POST's CPU). One arrayBuffer() read, not a reader loop (each read a round trip into the runtime);
 * a body that declares more than 64 KB is cancelled instead. An unsized (chunked) body is read whole, as the
 * error path and the vendor kinds read theirs.
 */
async function discardBody(response: Response): Promise<void> {
  if (!response.body) return;
  const length = response.headers.get("content-length");
  if (length !== null && Number(length) > 64 * 1024) await response.body.cancel().catch(() => {});
  else await response.arrayBuffer().catch(() => {});
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
    const base = Object.fromEntries(new Headers(ctx.settings.headers));
    const results: EventResult[] = new Array(events.length);
    if (ctx.settings.batch.enabled) {
      for (const body of batchBodies(events, sources, results)) {
        const outcome = eventResult(await post(`{"batch":[${body.parts.join(",")}]}`, await batchKey(body.sent.map((i) => events[i]!.messageId)), base, ctx));
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
          results[i] = eventResult(await post(JSON.stringify(withSource(event, sources[i]!)), await eventKey(event.messageId), base, ctx));
        } catch (err) {
          results[i] = { ok: false, error: unsendable(err) };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(ctx.settings.concurrency, events.length) }, worker));
    return results;
  },
});

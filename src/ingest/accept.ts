/**
 * The Tracking API request path (`POST /v1/:route`) as a plain function of ports (./ports.ts): no Hono, no env.
 * The HTTP shell (src/http/app.ts) calls it with the Worker's bindings; tests and benchmarks with in-memory fakes.
 * Steps, in order: route → write key (a header key before the body is read, so a bad key costs nothing) → body →
 * batch size → rate limit → check the events → one durable write → 200. The write is the request's body text as it
 * came, behind a small header (a raw ingest message: the router builds the events from it with the same code, see
 * RawIngestHeader); a body too large for one message goes as the events built here, ≤ 128 KB a message. Dedup, the tracking plan, the quarantine and the fan-out run behind the queue, in the router (src/router/),
 * which also writes what this path counts (./counts.ts: the counts ride in the ingest message) and the source's users.
 */
import { ApiError } from "../api-error.ts";
import type { Admission } from "../limits/lease.ts";
import type { CompiledPipeline, CompiledSource } from "../pipeline/compile.ts";
import { checkRequest, LIMITS, type CheckResult, type EventType, type NormalizeOptions, type Rejection } from "../pipeline/normalize.ts";
import { buildChecked, enqueue, INGEST_TARGET_BYTES, rawIngestBody, type MessageQueue } from "../queue/messages.ts";
import type { IngestPorts } from "./ports.ts";

export interface IngestRequest {
  /** The `:route` of `POST /v1/:route`, and the request's path (for the 404 message). */
  route: string;
  path: string;
  /** The Authorization header, if any. */
  authorization: string | null;
  /** Reads the body within the limits (gzip, size, UTF-8, JSON); throws ApiError 400 / 413 / 415. */
  readBody(): Promise<{ json: unknown; bytes: number; text?: string }>;
}

/** What the client gets: the shell sends it as JSON. */
export interface Reply {
  status: 200 | ApiError["status"];
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

/**
 * Answers one Tracking API request. Refusals (4xx, and a 503 the client should retry) are replies; anything
 * unexpected is thrown, after the rate-limit tokens were given back, for the shell's 500.
 */
export async function accept(request: IngestRequest, ports: IngestPorts): Promise<Reply> {
  try {
    return { status: 200, body: await ingest(request, ports), headers: {} };
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, body: err.body(), headers: err.headers };
    throw err;
  }
}

async function ingest(request: IngestRequest, ports: IngestPorts): Promise<Record<string, unknown>> {
  const routeType = trackingRoute(request);
  const { source, json, bytes, text } = await authenticate(request, ports.pipeline());
  const events = eventCount(routeType, json);
  const receivedAt = ports.clock();
  const scope = `source:${source.config.id}`;
  ports.stats.count(scope, "requests");
  ports.stats.count(scope, "bytes", bytes);
  const admission = await admit(source, events, ports);
  try {
    return await ingestAdmitted(source, routeType, { json, bytes, text }, receivedAt, ports);
  } catch (err) {
    // A 5xx (or anything unexpected): the client retries, and the retry must not pay twice.
    if (admission && (!(err instanceof ApiError) || err.status >= 500)) ports.guards?.refund(source.config, admission);
    throw err;
  }
}

interface Body {
  json: unknown;
  bytes: number;
  text?: string;
}

async function ingestAdmitted(source: CompiledSource, routeType: EventType | "batch", body: Body, receivedAt: Date, ports: IngestPorts): Promise<Record<string, unknown>> {
  const opts: NormalizeOptions = { receivedAt, requestBytes: body.bytes, newMessageId: () => ports.newMessageId() };
  const checked = check(body.json, routeType, opts, ports);
  const scope = `source:${source.config.id}`;
  if (checked.accepted > 0) ports.stats.count(scope, "accepted", checked.accepted);
  for (const r of checked.rejected) ports.stats.count(scope, `rejected.${r.code}`);
  if (checked.accepted === 0) {
    ports.stats.spillSoon(ports.waitUntil);
    throw nothingUsable(checked.rejected, routeType === "batch");
  }
  // The source's counts (this request's and any earlier ones no message took yet) ride in the first message.
  const counts = ports.stats.take(scope);
  try {
    // The one durable write: dedup, the tracking plan, the fan-out, stats and users run behind the queue (src/router/).
    await write(source, routeType, body, receivedAt, checked, counts, ports.ingest);
  } catch (err) {
    ports.stats.restore(scope, counts);
    throw notQueued(err, source, checked.accepted, ports);
  }
  return { success: true, accepted: checked.accepted, ...(checked.rejected.length > 0 ? { rejected: checked.rejected } : {}) };
}

/**
 * The request on the ingest queue: its body text behind a header when both fit one message (most requests), else
 * the events built from the check (the same events the router would build), packed into as few messages as fit.
 */
async function write(source: CompiledSource, routeType: EventType | "batch", body: Body, receivedAt: Date, checked: CheckResult, counts: Record<string, number> | undefined, queue: MessageQueue): Promise<void> {
  const t0 = receivedAt.getTime();
  if (body.text !== undefined && body.bytes < INGEST_TARGET_BYTES) {
    // body.bytes: the body as read (a BOM the text lost included), never less than the text's UTF-8 size.
    const message = rawIngestBody({ source: source.config.id, t0, route: routeType, ...(counts ? { counts } : {}) }, checked, body.text, body.bytes);
    if (message.bytes <= INGEST_TARGET_BYTES) return void (await queue.sendBatch([{ body: message.body, contentType: "text" }]));
  }
  const events = buildChecked(body.json, routeType, receivedAt, checked.ids, new Set(checked.rejected.map((r) => r.index))).built.accepted;
  await enqueue(queue, { kind: "ingest", source: source.config.id, t0 }, events, { targetBytes: INGEST_TARGET_BYTES, ...(counts ? { first: { counts } } : {}) });
}

/** Route name → event type; analytics.js uses the one-letter forms, `/v1/import` is Segment's batch alias. */
export const TRACKING_ROUTES: Record<string, EventType | "batch"> = {
  track: "track", t: "track", identify: "identify", i: "identify", page: "page", p: "page",
  screen: "screen", s: "screen", group: "group", g: "group", alias: "alias", a: "alias",
  batch: "batch", b: "batch", import: "batch",
};

function trackingRoute(request: IngestRequest): EventType | "batch" {
  const routeType = Object.hasOwn(TRACKING_ROUTES, request.route) ? TRACKING_ROUTES[request.route] : undefined;
  if (!routeType) throw new ApiError(404, "not_found", `no Tracking API route ${request.path}`);
  return routeType;
}

/** The source of the write key: from the Authorization header (checked before the body is read), else the body. */
async function authenticate(request: IngestRequest, pipeline: CompiledPipeline): Promise<Body & { source: CompiledSource }> {
  const headerKey = writeKeyFromAuthorization(request.authorization);
  const fromHeader = headerKey !== undefined ? resolveSource(pipeline, headerKey) : undefined;
  const body = await request.readBody();
  if (fromHeader) return { source: fromHeader, ...body };
  const json = body.json;
  const bodyKey = json && typeof json === "object" && !Array.isArray(json) ? (json as { writeKey?: unknown }).writeKey : undefined;
  return { source: resolveSource(pipeline, typeof bodyKey === "string" ? bodyKey : undefined), ...body };
}

/**
 * The write key from `Authorization: Basic base64("<writeKey>:")`; undefined when there is no Basic header.
 * @throws ApiError 401 when the header is malformed.
 */
export function writeKeyFromAuthorization(header: string | null): string | undefined {
  if (!header) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!match) return undefined;
  let decoded: string;
  try {
    decoded = atob(match[1]!);
  } catch {
    throw new ApiError(401, "invalid_write_key", "Authorization header is not valid Basic base64");
  }
  const colon = decoded.indexOf(":");
  return colon === -1 ? decoded : decoded.slice(0, colon);
}

function resolveSource(pipeline: CompiledPipeline, key: string | undefined): CompiledSource {
  if (key === undefined || key === "")
    throw new ApiError(401, "missing_write_key", "no write key: send Authorization: Basic base64(\"<writeKey>:\") or \"writeKey\" in the body");
  const source = pipeline.sourceForWriteKey(key);
  if (!source) throw new ApiError(401, "invalid_write_key", "the write key is not valid for any source");
  return source;
}

/** Events the request costs (rate limit): a batch's length, at least 1. */
function eventCount(routeType: EventType | "batch", json: unknown): number {
  if (routeType !== "batch") return 1;
  const items = (json as { batch?: unknown } | null)?.batch;
  if (!Array.isArray(items)) return 1;
  if (items.length > LIMITS.maxBatchEvents) throw new ApiError(413, "batch_too_large", `batch has ${items.length} events; the limit is ${LIMITS.maxBatchEvents}`);
  return Math.max(1, items.length);
}

/** Before the pipeline runs: a request over the limit costs one token check, and its events are not accepted. */
async function admit(source: CompiledSource, events: number, ports: IngestPorts): Promise<Admission | undefined> {
  const admission = ports.guards ? await ports.guards.admit(source.config, events) : undefined;
  if (admission && !admission.admitted) {
    ports.stats.count(`source:${source.config.id}`, "rejected.rate_limited", events);
    ports.stats.spillSoon(ports.waitUntil);
    throw new ApiError(429, "rate_limited", `source "${source.config.id}" is over its rate limit; retry in ${admission.retryAfterSeconds} s`, { "retry-after": String(admission.retryAfterSeconds) });
  }
  return admission;
}

/** Segment's per-event rules, checked: the events are built by the router (or by `write` for a large body). */
function check(json: unknown, routeType: EventType | "batch", opts: NormalizeOptions, ports: IngestPorts): CheckResult {
  const checked = checkRequest(json, routeType, opts);
  if (checked.invalid) {
    ports.stats.spillSoon(ports.waitUntil);
    throw new ApiError(400, checked.invalid.code, checked.invalid.reason);
  }
  return checked;
}

/** Why nothing in the request could be accepted, as the 4xx error of the whole request. */
function nothingUsable(rejected: Rejection[], isBatch: boolean): ApiError {
  if (!isBatch && rejected.length === 1) {
    const r = rejected[0]!;
    return new ApiError(r.code === "event_too_large" ? 413 : 400, r.code, r.reason);
  }
  const message = rejected.length === 0 ? "batch is empty" : `none of the ${rejected.length} events is valid; see "rejected"`;
  return new ApiError(400, rejected.length === 0 ? "empty_batch" : "no_valid_events", message, {}, { rejected });
}

/** Nothing is acknowledged unless it is queued: the client keeps the events and retries. */
function notQueued(err: unknown, source: CompiledSource, events: number, ports: IngestPorts): ApiError {
  console.error(JSON.stringify({ msg: "enqueue failed", source: source.config.id, error: String(err) }));
  ports.stats.count(`source:${source.config.id}`, "enqueue_failed", events);
  ports.stats.spillSoon(ports.waitUntil);
  return new ApiError(503, "queue_unavailable", "events could not be queued; retry the request", { "retry-after": "5" });
}

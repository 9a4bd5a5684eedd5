/**
 * Segment Tracking API semantics, as a pure function: validate each event of a request and enrich it the way
 * Segment's servers do (receivedAt, originalTimestamp, clock-skew corrected timestamp, messageId, batch
 * context/integrations merged, writeKey stripped). Knows nothing of HTTP or Workers.
 */
import { isPlainObject } from "../config/schema.ts";
import { formatIso, parseCanonicalIso } from "./iso-time.ts";
import { jsonBytesBound, nestedDeeperThan, utf8Length } from "./json-size.ts";

export const EVENT_TYPES = ["track", "identify", "page", "screen", "group", "alias"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Segment's documented limits, enforced here because clients do not enforce them reliably. */
export const LIMITS = {
  maxEventBytes: 32 * 1024,
  maxRequestBytes: 500 * 1024,
  maxBatchEvents: 2500,
  maxMessageIdLength: 100,
  /**
   * Objects and arrays nested in an event, the event itself being level 1. Not Segment's: it bounds the recursion
   * of every walker after ingest (JSON.stringify, filters, plans, destinations), which a few thousand levels
   * overflow. Batch-level `context`/`integrations` are merged in at level 2, so they may be one level less deep.
   */
  maxDepth: 64,
} as const;

/** The range of `Date`: ±100,000,000 days around the epoch, in ms. Beyond it `toISOString()` throws. */
const MAX_TIME_MS = 8.64e15;
const DATE_RANGE = "the years -271821 to 275760";

/** An event after normalization: what filters, plans and destinations see. */
export interface SluiceEvent extends Record<string, unknown> {
  type: EventType;
  messageId: string;
  receivedAt: string;
  timestamp: string;
}

export type RejectCode =
  | "invalid_event"
  | "missing_identity"
  | "missing_field"
  | "invalid_field"
  | "unknown_type"
  | "event_too_large"
  | "message_id_too_long"
  | "invalid_message_id"
  | "nesting_too_deep";

export interface Rejection {
  /** Position in the batch; 0 for single-event routes. */
  index: number;
  messageId?: string;
  code: RejectCode;
  reason: string;
}

export interface NormalizeResult {
  accepted: SluiceEvent[];
  rejected: Rejection[];
  /** Set when the request as a whole is unusable (a batch body's own fields): nothing is accepted or rejected. */
  invalid?: { code: RejectCode; reason: string };
}

export interface NormalizeOptions {
  /** One value per request, as Segment does. */
  receivedAt: Date;
  /** The messageId of accepted event `index` that has none (a fresh id at the edge; the edge's, replayed, in the router). */
  newMessageId: (index: number) => string;
  /** Byte length of the raw request body; items are only re-measured when the whole body could hold an oversize one. */
  requestBytes: number;
  /**
   * The router building what the edge checked (checkRequest; its rejected indexes skipped): validation is not
   * repeated, and each event is built in its own parsed object, which the caller gives up (it was parsed for this).
   */
  checked?: boolean;
}

const OBJECT_FIELDS = ["properties", "traits", "context", "integrations"] as const;

function isEventType(v: unknown): v is EventType {
  return typeof v === "string" && (EVENT_TYPES as readonly string[]).includes(v);
}

/** ms since the epoch of an ISO-8601 string or a number of ms, when a `Date` can hold it. */
function parseTime(v: unknown): number | undefined {
  const t = typeof v === "number" ? v : typeof v === "string" ? (parseCanonicalIso(v) ?? Date.parse(v)) : Number.NaN;
  return inDateRange(t) ? t : undefined;
}

const inDateRange = (t: number): boolean => Math.abs(t) <= MAX_TIME_MS; // false for NaN and ±Infinity

/** Control characters (C0, DEL, C1): a messageId is a key in storage, logs and destinations' requests. */
const CONTROL_CHAR = /\p{Cc}/u;

function isIdentity(v: unknown): boolean {
  return (typeof v === "string" && v.length > 0) || (typeof v === "number" && Number.isFinite(v));
}

/** Shallow merge where the event's own keys win; never routes `__proto__` through a setter. */
function mergeObjects(base: Record<string, unknown>, own: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const src of [base, own]) {
    if (!src) continue;
    for (const k of Object.keys(src)) Object.defineProperty(out, k, { value: src[k], enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * Checks one raw event; returns the reason it is unusable, or undefined.
 * @example validate({ type: "track", userId: "u1" }) // → { code: "missing_field", reason: "track needs an \"event\" string" }
 */
function validate(raw: Record<string, unknown>, type: EventType): { code: RejectCode; reason: string } | undefined {
  for (const f of OBJECT_FIELDS) {
    const v = raw[f];
    if (v !== undefined && v !== null && !isPlainObject(v)) return { code: "invalid_field", reason: `"${f}" must be an object` };
  }
  const mid = raw.messageId;
  if (mid !== undefined && mid !== null) {
    if (typeof mid !== "string" || mid.length === 0) return { code: "invalid_field", reason: `"messageId" must be a non-empty string` };
    if (mid.length > LIMITS.maxMessageIdLength)
      return { code: "message_id_too_long", reason: `"messageId" is longer than ${LIMITS.maxMessageIdLength} characters` };
    if (CONTROL_CHAR.test(mid)) return { code: "invalid_message_id", reason: `"messageId" contains a control character` };
  }
  if (type === "alias") {
    if (!isIdentity(raw.userId)) return { code: "missing_identity", reason: `alias needs "userId"` };
    if (!isIdentity(raw.previousId)) return { code: "missing_field", reason: `alias needs "previousId"` };
    return undefined;
  }
  if (!isIdentity(raw.userId) && !isIdentity(raw.anonymousId))
    return { code: "missing_identity", reason: `"userId" or "anonymousId" is required` };
  if (type === "track" && (typeof raw.event !== "string" || raw.event.length === 0))
    return { code: "missing_field", reason: `track needs an "event" string` };
  if (type === "group" && !isIdentity(raw.groupId)) return { code: "missing_field", reason: `group needs "groupId"` };
  if ((type === "page" || type === "screen") && raw.name !== undefined && raw.name !== null && typeof raw.name !== "string")
    return { code: "invalid_field", reason: `"name" must be a string` };
  // Last: the only check that walks the whole event.
  if (nestedDeeperThan(raw, LIMITS.maxDepth)) return { code: "nesting_too_deep", reason: `event is nested deeper than ${LIMITS.maxDepth} levels` };
  return undefined;
}

interface EventTimes {
  /** The client's `timestamp`. */
  original?: number;
  sentAt?: number;
  /** Corrected for the client's clock skew when sentAt is known. */
  timestamp?: number;
  /** `original` and `sentAt` formatted, when the client wrote them in that very form (canonical ISO-8601). */
  originalIso?: string;
  sentAtIso?: string;
}

/**
 * The event's times in ms, or why they are unusable: each must be a date a `Date` can hold (so that formatting it
 * cannot throw), the skew-corrected timestamp too.
 */
function eventTimes(raw: Record<string, unknown>, envelope: Envelope, received: number): EventTimes | { code: RejectCode; reason: string } {
  const rawTimestamp = raw.timestamp;
  const rawSentAt = raw.sentAt;
  // A string in the canonical form is its own format: the event carries it as it came, with no Date to write it.
  let original = typeof rawTimestamp === "string" ? parseCanonicalIso(rawTimestamp) : undefined;
  let ownSentAt = typeof rawSentAt === "string" ? parseCanonicalIso(rawSentAt) : undefined;
  const originalIso = original !== undefined ? (rawTimestamp as string) : undefined;
  const sentAtIso = ownSentAt !== undefined ? (rawSentAt as string) : undefined;
  if (original === undefined && rawTimestamp !== undefined && rawTimestamp !== null && (original = parseTime(rawTimestamp)) === undefined)
    return { code: "invalid_field", reason: `"timestamp" must be an ISO-8601 date within ${DATE_RANGE}` };
  if (ownSentAt === undefined && rawSentAt !== undefined && rawSentAt !== null && (ownSentAt = parseTime(rawSentAt)) === undefined)
    return { code: "invalid_field", reason: `"sentAt" must be an ISO-8601 date within ${DATE_RANGE}` };
  const sentAt = ownSentAt ?? envelope.sentAt;
  if (original === undefined) return { sentAt, sentAtIso };
  const timestamp = sentAt !== undefined ? received - (sentAt - original) : original;
  if (!inDateRange(timestamp)) return { code: "invalid_field", reason: `"timestamp" corrected for clock skew by "sentAt" falls outside ${DATE_RANGE}` };
  return { original, sentAt, timestamp, originalIso, sentAtIso };
}

/** Builds the normalized event: enrichment fields, batch-level defaults merged, `writeKey` removed. */
function enrich(
  raw: Record<string, unknown>,
  type: EventType,
  envelope: Envelope,
  messageId: (index: number) => string,
  index: number,
  receivedAt: string,
  times: EventTimes,
  inPlace = false,
): SluiceEvent {
  // In place, the keys end in the same order as in a copy: kept keys where they were, new ones appended in order.
  let out: Record<string, unknown> = raw;
  if (inPlace) {
    if (Object.hasOwn(raw, "writeKey")) delete raw.writeKey;
    if (Object.hasOwn(raw, "__proto__")) delete raw["__proto__"];
  } else {
    out = {};
    for (const k of Object.keys(raw)) {
      if (k === "writeKey" || k === "__proto__") continue;
      out[k] = raw[k];
    }
  }
  out.type = type;
  if (envelope.context) out.context = mergeObjects(envelope.context, raw.context as Record<string, unknown> | undefined);
  if (envelope.integrations)
    out.integrations = mergeObjects(envelope.integrations, raw.integrations as Record<string, unknown> | undefined);
  if (typeof out.messageId !== "string") out.messageId = messageId(index);

  const { original, sentAt, timestamp } = times;
  out.receivedAt = receivedAt;
  if (original !== undefined) out.originalTimestamp = times.originalIso ?? formatIso(original);
  out.timestamp = timestamp !== undefined ? (timestamp === original && times.originalIso !== undefined ? times.originalIso : formatIso(timestamp)) : receivedAt;
  if (sentAt !== undefined) out.sentAt = times.sentAtIso ?? (sentAt === envelope.sentAt ? (envelope.sentAtIso ??= formatIso(sentAt)) : formatIso(sentAt));
  return out as SluiceEvent;
}

interface Envelope {
  context?: Record<string, unknown>;
  integrations?: Record<string, unknown>;
  sentAt?: number;
  /** sentAt as written on each event, formatted once per request. */
  sentAtIso?: string;
}

/** An event's context or integrations with the batch's merged in: the built event's, or merged for the check. */
function merged(raw: Record<string, unknown>, envelope: Envelope, event: SluiceEvent | undefined, f: "context" | "integrations"): unknown {
  if (event) return event[f];
  return envelope[f] ? mergeObjects(envelope[f], raw[f] as Record<string, unknown> | undefined) : raw[f];
}

/** What the edge's check of a request found (checkRequest): no events built, only what the router needs to build them. */
export interface CheckResult {
  accepted: number;
  rejected: Rejection[];
  /** The ids generated for accepted events without a messageId, by index. */
  ids: Record<number, string>;
  invalid?: { code: RejectCode; reason: string };
}

/** Either the events built (normalizeRequest), or only counted, with the ids they will get (checkRequest). */
type Sink = { build: true; result: NormalizeResult } | { build: false; result: CheckResult };

function normalizeOne(
  raw: unknown,
  index: number,
  routeType: EventType | undefined,
  envelope: Envelope,
  opts: NormalizeOptions,
  receivedAt: string,
  sink: Sink,
): void {
  const { rejected } = sink.result;
  if (!isPlainObject(raw)) {
    rejected.push({ index, code: "invalid_event", reason: "event must be a JSON object" });
    return;
  }
  const messageId = typeof raw.messageId === "string" ? raw.messageId.slice(0, LIMITS.maxMessageIdLength) : undefined;
  const type = routeType ?? raw.type;
  if (!isEventType(type)) {
    // Only a string is quoted back: any other value may be nested too deep to stringify.
    const reason =
      raw.type === undefined ? `"type" is required in a batch` : typeof raw.type === "string" ? `unknown type ${JSON.stringify(raw.type)}` : `"type" must be a string`;
    rejected.push({ index, messageId, code: "unknown_type", reason });
    return;
  }
  const times = (opts.checked ? undefined : validate(raw, type)) ?? eventTimes(raw, envelope, opts.receivedAt.getTime());
  if ("code" in times) {
    rejected.push({ index, messageId, ...times });
    return;
  }
  // No closure per event: a bundle that keeps function names (esbuild keepNames) defines a property on each one.
  const event = sink.build ? enrich(raw, type, envelope, opts.newMessageId, index, receivedAt, times, opts.checked) : undefined;
  const id = !sink.build && typeof raw.messageId !== "string" ? opts.newMessageId(index) : undefined;
  // The event as the client sent it, with the batch's context/integrations merged in (they travel with it);
  // our own enrichment does not count. A request no bigger than the limit cannot hold an oversize event.
  if (opts.requestBytes > LIMITS.maxEventBytes) {
    const measured =
      envelope.context || envelope.integrations ? { ...raw, context: merged(raw, envelope, event, "context"), integrations: merged(raw, envelope, event, "integrations") } : raw;
    // A cheap upper bound first: only an event that could be too large is serialized and measured.
    if (jsonBytesBound(measured, LIMITS.maxEventBytes) > LIMITS.maxEventBytes && utf8Length(JSON.stringify(measured)) > LIMITS.maxEventBytes) {
      rejected.push({ index, messageId, code: "event_too_large", reason: `event is larger than ${LIMITS.maxEventBytes} bytes` });
      return;
    }
  }
  if (sink.build) sink.result.accepted.push(event!);
  else {
    sink.result.accepted++;
    if (id !== undefined) sink.result.ids[index] = id;
  }
}

/**
 * Normalizes the parsed JSON body of one Tracking API request.
 * @param routeType the type implied by the route (`/v1/track` → "track"); undefined for batch routes.
 * @param skip indexes not to look at (the edge rejected them): they are neither accepted nor rejected.
 * @example normalizeRequest({ userId: "u1", event: "Signed Up" }, "track", opts).accepted[0].type // "track"
 */
export function normalizeRequest(body: unknown, routeType: EventType | "batch", opts: NormalizeOptions, skip?: ReadonlySet<number>): NormalizeResult {
  const result: NormalizeResult = { accepted: [], rejected: [] };
  const invalid = eachEvent(body, routeType, opts, { build: true, result }, skip);
  return invalid ? { ...result, invalid } : result;
}

/**
 * The checks of normalizeRequest alone, for the edge: which events are accepted and which rejected (with the same
 * reasons), and the ids generated for accepted events without one; no event is built. normalizeRequest with the
 * same `receivedAt`, the rejected indexes skipped and `ids` replayed builds exactly the events normalizeRequest
 * builds from the body.
 */
export function checkRequest(body: unknown, routeType: EventType | "batch", opts: NormalizeOptions): CheckResult {
  const result: CheckResult = { accepted: 0, rejected: [], ids: {} };
  const invalid = eachEvent(body, routeType, opts, { build: false, result });
  return invalid ? { accepted: 0, rejected: [], ids: {}, invalid } : result;
}

function eachEvent(body: unknown, routeType: EventType | "batch", opts: NormalizeOptions, sink: Sink, skip?: ReadonlySet<number>): CheckResult["invalid"] {
  const receivedAt = formatIso(opts.receivedAt.getTime());
  if (routeType !== "batch") {
    if (!skip?.has(0)) normalizeOne(body, 0, routeType, {}, opts, receivedAt, sink);
    return undefined;
  }
  if (!isPlainObject(body) || !Array.isArray(body.batch)) return { code: "invalid_event", reason: `batch body must be an object with a "batch" list` };
  const sentAt = parseTime(body.sentAt);
  // A checked body passed these checks at the edge already.
  const invalid = opts.checked ? undefined : invalidEnvelope(body, sentAt);
  if (invalid) return invalid;
  const envelope: Envelope = {
    context: isPlainObject(body.context) ? body.context : undefined,
    integrations: isPlainObject(body.integrations) ? body.integrations : undefined,
    sentAt,
  };
  const items = body.batch;
  for (let i = 0; i < items.length; i++) if (!skip?.has(i)) normalizeOne(items[i], i, undefined, envelope, opts, receivedAt, sink);
  return undefined;
}

/** Why a batch body's own fields make the whole request unusable (they apply to every event), or undefined. */
function invalidEnvelope(body: Record<string, unknown>, sentAt: number | undefined): NormalizeResult["invalid"] {
  if (body.sentAt !== undefined && body.sentAt !== null && sentAt === undefined)
    return { code: "invalid_field", reason: `batch "sentAt" must be an ISO-8601 date within ${DATE_RANGE}` };
  for (const f of ["context", "integrations"] as const) {
    if (nestedDeeperThan(body[f], LIMITS.maxDepth - 1))
      return { code: "nesting_too_deep", reason: `batch "${f}" is nested deeper than ${LIMITS.maxDepth - 1} levels (it is merged into each event)` };
  }
  return undefined;
}

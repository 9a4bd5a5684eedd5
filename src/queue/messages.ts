/**
 * The delivery message: events for ONE destination, packed so a message stays under one 64 KB Queue billing
 * unit (the hard limit is 128 KB). One destination per message keeps destinations isolated: a failing one
 * retries its own messages only.
 */
import { utf8Length } from "../pipeline/json-size.ts";
import { normalizeRequest, type CheckResult, type EventType, type NormalizeResult, type SluiceEvent } from "../pipeline/normalize.ts";
import type { PendingStages, Routed } from "../pipeline/route.ts";

export { utf8Length };

export interface DeliveryMessage {
  v: 1;
  /** Destination id. */
  dest: string;
  /** Source id. */
  source: string;
  /** When the events were accepted (ms); the retry window counts from here. */
  t0: number;
  /** Delivery attempts already made for these events before this message (re-enqueued remainders carry it). */
  tries: number;
  firstError?: string;
  lastError?: string;
  /**
   * Filter stages still to run before delivery ("all": source and destination), when a secret was missing at ingest.
   * It travels with the events until those stages ran (requeue, dead letter, replay), so they run exactly once.
   */
  pending?: PendingStages;
  /** Sent straight to the dead-letter queue (a filter threw on the events): what the dead letter records. */
  failure?: { code: string; reason: string };
  events: SluiceEvent[];
}

/**
 * An ingest message: one request's normalized events for the router (src/router/), as the request path wrote them.
 */
export interface IngestMessage {
  /** 2 when it was parsed from a raw ingest message (RawIngestHeader): the events were built by the parser. */
  v: 1 | 2;
  kind: "ingest";
  source: string;
  /** When the request was received (ms): its deliveries' retry window counts from here. */
  t0: number;
  /**
   * What the request path counted for the source since its last message (requests, bytes, accepted,
   * rejected.<reason>, …): carried in the first message of a request, added to the source's stats by the router once
   * the message is settled, so the request path writes no counters itself.
   */
  counts?: Record<string, number>;
  events: SluiceEvent[];
}

/**
 * A raw ingest message (v: 2): one request's body text as the client sent it (inflated), after this header and a
 * newline (JSON text has no raw newline). The edge checked the events (checkRequest) without building them; the
 * router builds them (normalizeRequest, the same code) when it parses the message: receivedAt from `t0`, the
 * rejected indexes skipped, the edge's ids replayed, so a redelivery builds the same events. The body text may hold
 * a `writeKey`: normalization drops it, as on the edge.
 */
export interface RawIngestHeader {
  v: 2;
  kind: "ingest";
  source: string;
  t0: number;
  route: EventType | "batch";
  /** Events accepted: the router builds exactly these many, else the message is malformed. */
  n: number;
  /** Indexes the edge rejected (answered as rejected to the client): never routed. */
  skip?: number[];
  /** Ids the edge generated for accepted events without a messageId, by index. */
  ids?: Record<number, string>;
  counts?: Record<string, number>;
}

/**
 * The body of a raw ingest message (the header's JSON, a newline, the request's body text) and its UTF-8 size, for
 * a request the edge checked (checkRequest).
 */
export function rawIngestBody(fields: Pick<RawIngestHeader, "source" | "t0" | "route" | "counts">, checked: CheckResult, text: string, textBytes = utf8Length(text)): { body: string; bytes: number } {
  const { source, t0, route, counts } = fields;
  const skip = checked.rejected.length > 0 ? { skip: checked.rejected.map((r) => r.index) } : {};
  const ids = Object.keys(checked.ids).length > 0 ? { ids: checked.ids } : {};
  const header: RawIngestHeader = { v: 2, kind: "ingest", source, t0, route, n: checked.accepted, ...skip, ...ids, ...(counts ? { counts } : {}) };
  const head = JSON.stringify(header);
  return { body: `${head}\n${text}`, bytes: utf8Length(head) + 1 + textBytes };
}

/** Target size of an ingest message: the queue's message limit (128 KB = 128,000 bytes), less 2 KB for its envelope. */
export const INGEST_TARGET_BYTES = 126_000;

/** Target size of one message body in bytes: one 64 KB billing unit, less room for the envelope. */
export const MESSAGE_TARGET_BYTES = 60 * 1024;
/** Queue limits for one sendBatch call. */
export const SEND_BATCH_MAX_MESSAGES = 100;
export const SEND_BATCH_MAX_BYTES = 240 * 1024;

export interface PackedMessage {
  body: string;
  bytes: number;
  events: number;
}

/** An event as it travels in a message body, and its UTF-8 size. */
export interface EventJson {
  json: string;
  size: number;
}
export type EventSerializer = (event: SluiceEvent) => EventJson;

/**
 * Serializes each event object once: destinations whose filters left an event untouched share the object (copy on
 * write), so they share its JSON too. One per request; the objects must not change afterwards.
 */
export function eventJsonOnce(): EventSerializer {
  const done = new Map<SluiceEvent, EventJson>();
  return (event) => {
    let e = done.get(event);
    if (!e) done.set(event, (e = serializeEvent(event)));
    return e;
  };
}

function serializeEvent(event: SluiceEvent): EventJson {
  const json = JSON.stringify(event);
  return { json, size: utf8Length(json) };
}

/**
 * Serializes events into as few message bodies as fit `targetBytes` each (an event larger than the target
 * travels alone; events are at most 32 KB so it always fits the 128 KB limit).
 * @example packMessages({ v: 1, dest: "hook", source: "web", t0: Date.now(), tries: 0 }, events)
 */
export function packMessages(
  header: Omit<DeliveryMessage, "events"> | Omit<IngestMessage, "events">,
  events: readonly SluiceEvent[],
  targetBytes = MESSAGE_TARGET_BYTES,
  maxEvents = Number.POSITIVE_INFINITY,
  serialize: EventSerializer = serializeEvent,
  firstHeader?: object,
): PackedMessage[] {
  const headOf = (h: object) => JSON.stringify(h).slice(0, -1) + ',"events":[';
  const rest = headOf(header);
  let head = firstHeader ? headOf(firstHeader) : rest;
  const out: PackedMessage[] = [];
  let parts: string[] = [];
  let bytes = utf8Length(head) + 2;
  const flush = () => {
    if (parts.length === 0) return;
    out.push({ body: head + parts.join(",") + "]}", bytes, events: parts.length });
    parts = [];
    head = rest;
    bytes = utf8Length(head) + 2;
  };
  for (const event of events) {
    const { json, size } = serialize(event);
    if (parts.length > 0 && (bytes + size + 1 > targetBytes || parts.length >= maxEvents)) flush();
    parts.push(json);
    bytes += size + 1;
  }
  flush();
  return out;
}

/** Splits messages into sendBatch-sized groups (≤ 100 messages and ≤ 240 KB each). */
export function sendBatches(messages: readonly PackedMessage[]): PackedMessage[][] {
  const groups: PackedMessage[][] = [];
  let group: PackedMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    if (group.length > 0 && (group.length >= SEND_BATCH_MAX_MESSAGES || bytes + m.bytes > SEND_BATCH_MAX_BYTES)) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(m);
    bytes += m.bytes;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** What `enqueue` needs of a queue binding (a fake in tests and benchmarks). */
export interface MessageQueue {
  sendBatch(messages: MessageSendRequest[]): Promise<unknown>;
}

export interface EnqueueOptions {
  /** Shares one serialization per event object across destinations (eventJsonOnce, one per request). */
  serialize?: EventSerializer;
  /** Delay before the messages are delivered (retries). */
  delaySeconds?: number;
  /** Body size to pack to (default MESSAGE_TARGET_BYTES, one billing unit). */
  targetBytes?: number;
  /** Header fields only the first message carries (an ingest message's `counts`: counted once however many follow). */
  first?: Pick<IngestMessage, "counts">;
}

/**
 * The one way delivery and ingest messages are sent: `header` (v: 1 added) with the events packed into as few messages as
 * fit, in sendBatch-sized groups, sent together. Rejects if any send fails, a binding that throws instead of
 * rejecting included; sends already started are still observed.
 * @example await enqueue(env.DELIVERIES, { dest: "hook", source: "web", t0: Date.now(), tries: 0 }, events)
 */
export async function enqueue(queue: MessageQueue, header: Omit<DeliveryMessage, "v" | "events"> | Omit<IngestMessage, "v" | "events">, events: readonly SluiceEvent[], options: EnqueueOptions = {}): Promise<void> {
  if (events.length === 0) return;
  const delay = options.delaySeconds !== undefined ? { delaySeconds: options.delaySeconds } : {};
  const sends: Promise<unknown>[] = [];
  try {
    for (const group of sendBatches(packMessages({ v: 1, ...header }, events, options.targetBytes ?? MESSAGE_TARGET_BYTES, Infinity, options.serialize, options.first && { v: 1, ...header, ...options.first }))) {
      sends.push(queue.sendBatch(group.map((m) => ({ body: m.body, contentType: "text" as const, ...delay }))));
    }
  } catch (err) {
    void Promise.allSettled(sends);
    throw err;
  }
  await Promise.all(sends);
}

/** One queue send for a destination's routed events: header fields beyond v, dest, source, t0 and tries. */
export interface RoutedSend {
  queue: "DELIVERIES" | "DEAD_LETTERS";
  fields: Pick<DeliveryMessage, "pending" | "failure">;
  events: SluiceEvent[];
}

/** What to queue for one destination's routed events: its deliveries, and what a filter threw on as dead letters. */
export function routedSends(routed: Routed): RoutedSend[] {
  const sends: RoutedSend[] = routed.events.length > 0 ? [{ queue: "DELIVERIES", fields: routed.pending ? { pending: routed.pending } : {}, events: routed.events }] : [];
  for (const f of routed.failed ?? []) sends.push({ queue: "DEAD_LETTERS", fields: { pending: f.pending, failure: { code: "filter_error", reason: f.reason } }, events: f.events });
  return sends;
}

/** A queue message body as text, whole: a string as it is, bytes as base64, anything else as JSON. */
export interface BodyText {
  body: string;
  bodyEncoding?: "base64";
}

/** @example bodyText("{not json") // { body: "{not json" } */
export function bodyText(body: unknown): BodyText {
  if (typeof body === "string") return { body };
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) {
    const bytes = body instanceof ArrayBuffer ? new Uint8Array(body) : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return { body: btoa(binary), bodyEncoding: "base64" };
  }
  try {
    const json = JSON.stringify(body);
    if (json !== undefined) return { body: json };
  } catch {
    // a body JSON cannot hold (a cycle, a BigInt): its string form is the best there is
  }
  return { body: String(body) };
}

/**
 * What a delivery message becomes when it is given up on: the record src/archive/dead-letters.ts stores (R2 +
 * index) and replays. Defined here, beside the message it is made from, so the consumer needs nothing of the archive.
 */
export interface DeadLetter {
  id: string;
  destination: string;
  source: string;
  reason: string;
  attempts: number;
  firstError?: string;
  lastError?: string;
  /** Short failure label for filtering (`http_404`, `timeout`, `retry_window`, …). */
  code?: string;
  /** When the events were accepted, and when they were given up on (ISO). */
  acceptedAt: string;
  deadLetteredAt: string;
  /** Filter stages not yet run on `events` (see DeliveryMessage.pending): a replay runs them before delivery. */
  pending?: PendingStages;
  events: SluiceEvent[];
  /** The whole queue message body, when it was not a delivery message (code `malformed`). */
  body?: string;
  bodyEncoding?: "base64";
}

/** A queue message that is not a delivery message, kept whole for an operator rather than dropped. */
export function malformedDeadLetter(msg: Message<unknown>, id: string, now: number): DeadLetter {
  return {
    id, destination: "unknown", source: "unknown", reason: "malformed delivery message", code: "malformed", attempts: msg.attempts,
    acceptedAt: msg.timestamp.toISOString(), deadLetteredAt: new Date(now).toISOString(), events: [], ...bodyText(msg.body),
  };
}

/** Parses a message body; undefined when it is not a delivery message (the caller dead-letters it). */
export function parseDeliveryMessage(body: unknown): DeliveryMessage | undefined {
  const m = bodyValue(body) as Partial<DeliveryMessage> | null | undefined;
  if (!m || typeof m !== "object" || m.v !== 1 || typeof m.dest !== "string" || !Array.isArray(m.events)) return undefined;
  if (typeof m.t0 !== "number" || typeof m.tries !== "number" || typeof m.source !== "string") return undefined;
  if (m.failure !== undefined && (typeof m.failure?.code !== "string" || typeof m.failure.reason !== "string")) return undefined;
  return m as DeliveryMessage;
}

/** Parses an ingest message body, v1 or v2; undefined when it is not one (the router dead-letters it). */
export function parseIngestMessage(body: unknown): IngestMessage | undefined {
  if (typeof body === "string" && body.startsWith('{"v":2,')) return parseRawIngest(body);
  const m = bodyValue(body) as Partial<IngestMessage> | null | undefined;
  if (!m || typeof m !== "object" || m.v !== 1 || m.kind !== "ingest" || typeof m.source !== "string" || typeof m.t0 !== "number" || !Array.isArray(m.events)) return undefined;
  if (m.counts !== undefined && !numberRecord(m.counts)) delete m.counts;
  return m as IngestMessage;
}

/** A message body as a value: text is parsed as JSON (undefined when it is not JSON). */
function bodyValue(body: unknown): unknown {
  if (typeof body !== "string") return body;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

const ROUTES = new Set(["track", "identify", "page", "screen", "group", "alias", "batch"]);
const isIndexList = (v: unknown): v is number[] => Array.isArray(v) && v.every((i) => Number.isInteger(i));

/**
 * The edge's ids of the raw message being built, and whether one was missing. One function for every message (not a
 * closure per message: a bundle that keeps function names defines a property on each one); normalizeRequest is
 * synchronous, so the message it serves is always the one set here.
 */
const NOT_REPLAYING = { ids: {} as Record<number, string>, missing: false };
let replaying = NOT_REPLAYING;
function replayedId(index: number): string {
  const id = Object.hasOwn(replaying.ids, index) ? replaying.ids[index] : undefined;
  if (typeof id === "string") return id;
  replaying.missing = true;
  return "";
}

/**
 * The events of a request the edge checked, built as the router builds them: the ids the check assigned replayed,
 * the indexes it rejected skipped. `missing`: the build asked for an id the check did not give.
 */
export function buildChecked(json: unknown, route: EventType | "batch", receivedAt: Date, ids: Record<number, string>, skip: ReadonlySet<number> | undefined): { built: NormalizeResult; missing: boolean } {
  const state = (replaying = { ids, missing: false });
  try {
    // requestBytes 0: the event size was checked at the edge (what it found too large is in `skip`).
    return { built: normalizeRequest(json, route, { receivedAt, requestBytes: 0, newMessageId: replayedId, checked: true }, skip), missing: state.missing };
  } finally {
    replaying = NOT_REPLAYING;
  }
}

/** A raw ingest message (v2) with its events built; undefined when it is malformed or builds other than `n` events. */
function parseRawIngest(body: string): IngestMessage | undefined {
  const newline = body.indexOf("\n");
  if (newline === -1) return undefined;
  const h = bodyValue(body.slice(0, newline)) as Partial<RawIngestHeader> | undefined;
  if (!h || h.kind !== "ingest" || typeof h.source !== "string" || typeof h.t0 !== "number" || !ROUTES.has(h.route as string) || typeof h.n !== "number") return undefined;
  if ((h.skip !== undefined && !isIndexList(h.skip)) || (h.ids !== undefined && (typeof h.ids !== "object" || h.ids === null))) return undefined;
  const json = bodyValue(body.slice(newline + 1));
  if (json === undefined) return undefined;
  const receivedAt = new Date(h.t0);
  if (Number.isNaN(receivedAt.getTime())) return undefined;
  const { built, missing } = buildChecked(json, h.route!, receivedAt, h.ids ?? {}, h.skip && new Set(h.skip));
  if (missing || built.invalid || built.rejected.length > 0 || built.accepted.length !== h.n) return undefined;
  const message: IngestMessage = { v: 2, kind: "ingest", source: h.source, t0: h.t0, events: built.accepted };
  if (numberRecord(h.counts)) message.counts = h.counts;
  return message;
}

/** Counts that are not numbers are left out (the events still go on): they are telemetry, not data. */
function numberRecord(value: unknown): value is Record<string, number> {
  if (typeof value !== "object" || value === null) return false;
  for (const k in value) if (Object.hasOwn(value, k) && typeof (value as Record<string, unknown>)[k] !== "number") return false;
  return true;
}

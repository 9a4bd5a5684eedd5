/**
 * Vendor kinds (Mixpanel, Amplitude, GA4, …) are written as `map` + `send`: `map` turns one event into its part of
 * a request, `send` posts a batch of parts and says what happened to each. `defineVendorDestination` turns that into
 * the general contract (src/delivery/destination.ts): it maps every event, fails alone the one that cannot be mapped
 * or is over the vendor's per-event size, cuts the rest into requests within the vendor's limits (measured on the
 * mapped JSON, which is what the vendor counts), and returns one result per event.
 */
import type { Schema } from "../config/schema.ts";
import type { EventType, SluiceEvent } from "../pipeline/normalize.ts";
import { utf8Length } from "../pipeline/json-size.ts";
import { DeliveryError, errorForResponse, PermanentError, RetryableError, unsendable } from "./errors.ts";
import type { DeliveryContext, DestinationDefinition, EventResult } from "./destination.ts";

export interface VendorLimits {
  /** Events per request. */
  maxEvents: number;
  /** JSON bytes of all parts of one request (the envelope's few bytes aside). */
  maxBytes: number;
  /** JSON bytes of one mapped part; a bigger one fails finally (`too_large`). */
  maxEventBytes: number;
}

/** What the generated docs page of a kind shows beyond its settings and limits (scripts/destination-docs.ts). */
export interface VendorDocs {
  /** The mapping table: Segment field or event → vendor field or event. */
  mapping: readonly { from: string; to: string; note?: string }[];
  /** What each setting means, by key (the generated page adds its type, default and whether it is required). */
  settings?: Readonly<Record<string, string>>;
  /** Further facts operators need (regions, dedup, what a partial failure looks like), one paragraph each. */
  notes?: readonly string[];
}

export interface VendorDefinition<S, P, C = S> {
  kind: string;
  description: string;
  docs: VendorDocs;
  settings: Schema<S>;
  /** Event types the vendor takes; routing counts the others `dropped.unsupported_type` (never sent, never silent). */
  eventTypes: readonly EventType[];
  /** Per-destination selection from settings; see DestinationDefinition.select. */
  select?(settings: S): ((event: SluiceEvent) => string | undefined) | undefined;
  receivesAllEvents?: boolean;
  limits(settings: S): VendorLimits;
  /**
   * How the consumer sizes one delivery call, measured on the events' own JSON (default: one request's
   * `maxEvents` and `maxBytes`). A kind whose parts are far smaller than the events (Slack's lines), or that
   * combines a call's events across requests (GA4, per client), asks for larger calls here; `deliver` still cuts
   * each call into requests within `limits`.
   */
  callLimits?(settings: S): { maxEvents: number; maxBytes: number };
  /**
   * Settings (secrets resolved) → what map/send use (base URL, auth header, templates); run once per isolate per
   * destination, since resolved settings are cached per destination (see the consumer).
   */
  compile?(settings: S): C;
  /** One event → its part of the request. Throw to fail only this event, finally (`PermanentError` keeps its code). */
  map(event: SluiceEvent, compiled: C): P;
  /**
   * Posts one request's parts (within limits); one result per part, in order. Throw a DeliveryError to fail all of
   * them (network errors: `RetryableError`; use `errorForResponse` for whole-request HTTP statuses).
   */
  send(parts: readonly P[], compiled: C, ctx: DeliveryContext<S>): Promise<EventResult[]>;
}

const encoder = new TextEncoder();
/** What the vendor counts: the part's JSON in UTF-8, measured without allocating the bytes. */
const jsonBytes = (part: unknown): number => utf8Length(JSON.stringify(part));

/** Builds the destination definition the consumer runs; `map`/`send`/`limits` stay reachable for tests and docs. */
export function defineVendorDestination<S, P, C = S>(vendor: VendorDefinition<S, P, C>): DestinationDefinition<S> & { vendor: VendorDefinition<S, P, C> } {
  const compiledFor = new WeakMap<object, C>();
  const compile = (settings: S): C => {
    if (!vendor.compile) return settings as unknown as C;
    if (typeof settings !== "object" || settings === null) return vendor.compile(settings);
    let c = compiledFor.get(settings);
    if (c === undefined) compiledFor.set(settings, (c = vendor.compile(settings)));
    return c;
  };
  return {
    kind: vendor.kind,
    description: vendor.description,
    settings: vendor.settings,
    eventTypes: vendor.eventTypes,
    ...(vendor.select ? { select: vendor.select } : {}),
    receivesAllEvents: vendor.receivesAllEvents ?? false,
    maxEventsPerCall: (s) => (vendor.callLimits ?? vendor.limits)(s).maxEvents,
    // Requests are cut by bytes in deliver(), from the parts it measures anyway: sizing each event for the call too
    // would serialize it once more. Only a kind whose calls have their own byte bound (callLimits) states it.
    ...(vendor.callLimits ? { maxBytesPerCall: (s: S) => vendor.callLimits!(s).maxBytes } : {}),
    vendor,
    async deliver(events, ctx) {
      const compiled = compile(ctx.settings);
      const limits = vendor.limits(ctx.settings);
      const results: EventResult[] = new Array(events.length);
      let parts: P[] = [];
      let indexes: number[] = [];
      let bytes = 0;
      const flush = async () => {
        if (parts.length === 0) return;
        const batch = parts;
        const at = indexes;
        parts = [];
        indexes = [];
        bytes = 0;
        let sent: EventResult[];
        try {
          sent = await vendor.send(batch, compiled, ctx);
          if (sent.length !== batch.length) throw new Error(`${vendor.kind}: send returned ${sent.length} results for ${batch.length} events`);
        } catch (err) {
          // Only this request's events fail: earlier requests of the call may have been delivered already.
          const error = err instanceof DeliveryError ? err : new RetryableError(`adapter error: ${String(err)}`, undefined, undefined, "adapter");
          sent = batch.map(() => ({ ok: false, error }));
        }
        sent.forEach((r, j) => (results[at[j]!] = r));
      };
      for (let i = 0; i < events.length; i++) {
        const event = events[i]!;
        let part: P;
        let size: number;
        try {
          part = vendor.map(event, compiled);
          size = jsonBytes(part);
        } catch (err) {
          results[i] = { ok: false, error: unsendable(err) };
          continue;
        }
        if (size > limits.maxEventBytes) {
          results[i] = { ok: false, error: new PermanentError(`event is ${size} bytes as ${vendor.kind} sends it; the limit is ${limits.maxEventBytes}`, undefined, "too_large") };
          continue;
        }
        if (parts.length >= limits.maxEvents || (parts.length > 0 && bytes + size + 1 > limits.maxBytes)) await flush();
        parts.push(part);
        indexes.push(i);
        bytes += size + 1;
      }
      await flush();
      return results;
    },
  };
}

/** `http(s)://…` or a `${env.NAME}` reference (optionally followed by a path): what every vendor's `endpoint` takes. */
export const ENDPOINT_PATTERN = /^(https?:\/\/[^\s/?#]+[^\s?#]*|\$\{env\.[A-Za-z_][A-Za-z0-9_]*\}[^\s?#]*)$/;

/** A base URL without its trailing slashes, so kinds append `/path` to it. */
export function baseUrl(endpoint: string): string {
  return endpoint.replace(/\/+$/, "");
}

/** `Basic base64(user:password)`, as Mixpanel and Segment take their secrets. */
export function basicAuth(user: string, password = ""): string {
  const bytes = encoder.encode(`${user}:${password}`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

/** What a vendor answered: status, a bounded body and the headers kinds read (Retry-After). */
export interface VendorResponse {
  status: number;
  /** The body's text, at most 64 KB (vendors' partial-failure bodies are small). */
  body: string;
  headers: Headers;
}

/**
 * POSTs a JSON body; a network error or timeout throws a RetryableError (codes `network`, `timeout`), so `send`
 * only handles HTTP statuses. The body is read only when a kind needs it (not 2xx, or `readOk`).
 */
export async function postJson(
  ctx: DeliveryContext<unknown>,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<VendorResponse> {
  let response: Response;
  try {
    response = await ctx.fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "Sluice/0.1", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
    throw timedOut
      ? new RetryableError(`timed out after ${timeoutMs} ms`, undefined, undefined, "timeout")
      : new RetryableError(`network error: ${err instanceof Error ? err.message : String(err)}`, undefined, undefined, "network");
  }
  const text = (await response.text().catch(() => "")).slice(0, 64 * 1024);
  return { status: response.status, body: text, headers: response.headers };
}

/** The whole-request error of a response (undefined for 2xx), its body's first 200 characters as the reason. */
export function responseError(response: VendorResponse, ctx: DeliveryContext<unknown>): DeliveryError | undefined {
  return errorForResponse(response.status, response.body.slice(0, 200), response.headers.get("retry-after"), ctx.now());
}

/** Parses a vendor's JSON answer; undefined when it is not a JSON object. */
export function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** One request a kind made, as a test's fake fetch saw it. */
export interface CapturedRequest {
  url: string;
  method: string;
  headers: Headers;
  body: string;
}

/**
 * What the destination contract suite (test/unit/destination-contract.test.ts) needs to know of a vendor kind's
 * API, kept beside the kind as `destinations/<kind>/contract.ts` exporting `fixture`. Test-only: the worker never
 * imports it.
 */
export interface VendorFixture {
  /** Settings as an operator writes them (every required key set), pointing the kind at `base`, an http URL. */
  settings(base: string): Record<string, unknown>;
  /**
   * The items one request carries, in order: each item's JSON and the `messageId`-derived id it carries (its
   * dedup key), when it carries one. Each item is one mapped event's share of the request.
   */
  items(request: CapturedRequest): { id?: string; item: unknown }[];
  /**
   * The vendor's answer that fails, finally, the items at `positions` of `request` and accepts the others (its
   * partial-failure shape, e.g. Mixpanel's `failed_records`); omitted when the API has no such answer.
   */
  partialFailure?(request: CapturedRequest, positions: readonly number[]): { status: number; body: string; headers?: Record<string, string> };
  /** Why the API has no partial-failure answer, when `partialFailure` is omitted (the suite requires one or the other). */
  noPartialFailure?: string;
  /** Why items carry no `messageId`-derived id, when they don't (the suite then counts items instead of ids). */
  noDedupKey?: string;
  /** Corpus events the suite sends (default: all 5,000); for kinds that send one event per request at a paced rate. */
  corpusEvents?: number;
}

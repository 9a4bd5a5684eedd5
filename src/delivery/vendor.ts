/**
 * Vendor kinds (Mixpanel, Amplitude, GA4, …) are written as `map` + `send`: `map` turns one event into its part of
 * a request, `send` posts a batch of parts and says what happened to each. `defineVendorDestination` turns that into
 * the general contract (src/delivery/destination.ts): it maps every event, fails alone the one that cannot be mapped
 * or is over the vendor's per-event size, cuts the rest into requests within the vendor's limits (measured on the
 * mapped JSON, which is what the vendor counts), and returns one result per event.
 */
import type { Schema } from "../config/schema.ts";
import type { EventType, SluiceEvent } from "../pipeline/normalize.ts";
import { DeliveryError, PermanentError, RetryableError, unsendable } from "./errors.ts";
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
  send(parts: readonly P[], compiled: C, ctx: DeliveryContext<S>, events: readonly SluiceEvent[]): Promise<EventResult[]>;
}

const encoder = new TextEncoder();
const jsonBytes = (part: unknown): number => encoder.encode(JSON.stringify(part)).length;

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
    maxEventsPerCall: (s) => vendor.limits(s).maxEvents,
    maxBytesPerCall: (s) => vendor.limits(s).maxBytes,
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
          sent = await vendor.send(batch, compiled, ctx, at.map((i) => events[i]!));
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

/**
 * The contract every destination kind implements (one folder per kind under destinations/, one definition,
 * registered in destinations/index.ts).
 */
import type { Schema } from "../config/schema.ts";
import type { EventType, SluiceEvent } from "../pipeline/normalize.ts";
import { RetryableError, type DeliveryError } from "./errors.ts";

/** Per-event outcome of one deliver() call, in the order of the events given. */
export type EventResult = { ok: true } | { ok: false; error: DeliveryError };

/** The result of an event whose send ended with `error` (undefined: delivered). */
export const eventResult = (error: DeliveryError | undefined): EventResult => (error ? { ok: false, error } : { ok: true });

export interface DeliveryContext<S> {
  destinationId: string;
  /** Settings with `${env.NAME}` secrets already resolved. */
  settings: S;
  /** R2 bucket for destinations that store events (r2, datalake). */
  bucket: R2Bucket;
  /**
   * A Durable Object namespace the definition lists in `durableObjects` (e.g. the data lake's buffers): adapters see
   * only the bindings they declare, never the Worker's whole env. Undefined when wrangler.toml lacks the binding.
   */
  durableObject(binding: string): DurableObjectNamespace | undefined;
  /**
   * A Hyperdrive binding (a pooled PostgreSQL connection string) the definition's `hyperdrive(settings)` lists;
   * undefined for any other binding, or when wrangler.toml lacks it. The consumer always sets it.
   */
  hyperdrive?(binding: string): Hyperdrive | undefined;
  fetch: typeof fetch;
  now(): number;
  /**
   * The source id of each event, parallel to `events` (one call may combine several sources' messages). The
   * consumer always sets it; destinations that partition by source (datalake) need it.
   */
  sources?: readonly string[];
}

export interface DestinationDefinition<S = unknown> {
  kind: string;
  description: string;
  /** Checked at build time (`sluice check`) with file and line on every problem. */
  settings: Schema<S>;
  /** Durable Object bindings (wrangler.toml names) the adapter reaches through `ctx.durableObject`. */
  durableObjects?: readonly string[];
  /** Hyperdrive bindings (wrangler.toml names) the adapter reaches through `ctx.hyperdrive`, for its settings. */
  hyperdrive?(settings: S): readonly string[];
  /**
   * For warehouse-like kinds: the SQL that would create the tables and columns these events need in an empty
   * database (`sluice warehouse schema`), planned by the same code the loader runs. `sources` is parallel to
   * `events`.
   */
  schemaSql?(events: readonly SluiceEvent[], sources: readonly string[], settings: S): string;
  /** Whether `integrations.All: false` still sends events here (warehouse-like destinations). */
  receivesAllEvents: boolean;
  /** Event types the kind takes (default: all); routing counts the others `dropped.unsupported_type`. */
  eventTypes?: readonly EventType[];
  /**
   * Which events one destination of the kind takes, from its settings (e.g. Slack's `events` list): the returned
   * function gives a drop reason for an event it does not take, which routing counts `dropped.<reason>`. Built once
   * per isolate from the settings as configured (secrets not resolved); undefined: all events.
   */
  select?(settings: S): ((event: SluiceEvent) => string | undefined) | undefined;
  /**
   * Batching, as the destination declares it: the consumer combines the events of all queue messages for the
   * destination in one queue batch (the wait is the queue's max_batch_timeout) into calls of at most this many
   * events and bytes (JSON), and maps the per-event results back to each message.
   */
  maxEventsPerCall(settings: S): number;
  maxBytesPerCall?(settings: S): number;
  /**
   * Delivers events. Returns one result per event, or throws a DeliveryError that applies to all of them.
   */
  deliver(events: readonly SluiceEvent[], ctx: DeliveryContext<S>): Promise<EventResult[]>;
}

/** Identity helper that keeps the settings type tied to its schema. */
export function defineDestination<S>(definition: DestinationDefinition<S>): DestinationDefinition<S> {
  return definition;
}

/** The source of each event as the consumer gave it; throws (retryably) when it did not, so nothing is guessed. */
export function eventSources(events: readonly SluiceEvent[], ctx: DeliveryContext<unknown>): readonly string[] {
  const sources = ctx.sources;
  if (!sources || sources.length !== events.length) throw new RetryableError("the consumer did not say which source each event came from", undefined, undefined, "source_unknown");
  return sources;
}

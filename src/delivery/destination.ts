/**
 * The contract every destination kind implements (one folder per kind under destinations/, one definition,
 * registered in destinations/index.ts).
 */
import type { Schema } from "../config/schema.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import type { DeliveryError } from "./errors.ts";

/** Per-event outcome of one deliver() call, in the order of the events given. */
export type EventResult = { ok: true } | { ok: false; error: DeliveryError };

export interface DeliveryContext<S> {
  destinationId: string;
  /** Settings with `${env.NAME}` secrets already resolved. */
  settings: S;
  /** R2 bucket for destinations that store events (r2, datalake). */
  bucket: R2Bucket;
  /** The Worker's bindings, for destinations that need more than the bucket (e.g. a Durable Object). */
  env: Env;
  fetch: typeof fetch;
  now(): number;
}

export interface DestinationDefinition<S = unknown> {
  kind: string;
  description: string;
  /** Checked at build time (`sluice check`) with file and line on every problem. */
  settings: Schema<S>;
  /** Whether `integrations.All: false` still sends events here (warehouse-like destinations). */
  receivesAllEvents: boolean;
  /** Most events the consumer hands to one deliver() call for these settings. */
  maxEventsPerCall(settings: S): number;
  /**
   * Delivers events. Returns one result per event, or throws a DeliveryError that applies to all of them.
   */
  deliver(events: readonly SluiceEvent[], ctx: DeliveryContext<S>): Promise<EventResult[]>;
}

/** Identity helper that keeps the settings type tied to its schema. */
export function defineDestination<S>(definition: DestinationDefinition<S>): DestinationDefinition<S> {
  return definition;
}

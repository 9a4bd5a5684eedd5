/**
 * What the router (./route.ts) asks of the world. The worker entry (src/index.ts) builds these from the Worker's
 * bindings; tests and benchmarks from in-memory fakes.
 */
import type { SourceConfig } from "../config/model.ts";
import type { BatchClaim } from "../dedup/batch.ts";
import type { CompiledPipeline, CompiledSource } from "../pipeline/compile.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import type { Tally } from "../pipeline/route.ts";
import type { PlanDecision } from "../plans/index.ts";
import type { DeliveryMessage, MessageQueue } from "../queue/messages.ts";
import type { ArchiveEntry } from "../storage/archive-object.ts";
import type { DeliveryReport, LiveTap } from "../live/live.ts";

/** A quarantine entry being replayed: what its new record (if the event still fails) says of it. */
export interface ReplayOf {
  entry: string;
  attempts: number;
  receivedAt: string;
  /** When the new record is stored (after the replay page started, so the page never takes it). */
  at: Date;
}

/** Where quarantined events are held (src/archive/quarantine.ts: R2 + index). */
export interface QuarantineHold {
  /** Stores the decisions' events as records, one R2 object per call; throws when it could not. */
  hold(source: CompiledSource, decisions: readonly PlanDecision[], replay?: ReplayOf): Promise<ArchiveEntry[]>;
  /** Undoes `hold` (the batch failed after all and is redelivered). */
  remove(entries: readonly ArchiveEntry[]): Promise<void>;
}

/** What routing one source's events needs (the router, and a quarantine replay). */
export interface StepPorts {
  quarantine: QuarantineHold;
  /**
   * Hands one destination its messages: the router makes the first attempt inline (src/queue/consumer.ts
   * deliverFirst), a replay enqueues them. Resolves once every event's outcome is durable; rejects otherwise.
   * With `observe` (a console watches the source) it may resolve with what became of each event.
   */
  deliver(dest: string, messages: DeliveryMessage[], observe?: boolean): Promise<void | DeliveryReport>;
  /** Where events a filter threw on go (the dead-letter queue). */
  deadLetters: MessageQueue;
  stats: Tally;
  /** The console's live feed (src/live/); without it, none. */
  live?: LiveTap;
}

export interface RouterPorts extends StepPorts {
  pipeline: CompiledPipeline;
  /** Dedup of one source's events in this batch under `token` (src/dedup/batch.ts). */
  dedup(source: SourceConfig, events: SluiceEvent[], token: string): Promise<BatchClaim<SluiceEvent>>;
  /** Names this batch's dedup claims. */
  newToken(): string;
  /** Counts the users of a settled message's events, received on `day` (UTC); without it, users are not counted. */
  users?(source: SourceConfig, events: readonly SluiceEvent[], day: string): void;
}

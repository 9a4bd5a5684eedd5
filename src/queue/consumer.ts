/**
 * Queue consumers. Deliveries: each message holds events for one destination. The messages of a queue batch
 * are grouped by destination; a destination's events are combined into calls as its definition allows, the
 * per-event results are mapped back, and the classifier decides per message. A destination that keeps failing
 * trips its circuit breaker: its messages wait instead of hammering it. (The dead-letter queues: src/archive/.)
 * The router (src/router/) makes each destination's first attempt with the same code (`deliverFirst`); this consumer
 * serves the retries, replays, and what the release before the router queued on `sluice-deliveries`.
 * Nothing is acked unless its events were delivered, stored as dead letters, or re-enqueued.
 */
import { MissingSecretError, resolveSecrets } from "../config/secrets.ts";
import type { DestinationConfig } from "../config/model.ts";
import type { Breakers } from "../delivery/breaker.ts";
import { classify, type Decision, type RetryPolicy } from "../delivery/classify.ts";
import type { DestinationDefinition, EventResult } from "../delivery/destination.ts";
import { isDeferral, RetryableError, type DeliveryError } from "../delivery/errors.ts";
import type { CompiledPipeline } from "../pipeline/compile.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import { addFailure, applyStage, stageFailed, type FilterFailure, type PendingStages, type Stage, type Tally } from "../pipeline/route.ts";
import { latencyBucket } from "../metrics.ts";
import { enqueue, malformedDeadLetter, parseDeliveryMessage, utf8Length, type DeadLetter, type DeliveryMessage } from "./messages.ts";

export interface ConsumerDeps {
  pipeline: CompiledPipeline;
  kinds: Record<string, DestinationDefinition<any>>;
  /** Worker env: bindings for adapters, and `${env.NAME}` secrets. */
  env: Env;
  bucket: R2Bucket;
  /** Where retries go: the retries queue. A message already in it is retried in place (`msg.retry`). */
  retries: Queue;
  /** True when the batch comes from the retries queue. */
  inRetryQueue: boolean;
  tally: Tally;
  breakers: Breakers;
  /** Stores a dead letter durably (R2 + index); throws when it could not. */
  storeDeadLetter: (d: DeadLetter) => Promise<unknown>;
  fetch: typeof fetch;
  now: () => number;
  random: () => number;
}

/** What a decision does to the message it was made for: a queue message, or the router's first attempt (deliverFirst). */
type Settlement = Pick<Message<unknown>, "ack" | "retry" | "id">;

/** One parsed message of the batch. */
interface Item {
  msg: Settlement;
  message: DeliveryMessage;
  /** Attempts on these events including this one. */
  attempts: number;
  /** Its pending filters ran on this attempt: `message` holds their result, no longer what the body says. */
  filtered?: true;
}

function newId(): string {
  return crypto.randomUUID();
}

/** The retry policy a destination's config declares. */
export function retryPolicy(dest: DestinationConfig): RetryPolicy {
  return { windowMs: dest.retry.window_hours * 3600_000, baseDelaySeconds: dest.retry.base_delay_seconds, maxDelaySeconds: dest.retry.max_delay_seconds };
}

/**
 * Delivers `events` in calls of at most maxEventsPerCall events and maxBytesPerCall bytes; one result per
 * event, in order. An adapter that throws fails its whole call with that (typed) error.
 */
async function deliverInCalls(kind: DestinationDefinition<any>, settings: unknown, destinationId: string, events: SluiceEvent[], deps: ConsumerDeps, sources?: readonly string[]): Promise<EventResult[]> {
  const maxEvents = Math.max(1, kind.maxEventsPerCall(settings));
  const maxBytes = kind.maxBytesPerCall?.(settings) ?? Number.POSITIVE_INFINITY;
  const calls: SluiceEvent[][] = [];
  let call: SluiceEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    let size = 0;
    try {
      if (Number.isFinite(maxBytes)) size = utf8Length(JSON.stringify(event)) + 1;
    } catch {
      // Unserializable: sized 0 here so its neighbours go on; the adapter fails this event on its own.
    }
    if (call.length > 0 && (call.length >= maxEvents || bytes + size > maxBytes)) {
      calls.push(call);
      call = [];
      bytes = 0;
    }
    call.push(event);
    bytes += size;
  }
  if (call.length > 0) calls.push(call);

  const declared = new Set(kind.durableObjects ?? []);
  const env = deps.env as unknown as Record<string, unknown>;
  const durableObject = (binding: string) => (declared.has(binding) ? (env[binding] as DurableObjectNamespace | undefined) : undefined);
  const pools = new Set(kind.hyperdrive?.(settings) ?? []);
  const hyperdrive = (binding: string) => {
    const pool = pools.has(binding) ? (env[binding] as Hyperdrive | undefined) : undefined;
    return typeof pool?.connectionString === "string" ? pool : undefined;
  };
  const results: EventResult[] = [];
  for (const chunk of calls) {
    let chunkResults: EventResult[];
    try {
      // Calls are consecutive slices of `events`, so results.length is where this one starts.
      chunkResults = await kind.deliver(chunk, { destinationId, settings, bucket: deps.bucket, durableObject, hyperdrive, fetch: deps.fetch, now: deps.now, sources: sources?.slice(results.length, results.length + chunk.length) });
      if (chunkResults.length !== chunk.length) throw new Error(`adapter returned ${chunkResults.length} results for ${chunk.length} events`);
    } catch (err) {
      // Adapters throw typed errors; anything else is a bug in the adapter, retried so nothing is lost.
      const error: DeliveryError = err instanceof Error && "retryable" in err ? (err as DeliveryError) : new RetryableError(`adapter error: ${String(err)}`, undefined, undefined, "adapter");
      chunkResults = chunk.map(() => ({ ok: false, error }));
    }
    results.push(...chunkResults);
  }
  return results;
}

async function deadLetter(message: DeliveryMessage, events: SluiceEvent[], reason: string, attempts: number, lastError: DeliveryError | undefined, deps: ConsumerDeps, code = lastError?.code): Promise<void> {
  await deps.storeDeadLetter({
    id: newId(),
    destination: message.dest,
    source: message.source,
    reason,
    code,
    attempts,
    firstError: message.firstError ?? lastError?.message,
    lastError: lastError?.message ?? message.lastError,
    acceptedAt: new Date(message.t0).toISOString(),
    deadLetteredAt: new Date(deps.now()).toISOString(),
    pending: message.pending,
    events,
  });
  deps.tally.count(`destination:${message.dest}`, "dead_lettered", events.length);
}

async function requeue(message: DeliveryMessage, events: SluiceEvent[], attempts: number, error: string, delaySeconds: number, deps: ConsumerDeps): Promise<void> {
  const header = { dest: message.dest, source: message.source, t0: message.t0, tries: attempts, firstError: message.firstError ?? error, lastError: error, pending: message.pending };
  await enqueue(deps.retries, header, events, { delaySeconds });
}

/** Counts delivered events and their latency since acceptance (a histogram, for p50/p95). */
function countDelivered(scope: string, message: DeliveryMessage, n: number, deps: ConsumerDeps): void {
  if (n === 0) return;
  deps.tally.count(scope, "delivered", n);
  deps.tally.count(scope, `latency_ms.${latencyBucket(deps.now() - message.t0)}`, n);
}

const resolved = new WeakMap<DestinationConfig, { env: Env; settings: unknown }>();

/**
 * A destination's settings with secrets resolved, once per isolate (while the env object is the same): the same
 * object each time, so kinds compile it once (defineVendorDestination caches by it).
 */
function resolvedSettings(dest: DestinationConfig, env: Env): unknown {
  const hit = resolved.get(dest);
  if (hit && hit.env === env) return hit.settings;
  const settings = resolveSecrets(dest.settings, env as unknown as Record<string, unknown>);
  resolved.set(dest, { env, settings });
  return settings;
}

/** Applies a decision to one message: the only place that acks or retries a delivery message. */
async function apply(item: Item, decision: Decision, deps: ConsumerDeps, lastError?: DeliveryError): Promise<void> {
  const { msg, message, attempts } = item;
  const scope = `destination:${message.dest}`;
  switch (decision.kind) {
    case "ack":
      countDelivered(scope, message, decision.delivered, deps);
      msg.ack();
      return;
    case "retry":
      deps.tally.count(scope, "retried", message.events.length);
      if (lastError) deps.tally.count(scope, `failed.${lastError.code}`, message.events.length);
      if (deps.inRetryQueue && !item.filtered) msg.retry({ delaySeconds: decision.delaySeconds });
      else {
        // First failure: the message moves to the retries queue (with its attempt count) and leaves this one.
        // So does one whose pending filters just ran: a filter never runs twice on an event, and an event a filter
        // threw on is never dead-lettered twice.
        await requeue(message, message.events, attempts, decision.error, decision.delaySeconds, deps);
        msg.ack();
      }
      return;
    case "dead-letter":
      if (lastError) deps.tally.count(scope, `failed.${lastError.code}`, message.events.length);
      await deadLetter(message, message.events, decision.reason, attempts, lastError, deps, lastError ? undefined : "undeliverable");
      msg.ack();
      return;
    case "split":
      countDelivered(scope, message, decision.delivered, deps);
      if (decision.deadLetter) await deadLetter(message, decision.deadLetter.events, decision.deadLetter.reason, attempts, lastError, deps);
      if (decision.retry) {
        await requeue(message, decision.retry.events, attempts, decision.retry.error, decision.retry.delaySeconds, deps);
        deps.tally.count(scope, "retried", decision.retry.events.length);
      }
      if (lastError) deps.tally.count(scope, `failed.${lastError.code}`, (decision.retry?.events.length ?? 0) + (decision.deadLetter?.events.length ?? 0));
      msg.ack();
      return;
  }
}

/** Applies a decision; if storage or the queue fails while doing so, the whole message is tried again later. */
async function settle(item: Item, decision: Decision, deps: ConsumerDeps, lastError?: DeliveryError): Promise<void> {
  try {
    await apply(item, decision, deps, lastError);
  } catch (err) {
    console.error(JSON.stringify({ msg: "delivery handling failed", id: item.msg.id, destination: item.message.dest, error: String(err) }));
    item.msg.retry({ delaySeconds: 30 });
  }
}

/**
 * Runs the filter stages that could not run at ingest. Returns the events to deliver and those a filter threw on
 * (for the dead letters), or why the stages still cannot run. Drops and failures are counted exactly as at ingest.
 */
function runPendingFilters(message: DeliveryMessage, deps: ConsumerDeps): { events: SluiceEvent[]; failed: FilterFailure[] } | string {
  const source = deps.pipeline.source(message.source);
  const target = source?.targets.find((t) => t.id === message.dest);
  if (!source || !target) return `source "${message.source}" no longer sends to destination "${message.dest}"`;
  // `pending` of each stage: what is still to run on an event that enters it.
  const stages: { stage: Stage; scope: string; pending: PendingStages }[] = message.pending === "all" ? [{ stage: source.stage, scope: `source:${source.config.id}`, pending: "all" }] : [];
  stages.push({ stage: target, scope: `destination:${target.id}`, pending: "destination" });
  for (const { stage } of stages) if (stage.deferred) return stage.deferred;
  const kept: SluiceEvent[] = [];
  const failed: FilterFailure[] = [];
  next: for (let event of message.events) {
    for (const { stage, scope, pending } of stages) {
      const outcome = applyStage(stage, event);
      if (!outcome.kept) {
        if ("failed" in outcome) addFailure(failed, pending, stageFailed(scope, outcome.failed, deps.tally), event);
        else deps.tally.count(scope, `dropped.${outcome.reason}`);
        continue next;
      }
      event = outcome.event;
    }
    kept.push(event);
  }
  return { events: kept, failed };
}

/** Every event of the items fails with `error`: classify each message accordingly. */
async function failAll(items: Item[], error: DeliveryError, policy: RetryPolicy, deps: ConsumerDeps): Promise<void> {
  await Promise.all(
    items.map((item) => {
      const results = item.message.events.map(() => ({ ok: false as const, error }));
      return settle(item, classify(item.message.events, results, at(item, deps), policy), deps, error);
    }),
  );
}

function at(item: Item, deps: ConsumerDeps) {
  return { attempt: item.attempts, acceptedAt: item.message.t0, now: deps.now(), random: deps.random() };
}

/** Delivers the messages of one destination in this batch. */
async function handleDestination(destId: string, items: Item[], deps: ConsumerDeps): Promise<void> {
  const dest = deps.pipeline.destination(destId);
  const kind = dest ? deps.kinds[dest.kind] : undefined;
  if (!dest || !kind || !dest.enabled) {
    const why = !dest ? "is no longer configured" : !dest.enabled ? "is disabled" : `has unknown kind "${dest.kind}"`;
    await Promise.all(items.map((item) => settle(item, { kind: "dead-letter", reason: `destination "${destId}" ${why}` }, deps)));
    return;
  }
  const policy = retryPolicy(dest);
  const scope = `destination:${destId}`;

  // Filters that could not run at ingest (a secret was missing) run now, or the events keep waiting.
  const ready: Item[] = [];
  for (const item of items) {
    if (!item.message.pending) {
      ready.push(item);
      continue;
    }
    const filtered = runPendingFilters(item.message, deps);
    if (typeof filtered === "string") {
      await failAll([item], new RetryableError(filtered, undefined, undefined, "filters_pending"), policy, deps);
      continue;
    }
    const { pending: _, ...message } = item.message;
    try {
      // Events a filter threw on are dead letters (replayable after a fix), never dropped.
      for (const f of filtered.failed) await deadLetter({ ...message, pending: f.pending }, f.events, f.reason, item.attempts, undefined, deps, "filter_error");
    } catch (err) {
      console.error(JSON.stringify({ msg: "dead letter store failed", id: item.msg.id, destination: destId, error: String(err) }));
      item.msg.retry({ delaySeconds: 30 });
      continue;
    }
    if (filtered.events.length === 0) item.msg.ack();
    // Filtered now: what is requeued or dead-lettered from here on must not be filtered again.
    else ready.push({ ...item, message: { ...message, events: filtered.events }, filtered: true });
  }
  if (ready.length === 0) return;

  const now = deps.now();
  const breakerPolicy = { failuresToOpen: dest.circuit_breaker.failures_to_open, cooldownMs: dest.circuit_breaker.cooldown_seconds * 1000, maxCooldownMs: dest.circuit_breaker.max_cooldown_seconds * 1000 };
  const verdict = deps.breakers.admit(destId, now, breakerPolicy);
  if (!verdict.allowed) {
    // Circuit open: wait without calling the destination (not an attempt against the retry window's spirit,
    // but still bounded by it: the classifier dead-letters once the window is spent).
    const error = new RetryableError(`circuit open: destination "${destId}" failed repeatedly; next probe in ${Math.ceil(verdict.waitMs / 1000)} s`, undefined, Math.ceil(verdict.waitMs / 1000) + Math.floor(deps.random() * 5), "circuit_open");
    await failAll(ready, error, policy, deps);
    return;
  }

  let settings: unknown;
  try {
    settings = resolvedSettings(dest, deps.env);
  } catch (err) {
    if (!(err instanceof MissingSecretError)) throw err;
    await failAll(ready, new RetryableError(err.message, undefined, undefined, "secret_missing"), policy, deps);
    return;
  }

  const all = ready.flatMap((item) => item.message.events);
  const results = await deliverInCalls(kind, settings, destId, all, deps, ready.flatMap((item) => item.message.events.map(() => item.message.source)));
  // Only destination-side trouble counts against the breaker: a permanent 4xx means it is up, and events the
  // kind deferred itself (pacing) never reached it, so they say nothing either way.
  const called = results.filter((r) => r.ok || !isDeferral(r.error));
  if (called.length > 0) {
    const destinationDown = called.every((r) => !r.ok && r.error.retryable);
    deps.breakers.record(destId, !destinationDown, deps.now(), breakerPolicy);
    if (destinationDown) deps.tally.count(scope, "calls_failed");
  }

  let offset = 0;
  await Promise.all(
    ready.map((item) => {
      const mine = results.slice(offset, offset + item.message.events.length);
      offset += item.message.events.length;
      const firstError = mine.find((r): r is { ok: false; error: DeliveryError } => !r.ok)?.error;
      return settle(item, classify(item.message.events, mine, at(item, deps), policy), deps, firstError);
    }),
  );
}

/**
 * The first delivery attempt for one destination, made inline by the router (src/router/) with this consumer's code:
 * pending filters, circuit breaker, secrets, calls, classification. What fails goes to the retries queue (with
 * `deps.inRetryQueue` false), what is given up on to the dead letters. Resolves once every event's outcome is durable;
 * rejects when one is not (storing or requeueing failed): the router then retries its ingest message.
 */
export async function deliverFirst(destId: string, messages: readonly DeliveryMessage[], deps: ConsumerDeps): Promise<void> {
  let failed = 0;
  const items: Item[] = messages.map((message, i) => ({
    msg: { id: `${destId}#${i}`, ack: () => {}, retry: () => void failed++ },
    message,
    attempts: message.tries + 1,
  }));
  if (deps.inRetryQueue) throw new Error("deliverFirst makes first attempts: its retries go to the retries queue");
  await handleDestination(destId, items, deps);
  if (failed > 0) throw new Error(`${failed} of ${items.length} messages for destination "${destId}" have no durable outcome`);
}

/** Handles a batch from the deliveries or retries queue: grouped by destination, decided per message. */
export async function consumeDeliveries(batch: MessageBatch<unknown>, deps: ConsumerDeps): Promise<void> {
  const byDestination = new Map<string, Item[]>();
  const malformed: Message<unknown>[] = [];
  for (const msg of batch.messages) {
    const message = parseDeliveryMessage(msg.body);
    if (!message) {
      malformed.push(msg);
      continue;
    }
    let list = byDestination.get(message.dest);
    if (!list) byDestination.set(message.dest, (list = []));
    list.push({ msg, message, attempts: message.tries + msg.attempts });
  }
  await Promise.all([
    ...malformed.map(async (msg) => {
      try {
        await deps.storeDeadLetter(malformedDeadLetter(msg, newId(), deps.now()));
        msg.ack();
      } catch (err) {
        console.error(JSON.stringify({ msg: "dead letter store failed", id: msg.id, error: String(err) }));
        msg.retry({ delaySeconds: 60 });
      }
    }),
    ...[...byDestination].map(async ([dest, items]) => {
      try {
        await handleDestination(dest, items, deps);
      } catch (err) {
        console.error(JSON.stringify({ msg: "delivery handling failed", destination: dest, error: String(err) }));
        for (const item of items) item.msg.retry({ delaySeconds: 30 });
      }
    }),
  ]);
}

/**
 * Queue consumers. Deliveries: each message holds events for one destination; deliver them through the
 * destination's adapter and let the classifier decide per message. Dead letters: store each in R2.
 * Nothing is acked unless its events were delivered, stored as dead letters, or re-enqueued.
 */
import { resolveSecrets, MissingSecretError } from "../config/secrets.ts";
import { classify, DEFAULT_RETRY_POLICY, type Decision, type RetryPolicy } from "../delivery/classify.ts";
import type { DestinationDefinition, EventResult } from "../delivery/destination.ts";
import { RetryableError, type DeliveryError } from "../delivery/errors.ts";
import type { CompiledPipeline } from "../pipeline/compile.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import { applyStage, type Tally } from "../pipeline/route.ts";
import { storeDeadLetter, type DeadLetter } from "../storage/dead-letters.ts";
import { packMessages, parseDeliveryMessage, sendBatches, type DeliveryMessage } from "./messages.ts";

export interface ConsumerDeps {
  pipeline: CompiledPipeline;
  kinds: Record<string, DestinationDefinition<any>>;
  /** Worker env: bindings for adapters, and `${env.NAME}` secrets. */
  env: Env;
  bucket: R2Bucket;
  deliveries: Queue;
  tally: Tally;
  fetch: typeof fetch;
  now: () => number;
  random: () => number;
  policy?: RetryPolicy;
}

function newId(): string {
  return crypto.randomUUID();
}

async function deliverAll(
  kind: DestinationDefinition<any>,
  settings: unknown,
  message: DeliveryMessage,
  deps: ConsumerDeps,
): Promise<EventResult[]> {
  const perCall = Math.max(1, kind.maxEventsPerCall(settings));
  const results: EventResult[] = [];
  for (let i = 0; i < message.events.length; i += perCall) {
    const chunk = message.events.slice(i, i + perCall);
    let chunkResults: EventResult[];
    try {
      chunkResults = await kind.deliver(chunk, { destinationId: message.dest, settings, bucket: deps.bucket, env: deps.env, fetch: deps.fetch, now: deps.now });
    } catch (err) {
      // Adapters throw typed errors; anything else is a bug in the adapter, retried so nothing is lost.
      const error: DeliveryError = err instanceof Error && "retryable" in err ? (err as DeliveryError) : new RetryableError(`adapter error: ${String(err)}`);
      chunkResults = chunk.map(() => ({ ok: false, error }));
    }
    results.push(...chunkResults);
  }
  return results;
}

async function deadLetter(message: DeliveryMessage, events: SluiceEvent[], reason: string, attempts: number, lastError: string | undefined, deps: ConsumerDeps): Promise<void> {
  const record: DeadLetter = {
    id: newId(),
    destination: message.dest,
    source: message.source,
    reason,
    attempts,
    firstError: message.firstError ?? lastError,
    lastError: lastError ?? message.lastError,
    acceptedAt: new Date(message.t0).toISOString(),
    deadLetteredAt: new Date(deps.now()).toISOString(),
    events,
  };
  await storeDeadLetter(deps.bucket, record);
  deps.tally.count(`destination:${message.dest}`, "dead_lettered", events.length);
}

async function requeue(message: DeliveryMessage, events: SluiceEvent[], attempts: number, error: string, delaySeconds: number, deps: ConsumerDeps): Promise<void> {
  const header = { v: 1 as const, dest: message.dest, source: message.source, t0: message.t0, tries: attempts, firstError: message.firstError ?? error, lastError: error };
  for (const group of sendBatches(packMessages(header, events))) {
    await deps.deliveries.sendBatch(group.map((m) => ({ body: m.body, contentType: "text" as const, delaySeconds })));
  }
}

/** Applies a decision to one message: the only place that acks or retries a delivery message. */
async function apply(msg: Message<unknown>, message: DeliveryMessage, decision: Decision, attempts: number, deps: ConsumerDeps): Promise<void> {
  const scope = `destination:${message.dest}`;
  switch (decision.kind) {
    case "ack":
      deps.tally.count(scope, "delivered", decision.delivered);
      msg.ack();
      return;
    case "retry":
      deps.tally.count(scope, "retried", message.events.length);
      msg.retry({ delaySeconds: decision.delaySeconds });
      return;
    case "dead-letter":
      await deadLetter(message, message.events, decision.reason, attempts, undefined, deps);
      msg.ack();
      return;
    case "split":
      deps.tally.count(scope, "delivered", decision.delivered);
      if (decision.deadLetter) await deadLetter(message, decision.deadLetter.events, decision.deadLetter.reason, attempts, undefined, deps);
      if (decision.retry) {
        await requeue(message, decision.retry.events, attempts, decision.retry.error, decision.retry.delaySeconds, deps);
        deps.tally.count(scope, "retried", decision.retry.events.length);
      }
      msg.ack();
      return;
  }
}

/**
 * Runs the filter stages that could not run at ingest. Returns the events to deliver, or why it still cannot.
 * Drops are counted exactly as at ingest.
 */
function runPendingFilters(message: DeliveryMessage, deps: ConsumerDeps): { events: SluiceEvent[] } | string {
  const source = deps.pipeline.source(message.source);
  const target = source?.targets.find((t) => t.id === message.dest);
  if (!source || !target) return `source "${message.source}" no longer sends to destination "${message.dest}"`;
  const stages = message.pending === "all" ? [{ stage: source.stage, scope: `source:${source.config.id}` }] : [];
  stages.push({ stage: target, scope: `destination:${target.id}` });
  for (const { stage } of stages) if (stage.deferred) return stage.deferred;
  const kept: SluiceEvent[] = [];
  next: for (let event of message.events) {
    for (const { stage, scope } of stages) {
      const outcome = applyStage(stage, event);
      if (!outcome.kept) {
        deps.tally.count(scope, `dropped.${outcome.reason}`);
        continue next;
      }
      event = outcome.event;
    }
    kept.push(event);
  }
  return { events: kept };
}

async function handleDelivery(msg: Message<unknown>, deps: ConsumerDeps): Promise<void> {
  const message = parseDeliveryMessage(msg.body);
  if (!message) {
    // Not ours to understand: keep it whole for an operator rather than drop it.
    await storeDeadLetter(deps.bucket, {
      id: newId(), destination: "unknown", source: "unknown", reason: "malformed delivery message", attempts: msg.attempts,
      acceptedAt: msg.timestamp.toISOString(), deadLetteredAt: new Date(deps.now()).toISOString(), events: [], lastError: String(msg.body).slice(0, 1000),
    });
    msg.ack();
    return;
  }
  const attempts = message.tries + msg.attempts;
  const dest = deps.pipeline.destination(message.dest);
  const kind = dest ? deps.kinds[dest.kind] : undefined;
  if (!dest || !kind || !dest.enabled) {
    const why = !dest ? "is no longer configured" : !dest.enabled ? "is disabled" : `has unknown kind "${dest.kind}"`;
    await apply(msg, message, { kind: "dead-letter", reason: `destination "${message.dest}" ${why}` }, attempts, deps);
    return;
  }
  if (message.pending) {
    const filtered = runPendingFilters(message, deps);
    if (typeof filtered === "string") {
      // The filters still cannot run (a secret is missing): never deliver unfiltered; retry within the window.
      const results = message.events.map(() => ({ ok: false as const, error: new RetryableError(filtered) }));
      await apply(msg, message, classify(message.events, results, { attempt: attempts, acceptedAt: message.t0, now: deps.now(), random: deps.random() }, deps.policy ?? DEFAULT_RETRY_POLICY), attempts, deps);
      return;
    }
    if (filtered.events.length === 0) {
      msg.ack();
      return;
    }
    message.events = filtered.events;
  }
  let results: EventResult[];
  try {
    const settings = resolveSecrets(dest.settings, deps.env as unknown as Record<string, unknown>);
    results = await deliverAll(kind, settings, message, deps);
  } catch (err) {
    if (!(err instanceof MissingSecretError)) throw err;
    // An operator mistake they can fix: keep retrying within the window.
    results = message.events.map(() => ({ ok: false, error: new RetryableError(err.message) }));
  }
  const decision = classify(message.events, results, { attempt: attempts, acceptedAt: message.t0, now: deps.now(), random: deps.random() }, deps.policy ?? DEFAULT_RETRY_POLICY);
  await apply(msg, message, decision, attempts, deps);
}

/** Handles a batch from the deliveries queue; each message is decided on its own. */
export async function consumeDeliveries(batch: MessageBatch<unknown>, deps: ConsumerDeps): Promise<void> {
  await Promise.all(
    batch.messages.map(async (msg) => {
      try {
        await handleDelivery(msg, deps);
      } catch (err) {
        // Storage or queue failed while applying a decision: try the whole message again later.
        console.error(JSON.stringify({ msg: "delivery handling failed", id: msg.id, error: String(err) }));
        msg.retry({ delaySeconds: 30 });
      }
    }),
  );
}

/** Messages the platform moved here after max_retries: store them as dead letters. */
export async function consumeDeadLetters(batch: MessageBatch<unknown>, deps: Pick<ConsumerDeps, "bucket" | "tally" | "now">): Promise<void> {
  await Promise.all(
    batch.messages.map(async (msg) => {
      const message = parseDeliveryMessage(msg.body);
      try {
        await storeDeadLetter(deps.bucket, {
          id: newId(),
          destination: message?.dest ?? "unknown",
          source: message?.source ?? "unknown",
          reason: message ? "delivery queue gave up after its max_retries" : "malformed delivery message",
          attempts: (message?.tries ?? 0) + msg.attempts,
          firstError: message?.firstError,
          lastError: message ? message.lastError : String(msg.body).slice(0, 1000),
          acceptedAt: new Date(message?.t0 ?? msg.timestamp.getTime()).toISOString(),
          deadLetteredAt: new Date(deps.now()).toISOString(),
          events: message?.events ?? [],
        });
        deps.tally.count(`destination:${message?.dest ?? "unknown"}`, "dead_lettered", message?.events.length ?? 0);
        msg.ack();
      } catch (err) {
        console.error(JSON.stringify({ msg: "dead letter store failed", id: msg.id, error: String(err) }));
        msg.retry({ delaySeconds: 60 });
      }
    }),
  );
}

/**
 * The consumers that keep what delivery gave up on. Dead letters: the platform's `max_retries` and what a filter
 * threw on at ingest, stored in R2 with their index. Backstop: what even that could not store, written whole to R2.
 */
import type { Tally } from "../pipeline/route.ts";
import type { ConsumerDeps } from "../queue/consumer.ts";
import { malformedDeadLetter, parseDeliveryMessage } from "../queue/messages.ts";
import { BACKSTOP_SCOPE, storeBackstopped } from "./dead-letters.ts";

const newId = () => crypto.randomUUID();

/** Messages the platform moved here after max_retries, and events a filter threw on at ingest: store them as dead letters. */
export async function consumeDeadLetters(batch: MessageBatch<unknown>, deps: Pick<ConsumerDeps, "storeDeadLetter" | "tally" | "now">): Promise<void> {
  await Promise.all(
    batch.messages.map(async (msg) => {
      const message = parseDeliveryMessage(msg.body);
      try {
        await deps.storeDeadLetter(
          message
            ? {
                id: newId(),
                destination: message.dest,
                source: message.source,
                reason: message.failure?.reason ?? "delivery queue gave up after its max_retries",
                code: message.failure?.code ?? "max_retries",
                attempts: message.tries + msg.attempts,
                firstError: message.firstError,
                lastError: message.lastError,
                acceptedAt: new Date(message.t0).toISOString(),
                deadLetteredAt: new Date(deps.now()).toISOString(),
                pending: message.pending,
                events: message.events,
              }
            : malformedDeadLetter(msg, newId(), deps.now()),
        );
        deps.tally.count(`destination:${message?.dest ?? "unknown"}`, "dead_lettered", message?.events.length ?? 0);
        msg.ack();
      } catch (err) {
        console.error(JSON.stringify({ msg: "dead letter store failed", id: msg.id, error: String(err) }));
        msg.retry({ delaySeconds: 60 });
      }
    }),
  );
}

/**
 * The backstop queue: what the dead-letter queue could not store after its max_retries (R2 or the index kept
 * failing). Each body goes whole to R2 (storeBackstopped), counted `stored` under BACKSTOP_SCOPE. If even that
 * fails, the message waits in the queue for its retention period, retried later each time.
 */
export async function consumeBackstop(batch: MessageBatch<unknown>, deps: { bucket: R2Bucket; tally: Tally }): Promise<void> {
  await Promise.all(
    batch.messages.map(async (msg) => {
      try {
        await storeBackstopped(deps.bucket, batch.queue, msg);
        deps.tally.count(BACKSTOP_SCOPE, "stored");
        msg.ack();
      } catch (err) {
        console.error(JSON.stringify({ msg: "backstop store failed", id: msg.id, error: String(err) }));
        // 2 min, 4 min, … up to the 12 h a queue delay may be.
        msg.retry({ delaySeconds: Math.min(60 * 2 ** Math.min(msg.attempts, 10), 43_200) });
      }
    }),
  );
}

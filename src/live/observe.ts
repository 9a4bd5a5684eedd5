/**
 * The router's first delivery attempt while a console watches the source: the same deliverFirst, with its retries
 * queue and dead-letter store looked through so the Live view can say, per event, retrying or dead-lettered (what is
 * neither was delivered).
 */
import { deliverFirst, type ConsumerDeps } from "../queue/consumer.ts";
import { parseDeliveryMessage, type DeliveryMessage } from "../queue/messages.ts";
import type { DeliveryReport } from "./live.ts";

export async function deliverObserved(dest: string, messages: readonly DeliveryMessage[], deps: ConsumerDeps): Promise<DeliveryReport> {
  const report: DeliveryReport = { retrying: new Map(), deadLettered: new Map() };
  const retries: Queue = {
    send: (body, options) => {
      noteRetry(body);
      return deps.retries.send(body, options);
    },
    sendBatch: (batch, options) => {
      const list = [...batch];
      for (const m of list) noteRetry(m.body);
      return deps.retries.sendBatch(list, options);
    },
    metrics: () => deps.retries.metrics(),
  } as Queue;
  function noteRetry(body: unknown) {
    const m = parseDeliveryMessage(body);
    for (const e of m?.events ?? []) report.retrying.set(e.messageId, m?.lastError ?? "retrying");
  }
  await deliverFirst(dest, messages, {
    ...deps,
    retries,
    storeDeadLetter: async (d) => {
      const stored = await deps.storeDeadLetter(d);
      for (const e of d.events) report.deadLettered.set(e.messageId, d.reason);
      return stored;
    },
  });
  return report;
}

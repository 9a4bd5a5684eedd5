/**
 * The router: consumer of the `sluice-ingest` queue, as a plain function of ports (./ports.ts). Per queue batch and
 * source: dedup (one claim per shard, the batch as the token) → tracking plan and quarantine → source filters →
 * per destination its integrations object, filters and transformations (planAndRoute) → the first delivery attempt
 * inline, destinations concurrently (what fails goes to the retries queue, for that destination only). The dedup
 * ids are committed once every outcome is durable, then the messages are acked; if anything fails before that they
 * are retried and nothing is committed: a redelivery may deliver an event twice, never lose it. A settled message's
 * `counts` (what the request path counted) go to the source's stats, and its users to the usage sketch.
 */
import type { SourceConfig } from "../config/model.ts";
import type { CompiledSource } from "../pipeline/compile.ts";
import { planAndRoute } from "../pipeline/compile.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import type { PlanDecision } from "../plans/index.ts";
import { bodyText, enqueue, parseIngestMessage, routedSends, type DeliveryMessage, type IngestMessage } from "../queue/messages.ts";
import type { ArchiveEntry } from "../storage/archive-object.ts";
import type { ReplayOf, RouterPorts, StepPorts } from "./ports.ts";
import { liveBatch, type DeliveryReport } from "../live/live.ts";
import { EventNameTally } from "../alerts/event-names.ts";
import { formatIso } from "../pipeline/iso-time.ts";

/** Hourly counts per event name (alerts: volume and new events); not for replays, only what arrives. */
const eventNames = new EventNameTally();

type Settlement = Pick<Message<unknown>, "ack" | "retry">;
interface Item {
  msg: Settlement;
  message: IngestMessage;
}

const log = (msg: string, fields: Record<string, unknown>) => console.error(JSON.stringify({ msg, ...fields }));

/** Routes one batch of the ingest queue; settles every message (ack or retry), throws nothing of its own. */
export async function route(batch: { messages: readonly Message<unknown>[] }, ports: RouterPorts): Promise<void> {
  const token = ports.newToken();
  const bySource = new Map<string, Item[]>();
  const malformed: Message<unknown>[] = [];
  for (const msg of batch.messages) {
    const message = parseIngestMessage(msg.body);
    if (!message) malformed.push(msg);
    else {
      let items = bySource.get(message.source);
      if (!items) bySource.set(message.source, (items = []));
      items.push({ msg, message });
    }
  }
  await Promise.all([...malformed.map((msg) => deadLetterMalformed(msg, ports)), ...[...bySource].map(([source, items]) => routeBatchSource(source, items, token, ports))]);
}

/** Not an ingest message: the dead-letter queue's consumer keeps it whole (code `malformed`). */
async function deadLetterMalformed(msg: Message<unknown>, ports: RouterPorts): Promise<void> {
  try {
    await ports.deadLetters.sendBatch([{ body: bodyText(msg.body).body, contentType: "text" }]);
    msg.ack();
  } catch (err) {
    log("dead letter send failed", { id: msg.id, error: String(err) });
    msg.retry({ delaySeconds: 30 });
  }
}

async function routeBatchSource(sourceId: string, all: Item[], token: string, ports: RouterPorts): Promise<void> {
  const scope = `source:${sourceId}`;
  const source = ports.pipeline.source(sourceId);
  if (!source) return void (await sourceGone(sourceId, all, ports));
  let items = all;
  let claim;
  try {
    // Ids an earlier invocation still holds (it crashed, or is still at work): those messages wait for the hold.
    for (;;) {
      claim = await ports.dedup(source.config, eventsOf(items), token);
      if (claim.inFlight.size === 0) break;
      const held = items.filter((i) => i.message.events.some((e) => claim!.inFlight.has(e.messageId)));
      for (const i of held) i.msg.retry({ delaySeconds: claim.retryAfterSeconds });
      ports.stats.count(scope, "in_flight", held.reduce((n, i) => n + i.message.events.length, 0));
      items = items.filter((i) => !held.includes(i));
      if (items.length === 0) return;
    }
  } catch (err) {
    log("dedup failed", { source: sourceId, error: String(err) });
    for (const i of items) i.msg.retry({ delaySeconds: 5 });
    return;
  }
  ports.stats.count(scope, "duplicates", claim.duplicates);
  eventNames.count(ports.stats, scope, claim.fresh);
  try {
    // One retry window for the batch's events of this source: from the earliest request's receipt.
    let t0 = Number.POSITIVE_INFINITY;
    for (const i of items) if (i.message.t0 < t0) t0 = i.message.t0;
    await routeSource(source, claim.fresh, t0, ports);
    await claim.commit();
  } catch (err) {
    log("routing failed", { source: sourceId, error: String(err) });
    await claim.release().catch((e) => log("dedup release failed", { source: sourceId, error: String(e) }));
    for (const i of items) i.msg.retry({ delaySeconds: 5 });
    return;
  }
  settled(scope, items, ports, source.config);
  for (const i of items) i.msg.ack();
}

/** The events of the messages, in order (a batch may hold 100 single-event messages). */
function eventsOf(items: readonly Item[]): SluiceEvent[] {
  const events: SluiceEvent[] = [];
  for (const { message } of items) for (const e of message.events) events.push(e);
  return events;
}

/**
 * Messages settled for good: what the request path counted (their `counts`) goes to the source's stats and their
 * users to the usage sketch, once per message (a message retried is counted when it is finally settled).
 */
function settled(scope: string, items: readonly Item[], ports: RouterPorts, source?: SourceConfig): void {
  // Summed over the batch first: one count per metric, not one per metric and message (single-event messages).
  const counts = new Map<string, number>();
  for (const { message } of items) {
    if (message.counts) for (const metric in message.counts) if (Object.hasOwn(message.counts, metric)) counts.set(metric, (counts.get(metric) ?? 0) + message.counts[metric]!);
    if (source && ports.users) ports.users(source, message.events, formatIso(message.t0).slice(0, 10));
  }
  for (const [metric, n] of counts) ports.stats.count(scope, metric, n);
}

/** Events of a source no longer configured: dead letters (replayable once it is back), never dropped. */
async function sourceGone(sourceId: string, items: Item[], ports: RouterPorts): Promise<void> {
  await Promise.all(
    items.map(async ({ msg, message }) => {
      try {
        const failure = { code: "source_removed", reason: `source "${sourceId}" is no longer configured` };
        await enqueue(ports.deadLetters, { dest: "-", source: sourceId, t0: message.t0, tries: 0, failure }, message.events);
        settled(`source:${sourceId}`, [{ msg, message }], ports);
        msg.ack();
      } catch (err) {
        log("dead letter send failed", { source: sourceId, error: String(err) });
        msg.retry({ delaySeconds: 30 });
      }
    }),
  );
}

/**
 * The routing step, for the router and a quarantine replay alike: tracking plan (quarantined events held, one R2
 * object), source filters, per destination planAndRoute's events handed to `deliver`, destinations concurrently;
 * events a filter threw on to the dead letters. Resolves once every outcome is durable; on failure what it held in
 * the quarantine is taken out again (the retry holds it anew). A replay also keeps what the plan still blocks.
 * @returns how many events the quarantine holds (again).
 */
export async function routeSource(source: CompiledSource, events: readonly SluiceEvent[], t0: number, ports: StepPorts, replay?: ReplayOf): Promise<{ held: number }> {
  if (events.length === 0) return { held: 0 };
  const planned = planAndRoute(source, events, ports.stats, replay ? { replay: true } : {});
  const toHold: PlanDecision[] = replay ? [...planned.blocked, ...planned.quarantined] : planned.quarantined;
  const held: ArchiveEntry[] = toHold.length > 0 ? await ports.quarantine.hold(source, toHold, replay) : [];
  const sourceId = source.config.id;
  const byDest = new Map<string, DeliveryMessage[]>();
  const add = (dest: string, message: DeliveryMessage) => {
    if (message.events.length === 0) return;
    const list = byDest.get(dest);
    if (list) list.push(message);
    else byDest.set(dest, [message]);
  };
  const sends: Promise<unknown>[] = [];
  const watched = ports.live ? await ports.live.watching(sourceId) : false;
  for (const [dest, routed] of planned.routed)
    for (const send of routedSends(routed)) {
      const header = { dest, source: sourceId, t0, tries: 0, ...send.fields };
      if (send.queue === "DEAD_LETTERS") sends.push(enqueue(ports.deadLetters, header, send.events));
      else add(dest, { v: 1, ...header, events: send.events });
    }
  if (planned.reports) add(planned.reports.destination, { v: 1, dest: planned.reports.destination, source: sourceId, t0, tries: 0, events: planned.reports.events });
  const delivery = new Map<string, DeliveryReport>();
  for (const [dest, messages] of byDest)
    sends.push(watched ? ports.deliver(dest, messages, true).then((r) => void (r && delivery.set(dest, r))) : ports.deliver(dest, messages));
  // Every destination gets its attempt whatever another does; then the first failure, if any, fails the step.
  const failed = (await Promise.allSettled(sends)).find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    if (held.length > 0) await ports.quarantine.remove(held).catch((e) => log("quarantine rollback failed", { source: sourceId, error: String(e) }));
    throw failed.reason;
  }
  if (watched) await ports.live!.publish(sourceId, liveBatch(source, events, planned, toHold, delivery, Date.now()));
  return { held: toHold.length };
}


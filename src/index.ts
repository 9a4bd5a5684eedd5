/**
 * Worker entry: wires the compiled config, the HTTP app and the queue consumers together.
 */
import config from "sluice-config";
import { destinationKinds } from "../destinations/index.ts";
import { createApp, type SluiceEnv } from "./http/app.ts";
import { compilePipeline, type CompiledPipeline } from "./pipeline/compile.ts";
import { consumeBackstop, consumeDeadLetters } from "./archive/dead-letter-queue.ts";
import { consumeDeliveries, deliverFirst, type ConsumerDeps } from "./queue/consumer.ts";
import { DedupClaims, newClaimToken, type DedupShards } from "./dedup/claims.ts";
import { claimBatch } from "./dedup/batch.ts";
import { quarantineHold } from "./archive/quarantine.ts";
import { route } from "./router/route.ts";
import { Breakers } from "./delivery/breaker.ts";
import { storeDeadLetter } from "./archive/dead-letters.ts";
import type { DeadLetter } from "./queue/messages.ts";
import { Telemetry } from "./telemetry.ts";
import { SourceGuards } from "./http/guards.ts";
import { LiveTap } from "./live/live.ts";
import { deliverObserved } from "./live/observe.ts";
import { evaluateAlerts } from "./alerts/evaluate.ts";
import { alertPorts } from "./alerts/worker.ts";

export { ArchiveObject } from "./storage/archive-object.ts";
export { StatsObject } from "./storage/stats-object.ts";
export { SourceObject } from "./storage/source-object.ts";
export { DedupObject } from "./storage/dedup-object.ts";
export { AuditObject } from "./storage/audit-object.ts";
export { LiveObject } from "./storage/live-object.ts";
export { AlertObject } from "./storage/alert-object.ts";
export { LakeBufferObject } from "../destinations/datalake/buffer-object.ts";

let compiled: CompiledPipeline | undefined;
/** Compiled on first use and kept for the isolate's life. */
const pipeline = (env: SluiceEnv) => (compiled ??= compilePipeline(config, destinationKinds, env as unknown as Record<string, unknown>));

let statsBinding: SluiceEnv["STATS"] | undefined;
const telemetry = new Telemetry(() => {
  if (!statsBinding) throw new Error("telemetry used before the first request");
  return statsBinding;
});

/** Circuit breakers live as long as the isolate: a fresh isolate starts closed, which is itself a probe. */
const breakers = new Breakers();

/** The router's dedup claims: commits it could not store yet wait here for the next batch's flush. */
const claims = new DedupClaims({ onError: (what, err) => console.error(JSON.stringify({ msg: `${what} failed`, error: String(err) })) });
const dedupShards = (env: SluiceEnv): DedupShards => (sourceId, shard) => env.DEDUP.get(env.DEDUP.idFromName(`${sourceId}:${shard}`));

/** The console's live feed: the router asks a source's LiveObject whether anyone watches at most every 10 s. */
let liveBinding: SluiceEnv["LIVE"] | undefined;
const liveObject = (source: string) => liveBinding!.get(liveBinding!.idFromName(source));
const live = new LiveTap({ watched: (source) => liveObject(source).watched(), publish: (source, batch) => liveObject(source).publish(batch) });

/** Rate-limit leases (request path) and user sketches (router), per isolate. */
const guards = new SourceGuards();
const app = createApp({ pipeline, kinds: destinationKinds, telemetry, guards });

/** The delivery consumer's dependencies; the router makes its first attempts with them (inRetryQueue false). */
function consumerDeps(env: SluiceEnv, inRetryQueue: boolean, storeDeadLetter: (d: DeadLetter) => Promise<unknown>): ConsumerDeps {
  return {
    pipeline: pipeline(env),
    kinds: destinationKinds,
    env,
    bucket: env.BUCKET,
    retries: env.RETRIES,
    inRetryQueue,
    tally: telemetry,
    breakers,
    storeDeadLetter,
    fetch: (input, init) => fetch(input, init),
    now: Date.now,
    random: Math.random,
  };
}

export default {
  fetch(request, env, ctx) {
    statsBinding = env.STATS;
    return app.fetch(request, env, ctx);
  },
  async queue(batch, env, ctx) {
    statsBinding = env.STATS;
    liveBinding = env.LIVE;
    const store = (d: DeadLetter) => storeDeadLetter(env.BUCKET, env.ARCHIVE, d);
    try {
      if (batch.queue.startsWith("sluice-dead-letters-backstop")) {
        await consumeBackstop(batch, { bucket: env.BUCKET, tally: telemetry });
      } else if (batch.queue.startsWith("sluice-dead-letters")) {
        await consumeDeadLetters(batch, { storeDeadLetter: store, tally: telemetry, now: Date.now });
      } else if (batch.queue.startsWith("sluice-ingest")) {
        const deliveries = consumerDeps(env, false, store);
        await route(batch, {
          pipeline: deliveries.pipeline,
          dedup: (source, events, token) => claimBatch(claims, dedupShards(env), source, events, token),
          newToken: newClaimToken,
          quarantine: quarantineHold(env.BUCKET, env.ARCHIVE),
          deliver: (dest, messages, observe) => (observe ? deliverObserved(dest, messages, deliveries) : deliverFirst(dest, messages, deliveries)),
          deadLetters: env.DEAD_LETTERS,
          stats: telemetry,
          users: (source, events, day) => guards.users(source, events, day),
          live,
        });
        ctx.waitUntil(guards.flushUsers(env));
      } else {
        // Deliveries queued by the previous release, dead-letter replays, quarantine replays; and the retries.
        await consumeDeliveries(batch, consumerDeps(env, batch.queue.startsWith("sluice-retries"), store));
      }
    } finally {
      // Joins a flush the isolate's requests already scheduled; otherwise writes now (a batch does not linger).
      telemetry.flushJoin((p) => ctx.waitUntil(p));
    }
  },
  /** The 5-minute Cron Trigger: alert rules (src/alerts/). */
  async scheduled(_controller, env, _ctx) {
    statsBinding = env.STATS;
    const result = await evaluateAlerts(alertPorts(config, env));
    for (const f of result.failed) console.error(JSON.stringify({ msg: "alert not sent", alert: f.key, error: f.error }));
  },
} satisfies ExportedHandler<SluiceEnv>;

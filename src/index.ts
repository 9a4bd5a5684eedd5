/**
 * Worker entry: wires the compiled config, the HTTP app and the queue consumers together.
 */
import config from "sluice-config";
import { destinationKinds } from "../destinations/index.ts";
import { createApp, type SluiceEnv } from "./http/app.ts";
import { compilePipeline, type CompiledPipeline } from "./pipeline/compile.ts";
import { consumeBackstop, consumeDeadLetters } from "./archive/dead-letter-queue.ts";
import { consumeDeliveries } from "./queue/consumer.ts";
import { Breakers } from "./delivery/breaker.ts";
import { storeDeadLetter } from "./archive/dead-letters.ts";
import type { DeadLetter } from "./queue/messages.ts";
import { Telemetry } from "./telemetry.ts";
import { SourceGuards } from "./http/guards.ts";

export { ArchiveObject } from "./storage/archive-object.ts";
export { StatsObject } from "./storage/stats-object.ts";
export { SourceObject } from "./storage/source-object.ts";
export { DedupObject } from "./storage/dedup-object.ts";
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

const app = createApp({ pipeline, kinds: destinationKinds, telemetry, guards: new SourceGuards() });

export default {
  fetch(request, env, ctx) {
    statsBinding = env.STATS;
    return app.fetch(request, env, ctx);
  },
  async queue(batch, env, ctx) {
    statsBinding = env.STATS;
    const store = (d: DeadLetter) => storeDeadLetter(env.BUCKET, env.ARCHIVE, d);
    try {
      if (batch.queue.startsWith("sluice-dead-letters-backstop")) {
        await consumeBackstop(batch, { bucket: env.BUCKET, tally: telemetry });
      } else if (batch.queue.startsWith("sluice-dead-letters")) {
        await consumeDeadLetters(batch, { storeDeadLetter: store, tally: telemetry, now: Date.now });
      } else {
        await consumeDeliveries(batch, {
          pipeline: pipeline(env),
          kinds: destinationKinds,
          env,
          bucket: env.BUCKET,
          retries: env.RETRIES,
          inRetryQueue: batch.queue.startsWith("sluice-retries"),
          tally: telemetry,
          breakers,
          storeDeadLetter: store,
          fetch: (input, init) => fetch(input, init),
          now: Date.now,
          random: Math.random,
        });
      }
    } finally {
      // Joins a flush the isolate's requests already scheduled; otherwise writes now (a batch does not linger).
      telemetry.flushJoin((p) => ctx.waitUntil(p));
    }
  },
} satisfies ExportedHandler<SluiceEnv>;

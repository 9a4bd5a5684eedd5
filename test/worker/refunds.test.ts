/**
 * Rate-limit refunds through the HTTP app: a request that fails with a 5xx gives its tokens back (the client
 * retries it), one answered 4xx does not. Each test gets a copy of source limited-a (test/worker/config: burst 5,
 * 0.5 events/s) under an id of its own, so its bucket is fresh; the app is built here to inject the failures.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import config from "sluice-config";
import { describe, expect, it } from "vitest";
import { destinationKinds } from "../../destinations/index.ts";
import { createApp, type SluiceEnv } from "../../src/http/app.ts";
import { SourceGuards } from "../../src/http/guards.ts";
import { compilePipeline } from "../../src/pipeline/compile.ts";
import { Telemetry } from "../../src/telemetry.ts";
import { basic } from "./helpers.ts";

/** A messageId source that throws once when told to: an unexpected error after the tokens were taken. */
class FaultyIds {
  failNext = false;
  next = (): string => {
    if (this.failNext) {
      this.failNext = false;
      throw new Error("unexpected failure");
    }
    return crypto.randomUUID();
  };
}

function limitedApp() {
  const key = `wk_refund_${crypto.randomUUID().slice(0, 8)}`;
  const source = { ...config.sources.find((s) => s.id === "limited-a")!, id: `refund-${crypto.randomUUID().slice(0, 8)}`, write_keys: [key] };
  const pipeline = compilePipeline({ ...config, sources: [...config.sources, source] }, destinationKinds, env as unknown as Record<string, unknown>);
  const ids = new FaultyIds();
  const app = createApp({ pipeline: () => pipeline, kinds: destinationKinds, telemetry: new Telemetry(() => env.STATS), guards: new SourceGuards(), newMessageId: ids.next, countsSpillMs: 0 });
  /** POSTs a batch of five events (the whole burst). */
  const postBatch = async (body: unknown = { batch: Array.from({ length: 5 }, () => ({ type: "track", userId: "u1", event: "Tick" })) }, bindings: SluiceEnv = env) => {
    const ctx = createExecutionContext();
    const req = new Request("http://sluice.test/v1/batch", { method: "POST", headers: { authorization: basic(key) }, body: JSON.stringify(body) });
    const res = await app.fetch(req, bindings, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  };
  return { ids, postBatch };
}

describe("rate-limit refunds", () => {
  it("gives the tokens of a request that failed with an unexpected 500 back, so its retry is admitted", async () => {
    const { ids, postBatch } = limitedApp();
    ids.failNext = true;
    const failed = await postBatch();
    expect(failed.status).toBe(500);
    expect(await postBatch().then((r) => r.status)).toBe(200);
    // Refunded once, not created: the bucket is spent now.
    expect(await postBatch().then((r) => r.status)).toBe(429);
  });

  it("gives the tokens of a request answered 503 (queue down) back", async () => {
    const { postBatch } = limitedApp();
    const down = { ...env, INGEST: { sendBatch: async () => Promise.reject(new Error("queue down")), send: async () => {} } as unknown as Queue };
    expect(await postBatch(undefined, down).then((r) => r.status)).toBe(503);
    expect(await postBatch().then((r) => r.status)).toBe(200);
  });

  it("keeps the tokens of a request answered 400: the client does not retry it", async () => {
    const { postBatch } = limitedApp();
    const invalid = { batch: Array.from({ length: 5 }, () => ({ type: "track", userId: "u1" })) };
    expect(await postBatch(invalid).then((r) => r.status)).toBe(400);
    expect(await postBatch().then((r) => r.status)).toBe(429);
  });
});

import { createExecutionContext, createMessageBatch, env, getQueueResult, SELF } from "cloudflare:test";
import worker from "../../src/index.ts";

export const WEB_KEY = "wk_test_web_1";
export const IOS_KEY = "wk_test_ios";
export const basic = (key: string) => `Basic ${btoa(`${key}:`)}`;

/** POSTs JSON (or raw bytes) to the worker under test. */
export function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const raw = typeof body === "string" || body instanceof Uint8Array || body instanceof ReadableStream ? body : JSON.stringify(body);
  return SELF.fetch(`http://sluice.test${path}`, { method: "POST", headers, body: raw as BodyInit });
}

export async function gzip(text: string | Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Events the r2 "inspect" destination stored, read back through the real bucket. */
export async function storedEvents(destination = "inspect"): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  const list = await env.BUCKET.list({ prefix: `events/${destination}/` });
  for (const o of list.objects) {
    const text = await (await env.BUCKET.get(o.key))!.text();
    for (const line of text.split("\n")) if (line) out.push(JSON.parse(line));
  }
  return out;
}

/** Polls until `check` returns a value or the deadline passes (queue delivery is asynchronous). */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs the router on one ingest message of `source` (as the sluice-ingest queue would hand it over), in `workerEnv`.
 * Returns how it was settled, with the retry delays asked for (getQueueResult does not report them).
 */
export async function routeIngest(source: string, events: Record<string, unknown>[], options: { attempts?: number; env?: Env } = {}) {
  const receivedAt = new Date().toISOString();
  const body = JSON.stringify({ v: 1, kind: "ingest", source, t0: Date.now(), events: events.map((e) => ({ type: "track", userId: "u1", event: "X", receivedAt, timestamp: receivedAt, ...e })) });
  const batch = createMessageBatch("sluice-ingest", [{ id: `in-${crypto.randomUUID()}`, timestamp: new Date(), attempts: options.attempts ?? 1, body }]);
  const delays: (number | undefined)[] = [];
  for (const m of batch.messages) {
    const retry = m.retry.bind(m);
    m.retry = (o?: QueueRetryOptions) => (delays.push(o?.delaySeconds), retry(o));
  }
  const ctx = createExecutionContext();
  await worker.queue!(batch, options.env ?? env, ctx);
  const result = await getQueueResult(batch, ctx);
  return { acked: result.explicitAcks.length, retried: result.retryMessages.length, delays };
}

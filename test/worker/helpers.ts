import { env, SELF } from "cloudflare:test";

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

/**
 * The platform's floor (bench/http.ts): what any Tracking API worker on Workers must do per request — route it,
 * parse the JSON batch, serialize the events once and put them on a Queue — and nothing else. Its consumer acks.
 *
 * With the var FANOUT=n it is the floor of Sluice's architecture instead: what any worker that fans out at ingest
 * to n destinations must do — one copy of each event per destination (a field added, as a destination's
 * transformation would), serialized, packed into messages under one 64 KB billing unit, one sendBatch per
 * destination — and nothing else: no normalization, tracking plan, filters, dedup or telemetry.
 */
import { Hono } from "hono";
import { utf8Length } from "../../src/pipeline/json-size.ts";

interface FloorEnv {
  QUEUE: Queue;
  FANOUT?: string;
}

const MESSAGE_TARGET_BYTES = 60 * 1024;

const app = new Hono<{ Bindings: FloorEnv }>();

app.get("/", (c) => c.json({ name: "sluice-bench-floor" }));

app.post("/v1/batch", async (c) => {
  const body = await c.req.json<{ batch?: unknown[] }>();
  const events = Array.isArray(body.batch) ? body.batch : [];
  if (events.length === 0) return c.json({ error: { code: "empty_batch" } }, 400);
  const fanout = Number(c.env.FANOUT ?? 0);
  if (!(fanout > 0)) {
    // One message (a 100-event batch is ~56 KB: under the 128 KB limit).
    await c.env.QUEUE.send(JSON.stringify(events), { contentType: "text" });
    return c.json({ success: true, accepted: events.length });
  }
  const receivedAt = new Date().toISOString();
  const sends: Promise<unknown>[] = [];
  for (let d = 0; d < fanout; d++) {
    const messages: { body: string; contentType: "text" }[] = [];
    let parts: string[] = [];
    let bytes = 0;
    for (const event of events) {
      const json = JSON.stringify({ ...(event as object), receivedAt });
      const size = utf8Length(json) + 1;
      if (parts.length > 0 && bytes + size > MESSAGE_TARGET_BYTES) {
        messages.push({ body: `{"dest":${d},"events":[${parts.join(",")}]}`, contentType: "text" });
        parts = [];
        bytes = 0;
      }
      parts.push(json);
      bytes += size;
    }
    if (parts.length > 0) messages.push({ body: `{"dest":${d},"events":[${parts.join(",")}]}`, contentType: "text" });
    sends.push(c.env.QUEUE.sendBatch(messages));
  }
  await Promise.all(sends);
  return c.json({ success: true, accepted: events.length });
});

export default {
  fetch: app.fetch,
  async queue(batch) {
    batch.ackAll();
  },
} satisfies ExportedHandler<FloorEnv>;

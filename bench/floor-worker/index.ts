/**
 * The platform's floor (bench/http.ts): what any Tracking API worker on Workers must do per request — route it,
 * parse the JSON batch, serialize the events once and put them on a Queue — and nothing else. Its consumer acks.
 */
import { Hono } from "hono";

interface FloorEnv {
  QUEUE: Queue;
}

const app = new Hono<{ Bindings: FloorEnv }>();

app.get("/", (c) => c.json({ name: "sluice-bench-floor" }));

app.post("/v1/batch", async (c) => {
  const body = await c.req.json<{ batch?: unknown[] }>();
  const events = Array.isArray(body.batch) ? body.batch : [];
  if (events.length === 0) return c.json({ error: { code: "empty_batch" } }, 400);
  // One message (a 100-event batch is ~56 KB: under the 128 KB limit).
  await c.env.QUEUE.send(JSON.stringify(events), { contentType: "text" });
  return c.json({ success: true, accepted: events.length });
});

export default {
  fetch: app.fetch,
  async queue(batch) {
    batch.ackAll();
  },
} satisfies ExportedHandler<FloorEnv>;

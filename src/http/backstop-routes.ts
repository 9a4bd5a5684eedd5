/**
 * The dead-letter backstop (src/archive/dead-letters.ts): queue messages the dead-letter consumer could not store.
 *   GET  /admin/dead-letters-backstop?limit=&cursor=  → { count, entries: [{ id, queue, messageId, attempts, bytes, storedAt }], cursor? }
 *   GET  /admin/dead-letters-backstop/<id>            → { entry, body, bodyEncoding? } (the body whole)
 *   POST /admin/dead-letters-backstop/<id>/requeue    → sends the body to the dead-letter queue again, where it is
 *        stored as a dead letter (listed and replayable at /admin/dead-letters), and removes it here
 * Backstop entries are raw queue messages that name no source, so only tokens that reach every source see them;
 * showing a body is a read of event bodies and requeueing a replay, both recorded in the audit trail.
 */
import type { Hono, MiddlewareHandler } from "hono";
import type { Telemetry } from "../telemetry.ts";
import { BACKSTOP_PREFIX, BACKSTOP_SCOPE } from "../archive/dead-letters.ts";
import type { SluiceEnv } from "./env.ts";
import { ApiError } from "../api-error.ts";
import { audited, forbidScope, requireAccess } from "./access.ts";

const everySource: MiddlewareHandler<{ Bindings: SluiceEnv }> = async (c, next) => {
  const p = c.get("principal");
  if (p.sources !== "*") throw forbidScope(p, "the dead-letter backstop (its messages name no source)");
  await next();
};

function entry(o: R2Object) {
  const m = o.customMetadata ?? {};
  return { id: o.key.slice(BACKSTOP_PREFIX.length), queue: m.queue, messageId: m.messageId, attempts: Number(m.attempts), bytes: o.size, storedAt: o.uploaded.toISOString() };
}

async function stored(env: SluiceEnv, id: string): Promise<R2ObjectBody> {
  const o = await env.BUCKET.get(BACKSTOP_PREFIX + id);
  if (!o) throw new ApiError(404, "not_found", `no backstop entry "${id}"`);
  return o;
}

export function registerBackstopRoutes(app: Hono<{ Bindings: SluiceEnv }>, telemetry: Telemetry): void {
  const base = "/admin/dead-letters-backstop";

  app.get(base, requireAccess("read.metadata"), everySource, async (c) => {
    const limit = Math.min(Math.max(Number(c.req.query("limit") ?? 100) || 100, 1), 1000);
    // `include` is a runtime option the workers-types of this version do not declare.
    const options = { prefix: BACKSTOP_PREFIX, limit, cursor: c.req.query("cursor"), include: ["customMetadata"] };
    const page = await c.env.BUCKET.list(options as R2ListOptions);
    return c.json({ count: page.objects.length, entries: page.objects.map(entry), ...(page.truncated ? { cursor: page.cursor } : {}) });
  });

  app.get(`${base}/:id`, requireAccess("read.events"), everySource, async (c) => {
    const o = await stored(c.env, c.req.param("id"));
    const bodyEncoding = o.customMetadata?.bodyEncoding;
    return c.json(await audited(c, "read.events dead-letters-backstop", { id: c.req.param("id") }, async () => ({ entry: entry(o), body: await o.text(), ...(bodyEncoding ? { bodyEncoding } : {}) })));
  });

  app.post(`${base}/:id/requeue`, requireAccess("replay"), everySource, async (c) => {
    const id = c.req.param("id");
    const o = await stored(c.env, id);
    return c.json(await audited(c, "replay dead-letters-backstop", { id }, () => requeue(c.env, o, id)));
  });

  async function requeue(env: SluiceEnv, o: R2ObjectBody, id: string) {
    const text = await o.text();
    if (o.customMetadata?.bodyEncoding === "base64") await env.DEAD_LETTERS.send(Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0)), { contentType: "bytes" });
    else await env.DEAD_LETTERS.send(text, { contentType: "text" });
    // Removed only once queued: a failure above leaves it here for another try.
    await env.BUCKET.delete(o.key);
    telemetry.count(BACKSTOP_SCOPE, "requeued");
    return { requeued: id };
  }
}

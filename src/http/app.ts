/**
 * The HTTP shell: Segment's Tracking API routes and the admin API, around the pure pipeline core.
 */
import { Hono, type Context } from "hono";
import { cors } from "hono/cors";
import { r2KeyPrefix } from "../../destinations/r2/index.ts";
import type { DestinationDefinition } from "../delivery/destination.ts";
import { routeNormalized, type CompiledPipeline, type CompiledSource } from "../pipeline/compile.ts";
import { LIMITS, normalizeRequest, type EventType, type Rejection } from "../pipeline/normalize.ts";
import { planScope } from "../pipeline/plan-stage.ts";
import { enqueueRouted } from "../queue/messages.ts";
import type { Telemetry } from "../telemetry.ts";
import { readJsonBody, writeKeyFromAuthorization } from "./body.ts";
import { destinationMetrics, openMetrics } from "../metrics.ts";
import { BACKSTOP_SCOPE, deadLetterArchive } from "../archive/dead-letters.ts";
import type { ArchiveEntry } from "../storage/archive-object.ts";
import { quarantineArchive, quarantineRecord, removeQuarantined, storeQuarantined } from "../archive/quarantine.ts";
import { registerPlanRoutes } from "./plan-routes.ts";
import { registerArchiveRoutes } from "./archive-routes.ts";
import { sameCredential } from "../config/credentials.ts";
import { registerBackstopRoutes } from "./backstop-routes.ts";
import { ApiError } from "./errors.ts";
import type { SourceGuards } from "./guards.ts";
import { usageRoute } from "./usage-route.ts";

export type SluiceEnv = Env & { ADMIN_TOKEN?: string };
type Ctx = Context<{ Bindings: SluiceEnv }>;

export interface AppDeps {
  /** The compiled config; compiled on first use with the Worker's env (filters may use secrets). */
  pipeline: (env: SluiceEnv) => CompiledPipeline;
  kinds: Record<string, DestinationDefinition<any>>;
  telemetry: Telemetry;
  newMessageId?: () => string;
  /** Per-source rate limits, dedup and usage (src/limits, src/dedup, src/usage); without it, none of them. */
  guards?: SourceGuards;
}

/** Route name → event type; analytics.js uses the one-letter forms, `/v1/import` is Segment's batch alias. */
const TRACKING_ROUTES: Record<string, EventType | "batch"> = {
  track: "track", t: "track", identify: "identify", i: "identify", page: "page", p: "page",
  screen: "screen", s: "screen", group: "group", g: "group", alias: "alias", a: "alias",
  batch: "batch", b: "batch", import: "batch",
};

function resolveSource(pipeline: CompiledPipeline, key: string | undefined): CompiledSource {
  if (key === undefined || key === "")
    throw new ApiError(401, "missing_write_key", "no write key: send Authorization: Basic base64(\"<writeKey>:\") or \"writeKey\" in the body");
  const source = pipeline.sourceForWriteKey(key);
  if (!source) throw new ApiError(401, "invalid_write_key", "the write key is not valid for any source");
  return source;
}

/** Why nothing in the request could be accepted, as the 4xx error of the whole request. */
function nothingUsable(rejected: Rejection[], isBatch: boolean): ApiError {
  if (!isBatch && rejected.length === 1) {
    const r = rejected[0]!;
    return new ApiError(r.code === "event_too_large" ? 413 : 400, r.code, r.reason);
  }
  const message = rejected.length === 0 ? "batch is empty" : `none of the ${rejected.length} events is valid; see "rejected"`;
  return new ApiError(400, rejected.length === 0 ? "empty_batch" : "no_valid_events", message, {}, { rejected });
}

/**
 * Per request: what to undo when it ends in a 5xx (the client retries, and the retry must not pay twice). Kept
 * here and run by onError, so that every failure path refunds, an unexpected 500 included.
 */
const undoOnServerError = new WeakMap<Context, () => void>();

export function createApp(deps: AppDeps): Hono<{ Bindings: SluiceEnv }> {
  const app = new Hono<{ Bindings: SluiceEnv }>();

  app.onError((err, c) => {
    if (!(err instanceof ApiError) || err.status >= 500) undoOnServerError.get(c)?.();
    if (err instanceof ApiError) return c.json(err.body(), err.status, err.headers);
    console.error(JSON.stringify({ msg: "unhandled error", path: c.req.path, error: String(err) }));
    return c.json({ error: { code: "internal_error", message: "internal error; the request was not accepted, retry it" } }, 500);
  });
  app.notFound((c) => c.json({ error: { code: "not_found", message: `no route ${c.req.method} ${c.req.path}` } }, 404));

  app.use(
    "/v1/*",
    cors({
      origin: "*",
      allowMethods: ["POST", "OPTIONS"],
      allowHeaders: ["Authorization", "Content-Type", "Content-Encoding", "X-Retry-Count"],
      maxAge: 86400,
    }),
  );

  app.get("/", (c) => c.json({ name: "sluice", docs: "README.md", tracking: "/v1/{track,identify,page,screen,group,alias,batch}" }));

  // analytics.js posts its own client metrics here; they are not customer events.
  app.post("/v1/m", (c) => c.json({ success: true }));

  app.post("/v1/:route", async function trackingApi(c: Ctx) {
    const route = c.req.param("route") ?? "";
    const routeType = Object.hasOwn(TRACKING_ROUTES, route) ? TRACKING_ROUTES[route] : undefined;
    if (!routeType) throw new ApiError(404, "not_found", `no Tracking API route ${c.req.path}`);
    const pipeline = deps.pipeline(c.env);
    const headerKey = writeKeyFromAuthorization(c.req.header("authorization") ?? null);
    // Check a header key before reading the body, so a bad key costs nothing.
    let source = headerKey !== undefined ? resolveSource(pipeline, headerKey) : undefined;
    const { json, bytes } = await readJsonBody(c.req.raw);
    if (!source) {
      const bodyKey = json && typeof json === "object" && !Array.isArray(json) ? (json as { writeKey?: unknown }).writeKey : undefined;
      source = resolveSource(pipeline, typeof bodyKey === "string" ? bodyKey : undefined);
    }
    let events = 1;
    if (routeType === "batch") {
      const items = (json as { batch?: unknown } | null)?.batch;
      if (Array.isArray(items) && items.length > LIMITS.maxBatchEvents)
        throw new ApiError(413, "batch_too_large", `batch has ${items.length} events; the limit is ${LIMITS.maxBatchEvents}`);
      if (Array.isArray(items)) events = Math.max(1, items.length);
    }
    const receivedAt = new Date();
    const scope = `source:${source.config.id}`;
    const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
    const guards = deps.guards;
    deps.telemetry.count(scope, "requests");
    deps.telemetry.count(scope, "bytes", bytes);
    // Before the pipeline runs: a request over the limit costs one token check, and its events are not accepted.
    const admission = guards ? await guards.admit(c.env, source.config, events) : undefined;
    if (admission && !admission.admitted) {
      deps.telemetry.count(scope, "rejected.rate_limited", events);
      deps.telemetry.flushSoon(waitUntil);
      throw new ApiError(429, "rate_limited", `source "${source.config.id}" is over its rate limit; retry in ${admission.retryAfterSeconds} s`, { "retry-after": String(admission.retryAfterSeconds) });
    }
    if (admission) undoOnServerError.set(c, () => guards?.refund(source.config, admission));
    const newMessageId = deps.newMessageId ?? (() => crypto.randomUUID());
    const assigned = new Set<string>();
    const assign = () => {
      const id = newMessageId();
      assigned.add(id);
      return id;
    };
    const normalized = normalizeRequest(json, routeType, { receivedAt, requestBytes: bytes, newMessageId: assign });
    if (normalized.invalid) {
      deps.telemetry.flushSoon(waitUntil);
      throw new ApiError(400, normalized.invalid.code, normalized.invalid.reason);
    }
    let claim: Awaited<ReturnType<SourceGuards["dedup"]>> | undefined;
    try {
      claim = guards ? await guards.dedup(c.env, source.config, normalized.accepted, assigned) : undefined;
    } catch (err) {
      deps.telemetry.count(scope, "in_flight", normalized.accepted.length);
      deps.telemetry.flushSoon(waitUntil);
      throw err;
    }
    // Whatever fails before the events are queued (a 503 below, or anything unexpected), the claims are released:
    // the client's retry must be neither held in flight nor taken for a duplicate.
    let queued = false;
    try {
      const result = routeNormalized(source, { accepted: claim?.fresh ?? normalized.accepted, rejected: normalized.rejected }, deps.telemetry);
      const duplicates = claim?.duplicates ?? 0;
      deps.telemetry.count(scope, "duplicates", duplicates);
      if (result.accepted.length === 0 && duplicates === 0) {
        deps.telemetry.flushSoon(waitUntil);
        throw nothingUsable(result.rejected, routeType === "batch");
      }

      /** Nothing is acknowledged unless it is stored: the client keeps the events and retries. */
      const notAccepted = async (what: "enqueue" | "quarantine", err: unknown): Promise<never> => {
        console.error(JSON.stringify({ msg: `${what} failed`, source: source.config.id, error: String(err) }));
        deps.telemetry.count(scope, `${what}_failed`, result.accepted.length);
        deps.telemetry.flushSoon(waitUntil);
        // The claims are released where this is caught, below; the tokens by onError.
        throw what === "enqueue"
          ? new ApiError(503, "queue_unavailable", "events could not be queued; retry the request", { "retry-after": "5" })
          : new ApiError(503, "quarantine_unavailable", "events the tracking plan quarantined could not be stored; retry the request", { "retry-after": "5" });
      };

      // Quarantined events are stored before anything is queued, so a failure here leaves nothing to undo.
      let held: ArchiveEntry[] = [];
      if (result.quarantined.length > 0) {
        const at = new Date();
        const records = result.quarantined.map((d) => quarantineRecord(source, d, receivedAt.toISOString(), at));
        try {
          held = await storeQuarantined(c.env.BUCKET, c.env.ARCHIVE, records);
        } catch (err) {
          await notAccepted("quarantine", err);
        }
      }

      try {
        await enqueueRouted(c.env, source.config.id, receivedAt.getTime(), result);
      } catch (err) {
        // The client will resend the quarantined events too: take this request's copies out again.
        if (held.length > 0)
          waitUntil(removeQuarantined(c.env.BUCKET, c.env.ARCHIVE, held).catch((e) => console.error(JSON.stringify({ msg: "quarantine rollback failed", source: source.config.id, error: String(e) }))));
        await notAccepted("enqueue", err);
      }
      queued = true;
      guards?.accepted(c.env, source.config, result.accepted, receivedAt.toISOString().slice(0, 10), claim, waitUntil);
      deps.telemetry.flushSoon(waitUntil);
      return c.json({
        success: true,
        accepted: result.accepted.length,
        ...(duplicates > 0 ? { duplicates } : {}),
        ...(result.blocked > 0 ? { blocked: result.blocked } : {}),
        ...(result.quarantined.length > 0 ? { quarantined: result.quarantined.length } : {}),
        ...(result.rejected.length > 0 ? { rejected: result.rejected } : {}),
      });
    } catch (err) {
      if (!queued) await claim?.release();
      throw err;
    }
  });

  app.all("/v1/*", (c) => {
    const route = c.req.path.slice(4);
    if (route === "m" || Object.hasOwn(TRACKING_ROUTES, route))
      throw new ApiError(405, "method_not_allowed", `${c.req.method} is not allowed on ${c.req.path}; use POST`, { allow: "POST, OPTIONS" });
    throw new ApiError(404, "not_found", `no Tracking API route ${c.req.path}`);
  });

  app.use("/admin/*", async function adminAuth(c, next) {
    const token = c.env.ADMIN_TOKEN;
    if (!token) throw new ApiError(401, "admin_disabled", "the admin API is disabled: set the ADMIN_TOKEN secret");
    const given = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (!given || !sameCredential(given.trim(), token))
      throw new ApiError(401, "unauthorized", "admin API needs Authorization: Bearer <ADMIN_TOKEN>", { "www-authenticate": "Bearer" });
    await next();
    // Replays count what they do (replayed, routed, …).
    deps.telemetry.flushSoon((p) => c.executionCtx.waitUntil(p));
  });

  registerArchiveRoutes(app, deadLetterArchive, deps.pipeline);
  registerBackstopRoutes(app, deps.telemetry);
  registerArchiveRoutes(app, quarantineArchive(deps.telemetry), deps.pipeline);
  registerPlanRoutes(app, deps.pipeline);

  /** Delivery metrics per destination: JSON here, OpenMetrics text at /admin/metrics. */
  const destinationScopes = async (env: SluiceEnv, since: string) => {
    const ids = deps.pipeline(env).config.destinations.map((d) => d.id);
    return Object.fromEntries(await Promise.all(ids.map(async (id) => [id, await env.STATS.get(env.STATS.idFromName(`destination:${id}`)).read(since)] as const)));
  };
  app.get("/admin/destinations/metrics", async (c) => {
    const since = c.req.query("since") ?? new Date(Date.now() - 86400_000).toISOString().slice(0, 10);
    const scopes = await destinationScopes(c.env, since);
    return c.json({ since, destinations: Object.fromEntries(Object.entries(scopes).map(([id, days]) => [id, destinationMetrics(days)])) });
  });
  app.get("/admin/metrics", async (c) => {
    const since = c.req.query("since") ?? new Date(Date.now() - 86400_000).toISOString().slice(0, 10);
    const pipeline = deps.pipeline(c.env);
    const scopes = [
      ...pipeline.config.sources.map((s) => `source:${s.id}`),
      ...pipeline.config.destinations.map((d) => `destination:${d.id}`),
      ...Object.keys(pipeline.config.plans ?? {}).map(planScope),
      BACKSTOP_SCOPE,
    ];
    const stats = await Promise.all(scopes.map(async (scope) => [scope, await c.env.STATS.get(c.env.STATS.idFromName(scope)).read(since)] as const));
    return c.body(openMetrics(Object.fromEntries(stats)), 200, { "content-type": "application/openmetrics-text; version=1.0.0; charset=utf-8" });
  });

  app.get("/admin/stats", async (c) => {
    const pipeline = deps.pipeline(c.env);
    const since = c.req.query("since") ?? new Date(Date.now() - 7 * 86400_000).toISOString().slice(0, 10);
    const scopes = [
      ...pipeline.config.sources.map((s) => `source:${s.id}`),
      ...pipeline.config.destinations.map((d) => `destination:${d.id}`),
      ...Object.keys(pipeline.config.plans ?? {}).map(planScope),
      BACKSTOP_SCOPE,
    ];
    const stats = await Promise.all(scopes.map(async (scope) => [scope, await c.env.STATS.get(c.env.STATS.idFromName(scope)).read(since)] as const));
    return c.json({ since, scopes: Object.fromEntries(stats) });
  });

  app.get("/admin/usage", usageRoute(deps.pipeline));

  app.get("/admin/destinations/:id/events", async (c) => {
    const dest = deps.pipeline(c.env).destination(c.req.param("id"));
    if (!dest || dest.kind !== "r2")
      throw new ApiError(404, "not_found", `no r2 destination "${c.req.param("id")}" (only r2 destinations keep events to read back)`);
    const limit = Math.min(Math.max(Number(c.req.query("limit") ?? 50) || 50, 1), 1000);
    const prefix = r2KeyPrefix(String(dest.settings.prefix ?? "events"), dest.id);
    const keys: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await c.env.BUCKET.list({ prefix, cursor });
      keys.push(...page.objects.map((o) => o.key));
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    // Keys start with the write time, so the newest objects sort last.
    const events: unknown[] = [];
    for (const key of keys.sort().reverse()) {
      const obj = await c.env.BUCKET.get(key);
      if (!obj) continue;
      const lines = (await obj.text()).split("\n").filter(Boolean).reverse();
      for (const line of lines) {
        events.push(JSON.parse(line));
        if (events.length >= limit) break;
      }
      if (events.length >= limit) break;
    }
    return c.json({ destination: dest.id, count: events.length, events });
  });

  return app;
}

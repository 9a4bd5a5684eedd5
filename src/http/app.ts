/**
 * The HTTP shell: Segment's Tracking API routes (the request path itself is src/ingest/accept.ts) and the admin
 * API, around the pure pipeline core.
 */
import { Hono, type Context } from "hono";
import { cors } from "hono/cors";
import { r2KeyPrefix } from "../../destinations/r2/index.ts";
import type { DestinationDefinition } from "../delivery/destination.ts";
import { accept, TRACKING_ROUTES } from "../ingest/accept.ts";
import { EdgeCounts } from "../ingest/counts.ts";
import type { CompiledPipeline } from "../pipeline/compile.ts";
import { planScope } from "../pipeline/plan-stage.ts";
import type { Telemetry } from "../telemetry.ts";
import { readJsonBody } from "./body.ts";
import { destinationMetrics, openMetrics } from "../metrics.ts";
import { BACKSTOP_SCOPE, deadLetterArchive } from "../archive/dead-letters.ts";
import { quarantineArchive, removeQuarantined, storeQuarantined } from "../archive/quarantine.ts";
import { registerPlanRoutes } from "./plan-routes.ts";
import { registerArchiveRoutes } from "./archive-routes.ts";
import { registerBackstopRoutes } from "./backstop-routes.ts";
import { ApiError } from "../api-error.ts";
import type { SourceGuards } from "./guards.ts";
import { usageRoute } from "./usage-route.ts";
import { registerAlertRoutes } from "./alert-routes.ts";
import type { SluiceEnv } from "./env.ts";
import { accessMiddleware, audited, forbidScope, requireAccess, type Principal } from "./access.ts";
import { registerAccessRoutes } from "./access-routes.ts";
import { visible } from "../access/scope.ts";

export type { SluiceEnv };
type Ctx = Context<{ Bindings: SluiceEnv }>;

export interface AppDeps {
  /** The compiled config; compiled on first use with the Worker's env (filters may use secrets). */
  pipeline: (env: SluiceEnv) => CompiledPipeline;
  kinds: Record<string, DestinationDefinition<any>>;
  telemetry: Telemetry;
  newMessageId?: () => string;
  /** Per-source rate limits (src/limits); without it, none. */
  guards?: Pick<SourceGuards, "bind">;
  /** How long counts of requests no ingest message carried wait before they are written (src/ingest/counts.ts). */
  countsSpillMs?: number;
}

export function createApp(deps: AppDeps): Hono<{ Bindings: SluiceEnv }> {
  const app = new Hono<{ Bindings: SluiceEnv }>();
  // The request path's counters ride to the router in the ingest messages; only leftovers reach the telemetry.
  const edgeCounts = new EdgeCounts(deps.telemetry, deps.countsSpillMs);

  app.onError((err, c) => {
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
    const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
    const reply = await accept(
      { route: c.req.param("route") ?? "", path: c.req.path, authorization: c.req.header("authorization") ?? null, readBody: () => readJsonBody(c.req.raw) },
      {
        pipeline: () => deps.pipeline(c.env),
        stats: edgeCounts,
        ingest: c.env.INGEST,
        guards: deps.guards?.bind(c.env),
        clock: () => new Date(),
        newMessageId: deps.newMessageId ?? (() => crypto.randomUUID()),
        waitUntil,
      },
    );
    return c.json(reply.body, reply.status, reply.headers);
  });

  app.all("/v1/*", (c) => {
    const route = c.req.path.slice(4);
    if (route === "m" || Object.hasOwn(TRACKING_ROUTES, route))
      throw new ApiError(405, "method_not_allowed", `${c.req.method} is not allowed on ${c.req.path}; use POST`, { allow: "POST, OPTIONS" });
    throw new ApiError(404, "not_found", `no Tracking API route ${c.req.path}`);
  });

  // Who is calling (401 without a known token); each admin route guards itself with requireAccess (docs/access.md).
  app.use("/admin/*", accessMiddleware((env) => deps.pipeline(env).config), async function flushTelemetry(c, next) {
    await next();
    // Replays count what they do (replayed, routed, …).
    deps.telemetry.flushSoon((p) => c.executionCtx.waitUntil(p));
  });
  registerAccessRoutes(app, (env) => deps.pipeline(env).config);

  registerArchiveRoutes(app, deadLetterArchive, deps.pipeline);
  registerBackstopRoutes(app, deps.telemetry);
  registerArchiveRoutes(app, quarantineArchive(deps.telemetry), deps.pipeline);
  registerPlanRoutes(app, deps.pipeline);
  registerAlertRoutes(app, deps.pipeline);

  /** The daily counters of each scope since a day, read side by side. */
  const readScopes = async (env: SluiceEnv, scopes: readonly string[], since: string) =>
    Promise.all(scopes.map(async (scope) => [scope, await env.STATS.get(env.STATS.idFromName(scope)).read(since)] as const));

  /** Delivery metrics per destination: JSON here, OpenMetrics text at /admin/metrics. */
  app.get("/admin/destinations/metrics", requireAccess("read.metadata"), async (c) => {
    const since = c.req.query("since") ?? new Date(Date.now() - 86400_000).toISOString().slice(0, 10);
    const ids = visible(c.get("principal"), deps.pipeline(c.env).config).destinations;
    const read = await readScopes(c.env, ids.map((id) => `destination:${id}`), since);
    return c.json({ since, destinations: Object.fromEntries(read.map(([, days], i) => [ids[i]!, destinationMetrics(days)])) });
  });
  /** The StatsObject scopes a token sees: its sources, and destinations, plans and the backstop it sees whole. */
  const statsScopes = (p: Principal, pipeline: CompiledPipeline) => {
    const seen = visible(p, pipeline.config);
    return [
      ...seen.sources.map((id) => `source:${id}`),
      ...seen.destinations.map((id) => `destination:${id}`),
      ...seen.plans.map(planScope),
      ...(seen.backstop ? [BACKSTOP_SCOPE] : []),
    ];
  };
  app.get("/admin/metrics", requireAccess("read.metadata"), async (c) => {
    const since = c.req.query("since") ?? new Date(Date.now() - 86400_000).toISOString().slice(0, 10);
    const pipeline = deps.pipeline(c.env);
    const scopes = statsScopes(c.get("principal"), pipeline);
    const stats = await readScopes(c.env, scopes, since);
    return c.body(openMetrics(Object.fromEntries(stats)), 200, { "content-type": "application/openmetrics-text; version=1.0.0; charset=utf-8" });
  });

  app.get("/admin/stats", requireAccess("read.metadata"), async (c) => {
    const pipeline = deps.pipeline(c.env);
    const since = c.req.query("since") ?? new Date(Date.now() - 7 * 86400_000).toISOString().slice(0, 10);
    const scopes = statsScopes(c.get("principal"), pipeline);
    const stats = await readScopes(c.env, scopes, since);
    return c.json({ since, scopes: Object.fromEntries(stats) });
  });

  app.get("/admin/usage", requireAccess("read.metadata"), usageRoute(deps.pipeline));

  // The operator console (src/http/console/): pages over the admin routes above, called in-process. Loaded on its
  // first request, so isolates that only take events never evaluate it (bench "footprint").
  let consoleApp: Promise<Hono<any>> | undefined;
  app.all("/console/*", async (c) => {
    consoleApp ??= import("./console/console.tsx").then((m) => m.createConsole({ pipeline: deps.pipeline, admin: (request, env, ctx) => app.fetch(request, env, ctx) }));
    return (await consoleApp).fetch(c.req.raw, c.env, c.executionCtx);
  });

  // Event bodies: recorded in the audit trail. The stored events name no source, so a scoped token reads a
  // destination only when every source it receives is in scope.
  app.get("/admin/destinations/:id/events", requireAccess("read.events"), async (c) => {
    const dest = deps.pipeline(c.env).destination(c.req.param("id"));
    if (!dest || dest.kind !== "r2")
      throw new ApiError(404, "not_found", `no r2 destination "${c.req.param("id")}" (only r2 destinations keep events to read back)`);
    const principal = c.get("principal");
    if (!visible(principal, deps.pipeline(c.env).config).destinations.includes(dest.id)) throw forbidScope(principal, `destination "${dest.id}" (it receives sources outside the scope)`);
    return c.json(await audited(c, "read.events destination", { destination: dest.id, ...c.req.query() }, () => readBack(c.env, dest, c.req.query("limit"))));
  });

  async function readBack(env: SluiceEnv, dest: { id: string; settings: Record<string, unknown> }, limitParam: string | undefined) {
    const limit = Math.min(Math.max(Number(limitParam ?? 50) || 50, 1), 1000);
    const prefix = r2KeyPrefix(String(dest.settings.prefix ?? "events"), dest.id);
    const keys: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await env.BUCKET.list({ prefix, cursor });
      keys.push(...page.objects.map((o) => o.key));
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    // Keys start with the write time, so the newest objects sort last.
    const events: unknown[] = [];
    for (const key of keys.sort().reverse()) {
      const obj = await env.BUCKET.get(key);
      if (!obj) continue;
      const lines = (await obj.text()).split("\n").filter(Boolean).reverse();
      for (const line of lines) {
        events.push(JSON.parse(line));
        if (events.length >= limit) break;
      }
      if (events.length >= limit) break;
    }
    return { destination: dest.id, count: events.length, events };
  }

  return app;
}

/**
 * `GET /admin/alerts`: the alert rules as configured, each alert's state and the latest history (AlertObject).
 * `GET /admin/names?source=<id>&days=7`: every event name the source sent (hourly counters), with its count,
 * planned or not, the naming convention check and a "did you mean" suggestion (src/alerts/names.ts).
 */
import type { Hono } from "hono";
import { inScope, type Principal } from "../access/principal.ts";
import { visible } from "../access/scope.ts";
import { hourOf } from "../alerts/anomaly.ts";
import { namesReport } from "../alerts/names.ts";
import { ALERT_OBJECT, plannedEvents } from "../alerts/worker.ts";
import { ApiError } from "../api-error.ts";
import type { CompiledPipeline } from "../pipeline/compile.ts";
import type { AlertRule } from "../config/alerts.ts";
import type { BuiltConfig } from "../config/model.ts";
import { requireAccess, requireSource } from "./access.ts";
import type { SluiceEnv } from "./env.ts";

/**
 * The alert rules a token sees: a source's rules when the source is in its scope, a destination's when every source
 * feeding it is (its counters sum them all).
 */
function visibleRules(p: Principal, config: BuiltConfig): AlertRule[] {
  const destinations = new Set(visible(p, config).destinations);
  return (config.alerts ?? []).filter((rule) => {
    const r = rule as { source?: string; destination?: string };
    if (r.source !== undefined) return inScope(p, r.source);
    if (r.destination !== undefined) return destinations.has(r.destination);
    return p.sources === "*";
  });
}

export function registerAlertRoutes(app: Hono<{ Bindings: SluiceEnv }>, pipeline: (env: SluiceEnv) => CompiledPipeline): void {
  app.get("/admin/alerts", requireAccess("read.metadata"), async (c) => {
    const rules = visibleRules(c.get("principal"), pipeline(c.env).config);
    const ids = new Set(rules.map((r) => r.id));
    const limit = Math.min(Math.max(Number(c.req.query("limit") ?? 100) || 100, 1), 1000);
    // A scoped token's history is cut from the newest entries of every rule: it may hold fewer than `limit`.
    const view = await c.env.ALERTS.get(c.env.ALERTS.idFromName(ALERT_OBJECT)).view(limit);
    return c.json({ rules, states: view.states.filter((s) => ids.has(s.rule)), history: view.history.filter((h) => ids.has(h.rule)) });
  });

  app.get("/admin/names", requireAccess("read.metadata"), async (c) => {
    const config = pipeline(c.env).config;
    const source = c.req.query("source");
    if (!source) throw new ApiError(400, "invalid_query", "source is required: /admin/names?source=<id>");
    if (!config.sources.some((s) => s.id === source)) throw new ApiError(404, "not_found", `no source "${source}"`);
    requireSource(c.get("principal"), source);
    const days = Number(c.req.query("days") ?? 7);
    if (!Number.isInteger(days) || days < 1 || days > 400) throw new ApiError(400, "invalid_query", `days must be an integer from 1 to 400, got ${JSON.stringify(c.req.query("days"))}`);
    const since = hourOf(Date.now() - days * 86_400_000);
    const rows = await c.env.STATS.get(c.env.STATS.idFromName(`source:${source}`)).readHours(since);
    return c.json(namesReport(source, since, rows, plannedEvents(config, source), config.naming?.events));
  });
}

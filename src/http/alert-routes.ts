/**
 * `GET /admin/alerts`: the alert rules as configured, each alert's state and the latest history (AlertObject).
 * `GET /admin/names?source=<id>&days=7`: every event name the source sent (hourly counters), with its count,
 * planned or not, the naming convention check and a "did you mean" suggestion (src/alerts/names.ts).
 */
import type { Hono } from "hono";
import { hourOf } from "../alerts/anomaly.ts";
import { namesReport } from "../alerts/names.ts";
import { ALERT_OBJECT, plannedEvents } from "../alerts/worker.ts";
import { ApiError } from "../api-error.ts";
import type { CompiledPipeline } from "../pipeline/compile.ts";
import type { SluiceEnv } from "./env.ts";

export function registerAlertRoutes(app: Hono<{ Bindings: SluiceEnv }>, pipeline: (env: SluiceEnv) => CompiledPipeline): void {
  app.get("/admin/alerts", async (c) => {
    const config = pipeline(c.env).config;
    const limit = Math.min(Math.max(Number(c.req.query("limit") ?? 100) || 100, 1), 1000);
    const view = await c.env.ALERTS.get(c.env.ALERTS.idFromName(ALERT_OBJECT)).view(limit);
    return c.json({ rules: config.alerts ?? [], states: view.states, history: view.history });
  });

  app.get("/admin/names", async (c) => {
    const config = pipeline(c.env).config;
    const source = c.req.query("source");
    if (!source) throw new ApiError(400, "invalid_query", "source is required: /admin/names?source=<id>");
    if (!config.sources.some((s) => s.id === source)) throw new ApiError(404, "not_found", `no source "${source}"`);
    const days = Number(c.req.query("days") ?? 7);
    if (!Number.isInteger(days) || days < 1 || days > 400) throw new ApiError(400, "invalid_query", `days must be an integer from 1 to 400, got ${JSON.stringify(c.req.query("days"))}`);
    const since = hourOf(Date.now() - days * 86_400_000);
    const rows = await c.env.STATS.get(c.env.STATS.idFromName(`source:${source}`)).readHours(since);
    return c.json(namesReport(source, since, rows, plannedEvents(config, source), config.naming?.events));
  });
}

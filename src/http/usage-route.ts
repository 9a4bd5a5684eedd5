/**
 * `GET /admin/usage?source=<id>&since=YYYY-MM-DD`: per source and day, requests, events accepted, bytes,
 * rejected by code, duplicates and distinct users; per month, the MTU (and the budget share when one is set).
 * Counters come from the source's StatsObject, distinct users from its SourceObject, when the budget alert fired
 * from the AlertObject. A scoped token gets its own sources only (another source by name is 403).
 */
import type { Context } from "hono";
import type { CompiledPipeline } from "../pipeline/compile.ts";
import { usageReport } from "../usage/report.ts";
import type { SluiceEnv } from "./env.ts";
import { ApiError } from "../api-error.ts";
import { inScope } from "../access/principal.ts";
import { requireSource } from "./access.ts";
import { ALERT_OBJECT } from "../alerts/worker.ts";

const DAY = /^\d{4}-\d{2}-\d{2}$/;

export function usageRoute(pipeline: (env: SluiceEnv) => CompiledPipeline) {
  return async function usage(c: Context<{ Bindings: SluiceEnv }>) {
    const config = pipeline(c.env).config;
    const wanted = c.req.query("source");
    const since = c.req.query("since") ?? new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
    if (!DAY.test(since)) throw new ApiError(400, "invalid_query", `since must be a day YYYY-MM-DD, got ${JSON.stringify(since)}`);
    const principal = c.get("principal");
    const sources = wanted === undefined ? config.sources.filter((s) => inScope(principal, s.id)) : config.sources.filter((s) => s.id === wanted);
    if (wanted !== undefined && sources.length === 0) throw new ApiError(404, "not_found", `no source "${wanted}"`);
    if (wanted !== undefined) requireSource(principal, wanted);
    const reports = await Promise.all(
      sources.map(async (s) => {
        const budgetAlerts = (config.alerts ?? []).flatMap((a) => (a.when === "mtu_budget" && a.source === s.id ? [a.id] : []));
        const [counters, users, fired] = await Promise.all([
          c.env.STATS.get(c.env.STATS.idFromName(`source:${s.id}`)).read(since),
          c.env.SOURCES.get(c.env.SOURCES.idFromName(s.id)).users(since),
          c.env.ALERTS.get(c.env.ALERTS.idFromName(ALERT_OBJECT)).firedAt(budgetAlerts),
        ]);
        // When the month's budget alert fired (mtu_budget alert rules); older months as the SourceObject recorded them.
        for (const m of users.months) {
          const at = fired.find((t) => new Date(t).toISOString().startsWith(m.month));
          if (m.alertSentAt === undefined && at !== undefined) m.alertSentAt = new Date(at).toISOString();
        }
        return usageReport(s.id, counters, users, s.mtu_budget);
      }),
    );
    return c.json({ since, sources: reports });
  };
}

/**
 * Admin routes about tracking plans:
 *   GET /admin/plans                        the plans of the running config: revision, rule count, sources and their enforcement
 *   GET /admin/plans/<id>/stats?since=YYYY-MM-DD   the plan's counters summed since a day (default: 7 days ago), in total and per source
 * The raw day-by-day counters are in GET /admin/stats under `plan:<id>` and `source:<id>`.
 * A plan's counters sum its sources: a scoped token sees a plan only when every source checked against it is in scope.
 */
import type { Hono } from "hono";
import type { CompiledPipeline } from "../pipeline/compile.ts";
import { planScope } from "../pipeline/plan-stage.ts";
import { ApiError } from "../api-error.ts";
import type { SluiceEnv } from "./env.ts";
import { allInScope } from "../access/principal.ts";
import { planSources as sourcesOf } from "../access/scope.ts";
import { forbidScope, requireAccess } from "./access.ts";

/** A breakdown by reason (or type) with its total. */
export type Breakdown = { total: number } & Record<string, number>;

export interface PlanCounters {
  validated: number;
  with_violations: number;
  /** Fields removed from allowed events (unplanned properties omitted, offending fields omitted). */
  omitted: number;
  blocked: Breakdown;
  quarantined: Breakdown;
  /** Quarantined events a replay passed on to routing. */
  replayed: number;
  /** Quarantined events a replay found still failing and stored again. */
  requarantined: Breakdown;
}

/**
 * Sums day counters into the plan's figures.
 * @example planCounters([{ counters: { validated: 3, "blocked.violation": 1 } }]).blocked // { total: 1, violation: 1 }
 */
export function planCounters(days: readonly { counters: Record<string, number> }[]): PlanCounters & { violations: Breakdown; violation_reports: number } {
  const c: Record<string, number> = {};
  for (const d of days) for (const [k, v] of Object.entries(d.counters)) c[k] = (c[k] ?? 0) + v;
  const breakdown = (prefix: string): Breakdown => {
    const out: Breakdown = { total: 0 };
    for (const [k, v] of Object.entries(c)) {
      if (!k.startsWith(`${prefix}.`)) continue;
      out[k.slice(prefix.length + 1)] = v;
      out.total += v;
    }
    return out;
  };
  return {
    validated: c.validated ?? 0,
    with_violations: c.with_violations ?? 0,
    omitted: c.omitted ?? 0,
    blocked: breakdown("blocked"),
    quarantined: breakdown("quarantined"),
    replayed: c.replayed ?? 0,
    requarantined: breakdown("requarantined"),
    violations: breakdown("violations"),
    violation_reports: c.violation_reports ?? 0,
  };
}

export function registerPlanRoutes(app: Hono<{ Bindings: SluiceEnv }>, pipeline: (env: SluiceEnv) => CompiledPipeline): void {
  const planSources = (p: CompiledPipeline, id: string) => sourcesOf(p.config, id);

  app.get("/admin/plans", requireAccess("read.metadata"), (c) => {
    const p = pipeline(c.env);
    const principal = c.get("principal");
    const visible = Object.keys(p.config.plans ?? {}).filter((id) => allInScope(principal, planSources(p, id)));
    const plans = visible.map((id) => {
      const plan = p.plan(id)!;
      const sources = p.config.sources.filter((s) => s.tracking_plan === id).map((s) => ({ id: s.id, enforcement: p.source(s.id)?.plan?.enforcement ?? {}, ...(s.enforcement?.violation_reports ? { violation_reports: s.enforcement.violation_reports } : {}) }));
      return { id, revision: plan.revision, rules: plan.rules, sources };
    });
    return c.json({ plans });
  });

  app.get("/admin/plans/:id/stats", requireAccess("read.metadata"), async (c) => {
    const p = pipeline(c.env);
    const id = c.req.param("id");
    const plan = p.plan(id);
    if (!plan) throw new ApiError(404, "not_found", `no tracking plan "${id}" (known: ${Object.keys(p.config.plans ?? {}).join(", ") || "none"})`);
    const principal = c.get("principal");
    if (!allInScope(principal, planSources(p, id))) throw forbidScope(principal, `tracking plan "${id}" (sources ${planSources(p, id).join(", ")})`);
    const since = c.req.query("since") ?? new Date(Date.now() - 7 * 86400_000).toISOString().slice(0, 10);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(since)) throw new ApiError(400, "invalid_query", "since must be a day, YYYY-MM-DD");
    const read = (scope: string) => c.env.STATS.get(c.env.STATS.idFromName(scope)).read(since);
    const sourceIds = planSources(p, id);
    const [total, ...perSource] = await Promise.all([read(planScope(id)), ...sourceIds.map((s) => read(`source:${s}`))]);
    return c.json({
      plan: id,
      revision: plan.revision,
      since,
      ...planCounters(total!),
      sources: Object.fromEntries(
        sourceIds.map((s, i) => {
          const { violations: _v, violation_reports: _r, ...counters } = planCounters(perSource[i]!);
          return [s, counters];
        }),
      ),
    });
  });
}

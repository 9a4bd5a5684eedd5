/**
 * The tracking-plan stage of ingest (docs/tracking-plans.md): between dedup and the source filters, every event
 * of a source with a `tracking_plan` is checked with enforcePlan. Allowed events go on (with `context.protocols`
 * when something was found), blocked ones are counted, quarantined ones are handed back for the caller to store.
 * Pure apart from the tally: no Workers APIs here.
 *
 * Counters, each under `source:<id>` and `plan:<plan-id>`: `validated`, `with_violations`, `omitted` (fields
 * removed), `blocked.<reason>`, `quarantined.<reason>`; under the plan only: `violations.<type>` (findings by
 * type) and `violation_reports`. Reasons and types are slugs: `unplanned_event`, `violation`,
 * `common_violation`; `invalid_type`, `unplanned_property`, ….
 */
import { isPlainObject } from "../config/schema.ts";
import type { DecisionReason, PlanDecision } from "../plans/index.ts";
import { enforcePlan } from "../plans/index.ts";
import type { CompiledSource, SourcePlan } from "./compile.ts";
import { md5Hex } from "./filters/md5.ts";
import type { SluiceEvent } from "./normalize.ts";
import type { Tally } from "./route.ts";

/** The stats scope of a plan. */
export const planScope = (planId: string) => `plan:${planId}`;

/**
 * A counter-friendly form of a reason or violation type.
 * @example slug("Unplanned Event") // "unplanned_event"
 */
export function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "");
}

export interface PlanOutcome {
  /** Events to route, in input order, as the plan left them. */
  allowed: SluiceEvent[];
  /** Not routed; counted. */
  blocked: PlanDecision[];
  /** To be stored intact (decision.event is the input event) before the request is acknowledged. */
  quarantined: PlanDecision[];
  /** `Violation Generated` events for the source's `violation_reports` destination, if it has one. */
  reports?: { destination: string; events: SluiceEvent[] };
}

/** Fields the plan removed from an allowed event (context.protocols.omitted + omitted_on_violation). */
function omittedCount(decision: PlanDecision): number {
  if (decision.findings.length === 0) return 0;
  const context = decision.event.context;
  const protocols = isPlainObject(context) ? context.protocols : undefined;
  if (!isPlainObject(protocols)) return 0;
  const n = (v: unknown) => (Array.isArray(v) ? v.length : 0);
  return n(protocols.omitted) + n(protocols.omitted_on_violation);
}

export interface PlanOptions {
  /**
   * The events come from the quarantine (a replay checks them again): one the plan still blocks or quarantines is
   * stored again, counted `requarantined.<reason>` instead of `blocked.` / `quarantined.`, which count ingest only.
   */
  replay?: boolean;
}

/**
 * Checks `events` against the source's plan and counts the outcome (nothing to do without a plan).
 * @example applyPlan(pipeline.source("web")!, accepted, telemetry).allowed // → route these
 */
export function applyPlan(source: CompiledSource, events: readonly SluiceEvent[], tally: Tally, options: PlanOptions = {}): PlanOutcome {
  const plan = source.plan;
  if (!plan || events.length === 0) return { allowed: events as SluiceEvent[], blocked: [], quarantined: [] };
  const scopes = [`source:${source.config.id}`, planScope(plan.id)];
  const count = (metric: string, n = 1) => {
    for (const scope of scopes) tally.count(scope, metric, n);
  };
  const out: PlanOutcome = { allowed: [], blocked: [], quarantined: [] };
  const reports: SluiceEvent[] = [];
  let withViolations = 0;
  let omitted = 0;
  for (const event of events) {
    const decision = enforcePlan(plan.compiled, plan.enforcement, event);
    if (decision.findings.length > 0) {
      withViolations++;
      for (const f of decision.findings) tally.count(planScope(plan.id), `violations.${slug(f.type)}`);
      if (plan.violationReports) reports.push(...violationReports(source, plan, event, decision));
    }
    if (decision.action === "allow") {
      out.allowed.push(decision.event);
      omitted += omittedCount(decision);
    } else {
      (decision.action === "block" ? out.blocked : out.quarantined).push(decision);
      count(`${options.replay ? "requarantined" : decision.action === "block" ? "blocked" : "quarantined"}.${slug(decision.reason ?? "Violation")}`);
    }
  }
  count("validated", events.length);
  count("with_violations", withViolations);
  count("omitted", omitted);
  if (plan.violationReports && reports.length > 0) {
    out.reports = { destination: plan.violationReports, events: reports };
    tally.count(planScope(plan.id), "violation_reports", reports.length);
  }
  return out;
}

/** Reason slug of a blocked or quarantined decision (`violation` when the engine gave none). */
export function reasonOf(decision: Pick<PlanDecision, "reason">): string {
  return slug(decision.reason ?? ("Violation" satisfies DecisionReason));
}

/**
 * One `Violation Generated` track event per finding, as Segment forwards violations (Protocols → Forward
 * Violations): `userId: "schema-violations"`, the violation in `properties`. The messageId is derived from the
 * event's, so a resent event makes the same reports (a receiver dedupes them by Idempotency-Key).
 */
export function violationReports(source: CompiledSource, plan: SourcePlan, event: SluiceEvent, decision: PlanDecision): SluiceEvent[] {
  const context = isPlainObject(event.context) ? event.context : {};
  const app = isPlainObject(context.app) ? context.app : null;
  const name = typeof event.event === "string" ? event.event : typeof event.name === "string" ? event.name : "";
  return decision.findings.map((f, i) => ({
    type: "track",
    event: "Violation Generated",
    userId: "schema-violations",
    messageId: `sch-${md5Hex(`${source.config.id}\u0000${event.messageId}\u0000${i}`)}`,
    receivedAt: event.receivedAt,
    timestamp: event.receivedAt,
    context: { app, library: { name: "sluice" } },
    integrations: {},
    properties: {
      appVersion: app && typeof app.version === "string" ? app.version : "",
      eventMessageID: event.messageId,
      eventName: name,
      eventSentAt: typeof event.sentAt === "string" ? event.sentAt : "",
      eventTimestamp: event.timestamp,
      eventType: event.type,
      sourceID: source.config.id,
      sourceName: source.config.name,
      sourceSlug: source.config.id,
      trackingPlanID: plan.id,
      trackingPlanName: plan.id,
      trackingPlanRevision: plan.revision,
      violationDescription: f.description,
      violationField: f.field,
      violationType: f.type,
      action: decision.action,
    },
  }));
}

/**
 * Turns the built config into the runtime form used per request: write-key lookup and, per source, its
 * compiled filters and the destinations it feeds with theirs. Done once per isolate (secrets come from env).
 */
import type { BuiltConfig, DestinationConfig, SourceConfig } from "../config/model.ts";
import { MissingSecretError, resolveSecrets, secretRefs } from "../config/secrets.ts";
import { compilePlan, type CompiledPlan, type Enforcement, type PlanDecision, type PlanRule } from "../plans/index.ts";
import { compileFilters, type FilterSpec } from "./filters/index.ts";
import { md5Hex } from "./filters/md5.ts";
import { applyPlan } from "./plan-stage.ts";
import { normalizeRequest, type EventType, type NormalizeOptions, type NormalizeResult, type SluiceEvent } from "./normalize.ts";
import { routeEvents, type Routed, type RouteTarget, type Stage, type Tally } from "./route.ts";

/** A tracking plan as the worker runs it: compiled once per isolate, shared by the sources that name it. */
export interface RuntimePlan {
  id: string;
  /** First 12 hex digits of the MD5 of the plan's rules (as built): changes whenever the plan file does. */
  revision: string;
  rules: number;
  compiled: CompiledPlan;
}

/** A source's plan with its enforcement settings. */
export interface SourcePlan extends RuntimePlan {
  enforcement: Partial<Enforcement>;
  /** Destination id that receives a `Violation Generated` track event per finding (enforcement.violation_reports). */
  violationReports?: string;
}

export interface CompiledSource {
  config: SourceConfig;
  stage: Stage;
  targets: RouteTarget[];
  plan?: SourcePlan;
}

export interface CompiledPipeline {
  sourceForWriteKey(writeKey: string): CompiledSource | undefined;
  source(id: string): CompiledSource | undefined;
  destination(id: string): DestinationConfig | undefined;
  /** A plan of the config by id (compiled), whether or not a source names it. */
  plan(id: string): RuntimePlan | undefined;
  readonly config: BuiltConfig;
}

export interface KindFacts {
  receivesAllEvents: boolean;
}

/**
 * Compiles a filter list into a stage. Drop reasons are `filter.<title>` and `sampled_out.<title>`.
 * @example compileStage([{ title: "No tests", if: 'event = "Test"', actions: [{ type: "DROP" }] }], {})
 */
export function compileStage(specs: FilterSpec[] | undefined, env: Record<string, unknown>, random?: () => number): Stage {
  if (!specs || specs.length === 0) return {};
  let resolved: FilterSpec[];
  try {
    // Only filter lists that mention a secret are copied; the rest compile as built (start-up cost).
    resolved = secretRefs(specs).size > 0 ? resolveSecrets(specs, env) : specs;
  } catch (err) {
    if (err instanceof MissingSecretError) return { deferred: err.message };
    throw err;
  }
  const run = compileFilters(resolved, random ? { random } : {});
  return {
    transform(event) {
      const o = run(event);
      if (o.kept) return { kept: true, event: o.event as SluiceEvent };
      return { kept: false, reason: `${o.reason === "dropped" ? "filter" : "sampled_out"}.${o.filter}` };
    },
  };
}

/** @example compilePipeline(config, destinationKinds, env).sourceForWriteKey("wk_demo_web")?.config.id // "web" */
export function compilePipeline(config: BuiltConfig, kinds: Record<string, KindFacts>, env: Record<string, unknown> = {}): CompiledPipeline {
  const byKey = new Map<string, CompiledSource>();
  const byId = new Map<string, CompiledSource>();
  const destinations = new Map(config.destinations.map((d) => [d.id, d]));
  const destinationStages = new Map(config.destinations.map((d) => [d.id, compileStage(config.filters[d.id], env)]));
  // Plans compile lazily (a plan no source names costs nothing until the admin API asks for it), once each.
  const plans = new Map<string, RuntimePlan>();
  const plan = (id: string): RuntimePlan | undefined => {
    let p = plans.get(id);
    const rules = config.plans && Object.hasOwn(config.plans, id) ? config.plans[id] : undefined;
    if (!p && rules) plans.set(id, (p = runtimePlan(id, rules)));
    return p;
  };
  for (const source of config.sources) {
    const targets: RouteTarget[] = config.destinations
      .filter((d) => d.enabled && (d.sources === "*" || d.sources.includes(source.id)))
      .map((d) => ({ id: d.id, name: d.name, receivesAllEvents: kinds[d.kind]?.receivesAllEvents ?? false, ...destinationStages.get(d.id) }));
    const compiled: CompiledSource = { config: source, stage: compileStage(config.sourceFilters[source.id], env), targets };
    const sourcePlan = source.tracking_plan !== undefined ? plan(source.tracking_plan) : undefined;
    if (source.tracking_plan !== undefined && !sourcePlan) throw new Error(`source "${source.id}" names tracking plan "${source.tracking_plan}", which the built config does not have`);
    if (sourcePlan) {
      const { violation_reports, ...enforcement } = source.enforcement ?? {};
      compiled.plan = { ...sourcePlan, enforcement, ...(violation_reports ? { violationReports: violation_reports } : {}) };
    }
    byId.set(source.id, compiled);
    for (const key of source.write_keys) byKey.set(key, compiled);
  }
  return {
    config,
    sourceForWriteKey: (key) => byKey.get(key),
    source: (id) => byId.get(id),
    destination: (id) => destinations.get(id),
    plan,
  };
}

/** Compiles a plan's rules (checked at build, so this does not throw for a built config). */
export function runtimePlan(id: string, rules: readonly PlanRule[]): RuntimePlan {
  return { id, revision: md5Hex(JSON.stringify(rules)).slice(0, 12), rules: rules.length, compiled: compilePlan(rules) };
}

export interface IngestResult extends NormalizeResult {
  /** Events per destination id, as each destination should receive them. */
  routed: Map<string, Routed>;
  /** Events the source's tracking plan blocked (counted, not routed). */
  blocked: number;
  /** Events the tracking plan quarantined: the caller stores them (intact) before acknowledging the request. */
  quarantined: PlanDecision[];
  /** `Violation Generated` events for the plan's `violation_reports` destination (delivered unfiltered). */
  reports?: { destination: string; events: SluiceEvent[] };
}

/**
 * The whole per-request core: normalize → tracking plan → source filters → per destination (integrations
 * object, filters), with every drop counted.
 * @example ingest(source, { userId: "u1", event: "Signed Up" }, "track", opts, tally).routed.get("hook")
 */
export function ingest(source: CompiledSource, body: unknown, routeType: EventType | "batch", opts: NormalizeOptions, tally: Tally): IngestResult {
  return routeNormalized(source, normalizeRequest(body, routeType, opts), tally);
}

/**
 * The second half of `ingest`, for callers that set events aside in between (duplicates): counts `accepted`
 * and `rejected.<code>`, applies the source's tracking plan (src/pipeline/plan-stage.ts), then routes the
 * events it allows. Every accepted event ends routed, dropped by a filter, blocked or quarantined, each counted.
 */
export function routeNormalized(source: CompiledSource, result: NormalizeResult, tally: Tally): IngestResult {
  const scope = `source:${source.config.id}`;
  if (result.accepted.length > 0) tally.count(scope, "accepted", result.accepted.length);
  for (const r of result.rejected) tally.count(scope, `rejected.${r.code}`);
  const planned = applyPlan(source, result.accepted, tally);
  if (planned.reports) tally.count(`destination:${planned.reports.destination}`, "routed", planned.reports.events.length);
  return {
    ...result,
    routed: routeEvents(planned.allowed, { id: source.config.id, stage: source.stage }, source.targets, tally),
    blocked: planned.blocked.length,
    quarantined: planned.quarantined,
    ...(planned.reports ? { reports: planned.reports } : {}),
  };
}

/**
 * Turns the built config into the runtime form used per request: write-key lookup and, per source, its
 * compiled filters and the destinations it feeds with theirs. Done once per isolate (secrets come from env).
 */
import { createHash } from "node:crypto";
import { CredentialMap } from "../config/credentials.ts";
import type { BuiltConfig, DestinationConfig, SourceConfig } from "../config/model.ts";
import { MissingSecretError, resolveSecrets, secretRefs } from "../config/secrets.ts";
import { compilePlan, type CompiledPlan, type Enforcement, type PlanDecision, type PlanRule } from "../plans/index.ts";
import { compileFilters, type FilterSpec } from "./filters/index.ts";
import { applyPlan, type PlanOptions } from "./plan-stage.ts";
import { normalizeRequest, type EventType, type NormalizeOptions, type NormalizeResult, type SluiceEvent } from "./normalize.ts";
import { routeEvents, type EventTransform, type Routed, type RouteTarget, type Stage, type Tally, type TransformOutcome } from "./route.ts";

/** A tracking plan as the worker runs it: compiled once per isolate, shared by the sources that name it. */
export interface RuntimePlan {
  id: string;
  /** First 12 hex digits of the MD5 of the plan's rules (as built): changes whenever the plan file does. */
  readonly revision: string;
  rules: number;
  /** Compiled on first read (see runtimePlan). */
  readonly compiled: CompiledPlan;
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
  eventTypes?: readonly string[];
  select?(settings: any): ((event: SluiceEvent) => string | undefined) | undefined;
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
    resolved = mentionsSecret(specs) ? resolveSecrets(specs, env) : specs;
  } catch (err) {
    if (err instanceof MissingSecretError) return { deferred: err.message };
    throw err;
  }
  const run = compileFilters(resolved, random ? { random } : {});
  // A filter's drop outcome is one object per filter: its reason is built once, not per event.
  const reasons = new Map<object, TransformOutcome>();
  return {
    transform(event) {
      const o = run(event);
      if (o.kept) return o as TransformOutcome;
      let dropped = reasons.get(o);
      if (!dropped) reasons.set(o, (dropped = { kept: false, reason: `${o.reason === "dropped" ? "filter" : "sampled_out"}.${o.filter}` }));
      return dropped;
    },
  };
}

/** One native JSON.stringify rules out most filter lists before secretRefs' regex walk over every string. */
const mentionsSecret = (specs: FilterSpec[]): boolean => JSON.stringify(specs).includes("${env.") && secretRefs(specs).size > 0;

/**
 * compileStage on first use (the first event that reaches the stage), once. Only for filter lists that mention
 * no secret: those compile exactly as the build step and `sluice check` compiled them, so deferring cannot turn a
 * start-up error into a run-time one; lists with secrets compile now (a missing secret must be known before
 * routing). Cold, 50 destinations' filters cost 20–30 ms; a request that routes nothing to them (a 401, an admin
 * call, a queue batch) no longer pays it.
 */
function lazyStage(specs: FilterSpec[] | undefined, env: Record<string, unknown>): Stage {
  if (!specs || specs.length === 0 || mentionsSecret(specs)) return compileStage(specs, env);
  const compile = (): EventTransform => {
    try {
      return compileStage(specs, env).transform!;
    } catch (err) {
      // Not for a built config (checked at build); otherwise every event fails closed: applyStage reports it, dead-lettered.
      return () => {
        throw err;
      };
    }
  };
  let run: EventTransform | undefined;
  return { transform: (event) => (run ??= compile())(event) };
}

/** @example compilePipeline(config, destinationKinds, env).sourceForWriteKey("wk_demo_web")?.config.id // "web" */
export function compilePipeline(config: BuiltConfig, kinds: Record<string, KindFacts>, env: Record<string, unknown> = {}): CompiledPipeline {
  // By digest, so that how long a lookup takes says nothing about the write keys.
  const byKey = new CredentialMap<CompiledSource>();
  const byId = new Map<string, CompiledSource>();
  const destinations = new Map(config.destinations.map((d) => [d.id, d]));
  const destinationStages = new Map(config.destinations.map((d) => [d.id, lazyStage(config.filters[d.id], env)]));
  const selections = new Map(config.destinations.flatMap((d) => {
    const select = kinds[d.kind]?.select?.(d.settings);
    return select ? [[d.id, select] as const] : [];
  }));
  const typeSets = new Map(Object.entries(kinds).flatMap(([kind, facts]) => (facts.eventTypes ? [[kind, new Set(facts.eventTypes)] as const] : [])));
  // Plans are set up on first lookup, once each; runtimePlan compiles their rules on first use.
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
      .map((d) => ({ id: d.id, name: d.name, receivesAllEvents: kinds[d.kind]?.receivesAllEvents ?? false, eventTypes: typeSets.get(d.kind), select: selections.get(d.id), ...destinationStages.get(d.id) }));
    const compiled: CompiledSource = { config: source, stage: lazyStage(config.sourceFilters[source.id], env), targets };
    const sourcePlan = source.tracking_plan !== undefined ? plan(source.tracking_plan) : undefined;
    if (source.tracking_plan !== undefined && !sourcePlan) throw new Error(`source "${source.id}" names tracking plan "${source.tracking_plan}", which the built config does not have`);
    if (sourcePlan) {
      const { violation_reports, ...enforcement } = source.enforcement ?? {};
      // Getters, not a spread: a spread would compile the plan (and hash it) here.
      compiled.plan = {
        id: sourcePlan.id,
        rules: sourcePlan.rules,
        get revision() {
          return sourcePlan.revision;
        },
        get compiled() {
          return sourcePlan.compiled;
        },
        enforcement,
        ...(violation_reports ? { violationReports: violation_reports } : {}),
      };
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

/**
 * A plan whose rules compile on first use (the first event it checks), once: they were checked at build, so
 * deferring cannot fail later, and requests that check no event (a 401, the admin API) do not pay 10–20 ms cold.
 * The revision too is computed on first read (quarantine records, violation reports, the admin API).
 */
export function runtimePlan(id: string, rules: readonly PlanRule[]): RuntimePlan {
  let revision: string | undefined;
  let compiled: CompiledPlan | undefined;
  return {
    id,
    rules: rules.length,
    get revision() {
      // Native MD5: the JS one (filters/md5.ts, made for short per-event keys) takes ~10 ms cold on a 16 KB plan.
      return (revision ??= createHash("md5").update(JSON.stringify(rules)).digest("hex").slice(0, 12));
    },
    get compiled() {
      return (compiled ??= compilePlan(rules));
    },
  };
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
 * and `rejected.<code>`, then plans and routes the accepted events (planAndRoute).
 */
export function routeNormalized(source: CompiledSource, result: NormalizeResult, tally: Tally): IngestResult {
  const scope = `source:${source.config.id}`;
  if (result.accepted.length > 0) tally.count(scope, "accepted", result.accepted.length);
  for (const r of result.rejected) tally.count(scope, `rejected.${r.code}`);
  const planned = planAndRoute(source, result.accepted, tally);
  return { ...result, ...planned, blocked: planned.blocked.length };
}

export interface Planned {
  /** Events per destination id, as each destination should receive them. */
  routed: Map<string, Routed>;
  blocked: PlanDecision[];
  quarantined: PlanDecision[];
  reports?: { destination: string; events: SluiceEvent[] };
}

/**
 * Plan-then-route, at ingest and for a quarantine replay alike: applies the source's tracking plan
 * (src/pipeline/plan-stage.ts), then routes the events it allows. Every event ends routed, dropped by a filter,
 * blocked or quarantined, each counted, or, where a filter threw, in a target's `failed` (for its dead letters);
 * violation reports are counted `routed` on their destination.
 */
export function planAndRoute(source: CompiledSource, events: readonly SluiceEvent[], tally: Tally, options: PlanOptions = {}): Planned {
  const planned = applyPlan(source, events, tally, options);
  if (planned.reports) tally.count(`destination:${planned.reports.destination}`, "routed", planned.reports.events.length);
  return {
    routed: routeEvents(planned.allowed, { id: source.config.id, stage: source.stage }, source.targets, tally),
    blocked: planned.blocked,
    quarantined: planned.quarantined,
    ...(planned.reports ? { reports: planned.reports } : {}),
  };
}

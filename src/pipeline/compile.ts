/**
 * Turns the built config into the runtime form used per request: write-key lookup and, per source, its
 * compiled filters and the destinations it feeds with theirs. Done once per isolate (secrets come from env).
 */
import type { BuiltConfig, DestinationConfig, SourceConfig } from "../config/model.ts";
import { MissingSecretError, resolveSecrets } from "../config/secrets.ts";
import { compileFilters, type FilterSpec } from "./filters/index.ts";
import { normalizeRequest, type EventType, type NormalizeOptions, type NormalizeResult, type SluiceEvent } from "./normalize.ts";
import { routeEvents, type Routed, type RouteTarget, type Stage, type Tally } from "./route.ts";

export interface CompiledSource {
  config: SourceConfig;
  stage: Stage;
  targets: RouteTarget[];
}

export interface CompiledPipeline {
  sourceForWriteKey(writeKey: string): CompiledSource | undefined;
  source(id: string): CompiledSource | undefined;
  destination(id: string): DestinationConfig | undefined;
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
    resolved = resolveSecrets(specs, env);
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
  for (const source of config.sources) {
    const targets: RouteTarget[] = config.destinations
      .filter((d) => d.enabled && (d.sources === "*" || d.sources.includes(source.id)))
      .map((d) => ({ id: d.id, name: d.name, receivesAllEvents: kinds[d.kind]?.receivesAllEvents ?? false, ...destinationStages.get(d.id) }));
    const compiled: CompiledSource = { config: source, stage: compileStage(config.sourceFilters[source.id], env), targets };
    byId.set(source.id, compiled);
    for (const key of source.write_keys) byKey.set(key, compiled);
  }
  return {
    config,
    sourceForWriteKey: (key) => byKey.get(key),
    source: (id) => byId.get(id),
    destination: (id) => destinations.get(id),
  };
}

export interface IngestResult extends NormalizeResult {
  /** Events per destination id, as each destination should receive them. */
  routed: Map<string, Routed>;
}

/**
 * The whole per-request core: normalize → source filters → per destination (integrations object, filters),
 * with every drop counted.
 * @example ingest(source, { userId: "u1", event: "Signed Up" }, "track", opts, tally).routed.get("hook")
 */
export function ingest(source: CompiledSource, body: unknown, routeType: EventType | "batch", opts: NormalizeOptions, tally: Tally): IngestResult {
  return routeNormalized(source, normalizeRequest(body, routeType, opts), tally);
}

/**
 * The second half of `ingest`, for callers that set events aside in between (duplicates): counts `accepted`
 * and `rejected.<code>`, then routes the accepted events.
 */
export function routeNormalized(source: CompiledSource, result: NormalizeResult, tally: Tally): IngestResult {
  const scope = `source:${source.config.id}`;
  if (result.accepted.length > 0) tally.count(scope, "accepted", result.accepted.length);
  for (const r of result.rejected) tally.count(scope, `rejected.${r.code}`);
  return { ...result, routed: routeEvents(result.accepted, { id: source.config.id, stage: source.stage }, source.targets, tally) };
}

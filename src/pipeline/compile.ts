/**
 * Turns the built config into the runtime form used per request: write-key lookup and, per source, the
 * destinations it feeds with their compiled filters. Done once per isolate.
 */
import type { BuiltConfig, DestinationConfig, SourceConfig } from "../config/model.ts";
import { normalizeRequest, type EventType, type NormalizeOptions, type NormalizeResult, type SluiceEvent } from "./normalize.ts";
import { routeEvents, type RouteTarget, type Tally } from "./route.ts";

export interface CompiledSource {
  config: SourceConfig;
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

/** @example compilePipeline(config, destinationKinds).sourceForWriteKey("wk_demo_web")?.config.id // "web" */
export function compilePipeline(config: BuiltConfig, kinds: Record<string, KindFacts>): CompiledPipeline {
  const byKey = new Map<string, CompiledSource>();
  const byId = new Map<string, CompiledSource>();
  const destinations = new Map(config.destinations.map((d) => [d.id, d]));
  for (const source of config.sources) {
    const targets: RouteTarget[] = config.destinations
      .filter((d) => d.enabled && (d.sources === "*" || d.sources.includes(source.id)))
      .map((d) => ({ id: d.id, name: d.name, receivesAllEvents: kinds[d.kind]?.receivesAllEvents ?? false }));
    const compiled = { config: source, targets };
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
  routed: Map<string, SluiceEvent[]>;
}

/**
 * The whole per-request core: normalize → route (integrations object, filters) with every drop counted.
 * @example ingest(source, { userId: "u1", event: "Signed Up" }, "track", opts, tally).routed.get("hook")
 */
export function ingest(source: CompiledSource, body: unknown, routeType: EventType | "batch", opts: NormalizeOptions, tally: Tally): IngestResult {
  const result = normalizeRequest(body, routeType, opts);
  const scope = `source:${source.config.id}`;
  if (result.accepted.length > 0) tally.count(scope, "accepted", result.accepted.length);
  for (const r of result.rejected) tally.count(scope, `rejected.${r.code}`);
  return { ...result, routed: routeEvents(result.accepted, source.targets, tally) };
}

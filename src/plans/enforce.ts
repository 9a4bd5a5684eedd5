/**
 * Tracking-plan enforcement (docs/tracking-plans.md, Segment Protocols): which rule applies to an event, what it finds
 * (unplanned event, unplanned properties/traits, JSON Schema violations, COMMON-schema violations) and what the
 * source's enforcement settings make of it. Pure: no Workers APIs, never mutates its input.
 */
import { isPlainObject as isObject } from "../config/schema.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import { atMostCodePoints, MAX_PATTERN_INPUT } from "../pipeline/pattern-input.ts";
import { compileJsonSchema, JsonSchemaError, resolvePointer, type CompiledSchema, type PathSegment, type SchemaOptions } from "./json-schema.ts";
import { RULE_TYPES, type Enforcement, type JsonSchema, type PlanRule, type RuleType, type Violation } from "./types.ts";
import { nameSuggester, type Suggest } from "./naming.ts";

/** Which setting a finding falls under. */
export type FindingKind = "unplanned_event" | "unplanned_property" | "violation" | "common_violation";

/** A violation plus what the engine needs to act on it. */
export interface Finding extends Violation {
  kind: FindingKind;
  /** Exact location in the event (the `field` string is for people). */
  path: PathSegment[];
}

/** Why an event was blocked or quarantined: the category of its strongest finding. */
export type DecisionReason = "Unplanned Event" | "Violation" | "Common Violation";

export interface PlanDecision {
  action: "allow" | "block" | "quarantine";
  /**
   * allow: the event to route, with unplanned/offending fields removed per the settings and, when anything was
   * found, `context.protocols` = {…the client's own keys, omitted, omitted_on_violation, violations}.
   * block / quarantine: the input event, unchanged. Never the same object as the input when anything changed.
   */
  event: SluiceEvent;
  /** Everything found, whatever the action (empty for a valid event). */
  findings: readonly Finding[];
  /** The rule the event was checked against (absent when no rule of its type/key exists). */
  ruleType?: RuleType;
  ruleKey?: string;
  version?: number;
  /** Set for block and quarantine. */
  reason?: DecisionReason;
}

/** A plan rule that cannot be compiled; `index` is its position in the rule list. */
export class PlanRuleError extends Error {
  override readonly name = "PlanRuleError";
  constructor(
    readonly index: number,
    /** e.g. `TRACK "Order Completed" v2`. */
    readonly rule: string,
    readonly detail: string,
    /** Where in the rule the problem is (e.g. ["jsonSchema", "properties", "revenue", "type"]). */
    readonly at: PathSegment[] = [],
  ) {
    super(`${rule}: ${detail}`);
  }
}

interface Planned {
  names: Set<string>;
  patterns: RegExp[];
  /** "Did you mean" among the declared names (./naming.ts). */
  suggest: Suggest;
}

interface CompiledRule {
  type: RuleType;
  key?: string;
  version: number;
  schema: CompiledSchema;
  /** Declared names of `properties` / `traits`, when the rule's schema lists them (else nothing is unplanned). */
  properties?: Planned;
  traits?: Planned;
}

/** Versions of one rule key, oldest first. */
type Versions = CompiledRule[];

/** A plan ready for events; build once per isolate with compilePlan. */
export interface CompiledPlan {
  readonly track: ReadonlyMap<string, Versions>;
  /** Keyed by page/screen name; "" holds the rules without a name. */
  readonly page: ReadonlyMap<string, Versions>;
  readonly screen: ReadonlyMap<string, Versions>;
  readonly identify?: Versions;
  readonly group?: Versions;
  readonly common?: Versions;
  /** "Did you mean" among the TRACK event names. */
  readonly suggestEvent?: Suggest;
}

/** How rules are named in errors and reports: `TRACK "Order Completed" v2`, `IDENTIFY v1`, `PAGE "Home" v1`. */
export function ruleLabel(rule: { type: string; key?: string; version: number }): string {
  const keyed = rule.type === "TRACK" || rule.type === "PAGE" || rule.type === "SCREEN";
  return `${rule.type}${keyed && rule.key ? ` ${JSON.stringify(rule.key)}` : ""} v${rule.version}`;
}

/**
 * Compiles a plan's rules (as BuiltConfig carries them). Throws PlanRuleError for an invalid rule or schema and
 * for two rules with the same type, key and version. `options` go to every rule's schema (the build's regex check).
 * @example const plan = compilePlan(config.plans.web); enforcePlan(plan, source.enforcement, event)
 */
export function compilePlan(rules: readonly PlanRule[], options: SchemaOptions = {}): CompiledPlan {
  const track = new Map<string, Versions>();
  const page = new Map<string, Versions>();
  const screen = new Map<string, Versions>();
  const single: Partial<Record<"IDENTIFY" | "GROUP" | "COMMON", Versions>> = {};
  const seen = new Set<string>();

  rules.forEach((rule, index) => {
    const label = ruleLabel(rule);
    if (!(RULE_TYPES as readonly string[]).includes(rule.type)) throw new PlanRuleError(index, label, `unknown rule type ${JSON.stringify(rule.type)}`, ["type"]);
    if (!Number.isInteger(rule.version) || rule.version < 1) throw new PlanRuleError(index, label, "version must be an integer ≥ 1", ["version"]);
    const keyed = rule.type === "TRACK" || rule.type === "PAGE" || rule.type === "SCREEN";
    const key = keyed ? (rule.key ?? "") : "";
    if (rule.type === "TRACK" && key === "") throw new PlanRuleError(index, label, "a TRACK rule needs the event name as its key", ["key"]);
    const id = `${rule.type}\u0000${key}\u0000${rule.version}`;
    if (seen.has(id)) throw new PlanRuleError(index, label, "duplicate rule: the plan already has this type, key and version");
    seen.add(id);

    let schema: CompiledSchema;
    try {
      schema = compileJsonSchema(rule.jsonSchema, options);
    } catch (err) {
      if (!(err instanceof JsonSchemaError)) throw err;
      const at = ["jsonSchema", ...err.schemaPath];
      throw new PlanRuleError(index, label, `${at.join(".")}: ${err.detail}`, at);
    }
    const compiled: CompiledRule = { type: rule.type, version: rule.version, schema };
    if (key !== "") compiled.key = key;
    const properties = plannedNames(rule.jsonSchema, "properties");
    if (properties) compiled.properties = properties;
    const traits = plannedNames(rule.jsonSchema, "traits");
    if (traits) compiled.traits = traits;

    const bucket = rule.type === "TRACK" ? track : rule.type === "PAGE" ? page : rule.type === "SCREEN" ? screen : undefined;
    let versions: Versions;
    if (bucket) {
      versions = bucket.get(key) ?? [];
      bucket.set(key, versions);
    } else {
      const type = rule.type as "IDENTIFY" | "GROUP" | "COMMON";
      versions = single[type] ??= [];
    }
    versions.push(compiled);
    versions.sort((a, b) => a.version - b.version);
  });
  return { track, page, screen, identify: single.IDENTIFY, group: single.GROUP, common: single.COMMON, suggestEvent: nameSuggester(track.keys()) };
}

/** Follows `$ref`s from `schema` to the schema they name (bounded, so a reference loop just ends). */
function deref(root: JsonSchema, schema: unknown): unknown {
  for (let i = 0; i < 32 && isObject(schema) && typeof schema.$ref === "string"; i++) schema = resolvePointer(root, schema.$ref)?.value;
  return schema;
}

/**
 * The names a rule declares for the event's `properties` (or `traits`): only when that object's schema has a
 * `properties` map and says nothing about other names (no `additionalProperties`: with `false` extra names are
 * violations, with a schema or `true` they are planned). Names matching `patternProperties` count as declared.
 */
function plannedNames(root: JsonSchema, name: "properties" | "traits"): Planned | undefined {
  const event = deref(root, root);
  if (!isObject(event) || !isObject(event.properties) || !Object.hasOwn(event.properties, name)) return undefined;
  const object = deref(root, event.properties[name]);
  if (!isObject(object) || !isObject(object.properties) || object.additionalProperties !== undefined) return undefined;
  const patterns = isObject(object.patternProperties) ? Object.keys(object.patternProperties).map((p) => new RegExp(p, "u")) : [];
  return { names: new Set(Object.keys(object.properties)), patterns, suggest: nameSuggester(Object.keys(object.properties)) };
}

/** ` (did you mean "…"?)` when a planned name is close (./naming.ts), else "". */
function didYouMean(suggest: Suggest | undefined, name: unknown): string {
  const hit = suggest && typeof name === "string" ? suggest(name) : undefined;
  return hit === undefined ? "" : ` (did you mean ${JSON.stringify(hit)}?)`;
}

function isPlanned(planned: Planned, key: string): boolean {
  if (planned.names.has(key)) return true;
  // Too long to run a regex on (the rule's schema reports it as a Pattern violation).
  if (!atMostCodePoints(key, MAX_PATTERN_INPUT)) return false;
  for (let i = 0; i < planned.patterns.length; i++) if (planned.patterns[i]!.test(key)) return true;
  return false;
}

function hasUnplanned(planned: Planned | undefined, value: unknown): boolean {
  if (planned === undefined || !isObject(value)) return false;
  for (const k in value) if (Object.hasOwn(value, k) && !isPlanned(planned, k)) return true;
  return false;
}

/** The rule versions for an event's type and key; undefined when the plan has none. */
function versionsFor(plan: CompiledPlan, event: SluiceEvent): Versions | undefined {
  switch (event.type) {
    case "track":
      return typeof event.event === "string" ? plan.track.get(event.event) : undefined;
    case "page":
    case "screen": {
      const byName = plan[event.type];
      return (typeof event.name === "string" ? byName.get(event.name) : undefined) ?? byName.get("");
    }
    case "identify":
      return plan.identify;
    case "group":
      return plan.group;
    default:
      return undefined;
  }
}

/** `context.protocols.event_version` when it names an existing version, else the oldest. */
function pickVersion(versions: Versions, event: SluiceEvent): CompiledRule {
  if (versions.length > 1) {
    const context = event.context;
    const protocols = isObject(context) ? context.protocols : undefined;
    const wanted = isObject(protocols) ? protocols.event_version : undefined;
    if (typeof wanted === "number") for (const rule of versions) if (rule.version === wanted) return rule;
  }
  return versions[0]!;
}

const NO_FINDINGS: readonly Finding[] = Object.freeze([]);

/**
 * Checks one event against a compiled plan and applies the source's enforcement (missing settings: `allow`).
 *
 * - Unplanned event: a track event whose name has no TRACK rule (other types without a rule only meet COMMON).
 * - Unplanned property/trait: a top-level key of `properties`/`traits` the rule's schema does not declare.
 * - Violation: the rule's JSON Schema fails; COMMON violations are checked on the event after the rule's own
 *   omissions (Segment evaluates standard controls first, then the Common JSON Schema).
 * - Strongest action wins: quarantine > block > omit > allow.
 *
 * @example
 *   enforcePlan(plan, { violations: "omit" }, { type: "track", event: "Order Completed", properties: { revenue: "5" }, … })
 *   // → { action: "allow", event: { …, properties: {}, context: { protocols: { omitted: [],
 *   //      omitted_on_violation: ["properties.revenue"], violations: [{ type: "Invalid Type", field: "properties.revenue",
 *   //      description: "properties.revenue: expected number, got string" }] } } }, findings: [ … ], ruleKey: "Order Completed", … }
 */
export function enforcePlan(plan: CompiledPlan, enforcement: Partial<Enforcement> | undefined, event: SluiceEvent): PlanDecision {
  const versions = versionsFor(plan, event);
  const rule = versions && pickVersion(versions, event);
  const common = plan.common && pickVersion(plan.common, event);
  const unplannedEvent = rule === undefined && event.type === "track";

  const base: PlanDecision = { action: "allow", event, findings: NO_FINDINGS };
  if (rule) {
    base.ruleType = rule.type;
    if (rule.key !== undefined) base.ruleKey = rule.key;
    base.version = rule.version;
  }
  // The common case: nothing to find, nothing allocated but the decision.
  if (
    !unplannedEvent &&
    (rule === undefined || (!hasUnplanned(rule.properties, event.properties) && !hasUnplanned(rule.traits, event.traits) && rule.schema.test(event))) &&
    (common === undefined || common.schema.test(event))
  )
    return base;

  const settings = {
    unplanned_events: enforcement?.unplanned_events ?? "allow",
    unplanned_properties: enforcement?.unplanned_properties ?? "allow",
    violations: enforcement?.violations ?? "allow",
    common_violations: enforcement?.common_violations ?? "allow",
  };
  const findings: Finding[] = [];
  if (unplannedEvent) {
    const name = JSON.stringify(event.event);
    findings.push({ kind: "unplanned_event", type: "Unplanned Event", field: "event", description: `event ${name} is not in the tracking plan${didYouMean(plan.suggestEvent, event.event)}`, path: ["event"] });
  }
  const omitted: PathSegment[][] = [];
  const omittedOnViolation: PathSegment[][] = [];
  if (rule) {
    for (const name of ["properties", "traits"] as const) {
      const planned = rule[name];
      const value = event[name];
      if (planned === undefined || !isObject(value)) continue;
      for (const k of Object.keys(value)) {
        if (isPlanned(planned, k)) continue;
        const field = `${name}.${k}`;
        findings.push({ kind: "unplanned_property", type: "Unplanned Property", field, description: `${field} is not in the tracking plan${didYouMean(planned.suggest, k)}`, path: [name, k] });
        if (settings.unplanned_properties === "omit") omitted.push([name, k]);
      }
    }
    for (const v of rule.schema.validate(event)) {
      findings.push({ kind: "violation", ...v });
      if (settings.violations === "omit") {
        const cut = omittablePath(event, v.path);
        if (cut) omittedOnViolation.push(cut);
      }
    }
  }
  let routed: Record<string, unknown> = event;
  const removed: { omitted: string[]; omitted_on_violation: string[] } = { omitted: [], omitted_on_violation: [] };
  if (omitted.length + omittedOnViolation.length > 0) routed = removeFields(routed, [omitted, omittedOnViolation], removed);

  if (common && !common.schema.test(routed)) {
    const commonOmissions: PathSegment[][] = [];
    for (const v of common.schema.validate(routed)) {
      findings.push({ kind: "common_violation", ...v });
      if (settings.common_violations === "omit") {
        const cut = omittablePath(routed, v.path);
        if (cut) commonOmissions.push(cut);
      }
    }
    if (commonOmissions.length > 0) routed = removeFields(routed, [[], commonOmissions], removed);
  }

  let action: PlanDecision["action"] = "allow";
  let reason: DecisionReason | undefined;
  const escalate = (setting: string, why: DecisionReason) => {
    if (setting === "quarantine" && action !== "quarantine") [action, reason] = ["quarantine", why];
    else if (setting === "block" && action === "allow") [action, reason] = ["block", why];
  };
  if (unplannedEvent) escalate(settings.unplanned_events, "Unplanned Event");
  if (findings.some((f) => f.kind === "violation")) escalate(settings.violations, "Violation");
  if (findings.some((f) => f.kind === "common_violation")) escalate(settings.common_violations, "Common Violation");

  if (action !== "allow") return { ...base, action, findings, reason };
  const violations: Violation[] = findings.map(({ type, field, description }) => ({ type, field, description }));
  return { ...base, findings, event: withProtocols(routed, { ...removed, violations }) as SluiceEvent };
}

/**
 * What removing an offending field means: the field itself, or the list it sits in (items are never removed one
 * by one, which would shift the others); only inside `properties`, `traits` or `context` (not
 * `context.protocols`), never those objects themselves; nothing when the field is missing (a Required violation).
 */
function omittablePath(event: Record<string, unknown>, path: readonly PathSegment[]): PathSegment[] | undefined {
  const top = path[0];
  if (path.length < 2 || (top !== "properties" && top !== "traits" && top !== "context")) return undefined;
  if (top === "context" && path[1] === "protocols") return undefined;
  let value: unknown = event;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    if (!isObject(value) || typeof segment !== "string" || !Object.hasOwn(value, segment)) return undefined;
    value = value[segment];
    if (i >= 1 && Array.isArray(value)) return path.slice(0, i + 1);
  }
  return path.slice();
}

interface RemovalNode {
  remove: boolean;
  /** Which output list names this removal (0: omitted, 1: omitted_on_violation). */
  list: number;
  children: Map<string, RemovalNode>;
}

/**
 * Copies `event` without the fields at `lists[0]` (unplanned) and `lists[1]` (offending), recording each removed
 * field once in `removed`. Only the objects on the way to a removed field are copied; the input is untouched.
 */
function removeFields(
  event: Record<string, unknown>,
  lists: PathSegment[][][],
  removed: { omitted: string[]; omitted_on_violation: string[] },
): Record<string, unknown> {
  const root: RemovalNode = { remove: false, list: 0, children: new Map() };
  lists.forEach((paths, list) => {
    for (const path of paths) {
      let node = root;
      for (const segment of path as string[]) {
        if (node.remove) break;
        let child = node.children.get(segment);
        if (!child) node.children.set(segment, (child = { remove: false, list, children: new Map() }));
        node = child;
      }
      if (!node.remove) [node.remove, node.list] = [true, list];
    }
  });
  const out = [removed.omitted, removed.omitted_on_violation];
  const apply = (value: Record<string, unknown>, node: RemovalNode, prefix: string): Record<string, unknown> => {
    const copy = { ...value };
    for (const [key, child] of node.children) {
      if (!Object.hasOwn(value, key)) continue;
      const field = prefix ? `${prefix}.${key}` : key;
      if (child.remove) {
        delete copy[key];
        out[child.list]!.push(field);
      } else {
        const inner = value[key];
        if (isObject(inner)) Object.defineProperty(copy, key, { value: apply(inner, child, field), enumerable: true, writable: true, configurable: true });
      }
    }
    return copy;
  };
  return apply(event, root, "");
}

/** The event with `context.protocols` = the client's own keys plus what was found and removed. */
function withProtocols(event: Record<string, unknown>, found: Record<string, unknown>): Record<string, unknown> {
  const context = isObject(event.context) ? event.context : {};
  const own = isObject(context.protocols) ? context.protocols : {};
  return { ...event, context: { ...context, protocols: { ...own, ...found } } };
}

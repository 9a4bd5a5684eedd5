/**
 * Tracking-plan files: `filters/plans/<plan-id>.yaml` (or `.json`). Accepts Segment's rules as exported (a bare
 * list, `{ rules: [...] }`, the Public API's `{ data: { rules: [...] } }` or `{ trackingPlan: {…}, rules: [...] }`,
 * bookkeeping keys ignored), plus Sluice's short-hand in the same file: `property_groups:` and `events:`, expanded
 * into the same JSON Schema a Segment rule carries (src/plans/shorthand.ts). Every rule is compiled here, so a
 * plan that would fail in the worker never deploys, and every regex must match in linear time (./pattern-safety.ts);
 * errors name the rule (`TRACK "Order Completed" v2`).
 */
import {
  compilePlan,
  FORMATS,
  jsonEqual,
  PlanRuleError,
  PROPERTY_TYPES,
  RULE_TYPES,
  ruleLabel,
  SHORTHAND_EVENT_TYPES,
  shorthandRule,
  type PlanRule,
  type PropertySpec,
  type PropertyType,
  type ShorthandEvent,
} from "../plans/index.ts";
import type { ConfigError, ConfigFile } from "./load.ts";
import { ID_PATTERN, type SourceConfig } from "./model.ts";
import { superLinearProblem } from "./pattern-safety.ts";
import { formatPath, isPlainObject, s, type Path, type Problem, type Schema } from "./schema.ts";

/** Keys of Segment's exports that carry no meaning here, on the plan and on each rule. */
const PLAN_BOOKKEEPING = [
  "id",
  "trackingPlanId",
  "workspaceId",
  "name",
  "slug",
  "description",
  "type",
  "createdAt",
  "updatedAt",
  "createdBy",
  "updatedBy",
  "trackingPlan",
  "pagination",
];
const RULE_BOOKKEEPING = ["id", "trackingPlanId", "workspaceId", "createdAt", "updatedAt", "deprecatedAt", "createdBy", "updatedBy"];

const RuleSchema = s.object(
  {
    type: s.literal(...RULE_TYPES),
    key: s.optional(s.string()),
    version: s.withDefault(s.number({ integer: true, min: 1 }), 1),
    jsonSchema: s.unknown(),
  },
  { ignore: RULE_BOOKKEEPING },
);

const typeName = s.literal(...PROPERTY_TYPES);
const typeList = s.array(typeName, { minItems: 1 });
/** A type name or a list of them (checked by shape, so the error is about the name, not about "either … or …"). */
const TypeSpecSchema: Schema<PropertyType | PropertyType[]> = {
  describe: "a type name or a list of them",
  check: (v, path, problems) => (Array.isArray(v) ? typeList.check(v, path, problems) : typeName.check(v, path, problems)),
};
const PropertyObjectSchema = s.object({
  type: s.optional(TypeSpecSchema),
  required: s.optional(s.boolean()),
  enum: s.optional(s.array(s.unknown(), { minItems: 1 })),
  pattern: s.optional(s.string()),
  format: s.optional(s.string()),
  description: s.optional(s.string()),
});

/** A property spec: a type name, a list of type names, or the full form (whose mistakes are reported key by key). */
const PropertySpecSchema: Schema<PropertySpec> = {
  describe: "a type name or a property spec",
  check(v, path, problems) {
    if (typeof v === "string" || Array.isArray(v)) return TypeSpecSchema.check(v, path, problems);
    const before = problems.length;
    const spec = PropertyObjectSchema.check(v, path, problems);
    if (spec?.pattern !== undefined) {
      let problem: string | undefined;
      try {
        new RegExp(spec.pattern, "u");
      } catch (err) {
        problem = `invalid regular expression (${(err as Error).message})`;
      }
      problem ??= superLinearProblem(spec.pattern);
      if (problem !== undefined) problems.push({ path: [...path, "pattern"], message: problem });
    }
    if (spec?.format !== undefined && !Object.hasOwn(FORMATS, spec.format))
      problems.push({ path: [...path, "format"], message: `unknown format "${spec.format}" (supported: ${Object.keys(FORMATS).join(", ")})` });
    return problems.length === before ? spec : undefined;
  },
};

const GroupsSchema = s.record(s.record(PropertySpecSchema));
const ShorthandSchema = s.object({
  name: s.optional(s.string({ minLength: 1 })),
  type: s.withDefault(s.literal(...SHORTHAND_EVENT_TYPES), "track"),
  version: s.withDefault(s.number({ integer: true, min: 1 }), 1),
  description: s.optional(s.string()),
  properties: s.optional(s.record(PropertySpecSchema)),
  traits: s.optional(s.record(PropertySpecSchema)),
  use: s.optional(s.array(s.string({ minLength: 1 }))),
  additional_properties: s.optional(s.boolean()),
});

interface Located {
  rules?: { list: unknown; at: Path };
  events?: { list: unknown; at: Path };
  groups?: { value: unknown; at: Path };
}

/** Finds the parts of a plan file in any accepted shape; reports unknown top-level keys. */
function locatePlan(file: ConfigFile, errors: ConfigError[]): Located | undefined {
  const value = file.value;
  if (Array.isArray(value)) return { rules: { list: value, at: [] } };
  if (!isPlainObject(value)) {
    file.error([], "expected a list of rules, { rules: [...] }, { events: [...] }, or Segment's { data: { rules: [...] } }", errors, "");
    return undefined;
  }
  const found: Located = {};
  const unknownKey = (at: Path, key: string, expected: string) => file.error([...at, key], `unknown key "${key}" (expected ${expected})`, errors, "");
  for (const k of Object.keys(value)) {
    if (!["rules", "events", "property_groups", "data", ...PLAN_BOOKKEEPING].includes(k))
      unknownKey([], k, "rules, events, property_groups, or Segment's data / trackingPlan");
  }
  if (value.rules !== undefined) found.rules = { list: value.rules, at: ["rules"] };
  if (value.data !== undefined) {
    const data = value.data;
    if (!isPlainObject(data)) file.error(["data"], "expected Segment's { rules: [...] }", errors, "");
    else {
      for (const k of Object.keys(data)) if (!["rules", "trackingPlan", "pagination"].includes(k)) unknownKey(["data"], k, "rules");
      if (data.rules !== undefined) {
        if (found.rules) file.error(["data", "rules"], "rules are given twice (top level and under data)", errors, "");
        else found.rules = { list: data.rules, at: ["data", "rules"] };
      }
    }
  }
  if (value.events !== undefined) found.events = { list: value.events, at: ["events"] };
  if (value.property_groups !== undefined) found.groups = { value: value.property_groups, at: ["property_groups"] };
  return found;
}

/** A rule's name for errors before it is known to be valid: `TRACK "Order Completed" v2`, or its position. */
function labelOf(raw: unknown, fallback: string): string {
  if (!isPlainObject(raw) || typeof raw.type !== "string") return fallback;
  const version = typeof raw.version === "number" ? raw.version : 1;
  const key = typeof raw.key === "string" ? raw.key : typeof raw.name === "string" ? raw.name : undefined;
  return ruleLabel({ type: raw.type.toUpperCase(), key, version });
}

/**
 * Reads and checks one plan file: shape, keys, short-hand, every JSON Schema, duplicate rules. Returns the rules
 * (Segment's form, short-hand expanded) or undefined after reporting every problem with its line.
 * @example readPlanFile(ConfigFile.read("filters/plans/web.yaml", …), "web", errors) // → [{ type: "TRACK", key: "Signed Up", … }]
 */
export function readPlanFile(file: ConfigFile, planId: string, errors: ConfigError[]): PlanRule[] | undefined {
  const before = errors.length;
  if (!ID_PATTERN.test(planId)) file.error([], `plan id "${planId}" (the file name) must match ${ID_PATTERN.source}`, errors, "");
  const located = locatePlan(file, errors);
  if (!located) return undefined;

  const rules: PlanRule[] = [];
  const at: Path[] = [];
  /** Checks that a rule compiles, then keeps it with its location (for duplicate errors). */
  const accept = (rule: PlanRule, where: Path, label: string) => {
    try {
      compilePlan([rule], { patternProblem: superLinearProblem });
    } catch (err) {
      if (!(err instanceof PlanRuleError)) throw err;
      errors.push({ file: file.file, line: file.lineOf([...where, ...err.at]), rule: label, message: err.detail });
      return;
    }
    rules.push(rule);
    at.push(where);
  };
  const ruleProblems = (problems: Problem[], where: Path, label: string) => {
    for (const p of problems)
      errors.push({ file: file.file, line: file.lineOf([...where, ...p.path]), rule: label, message: p.path.length ? `${formatPath(p.path)}: ${p.message}` : p.message });
  };

  // Segment's rules.
  if (located.rules) {
    const { list, at: listAt } = located.rules;
    if (!Array.isArray(list)) file.error(listAt, "expected a list of rules", errors, "");
    else
      list.forEach((raw, i) => {
        const where = [...listAt, i];
        const label = labelOf(raw, `rule #${i + 1}`);
        // Segment writes `key: null` and `jsonSchema: null` for rules without them.
        const input = isPlainObject(raw) ? { ...raw, ...(raw.key === null ? { key: undefined } : {}) } : raw;
        const problems: Problem[] = [];
        const checked = RuleSchema.check(input, [], problems);
        ruleProblems(problems, where, label);
        if (!checked) return;
        const { type, version } = checked;
        const jsonSchema = (checked.jsonSchema ?? {}) as PlanRule["jsonSchema"];
        // Only TRACK, PAGE and SCREEN rules are keyed; Segment's key on the others means nothing.
        const keyed = (type === "TRACK" || type === "PAGE" || type === "SCREEN") && checked.key;
        accept(keyed ? { type, key: checked.key, version, jsonSchema } : { type, version, jsonSchema }, where, label);
      });
  }

  // Short-hand: property groups, then events.
  let groups: Record<string, Record<string, PropertySpec>> = {};
  if (located.groups) {
    const problems: Problem[] = [];
    const checked = GroupsSchema.check(located.groups.value, located.groups.at, problems);
    file.problems(problems, errors);
    if (checked) groups = checked;
  }
  if (located.events) {
    const { list, at: listAt } = located.events;
    if (!Array.isArray(list)) file.error(listAt, "expected a list of events", errors, "");
    else
      list.forEach((raw, i) => {
        const where = [...listAt, i];
        const nameless = isPlainObject(raw) && (raw.type ?? "track") === "track" && typeof raw.name !== "string";
        const label = nameless ? `event #${i + 1}` : labelOf(isPlainObject(raw) ? { ...raw, type: raw.type ?? "track" } : raw, `event #${i + 1}`);
        const problems: Problem[] = [];
        const event = ShorthandSchema.check(raw, [], problems);
        ruleProblems(problems, where, label);
        if (!event) return;
        const valid = checkShorthand(event, groups, (path, message) =>
          errors.push({ file: file.file, line: file.lineOf([...where, ...path]), rule: label, message }),
        );
        if (valid) accept(shorthandRule(event, groups), where, label);
      });
  }

  // Duplicates across both forms: the later one is the error, pointing back at the first.
  const seen = new Map<string, number>();
  rules.forEach((rule, i) => {
    const id = `${rule.type}\u0000${rule.key ?? ""}\u0000${rule.version}`;
    const first = seen.get(id);
    if (first === undefined) seen.set(id, i);
    else
      errors.push({
        file: file.file,
        line: file.lineOf(at[i]!),
        rule: ruleLabel(rule),
        message: `duplicate rule: ${ruleLabel(rule)} is already defined on line ${file.lineOf(at[first]!)}`,
      });
  });
  return errors.length === before ? rules : undefined;
}

/** What the short-hand's schema cannot say: names by type, known groups, groups that disagree. */
function checkShorthand(
  event: ShorthandEvent & { type: string },
  groups: Record<string, Record<string, PropertySpec>>,
  report: (path: Path, message: string) => void,
): boolean {
  let ok = true;
  const fail = (path: Path, message: string) => {
    report(path, message);
    ok = false;
  };
  if (event.type === "track" && event.name === undefined) fail(["name"], "a track event needs a name (the exact event name)");
  if ((event.type === "identify" || event.type === "group") && event.name !== undefined)
    fail(["name"], `${event.type} rules are not keyed by name: remove "name"`);
  const known = Object.keys(groups);
  const from = new Map<string, { group: string; spec: PropertySpec }>();
  (event.use ?? []).forEach((group, j) => {
    if (!Object.hasOwn(groups, group)) {
      fail(["use", j], `unknown property group "${group}" (${known.length ? `known: ${known.join(", ")}` : "property_groups defines none"})`);
      return;
    }
    for (const [name, spec] of Object.entries(groups[group]!)) {
      const other = from.get(name);
      if (other && !jsonEqual(other.spec, spec)) fail(["use", j], `property "${name}" is defined differently by groups "${other.group}" and "${group}"`);
      from.set(name, { group, spec });
    }
  });
  return ok;
}

/** Cross-checks of sources against the plan files found (`planIds`: every plan file, valid or not). */
export function checkSourcePlans(
  main: ConfigFile,
  sources: readonly (SourceConfig | undefined)[],
  planIds: ReadonlySet<string>,
  errors: ConfigError[],
): void {
  sources.forEach((src, i) => {
    if (!src) return;
    if (src.tracking_plan !== undefined && !planIds.has(src.tracking_plan)) {
      const known = [...planIds].sort();
      main.error(
        ["sources", i, "tracking_plan"],
        `unknown tracking plan "${src.tracking_plan}" (${known.length ? `known: ${known.join(", ")}` : "no plans/<plan-id>.yaml found"})`,
        errors,
      );
    }
    if (src.enforcement !== undefined && src.tracking_plan === undefined)
      main.error(["sources", i, "enforcement"], "enforcement needs a tracking_plan", errors);
  });
}

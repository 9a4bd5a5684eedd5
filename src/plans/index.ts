/**
 * Tracking plans (docs/tracking-plans.md, Segment Protocols): rules in Segment's format, compiled once per isolate into
 * closures (no eval), checked per event with the source's enforcement settings.
 *
 * @example
 *   const plan = compilePlan(config.plans.web);                    // once per isolate
 *   const decision = enforcePlan(plan, source.enforcement, event); // per event
 *   if (decision.action === "allow") route(decision.event);        // block: count it; quarantine: store it intact
 */
export { compilePlan, enforcePlan, PlanRuleError, ruleLabel, type CompiledPlan, type DecisionReason, type Finding, type FindingKind, type PlanDecision } from "./enforce.ts";
export { compileJsonSchema, fieldName, JsonSchemaError, jsonEqual, type CompiledSchema, type PathSegment, type SchemaOptions, type SchemaViolation } from "./json-schema.ts";
export { FORMATS } from "./formats.ts";
export { mainObjectOf, shorthandRule, DRAFT_07, PROPERTY_TYPES, SHORTHAND_EVENT_TYPES, type PropertySpec, type PropertyType, type ShorthandEvent } from "./shorthand.ts";
export {
  DEFAULT_ENFORCEMENT,
  ENFORCEMENT_OPTIONS,
  RULE_TYPES,
  type Enforcement,
  type JsonSchema,
  type PlanRule,
  type RuleType,
  type Violation,
  type ViolationType,
} from "./types.ts";

/**
 * Shapes shared by the tracking-plan engine, the config loader and the worker: plan rules as Segment's Public API
 * writes them, the enforcement settings of a source, and violations as Segment reports them. No logic here, so
 * src/config/model.ts can import it without pulling in the validator.
 */

/** Segment's rule types. COMMON applies to every event; TRACK is keyed by event name, PAGE/SCREEN optionally by name. */
export const RULE_TYPES = ["TRACK", "IDENTIFY", "GROUP", "PAGE", "SCREEN", "COMMON"] as const;
export type RuleType = (typeof RULE_TYPES)[number];

/** A JSON Schema (draft-07): an object, or `true` / `false`. */
export type JsonSchema = boolean | { [keyword: string]: unknown };

/**
 * One rule of a plan, plain JSON (what BuiltConfig carries; the worker compiles it at first use).
 * @example { type: "TRACK", key: "Order Completed", version: 1, jsonSchema: { type: "object", properties: { properties: { … } } } }
 */
export interface PlanRule {
  type: RuleType;
  /** TRACK: the exact event name; PAGE/SCREEN: the page or screen name, or absent for every name; others: absent. */
  key?: string;
  /** ≥ 1; `context.protocols.event_version` selects it, else the oldest version of the key is used. */
  version: number;
  /** Validates the whole event (`properties`, `traits`, `context`, … at the top level). */
  jsonSchema: JsonSchema;
}

/** Segment's violation types, plus "Schema" for every other JSON Schema keyword. */
export type ViolationType =
  | "Required"
  | "Invalid Type"
  | "Pattern"
  | "Enum"
  | "Format"
  | "Range"
  | "Length"
  | "Unplanned Property"
  | "Unplanned Event"
  | "Schema";

/**
 * What `context.protocols.violations` lists, as Segment does.
 * @example { type: "Invalid Type", field: "properties.revenue", description: "properties.revenue: expected number, got string" }
 */
export interface Violation {
  type: ViolationType;
  /** Dotted path in the event; list items by index (`properties.products.0.price`); "" for the event itself. */
  field: string;
  /** Readable, starts with the field; never quotes the event's values (they may be personal data). */
  description: string;
}

/** The values each enforcement setting accepts (Segment's Schema Configuration, plus quarantine). */
export const ENFORCEMENT_OPTIONS = {
  unplanned_events: ["allow", "block", "quarantine"],
  unplanned_properties: ["allow", "omit"],
  violations: ["allow", "omit", "block", "quarantine"],
  common_violations: ["allow", "omit", "block", "quarantine"],
} as const;

/** Per-source enforcement; every setting defaults to `allow`, as in Segment. */
export type Enforcement = { [K in keyof typeof ENFORCEMENT_OPTIONS]: (typeof ENFORCEMENT_OPTIONS)[K][number] };

export const DEFAULT_ENFORCEMENT: Readonly<Enforcement> = Object.freeze({
  unplanned_events: "allow",
  unplanned_properties: "allow",
  violations: "allow",
  common_violations: "allow",
});

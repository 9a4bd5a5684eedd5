/**
 * Sluice's short-hand for plan rules (`events:` and `property_groups:` in a plan file), expanded into exactly the
 * JSON Schema a Segment rule carries, so both forms go through one validator.
 *
 * @example
 *   shorthandRule({ name: "Order Completed", properties: { revenue: { type: number, required: true }, coupon: string } }, {})
 *   // → { type: "TRACK", key: "Order Completed", version: 1, jsonSchema: {
 *   //      $schema: "http://json-schema.org/draft-07/schema#", type: "object",
 *   //      properties: { properties: { type: "object",
 *   //        properties: { revenue: { type: "number" }, coupon: { type: "string" } }, required: ["revenue"] } },
 *   //      required: ["properties"] } }
 */
import type { JsonSchema, PlanRule, RuleType } from "./types.ts";

export const PROPERTY_TYPES = ["string", "number", "integer", "boolean", "object", "array", "null"] as const;
export type PropertyType = (typeof PROPERTY_TYPES)[number];

/** A property: a type name, a list of them, or the full form. */
export type PropertySpec =
  | PropertyType
  | PropertyType[]
  | {
      type?: PropertyType | PropertyType[];
      required?: boolean;
      enum?: unknown[];
      pattern?: string;
      format?: string;
      description?: string;
    };

export const SHORTHAND_EVENT_TYPES = ["track", "identify", "group", "page", "screen"] as const;

export interface ShorthandEvent {
  /** Track: the event name (required); page/screen: the page or screen name (optional); identify/group: none. */
  name?: string;
  type?: (typeof SHORTHAND_EVENT_TYPES)[number];
  version?: number;
  description?: string;
  /** Validated under the event's `properties`. */
  properties?: Record<string, PropertySpec>;
  /** Validated under the event's `traits`. */
  traits?: Record<string, PropertySpec>;
  /** Property groups merged into `traits` for identify/group, into `properties` otherwise; the event's own specs win. */
  use?: string[];
  /** false: names the plan does not list are violations (JSON Schema `additionalProperties: false`); true: the default. */
  additional_properties?: boolean;
}

export const DRAFT_07 = "http://json-schema.org/draft-07/schema#";

/** The object an event type carries its data in: `traits` for identify and group, `properties` otherwise. */
export function mainObjectOf(type: ShorthandEvent["type"]): "properties" | "traits" {
  return type === "identify" || type === "group" ? "traits" : "properties";
}

function propertySchema(spec: PropertySpec): Record<string, unknown> {
  if (typeof spec === "string" || Array.isArray(spec)) return { type: spec };
  const out: Record<string, unknown> = {};
  if (spec.description !== undefined) out.description = spec.description;
  if (spec.type !== undefined) out.type = spec.type;
  if (spec.enum !== undefined) out.enum = spec.enum;
  if (spec.pattern !== undefined) out.pattern = spec.pattern;
  if (spec.format !== undefined) out.format = spec.format;
  return out;
}

const isRequired = (spec: PropertySpec) => typeof spec === "object" && !Array.isArray(spec) && spec.required === true;

function objectSchema(props: Record<string, PropertySpec>, closed: boolean): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const [name, spec] of Object.entries(props)) {
    Object.defineProperty(properties, name, { value: propertySchema(spec), enumerable: true, writable: true, configurable: true });
    if (isRequired(spec)) required.push(name);
  }
  const out: Record<string, unknown> = { type: "object", properties };
  if (required.length > 0) out.required = required;
  if (closed) out.additionalProperties = false;
  return out;
}

/**
 * Expands a short-hand event into a Segment rule. `groups` must hold every group `use` names (the config loader
 * reports unknown ones with their line before calling this); a property in two groups takes the later one.
 */
export function shorthandRule(event: ShorthandEvent, groups: Record<string, Record<string, PropertySpec>>): PlanRule {
  const kind = event.type ?? "track";
  const main = mainObjectOf(kind);
  const objects: Record<"properties" | "traits", Record<string, PropertySpec> | undefined> = {
    properties: event.properties,
    traits: event.traits,
  };
  const merged: Record<string, PropertySpec> = {};
  for (const source of [...(event.use ?? []).map((g) => groups[g]), objects[main]]) {
    for (const [name, spec] of Object.entries(source ?? {}))
      Object.defineProperty(merged, name, { value: spec, enumerable: true, writable: true, configurable: true });
  }
  objects[main] = merged;

  const closed = event.additional_properties === false;
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const name of ["properties", "traits"] as const) {
    const props = objects[name];
    if (props === undefined) continue;
    const schema = objectSchema(props, closed);
    properties[name] = schema;
    if (schema.required !== undefined) required.push(name);
  }
  const jsonSchema: JsonSchema = { $schema: DRAFT_07, type: "object" };
  if (event.description !== undefined) jsonSchema.description = event.description;
  jsonSchema.properties = properties;
  if (required.length > 0) jsonSchema.required = required;

  const type = kind.toUpperCase() as RuleType;
  const version = event.version ?? 1;
  return event.name === undefined ? { type, version, jsonSchema } : { type, key: event.name, version, jsonSchema };
}

/**
 * A realistic tracking plan for the "plans" suite, generated from the corpus: one rule per event key seen (track
 * name, page name, screen name, identify, group) plus COMMON, each with 10 properties. The properties sent are
 * described the way a careful team would (types, required when always sent, formats, id patterns, enums of the
 * values seen, minimum 0 for amounts, item schemas for lists); then padded with optional properties the plan
 * knows but these events do not send. Enum values seen in under 3% of events are left out, and a few plan
 * decisions the clients have not caught up with are applied (DRIFT), so most events are valid and some are not
 * (about 3%), as in production.
 */
import { DRAFT_07, type PlanRule, type RuleType } from "../src/plans/index.ts";

type Event = Record<string, unknown>;
type Schema = Record<string, unknown>;

/** The rule key an event meets: `TRACK\0<name>`, `PAGE\0<name>`, `IDENTIFY\0`…; alias events have none. */
export function ruleIdOf(event: Event): string {
  switch (event.type) {
    case "track":
      return `TRACK\u0000${event.event}`;
    case "page":
    case "screen":
      return `${String(event.type).toUpperCase()}\u0000${typeof event.name === "string" ? event.name : ""}`;
    case "identify":
      return "IDENTIFY\u0000";
    case "group":
      return "GROUP\u0000";
    default:
      return "(none)";
  }
}

const jsonType = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

const EMAIL = /^[^@\s]+@[^@\s]+\.[a-z]+$/;
const URL = /^https?:\/\//;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const PREFIXED_ID = /^([A-Za-z]+)([-_])\d+$/;

/** Describes a list of values seen for one property (`present` events out of `of` had it). */
function describe(values: unknown[]): Schema {
  const types = [...new Set(values.map(jsonType))];
  if (types.length > 1) return { type: types.map((t) => (t === "boolean" ? "boolean" : t)) };
  const type = types[0] ?? "string";
  if (type === "number") {
    const nums = values as number[];
    return { type: nums.every(Number.isInteger) ? "integer" : "number", ...(nums.every((n) => n >= 0) ? { minimum: 0 } : {}) };
  }
  if (type === "string") {
    const strs = values as string[];
    if (strs.every((s) => EMAIL.test(s))) return { type: "string", format: "email" };
    if (strs.every((s) => URL.test(s))) return { type: "string", format: "uri" };
    if (strs.every((s) => DATE_TIME.test(s))) return { type: "string", format: "date-time" };
    const prefix = PREFIXED_ID.exec(strs[0] ?? "");
    if (prefix && strs.every((s) => s.startsWith(prefix[1]! + prefix[2]!) && PREFIXED_ID.test(s)))
      return { type: "string", pattern: `^${prefix[1]}${prefix[2] === "-" ? "-" : "_"}[0-9]+$` };
    const counts = new Map<string, number>();
    for (const s of strs) counts.set(s, (counts.get(s) ?? 0) + 1);
    if (counts.size <= 8 && strs.length >= 20) {
      const common = [...counts].filter(([, n]) => n / strs.length >= 0.03).map(([s]) => s);
      return { type: "string", enum: common.sort() };
    }
    return { type: "string", maxLength: 200 };
  }
  if (type === "array") {
    const items = (values as unknown[][]).flat();
    if (items.length === 0) return { type: "array" };
    if (items.every((i) => typeof i === "object" && i !== null && !Array.isArray(i))) return { type: "array", items: objectSchema(items as Event[], 0) };
    return { type: "array", items: describe(items) };
  }
  return { type };
}

/** An object schema for a set of objects: every key seen described, required when always present. */
function objectSchema(objects: Event[], padTo: number): Schema {
  const seen = new Map<string, unknown[]>();
  for (const o of objects) for (const [k, v] of Object.entries(o)) (seen.get(k) ?? seen.set(k, []).get(k)!).push(v);
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const [k, values] of seen) {
    properties[k] = describe(values);
    if (values.length === objects.length) required.push(k);
  }
  for (const [name, schema] of EXTRA_PROPERTIES) {
    if (Object.keys(properties).length >= padTo) break;
    if (!(name in properties)) properties[name] = schema;
  }
  return { type: "object", properties, ...(required.length ? { required } : {}) };
}

/** Optional properties a plan lists that these events do not send (Segment spec names). */
const EXTRA_PROPERTIES: [string, Schema][] = [
  ["cart_id", { type: "string", maxLength: 64 }],
  ["list_id", { type: "string", maxLength: 64 }],
  ["promotion_id", { type: "string", pattern: "^promo-[0-9]+$" }],
  ["position", { type: "integer", minimum: 0 }],
  ["value", { type: "number", minimum: 0 }],
  ["label", { type: "string", maxLength: 100 }],
  ["experiment_id", { type: "string", format: "uuid" }],
  ["variant", { type: "string", enum: ["a", "b", "control"] }],
  ["source", { type: "string", maxLength: 100 }],
  ["is_test", { type: "boolean" }],
  ["tags", { type: "array", items: { type: "string" }, maxItems: 20 }],
];

/** Where the plan and the clients disagree, as they do in production: rule id → property → schema keywords. */
const DRIFT: Record<string, Record<string, Schema>> = {
  // Sign in with Apple shipped on iOS before anyone added it to the plan.
  "TRACK\u0000Signed Up": { method: { enum: ["email", "google"] } },
  // The warehouse column is 16 characters; some clients send longer values.
  "TRACK\u0000Search Performed": { query: { maxLength: 16 } },
  "TRACK\u0000Invite Sent": { text_variant: { maxLength: 16 } },
};

export function generatePlan(events: Event[]): PlanRule[] {
  const byRule = new Map<string, Event[]>();
  for (const e of events) {
    const id = ruleIdOf(e);
    if (id === "(none)") continue;
    (byRule.get(id) ?? byRule.set(id, []).get(id)!).push(e);
  }
  const rules: PlanRule[] = [];
  for (const [id, group] of byRule) {
    const [type, key] = id.split("\u0000") as [RuleType, string];
    const objectName = type === "IDENTIFY" || type === "GROUP" ? "traits" : "properties";
    const objects = group.map((e) => (e[objectName] ?? {}) as Event);
    const described = objectSchema(objects, 10);
    for (const [name, keywords] of Object.entries(DRIFT[id] ?? {})) Object.assign((described.properties as Record<string, Schema>)[name]!, keywords);
    const jsonSchema = {
      $schema: DRAFT_07,
      type: "object",
      properties: { [objectName]: described },
      required: [objectName],
    };
    rules.push(key ? { type, key, version: 1, jsonSchema } : { type, version: 1, jsonSchema });
  }
  rules.sort((a, b) => a.type.localeCompare(b.type) || (a.key ?? "").localeCompare(b.key ?? ""));
  rules.push({
    type: "COMMON",
    version: 1,
    jsonSchema: {
      $schema: DRAFT_07,
      type: "object",
      properties: {
        messageId: { type: "string", minLength: 1, maxLength: 100 },
        timestamp: { type: "string", format: "date-time" },
        context: {
          type: "object",
          properties: {
            library: { type: "object", properties: { name: { type: "string" }, version: { type: "string" } }, required: ["name", "version"] },
            locale: { type: "string", pattern: "^[a-z]{2}-[A-Z]{2}$" },
            timezone: { type: "string", pattern: "^[A-Za-z_]+/[A-Za-z_]+$" },
            userAgent: { type: "string", maxLength: 512 },
            page: { type: "object", properties: { url: { type: "string", format: "uri" }, path: { type: "string", pattern: "^/" }, referrer: { type: "string" } } },
            app: { type: "object", properties: { name: { type: "string" }, version: { type: "string", pattern: "^[0-9]+\\.[0-9]+\\.[0-9]+$" } } },
            device: { type: "object", properties: { type: { type: "string", enum: ["ios", "android"] } } },
            os: { type: "object", properties: { name: { type: "string" }, version: { type: "string" } } },
            campaign: { type: "object", properties: { source: { type: "string" }, medium: { type: "string" }, name: { type: "string" } } },
          },
          required: ["library"],
        },
      },
      required: ["messageId", "context"],
    },
  });
  return rules;
}

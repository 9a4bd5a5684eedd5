/**
 * Slack message text from events: `{{path}}` templates compiled once into closures, and the default lines (alert
 * events get their own). Values are escaped as Slack asks (`&`, `<`, `>`); the template's own text is not, so an
 * operator can write Slack links (`<https://…|label>`) in it.
 */
import type { Problem, Schema } from "../../src/config/schema.ts";
import { obj, str } from "../../src/delivery/vendor-context.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";

export type Render = (event: SluiceEvent) => string;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const PATH = /^[A-Za-z_$][\w$-]*(\.[\w$-]+)*$/;

/** Slack's three control characters, escaped in every value put into a message. */
export const escapeSlack = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** What is wrong with a template, or undefined: unclosed or empty braces, a placeholder that is not a dotted path. */
export function templateProblem(text: string): string | undefined {
  const rest = text.replace(PLACEHOLDER, (_, path: string) => (PATH.test(path) ? "" : `\u0000${path}\u0000`));
  const bad = /\u0000([^\u0000]*)\u0000/.exec(rest);
  if (bad) return `placeholder {{${bad[1]}}} is not a path like {{properties.total}} or {{userId}}`;
  if (rest.includes("{{") || rest.includes("}}")) return "a {{ has no matching }} (or the reverse)";
  return undefined;
}

/** A template string checked at build time, with the problem located at its key. */
export const templateSchema: Schema<string> = {
  describe: "a template with {{path}} placeholders",
  check(v, path, problems: Problem[]) {
    if (typeof v !== "string" || v === "") {
      problems.push({ path, message: `expected a non-empty template string` });
      return undefined;
    }
    const problem = templateProblem(v);
    if (problem) {
      problems.push({ path, message: problem });
      return undefined;
    }
    return v;
  },
};

/** A value as message text: strings as they are, numbers and booleans as text, objects as JSON, missing as "". */
function text(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  try {
    return JSON.stringify(v) ?? "";
  } catch {
    return "";
  }
}

function getter(path: string): (event: SluiceEvent) => unknown {
  const keys = path.split(".");
  return (event) => {
    let v: unknown = event;
    for (const k of keys) {
      if (v === null || typeof v !== "object" || !Object.hasOwn(v, k)) return undefined;
      v = (v as Record<string, unknown>)[k];
    }
    return v;
  };
}

/**
 * Compiles a checked template into a closure: literal pieces and getters, joined per event.
 * @example compileTemplate("Order {{properties.order_id}} by {{userId}}")(event) // "Order o-1 by u1"
 */
export function compileTemplate(template: string): Render {
  const literals: string[] = [];
  const getters: ((e: SluiceEvent) => unknown)[] = [];
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    literals.push(template.slice(last, m.index));
    getters.push(getter(m[1]!));
    last = m.index! + m[0].length;
  }
  const tail = template.slice(last);
  return (event) => {
    let out = "";
    for (let i = 0; i < getters.length; i++) out += literals[i]! + escapeSlack(text(getters[i]!(event)));
    return out + tail;
  };
}


/** A Slack link whose URL cannot break out of `<…|…>`. */
function link(url: string, label: string): string {
  return `<${escapeSlack(url).replace(/\|/g, "%7C")}|${label}>`;
}

/**
 * The line for an `Alert Fired` / `Alert Resolved` event: status word, rule, observed vs expected, the scope, the
 * suggestion and the console link when the alert has them.
 * @example "*FIRING* alert a1 (delivery_failure_rate): 12% of deliveries failed; observed 0.12, expected ≤ 0.01 (threshold 0.05, over 15 min) · destination ga4 · <https://…|open in console>"
 */
export function renderAlert(event: SluiceEvent): string {
  const p = obj(event.properties);
  const e = (v: unknown) => escapeSlack(text(v));
  const status = event.event === "Alert Resolved" ? "RESOLVED" : "FIRING";
  let line = `*${status}* alert ${e(p.alert_id) || "?"}${p.kind !== undefined ? ` (${e(p.kind)})` : ""}`;
  if (str(p.message)) line += `: ${e(p.message)}`;
  const facts: string[] = [];
  if (p.observed !== undefined) facts.push(`observed ${e(p.observed)}`);
  if (p.expected !== undefined) facts.push(`expected ${e(p.expected)}`);
  const bounds: string[] = [];
  if (p.threshold !== undefined) bounds.push(`threshold ${e(p.threshold)}`);
  if (p.window_minutes !== undefined) bounds.push(`over ${e(p.window_minutes)} min`);
  if (facts.length > 0 || bounds.length > 0) line += `; ${facts.join(", ")}${bounds.length > 0 ? `${facts.length > 0 ? " " : ""}(${bounds.join(", ")})` : ""}`;
  for (const k of ["source", "destination", "event_name"] as const) if (str(p[k])) line += ` · ${k.replace("_", " ")} ${e(p[k])}`;
  if (str(p.suggestion)) line += ` · ${e(p.suggestion)}`;
  if (str(p.fired_at) && status === "FIRING") line += ` · since ${e(p.fired_at)}`;
  if (str(p.console_url)) line += ` · ${link(str(p.console_url)!, "open in console")}`;
  return line;
}

const who = (event: SluiceEvent): string => escapeSlack(str(event.userId) ?? str(event.anonymousId) ?? "anonymous");

/** Up to five scalar properties or traits, `key=value`, for the default lines. */
function summary(values: unknown): string {
  const pairs = Object.entries(obj(values))
    .filter(([, v]) => typeof v === "string" || typeof v === "number" || typeof v === "boolean")
    .slice(0, 5)
    .map(([k, v]) => `${escapeSlack(k)}=${escapeSlack(String(v)).slice(0, 80)}`);
  return pairs.length > 0 ? ` (${pairs.join(", ")})` : "";
}

/** The line for an event without a template. */
export function renderDefault(event: SluiceEvent): string {
  switch (event.type) {
    case "track":
      return `*${escapeSlack(str(event.event) ?? "(unnamed event)")}* by ${who(event)}${summary(event.properties)}`;
    case "page":
    case "screen": {
      const where = str(event.name) ?? str(obj(event.properties).url) ?? str(obj(obj(event.context).page).url) ?? "(unnamed)";
      return `${event.type} *${escapeSlack(where)}* viewed by ${who(event)}`;
    }
    case "identify":
      return `identify ${who(event)}${summary(event.traits)}`;
    case "group":
      return `${who(event)} joined group *${escapeSlack(str(event.groupId) ?? "?")}*${summary(event.traits)}`;
    case "alias":
      return `alias ${escapeSlack(str(event.previousId) ?? "?")} → ${who(event)}`;
  }
  return `${escapeSlack(String(event.type))} by ${who(event)}`;
}

const ALERTS = new Set(["Alert Fired", "Alert Resolved"]);

/**
 * The renderer for a destination, built once: a template for the event name (track), then the alert line for
 * alert events, then a template for the type, then the default line.
 */
export function compileRenderer(templates: Readonly<Record<string, string>>): Render {
  const compiled = new Map(Object.entries(templates).map(([k, t]) => [k, compileTemplate(t)]));
  return (event) => {
    const name = event.type === "track" && typeof event.event === "string" ? event.event : undefined;
    const byName = name !== undefined ? compiled.get(name) : undefined;
    if (byName) return byName(event);
    if (name !== undefined && ALERTS.has(name)) return renderAlert(event);
    return (compiled.get(event.type) ?? renderDefault)(event);
  };
}

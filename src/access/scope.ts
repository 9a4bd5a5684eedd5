/**
 * What of the config a principal sees. Counters of a destination or a tracking plan sum every source feeding it,
 * so a scoped token sees them only when all of those sources are in its scope; the dead-letter backstop names no
 * source, so only a token that reaches every source sees it.
 */
import type { BuiltConfig } from "../config/model.ts";
import { allInScope, inScope, type Principal } from "./principal.ts";

export interface Visible {
  sources: string[];
  destinations: string[];
  plans: string[];
  backstop: boolean;
}

/** Ids of the sources checked against a tracking plan. */
export function planSources(config: Pick<BuiltConfig, "sources">, plan: string): string[] {
  return config.sources.filter((s) => s.tracking_plan === plan).map((s) => s.id);
}

export function visible(p: Principal, config: Pick<BuiltConfig, "sources" | "destinations" | "plans">): Visible {
  return {
    sources: config.sources.filter((s) => inScope(p, s.id)).map((s) => s.id),
    destinations: config.destinations.filter((d) => allInScope(p, d.sources)).map((d) => d.id),
    plans: Object.keys(config.plans ?? {}).filter((id) => allInScope(p, planSources(config, id))),
    backstop: p.sources === "*",
  };
}

const SECRET_REF_ONLY = /^\$\{env\.[A-Za-z_][A-Za-z0-9_]*\}$/;
const SECRET_NAME = /secret|token|password|passwd|api_?key|auth|credential|private/i;

/**
 * Destination settings as GET /admin/config shows them: `${env.X}` references as written (the config never holds
 * their values); a literal under a name that looks like a credential is shown as "[redacted]".
 */
export function displaySettings(value: unknown, name = ""): unknown {
  if (typeof value === "string") return SECRET_NAME.test(name) && !SECRET_REF_ONLY.test(value) ? "[redacted]" : value;
  if (Array.isArray(value)) return value.map((v) => displaySettings(v, name));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, displaySettings(v, k)]));
  return value;
}

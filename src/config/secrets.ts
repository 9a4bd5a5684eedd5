/** Secrets are written `${env.NAME}` in config and resolved from Worker secrets / `.dev.vars` at run time. */
import type { Path } from "./schema.ts";

const SECRET_REF = /\$\{env\.([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Names reserved for the operator's own credentials: ADMIN_TOKEN (the worker's admin API) and SLUICE_ADMIN_TOKEN
 * (what the CLI reads; `sluice test` and `sluice filter` resolve secrets from the shell's environment). Filters
 * and destination settings never resolve them: a filter or destination could otherwise hand the admin token to a
 * third party. Any operator credential the worker reads later must be named ADMIN_*. Not every `_TOKEN`:
 * destinations legitimately need API tokens of their own.
 */
const OPERATOR_SECRET = /^(SLUICE_)?ADMIN_/;

export function isOperatorSecret(name: string): boolean {
  return OPERATOR_SECRET.test(name);
}

export const operatorSecretMessage = (name: string) =>
  `\${env.${name}} is an operator credential: filters and destination settings cannot use names beginning ADMIN_ or SLUICE_ADMIN_`;

export class MissingSecretError extends Error {
  constructor(
    readonly secret: string,
    message = `secret ${secret} is not set (wrangler secret put ${secret}, or .dev.vars locally)`,
  ) {
    super(message);
  }
}

/** An operator credential named in config: never resolved, handled as a secret that is not set (events wait, never go out). */
export class OperatorSecretError extends MissingSecretError {
  constructor(secret: string) {
    super(secret, operatorSecretMessage(secret));
  }
}

/** Calls `visit` for every `${env.NAME}` in `value`, with the path of the string that holds it. */
export function forEachSecretRef(value: unknown, visit: (name: string, path: Path) => void, path: Path = []): void {
  if (typeof value === "string") for (const m of value.matchAll(SECRET_REF)) visit(m[1]!, path);
  else if (Array.isArray(value)) value.forEach((v, i) => forEachSecretRef(v, visit, [...path, i]));
  else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) forEachSecretRef(v, visit, [...path, k]);
}

/** Names of the secrets a value refers to, for `sluice check` and for tests. */
export function secretRefs(value: unknown): Set<string> {
  const out = new Set<string>();
  forEachSecretRef(value, (name) => out.add(name));
  return out;
}

/**
 * Deep copy of `value` with every `${env.NAME}` replaced; throws MissingSecretError when one is unset, and its
 * OperatorSecretError for an operator credential (set or not).
 */
export function resolveSecrets<T>(value: T, env: Record<string, unknown>): T {
  if (typeof value === "string") {
    return value.replace(SECRET_REF, (_, name: string) => {
      if (isOperatorSecret(name)) throw new OperatorSecretError(name);
      const v = env[name];
      if (typeof v !== "string") throw new MissingSecretError(name);
      return v;
    }) as T;
  }
  if (Array.isArray(value)) return value.map((v) => resolveSecrets(v, env)) as T;
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveSecrets(v, env);
    return out as T;
  }
  return value;
}

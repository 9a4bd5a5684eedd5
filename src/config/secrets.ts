/** Secrets are written `${env.NAME}` in config and resolved from Worker secrets / `.dev.vars` at run time. */
const SECRET_REF = /\$\{env\.([A-Za-z_][A-Za-z0-9_]*)\}/g;

export class MissingSecretError extends Error {
  constructor(readonly secret: string) {
    super(`secret ${secret} is not set (wrangler secret put ${secret}, or .dev.vars locally)`);
  }
}

/** Names of the secrets a value refers to, for `sluice check` and for tests. */
export function secretRefs(value: unknown, out = new Set<string>()): Set<string> {
  if (typeof value === "string") for (const m of value.matchAll(SECRET_REF)) out.add(m[1]!);
  else if (Array.isArray(value)) for (const v of value) secretRefs(v, out);
  else if (value && typeof value === "object") for (const v of Object.values(value)) secretRefs(v, out);
  return out;
}

/** Deep copy of `value` with every `${env.NAME}` replaced; throws MissingSecretError when one is unset. */
export function resolveSecrets<T>(value: T, env: Record<string, unknown>): T {
  if (typeof value === "string") {
    return value.replace(SECRET_REF, (_, name: string) => {
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

/**
 * The `access:` section of sluice.yaml: operator tokens, each with a role and a scope (docs/access.md).
 *
 * @example
 *   access:
 *     tokens:
 *       - id: qa
 *         secret: "${env.QA_TOKEN}"   # or sha256: <hex digest of the token>
 *         role: viewer                # viewer | operator | admin
 *         environments: [dev]         # and/or sources: [...]; default: all
 *         read_events: false          # event bodies (viewer default false; operator true; admin always)
 */
import { s, type Path, type Problem, type Schema } from "./schema.ts";

/** model.ts's ID_PATTERN (not imported: model.ts imports this module). */
const ID = /^[a-z0-9_-]+$/;

export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** Tokens are at least this long; a `secret` that resolves shorter is refused at run time (docs/access.md). */
export const MIN_TOKEN_LENGTH = 32;

const SECRET_REF_ONLY = /^\$\{env\.[A-Za-z_][A-Za-z0-9_]*\}$/;

const TokenObject = s.object({
  id: s.string({ pattern: ID }),
  /** `${env.NAME}`: the token itself, a Worker secret. */
  secret: s.optional(s.string()),
  /** Hex SHA-256 of the token: what git may hold instead of a secret reference. */
  sha256: s.optional(s.string({ pattern: /^[0-9a-f]{64}$/ })),
  role: s.literal(...ROLES),
  environments: s.optional(s.array(s.string({ pattern: ID }), { minItems: 1 })),
  sources: s.optional(s.array(s.string({ pattern: ID }), { minItems: 1 })),
  read_events: s.optional(s.boolean()),
});
export type AccessTokenConfig = NonNullable<ReturnType<typeof TokenObject.check>>;

/** One token: exactly one of `secret` (a `${env.NAME}` reference, never the token) and `sha256`. */
const TokenSchema: Schema<AccessTokenConfig> = {
  describe: TokenObject.describe,
  check(v: unknown, path: Path, problems: Problem[]) {
    const t = TokenObject.check(v, path, problems);
    if (!t) return undefined;
    const before = problems.length;
    if ((t.secret === undefined) === (t.sha256 === undefined)) problems.push({ path, message: "give exactly one of secret (\"${env.NAME}\") and sha256 (hex digest of the token)" });
    if (t.secret !== undefined && !SECRET_REF_ONLY.test(t.secret))
      problems.push({ path: [...path, "secret"], message: 'secret must be a reference "${env.NAME}" to a Worker secret: never a plaintext token in git (or use sha256: <hex digest>)' });
    if (t.role === "admin" && t.read_events === false) problems.push({ path: [...path, "read_events"], message: "an admin token reads event bodies: use role operator or viewer" });
    return problems.length === before ? t : undefined;
  },
};

export const AccessSchema = s.object({
  tokens: s.withDefault(s.array(TokenSchema), []),
});
export type AccessConfig = { tokens: AccessTokenConfig[] };

/**
 * Cross-checks of the tokens against the sources: unique ids, known environments and sources, a scope that holds at
 * least one source, and no secret a destination or filter also reads (it could hand the token to a third party).
 */
export function checkAccess(
  access: AccessConfig,
  sources: readonly { id: string; environment: string }[],
  otherSecretRefs: ReadonlySet<string>,
  report: (path: Path, message: string) => void,
): void {
  const ids = new Set<string>();
  const environments = new Set(sources.map((src) => src.environment));
  const sourceIds = new Set(sources.map((src) => src.id));
  access.tokens.forEach((t, i) => {
    const at = (...rest: Path): Path => ["access", "tokens", i, ...rest];
    if (ids.has(t.id)) report(at("id"), `duplicate token id "${t.id}"`);
    ids.add(t.id);
    let known = true;
    t.environments?.forEach((e, k) => {
      if (!environments.has(e)) (known = false), report(at("environments", k), `no source has environment "${e}" (known: ${[...environments].sort().join(", ")})`);
    });
    t.sources?.forEach((id, k) => {
      if (!sourceIds.has(id)) (known = false), report(at("sources", k), `unknown source "${id}"`);
    });
    if (known && scopeSources(t, sources).length === 0) report(at(), `token "${t.id}" reaches no source (environments and sources both restrict)`);
    const name = tokenSecretName(t);
    if (name !== undefined && otherSecretRefs.has(name)) report(at("secret"), `\${env.${name}} is also read by a destination or filter: an access token needs a secret of its own`);
  });
}

/** The env variable a token's `secret: "${env.NAME}"` reads (NAME), or undefined for a `sha256:` token. */
export function tokenSecretName(t: Pick<AccessTokenConfig, "secret">): string | undefined {
  return t.secret?.slice(6, -1);
}

/** Ids of the sources a token reaches: in its environments (when listed) and among its sources (when listed). */
export function scopeSources(t: Pick<AccessTokenConfig, "environments" | "sources">, sources: readonly { id: string; environment: string }[]): string[] {
  return sources.filter((src) => (!t.environments || t.environments.includes(src.environment)) && (!t.sources || t.sources.includes(src.id))).map((src) => src.id);
}

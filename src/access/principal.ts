/**
 * Operator access, pure: the token table compiled once from config and secrets, who presents a token (compared
 * as SHA-256 digests in constant time), what each role may do, and which sources a token's scope reaches.
 * The HTTP shell (src/http/access.ts) resolves the principal once per request and guards each admin route.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { MIN_TOKEN_LENGTH, scopeSources, tokenSecretName, type AccessConfig, type Role } from "../config/access.ts";

export type { Role };

/**
 * What an admin route does, as the role table sees it:
 *   read.metadata  stats, metrics, usage, alerts, plans, archive listings (event metadata), config, whoami
 *   read.events    event bodies (a quarantined or dead-lettered record, a backstop body, an r2 destination's events)
 *   replay         replay quarantine and dead letters, requeue the backstop
 *   purge          delete archived events
 *   audit.read     the audit trail
 */
export type Action = "read.metadata" | "read.events" | "replay" | "purge" | "audit.read";

/** Role → what it may do; `read.events` is the token's own `read_events` (a viewer's default no, an operator's yes, an admin's always). */
export const ROLE_ACTIONS: Readonly<Record<Role, readonly Action[]>> = {
  viewer: ["read.metadata"],
  operator: ["read.metadata", "replay"],
  admin: ["read.metadata", "read.events", "replay", "purge", "audit.read"],
};

/** Who presented a token, and what it reaches. */
export interface Principal {
  /** The token's id in config; `admin-token` for ADMIN_TOKEN. */
  id: string;
  role: Role;
  /** The environments the token is scoped to, as configured; "*" when not restricted by environment. */
  environments: string[] | "*";
  /** The source ids the token reaches (its environments and sources applied); "*" when it reaches every source. */
  sources: string[] | "*";
  /** May read event bodies. */
  readEvents: boolean;
}

/** The id ADMIN_TOKEN is known by in the audit trail and `whoami`. */
export const ADMIN_TOKEN_ID = "admin-token";

interface TokenEntry {
  digest: Buffer;
  principal: Principal;
}

export interface TokenTable {
  tokens: TokenEntry[];
  /** Tokens that cannot be used, with why (a secret not set or too short); logged once by the shell. */
  problems: string[];
}

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/**
 * Compiles the tokens once: each as the digest of its token and the principal it stands for. A `secret` is read
 * from `env`; one that is unset or shorter than MIN_TOKEN_LENGTH is left out and reported. ADMIN_TOKEN (when set)
 * is the bootstrap admin.
 */
export function compileAccess(
  access: AccessConfig | undefined,
  sources: readonly { id: string; environment: string }[],
  env: Record<string, unknown>,
  adminToken: string | undefined,
): TokenTable {
  const tokens: TokenEntry[] = [];
  const problems: string[] = [];
  if (adminToken) tokens.push({ digest: sha256(adminToken), principal: { id: ADMIN_TOKEN_ID, role: "admin", environments: "*", sources: "*", readEvents: true } });
  for (const t of access?.tokens ?? []) {
    let digest: Buffer;
    if (t.sha256 !== undefined) digest = Buffer.from(t.sha256, "hex");
    else {
      const name = tokenSecretName(t)!;
      const value = env[name];
      if (typeof value !== "string" || value === "") {
        problems.push(`token "${t.id}": secret ${name} is not set; the token is refused`);
        continue;
      }
      if (value.length < MIN_TOKEN_LENGTH) {
        problems.push(`token "${t.id}": secret ${name} is shorter than ${MIN_TOKEN_LENGTH} characters; the token is refused`);
        continue;
      }
      digest = sha256(value);
    }
    const reached = t.environments || t.sources ? scopeSources(t, sources) : "*";
    tokens.push({
      digest,
      principal: { id: t.id, role: t.role, environments: t.environments ?? "*", sources: reached, readEvents: t.role === "admin" || (t.read_events ?? t.role === "operator") },
    });
  }
  return { tokens, problems };
}

/**
 * The principal a presented token stands for, or undefined. The token is hashed once and its digest compared with
 * every token's in constant time (no early exit): what it takes depends on neither the token nor which one matched.
 */
export function authenticate(table: TokenTable, given: string): Principal | undefined {
  const digest = sha256(given);
  let found: Principal | undefined;
  for (const t of table.tokens) if (timingSafeEqual(digest, t.digest) && !found) found = t.principal;
  return found;
}

export function can(p: Principal, action: Action): boolean {
  return action === "read.events" ? p.readEvents : ROLE_ACTIONS[p.role].includes(action);
}

/** The least role that may do `action` (for a 403's message). */
export function roleFor(action: Action): string {
  if (action === "read.events") return "read_events: true (operator and admin have it)";
  return `role ${(["viewer", "operator", "admin"] as const).find((r) => ROLE_ACTIONS[r].includes(action))}`;
}

export function inScope(p: Principal, sourceId: string): boolean {
  return p.sources === "*" || p.sources.includes(sourceId);
}

/** Every source of `ids` ("*": every configured source) is in scope: data that mixes sources is shown only then. */
export function allInScope(p: Principal, ids: readonly string[] | "*"): boolean {
  return p.sources === "*" || (ids !== "*" && ids.every((id) => inScope(p, id)));
}

/** How a 403 names the token's scope, e.g. `environments dev (sources ios)`. */
export function describeScope(p: Principal): string {
  if (p.sources === "*") return "all sources";
  const envs = p.environments === "*" ? "" : `environments ${p.environments.join(", ")} `;
  return `${envs}(sources ${p.sources.join(", ") || "none"})`;
}

/**
 * Operator access in the HTTP shell (docs/access.md): `accessMiddleware` resolves the principal of /admin/*
 * requests once (401 without a known token), `requireAccess(action)` guards each admin route by role (403 naming
 * what is needed), `requireSource`/`forbidScope` refuse what lies outside the token's scope, and `audited` records
 * an action in the audit trail before it runs (503 when it cannot) and completes the record after.
 */
import type { Context, MiddlewareHandler } from "hono";
import { auditStart, countsOf, type AuditStart } from "../access/audit.ts";
import { authenticate, can, compileAccess, describeScope, inScope, roleFor, type Action, type Principal, type TokenTable } from "../access/principal.ts";
import { ApiError } from "../api-error.ts";
import { tokenSecretName } from "../config/access.ts";
import type { BuiltConfig } from "../config/model.ts";
import type { SluiceEnv } from "./env.ts";

export type { Principal };

declare module "hono" {
  interface ContextVariableMap {
    principal: Principal;
  }
}

type Ctx = Context<{ Bindings: SluiceEnv }>;

/**
 * The token table per config, compiled once per isolate, and again only if a secret it was compiled from
 * (ADMIN_TOKEN or a token's `${env.X}`) differs: a rotated secret stops its old token at once.
 */
const tables = new WeakMap<BuiltConfig, { secrets: unknown[]; table: TokenTable }>();

function secretsOf(env: SluiceEnv, config: BuiltConfig): unknown[] {
  const vars = env as unknown as Record<string, unknown>;
  const secret = (name: string | undefined) => (name === undefined ? undefined : vars[name]);
  return [env.ADMIN_TOKEN, ...(config.access?.tokens ?? []).map((t) => secret(tokenSecretName(t)))];
}

function tokenTable(env: SluiceEnv, config: BuiltConfig): TokenTable {
  const cached = tables.get(config);
  const secrets = secretsOf(env, config);
  if (cached && cached.secrets.every((v, i) => v === secrets[i])) return cached.table;
  const table = compileAccess(config.access, config.sources, env as unknown as Record<string, unknown>, env.ADMIN_TOKEN);
  for (const problem of table.problems) console.error(JSON.stringify({ msg: "access token refused", problem }));
  tables.set(config, { secrets, table });
  return table;
}

/** The token of an `Authorization: Bearer <token>` header. */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  return /^Bearer\s+(.+)$/i.exec(authorization ?? "")?.[1]?.trim();
}

/**
 * Who a token belongs to: `{ id, role, environments, sources, readEvents }`, or undefined for an unknown token.
 * The console authenticates its users with this (the same tokens and scopes as the admin API).
 * @example authenticateOperator(bearerToken(req.headers.get("authorization")), env, config)?.role // "viewer"
 */
export function authenticateOperator(token: string | undefined, env: SluiceEnv, config: BuiltConfig): Principal | undefined {
  if (!token) return undefined;
  return authenticate(tokenTable(env, config), token);
}

/**
 * The token with id `id` as the table stands now: its principal and `binding`, a value derived from its digest that
 * changes when the token's secret does (the console binds its sessions to it). Undefined once the token is gone.
 */
export function operatorById(id: string, env: SluiceEnv, config: BuiltConfig): { principal: Principal; binding: string } | undefined {
  const entry = tokenTable(env, config).tokens.find((t) => t.principal.id === id);
  return entry && { principal: entry.principal, binding: entry.digest.toString("hex") };
}

/** Admin requests the worker makes itself (the console's in-process calls) and the principal they act as. */
const operators = new WeakMap<Request, Principal>();

/**
 * Marks an in-process admin request as made by `principal`, with exactly its rights: `accessMiddleware` takes it
 * before any Authorization header. No header carries it, so nothing from outside can claim it.
 */
export function asOperator(request: Request, principal: Principal): Request {
  operators.set(request, principal);
  return request;
}

/** Resolves the principal of an admin request, or answers 401. */
export function accessMiddleware(config: (env: SluiceEnv) => BuiltConfig): MiddlewareHandler<{ Bindings: SluiceEnv }> {
  return async function adminAuth(c, next) {
    const own = operators.get(c.req.raw);
    if (own) {
      c.set("principal", own);
      return next();
    }
    const built = config(c.env);
    if (tokenTable(c.env, built).tokens.length === 0) throw new ApiError(401, "admin_disabled", "the admin API is disabled: set the ADMIN_TOKEN secret or configure access tokens");
    const principal = authenticateOperator(bearerToken(c.req.header("authorization")), c.env, built);
    if (!principal) throw new ApiError(401, "unauthorized", "admin API needs Authorization: Bearer <token> (an access token or ADMIN_TOKEN)", { "www-authenticate": "Bearer" });
    c.set("principal", principal);
    await next();
  };
}

/** Who a token is and what it reaches: `GET /admin/whoami`, and the `scope` of a 403. */
export function scopeBody(p: Principal) {
  return { token: p.id, role: p.role, environments: p.environments, sources: p.sources, read_events: p.readEvents };
}

/** Route guard: 403 unless the token's role (or read_events) allows `action`. */
export function requireAccess(action: Action): MiddlewareHandler<{ Bindings: SluiceEnv }> {
  return async function guard(c, next) {
    const p = c.get("principal");
    if (!can(p, action)) throw new ApiError(403, "forbidden", `token "${p.id}" (role ${p.role}) may not ${action}: needs ${roleFor(action)}`, {}, { scope: scopeBody(p) });
    await next();
  };
}

/** 403 for `what` (e.g. `source "web"`) outside the token's scope, naming the scope. */
export function forbidScope(p: Principal, what: string): ApiError {
  return new ApiError(403, "out_of_scope", `${what} is outside the scope of token "${p.id}": ${describeScope(p)}`, {}, { scope: scopeBody(p) });
}

export function requireSource(p: Principal, sourceId: string): void {
  if (!inScope(p, sourceId)) throw forbidScope(p, `source "${sourceId}"`);
}

const auditStub = (env: SluiceEnv) => env.AUDIT.get(env.AUDIT.idFromName("audit"));

/**
 * Runs an action recorded in the audit trail: the record is written first (503 `audit_unavailable` when it cannot
 * be, and the action does not run), then completed with the numbers of the action's answer (or what `counts`
 * picks from it), or its error.
 */
export async function audited<T extends Record<string, unknown>>(
  c: Ctx,
  action: string,
  filters: Record<string, unknown>,
  run: () => Promise<T>,
  counts: (answer: T) => Record<string, number> = countsOf,
): Promise<T> {
  const start: AuditStart = auditStart(c.get("principal"), action, `${c.req.method} ${c.req.path}`, filters, c.req.header("cf-connecting-ip") ?? "unknown", Date.now());
  const stub = auditStub(c.env);
  let id: number;
  try {
    id = await stub.begin(start);
  } catch (err) {
    console.error(JSON.stringify({ msg: "audit write failed; action refused", action, error: String(err) }));
    throw new ApiError(503, "audit_unavailable", "the audit trail cannot be written; the action did not run, retry it");
  }
  const finish = (outcome: Parameters<typeof stub.finish>[1]) =>
    stub.finish(id, outcome, Date.now()).catch((err: unknown) => console.error(JSON.stringify({ msg: "audit completion failed", id, error: String(err) })));
  try {
    const answer = await run();
    await finish({ status: "done", counts: counts(answer) });
    return answer;
  } catch (err) {
    await finish({ status: "failed", error: String((err as Error).message ?? err) });
    throw err;
  }
}

export { auditStub };

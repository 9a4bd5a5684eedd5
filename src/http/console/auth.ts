/**
 * Console authentication, all of it: which operator a token names. Today the only operator token is the admin
 * token (checked exactly as the admin API checks it); scoped operator tokens replace this one function.
 */
import { sameCredential } from "../../config/credentials.ts";
import type { SluiceEnv } from "../env.ts";

/** Who is signed in. */
export interface Principal {
  /** Stable id, kept in the session. */
  id: string;
}

/** The operator `token` names, or undefined (no such token, or the console is disabled: no ADMIN_TOKEN). */
export function authenticate(token: string, env: SluiceEnv): Principal | undefined {
  const admin = env.ADMIN_TOKEN;
  if (!admin || !token || !sameCredential(token.trim(), admin)) return undefined;
  return { id: "admin" };
}

/**
 * Whether a principal kept in a session still names an operator (the key that signed the session is derived from
 * the token, so a changed admin token ends every session already).
 */
export function principalById(id: string, env: SluiceEnv): Principal | undefined {
  return id === "admin" && env.ADMIN_TOKEN ? { id } : undefined;
}

/**
 * What the console's in-process calls to the admin API carry for `principal`: the admin token, the only operator
 * token there is. With scoped tokens, the principal's own scopes go here instead.
 */
export function adminAuthorization(_principal: Principal, env: SluiceEnv): string {
  return `Bearer ${env.ADMIN_TOKEN ?? ""}`;
}

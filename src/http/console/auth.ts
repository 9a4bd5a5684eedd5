/**
 * Console authentication, all of it: which operator a token names, and whether a session's operator still exists.
 * The console takes the same tokens as the admin API (docs/access.md): any access token, and ADMIN_TOKEN.
 */
import type { BuiltConfig } from "../../config/model.ts";
import { authenticateOperator, operatorById, type Principal } from "../access.ts";
import type { SluiceEnv } from "../env.ts";

export type { Principal };

/** Who is signed in, and what the session is bound to: it changes when the token's secret does. */
export interface Operator {
  principal: Principal;
  binding: string;
}

/** The operator `token` names, or undefined (no such token). */
export function authenticate(token: string, env: SluiceEnv, config: BuiltConfig): Operator | undefined {
  const principal = authenticateOperator(token.trim(), env, config);
  return principal && operatorById(principal.id, env, config);
}

/**
 * The operator a session names, as the token table stands now: undefined once the token is removed from config
 * (its sessions end; a rotated secret changes the binding, which ends them too).
 */
export function principalById(id: string, env: SluiceEnv, config: BuiltConfig): Operator | undefined {
  return operatorById(id, env, config);
}

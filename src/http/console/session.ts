/**
 * Console sessions: an HttpOnly, Secure, SameSite=Strict cookie holding `<token id>.<expiry>.<nonce>.<mac>`, an
 * HMAC-SHA-256 under a key derived from CONSOLE_SESSION_KEY (else from the admin token; changing either ends every
 * session). The MAC also covers the token's binding (derived from its digest), and each read looks the token id up
 * in the current token table: removing a token from config or rotating its secret ends its sessions. The cookie
 * never holds the token. Each session has a CSRF token, the HMAC of its nonce, that every POST
 * carries (form field `_csrf` or header `x-csrf-token`) besides coming from the console's own origin.
 */
import type { SluiceEnv } from "../env.ts";
import type { Operator, Principal } from "./auth.ts";

export const COOKIE = "sluice_console";
export const SESSION_SECONDS = 8 * 3600;

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function b64url(bytes: ArrayBuffer | Uint8Array): string {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = "";
  for (const b of u8) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Whether sessions can be signed: CONSOLE_SESSION_KEY or ADMIN_TOKEN is set. */
export const canSign = (env: SluiceEnv): boolean => !!(env.CONSOLE_SESSION_KEY || env.ADMIN_TOKEN);

/** The HMAC key: derived (HMAC of a fixed label) from the session secret, never the secret itself. */
function key(env: SluiceEnv): Promise<CryptoKey> | undefined {
  const secret = env.CONSOLE_SESSION_KEY || env.ADMIN_TOKEN;
  if (!secret) return undefined;
  let k = keys.get(secret);
  if (!k) {
    k = (async () => {
      const base = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const derived = await crypto.subtle.sign("HMAC", base, encoder.encode("sluice console session key v1"));
      return crypto.subtle.importKey("raw", derived, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    })();
    keys.clear();
    keys.set(secret, k);
  }
  return k;
}

async function mac(k: CryptoKey, text: string): Promise<string> {
  return b64url(await crypto.subtle.sign("HMAC", k, encoder.encode(text)));
}

export interface Session {
  principal: Principal;
  expires: number;
  /** The CSRF token of this session. */
  csrf: string;
}

/** A new session's cookie value for `operator`. */
export async function newSession(env: SluiceEnv, operator: Operator, now = Date.now()): Promise<string> {
  const k = await key(env);
  if (!k) throw new Error("no session key: set CONSOLE_SESSION_KEY or ADMIN_TOKEN");
  const nonce = b64url(crypto.getRandomValues(new Uint8Array(18)));
  const body = `${operator.principal.id}.${now + SESSION_SECONDS * 1000}.${nonce}`;
  return `${body}.${await mac(k, `session:${body}:${operator.binding}`)}`;
}

/**
 * The session a cookie value holds, if its token id still names an operator (`lookup`: the current token table),
 * its MAC verifies for that token's binding and it has not expired.
 */
export async function readSession(env: SluiceEnv, value: string | undefined, lookup: (id: string) => Operator | undefined, now = Date.now()): Promise<Session | undefined> {
  if (!value) return undefined;
  const parts = value.split(".");
  if (parts.length !== 4) return undefined;
  const [id, exp, nonce, sig] = parts as [string, string, string, string];
  const k = await key(env);
  if (!k) return undefined;
  const body = `${id}.${exp}.${nonce}`;
  let given: Uint8Array;
  try {
    given = Uint8Array.from(atob(sig.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
  const operator = lookup(id);
  if (!operator) return undefined;
  if (!(await crypto.subtle.verify("HMAC", k, given, encoder.encode(`session:${body}:${operator.binding}`)))) return undefined;
  const expires = Number(exp);
  if (!Number.isFinite(expires) || expires <= now) return undefined;
  return { principal: operator.principal, expires, csrf: await mac(k, `csrf:${nonce}`) };
}

/** Set-Cookie for a session (or, with no value, one that removes it). */
export function sessionCookie(value: string | undefined): string {
  const attrs = "Path=/console; HttpOnly; Secure; SameSite=Strict";
  return value ? `${COOKIE}=${value}; ${attrs}; Max-Age=${SESSION_SECONDS}` : `${COOKIE}=; ${attrs}; Max-Age=0`;
}

/** A cookie's value from a Cookie header. */
export function cookieValue(header: string | undefined, name = COOKIE): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Whether a request comes from the console's own origin: its Origin header (browsers send one on every POST and
 * WebSocket) is the request's own. A request without Origin is refused.
 */
export function sameOrigin(request: Request): boolean {
  const origin = request.headers.get("origin");
  return origin !== null && origin === new URL(request.url).origin;
}

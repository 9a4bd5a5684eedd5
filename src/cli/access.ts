/**
 * CLI commands about access (docs/access.md): `whoami` (the token's id, role and scope), `audit` (the audit trail)
 * and `token` (a new random token and the SHA-256 digest to put in config).
 */
import { createHash, randomBytes } from "node:crypto";
import type { AuditRecord } from "../access/audit.ts";
import { adminConnection, adminRequest, AdminError } from "./admin.ts";

type WhoAmI = { token: string; role: string; environments: string[] | "*"; sources: string[] | "*"; read_events: boolean };

/** @example describeWhoAmI({ token: "qa", role: "viewer", environments: ["dev"], sources: ["ios"], read_events: true }) // "qa: viewer; environments dev; sources ios; event bodies yes" */
export function describeWhoAmI(w: WhoAmI): string {
  const list = (v: string[] | "*", all: string) => (v === "*" ? all : v.join(", "));
  return `${w.token}: ${w.role}; environments ${list(w.environments, "all")}; sources ${list(w.sources, "all")}; event bodies ${w.read_events ? "yes" : "no"}`;
}

export async function whoamiCommand(options: Record<string, string>, log = console.log): Promise<number> {
  const w = await adminRequest<WhoAmI>(adminConnection(options), "GET", "/admin/whoami");
  log(options.json !== undefined ? JSON.stringify(w, null, 2) : describeWhoAmI(w));
  return 0;
}

function table(records: AuditRecord[]): string {
  const rows = records.map((r) => [
    new Date(r.at).toISOString(), r.token, r.role, r.action, r.status,
    Object.entries(r.counts ?? {}).map(([k, v]) => `${k}=${v}`).join(" ") || (r.error ?? "").slice(0, 40),
    JSON.stringify(r.filters), r.ip,
  ]);
  const head = ["time", "token", "role", "action", "status", "counts", "filters", "ip"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

/** `sluice audit [--by id] [--action a] [--from t] [--to t] [--limit n] [--cursor c] [--json true]` */
export async function auditCommand(options: Record<string, string>, log = console.log): Promise<number> {
  const query: Record<string, string> = {};
  for (const [option, param] of [["by", "token"], ["action", "action"], ["from", "from"], ["to", "to"], ["limit", "limit"], ["cursor", "cursor"]] as const)
    if (options[option] !== undefined) query[param] = options[option]!;
  const q = new URLSearchParams(query).toString();
  const res = await adminRequest<{ count: number; records: AuditRecord[]; cursor?: string }>(adminConnection(options), "GET", `/admin/audit${q ? `?${q}` : ""}`);
  if (options.json !== undefined) log(JSON.stringify(res, null, 2));
  else log(`${table(res.records)}\n${res.count} shown${res.cursor ? `; more with --cursor ${res.cursor}` : ""}`);
  return 0;
}

/** A new token (48 random bytes, base64url: 64 characters) and its SHA-256 for `access.tokens[].sha256`. */
export function newToken(): { token: string; sha256: string } {
  const token = randomBytes(48).toString("base64url");
  return { token, sha256: createHash("sha256").update(token).digest("hex") };
}

export function tokenCommand(log = console.log): number {
  const { token, sha256 } = newToken();
  log(`token:  ${token}\nsha256: ${sha256}\n(give the token to its holder; put the sha256 in access.tokens[].sha256, or the token in a Worker secret named by secret: "\${env.NAME}")`);
  return 0;
}

export { AdminError };

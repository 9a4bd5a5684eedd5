/**
 * Admin routes about access itself (docs/access.md):
 *   GET /admin/whoami   the token's id, role and scope
 *   GET /admin/config   the running config's revision (hash, build time, commit) and its sources and destinations
 *                       without secrets, as far as the token's scope reaches
 *   GET /admin/audit?from=&to=&token=&action=&limit=&cursor=   the audit trail, newest first (admin)
 */
import type { Hono } from "hono";
import type { AuditQuery, AuditRecord } from "../access/audit.ts";
import { displaySettings, visible } from "../access/scope.ts";
import { ApiError } from "../api-error.ts";
import type { BuiltConfig } from "../config/model.ts";
import { configHash } from "../config/revision.ts";
import { auditStub, requireAccess, scopeBody } from "./access.ts";
import { queryTime, rejectUnknown } from "./query.ts";
import type { SluiceEnv } from "./env.ts";

/** Reads the audit filters from query parameters, rejecting what it does not know. */
export function auditQuery(input: Record<string, string>): AuditQuery {
  const known = ["from", "to", "token", "action", "limit", "cursor"];
  rejectUnknown(input, known);
  const limit = input.limit === undefined ? 100 : Number(input.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ApiError(400, "invalid_query", "limit must be an integer from 1 to 1000");
  const before = input.cursor === undefined ? undefined : Number(input.cursor);
  if (before !== undefined && !Number.isInteger(before)) throw new ApiError(400, "invalid_query", "cursor must be the cursor of a previous page");
  return { from: queryTime(input.from, "from"), to: queryTime(input.to, "to"), token: input.token || undefined, action: input.action || undefined, before, limit };
}

/** Revision hashes per config: computed once (a config built without one, e.g. the tests', still gets its hash). */
const hashes = new WeakMap<BuiltConfig, string>();

export function registerAccessRoutes(app: Hono<{ Bindings: SluiceEnv }>, config: (env: SluiceEnv) => BuiltConfig): void {
  app.get("/admin/whoami", requireAccess("read.metadata"), (c) => {
    return c.json(scopeBody(c.get("principal")));
  });

  app.get("/admin/config", requireAccess("read.metadata"), (c) => {
    const built = config(c.env);
    const p = c.get("principal");
    const seen = visible(p, built);
    let hash = built.revision?.hash ?? hashes.get(built);
    if (!hash) hashes.set(built, (hash = configHash(built)));
    return c.json({
      revision: { ...built.revision, hash },
      sources: built.sources
        .filter((s) => seen.sources.includes(s.id))
        .map(({ write_keys, ...rest }) => ({ ...rest, write_keys: write_keys.length })),
      destinations: built.destinations.filter((d) => seen.destinations.includes(d.id)).map((d) => ({ ...d, settings: displaySettings(d.settings) })),
      plans: seen.plans,
      ...(p.role === "admin" && p.sources === "*"
        ? { access: (built.access?.tokens ?? []).map(({ secret: _s, sha256: _h, ...t }) => t) }
        : {}),
    });
  });

  app.get("/admin/audit", requireAccess("audit.read"), async (c) => {
    const q = auditQuery(c.req.query());
    const records: AuditRecord[] = await auditStub(c.env).list(q);
    const last = records.at(-1);
    return c.json({ count: records.length, records, ...(records.length === q.limit && last ? { cursor: String(last.id) } : {}) });
  });
}

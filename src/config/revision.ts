/**
 * The revision of a built config: a hash of what was built, so operators can tell which config runs
 * (GET /admin/config). The build records it with its time and commit; a config built without them (the worker
 * tests' own) still has its hash, computed the same way.
 */
import { createHash } from "node:crypto";
import type { BuiltConfig, ConfigRevision } from "./model.ts";

/** Hex SHA-256 of the config's JSON, without its `revision`. */
export function configHash(config: BuiltConfig): string {
  const { revision: _r, ...rest } = config;
  return createHash("sha256").update(JSON.stringify(rest)).digest("hex");
}

/** The config with its revision: hash, build time and (when built from a checkout) the commit. */
export function withRevision(config: BuiltConfig, builtAt: Date, commit: string | undefined): BuiltConfig & { revision: ConfigRevision } {
  return { ...config, revision: { hash: configHash(config), built_at: builtAt.toISOString(), ...(commit ? { commit } : {}) } };
}

/**
 * Operator access on the real worker (`wrangler dev`, the AuditObject migration of wrangler.toml): the CLI with
 * --token says who it is; a dev-scoped viewer sees dev data only and cannot purge; an admin's purge needs --all
 * and lands in the audit trail, which `sluice audit` prints; /admin/config tells the built revision.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { adminRequest, AdminError, archiveCommand } from "../../src/cli/admin.ts";
import { auditCommand, whoamiCommand } from "../../src/cli/access.ts";
import { tempFolder } from "../support/temp-folder.ts";
import { postJson, startWranglerDev, type DevWorker } from "./wrangler-dev.ts";

const ADMIN_TOKEN = "e2e-access-admin";
const QA_TOKEN = "e2e-access-qa-token-0123456789abcdef0123";
const OPS_TOKEN = "e2e-access-ops-token-0123456789abcdef012";
const dir = tempFolder("e2e-access");
const state = tempFolder("e2e-access-state");
let dev: DevWorker | undefined;

beforeAll(async () => {
  writeFileSync(
    join(dir, "sluice.yaml"),
    `sources:
  - { id: app-dev, name: App (dev), environment: dev, write_keys: [wk_e2e_access_dev] }
  - { id: app-prod, name: App, write_keys: [wk_e2e_access_prod] }
destinations:
  - { id: store, name: Store, kind: r2, sources: "*" }
access:
  tokens:
    - { id: qa, secret: "\${env.QA_TOKEN}", role: viewer, environments: [dev] }
    - { id: oncall, sha256: ${createHash("sha256").update(OPS_TOKEN).digest("hex")}, role: operator }
`,
  );
  dev = await startWranglerDev(dir, state, { ADMIN_TOKEN, QA_TOKEN });
});

afterAll(async () => {
  await dev?.stop();
});

const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`${key}:`).toString("base64")}` });

it("scopes, guards and audits operator tokens end to end", async () => {
  const url = dev!.url;
  for (const key of ["wk_e2e_access_dev", "wk_e2e_access_prod"]) expect((await postJson(`${url}/v1/track`, { userId: "u", event: "E" }, basic(key))).status).toBe(200);

  const who: string[] = [];
  await whoamiCommand({ url, token: QA_TOKEN }, (l) => who.push(l));
  await whoamiCommand({ url, token: OPS_TOKEN }, (l) => who.push(l));
  await whoamiCommand({ url, token: ADMIN_TOKEN }, (l) => who.push(l));
  expect(who).toEqual([
    "qa: viewer; environments dev; sources app-dev; event bodies no",
    "oncall: operator; environments all; sources all; event bodies yes",
    "admin-token: admin; environments all; sources all; event bodies yes",
  ]);

  const usage = await adminRequest<{ sources: { source: string }[] }>({ url, token: QA_TOKEN }, "GET", "/admin/usage");
  expect(usage.sources.map((s) => s.source)).toEqual(["app-dev"]);
  await expect(archiveCommand("dead-letters", ["purge"], { url, token: QA_TOKEN, all: "true" }, () => {})).rejects.toThrow(/HTTP 403 forbidden: token "qa" \(role viewer\) may not purge: needs role admin/);
  await expect(archiveCommand("dead-letters", ["purge"], { url, token: ADMIN_TOKEN }, () => {})).rejects.toThrow(AdminError);
  const purged: string[] = [];
  expect(await archiveCommand("dead-letters", ["purge"], { url, token: ADMIN_TOKEN, all: "true" }, (l) => purged.push(l))).toBe(0);
  expect(purged).toEqual(["purged 0"]);

  const audit: string[] = [];
  expect(await auditCommand({ url, token: ADMIN_TOKEN, action: "purge" }, (l) => audit.push(l))).toBe(0);
  expect(audit[0]).toMatch(/admin-token +admin +purge dead-letters +done +purged=0 +\{"all":true\}/);
  await expect(auditCommand({ url, token: OPS_TOKEN }, () => {})).rejects.toThrow(/HTTP 403 forbidden/);

  const config = await adminRequest<{ revision: { hash: string; built_at: string; commit?: string }; sources: { id: string }[] }>({ url, token: QA_TOKEN }, "GET", "/admin/config");
  expect(config.revision.hash).toMatch(/^[0-9a-f]{64}$/);
  expect(Date.now() - Date.parse(config.revision.built_at)).toBeLessThan(600_000);
  expect(config.sources.map((s) => s.id)).toEqual(["app-dev"]);
});

/**
 * Operator access, pure (src/config/access.ts, src/access/): the `access:` section as `sluice check` sees it, the
 * token table, who a token is, the role table, what a scope sees, and the CLI's whoami/audit/token and its
 * refusal to replay or purge everything without --all.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { formatConfigError, loadConfigDir } from "../../src/config/load.ts";
import { authenticate, can, compileAccess, describeScope, ROLE_ACTIONS, type Action, type Principal } from "../../src/access/principal.ts";
import { displaySettings, visible } from "../../src/access/scope.ts";
import { configHash, withRevision } from "../../src/config/revision.ts";
import { archiveCommand } from "../../src/cli/admin.ts";
import { auditCommand, describeWhoAmI, newToken, whoamiCommand } from "../../src/cli/access.ts";
import { main } from "../../src/cli/main.ts";
import { tempFolder } from "../support/temp-folder.ts";

/** Every constant-time comparison made, by the byte lengths compared (node:crypto's own, passed through). */
const compares = vi.hoisted(() => [] as [number, number][]);
vi.mock("node:crypto", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:crypto")>();
  return { ...real, timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => (compares.push([a.byteLength, b.byteLength]), real.timingSafeEqual(a, b)) };
});

const root = tempFolder("access-config");
let n = 0;
function load(access: string, extraSource = "") {
  const dir = join(root, `case-${++n}`);
  mkdirSync(dir);
  writeFileSync(
    join(dir, "sluice.yaml"),
    `sources:
  - id: web
    name: Website
    write_keys: [wk_web_12345]
  - id: ios
    name: iOS
    environment: dev
    write_keys: [wk_ios_12345]
${extraSource}destinations:
  - id: hook
    name: Hook
    kind: webhook
    sources: [web]
    settings: { url: "http://127.0.0.1:9/", secret: "\${env.HOOK_SECRET}" }
access:
  tokens:
${access}`,
  );
  const { config, errors } = loadConfigDir(dir, dir);
  return { config, errors: errors.map(formatConfigError) };
}
const DIGEST = "a".repeat(64);

describe("access config (sluice check)", () => {
  it("loads tokens with a secret reference or a digest, roles and scopes; environments are any id", () => {
    const { config, errors } = load(
      `    - { id: qa, secret: "\${env.QA_TOKEN}", role: viewer, environments: [dev], read_events: true }
    - { id: ops, sha256: ${DIGEST}, role: operator, sources: [web] }
    - { id: stage, sha256: ${DIGEST}, role: admin, environments: [staging] }
`,
      "  - { id: beta, name: Beta, environment: staging, write_keys: [wk_beta_12345] }\n",
    );
    expect(errors).toEqual([]);
    expect(config!.access!.tokens.map((t) => [t.id, t.role])).toEqual([["qa", "viewer"], ["ops", "operator"], ["stage", "admin"]]);
    expect(config!.sources.map((s) => s.environment)).toEqual(["prod", "dev", "staging"]);
  });

  it.each([
    ["a plaintext secret", `    - { id: qa, secret: "not-a-reference-0123456789abcdef0123", role: viewer }\n`, "access.tokens[0].secret: secret must be a reference"],
    ["both secret and sha256", `    - { id: qa, secret: "\${env.QA}", sha256: ${DIGEST}, role: viewer }\n`, "access.tokens[0]: give exactly one of secret"],
    ["neither", `    - { id: qa, role: viewer }\n`, "access.tokens[0]: give exactly one of secret"],
    ["an unknown role", `    - { id: qa, sha256: ${DIGEST}, role: owner }\n`, "access.tokens[0].role: expected one of"],
    ["a digest that is not hex SHA-256", `    - { id: qa, sha256: abc, role: viewer }\n`, "access.tokens[0].sha256"],
    ["an unknown environment", `    - { id: qa, sha256: ${DIGEST}, role: viewer, environments: [qa] }\n`, 'access.tokens[0].environments[0]: no source has environment "qa" (known: dev, prod)'],
    ["an unknown source", `    - { id: qa, sha256: ${DIGEST}, role: viewer, sources: [android] }\n`, 'access.tokens[0].sources[0]: unknown source "android"'],
    ["a scope that reaches no source", `    - { id: qa, sha256: ${DIGEST}, role: viewer, environments: [dev], sources: [web] }\n`, 'access.tokens[0]: token "qa" reaches no source'],
    ["a duplicate id", `    - { id: qa, sha256: ${DIGEST}, role: viewer }\n    - { id: qa, sha256: ${DIGEST}, role: admin }\n`, 'access.tokens[1].id: duplicate token id "qa"'],
    ["an admin without event bodies", `    - { id: qa, sha256: ${DIGEST}, role: admin, read_events: false }\n`, "access.tokens[0].read_events: an admin token reads event bodies"],
    ["a secret a destination also reads", `    - { id: qa, secret: "\${env.HOOK_SECRET}", role: viewer }\n`, "access.tokens[0].secret: ${env.HOOK_SECRET} is also read by a destination or filter"],
  ])("rejects %s, naming file, line and rule", (_, access, message) => {
    const { config, errors } = load(access);
    expect(config).toBeUndefined();
    expect(errors).toHaveLength(1);
    // The token's own line (the second token's, for the duplicate).
    expect(errors[0]).toMatch(/^sluice\.yaml:1[78]: /);
    expect(errors[0]).toContain(message);
  });
});

const sources = [
  { id: "web", environment: "prod" },
  { id: "ios", environment: "dev" },
  { id: "android", environment: "dev" },
];
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const LONG = (id: string) => `${id}-token-0123456789abcdef0123456789abcdef`;

describe("token table and who a token is", () => {
  const access = {
    tokens: [
      { id: "qa", sha256: sha(LONG("qa")), role: "viewer" as const, environments: ["dev"] },
      { id: "ops", secret: "${env.OPS_TOKEN}", role: "operator" as const, sources: ["web", "ios"] },
      { id: "short", secret: "${env.SHORT_TOKEN}", role: "admin" as const },
      { id: "unset", secret: "${env.UNSET_TOKEN}", role: "admin" as const },
    ],
  };
  const table = compileAccess(access, sources, { OPS_TOKEN: LONG("ops"), SHORT_TOKEN: "only-31-characters-long-abcdefg" }, "the-admin-token");

  it("reads secrets once; refuses one unset or shorter than 32 characters, with why", () => {
    expect(table.tokens.map((t) => t.principal.id)).toEqual(["admin-token", "qa", "ops"]);
    expect(table.problems).toEqual([
      'token "short": secret SHORT_TOKEN is shorter than 32 characters; the token is refused',
      'token "unset": secret UNSET_TOKEN is not set; the token is refused',
    ]);
    expect(authenticate(table, "only-31-characters-long-abcdefg")).toBeUndefined();
  });

  it("finds the principal by digest: role, environments, the sources reached, event bodies", () => {
    expect(authenticate(table, LONG("qa"))).toEqual({ id: "qa", role: "viewer", environments: ["dev"], sources: ["ios", "android"], readEvents: false });
    expect(authenticate(table, LONG("ops"))).toEqual({ id: "ops", role: "operator", environments: "*", sources: ["web", "ios"], readEvents: true });
    expect(authenticate(table, "the-admin-token")).toEqual({ id: "admin-token", role: "admin", environments: "*", sources: "*", readEvents: true });
    for (const wrong of ["", "the-admin-tokeN", LONG("qa").slice(0, -1), `${LONG("qa")} `]) expect(authenticate(table, wrong)).toBeUndefined();
  });

  it("compares the digest of what was sent with every token's, in constant time, whichever matches", () => {
    for (const given of ["the-admin-token", LONG("ops"), "x", "y".repeat(500)]) {
      compares.length = 0;
      authenticate(table, given);
      expect(compares).toEqual(table.tokens.map(() => [32, 32]));
    }
  });

  it("without ADMIN_TOKEN or tokens, the table is empty", () => {
    expect(compileAccess(undefined, sources, {}, undefined).tokens).toEqual([]);
  });
});

describe("roles and scopes", () => {
  const p = (role: Principal["role"], readEvents: boolean, scope: string[] | "*" = "*"): Principal => ({ id: "t", role, environments: scope === "*" ? "*" : ["dev"], sources: scope, readEvents });
  const actions: Action[] = ["read.metadata", "read.events", "replay", "purge", "audit.read"];

  it.each([
    ["viewer", false, [true, false, false, false, false]],
    ["viewer", true, [true, true, false, false, false]],
    ["operator", true, [true, true, true, false, false]],
    ["operator", false, [true, false, true, false, false]],
    ["admin", true, [true, true, true, true, true]],
  ] as const)("%s (read_events %s)", (role, readEvents, allowed) => {
    expect(actions.map((a) => can(p(role, readEvents), a))).toEqual(allowed);
  });

  it("each role may do what the one below may, and more", () => {
    expect(ROLE_ACTIONS.viewer.every((a) => ROLE_ACTIONS.operator.includes(a))).toBe(true);
    expect(ROLE_ACTIONS.operator.every((a) => ROLE_ACTIONS.admin.includes(a))).toBe(true);
  });

  it("sees sources in scope, and destinations and plans only when every source feeding them is", () => {
    const config = {
      sources: [{ id: "web", environment: "prod", tracking_plan: "shop" }, { id: "ios", environment: "dev", tracking_plan: "app" }, { id: "android", environment: "dev", tracking_plan: "shop" }],
      destinations: [{ id: "all", sources: "*" }, { id: "mobile", sources: ["ios", "android"] }, { id: "mixed", sources: ["web", "ios"] }],
      plans: { shop: [], app: [] },
    } as never;
    const dev = p("viewer", false, ["ios", "android"]);
    expect(visible(dev, config)).toEqual({ sources: ["ios", "android"], destinations: ["mobile"], plans: ["app"], backstop: false });
    expect(visible(p("admin", true), config)).toEqual({ sources: ["web", "ios", "android"], destinations: ["all", "mobile", "mixed"], plans: ["shop", "app"], backstop: true });
    expect(describeScope(dev)).toBe("environments dev (sources ios, android)");
    expect(describeScope(p("admin", true))).toBe("all sources");
  });

  it("shows settings with secret references as written, and credential-like literals redacted", () => {
    expect(displaySettings({ url: "https://x.test", secret: "${env.HOOK_SECRET}", api_key: "sk_live_123", headers: { Authorization: "Bearer abc", accept: "json" } })).toEqual({
      url: "https://x.test",
      secret: "${env.HOOK_SECRET}",
      api_key: "[redacted]",
      headers: { Authorization: "[redacted]", accept: "json" },
    });
  });
});

describe("config revision", () => {
  it("hashes the config without its revision; the build adds time and commit", () => {
    const config = { version: 1 as const, origin: "filters", sources: [], destinations: [], filters: {}, sourceFilters: {} };
    const built = withRevision(config, new Date("2026-12-01T00:00:00Z"), "abc123");
    expect(built.revision).toEqual({ hash: configHash(config), built_at: "2026-12-01T00:00:00.000Z", commit: "abc123" });
    expect(configHash(built)).toBe(configHash(config));
    expect(configHash({ ...config, origin: "other" })).not.toBe(configHash(config));
    expect(withRevision(config, new Date(0), undefined).revision).not.toHaveProperty("commit");
  });
});

describe("CLI", () => {
  const conn = { url: "http://sluice.local", token: "t" };
  afterEach(() => vi.unstubAllGlobals());
  function stub(answer: unknown) {
    const calls: { url: string; auth: string | null; body?: unknown }[] = [];
    vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
      calls.push({ url, auth: new Headers(init.headers).get("authorization"), body: init.body ? JSON.parse(String(init.body)) : undefined });
      return new Response(JSON.stringify(answer), { status: 200 });
    });
    return calls;
  }

  it("whoami prints the token's id, role and scope", async () => {
    const calls = stub({ token: "qa", role: "viewer", environments: ["dev"], sources: ["ios"], read_events: true });
    const lines: string[] = [];
    expect(await whoamiCommand(conn, (l) => lines.push(l))).toBe(0);
    expect(calls).toEqual([{ url: "http://sluice.local/admin/whoami", auth: "Bearer t", body: undefined }]);
    expect(lines).toEqual(["qa: viewer; environments dev; sources ios; event bodies yes"]);
    expect(describeWhoAmI({ token: "admin-token", role: "admin", environments: "*", sources: "*", read_events: true })).toBe("admin-token: admin; environments all; sources all; event bodies yes");
  });

  it("takes the token from $SLUICE_TOKEN when --token is not given", async () => {
    const calls = stub({ token: "qa", role: "viewer", environments: "*", sources: "*", read_events: false });
    vi.stubEnv("SLUICE_TOKEN", "from-env");
    try {
      await whoamiCommand({ url: conn.url }, () => {});
    } finally {
      vi.unstubAllEnvs();
    }
    expect(calls[0]!.auth).toBe("Bearer from-env");
  });

  it("audit passes its filters and prints a table with the next page's cursor", async () => {
    const record = { id: 7, at: Date.parse("2026-12-01T10:00:00Z"), token: "ops", role: "operator", action: "replay quarantine", target: "POST /admin/quarantine/replay", filters: { source: "web" }, ip: "203.0.113.7", status: "done", counts: { replayed: 3 } };
    const calls = stub({ count: 1, records: [record], cursor: "7" });
    const lines: string[] = [];
    expect(await auditCommand({ ...conn, by: "ops", action: "replay", limit: "1" }, (l) => lines.push(l))).toBe(0);
    expect(calls[0]!.url).toBe("http://sluice.local/admin/audit?token=ops&action=replay&limit=1");
    expect(lines[0]).toContain("2026-12-01T10:00:00.000Z  ops    operator  replay quarantine  done    replayed=3");
    expect(lines[0]).toMatch(/1 shown; more with --cursor 7$/);
  });

  it.each(["replay", "purge"])("%s with no filter and no id asks for --all true, and then sends all: true", async (action) => {
    const calls = stub({ purged: 0, claimed: 0, replayed: 0, kept: 0, failed: 0, events: 0, remaining: 0, errors: [] });
    await expect(archiveCommand("dead-letters", [action], { ...conn, limit: "5" }, () => {})).rejects.toThrow(`refusing to ${action} everything: give filters, an id, or --all true`);
    expect(calls).toEqual([]);
    await archiveCommand("dead-letters", [action], { ...conn, all: "true" }, () => {});
    expect(calls[0]!.body).toMatchObject({ all: true });
    await archiveCommand("dead-letters", [action], { ...conn, source: "web" }, () => {});
    expect(calls[1]!.body).not.toHaveProperty("all");
  });

  it("token prints a new token of at least 32 characters and its SHA-256", async () => {
    const a = newToken();
    expect(a.token.length).toBeGreaterThanOrEqual(32);
    expect(a.sha256).toBe(sha(a.token));
    expect(newToken().token).not.toBe(a.token);
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((l: string) => void lines.push(l));
    try {
      expect(await main(["token"])).toBe(0);
    } finally {
      vi.restoreAllMocks();
    }
    const [, token, digest] = /^token: +(\S+)\nsha256: +([0-9a-f]{64})/.exec(lines[0]!) ?? [];
    expect(digest).toBe(sha(token!));
  });
});

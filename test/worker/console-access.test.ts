/**
 * The console with scoped operator tokens (docs/console.md, docs/access.md): any operator token signs in, every page
 * shows only what its scope reaches, actions its role lacks are hidden and refused with the API's message, the Live
 * socket sends bodies only with read_events, console actions are audited under the token's id, and a session ends
 * when its token is removed from config or its secret rotated. Tokens: test/worker/config/sluice.yaml (source ios is
 * the one dev source; dev-viewer is a dev viewer without read_events, qa one with it).
 */
import { createExecutionContext, env, SELF } from "cloudflare:test";
import config from "sluice-config";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { deadLetterShard } from "../../src/archive/dead-letters.ts";
import { quarantineShard } from "../../src/archive/quarantine.ts";
import type { AuditRecord } from "../../src/access/audit.ts";
import type { ArchiveEntry } from "../../src/storage/archive-object.ts";
import { principalById } from "../../src/http/console/auth.ts";
import { cookieValue, readSession } from "../../src/http/console/session.ts";

const ORIGIN = "http://sluice.test";
const TOKENS = {
  admin: "test-admin-token",
  "dev-viewer": "test-dev-viewer-token-0123456789abcdef0123456789",
  qa: "test-qa-token-0123456789abcdef0123456789",
  ops: "test-ops-token-0123456789abcdef0123456789",
  "dev-ops": "test-dev-ops-token-0123456789abcdef0123456789",
} as const;

const get = (path: string, headers: Record<string, string> = {}) => SELF.fetch(`${ORIGIN}${path}`, { headers, redirect: "manual" });
const postForm = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  SELF.fetch(`${ORIGIN}${path}`, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN, ...headers }, body: new URLSearchParams(fields).toString() });

async function signIn(who: keyof typeof TOKENS): Promise<{ cookie: string; csrf: string }> {
  const res = await postForm("/console/sign-in", { token: TOKENS[who] });
  expect(res.status, who).toBe(303);
  const cookie = res.headers.get("set-cookie")!.split(";")[0]!;
  const page = await (await get("/console/live", { cookie })).text();
  return { cookie, csrf: /name="csrf-token" content="([^"]+)"/.exec(page)![1]! };
}
async function text(path: string, cookie: string, status = 200): Promise<string> {
  const res = await get(path, { cookie });
  expect(res.status, path).toBe(status);
  return unescape(await res.text());
}
/** A page's text with JSX's escaping of quotes undone (messages name tokens in quotes). */
const unescape = (html: string) => html.replaceAll("&quot;", '"');

function entry(source: string, destination: string): ArchiveEntry {
  return { id: `ca-${source}-${destination}-${crypto.randomUUID().slice(0, 8)}`, at: Date.now() - 60_000, source, destination, name: "Seeded", category: "http_500", reason: "seeded", attempts: 1, events: 1, key: `console-access/missing-${crypto.randomUUID()}.json`, status: "stored" };
}
const shard = (name: string) => env.ARCHIVE.get(env.ARCHIVE.idFromName(name));
const seeded = { batched: entry("ios", "batched"), hook: entry("web", "hook"), ios: entry("ios", "-"), strict: entry("strict", "-") };

beforeAll(async () => {
  await shard(deadLetterShard("batched")).addMany([seeded.batched]);
  await shard(deadLetterShard("hook")).addMany([seeded.hook]);
  await shard(quarantineShard("ios")).addMany([seeded.ios]);
  await shard(quarantineShard("strict")).addMany([seeded.strict]);
});

describe("console: a dev-scoped viewer sees dev only", () => {
  it("signs in with its access token; Live lists only the dev source, and a prod source's page and socket are refused", async () => {
    const { cookie } = await signIn("dev-viewer");
    const live = await text("/console/live", cookie);
    expect(live).toContain('data-source="ios"');
    expect(live).toContain("dev-viewer (viewer)");
    expect(live).not.toContain("source=web");
    expect(live).not.toContain('href="/console/audit"');
    expect(await text("/console/live?source=web", cookie, 403)).toContain("outside the scope");
    const socket = await get("/console/live/web/socket", { cookie, upgrade: "websocket", origin: ORIGIN });
    expect(socket.status).toBe(403);
    expect(await socket.text()).toContain('source "web" is outside the scope of token "dev-viewer"');
  });

  it("Delivery, Dead letters, Tracking plan and Usage show only what dev's sources reach", async () => {
    const { cookie } = await signIn("dev-viewer");
    const delivery = await text("/console/delivery?window=1h", cookie);
    const shown = [...delivery.matchAll(/data-destination="([^"]+)"/g)].map((m) => m[1]).sort();
    expect(shown).toEqual(["batched", "flaky"]);
    const all = [...(await text("/console/delivery?window=1h", (await signIn("admin")).cookie)).matchAll(/data-destination="([^"]+)"/g)].map((m) => m[1]);
    expect(all).toEqual(expect.arrayContaining(["batched", "flaky", "hook", "inspect"]));

    const dead = await text("/console/dead-letters", cookie);
    expect(dead).toContain(seeded.batched.id);
    expect(dead).not.toContain(seeded.hook.id);
    expect([...dead.matchAll(/<option value="([^"]+)"/g)].map((m) => m[1]).sort()).toEqual(["batched", "flaky"]);

    const plan = await text("/console/plan", cookie);
    expect(plan).toContain(seeded.ios.id);
    expect(plan).not.toContain(seeded.strict.id);
    expect(plan).toContain("No source has a tracking plan.");

    const usage = await text("/console/usage", cookie);
    expect(usage).toContain("<h2>ios</h2>");
    expect(usage).not.toContain("<h2>web</h2>");
  });

  it("is offered no replay, purge or inspect, and is refused them with the API's message", async () => {
    const { cookie, csrf } = await signIn("dev-viewer");
    for (const page of ["/console/dead-letters", "/console/plan"]) {
      const html = await text(page, cookie);
      expect(html, page).not.toMatch(/>\s*(Replay|Purge)|Replay all|\/entry\//);
    }
    const replay = await postForm("/console/dead-letters/replay", { ids: seeded.batched.id, _csrf: csrf }, { cookie });
    expect(replay.status).toBe(403);
    expect(unescape(await replay.text())).toContain('token "dev-viewer" (role viewer) may not replay');
    for (const confirm of ["yes", ""]) {
      const purge = await postForm("/console/plan/purge", { ids: seeded.ios.id, confirm, _csrf: csrf }, { cookie });
      expect(purge.status, `confirm=${confirm}`).toBe(403);
      expect(unescape(await purge.text())).toContain('token "dev-viewer" (role viewer) may not purge');
    }
    expect(await text("/console/plan", cookie)).toContain(seeded.ios.id);
    expect(await text(`/console/dead-letters/entry/${seeded.batched.id}`, cookie, 403)).toContain("may not read.events");
  });

  it("gets Live events without their bodies; a token with read_events gets them", async () => {
    await env.LIVE.get(env.LIVE.idFromName("ios")).publish({ at: Date.now(), total: 1, records: [{ at: Date.now(), messageId: "ca-live-1", type: "track", name: "Secret Thing", json: '{"properties":{"email":"a@b.c"}}', findings: [], destinations: {} }] });
    const first = async (who: "dev-viewer" | "qa") => {
      const res = await get("/console/live/ios/socket", { cookie: (await signIn(who)).cookie, upgrade: "websocket", origin: ORIGIN, "x-sluice-live-bodies": "yes" });
      expect(res.status).toBe(101);
      const ws = res.webSocket!;
      const message = new Promise<{ records: Record<string, unknown>[] }>((resolve) => ws.addEventListener("message", (e) => resolve(JSON.parse(e.data as string))));
      ws.accept();
      const m = await message;
      ws.close();
      return m.records.find((r) => r.messageId === "ca-live-1")!;
    };
    // The header a browser sends is overwritten: the token decides.
    const meta = await first("dev-viewer");
    expect(meta).toMatchObject({ messageId: "ca-live-1", name: "Secret Thing", withheld: true });
    expect(meta).not.toHaveProperty("json");
    expect(await first("qa")).toMatchObject({ json: '{"properties":{"email":"a@b.c"}}' });
  });
});

describe("console: actions act with the operator's own token", () => {
  it("an operator's replay is audited under its token id; the audit page is the admin's only", async () => {
    const ops = await signIn("ops");
    const done = await postForm("/console/dead-letters/replay", { ids: seeded.hook.id, _csrf: ops.csrf }, { cookie: ops.cookie });
    expect(done.status).toBe(303);
    expect(new URL(done.headers.get("location")!, ORIGIN).searchParams.get("done")).toMatch(/^Replay: 1 claimed/);
    expect(await text("/console/dead-letters", ops.cookie)).not.toContain('href="/console/audit"');
    expect(await text("/console/audit", ops.cookie, 403)).toContain('token "ops" (role operator) may not audit.read');

    const admin = await signIn("admin");
    const page = await text("/console/audit?token=ops&action=replay", admin.cookie);
    expect(page).toContain('href="/console/audit"');
    expect(page).toContain("POST /admin/dead-letters/replay");
    expect(page).toContain(seeded.hook.id);
    const api = await SELF.fetch(`${ORIGIN}/admin/audit?token=ops&action=replay`, { headers: { authorization: `Bearer ${TOKENS.admin}` } });
    const records = ((await api.json()) as { records: AuditRecord[] }).records;
    const record = records.find((r) => JSON.stringify(r.filters).includes(seeded.hook.id))!;
    expect(record).toMatchObject({ token: "ops", role: "operator", action: "replay dead-letters", target: "POST /admin/dead-letters/replay", status: "done", counts: { claimed: 1 } });
    // "Replay all stored" of a dev-scoped operator: everything of its sources (the API needs "all": true for that).
    const devOps = await signIn("dev-ops");
    expect(await text("/console/plan", devOps.cookie)).toContain('name="all" value="yes"');
    const all = await postForm("/console/plan/replay", { all: "yes", _csrf: devOps.csrf }, { cookie: devOps.cookie });
    expect(all.status).toBe(303);
    expect(new URL(all.headers.get("location")!, ORIGIN).searchParams.get("done")).toMatch(/^Replay: 1 claimed/);
    const quarantine = (await (await SELF.fetch(`${ORIGIN}/admin/quarantine?limit=1000`, { headers: { authorization: `Bearer ${TOKENS.admin}` } })).json()) as { entries: ArchiveEntry[] };
    expect(quarantine.entries.find((e) => e.id === seeded.strict.id)).toMatchObject({ status: "stored" });
    const allRecord = ((await (await SELF.fetch(`${ORIGIN}/admin/audit?token=dev-ops`, { headers: { authorization: `Bearer ${TOKENS.admin}` } })).json()) as { records: AuditRecord[] }).records[0]!;
    // One claimed: the dev entry (its record is missing, so it fails and stays stored); strict's was never touched.
    expect(allRecord).toMatchObject({ token: "dev-ops", action: "replay quarantine", filters: { all: true }, counts: { claimed: 1, failed: 1 } });
    // Filters narrow the page: another token's records are not on it.
    expect(await text("/console/audit?token=dev-admin", admin.cookie)).not.toContain(seeded.hook.id);
  });
});

describe("console: a session lasts as long as its token", () => {
  it("ends when the token's secret is rotated, and when the token is removed from config", async () => {
    const { cookie } = await signIn("ops");
    const live = (bindings: typeof env) => worker.fetch!(new Request(`${ORIGIN}/console/live`, { headers: { cookie }, redirect: "manual" }) as never, bindings, createExecutionContext());
    expect((await live(env)).status).toBe(200);
    const newSecret = "test-ops-rotated-0123456789abcdef0123456789";
    const rotated = { ...env, ACCESS_OPS_TOKEN: newSecret } as typeof env;
    const ended = await live(rotated);
    expect(ended.status).toBe(303);
    expect(ended.headers.get("location")).toBe("/console/sign-in");
    // The new secret signs in; the old one no longer does.
    const signIn2 = (token: string) => worker.fetch!(new Request(`${ORIGIN}/console/sign-in`, { method: "POST", redirect: "manual", headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded" }, body: `token=${token}` }) as never, rotated, createExecutionContext());
    expect((await signIn2(newSecret)).status).toBe(303);
    expect((await signIn2(TOKENS.ops)).status).toBe(401);

    const value = cookieValue(cookie);
    expect((await readSession(env, value, (id) => principalById(id, env, config)))?.principal.id).toBe("ops");
    const removed = { ...config, access: { tokens: config.access!.tokens.filter((t) => t.id !== "ops") } };
    expect(await readSession(env, value, (id) => principalById(id, env, removed))).toBeUndefined();
  });

  it("without ADMIN_TOKEN, sign-in with an access token needs CONSOLE_SESSION_KEY, and the sign-in page says so", async () => {
    const noAdmin = { ...env, ADMIN_TOKEN: undefined } as unknown as typeof env;
    const call = (bindings: typeof env, init?: RequestInit) =>
      worker.fetch!(new Request(`${ORIGIN}/console/sign-in`, { redirect: "manual", ...init }) as never, bindings, createExecutionContext());
    const form = { method: "POST", headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded" }, body: `token=${TOKENS.ops}` };
    expect(await (await call(noAdmin)).text()).toContain("set the CONSOLE_SESSION_KEY secret");
    const refused = await call(noAdmin, form);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("set-cookie")).toBeNull();
    const keyed = { ...noAdmin, CONSOLE_SESSION_KEY: "test-console-session-key-0123456789abcdef" };
    const ok = await call(keyed, form);
    expect(ok.status).toBe(303);
    const cookie = ok.headers.get("set-cookie")!.split(";")[0]!;
    const live = await worker.fetch!(new Request(`${ORIGIN}/console/live`, { headers: { cookie }, redirect: "manual" }) as never, keyed, createExecutionContext());
    expect(live.status).toBe(200);
  });
});

/**
 * Operator access (docs/access.md) through the real worker: every admin route × every role (allowed, or 403 naming
 * what is missing), environment scoping of every list and count, the purge/replay-all guard, an audit record per
 * action, and an action refused when its audit record cannot be written. Tokens: test/worker/config/sluice.yaml
 * (source ios is the one dev source).
 */
import { createExecutionContext, env, SELF } from "cloudflare:test";
import config from "sluice-config";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { createApp } from "../../src/http/app.ts";
import { deadLetterShard } from "../../src/archive/dead-letters.ts";
import { quarantineShard } from "../../src/archive/quarantine.ts";
import { configHash } from "../../src/config/revision.ts";
import type { ArchiveEntry } from "../../src/storage/archive-object.ts";
import type { AuditRecord } from "../../src/access/audit.ts";
import { basic, eventually, IOS_KEY, post, WEB_KEY } from "./helpers.ts";

const TOKENS = {
  admin: "test-admin-token",
  viewer: "test-viewer-token-0123456789abcdef0123456789",
  qa: "test-qa-token-0123456789abcdef0123456789",
  ops: "test-ops-token-0123456789abcdef0123456789",
  "dev-ops": "test-dev-ops-token-0123456789abcdef0123456789",
  "dev-admin": "test-dev-admin-token-0123456789abcdef0123456789",
} as const;
type Who = keyof typeof TOKENS;
const WHO = Object.keys(TOKENS) as Who[];

function call(who: Who | string, method: string, path: string, body?: unknown): Promise<Response> {
  const token = who in TOKENS ? TOKENS[who as Who] : who;
  return SELF.fetch(`http://sluice.test${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": "203.0.113.7", ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
async function json<T>(who: Who, method: string, path: string, body?: unknown): Promise<T> {
  const res = await call(who, method, path, body);
  expect(res.status, `${who} ${method} ${path}: ${res.status}`).toBe(200);
  return (await res.json()) as T;
}

/**
 * Every admin route and what each token gets, in the order of WHO (admin, viewer, qa, ops, dev-ops, dev-admin):
 * A allowed (any answer but 401/403), F 403 forbidden (role or read_events), S 403 out_of_scope.
 * Replays and purges name ids no entry has: they run (and are audited) without touching anything.
 */
const ROUTES: [method: string, path: string, expected: string, body?: unknown][] = [
  ["GET", "/admin/whoami", "AAAAAA"],
  ["GET", "/admin/config", "AAAAAA"],
  ["GET", "/admin/audit", "AFFFFA"],
  ["GET", "/admin/stats", "AAAAAA"],
  ["GET", "/admin/metrics", "AAAAAA"],
  ["GET", "/admin/destinations/metrics", "AAAAAA"],
  ["GET", "/admin/usage", "AAAAAA"],
  ["GET", "/admin/plans", "AAAAAA"],
  ["GET", "/admin/plans/shop/stats", "AASASS"],
  ["GET", "/admin/destinations/inspect/events", "AFSASS"],
  ["GET", "/admin/dead-letters", "AAAAAA"],
  ["GET", "/admin/dead-letters/no-such-entry", "AFAAAA"],
  ["POST", "/admin/dead-letters/replay", "AFFAAA", { ids: ["no-such-entry"] }],
  ["POST", "/admin/dead-letters/purge", "AFFFFA", { ids: ["no-such-entry"] }],
  ["GET", "/admin/quarantine", "AAAAAA"],
  ["GET", "/admin/quarantine/no-such-entry", "AFAAAA"],
  ["POST", "/admin/quarantine/replay", "AFFAAA", { ids: ["no-such-entry"] }],
  ["POST", "/admin/quarantine/purge", "AFFFFA", { ids: ["no-such-entry"] }],
  ["GET", "/admin/alerts", "AAAAAA"],
  ["GET", "/admin/names?source=web", "AASASS"],
  ["GET", "/admin/dead-letters-backstop", "AASASS"],
  ["GET", "/admin/dead-letters-backstop/no-such-entry", "AFSASS"],
  ["POST", "/admin/dead-letters-backstop/no-such-entry/requeue", "AFFASS"],
];

type ErrorBody = { error: { code: string; message: string }; scope?: { token: string; role: string; sources: string[] | "*" } };

describe("access: every admin route × every role", () => {
  it("the table names every admin route the app serves", () => {
    const app = createApp({ pipeline: () => { throw new Error("not called"); }, kinds: {}, telemetry: undefined as never });
    const served = app.routes.filter((r) => r.path.startsWith("/admin/") && r.method !== "ALL").map((r) => `${r.method} ${r.path.replace(/:[a-z]+/g, ":id")}`);
    const tabled = ROUTES.map(([m, p]) => `${m} ${p.replace("no-such-entry", ":id").replace("/shop/", "/:id/").replace("/inspect/", "/:id/").replace(/\?.*$/, "")}`);
    expect([...new Set(served)].sort()).toEqual([...new Set(tabled)].sort());
  });

  it.each(ROUTES)("%s %s", async (method, path, expected, body) => {
    for (const [i, who] of WHO.entries()) {
      const res = await call(who, method, path, body);
      const want = expected[i];
      const label = `${who} ${method} ${path} → ${res.status}`;
      if (want === "A") {
        expect([401, 403], label).not.toContain(res.status);
        await res.body?.cancel();
        continue;
      }
      expect(res.status, label).toBe(403);
      const err = (await res.json()) as ErrorBody;
      expect(err.error.code, label).toBe(want === "F" ? "forbidden" : "out_of_scope");
      // The 403 names the token and its scope.
      expect(err.error.message).toContain(`token "${who === "admin" ? "admin-token" : who}"`);
      if (want === "S") expect(err.error.message).toContain("environments dev (sources ios)");
      expect(err.scope).toMatchObject({ token: who, sources: who.startsWith("dev-") || who === "qa" ? ["ios"] : "*" });
    }
  });

  it("records every replay, purge, requeue and read of event bodies it let through, with token, role, filters, counts and IP", async () => {
    // (The backstop's requeue of an id that is not there answers 404 before anything runs: nothing to record.)
    const audited = ROUTES.filter(([m, p]) => (m === "POST" && !p.includes("backstop")) || p.endsWith("/inspect/events"));
    for (const [method, path, expected, body] of audited) for (const [i, who] of WHO.entries()) if (expected[i] === "A") await call(who, method, path, body);
    const records = (await json<{ records: AuditRecord[] }>("admin", "GET", "/admin/audit?limit=1000")).records;
    for (const [method, path, expected] of audited) {
      for (const [i, who] of WHO.entries()) {
        const id = who === "admin" ? "admin-token" : who;
        const found = records.filter((r) => r.target === `${method} ${path}` && r.token === id);
        if (expected[i] !== "A") {
          expect(found, `${who} ${path}`).toEqual([]);
          continue;
        }
        expect(found.length, `${who} ${path}`).toBeGreaterThanOrEqual(1);
        const r = found[0]!;
        expect(r).toMatchObject({ role: who.endsWith("admin") ? "admin" : who.endsWith("ops") ? "operator" : "viewer", ip: "203.0.113.7" });
        expect(r.status).toBe("done");
      }
    }
    const purge = records.find((r) => r.target === "POST /admin/quarantine/purge" && r.token === "dev-admin")!;
    expect(purge).toMatchObject({ action: "purge quarantine", status: "done", filters: { ids: ["no-such-entry"] }, counts: { purged: 0 } });
    const replay = records.find((r) => r.target === "POST /admin/dead-letters/replay" && r.token === "ops")!;
    expect(replay).toMatchObject({ action: "replay dead-letters", status: "done" });
    expect(replay.counts).toEqual({ claimed: 0, replayed: 0, kept: 0, failed: 0, events: 0, remaining: 0 });
    const read = records.find((r) => r.target === "GET /admin/destinations/inspect/events" && r.token === "ops")!;
    expect(read).toMatchObject({ action: "read.events destination", status: "done", counts: { count: expect.any(Number) } });
    expect(read.finishedAt).toBeGreaterThanOrEqual(read.at);
  });
});

/** Entries seeded into the archive: two per source (ios is dev, web and strict prod), pointing at no R2 record. */
function entry(source: string, destination: string, n: number): ArchiveEntry {
  return { id: `acc-${source}-${destination}-${n}-${crypto.randomUUID().slice(0, 8)}`, at: Date.now() - 60_000 + n, source, destination, name: "Seeded", category: "http_500", reason: "seeded", attempts: 1, events: 1, key: `access-test/missing-${crypto.randomUUID()}.json`, status: "stored" };
}
const shard = (name: string) => env.ARCHIVE.get(env.ARCHIVE.idFromName(name));
type ArchiveList = { count: number; totals: { stored: number; replaying: number; replayed: number }; entries: ArchiveEntry[] };

async function seedArchives(): Promise<void> {
  await shard(deadLetterShard("batched")).addMany([entry("ios", "batched", 1), entry("ios", "batched", 2)]);
  await shard(deadLetterShard("hook")).addMany([entry("web", "hook", 1), entry("web", "hook", 2)]);
  await shard(quarantineShard("ios")).addMany([entry("ios", "-", 1), entry("ios", "-", 2)]);
  await shard(quarantineShard("strict")).addMany([entry("strict", "-", 1), entry("strict", "-", 2)]);
}

describe("access: a token scoped to environment dev sees dev data only, in every list and count", () => {
  beforeAll(async () => {
    await seedArchives();
    await post("/v1/track", { userId: "u-web", event: "Web Thing" }, { authorization: basic(WEB_KEY) });
    await post("/v1/track", { userId: "u-ios", event: "iOS Thing" }, { authorization: basic(IOS_KEY) });
    await eventually(async () => {
      const stats = await json<{ scopes: Record<string, unknown[]> }>("admin", "GET", "/admin/stats");
      return stats.scopes["source:web"]?.length && stats.scopes["source:ios"]?.length ? true : undefined;
    });
  });

  it("stats: only the dev source, the destinations fed by it alone; no prod source, plan or backstop", async () => {
    const all = Object.keys((await json<{ scopes: Record<string, unknown> }>("admin", "GET", "/admin/stats")).scopes);
    expect(all).toEqual(expect.arrayContaining(["source:web", "source:ios", "destination:hook", "plan:shop", "dead-letters:backstop"]));
    const qa = Object.keys((await json<{ scopes: Record<string, unknown> }>("qa", "GET", "/admin/stats")).scopes);
    expect(qa.sort()).toEqual(["destination:batched", "destination:flaky", "source:ios"]);
  });

  it("metrics: OpenMetrics text without any other source or destination", async () => {
    const all = await (await call("admin", "GET", "/admin/metrics")).text();
    const qa = await (await call("qa", "GET", "/admin/metrics")).text();
    const ids = (text: string) => [...new Set([...text.matchAll(/scope="([a-z-]+)",id="([a-z0-9:_-]+)"/g)].map((m) => `${m[1]}:${m[2]}`))].sort();
    expect(ids(all)).toEqual(expect.arrayContaining(["source:web", "source:ios"]));
    expect(all).toMatch(/destination="hook"/);
    // Destinations appear once they have counters (whether they do by now depends on earlier tests): only in-scope ones.
    expect(ids(qa)).toContain("source:ios");
    expect(ids(qa).every((id) => ["source:ios", "destination:batched", "destination:flaky"].includes(id))).toBe(true);
    expect(qa).not.toMatch(/destination="(?!batched"|flaky")/);
  });

  it("destination metrics: only destinations every source of which is in scope", async () => {
    const qa = await json<{ destinations: Record<string, unknown> }>("qa", "GET", "/admin/destinations/metrics");
    expect(Object.keys(qa.destinations).sort()).toEqual(["batched", "flaky"]);
    const all = await json<{ destinations: Record<string, unknown> }>("admin", "GET", "/admin/destinations/metrics");
    expect(Object.keys(all.destinations)).toEqual(config.destinations.map((d) => d.id));
  });

  it("alerts: rules (and their states and history) of in-scope sources and destinations only", async () => {
    const all = await json<{ rules: { id: string }[] }>("admin", "GET", "/admin/alerts");
    expect(all.rules.map((r) => r.id).sort()).toEqual(["ios-silent", "mtu-budget-metered"]);
    const qa = await json<{ rules: { id: string }[]; states: { rule: string }[]; history: { rule: string }[] }>("qa", "GET", "/admin/alerts");
    expect(qa.rules.map((r) => r.id)).toEqual(["ios-silent"]);
    expect([...qa.states, ...qa.history].every((e) => e.rule === "ios-silent")).toBe(true);
  });

  it("usage: its sources only; another source by name is 403 naming the scope", async () => {
    const qa = await json<{ sources: { source: string }[] }>("qa", "GET", "/admin/usage");
    expect(qa.sources.map((s) => s.source)).toEqual(["ios"]);
    const web = await call("qa", "GET", "/admin/usage?source=web");
    expect(web.status).toBe(403);
    expect(((await web.json()) as ErrorBody).error.message).toBe('source "web" is outside the scope of token "qa": environments dev (sources ios)');
  });

  it("plans and their violations: a plan of prod sources is neither listed nor readable", async () => {
    expect((await json<{ plans: { id: string }[] }>("admin", "GET", "/admin/plans")).plans.map((p) => p.id)).toContain("shop");
    expect((await json<{ plans: unknown[] }>("qa", "GET", "/admin/plans")).plans).toEqual([]);
    expect((await call("qa", "GET", "/admin/plans/shop/stats")).status).toBe(403);
  });

  it.each(["dead-letters", "quarantine"])("%s: entries and totals of dev sources only; a prod source filter is 403", async (archive) => {
    const all = await json<ArchiveList>("admin", "GET", `/admin/${archive}?limit=1000`);
    const qa = await json<ArchiveList>("qa", "GET", `/admin/${archive}?limit=1000`);
    expect(all.entries.some((e) => e.source !== "ios")).toBe(true);
    expect(qa.entries.length).toBeGreaterThanOrEqual(2);
    expect(qa.entries.every((e) => e.source === "ios")).toBe(true);
    const iosOf = (status: string) => all.entries.filter((e) => e.source === "ios" && e.status === status).length;
    expect(qa.totals).toEqual({ stored: iosOf("stored"), replaying: iosOf("replaying"), replayed: iosOf("replayed") });
    expect(qa.totals.stored).toBeLessThan(all.totals.stored);
    const other = all.entries.find((e) => e.source !== "ios")!;
    expect((await call("qa", "GET", `/admin/${archive}?source=${other.source}`)).status).toBe(403);
    // An entry of another environment, by id: 403 naming the scope (or, where its shard is out of reach, 404);
    // its body is never read.
    const shown = await call("qa", "GET", `/admin/${archive}/${other.id}?source=${other.source}`);
    expect(shown.status).toBe(403);
    const byIdOnly = await call("qa", "GET", `/admin/${archive}/${other.id}`);
    expect([403, 404]).toContain(byIdOnly.status);
    expect(await byIdOnly.text()).not.toContain('"record"');
  });

  it("a read of an entry's event body is recorded with the events it held", async () => {
    const mine = (await json<ArchiveList>("qa", "GET", "/admin/quarantine?limit=1")).entries[0]!;
    const shown = await json<{ entry: ArchiveEntry; record: unknown }>("qa", "GET", `/admin/quarantine/${mine.id}`);
    expect(Object.keys(shown).sort()).toEqual(["entry", "record"]);
    expect(shown.entry.id).toBe(mine.id);
    const { records } = await json<{ records: AuditRecord[] }>("admin", "GET", "/admin/audit?token=qa&action=read.events");
    expect(records[0]).toMatchObject({ action: "read.events quarantine", target: `GET /admin/quarantine/${mine.id}`, filters: { id: mine.id }, status: "done", counts: { events: 1 } });
  });

  it("config: the dev sources and destinations only, no write keys, secrets as their references", async () => {
    const qa = await json<{ revision: { hash: string }; sources: { id: string; write_keys: unknown }[]; destinations: { id: string }[]; access?: unknown }>("qa", "GET", "/admin/config");
    expect(qa.revision.hash).toBe(configHash(config));
    expect(qa.sources).toEqual([expect.objectContaining({ id: "ios", environment: "dev", write_keys: 1 })]);
    expect(qa.destinations.map((d) => d.id).sort()).toEqual(["batched", "flaky"]);
    expect(qa.access).toBeUndefined();
    const all = await json<{ destinations: { id: string; settings: Record<string, unknown> }[]; access: { id: string }[] }>("admin", "GET", "/admin/config");
    expect(all.destinations.find((d) => d.id === "hook")!.settings.secret).toBe("${env.HOOK_SECRET}");
    expect(JSON.stringify(all)).not.toContain("test-hook-secret");
    expect(JSON.stringify(all)).not.toContain(WEB_KEY);
    expect(all.access.map((t) => t.id)).toContain("qa");
    expect(JSON.stringify(all.access)).not.toMatch(/sha256|secret/);
  });

  it("whoami: id, role and scope of each token", async () => {
    expect(await json("qa", "GET", "/admin/whoami")).toEqual({ token: "qa", role: "viewer", environments: ["dev"], sources: ["ios"], read_events: true });
    expect(await json("viewer", "GET", "/admin/whoami")).toEqual({ token: "viewer", role: "viewer", environments: "*", sources: "*", read_events: false });
    expect(await json("admin", "GET", "/admin/whoami")).toMatchObject({ token: "admin-token", role: "admin", sources: "*" });
  });

  it("refuses a token whose secret is not set, and unknown tokens, with 401", async () => {
    expect((await call("", "GET", "/admin/whoami")).status).toBe(401);
    expect((await call("test-unset-token-0123456789abcdef0123456789", "GET", "/admin/whoami")).status).toBe(401);
  });
});

describe("access: replay and purge", () => {
  beforeAll(seedArchives);

  it.each([
    ["admin", "purge"],
    ["dev-admin", "purge"],
    ["ops", "replay"],
    ["dev-ops", "replay"],
  ] as const)("%s: a %s with no filter is 400 unless the body says \"all\": true, and nothing is touched", async (who, action) => {
    for (const archive of ["dead-letters", "quarantine"]) {
      const before = await json<ArchiveList>("admin", "GET", `/admin/${archive}?limit=1000`);
      for (const body of [{}, { limit: 5 }, { all: false }]) {
        const res = await call(who, "POST", `/admin/${archive}/${action}`, body);
        expect(res.status).toBe(400);
        expect(((await res.json()) as ErrorBody).error.code).toBe("filter_required");
      }
      expect((await json<ArchiveList>("admin", "GET", `/admin/${archive}?limit=1000`)).totals).toEqual(before.totals);
    }
  });

  it.each(["dead-letters", "quarantine"])("%s: a dev token's replay and purge of all reach dev entries only", async (archive) => {
    await seedArchives();
    const before = await json<ArchiveList>("admin", "GET", `/admin/${archive}?limit=1000&status=stored`);
    const ios = before.entries.filter((e) => e.source === "ios").length;
    const others = before.entries.length - ios;
    expect(ios).toBeGreaterThan(0);
    // The seeded records are not in R2: the replay claims them, fails them and leaves them stored.
    const replay = await json<{ claimed: number; failed: number }>("dev-ops", "POST", `/admin/${archive}/replay`, { all: true, limit: 500 });
    expect(replay).toMatchObject({ claimed: ios, failed: ios });
    const purged = await json<{ purged: number }>("dev-admin", "POST", `/admin/${archive}/purge`, { all: true });
    expect(purged.purged).toBe(ios);
    const after = await json<ArchiveList>("admin", "GET", `/admin/${archive}?limit=1000&status=stored`);
    expect(after.entries.filter((e) => e.source === "ios")).toEqual([]);
    expect(after.entries.length).toBe(others);
    // With a prod source named, the dev token is refused.
    const prod = before.entries.find((e) => e.source !== "ios")!.source;
    expect((await call("dev-admin", "POST", `/admin/${archive}/purge`, { source: prod })).status).toBe(403);
  });
});

describe("access: the audit trail", () => {
  it("refuses the action with 503 when its audit record cannot be written, and does nothing", async () => {
    await seedArchives();
    const failing = { get: () => ({ begin: () => Promise.reject(new Error("audit storage down")) }), idFromName: () => ({}) };
    const brokenEnv = { ...env, AUDIT: failing } as unknown as Env;
    const before = await json<ArchiveList>("admin", "GET", "/admin/quarantine?limit=1000&source=ios");
    const target = before.entries[0]!;
    for (const [method, path, body] of [
      ["POST", "/admin/quarantine/purge", { ids: [target.id] }],
      ["POST", "/admin/quarantine/replay", { ids: [target.id] }],
      ["GET", `/admin/quarantine/${target.id}`, undefined],
      ["GET", "/admin/destinations/inspect/events", undefined],
    ] as const) {
      const req = new Request(`http://sluice.test${path}`, { method, headers: { authorization: `Bearer ${TOKENS.admin}` }, body: body && JSON.stringify(body) });
      const res = await worker.fetch!(req as never, brokenEnv, createExecutionContext());
      expect(res.status, path).toBe(503);
      expect(((await res.json()) as ErrorBody).error.code).toBe("audit_unavailable");
    }
    const after = await json<ArchiveList>("admin", "GET", "/admin/quarantine?limit=1000&source=ios");
    expect(after.entries.find((e) => e.id === target.id)).toMatchObject({ status: "stored" });
    expect(after.totals).toEqual(before.totals);
  });

  it("lists by token and action, newest first, a page at a time", async () => {
    for (let i = 0; i < 3; i++) await call("dev-admin", "POST", "/admin/dead-letters/purge", { ids: [`page-${i}`] });
    const first = await json<{ records: AuditRecord[]; cursor?: string }>("admin", "GET", "/admin/audit?token=dev-admin&action=purge&limit=2");
    expect(first.records).toHaveLength(2);
    expect(first.records.every((r) => r.token === "dev-admin" && r.action.startsWith("purge"))).toBe(true);
    expect(first.records[0]!.id).toBeGreaterThan(first.records[1]!.id);
    const next = await json<{ records: AuditRecord[] }>("admin", "GET", `/admin/audit?token=dev-admin&action=purge&limit=2&cursor=${first.cursor}`);
    expect(next.records.length).toBeGreaterThanOrEqual(1);
    expect(next.records[0]!.id).toBeLessThan(first.records[1]!.id);
    const since = await json<{ records: AuditRecord[] }>("admin", "GET", `/admin/audit?from=${Date.now() + 60_000}`);
    expect(since.records).toEqual([]);
    expect((await call("admin", "GET", "/admin/audit?colour=red")).status).toBe(400);
  });

  it("keeps records 400 days and prunes what is older", async () => {
    const stub = env.AUDIT.get(env.AUDIT.idFromName("retention-test"));
    const day = 86_400_000;
    const now = Date.now();
    const start = (at: number, action: string) => ({ at, token: "t", role: "admin", action, target: "x", filters: {}, ip: "-" });
    await stub.begin(start(now - 401 * day, "old"));
    await stub.begin(start(now - 399 * day, "kept"));
    await stub.begin(start(now, "new"));
    const records: AuditRecord[] = await stub.list({ limit: 10 });
    expect(records.map((r) => r.action)).toEqual(["new", "kept"]);
  });
});

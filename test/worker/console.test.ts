/**
 * The console (src/http/console/) in workerd: no page, action or socket without a session; sign-in sets an
 * HttpOnly, Secure, SameSite=Strict cookie that holds no token; every POST needs the console's Origin and the
 * session's CSRF token; pages render from the real admin routes; the Live socket gets what the router publishes.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { routeIngest } from "./helpers.ts";
import { MAX_RECORDS_PER_BATCH } from "../../src/live/live.ts";
import { RING_SIZE } from "../../src/storage/live-object.ts";
import config from "sluice-config";
import { principalById } from "../../src/http/console/auth.ts";
import { newSession, readSession, SESSION_SECONDS } from "../../src/http/console/session.ts";

const ORIGIN = "http://sluice.test";
const ADMIN_TOKEN = "test-admin-token";
const PAGES = ["/console", "/console/live", "/console/delivery", "/console/plan", "/console/dead-letters", "/console/usage", "/console/plan/entry/x", "/console/dead-letters/entry/x"];
const ACTIONS = ["/console/plan/replay", "/console/plan/purge", "/console/dead-letters/replay", "/console/dead-letters/purge", "/console/sign-out"];

const get = (path: string, headers: Record<string, string> = {}) => SELF.fetch(`${ORIGIN}${path}`, { headers, redirect: "manual" });
const postForm = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  SELF.fetch(`${ORIGIN}${path}`, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN, ...headers }, body: new URLSearchParams(fields).toString() });

async function signIn(): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await postForm("/console/sign-in", { token: ADMIN_TOKEN });
  expect(res.status).toBe(303);
  const setCookie = res.headers.get("set-cookie")!;
  const cookie = setCookie.split(";")[0]!;
  const page = await (await get("/console/live", { cookie })).text();
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(page)![1]!;
  return { cookie, csrf, setCookie };
}

describe("console: nothing without a session", () => {
  it("sends every page to the sign-in page, and answers 401 to the socket and to every action", async () => {
    for (const path of PAGES) {
      const res = await get(path);
      expect(res.status, path).toBe(303);
      expect(res.headers.get("location"), path).toBe("/console/sign-in");
    }
    const socket = await get("/console/live/web/socket", { upgrade: "websocket", origin: ORIGIN });
    expect(socket.status).toBe(401);
    for (const path of ACTIONS) expect((await postForm(path, {})).status, path).toBe(401);
    const signInPage = await get("/console/sign-in");
    expect(signInPage.status).toBe(200);
    expect(await signInPage.text()).toContain('type="password"');
  });

  it("refuses a wrong token and a forged session cookie", async () => {
    const res = await postForm("/console/sign-in", { token: "not-the-token" });
    expect(res.status).toBe(401);
    expect(res.headers.get("set-cookie")).toBeNull();
    const { cookie } = await signIn();
    const [name, value] = cookie.split("=") as [string, string];
    const forged = `${name}=${value.replace(/^admin-token\.\d+/, `admin-token.${Date.now() + 365 * 86400_000}`)}`;
    expect((await get("/console/live", { cookie: forged })).status).toBe(303);
  });
});

describe("console: sessions", () => {
  it("expire, and end when the key they were signed with changes", async () => {
    const t0 = Date.UTC(2026, 0, 1);
    const lookup = (bindings: typeof env) => (id: string) => principalById(id, bindings, config);
    const admin = principalById("admin-token", env, config)!;
    const value = await newSession(env, admin, t0);
    expect((await readSession(env, value, lookup(env), t0 + 1000))?.principal).toMatchObject({ id: "admin-token", role: "admin" });
    expect(await readSession(env, value, lookup(env), t0 + SESSION_SECONDS * 1000)).toBeUndefined();
    const otherKey = { ...env, CONSOLE_SESSION_KEY: "another-key" };
    expect(await readSession(otherKey, value, lookup(otherKey), t0 + 1000)).toBeUndefined();
    const noAdmin = { ...env, ADMIN_TOKEN: undefined } as typeof env;
    expect(await readSession(noAdmin, value, lookup(noAdmin), t0 + 1000)).toBeUndefined();
    // Each session has its own CSRF token.
    const other = await newSession(env, admin, t0);
    expect((await readSession(env, other, lookup(env), t0))!.csrf).not.toBe((await readSession(env, value, lookup(env), t0))!.csrf);
  });
});

describe("console: sign-in and CSRF", () => {
  it("sets an HttpOnly, Secure, SameSite=Strict session cookie that does not hold the token", async () => {
    const { setCookie, cookie } = await signIn();
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/Secure/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).not.toContain(ADMIN_TOKEN);
    const live = await get("/console/live", { cookie });
    expect(live.status).toBe(200);
    expect(live.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(await live.text()).toContain("Live events");
  });

  it("refuses a cross-site sign-in and cross-site or token-less POSTs (403), accepts its own", async () => {
    expect((await postForm("/console/sign-in", { token: ADMIN_TOKEN }, { origin: "https://evil.example" })).status).toBe(403);
    const { cookie, csrf } = await signIn();
    // A forged cross-site form post: the browser would send the cookie only without SameSite=Strict; refused anyway.
    expect((await postForm("/console/dead-letters/purge", { ids: "x", confirm: "yes", _csrf: csrf }, { cookie, origin: "https://evil.example" })).status).toBe(403);
    expect((await postForm("/console/dead-letters/purge", { ids: "x", confirm: "yes" }, { cookie })).status).toBe(403);
    expect((await postForm("/console/dead-letters/purge", { ids: "x", confirm: "yes", _csrf: `${csrf}x` }, { cookie })).status).toBe(403);
    const withoutOrigin = await SELF.fetch(`${ORIGIN}/console/dead-letters/purge`, { method: "POST", redirect: "manual", headers: { cookie, "content-type": "application/x-www-form-urlencoded" }, body: `ids=x&confirm=yes&_csrf=${encodeURIComponent(csrf)}` });
    expect(withoutOrigin.status).toBe(403);
    // Its own: asks for confirmation first, then purges.
    const confirm = await postForm("/console/dead-letters/purge", { ids: "x", _csrf: csrf }, { cookie });
    expect(confirm.status).toBe(200);
    expect(await confirm.text()).toContain("Purge for good");
    const done = await postForm("/console/dead-letters/purge", { ids: "x", confirm: "yes", _csrf: csrf }, { cookie });
    expect(done.status).toBe(303);
    expect(new URL(done.headers.get("location")!, ORIGIN).searchParams.get("done")).toBe("Purged 0 entries.");
  });

  it("signs out: the cookie is removed", async () => {
    const { cookie, csrf } = await signIn();
    const res = await postForm("/console/sign-out", { _csrf: csrf }, { cookie });
    expect(res.status).toBe(303);
    expect(res.headers.get("set-cookie")).toMatch(/Max-Age=0/);
  });
});

describe("console: pages", () => {
  it("renders each page from the admin routes", async () => {
    const { cookie } = await signIn();
    await routeIngest("web", [{ messageId: "console-page-1" }]);
    const texts: Record<string, string> = {};
    for (const path of ["/console/delivery?window=1h", "/console/delivery?window=7d", "/console/plan", "/console/dead-letters", "/console/usage"]) {
      const res = await get(path, { cookie });
      expect(res.status, path).toBe(200);
      texts[path] = await res.text();
    }
    expect(texts["/console/delivery?window=1h"]).toContain("Delivery overview");
    expect(texts["/console/delivery?window=1h"]).toContain("<svg");
    expect(texts["/console/plan"]).toContain("shop");
    expect(texts["/console/usage"]).toContain("web");
    expect((await get("/console/delivery?window=2y", { cookie })).status).toBe(400);
  });

  // Source "ios": the router of this isolate has not asked about it yet (it asks at most every 10 s per source).
  it("streams what the router routes to a watching Live socket, with each destination's outcome", { timeout: 15_000 }, async () => {
    const { cookie } = await signIn();
    const res = await get("/console/live/ios/socket", { cookie, upgrade: "websocket", origin: ORIGIN });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const messages: { records?: { messageId: string; destinations: Record<string, { status: string }> }[]; lastMinute?: number; shownLastMinute?: number }[] = [];
    ws.accept();
    ws.addEventListener("message", (e) => messages.push(JSON.parse(e.data as string)));
    await routeIngest("ios", [
      { messageId: "console-live-1", event: "Live Test" },
      { messageId: "console-live-2", event: "Debug" },
    ]);
    const deadline = Date.now() + 5000;
    const seen = () => messages.flatMap((m) => m.records ?? []);
    while (seen().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const byId = Object.fromEntries(seen().map((r) => [r.messageId, r]));
    expect(byId["console-live-1"]!.destinations.inspect).toEqual({ status: "delivered" });
    // The app's source filter drops "Debug" for every destination, and says so.
    expect(Object.values(byId["console-live-2"]!.destinations).map((o) => o.status)).toEqual(Object.keys(byId["console-live-2"]!.destinations).map(() => "filtered"));
    // A batch larger than the router describes: the socket is told the true count beside what it shows.
    await routeIngest("ios", Array.from({ length: 40 }, (_, i) => ({ messageId: `console-many-${i}` })));
    while (!messages.some((m) => m.lastMinute === 42) && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 50));
    expect(messages.at(-1)).toMatchObject({ lastMinute: 42, shownLastMinute: 2 + MAX_RECORDS_PER_BATCH });
    ws.close();
    expect((await get("/console/live/web/socket", { cookie, upgrade: "websocket", origin: "https://evil.example" })).status).toBe(403);
  });

  it("keeps a bounded ring: a console that connects gets the newest RING_SIZE events, oldest first", async () => {
    const stub = env.LIVE.get(env.LIVE.idFromName("limited-a"));
    const record = (i: number) => ({ at: i, messageId: `ring-${i}`, type: "track", json: "{}", findings: [], destinations: {} });
    for (let b = 0; b < 6; b++) await stub.publish({ at: Date.now(), total: 100, records: Array.from({ length: 100 }, (_, i) => record(b * 100 + i)) });
    const { cookie } = await signIn();
    const res = await get("/console/live/limited-a/socket", { cookie, upgrade: "websocket", origin: ORIGIN });
    const ws = res.webSocket!;
    const first = new Promise<{ records: { messageId: string }[]; lastMinute: number }>((resolve) => ws.addEventListener("message", (e) => resolve(JSON.parse(e.data as string))));
    ws.accept();
    const message = await first;
    expect(message.records).toHaveLength(RING_SIZE);
    expect(message.records[0]!.messageId).toBe(`ring-${600 - RING_SIZE}`);
    expect(message.records.at(-1)!.messageId).toBe("ring-599");
    expect(message.lastMinute).toBe(600);
    ws.close();
  });
});

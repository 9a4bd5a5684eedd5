import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { basic, eventually, post, WEB_KEY } from "./helpers.ts";

const admin = (path: string, token = "test-admin-token") =>
  SELF.fetch(`http://sluice.test${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe("admin API", () => {
  it.each([
    ["no token", ""],
    ["a wrong token", "nope"],
  ])("answers 401 with %s", async (_, token) => {
    const res = await admin("/admin/stats", token);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
  });

  it("takes ADMIN_TOKEN exactly, whatever the length of what was sent (digests compared: test/unit/access.test.ts)", async () => {
    for (const [token, status] of [["test-admin-token", 200], ["test-admin-tokeN", 401], ["t", 401], ["test-admin-token-and-more", 401]] as const)
      expect((await admin("/admin/stats", token)).status).toBe(status);
  });

  it("counts accepted and rejected events per source, and routed events per destination", async () => {
    await post("/v1/batch", { batch: [{ type: "track", userId: "u", event: "A" }, { type: "track", userId: "u" }] }, { authorization: basic(WEB_KEY) });
    type Stats = { scopes: Record<string, { day: string; counters: Record<string, number> }[]> };
    const stats = await eventually(async () => {
      const json = (await (await admin("/admin/stats")).json()) as Stats;
      const web = json.scopes["source:web"]?.[0]?.counters;
      // `routed` is counted behind the queue, by the router.
      return web && web.accepted && web["rejected.missing_field"] && json.scopes["destination:hook"]?.[0]?.counters.routed ? json : undefined;
    });
    const web = stats.scopes["source:web"]![0]!.counters;
    expect(web.accepted).toBeGreaterThanOrEqual(1);
    expect(web["rejected.missing_field"]).toBeGreaterThanOrEqual(1);
    expect(stats.scopes["destination:hook"]?.[0]?.counters.routed).toBeGreaterThanOrEqual(1);
  });

  it("reads back the events an r2 destination stored, newest first", async () => {
    const messageId = `inspect-${crypto.randomUUID()}`;
    await post("/v1/identify", { userId: "u9", messageId, traits: { plan: "pro" } }, { authorization: basic(WEB_KEY) });
    const found = await eventually(async () => {
      const json = (await (await admin("/admin/destinations/inspect/events?limit=1000")).json()) as { events: { messageId: string }[] };
      return json.events.find((e) => e.messageId === messageId);
    });
    expect(found).toMatchObject({ type: "identify", userId: "u9", traits: { plan: "pro" } });
  });

  it("answers 404 for a destination that keeps no events", async () => {
    expect((await admin("/admin/destinations/hook/events")).status).toBe(404);
  });
});

/**
 * Tracking plans through the real worker: enforcement at ingest, quarantine (R2 + index), the admin API and
 * replay, violation reports and counters. The "strict" source (test/worker/config/sluice.yaml) checks events
 * against plans/shop.yaml with unplanned events blocked, unplanned properties omitted, violations quarantined
 * and COMMON violations blocked; its only webhook is plans-hook, and sources/strict.yaml drops "Internal Ping".
 */
import { env, SELF } from "cloudflare:test";
import type { ArchiveEntry } from "../../src/storage/archive-object.ts";
import { describe, expect, it } from "vitest";
import { quarantineShard, storeQuarantined, type QuarantineRecord } from "../../src/archive/quarantine.ts";
import { basic, eventually, post, routeIngest, storedEvents } from "./helpers.ts";
import { sink } from "./setup.ts";

const STRICT = basic("wk_test_strict");
const HOOK = "http://plans.test/events";
const REPORTS = "http://violations.test/events";
const uid = () => crypto.randomUUID().slice(0, 8);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const admin = (path: string, init: RequestInit & { token?: string } = {}) => {
  const { token = "test-admin-token", ...rest } = init;
  return SELF.fetch(`http://sluice.test${path}`, { ...rest, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json" } });
};
const adminJson = async <T>(path: string, init: RequestInit = {}): Promise<T> => {
  const res = await admin(path, init);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as T;
};

/** Webhook deliveries of one messageId (plans-hook posts one event per request). */
const deliveries = (messageId: string) => sink.requests.filter((r) => r.url === HOOK && JSON.parse(r.body).messageId === messageId);

const order = (messageId: string, properties: Record<string, unknown> = { order_id: "o1", revenue: 12.5, currency: "EUR" }, extra: Record<string, unknown> = {}) => ({
  type: "track",
  event: "Order Completed",
  userId: "u1",
  messageId,
  properties,
  ...extra,
});

type Entry = ArchiveEntry;
type Counters = Record<string, number>;
type Stats = { scopes: Record<string, { day: string; counters: Counters }[]> };

/** Counters of a scope summed over the days /admin/stats returns. */
function summed(stats: Stats, scope: string): Counters {
  const out: Counters = {};
  for (const d of stats.scopes[scope] ?? []) for (const [k, v] of Object.entries(d.counters)) out[k] = (out[k] ?? 0) + v;
  return out;
}
const sumPrefix = (c: Counters, prefix: string) => Object.entries(c).reduce((a, [k, v]) => (k.startsWith(prefix) ? a + v : a), 0);

async function quarantined(query: string): Promise<Entry[]> {
  return (await adminJson<{ entries: Entry[] }>(`/admin/quarantine?${query}`)).entries;
}
/** Entry id → its record's messageId: records never change, so each entry is shown (an audited read) once. */
const messageIds = new Map<string, string>();
async function entryFor(messageId: string): Promise<{ entry: Entry; record: QuarantineRecord }> {
  const show = (id: string) => adminJson<{ entry: Entry; record: QuarantineRecord }>(`/admin/quarantine/${id}?source=strict`);
  return eventually(async () => {
    for (const e of await quarantined("source=strict&limit=1000")) {
      if (e.status !== "stored") continue;
      const known = messageIds.get(e.id);
      if (known !== undefined && known !== messageId) continue;
      const shown = await show(e.id);
      messageIds.set(e.id, shown.record.event.messageId);
      if (shown.record.event.messageId === messageId) return shown;
    }
    return undefined;
  });
}

describe("nothing accepted vanishes without a counted reason", () => {
  // First in the file: no replay has yet routed events that were not accepted by a request.
  it("accepted = duplicates + routed or dropped by a filter + blocked + quarantined, for the strict source", async () => {
    const read = async () => {
      const stats = await adminJson<Stats>("/admin/stats");
      const source = summed(stats, "source:strict");
      const hook = summed(stats, "destination:plans-hook");
      return {
        accepted: source.accepted ?? 0,
        duplicates: source.duplicates ?? 0,
        outcomes: (hook.routed ?? 0) + sumPrefix(hook, "dropped.") + sumPrefix(source, "dropped.") + sumPrefix(source, "blocked.") + sumPrefix(source, "quarantined."),
        blocked: sumPrefix(source, "blocked."),
        quarantined: sumPrefix(source, "quarantined."),
        sourceDropped: sumPrefix(source, "dropped."),
        hookDropped: sumPrefix(hook, "dropped."),
      };
    };
    const before = await read();
    const id = uid();
    const batch = [
      order(`inv-${id}-valid`),
      order(`inv-${id}-omit`, { order_id: "o2", revenue: 3, debug: true }),
      order(`inv-${id}-bad`, { order_id: "o3", revenue: "3" }),
      { type: "track", event: "Mystery Event", userId: "u1", messageId: `inv-${id}-unplanned` },
      { type: "track", event: "Internal Ping", userId: "u1", messageId: `inv-${id}-ping` },
      { type: "identify", userId: "u1", messageId: `inv-${id}-locale`, context: { locale: "english" } },
      order(`inv-${id}-off`, undefined, { integrations: { "Plans Hook": false } }),
      order(`inv-${id}-valid`),
    ];
    const res = await post("/v1/batch", { batch }, { authorization: STRICT });
    // The edge accepts all eight; the router sets the resent one aside and counts every outcome.
    expect(await res.json()).toEqual({ success: true, accepted: 8 });

    const after = await eventually(async () => {
      const now = await read();
      const accepted = now.accepted - before.accepted;
      return accepted >= 8 && now.outcomes - before.outcomes + now.duplicates - before.duplicates === accepted ? now : undefined;
    });
    expect(after.accepted - before.accepted).toBe(8);
    expect(after.duplicates - before.duplicates).toBe(1);
    expect(after.outcomes - before.outcomes).toBe(7);
    expect(after.blocked - before.blocked).toBe(2);
    expect(after.quarantined - before.quarantined).toBe(1);
    expect(after.sourceDropped - before.sourceDropped).toBe(1); // Internal Ping
    expect(after.hookDropped - before.hookDropped).toBe(1); // integrations: Plans Hook off
    await eventually(async () => (deliveries(`inv-${id}-valid`).length === 1 && deliveries(`inv-${id}-omit`).length === 1 ? true : undefined));
  }, 20_000);
});

describe("enforcement at ingest", () => {
  it("delivers a planned event, with unplanned properties omitted and reported in context.protocols", async () => {
    const messageId = `omit-${uid()}`;
    const res = await post("/v1/track", order(messageId, { order_id: "o1", revenue: 9, debug: true }), { authorization: STRICT });
    expect(await res.json()).toEqual({ success: true, accepted: 1 });
    const [delivered] = await eventually(async () => (deliveries(messageId).length ? deliveries(messageId) : undefined));
    const event = JSON.parse(delivered!.body) as { properties: Record<string, unknown>; context: { protocols: unknown } };
    expect(event.properties).toEqual({ order_id: "o1", revenue: 9 });
    expect(event.context.protocols).toEqual({
      omitted: ["properties.debug"],
      omitted_on_violation: [],
      violations: [{ type: "Unplanned Property", field: "properties.debug", description: "properties.debug is not in the tracking plan" }],
    });
    // The other destinations of the source see the same event.
    const stored = await eventually(async () => (await storedEvents()).find((e) => e.messageId === messageId));
    expect(stored.properties).toEqual({ order_id: "o1", revenue: 9 });
  });

  it("quarantines a violating event: not delivered, listed in /admin/quarantine with its findings", async () => {
    const messageId = `bad-${uid()}`;
    const res = await post("/v1/track", order(messageId, { order_id: "o1", revenue: "12" }), { authorization: STRICT });
    expect(await res.json()).toEqual({ success: true, accepted: 1 });

    const { entry, record } = await entryFor(messageId);
    expect(entry).toMatchObject({ source: "strict", destination: "-", name: "Order Completed", category: "Invalid Type", attempts: 1, status: "stored" });
    expect(entry.reason).toContain("properties.revenue: expected number, got string");
    expect(record).toMatchObject({
      source: "strict",
      plan: { id: "shop", revision: expect.stringMatching(/^[0-9a-f]{12}$/) },
      rule: { type: "TRACK", key: "Order Completed", version: 1 },
      reason: "Violation",
      findings: [{ kind: "violation", type: "Invalid Type", field: "properties.revenue", description: "properties.revenue: expected number, got string" }],
      attempts: 1,
      // Intact: exactly as accepted, no context.protocols.
      event: { type: "track", event: "Order Completed", messageId, properties: { order_id: "o1", revenue: "12" } },
    });
    expect(record.event).not.toHaveProperty("context.protocols");
    expect(typeof record.receivedAt).toBe("string");
    // Stored as a line of the router batch's NDJSON object in R2.
    expect(entry.key).toMatch(new RegExp(`^quarantine/strict/${record.quarantinedAt.slice(0, 10)}/${record.quarantinedAt}-[0-9a-f-]{36}\\.ndjson#0$`));
    const line = (await (await env.BUCKET.get(entry.key.split("#")[0]!))!.text()).split("\n")[0]!;
    expect(JSON.parse(line)).toEqual(record);

    // Filters: by violation type and event name.
    expect((await quarantined("source=strict&category=Invalid%20Type&limit=1000")).map((e) => e.id)).toContain(entry.id);
    expect((await quarantined("source=strict&category=Required&limit=1000")).map((e) => e.id)).not.toContain(entry.id);
    expect((await quarantined("source=strict&name=Product&limit=1000")).map((e) => e.id)).not.toContain(entry.id);

    await sleep(1500);
    expect(deliveries(messageId)).toEqual([]);
    expect((await storedEvents()).find((e) => e.messageId === messageId)).toBeUndefined();
  });

  it("blocks unplanned events and COMMON violations, counted with their reason per source and plan", async () => {
    type PlanStats = { validated: number; blocked: Record<string, number>; sources: Record<string, { blocked: Record<string, number> }> };
    const before = await adminJson<PlanStats>("/admin/plans/shop/stats");
    const id = uid();
    const res = await post(
      "/v1/batch",
      {
        batch: [
          { type: "track", event: "Not In The Plan", userId: "u1", messageId: `blk-${id}-1` },
          { type: "identify", userId: "u1", messageId: `blk-${id}-2`, context: { locale: "EN" } },
        ],
      },
      { authorization: STRICT },
    );
    expect(await res.json()).toEqual({ success: true, accepted: 2 });
    const after = await eventually(async () => {
      const s = await adminJson<PlanStats>("/admin/plans/shop/stats");
      return (s.blocked.unplanned_event ?? 0) > (before.blocked.unplanned_event ?? 0) && (s.blocked.common_violation ?? 0) > (before.blocked.common_violation ?? 0) ? s : undefined;
    });
    expect(after.blocked.unplanned_event! - (before.blocked.unplanned_event ?? 0)).toBe(1);
    expect(after.blocked.common_violation! - (before.blocked.common_violation ?? 0)).toBe(1);
    expect(after.sources.strict!.blocked.unplanned_event).toBe(after.blocked.unplanned_event);
    expect(after.validated - before.validated).toBeGreaterThanOrEqual(2);
    // The raw counters: under the source and under the plan.
    const stats = await adminJson<Stats>("/admin/stats");
    expect(summed(stats, "source:strict")["blocked.unplanned_event"]).toBeGreaterThanOrEqual(1);
    expect(summed(stats, "plan:shop")["blocked.common_violation"]).toBeGreaterThanOrEqual(1);

    await sleep(1500);
    expect(deliveries(`blk-${id}-1`)).toEqual([]);
    expect(deliveries(`blk-${id}-2`)).toEqual([]);
    expect((await quarantined("source=strict&limit=1000")).find((e) => e.name === "Not In The Plan")).toBeUndefined();
  });

  it("sends a Violation Generated event per finding to the violation_reports destination", async () => {
    const messageId = `rep-${uid()}`;
    await post("/v1/track", order(messageId, { revenue: "12" }, { context: { app: { version: "2.1" } } }), { authorization: STRICT });
    const reports = await eventually(async () => {
      const found = sink.requests.filter((r) => r.url === REPORTS).map((r) => JSON.parse(r.body)).filter((e) => e.properties.eventMessageID === messageId);
      return found.length >= 2 ? found : undefined;
    });
    expect(reports.map((r) => r.properties.violationType).sort()).toEqual(["Invalid Type", "Required"]);
    expect(reports[0]).toMatchObject({
      type: "track",
      event: "Violation Generated",
      userId: "schema-violations",
      properties: { eventName: "Order Completed", eventType: "track", sourceID: "strict", trackingPlanID: "shop", appVersion: "2.1", action: "quarantine" },
    });
    expect(reports.find((r) => r.properties.violationType === "Required").properties).toMatchObject({ violationField: "properties.order_id", violationDescription: expect.stringContaining("order_id") });
  });

  it("retries the message when the quarantine cannot be stored, and commits nothing: the redelivery quarantines it", async () => {
    const messageId = `q503-${uid()}`;
    const event = order(messageId, { order_id: "o1", revenue: "1" });
    const bucketDown = {
      ...env,
      BUCKET: new Proxy(env.BUCKET, { get: (t, k) => (k === "put" ? async () => Promise.reject(new Error("r2 down")) : Reflect.get(t, k).bind(t)) }),
    };
    expect(await routeIngest("strict", [event], { env: bucketDown as unknown as Env })).toMatchObject({ acked: 0, retried: 1 });
    // Not committed: the redelivery is no duplicate.
    expect(await routeIngest("strict", [event], { attempts: 2 })).toMatchObject({ acked: 1, retried: 0 });
    await entryFor(messageId);
  });
});

describe("when a delivery outcome cannot be made durable", () => {
  it("takes the batch's quarantined events out again, so the redelivery leaves exactly one entry", async () => {
    const id = uid();
    const events = [order(`qd-${id}-ok`), order(`qd-${id}-bad`, { order_id: "o1", revenue: "1" })];
    // The hook fails and its retry cannot be queued: no durable outcome for the ok event.
    sink.responder = (r) => new Response("down", { status: r.url === HOOK ? 503 : 200 });
    const queueDown = { ...env, RETRIES: { send: async () => Promise.reject(new Error("queue down")), sendBatch: async () => Promise.reject(new Error("queue down")) } };
    expect(await routeIngest("strict", events, { env: queueDown as unknown as Env })).toMatchObject({ acked: 0, retried: 1 });

    sink.responder = undefined;
    expect(await routeIngest("strict", events, { attempts: 2 })).toMatchObject({ acked: 1, retried: 0 });
    // The healthy first attempt may deliver it twice (duplicates at most), never lose it.
    await eventually(async () => (deliveries(`qd-${id}-ok`).length >= 1 ? true : undefined));
    const entries = [];
    for (const e of await quarantined("source=strict&name=Order%20Completed&limit=1000")) {
      const { record } = await adminJson<{ record: QuarantineRecord }>(`/admin/quarantine/${e.id}?source=strict`);
      if (record.event.messageId === `qd-${id}-bad`) entries.push(e);
    }
    expect(entries).toHaveLength(1);
    // The failed attempt's R2 object went with its index rows.
    const texts = await Promise.all((await env.BUCKET.list({ prefix: "quarantine/strict/" })).objects.map(async (o) => (await env.BUCKET.get(o.key))!.text()));
    expect(texts.flatMap((t) => t.split("\n")).filter((l) => l.includes(`"qd-${id}-bad"`))).toHaveLength(1);
  });
});

describe("admin API over the quarantine", () => {
  it.each([
    ["no token", ""],
    ["a wrong token", "not-the-token"],
  ])("answers 401 with %s", async (_, token) => {
    for (const [path, method] of [["/admin/quarantine", "GET"], ["/admin/quarantine/replay", "POST"], ["/admin/quarantine/purge", "POST"], ["/admin/plans/shop/stats", "GET"]] as const) {
      const res = await admin(path, { method, token, ...(method === "POST" ? { body: "{}" } : {}) });
      expect(res.status, path).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    }
  });

  it("lists the plans with their revision and the sources that use them", async () => {
    const { plans } = await adminJson<{ plans: { id: string; revision: string; rules: number; sources: { id: string; enforcement: Record<string, string>; violation_reports?: string }[] }[] }>("/admin/plans");
    expect(plans).toEqual([
      {
        id: "shop",
        revision: expect.stringMatching(/^[0-9a-f]{12}$/),
        rules: 5,
        sources: [{ id: "strict", enforcement: { unplanned_events: "block", unplanned_properties: "omit", violations: "quarantine", common_violations: "block" }, violation_reports: "violations-hook" }],
      },
    ]);
    expect((await admin("/admin/plans/nope/stats")).status).toBe(404);
  });
});

describe("replay", () => {
  /** Stores a record as an earlier plan revision would have (the current plan lets its event through). */
  async function quarantinedByEarlierPlan(messageId: string): Promise<QuarantineRecord> {
    const at = new Date(Date.now() - 60_000).toISOString();
    const record: QuarantineRecord = {
      id: crypto.randomUUID(),
      source: "strict",
      plan: { id: "shop", revision: "000000000000" },
      rule: { type: "TRACK", key: "Order Completed", version: 1 },
      reason: "Violation",
      findings: [{ kind: "violation", type: "Required", field: "properties.gift_wrap", description: "properties.gift_wrap is required" }],
      receivedAt: at,
      quarantinedAt: at,
      attempts: 1,
      event: { ...order(messageId), type: "track", receivedAt: at, timestamp: at },
    };
    await storeQuarantined(env.BUCKET, env.ARCHIVE, [record]);
    return record;
  }

  it("delivers an event the current plan passes exactly once, even when two replays run at once", async () => {
    const messageId = `rp-${uid()}`;
    const record = await quarantinedByEarlierPlan(messageId);
    const replay = () => admin("/admin/quarantine/replay", { method: "POST", body: JSON.stringify({ source: "strict", ids: [record.id] }) });
    const pages = (await Promise.all([replay(), replay()]).then((rs) => Promise.all(rs.map((r) => r.json())))) as { claimed: number; replayed: number; kept: number; asOf: number }[];
    expect(pages.map((p) => p.replayed).sort()).toEqual([0, 1]);
    expect(pages.map((p) => p.claimed).sort()).toEqual([0, 1]);
    expect(pages.every((p) => typeof p.asOf === "number")).toBe(true);

    await eventually(async () => (deliveries(messageId).length > 0 ? true : undefined));
    // Replaying again finds nothing to hand on.
    const again = (await (await replay()).json()) as { claimed: number; replayed: number };
    expect(again).toMatchObject({ claimed: 0, replayed: 0 });
    await sleep(1500);
    expect(deliveries(messageId)).toHaveLength(1);
    expect(JSON.parse(deliveries(messageId)[0]!.body)).toMatchObject({ messageId, properties: { order_id: "o1", revenue: 12.5 } });

    const shown = await adminJson<{ entry: Entry }>(`/admin/quarantine/${record.id}?source=strict`);
    expect(shown.entry.status).toBe("replayed");
    const planStats = await eventually(async () => {
      const s = await adminJson<{ replayed: number }>("/admin/plans/shop/stats");
      return s.replayed >= 1 ? s : undefined;
    });
    expect(planStats.replayed).toBeGreaterThanOrEqual(1);
  });

  it("keeps an event that still fails quarantined, as a new entry with its new findings", async () => {
    const messageId = `still-${uid()}`;
    await post("/v1/track", order(messageId, { order_id: "o1", revenue: "12", currency: "euro" }), { authorization: STRICT });
    const { entry } = await entryFor(messageId);

    const page = await adminJson<{ claimed: number; replayed: number; kept: number; failed: number; remaining: number }>("/admin/quarantine/replay", {
      method: "POST",
      body: JSON.stringify({ source: "strict", ids: [entry.id] }),
    });
    expect(page).toMatchObject({ claimed: 1, replayed: 0, kept: 1, failed: 0 });

    const old = await adminJson<{ entry: Entry }>(`/admin/quarantine/${entry.id}?source=strict`);
    expect(old.entry.status).toBe("replayed");
    const renewed = await entryFor(messageId);
    expect(renewed.entry.id).not.toBe(entry.id);
    expect(renewed.entry).toMatchObject({ attempts: 2, status: "stored", category: "Invalid Type,Pattern" });
    expect(renewed.record).toMatchObject({ replayOf: entry.id, attempts: 2, reason: "Violation" });
    expect(renewed.record.findings.map((f) => f.field).sort()).toEqual(["properties.currency", "properties.revenue"]);

    await sleep(1500);
    expect(deliveries(messageId)).toEqual([]);
    const stats = await eventually(async () => {
      const s = summed(await adminJson<Stats>("/admin/stats"), "plan:shop");
      return (s["requarantined.violation"] ?? 0) >= 1 ? s : undefined;
    });
    expect(stats["requarantined.violation"]).toBeGreaterThanOrEqual(1);
  });

  it("reports violations and counts findings on replay as ingest does", async () => {
    const messageId = `rep-${uid()}`;
    const reportsOf = () => sink.requests.filter((r) => r.url === REPORTS).map((r) => JSON.parse(r.body)).filter((e) => e.properties.eventMessageID === messageId);
    const planCounters = async () => summed(await adminJson<Stats>("/admin/stats"), "plan:shop");
    await post("/v1/track", order(messageId, { order_id: "o1", revenue: "12", currency: "euro" }), { authorization: STRICT });
    const { entry } = await entryFor(messageId);
    await eventually(async () => (reportsOf().length >= 2 ? true : undefined));
    // Ingest's counters are flushed (coalesced, about a second) before the baseline is read.
    await sleep(1500);
    const before = await planCounters();

    const page = await adminJson<{ kept: number }>("/admin/quarantine/replay", { method: "POST", body: JSON.stringify({ source: "strict", ids: [entry.id] }) });
    expect(page.kept).toBe(1);
    // The replay checked the event again and found the same two violations: two more reports, counted.
    const reports = await eventually(async () => (reportsOf().length >= 4 ? reportsOf() : undefined), 5000);
    expect(reports.map((r) => r.properties.violationType).sort()).toEqual(["Invalid Type", "Invalid Type", "Pattern", "Pattern"]);
    const after = await eventually(async () => {
      const c = await planCounters();
      return (c.violation_reports ?? 0) >= (before.violation_reports ?? 0) + 2 ? c : undefined;
    });
    expect(after.validated! - (before.validated ?? 0)).toBeGreaterThanOrEqual(1);
    expect(after["violations.invalid_type"]! - (before["violations.invalid_type"] ?? 0)).toBeGreaterThanOrEqual(1);
    expect(after["requarantined.violation"]! - (before["requarantined.violation"] ?? 0)).toBeGreaterThanOrEqual(1);
  }, 20_000);

  it("takes only what was stored before the replay started, so still-failing events are not replayed in a loop", async () => {
    const messageId = `loop-${uid()}`;
    await post("/v1/track", order(messageId, { revenue: "x" }), { authorization: STRICT });
    await entryFor(messageId);
    // A page over everything stored for the source: the entries it stores again are newer than its asOf.
    const page = await adminJson<{ kept: number; asOf: number; remaining: number }>("/admin/quarantine/replay", { method: "POST", body: JSON.stringify({ source: "strict", name: "Order Completed", limit: 500 }) });
    expect(page.kept).toBeGreaterThanOrEqual(1);
    const next = await adminJson<{ claimed: number; remaining: number }>("/admin/quarantine/replay", {
      method: "POST",
      body: JSON.stringify({ source: "strict", name: "Order Completed", to: page.asOf, limit: 500 }),
    });
    expect(next).toMatchObject({ claimed: 0, remaining: 0 });
    const stored = await quarantined(`source=strict&status=stored&limit=1000`);
    expect(stored.every((e) => e.at > page.asOf)).toBe(true);
  });

  it("purges quarantined entries and their R2 records", async () => {
    const messageId = `purge-${uid()}`;
    await post("/v1/track", order(messageId, { revenue: "x" }), { authorization: STRICT });
    const { entry } = await entryFor(messageId);
    const purged = await adminJson<{ purged: number }>("/admin/quarantine/purge", { method: "POST", body: JSON.stringify({ source: "strict", ids: [entry.id] }) });
    expect(purged.purged).toBe(1);
    expect((await admin(`/admin/quarantine/${entry.id}?source=strict`)).status).toBe(404);
    expect(await env.BUCKET.head(entry.key.split("#")[0]!)).toBeNull();
    // The index lives in the source's shard.
    expect(quarantineShard("strict")).toBe("quarantine:strict");
  });

  it("stores a router batch's quarantined events in one R2 object, kept until its last entry is purged", async () => {
    const id = uid();
    const ids = [0, 1, 2].map((i) => `bundle-${id}-${i}`);
    const res = await post("/v1/batch", { batch: ids.map((m) => order(m, { order_id: "o1", revenue: "x" })) }, { authorization: STRICT });
    expect(await res.json()).toEqual({ success: true, accepted: 3 });
    const entries = await Promise.all(ids.map(async (m) => (await entryFor(m)).entry));
    const objects = new Set(entries.map((e) => e.key.split("#")[0]));
    expect(objects.size).toBe(1);
    expect(entries.map((e) => e.key.split("#")[1]).sort()).toEqual(["0", "1", "2"]);
    const [object] = [...objects] as [string];

    const purge = (ids: string[]) => adminJson<{ purged: number }>("/admin/quarantine/purge", { method: "POST", body: JSON.stringify({ source: "strict", ids }) });
    expect((await purge([entries[0]!.id])).purged).toBe(1);
    expect(await env.BUCKET.head(object)).not.toBeNull();
    const rest = await adminJson<{ record: QuarantineRecord }>(`/admin/quarantine/${entries[2]!.id}?source=strict`);
    expect(rest.record.event.messageId).toBe(ids[2]);
    expect((await purge([entries[1]!.id, entries[2]!.id])).purged).toBe(2);
    expect(await env.BUCKET.head(object)).toBeNull();
  });
});

import { describe, expect, it } from "vitest";
import type { Problem } from "../../src/config/schema.ts";
import { uuidFor } from "../../src/delivery/stable-hash.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { posthogChecker, posthogItems } from "../../test/support/vendors/posthog.ts";
import { checkedFetch, vendorContext } from "../../test/support/vendor-fetch.ts";
import type { Responder } from "../../test/support/vendors/stand-in.ts";
import { posthog, type PosthogSettings } from "./index.ts";

const T = "2026-04-26T09:15:29.000Z";
const UUID = "0f8fad5b-d9cb-469f-a165-70867728950e";

function ev(fields: Record<string, unknown>, n = 1): SluiceEvent {
  return { type: "track", messageId: `m-${n}`, receivedAt: T, timestamp: T, userId: "u-1", ...fields } as SluiceEvent;
}

function settings(raw: Record<string, unknown> = {}): { value?: PosthogSettings; problems: Problem[] } {
  const problems: Problem[] = [];
  const value = posthog.settings.check({ api_key: "phc_test", host: "https://ph.test", ...raw }, [], problems);
  return { value, problems };
}

async function deliver(events: SluiceEvent[], respond?: Responder, raw: Record<string, unknown> = {}) {
  const vendor = checkedFetch(posthogChecker("phc_test"), respond);
  const results = await posthog.deliver(events, vendorContext(settings(raw).value!, vendor.fetch, () => Date.parse(T)));
  return { results, vendor, items: vendor.requests.flatMap(posthogItems) };
}

describe("posthog settings", () => {
  it("defaults the host to PostHog US and rejects unknown keys and bad hosts, located", () => {
    const problems: Problem[] = [];
    expect(posthog.settings.check({ api_key: "phc_x" }, [], problems)).toEqual({ api_key: "phc_x", host: "https://us.i.posthog.com", geoip_disable: false, historical_migration: false, group_type: "company", timeout_ms: 10_000 });
    expect(settings({ project: "1" }).problems).toEqual([{ path: ["project"], message: expect.stringContaining('unknown key "project"') }]);
    expect(settings({ host: "us.i.posthog.com" }).problems[0]!.path).toEqual(["host"]);
    expect(settings({ api_key: "${env.POSTHOG_KEY}" }).problems).toEqual([]);
  });
});

describe("posthog mapping", () => {
  it("posts a batch as PostHog's capture docs show: {api_key, batch: [{event, distinct_id, properties, timestamp, uuid}]}", async () => {
    const { results, vendor } = await deliver([ev({ event: "Order Completed", messageId: UUID, properties: { revenue: 42, currency: "EUR" } })]);
    expect(results).toEqual([{ ok: true }]);
    expect(vendor.problems).toEqual([]);
    expect(vendor.requests[0]!.url.href).toBe("https://ph.test/batch/");
    expect(vendor.requests[0]!.json).toEqual({
      api_key: "phc_test",
      batch: [{ event: "Order Completed", distinct_id: "u-1", properties: { revenue: 42, currency: "EUR", distinct_id: "u-1" }, timestamp: T, uuid: UUID }],
    });
  });

  it("flags batches historical_migration when asked", async () => {
    const { vendor } = await deliver([ev({ event: "old" })], undefined, { historical_migration: true });
    expect(vendor.problems).toEqual([]);
    expect(vendor.requests[0]!.json).toMatchObject({ api_key: "phc_test", historical_migration: true, batch: [{ event: "old" }] });
  });

  it("maps page, screen, identify, group and alias to PostHog's $ events", async () => {
    const { items, vendor } = await deliver(
      [
        ev({ type: "page", name: "Pricing", anonymousId: "a-1", userId: undefined, properties: { plan: "pro" }, context: { page: { url: "https://x.test/pricing?a=1", path: "/pricing", title: "Pricing", referrer: "https://g.test/" } } }, 1),
        ev({ type: "screen", name: "Home" }, 2),
        ev({ type: "identify", anonymousId: "a-1", traits: { email: "a@b.test", plan: "pro" } }, 3),
        ev({ type: "group", groupId: "acme", traits: { name: "Acme", seats: 10 } }, 4),
        ev({ type: "alias", previousId: "a-1" }, 5),
      ],
      undefined,
      { group_type: "organization" },
    );
    expect(vendor.problems).toEqual([]);
    expect(items.map((i) => [i.event, i.distinct_id])).toEqual([["$pageview", "a-1"], ["$screen", "u-1"], ["$identify", "u-1"], ["$groupidentify", "u-1"], ["$create_alias", "u-1"]]);
    expect(items[0]!.properties).toEqual({ plan: "pro", $current_url: "https://x.test/pricing?a=1", $pathname: "/pricing", $title: "Pricing", $referrer: "https://g.test/", distinct_id: "a-1" });
    expect(items[1]!.properties).toMatchObject({ $screen_name: "Home" });
    expect(items[2]!.properties).toEqual({ $set: { email: "a@b.test", plan: "pro" }, $anon_distinct_id: "a-1", distinct_id: "u-1" });
    expect(items[3]!.properties).toEqual({ $group_type: "organization", $group_key: "acme", $group_set: { name: "Acme", seats: 10 }, distinct_id: "u-1" });
    expect(items[4]!.properties).toEqual({ alias: "a-1", distinct_id: "u-1" });
  });

  it("maps context as PostHog's $ properties and utm_*, and sets $geoip_disable when asked", async () => {
    const context = {
      ip: "203.0.113.7",
      userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
      os: { name: "macOS", version: "14.4" },
      device: { type: "desktop", manufacturer: "Apple", model: "MacBookPro18,3" },
      library: { name: "analytics.js", version: "5.2.0" },
      app: { name: "Shop", version: "3.1.0", build: "310" },
      locale: "de-DE",
      timezone: "Europe/Berlin",
      screen: { width: 1512, height: 982 },
      campaign: { name: "spring", source: "newsletter", medium: "email", term: "shoes", content: "hero" },
    };
    const { items } = await deliver([ev({ event: "x", context }), ev({ event: "y", context: { userAgent: "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/124.0 Safari/537.36 Edg/124.0" } }, 2)], undefined, { geoip_disable: true });
    expect(items[0]!.properties).toEqual({
      $ip: "203.0.113.7", $raw_user_agent: context.userAgent, $browser: "Chrome", $os: "macOS", $os_version: "14.4", $device_type: "Desktop",
      $device_manufacturer: "Apple", $device_model: "MacBookPro18,3", $lib: "analytics.js", $lib_version: "5.2.0", $app_name: "Shop", $app_version: "3.1.0",
      $app_build: "310", $browser_language: "de-DE", $timezone: "Europe/Berlin", $screen_width: 1512, $screen_height: 982,
      utm_source: "newsletter", utm_medium: "email", utm_term: "shoes", utm_content: "hero", utm_campaign: "spring", $geoip_disable: true, distinct_id: "u-1",
    });
    expect(items[1]!.properties.$browser).toBe("Microsoft Edge");
  });

  it("keeps a UUID messageId as the uuid and turns any other into the same UUID every time", () => {
    expect(uuidFor(UUID.toUpperCase())).toBe(UUID);
    const derived = uuidFor("ajs-next-1714561200000-abc");
    expect(derived).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(uuidFor("ajs-next-1714561200000-abc")).toBe(derived);
    expect(uuidFor("ajs-next-1714561200000-abd")).not.toBe(derived);
    const many = new Set(Array.from({ length: 10_000 }, (_, i) => uuidFor(`m-${i}`)));
    expect(many.size).toBe(10_000);
  });
});

describe("posthog requests", () => {
  it("fails a whole batch the way errors.ts classifies its status, and network errors retryably", async () => {
    for (const [reply, expected] of [
      [{ status: 429, headers: { "retry-after": "3" } }, { retryable: true, status: 429, retryAfterSeconds: 3 }],
      [{ status: 502 }, { retryable: true, status: 502 }],
      [{ status: 408 }, { retryable: true, status: 408 }],
      [{ status: 401, body: '{"type":"authentication_error","detail":"Project API key invalid."}' }, { retryable: false, status: 401, message: expect.stringContaining("Project API key invalid") }],
      [{ status: 0 }, { retryable: true, code: "network" }],
    ] as const) {
      const { results } = await deliver([ev({ event: "a" }, 1), ev({ event: "b" }, 2)], () => reply);
      expect(results).toEqual([
        { ok: false, error: expect.objectContaining(expected) },
        { ok: false, error: expect.objectContaining(expected) },
      ]);
    }
  });

  it("fails alone an event it cannot send and keeps every request within 1,000 events", async () => {
    const events = [ev({ userId: undefined, event: "nobody" }, 0), ...Array.from({ length: 2500 }, (_, i) => ev({ event: "e", properties: { i } }, i + 1))];
    const { results, vendor, items } = await deliver(events);
    expect(results[0]).toMatchObject({ ok: false, error: { code: "missing_identity", retryable: false } });
    expect(results.slice(1).every((r) => r.ok)).toBe(true);
    expect(vendor.requests.map((r) => posthogItems(r).length)).toEqual([1000, 1000, 500]);
    expect(new Set(items.map((i) => i.uuid)).size).toBe(2500);
  });

  it("never throws on odd events: missing fields, unicode, 32 KB properties, deep nesting", async () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 60; i++) deep = { deep };
    const odd = [
      ev({ event: undefined }, 1),
      ev({ type: "group", groupId: undefined }, 2),
      ev({ type: "alias", previousId: undefined }, 3),
      ev({ event: "Ünïcødé ✓ 🚀", properties: { "ключ": "значение 🚀" } }, 4),
      ev({ event: "big", properties: { blob: "x".repeat(32 * 1024) } }, 5),
      ev({ event: "deep", properties: deep, context: "nope" }, 6),
      ev({ type: "page", properties: [], context: { page: null } }, 7),
      ev({ event: "proto", properties: JSON.parse('{"__proto__": {"polluted": true}, "kept": 1}') }, 8),
    ];
    const { results, vendor } = await deliver(odd);
    expect(vendor.problems).toEqual([]);
    expect(results.map((r) => r.ok)).toEqual([false, false, false, true, true, true, true, true]);
    const proto = vendor.requests.flatMap(posthogItems).find((i) => i.event === "proto")!;
    expect(Object.hasOwn(proto.properties, "__proto__")).toBe(true);
    expect(proto.properties.kept).toBe(1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

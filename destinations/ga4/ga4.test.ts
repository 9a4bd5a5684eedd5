import { describe, expect, it } from "vitest";
import type { Problem } from "../../src/config/schema.ts";
import { PermanentError, RetryableError } from "../../src/delivery/errors.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { ga4Checker, ga4Events } from "../../test/support/vendors/ga4.ts";
import { checkedFetch, vendorContext } from "../../test/support/vendor-fetch.ts";
import type { Responder } from "../../test/support/vendors/stand-in.ts";
import { ga4, type Ga4Settings } from "./index.ts";
import { clientIdFor, ECOMMERCE, snakeName } from "./map.ts";

const T = "2026-04-26T09:15:29.000Z";
const T_MICROS = Date.parse(T) * 1000;

function ev(fields: Record<string, unknown>, n = 1): SluiceEvent {
  return { type: "track", messageId: `m-${n}`, receivedAt: T, timestamp: T, anonymousId: "anon-1", ...fields } as SluiceEvent;
}

function settings(raw: Record<string, unknown> = {}): { value?: Ga4Settings; problems: Problem[] } {
  const problems: Problem[] = [];
  const value = ga4.settings.check({ measurement_id: "G-TEST123", api_secret: "s3cret", endpoint: "https://ga.test", ...raw }, [], problems);
  return { value, problems };
}

async function deliver(events: SluiceEvent[], respond?: Responder, raw: Record<string, unknown> = {}) {
  const cfg = settings(raw).value!;
  const vendor = checkedFetch(ga4Checker({ measurementId: cfg.measurement_id, firebaseAppId: cfg.firebase_app_id, apiSecret: "s3cret" }), respond);
  const results = await ga4.deliver(events, vendorContext(cfg, vendor.fetch, () => Date.parse(T)));
  return { results, vendor };
}

describe("ga4 settings", () => {
  it("takes a web stream with defaults and rejects unknown keys and a missing or doubled stream id, located", () => {
    expect(settings().value).toEqual({ measurement_id: "G-TEST123", api_secret: "s3cret", endpoint: "https://ga.test", validate: false, timeout_ms: 10_000 });
    expect(settings({ region: "eu" }).problems).toEqual([{ path: ["region"], message: expect.stringContaining('unknown key "region"') }]);
    expect(settings({ firebase_app_id: "1:123:android:abc" }).problems).toEqual([{ path: ["measurement_id"], message: expect.stringContaining("exactly one") }]);
    const none: Problem[] = [];
    expect(ga4.settings.check({ api_secret: "x" }, ["settings"], none)).toBeUndefined();
    expect(none[0]!.path).toEqual(["settings", "measurement_id"]);
    expect(settings({ endpoint: "ftp://x" }).problems[0]!.path).toEqual(["endpoint"]);
  });
});

describe("ga4 mapping", () => {
  it("maps Order Completed to purchase as GA4's purchase example has it (transaction_id, value, currency, tax, shipping, coupon, items)", async () => {
    const { results, vendor } = await deliver([
      ev({
        userId: "u-1",
        event: "Order Completed",
        properties: {
          order_id: "T_12345",
          revenue: "30.03",
          tax: 4.9,
          shipping: 5.99,
          currency: "usd",
          coupon: "SUMMER_FUN",
          products: [
            { product_id: "SKU_12345", name: "Stan and Friends Tee", brand: "Google", category: "Apparel", variant: "green", price: 9.99, quantity: 1, position: 0 },
            { sku: "SKU_12346", name: "Google Grey Women's Tee", price: 20.99, quantity: 1 },
            { note: "neither id nor name: left out" },
          ],
        },
      }),
    ]);
    expect(results).toEqual([{ ok: true }]);
    expect(vendor.problems).toEqual([]);
    const req = vendor.requests[0]!;
    expect(req.url.pathname).toBe("/mp/collect");
    expect(Object.fromEntries(req.url.searchParams)).toEqual({ measurement_id: "G-TEST123", api_secret: "s3cret" });
    expect(req.json).toEqual({
      client_id: "anon-1",
      user_id: "u-1",
      timestamp_micros: T_MICROS,
      events: [
        {
          name: "purchase",
          timestamp_micros: T_MICROS,
          params: {
            transaction_id: "T_12345",
            value: 30.03,
            currency: "USD",
            tax: 4.9,
            shipping: 5.99,
            coupon: "SUMMER_FUN",
            items: [
              { item_id: "SKU_12345", item_name: "Stan and Friends Tee", index: 0, item_brand: "Google", item_category: "Apparel", item_variant: "green", price: 9.99, quantity: 1 },
              { item_id: "SKU_12346", item_name: "Google Grey Women's Tee", price: 20.99, quantity: 1 },
            ],
            engagement_time_msec: 1,
          },
        },
      ],
    });
  });

  it("maps every Segment ecommerce event of the table to its GA4 event", async () => {
    const table: Record<string, string> = {
      "Products Searched": "search", "Product List Viewed": "view_item_list", "Product Clicked": "select_item", "Product Viewed": "view_item",
      "Product Added": "add_to_cart", "Product Removed": "remove_from_cart", "Cart Viewed": "view_cart", "Checkout Started": "begin_checkout",
      "Payment Info Entered": "add_payment_info", "Order Completed": "purchase", "Order Refunded": "refund", "Promotion Viewed": "view_promotion",
      "Promotion Clicked": "select_promotion", "Product Added to Wishlist": "add_to_wishlist", "Signed Up": "sign_up", "Signed In": "login",
    };
    expect(Object.fromEntries(Object.entries(ECOMMERCE).map(([k, v]) => [k, v.name]))).toEqual(table);
    const events = Object.keys(table).map((name, i) => ev({ event: name, properties: { product_id: "p1", name: "Tee", price: 5, query: "tee", type: "google", payment_method: "card", promotion_id: "promo", creative: "banner" } }, i));
    const { results, vendor } = await deliver(events);
    expect(results.every((r) => r.ok)).toBe(true);
    const sent = vendor.requests.flatMap(ga4Events);
    expect(sent.map((e) => e.name)).toEqual(Object.values(table));
    const by = Object.fromEntries(sent.map((e) => [e.name, e.params]));
    expect(by.search).toMatchObject({ search_term: "tee" });
    expect(by.add_to_cart).toMatchObject({ value: 5, items: [{ item_id: "p1", item_name: "Tee", price: 5 }] });
    expect(by.sign_up).toMatchObject({ method: "google" });
    expect(by.add_payment_info).toMatchObject({ payment_type: "card" });
    expect(by.view_promotion).toMatchObject({ promotion_id: "promo", promotion_name: "Tee", creative_slot: "banner" });
  });

  it("maps page to page_view with location, title and referrer, and names custom events in snake_case", async () => {
    const { vendor } = await deliver([
      ev({ type: "page", name: "Home", properties: { title: "Welcome" }, context: { page: { url: "https://shop.test/?q=1", referrer: "https://search.test/" } } }, 1),
      ev({ event: "Video Played", properties: { videoId: "v1", seconds: 12, premium: true, meta: { a: 1 }, tags: ["x"], none: null } }, 2),
    ]);
    const [page, video] = vendor.requests.flatMap(ga4Events);
    expect(page).toMatchObject({ name: "page_view", params: { page_location: "https://shop.test/?q=1", page_title: "Welcome", page_referrer: "https://search.test/", engagement_time_msec: 1 } });
    expect(video).toMatchObject({ name: "video_played", params: { video_id: "v1", seconds: 12, premium: "true", engagement_time_msec: 1 } });
    expect(Object.keys(video!.params)).not.toEqual(expect.arrayContaining(["meta"]));
    expect(video!.params).not.toHaveProperty("tags");
    expect(video!.params).not.toHaveProperty("none");
  });

  it("keeps names and values within GA4's limits and fails alone the event GA4 would drop", async () => {
    expect(snakeName("Checkout Step Completed With A Very Long Name Indeed", 40)).toBe("checkout_step_completed_with_a_very_long");
    expect(snakeName("2FA Enabled!", 40)).toBe("e_2fa_enabled");
    expect(snakeName("Ünïcödé Évent", 40)).toBe("unicode_event");
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`p${i}`, "x".repeat(300)]));
    const { results, vendor } = await deliver([ev({ event: "Big", properties: many }, 1), ev({ event: "session_start" }, 2), ev({ event: "!!!" }, 3), ev({ event: "ok" }, 4)]);
    expect(vendor.problems).toEqual([]);
    const [big, ok] = vendor.requests.flatMap(ga4Events);
    expect(Object.keys(big!.params)).toHaveLength(25);
    expect(big!.params.p0).toBe("x".repeat(100));
    expect(ok!.name).toBe("ok");
    expect(results[1]).toMatchObject({ ok: false, error: { code: "reserved_name", retryable: false } });
    expect(results[2]).toMatchObject({ ok: false, error: { code: "invalid_name", retryable: false } });
  });

  it("sends identify's traits as user properties only, on the request of the same client", async () => {
    const { results, vendor } = await deliver([
      ev({ type: "identify", userId: "u-1", traits: { plan: "pro", email: "a@b.test", nested: { x: 1 }, first_open_time: 1, longValue: "y".repeat(50) } }, 1),
      ev({ userId: "u-1", event: "Signed In", properties: { method: "sso" } }, 2),
      ev({ type: "identify", userId: "u-2", anonymousId: "anon-2", traits: { plan: "free" } }, 3),
    ]);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(vendor.problems).toEqual([]);
    const bodies = vendor.requests.map((r) => r.json as Record<string, unknown>);
    expect(bodies).toHaveLength(2);
    expect(bodies[0]).toMatchObject({ client_id: "anon-1", user_id: "u-1", user_properties: { plan: { value: "pro", timestamp_micros: T_MICROS }, email: { value: "a@b.test" }, long_value: { value: "y".repeat(36) } } });
    expect(bodies[0]!.user_properties).not.toHaveProperty("nested");
    expect(bodies[0]!.user_properties).not.toHaveProperty("first_open_time");
    expect((bodies[0]!.events as { name: string }[]).map((e) => e.name)).toEqual(["login"]);
    expect(bodies[1]).toMatchObject({ client_id: "anon-2", user_properties: { plan: { value: "free" } }, events: [] });
  });

  it("never merges more than 25 user properties into one request: a client's identifies are split when they would", async () => {
    const traits = (from: number) => Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`t${from + i}`, i]));
    const { vendor } = await deliver([ev({ type: "identify", traits: traits(0) }, 1), ev({ type: "identify", traits: traits(5) }, 2), ev({ type: "identify", traits: traits(15) }, 3), ev({ event: "x" }, 4)]);
    expect(vendor.problems).toEqual([]);
    const sizes = vendor.requests.map((r) => Object.keys((r.json as { user_properties?: object }).user_properties ?? {}).length);
    expect(sizes).toEqual([20, 15]);
    expect(vendor.requests.flatMap(ga4Events).map((e) => e.name)).toEqual(["x"]);
  });

  it("derives a stable client_id from the userId without an anonymousId, and uses app_instance_id for app streams", async () => {
    expect(clientIdFor("u-9")).toBe(clientIdFor("u-9"));
    expect(clientIdFor("u-9")).not.toBe(clientIdFor("u-8"));
    expect(clientIdFor("u-9")).toMatch(/^\d+\.\d+$/);
    const web = await deliver([ev({ anonymousId: undefined, userId: "u-9", event: "x" })]);
    expect((web.vendor.requests[0]!.json as { client_id: string }).client_id).toBe(clientIdFor("u-9"));
    const app = await deliver([ev({ event: "x", context: { ip: "203.0.113.9", device: { id: "f1e2d3c4b5a6f1e2d3c4b5a6f1e2d3c4", type: "ios" }, os: { name: "iOS", version: "17.1" }, locale: "en-US" } })], undefined, { measurement_id: undefined, firebase_app_id: "1:1234:ios:abcd" });
    expect(app.vendor.problems).toEqual([]);
    expect(app.vendor.requests[0]!.url.search).toBe("?firebase_app_id=1:1234:ios:abcd&api_secret=s3cret");
    expect(app.vendor.requests[0]!.json).toMatchObject({ app_instance_id: "f1e2d3c4b5a6f1e2d3c4b5a6f1e2d3c4", ip_override: "203.0.113.9", device: { category: "mobile", operating_system: "iOS", operating_system_version: "17.1", language: "en-US" } });
  });
});

describe("ga4 requests", () => {
  it("never puts more than 25 events or two clients in one request", async () => {
    const events = Array.from({ length: 90 }, (_, i) => ev({ anonymousId: `anon-${i % 3}`, userId: i % 3 === 0 ? undefined : `u-${i % 3}`, event: "Tick", properties: { n: i } }, i));
    const { results, vendor } = await deliver(events);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(vendor.problems).toEqual([]);
    for (const req of vendor.requests) {
      const sent = ga4Events(req);
      expect(sent.length).toBeLessThanOrEqual(25);
      expect(new Set(sent.map((e) => `${e.client}|${e.user_id}`)).size).toBe(1);
    }
    const ns = vendor.requests.flatMap(ga4Events).map((e) => e.params.n);
    expect(ns.sort((a, b) => Number(a) - Number(b))).toEqual(events.map((_, i) => i));
    // Ordered by client before being cut: 30 events per client → 25 + 5, 20 + 10, 15 + 15 (6 requests, not 12),
    // and each client's events still in their order.
    expect(ga4.maxEventsPerCall(settings().value!)).toBe(100);
    expect(vendor.requests).toHaveLength(6);
    for (const client of ["anon-0", "anon-1", "anon-2"]) {
      const mine = vendor.requests.flatMap(ga4Events).filter((e) => e.client === client).map((e) => Number(e.params.n));
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
      expect(mine).toHaveLength(30);
    }
  });

  it("classifies answers per client request: 429 with Retry-After, 5xx retried, 4xx final, network retried, the rest delivered", async () => {
    const byClient: Record<string, Parameters<Responder>[0] extends never ? never : { status: number; headers?: Record<string, string> }> = {
      "anon-429": { status: 429, headers: { "retry-after": "7" } },
      "anon-503": { status: 503 },
      "anon-400": { status: 400 },
      "anon-net": { status: 0 },
    };
    const events = ["anon-ok", "anon-429", "anon-503", "anon-400", "anon-net"].map((a, i) => ev({ anonymousId: a, event: "x" }, i));
    const { results } = await deliver(events, (req) => byClient[(req.json as { client_id: string }).client_id]);
    expect(results[0]).toEqual({ ok: true });
    expect(results[1]).toMatchObject({ ok: false, error: { retryable: true, status: 429, retryAfterSeconds: 7 } });
    expect(results[2]).toMatchObject({ ok: false, error: { retryable: true, status: 503 } });
    expect(results[3]).toMatchObject({ ok: false, error: { retryable: false, status: 400 } });
    expect(results[4]).toMatchObject({ ok: false, error: { retryable: true, code: "network" } });
    expect((results[1] as { error: unknown }).error).toBeInstanceOf(RetryableError);
    expect((results[3] as { error: unknown }).error).toBeInstanceOf(PermanentError);
  });

  it("with validate: true, fails for good the events the validation server names and sends the rest", async () => {
    const { results, vendor } = await deliver(
      [ev({ event: "fine" }, 1), ev({ event: "bad" }, 2), ev({ event: "fine_too" }, 3)],
      (req) =>
        req.url.pathname === "/debug/mp/collect"
          ? { status: 200, body: JSON.stringify({ validationMessages: [{ fieldPath: "events[1].params", description: "Event param [x] has an invalid value.", validationCode: "VALUE_INVALID" }] }) }
          : undefined,
      { validate: true },
    );
    expect(vendor.requests.map((r) => r.url.pathname)).toEqual(["/debug/mp/collect", "/mp/collect"]);
    expect(ga4Events(vendor.requests[1]!).map((e) => e.name)).toEqual(["fine", "fine_too"]);
    expect(results[0]).toEqual({ ok: true });
    expect(results[1]).toMatchObject({ ok: false, error: { retryable: false, code: "invalid_event", message: expect.stringContaining("invalid value") } });
    expect(results[2]).toEqual({ ok: true });

    // The collect request failing afterwards retries only what validation let through.
    const down = await deliver(
      [ev({ event: "bad" }, 1), ev({ event: "fine" }, 2)],
      (req) => (req.url.pathname === "/debug/mp/collect" ? { status: 200, body: JSON.stringify({ validationMessages: [{ fieldPath: "events[0].name", description: "bad name" }] }) } : { status: 0 }),
      { validate: true },
    );
    expect(down.results[0]).toMatchObject({ ok: false, error: { retryable: false, code: "invalid_event" } });
    expect(down.results[1]).toMatchObject({ ok: false, error: { retryable: true, code: "network" } });
  });

  it("fails for good, rather than losing, events older than the 72 hours GA4 takes", async () => {
    const old = new Date(Date.parse(T) - 73 * 3600_000).toISOString();
    const { results, vendor } = await deliver([ev({ event: "late", timestamp: old }, 1), ev({ event: "fresh" }, 2), ev({ type: "identify", timestamp: old, traits: { plan: "x" } }, 3)]);
    expect(results[0]).toMatchObject({ ok: false, error: { retryable: false, code: "too_old", message: expect.stringContaining("72 hours") } });
    expect(results.slice(1)).toEqual([{ ok: true }, { ok: true }]);
    expect(vendor.requests.flatMap(ga4Events).map((e) => e.name)).toEqual(["fresh"]);
  });

  it("never throws on odd events: missing fields, unicode, 32 KB properties, deep nesting", async () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 60; i++) deep = { deep };
    const odd = [
      { type: "track", messageId: "o1", receivedAt: T, timestamp: "not a time" },
      ev({ event: "Ünïcødé ✓ 🚀", properties: { "ключ": "значение 🚀".repeat(30) } }, 2),
      ev({ event: "Big", properties: { blob: "x".repeat(32 * 1024) } }, 3),
      ev({ event: "Deep", properties: deep }, 4),
      ev({ type: "page", properties: null, context: "nope" }, 5),
      ev({ type: "identify", traits: [] }, 6),
    ] as SluiceEvent[];
    const { results, vendor } = await deliver(odd);
    expect(results).toHaveLength(odd.length);
    expect(vendor.problems).toEqual([]);
    expect(results[0]).toMatchObject({ ok: false, error: { code: "missing_identity" } });
    expect(results.slice(1).every((r) => r.ok)).toBe(true);
  });
});

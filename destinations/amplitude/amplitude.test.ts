/** Amplitude requests and answers as its HTTP V2 API reference shows them (/2/httpapi, 200/400/429 bodies). */
import { describe, expect, it } from "vitest";
import type { EventResult } from "../../src/delivery/destination.ts";
import { PermanentError, RetryableError } from "../../src/delivery/errors.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { checkedSettings, json, recordingFetch, vendorContext, type Responder } from "../../test/support/vendor-fetch.ts";
import { amplitude } from "./index.ts";

const RAW = { api_key: "${env.AMPLITUDE_KEY}", endpoint: "https://amp.test/" };
const OK = { code: 200, events_ingested: 1, payload_size_bytes: 50, server_upload_time: 1396381378123 };

function ev(fields: Record<string, unknown>): SluiceEvent {
  return { type: "track", event: "E", messageId: "m-1", timestamp: "2026-11-23T11:00:00.000Z", receivedAt: "2026-11-23T11:00:01.000Z", ...fields } as SluiceEvent;
}

async function run(events: SluiceEvent[], respond: Responder = () => json(200, OK), raw: Record<string, unknown> = RAW) {
  const { fetch, requests } = recordingFetch(respond);
  const results = await amplitude.deliver(events, vendorContext(checkedSettings(amplitude, raw), fetch));
  return { results, requests, bodies: requests.map((r) => JSON.parse(r.body) as { api_key: string; events: Record<string, any>[]; options: unknown }) };
}

const codes = (results: EventResult[]) => results.map((r) => (r.ok ? "ok" : r.error.code));
const ids = (events: Record<string, any>[]) => events.map((e) => e.insert_id);

describe("amplitude", () => {
  it("posts {api_key, events, options} to /2/httpapi with Amplitude's event fields", async () => {
    const event = ev({
      event: "Order Completed",
      userId: "u-1",
      anonymousId: "a-1",
      properties: { revenue: 20, price: 10, quantity: 2, product_id: "sku-1", color: "red" },
      context: {
        ip: "203.0.113.9",
        locale: "fr-FR",
        userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        campaign: { source: "google", medium: "cpc", name: "spring" },
        page: { referrer: "https://google.com/" },
        app: { version: "1.2.3" },
        location: { country: "France", city: "Lyon", latitude: 45.76, longitude: 4.83 },
        network: { carrier: "Orange" },
        library: { name: "analytics.js", version: "2.1.0" },
        traits: { plan: "pro" },
      },
    });
    const { requests, bodies, results } = await run([event]);
    expect(results).toEqual([{ ok: true }]);
    expect(requests[0]!.url).toBe("https://amp.test/2/httpapi");
    expect(bodies[0]!.api_key).toBe("secret:AMPLITUDE_KEY");
    expect(bodies[0]!.options).toEqual({ min_id_length: 1 });
    expect(bodies[0]!.events).toEqual([
      {
        user_id: "u-1",
        device_id: "a-1",
        time: Date.parse("2026-11-23T11:00:00.000Z"),
        insert_id: "m-1",
        ip: "203.0.113.9",
        platform: "Web",
        os_name: "Mobile Safari",
        os_version: "18.1",
        carrier: "Orange",
        country: "France",
        city: "Lyon",
        location_lat: 45.76,
        location_lng: 4.83,
        language: "fr-FR",
        app_version: "1.2.3",
        library: "sluice/analytics.js/2.1.0",
        event_type: "Order Completed",
        event_properties: { revenue: 20, price: 10, quantity: 2, product_id: "sku-1", color: "red" },
        user_properties: {
          $set: { utm_source: "google", utm_medium: "cpc", utm_campaign: "spring", referrer: "https://google.com/", plan: "pro" },
          $setOnce: { initial_utm_source: "google", initial_utm_medium: "cpc", initial_utm_campaign: "spring", initial_referrer: "https://google.com/" },
        },
        revenue: 20,
        price: 10,
        quantity: 2,
        productId: "sku-1",
      },
    ]);
  });

  it("uses the region's host unless endpoint is set", async () => {
    for (const [region, url] of [["us", "https://api2.amplitude.com/2/httpapi"], ["eu", "https://api.eu.amplitude.com/2/httpapi"]]) {
      const { requests } = await run([ev({ userId: "u" })], undefined, { api_key: "k", region });
      expect(requests[0]!.url).toBe(url);
    }
  });

  it("identify → $identify with user_properties.$set; group → groups and group_properties; page → Viewed <name>", async () => {
    const { bodies } = await run([
      ev({ messageId: "i", type: "identify", userId: "u-1", traits: { email: "a@b.c", plan: "pro" } }),
      ev({ messageId: "g", type: "group", userId: "u-1", groupId: "acme", traits: { name: "Acme", group_type: "company" } }),
      ev({ messageId: "p", type: "page", anonymousId: "a-1", name: "Pricing" }),
    ]);
    const [identify, group, page] = bodies[0]!.events;
    expect(identify).toMatchObject({ event_type: "$identify", user_id: "u-1", insert_id: "i", user_properties: { $set: { email: "a@b.c", plan: "pro" } } });
    expect(group).toMatchObject({ event_type: "$identify", groups: { company: "acme" }, group_properties: { name: "Acme", group_type: "company" }, user_properties: { $set: { company: "acme" } } });
    expect(page).toMatchObject({ event_type: "Viewed Pricing", device_id: "a-1", event_properties: { name: "Pricing" } });
    expect(page).not.toHaveProperty("user_id");
  });

  it("400 naming invalid and missing fields: those events fail with the field; the rest go again at once, alone", async () => {
    const events = ["a", "b", "c", "d"].map((id) => ev({ messageId: id, userId: `user-${id}` }));
    // Amplitude's documented 400 body.
    const bad = { code: 400, error: "Request missing required field", missing_field: "", events_with_invalid_fields: { time: [0] }, events_with_missing_fields: { event_type: [2] } };
    const { results, bodies } = await run(events, (_, i) => (i === 0 ? json(400, bad) : json(200, OK)));
    expect(codes(results)).toEqual(["http_400", "ok", "http_400", "ok"]);
    expect(!results[0]!.ok && results[0]!.error).toBeInstanceOf(PermanentError);
    expect(!results[0]!.ok && results[0]!.error.message).toBe("Amplitude rejected the event: Request missing required field (invalid field time)");
    expect(!results[2]!.ok && results[2]!.error.message).toContain("(missing field event_type)");
    expect(bodies.map((b) => ids(b.events))).toEqual([["a", "b", "c", "d"], ["b", "d"]]);
  });

  it("429 naming throttled events, users and devices: only those are retried (Retry-After, else 30 s); the rest go again at once", async () => {
    const events = [ev({ messageId: "a", userId: "u-a" }), ev({ messageId: "b", userId: "hot-user" }), ev({ messageId: "c", anonymousId: "hot-device" }), ev({ messageId: "d", userId: "u-d" }), ev({ messageId: "e", userId: "u-e" })];
    // Amplitude's documented 429 body.
    const throttled = { code: 429, error: "Too many requests for some devices and users", eps_threshold: 30, throttled_devices: { "hot-device": 31 }, throttled_users: { "hot-user": 32 }, throttled_events: [4] };
    const { results, bodies } = await run(events, (_, i) => (i === 0 ? json(429, throttled) : json(200, OK)));
    expect(codes(results)).toEqual(["ok", "http_429", "http_429", "ok", "http_429"]);
    for (const r of results) if (!r.ok) expect(r.error).toBeInstanceOf(RetryableError), expect((r.error as RetryableError).retryAfterSeconds).toBe(30);
    expect(bodies.map((b) => ids(b.events))).toEqual([["a", "b", "c", "d", "e"], ["a", "d"]]);

    const withHeader = await run([ev({ userId: "hot-user" })], () => json(429, { ...throttled, throttled_events: [] }, { "retry-after": "5" }));
    expect(!withHeader.results[0]!.ok && (withHeader.results[0]!.error as RetryableError).retryAfterSeconds).toBe(5);
  });

  it("429 for an exhausted daily quota is retried, counted daily_quota", async () => {
    const { results } = await run([ev({ userId: "u-q" })], () => json(429, { code: 429, error: "Too many requests", exceeded_daily_quota_users: { "u-q": 500001 } }));
    expect(codes(results)).toEqual(["daily_quota"]);
  });

  it("a 429 without per-event detail retries the whole request after 30 s", async () => {
    const { results } = await run([ev({ userId: "u" }), ev({ messageId: "m-2", userId: "v" })], () => json(429, { code: 429, error: "Too many requests" }));
    expect(results.map((r) => !r.ok && r.error instanceof RetryableError && r.error.retryAfterSeconds)).toEqual([30, 30]);
  });

  it("the resend's own failure applies to what it carried", async () => {
    const events = ["a", "b"].map((id) => ev({ messageId: id, userId: `user-${id}` }));
    const { results } = await run(events, (_, i) => (i === 0 ? json(400, { code: 400, error: "bad", events_with_invalid_fields: { time: [0] } }) : new Response("down", { status: 503 })));
    expect(codes(results)).toEqual(["http_400", "http_503"]);
  });

  it("an event without userId and anonymousId fails alone; alias is not a type it takes", async () => {
    expect(amplitude.eventTypes).not.toContain("alias");
    const { results, bodies } = await run([ev({ messageId: "x" }), ev({ messageId: "y", userId: "u" })]);
    expect(codes(results)).toEqual(["missing_identity", "ok"]);
    expect(ids(bodies[0]!.events)).toEqual(["y"]);
  });
});

/** Mixpanel requests and answers as its API reference shows them (Ingestion API: /import, /engage, /groups). */
import { describe, expect, it } from "vitest";
import { PermanentError, RetryableError } from "../../src/delivery/errors.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { checkedSettings, json, recordingFetch, vendorContext, type Responder } from "../../test/support/vendor-fetch.ts";
import { insertId, mixpanel } from "./index.ts";

const RAW = { project_token: "tok_123", api_secret: "${env.MIXPANEL_SECRET}", endpoint: "https://mp.test" };

function ev(fields: Record<string, unknown>): SluiceEvent {
  return { messageId: "m-1", timestamp: "2026-11-23T11:00:00.000Z", receivedAt: "2026-11-23T11:00:01.000Z", ...fields } as SluiceEvent;
}

async function run(events: SluiceEvent[], respond?: Responder, raw: Record<string, unknown> = RAW) {
  const { fetch, requests } = recordingFetch(respond ?? ((r) => (r.url.includes("/import") ? json(200, { code: 200, num_records_imported: 1, status: "OK" }) : json(200, { status: 1, error: null }))));
  const results = await mixpanel.deliver(events, vendorContext(checkedSettings(mixpanel, raw), fetch));
  return { results, requests, bodies: requests.map((r) => JSON.parse(r.body) as Record<string, any>[]) };
}

const CONTEXT = {
  ip: "203.0.113.9",
  userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  locale: "de-DE",
  timezone: "Europe/Berlin",
  page: { url: "https://shop.example/cart", referrer: "https://google.com/" },
  campaign: { name: "winter", source: "newsletter", medium: "email", term: "boots", content: "hero" },
  app: { name: "Shop", version: "4.2.0", build: "420", namespace: "com.example.shop" },
  os: { name: "Windows", version: "10" },
  device: { id: "dev-1", manufacturer: "Lenovo", model: "ThinkPad" },
  library: { name: "analytics.js", version: "2.1.0" },
};

describe("mixpanel", () => {
  it("posts a track to /import?strict=1 with Basic api_secret: and Mixpanel's properties", async () => {
    const { requests, bodies, results } = await run([ev({ type: "track", event: "Order Completed", userId: "u-1", anonymousId: "a-1", properties: { revenue: 9.5, time: 1, distinct_id: "forged" }, context: CONTEXT })]);
    expect(results).toEqual([{ ok: true }]);
    expect(requests[0]!.url).toBe("https://mp.test/import?strict=1");
    expect(requests[0]!.headers.get("authorization")).toBe(`Basic ${btoa("secret:MIXPANEL_SECRET:")}`);
    expect(requests[0]!.headers.get("content-type")).toBe("application/json");
    expect(bodies[0]).toEqual([
      {
        event: "Order Completed",
        properties: {
          revenue: 9.5,
          ip: "203.0.113.9",
          $current_url: "https://shop.example/cart",
          $referrer: "https://google.com/",
          $browser: "Chrome",
          $browser_version: "131.0.0.0",
          $os: "Windows",
          $os_version: "10",
          $device: "ThinkPad",
          $device_id: "a-1",
          $model: "ThinkPad",
          $manufacturer: "Lenovo",
          $app_name: "Shop",
          $app_namespace: "com.example.shop",
          $app_version_string: "4.2.0",
          $app_build_number: "420",
          $locale: "de-DE",
          timezone: "Europe/Berlin",
          mp_lib: "Sluice: analytics.js",
          $lib_version: "2.1.0",
          utm_source: "newsletter",
          utm_medium: "email",
          utm_campaign: "winter",
          utm_term: "boots",
          utm_content: "hero",
          $user_id: "u-1",
          token: "tok_123",
          time: Date.parse("2026-11-23T11:00:00.000Z"),
          distinct_id: "u-1",
          $insert_id: "m-1",
        },
      },
    ]);
  });

  it("uses the region's host unless endpoint is set", async () => {
    for (const [region, host] of [["us", "https://api.mixpanel.com"], ["eu", "https://api-eu.mixpanel.com"], ["in", "https://api-in.mixpanel.com"]]) {
      const { requests } = await run([ev({ type: "track", event: "E", userId: "u" })], undefined, { project_token: "t", api_secret: "s", region });
      expect(requests[0]!.url).toBe(`${host}/import?strict=1`);
    }
  });

  it("identify: $identify links the ids on /import, traits go to /engage $set under Mixpanel's reserved names", async () => {
    const traits = { email: "ada@example.com", name: "Ada Lovelace", first_name: "Ada", last_name: "Lovelace", phone: "+44 20", avatar: "https://img/a.png", created_at: "2026-01-01T00:00:00Z", plan: "pro" };
    const { requests, bodies, results } = await run([ev({ type: "identify", userId: "u-1", anonymousId: "a-1", traits, context: { ip: "203.0.113.9" } })]);
    expect(results).toEqual([{ ok: true }]);
    expect(requests.map((r) => r.url)).toEqual(["https://mp.test/import?strict=1", "https://mp.test/engage?verbose=1"]);
    expect(bodies[0]![0]).toMatchObject({ event: "$identify", properties: { $identified_id: "u-1", $anon_id: "a-1", distinct_id: "u-1", $insert_id: "m-1" } });
    expect(requests[1]!.headers.get("authorization")).toBeNull();
    expect(bodies[1]).toEqual([
      {
        $token: "tok_123",
        $distinct_id: "u-1",
        $time: Date.parse("2026-11-23T11:00:00.000Z"),
        $ip: "203.0.113.9",
        $set: { $email: "ada@example.com", $name: "Ada Lovelace", $first_name: "Ada", $last_name: "Lovelace", $phone: "+44 20", $avatar: "https://img/a.png", $created: "2026-01-01T00:00:00Z", plan: "pro" },
      },
    ]);
  });

  it("group → /groups with $group_id and $set; alias → $create_alias; page and screen → Loaded a Page / Screen", async () => {
    const events = [
      ev({ messageId: "g", type: "group", userId: "u-1", groupId: "acme", traits: { name: "Acme", created_at: "2020-01-01", employees: 40 } }),
      ev({ messageId: "al", type: "alias", userId: "u-1", previousId: "a-1" }),
      ev({ messageId: "p", type: "page", anonymousId: "a-1", name: "Pricing", properties: { path: "/pricing" } }),
      ev({ messageId: "s", type: "screen", userId: "u-1", name: "Home" }),
    ];
    const { requests, bodies, results } = await run(events);
    expect(results).toEqual(events.map(() => ({ ok: true })));
    expect(requests.map((r) => r.url)).toEqual(["https://mp.test/import?strict=1", "https://mp.test/groups?verbose=1"]);
    expect(bodies[0]!.map((r) => [r.event, r.properties.distinct_id, r.properties.$insert_id])).toEqual([
      ["$create_alias", "a-1", "al"],
      ["Loaded a Page", "a-1", "p"],
      ["Loaded a Screen", "u-1", "s"],
    ]);
    expect(bodies[0]![0]!.properties.alias).toBe("u-1");
    expect(bodies[0]![1]!.properties).toMatchObject({ name: "Pricing", path: "/pricing" });
    expect(bodies[1]).toEqual([{ $token: "tok_123", $group_key: "$group_id", $group_id: "acme", $set: { $name: "Acme", $created: "2020-01-01", employees: 40 } }]);
  });

  it("strict-mode 400 with failed_records: only those events fail, with Mixpanel's field and message", async () => {
    const events = ["a", "b", "c"].map((id) => ev({ messageId: id, type: "track", event: "E", userId: "u" }));
    // The answer as Mixpanel's /import reference shows it.
    const answer = {
      code: 400,
      error: "some data points in the request failed validation",
      failed_records: [{ index: 1, $insert_id: "b", field: "properties.time", message: "'properties.time' is invalid: must be specified as seconds since epoch" }],
      num_records_imported: 2,
      status: "Bad Request",
    };
    const { results, requests } = await run(events, () => json(400, answer));
    expect(requests).toHaveLength(1);
    expect(results[0]).toEqual({ ok: true });
    expect(results[2]).toEqual({ ok: true });
    const failed = results[1]!;
    expect(!failed.ok && failed.error).toBeInstanceOf(PermanentError);
    expect(!failed.ok && failed.error.message).toBe("Mixpanel rejected the event: properties.time: 'properties.time' is invalid: must be specified as seconds since epoch");
  });

  it("an identify whose /engage request fails is retried; the events of the /import request are delivered", async () => {
    const events = [ev({ messageId: "t", type: "track", event: "E", userId: "u" }), ev({ messageId: "i", type: "identify", userId: "u", traits: { email: "e@x" } })];
    const { results } = await run(events, (r) => (r.url.includes("/engage") ? new Response("busy", { status: 503, headers: { "retry-after": "12" } }) : json(200, { code: 200 })));
    expect(results[0]).toEqual({ ok: true });
    expect(!results[1]!.ok && results[1]!.error).toBeInstanceOf(RetryableError);
    expect(!results[1]!.ok && (results[1]!.error as RetryableError).retryAfterSeconds).toBe(12);
  });

  it("/engage answering status 0 fails its updates with Mixpanel's error", async () => {
    const { results } = await run([ev({ type: "identify", userId: "u", traits: { email: "e@x" } })], () => json(200, { status: 0, error: "$distinct_id is invalid" }));
    expect(!results[0]!.ok && results[0]!.error.message).toBe("Mixpanel /engage: $distinct_id is invalid");
  });

  it("$insert_id is the messageId when Mixpanel takes it, else a stable 32-hex hash of it", () => {
    expect(insertId("3f0c2a9e-5d1b-4c7e-9a88-0b9c1d2e3f40")).toBe("3f0c2a9e-5d1b-4c7e-9a88-0b9c1d2e3f40");
    const long = "ajs-next-4c2a9eab002bde155ca90097d9fde580";
    expect(insertId(long)).toMatch(/^[0-9a-f]{32}$/);
    expect(insertId(long)).toBe(insertId(long));
    expect(insertId(long)).not.toBe(insertId(`${long}1`));
  });

  it("a group without groupId or an alias without previousId fails alone, finally", async () => {
    const events = [ev({ messageId: "g", type: "group", userId: "u" }), ev({ messageId: "al", type: "alias", userId: "u" }), ev({ messageId: "t", type: "track", event: "E", userId: "u" })];
    const { results } = await run(events);
    expect(results.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["missing_group_id", "missing_field", "ok"]);
  });
});

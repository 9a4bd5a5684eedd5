import { describe, expect, it } from "vitest";
import { basic, eventually, gzip, post, storedEvents, WEB_KEY } from "./helpers.ts";

const track = (extra: Record<string, unknown> = {}) => ({ userId: "u1", event: "Signed Up", ...extra });

describe("Tracking API routes", () => {
  const routes: [string, Record<string, unknown>][] = [
    ["track", track()],
    ["t", track()],
    ["identify", { userId: "u1", traits: { plan: "pro" } }],
    ["i", { anonymousId: "a1" }],
    ["page", { anonymousId: "a1", name: "Home" }],
    ["p", { anonymousId: "a1" }],
    ["screen", { userId: "u1", name: "Cart" }],
    ["s", { userId: "u1" }],
    ["group", { userId: "u1", groupId: "g1" }],
    ["g", { userId: "u1", groupId: "g1" }],
    ["alias", { userId: "u1", previousId: "a1" }],
    ["a", { userId: "u1", previousId: "a1" }],
  ];
  it.each(routes)("accepts an event on /v1/%s", async (route, body) => {
    const res = await post(`/v1/${route}`, body, { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ success: true, accepted: 1 });
  });

  it.each(["batch", "b", "import"])("accepts a batch on /v1/%s", async (route) => {
    const res = await post(`/v1/${route}`, { batch: [{ type: "track", ...track() }, { type: "identify", userId: "u2" }] }, { authorization: basic(WEB_KEY) });
    expect(await res.json()).toEqual({ success: true, accepted: 2 });
  });

  it("accepts and ignores analytics.js metrics on /v1/m", async () => {
    const res = await post("/v1/m", { series: [] });
    expect(res.status).toBe(200);
  });

  it("stamps the route's type over the body's", async () => {
    const messageId = `route-type-${crypto.randomUUID()}`;
    await post("/v1/track", { ...track(), type: "identify", messageId }, { authorization: basic(WEB_KEY) });
    const stored = await eventually(async () => (await storedEvents()).find((e) => e.messageId === messageId));
    expect(stored.type).toBe("track");
  });
});

describe("authentication", () => {
  it("takes the write key from Basic auth", async () => {
    expect((await post("/v1/track", track(), { authorization: basic("wk_test_web_2") })).status).toBe(200);
  });
  it("takes the write key from the body and does not forward it", async () => {
    const messageId = `body-key-${crypto.randomUUID()}`;
    const res = await post("/v1/track", { ...track({ messageId }), writeKey: WEB_KEY });
    expect(res.status).toBe(200);
    const stored = await eventually(async () => (await storedEvents()).find((e) => e.messageId === messageId));
    expect(stored).not.toHaveProperty("writeKey");
  });
  it("takes the write key from a batch body", async () => {
    expect((await post("/v1/batch", { writeKey: WEB_KEY, batch: [{ type: "track", ...track() }] })).status).toBe(200);
  });
  it.each([
    ["no write key", {}, track(), "missing_write_key"],
    ["an unknown Basic key", { authorization: basic("wk_nobody_here") }, track(), "invalid_write_key"],
    ["an unknown body key", {}, { ...track(), writeKey: "wk_nobody_here" }, "invalid_write_key"],
    ["a non-string body key", {}, { ...track(), writeKey: 42 }, "missing_write_key"],
  ])("answers 401 for %s", async (_, headers, body, code) => {
    const res = await post("/v1/track", body, headers as Record<string, string>);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
  });
});

describe("bodies", () => {
  it("parses JSON whatever the content type (analytics.js sends text/plain)", async () => {
    const res = await post("/v1/track", JSON.stringify(track()), { authorization: basic(WEB_KEY), "content-type": "text/plain" });
    expect(res.status).toBe(200);
  });
  it("accepts a gzip body", async () => {
    const body = await gzip(JSON.stringify({ batch: [{ type: "track", ...track() }] }));
    const res = await post("/v1/batch", body, { authorization: basic(WEB_KEY), "content-encoding": "gzip" });
    expect(await res.json()).toEqual({ success: true, accepted: 1 });
  });
  it("stops inflating a gzip bomb at the request limit with 413", async () => {
    const bomb = await gzip(new Uint8Array(20 * 1024 * 1024).fill(0x20));
    expect(bomb.byteLength).toBeLessThan(100 * 1024);
    const res = await post("/v1/batch", bomb, { authorization: basic(WEB_KEY), "content-encoding": "gzip" });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("request_too_large");
  });
  it("rejects a corrupt gzip body with 400", async () => {
    const res = await post("/v1/track", new Uint8Array([0x1f, 0x8b, 1, 2, 3, 4]), { authorization: basic(WEB_KEY), "content-encoding": "gzip" });
    expect(res.status).toBe(400);
  });
  it("rejects an unsupported content encoding with 415", async () => {
    const res = await post("/v1/track", JSON.stringify(track()), { authorization: basic(WEB_KEY), "content-encoding": "br" });
    expect(res.status).toBe(415);
  });
  it.each([
    ["malformed JSON", "{\"userId\": ", "invalid_json"],
    ["an empty body", "", "invalid_json"],
    ["invalid UTF-8", new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), "invalid_encoding"],
    ["a JSON array", "[1,2]", "invalid_event"],
    ["a JSON string", "\"hello\"", "invalid_event"],
    ["a wrongly typed field", JSON.stringify(track({ properties: "nope" })), "invalid_field"],
    ["a missing identity", JSON.stringify({ event: "X" }), "missing_identity"],
    ["a messageId over 100 characters", JSON.stringify(track({ messageId: "m".repeat(101) })), "message_id_too_long"],
  ])("answers 400 for %s", async (_, body, code) => {
    const res = await post("/v1/track", body, { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: { code: string; message: string } };
    expect(json.error.code).toBe(code);
    expect(json.error.message.length).toBeGreaterThan(5);
  });
  it("answers deeply nested JSON with a clear 4xx, never a 5xx", async () => {
    const deep = "[".repeat(200_000) + "]".repeat(200_000);
    const res = await post("/v1/track", deep, { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(400);
  });
  it("keeps __proto__ keys as plain data", async () => {
    const messageId = `proto-${crypto.randomUUID()}`;
    const body = `{"userId":"u1","event":"X","messageId":"${messageId}","__proto__":{"polluted":true},"properties":{"__proto__":{"admin":true}}}`;
    const res = await post("/v1/track", body, { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const stored = await eventually(async () => (await storedEvents()).find((e) => e.messageId === messageId));
    expect(Object.getPrototypeOf(stored.properties)).toBe(Object.prototype);
  });
});

describe("limits", () => {
  it("rejects an event over 32 KB with 413", async () => {
    const res = await post("/v1/track", track({ properties: { blob: "x".repeat(33 * 1024) } }), { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("event_too_large");
  });
  it("rejects a request over 500 KB with 413 before reading it all", async () => {
    const res = await post("/v1/batch", JSON.stringify({ batch: [], pad: "x".repeat(501 * 1024) }), { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(413);
  });
  // A body without a Content-Length is read chunk by chunk and stopped at the limit; a declared one in one read.
  const chunked = (parts: string[]) => {
    const encoder = new TextEncoder();
    let next = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (next < parts.length) controller.enqueue(encoder.encode(parts[next++]));
        else controller.close();
      },
    });
  };
  it("reads a body with no declared length (chunked) and accepts it", async () => {
    const body = JSON.stringify({ batch: [{ type: "track", ...track() }, { type: "identify", userId: "u2" }] });
    const res = await post("/v1/batch", chunked([body.slice(0, 10), body.slice(10, 40), body.slice(40)]), { authorization: basic(WEB_KEY) });
    expect(await res.json()).toEqual({ success: true, accepted: 2 });
  });
  it("stops reading a chunked body at the 500 KB limit with 413", async () => {
    const res = await post("/v1/batch", chunked(['{"batch":[],"pad":"', ...Array.from({ length: 12 }, () => "x".repeat(64 * 1024)), '"}']), { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("request_too_large");
  });
  it("rejects a batch of more than 2,500 events with 413", async () => {
    const batch = Array.from({ length: 2501 }, () => ({ type: "track", userId: "u", event: "E" }));
    const res = await post("/v1/batch", { batch }, { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("batch_too_large");
  });
  it("accepts a batch of exactly 2,500 events", async () => {
    const batch = Array.from({ length: 2500 }, (_, i) => ({ type: "track", userId: `u${i}`, event: "E" }));
    const res = await post("/v1/batch", { batch }, { authorization: basic(WEB_KEY) });
    expect(await res.json()).toEqual({ success: true, accepted: 2500 });
  });
  it("drops only the oversize event of a batch", async () => {
    const batch = [
      { type: "track", ...track() },
      { type: "track", ...track({ messageId: "big-one", properties: { blob: "x".repeat(33 * 1024) } }) },
    ];
    const res = await post("/v1/batch", { batch }, { authorization: basic(WEB_KEY) });
    const json = (await res.json()) as { accepted: number; rejected: { index: number; messageId: string; code: string }[] };
    expect(json.accepted).toBe(1);
    expect(json.rejected).toEqual([expect.objectContaining({ index: 1, messageId: "big-one", code: "event_too_large" })]);
  });
});

describe("partial batches", () => {
  it("accepts the valid events and lists each rejected one", async () => {
    const batch = [
      { type: "track", userId: "u1", event: "Good", messageId: "good-1" },
      { type: "track", userId: "u1", messageId: "no-name" },
      { type: "launch", userId: "u1", messageId: "odd-type" },
      "not an object",
      { type: "identify", anonymousId: "a1", messageId: "good-2" },
    ];
    const res = await post("/v1/batch", { batch }, { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(200);
    const json = (await res.json()) as { accepted: number; rejected: { index: number; messageId?: string; code: string; reason: string }[] };
    expect(json.accepted).toBe(2);
    expect(json.rejected.map((r) => [r.index, r.messageId, r.code])).toEqual([
      [1, "no-name", "missing_field"],
      [2, "odd-type", "unknown_type"],
      [3, undefined, "invalid_event"],
    ]);
    for (const r of json.rejected) expect(r.reason).toMatch(/\w+/);
  });
  it("answers 400 with every rejection when nothing in the batch is usable", async () => {
    const res = await post("/v1/batch", { batch: [{ type: "track" }, { type: "nope", userId: "x" }] }, { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: { code: string }; rejected: unknown[] };
    expect(json.error.code).toBe("no_valid_events");
    expect(json.rejected).toHaveLength(2);
  });
  it("accepts the good events of a batch and rejects each poison one on its own, with 200", async () => {
    let deep: unknown = {};
    for (let i = 0; i < 5000; i++) deep = { a: deep };
    const id = (name: string) => `${name}-${crypto.randomUUID()}`;
    const good = [id("good"), id("good")];
    const batch = [
      { type: "track", userId: "u1", event: "Good", messageId: good[0] },
      { type: "track", userId: "u1", event: "Poison", messageId: id("far-future"), timestamp: 1e16 },
      { type: "track", userId: "u1", event: "Poison", messageId: id("year-275760"), timestamp: "+275760-09-13T00:00:00.000Z", sentAt: "-271821-04-20T00:00:00.000Z" },
      { type: "track", userId: "u1", event: "Poison", messageId: id("deep"), properties: deep },
      { type: "track", userId: "u1", event: "Poison", messageId: "control\u0000char" },
      { type: "track", userId: "u1", event: "Good", messageId: good[1] },
    ];
    const res = await post("/v1/batch", { batch }, { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(200);
    const json = (await res.json()) as { accepted: number; rejected: { index: number; code: string }[] };
    expect(json.accepted).toBe(2);
    expect(json.rejected.map((r) => [r.index, r.code])).toEqual([
      [1, "invalid_field"],
      [2, "invalid_field"],
      [3, "nesting_too_deep"],
      [4, "invalid_message_id"],
    ]);
    const stored = await eventually(async () => {
      const events = (await storedEvents()).filter((e) => good.includes(e.messageId as string));
      return events.length === 2 ? events : undefined;
    });
    expect(stored.map((e) => e.event)).toEqual(["Good", "Good"]);
  });
  it.each([
    ["a sentAt of 1e16 ms", { sentAt: 1e16 }, "invalid_field"],
    ["a context nested thousands of levels deep", { context: JSON.parse("{\"a\":".repeat(5000) + "1" + "}".repeat(5000)) }, "nesting_too_deep"],
  ])("answers 400, not 500, for a batch whose envelope has %s", async (_, envelope, code) => {
    const res = await post("/v1/batch", { ...envelope, batch: [{ type: "track", userId: "u1", event: "E" }] }, { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
  });
  it("answers 400, not 500, for a single event with a timestamp out of range", async () => {
    const res = await post("/v1/track", { userId: "u1", event: "E", timestamp: -1e16 }, { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_field");
  });
  it("answers 400 for an empty batch", async () => {
    const res = await post("/v1/batch", { batch: [] }, { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(400);
  });
  it("answers 400 for a batch body without a batch list", async () => {
    const res = await post("/v1/batch", { events: [] }, { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(400);
  });
});

describe("CORS, methods and paths", () => {
  it("answers a browser preflight", async () => {
    const { SELF } = await import("cloudflare:test");
    const res = await SELF.fetch("http://sluice.test/v1/t", {
      method: "OPTIONS",
      headers: { origin: "https://shop.example.com", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type, x-retry-count" },
    });
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("x-retry-count");
  });
  it("adds CORS headers to a cross-origin POST", async () => {
    const res = await post("/v1/track", track(), { authorization: basic(WEB_KEY), origin: "https://shop.example.com" });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
  });
  it("answers GET on a tracking route with 405 and Allow", async () => {
    const { SELF } = await import("cloudflare:test");
    const res = await SELF.fetch("http://sluice.test/v1/track");
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toContain("POST");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("method_not_allowed");
  });
  it.each(["/v1/launch", "/v2/track", "/nope"])("answers POST %s with a JSON 404", async (path) => {
    const res = await post(path, track(), { authorization: basic(WEB_KEY) });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("not_found");
  });
});

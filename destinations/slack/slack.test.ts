import { describe, expect, it } from "vitest";
import { DestinationSchema, type BuiltConfig } from "../../src/config/model.ts";
import type { Problem } from "../../src/config/schema.ts";
import { compilePipeline } from "../../src/pipeline/compile.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { routeEvents } from "../../src/pipeline/route.ts";
import { checkedFetch, vendorContext } from "../../test/support/vendor-fetch.ts";
import type { Responder } from "../../test/support/vendors/stand-in.ts";
import { slackChecker, slackLines } from "../../test/support/vendors/slack.ts";
import { slack, slackKind, SLACK_LIMITS, type SlackSettings } from "./index.ts";
import { compileRenderer, compileTemplate, renderAlert, templateProblem } from "./templates.ts";

const T = "2026-04-26T09:15:29.000Z";
const HOOK = "https://hooks.slack.test/services/T000/B000/XXXX";

function ev(fields: Record<string, unknown>, n = 1): SluiceEvent {
  return { type: "track", messageId: `m-${n}`, receivedAt: T, timestamp: T, userId: "u-1", ...fields } as SluiceEvent;
}

function settings(raw: Record<string, unknown> = {}): { value?: SlackSettings; problems: Problem[] } {
  const problems: Problem[] = [];
  const value = slack.settings.check({ webhook_url: HOOK, ...raw }, [], problems);
  return { value, problems };
}

/** A slack kind on a fake clock: sleeping moves the clock, so pacing is observable without waiting. */
function paced() {
  let now = Date.parse(T);
  const sleeps: number[] = [];
  const kind = slackKind({ sleep: async (ms) => void (sleeps.push(ms), (now += ms)) });
  return { kind, sleeps, now: () => now, advance: (ms: number) => (now += ms) };
}

async function deliver(events: SluiceEvent[], respond?: Responder, raw: Record<string, unknown> = {}, clock = paced()) {
  const vendor = checkedFetch(slackChecker("/services/T000/B000/XXXX", 0), respond);
  const sentAt: number[] = [];
  const fetcher: typeof fetch = (input, init) => (sentAt.push(clock.now()), vendor.fetch(input, init));
  const results = await clock.kind.deliver(events, vendorContext(settings(raw).value!, fetcher, clock.now));
  return { results, vendor, sentAt, clock };
}

const ALERT = {
  alert_id: "a-17",
  kind: "delivery_failure_rate",
  message: "Deliveries to ga4 fail more than usual",
  observed: 0.12,
  expected: 0.01,
  threshold: 0.05,
  window_minutes: 15,
  destination: "ga4",
  suggestion: "Check the api_secret",
  fired_at: "2026-04-26T09:00:00Z",
  console_url: "https://sluice.test/console/alerts/a-17?x=1&y=2",
};

describe("slack settings", () => {
  it("checks the webhook URL, templates (located at their key) and events, and rejects unknown keys", () => {
    expect(settings().value).toEqual({ webhook_url: HOOK, templates: {}, interval_ms: 1000, max_wait_ms: 5000, timeout_ms: 10_000 });
    expect(settings({ webhook_url: "${env.SLACK_WEBHOOK_URL}" }).problems).toEqual([]);
    expect(settings({ channel: "#ops" }).problems).toEqual([{ path: ["channel"], message: expect.stringContaining('unknown key "channel"') }]);
    expect(settings({ webhook_url: "hooks.slack.com" }).problems[0]!.path).toEqual(["webhook_url"]);
    expect(settings({ templates: { "Order Completed": "Order {{properties.total} by {{userId}}" } }).problems).toEqual([
      { path: ["templates", "Order Completed"], message: expect.stringContaining("no matching") },
    ]);
    expect(settings({ templates: { track: "{{ properties total }}" } }).problems[0]).toMatchObject({ path: ["templates", "track"], message: expect.stringContaining("not a path") });
    expect(settings({ events: [] }).problems[0]!.path).toEqual(["events"]);
    expect(templateProblem("fine {{properties.products.0.name}} and {{ userId }}")).toBeUndefined();
  });
});

describe("slack templates", () => {
  it("fills {{path}} placeholders, escapes values (not the template's own text) and leaves missing ones empty", () => {
    const render = compileTemplate("<https://shop.test/o|Order> {{properties.order_id}}: {{properties.total}} by {{userId}}{{properties.missing}} {{properties.note}} {{properties.items}}");
    const line = render(ev({ properties: { order_id: "o-1", total: 42.5, note: "a < b & c > d", items: [{ sku: "s" }] } }));
    expect(line).toBe('<https://shop.test/o|Order> o-1: 42.5 by u-1 a &lt; b &amp; c &gt; d [{"sku":"s"}]');
  });

  it("compiles a destination's templates once per settings object, not per event or delivery", async () => {
    const kind = slackKind({ sleep: async () => {} });
    const compile = kind.vendor.compile!;
    let compiled = 0;
    kind.vendor.compile = (cfg) => (compiled++, compile(cfg));
    const cfg = settings({ templates: { track: "{{event}}" }, interval_ms: 0 }).value!;
    const vendor = checkedFetch(slackChecker("/services/T000/B000/XXXX", 0));
    await kind.deliver([ev({ event: "a" }, 1), ev({ event: "b" }, 2)], vendorContext(cfg, vendor.fetch));
    await kind.deliver([ev({ event: "c" }, 3)], vendorContext(cfg, vendor.fetch));
    expect(compiled).toBe(1);
    expect(vendor.requests.flatMap(slackLines)).toEqual(["a", "b", "c"]);
  });

  it("chooses a template by event name, then the alert line for alerts, then a template by type, then the default", () => {
    const render = compileRenderer({ "Order Completed": "order {{properties.total}}", track: "track {{event}}", identify: "hello {{traits.name}}" });
    expect(render(ev({ event: "Order Completed", properties: { total: 5 } }))).toBe("order 5");
    expect(render(ev({ event: "Other" }))).toBe("track Other");
    expect(render(ev({ event: "Alert Fired", properties: ALERT }))).toBe(renderAlert(ev({ event: "Alert Fired", properties: ALERT })));
    expect(render(ev({ type: "identify", traits: { name: "Ada" } }))).toBe("hello Ada");
    expect(render(ev({ type: "page", name: "Pricing" }))).toBe("page *Pricing* viewed by u-1");
    expect(compileRenderer({ "Alert Fired": "custom {{properties.alert_id}}" })(ev({ event: "Alert Fired", properties: ALERT }))).toBe("custom a-17");
  });

  it("renders alert events as readable one-liners with status, rule, observed vs expected and the console link", () => {
    expect(renderAlert(ev({ event: "Alert Fired", properties: ALERT }))).toBe(
      "*FIRING* alert a-17 (delivery_failure_rate): Deliveries to ga4 fail more than usual; observed 0.12, expected 0.01 (threshold 0.05, over 15 min)" +
        " · destination ga4 · Check the api_secret · since 2026-04-26T09:00:00Z · <https://sluice.test/console/alerts/a-17?x=1&amp;y=2|open in console>",
    );
    expect(renderAlert(ev({ event: "Alert Resolved", properties: { alert_id: "a-17", kind: "volume_drop", message: "Volume is back", observed: 980, expected: 1000, source: "web", event_name: "Order Completed" } }))).toBe(
      "*RESOLVED* alert a-17 (volume_drop): Volume is back; observed 980, expected 1000 · source web · event name Order Completed",
    );
    expect(renderAlert(ev({ event: "Alert Fired", properties: { alert_id: "a<1>", message: "x & y", console_url: "https://c.test/a|b" } }))).toBe("*FIRING* alert a&lt;1&gt;: x &amp; y · <https://c.test/a%7Cb|open in console>");
  });
});

describe("slack delivery", () => {
  it("combines lines into messages of at most 20 lines and 4,000 bytes, paced a second apart", async () => {
    const events = Array.from({ length: 45 }, (_, i) => ev({ event: "Signed Up", properties: { n: i } }, i));
    const { results, vendor, sentAt, clock } = await deliver(events);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(vendor.problems).toEqual([]);
    expect(vendor.requests.map((r) => slackLines(r).length)).toEqual([20, 20, 5]);
    expect(vendor.requests.every((r) => Buffer.byteLength(r.body) <= SLACK_LIMITS.messageBytes + 20)).toBe(true);
    expect(sentAt.map((t) => t - sentAt[0]!)).toEqual([0, 1000, 2000]);
    expect(clock.sleeps).toEqual([1000, 1000]);
    expect(vendor.requests.flatMap(slackLines)).toEqual(events.map((_, i) => `*Signed Up* by u-1 (n=${i})`));
    // The consumer cuts calls by the events' JSON; a call may hold several messages' worth of lines.
    expect(slack.maxEventsPerCall(settings().value!)).toBe(100);
    expect(slack.maxBytesPerCall!(settings().value!)).toBeGreaterThanOrEqual(100 * 1024);
  });

  it("paces across deliveries to the same webhook, and hands events back when the slot is further than max_wait_ms", async () => {
    const clock = paced();
    await deliver([ev({ event: "a" })], undefined, {}, clock);
    const second = await deliver([ev({ event: "b" })], undefined, {}, clock);
    expect(second.sentAt[0]! - Date.parse(T)).toBe(1000);
    const third = await deliver([ev({ event: "c" })], undefined, { max_wait_ms: 500 }, clock);
    expect(third.vendor.requests).toHaveLength(0);
    expect(third.results[0]).toMatchObject({ ok: false, error: { retryable: true, code: "paced", retryAfterSeconds: 1 } });

    // interval_ms: 0 turns pacing off (a relay that paces on its own): three messages, no wait.
    const unpaced = await deliver(Array.from({ length: 45 }, (_, i) => ev({ event: "x" }, i)), undefined, { interval_ms: 0 });
    expect(unpaced.vendor.requests).toHaveLength(3);
    expect(unpaced.clock.sleeps).toEqual([]);
  });

  it("on a 429 honours Retry-After and retries only the events not yet posted, without a burst of 429s", async () => {
    const events = Array.from({ length: 60 }, (_, i) => ev({ event: "x", properties: { n: i } }, i));
    const { results, vendor } = await deliver(events, (_, n) => (n === 2 ? { status: 429, headers: { "retry-after": "30" }, body: "rate_limited" } : undefined));
    expect(vendor.requests).toHaveLength(2);
    expect(results.slice(0, 20).every((r) => r.ok)).toBe(true);
    for (const r of results.slice(20, 40)) expect(r).toMatchObject({ ok: false, error: { retryable: true, status: 429, retryAfterSeconds: 30 } });
    for (const r of results.slice(40)) expect(r).toMatchObject({ ok: false, error: { retryable: true, code: "paced" } });
    expect((results[40] as unknown as { error: { retryAfterSeconds: number } }).error.retryAfterSeconds).toBeGreaterThanOrEqual(29);
  });

  it("classifies Slack's answers as errors.ts does: 400/403/404/410 final with Slack's reason, 5xx and network retried", async () => {
    for (const [reply, expected] of [
      [{ status: 400, body: "invalid_payload" }, { retryable: false, status: 400, message: "HTTP 400: invalid_payload" }],
      [{ status: 404, body: "channel_not_found" }, { retryable: false, status: 404 }],
      [{ status: 410, body: "channel_is_archived" }, { retryable: false, status: 410 }],
      [{ status: 500, body: "rollup_error" }, { retryable: true, status: 500 }],
      [{ status: 0 }, { retryable: true, code: "network" }],
    ] as const) {
      const { results } = await deliver([ev({ event: "x" })], () => reply);
      expect(results[0]).toEqual({ ok: false, error: expect.objectContaining(expected) });
    }
  });

  it("never throws on odd events and cuts a huge line to fit a message", async () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 60; i++) deep = { deep };
    const odd = [
      { type: "track", messageId: "o1", receivedAt: T, timestamp: T },
      ev({ event: "Ünïcødé ✓ 🚀", properties: { "ключ": "значение 🚀" } }, 2),
      ev({ event: "big", properties: { blob: "🚀".repeat(32 * 1024) } }, 3),
      ev({ type: "group", traits: deep, groupId: undefined }, 4),
      ev({ type: "alias", userId: undefined }, 5),
    ] as SluiceEvent[];
    const { results, vendor } = await deliver(odd, undefined, { templates: { big: "{{properties.blob}}", group: "{{traits}}" } });
    expect(results.every((r) => r.ok)).toBe(true);
    expect(vendor.problems).toEqual([]);
    const lines = vendor.requests.flatMap(slackLines);
    expect(lines).toHaveLength(5);
    expect(Buffer.byteLength(lines[2]!)).toBeLessThanOrEqual(SLACK_LIMITS.lineBytes);
    expect(lines[2]!.endsWith("…")).toBe(true);
  });
});

describe("slack events selection", () => {
  it("routes only the listed event names and types; the rest are counted dropped.not_selected", () => {
    const dest = DestinationSchema.check({ id: "ops", name: "Ops", kind: "slack", sources: ["web"], settings: settings({ events: ["Alert Fired", "identify"] }).value }, [], [])!;
    const config: BuiltConfig = { version: 1, origin: "test", sources: [{ id: "web", name: "Web", environment: "prod", write_keys: ["wk_web_12345"] }], destinations: [dest], filters: {}, sourceFilters: {} };
    const pipeline = compilePipeline(config, { slack });
    const counts: Record<string, number> = {};
    const tally = { count: (scope: string, name: string, n = 1) => void (counts[`${scope} ${name}`] = (counts[`${scope} ${name}`] ?? 0) + n) };
    const events = [ev({ event: "Alert Fired" }, 1), ev({ event: "Order Completed" }, 2), ev({ type: "identify" }, 3), ev({ type: "page" }, 4)];
    const source = pipeline.source("web")!;
    const routed = routeEvents(events, { id: "web", stage: source.stage }, source.targets, tally);
    expect(routed.get("ops")?.events.map((e) => e.messageId)).toEqual(["m-1", "m-3"]);
    expect(counts).toEqual({ "destination:ops dropped.not_selected": 2, "destination:ops routed": 2 });
  });
});

/**
 * The destination contract, over every vendor kind in the registry (destinations/index.ts): a kind added there is
 * covered here with no change to this file, once its folder has `contract.ts` exporting a `fixture` (VendorFixture,
 * src/delivery/vendor.ts) that says how to read its requests and how its API fails part of a request.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";
import { destinationKinds } from "../../destinations/index.ts";
import { DestinationSchema, type BuiltConfig } from "../../src/config/model.ts";
import { formatConfigError, loadConfigDir } from "../../src/config/load.ts";
import type { Problem } from "../../src/config/schema.ts";
import type { DestinationDefinition, EventResult } from "../../src/delivery/destination.ts";
import { DeliveryError, PermanentError, RetryableError } from "../../src/delivery/errors.ts";
import type { CapturedRequest, VendorDefinition, VendorFixture } from "../../src/delivery/vendor.ts";
import { compilePipeline } from "../../src/pipeline/compile.ts";
import { EVENT_TYPES, type EventType, type SluiceEvent } from "../../src/pipeline/normalize.ts";
import { routeEvents, type Tally } from "../../src/pipeline/route.ts";
import { corpusEvents } from "../fixtures/corpus.ts";
import { tempFolder } from "../support/temp-folder.ts";
import { checkedSettings, NOW, recordingFetch, vendorContext, type Responder } from "../support/vendor-fetch.ts";

type VendorKind = DestinationDefinition<any> & { vendor: VendorDefinition<any, any, any> };
const vendorKinds = Object.values(destinationKinds).filter((d): d is VendorKind => "vendor" in d);

const fixtures = new Map<string, VendorFixture>();
for (const kind of vendorKinds) {
  const url = new URL(`../../destinations/${kind.kind}/contract.ts`, import.meta.url);
  if (existsSync(fileURLToPath(url))) fixtures.set(kind.kind, ((await import(url.href)) as { fixture: VendorFixture }).fixture);
}

const BASE = "https://vendor.test";
const configDir = tempFolder("contract-config");
const RECEIVED = new Date(NOW).toISOString();

/** One event of each type, with the fields a Segment library sends. */
function eventOf(type: EventType, i: number, extra: Record<string, unknown> = {}): SluiceEvent {
  const byType: Record<EventType, Record<string, unknown>> = {
    track: { event: "Order Completed", properties: { order_id: `o-${i}`, revenue: 42.5, currency: "EUR" } },
    identify: { traits: { email: `u${i}@example.com`, name: "Ada Lovelace", created_at: "2026-01-02T03:04:05Z" } },
    page: { name: "Pricing", properties: { url: "https://example.com/pricing", path: "/pricing" } },
    screen: { name: "Checkout", properties: { step: 2 } },
    group: { groupId: `g-${i}`, traits: { name: "Acme", employees: 40 } },
    alias: { previousId: `anon-${i}` },
  };
  return {
    type,
    messageId: `m-${type}-${i}`,
    timestamp: "2026-11-23T11:59:58.000Z",
    receivedAt: RECEIVED,
    userId: `user-${i}`,
    anonymousId: `anon-${i}`,
    context: { ip: "192.0.2.1", userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", locale: "en-GB", library: { name: "analytics-node", version: "3.1.0" } },
    ...byType[type],
    ...extra,
  } as SluiceEvent;
}

function nested(depth: number): Record<string, unknown> {
  let v: Record<string, unknown> = { leaf: true };
  for (let d = 0; d < depth; d++) v = { n: v };
  return v;
}

/** Events Segment's API accepts but that stress a mapping. */
function oddEvents(types: readonly EventType[]): SluiceEvent[] {
  const out: SluiceEvent[] = [];
  types.forEach((type, t) => {
    const base = { type, messageId: `odd-${type}`, timestamp: "2026-11-23T11:59:58.000Z", receivedAt: RECEIVED } as SluiceEvent;
    out.push(
      { ...base, messageId: `odd-min-${t}`, userId: "u1" },
      { ...base, messageId: `odd-anon-${t}`, anonymousId: "a1" },
      eventOf(type, t, { messageId: `odd-uni-${t}`, userId: "用户-😀", event: "Bestellung abgeschlossen ✓", properties: { "naïve": "日本語", emoji: "👩‍👩‍👧" }, traits: { name: "Zoë Ñúñez" } }),
      eventOf(type, t, { messageId: `odd-big-${t}`, properties: { blob: "x".repeat(32 * 1024) }, traits: { blob: "y".repeat(32 * 1024) } }),
      eventOf(type, t, { messageId: `odd-deep-${t}`, properties: nested(60), traits: nested(60), context: nested(60) }),
      eventOf(type, t, { messageId: `odd-null-${t}`, userId: null, event: null, name: null, properties: { a: null, b: undefined }, traits: null, context: null, groupId: null, previousId: null }),
      eventOf(type, t, { messageId: `odd-types-${t}`, userId: 12345, properties: [1, 2], traits: "text", context: { os: "macOS", device: 3, campaign: [], page: null } }),
      { ...base, messageId: `odd-noid-${t}` },
    );
  });
  return out;
}

const describeError = (r: EventResult) => (r.ok ? "ok" : `${r.error.constructor.name}(${r.error.code}): ${r.error.message}`);

it("every vendor kind in the registry has a contract fixture (destinations/<kind>/contract.ts exporting `fixture`)", () => {
  expect(vendorKinds.length).toBeGreaterThanOrEqual(6);
  expect(vendorKinds.filter((k) => !fixtures.has(k.kind)).map((k) => k.kind)).toEqual([]);
});

it("every fixture gives the vendor's partial-failure answer, or says why its API has none", () => {
  const neither = [...fixtures].filter(([, f]) => !f.partialFailure === !f.noPartialFailure).map(([kind]) => kind);
  expect(neither).toEqual([]);
});

describe.each(vendorKinds.filter((k) => fixtures.has(k.kind)).map((k) => [k.kind, k, fixtures.get(k.kind)!] as const))("%s", (kind, definition, fixture) => {
  const { vendor } = definition;
  const settingsFor = (base = BASE) => checkedSettings(definition, fixture.settings(base));
  // Each delivery is to a destination of its own (its own base URL): state a kind keeps per URL in an isolate
  // (Slack's pacing, held after a 429) does not carry from one test into the next.
  let destinations = 0;
  const deliver = async (events: readonly SluiceEvent[], respond?: Responder, now = NOW) => {
    const { fetch, requests } = recordingFetch(respond);
    const results = await definition.deliver(events, vendorContext(settingsFor(`${BASE}/d${++destinations}`), fetch, now));
    return { results, requests };
  };
  const supported = vendor.eventTypes;

  describe("settings", () => {
    const shape = (definition.settings as unknown as { shape: Record<string, object> }).shape;
    const problemsOf = (raw: Record<string, unknown>) => {
      const problems: Problem[] = [];
      definition.settings.check(raw, ["destinations", 0, "settings"], problems);
      return problems;
    };

    it("accepts the fixture's settings, secrets as ${env.NAME}", () => {
      expect(problemsOf(fixture.settings(BASE))).toEqual([]);
    });

    it("rejects an unknown key, naming it", () => {
      const problems = problemsOf({ ...fixture.settings(BASE), unexpected_key: 1 });
      expect(problems).toEqual([expect.objectContaining({ path: ["destinations", 0, "settings", "unexpected_key"], message: expect.stringContaining("unknown key") })]);
    });

    it("reports each missing required key with its path", () => {
      const required = Object.entries(shape).filter(([, field]) => !("optional" in field)).map(([key]) => key);
      expect(required.length).toBeGreaterThan(0);
      for (const key of required) {
        const raw = { ...fixture.settings(BASE) };
        delete raw[key];
        expect(problemsOf(raw), key).toContainEqual({ path: ["destinations", 0, "settings", key], message: `missing required key "${key}"` });
      }
    });

    it("`sluice check` names the file, line and path of a misspelt or missing key", () => {
      const raw = fixture.settings(BASE);
      const first = Object.keys(raw).find((k) => shape[k] && !("optional" in shape[k]));
      const { [first!]: _, ...rest } = raw;
      const settings = { ...rest, [`${first}_typo`]: raw[first!] };
      const lines = Object.entries(settings).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`);
      const yaml = ["sources:", "  - { id: web, name: Web, write_keys: [wk_contract_1] }", "destinations:", "  - id: vendor", "    name: Vendor", `    kind: ${kind}`, '    sources: "*"', "    settings:", ...lines, ""].join("\n");
      writeFileSync(join(configDir, "sluice.yaml"), yaml);
      const { config, errors } = loadConfigDir(configDir, configDir);
      expect(config).toBeUndefined();
      const formatted = errors.map(formatConfigError);
      // The misspelt key on its own line (the settings start on line 9), the missing one at the settings.
      expect(formatted).toContain(`sluice.yaml:${9 + lines.length - 1}: destinations[0].settings.${first}_typo: unknown key "${first}_typo" (expected one of: ${Object.keys(shape).join(", ")})`);
      expect(formatted.some((e) => e.startsWith("sluice.yaml:") && e.includes(`destinations[0].settings.${first}: missing required key "${first}"`))).toBe(true);
    });

    it("takes `endpoint` (or `host`, or a `webhook_url` that is the whole URL) as an http(s) URL or a ${env.NAME} reference, and nothing else", () => {
      const key = ["endpoint", "host", "webhook_url"].find((k) => k in shape);
      expect(key, "a vendor kind takes `endpoint` (or `host`) overriding the vendor's base URL").toBeDefined();
      const withKey = (v: unknown) => problemsOf({ ...fixture.settings(BASE), [key!]: v });
      expect(withKey("https://eu.proxy.example/collect")).toEqual([]);
      expect(withKey("http://127.0.0.1:9999")).toEqual([]);
      expect(withKey("${env.VENDOR_ENDPOINT}")).toEqual([]);
      for (const bad of ["ftp://example.com", "example.com", "https://", "https://a b", 42]) expect(withKey(bad), String(bad)).not.toEqual([]);
    });
  });

  it("compiles its settings once, however many deliveries use them", async () => {
    if (!vendor.compile) return;
    const spy = vi.spyOn(vendor, "compile");
    try {
      const settings = settingsFor();
      const { fetch } = recordingFetch();
      for (let i = 0; i < 3; i++) await definition.deliver([eventOf(supported[0]!, i)], vendorContext(settings, fetch));
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  describe("event types", () => {
    it("declares the types it takes, each a Segment type", () => {
      expect(supported.length).toBeGreaterThan(0);
      for (const t of supported) expect(EVENT_TYPES).toContain(t);
      expect(definition.eventTypes).toEqual(supported);
    });

    it("delivers one event of each type it takes", async () => {
      const events = supported.map((t, i) => eventOf(t, i));
      const { results, requests } = await deliver(events);
      expect(results.map(describeError)).toEqual(events.map(() => "ok"));
      expect(requests.length).toBeGreaterThan(0);
    });

    it("routing never hands it the other types: they are counted dropped.unsupported_type", () => {
      const config: BuiltConfig = {
        version: 1,
        origin: "test",
        sources: [{ id: "web", name: "Web", environment: "prod", write_keys: ["wk_contract_1"] }],
        destinations: [DestinationSchema.check({ id: "vendor", name: "Vendor", kind, sources: "*", settings: fixture.settings(BASE) }, [], [])!],
        filters: {},
        sourceFilters: {},
      };
      const source = compilePipeline(config, destinationKinds).source("web")!;
      const counts: Record<string, number> = {};
      const tally: Tally = { count: (scope, metric, n = 1) => void (counts[`${scope} ${metric}`] = (counts[`${scope} ${metric}`] ?? 0) + n) };
      const events = EVENT_TYPES.map((t, i) => eventOf(t, i));
      const routed = routeEvents(events, { id: "web", stage: source.stage }, source.targets, tally);
      expect((routed.get("vendor")?.events ?? []).map((e) => e.type)).toEqual(EVENT_TYPES.filter((t) => supported.includes(t)));
      const unsupported = EVENT_TYPES.length - supported.length;
      expect(counts["destination:vendor dropped.unsupported_type"] ?? 0).toBe(unsupported);
    });
  });

  describe("odd events", () => {
    const odd = oddEvents(supported);

    it("map returns a part or throws a DeliveryError, never anything else", () => {
      const compiled = vendor.compile ? vendor.compile(settingsFor()) : settingsFor();
      for (const event of odd) {
        try {
          JSON.stringify(vendor.map(event, compiled));
        } catch (err) {
          expect(err, event.messageId).toBeInstanceOf(DeliveryError);
        }
      }
    });

    it("deliver never throws: one result per event, failures are typed with a reason", async () => {
      const { results, requests } = await deliver(odd);
      expect(results).toHaveLength(odd.length);
      for (const r of results) if (!r.ok) expect(r.error).toBeInstanceOf(DeliveryError), expect(r.error.message).not.toBe("");
      // Events with an identity and their fields in place go out; only the identity-less may fail, finally.
      results.forEach((r, i) => {
        if (!r.ok) expect(r.error.retryable, `${odd[i]!.messageId}: ${describeError(r)}`).toBe(false);
      });
      expect(results.filter((r) => r.ok).length).toBeGreaterThanOrEqual(supported.length * 4);
      for (const request of requests) expect(() => fixture.items(request)).not.toThrow();
    });
  });

  it("the consumer's calls hold at least one full request (callLimits, when set, are not below the request limits)", () => {
    const settings = settingsFor();
    expect(definition.maxEventsPerCall(settings)).toBeGreaterThanOrEqual(vendor.limits(settings).maxEvents);
    if (vendor.callLimits) {
      expect(definition.maxBytesPerCall?.(settings)).toBeGreaterThanOrEqual(vendor.limits(settings).maxBytes);
      expect([definition.maxEventsPerCall(settings), definition.maxBytesPerCall?.(settings)]).toEqual([vendor.callLimits(settings).maxEvents, vendor.callLimits(settings).maxBytes]);
    } else {
      // deliver() cuts requests by the bytes of the parts it measures: the consumer does not size events again.
      expect(definition.maxBytesPerCall).toBeUndefined();
    }
  });

  describe("batch limits on the 5,000-event corpus", () => {
    it("no request holds more events or bytes than the kind's limits, no part is over the per-event limit, each event goes once", async () => {
      const limits = vendor.limits(settingsFor());
      const corpus = corpusEvents<SluiceEvent>()
        .filter((e) => supported.includes(e.type))
        .slice(0, fixture.corpusEvents ?? 5000)
        .map((e) => ({ ...e, receivedAt: e.receivedAt ?? RECEIVED }));
      // The corpus spans a week; delivered as a live pipeline would, each slice a second after its latest event
      // (GA4 refuses events older than 72 hours as `too_old`).
      const results: EventResult[] = [];
      const requests: CapturedRequest[] = [];
      for (let at = 0; at < corpus.length; at += 500) {
        const slice = corpus.slice(at, at + 500);
        const now = Math.max(...slice.map((e) => Date.parse(e.timestamp))) + 1000;
        const sent = await deliver(slice, undefined, now);
        results.push(...sent.results);
        requests.push(...sent.requests);
      }
      expect(results.map(describeError).filter((r) => r !== "ok")).toEqual([]);
      let itemCount = 0;
      const encoder = new TextEncoder();
      const seen = new Map<string, number>();
      let largest = 0;
      for (const request of requests) {
        const items = fixture.items(request);
        expect(items.length).toBeLessThanOrEqual(limits.maxEvents);
        // The limit counts the parts; the envelope around them (`[]`, `{"batch":…}`, an api key) is under 1 KB.
        const bytes = encoder.encode(request.body).length;
        largest = Math.max(largest, bytes);
        expect(bytes).toBeLessThanOrEqual(limits.maxBytes + 1024);
        itemCount += items.length;
        for (const { id, item } of items) {
          expect(encoder.encode(JSON.stringify(item)).length).toBeLessThanOrEqual(limits.maxEventBytes);
          if (id !== undefined) seen.set(id, (seen.get(id) ?? 0) + 1);
        }
      }
      if (fixture.noDedupKey) {
        // No id to follow (fixture.noDedupKey says why): no more items than events, and most events as items.
        expect(seen.size).toBe(0);
        expect(itemCount).toBeLessThanOrEqual(corpus.length);
        expect(itemCount).toBeGreaterThan(corpus.length / 2);
      } else {
        expect([...seen.values()].filter((n) => n > 1)).toEqual([]);
        expect(seen.size).toBeGreaterThan(corpus.length / 2);
      }
      // Requests are filled: fewer than twice the minimum the limits allow.
      const minimum = Math.max(Math.ceil(corpus.length / limits.maxEvents), 1);
      expect(requests.length).toBeGreaterThanOrEqual(minimum);
      expect(largest).toBeGreaterThan(0);
    });
  });

  describe("responses are classified the same way by every kind", () => {
    const events = () => [eventOf(supported[0]!, 1), eventOf(supported[0]!, 2), eventOf(supported[0]!, 3)];
    const answering = (status: number, headers: Record<string, string> = {}) => () => new Response(status >= 200 && status < 300 ? "{}" : `{"error":"status ${status}"}`, { status, headers });

    it.each([200, 201, 202, 204])("%i: delivered", async (status) => {
      const { results } = await deliver(events(), status === 204 ? () => new Response(null, { status }) : answering(status));
      expect(results.map(describeError)).toEqual(["ok", "ok", "ok"]);
    });

    it.each([408, 429, 500, 502, 503, 504])("%i: retried", async (status) => {
      const { results } = await deliver(events(), answering(status));
      for (const r of results) {
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error).toBeInstanceOf(RetryableError), expect(r.error.status).toBe(status);
      }
    });

    it.each([429, 503])("%i with Retry-After: the wait is the vendor's", async (status) => {
      const { results } = await deliver(events(), answering(status, { "retry-after": "7" }));
      for (const r of results) expect(!r.ok && (r.error as RetryableError).retryAfterSeconds).toBe(7);
    });

    it.each([400, 401, 403, 404, 413, 422, 501])("%i: final, with the status and the vendor's words", async (status) => {
      const { results } = await deliver(events(), answering(status));
      for (const r of results) {
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error).toBeInstanceOf(PermanentError), expect(r.error.status).toBe(status), expect(r.error.message).toContain(`status ${status}`);
      }
    });

    it("a network error or a timeout: retried", async () => {
      for (const [thrown, code] of [[new TypeError("fetch failed"), "network"], [new DOMException("timed out", "TimeoutError"), "timeout"]] as const) {
        const { results } = await deliver(events(), () => Promise.reject(thrown));
        for (const r of results) expect(!r.ok && r.error instanceof RetryableError && r.error.code).toBe(code);
      }
    });
  });

  describe("partial failures", () => {
    it.runIf(fixture.partialFailure)("fail only the events the vendor names, with its reason; the others are delivered", async () => {
      const type = supported.includes("track") ? "track" : supported[0]!;
      const events = Array.from({ length: 6 }, (_, i) => eventOf(type, i));
      let failedIds: (string | undefined)[] = [];
      const { results, requests } = await deliver(events, (request, index) => {
        if (index > 0) return new Response("{}", { status: 200 });
        const items = fixture.items(request);
        failedIds = [1, 4].map((p) => items[p]?.id);
        const answer = fixture.partialFailure!(request, [1, 4]);
        return new Response(answer.body, { status: answer.status, headers: answer.headers });
      });
      expect(failedIds.every((id) => id !== undefined)).toBe(true);
      const expected = events.map((e) => (failedIds.includes(e.messageId) ? "failed" : "ok"));
      expect(expected.filter((x) => x === "failed")).toHaveLength(2);
      expect(results.map((r) => (r.ok ? "ok" : "failed"))).toEqual(expected);
      for (const r of results) if (!r.ok) expect(r.error).toBeInstanceOf(PermanentError), expect(r.error.message.length).toBeGreaterThan(20);
      // Whatever was sent again carried only the events not yet accepted or failed.
      for (const request of requests.slice(1)) for (const { id } of fixture.items(request)) expect(failedIds).not.toContain(id);
    });
  });
});

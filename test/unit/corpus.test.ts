/** The committed corpus (test/fixtures/events-5k.ndjson) is what scripts/corpus.ts writes, and has the mix tests rely on. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CORPUS_SIZE, generateCorpus } from "../../scripts/corpus.ts";
import { CORPUS_PATH, corpusEvents } from "../fixtures/corpus.ts";

type Event = Record<string, any>;

describe("test/fixtures/events-5k.ndjson", () => {
  it("is exactly what `npm run corpus` writes (regenerate and commit it when the generator changes)", () => {
    const committed = readFileSync(CORPUS_PATH, "utf8");
    expect(committed).toBe(`${generateCorpus().join("\n")}\n`);
  });

  const events = corpusEvents<Event>();
  const count = (pick: (e: Event) => unknown) => {
    const counts: Record<string, number> = {};
    for (const e of events) {
      const k = String(pick(e));
      counts[k] = (counts[k] ?? 0) + 1;
    }
    return counts;
  };

  it("holds 5,000 events with unique messageIds, each sent no earlier than it happened", () => {
    expect(events).toHaveLength(CORPUS_SIZE);
    expect(new Set(events.map((e) => e.messageId)).size).toBe(CORPUS_SIZE);
    for (const e of events) expect(Date.parse(e.sentAt), e.messageId).toBeGreaterThanOrEqual(Date.parse(e.timestamp));
  });

  it("mixes every event type and the web, iOS, Android and server libraries", () => {
    const types = count((e) => e.type);
    for (const t of ["track", "page", "screen", "identify", "group", "alias"]) expect(types[t], t).toBeGreaterThanOrEqual(10);
    expect(types.track! / CORPUS_SIZE).toBeGreaterThan(0.4);
    const libraries = count((e) => e.context.library.name);
    for (const l of ["analytics.js", "analytics-swift", "analytics-kotlin", "@segment/analytics-node"]) expect(libraries[l], l).toBeGreaterThanOrEqual(100);
    const web = events.filter((e) => e.context.library.name === "analytics.js");
    for (const e of web) expect(Object.keys(e.context)).toEqual(expect.arrayContaining(["ip", "locale", "page", "timezone", "userAgent"]));
    const mobile = events.filter((e) => e.context.device !== undefined);
    for (const e of mobile) expect(Object.keys(e.context)).toEqual(expect.arrayContaining(["app", "device", "network", "os", "screen", "locale"]));
    expect(web.some((e) => e.context.campaign?.medium === "email" && e.context.page.url.includes("utm_"))).toBe(true);
    expect(events.some((e) => e.integrations?.["Holdout Hook"] === true && e.integrations.All === false)).toBe(true);
  });

  it("has e-commerce spec events with product lists, and people with traits", () => {
    const orders = events.filter((e) => e.event === "Order Completed");
    expect(orders.length).toBeGreaterThanOrEqual(50);
    for (const o of orders) {
      expect(o.properties.products.length).toBeGreaterThan(0);
      const subtotal = o.properties.products.reduce((n: number, p: Event) => n + p.price * p.quantity, 0);
      expect(o.properties.revenue).toBeCloseTo(subtotal - o.properties.discount, 2);
    }
    expect(new Set(events.filter((e) => e.type === "track").map((e) => e.event))).toEqual(
      new Set(["Product Viewed", "Product Added", "Cart Viewed", "Checkout Started", "Order Completed", "Signed Up", "Search Performed", "Video Playback Started", "Feature Used", "Invite Sent"]),
    );
    for (const e of events.filter((x) => x.type === "identify")) expect(e.traits.email).toMatch(/^[^@\s]+@example\.(com|org|net)$/);
    for (const e of events.filter((x) => x.type === "alias")) expect(e.previousId).not.toBe(e.userId);
  });
});

/**
 * GA4, PostHog and Slack end to end: Segment's @segment/analytics-node → Sluice in `wrangler dev` → a local
 * stand-in per vendor (test/support/vendors/) that checks every request the way the vendor documents it and
 * fails some (429 with Retry-After, 5xx, a 400 for one client among others). Every event arrives exactly once;
 * the rejected ones are dead letters carrying the vendor's answer.
 */
import { Analytics } from "@segment/analytics-node";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { tempFolder } from "../support/temp-folder.ts";
import { ga4Checker, ga4Events } from "../support/vendors/ga4.ts";
import { posthogChecker, posthogItems } from "../support/vendors/posthog.ts";
import { startVendorServer, type VendorServer } from "../support/vendors/stand-in.ts";
import { slackChecker, slackLines } from "../support/vendors/slack.ts";
import { startWranglerDev, type DevWorker } from "./wrangler-dev.ts";

const [WRITE_KEY, ADMIN_TOKEN, GA4_SECRET, POSTHOG_KEY] = ["wk_e2e_vendors", "e2e-admin-token", "ga4-e2e-secret", "phc_e2e"];
const SLACK_PATH = "/services/T0001/B0001/e2e";
const [dir, state] = [tempFolder("e2e-vendors"), tempFolder("e2e-state")];
let ga4: VendorServer, posthog: VendorServer, slack: VendorServer, dev: DevWorker;

beforeAll(async () => {
  [ga4, posthog, slack] = await Promise.all([
    startVendorServer(ga4Checker({ measurementId: "G-E2E1", apiSecret: GA4_SECRET })),
    startVendorServer(posthogChecker(POSTHOG_KEY)),
    startVendorServer(slackChecker(SLACK_PATH)),
  ]);
  const retry = "retry: { base_delay_seconds: 1, max_delay_seconds: 2 }";
  writeFileSync(
    join(dir, "sluice.yaml"),
    `sources: [{ id: server, name: Backend, write_keys: [${WRITE_KEY}] }]
destinations:
  - id: ga4
    name: GA4
    kind: ga4
    sources: [server]
    settings: { measurement_id: G-E2E1, api_secret: "\${env.GA4_SECRET}", endpoint: "${ga4.url}" }
    ${retry}
  - id: posthog
    name: PostHog
    kind: posthog
    sources: [server]
    settings: { api_key: "\${env.POSTHOG_KEY}", host: "${posthog.url}" }
    ${retry}
  - id: slack
    name: Slack
    kind: slack
    sources: [server]
    settings:
      webhook_url: "\${env.SLACK_WEBHOOK_URL}"
      events: [Order Completed]
      templates: { Order Completed: "order {{properties.eid}} by {{userId}}" }
    ${retry}
`,
  );
  dev = await startWranglerDev(dir, state, { ADMIN_TOKEN, GA4_SECRET, POSTHOG_KEY, SLACK_WEBHOOK_URL: `${slack.url}${SLACK_PATH}` });
});

afterAll(async () => {
  await dev?.stop();
  await Promise.all([ga4?.close(), posthog?.close(), slack?.close()]);
});

/** Requests the vendor took (2xx): what it stored. */
const accepted = (server: VendorServer, status: (n: number) => number) => server.requests.filter((_, i) => status(i + 1) < 300);

async function until(what: string, done: () => boolean | Promise<boolean>, timeoutMs = 40_000, state?: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  console.log(dev.output().split("\n").slice(-40).join("\n"));
  throw new Error(`timed out waiting for ${what}${state ? `: ${JSON.stringify(await state())}` : ""}`);
}

interface DeadLetterEntry {
  id: string;
  destination: string;
  reason: string;
  events: number;
}
async function deadLetters(destination: string): Promise<DeadLetterEntry[]> {
  const res = await fetch(`${dev.url}/admin/dead-letters?destination=${destination}&limit=100`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return ((await res.json()) as { entries: DeadLetterEntry[] }).entries;
}
async function deadLetterEvents(entry: DeadLetterEntry): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${dev.url}/admin/dead-letters/${encodeURIComponent(entry.id)}?destination=${entry.destination}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return ((await res.json()) as { record: { events: Record<string, unknown>[] } }).record.events;
}

async function send(build: (a: Analytics) => void): Promise<void> {
  const analytics = new Analytics({ writeKey: WRITE_KEY, host: dev.url, flushAt: 20, flushInterval: 200, maxRetries: 5 });
  const errors: unknown[] = [];
  analytics.on("error", (e) => errors.push(e));
  build(analytics);
  await analytics.closeAndFlush({ timeout: 30_000 });
  expect(errors).toEqual([]);
}

it("delivers to GA4, PostHog and Slack exactly once through 429s, 5xx and 400s, dead-lettering what the vendors reject", async () => {
  // Faults: by request number (the first tries of each vendor), and for GA4 one client it always refuses, which
  // shares its deliveries with good clients (a partial failure: GA4 requests are per client).
  const ga4Status = new Map<number, number>();
  ga4.respond = (req, n) => {
    const client = (req.json as { client_id?: string }).client_id ?? "";
    if (client.endsWith("poison")) return ga4Status.set(n, 400), { status: 400, body: JSON.stringify({ error: `client ${client} rejected` }) };
    if (n === 2) return ga4Status.set(n, 503), { status: 503 };
    if (n === 4) return ga4Status.set(n, 429), { status: 429, headers: { "retry-after": "1" } };
    return undefined;
  };
  const posthogStatus = new Map<number, number>();
  posthog.respond = (req, n) => {
    if (posthogItems(req).some((i) => i.distinct_id === "poison")) return posthogStatus.set(n, 400), { status: 400, body: JSON.stringify({ type: "validation_error", detail: "poisoned batch" }) };
    if (n === 1) return posthogStatus.set(n, 503), { status: 503 };
    if (n === 2) return posthogStatus.set(n, 429), { status: 429, headers: { "retry-after": "1" } };
    return undefined;
  };
  const slackStatus = new Map<number, number>();
  slack.respond = (req, n) => {
    if (slackLines(req).some((l) => l.includes("poison"))) return slackStatus.set(n, 400), { status: 400, body: "invalid_payload" };
    if (n === 1) return slackStatus.set(n, 429), { status: 429, headers: { "retry-after": "1" }, body: "rate_limited" };
    return undefined;
  };

  // Phase 1: 60 events of all six types from 7 users, and one event of a client GA4 refuses.
  const orders: string[] = [];
  await send((a) => {
    for (let i = 0; i < 60; i++) {
      const eid = `e${i}`;
      const common = { userId: `user-${i % 7}`, anonymousId: `anon-${i % 7}` };
      switch (i % 6) {
        case 0:
          orders.push(eid);
          a.track({ ...common, event: "Order Completed", properties: { eid, order_id: `o${i}`, revenue: i, currency: "EUR", products: [{ product_id: `p${i}`, name: "Tee", price: i, quantity: 1 }] } });
          break;
        case 1:
          // A trait of its own per identify: GA4 merges a client's user properties, so a shared name would keep only the last value.
          a.identify({ ...common, traits: { eid, [`seen_${eid}`]: true, plan: "pro" } });
          break;
        case 2:
          a.page({ ...common, name: "Pricing", properties: { eid, url: "https://shop.test/pricing" } });
          break;
        case 3:
          a.screen({ ...common, name: "Home", properties: { eid } });
          break;
        case 4:
          a.group({ ...common, groupId: `org-${i % 3}`, traits: { eid } });
          break;
        default:
          a.track({ ...common, event: "Video Played", properties: { eid, seconds: i } });
      }
    }
    a.track({ anonymousId: "ga4-poison", event: "Poison Pill", properties: { eid: "ga4-poison" } });
  });

  const ga4Ids = () => accepted(ga4, (n) => ga4Status.get(n) ?? 200).flatMap((r) => [
    ...ga4Events(r).map((e) => String(e.params.eid)),
    ...Object.entries((r.json as { user_properties?: Record<string, { value: unknown }> }).user_properties ?? {}).flatMap(([k]) => (k.startsWith("seen_") ? [k.slice(5)] : [])),
  ]);
  const posthogIds = () =>
    accepted(posthog, (n) => posthogStatus.get(n) ?? 200).flatMap((r) =>
      posthogItems(r).map((i) => String(i.properties.eid ?? (i.properties.$set as { eid?: string })?.eid ?? (i.properties.$group_set as { eid?: string })?.eid)),
    );
  const slackIds = () => accepted(slack, (n) => slackStatus.get(n) ?? 200).flatMap(slackLines).map((l) => /^order (\S+) by/.exec(l)?.[1] ?? l);

  // GA4 takes track, page and identify (screen and group are dropped.unsupported_type); PostHog all; Slack the orders.
  const ga4Expected = Array.from({ length: 60 }, (_, i) => i).filter((i) => [0, 1, 2, 5].includes(i % 6)).map((i) => `e${i}`);
  const posthogExpected = [...Array.from({ length: 60 }, (_, i) => `e${i}`), "ga4-poison"];
  const missing = async () => ({
    ga4: ga4Expected.filter((id) => !ga4Ids().includes(id)),
    posthog: posthogExpected.filter((id) => !posthogIds().includes(id)),
    slack: orders.filter((id) => !slackIds().includes(id)),
    ga4DeadLetters: (await deadLetters("ga4")).length,
    problems: [...ga4.problems, ...posthog.problems, ...slack.problems],
  });
  await until("phase 1 at every vendor", async () => JSON.stringify(await missing()) === JSON.stringify({ ga4: [], posthog: [], slack: [], ga4DeadLetters: 1, problems: [] }), 40_000, missing);

  // Phase 2: an order every vendor refuses, alone, so it fails alone at each.
  await send((a) => a.track({ userId: "poison", anonymousId: "poison", event: "Order Completed", properties: { eid: "poison" } }));
  await until("the poisoned order dead-lettered at every vendor", async () => {
    const [g, p, s] = await Promise.all([deadLetters("ga4"), deadLetters("posthog"), deadLetters("slack")]);
    return g.reduce((n, e) => n + e.events, 0) === 2 && p.length === 1 && s.length === 1;
  });

  // Exactly once, each request as the vendor documents it, and the faults really happened.
  expect(ga4.problems).toEqual([]);
  expect(posthog.problems).toEqual([]);
  expect(slack.problems).toEqual([]);
  expect(ga4Ids().sort()).toEqual([...ga4Expected].sort());
  expect(posthogIds().sort()).toEqual([...posthogExpected].sort());
  expect(slackIds().sort()).toEqual([...orders].sort());
  expect([...ga4Status.values()]).toEqual(expect.arrayContaining([503, 429, 400]));
  expect([...posthogStatus.values()]).toEqual(expect.arrayContaining([503, 429, 400]));
  expect([...slackStatus.values()]).toEqual(expect.arrayContaining([429, 400]));
  for (const r of ga4.requests) expect(new Set(ga4Events(r).map((e) => e.client)).size).toBeLessThanOrEqual(1);

  // The rejected events are dead letters with the vendor's own reason.
  const ga4Dead = await deadLetters("ga4");
  expect(ga4Dead.every((e) => /HTTP 400: .*client .*poison rejected/.test(e.reason))).toBe(true);
  const ga4DeadIds = (await Promise.all(ga4Dead.map(deadLetterEvents))).flat().map((e) => (e.properties as { eid: string }).eid);
  expect(ga4DeadIds.sort()).toEqual(["ga4-poison", "poison"]);
  const [posthogDead] = await deadLetters("posthog");
  expect(posthogDead!.reason).toContain("poisoned batch");
  expect((await deadLetterEvents(posthogDead!)).map((e) => (e.properties as { eid: string }).eid)).toEqual(["poison"]);
  const [slackDead] = await deadLetters("slack");
  expect(slackDead!.reason).toContain("HTTP 400: invalid_payload");
  expect((await deadLetterEvents(slackDead!)).map((e) => (e.properties as { eid: string }).eid)).toEqual(["poison"]);

  // What a kind does not take, or a destination did not select, is counted, never silent (stats flush about once a second).
  const counted = async (scope: string, name: string) => {
    const res = await fetch(`${dev.url}/admin/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const days = ((await res.json()) as { scopes: Record<string, { counters: Record<string, number> }[]> }).scopes[scope] ?? [];
    return days.reduce((n, d) => n + (d.counters[name] ?? 0), 0);
  };
  // Slack: 51 of phase 1's 61 events are not orders; GA4: 20 screens and groups.
  await until("drop counters", async () => (await counted("destination:slack", "dropped.not_selected")) === 51 && (await counted("destination:ga4", "dropped.unsupported_type")) === 20, 10_000);
}, 85_000);

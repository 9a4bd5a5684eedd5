/**
 * Vendor kinds end to end: @segment/analytics-node → Sluice in `wrangler dev` → local stand-ins for Mixpanel,
 * Amplitude and Segment (test/support/vendors/) that check each request as the vendor documents it, answer the
 * first ones with 429 + Retry-After and 5xx, and refuse some events as the vendor would (Mixpanel's strict-mode
 * failed_records, Amplitude's events_with_invalid_fields, Amplitude throttling one user). Every event arrives once
 * per vendor; the refused ones are dead letters carrying the vendor's reason.
 */
import { Analytics } from "@segment/analytics-node";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { tempFolder } from "../support/temp-folder.ts";
import { startAmplitude, type AmplitudeStandIn } from "../support/vendors/amplitude.ts";
import { MIXPANEL_REJECT_MESSAGE, startMixpanel, type MixpanelStandIn } from "../support/vendors/mixpanel.ts";
import { startSegment, type SegmentStandIn } from "../support/vendors/segment.ts";
import { startWranglerDev, type DevWorker } from "./wrangler-dev.ts";

const WRITE_KEY = "wk_e2e_vendors";
const ADMIN_TOKEN = "e2e-admin-token";
const SECRETS = { MP_SECRET: "mp-secret-1", AMP_KEY: "amp-key-1", SEG_KEY: "seg-write-key-1" };
const dir = tempFolder("e2e-vendors");
const state = tempFolder("e2e-state");
let mixpanel: MixpanelStandIn;
let amplitude: AmplitudeStandIn;
let segment: SegmentStandIn;
let dev: DevWorker;

beforeAll(async () => {
  [mixpanel, amplitude, segment] = await Promise.all([
    startMixpanel({ apiSecret: SECRETS.MP_SECRET, token: "mp-token", faults: [{ status: 429, retryAfter: "1" }, { status: 500 }] }),
    startAmplitude({ apiKey: SECRETS.AMP_KEY, faults: [{ status: 503 }, { status: 429, retryAfter: "1" }], throttleUser: "user-3" }),
    startSegment({ writeKey: SECRETS.SEG_KEY, faults: [{ status: 429, retryAfter: "1" }, { status: 500 }] }),
  ]);
  // Retries come quickly, so the test waits seconds, not minutes, for the faults to be outlived.
  const retry = `retry: { window_hours: 1, base_delay_seconds: 1, max_delay_seconds: 2 }
    circuit_breaker: { failures_to_open: 100, cooldown_seconds: 1 }`;
  const config = `sources: [{ id: server, name: Backend, write_keys: [${WRITE_KEY}] }]
destinations:
  - id: mixpanel
    name: Mixpanel
    kind: mixpanel
    sources: [server]
    settings: { project_token: mp-token, api_secret: "\${env.MP_SECRET}", endpoint: "${mixpanel.url}" }
    ${retry}
  - id: amplitude
    name: Amplitude
    kind: amplitude
    sources: [server]
    settings: { api_key: "\${env.AMP_KEY}", endpoint: "${amplitude.url}" }
    ${retry}
  - id: segment
    name: Segment
    kind: segment
    sources: [server]
    settings: { write_key: "\${env.SEG_KEY}", endpoint: "${segment.url}" }
    ${retry}
`;
  writeFileSync(join(dir, "sluice.yaml"), config);
  dev = await startWranglerDev(dir, state, { ...SECRETS, ADMIN_TOKEN });
});

afterAll(async () => {
  await dev?.stop();
  await Promise.all([mixpanel?.close(), amplitude?.close(), segment?.close()]);
});

const TYPES = ["track", "identify", "page", "screen", "group", "alias"] as const;
const N = 60;
const REJECTED = new Set(["e2e-0", "e2e-24", "e2e-48"]);
const ids = (filter: (type: string, id: string) => boolean) =>
  Array.from({ length: N }, (_, i) => [TYPES[i % 6]!, `e2e-${i}`] as const)
    .filter(([t, id]) => filter(t, id))
    .map(([, id]) => id)
    .sort();

async function deadLetters(destination: string): Promise<{ reason: string; record: string; messageIds: string[] }[]> {
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const list = (await (await fetch(`${dev.url}/admin/dead-letters?destination=${destination}&limit=100`, { headers: auth })).json()) as { entries: { id: string; reason: string }[] };
  return Promise.all(
    list.entries.map(async (e) => {
      const one = (await (await fetch(`${dev.url}/admin/dead-letters/${encodeURIComponent(e.id)}`, { headers: auth })).json()) as { record: { events: { messageId: string }[] } };
      return { reason: e.reason, record: JSON.stringify(one.record), messageIds: one.record.events.map((ev) => ev.messageId) };
    }),
  );
}

async function until(done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
}

it("every event reaches each vendor once through 429s, 5xx and partial failures; the refused ones are dead letters with the vendor's reason", async () => {
  const analytics = new Analytics({ writeKey: WRITE_KEY, host: dev.url, flushAt: 20, flushInterval: 200, maxRetries: 5 });
  const errors: unknown[] = [];
  analytics.on("error", (e) => errors.push(e));
  const timestamp = new Date(Date.now() - 1000);
  for (let i = 0; i < N; i++) {
    const common = { userId: `user-${i % 7}`, messageId: `e2e-${i}`, timestamp, context: { ip: "203.0.113.7", locale: "en-GB" } };
    switch (TYPES[i % 6]) {
      case "track":
        analytics.track({ ...common, event: "Order Completed", properties: { order_id: `o-${i}`, revenue: i, ...(REJECTED.has(`e2e-${i}`) ? { reject: true } : {}) } });
        break;
      case "identify":
        analytics.identify({ ...common, traits: { email: `u${i}@example.com`, name: "Ada" } });
        break;
      case "page":
        analytics.page({ ...common, name: "Pricing", properties: { path: "/pricing" } });
        break;
      case "screen":
        analytics.screen({ ...common, name: "Home" });
        break;
      case "group":
        analytics.group({ ...common, groupId: `org-${i % 5}`, traits: { name: "Acme" } });
        break;
      default:
        analytics.alias({ ...common, previousId: `anon-${i}` });
    }
  }
  await analytics.closeAndFlush({ timeout: 30_000 });
  expect(errors).toEqual([]);

  // Mixpanel: track, page, screen and alias are /import records (identify without anonymousId is a profile update only).
  const mixpanelIds = ids((t, id) => ["track", "page", "screen", "alias"].includes(t) && !REJECTED.has(id));
  // Amplitude takes no alias.
  const amplitudeIds = ids((t, id) => t !== "alias" && !REJECTED.has(id));
  const segmentIds = ids(() => true);
  const identifies = ids((t) => t === "identify").length;
  await until(
    async () =>
      mixpanel.imported.accepted.size >= mixpanelIds.length &&
      amplitude.ingested.accepted.size >= amplitudeIds.length &&
      segment.received.accepted.size >= segmentIds.length &&
      (await deadLetters("mixpanel")).flatMap((d) => d.messageIds).length >= REJECTED.size &&
      (await deadLetters("amplitude")).flatMap((d) => d.messageIds).length >= REJECTED.size,
    60_000,
  );

  for (const [name, ledger, expected] of [["mixpanel", mixpanel.imported, mixpanelIds], ["amplitude", amplitude.ingested, amplitudeIds], ["segment", segment.received, segmentIds]] as const) {
    expect({ name, violations: ledger.violations }).toEqual({ name, violations: [] });
    expect({ name, accepted: [...ledger.accepted.keys()].sort() }).toEqual({ name, accepted: expected });
    // A request the vendor took is never sent again.
    expect({ name, redelivered: ledger.redelivered }).toEqual({ name, redelivered: [] });
  }
  // The injected faults were all met (and survived).
  expect([mixpanel.faults.length, amplitude.faults.length, segment.faults.length]).toEqual([0, 0, 0]);
  // Amplitude throttled user-3's events once: they were retried after Retry-After and arrived (but the refused one).
  expect(amplitude.throttled.length).toBeGreaterThan(0);
  for (const id of amplitude.throttled) expect(REJECTED.has(id) || amplitude.ingested.accepted.get(id)?.user_id === "user-3", id).toBe(true);
  expect(new Set(mixpanel.profiles.map((p) => p.$distinct_id)).size).toBe(7);
  expect(mixpanel.profiles.length).toBe(identifies);
  expect(mixpanel.profiles[0]!.$set).toMatchObject({ $email: expect.stringMatching(/@example\.com$/), $name: "Ada" });
  expect(new Set(mixpanel.groups.map((g) => g.$group_id))).toEqual(new Set(["org-0", "org-1", "org-2", "org-3", "org-4"]));
  expect(mixpanel.imported.accepted.get("e2e-2")).toMatchObject({ event: "Loaded a Page", properties: { distinct_id: "user-2", ip: "203.0.113.7", $locale: "en-GB" } });
  expect(amplitude.ingested.accepted.get("e2e-1")).toMatchObject({ event_type: "$identify", user_id: "user-1", user_properties: { $set: { email: "u1@example.com" } } });
  expect(segment.received.accepted.get("e2e-5")).toMatchObject({ type: "alias", previousId: "anon-5", userId: "user-5" });

  for (const [destination, words] of [["mixpanel", MIXPANEL_REJECT_MESSAGE], ["amplitude", "invalid field event_properties.reject"]] as const) {
    const letters = await deadLetters(destination);
    expect({ destination, ids: letters.flatMap((d) => d.messageIds).sort() }).toEqual({ destination, ids: [...REJECTED].sort() });
    for (const d of letters) expect(d.record).toContain(words);
  }
  expect(await deadLetters("segment")).toEqual([]);
}, 150_000);

/**
 * Quarantine and replay across a plan change, on the real worker (`wrangler dev`): events that violate the
 * plan are quarantined and not delivered; the worker is stopped, the plan file fixed, and the worker started
 * again on the same persisted state (R2, Durable Objects); `sluice quarantine replay` then delivers each of them
 * exactly once, and a second replay delivers nothing more.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startSink, type Sink } from "../../scripts/sink.ts";
import { adminRequest, archiveCommand } from "../../src/cli/admin.ts";
import { tempFolder } from "../support/temp-folder.ts";
import { postJson, startWranglerDev, type DevWorker } from "./wrangler-dev.ts";

const SECRET = "e2e-plans-secret";
const ADMIN_TOKEN = "e2e-plans-admin";
const WRITE_KEY = "wk_e2e_plans";
let sink: Sink;
let dev: DevWorker | undefined;
const dir = tempFolder("e2e-plans");
/** Local R2 and Durable Objects, kept across the restart. */
const state = tempFolder("e2e-state");

const PLAN_V1 = `events:
  - name: Order Completed
    properties:
      order_id: { type: string, required: true }
      revenue: { type: number, required: true }
`;
// The fix: the app sends revenue as a string, and a new event the plan did not know yet.
const PLAN_V2 = `events:
  - name: Order Completed
    properties:
      order_id: { type: string, required: true }
      revenue: { type: [number, string], required: true }
  - name: Coupon Applied
    properties:
      coupon: string
`;

beforeAll(async () => {
  sink = await startSink({ secret: SECRET });
  mkdirSync(join(dir, "plans"));
  writeFileSync(
    join(dir, "sluice.yaml"),
    `sources:
  - id: shop
    name: Shop
    write_keys: [${WRITE_KEY}]
    tracking_plan: shop
    enforcement: { unplanned_events: quarantine, violations: quarantine }
destinations:
  - id: hook
    name: E2E Webhook
    kind: webhook
    sources: [shop]
    settings: { url: "${sink.url}", secret: "\${env.HOOK_SECRET}" }
`,
  );
  writeFileSync(join(dir, "plans", "shop.yaml"), PLAN_V1);
  dev = await startWranglerDev(dir, state, { HOOK_SECRET: SECRET, ADMIN_TOKEN });
});

afterAll(async () => {
  await dev?.stop();
  await sink?.close();
});

const auth = { authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString("base64")}` };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const deliveredIds = () => sink.received.flatMap((r) => r.events.map((e) => e.messageId as string));
const timesDelivered = (id: string) => deliveredIds().filter((d) => d === id).length;

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${dev?.output().slice(-3000)}`);
    await sleep(200);
  }
}

it("quarantines violations, and after the plan is fixed a replay delivers each of them exactly once", async () => {
  const run = Date.now().toString(36);
  const valid = Array.from({ length: 6 }, (_, i) => ({ type: "track", userId: `u${i}`, event: "Order Completed", messageId: `ok-${run}-${i}`, properties: { order_id: `o${i}`, revenue: i + 0.5 } }));
  const violating = [
    ...Array.from({ length: 4 }, (_, i) => ({ type: "track", userId: `v${i}`, event: "Order Completed", messageId: `bad-${run}-${i}`, properties: { order_id: `b${i}`, revenue: `${i}.99` } })),
    { type: "track", userId: "v9", event: "Coupon Applied", messageId: `new-${run}`, properties: { coupon: "SPRING" } },
  ];
  const res = await postJson(`${dev!.url}/v1/batch`, { batch: [...valid, ...violating] }, auth);
  expect(res.status).toBe(200);
  // Accepted at the edge; the router quarantines the violating ones behind the queue.
  expect(JSON.parse(res.body)).toEqual({ success: true, accepted: 11 });

  const conn = { url: dev!.url, token: ADMIN_TOKEN };
  await until(() => valid.every((e) => timesDelivered(e.messageId) === 1), "the valid events");
  type Listed = { count: number; totals: { stored: number }; entries: { id: string; name: string; category: string }[] };
  const listed = await adminRequest<Listed>(conn, "GET", "/admin/quarantine?source=shop");
  expect(listed.totals.stored).toBe(5);
  expect(listed.entries.map((e) => e.category).sort()).toEqual(["Invalid Type", "Invalid Type", "Invalid Type", "Invalid Type", "Unplanned Event"]);
  await sleep(2000);
  for (const e of violating) expect(timesDelivered(e.messageId)).toBe(0);

  // Fix the plan, restart on the same state: the quarantine (R2 + index) and the counters are still there.
  await dev!.stop();
  dev = undefined;
  writeFileSync(join(dir, "plans", "shop.yaml"), PLAN_V2);
  dev = await startWranglerDev(dir, state, { HOOK_SECRET: SECRET, ADMIN_TOKEN });
  const conn2 = { url: dev.url, token: ADMIN_TOKEN };

  const lines: string[] = [];
  expect(await archiveCommand("quarantine", ["replay"], { ...conn2, source: "shop" }, (l) => lines.push(l))).toBe(0);
  expect(lines.at(-1)).toMatch(/^replayed 5 \(5 events\), still failing 0, failed 0, remaining 0$/);
  await until(() => violating.every((e) => timesDelivered(e.messageId) >= 1), "the replayed events");

  // Replaying again claims nothing; give any stray delivery time to show.
  const again: string[] = [];
  expect(await archiveCommand("quarantine", ["replay"], { ...conn2, source: "shop" }, (l) => again.push(l))).toBe(0);
  expect(again.at(-1)).toMatch(/^replayed 0 \(0 events\)/);
  await sleep(3000);
  for (const e of violating) expect(timesDelivered(e.messageId), e.messageId).toBe(1);
  for (const e of valid) expect(timesDelivered(e.messageId), e.messageId).toBe(1);
  const replayed = sink.received.flatMap((r) => r.events).filter((e) => violating.some((v) => v.messageId === e.messageId));
  // Delivered as the fixed plan sees them: nothing found, so no context.protocols; the event itself intact.
  for (const e of replayed) expect(e).not.toHaveProperty("context.protocols");
  expect(replayed.find((e) => e.messageId === `bad-${run}-0`)).toMatchObject({ properties: { order_id: "b0", revenue: "0.99" } });
  expect(sink.received.every((r) => r.signatureValid)).toBe(true);

  const after = await adminRequest<Listed>(conn2, "GET", "/admin/quarantine?source=shop&status=stored");
  expect(after.count).toBe(0);
  // Counters survive the restart: quarantined in the first run, replayed in the second. A replay checks its events
  // against the plan as ingest does, so `validated` counts 11 at ingest + 5 on replay.
  await until(async () => (await adminRequest<{ replayed: number }>(conn2, "GET", "/admin/plans/shop/stats")).replayed === 5, "the replayed counter", 15_000);
  const stats = await adminRequest<{ validated: number; quarantined: { total: number; violation: number; unplanned_event: number }; replayed: number }>(conn2, "GET", "/admin/plans/shop/stats");
  expect(stats).toMatchObject({ validated: 16, quarantined: { total: 5, violation: 4, unplanned_event: 1 }, replayed: 5 });
});

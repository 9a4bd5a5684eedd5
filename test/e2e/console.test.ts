/**
 * The console in a real browser (headless Chromium, test/e2e/browser.ts) against `wrangler dev`: signs in (the
 * Secure session cookie is kept on http://127.0.0.1), sees events sent with @segment/analytics-node in Live within 5 s
 * with each destination's outcome, opens one; after the plan is fixed (worker restarted on the same state),
 * replays a quarantined event from the Tracking plan page and sees it delivered. Unauthenticated requests get the
 * sign-in page or 401; a cross-site form post is refused. Screenshots go to .sluice/console-screenshots/.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import { join } from "node:path";
import { Analytics } from "@segment/analytics-node";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { freePort } from "../../scripts/local-wrangler.ts";
import { startSink, type Sink } from "../../scripts/sink.ts";
import { tempFolder } from "../support/temp-folder.ts";
import { launchChromium } from "./browser.ts";
import { postJson, startWranglerDev, type DevWorker } from "./wrangler-dev.ts";

const SECRET = "e2e-console-secret";
const ADMIN_TOKEN = "e2e-console-admin-token";
const WRITE_KEY = "wk_e2e_console";
const SHOTS = ".sluice/console-screenshots";
const dir = tempFolder("e2e-console");
const state = tempFolder("e2e-console-state");
let sink: Sink;
let dev: DevWorker | undefined;
let browser: Browser | undefined;
let evil: Server | undefined;

const PLAN = (revenue: string) => `events:
  - name: Order Completed
    properties:
      order_id: { type: string, required: true }
      revenue: { type: ${revenue}, required: true }
`;

/** One source with a plan that quarantines violations; one webhook to the test's sink. */
const CONFIG = (hookUrl: string) => `sources:
  - { id: shop, name: Shop, write_keys: [${WRITE_KEY}], tracking_plan: shop, enforcement: { violations: quarantine } }
destinations:
  - { id: hook, name: E2E Webhook, kind: webhook, sources: [shop], settings: { url: "${hookUrl}", secret: "\${env.HOOK_SECRET}" } }
`;

beforeAll(async () => {
  sink = await startSink({ secret: SECRET });
  for (const [file, text] of [
    ["sluice.yaml", CONFIG(sink.url)],
    ["plans/shop.yaml", PLAN("number")],
  ] as const) {
    mkdirSync(join(dir, file, ".."), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  mkdirSync(SHOTS, { recursive: true });
  dev = await startWranglerDev(dir, state, { HOOK_SECRET: SECRET, ADMIN_TOKEN });
  // After wrangler started: where the system lacks Chromium's libraries, launching sets LD_LIBRARY_PATH for this process.
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await dev?.stop();
  await sink?.close();
  await new Promise((r) => (evil ? evil.close(r) : r(undefined)));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${dev?.output().slice(-3000)}`);
    await sleep(100);
  }
}

let page: Page;

/** The status a WebSocket upgrade request gets (fetch cannot send one). */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", origin: new URL(url).origin } });
    req.on("response", (res) => (res.resume(), resolve(res.statusCode ?? 0)));
    req.on("upgrade", (res, socket) => (socket.destroy(), resolve(res.statusCode ?? 101)));
    req.on("error", reject);
    req.end();
  });
}

it("sends unauthenticated requests to the sign-in page or answers 401", async () => {
  for (const path of ["/console/live", "/console/delivery", "/console/plan", "/console/dead-letters", "/console/usage"]) {
    const res = await fetch(`${dev!.url}${path}`, { redirect: "manual" });
    expect(res.status, path).toBe(303);
    expect(res.headers.get("location")).toBe("/console/sign-in");
  }
  expect(await upgradeStatus(`${dev!.url}/console/live/shop/socket`)).toBe(401);
});

it("signs in, and shows events in Live within 5 s with each destination's outcome", async () => {
  const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  await page.goto(`${dev!.url}/console/live`);
  expect(new URL(page.url()).pathname).toBe("/console/sign-in");
  await page.fill("#token", ADMIN_TOKEN);
  await page.press("#token", "Enter");
  await page.waitForURL("**/console/live");
  const [cookie] = await context.cookies();
  expect(cookie).toMatchObject({ name: "sluice_console", httpOnly: true, secure: true, sameSite: "Strict", path: "/console" });
  expect(cookie!.value).not.toContain(ADMIN_TOKEN);
  await expect.poll(() => page.locator("#status").textContent()).toMatch(/^Live/);

  const analytics = new Analytics({ writeKey: WRITE_KEY, host: dev!.url, flushAt: 3, flushInterval: 100, maxRetries: 3 });
  const sentAt = Date.now();
  analytics.track({ userId: "u-1", event: "Order Completed", messageId: "console-ok", properties: { order_id: "o-1", revenue: 10 } });
  analytics.track({ userId: "u-2", event: "Order Completed", messageId: "console-bad", properties: { order_id: "o-2", revenue: "12.50" } });
  analytics.identify({ userId: "u-1", messageId: "console-identify", traits: { plan: "pro" } });
  await analytics.closeAndFlush();

  const ok = page.locator('#events tr[data-message-id="console-ok"]');
  await ok.waitFor({ timeout: 5_000 });
  await page.locator('#events tr[data-message-id="console-bad"]').waitFor({ timeout: 5_000 });
  const seenAfterMs = Date.now() - sentAt;
  expect(seenAfterMs).toBeLessThan(5_000);
  expect(await ok.textContent()).toContain("hook: delivered");
  expect(await page.locator('#events tr[data-message-id="console-bad"]').textContent()).toContain("hook: quarantined");

  // Open one with the keyboard: its JSON, findings and outcomes.
  await page.locator('#events tr[data-message-id="console-bad"]').focus();
  await page.keyboard.press("Enter");
  const detail = page.locator("#detail");
  await expect.poll(() => detail.textContent()).toContain("properties.revenue");
  expect(await detail.textContent()).toContain("hook: quarantined");
  expect(await detail.locator("pre").textContent()).toContain('"order_id": "o-2"');
  // Filter by type.
  await page.selectOption('select[name="type"]', "identify");
  expect(await page.locator("#events tr").count()).toBe(1);
  await page.selectOption('select[name="type"]', "");
  // A batch larger than the router describes (40 events > 25): the view says it samples, and the true count.
  const batch = Array.from({ length: 40 }, (_, i) => ({ type: "track", event: "Order Completed", userId: "u-3", messageId: `console-many-${i}`, properties: { order_id: `o-${i}`, revenue: i } }));
  expect((await postJson(`${dev!.url}/v1/batch`, { batch }, { authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString("base64")}` })).status).toBe(200);
  await expect.poll(() => page.locator("#sampling").textContent(), { timeout: 5_000 }).toMatch(/Sampled: showing (2[89]|[3-4]\d) of 43 events/);
  await page.screenshot({ path: join(SHOTS, "live-1280.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(SHOTS, "live-390.png"), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  console.log(`console e2e: events seen in Live ${seenAfterMs} ms after sending`);
});

it("refuses a cross-site form post", async () => {
  const port = await freePort();
  // Another site (localhost is not 127.0.0.1) posting a purge to the console as the signed-in browser.
  evil = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(`<form id="f" method="post" action="${dev!.url}/console/dead-letters/purge"><input name="confirm" value="yes"></form><script>document.getElementById("f").submit()</script>`);
  });
  await new Promise<void>((r) => evil!.listen(port, "127.0.0.1", r));
  const answer = page.waitForResponse((r) => r.url().endsWith("/console/dead-letters/purge"));
  await page.goto(`http://localhost:${port}/`);
  expect([401, 403]).toContain((await answer).status());
});

it("replays a quarantined event from the Tracking plan page once the plan is fixed, and it is delivered", async () => {
  await page.goto(`${dev!.url}/console/plan`);
  const row = page.locator("tbody tr[data-entry]").first();
  await row.waitFor();
  expect(await row.textContent()).toContain("Order Completed");
  await page.screenshot({ path: join(SHOTS, "plan-1280.png"), fullPage: true });
  expect(sink.received.flatMap((r) => r.events.map((e) => e.messageId))).not.toContain("console-bad");

  // The fix (revenue may be a string), on the same local state: the browser's session survives the restart.
  await dev!.stop();
  writeFileSync(join(dir, "plans", "shop.yaml"), PLAN("[number, string]"));
  dev = await startWranglerDev(dir, state, { HOOK_SECRET: SECRET, ADMIN_TOKEN });
  await page.goto(`${dev.url}/console/plan`);
  expect(new URL(page.url()).pathname).toBe("/console/plan");
  await page.locator("tbody tr[data-entry] button", { hasText: "Replay" }).first().click();
  await page.waitForURL("**/console/plan?done=*");
  expect(await page.locator('p[role="status"]').textContent()).toContain("1 replayed");
  await until(() => sink.received.some((r) => r.events.some((e) => e.messageId === "console-bad")), "the replayed event at the webhook");
  await page.reload();
  expect(await page.locator("tbody tr[data-entry]").first().textContent()).toContain("replayed");
  await page.goto(`${dev.url}/console/delivery?window=1h`);
  await until(async () => Number((await page.locator('[data-destination="hook"] [data-metric="delivered"]').textContent())?.replace(/\D/g, "")) >= 43 || (await page.reload(), false), "delivered count on the Delivery page");
  await page.screenshot({ path: join(SHOTS, "delivery-1280.png"), fullPage: true });
  for (const path of ["dead-letters", "usage"]) {
    await page.goto(`${dev.url}/console/${path}`);
    await page.screenshot({ path: join(SHOTS, `${path}-1280.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${dev.url}/console/delivery?window=24h`);
  await page.screenshot({ path: join(SHOTS, "delivery-390.png"), fullPage: true });
});

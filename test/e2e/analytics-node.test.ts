/**
 * The whole path, as a customer would use it: the real @segment/analytics-node client → `wrangler dev`
 * (HTTP → Queue → consumer → webhook adapter) → a local HTTP sink that verifies signatures.
 */
import { Analytics } from "@segment/analytics-node";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startSink, type Sink } from "../../scripts/sink.ts";
import { tempFolder } from "../support/temp-folder.ts";
import { startWranglerDev, type DevWorker } from "./wrangler-dev.ts";

const SECRET = "e2e-hook-secret";
const WRITE_KEY = "wk_e2e_server";
let sink: Sink;
let dev: DevWorker;
const dir = tempFolder("e2e-config");
const state = tempFolder("e2e-state");

beforeAll(async () => {
  sink = await startSink({ secret: SECRET });
  writeFileSync(
    join(dir, "sluice.yaml"),
    `sources:
  - id: server
    name: Backend
    write_keys: [${WRITE_KEY}]
destinations:
  - id: hook
    name: E2E Webhook
    kind: webhook
    sources: [server]
    settings: { url: "${sink.url}", secret: "\${env.HOOK_SECRET}", concurrency: 5 }
`,
  );
  dev = await startWranglerDev(dir, state, { HOOK_SECRET: SECRET });
});

afterAll(async () => {
  await dev?.stop();
  await sink?.close();
});

it("delivers 500 events from analytics-node to the webhook exactly once, normalized and signed", async () => {
  const analytics = new Analytics({ writeKey: WRITE_KEY, host: dev.url, flushAt: 25, flushInterval: 200, maxRetries: 5 });
  const errors: unknown[] = [];
  analytics.on("error", (e) => errors.push(e));
  const sentAt = Date.now();
  for (let i = 0; i < 500; i++) {
    const userId = `user-${i % 73}`;
    const common = { userId, timestamp: new Date(sentAt - 1000) };
    switch (i % 5) {
      case 0:
        analytics.track({ ...common, event: "Order Completed", properties: { order_id: `o${i}`, revenue: i } });
        break;
      case 1:
        analytics.identify({ ...common, traits: { plan: i % 2 ? "pro" : "free" } });
        break;
      case 2:
        analytics.page({ ...common, name: "Pricing", properties: { path: "/pricing" } });
        break;
      case 3:
        analytics.group({ ...common, groupId: `org-${i % 7}`, traits: { name: "Acme" } });
        break;
      default:
        analytics.alias({ userId, previousId: `anon-${i}` });
    }
  }
  await analytics.closeAndFlush({ timeout: 60_000 });
  expect(errors).toEqual([]);

  const deadline = Date.now() + 60_000;
  while (new Set(sink.received.flatMap((r) => r.events.map((e) => e.messageId))).size < 500 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const events = sink.received.flatMap((r) => r.events);
  const ids = events.map((e) => e.messageId as string);
  expect(new Set(ids).size).toBe(500);
  expect(ids.length).toBe(500); // exactly once: no duplicates
  expect(sink.received.every((r) => r.signatureValid)).toBe(true);
  expect(sink.received.every((r) => r.headers["idempotency-key"] === (r.events[0]!.messageId as string))).toBe(true);

  const types = new Map<string, number>();
  for (const e of events) types.set(e.type as string, (types.get(e.type as string) ?? 0) + 1);
  expect(Object.fromEntries(types)).toEqual({ track: 100, identify: 100, page: 100, group: 100, alias: 100 });
  for (const e of events) {
    expect(e).not.toHaveProperty("writeKey");
    expect(typeof e.receivedAt).toBe("string");
    expect(Date.parse(e.receivedAt as string)).toBeGreaterThanOrEqual(sentAt - 5000);
    expect(typeof e.timestamp).toBe("string");
    expect((e.context as { library: { name: string } }).library.name).toBe("@segment/analytics-node");
    if (e.type !== "alias") expect(e.originalTimestamp).toBe(new Date(sentAt - 1000).toISOString());
  }
});

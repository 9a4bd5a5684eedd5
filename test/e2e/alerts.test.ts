/**
 * Alerts through the real worker (`wrangler dev --test-scheduled`): a webhook destination that starts failing makes
 * `delivery_rate_below` fire at a local webhook (the rule's notify destination) within one evaluation of the cron
 * (GET /__scheduled), and a resolve arrives once it recovers. Also `GET /admin/alerts` and `GET /admin/names`.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startSink, type Sink } from "../../scripts/sink.ts";
import { tempFolder } from "../support/temp-folder.ts";
import { postJson, startWranglerDev, type DevWorker } from "./wrangler-dev.ts";

const [WRITE_KEY, ADMIN_TOKEN] = ["wk_e2e_alerts", "e2e-admin-token"];
const [dir, state] = [tempFolder("e2e-alerts"), tempFolder("e2e-alerts-state")];
/** `hook` is the watched destination, `ops` the alerts' notify webhook. */
let hook: Sink, ops: Sink, dev: DevWorker;

beforeAll(async () => {
  [hook, ops] = await Promise.all([startSink(), startSink()]);
  writeFileSync(
    join(dir, "sluice.yaml"),
    `sources:
  - id: web
    name: Website
    write_keys: [${WRITE_KEY}]
destinations:
  - id: hook
    name: Hook
    kind: webhook
    sources: [web]
    settings: { url: "${hook.url}" }
    # Failed events are retried for ~4 s, then dead-lettered: the test waits for that before the evaluation.
    retry: { window_hours: 0.001, base_delay_seconds: 1, max_delay_seconds: 1 }
    circuit_breaker: { failures_to_open: 1000, cooldown_seconds: 1 }
  - id: ops
    name: Ops Alerts
    kind: webhook
    sources: [web]
    settings: { url: "${ops.url}" }
alerts:
  - id: hook-delivery
    when: delivery_rate_below
    destination: hook
    threshold: 0.95
    window_minutes: 5
    min_attempts: 5
    resolve_after: 1
    notify: [ops]
`,
  );
  dev = await startWranglerDev(dir, state, { ADMIN_TOKEN }, 120_000, ["--test-scheduled"]);
});

afterAll(async () => {
  await dev?.stop();
  await Promise.all([hook?.close(), ops?.close()]);
});

const admin = async <T>(path: string): Promise<T> => {
  const res = await fetch(`${dev.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
};

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${dev.output().split("\n").slice(-40).join("\n")}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function send(prefix: string, n: number, event = "Order Completed"): Promise<void> {
  const batch = Array.from({ length: n }, (_, i) => ({ type: "track", event, userId: `u${i}`, messageId: `${prefix}-${i}` }));
  const res = await postJson(`${dev.url}/v1/batch`, { batch }, { authorization: `Basic ${btoa(`${WRITE_KEY}:`)}` });
  expect(res.status).toBe(200);
}

/** The hook destination's counters today (GET /admin/stats). */
async function hookCounters(): Promise<Record<string, number>> {
  const stats = await admin<{ scopes: Record<string, { counters: Record<string, number> }[]> }>("/admin/stats");
  return stats.scopes["destination:hook"]?.[0]?.counters ?? {};
}

const scheduled = async () => {
  const res = await fetch(`${dev.url}/__scheduled?cron=*/5+*+*+*+*`);
  expect(res.status).toBe(200);
};

const alertsAt = (sink: Sink) => sink.received.flatMap((r) => r.events).filter((e) => String(e.event).startsWith("Alert "));

it("fires delivery_rate_below at the notify webhook within one evaluation, and resolves after recovery", async () => {
  hook.respond = () => ({ status: 500 });
  await send("down", 20);
  // Every event failed and, its retry window spent, was dead-lettered: the failures are counted.
  await until("dead letters", async () => ((await hookCounters()).dead_lettered ?? 0) >= 20 || undefined);

  await scheduled();
  const fired = await until("Alert Fired", async () => alertsAt(ops).find((e) => e.event === "Alert Fired"));
  const props = fired.properties as Record<string, unknown>;
  expect(props).toMatchObject({ alert_id: "hook-delivery", kind: "delivery_rate_below", observed: 0, expected: 0.95, threshold: 0.95, window_minutes: 5, destination: "hook" });
  expect(props.message).toMatch(/delivery rate to "hook" is 0% over the last 5 min \(0 of \d+ attempted/);
  // Still failing: a second evaluation sends nothing more (fires once; reminders only after remind_hours).
  await scheduled();

  hook.respond = undefined;
  await send("up", 20);
  await until("deliveries", async () => ((await hookCounters()).delivered ?? 0) >= 20 || undefined);
  await scheduled();
  const resolved = await until("Alert Resolved", async () => alertsAt(ops).find((e) => e.event === "Alert Resolved"));
  expect(resolved.properties).toMatchObject({ alert_id: "hook-delivery", observed: 1, fired_at: props.fired_at });
  expect(alertsAt(ops).map((e) => e.event)).toEqual(["Alert Fired", "Alert Resolved"]);

  const view = await admin<{ rules: { id: string }[]; states: { key: string; status: string }[]; history: { transition: string }[] }>("/admin/alerts");
  expect(view.rules.map((r) => r.id)).toEqual(["hook-delivery"]);
  expect(view.states).toMatchObject([{ key: "hook-delivery", status: "ok" }]);
  expect(view.history.map((h) => h.transition)).toEqual(["resolved", "fired"]);

  // Alert events went straight to the delivery queue: the source's per-name counters hold only user traffic.
  const names = await admin<{ names: { name: string; count: number }[] }>("/admin/names?source=web&days=1");
  expect(names.names).toEqual([{ name: "Order Completed", count: 40, planned: false }]);
  // Bad input: status and a JSON error.
  for (const [query, status, code] of [["", 400, "invalid_query"], ["?source=nope", 404, "not_found"], ["?source=web&days=0", 400, "invalid_query"]] as const) {
    const res = await fetch(`${dev.url}/admin/names${query}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([status, code]);
  }
}, 90_000);

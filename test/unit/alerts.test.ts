/**
 * Alert rules (src/alerts/) with an injected clock and synthetic hourly counters: each kind fires once, reminds at
 * most every remind_hours, resolves after resolve_after clear periods, and does not flap around its threshold.
 */
import { describe, expect, it } from "vitest";
import { hourOf } from "../../src/alerts/anomaly.ts";
import { evaluateAlerts, windowCounts, type AlertPorts, type HistoryEntry, type Sample } from "../../src/alerts/evaluate.ts";
import { capEventNames, EventNameTally, MAX_EVENT_NAMES } from "../../src/alerts/event-names.ts";
import { compileAlerts, type Counts, type HourRow } from "../../src/alerts/rules.ts";
import { step, type AlertState, type Observation } from "../../src/alerts/state.ts";
import { AlertSchema, type AlertRule } from "../../src/config/alerts.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";

const MIN = 60_000;
const HOUR = 3_600_000;
const T0 = Date.parse("2026-06-01T00:00:00Z");

function rule(input: Record<string, unknown>): AlertRule {
  const problems: { path: unknown; message: string }[] = [];
  const r = AlertSchema.check({ notify: ["ops"], ...input }, [], problems as never);
  expect(problems).toEqual([]);
  return r!;
}

/** StatsObjects, the AlertObject and the delivery queue in memory; `clock` is the time. */
class World {
  clock = T0;
  scopes = new Map<string, Map<string, Counts>>();
  states = new Map<string, AlertState>();
  samples: Sample[] = [];
  history: HistoryEntry[] = [];
  sent: { dest: string; source: string; event: SluiceEvent }[] = [];
  users = new Map<string, number>();
  failSends = false;

  add(scope: string, counts: Counts, at = this.clock): void {
    let hours = this.scopes.get(scope);
    if (!hours) this.scopes.set(scope, (hours = new Map()));
    const row = hours.get(hourOf(at)) ?? {};
    for (const [k, v] of Object.entries(counts)) row[k] = (row[k] ?? 0) + v;
    hours.set(hourOf(at), row);
  }

  ports(rules: AlertRule[], planned: Record<string, string[]> = {}): AlertPorts {
    return {
      rules: compileAlerts(rules, { plannedEvents: (s) => planned[s] ?? [] }),
      now: () => this.clock,
      hours: async (scope, since) =>
        [...(this.scopes.get(scope) ?? new Map<string, Counts>())]
          .filter(([h]) => h >= since)
          .sort(([a], [b]) => (a < b ? 1 : -1))
          .map(([hour, counters]): HourRow => ({ hour, counters: { ...counters } })),
      monthUsers: async (source) => this.users.get(source) ?? 0,
      store: {
        load: async () => ({ states: [...this.states.values()].map((s) => structuredClone(s)), samples: this.samples.map((s) => structuredClone(s)) }),
        save: async (u) => {
          for (const s of u.states) this.states.set(s.key, structuredClone(s));
          this.samples = [...this.samples, ...u.samples].filter((s) => s.at >= u.keepSamplesSince);
          this.history.push(...u.history);
        },
      },
      send: async (dest, source, event) => {
        if (this.failSends) throw new Error("queue down");
        this.sent.push({ dest, source, event });
      },
    };
  }

  names(): string[] {
    return this.sent.map((s) => `${s.event.event as string}:${(s.event.properties as { alert_id: string }).alert_id}`);
  }
}

describe("state machine", () => {
  const policy = { fireAfter: 2, resolveAfter: 2, remindMs: 4 * HOUR };
  const obs = (breach: boolean, period: string): Observation => ({ key: "a", breach, period, observed: 0, expected: 0, message: "m" });

  it("fires after K breached periods, once; a period seen twice counts once", () => {
    let s: AlertState | undefined;
    const sends: (string | undefined)[] = [];
    for (const [b, p] of [[true, "1"], [true, "1"], [true, "2"], [true, "3"]] as const) {
      const r = step(s, "a", obs(b, p), T0, policy);
      s = r.state;
      sends.push(r.send);
    }
    expect(sends).toEqual([undefined, undefined, "fired", undefined]);
  });

  it("reminds at most every remindMs while breached, resolves after resolveAfter clear periods, no flapping", () => {
    let s: AlertState | undefined = step(undefined, "a", obs(true, "1"), T0, { ...policy, fireAfter: 1 }).state;
    expect(s.status).toBe("firing");
    const at = (h: number, b: boolean, p: string) => {
      const r = step(s, "a", obs(b, p), T0 + h * HOUR, policy);
      s = r.state;
      return r.send;
    };
    expect(at(1, true, "2")).toBeUndefined();
    expect(at(4, true, "3")).toBe("reminded");
    expect(at(5, true, "4")).toBeUndefined();
    // Alternating around the threshold: never resolves, never fires again.
    expect([at(5.1, false, "5"), at(5.2, true, "6"), at(5.3, false, "7"), at(5.4, true, "8")]).toEqual([undefined, undefined, undefined, undefined]);
    expect(at(6, false, "9")).toBeUndefined();
    expect(at(6.1, false, "10")).toBe("resolved");
    expect(s.status).toBe("ok");
  });
});

it("with no rules, calls nothing (not even the AlertObject)", async () => {
  const ports = new World().ports([]);
  ports.store.load = () => Promise.reject(new Error("called"));
  expect(await evaluateAlerts(ports)).toEqual({ observations: 0, sent: [], failed: [] });
});

describe("delivery_rate_below", () => {
  const r = rule({ id: "hook-delivery", when: "delivery_rate_below", destination: "hook", threshold: 0.95, window_minutes: 15 });

  it("fires once within one evaluation, reminds, and resolves once the window recovers", async () => {
    const w = new World();
    const scope = "destination:hook";
    w.add(scope, { delivered: 50, "failed.http_5xx": 50 });
    const run = () => evaluateAlerts(w.ports([r]));
    await run();
    expect(w.names()).toEqual(["Alert Fired:hook-delivery"]);
    const fired = w.sent[0]!;
    expect(fired.dest).toBe("ops");
    expect(fired.event.properties).toMatchObject({ kind: "delivery_rate_below", observed: 0.5, expected: 0.95, threshold: 0.95, window_minutes: 15, destination: "hook" });
    // Still failing for the next hours: one reminder after 4 h, not one per evaluation.
    for (let m = 5; m <= 4 * 60; m += 5) {
      w.clock = T0 + m * MIN;
      w.add(scope, { delivered: 1, "failed.http_5xx": 9 });
      await run();
    }
    expect(w.names()).toEqual(["Alert Fired:hook-delivery", "Alert Fired:hook-delivery"]);
    expect((w.sent[1]!.event.properties as { message: string }).message).toMatch(/^still firing since 2026-06-01T00:00:00.000Z/);
    // Recovers: the window (cut from the evaluations' samples) clears after 15 min; resolve_after 2 evaluations.
    const sentBefore = w.sent.length;
    for (let m = 4 * 60 + 5; m <= 4 * 60 + 40; m += 5) {
      w.clock = T0 + m * MIN;
      w.add(scope, { delivered: 20 });
      await run();
    }
    expect(w.names().slice(sentBefore)).toEqual(["Alert Resolved:hook-delivery"]);
    expect(w.history.map((h) => h.transition)).toEqual(["fired", "reminded", "resolved"]);
  });

  it("does not judge windows with fewer than min_attempts attempts (filter errors are no attempts)", async () => {
    const w = new World();
    w.add("destination:hook", { "failed.timeout": 3, "failed.filter_error": 50 });
    expect((await evaluateAlerts(w.ports([r]))).observations).toBe(0);
    expect(w.sent).toEqual([]);
  });

  it("keeps its state when the alert cannot be queued, and sends it at the next evaluation", async () => {
    const w = new World();
    w.add("destination:hook", { "failed.http_5xx": 40 });
    w.failSends = true;
    expect((await evaluateAlerts(w.ports([r]))).failed).toHaveLength(1);
    w.failSends = false;
    w.clock += 5 * MIN;
    w.add("destination:hook", { "failed.http_5xx": 40 });
    await evaluateAlerts(w.ports([r]));
    expect(w.names()).toEqual(["Alert Fired:hook-delivery"]);
  });

  it("cuts windows from samples: counts since the newest sample at or before the window's start", () => {
    const rows: HourRow[] = [{ hour: hourOf(T0), counters: { delivered: 100, "failed.x": 10, routed: 5 } }];
    const samples: Sample[] = [
      { scope: "s", at: T0 + 10 * MIN, hour: hourOf(T0), counters: { delivered: 40, "failed.x": 10 } },
      { scope: "s", at: T0 + 20 * MIN, hour: hourOf(T0), counters: { delivered: 70, "failed.x": 10 } },
    ];
    expect(windowCounts(rows, samples, T0 + 35 * MIN, 15)).toEqual({ delivered: 30, "failed.x": 0 });
    expect(windowCounts(rows, [], T0 + 35 * MIN, 15)).toEqual({ delivered: 100, "failed.x": 10 });
  });
});

describe("retries_above and dead_letters_above", () => {
  it("fire after `consecutive` breached evaluations and resolve", async () => {
    const w = new World();
    const rules = [
      rule({ id: "retries", when: "retries_above", destination: "hook", threshold: 10, window_minutes: 10, consecutive: 2 }),
      rule({ id: "dead", when: "dead_letters_above", destination: "hook", window_minutes: 10, resolve_after: 1 }),
    ];
    const evalAt = async (m: number, counts: Counts) => {
      w.clock = T0 + m * MIN;
      w.add("destination:hook", counts);
      await evaluateAlerts(w.ports(rules));
    };
    await evalAt(0, { retried: 50 });
    expect(w.names()).toEqual([]);
    await evalAt(5, { retried: 50, dead_lettered: 1 });
    expect(w.names()).toEqual(["Alert Fired:retries", "Alert Fired:dead"]);
    for (let m = 10; m <= 30; m += 5) await evalAt(m, {});
    expect(w.names()).toEqual(["Alert Fired:retries", "Alert Fired:dead", "Alert Resolved:dead", "Alert Resolved:retries"]);
  });
});

/** Hourly counts of "Order Completed" with a daily shape, for `days` days before `end`. */
function history(w: World, end: number, days: number, perHour: (h: number) => number, name = "Order Completed"): void {
  for (let t = end - days * 24 * HOUR; t < end; t += HOUR) w.add("source:web", { [`event.${name}`]: perHour(new Date(t).getUTCHours()) }, t);
}

describe("event_volume_drop / event_volume_spike", () => {
  const drop = rule({ id: "checkout-silent", when: "event_volume_drop", source: "web", events: ["Order Completed"], periods: 2 });
  const spike = rule({ id: "checkout-spike", when: "event_volume_spike", source: "web", periods: 1, min_daily: 10 });
  const shape = (h: number) => 100 + 50 * Math.sin((h / 24) * 2 * Math.PI);

  it("fires when K complete hours are below fraction × the 4-week baseline, once; resolves after it recovers", async () => {
    const w = new World();
    const start = T0 + 35 * 24 * HOUR;
    history(w, start, 35, shape);
    // A release breaks it: 2 events an hour from `start`.
    const seen: string[] = [];
    for (let m = 0; m <= 3 * 60; m += 5) {
      w.clock = start + m * MIN;
      if (m % 60 === 0) w.add("source:web", { "event.Order Completed": 2 });
      await evaluateAlerts(w.ports([drop]));
      seen.push(...w.names().slice(seen.length));
    }
    expect(seen).toEqual(["Alert Fired:checkout-silent:Order Completed"]);
    // Fired at the second complete bad hour, not before.
    expect(w.history[0]!.at).toBe(start + 2 * HOUR);
    expect(w.sent[0]!.event.properties).toMatchObject({ kind: "event_volume_drop", source: "web", event_name: "Order Completed", observed: 2 });
    // Back to normal for two hours: resolved.
    for (let m = 3 * 60 + 5; m <= 6 * 60; m += 5) {
      w.clock = start + m * MIN;
      if (m % 60 === 5) w.add("source:web", { "event.Order Completed": Math.round(shape(new Date(w.clock).getUTCHours())) });
      await evaluateAlerts(w.ports([drop]));
    }
    expect(w.names()).toEqual(["Alert Fired:checkout-silent:Order Completed", "Alert Resolved:checkout-silent:Order Completed"]);
  });

  it("uses an EWMA of the same hour of previous days before 4 weeks exist; nothing with under 3 days", async () => {
    const w = new World();
    const start = T0 + 2 * 24 * HOUR;
    history(w, start, 2, () => 100);
    w.clock = start + 3 * HOUR;
    expect((await evaluateAlerts(w.ports([drop]))).observations).toBe(0);
    const w2 = new World();
    history(w2, T0 + 5 * 24 * HOUR, 5, () => 100);
    w2.clock = T0 + 5 * 24 * HOUR + 2 * HOUR + MIN;
    await evaluateAlerts(w2.ports([drop]));
    expect(w2.names()).toEqual(["Alert Fired:checkout-silent:Order Completed"]);
    expect(w2.sent[0]!.event.properties).toMatchObject({ observed: 0, expected: 100 });
  });

  it("spikes: every event seen min_daily times a day is watched", async () => {
    const w = new World();
    const start = T0 + 30 * 24 * HOUR;
    history(w, start, 30, () => 40, "Page Viewed");
    history(w, start, 30, () => 0, "Rare Event");
    w.add("source:web", { "event.Page Viewed": 400, "event.Rare Event": 50 }, start);
    w.clock = start + HOUR + MIN;
    await evaluateAlerts(w.ports([spike]));
    expect(w.names()).toEqual(["Alert Fired:checkout-spike:Page Viewed"]);
  });

  it("period: day catches an event too rare to judge per hour (a few an hour) once it stops for a day", async () => {
    const daily = rule({ id: "signup-daily", when: "event_volume_drop", source: "web", events: ["Signed Up"], period: "day", periods: 1 });
    const w = new World();
    const start = T0 + 30 * 24 * HOUR;
    history(w, start, 30, () => 4, "Signed Up");
    // The hourly rule never judges it (baseline 4 < min_baseline 20); the daily one sees 96 a day.
    w.clock = start + 5 * HOUR;
    const hourly = rule({ id: "signup-hourly", when: "event_volume_drop", source: "web", events: ["Signed Up"] });
    expect((await evaluateAlerts(w.ports([daily, hourly]))).sent).toEqual([]);
    w.clock = start + 24 * HOUR + 5 * MIN;
    await evaluateAlerts(w.ports([daily]));
    expect(w.names()).toEqual(["Alert Fired:signup-daily:Signed Up"]);
    expect(w.sent[0]!.event.properties).toMatchObject({ observed: 0, expected: 96, window_minutes: 1440, event_name: "Signed Up" });
  });

  it("ignores baselines under min_baseline", async () => {
    const w = new World();
    const start = T0 + 30 * 24 * HOUR;
    history(w, start, 30, () => 5);
    w.clock = start + 3 * HOUR;
    await evaluateAlerts(w.ports([drop]));
    expect(w.sent).toEqual([]);
  });
});

describe("new_unplanned_event", () => {
  const r = rule({ id: "new-events", when: "new_unplanned_event", source: "web", window_minutes: 60, resolve_after: 1 });

  it("fires per new unplanned name with a did-you-mean, not for planned or known names; clears once no longer new", async () => {
    const w = new World();
    history(w, T0 + 7 * 24 * HOUR, 7, () => 10, "user_signup");
    w.clock = T0 + 7 * 24 * HOUR + 10 * MIN;
    w.add("source:web", { "event.user_Signedup": 3, "event.Order Completed": 5, "event.user_signup": 4, "event.Brand New": 1 });
    await evaluateAlerts(w.ports([r], { web: ["Order Completed"] }));
    expect(w.names().sort()).toEqual(["Alert Fired:new-events:Brand New", "Alert Fired:new-events:user_Signedup"]);
    const drift = w.sent.find((s) => (s.event.properties as { event_name: string }).event_name === "user_Signedup")!;
    expect(drift.event.properties).toMatchObject({ suggestion: "user_signup", source: "web" });
    expect((drift.event.properties as { message: string }).message).toContain('did you mean "user_signup"?');
    // Two hours on, the names were seen before the window: no longer new.
    w.clock += 2 * HOUR;
    await evaluateAlerts(w.ports([r], { web: ["Order Completed"] }));
    expect(w.names().filter((n) => n.startsWith("Alert Resolved")).sort()).toEqual(["Alert Resolved:new-events:Brand New", "Alert Resolved:new-events:user_Signedup"]);
  });

  it("judges nothing until the source has counters from before the window (no storm on a first deploy)", async () => {
    const w = new World();
    w.add("source:web", { "event.A": 1, "event.B": 2 });
    expect((await evaluateAlerts(w.ports([r]))).observations).toBe(0);
    w.clock += 2 * HOUR;
    w.add("source:web", { "event.A": 1, "event.C": 1 });
    await evaluateAlerts(w.ports([r]));
    expect(w.names()).toEqual(["Alert Fired:new-events:C"]);
  });
});

describe("mtu_budget", () => {
  it("fires once a month when distinct users pass alert_at × monthly, resolves in the next month", async () => {
    const w = new World();
    const r = rule({ id: "mtu", when: "mtu_budget", source: "web", monthly: 1000, alert_at: 0.8 });
    w.users.set("web", 700);
    await evaluateAlerts(w.ports([r]));
    w.users.set("web", 812);
    for (let i = 1; i <= 5; i++) {
      w.clock = T0 + i * HOUR;
      await evaluateAlerts(w.ports([r]));
    }
    expect(w.names()).toEqual(["Alert Fired:mtu"]);
    expect(w.sent[0]!.event.properties).toMatchObject({ observed: 812, expected: 1000, threshold: 0.8, source: "web" });
    w.clock = Date.parse("2026-07-01T00:05:00Z");
    w.users.set("web", 3);
    await evaluateAlerts(w.ports([r]));
    expect(w.names()).toEqual(["Alert Fired:mtu", "Alert Resolved:mtu"]);
  });
});

describe("event name counters", () => {
  it("cap distinct names per scope and hour; the overflow counts as event._other", () => {
    const counted: Counts = {};
    const tally = { count: (_s: string, m: string, n = 1) => void (counted[m] = (counted[m] ?? 0) + n) };
    const t = new EventNameTally(2);
    t.count(tally, "source:web", [{ type: "track", event: "A" }, { type: "track", event: "B" }, { type: "track", event: "C" }, { type: "page" }, { type: "track", event: "A" }], T0);
    expect(counted).toEqual({ "event.A": 2, "event.B": 1, "event._other": 2 });
    // A new hour starts a new set.
    t.count(tally, "source:web", [{ type: "track", event: "C" }], T0 + HOUR);
    expect(counted["event.C"]).toBe(1);
  });

  it("the StatsObject's cap: names new to a full hour row go to event._other", () => {
    const full = Object.fromEntries(Array.from({ length: MAX_EVENT_NAMES }, (_, i) => [`event.e${i}`, 1]));
    expect(capEventNames(full, { "event.e1": 2, "event.new": 3, delivered: 1 })).toEqual({ "event.e1": 2, "event._other": 3, delivered: 1 });
    expect(capEventNames({}, { "event.new": 3 })).toEqual({ "event.new": 3 });
  });
});

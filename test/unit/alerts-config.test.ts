/**
 * `alerts:` and `naming:` in sluice.yaml, as `sluice check` reports them: defaults applied, errors with file:line:rule.
 */
import { describe, expect, it } from "vitest";
import { formatConfigError, loadConfigDir } from "../../src/config/load.ts";
import { configFolders, lineOf } from "./support/config-folders.ts";

const folders = configFolders("alerts-config");
const load = (text: string) => loadConfigDir(folders.folder({ "sluice.yaml": text }), folders.root);

const base = `sources: [{ id: web, name: Web, write_keys: [wk_web_12345] }]
destinations:
  - { id: hook, name: Hook, kind: webhook, sources: [web], settings: { url: "http://127.0.0.1:9/" } }
  - { id: ops-slack, name: Ops, kind: webhook, sources: [web], settings: { url: "http://127.0.0.1:9/ops" } }
`;

describe("alerts config", () => {
  it("loads the issue's example with defaults, and naming", () => {
    const { config, errors } = load(`${base}alerts:
  - id: hook-delivery
    when: delivery_rate_below
    destination: hook
    threshold: 0.95
    window_minutes: 60
    notify: [ops-slack]
  - id: checkout-silent
    when: event_volume_drop
    source: web
    events: ["Order Completed"]
    notify: [ops-slack]
naming:
  events: Object Action
  properties: snake_case
`);
    expect(errors).toEqual([]);
    expect(config!.alerts).toEqual([
      { id: "hook-delivery", when: "delivery_rate_below", destination: "hook", threshold: 0.95, window_minutes: 60, notify: ["ops-slack"], remind_hours: 4, resolve_after: 2, consecutive: 1, min_attempts: 10 },
      { id: "checkout-silent", when: "event_volume_drop", source: "web", events: ["Order Completed"], notify: ["ops-slack"], remind_hours: 4, resolve_after: 2, fraction: 0.2, period: "hour", periods: 2, min_baseline: 20, min_daily: 100 },
    ]);
    expect(config!.naming).toEqual({ events: "Object Action", properties: "snake_case" });
  });

  it("reports unknown kinds, bad values, unknown references and duplicate ids with file:line:rule", () => {
    const text = `${base}alerts:
  - id: a0
    when: delivery_rate_dropped # kind
    notify: [ops-slack]
  - id: a1
    when: retries_above
    destination: hook
    threshold: -1 # threshold
    notify: [ops-slack]
  - id: a2
    when: dead_letters_above
    destination: nowhere # dest
    notify: [ops-slack, pager] # notify
  - id: a2 # dup
    when: new_unplanned_event
    source: mobile # source
    notify: [ops-slack]
naming:
  events: Title Case # naming
`;
    const at = (marker: string) => `sluice.yaml:${lineOf(text, marker)}:`;
    const errors = load(text).errors.map(formatConfigError).map((e) => e.replace(/^case-\d+\//, ""));
    expect(errors).toEqual([
      expect.stringContaining(`${at("# kind")} alerts[0].when: expected when to be one of delivery_rate_below, retries_above`),
      expect.stringContaining(`${at("# threshold")} alerts[1].threshold: must be ≥ 0`),
      expect.stringContaining(`${at("# naming")} naming.events: expected one of "Object Action", "snake_case", "camelCase"`),
      `${at("# notify")} alerts[2].notify[1]: unknown destination "pager"`,
      `${at("# dest")} alerts[2].destination: unknown destination "nowhere"`,
      `${at("# dup")} alerts[3].id: duplicate alert id "a2"`,
      `${at("# source")} alerts[3].source: unknown source "mobile"`,
    ]);
  });

  it("reports planned names off the naming conventions, with the name in the convention", () => {
    const dir = folders.folder({
      "sluice.yaml": `${base.replace("write_keys: [wk_web_12345]", "write_keys: [wk_web_12345], tracking_plan: web")}naming: { events: Object Action, properties: snake_case }\n`,
      "plans/web.yaml": `events:
  - name: Order Completed
    properties: { order_id: string, couponCode: string }
  - name: user_signup
`,
    });
    const errors = loadConfigDir(dir, folders.root).errors.map(formatConfigError).map((e) => e.replace(/^case-\d+\//, ""));
    expect(errors).toEqual([
      'sluice.yaml:5: naming.events: plan "web": event "user_signup" is not Object Action (did you mean "User Signup"?)',
      'sluice.yaml:5: naming.properties: plan "web": property "couponCode" is not snake_case (did you mean "coupon_code"?)',
    ]);
  });

  it("turns a source's mtu_budget into an mtu_budget alert rule, unless alerts: has one for the source", () => {
    const budget = base.replace("write_keys: [wk_web_12345]", "write_keys: [wk_web_12345], mtu_budget: { monthly: 1000, destination: ops-slack }");
    expect(load(budget).config!.alerts).toEqual([
      { id: "mtu-budget-web", when: "mtu_budget", source: "web", monthly: 1000, alert_at: 0.8, notify: ["ops-slack"], remind_hours: 4, resolve_after: 1 },
    ]);
    const own = `${budget}alerts:\n  - { id: users, when: mtu_budget, source: web, monthly: 2000, notify: [hook] }\n`;
    expect(load(own).config!.alerts!.map((a) => a.id)).toEqual(["users"]);
  });
});

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatConfigError, loadConfigDir } from "../../src/config/load.ts";
import { bucketLimits, dedupSettings } from "../../src/config/source-limits.ts";
import { tempFolder } from "../support/temp-folder.ts";

const root = tempFolder("limits-config");
let n = 0;
function load(text: string) {
  const dir = join(root, `case-${++n}`);
  mkdirSync(dir);
  writeFileSync(join(dir, "sluice.yaml"), text);
  return loadConfigDir(dir, dir);
}

const source = (extra: string) => `sources:
  - id: web
    name: Website
    write_keys: [wk_web_12345]
${extra}destinations:
  - id: hook
    name: Hook
    kind: webhook
    sources: [web]
    settings: { url: "http://127.0.0.1:9/" }
`;

describe("source config: rate_limit, dedup, mtu_budget", () => {
  it("loads all three", () => {
    const { config, errors } = load(
      source(`    rate_limit: { events_per_second: 50, burst: 200 }
    dedup: { window_hours: 48 }
    mtu_budget: { monthly: 10000, destination: hook }
`),
    );
    expect(errors).toEqual([]);
    const web = config!.sources[0]!;
    expect(bucketLimits(web.rate_limit!)).toEqual({ rate: 50, burst: 200 });
    expect(dedupSettings(web.dedup)).toEqual({ windowMs: 48 * 3_600_000, shards: 1 });
    expect(web.mtu_budget).toEqual({ monthly: 10000, alert_at: 0.8, destination: "hook" });
  });

  it("defaults: no rate limit, dedup over 24 h, burst one second's worth", () => {
    const { config } = load(source(""));
    const web = config!.sources[0]!;
    expect(web.rate_limit).toBeUndefined();
    expect(dedupSettings(web.dedup)).toEqual({ windowMs: 24 * 3_600_000, shards: 1 });
    expect(bucketLimits({ events_per_second: 2.5 })).toEqual({ rate: 2.5, burst: 3 });
  });

  it("turns dedup off with false", () => {
    const { config } = load(source("    dedup: false\n"));
    expect(dedupSettings(config!.sources[0]!.dedup)).toBeUndefined();
  });

  it("reports bad values with file:line", () => {
    const text = source(`    rate_limit: { events_per_second: 0, burst: 1.5 }
    dedup: { window_hour: 2 }
    mtu_budget: { monthly: 0, destination: hook }
`);
    const { errors } = load(text);
    expect(errors.map(formatConfigError)).toEqual([
      expect.stringMatching(/^sluice\.yaml:5: sources\[0\]\.rate_limit\.events_per_second: must be ≥ 0\.001/),
      expect.stringMatching(/^sluice\.yaml:5: sources\[0\]\.rate_limit\.burst: expected an integer/),
      expect.stringMatching(/^sluice\.yaml:6: sources\[0\]\.dedup\.window_hour: unknown key "window_hour"/),
      expect.stringMatching(/^sluice\.yaml:7: sources\[0\]\.mtu_budget\.monthly: must be ≥ 1/),
    ]);
  });

  it("reports an alert destination that does not exist", () => {
    const { errors } = load(source("    mtu_budget: { monthly: 100, destination: nowhere }\n"));
    expect(errors.map(formatConfigError)).toEqual(['sluice.yaml:5: sources[0].mtu_budget.destination: unknown destination "nowhere"']);
  });
});

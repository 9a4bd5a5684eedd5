/**
 * `npm ci` is quiet for a newcomer: every package it installs runs on the oldest Node this project says it supports
 * (package.json `engines`; no EBADENGINE warning), and every install script it meets has been reviewed (package.json
 * `allowScripts`, npm 11; no "not yet covered by allowScripts" warning). Checked against package-lock.json, which
 * records each package's `engines` and whether it has an install script.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const readJson = (name: string) => JSON.parse(readFileSync(new URL(`../../${name}`, import.meta.url), "utf8"));
type Locked = { version?: string; engines?: { node?: string }; hasInstallScript?: boolean };
const locked = (): [string, Locked][] =>
  Object.entries(readJson("package-lock.json").packages as Record<string, Locked>)
    .filter(([path]) => path !== "")
    .map(([path, p]) => [path.replace(/^.*node_modules\//, ""), p]);

type Version = [number, number, number];
const compare = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/**
 * Whether a node-semver range admits `version`, for the forms packages put in `engines.node`: `||` alternatives of
 * space-separated comparators (`>=`, `>`, `<`, `<=`, `=`, `^`, `~`, none), with partial or x versions. Throws on
 * anything else, so an unreadable range fails the test rather than passing it.
 */
function admits(range: string, version: Version): boolean {
  return range.split("||").some((alternative) => {
    const comparators = alternative.trim().replace(/([<>=^~]+)\s+/g, "$1").split(/\s+/).filter((c) => c !== "" && c !== "*");
    return comparators.every((comparator) => {
      const m = /^(>=|<=|>|<|=|\^|~)?v?(\d+)(?:\.(\d+|[x*]))?(?:\.(\d+|[x*]))?$/.exec(comparator);
      if (!m) throw new Error(`unsupported engines range "${range}"`);
      const op = m[1] ?? "=";
      const parts = [m[2], m[3], m[4]].map((p) => (p === undefined || p === "x" || p === "*" ? undefined : Number(p)));
      const missing = parts.indexOf(undefined);
      const given = missing === -1 ? 3 : missing; // how many leading parts are numbers
      const low: Version = [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0];
      /** The first version past the given parts: 20 → 21.0.0, 20.3 → 20.4.0. */
      const next = (at: number): Version => low.map((p, i) => (i < at ? p : i === at ? p + 1 : 0)) as Version;
      const past = next(given - 1);
      switch (op) {
        case ">=":
          return compare(version, low) >= 0;
        case ">":
          return given === 3 ? compare(version, low) > 0 : compare(version, past) >= 0;
        case "<":
          return compare(version, low) < 0;
        case "<=":
          return given === 3 ? compare(version, low) <= 0 : compare(version, past) < 0;
        case "^":
          return compare(version, low) >= 0 && compare(version, next(low[0] > 0 || given === 1 ? 0 : low[1] > 0 || given === 2 ? 1 : 2)) < 0;
        case "~":
          return compare(version, low) >= 0 && compare(version, next(given === 1 ? 0 : 1)) < 0;
        default:
          return given === 3 ? compare(version, low) === 0 : compare(version, low) >= 0 && compare(version, past) < 0;
      }
    });
  });
}

describe("npm ci", () => {
  it("reads node-semver ranges as npm does", () => {
    const v20_19: Version = [20, 19, 0];
    expect(admits(">=22.0.0", v20_19)).toBe(false);
    expect(admits(">= 20.16.0", [20, 0, 0])).toBe(false);
    expect(admits(">= 20.16.0", v20_19)).toBe(true);
    expect(admits("^20.19.0 || >=22.12.0", v20_19)).toBe(true);
    expect(admits("^20.19.0 || >=22.12.0", [21, 0, 0])).toBe(false);
    expect(admits("^18.17.0 || ^20.3.0 || >=21.0.0", v20_19)).toBe(true);
    expect(admits("10.* || >= 12.*", v20_19)).toBe(true);
    expect(admits("10.*", v20_19)).toBe(false);
    expect(admits("~20.18", v20_19)).toBe(false);
    expect(admits(">20", v20_19)).toBe(false);
    expect(admits("<=20", v20_19)).toBe(true);
    expect(() => admits("latest", v20_19)).toThrow(/unsupported/);
  });

  it("every locked package supports the oldest Node package.json admits", () => {
    const ours: string = readJson("package.json").engines.node;
    const floor = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(ours);
    expect(floor, `package.json engines.node "${ours}" should be ">=x.y.z"`).not.toBeNull();
    const oldest: Version = [Number(floor![1]), Number(floor![2] ?? 0), Number(floor![3] ?? 0)];
    const misfits = locked()
      .filter(([, p]) => p.engines?.node !== undefined && !admits(p.engines.node, oldest))
      .map(([name, p]) => `${name}@${p.version} needs node ${p.engines!.node}`);
    expect(misfits).toEqual([]);
  });

  it("every locked install script is allowed or denied in package.json allowScripts", () => {
    const reviewed = Object.keys(readJson("package.json").allowScripts ?? {});
    const covered = (name: string) => reviewed.some((entry) => entry === name || entry.startsWith(`${name}@`));
    const unreviewed = locked()
      .filter(([name, p]) => p.hasInstallScript && !covered(name))
      .map(([name, p]) => `${name}@${p.version}`);
    expect(unreviewed).toEqual([]);
  });
});

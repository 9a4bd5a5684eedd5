/**
 * The build's ReDoS check of plan regexes (src/config/pattern-safety.ts): super-linear ones are refused with a
 * message to act on, everyday ones pass, what recheck cannot decide is refused, and worker code never imports it.
 * Where the refusals land in a config folder (file, line, rule): plan-config.test.ts.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { diagnosticsProblem, superLinearProblem } from "../../src/config/pattern-safety.ts";

describe("superLinearProblem", () => {
  it.each([
    [String.raw`^(\w+\s?)*$`, "exponential"],
    ["(a+)+$", "exponential"],
    ["^(a|a)*$", "exponential"],
    [String.raw`^\d*\d*$`, "quadratic"],
    // The common email shortcut: `.` is in [^@\s] too, so the part before the last dot can be split many ways.
    [String.raw`^[^@\s]+@[^@\s]+\.[^@\s]+$`, "quadratic"],
    ["^.*a.*a.*$", "cubic"],
  ])("refuses %s (%s)", (source, growth) => {
    const problem = superLinearProblem(source);
    expect(problem?.slice(0, problem.indexOf(" (it backtracks"))).toBe(`regular expression ${JSON.stringify(source)} can take ${growth} time to match`);
    expect(problem).toMatch(/; slow on input like .+\): rewrite it so that no part of a text can be matched in more than one way$/);
  });

  it.each([
    ["email", String.raw`^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$`],
    ["uuid", "^[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$"],
    [
      "semver (semver.org's own)",
      String.raw`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`,
    ],
    ["currency", "^[A-Z]{3}$"],
    ["locale", "^[a-z]{2}(-[A-Z]{2})?$"],
    ["Unicode letters", String.raw`^\p{L}+$`],
    ["prefix", "^promo-"],
  ])("accepts a %s pattern", (_what, source) => {
    expect(superLinearProblem(source)).toBeUndefined();
  }, 30_000);

  it("refuses a regex recheck could not decide, saying why", () => {
    expect(diagnosticsProblem({ source: "^a$", flags: "u", status: "unknown", error: { kind: "timeout" } })).toBe(
      'regular expression "^a$" could not be shown to match in linear time (recheck: timeout): simplify it',
    );
  });
});

describe("the worker bundle", () => {
  /** Every module src/index.ts reaches through relative imports (what wrangler bundles, less npm packages). */
  function workerModules(): Map<string, string> {
    const seen = new Map<string, string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      const text = readFileSync(file, "utf8");
      seen.set(file, text);
      for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) if (spec!.startsWith(".")) visit(resolve(dirname(file), spec!));
    };
    visit(fileURLToPath(new URL("../../src/index.ts", import.meta.url)));
    return seen;
  }

  it("never imports the ReDoS checker", () => {
    const modules = workerModules();
    expect([...modules.keys()].some((f) => f.endsWith("/src/plans/json-schema.ts"))).toBe(true);
    for (const [file, text] of modules) {
      expect(file).not.toMatch(/pattern-safety\.ts$/);
      expect(text, file).not.toContain(`"recheck"`);
    }
  });
});

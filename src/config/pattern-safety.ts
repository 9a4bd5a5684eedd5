/**
 * Build-time ReDoS check of tracking-plan regexes (`pattern`, `patternProperties`): a regex whose matching time can
 * grow faster than linearly with the input (`^(\w+\s?)*$` takes 88 s on 31 characters) is a config error. Uses
 * recheck's pure-JS checker in-process: no JVM, no native binary, the same answer on every machine. Node only (config
 * build, `sluice check`); worker code never imports this, and recheck (3 MB of JS) loads on the first pattern.
 */
import { createRequire } from "node:module";
import type { checkSync as CheckSync, Diagnostics, Parameters, VulnerableComplexity } from "recheck";

/**
 * recheck's defaults, except: a whole check may take 30 s, not 10 (its pure-JS checker needs ~2 s for semver.org's
 * regex on a busy machine; a check cut short is a refusal), and no wall-clock limit on its fuzzer's short probing
 * runs, which its step limits already bound (a probe cut short by a busy machine would count as a slow regex).
 */
const PARAMS: Parameters = { timeout: 30_000, incubationTimeout: null, seedingTimeout: null };

let checkSync: typeof CheckSync | undefined;
/** Answers by source: plans repeat patterns, and the short-hand's are checked on the spec and again in the rule. */
const answers = new Map<string, string | undefined>();

/**
 * Why `source` (a valid regex, compiled with the `u` flag as plans compile it) must not be used, or undefined when
 * recheck shows it matches in linear time. A regex recheck cannot decide (within 30 s) is refused too.
 * @example superLinearProblem("(a+)+$") // 'regular expression "(a+)+$" can take exponential time to match …'
 */
export function superLinearProblem(source: string): string | undefined {
  if (answers.has(source)) return answers.get(source);
  const answer = diagnosticsProblem(check(source));
  answers.set(source, answer);
  return answer;
}

function check(source: string): Diagnostics {
  if (checkSync === undefined) {
    // Read by recheck on every call: "pure" runs its JS checker here, not in a thread that tries a binary first.
    process.env.RECHECK_SYNC_BACKEND = "pure";
    checkSync = (createRequire(import.meta.url)("recheck") as { checkSync: typeof CheckSync }).checkSync;
  }
  return checkSync(source, "u", PARAMS);
}

/** recheck's answer as a config error message: undefined for a safe regex, and a sentence to act on otherwise. */
export function diagnosticsProblem(d: Diagnostics): string | undefined {
  const source = d.source;
  const re = `regular expression ${JSON.stringify(source)}`;
  switch (d.status) {
    case "safe":
      return undefined;
    case "vulnerable": {
      const spots = [...new Set(d.hotspot.map((h) => `'${source.slice(h.start, h.end)}'`))].join(", ");
      return (
        `${re} can take ${growth(d.complexity)} time to match ` +
        `(it backtracks at ${spots}; slow on input like ${d.attack.pattern}): ` +
        `rewrite it so that no part of a text can be matched in more than one way`
      );
    }
    case "unknown": {
      const why = "message" in d.error ? `${d.error.kind}: ${d.error.message}` : d.error.kind;
      return `${re} could not be shown to match in linear time (recheck: ${why}): simplify it`;
    }
  }
}

function growth(c: VulnerableComplexity): string {
  if (c.type === "exponential") return "exponential";
  return c.degree === 2 ? "quadratic" : c.degree === 3 ? "cubic" : `degree-${c.degree} polynomial`;
}

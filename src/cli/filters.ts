/**
 * `sluice test`: runs the `tests:` of every filter file. `sluice filter`: a dry run of filters over NDJSON events.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { createInterface } from "node:readline";
import { readFilterFile } from "../config/filter-file.ts";
import { ConfigFile, formatConfigError, loadConfigDir, type ConfigError } from "../config/load.ts";
import { compileStage } from "../pipeline/compile.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import { applyStage, integrationEnabled, type Stage } from "../pipeline/route.ts";

/** Secrets for filters run outside Workers: `.dev.vars` (as wrangler dev would), then the process environment. */
export function localSecrets(devVars = ".dev.vars"): Record<string, unknown> {
  const vars: Record<string, unknown> = {};
  if (existsSync(devVars)) {
    for (const line of readFileSync(devVars, "utf8").split("\n")) {
      const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
      if (m) vars[m[1]!] = m[2]!.replace(/^(["'])(.*)\1$/, "$2");
    }
  }
  return { ...vars, ...process.env };
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && isDeepEqual((a as never)[k], (b as never)[k]));
}

/** @returns the process exit code: 0 when every test passes. */
export function runFilterTests(dir: string, log = console.log, logError = console.error): number {
  const { config, errors, tests } = loadConfigDir(dir);
  if (!config) {
    for (const e of errors) logError(formatConfigError(e));
    return 1;
  }
  const env = localSecrets();
  let passed = 0;
  let failed = 0;
  for (const group of tests) {
    const specs = group.scope === "destination" ? config.filters[group.id] : config.sourceFilters[group.id];
    const stage = compileStage(specs, env);
    if (stage.deferred) {
      logError(`${group.scope} ${group.id}: cannot run its tests: ${stage.deferred}`);
      failed += group.tests.length;
      continue;
    }
    for (const t of group.tests) {
      const outcome = applyStage(stage, t.input as SluiceEvent);
      // A filter that throws is not a drop (the worker dead-letters the event): it never passes an expected drop.
      const actual = outcome.kept ? outcome.event : "failed" in outcome ? { threw: outcome.failed } : "dropped";
      if (isDeepEqual(actual, t.expect)) {
        passed++;
        log(`ok   ${t.file}:${t.line} ${t.name}`);
      } else {
        failed++;
        logError(`FAIL ${t.file}:${t.line} ${t.name}\n  expected: ${JSON.stringify(t.expect)}\n  actual:   ${JSON.stringify(actual)}${outcome.kept || "failed" in outcome ? "" : ` (${outcome.reason})`}`);
      }
    }
  }
  log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

export interface DryRunOptions {
  rules: string;
  destination?: string;
  source?: string;
}

/**
 * Builds the function a dry run applies: from a config folder (source filters, the integrations object and the
 * destination's filters, as the worker does) or from one filter file (a Segment export works as it is).
 */
export function dryRunStage(opts: DryRunOptions, errors: ConfigError[]): ((event: SluiceEvent) => SluiceEvent | null) | undefined {
  const env = localSecrets();
  const run = (stages: Stage[], gate?: (e: SluiceEvent) => boolean) => (event: SluiceEvent) => {
    if (gate && !gate(event)) return null;
    let current = event;
    for (const stage of stages) {
      const outcome = applyStage(stage, current);
      if (!outcome.kept) return null;
      current = outcome.event;
    }
    return current;
  };
  const check = (stage: Stage) => {
    if (stage.deferred) errors.push({ file: opts.rules, line: 1, rule: "", message: stage.deferred });
    return stage;
  };
  if (statSync(opts.rules).isDirectory()) {
    const { config, errors: loadErrors } = loadConfigDir(opts.rules);
    errors.push(...loadErrors);
    if (!config) return undefined;
    const dest = config.destinations.find((d) => d.id === opts.destination);
    if (!dest) {
      errors.push({ file: opts.rules, line: 1, rule: "", message: `--destination must name one of: ${config.destinations.map((d) => d.id).join(", ")}` });
      return undefined;
    }
    if (opts.source !== undefined && !config.sources.some((src) => src.id === opts.source)) {
      errors.push({ file: opts.rules, line: 1, rule: "", message: `--source "${opts.source}" is not a source; known: ${config.sources.map((src) => src.id).join(", ")}` });
      return undefined;
    }
    const stages = [...(opts.source ? [check(compileStage(config.sourceFilters[opts.source], env))] : []), check(compileStage(config.filters[dest.id], env))];
    return errors.length ? undefined : run(stages, (e) => integrationEnabled(e.integrations, dest.name, false));
  }
  const file = ConfigFile.read(opts.rules, opts.rules, errors);
  if (!file) return undefined;
  const select = opts.destination ? (raw: Record<string, unknown>) => raw.destinationId === undefined || raw.destinationId === opts.destination : undefined;
  const read = readFilterFile(file, errors, select);
  if (!read) return undefined;
  const stage = check(compileStage(read.filters, env));
  return errors.length ? undefined : run([stage]);
}

/** Reads NDJSON from `input`, writes one line per event: the event as the destination receives it, or null. */
export async function dryRun(opts: DryRunOptions, input: NodeJS.ReadableStream, write: (line: string) => void, logError = console.error): Promise<number> {
  const errors: ConfigError[] = [];
  const apply = dryRunStage(opts, errors);
  if (!apply) {
    for (const e of errors) logError(formatConfigError(e));
    return 1;
  }
  let lineNo = 0;
  let bad = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    lineNo++;
    if (line.trim() === "") continue;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch (err) {
      bad++;
      logError(`line ${lineNo}: not JSON: ${(err as Error).message}`);
      write("null");
      continue;
    }
    if (typeof event !== "object" || event === null || Array.isArray(event)) {
      bad++;
      logError(`line ${lineNo}: not a JSON object`);
      write("null");
      continue;
    }
    write(JSON.stringify(apply(event as SluiceEvent)));
  }
  return bad === 0 ? 0 : 1;
}

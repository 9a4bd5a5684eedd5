/**
 * Reads an operator config folder (YAML or JSON), checks everything at once and reports each problem as
 * `file:line: rule: message`. Runs in Node only (build, `sluice check`); the worker gets the built result.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from "yaml";
import { destinationKinds } from "../../destinations/index.ts";
import type { FilterSpec } from "../pipeline/filters/index.ts";
import { readFilterFile, type FilterTest } from "./filter-file.ts";
import { checkSourcePlans, readPlanFile } from "./plan-file.ts";
import { forEachSecretRef, isOperatorSecret, operatorSecretMessage, secretRefs } from "./secrets.ts";
import { checkAccess } from "./access.ts";
import type { PlanRule } from "../plans/types.ts";
import { ConfigFileSchema, DestinationSchema, SourceSchema, type BuiltConfig } from "./model.ts";
import { AlertSchema, alertReferenceProblems, mtuBudgetAlerts, namingProblems } from "./alerts.ts";
import { formatPath, isPlainObject, type Path, type Problem, type Schema } from "./schema.ts";

export interface ConfigError {
  file: string;
  line: number;
  /** What the problem is about, e.g. `destinations[0].settings.url` or a filter's title. */
  rule: string;
  message: string;
}

export function formatConfigError(e: ConfigError): string {
  return `${e.file}:${e.line}: ${e.rule ? `${e.rule}: ` : ""}${e.message}`;
}

/** A parsed config file that can say on which line any value sits. */
export class ConfigFile {
  readonly value: unknown;
  private constructor(
    readonly file: string,
    private readonly doc: Document | undefined,
    private readonly lines: LineCounter | undefined,
    value: unknown,
  ) {
    this.value = value;
  }

  /** Parses YAML (JSON is YAML too, so Segment's JSON exports load unchanged); syntax errors become ConfigErrors. */
  static read(path: string, displayName: string, errors: ConfigError[]): ConfigFile | undefined {
    const text = readFileSync(path, "utf8");
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const line = e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line;
        errors.push({ file: displayName, line, rule: "", message: `YAML: ${e.message.split("\n")[0]}` });
      }
      return undefined;
    }
    return new ConfigFile(displayName, doc, lines, doc.toJS({ maxAliasCount: 100 }));
  }

  /** Line of the value at `path`, or of the nearest ancestor that exists (a missing key points at its parent). */
  lineOf(path: Path): number {
    if (!this.doc || !this.lines) return 1;
    for (let n = path.length; n >= 0; n--) {
      const node = this.doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (n > 0 && isPair(node)) continue;
      // A key's own line is more useful than its value's for unknown-key errors.
      const keyLine = n > 0 ? this.keyLine(path.slice(0, n)) : undefined;
      if (keyLine !== undefined) return keyLine;
      if (node && (isScalar(node) || isMap(node) || isSeq(node)) && node.range) return this.lines.linePos(node.range[0]).line;
    }
    return 1;
  }

  private keyLine(path: Path): number | undefined {
    const parent = this.doc!.getIn(path.slice(0, -1), true);
    const last = path[path.length - 1];
    if (!isMap(parent)) return undefined;
    for (const item of parent.items) {
      if (isScalar(item.key) && item.key.value === last && item.key.range) return this.lines!.linePos(item.key.range[0]).line;
    }
    return undefined;
  }

  problems(problems: Problem[], errors: ConfigError[], prefix: Path = []): void {
    for (const p of problems) {
      const path = [...prefix, ...p.path];
      errors.push({ file: this.file, line: this.lineOf(path), rule: formatPath(path), message: p.message });
    }
  }

  error(path: Path, message: string, errors: ConfigError[], rule = formatPath(path)): void {
    errors.push({ file: this.file, line: this.lineOf(path), rule, message });
  }

  /** Reports, where it is written, every `${env.NAME}` in `value` (found at `at`) that names an operator credential. */
  operatorSecrets(value: unknown, at: Path, errors: ConfigError[], rule = (inside: Path) => formatPath([...at, ...inside])): void {
    forEachSecretRef(value, (name, inside) => {
      if (isOperatorSecret(name)) this.error([...at, ...inside], operatorSecretMessage(name), errors, rule(inside));
    });
  }
}

export interface LoadResult {
  config?: BuiltConfig;
  errors: ConfigError[];
  /** The `tests:` of every filter file, by what they test. */
  tests: { scope: "destination" | "source"; id: string; tests: FilterTest[] }[];
}

const CONFIG_EXTENSIONS = /\.(ya?ml|json)$/;

/** Config files directly in `dir` (sorted), without the main file. */
function configFiles(dir: string, skip: string[] = []): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir)
    .filter((f) => CONFIG_EXTENSIONS.test(f) && !skip.includes(f) && statSync(join(dir, f)).isFile())
    .sort();
}

const MAIN_FILES = ["sluice.yaml", "sluice.yml", "sluice.json"];

/**
 * Loads and checks a config folder.
 * @example const { config, errors } = loadConfigDir("filters"); errors.map(formatConfigError)
 */
export function loadConfigDir(dir: string, cwd = process.cwd()): LoadResult {
  const errors: ConfigError[] = [];
  const display = (p: string) => {
    const rel = relative(cwd, p);
    return rel === "" || rel.startsWith("..") ? p : rel;
  };
  const mainName = MAIN_FILES.find((f) => existsSync(join(dir, f)));
  if (!mainName) {
    errors.push({ file: display(join(dir, "sluice.yaml")), line: 1, rule: "", message: "config file not found" });
    return { errors, tests: [] };
  }
  const main = ConfigFile.read(join(dir, mainName), display(join(dir, mainName)), errors);
  if (!main) return { errors, tests: [] };

  // Items are checked one by one so that cross-checks still run on the valid ones: all errors at once.
  const problems: Problem[] = [];
  const top = ConfigFileSchema.check(main.value, [], problems);
  main.problems(problems, errors);
  const itemsOf = <T>(key: string, schema: Schema<T>): (T | undefined)[] => {
    const list = isPlainObject(main.value) && Array.isArray(main.value[key]) ? (main.value[key] as unknown[]) : [];
    return list.map((item, i) => schema.check(item, [key, i], []));
  };
  const parsed = top ?? { sources: itemsOf("sources", SourceSchema), destinations: itemsOf("destinations", DestinationSchema) };

  const sourceIds = new Set<string>();
  const writeKeys = new Map<string, string>();
  parsed.sources.forEach((src, i) => {
    if (!src) return;
    if (sourceIds.has(src.id)) main.error(["sources", i, "id"], `duplicate source id "${src.id}"`, errors);
    sourceIds.add(src.id);
    src.write_keys.forEach((key, k) => {
      const owner = writeKeys.get(key);
      if (owner !== undefined) main.error(["sources", i, "write_keys", k], `write key already used by source "${owner}"`, errors);
      writeKeys.set(key, src.id);
    });
  });

  const destIds = new Set<string>();
  const destNames = new Set<string>();
  parsed.destinations.forEach((dest, i) => {
    if (!dest) return;
    const at = (...rest: Path): Path => ["destinations", i, ...rest];
    if (destIds.has(dest.id)) main.error(at("id"), `duplicate destination id "${dest.id}"`, errors);
    if (destNames.has(dest.name)) main.error(at("name"), `duplicate destination name "${dest.name}" (the integrations object could not tell them apart)`, errors);
    destIds.add(dest.id);
    destNames.add(dest.name);
    // Unknown-source errors only mean something once every source parsed.
    if (dest.sources !== "*" && parsed.sources.every(Boolean)) {
      dest.sources.forEach((id, k) => {
        if (!sourceIds.has(id)) main.error(at("sources", k), `unknown source "${id}"`, errors);
      });
    }
    const kind = Object.hasOwn(destinationKinds, dest.kind) ? destinationKinds[dest.kind] : undefined;
    if (!kind) {
      main.error(at("kind"), `unknown destination kind "${dest.kind}" (known: ${Object.keys(destinationKinds).join(", ")})`, errors);
      return;
    }
    const settingProblems: Problem[] = [];
    const settings = kind.settings.check(dest.settings, [], settingProblems);
    main.problems(settingProblems, errors, at("settings"));
    main.operatorSecrets(dest.settings, at("settings"), errors);
    if (settings !== undefined) dest.settings = settings as Record<string, unknown>;
  });

  parsed.sources.forEach((src, i) => {
    const alertTo = src?.mtu_budget?.destination;
    if (alertTo !== undefined && parsed.destinations.every(Boolean) && !destIds.has(alertTo))
      main.error(["sources", i, "mtu_budget", "destination"], `unknown destination "${alertTo}"`, errors);
    const reportTo = src?.enforcement?.violation_reports;
    if (reportTo !== undefined && parsed.destinations.every(Boolean) && !destIds.has(reportTo))
      main.error(["sources", i, "enforcement", "violation_reports"], `unknown destination "${reportTo}"`, errors);
  });

  // Alert rules: references checked once every source and destination parsed.
  if (parsed.sources.every(Boolean) && parsed.destinations.every(Boolean))
    for (const p of alertReferenceProblems(top?.alerts ?? itemsOf("alerts", AlertSchema), sourceIds, destIds)) main.error(p.path, p.message, errors);

  // Filter files: the file name says which destination (or, under sources/, which source) they belong to.
  const tests: LoadResult["tests"] = [];
  const readFilters = (folder: string, scope: "destination" | "source", known: Set<string>, skip: string[]) => {
    const out: Record<string, FilterSpec[]> = {};
    for (const name of configFiles(folder, skip)) {
      const id = name.replace(CONFIG_EXTENSIONS, "");
      const file = ConfigFile.read(join(folder, name), display(join(folder, name)), errors);
      if (!file) continue;
      if (!known.has(id)) {
        file.error([], `no ${scope} "${id}" in ${mainName}: a filter file is named after the ${scope} it filters`, errors, "");
        continue;
      }
      if (Object.hasOwn(out, id)) {
        file.error([], `${scope} "${id}" already has a filter file`, errors, "");
        continue;
      }
      const read = readFilterFile(file, errors);
      if (!read) continue;
      out[id] = read.filters;
      if (read.tests.length > 0) tests.push({ scope, id, tests: read.tests });
    }
    return out;
  };
  const filters = readFilters(dir, "destination", destIds, MAIN_FILES);
  const sourceFilters = readFilters(join(dir, "sources"), "source", sourceIds, []);

  // Tracking plans: plans/<plan-id>.yaml, named by sources in `tracking_plan` (src/config/plan-file.ts).
  const plans: Record<string, PlanRule[]> = {};
  const planIds = new Set<string>();
  for (const name of configFiles(join(dir, "plans"))) {
    const id = name.replace(CONFIG_EXTENSIONS, "");
    const file = ConfigFile.read(join(dir, "plans", name), display(join(dir, "plans", name)), errors);
    if (planIds.has(id)) file?.error([], `plan "${id}" is defined by two files`, errors, "");
    planIds.add(id);
    const rules = file && !Object.hasOwn(plans, id) ? readPlanFile(file, id, errors) : undefined;
    if (rules) plans[id] = rules;
  }
  checkSourcePlans(main, parsed.sources, planIds, errors);
  if (top?.access) checkAccess(top.access, top.sources, secretRefs([top.destinations.map((d) => d.settings), filters, sourceFilters]), (path, message) => main.error(path, message, errors));
  for (const p of namingProblems(top?.naming, plans)) main.error(p.path, p.message, errors);

  if (errors.length > 0 || !top) return { errors, tests };
  return {
    errors,
    tests,
    config: { version: 1, origin: display(dir), sources: top.sources, destinations: top.destinations, filters, sourceFilters, plans, alerts: [...top.alerts, ...mtuBudgetAlerts(top.sources, top.alerts)], ...(top.naming ? { naming: top.naming } : {}), ...(top.access ? { access: top.access } : {}) },
  };
}

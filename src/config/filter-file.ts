/**
 * Filter files: `filters/<destination-id>.yaml` (and `filters/sources/<source-id>.yaml`, applied before every
 * destination of that source). Accepts Segment's Destination Filter format as exported (a bare list,
 * `{ filters: [...] }`, or the Public API's `{ data: { filters: [...] } }`, bookkeeping keys ignored), plus our
 * transformations and `tests:`.
 */
import { FqlSyntaxError } from "../pipeline/fql/index.ts";
import { compileFilters, FilterRuleError, type FilterSpec } from "../pipeline/filters/index.ts";
import type { ConfigError, ConfigFile } from "./load.ts";
import { formatPath, isPlainObject, s, type Path, type Problem } from "./schema.ts";

/** Keys of Segment's exports that carry no meaning here. */
const SEGMENT_BOOKKEEPING = ["id", "sourceId", "destinationId", "workspaceId", "createdAt", "updatedAt", "createdBy", "updatedBy"];

const fieldLists = s.record(s.array(s.string()));
const ActionSchema = s.tagged("type", {
  DROP: s.object({ type: s.literal("DROP") }),
  SAMPLE: s.object({ type: s.literal("SAMPLE"), percent: s.number({ min: 0, max: 1 }), path: s.optional(s.string()) }),
  DROP_PROPERTIES: s.object({ type: s.literal("DROP_PROPERTIES"), fields: fieldLists }),
  ALLOW_PROPERTIES: s.object({ type: s.literal("ALLOW_PROPERTIES"), fields: fieldLists }),
  RENAME_EVENT: s.object({ type: s.literal("RENAME_EVENT"), to: s.string({ minLength: 1 }) }),
  RENAME_PROPERTIES: s.object({ type: s.literal("RENAME_PROPERTIES"), fields: s.record(s.string({ minLength: 1 })) }),
  COPY: s.object({ type: s.literal("COPY"), from: s.string(), to: s.string() }),
  MOVE: s.object({ type: s.literal("MOVE"), from: s.string(), to: s.string() }),
  SET: s.object({ type: s.literal("SET"), path: s.string(), value: s.unknown() }),
  HASH_PROPERTIES: s.object({ type: s.literal("HASH_PROPERTIES"), fields: s.array(s.string(), { minItems: 1 }), salt: s.optional(s.string()) }),
  CAST: s.object({ type: s.literal("CAST"), fields: s.record(s.literal("string", "number", "boolean")) }),
});

const FilterSchema = s.object(
  {
    title: s.string({ minLength: 1, maxLength: 64 }),
    description: s.optional(s.string()),
    enabled: s.withDefault(s.boolean(), true),
    if: s.optional(s.string()),
    where: s.optional(s.string()),
    actions: s.array(ActionSchema, { minItems: 1 }),
  },
  { ignore: SEGMENT_BOOKKEEPING },
);

/** A config test: an input event and what the destination should receive (`dropped` when nothing). */
export interface FilterTest {
  name: string;
  input: Record<string, unknown>;
  expect: "dropped" | Record<string, unknown>;
  /** Where the test sits, for reporting. */
  file: string;
  line: number;
}

const TestSchema = s.object({
  name: s.string({ minLength: 1 }),
  input: s.record(s.unknown()),
  expect: s.oneOf(s.literal("dropped"), s.record(s.unknown())),
});

export interface FilterFile {
  filters: FilterSpec[];
  tests: FilterTest[];
}

/** Finds the filter list in any of the accepted shapes; returns it with its path in the file. */
function locateFilters(value: unknown): { list: unknown; at: Path; tests?: unknown } | string {
  if (Array.isArray(value)) return { list: value, at: [] };
  if (isPlainObject(value)) {
    const extra = Object.keys(value).filter((k) => !["filters", "tests", "data"].includes(k));
    if (extra.length > 0) return `unknown key "${extra[0]}" (expected "filters" and optionally "tests")`;
    if (Array.isArray(value.filters)) return { list: value.filters, at: ["filters"], tests: value.tests };
    if (isPlainObject(value.data) && Array.isArray(value.data.filters)) return { list: value.data.filters, at: ["data", "filters"], tests: value.tests };
  }
  return `expected a list of filters, { filters: [...] }, or Segment's { data: { filters: [...] } }`;
}

/** Turns a compile error of one filter into a ConfigError on the right line. */
function ruleError(file: ConfigFile, at: Path, title: string, err: FilterRuleError): ConfigError {
  const path: Path = [...at];
  if (err.actionIndex !== undefined) path.push("actions", err.actionIndex);
  const key = err.field?.split(".")[0];
  if (key) path.push(key);
  const cause = err.cause;
  if (cause instanceof FqlSyntaxError)
    return { file: file.file, line: file.lineOf(path), rule: "FQL", message: `${cause.message} (filter "${title}")` };
  // Compiled one filter at a time, so the error's own index is always 0: locate it by title and path instead.
  const where = [err.actionIndex !== undefined ? `actions[${err.actionIndex}]` : "", err.field ?? ""].filter(Boolean).join(" ");
  return { file: file.file, line: file.lineOf(path), rule: `filter "${title}"`, message: where ? `${where}: ${err.detail}` : err.detail };
}

/**
 * Reads and checks a filter file: shape, keys, and that every filter compiles (FQL, JSONPath, paths).
 * All problems are reported, each with its line.
 */
export function readFilterFile(
  file: ConfigFile,
  errors: ConfigError[],
  /** Keeps only some filters of an export that holds several destinations' (e.g. by `destinationId`). */
  select?: (raw: Record<string, unknown>) => boolean,
): FilterFile | undefined {
  const located = locateFilters(file.value);
  if (typeof located === "string") {
    file.error([], located, errors, "");
    return undefined;
  }
  const before = errors.length;
  const filters: FilterSpec[] = [];
  (located.list as unknown[]).forEach((raw, i) => {
    if (select && isPlainObject(raw) && !select(raw)) return;
    const at = [...located.at, i];
    const problems: Problem[] = [];
    const spec = FilterSchema.check(raw, [], problems);
    // Name the filter by its title in every error: that is what operators search for.
    const title = isPlainObject(raw) && typeof raw.title === "string" ? `filter "${raw.title}"` : `filter #${i + 1}`;
    const rule = (path: Path) => (path.length ? `${title} ${formatPath(path)}` : title);
    for (const p of problems) errors.push({ file: file.file, line: file.lineOf([...at, ...p.path]), rule: rule(p.path), message: p.message });
    if (!spec) return;
    const found = errors.length;
    file.operatorSecrets(spec, at, errors, rule);
    if (errors.length > found) return;
    try {
      compileFilters([spec as FilterSpec]);
    } catch (err) {
      if (!(err instanceof FilterRuleError)) throw err;
      errors.push(ruleError(file, at, spec.title, err));
      return;
    }
    filters.push(spec as FilterSpec);
  });

  const tests: FilterTest[] = [];
  if (located.tests !== undefined) {
    if (!Array.isArray(located.tests)) file.error(["tests"], "expected a list of tests", errors);
    else
      located.tests.forEach((raw, i) => {
        const problems: Problem[] = [];
        const t = TestSchema.check(raw, ["tests", i], problems);
        file.problems(problems, errors);
        if (t) tests.push({ ...t, file: file.file, line: file.lineOf(["tests", i]) });
      });
  }
  return errors.length === before ? { filters, tests } : undefined;
}

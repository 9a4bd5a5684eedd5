/**
 * Suite "plans": validating 5,000 realistic Segment events against a tracking plan of 20 rules (10 TRACK, 4 PAGE,
 * 3 SCREEN, IDENTIFY, GROUP, COMMON) × 10 properties, generated from the corpus itself (./plans-fixture.ts) so
 * most events are valid and some violate, as in production.
 *
 * Contenders, per event: pick the event's rule (same Map lookup for all) and validate the event against it and
 * against the COMMON rule; same schemas for all.
 *  - sluice:          src/plans/json-schema.ts closures: test(), and validate() (every violation, with paths) only
 *                     when test() fails — how the engine uses it.
 *  - cfworker:        @cfworker/json-schema (an interpreter made for Workers, no eval), all errors.
 *  - ajv:             ajv 8 compiled in Node with `new Function` (allErrors). Not Workers-legal as such: a reference
 *                     for what code generation buys (ajv's standalone output is the Workers-legal form of the same
 *                     code, same speed). Formats: ajv has none built in (ajv-formats is a separate package), so it
 *                     gets Sluice's format predicates, which makes format checks cost the same on both sides.
 *  - "… first error": the same three answering valid / invalid only (sluice test(), cfworker shortCircuit, ajv
 *                     without allErrors).
 *  - enforcePlan:     the whole engine (rule lookup, versions, unplanned properties, violations, COMMON, the
 *                     decision and, for events with findings, the copy with context.protocols).
 *  - parse+stringify: JSON.parse + JSON.stringify of the event — the floor every pipeline pays.
 *
 * Each batch gets a freshly parsed copy of the next 500-event chunk (outside the timed region), as in "filters".
 */
import { Validator, type Schema as CfSchema } from "@cfworker/json-schema";
import Ajv, { type ValidateFunction } from "ajv";
import { compileJsonSchema, compilePlan, enforcePlan, FORMATS, type CompiledSchema, type PlanRule } from "../src/plans/index.ts";
import type { SluiceEvent } from "../src/pipeline/normalize.ts";
import { CORPUS_PATH, corpusLines } from "../test/fixtures/corpus.ts";
import { CHUNK } from "./filters.ts";
import { measure, ratio, type Contender, type Measurement, type Suite, type SuiteResult } from "./lib.ts";
import { generatePlan, ruleIdOf } from "./plans-fixture.ts";

type Event = Record<string, unknown>;

/** One validator per rule id plus the COMMON one; `check` returns 0 when valid, else the number of violations. */
interface Engine {
  name: string;
  check: (schemaIndex: number, event: Event) => number;
}

function engines(rules: PlanRule[]): { all: Engine[]; first: Engine[] } {
  const schemas = rules.map((r) => r.jsonSchema);
  const sluice: CompiledSchema[] = schemas.map((s) => compileJsonSchema(s));
  const cfAll = schemas.map((s) => new Validator(s as CfSchema, "7", false));
  const cfFirst = schemas.map((s) => new Validator(s as CfSchema, "7", true));
  const formats = Object.fromEntries(Object.entries(FORMATS).map(([name, validate]) => [name, { type: "string" as const, validate }]));
  const ajvAll = new Ajv({ allErrors: true, strict: false, formats });
  const ajvFirst = new Ajv({ allErrors: false, strict: false, formats });
  const ajvAllFns: ValidateFunction[] = schemas.map((s) => ajvAll.compile(s as object));
  const ajvFirstFns: ValidateFunction[] = schemas.map((s) => ajvFirst.compile(s as object));
  return {
    all: [
      { name: "sluice", check: (i, e) => (sluice[i]!.test(e) ? 0 : sluice[i]!.validate(e).length) },
      { name: "cfworker", check: (i, e) => cfAll[i]!.validate(e).errors.length },
      { name: "ajv (new Function)", check: (i, e) => (ajvAllFns[i]!(e) ? 0 : ajvAllFns[i]!.errors!.length) },
    ],
    first: [
      { name: "sluice first error", check: (i, e) => (sluice[i]!.test(e) ? 0 : 1) },
      { name: "cfworker first error", check: (i, e) => (cfFirst[i]!.validate(e).valid ? 0 : 1) },
      { name: "ajv first error", check: (i, e) => (ajvFirstFns[i]!(e) ? 0 : 1) },
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Agreement (untimed): the three validators must agree on which events are valid

interface Agreement {
  events: number;
  /** Events with no rule of their own (alias), checked against COMMON only. */
  withoutRule: number;
  invalidEvents: Record<string, number>;
  violations: Record<string, number>;
  disagreements: { messageId: string; verdicts: Record<string, boolean> }[];
  /** Invalid events per rule, as sluice counts them. */
  invalidByRule: Record<string, number>;
  violationTypes: Record<string, number>;
}

function checkAgreement(lines: readonly string[], rules: PlanRule[], index: Map<string, number>, common: number, all: Engine[]): Agreement {
  const sluiceSchemas = rules.map((r) => compileJsonSchema(r.jsonSchema));
  const result: Agreement = { events: lines.length, withoutRule: 0, invalidEvents: {}, violations: {}, disagreements: [], invalidByRule: {}, violationTypes: {} };
  for (const line of lines) {
    const event = JSON.parse(line) as Event;
    const ruleIndex = index.get(ruleIdOf(event));
    if (ruleIndex === undefined) result.withoutRule++;
    const verdicts: Record<string, boolean> = {};
    for (const engine of all) {
      const n = (ruleIndex === undefined ? 0 : engine.check(ruleIndex, event)) + engine.check(common, event);
      verdicts[engine.name] = n === 0;
      result.violations[engine.name] = (result.violations[engine.name] ?? 0) + n;
      if (n > 0) result.invalidEvents[engine.name] = (result.invalidEvents[engine.name] ?? 0) + 1;
    }
    if (new Set(Object.values(verdicts)).size > 1) result.disagreements.push({ messageId: String(event.messageId), verdicts });
    if (!verdicts.sluice) {
      const id = ruleIndex === undefined ? "(no rule)" : ruleIdOf(event);
      result.invalidByRule[id] = (result.invalidByRule[id] ?? 0) + 1;
      for (const i of ruleIndex === undefined ? [common] : [ruleIndex, common])
        for (const v of sluiceSchemas[i]!.validate(event)) result.violationTypes[v.type] = (result.violationTypes[v.type] ?? 0) + 1;
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Timed contenders

function chunksOf(lines: readonly string[]): string[][] {
  const chunks: string[][] = [];
  for (let i = 0; i < lines.length; i += CHUNK) chunks.push(lines.slice(i, i + CHUNK));
  return chunks;
}

/** Each batch: a fresh parse of the next chunk (untimed); every round covers whole passes over the corpus. */
function freshChunks(lines: readonly string[]): Pick<Contender<Event[]>, "unit" | "prepare" | "opsPerRun" | "batchMultiple"> {
  const chunks = chunksOf(lines);
  let next = 0;
  return {
    unit: "event",
    prepare: () => chunks[next++ % chunks.length]!.map((line) => JSON.parse(line) as Event),
    opsPerRun: (events) => events.length,
    batchMultiple: chunks.length,
  };
}

export const plansSuite: Suite = {
  name: "plans",
  async run(): Promise<SuiteResult> {
    const lines = corpusLines();
    const rules = generatePlan(lines.map((l) => JSON.parse(l) as Event));
    const index = new Map<string, number>();
    rules.forEach((r, i) => {
      if (r.type !== "COMMON") index.set(`${r.type}\u0000${r.key ?? ""}`, i);
    });
    const common = rules.findIndex((r) => r.type === "COMMON");
    const { all, first } = engines(rules);
    const agreement = checkAgreement(lines, rules, index, common, all);

    const validator = (engine: Engine): Contender<Event[]> => ({
      name: engine.name,
      ...freshChunks(lines),
      run(events) {
        let sum = 0;
        for (let i = 0; i < events.length; i++) {
          // The rule lookup is part of the work: every contender resolves it the same way.
          const rule = index.get(ruleIdOf(events[i]!));
          sum += (rule === undefined ? 0 : engine.check(rule, events[i]!)) + engine.check(common, events[i]!);
        }
        return sum;
      },
    });
    const plan = compilePlan(rules);
    const engine: Contender<Event[]> = {
      name: "enforcePlan",
      ...freshChunks(lines),
      run(events) {
        let sum = 0;
        for (let i = 0; i < events.length; i++) {
          const d = enforcePlan(plan, undefined, events[i] as SluiceEvent);
          sum += d.findings.length + (d.event === events[i] ? 0 : 1);
        }
        return sum;
      },
    };
    const chunks = chunksOf(lines);
    let nextFloor = 0;
    const floor: Contender<string[]> = {
      name: "parse+stringify",
      unit: "event",
      prepare: () => chunks[nextFloor++ % chunks.length]!,
      opsPerRun: (batch) => batch.length,
      batchMultiple: chunks.length,
      run(batch) {
        let sum = 0;
        for (let i = 0; i < batch.length; i++) sum += JSON.stringify(JSON.parse(batch[i]!)).length;
        return sum;
      },
    };

    const contenders = [...all.map(validator), ...first.map(validator), engine, floor];
    const result = await measure(contenders);
    const m = (name: string) => result.measurements.find((x) => x.name === name)!;
    const [sluice, cf, ajv, sluice1, cf1, ajv1, enforce, parse] = contenders.map((c) => m(c.name)) as Measurement[];
    const ratios = [
      ratio("plans", "cfworker / sluice", cf!, sluice!, { target: { op: ">=", value: 1 }, note: "all violations: @cfworker/json-schema vs our closures (≥ 1: ours at least on par)" }),
      ratio("plans", "sluice / ajv (new Function)", sluice!, ajv!, { note: "what code generation buys (ajv compiled with eval; standalone ajv is the Workers-legal equivalent)" }),
      ratio("plans", "cfworker / sluice, first error", cf1!, sluice1!, { target: { op: ">=", value: 1 }, note: "valid / invalid only" }),
      ratio("plans", "sluice / ajv, first error", sluice1!, ajv1!, { note: "valid / invalid only" }),
      ratio("plans", "sluice / parse+stringify", sluice!, parse!, { target: { op: "<", value: 1 }, note: "validation vs the JSON round trip every pipeline pays" }),
      ratio("plans", "enforcePlan / parse+stringify", enforce!, parse!, { note: "the whole engine (decision, unplanned properties, context.protocols copies)" }),
    ];

    const notes: string[] = [];
    const pct = (n: number) => `${((100 * n) / agreement.events).toFixed(1)}%`;
    notes.push(
      `plans: ${rules.length} rules (${rules.filter((r) => r.type === "TRACK").length} TRACK, ${rules.filter((r) => r.type === "PAGE").length} PAGE,` +
        ` ${rules.filter((r) => r.type === "SCREEN").length} SCREEN, IDENTIFY, GROUP, COMMON), 10 properties each, generated from the corpus (bench/plans-fixture.ts).`,
      `  invalid events: ${Object.entries(agreement.invalidEvents)
        .map(([k, v]) => `${k} ${v} (${pct(v)})`)
        .join(", ")}; ${agreement.withoutRule} alias events have no rule (COMMON only).`,
      `  violations counted: ${Object.entries(agreement.violations)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")} (each library counts a failing combinator or nested failure its own way).`,
      `  by type (sluice): ${Object.entries(agreement.violationTypes)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}; invalid events by rule: ${Object.entries(agreement.invalidByRule)
        .map(([k, v]) => `${k.replace("\u0000", " ")} ${v}`)
        .join(", ")}.`,
      agreement.disagreements.length === 0
        ? `  valid/invalid verdicts: all three validators agree on all ${agreement.events} events.`
        : `  ! valid/invalid verdicts DISAGREE on ${agreement.disagreements.length} events, e.g. ${JSON.stringify(agreement.disagreements.slice(0, 3))}`,
    );
    return {
      name: "plans",
      description: `20-rule × 10-property tracking plan over ${lines.length} events in batches of ${CHUNK} (${CORPUS_PATH})`,
      measure: result,
      ratios,
      checks: { agreement, rules },
      notes,
    };
  },
};

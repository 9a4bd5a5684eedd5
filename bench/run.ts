/**
 * `npm run bench [-- suite...]`: runs the benchmark suites (all by default), prints one table of ratios with the
 * absolute figures beside them, and writes bench/results.json. Not part of `npm test`.
 *
 * Knobs (environment): BENCH_ROUNDS (default 7), BENCH_ROUND_MS (default 250 ms of timed work per contender per
 * round), BENCH_WARMUP_MS (default 400). To add a suite: write bench/<name>.ts exporting a `Suite` (see lib.ts)
 * and list it in SUITES below.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { filtersSuite } from "./filters.ts";
import { ratelimitSuite } from "./ratelimit.ts";
import { plansSuite } from "./plans.ts";
import { pipelineSuite } from "./pipeline.ts";
import { httpSuite } from "./http.ts";
import { footprintSuite } from "./footprint.ts";
import { costSuite } from "./cost.ts";
import { warehouseSuite } from "./warehouse.ts";
import { consoleSuite } from "./console.ts";
import {
  DEFAULT_OPTIONS,
  formatNs,
  formatRate,
  formatRatio,
  globalChecksum,
  machineInfo,
  renderTable,
  type Measurement,
  type RatioFigure,
  type Suite,
  type SuiteResult,
} from "./lib.ts";

const SUITES: Suite[] = [pipelineSuite, filtersSuite, ratelimitSuite, plansSuite, httpSuite, footprintSuite, costSuite, warehouseSuite, consoleSuite];

const RESULTS_URL = new URL("./results.json", import.meta.url);

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const unknown = wanted.filter((w) => !SUITES.some((s) => s.name === w));
  if (unknown.length > 0) {
    throw new Error(`unknown suite(s): ${unknown.join(", ")} (available: ${SUITES.map((s) => s.name).join(", ")})`);
  }
  const suites = wanted.length > 0 ? SUITES.filter((s) => wanted.includes(s.name)) : SUITES;

  const machine = machineInfo();
  console.log(`sluice bench — ${machine.date}`);
  console.log(`node ${machine.node} (V8 ${machine.v8}), ${machine.cpu} ×${machine.cpus}, ${machine.platform}`);
  console.log(
    `${DEFAULT_OPTIONS.rounds} rounds × ≥${DEFAULT_OPTIONS.minRoundMs} ms per contender (after ${DEFAULT_OPTIONS.warmupMs} ms warm-up),` +
      " contenders interleaved; medians; ratio = median of per-round ratios [min–max]\n",
  );

  const started = performance.now();
  const results: SuiteResult[] = [];
  const failed: { suite: string; error: string }[] = [];
  for (const suite of suites) {
    const t0 = performance.now();
    process.stdout.write(`running ${suite.name}… `);
    try {
      results.push(await suite.run());
      console.log(`${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (err) {
      // One suite failing (e.g. wrangler dev not starting) must not lose the others' figures.
      const error = err instanceof Error ? err.message : String(err);
      failed.push({ suite: suite.name, error });
      console.log(`FAILED after ${((performance.now() - t0) / 1000).toFixed(1)} s: ${error.split("\n")[0]}`);
    }
  }
  console.log("");

  const figures = results.flatMap((r) => r.ratios);
  const side = (m: Measurement) => `${m.name} ${formatNs(m.nsPerOp)}/${m.unit} (${formatRate(m.opsPerSec)})`;
  const table = renderTable(
    ["suite", "figure", "ratio", "[min–max]", "target", "", "numerator", "denominator"],
    figures.map((f) => [
      f.suite,
      f.label,
      formatRatio(f.ratio),
      `[${formatRatio(f.min)}–${formatRatio(f.max)}]`,
      f.target ? `${f.target.op} ${f.target.value}` : "—",
      f.pass === undefined ? "" : f.pass ? "ok" : "MISS",
      f.numeratorText ?? side(f.numerator),
      f.denominatorText ?? side(f.denominator),
    ]),
    [false, false, true, true, false, false, false, false],
  );
  console.log(table);

  for (const r of results) {
    if (r.notes.length > 0) console.log(`\n${r.notes.join("\n")}`);
  }
  const checksum = globalChecksum();
  console.log(`\nchecksum ${checksum} · total ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const json = {
    ...machine,
    options: DEFAULT_OPTIONS,
    checksum,
    suites: results.map((r) => ({
      name: r.name,
      description: r.description,
      contenders: r.measure.measurements.map(roundMeasurement),
      ratios: r.ratios.map(serializeRatio),
      checks: r.checks,
      notes: r.notes,
    })),
    ...(failed.length > 0 ? { failed } : {}),
  };
  writeFileSync(RESULTS_URL, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`wrote ${fileURLToPath(RESULTS_URL)}`);

  const missed = figures.filter((f) => f.pass === false);
  if (missed.length > 0) console.log(`\ntargets missed: ${missed.map((f) => `${f.suite} ${f.label}`).join(", ")}`);
  if (failed.length > 0) {
    for (const f of failed) console.error(`\nsuite ${f.suite} FAILED:\n${f.error}`);
    process.exitCode = 1;
  }
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));

function roundMeasurement(m: Measurement) {
  return {
    name: m.name,
    unit: m.unit,
    nsPerOp: round(m.nsPerOp, 1),
    opsPerSec: Math.round(m.opsPerSec),
    roundsNsPerOp: m.roundsNsPerOp.map((x) => round(x, 1)),
    batches: m.batches,
    ops: m.ops,
  };
}

function serializeRatio(f: RatioFigure) {
  return {
    label: f.label,
    numerator: f.numerator.name,
    denominator: f.denominator.name,
    ratio: round(f.ratio, 3),
    min: round(f.min, 3),
    max: round(f.max, 3),
    numeratorNsPerOp: round(f.numerator.nsPerOp, 1),
    denominatorNsPerOp: round(f.denominator.nsPerOp, 1),
    numeratorOpsPerSec: Math.round(f.numerator.opsPerSec),
    denominatorOpsPerSec: Math.round(f.denominator.opsPerSec),
    ...(f.target ? { target: `${f.target.op} ${f.target.value}`, pass: f.pass } : {}),
    ...(f.note ? { note: f.note } : {}),
    ...(f.numeratorText ? { numeratorText: f.numeratorText } : {}),
    ...(f.denominatorText ? { denominatorText: f.denominatorText } : {}),
  };
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});

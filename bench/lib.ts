/**
 * Benchmark harness shared by all suites (`npm run bench`, never part of `npm test`).
 *
 * Every figure we publish is a RATIO of two contenders measured in the same run, printed with the absolute
 * numbers beside it. `measure()` makes those numbers honest:
 *  - warm-up first (results discarded), then several rounds; a round gives each contender at least `minRoundMs`
 *    of timed work;
 *  - inside a round the contenders are interleaved batch by batch (the starting contender rotates per round), so
 *    machine noise — other processes, frequency scaling, GC of earlier batches — hits every contender alike;
 *  - per-batch inputs come from `prepare()`, called OUTSIDE the timed region (e.g. a fresh clone for an evaluator
 *    that mutates its input); what preparing costs can be measured as a contender of its own;
 *  - every batch returns a number that is folded into a checksum that is printed, so V8 cannot dead-code-
 *    eliminate the work;
 *  - `beforeRound()` hooks (e.g. filling a pool of pre-cloned inputs) and then a full GC (when it can be exposed)
 *    run between rounds, never inside one, so inputs are old-generation data and a round's GC work is the
 *    contenders' own;
 *  - reported ns/op is the median over rounds; ratios are computed per round, and their median (with min–max)
 *    is reported.
 */
import { cpus } from "node:os";
import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";

export interface Contender<I = unknown> {
  /** Short label used in the table and JSON. */
  name: string;
  /** What one "op" is, e.g. "event". */
  unit?: string;
  /** Called before the warm-up and before every round, outside the timed region (e.g. to fill an input pool). */
  beforeRound?: () => void;
  /** Called once after the last round (e.g. to release an input pool). */
  afterAll?: () => void;
  /** Builds the input of one batch; called outside the timed region before every batch. */
  prepare?: () => I;
  /**
   * Runs one batch and returns a number derived from every result (folded into the checksum). A promise when the
   * code under test is async (the request path, `accept()`): its time then runs until it settles.
   */
  run: (input: I) => number | Promise<number>;
  /** Number of ops one `run` performs (e.g. the number of events in the batch), fixed or per input. */
  opsPerRun: number | ((input: I) => number);
  /**
   * A round ends for this contender only after a multiple of this many batches (default 1): e.g. the number of
   * chunks of a corpus, so every round covers the whole corpus evenly.
   */
  batchMultiple?: number;
}

export interface MeasureOptions {
  /** Timed rounds; the median is reported. */
  rounds?: number;
  /** Minimum timed milliseconds per contender per round. */
  minRoundMs?: number;
  /** Untimed warm-up, in milliseconds per contender. */
  warmupMs?: number;
}

export interface Measurement {
  name: string;
  unit: string;
  /** Median over rounds. */
  nsPerOp: number;
  opsPerSec: number;
  /** ns/op of every round, in round order. */
  roundsNsPerOp: number[];
  /** Batches run in the timed rounds (all rounds together). */
  batches: number;
  ops: number;
}

export interface MeasureResult {
  measurements: Measurement[];
  options: Required<MeasureOptions>;
  /** Sum of everything the contenders returned (printed, so their results are observably used). */
  checksum: number;
}

export const DEFAULT_OPTIONS: Required<MeasureOptions> = {
  rounds: Number(process.env.BENCH_ROUNDS ?? 7),
  minRoundMs: Number(process.env.BENCH_ROUND_MS ?? 250),
  warmupMs: Number(process.env.BENCH_WARMUP_MS ?? 400),
};

/** A full GC between rounds when the runtime lets us expose it; a no-op otherwise. */
const collectGarbage: () => void = (() => {
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    if (typeof gc === "function") return () => (gc as () => void)();
  } catch {
    // not available: rounds just run without a forced GC in between
  }
  return () => {};
})();

let sink = 0;

/** Interleaved, time-bounded rounds over all contenders: see the module comment. */
export async function measure(contenders: Contender<any>[], options: MeasureOptions = {}): Promise<MeasureResult> {
  const opts: Required<MeasureOptions> = { ...DEFAULT_OPTIONS, ...options };
  if (contenders.length === 0) throw new Error("measure: no contenders");
  const n = contenders.length;
  let checksum = 0;

  const runRound = async (budgetNs: number, rotate: number): Promise<{ ns: number[]; ops: number[]; batches: number[] }> => {
    const ns = new Array<number>(n).fill(0);
    const ops = new Array<number>(n).fill(0);
    const batches = new Array<number>(n).fill(0);
    for (;;) {
      // Next batch goes to the contender with the least timed work so far, so all contenders advance through
      // the round together in wall-clock time (a fast contender runs many batches between two slow ones).
      let next = -1;
      for (let k = 0; k < n; k++) {
        const i = (k + rotate) % n;
        const done = ns[i]! >= budgetNs && batches[i]! % (contenders[i]!.batchMultiple ?? 1) === 0;
        if (!done && (next < 0 || ns[i]! < ns[next]!)) next = i;
      }
      if (next < 0) break;
      const c = contenders[next]!;
      const input = c.prepare ? c.prepare() : undefined;
      const t0 = process.hrtime.bigint();
      const out = c.run(input);
      // Awaited only when it is a promise: a synchronous contender's timing has no microtask in it.
      const r = typeof out === "number" ? out : await out;
      const t1 = process.hrtime.bigint();
      checksum += Number.isFinite(r) ? r : 0;
      ns[next]! += Number(t1 - t0);
      ops[next]! += typeof c.opsPerRun === "number" ? c.opsPerRun : c.opsPerRun(input);
      batches[next]!++;
    }
    return { ns, ops, batches };
  };

  const setUp = () => {
    for (const c of contenders) c.beforeRound?.();
    collectGarbage();
  };

  setUp();
  await runRound(opts.warmupMs * 1e6, 0);

  const perRound: number[][] = contenders.map(() => []);
  const totalBatches = new Array<number>(n).fill(0);
  const totalOps = new Array<number>(n).fill(0);
  for (let round = 0; round < opts.rounds; round++) {
    setUp();
    const { ns, ops, batches } = await runRound(opts.minRoundMs * 1e6, round % n);
    for (let i = 0; i < n; i++) {
      perRound[i]!.push(ns[i]! / ops[i]!);
      totalBatches[i]! += batches[i]!;
      totalOps[i]! += ops[i]!;
    }
  }
  for (const c of contenders) c.afterAll?.();
  sink += checksum;

  const measurements = contenders.map((c, i): Measurement => {
    const nsPerOp = median(perRound[i]!);
    return {
      name: c.name,
      unit: c.unit ?? "op",
      nsPerOp,
      opsPerSec: 1e9 / nsPerOp,
      roundsNsPerOp: perRound[i]!,
      batches: totalBatches[i]!,
      ops: totalOps[i]!,
    };
  });
  return { measurements, options: opts, checksum };
}

/** The running checksum over every measure() call (print it so nothing is dead code). */
export function globalChecksum(): number {
  return sink;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// ---------------------------------------------------------------------------------------------------------------
// Results

export interface Target {
  /** "<" or ">=" etc. applied to the median ratio. */
  op: "<" | "<=" | ">" | ">=";
  value: number;
}

export interface RatioFigure {
  suite: string;
  /** e.g. "tsub / sluice". */
  label: string;
  numerator: Measurement;
  denominator: Measurement;
  /** Median of the per-round ratios. */
  ratio: number;
  min: number;
  max: number;
  target?: Target;
  /** undefined when there is no target. */
  pass?: boolean;
  /** One line of context for the reader. */
  note?: string;
  /**
   * How to show each side when "ns per op" is not the natural unit (e.g. requests/s and latency of an HTTP run,
   * bytes of a bundle); the measurements are still kept in the JSON.
   */
  numeratorText?: string;
  denominatorText?: string;
}

/**
 * A figure built from per-run values measured outside measure() (e.g. alternating HTTP runs): `numerator` and
 * `denominator` hold one value per run, paired in run order, and the ratio is the median of the per-run ratios
 * numerator/denominator (with min–max). `higherIsBetter` only documents the direction for the reader.
 */
export function pairedRatio(
  suite: string,
  label: string,
  numerator: Measurement,
  denominator: Measurement,
  perRun: { numerator: number[]; denominator: number[] },
  extra: { target?: Target; note?: string; numeratorText?: string; denominatorText?: string } = {},
): RatioFigure {
  if (perRun.numerator.length !== perRun.denominator.length || perRun.numerator.length === 0)
    throw new Error(`pairedRatio ${label}: runs must be paired`);
  const ratios = perRun.numerator.map((x, i) => x / perRun.denominator[i]!);
  const value = median(ratios);
  const figure: RatioFigure = { suite, label, numerator, denominator, ratio: value, min: Math.min(...ratios), max: Math.max(...ratios) };
  if (extra.target) {
    figure.target = extra.target;
    figure.pass = compare(value, extra.target);
  }
  if (extra.note) figure.note = extra.note;
  if (extra.numeratorText) figure.numeratorText = extra.numeratorText;
  if (extra.denominatorText) figure.denominatorText = extra.denominatorText;
  return figure;
}

/**
 * A Measurement for something measured outside measure(): one ns-per-op value per run (e.g. wall ns per event
 * at the achieved throughput), median as nsPerOp.
 */
export function runsMeasurement(name: string, unit: string, nsPerOpPerRun: number[], opsPerRun: number[]): Measurement {
  const nsPerOp = median(nsPerOpPerRun);
  return {
    name,
    unit,
    nsPerOp,
    opsPerSec: 1e9 / nsPerOp,
    roundsNsPerOp: nsPerOpPerRun,
    batches: nsPerOpPerRun.length,
    ops: opsPerRun.reduce((a, b) => a + b, 0),
  };
}

/** The MeasureResult of a suite whose figures do not come from measure() (no checksum of its own). */
export function externalResult(measurements: Measurement[]): MeasureResult {
  return { measurements, options: { ...DEFAULT_OPTIONS }, checksum: 0 };
}

/** Builds a ratio from two measurements of the SAME measure() call (per-round ratios, then the median). */
export function ratio(
  suite: string,
  label: string,
  numerator: Measurement,
  denominator: Measurement,
  extra: { target?: Target; note?: string } = {},
): RatioFigure {
  const a = numerator.roundsNsPerOp;
  const b = denominator.roundsNsPerOp;
  if (a.length !== b.length) throw new Error(`ratio ${label}: measurements come from different runs`);
  const perRound = a.map((x, i) => x / b[i]!);
  const value = median(perRound);
  const figure: RatioFigure = {
    suite,
    label,
    numerator,
    denominator,
    ratio: value,
    min: Math.min(...perRound),
    max: Math.max(...perRound),
  };
  if (extra.target) {
    figure.target = extra.target;
    figure.pass = compare(value, extra.target);
  }
  if (extra.note) figure.note = extra.note;
  return figure;
}

function compare(value: number, target: Target): boolean {
  switch (target.op) {
    case "<":
      return value < target.value;
    case "<=":
      return value <= target.value;
    case ">":
      return value > target.value;
    case ">=":
      return value >= target.value;
  }
}

export interface SuiteResult {
  name: string;
  description: string;
  measure: MeasureResult;
  ratios: RatioFigure[];
  /** Correctness / agreement checks done before timing (free-form, serialized as is). */
  checks?: unknown;
  /** Lines printed under the table. */
  notes: string[];
}

export interface Suite {
  name: string;
  run: () => Promise<SuiteResult> | SuiteResult;
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

export function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e4) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  if (ns >= 100) return `${ns.toFixed(0)} ns`;
  return `${ns.toFixed(1)} ns`;
}

export function formatRate(perSec: number): string {
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(2)}M/s`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(1)}k/s`;
  return `${perSec.toFixed(0)}/s`;
}

export function formatRatio(r: number): string {
  return r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`;
}

/** Renders rows as a plain-text table with a header rule. Numeric-looking columns are right-aligned. */
export function renderTable(header: string[], rows: string[][], rightAlign: boolean[] = []): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (rightAlign[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function machineInfo(): { date: string; node: string; v8: string; cpu: string; cpus: number; platform: string } {
  const list = cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    cpu: list[0]?.model.trim() ?? "unknown",
    cpus: list.length,
    platform: `${process.platform}-${process.arch}`,
  };
}

/**
 * The event-volume model: hourly counts per (source, event name), a baseline per hour, and the drop/spike test.
 * Pure; docs/alerts.md "Anomaly model" describes it and its measured false-alarm rate.
 *
 * Baseline of hour H: with four weeks of history, the median of the counts at H − 1, 2, 3 and 4 weeks (the same
 * hour of the week; the median ignores one odd week, e.g. a holiday or an incident). With less history, an EWMA
 * (α = 0.3, oldest first) of the counts at the same hour of the previous days, once 3 days exist; with less, none.
 */

export const HOUR_MS = 3_600_000;
const WEEK_HOURS = 168;
export const EWMA_ALPHA = 0.3;
export const EWMA_MIN_DAYS = 3;

/** `YYYY-MM-DDTHH` of a time. */
export const hourOf = (ms: number): string => new Date(ms).toISOString().slice(0, 13);
/** Start of an hour `YYYY-MM-DDTHH`, in ms. */
export const hourStart = (hour: string): number => Date.parse(`${hour}:00:00Z`);

/** Hourly counts of one series; hours missing from `counts` since `since` count 0; before it, nothing is known. */
export interface HourSeries {
  counts: ReadonlyMap<string, number>;
  /** Start of the first hour with data (the scope's oldest row), in ms. */
  since: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The series' count in the hour starting at `at` (ms). */
export const countAt = (series: HourSeries, at: number): number => series.counts.get(hourOf(at)) ?? 0;

/** The expected count for the hour starting at `at` (ms), or undefined when history is too short. */
export function baseline(series: HourSeries, at: number): { value: number; method: "median_4w" | "ewma" } | undefined {
  if (at - 4 * WEEK_HOURS * HOUR_MS >= series.since) {
    const weeks = [1, 2, 3, 4].map((w) => countAt(series, at - w * WEEK_HOURS * HOUR_MS));
    return { value: median(weeks), method: "median_4w" };
  }
  const days: number[] = [];
  for (let d = 1; at - d * 24 * HOUR_MS >= series.since; d++) days.push(countAt(series, at - d * 24 * HOUR_MS));
  if (days.length < EWMA_MIN_DAYS) return undefined;
  days.reverse();
  let ewma = days[0]!;
  for (let i = 1; i < days.length; i++) ewma = EWMA_ALPHA * days[i]! + (1 - EWMA_ALPHA) * ewma;
  return { value: ewma, method: "ewma" };
}

export interface VolumeTest {
  direction: "drop" | "spike";
  /** drop: fire below fraction × baseline; spike: fire above factor × baseline. */
  ratio: number;
  /** Consecutive complete hours that must all break the bound. */
  hours: number;
  /** Hours whose baseline is below this are never anomalous (too little traffic to judge). */
  minBaseline: number;
}

export interface VolumeVerdict {
  breach: boolean;
  /** The last complete hour judged (`YYYY-MM-DDTHH`), its count and baseline. */
  hour: string;
  observed: number;
  expected: number;
}

/**
 * Judges the `test.hours` complete hours before `now`: a breach when every one is past the bound with a baseline of
 * at least minBaseline. Undefined when the last complete hour has no baseline (history too short).
 */
export function judgeVolume(series: HourSeries, now: number, test: VolumeTest): VolumeVerdict | undefined {
  const last = Math.floor(now / HOUR_MS) * HOUR_MS - HOUR_MS;
  const head = baseline(series, last);
  if (!head) return undefined;
  let breach = true;
  for (let k = 0; k < test.hours && breach; k++) {
    const at = last - k * HOUR_MS;
    const b = k === 0 ? head : baseline(series, at);
    const observed = countAt(series, at);
    breach = b !== undefined && b.value >= test.minBaseline && (test.direction === "drop" ? observed < test.ratio * b.value : observed > test.ratio * b.value);
  }
  return { breach, hour: hourOf(last), observed: countAt(series, last), expected: Math.round(head.value * 10) / 10 };
}

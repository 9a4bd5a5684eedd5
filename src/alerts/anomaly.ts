/**
 * The event-volume model: counts per (source, event name) per hour (or per UTC day, summed from the hours), a
 * baseline per period, and the drop/spike test.
 * Pure; docs/alerts.md "Anomaly model" describes it and its measured false-alarm rate.
 *
 * Baseline of period P: with four weeks of history, the median of the counts at P − 1, 2, 3 and 4 weeks (the same
 * hour or day of the week; the median ignores one odd week, e.g. a holiday or an incident). With less history, an
 * EWMA (α = 0.3, oldest first) of the counts at P − 1, 2, … days (the same hour of the previous days, or the
 * previous days), once 3 days exist; with less, none.
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
const WEEK_HOURS = 168;
export const EWMA_ALPHA = 0.3;
export const EWMA_MIN_DAYS = 3;

/** `YYYY-MM-DDTHH` of a time. */
export const hourOf = (ms: number): string => new Date(ms).toISOString().slice(0, 13);
/** Start of an hour `YYYY-MM-DDTHH`, in ms. */
export const hourStart = (hour: string): number => Date.parse(`${hour}:00:00Z`);

/** `YYYY-MM-DD` of a time. */
export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/**
 * Counts of one series per period (an hour, keyed `YYYY-MM-DDTHH`, or a UTC day, keyed `YYYY-MM-DD`); periods
 * missing from `counts` since `since` count 0; before it, nothing is known.
 */
export interface HourSeries {
  counts: ReadonlyMap<string, number>;
  /** Start of the first complete period with data (the scope's oldest row), in ms. */
  since: number;
  /** Days (keyed by dayOf); hours when absent. */
  daily?: boolean;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The series' count in the period starting at `at` (ms). */
export const countAt = (series: HourSeries, at: number): number => series.counts.get(series.daily ? dayOf(at) : hourOf(at)) ?? 0;

/** The expected count for the period starting at `at` (ms), or undefined when history is too short. */
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
  /** Consecutive complete periods that must all break the bound. */
  periods: number;
  /** Periods whose baseline is below this are never anomalous (too little traffic to judge). */
  minBaseline: number;
}

export interface VolumeVerdict {
  breach: boolean;
  /** The last complete period judged (`YYYY-MM-DDTHH` or `YYYY-MM-DD`), its count and baseline. */
  period: string;
  observed: number;
  expected: number;
}

/**
 * Judges the `test.periods` complete periods before `now`: a breach when every one is past the bound with a
 * baseline of at least minBaseline. Undefined when the last complete period has no baseline (history too short).
 */
export function judgeVolume(series: HourSeries, now: number, test: VolumeTest): VolumeVerdict | undefined {
  const step = series.daily ? DAY_MS : HOUR_MS;
  const last = Math.floor(now / step) * step - step;
  const head = baseline(series, last);
  if (!head) return undefined;
  let breach = true;
  for (let k = 0; k < test.periods && breach; k++) {
    const at = last - k * step;
    const b = k === 0 ? head : baseline(series, at);
    const observed = countAt(series, at);
    breach = b !== undefined && b.value >= test.minBaseline && (test.direction === "drop" ? observed < test.ratio * b.value : observed > test.ratio * b.value);
  }
  return { breach, period: series.daily ? dayOf(last) : hourOf(last), observed: countAt(series, last), expected: Math.round(head.value * 10) / 10 };
}

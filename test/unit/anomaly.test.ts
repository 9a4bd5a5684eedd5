/**
 * The event-volume model (src/alerts/anomaly.ts) on synthetic history from seeded noise: its false-alarm rate on
 * normal traffic and how fast it sees a real drop, with the default settings (docs/alerts.md quotes these figures).
 */
import { describe, expect, it } from "vitest";
import { baseline, hourOf, HOUR_MS, judgeVolume, type HourSeries, type VolumeTest } from "../../src/alerts/anomaly.ts";
import { step, type AlertState } from "../../src/alerts/state.ts";
import { prng } from "../../bench/ratelimit.ts";

function normal(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
}

function poisson(rand: () => number, lambda: number): number {
  if (lambda > 50) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * normal(rand)));
  const l = Math.exp(-lambda);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rand();
  } while (p > l);
  return k - 1;
}

const START = Date.parse("2026-01-05T00:00:00Z"); // a Monday
const WEEKS = 8;

/**
 * One event's hourly counts: a daily shape (quiet nights), quieter weekends, day-to-day swings (lognormal, σ 0.3)
 * and Poisson noise. `drop` multiplies the rate from an hour on (a broken release).
 */
function series(rand: () => number, peak: number, drop?: { at: number; factor: number }): HourSeries {
  const counts = new Map<string, number>();
  let day = -1;
  let dayFactor = 1;
  for (let t = START; t < START + WEEKS * 168 * HOUR_MS; t += HOUR_MS) {
    const d = new Date(t);
    if (d.getUTCDate() !== day) {
      day = d.getUTCDate();
      dayFactor = Math.exp(0.3 * normal(rand));
    }
    const h = d.getUTCHours();
    const shape = 0.1 + 0.9 * Math.max(0, Math.sin(((h - 6) / 24) * 2 * Math.PI)) ** 1.5;
    const weekend = d.getUTCDay() === 0 || d.getUTCDay() === 6 ? 0.6 : 1;
    const broken = drop && t >= drop.at ? drop.factor : 1;
    counts.set(hourOf(t), poisson(rand, peak * shape * weekend * dayFactor * broken));
  }
  return { counts, since: START };
}

const policy = { fireAfter: 1, resolveAfter: 2, remindMs: 4 * HOUR_MS };

/** Runs the detector at every hour from `from` to the end; returns the times it fired. */
function firings(s: HourSeries, test: VolumeTest, from: number): number[] {
  let state: AlertState | undefined;
  const fired: number[] = [];
  for (let now = from; now < START + WEEKS * 168 * HOUR_MS; now += HOUR_MS) {
    const v = judgeVolume(s, now + 60_000, test);
    if (!v) continue;
    const r = step(state, "r", { key: "r", breach: v.breach, period: v.period, observed: v.observed, expected: v.expected, message: "" }, now, policy);
    state = r.state;
    if (r.send === "fired") fired.push(now);
  }
  return fired;
}

const DROP: VolumeTest = { direction: "drop", ratio: 0.2, periods: 2, minBaseline: 20 };
const SPIKE: VolumeTest = { direction: "spike", ratio: 5, periods: 2, minBaseline: 20 };
const SERIES = 100;
/** Judged from week 5 (four weeks of history: the median baseline) to the end: 4 weeks per series. */
const JUDGED_FROM = START + 4 * 168 * HOUR_MS;
const judgedWeeks = SERIES * (WEEKS - 4);

describe("event volume model on synthetic history", () => {
  it("false alarms on normal traffic: drops and spikes, per series and week", () => {
    const rand = prng(17);
    let drops = 0;
    let spikes = 0;
    for (let i = 0; i < SERIES; i++) {
      const s = series(rand, 30 + rand() * 470);
      drops += firings(s, DROP, JUDGED_FROM).length;
      spikes += firings(s, SPIKE, JUDGED_FROM).length;
    }
    const rate = { drop: drops / judgedWeeks, spike: spikes / judgedWeeks };
    console.log(`false alarms per series-week over ${judgedWeeks} series-weeks: drop ${rate.drop.toFixed(4)} (${drops}), spike ${rate.spike.toFixed(4)} (${spikes})`);
    expect(rate.drop).toBeLessThan(0.01);
    expect(rate.spike).toBeLessThan(0.01);
  }, 20_000);

  it("sees a real drop to 5% within the K hours it needs (daytime), once", () => {
    const rand = prng(42);
    const delays: number[] = [];
    let missed = 0;
    for (let i = 0; i < SERIES; i++) {
      // A weekday, 10:00-16:00 UTC, in the last week.
      const at = START + 7 * 168 * HOUR_MS + Math.floor(rand() * 5) * 24 * HOUR_MS + (10 + Math.floor(rand() * 7)) * HOUR_MS;
      const fired = firings(series(rand, 30 + rand() * 470, { at, factor: 0.05 }), DROP, at - 24 * HOUR_MS);
      const hit = fired.find((t) => t >= at);
      if (hit === undefined) missed++;
      else delays.push((hit - at) / HOUR_MS);
      expect(fired.filter((t) => t < at)).toEqual([]);
    }
    const within = delays.filter((d) => d <= DROP.periods).length / SERIES;
    console.log(`drop to 5%: detected ${SERIES - missed}/${SERIES}, within ${DROP.periods} h of it: ${(within * 100).toFixed(1)}%`);
    expect(missed).toBe(0);
    expect(within).toBeGreaterThanOrEqual(0.95);
  }, 20_000);

  it("baselines: the 4-week median ignores one odd week; an EWMA before that", () => {
    const counts = new Map<string, number>();
    const at = START + 4 * 168 * HOUR_MS;
    [100, 104, 5, 98].forEach((c, w) => counts.set(hourOf(at - (w + 1) * 168 * HOUR_MS), c));
    expect(baseline({ counts, since: START }, at)).toEqual({ value: 99, method: "median_4w" });
    const days = new Map([1, 2, 3].map((d) => [hourOf(at - d * 24 * HOUR_MS), 100 * d]));
    // Oldest first: 300, 200, 100 → 300 → 270 → 219.
    expect(baseline({ counts: days, since: at - 3 * 24 * HOUR_MS }, at)).toEqual({ value: 219, method: "ewma" });
  });
});

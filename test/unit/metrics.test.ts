import { describe, expect, it } from "vitest";
import { destinationMetrics, latencyBucket, latencyPercentile, openMetrics } from "../../src/metrics.ts";

describe("delivery metrics", () => {
  it.each([
    [0, "le_50"],
    [50, "le_50"],
    [51, "le_100"],
    [999, "le_1000"],
    [14_400_000, "le_14400000"],
    [14_400_001, "le_inf"],
  ])("puts a latency of %d ms in bucket %s", (ms, bucket) => {
    expect(latencyBucket(ms)).toBe(bucket);
  });

  it("reads percentiles as the upper bound of the bucket holding them", () => {
    const c = { "latency_ms.le_100": 90, "latency_ms.le_1000": 5, "latency_ms.le_5000": 5 };
    expect(latencyPercentile(c, 0.5)).toBe(100);
    expect(latencyPercentile(c, 0.95)).toBe(1000);
    expect(latencyPercentile(c, 0.99)).toBe(5000);
    expect(latencyPercentile({}, 0.5)).toBeUndefined();
  });

  it("sums days and groups drops and failures by reason", () => {
    const m = destinationMetrics([
      { counters: { routed: 5, delivered: 3, "dropped.integrations": 1, "failed.http_503": 2, retried: 2, "latency_ms.le_100": 3 } },
      { counters: { routed: 1, delivered: 1, "failed.http_503": 1, dead_lettered: 1, "latency_ms.le_250": 1 } },
    ]);
    expect(m).toEqual({
      routed: 6, delivered: 4, filtered: { integrations: 1 }, retried: 2, failed: { http_503: 3 }, dead_lettered: 1, latency_ms: { p50: 100, p95: 250 },
    });
  });

  it("renders OpenMetrics with cumulative latency buckets and escaped labels, ending in # EOF", () => {
    const text = openMetrics({ 'destination:h"1': [{ counters: { delivered: 2, "latency_ms.le_50": 1, "latency_ms.le_250": 1 } }] });
    expect(text).toContain('sluice_events_total{scope="destination",id="h\\"1",outcome="delivered"} 2');
    expect(text).toContain('sluice_delivery_latency_seconds_bucket{destination="h\\"1",le="0.05"} 1');
    expect(text).toContain('sluice_delivery_latency_seconds_bucket{destination="h\\"1",le="0.25"} 2');
    expect(text).toContain('sluice_delivery_latency_seconds_bucket{destination="h\\"1",le="+Inf"} 2');
    expect(text.endsWith("# EOF\n")).toBe(true);
  });
});

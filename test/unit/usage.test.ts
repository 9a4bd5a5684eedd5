import { describe, expect, it } from "vitest";
import { HyperLogLog } from "../../src/usage/hyperloglog.ts";
import { UsageRecorder, userKey } from "../../src/usage/recorder.ts";
import { usageReport } from "../../src/usage/report.ts";

describe("usage recorder", () => {
  it("counts a user by userId, else anonymousId", () => {
    expect(userKey({ userId: "u1", anonymousId: "a1" })).toBe("u:u1");
    expect(userKey({ anonymousId: "a1" })).toBe("a:a1");
    expect(userKey({ userId: 42 })).toBe("u:42");
    expect(userKey({ userId: "" })).toBeUndefined();
  });

  it("flushes a day's sketch only when it learned something new", async () => {
    const sent: { source: string; day: string; users: number }[] = [];
    const stub = (source: string) => ({
      addUsers: async (day: string, sketch: Uint8Array) => {
        sent.push({ source, day, users: Math.round(HyperLogLog.fromBytes(sketch).count()) });
      },
    });
    const rec = new UsageRecorder();
    const src = { id: "web" };
    rec.observe(src, [{ userId: "u1" }, { userId: "u2" }, { anonymousId: "a1" }], "2026-05-01");
    await rec.flush(stub, "2026-05-01");
    rec.observe(src, [{ userId: "u1" }], "2026-05-01");
    await rec.flush(stub, "2026-05-01");
    expect(sent).toEqual([{ source: "web", day: "2026-05-01", users: 3 }]);
  });

  it("keeps a sketch whose flush failed, and forgets past days once flushed", async () => {
    let fail = true;
    const days: string[] = [];
    const stub = () => ({
      addUsers: async (day: string) => {
        if (fail) throw new Error("down");
        days.push(day);
      },
    });
    const rec = new UsageRecorder({ onError: () => {} });
    rec.observe({ id: "web" }, [{ userId: "u1" }], "2026-05-01");
    await rec.flush(stub, "2026-05-02");
    fail = false;
    await rec.flush(stub, "2026-05-02");
    await rec.flush(stub, "2026-05-02");
    expect(days).toEqual(["2026-05-01"]);
  });
});

describe("usage report", () => {
  it("puts a day's counters and distinct users side by side, rejections by code, queue failures not accepted", () => {
    const report = usageReport(
      "web",
      [
        { day: "2026-05-02", counters: { requests: 3, accepted: 7, bytes: 900, duplicates: 2, "rejected.missing_field": 1, "rejected.rate_limited": 4, routed: 7 } },
        { day: "2026-05-01", counters: { requests: 2, accepted: 3, enqueue_failed: 2, bytes: 80 } },
      ],
      { days: [{ day: "2026-05-02", users: 5 }], months: [{ month: "2026-05", users: 6, alertSentAt: "2026-05-02T10:00:00.000Z" }] },
      { monthly: 10, alert_at: 0.5, destination: "hook" },
    );
    expect(report.days[0]).toEqual({ day: "2026-05-02", requests: 3, accepted: 7, bytes: 900, duplicates: 2, rejected: { missing_field: 1, rate_limited: 4 }, users: 5 });
    expect(report.days[1]).toMatchObject({ day: "2026-05-01", accepted: 1, users: 0, duplicates: 0, rejected: {} });
    expect(report.months).toEqual([{ month: "2026-05", mtu: 6, budget: 10, share: 0.6, alertSentAt: "2026-05-02T10:00:00.000Z" }]);
  });
});

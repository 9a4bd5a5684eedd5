/** StatsObject: an hour's counters are one row, so an add writes one row however many counters it carries. */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";

const stub = () => env.STATS.get(env.STATS.idFromName(`stats-${crypto.randomUUID()}`));
const rowsOf = (s: ReturnType<typeof stub>) =>
  runInDurableObject(s, (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM hours").one().n);

describe("StatsObject", () => {
  it("sums adds per hour into one row per hour, and hours into days, newest first", async () => {
    const s = stub();
    await s.add("2026-12-05T23", { routed: 1 });
    for (let i = 0; i < 3; i++) await s.add("2026-12-06T09", { routed: 2, delivered: 1, "failed.http_503": 1, "latency.le_100": 1 });
    await s.add("2026-12-06T10", { routed: 4 });
    expect(await s.read()).toEqual([
      { day: "2026-12-06", counters: { delivered: 3, "failed.http_503": 3, "latency.le_100": 3, routed: 10 } },
      { day: "2026-12-05", counters: { routed: 1 } },
    ]);
    expect(await s.read("2026-12-06")).toHaveLength(1);
    expect(await s.readHours("2026-12-06T00")).toEqual([
      { hour: "2026-12-06T10", counters: { routed: 4 } },
      { hour: "2026-12-06T09", counters: { delivered: 3, "failed.http_503": 3, "latency.le_100": 3, routed: 6 } },
    ]);
    expect(await rowsOf(s)).toBe(3);
  });

  it("counts a bare day (an earlier release's isolates) in its first hour, and reads the earlier per-day table", async () => {
    const s = stub();
    await runInDurableObject(s, (_i, state) => {
      state.storage.sql.exec("CREATE TABLE days (day TEXT PRIMARY KEY, counters TEXT NOT NULL) WITHOUT ROWID");
      state.storage.sql.exec(`INSERT INTO days VALUES ('2026-12-06', '{"routed":5}'), ('2026-12-01', '{"accepted":7}')`);
    });
    await s.add("2026-12-06", { routed: 1, delivered: 1 });
    expect(await s.readHours()).toEqual([{ hour: "2026-12-06T00", counters: { delivered: 1, routed: 1 } }]);
    expect(await s.read()).toEqual([
      { day: "2026-12-06", counters: { delivered: 1, routed: 6 } },
      { day: "2026-12-01", counters: { accepted: 7 } },
    ]);
  });

  it("writes one row per add, whatever the number of counters", async () => {
    const s = stub();
    const counts = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`c${i}`, 1]));
    const written = await runInDurableObject(s, (instance, state) => {
      // Count what each statement the object runs writes (SQLite's own count, as billed).
      const sql = state.storage.sql;
      const exec = sql.exec.bind(sql);
      let rows = 0;
      sql.exec = ((query: string, ...params: unknown[]) => {
        const cursor = exec(query, ...params);
        cursor.toArray();
        rows += cursor.rowsWritten;
        return cursor;
      }) as typeof sql.exec;
      try {
        instance.add("2026-12-06T08", counts);
        instance.add("2026-12-06T08", counts);
      } finally {
        sql.exec = exec;
      }
      return rows;
    });
    expect(written).toBe(2);
    expect(await rowsOf(s)).toBe(1);
    expect((await s.read())[0]!.counters.c39).toBe(2);
  });

  it("reads the earlier one-row-per-counter table in place and adds to it", async () => {
    const s = stub();
    await runInDurableObject(s, (_i, state) => {
      state.storage.sql.exec("CREATE TABLE counters (day TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (day, name))");
      state.storage.sql.exec("INSERT INTO counters VALUES ('2026-12-06', 'routed', 5), ('2026-12-04', 'accepted', 7)");
    });
    await s.add("2026-12-06", { routed: 1, delivered: 1 });
    expect(await s.read()).toEqual([
      { day: "2026-12-06", counters: { delivered: 1, routed: 6 } },
      { day: "2026-12-04", counters: { accepted: 7 } },
    ]);
  });
});

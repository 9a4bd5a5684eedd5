/**
 * Durable Object holding the counters of one scope (`source:<id>` or `destination:<id>`) per UTC day, in
 * SQLite. Isolates aggregate counts in memory and add them here at most about once a second (see telemetry.ts).
 */
import { DurableObject } from "cloudflare:workers";
import type { DayCounters } from "../usage/report.ts";

export class StatsObject extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS counters (day TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (day, name))",
    );
  }

  /** Adds counts for a day (YYYY-MM-DD). */
  add(day: string, counts: Record<string, number>): void {
    for (const [name, value] of Object.entries(counts)) {
      this.ctx.storage.sql.exec(
        "INSERT INTO counters (day, name, value) VALUES (?, ?, ?) ON CONFLICT (day, name) DO UPDATE SET value = value + excluded.value",
        day,
        name,
        value,
      );
    }
  }

  /** Counters per day, newest first; `since` is an inclusive YYYY-MM-DD. */
  read(since = "0000-00-00"): DayCounters[] {
    const rows = this.ctx.storage.sql
      .exec<{ day: string; name: string; value: number }>("SELECT day, name, value FROM counters WHERE day >= ? ORDER BY day DESC, name", since)
      .toArray();
    const days = new Map<string, Record<string, number>>();
    for (const r of rows) {
      let c = days.get(r.day);
      if (!c) days.set(r.day, (c = {}));
      c[r.name] = r.value;
    }
    return [...days].map(([day, counters]) => ({ day, counters }));
  }
}

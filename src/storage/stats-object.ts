/**
 * Durable Object holding the counters of one scope (`source:<id>` or `destination:<id>`) per UTC day, in
 * SQLite. Isolates aggregate counts in memory and add them here at most about once a second (see telemetry.ts).
 *
 * A day's counters are one row (a JSON object), so an `add` writes one row however many counters it carries (rows
 * written are billed; a delivery's counts name several counters). Rows of the earlier one-row-per-counter table
 * are read in place and summed in; nothing writes them any more.
 */
import { DurableObject } from "cloudflare:workers";
import type { DayCounters } from "../usage/report.ts";

type Counts = Record<string, number>;

export class StatsObject extends DurableObject {
  /** The most recent day's counters as stored, so an add reads nothing. */
  private latest: { day: string; counters: Counts } | undefined;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS days (day TEXT PRIMARY KEY, counters TEXT NOT NULL) WITHOUT ROWID");
  }

  private stored(day: string): Counts {
    if (this.latest?.day === day) return this.latest.counters;
    const row = this.ctx.storage.sql.exec<{ counters: string }>("SELECT counters FROM days WHERE day = ?", day).toArray()[0];
    return row ? (JSON.parse(row.counters) as Counts) : {};
  }

  /** Adds counts for a day (YYYY-MM-DD): one row written. */
  add(day: string, counts: Counts): void {
    const counters = { ...this.stored(day) };
    for (const [name, value] of Object.entries(counts)) counters[name] = (counters[name] ?? 0) + value;
    this.ctx.storage.sql.exec(
      "INSERT INTO days (day, counters) VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET counters = excluded.counters",
      day,
      JSON.stringify(counters),
    );
    // Only once written: a failed write leaves the cache as the table is.
    if (!this.latest || day >= this.latest.day) this.latest = { day, counters };
  }

  /** Counters per day, newest first, names sorted; `since` is an inclusive YYYY-MM-DD. */
  read(since = "0000-00-00"): DayCounters[] {
    const days = new Map<string, Counts>();
    for (const r of this.ctx.storage.sql.exec<{ day: string; counters: string }>("SELECT day, counters FROM days WHERE day >= ?", since)) {
      days.set(r.day, JSON.parse(r.counters) as Counts);
    }
    if (this.ctx.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'counters'").toArray().length > 0) {
      for (const r of this.ctx.storage.sql.exec<{ day: string; name: string; value: number }>("SELECT day, name, value FROM counters WHERE day >= ?", since)) {
        let c = days.get(r.day);
        if (!c) days.set(r.day, (c = {}));
        c[r.name] = (c[r.name] ?? 0) + r.value;
      }
    }
    return [...days]
      .sort(([a], [b]) => (a < b ? 1 : a > b ? -1 : 0))
      .map(([day, counters]) => ({ day, counters: Object.fromEntries(Object.entries(counters).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) }));
  }
}

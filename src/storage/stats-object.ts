/**
 * Durable Object holding the counters of one scope (`source:<id>`, `destination:<id>`, …) per UTC hour, in SQLite.
 * Isolates aggregate counts in memory and add them here at most about once a second (see telemetry.ts).
 *
 * An hour's counters are one row (a JSON object), so an `add` writes one row however many counters it carries (rows
 * written are billed; a delivery's counts name several counters). Days are the sum of their hours. Rows of the
 * earlier tables (one row per day; one row per counter) are read in place and summed in; nothing writes them any more.
 */
import { DurableObject } from "cloudflare:workers";
import type { DayCounters } from "../usage/report.ts";
import { capEventNames } from "../alerts/event-names.ts";

type Counts = Record<string, number>;

/** A scope's counters in one UTC hour (`YYYY-MM-DDTHH`). */
export interface HourCounters {
  hour: string;
  counters: Counts;
}

const sorted = (c: Counts): Counts => Object.fromEntries(Object.entries(c).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
const newestFirst = <T>(rows: Map<string, T>): [string, T][] => [...rows].sort(([a], [b]) => (a < b ? 1 : a > b ? -1 : 0));

function addInto(into: Counts, counts: Counts): void {
  for (const [name, value] of Object.entries(counts)) into[name] = (into[name] ?? 0) + value;
}

export class StatsObject extends DurableObject {
  /** The most recent hour's counters as stored, so an add reads nothing. */
  private latest: { hour: string; counters: Counts } | undefined;
  /** Which of the earlier tables (`days`, `counters`) this object holds; read on the first `read`. */
  private legacyTables: Set<string> | undefined;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS hours (hour TEXT PRIMARY KEY, counters TEXT NOT NULL) WITHOUT ROWID");
  }

  private stored(hour: string): Counts {
    if (this.latest?.hour === hour) return this.latest.counters;
    const row = this.ctx.storage.sql.exec<{ counters: string }>("SELECT counters FROM hours WHERE hour = ?", hour).toArray()[0];
    return row ? (JSON.parse(row.counters) as Counts) : {};
  }

  /**
   * Adds counts for an hour (`YYYY-MM-DDTHH`): one row written. A bare day (`YYYY-MM-DD`, from isolates of an
   * earlier release) counts in that day's first hour.
   */
  add(at: string, counts: Counts): void {
    const hour = at.length === 10 ? `${at}T00` : at.slice(0, 13);
    const stored = this.stored(hour);
    const counters = { ...stored };
    // Per-event-name counters (src/alerts/event-names.ts) are bounded per hour.
    addInto(counters, capEventNames(stored, counts));
    this.ctx.storage.sql.exec(
      "INSERT INTO hours (hour, counters) VALUES (?, ?) ON CONFLICT (hour) DO UPDATE SET counters = excluded.counters",
      hour,
      JSON.stringify(counters),
    );
    // Only once written: a failed write leaves the cache as the table is.
    if (!this.latest || hour >= this.latest.hour) this.latest = { hour, counters };
  }

  /** Counters per hour, newest first, names sorted; `since` is an inclusive `YYYY-MM-DDTHH`. */
  readHours(since = "0000-00-00T00"): HourCounters[] {
    const hours = new Map<string, Counts>();
    for (const r of this.ctx.storage.sql.exec<{ hour: string; counters: string }>("SELECT hour, counters FROM hours WHERE hour >= ?", since)) {
      hours.set(r.hour, JSON.parse(r.counters) as Counts);
    }
    return newestFirst(hours).map(([hour, counters]) => ({ hour, counters: sorted(counters) }));
  }

  /** Counters per day, newest first, names sorted; `since` is an inclusive YYYY-MM-DD. */
  read(since = "0000-00-00"): DayCounters[] {
    const days = new Map<string, Counts>();
    const into = (day: string, counts: Counts) => {
      let c = days.get(day);
      if (!c) days.set(day, (c = {}));
      addInto(c, counts);
    };
    for (const r of this.ctx.storage.sql.exec<{ hour: string; counters: string }>("SELECT hour, counters FROM hours WHERE hour >= ?", since)) {
      into(r.hour.slice(0, 10), JSON.parse(r.counters) as Counts);
    }
    // Nothing creates the earlier tables any more: which exist is looked up once per object.
    const legacy = (this.legacyTables ??= new Set(
      this.ctx.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('days', 'counters')").toArray().map((r) => r.name),
    ));
    if (legacy.has("days")) {
      for (const r of this.ctx.storage.sql.exec<{ day: string; counters: string }>("SELECT day, counters FROM days WHERE day >= ?", since)) {
        into(r.day, JSON.parse(r.counters) as Counts);
      }
    }
    if (legacy.has("counters")) {
      for (const r of this.ctx.storage.sql.exec<{ day: string; name: string; value: number }>("SELECT day, name, value FROM counters WHERE day >= ?", since)) {
        into(r.day, { [r.name]: r.value });
      }
    }
    return newestFirst(days).map(([day, counters]) => ({ day, counters: sorted(counters) }));
  }
}

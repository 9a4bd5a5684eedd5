/**
 * Durable Object (one, `idFromName("alerts")`) keeping the alerts' state in SQLite: each alert's state machine
 * (src/alerts/state.ts), the counters samples that cut windows finer than an hour, and the history of what was
 * sent (the last HISTORY_KEEP entries). The evaluation itself is src/alerts/evaluate.ts.
 */
import { DurableObject } from "cloudflare:workers";
import type { HistoryEntry, Sample } from "../alerts/evaluate.ts";
import type { AlertState } from "../alerts/state.ts";

const HISTORY_KEEP = 1000;

export class AlertObject extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS states (key TEXT PRIMARY KEY, state TEXT NOT NULL) WITHOUT ROWID");
    sql.exec("CREATE TABLE IF NOT EXISTS samples (scope TEXT NOT NULL, at INTEGER NOT NULL, sample TEXT NOT NULL, PRIMARY KEY (scope, at)) WITHOUT ROWID");
    sql.exec("CREATE TABLE IF NOT EXISTS history (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, entry TEXT NOT NULL)");
  }

  private states(): AlertState[] {
    return this.ctx.storage.sql.exec<{ state: string }>("SELECT state FROM states").toArray().map((r) => JSON.parse(r.state) as AlertState);
  }

  load(): { states: AlertState[]; samples: Sample[] } {
    const sql = this.ctx.storage.sql;
    return {
      states: this.states(),
      samples: sql.exec<{ sample: string }>("SELECT sample FROM samples ORDER BY at").toArray().map((r) => JSON.parse(r.sample) as Sample),
    };
  }

  save(update: { states: AlertState[]; samples: Sample[]; keepSamplesSince: number; history: HistoryEntry[] }): void {
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const s of update.states) sql.exec("INSERT OR REPLACE INTO states (key, state) VALUES (?, ?)", s.key, JSON.stringify(s));
      for (const s of update.samples) sql.exec("INSERT OR REPLACE INTO samples (scope, at, sample) VALUES (?, ?, ?)", s.scope, s.at, JSON.stringify(s));
      sql.exec("DELETE FROM samples WHERE at < ?", update.keepSamplesSince);
      for (const h of update.history) sql.exec("INSERT INTO history (at, entry) VALUES (?, ?)", h.at, JSON.stringify(h));
      if (update.history.length > 0) sql.exec("DELETE FROM history WHERE id <= (SELECT MAX(id) FROM history) - ?", HISTORY_KEEP);
    });
  }

  /** When these alerts fired, as the history keeps it (oldest first). */
  firedAt(keys: string[]): number[] {
    if (keys.length === 0) return [];
    return this.ctx.storage.sql
      .exec<{ at: number }>(`SELECT at FROM history WHERE json_extract(entry, '$.transition') = 'fired' AND json_extract(entry, '$.key') IN (${keys.map(() => "?").join(", ")}) ORDER BY id`, ...keys)
      .toArray()
      .map((r) => r.at);
  }

  /** States and the newest history entries first (GET /admin/alerts). */
  view(limit = 100): { states: AlertState[]; history: HistoryEntry[] } {
    const sql = this.ctx.storage.sql;
    return {
      states: this.states(),
      history: sql.exec<{ entry: string }>("SELECT entry FROM history ORDER BY id DESC LIMIT ?", limit).toArray().map((r) => JSON.parse(r.entry) as HistoryEntry),
    };
  }
}

/**
 * PostgreSQL warehouse: Segment's warehouse schema (tracks, one table per track event, identifies, users, pages,
 * screens, groups, aliases) in a schema per source, loaded through a Hyperdrive binding. Tables and columns
 * appear as events need them; values that do not fit a column go to `sluice_discards`, and the row still loads.
 * Receives events sent with `integrations.All: false` (only `integrations["<name>"]: false` keeps them out).
 * docs/warehouse.md says how it behaves.
 */
import { s } from "../../src/config/schema.ts";
import { defineDestination, eventResult, eventSources, type EventResult } from "../../src/delivery/destination.ts";
import { RetryableError, type DeliveryError } from "../../src/delivery/errors.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { connect } from "./driver.ts";
import { loadEvents, type LoadOptions } from "./loader.ts";
import { schemaName } from "./naming.ts";
import { planChanges, type KnownSchema } from "./plan.ts";
import { eventRows } from "./rows.ts";
import { changeSql } from "./sql.ts";

const settings = s.object({
  /** The Hyperdrive binding in wrangler.toml. */
  binding: s.withDefault(s.string({ pattern: /^[A-Za-z_][A-Za-z0-9_]*$/ }), "WAREHOUSE"),
  /** One schema for every source; by default each source loads into a schema named after its id. */
  schema: s.optional(s.string({ pattern: /^[a-z_][a-z0-9_]{0,62}$/ })),
  /** Columns per table at most (PostgreSQL allows 1,600); properties past it go to sluice_discards. */
  max_columns: s.withDefault(s.number({ integer: true, min: 20, max: 1600 }), 500),
  /** Events per load (per delivery call): one INSERT per table for them (cut at 65,535 parameters). */
  batch_rows: s.withDefault(s.number({ integer: true, min: 1, max: 10_000 }), 5000),
  /** Track events go only to their own table, not to `tracks` too. */
  skip_tracks_table: s.withDefault(s.boolean(), false),
});
export type PostgresSettings = NonNullable<ReturnType<typeof settings.check>>;

/** The schema each source's events load into. */
function targetSchema(settings: PostgresSettings, sourceId: string): string {
  return settings.schema ?? schemaName(sourceId);
}

/** Events grouped by the schema they load into, with their positions in `events`. */
function bySchema(events: readonly SluiceEvent[], sources: readonly string[], settings: PostgresSettings): Map<string, { events: SluiceEvent[]; index: number[] }> {
  const groups = new Map<string, { events: SluiceEvent[]; index: number[] }>();
  events.forEach((event, i) => {
    const schema = targetSchema(settings, sources[i]!);
    let group = groups.get(schema);
    if (!group) groups.set(schema, (group = { events: [], index: [] }));
    group.events.push(event);
    group.index.push(i);
  });
  return groups;
}

/** The DDL that loading `events` into an empty database would run, one statement after another. */
export function schemaSql(events: readonly SluiceEvent[], sources: readonly string[], settings: PostgresSettings): string {
  const out: string[] = [];
  for (const [schema, group] of bySchema(events, sources, settings)) {
    const { tables } = eventRows(group.events, group.index, { skipTracksTable: settings.skip_tracks_table });
    out.push(`-- schema ${schema}: ${tables.length} table(s) for ${group.events.length} event(s), max_columns ${settings.max_columns}`);
    for (const change of planChanges(new Map(), tables, settings.max_columns)) out.push(`${changeSql(schema, change)};`);
  }
  return `${out.join("\n\n")}\n`;
}

/** What this isolate knows of each (binding, schema): saves the information_schema read on most calls. */
const known = new Map<string, KnownSchema>();

export const postgresWarehouse = defineDestination({
  kind: "postgres",
  description: "Load Segment's warehouse schema (tracks, identifies, users, pages, … one table per event) into PostgreSQL through Hyperdrive",
  settings,
  hyperdrive: (settings) => [settings.binding],
  schemaSql,
  receivesAllEvents: true,
  maxEventsPerCall: (settings) => settings.batch_rows,
  async deliver(events, ctx): Promise<EventResult[]> {
    const pool = ctx.hyperdrive?.(ctx.settings.binding);
    if (!pool) throw new RetryableError(`the Hyperdrive binding ${ctx.settings.binding} is missing (wrangler.toml)`, undefined, undefined, "pg_binding");
    const groups = bySchema(events, eventSources(events, ctx), ctx.settings);
    const failures = new Map<number, DeliveryError>();
    const db = connect(pool.connectionString);
    try {
      for (const [schema, group] of groups) {
        const options: LoadOptions = { schema, maxColumns: ctx.settings.max_columns, skipTracksTable: ctx.settings.skip_tracks_table, now: ctx.now(), cache: known, cacheKey: `${ctx.settings.binding}/${schema}` };
        await loadEvents(db, group.events, group.index, options, failures);
      }
    } finally {
      await db.end().catch(() => undefined);
    }
    return events.map((_, i) => {
      const error = failures.get(i);
      return eventResult(error);
    });
  },
});

/**
 * Events → rows of Segment's warehouse tables: `tracks` and one table per track event, `identifies`, `users`
 * (one row per userId, latest traits win), `pages`, `screens`, `groups`, `aliases`. Context, properties and
 * traits are flattened into columns joined by `_`; arrays become JSON text. Pure.
 */
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { columnNameOfKey, eventTableName, safeIdentifier } from "./naming.ts";
import type { ColumnType } from "./types.ts";

export type TableShape = "track" | "event" | "identify" | "user" | "page" | "screen" | "group" | "alias";

const COMMON: [string, ColumnType][] = [
  ["id", "text"],
  ["received_at", "timestamptz"],
  ["sent_at", "timestamptz"],
  ["timestamp", "timestamptz"],
  ["original_timestamp", "timestamptz"],
  ["uuid_ts", "timestamptz"],
  ["user_id", "text"],
  ["anonymous_id", "text"],
];
const TRACK: [string, ColumnType][] = [...COMMON, ["event", "text"], ["event_text", "text"]];
const PAGE: [string, ColumnType][] = [...COMMON, ["name", "text"], ["category", "text"]];

/** The columns every table of a shape has from the start (`CREATE TABLE`), in order; `id` is the primary key. */
export const SYSTEM_COLUMNS: Record<TableShape, ReadonlyMap<string, ColumnType>> = {
  track: new Map(TRACK),
  event: new Map(TRACK),
  identify: new Map(COMMON),
  user: new Map<string, ColumnType>([
    ["id", "text"],
    ["received_at", "timestamptz"],
    ["uuid_ts", "timestamptz"],
  ]),
  page: new Map(PAGE),
  screen: new Map(PAGE),
  group: new Map<string, ColumnType>([...COMMON, ["group_id", "text"]]),
  alias: new Map<string, ColumnType>([...COMMON, ["previous_id", "text"]]),
};

/** One value of a row, with the property path it came from (segments joined by NUL; for name collisions). */
export interface Cell {
  value: unknown;
  path: string;
}

export interface Row {
  /** The primary key: the messageId (for `users`, the userId). */
  id: string;
  receivedAt: string;
  cells: Map<string, Cell>;
  /** Indexes of the events this row carries (several for a `users` row merged from identifies). */
  events: number[];
}

export interface TableRows {
  table: string;
  shape: TableShape;
  rows: Row[];
}

/** A value that is kept out of its column, with why; stored in `sluice_discards`. */
export interface Discard {
  table: string;
  rowId: string;
  column: string;
  value: unknown;
  receivedAt: string;
  reason: string;
  /** The events whose load depends on this record being stored. */
  events: number[];
}

export interface RowOptions {
  skipTracksTable: boolean;
}

const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : typeof v === "string" ? v : JSON.stringify(v));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Calls `emit` for each leaf of `value` (objects are walked, arrays and scalars are leaves; nulls are skipped). */
export function flatten(value: unknown, path: string[], emit: (path: string[], value: unknown) => void): void {
  walk(value, path.join("\0"), (key, leaf) => emit(key.split("\0"), leaf));
}

/** `flatten` with the path as one string, segments joined by NUL: no array per leaf on the hot path. */
function walk(value: unknown, key: string, emit: (key: string, value: unknown) => void): void {
  if (value === null || value === undefined) return;
  if (isObject(value)) {
    for (const name in value) {
      if (Object.prototype.hasOwnProperty.call(value, name)) walk(value[name], key === "" ? name : `${key}\0${name}`, emit);
    }
    return;
  }
  emit(key, value);
}

/** Accumulates one row's cells: system columns first, then flattened objects, never two values in one column. */
class RowBuilder {
  readonly cells = new Map<string, Cell>();
  constructor(
    readonly table: string,
    readonly shape: TableShape,
    readonly id: string,
    readonly receivedAt: string,
    readonly discards: Discard[],
    readonly event: number,
  ) {}
  system(column: string, value: unknown): this {
    if (value !== undefined && value !== null) this.cells.set(column, { value, path: column });
    return this;
  }
  /** Flattens `object` into columns; a leaf whose column is a system column gets `_` in front. */
  spread(object: unknown, prefix: string): this {
    const system = SYSTEM_COLUMNS[this.shape];
    walk(object, prefix, (key, value) => {
      let column = columnNameOfKey(key);
      if (system.has(column)) column = safeIdentifier(`_${column}`);
      const taken = this.cells.get(column);
      if (taken) {
        const dotted = (k: string) => k.replaceAll("\0", ".");
        this.discards.push({ table: this.table, rowId: this.id, column, value, receivedAt: this.receivedAt, reason: `column name collision: "${dotted(key)}" and "${dotted(taken.path)}" both map to ${column}`, events: [this.event] });
        return;
      }
      this.cells.set(column, { value, path: key });
    });
    return this;
  }
  row(): Row {
    return { id: this.id, receivedAt: this.receivedAt, cells: this.cells, events: [this.event] };
  }
}

/**
 * The rows a batch of events makes, per table, and the values discarded on the way (name collisions). The
 * events are of one schema; `index` maps each to its place in the delivery call.
 */
export function eventRows(events: readonly SluiceEvent[], index: readonly number[], options: RowOptions): { tables: TableRows[]; discards: Discard[] } {
  const tables = new Map<string, TableRows>();
  const discards: Discard[] = [];
  const users = new Map<string, Row[]>();
  const add = (table: string, shape: TableShape, row: Row) => {
    let t = tables.get(table);
    if (!t) tables.set(table, (t = { table, shape, rows: [] }));
    t.rows.push(row);
  };
  events.forEach((event, k) => {
    const i = index[k]!;
    const id = String(event.messageId);
    const receivedAt = event.receivedAt;
    const common = (table: string, shape: TableShape) =>
      new RowBuilder(table, shape, id, receivedAt, discards, i)
        .system("id", id)
        .system("received_at", receivedAt)
        .system("sent_at", event.sentAt)
        .system("timestamp", event.timestamp)
        .system("original_timestamp", event.originalTimestamp)
        .system("user_id", str(event.userId))
        .system("anonymous_id", str(event.anonymousId))
        .spread(event.context, "context");
    switch (event.type) {
      case "track": {
        const name = str(event.event) ?? "";
        const table = eventTableName(name);
        if (!options.skipTracksTable) add("tracks", "track", common("tracks", "track").system("event", table).system("event_text", name).row());
        add(table, "event", common(table, "event").system("event", table).system("event_text", name).spread(event.properties, "").row());
        break;
      }
      case "identify": {
        add("identifies", "identify", common("identifies", "identify").spread(event.traits, "").row());
        const userId = str(event.userId);
        if (userId !== undefined) {
          const row = new RowBuilder("users", "user", userId, receivedAt, discards, i).system("id", userId).system("received_at", receivedAt).spread(event.traits, "").row();
          users.set(userId, [...(users.get(userId) ?? []), row]);
        }
        break;
      }
      case "page":
      case "screen": {
        const table = event.type === "page" ? "pages" : "screens";
        add(table, event.type, common(table, event.type).system("name", str(event.name)).system("category", str(event.category)).spread(event.properties, "").row());
        break;
      }
      case "group":
        add("groups", "group", common("groups", "group").system("group_id", str(event.groupId)).spread(event.traits, "").row());
        break;
      case "alias":
        add("aliases", "alias", common("aliases", "alias").system("previous_id", str(event.previousId)).row());
        break;
    }
  });
  for (const rows of users.values()) add("users", "user", mergeUserRows(rows));
  return { tables: [...tables.values()], discards };
}

/** One user's identifies in a batch, oldest first by receivedAt: later traits win, column by column. */
function mergeUserRows(rows: Row[]): Row {
  const sorted = [...rows].sort((a, b) => (a.receivedAt < b.receivedAt ? -1 : a.receivedAt > b.receivedAt ? 1 : 0));
  const last = sorted[sorted.length - 1]!;
  const cells = new Map<string, Cell>();
  for (const row of sorted) for (const [column, cell] of row.cells) cells.set(column, cell);
  return { id: last.id, receivedAt: last.receivedAt, cells, events: rows.flatMap((r) => r.events) };
}

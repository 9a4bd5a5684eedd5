/**
 * The warehouse's pure parts: names, flattening, type inference, evolution planning and SQL text.
 * Loading into a real PostgreSQL: warehouse.pg.test.ts beside this file, and test/e2e/warehouse.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { columnName, eventTableName, MAX_IDENTIFIER, safeIdentifier, schemaName, snakeCase } from "./naming.ts";
import { fitRows, planChanges, type KnownSchema } from "./plan.ts";
import { eventRows, flatten, SYSTEM_COLUMNS, type Discard } from "./rows.ts";
import { changeSql, insertStatements, MAX_PARAMETERS } from "./sql.ts";
import { coerce, inferType, isIsoTimestamp, kindOf } from "./types.ts";
import { pgError } from "./errors.ts";

const LONG = "a very long property name that goes on and on well past what postgres allows in one identifier";

describe("names", () => {
  it.each([
    ["Order Completed", "order_completed"],
    ["orderCompleted", "order_completed"],
    ["OrderCompleted", "order_completed"],
    ["order-completed", "order_completed"],
    ["order.completed!", "order_completed"],
    ["  Order   Completed  ", "order_completed"],
    ["HTTPStatusCode", "http_status_code"],
    ["userID", "user_id"],
    ["version2Name", "version2_name"],
    ["utm_source", "utm_source"],
    ["__private", "private"],
    ["Größe", "gr_e"],
    ["3D Secure", "_3d_secure"],
    ["2fa", "_2fa"],
    ["select", "_select"],
    ["Order", "_order"],
    ["user", "_user"],
    ["from", "_from"],
    ["timestamp", "timestamp"],
    ["event", "event"],
    ["!!!", "_"],
    ["", "_"],
  ])("column %j → %j", (name, column) => {
    expect(columnName([name])).toBe(column);
  });

  it("joins nested paths with _ and snake_cases each part", () => {
    expect(columnName(["context", "userAgent"])).toBe("context_user_agent");
    expect(columnName(["context", "page", "URL"])).toBe("context_page_url");
    expect(columnName(["address", "2nd line"])).toBe("address_2nd_line");
  });

  it.each([
    ["Product Viewed", "product_viewed"],
    ["Tracks", "_tracks"],
    ["identifies", "_identifies"],
    ["Users", "_users"],
    ["Pages", "_pages"],
    ["screens", "_screens"],
    ["Groups", "_groups"],
    ["Aliases", "_aliases"],
    ["Sluice Discards", "_sluice_discards"],
    ["Tracks Exported", "tracks_exported"],
    ["Select", "_select"],
    ["404 Seen", "_404_seen"],
  ])("event table %j → %j", (event, table) => {
    expect(eventTableName(event)).toBe(table);
  });

  it("schemas are the source id made safe", () => {
    expect(schemaName("web")).toBe("web");
    expect(schemaName("ios-app")).toBe("ios_app");
    expect(schemaName("2024site")).toBe("_2024site");
  });

  it("cuts names at 63 characters, deterministically and without collisions", () => {
    const a = columnName([`${LONG} one`]);
    const b = columnName([`${LONG} two`]);
    expect(a.length).toBe(MAX_IDENTIFIER);
    expect(b.length).toBe(MAX_IDENTIFIER);
    expect(a).not.toBe(b);
    expect(a.slice(0, 54)).toBe(b.slice(0, 54));
    expect(columnName([`${LONG} one`])).toBe(a);
    expect(a).toMatch(/^a_very_long_property_name.*_[0-9a-f]{8}$/);
    expect(safeIdentifier("x".repeat(63))).toBe("x".repeat(63));
    expect(safeIdentifier("x".repeat(64))).toHaveLength(63);
  });
});

describe("flattening", () => {
  it("walks objects, keeps arrays and scalars as leaves, skips nulls", () => {
    const leaves: [string, unknown][] = [];
    flatten({ a: 1, b: { c: "x", d: { e: true } }, f: [1, { g: 2 }], h: null, i: {} }, [], (p, v) => leaves.push([p.join("."), v]));
    expect(leaves).toEqual([
      ["a", 1],
      ["b.c", "x"],
      ["b.d.e", true],
      ["f", [1, { g: 2 }]],
    ]);
  });
});

describe("types", () => {
  it.each([
    [42, "bigint"],
    [-7, "bigint"],
    [1.5, "double precision"],
    [2 ** 60, "double precision"],
    [true, "boolean"],
    ["2026-11-23T00:03:15.637Z", "timestamptz"],
    ["2026-11-23T00:03:15+01:00", "timestamptz"],
    ["2026-11-23 00:03Z", "timestamptz"],
    ["2026-11-23", "text"],
    ["2026-02-30T00:00:00Z", "text"],
    ["2026-11-23T24:00:00Z", "text"],
    ["2026-11-23T00:03:15", "text"],
    ["hello", "text"],
    [[1, 2], "text"],
    [null, undefined],
  ])("infers %j → %s", (value, type) => {
    expect(inferType(value)).toBe(type);
  });

  it("leap days are timestamps only in leap years", () => {
    expect(isIsoTimestamp("2028-02-29T12:00:00Z")).toBe(true);
    expect(isIsoTimestamp("2026-02-29T12:00:00Z")).toBe(false);
  });

  it("coerces an int into a float column and anything into text; refuses other mismatches", () => {
    expect(coerce(3, kindOf("double precision"), "double precision")).toEqual({ ok: true, value: 3 });
    expect(coerce(3, kindOf("bigint"), "bigint")).toEqual({ ok: true, value: "3" });
    expect(coerce(3.5, kindOf("text"), "text")).toEqual({ ok: true, value: "3.5" });
    expect(coerce(false, kindOf("text"), "text")).toEqual({ ok: true, value: "false" });
    expect(coerce([1, "a"], kindOf("character varying"), "character varying")).toEqual({ ok: true, value: '[1,"a"]' });
    expect(coerce({ a: 1 }, kindOf("jsonb"), "jsonb")).toEqual({ ok: true, value: { a: 1 } });
    expect(coerce(3.5, kindOf("bigint"), "bigint")).toEqual({ ok: false, reason: "type mismatch: column is bigint, value is double precision" });
    expect(coerce("3", kindOf("bigint"), "bigint")).toEqual({ ok: false, reason: "type mismatch: column is bigint, value is text" });
    expect(coerce("yes", kindOf("boolean"), "boolean")).toEqual({ ok: false, reason: "type mismatch: column is boolean, value is text" });
    expect(coerce("soon", kindOf("timestamp with time zone"), "timestamp with time zone").ok).toBe(false);
    expect(coerce(1, kindOf("timestamp with time zone"), "timestamp with time zone").ok).toBe(false);
  });
});

const base = { receivedAt: "2026-11-23T00:00:01.000Z", timestamp: "2026-11-23T00:00:00.000Z" };
const track = (id: string, event: string, properties: Record<string, unknown>, extra: Record<string, unknown> = {}): SluiceEvent =>
  ({ ...base, type: "track", messageId: id, event, userId: "u1", properties, context: { library: { name: "analytics.js" } }, ...extra }) as SluiceEvent;

describe("rows", () => {
  it("a track event makes a tracks row and a row in its own table, with context and properties flattened", () => {
    const { tables, discards } = eventRows([track("m1", "Order Completed", { orderId: "o1", total: 10, items: [{ sku: "a" }], shipping: { cost: 4.5 } })], [7], { skipTracksTable: false });
    expect(discards).toEqual([]);
    expect(tables.map((t) => t.table)).toEqual(["tracks", "order_completed"]);
    const own = tables[1]!.rows[0]!;
    expect(own.events).toEqual([7]);
    expect(Object.fromEntries([...own.cells].map(([c, cell]) => [c, cell.value]))).toEqual({
      id: "m1",
      received_at: base.receivedAt,
      timestamp: base.timestamp,
      user_id: "u1",
      context_library_name: "analytics.js",
      event: "order_completed",
      event_text: "Order Completed",
      order_id: "o1",
      total: 10,
      items: [{ sku: "a" }],
      shipping_cost: 4.5,
    });
    expect([...tables[0]!.rows[0]!.cells.keys()]).not.toContain("order_id");
  });

  it("skip_tracks_table leaves tracks out", () => {
    const { tables } = eventRows([track("m1", "Signed Up", {})], [0], { skipTracksTable: true });
    expect(tables.map((t) => t.table)).toEqual(["signed_up"]);
  });

  it("a property named like a system column gets _; two properties on one column keep the first and discard the second", () => {
    const { tables, discards } = eventRows([track("m1", "X", { id: "p1", userName: "a", user_name: "b" })], [0], { skipTracksTable: true });
    const cells = tables[0]!.rows[0]!.cells;
    expect(cells.get("id")!.value).toBe("m1");
    expect(cells.get("_id")!.value).toBe("p1");
    expect(cells.get("user_name")!.value).toBe("a");
    expect(discards).toEqual([{ table: "x", rowId: "m1", column: "user_name", value: "b", receivedAt: base.receivedAt, reason: 'column name collision: "user_name" and "userName" both map to user_name', events: [0] }]);
  });

  it("identifies make one users row per userId: later traits win, earlier ones are kept", () => {
    const identify = (id: string, at: string, traits: Record<string, unknown>) => ({ ...base, type: "identify", messageId: id, userId: "u1", receivedAt: at, traits }) as SluiceEvent;
    const { tables } = eventRows(
      [identify("m2", "2026-11-23T00:00:02.000Z", { plan: "pro" }), identify("m1", "2026-11-23T00:00:01.000Z", { plan: "free", email: "a@b.c" }), { ...base, type: "identify", messageId: "m3", anonymousId: "an", traits: { x: 1 } } as SluiceEvent],
      [0, 1, 2],
      { skipTracksTable: false },
    );
    expect(tables.find((t) => t.table === "identifies")!.rows).toHaveLength(3);
    const users = tables.find((t) => t.table === "users")!.rows;
    expect(users).toHaveLength(1);
    expect(users[0]!.id).toBe("u1");
    expect(users[0]!.events.sort()).toEqual([0, 1]);
    expect(users[0]!.cells.get("plan")!.value).toBe("pro");
    expect(users[0]!.cells.get("email")!.value).toBe("a@b.c");
    expect(users[0]!.receivedAt).toBe("2026-11-23T00:00:02.000Z");
  });

  it("pages, screens, groups and aliases get their own tables and columns", () => {
    const { tables } = eventRows(
      [
        { ...base, type: "page", messageId: "p", anonymousId: "a", name: "Home", properties: { path: "/" } },
        { ...base, type: "screen", messageId: "s", anonymousId: "a", name: "Cart" },
        { ...base, type: "group", messageId: "g", userId: "u", groupId: "acme", traits: { plan: "team" } },
        { ...base, type: "alias", messageId: "l", userId: "u", previousId: "a" },
      ] as SluiceEvent[],
      [0, 1, 2, 3],
      { skipTracksTable: false },
    );
    const cells = (table: string) => Object.fromEntries([...tables.find((t) => t.table === table)!.rows[0]!.cells].map(([c, cell]) => [c, cell.value]));
    expect(cells("pages")).toMatchObject({ name: "Home", path: "/" });
    expect(cells("screens")).toMatchObject({ name: "Cart" });
    expect(cells("groups")).toMatchObject({ group_id: "acme", plan: "team" });
    expect(cells("aliases")).toMatchObject({ previous_id: "a", user_id: "u" });
  });
});

describe("evolution", () => {
  const tableOf = (events: SluiceEvent[]) => eventRows(events, events.map((_, i) => i), { skipTracksTable: true }).tables;

  it("a new schema creates the schema, sluice_discards and each table with the types its values infer", () => {
    const changes = planChanges(new Map(), tableOf([track("m1", "Paid", { amount: 3, rate: 1.5, ok: true, at: "2026-01-01T00:00:00Z", note: "x" }), track("m2", "Paid", { amount: 4.25 })]), 500);
    expect(changes.map((c) => c.op)).toEqual(["create_schema", "create_table", "create_table"]);
    const paid = changes[2]!;
    expect(paid.op === "create_table" && Object.fromEntries(paid.columns)).toMatchObject({ id: "text", received_at: "timestamptz", event_text: "text", amount: "double precision", rate: "double precision", ok: "boolean", at: "timestamptz", note: "text", context_library_name: "text" });
    expect(changeSql("web", paid)).toMatch(/^CREATE TABLE IF NOT EXISTS "web"\."paid" \(\n  "id" text PRIMARY KEY,\n  "received_at" timestamptz,/);
  });

  it("an existing table gets only its missing columns, and never a new type for an existing one", () => {
    const known: KnownSchema = new Map([
      ["sluice_discards", new Map([["table_name", "text"]])],
      ["paid", new Map([...SYSTEM_COLUMNS.event, ["amount", "bigint"]])],
    ]);
    const changes = planChanges(known, tableOf([track("m1", "Paid", { amount: 2.5, coupon: "X" })]), 500);
    expect(changes).toEqual([{ op: "add_columns", table: "paid", columns: [["context_library_name", "text"], ["coupon", "text"]] }]);
    expect(changeSql("web", changes[0]!)).toBe('ALTER TABLE "web"."paid"\n  ADD COLUMN IF NOT EXISTS "context_library_name" text,\n  ADD COLUMN IF NOT EXISTS "coupon" text');
  });

  it("past max_columns, columns are not added and their values become discards; the row still loads", () => {
    const props = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`p${i}`, i]));
    const tables = tableOf([track("m1", "Wide", props)]);
    const changes = planChanges(new Map(), tables, 20);
    const wide = changes.find((c) => c.op === "create_table" && c.table === "wide")!;
    expect(wide.op === "create_table" && wide.columns).toHaveLength(20);
    const columns = new Map(wide.op === "create_table" ? wide.columns : []);
    const discards: Discard[] = [];
    const [row] = fitRows(columns, tables[0]!.rows, "wide", 20, discards);
    expect(row!.values.get("id")).toBe("m1");
    expect(row!.values.size + discards.length).toBe(tables[0]!.rows[0]!.cells.size);
    expect(discards.length).toBeGreaterThan(0);
    expect(discards.every((d) => d.reason === "no column: the table has max_columns (20) columns" && d.rowId === "m1")).toBe(true);
  });

  it("a value whose type changed is discarded with its reason, the rest of the row is kept", () => {
    const discards: Discard[] = [];
    const rows = tableOf([track("m9", "Paid", { amount: "lots", coupon: 5 })])[0]!.rows;
    const [row] = fitRows(new Map([["id", "text"], ["amount", "bigint"], ["coupon", "text"], ["context_library_name", "text"], ["received_at", "timestamptz"], ["timestamp", "timestamptz"], ["user_id", "text"], ["event", "text"], ["event_text", "text"]]), rows, "paid", 500, discards);
    expect(row!.values.get("coupon")).toBe("5");
    expect(row!.values.has("amount")).toBe(false);
    expect(discards).toEqual([{ table: "paid", rowId: "m9", column: "amount", value: "lots", receivedAt: base.receivedAt, reason: "type mismatch: column is bigint, value is text", events: [0] }]);
  });
});

describe("SQL", () => {
  it("inserts many rows per statement, parameterized, idempotent, under the parameter limit", () => {
    const rows = Array.from({ length: 3000 }, (_, i) => ({ values: new Map<string, unknown>(Array.from({ length: 49 }, (_, c) => [c === 0 ? "id" : `c${c}`, `${i}/${c}`])), events: [i] }));
    const statements = insertStatements("web", "t", rows, "2026-01-01T00:00:00.000Z");
    expect(statements.length).toBe(Math.ceil(3000 / Math.floor(MAX_PARAMETERS / 50)));
    for (const st of statements) {
      expect(st.params.length).toBeLessThanOrEqual(MAX_PARAMETERS);
      expect(st.text).toMatch(/^INSERT INTO "web"\."t" \("id", "c1", .*"uuid_ts"\) VALUES \(\$1, /);
      expect(st.text).toMatch(/ ON CONFLICT \("id"\) DO NOTHING$/);
    }
    expect(statements.flatMap((s) => s.events)).toEqual(rows.map((_, i) => i));
    expect(statements[0]!.params.slice(0, 2)).toEqual(["0/0", "0/1"]);
    expect(statements[0]!.params[49]).toBe("2026-01-01T00:00:00.000Z");
  });

  it("the users table keeps the newest values column by column", () => {
    const [st] = insertStatements("web", "users", [{ values: new Map([["id", "u1"], ["received_at", "2026-01-01T00:00:00Z"], ["plan", "pro"]]), events: [0] }], "2026-01-01T00:00:01Z", { upsert: true });
    expect(st!.text).toContain('ON CONFLICT ("id") DO UPDATE SET "received_at" = COALESCE(EXCLUDED."received_at", "web"."users"."received_at"), "plan" = COALESCE(EXCLUDED."plan", "web"."users"."plan")');
    expect(st!.text).toMatch(/WHERE "web"\."users"\."received_at" IS NULL OR EXCLUDED\."received_at" >= "web"\."users"\."received_at"$/);
  });
});

describe("errors", () => {
  const server = (code: string) => Object.assign(new Error("boom"), { code, severity: "ERROR" });
  it("connection failures and transient server states are retried; other server errors are permanent with the server's message", () => {
    expect(pgError(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }), "insert").retryable).toBe(true);
    expect(pgError(new Error("write CONNECTION_CLOSED"), "insert").retryable).toBe(true);
    for (const code of ["08006", "40P01", "53300", "57P01", "55P03", "42703"]) expect(pgError(server(code), "insert").retryable).toBe(true);
    for (const code of ["22P02", "42501", "54011", "23502"]) {
      const error = pgError(server(code), "insert into web");
      expect(error.retryable).toBe(false);
      expect(error.message).toBe(`postgres insert into web: boom (SQLSTATE ${code})`);
      expect(error.code).toBe(`pg_${code}`);
    }
  });
});

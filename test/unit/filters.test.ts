import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileFilters, FilterRuleError, type ActionSpec, type FilterOutcome, type FilterSpec } from "../../src/pipeline/filters/index.ts";

type Ev = Record<string, unknown>;

function track(event: string, properties: Ev = {}, extra: Ev = {}): Ev {
  return { type: "track", event, userId: "u1", properties, context: { ip: "1.2.3.4", traits: { email: "t@x.io" } }, ...extra };
}

function kept(outcome: FilterOutcome): Ev {
  if (!outcome.kept) throw new Error(`expected the event to be kept, got ${outcome.reason} by ${outcome.filter}`);
  return outcome.event;
}

function run(specs: FilterSpec[], event: Ev, options?: { random?: () => number }): FilterOutcome {
  return compileFilters(specs, options)(event);
}

function one(actions: ActionSpec[], cond: Partial<FilterSpec> = { if: "all" }): FilterSpec[] {
  return [{ title: "f", ...cond, actions }];
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

function compileError(specs: unknown): FilterRuleError {
  try {
    compileFilters(specs as FilterSpec[]);
  } catch (err) {
    expect(err).toBeInstanceOf(FilterRuleError);
    return err as FilterRuleError;
  }
  throw new Error("expected compileFilters to throw");
}

/** Reference implementation of the documented sampling rule. */
function sampledIn(value: unknown, percent: number): boolean {
  const digest = createHash("md5").update(value === undefined ? "null" : JSON.stringify(value)).digest();
  return Number(digest.readBigUInt64BE(0)) / 2 ** 64 < percent;
}

describe("conditions", () => {
  it("returns the same event object when no filter matches", () => {
    const event = track("Page Viewed");
    const outcome = run([{ title: "drop x", if: 'event = "X"', actions: [{ type: "DROP" }] }], event);
    expect(outcome).toEqual({ kept: true, event });
    expect(kept(outcome)).toBe(event);
  });

  it("keeps every event unchanged when there are no filters", () => {
    const event = track("A");
    expect(kept(run([], event))).toBe(event);
  });

  it("drops matching events and reports the filter title", () => {
    const outcome = run([{ title: "No pings", if: 'event = "Ping"', actions: [{ type: "DROP" }] }], track("Ping"));
    expect(outcome).toEqual({ kept: false, reason: "dropped", filter: "No pings" });
  });

  it('applies actions to every event when `if` is "all"', () => {
    expect(run(one([{ type: "DROP" }]), track("Anything")).kept).toBe(false);
  });

  it('implements "only send" as DROP with a negated condition', () => {
    const specs: FilterSpec[] = [{ title: "Only checkout", if: '!(event = "Order Completed")', actions: [{ type: "DROP" }] }];
    expect(run(specs, track("Order Completed")).kept).toBe(true);
    expect(run(specs, track("Page Viewed"))).toEqual({ kept: false, reason: "dropped", filter: "Only checkout" });
  });

  it('requires every "only send" filter to hold', () => {
    const specs: FilterSpec[] = [
      { title: "only track", if: '!(type = "track")', actions: [{ type: "DROP" }] },
      { title: "only orders", if: '!(event in ["Order Completed", "Order Refunded"])', actions: [{ type: "DROP" }] },
    ];
    expect(run(specs, track("Order Refunded")).kept).toBe(true);
    expect(run(specs, track("Signed Up"))).toMatchObject({ kept: false, filter: "only orders" });
    expect(run(specs, { type: "identify", userId: "u" })).toMatchObject({ kept: false, filter: "only track" });
  });

  it("skips disabled filters entirely", () => {
    const specs: FilterSpec[] = [
      { title: "off", enabled: false, if: "all", actions: [{ type: "DROP" }] },
      { title: "on", enabled: true, if: "all", actions: [{ type: "SET", path: "properties.seen", value: true }] },
    ];
    expect(kept(run(specs, track("A"))).properties).toEqual({ seen: true });
  });

  it("still validates disabled filters", () => {
    const err = compileError([{ title: "off", enabled: false, if: "event = ", actions: [{ type: "DROP" }] }]);
    expect(err.filterIndex).toBe(0);
    expect(err.field).toBe("if");
  });

  it("matches `where` when the JSONPath selects anything", () => {
    const specs = one([{ type: "DROP" }], { where: "$.properties.products[?(@.price > 100)]" });
    expect(run(specs, track("Order", { products: [{ price: 50 }, { price: 150 }] })).kept).toBe(false);
    expect(run(specs, track("Order", { products: [{ price: 50 }, { price: 100 }] })).kept).toBe(true);
    expect(run(specs, track("Order", {})).kept).toBe(true);
  });

  it("supports &&, ||, comparisons and string methods inside `where` filters", () => {
    const specs = one([{ type: "DROP" }], {
      where: "$.properties.products[?(@.price >= 10 && (@.sku.startsWith('X-') || @.tags.includes('promo')))]",
    });
    expect(run(specs, track("O", { products: [{ price: 12, sku: "X-1" }] })).kept).toBe(false);
    expect(run(specs, track("O", { products: [{ price: 12, sku: "Y-1", tags: ["promo"] }] })).kept).toBe(false);
    expect(run(specs, track("O", { products: [{ price: 5, sku: "X-1" }] })).kept).toBe(true);
  });

  it("treats a `where` path that exists as a match, even with a null value", () => {
    const specs = one([{ type: "DROP" }], { where: "$.properties.coupon" });
    expect(run(specs, track("A", { coupon: null })).kept).toBe(false);
    expect(run(specs, track("A", {})).kept).toBe(true);
  });

  it("counts errors inside a `where` filter expression as no match", () => {
    const specs = one([{ type: "DROP" }], { where: "$.properties.items[?(@.a.b > 1)]" });
    expect(run(specs, track("A", { items: [{}, null, 3] })).kept).toBe(true);
    expect(run(specs, track("A", { items: [{}, { a: { b: 2 } }] })).kept).toBe(false);
  });

  it("requires both `if` and `where` to hold when both are given", () => {
    const specs = one([{ type: "DROP" }], { if: 'event = "Order"', where: "$..[?(@.price > 100)]" });
    expect(run(specs, track("Order", { products: [{ price: 200 }] })).kept).toBe(false);
    expect(run(specs, track("Other", { products: [{ price: 200 }] })).kept).toBe(true);
    expect(run(specs, track("Order", { products: [{ price: 20 }] })).kept).toBe(true);
  });

  it("evaluates every condition against the incoming event, not the transformed one", () => {
    const specs: FilterSpec[] = [
      { title: "rename", if: 'event = "Old"', actions: [{ type: "RENAME_EVENT", to: "New" }] },
      { title: "tag new", if: 'event = "New"', actions: [{ type: "SET", path: "properties.tagged", value: true }] },
    ];
    expect(kept(run(specs, track("Old")))).toMatchObject({ event: "New", properties: {} });
  });
});

describe("action order", () => {
  it("samples before dropping, whatever the filter order", () => {
    const specs: FilterSpec[] = [
      { title: "drop all", if: "all", actions: [{ type: "DROP" }] },
      { title: "sample none", if: "all", actions: [{ type: "SAMPLE", percent: 0 }] },
    ];
    expect(run(specs, track("A"))).toEqual({ kept: false, reason: "sampled_out", filter: "sample none" });
  });

  it("drops before any property action runs", () => {
    const specs: FilterSpec[] = [
      { title: "strip", if: "all", actions: [{ type: "DROP_PROPERTIES", fields: { properties: ["a"] } }] },
      { title: "drop B", if: 'event = "B"', actions: [{ type: "DROP" }] },
    ];
    expect(run(specs, track("B", { a: 1 }))).toEqual({ kept: false, reason: "dropped", filter: "drop B" });
    expect(kept(run(specs, track("A", { a: 1, b: 2 }))).properties).toEqual({ b: 2 });
  });

  it("runs DROP_PROPERTIES, then ALLOW_PROPERTIES, then transformations, regardless of filter order", () => {
    const specs: FilterSpec[] = [
      { title: "rename x", if: "all", actions: [{ type: "RENAME_PROPERTIES", fields: { "properties.x": "properties.a" } }] },
      { title: "allow", if: "all", actions: [{ type: "ALLOW_PROPERTIES", fields: { properties: ["a", "b", "c"] } }] },
      { title: "drop b", if: "all", actions: [{ type: "DROP_PROPERTIES", fields: { properties: ["b"] } }] },
      { title: "set c", if: "all", actions: [{ type: "SET", path: "properties.secret", value: 1 }] },
    ];
    // ALLOW runs before RENAME, so x is gone before it could be renamed; SET runs after ALLOW, so `secret` survives.
    expect(kept(run(specs, track("A", { x: 1, b: 2, c: 3, d: 4 }))).properties).toEqual({ c: 3, secret: 1 });
  });

  it("runs transformations in filter order, then action order", () => {
    const specs: FilterSpec[] = [
      {
        title: "first",
        if: "all",
        actions: [
          { type: "COPY", from: "properties.a", to: "properties.b" },
          { type: "SET", path: "properties.a", value: "changed" },
        ],
      },
      { title: "second", if: "all", actions: [{ type: "MOVE", from: "properties.b", to: "properties.c" }] },
    ];
    expect(kept(run(specs, track("A", { a: "orig" }))).properties).toEqual({ a: "changed", c: "orig" });
  });

  it("only applies the actions of filters whose condition matched", () => {
    const specs: FilterSpec[] = [
      { title: "strip on A", if: 'event = "A"', actions: [{ type: "DROP_PROPERTIES", fields: { properties: ["p"] } }] },
      { title: "tag on B", if: 'event = "B"', actions: [{ type: "SET", path: "properties.b", value: 1 }] },
    ];
    expect(kept(run(specs, track("A", { p: 1 }))).properties).toEqual({});
    expect(kept(run(specs, track("B", { p: 1 }))).properties).toEqual({ p: 1, b: 1 });
  });
});

describe("DROP_PROPERTIES and ALLOW_PROPERTIES", () => {
  it("drops listed keys from the named object and from the top level", () => {
    const out = kept(run(one([{ type: "DROP_PROPERTIES", fields: { properties: ["email", "phone"], "": ["context"] } }]), track("A", { email: "e", phone: "p", plan: "pro" })));
    expect(out.properties).toEqual({ plan: "pro" });
    expect(out).not.toHaveProperty("context");
  });

  it("applies to every object of an array at the path", () => {
    const event = track("Order", { products: [{ sku: "a", cost: 1 }, { sku: "b", cost: 2 }, "not an object"] });
    const dropped = kept(run(one([{ type: "DROP_PROPERTIES", fields: { "properties.products": ["cost"] } }]), event));
    expect(dropped.properties).toEqual({ products: [{ sku: "a" }, { sku: "b" }, "not an object"] });
    const allowed = kept(run(one([{ type: "ALLOW_PROPERTIES", fields: { "properties.products": ["cost"] } }]), event));
    expect(allowed.properties).toEqual({ products: [{ cost: 1 }, { cost: 2 }, "not an object"] });
  });

  it("fans out through arrays in the middle of the path", () => {
    const event = track("Order", { orders: [{ items: [{ id: 1, secret: "s" }] }, { items: { id: 2, secret: "t" } }] });
    const out = kept(run(one([{ type: "DROP_PROPERTIES", fields: { "properties.orders.items": ["secret"] } }]), event));
    expect(out.properties).toEqual({ orders: [{ items: [{ id: 1 }] }, { items: { id: 2 } }] });
  });

  it("keeps only the listed keys with ALLOW_PROPERTIES", () => {
    const out = kept(run(one([{ type: "ALLOW_PROPERTIES", fields: { properties: ["order_id", "revenue"] } }]), track("A", { order_id: 1, revenue: 2, email: "e" })));
    expect(out.properties).toEqual({ order_id: 1, revenue: 2 });
    expect(out.context).toBeDefined();
  });

  it("leaves missing or non-object targets alone", () => {
    const event = track("A", { traits: "string" });
    const specs = one([
      { type: "DROP_PROPERTIES", fields: { "properties.traits": ["x"], "properties.nope": ["x"] } },
      { type: "ALLOW_PROPERTIES", fields: { "properties.nope": ["x"] } },
    ]);
    expect(kept(run(specs, event))).toBe(event);
  });

  it("drops a key at any depth with the JSONPath $..email, including inside arrays", () => {
    const event = track("A", { email: "a", list: [{ email: "b", keep: 1 }], deep: { x: { email: "c" } } }, { traits: { email: "d" } });
    const out = kept(run(one([{ type: "DROP_PROPERTIES", fields: { "": ["$..email"] } }]), event));
    expect(JSON.stringify(out)).not.toContain("email");
    expect(out.properties).toEqual({ list: [{ keep: 1 }], deep: { x: {} } });
  });

  it("scopes a JSONPath to the object named by its key", () => {
    const out = kept(run(one([{ type: "DROP_PROPERTIES", fields: { properties: ["$..email"] } }]), track("A", { email: "a", nested: { email: "b" } })));
    expect(out.properties).toEqual({ nested: {} });
    expect(out.context).toEqual({ ip: "1.2.3.4", traits: { email: "t@x.io" } });
  });

  it("removes array elements selected by a JSONPath filter", () => {
    const event = track("Order", { products: [{ sku: "a", price: 50 }, { sku: "b", price: 150 }, { sku: "c", price: 10 }] });
    const out = kept(run(one([{ type: "DROP_PROPERTIES", fields: { properties: ["$.products[?(@.price > 100)]"] } }]), event));
    expect(out.properties).toEqual({ products: [{ sku: "a", price: 50 }, { sku: "c", price: 10 }] });
  });

  it("treats $-prefixed names that are not JSONPaths (Mixpanel's $email) as plain keys", () => {
    const out = kept(run(one([{ type: "DROP_PROPERTIES", fields: { traits: ["$email"] } }]), { type: "identify", traits: { $email: "e", name: "n" } }));
    expect(out.traits).toEqual({ name: "n" });
  });

  it("never leaves a dropped key in that object, even inside arrays (property)", () => {
    const compiled = compileFilters(one([{ type: "DROP_PROPERTIES", fields: { properties: ["email"], "properties.items": ["email"] } }]));
    fc.assert(
      fc.property(eventArb, (event) => {
        const before = structuredClone(event);
        const out = kept(compiled(event));
        expect(event).toEqual(before);
        const props = out.properties;
        if (isObject(props)) expect(Object.hasOwn(props, "email")).toBe(false);
        for (const object of objectsAt(props, "")) expect(Object.hasOwn(object, "email")).toBe(false);
        for (const item of objectsAt(props, "items")) expect(Object.hasOwn(item, "email")).toBe(false);
      }),
    );
  });

  it("never leaves a key matched by $..email anywhere (property)", () => {
    const compiled = compileFilters(one([{ type: "DROP_PROPERTIES", fields: { "": ["$..email"] } }]));
    fc.assert(
      fc.property(eventArb, (event) => {
        const before = structuredClone(event);
        const out = kept(compiled(event));
        expect(event).toEqual(before);
        expect(allKeys(out)).not.toContain("email");
      }),
    );
  });

  it("leaves only the listed keys after ALLOW_PROPERTIES (property)", () => {
    const allow = ["a", "price", "items"];
    const compiled = compileFilters(one([{ type: "ALLOW_PROPERTIES", fields: { properties: allow, "properties.items": allow } }]));
    fc.assert(
      fc.property(eventArb, (event) => {
        const before = structuredClone(event);
        const out = kept(compiled(event));
        expect(event).toEqual(before);
        const props = out.properties;
        if (isObject(props)) for (const key of Object.keys(props)) expect(allow).toContain(key);
        for (const object of objectsAt(props, "")) for (const key of Object.keys(object)) expect(allow).toContain(key);
        for (const item of objectsAt(props, "items")) for (const key of Object.keys(item)) expect(allow).toContain(key);
        // keys that were allowed keep their values
        if (isObject(props) && isObject(before.properties)) {
          for (const key of allow) if (Object.hasOwn(before.properties, key) && key !== "items") expect(props[key]).toEqual(before.properties[key]);
        }
      }),
    );
  });
});

describe("sampling", () => {
  it("keeps or drops the same user every time with a path", () => {
    const compiled = compileFilters(one([{ type: "SAMPLE", percent: 0.5, path: "userId" }], { title: "half", if: "all" }));
    for (let i = 0; i < 200; i++) {
      const userId = `user-${i}`;
      const first = compiled(track("A", {}, { userId })).kept;
      for (let k = 0; k < 3; k++) expect(compiled(track(`B${k}`, { k }, { userId })).kept).toBe(first);
      expect(first).toBe(sampledIn(userId, 0.5));
    }
  });

  it.each([0.1, 0.5])("keeps a fraction within ±1 point of percent=%s over 100k ids", (percent) => {
    const compiled = compileFilters(one([{ type: "SAMPLE", percent, path: "userId" }]));
    const n = 100_000;
    let keptCount = 0;
    const event: Ev = { type: "track", event: "A" };
    for (let i = 0; i < n; i++) {
      event.userId = `id-${i}`;
      if (compiled(event).kept) keptCount++;
    }
    expect(Math.abs(keptCount / n - percent)).toBeLessThanOrEqual(0.01);
  });

  it("hashes the JSON of non-string values and a missing value as null", () => {
    const compiled = compileFilters(one([{ type: "SAMPLE", percent: 0.5, path: "properties.account" }]));
    for (const account of [1, 42, { id: 7 }, [1, 2], true]) {
      expect(compiled(track("A", { account })).kept).toBe(sampledIn(account, 0.5));
    }
    expect(compiled(track("A", {})).kept).toBe(sampledIn(null, 0.5));
    expect(compiled(track("A", { account: null })).kept).toBe(compiled(track("A", {})).kept);
  });

  it("keeps everything at percent 1 and nothing at percent 0", () => {
    const all = compileFilters(one([{ type: "SAMPLE", percent: 1, path: "userId" }]));
    const none = compileFilters([{ title: "zero", if: "all", actions: [{ type: "SAMPLE", percent: 0, path: "userId" }] }]);
    for (let i = 0; i < 100; i++) {
      expect(all(track("A", {}, { userId: `u${i}` })).kept).toBe(true);
      expect(none(track("A", {}, { userId: `u${i}` }))).toEqual({ kept: false, reason: "sampled_out", filter: "zero" });
    }
  });

  it("samples randomly with the injected random source when there is no path", () => {
    const values = [0.05, 0.5, 0.0999, 0.1];
    let i = 0;
    const compiled = compileFilters([{ title: "10%", if: "all", actions: [{ type: "SAMPLE", percent: 0.1 }] }], { random: () => values[i++]! });
    expect(values.map(() => compiled(track("A")).kept)).toEqual([true, false, true, false]);
    expect(i).toBe(4);
  });

  it("does not consume randomness for events the filter does not match", () => {
    let calls = 0;
    const compiled = compileFilters([{ title: "s", if: 'event = "A"', actions: [{ type: "SAMPLE", percent: 0.5 }] }], {
      random: () => (calls++, 0),
    });
    compiled(track("B"));
    expect(calls).toBe(0);
    compiled(track("A"));
    expect(calls).toBe(1);
  });
});

describe("transformations", () => {
  it("renames track events and leaves events without a name alone", () => {
    const specs = one([{ type: "RENAME_EVENT", to: "Order Completed" }]);
    expect(kept(run(specs, track("order_done"))).event).toBe("Order Completed");
    const identify = { type: "identify", userId: "u", traits: {} };
    expect(kept(run(specs, identify))).toBe(identify);
  });

  it("renames properties between dotted paths and skips missing sources", () => {
    const specs = one([{ type: "RENAME_PROPERTIES", fields: { "properties.amt": "properties.revenue", "properties.missing": "properties.x", "properties.cur": "context.currency" } }]);
    const out = kept(run(specs, track("A", { amt: 10, cur: "EUR", other: 1 })));
    expect(out.properties).toEqual({ revenue: 10, other: 1 });
    expect(out.context).toMatchObject({ currency: "EUR", ip: "1.2.3.4" });
  });

  it("supports FQL path escapes in dotted paths", () => {
    const out = kept(run(one([{ type: "RENAME_PROPERTIES", fields: { "properties.product\\ 1": "properties.product_1" } }]), track("A", { "product 1": "x" })));
    expect(out.properties).toEqual({ product_1: "x" });
  });

  it("copies a deep clone so the copies never alias", () => {
    const event = track("A", { address: { city: "Paris" } });
    const out = kept(run(one([{ type: "COPY", from: "properties.address", to: "context.shipping" }]), event));
    expect((out.context as Ev).shipping).toEqual({ city: "Paris" });
    expect((out.context as Ev).shipping).not.toBe((out.properties as Ev).address);
    expect((out.properties as Ev).address).toBe((event.properties as Ev).address);
  });

  it("moves a value, including unwrapping it into its parent", () => {
    const moved = kept(run(one([{ type: "MOVE", from: "properties.a", to: "properties.b.c" }]), track("A", { a: 1 })));
    expect(moved.properties).toEqual({ b: { c: 1 } });
    const unwrapped = kept(run(one([{ type: "MOVE", from: "properties.payload", to: "properties" }]), track("A", { payload: { x: 1 } })));
    expect(unwrapped.properties).toEqual({ x: 1 });
  });

  it("does not move a value when the target cannot be written", () => {
    const event = track("A", { a: 1, b: "string" });
    expect(kept(run(one([{ type: "MOVE", from: "properties.a", to: "properties.b.c" }]), event))).toBe(event);
  });

  it("sets a value, creating intermediate objects, without clobbering non-objects", () => {
    const specs = one([
      { type: "SET", path: "context.library.name", value: "sluice" },
      { type: "SET", path: "properties.tags.first", value: 1 },
    ]);
    const out = kept(run(specs, track("A", { tags: ["x"] })));
    expect((out.context as Ev).library).toEqual({ name: "sluice" });
    expect(out.properties).toEqual({ tags: ["x"] });
  });

  it("gives every event its own copy of a SET object value", () => {
    const compiled = compileFilters(one([{ type: "SET", path: "properties.meta", value: { source: "sluice", tags: ["a"] } }]));
    const a = kept(compiled(track("A")));
    ((a.properties as Ev).meta as { tags: string[] }).tags.push("mutated");
    const b = kept(compiled(track("B")));
    expect((b.properties as Ev).meta).toEqual({ source: "sluice", tags: ["a"] });
  });

  it("hashes present non-null values with SHA-256 of salt + value", () => {
    const sha = (s: string) => createHash("sha256").update(s).digest("hex");
    const specs = one([{ type: "HASH_PROPERTIES", fields: ["context.traits.email", "properties.id", "properties.none", "properties.missing", "properties.items.email"], salt: "pepper" }]);
    const out = kept(run(specs, track("A", { id: 42, none: null, items: [{ email: "i@x" }, { other: 1 }] })));
    expect((out.context as { traits: Ev }).traits.email).toBe(sha("peppert@x.io"));
    expect(out.properties).toEqual({ id: sha("pepper42"), none: null, items: [{ email: sha("pepperi@x") }, { other: 1 }] });
  });

  it("hashes without a salt when none is given, and JSON-encodes objects", () => {
    const sha = (s: string) => createHash("sha256").update(s).digest("hex");
    const out = kept(run(one([{ type: "HASH_PROPERTIES", fields: ["properties.obj"] }]), track("A", { obj: { a: 1 } })));
    expect((out.properties as Ev).obj).toBe(sha('{"a":1}'));
  });

  it("casts to number, string and boolean; unconvertible values become null", () => {
    const specs = one([
      {
        type: "CAST",
        fields: {
          "properties.n1": "number", "properties.n2": "number", "properties.n3": "number", "properties.n4": "number",
          "properties.s1": "string", "properties.s2": "string", "properties.s3": "string",
          "properties.b1": "boolean", "properties.b2": "boolean", "properties.b3": "boolean", "properties.b4": "boolean",
          "properties.nul": "number", "properties.missing": "string",
        },
      },
    ]);
    const out = kept(run(specs, track("A", {
      n1: "12.5", n2: true, n3: "abc", n4: "",
      s1: 3, s2: false, s3: { a: [1] },
      b1: "TRUE", b2: 0, b3: "0", b4: "maybe",
      nul: null,
    })));
    expect(out.properties).toEqual({
      n1: 12.5, n2: 1, n3: null, n4: null,
      s1: "3", s2: "false", s3: '{"a":[1]}',
      b1: true, b2: false, b3: false, b4: null,
      nul: null,
    });
  });

  it("returns the same event object when a transformation changes nothing", () => {
    const event = track("A", { n: 1 });
    const specs = one([
      { type: "CAST", fields: { "properties.n": "number" } },
      { type: "RENAME_EVENT", to: "A" },
      { type: "SET", path: "properties.n", value: 1 },
    ]);
    expect(kept(run(specs, event))).toBe(event);
  });
});

describe("immutability", () => {
  it("never mutates the input event and shares untouched subtrees", () => {
    const event = deepFreeze(track("A", { email: "e", products: [{ sku: "a", email: "x" }], amt: "10" }, { traits: { email: "t" } }));
    const snapshot = structuredClone(event);
    const specs: FilterSpec[] = [
      {
        title: "everything",
        if: "all",
        actions: [
          { type: "DROP_PROPERTIES", fields: { properties: ["email"], "properties.products": ["email", "$..email"] } },
          { type: "ALLOW_PROPERTIES", fields: { properties: ["products", "amt", "address"] } },
          { type: "RENAME_EVENT", to: "B" },
          { type: "RENAME_PROPERTIES", fields: { "properties.amt": "properties.amount" } },
          { type: "COPY", from: "properties.products", to: "properties.copy" },
          { type: "MOVE", from: "properties.copy", to: "properties.moved" },
          { type: "SET", path: "properties.address.city", value: "X" },
          { type: "HASH_PROPERTIES", fields: ["userId"] },
          { type: "CAST", fields: { "properties.amount": "number" } },
        ],
      },
    ];
    const out = kept(run(specs, event));
    expect(event).toEqual(snapshot);
    expect(out).toMatchObject({ event: "B", properties: { amount: 10, address: { city: "X" }, moved: [{ sku: "a" }] } });
    expect(out.context).toBe(event.context);
  });

  it("edits an object it already copied for this event in place, and never one of another event or the input", () => {
    const compiled = compileFilters([
      { title: "no ip", if: "all", actions: [{ type: "DROP_PROPERTIES", fields: { context: ["ip"] } }] },
      {
        title: "tag",
        if: "all",
        actions: [
          { type: "SET", path: "context.sluice.load", value: "w" },
          { type: "COPY", from: "context.sluice", to: "properties.tag" },
          { type: "SET", path: "properties.tag.copy", value: true },
          { type: "CAST", fields: { "properties.n": "number" } },
        ],
      },
    ]);
    const first = deepFreeze(track("A", { n: "1" }, { context: { ip: "1.2.3.4", locale: "en" } }));
    const second = deepFreeze(track("B", { n: "2" }, { context: { ip: "5.6.7.8", locale: "fr" } }));
    const a = kept(compiled(first));
    const b = kept(compiled(second));
    expect(a).toMatchObject({ context: { locale: "en", sluice: { load: "w" } }, properties: { n: 1, tag: { load: "w", copy: true } } });
    expect(b).toMatchObject({ context: { locale: "fr", sluice: { load: "w" } }, properties: { n: 2, tag: { load: "w", copy: true } } });
    // The copy is its own object: the later SET into it left context.sluice alone.
    expect((a.context as Ev).sluice).toEqual({ load: "w" });
    expect((a.context as Ev).ip).toBeUndefined();
    // The second event's edits made new objects: nothing of the first one's result changed or is shared.
    expect(a.context).not.toBe(b.context);
    expect((a.properties as Ev).tag).not.toBe((b.properties as Ev).tag);
    expect(a).toMatchObject({ event: "A", properties: { n: 1 } });
  });
});

describe("validation", () => {
  it("rejects an unknown action type with filter and action indexes", () => {
    const err = compileError([
      { title: "ok", if: "all", actions: [{ type: "DROP" }] },
      { title: "bad", if: "all", actions: [{ type: "DROP" }, { type: "EXPLODE" }] },
    ]);
    expect(err).toMatchObject({ filterIndex: 1, actionIndex: 1, field: "type" });
    expect(err.message).toContain('filters[1] ("bad") actions[1]');
  });

  it.each([-0.1, 1.5, Number.NaN, "0.5"])("rejects SAMPLE percent %s", (percent) => {
    expect(compileError(one([{ type: "SAMPLE", percent } as unknown as ActionSpec]))).toMatchObject({ filterIndex: 0, actionIndex: 0, field: "percent" });
  });

  it("wraps FQL syntax errors, keeping the column", () => {
    const err = compileError([{ title: "t", if: 'event = "a" and', actions: [{ type: "DROP" }] }]);
    expect(err).toMatchObject({ filterIndex: 0, field: "if" });
    expect(err.column).toBeTypeOf("number");
    expect(err.message).toMatch(/column \d+/);
    expect(err.cause).toBeDefined();
  });

  it("rejects empty `fields` and empty key lists", () => {
    expect(compileError(one([{ type: "DROP_PROPERTIES", fields: {} }]))).toMatchObject({ actionIndex: 0, field: "fields" });
    expect(compileError(one([{ type: "DROP_PROPERTIES", fields: { properties: [] } }]))).toMatchObject({ field: "fields.properties" });
    expect(compileError(one([{ type: "HASH_PROPERTIES", fields: [] }]))).toMatchObject({ field: "fields" });
    expect(compileError(one([{ type: "CAST", fields: {} }]))).toMatchObject({ field: "fields" });
  });

  it("rejects titles over 64 characters and missing titles", () => {
    expect(compileError([{ title: "x".repeat(65), if: "all", actions: [{ type: "DROP" }] }])).toMatchObject({ field: "title" });
    expect(compileError([{ if: "all", actions: [{ type: "DROP" }] }])).toMatchObject({ field: "title" });
    expect(() => compileFilters([{ title: "x".repeat(64), if: "all", actions: [{ type: "DROP" }] }])).not.toThrow();
  });

  it("rejects a filter without a condition or without actions", () => {
    expect(compileError([{ title: "t", actions: [{ type: "DROP" }] }])).toMatchObject({ field: "if" });
    expect(compileError([{ title: "t", if: "all", actions: [] }])).toMatchObject({ field: "actions" });
  });

  it.each([
    ["properties.__proto__", "RENAME"],
    ["constructor", "SET"],
    ["properties.prototype.x", "HASH"],
  ])("refuses the forbidden key in %s (%s)", (path, kind) => {
    const action: ActionSpec =
      kind === "RENAME" ? { type: "RENAME_PROPERTIES", fields: { "properties.a": path } }
      : kind === "SET" ? { type: "SET", path, value: 1 }
      : { type: "HASH_PROPERTIES", fields: [path] };
    expect(compileError(one([action])).message).toMatch(/forbidden key/);
  });

  it("refuses forbidden keys in property lists and JSONPaths", () => {
    expect(compileError(one([{ type: "DROP_PROPERTIES", fields: { properties: ["__proto__"] } }])).message).toMatch(/forbidden/);
    expect(compileError(one([{ type: "DROP_PROPERTIES", fields: { "": ["$..constructor"] } }])).message).toMatch(/forbidden/);
    expect(compileError(one([{ type: "DROP" }], { where: "$..[?(@.constructor)]" })).message).toMatch(/forbidden/);
  });

  it.each([
    ["properties.x", "does not start with $"],
    ["$.properties[", "unterminated bracket"],
    ["$.a[(@.length-1)]", "script expression"],
    ["$.a[?(@.x = 1)]", "assignment"],
    ["$.a[?(@.x.toString())]", "method call"],
    ["$.a[?(foo)]", "free identifier"],
    ["$.a[?(@.b > )]", "incomplete expression"],
    ["$..*@other()", "@other()"],
  ])("rejects the `where` JSONPath %s (%s)", (where) => {
    expect(compileError(one([{ type: "DROP" }], { where }))).toMatchObject({ filterIndex: 0, field: "where" });
  });

  it("reports the column of a bad JSONPath filter expression", () => {
    const err = compileError(one([{ type: "DROP" }], { where: "$.a[?(@.b ! 1)]" }));
    expect(err.column).toBe(11);
  });

  it("rejects JSONPaths in ALLOW_PROPERTIES", () => {
    expect(compileError(one([{ type: "ALLOW_PROPERTIES", fields: { "": ["$..email"] } }])).message).toMatch(/not supported in ALLOW_PROPERTIES/);
  });

  it("rejects moving a value into itself and copying onto itself", () => {
    expect(compileError(one([{ type: "MOVE", from: "properties", to: "properties.old" }])).message).toMatch(/inside itself/);
    expect(compileError(one([{ type: "COPY", from: "properties.a", to: "properties.a" }])).field).toBe("to");
  });

  it("rejects bad CAST types, SET without a value and empty RENAME_EVENT", () => {
    expect(compileError(one([{ type: "CAST", fields: { "properties.a": "date" } } as unknown as ActionSpec]))).toMatchObject({ field: "fields.properties.a" });
    expect(compileError(one([{ type: "SET", path: "properties.a" } as unknown as ActionSpec]))).toMatchObject({ field: "value" });
    expect(compileError(one([{ type: "RENAME_EVENT", to: "" }]))).toMatchObject({ field: "to" });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Arbitraries and helpers for the property tests

const keyArb = fc.constantFrom("email", "a", "b", "price", "name", "items");
const valueArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; object: Ev }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.integer(),
    fc.string({ maxLength: 4 }),
    fc.constant(null),
    fc.boolean(),
    fc.array(tie("value"), { maxLength: 3 }),
    tie("object"),
  ),
  object: fc.dictionary(keyArb, tie("value"), { maxKeys: 4 }),
})).value;
const eventArb = fc.record({
  type: fc.constant("track"),
  event: fc.constant("E"),
  properties: valueArb,
  context: fc.dictionary(keyArb, valueArb, { maxKeys: 3 }),
}) as fc.Arbitrary<Ev>;

function isObject(value: unknown): value is Ev {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The plain objects at `key` of `container` (fanning out over arrays), or at the container itself when key is "". */
function objectsAt(container: unknown, key: string): Ev[] {
  const out: Ev[] = [];
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (isObject(value)) out.push(value);
  };
  const fanIn = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(fanIn);
    else if (isObject(value)) visit(key === "" ? value : value[key]);
  };
  fanIn(container);
  return key === "" ? out.filter((o) => o !== container) : out;
}

function allKeys(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => allKeys(v, out));
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) out.push(k), allKeys(v, out);
  return out;
}

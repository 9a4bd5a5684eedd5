import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  compileFql,
  compileFqlNode,
  compileGlob,
  parseFql,
  parseFqlPath,
  readPath,
  FqlSyntaxError,
  type FqlEvent,
  type FqlNode,
  type FqlValue,
} from "../../src/pipeline/fql/index.ts";
import { MAX_EVENT_GLOB } from "../../src/pipeline/fql/compile.ts";
import { MAX_PATTERN_INPUT } from "../../src/pipeline/pattern-input.ts";

const run = (source: string, event: FqlEvent): boolean => compileFql(source)(event);

function syntaxError(source: string): FqlSyntaxError {
  try {
    parseFql(source);
  } catch (err) {
    if (err instanceof FqlSyntaxError) return err;
    throw err;
  }
  throw new Error(`expected a syntax error for ${JSON.stringify(source)}`);
}

/** The event used by Segment's FQL reference page. */
const docsEvent: FqlEvent = {
  event: "Button Clicked",
  type: "track",
  context: { library: { name: "analytics.js", version: "1.0" } },
  properties: { features: ["discounts", "dark-mode"] },
};

/** A richer event for everything else. */
const event: FqlEvent = {
  type: "track",
  event: "Order Completed",
  userId: "user-1",
  anonymousId: null,
  context: {
    library: { name: "analytics-node", version: "3.1.0" },
    page: { url: "https://shop.example/?utm_source=news", path: "/checkout", title: "Home" },
  },
  properties: {
    price: 150,
    revenue: 12.5,
    discount: 0,
    delta: -3,
    currency: "USD",
    title: "Home",
    industry: "Retail",
    enabled: true,
    disabled: false,
    enabledString: "true",
    one: 1,
    str42: "42",
    num42: 42,
    features: ["discounts", "dark-mode"],
    numbers: [1, 2, 3],
    nested: [[1, 2], ["a"]],
    empty: [],
    mixed: [1, "1", true, null],
    products: [{ sku: "A", price: 10 }, { sku: "B", price: 200 }],
    product: { price: 100, name: "Shoe" },
    objA: { x: 1, y: [1, 2] },
    objB: { y: [1, 2], x: 1 },
    objC: { x: 1, y: [2, 1] },
    "product 1": { price: "19.99" },
    "a.b": "dotted",
    "x(y)": "parens",
    "caf\u00e9": "accented",
    pattern: "Order *",
    badPattern: "Order [",
    katakana: "\u30a2",
    mixedText: "a\u30a2\u00e9\u{1F600}",
    spaced: "test string",
    camel: "Signed Up",
  },
  traits: { email: "jane@company.com" },
};

describe("Segment FQL reference examples", () => {
  it.each([
    ["event = 'Button Clicked'", true],
    ["event = 'Screen Tapped'", false],
    ["context.path.path = '/login'", false],
    ["type = 'identify' or type = 'track'", true],
    ["event = 'Button Clicked' and type = 'track'", true],
    ["match( context.library.version, '1.*' )", true],
    ["match( context.library.version, '2.*' )", false],
    ["type = 'track' and ( event = 'Click' or match( event, 'Button *' ) )", true],
    ["!contains( context.library.name, 'js' )", false],
    ["'dark-mode' in properties.features", true],
    ["'blink' in properties.features", false],
    ["!( type in ['track', 'identify'] )", false],
  ])("evaluates %s to %s on the reference event", (source, expected) => {
    expect(run(source, docsEvent)).toBe(expected);
  });

  it.each([
    ["match('abcd', 'a*d')", true],
    ["match('', '*')", true],
    ["match('abc', 'ab')", false],
    ["match('abcd', 'a??d')", true],
    ["match('abcd', '*d')", true],
    ["match('ab*d', 'ab\\*d')", true],
    ["match('abCd', 'ab[cC]d')", true],
    ["match('abcd', 'ab[a-z]d')", true],
    ["match('abcd', 'ab[A-Z]d')", false],
  ])("follows the glob table: %s is %s", (source, expected) => {
    expect(run(source, {})).toBe(expected);
  });

  it.each([
    ["contains(null, 'x')", false],
    ["length(null) = 0", true],
    ["lowercase(null) = null", true],
    ["typeof(null) = 'null'", true],
    ["match(null, '*')", false],
  ])("handles null in functions like the docs: %s is %s", (source, expected) => {
    expect(run(source, {})).toBe(expected);
  });

  it("lets `length(userId) > 0` stand in for a type check, as the docs suggest", () => {
    const p = compileFql("length( userId ) > 0");
    expect(p({ userId: "u" })).toBe(true);
    expect(p({ userId: "" })).toBe(false);
    expect(p({})).toBe(false);
    expect(p({ userId: null })).toBe(false);
  });

  it("evaluates the docs' subexpression example with a boolean property and a glob", () => {
    const p = compileFql(
      "( type = 'track' or type = 'identify' ) and ( properties.enabled or match( traits.email, '*@company.com' ) )",
    );
    expect(p({ type: "identify", traits: { email: "a@company.com" } })).toBe(true);
    expect(p({ type: "track", properties: { enabled: true } })).toBe(true);
    expect(p({ type: "track", properties: { enabled: false }, traits: { email: "a@gmail.com" } })).toBe(false);
    expect(p({ type: "page", properties: { enabled: true } })).toBe(false);
  });
});

describe("destination filter examples", () => {
  it.each([
    ['event = "Order Completed"', true],
    ['event = "Checkout Started"', false],
    ['type = "track" and !(event in ["Order Completed", "Checkout Started"])', false],
    ['type = "track" and !(event in ["Product Viewed", "Checkout Started"])', true],
    ["length(userId) < 1", false],
    ["properties.price > 100", true],
    ["properties.price > 150", false],
    ['match(context.library.name, "analytics-*")', true],
    ['contains(context.page.url, "utm_")', true],
    ['typeof(properties.revenue) = "number"', true],
    ['lowercase(event) = "order completed"', true],
    ['event = "Page Viewed" or (type = "track" and properties.title = "Home")', true],
    ['event = "Page Viewed" or (type = "page" and properties.title = "Home")', false],
    ['properties.industry in ["Retail", "Finance"]', true],
    ['properties.industry in ["Tech", "Finance"]', false],
    ["!(userId = null)", true],
    ["!(anonymousId = null)", false],
    ['match(traits.email, "*@company.com")', true],
    ['contains(properties.email, "@segment.com")', false],
    ["all", true],
  ])("evaluates %s to %s", (source, expected) => {
    expect(run(source, event)).toBe(expected);
  });

  it("drops events without a userId with `length(userId) < 1`", () => {
    const p = compileFql("length(userId) < 1");
    expect(p({})).toBe(true);
    expect(p({ userId: null })).toBe(true);
    expect(p({ userId: "" })).toBe(true);
    expect(p({ userId: "u1" })).toBe(false);
  });

  it("matches a lowercase-normalised event name", () => {
    const p = compileFql('lowercase(event) = "signed up"');
    expect(p({ event: "Signed Up" })).toBe(true);
    expect(p({ event: "SIGNED UP" })).toBe(true);
    expect(p({ event: "Signed In" })).toBe(false);
    expect(p({})).toBe(false);
  });

  it("matches `event = \"Page Viewed\" or (type = \"page\" and properties.title = \"Home\")` on either branch", () => {
    const p = compileFql('event = "Page Viewed" or (type = "page" and properties.title = "Home")');
    expect(p({ event: "Page Viewed" })).toBe(true);
    expect(p({ type: "page", properties: { title: "Home" } })).toBe(true);
    expect(p({ type: "page", properties: { title: "About" } })).toBe(false);
  });
});

describe("the `all` literal", () => {
  it.each(["all", "  all  ", "\tall\n"])("matches every event for %j", (source) => {
    const p = compileFql(source);
    expect(p({})).toBe(true);
    expect(p(event)).toBe(true);
  });

  it("parses to an `all` node", () => {
    expect(parseFql(" all ").kind).toBe("all");
  });

  it("is an ordinary path inside a larger expression", () => {
    expect(parseFql("all = 1")).toMatchObject({ kind: "compare", left: { kind: "path", segments: ["all"] } });
    expect(run("all = 1", { all: 1 })).toBe(true);
    expect(run("all = 1", {})).toBe(false);
    expect(run("(all)", {})).toBe(false);
  });
});

describe("literals", () => {
  it.each<[string, FqlValue]>([
    ["'single'", "single"],
    ['"double"', "double"],
    ["''", ""],
    ['"it\'s"', "it's"],
    ["'say \"hi\"'", 'say "hi"'],
    ["'it\\'s'", "it's"],
    ['"a\\"b"', 'a"b'],
    ["'back\\\\slash'", "back\\slash"],
    ["'line\\nbreak\\ttab\\rcr'", "line\nbreak\ttab\rcr"],
    ["'\\u00e9\\u30A2'", "\u00e9\u30a2"],
    ["'\\b\\f\\/'", "\b\f/"],
    ["'keeps \\* unknown escapes'", "keeps \\* unknown escapes"],
    ["'caf\u00e9 \u{1F600}'", "caf\u00e9 \u{1F600}"],
    ["42", 42],
    ["0", 0],
    ["-7", -7],
    ["3.25", 3.25],
    ["-0.5", -0.5],
    ["1e3", 1000],
    ["2.5E-2", 0.025],
    ["-1e+2", -100],
    ["true", true],
    ["false", false],
    ["null", null],
    ["[]", []],
    ["[1, 'two', true, null]", [1, "two", true, null]],
    ["[[1, 2], [], ['a', [null]]]", [[1, 2], [], ["a", [null]]]],
    ["[ 1 ,2 ]", [1, 2]],
  ])("parses %s as a literal", (source, value) => {
    expect(parseFql(source)).toEqual({ kind: "literal", value, column: 1 });
  });
});

describe("paths", () => {
  it.each<[string, string[]]>([
    ["userId", ["userId"]],
    ["properties.product.price", ["properties", "product", "price"]],
    ["properties.product\\ 1.price", ["properties", "product 1", "price"]],
    ["properties.a\\.b", ["properties", "a.b"]],
    ["properties.x\\(y\\)", ["properties", "x(y)"]],
    ["properties.caf\\\u00e9", ["properties", "caf\u00e9"]],
    ["properties.dark-mode", ["properties", "dark-mode"]],
    ["properties.1st", ["properties", "1st"]],
    ["properties.in", ["properties", "in"]],
    ["_private", ["_private"]],
    ["\\true", ["true"]],
    ["\\1abc", ["1abc"]],
    ["context.traits.nested_field-x.y", ["context", "traits", "nested_field-x", "y"]],
  ])("parses %s into segments", (source, segments) => {
    expect(parseFql(source)).toEqual({ kind: "path", segments, column: 1 });
  });

  it.each([
    ["properties.price = 150", true],
    ["properties.product.price = 100", true],
    ["properties.product\\ 1.price = '19.99'", true],
    ["properties.a\\.b = 'dotted'", true],
    ["properties.x\\(y\\) = 'parens'", true],
    ["properties.caf\\\u00e9 = 'accented'", true],
    ["properties.products.1.sku = 'B'", true],
    ["properties.products.0.price = 10", true],
    ["properties.products.2.price = null", true],
    ["properties.nested.0.1 = 2", true],
    ["properties.features.length = null", true],
    ["properties.products.01.sku = null", true],
    ["properties.currency.length = null", true],
    ["properties.price.value = null", true],
    ["context.page.path = '/checkout'", true],
  ])("resolves %s", (source, expected) => {
    expect(run(source, event)).toBe(expected);
  });

  it("does not read inherited properties such as __proto__, constructor or toString", () => {
    expect(run("typeof(__proto__) = 'null'", {})).toBe(true);
    expect(run("typeof(constructor) = 'null'", {})).toBe(true);
    expect(run("typeof(properties.toString) = 'null'", { properties: {} })).toBe(true);
    expect(run("hasOwnProperty = null", {})).toBe(true);
    expect(run("properties.constructor.name = null", { properties: {} })).toBe(true);
  });

  it("reads __proto__ when it is the event's own (JSON) data", () => {
    const parsed = JSON.parse('{"properties":{"__proto__":{"polluted":"yes"}}}') as FqlEvent;
    expect(run("properties.__proto__.polluted = 'yes'", parsed)).toBe(true);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });

  it("works on objects without a prototype", () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare["event"] = "X";
    expect(run("event = 'X'", bare)).toBe(true);
  });
});

describe("missing fields and null", () => {
  it.each([
    ["properties.missing = null", true],
    ["missing.deep.path = null", true],
    ["properties.missing != null", false],
    ["anonymousId = null", true],
    ["null = properties.missing", true],
    ["properties.missing = anonymousId", true],
    ["properties.missing = ''", false],
    ["properties.missing = 0", false],
    ["properties.missing = false", false],
    ["properties.missing = []", false],
    ["properties.missing != 'x'", true],
    ["properties.missing < 1", false],
    ["properties.missing >= 0", false],
    ["properties.missing in [null]", true],
    ["properties.missing in [1, null]", true],
    ["properties.missing in ['a', 'b']", false],
    ["'x' in properties.missing", false],
    ["length(properties.missing) = 0", true],
    ["lowercase(properties.missing) = null", true],
    ["typeof(properties.missing) = 'null'", true],
    ["contains(properties.missing, 'x')", false],
    ["match(properties.missing, '*')", false],
    ["properties.missing", false],
    ["!properties.missing", true],
  ])("treats a missing field as null: %s is %s", (source, expected) => {
    expect(run(source, event)).toBe(expected);
  });

  it("treats a path through a non-object as null", () => {
    expect(run("userId.length = null", event)).toBe(true);
    expect(run("properties.price.cents = null", event)).toBe(true);
    expect(run("anonymousId.x = null", event)).toBe(true);
  });
});

describe("equality (no coercion)", () => {
  it.each([
    ["properties.str42 = 42", false],
    ["properties.num42 = '42'", false],
    ["properties.num42 = 42", true],
    ["properties.num42 = 42.0", true],
    ["properties.num42 = 4.2e1", true],
    ["properties.str42 = '42'", true],
    ["properties.one = true", false],
    ["properties.enabled = 1", false],
    ["properties.enabled = true", true],
    ["properties.enabledString = true", false],
    ["properties.discount = false", false],
    ["properties.discount = null", false],
    ["properties.currency = 'usd'", false],
    ["properties.numbers = [1, 2, 3]", true],
    ["properties.numbers = [1, 2]", false],
    ["properties.numbers = [1, 3, 2]", false],
    ["properties.numbers = ['1', '2', '3']", false],
    ["properties.nested = [[1, 2], ['a']]", true],
    ["properties.nested = [[1, 2], ['b']]", false],
    ["properties.empty = []", true],
    ["properties.objA = properties.objB", true],
    ["properties.objA = properties.objC", false],
    ["properties.objA = properties.product", false],
    ["properties.features = properties.features", true],
    ["properties.price = properties.price", true],
    ["properties.price != properties.revenue", true],
    ["properties.str42 != 42", true],
    ["properties.numbers != [1, 2, 3]", false],
    ["null = null", true],
    ["null != null", false],
    ["'a' = 'a'", true],
    ["1 = '1'", false],
    ["[1, [2]] = [1, [2]]", true],
    ["[] = null", false],
    ["150 = properties.price", true],
    ["'USD' != properties.currency", false],
  ])("%s is %s", (source, expected) => {
    expect(run(source, event)).toBe(expected);
  });
});

describe("ordering comparisons (numbers only)", () => {
  it.each([
    ["properties.price > 100", true],
    ["properties.price > 150", false],
    ["properties.price >= 150", true],
    ["properties.price < 150", false],
    ["properties.price <= 150", true],
    ["properties.price < 200", true],
    ["properties.delta < 0", true],
    ["properties.delta > -3.5", true],
    ["properties.revenue >= 12.5", true],
    ["properties.revenue < 1e2", true],
    ["100 < properties.price", true],
    ["200 <= properties.price", false],
    ["150 >= properties.price", true],
    ["properties.price > properties.revenue", true],
    ["properties.revenue > properties.price", false],
    ["properties.str42 > 10", false],
    ["properties.str42 < 100", false],
    ["properties.currency > 'A'", false],
    ["'b' > 'a'", false],
    ["properties.enabled > false", false],
    ["properties.numbers > 0", false],
    ["properties.price > '100'", false],
    ["properties.price > null", false],
    ["1 < 2", true],
    ["2 <= 2", true],
    ["3 > 2", true],
    ["2 >= 3", false],
  ])("%s is %s", (source, expected) => {
    expect(run(source, event)).toBe(expected);
  });
});

describe("`in`", () => {
  it.each([
    ["properties.industry in ['Retail', 'Finance']", true],
    ["properties.industry in ['retail']", false],
    ["properties.num42 in [1, 42]", true],
    ["properties.num42 in ['42']", false],
    ["properties.str42 in [42]", false],
    ["properties.enabled in [true]", true],
    ["properties.enabled in ['true', 1]", false],
    ["properties.discount in [false, null]", false],
    ["properties.industry in []", false],
    ["properties.numbers in [[1, 2, 3], 'x']", true],
    ["properties.numbers in [[3, 2, 1]]", false],
    ["properties.numbers in [1, 2, 3]", false],
    ["properties.objA in [1, 'x', [1]]", false],
    ["1 in properties.numbers", true],
    ["'1' in properties.numbers", false],
    ["4 in properties.numbers", false],
    ["'dark-mode' in properties.features", true],
    ["null in properties.mixed", true],
    ["true in properties.mixed", true],
    ["'1' in properties.mixed", true],
    ["[1, 2] in properties.nested", true],
    ["['b'] in properties.nested", false],
    ["properties.num42 in properties.numbers", false],
    ["properties.one in properties.numbers", true],
    ["'x' in properties.currency", false],
    ["'x' in properties.objA", false],
    ["1 in properties.empty", false],
    ["'a' in ['a', 'b']", true],
    ["!(properties.industry in ['Retail'])", false],
  ])("%s is %s", (source, expected) => {
    expect(run(source, event)).toBe(expected);
  });

  it("rejects a non-list literal on the right of `in`", () => {
    expect(syntaxError("event in 'abc'").message).toBe("expected a list after 'in' at column 10");
    expect(syntaxError("event in null").message).toBe("expected a list after 'in' at column 10");
  });

  it("uses the same equality as `=` for a large literal list", () => {
    const names = Array.from({ length: 50 }, (_, i) => `"Event ${i}"`).join(", ");
    const p = compileFql(`event in [${names}, 7, null]`);
    expect(p({ event: "Event 31" })).toBe(true);
    expect(p({ event: "Event 50" })).toBe(false);
    expect(p({ event: 7 })).toBe(true);
    expect(p({ event: "7" })).toBe(false);
    expect(p({})).toBe(true);
  });
});

describe("boolean operators and precedence", () => {
  it.each([
    ["true and true", true],
    ["true and false", false],
    ["false or true", true],
    ["false or false", false],
    ["!true", false],
    ["!false", true],
    ["!!true", true],
    ["! (1 = 2)", true],
    ["null or true", true],
    ["null and true", false],
    ["properties.enabled and properties.price > 100", true],
    ["properties.disabled or properties.price > 1000", false],
    ["!properties.disabled", true],
    ["!properties.enabledString", true],
  ])("%s is %s", (source, expected) => {
    expect(run(source, event)).toBe(expected);
  });

  it("binds `and` tighter than `or`", () => {
    expect(parseFql("a or b and c")).toMatchObject({
      kind: "or",
      left: { kind: "path", segments: ["a"] },
      right: { kind: "and" },
    });
    expect(parseFql("a and b or c")).toMatchObject({ kind: "or", left: { kind: "and" }, right: { kind: "path" } });
    expect(run("true or false and false", {})).toBe(true);
    expect(run("(true or false) and false", {})).toBe(false);
    expect(run("false and false or true", {})).toBe(true);
  });

  it("binds comparisons tighter than `and`/`or`", () => {
    expect(parseFql("a = 1 and b = 2")).toMatchObject({
      kind: "and",
      left: { kind: "compare", op: "=" },
      right: { kind: "compare", op: "=" },
    });
  });

  it("binds `!` tightest, so `!a = b` compares the negation", () => {
    expect(parseFql("!a = b")).toMatchObject({ kind: "compare", left: { kind: "not" }, right: { kind: "path" } });
    expect(run("!properties.enabled = false", event)).toBe(true);
    expect(run("!event = 'Order Completed'", event)).toBe(false);
    expect(run("!(event = 'Order Completed')", event)).toBe(false);
    expect(run("!(event = 'Other')", event)).toBe(true);
  });

  it("is left-associative for chains of `and` and `or`", () => {
    expect(parseFql("a or b or c")).toMatchObject({ kind: "or", left: { kind: "or" }, right: { segments: ["c"] } });
    expect(parseFql("a and b and c")).toMatchObject({ kind: "and", left: { kind: "and" } });
  });

  it("evaluates long chains without deep recursion", () => {
    const chain = Array.from({ length: 5000 }, (_, i) => `event = "E${i}"`).join(" or ");
    const p = compileFql(chain);
    expect(p({ event: "E4999" })).toBe(true);
    expect(p({ event: "E5000" })).toBe(false);
    const all = Array.from({ length: 5000 }, () => "properties.enabled").join(" and ");
    expect(compileFql(all)(event)).toBe(true);
  });

  it("allows comparing boolean sub-expressions", () => {
    expect(run("(properties.price > 100) = true", event)).toBe(true);
    expect(run("(properties.price > 100) = (properties.revenue > 100)", event)).toBe(false);
  });
});

describe("truthiness of a bare path or function", () => {
  it.each([
    [{ enabled: true }, true],
    [{ enabled: false }, false],
    [{ enabled: "true" }, false],
    [{ enabled: 1 }, false],
    [{ enabled: [true] }, false],
    [{ enabled: null }, false],
    [{}, false],
  ])("`enabled` on %j is %s (only boolean true passes)", (e, expected) => {
    expect(run("enabled", e)).toBe(expected);
  });

  it("treats non-boolean function results as false", () => {
    expect(run("lowercase(event)", event)).toBe(false);
    expect(run("length(userId)", event)).toBe(false);
    expect(run("bool(properties.one)", event)).toBe(true);
    expect(run("bool(properties.discount)", event)).toBe(false);
    expect(run("'true'", event)).toBe(false);
    expect(run("1", event)).toBe(false);
    expect(run("true", event)).toBe(true);
  });
});

describe("contains()", () => {
  it.each([
    ["contains(context.page.url, 'utm_')", true],
    ["contains(context.page.url, 'UTM_')", false],
    ["contains(event, '')", true],
    ["contains(event, 'Order Completed')", true],
    ["contains(event, 'Order Completed!')", false],
    ["contains(properties.features, 'dark-mode')", false],
    ["contains(properties.num42, '4')", false],
    ["contains(event, 4)", false],
    ["contains(event, null)", false],
    ["contains(null, 'x')", false],
    ["contains(event, properties.currency)", false],
    ["contains(context.page.title, properties.title)", true],
    ["contains(properties.katakana, '\u30a2')", true],
    ["!contains(context.library.name, 'js')", true],
  ])("%s is %s", (source, expected) => {
    expect(run(source, event)).toBe(expected);
  });
});

describe("match()", () => {
  it.each([
    ["abc", "abc", true],
    ["abc", "ABC", false],
    ["abc", "abcd", false],
    ["abcd", "abc", false],
    ["", "", true],
    ["", "?", false],
    ["anything at all", "*", true],
    ["analytics-node", "analytics-*", true],
    ["analytics.js", "analytics-*", false],
    ["foo.bar.baz", "*.bar.*", true],
    ["foo.bar", "*.bar.*", false],
    ["a-b-c", "a*b*c", true],
    ["a-c-b", "a*b*c", false],
    ["aXbXc", "a*b*c*", true],
    ["abab", "*ab", true],
    ["aaa", "a*a*a", true],
    ["aa", "a*a*a", false],
    ["x", "?", true],
    ["xy", "?", false],
    ["\u30a2", "?", true],
    ["\u{1F600}", "?", true],
    ["\u{1F600}", "??", false],
    ["a\u{1F600}b", "a?b", true],
    ["a\u{1F600}b", "*[\u{1F600}]*", true],
    ["cat", "[bc]at", true],
    ["rat", "[bc]at", false],
    ["rat", "[!bc]at", true],
    ["cat", "[!bc]at", false],
    ["rat", "[^bc]at", true],
    ["cat", "[^bc]at", false],
    ["m", "[a-z]", true],
    ["M", "[a-z]", false],
    ["5", "[0-9]", true],
    ["-", "[a-]", true],
    ["-", "[-a]", true],
    ["]", "[]]", true],
    ["a", "[]a]", true],
    ["x", "[!]]", true],
    ["]", "[!]]", false],
    ["*", "\\*", true],
    ["x", "\\*", false],
    ["?", "\\?", true],
    ["a", "\\?", false],
    ["[", "\\[", true],
    ["]", "[\\]]", true],
    ["a", "\\a", true],
    ["a*b?c", "a\\*b\\?c", true],
    ["line1\nline2", "line1*", true],
    ["line1\nline2", "line1?line2", true],
    ["Order Completed", "Order [A-Z]*", true],
    ["Order completed", "Order [A-Z]*", false],
    ["v1.2.3", "v[0-9].*.?", true],
    ["a".repeat(30), "*a*a*a*a*a*a*a*a*b", false],
  ])("match(%j, %j) is %s", (subject, pattern, expected) => {
    const e = { s: subject, p: pattern };
    // Literal pattern (compiled once), pattern read from the event (compiled at run time), and the raw matcher.
    const literal = `match(s, ${JSON.stringify(pattern)})`;
    expect(run(literal, e)).toBe(expected);
    expect(run("match(s, p)", e)).toBe(expected);
    expect(compileGlob(pattern)(subject)).toBe(expected);
  });

  it.each([
    ["match(properties.num42, '*')", false],
    ["match(properties.features, '*')", false],
    ["match(event, 42)", false],
    ["match(event, null)", false],
    ["match(event, properties.pattern)", true],
    ["match(event, properties.badPattern)", false],
    ["match(event, properties.missing)", false],
  ])("is null- and type-safe: %s is %s", (source, expected) => {
    expect(run(source, event)).toBe(expected);
  });

  it("recompiles a pattern read from the event when it changes", () => {
    const p = compileFql("match(event, properties.pattern)");
    expect(p({ event: "abc", properties: { pattern: "a*" } })).toBe(true);
    expect(p({ event: "abc", properties: { pattern: "b*" } })).toBe(false);
    expect(p({ event: "bcd", properties: { pattern: "b*" } })).toBe(true);
    expect(p({ event: "bcd", properties: { pattern: "[" } })).toBe(false);
    expect(p({ event: "bcd", properties: { pattern: "b*" } })).toBe(true);
  });

  it("tries a pattern read from the event only up to MAX_EVENT_GLOB characters, on values up to MAX_PATTERN_INPUT", () => {
    const p = compileFql("match(s, p)");
    const pattern = "a".repeat(MAX_EVENT_GLOB);
    expect(p({ s: pattern, p: pattern })).toBe(true);
    expect(p({ s: `${pattern}a`, p: `${pattern}a` })).toBe(false);
    expect(p({ s: "a", p: `a${"*".repeat(MAX_EVENT_GLOB)}` })).toBe(false);
    const value = "\u{1F600}".repeat(MAX_PATTERN_INPUT); // counted in code points
    expect(p({ s: value, p: "*" })).toBe(true);
    expect(p({ s: `${value}a`, p: "*" })).toBe(false);
    expect(run("!match(s, p)", { s: `${value}a`, p: "*" })).toBe(true);
    // A literal pattern is the operator's and linear in the value: any length.
    expect(run("match(s, '*a')", { s: `${value}a` })).toBe(true);
  });

  it.each([
    ["match(event, 'Order [')", "invalid pattern: unterminated '[' in glob pattern at column 14"],
    ["match(event, '[z-a]')", "invalid pattern: invalid range in '[' class of glob pattern at column 14"],
    ["match(event, 'abc\\\\')", "invalid pattern: dangling '\\' at end of glob pattern at column 14"],
  ])("rejects the malformed literal pattern in %s", (source, message) => {
    expect(syntaxError(source).message).toBe(message);
    expect(() => compileFql(source)).toThrow(FqlSyntaxError);
  });
});

describe("length()", () => {
  it.each([
    ["length('') = 0", true],
    ["length('abc') = 3", true],
    ["length('\u00e9') = 2", true],
    ["length('\u30a2') = 3", true],
    ["length('\u{1F600}') = 4", true],
    ["length(properties.mixedText) = 10", true],
    ["length(properties.features) = 2", true],
    ["length(properties.empty) = 0", true],
    ["length(properties.nested) = 2", true],
    ["length([1, [2, 3]]) = 2", true],
    ["length(null) = 0", true],
    ["length(properties.missing) = 0", true],
    ["length(properties.price) = 0", true],
    ["length(properties.enabled) = 0", true],
    ["length(properties.product) = 0", true],
    ["length(userId) > 0", true],
  ])("%s is %s", (source, expected) => {
    expect(run(source, event)).toBe(expected);
  });

  it("counts UTF-8 bytes like TextEncoder, including lone surrogates", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(run(`length(s) = ${new TextEncoder().encode(s).length}`, { s })).toBe(true);
      }),
    );
    expect(run("length(s) = 3", { s: "\ud800" })).toBe(true);
    expect(run("length(s) = 6", { s: "\udc00\ud800" })).toBe(true);
  });
});

describe("string case functions", () => {
  it.each([
    ["lowercase('Signed Up') = 'signed up'", true],
    ["lowercase('\u00c9T\u00c9') = '\u00e9t\u00e9'", true],
    ["uppercase('Signed Up') = 'SIGNED UP'", true],
    ["uppercase(properties.currency) = 'USD'", true],
    ["snakecase('test string') = 'test_string'", true],
    ["snakecase('Signed Up') = 'signed_up'", true],
    ["snakecase('Signed Up') = 'Signed_Up'", false],
    ["snakecase('a  b\tc') = 'a_b_c'", true],
    ["kebabcase('test string') = 'test-string'", true],
    ["kebabcase(properties.camel) = 'signed-up'", true],
    // Words as lodash's _.words finds them: camelCase and acronym boundaries, digit runs, ordinals, separators.
    ["snakecase('Order Completed') = 'order_completed'", true],
    ["snakecase('orderCompleted') = 'order_completed'", true],
    ["snakecase('OrderCompleted') = 'order_completed'", true],
    ["snakecase('--ORDER-COMPLETED--') = 'order_completed'", true],
    ["snakecase('XMLHttpRequest') = 'xml_http_request'", true],
    ["snakecase('iOS App') = 'i_os_app'", true],
    ["snakecase('version2Beta') = 'version_2_beta'", true],
    ["snakecase('Product_Viewed.v2') = 'product_viewed_v_2'", true],
    ["snakecase('1st Purchase') = '1st_purchase'", true],
    ['snakecase("Don\'t Stop") = \'dont_stop\'', true],
    ["snakecase('\u00c9t\u00e9Chaud') = '\u00e9t\u00e9_chaud'", true],
    ["snakecase('\u65e5\u672c Test') = '\u65e5\u672c_test'", true],
    ["snakecase('\u{1F389} Party') = '\u{1F389}_party'", true],
    ["snakecase(' - ') = ''", true],
    ["kebabcase('Order Completed') = 'order-completed'", true],
    ["kebabcase('checkoutStep2Viewed') = 'checkout-step-2-viewed'", true],
    ["kebabcase('API_KEY rotated') = 'api-key-rotated'", true],
    ["titlecase('test string') = 'Test String'", true],
    ["titlecase('hello  wORLD') = 'Hello  WORLD'", true],
    ["titlecase('\u00e9t\u00e9 x') = '\u00c9t\u00e9 X'", true],
    ["titlecase('') = ''", true],
  ])("%s is %s", (source, expected) => {
    expect(run(source, event)).toBe(expected);
  });

  it.each(["lowercase", "uppercase", "snakecase", "kebabcase", "titlecase"])(
    "%s returns null for null, missing and non-string values",
    (fn) => {
      for (const arg of ["null", "properties.missing", "properties.price", "properties.enabled", "properties.features"]) {
        expect(run(`${fn}(${arg}) = null`, event)).toBe(true);
        expect(run(`typeof(${fn}(${arg})) = 'null'`, event)).toBe(true);
      }
    },
  );
});

describe("typeof()", () => {
  it.each([
    ["properties.currency", "string"],
    ["properties.price", "number"],
    ["properties.revenue", "number"],
    ["properties.features", "list"],
    ["properties.empty", "list"],
    ["properties.enabled", "bool"],
    ["anonymousId", "null"],
    ["properties.missing", "null"],
    ["properties.product", "object"],
    ["'x'", "string"],
    ["1.5", "number"],
    ["[]", "list"],
    ["false", "bool"],
    ["null", "null"],
    ["(1 = 1)", "bool"],
    ["length(userId)", "number"],
  ])("typeof(%s) is %s", (arg, type) => {
    expect(run(`typeof(${arg}) = '${type}'`, event)).toBe(true);
  });

  it("never returns JavaScript-only type names", () => {
    for (const name of ["undefined", "boolean", "array", "function"]) {
      expect(run(`typeof(properties.missing) = '${name}'`, event)).toBe(false);
      expect(run(`typeof(properties.features) = '${name}'`, event)).toBe(false);
    }
  });
});

describe("conversions", () => {
  it.each([
    ["number('12.5') = 12.5", true],
    ["number(' -3 ') = -3", true],
    ["number('1e3') = 1000", true],
    ["number('.5') = 0.5", true],
    ["number(properties.str42) = properties.num42", true],
    ["number(properties.str42) > 40", true],
    ["number(42) = 42", true],
    ["number('x') = null", true],
    ["number('') = null", true],
    ["number('0x10') = null", true],
    ["number('Infinity') = null", true],
    ["number('1e999') = null", true],
    ["number(true) = null", true],
    ["number([1]) = null", true],
    ["number(null) = null", true],
    ["string(12) = '12'", true],
    ["string(12.5) = '12.5'", true],
    ["string(-0.25) = '-0.25'", true],
    ["string(true) = 'true'", true],
    ["string(false) = 'false'", true],
    ["string('s') = 's'", true],
    ["string(null) = null", true],
    ["string(properties.features) = '[\"discounts\",\"dark-mode\"]'", true],
    ["string(properties.price) = '150'", true],
    ["bool('true') = true", true],
    ["bool('TRUE') = true", true],
    ["bool('1') = true", true],
    ["bool('t') = true", true],
    ["bool('false') = false", true],
    ["bool('0') = false", true],
    ["bool('') = false", true],
    ["bool('yes') = null", true],
    ["bool(1) = true", true],
    ["bool(-2.5) = true", true],
    ["bool(0) = false", true],
    ["bool(true) = true", true],
    ["bool(false) = false", true],
    ["bool([1]) = true", true],
    ["bool([]) = false", true],
    ["bool(null) = null", true],
    ["bool(properties.product) = null", true],
    ["bool(properties.enabledString)", true],
    ["bool(properties.missing)", false],
  ])("%s is %s", (source, expected) => {
    expect(run(source, event)).toBe(expected);
  });
});

describe("functions in general", () => {
  it("allows whitespace around the arguments and before the parenthesis", () => {
    expect(run("contains (  event ,  'Order'  )", event)).toBe(true);
    expect(run("length( userId )>0", event)).toBe(true);
  });

  it("nests calls and accepts expressions as arguments", () => {
    expect(run("length(lowercase(event)) = 15", event)).toBe(true);
    expect(run("uppercase(string(properties.price > 100)) = 'TRUE'", event)).toBe(true);
    expect(run("typeof(typeof(null)) = 'string'", event)).toBe(true);
  });

  it.each([
    ["foo(event)", "unknown function 'foo' at column 1"],
    ["Contains(event, 'x')", "unknown function 'Contains' at column 1"],
    ["event = LOWERCASE(event)", "unknown function 'LOWERCASE' at column 9"],
    ["properties.len(x)", "unknown function 'properties.len' at column 1"],
    ["contains(event)", "function 'contains' takes 2 arguments, got 1 at column 1"],
    ["match(a, 'b', 'c')", "function 'match' takes 2 arguments, got 3 at column 1"],
    ["length()", "function 'length' takes 1 argument, got 0 at column 1"],
    ["true and typeof(a, b) = 'x'", "function 'typeof' takes 1 argument, got 2 at column 10"],
  ])("rejects %s", (source, message) => {
    const err = syntaxError(source);
    expect(err.message).toBe(message);
    expect(() => compileFql(source)).toThrow(message);
  });
});

describe("syntax errors", () => {
  it.each([
    ["", "empty expression", 1],
    ["   ", "empty expression", 1],
    ["event = 'Order Completed' and (type = 'x'))", "unexpected ')' at column 43", 43],
    ["(event = 'x'", "expected ')' at column 13", 13],
    ["event = 'abc", "unterminated string at column 9", 9],
    ['event = "abc\\"', "unterminated string at column 9", 9],
    ["x = 'a' or y = 'b", "unterminated string at column 16", 16],
    ["foo(1)", "unknown function 'foo' at column 1", 1],
    ["x in [1 2]", "expected ']' at column 9", 9],
    ["x in [1, 2", "expected ']' at column 11", 11],
    ["x in [a, b]", "expected a literal value in list, found 'a' at column 7", 7],
    ["x in [1, ]", "expected a literal value in list, found ']' at column 10", 10],
    ["event =", "unexpected end of expression at column 8", 8],
    ["= 1", "unexpected '=' at column 1", 1],
    ["event = 1 = 2", "unexpected '=' at column 11", 11],
    ["a < b < c", "unexpected '<' at column 7", 7],
    ["event == 'x'", "unexpected '==' (use '=') at column 7", 7],
    ["a = 1 && b = 2", "unexpected '&&' (use 'and') at column 7", 7],
    ["a = 1 || b = 2", "unexpected '||' (use 'or') at column 7", 7],
    ["a = 1 b = 2", "unexpected 'b' at column 7", 7],
    ["event = 'x' and", "unexpected end of expression at column 16", 16],
    ["and x", "unexpected 'and' at column 1", 1],
    ["a or or b", "unexpected 'or' at column 6", 6],
    ["x = #", "unexpected '#' at column 5", 5],
    ["x = .5", "unexpected '.' at column 5", 5],
    ["x = 1.", "invalid number at column 5", 5],
    ["x = 1.2.3", "invalid number at column 5", 5],
    ["x = 12abc", "invalid number at column 5", 5],
    ["x = 1e999", "number out of range at column 5", 5],
    ["properties. = 1", "expected a field name after '.' at column 12", 12],
    ["properties..x = 1", "expected a field name before '.' at column 12", 12],
    ["properties.x\\", "dangling '\\' at end of path at column 13", 13],
    ["café = 1", "unexpected '\u00e9' at column 4", 4],
    ["x = '\\u12'", "invalid unicode escape in string at column 6", 6],
    ["()", "unexpected ')' at column 2", 2],
    ["[1] in", "unexpected end of expression at column 7", 7],
    ["x in", "unexpected end of expression at column 5", 5],
    ["!", "unexpected end of expression at column 2", 2],
    ["'\u{1F600}\u{1F600}' = )", "unexpected ')' at column 8", 8],
  ])("reports %j as %j", (source, message, column) => {
    const err = syntaxError(source);
    expect(err).toBeInstanceOf(FqlSyntaxError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe("FqlSyntaxError");
    expect(err.message).toBe(message);
    expect(err.column).toBe(column);
    expect(err.message.startsWith("FQL:")).toBe(false);
    expect(() => compileFql(source)).toThrow(FqlSyntaxError);
  });

  it("rejects nesting deeper than the limit instead of overflowing the stack", () => {
    const deep = `${"(".repeat(1000)}true${")".repeat(1000)}`;
    expect(syntaxError(deep).message).toMatch(/^expression nested too deeply at column \d+$/);
    const nots = `${"!".repeat(1000)}true`;
    expect(syntaxError(nots).message).toMatch(/^expression nested too deeply/);
    const lists = `x in ${"[".repeat(1000)}${"]".repeat(1000)}`;
    expect(syntaxError(lists).message).toMatch(/^expression nested too deeply/);
    expect(run(`${"(".repeat(100)}true${")".repeat(100)}`, {})).toBe(true);
  });

  it("rejects a non-string source", () => {
    expect(() => compileFql(undefined as unknown as string)).toThrow(FqlSyntaxError);
    expect(() => compileFql(42 as unknown as string)).toThrow("expression must be a string");
  });

  it("never throws anything but FqlSyntaxError, with a column inside the source", () => {
    const alphabet = fc.constantFrom(
      ..."ab.\\ ()[],'\"=!<>-19eE_".split(""),
      "and ",
      " or ",
      " in ",
      "true",
      "null",
      "contains(",
      "match(",
    );
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 30 }).map((parts) => parts.join("")), (source) => {
        try {
          const p = compileFql(source);
          expect(typeof p(event)).toBe("boolean");
        } catch (err) {
          expect(err).toBeInstanceOf(FqlSyntaxError);
          const { column } = err as FqlSyntaxError;
          expect(column).toBeGreaterThanOrEqual(1);
          expect(column).toBeLessThanOrEqual(source.length + 1);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("AST", () => {
  it("records operators, operands and 1-based columns", () => {
    expect(parseFql("type = 'track' and !(event in ['A', 'B'])")).toEqual({
      kind: "and",
      column: 16,
      left: {
        kind: "compare",
        op: "=",
        column: 6,
        left: { kind: "path", segments: ["type"], column: 1 },
        right: { kind: "literal", value: "track", column: 8 },
      },
      right: {
        kind: "not",
        column: 20,
        operand: {
          kind: "in",
          column: 28,
          left: { kind: "path", segments: ["event"], column: 22 },
          right: { kind: "literal", value: ["A", "B"], column: 31 },
        },
      },
    });
  });

  it.each(["=", "!=", "<", "<=", ">", ">="])("parses the %s operator", (op) => {
    expect(parseFql(`a ${op} 1`)).toMatchObject({ kind: "compare", op, column: 3 });
  });

  it("parses function calls with their arguments", () => {
    expect(parseFql("match(context.library.name, 'a*')")).toEqual({
      kind: "call",
      name: "match",
      column: 1,
      args: [
        { kind: "path", segments: ["context", "library", "name"], column: 7 },
        { kind: "literal", value: "a*", column: 29 },
      ],
    });
  });

  it("compiles a hand-built AST", () => {
    const node: FqlNode = {
      kind: "or",
      column: 1,
      left: { kind: "compare", op: ">", column: 1, left: { kind: "path", segments: ["n"], column: 1 }, right: { kind: "literal", value: 10, column: 1 } },
      right: { kind: "call", name: "contains", column: 1, args: [{ kind: "path", segments: ["s"], column: 1 }, { kind: "literal", value: "x", column: 1 }] },
    };
    const p = compileFqlNode(node);
    expect(p({ n: 11 })).toBe(true);
    expect(p({ n: 1, s: "axe" })).toBe(true);
    expect(p({ n: 1, s: "abc" })).toBe(false);
  });

  it("validates calls in a hand-built AST", () => {
    const node: FqlNode = { kind: "call", name: "length", column: 4, args: [] };
    expect(() => compileFqlNode(node)).toThrow("function 'length' takes 1 argument, got 0 at column 4");
    const bogus = { kind: "call", name: "eval", column: 2, args: [] } as unknown as FqlNode;
    expect(() => compileFqlNode(bogus)).toThrow("unknown function 'eval' at column 2");
  });

  it("round-trips parse → compile the same as compileFql", () => {
    const source = "properties.price > 100 and properties.industry in ['Retail']";
    expect(compileFqlNode(parseFql(source))(event)).toBe(compileFql(source)(event));
  });
});

describe("constant sub-expressions", () => {
  it.each([
    ["1 = 1", true, true],
    ["'a' in ['b']", false, false],
    ["length('abc') = 3 and event = 'Order Completed'", true, false],
    ["false and event = 'Order Completed'", false, false],
    ["true or event = 'nope'", true, true],
    ["false or event = 'Order Completed'", true, false],
    ["contains(string(42), '4') and properties.price > 1", true, false],
  ])("folds %s: %s on the event, %s on an empty event", (source, onEvent, onEmpty) => {
    expect(run(source, event)).toBe(onEvent);
    expect(run(source, {})).toBe(onEmpty);
  });
});

describe("parseFqlPath", () => {
  it.each<[string, string[]]>([
    ["userId", ["userId"]],
    ["properties.product\\ 1.price", ["properties", "product 1", "price"]],
    ["properties.a\\.b", ["properties", "a.b"]],
    ["properties.email", ["properties", "email"]],
    ["traits.in", ["traits", "in"]],
    ["true", ["true"]],
    ["0.name", ["0", "name"]],
    ["-x", ["-x"]],
    ["context.caf\\\u00e9", ["context", "caf\u00e9"]],
    ["a\\\\b", ["a\\b"]],
  ])("splits %s into %j", (path, segments) => {
    expect(parseFqlPath(path)).toEqual(segments);
  });

  it.each([
    ["", "empty path", 1],
    [".a", "expected a field name before '.' at column 1", 1],
    ["a.", "expected a field name after '.' at column 3", 3],
    ["a..b", "expected a field name before '.' at column 3", 3],
    ["a b", "unexpected ' ' at column 2", 2],
    ["product 1", "unexpected ' ' at column 8", 8],
    ["a\\", "dangling '\\' at end of path at column 2", 2],
    ["caf\u00e9", "unexpected '\u00e9' at column 4", 4],
    ["=", "unexpected '=' at column 1", 1],
  ])("rejects %j with %j", (path, message, column) => {
    try {
      parseFqlPath(path);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(FqlSyntaxError);
      expect((err as FqlSyntaxError).message).toBe(message);
      expect((err as FqlSyntaxError).column).toBe(column);
    }
  });
});

describe("readPath", () => {
  it.each<[string[], unknown]>([
    [["event"], "Order Completed"],
    [["properties", "product", "price"], 100],
    [["properties", "product 1", "price"], "19.99"],
    [["properties", "products", "1", "sku"], "B"],
    [["properties", "missing"], undefined],
    [["userId", "length"], undefined],
    [["properties", "features", "length"], undefined],
    [["anonymousId", "x"], undefined],
    [["properties", "toString"], undefined],
    [["__proto__"], undefined],
    [[], event],
  ])("reads %j", (segments, expected) => {
    expect(readPath(event, segments)).toBe(expected);
  });

  it("returns undefined for a non-object root", () => {
    expect(readPath(null, ["a"])).toBeUndefined();
    expect(readPath("str", ["length"])).toBeUndefined();
    expect(readPath(undefined, ["a"])).toBeUndefined();
  });
});

describe("properties", () => {
  const scalar = fc.oneof(
    fc.string(),
    fc.string({ unit: "binary" }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
  );
  const literal: fc.Arbitrary<FqlValue> = fc.letrec<{ value: FqlValue }>((tie) => ({
    value: fc.oneof({ depthSize: "small" }, scalar, fc.array(tie("value"), { maxLength: 4 })),
  })).value;

  const show = (v: FqlValue): string =>
    Array.isArray(v) ? `[${v.map(show).join(", ")}]` : typeof v === "string" ? JSON.stringify(v) : String(v);

  it("round-trips every literal through the parser", () => {
    fc.assert(
      fc.property(literal, (v) => {
        const node = parseFql(show(v));
        expect(node.kind).toBe("literal");
        expect(compileFql(`${show(v)} = ${show(v)}`)({})).toBe(true);
        if (node.kind === "literal") expect(compileFql(`x = ${show(node.value)}`)({ x: v })).toBe(true);
      }),
    );
  });

  it("makes `x = x` true, `x != x` false and `x in [x]` true for any literal value", () => {
    fc.assert(
      fc.property(literal, (v) => {
        const e = { properties: { v } };
        expect(run(`properties.v = ${show(v)}`, e)).toBe(true);
        expect(run(`${show(v)} = properties.v`, e)).toBe(true);
        expect(run(`properties.v != ${show(v)}`, e)).toBe(false);
        expect(run(`properties.v = properties.v`, e)).toBe(true);
        expect(run(`properties.v in [${show(v)}]`, e)).toBe(true);
        expect(run(`properties.v in ['\u0000never', ${show(v)}]`, e)).toBe(true);
      }),
    );
  });

  it("never equates values of different types", () => {
    fc.assert(
      fc.property(literal, literal, (a, b) => {
        const typeOf = (x: FqlValue) => (x === null ? "null" : Array.isArray(x) ? "list" : typeof x);
        fc.pre(typeOf(a) !== typeOf(b));
        expect(run(`a = ${show(b)}`, { a })).toBe(false);
        expect(run(`a != ${show(b)}`, { a })).toBe(true);
        expect(run(`a = b`, { a, b })).toBe(false);
      }),
    );
  });

  it("orders numbers like JavaScript and never orders anything else", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), scalar, (n, other) => {
        const e = { n, other };
        expect(run(`n < ${n + 1}`, e)).toBe(n < n + 1);
        expect(run(`n <= ${String(n)}`, e)).toBe(true);
        expect(run(`n > other`, e)).toBe(typeof other === "number" && n > other);
        expect(run(`n >= other`, e)).toBe(typeof other === "number" && n >= other);
      }),
    );
  });

  it("matches globs exactly like the equivalent anchored regular expression", () => {
    const text = fc.string({ unit: fc.constantFrom("a", "b", "c", "*", "?", "\u{1F600}"), maxLength: 8 });
    const pattern = fc.string({ unit: fc.constantFrom("a", "b", "*", "?", "[ab]", "[!a]", "\\*", "\u{1F600}"), maxLength: 6 });
    const toRegExp = (glob: string): RegExp => {
      let re = "";
      for (let i = 0; i < glob.length; i++) {
        const c = glob[i]!;
        if (c === "*") re += "[^]*";
        else if (c === "?") re += ".";
        else if (c === "\\") re += `\\${glob[++i]}`;
        else if (c === "[") {
          const end = glob.indexOf("]", i);
          re += glob.slice(i, end + 1).replace("[!", "[^");
          i = end;
        } else re += c.replace(/[.+^${}()|\\]/gu, "\\$&");
      }
      return new RegExp(`^(?:${re})$`, "su");
    };
    fc.assert(
      fc.property(text, pattern, (s, glob) => {
        expect(compileGlob(glob)(s)).toBe(toRegExp(glob).test(s));
      }),
      { numRuns: 3000 },
    );
  });

  it("never throws while evaluating valid expressions on arbitrary JSON events", () => {
    const sources = [
      "properties.a = properties.b",
      "properties.a in properties.b",
      "contains(properties.a, properties.b) or match(properties.a, properties.b)",
      "length(properties.a) > 1 and typeof(properties.b) = 'object'",
      "lowercase(properties.a) = titlecase(properties.b)",
      "bool(properties.a) or number(properties.a) > 0 or string(properties.b) = 'x'",
      "properties.a.b.c.d.e = null",
      "properties.a.0.1 in [1, [2], null]",
    ].map((s) => compileFql(s));
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        const e = { properties: { a, b } } as FqlEvent;
        for (const p of sources) expect(typeof p(e)).toBe("boolean");
      }),
    );
  });
});

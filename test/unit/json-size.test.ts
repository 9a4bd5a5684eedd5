/** src/pipeline/json-size.ts: exact UTF-8 sizes and the upper bound normalize uses to skip measuring events. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonBytesBound, nestedDeeperThan, utf8Length } from "../../src/pipeline/json-size.ts";
import { corpusLines } from "../fixtures/corpus.ts";

const bytesOf = (s: string) => new TextEncoder().encode(s).length;

describe("utf8Length", () => {
  it("counts what TextEncoder writes, for any string (lone surrogates as U+FFFD), also past its 64 KB scratch buffer", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), (s) => utf8Length(s) === bytesOf(s)));
    expect(utf8Length("\ud800x\udc00")).toBe(7);
    const long = "é".repeat(70_000) + "😀".repeat(20_000) + "x";
    expect(utf8Length(long)).toBe(bytesOf(long));
  });
});

describe("jsonBytesBound", () => {
  it("never undercounts JSON.stringify's UTF-8 size", () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => jsonBytesBound(v, Number.POSITIVE_INFINITY) >= bytesOf(JSON.stringify(v) ?? "")));
    for (const l of corpusLines().slice(0, 500)) expect(jsonBytesBound(JSON.parse(l), Number.POSITIVE_INFINITY)).toBeGreaterThanOrEqual(bytesOf(l));
  });

  it("stops counting past the limit, and gives up (Infinity) on values it cannot walk", () => {
    const big = { properties: { text: "x".repeat(10_000), more: "y".repeat(10_000) } };
    expect(jsonBytesBound(big, 1000)).toBeGreaterThan(1000);
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { d: deep };
    expect(jsonBytesBound(deep, 32_768)).toBe(Infinity);
    expect(jsonBytesBound({ at: new Date(0) }, 32_768)).toBe(Infinity);
  });
});

describe("nestedDeeperThan", () => {
  /** The nesting depth of a JSON value by its text: the most brackets open at once outside strings. */
  const depthOf = (v: unknown): number => {
    let depth = 0;
    let max = 0;
    for (const m of JSON.stringify(v).matchAll(/"(?:[^"\\]|\\.)*"|[[{]|[\]}]/g)) {
      if (m[0] === "[" || m[0] === "{") max = Math.max(max, ++depth);
      else if (m[0] === "]" || m[0] === "}") depth--;
    }
    return max;
  };

  it("agrees with the depth of the JSON text, the value itself being level 1", () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), fc.integer({ min: 0, max: 8 }), (v, levels) => nestedDeeperThan(v, levels) === depthOf(v) > levels));
  });

  it("walks values far deeper than the stack allows without overflowing", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = i % 2 ? [deep] : { a: deep };
    expect(() => JSON.stringify(deep)).toThrow(RangeError);
    expect(nestedDeeperThan(deep, 64)).toBe(true);
    expect(nestedDeeperThan({ a: [1, { b: [] }] }, 4)).toBe(false);
    expect(nestedDeeperThan({ a: [1, { b: [] }] }, 3)).toBe(true);
  });
});

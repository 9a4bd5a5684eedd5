import { describe, expect, it } from "vitest";
import { formatIso, parseCanonicalIso } from "../../src/pipeline/iso-time.ts";

const MIN = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
const MAX = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

/** A deterministic pseudo-random sequence (no flaky inputs). */
function* lcg(seed: number, n: number): Generator<number> {
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    yield x / 2 ** 31;
  }
}

describe("formatIso", () => {
  it("writes what toISOString() writes, across and beyond years 0000–9999", () => {
    const edges = [0, -0, 1, -1, 0.5, -0.5, 951_782_400_000 /* 2000-02-29 */, 4_107_542_400_000 /* 2100-03-01 */, MIN, MIN - 1, MAX, MAX + 1, 8.64e15, -8.64e15];
    const random = [...lcg(7, 20_000)].map((r) => Math.round(MIN + r * (MAX - MIN)));
    for (const t of [...edges, ...random]) expect(formatIso(t), String(t)).toBe(new Date(t).toISOString());
  });

  it("throws beyond a Date's range, as toISOString() does", () => {
    expect(() => formatIso(8.64e15 + 1)).toThrow(RangeError);
    expect(() => formatIso(Number.NaN)).toThrow(RangeError);
  });
});

describe("parseCanonicalIso", () => {
  it("reads the canonical form as Date.parse does, and it formats back to the same text", () => {
    for (const r of lcg(11, 20_000)) {
      const s = new Date(Math.round(MIN + r * (MAX - MIN))).toISOString();
      expect(parseCanonicalIso(s), s).toBe(Date.parse(s));
    }
    expect(parseCanonicalIso("2024-02-29T23:59:59.999Z")).toBe(Date.parse("2024-02-29T23:59:59.999Z"));
    expect(parseCanonicalIso("0000-01-01T00:00:00.000Z")).toBe(MIN);
  });

  it("leaves to Date what Date rolls over or reads otherwise", () => {
    for (const s of [
      "2026-02-30T00:00:00.000Z", // Date rolls it over to March 2
      "2025-02-29T00:00:00.000Z",
      "2100-02-29T00:00:00.000Z",
      "2026-04-31T00:00:00.000Z",
      "2026-01-01T24:00:00.000Z",
      "2026-01-01T00:60:00.000Z",
      "2026-01-01T00:00:60.000Z",
      "2026-13-01T00:00:00.000Z",
      "2026-00-01T00:00:00.000Z",
      "2026-01-00T00:00:00.000Z",
      "2026-01-01T00:00:00.000+00:00",
      "2026-01-01T00:00:00Z",
      "2026-01-01T00:00:00.00Z0",
      "2026-01-01 00:00:00.000Z",
      "+2026-01-01T00:00:00.00Z",
      "2026-01-01T00:00:00.0a0Z",
      "2026-1-01T00:00:00.0000Z",
    ])
      expect(parseCanonicalIso(s), s).toBeUndefined();
  });
});

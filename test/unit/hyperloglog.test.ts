import { describe, expect, it } from "vitest";
import { hash64, HyperLogLog } from "../../src/usage/hyperloglog.ts";

describe("HyperLogLog", () => {
  it("estimates 100k distinct ids within 3σ (σ = 1.04/√m)", () => {
    for (const p of [12, 14]) {
      const h = new HyperLogLog(p);
      const n = 100_000;
      for (let i = 0; i < n; i++) h.add(`user-${i}@example.com`);
      const error = Math.abs(h.count() / n - 1);
      expect(error, `p=${p}`).toBeLessThan(3 * h.standardError);
    }
  });

  it("is close to exact for small counts (linear counting)", () => {
    const h = new HyperLogLog();
    for (let i = 0; i < 50; i++) h.add(`u${i}`);
    expect(Math.round(h.count())).toBe(50);
  });

  it("does not count a value twice", () => {
    const h = new HyperLogLog();
    for (let r = 0; r < 5; r++) for (let i = 0; i < 1000; i++) h.add(`u${i}`);
    expect(Math.abs(h.count() / 1000 - 1)).toBeLessThan(3 * h.standardError);
    expect(h.add("u1")).toBe(false);
  });

  it("merges like the union of the sets (overlap counted once)", () => {
    const a = new HyperLogLog();
    const b = new HyperLogLog();
    const all = new HyperLogLog();
    for (let i = 0; i < 30_000; i++) {
      a.add(`id-${i}`);
      all.add(`id-${i}`);
    }
    for (let i = 20_000; i < 50_000; i++) {
      b.add(`id-${i}`);
      all.add(`id-${i}`);
    }
    a.merge(b);
    expect(a.registers).toEqual(all.registers);
    expect(Math.abs(a.count() / 50_000 - 1)).toBeLessThan(3 * a.standardError);
  });

  it("round-trips through bytes (what SQLite stores)", () => {
    const h = new HyperLogLog(12);
    for (let i = 0; i < 5000; i++) h.add(String(i));
    const bytes = h.toBytes();
    expect(bytes.length).toBe(2 + 4096);
    const back = HyperLogLog.fromBytes(bytes);
    expect(back.count()).toBe(h.count());
    expect(() => HyperLogLog.fromBytes(new Uint8Array([9, 12]))).toThrow(RangeError);
  });

  it("refuses to merge sketches of different precision", () => {
    expect(() => new HyperLogLog(12).merge(new HyperLogLog(14))).toThrow(RangeError);
  });

  it("hashes deterministically, to 64 well-mixed bits", () => {
    expect(hash64("user-1")).toEqual(hash64("user-1"));
    expect(hash64("user-1")).not.toEqual(hash64("user-2"));
    // Each output bit is set for about half of the inputs.
    const ones = new Array<number>(64).fill(0);
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const [h1, h2] = hash64(`k${i}`);
      for (let b = 0; b < 32; b++) {
        ones[b]! += (h1 >>> b) & 1;
        ones[32 + b]! += (h2 >>> b) & 1;
      }
    }
    for (const c of ones) expect(Math.abs(c / n - 0.5)).toBeLessThan(0.02);
  });
});

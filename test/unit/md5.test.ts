import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileFilters } from "../../src/pipeline/filters/index.ts";
import { md5Fraction, md5Hex, md5PrefixBelow } from "../../src/pipeline/filters/md5.ts";

function nodeMd5(s: string): Buffer {
  return createHash("md5").update(s, "utf8").digest();
}

function nodeHex(s: string): string {
  return nodeMd5(s).toString("hex");
}

/** The uint64 prefix (digest bytes 0–7, big-endian) as an exact BigInt. */
function nodePrefix(s: string): bigint {
  return nodeMd5(s).readBigUInt64BE(0);
}

/** Deterministic pseudo-random source (mulberry32), so the length sweeps are reproducible. */
function prng(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) | 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** Any UTF-16 code unit, lone surrogates (in any order) included. */
const anyUnitString = (maxLength: number) =>
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)), maxLength });

describe("md5Hex", () => {
  it.each([
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    ["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"],
    ["12345678901234567890123456789012345678901234567890123456789012345678901234567890", "57edf4a22be3c955ac49da2e2107b67a"],
  ])("matches the RFC 1321 test vector for %j", (input, hex) => {
    expect(md5Hex(input)).toBe(hex);
    expect(nodeHex(input)).toBe(hex);
  });

  it("matches node:crypto for every ASCII length 0..200 (all padding boundaries)", () => {
    const random = prng(1);
    for (let n = 0; n <= 200; n++) {
      let s = "";
      for (let i = 0; i < n; i++) s += String.fromCharCode(32 + Math.floor(random() * 95));
      expect(md5Hex(s), `length ${n}`).toBe(nodeHex(s));
      expect(md5Hex("x".repeat(n)), `x × ${n}`).toBe(nodeHex("x".repeat(n)));
    }
  });

  it("matches node:crypto around the padding boundaries in UTF-8 bytes, with 2-, 3- and 4-byte characters", () => {
    for (const wide of ["é", "€", "😀"]) {
      for (const boundary of [55, 56, 63, 64, 119, 120, 127, 128]) {
        // ASCII prefix then one wide character, so the encoded length lands on each side of the boundary.
        for (let bytes = boundary - 4; bytes <= boundary + 4; bytes++) {
          const ascii = bytes - new TextEncoder().encode(wide).length;
          if (ascii < 0) continue;
          const s = "a".repeat(ascii) + wide;
          expect(new TextEncoder().encode(s).length).toBe(bytes);
          expect(md5Hex(s), `${wide} at ${bytes} bytes`).toBe(nodeHex(s));
        }
      }
    }
  });

  it("matches node:crypto for random mixed-width strings of 0..200 code units", () => {
    const random = prng(2);
    const alphabet = ["a", "Z", "0", "\u007f", "\u0080", "é", "\u07ff", "\u0800", "€", "\uffff", "😀", "\u{10ffff}", "\ud800", "\udfff"];
    for (let n = 0; n <= 200; n++) {
      let s = "";
      while (s.length < n) s += alphabet[Math.floor(random() * alphabet.length)];
      expect(md5Hex(s), JSON.stringify(s)).toBe(nodeHex(s));
    }
  });

  it("encodes lone surrogates as U+FFFD, like TextEncoder", () => {
    const replacement = md5Hex("\ufffd");
    for (const lone of ["\ud800", "\udbff", "\udc00", "\udfff"]) expect(md5Hex(lone)).toBe(replacement);
    expect(md5Hex("a\udc00\ud800b")).toBe(md5Hex("a\ufffd\ufffdb"));
    expect(md5Hex("\ud83d")).toBe(md5Hex("\ufffd")); // high surrogate at the very end
    expect(md5Hex("\ud83d\ud83d\ude00")).toBe(md5Hex("\ufffd😀")); // high, then a proper pair
    expect(md5Hex("x\ud800")).toBe(nodeHex("x\ud800"));
  });

  it("matches node:crypto for long inputs, and keeps working for short ones afterwards", () => {
    const random = prng(3);
    let ascii = "";
    while (ascii.length < 100_000) ascii += String.fromCharCode(32 + Math.floor(random() * 95));
    expect(md5Hex(ascii)).toBe(nodeHex(ascii));
    const wide = "€😀é\ud800".repeat(30_000); // beyond the retained buffer: a one-off buffer
    expect(md5Hex(wide)).toBe(nodeHex(wide));
    const medium = "ü".repeat(5_000); // grows the retained buffer
    expect(md5Hex(medium)).toBe(nodeHex(medium));
    for (const s of ["", "abc", '"user-1"', "x".repeat(56)]) expect(md5Hex(s)).toBe(nodeHex(s));
  });

  it("matches node:crypto for arbitrary strings (property)", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 300 }), (s) => md5Hex(s) === nodeHex(s)), { numRuns: 1000 });
    fc.assert(fc.property(anyUnitString(300), (s) => md5Hex(s) === nodeHex(s)), { numRuns: 1000 });
    fc.assert(fc.property(fc.string({ unit: "grapheme", maxLength: 100 }), (s) => md5Hex(s) === nodeHex(s)), { numRuns: 300 });
  });
});

describe("md5Fraction", () => {
  it("equals the exact uint64 prefix over 2^64, rounded once to a double", () => {
    const two64 = 2 ** 64;
    for (let i = 0; i < 10_000; i++) {
      for (const s of [`user-${i}`, JSON.stringify(`id-${i}`), `${i}`]) {
        expect(md5Fraction(s)).toBe(Number(nodePrefix(s)) / two64);
      }
    }
  });

  it("equals the exact fraction for arbitrary strings and lies in [0, 1] (property)", () => {
    fc.assert(
      fc.property(anyUnitString(120), (s) => {
        const f = md5Fraction(s);
        return f === Number(nodePrefix(s)) / 2 ** 64 && f >= 0 && f <= 1;
      }),
      { numRuns: 3000 },
    );
  });

  it("orders like the exact prefix: f < p implies prefix < p·2^64, f > p implies prefix ≥ p·2^64", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), fc.double({ min: 0, max: 1, noNaN: true }), (s, p) => {
        const f = md5Fraction(s);
        const prefix = nodePrefix(s);
        // p·2^64 is exact; ceil makes it an integer without changing `prefix < p·2^64`.
        const bound = BigInt(Math.ceil(p * 2 ** 64));
        if (f < p) return prefix < bound;
        if (f > p) return prefix >= bound;
        return true;
      }),
      { numRuns: 3000 },
    );
  });
});

describe("md5PrefixBelow", () => {
  it("compares the exact 64-bit prefix against a (high, low) threshold", () => {
    for (let i = 0; i < 2_000; i++) {
      const s = `k${i}`;
      const prefix = nodePrefix(s);
      for (const delta of [-1n, 0n, 1n, 1n << 32n, -(1n << 32n)]) {
        const t = prefix + delta;
        if (t < 0n || t >= 1n << 64n) continue;
        const high = Number(t >> 32n);
        const low = Number(t & 0xffffffffn);
        expect(md5PrefixBelow(s, high, low)).toBe(prefix < t);
      }
    }
  });
});

describe("deterministic sampling with md5Fraction", () => {
  it("decides exactly when the rounded fraction equals percent", () => {
    // With percent = md5Fraction(key), `fraction < percent` alone is always false; the exact rule keeps the event
    // iff the true 64-bit prefix is below percent·2^64, i.e. iff rounding moved the prefix up.
    let keptCount = 0;
    for (let i = 0; i < 400; i++) {
      const userId = `tie-${i}`;
      const key = JSON.stringify(userId);
      const percent = md5Fraction(key);
      if (percent <= 0 || percent >= 1) continue;
      const sample = compileFilters([{ title: "tie", if: "all", actions: [{ type: "SAMPLE", percent, path: "userId" }] }]);
      const exact = nodePrefix(key) < BigInt(Math.ceil(percent * 2 ** 64));
      const outcome = sample({ type: "track", event: "A", userId });
      expect(outcome.kept, userId).toBe(exact);
      if (exact) keptCount++;
    }
    // Rounding a 64-bit integer to 53 bits goes up about half the time: both branches are exercised.
    expect(keptCount).toBeGreaterThan(100);
    expect(keptCount).toBeLessThan(300);
  });

  it("matches the exact BigInt rule for random keys and percents", () => {
    fc.assert(
      fc.property(anyUnitString(40), fc.double({ min: 0, max: 1, noNaN: true, minExcluded: true, maxExcluded: true }), (userId, percent) => {
        const sample = compileFilters([{ title: "s", if: "all", actions: [{ type: "SAMPLE", percent, path: "userId" }] }]);
        const exact = nodePrefix(JSON.stringify(userId)) < BigInt(Math.ceil(percent * 2 ** 64));
        return sample({ type: "track", event: "A", userId }).kept === exact;
      }),
      { numRuns: 1000 },
    );
  });
});

/** The readers every vendor kind shares (src/delivery/vendor-context.ts) and the ids they derive (stable-hash.ts). */
import { describe, expect, it } from "vitest";
import { digitPairFor, hashId, uuidFor } from "../../src/delivery/stable-hash.ts";
import { browserOf } from "../../src/delivery/vendor-context.ts";

describe("browserOf", () => {
  it.each([
    ["Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", "Samsung Internet", "25.0"],
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/110.0.0.0", "Opera", "110.0.0.0"],
    ["Opera/9.80 (Windows NT 6.1) Presto/2.12.388 Version/12.16", "Opera", "9.80"],
    ["Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/124.0 Safari/537.36 Edg/124.0", "Microsoft Edge", "124.0"],
    ["Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Mobile Safari", "18.1"],
  ])("%s → %s %s", (ua, name, version) => {
    expect(browserOf(ua)).toEqual({ name, version });
  });
});

describe("derived ids", () => {
  it("hashId, uuidFor and digitPairFor are the same for the same input and differ for another", () => {
    expect(hashId("m-1")).toMatch(/^[0-9a-f]{32}$/);
    const h = hashId("m-1");
    const u = uuidFor("m-1").replace(/-/g, "");
    expect([u.slice(0, 12), u[12], u.slice(13, 16), u.slice(17)]).toEqual([h.slice(0, 12), "5", h.slice(13, 16), h.slice(17)]);
    expect("89ab").toContain(u[16]);
    expect(digitPairFor("u-1")).toBe(`${parseInt(hashId("u-1").slice(0, 8), 16)}.${parseInt(hashId("u-1").slice(8, 16), 16)}`);
    expect(new Set(["m-1", "m-2", "m-3"].map(uuidFor)).size).toBe(3);
  });
});

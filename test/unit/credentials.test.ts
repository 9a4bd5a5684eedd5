/** src/config/credentials.ts: write keys are kept and looked up by digest (sameCredential, the console's CSRF check, runs in the worker tests). */
import { describe, expect, it } from "vitest";
import { CredentialMap } from "../../src/config/credentials.ts";

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

describe("CredentialMap", () => {
  const keys = ["wk_web_1234", "wk_web_5678", "wk_ios_été"];
  const map = new CredentialMap<string>();
  keys.forEach((key, i) => map.set(key, `source ${i}`));

  it("finds each value by its credential, and nothing for any other string", () => {
    keys.forEach((key, i) => expect(map.get(key)).toBe(`source ${i}`));
    for (const other of ["", "wk_web_123", "wk_web_12345", "WK_WEB_1234", "wk_ios_ete", " wk_web_1234"]) expect(map.get(other)).toBeUndefined();
  });

  it("keeps the SHA-256 digests of the credentials, not the credentials", async () => {
    expect([...map.byDigest.keys()].sort()).toEqual((await Promise.all(keys.map(sha256Hex))).sort());
  });
});

/**
 * Tests leave nothing behind: the only place a test makes a folder under the OS temp folder is
 * test/support/temp-folder.ts, which removes it after the test file (also when a test fails).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HELPER = "test/support/temp-folder.ts";
// Spelled in pieces so this file does not match itself.
const MAKES_TEMP = new RegExp(`\\b${"mkd"}temp(?:Sync)?\\(|\\b${"tmp"}dir\\(`);

it("tests make temporary folders only through test/support/temp-folder.ts", () => {
  const files = execFileSync("git", ["ls-files", "-z", "test", "destinations"], { cwd: ROOT, encoding: "utf8" })
    .split("\0")
    .filter((f) => /\.(ts|mjs)$/.test(f) && f !== HELPER && (f.startsWith("test/") || f.endsWith(".test.ts")));
  expect(files).toContain("test/e2e/wrangler-dev.ts");
  const elsewhere = files.flatMap((file) =>
    readFileSync(join(ROOT, file), "utf8")
      .split("\n")
      .flatMap((line, i) => (MAKES_TEMP.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
  );
  expect(elsewhere).toEqual([]);
});

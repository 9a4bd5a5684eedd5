/**
 * The repository stands on its own: no tracked file (code, tests, benchmarks, scripts, config, docs, fixtures)
 * names a path of one machine — a home, root, temp or work folder — or a sibling checkout. Code finds its files
 * relative to itself (`new URL(…, import.meta.url)`); tests make temporary folders with test/support/temp-folder.ts.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

// Spelled in pieces so this file does not match itself.
const MACHINE_FOLDERS = ["work", "home", "root", "Users", "tmp", "var/tmp", "private/var", "mnt/c"];
/** An absolute path into one of them: not part of a longer path, URL or word (`https://x.com/home/` is fine). */
const ABSOLUTE = new RegExp(`(?<![\\w.~-])/(?:${MACHINE_FOLDERS.join("|")})/|\\b[A-Za-z]:\\\\(?:Users|Documents and Settings)\\\\`);
const SIBLING = new RegExp(["\\.\\.", "[\\\\/]", "shared\\b"].join(""));

/** `file:line: text` for every line of a tracked text file that points outside the repository. */
function outsidePointers(): string[] {
  const files = execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0").filter(Boolean);
  expect(files.length).toBeGreaterThan(50);
  const hits: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(join(ROOT, file), "utf8");
    } catch {
      continue; // tracked but deleted in this working tree
    }
    if (text.includes("\0")) continue; // binary
    text.split("\n").forEach((line, i) => {
      if (ABSOLUTE.test(line) || SIBLING.test(line)) hits.push(`${file}:${i + 1}: ${line.trim().slice(0, 160)}`);
    });
  }
  return hits;
}

describe("the repository stands on its own", () => {
  it("recognises machine paths and sibling checkouts, and leaves URLs and relative paths alone", () => {
    const bad = ["/" + "work/main/filters", "'/" + "tmp/sluice'", "file:///" + "home/me/x", ".." + "/shared/fixtures/x", "C:\\" + "Users\\me"];
    for (const line of bad) expect(ABSOLUTE.test(line) || SIBLING.test(line), line).toBe(true);
    const fine = ["https://shop.example.com/home/", "./tmp/x", "node_modules/.tmp/y", "/v1/batch", "/proc/self/stat", "../src/shared.ts"];
    for (const line of fine) expect(ABSOLUTE.test(line) || SIBLING.test(line), line).toBe(false);
  });

  it("no tracked file names an absolute machine path or a sibling checkout", () => {
    expect(outsidePointers()).toEqual([]);
  });
});

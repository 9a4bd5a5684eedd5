/**
 * The documentation stays true to the tree: every relative link in README.md and docs/*.md reaches a file (and
 * heading), every repository path a page names in backticks exists, README stays a five-minute read that links
 * every docs page, and code comments that cite a docs page cite one that exists.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const README = join(ROOT, "README.md");
const DOCS = join(ROOT, "docs");
const README_MAX_LINES = 200;
/** Folders whose paths, named in backticks, must exist. */
const PATH_PREFIXES = ["src/", "destinations/", "test/", "bench/", "scripts/", "filters/"];
/** Where code may cite a docs page in a comment. */
const CODE_FOLDERS = ["src", "destinations", "scripts", "bench", "filters", "test"];

const docPages = readdirSync(DOCS).filter((f) => f.endsWith(".md")).sort().map((f) => join(DOCS, f));
const pages = [README, ...docPages];
const rel = (file: string) => relative(ROOT, file);

/** The page without fenced code blocks (their contents are examples, not links or references). */
function prose(text: string): string {
  let fenced = false;
  return text
    .split("\n")
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) {
        fenced = !fenced;
        return "";
      }
      return fenced ? "" : line;
    })
    .join("\n");
}

/** Inline code spans of prose. */
const codeSpans = (text: string): string[] => [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);

/** Link targets of prose, inline code spans removed first. */
const linkTargets = (text: string): string[] =>
  [...text.replace(/`[^`\n]*`/g, "").matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);

/** GitHub's anchor for a heading: lower case, punctuation dropped, each space a hyphen; repeats get -1, -2, …. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of prose(markdown).split("\n")) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = heading[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Literal entries of .gitignore (generated files: named in docs, never committed), as path prefixes or patterns. */
const ignored: RegExp[] = readFileSync(join(ROOT, ".gitignore"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "" && !l.startsWith("#"))
  .map((l) => new RegExp(`^${l.replace(/^\//, "").replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}${l.endsWith("/") ? "" : "(/|$)"}`));

/** A repository path named in a page, cut before its first placeholder segment (`<id>`, `*`, `…`). */
function concretePart(path: string): string {
  const segments = path.replace(/[:,.;]+$/, "").split("/");
  const cut = segments.findIndex((s) => /[<*…{]/.test(s));
  return cut === -1 ? segments.join("/") : segments.slice(0, cut).join("/") + "/";
}

describe("README", () => {
  const text = readFileSync(README, "utf8");

  it(`is at most ${README_MAX_LINES} lines`, () => {
    expect(text.replace(/\n$/, "").split("\n").length).toBeLessThanOrEqual(README_MAX_LINES);
  });

  it("links every docs page", () => {
    const linked = new Set(linkTargets(prose(text)).map((t) => resolve(ROOT, t.split("#")[0]!)));
    expect(docPages.length).toBeGreaterThan(0);
    expect(docPages.filter((p) => !linked.has(p)).map(rel)).toEqual([]);
  });
});

describe.each(pages.map((p) => [rel(p), p] as const))("%s", (_name, page) => {
  const text = prose(readFileSync(page, "utf8"));

  it("has relative links that reach a file and, with #anchor, a heading in it", () => {
    const broken: string[] = [];
    for (const target of linkTargets(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, mailto:, …: not in the repository
      const [path, anchor] = target.split("#") as [string, string | undefined];
      const file = path === "" ? page : resolve(dirname(page), decodeURIComponent(path));
      if (!existsSync(file)) broken.push(`${target}: no file ${rel(file)}`);
      else if (anchor !== undefined && (!file.endsWith(".md") || !anchors(readFileSync(file, "utf8")).has(anchor)))
        broken.push(`${target}: no heading #${anchor} in ${rel(file)}`);
    }
    expect(broken).toEqual([]);
  });

  it("names only repository paths that exist", () => {
    const named = codeSpans(text).filter((span) => PATH_PREFIXES.some((p) => span.startsWith(p)) && !/\s/.test(span));
    const missing = named
      .map(concretePart)
      .filter((path) => !ignored.some((re) => re.test(path)) && !existsSync(join(ROOT, path)));
    expect(missing).toEqual([]);
  });
});

describe("code comments", () => {
  it("cite docs pages that exist", () => {
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((name) => {
        const path = join(dir, name);
        return statSync(path).isDirectory() ? files(path) : [path];
      });
    const cited = CODE_FOLDERS.flatMap((folder) => files(join(ROOT, folder)))
      .flatMap((file) => [...readFileSync(file, "utf8").matchAll(/\bdocs\/[\w-]+\.md/g)].map((m) => ({ file: rel(file), page: m[0] })));
    expect(cited.filter(({ page }) => !existsSync(join(ROOT, page)))).toEqual([]);
  });
});

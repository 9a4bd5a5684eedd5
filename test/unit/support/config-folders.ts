/**
 * Config folders for unit tests: each call writes files into a fresh folder under one temporary root (removed
 * after the test file), the repository's demo folder, and the helpers to point at what a config error names.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfigDir, type ConfigError, type LoadResult } from "../../../src/config/load.ts";
import { tempFolder } from "../../support/temp-folder.ts";

/** A temporary root for this test file; `folder(files)` writes `files` (paths relative to it) into a new folder. */
export function configFolders(prefix: string): { root: string; folder(files: Record<string, string>): string } {
  const root = tempFolder(prefix);
  let folders = 0;
  return {
    root,
    folder(files) {
      const dir = join(root, `case-${++folders}`);
      mkdirSync(dir);
      for (const [name, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, name)), { recursive: true });
        writeFileSync(join(dir, name), text);
      }
      return dir;
    },
  };
}

/** The checkout this file is in: its demo config folder is `filters`. */
const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** The demo config folder of this checkout (`filters`), file names shown relative to the repository. */
export const loadDemoConfig = (): LoadResult => loadConfigDir(join(REPO_ROOT, "filters"), REPO_ROOT);

/** 1-based line of the only line containing `marker` (asserted unique, so tests cannot point at the wrong one). */
export function lineOf(text: string, marker: string): number {
  const hits = text.split("\n").flatMap((l, i) => (l.includes(marker) ? [i + 1] : []));
  if (hits.length !== 1) throw new Error(`marker ${JSON.stringify(marker)} found ${hits.length} times`);
  return hits[0]!;
}

/** Errors reduced to what an operator reads first: where and about what. */
export const where = (errors: ConfigError[]) => errors.map(({ file, line, rule }) => ({ file, line, rule }));

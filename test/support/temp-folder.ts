/**
 * Temporary folders for tests: made under the OS temp folder and removed after the test file, also when a test or
 * a hook fails (vitest runs afterAll hooks regardless, in reverse order of registration: call this before
 * registering the afterAll that stops whatever writes into the folder). Call it where vitest can register a hook:
 * at the top level of a test file or of a module the file imports, not inside a hook or a test.
 * test/unit/temp-folders.test.ts keeps tests from making temporary folders any other way.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

export function tempFolder(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `sluice-${prefix}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Build step run by `wrangler dev`/`wrangler deploy` (wrangler.toml [build]): checks the config folder and
 * writes it, compiled, where the worker imports it (`sluice-config`, see tsconfig paths).
 *   SLUICE_CONFIG_DIR  folder to read (default: filters)
 *   SLUICE_CONFIG_OUT  file to write (default: .sluice/config.ts)
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildConfigModule } from "../src/config/build.ts";
import { formatConfigError, loadConfigDir } from "../src/config/load.ts";
import { withRevision } from "../src/config/revision.ts";

/** HEAD of the checkout the config folder is in; undefined without git or outside a checkout. */
function gitCommit(folder: string): string | undefined {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { cwd: folder, stdio: ["ignore", "pipe", "ignore"], encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const dir = process.env.SLUICE_CONFIG_DIR || "filters";
const out = resolve(process.env.SLUICE_CONFIG_OUT || ".sluice/config.ts");
const { config, errors } = loadConfigDir(dir);
if (!config) {
  for (const e of errors) console.error(formatConfigError(e));
  console.error(`sluice: ${errors.length} config error(s) in ${dir}; nothing built`);
  process.exit(1);
}
mkdirSync(dirname(out), { recursive: true });
const model = fileURLToPath(new URL("../src/config/model.ts", import.meta.url));
const modelImport = relative(dirname(out), model).replaceAll("\\", "/");
writeFileSync(out, buildConfigModule(withRevision(config, new Date(), gitCommit(dir)), modelImport.startsWith(".") ? modelImport : `./${modelImport}`));
console.log(`sluice: built ${config.sources.length} source(s), ${config.destinations.length} destination(s) from ${dir}`);

/**
 * `sluice <command>`: operator tools that run before deploy (check) or against a running Sluice.
 */
import { formatConfigError, loadConfigDir } from "../config/load.ts";
import { secretRefs } from "../config/secrets.ts";

const USAGE = `usage: sluice <command> [options]

commands:
  check [dir]     validate a config folder without deploying (default: $SLUICE_CONFIG_DIR or filters)
  help            this text`;

export function configDir(arg: string | undefined): string {
  return arg ?? (process.env.SLUICE_CONFIG_DIR || "filters");
}

function check(args: string[]): number {
  const dir = configDir(args[0]);
  const { config, errors } = loadConfigDir(dir);
  if (!config) {
    for (const e of errors) console.error(formatConfigError(e));
    console.error(`${dir}: ${errors.length} error(s)`);
    return 1;
  }
  const secrets = [...secretRefs(config.destinations.map((d) => d.settings))].sort();
  console.log(
    `${dir}: OK — ${config.sources.length} source(s), ${config.destinations.length} destination(s)` +
      (secrets.length ? `; secrets to set: ${secrets.join(", ")}` : ""),
  );
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case "check":
      return check(args);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return command === undefined ? 1 : 0;
    default:
      console.error(`sluice: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

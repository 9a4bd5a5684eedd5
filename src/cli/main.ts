/**
 * `sluice <command>`: operator tools that run before deploy (check) or against a running Sluice.
 */
import { formatConfigError, loadConfigDir } from "../config/load.ts";
import { secretRefs } from "../config/secrets.ts";
import { AdminError, archiveCommand } from "./admin.ts";
import { auditCommand, tokenCommand, whoamiCommand } from "./access.ts";
import { dryRun, runFilterTests } from "./filters.ts";
import { USAGE_HELP, usageCommand } from "./usage.ts";
import { WAREHOUSE_HELP, warehouseCommand } from "./warehouse.ts";
import { NAMES_HELP, namesCommand } from "./names.ts";

const USAGE = `usage: sluice <command> [options]

commands:
  check [dir]     validate a config folder without deploying (default: $SLUICE_CONFIG_DIR or filters)
  test [dir]      run the tests: of every filter file in the config folder
  filter --rules <file.yaml|json|dir> [--destination <id>] [--source <id>] < events.ndjson
                  dry run: print each event as the destination would receive it, or null when dropped
                  (a filter file, e.g. a Segment export; or a config folder with --destination)
  dead-letters list|show <id>|replay [<id>]|purge [<id>]  [--url u] [--token t] [filters]
                  inspect and replay what destinations could not take (filters: --destination --source
                  --from --to --name --category --status --limit; --json true for JSON)
  quarantine list|show <id>|replay [<id>]|purge [<id>]  [--url u] [--token t] [filters]
                  inspect what tracking plans quarantined; replay re-runs the current plan and filters
                  (filters: --source --from --to --name (event) --category (violation type) --status --limit)
  ${USAGE_HELP}
  whoami [--url u] [--token t]   the token's id, role and scope
  audit [--by <token id>] [--action a] [--from time] [--to time] [--limit n] [--cursor c] [--json true]
                  the audit trail of replays, purges and reads of event bodies (admin)
  token           print a new random access token and its sha256 for the config
  ${WAREHOUSE_HELP}
  ${NAMES_HELP}
  (--token defaults to $SLUICE_TOKEN, else $SLUICE_ADMIN_TOKEN, else $ADMIN_TOKEN; --url to $SLUICE_URL)
  help            this text`;

/** Parses `--name value` options; returns them and the positional arguments. */
export function parseOptions(args: string[]): { options: Record<string, string>; positional: string[] } {
  const options: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
      const inline = eq === -1 ? undefined : a.slice(eq + 1);
      const value = inline ?? args[++i];
      if (value === undefined) throw new Error(`option --${name} needs a value`);
      options[name] = value;
    } else positional.push(a);
  }
  return { options, positional };
}

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
  // Every `${env.NAME}` the deployed worker will resolve: destination settings and filter actions (e.g. a salt).
  const secrets = [...secretRefs([config.destinations.map((d) => d.settings), config.filters, config.sourceFilters, config.access?.tokens.map((t) => t.secret)])].sort();
  const tokens = config.access?.tokens.length ?? 0;
  console.log(
    `${dir}: OK — ${config.sources.length} source(s), ${config.destinations.length} destination(s)` +
      (tokens ? `, ${tokens} access token(s)` : "") +
      (secrets.length ? `; secrets to set: ${secrets.join(", ")}` : ""),
  );
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case "check":
      return check(args);
    case "test":
      return runFilterTests(configDir(args[0]));
    case "filter": {
      let options: Record<string, string>;
      try {
        ({ options } = parseOptions(args));
      } catch (err) {
        console.error(`sluice filter: ${(err as Error).message}\n\n${USAGE}`);
        return 2;
      }
      if (!options.rules) {
        console.error(`sluice filter: --rules <file|dir> is required\n\n${USAGE}`);
        return 2;
      }
      return dryRun({ rules: options.rules, destination: options.destination, source: options.source }, process.stdin, (l) => process.stdout.write(`${l}\n`));
    }
    case "dead-letters":
    case "quarantine":
    case "whoami":
    case "audit":
    case "names": {
      try {
        const { options, positional } = parseOptions(args);
        if (command === "whoami") return await whoamiCommand(options);
        if (command === "audit") return await auditCommand(options);
        if (command === "names") return await namesCommand(options);
        return await archiveCommand(command, positional, options);
      } catch (err) {
        if (err instanceof AdminError || (err instanceof Error && err.message.startsWith("option --"))) {
          console.error(`sluice ${command}: ${err.message}`);
          return 2;
        }
        throw err;
      }
    }
    case "warehouse": {
      let parsed: ReturnType<typeof parseOptions>;
      try {
        parsed = parseOptions(args);
      } catch (err) {
        console.error(`sluice warehouse: ${(err as Error).message}`);
        return 2;
      }
      return await warehouseCommand(parsed.positional, parsed.options, configDir(undefined));
    }
    case "usage":
      return usageCommand(args);
    case "token":
      return tokenCommand();
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

/**
 * `sluice warehouse schema --source <id> [--events file.ndjson] [--destination <id>] [--config dir]`: prints, as
 * SQL, the tables and columns a warehouse destination would create for a corpus of events, before anything is
 * loaded. The destination kind plans it with the code its loader runs (`schemaSql` in its definition).
 */
import { readFileSync } from "node:fs";
import { destinationKinds } from "../../destinations/index.ts";
import type { DestinationDefinition } from "../delivery/destination.ts";
import { formatConfigError, loadConfigDir } from "../config/load.ts";
import type { Problem } from "../config/schema.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";

export const WAREHOUSE_HELP = `warehouse schema --source <id> [--events file.ndjson] [--destination <id>] [--config dir]
                  print the SQL of the tables and columns a warehouse destination would create for these
                  events (NDJSON from --events or stdin), with the settings of the config's warehouse
                  destination for the source, or the kind's defaults when it has none`;

interface Target {
  kind: DestinationDefinition<unknown>;
  settings: unknown;
  from: string;
}

/** The config's warehouse destination for `source` (or the one named), else the first warehouse kind's defaults. */
function target(dir: string, source: string, destinationId: string | undefined): Target | string {
  const { config, errors } = loadConfigDir(dir);
  if (!config) return errors.map(formatConfigError).join("\n");
  const warehouses = config.destinations.filter((d) => destinationKinds[d.kind]?.schemaSql);
  const dest = destinationId !== undefined ? config.destinations.find((d) => d.id === destinationId) : warehouses.find((d) => d.sources === "*" || d.sources.includes(source));
  if (destinationId !== undefined && !dest) return `${dir}: no destination "${destinationId}"`;
  if (dest) {
    const kind = destinationKinds[dest.kind]!;
    if (!kind.schemaSql) return `destination "${dest.id}" (kind ${dest.kind}) is not a warehouse`;
    const problems: Problem[] = [];
    const settings = kind.settings.check(dest.settings, [], problems);
    if (settings === undefined || problems.length) return `destination "${dest.id}": ${problems.map((p) => p.message).join("; ")}`;
    return { kind, settings, from: `destination "${dest.id}" in ${dir}` };
  }
  const kind = Object.values(destinationKinds).find((k) => k.schemaSql);
  if (!kind) return "no destination kind plans a warehouse schema";
  return { kind, settings: kind.settings.check({}, [], []), from: `kind ${kind.kind} with its default settings (no warehouse destination for source "${source}" in ${dir})` };
}

function readEvents(text: string, now: string): SluiceEvent[] {
  return text
    .split("\n")
    .map((line, i) => [line.trim(), i + 1] as const)
    .filter(([line]) => line !== "")
    .map(([line, n]) => {
      let event: unknown;
      try {
        event = JSON.parse(line);
      } catch (err) {
        throw new Error(`line ${n}: ${(err as Error).message}`);
      }
      if (typeof event !== "object" || event === null || Array.isArray(event)) throw new Error(`line ${n}: not a JSON object`);
      return { receivedAt: now, ...(event as Record<string, unknown>) } as SluiceEvent;
    });
}

export async function warehouseCommand(positional: string[], options: Record<string, string>, configDir: string, out: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  if (positional[0] !== "schema" || !options.source) {
    console.error(`usage: sluice ${WAREHOUSE_HELP}`);
    return 1;
  }
  const found = target(options.config ?? configDir, options.source, options.destination);
  if (typeof found === "string") {
    console.error(`sluice warehouse: ${found}`);
    return 1;
  }
  if (options.events === undefined && process.stdin.isTTY) {
    console.error("sluice warehouse: give the events with --events file.ndjson or on stdin");
    return 1;
  }
  let events: SluiceEvent[];
  try {
    events = readEvents(readFileSync(options.events ?? 0, "utf8"), new Date().toISOString());
  } catch (err) {
    console.error(`sluice warehouse: ${options.events ?? "stdin"}: ${(err as Error).message}`);
    return 1;
  }
  out(`-- ${events.length} event(s) of source ${options.source}, planned by ${found.from}\n`);
  out(found.kind.schemaSql!(events, events.map(() => options.source!), found.settings));
  return 0;
}

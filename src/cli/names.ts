/**
 * `sluice names --source <id> [--days 7] [--url u] [--token t] [--json true]`: every event name the source sent
 * in the last days, its count, whether it is planned, the naming convention check and a "did you mean"
 * suggestion, from the running worker's `GET /admin/names` (connection as the other admin commands).
 */
import type { NamesReport } from "../alerts/names.ts";
import { adminConnection, AdminError } from "./admin.ts";

export const NAMES_HELP = `names --source <id> [--days 7] [--url u] [--token t] [--json true]
                  every event name the source sent: count, planned, naming convention, did you mean`;

/** The report as the CLI prints it. */
export function formatNames(r: NamesReport): string {
  const rows = r.names.map((n) => [n.name, n.count.toLocaleString("en-US"), n.planned ? "yes" : "no", n.convention_ok === undefined ? "-" : n.convention_ok ? "ok" : "off", n.suggestion ?? ""]);
  const head = ["name", "count", "planned", r.convention ? `convention (${r.convention})` : "convention", "did you mean"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  const out = [`source ${r.source}, since ${r.since}:00Z: ${r.names.length} name(s)`, line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
  if (r.unseen_planned.length > 0) out.push("", `planned but not seen: ${r.unseen_planned.join(", ")}`);
  return out.join("\n");
}

/** @param options parsed `--name value` options. @returns the exit code */
export async function namesCommand(options: Record<string, string>, io: { log: (s: string) => void; fetch: typeof fetch } = { log: console.log, fetch: (i, init) => fetch(i, init) }): Promise<number> {
  if (!options.source) throw new AdminError("usage: sluice " + NAMES_HELP.split("\n")[0]);
  const conn = adminConnection(options);
  const q = new URLSearchParams({ source: options.source, ...(options.days ? { days: options.days } : {}) });
  const path = `/admin/names?${q}`;
  let res: Response;
  try {
    res = await io.fetch(`${conn.url}${path}`, { headers: { authorization: `Bearer ${conn.token}` } });
  } catch (err) {
    throw new AdminError(`cannot reach ${conn.url}: ${(err as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as NamesReport & { error?: { code?: string; message?: string } };
  if (!res.ok) throw new AdminError(`GET ${path}: HTTP ${res.status} ${body.error?.code ?? ""}: ${body.error?.message ?? ""}`);
  io.log(options.json === "true" ? JSON.stringify(body, null, 2) : formatNames(body));
  return 0;
}

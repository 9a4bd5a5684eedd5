/**
 * `sluice usage --url <worker url> --token <admin token> [--source id] [--since YYYY-MM-DD] [--json]`:
 * per source and day, requests, accepted events, bytes, duplicates, rejections and distinct users, then the MTU
 * per month, from the running worker's `GET /admin/usage`. --url and --token default to $SLUICE_URL and ($SLUICE_TOKEN,
 * $SLUICE_ADMIN_TOKEN (or $ADMIN_TOKEN).
 */
import type { SourceUsage } from "../usage/report.ts";

export const USAGE_HELP = `usage --url <worker url> --token <admin token> [--source <id>] [--since YYYY-MM-DD] [--json]
                  usage per source and day (requests, accepted, bytes, duplicates, rejected, users) and MTU`;

const VALUE_OPTIONS = ["url", "token", "source", "since"];

/** `--json` is a flag (`--json true` also works); the others take a value (`--name value` or `--name=value`). */
export function parseUsageArgs(args: string[]): { options: Record<string, string>; json: boolean } {
  const options: Record<string, string> = {};
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--json" || a === "--json=true" || a === "--json=false") {
      // `--json true` too, as the dead-letters command spells it.
      const value = a.includes("=") ? a.slice(7) : args[i + 1] === "true" || args[i + 1] === "false" ? args[++i] : "true";
      json = value === "true";
      continue;
    }
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(a);
    if (!m || !VALUE_OPTIONS.includes(m[1]!)) throw new Error(`unknown argument ${JSON.stringify(a)}`);
    const value = m[2] ?? args[++i];
    if (value === undefined) throw new Error(`option --${m[1]} needs a value`);
    options[m[1]!] = value;
  }
  return { options, json };
}

const n = (x: number) => x.toLocaleString("en-US");

function table(header: string[], rows: string[][], numeric: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The report as the CLI prints it: one table of days, one of months. */
export function formatUsage(sources: SourceUsage[]): string {
  const days = sources.flatMap((s) =>
    s.days.map((d) => [
      s.source,
      d.day,
      n(d.requests),
      n(d.accepted),
      n(d.bytes),
      n(d.duplicates),
      Object.entries(d.rejected)
        .map(([code, k]) => `${code}:${k}`)
        .join(" ") || "-",
      n(d.users),
    ]),
  );
  const months = sources.flatMap((s) =>
    s.months.map((m) => [s.source, m.month, n(m.mtu), m.budget === undefined ? "-" : n(m.budget), m.share === undefined ? "-" : `${Math.round(m.share * 100)}%`, m.alertSentAt ?? "-"]),
  );
  const out = [
    days.length > 0
      ? table(["source", "day", "requests", "accepted", "bytes", "duplicates", "rejected", "users"], days, [false, false, true, true, true, true, false, true])
      : "no usage recorded in this period",
  ];
  if (months.length > 0) out.push("", table(["source", "month", "mtu", "budget", "share", "alert sent"], months, [false, false, true, true, true, false]));
  return out.join("\n");
}

/** @returns the exit code: 0 when the report was printed, 1 when the API failed, 2 on bad arguments. */
export async function usageCommand(args: string[], io: { log?: (s: string) => void; error?: (s: string) => void; fetch?: typeof fetch } = {}): Promise<number> {
  const log = io.log ?? console.log;
  const error = io.error ?? console.error;
  let parsed: ReturnType<typeof parseUsageArgs>;
  try {
    parsed = parseUsageArgs(args);
  } catch (err) {
    error(`sluice usage: ${(err as Error).message}\n  ${USAGE_HELP}`);
    return 2;
  }
  const { options, json } = parsed;
  const url = (options.url ?? process.env.SLUICE_URL)?.replace(/\/+$/, "");
  const token = options.token ?? process.env.SLUICE_TOKEN ?? process.env.SLUICE_ADMIN_TOKEN ?? process.env.ADMIN_TOKEN;
  if (!url || !token) {
    error(`sluice usage: --url and --token are required\n  ${USAGE_HELP}`);
    return 2;
  }
  const query = new URLSearchParams();
  if (options.source) query.set("source", options.source);
  if (options.since) query.set("since", options.since);
  const path = `/admin/usage${query.size > 0 ? `?${query}` : ""}`;
  let res: Response;
  try {
    res = await (io.fetch ?? fetch)(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  } catch (err) {
    error(`sluice usage: cannot reach ${url}: ${(err as Error).message}`);
    return 1;
  }
  const text = await res.text();
  let body: { since?: string; sources?: SourceUsage[]; error?: { code?: string; message?: string } };
  try {
    body = JSON.parse(text);
  } catch {
    error(`sluice usage: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
    return 1;
  }
  if (!res.ok || !body.sources) {
    error(`sluice usage: HTTP ${res.status} ${body.error?.code ?? ""}: ${body.error?.message ?? text.slice(0, 200)}`);
    return 1;
  }
  log(json ? JSON.stringify(body, null, 2) : formatUsage(body.sources));
  return 0;
}

/**
 * CLI commands that talk to a running Sluice through its admin API: `dead-letters` (and, with the same shape,
 * `quarantine`). Connection: --url (or $SLUICE_URL, default http://127.0.0.1:8787) and --token (or
 * $SLUICE_TOKEN / $SLUICE_ADMIN_TOKEN / $ADMIN_TOKEN): an access token or the admin token (docs/access.md).
 */
import type { ArchiveEntry } from "../storage/archive-object.ts";

export interface AdminConnection {
  url: string;
  token: string;
}

export class AdminError extends Error {}

/** Reads --url/--token (or the environment); throws AdminError when no token is known. */
export function adminConnection(options: Record<string, string>): AdminConnection {
  const url = (options.url ?? process.env.SLUICE_URL ?? "http://127.0.0.1:8787").replace(/\/+$/, "");
  const token = options.token ?? process.env.SLUICE_TOKEN ?? process.env.SLUICE_ADMIN_TOKEN ?? process.env.ADMIN_TOKEN;
  if (!token) throw new AdminError("no token: pass --token or set SLUICE_TOKEN (an access token or ADMIN_TOKEN)");
  return { url, token };
}

/** One admin API call; a non-2xx answer becomes an AdminError carrying the API's own message. */
export async function adminRequest<T>(conn: AdminConnection, method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${conn.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${conn.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new AdminError(`cannot reach ${conn.url}: ${(err as Error).message}`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AdminError(`${method} ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: string; message?: string } }).error;
    throw new AdminError(`${method} ${path}: HTTP ${res.status} ${err?.code ?? ""}: ${err?.message ?? text.slice(0, 200)}`);
  }
  return json as T;
}

const FILTERS = ["destination", "source", "from", "to", "name", "category", "status", "limit"] as const;

function filters(options: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of FILTERS) if (options[k] !== undefined) out[k] = options[k]!;
  return out;
}

type Entry = ArchiveEntry;

function table(entries: Entry[]): string {
  const rows = entries.map((e) => [new Date(e.at).toISOString(), e.id, e.destination === "-" ? e.source : `${e.source}→${e.destination}`, e.name, e.category, String(e.events), String(e.attempts), e.status, e.reason.slice(0, 60)]);
  const head = ["time", "id", "route", "events of", "category", "n", "tries", "status", "reason"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

/** The earlier of a user's `--to` (ISO-8601 or epoch ms) and a server time (ms). */
function earlier(to: string | undefined, ms: number): number {
  const given = to === undefined ? Number.NaN : /^\d+$/.test(to) ? Number(to) : Date.parse(to);
  return Number.isFinite(given) && given < ms ? given : ms;
}

/**
 * `{ all: true }` when neither filters nor an id select entries: the server needs it, and the operator must say so
 * with `--all true`.
 */
function everything(options: Record<string, string>, id: string | undefined, action: string): { all?: true } {
  const selecting = Object.keys(filters(options)).some((k) => k !== "limit");
  if (id || selecting) return {};
  if (options.all !== "true") throw new AdminError(`refusing to ${action} everything: give filters, an id, or --all true`);
  return { all: true };
}

/**
 * `sluice <archive> list|show|replay|purge`.
 * @returns the exit code
 */
export async function archiveCommand(archive: "dead-letters" | "quarantine", args: string[], options: Record<string, string>, log = console.log): Promise<number> {
  const [action, id] = args;
  const conn = adminConnection(options);
  const base = `/admin/${archive}`;
  switch (action) {
    case "list": {
      const q = new URLSearchParams(filters(options)).toString();
      const res = await adminRequest<{ count: number; totals: Record<string, number>; entries: Entry[] }>(conn, "GET", `${base}${q ? `?${q}` : ""}`);
      if (options.json !== undefined) log(JSON.stringify(res, null, 2));
      else log(`${table(res.entries)}\n${res.count} shown; stored ${res.totals.stored}, replayed ${res.totals.replayed}, replaying ${res.totals.replaying}`);
      return 0;
    }
    case "show": {
      if (!id) throw new AdminError(`usage: sluice ${archive} show <id>`);
      log(JSON.stringify(await adminRequest(conn, "GET", `${base}/${encodeURIComponent(id)}`), null, 2));
      return 0;
    }
    case "replay": {
      const body: Record<string, unknown> = { ...filters(options), ...(id ? { ids: [id] } : {}), ...everything(options, id, "replay") };
      const page = Math.min(Number(options.limit ?? 100) || 100, 500);
      let total = { replayed: 0, kept: 0, failed: 0, events: 0 };
      // Pages until nothing more can be claimed; each page reports progress. After the first page, only entries
      // stored before the replay began (the server's `asOf`): what it stores again waits for the next replay.
      for (;;) {
        const res = await adminRequest<{ claimed: number; replayed: number; kept: number; failed: number; events: number; remaining: number; asOf?: number; errors: { id: string; error: string }[] }>(conn, "POST", `${base}/replay`, { ...body, limit: page });
        if (res.asOf !== undefined && typeof body.to !== "number") body.to = earlier(options.to, res.asOf);
        total = { replayed: total.replayed + res.replayed, kept: total.kept + res.kept, failed: total.failed + res.failed, events: total.events + res.events };
        for (const e of res.errors) log(`  failed ${e.id}: ${e.error}`);
        log(`replayed ${total.replayed} (${total.events} events)${archive === "quarantine" ? `, still failing ${total.kept}` : ""}, failed ${total.failed}, remaining ${res.remaining}`);
        if (id || res.claimed === 0 || res.replayed + res.kept === 0 || res.remaining === 0) break;
      }
      return total.failed === 0 ? 0 : 1;
    }
    case "purge": {
      const res = await adminRequest<{ purged: number }>(conn, "POST", `${base}/purge`, { ...filters(options), ...(id ? { ids: [id] } : {}), ...everything(options, id, "purge") });
      log(`purged ${res.purged}`);
      return 0;
    }
    default:
      throw new AdminError(`usage: sluice ${archive} list|show <id>|replay [<id>]|purge [<id>] [--all true] [--destination id] [--source id] [--from time] [--to time] [--name text] [--category text] [--status stored|replayed] [--limit n] [--json true]`);
  }
}

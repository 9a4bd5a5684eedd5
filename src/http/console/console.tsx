/** @jsxImportSource hono/jsx */
/**
 * The operator console, served at /console by the worker itself: sign-in, Live (a WebSocket to the source's
 * LiveObject), Delivery overview, Tracking plan, Dead letters, Usage. Actions and reads of the archives, plans and
 * usage go through the admin API's own routes, called in-process (`deps.admin`), so the console does exactly what
 * /admin does, with the signed-in operator's own token rights and scope (`asOperator`): pages show only the sources
 * of its scope, actions its role lacks are hidden (and refused with the API's message), and each action is audited
 * under its token id. Every page needs a session (else the sign-in page; sockets and actions: 401); every POST needs
 * the console's own Origin and the session's CSRF token (else 403).
 */
import { sameCredential } from "../../config/credentials.ts";
import { Hono, type Context, type ExecutionContext as HonoExecutionContext } from "hono";
import type { Child } from "hono/jsx";
import type { CompiledPipeline } from "../../pipeline/compile.ts";
import { destinationMetrics } from "../../metrics.ts";
import type { ArchiveEntry } from "../../storage/archive-object.ts";
import { LIVE_BODIES_HEADER } from "../../storage/live-object.ts";
import type { SourceUsage } from "../../usage/report.ts";
import type { PlanCounters, Breakdown } from "../plan-routes.ts";
import type { AuditRecord } from "../../access/audit.ts";
import { can, inScope, type Principal } from "../../access/principal.ts";
import { visible } from "../../access/scope.ts";
import { asOperator } from "../access.ts";
import type { SluiceEnv } from "../env.ts";
import { authenticate, principalById } from "./auth.ts";
import { CLIENT_SCRIPT } from "./client.ts";
import { Rights, type RightsView } from "./layout.tsx";
import { Audit, ConfirmPurge, DeadLetters, Delivery, Entry, ErrorPage, Live, Plan, SignIn, Usage, type DestinationView, type PlanView } from "./pages.tsx";
import { canSign, cookieValue, newSession, readSession, sameOrigin, sessionCookie, type Session } from "./session.ts";

export interface ConsoleDeps {
  pipeline: (env: SluiceEnv) => CompiledPipeline;
  /** The admin API (the app's own /admin routes), called in-process. */
  admin: (request: Request, env: SluiceEnv, ctx: HonoExecutionContext) => Response | Promise<Response>;
}

type Env = { Bindings: SluiceEnv; Variables: { session: Session } };
type Ctx = Context<Env>;

/** Headers on every console response: no caching, no framing, scripts and connections only from the worker. */
const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  // Not no-referrer: under it a browser sends `Origin: null` on its own form posts, which the Origin check refuses.
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
  "x-frame-options": "DENY",
};

export const WINDOWS = { "1h": 1, "24h": 24, "7d": 168 } as const;

/** What the pages may offer a principal. */
function rightsOf(p: Principal): RightsView {
  return { id: p.id, role: p.role, replay: can(p, "replay"), purge: can(p, "purge"), readEvents: can(p, "read.events"), audit: can(p, "audit.read") };
}

class ConsoleError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The console, its routes under /console. */
export function createConsole(deps: ConsoleDeps): Hono<Env, {}, "/console"> {
  const app = new Hono<Env>().basePath("/console");
  const session = (c: Ctx) => readSession(c.env, cookieValue(c.req.header("cookie")), (id) => principalById(id, c.env, deps.pipeline(c.env).config));
  /** A page, rendered with the signed-in operator's rights (the navigation and the actions offered follow them). */
  const render = (c: Ctx, node: Child, status = 200) => {
    const s = c.get("session");
    return c.html(<Rights.Provider value={s ? rightsOf(s.principal) : undefined}>{node}</Rights.Provider>, status as 200);
  };

  app.onError((err, c) => {
    const status = err instanceof ConsoleError ? err.status : 500;
    if (!(err instanceof ConsoleError)) console.error(JSON.stringify({ msg: "console error", path: c.req.path, error: String(err) }));
    return render(c, <ErrorPage status={status} message={err instanceof ConsoleError ? err.message : "internal error"} csrf={c.get("session")?.csrf} />, status);
  });

  app.use("*", async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) if (c.res.status !== 101) c.res.headers.set(k, v);
  });

  app.get("/app.js", (c) => c.body(CLIENT_SCRIPT, 200, { "content-type": "text/javascript; charset=utf-8" }));

  app.get("/sign-in", async (c) => {
    if (await session(c)) return c.redirect("/console/live", 303);
    return render(c, <SignIn error={canSign(c.env) ? undefined : NO_SESSION_KEY} />);
  });

  app.post("/sign-in", async (c) => {
    if (!sameOrigin(c.req.raw)) return c.text("cross-site request refused", 403);
    const form = await c.req.parseBody();
    const token = typeof form.token === "string" ? form.token : "";
    const operator = authenticate(token, c.env, deps.pipeline(c.env).config);
    if (!operator) return render(c, <SignIn error="That token is not an operator token (an access token or ADMIN_TOKEN)." />, 401);
    if (!canSign(c.env)) return render(c, <SignIn error={NO_SESSION_KEY} />, 503);
    c.header("set-cookie", sessionCookie(await newSession(c.env, operator)));
    return c.redirect("/console/live", 303);
  });

  // Everything below needs a session; POSTs also the console's origin and the session's CSRF token.
  app.use("*", async (c, next) => {
    const current = await session(c);
    const isPage = c.req.method === "GET" && c.req.header("upgrade")?.toLowerCase() !== "websocket";
    if (!current) return isPage ? c.redirect("/console/sign-in", 303) : c.text("sign in first", 401);
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      if (!sameOrigin(c.req.raw)) return c.text("cross-site request refused", 403);
      const form = (c.req.header("content-type") ?? "").includes("form") ? await c.req.parseBody() : {};
      const given = c.req.header("x-csrf-token") ?? (typeof form._csrf === "string" ? form._csrf : "");
      if (!sameCredential(given, current.csrf)) return c.text("missing or wrong CSRF token", 403);
    }
    c.set("session", current);
    await next();
  });

  app.post("/sign-out", (c) => {
    c.header("set-cookie", sessionCookie(undefined));
    return c.redirect("/console/sign-in", 303);
  });

  app.get("/", (c) => c.redirect("/console/live", 303));

  /**
   * Calls the admin API in-process as the signed-in operator, with its token's rights and nothing more (no
   * Authorization header: `asOperator`); its JSON answer, or a ConsoleError with the API's message.
   */
  async function admin<T>(c: Ctx, method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    const ip = c.req.header("cf-connecting-ip");
    if (ip) headers["cf-connecting-ip"] = ip;
    const request = new Request(new URL(path, c.req.url), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const res = await deps.admin(asOperator(request, c.get("session").principal), c.env, c.executionCtx);
    const json = (await res.json()) as T & { error?: { message?: string } };
    if (!res.ok) throw new ConsoleError(res.status, json.error?.message ?? `admin API answered ${res.status}`);
    return json;
  }

  app.get("/live", (c) => {
    const p = deps.pipeline(c.env);
    const principal = c.get("session").principal;
    const sources = visible(principal, p.config).sources;
    const source = c.req.query("source") ?? sources[0];
    const compiled = source === undefined ? undefined : p.source(source);
    if (!compiled || source === undefined) throw new ConsoleError(404, sources.length === 0 ? "no source is in the scope of your token" : `no source "${source}"`);
    if (!inScope(principal, source)) throw new ConsoleError(403, `source "${source}" is outside the scope of token "${principal.id}"`);
    return render(c, <Live csrf={c.get("session").csrf} sources={sources} source={source} destinations={compiled.targets.map((t) => t.id)} />);
  });

  app.get("/live/:source/socket", (c) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") return c.text("expected a WebSocket upgrade", 426);
    // Browsers send Origin on WebSockets, which SameSite does not guard: a page of another site may not listen in.
    if (!sameOrigin(c.req.raw)) return c.text("cross-site WebSocket refused", 403);
    const source = c.req.param("source");
    if (!deps.pipeline(c.env).source(source)) return c.text(`no source "${source}"`, 404);
    const principal = c.get("session").principal;
    if (!inScope(principal, source)) return c.text(`source "${source}" is outside the scope of token "${principal.id}"`, 403);
    // Event bodies only for a token with read_events; the header is always set here, whatever the browser sent.
    const forwarded = new Request(c.req.raw);
    forwarded.headers.set(LIVE_BODIES_HEADER, can(principal, "read.events") ? "yes" : "no");
    return c.env.LIVE.get(c.env.LIVE.idFromName(source)).fetch(forwarded);
  });

  app.get("/delivery", async (c) => {
    const window = (c.req.query("window") ?? "24h") as keyof typeof WINDOWS;
    const hours = WINDOWS[window];
    if (!hours) throw new ConsoleError(400, `window must be one of ${Object.keys(WINDOWS).join(", ")}`);
    const now = Date.now();
    const buckets = Array.from({ length: hours + 1 }, (_, i) => new Date(now - (hours - i) * 3600_000).toISOString().slice(0, 13));
    const since = buckets[0]!;
    const p = deps.pipeline(c.env);
    // A destination's counters sum every source feeding it: shown only when all of them are in scope.
    const shown = new Set(visible(c.get("session").principal, p.config).destinations);
    const destinations: DestinationView[] = await Promise.all(
      p.config.destinations.filter((d) => shown.has(d.id)).map(async (d) => {
        const rows = await c.env.STATS.get(c.env.STATS.idFromName(`destination:${d.id}`)).readHours(since);
        const byHour = new Map(rows.map((r) => [r.hour, r.counters]));
        const series = (f: (counters: Record<string, number>) => number) => buckets.map((b) => f(byHour.get(b) ?? {}));
        const filteredOf = (k: Record<string, number>) => Object.entries(k).reduce((s, [n, v]) => (n.startsWith("dropped.") ? s + v : s), 0);
        return {
          id: d.id,
          kind: d.kind,
          metrics: destinationMetrics(rows),
          buckets: buckets.map((b) => `${b.slice(5, 10)} ${b.slice(11)}h`),
          series: { delivered: series((k) => k.delivered ?? 0), retried: series((k) => k.retried ?? 0), dead_lettered: series((k) => k.dead_lettered ?? 0), filtered: series(filteredOf) },
        };
      }),
    );
    return render(c, <Delivery csrf={c.get("session").csrf} window={window} windows={Object.keys(WINDOWS)} destinations={destinations} />);
  });

  interface ArchiveList {
    entries: ArchiveEntry[];
    totals: Record<string, number>;
  }
  const qs = (o: Record<string, string | undefined>) => new URLSearchParams(Object.entries(o).filter((e): e is [string, string] => !!e[1])).toString();

  app.get("/plan", async (c) => {
    const { plans } = await admin<{ plans: { id: string; revision: string; sources: { id: string }[] }[] }>(c, "GET", "/admin/plans");
    const views: PlanView[] = await Promise.all(
      plans.map(async (p) => ({ id: p.id, revision: p.revision, sources: p.sources.map((s) => s.id), counters: await admin<PlanCounters & { violations: Breakdown }>(c, "GET", `/admin/plans/${encodeURIComponent(p.id)}/stats`) })),
    );
    const list = await admin<ArchiveList>(c, "GET", "/admin/quarantine?limit=200");
    return render(c, <Plan csrf={c.get("session").csrf} plans={views} entries={list.entries} totals={list.totals} flash={c.req.query("done")} />);
  });

  app.get("/dead-letters", async (c) => {
    const destination = c.req.query("destination") || undefined;
    const category = c.req.query("category") || undefined;
    const list = await admin<ArchiveList>(c, "GET", `/admin/dead-letters?${qs({ destination, category, limit: "200" })}`);
    const destinations = visible(c.get("session").principal, deps.pipeline(c.env).config).destinations;
    return render(c, <DeadLetters csrf={c.get("session").csrf} entries={list.entries} totals={list.totals} destinations={destinations} destination={destination} category={category} flash={c.req.query("done")} />);
  });

  for (const [page, name] of [
    ["plan", "quarantine"],
    ["dead-letters", "dead-letters"],
  ] as const) {
    app.get(`/${page}/entry/:id`, async (c) => {
      const { entry, record } = await admin<{ entry: ArchiveEntry; record: unknown }>(c, "GET", `/admin/${name}/${encodeURIComponent(c.req.param("id"))}`);
      return render(c, <Entry csrf={c.get("session").csrf} page={page} entry={entry} record={record} />);
    });

    /** The archive filters a form sends (ids, destination, category); only those. */
    const filters = async (c: Ctx) => {
      const form = await c.req.parseBody();
      const fields: Record<string, string> = {};
      for (const k of ["ids", "destination", "category"]) if (typeof form[k] === "string" && form[k] !== "") fields[k] = form[k] as string;
      return { fields, confirmed: form.confirm === "yes", all: form.all === "yes" };
    };
    const back = (c: Ctx, message: string) => c.redirect(`/console/${page}?${qs({ done: message })}`, 303);

    app.post(`/${page}/replay`, async (c) => {
      const { fields, all } = await filters(c);
      // The "replay all" buttons say so: the API replays everything (of the token's sources) only when asked to.
      const body = all && Object.keys(fields).length === 0 ? { all: true } : fields;
      const r = await admin<{ claimed: number; replayed: number; kept: number; failed: number; events: number; remaining: number }>(c, "POST", `/admin/${name}/replay`, body);
      return back(c, `Replay: ${r.claimed} claimed, ${r.replayed} replayed (${r.events} events), ${r.kept} kept, ${r.failed} failed, ${r.remaining} remaining.`);
    });

    app.post(`/${page}/purge`, async (c) => {
      const { fields, confirmed } = await filters(c);
      if (!confirmed) {
        // A token that may not purge is refused before the confirmation page, with the API's own 403 (its role
        // guard answers before anything runs or is recorded).
        if (!can(c.get("session").principal, "purge")) await admin(c, "POST", `/admin/${name}/purge`, fields);
        const list = await admin<ArchiveList>(c, "GET", `/admin/${name}?${qs({ ...fields, limit: "100000" })}`);
        return render(c, <ConfirmPurge csrf={c.get("session").csrf} page={page} fields={fields} count={list.entries.length} />);
      }
      const r = await admin<{ purged: number }>(c, "POST", `/admin/${name}/purge`, fields);
      return back(c, `Purged ${r.purged} ${r.purged === 1 ? "entry" : "entries"}.`);
    });
  }

  app.get("/usage", async (c) => {
    const r = await admin<{ since: string; sources: SourceUsage[] }>(c, "GET", "/admin/usage");
    return render(c, <Usage csrf={c.get("session").csrf} sources={r.sources} since={r.since} />);
  });

  app.get("/audit", async (c) => {
    const query = { token: c.req.query("token") || undefined, action: c.req.query("action") || undefined, from: c.req.query("from") || undefined, to: c.req.query("to") || undefined, cursor: c.req.query("cursor") || undefined };
    const r = await admin<{ records: AuditRecord[]; cursor?: string }>(c, "GET", `/admin/audit?${qs({ ...query, limit: "100" })}`);
    const next = r.cursor ? `/console/audit?${qs({ ...query, cursor: r.cursor })}` : undefined;
    return render(c, <Audit csrf={c.get("session").csrf} records={r.records} filters={query} next={next} />);
  });

  return app;
}

const NO_SESSION_KEY = "Console sessions cannot be signed: set the CONSOLE_SESSION_KEY secret (or ADMIN_TOKEN).";

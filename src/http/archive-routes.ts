/**
 * Admin routes over an archive (dead letters; quarantine uses the same shape): list, show, replay, purge.
 *   GET    /admin/<name>?destination=&source=&from=&to=&name=&category=&status=&limit=
 *   GET    /admin/<name>/<id>
 *   POST   /admin/<name>/replay   {filters as above, ids?, limit?} → progress of this page
 *   POST   /admin/<name>/purge    {filters as above, ids?}
 * Access (docs/access.md): listing is event metadata, show reads an event body (recorded in the audit trail), replay
 * needs an operator and purge an admin; both are recorded, and with no filter both need `"all": true` in the body.
 * A scoped token sees, counts, replays and purges only its sources' entries.
 * Times are ISO-8601 or epoch ms. Replay claims entries first, so replaying twice never hands anything on twice.
 * A replay page only takes entries stored up to its start (`asOf` in the answer; pass it back as `to` for the
 * next page), so entries a replay stores again (quarantine that still fails) wait for the next replay.
 */
import type { Context, Hono } from "hono";
import type { CompiledPipeline } from "../pipeline/compile.ts";
import { readRecord, recordLocation } from "../archive/records.ts";
import { replayPage, type ArchiveKind } from "../archive/replay.ts";
import type { ArchiveObject, ArchiveQuery, ArchiveStatus } from "../storage/archive-object.ts";
import { ApiError } from "../api-error.ts";
import { queryTime, rejectUnknown } from "./query.ts";
import type { SluiceEnv } from "./env.ts";
import { audited, requireAccess, requireSource } from "./access.ts";
import { countsOf } from "../access/audit.ts";

const STATUSES: ArchiveStatus[] = ["stored", "replaying", "replayed"];

/** Reads filters from query parameters or a JSON body, rejecting what it does not know. */
export function archiveQuery(input: Record<string, unknown>): ArchiveQuery {
  const known = ["destination", "source", "from", "to", "name", "category", "status", "limit", "ids"];
  rejectUnknown(input, known);
  const str = (k: string) => (input[k] === undefined || input[k] === "" ? undefined : String(input[k]));
  const status = str("status");
  if (status !== undefined && !STATUSES.includes(status as ArchiveStatus)) throw new ApiError(400, "invalid_query", `status must be one of ${STATUSES.join(", ")}`);
  const limit = input.limit === undefined ? undefined : Number(input.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new ApiError(400, "invalid_query", "limit must be a positive integer");
  const ids = input.ids === undefined ? undefined : Array.isArray(input.ids) ? input.ids.map(String) : String(input.ids).split(",");
  return {
    destination: str("destination"),
    source: str("source"),
    from: queryTime(input.from, "from"),
    to: queryTime(input.to, "to"),
    name: str("name"),
    category: str("category"),
    status: status as ArchiveStatus | undefined,
    limit,
    ids,
  };
}

function shardStub(env: SluiceEnv, shard: string): DurableObjectStub<ArchiveObject> {
  return env.ARCHIVE.get(env.ARCHIVE.idFromName(shard));
}

/** Filters that select entries; `limit` alone does not. */
const SELECTING = ["destination", "source", "from", "to", "name", "category", "status", "ids"] as const;

/** The query limited to the token's scope: a source outside it is 403; a scoped token's query gets its sources. */
function scoped(c: Context<{ Bindings: SluiceEnv }>, q: ArchiveQuery): ArchiveQuery {
  const p = c.get("principal");
  if (q.source) requireSource(p, q.source);
  return p.sources === "*" ? q : { ...q, sources: p.sources };
}

/** A replay or purge body: its filters, scoped; with none, `"all": true` must say that everything is meant. */
async function actionQuery(c: Context<{ Bindings: SluiceEnv }>, what: string): Promise<{ body: Record<string, unknown>; q: ArchiveQuery }> {
  const { all, ...body } = await jsonBody(c.req.raw);
  if (all !== undefined && typeof all !== "boolean") throw new ApiError(400, "invalid_query", '"all" must be true or false');
  const q = archiveQuery(body);
  if (!all && SELECTING.every((k) => q[k] === undefined)) throw new ApiError(400, "filter_required", `a ${what} with no filter needs "all": true in the body`);
  return { body: all ? { ...body, all } : body, q: scoped(c, q) };
}

async function jsonBody(req: Request): Promise<Record<string, unknown>> {
  const text = await req.text();
  if (text.trim() === "") return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new ApiError(400, "invalid_json", "body must be a JSON object of filters");
}

export function registerArchiveRoutes(app: Hono<{ Bindings: SluiceEnv }>, kind: ArchiveKind, pipeline: (env: SluiceEnv) => CompiledPipeline): void {
  const base = `/admin/${kind.name}`;

  app.get(base, requireAccess("read.metadata"), async (c) => {
    const q = scoped(c, archiveQuery(c.req.query()));
    const shards = kind.shards(pipeline(c.env), q);
    const lists = await Promise.all(shards.map((s) => shardStub(c.env, s).list(q)));
    const limit = q.limit ?? 100;
    const entries = lists.flat().sort((a, b) => b.at - a.at || b.id.localeCompare(a.id)).slice(0, limit);
    const counts = await Promise.all(shards.map((s) => shardStub(c.env, s).counts({ sources: q.sources })));
    const totals = counts.reduce((a, n) => ({ stored: a.stored + n.stored, replaying: a.replaying + n.replaying, replayed: a.replayed + n.replayed }), { stored: 0, replaying: 0, replayed: 0 });
    return c.json({ count: entries.length, totals, entries });
  });

  app.get(`${base}/:id`, requireAccess("read.events"), async (c) => {
    const id = c.req.param("id");
    const shards = kind.shards(pipeline(c.env), scoped(c, archiveQuery({ destination: c.req.query("destination"), source: c.req.query("source") })));
    for (const s of shards) {
      const entry = await shardStub(c.env, s).get(id);
      if (!entry) continue;
      requireSource(c.get("principal"), entry.source);
      const filters = { id, ...c.req.query() };
      return c.json(await audited(c, `read.events ${kind.name}`, filters, async () => ({ entry, record: await readRecord(c.env.BUCKET, entry.key) }), () => ({ events: entry.events })));
    }
    throw new ApiError(404, "not_found", `no ${kind.name} entry "${id}"`);
  });

  app.post(`${base}/replay`, requireAccess("replay"), async (c) => {
    const { body, q } = await actionQuery(c, "replay");
    const page = await audited(c, `replay ${kind.name}`, body, async () => ({ ...(await replayPage(kind, c.env, pipeline(c.env), q, Date.now())) }), ({ asOf: _t, ...done }) => countsOf(done));
    return c.json(page);
  });

  app.post(`${base}/purge`, requireAccess("purge"), async (c) => {
    const { body, q } = await actionQuery(c, "purge");
    return c.json(await audited(c, `purge ${kind.name}`, body, () => purge(c.env, q)));
  });

  async function purge(env: SluiceEnv, q: ArchiveQuery): Promise<{ purged: number }> {
    let purged = 0;
    for (const shard of kind.shards(pipeline(env), q)) {
      const stub = shardStub(env, shard);
      const removed = await stub.purge(q);
      purged += removed.length;
      // An object several entries share (a request's quarantine) goes once none of them is left.
      const objects = [...new Set(removed.map((e) => recordLocation(e.key).object))];
      const kept = new Set(objects.length > 0 ? await stub.referenced(objects) : []);
      const gone = objects.filter((o) => !kept.has(o));
      for (let i = 0; i < gone.length; i += 1000) await env.BUCKET.delete(gone.slice(i, i + 1000));
    }
    return { purged };
  }
}

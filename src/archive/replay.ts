/**
 * Replay of what the archive keeps (dead letters, quarantine): each kind says which shards a query touches and how
 * one entry is handed on again; `replayPage` claims entries first (ArchiveObject.claim), so replaying twice never
 * hands anything on twice.
 */
import type { CompiledPipeline } from "../pipeline/compile.ts";
import type { ArchiveEntry, ArchiveObject, ArchiveQuery } from "../storage/archive-object.ts";
import { readRecord } from "./records.ts";

export interface ReplayContext {
  /** When this replay page started (ms): an entry stored again must get a later `at`, so the page never takes it. */
  startedAt: number;
}

/** What one archive is (dead letters, quarantine): the admin routes (src/http/archive-routes.ts) serve each kind through these alone. */
export interface ArchiveKind {
  /** URL segment: `dead-letters`, `quarantine`. */
  name: string;
  /** The shards a query touches (e.g. one per configured destination). */
  shards(pipeline: CompiledPipeline, q: ArchiveQuery): string[];
  /**
   * Hands a claimed entry on again. Returns a short outcome; throwing leaves the entry stored for a later replay.
   * "kept" means the entry was re-examined and stored again under a new id (quarantine that still fails).
   */
  replay(entry: ArchiveEntry, record: unknown, env: Env, pipeline: CompiledPipeline, ctx: ReplayContext): Promise<{ outcome: "replayed" | "kept"; events: number }>;
}

export interface ReplayPage {
  claimed: number;
  replayed: number;
  kept: number;
  failed: number;
  events: number;
  errors: { id: string; error: string }[];
  /** Entries of the query still stored after this page. */
  remaining: number;
  /** The page took only entries stored up to here (ms): pass it back as `to` for the next page. */
  asOf: number;
}

/** Up to `q.limit` (default 100, at most 500) entries per shard, claimed, replayed and settled one by one. */
export async function replayPage(kind: ArchiveKind, env: Env, pipeline: CompiledPipeline, asked: ArchiveQuery, startedAt: number): Promise<ReplayPage> {
  const shard = (name: string): DurableObjectStub<ArchiveObject> => env.ARCHIVE.get(env.ARCHIVE.idFromName(name));
  const q = { ...asked, to: Math.min(asked.to ?? startedAt, startedAt) };
  const page = { claimed: 0, replayed: 0, kept: 0, failed: 0, events: 0, errors: [] as { id: string; error: string }[] };
  const objects = new Map<string, Promise<string[] | null>>();
  for (const name of kind.shards(pipeline, q)) {
    const stub = shard(name);
    const claimed = await stub.claim({ ...q, limit: Math.min(q.limit ?? 100, 500) }, Date.now());
    page.claimed += claimed.length;
    for (const entry of claimed) {
      try {
        const record = await readRecord(env.BUCKET, entry.key, objects);
        if (record === null) throw new Error(`record ${entry.key} is missing from R2`);
        const done = await kind.replay(entry, record, env, pipeline, { startedAt });
        await stub.settle([entry.id], "replayed", Date.now());
        page[done.outcome]++;
        page.events += done.events;
      } catch (err) {
        await stub.settle([entry.id], "stored", Date.now());
        page.failed++;
        page.errors.push({ id: entry.id, error: String((err as Error).message ?? err) });
      }
    }
  }
  const remaining = (await Promise.all(kind.shards(pipeline, q).map((s) => shard(s).list({ ...q, status: "stored", limit: 10_000 })))).reduce((a, l) => a + l.length, 0);
  return { ...page, remaining, asOf: startedAt };
}

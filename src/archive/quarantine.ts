/**
 * Quarantine (docs/tracking-plans.md): events a source's tracking plan set aside, kept intact in R2 with their
 * findings until an operator replays or purges them. Indexed per source in an ArchiveObject shard
 * (`quarantine:<source>`) so they can be listed by source, event name, violation type and time, and replayed once.
 */
import type { CompiledSource } from "../pipeline/compile.ts";
import type { SluiceEvent } from "../pipeline/normalize.ts";
import { planScope } from "../pipeline/plan-stage.ts";
import type { Tally } from "../pipeline/route.ts";
import type { DecisionReason, FindingKind, PlanDecision, RuleType, Violation } from "../plans/index.ts";
import { enqueue } from "../queue/messages.ts";
import type { QuarantineHold, StepPorts } from "../router/ports.ts";
import { routeSource } from "../router/route.ts";
import type { ArchiveEntry, ArchiveObject } from "../storage/archive-object.ts";
import type { ArchiveKind } from "./replay.ts";
import { recordLocation } from "./records.ts";

/** What a quarantine record stores (R2, JSON), and what `GET /admin/quarantine/<id>` shows as `record`. */
export interface QuarantineRecord {
  id: string;
  source: string;
  /** The plan the event was checked against; `revision` changes whenever the plan file does. */
  plan: { id: string; revision: string };
  /** The rule that applied (absent for an unplanned event). */
  rule?: { type: RuleType; key?: string; version: number };
  /** Why it was quarantined: the strongest finding's category. */
  reason: DecisionReason;
  findings: (Violation & { kind: FindingKind })[];
  /** When Sluice accepted the event (the request's receivedAt). */
  receivedAt: string;
  /** When this record was stored: at ingest, or by a replay that found the event still failing. */
  quarantinedAt: string;
  /** How many times the plan checked it: 1 at ingest, +1 per replay that kept it. */
  attempts: number;
  /** The entry this one replaces, when a replay kept the event. */
  replayOf?: string;
  /** The event exactly as it was accepted (normalized, before the plan or any filter). */
  event: SluiceEvent;
}

export const QUARANTINE_PREFIX = "quarantine/";

/**
 * A request's quarantined events share one R2 object (NDJSON, a record per line), so a 2,500-event batch that
 * fails its plan costs one write, not 2,500 (R2 operations are billed, and a Free-plan request may make 50
 * subrequests). The object is `quarantine/<source>/<YYYY-MM-DD>/<time>-<bundle id>.ndjson`; an entry's key is
 * `<object key>#<line>`.
 */
export function quarantineObjectKey(source: string, quarantinedAt: string, bundleId: string): string {
  return `${QUARANTINE_PREFIX}${source}/${quarantinedAt.slice(0, 10)}/${quarantinedAt}-${bundleId}.ndjson`;
}

/** The archive shard that indexes a source's quarantine. */
export function quarantineShard(source: string): string {
  return `quarantine:${source}`;
}

/** The record for a quarantined decision of `source`'s plan. */
export function quarantineRecord(
  source: CompiledSource,
  decision: PlanDecision,
  receivedAt: string,
  quarantinedAt: Date,
  extra: { attempts?: number; replayOf?: string } = {},
): QuarantineRecord {
  const plan = source.plan;
  return {
    id: crypto.randomUUID(),
    source: source.config.id,
    plan: plan ? { id: plan.id, revision: plan.revision } : { id: "", revision: "" },
    ...(decision.ruleType ? { rule: { type: decision.ruleType, ...(decision.ruleKey !== undefined ? { key: decision.ruleKey } : {}), version: decision.version ?? 1 } } : {}),
    reason: decision.reason ?? "Violation",
    findings: decision.findings.map(({ kind, type, field, description }) => ({ kind, type, field, description })),
    receivedAt,
    quarantinedAt: quarantinedAt.toISOString(),
    attempts: extra.attempts ?? 1,
    ...(extra.replayOf ? { replayOf: extra.replayOf } : {}),
    event: decision.event,
  };
}

/** The index row of a record stored at `key`: name = event name (or type), category = its violation types, destination "-". */
export function quarantineEntry(r: QuarantineRecord, key: string): ArchiveEntry {
  const types = [...new Set(r.findings.map((f) => f.type))];
  const details = r.findings.slice(0, 5).map((f) => f.description);
  return {
    id: r.id,
    at: Date.parse(r.quarantinedAt),
    source: r.source,
    destination: "-",
    name: typeof r.event.event === "string" ? r.event.event : r.event.type,
    category: types.join(","),
    reason: `${r.reason}: ${details.join("; ")}${r.findings.length > details.length ? `; … (${r.findings.length} findings)` : ""}`,
    attempts: r.attempts,
    events: 1,
    key,
    status: "stored",
  };
}

/**
 * Stores records: one R2 object per source (a request has one), then one index call per source shard. Throws if
 * anything fails; the caller then answers 503 so the client retries (an object written before the index call
 * failed stays behind, unindexed: it costs storage, never a duplicate delivery).
 */
export async function storeQuarantined(bucket: R2Bucket, archive: DurableObjectNamespace<ArchiveObject>, records: readonly QuarantineRecord[]): Promise<ArchiveEntry[]> {
  const bySource = new Map<string, QuarantineRecord[]>();
  for (const r of records) {
    const list = bySource.get(r.source);
    if (list) list.push(r);
    else bySource.set(r.source, [r]);
  }
  const stored = await Promise.all(
    [...bySource].map(async ([source, list]) => {
      const key = quarantineObjectKey(source, list[0]!.quarantinedAt, crypto.randomUUID());
      await bucket.put(key, list.map((r) => JSON.stringify(r)).join("\n") + "\n", {
        httpMetadata: { contentType: "application/x-ndjson" },
        customMetadata: { source, plan: list[0]!.plan.id, records: String(list.length) },
      });
      const entries = list.map((r, i) => quarantineEntry(r, `${key}#${i}`));
      await archive.get(archive.idFromName(quarantineShard(source))).addMany(entries);
      return entries;
    }),
  );
  return stored.flat();
}

/** Undoes storeQuarantined (the request failed after all and the client will resend): index rows, then R2 objects. */
export async function removeQuarantined(bucket: R2Bucket, archive: DurableObjectNamespace<ArchiveObject>, entries: readonly ArchiveEntry[]): Promise<void> {
  const bySource = new Map<string, string[]>();
  for (const e of entries) {
    const ids = bySource.get(e.source);
    if (ids) ids.push(e.id);
    else bySource.set(e.source, [e.id]);
  }
  await Promise.all([...bySource].map(([source, ids]) => archive.get(archive.idFromName(quarantineShard(source))).purge({ ids })));
  await bucket.delete([...new Set(entries.map((e) => recordLocation(e.key).object))]);
}

/** The router's quarantine port: a call's records share one R2 object, then one index call. */
export function quarantineHold(bucket: R2Bucket, archive: DurableObjectNamespace<ArchiveObject>, clock: () => Date = () => new Date()): QuarantineHold {
  return {
    hold(source, decisions, replay) {
      const at = replay?.at ?? clock();
      const extra = replay ? { attempts: replay.attempts + 1, replayOf: replay.entry } : {};
      return storeQuarantined(bucket, archive, decisions.map((d) => quarantineRecord(source, d, replay?.receivedAt ?? d.event.receivedAt, at, extra)));
    },
    remove: (entries) => removeQuarantined(bucket, archive, entries),
  };
}

/**
 * Quarantine as an admin archive (`/admin/quarantine`, `sluice quarantine …`): shards per source; replay re-runs
 * the source's CURRENT plan, then its source and destination filters, on the stored event, through the router's
 * own routeSource (findings counted, violation reports sent). What passes is enqueued for delivery (counted
 * `replayed`); what still fails (quarantine or block under the current settings) is stored again as a new entry
 * with its new findings (counted `requarantined.<reason>`, outcome "kept").
 * Replay never discards an event: purge does that.
 */
export function quarantineArchive(tally: Tally): ArchiveKind {
  return {
    name: "quarantine",
    shards(pipeline, q) {
      if (q.source) return [quarantineShard(q.source)];
      return pipeline.config.sources.filter((s) => !q.sources || q.sources.includes(s.id)).map((s) => quarantineShard(s.id));
    },
    async replay(entry, record, env, pipeline, ctx) {
      const r = record as QuarantineRecord;
      const source = pipeline.source(r.source);
      if (!source) throw new Error(`source "${r.source}" is not configured; nothing to replay it through`);
      // The router's own step (plan, quarantine, filters, fan-out), with a fresh retry window as for a replayed
      // dead letter; the deliveries go through the deliveries queue rather than inline in this admin request.
      // Strictly after the page started, so this page never claims the entry a still-failing event becomes.
      const at = new Date(Math.max(Date.now(), ctx.startedAt + 1));
      const ports: StepPorts = {
        quarantine: quarantineHold(env.BUCKET, env.ARCHIVE),
        deliver: async (_dest, messages) => void (await Promise.all(messages.map(({ v: _, events, ...header }) => enqueue(env.DELIVERIES, header, events)))),
        deadLetters: env.DEAD_LETTERS,
        stats: tally,
      };
      const { held } = await routeSource(source, [r.event], Date.now(), ports, { entry: entry.id, attempts: r.attempts, receivedAt: r.receivedAt, at });
      if (held > 0) return { outcome: "kept", events: 0 };
      const scopes = [`source:${source.config.id}`, ...(source.plan ? [planScope(source.plan.id)] : [])];
      for (const scope of scopes) tally.count(scope, "replayed");
      return { outcome: "replayed", events: 1 };
    },
  };
}

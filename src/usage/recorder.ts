/**
 * Distinct users per source and day, per isolate: each accepted event's userId (else anonymousId) goes into a
 * HyperLogLog sketch held in memory; the router (src/router/) observes the events of the ingest messages it settles,
 * and after each queue batch a sketch that gained information is merged into the source's SourceObject (merging is
 * idempotent, so the whole day's sketch is sent).
 */
import { HyperLogLog } from "./hyperloglog.ts";

/** The SourceObject's merge method, as the isolate reaches it. */
export type UsersStub = (sourceId: string) => { addUsers(day: string, sketch: Uint8Array): Promise<unknown> };

interface DaySketch {
  source: string;
  day: string;
  sketch: HyperLogLog;
  dirty: boolean;
}

/**
 * The identity MTU counts: the userId when there is one, else the anonymousId (Segment counts a user seen with
 * both once; we cannot link them without state, so an anonymous visitor who later identifies counts twice).
 * @example userKey({ userId: "u1", anonymousId: "a1" }) // "u:u1"
 */
export function userKey(event: Readonly<Record<string, unknown>>): string | undefined {
  const present = (v: unknown) => (typeof v === "string" && v.length > 0) || typeof v === "number";
  if (present(event.userId)) return `u:${String(event.userId)}`;
  if (present(event.anonymousId)) return `a:${String(event.anonymousId)}`;
  return undefined;
}

export class UsageRecorder {
  private sketches = new Map<string, DaySketch>();

  constructor(private readonly options: { onError?: (err: unknown) => void } = {}) {}

  /** Adds the users of accepted events; `day` is the UTC day they were received. */
  observe(source: { id: string }, events: readonly Readonly<Record<string, unknown>>[], day: string): void {
    const key = `${source.id}\u0000${day}`;
    let entry = this.sketches.get(key);
    if (!entry) {
      entry = { source: source.id, day, sketch: new HyperLogLog(), dirty: false };
      this.sketches.set(key, entry);
    }
    for (const e of events) {
      const k = userKey(e);
      if (k !== undefined && entry.sketch.add(k)) entry.dirty = true;
    }
  }

  /** Merges every changed sketch now; a failed one stays dirty for the next flush. Past days are then dropped. */
  async flush(stub: UsersStub, today = new Date().toISOString().slice(0, 10)): Promise<void> {
    const dirty = [...this.sketches.values()].filter((s) => s.dirty);
    for (const s of dirty) s.dirty = false;
    await Promise.all(
      dirty.map(async (s) => {
        try {
          await stub(s.source).addUsers(s.day, s.sketch.toBytes());
        } catch (err) {
          this.options.onError?.(err);
          s.dirty = true;
        }
      }),
    );
    for (const [key, s] of this.sketches) if (s.day < today && !s.dirty) this.sketches.delete(key);
  }
}

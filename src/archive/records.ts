/**
 * Where an archive entry's full record lives in R2. A key is either a whole object (a dead letter: one JSON
 * record) or `<object>#<line>`: one line of an NDJSON object several entries share (a request's quarantine).
 */

export interface RecordLocation {
  object: string;
  /** Line of an NDJSON object, when the object holds several records. */
  line?: number;
}

/** @example recordLocation("quarantine/web/2026-11-26/t-b.ndjson#3") // { object: "quarantine/web/2026-11-26/t-b.ndjson", line: 3 } */
export function recordLocation(key: string): RecordLocation {
  const hash = key.lastIndexOf("#");
  if (hash < 0 || !/^\d+$/.test(key.slice(hash + 1))) return { object: key };
  return { object: key.slice(0, hash), line: Number(key.slice(hash + 1)) };
}

/**
 * Reads records by entry key; `objects` caches parsed objects across calls (a replay page reads many lines of
 * the same object). Resolves to null when the object (or its line) is gone.
 */
export async function readRecord(bucket: R2Bucket, key: string, objects = new Map<string, Promise<string[] | null>>()): Promise<unknown> {
  const { object, line } = recordLocation(key);
  let lines = objects.get(object);
  if (!lines) {
    lines = bucket.get(object).then(async (o) => {
      if (!o) return null;
      const text = await o.text();
      return line === undefined ? [text] : text.split("\n");
    });
    objects.set(object, lines);
  }
  const got = await lines;
  const text = got?.[line ?? 0];
  return text ? (JSON.parse(text) as unknown) : null;
}

/**
 * PostHog's batch API as PostHog documents it (posthog.com/docs/api/capture): POST /batch/ with a JSON body
 * `{api_key, batch: [{event, distinct_id, properties, timestamp, uuid}]}`, at most 20 MB.
 */
import type { VendorRequest } from "./stand-in.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export interface PosthogItem {
  event: string;
  distinct_id: string;
  properties: Record<string, unknown>;
  timestamp: string;
  uuid: string;
}

export function posthogChecker(apiKey: string) {
  return (req: VendorRequest): string[] => {
    const problems: string[] = [];
    if (req.method !== "POST") problems.push(`method ${req.method}`);
    if (req.url.pathname !== "/batch/") problems.push(`path ${req.url.pathname}`);
    if (!req.headers["content-type"]?.startsWith("application/json")) problems.push("content-type is not JSON");
    if (Buffer.byteLength(req.body) > 20 * 1024 * 1024) problems.push("body over 20 MB");
    const body = req.json as { api_key?: unknown; batch?: unknown } | undefined;
    if (!body || typeof body !== "object") return [...problems, "body is not a JSON object"];
    if (body.api_key !== apiKey) problems.push("wrong api_key");
    if (!Array.isArray(body.batch) || body.batch.length === 0) return [...problems, "batch is not a non-empty list"];
    for (const [i, raw] of body.batch.entries()) {
      const e = raw as Partial<PosthogItem>;
      if (typeof e.event !== "string" || e.event === "") problems.push(`batch[${i}].event`);
      if (typeof e.distinct_id !== "string" || e.distinct_id === "") problems.push(`batch[${i}].distinct_id`);
      if (!e.properties || typeof e.properties !== "object") problems.push(`batch[${i}].properties`);
      if (typeof e.timestamp !== "string" || Number.isNaN(Date.parse(e.timestamp))) problems.push(`batch[${i}].timestamp`);
      if (typeof e.uuid !== "string" || !UUID.test(e.uuid)) problems.push(`batch[${i}].uuid ${JSON.stringify(e.uuid)}`);
    }
    return problems;
  };
}

export const posthogItems = (req: VendorRequest): PosthogItem[] => ((req.json as { batch?: PosthogItem[] })?.batch ?? []);

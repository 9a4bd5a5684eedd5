/**
 * Segment: forwards events as they are (Segment's own spec) to `POST /v1/batch` with Basic `write_key:`, so Sluice
 * can sit in front of Segment as the filter and PII gateway, or feed any Segment-compatible endpoint, another
 * Sluice included. Requests stay within Segment's 500 KB per batch and 32 KB per event.
 */
import { s } from "../../src/config/schema.ts";
import type { DeliveryContext, EventResult } from "../../src/delivery/destination.ts";
import { baseUrl, basicAuth, defineVendorDestination, ENDPOINT_PATTERN, postJson, responseError } from "../../src/delivery/vendor.ts";
import { LIMITS, type SluiceEvent } from "../../src/pipeline/normalize.ts";

const settings = s.object({
  write_key: s.string({ minLength: 1 }),
  endpoint: s.withDefault(s.string({ pattern: ENDPOINT_PATTERN }), "https://api.segment.io"),
});
type SegmentSettings = NonNullable<ReturnType<typeof settings.check>>;

interface Compiled {
  url: string;
  auth: string;
}

/**
 * The event as it is, but for its own `sentAt`: the receiver corrects `timestamp` for clock skew by
 * `receivedAt - (sentAt - timestamp)`, and the client's sentAt would move an already corrected timestamp to the
 * time of forwarding. Without it, the request's `sentAt` (when Sluice sent it) applies, and the timestamp arrives
 * as Sluice holds it, give or take the clock difference between Sluice and the receiver.
 */
function forwarded(event: SluiceEvent): SluiceEvent {
  if (!("sentAt" in event)) return event;
  const { sentAt: _, ...rest } = event;
  return rest as SluiceEvent;
}

async function send(parts: readonly SluiceEvent[], c: Compiled, ctx: DeliveryContext<SegmentSettings>): Promise<EventResult[]> {
  const response = await postJson(ctx, c.url, { batch: parts, sentAt: new Date(ctx.now()).toISOString() }, { authorization: c.auth });
  const error = responseError(response, ctx);
  if (error) throw error;
  return parts.map(() => ({ ok: true }));
}

export const segment = defineVendorDestination<SegmentSettings, SluiceEvent, Compiled>({
  kind: "segment",
  description: "Segment or any Segment-compatible endpoint (another Sluice included): events forwarded as they are to /v1/batch",
  settings,
  eventTypes: ["track", "identify", "page", "screen", "group", "alias"],
  // 500 KB per batch (1 KB kept for the envelope), 32 KB per event; at most as many events as a batch Sluice takes.
  limits: () => ({ maxEvents: LIMITS.maxBatchEvents, maxBytes: LIMITS.maxRequestBytes - 1024, maxEventBytes: LIMITS.maxEventBytes }),
  compile: (cfg) => ({ url: `${baseUrl(cfg.endpoint)}/v1/batch`, auth: basicAuth(cfg.write_key) }),
  map: forwarded,
  send,
  docs: {
    settings: {
      write_key: "the write key of the Segment source (or of the receiving Sluice source), sent as Basic auth `write_key:`; use `${env.NAME}`",
      endpoint: "the base URL: `https://events.eu1.segmentapis.com` for Segment's EU region, another Sluice's URL, a proxy; `/v1/batch` is appended",
    },
    mapping: [
      { from: "every event", to: "the same event in `batch`", note: "as Sluice holds it after filters: messageId, timestamp, context, integrations unchanged" },
      { from: "`sentAt`", to: "left out", note: "the request's `sentAt` stands for it, so the receiver's clock-skew correction keeps `timestamp`" },
      { from: "`messageId`", to: "`messageId`", note: "Segment and Sluice dedupe on it" },
      { from: "—", to: "`sentAt` of the request", note: "when it is sent" },
    ],
    notes: [
      "Segment answers 200 for a batch it takes and 400 for one it cannot read: the whole request is classified by its status.",
      "An event over 32 KB as sent fails alone, finally (`too_large`); Sluice accepts events up to 32 KB before it adds `receivedAt`.",
    ],
  },
});

/**
 * An Amplitude stand-in: /2/httpapi as the HTTP V2 API documents it. A request with an event holding
 * `event_properties.reject` is refused whole with a 400 naming it in `events_with_invalid_fields` (Amplitude
 * ingests none of such a request); `throttle` users get one 429 naming them; `faults` answer the first requests.
 */
import { faultAnswer, Ledger, startStandIn, type Fault, type StandIn, type VendorReply } from "./stand-in.ts";

type AmplitudeEvent = Record<string, unknown>;

export interface AmplitudeStandIn extends StandIn {
  ingested: Ledger<AmplitudeEvent>;
  faults: Fault[];
  /** Insert ids of the events answered with a throttling 429. */
  throttled: string[];
}

export async function startAmplitude(opts: { apiKey: string; faults?: Fault[]; throttleUser?: string }): Promise<AmplitudeStandIn> {
  const ingested = new Ledger<AmplitudeEvent>();
  const faults = [...(opts.faults ?? [])];
  const throttledIds: string[] = [];
  let throttle = opts.throttleUser;
  const violation = (why: string): VendorReply => (ingested.violations.push(why), { status: 400, body: { code: 400, error: why } });
  const server = await startStandIn((req): VendorReply => {
    if (req.method !== "POST" || req.path !== "/2/httpapi") return violation(`${req.method} ${req.path}`);
    if (req.headers["content-type"] !== "application/json") return violation(`content-type ${req.headers["content-type"]}`);
    if (req.bytes > 1_000_000) return { status: 413, body: { code: 413, error: "Payload too large" } };
    const body = JSON.parse(req.body) as { api_key?: unknown; events?: AmplitudeEvent[] };
    if (body.api_key !== opts.apiKey) return { status: 400, body: { code: 400, error: "Invalid API key", missing_field: "api_key" } };
    const events = body.events;
    if (!Array.isArray(events) || events.length === 0 || events.length > 2000) return violation(`events: ${Array.isArray(events) ? events.length : typeof events}`);
    for (const e of events) {
      if (typeof e.event_type !== "string" || (typeof e.user_id !== "string" && typeof e.device_id !== "string") || typeof e.time !== "number" || typeof e.insert_id !== "string")
        return violation(`event ${JSON.stringify(e).slice(0, 200)}`);
    }
    const fault = faults.shift();
    if (fault) return faultAnswer(fault, { code: fault.status, error: "try later" });
    const throttled = events.flatMap((e, i) => (throttle !== undefined && e.user_id === throttle ? [i] : []));
    if (throttled.length > 0) {
      const user = throttle!;
      throttle = undefined;
      throttledIds.push(...throttled.map((i) => events[i]!.insert_id as string));
      return { status: 429, body: { code: 429, error: "Too many requests for some devices and users", eps_threshold: 30, throttled_users: { [user]: 31 }, throttled_events: throttled }, headers: { "retry-after": "1" } };
    }
    const invalid = events.flatMap((e, i) => ((e.event_properties as Record<string, unknown> | undefined)?.reject ? [i] : []));
    if (invalid.length > 0) return { status: 400, body: { code: 400, error: "Invalid field values on some events", events_with_invalid_fields: { "event_properties.reject": invalid } } };
    for (const e of events) ingested.accept(e.insert_id as string, e);
    return { status: 200, body: { code: 200, events_ingested: events.length, payload_size_bytes: req.bytes, server_upload_time: Date.now() } };
  });
  return { ...server, ingested, faults, throttled: throttledIds };
}

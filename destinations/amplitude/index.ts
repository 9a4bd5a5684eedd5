/**
 * Amplitude: `POST /2/httpapi` `{api_key, events, options}`. A 400 that lists invalid or missing fields by event
 * index fails only those events and sends the rest again at once (Amplitude ingested none of the request); a 429
 * that names throttled events, users or devices retries only those (after Retry-After, 30 s when absent) and
 * sends the rest again at once. Amplitude drops a repeated `insert_id` (the messageId) for 7 days, so a resend
 * never counts twice.
 */
import { s } from "../../src/config/schema.ts";
import type { DeliveryContext, EventResult } from "../../src/delivery/destination.ts";
import { parseRetryAfter, PermanentError, RetryableError, type DeliveryError } from "../../src/delivery/errors.ts";
import { baseUrl, defineVendorDestination, ENDPOINT_PATTERN, jsonObject, postJson, responseError } from "../../src/delivery/vendor.ts";
import { browserOf, defined, eventTime, num, obj, osOf, str } from "../../src/delivery/vendor-context.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";

const REGIONS = { us: "https://api2.amplitude.com", eu: "https://api.eu.amplitude.com" } as const;

const settings = s.object({
  api_key: s.string({ minLength: 1 }),
  region: s.withDefault(s.literal("us", "eu"), "us"),
  endpoint: s.optional(s.string({ pattern: ENDPOINT_PATTERN })),
});
type AmplitudeSettings = NonNullable<ReturnType<typeof settings.check>>;

interface Compiled {
  url: string;
  apiKey: string;
}

/** One Amplitude event, as /2/httpapi takes it. */
export type AmplitudeEvent = Record<string, unknown>;

/** Seconds to wait on a 429 without Retry-After: Amplitude's documented 30 s. */
const THROTTLE_SECONDS = 30;

const UTM: Record<string, string> = { source: "utm_source", medium: "utm_medium", name: "utm_campaign", term: "utm_term", content: "utm_content" };

/** UTM and referrer as user properties: `$set` the latest, `$setOnce` the first (`initial_*`), as Amplitude's SDKs do. */
function attribution(event: SluiceEvent): { set: Record<string, unknown>; setOnce: Record<string, unknown> } {
  const c = obj(event.context);
  const campaign = obj(c.campaign);
  const set: Record<string, unknown> = {};
  for (const [k, name] of Object.entries(UTM)) {
    const v = str(campaign[k]);
    if (v) set[name] = v;
  }
  const referrer = str(obj(c.page).referrer);
  if (referrer) set.referrer = referrer;
  const setOnce: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(set)) setOnce[`initial_${k}`] = v;
  return { set, setOnce };
}

function userProperties(base: Record<string, unknown>, event: SluiceEvent): Record<string, unknown> | undefined {
  const { set, setOnce } = attribution(event);
  const allSet = { ...set, ...base };
  const out: Record<string, unknown> = {};
  if (Object.keys(allSet).length > 0) out.$set = allSet;
  if (Object.keys(setOnce).length > 0) out.$setOnce = setOnce;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Fields every event carries: identity, time, dedup key, and what `context` says about the device. */
function common(event: SluiceEvent): Record<string, unknown> {
  const c = obj(event.context);
  const os = obj(c.os);
  const device = obj(c.device);
  const app = obj(c.app);
  const network = obj(c.network);
  const location = obj(c.location);
  const library = obj(c.library);
  const ua = str(c.userAgent);
  const browser = ua ? browserOf(ua) : {};
  const uaOs = ua ? osOf(ua) : {};
  const deviceType = str(device.type)?.toLowerCase();
  const platform = deviceType === "ios" ? "iOS" : deviceType === "android" ? "Android" : ua || str(obj(c.page).url) ? "Web" : str(device.type);
  return defined([
    ["user_id", str(event.userId)],
    ["device_id", str(device.id) ?? str(event.anonymousId)],
    ["time", eventTime(event)],
    ["insert_id", event.messageId],
    ["ip", str(c.ip)],
    ["platform", platform],
    // Amplitude reads os_name as the browser on the web, the system on devices.
    ["os_name", str(os.name) ?? browser.name ?? uaOs.name],
    ["os_version", str(os.name) ? str(os.version) : (browser.version ?? uaOs.version)],
    ["device_brand", str(device.brand)],
    ["device_manufacturer", str(device.manufacturer)],
    ["device_model", str(device.model)],
    ["carrier", str(network.carrier)],
    ["country", str(location.country)],
    ["region", str(location.region)],
    ["city", str(location.city)],
    ["location_lat", num(location.latitude)],
    ["location_lng", num(location.longitude)],
    ["language", str(c.locale)],
    ["app_version", str(app.version)],
    ["idfa", deviceType === "ios" ? str(device.advertisingId) : undefined],
    ["adid", deviceType === "android" ? str(device.advertisingId) : undefined],
    ["session_id", num(obj(obj(event.integrations).Amplitude).session_id)],
    ["library", str(library.name) ? `sluice/${str(library.name)}${str(library.version) ? `/${str(library.version)}` : ""}` : "sluice"],
  ]);
}

function map(event: SluiceEvent): AmplitudeEvent {
  const base = common(event);
  if (base.user_id === undefined && base.device_id === undefined)
    throw new PermanentError("Amplitude needs a user_id or a device_id: the event has neither userId nor anonymousId", undefined, "missing_identity");
  const properties = obj(event.properties);
  const traits = obj(obj(event.context).traits);
  const named = (prefix: string) => (str(event.name) ? `${prefix} ${str(event.name)}` : prefix);
  switch (event.type) {
    case "track": {
      const revenue = defined([
        ["revenue", num(properties.revenue)],
        ["price", num(properties.price)],
        ["quantity", num(properties.quantity)],
        ["productId", str(properties.product_id) ?? str(properties.productId)],
        ["revenueType", str(properties.revenueType) ?? str(properties.revenue_type)],
      ]);
      return { ...base, event_type: str(event.event) ?? "(no name)", event_properties: properties, ...defined([["user_properties", userProperties(traits, event)]]), ...revenue };
    }
    case "page":
    case "screen": {
      const props = { ...properties, ...defined([["name", str(event.name)], ["category", str(event.category)]]) };
      return { ...base, event_type: named(event.type === "page" ? "Viewed" : "Viewed Screen"), event_properties: props, ...defined([["user_properties", userProperties(traits, event)]]) };
    }
    case "identify":
      return { ...base, event_type: "$identify", user_properties: userProperties(obj(event.traits), event) ?? { $set: {} } };
    case "group": {
      const groupId = str(event.groupId);
      if (!groupId) throw new PermanentError("a group call without groupId cannot set an Amplitude group", undefined, "missing_group_id");
      const groupType = str(obj(event.traits).group_type) ?? "group";
      return { ...base, event_type: "$identify", groups: { [groupType]: groupId }, group_properties: obj(event.traits), user_properties: { $set: { [groupType]: groupId } } };
    }
    case "alias":
      throw new PermanentError("Amplitude does not take alias calls", undefined, "unsupported_type");
  }
}

/** Indexes named by a response field that maps a field name (or user/device id) to indexes, or is an index list. */
function indexes(value: unknown): Map<number, string> {
  const out = new Map<number, string>();
  if (Array.isArray(value)) for (const i of value) if (typeof i === "number") out.set(i, "");
  for (const [field, list] of Object.entries(obj(value))) if (Array.isArray(list)) for (const i of list) if (typeof i === "number") out.set(i, field);
  return out;
}

/** Keys of a map of throttled users or devices (`{"<id>": <count>}`). */
const keys = (v: unknown): Set<string> => new Set(Object.keys(obj(v)));

async function post(events: readonly AmplitudeEvent[], at: readonly number[], results: EventResult[], c: Compiled, ctx: DeliveryContext<AmplitudeSettings>, resend: boolean): Promise<void> {
  const done = (positions: readonly number[], result: EventResult) => positions.forEach((p) => (results[at[p]!] = result));
  const all = events.map((_, p) => p);
  let response;
  try {
    response = await postJson(ctx, c.url, { api_key: c.apiKey, events, options: { min_id_length: 1 } });
  } catch (err) {
    return done(all, { ok: false, error: err as DeliveryError });
  }
  const body = response.status === 400 || response.status === 429 ? jsonObject(response.body) : undefined;
  const error = responseError(response, ctx);
  if (!error) return done(all, { ok: true });
  const retry: number[] = [];
  let partial = false;
  if (body && response.status === 400) {
    const bad = new Map([...indexes(body.events_with_invalid_fields), ...indexes(body.events_with_missing_fields)]);
    const invalid = indexes(body.events_with_invalid_fields);
    if (bad.size > 0) {
      partial = true;
      for (const [p, field] of bad) {
        if (p >= events.length) continue;
        const what = invalid.has(p) ? `invalid field ${field}` : `missing field ${field}`;
        results[at[p]!] = { ok: false, error: new PermanentError(`Amplitude rejected the event: ${String(body.error ?? "Bad Request")} (${what})`, 400, "http_400") };
      }
      for (const p of all) if (!bad.has(p)) retry.push(p);
    }
  } else if (body && response.status === 429) {
    const listed = indexes(body.throttled_events);
    const users = new Set([...keys(body.throttled_users), ...keys(body.exceeded_daily_quota_users)]);
    const devices = new Set([...keys(body.throttled_devices), ...keys(body.exceeded_daily_quota_devices)]);
    const throttled = all.filter((p) => listed.has(p) || users.has(String(events[p]!.user_id)) || devices.has(String(events[p]!.device_id)));
    if (throttled.length > 0) {
      partial = true;
      const wait = parseRetryAfter(response.headers.get("retry-after"), ctx.now()) ?? THROTTLE_SECONDS;
      const quota = Object.keys(obj(body.exceeded_daily_quota_users)).length + Object.keys(obj(body.exceeded_daily_quota_devices)).length > 0;
      done(throttled, { ok: false, error: new RetryableError(`Amplitude throttled the event's user or device: ${String(body.error ?? "Too Many Requests")}`, 429, wait, quota ? "daily_quota" : "http_429") });
      const set = new Set(throttled);
      for (const p of all) if (!set.has(p)) retry.push(p);
    }
  }
  if (!partial) {
    // No per-event answer: the status decides for the whole request.
    if (response.status === 429 && error instanceof RetryableError && error.retryAfterSeconds === undefined)
      return done(all, { ok: false, error: new RetryableError(error.message, 429, THROTTLE_SECONDS) });
    return done(all, { ok: false, error });
  }
  if (retry.length === 0) return;
  if (!resend) return done(retry, { ok: false, error: new RetryableError("Amplitude rejected the request for other events; sending again", response.status, undefined, "batch_rejected") });
  // Amplitude ingested none of the request: the events it did not object to go again now, without the others.
  await post(retry.map((p) => events[p]!), retry.map((p) => at[p]!), results, c, ctx, false);
}

async function send(parts: readonly AmplitudeEvent[], c: Compiled, ctx: DeliveryContext<AmplitudeSettings>): Promise<EventResult[]> {
  const results: EventResult[] = new Array(parts.length);
  await post(parts, parts.map((_, i) => i), results, c, ctx, true);
  return results;
}

export const amplitude = defineVendorDestination<AmplitudeSettings, AmplitudeEvent, Compiled>({
  kind: "amplitude",
  description: "Amplitude: events, identifies and groups via the HTTP V2 API (/2/httpapi)",
  settings,
  // Amplitude's user mapping (alias) is a separate API that merges users for good; not sent.
  eventTypes: ["track", "identify", "page", "screen", "group"],
  // 2,000 events and 1 MB per request (a little kept for the envelope: api_key, options).
  limits: () => ({ maxEvents: 2000, maxBytes: 1_000_000 - 1000, maxEventBytes: 1_000_000 - 1000 }),
  compile: (cfg) => ({ url: `${baseUrl(cfg.endpoint ?? REGIONS[cfg.region])}/2/httpapi`, apiKey: cfg.api_key }),
  map: (event) => map(event),
  send,
  docs: {
    settings: {
      api_key: "the project's API key (sent in the body, as Amplitude requires); use `${env.NAME}`",
      region: "the project's data residency: `us` (api2.amplitude.com) or `eu` (api.eu.amplitude.com)",
      endpoint: "a base URL replacing the region's (a proxy, a test server): `http(s)://…` or `${env.NAME}`; `/2/httpapi` is appended",
    },
    mapping: [
      { from: "track `event`", to: "`event_type`" },
      { from: "page / screen `name`", to: "`Viewed <name>` / `Viewed Screen <name>`" },
      { from: "identify `traits`", to: "`$identify` with `user_properties.$set`" },
      { from: "group `groupId`, `traits`", to: "`$identify` with `groups: {<traits.group_type or group>: groupId}`, `group_properties`" },
      { from: "`properties`", to: "`event_properties`; `revenue`, `price`, `quantity`, `product_id`, `revenueType` also top level" },
      { from: "`context.traits`", to: "`user_properties.$set` (track, page, screen)" },
      { from: "`userId`", to: "`user_id`" },
      { from: "`context.device.id` ?? `anonymousId`", to: "`device_id`" },
      { from: "`messageId`", to: "`insert_id`" },
      { from: "`timestamp`", to: "`time` (ms)" },
      { from: "`context.ip`", to: "`ip`" },
      { from: "`context.userAgent`", to: "`os_name`, `os_version` (the browser, as Amplitude's web SDK reports it), `platform: Web`", note: "when `context.os` is absent" },
      { from: "`context.os.*`, `context.device.*`", to: "`os_name`, `os_version`, `device_brand`, `device_manufacturer`, `device_model`, `idfa`/`adid`, `platform`" },
      { from: "`context.campaign.*`, `context.page.referrer`", to: "`user_properties.$set` `utm_*`, `referrer`; `$setOnce` `initial_utm_*`, `initial_referrer`" },
      { from: "`context.locale`, `.app.version`, `.network.carrier`", to: "`language`, `app_version`, `carrier`" },
      { from: "`context.location.*`", to: "`country`, `region`, `city`, `location_lat`, `location_lng`" },
      { from: "`integrations.Amplitude.session_id`", to: "`session_id`" },
    ],
    notes: [
      "Every request carries `options.min_id_length: 1`, so short user ids are accepted. An event without userId and anonymousId fails alone, finally.",
      "A 400 naming `events_with_invalid_fields` or `events_with_missing_fields` fails those events with the field as the reason; the rest are sent again at once. A 429 naming `throttled_events`, `throttled_users` or `throttled_devices` (or `exceeded_daily_quota_*`) retries only those, after `Retry-After` or 30 s; the rest are sent again at once. Amplitude drops a repeated `insert_id` for 7 days.",
      "alias is not sent (Amplitude's user mapping is a separate API); routing counts alias calls `dropped.unsupported_type`.",
    ],
  },
});

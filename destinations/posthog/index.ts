/**
 * PostHog: `POST <host>/batch/` with `{api_key, batch: [{event, distinct_id, properties, timestamp, uuid}]}`.
 * Track keeps its name; page, screen, identify, group and alias become PostHog's `$pageview`, `$screen`,
 * `$identify`, `$groupidentify` and `$create_alias`; context fields become PostHog's `$` properties. The
 * `uuid` is the messageId, so PostHog drops a redelivered event.
 */
import { s } from "../../src/config/schema.ts";
import { PermanentError } from "../../src/delivery/errors.ts";
import { eventResult } from "../../src/delivery/destination.ts";
import { uuidFor } from "../../src/delivery/stable-hash.ts";
import { baseUrl, defineVendorDestination, ENDPOINT_PATTERN, postJson, responseError } from "../../src/delivery/vendor.ts";
import { browserOf, obj, str } from "../../src/delivery/vendor-context.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";

const settings = s.object({
  api_key: s.string({ minLength: 1 }),
  host: s.withDefault(s.string({ pattern: ENDPOINT_PATTERN }), "https://us.i.posthog.com"),
  /** Sets `$geoip_disable` on every event, as Segment's PostHog destination does. */
  geoip_disable: s.withDefault(s.boolean(), false),
  /** Sends `historical_migration: true` with each batch (PostHog's flag for imports of past data), as Segment's PostHog destination can. */
  historical_migration: s.withDefault(s.boolean(), false),
  /** `$group_type` of group calls (a group type of the PostHog project). */
  group_type: s.withDefault(s.string({ minLength: 1, maxLength: 100 }), "company"),
  timeout_ms: s.withDefault(s.number({ integer: true, min: 100, max: 30_000 }), 10_000),
});
export type PosthogSettings = NonNullable<ReturnType<typeof settings.check>>;

export interface PosthogPart {
  event: string;
  distinct_id: string;
  properties: Record<string, unknown>;
  timestamp: string;
  uuid: string;
}

type Props = Record<string, unknown>;

/** PostHog's `$device_type` values from Segment's `context.device.type`. */
const DEVICE_TYPES: Record<string, string> = { mobile: "Mobile", ios: "Mobile", android: "Mobile", tablet: "Tablet", ipad: "Tablet", desktop: "Desktop", tv: "TV" };

/** `context` → PostHog's `$` properties (and utm_* from `context.campaign`), only those present. */
export function contextProperties(context: Props, geoipDisable: boolean): Props {
  const out: Props = {};
  const set = (k: string, v: unknown) => {
    if (v !== undefined && v !== null && v !== "") out[k] = v;
  };
  set("$ip", str(context.ip));
  const ua = str(context.userAgent);
  set("$raw_user_agent", ua);
  if (ua) set("$browser", browserOf(ua).name);
  const os = obj(context.os);
  set("$os", str(os.name));
  set("$os_version", str(os.version));
  const device = obj(context.device);
  const type = str(device.type)?.toLowerCase();
  set("$device_type", type !== undefined ? (DEVICE_TYPES[type] ?? str(device.type)) : undefined);
  set("$device_manufacturer", str(device.manufacturer));
  set("$device_model", str(device.model));
  const library = obj(context.library);
  set("$lib", str(library.name));
  set("$lib_version", str(library.version));
  const app = obj(context.app);
  set("$app_name", str(app.name));
  set("$app_version", str(app.version));
  set("$app_build", str(app.build));
  set("$browser_language", str(context.locale));
  set("$timezone", str(context.timezone));
  const screen = obj(context.screen);
  set("$screen_width", typeof screen.width === "number" ? screen.width : undefined);
  set("$screen_height", typeof screen.height === "number" ? screen.height : undefined);
  const campaign = obj(context.campaign);
  for (const k of ["source", "medium", "term", "content"]) set(`utm_${k}`, str(campaign[k]));
  set("utm_campaign", str(campaign.name));
  if (geoipDisable) out.$geoip_disable = true;
  return out;
}

/** One Segment event → one PostHog batch item. */
export function mapEvent(event: SluiceEvent, cfg: Pick<PosthogSettings, "geoip_disable" | "group_type">): PosthogPart {
  const userId = str(event.userId);
  const anonymousId = str(event.anonymousId);
  const distinct_id = userId ?? anonymousId;
  if (distinct_id === undefined) throw new PermanentError("PostHog needs a userId or an anonymousId for distinct_id", undefined, "missing_identity");
  const context = obj(event.context);
  const properties = obj(event.properties);
  const base = contextProperties(context, cfg.geoip_disable);
  let name: string;
  let own: Props;
  switch (event.type) {
    case "track":
      name = str(event.event) ?? "";
      if (name === "") throw new PermanentError("track event without a name", undefined, "missing_field");
      own = properties;
      break;
    case "page": {
      const page = obj(context.page);
      name = "$pageview";
      own = { ...properties, $current_url: str(properties.url) ?? str(page.url), $pathname: str(properties.path) ?? str(page.path), $title: str(properties.title) ?? str(page.title) ?? str(event.name), $referrer: str(properties.referrer) ?? str(page.referrer) };
      break;
    }
    case "screen":
      name = "$screen";
      own = { ...properties, $screen_name: str(event.name) ?? str(properties.name) };
      break;
    case "identify":
      name = "$identify";
      own = { $set: obj(event.traits) };
      // Links the anonymous history to the user, as PostHog's own identify does.
      if (userId !== undefined && anonymousId !== undefined && anonymousId !== userId) own.$anon_distinct_id = anonymousId;
      break;
    case "group": {
      const groupId = str(event.groupId);
      if (groupId === undefined) throw new PermanentError("group call without a groupId", undefined, "missing_field");
      name = "$groupidentify";
      own = { $group_type: cfg.group_type, $group_key: groupId, $group_set: obj(event.traits) };
      break;
    }
    case "alias": {
      const previousId = str(event.previousId);
      if (previousId === undefined || userId === undefined) throw new PermanentError("alias needs userId and previousId", undefined, "missing_field");
      name = "$create_alias";
      own = { alias: previousId };
      break;
    }
  }
  const props: Props = { ...base };
  // defineProperty, not assignment: a property named `__proto__` stays a property instead of reaching a setter.
  for (const [k, v] of Object.entries(own)) if (v !== undefined) Object.defineProperty(props, k, { value: v, enumerable: true, writable: true, configurable: true });
  props.distinct_id = distinct_id;
  return { event: name, distinct_id, properties: props, timestamp: event.timestamp, uuid: uuidFor(event.messageId) };
}

interface Compiled {
  url: string;
  /** The body up to the batch: `{"api_key":…[,"historical_migration":true],"batch":` */
  head: string;
  timeoutMs: number;
  cfg: PosthogSettings;
}

export const posthog = defineVendorDestination<PosthogSettings, PosthogPart, Compiled>({
  kind: "posthog",
  description: "PostHog's batch API: events, page views, screens, person and group properties, aliases",
  settings,
  eventTypes: ["track", "page", "screen", "identify", "group", "alias"],
  // PostHog's /batch/ takes up to 20 MB; an event is refused above 1 MB.
  limits: () => ({ maxEvents: 1000, maxBytes: 19_000_000, maxEventBytes: 1_000_000 }),
  compile: (cfg) => ({
    url: `${baseUrl(cfg.host)}/batch/`,
    head: `{"api_key":${JSON.stringify(cfg.api_key)},${cfg.historical_migration ? `"historical_migration":true,` : ""}"batch":`,
    timeoutMs: cfg.timeout_ms,
    cfg,
  }),
  map: (event, c) => mapEvent(event, c.cfg),
  async send(parts, c, ctx) {
    // The envelope is written by hand so the parts are not copied into a second object.
    const body = `${c.head}${JSON.stringify(parts)}}`;
    const res = await postJson(ctx, c.url, body, {}, c.timeoutMs);
    const error = responseError(res, ctx);
    return parts.map(() => eventResult(error));
  },
  docs: {
    mapping: [
      { from: "track", to: "`event` = the event name", note: "properties as they are" },
      { from: "page", to: "`$pageview`", note: "`$current_url` ← `properties.url` or `context.page.url`, `$pathname` ← `path`, `$title` ← `title` (else the page name), `$referrer` ← `referrer`" },
      { from: "screen", to: "`$screen`", note: "`$screen_name` ← `name`" },
      { from: "identify", to: "`$identify`", note: "`$set` ← traits; `$anon_distinct_id` ← anonymousId when both ids are set, so earlier anonymous events join the person" },
      { from: "group", to: "`$groupidentify`", note: "`$group_type` ← the `group_type` setting, `$group_key` ← groupId, `$group_set` ← traits" },
      { from: "alias", to: "`$create_alias`", note: "`distinct_id` ← userId, `alias` ← previousId" },
      { from: "userId, else anonymousId", to: "`distinct_id`", note: "also in `properties.distinct_id`" },
      { from: "messageId", to: "`uuid`", note: "a UUID as it is; any other messageId becomes a UUID-shaped id (version 5, RFC 4122 variant) from a 128-bit hash of it, the same on every redelivery" },
      { from: "timestamp", to: "`timestamp`" },
      { from: "context.ip", to: "`$ip`" },
      { from: "context.userAgent", to: "`$raw_user_agent`, `$browser`", note: "Microsoft Edge, Opera, Samsung Internet, Firefox, Chrome, Mobile Safari or Safari, read from the user agent as the other vendor kinds read it" },
      { from: "context.os.name / version", to: "`$os` / `$os_version`" },
      { from: "context.device.type / manufacturer / model", to: "`$device_type` (Mobile, Tablet, Desktop) / `$device_manufacturer` / `$device_model`" },
      { from: "context.library.name / version", to: "`$lib` / `$lib_version`" },
      { from: "context.app.name / version / build", to: "`$app_name` / `$app_version` / `$app_build`" },
      { from: "context.locale, timezone, screen", to: "`$browser_language`, `$timezone`, `$screen_width` / `$screen_height`" },
      { from: "context.campaign.name / source / medium / term / content", to: "`utm_campaign` / `utm_source` / `utm_medium` / `utm_term` / `utm_content`" },
      { from: "setting `geoip_disable: true`", to: "`$geoip_disable: true`", note: "PostHog then adds no location from the IP" },
      { from: "setting `historical_migration: true`", to: "`historical_migration: true` on each batch", note: "for imports of past events: PostHog processes them in order, outside its spike detection" },
    ],
    notes: [
      "PostHog dedupes on `uuid`, so an event delivered twice (a retry after a timeout, a replay) is stored once.",
      "One request holds up to 1,000 events and stays under PostHog's 20 MB; an event whose item is over 1 MB fails alone (`too_large`). PostHog accepts or refuses a batch whole: a 5xx, 429 or network error retries all of that request's events, and a 400 or 401 dead-letters them with PostHog's answer.",
      "`host` is the ingestion host: `https://us.i.posthog.com` (default), `https://eu.i.posthog.com`, or a self-hosted or reverse-proxy URL.",
    ],
  },
});

/**
 * Mixpanel: events to `POST /import?strict=1` (Basic `api_secret:`), identify to `/engage` (`$set`, traits renamed
 * to Mixpanel's reserved names) and group to `/groups`. One event may need several requests (an identify with an
 * anonymousId is an `$identify` event and a profile update); it is delivered once every request it is part of
 * succeeded. A strict-mode 400 lists `failed_records`: only those events fail, the rest were imported.
 */
import { s } from "../../src/config/schema.ts";
import { eventResult, type DeliveryContext, type EventResult } from "../../src/delivery/destination.ts";
import { PermanentError, type DeliveryError } from "../../src/delivery/errors.ts";
import { baseUrl, basicAuth, defineVendorDestination, ENDPOINT_PATTERN, jsonObject, postJson, responseError } from "../../src/delivery/vendor.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { hashId } from "../../src/delivery/stable-hash.ts";
import { browserOf, defined, eventTime, obj, osOf, str } from "../../src/delivery/vendor-context.ts";

const REGIONS = { us: "https://api.mixpanel.com", eu: "https://api-eu.mixpanel.com", in: "https://api-in.mixpanel.com" } as const;

const settings = s.object({
  project_token: s.string({ minLength: 1 }),
  api_secret: s.string({ minLength: 1 }),
  region: s.withDefault(s.literal("us", "eu", "in"), "us"),
  endpoint: s.optional(s.string({ pattern: ENDPOINT_PATTERN })),
});
type MixpanelSettings = NonNullable<ReturnType<typeof settings.check>>;

interface Compiled {
  base: string;
  token: string;
  auth: string;
}

type Props = Record<string, unknown>;
/** One event's share of the requests: an /import record, a profile update, a group update (any of them). */
export interface MixpanelPart {
  import?: { event: string; properties: Props };
  engage?: Props;
  groups?: Props;
}

/** Mixpanel's event properties an event's own properties may not set. */
const RESERVED = new Set(["time", "distinct_id", "$insert_id", "token", "$user_id", "$device_id", "$anon_id"]);
/** Segment trait → Mixpanel reserved profile property. */
const PROFILE_TRAITS: Record<string, string> = {
  email: "$email",
  name: "$name",
  first_name: "$first_name",
  firstName: "$first_name",
  last_name: "$last_name",
  lastName: "$last_name",
  phone: "$phone",
  avatar: "$avatar",
  created_at: "$created",
  createdAt: "$created",
  username: "$username",
};
const GROUP_TRAITS: Record<string, string> = { name: "$name", created_at: "$created", createdAt: "$created", avatar: "$avatar" };

/**
 * `$insert_id`: the messageId when Mixpanel takes it as is (≤ 36 letters, digits and dashes), else a 128-bit hash (32 hex) of
 * it: stable, so a redelivery is still deduplicated by Mixpanel.
 */
export function insertId(messageId: string): string {
  return /^[A-Za-z0-9-]{1,36}$/.test(messageId) ? messageId : hashId(messageId);
}

/** What `context` says, as Mixpanel's default properties. */
function contextProperties(event: SluiceEvent): Props {
  const c = obj(event.context);
  const os = obj(c.os);
  const device = obj(c.device);
  const app = obj(c.app);
  const page = obj(c.page);
  const screen = obj(c.screen);
  const network = obj(c.network);
  const campaign = obj(c.campaign);
  const library = obj(c.library);
  const location = obj(c.location);
  const ua = str(c.userAgent);
  const b = ua ? browserOf(ua) : {};
  const uaOs = ua ? osOf(ua) : {};
  return defined([
    ["ip", str(c.ip)],
    ["$current_url", str(page.url)],
    ["$referrer", str(page.referrer)],
    ["$browser", b.name],
    ["$browser_version", b.version],
    ["$os", str(os.name) ?? uaOs.name],
    ["$os_version", str(os.name) ? str(os.version) : uaOs.version],
    ["$device", str(device.name) ?? str(device.model)],
    ["$device_id", str(device.id)],
    ["$model", str(device.model)],
    ["$manufacturer", str(device.manufacturer)],
    ["$ios_ifa", str(device.advertisingId)],
    ["$app_name", str(app.name)],
    ["$app_namespace", str(app.namespace)],
    ["$app_version_string", str(app.version)],
    ["$app_build_number", str(app.build)],
    ["$screen_width", screen.width],
    ["$screen_height", screen.height],
    ["$screen_density", screen.density],
    ["$carrier", str(network.carrier)],
    ["$wifi_enabled", network.wifi],
    ["$cellular_enabled", network.cellular],
    ["$bluetooth_enabled", network.bluetooth],
    ["$locale", str(c.locale)],
    ["timezone", str(c.timezone)],
    ["mp_country_code", str(location.country)],
    ["$city", str(location.city)],
    ["mp_lib", str(library.name) && `Sluice: ${str(library.name)}`],
    ["$lib_version", str(library.version)],
    ["utm_source", str(campaign.source)],
    ["utm_medium", str(campaign.medium)],
    ["utm_campaign", str(campaign.name)],
    ["utm_term", str(campaign.term)],
    ["utm_content", str(campaign.content)],
  ]);
}

/** An /import record: the event's own properties, then context and identity (which they may not override), then `special` (what an $identify or $create_alias means). */
function importRecord(event: SluiceEvent, name: string, own: Props, token: string, special: Props = {}): { event: string; properties: Props } {
  const properties: Props = {};
  for (const [k, v] of Object.entries(own)) if (!RESERVED.has(k)) properties[k] = v;
  const userId = str(event.userId);
  const anonymousId = str(event.anonymousId);
  Object.assign(
    properties,
    contextProperties(event),
    defined([
      ["$user_id", userId],
      ["$device_id", anonymousId ?? str(obj(obj(event.context).device).id)],
    ]),
    { token, time: eventTime(event), distinct_id: userId ?? anonymousId ?? "", $insert_id: insertId(event.messageId) },
    special,
  );
  return { event: name, properties };
}

function renamed(traits: Props, names: Record<string, string>): Props {
  const out: Props = {};
  for (const [k, v] of Object.entries(traits)) out[names[k] ?? k] = v;
  return out;
}

function map(event: SluiceEvent, c: Compiled): MixpanelPart {
  const properties = obj(event.properties);
  switch (event.type) {
    case "track":
      return { import: importRecord(event, str(event.event) ?? "(no name)", properties, c.token) };
    case "page":
      return { import: importRecord(event, "Loaded a Page", { ...properties, ...defined([["name", str(event.name)], ["category", str(event.category)]]) }, c.token) };
    case "screen":
      return { import: importRecord(event, "Loaded a Screen", { ...properties, ...defined([["name", str(event.name)]]) }, c.token) };
    case "identify": {
      const part: MixpanelPart = {};
      const userId = str(event.userId);
      const anonymousId = str(event.anonymousId);
      if (userId && anonymousId) part.import = importRecord(event, "$identify", {}, c.token, { $identified_id: userId, $anon_id: anonymousId });
      const traits = obj(event.traits);
      const distinctId = userId ?? anonymousId;
      if (distinctId && Object.keys(traits).length > 0) {
        part.engage = { $token: c.token, $distinct_id: distinctId, $time: eventTime(event), ...defined([["$ip", str(obj(event.context).ip)]]), $set: renamed(traits, PROFILE_TRAITS) };
      }
      return part;
    }
    case "group": {
      const groupId = str(event.groupId);
      if (!groupId) throw new PermanentError("a group call without groupId cannot update a Mixpanel group", undefined, "missing_group_id");
      return { groups: { $token: c.token, $group_key: "$group_id", $group_id: groupId, $set: renamed(obj(event.traits), GROUP_TRAITS) } };
    }
    case "alias": {
      const previousId = str(event.previousId);
      const userId = str(event.userId);
      if (!previousId || !userId) throw new PermanentError("an alias call needs previousId and userId", undefined, "missing_field");
      return { import: importRecord(event, "$create_alias", {}, c.token, { alias: userId, distinct_id: previousId }) };
    }
  }
}

/** A Mixpanel answer `{status: 0|1, error}` (`verbose=1`) or `1`/`0`. */
function engageError(body: string): string | undefined {
  const parsed = jsonObject(body);
  if (parsed) return parsed.status === 0 ? String(parsed.error ?? body.slice(0, 200)) : undefined;
  return body.trim() === "0" ? "Mixpanel answered 0 (update not accepted)" : undefined;
}

/** Mixpanel takes profile updates in batches of 2,000 and group updates of 200. */
const CHUNK = { import: 2000, engage: 2000, groups: 200 } as const;

async function send(parts: readonly MixpanelPart[], c: Compiled, ctx: DeliveryContext<MixpanelSettings>): Promise<EventResult[]> {
  const errors: (DeliveryError | undefined)[] = new Array(parts.length);
  const fail = (i: number, error: DeliveryError) => {
    const prev = errors[i];
    // A final failure outranks a retryable one: retrying would not change it.
    if (!prev || (prev.retryable && !error.retryable)) errors[i] = error;
  };
  // The three endpoints are independent: their requests go out side by side.
  const post = async (endpoint: "import" | "engage" | "groups") => {
    const owners: number[] = [];
    const items: unknown[] = [];
    parts.forEach((p, i) => {
      const item = p[endpoint];
      if (item) {
        owners.push(i);
        items.push(item);
      }
    });
    for (let from = 0; from < items.length; from += CHUNK[endpoint]) {
      const chunk = items.slice(from, from + CHUNK[endpoint]);
      const at = owners.slice(from, from + CHUNK[endpoint]);
      const url = endpoint === "import" ? `${c.base}/import?strict=1` : `${c.base}/${endpoint}?verbose=1`;
      const headers: Record<string, string> = endpoint === "import" ? { authorization: c.auth } : {};
      let response;
      try {
        response = await postJson(ctx, url, chunk, headers);
      } catch (err) {
        for (const i of at) fail(i, err as DeliveryError);
        continue;
      }
      const failed = endpoint === "import" && response.status === 400 ? jsonObject(response.body)?.failed_records : undefined;
      if (Array.isArray(failed)) {
        // Strict mode: the records listed failed validation; the others were imported.
        for (const record of failed) {
          const r = obj(record);
          const i = typeof r.index === "number" ? at[r.index] : undefined;
          if (i === undefined) continue;
          const why = [str(r.field), str(r.message)].filter(Boolean).join(": ") || "failed validation";
          fail(i, new PermanentError(`Mixpanel rejected the event: ${why}`, 400, "http_400"));
        }
        continue;
      }
      const error = responseError(response, ctx);
      if (error) {
        for (const i of at) fail(i, error);
        continue;
      }
      if (endpoint !== "import") {
        const why = engageError(response.body);
        if (why) for (const i of at) fail(i, new PermanentError(`Mixpanel /${endpoint}: ${why}`, response.status, `${endpoint}_rejected`));
      }
    }
  };
  await Promise.all([post("import"), post("engage"), post("groups")]);
  return parts.map((_, i) => {
    const error = errors[i];
    return eventResult(error);
  });
}

export const mixpanel = defineVendorDestination<MixpanelSettings, MixpanelPart, Compiled>({
  kind: "mixpanel",
  description: "Mixpanel: events via /import (strict), profiles via /engage, groups via /groups",
  settings,
  eventTypes: ["track", "identify", "page", "screen", "group", "alias"],
  // 2,000 records and 10 MB per /import request, 1 MB per record (a little kept for the array's own bytes).
  limits: () => ({ maxEvents: 2000, maxBytes: 10_000_000 - 1000, maxEventBytes: 1_000_000 }),
  compile: (cfg) => ({ base: baseUrl(cfg.endpoint ?? REGIONS[cfg.region]), token: cfg.project_token, auth: basicAuth(cfg.api_secret) }),
  map,
  send,
  docs: {
    settings: {
      project_token: "the project's token (Project Settings → Access Keys); profile and group updates carry it",
      api_secret: "the project's API secret, sent as Basic auth (`api_secret:`) to /import; use `${env.NAME}`",
      region: "the data residency of the project: `us` (api.mixpanel.com), `eu` (api-eu) or `in` (api-in)",
      endpoint: "a base URL replacing the region's (a proxy, a test server): `http(s)://…` or `${env.NAME}`",
    },
    mapping: [
      { from: "track `event`", to: "`event`", note: "POST /import?strict=1" },
      { from: "page", to: "`Loaded a Page` with `name`, `category`" },
      { from: "screen", to: "`Loaded a Screen` with `name`" },
      { from: "identify (userId and anonymousId)", to: "`$identify` with `$identified_id`, `$anon_id`" },
      { from: "identify `traits`", to: "/engage `$set`", note: "email→$email, name→$name, first_name→$first_name, last_name→$last_name, phone→$phone, avatar→$avatar, created_at→$created, username→$username" },
      { from: "group `groupId`, `traits`", to: "/groups `$group_key: $group_id`, `$group_id`, `$set`", note: "name→$name, created_at→$created" },
      { from: "alias `previousId`, `userId`", to: "`$create_alias` with `distinct_id`, `alias`" },
      { from: "`properties`", to: "`properties`", note: "except Mixpanel's reserved time, distinct_id, $insert_id, token" },
      { from: "`userId` ?? `anonymousId`", to: "`distinct_id`; also `$user_id`, `$device_id`" },
      { from: "`messageId`", to: "`$insert_id`", note: "as is when ≤ 36 letters, digits and dashes, else a 32-hex hash of it" },
      { from: "`timestamp`", to: "`time` (ms)" },
      { from: "`context.ip`", to: "`ip` (geolocation)" },
      { from: "`context.userAgent`", to: "`$browser`, `$browser_version`" },
      { from: "`context.os.name`, `.version`", to: "`$os`, `$os_version`" },
      { from: "`context.device.*`", to: "`$device`, `$device_id`, `$model`, `$manufacturer`, `$ios_ifa`" },
      { from: "`context.app.*`", to: "`$app_name`, `$app_namespace`, `$app_version_string`, `$app_build_number`" },
      { from: "`context.campaign.*`", to: "`utm_source`, `utm_medium`, `utm_campaign`, `utm_term`, `utm_content`" },
      { from: "`context.page.url`, `.referrer`", to: "`$current_url`, `$referrer`" },
      { from: "`context.locale`, `.timezone`, `.location.country`", to: "`$locale`, `timezone`, `mp_country_code`" },
      { from: "`context.screen.*`, `.network.*`, `.library.*`", to: "`$screen_*`, `$carrier`, `$wifi_enabled`, …, `mp_lib`, `$lib_version`" },
    ],
    notes: [
      "An event may need several requests: an identify with both ids is an `$identify` record and a profile update. It is delivered once every one of them succeeded; when one is retried, the others are sent again too, and Mixpanel drops the repeated record by its `$insert_id`.",
      "A strict-mode 400 names `failed_records`: only those events fail, with Mixpanel's field and message as the reason; the others were imported. A `/engage` or `/groups` answer with `status: 0` fails its updates with Mixpanel's error.",
      "A group call needs `groupId` and an alias call `previousId` and `userId`; without them the event fails alone, finally.",
    ],
  },
});

/**
 * Google Analytics 4 through the Measurement Protocol: `POST /mp/collect?measurement_id=…&api_secret=…` (web
 * stream) or `?firebase_app_id=…&api_secret=…` (app stream), up to 25 events per request, all about one
 * client. Mapping: ./map.ts. GA4 answers 2xx even for events it discards; `validate: true` asks its validation
 * server (`/debug/mp/collect`) first and fails only the events it objects to.
 */
import { s, type Problem, type Schema } from "../../src/config/schema.ts";
import type { DeliveryContext, EventResult } from "../../src/delivery/destination.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { DeliveryError, PermanentError } from "../../src/delivery/errors.ts";
import { baseUrl, defineVendorDestination, ENDPOINT_PATTERN, postJson, responseError } from "../../src/delivery/vendor.ts";
import { GA4_LIMITS, identityOf, mapEvent, type Ga4Part } from "./map.ts";

const shape = s.object({
  measurement_id: s.optional(s.string({ minLength: 1 })),
  firebase_app_id: s.optional(s.string({ minLength: 1 })),
  api_secret: s.string({ minLength: 1 }),
  endpoint: s.withDefault(s.string({ pattern: ENDPOINT_PATTERN }), "https://www.google-analytics.com"),
  validate: s.withDefault(s.boolean(), false),
  timeout_ms: s.withDefault(s.number({ integer: true, min: 100, max: 30_000 }), 10_000),
});
export type Ga4Settings = NonNullable<ReturnType<typeof shape.check>>;

/** The object schema plus one rule it cannot say: a web stream (measurement_id) or an app stream (firebase_app_id). */
const settings: Schema<Ga4Settings> & { shape: typeof shape.shape } = {
  shape: shape.shape,
  describe: shape.describe,
  check(value, path, problems: Problem[]) {
    const out = shape.check(value, path, problems);
    if (out === undefined) return undefined;
    if ((out.measurement_id === undefined) === (out.firebase_app_id === undefined)) {
      problems.push({ path: [...path, "measurement_id"], message: "set exactly one of measurement_id (web stream) and firebase_app_id (app stream)" });
      return undefined;
    }
    return out;
  },
};

interface Compiled {
  collect: string;
  debug: string;
  app: boolean;
  validate: boolean;
  timeoutMs: number;
}

/** Query values encoded, except the colons of a Firebase app id, which GA4 expects as they are. */
const q = (v: string) => encodeURIComponent(v).replace(/%3A/gi, ":");

/** The request body for one client's parts: request-level fields from the first, user properties merged in order. */
function requestBody(parts: readonly Ga4Part[], app: boolean): Record<string, unknown> {
  const first = parts[0]!;
  const body: Record<string, unknown> = { [app ? "app_instance_id" : "client_id"]: first.client };
  if (first.user_id !== undefined) body.user_id = first.user_id;
  body.timestamp_micros = Math.min(...parts.map((p) => p.timestamp_micros));
  const props = Object.assign({}, ...parts.map((p) => p.user_properties ?? {})) as Record<string, unknown>;
  if (Object.keys(props).length > 0) body.user_properties = props;
  const withDevice = parts.find((p) => p.device);
  if (withDevice) body.device = withDevice.device;
  const withIp = parts.find((p) => p.ip_override);
  if (withIp) body.ip_override = withIp.ip_override;
  body.events = parts.flatMap((p) => (p.event ? [p.event] : []));
  return body;
}

/** How far back GA4 takes an event's `timestamp_micros`. */
const MAX_AGE_MS = 72 * 3600_000;

/**
 * Cuts one client's parts (as positions in `parts`) so that no request carries more than GA4's 25 user properties
 * once identify's traits are merged: GA4 would ignore the 26th.
 */
function withinUserPropertyLimit(parts: readonly Ga4Part[]): number[][] {
  const cuts: number[][] = [];
  let cut: number[] = [];
  let names = new Set<string>();
  parts.forEach((p, i) => {
    const own = Object.keys(p.user_properties ?? {});
    const more = own.filter((n) => !names.has(n)).length;
    if (cut.length > 0 && names.size + more > GA4_LIMITS.userProperties) {
      cuts.push(cut);
      cut = [];
      names = new Set();
    }
    cut.push(i);
    for (const n of own) names.add(n);
  });
  if (cut.length > 0) cuts.push(cut);
  return cuts;
}

interface ValidationMessage {
  fieldPath?: string;
  description?: string;
  validationCode?: string;
}

/** Events of `parts` the validation server objects to, by index in `parts`; `all` when a message names no event. */
function rejectedByValidation(parts: readonly Ga4Part[], messages: readonly ValidationMessage[]): Map<number, string> | "all" {
  const eventIndex = parts.flatMap((p, i) => (p.event ? [i] : []));
  const out = new Map<number, string>();
  for (const m of messages) {
    const reason = `GA4 validation: ${m.description ?? m.validationCode ?? "rejected"}${m.fieldPath ? ` (${m.fieldPath})` : ""}`;
    const at = /^events\[(\d+)\]/.exec(m.fieldPath ?? "");
    const i = at ? eventIndex[Number(at[1])] : undefined;
    if (i === undefined) return "all";
    if (!out.has(i)) out.set(i, reason);
  }
  return out;
}

/** Events per delivery call: enough that a client's events in one queue batch share requests. */
const EVENTS_PER_CALL = 100;

const definition = defineVendorDestination<Ga4Settings, Ga4Part, Compiled>({
  kind: "ga4",
  description: "Google Analytics 4 through the Measurement Protocol, with Segment's ecommerce events as GA4's",
  settings,
  eventTypes: ["track", "page", "identify"],
  limits: () => ({ maxEvents: GA4_LIMITS.eventsPerRequest, maxBytes: GA4_LIMITS.requestBytes, maxEventBytes: GA4_LIMITS.requestBytes }),
  // Calls of up to 100 events: enough that a client's events in one queue batch share requests (see `ga4` below).
  callLimits: () => ({ maxEvents: EVENTS_PER_CALL, maxBytes: 4 * 1024 * 1024 }),
  compile(cfg) {
    const query = `${cfg.firebase_app_id !== undefined ? `firebase_app_id=${q(cfg.firebase_app_id)}` : `measurement_id=${q(cfg.measurement_id!)}`}&api_secret=${q(cfg.api_secret)}`;
    return {
      collect: `${baseUrl(cfg.endpoint)}/mp/collect?${query}`,
      debug: `${baseUrl(cfg.endpoint)}/debug/mp/collect?${query}`,
      app: cfg.firebase_app_id !== undefined,
      validate: cfg.validate,
      timeoutMs: cfg.timeout_ms,
    };
  },
  map: (event, c) => mapEvent(event, { app: c.app }),
  async send(parts, c, ctx) {
    // One request per client (GA4 attributes a request's events to one client and user), in parallel.
    const groups = new Map<string, number[]>();
    const results: EventResult[] = new Array(parts.length);
    // GA4 takes events up to 72 hours old and silently drops older ones: they fail here instead, with the reason.
    const oldest = (ctx.now() - MAX_AGE_MS) * 1000;
    parts.forEach((p, i) => {
      if (p.event && p.event.timestamp_micros < oldest) {
        results[i] = { ok: false, error: new PermanentError(`GA4 drops events more than 72 hours old; this one is from ${new Date(p.event.timestamp_micros / 1000).toISOString()}`, undefined, "too_old") };
        return;
      }
      const key = JSON.stringify([p.client, p.user_id ?? null]);
      const g = groups.get(key);
      if (g) g.push(i);
      else groups.set(key, [i]);
    });
    const fail = (indexes: readonly number[], error: DeliveryError) => indexes.forEach((i) => (results[i] = { ok: false, error }));
    await Promise.all(
      [...groups.values()].flatMap((g) => withinUserPropertyLimit(g.map((i) => parts[i]!)).map((cut) => cut.map((j) => g[j]!))).map(async (indexes) => {
        // What the validation server refused keeps its own (final) result whatever happens to the rest.
        let sending = indexes;
        try {
          if (c.validate) {
            const group = indexes.map((i) => parts[i]!);
            const res = await postJson(ctx, c.debug, JSON.stringify(requestBody(group, c.app)), {}, c.timeoutMs);
            const error = responseError(res, ctx);
            if (error) return fail(indexes, error);
            let messages: ValidationMessage[] = [];
            try {
              messages = (JSON.parse(res.body) as { validationMessages?: ValidationMessage[] }).validationMessages ?? [];
            } catch {
              // A validation answer we cannot read validates nothing: the events are sent as they are.
            }
            const rejected = rejectedByValidation(group, messages);
            if (rejected === "all") return fail(indexes, new PermanentError(`GA4 validation: ${messages[0]?.description ?? "request rejected"}`, undefined, "invalid_event"));
            for (const [j, reason] of rejected) results[indexes[j]!] = { ok: false, error: new PermanentError(reason, undefined, "invalid_event") };
            sending = indexes.filter((_, j) => !rejected.has(j));
            if (sending.length === 0) return;
          }
          const res = await postJson(ctx, c.collect, JSON.stringify(requestBody(sending.map((i) => parts[i]!), c.app)), {}, c.timeoutMs);
          const error = responseError(res, ctx);
          if (error) return fail(sending, error);
          for (const i of sending) results[i] = { ok: true };
        } catch (err) {
          if (err instanceof DeliveryError) return fail(sending, err);
          throw err;
        }
      }),
    );
    return results;
  },
  docs: {
    mapping: [
      { from: "track (any name)", to: "event `name` in snake_case", note: "letters, digits and `_`, starting with a letter, at most 40 characters (`Video Played` → `video_played`); a name with no letters or digits, or one GA4 reserves (`session_start`, `first_visit`, `google_…`), fails for good" },
      { from: "Products Searched", to: "search", note: "`search_term` ← `query`" },
      { from: "Product List Viewed", to: "view_item_list", note: "`item_list_id` ← `list_id`, `item_list_name` ← `category`, `items` ← `products`" },
      { from: "Product Clicked", to: "select_item", note: "`item_list_id` ← `list_id`, `item_list_name` ← `list_name`, `items` ← the product" },
      { from: "Product Viewed", to: "view_item", note: "`currency`, `value` (← `value`, else `price`), `items` ← the product" },
      { from: "Product Added", to: "add_to_cart", note: "as Product Viewed" },
      { from: "Product Removed", to: "remove_from_cart", note: "as Product Viewed" },
      { from: "Product Added to Wishlist", to: "add_to_wishlist", note: "as Product Viewed" },
      { from: "Cart Viewed", to: "view_cart", note: "`currency`, `value` (← `value`, else `total`), `items` ← `products`" },
      { from: "Checkout Started", to: "begin_checkout", note: "`currency`, `value` (← `value`, `revenue` or `total`), `coupon`, `items` ← `products`" },
      { from: "Payment Info Entered", to: "add_payment_info", note: "`currency`, `value`, `coupon`, `payment_type` ← `payment_method`, `items` ← `products`" },
      { from: "Order Completed", to: "purchase", note: "`transaction_id` ← `order_id`, `value` ← `revenue`, else `total` (`value`, `tax` and `shipping` as numbers: a numeric string is converted, anything else left out), `currency` (upper case), `tax`, `shipping`, `coupon`, `affiliation`, `items` ← `products`" },
      { from: "Order Refunded", to: "refund", note: "as Order Completed" },
      { from: "Promotion Viewed", to: "view_promotion", note: "`promotion_id`, `promotion_name` ← `name`, `creative_name`, `creative_slot` ← `creative`, `location_id` ← `position`" },
      { from: "Promotion Clicked", to: "select_promotion", note: "as Promotion Viewed" },
      { from: "Signed Up", to: "sign_up", note: "`method` ← `method`, else `type`" },
      { from: "Signed In", to: "login", note: "`method` ← `method`, else `type`" },
      { from: "products[] / the product's own fields", to: "items[]", note: "`item_id` ← `product_id` (else `sku`), `item_name` ← `name`, `item_brand` ← `brand`, `item_category` ← `category`, `item_variant` ← `variant`, `index` ← `position`, `price`, `quantity`, `coupon`, `affiliation`, `discount`, `currency`; an item with neither id nor name is left out; at most 200" },
      { from: "page", to: "page_view", note: "`page_location` ← `properties.url` or `context.page.url`, `page_title` ← `title`, `page_referrer` ← `referrer` (GA4's longer limits: 1000, 300 and 420 characters)" },
      { from: "identify", to: "`user_properties`", note: "traits as `{value, timestamp_micros}`, names in snake_case ≤ 24 characters, values ≤ 36; GA4 has no identify call, so they ride on the request of the same client (or a request with `events: []` when the client has no event in the batch)" },
      { from: "other properties", to: "event `params`", note: "after the mapped ones, up to 25 in all: keys in snake_case ≤ 40 characters (not `google_`/`ga_`/`firebase_`), strings cut to 100 characters, numbers, booleans as text; objects, lists and nulls are left out" },
      { from: "—", to: "`params.engagement_time_msec` = 1", note: "as Segment's GA4 destination: GA4 only counts users with some engagement time" },
      { from: "anonymousId", to: "client_id", note: "without one, a stable `<digits>.<digits>` hash of the userId; app streams: `app_instance_id` ← `context.device.id`, else the same" },
      { from: "userId", to: "user_id" },
      { from: "timestamp", to: "`timestamp_micros` on each event and user property", note: "the request's is the earliest of its events" },
      { from: "context.locale, os, device", to: "`device`", note: "`language`, `operating_system`, `operating_system_version`, `model`, `brand` ← manufacturer, `category` ← type (`ios`/`android` → `mobile`, `ipad` → `tablet`); from the first event of the request" },
      { from: "context.ip", to: "`ip_override`" },
      { from: "context.campaign, userAgent", to: "not sent", note: "GA4 attributes sessions and devices from its own tag; a `session_id` property passes through as a parameter, which GA4's realtime reports use" },
    ],
    notes: [
      "A request holds at most 25 events of one client (`client_id` and `user_id`): a delivery call (up to 100 events) is ordered by client, cut into requests of 25, and each client's part of a request posted on its own, in parallel, so a failure (429, 5xx, network) fails only that client's events. Bodies stay under GA4's 130 KB (parts are cut at 120,000 bytes).",
      "GA4 answers 2xx even for events it discards, and has no dedup key: an event redelivered after a timeout may count twice. With `validate: true` each request first goes to the validation server (`/debug/mp/collect`, same query); events its `validationMessages` name (`events[N]…`) fail for good with its description, a message about the request fails the whole request, and the rest are sent. That doubles the requests; use it while setting up.",
      "GA4 drops events backdated more than 72 hours, answering 2xx: such an event fails here instead, for good (`too_old`), so it is a dead letter with that reason rather than lost. Screen, group and alias have no GA4 counterpart and are counted `dropped.unsupported_type`.",
      "`endpoint` overrides `https://www.google-analytics.com`: `https://region1.google-analytics.com` collects in the EU.",
    ],
  },
});

/**
 * The definition, with calls of up to 100 events whose events are ordered by client (stably, so each client's
 * events keep their order) before they are cut into requests of 25: a client's events then share requests
 * instead of one request per client and 25-event slice.
 */
export const ga4 = {
  ...definition,
  async deliver(events: readonly SluiceEvent[], ctx: DeliveryContext<Ga4Settings>): Promise<EventResult[]> {
    const app = ctx.settings.firebase_app_id !== undefined;
    const keys = events.map((e) => {
      const who = identityOf(e, { app });
      return who ? `${who.client}\u0000${who.userId ?? ""}` : "";
    });
    const order = events.map((_, i) => i).sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : a - b));
    const sources = ctx.sources;
    const sorted = await definition.deliver(
      order.map((i) => events[i]!),
      sources ? { ...ctx, sources: order.map((i) => sources[i]!) } : ctx,
    );
    const results: EventResult[] = new Array(events.length);
    order.forEach((i, j) => (results[i] = sorted[j]!));
    return results;
  },
};

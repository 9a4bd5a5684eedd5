/**
 * Segment events → GA4 Measurement Protocol event parts. Pure: what GA4 accepts (name and key rules, value
 * lengths, counts) is enforced here, so a request never carries something GA4 would silently discard.
 */
import { PermanentError } from "../../src/delivery/errors.ts";
import { digitPairFor } from "../../src/delivery/stable-hash.ts";
import { eventTime, num, obj, str } from "../../src/delivery/vendor-context.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";

/** GA4's collection limits (support.google.com/analytics/answer/9267744, the Measurement Protocol reference). */
export const GA4_LIMITS = {
  eventsPerRequest: 25,
  /** The MP body limit is 130 KB; parts are measured without the envelope, hence the margin. */
  requestBytes: 120_000,
  nameLength: 40,
  paramsPerEvent: 25,
  paramKeyLength: 40,
  paramValueLength: 100,
  itemsPerEvent: 200,
  userProperties: 25,
  userPropertyNameLength: 24,
  userPropertyValueLength: 36,
  /** Longer limits GA4 documents for these three parameters. */
  long: { page_location: 1000, page_referrer: 420, page_title: 300 } as Record<string, number>,
} as const;

/** Names GA4 reserves for its own events: a Measurement Protocol event of these names is dropped by GA4. */
const RESERVED_EVENTS = new Set([
  "ad_activeview", "ad_click", "ad_exposure", "ad_impression", "ad_query", "ad_reward", "adunit_exposure", "app_background",
  "app_clear_data", "app_exception", "app_install", "app_remove", "app_store_refund", "app_update", "app_upgrade",
  "dynamic_link_app_open", "dynamic_link_app_update", "dynamic_link_first_open", "error", "firebase_campaign",
  "firebase_in_app_message_action", "firebase_in_app_message_dismiss", "firebase_in_app_message_impression", "first_open",
  "first_visit", "in_app_purchase", "notification_dismiss", "notification_foreground", "notification_open",
  "notification_receive", "notification_send", "os_update", "screen_view", "session_start", "user_engagement",
]);
const RESERVED_PREFIX = /^(google_|ga_|firebase_)/;
const RESERVED_USER_PROPERTIES = new Set(["first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id", "first_open_after_install"]);

export type Ga4Value = string | number;
export type Ga4Item = Record<string, Ga4Value>;
export interface Ga4Event {
  name: string;
  params: Record<string, Ga4Value | Ga4Item[]>;
  timestamp_micros: number;
}

/** One event's part of a request: who it is about (requests are grouped by it) and what it says. */
export interface Ga4Part {
  /** `client_id` (web stream) or `app_instance_id` (app stream). */
  client: string;
  user_id?: string;
  timestamp_micros: number;
  /** Identify's traits; on an event, none. */
  user_properties?: Record<string, { value: Ga4Value; timestamp_micros: number }>;
  /** Absent for identify, which only sets user properties. */
  event?: Ga4Event;
  /** Request-level context (`device`, `ip_override`): taken from the first event of each request. */
  device?: Record<string, string>;
  ip_override?: string;
}

type Props = Record<string, unknown>;

/**
 * GA4 name rules: letters, digits and underscores, starting with a letter, at most `max` characters.
 * @example snakeName("Video Played", 40) // "video_played"
 * @example snakeName("2FA Enabled!", 40) // "e_2fa_enabled"
 */
export function snakeName(raw: string, max: number): string {
  const words = raw
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/([a-z])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  if (words === "") return "";
  return (/^[a-z]/.test(words) ? words : `e_${words}`).slice(0, max).replace(/_+$/, "");
}

/** A scalar GA4 keeps: strings cut to the limit, finite numbers, booleans as text; anything else undefined. */
function scalar(v: unknown, maxLength: number): Ga4Value | undefined {
  if (typeof v === "string") return v === "" ? undefined : [...v].slice(0, maxLength).join("");
  if (typeof v === "number") return Number.isFinite(v) ? v : undefined;
  if (typeof v === "boolean") return String(v);
  return undefined;
}

/** Parameters GA4 reads as numbers (revenue, tax…): a numeric string is sent as a number, anything else not at all. */
const NUMERIC = new Set(["value", "tax", "shipping", "engagement_time_msec"]);

class Params {
  readonly out: Record<string, Ga4Value | Ga4Item[]> = {};
  private count = 0;
  /** Adds one parameter if it is valid and there is room; mapped ones first, then the event's own. */
  add(rawKey: string, value: unknown): void {
    if (this.count >= GA4_LIMITS.paramsPerEvent) return;
    const key = snakeName(rawKey, GA4_LIMITS.paramKeyLength);
    if (key === "" || RESERVED_PREFIX.test(key) || Object.hasOwn(this.out, key)) return;
    const v = NUMERIC.has(key) ? num(value) : scalar(value, GA4_LIMITS.long[key] ?? GA4_LIMITS.paramValueLength);
    if (v === undefined) return;
    this.out[key] = v;
    this.count++;
  }
  items(items: Ga4Item[]): void {
    if (items.length === 0 || this.count >= GA4_LIMITS.paramsPerEvent) return;
    this.out.items = items;
    this.count++;
  }
}

/** Segment product fields → GA4 item parameters (Segment's ecommerce spec v2). */
const ITEM_FIELDS: readonly [string, string][] = [
  ["product_id", "item_id"], ["sku", "item_id"], ["name", "item_name"], ["affiliation", "affiliation"], ["coupon", "coupon"],
  ["discount", "discount"], ["position", "index"], ["brand", "item_brand"], ["category", "item_category"],
  ["variant", "item_variant"], ["price", "price"], ["quantity", "quantity"], ["currency", "currency"],
];

function item(product: Props): Ga4Item | undefined {
  const out: Ga4Item = {};
  for (const [from, to] of ITEM_FIELDS) {
    if (Object.hasOwn(out, to)) continue;
    const v = scalar(product[from], GA4_LIMITS.paramValueLength);
    if (v !== undefined) out[to] = to === "price" || to === "quantity" || to === "discount" || to === "index" ? (num(v) ?? v) : typeof v === "number" ? String(v) : v;
  }
  // GA4 needs item_id or item_name on each item.
  return out.item_id !== undefined || out.item_name !== undefined ? out : undefined;
}

const present = (items: (Ga4Item | undefined)[]): Ga4Item[] => items.filter((x): x is Ga4Item => x !== undefined);
const multiItems = (p: Props): Ga4Item[] => present((Array.isArray(p.products) ? p.products : []).slice(0, GA4_LIMITS.itemsPerEvent).map((x) => item(obj(x))));
const singleItem = (p: Props): Ga4Item[] => present([item(p)]);

interface Ecommerce {
  name: string;
  /** Mapped parameters: GA4 name → value read from the properties. */
  params: (p: Props) => [string, unknown][];
  items?: (p: Props) => Ga4Item[];
  /** Properties the mapping consumed, not repeated as custom parameters. */
  uses: readonly string[];
}

const money = (p: Props): [string, unknown][] => [["currency", str(p.currency)?.toUpperCase()], ["value", p.value ?? p.price]];
const order = (p: Props): [string, unknown][] => [
  ["transaction_id", p.order_id], ["value", p.revenue ?? p.total ?? p.value], ["currency", str(p.currency)?.toUpperCase()],
  ["tax", p.tax], ["shipping", p.shipping], ["coupon", p.coupon], ["affiliation", p.affiliation],
];
const promotion = (p: Props): [string, unknown][] => [["promotion_id", p.promotion_id], ["promotion_name", p.name], ["creative_name", p.creative_name], ["creative_slot", p.creative], ["location_id", p.position]];
const SINGLE = ["product_id", "sku", "name", "brand", "category", "variant", "price", "quantity", "position", "coupon", "affiliation", "currency", "value"];
const ORDER = ["order_id", "revenue", "total", "value", "currency", "tax", "shipping", "coupon", "affiliation", "products"];

/** Segment's ecommerce spec (v2) → GA4's recommended ecommerce events, as Segment's own GA4 destination maps them. */
export const ECOMMERCE: Record<string, Ecommerce> = {
  "Products Searched": { name: "search", params: (p) => [["search_term", p.query]], uses: ["query"] },
  "Product List Viewed": { name: "view_item_list", params: (p) => [["item_list_id", p.list_id], ["item_list_name", p.category]], items: multiItems, uses: ["list_id", "category", "products"] },
  "Product Clicked": { name: "select_item", params: (p) => [["item_list_id", p.list_id], ["item_list_name", p.list_name]], items: singleItem, uses: [...SINGLE, "list_id", "list_name"] },
  "Product Viewed": { name: "view_item", params: money, items: singleItem, uses: SINGLE },
  "Product Added": { name: "add_to_cart", params: money, items: singleItem, uses: SINGLE },
  "Product Removed": { name: "remove_from_cart", params: money, items: singleItem, uses: SINGLE },
  "Product Added to Wishlist": { name: "add_to_wishlist", params: money, items: singleItem, uses: SINGLE },
  "Cart Viewed": { name: "view_cart", params: (p) => [["currency", str(p.currency)?.toUpperCase()], ["value", p.value ?? p.total]], items: multiItems, uses: ["currency", "value", "total", "products"] },
  "Checkout Started": { name: "begin_checkout", params: (p) => [["currency", str(p.currency)?.toUpperCase()], ["value", p.value ?? p.revenue ?? p.total], ["coupon", p.coupon]], items: multiItems, uses: ORDER },
  "Payment Info Entered": { name: "add_payment_info", params: (p) => [["currency", str(p.currency)?.toUpperCase()], ["value", p.value ?? p.total], ["coupon", p.coupon], ["payment_type", p.payment_method]], items: multiItems, uses: [...ORDER, "payment_method"] },
  "Order Completed": { name: "purchase", params: order, items: multiItems, uses: ORDER },
  "Order Refunded": { name: "refund", params: order, items: multiItems, uses: ORDER },
  "Promotion Viewed": { name: "view_promotion", params: promotion, items: singleItem, uses: ["promotion_id", "name", "creative_name", "creative", "position"] },
  "Promotion Clicked": { name: "select_promotion", params: promotion, items: singleItem, uses: ["promotion_id", "name", "creative_name", "creative", "position"] },
  "Signed Up": { name: "sign_up", params: (p) => [["method", p.method ?? p.type]], uses: ["method", "type"] },
  "Signed In": { name: "login", params: (p) => [["method", p.method ?? p.type]], uses: ["method", "type"] },
};

/**
 * A stable client id from a userId when the event has no anonymousId, in the `<digits>.<digits>` shape of GA's
 * own client ids.
 * @example clientIdFor("user-1") // the same string every time, e.g. "3982274113.512873611"
 */
export function clientIdFor(userId: string): string {
  return digitPairFor(userId);
}

/** GA4's device categories from Segment's `context.device.type` (mobile SDKs send the platform). */
const DEVICE_CATEGORIES: Record<string, string> = { ios: "mobile", android: "mobile", mobile: "mobile", ipad: "tablet", tablet: "tablet", desktop: "desktop", tv: "smart_tv" };

function device(context: Props): Record<string, string> | undefined {
  const os = obj(context.os);
  const dev = obj(context.device);
  const out: Record<string, string> = {};
  const set = (k: string, v: unknown) => {
    const s = str(v);
    if (s !== undefined) out[k] = s.slice(0, 100);
  };
  set("language", context.locale);
  set("operating_system", os.name);
  set("operating_system_version", os.version);
  set("model", dev.model);
  set("brand", dev.manufacturer);
  const type = str(dev.type)?.toLowerCase();
  set("category", type !== undefined ? (DEVICE_CATEGORIES[type] ?? type) : undefined);
  return Object.keys(out).length > 0 ? out : undefined;
}

export interface MapOptions {
  /** App stream: the id goes out as `app_instance_id`, read from `context.device.id` first. */
  app: boolean;
}

/** Who a GA4 request is about: `client` (client_id or app_instance_id) and `user_id`; undefined without any id. */
export function identityOf(event: SluiceEvent, opts: MapOptions): { client: string; userId?: string } | undefined {
  const userId = str(event.userId)?.slice(0, 256);
  const deviceId = opts.app ? str(obj(obj(event.context).device).id) : undefined;
  const client = deviceId ?? str(event.anonymousId) ?? (userId !== undefined ? clientIdFor(userId) : undefined);
  return client === undefined ? undefined : { client, userId };
}

/** One Segment event → its GA4 part; throws `PermanentError` for what GA4 cannot take (no usable name, a reserved one). */
export function mapEvent(event: SluiceEvent, opts: MapOptions): Ga4Part {
  const context = obj(event.context);
  const who = identityOf(event, opts);
  if (who === undefined) throw new PermanentError("GA4 needs an anonymousId or a userId to build client_id", undefined, "missing_identity");
  const { client, userId } = who;
  const timestamp_micros = eventTime(event) * 1000;
  const part: Ga4Part = { client, timestamp_micros };
  if (userId !== undefined) part.user_id = userId;
  const dev = device(context);
  if (dev) part.device = dev;
  const ip = str(context.ip);
  if (ip !== undefined) part.ip_override = ip.slice(0, 64);

  if (event.type === "identify") {
    const props: Ga4Part["user_properties"] = {};
    let n = 0;
    for (const [k, v] of Object.entries(obj(event.traits))) {
      if (n >= GA4_LIMITS.userProperties) break;
      const name = snakeName(k, GA4_LIMITS.userPropertyNameLength);
      if (name === "" || RESERVED_USER_PROPERTIES.has(name) || RESERVED_PREFIX.test(name) || Object.hasOwn(props, name)) continue;
      const value = scalar(v, GA4_LIMITS.userPropertyValueLength);
      if (value === undefined) continue;
      props[name] = { value, timestamp_micros };
      n++;
    }
    part.user_properties = props;
    return part;
  }

  const properties = obj(event.properties);
  const params = new Params();
  let name: string;
  let uses: ReadonlySet<string> = new Set();
  if (event.type === "page") {
    const page = obj(context.page);
    name = "page_view";
    params.add("page_location", properties.url ?? page.url);
    params.add("page_title", properties.title ?? page.title);
    params.add("page_referrer", properties.referrer ?? page.referrer);
    uses = new Set(["url", "title", "referrer"]);
  } else {
    const raw = typeof event.event === "string" ? event.event : "";
    const spec = Object.hasOwn(ECOMMERCE, raw) ? ECOMMERCE[raw] : undefined;
    if (spec) {
      name = spec.name;
      for (const [k, v] of spec.params(properties)) params.add(k, v);
      if (spec.items) params.items(spec.items(properties));
      uses = new Set(spec.uses);
    } else {
      name = snakeName(raw, GA4_LIMITS.nameLength);
      if (name === "") throw new PermanentError(`GA4 cannot name event ${JSON.stringify(raw.slice(0, 60))}: it has no letters or digits`, undefined, "invalid_name");
      if (RESERVED_EVENTS.has(name) || RESERVED_PREFIX.test(name)) throw new PermanentError(`"${name}" is a name GA4 reserves for its own events`, undefined, "reserved_name");
    }
  }
  // GA4 counts a user only after some engagement time; Segment's GA4 destination sends 1 ms the same way.
  params.add("engagement_time_msec", 1);
  for (const [k, v] of Object.entries(properties)) if (!uses.has(k)) params.add(k, v);
  part.event = { name, params: params.out, timestamp_micros };
  return part;
}

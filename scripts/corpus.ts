/**
 * `npm run corpus`: writes the event corpus (test/fixtures/events-5k.ndjson, see test/fixtures/corpus.ts): 5,000
 * Segment events as a toy and board-game shop's sources send them during Black Friday week 2026 — a website
 * (analytics.js), iOS and Android apps (analytics-swift, analytics-kotlin) and a backend (analytics-node).
 * Visitors browse pages and screens, search, view products, fill carts and check out (Segment's e-commerce spec,
 * with product lists); some sign up (track, identify, alias), play product videos, send invites; business customers
 * belong to accounts (group). Campaign landings carry utm parameters, a holdout cohort is routed with
 * `integrations`, mobile apps send late from flaky networks.
 *
 * Deterministic: a seeded generator and a fixed week, so running it again rewrites the committed file byte for byte
 * (test/unit/corpus.test.ts checks they match). Change the generator, run it, commit both.
 * Personal data is invented and kept in reserved ranges: example.com/.org/.net addresses, 555-01xx and drama-range
 * phone numbers, documentation IP blocks (RFC 5737, RFC 3849).
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CORPUS_PATH } from "../test/fixtures/corpus.ts";

export const CORPUS_SIZE = 5000;
const SEED = 0x5eed2026;
/** Monday 23 November 2026, 00:00 UTC: Black Friday week. */
const WEEK_START = Date.UTC(2026, 10, 23);
const HOUR = 3_600_000;
const SITE = "https://shop.example.com";

type Json = Record<string, unknown>;
type Platform = "web" | "ios" | "android" | "server";

/** mulberry32: small, fast and the same on every platform, which is all a fixture needs. */
class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  weighted<T>(items: readonly (readonly [T, number])[]): T {
    let r = this.next() * items.reduce((n, [, w]) => n + w, 0);
    for (const [item, w] of items) if ((r -= w) < 0) return item;
    return items[items.length - 1]![0];
  }
  chars(n: number, alphabet: string): string {
    let s = "";
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(this.next() * alphabet.length)];
    return s;
  }
  hex(n: number): string {
    return this.chars(n, "0123456789abcdef");
  }
  /** A version 4 UUID. */
  uuid(): string {
    const h = this.hex(32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${"89ab"[this.int(0, 3)]}${h.slice(17, 20)}-${h.slice(20)}`;
  }
}

const round2 = (n: number) => Math.round(n * 100) / 100;

// ---------------------------------------------------------------------------------------------------------------
// The world: markets, people, devices, the catalog

interface Market {
  locale: string;
  country: string;
  currency: "USD" | "EUR" | "GBP";
  /** IANA zone and its UTC offset in hours in late November. */
  zones: [string, number][];
  cities: string[];
  carriers: string[];
  taxRate: number;
  weight: number;
}

const MARKETS: Market[] = [
  { locale: "en-US", country: "US", currency: "USD", zones: [["America/New_York", -5], ["America/Chicago", -6], ["America/Denver", -7], ["America/Los_Angeles", -8]], cities: ["Brooklyn", "Austin", "Denver", "Portland", "Chicago"], carriers: ["T-Mobile", "Verizon", "AT&T"], taxRate: 0.07, weight: 40 },
  { locale: "en-GB", country: "GB", currency: "GBP", zones: [["Europe/London", 0]], cities: ["London", "Manchester", "Bristol", "Leeds"], carriers: ["EE", "Vodafone UK", "O2 - UK"], taxRate: 0.2, weight: 12 },
  { locale: "de-DE", country: "DE", currency: "EUR", zones: [["Europe/Berlin", 1]], cities: ["Berlin", "München", "Köln", "Hamburg"], carriers: ["Telekom.de", "Vodafone.de", "o2 - de"], taxRate: 0.19, weight: 12 },
  { locale: "fr-FR", country: "FR", currency: "EUR", zones: [["Europe/Paris", 1]], cities: ["Paris", "Lyon", "Nantes", "Lille"], carriers: ["Orange F", "SFR", "Bouygues Telecom"], taxRate: 0.2, weight: 9 },
  { locale: "es-ES", country: "ES", currency: "EUR", zones: [["Europe/Madrid", 1]], cities: ["Madrid", "Barcelona", "Valencia"], carriers: ["Movistar", "Vodafone ES"], taxRate: 0.21, weight: 6 },
  { locale: "nl-NL", country: "NL", currency: "EUR", zones: [["Europe/Amsterdam", 1]], cities: ["Amsterdam", "Utrecht", "Rotterdam"], carriers: ["KPN", "Odido"], taxRate: 0.21, weight: 5 },
  { locale: "it-IT", country: "IT", currency: "EUR", zones: [["Europe/Rome", 1]], cities: ["Milano", "Roma", "Torino"], carriers: ["TIM", "Vodafone IT"], taxRate: 0.22, weight: 4 },
  { locale: "en-IE", country: "IE", currency: "EUR", zones: [["Europe/Dublin", 0]], cities: ["Dublin", "Cork", "Galway"], carriers: ["Three", "Vodafone IE"], taxRate: 0.23, weight: 3 },
];

/** [as written, as in an email address]. */
const FIRST_NAMES: [string, string][] = [
  ["Emma", "emma"], ["Liam", "liam"], ["Zoë", "zoe"], ["José", "jose"], ["Chloé", "chloe"], ["Jürgen", "juergen"],
  ["Amélie", "amelie"], ["Noah", "noah"], ["Olivia", "olivia"], ["Mateo", "mateo"], ["Sofia", "sofia"], ["Lukas", "lukas"],
  ["Ava", "ava"], ["Hannah", "hannah"], ["Léa", "lea"], ["Finn", "finn"], ["Aoife", "aoife"], ["Giulia", "giulia"],
  ["Daan", "daan"], ["Priya", "priya"], ["Wei", "wei"], ["Fatima", "fatima"], ["Oliver", "oliver"], ["Isla", "isla"],
];
const LAST_NAMES: [string, string][] = [
  ["Smith", "smith"], ["García", "garcia"], ["Müller", "mueller"], ["Martin", "martin"], ["Rossi", "rossi"],
  ["de Vries", "devries"], ["Johnson", "johnson"], ["Murphy", "murphy"], ["Dubois", "dubois"], ["Schmidt", "schmidt"],
  ["Fernández", "fernandez"], ["Brown", "brown"], ["Nguyen", "nguyen"], ["Patel", "patel"], ["Kowalski", "kowalski"],
  ["O'Brien", "obrien"], ["Bianchi", "bianchi"], ["Jansen", "jansen"], ["Taylor", "taylor"], ["Lefèvre", "lefevre"],
];

interface Browser {
  userAgent: string;
  userAgentData?: Json;
  weight: number;
}
const chromium = (brand: string, platform: string, mobile = false): Json => ({
  brands: [
    { brand: "Chromium", version: "131" },
    { brand, version: "131" },
    { brand: "Not_A Brand", version: "24" },
  ],
  mobile,
  platform,
});
const BROWSERS: Browser[] = [
  { userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", userAgentData: chromium("Google Chrome", "Windows"), weight: 32 },
  { userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", userAgentData: chromium("Google Chrome", "macOS"), weight: 15 },
  { userAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", weight: 13 },
  { userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", weight: 15 },
  { userAgent: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", userAgentData: chromium("Google Chrome", "Android", true), weight: 11 },
  { userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", weight: 8 },
  { userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", userAgentData: chromium("Microsoft Edge", "Windows"), weight: 6 },
];

interface Device {
  manufacturer: string;
  model: string;
  name: string;
  screen: Json;
}
const IPHONES: Device[] = [
  { manufacturer: "Apple", model: "iPhone17,3", name: "iPhone", screen: { width: 393, height: 852 } },
  { manufacturer: "Apple", model: "iPhone16,1", name: "iPhone", screen: { width: 393, height: 852 } },
  { manufacturer: "Apple", model: "iPhone15,2", name: "iPhone", screen: { width: 393, height: 852 } },
  { manufacturer: "Apple", model: "iPhone14,5", name: "iPhone", screen: { width: 390, height: 844 } },
  { manufacturer: "Apple", model: "iPhone12,8", name: "iPhone", screen: { width: 375, height: 667 } },
];
const ANDROIDS: Device[] = [
  { manufacturer: "samsung", model: "SM-S921B", name: "e1s", screen: { density: 3, width: 1080, height: 2340 } },
  { manufacturer: "samsung", model: "SM-A546B", name: "a54x", screen: { density: 2.625, width: 1080, height: 2340 } },
  { manufacturer: "Google", model: "Pixel 8", name: "shiba", screen: { density: 2.625, width: 1080, height: 2400 } },
  { manufacturer: "Google", model: "Pixel 7a", name: "lynx", screen: { density: 2.625, width: 1080, height: 2400 } },
  { manufacturer: "OnePlus", model: "CPH2449", name: "OP5913L1", screen: { density: 3.5, width: 1240, height: 2772 } },
  { manufacturer: "Xiaomi", model: "23021RAAEG", name: "tapas", screen: { density: 2.75, width: 1080, height: 2400 } },
];
const IOS_VERSIONS: [string, number][] = [["18.1.1", 40], ["18.1", 20], ["18.0.1", 15], ["17.6.1", 20], ["16.7.10", 5]];
const ANDROID_VERSIONS: [string, number][] = [["15", 20], ["14", 45], ["13", 25], ["12", 10]];
const APP_VERSIONS: [[string, string], number][] = [[["4.12.0", "4120"], 70], [["4.11.2", "4112"], 25], [["4.10.1", "4101"], 5]];

const LIBRARIES: Record<Platform, Json> = {
  web: { name: "analytics.js", version: "npm:next-1.72.0" },
  ios: { name: "analytics-swift", version: "1.7.3" },
  android: { name: "analytics-kotlin", version: "1.19.1" },
  server: { name: "@segment/analytics-node", version: "3.1.0" },
};

interface Product {
  product_id: string;
  sku: string;
  name: string;
  category: string;
  brand: string;
  usd: number;
  slug: string;
  /** Seconds, when the product page has a video. */
  video?: number;
}
const CATEGORIES: Record<string, string> = { "Board Games": "board-games", Puzzles: "puzzles", Toys: "toys", Books: "books", Outdoor: "outdoor" };
const CATALOG_ROWS: [string, string, string, number][] = [
  ["Catan", "Board Games", "Kosmos", 54.99], ["Ticket to Ride Europe", "Board Games", "Days of Wonder", 49.99],
  ["Carcassonne", "Board Games", "Z-Man Games", 34.99], ["Pandemic", "Board Games", "Z-Man Games", 44.99],
  ["Azul", "Board Games", "Next Move", 39.99], ["Codenames", "Board Games", "Czech Games Edition", 19.99],
  ["Wingspan", "Board Games", "Stonemaier Games", 64.99], ["Dixit", "Board Games", "Libellud", 34.99],
  ["Alpine Lake, 1000 pieces", "Puzzles", "Ravensburger", 21.99], ["Night Market, 1000 pieces", "Puzzles", "Ravensburger", 21.99],
  ["World Map, 2000 pieces", "Puzzles", "Ravensburger", 32.99], ["3D Globe Puzzle", "Puzzles", "Ravensburger", 39.99],
  ["Wooden Brain Teaser Set", "Puzzles", "Hape", 16.99], ["LEGO Classic Creative Box", "Toys", "LEGO", 59.99],
  ["Wooden Train Set, 52 pieces", "Toys", "BRIO", 89.99], ["Marble Run Starter Set", "Toys", "Hape", 44.99],
  ["Plush Otter", "Toys", "Jellycat", 24.99], ["Magnetic Tiles, 100 pieces", "Toys", "Magna-Tiles", 119.99],
  ["The Board Game Book", "Books", "Shop Press", 29.99], ["Chess for Beginners", "Books", "Shop Press", 14.99],
  ["The Puzzle Atlas", "Books", "Shop Press", 24.99], ["Kubb Viking Chess", "Outdoor", "Nordic Play", 49.99],
  ["Croquet Set", "Outdoor", "Jaques", 129.99], ["Delta Kite 140", "Outdoor", "HQ Kites", 34.99],
  ["Giant Jenga", "Outdoor", "Hasbro", 79.99], ["Frisbee Pro 175g", "Outdoor", "Discraft", 14.99],
];

/** Shelf price in the market's currency, ending in .99 as shops do. */
function priceIn(p: Product, currency: Market["currency"]): number {
  if (currency === "USD") return p.usd;
  const rate = currency === "EUR" ? 0.95 : 0.8;
  return round2(Math.max(1, Math.round(p.usd * rate)) - 0.01);
}

interface Account {
  groupId: string;
  traits: Json;
}
const ACCOUNT_NAMES: [string, string, number][] = [
  ["Brightwater Board Game Café", "Hospitality", 18], ["Little Oaks Primary School", "Education", 42],
  ["Meeple & Mug", "Hospitality", 9], ["Riverside Library", "Public Sector", 35], ["Kinderhaus Sonnenschein", "Education", 14],
  ["Dice Tower Events", "Events", 6], ["Northgate After-School Club", "Education", 11], ["Café Ludique Lyon", "Hospitality", 7],
  ["St. Brigid's Youth Centre", "Non-profit", 23], ["Playful Minds Therapy", "Healthcare", 16], ["Castle Games Night", "Events", 4],
  ["Het Spellenhuis", "Retail", 12],
];

interface Person {
  platform: "web" | "ios" | "android";
  market: Market;
  zone: [string, number];
  anonymousId: string;
  /** Set once they have an account (before the week, or when they sign up during it). */
  userId?: string;
  traits: Json;
  ip: string;
  browser?: Browser;
  device?: { model: Device; id: string; os: string; app: [string, string]; carrier: string };
  account?: Account;
  /** Their events go to one destination only (a holdout cohort routed with `integrations`). */
  holdout: boolean;
  /** Whether the backend, not the client, reports their orders. */
  serverOrders: boolean;
  /** How far the device clock is off, in ms (a few phones are). */
  skew: number;
  logins: number;
}

function makePerson(rng: Rng, accounts: Account[]): Person {
  const platform = rng.weighted<Person["platform"]>([["web", 52], ["ios", 27], ["android", 21]]);
  const market = rng.weighted(MARKETS.map((m) => [m, m.weight] as const));
  const [first, firstAscii] = rng.pick(FIRST_NAMES);
  const [last, lastAscii] = rng.pick(LAST_NAMES);
  const email = rng.weighted([
    [`${firstAscii}.${lastAscii}@example.com`, 5],
    [`${firstAscii}${lastAscii}${rng.int(1, 99)}@example.org`, 3],
    [`${firstAscii[0]}${lastAscii}@example.net`, 2],
  ]);
  const registered = rng.chance(0.45);
  const createdAt = WEEK_START - rng.int(2, 900) * 24 * HOUR + rng.int(0, 24 * HOUR);
  const traits: Json = { email, firstName: first, lastName: last, name: `${first} ${last}` };
  // Checkout asks for a phone number in the US and the UK only.
  if (market.country === "US" && rng.chance(0.5)) traits.phone = `+1${rng.pick(["202", "312", "415", "512"])}55501${String(rng.int(0, 99)).padStart(2, "0")}`;
  if (market.country === "GB" && rng.chance(0.5)) traits.phone = `+447700900${String(rng.int(0, 999)).padStart(3, "0")}`;
  traits.plan = rng.weighted([["free", 70], ["plus", 30]]);
  traits.createdAt = new Date(createdAt).toISOString();
  traits.address = { city: rng.pick(market.cities), country: market.country };
  const ip = rng.chance(0.1)
    ? `2001:db8:${rng.hex(4)}:${rng.hex(4)}::${rng.hex(3)}`
    : `${rng.pick(["192.0.2", "198.51.100", "203.0.113"])}.${rng.int(1, 254)}`;
  const person: Person = {
    platform,
    market,
    zone: rng.pick(market.zones),
    anonymousId: platform === "ios" ? rng.uuid().toUpperCase() : rng.uuid(),
    traits,
    ip,
    holdout: rng.chance(0.08),
    serverOrders: rng.chance(platform === "web" ? 0.4 : 0.7),
    skew: platform !== "web" && rng.chance(0.05) ? rng.weighted([[-1, 1], [1, 2]]) * rng.int(30, 900) * 1000 : 0,
    logins: rng.int(1, 80),
  };
  if (registered) person.userId = newUserId(rng);
  if (registered && rng.chance(0.25)) person.account = rng.pick(accounts);
  if (platform === "web") person.browser = rng.weighted(BROWSERS.map((b) => [b, b.weight] as const));
  else {
    const model = rng.pick(platform === "ios" ? IPHONES : ANDROIDS);
    person.device = {
      model,
      id: platform === "ios" ? rng.uuid().toUpperCase() : rng.hex(16),
      os: rng.weighted(platform === "ios" ? IOS_VERSIONS : ANDROID_VERSIONS),
      app: rng.weighted(APP_VERSIONS),
      carrier: rng.pick(market.carriers),
    };
  }
  return person;
}

const newUserId = (rng: Rng) => `usr_${rng.chars(14, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")}`;

// ---------------------------------------------------------------------------------------------------------------
// Sessions

interface Emitted {
  event: Json;
  /** When the client sent it (ms); the file is in this order. */
  sentAt: number;
}

interface Page {
  name: "Home" | "Category" | "Product" | "Checkout";
  path: string;
  title: string;
  search: string;
  referrer: string;
  campaign?: Json;
}

const SEARCHES: [string, number][] = [
  ["catan", 12], ["puzzle", 14], ["lego", 12], ["chess", 8], ["kubb", 4], ["wingspan", 5], ["jellycat", 4],
  ["1000 piece puzzle", 8], ["board games for kids", 10], ["cooperative games for two", 6], ["gift ideas under 30", 5],
  ["wooden train", 5], ["marble run", 4], ["games for 6 players", 3],
];
const COUPONS = { black_friday: "BLACKFRIDAY20", welcome: "WELCOME10" };
const FEATURES: [string, string, number][] = [
  ["wishlist", "product_page", 30], ["compare", "category_page", 12], ["gift_wrap", "cart", 18], ["size_guide", "product_page", 8],
  ["share", "product_page", 20], ["dark_mode", "settings", 12],
];
const INVITE_TEXTS: [string, number][] = [["Join me on Shop", 45], ["Get 10% off your first order", 35], ["Game night? Use my code", 20]];

class Session {
  readonly out: Emitted[] = [];
  private page: Page | undefined;
  private cart: { product: Product; quantity: number }[] = [];
  private readonly cartId: string;
  private readonly offlineUntil: number | undefined;

  constructor(
    private readonly rng: Rng,
    private readonly world: World,
    readonly person: Person,
    /** Real time of the next event (ms). */
    public t: number,
  ) {
    this.cartId = rng.uuid();
    // A few app sessions happen offline; the queue is flushed when the phone is back online.
    this.offlineUntil = person.platform !== "web" && rng.chance(0.04) ? t + rng.int(20, 360) * 60_000 : undefined;
  }

  private get platform(): Platform {
    return this.person.platform;
  }

  /** Moves the clock on by a human pause. */
  wait(minSeconds: number, maxSeconds: number): void {
    this.t += this.rng.int(minSeconds * 1000, maxSeconds * 1000);
  }

  private context(): Json {
    const p = this.person;
    const library = LIBRARIES[p.platform];
    const [timezone] = p.zone;
    if (p.platform === "web") {
      const page = this.page!;
      const url = `${SITE}${page.path}${page.search}`;
      const context: Json = {
        ip: p.ip,
        library,
        locale: p.market.locale,
        page: { path: page.path, referrer: page.referrer, search: page.search, title: page.title, url },
        timezone,
        userAgent: p.browser!.userAgent,
      };
      if (p.browser!.userAgentData) context.userAgentData = p.browser!.userAgentData;
      if (page.campaign) context.campaign = page.campaign;
      return context;
    }
    const d = p.device!;
    const ios = p.platform === "ios";
    const wifi = this.rng.chance(0.6);
    const context: Json = {
      app: { build: d.app[1], name: "Shop", namespace: "com.example.shop", version: d.app[0] },
      device: { id: d.id, manufacturer: d.model.manufacturer, model: d.model.model, name: d.model.name, type: ios ? "ios" : "android" },
      library,
      locale: p.market.locale,
      network: ios ? { cellular: !wifi, wifi } : { bluetooth: false, carrier: d.carrier, cellular: !wifi, wifi },
      os: { name: ios ? "iOS" : "Android", version: d.os },
      screen: d.model.screen,
      timezone,
    };
    if (!ios) context.userAgent = `Dalvik/2.1.0 (Linux; U; Android ${d.os}; ${d.model.model} Build/UP1A.231005.007)`;
    return context;
  }

  private messageId(): string {
    if (this.platform === "web") return `ajs-next-${this.rng.hex(32)}`;
    const id = this.rng.uuid();
    return this.platform === "ios" ? id.toUpperCase() : id;
  }

  /** When the library sends an event that happened at `t`. */
  private sentAtFor(t: number): number {
    if (this.platform === "web") return t + (this.rng.chance(0.01) ? this.rng.int(2_000, 90_000) : this.rng.int(20, 400));
    if (this.offlineUntil !== undefined) return Math.max(t, this.offlineUntil) + this.rng.int(200, 3_000);
    // The apps flush every 30 s (or at 20 queued events): most events wait a little.
    return t + this.rng.int(200, 30_000);
  }

  private emit(fields: Json, objectName: "properties" | "traits" | undefined, object: Json | undefined): void {
    const p = this.person;
    const event: Json = { messageId: this.messageId(), timestamp: new Date(this.t + p.skew).toISOString(), ...fields };
    if (event.type !== "alias") {
      if (p.userId !== undefined) event.userId = p.userId;
      event.anonymousId = p.anonymousId;
    }
    if (objectName && object) event[objectName] = object;
    event.context = this.context();
    event.integrations = p.holdout ? { All: false, "Holdout Hook": true } : {};
    const sentAt = this.sentAtFor(this.t);
    event.sentAt = new Date(sentAt + p.skew).toISOString();
    this.out.push({ event, sentAt });
  }

  track(name: string, properties: Json): void {
    this.emit({ type: "track", event: name }, "properties", properties);
    this.wait(1, 20);
  }

  /** The backend reports this one (analytics-node), a little after what the customer did. */
  serverTrack(name: string, properties: Json): void {
    this.world.server(this.person, this.t + this.rng.int(300, 8_000), { type: "track", event: name, properties });
  }

  // --- web pages and app screens

  private visit(name: Page["name"], path: string, title: string, referrer: string, campaign?: { query: string; context: Json }): void {
    this.page = { name, path, title, search: campaign ? `?${campaign.query}` : "", referrer, ...(campaign ? { campaign: campaign.context } : {}) };
    const page = this.page;
    const properties = { name, path, referrer, search: page.search, title, url: `${SITE}${path}${page.search}` };
    this.emit({ type: "page", name }, "properties", properties);
    this.wait(4, 60);
  }

  private here(): string {
    return this.page ? `${SITE}${this.page.path}${this.page.search}` : "";
  }

  home(referrer = this.here(), campaign?: { query: string; context: Json }): void {
    if (this.platform === "web") this.visit("Home", "/", "Shop — board games, puzzles and toys", referrer, campaign);
    else this.screen("Home", { tab: "shop" });
  }

  category(name: string): void {
    if (this.platform === "web") this.visit("Category", `/c/${CATEGORIES[name]}`, `${name} | Shop`, this.here());
  }

  product(p: Product, referrer = this.here(), campaign?: { query: string; context: Json }): void {
    if (this.platform === "web") this.visit("Product", `/p/${p.slug}`, `${p.name} | Shop`, referrer, campaign);
    else this.screen("Product", { product_id: p.product_id, name: p.name });
  }

  checkoutPage(): void {
    if (this.platform === "web") this.visit("Checkout", "/checkout", "Checkout | Shop", this.here());
    else this.screen("Cart", { items: this.cart.reduce((n, l) => n + l.quantity, 0) });
  }

  private screen(name: string, properties: Json): void {
    this.emit({ type: "screen", name }, "properties", properties);
    this.wait(3, 45);
  }

  // --- people

  identify(traits: Json): void {
    this.emit({ type: "identify" }, "traits", traits);
    this.wait(0, 2);
  }

  alias(previousId: string): void {
    this.emit({ type: "alias", userId: this.person.userId, previousId }, undefined, undefined);
  }

  group(account: Account): void {
    this.emit({ type: "group", groupId: account.groupId }, "traits", account.traits);
    this.wait(0, 2);
  }

  /** A logged-in customer's full profile, as clients send it on login. */
  profile(): Json {
    return { ...this.person.traits, logins: this.person.logins };
  }

  // --- shopping

  private line(p: Product, quantity: number): Json {
    const currency = this.person.market.currency;
    return { product_id: p.product_id, sku: p.sku, name: p.name, category: p.category, brand: p.brand, price: priceIn(p, currency), quantity };
  }

  productViewed(p: Product): void {
    const currency = this.person.market.currency;
    this.track("Product Viewed", {
      product_id: p.product_id,
      sku: p.sku,
      category: p.category,
      name: p.name,
      brand: p.brand,
      price: priceIn(p, currency),
      currency,
      url: `${SITE}/p/${p.slug}`,
      image_url: `https://cdn.example.com/products/${p.sku}.jpg`,
    });
  }

  productAdded(p: Product): void {
    const quantity = this.rng.weighted([[1, 80], [2, 15], [3, 5]]);
    const existing = this.cart.find((l) => l.product === p);
    if (existing) existing.quantity += quantity;
    else this.cart.push({ product: p, quantity });
    const currency = this.person.market.currency;
    this.track("Product Added", {
      cart_id: this.cartId,
      product_id: p.product_id,
      sku: p.sku,
      category: p.category,
      name: p.name,
      brand: p.brand,
      price: priceIn(p, currency),
      quantity,
      currency,
      url: `${SITE}/p/${p.slug}`,
    });
  }

  get cartSize(): number {
    return this.cart.length;
  }

  cartViewed(): void {
    this.track("Cart Viewed", { cart_id: this.cartId, products: this.cart.map((l) => this.line(l.product, l.quantity)) });
  }

  /** Checkout Started, then (usually) the order. */
  checkout(): void {
    const m = this.person.market;
    const products = this.cart.map((l) => this.line(l.product, l.quantity));
    const subtotal = round2(products.reduce((n, l) => n + (l.price as number) * (l.quantity as number), 0));
    const day = Math.floor((this.t - WEEK_START) / (24 * HOUR));
    const coupon = day >= 4 && this.rng.chance(0.45) ? COUPONS.black_friday : this.rng.chance(0.08) ? COUPONS.welcome : undefined;
    const discount = coupon ? round2(subtotal * (coupon === COUPONS.black_friday ? 0.2 : 0.1)) : 0;
    const revenue = round2(subtotal - discount);
    const shipping = revenue >= 50 ? 0 : m.currency === "GBP" ? 3.99 : 4.99;
    // US sales tax comes on top; VAT is included in the shelf price.
    const tax = m.country === "US" ? round2(revenue * m.taxRate) : round2(revenue - revenue / (1 + m.taxRate));
    const total = round2(revenue + shipping + (m.country === "US" ? tax : 0));
    const orderId = `ORD-${this.world.nextOrder++}`;
    const affiliation = { web: "Shop Web", ios: "Shop iOS", android: "Shop Android" }[this.person.platform];
    const order: Json = { order_id: orderId, affiliation, total, revenue, shipping, tax, discount };
    if (coupon) order.coupon = coupon;
    order.currency = m.currency;
    order.products = products;
    this.track("Checkout Started", { ...order });
    if (!this.rng.chance(0.82)) return;
    this.wait(20, 180);
    if (this.person.serverOrders) this.serverTrack("Order Completed", order);
    else this.track("Order Completed", order);
    this.cart = [];
  }

  /** Sign-up: the event, then identify (and, where a destination needs it, alias); the backend confirms it. */
  signUp(source: string): void {
    const p = this.person;
    const previous = p.anonymousId;
    p.userId = newUserId(this.rng);
    const method = this.rng.weighted(p.platform === "ios" ? [["apple", 55], ["email", 30], ["google", 15]] : [["email", 55], ["google", 35], ["apple", 10]]);
    const properties: Json = { method, source };
    if (method === "email") properties.email = p.traits.email;
    this.track("Signed Up", properties);
    p.logins = 1;
    this.identify(this.profile());
    if (this.rng.chance(p.platform === "web" ? 0.8 : 0.3)) this.alias(previous);
    if (this.rng.chance(0.5)) this.world.server(p, this.t + this.rng.int(500, 5_000), { type: "identify", traits: { ...this.profile(), signup_method: method } });
  }
}

/** Everything the generator keeps between sessions. */
class World {
  readonly people: Person[] = [];
  readonly accounts: Account[];
  readonly catalog: Product[];
  readonly out: Emitted[] = [];
  nextOrder = 2_604_101;

  constructor(private readonly rng: Rng) {
    this.accounts = ACCOUNT_NAMES.map(([name, industry, employees], i) => ({
      groupId: `acct_${String(7001 + i * 37)}`,
      traits: {
        name,
        industry,
        employees,
        plan: rng.weighted([["team", 60], ["business", 40]]),
        website: `https://${name.toLowerCase().replace(/[^a-z]+/g, "-").replace(/^-|-$/g, "")}.example`,
        createdAt: new Date(WEEK_START - rng.int(30, 1500) * 24 * HOUR).toISOString(),
      },
    }));
    this.catalog = CATALOG_ROWS.map(([name, category, brand, usd], i) => ({
      product_id: rng.hex(24),
      sku: `${brand.replace(/[^A-Za-z]/g, "").slice(0, 3).toUpperCase()}-${String(1001 + i)}`,
      name,
      category,
      brand,
      usd,
      slug: name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, ""),
      ...(rng.chance(0.35) ? { video: rng.int(45, 240) } : {}),
    }));
    for (let i = 0; i < 1800; i++) this.people.push(makePerson(rng, this.accounts));
  }

  /** An analytics-node call for `person` at `t`. */
  server(person: Person, t: number, fields: Json): void {
    const event: Json = {
      messageId: `node-next-${t}-${this.rng.uuid()}`,
      timestamp: new Date(t).toISOString(),
      ...fields,
      // A guest's order: the site hands the backend the visitor's anonymousId.
      ...(person.userId !== undefined ? { userId: person.userId } : { anonymousId: person.anonymousId }),
      context: this.rng.chance(0.5) ? { ip: person.ip, library: LIBRARIES.server } : { library: LIBRARIES.server },
    };
    // analytics-node flushes every 10 s or 15 events.
    const sentAt = t + this.rng.int(50, 10_000);
    event.sentAt = new Date(sentAt).toISOString();
    this.out.push({ event, sentAt });
  }

  /** A person's product pick: popular products more often. */
  product(): Product {
    return this.catalog[Math.floor(this.catalog.length * this.rng.next() ** 1.5)]!;
  }

  /** A session start in the week: more in the evening (local time) and around Black Friday. */
  sessionStart(person: Person): number {
    for (;;) {
      const t = WEEK_START + Math.floor(this.rng.next() * 7 * 24 * HOUR);
      const hour = (((t / HOUR + person.zone[1]) % 24) + 24) % 24;
      const byHour = hour < 7 ? 0.12 : hour < 10 ? 0.45 : hour < 18 ? 0.75 : hour < 23 ? 1 : 0.35;
      const day = Math.floor((t - WEEK_START) / (24 * HOUR));
      const byDay = [0.5, 0.5, 0.55, 0.6, 1, 0.8, 0.65][day]!;
      if (this.rng.next() < byHour * byDay) return t;
    }
  }
}

const CAMPAIGNS: [{ query: string; context: Json } | undefined, number][] = [
  [undefined, 78],
  [{ query: "utm_source=newsletter&utm_medium=email&utm_campaign=black_friday_2026", context: { name: "black_friday_2026", source: "newsletter", medium: "email" } }, 10],
  [{ query: "utm_source=google&utm_medium=cpc&utm_campaign=holiday_games&utm_term=board+games", context: { name: "holiday_games", source: "google", medium: "cpc", term: "board games" } }, 8],
  [{ query: "utm_source=instagram&utm_medium=social&utm_campaign=bf_teaser", context: { name: "bf_teaser", source: "instagram", medium: "social" } }, 4],
];
const REFERRERS: [string, number][] = [["", 45], ["https://www.google.com/", 35], ["https://duckduckgo.com/", 6], ["https://www.instagram.com/", 6], ["https://www.reddit.com/", 8]];

/** One visit to the site or the app, and what the backend reports because of it. */
function session(rng: Rng, world: World, person: Person): Session {
  const s = new Session(rng, world, person, world.sessionStart(person));
  const campaign = person.platform === "web" ? rng.weighted(CAMPAIGNS) : undefined;
  const referrer = campaign ? "" : person.platform === "web" ? rng.weighted(REFERRERS) : "";
  // Campaigns land on a product half of the time; everyone else starts at home.
  if (campaign && rng.chance(0.5)) s.product(world.product(), referrer, campaign);
  else s.home(referrer, campaign);

  // Logged-in visits start with identify (the site calls it on every page load; the apps on launch).
  if (person.userId !== undefined && rng.chance(person.platform === "web" ? 0.9 : 0.5)) {
    person.logins++;
    s.identify(s.profile());
    if (person.account && rng.chance(0.8)) s.group(person.account);
  }
  if (rng.chance(0.4)) {
    s.track("Search Performed", { query: rng.weighted(SEARCHES), results: rng.int(0, 48) });
  }
  const views = rng.weighted([[0, 22], [1, 40], [2, 20], [3, 10], [4, 5], [6, 3]]);
  for (let v = 0; v < views; v++) {
    const p = world.product();
    if (rng.chance(0.4)) s.category(p.category);
    s.product(p);
    s.productViewed(p);
    if (p.video && rng.chance(0.5)) {
      s.track("Video Playback Started", {
        session_id: rng.uuid(),
        content_asset_id: `vid_${p.sku}`,
        position: 0,
        total_length: p.video,
        livestream: false,
        video_player: { web: "html5", ios: "AVPlayer", android: "ExoPlayer" }[person.platform],
        sound: rng.int(0, 10) * 10,
        full_screen: rng.chance(0.2),
        bitrate: rng.pick([800, 1500, 3000]),
      });
    }
    if (rng.chance(0.25)) {
      const [feature, location] = rng.weighted(FEATURES.map(([f, l, w]) => [[f, l], w] as const));
      s.track("Feature Used", { feature, location });
    }
    if (rng.chance(0.4)) s.productAdded(p);
  }
  if (s.cartSize > 0) {
    if (rng.chance(0.8)) s.cartViewed();
    if (rng.chance(0.6)) {
      s.checkoutPage();
      if (person.userId === undefined && rng.chance(0.45)) s.signUp("checkout");
      s.checkout();
    }
  } else if (person.userId === undefined && rng.chance(0.1)) {
    s.signUp(person.platform === "web" ? "account_page" : "onboarding");
  } else if (person.userId === undefined && person.platform === "web" && rng.chance(0.05)) {
    // The newsletter box: an email before there is an account.
    s.identify({ email: person.traits.email, newsletter: true });
  }
  if (person.userId !== undefined && rng.chance(0.15)) {
    // Email invites go out from the backend; SMS and links from the app's share sheet.
    const channel = rng.weighted([["email", 50], ["sms", 20], ["link", 30]]);
    const invite = { channel, text_variant: rng.weighted(INVITE_TEXTS) };
    if (channel === "email") s.serverTrack("Invite Sent", invite);
    else s.track("Invite Sent", invite);
  }
  // The backend keeps profiles and accounts current.
  if (person.userId !== undefined && rng.chance(0.35)) {
    world.server(person, s.t + rng.int(1, 30) * 60_000, { type: "identify", traits: { ...s.profile(), plan: person.traits.plan } });
  }
  if (person.account && rng.chance(0.25)) {
    world.server(person, s.t + rng.int(1, 30) * 60_000, { type: "group", groupId: person.account.groupId, traits: person.account.traits });
  }
  return s;
}

/** The corpus: `size` events in the order their libraries sent them, one JSON text each. */
export function generateCorpus(size = CORPUS_SIZE, seed = SEED): string[] {
  const rng = new Rng(seed);
  const world = new World(rng);
  const clientEvents: Emitted[] = [];
  while (clientEvents.length + world.out.length < size) {
    const person = world.people[Math.floor(world.people.length * rng.next() ** 1.6)]!;
    clientEvents.push(...session(rng, world, person).out);
  }
  // The last session is cut where the corpus is full, as an export of a time window cuts one.
  const all = [...clientEvents.slice(0, size - world.out.length), ...world.out];
  all.sort((a, b) => a.sentAt - b.sentAt);
  return all.map((e) => JSON.stringify(e.event));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const lines = generateCorpus();
  writeFileSync(CORPUS_PATH, `${lines.join("\n")}\n`);
  console.log(`corpus: wrote ${lines.length} events to ${CORPUS_PATH}`);
}

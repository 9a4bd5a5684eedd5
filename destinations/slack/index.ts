/**
 * Slack incoming webhook: each event becomes one line (a template, the alert line, or a default), and the lines
 * of a delivery are posted together as `{text}` messages of up to 20 lines and 4,000 bytes. Slack allows about
 * one message a second per webhook, so messages to one webhook are paced a second apart in each isolate; a wait
 * longer than `max_wait_ms`, or a 429, hands the events not yet posted back for a retry after the wait (Slack's
 * `Retry-After`), so a burst of 429s never happens.
 */
import { s } from "../../src/config/schema.ts";
import { eventResult, type EventResult } from "../../src/delivery/destination.ts";
import { deferral, RetryableError } from "../../src/delivery/errors.ts";
import { defineVendorDestination, ENDPOINT_PATTERN, postJson, responseError } from "../../src/delivery/vendor.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { compileRenderer, type Render, templateSchema } from "./templates.ts";

const settings = s.object({
  webhook_url: s.string({ pattern: ENDPOINT_PATTERN }),
  /** Event name (track) or type → text with `{{path}}` placeholders. */
  templates: s.withDefault(s.record(templateSchema), {}),
  /** Event names (track) and types to post; absent: every event. The rest are counted `dropped.not_selected`. */
  events: s.optional(s.array(s.string({ minLength: 1 }), { minItems: 1 })),
  /** Least time between two messages to one webhook: Slack's one a second; 0 turns pacing off (a relay that paces, a test receiver). */
  interval_ms: s.withDefault(s.number({ integer: true, min: 0, max: 60_000 }), 1_000),
  /** Longest wait for the next message slot within one delivery before handing the rest back for a retry. */
  max_wait_ms: s.withDefault(s.number({ integer: true, min: 0, max: 20_000 }), 5_000),
  timeout_ms: s.withDefault(s.number({ integer: true, min: 100, max: 30_000 }), 10_000),
});
export type SlackSettings = NonNullable<ReturnType<typeof settings.check>>;

export const SLACK_LIMITS = {
  linesPerMessage: 20,
  /** Slack truncates `text` far later (40,000 characters) but recommends staying under 4,000. */
  messageBytes: 4_000,
  /** One line is cut to this many UTF-8 bytes, so it always fits a message. */
  lineBytes: 3_000,
  /**
   * Events per delivery call: the consumer cuts calls by the events' own JSON, far larger than their lines, so a
   * call is allowed several messages' worth (posted a second apart) rather than one message of a few lines.
   */
  eventsPerCall: 100,
  callBytes: 1_000_000,
} as const;

const encoder = new TextEncoder();

/** Cut to at most `max` UTF-8 bytes on a character boundary, with an ellipsis when cut. */
function cutBytes(text: string, max: number): string {
  if (text.length * 3 <= max || encoder.encode(text).length <= max) return text;
  let bytes = 3; // the ellipsis
  let out = "";
  for (const ch of text) {
    const n = encoder.encode(ch).length;
    if (bytes + n > max) break;
    bytes += n;
    out += ch;
  }
  return `${out}…`;
}

/** Which events a destination posts, from `events` (names of track events, or types); undefined: all. */
export function selection(events: readonly string[] | undefined): ((event: SluiceEvent) => string | undefined) | undefined {
  if (!events) return undefined;
  const wanted = new Set(events);
  return (event) => (wanted.has(event.type) || (event.type === "track" && typeof event.event === "string" && wanted.has(event.event)) ? undefined : "not_selected");
}

export interface SlackDeps {
  /** Waits `ms`; tests pass one that moves their clock instead. */
  sleep(ms: number): Promise<void>;
}

interface Compiled {
  url: string;
  render: Render;
  intervalMs: number;
  maxWaitMs: number;
  timeoutMs: number;
}

/** The slack kind with its own pacing state (per webhook URL) and sleep; `slack` below is the registered one. */
export function slackKind(deps: SlackDeps = { sleep: (ms) => new Promise((r) => setTimeout(r, ms)) }) {
  /** Per webhook URL: the earliest time the next message may go. Shared by every destination posting there. */
  const nextSlot = new Map<string, number>();
  const definition = defineVendorDestination<SlackSettings, string, Compiled>({
    kind: "slack",
    description: "Posts events as lines of text to a Slack incoming webhook, from templates, paced to Slack's one message a second",
    settings,
    eventTypes: ["track", "page", "screen", "identify", "group", "alias"],
    select: (cfg) => selection(cfg.events),
    limits: () => ({ maxEvents: SLACK_LIMITS.linesPerMessage, maxBytes: SLACK_LIMITS.messageBytes, maxEventBytes: SLACK_LIMITS.lineBytes + 8 }),
    callLimits: () => ({ maxEvents: SLACK_LIMITS.eventsPerCall, maxBytes: SLACK_LIMITS.callBytes }),
    compile: (cfg) => ({ url: cfg.webhook_url, render: compileRenderer(cfg.templates), intervalMs: cfg.interval_ms, maxWaitMs: cfg.max_wait_ms, timeoutMs: cfg.timeout_ms }),
    map: (event, c) => cutBytes(c.render(event), SLACK_LIMITS.lineBytes),
    async send(lines, c, ctx): Promise<EventResult[]> {
      const now = ctx.now();
      const slot = Math.max(now, nextSlot.get(c.url) ?? 0);
      const wait = slot - now;
      if (wait > c.maxWaitMs) {
        const error = deferral(`Slack allows one message a second per webhook; next slot in ${wait} ms`, Math.ceil(wait / 1000));
        return lines.map(() => ({ ok: false, error }));
      }
      // The slot is taken before waiting, so concurrent deliveries to the same webhook queue behind each other.
      nextSlot.set(c.url, slot + c.intervalMs);
      if (wait > 0) await deps.sleep(wait);
      const res = await postJson(ctx, c.url, JSON.stringify({ text: lines.join("\n") }), {}, c.timeoutMs);
      const error = responseError(res, ctx);
      if (error instanceof RetryableError && res.status === 429) {
        // Nothing more goes to this webhook until Slack's Retry-After (1 s when it gives none) has passed.
        const after = ctx.now() + (error.retryAfterSeconds ?? 1) * 1000;
        nextSlot.set(c.url, Math.max(nextSlot.get(c.url) ?? 0, after));
      }
      return lines.map(() => eventResult(error));
    },
    docs: {
      mapping: [
        { from: "a template for the track event's name", to: "the line", note: "`{{path}}` placeholders read the event (`{{properties.total}}`, `{{userId}}`, `{{context.page.url}}`); values are escaped (`&`, `<`, `>`), objects shown as JSON, missing ones empty" },
        { from: "`Alert Fired` / `Alert Resolved` without a template of their name", to: "the alert line", note: "`*FIRING*` or `*RESOLVED*`, alert id and kind, message, observed vs expected (threshold, window), source, destination, event name, suggestion, and an `open in console` link to `console_url`" },
        { from: "a template for the event's type (`track`, `page`, …)", to: "the line" },
        { from: "anything else", to: "a default line", note: "track: `*<event>* by <userId>` with up to five properties; page/screen: the name or URL; identify and group: up to five traits; alias: `previousId → userId`" },
        { from: "the lines of one delivery", to: "`{\"text\": \"line\\nline…\"}`", note: "up to 20 lines and 4,000 bytes a message; a line is cut at 3,000 bytes; a delivery call takes up to 100 events, so up to 5 messages or more, a second apart" },
      ],
      notes: [
        "`events` lists the track event names and types to post; every other event is counted `dropped.not_selected` for the destination (and never queued for it). Without `events`, every event is posted.",
        "Pacing: Slack allows about one message per second per webhook. Messages to one webhook leave at least `interval_ms` (default 1000) apart within an isolate; when the next slot is more than `max_wait_ms` (default 5 s) away, the events not yet posted are retried after that wait instead (code `paced`). A deferral is not a failure: a delivery whose events were all handed back does not count against the destination's circuit breaker (a 429 does). A 429 holds the webhook for Slack's `Retry-After` and retries only the events of the messages not posted.",
        "A message is posted or not as a whole: all its lines share the outcome. Slack's 400 (`invalid_payload`), 403, 404 (`channel_not_found`) and 410 (`channel_is_archived`) are final: the events become dead letters with Slack's answer. Slack has no dedup key: a message retried after a timeout can appear twice.",
        "`webhook_url` is a secret: write `${env.SLACK_WEBHOOK_URL}` and set it with `wrangler secret put`.",
      ],
    },
  });
  return definition;
}

export const slack = slackKind();

/**
 * Per kind, what a test needs to drive it against its stand-in: settings pointing at a base URL, the checker of
 * its requests (as the vendor documents them), how many events a request carries, and how to refuse one event
 * of a request (GA4: per client; PostHog: the whole batch; Slack: the whole message).
 */
import { ga4Checker, ga4Events } from "./ga4.ts";
import { posthogChecker, posthogItems } from "./posthog.ts";
import type { Checker, VendorRequest } from "./stand-in.ts";
import { slackChecker, slackLines } from "./slack.ts";

export interface VendorFixture {
  settings(baseUrl: string): Record<string, unknown>;
  checker(): Checker;
  /** Events a request carries (GA4 identify parts carry user properties, not events: counted as one each request). */
  eventsIn(req: VendorRequest): number;
}

const SLACK_PATH = "/services/T0000/B0000/fixture";

export const vendorFixtures: Record<"ga4" | "posthog" | "slack", VendorFixture> = {
  ga4: {
    settings: (endpoint) => ({ measurement_id: "G-FIXTURE1", api_secret: "fixture-secret", endpoint }),
    checker: () => ga4Checker({ measurementId: "G-FIXTURE1", apiSecret: "fixture-secret" }),
    eventsIn: (req) => Math.max(1, ga4Events(req).length),
  },
  posthog: {
    settings: (host) => ({ api_key: "phc_fixture", host }),
    checker: () => posthogChecker("phc_fixture"),
    eventsIn: (req) => posthogItems(req).length,
  },
  slack: {
    // Unpaced: a suite sending thousands of events would otherwise wait a second per message.
    settings: (base) => ({ webhook_url: `${base}${SLACK_PATH}`, interval_ms: 0 }),
    checker: () => slackChecker(SLACK_PATH, 0),
    eventsIn: (req) => slackLines(req).length,
  },
};

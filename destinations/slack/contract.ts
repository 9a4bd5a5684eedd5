/**
 * Slack's side of the destination contract suite (see VendorFixture): a message is posted or refused whole. The
 * fixture's templates start each line with the event's messageId, so the suite can count each event once, and
 * `interval_ms: 0` turns pacing off (the suite posts hundreds of messages).
 */
import type { VendorFixture } from "../../src/delivery/vendor.ts";

const line = "{{messageId}} {{type}} {{event}}{{name}}";

export const fixture: VendorFixture = {
  settings: (base) => ({
    webhook_url: `${base}/services/T0000/B0000/contract`,
    templates: { track: line, page: line, screen: line, identify: line, group: line, alias: line },
    interval_ms: 0,
  }),
  items(request) {
    const { text } = JSON.parse(request.body) as { text: string };
    return text.split("\n").map((item) => ({ id: /^\S+/.exec(item)?.[0], item }));
  },
  noPartialFailure: "an incoming webhook answers for the whole message (200 `ok`, or 400/403/404/410 with one reason)",
};

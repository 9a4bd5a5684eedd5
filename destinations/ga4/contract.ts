/**
 * GA4's side of the destination contract suite (see VendorFixture): a request is one client's events; GA4 carries
 * no dedup key and answers 2xx or an error for the whole request.
 */
import type { VendorFixture } from "../../src/delivery/vendor.ts";

export const fixture: VendorFixture = {
  settings: (base) => ({ measurement_id: "G-CONTRACT1", api_secret: "${env.GA4_API_SECRET}", endpoint: base }),
  items(request) {
    const body = JSON.parse(request.body) as { events: unknown[] };
    return body.events.map((item) => ({ item }));
  },
  noDedupKey: "the Measurement Protocol has no event id: an event's `params` carry no messageId",
  noPartialFailure: "/mp/collect answers 2xx for the whole request, even for events it discards (the validation server is a setup aid)",
};

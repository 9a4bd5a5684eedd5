/** PostHog's side of the destination contract suite (see VendorFixture): a batch is accepted or refused whole. */
import type { VendorFixture } from "../../src/delivery/vendor.ts";

export const fixture: VendorFixture = {
  settings: (base) => ({ api_key: "phc_contract", host: base }),
  items(request) {
    const body = JSON.parse(request.body) as { batch: { uuid?: string }[] };
    return body.batch.map((item) => ({ id: item.uuid, item }));
  },
  noPartialFailure: "PostHog's /batch/ answers for the whole batch (200, or 400/401/5xx for all of it)",
};

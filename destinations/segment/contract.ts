/** Segment's side of the destination contract suite (see VendorFixture): a batch succeeds or fails as a whole. */
import type { VendorFixture } from "../../src/delivery/vendor.ts";

export const fixture: VendorFixture = {
  settings: (base) => ({ write_key: "${env.SEGMENT_WRITE_KEY}", endpoint: base }),
  items(request) {
    const body = JSON.parse(request.body) as { batch: { messageId?: string }[] };
    return body.batch.map((item) => ({ id: item.messageId, item }));
  },
  noPartialFailure: "/v1/batch answers for the whole batch (200, or 400/401/5xx for all of it)",
};

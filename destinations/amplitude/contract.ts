/** Amplitude's side of the destination contract suite (see VendorFixture): how to read its requests and fail part of one. */
import type { VendorFixture } from "../../src/delivery/vendor.ts";

export const fixture: VendorFixture = {
  settings: (base) => ({ api_key: "${env.AMPLITUDE_API_KEY}", endpoint: base }),
  items(request) {
    const body = JSON.parse(request.body) as { events: { insert_id?: string }[] };
    return body.events.map((item) => ({ id: item.insert_id, item }));
  },
  partialFailure(request, positions) {
    const body = { code: 400, error: "Invalid field values on some events", events_with_invalid_fields: { time: [...positions] }, events_with_missing_fields: {} };
    return { status: 400, body: JSON.stringify(body) };
  },
};

/** Mixpanel's side of the destination contract suite (see VendorFixture): how to read its requests and fail part of one. */
import type { VendorFixture } from "../../src/delivery/vendor.ts";

export const fixture: VendorFixture = {
  settings: (base) => ({ project_token: "tok_contract", api_secret: "${env.MIXPANEL_API_SECRET}", endpoint: base }),
  items(request) {
    const records = JSON.parse(request.body) as { properties?: { $insert_id?: string } }[];
    return records.map((item) => ({ id: item.properties?.$insert_id, item }));
  },
  partialFailure(request, positions) {
    const records = JSON.parse(request.body) as { properties?: { $insert_id?: string } }[];
    const failed = positions.map((index) => ({ index, $insert_id: records[index]?.properties?.$insert_id, field: "properties.time", message: "'properties.time' is invalid: must be specified as seconds since epoch" }));
    const body = { code: 400, error: "some data points in the request failed validation", failed_records: failed, num_records_imported: records.length - positions.length, status: "Bad Request" };
    return { status: 400, body: JSON.stringify(body) };
  },
};

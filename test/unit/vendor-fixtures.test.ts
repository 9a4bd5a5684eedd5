/** The vendor fixtures other suites plug in (test/support/vendors/index.ts) hold for the kinds they describe. */
import { describe, expect, it } from "vitest";
import { destinationKinds } from "../../destinations/index.ts";
import type { Problem } from "../../src/config/schema.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import { vendorFixtures } from "../support/vendors/index.ts";
import { fakeFetch, vendorContext } from "../support/vendors/stand-in.ts";

const T = "2026-04-26T09:15:29.000Z";
const events: SluiceEvent[] = Array.from({ length: 7 }, (_, i) => ({ type: "track", event: "Order Completed", messageId: `m-${i}`, receivedAt: T, timestamp: T, userId: "u-1", anonymousId: "a-1", properties: { i } }));

describe.each(Object.entries(vendorFixtures))("%s fixture", (kind, fixture) => {
  it("gives settings the kind accepts, and requests its checker accepts, counted per event", async () => {
    const problems: Problem[] = [];
    const settings = destinationKinds[kind]!.settings.check(fixture.settings("https://vendor.test"), [], problems);
    expect(problems).toEqual([]);
    const vendor = fakeFetch(fixture.checker());
    const results = await destinationKinds[kind]!.deliver(events, vendorContext(settings, vendor.fetch, () => Date.parse(T)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(vendor.problems).toEqual([]);
    expect(vendor.requests.reduce((n, r) => n + fixture.eventsIn(r), 0)).toBe(events.length);
  });
});

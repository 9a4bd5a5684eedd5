/**
 * The static registry of destination kinds. Adding a kind: create destinations/<kind>/index.ts exporting a
 * definition (see src/delivery/destination.ts, or src/delivery/vendor.ts for an HTTP API) and add one line here.
 */
import type { DestinationDefinition } from "../src/delivery/destination.ts";
import { amplitude } from "./amplitude/index.ts";
import { datalake } from "./datalake/index.ts";
import { mixpanel } from "./mixpanel/index.ts";
import { postgresWarehouse } from "./postgres/index.ts";
import { r2 } from "./r2/index.ts";
import { segment } from "./segment/index.ts";
import { ga4 } from "./ga4/index.ts";
import { posthog } from "./posthog/index.ts";
import { slack } from "./slack/index.ts";
import { webhook } from "./webhook/index.ts";

export const destinationKinds: Record<string, DestinationDefinition<any>> = {
  [webhook.kind]: webhook,
  [r2.kind]: r2,
  [datalake.kind]: datalake,
  [mixpanel.kind]: mixpanel,
  [amplitude.kind]: amplitude,
  [segment.kind]: segment,
  [postgresWarehouse.kind]: postgresWarehouse,
  [ga4.kind]: ga4,
  [posthog.kind]: posthog,
  [slack.kind]: slack,
};

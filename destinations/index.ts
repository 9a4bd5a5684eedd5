/**
 * The static registry of destination kinds. Adding a kind: create destinations/<kind>/index.ts exporting a
 * definition (see src/delivery/destination.ts) and add one line here.
 */
import type { DestinationDefinition } from "../src/delivery/destination.ts";
import { datalake } from "./datalake/index.ts";
import { postgresWarehouse } from "./postgres/index.ts";
import { r2 } from "./r2/index.ts";
import { webhook } from "./webhook/index.ts";

export const destinationKinds: Record<string, DestinationDefinition<any>> = {
  [webhook.kind]: webhook,
  [r2.kind]: r2,
  [datalake.kind]: datalake,
  [postgresWarehouse.kind]: postgresWarehouse,
};

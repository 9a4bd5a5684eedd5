import type { FilterSpec } from "../pipeline/filters/index.ts";
import { s, type Infer } from "./schema.ts";
import { DedupSchema, MtuBudgetSchema, RateLimitSchema } from "./source-limits.ts";
import { ENFORCEMENT_OPTIONS, type PlanRule } from "../plans/types.ts";
import { AccessSchema, type AccessConfig } from "./access.ts";
import { AlertSchema, NamingSchema, type AlertRule, type NamingConfig } from "./alerts.ts";

/** Ids appear in URLs, R2 keys and metric labels, so keep them simple. */
export const ID_PATTERN = /^[a-z0-9_-]+$/;

/** What a source does with events that do not follow its tracking plan (Segment's Schema Configuration). */
export const EnforcementSchema = s.object({
  unplanned_events: s.withDefault(s.literal(...ENFORCEMENT_OPTIONS.unplanned_events), "allow"),
  unplanned_properties: s.withDefault(s.literal(...ENFORCEMENT_OPTIONS.unplanned_properties), "allow"),
  violations: s.withDefault(s.literal(...ENFORCEMENT_OPTIONS.violations), "allow"),
  common_violations: s.withDefault(s.literal(...ENFORCEMENT_OPTIONS.common_violations), "allow"),
  /** Destination id that receives a `Violation Generated` track event per finding (Segment's violation forwarding). */
  violation_reports: s.optional(s.string({ pattern: ID_PATTERN })),
});

export const SourceSchema = s.object({
  id: s.string({ pattern: ID_PATTERN }),
  name: s.string({ minLength: 1 }),
  /** dev, staging, prod, …: what access tokens are scoped by (docs/access.md). */
  environment: s.withDefault(s.string({ pattern: ID_PATTERN }), "prod"),
  write_keys: s.array(s.string({ minLength: 8, pattern: /^[A-Za-z0-9_.-]+$/ }), { minItems: 1 }),
  /** Token bucket per source (docs/limits.md); none: not limited. */
  rate_limit: s.optional(RateLimitSchema),
  /** Drop resent messageIds within a window; absent: 24 h; `false`: off. */
  dedup: s.optional(DedupSchema),
  /** Alert once a month when distinct users pass a share of this budget. */
  mtu_budget: s.optional(MtuBudgetSchema),
  /** The tracking plan (`filters/plans/<id>.yaml`) this source's events are checked against. */
  tracking_plan: s.optional(s.string({ pattern: ID_PATTERN })),
  /** Needs tracking_plan; every setting defaults to allow (as in Segment). */
  enforcement: s.optional(EnforcementSchema),
});
export type SourceConfig = Infer<typeof SourceSchema>;

export const DestinationSchema = s.object({
  id: s.string({ pattern: ID_PATTERN }),
  name: s.string({ minLength: 1 }),
  kind: s.string(),
  enabled: s.withDefault(s.boolean(), true),
  sources: s.oneOf(s.literal("*"), s.array(s.string({ pattern: ID_PATTERN }), { minItems: 1 })),
  settings: s.withDefault(s.record(s.unknown()), {}),
  /** How long and how often failed deliveries are retried before they become dead letters. */
  retry: s.withDefault(
    s.object({
      window_hours: s.withDefault(s.number({ min: 0.001, max: 72 }), 4),
      base_delay_seconds: s.withDefault(s.number({ min: 1, max: 3600 }), 5),
      max_delay_seconds: s.withDefault(s.number({ min: 1, max: 43_200 }), 1800),
    }),
    { window_hours: 4, base_delay_seconds: 5, max_delay_seconds: 1800 },
  ),
  /** After this many consecutive failed calls the destination is left alone for a cooldown, then probed. */
  circuit_breaker: s.withDefault(
    s.object({
      failures_to_open: s.withDefault(s.number({ integer: true, min: 1, max: 1000 }), 10),
      cooldown_seconds: s.withDefault(s.number({ min: 1, max: 3600 }), 15),
      max_cooldown_seconds: s.withDefault(s.number({ min: 1, max: 86_400 }), 600),
    }),
    { failures_to_open: 10, cooldown_seconds: 15, max_cooldown_seconds: 600 },
  ),
});
export type DestinationConfig = Infer<typeof DestinationSchema>;

export const ConfigFileSchema = s.object({
  sources: s.array(SourceSchema, { minItems: 1 }),
  destinations: s.withDefault(s.array(DestinationSchema), []),
  /** Operator tokens, roles and scopes (src/config/access.ts). */
  access: s.optional(AccessSchema),
  /** Alert rules (src/config/alerts.ts, docs/alerts.md). */
  alerts: s.withDefault(s.array(AlertSchema), []),
  /** Naming conventions for event and property names. */
  naming: s.optional(NamingSchema),
});

/** What the build writes and the worker loads: validated, defaults applied, secrets still as `${env.NAME}`. */
export interface BuiltConfig {
  version: 1;
  /** The config folder it was built from, as given to the build (e.g. `filters`); recorded in the built module. */
  origin: string;
  sources: SourceConfig[];
  destinations: DestinationConfig[];
  /** Destination id → its filters (`filters/<id>.yaml`), in file order. */
  filters: Record<string, FilterSpec[]>;
  /** Source id → filters applied before every destination of the source (`filters/sources/<id>.yaml`). */
  sourceFilters: Record<string, FilterSpec[]>;
  /** Plan id → its rules (`filters/plans/<id>.yaml`), Segment's format, short-hand expanded; compiled at first use. */
  plans?: Record<string, PlanRule[]>;
  /** Operator tokens (src/config/access.ts); none: only ADMIN_TOKEN. */
  access?: AccessConfig;
  alerts?: AlertRule[];
  naming?: NamingConfig;
  /** What was built, when, from which commit (scripts/build-config.ts); GET /admin/config. */
  revision?: ConfigRevision;
}

export interface ConfigRevision {
  /** Hex SHA-256 of the built config without this field (src/config/revision.ts). */
  hash: string;
  built_at: string;
  /** The checkout's HEAD when the config was built from one. */
  commit?: string;
}

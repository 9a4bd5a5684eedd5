/**
 * What a fresh isolate does before its first event (bench "footprint"): the built config module is JSON text the
 * worker parses, and compilePipeline defers filter lists and tracking plans to their first use.
 */
import { describe, expect, it } from "vitest";
import { buildConfigModule } from "../../src/config/build.ts";
import { DestinationSchema, type BuiltConfig } from "../../src/config/model.ts";
import { compilePipeline, ingest, runtimePlan } from "../../src/pipeline/compile.ts";
import { md5Hex } from "../../src/pipeline/filters/md5.ts";
import type { NormalizeOptions } from "../../src/pipeline/normalize.ts";
import type { Tally } from "../../src/pipeline/route.ts";
import { shorthandRule, type PlanRule } from "../../src/plans/index.ts";

class RecordingTally implements Tally {
  readonly counts: Record<string, number> = {};
  count(scope: string, metric: string, n = 1): void {
    this.counts[`${scope} ${metric}`] = (this.counts[`${scope} ${metric}`] ?? 0) + n;
  }
}

const opts = (): NormalizeOptions => ({ receivedAt: new Date("2024-05-01T12:00:00.000Z"), newMessageId: () => "gen-1", requestBytes: 512 });

function config(filters: BuiltConfig["filters"], plans?: BuiltConfig["plans"]): BuiltConfig {
  return {
    version: 1,
    origin: "test",
    sources: [{ id: "web", name: "Web", environment: "prod", write_keys: ["wk_web_1234"], ...(plans ? { tracking_plan: "p" } : {}) }],
    destinations: [
      DestinationSchema.check({ id: "good", name: "Good", kind: "webhook", sources: "*" }, [], [])!,
      DestinationSchema.check({ id: "bad", name: "Bad", kind: "webhook", sources: "*" }, [], [])!,
    ],
    filters,
    sourceFilters: {},
    ...(plans ? { plans } : {}),
  };
}

/** Evaluates a module written by buildConfigModule and returns its default export. */
function evaluateConfigModule(text: string): unknown {
  const body = text
    .replace(/^import type .*$/m, "")
    .replace("const config: BuiltConfig =", "const config =")
    .replace("export default config;", "return config;");
  return new Function(body)();
}

describe("buildConfigModule", () => {
  it("emits the config as JSON.parse of one string literal that reads back exactly", () => {
    const tricky = "it's a \\ back\\slash, \"quotes\", \n\r\t, \u2028\u2029, ${env.HOOK_SECRET}, </script>, é 😀";
    const built = { ...config({ good: [{ title: tricky, if: `event = "${tricky}"`, actions: [{ type: "DROP" }] } as never] }), origin: tricky };
    const text = buildConfigModule(built, "../src/config/model.ts");
    expect(text).toMatch(/^const config: BuiltConfig = JSON\.parse\('.*'\);$/m);
    expect(text.split("\n")).toHaveLength(5); // no raw line breaks inside the literal
    expect(evaluateConfigModule(text)).toEqual(built);
  });
});

describe("compilePipeline defers filters and plans to first use", () => {
  it("compiles a destination's filters on the first event that reaches them; a broken list fails closed, for the dead letters", () => {
    const pipeline = compilePipeline(
      config({
        good: [{ title: "No tests", if: 'event = "Test"', actions: [{ type: "DROP" }] } as never],
        bad: [{ title: "Broken", if: "event = = ", actions: [{ type: "DROP" }] } as never],
      }),
      { webhook: { receivesAllEvents: false } },
    );
    const source = pipeline.sourceForWriteKey("wk_web_1234")!;
    const tally = new RecordingTally();
    const routed = ingest(source, { batch: [{ type: "track", userId: "u", event: "Test" }, { type: "track", userId: "u", event: "Kept" }] }, "batch", opts(), tally).routed;
    expect(routed.get("good")?.events.map((e) => e.event)).toEqual(["Kept"]);
    expect(routed.get("bad")).toMatchObject({ events: [], failed: [{ pending: "destination", reason: expect.stringMatching(/^filters of destination:bad threw: FilterRuleError/), events: [{ event: "Test" }, { event: "Kept" }] }] });
    expect(tally.counts).toMatchObject({ "destination:good dropped.filter.No tests": 1, "destination:bad failed.filter_error": 2 });
  });

  it("still knows at compile time that a list's secret is missing (events then travel pending)", () => {
    const pipeline = compilePipeline(config({ good: [{ title: "Secret", if: 'event = "${env.NOT_SET}"', actions: [{ type: "DROP" }] } as never] }), {
      webhook: { receivesAllEvents: false },
    });
    const good = pipeline.source("web")!.targets.find((t) => t.id === "good")!;
    expect(good.deferred).toMatch(/NOT_SET/);
  });

  it("never compiles the admin token into a filter, even when it is set (the list waits, as for a missing secret)", () => {
    const pipeline = compilePipeline(
      config({ good: [{ title: "Leak", if: "all", actions: [{ type: "SET", path: "context.t", value: "${env.ADMIN_TOKEN}" }] } as never] }),
      { webhook: { receivesAllEvents: false } },
      { ADMIN_TOKEN: "the-admin-token" },
    );
    const good = pipeline.source("web")!.targets.find((t) => t.id === "good")!;
    expect(good.deferred).toMatch(/^\$\{env\.ADMIN_TOKEN\} is an operator credential/);
    expect(good.transform).toBeUndefined();
  });

  it("compiles a plan on first read, once, with the revision the JS MD5 gave before (stored records name it)", () => {
    const rules = [shorthandRule({ name: "Order Completed", properties: { revenue: "number" } }, {})];
    const plan = runtimePlan("p", rules);
    expect(plan.revision).toBe(md5Hex(JSON.stringify(rules)).slice(0, 12));
    expect(plan.compiled).toBe(plan.compiled);
    const broken = runtimePlan("p", [{ type: "TRACK", version: 1, jsonSchema: {} } as PlanRule]);
    expect(broken.revision).toMatch(/^[0-9a-f]{12}$/);
    expect(() => broken.compiled).toThrow(/TRACK rule needs the event name/);
    const pipeline = compilePipeline(config({}, { p: rules }), { webhook: { receivesAllEvents: false } });
    expect(pipeline.source("web")!.plan!.compiled).toBe(pipeline.plan("p")!.compiled);
  });
});

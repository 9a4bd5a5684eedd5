/**
 * Naming conventions and "did you mean" on the seed's own examples: in the names report (`sluice names`), in a
 * tracking-plan violation, and through the CLI command.
 */
import { describe, expect, it } from "vitest";
import { namesReport } from "../../src/alerts/names.ts";
import type { HourRow } from "../../src/alerts/rules.ts";
import { formatNames, namesCommand } from "../../src/cli/names.ts";
import { compilePlan, enforcePlan } from "../../src/plans/index.ts";
import { checkName, editDistance, fold, follows, inConvention, nameSuggester } from "../../src/plans/naming.ts";

describe("conventions", () => {
  it("checks Object Action, snake_case and camelCase", () => {
    expect(["Order Completed", "Signed Up", "Product List Viewed"].every((n) => follows(n, "Object Action"))).toBe(true);
    expect(["order_completed", "Order completed", "Completed", "Order  Completed"].some((n) => follows(n, "Object Action"))).toBe(false);
    expect(follows("user_signup", "snake_case")).toBe(true);
    expect(follows("user_Signedup", "snake_case")).toBe(false);
    expect(follows("userSignup", "camelCase")).toBe(true);
    expect(follows("user_signup", "camelCase")).toBe(false);
    expect(inConvention("order_completed", "Object Action")).toBe("Order Completed");
    expect(inConvention("Order Completed", "snake_case")).toBe("order_completed");
    expect(inConvention("user_signed_up", "camelCase")).toBe("userSignedUp");
  });

  it("folds case and separators; edit distance stops early", () => {
    expect(fold("Order Completed")).toBe(fold("order_completed"));
    expect(fold("order-completed")).toBe("ordercompleted");
    expect(editDistance("usersignedup", "usersignup")).toBe(2);
    expect(editDistance("abcdef", "zzzzzz", 2)).toBe(3);
  });
});

describe("did you mean", () => {
  it("suggests the planned or more frequent name on the seed's examples", () => {
    const suggest = nameSuggester(["user_signup", "Order Completed"]);
    expect(suggest("user_Signedup")).toBe("user_signup");
    expect(suggest("order_completed")).toBe("Order Completed");
    expect(suggest("OrderCompleted")).toBe("Order Completed");
    expect(suggest("Order Complete")).toBe("Order Completed");
    expect(suggest("Checkout Started")).toBeUndefined();
    expect(suggest("user_signup")).toBeUndefined();
    // Seen names, most frequent first: the rare spelling points at the common one, never the reverse.
    const seen = nameSuggester([], ["user_signup", "user_Signedup"]);
    expect(seen("user_Signedup")).toBe("user_signup");
    expect(seen("user_signup")).toBeUndefined();
  });

  it("falls back to the name in the convention when nothing known is close", () => {
    const suggest = nameSuggester(["Order Completed"]);
    expect(checkName("cart_abandoned", suggest, "Object Action")).toEqual({ name: "cart_abandoned", convention_ok: false, suggestion: "Cart Abandoned" });
    expect(checkName("Cart Abandoned", suggest, "Object Action")).toEqual({ name: "Cart Abandoned", convention_ok: true });
  });

  it("appears in the tracking plan's unplanned event and property violations", () => {
    const jsonSchema = { type: "object", properties: { properties: { type: "object", properties: { plan_name: { type: "string" } } } } };
    const plan = compilePlan([{ type: "TRACK", key: "user_signup", version: 1, jsonSchema }]);
    const event = (name: string, properties: Record<string, unknown>) => ({ type: "track" as const, event: name, messageId: "m", receivedAt: "", timestamp: "", properties });
    expect(enforcePlan(plan, {}, event("user_Signedup", {})).findings[0]!.description).toBe('event "user_Signedup" is not in the tracking plan (did you mean "user_signup"?)');
    expect(enforcePlan(plan, {}, event("user_signup", { planName: "pro" })).findings[0]!.description).toBe('properties.planName is not in the tracking plan (did you mean "plan_name"?)');
  });
});

describe("names report and `sluice names`", () => {
  const rows: HourRow[] = [
    { hour: "2026-06-01T10", counters: { "event.user_signup": 900, "event.Order Completed": 300, "event.order_completed": 12, accepted: 1300 } },
    { hour: "2026-06-01T09", counters: { "event.user_Signedup": 4, "event.Order Completed": 200 } },
  ];

  it("lists every name seen with its count, plan, convention and suggestion", () => {
    const r = namesReport("web", "2026-06-01T00", rows, ["Order Completed", "Checkout Started"], "Object Action");
    expect(r.names).toEqual([
      { name: "user_signup", count: 900, planned: false, convention_ok: false, suggestion: "User Signup" },
      { name: "Order Completed", count: 500, planned: true, convention_ok: true },
      { name: "order_completed", count: 12, planned: false, convention_ok: false, suggestion: "Order Completed" },
      { name: "user_Signedup", count: 4, planned: false, convention_ok: false, suggestion: "user_signup" },
    ]);
    expect(r.unseen_planned).toEqual(["Checkout Started"]);
    const text = formatNames(r);
    expect(text).toMatch(/user_Signedup\s+4\s+no\s+off\s+user_signup/);
    expect(text).toContain("planned but not seen: Checkout Started");
  });

  it("reads the worker's /admin/names with the admin token", async () => {
    const calls: { url: string; auth: string | null }[] = [];
    const out: string[] = [];
    const report = namesReport("web", "2026-06-01T00", rows, ["Order Completed"]);
    const fetch = (async (url: string, init?: RequestInit) => {
      calls.push({ url, auth: new Headers(init?.headers).get("authorization") });
      return Response.json(report);
    }) as typeof globalThis.fetch;
    expect(await namesCommand({ source: "web", days: "3", url: "http://127.0.0.1:9/", token: "tok" }, { log: (s) => out.push(s), fetch })).toBe(0);
    expect(calls).toEqual([{ url: "http://127.0.0.1:9/admin/names?source=web&days=3", auth: "Bearer tok" }]);
    expect(out[0]).toMatch(/order_completed\s+12\s+no\s+-\s+Order Completed/);
  });
});

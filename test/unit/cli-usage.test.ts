import { describe, expect, it } from "vitest";
import { formatUsage, parseUsageArgs, usageCommand } from "../../src/cli/usage.ts";
import type { SourceUsage } from "../../src/usage/report.ts";

const REPORT: SourceUsage[] = [
  {
    source: "web",
    days: [{ day: "2026-05-02", requests: 1200, accepted: 11_500, bytes: 2_345_678, duplicates: 12, rejected: { rate_limited: 40, missing_field: 2 }, users: 830 }],
    months: [{ month: "2026-05", mtu: 4100, budget: 5000, share: 0.82, alertSentAt: "2026-05-02T09:00:00.000Z" }],
  },
];

function run(args: string[], answer: Response | Error) {
  const out: string[] = [];
  const err: string[] = [];
  const calls: { url: string; auth: string | null }[] = [];
  const fetch = (async (url: string, init?: RequestInit) => {
    calls.push({ url, auth: new Headers(init?.headers).get("authorization") });
    if (answer instanceof Error) throw answer;
    return answer;
  }) as typeof globalThis.fetch;
  return usageCommand(args, { log: (s) => out.push(s), error: (s) => err.push(s), fetch }).then((code) => ({ code, out: out.join("\n"), err: err.join("\n"), calls }));
}

describe("sluice usage", () => {
  it("asks the admin API with the token and prints a table per day and per month", async () => {
    const r = await run(["--url", "https://sluice.example.com/", "--token", "t0k", "--source", "web", "--since", "2026-05-01"], Response.json({ since: "2026-05-01", sources: REPORT }));
    expect(r.code).toBe(0);
    expect(r.calls).toEqual([{ url: "https://sluice.example.com/admin/usage?source=web&since=2026-05-01", auth: "Bearer t0k" }]);
    expect(r.out).toContain("rate_limited:40 missing_field:2");
    expect(r.out).toMatch(/web\s+2026-05-02\s+1,200\s+11,500\s+2,345,678\s+12/);
    expect(r.out).toMatch(/web\s+2026-05\s+4,100\s+5,000\s+82%\s+2026-05-02T09:00:00.000Z/);
  });

  it("prints the API's JSON with --json", async () => {
    const r = await run(["--json", "--url=http://127.0.0.1:8787", "--token=t"], Response.json({ since: "2026-05-01", sources: REPORT }));
    expect(JSON.parse(r.out)).toEqual({ since: "2026-05-01", sources: REPORT });
  });

  it("reports the API's error and exits 1", async () => {
    const r = await run(["--url", "http://x", "--token", "bad"], Response.json({ error: { code: "unauthorized", message: "nope" } }, { status: 401 }));
    expect(r.code).toBe(1);
    expect(r.err).toContain("HTTP 401 unauthorized: nope");
  });

  it("exits 1 when the worker cannot be reached, 2 on bad arguments", async () => {
    expect((await run(["--url", "http://x", "--token", "t"], new Error("ECONNREFUSED"))).code).toBe(1);
    expect((await run(["--url", "http://x", "--token", "t", "--colour", "red"], Response.json({}))).code).toBe(2);
    expect(() => parseUsageArgs(["--since"])).toThrow("needs a value");
    expect(parseUsageArgs(["--json", "true", "--source", "web"])).toEqual({ options: { source: "web" }, json: true });
  });

  it("says so when nothing was recorded", () => {
    expect(formatUsage([{ source: "web", days: [], months: [] }])).toBe("no usage recorded in this period");
  });
});

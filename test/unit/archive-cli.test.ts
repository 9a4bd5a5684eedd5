/**
 * `sluice quarantine|dead-letters replay` paging (src/cli/admin.ts) against a stubbed admin API: progress per page,
 * and only entries stored before the replay began (the first page's `asOf`), so still-failing events that a
 * replay stores again are not replayed in a loop.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { archiveCommand } from "../../src/cli/admin.ts";
import { main } from "../../src/cli/main.ts";

type Page = { claimed: number; replayed: number; kept: number; failed: number; events: number; remaining: number; asOf?: number; errors: { id: string; error: string }[] };
const page = (p: Partial<Page>): Page => ({ claimed: 0, replayed: 0, kept: 0, failed: 0, events: 0, remaining: 0, errors: [], ...p });

/** Stubs fetch with the given answers, in order; returns the request bodies sent. */
function stubApi(answers: Page[]): { url: string; body: Record<string, unknown> }[] {
  const calls: { url: string; body: Record<string, unknown> }[] = [];
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    calls.push({ url, body: JSON.parse(String(init.body ?? "{}")) });
    return new Response(JSON.stringify(answers.shift() ?? page({})), { status: 200 });
  });
  return calls;
}

afterEach(() => vi.unstubAllGlobals());

describe("archiveCommand replay", () => {
  const conn = { url: "http://sluice.local", token: "t" };

  it("pages with the first page's asOf as `to`, and prints progress after each page", async () => {
    const calls = stubApi([
      page({ claimed: 2, replayed: 1, kept: 1, events: 1, remaining: 3, asOf: 1_000 }),
      page({ claimed: 3, replayed: 3, events: 3, remaining: 0, asOf: 2_000 }),
    ]);
    const lines: string[] = [];
    expect(await archiveCommand("quarantine", ["replay"], { ...conn, source: "web" }, (l) => lines.push(l))).toBe(0);
    expect(calls.map((c) => c.url)).toEqual(["http://sluice.local/admin/quarantine/replay", "http://sluice.local/admin/quarantine/replay"]);
    expect(calls.map((c) => c.body)).toEqual([
      { source: "web", limit: 100 },
      { source: "web", limit: 100, to: 1_000 },
    ]);
    expect(lines).toEqual(["replayed 1 (1 events), still failing 1, failed 0, remaining 3", "replayed 4 (4 events), still failing 1, failed 0, remaining 0"]);
  });

  it("keeps an earlier --to the operator gave", async () => {
    const calls = stubApi([page({ claimed: 1, replayed: 1, events: 1, remaining: 1, asOf: Date.parse("2026-11-26T00:00:00Z") }), page({})]);
    await archiveCommand("quarantine", ["replay"], { ...conn, to: "2026-11-01T00:00:00Z" }, () => {});
    expect(calls[1]!.body.to).toBe(Date.parse("2026-11-01T00:00:00Z"));
  });

  it("stops when a page claims nothing, and fails (exit 1) when some entries could not be replayed", async () => {
    const calls = stubApi([page({ claimed: 1, failed: 1, remaining: 1, asOf: 5, errors: [{ id: "x", error: "record missing" }] })]);
    const lines: string[] = [];
    expect(await archiveCommand("quarantine", ["replay"], { ...conn, all: "true" }, (l) => lines.push(l))).toBe(1);
    expect(calls[0]!.body).toEqual({ all: true, limit: 100 });
    expect(lines[0]).toBe("  failed x: record missing");
  });
});

describe("sluice quarantine", () => {
  it("is a command, with the dead-letters options", async () => {
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void errors.push(a.join(" ")));
    const saved = { a: process.env.SLUICE_ADMIN_TOKEN, b: process.env.ADMIN_TOKEN, c: process.env.SLUICE_TOKEN };
    delete process.env.SLUICE_ADMIN_TOKEN;
    delete process.env.ADMIN_TOKEN;
    delete process.env.SLUICE_TOKEN;
    try {
      expect(await main(["quarantine", "list"])).toBe(2);
      expect(errors).toEqual(["sluice quarantine: no token: pass --token or set SLUICE_TOKEN (an access token or ADMIN_TOKEN)"]);
    } finally {
      if (saved.a !== undefined) process.env.SLUICE_ADMIN_TOKEN = saved.a;
      if (saved.b !== undefined) process.env.ADMIN_TOKEN = saved.b;
      if (saved.c !== undefined) process.env.SLUICE_TOKEN = saved.c;
      vi.restoreAllMocks();
    }
  });
});

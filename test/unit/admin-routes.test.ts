/** Every admin route the code's comments or the docs point an operator or a reader at is one the worker serves. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/http/app.ts";
import { Telemetry } from "../../src/telemetry.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The worker's admin routes, as Hono registered them (wildcard middleware left out). */
function servedAdminRoutes(): string[][] {
  const app = createApp({
    pipeline: () => {
      throw new Error("not compiled: only the routes are read");
    },
    kinds: {},
    telemetry: new Telemetry(() => {
      throw new Error("not used");
    }),
  });
  return app.routes.filter((r) => r.path.startsWith("/admin/") && !r.path.includes("*")).map((r) => r.path.split("/"));
}

/** A mention (`/admin/plans/<id>/stats`) names a route (`/admin/plans/:id/stats`): placeholders match any segment. */
function served(mention: string, routes: string[][]): boolean {
  const segments = mention.split("/");
  return routes.some(
    (route) =>
      route.length === segments.length &&
      route.every((part, i) => part.startsWith(":") || /^<.+>$/.test(segments[i]!) || part === segments[i]),
  );
}

describe("admin routes named in code and docs", () => {
  const routes = servedAdminRoutes();

  it("reads the served routes, placeholders included", () => {
    expect(served("/admin/plans/<id>/stats", routes)).toBe(true);
    expect(served("/admin/<name>/replay", routes)).toBe(true);
    expect(served("/admin/destinations/inspect/events", routes)).toBe(true);
    expect(served("/admin/nothing-here", routes)).toBe(false);
  });

  it("are all served", () => {
    const files = execFileSync("git", ["ls-files", "-z", "src", "destinations", "scripts", "bin", "README.md", "docs"], { cwd: ROOT, encoding: "utf8" })
      .split("\0")
      .filter((f) => /\.(ts|mjs|md)$/.test(f));
    const unserved: string[] = [];
    for (const file of files) {
      readFileSync(join(ROOT, file), "utf8")
        .split("\n")
        .forEach((line, i) => {
          for (const [match] of line.matchAll(/\/admin\/[\w<>:.-]+(?:\/[\w<>:.-]+)*/g)) {
            const mention = match.replace(/[./]+$/, "");
            if (!served(mention, routes)) unserved.push(`${file}:${i + 1}: ${mention}`);
          }
        });
    }
    expect(unserved).toEqual([]);
  });
});

/** docs/destinations/<kind>.md are generated from the definitions (scripts/destination-docs.ts) and must match them. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { destinationKinds } from "../../destinations/index.ts";
import { destinationDocs, DOCS_DIR } from "../../scripts/destination-docs.ts";

const INDEX = new URL("../../docs/destinations.md", import.meta.url);

describe("destination docs", () => {
  const pages = destinationDocs();

  it.each([...pages.keys()])("docs/destinations/%s is up to date (else run `npm run docs:destinations`)", (file) => {
    const path = `${DOCS_DIR}${file}`;
    expect(existsSync(path), `${file} is missing: run npm run docs:destinations`).toBe(true);
    expect(readFileSync(path, "utf8"), `${file} is stale: run npm run docs:destinations`).toBe(pages.get(file));
  });

  it("holds no page of a kind that is not registered", () => {
    expect(readdirSync(DOCS_DIR).filter((f) => f.endsWith(".md")).sort()).toEqual([...pages.keys()].sort());
  });

  it("docs/destinations.md lists every kind with a link to its page", () => {
    const index = readFileSync(INDEX, "utf8");
    for (const kind of Object.keys(destinationKinds)) expect(index, kind).toContain(`[\`${kind}\`](destinations/${kind}.md)`);
  });

  it("a page shows settings from the schema and the vendor's mapping rows", () => {
    const page = pages.get("mixpanel.md")!;
    expect(page).toContain("| `region` | one of \"us\", \"eu\", \"in\" | `\"us\"` |");
    expect(page).toContain("| `api_secret` | a string | required |");
    expect(page).toContain("| identify `traits` | /engage `$set` |");
    expect(pages.get("amplitude.md")).toContain("Routing counts `alias` calls `dropped.unsupported_type`");
  });
});

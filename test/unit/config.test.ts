import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatConfigError, loadConfigDir, type LoadResult } from "../../src/config/load.ts";
import { MissingSecretError, OperatorSecretError, resolveSecrets, secretRefs } from "../../src/config/secrets.ts";
import { configFolders, lineOf, loadDemoConfig, where } from "./support/config-folders.ts";

const { root, folder } = configFolders("config-test");

/** Writes `files` into a fresh folder and loads it, file names shown relative to that folder. */
function load(files: Record<string, string>): LoadResult {
  const dir = folder(files);
  return loadConfigDir(dir, dir);
}

const SOURCES = `sources:
  - id: web
    name: Website
    write_keys: [wk_web_12345]
`;

describe("loadConfigDir: valid configs", () => {
  it("loads the demo folder", () => {
    const { config, errors } = loadDemoConfig();
    expect(errors).toEqual([]);
    expect(config).toBeDefined();
    expect(config!.origin).toBe("filters");
    expect(config!.sources.map((s) => s.id)).toEqual(["web"]);
    expect(config!.destinations.map((d) => [d.id, d.kind])).toEqual([
      ["inspect", "r2"],
      ["hook", "webhook"],
    ]);
    const hook = config!.destinations.find((d) => d.id === "hook")!;
    expect(hook.settings).toMatchObject({ url: "http://127.0.0.1:9911/", secret: "${env.HOOK_SECRET}", timeout_ms: 10_000, batch: { enabled: false } });
  });

  it("applies defaults: environment prod, destinations empty, enabled true, kind settings defaults", () => {
    const text = `${SOURCES}destinations:
  - id: store
    name: Store
    kind: r2
    sources: "*"
  - id: hook
    name: Hook
    kind: webhook
    sources: [web]
    settings: { url: "https://example.com/hook" }
`;
    const { config, errors } = load({ "sluice.yaml": text });
    expect(errors).toEqual([]);
    expect(config!.sources[0]).toEqual({ id: "web", name: "Website", environment: "prod", write_keys: ["wk_web_12345"] });
    expect(config!.destinations[0]).toEqual({
      id: "store", name: "Store", kind: "r2", enabled: true, sources: "*", settings: { prefix: "events", max_events_per_object: 500 },
      retry: { window_hours: 4, base_delay_seconds: 5, max_delay_seconds: 1800 },
      circuit_breaker: { failures_to_open: 10, cooldown_seconds: 15, max_cooldown_seconds: 600 },
    });
    expect(config!.destinations[1]!.settings).toEqual({
      url: "https://example.com/hook",
      headers: {},
      timeout_ms: 10_000,
      batch: { enabled: false, max_events: 100 },
      concurrency: 10,
    });
    expect(load({ "sluice.yaml": SOURCES }).config!.destinations).toEqual([]);
  });

  it("accepts a JSON config (sluice.json)", () => {
    const json = JSON.stringify(
      {
        sources: [{ id: "web", name: "Website", write_keys: ["wk_web_12345"] }],
        destinations: [{ id: "hook", name: "Hook", kind: "webhook", sources: ["web"], settings: { url: "${env.HOOK_URL}", secret: "${env.HOOK_SECRET}" } }],
      },
      null,
      2,
    );
    const { config, errors } = load({ "sluice.json": json });
    expect(errors).toEqual([]);
    expect(config!.destinations[0]!.settings).toMatchObject({ url: "${env.HOOK_URL}", secret: "${env.HOOK_SECRET}" });
  });
});

describe("loadConfigDir: each error names file, line and rule", () => {
  it("reports a missing config file", () => {
    const { config, errors } = load({});
    expect(config).toBeUndefined();
    expect(errors).toEqual([{ file: "sluice.yaml", line: 1, rule: "", message: "config file not found" }]);
  });

  it("reports an unknown top-level key on its line", () => {
    const text = `${SOURCES}destination: []\n`;
    const { config, errors } = load({ "sluice.yaml": text });
    expect(config).toBeUndefined();
    expect(errors).toEqual([{ file: "sluice.yaml", line: lineOf(text, "destination: []"), rule: "destination", message: expect.stringContaining('unknown key "destination"') }]);
  });

  it("reports an unknown key in a source on its line", () => {
    const text = `sources:
  - id: web
    name: Website
    colour: blue
    write_keys: [wk_web_12345]
`;
    expect(load({ "sluice.yaml": text }).errors).toEqual([
      { file: "sluice.yaml", line: lineOf(text, "colour"), rule: "sources[0].colour", message: expect.stringMatching(/unknown key "colour".*id, name, environment, write_keys/) },
    ]);
  });

  it.each([
    ["upper-case letters", "Web"],
    ["a space", "my web"],
    ["a dot", "web.site"],
  ])("reports a source id with %s", (_what, id) => {
    const text = `sources:
  - id: ${JSON.stringify(id)}
    name: Website
    write_keys: [wk_web_12345]
`;
    const { errors } = load({ "sluice.yaml": text });
    expect(errors).toEqual([{ file: "sluice.yaml", line: 2, rule: "sources[0].id", message: expect.stringContaining("must match") }]);
  });

  it("reports a bad destination id", () => {
    const text = `${SOURCES}destinations:
  - id: My Hook
    name: Hook
    kind: r2
    sources: "*"
`;
    expect(where(load({ "sluice.yaml": text }).errors)).toEqual([{ file: "sluice.yaml", line: lineOf(text, "My Hook"), rule: "destinations[0].id" }]);
  });

  it("reports a missing required key at the item that lacks it", () => {
    const text = `sources:
  - id: web
    write_keys: [wk_web_12345]
`;
    expect(load({ "sluice.yaml": text }).errors).toEqual([{ file: "sluice.yaml", line: 2, rule: "sources[0].name", message: 'missing required key "name"' }]);
  });

  it("reports an empty source list", () => {
    const text = "sources: []\n";
    expect(load({ "sluice.yaml": text }).errors).toEqual([{ file: "sluice.yaml", line: 1, rule: "sources", message: expect.stringContaining("at least 1") }]);
  });

  it("reports a write key that is too short or has bad characters", () => {
    const text = `sources:
  - id: web
    name: Website
    write_keys:
      - short
      - "has space 123"
`;
    expect(where(load({ "sluice.yaml": text }).errors)).toEqual([
      { file: "sluice.yaml", line: lineOf(text, "- short"), rule: "sources[0].write_keys[0]" },
      { file: "sluice.yaml", line: lineOf(text, "has space"), rule: "sources[0].write_keys[1]" },
    ]);
  });

  it("reports a file that is not a map", () => {
    expect(load({ "sluice.yaml": "- a\n- b\n" }).errors).toEqual([{ file: "sluice.yaml", line: 1, rule: "", message: "expected a map, got list" }]);
  });

  it("reports a duplicate source id on the second one", () => {
    const text = `sources:
  - id: web
    name: Website
    write_keys: [wk_web_12345]
  - id: web
    name: Website again
    write_keys: [wk_web_67890]
`;
    expect(load({ "sluice.yaml": text }).errors).toEqual([{ file: "sluice.yaml", line: 5, rule: "sources[1].id", message: 'duplicate source id "web"' }]);
  });

  it("reports a write key used by two sources, naming the first owner", () => {
    const text = `sources:
  - id: web
    name: Website
    write_keys: [wk_shared_123]
  - id: ios
    name: iOS
    write_keys:
      - wk_ios_12345
      - wk_shared_123
`;
    expect(load({ "sluice.yaml": text }).errors).toEqual([
      { file: "sluice.yaml", line: lineOf(text, "- wk_shared_123"), rule: "sources[1].write_keys[1]", message: 'write key already used by source "web"' },
    ]);
  });

  it("reports a write key repeated within one source", () => {
    const text = `sources:
  - id: web
    name: Website
    write_keys:
      - wk_web_12345
      - wk_web_12345
`;
    expect(where(load({ "sluice.yaml": text }).errors)).toEqual([{ file: "sluice.yaml", line: 6, rule: "sources[0].write_keys[1]" }]);
  });

  it("reports duplicate destination ids and names", () => {
    const text = `${SOURCES}destinations:
  - id: store
    name: Store
    kind: r2
    sources: "*"
  - id: store
    name: Store Two
    kind: r2
    sources: "*"
  - id: other
    name: Store
    kind: r2
    sources: "*"
`;
    expect(load({ "sluice.yaml": text }).errors).toEqual([
      { file: "sluice.yaml", line: 10, rule: "destinations[1].id", message: 'duplicate destination id "store"' },
      { file: "sluice.yaml", line: 15, rule: "destinations[2].name", message: expect.stringContaining('duplicate destination name "Store"') },
    ]);
  });

  it("reports a destination fed by an unknown source", () => {
    const text = `${SOURCES}destinations:
  - id: store
    name: Store
    kind: r2
    sources:
      - web
      - mobile
`;
    expect(load({ "sluice.yaml": text }).errors).toEqual([{ file: "sluice.yaml", line: lineOf(text, "- mobile"), rule: "destinations[0].sources[1]", message: 'unknown source "mobile"' }]);
  });

  it("reports an unknown destination kind, listing the known ones", () => {
    const text = `${SOURCES}destinations:
  - id: stream
    name: Stream
    kind: kafka
    sources: "*"
`;
    expect(load({ "sluice.yaml": text }).errors).toEqual([
      { file: "sluice.yaml", line: lineOf(text, "kind: kafka"), rule: "destinations[0].kind", message: expect.stringMatching(/unknown destination kind "kafka".*webhook.*r2/) },
    ]);
  });

  const hook = (settings: string) => `${SOURCES}destinations:
  - id: hook
    name: Hook
    kind: webhook
    sources: [web]
${settings}`;

  it.each<[string, string, string, string, RegExp]>([
    ["a URL that is not http(s)", `    settings:\n      url: "ftp://example.com/x"\n`, "ftp://", "destinations[0].settings.url", /must match/],
    ["a timeout below the minimum", `    settings:\n      url: "https://example.com"\n      timeout_ms: 5\n`, "timeout_ms", "destinations[0].settings.timeout_ms", /≥ 100/],
    ["a non-integer concurrency", `    settings:\n      url: "https://example.com"\n      concurrency: 2.5\n`, "concurrency", "destinations[0].settings.concurrency", /integer/],
    ["an unknown setting", `    settings:\n      url: "https://example.com"\n      retries: 3\n`, "retries", "destinations[0].settings.retries", /unknown key "retries"/],
    ["a missing URL", `    settings:\n      secret: "\${env.HOOK_SECRET}"\n`, "settings:", "destinations[0].settings.url", /missing required key "url"/],
    ["a batch size of zero", `    settings:\n      url: "https://example.com"\n      batch:\n        max_events: 0\n`, "max_events", "destinations[0].settings.batch.max_events", /≥ 1/],
    ["a header value that is not a string", `    settings:\n      url: "https://example.com"\n      headers:\n        X-Api-Version: 2\n`, "X-Api-Version", "destinations[0].settings.headers.X-Api-Version", /expected a string/],
    ["an empty secret", `    settings:\n      url: "https://example.com"\n      secret: ""\n`, "secret:", "destinations[0].settings.secret", /empty/],
    ["the admin token in a header", `    settings:\n      url: "https://example.com"\n      headers:\n        Authorization: "Bearer \${env.ADMIN_TOKEN}"\n`, "Authorization", "destinations[0].settings.headers.Authorization", /^\$\{env\.ADMIN_TOKEN\} is an operator credential/],
    ["an operator credential as the URL", `    settings:\n      url: "\${env.SLUICE_ADMIN_TOKEN}"\n`, "url:", "destinations[0].settings.url", /^\$\{env\.SLUICE_ADMIN_TOKEN\} is an operator credential/],
  ])("reports bad webhook settings: %s", (_what, settings, marker, rule, message) => {
    const text = hook(settings);
    expect(load({ "sluice.yaml": text }).errors).toEqual([{ file: "sluice.yaml", line: lineOf(text, marker), rule, message: expect.stringMatching(message) }]);
  });

  it("reports a webhook with no settings at all at the destination", () => {
    const text = hook("");
    expect(where(load({ "sluice.yaml": text }).errors)).toEqual([{ file: "sluice.yaml", line: lineOf(text, "- id: hook"), rule: "destinations[0].settings.url" }]);
  });

  it("reports bad r2 settings", () => {
    const text = `${SOURCES}destinations:
  - id: store
    name: Store
    kind: r2
    sources: "*"
    settings: { prefix: "Not Valid", max_events_per_object: 0 }
`;
    expect(where(load({ "sluice.yaml": text }).errors)).toEqual([
      { file: "sluice.yaml", line: 10, rule: "destinations[0].settings.prefix" },
      { file: "sluice.yaml", line: 10, rule: "destinations[0].settings.max_events_per_object" },
    ]);
  });

  it.each<[string, string, number, RegExp]>([
    ["a duplicate key", "sources:\n  - id: web\n    name: Website\n    name: Again\n    write_keys: [wk_web_12345]\n", 4, /unique/],
    ["a tab used as indentation", "sources:\n  - id: web\n\tname: Website\n", 3, /[Tt]ab/],
    ["a badly indented key", "sources:\n  - id: web\n    name: Website\n   write_keys: [wk_web_12345]\n", 4, /YAML/],
  ])("reports a YAML syntax error: %s", (_what, text, line, message) => {
    const { config, errors } = load({ "sluice.yaml": text });
    expect(config).toBeUndefined();
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toEqual({ file: "sluice.yaml", line, rule: "", message: expect.stringMatching(message) });
    expect(errors[0]!.message).toMatch(/^YAML: /);
  });

  it("reports a JSON syntax error in sluice.json with its file name", () => {
    const { config, errors } = load({ "sluice.json": '{\n  "sources": [\n    { "id": "web" }\n  ],\n  "destinations": [}\n}\n' });
    expect(config).toBeUndefined();
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({ file: "sluice.json", rule: "", message: expect.stringMatching(/^YAML: /) });
    expect(errors[0]!.line).toBeGreaterThanOrEqual(3);
  });

  it("reports a schema error in a JSON config on the right line", () => {
    const json = JSON.stringify({ sources: [{ id: "Web Site", name: "Website", write_keys: ["wk_web_12345"] }] }, null, 2);
    expect(load({ "sluice.json": json }).errors).toEqual([{ file: "sluice.json", line: lineOf(json, "Web Site"), rule: "sources[0].id", message: expect.stringContaining("must match") }]);
  });

  it("reports several errors at once, each with its own line and rule", () => {
    const text = `sources:
  - id: Web
    name: Website
    write_keys: [wk_web_12345]
  - id: ios
    name: iOS
    write_keys: [wk_ios_12345]
  - id: android
    name: Android
    write_keys: [wk_ios_12345]
    platform: android
destinations:
  - id: stream
    name: Stream
    kind: kafka
    sources: "*"
  - id: hook
    name: Hook
    kind: webhook
    sources: "*"
    settings:
      url: "ftp://example.com"
      timeout_ms: 1
`;
    const { config, errors } = load({ "sluice.yaml": text });
    expect(config).toBeUndefined();
    expect(where(errors)).toEqual(
      expect.arrayContaining([
        { file: "sluice.yaml", line: 2, rule: "sources[0].id" },
        { file: "sluice.yaml", line: 11, rule: "sources[2].platform" },
        { file: "sluice.yaml", line: 15, rule: "destinations[0].kind" },
        { file: "sluice.yaml", line: 22, rule: "destinations[1].settings.url" },
        { file: "sluice.yaml", line: 23, rule: "destinations[1].settings.timeout_ms" },
      ]),
    );
    expect(errors).toHaveLength(5);
  });

  it("reports cross-checks (duplicates, unknown sources) together with settings errors", () => {
    const text = `sources:
  - id: web
    name: Website
    write_keys: [wk_web_12345]
  - id: web
    name: Website again
    write_keys: [wk_web_12345]
destinations:
  - id: hook
    name: Hook
    kind: webhook
    sources: [mobile]
    settings: { url: "https://example.com", timeout_ms: 1 }
`;
    expect(where(load({ "sluice.yaml": text }).errors)).toEqual([
      { file: "sluice.yaml", line: 5, rule: "sources[1].id" },
      { file: "sluice.yaml", line: 7, rule: "sources[1].write_keys[0]" },
      { file: "sluice.yaml", line: 12, rule: "destinations[0].sources[0]" },
      { file: "sluice.yaml", line: 13, rule: "destinations[0].settings.timeout_ms" },
    ]);
  });

  it("shows the file relative to the working directory", () => {
    const { errors } = loadConfigDir(join(root, "does-not-exist"), root);
    expect(errors).toEqual([{ file: join("does-not-exist", "sluice.yaml"), line: 1, rule: "", message: "config file not found" }]);
  });
});

describe("formatConfigError", () => {
  it("formats file:line: rule: message", () => {
    expect(formatConfigError({ file: "filters/sluice.yaml", line: 12, rule: "destinations[0].kind", message: "unknown destination kind" })).toBe(
      "filters/sluice.yaml:12: destinations[0].kind: unknown destination kind",
    );
  });

  it("leaves out an empty rule", () => {
    expect(formatConfigError({ file: "sluice.yaml", line: 1, rule: "", message: "config file not found" })).toBe("sluice.yaml:1: config file not found");
  });
});

describe("secrets", () => {
  const settings = {
    url: "${env.HOOK_URL}/events",
    secret: "${env.HOOK_SECRET}",
    headers: { Authorization: "Bearer ${env.API_TOKEN}", "X-Static": "plain" },
    targets: ["${env.HOOK_URL}", "${env.BACKUP_URL}-${env.REGION}"],
    timeout_ms: 1000,
    batch: { enabled: true },
    nothing: null,
  };

  it("lists every secret a value refers to, however deep", () => {
    expect(secretRefs(settings)).toEqual(new Set(["HOOK_URL", "HOOK_SECRET", "API_TOKEN", "BACKUP_URL", "REGION"]));
  });

  it("finds no secrets in plain values", () => {
    expect(secretRefs({ a: "plain", b: 1, c: [true, null], d: "$env.NOT", e: "${env.}", f: "${ENV.X}" }).size).toBe(0);
  });

  it("replaces every reference in a deep copy, leaving other values and the input untouched", () => {
    const before = structuredClone(settings);
    const env = { HOOK_URL: "https://h.example", HOOK_SECRET: "s3cret", API_TOKEN: "tok", BACKUP_URL: "https://b.example", REGION: "eu" };
    expect(resolveSecrets(settings, env)).toEqual({
      url: "https://h.example/events",
      secret: "s3cret",
      headers: { Authorization: "Bearer tok", "X-Static": "plain" },
      targets: ["https://h.example", "https://b.example-eu"],
      timeout_ms: 1000,
      batch: { enabled: true },
      nothing: null,
    });
    expect(settings).toEqual(before);
  });

  it("resolves the same value again (no regex state leaks between calls)", () => {
    const env = { A: "1" };
    expect(resolveSecrets("${env.A}", env)).toBe("1");
    expect(resolveSecrets("${env.A}", env)).toBe("1");
    expect(secretRefs("${env.A}")).toEqual(new Set(["A"]));
    expect(secretRefs("${env.A}")).toEqual(new Set(["A"]));
  });

  it("throws a MissingSecretError naming a secret that is not set", () => {
    let thrown: unknown;
    try {
      resolveSecrets({ headers: { Authorization: "Bearer ${env.API_TOKEN}" } }, { OTHER: "x" });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(MissingSecretError);
    expect((thrown as MissingSecretError).secret).toBe("API_TOKEN");
    expect((thrown as MissingSecretError).message).toContain("API_TOKEN");
  });

  it("never resolves an operator credential, set or not; other tokens resolve", () => {
    const env = { ADMIN_TOKEN: "admin", SLUICE_ADMIN_TOKEN: "admin", API_TOKEN: "tok" };
    for (const name of ["ADMIN_TOKEN", "SLUICE_ADMIN_TOKEN", "ADMIN_READONLY_TOKEN"]) {
      expect(() => resolveSecrets({ headers: { Authorization: `Bearer \${env.${name}}` } }, env)).toThrow(OperatorSecretError);
      // Handled wherever a missing secret is: events wait, nothing goes out with it.
      expect(() => resolveSecrets(`\${env.${name}}`, env)).toThrow(MissingSecretError);
      expect(() => resolveSecrets(`\${env.${name}}`, env)).toThrow(`\${env.${name}} is an operator credential`);
    }
    expect(resolveSecrets("Bearer ${env.API_TOKEN}", env)).toBe("Bearer tok");
  });

  it("treats a binding that is not a string as a missing secret", () => {
    expect(() => resolveSecrets("${env.BUCKET}", { BUCKET: { put() {} } })).toThrow(MissingSecretError);
  });
});

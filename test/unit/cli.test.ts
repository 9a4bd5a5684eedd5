/**
 * The operator CLI (src/cli): `sluice test` (runFilterTests), `sluice filter` (dryRun) and argument handling.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { dryRun, runFilterTests } from "../../src/cli/filters.ts";
import { configFolders } from "./support/config-folders.ts";
import { main, parseOptions } from "../../src/cli/main.ts";

const DEMO_DIR = fileURLToPath(new URL("../../filters", import.meta.url));

const { root, folder: newFolder } = configFolders("cli-test");

const MAIN = `sources:
  - id: web
    name: Website
    write_keys: [wk_test_web_1]
destinations:
  - id: hook
    name: Hook
    kind: webhook
    sources: [web]
    settings: { url: "http://127.0.0.1:9/" }
  - id: lake
    name: Lake
    kind: r2
    sources: "*"
`;

/** A fresh config folder with sluice.yaml and `files` (paths relative to it); returns its path. */
const folder = (files: Record<string, string>, main = MAIN): string => newFolder({ "sluice.yaml": main, ...files });

/** A single rules file (not a config folder); returns its path. */
const rulesFile = (name: string, text: string): string => join(newFolder({ [name]: text }), name);

/** Captures what a command logs. */
function logs() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, log: (l: string) => void out.push(l), logError: (l: string) => void err.push(l) };
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("runFilterTests (sluice test)", () => {
  const passing = `filters:
  - title: Drop test events
    if: 'match(event, "Test *")'
    actions: [{ type: DROP }]
  - title: No emails
    if: all
    actions:
      - type: DROP_PROPERTIES
        fields: { properties: [email] }
tests:
  - name: drops test events
    input: { type: track, event: Test Run }
    expect: dropped
  - name: strips the email
    input: { type: track, event: Bought, properties: { email: a@b.co, total: 3 } }
    expect: { type: track, event: Bought, properties: { total: 3 } }
`;

  it("passes a folder whose tests all hold: exit 0, one ok line per test and `N passed, 0 failed` last", () => {
    const dir = folder({
      "hook.yaml": passing,
      "sources/web.yaml": `filters:
  - { title: No bots, if: 'context.userAgent = "bot"', actions: [{ type: DROP }] }
tests:
  - name: drops bots
    input: { type: page, context: { userAgent: bot } }
    expect: dropped
`,
    });
    const { out, err, log, logError } = logs();
    expect(runFilterTests(dir, log, logError)).toBe(0);
    expect(err).toEqual([]);
    expect(out.at(-1)).toBe("3 passed, 0 failed");
    expect(out.slice(0, -1).sort()).toEqual(
      [
        `ok   ${join(dir, "hook.yaml")}:11 drops test events`,
        `ok   ${join(dir, "hook.yaml")}:14 strips the email`,
        `ok   ${join(dir, "sources", "web.yaml")}:4 drops bots`,
      ].sort(),
    );
  });

  it("fails a test whose expectation does not hold: exit 1, naming file:line, expected and actual", () => {
    const text = `${passing}  - name: wrongly expects the email to stay
    input: { type: track, event: Bought, properties: { email: a@b.co } }
    expect: { type: track, event: Bought, properties: { email: a@b.co } }
  - name: wrongly expects a drop
    input: { type: track, event: Real }
    expect: dropped
`;
    const dir = folder({ "hook.yaml": text });
    const { out, err, log, logError } = logs();
    expect(runFilterTests(dir, log, logError)).toBe(1);
    expect(out.at(-1)).toBe("2 passed, 2 failed");
    expect(err).toHaveLength(2);
    const [first, second] = err as [string, string];
    expect(first.split("\n")).toEqual([
      `FAIL ${join(dir, "hook.yaml")}:17 wrongly expects the email to stay`,
      `  expected: {"type":"track","event":"Bought","properties":{"email":"a@b.co"}}`,
      `  actual:   {"type":"track","event":"Bought","properties":{}}`,
    ]);
    expect(second.split("\n")).toEqual([
      `FAIL ${join(dir, "hook.yaml")}:20 wrongly expects a drop`,
      `  expected: "dropped"`,
      `  actual:   {"type":"track","event":"Real"}`,
    ]);
  });

  it("reports the dropping filter when an event is dropped but a result was expected", () => {
    const dir = folder({
      "hook.yaml": `filters:
  - { title: Drop all, if: all, actions: [{ type: DROP }] }
tests:
  - name: expects to keep
    input: { type: track, event: A }
    expect: { type: track, event: A }
`,
    });
    const { err, log, logError } = logs();
    expect(runFilterTests(dir, log, logError)).toBe(1);
    expect(err[0]).toContain(`  actual:   "dropped" (filter.Drop all)`);
  });

  it("fails on an invalid config, printing file:line errors and no summary", () => {
    const dir = folder({ "hook.yaml": `- { title: Broken, if: 'event = ', actions: [{ type: DROP }] }\n` });
    const { out, err, log, logError } = logs();
    expect(runFilterTests(dir, log, logError)).toBe(1);
    expect(out).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(new RegExp(`^${escape(join(dir, "hook.yaml"))}:1: FQL: .* at column \\d+ \\(filter "Broken"\\)$`));
  });

  it("reports `0 passed, 0 failed` for a folder without tests", () => {
    const { out, log, logError } = logs();
    expect(runFilterTests(folder({}), log, logError)).toBe(0);
    expect(out).toEqual(["0 passed, 0 failed"]);
  });

  it("passes the demo folder filters/", () => {
    const { out, err, log, logError } = logs();
    expect(runFilterTests(DEMO_DIR, log, logError)).toBe(0);
    expect(err).toEqual([]);
    const summary = /^(\d+) passed, 0 failed$/.exec(out.at(-1) ?? "");
    expect(summary).not.toBeNull();
    expect(Number(summary![1])).toBeGreaterThan(0);
  });

  describe("secrets in filters", () => {
    const SALT = "pepper-7f3a";
    const saved = process.env.SLUICE_TEST_SALT;
    afterEach(() => {
      if (saved === undefined) delete process.env.SLUICE_TEST_SALT;
      else process.env.SLUICE_TEST_SALT = saved;
    });

    const hashed = (salt: string) => `filters:
  - title: Hash emails
    if: all
    actions:
      - type: HASH_PROPERTIES
        fields: [properties.email]
        salt: "\${env.SLUICE_TEST_SALT}"
tests:
  - name: hashes the email with the salt
    input: { type: track, event: X, properties: { email: a@example.com } }
    expect: { type: track, event: X, properties: { email: "${sha256(`${salt}a@example.com`)}" } }
`;

    it("hashes with the salt from the environment", () => {
      process.env.SLUICE_TEST_SALT = SALT;
      const { out, err, log, logError } = logs();
      expect(runFilterTests(folder({ "hook.yaml": hashed(SALT) }), log, logError)).toBe(0);
      expect(err).toEqual([]);
      expect(out.at(-1)).toBe("1 passed, 0 failed");
    });

    it("fails when the environment holds a different salt", () => {
      process.env.SLUICE_TEST_SALT = "another-salt";
      const { out, err, log, logError } = logs();
      expect(runFilterTests(folder({ "hook.yaml": hashed(SALT) }), log, logError)).toBe(1);
      expect(out.at(-1)).toBe("0 passed, 1 failed");
      expect(err[0]).toContain(sha256("another-salta@example.com"));
    });

    it("reports tests that cannot run when the salt is not set: exit 1", () => {
      delete process.env.SLUICE_TEST_SALT;
      const { out, err, log, logError } = logs();
      expect(runFilterTests(folder({ "hook.yaml": hashed(SALT) }), log, logError)).toBe(1);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(/^destination hook: cannot run its tests: secret SLUICE_TEST_SALT is not set/);
      expect(out.at(-1)).toBe("0 passed, 1 failed");
    });
  });
});

/** Runs a dry run over `lines`, returning the exit code, the parsed output lines and stderr. */
async function dry(opts: Parameters<typeof dryRun>[0], lines: string[]) {
  const written: string[] = [];
  const { err, logError } = logs();
  const code = await dryRun(opts, Readable.from(lines.map((l) => `${l}\n`)), (l) => void written.push(l), logError);
  return { code, written, out: written.map((l) => JSON.parse(l) as unknown), err };
}

const ev = (e: Record<string, unknown>) => JSON.stringify(e);

describe("dryRun (sluice filter)", () => {
  const exportTwoDestinations = JSON.stringify(
    {
      data: {
        filters: [
          {
            id: "df_1",
            sourceId: "src_web",
            destinationId: "dst_mixpanel",
            title: "No pings to Mixpanel",
            description: "",
            if: 'event = "Ping"',
            actions: [{ type: "DROP" }],
            enabled: true,
            createdAt: "2024-01-01T00:00:00Z",
            updatedAt: "2024-01-01T00:00:00Z",
          },
          {
            id: "df_2",
            sourceId: "src_web",
            destinationId: "dst_amplitude",
            title: "No emails to Amplitude",
            description: "",
            if: "all",
            actions: [{ type: "DROP_PROPERTIES", fields: { properties: ["email"] } }],
            enabled: true,
            createdAt: "2024-01-01T00:00:00Z",
            updatedAt: "2024-01-01T00:00:00Z",
          },
        ],
      },
    },
    null,
    2,
  );
  const ping = { type: "track", event: "Ping", properties: { email: "a@b.co" } };
  const order = { type: "track", event: "Order Completed", properties: { email: "a@b.co", total: 9 } };

  it("writes one line per input line: null for dropped events, the transformed event otherwise", async () => {
    const rules = rulesFile(
      "rules.yaml",
      `- { title: No pings, if: 'event = "Ping"', actions: [{ type: DROP }] }
- { title: Rename, if: 'event = "signed_up"', actions: [{ type: RENAME_EVENT, to: Signed Up }] }
`,
    );
    const { code, out, written, err } = await dry({ rules }, [ev(ping), ev({ type: "track", event: "signed_up", userId: "u1" }), ev(order)]);
    expect(code).toBe(0);
    expect(err).toEqual([]);
    expect(written).toHaveLength(3);
    expect(out).toEqual([null, { type: "track", event: "Signed Up", userId: "u1" }, order]);
  });

  it("applies every filter of a Segment export when no destination is given", async () => {
    const rules = rulesFile("export.json", exportTwoDestinations);
    const { code, out } = await dry({ rules }, [ev(ping), ev(order)]);
    expect(code).toBe(0);
    expect(out).toEqual([null, { type: "track", event: "Order Completed", properties: { total: 9 } }]);
  });

  it.each([
    { destination: "dst_mixpanel", expected: [null, order] },
    { destination: "dst_amplitude", expected: [{ type: "track", event: "Ping", properties: {} }, { type: "track", event: "Order Completed", properties: { total: 9 } }] },
    { destination: "dst_other", expected: [ping, order] },
  ])("applies only the filters of destination $destination from a Segment export", async ({ destination, expected }) => {
    const rules = rulesFile("export.json", exportTwoDestinations);
    const { code, out } = await dry({ rules, destination }, [ev(ping), ev(order)]);
    expect(code).toBe(0);
    expect(out).toEqual(expected);
  });

  describe("with a config folder", () => {
    const dir = () =>
      folder({
        "hook.yaml": `- { title: No emails, if: all, actions: [{ type: DROP_PROPERTIES, fields: { properties: [email] } }] }\n`,
        "sources/web.yaml": `- { title: No pings, if: 'event = "Ping"', actions: [{ type: DROP }] }\n`,
      });

    it("honours the integrations object for the destination's name", async () => {
      const base = { type: "track", event: "Order Completed", properties: { email: "a@b.co" } };
      const { code, out } = await dry({ rules: dir(), destination: "hook" }, [
        ev({ ...base, integrations: { All: false } }),
        ev({ ...base, integrations: { All: false, Hook: true } }),
        ev({ ...base, integrations: { Hook: false } }),
        ev({ ...base, integrations: { All: false, Lake: true } }),
        ev(base),
      ]);
      expect(code).toBe(0);
      expect(out).toEqual([
        null,
        { ...base, integrations: { All: false, Hook: true }, properties: {} },
        null,
        null,
        { ...base, properties: {} },
      ]);
    });

    it("runs the source's filters before the destination's when a source is given", async () => {
      const rules = dir();
      const withSource = await dry({ rules, destination: "hook", source: "web" }, [ev(ping), ev(order)]);
      expect(withSource.code).toBe(0);
      expect(withSource.out).toEqual([null, { type: "track", event: "Order Completed", properties: { total: 9 } }]);
      const withoutSource = await dry({ rules, destination: "hook" }, [ev(ping)]);
      expect(withoutSource.out).toEqual([{ type: "track", event: "Ping", properties: {} }]);
    });

    it("requires --destination to name a destination of the folder", async () => {
      const { code, written, err } = await dry({ rules: dir(), destination: "nope" }, [ev(order)]);
      expect(code).toBe(1);
      expect(written).toEqual([]);
      expect(err).toEqual([expect.stringMatching(/:1: --destination must name one of: hook, lake$/)]);
    });

    it("refuses a --source that names no source of the folder instead of skipping source filters", async () => {
      const { code, written, err } = await dry({ rules: dir(), destination: "hook", source: "wbe" }, [ev(ping)]);
      expect(code).toBe(1);
      expect(written).toEqual([]);
      expect(err.join("\n")).toContain("wbe");
    });
  });

  it("writes null for lines that are not JSON objects, names each on stderr, and exits 1", async () => {
    const rules = rulesFile("rules.yaml", `- { title: No pings, if: 'event = "Ping"', actions: [{ type: DROP }] }\n`);
    const { code, written, out, err } = await dry({ rules }, [ev(order), "{not json", "42", ev(ping), "[1,2]", ev(order)]);
    expect(code).toBe(1);
    expect(written).toHaveLength(6);
    expect(out).toEqual([order, null, null, null, null, order]);
    expect(err).toHaveLength(3);
    expect(err[0]).toMatch(/^line 2: not JSON: /);
    expect(err[1]).toBe("line 3: not a JSON object");
    expect(err[2]).toBe("line 5: not a JSON object");
  });

  it("fails with file:line and writes nothing when the rules file has an error", async () => {
    const text = `filters:
  - title: Fine
    if: all
    actions: [{ type: DROP_PROPERTIES, fields: { "": [ip] } }]
  - title: Broken
    if: 'event = "A" or or'
    actions: [{ type: DROP }]
`;
    const rules = rulesFile("rules.yaml", text);
    const { code, written, err } = await dry({ rules }, [ev(order)]);
    expect(code).toBe(1);
    expect(written).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(new RegExp(`^${escape(rules)}:6: FQL: .* at column \\d+ \\(filter "Broken"\\)$`));
  });

  it("fails with file:line when a config folder used as rules has an error", async () => {
    const dir = folder({ "hook.yaml": `- title: Bad\n  if: all\n  actions: [{ type: SAMPLE, percent: 3 }]\n` });
    const { code, written, err } = await dry({ rules: dir, destination: "hook" }, [ev(order)]);
    expect(code).toBe(1);
    expect(written).toEqual([]);
    expect(err).toEqual([`${join(dir, "hook.yaml")}:3: filter "Bad" actions[0].percent: must be ≤ 1, got 3`]);
  });

  describe("secrets", () => {
    const saved = process.env.SLUICE_TEST_SALT;
    beforeEach(() => void delete process.env.SLUICE_TEST_SALT);
    afterEach(() => {
      if (saved === undefined) delete process.env.SLUICE_TEST_SALT;
      else process.env.SLUICE_TEST_SALT = saved;
    });
    const rules = () =>
      rulesFile(
        "hash.yaml",
        `- title: Hash
  if: all
  actions: [{ type: HASH_PROPERTIES, fields: [userId], salt: "\${env.SLUICE_TEST_SALT}" }]
`,
      );

    it("hashes with the salt from the environment", async () => {
      process.env.SLUICE_TEST_SALT = "s1";
      const { code, out } = await dry({ rules: rules() }, [ev({ type: "identify", userId: "u1" })]);
      expect(code).toBe(0);
      expect(out).toEqual([{ type: "identify", userId: sha256("s1u1") }]);
    });

    it("refuses to run when a secret the filters need is not set", async () => {
      const { code, written, err } = await dry({ rules: rules() }, [ev({ type: "identify", userId: "u1" })]);
      expect(code).toBe(1);
      expect(written).toEqual([]);
      expect(err.join("\n")).toContain("secret SLUICE_TEST_SALT is not set");
    });
  });
});

describe("main", () => {
  let logged: string[];
  let errored: string[];
  beforeEach(() => {
    logged = [];
    errored = [];
    vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void logged.push(a.join(" ")));
    vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void errored.push(a.join(" ")));
  });
  afterEach(() => vi.restoreAllMocks());

  it("check returns 0 for a valid folder and says OK", async () => {
    const dir = folder({ "hook.yaml": `- { title: t, if: all, actions: [{ type: DROP }] }\n` });
    expect(await main(["check", dir])).toBe(0);
    expect(logged).toEqual([`${dir}: OK — 1 source(s), 2 destination(s)`]);
    expect(errored).toEqual([]);
  });

  it("check lists the secrets the worker needs: destination settings and filter actions", async () => {
    const main2 = MAIN.replace('settings: { url: "http://127.0.0.1:9/" }', 'settings: { url: "http://127.0.0.1:9/", secret: "${env.HOOK_SECRET}" }');
    const dir = folder(
      {
        "hook.yaml": `- { title: Hash, if: all, actions: [{ type: HASH_PROPERTIES, fields: [traits.email], salt: "\${env.HASH_SALT}" }] }\n`,
        "sources/web.yaml": `- { title: Tag, if: all, actions: [{ type: SET, path: context.env, value: "\${env.STAGE}" }] }\n`,
      },
      main2,
    );
    expect(await main(["check", dir])).toBe(0);
    expect(logged).toEqual([`${dir}: OK — 1 source(s), 2 destination(s); secrets to set: HASH_SALT, HOOK_SECRET, STAGE`]);
  });

  it("check returns 1 for an invalid folder and prints each error with file:line", async () => {
    const dir = folder({ "hook.yaml": `- title: t\n  if: 'x ='\n  actions: [{ type: DROP }]\n`, "nobody.yaml": `[]\n` });
    expect(await main(["check", dir])).toBe(1);
    expect(errored).toHaveLength(3);
    expect(errored[0]).toMatch(new RegExp(`^${escape(join(dir, "hook.yaml"))}:2: FQL: `));
    expect(errored[1]).toBe(`${join(dir, "nobody.yaml")}:1: no destination "nobody" in sluice.yaml: a filter file is named after the destination it filters`);
    expect(errored[2]).toBe(`${dir}: 2 error(s)`);
  });

  it("check refuses an operator credential in a filter, at its file, line and rule", async () => {
    const dir = folder({ "hook.yaml": `- title: Salted\n  if: all\n  actions: [{ type: HASH_PROPERTIES, fields: [userId], salt: "\${env.ADMIN_TOKEN}" }]\n` });
    expect(await main(["check", dir])).toBe(1);
    expect(errored).toEqual([
      `${join(dir, "hook.yaml")}:3: filter "Salted" actions[0].salt: \${env.ADMIN_TOKEN} is an operator credential: filters and destination settings cannot use names beginning ADMIN_ or SLUICE_ADMIN_`,
      `${dir}: 1 error(s)`,
    ]);
  });

  it("test runs the folder's tests and returns their exit code", async () => {
    const dir = folder({
      "hook.yaml": `filters:\n  - { title: t, if: all, actions: [{ type: DROP }] }\ntests:\n  - { name: n, input: { type: track }, expect: dropped }\n`,
    });
    expect(await main(["test", dir])).toBe(0);
    expect(logged.at(-1)).toBe("1 passed, 0 failed");
  });

  for (const { argv, code } of [
    { argv: ["nope"], code: 2 },
    { argv: ["filter"], code: 2 },
    { argv: [], code: 1 },
    { argv: ["help"], code: 0 },
    { argv: ["--help"], code: 0 },
  ]) {
    it(`returns ${code} and prints the usage for \`sluice ${argv.join(" ")}\``, async () => {
      expect(await main(argv)).toBe(code);
      expect([...logged, ...errored].join("\n")).toContain("usage: sluice <command>");
    });
  }

  it("names the unknown command", async () => {
    await main(["nope"]);
    expect(errored[0]).toMatch(/^sluice: unknown command "nope"/);
  });

  it("returns 2 with a message (not an exception) when an option lacks its value", async () => {
    await expect(main(["filter", "--rules"])).resolves.toBe(2);
    expect(errored.join("\n")).toContain("--rules");
  });
});

describe("parseOptions", () => {
  const cases: { args: string[]; options: Record<string, string>; positional: string[] }[] = [
    { args: ["--a", "b"], options: { a: "b" }, positional: [] },
    { args: ["--a=b"], options: { a: "b" }, positional: [] },
    { args: ["--a="], options: { a: "" }, positional: [] },
    { args: ["x", "--rules", "r.yaml", "y", "--destination=hook"], options: { rules: "r.yaml", destination: "hook" }, positional: ["x", "y"] },
    { args: ["--a", "1", "--a", "2"], options: { a: "2" }, positional: [] },
    { args: ["--rules=exports/dt=2024-05-01/hook.json"], options: { rules: "exports/dt=2024-05-01/hook.json" }, positional: [] },
  ];
  for (const { args, options, positional } of cases) {
    it(`parses ${args.join(" ")}`, () => {
      expect(parseOptions(args)).toEqual({ options, positional });
    });
  }

  it("throws when the last option has no value", () => {
    expect(() => parseOptions(["--rules"])).toThrow("option --rules needs a value");
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

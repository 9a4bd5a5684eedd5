/**
 * Filter files in a config folder (src/config/filter-file.ts via loadConfigDir): Segment's export shapes load
 * unchanged, tests come back with their lines, source filters land under their source, and every mistake is
 * reported with the exact file, line and rule.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatConfigError, loadConfigDir, type LoadResult } from "../../src/config/load.ts";
import { compileFilters, type FilterSpec } from "../../src/pipeline/filters/index.ts";
import { configFolders, lineOf, where } from "./support/config-folders.ts";

const { folder } = configFolders("filter-config-test");

const MAIN = `sources:
  - id: web
    name: Website
    write_keys: [wk_test_web_1]
  - id: ios
    name: iOS App
    write_keys: [wk_test_ios_1]
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

/** Writes sluice.yaml plus `files` (paths relative to the folder) into a fresh folder and loads it. */
function load(files: Record<string, string>): LoadResult {
  const dir = folder({ "sluice.yaml": MAIN, ...files });
  return loadConfigDir(dir, dir);
}

/** A Destination Filter as Segment's Public API returns it (GET /destination/{id}/filters). */
const SEGMENT_FILTER = {
  id: "df_2Jc8Yh2oF8qK1Vt3xQ9wLmNpR4s",
  workspaceId: "ws_1xYz9aBcDeFgHiJkLmNoP",
  sourceId: "src_7hG2kLmN4pQrStUvWxYz0a",
  destinationId: "dst_9aBcDeFgHiJkLmNoPqRsTu",
  title: "Keep emails out of the webhook",
  description: "PII policy: emails never leave the pipeline",
  if: 'type = "track" and (event = "Order Completed" or contains(properties.email, "@"))',
  actions: [{ type: "DROP_PROPERTIES", fields: { properties: ["email"] } }],
  enabled: true,
  createdAt: "2024-03-01T10:00:00.000Z",
  updatedAt: "2024-03-02T11:30:00.000Z",
};

describe("filter files: Segment exports load unchanged", () => {
  it("loads a Public API export ({data: {filters}}) with bookkeeping keys dropped and the FQL intact", () => {
    const exported = { data: { filters: [SEGMENT_FILTER], pagination: { current: "MA==", totalEntries: 1 } } };
    const { config, errors } = load({ "hook.json": JSON.stringify(exported, null, 2) });
    expect(errors).toEqual([]);
    expect(config!.filters.hook).toStrictEqual([
      {
        title: SEGMENT_FILTER.title,
        description: SEGMENT_FILTER.description,
        enabled: true,
        if: SEGMENT_FILTER.if,
        actions: [{ type: "DROP_PROPERTIES", fields: { properties: ["email"] } }],
      },
    ]);
    // The loaded filter does what the Segment filter did.
    const run = compileFilters(config!.filters.hook!);
    const outcome = run({ type: "track", event: "Order Completed", properties: { email: "a@b.co", total: 5 } });
    expect(outcome).toEqual({ kept: true, event: { type: "track", event: "Order Completed", properties: { total: 5 } } });
  });

  it("loads a bare JSON list of Segment filters, keeping enabled: false and SAMPLE's percent and path", () => {
    const list = [
      { ...SEGMENT_FILTER, title: "Sample half of the users", if: "all", enabled: false, actions: [{ type: "SAMPLE", percent: 0.5, path: "userId" }] },
      { ...SEGMENT_FILTER, id: "df_second", title: "Only send orders", if: '!(event = "Order Completed")', actions: [{ type: "DROP" }] },
    ];
    const { config, errors } = load({ "hook.json": JSON.stringify(list, null, 2) });
    expect(errors).toEqual([]);
    expect(config!.filters.hook).toStrictEqual([
      { title: "Sample half of the users", description: SEGMENT_FILTER.description, enabled: false, if: "all", actions: [{ type: "SAMPLE", percent: 0.5, path: "userId" }] },
      { title: "Only send orders", description: SEGMENT_FILTER.description, enabled: true, if: '!(event = "Order Completed")', actions: [{ type: "DROP" }] },
    ]);
    for (const f of config!.filters.hook!) {
      for (const key of ["id", "workspaceId", "sourceId", "destinationId", "createdAt", "updatedAt"]) expect(f).not.toHaveProperty(key);
    }
  });

  it("loads the same filters from YAML `{filters: [...]}` as from JSON", () => {
    const yaml = `filters:
  - title: Keep emails out of the webhook
    description: "PII policy: emails never leave the pipeline"
    if: '${SEGMENT_FILTER.if}'
    actions:
      - type: DROP_PROPERTIES
        fields: { properties: [email] }
`;
    const fromYaml = load({ "hook.yaml": yaml });
    const fromJson = load({ "hook.json": JSON.stringify({ data: { filters: [SEGMENT_FILTER] } }) });
    expect(fromYaml.errors).toEqual([]);
    expect(fromYaml.config!.filters.hook).toStrictEqual(fromJson.config!.filters.hook);
  });

  it("gives destinations without a filter file no filters", () => {
    const { config, errors } = load({ "hook.yaml": "- { title: t, if: all, actions: [{ type: DROP }] }\n" });
    expect(errors).toEqual([]);
    expect(Object.keys(config!.filters)).toEqual(["hook"]);
    expect(config!.sourceFilters).toEqual({});
  });
});

describe("filter files: tests", () => {
  it("returns the tests of a {filters, tests} YAML file with their file and line", () => {
    const text = `filters:
  - title: Drop test events
    if: 'match(event, "Test *")'
    actions: [{ type: DROP }]
tests:
  - name: drops a test event
    input: { type: track, event: Test Run }
    expect: dropped
  - name: keeps a real event
    input: { type: track, event: Order Completed }
    expect: { type: track, event: Order Completed }
`;
    const { config, errors, tests } = load({ "hook.yaml": text });
    expect(errors).toEqual([]);
    expect(config!.filters.hook).toHaveLength(1);
    expect(tests).toEqual([
      {
        scope: "destination",
        id: "hook",
        tests: [
          { name: "drops a test event", input: { type: "track", event: "Test Run" }, expect: "dropped", file: "hook.yaml", line: lineOf(text, "- name: drops a test event") },
          {
            name: "keeps a real event",
            input: { type: "track", event: "Order Completed" },
            expect: { type: "track", event: "Order Completed" },
            file: "hook.yaml",
            line: lineOf(text, "- name: keeps a real event"),
          },
        ],
      },
    ]);
  });

  it("returns source filter tests with scope source and the file under sources/", () => {
    const text = `filters:
  - { title: No bots, if: 'context.userAgent = "bot"', actions: [{ type: DROP }] }
tests:
  - name: drops bots
    input: { type: track, event: X, context: { userAgent: bot } }
    expect: dropped
`;
    const { tests, errors } = load({ "sources/web.yaml": text });
    expect(errors).toEqual([]);
    expect(tests).toEqual([
      {
        scope: "source",
        id: "web",
        tests: [expect.objectContaining({ name: "drops bots", file: join("sources", "web.yaml"), line: lineOf(text, "- name: drops bots") })],
      },
    ]);
  });

  it("returns no test groups for files without tests", () => {
    const { tests, errors } = load({ "hook.yaml": "- { title: t, if: all, actions: [{ type: DROP }] }\n" });
    expect(errors).toEqual([]);
    expect(tests).toEqual([]);
  });

  it("reports a malformed test on its line", () => {
    const text = `filters:
  - { title: t, if: all, actions: [{ type: DROP }] }
tests:
  - name: ok
    input: { type: track }
    expect: dropped
  - name: no expectation
    input: { type: track }
`;
    const { config, errors } = load({ "hook.yaml": text });
    expect(config).toBeUndefined();
    expect(where(errors)).toEqual([{ file: "hook.yaml", line: lineOf(text, "- name: no expectation"), rule: "tests[1].expect" }]);
    expect(errors[0]!.message).toBe('missing required key "expect"');
  });
});

describe("filter files: source filters", () => {
  it("puts sources/web.yaml into config.sourceFilters.web, apart from destination filters", () => {
    const src = `- title: No internal traffic
  if: 'context.ip = "10.0.0.1"'
  actions: [{ type: DROP }]
`;
    const dest = `- { title: Drop pings, if: 'event = "Ping"', actions: [{ type: DROP }] }\n`;
    const { config, errors } = load({ "sources/web.yaml": src, "hook.yaml": dest });
    expect(errors).toEqual([]);
    expect(config!.sourceFilters).toStrictEqual({
      web: [{ title: "No internal traffic", enabled: true, if: 'context.ip = "10.0.0.1"', actions: [{ type: "DROP" }] }],
    });
    expect(config!.filters).toStrictEqual({ hook: [{ title: "Drop pings", enabled: true, if: 'event = "Ping"', actions: [{ type: "DROP" }] }] });
  });

  it("accepts a Segment JSON export as a source filter file", () => {
    const { config, errors } = load({ "sources/ios.json": JSON.stringify({ data: { filters: [SEGMENT_FILTER] } }) });
    expect(errors).toEqual([]);
    expect(config!.sourceFilters.ios).toHaveLength(1);
    expect(config!.sourceFilters.ios![0]!.if).toBe(SEGMENT_FILTER.if);
  });
});

describe("filter files: each error names file, line and rule", () => {
  const fqlParen = 'type = "track")';
  const fqlEmoji = 'event = "🎉 Party")';
  const long65 = "x".repeat(65);

  interface Case {
    name: string;
    file: string;
    text: string;
    /** The line holding this marker is where the error must point. */
    marker: string;
    rule: string;
    message: string | RegExp;
  }
  const cases: Case[] = [
    {
      name: "an FQL syntax error, with the column of the stray ')' in the expression",
      file: "hook.yaml",
      text: `- title: Bad paren
  enabled: true
  if: '${fqlParen}'
  actions: [{ type: DROP }]
`,
      marker: "if:",
      rule: "FQL",
      message: `unexpected ')' at column ${fqlParen.indexOf(")") + 1} (filter "Bad paren")`,
    },
    {
      name: "an FQL syntax error after an emoji, counting columns in code points",
      file: "hook.yaml",
      text: `- title: Emoji
  actions: [{ type: DROP }]
  if: '${fqlEmoji}'
`,
      marker: "if:",
      rule: "FQL",
      message: `unexpected ')' at column ${[...fqlEmoji].indexOf(")") + 1} (filter "Emoji")`,
    },
    {
      name: "an FQL syntax error in a Segment JSON export, on the line of its `if`",
      file: "hook.json",
      text: JSON.stringify({ data: { filters: [{ ...SEGMENT_FILTER, title: "JSON paren", if: fqlParen }] } }, null, 2),
      marker: '"if":',
      rule: "FQL",
      message: `unexpected ')' at column ${fqlParen.indexOf(")") + 1} (filter "JSON paren")`,
    },
    {
      name: "an unknown action type",
      file: "hook.yaml",
      text: `- title: Typo
  if: all
  actions:
    - type: DROP
    - type: DROP_PROPERTY
      fields: { properties: [email] }
`,
      marker: "type: DROP_PROPERTY",
      rule: 'filter "Typo" actions[1].type',
      message: /^expected type to be one of DROP, SAMPLE, .*, got "DROP_PROPERTY"$/,
    },
    {
      name: "an unknown key inside an action",
      file: "hook.yaml",
      text: `- title: Extra key
  if: all
  actions:
    - type: SAMPLE
      percent: 0.5
      pth: userId
`,
      marker: "pth:",
      rule: 'filter "Extra key" actions[0].pth',
      message: 'unknown key "pth" (expected one of: type, percent, path)',
    },
    {
      name: "a SAMPLE percent above 1",
      file: "hook.yaml",
      text: `- title: Ten percent
  if: all
  actions:
    - type: SAMPLE
      percent: 10
`,
      marker: "percent: 10",
      rule: 'filter "Ten percent" actions[0].percent',
      message: "must be ≤ 1, got 10",
    },
    {
      name: "a filter without actions, at the filter itself",
      file: "hook.yaml",
      text: `- title: Fine
  if: all
  actions: [{ type: DROP }]
- title: No actions
  if: 'event = "X"'
`,
      marker: "- title: No actions",
      rule: 'filter "No actions" actions',
      message: 'missing required key "actions"',
    },
    {
      name: "an empty action list",
      file: "hook.yaml",
      text: `- title: Empty
  if: all
  actions: []
`,
      marker: "actions: []",
      rule: 'filter "Empty" actions',
      message: "must have at least 1 item(s)",
    },
    {
      name: "a title over 64 characters",
      file: "hook.yaml",
      text: `- if: all
  title: ${long65}
  actions: [{ type: DROP }]
`,
      marker: "title:",
      rule: `filter "${long65}" title`,
      message: "must be at most 64 characters",
    },
    {
      name: "a filter file named after no destination",
      file: "mixpanel.yaml",
      text: `- title: t
  if: all
  actions: [{ type: DROP }]
`,
      marker: "- title: t",
      rule: "",
      message: 'no destination "mixpanel" in sluice.yaml: a filter file is named after the destination it filters',
    },
    {
      name: "a source filter file named after no source",
      file: "sources/android.yaml",
      text: `- title: t
  if: all
  actions: [{ type: DROP }]
`,
      marker: "- title: t",
      rule: "",
      message: 'no source "android" in sluice.yaml: a filter file is named after the source it filters',
    },
    {
      name: "a source filter file named after a destination",
      file: "sources/hook.yaml",
      text: `- { title: t, if: all, actions: [{ type: DROP }] }
`,
      marker: "- { title: t",
      rule: "",
      message: 'no source "hook" in sluice.yaml: a filter file is named after the source it filters',
    },
    {
      name: "a JSONPath in `where` that does not start with $",
      file: "hook.yaml",
      text: `- title: Pricey
  where: 'properties.products[?(@.price > 100)]'
  actions: [{ type: DROP }]
`,
      marker: "where:",
      rule: 'filter "Pricey"',
      message: /where: invalid JSONPath: a JSONPath must start with "\$" at column 1$/,
    },
    {
      name: "a JSONPath in `where` with an unbalanced filter expression",
      file: "hook.yaml",
      text: `- title: Unbalanced
  if: 'type = "track"'
  where: '$.properties.products[?(@.price > 100]'
  actions: [{ type: DROP }]
`,
      marker: "where:",
      rule: 'filter "Unbalanced"',
      message: /where: invalid JSONPath: unbalanced parentheses in filter expression at column 22$/,
    },
    {
      name: "a filter with neither `if` nor `where`",
      file: "hook.yaml",
      text: `- title: Unconditional
  actions: [{ type: DROP }]
`,
      marker: "- title: Unconditional",
      rule: 'filter "Unconditional"',
      message: /needs `if`/,
    },
    {
      name: "the admin token as a HASH_PROPERTIES salt (an operator credential)",
      file: "hook.yaml",
      text: `- title: Hash emails
  if: all
  actions: [{ type: HASH_PROPERTIES, fields: [properties.email], salt: "\${env.ADMIN_TOKEN}" }]
`,
      marker: "salt:",
      rule: 'filter "Hash emails" actions[0].salt',
      message: "${env.ADMIN_TOKEN} is an operator credential: filters and destination settings cannot use names beginning ADMIN_ or SLUICE_ADMIN_",
    },
    {
      name: "an operator credential inside a SET value, in a source filter",
      file: "sources/web.yaml",
      text: `- { title: Leak, if: all, actions: [{ type: SET, path: context.debug,
    value: { note: "token \${env.SLUICE_ADMIN_TOKEN}" } }] }
`,
      marker: "value:",
      rule: 'filter "Leak" actions[0].value.note',
      message: /^\$\{env\.SLUICE_ADMIN_TOKEN\} is an operator credential/,
    },
    {
      name: "a file that is not a filter list",
      file: "hook.yaml",
      text: `title: t
if: all
actions: [{ type: DROP }]
`,
      marker: "title: t",
      rule: "",
      message: /^unknown key "title"/,
    },
  ];

  for (const { name, file, text, marker, rule, message } of cases) {
    it(`reports ${name}`, () => {
      const { config, errors } = load({ [file]: text });
      expect(config).toBeUndefined();
      expect(where(errors)).toEqual([{ file: join(...file.split("/")), line: lineOf(text, marker), rule }]);
      if (typeof message === "string") expect(errors[0]!.message).toBe(message);
      else expect(errors[0]!.message).toMatch(message);
    });
  }

  it("formats an FQL error exactly as `file:line: FQL: unexpected ')' at column N (filter \"title\")`", () => {
    const text = `filters:\n  - title: Checkout only\n    if: 'event = "Order Completed")'\n    actions: [{ type: DROP }]\n`;
    const { errors } = load({ "hook.yaml": text });
    expect(errors.map(formatConfigError)).toEqual([`hook.yaml:3: FQL: unexpected ')' at column 26 (filter "Checkout only")`]);
  });

  it("accepts a title of exactly 64 characters", () => {
    const { config, errors } = load({ "hook.yaml": `- { title: ${"y".repeat(64)}, if: all, actions: [{ type: DROP }] }\n` });
    expect(errors).toEqual([]);
    expect(config!.filters.hook![0]!.title).toHaveLength(64);
  });

  it("reports a second filter file for the same destination", () => {
    const body = `- { title: t, if: all, actions: [{ type: DROP }] }\n`;
    const { config, errors } = load({ "hook.json": JSON.stringify([{ title: "t", if: "all", actions: [{ type: "DROP" }] }]), "hook.yaml": body });
    expect(config).toBeUndefined();
    expect(errors.map(formatConfigError)).toEqual(['hook.yaml:1: destination "hook" already has a filter file']);
  });

  it("reports every error of a file at once, each on its own line, skipping the valid filters", () => {
    const text = `filters:
  - title: Bad FQL
    if: 'event = "A" and'
    actions: [{ type: DROP }]
  - title: Valid
    if: all
    actions: [{ type: DROP }]
  - title: Bad action
    if: all
    actions:
      - type: SAMPLE
        percent: 2
      - type: KEEP
  - title: Bad where
    where: '$..[(@.length-1)]'
    actions: [{ type: DROP }]
  - if: all
    actions: [{ type: DROP }]
tests:
  - name: t
    input: nope
    expect: dropped
`;
    const { config, errors } = load({ "hook.yaml": text, "sources/web.yaml": `- { title: Fine, if: all, actions: [{ type: DROP }] }\n- { title: Bad, if: "(", actions: [{ type: DROP }] }\n` });
    expect(config).toBeUndefined();
    expect(where(errors)).toEqual([
      { file: "hook.yaml", line: lineOf(text, `if: 'event = "A" and'`), rule: "FQL" },
      { file: "hook.yaml", line: lineOf(text, "percent: 2"), rule: 'filter "Bad action" actions[0].percent' },
      { file: "hook.yaml", line: lineOf(text, "type: KEEP"), rule: 'filter "Bad action" actions[1].type' },
      { file: "hook.yaml", line: lineOf(text, "where:"), rule: 'filter "Bad where"' },
      { file: "hook.yaml", line: lineOf(text, "- if: all"), rule: "filter #5 title" },
      { file: "hook.yaml", line: lineOf(text, "input: nope"), rule: "tests[0].input" },
      { file: join("sources", "web.yaml"), line: 2, rule: "FQL" },
    ]);
    expect(errors[0]!.message).toMatch(/ at column \d+ \(filter "Bad FQL"\)$/);
    expect(errors[4]!.message).toBe('missing required key "title"');
    expect(errors[6]!.message).toMatch(/ \(filter "Bad"\)$/);
  });

  it("names the failing filter by its own position, not as the first filter of the file", () => {
    const text = `- { title: First, if: all, actions: [{ type: DROP }] }
- { title: Second, if: all, actions: [{ type: DROP }] }
- title: Third
  where: 'no-dollar'
  actions: [{ type: DROP }]
`;
    const { errors } = load({ "hook.yaml": text });
    expect(where(errors)).toEqual([{ file: "hook.yaml", line: 4, rule: 'filter "Third"' }]);
    // The message must not point operators at filters[0] ("First"): the failing filter is the third one.
    expect(errors[0]!.message).not.toContain("filters[0]");
  });

  it("validates disabled filters too", () => {
    const text = `- title: Off
  enabled: false
  if: 'event ='
  actions: [{ type: DROP }]
`;
    const { config, errors } = load({ "hook.yaml": text });
    expect(config).toBeUndefined();
    expect(where(errors)).toEqual([{ file: "hook.yaml", line: 3, rule: "FQL" }]);
  });

  it("keeps config.filters typed as FilterSpec lists", () => {
    const { config } = load({ "hook.yaml": `- { title: t, if: all, actions: [{ type: RENAME_EVENT, to: New }] }\n` });
    const specs: FilterSpec[] = config!.filters.hook!;
    expect(compileFilters(specs)({ type: "track", event: "Old" })).toEqual({ kept: true, event: { type: "track", event: "New" } });
  });
});

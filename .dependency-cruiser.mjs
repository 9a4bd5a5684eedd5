/**
 * Import rules (docs/architecture.md#import-rules), checked by `npm run deps` (part of `npm test`). Imports that
 * broke a rule when it was introduced are listed in .dependency-cruiser-known-violations.json and do not fail the
 * run; any other does. Rewrite that list with `npx depcruise-baseline src destinations` only after fixing one.
 * `npm run deps` passes on depcruise's success line, not its exit status: that is the number of errors, which the
 * shell takes modulo 256 (256 errors would pass).
 */

/** Code that ships: src/ and destinations/, but not the tests kept beside an adapter. */
const shipped = { path: "^(src|destinations)/", pathNot: "\\.test\\.ts$" };

/**
 * Folder imports that are part of a loop today (the redesign breaks them). dependency-cruiser 17 does not apply
 * the known-violations file to folder-scope rules, so they are listed here instead: from each folder, the folders
 * it may still import although they lead back to it. Any import that closes a new loop still fails.
 */
const knownFolderLoops = {
  destinations: ["src/config", "src/delivery", "src/pipeline"],
  "src/config": ["destinations", "src/pipeline/filters", "src/pipeline/fql", "src/plans"],
  "src/delivery": ["src/config", "src/pipeline"],
  "src/pipeline": ["src/config", "src/plans"],
  "src/pipeline/filters": ["src/pipeline/fql"],
  "src/pipeline/fql": ["src/pipeline"],
  "src/plans": ["src/config", "src/pipeline"],
};
const exactly = (folders) => `^(${folders.join("|")})$`;
/** Every rule fails the run; `scope: "folder"` rules look at folders instead of modules. */
const forbid = (name, comment, from, to, scope = "module") => ({ name, comment, severity: "error", scope, from, to });

export default {
  forbidden: [
    forbid(
      "core-is-pure",
      "src/pipeline, src/plans, src/config and src/access run in the worker and in Node: no HTTP shell, Durable Objects, R2 or queues.",
      { path: "^src/(pipeline|plans|config|access)/" },
      { path: "^src/(http|storage|queue)/" },
    ),
    forbid(
      "only-entry-imports-http",
      "Only the worker entry imports src/http/ (tests and bench/ drive createApp as the entry does).",
      { ...shipped, pathNot: `${shipped.pathNot}|^src/(index\\.ts$|http/)` },
      { path: "^src/http/" },
    ),
    forbid(
      "shells-below-http",
      "src/storage/ (Durable Objects), src/archive/ (quarantine, dead letters, replay), src/ingest/ (the request path) and src/router/ (the ingest queue consumer) never import src/http/.",
      { path: "^src/(storage|archive|ingest|router)/" },
      { path: "^src/http/" },
    ),
    forbid(
      "destinations-use-contracts",
      "Adapters get the delivery contract (src/delivery/), settings schemas and events; not the HTTP shell, storage or queues.",
      { ...shipped, path: "^destinations/" },
      { path: "^src/(http|storage|queue)/" },
    ),
    forbid(
      "core-names-no-kind",
      "src/ reaches destination kinds only through the registry, destinations/index.ts.",
      { path: "^src/" },
      { path: "^destinations/[^/]+/" },
    ),
    forbid("no-test-code-in-shipped-code", "Shipped code never imports test/, bench/ or scripts/.", shipped, { path: "^(test|bench|scripts)/" }),
    ...Object.entries(knownFolderLoops).map(([folder, known]) =>
      forbid("no-folder-loops", `No import that closes a new loop between folders (${folder} has known ones).`, { path: exactly([folder]) }, { circular: true, pathNot: exactly(known) }, "folder"),
    ),
    forbid(
      "no-folder-loops",
      "No import that closes a loop between folders: each folder builds on the ones it imports.",
      { path: "^(src|destinations)(/|$)", pathNot: exactly(Object.keys(knownFolderLoops)) },
      { circular: true },
      "folder",
    ),
    forbid("no-module-loops", "No loop between modules.", shipped, { circular: true }),
  ],
  options: {
    // Type-only imports count: moving a type is how most loops get broken, and a type import still couples.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
    // Tests kept beside an adapter (destinations/<kind>/*.test.ts) drive it through src/ and test/support/ as any
    // test does; they are not part of the shipped import graph, so they cannot close its loops.
    exclude: { path: "\\.test\\.ts$" },
  },
};

import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { buildConfigModule } from "./src/config/build.ts";
import { formatConfigError, loadConfigDir } from "./src/config/load.ts";

/** Worker tests run against their own config (test/worker/config), built here exactly as `wrangler dev` would. */
function buildTestConfig(): string {
  const out = resolve(".sluice/test-config.ts");
  const { config, errors } = loadConfigDir("test/worker/config");
  if (!config) throw new Error(`test config is invalid:\n${errors.map(formatConfigError).join("\n")}`);
  mkdirSync(resolve(".sluice"), { recursive: true });
  writeFileSync(out, buildConfigModule(config, "../src/config/model.ts"));
  return out;
}

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts", "destinations/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: { HOOK_SECRET: "test-hook-secret", ADMIN_TOKEN: "test-admin-token", HASH_SALT: "test-salt", ACCESS_OPS_TOKEN: "test-ops-token-0123456789abcdef0123456789" },
              // Only the platform sends to the backstop queue; tests need a producer to reach its consumer for real.
              queueProducers: { TEST_BACKSTOP: { queueName: "sluice-dead-letters-backstop" } },
            },
          }),
        ],
        resolve: { alias: { "sluice-config": buildTestConfig() } },
        test: { name: "worker", include: ["test/worker/**/*.test.ts"], setupFiles: ["test/worker/setup.ts"] },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          // Each file runs its own wrangler dev; one at a time keeps them from starving each other of CPU.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});

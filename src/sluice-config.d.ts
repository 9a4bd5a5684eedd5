/** The operator config as built by scripts/build-config.ts (aliased in wrangler.toml and vitest.config.ts). */
declare module "sluice-config" {
  const config: import("./config/model.ts").BuiltConfig;
  export default config;
}

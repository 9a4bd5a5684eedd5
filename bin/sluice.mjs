#!/usr/bin/env node
// `npx sluice …`: the operator CLI. It runs the TypeScript sources directly through tsx.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));

// `npm start` helper: give a fresh checkout working local secrets without overwriting an operator's own.
import { copyFileSync, existsSync } from "node:fs";
if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("sluice: created .dev.vars from .dev.vars.example (demo secrets)");
}

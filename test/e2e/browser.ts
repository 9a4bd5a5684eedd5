/**
 * A real headless Chromium for browser tests: @sparticuz/chromium (installed by `npm ci`, unpacked into the OS temp
 * folder on first use) driven by playwright-core. Where the system lacks the libraries it links (libnss3, …) the
 * package's own Amazon Linux copies are used (AWS_LAMBDA_JS_RUNTIME). Its flags that weaken the web's security
 * model (--disable-web-security, …) are left out: the tests check that model.
 */
import { execFileSync } from "node:child_process";
import chromium from "@sparticuz/chromium";
import { chromium as playwright, type Browser } from "playwright-core";

const UNSAFE = new Set(["--disable-web-security", "--allow-running-insecure-content", "--disable-site-isolation-trials"]);
/** Without these, Chromium keeps reaching for Google's hosts, which this sandbox refuses. */
const QUIET = ["--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"];

function systemHasLibraries(): boolean {
  try {
    const libs = execFileSync("ldconfig", ["-p"], { encoding: "utf8" });
    return ["libnss3.so", "libnspr4.so", "libexpat.so"].every((l) => libs.includes(l));
  } catch {
    return false;
  }
}

export async function launchChromium(): Promise<Browser> {
  if (!systemHasLibraries()) process.env.AWS_LAMBDA_JS_RUNTIME ??= "nodejs20.x";
  const executablePath = await chromium.executablePath();
  const args = [...chromium.args.filter((a) => !UNSAFE.has(a) && !a.startsWith("--disable-features=")), ...QUIET];
  return playwright.launch({ executablePath, args, headless: true });
}

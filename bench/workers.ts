/**
 * Process plumbing for the suites that run real Workers ("http", "footprint"): `wrangler dev` on a config file,
 * `wrangler deploy --dry-run` builds, a counting webhook sink in its own process, and the CPU time of a process
 * group (wrangler + workerd) read from /proc. Every spawned process is started detached (its own process group)
 * and stopped by that group id only.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, wranglerEnv } from "../scripts/local-wrangler.ts";

export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const WRANGLER = join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");

/**
 * Sends SIGTERM, then SIGKILL after `graceMs`, to the process group of a detached child (never anything else). The
 * group is what is waited for, not the child: wrangler can exit on SIGTERM while its workerd still runs (and keeps
 * delivering, on the CPU the next run measures).
 */
export async function stopGroup(child: ChildProcess, graceMs = 1500): Promise<void> {
  if (child.pid === undefined) return;
  const pgid = child.pid;
  const childRunning = () => child.exitCode === null && child.signalCode === null;
  // Off Linux there is no /proc to list the group: the child's exit stands for it.
  const running = () => childRunning() || groupPids(pgid).length > 0;
  if (!running()) return;
  const settled = async (ms: number) => {
    for (const deadline = Date.now() + ms; running() && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
  };
  try {
    process.kill(-pgid, "SIGTERM");
  } catch {
    return; // already gone
  }
  await settled(graceMs);
  if (running()) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
    await settled(500);
  }
}

/** Every live process of a process group (zombies left out), from /proc (Linux); [] elsewhere. */
function groupPids(pgid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid && fields[0] !== "Z") out.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** CPU seconds (user + system) used so far by the live processes of a process group; NaN off Linux. */
export function groupCpuSeconds(pgid: number): number {
  const pids = groupPids(pgid);
  if (pids.length === 0) return Number.NaN;
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15 of stat)
    } catch {
      // exited
    }
  }
  return ticks / 100; // USER_HZ is 100 on Linux
}

export interface DevServer {
  url: string;
  /** The process group id (wrangler and its workerd). */
  pgid: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * `wrangler dev -c <config>` on free loopback ports with fresh local state; resolves once GET / answers 2xx.
 * `vars` become `--var`s; `env` is added to wrangler's environment (e.g. for the config build step).
 */
export async function startDev(configPath: string, options: { vars?: Record<string, string>; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<DevServer> {
  // Free ports are picked, then bound by workerd a moment later: another job on the machine can take one in
  // between. Try again on fresh ports then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDevOnce(configPath, options);
    } catch (err) {
      if (attempt >= 3 || !/Address already in use/.test(String(err))) throw err;
    }
  }
}

async function startDevOnce(configPath: string, options: { vars?: Record<string, string>; env?: Record<string, string>; timeoutMs?: number }): Promise<DevServer> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "sluice-bench-state-"));
  const args = [WRANGLER, "dev", "-c", configPath, "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state, "--show-interactive-dev-session=false"];
  for (const [k, v] of Object.entries(options.vars ?? {})) args.push("--var", `${k}:${v}`);
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: wranglerEnv(options.env), stdio: ["ignore", "pipe", "pipe"], detached: true });
  let log = "";
  child.stdout!.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  child.stderr!.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopGroup(child);
    rmSync(state, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      rmSync(state, { recursive: true, force: true });
      throw new Error(`wrangler dev -c ${configPath} exited (${child.exitCode}):\n${log}`);
    }
    try {
      const res = await fetch(`${url}/`);
      if (res.ok) return { url, pgid: child.pid!, output: () => log, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`wrangler dev -c ${configPath} did not start within ${timeoutMs} ms:\n${log}`);
}

/** Runs a command to completion (stdout+stderr captured); rejects on a non-zero exit or after `timeoutMs`. */
export function run(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      void stopGroup(child);
      reject(new Error(`${cmd} ${args.join(" ")} timed out after ${options.timeoutMs} ms:\n${out}`));
    }, options.timeoutMs ?? 180_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise(out);
      else reject(new Error(`${cmd} ${args.join(" ")} exited ${code}:\n${out}`));
    });
  });
}

/**
 * `wrangler deploy --dry-run --outdir <outdir>` for a wrangler config; returns the bundle's path. `env` is
 * added to the environment (e.g. SLUICE_CONFIG_DIR / SLUICE_CONFIG_OUT for the config build step).
 */
export async function dryRunBuild(configPath: string, outdir: string, env: Record<string, string> = {}): Promise<{ bundle: string; log: string }> {
  const log = await run(process.execPath, [WRANGLER, "deploy", "--dry-run", "--outdir", outdir, "-c", configPath], { env: wranglerEnv(env) });
  const js = readdirSync(outdir).filter((f) => f.endsWith(".js") || f.endsWith(".mjs"));
  if (js.length !== 1) throw new Error(`wrangler --dry-run wrote ${js.length} modules to ${outdir} (expected 1): ${js.join(", ")}\n${log}`);
  return { bundle: join(outdir, js[0]!), log };
}

/**
 * A copy of the repo's wrangler.toml whose `sluice-config` alias points at `configModule` (optionally without the
 * [build] step), written next to it under a name .gitignore already covers; returns its path and a remover.
 */
export function sluiceWranglerConfig(configModule: string, options: { withoutBuild?: boolean; tag?: string } = {}): { path: string; remove: () => void } {
  let toml = readFileSync(join(REPO_ROOT, "wrangler.toml"), "utf8");
  const aliasLine = /^"sluice-config" = .*$/m;
  if (!aliasLine.test(toml)) throw new Error("wrangler.toml has no sluice-config alias to replace");
  toml = toml.replace(aliasLine, `"sluice-config" = ${JSON.stringify(resolve(configModule))}`);
  if (options.withoutBuild) toml = toml.replace(/^\[build\]\n(?:(?!\[).*\n)*/m, "");
  const path = join(REPO_ROOT, `.wrangler-e2e-bench-${options.tag ?? "x"}-${process.pid}.toml`);
  writeFileSync(path, toml);
  return { path, remove: () => rmSync(path, { force: true }) };
}

/**
 * A config for `wrangler dev` that serves an already bundled worker (`wrangler deploy --dry-run` output) with the
 * repo's bindings: `no_bundle`, no [build] step, no alias. wrangler dev reloads whenever a watched source changes,
 * and others edit src/ while benchmarks run; a frozen bundle keeps a run on one version of the code.
 */
export function bundledWranglerConfig(bundle: string, tag: string, options: { withoutConsumers?: boolean } = {}): { path: string; remove: () => void } {
  let toml = readFileSync(join(REPO_ROOT, "wrangler.toml"), "utf8");
  // Without consumers, messages stay on the (local) queues: a diagnostic of the ingest path alone.
  if (options.withoutConsumers) toml = toml.replace(/^\[\[queues\.consumers\]\]\n(?:(?!\[).*\n)*/gm, "");
  if (!/^main = .*$/m.test(toml)) throw new Error("wrangler.toml has no main line");
  toml = toml.replace(/^main = .*$/m, `main = ${JSON.stringify(resolve(bundle))}\nno_bundle = true`);
  toml = toml.replace(/^\[build\]\n(?:(?!\[).*\n)*/m, "").replace(/^\[alias\]\n(?:(?!\[).*\n)*/m, "");
  const path = join(REPO_ROOT, `.wrangler-e2e-bench-${tag}-${process.pid}.toml`);
  writeFileSync(path, toml);
  return { path, remove: () => rmSync(path, { force: true }) };
}

export interface Sink {
  url: string;
  /** Requests received so far, and the events they carried (a batch body's items; 1 for a single event). */
  count(): Promise<{ requests: number; events: number }>;
  stop(): Promise<void>;
}

// Events are counted by their `"messageId":` keys (every event Sluice sends has one at its top level, and nested
// objects of the corpus have none): a scan instead of a JSON.parse, so the sink's own CPU stays small.
const SINK_SOURCE = `
const http = require("node:http");
const DELAY_MS = Number(process.argv[1] ?? 0);
let requests = 0, events = 0;
const server = http.createServer((req, res) => {
  if (req.method === "GET") { res.writeHead(200, { "content-type": "application/json" }); res.end(JSON.stringify({ requests, events })); return; }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    for (let i = body.indexOf('"messageId":'); i !== -1; i = body.indexOf('"messageId":', i + 12)) events++;
    requests++;
    const answer = () => { res.writeHead(200, { "content-type": "application/json" }); res.end('{"ok":true}'); };
    if (DELAY_MS > 0) setTimeout(answer, DELAY_MS); else answer();
  });
});
server.keepAliveTimeout = 30000;
server.listen(0, "127.0.0.1", () => console.log("PORT " + server.address().port));
`;

/**
 * A webhook receiver in its own process that answers 200 to every POST (after `delayMs`, if given) and counts them
 * (GET answers the counts).
 */
export async function startSink(options: { delayMs?: number } = {}): Promise<Sink> {
  const child = spawn(process.execPath, ["-e", SINK_SOURCE, String(options.delayMs ?? 0)], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  const port = await new Promise<number>((resolvePort, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`sink did not start: ${out}`)), 10_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    });
    child.once("exit", (code) => reject(new Error(`sink exited (${code}): ${out}`)));
  });
  const url = `http://127.0.0.1:${port}/`;
  return {
    url,
    count: async () => (await (await fetch(url)).json()) as { requests: number; events: number },
  stop: () => stopGroup(child),
  };
}

export interface SluiceBundle {
  /** The bundled worker module (index.js). */
  bundle: string;
  outdir: string;
  /** wrangler's build output (sizes, bindings). */
  log: string;
  remove(): void;
}

/**
 * `wrangler deploy --dry-run` of Sluice into a temporary folder, with the operator config taken from a config
 * folder (through the real [build] step, as `wrangler deploy` does) or from an already built config module.
 */
export async function buildSluiceBundle(source: { configDir: string } | { configModule: string }, tag: string): Promise<SluiceBundle> {
  const work = mkdtempSync(join(tmpdir(), `sluice-bench-${tag}-`));
  const outdir = join(work, "out");
  const configModule = "configModule" in source ? source.configModule : join(work, "config.ts");
  const toml = sluiceWranglerConfig(configModule, { withoutBuild: "configModule" in source, tag });
  try {
    const env: Record<string, string> = "configDir" in source ? { SLUICE_CONFIG_DIR: source.configDir, SLUICE_CONFIG_OUT: configModule } : {};
    const { bundle, log } = await dryRunBuild(toml.path, outdir, env);
    return { bundle, outdir, log, remove: () => rmSync(work, { recursive: true, force: true }) };
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  } finally {
    toml.remove();
  }
}

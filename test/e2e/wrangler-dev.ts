/**
 * Starts the real worker with `wrangler dev` (workerd, local Queues/R2/Durable Objects) on a config folder of
 * the test's choosing, on free loopback ports, with its local state in a folder the test owns (a fresh one, or
 * that of an earlier run to restart on the same R2 objects and Durable Objects).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { freePort, wranglerEnv } from "../../scripts/local-wrangler.ts";

export interface DevWorker {
  url: string;
  output: () => string;
  stop(): Promise<void>;
}

/**
 * @param state `--persist-to` folder, the caller's (test/support/temp-folder.ts removes it after the file); give
 *   the same one to a later call to restart on the same local state (stop the first worker before).
 * @param flags more `wrangler dev` flags (e.g. `--test-scheduled`).
 */
export async function startWranglerDev(configDir: string, state: string, vars: Record<string, string>, timeoutMs = 120_000, flags: string[] = []): Promise<DevWorker> {
  const port = await freePort();
  // The config is built into the state folder and aliased in through a copy of wrangler.toml (wrangler dev
  // ignores --alias), so runs never touch .sluice/config.ts and can run side by side.
  const built = join(state, "config.ts");
  const toml = readFileSync("wrangler.toml", "utf8");
  const aliasLine = /^"sluice-config" = .*$/m;
  if (!aliasLine.test(toml)) throw new Error("wrangler.toml has no sluice-config alias to replace");
  const wranglerConfig = `.wrangler-e2e-${port}.toml`;
  writeFileSync(wranglerConfig, toml.replace(aliasLine, `"sluice-config" = ${JSON.stringify(built)}`));
  const args = ["wrangler", "dev", "-c", wranglerConfig, "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state, "--show-interactive-dev-session=false"];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  // e.g. --test-scheduled: GET /__scheduled?cron=… runs the scheduled handler.
  args.push(...flags);
  const child: ChildProcess = spawn("npx", args, {
    env: wranglerEnv({ SLUICE_CONFIG_DIR: configDir, SLUICE_CONFIG_OUT: built }),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  // Only the recent output is kept: a worker that logs an error per request (e.g. workerd out of file descriptors)
  // would otherwise outgrow the longest string V8 allows and crash the test run.
  let log = "";
  const append = (d: Buffer) => {
    log += d.toString();
    if (log.length > 4_000_000) log = log.slice(-2_000_000);
  };
  child.stdout!.on("data", append);
  child.stderr!.on("data", append);
  const url = `http://127.0.0.1:${port}`;
  /** Whether any process of the group (npx, wrangler, workerd) is still there. */
  const groupAlive = () => {
    try {
      process.kill(-child.pid!, 0);
      return true;
    } catch {
      return false;
    }
  };
  const groupGone = async (ms: number) => {
    const until = Date.now() + ms;
    while (groupAlive() && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    return !groupAlive();
  };
  const stop = async () => {
    rmSync(wranglerConfig, { force: true });
    if (!groupAlive()) return;
    process.kill(-child.pid!, "SIGTERM");
    // Waits until the whole group is gone, so a next run on the same state folder starts after this one let go of it.
    if (await groupGone(5000)) return;
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // gone meanwhile
    }
    await groupGone(5000);
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${log}`);
    try {
      const res = await fetch(`${url}/`);
      if (res.ok) return { url, output: () => log, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`wrangler dev did not start within ${timeoutMs} ms:\n${log}`);
}

/**
 * POSTs JSON on a fresh connection. Node's fetch reuses keep-alive sockets, and a socket the dev server closes
 * as idle at the same moment resets the request (ECONNRESET) before it reaches the worker.
 */
export function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: string; retryAfter?: string }> {
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: "POST", agent: false, headers: { "content-type": "application/json", "content-length": String(data.length), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), retryAfter: res.headers["retry-after"] as string | undefined }));
      res.on("error", reject);
    });
    req.on("error", reject);
    // A request the dev server never answers must fail (and be retried) rather than hang the test.
    req.setTimeout(30_000, () => req.destroy(new Error("no answer within 30 s")));
    req.end(data);
  });
}

/**
 * What every local `wrangler` run of the tests and benchmarks shares: a free loopback port, and the environment.
 */
import { createServer } from "node:net";

/** A loopback port free right now (the OS picks it; another process may still take it before it is bound). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePort(port));
    });
  });
}

/**
 * No metrics, no prompts, and no devtools inspector proxy. VSCODE_INSPECTOR_OPTIONS turns the proxy off (as in a
 * VS Code debug terminal): in wrangler 4.84 it posts every runtime message (3 per subrequest) to wrangler over a
 * socket it never closes, so a few thousand deliveries exhaust its file descriptors and the dev server stops
 * answering. `npm start` sets the same variable.
 */
export const wranglerEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  CI: "true",
  VSCODE_INSPECTOR_OPTIONS: "off",
  ...extra,
});

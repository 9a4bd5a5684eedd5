/**
 * The PostgreSQL driver behind `Db`: postgres.js (pure JavaScript; in workerd it connects through
 * `cloudflare:sockets`, in Node through `net`). Unnamed statements only (`prepare: false`), as Hyperdrive's
 * transaction-mode pooling expects; no type lookup on connect.
 */
import postgres from "postgres";
import type { Db } from "./loader.ts";

export interface Connection extends Db {
  end(): Promise<void>;
}

export function connect(url: string, options: { max?: number; connectTimeoutSeconds?: number } = {}): Connection {
  const sql = postgres(url, { max: options.max ?? 4, prepare: false, fetch_types: false, connect_timeout: options.connectTimeoutSeconds ?? 10, onnotice: () => {} });
  return {
    query: (text, params = []) => sql.unsafe(text, params as never[]) as unknown as Promise<readonly Record<string, unknown>[]>,
    end: () => sql.end({ timeout: 5 }),
  };
}

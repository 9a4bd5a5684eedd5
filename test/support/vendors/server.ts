/**
 * The HTTP shell the vendor stand-ins share: a loopback server that reads each request whole and lets the vendor
 * file answer it. Each stand-in checks requests the way its vendor documents them and records what it accepted.
 */
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface StandInRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  bytes: number;
}

export interface StandInAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface StandIn {
  url: string;
  close(): Promise<void>;
}

export async function startStandIn(handle: (request: StandInRequest) => StandInAnswer): Promise<StandIn> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      let answer: StandInAnswer;
      try {
        answer = handle({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: raw.toString("utf8"), bytes: raw.length });
      } catch (err) {
        answer = { status: 500, body: { error: String(err) } };
      }
      const text = typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body ?? {});
      res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** `Basic base64(user:password)` of a header, or undefined. */
export function basicUser(header: string | undefined): string | undefined {
  const m = /^Basic (.+)$/.exec(header ?? "");
  return m ? Buffer.from(m[1]!, "base64").toString("utf8") : undefined;
}

/** Faults to inject, in order, one per request of the stand-in's main endpoint; then it answers as the vendor would. */
export type Fault = { status: 429; retryAfter: string } | { status: 500 | 503 };

/** What a stand-in accepted, deduplicated by the vendor's insert id, and what went wrong. */
export class Ledger<T> {
  readonly accepted = new Map<string, T>();
  /** Insert ids sent again after the stand-in had accepted them (a vendor would drop them; Sluice should not send them). */
  readonly redelivered: string[] = [];
  /** Requests that broke the vendor's documented rules (auth, shape, limits). */
  readonly violations: string[] = [];
  accept(id: string, item: T): void {
    if (this.accepted.has(id)) this.redelivered.push(id);
    else this.accepted.set(id, item);
  }
}

/** The answer to an injected fault, with the vendor's body. */
export function faultAnswer(fault: Fault, body: unknown): StandInAnswer {
  return { status: fault.status, body, headers: "retryAfter" in fault ? { "retry-after": fault.retryAfter } : {} };
}

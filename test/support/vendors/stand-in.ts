/**
 * The one shell of the vendor stand-ins: a loopback HTTP server that reads each request whole and lets the vendor
 * file answer it (`startStandIn`). Two ways to answer: a stand-in that plays the vendor (mixpanel.ts, amplitude.ts,
 * segment.ts: checks, ledgers, faults), or a recorder (`recorder`, `startVendorServer`) that keeps every request,
 * checks it with the vendor's documented rules (ga4.ts, posthog.ts, slack.ts) and answers 400 with the problems, a
 * test's `respond`, or 200. Unit tests get the same recorder without a socket: `checkedFetch` in ../vendor-fetch.ts.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface VendorRequest {
  method: string;
  url: URL;
  /** Path and query as sent (`/import?strict=1`). */
  path: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
  /** UTF-8 bytes of the body. */
  bytes: number;
  /** The parsed body; undefined when it is not JSON. */
  json: unknown;
}

export interface VendorReply {
  /** 0 drops the connection (a network error). */
  status: number;
  headers?: Record<string, string>;
  /** Text as it is; anything else as JSON. */
  body?: unknown;
}

export interface StandIn {
  url: string;
  close(): Promise<void>;
}

function parse(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** A request as the stand-ins read it. */
export function vendorRequest(method: string, url: URL, headers: Record<string, string>, body: string): VendorRequest {
  return { method, url, path: `${url.pathname}${url.search}`, headers, body, bytes: Buffer.byteLength(body), json: parse(body) };
}

export const replyText = (reply: VendorReply): string => (typeof reply.body === "string" ? reply.body : reply.body === undefined ? "" : JSON.stringify(reply.body));

/** The stand-in on a free loopback port; a throwing handler answers 500. */
export async function startStandIn(handle: (request: VendorRequest) => VendorReply): Promise<StandIn> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
      let reply: VendorReply;
      try {
        reply = handle(vendorRequest(req.method ?? "GET", new URL(req.url ?? "/", "http://127.0.0.1"), headers, Buffer.concat(chunks).toString("utf8")));
      } catch (err) {
        reply = { status: 500, body: { error: String(err) } };
      }
      if (reply.status === 0) return req.socket.destroy();
      res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
      res.end(replyText(reply));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Problems with a request as the vendor documents it (auth, shape, limits); empty when it is fine. */
export type Checker = (req: VendorRequest) => string[];
export type Responder = (req: VendorRequest, n: number) => VendorReply | undefined;

export interface Recorder {
  requests: VendorRequest[];
  /** Problems of every request, each prefixed with its number. */
  problems: string[];
  respond?: Responder;
}

/** A recorder and the handler that fills it: checks each request, answers 400 with its problems, else `respond` or 200. */
export function recorder(check: Checker, respond?: Responder): { rec: Recorder; handle: (req: VendorRequest) => VendorReply } {
  const rec: Recorder = { requests: [], problems: [], respond };
  const handle = (req: VendorRequest): VendorReply => {
    rec.requests.push(req);
    const n = rec.requests.length;
    const problems = check(req);
    rec.problems.push(...problems.map((p) => `#${n} ${p}`));
    if (problems.length > 0) return { status: 400, body: JSON.stringify({ error: problems.join("; ") }) };
    return rec.respond?.(req, n) ?? { status: 200, body: "ok" };
  };
  return { rec, handle };
}

export interface VendorServer extends Recorder, StandIn {}

/** A recording stand-in on a free loopback port. */
export async function startVendorServer(check: Checker): Promise<VendorServer> {
  const { rec, handle } = recorder(check);
  return Object.assign(rec, await startStandIn(handle));
}

/** `user:password` of a Basic authorization header, or undefined. */
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
export function faultAnswer(fault: Fault, body: unknown): VendorReply {
  return { status: fault.status, body, headers: "retryAfter" in fault ? { "retry-after": fault.retryAfter } : {} };
}

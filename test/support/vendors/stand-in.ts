/**
 * A local stand-in for a vendor's API: records every request, checks it with the vendor's checker (problems are
 * kept, and answered 400 as the vendor would), and answers with `respond` (a test's fault injection) or 200.
 * `fakeFetch` is the same thing without a socket, for unit tests.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface VendorRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string;
  /** The parsed body; undefined when it is not JSON. */
  json: unknown;
}

export interface VendorReply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
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

function handle(rec: Recorder, check: Checker, req: VendorRequest): VendorReply {
  rec.requests.push(req);
  const n = rec.requests.length;
  const problems = check(req);
  rec.problems.push(...problems.map((p) => `#${n} ${p}`));
  if (problems.length > 0) return { status: 400, body: JSON.stringify({ error: problems.join("; ") }) };
  return rec.respond?.(req, n) ?? { status: 200, body: "ok" };
}

function parse(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** A `fetch` for unit tests that answers as the stand-in would. */
export function fakeFetch(check: Checker, respond?: Responder): Recorder & { fetch: typeof fetch } {
  const rec: Recorder = { requests: [], problems: [], respond };
  const fetcher = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const body = typeof init?.body === "string" ? init.body : "";
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    const reply = handle(rec, check, { method: init?.method ?? "GET", url: new URL(String(input)), headers, body, json: parse(body) });
    if (reply.status === 0) throw new TypeError("fetch failed: connection refused");
    return new Response(reply.body ?? "", { status: reply.status, headers: reply.headers });
  }) as typeof fetch;
  return Object.assign(rec, { fetch: fetcher });
}

export interface VendorServer extends Recorder {
  url: string;
  close(): Promise<void>;
}

/** The stand-in on a free loopback port. `status: 0` in a reply drops the connection (a network error). */
export async function startVendorServer(check: Checker): Promise<VendorServer> {
  const rec: Recorder = { requests: [], problems: [] };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
      const reply = handle(rec, check, { method: req.method ?? "GET", url: new URL(req.url ?? "/", "http://127.0.0.1"), headers, body, json: parse(body) });
      if (reply.status === 0) return req.socket.destroy();
      res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
      res.end(reply.body ?? "");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(rec, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** A DeliveryContext for calling a kind's deliver() directly, with the given fetch and clock. */
export function vendorContext<S>(settings: S, fetcher: typeof fetch, now: () => number = Date.now) {
  return {
    destinationId: "test",
    settings,
    bucket: undefined as unknown as R2Bucket,
    durableObject: (): DurableObjectNamespace | undefined => undefined,
    fetch: fetcher,
    now,
  };
}

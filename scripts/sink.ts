/**
 * A local webhook receiver: verifies `X-Sluice-Signature` over `<X-Sluice-Timestamp>.<body>`, answers 401 to a
 * bad signature or a timestamp more than 5 minutes off (a replay), and records what it accepts. `npm run sink` starts it on
 * 127.0.0.1:9911 for the demo config (prints one line per event, never the payload's personal fields);
 * the end-to-end tests start it in-process with `startSink()`.
 *   SINK_PORT (9911), SINK_SECRET (demo-hook-secret, as in .dev.vars.example)
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

export interface Received {
  /** When the request arrived (ms). */
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The events in the request: one, or the items of `{ batch: [...] }`. */
  events: Record<string, unknown>[];
  /** Undefined when the sink has no secret; with one, only valid requests are recorded. */
  signatureValid: boolean | undefined;
}

export interface Sink {
  url: string;
  received: Received[];
  /** Scripted answer per request (e.g. to inject failures); 200 when undefined; status 0 drops the connection. */
  respond?: (r: Received) => { status: number; headers?: Record<string, string> } | undefined;
  close(): Promise<void>;
}

/** How far a signed timestamp may be from the receiver's clock, either way. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * True when `signature` is `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` and `timestamp` (unix
 * seconds) is within the tolerance of `nowMs`: a captured request replayed later is refused.
 */
export function verifySignature(secret: string, body: string, signature: string | undefined, timestamp: string | undefined, nowMs = Date.now()): boolean {
  if (!signature?.startsWith("sha256=") || !timestamp || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > SIGNATURE_TOLERANCE_SECONDS) return false;
  const expected = Buffer.from(createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex"));
  const given = Buffer.from(signature.slice(7));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function startSink(opts: { port?: number; host?: string; secret?: string; onReceive?: (r: Received) => void; onReject?: (r: Received) => void } = {}): Promise<Sink> {
  const host = opts.host ?? "127.0.0.1";
  const sink: Sink = { url: "", received: [], close: async () => {} };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let events: Record<string, unknown>[] = [];
      try {
        const json = JSON.parse(body) as Record<string, unknown>;
        events = Array.isArray(json.batch) ? (json.batch as Record<string, unknown>[]) : [json];
      } catch {
        res.writeHead(400).end("not JSON");
        return;
      }
      const signature = req.headers["x-sluice-signature"] as string | undefined;
      const timestamp = req.headers["x-sluice-timestamp"] as string | undefined;
      const r: Received = { at: Date.now(), headers: req.headers, body, events, signatureValid: opts.secret ? verifySignature(opts.secret, body, signature, timestamp) : undefined };
      if (r.signatureValid === false) {
        opts.onReject?.(r);
        res.writeHead(401).end("bad or stale signature");
        return;
      }
      const answer = sink.respond?.(r);
      if (answer?.status === 0) {
        req.socket.destroy();
        return;
      }
      if (!answer || (answer.status >= 200 && answer.status < 300)) {
        sink.received.push(r);
        opts.onReceive?.(r);
      }
      res.writeHead(answer?.status ?? 200, { "content-type": "application/json", ...answer?.headers }).end('{"ok":true}');
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => {
      sink.url = `http://${host}:${(server.address() as AddressInfo).port}/`;
      sink.close = () => new Promise((r) => server.close(() => r()));
      resolve(sink);
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const secret = process.env.SINK_SECRET ?? "demo-hook-secret";
  const sink = await startSink({
    port: Number(process.env.SINK_PORT ?? 9911),
    secret,
    onReceive: (r) => {
      for (const e of r.events) console.log(`${new Date().toISOString()} ${String(e.type).padEnd(8)} ${String(e.event ?? e.name ?? "")} messageId=${String(e.messageId)}`);
    },
    onReject: (r) => console.log(`${new Date().toISOString()} REJECTED ${r.events.length} event(s): bad or stale signature`),
  });
  console.log(`sink: listening on ${sink.url} (verifying signatures with SINK_SECRET)`);
}

/**
 * Outbound HTTP in worker tests: requests to *.test hosts are answered by an in-memory sink the tests can
 * script and inspect; anything else is refused so no test reaches a network.
 */
import { afterEach } from "vitest";

export interface SinkRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}
type Responder = (req: SinkRequest) => Response | Promise<Response>;

export const sink = {
  requests: [] as SinkRequest[],
  responder: undefined as Responder | undefined,
  reset() {
    this.requests = [];
    this.responder = undefined;
  },
};

const realFetch = globalThis.fetch;
globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
  const req = new Request(input, init);
  if (!new URL(req.url).hostname.endsWith(".test")) return realFetch(input, init);
  const recorded: SinkRequest = { url: req.url, headers: Object.fromEntries(req.headers), body: await req.text() };
  sink.requests.push(recorded);
  return sink.responder ? sink.responder(recorded) : new Response("ok");
};

afterEach(() => sink.reset());

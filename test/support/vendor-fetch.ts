/**
 * The fake fetch for vendor kinds' unit tests: records every request (url, method, headers, body) and answers with
 * `respond`; `checkedFetch` answers as a recording stand-in would (./vendors/stand-in.ts). Plus the DeliveryContext
 * a kind's deliver() gets, and settings checked and resolved as the consumer does.
 */
import type { Problem } from "../../src/config/schema.ts";
import { resolveSecrets } from "../../src/config/secrets.ts";
import type { DeliveryContext, DestinationDefinition } from "../../src/delivery/destination.ts";
import type { CapturedRequest } from "../../src/delivery/vendor.ts";
import { recorder, replyText, vendorRequest, type Checker, type Recorder, type Responder as StandInResponder } from "./vendors/stand-in.ts";

export type Responder = (request: CapturedRequest, index: number) => Response | Promise<Response>;

export function recordingFetch(respond: Responder = () => new Response("{}", { status: 200 })) {
  const requests: CapturedRequest[] = [];
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request: CapturedRequest = { url: String(input), method: init?.method ?? "GET", headers: new Headers(init?.headers), body: String(init?.body ?? "") };
    requests.push(request);
    return respond(request, requests.length - 1);
  }) as typeof globalThis.fetch;
  return { fetch, requests };
}

/**
 * A fetch that answers as a recording stand-in would: each request checked with the vendor's `check` (problems
 * answered 400 and kept), then `respond` (a reply of status 0 is a network error) or 200.
 */
export function checkedFetch(check: Checker, respond?: StandInResponder): Recorder & { fetch: typeof globalThis.fetch } {
  const { rec, handle } = recorder(check, respond);
  const { fetch } = recordingFetch((request) => {
    const headers: Record<string, string> = {};
    request.headers.forEach((v, k) => (headers[k] = v));
    const reply = handle(vendorRequest(request.method, new URL(request.url), headers, request.body));
    if (reply.status === 0) throw new TypeError("fetch failed: connection refused");
    return new Response(replyText(reply), { status: reply.status, headers: reply.headers });
  });
  return Object.assign(rec, { fetch });
}

/** Every `${env.NAME}` resolves to `secret:NAME`, so tests see which secret went where. */
export const secretEnv = new Proxy({}, { get: (_, name) => (typeof name === "string" ? `secret:${name}` : undefined) }) as Record<string, unknown>;

/** Settings as the build checks them (defaults applied) and the consumer resolves them; throws on a problem. */
export function checkedSettings<S>(definition: DestinationDefinition<S>, raw: Record<string, unknown>): S {
  const problems: Problem[] = [];
  const checked = definition.settings.check(raw, [], problems);
  if (checked === undefined) throw new Error(`settings rejected: ${JSON.stringify(problems)}`);
  return resolveSecrets(checked, secretEnv);
}

export const NOW = Date.parse("2026-11-23T12:00:00.000Z");

/** The context a kind's deliver() gets; `now` a fixed time (default NOW) or a clock. */
export function vendorContext<S>(settings: S, fetch: typeof globalThis.fetch, now: number | (() => number) = NOW): DeliveryContext<S> {
  return {
    destinationId: "dest",
    settings,
    bucket: undefined as unknown as R2Bucket,
    durableObject: () => undefined,
    fetch,
    now: typeof now === "function" ? now : () => now,
  };
}

/** A JSON response, as vendors answer. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

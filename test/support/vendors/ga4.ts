/**
 * GA4 Measurement Protocol as Google documents it (developers.google.com/analytics/devguides/collection/protocol/ga4):
 * POST /mp/collect (or /debug/mp/collect) with measurement_id or firebase_app_id and api_secret in the query; a JSON
 * body with client_id (web) or app_instance_id (app), ≤ 25 events, names and keys within GA4's rules, parameter
 * values scalar (except `items`) and ≤ 100 characters, ≤ 25 parameters, a body under 130 KB.
 */
import type { VendorRequest } from "./stand-in.ts";

const NAME = /^[A-Za-z][A-Za-z0-9_]{0,39}$/;
const LONG: Record<string, number> = { page_location: 1000, page_referrer: 420, page_title: 300 };

export function ga4Checker(expect: { measurementId?: string; firebaseAppId?: string; apiSecret: string }) {
  return (req: VendorRequest): string[] => {
    const problems: string[] = [];
    if (req.method !== "POST") problems.push(`method ${req.method}`);
    if (req.url.pathname !== "/mp/collect" && req.url.pathname !== "/debug/mp/collect") problems.push(`path ${req.url.pathname}`);
    if (req.url.searchParams.get("api_secret") !== expect.apiSecret) problems.push("wrong api_secret");
    if (expect.measurementId !== undefined && req.url.searchParams.get("measurement_id") !== expect.measurementId) problems.push("wrong measurement_id");
    if (expect.firebaseAppId !== undefined && req.url.searchParams.get("firebase_app_id") !== expect.firebaseAppId) problems.push("wrong firebase_app_id");
    if (Buffer.byteLength(req.body) > 130 * 1024) problems.push(`body of ${Buffer.byteLength(req.body)} bytes`);
    const body = req.json as Record<string, unknown> | undefined;
    if (!body || typeof body !== "object") return [...problems, "body is not a JSON object"];
    const idKey = expect.firebaseAppId !== undefined ? "app_instance_id" : "client_id";
    if (typeof body[idKey] !== "string" || body[idKey] === "") problems.push(`no ${idKey}`);
    if (body.user_id !== undefined && typeof body.user_id !== "string") problems.push("user_id not a string");
    if (body.timestamp_micros !== undefined && (!Number.isInteger(body.timestamp_micros) || String(body.timestamp_micros).length < 16)) problems.push("timestamp_micros not in microseconds");
    const events = body.events;
    if (!Array.isArray(events)) return [...problems, "events is not a list"];
    if (events.length > 25) problems.push(`${events.length} events`);
    for (const [i, e] of events.entries()) {
      const ev = e as { name?: unknown; params?: Record<string, unknown> };
      if (typeof ev.name !== "string" || !NAME.test(ev.name)) problems.push(`events[${i}].name ${JSON.stringify(ev.name)}`);
      const params = ev.params ?? {};
      if (Object.keys(params).length > 25) problems.push(`events[${i}] has ${Object.keys(params).length} params`);
      for (const [k, v] of Object.entries(params)) {
        if (!NAME.test(k)) problems.push(`events[${i}].params key ${JSON.stringify(k)}`);
        if (k === "items") {
          if (!Array.isArray(v)) problems.push(`events[${i}].params.items not a list`);
          continue;
        }
        if (typeof v !== "string" && typeof v !== "number") problems.push(`events[${i}].params.${k} is ${v === null ? "null" : typeof v}`);
        else if (typeof v === "string" && [...v].length > (LONG[k] ?? 100)) problems.push(`events[${i}].params.${k} is ${[...v].length} characters`);
      }
    }
    const props = (body.user_properties ?? {}) as Record<string, { value?: unknown }>;
    if (Object.keys(props).length > 25) problems.push(`${Object.keys(props).length} user properties`);
    for (const [k, v] of Object.entries(props)) {
      if (!/^[A-Za-z][A-Za-z0-9_]{0,23}$/.test(k)) problems.push(`user property name ${JSON.stringify(k)}`);
      if (typeof v?.value === "string" && [...v.value].length > 36) problems.push(`user property ${k} is too long`);
    }
    return problems;
  };
}

/** The events of a GA4 request with the request's client, for counting what arrived. */
export function ga4Events(req: VendorRequest): { client: string; user_id?: string; name: string; params: Record<string, unknown> }[] {
  const body = req.json as { client_id?: string; app_instance_id?: string; user_id?: string; events?: { name: string; params: Record<string, unknown> }[] };
  return (body?.events ?? []).map((e) => ({ client: body.client_id ?? body.app_instance_id ?? "", user_id: body.user_id, name: e.name, params: e.params ?? {} }));
}

/**
 * A Mixpanel stand-in: /import (strict mode, Basic api_secret:), /engage and /groups as Mixpanel's Ingestion API
 * documents them. Records with `properties.reject` fail strict validation every time (a 400 with failed_records;
 * the other records are imported, as Mixpanel does); `faults` answer the first /import requests.
 */
import { basicUser, faultAnswer, Ledger, startStandIn, type Fault, type StandIn, type VendorReply } from "./stand-in.ts";

type Record_ = { event?: unknown; properties?: Record<string, unknown> };
export const MIXPANEL_REJECT_MESSAGE = "'properties.reject' is not allowed: remove it";

export interface MixpanelStandIn extends StandIn {
  imported: Ledger<Record_>;
  profiles: Record<string, unknown>[];
  groups: Record<string, unknown>[];
  faults: Fault[];
}

export async function startMixpanel(opts: { apiSecret: string; token: string; faults?: Fault[] }): Promise<MixpanelStandIn> {
  const imported = new Ledger<Record_>();
  const profiles: Record<string, unknown>[] = [];
  const groups: Record<string, unknown>[] = [];
  const faults = [...(opts.faults ?? [])];
  const violation = (why: string): VendorReply => (imported.violations.push(why), { status: 400, body: { error: why, status: 0 } });
  const server = await startStandIn((req): VendorReply => {
    if (req.method !== "POST") return violation(`${req.method} ${req.path}`);
    if (req.headers["content-type"] !== "application/json") return violation(`content-type ${req.headers["content-type"]}`);
    const body = JSON.parse(req.body) as unknown;
    if (!Array.isArray(body)) return violation(`${req.path}: body is not an array`);
    if (req.path === "/import?strict=1") {
      if (basicUser(req.headers.authorization) !== `${opts.apiSecret}:`) return { status: 401, body: { error: "Invalid credentials", status: 0 } };
      if (body.length > 2000 || req.bytes > 10 * 1024 * 1024) return violation(`import of ${body.length} records, ${req.bytes} bytes`);
      const fault = faults.shift();
      if (fault) return faultAnswer(fault, { error: "try later", status: 0 });
      const failed: unknown[] = [];
      (body as Record_[]).forEach((record, index) => {
        const p = record.properties ?? {};
        const id = p.$insert_id;
        if (typeof record.event !== "string" || typeof p.time !== "number" || typeof p.distinct_id !== "string" || p.token !== opts.token || typeof id !== "string" || !/^[A-Za-z0-9-]{1,36}$/.test(id)) {
          imported.violations.push(`record ${JSON.stringify(record).slice(0, 200)}`);
          failed.push({ index, $insert_id: id, field: "properties", message: "invalid record" });
        } else if (p.reject) failed.push({ index, $insert_id: id, field: "properties.reject", message: MIXPANEL_REJECT_MESSAGE });
        else imported.accept(id, record);
      });
      if (failed.length === 0) return { status: 200, body: { code: 200, num_records_imported: body.length, status: "OK" } };
      return { status: 400, body: { code: 400, error: "some data points in the request failed validation", failed_records: failed, num_records_imported: body.length - failed.length, status: "Bad Request" } };
    }
    if (req.path === "/engage?verbose=1" || req.path === "/groups?verbose=1") {
      for (const update of body as Record<string, unknown>[]) {
        const ok = update.$token === opts.token && typeof update.$set === "object" && (req.path.startsWith("/engage") ? typeof update.$distinct_id === "string" : typeof update.$group_id === "string" && typeof update.$group_key === "string");
        if (!ok) return violation(`${req.path}: ${JSON.stringify(update).slice(0, 200)}`);
      }
      (req.path.startsWith("/engage") ? profiles : groups).push(...(body as Record<string, unknown>[]));
      return { status: 200, body: { status: 1, error: null } };
    }
    return violation(`unknown path ${req.path}`);
  });
  return { ...server, imported, profiles, groups, faults };
}

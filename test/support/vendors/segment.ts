/**
 * A Segment stand-in: /v1/batch as Segment's HTTP Tracking API documents it (Basic write_key:, ≤ 500 KB per
 * batch, ≤ 32 KB per event, each event with a type and a userId or anonymousId). `faults` answer the first requests.
 */
import { basicUser, faultAnswer, Ledger, startStandIn, type Fault, type StandIn, type VendorReply } from "./stand-in.ts";

type SegmentEvent = Record<string, unknown>;

export interface SegmentStandIn extends StandIn {
  received: Ledger<SegmentEvent>;
  faults: Fault[];
}

export async function startSegment(opts: { writeKey: string; faults?: Fault[] }): Promise<SegmentStandIn> {
  const received = new Ledger<SegmentEvent>();
  const faults = [...(opts.faults ?? [])];
  const violation = (why: string): VendorReply => (received.violations.push(why), { status: 400, body: { success: false, message: why } });
  const server = await startStandIn((req): VendorReply => {
    if (req.method !== "POST" || req.path !== "/v1/batch") return violation(`${req.method} ${req.path}`);
    if (basicUser(req.headers.authorization) !== `${opts.writeKey}:`) return { status: 401, body: { success: false, message: "invalid write key" } };
    if (req.bytes > 500 * 1024) return violation(`batch of ${req.bytes} bytes`);
    const body = JSON.parse(req.body) as { batch?: SegmentEvent[] };
    if (!Array.isArray(body.batch)) return violation("no batch");
    for (const e of body.batch) {
      if (Buffer.byteLength(JSON.stringify(e)) > 32 * 1024) return violation(`event ${String(e.messageId)} over 32 KB`);
      if (typeof e.type !== "string" || typeof e.messageId !== "string" || (typeof e.userId !== "string" && typeof e.anonymousId !== "string")) return violation(`event ${JSON.stringify(e).slice(0, 200)}`);
    }
    const fault = faults.shift();
    if (fault) return faultAnswer(fault, { success: false });
    for (const e of body.batch) received.accept(e.messageId as string, e);
    return { status: 200, body: { success: true } };
  });
  return { ...server, received, faults };
}

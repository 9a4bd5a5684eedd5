import { createHmac } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { signBody } from "../../destinations/webhook/index.ts";
import { startSink, verifySignature, type Sink } from "../../scripts/sink.ts";

const SECRET = "sink-secret";
const BODY = JSON.stringify({ type: "track", event: "Signed Up", userId: "u1", messageId: "m1" });
const hmac = (text: string) => `sha256=${createHmac("sha256", SECRET).update(text).digest("hex")}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

let sink: Sink | undefined;
afterEach(async () => {
  await sink?.close();
  sink = undefined;
});

async function postTo(s: Sink, headers: Record<string, string>): Promise<number> {
  const res = await fetch(s.url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: BODY });
  await res.text();
  return res.status;
}

describe("demo sink signature checks", () => {
  it("accepts what the webhook adapter signs now, and records it as valid", async () => {
    sink = await startSink({ secret: SECRET });
    const timestamp = nowSeconds();
    expect(await postTo(sink, { "x-sluice-timestamp": String(timestamp), "x-sluice-signature": await signBody(SECRET, timestamp, BODY) })).toBe(200);
    expect(sink.received.map((r) => [r.body, r.signatureValid])).toEqual([[BODY, true]]);
  });

  it("answers 401 to a replay: a body-only signature, a stale or future timestamp, or no timestamp", async () => {
    sink = await startSink({ secret: SECRET });
    const stale = nowSeconds() - 6 * 60;
    const future = nowSeconds() + 6 * 60;
    expect(await postTo(sink, { "x-sluice-timestamp": String(nowSeconds()), "x-sluice-signature": hmac(BODY) })).toBe(401);
    expect(await postTo(sink, { "x-sluice-timestamp": String(stale), "x-sluice-signature": hmac(`${stale}.${BODY}`) })).toBe(401);
    expect(await postTo(sink, { "x-sluice-timestamp": String(future), "x-sluice-signature": hmac(`${future}.${BODY}`) })).toBe(401);
    expect(await postTo(sink, { "x-sluice-signature": hmac(BODY) })).toBe(401);
    expect(sink.received).toEqual([]);
  });

  it("allows 5 minutes of clock difference either way, and no more", () => {
    const now = 1_714_564_800_000;
    const at = (offsetSeconds: number) => String(now / 1000 + offsetSeconds);
    const sign = (ts: string) => hmac(`${ts}.${BODY}`);
    for (const offset of [-300, 0, 300]) expect(verifySignature(SECRET, BODY, sign(at(offset)), at(offset), now)).toBe(true);
    for (const offset of [-301, 301]) expect(verifySignature(SECRET, BODY, sign(at(offset)), at(offset), now)).toBe(false);
    expect(verifySignature(SECRET, BODY, sign(at(0)), "1.5e9", now)).toBe(false);
    expect(verifySignature("other", BODY, sign(at(0)), at(0), now)).toBe(false);
  });

  it("records everything, unverified, when it has no secret", async () => {
    sink = await startSink();
    expect(await postTo(sink, {})).toBe(200);
    expect(sink.received.map((r) => r.signatureValid)).toEqual([undefined]);
  });
});

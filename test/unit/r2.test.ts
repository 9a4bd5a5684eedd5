import { describe, expect, it } from "vitest";
import { r2 } from "../../destinations/r2/index.ts";
import type { DeliveryContext } from "../../src/delivery/destination.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";

const NOW = Date.parse("2024-05-01T12:00:00.000Z");

function event(n: number, extra: Record<string, unknown> = {}): SluiceEvent {
  return { type: "track", event: "Viewed", userId: `u${n}`, messageId: `m${n}`, receivedAt: "2024-05-01T12:00:00.000Z", timestamp: "2024-05-01T12:00:00.000Z", ...extra };
}

/** A delivery context whose R2 bucket keeps what is put in memory. */
function context() {
  const objects = new Map<string, string>();
  const put = async (key: string, value: string) => void objects.set(key, value);
  const ctx: DeliveryContext<{ prefix: string; max_events_per_object: number }> = {
    destinationId: "inspect", settings: { prefix: "events", max_events_per_object: 500 }, bucket: { put } as unknown as R2Bucket, durableObject: () => undefined, fetch, now: () => NOW,
  };
  return { ctx, objects };
}

describe("r2 destination", () => {
  it("stores every event as one NDJSON line", async () => {
    const { ctx, objects } = context();
    const evs = [event(1), event(2)];
    expect(await r2.deliver(evs, ctx)).toEqual([{ ok: true }, { ok: true }]);
    const [key, body] = [...objects][0]!;
    expect(key).toMatch(/^events\/inspect\/dt=2024-05-01\/2024-05-01T12:00:00\.000Z-[0-9a-f-]{36}\.ndjson$/);
    expect(body).toBe(evs.map((e) => JSON.stringify(e)).join("\n") + "\n");
  });

  it("fails only the event it cannot serialize, permanently, and stores its neighbours", async () => {
    const { ctx, objects } = context();
    const evs = [event(1), event(2, { properties: { huge: 10n } }), event(3)];
    const results = await r2.deliver(evs, ctx);
    expect(results[0]).toEqual({ ok: true });
    expect(results[1]).toMatchObject({ ok: false, error: { retryable: false, code: "unsendable" } });
    expect(results[2]).toEqual({ ok: true });
    expect([...objects.values()]).toEqual([`${JSON.stringify(evs[0])}\n${JSON.stringify(evs[2])}\n`]);
  });
});

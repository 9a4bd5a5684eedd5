import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";
import {
  bodyText,
  enqueue,
  eventJsonOnce,
  MESSAGE_TARGET_BYTES,
  packMessages,
  parseDeliveryMessage,
  routedSends,
  SEND_BATCH_MAX_BYTES,
  SEND_BATCH_MAX_MESSAGES,
  sendBatches,
  utf8Length,
  type DeliveryMessage,
  type PackedMessage,
} from "../../src/queue/messages.ts";
import { corpusEvents } from "../fixtures/corpus.ts";

const encoder = new TextEncoder();
const bytesOf = (s: string) => encoder.encode(s).length;
const header: Omit<DeliveryMessage, "events"> = { v: 1, dest: "hook", source: "web", t0: 1_714_564_800_000, tries: 0 };

function event(messageId: string, properties: Record<string, unknown> = {}): SluiceEvent {
  return { type: "track", event: "E", userId: "u", messageId, receivedAt: "2024-05-01T12:00:00.000Z", timestamp: "2024-05-01T12:00:00.000Z", properties };
}

/** Parses every packed body back and returns the events in message order. */
function unpack(messages: PackedMessage[]): SluiceEvent[] {
  return messages.flatMap((m) => {
    const parsed = parseDeliveryMessage(m.body);
    expect(parsed).toBeDefined();
    expect(parsed!.events).toHaveLength(m.events);
    return parsed!.events;
  });
}

/** A fake packed message of a given size (only `bytes` matters to sendBatches). */
function sized(bytes: number, i: number): PackedMessage {
  return { body: `m${i}`, bytes, events: 1 };
}

describe("utf8Length", () => {
  it.each([
    ["", 0],
    ["ascii", 5],
    ["é", 2],
    ["\u07ff", 2],
    ["\u0800", 3],
    ["€", 3],
    ["\uffff", 3],
    ["😀", 4],
    ["👩‍👩‍👧", 18],
    ["a😀é€", 10],
  ])("counts %j as %i bytes", (s, expected) => {
    expect(utf8Length(s)).toBe(expected);
    expect(utf8Length(s)).toBe(bytesOf(s));
  });

  it("equals the TextEncoder length for random strings of any code point (emoji included)", () => {
    const codePoint = fc
      .oneof(fc.integer({ min: 0, max: 0x7ff }), fc.integer({ min: 0x800, max: 0xffff }), fc.integer({ min: 0x1f300, max: 0x1faff }), fc.integer({ min: 0x10000, max: 0x10ffff }))
      .filter((c) => c < 0xd800 || c > 0xdfff)
      .map((c) => String.fromCodePoint(c));
    fc.assert(fc.property(fc.string({ unit: codePoint, maxLength: 200 }), (s) => utf8Length(s) === bytesOf(s)));
  });

  it("equals the TextEncoder length for random grapheme strings", () => {
    fc.assert(fc.property(fc.string({ unit: "grapheme", maxLength: 100 }), (s) => utf8Length(s) === bytesOf(s)));
  });

  it("equals the TextEncoder length of JSON text made from any UTF-16 string, lone surrogates included", () => {
    // packMessages measures JSON.stringify output, which escapes lone surrogates.
    const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    fc.assert(
      fc.property(fc.string({ unit: anyUnit, maxLength: 100 }), (s) => {
        const json = JSON.stringify({ s });
        return utf8Length(json) === bytesOf(json);
      }),
    );
  });
});

describe("packMessages", () => {
  it("returns no message for no events", () => {
    expect(packMessages(header, [])).toEqual([]);
  });

  it("keeps every event exactly once and in order, each body within the target", () => {
    const events = Array.from({ length: 200 }, (_, i) => event(`m${i}`, { text: "x".repeat((i * 37) % 900), emoji: "😀".repeat(i % 7) }));
    const target = 4096;
    const messages = packMessages(header, events, target);
    expect(messages.length).toBeGreaterThan(1);
    expect(unpack(messages)).toEqual(events);
    for (const m of messages) {
      expect(bytesOf(m.body)).toBeLessThanOrEqual(target);
      expect(m.bytes).toBeGreaterThanOrEqual(bytesOf(m.body));
    }
  });

  it("serializes an event object shared by several destinations once per request, with the same bodies", () => {
    const shared = Array.from({ length: 50 }, (_, i) => event(`s${i}`, { text: "é".repeat(i) }));
    const copies = shared.map((e) => ({ ...e, receivedAt: "2026-11-26T00:00:00.000Z" }));
    const mixed = [...shared.slice(0, 10), ...copies.slice(10)];
    const once = eventJsonOnce();
    const serialized: unknown[] = [];
    const recording = (e: SluiceEvent) => {
      const out = once(e);
      serialized.push(out);
      return out;
    };
    // Bodies and sizes exactly as without the cache.
    expect(packMessages(header, shared, 2048, Infinity, recording)).toEqual(packMessages(header, shared, 2048));
    expect(packMessages({ ...header, dest: "other" }, mixed, 2048, Infinity, recording)).toEqual(packMessages({ ...header, dest: "other" }, mixed, 2048));
    // The 10 shared objects of the second list reused the first list's JSON (same result object); copies did not.
    expect(serialized.slice(50, 60)).toEqual(serialized.slice(0, 10));
    for (let i = 0; i < 10; i++) expect(serialized[50 + i]).toBe(serialized[i]);
    expect(new Set(serialized).size).toBe(90);
  });

  it("carries the header on every message", () => {
    const messages = packMessages({ ...header, tries: 3, firstError: "HTTP 503", lastError: "HTTP 502: ä" }, [event("a"), event("b")], 400);
    expect(messages.length).toBe(2);
    for (const m of messages) {
      expect(parseDeliveryMessage(m.body)).toMatchObject({ v: 1, dest: "hook", source: "web", t0: header.t0, tries: 3, firstError: "HTTP 503", lastError: "HTTP 502: ä" });
    }
  });

  it("puts an event larger than the target in a message of its own", () => {
    const big = event("big", { blob: "y".repeat(3000) });
    const events = [event("a"), event("b"), big, event("c")];
    const messages = packMessages(header, events, 1024);
    expect(messages.map((m) => m.events)).toEqual([2, 1, 1]);
    expect(unpack(messages).map((e) => e.messageId)).toEqual(["a", "b", "big", "c"]);
    expect(bytesOf(messages[1]!.body)).toBeGreaterThan(1024);
  });

  it("puts consecutive oversize events in separate messages", () => {
    const events = [event("big1", { blob: "y".repeat(3000) }), event("big2", { blob: "z".repeat(3000) })];
    expect(packMessages(header, events, 1024).map((m) => m.events)).toEqual([1, 1]);
  });

  it("respects maxEvents per message", () => {
    const events = Array.from({ length: 10 }, (_, i) => event(`m${i}`));
    const messages = packMessages(header, events, MESSAGE_TARGET_BYTES, 3);
    expect(messages.map((m) => m.events)).toEqual([3, 3, 3, 1]);
    expect(unpack(messages)).toEqual(events);
  });

  it("measures multi-byte text in bytes, not characters", () => {
    const events = Array.from({ length: 20 }, (_, i) => event(`m${i}`, { text: "日本語".repeat(100) }));
    for (const m of packMessages(header, events, 4096)) expect(bytesOf(m.body)).toBeLessThanOrEqual(4096);
  });

  it("packs the 5k corpus into messages within the default target, order and content kept", () => {
    const events = corpusEvents<SluiceEvent>();
    const messages = packMessages(header, events);
    for (const m of messages) expect(bytesOf(m.body)).toBeLessThanOrEqual(MESSAGE_TARGET_BYTES);
    expect(unpack(messages)).toEqual(events);
  });

  it("for any events and target, keeps all events in order and only an oversize event exceeds the target alone", () => {
    const anyEvent = fc.record({ id: fc.uuid(), text: fc.string({ unit: "grapheme", maxLength: 300 }), n: fc.integer() });
    fc.assert(
      fc.property(fc.array(anyEvent, { maxLength: 60 }), fc.integer({ min: 200, max: 5000 }), fc.integer({ min: 1, max: 20 }), (raw, target, maxEvents) => {
        const events = raw.map((r) => event(r.id, { text: r.text, n: r.n }));
        const messages = packMessages(header, events, target, maxEvents);
        expect(unpack(messages)).toEqual(events);
        for (const m of messages) {
          expect(m.events).toBeGreaterThan(0);
          expect(m.events).toBeLessThanOrEqual(maxEvents);
          if (m.events > 1) expect(bytesOf(m.body)).toBeLessThanOrEqual(target);
          expect(m.bytes).toBeGreaterThanOrEqual(bytesOf(m.body));
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe("sendBatches", () => {
  it(`groups at most ${SEND_BATCH_MAX_MESSAGES} messages per sendBatch call`, () => {
    const messages = Array.from({ length: 250 }, (_, i) => sized(100, i));
    const groups = sendBatches(messages);
    expect(groups.map((g) => g.length)).toEqual([100, 100, 50]);
    expect(groups.flat()).toEqual(messages);
  });

  it(`groups at most ${SEND_BATCH_MAX_BYTES / 1024} KB per sendBatch call`, () => {
    const messages = Array.from({ length: 10 }, (_, i) => sized(50 * 1024, i));
    const groups = sendBatches(messages);
    expect(groups.map((g) => g.length)).toEqual([4, 4, 2]);
    for (const g of groups) expect(g.reduce((a, m) => a + m.bytes, 0)).toBeLessThanOrEqual(SEND_BATCH_MAX_BYTES);
  });

  it("fills a group up to exactly the byte limit", () => {
    const groups = sendBatches([sized(SEND_BATCH_MAX_BYTES - 10, 0), sized(10, 1), sized(1, 2)]);
    expect(groups.map((g) => g.length)).toEqual([2, 1]);
  });

  it("returns no group for no messages", () => {
    expect(sendBatches([])).toEqual([]);
  });

  it("keeps every message once and in order within both limits, for any sizes", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 128 * 1024 }), { maxLength: 400 }), (sizes) => {
        const messages = sizes.map(sized);
        const groups = sendBatches(messages);
        expect(groups.flat()).toEqual(messages);
        for (const g of groups) {
          expect(g.length).toBeGreaterThan(0);
          expect(g.length).toBeLessThanOrEqual(SEND_BATCH_MAX_MESSAGES);
          expect(g.reduce((a, m) => a + m.bytes, 0)).toBeLessThanOrEqual(SEND_BATCH_MAX_BYTES);
        }
      }),
    );
  });

  it("sends real packed messages within the limits", () => {
    const events = Array.from({ length: 3000 }, (_, i) => event(`m${i}`, { text: "x".repeat(200) }));
    const groups = sendBatches(packMessages(header, events, 8 * 1024));
    for (const g of groups) {
      expect(g.length).toBeLessThanOrEqual(SEND_BATCH_MAX_MESSAGES);
      expect(g.reduce((a, m) => a + bytesOf(m.body), 0)).toBeLessThanOrEqual(SEND_BATCH_MAX_BYTES);
    }
    expect(unpack(groups.flat())).toEqual(events);
  });
});

describe("enqueue", () => {
  const recorder = () => {
    const calls: MessageSendRequest[][] = [];
    return { calls, sendBatch: async (msgs: Iterable<MessageSendRequest>) => void calls.push([...msgs]) };
  };

  it("sends the header (v: 1) with the events packed, in sendBatch-sized groups, as text with the delay", async () => {
    const queue = recorder();
    const events = Array.from({ length: 3000 }, (_, i) => event(`m${i}`, { text: "x".repeat(200) }));
    await enqueue(queue, { dest: "hook", source: "web", t0: 5, tries: 2, lastError: "boom" }, events, { delaySeconds: 30 });
    expect(queue.calls.length).toBeGreaterThan(1);
    const sent = queue.calls.flat();
    for (const m of sent) expect(m).toMatchObject({ contentType: "text", delaySeconds: 30 });
    const parsed = sent.map((m) => parseDeliveryMessage(m.body)!);
    for (const p of parsed) expect(p).toMatchObject({ v: 1, dest: "hook", source: "web", t0: 5, tries: 2, lastError: "boom" });
    expect(parsed.flatMap((p) => p.events)).toEqual(events);
  });

  it("sends nothing for no events, and rejects when a binding throws instead of rejecting", async () => {
    const queue = recorder();
    await enqueue(queue, { dest: "hook", source: "web", t0: 5, tries: 0 }, []);
    expect(queue.calls).toEqual([]);
    const throwing = { sendBatch: (): Promise<void> => { throw new Error("binding gone"); } };
    await expect(enqueue(throwing, { dest: "hook", source: "web", t0: 5, tries: 0 }, [event("a")])).rejects.toThrow("binding gone");
  });
});

describe("bodyText", () => {
  it("keeps a body whole: text as it is, bytes as base64, other values as JSON", () => {
    const long = `{not json ${"x".repeat(5000)}`;
    expect(bodyText(long)).toEqual({ body: long });
    expect(bodyText(new Uint8Array([0, 255, 1]))).toEqual({ body: "AP8B", bodyEncoding: "base64" });
    expect(bodyText(new Uint8Array([9, 0, 255, 1]).subarray(1))).toEqual({ body: "AP8B", bodyEncoding: "base64" });
    expect(bodyText(new Uint8Array([0, 255, 1]).buffer)).toEqual({ body: "AP8B", bodyEncoding: "base64" });
    const big = new Uint8Array(100_000).map((_, i) => i % 256);
    expect(Buffer.from(bodyText(big).body, "base64").equals(Buffer.from(big))).toBe(true);
    expect(bodyText({ v: 2, dest: "x" })).toEqual({ body: '{"v":2,"dest":"x"}' });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(bodyText(cyclic)).toEqual({ body: "[object Object]" });
    expect(bodyText(undefined)).toEqual({ body: "undefined" });
  });
});

describe("routedSends", () => {
  it("queues a destination's events for delivery (pending if so) and what a filter threw on for the dead letters", () => {
    const failed = { pending: "all" as const, reason: "filters of source:web threw: Error: boom", events: [event("b")] };
    expect(routedSends({ events: [event("a")], pending: "destination", failed: [failed] })).toEqual([
      { queue: "DELIVERIES", fields: { pending: "destination" }, events: [event("a")] },
      { queue: "DEAD_LETTERS", fields: { pending: "all", failure: { code: "filter_error", reason: failed.reason } }, events: [event("b")] },
    ]);
    expect(routedSends({ events: [event("a")] })).toEqual([{ queue: "DELIVERIES", fields: {}, events: [event("a")] }]);
  });
});

describe("parseDeliveryMessage", () => {
  const valid: DeliveryMessage = { ...header, events: [event("a")] };

  it("parses a message from its JSON text or an already-parsed object", () => {
    expect(parseDeliveryMessage(JSON.stringify(valid))).toEqual(valid);
    expect(parseDeliveryMessage(valid)).toEqual(valid);
    const failed = { ...valid, pending: "destination" as const, failure: { code: "filter_error", reason: "filters of destination:hook threw: Error: x" } };
    expect(parseDeliveryMessage(JSON.stringify(failed))).toEqual(failed);
  });

  it.each<[string, unknown]>([
    ["invalid JSON", "{not json"],
    ["null", null],
    ["a number", 42],
    ["JSON null", "null"],
    ["another version", { ...valid, v: 2 }],
    ["a missing dest", { ...valid, dest: undefined }],
    ["a numeric dest", { ...valid, dest: 7 }],
    ["a missing source", { ...valid, source: undefined }],
    ["events that are not a list", { ...valid, events: {} }],
    ["a t0 that is not a number", { ...valid, t0: "yesterday" }],
    ["missing tries", { ...valid, tries: undefined }],
    ["a failure without a reason", { ...valid, failure: { code: "filter_error" } }],
    ["a failure that is a string", { ...valid, failure: "boom" }],
  ])("rejects %s", (_what, body) => {
    const input = typeof body === "string" || body === null || typeof body !== "object" ? body : JSON.stringify(body);
    expect(parseDeliveryMessage(input)).toBeUndefined();
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { backoffSeconds, classify, DEFAULT_RETRY_POLICY, type Attempt, type RetryPolicy } from "../../src/delivery/classify.ts";
import type { EventResult } from "../../src/delivery/destination.ts";
import { errorForResponse, isRetryableStatus, parseRetryAfter, PermanentError, RetryableError, unsendable } from "../../src/delivery/errors.ts";
import type { SluiceEvent } from "../../src/pipeline/normalize.ts";

const T0 = Date.parse("2024-05-01T12:00:00.000Z");
const HOUR = 3600_000;

function events(n: number): SluiceEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    type: "track" as const,
    event: "E",
    userId: "u",
    messageId: `m${i}`,
    receivedAt: "2024-05-01T12:00:00.000Z",
    timestamp: "2024-05-01T12:00:00.000Z",
  }));
}

const ok: EventResult = { ok: true };
const unavailable: EventResult = { ok: false, error: new RetryableError("HTTP 503: down", 503) };
const throttled: EventResult = { ok: false, error: new RetryableError("HTTP 429: slow down", 429, 120) };
const badRequest: EventResult = { ok: false, error: new PermanentError("HTTP 400: bad payload", 400) };
const gone: EventResult = { ok: false, error: new PermanentError("HTTP 404: no such hook", 404) };

/** Attempt 1, one minute after acceptance, jitter at the middle. */
const first: Attempt = { attempt: 1, acceptedAt: T0, now: T0 + 60_000, random: 0.5 };

describe("classify", () => {
  it.each<[string, EventResult[], Attempt, unknown]>([
    ["acks when every event was delivered", [ok, ok, ok], first, { kind: "ack", delivered: 3 }],
    [
      "retries with backoff when every event failed retryably",
      [unavailable, unavailable],
      first,
      { kind: "retry", delaySeconds: backoffSeconds(1, undefined, 0.5, DEFAULT_RETRY_POLICY), error: "HTTP 503: down" },
    ],
    ["honours the destination's Retry-After", [throttled, throttled], first, { kind: "retry", delaySeconds: 120, error: "HTTP 429: slow down" }],
    [
      "reports the first retryable error and its Retry-After for the message",
      [throttled, unavailable],
      { ...first, attempt: 4 },
      { kind: "retry", delaySeconds: 120, error: "HTTP 429: slow down" },
    ],
    ["dead-letters when every event failed permanently", [badRequest, gone], first, { kind: "dead-letter", reason: "rejected by destination: HTTP 400: bad payload" }],
  ])("%s", (_name, results, at, expected) => {
    expect(classify(events(results.length), results, at)).toEqual(expected);
  });

  it("acks an empty message", () => {
    expect(classify([], [], first)).toEqual({ kind: "ack", delivered: 0 });
  });

  it("splits a mixed result: delivered counted, retryable events retried, permanent ones dead-lettered", () => {
    const evs = events(5);
    const decision = classify(evs, [ok, unavailable, badRequest, ok, unavailable], first);
    expect(decision).toEqual({
      kind: "split",
      delivered: 2,
      retry: { events: [evs[1], evs[4]], delaySeconds: backoffSeconds(1, undefined, 0.5, DEFAULT_RETRY_POLICY), error: "HTTP 503: down" },
      deadLetter: { events: [evs[2]], reason: "rejected by destination: HTTP 400: bad payload" },
    });
  });

  it("splits delivered and retryable events without a dead letter", () => {
    const evs = events(3);
    const decision = classify(evs, [throttled, ok, ok], first);
    expect(decision).toEqual({ kind: "split", delivered: 2, retry: { events: [evs[0]], delaySeconds: 120, error: "HTTP 429: slow down" }, deadLetter: undefined });
  });

  it("splits delivered and permanent events without a retry", () => {
    const evs = events(3);
    const decision = classify(evs, [ok, gone, ok], first);
    expect(decision).toEqual({ kind: "split", delivered: 2, retry: undefined, deadLetter: { events: [evs[1]], reason: "rejected by destination: HTTP 404: no such hook" } });
  });

  it("splits retryable and permanent failures even when nothing was delivered", () => {
    const evs = events(2);
    const decision = classify(evs, [badRequest, unavailable], first);
    expect(decision).toMatchObject({ kind: "split", delivered: 0, retry: { events: [evs[1]] }, deadLetter: { events: [evs[0]] } });
  });

  it("dead-letters retryable failures once the retry window is exhausted, naming the window", () => {
    const decision = classify(events(2), [unavailable, unavailable], { attempt: 7, acceptedAt: T0, now: T0 + 4 * HOUR, random: 0.5 });
    expect(decision).toEqual({ kind: "dead-letter", reason: "retry window of 4 h exhausted after 7 attempt(s); last error: HTTP 503: down" });
  });

  it("still retries just before the window ends", () => {
    const decision = classify(events(1), [unavailable], { attempt: 7, acceptedAt: T0, now: T0 + 4 * HOUR - 1, random: 0.5 });
    expect(decision.kind).toBe("retry");
  });

  it("names a custom window in hours", () => {
    const policy: RetryPolicy = { windowMs: 90 * 60_000, baseDelaySeconds: 5, maxDelaySeconds: 600 };
    const decision = classify(events(1), [unavailable], { attempt: 3, acceptedAt: T0, now: T0 + 2 * HOUR, random: 0.5 }, policy);
    expect(decision).toMatchObject({ kind: "dead-letter", reason: expect.stringContaining("retry window of 1.5 h exhausted after 3 attempt(s)") });
  });

  it("dead-letters both retryable and permanent failures together after the window, with both reasons", () => {
    const evs = events(3);
    const decision = classify(evs, [unavailable, badRequest, ok], { attempt: 9, acceptedAt: T0, now: T0 + 5 * HOUR, random: 0.5 });
    expect(decision).toMatchObject({ kind: "split", delivered: 1, retry: undefined, deadLetter: { events: [evs[0], evs[1]] } });
    if (decision.kind !== "split") throw new Error("expected a split");
    expect(decision.deadLetter!.reason).toContain("retry window of 4 h exhausted");
    expect(decision.deadLetter!.reason).toContain("rejected by destination: HTTP 400: bad payload");
  });

  it("dead-letters a whole message whose retryable and permanent failures outlived the window", () => {
    const decision = classify(events(2), [unavailable, gone], { attempt: 9, acceptedAt: T0, now: T0 + 5 * HOUR, random: 0.5 });
    expect(decision).toMatchObject({ kind: "dead-letter", reason: expect.stringMatching(/window of 4 h exhausted.*HTTP 503.*rejected by destination: HTTP 404/) });
  });

  it("says an event the adapter could not send was not sent, not rejected by the destination", () => {
    const evs = events(2);
    const decision = classify(evs, [ok, { ok: false, error: unsendable(new TypeError("invalid header value")) }], { attempt: 1, acceptedAt: T0, now: T0, random: 0.5 });
    expect(decision).toEqual({ kind: "split", delivered: 1, retry: undefined, deadLetter: { events: [evs[1]], reason: "not sent: event could not be sent: invalid header value" } });
  });

  it("refuses results that do not cover every event", () => {
    expect(() => classify(events(3), [ok, ok], first)).toThrow(/2 results for 3 events/);
  });
});

describe("backoffSeconds", () => {
  const policy = DEFAULT_RETRY_POLICY;

  it("grows exponentially from the base delay up to the cap (middle jitter)", () => {
    const delays = Array.from({ length: 11 }, (_, i) => backoffSeconds(i + 1, undefined, 0.5, policy));
    expect(delays).toEqual([4, 8, 15, 30, 60, 120, 240, 480, 960, 1350, 1350]);
  });

  it("matches the documented example", () => {
    expect(backoffSeconds(3, undefined, 0.5, policy)).toBe(15);
  });

  it("spans 50% to 100% of the exponential step with jitter", () => {
    expect(backoffSeconds(5, undefined, 0, policy)).toBe(40);
    expect(backoffSeconds(5, undefined, 0.999_999, policy)).toBe(80);
    expect(backoffSeconds(20, undefined, 0, policy)).toBe(900);
    expect(backoffSeconds(20, undefined, 0.999_999, policy)).toBe(1800);
  });

  it("treats attempt 0 like attempt 1 and never returns less than one second", () => {
    expect(backoffSeconds(0, undefined, 0.5, policy)).toBe(backoffSeconds(1, undefined, 0.5, policy));
    expect(backoffSeconds(1, undefined, 0, { windowMs: HOUR, baseDelaySeconds: 1, maxDelaySeconds: 10 })).toBe(1);
  });

  it("stays within the jitter bounds for any attempt and random value", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 7200 }),
        (attempt, random, base, max) => {
          const p: RetryPolicy = { windowMs: 4 * HOUR, baseDelaySeconds: base, maxDelaySeconds: max };
          const step = Math.min(max, base * 2 ** (attempt - 1));
          const delay = backoffSeconds(attempt, undefined, random, p);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(Math.max(1, Math.floor(step / 2)));
          expect(delay).toBeLessThanOrEqual(Math.max(1, Math.ceil(step)));
        },
      ),
    );
  });

  it("never decreases from one attempt to the next at the same jitter", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, random) => {
        expect(backoffSeconds(attempt + 1, undefined, random, policy)).toBeGreaterThanOrEqual(backoffSeconds(attempt, undefined, random, policy));
      }),
    );
  });

  it.each([
    [120, 120],
    [2.2, 3],
    [0, 1],
    [86_400, 43_200],
  ])("uses Retry-After %s s as a delay of %s s (at least 1 s, at most the 12 h queue limit)", (retryAfter, expected) => {
    expect(backoffSeconds(3, retryAfter, 0.5, policy)).toBe(expected);
  });
});

describe("isRetryableStatus", () => {
  it.each([
    [200, false],
    [201, false],
    [204, false],
    [301, false],
    [304, false],
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [408, true],
    [409, false],
    [410, false],
    [413, false],
    [422, false],
    [423, true],
    [429, true],
    [500, true],
    [501, false],
    [502, true],
    [503, true],
    [504, true],
    [505, true],
    [599, true],
  ])("status %i → retryable %s", (status, expected) => {
    expect(isRetryableStatus(status)).toBe(expected);
  });

  it("follows Segment's rule for every status from 200 to 599", () => {
    for (let status = 200; status <= 599; status++) {
      const expected = status === 408 || status === 423 || status === 429 || (status >= 500 && status !== 501);
      expect(isRetryableStatus(status), `status ${status}`).toBe(expected);
    }
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2024-05-01T12:00:00.000Z");

  it.each<[string, string | null, number | undefined]>([
    ["delta-seconds", "120", 120],
    ["zero seconds", "0", 0],
    ["seconds with surrounding spaces", "  30 ", 30],
    ["an HTTP date 90 s ahead", "Wed, 01 May 2024 12:01:30 GMT", 90],
    ["an HTTP date 1 s ahead", new Date(now + 1000).toUTCString(), 1],
    ["an HTTP date in the past", "Wed, 01 May 2024 11:00:00 GMT", 0],
    ["no header", null, undefined],
    ["an empty header", "", undefined],
    ["a word", "soon", undefined],
    ["a unit suffix", "10 seconds", undefined],
    ["a number followed by letters", "12abc", undefined],
    ["a negative number", "-1", undefined],
    ["a decimal number of seconds", "2.5", undefined],
  ])("reads %s (%j) as %s", (_what, header, expected) => {
    expect(parseRetryAfter(header, now)).toBe(expected);
  });
});

describe("errorForResponse", () => {
  const now = Date.parse("2024-05-01T12:00:00.000Z");

  it("returns nothing for 2xx", () => {
    for (const status of [200, 201, 202, 204, 299]) expect(errorForResponse(status, "", null, now)).toBeUndefined();
  });

  it("returns a RetryableError with status, snippet and Retry-After for retryable statuses", () => {
    const error = errorForResponse(429, "slow down", "42", now);
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ retryable: true, status: 429, retryAfterSeconds: 42, message: "HTTP 429: slow down" });
  });

  it("returns a PermanentError for other statuses", () => {
    const error = errorForResponse(400, "missing field", "42", now);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ retryable: false, status: 400, message: "HTTP 400: missing field" });
  });

  it("omits the snippet from the message when the body is empty", () => {
    expect(errorForResponse(503, "", null, now)?.message).toBe("HTTP 503");
  });
});

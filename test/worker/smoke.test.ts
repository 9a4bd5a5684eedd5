import { SELF } from "cloudflare:test";
import { expect, it } from "vitest";

it("accepts a track event with a Basic write key", async () => {
  const res = await SELF.fetch("http://sluice.test/v1/track", {
    method: "POST",
    headers: { authorization: `Basic ${btoa("wk_test_web_1:")}` },
    body: JSON.stringify({ userId: "u1", event: "Signed Up" }),
  });
  expect(await res.json()).toEqual({ success: true, accepted: 1 });
});

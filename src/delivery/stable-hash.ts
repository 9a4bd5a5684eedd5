/**
 * Deterministic, synchronous hashes for ids vendor kinds derive from event fields (`map` is synchronous, so
 * crypto.subtle is out): not for secrets, only so the same input always gives the same id on every redelivery.
 */

/**
 * A 128-bit hash of a string as 32 hex characters (cyrb128, not cryptographic): a stable stand-in for an id a
 * vendor refuses as it is (too long, other characters), so a redelivery still carries the same id.
 */
export function hashId(s: string): string {
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < s.length; i++) {
    const k = s.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1, h2, h3, h4].map((h) => (h >>> 0).toString(16).padStart(8, "0")).join("");
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The id itself when it is a UUID (lower-cased), else a UUID-shaped id from its 128-bit hash, with the version
 * nibble 5 and the RFC 4122 variant, so vendors that insist on a UUID take it.
 * @example uuidFor("msg-1") // "xxxxxxxx-xxxx-5xxx-[89ab]xxx-xxxxxxxxxxxx", the same every time
 */
export function uuidFor(id: string): string {
  if (UUID.test(id)) return id.toLowerCase();
  const hex = hashId(id);
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Two unsigned 32-bit numbers of a string's hash, as `<digits>.<digits>` (the shape of Google Analytics' own
 * client ids).
 * @example digitPairFor("user-1") // the same string every time, e.g. "3982274113.512873611"
 */
export function digitPairFor(s: string): string {
  const hex = hashId(s);
  return `${parseInt(hex.slice(0, 8), 16)}.${parseInt(hex.slice(8, 16), 16)}`;
}

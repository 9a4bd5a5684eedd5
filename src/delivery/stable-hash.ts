/**
 * Deterministic, synchronous hashes for ids vendor kinds derive from event fields (`map` is synchronous, so
 * crypto.subtle is out): not for secrets, only so the same input always gives the same id on every redelivery.
 */

/**
 * 32 bits of a seeded FNV-1a over UTF-16 units, finished with murmur3's fmix32 so that nearby inputs and seeds
 * spread over all bits.
 * @example hash32("user-1", 1) === hash32("user-1", 1) // true
 */
export function hash32(text: string, seed = 0): number {
  let h = (0x811c9dc5 ^ Math.imul(seed, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The id itself when it is a UUID (lower-cased), else a UUID-shaped id derived from it: 128 bits from four
 * seeded hashes, with the version nibble 5 and the RFC 4122 variant, so vendors that insist on a UUID take it.
 * @example uuidFor("msg-1") // "xxxxxxxx-xxxx-5xxx-[89ab]xxx-xxxxxxxxxxxx", the same every time
 */
export function uuidFor(id: string): string {
  if (UUID.test(id)) return id.toLowerCase();
  const hex = [1, 2, 3, 4].map((seed) => hash32(id, seed).toString(16).padStart(8, "0")).join("");
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * MD5 for deterministic sampling, in plain TypeScript (no Node or Workers APIs).
 *
 * Sampling hashes one short string per event (the JSON of the sampled value) and needs only the first 8 bytes of
 * the digest. node:crypto's `createHash("md5")` costs a few microseconds per call for that (object, Buffer and
 * binding overhead); this costs a fraction of that: the string is UTF-8-encoded straight into a reusable
 * module-level buffer, padded in place, and run through fully unrolled rounds on 32-bit integers. No allocation
 * per call while the input fits the retained buffer (it grows on demand up to {@link MAX_RETAINED_BYTES}; larger
 * inputs get a one-off buffer that is not kept, so one huge key cannot pin memory for the isolate's lifetime).
 *
 * UTF-8 encoding matches `TextEncoder` (and Node's `Buffer.from(s, "utf8")`): surrogate pairs become one 4-byte
 * sequence, lone surrogates become U+FFFD (EF BF BD).
 *
 * Not re-entrant across threads (there are none) and not for cryptographic use (MD5 is broken for that).
 */

/** The retained encode buffer never grows beyond this (bytes); longer inputs use a temporary buffer. */
const MAX_RETAINED_BYTES = 1 << 16;

/** MD5 words are little-endian; on a (hypothetical) big-endian host the Int32Array view needs a byte swap. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

let bytes = new Uint8Array(256);
let words = new Int32Array(bytes.buffer);

// Digest state after the last call: the four MD5 words a, b, c, d (as int32, little-endian byte order).
let h0 = 0;
let h1 = 0;
let h2 = 0;
let h3 = 0;

/**
 * UTF-8-encodes `s`, pads it per RFC 1321 and hashes it; the digest is left in h0..h3.
 */
function digest(s: string): void {
  const len = s.length;
  // Worst case 3 bytes per UTF-16 unit (a surrogate pair is 2 units → 4 bytes), plus 0x80, zero fill and the
  // 8-byte length: at most 72 bytes of padding.
  const worst = len * 3 + 72;
  let buf = bytes;
  let w = words;
  if (worst > buf.length) {
    if (worst <= MAX_RETAINED_BYTES) {
      let size = buf.length;
      while (size < worst) size *= 2;
      bytes = buf = new Uint8Array(size);
      words = w = new Int32Array(buf.buffer);
    } else {
      buf = new Uint8Array((worst + 63) & ~63);
      w = new Int32Array(buf.buffer);
    }
  }

  let p = 0;
  for (let i = 0; i < len; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[p++] = c;
    } else if (c < 0x800) {
      buf[p++] = 0xc0 | (c >> 6);
      buf[p++] = 0x80 | (c & 0x3f);
    } else {
      if ((c & 0xf800) === 0xd800) {
        // A surrogate: a high one followed by a low one is a supplementary code point; anything else is lone.
        const next = i + 1 < len ? s.charCodeAt(i + 1) : 0;
        if (c < 0xdc00 && (next & 0xfc00) === 0xdc00) {
          const cp = ((c - 0xd800) << 10) + (next - 0xdc00) + 0x10000;
          buf[p++] = 0xf0 | (cp >> 18);
          buf[p++] = 0x80 | ((cp >> 12) & 0x3f);
          buf[p++] = 0x80 | ((cp >> 6) & 0x3f);
          buf[p++] = 0x80 | (cp & 0x3f);
          i++;
          continue;
        }
        c = 0xfffd;
      }
      buf[p++] = 0xe0 | (c >> 12);
      buf[p++] = 0x80 | ((c >> 6) & 0x3f);
      buf[p++] = 0x80 | (c & 0x3f);
    }
  }

  // Padding: 0x80, zeros up to 56 mod 64, then the message length in bits as a little-endian uint64.
  const end = ((p + 8) & ~63) + 64;
  buf[p] = 0x80;
  for (let i = p + 1; i < end - 8; i++) buf[i] = 0;
  const bitsLow = (p << 3) >>> 0;
  const bitsHigh = Math.floor(p / 0x20000000);
  buf[end - 8] = bitsLow;
  buf[end - 7] = bitsLow >>> 8;
  buf[end - 6] = bitsLow >>> 16;
  buf[end - 5] = bitsLow >>> 24;
  buf[end - 4] = bitsHigh;
  buf[end - 3] = bitsHigh >>> 8;
  buf[end - 2] = bitsHigh >>> 16;
  buf[end - 1] = bitsHigh >>> 24;

  const nWords = end >> 2;
  if (!LITTLE_ENDIAN) for (let i = 0; i < nWords; i++) w[i] = bswap(w[i]!);
  compress(w, nWords);
}

function bswap(x: number): number {
  return ((x << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) | 0;
}

/** Runs the MD5 compression function over `w[0..nWords)` (whole 16-word blocks) from the initial state. */
function compress(w: Int32Array, nWords: number): void {
  let a = 0x67452301;
  let b = 0xefcdab89 | 0;
  let c = 0x98badcfe | 0;
  let d = 0x10325476;
  for (let o = 0; o < nWords; o += 16) {
    const x0 = w[o]!, x1 = w[o + 1]!, x2 = w[o + 2]!, x3 = w[o + 3]!;
    const x4 = w[o + 4]!, x5 = w[o + 5]!, x6 = w[o + 6]!, x7 = w[o + 7]!;
    const x8 = w[o + 8]!, x9 = w[o + 9]!, x10 = w[o + 10]!, x11 = w[o + 11]!;
    const x12 = w[o + 12]!, x13 = w[o + 13]!, x14 = w[o + 14]!, x15 = w[o + 15]!;
    const aa = a, bb = b, cc = c, dd = d;

    // round 1
    a = (a + (d ^ (b & (c ^ d))) + x0 + -680876936) | 0;
    a = (((a << 7) | (a >>> 25)) + b) | 0;
    d = (d + (c ^ (a & (b ^ c))) + x1 + -389564586) | 0;
    d = (((d << 12) | (d >>> 20)) + a) | 0;
    c = (c + (b ^ (d & (a ^ b))) + x2 + 606105819) | 0;
    c = (((c << 17) | (c >>> 15)) + d) | 0;
    b = (b + (a ^ (c & (d ^ a))) + x3 + -1044525330) | 0;
    b = (((b << 22) | (b >>> 10)) + c) | 0;
    a = (a + (d ^ (b & (c ^ d))) + x4 + -176418897) | 0;
    a = (((a << 7) | (a >>> 25)) + b) | 0;
    d = (d + (c ^ (a & (b ^ c))) + x5 + 1200080426) | 0;
    d = (((d << 12) | (d >>> 20)) + a) | 0;
    c = (c + (b ^ (d & (a ^ b))) + x6 + -1473231341) | 0;
    c = (((c << 17) | (c >>> 15)) + d) | 0;
    b = (b + (a ^ (c & (d ^ a))) + x7 + -45705983) | 0;
    b = (((b << 22) | (b >>> 10)) + c) | 0;
    a = (a + (d ^ (b & (c ^ d))) + x8 + 1770035416) | 0;
    a = (((a << 7) | (a >>> 25)) + b) | 0;
    d = (d + (c ^ (a & (b ^ c))) + x9 + -1958414417) | 0;
    d = (((d << 12) | (d >>> 20)) + a) | 0;
    c = (c + (b ^ (d & (a ^ b))) + x10 + -42063) | 0;
    c = (((c << 17) | (c >>> 15)) + d) | 0;
    b = (b + (a ^ (c & (d ^ a))) + x11 + -1990404162) | 0;
    b = (((b << 22) | (b >>> 10)) + c) | 0;
    a = (a + (d ^ (b & (c ^ d))) + x12 + 1804603682) | 0;
    a = (((a << 7) | (a >>> 25)) + b) | 0;
    d = (d + (c ^ (a & (b ^ c))) + x13 + -40341101) | 0;
    d = (((d << 12) | (d >>> 20)) + a) | 0;
    c = (c + (b ^ (d & (a ^ b))) + x14 + -1502002290) | 0;
    c = (((c << 17) | (c >>> 15)) + d) | 0;
    b = (b + (a ^ (c & (d ^ a))) + x15 + 1236535329) | 0;
    b = (((b << 22) | (b >>> 10)) + c) | 0;
    // round 2
    a = (a + (c ^ (d & (b ^ c))) + x1 + -165796510) | 0;
    a = (((a << 5) | (a >>> 27)) + b) | 0;
    d = (d + (b ^ (c & (a ^ b))) + x6 + -1069501632) | 0;
    d = (((d << 9) | (d >>> 23)) + a) | 0;
    c = (c + (a ^ (b & (d ^ a))) + x11 + 643717713) | 0;
    c = (((c << 14) | (c >>> 18)) + d) | 0;
    b = (b + (d ^ (a & (c ^ d))) + x0 + -373897302) | 0;
    b = (((b << 20) | (b >>> 12)) + c) | 0;
    a = (a + (c ^ (d & (b ^ c))) + x5 + -701558691) | 0;
    a = (((a << 5) | (a >>> 27)) + b) | 0;
    d = (d + (b ^ (c & (a ^ b))) + x10 + 38016083) | 0;
    d = (((d << 9) | (d >>> 23)) + a) | 0;
    c = (c + (a ^ (b & (d ^ a))) + x15 + -660478335) | 0;
    c = (((c << 14) | (c >>> 18)) + d) | 0;
    b = (b + (d ^ (a & (c ^ d))) + x4 + -405537848) | 0;
    b = (((b << 20) | (b >>> 12)) + c) | 0;
    a = (a + (c ^ (d & (b ^ c))) + x9 + 568446438) | 0;
    a = (((a << 5) | (a >>> 27)) + b) | 0;
    d = (d + (b ^ (c & (a ^ b))) + x14 + -1019803690) | 0;
    d = (((d << 9) | (d >>> 23)) + a) | 0;
    c = (c + (a ^ (b & (d ^ a))) + x3 + -187363961) | 0;
    c = (((c << 14) | (c >>> 18)) + d) | 0;
    b = (b + (d ^ (a & (c ^ d))) + x8 + 1163531501) | 0;
    b = (((b << 20) | (b >>> 12)) + c) | 0;
    a = (a + (c ^ (d & (b ^ c))) + x13 + -1444681467) | 0;
    a = (((a << 5) | (a >>> 27)) + b) | 0;
    d = (d + (b ^ (c & (a ^ b))) + x2 + -51403784) | 0;
    d = (((d << 9) | (d >>> 23)) + a) | 0;
    c = (c + (a ^ (b & (d ^ a))) + x7 + 1735328473) | 0;
    c = (((c << 14) | (c >>> 18)) + d) | 0;
    b = (b + (d ^ (a & (c ^ d))) + x12 + -1926607734) | 0;
    b = (((b << 20) | (b >>> 12)) + c) | 0;
    // round 3
    a = (a + (b ^ c ^ d) + x5 + -378558) | 0;
    a = (((a << 4) | (a >>> 28)) + b) | 0;
    d = (d + (a ^ b ^ c) + x8 + -2022574463) | 0;
    d = (((d << 11) | (d >>> 21)) + a) | 0;
    c = (c + (d ^ a ^ b) + x11 + 1839030562) | 0;
    c = (((c << 16) | (c >>> 16)) + d) | 0;
    b = (b + (c ^ d ^ a) + x14 + -35309556) | 0;
    b = (((b << 23) | (b >>> 9)) + c) | 0;
    a = (a + (b ^ c ^ d) + x1 + -1530992060) | 0;
    a = (((a << 4) | (a >>> 28)) + b) | 0;
    d = (d + (a ^ b ^ c) + x4 + 1272893353) | 0;
    d = (((d << 11) | (d >>> 21)) + a) | 0;
    c = (c + (d ^ a ^ b) + x7 + -155497632) | 0;
    c = (((c << 16) | (c >>> 16)) + d) | 0;
    b = (b + (c ^ d ^ a) + x10 + -1094730640) | 0;
    b = (((b << 23) | (b >>> 9)) + c) | 0;
    a = (a + (b ^ c ^ d) + x13 + 681279174) | 0;
    a = (((a << 4) | (a >>> 28)) + b) | 0;
    d = (d + (a ^ b ^ c) + x0 + -358537222) | 0;
    d = (((d << 11) | (d >>> 21)) + a) | 0;
    c = (c + (d ^ a ^ b) + x3 + -722521979) | 0;
    c = (((c << 16) | (c >>> 16)) + d) | 0;
    b = (b + (c ^ d ^ a) + x6 + 76029189) | 0;
    b = (((b << 23) | (b >>> 9)) + c) | 0;
    a = (a + (b ^ c ^ d) + x9 + -640364487) | 0;
    a = (((a << 4) | (a >>> 28)) + b) | 0;
    d = (d + (a ^ b ^ c) + x12 + -421815835) | 0;
    d = (((d << 11) | (d >>> 21)) + a) | 0;
    c = (c + (d ^ a ^ b) + x15 + 530742520) | 0;
    c = (((c << 16) | (c >>> 16)) + d) | 0;
    b = (b + (c ^ d ^ a) + x2 + -995338651) | 0;
    b = (((b << 23) | (b >>> 9)) + c) | 0;
    // round 4
    a = (a + (c ^ (b | ~d)) + x0 + -198630844) | 0;
    a = (((a << 6) | (a >>> 26)) + b) | 0;
    d = (d + (b ^ (a | ~c)) + x7 + 1126891415) | 0;
    d = (((d << 10) | (d >>> 22)) + a) | 0;
    c = (c + (a ^ (d | ~b)) + x14 + -1416354905) | 0;
    c = (((c << 15) | (c >>> 17)) + d) | 0;
    b = (b + (d ^ (c | ~a)) + x5 + -57434055) | 0;
    b = (((b << 21) | (b >>> 11)) + c) | 0;
    a = (a + (c ^ (b | ~d)) + x12 + 1700485571) | 0;
    a = (((a << 6) | (a >>> 26)) + b) | 0;
    d = (d + (b ^ (a | ~c)) + x3 + -1894986606) | 0;
    d = (((d << 10) | (d >>> 22)) + a) | 0;
    c = (c + (a ^ (d | ~b)) + x10 + -1051523) | 0;
    c = (((c << 15) | (c >>> 17)) + d) | 0;
    b = (b + (d ^ (c | ~a)) + x1 + -2054922799) | 0;
    b = (((b << 21) | (b >>> 11)) + c) | 0;
    a = (a + (c ^ (b | ~d)) + x8 + 1873313359) | 0;
    a = (((a << 6) | (a >>> 26)) + b) | 0;
    d = (d + (b ^ (a | ~c)) + x15 + -30611744) | 0;
    d = (((d << 10) | (d >>> 22)) + a) | 0;
    c = (c + (a ^ (d | ~b)) + x6 + -1560198380) | 0;
    c = (((c << 15) | (c >>> 17)) + d) | 0;
    b = (b + (d ^ (c | ~a)) + x13 + 1309151649) | 0;
    b = (((b << 21) | (b >>> 11)) + c) | 0;
    a = (a + (c ^ (b | ~d)) + x4 + -145523070) | 0;
    a = (((a << 6) | (a >>> 26)) + b) | 0;
    d = (d + (b ^ (a | ~c)) + x11 + -1120210379) | 0;
    d = (((d << 10) | (d >>> 22)) + a) | 0;
    c = (c + (a ^ (d | ~b)) + x2 + 718787259) | 0;
    c = (((c << 15) | (c >>> 17)) + d) | 0;
    b = (b + (d ^ (c | ~a)) + x9 + -343485551) | 0;
    b = (((b << 21) | (b >>> 11)) + c) | 0;

    a = (a + aa) | 0;
    b = (b + bb) | 0;
    c = (c + cc) | 0;
    d = (d + dd) | 0;
  }
  h0 = a;
  h1 = b;
  h2 = c;
  h3 = d;
}

const TWO_POW_32 = 4294967296;
const TWO_POW_MINUS_64 = 1 / 18446744073709551616; // 2^-64, exact

/**
 * `uint64(first 8 bytes of MD5(UTF-8(s)), big-endian) / 2^64`, as a double.
 *
 * Computed as `(hi·2^32 + lo)·2^-64` where hi/lo are digest bytes 0–3 / 4–7 read big-endian. `hi·2^32` is exact,
 * the single addition rounds the 64-bit integer to the nearest double (ties to even), exactly like
 * `Number(buffer.readBigUInt64BE(0))`; the scaling by 2^-64 is exact. So the result equals
 * `Number(BigInt prefix) / 2 ** 64` bit for bit.
 *
 * Rounding edges (each needs the 64-bit prefix to land within 2^-54 relative of a boundary, ~2^-54 probability):
 *  - the result can be exactly 1 (prefix ≥ 2^64 − 2^10 rounds up to 2^64), so the range is [0, 1], not [0, 1);
 *  - `md5Fraction(s) < p` can be false when the exact `prefix < p·2^64` is true, but only if
 *    `md5Fraction(s) === p` (rounding is monotonic and p·2^64 is a double, so `<` and `>` are never wrong).
 *    Callers that need the exact answer resolve that tie with {@link md5PrefixBelow}.
 */
export function md5Fraction(s: string): number {
  digest(s);
  return ((bswap(h0) >>> 0) * TWO_POW_32 + (bswap(h1) >>> 0)) * TWO_POW_MINUS_64;
}

/**
 * Exact: whether the big-endian uint64 prefix of MD5(UTF-8(s)) is below `high·2^32 + low` (two uint32 halves).
 */
export function md5PrefixBelow(s: string, high: number, low: number): boolean {
  digest(s);
  const hi = bswap(h0) >>> 0;
  return hi < high || (hi === high && bswap(h1) >>> 0 < low);
}

/** The full MD5 digest of UTF-8(s) as 32 lowercase hex digits (for tests and debugging; allocates). */
export function md5Hex(s: string): string {
  digest(s);
  let out = "";
  for (const word of [h0, h1, h2, h3]) out += (bswap(word) >>> 0).toString(16).padStart(8, "0");
  return out;
}

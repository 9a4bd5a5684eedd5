/**
 * HyperLogLog (Flajolet et al. 2007) for counting distinct users (MTU): 2^p one-byte registers, mergeable by
 * taking the maximum register by register, serialized as bytes for SQLite. With the default p = 12 a sketch is
 * 4 KB and its standard error is 1.04/√4096 ≈ 1.6 %; below 2.5·m distinct values it counts by linear counting,
 * which is close to exact. Hashes are 64-bit, so no large-range correction is needed.
 *
 * @example
 *   const a = new HyperLogLog(); a.add("user-1"); a.add("user-2");
 *   const b = HyperLogLog.fromBytes(a.toBytes()); b.add("user-1");
 *   Math.round(b.count()) // 2
 */

const FORMAT_VERSION = 1;
export const DEFAULT_PRECISION = 12;

/**
 * A 64-bit hash of a string as two 32-bit halves (cyrb53's mixing over UTF-16 units, keeping both halves).
 * Deterministic everywhere, so sketches from different isolates merge.
 */
export function hash64(s: string, seed = 0): [number, number] {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}

function alpha(m: number): number {
  if (m === 16) return 0.673;
  if (m === 32) return 0.697;
  if (m === 64) return 0.709;
  return 0.7213 / (1 + 1.079 / m);
}

export class HyperLogLog {
  readonly registers: Uint8Array;

  /** @param p precision, 4–16: 2^p registers. */
  constructor(readonly p = DEFAULT_PRECISION, registers?: Uint8Array) {
    if (!Number.isInteger(p) || p < 4 || p > 16) throw new RangeError(`HyperLogLog precision must be 4–16, got ${p}`);
    const m = 1 << p;
    if (registers && registers.length !== m) throw new RangeError(`expected ${m} registers, got ${registers.length}`);
    this.registers = registers ?? new Uint8Array(m);
  }

  /** The theoretical relative standard error of this sketch's estimate. */
  get standardError(): number {
    return 1.04 / Math.sqrt(this.registers.length);
  }

  /** Adds a value; true when the sketch changed. */
  add(value: string): boolean {
    const [h1, h2] = hash64(value);
    return this.addHash(h1, h2);
  }

  /** Adds a precomputed 64-bit hash: the top p bits pick the register, the rest give the rank. */
  addHash(h1: number, h2: number): boolean {
    const p = this.p;
    const index = h1 >>> (32 - p);
    const rest = (h1 << p) >>> 0; // the 32 - p remaining bits of h1, moved to the top
    let rank: number;
    if (rest !== 0) rank = Math.clz32(rest) + 1;
    else rank = 32 - p + (h2 !== 0 ? Math.clz32(h2) + 1 : 33);
    if (rank > this.registers[index]!) {
      this.registers[index] = rank;
      return true;
    }
    return false;
  }

  /** Folds another sketch of the same precision into this one. */
  merge(other: HyperLogLog): this {
    if (other.p !== this.p) throw new RangeError(`cannot merge sketches of precision ${other.p} and ${this.p}`);
    const a = this.registers;
    const b = other.registers;
    for (let i = 0; i < a.length; i++) if (b[i]! > a[i]!) a[i] = b[i]!;
    return this;
  }

  isEmpty(): boolean {
    return this.registers.every((r) => r === 0);
  }

  /** Estimated number of distinct values added. */
  count(): number {
    const m = this.registers.length;
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < m; i++) {
      const r = this.registers[i]!;
      sum += 2 ** -r;
      if (r === 0) zeros++;
    }
    const raw = (alpha(m) * m * m) / sum;
    if (raw <= 2.5 * m && zeros > 0) return m * Math.log(m / zeros);
    return raw;
  }

  /** `[version, p, ...registers]`: what SQLite stores and RPC carries. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(2 + this.registers.length);
    out[0] = FORMAT_VERSION;
    out[1] = this.p;
    out.set(this.registers, 2);
    return out;
  }

  static fromBytes(bytes: Uint8Array | ArrayBuffer): HyperLogLog {
    const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    if (b.length < 2 || b[0] !== FORMAT_VERSION) throw new RangeError("not a serialized HyperLogLog sketch");
    return new HyperLogLog(b[1]!, b.slice(2));
  }
}

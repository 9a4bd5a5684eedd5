/**
 * The pure part of DedupObject's packed layout: messageIds as 64-bit fingerprints, packed 8 bytes each into one
 * blob per commit row, and held in memory in an open-addressing hash table from fingerprint to the time it was
 * accepted.
 *
 * Fingerprint: hash64 with its own seed (independent of the shard choice, which uses another seed). Two distinct
 * ids share one with probability 2⁻⁶⁴, so with n ids in a shard's window P(any false duplicate) ≈ n²/2⁶⁵
 * (1 million ids: 3·10⁻⁸ per window). The hash is not cryptographic: a client can only craft collisions between
 * ids of its own source, i.e. have its own events taken for duplicates.
 *
 * Memory: 12 bytes per slot (fingerprint halves + time in seconds), 3/8 to 3/4 of the slots used → 16–32 bytes
 * per id, and 48 at the moment the table doubles (old and new arrays at once; it doubles at 0.75·2^k ids: 1.5 M,
 * 3 M, …).
 */
import { hash64 } from "../usage/hyperloglog.ts";

const FINGERPRINT_SEED = 0xd0d0;
/** Bytes per packed fingerprint. */
export const FINGERPRINT_BYTES = 8;

/** Ids per commit row: 800 KB of fingerprints, under SQLite's 2 MB value limit (a larger commit takes more rows). */
export const COMMIT_CHUNK = 100_000;

/** SQLite rows a commit of `newIds` ids (not yet accepted) writes, and the alarm later deletes. */
export function commitRows(newIds: number): number {
  return Math.ceil(newIds / COMMIT_CHUNK);
}

/** A messageId's fingerprint: [high, low] 32-bit halves. */
export function fingerprint(id: string): [number, number] {
  return hash64(id, FINGERPRINT_SEED);
}

/** Fingerprints packed as one blob, each as two little-endian 32-bit words (high, low). */
export function packFingerprints(fps: readonly (readonly [number, number])[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(fps.length * FINGERPRINT_BYTES);
  const view = new DataView(out.buffer);
  fps.forEach(([hi, lo], i) => {
    view.setUint32(i * FINGERPRINT_BYTES, hi, true);
    view.setUint32(i * FINGERPRINT_BYTES + 4, lo, true);
  });
  return out;
}

/** Calls `each` for every fingerprint of a blob made by packFingerprints. */
export function forEachPacked(blob: ArrayBuffer | Uint8Array, each: (hi: number, lo: number) => void): void {
  const bytes = blob instanceof Uint8Array ? blob : new Uint8Array(blob);
  if (bytes.byteLength % FINGERPRINT_BYTES !== 0) throw new RangeError(`packed fingerprints: ${bytes.byteLength} bytes is not a multiple of ${FINGERPRINT_BYTES}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at < bytes.byteLength; at += FINGERPRINT_BYTES) each(view.getUint32(at, true), view.getUint32(at + 4, true));
}

const MIN_SLOTS = 1024;

/**
 * Fingerprint → when it was accepted, kept to the second and rounded up (32 bits until 2106; an id stays a
 * duplicate up to 1 s longer than its window, never shorter). Linear probing over typed arrays: a JS Map would
 * cost 3–4 times the memory per id. Entries leave only by `retain` (a rebuild: pruning drops whole commit rows at
 * once), so no tombstones are needed.
 */
export class FingerprintIndex {
  private hi = new Uint32Array(MIN_SLOTS);
  private lo = new Uint32Array(MIN_SLOTS);
  /** Seconds since the epoch; 0: empty slot. */
  private sec = new Uint32Array(MIN_SLOTS);
  private used = 0;

  get size(): number {
    return this.used;
  }

  /** Bytes the table's arrays take (diagnostics: the sizing in docs/limits.md). */
  get bytes(): number {
    return this.sec.length * 12;
  }

  /** When this fingerprint was accepted (ms, rounded up to the second), or 0. */
  get(hi: number, lo: number): number {
    const mask = this.sec.length - 1;
    for (let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & mask; ; i = (i + 1) & mask) {
      const sec = this.sec[i]!;
      if (sec === 0) return 0;
      if (this.hi[i] === hi && this.lo[i] === lo) return sec * 1000;
    }
  }

  /** Records the fingerprint as accepted at `atMs` (added, or replacing the time it had). */
  set(hi: number, lo: number, atMs: number): void {
    const sec = Math.ceil(atMs / 1000);
    if (!(sec >= 1 && sec <= 0xffffffff)) throw new RangeError(`time ${atMs} out of range`);
    // At most 3/4 full: linear probing still finds an entry in ~2.5 probes (a missing one in ~8.5).
    if ((this.used + 1) * 4 > this.sec.length * 3) this.rebuild(this.sec.length * 2, () => true);
    this.place(hi, lo, sec);
  }

  /** Keeps the entries whose time (ms) passes `keep` (the others' rows were deleted); shrinks to stay ≥ 3/8 full. */
  retain(keep: (atMs: number) => boolean): void {
    const keepSec = (sec: number) => keep(sec * 1000);
    let kept = 0;
    for (const sec of this.sec) if (sec !== 0 && keepSec(sec)) kept++;
    let slots = this.sec.length;
    while (slots > MIN_SLOTS && kept * 8 < slots * 3) slots /= 2;
    this.rebuild(slots, keepSec);
  }

  private place(hi: number, lo: number, sec: number): void {
    const mask = this.sec.length - 1;
    for (let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & mask; ; i = (i + 1) & mask) {
      if (this.sec[i] === 0) {
        this.hi[i] = hi;
        this.lo[i] = lo;
        this.sec[i] = sec;
        this.used++;
        return;
      }
      if (this.hi[i] === hi && this.lo[i] === lo) {
        this.sec[i] = sec;
        return;
      }
    }
  }

  /** Copies the entries that pass `keep` (seconds) into `slots` fresh slots. */
  private rebuild(slots: number, keep: (sec: number) => boolean): void {
    const { hi, lo, sec } = this;
    this.hi = new Uint32Array(slots);
    this.lo = new Uint32Array(slots);
    this.sec = new Uint32Array(slots);
    this.used = 0;
    for (let i = 0; i < sec.length; i++) if (sec[i] !== 0 && keep(sec[i]!)) this.place(hi[i]!, lo[i]!, sec[i]!);
  }
}

/**
 * The pure part of DedupObject's packed layout: messageIds as 64-bit fingerprints, packed 8 bytes each into one
 * blob per commit row, and held in memory in an open-addressing hash table from fingerprint to commit row.
 *
 * Fingerprint: hash64 with its own seed (independent of the shard choice, which uses another seed). Two distinct
 * ids share one with probability 2⁻⁶⁴, so with n ids in a shard's window P(any false duplicate) ≈ n²/2⁶⁵
 * (1 million ids: 3·10⁻⁸ per window). The hash is not cryptographic: a client can only craft collisions between
 * ids of its own source, i.e. have its own events taken for duplicates.
 *
 * Memory: 12 bytes per slot (fingerprint halves + row), at most half the slots used → 24–48 bytes per id, and
 * 1.5 times that while the table grows (old and new arrays at once).
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
 * Fingerprint → commit row (a positive 32-bit integer: the row's rowid). Linear probing over typed arrays: a
 * JS Map would cost 3–4 times the memory per id. Entries leave only by `retain` (a rebuild: pruning drops whole
 * rows at once), so no tombstones are needed.
 */
export class FingerprintIndex {
  private hi = new Uint32Array(MIN_SLOTS);
  private lo = new Uint32Array(MIN_SLOTS);
  /** 0: empty slot. */
  private row = new Uint32Array(MIN_SLOTS);
  private used = 0;

  get size(): number {
    return this.used;
  }

  /** Bytes the table's arrays take (diagnostics: the sizing in docs/limits.md). */
  get bytes(): number {
    return this.row.length * 12;
  }

  /** The row holding this fingerprint, or 0. */
  get(hi: number, lo: number): number {
    const mask = this.row.length - 1;
    for (let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & mask; ; i = (i + 1) & mask) {
      const r = this.row[i]!;
      if (r === 0) return 0;
      if (this.hi[i] === hi && this.lo[i] === lo) return r;
    }
  }

  /** Points the fingerprint at `row` (added, or moved from the row it was in). */
  set(hi: number, lo: number, row: number): void {
    if (!Number.isInteger(row) || row < 1 || row > 0xffffffff) throw new RangeError(`row ${row} out of range`);
    if ((this.used + 1) * 2 > this.row.length) this.rebuild(this.row.length * 2, () => true);
    this.place(hi, lo, row);
  }

  /** Keeps the entries whose row passes `keep` (the others' rows were deleted); shrinks to stay ≥ a quarter full. */
  retain(keep: (row: number) => boolean): void {
    let kept = 0;
    for (const r of this.row) if (r !== 0 && keep(r)) kept++;
    let slots = this.row.length;
    while (slots > MIN_SLOTS && kept * 4 < slots) slots /= 2;
    this.rebuild(slots, keep);
  }

  private place(hi: number, lo: number, row: number): void {
    const mask = this.row.length - 1;
    for (let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & mask; ; i = (i + 1) & mask) {
      if (this.row[i] === 0) {
        this.hi[i] = hi;
        this.lo[i] = lo;
        this.row[i] = row;
        this.used++;
        return;
      }
      if (this.hi[i] === hi && this.lo[i] === lo) {
        this.row[i] = row;
        return;
      }
    }
  }

  private rebuild(slots: number, keep: (row: number) => boolean): void {
    const { hi, lo, row } = this;
    this.hi = new Uint32Array(slots);
    this.lo = new Uint32Array(slots);
    this.row = new Uint32Array(slots);
    this.used = 0;
    for (let i = 0; i < row.length; i++) if (row[i] !== 0 && keep(row[i]!)) this.place(hi[i]!, lo[i]!, row[i]!);
  }
}

/**
 * A small seeded PRNG (sfc32) for the fuzz tests, so a failing run can be replayed with
 * `FUZZ_SEED=<seed>`. Each worker derives its own stream from the run's seed and its index, so the
 * inputs of one worker do not depend on how the others were scheduled.
 */
import { randomInt } from 'node:crypto';

/** The run's seed: `FUZZ_SEED` (decimal or 0x-hex) when set, otherwise a fresh random one. */
export function fuzzSeed(): number {
  const env = process.env.FUZZ_SEED;
  if (env === undefined || env === '') return randomInt(0, 2 ** 32);
  const seed = Number(env);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)
    throw new Error(`FUZZ_SEED must be an integer from 0 to 2^32-1, got ${env}`);
  return seed;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = (seed ^ Math.imul(stream + 1, 0x85ebca6b)) >>> 0;
    for (let i = 0; i < 15; i++) this.next();
  }

  /** A uniform integer in [0, 2^32). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor((this.next() / 2 ** 32) * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  /** Picks by weight: `[[weight, value], …]`. */
  weighted<T>(table: ReadonlyArray<readonly [number, T]>): T {
    const total = table.reduce((s, [w]) => s + w, 0);
    let r = (this.next() / 2 ** 32) * total;
    for (const [w, v] of table) {
      if (r < w) return v;
      r -= w;
    }
    return table[table.length - 1]![1];
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }

  /** A size skewed towards small values, up to `max`. */
  size(max: number): number {
    return Math.min(max, Math.floor(2 ** ((this.next() / 2 ** 32) * Math.log2(max + 1))) - 1 + this.int(0, 1));
  }

  /** A string of `n` characters from `alphabet`. */
  text(n: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_'): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(0, alphabet.length - 1)];
    return s;
  }
}

/**
 * Seeded pseudo-random numbers for the model: xoshiro128** (Blackman and
 * Vigna, 2018) with its 128-bit state filled from the seed by SplitMix32.
 * One instance per cluster; every random choice in the model (fault
 * injection, frame placement) draws from it, so the same seed gives the
 * same run.
 *
 * @module
 */

/**
 * xoshiro128** generator.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Prng } from "./prng.ts";
 * const a = new Prng(42), b = new Prng(42);
 * const draws = [a.nextU32(), a.int(6), a.next(), a.chance(0.5)];
 * assert.deepEqual([b.nextU32(), b.int(6), b.next(), b.chance(0.5)], draws); // same seed, same run
 * assert.notEqual(new Prng(43).nextU32(), draws[0]);
 * assert.throws(() => a.int(0), /n must be >= 1, got 0/);
 * assert.throws(() => new Prng(NaN), /Prng: seed must be a finite number, got NaN/);
 * ```
 */
export class Prng {
  #s = new Uint32Array(4);

  /**
   * A generator seeded with `seed`.
   *
   * @param seed any finite number (its integer part counts); equal seeds give equal sequences;
   *   anything else (`NaN`, `Infinity`, a string) is a RangeError
   */
  constructor(readonly seed: number) {
    if (typeof seed !== "number" || !Number.isFinite(seed)) {
      throw new RangeError(`Prng: seed must be a finite number, got ${String(seed).slice(0, 24)}`);
    }
    let x = (seed >>> 0) ^ Math.floor(seed / 4294967296);
    for (let i = 0; i < 4; i++) {
      // SplitMix32 step.
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if ((this.#s[0] | this.#s[1] | this.#s[2] | this.#s[3]) === 0) this.#s[0] = 1;
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.#s;
    const r = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n >= 1)) throw new RangeError(`Prng.int: n must be >= 1, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  /**
   * A generator for the stream named `label` of a run seeded `seed`: the
   * same pair always gives the same stream, and it draws nothing from any
   * other generator (so adding a named stream changes no existing one).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Prng } from "./prng.ts";
   * const a = Prng.derive(1, "noise/node0/hca").nextU32();
   * assert.equal(Prng.derive(1, "noise/node0/hca").nextU32(), a);
   * assert.notEqual(Prng.derive(1, "noise/node1/hca").nextU32(), a);
   * assert.notEqual(Prng.derive(2, "noise/node0/hca").nextU32(), a);
   * ```
   */
  static derive(seed: number, label: string): Prng {
    // FNV-1a over the label's UTF-16 code units, started from the seed's two halves.
    let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
    h = Math.imul(h ^ (Math.floor(seed / 4294967296) >>> 0), 0x01000193) >>> 0;
    for (let i = 0; i < label.length; i++) {
      h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
    }
    return new Prng(h);
  }

  /**
   * Fill `bytes` with draws, four bytes per {@link nextU32} in little-endian
   * order (a tail shorter than four takes the low bytes of one more draw):
   * for buffers that should hold data rather than zeros, as perftest fills
   * its own with `rand()` bytes (these are this generator's, not libc's).
   *
   * @returns `bytes`
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Prng } from "./prng.ts";
   * const a = new Prng(7), b = new Prng(7);
   * const bytes = a.fill(new Uint8Array(6));
   * const w0 = b.nextU32(), w1 = b.nextU32();
   * assert.deepEqual([...bytes], [w0 & 0xff, (w0 >>> 8) & 0xff, (w0 >>> 16) & 0xff, w0 >>> 24, w1 & 0xff, (w1 >>> 8) & 0xff]);
   * assert.equal(a.nextU32(), b.nextU32()); // two draws each
   * ```
   */
  fill(bytes: Uint8Array): Uint8Array {
    const n = bytes.length;
    for (let i = 0; i < n; i += 4) {
      const r = this.nextU32();
      bytes[i] = r & 0xff;
      if (i + 1 < n) bytes[i + 1] = (r >>> 8) & 0xff;
      if (i + 2 < n) bytes[i + 2] = (r >>> 16) & 0xff;
      if (i + 3 < n) bytes[i + 3] = r >>> 24;
    }
    return bytes;
  }

  /** An independent generator derived from this one (for a sub-component). */
  fork(): Prng {
    return new Prng(this.nextU32() * 4294967296 + this.nextU32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

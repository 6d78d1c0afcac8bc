/**
 * The seeded noise model: what makes two runs of the same measurement differ
 * on a real cluster, drawn from the cluster's seed so that the same seed
 * gives the same samples. Off by default (`new Cluster({ …, noise: "on" })`
 * turns it on); its magnitudes are the profile's `noise` group.
 *
 * Two sources, as the OS-noise literature separates them (Petrini, Kerbyson
 * and Pakin, "The Case of the Missing Supercomputer Performance", SC 2003;
 * Hoefler, Schneider and Lumsdaine, "Characterizing the Influence of System
 * Noise on Large-Scale Applications by Simulation", SC 2010):
 *
 * - **OS noise** ({@link CpuNoise}): every kernel (a bare-metal OS, dom0,
 *   each guest) takes its CPU away from the program for *detours*: the
 *   periodic timer interrupt (`osTickNs` every `osTickPeriodNs`, at a random
 *   phase) and random ones — daemons, softirqs — arriving as a Poisson
 *   process (mean interval `osDetourIntervalNs`) with exponentially
 *   distributed lengths (mean `osDetourNs`). Work that meets a detour
 *   finishes that much later; a domain whose vCPU is in a detour takes its
 *   event upcall when the detour ends.
 * - **Memory and bus jitter** ({@link HostNoise.dmaJitter}): each DMA
 *   transaction of an HCA waits an extra exponentially distributed time
 *   (mean `dmaJitterNs`: DRAM page misses, refresh, bridge arbitration).
 *
 * Streams are per host and per kernel, derived from the cluster seed and
 * their names ({@link Prng.derive}), so adding a host or a guest changes no
 * other stream.
 *
 * @module
 */
import type { Engine } from "./engine.ts";
import { Prng } from "./prng.ts";
import type { Profile } from "./profiles/schema.ts";

/**
 * The noise parameters of a profile (its `noise` group).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PCIX_SDR_2006 } from "./profiles/mod.ts";
 * import type { NoiseParams } from "./noise.ts";
 * const n: NoiseParams = PCIX_SDR_2006.noise;
 * assert.ok(n.osTickPeriodNs > n.osTickNs);
 * ```
 */
export type NoiseParams = Profile["noise"];

/**
 * Whether a cluster draws noise: "off" (the library's default: exact,
 * repeatable figures) or "on".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NOISE_MODES, type NoiseMode } from "./noise.ts";
 * const m: NoiseMode = "on";
 * assert.ok(NOISE_MODES.includes(m));
 * ```
 */
export type NoiseMode = "on" | "off";

/**
 * The accepted {@link NoiseMode} values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NOISE_MODES } from "./noise.ts";
 * assert.deepEqual([...NOISE_MODES], ["off", "on"]);
 * ```
 */
export const NOISE_MODES: readonly NoiseMode[] = ["off", "on"];

/**
 * An exponentially distributed draw with the given mean (0 when the mean is 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Prng } from "./prng.ts";
 * import { exponential } from "./noise.ts";
 * const r = new Prng(7);
 * let sum = 0;
 * for (let i = 0; i < 20000; i++) sum += exponential(r, 50);
 * assert.ok(Math.abs(sum / 20000 - 50) < 2); // the mean is the mean
 * assert.equal(exponential(r, 0), 0);
 * ```
 */
export function exponential(rng: Prng, mean: number): number {
  return mean > 0 ? -mean * Math.log(1 - rng.next()) : 0;
}

/**
 * One kernel's detours on the CPU its threads run on: generated lazily, in
 * time order, from its own stream, so the detours do not depend on who
 * asks or when.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "./engine.ts";
 * import { CpuNoise } from "./noise.ts";
 * import { Prng } from "./prng.ts";
 * const engine = new Engine();
 * const params = { dmaJitterNs: 0, osTickPeriodNs: 1000, osTickNs: 100, osDetourIntervalNs: 0, osDetourNs: 0 };
 * const cpu = new CpuNoise(engine, params, new Prng(1));
 * // 10 µs of work, 0.9 µs of it between two 100 ns ticks: it meets 11 ticks (11 or 12 by phase).
 * const start = 5;
 * assert.equal(cpu.finish(start, 10_000), start + 10_000 + 11 * 100);
 * // The same question asked of a twin timeline gets the same answer.
 * assert.equal(new CpuNoise(engine, params, new Prng(1)).finish(start, 10_000), cpu.finish(start, 10_000));
 * ```
 */
export class CpuNoise {
  // Merged busy intervals [start, end), flattened, in time order, from #head on.
  #iv: number[] = [];
  #head = 0;
  #nextTick: number;
  #nextDetour: number;
  #rng: Prng;

  /**
   * @param engine the engine (its clock bounds what may be forgotten)
   * @param p the profile's noise parameters
   * @param rng this kernel's own stream
   */
  constructor(private engine: Engine, private p: NoiseParams, rng: Prng) {
    this.#rng = rng;
    this.#nextTick = p.osTickPeriodNs > 0 && p.osTickNs > 0
      ? rng.next() * p.osTickPeriodNs
      : Infinity;
    this.#nextDetour = p.osDetourIntervalNs > 0 && p.osDetourNs > 0
      ? exponential(rng, p.osDetourIntervalNs)
      : Infinity;
  }

  /**
   * Generate every detour that starts at or before `t`. One that ends before `past` is of no use
   * to anyone (the question being answered starts after it, and {@link finish} forgets it next
   * time): once it is the last and the next does not prolong it, the next takes its place, so a
   * timeline first asked about after a long stretch of virtual time (a guest migrated in hours
   * into a run) holds one detour of that stretch, not millions. Every draw is still made, in
   * order, so the detours after `past` are those of a timeline asked about all along.
   */
  #ensure(t: number, past: number): void {
    while (this.#nextTick <= t || this.#nextDetour <= t) {
      let s: number, len: number;
      if (this.#nextTick <= this.#nextDetour) {
        s = this.#nextTick;
        len = this.p.osTickNs;
        this.#nextTick += this.p.osTickPeriodNs;
      } else {
        s = this.#nextDetour;
        len = exponential(this.#rng, this.p.osDetourNs);
        this.#nextDetour += exponential(this.#rng, this.p.osDetourIntervalNs);
      }
      const iv = this.#iv;
      const n = iv.length;
      // A detour that starts inside the previous one prolongs it (the CPU serves one at a time).
      if (n > this.#head && s <= iv[n - 1]) iv[n - 1] += len;
      else if (n > this.#head && iv[n - 1] < past) {
        iv[n - 2] = s;
        iv[n - 1] = s + len;
      } else iv.push(s, s + len);
    }
  }

  /** Forget detours that ended before now (nobody asks about the past). */
  #prune(): void {
    const now = this.engine.now;
    const iv = this.#iv;
    while (this.#head < iv.length && iv[this.#head + 1] < now) this.#head += 2;
    if (this.#head > 256) {
      iv.splice(0, this.#head);
      this.#head = 0;
    }
  }

  /**
   * When `workNs` of CPU work that may start at `start` is done, the
   * detours it meets included (0 ns of work: the first instant at or after
   * `start` that is in no detour).
   */
  finish(start: number, workNs: number): number {
    this.#prune();
    let t = start;
    let rem = workNs;
    let i = this.#head;
    const iv = this.#iv;
    // Nothing before both now (see #prune) and the work's start is looked at again.
    const past = start < this.engine.now ? start : this.engine.now;
    for (;;) {
      this.#ensure(t + rem, past);
      // Skip detours over before t.
      while (i < iv.length && iv[i + 1] <= t) i += 2;
      if (i >= iv.length || iv[i] >= t + rem) {
        // No detour begins before the work ends (one starting exactly at its end does not delay it).
        if (i < iv.length && iv[i] <= t && rem === 0) return iv[i + 1];
        return t + rem;
      }
      if (iv[i] > t) rem -= iv[i] - t;
      t = iv[i + 1];
      i += 2;
    }
  }
}

/**
 * A host's noise streams: one {@link CpuNoise} per kernel (by name, made
 * once) and the HCA's DMA jitter, all derived from the cluster seed and the
 * host's name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "./engine.ts";
 * import { HostNoise } from "./noise.ts";
 * import { PCIX_SDR_2006 } from "./profiles/mod.ts";
 * const engine = new Engine();
 * const a = new HostNoise(engine, PCIX_SDR_2006.noise, 1, "node0");
 * assert.equal(a.cpu("os"), a.cpu("os")); // one timeline per kernel
 * const jitter = a.dmaJitter();
 * const draws = [jitter(), jitter(), jitter()];
 * const again = new HostNoise(engine, PCIX_SDR_2006.noise, 1, "node0").dmaJitter();
 * assert.deepEqual([again(), again(), again()], draws); // same seed and host, same draws
 * const other = new HostNoise(engine, PCIX_SDR_2006.noise, 2, "node0").dmaJitter();
 * assert.notDeepEqual([other(), other(), other()], draws);
 * ```
 */
export class HostNoise {
  #cpus = new Map<string, CpuNoise>();

  /**
   * @param engine the engine
   * @param params the profile's noise parameters
   * @param seed the cluster's seed
   * @param host the host's name
   */
  constructor(
    private engine: Engine,
    readonly params: NoiseParams,
    private seed: number,
    readonly host: string,
  ) {}

  /** The detours of kernel `name` on this host (the same object for the same name). */
  cpu(name: string): CpuNoise {
    let c = this.#cpus.get(name);
    if (!c) {
      c = new CpuNoise(
        this.engine,
        this.params,
        Prng.derive(this.seed, `noise/${this.host}/cpu/${name}`),
      );
      this.#cpus.set(name, c);
    }
    return c;
  }

  /** A draw of the extra latency of one DMA transaction, ns (this host's HCA). */
  dmaJitter(): () => number {
    const rng = Prng.derive(this.seed, `noise/${this.host}/hca`);
    const mean = this.params.dmaJitterNs;
    return () => exponential(rng, mean);
  }
}

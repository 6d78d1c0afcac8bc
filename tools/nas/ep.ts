/**
 * EP, the "embarrassingly parallel" kernel of the NAS Parallel Benchmarks
 * (NPB 3.4-MPI `EP/ep.f90`, `EP/verify.f90`): 2^(M+1) uniform deviates from
 * NPB's `randlc` stream become pairs (x, y) in (−1, 1)²; the pairs inside the
 * unit circle give Gaussian deviates by the Marsaglia polar method, whose
 * absolute values are summed (sx, sy) and tallied in ten square annuli.
 *
 * Decomposition as NPB: the 2^(M−16) batches of 2^16 pairs are dealt out in
 * contiguous runs (the first `nn mod np` ranks get one more); each batch
 * starts its part of the one global stream by skipping ahead
 * (seed · a^(2^17·k) mod 2^46, by binary powering as NPB does). The only
 * communication: NPB's broadcast of the timer flag, a barrier, three
 * MPI_Allreduce (sx, sy: one double each; the ten counts), and the
 * MPI_Allreduce(MAX) of the time.
 *
 * Classes S (M = 24), W (25), A (28), B (30), C (32); any number of
 * processes up to the number of batches (NPB: "Too many nodes" beyond).
 * Model mode (any class) skips the generation and charges the same work.
 *
 * @module
 */
import type { Comm } from "../../mpi/mod.ts";
import { fortranE, fortranF, fortranI } from "./format.ts";
import type { NasClass, NasKernel, NasResult, NasRunOptions } from "./kernel.ts";
import { jumpSeed, NPB_A, randlc, vranlc } from "./randlc.ts";

/** log2 of the pairs per batch (NPB's MK; does not change the results). */
const MK = 16;
/** Pairs per batch. */
const NK = 1 << MK;
/** Annuli counted. */
const NQ = 10;
/** EP's seed (`s` in ep_data.f90). */
const EP_SEED = 271828183.0;

/** M (log2 of the pairs) per class (NPB's setparams). */
export const EP_M: Readonly<Partial<Record<NasClass, number>>> = {
  S: 24,
  W: 25,
  A: 28,
  B: 30,
  C: 32,
};

/**
 * NPB 3.4's reference values (`EP/verify.f90`): sums of |X| and |Y| and the
 * number of Gaussian pairs, per M.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EP_REFERENCE } from "./ep.ts";
 * assert.equal(EP_REFERENCE[24].gc, 13176389);
 * ```
 */
export const EP_REFERENCE: Readonly<Record<number, { sx: number; sy: number; gc: number }>> = {
  24: { sx: 1.051299420395306e+07, sy: 1.051517131857535e+07, gc: 13176389 },
  25: { sx: 2.102505525182392e+07, sy: 2.103162209578822e+07, gc: 26354769 },
  28: { sx: 1.682235632304711e+08, sy: 1.682195123368299e+08, gc: 210832767 },
  30: { sx: 6.728927543423024e+08, sy: 6.728951822504275e+08, gc: 843345606 },
  32: { sx: 2.691444083862931e+09, sy: 2.691519118724585e+09, gc: 3373275903 },
};

/** NPB's tolerance on the relative error of each value. */
const EPSILON = 1e-8;

/**
 * NPB's `verify`: sx and sy within a relative 1e-8 of the reference, then
 * the pair count too (a NaN fails).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EP_REFERENCE, epVerify } from "./ep.ts";
 * const r = EP_REFERENCE[24];
 * assert.equal(epVerify(24, r.sx, r.sy, r.gc), true);
 * assert.equal(epVerify(24, r.sx * (1 + 1e-7), r.sy, r.gc), false);
 * assert.equal(epVerify(23, r.sx, r.sy, r.gc), false); // no reference for M = 23
 * ```
 */
export function epVerify(m: number, sx: number, sy: number, gc: number): boolean {
  const ref = EP_REFERENCE[m];
  if (!ref) return false;
  const err = (x: number, r: number) => Math.abs((x - r) / r);
  const ex = err(sx, ref.sx), ey = err(sy, ref.sy), eg = err(gc, ref.gc);
  return ex <= EPSILON && ey <= EPSILON && eg <= EPSILON;
}

// ----------------------------------------------------------------- the work charged

/**
 * Floating-point operations of one `randlc`/`vranlc` step, counted in NPB's
 * randdp: 11 multiplications, 5 additions/subtractions, 3 truncations.
 */
const RANDLC_FLOPS = 19;
/** Per pair tested: x1, x2 (2 each), x1² + x2² (3), the comparison (1). */
const PAIR_TEST_FLOPS = 8;
/**
 * Per accepted pair: log (≈20), sqrt (≈10), division (≈10), 3 multiplications,
 * 2 abs, a max, the tally and two sums: 50 operation equivalents.
 */
const PAIR_ACCEPT_FLOPS = 50;
/** The fraction of pairs inside the unit circle, π/4 (the formula, not the run's count). */
const ACCEPT = Math.PI / 4;

/**
 * The work of `batches` batches starting at global batch `first` (0-based):
 * finding each batch's seed (two `randlc` per bit of its index), generating
 * 2·NK deviates, testing NK pairs and accepting π/4 of them; memory traffic:
 * the 2·NK-double array written and read once per batch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { epWork } from "./ep.ts";
 * const w = epWork(0, 2);
 * assert.ok(w.flops > 2 * 65536 * 80);
 * assert.equal(w.bytes, 2 * 32 * 65536);
 * ```
 */
export function epWork(first: number, batches: number): { flops: number; bytes: number } {
  let flops = 0;
  for (let k = 1; k <= batches; k++) {
    const kk = first + k - 1;
    const bits = kk === 0 ? 1 : Math.floor(Math.log2(kk)) + 1;
    flops += 2 * RANDLC_FLOPS * bits;
  }
  return { flops: flops + batches * BATCH_FLOPS, bytes: batches * NK * 32 };
}

/** One batch: 2·NK deviates, NK pairs tested, π/4 of them accepted (rounded once). */
const BATCH_FLOPS = Math.round(
  NK * (2 * RANDLC_FLOPS + PAIR_TEST_FLOPS + ACCEPT * PAIR_ACCEPT_FLOPS),
);

// ----------------------------------------------------------------- the kernel

/** Batches of rank `node` of `nodes`: count and the 0-based index of the first. */
function myBatches(nn: number, nodes: number, node: number): { np: number; first: number } {
  const base = Math.floor(nn / nodes);
  const large = nn % nodes;
  const np = base + (node < large ? 1 : 0);
  const first = node < large ? node * np : large * (base + 1) + (node - large) * base;
  return { np, first };
}

/** The ten annuli, sx and sy of batches `first .. first+np-1` (the real computation). */
function generate(
  first: number,
  np: number,
  an: number,
): { sx: number; sy: number; q: Float64Array } {
  const x = new Float64Array(2 * NK);
  const q = new Float64Array(NQ);
  let sx = 0, sy = 0;
  for (let k = 1; k <= np; k++) {
    // Starting seed of batch first + k − 1 (NPB's loop 120).
    const t1 = { x: jumpSeed(EP_SEED, an, first + k - 1) };
    vranlc(2 * NK, t1, NPB_A, x);
    for (let i = 0; i < NK; i++) {
      const x1 = 2 * x[2 * i] - 1;
      const x2 = 2 * x[2 * i + 1] - 1;
      const t = x1 * x1 + x2 * x2;
      if (t <= 1) {
        const f = Math.sqrt(-2 * Math.log(t) / t);
        const t3 = Math.abs(x1 * f);
        const t4 = Math.abs(x2 * f);
        q[Math.trunc(Math.max(t3, t4))] += 1;
        sx += t3;
        sy += t4;
      }
    }
  }
  return { sx, sy, q };
}

async function run(comm: Comm, opts: NasRunOptions): Promise<NasResult | undefined> {
  const m = EP_M[opts.cls];
  if (m === undefined) throw new Error(`EP has no class ${opts.cls}`);
  const nn = 2 ** (m - MK);
  const nodes = comm.size, node = comm.rank;
  const real = opts.compute === "real";

  // NPB broadcasts whether its sub-timers are on (they are off here).
  const timersEnabled = new Int32Array([0]);
  await comm.bcast(timersEnabled, 0);

  const { np, first } = myBatches(nn, nodes, node);
  if (np === 0) throw new Error(`EP: too many nodes: ${nodes} for ${nn} batches`);

  // Touch the array before timing (NPB: x = -1.d99, "to reduce the effects of paging").
  await comm.compute({ bytes: 2 * NK * 8 });

  await comm.barrier();
  const t0 = comm.wtime();

  // an = a^(2·NK) mod 2^46: MK + 1 squarings.
  const an = { x: NPB_A };
  for (let i = 1; i <= MK + 1; i++) randlc(an, an.x);

  let sx = 0, sy = 0;
  let q: Float64Array = new Float64Array(NQ);
  if (real) ({ sx, sy, q } = generate(first, np, an.x));
  const work = epWork(first, np);
  await comm.compute({ flops: work.flops + (MK + 1) * RANDLC_FLOPS, bytes: work.bytes });

  // NPB reduces sx, sy and q into the scratch array x, one call each.
  const sum = new Float64Array(1);
  await comm.allreduce(new Float64Array([sx]), sum, "SUM");
  sx = sum[0];
  await comm.allreduce(new Float64Array([sy]), sum, "SUM");
  sy = sum[0];
  const qs = new Float64Array(NQ);
  await comm.allreduce(q, qs, "SUM");
  let gc = 0;
  for (let i = 0; i < NQ; i++) gc += qs[i];

  const tmine = new Float64Array([comm.wtime() - t0]);
  const tmax = new Float64Array(1);
  await comm.allreduce(tmine, tmax, "MAX");
  const tm = tmax[0];
  if (node !== 0) return undefined;

  const verified = real && epVerify(m, sx, sy, gc);
  const details: string[] = [];
  if (real) {
    // NPB's "EP Benchmark Results" block (format 11 of ep.f90).
    details.push(
      "EP Benchmark Results:",
      "",
      `CPU Time =${fortranF(tm, 10, 3)}`,
      `N = 2^${fortranI(m, 5)}`,
      `No. Gaussian Pairs =${fortranF(gc, 15, 0)}`,
      `Sums = ${fortranE(sx, 25, 15, 1, "D")}${fortranE(sy, 25, 15, 1, "D")}`,
      "Counts:",
    );
    for (let i = 0; i < NQ; i++) details.push(`${fortranI(i, 3)}${fortranF(qs[i], 15, 0)}`);
  } else {
    details.push(
      " EP: computation charged by the model; no deviates generated, nothing to verify.",
    );
  }
  return {
    name: "EP",
    cls: opts.cls,
    size: String(2 ** (m + 1)),
    iterations: 0,
    timeSec: tm,
    mops: 2 ** (m + 1) / tm / 1e6,
    opType: "Random numbers generated",
    verified,
    compute: opts.compute,
    details,
    values: real ? { sx, sy, gc } : undefined,
    activeProcs: nodes,
  };
}

/**
 * The EP kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernel } from "./ep.ts";
 * assert.equal(kernel.checkNp(300, "S"), "EP class S has 256 batches of 2^16 pairs: at most 256 processes (NPB: Too many nodes)");
 * assert.equal(kernel.checkNp(3, "S"), undefined);
 * ```
 */
export const kernel: NasKernel = {
  name: "EP",
  title: "Embarrassingly Parallel",
  language: "fortran",
  classes: ["S", "W", "A", "B", "C"],
  modelClasses: ["S", "W", "A", "B", "C"],
  checkNp(np: number, cls: NasClass): string | undefined {
    const m = EP_M[cls];
    if (m === undefined) return `EP has no class ${cls}`;
    const nn = 2 ** (m - MK);
    if (np > nn) {
      return `EP class ${cls} has ${nn} batches of 2^${MK} pairs: at most ${nn} processes (NPB: Too many nodes)`;
    }
    return undefined;
  },
  banner(cls: NasClass, np: number): string[] {
    const m = EP_M[cls] ?? 0;
    // ep.f90 formats 1000, 1001, 1003: f15.0 of 2^(M+1) without its point, in a15.
    const size = fortranF(2 ** (m + 1), 15, 0).slice(0, 14).padStart(15);
    return [
      "",
      " NAS Parallel Benchmarks 3.4 -- EP Benchmark",
      "",
      ` Number of random numbers generated: ${size}  (class ${cls})`,
      ` Total number of processes:`.padEnd(37) + `  ${fortranI(np, 13)}`,
      "",
    ];
  },
  run,
};

/**
 * NAS Parallel Benchmarks FT (NPB 3.4-MPI FT/ft.f90): a 3-D partial
 * differential equation solved with forward and inverse 3-D FFTs. The
 * initial field comes from NPB's random stream, each process jumping ahead
 * to its own part; the forward FFT transforms it once; each time step
 * multiplies by the exponential factors exp(−4απ²(i²+j²+k²)·t) (`evolve`),
 * transforms back and sums 1024 fixed elements into a checksum that an
 * MPI_Reduce collects on rank 0, where `verify` compares the checksums
 * with NPB's reference values (relative error ≤ 1e-12).
 *
 * Decomposition and communication as ft.f90: z-slabs (1-D layout, np ≤ nz)
 * with one MPI_Alltoall per 3-D FFT (`transpose_xy_z` forward,
 * `transpose_x_yz` inverse) of ntdivnp/np complex elements per pair, or
 * pencils (2-D layout, np > nz) with two alltoalls per FFT on the row and
 * column communicators; setup broadcasts five parameters and splits the
 * two communicators; one untimed warm-up pass (initial conditions and a
 * forward FFT) precedes the timed run, which starts after an MPI_Barrier.
 * The reported time is rank 0's, as NPB prints it.
 *
 * Computation: class S and W compute for real; A and B may run in "model"
 * mode, where every loop nest charges its counted work (`comm.compute`) and
 * the alltoalls and reductions carry the same sizes in the same order, but
 * no arithmetic is done (checksums are then not available, so verification
 * is not performed). A real run charges exactly the same work at the same
 * points.
 *
 * @module
 */
import type { Comm, MpiBuffer } from "../../mpi/mod.ts";
import { cffts1, cffts2, cffts3, fftInit, fftScratch, ilog2 } from "./ft/fft.ts";
import {
  FT_CLASSES,
  FT_EPSILON,
  FT_REFERENCE,
  ftCheckNp,
  type FtClass,
  type FtLayout,
  ftLayout,
} from "./ft/params.ts";
import {
  transpose2Finish,
  transpose2Local,
  transposeXYFinish,
  transposeXYLocal,
  transposeXZFinish,
  transposeXZLocal,
} from "./ft/transpose.ts";
import { fortranA, fortranE, fortranF, fortranI } from "./format.ts";
import type { NasClass, NasKernel, NasResult, NasRunOptions } from "./kernel.ts";
import { NPB_A, NPB_SEED, randlc, type RandState, skipAhead, vranlc } from "./randlc.ts";

/** α of the heat equation (ft_data `alpha`). */
const ALPHA = 1e-6;

/**
 * Work per element of each loop nest, charged in both modes. Flops count
 * the arithmetic of the loop body; bytes the main-memory traffic (the FFT
 * blocks of `fftblock` lines stay in cache, so an FFT pass moves each
 * element in and out once). exp() is counted as 20 flops, one NPB random
 * number (`vranlc` body) as 16.
 */
const WORK = {
  /** compute_indexmap: index arithmetic and one exp per element. */
  indexmap: { flops: 26, bytes: 8 },
  /** compute_initial_conditions: two random numbers per complex element. */
  random: { flops: 32, bytes: 16 },
  /** evolve: u0 ← u0·twiddle, u1 ← u0 (complex × real). */
  evolve: { flops: 2, bytes: 56 },
  /** A local transpose or transpose finish: read and write 16 bytes. */
  transpose: { flops: 0, bytes: 32 },
  /** One FFT pass: 5·log2(n) flops per element (radix-2 butterflies), 32 bytes. */
  fftFlopsPerLog: 5,
  fftBytes: 32,
  /** checksum: one complex add per element found on this process. */
  checksum: { flops: 2, bytes: 16 },
  /** fft_init: one cos and one sin per entry. */
  fftInit: { flops: 40, bytes: 16 },
} as const;

/**
 * Check the checksums against NPB's reference values (ft.f90 `verify`):
 * every step's |(sum − ref)/ref| ≤ 1e-12.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ftVerify } from "./ft.ts";
 * import { FT_REFERENCE } from "./ft/params.ts";
 * const good = FT_REFERENCE.S.map(([re, im]) => [re, im] as [number, number]);
 * assert.equal(ftVerify("S", good).verified, true);
 * const bad = good.map(([re, im], i) => [i === 3 ? re * (1 + 1e-11) : re, im] as [number, number]);
 * assert.equal(ftVerify("S", bad).verified, false);
 * ```
 */
export function ftVerify(
  cls: NasClass,
  sums: readonly [number, number][],
): { verified: boolean; errors: number[] } {
  const ref = FT_REFERENCE[cls as keyof typeof FT_REFERENCE];
  if (!ref || sums.length !== ref.length) return { verified: false, errors: [] };
  const errors = sums.map(([re, im], i) => {
    const [rr, ri] = ref[i];
    const dr = re - rr, di = im - ri;
    return Math.hypot(dr, di) / Math.hypot(rr, ri);
  });
  return { verified: errors.every((e) => !Number.isNaN(e) && e <= FT_EPSILON), errors };
}

/**
 * ft.f90's Mop/s constants: default-real (single precision) literals, which
 * Fortran promotes to double with their single-precision value (14.8157 is
 * 14.815699577331543 there).
 */
const FT_OPS = [14.8157, 7.19641, 5.23518, 7.21113].map(Math.fround);

/**
 * NPB's Mop/s formula for FT (ft.f90 main program), with its constants as
 * the Fortran source holds them (single precision).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ftMops } from "./ft.ts";
 * const n = 64 ** 3, f = Math.fround;
 * const expect = 1e-6 * n *
 *   (f(14.8157) + f(7.19641) * Math.log(n) + (f(5.23518) + f(7.21113) * Math.log(n)) * 6) / 2;
 * assert.equal(ftMops(64, 64, 64, 6, 2), expect);
 * ```
 */
export function ftMops(nx: number, ny: number, nz: number, niter: number, sec: number): number {
  const n = nx * ny * nz;
  if (sec === 0) return 0;
  const [a, b, c, d] = FT_OPS;
  return 1e-6 * n * (a + b * Math.log(n) + (c + d * Math.log(n)) * niter) / sec;
}

/** One rank's state of an FT run. */
class FtRank {
  readonly L: FtLayout;
  readonly ntotal: number;
  readonly real: boolean;
  // Computation arrays (real mode only).
  readonly u0: Float64Array;
  readonly u1: Float64Array;
  readonly u2: Float64Array;
  readonly twiddle: Float64Array;
  readonly tmp: Float64Array;
  readonly scratch: { x: Float64Array; y: Float64Array };
  u: Float64Array = new Float64Array(0);
  // Alltoall buffers in the rank's memory (zero-copy rendezvous).
  sendBuf?: MpiBuffer;
  recvBuf?: MpiBuffer;
  slice1?: Comm;
  slice2?: Comm;
  readonly sums: [number, number][] = [];

  constructor(readonly comm: Comm, readonly c: FtClass, real: boolean) {
    this.real = real;
    this.L = ftLayout(c, comm.size, comm.rank);
    this.ntotal = c.nx * c.ny * c.nz;
    const n = real ? this.L.ntdivnp : 0;
    this.u0 = new Float64Array(2 * n);
    this.u1 = new Float64Array(2 * n);
    this.u2 = new Float64Array(2 * n);
    this.tmp = new Float64Array(2 * n);
    this.twiddle = new Float64Array(n);
    const maxdim = Math.max(c.nx, c.ny, c.nz);
    this.scratch = real ? fftScratch(this.L.fftblock, maxdim) : fftScratch(0, 0);
  }

  /** ft.f90 `setup` after the layout: broadcast parameters, split the communicators. */
  async setup(): Promise<void> {
    const { comm, L } = this;
    const layoutCode = { "0D": 0, "1D": 1, "2D": 2 }[L.type];
    // np1, np2, layout_type, niter, timers_enabled: one MPI_BCAST each from rank 0.
    for (const v of [L.np1, L.np2, layoutCode, this.c.niter, 0]) {
      const b = new Int32Array([comm.rank === 0 ? v : 0]);
      await comm.bcast(b, 0);
    }
    this.slice1 = (await comm.split(L.me1, L.me2))!;
    this.slice2 = (await comm.split(L.me2, L.me1))!;
    if (comm.size > 1) {
      this.sendBuf = comm.alloc(2 * L.ntdivnp, "float64");
      this.recvBuf = comm.alloc(2 * L.ntdivnp, "float64");
    }
  }

  async charge(perElement: { flops: number; bytes: number }, elements: number): Promise<void> {
    await this.comm.compute({
      flops: perElement.flops * elements,
      bytes: perElement.bytes * elements,
    });
  }

  /** `compute_indexmap`: the exponential factors in the stage-3 layout. */
  async indexmap(): Promise<void> {
    const { L, c } = this;
    const [d1, d2, d3] = L.dims[2];
    const [xs, ys, zs] = L.start[2];
    if (this.real) {
      const ap = -4 * ALPHA * Math.PI * Math.PI;
      const w = (g: number, n: number) => ((g + n / 2) % n) - n / 2; // g 0-based global index
      const tw = this.twiddle;
      if (L.type === "0D") {
        for (let i = 0; i < d1; i++) {
          const ii = w(i + xs - 1, c.nx);
          for (let j = 0; j < d2; j++) {
            const jj = w(j + ys - 1, c.ny), ij2 = jj * jj + ii * ii;
            for (let k = 0; k < d3; k++) {
              const kk = w(k + zs - 1, c.nz);
              tw[i + d1 * (j + d2 * k)] = Math.exp(ap * (kk * kk + ij2));
            }
          }
        }
      } else {
        // (z, x, y): k over d1, i over d2, j over d3.
        for (let i = 0; i < d2; i++) {
          const ii = w(i + xs - 1, c.nx);
          for (let j = 0; j < d3; j++) {
            const jj = w(j + ys - 1, c.ny), ij2 = jj * jj + ii * ii;
            for (let k = 0; k < d1; k++) {
              const kk = w(k + zs - 1, c.nz);
              tw[k + d1 * (i + d2 * j)] = Math.exp(ap * (kk * kk + ij2));
            }
          }
        }
      }
    }
    await this.charge(WORK.indexmap, d1 * d2 * d3);
  }

  /** `compute_initial_conditions`: this process's planes of the random field. */
  async initialConditions(x: Float64Array): Promise<void> {
    const { L, c } = this;
    const [, d2, d3] = L.dims[0];
    if (this.real) {
      const start: RandState = { x: NPB_SEED };
      randlc(
        start,
        skipAhead(NPB_A, 2 * c.nx * ((L.start[0][2] - 1) * c.ny + (L.start[0][1] - 1))),
      );
      const an = skipAhead(NPB_A, 2 * c.nx * c.ny);
      const plane = 2 * c.nx * d2;
      for (let k = 0; k < d3; k++) {
        const x0: RandState = { x: start.x };
        vranlc(plane, x0, NPB_A, x, plane * k);
        if (k !== d3 - 1) randlc(start, an);
      }
    }
    await this.charge(WORK.random, c.nx * d2 * d3);
  }

  /** `fft_init`: the roots of unity for transforms up to nx. */
  async fftInit(): Promise<void> {
    if (this.real) this.u = fftInit(this.L.dims[0][0]);
    await this.charge(WORK.fftInit, this.L.dims[0][0]);
  }

  /** One line-FFT sweep along `axis` (1, 2, 3) of an array with extents `d`. */
  async cffts(
    axis: 1 | 2 | 3,
    is: number,
    d: readonly [number, number, number],
    x: Float64Array,
    xout: Float64Array,
  ): Promise<void> {
    if (this.real) {
      const f = axis === 1 ? cffts1 : axis === 2 ? cffts2 : cffts3;
      f(is, d, x, xout, this.L.fftblock, this.u, this.scratch);
    }
    const n = d[0] * d[1] * d[2];
    await this.comm.compute({
      flops: WORK.fftFlopsPerLog * n * ilog2(d[axis - 1]),
      bytes: WORK.fftBytes * n,
    });
  }

  /**
   * A global transpose: `local` reorders `xin` into the send buffer's
   * layout, an MPI_Alltoall on `slice` exchanges equal blocks, `finish`
   * reorders what arrived into `xout`.
   */
  async transpose(
    slice: Comm,
    xin: Float64Array,
    xout: Float64Array,
    local: (xin: Float64Array, out: Float64Array) => void,
    finish: (got: Float64Array, xout: Float64Array) => void,
  ): Promise<void> {
    const n = this.L.ntdivnp;
    if (this.real) {
      local(xin, this.tmp);
      this.sendBuf!.set(this.tmp);
    }
    await this.charge(WORK.transpose, n);
    await slice.alltoall(this.sendBuf!, this.recvBuf!);
    if (this.real) finish(this.recvBuf!.get() as Float64Array, xout);
    await this.charge(WORK.transpose, n);
  }

  /** `fft(dir, x1, x2)`: the 3-D FFT of `x1` into `x2` (x1 is overwritten). */
  async fft(dir: 1 | -1, x1: Float64Array, x2: Float64Array): Promise<void> {
    const { L } = this;
    const [s0, s1, s2] = L.dims;
    if (L.type === "0D") {
      if (dir === 1) {
        await this.cffts(1, 1, s0, x1, x1);
        await this.cffts(2, 1, s1, x1, x1);
        await this.cffts(3, 1, s2, x1, x2);
      } else {
        await this.cffts(3, -1, s2, x1, x1);
        await this.cffts(2, -1, s1, x1, x1);
        await this.cffts(1, -1, s0, x1, x2);
      }
    } else if (L.type === "1D") {
      const np = L.np2;
      if (dir === 1) {
        await this.cffts(1, 1, s0, x1, x1);
        await this.cffts(2, 1, s1, x1, x1);
        // transpose_xy_z(2, 3): (nx·ny, nz/np) → (nz, nx·ny/np)
        const n1 = s1[0] * s1[1], n2 = s1[2];
        await this.transpose(
          this.slice1!,
          x1,
          x2,
          (a, o) => transpose2Local(n1, n2, a, o),
          (g, o) => transpose2Finish(n1, n2, np, g, o),
        );
        await this.cffts(1, 1, s2, x2, x2);
      } else {
        await this.cffts(1, -1, s2, x1, x1);
        // transpose_x_yz(3, 2): (nz, nx·ny/np) → (nx·ny, nz/np)
        const n1 = s2[0], n2 = s2[1] * s2[2];
        await this.transpose(
          this.slice1!,
          x1,
          x2,
          (a, o) => transpose2Local(n1, n2, a, o),
          (g, o) => transpose2Finish(n1, n2, np, g, o),
        );
        await this.cffts(2, -1, s1, x2, x2);
        await this.cffts(1, -1, s0, x2, x2);
      }
    } else {
      type Local = typeof transposeXYLocal;
      type Finish = typeof transposeXYFinish;
      // transpose_x_y (row of the array: commslice2) and transpose_x_z (commslice1) between
      // the layouts of stages `from` and `to`.
      const pass =
        (slice: Comm, local: Local, finish: Finish, np: number) =>
        (from: readonly number[], to: readonly number[], a: Float64Array, b: Float64Array) =>
          this.transpose(
            slice,
            a,
            b,
            (i, o) => local(from[0], from[1], from[2], i, o),
            (g, o) => finish(to[0], to[1], to[2], np, g, o),
          );
      const xy = pass(this.slice2!, transposeXYLocal, transposeXYFinish, L.np1);
      const xz = pass(this.slice1!, transposeXZLocal, transposeXZFinish, L.np2);
      if (dir === 1) {
        await this.cffts(1, 1, s0, x1, x1);
        await xy(s0, s1, x1, x2);
        await this.cffts(1, 1, s1, x2, x2);
        await xz(s1, s2, x2, x1);
        await this.cffts(1, 1, s2, x1, x2);
      } else {
        await this.cffts(1, -1, s2, x1, x1);
        await xz(s2, s1, x1, x2);
        await this.cffts(1, -1, s1, x2, x2);
        await xy(s1, s0, x2, x1);
        await this.cffts(1, -1, s0, x1, x2);
      }
    }
  }

  /** `evolve`: u0 ← u0 · twiddle; u1 ← u0. */
  async evolve(): Promise<void> {
    const n = this.L.ntdivnp;
    if (this.real) {
      const { u0, u1, twiddle } = this;
      for (let i = 0; i < n; i++) {
        const t = twiddle[i];
        u0[2 * i] *= t;
        u0[2 * i + 1] *= t;
      }
      u1.set(u0);
    }
    await this.charge(WORK.evolve, n);
  }

  /** `checksum`: 1024 elements at NPB's indices, summed on rank 0 by MPI_Reduce. */
  async checksum(x: Float64Array): Promise<void> {
    const { L, c, comm } = this;
    const [d1, d2] = L.dims[0];
    const [xs, ys, zs] = L.start[0], [xe, ye, ze] = L.end[0];
    const chk = new Float64Array(2);
    let hits = 0;
    for (let j = 1; j <= 1024; j++) {
      const q = (j % c.nx) + 1;
      if (q < xs || q > xe) continue;
      const r = ((3 * j) % c.ny) + 1;
      if (r < ys || r > ye) continue;
      const s = ((5 * j) % c.nz) + 1;
      if (s < zs || s > ze) continue;
      hits++;
      if (this.real) {
        const p = 2 * ((q - xs) + d1 * ((r - ys) + d2 * (s - zs)));
        chk[0] += x[p];
        chk[1] += x[p + 1];
      }
    }
    chk[0] /= this.ntotal;
    chk[1] /= this.ntotal;
    await this.charge(WORK.checksum, hits);
    const all = comm.rank === 0 ? new Float64Array(2) : null;
    await comm.reduce(chk, all, "SUM", 0);
    if (all) this.sums.push([all[0], all[1]]);
  }
}

function sizeString(nx: number, ny: number, nz: number): string {
  return sizeOf({ nx, ny, nz, niter: 0 }).trimStart();
}

/**
 * What one FT solve produced on a rank.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { FtSolution } from "./ft.ts";
 * const s: FtSolution = { sums: [], timeSec: 0, initSec: 0, layout: "1D", np1: 1, np2: 4 };
 * assert.equal(s.layout, "1D");
 * ```
 */
export interface FtSolution {
  /** Checksum of each time step (rank 0 only; empty elsewhere and in model mode). */
  sums: [number, number][];
  /** This rank's timed section, virtual seconds. */
  timeSec: number;
  /** This rank's untimed warm-up (ft.f90's T_init), virtual seconds. */
  initSec: number;
  layout: FtLayout["type"];
  np1: number;
  np2: number;
}

/**
 * ft.f90's main program for any grid `c` (powers of two): setup, the
 * untimed warm-up pass, then the timed run between a barrier and the last
 * checksum. `real` false charges the work without doing it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../mpi/mod.ts";
 * import { ftSolve } from "./ft.ts";
 * const c = { nx: 16, ny: 16, nz: 8, niter: 1 };
 * const one = await mpiexec({ np: 1, mode: "native" }, (comm) => ftSolve(comm, c, true));
 * const two = await mpiexec({ np: 2, mode: "native" }, (comm) => ftSolve(comm, c, true));
 * const [re1, im1] = one.results[0].sums[0], [re2, im2] = two.results[0].sums[0];
 * assert.ok(Math.abs(re1 - re2) < 1e-12 * Math.abs(re1) && Math.abs(im1 - im2) < 1e-12 * Math.abs(im1));
 * ```
 */
export async function ftSolve(
  comm: Comm,
  c: FtClass,
  real: boolean,
  log?: (line: string) => void,
): Promise<FtSolution> {
  const r = new FtRank(comm, c, real);
  await r.setup();
  // Warm-up pass, outside the benchmark's timer, as ft.f90 does to touch all data once; ft.f90
  // times it as T_init (no barrier first) and rank 0 prints it (format 1000 of the main program).
  const tInit = comm.wtime();
  await r.indexmap();
  await r.initialConditions(r.u1);
  await r.fftInit();
  await r.fft(1, r.u1, r.u0);
  const initSec = comm.wtime() - tInit;
  if (comm.rank === 0 && log) {
    for (const l of ["", ` Initialization time =${fortranF(initSec, 12, 4)}`, ""]) log(l);
  }
  // The timed run.
  await comm.barrier();
  const t0 = comm.wtime();
  await r.indexmap();
  await r.initialConditions(r.u1);
  await r.fftInit();
  await r.fft(1, r.u1, r.u0);
  for (let iter = 1; iter <= c.niter; iter++) {
    await r.evolve();
    await r.fft(-1, r.u1, r.u2);
    await r.checksum(r.u2);
  }
  return {
    sums: real ? r.sums : [],
    timeSec: comm.wtime() - t0,
    initSec,
    layout: r.L.type,
    np1: r.L.np1,
    np2: r.L.np2,
  };
}

/**
 * Run FT class `opts.cls` on every rank of `comm` (rank 0 returns the
 * result; its time is rank 0's, as NPB reports it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../mpi/mod.ts";
 * import { runFt } from "./ft.ts";
 * const { results } = await mpiexec({ np: 2, mode: "native" }, (comm) =>
 *   runFt(comm, { cls: "S", compute: "model" }));
 * assert.equal(results[0]!.size, "64x  64x  64");
 * assert.equal(results[0]!.verified, false); // the model computes no checksums
 * assert.equal(results[1], undefined);
 * ```
 */
export async function runFt(comm: Comm, opts: NasRunOptions): Promise<NasResult | undefined> {
  const why = ftCheckNp(comm.size, opts.cls);
  if (why) throw new Error(why);
  const c = FT_CLASSES[opts.cls as keyof typeof FT_CLASSES];
  const real = opts.compute === "real";
  const s = await ftSolve(comm, c, real, opts.log);
  if (comm.rank !== 0) return undefined;
  // ft.f90 verifies on rank 0 before stopping the timer; verification is local.
  const check = real ? ftVerify(opts.cls, s.sums) : { verified: false, errors: [] };
  // checksum's format 30 per step, then verify's format 2000 or 2001 (the layout is in the banner).
  const details = real
    ? s.sums.map(([re, im], i) =>
      ` T =${fortranI(i + 1, 5)}     Checksum =${fortranE(re, 22, 12, 1, "D")}${
        fortranE(im, 22, 12, 1, "D")
      }`
    ).concat(check.verified ? " Result verification successful" : " Result verification failed")
    : [
      ` Computation charged by the model (class ${opts.cls}): checksums not computed, verification not performed`,
    ];
  return {
    name: "FT",
    cls: opts.cls,
    size: sizeString(c.nx, c.ny, c.nz),
    iterations: c.niter,
    timeSec: s.timeSec,
    mops: ftMops(c.nx, c.ny, c.nz, c.niter, s.timeSec),
    opType: "floating point",
    verified: check.verified,
    compute: opts.compute,
    details,
  };
}

/**
 * NPB's banner for FT, as ft.f90's `setup` prints it on rank 0 without an
 * inputft.data (formats 1000, 234, 1001, 1002, 1004, 1005, 1010): the grid,
 * the steps, the processes, and the processor array and layout `setup`
 * chose for them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ftBanner } from "./ft.ts";
 * assert.deepEqual(ftBanner("S", 4), [
 *   "",
 *   "",
 *   " NAS Parallel Benchmarks 3.4 -- FT Benchmark",
 *   "",
 *   " No input file inputft.data. Using compiled defaults",
 *   " Size                :   64x  64x  64  (class S)",
 *   " Iterations          :              6",
 *   " Number of processes :              4",
 *   " Processor array     :         1x   4",
 *   " Layout type         :             1D",
 * ]);
 * ```
 */
export function ftBanner(cls: NasClass, np: number): string[] {
  const c = FT_CLASSES[cls as keyof typeof FT_CLASSES];
  if (!c || ftCheckNp(np, cls)) return [];
  const L = ftLayout(c, np, 0);
  return [
    "",
    "",
    " NAS Parallel Benchmarks 3.4 -- FT Benchmark",
    "",
    " No input file inputft.data. Using compiled defaults",
    ` Size                : ${sizeOf(c)}  (class ${cls})`,
    ` Iterations          : ${" ".repeat(7)}${fortranI(c.niter, 7)}`,
    ` Number of processes : ${" ".repeat(7)}${fortranI(np, 7)}`,
    ` Processor array     : ${" ".repeat(5)}${fortranI(L.np1, 4)}x${fortranI(L.np2, 4)}`,
    ` Layout type         : ${" ".repeat(9)}${fortranA(L.type, 5)}`,
  ];
}

/** i4,'x',i4,'x',i4 of the grid. */
function sizeOf(c: FtClass): string {
  return `${fortranI(c.nx, 4)}x${fortranI(c.ny, 4)}x${fortranI(c.nz, 4)}`;
}

/**
 * The FT kernel of `deno task nas`: classes S, W (real), A, B (model or
 * real), power-of-two process counts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernel } from "./ft.ts";
 * assert.equal(kernel.name, "FT");
 * assert.equal(kernel.checkNp(8, "A"), undefined);
 * assert.match(kernel.checkNp(12, "A")!, /power-of-two/);
 * ```
 */
export const kernel: NasKernel = {
  name: "FT",
  title: "3-D Fast Fourier Transform",
  language: "fortran",
  banner: ftBanner,
  classes: ["S", "W", "A", "B"],
  modelClasses: ["A", "B"],
  checkNp: ftCheckNp,
  run: runFt,
};

/**
 * NAS Parallel Benchmarks LU (NPB 3.4-MPI LU/*.f90): the 3-D compressible
 * Navier–Stokes equations with a known exact solution, discretised and
 * solved by symmetric successive over-relaxation with lower-upper block
 * Gauss–Seidel sweeps.
 *
 * Decomposition and communication as NPB: an xdim × ydim process grid
 * over (i, j) with z whole (proc_grid.f90); the SSOR sweeps form a
 * wavefront, one small message per neighbour per k-plane (exchange_1), the
 * residual needs two-deep ghost layers (exchange_3, one large message per
 * neighbour and direction), norms are MPI_Allreduces. Sequence of lu.f90:
 * read_input's ten broadcasts, setbv, setiv, erhs, one warm-up SSOR step,
 * setbv, setiv again, the timed itmax steps, error, pintgr and verify
 * (rank 0) against NPB's residual norms, error norms and surface integral
 * (relative difference ≤ 1e-8).
 *
 * The code lives in lu/: params (classes, references, process grid), grid
 * (fields, coefficients, work per loop nest), exchange, rhs, sweeps
 * (jacld, blts, jacu, buts), init (setbv, setiv), ssor, verify.
 *
 * Computation: class S and W compute for real; A and B may run in "model"
 * mode, charging every loop nest's counted work with the same messages in
 * the same order but no arithmetic (so no verification); a real run
 * charges the same work at the same points.
 *
 * @module
 */
import type { Comm } from "../../mpi/mod.ts";
import { cfdBanner, cfdResult, modelCheck } from "./cfd/result.ts";
import { fortranI } from "./format.ts";
import type { NasClass, NasKernel, NasResult, NasRunOptions } from "./kernel.ts";
import { LuGrid } from "./lu/grid.ts";
import { setbv, setiv } from "./lu/init.ts";
import { LU_CLASSES, luCheckNp, procGrid, subdomain } from "./lu/params.ts";
import { erhs } from "./lu/rhs.ts";
import { ssor } from "./lu/ssor.ts";
import { errorNorm, luVerify, pintgr } from "./lu/verify.ts";

/**
 * lu.f90's Mop/s constants: default-real (single precision) literals, which
 * Fortran promotes to double with their single-precision value (1984.77 is
 * 1984.77001953125 there).
 */
const LU_OPS = [1984.77, 10923.3, 27770.9].map(Math.fround);

/**
 * NPB's Mop/s formula for LU (lu.f90) for an n³ grid, `itmax` steps in
 * `sec` seconds, with its constants as the Fortran source holds them
 * (single precision).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { luMops } from "./lu.ts";
 * const f = Math.fround;
 * const ops = f(1984.77) * 12 ** 3 - f(10923.3) * 12 ** 2 + f(27770.9) * 36 / 3 - 144010;
 * assert.equal(luMops(12, 50, 2), 1e-6 * 50 * ops / 2);
 * ```
 */
export function luMops(n: number, itmax: number, sec: number): number {
  if (sec === 0) return 0;
  const s = n + n + n;
  const [a, b, c] = LU_OPS;
  return 1e-6 * itmax * (a * n * n * n - b * (s / 3) ** 2 + c * s / 3 - 144010) / sec;
}

/**
 * What an LU solve produced on a rank.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { LuSolution } from "./lu.ts";
 * const s: LuSolution = { xcr: [], xce: [], xci: 0, maxtime: 1, steps: 50, xdim: 2, ydim: 2 };
 * assert.equal(s.xdim * s.ydim, 4);
 * ```
 */
export interface LuSolution {
  /** Residual norms after the last step (zeros in model mode). */
  xcr: number[];
  /** Error norms against the exact solution. */
  xce: number[];
  /** Surface integral. */
  xci: number;
  /** Timed section, max over processes, seconds. */
  maxtime: number;
  steps: number;
  xdim: number;
  ydim: number;
}

/**
 * lu.f90's main program for class `cls` (np must pass `luCheckNp`):
 * `real` false charges the work without doing it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../mpi/mod.ts";
 * import { luSolve } from "./lu.ts";
 * import { LU_REFERENCE } from "./lu/params.ts";
 * const { results } = await mpiexec({ np: 2, mode: "native" }, (comm) => luSolve(comm, "S", true));
 * const s = results[0];
 * assert.deepEqual([s.xdim, s.ydim, s.steps], [2, 1, 50]);
 * assert.ok(Math.abs(s.xci - LU_REFERENCE.S.xci) <= 1e-8 * LU_REFERENCE.S.xci);
 * ```
 */
export async function luSolve(
  comm: Comm,
  cls: NasRunOptions["cls"],
  real: boolean,
  log?: (line: string) => void,
): Promise<LuSolution> {
  const why = luCheckNp(comm.size, cls);
  if (why) throw new Error(why);
  const c = LU_CLASSES[cls as keyof typeof LU_CLASSES];
  // read_input / bcast_inputs: ipr, inorm, itmax, dt, omega, tolrsd(5), nx0, ny0, nz0, timeron.
  const root = comm.rank === 0;
  for (
    const v of [
      new Int32Array([root ? 1 : 0]),
      new Int32Array([root ? c.itmax : 0]),
      new Int32Array([root ? c.itmax : 0]),
      new Float64Array([root ? c.dt : 0]),
      new Float64Array([root ? 1.2 : 0]),
      new Float64Array(5).fill(root ? 1e-8 : 0),
      new Int32Array([root ? c.n : 0]),
      new Int32Array([root ? c.n : 0]),
      new Int32Array([root ? c.n : 0]),
      new Int32Array([0]),
    ]
  ) await comm.bcast(v, 0);
  const grid = procGrid(comm.size) as { xdim: number; ydim: number };
  const sub = subdomain(c.n, c.n, c.n, grid.xdim, grid.ydim, comm.rank);
  const g = new LuGrid(c, sub, real, comm);
  await setbv(g);
  await setiv(g);
  await erhs(g);
  await ssor(g, 1, c.itmax);
  await setbv(g);
  await setiv(g);
  const s = await ssor(g, c.itmax, c.itmax, log);
  const xce = await errorNorm(g);
  const xci = await pintgr(g);
  return {
    xcr: s.rsdnm,
    xce,
    xci,
    maxtime: s.maxtime,
    steps: s.steps,
    xdim: grid.xdim,
    ydim: grid.ydim,
  };
}

/**
 * Run LU class `opts.cls` on every rank of `comm` (rank 0 returns the
 * result).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../mpi/mod.ts";
 * import { runLu } from "./lu.ts";
 * const { results } = await mpiexec({ np: 4, mode: "native" }, (comm) =>
 *   runLu(comm, { cls: "S", compute: "real" }));
 * assert.equal(results[0]!.verified, true);
 * assert.equal(results[0]!.size, "12x  12x  12");
 * assert.equal(results[0]!.iterations, 50);
 * ```
 */
export async function runLu(comm: Comm, opts: NasRunOptions): Promise<NasResult | undefined> {
  const real = opts.compute === "real";
  const s = await luSolve(comm, opts.cls, real, opts.log);
  if (comm.rank !== 0) return undefined;
  const c = LU_CLASSES[opts.cls as keyof typeof LU_CLASSES];
  const check = real ? luVerify(opts.cls, s.xcr, s.xce, s.xci, c.dt) : modelCheck(opts.cls);
  const mops = luMops(c.n, c.itmax, s.maxtime);
  return cfdResult("LU", opts, c.n, c.itmax, s.maxtime, mops, check);
}

/**
 * NPB's banner for LU, as read_input.f90 prints it on rank 0 without an
 * inputlu.data (formats 1000 to 1003, then an empty list-directed write),
 * and proc_grid.f90's line for a process count that is not a power of two.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { luBanner } from "./lu.ts";
 * assert.deepEqual(luBanner("S", 4), [
 *   "",
 *   "",
 *   " NAS Parallel Benchmarks 3.4 -- LU Benchmark",
 *   "",
 *   " Size:   12x  12x  12  (class S)",
 *   " Iterations:   50",
 *   " Total number of processes:      4",
 *   "",
 * ]);
 * assert.deepEqual(luBanner("S", 6).slice(-3), [
 *   "",
 *   " Proc_grid for nprocs =     6:    3 x    2",
 *   "",
 * ]);
 * ```
 */
export function luBanner(cls: NasClass, np: number): string[] {
  const c = LU_CLASSES[cls as keyof typeof LU_CLASSES];
  if (!c) return [];
  const lines = cfdBanner("LU", cls, c.n, c.itmax, np);
  // proc_grid.f90: a process count that is not a power of two names its grid (format 2100,
  // ' Proc_grid for nprocs =',i6,':',i5,' x',i5/), a blank line after it.
  const grid = procGrid(np);
  if ((np & (np - 1)) !== 0 && typeof grid !== "string") {
    lines.push(
      ` Proc_grid for nprocs =${fortranI(np, 6)}:${fortranI(grid.xdim, 5)} x${
        fortranI(grid.ydim, 5)
      }`,
      "",
    );
  }
  return lines;
}

/**
 * The LU kernel of `deno task nas`: classes S, W (real), A, B (model or
 * real); n1·n2 processes with n1/2 ≤ n2 ≤ n1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernel } from "./lu.ts";
 * assert.equal(kernel.name, "LU");
 * assert.equal(kernel.checkNp(16, "A"), undefined);
 * assert.match(kernel.checkNp(7, "A")!, /n1\*n2/);
 * ```
 */
export const kernel: NasKernel = {
  name: "LU",
  title: "Lower-Upper Gauss-Seidel",
  language: "fortran",
  banner: luBanner,
  classes: ["S", "W", "A", "B"],
  modelClasses: ["A", "B"],
  checkNp: luCheckNp,
  run: runLu,
};

/**
 * NAS Parallel Benchmarks BT (NPB 3.4-MPI BT/*.f90): the 3-D compressible
 * Navier–Stokes equations with a known exact solution, advanced in time by
 * an alternating-direction implicit (ADI) scheme whose factors are
 * block-tridiagonal systems of 5 × 5 blocks, one per grid line.
 *
 * Decomposition and communication as NPB: a square number of processes,
 * √np cells per process laid out diagonally (the multi-partition of
 * make_set.f90), so that every process has work at every stage of every
 * line solve. Each time step (adi.f90) exchanges two ghost planes with the
 * six neighbouring processes (copy_faces: six irecv, six isend, one
 * waitall), computes the rhs, solves along x, y and z — forward
 * elimination passing the last plane's blocks to the next process and
 * back substitution passing the solution back, one message per cell and
 * stage — and adds the update. Sequence of bt.f90: setup_mpi's two
 * communicator duplicates, six broadcasts of the inputs, initialize,
 * lhsinit, exact_rhs, one untimed step, initialize again, a barrier, the
 * timed niter steps, verify (error norm, copy_faces, rhs norm) and the
 * maximum time over the processes by MPI_Reduce.
 *
 * The code lives in bt/: params (classes, references, cells), grid (fields,
 * constants, work per loop nest), init (initialize, lhsinit, exact_rhs),
 * rhs (compute_rhs), faces (copy_faces), solve_subs (the 5 × 5 block
 * operations), solve (x/y/z_solve), verify (norms and verification).
 *
 * Computation: class S and W compute for real by default, A, B and C run
 * in "model" mode (every class can, with `--compute model`), charging every loop nest's counted work with the same
 * messages in the same order but no arithmetic (so no verification); a
 * real run charges the same work at the same points.
 *
 * @module
 */
import type { Comm, Request } from "../../mpi/mod.ts";
import { cfdBanner, cfdResult, modelCheck } from "./cfd/result.ts";
import { fortranI } from "./format.ts";
import type { NasClass, NasKernel, NasResult, NasRunOptions } from "./kernel.ts";
import { copyFaces } from "./bt/faces.ts";
import { BT_WORK, BtGrid, interiorPoints } from "./bt/grid.ts";
import { exactRhs, forInterior, initialize, lhsinit } from "./bt/init.ts";
import { BT_CLASSES, btCheckNp, type BtClassName, makeSet } from "./bt/params.ts";
import { solve } from "./bt/solve.ts";
import { btVerify, errorNorm, rhsNorm } from "./bt/verify.ts";

/** bt.f90's Mop/s constants: default-real (single precision) literals. */
const BT_OPS = [3478.8, 17655.7, 28023.7].map(Math.fround);

/**
 * NPB's Mop/s formula for BT (bt.f90) for an n³ grid, `niter` steps in
 * `sec` seconds, with its constants as the Fortran source holds them
 * (single precision).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { btMops } from "./bt.ts";
 * const f = Math.fround;
 * assert.equal(btMops(12, 60, 2), 1e-6 * 60 * (f(3478.8) * 1728 - f(17655.7) * 144 + f(28023.7) * 12) / 2);
 * assert.equal(btMops(12, 60, 0), 0);
 * ```
 */
export function btMops(n: number, niter: number, sec: number): number {
  if (sec === 0) return 0;
  const n3 = n * n * n, navg = (n + n + n) / 3;
  const [a, b, c] = BT_OPS;
  return 1.0e-6 * niter * (a * n3 - b * navg ** 2 + c * navg) / sec;
}

/**
 * What a BT solve produced on a rank.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BtSolution } from "./bt.ts";
 * const s: BtSolution = { xcr: [], xce: [], maxtime: 1, niter: 60, ncells: 2 };
 * assert.equal(s.ncells ** 2, 4);
 * ```
 */
export interface BtSolution {
  /** Residual norms (divided by dt) after the last step (zeros in model mode). */
  xcr: number[];
  /** Error norms against the exact solution. */
  xce: number[];
  /** Timed section, max over processes (rank 0; 0 elsewhere), seconds. */
  maxtime: number;
  niter: number;
  /** Cells per process (√np). */
  ncells: number;
}

/** adi.f90: copy_faces (and compute_rhs), x_solve, y_solve, z_solve, add. */
async function adi(g: BtGrid, state: { sendReq?: Request }): Promise<void> {
  await copyFaces(g);
  for (let d = 0; d < 3; d++) await solve(g, d, state);
  let points = 0;
  for (const c of g.cells) {
    points += interiorPoints(c.cell);
    if (g.real) {
      forInterior(c, (q) => {
        for (let m = 0; m < 5; m++) c.u[q + m] = c.u[q + m] + c.rhs[q + m];
      });
    }
  }
  await g.charge([[BT_WORK.add, points]]);
}

/**
 * bt.f90's main program for class `cls` (np must pass `btCheckNp`):
 * `real` false charges the work without doing it. Rank 0 hands the
 * `Time step` lines to `log`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../mpi/mod.ts";
 * import { btSolve } from "./bt.ts";
 * import { BT_REFERENCE } from "./bt/params.ts";
 * const { results } = await mpiexec({ np: 1, mode: "native" }, (comm) => btSolve(comm, "S", true));
 * const s = results[0];
 * assert.deepEqual([s.ncells, s.niter], [1, 60]);
 * assert.ok(Math.abs(s.xce[0] - BT_REFERENCE.S.xce[0]) <= 1e-8 * BT_REFERENCE.S.xce[0]);
 * ```
 */
export async function btSolve(
  comm: Comm,
  cls: NasClass,
  real: boolean,
  log?: (line: string) => void,
): Promise<BtSolution> {
  const why = btCheckNp(comm.size, cls);
  if (why) throw new Error(why);
  const c = BT_CLASSES[cls as BtClassName];
  const root = comm.rank === 0;
  const g = new BtGrid(c, makeSet(c.n, comm.size, comm.rank), real, comm);
  // setup_mpi: comm_solve and comm_rhs duplicate comm_setup.
  await g.setup();
  // bt.f90: niter, dt, grid_points(3), wr_interval, rd_interval, timeron from the root.
  for (
    const v of [
      new Int32Array([root ? c.niter : 0]),
      new Float64Array([root ? c.dt : 0]),
      new Int32Array(3).fill(root ? c.n : 0),
      new Int32Array([root ? 5 : 0]),
      new Int32Array([0]),
      new Int32Array([0]),
    ]
  ) await comm.bcast(v, 0);
  g.allocBuffers();
  await initialize(g);
  lhsinit(g);
  await exactRhs(g);
  // One untimed step to touch all code, then start again.
  const state: { sendReq?: Request } = {};
  await adi(g, state);
  await initialize(g);
  await comm.barrier();
  const t0 = comm.wtime();
  const say = root && log ? log : undefined;
  for (let step = 1; step <= c.niter; step++) {
    if (step % 20 === 0 || step === c.niter || step === 1) {
      say?.(` Time step ${fortranI(step, 4)}`);
    }
    await adi(g, state);
  }
  const t = comm.wtime() - t0;
  // verify.f90: the error norm, the rhs of the final u (copy_faces), its norm over dt.
  const xce = await errorNorm(g);
  await copyFaces(g);
  const xcr = (await rhsNorm(g)).map((x) => x / c.dt);
  const tmax = new Float64Array(1);
  await comm.reduce(new Float64Array([t]), tmax, "MAX", 0);
  await comm.barrier();
  return { xcr, xce, maxtime: root ? tmax[0] : 0, niter: c.niter, ncells: g.ncells };
}

/**
 * Run BT class `opts.cls` on every rank of `comm` (rank 0 returns the
 * result).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../mpi/mod.ts";
 * import { runBt } from "./bt.ts";
 * const { results } = await mpiexec({ np: 4, mode: "native" }, (comm) =>
 *   runBt(comm, { cls: "S", compute: "real" }));
 * assert.equal(results[0]!.verified, true);
 * assert.equal(results[0]!.size, "12x  12x  12");
 * assert.equal(results[0]!.iterations, 60);
 * ```
 */
export async function runBt(comm: Comm, opts: NasRunOptions): Promise<NasResult | undefined> {
  const real = opts.compute === "real";
  const s = await btSolve(comm, opts.cls, real, opts.log);
  if (comm.rank !== 0) return undefined;
  const c = BT_CLASSES[opts.cls as BtClassName];
  const check = real ? btVerify(opts.cls, s.xcr, s.xce, c.dt) : modelCheck(opts.cls);
  const mops = btMops(c.n, c.niter, s.maxtime);
  return cfdResult("BT", opts, c.n, c.niter, s.maxtime, mops, check, real ? s : undefined);
}

/**
 * NPB's banner for BT, as bt.f90 prints it on rank 0 without an
 * inputbt.data (formats 1000, 234, 1001 to 1003, then an empty
 * list-directed write).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { btBanner } from "./bt.ts";
 * assert.deepEqual(btBanner("S", 4), [
 *   "",
 *   "",
 *   " NAS Parallel Benchmarks 3.4 -- BT Benchmark",
 *   "",
 *   " No input file inputbt.data. Using compiled defaults",
 *   " Size:   12x  12x  12  (class S)",
 *   " Iterations:   60    dt:   0.0100000",
 *   " Total number of processes:      4",
 *   "",
 * ]);
 * ```
 */
export function btBanner(cls: NasClass, np: number): string[] {
  const c = BT_CLASSES[cls as BtClassName];
  return c ? cfdBanner("BT", cls, c.n, c.niter, np, { input: "inputbt.data", dt: c.dt }) : [];
}

/**
 * The BT kernel of `deno task nas`: classes S, W (real by default), A, B,
 * C (model by default); every class can run either way; a square number
 * of processes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernel } from "./bt.ts";
 * assert.equal(kernel.name, "BT");
 * assert.equal(kernel.checkNp(16, "A"), undefined);
 * assert.match(kernel.checkNp(8, "A")!, /Expecting a square number of processes \(such as 4\)/);
 * ```
 */
export const kernel: NasKernel = {
  name: "BT",
  title: "Block Tridiagonal (ADI)",
  language: "fortran",
  banner: btBanner,
  classes: ["S", "W", "A", "B", "C"],
  modelClasses: ["S", "W", "A", "B", "C"],
  checkNp: btCheckNp,
  run: runBt,
};

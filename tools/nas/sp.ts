/**
 * NAS Parallel Benchmarks SP (NPB 3.4-MPI SP/*.f90): the 3-D compressible
 * Navier–Stokes equations with a known exact solution, advanced in time by
 * the Beam–Warming approximate factorisation, diagonalised (Pulliam–
 * Chaussee) so that each of the three ADI factors is a set of scalar
 * penta-diagonal systems along the grid lines of one direction.
 *
 * Decomposition and communication as NPB: the multi-partition of √np × √np
 * × √np cells over a square number of processes, each holding √np cells
 * placed so that every plane of cells along every direction has one cell
 * of every process (make_set.f90). Each step exchanges the cells' two
 * outer layers with the six neighbouring processes (copy_faces: six
 * irecv, six isend, one waitall) and then solves along x, y and z, each a
 * pipeline through the process's cells with one message per stage forward
 * and one back (x_solve, y_solve, z_solve). Sequence of sp.f90: four
 * broadcasts (niter, dt, grid_points, timeron), initialize, lhsinit,
 * exact_rhs, one warm-up step, initialize again, a barrier, the timed
 * niter steps, verify (error_norm, copy_faces, rhs_norm: two
 * MPI_Allreduces), the MPI_Reduce(MAX) of the time to rank 0, a last
 * barrier, and the comparison with NPB's norms (relative difference ≤
 * 1e-8).
 *
 * The code lives in sp/: params (classes, references, cells, buffers),
 * data (fields, constants, work per loop nest), init (initialize,
 * lhsinit, exact_rhs), rhs (compute_rhs), faces (copy_faces), lhs
 * (lhsx/y/z), invr (txinvr, ninvr, pinvr, tzetar, add), solve (x/y/z_solve,
 * adi), verify (error_norm, rhs_norm, verify).
 *
 * Computation: class S and W compute for real; A, B and C may run in
 * "model" mode, charging every loop nest's counted work with the same
 * messages in the same order but no arithmetic (so no verification); a
 * real run charges the same work at the same points.
 *
 * @module
 */
import type { Comm } from "../../mpi/mod.ts";
import { cfdBanner, cfdResult, modelCheck } from "./cfd/result.ts";
import { fortranI } from "./format.ts";
import type { NasClass, NasKernel, NasResult, NasRunOptions } from "./kernel.ts";
import { SpState } from "./sp/data.ts";
import { exactRhs, initialize, lhsinit } from "./sp/init.ts";
import { makeSet, SP_CLASSES, spCells, spCheckNp } from "./sp/params.ts";
import { adi } from "./sp/solve.ts";
import { copyFaces } from "./sp/faces.ts";
import { errorNorm, rhsNorm, spVerify } from "./sp/verify.ts";

/**
 * sp.f90's Mop/s constants: default-real (single precision) literals, which
 * Fortran promotes to double with their single-precision value.
 */
const SP_OPS = [881.174, 4683.91, 11484.5, 19272.4].map(Math.fround);

/**
 * NPB's Mop/s formula for SP (sp.f90) for an n³ grid, `niter` steps in
 * `sec` seconds, with its constants as the Fortran source holds them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spMops } from "./sp.ts";
 * const f = Math.fround;
 * const ops = f(881.174) * 12 ** 3 - f(4683.91) * 12 ** 2 + f(11484.5) * 12 - f(19272.4);
 * assert.equal(spMops(12, 100, 2), 1e-6 * 100 * ops / 2);
 * assert.equal(spMops(12, 100, 0), 0);
 * ```
 */
export function spMops(n: number, niter: number, sec: number): number {
  if (sec === 0) return 0;
  const n3 = n * n * n, t = (n + n + n) / 3;
  const [a, b, c, d] = SP_OPS;
  return 1.0e-6 * niter * (a * n3 - b * t ** 2 + c * t - d) / sec;
}

/**
 * What an SP solve produced (the norms and time on rank 0; other ranks get
 * the norms and their own time).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { SpSolution } from "./sp.ts";
 * const s: SpSolution = { xcr: [], xce: [], tmax: 1, ncells: 2 };
 * assert.equal(s.ncells, 2);
 * ```
 */
export interface SpSolution {
  /** RMS norms of the residual divided by dt (zeros in model mode). */
  xcr: number[];
  /** RMS norms of the error against the exact solution. */
  xce: number[];
  /** The timed section: on rank 0 the maximum over all processes, seconds. */
  tmax: number;
  /** Cells per direction (√np). */
  ncells: number;
}

/**
 * sp.f90's main program for class `cls` (np must pass `spCheckNp`): `real`
 * false charges the work without doing it; rank 0 passes NPB's
 * ` Time step` lines to `log`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../mpi/mod.ts";
 * import { spSolve } from "./sp.ts";
 * import { SP_REFERENCE } from "./sp/params.ts";
 * const { results } = await mpiexec({ np: 1, mode: "native" }, (comm) => spSolve(comm, "S", true));
 * const s = results[0];
 * assert.equal(s.ncells, 1);
 * assert.ok(Math.abs(s.xce[4] - SP_REFERENCE.S.xce[4]) <= 1e-8 * SP_REFERENCE.S.xce[4]);
 * ```
 */
export async function spSolve(
  comm: Comm,
  cls: NasClass,
  real: boolean,
  log?: (line: string) => void,
): Promise<SpSolution> {
  const why = spCheckNp(comm.size, cls);
  if (why) throw new Error(why);
  const c = SP_CLASSES[cls as keyof typeof SP_CLASSES];
  // setup_mpi: comm_setup is MPI_COMM_WORLD (a square count is all active); two dups.
  const setup = comm;
  const solve = await comm.dup();
  const rhsComm = await comm.dup();
  const root = comm.rank === 0;
  // niter, dt, grid_points(3), timeron from the root (sp.f90).
  await setup.bcast(new Int32Array([root ? c.niter : 0]), 0);
  await setup.bcast(new Float64Array([root ? c.dt : 0]), 0);
  await setup.bcast(new Int32Array(root ? [c.n, c.n, c.n] : [0, 0, 0]), 0);
  await setup.bcast(new Int32Array([0]), 0);
  const ncells = spCells(comm.size);
  const g = new SpState(c, makeSet(c.n, ncells, comm.rank), real, setup, solve, rhsComm);
  initialize(g);
  lhsinit(g);
  exactRhs(g);
  // One time step to touch all code, and reinitialize.
  await adi(g);
  initialize(g);
  await g.flush();
  await setup.barrier();
  const t0 = setup.wtime();
  for (let step = 1; step <= c.niter; step++) {
    // sp.f90 format 200 on the root at step 1 and every 20th.
    if (root && (step % 20 === 0 || step === 1)) log?.(` Time step ${fortranI(step, 4)}`);
    await adi(g);
  }
  await g.flush();
  const t = setup.wtime() - t0;
  // verify.f90: error_norm, copy_faces, rhs_norm; xcr / dt.
  const xce = await errorNorm(g);
  await copyFaces(g);
  const xcr = (await rhsNorm(g)).map((x) => x / c.dt);
  const tmax = new Float64Array(1);
  await setup.reduce(new Float64Array([t]), root ? tmax : null, "MAX", 0);
  // sp.f90's end (label 999): a barrier on MPI_COMM_WORLD before mpi_finalize.
  await comm.barrier();
  return { xcr, xce, tmax: root ? tmax[0] : t, ncells };
}

/**
 * Run SP class `opts.cls` on every rank of `comm` (rank 0 returns the
 * result).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../mpi/mod.ts";
 * import { runSp } from "./sp.ts";
 * const { results } = await mpiexec({ np: 4, mode: "native" }, (comm) =>
 *   runSp(comm, { cls: "S", compute: "real" }));
 * assert.equal(results[0]!.verified, true);
 * assert.equal(results[0]!.size, "12x  12x  12");
 * assert.equal(results[0]!.iterations, 100);
 * ```
 */
export async function runSp(comm: Comm, opts: NasRunOptions): Promise<NasResult | undefined> {
  const real = opts.compute === "real";
  const s = await spSolve(comm, opts.cls, real, opts.log);
  if (comm.rank !== 0) return undefined;
  const c = SP_CLASSES[opts.cls as keyof typeof SP_CLASSES];
  const check = real ? spVerify(opts.cls, s.xcr, s.xce, c.dt) : modelCheck(opts.cls);
  const mops = spMops(c.n, c.niter, s.tmax);
  return cfdResult("SP", opts, c.n, c.niter, s.tmax, mops, check, real ? s : undefined);
}

/**
 * NPB's banner for SP, as sp.f90 prints it on the root without an
 * inputsp.data (formats 1000, 234, 1001 to 1003, then an empty
 * list-directed write).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spBanner } from "./sp.ts";
 * assert.deepEqual(spBanner("S", 4), [
 *   "",
 *   "",
 *   " NAS Parallel Benchmarks 3.4 -- SP Benchmark",
 *   "",
 *   " No input file inputsp.data. Using compiled defaults",
 *   " Size:   12x  12x  12  (class S)",
 *   " Iterations:  100    dt:   0.0150000",
 *   " Total number of processes:      4",
 *   "",
 * ]);
 * ```
 */
export function spBanner(cls: NasClass, np: number): string[] {
  const c = SP_CLASSES[cls as keyof typeof SP_CLASSES];
  return c ? cfdBanner("SP", cls, c.n, c.niter, np, { input: "inputsp.data", dt: c.dt }) : [];
}

/**
 * The SP kernel of `deno task nas`: classes S, W (real), A, B, C (model or
 * real); a square number of processes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernel } from "./sp.ts";
 * assert.equal(kernel.name, "SP");
 * assert.equal(kernel.checkNp(16, "A"), undefined);
 * assert.match(kernel.checkNp(8, "A")!, /square number of processes \(such as 4\)/);
 * ```
 */
export const kernel: NasKernel = {
  name: "SP",
  title: "Scalar Penta-diagonal",
  language: "fortran",
  banner: spBanner,
  classes: ["S", "W", "A", "B", "C"],
  modelClasses: ["S", "W", "A", "B", "C"],
  checkNp: spCheckNp,
  run: runSp,
};

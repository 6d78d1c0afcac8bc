/**
 * NAS CG (NPB 3.4 MPI, CG/cg.f90): estimate the smallest eigenvalue of a
 * large sparse symmetric positive-definite matrix by inverse power
 * iteration, each step solving A z = x with 25 conjugate-gradient
 * iterations. The matrix (NPB's `makea` generator) is cut into a 2-D grid of
 * blocks over a power-of-two number of processes; dot products are summed
 * along process rows by pairwise exchanges and every matrix-vector product
 * ends with recursive-halving exchanges of vector pieces and a transpose
 * exchange (see `cg/solver.ts`).
 *
 * Classes S, W, A and B. Real arithmetic at every class; "model" mode
 * (every class) skips the arithmetic of the timed iterations and charges the
 * same per-loop-nest counts, sending the same messages. The matrix is always
 * generated for real (every rank draws NPB's whole random stream), since the
 * nonzero count of each block sets the charges.
 *
 * @module
 */
import type { Comm } from "../../mpi/mod.ts";
import { fortranE, fortranF, fortranI } from "./format.ts";
import type { ComputeMode, NasClass, NasKernel, NasResult, NasRunOptions } from "./kernel.ts";
import { NPB_A, NPB_SEED, randlc } from "./randlc.ts";
import { type CsrBlock, makea, makeaCapacity } from "./cg/makea.ts";
import { CG_CLASSES, cgMop, type CgParams, verifyZeta } from "./cg/params.ts";
import { cgGrid, cgPartition } from "./cg/partition.ts";
import { CgSolver } from "./cg/solver.ts";

export { CG_CLASSES, cgMop, type CgParams, verifyZeta } from "./cg/params.ts";

/**
 * Why CG cannot run on `np` processes (undefined when it can): NPB's
 * `get_active_nprocs` kind 3 wants a power of two, and each block needs at
 * least two rows and columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkCgNp } from "./cg.ts";
 * assert.equal(checkCgNp(16, "A"), undefined);
 * assert.match(checkCgNp(12, "S")!, /power-of-two/);
 * ```
 */
export function checkCgNp(np: number, cls: NasClass): string | undefined {
  if (!Number.isInteger(np) || np < 1 || (np & (np - 1)) !== 0) {
    return `CG needs a power-of-two number of processes (got ${np})`;
  }
  const p = CG_CLASSES[cls];
  if (!p) return `CG has no class ${cls} (classes: ${Object.keys(CG_CLASSES).join(", ")})`;
  const { npcols } = cgGrid(np);
  if (p.na / npcols < 2) return `CG class ${cls} (na=${p.na}) cannot be split over ${np} processes`;
  return undefined;
}

/**
 * NPB's closing lines for ζ (cg.f90's formats 100–302): "Benchmark
 * completed", then success with ζ and its error, or failure with ζ and the
 * reference.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CG_CLASSES, cgDetails } from "./cg.ts";
 * const p = CG_CLASSES.S!;
 * assert.deepEqual(cgDetails(p, p.zetaVerify), [
 *   " Benchmark completed ",
 *   " VERIFICATION SUCCESSFUL ",
 *   " Zeta is     0.8597177507865E+01",
 *   " Error is    0.0000000000000E+00",
 * ]);
 * assert.equal(cgDetails(p, 8.6)[1], " VERIFICATION FAILED");
 * assert.equal(cgDetails(p, 8.6)[3], " The correct zeta is  0.8597177507865E+01");
 * ```
 */
export function cgDetails(p: CgParams, zeta: number): string[] {
  const { verified, err } = verifyZeta(p, zeta);
  return [" Benchmark completed "].concat(
    verified
      ? [
        " VERIFICATION SUCCESSFUL ",
        ` Zeta is    ${fortranE(zeta, 20, 13)}`,
        ` Error is   ${fortranE(err, 20, 13)}`,
      ]
      : [
        " VERIFICATION FAILED",
        ` Zeta                ${fortranE(zeta, 20, 13)}`,
        ` The correct zeta is ${fortranE(p.zetaVerify, 20, 13)}`,
      ],
  );
}

/**
 * NPB's banner for CG (cg.f90's formats 1000–1005), printed by rank 0 before the run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cgBanner } from "./cg.ts";
 * assert.deepEqual(cgBanner("S", 4), [
 *   "",
 *   "",
 *   " NAS Parallel Benchmarks 3.4 -- CG Benchmark",
 *   "",
 *   " Size:       1400  (class S)",
 *   " Iterations:    15",
 *   " Number of nonzeroes per row:        7",
 *   " Eigenvalue shift:    10.000",
 *   " Total number of processes:      4",
 * ]);
 * ```
 */
export function cgBanner(cls: NasClass, np: number): string[] {
  const p = CG_CLASSES[cls];
  if (!p) return [];
  return [
    "",
    "",
    " NAS Parallel Benchmarks 3.4 -- CG Benchmark",
    "",
    ` Size: ${fortranI(p.na, 10)}  (class ${cls})`,
    ` Iterations: ${fortranI(p.niter, 5)}`,
    ` Number of nonzeroes per row: ${fortranI(p.nonzer, 8)}`,
    ` Eigenvalue shift: ${fortranF(p.shift, 9, 3)}`,
    ` Total number of processes: ${fortranI(np, 6)}`,
  ];
}

/**
 * NPB's progress line for outer iteration `it` (format 9001), preceded at
 * the first by the table header (format 9000).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cgIterationLines } from "./cg.ts";
 * assert.deepEqual(cgIterationLines(1, 1.25e-13, 8.5971775078648), [
 *   "",
 *   "   iteration           ||r||                 zeta",
 *   "        1       0.12500000000000E-12     8.5971775078648",
 * ]);
 * ```
 */
export function cgIterationLines(it: number, rnorm: number, zeta: number): string[] {
  const line = `    ${fortranI(it, 5)}      ${fortranE(rnorm, 21, 14)}${fortranF(zeta, 20, 13)}`;
  return it === 1 ? ["", "   iteration           ||r||                 zeta", line] : [line];
}

/** makea's cost (untimed initialisation): ~12 flops per random number, the products, the sort. */
function makeaWork(m: CsrBlock): { flops: number; bytes: number } {
  return { flops: 12 * m.randoms + 2 * m.generated, bytes: 48 * m.generated + 24 * m.nnz };
}

/**
 * What rank 0 of a CG run returns: the report and the exact ζ of the last
 * iteration (NaN when modelled), for comparisons beyond the printed digits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CgOutcome } from "./cg.ts";
 * const zetaOf = (o: CgOutcome) => o.zeta;
 * assert.equal(typeof zetaOf, "function");
 * ```
 */
export interface CgOutcome {
  result: NasResult;
  /** ζ after the last iteration. */
  zeta: number;
  /** ‖x − A z‖ of the last iteration's CG solve. */
  rnorm: number;
}

/**
 * Run CG on every rank of `comm` (NPB's main program); rank 0 returns the
 * outcome, the others undefined.
 *
 * @throws Error for an unsupported class, process count or compute mode
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../mpi/mod.ts";
 * import { CG_CLASSES, runCg } from "./cg.ts";
 * const { results } = await mpiexec({ np: 2, mode: "native" }, (comm) =>
 *   runCg(comm, { cls: "S", compute: "real" }));
 * assert.ok(Math.abs(results[0]!.zeta - CG_CLASSES.S!.zetaVerify) < 1e-12);
 * assert.equal(results[1], undefined);
 * ```
 */
export async function runCg(comm: Comm, opts: NasRunOptions): Promise<CgOutcome | undefined> {
  const why = checkCgNp(comm.size, opts.cls);
  if (why) throw new Error(why);
  const p = CG_CLASSES[opts.cls]!;
  const mode: ComputeMode = opts.compute;
  if (mode !== "real" && mode !== "model") {
    throw new Error(`CG: compute mode '${String(mode)}' is not real or model`);
  }
  const np = comm.size, me = comm.rank;
  const { log, hooks } = opts;
  const say = (lines: string[]) => {
    if (me === 0 && log) { for (const l of lines) log(l); }
  };

  // initialize_mpi: the root broadcasts whether timers are on (a Fortran logical).
  await comm.bcast(new Int32Array(1), 0);
  const part = cgPartition(p.na, np, me);

  // The random stream as NPB leaves it before makea: seeded, advanced once (zeta = randlc(tran, amult)).
  const tran = { x: NPB_SEED };
  randlc(tran, NPB_A);
  let m = makea(
    p.na,
    p.nonzer,
    p.rcond,
    p.shift,
    part,
    makeaCapacity(p.na, p.nonzer, np, part.npcols),
    tran,
  );
  await comm.compute(makeaWork(m));
  if (mode === "model") {
    // Only the counts are needed from here on.
    m = { ...m, rowPtr: new Int32Array(0), colidx: new Int32Array(0), a: new Float64Array(0) };
  }
  const solver = new CgSolver(comm, p.na, part, m, mode, hooks);
  try {
    await solver.resetX();
    // One untimed iteration to touch all code and data (as NPB does), then start over.
    await solver.conjGrad();
    await solver.normalize(p.shift);
    await solver.resetX();

    await comm.barrier();
    const t0 = comm.wtime();
    let zeta = NaN, rnorm = NaN;
    for (let it = 1; it <= p.niter; it++) {
      solver.iteration = it;
      rnorm = await solver.conjGrad();
      zeta = await solver.normalize(p.shift);
      if (mode === "real") say(cgIterationLines(it, rnorm, zeta));
    }
    const t = new Float64Array([comm.wtime() - t0]);
    const tmax = new Float64Array(1);
    await comm.reduce(t, tmax, "MAX", 0);
    if (me !== 0) return undefined;

    const { verified } = mode === "real" ? verifyZeta(p, zeta) : { verified: false };
    const time = tmax[0];
    const result: NasResult = {
      name: "CG",
      cls: opts.cls,
      size: String(p.na),
      iterations: p.niter,
      timeSec: time,
      mops: time > 0 ? cgMop(p) / time : 0,
      opType: "floating point",
      verified,
      compute: mode,
      details: mode === "real" ? cgDetails(p, zeta) : [
        " Benchmark completed ",
        " CG: computation charged by the model; no matrix-vector products done, nothing to verify.",
      ],
      // For comparing runs beyond the printed digits (the contract's optional `values`).
      values: mode === "real" ? { zeta } : undefined,
    };
    return { result, zeta, rnorm };
  } finally {
    await solver.free();
  }
}

/**
 * The CG kernel for `deno task nas`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../mpi/mod.ts";
 * import { kernel } from "./cg.ts";
 * const { results } = await mpiexec({ np: 1, mode: "native" }, (comm) =>
 *   kernel.run(comm, { cls: "S", compute: "real" }));
 * const r = results[0]!;
 * assert.equal(r.verified, true);
 * assert.equal(r.size, "1400");
 * assert.equal(r.iterations, 15);
 * ```
 */
export const kernel: NasKernel = {
  name: "CG",
  title: "Conjugate Gradient",
  language: "fortran",
  classes: ["S", "W", "A", "B"],
  modelClasses: ["S", "W", "A", "B"],
  checkNp: checkCgNp,
  banner: cgBanner,
  run: async (comm, opts) => (await runCg(comm, opts))?.result,
};

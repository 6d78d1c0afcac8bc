/**
 * NAS MG (NPB 3.4 MPI, MG/mg.f90): V-cycle multigrid for the discrete
 * Poisson problem ∇²u = v on a periodic nx³ grid, v being ±1 at the twenty
 * extreme points of NPB's random field (`zran3`). The grid of every level
 * is cut into bricks over a power-of-two number of processes (`mg/setup.ts`);
 * every operator ends with a ghost-cell exchange in three dimensions
 * (`mg/comm3.ts`), norms are global reductions.
 *
 * Classes S, W, A and B. Real arithmetic at S and W (and at A or B if asked:
 * it works and verifies, holding ~0.9 GB of grids for 16 ranks in one JS heap); "model" mode (every
 * class) skips the arithmetic, charges the same per-loop-nest counts and
 * sends the same messages in the same order.
 *
 * @module
 */
import type { Comm } from "../../mpi/mod.ts";
import { fortranE, fortranF, fortranI } from "./format.ts";
import type { ComputeMode, NasClass, NasKernel, NasResult, NasRunOptions } from "./kernel.ts";
import { MgExchange } from "./mg/comm3.ts";
import { MG_CLASSES, mgMop, type MgParams, verifyNorm } from "./mg/params.ts";
import { mgGrid, type MgLayout, mgSetup } from "./mg/setup.ts";
import {
  type Grid,
  grid,
  interp,
  interpWork,
  localNorms,
  normWork,
  psinv,
  psinvWork,
  resid,
  residWork,
  rprj3,
  rprj3Work,
  zeroWork,
} from "./mg/stencils.ts";
import { zran3 } from "./mg/zran3.ts";

export { MG_CLASSES, mgMop, type MgParams, verifyNorm } from "./mg/params.ts";

/** NPB's upper limit on processes (mg_data's `maxprocs`). */
const MAXPROCS = 131072;

/**
 * Why MG cannot run on `np` processes (undefined when it can): a power of
 * two (NPB's `get_active_nprocs` kind 3), at most NPB's `maxprocs`, and at
 * least two points per process along every axis of the finest grid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkMgNp } from "./mg.ts";
 * assert.equal(checkMgNp(16, "S"), undefined);
 * assert.match(checkMgNp(6, "S")!, /power-of-two/);
 * assert.match(checkMgNp(65536, "S")!, /cannot be split/);
 * ```
 */
export function checkMgNp(np: number, cls: NasClass): string | undefined {
  if (!Number.isInteger(np) || np < 1 || (np & (np - 1)) !== 0) {
    return `MG needs a power-of-two number of processes (got ${np})`;
  }
  if (np > MAXPROCS) return `MG allows at most ${MAXPROCS} processes (got ${np})`;
  const p = MG_CLASSES[cls];
  if (!p) return `MG has no class ${cls} (classes: ${Object.keys(MG_CLASSES).join(", ")})`;
  if (mgGrid(np).some((pi) => p.nx / pi < 2)) {
    return `MG class ${cls} (${p.nx}³) cannot be split over ${np} processes`;
  }
  return undefined;
}

/**
 * NPB's size string for MG (`i4,'x',i4,'x',i4`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MG_CLASSES, mgSize } from "./mg.ts";
 * assert.equal(mgSize(MG_CLASSES.S!), "  32x  32x  32");
 * ```
 */
export function mgSize(p: MgParams): string {
  return `${fortranI(p.nx, 4)}x${fortranI(p.nx, 4)}x${fortranI(p.nx, 4)}`;
}

/**
 * NPB's closing lines for the L2 norm (mg.f90's formats 100–302).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MG_CLASSES, mgDetails } from "./mg.ts";
 * const p = MG_CLASSES.S!;
 * assert.deepEqual(mgDetails(p, p.verifyValue), [
 *   "",
 *   " Benchmark completed ",
 *   " VERIFICATION SUCCESSFUL ",
 *   " L2 Norm is  0.5307707005734E-04",
 *   " Error is    0.0000000000000E+00",
 * ]);
 * assert.equal(mgDetails(p, 1)[4], " The correct L2 Norm is  0.5307707005734E-04");
 * ```
 */
export function mgDetails(p: MgParams, rnm2: number): string[] {
  const { verified, err } = verifyNorm(p, rnm2);
  return ["", " Benchmark completed "].concat(
    verified
      ? [
        " VERIFICATION SUCCESSFUL ",
        ` L2 Norm is ${fortranE(rnm2, 20, 13)}`,
        ` Error is   ${fortranE(err, 20, 13)}`,
      ]
      : [
        " VERIFICATION FAILED",
        ` L2 Norm is             ${fortranE(rnm2, 20, 13)}`,
        ` The correct L2 Norm is ${fortranE(p.verifyValue, 20, 13)}`,
      ],
  );
}

/**
 * NPB's banner for MG (mg.f90's formats 1000, 51, 1001–1003 and the blank
 * line after them), printed by rank 0 before the run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mgBanner } from "./mg.ts";
 * assert.deepEqual(mgBanner("S", 4), [
 *   "",
 *   "",
 *   " NAS Parallel Benchmarks 3.4 -- MG Benchmark",
 *   "",
 *   " No input file. Using compiled defaults ",
 *   " Size:   32x  32x  32  (class S)",
 *   " Iterations:    4",
 *   " Total number of processes:      4",
 *   "",
 * ]);
 * ```
 */
export function mgBanner(cls: NasClass, np: number): string[] {
  const p = MG_CLASSES[cls];
  if (!p) return [];
  return [
    "",
    "",
    " NAS Parallel Benchmarks 3.4 -- MG Benchmark",
    "",
    " No input file. Using compiled defaults ",
    ` Size: ${mgSize(p)}  (class ${cls})`,
    ` Iterations: ${fortranI(p.nit, 4)}`,
    ` Total number of processes: ${fortranI(np, 6)}`,
    "",
  ];
}

/** One rank of MG: its grids on every level and the V-cycle. */
class MgRank {
  readonly #real: boolean;
  /** u and r per level (1..lt), v on the finest. */
  readonly u: Grid[] = [];
  readonly r: Grid[] = [];
  readonly v: Grid;

  constructor(
    readonly comm: Comm,
    readonly p: MgParams,
    readonly layout: MgLayout,
    readonly exchange: MgExchange,
    readonly mode: ComputeMode,
  ) {
    this.#real = mode === "real";
    const [m1, m2, m3] = layout.m;
    for (let k = 1; k <= p.lt; k++) {
      this.u[k] = grid(m1[k], m2[k], m3[k], this.#real);
      this.r[k] = grid(m1[k], m2[k], m3[k], this.#real);
    }
    this.v = grid(layout.n1, layout.n2, layout.n3, this.#real);
  }

  async zero3(g: Grid): Promise<void> {
    if (this.#real) g.a.fill(0);
    await this.comm.compute(zeroWork(g.n1, g.n2, g.n3));
  }

  /** `resid` on level k, then its exchange. */
  async resid(u: Grid, v: Grid, r: Grid, k: number): Promise<void> {
    if (this.#real) resid(u, v, r, this.p.a);
    await this.comm.compute(residWork(u.n1, u.n2, u.n3));
    await this.exchange.comm3(r, k);
  }

  /** `psinv` on level k, then its exchange. */
  async psinv(r: Grid, u: Grid, k: number): Promise<void> {
    if (this.#real) psinv(r, u, this.p.c);
    await this.comm.compute(psinvWork(r.n1, r.n2, r.n3));
    await this.exchange.comm3(u, k);
  }

  /** `rprj3` from level k to k−1, then the coarse grid's exchange. */
  async rprj3(k: number): Promise<void> {
    const s = this.r[k - 1];
    if (this.#real) rprj3(this.r[k], s);
    await this.comm.compute(rprj3Work(s.n1, s.n2, s.n3));
    await this.exchange.comm3(s, k - 1);
  }

  /** `interp` from level k−1 into u on level k, then the expanding exchange. */
  async interp(k: number): Promise<void> {
    const z = this.u[k - 1], u = this.u[k];
    if (this.#real) interp(z, u);
    await this.comm.compute(interpWork(z.n1, z.n2, z.n3, u.n1, u.n2, u.n3));
    await this.exchange.comm3Ex(u, k);
  }

  /** `norm2u3`: the L2 and uniform norms of r over the whole grid. */
  async norm2u3(r: Grid): Promise<{ rnm2: number; rnmu: number }> {
    const { sum, max } = this.#real ? localNorms(r) : { sum: 0, max: 0 };
    await this.comm.compute(normWork(r.n1, r.n2, r.n3));
    const out = new Float64Array(1);
    await this.comm.allreduce(new Float64Array([max]), out, "MAX");
    const rnmu = out[0];
    await this.comm.allreduce(new Float64Array([sum]), out, "SUM");
    const dn = this.p.nx * this.p.nx * this.p.nx;
    return { rnm2: Math.sqrt(out[0] / dn), rnmu };
  }

  /** `mg3P`: one V-cycle. */
  async mg3P(): Promise<void> {
    const lt = this.p.lt;
    // Down: restrict the residual level by level.
    for (let k = lt; k >= 2; k--) await this.rprj3(k);
    // Coarsest: an approximate solve.
    await this.zero3(this.u[1]);
    await this.psinv(this.r[1], this.u[1], 1);
    // Up: prolongate, form the residual, smooth.
    for (let k = 2; k <= lt - 1; k++) {
      await this.zero3(this.u[k]);
      await this.interp(k);
      await this.resid(this.u[k], this.r[k], this.r[k], k);
      await this.psinv(this.r[k], this.u[k], k);
    }
    await this.interp(lt);
    await this.resid(this.u[lt], this.v, this.r[lt], lt);
    await this.psinv(this.r[lt], this.u[lt], lt);
  }

  /** Reset u and v to the start (NPB's `setup; zero3(u); zran3(v)`). */
  async init(): Promise<void> {
    await this.zero3(this.u[this.p.lt]);
    await zran3(this.comm, this.layout, this.exchange, this.v, this.p.nx, this.mode);
  }
}

/**
 * What rank 0 of an MG run returns: the report and the exact L2 norm of the
 * final residual (NaN when modelled).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MgOutcome } from "./mg.ts";
 * const normOf = (o: MgOutcome) => o.rnm2;
 * assert.equal(typeof normOf, "function");
 * ```
 */
export interface MgOutcome {
  result: NasResult;
  /** L2 norm of the residual after the last V-cycle. */
  rnm2: number;
}

/**
 * Run MG on every rank of `comm` (NPB's main program); rank 0 returns the
 * outcome, the others undefined.
 *
 * @throws Error for an unsupported class, process count or compute mode
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../mpi/mod.ts";
 * import { MG_CLASSES, runMg } from "./mg.ts";
 * const { results } = await mpiexec({ np: 2, mode: "native" }, (comm) =>
 *   runMg(comm, { cls: "S", compute: "real" }));
 * assert.ok(Math.abs(results[0]!.rnm2 / MG_CLASSES.S!.verifyValue - 1) < 1e-8);
 * ```
 */
export async function runMg(comm: Comm, opts: NasRunOptions): Promise<MgOutcome | undefined> {
  const why = checkMgNp(comm.size, opts.cls);
  if (why) throw new Error(why);
  const p = MG_CLASSES[opts.cls]!;
  const mode: ComputeMode = opts.compute;
  if (mode !== "real" && mode !== "model") {
    throw new Error(`MG: compute mode '${String(mode)}' is not real or model`);
  }
  const { log, hooks } = opts;
  const say = (...lines: string[]) => {
    if (comm.rank === 0 && log) { for (const l of lines) log(l); }
  };
  await comm.barrier();
  const tInit = comm.wtime();
  // The root's input (lt, nit, nx, ny, nz, debug_vec(0:7), timeron) goes to everyone.
  for (const v of [p.lt, p.nit, p.nx, p.nx, p.nx]) await comm.bcast(new Int32Array([v]), 0);
  await comm.bcast(new Int32Array(8), 0);
  await comm.bcast(new Int32Array(1), 0);

  const layout = mgSetup(p.nx, p.lt, comm.size, comm.rank);
  const exchange = new MgExchange(comm, layout, mode, hooks);
  try {
    const g = new MgRank(comm, p, layout, exchange, mode);
    const lt = p.lt;
    await g.init();
    await g.norm2u3(g.v);
    await g.resid(g.u[lt], g.v, g.r[lt], lt);
    await g.norm2u3(g.r[lt]);
    // One iteration for startup, then start over.
    await g.mg3P();
    await g.resid(g.u[lt], g.v, g.r[lt], lt);
    await g.init();
    say("", ` Initialization time: ${fortranF(comm.wtime() - tInit, 15, 3)} seconds`, "");

    await comm.barrier();
    const t0 = comm.wtime();
    await g.resid(g.u[lt], g.v, g.r[lt], lt);
    await g.norm2u3(g.r[lt]);
    for (let it = 1; it <= p.nit; it++) {
      if (it === 1 || it === p.nit || it % 5 === 0) say(`  iter ${fortranI(it, 4)}`);
      exchange.iteration = it;
      await g.mg3P();
      await g.resid(g.u[lt], g.v, g.r[lt], lt);
    }
    const { rnm2 } = await g.norm2u3(g.r[lt]);
    const t = new Float64Array([comm.wtime() - t0]);
    const tmax = new Float64Array(1);
    await comm.reduce(t, tmax, "MAX", 0);
    if (comm.rank !== 0) return undefined;

    const real = mode === "real";
    const time = tmax[0];
    const result: NasResult = {
      name: "MG",
      cls: opts.cls,
      size: mgSize(p),
      iterations: p.nit,
      timeSec: time,
      mops: time > 0 ? mgMop(p) / time : 0,
      opType: "floating point",
      verified: real && verifyNorm(p, rnm2).verified,
      compute: mode,
      details: real ? mgDetails(p, rnm2) : [
        "",
        " Benchmark completed ",
        " MG: computation charged by the model; no grid operators applied, nothing to verify.",
      ],
      // For comparing runs beyond the printed digits (the contract's optional `values`).
      values: real ? { rnm2 } : undefined,
    };
    return { result, rnm2: real ? rnm2 : NaN };
  } finally {
    await exchange.free();
  }
}

/**
 * The MG kernel for `deno task nas`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../mpi/mod.ts";
 * import { kernel } from "./mg.ts";
 * const { results } = await mpiexec({ np: 1, mode: "native" }, (comm) =>
 *   kernel.run(comm, { cls: "S", compute: "real" }));
 * const r = results[0]!;
 * assert.equal(r.verified, true);
 * assert.equal(r.iterations, 4);
 * ```
 */
export const kernel: NasKernel = {
  name: "MG",
  title: "Multigrid",
  language: "fortran",
  classes: ["S", "W", "A", "B"],
  modelClasses: ["S", "W", "A", "B"],
  checkNp: checkMgNp,
  banner: mgBanner,
  run: async (comm, opts) => (await runMg(comm, opts))?.result,
};

/**
 * The contract every NAS Parallel Benchmarks kernel of `deno task nas`
 * implements: a name, the problem classes it knows, which process counts it
 * accepts (NPB's rules: powers of two for most kernels, squares for BT/SP),
 * and a `run` that executes on every rank of an MPI communicator and returns
 * the figures NPB's `print_results` reports.
 *
 * Computation: class S and W always compute for real. For larger classes a
 * kernel may run in `"model"` mode, where it charges the computation's cost
 * to virtual time (`comm.compute`) instead of doing it, provided its
 * communication — every message, its size, its order — is exactly what the
 * real computation performs. A kernel says which classes it can model.
 *
 * @module
 */
import type { Comm } from "../../mpi/mod.ts";

/** NPB problem classes. */
export type NasClass = "S" | "W" | "A" | "B" | "C";

/** How a run treats computation. */
export type ComputeMode = "real" | "model";

/**
 * Options of one run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NasRunOptions } from "./kernel.ts";
 * const o: NasRunOptions = { cls: "S", compute: "real" };
 * assert.equal(o.compute, "real");
 * ```
 */
export interface NasRunOptions {
  cls: NasClass;
  compute: ComputeMode;
}

/**
 * What `run` returns on rank 0 (other ranks return `undefined`): the
 * fields of NPB's `print_results` report.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NasResult } from "./kernel.ts";
 * const r: NasResult = {
 *   name: "EP", cls: "S", size: "33554432", iterations: 0, timeSec: 0.5, mops: 67.1,
 *   opType: "Random numbers generated", verified: true, compute: "real", details: [],
 * };
 * assert.ok(r.verified);
 * ```
 */
export interface NasResult {
  /** Kernel name as NPB prints it ("IS", "CG", …). */
  name: string;
  cls: NasClass;
  /** Problem size as NPB prints it ("65536", "64x 64x 64", …). */
  size: string;
  /** Iterations as NPB prints them (0 where NPB prints none, as for EP). */
  iterations: number;
  /** Timed section in virtual seconds (MPI_Wtime differences, max over ranks as NPB takes it). */
  timeSec: number;
  /** Mop/s total, computed by NPB's formula for this kernel. */
  mops: number;
  /** NPB's "Operation type" string ("keys ranked", "floating point", …). */
  opType: string;
  /** Verification against NPB's published reference values. */
  verified: boolean;
  /** How computation was treated. */
  compute: ComputeMode;
  /** Kernel-specific verification lines (computed vs reference values, errors). */
  details: string[];
}

/**
 * One kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NasKernel } from "./kernel.ts";
 * const k: Pick<NasKernel, "name" | "checkNp"> = {
 *   name: "XX",
 *   checkNp: (np) => (np & (np - 1)) === 0 ? undefined : "needs a power of two",
 * };
 * assert.equal(k.checkNp(3, "S"), "needs a power of two");
 * assert.equal(k.checkNp(4, "S"), undefined);
 * ```
 */
export interface NasKernel {
  /** "IS", "EP", "CG", "MG", "FT", "LU", "BT", "SP". */
  readonly name: string;
  /** Classes this kernel knows. */
  readonly classes: readonly NasClass[];
  /** Classes it can run in "model" mode. */
  readonly modelClasses: readonly NasClass[];
  /** Why `np` is not allowed (undefined when it is), by NPB's rules for this kernel. */
  checkNp(np: number, cls: NasClass): string | undefined;
  /** Run on every rank; rank 0 returns the result. */
  run(comm: Comm, opts: NasRunOptions): Promise<NasResult | undefined>;
}

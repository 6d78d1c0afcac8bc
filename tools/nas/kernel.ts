/**
 * The contract every NAS Parallel Benchmarks kernel of `deno task nas`
 * implements: a name, the problem classes it knows, which process counts it
 * accepts (NPB's rules: powers of two for most kernels, squares for BT/SP),
 * and a `run` that executes on every rank of an MPI communicator and returns
 * the figures NPB's `print_results` reports.
 *
 * Computation: class S and W compute for real by default. A kernel may also
 * run in `"model"` mode, where it charges the computation's cost to virtual
 * time (`comm.compute`) instead of doing it, provided its communication —
 * every message, its size, its order — is exactly what the real computation
 * performs; `deno task nas --compute auto` picks it for classes A and B. A
 * kernel says which classes it can model (listing S too lets a test compare
 * a model run with a real one). Both modes charge the same work by the same
 * formulas, so they take the same virtual time. A model run computes no
 * results, so it verifies nothing: `verified` is false and the report says
 * `NOT PERFORMED`.
 *
 * @module
 */
import type { Comm, MpiBuffer } from "../../mpi/mod.ts";

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
  /**
   * The kernel's graph, for a kernel that takes one ({@link NasKernel.graphs}:
   * DT's communication graph, "BH", "WH" or "SH", NPB's command-line
   * argument); absent: the kernel's default (the first of its `graphs`).
   */
  graph?: string;
  /**
   * Where the lines NPB prints while it runs go: rank 0's progress lines
   * (IS's `   iteration` list, CG's per-iteration norms, …) and any rank's
   * own messages (IS's `Failed partial verification: …`), in the order they
   * are printed; absent: print nothing.
   */
  log?: (line: string) => void;
  /** Observation points for tests (e.g. corrupting a received buffer); absent in normal runs. */
  hooks?: NasHooks;
}

/**
 * A kernel's bulk data exchange has landed: `buffer` (in the rank's domain
 * memory) holds what arrived, block `i` of `blocks` from rank
 * `blocks[i].peer`. Called on every rank after the exchange returns and
 * before the kernel reads the data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ExchangeEvent } from "./kernel.ts";
 * const largest = (e: ExchangeEvent) => Math.max(...e.blocks.map((b) => b.bytes));
 * assert.equal(typeof largest, "function");
 * ```
 */
export interface ExchangeEvent {
  /** The communicator the exchange ran on. */
  comm: Comm;
  /** Which exchange ("alltoallv keys", "transpose", …). */
  step: string;
  /** Iteration of the kernel's main loop (0 for untimed warm-up calls where NPB counts them so). */
  iteration: number;
  /** The receive buffer. */
  buffer: MpiBuffer;
  /** Byte ranges of `buffer` by sender. */
  blocks: readonly { peer: number; offset: number; bytes: number }[];
}

/**
 * Test hooks a kernel calls where it has them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NasHooks } from "./kernel.ts";
 * const seen: number[] = [];
 * const h: NasHooks = { afterExchange: (e) => void seen.push(e.iteration) };
 * assert.equal(typeof h.afterExchange, "function");
 * ```
 */
export interface NasHooks {
  /** After each bulk exchange (see {@link ExchangeEvent}); may change the buffer. */
  afterExchange?(ev: ExchangeEvent): void | Promise<void>;
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
  /**
   * Problem size: one number ("65536"; NPB's n1 with n2 = n3 = 0) or a grid
   * "NXxNYxNZ" (spaces allowed, "64x 64x 64"); the report lays it out as NPB does.
   */
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
  /**
   * The name NPB's report prints when it is not `name`: DT prints its
   * graph's name (` DT_BH.S Benchmark Completed`); absent: `name`.
   */
  reportName?: string;
  /**
   * The computed values the verification compared (EP: sx, sy, gc; CG:
   * zeta; …), for checking that two runs got identical results; absent in
   * model mode.
   */
  values?: Record<string, number>;
  /**
   * Processes that took part (NPB's `nprocs_active`, printed as
   * `Active processes`); absent: all of them; 0: what NPB passes where it
   * prints no such line (DT).
   */
  activeProcs?: number;
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
  /** "IS", "EP", "CG", "MG", "FT", "LU", "BT", "SP", "DT". */
  readonly name: string;
  /** What it is, for `--help` ("Integer Sort", …). */
  readonly title?: string;
  /**
   * The language of NPB's MPI source, which decides the report layout:
   * `print_results.f90` (default) or `c_print_results.c` (IS).
   */
  readonly language?: "fortran" | "c";
  /**
   * The graphs the kernel takes as NPB's command-line argument (DT: "BH",
   * "WH", "SH"), the first its default; absent: it takes none.
   */
  readonly graphs?: readonly string[];
  /**
   * The lines NPB prints on rank 0 before the run (its banner), for `np`
   * processes (and `graph`, for a kernel that takes one).
   */
  banner?(cls: NasClass, np: number, graph?: string): string[];
  /** Classes this kernel knows. */
  readonly classes: readonly NasClass[];
  /** Classes it can run in "model" mode. */
  readonly modelClasses: readonly NasClass[];
  /**
   * Why `np` is not allowed (undefined when it is), by NPB's rules for this
   * kernel (and `graph`, for a kernel that takes one; absent: its default).
   */
  checkNp(np: number, cls: NasClass, graph?: string): string | undefined;
  /** Run on every rank; rank 0 returns the result. */
  run(comm: Comm, opts: NasRunOptions): Promise<NasResult | undefined>;
}

/**
 * One rank of CG (NPB 3.4 cg.f90): the conjugate-gradient solve
 * (`conj_grad`) and the ζ estimate of each inverse-power iteration, with
 * NPB's communication: every dot product is summed across the process row by
 * log2(npcols) exchanges of one double (two for the norms), and every
 * matrix-vector product sums partial results across the row by
 * recursive-halving exchanges of vector pieces and then swaps the result with
 * the transpose process — each exchange an `MPI_Irecv`, a blocking
 * `MPI_Send` and an `MPI_Wait`, with NPB's tags and lengths.
 *
 * The vectors that travel (w, and q or r which receive) live in MPI memory
 * (`comm.alloc`), as NPB sends straight from its arrays; the arithmetic runs
 * on typed-array copies of them.
 *
 * Computation is charged per loop nest by formula (`comm.compute`), the same
 * in "real" and "model" mode; in model mode the arithmetic is skipped and the
 * messages still go, with the same sizes, partners and order.
 *
 * @module
 */
import type { Comm, MpiBuffer } from "../../../mpi/mod.ts";
import type { ComputeMode } from "../kernel.ts";
import type { NasHooks } from "../kernel.ts";
import type { CsrBlock } from "./makea.ts";
import { CGITMAX } from "./params.ts";
import type { CgPartition } from "./partition.ts";

/** Bytes of one double. */
const F8 = 8;

type Dbuf = MpiBuffer;

/**
 * A CG rank's solver state.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../../mpi/mod.ts";
 * import { NPB_A, NPB_SEED, randlc } from "../randlc.ts";
 * import { makea, makeaCapacity } from "./makea.ts";
 * import { cgPartition } from "./partition.ts";
 * import { CgSolver } from "./solver.ts";
 * const { results } = await mpiexec({ np: 1, mode: "native" }, async (comm) => {
 *   const part = cgPartition(1400, 1, 0);
 *   const tran = { x: NPB_SEED };
 *   randlc(tran, NPB_A);
 *   const m = makea(1400, 7, 0.1, 10, part, makeaCapacity(1400, 7, 1, 1), tran);
 *   const s = new CgSolver(comm, 1400, part, m, "real");
 *   s.x.fill(1);
 *   return await s.conjGrad();
 * });
 * assert.ok(results[0]! > 0 && results[0]! < 1e-10); // ||r|| after 25 CG steps
 * ```
 */
export class CgSolver {
  /** The iterate of the inverse power method (local columns). */
  readonly x: Float64Array;
  /** CG's solution of A z = x. */
  readonly z: Float64Array;
  readonly #p: Float64Array;
  readonly #q: Float64Array;
  readonly #r: Float64Array;
  readonly #w: Float64Array;
  /** MPI memory for w (sent) and q, r (received). */
  readonly #wBuf: Dbuf;
  readonly #qBuf: Dbuf;
  readonly #rBuf: Dbuf;
  readonly #one = new Float64Array(1);
  readonly #oneIn = new Float64Array(1);
  readonly #two = new Float64Array(2);
  readonly #twoIn = new Float64Array(2);
  readonly #real: boolean;
  readonly #rows: number;
  readonly #cols: number;
  readonly #naa: number;
  readonly #hooks: NasHooks | undefined;
  /** The outer iteration running (0: the untimed one), for exchange hooks. */
  iteration = 0;

  /**
   * @param comm the benchmark's communicator
   * @param na order of the matrix
   * @param part this rank's block and schedule
   * @param m this rank's matrix block (its `nnz` is all model mode uses)
   * @param mode real arithmetic or modelled
   * @param hooks test hooks called when vector pieces have landed
   */
  constructor(
    readonly comm: Comm,
    na: number,
    readonly part: CgPartition,
    readonly m: CsrBlock,
    readonly mode: ComputeMode,
    hooks?: NasHooks,
  ) {
    this.#real = mode === "real";
    this.#hooks = hooks;
    this.#rows = part.lastrow - part.firstrow + 1;
    this.#cols = part.lastcol - part.firstcol + 1;
    // NPB sizes its vectors naa+2 with naa = na / nprows; uneven splits may need one more.
    this.#naa = Math.trunc(na / part.nprows);
    const len = Math.max(this.#naa, this.#rows, this.#cols) + 2;
    const vec = () => new Float64Array(this.#real ? len : 0);
    this.x = vec();
    this.z = vec();
    this.#p = vec();
    this.#q = vec();
    this.#r = vec();
    this.#w = vec();
    this.#wBuf = comm.alloc(len, "float64");
    this.#qBuf = comm.alloc(len, "float64");
    this.#rBuf = comm.alloc(len, "float64");
  }

  /** Release the MPI memory. */
  async free(): Promise<void> {
    await this.comm.free(this.#wBuf);
    await this.comm.free(this.#qBuf);
    await this.comm.free(this.#rBuf);
  }

  /** Tell the test hook that `bytes` from `peer` landed at element `at` of `buf`. */
  async #landed(step: string, buf: Dbuf, at: number, n: number, peer: number): Promise<void> {
    await this.#hooks?.afterExchange?.({
      comm: this.comm,
      step,
      iteration: this.iteration,
      buffer: buf,
      blocks: [{ peer, offset: F8 * at, bytes: F8 * n }],
    });
  }

  async #work(flops: number, bytes: number): Promise<void> {
    await this.comm.compute({ flops, bytes });
  }

  /**
   * Sum `value` over the process row: NPB's log2(npcols) exchanges of one
   * double with reduce_exch_proc(i), tag i. Returns the sum (NaN in model mode).
   */
  async rowSum(value: number): Promise<number> {
    const p = this.part;
    let sum = value;
    for (let i = 0; i < p.l2npcols; i++) {
      const req = await this.comm.irecv(this.#oneIn, p.reduceExchProc[i], i + 1);
      this.#one[0] = sum;
      await this.comm.send(this.#one, p.reduceExchProc[i], i + 1);
      await this.comm.wait(req);
      sum += this.#oneIn[0];
    }
    return this.#real ? sum : NaN;
  }

  /** As {@link rowSum} for a pair (the norms of the main loop). */
  async rowSum2(a: number, b: number): Promise<[number, number]> {
    const p = this.part;
    let s0 = a, s1 = b;
    for (let i = 0; i < p.l2npcols; i++) {
      const req = await this.comm.irecv(this.#twoIn, p.reduceExchProc[i], i + 1);
      this.#two[0] = s0;
      this.#two[1] = s1;
      await this.comm.send(this.#two, p.reduceExchProc[i], i + 1);
      await this.comm.wait(req);
      s0 += this.#twoIn[0];
      s1 += this.#twoIn[1];
    }
    return this.#real ? [s0, s1] : [NaN, NaN];
  }

  /** w = A·v over this rank's block (the partition submatrix-vector multiply). */
  async #spmv(v: Float64Array): Promise<void> {
    const { rowPtr, colidx, a } = this.m;
    if (this.#real) {
      const w = this.#w;
      for (let j = 0; j < this.#rows; j++) {
        let sum = 0;
        for (let k = rowPtr[j]; k < rowPtr[j + 1]; k++) sum += a[k] * v[colidx[k]];
        w[j] = sum;
      }
    }
    // 2 flops per nonzero; a (8 B), colidx (4 B) and the gathered v (8 B) per
    // nonzero, rowstr (4 B) and w (8 B) per row.
    await this.#work(2 * this.m.nnz, 20 * this.m.nnz + 12 * this.#rows);
  }

  /**
   * Sum w across the process row and swap with the transpose process; the
   * result lands in `dst` (q or r, whose MPI memory `dstBuf` receives).
   */
  async #reduceAndTranspose(dst: Float64Array, dstBuf: Dbuf): Promise<void> {
    const p = this.part;
    const w = this.#w;
    for (let i = p.l2npcols - 1; i >= 0; i--) {
      const rs = p.reduceRecvStarts[i] - 1, rl = p.reduceRecvLengths[i];
      const ss = p.reduceSendStarts[i] - 1, sl = p.reduceSendLengths[i];
      const req = await this.comm.irecv(dstBuf.subarray(rs, rs + rl), p.reduceExchProc[i], i + 1);
      if (this.#real) this.#wBuf.set(w.subarray(ss, ss + sl), ss);
      await this.comm.send(this.#wBuf.subarray(ss, ss + sl), p.reduceExchProc[i], i + 1);
      await this.comm.wait(req);
      await this.#landed("row reduction", dstBuf, rs, rl, p.reduceExchProc[i]);
      const s0 = p.sendStart - 1;
      if (this.#real) {
        dst.set(dstBuf.get(rs, rs + rl) as Float64Array, rs);
        for (let j = s0; j < s0 + rl; j++) w[j] += dst[j];
      }
      await this.#work(rl, 3 * F8 * rl);
    }
    if (p.l2npcols !== 0) {
      const n = p.exchRecvLength;
      const ss = p.sendStart - 1, sl = p.sendLen;
      const req = await this.comm.irecv(dstBuf.subarray(0, n), p.exchProc, 1);
      if (this.#real) this.#wBuf.set(w.subarray(ss, ss + sl), ss);
      await this.comm.send(this.#wBuf.subarray(ss, ss + sl), p.exchProc, 1);
      await this.comm.wait(req);
      await this.#landed("transpose", dstBuf, 0, n, p.exchProc);
      if (this.#real) dst.set(dstBuf.get(0, n) as Float64Array, 0);
    } else {
      if (this.#real) dst.set(w.subarray(0, p.exchRecvLength), 0);
      await this.#work(0, 2 * F8 * p.exchRecvLength);
    }
  }

  /**
   * NPB's `conj_grad`: 25 CG iterations on A z = x from z = 0, then the
   * explicit residual ‖x − A z‖. Returns the residual norm (NaN in model mode).
   */
  async conjGrad(): Promise<number> {
    const cols = this.#cols;
    const real = this.#real;
    const { x, z } = this;
    const p = this.#p, q = this.#q, r = this.#r, w = this.#w;
    const n0 = this.#naa + 1;
    if (real) {
      for (let j = 0; j < n0; j++) {
        q[j] = 0;
        z[j] = 0;
        r[j] = x[j];
        p[j] = x[j];
        w[j] = 0;
      }
    }
    await this.#work(0, 6 * F8 * n0);

    // rho = r.r
    let sum = 0;
    if (real) { for (let j = 0; j < cols; j++) sum += r[j] * r[j]; }
    await this.#work(2 * cols, F8 * cols);
    let rho = await this.rowSum(sum);

    for (let cgit = 1; cgit <= CGITMAX; cgit++) {
      // q = A.p
      await this.#spmv(p);
      await this.#reduceAndTranspose(q, this.#qBuf);
      // Clear w for reuse.
      const wl = Math.max(this.#rows, cols);
      if (real) w.fill(0, 0, wl);
      await this.#work(0, F8 * wl);
      // d = p.q
      sum = 0;
      if (real) { for (let j = 0; j < cols; j++) sum += p[j] * q[j]; }
      await this.#work(2 * cols, 2 * F8 * cols);
      const d = await this.rowSum(sum);
      const alpha = rho / d;
      const rho0 = rho;
      // z = z + alpha p, r = r - alpha q
      if (real) {
        for (let j = 0; j < cols; j++) {
          z[j] += alpha * p[j];
          r[j] -= alpha * q[j];
        }
      }
      await this.#work(4 * cols, 6 * F8 * cols);
      // rho = r.r
      sum = 0;
      if (real) { for (let j = 0; j < cols; j++) sum += r[j] * r[j]; }
      await this.#work(2 * cols, F8 * cols);
      rho = await this.rowSum(sum);
      const beta = rho / rho0;
      // p = r + beta p
      if (real) { for (let j = 0; j < cols; j++) p[j] = r[j] + beta * p[j]; }
      await this.#work(2 * cols, 3 * F8 * cols);
    }

    // ||r|| = ||x - A.z||: form A.z (into r), then the norm.
    await this.#spmv(z);
    await this.#reduceAndTranspose(r, this.#rBuf);
    sum = 0;
    if (real) {
      for (let j = 0; j < cols; j++) {
        const d = x[j] - r[j];
        sum += d * d;
      }
    }
    await this.#work(3 * cols, 2 * F8 * cols);
    const d = await this.rowSum(sum);
    return real ? Math.sqrt(d) : NaN;
  }

  /**
   * One outer iteration after `conjGrad`: the norms x·z and z·z summed over
   * the row, and x = z / ‖z‖. Returns ζ = shift + 1/(x·z) (NaN in model mode).
   */
  async normalize(shift: number): Promise<number> {
    const cols = this.#cols;
    const { x, z } = this;
    let t1 = 0, t2 = 0;
    if (this.#real) {
      for (let j = 0; j < cols; j++) {
        t1 += x[j] * z[j];
        t2 += z[j] * z[j];
      }
    }
    await this.#work(4 * cols, 2 * F8 * cols);
    const [xz, zz] = await this.rowSum2(t1, t2);
    const inv = 1.0 / Math.sqrt(zz);
    if (this.#real) { for (let j = 0; j < cols; j++) x[j] = inv * z[j]; }
    await this.#work(cols, 2 * F8 * cols);
    return shift + 1.0 / xz;
  }

  /** x = (1, …, 1) over NPB's naa+1 entries. */
  async resetX(): Promise<void> {
    const n0 = this.#naa + 1;
    if (this.#real) this.x.fill(1, 0, n0);
    await this.#work(0, F8 * n0);
  }
}

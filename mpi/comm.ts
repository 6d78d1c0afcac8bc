/**
 * Communicators: the MPI API a program sees. A `Comm` is a group of ranks
 * with its own context ids (one for point-to-point, one for collectives, so
 * the two never match each other), on top of its process's engine.
 *
 * Every call is `async` because it may wait in virtual time; a call that
 * returns has done what MPI says the blocking call does (a non-blocking one
 * returns a {@link Request}). Misuse throws an {@link MpiError} with a
 * one-line message.
 *
 * This module holds what belongs to the communicator itself: its error
 * handler and algorithm choices, and making, comparing and freeing
 * communicators. Each other call is one line that hands the call's
 * arguments and the communicator's {@link CommCore} to the module of its
 * kind, as MPICH's bindings hand theirs to `MPIR_*_impl`: send_recv.ts,
 * bsend.ts, probe.ts, completion.ts, memory.ts, compute.ts, coll_data.ts,
 * coll_vector.ts and coll_reduction.ts for the collectives, and topology.ts
 * for Cartesian grids (whose communicators are made here).
 *
 * @module
 */
import { buffering } from "./bsend.ts";
import type { Buf, MpiBuffer } from "./buffer.ts";
import type { CollOptions } from "./coll_call.ts";
import { dataCalls } from "./coll_data.ts";
import { reductionCalls } from "./coll_reduction.ts";
import { type AlgorithmOf, ALGORITHMS, checkAlgorithm, type Collective } from "./coll/tuning.ts";
import { vectorCalls } from "./coll_vector.ts";
import type { CartTopology, CommCore } from "./comm_core.ts";
import { completion, type Some } from "./completion.ts";
import { computation, type Work } from "./compute.ts";
import {
  ANY_SOURCE,
  ANY_TAG,
  type CART,
  CONGRUENT,
  ERRORS_ARE_FATAL,
  type ERRORS_RETURN,
  IDENT,
  IN_PLACE,
  type InPlace,
  SIMILAR,
  UNDEFINED,
  UNEQUAL,
} from "./constants.ts";
import type { Datatype } from "./datatype.ts";
import { callErrhandler, checkErrhandler, raise, thrown } from "./errhandler.ts";
import { MpiError } from "./errors.ts";
import { Group } from "./group.ts";
import { memory } from "./memory.ts";
import type { ReductionOp } from "./ops.ts";
import { type Matched, probing } from "./probe.ts";
import type { MpiCounters, MpiProcess } from "./process.ts";
import type { Message, PersistentRequest, Request, Status } from "./request.ts";
import { sendRecv } from "./send_recv.ts";
import { type CartInfo, topology } from "./topology.ts";

/**
 * A user error handler (`MPI_Comm_errhandler_function`, MPI-3.1 §8.3.1):
 * called with the communicator and the error; when it returns, the call
 * returns the error. It may throw to end the rank instead.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ErrhandlerFunction } from "./comm.ts";
 * const seen: string[] = [];
 * const log: ErrhandlerFunction = (comm, e) => void seen.push(`${comm.name}: ${e.code}`);
 * assert.equal(typeof log, "function");
 * ```
 */
export type ErrhandlerFunction = (comm: Comm<Errhandler>, error: MpiError) => void;

/**
 * An error handler (MPI-3.1 §8.3): `ERRORS_ARE_FATAL` (a call throws the
 * error it detects; the default), `ERRORS_RETURN` (it returns the error
 * instead), or a user function (called, then the call returns the error).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Errhandler } from "./comm.ts";
 * import { ERRORS_RETURN } from "./constants.ts";
 * const h: Errhandler = ERRORS_RETURN;
 * assert.equal(h, "ERRORS_RETURN");
 * ```
 */
export type Errhandler = typeof ERRORS_ARE_FATAL | typeof ERRORS_RETURN | ErrhandlerFunction;

/**
 * What a call may give back instead of its result under error handler `H`:
 * nothing under ERRORS_ARE_FATAL (it throws), an {@link MpiError} under the
 * others. The handler is `Comm`'s type parameter, so that
 * `comm.setErrhandler(ERRORS_RETURN)` gives a communicator whose `recv`
 * resolves to `Status | MpiError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ErrorOutcome } from "./comm.ts";
 * import { MpiError } from "./errors.ts";
 * const e: ErrorOutcome<"ERRORS_RETURN"> = new MpiError("MPI_ERR_TAG", "tag -1");
 * assert.equal(e.code, "MPI_ERR_TAG");
 * ```
 */
export type ErrorOutcome<H extends Errhandler> = H extends typeof ERRORS_ARE_FATAL ? never
  : MpiError;

/**
 * A communicator.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IN_PLACE } from "./constants.ts";
 * import { mpiexec } from "./launch.ts";
 * const { results } = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
 *   const v = new Float64Array([comm.rank + 1]);
 *   await comm.allreduce(IN_PLACE, v, "SUM");
 *   return v[0];
 * });
 * assert.deepEqual(results, [6, 6, 6]);
 * ```
 */
export class Comm<H extends Errhandler = typeof ERRORS_ARE_FATAL> {
  #freed = false;
  #errhandler: Errhandler = ERRORS_ARE_FATAL;
  #algorithms: Partial<Record<Collective, string>> = {};
  #dups = 0;
  #creates = 0;
  #carts = 0;
  #schedules = 0;
  #topo: CartTopology | undefined;
  readonly #core: CommCore<ErrorOutcome<H>>;

  /**
   * @param proc the process this rank is
   * @param group world ranks of the members, in rank order
   * @param rank this process's rank in the communicator
   * @param contextId context id (p2p uses 2·id, collectives 2·id + 1)
   * @param name for messages (`MPI_COMM_WORLD`, …)
   */
  constructor(
    readonly proc: MpiProcess,
    readonly group: readonly number[],
    readonly rank: number,
    readonly contextId: number,
    readonly name: string,
  ) {
    // The call modules get the identity and the handler as functions, never the fields.
    this.#core = {
      proc,
      group,
      rank,
      size: group.length,
      contextId,
      name,
      check: (what) => this.#check(what),
      raise: (e) => this.#raise(e),
      fatal: () => this.#errhandler === ERRORS_ARE_FATAL,
      algorithm: (coll) => this.#algorithms[coll],
      nextSchedule: () => this.#schedules++,
      topology: () => this.#topo,
    };
  }

  /**
   * Whether `freeComm` freed it (in C its handle is then MPI_COMM_NULL): any call on it is
   * `MPI_ERR_COMM`.
   */
  get freed(): boolean {
    return this.#freed;
  }

  /** Number of ranks (`MPI_Comm_size`). */
  get size(): number {
    return this.group.length;
  }

  /** World rank of member `rank` of this communicator. */
  worldRank(rank: number): number {
    return this.group[rank];
  }

  /** Name of the domain the rank runs in (`MPI_Get_processor_name`). */
  processorName(): string {
    return this.proc.dom.name;
  }

  #check(what: string): void {
    this.proc.check(what);
    if (this.#freed) {
      throw new MpiError("MPI_ERR_COMM", `${what} on rank ${this.rank}: ${this.name} was freed`);
    }
  }

  // ---------------------------------------------------------------- error handling

  /** MPI-3.1 §8.3: what this communicator's handler does with `e` (errhandler.ts). */
  #raise(e: unknown): ErrorOutcome<H> {
    return raise(this.#errhandler, this, e, this.proc.ch.failure) as ErrorOutcome<H>;
  }

  /**
   * `MPI_Comm_set_errhandler` (MPI-3.1 §8.3.1): what calls on this
   * communicator do with the errors they detect, from now on. Returns the
   * communicator itself, typed for the handler: under anything but
   * ERRORS_ARE_FATAL each call's result may be an {@link MpiError}
   * (`const c = comm.setErrhandler(ERRORS_RETURN); const st = await
   * c.recv(buf); if (st instanceof MpiError) …`). `dup` and `split` pass the
   * handler on.
   */
  setErrhandler<E extends Errhandler>(handler: E): Comm<E> {
    const what = "MPI_Comm_set_errhandler";
    this.#check(what);
    checkErrhandler(what, this.rank, handler);
    this.#errhandler = handler;
    return this as unknown as Comm<E>;
  }

  /** `MPI_Comm_get_errhandler`: the communicator's error handler. */
  getErrhandler(): Errhandler {
    return this.#errhandler;
  }

  /**
   * `MPI_Comm_call_errhandler` (MPI 4.0 §9.5): give `error` to the
   * communicator's handler, as a call on it that detected the error would.
   * ERRORS_ARE_FATAL throws it (the job ends); a function is called with the
   * communicator and the error; then, as under ERRORS_RETURN, the call
   * returns nothing (MPI_SUCCESS: MPICH's comm_call_errhandler.c returns
   * MPI_SUCCESS whatever the handler did). An argument that is not an
   * {@link MpiError} is MPI_ERR_ARG, thrown whatever the handler.
   */
  callErrhandler(error: MpiError): void {
    const what = "MPI_Comm_call_errhandler";
    this.#check(what);
    callErrhandler(what, this.rank, this.#errhandler, this as Comm<Errhandler>, error);
  }

  // ---------------------------------------------------------------- collective algorithms

  /** Use `algorithm` for `coll` on this communicator (undefined: back to the default choice). */
  setAlgorithm<C extends Collective>(
    coll: C,
    algorithm: AlgorithmOf<C> | undefined,
  ): void | ErrorOutcome<H> {
    try {
      if (algorithm === undefined) delete this.#algorithms[coll];
      else {
        checkAlgorithm(coll, algorithm);
        this.#algorithms[coll] = algorithm;
      }
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** The algorithm names chosen for this communicator. */
  get algorithms(): Readonly<Partial<Record<Collective, string>>> {
    return { ...this.#algorithms };
  }

  // ---------------------------------------------------------------- communicators

  /**
   * A communicator of this process made from this one: it inherits the
   * error handler (MPI-3.1 §6.4.2: MPI_COMM_DUP copies it; §8.3.1: a new
   * communicator inherits its parent's) and the algorithm choices, and
   * carries `topo`, the grid it is given (none: no topology).
   */
  #child(
    group: readonly number[],
    rank: number,
    contextId: number,
    name: string,
    topo?: CartTopology,
  ): Comm<H> {
    const c = new Comm<H>(this.proc, group, rank, contextId, name);
    c.#errhandler = this.#errhandler;
    c.#algorithms = { ...this.#algorithms };
    c.#topo = topo;
    return c;
  }

  /**
   * A context id free on every member (the lowest, agreed by an allreduce
   * of the free masks); taken here when this process is a member of the
   * new communicator.
   */
  async #newContext(what: string, members: boolean): Promise<number> {
    const mask = this.proc.contextMask();
    thrown(await this.allreduce(IN_PLACE, mask, "BAND"));
    let id = -1;
    for (let i = 0; i < mask.length * 8 && id < 0; i++) if (mask[i >> 3] & (1 << (i & 7))) id = i;
    if (id < 0) {
      throw new MpiError("MPI_ERR_INTERN", `${what} on rank ${this.rank}: no free context id`);
    }
    if (members) this.proc.markContext(id, true);
    return id;
  }

  /**
   * `MPI_Comm_dup`: same group, new contexts (collective). A Cartesian
   * communicator's grid comes along (MPI-4.0 §7.4.2: the duplicate has the
   * communicator's properties, its topology included; MPICH copies it with
   * the attributes); `split` and `create` give communicators without one.
   */
  async dup(): Promise<Comm<H> | ErrorOutcome<H>> {
    try {
      this.#check("MPI_Comm_dup");
      const id = await this.#newContext("MPI_Comm_dup", true);
      return this.#child(this.group, this.rank, id, `${this.name}.dup${++this.#dups}`, this.#topo);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Comm_split`: ranks with the same `color` form a new communicator,
   * ordered by `key` then by rank here; color UNDEFINED gives `null` (collective).
   */
  split(color: number, key = 0): Promise<Comm<H> | null | ErrorOutcome<H>> {
    return this.#split("MPI_Comm_split", color, key, `${this.name}.split(${color})`);
  }

  /** MPI_Comm_split's work, for `split` and `cartSub` (which gives the sub-grid's topology). */
  async #split(
    what: string,
    color: number,
    key: number,
    name: string,
    topo?: CartTopology,
  ): Promise<Comm<H> | null | ErrorOutcome<H>> {
    try {
      this.#check(what);
      // MPI-3.1 §6.4.2: color and key are C ints ("color must be non-negative
      // or MPI_UNDEFINED"); a wider number would wrap in the exchange below and
      // leave the caller out of its own group.
      if (!Number.isInteger(color) || (color < 0 && color !== UNDEFINED) || color > INT_MAX) {
        throw new MpiError(
          "MPI_ERR_ARG",
          `${what} on rank ${this.rank}: color ${color} must be 0..${INT_MAX} or UNDEFINED`,
        );
      }
      if (!Number.isInteger(key) || key < -INT_MAX - 1 || key > INT_MAX) {
        throw new MpiError(
          "MPI_ERR_ARG",
          `${what} on rank ${this.rank}: key ${key} is not an integer in ${
            -INT_MAX - 1
          }..${INT_MAX}`,
        );
      }
      const all = new Int32Array(2 * this.size);
      thrown(await this.allgather(new Int32Array([color, key]), all));
      const id = await this.#newContext(what, color !== UNDEFINED);
      if (color === UNDEFINED) return null;
      const members: { r: number; key: number }[] = [];
      for (let r = 0; r < this.size; r++) {
        if (all[2 * r] === color) members.push({ r, key: all[2 * r + 1] });
      }
      members.sort((a, b) => a.key - b.key || a.r - b.r);
      const group = members.map((m) => this.group[m.r]);
      const rank = members.findIndex((m) => m.r === this.rank);
      return this.#child(group, rank, id, name, topo);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Comm_compare` (MPI-3.1 §6.4.1): IDENT for the same communicator,
   * CONGRUENT for the same members in the same order under another context
   * (a `dup`), SIMILAR for the same members in another order, UNEQUAL
   * otherwise. Local: nothing is sent.
   */
  compare(
    other: Comm<Errhandler>,
  ): typeof IDENT | typeof CONGRUENT | typeof SIMILAR | typeof UNEQUAL | ErrorOutcome<H> {
    try {
      const what = "MPI_Comm_compare";
      this.#check(what);
      if (!(other instanceof Comm) || other.proc !== this.proc) {
        throw new MpiError(
          "MPI_ERR_COMM",
          `${what} on rank ${this.rank}: not a communicator of this rank`,
        );
      }
      other.#check(what);
      if (other.contextId === this.contextId) return IDENT;
      if (other.size !== this.size) return UNEQUAL;
      if (other.group.every((w, i) => w === this.group[i])) return CONGRUENT;
      const mine = new Set(this.group);
      return other.group.every((w) => mine.has(w)) ? SIMILAR : UNEQUAL;
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Comm_group`: the communicator's group, as an object (`group` has its world ranks). */
  getGroup(): Group | ErrorOutcome<H> {
    try {
      this.#check("MPI_Comm_group");
      return new Group(this.group, this.proc.rank);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Comm_create` (MPI-3.1 §6.4.2): a communicator of the members of
   * `group`, which must be a subgroup of this communicator's, ranked in the
   * group's order; `null` (MPI_COMM_NULL) on the processes outside it.
   * Collective over this communicator: every process calls it, with the same
   * group (as in MPICH, that is not checked: different groups are erroneous).
   */
  async create(group: Group): Promise<Comm<H> | null | ErrorOutcome<H>> {
    try {
      const what = "MPI_Comm_create";
      this.#check(what);
      if (!(group instanceof Group) || group.holder !== this.proc.rank) {
        throw new MpiError(
          "MPI_ERR_GROUP",
          `${what} on rank ${this.rank}: not a group of this process (give what getGroup and its operations return)`,
        );
      }
      const mine = new Set(this.group);
      const stranger = group.members.find((w) => !mine.has(w));
      if (stranger !== undefined) {
        throw new MpiError(
          "MPI_ERR_GROUP",
          `${what} on rank ${this.rank}: world rank ${stranger} of the group is not in ${this.name}`,
        );
      }
      const member = group.rank !== UNDEFINED;
      const id = await this.#newContext(what, member);
      const n = ++this.#creates;
      if (!member) return null;
      return this.#child(group.members, group.rank, id, `${this.name}.create${n}`);
    } catch (e) {
      return this.#raise(e);
    }
  }

  // ---------------------------------------------------------------- Cartesian topologies

  /**
   * `MPI_Cart_create` (MPI-4.0 §8.5.1): a communicator of the first
   * `dims[0] × dims[1] × …` ranks, carrying that grid (`periods[i]`: whether
   * dimension i wraps around); `null` (MPI_COMM_NULL) on the ranks beyond
   * it. Collective over this communicator, with the same arguments
   * everywhere. `dims` `[]` is a zero-dimensional grid: rank 0 alone.
   * `reorder` is accepted and changes nothing, as in MPICH (whose
   * MPI_Cart_map keeps every rank): rank r of the grid is rank r here, at
   * row-major coordinates ({@link cartCoords}). A grid larger than the
   * communicator is MPI_ERR_ARG (MPICH's class), a dimension that is not a
   * positive integer MPI_ERR_DIMS.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { dimsCreate } from "./topology.ts";
   * import { mpiexec } from "./launch.ts";
   * const { results } = await mpiexec({ np: 6, mode: "native" }, async (comm) => {
   *   const grid = await comm.cartCreate(dimsCreate(comm.size, [0, 0]), [false, false]);
   *   return grid!.cartGet().coords;
   * });
   * assert.deepEqual(results, [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]]);
   * ```
   */
  async cartCreate(
    dims: readonly number[],
    periods: readonly boolean[],
    reorder = false,
  ): Promise<Comm<H> | null | ErrorOutcome<H>> {
    try {
      const what = "MPI_Cart_create";
      const { topo, nnodes } = topology.checkGrid(this.#core, what, dims, periods, "MPI_ERR_ARG");
      if (typeof reorder !== "boolean") {
        throw new MpiError(
          "MPI_ERR_ARG",
          `${what} on rank ${this.rank}: reorder ${reorder} is not true or false`,
        );
      }
      // MPI-4.0 §8.5.1: "If the total size of the Cartesian grid is smaller than the size of the
      // group of comm_old, then some processes are returned MPI_COMM_NULL".
      const member = this.rank < nnodes;
      const id = await this.#newContext(what, member);
      const n = ++this.#carts;
      if (!member) return null;
      return this.#child(this.group.slice(0, nnodes), this.rank, id, `${this.name}.cart${n}`, topo);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Cart_sub` (MPI-4.0 §8.5.7): split this grid into sub-grids that
   * keep the dimensions `remainDims` marks true; each process gets the one
   * it is in, with that topology (ranked by its coordinates in the kept
   * dimensions). Nothing kept: a zero-dimensional grid of the process
   * alone. Collective; MPI_ERR_TOPOLOGY on a communicator without a grid.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { mpiexec } from "./launch.ts";
   * // The rows of a 2×3 grid: ranks 0-2 and 3-5.
   * const { results } = await mpiexec({ np: 6, mode: "native" }, async (comm) => {
   *   const grid = await comm.cartCreate([2, 3], [false, true]);
   *   const row = await grid!.cartSub([false, true]);
   *   return [row.rank, row.size, row.cartGet().periods];
   * });
   * assert.deepEqual(results[4], [1, 3, [true]]);
   * ```
   */
  async cartSub(remainDims: readonly boolean[]): Promise<Comm<H> | ErrorOutcome<H>> {
    try {
      const what = "MPI_Cart_sub";
      const { color, key, topo } = topology.subGrid(this.#core, what, remainDims);
      const kept = remainDims.map((k) => k ? 1 : 0).join(",");
      const sub = thrown(await this.#split(what, color, key, `${this.name}.sub(${kept})`, topo));
      return sub as Comm<H>; // every process has a color: never null
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Topo_test` (MPI-4.0 §8.5.5): CART for a communicator with a
   * Cartesian grid, UNDEFINED for one without a topology.
   */
  topoTest(): typeof CART | typeof UNDEFINED | ErrorOutcome<H> {
    return topology.topoTest(this.#core);
  }

  /** `MPI_Cartdim_get` (MPI-4.0 §8.5.5): the grid's number of dimensions. */
  cartdimGet(): number | ErrorOutcome<H> {
    return topology.cartdimGet(this.#core);
  }

  /** `MPI_Cart_get` (MPI-4.0 §8.5.5): the grid's dims and periods, and this process's coordinates. */
  cartGet(): CartInfo | ErrorOutcome<H> {
    return topology.cartGet(this.#core);
  }

  /**
   * `MPI_Cart_rank` (MPI-4.0 §8.5.5): the rank at `coords`; a periodic
   * dimension wraps, an out-of-range coordinate of another is MPI_ERR_ARG.
   */
  cartRank(coords: readonly number[]): number | ErrorOutcome<H> {
    return topology.cartRank(this.#core, coords);
  }

  /** `MPI_Cart_coords` (MPI-4.0 §8.5.5): the coordinates of `rank` (row-major). */
  cartCoords(rank: number): number[] | ErrorOutcome<H> {
    return topology.cartCoords(this.#core, rank);
  }

  /**
   * `MPI_Cart_shift` (MPI-4.0 §8.5.6): the neighbours `disp` steps along
   * dimension `direction`: `dest` up, `source` down; PROC_NULL past the
   * edge of a non-periodic dimension. Local: nothing is sent.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { PROC_NULL } from "./constants.ts";
   * import { mpiexec } from "./launch.ts";
   * // A line of 3, not periodic: a halo exchange to the right.
   * const { results } = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
   *   const line = (await comm.cartCreate([3], [false]))!;
   *   const { source, dest } = line.cartShift(0, 1);
   *   const got = new Int32Array([-1]);
   *   await line.sendrecv(new Int32Array([line.rank]), dest, 0, got, source, 0);
   *   return [source, dest, got[0]];
   * });
   * assert.deepEqual(results, [[PROC_NULL, 1, -1], [0, 2, 0], [1, PROC_NULL, 1]]);
   * ```
   */
  cartShift(direction: number, disp: number): { source: number; dest: number } | ErrorOutcome<H> {
    return topology.cartShift(this.#core, direction, disp);
  }

  /**
   * `MPI_Cart_map` (MPI-4.0 §8.5.8): the rank this process would have in
   * the grid `dims` (its rank here: nothing is reordered), or UNDEFINED
   * beyond it. A grid larger than the communicator is MPI_ERR_DIMS (MPICH).
   */
  cartMap(dims: readonly number[], periods: readonly boolean[]): number | ErrorOutcome<H> {
    return topology.cartMap(this.#core, dims, periods);
  }

  /**
   * `MPI_Comm_free`: release the communicator's contexts (MPI_COMM_WORLD
   * cannot be freed). Its pending operations complete normally (MPI 4.0
   * §6.4.3), and its persistent requests can still be started (through
   * another communicator: MPI 4.1 §7.4.3); its context id is free for new
   * communicators only after they have completed, or been freed
   * (MpiProcess.releaseContext).
   */
  freeComm(): void | ErrorOutcome<H> {
    try {
      this.#check("MPI_Comm_free");
      if (this.contextId === 0) {
        throw new MpiError(
          "MPI_ERR_COMM",
          `MPI_Comm_free on rank ${this.rank}: MPI_COMM_WORLD cannot be freed`,
        );
      }
      this.#freed = true;
      this.proc.releaseContext(this.contextId);
    } catch (e) {
      return this.#raise(e);
    }
  }

  // ---------------------------------------------------------------- point to point

  /** `MPI_Send`: returns when `buf` may be reused (eager: at once; rendezvous: data delivered). */
  send(buf: Buf, dest: number, tag = 0): Promise<void | ErrorOutcome<H>> {
    return sendRecv.send(this.#core, buf, dest, tag, "standard");
  }

  /** `MPI_Recv`: receive into `buf` from `source` (or ANY_SOURCE) with `tag` (or ANY_TAG). */
  recv(
    buf: Buf,
    source: number = ANY_SOURCE,
    tag: number = ANY_TAG,
  ): Promise<Status | ErrorOutcome<H>> {
    return sendRecv.recv(this.#core, buf, source, tag);
  }

  /** `MPI_Isend`: start a send; the request completes when `buf` may be reused. */
  isend(buf: Buf, dest: number, tag = 0): Promise<Request | ErrorOutcome<H>> {
    return sendRecv.isend(this.#core, buf, dest, tag, "standard");
  }

  /** `MPI_Irecv`: post a receive. */
  irecv(
    buf: Buf,
    source: number = ANY_SOURCE,
    tag: number = ANY_TAG,
  ): Promise<Request | ErrorOutcome<H>> {
    return sendRecv.irecv(this.#core, buf, source, tag);
  }

  /**
   * `MPI_Ssend`: returns once a receive on `dest` has matched the message
   * (MPI-3.1 §3.4), whatever its size: an eager one waits for the
   * receiver's acknowledgement.
   */
  ssend(buf: Buf, dest: number, tag = 0): Promise<void | ErrorOutcome<H>> {
    return sendRecv.send(this.#core, buf, dest, tag, "synchronous");
  }

  /** `MPI_Issend`: start a synchronous send; the request completes once a receive matched it. */
  issend(buf: Buf, dest: number, tag = 0): Promise<Request | ErrorOutcome<H>> {
    return sendRecv.isend(this.#core, buf, dest, tag, "synchronous");
  }

  /**
   * `MPI_Send_init` (MPI-3.1 §3.9): a persistent send of `buf` to `dest`
   * with `tag`, inactive until {@link start}. The arguments are checked now
   * and the buffer again at each start.
   */
  sendInit(buf: Buf, dest: number, tag = 0): PersistentRequest | ErrorOutcome<H> {
    return sendRecv.sendInit(this.#core, buf, dest, tag, "standard");
  }

  /** `MPI_Ssend_init`: a persistent synchronous send (each start is an `issend`). */
  ssendInit(buf: Buf, dest: number, tag = 0): PersistentRequest | ErrorOutcome<H> {
    return sendRecv.sendInit(this.#core, buf, dest, tag, "synchronous");
  }

  /**
   * `MPI_Buffer_attach` (MPI-4.0 §3.6.1): `buf` becomes the process's
   * buffer for buffered sends (whichever communicator attaches it). Give it
   * room for every message that may be pending at once, each its size plus
   * `BSEND_OVERHEAD`. One buffer at a time, of at least BSEND_OVERHEAD
   * bytes (else MPI_ERR_BUFFER, as in MPICH); while attached it belongs to
   * MPI (an `MpiBuffer` cannot be freed).
   */
  bufferAttach(buf: Buf): void | ErrorOutcome<H> {
    return buffering.attach(this.#core, buf);
  }

  /**
   * `MPI_Buffer_detach` (MPI-4.0 §3.6.1): wait until every buffered message
   * has left the buffer (an eager one is gone once sent, a rendezvous one
   * once its data has been transferred), then return the buffer
   * `bufferAttach` was given; undefined when none is attached (MPICH: NULL).
   */
  bufferDetach(): Promise<Buf | undefined | ErrorOutcome<H>> {
    return buffering.detach(this.#core);
  }

  /**
   * `MPI_Bsend` (MPI-4.0 §3.4): copy the message into the attached buffer
   * (the copy charged at the memcpy rate) and return; `buf` may be reused
   * at once, and the message is sent from the copy. No buffer, or too
   * little free space in it, is MPI_ERR_BUFFER.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BSEND_OVERHEAD } from "./bsend.ts";
   * import { mpiexec } from "./launch.ts";
   * const { results } = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
   *   const v = new Int32Array([comm.rank === 0 ? 42 : 0]);
   *   if (comm.rank === 1) {
   *     await comm.recv(v, 0, 0);
   *     return v[0];
   *   }
   *   comm.bufferAttach(new Uint8Array(v.byteLength + BSEND_OVERHEAD));
   *   await comm.bsend(v, 1, 0);
   *   v[0] = 0; // the message was copied: 42 is what goes
   *   await comm.bufferDetach();
   *   return v[0];
   * });
   * assert.deepEqual(results, [0, 42]);
   * ```
   */
  bsend(buf: Buf, dest: number, tag = 0): Promise<void | ErrorOutcome<H>> {
    return sendRecv.send(this.#core, buf, dest, tag, "buffered");
  }

  /**
   * `MPI_Ibsend` (MPI-4.0 §3.7.2): {@link bsend}, returning a request that is
   * complete at once (the message is in the buffer; MPICH's is too).
   */
  ibsend(buf: Buf, dest: number, tag = 0): Promise<Request | ErrorOutcome<H>> {
    return sendRecv.isend(this.#core, buf, dest, tag, "buffered");
  }

  /** `MPI_Bsend_init` (MPI-4.0 §3.9): a persistent buffered send (each start is an `ibsend`). */
  bsendInit(buf: Buf, dest: number, tag = 0): PersistentRequest | ErrorOutcome<H> {
    return sendRecv.sendInit(this.#core, buf, dest, tag, "buffered");
  }

  /**
   * `MPI_Rsend` (MPI-4.0 §3.4): a ready send, correct only when the
   * matching receive is posted already. Sent as a standard send, as MPICH's
   * ch4 device sends it; a receive not yet posted is not detected (the
   * program is erroneous, and the message is delivered as {@link send}'s).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { mpiexec } from "./launch.ts";
   * const { results } = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
   *   const v = new Float64Array([comm.rank + 0.5]);
   *   if (comm.rank === 1) {
   *     const r = await comm.irecv(v, 0, 1);
   *     await comm.barrier(); // posted: rank 0 may rsend now
   *     await comm.wait(r);
   *   } else {
   *     await comm.barrier();
   *     await comm.rsend(v, 1, 1);
   *   }
   *   return v[0];
   * });
   * assert.deepEqual(results, [0.5, 0.5]);
   * ```
   */
  rsend(buf: Buf, dest: number, tag = 0): Promise<void | ErrorOutcome<H>> {
    return sendRecv.send(this.#core, buf, dest, tag, "ready");
  }

  /** `MPI_Irsend` (MPI-4.0 §3.7.2): a non-blocking ready send (an `isend`, see {@link rsend}). */
  irsend(buf: Buf, dest: number, tag = 0): Promise<Request | ErrorOutcome<H>> {
    return sendRecv.isend(this.#core, buf, dest, tag, "ready");
  }

  /** `MPI_Rsend_init` (MPI-4.0 §3.9): a persistent ready send (each start is an `irsend`). */
  rsendInit(buf: Buf, dest: number, tag = 0): PersistentRequest | ErrorOutcome<H> {
    return sendRecv.sendInit(this.#core, buf, dest, tag, "ready");
  }

  /** `MPI_Recv_init`: a persistent receive into `buf`, inactive until {@link start}. */
  recvInit(
    buf: Buf,
    source: number = ANY_SOURCE,
    tag: number = ANY_TAG,
  ): PersistentRequest | ErrorOutcome<H> {
    return sendRecv.recvInit(this.#core, buf, source, tag);
  }

  /** `MPI_Sendrecv`: send and receive at once (no deadlock between two ranks swapping). */
  sendrecv(
    sendbuf: Buf,
    dest: number,
    sendtag: number,
    recvbuf: Buf,
    source: number,
    recvtag: number,
  ): Promise<Status | ErrorOutcome<H>> {
    return sendRecv.sendrecv(this.#core, sendbuf, dest, sendtag, recvbuf, source, recvtag);
  }

  // ---------------------------------------------------------------- completion and persistent requests

  /**
   * `MPI_Start`: begin one operation of a persistent request (as `isend`,
   * `issend` or `irecv` with its arguments). Complete it with `wait`,
   * `test` or any completion call; it is inactive again afterwards.
   */
  start(req: Request): Promise<void | ErrorOutcome<H>> {
    return completion.start(this.#core, req);
  }

  /**
   * `MPI_Startall`: start every request of `reqs`, in array order (so
   * messages between the same pair do not overtake each other in it). All
   * are checked before any starts.
   */
  startall(reqs: readonly Request[]): Promise<void | ErrorOutcome<H>> {
    return completion.startall(this.#core, reqs);
  }

  /**
   * `MPI_Request_free` (MPI-3.1 §3.7.3): the request becomes
   * MPI_REQUEST_NULL; an operation under way is allowed to complete (a
   * send's buffer is in use until then, and nothing reports its outcome).
   * For a persistent request this is the only way to release it.
   */
  requestFree(req: Request): void | ErrorOutcome<H> {
    return completion.requestFree(this.#core, req);
  }

  /**
   * `MPI_Cancel` (MPI-3.1 §3.8.4): mark a pending operation for
   * cancellation and return at once; complete it as usual (`wait`, `test`,
   * …) and ask {@link testCancelled} of its status. A receive no message
   * has matched yet is cancelled (its buffer untouched); a pending send
   * (rendezvous, synchronous) whose message no receive has matched is taken
   * back from the receiver; anything matched, and an eager standard send
   * (complete when `isend` returns), completes normally ("either the
   * cancellation succeeds, or the communication succeeds, but not both").
   * On a persistent request it cancels the operation of the current start,
   * not the request; an inactive one (not started since its last
   * completion) is MPI_ERR_REQUEST, as in MPICH.
   */
  cancel(req: Request): void | ErrorOutcome<H> {
    return completion.cancel(this.#core, req);
  }

  /** `MPI_Wait`: the request's status (throws the error it completed with). */
  wait(req: Request): Promise<Status | ErrorOutcome<H>> {
    return completion.wait(this.#core, req);
  }

  /** `MPI_Waitall`: all statuses, in order (throws the first error). */
  waitall(reqs: readonly Request[]): Promise<Status[] | ErrorOutcome<H>> {
    return completion.waitall(this.#core, reqs);
  }

  /**
   * `MPI_Waitany`: wait until one of `reqs` not yet returned by a completion
   * call completes; returns its index and status (`index` = UNDEFINED and
   * the empty status when every one has been returned already, MPI-3.1
   * §3.7.5: "If the array contains no active handles then the call returns
   * immediately with index = MPI_UNDEFINED, and an empty status").
   */
  waitany(
    reqs: readonly Request[],
  ): Promise<{ index: number; status: Status } | ErrorOutcome<H>> {
    return completion.waitany(this.#core, reqs);
  }

  /**
   * `MPI_Test`: make progress once; the status if the request is done (the
   * empty status at once for MPI_REQUEST_NULL, e.g. a request freed with its
   * operation pending, or an inactive persistent request).
   */
  test(req: Request): Promise<Status | undefined | ErrorOutcome<H>> {
    return completion.test(this.#core, req);
  }

  /**
   * `MPI_Request_get_status` (MPI 4.0 §3.7.3): as `test` (the status if the
   * request is done, `undefined` if not, the empty status for
   * MPI_REQUEST_NULL or an inactive persistent request), but the request is
   * neither freed nor made inactive: a `wait`, `test` or `requestFree` must
   * still follow.
   */
  requestGetStatus(req: Request): Promise<Status | undefined | ErrorOutcome<H>> {
    return completion.requestGetStatus(this.#core, req);
  }

  /** `MPI_Testall`: make progress once; all statuses if every request is done. */
  testall(reqs: readonly Request[]): Promise<Status[] | undefined | ErrorOutcome<H>> {
    return completion.testall(this.#core, reqs);
  }

  /**
   * `MPI_Testany`: make progress once; the index and status of one
   * completed request of `reqs` not yet returned, or `undefined` when none
   * has completed (flag false). When no request is active (every one was
   * returned already, or `reqs` is empty): index UNDEFINED and the empty
   * status (MPI-3.1 §3.7.5).
   */
  testany(
    reqs: readonly Request[],
  ): Promise<{ index: number; status: Status } | undefined | ErrorOutcome<H>> {
    return completion.testany(this.#core, reqs);
  }

  /**
   * `MPI_Waitsome`: wait until at least one request of `reqs` not yet
   * returned completes; returns every one that has, in index order
   * (`outcount` = UNDEFINED and nothing when no request is active, MPI-3.1
   * §3.7.5).
   */
  waitsome(reqs: readonly Request[]): Promise<Some | ErrorOutcome<H>> {
    return completion.waitsome(this.#core, reqs, true);
  }

  /**
   * `MPI_Testsome`: make progress once; every request of `reqs` not yet
   * returned that has completed, in index order (`outcount` 0 when none
   * has; UNDEFINED when no request is active, MPI-3.1 §3.7.5).
   */
  testsome(reqs: readonly Request[]): Promise<Some | ErrorOutcome<H>> {
    return completion.waitsome(this.#core, reqs, false);
  }

  // ---------------------------------------------------------------- probes

  /** `MPI_Probe`: wait for a matching message and return its status without receiving it. */
  probe(
    source: number = ANY_SOURCE,
    tag: number = ANY_TAG,
  ): Promise<Status | ErrorOutcome<H>> {
    return probing.probe(this.#core, source, tag);
  }

  /** `MPI_Iprobe`: make progress once; the status of a matching message if one is there. */
  iprobe(
    source: number = ANY_SOURCE,
    tag: number = ANY_TAG,
  ): Promise<Status | undefined | ErrorOutcome<H>> {
    return probing.iprobe(this.#core, source, tag);
  }

  /**
   * `MPI_Mprobe` (MPI-3.1 §3.8.2): wait for a matching message and take it
   * off the queue: no other receive or probe sees it; receive it with
   * {@link mrecv} or {@link imrecv}. `PROC_NULL` gives `MESSAGE_NO_PROC`.
   */
  mprobe(
    source: number = ANY_SOURCE,
    tag: number = ANY_TAG,
  ): Promise<Matched | ErrorOutcome<H>> {
    return probing.mprobe(this.#core, source, tag);
  }

  /** `MPI_Improbe`: make progress once; a matching message, taken off the queue, if one is there. */
  improbe(
    source: number = ANY_SOURCE,
    tag: number = ANY_TAG,
  ): Promise<Matched | undefined | ErrorOutcome<H>> {
    return probing.improbe(this.#core, source, tag);
  }

  /** `MPI_Mrecv` (MPI-3.1 §3.8.3): receive the message a matched probe returned into `buf`. */
  mrecv(buf: Buf, message: Message): Promise<Status | ErrorOutcome<H>> {
    return probing.mrecv(this.#core, buf, message);
  }

  /**
   * `MPI_Imrecv`: start receiving the message a matched probe returned. The
   * message handle is used up (MPI_MESSAGE_NULL) once this returns;
   * `MESSAGE_NO_PROC` gives a request that completes at once with the
   * status of a receive from PROC_NULL.
   */
  imrecv(buf: Buf, message: Message): Promise<Request | ErrorOutcome<H>> {
    return probing.imrecv(this.#core, buf, message);
  }

  // ---------------------------------------------------------------- memory, time, work

  /**
   * `MPI_Alloc_mem`: `length` elements of `datatype` in the rank's domain
   * memory, zeroed. Rendezvous transfers from and into it are zero-copy.
   */
  alloc<T extends Datatype = "uint8">(
    length: number,
    datatype?: T,
  ): MpiBuffer<T> | ErrorOutcome<H> {
    return memory.alloc(this.#core, length, datatype);
  }

  /**
   * `MPI_Free_mem`: free a buffer from {@link alloc}. Its pin-down cache
   * entries are invalidated (deregistered) first, as MVAPICH's free hook does.
   */
  free(buf: MpiBuffer): Promise<void | ErrorOutcome<H>> {
    return memory.free(this.#core, buf);
  }

  /** `MPI_Wtime`: this rank's virtual time in seconds (its CPU work included). */
  wtime(): number {
    return this.proc.ch.cpu.busyUntil() / 1e9;
  }

  /** `MPI_Wtick`: resolution of {@link wtime} (1 ns). */
  wtick(): number {
    return 1e-9;
  }

  /**
   * Spend virtual CPU time on computation: `max(flops / rate, bytes / rate)`
   * at the profile's `mpi.computeFlopsPerSec` and `mpi.computeBytesPerSec`,
   * plus `ns`. Returns the nanoseconds charged.
   */
  compute(work: Work): Promise<number | ErrorOutcome<H>> {
    return computation.compute(this.#core, work);
  }

  /** Spend `ns` nanoseconds of virtual CPU time. */
  charge(ns: number): Promise<void | ErrorOutcome<H>> {
    return computation.charge(this.#core, ns);
  }

  /** Counters of this rank's process (all communicators). */
  counters(): MpiCounters {
    return this.proc.counters();
  }

  // ---------------------------------------------------------------- collectives

  /** `MPI_Barrier`. */
  barrier(opts?: CollOptions<"barrier">): Promise<void | ErrorOutcome<H>> {
    return dataCalls.barrier(this.#core, opts);
  }

  /** `MPI_Bcast`: the root's `buf` to every rank's `buf` (same length everywhere). */
  bcast(
    buf: Buf,
    root: number,
    opts?: CollOptions<"bcast">,
  ): Promise<void | ErrorOutcome<H>> {
    return dataCalls.bcast(this.#core, buf, root, opts);
  }

  /**
   * `MPI_Reduce`: combine every rank's `sendbuf` with `op` into `recvbuf` at
   * the root (`recvbuf` ignored elsewhere; `IN_PLACE` as sendbuf at the root).
   */
  reduce(
    sendbuf: Buf | InPlace,
    recvbuf: Buf | null,
    op: ReductionOp,
    root: number,
    opts?: CollOptions<"reduce">,
  ): Promise<void | ErrorOutcome<H>> {
    return reductionCalls.reduce(this.#core, sendbuf, recvbuf, op, root, opts);
  }

  /** `MPI_Allreduce`: combine every rank's `sendbuf` with `op` into every `recvbuf`. */
  allreduce(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    op: ReductionOp,
    opts?: CollOptions<"allreduce">,
  ): Promise<void | ErrorOutcome<H>> {
    return reductionCalls.allreduce(this.#core, sendbuf, recvbuf, op, opts);
  }

  /**
   * `MPI_Gather`: every rank's `sendbuf` to block `rank` of the root's
   * `recvbuf` (IN_PLACE as sendbuf at the root: its block is already there).
   */
  gather(
    sendbuf: Buf | InPlace,
    recvbuf: Buf | null,
    root: number,
    opts?: CollOptions<"gather">,
  ): Promise<void | ErrorOutcome<H>> {
    return dataCalls.gather(this.#core, sendbuf, recvbuf, root, opts);
  }

  /**
   * `MPI_Scatter`: block `i` of the root's `sendbuf` to rank `i`'s `recvbuf`
   * (IN_PLACE as recvbuf at the root: it keeps its block where it is).
   */
  scatter(
    sendbuf: Buf | null,
    recvbuf: Buf | InPlace,
    root: number,
    opts?: CollOptions<"scatter">,
  ): Promise<void | ErrorOutcome<H>> {
    return dataCalls.scatter(this.#core, sendbuf, recvbuf, root, opts);
  }

  /** `MPI_Allgather`: every rank's `sendbuf` to block `rank` of every `recvbuf`. */
  allgather(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    opts?: CollOptions<"allgather">,
  ): Promise<void | ErrorOutcome<H>> {
    return dataCalls.allgather(this.#core, sendbuf, recvbuf, opts);
  }

  /**
   * `MPI_Alltoall`: block `j` of rank `i`'s `sendbuf` to block `i` of rank
   * `j`'s `recvbuf` (IN_PLACE as sendbuf on every rank: the blocks go out of
   * `recvbuf` and are replaced by the ones received).
   */
  alltoall(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    opts?: CollOptions<"alltoall">,
  ): Promise<void | ErrorOutcome<H>> {
    return dataCalls.alltoall(this.#core, sendbuf, recvbuf, opts);
  }

  /**
   * `MPI_Alltoallv`: `sendcounts[j]` elements at `sdispls[j]` of `sendbuf`
   * to rank `j`, which receives them at `rdispls[i]` of its `recvbuf`
   * (`recvcounts[i]` elements); counts and displacements in elements.
   * IN_PLACE as sendbuf on every rank: `sendcounts` and `sdispls` are
   * ignored, block `j` of `recvbuf` goes to rank `j` and is replaced by what
   * rank `j` sends.
   */
  alltoallv(
    sendbuf: Buf | InPlace,
    sendcounts: readonly number[],
    sdispls: readonly number[],
    recvbuf: Buf,
    recvcounts: readonly number[],
    rdispls: readonly number[],
    opts?: CollOptions<"alltoallv">,
  ): Promise<void | ErrorOutcome<H>> {
    return vectorCalls.alltoallv(
      this.#core,
      sendbuf,
      sendcounts,
      sdispls,
      recvbuf,
      recvcounts,
      rdispls,
      opts,
    );
  }

  /**
   * `MPI_Alltoallw` (MPI-4.0 §6.8): `sendcounts[j]` elements of
   * `sendtypes[j]` at byte `sdispls[j]` of `sendbuf` to rank `j`, which
   * receives them at byte `rdispls[i]` of its `recvbuf` (`recvcounts[i]`
   * elements of `recvtypes[i]`); displacements in bytes, unlike
   * {@link alltoallv}, and the buffers' own element types are not looked
   * at. The types are the library's basic ones (no derived datatypes); the
   * pair's type signatures must match, as MPI says. IN_PLACE as sendbuf on
   * every rank: `sendcounts`, `sdispls` and `sendtypes` are ignored, block
   * `j` of `recvbuf` goes to rank `j` and is replaced by what rank `j`
   * sends.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { mpiexec } from "./launch.ts";
   * // Rank 0 gets a float64 from each rank at byte 0, 8; rank 1 an int16 each at byte 1, 3.
   * const { results } = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
   *   const send = new Uint8Array(16);
   *   new DataView(send.buffer).setFloat64(0, comm.rank + 0.5, true);
   *   new DataView(send.buffer).setInt16(8, 100 + comm.rank, true);
   *   const recv = new Uint8Array(16);
   *   const [t, c] = comm.rank === 0 ? ["float64", [0, 8]] as const : ["int16", [1, 3]] as const;
   *   await comm.alltoallw(
   *     send, [1, 1], [0, 8], ["float64", "int16"],
   *     recv, [1, 1], c, [t, t],
   *   );
   *   const v = new DataView(recv.buffer);
   *   return comm.rank === 0 ? [v.getFloat64(0, true), v.getFloat64(8, true)]
   *     : [v.getInt16(1, true), v.getInt16(3, true)];
   * });
   * assert.deepEqual(results, [[0.5, 1.5], [100, 101]]);
   * ```
   */
  alltoallw(
    sendbuf: Buf | InPlace,
    sendcounts: readonly number[],
    sdispls: readonly number[],
    sendtypes: readonly Datatype[],
    recvbuf: Buf,
    recvcounts: readonly number[],
    rdispls: readonly number[],
    recvtypes: readonly Datatype[],
    opts?: CollOptions<"alltoallw">,
  ): Promise<void | ErrorOutcome<H>> {
    return vectorCalls.alltoallw(
      this.#core,
      sendbuf,
      sendcounts,
      sdispls,
      sendtypes,
      recvbuf,
      recvcounts,
      rdispls,
      recvtypes,
      opts,
    );
  }

  /**
   * `MPI_Gatherv`: rank i's `sendbuf` lands at element `displs[i]` of the
   * root's `recvbuf` (`recvcounts[i]` elements of the receive type).
   * `recvbuf`, `recvcounts` and `displs` are significant at the root only
   * (others may pass `null`, `[]`, `[]`). IN_PLACE as sendbuf at the root:
   * its block is already in place (MPI-3.1 §5.5).
   */
  gatherv(
    sendbuf: Buf | InPlace,
    recvbuf: Buf | null,
    recvcounts: readonly number[],
    displs: readonly number[],
    root: number,
    opts?: CollOptions<"gatherv">,
  ): Promise<void | ErrorOutcome<H>> {
    return vectorCalls.gatherv(this.#core, sendbuf, recvbuf, recvcounts, displs, root, opts);
  }

  /**
   * `MPI_Scatterv`: `sendcounts[i]` elements at element `displs[i]` of the
   * root's `sendbuf` to rank i's `recvbuf`. `sendbuf`, `sendcounts` and
   * `displs` are significant at the root only (others may pass `null`, `[]`,
   * `[]`). IN_PLACE as recvbuf at the root: it keeps its block where it is
   * (MPI-3.1 §5.6).
   */
  scatterv(
    sendbuf: Buf | null,
    sendcounts: readonly number[],
    displs: readonly number[],
    recvbuf: Buf | InPlace,
    root: number,
    opts?: CollOptions<"scatterv">,
  ): Promise<void | ErrorOutcome<H>> {
    return vectorCalls.scatterv(this.#core, sendbuf, sendcounts, displs, recvbuf, root, opts);
  }

  /**
   * `MPI_Allgatherv`: every rank's `sendbuf` to element `displs[rank]` of
   * every `recvbuf` (`recvcounts[rank]` elements). IN_PLACE as sendbuf on
   * every rank: each rank's contribution is already at its block of
   * `recvbuf` (MPI-3.1 §5.7).
   */
  allgatherv(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    recvcounts: readonly number[],
    displs: readonly number[],
    opts?: CollOptions<"allgatherv">,
  ): Promise<void | ErrorOutcome<H>> {
    return vectorCalls.allgatherv(this.#core, sendbuf, recvbuf, recvcounts, displs, opts);
  }

  /**
   * `MPI_Reduce_scatter_block`: combine every rank's `sendbuf` (n blocks of
   * equal size) with `op`; block i of the result to rank i's `recvbuf`.
   * IN_PLACE as sendbuf: the input is `recvbuf` (n blocks), the result its
   * first block (MPI-3.1 §5.10.1).
   */
  reduceScatterBlock(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    op: ReductionOp,
    opts?: CollOptions<"reduceScatterBlock">,
  ): Promise<void | ErrorOutcome<H>> {
    return reductionCalls.reduceScatterBlock(this.#core, sendbuf, recvbuf, op, opts);
  }

  /**
   * `MPI_Reduce_scatter`: combine every rank's `sendbuf` (Σ `recvcounts`
   * elements, block i of `recvcounts[i]` elements) with `op`; block i of the
   * result to rank i's `recvbuf`. `recvcounts` is the same on every rank.
   * IN_PLACE as sendbuf: the input is `recvbuf`, the result its first
   * `recvcounts[rank]` elements (MPI-3.1 §5.10.2).
   */
  reduceScatter(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    recvcounts: readonly number[],
    op: ReductionOp,
    opts?: CollOptions<"reduceScatter">,
  ): Promise<void | ErrorOutcome<H>> {
    return reductionCalls.reduceScatter(this.#core, sendbuf, recvbuf, recvcounts, op, opts);
  }

  /**
   * `MPI_Scan`: rank i's `recvbuf` gets the reduction with `op` of the
   * `sendbuf`s of ranks 0..i. IN_PLACE as sendbuf: the input is `recvbuf`
   * (MPI-3.1 §5.11.1).
   */
  scan(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    op: ReductionOp,
    opts?: CollOptions<"scan">,
  ): Promise<void | ErrorOutcome<H>> {
    return reductionCalls.scan(this.#core, sendbuf, recvbuf, op, opts);
  }

  /**
   * `MPI_Exscan`: rank i's `recvbuf` gets the reduction with `op` of the
   * `sendbuf`s of ranks 0..i − 1; rank 0's is left as it was (MPI leaves it
   * undefined). IN_PLACE as sendbuf: the input is `recvbuf` (MPI-3.1
   * §5.11.2).
   */
  exscan(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    op: ReductionOp,
    opts?: CollOptions<"exscan">,
  ): Promise<void | ErrorOutcome<H>> {
    return reductionCalls.exscan(this.#core, sendbuf, recvbuf, op, opts);
  }

  // ---------------------------------------------------------------- non-blocking collectives
  //
  // MPI-3.1 §5.12: each starts the collective of the same name (the same
  // arguments, checks, errors and algorithms) and returns its request, which
  // wait, test and their kin complete. The buffers belong to the operation
  // until then. They match in the order they are called on the communicator,
  // never a blocking collective or point-to-point message; their rounds
  // advance only inside this rank's MPI calls (coll_call.ts `nonblocking`).
  /**
   * `MPI_Ibarrier` (MPI-3.1 §5.12.1): {@link barrier} with the same arguments, started; returns its
   * request, which completes once every rank has started the barrier.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { mpiexec } from "./launch.ts";
   * const { results } = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
   *   const sum = new Int32Array(1);
   *   const reqs = [await comm.ibarrier(), await comm.iallreduce(new Int32Array([comm.rank]), sum, "SUM")];
   *   await comm.waitall(reqs);
   *   return sum[0];
   * });
   * assert.deepEqual(results, [3, 3, 3]);
   * ```
   */
  ibarrier(...args: Parameters<Comm<H>["barrier"]>): Promise<Request | ErrorOutcome<H>> {
    return dataCalls.ibarrier(this.#core, ...args);
  }

  /** `MPI_Ibcast` (MPI-3.1 §5.12.2): {@link bcast} with the same arguments, started; returns its request. */
  ibcast(...args: Parameters<Comm<H>["bcast"]>): Promise<Request | ErrorOutcome<H>> {
    return dataCalls.ibcast(this.#core, ...args);
  }

  /** `MPI_Ireduce` (MPI-3.1 §5.12.7): {@link reduce} with the same arguments, started; returns its request. */
  ireduce(...args: Parameters<Comm<H>["reduce"]>): Promise<Request | ErrorOutcome<H>> {
    return reductionCalls.ireduce(this.#core, ...args);
  }

  /** `MPI_Iallreduce` (MPI-3.1 §5.12.8): {@link allreduce} with the same arguments, started; returns its request. */
  iallreduce(...args: Parameters<Comm<H>["allreduce"]>): Promise<Request | ErrorOutcome<H>> {
    return reductionCalls.iallreduce(this.#core, ...args);
  }

  /** `MPI_Igather` (MPI-3.1 §5.12.3): {@link gather} with the same arguments, started; returns its request. */
  igather(...args: Parameters<Comm<H>["gather"]>): Promise<Request | ErrorOutcome<H>> {
    return dataCalls.igather(this.#core, ...args);
  }

  /** `MPI_Iscatter` (MPI-3.1 §5.12.4): {@link scatter} with the same arguments, started; returns its request. */
  iscatter(...args: Parameters<Comm<H>["scatter"]>): Promise<Request | ErrorOutcome<H>> {
    return dataCalls.iscatter(this.#core, ...args);
  }

  /** `MPI_Iallgather` (MPI-3.1 §5.12.5): {@link allgather} with the same arguments, started; returns its request. */
  iallgather(...args: Parameters<Comm<H>["allgather"]>): Promise<Request | ErrorOutcome<H>> {
    return dataCalls.iallgather(this.#core, ...args);
  }

  /** `MPI_Ialltoall` (MPI-3.1 §5.12.6): {@link alltoall} with the same arguments, started; returns its request. */
  ialltoall(...args: Parameters<Comm<H>["alltoall"]>): Promise<Request | ErrorOutcome<H>> {
    return dataCalls.ialltoall(this.#core, ...args);
  }

  /** `MPI_Ialltoallv` (MPI-3.1 §5.12.6): {@link alltoallv} with the same arguments, started; returns its request. */
  ialltoallv(...args: Parameters<Comm<H>["alltoallv"]>): Promise<Request | ErrorOutcome<H>> {
    return vectorCalls.ialltoallv(this.#core, ...args);
  }

  /** `MPI_Ialltoallw` (MPI-4.0 §6.12.6): {@link alltoallw} with the same arguments, started; returns its request. */
  ialltoallw(...args: Parameters<Comm<H>["alltoallw"]>): Promise<Request | ErrorOutcome<H>> {
    return vectorCalls.ialltoallw(this.#core, ...args);
  }

  /** `MPI_Igatherv` (MPI-3.1 §5.12.3): {@link gatherv} with the same arguments, started; returns its request. */
  igatherv(...args: Parameters<Comm<H>["gatherv"]>): Promise<Request | ErrorOutcome<H>> {
    return vectorCalls.igatherv(this.#core, ...args);
  }

  /** `MPI_Iscatterv` (MPI-3.1 §5.12.4): {@link scatterv} with the same arguments, started; returns its request. */
  iscatterv(...args: Parameters<Comm<H>["scatterv"]>): Promise<Request | ErrorOutcome<H>> {
    return vectorCalls.iscatterv(this.#core, ...args);
  }

  /** `MPI_Iallgatherv` (MPI-3.1 §5.12.5): {@link allgatherv} with the same arguments, started; returns its request. */
  iallgatherv(...args: Parameters<Comm<H>["allgatherv"]>): Promise<Request | ErrorOutcome<H>> {
    return vectorCalls.iallgatherv(this.#core, ...args);
  }

  /** `MPI_Ireduce_scatter_block` (MPI-3.1 §5.12.9): {@link reduceScatterBlock} with the same arguments, started; returns its request. */
  ireduceScatterBlock(
    ...args: Parameters<Comm<H>["reduceScatterBlock"]>
  ): Promise<Request | ErrorOutcome<H>> {
    return reductionCalls.ireduceScatterBlock(this.#core, ...args);
  }

  /** `MPI_Ireduce_scatter` (MPI-3.1 §5.12.10): {@link reduceScatter} with the same arguments, started; returns its request. */
  ireduceScatter(
    ...args: Parameters<Comm<H>["reduceScatter"]>
  ): Promise<Request | ErrorOutcome<H>> {
    return reductionCalls.ireduceScatter(this.#core, ...args);
  }

  /** `MPI_Iscan` (MPI-3.1 §5.12.11): {@link scan} with the same arguments, started; returns its request. */
  iscan(...args: Parameters<Comm<H>["scan"]>): Promise<Request | ErrorOutcome<H>> {
    return reductionCalls.iscan(this.#core, ...args);
  }

  /** `MPI_Iexscan` (MPI-3.1 §5.12.12): {@link exscan} with the same arguments, started; returns its request. */
  iexscan(...args: Parameters<Comm<H>["exscan"]>): Promise<Request | ErrorOutcome<H>> {
    return reductionCalls.iexscan(this.#core, ...args);
  }

  /** The collectives and their algorithm names. */
  static get collectives(): typeof ALGORITHMS {
    return ALGORITHMS;
  }
}

/** Largest C int: the range of MPI's int arguments (split's color and key). */
const INT_MAX = 0x7fff_ffff;

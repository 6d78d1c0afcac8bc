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
 * @module
 */
import { type Buf, DomRegion, MpiBuffer, type Region, toRegion } from "./buffer.ts";
import { allgatherBruck, allgatherRecursiveDoubling, allgatherRing } from "./coll/allgather.ts";
import { allgathervBruck, allgathervRecursiveDoubling, allgathervRing } from "./coll/allgatherv.ts";
import {
  alltoallBruck,
  alltoallPairwise,
  alltoallScattered,
  equalBlocks,
  vBlocks,
} from "./coll/alltoall.ts";
import { barrierDissemination, barrierRecursiveDoubling } from "./coll/barrier.ts";
import { bcastBinomial, bcastScatterDoubling, bcastScatterRing } from "./coll/bcast.ts";
import type { CollEnv } from "./coll/env.ts";
import { recv as collRecv, send as collSend, TAG } from "./coll/env.ts";
import {
  gatherBinomial,
  gatherLinear,
  sameRegion,
  scatterBinomial,
  scatterLinear,
} from "./coll/gather.ts";
import { gathervLinear, scattervLinear } from "./coll/gatherv.ts";
import {
  reduceScatterNoncommutative,
  reduceScatterPairwise,
  reduceScatterRecursiveDoubling,
  reduceScatterRecursiveHalving,
} from "./coll/reduce_scatter.ts";
import { exscanRecursiveDoubling, scanRecursiveDoubling } from "./coll/scan.ts";
import {
  allreduceRabenseifner,
  allreduceRecursiveDoubling,
  allreduceRing,
  reduceBinomial,
  reduceRabenseifner,
} from "./coll/reduce.ts";
import {
  type AlgorithmOf,
  ALGORITHMS,
  type CallShape,
  checkAlgorithm,
  type Collective,
  defaultAlgorithm,
  usable,
} from "./coll/tuning.ts";
import {
  ANY_SOURCE,
  ANY_TAG,
  CONGRUENT,
  ERRORS_ARE_FATAL,
  ERRORS_RETURN,
  IDENT,
  IN_PLACE,
  type InPlace,
  isInPlace,
  PROC_NULL,
  SIMILAR,
  TAG_UB,
  UNDEFINED,
  UNEQUAL,
} from "./constants.ts";
import { type Datatype, typeSize } from "./datatype.ts";
import { MpiError } from "./errors.ts";
import { Group } from "./group.ts";
import { checkOp, isCommutative, reduceInto, type ReductionOp } from "./ops.ts";
import type { MpiCounters, MpiProcess } from "./process.ts";
import {
  emptyStatus,
  InStatusError,
  Message,
  MESSAGE_NO_PROC,
  PersistentRequest,
  Request,
  type Status,
} from "./request.ts";

/**
 * Options of a collective call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CollOptions } from "./comm.ts";
 * const o: CollOptions<"allreduce"> = { algorithm: "ring" };
 * assert.equal(o.algorithm, "ring");
 * ```
 */
export interface CollOptions<C extends Collective> {
  /** Use this algorithm instead of the communicator's choice. */
  algorithm?: AlgorithmOf<C>;
}

/**
 * What `waitsome` and `testsome` return: how many requests completed
 * (`outcount`; UNDEFINED when none was active), their indices in the array
 * and their statuses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Some } from "./comm.ts";
 * const s: Some = { outcount: 1, indices: [2], statuses: [{ source: 1, tag: 0, bytes: 4, count: 1 }] };
 * assert.equal(s.indices.length, s.outcount);
 * ```
 */
export interface Some {
  /** Requests completed (`outcount`), or UNDEFINED when the array held no active request. */
  outcount: number;
  /** Their indices in the array, ascending. */
  indices: number[];
  /** Their statuses, in the same order. */
  statuses: Status[];
}

/**
 * What `mprobe` and `improbe` return: the message (to receive with `mrecv`
 * or `imrecv`) and its status (`count` in bytes, as `probe`'s).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Matched } from "./comm.ts";
 * import { MESSAGE_NO_PROC } from "./request.ts";
 * const m: Matched = { message: MESSAGE_NO_PROC, status: MESSAGE_NO_PROC.status };
 * assert.equal(m.status.source, -2);
 * ```
 */
export interface Matched {
  /** The message, off the queue: only `mrecv`/`imrecv` of it can receive it. */
  message: Message;
  /** Its source, tag and size. */
  status: Status;
}

/**
 * Work for {@link Comm.compute}: floating-point operations and bytes of
 * memory traffic (charged as the slower of the two at the profile's rates,
 * a roofline), plus any extra nanoseconds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Work } from "./comm.ts";
 * const axpy = (n: number): Work => ({ flops: 2 * n, bytes: 24 * n });
 * assert.deepEqual(axpy(10), { flops: 20, bytes: 240 });
 * ```
 */
export interface Work {
  /** Floating-point operations. */
  flops?: number;
  /** Bytes of memory traffic. */
  bytes?: number;
  /** Extra nanoseconds. */
  ns?: number;
}

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
  ) {}

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

  #peer(what: string, r: number, role: string, wildcard: boolean): void {
    if (r === PROC_NULL || (wildcard && r === ANY_SOURCE)) return;
    if (!Number.isInteger(r) || r < 0 || r >= this.size) {
      throw new MpiError(
        "MPI_ERR_RANK",
        `${what} on rank ${this.rank}: ${role} ${r} outside 0..${this.size - 1} of ${this.name}`,
      );
    }
  }

  #tag(what: string, tag: number, wildcard: boolean): void {
    if (wildcard && tag === ANY_TAG) return;
    if (!Number.isInteger(tag) || tag < 0 || tag > TAG_UB) {
      throw new MpiError(
        "MPI_ERR_TAG",
        `${what} on rank ${this.rank}: tag ${tag} outside 0..${TAG_UB}`,
      );
    }
  }

  #region(buf: Buf, what: string): { region: Region; datatype: Datatype } {
    return toRegion(buf, this.proc.rank, what);
  }

  #own(req: Request, label: string): void {
    if (!(req instanceof Request)) {
      throw new MpiError(
        "MPI_ERR_REQUEST",
        `${label} on rank ${this.rank}: not a request (give what isend or irecv returned)`,
      );
    }
    if (req.rank !== this.proc.rank) {
      throw new MpiError(
        "MPI_ERR_REQUEST",
        `${label} on rank ${this.rank}: the request belongs to rank ${req.rank}`,
      );
    }
  }

  async #wait(req: Request, label: string): Promise<Status> {
    this.#own(req, label);
    // MPI-3.1 §3.7.3: a completion call that returns a request's status
    // deallocates it and sets the handle to MPI_REQUEST_NULL; "One is
    // allowed to call MPI_WAIT with a null or inactive request argument. In
    // this case the operation returns immediately with empty status."
    // §3.9: an inactive persistent request is treated the same way.
    if (!isActive(req)) return nullStatus();
    if (!req.done) await this.proc.ch.waitFor(() => req.done, label);
    if (req instanceof PersistentRequest) req.deactivate();
    else returned.add(req);
    if (req.error) throw req.error;
    return req.status!;
  }

  // ---------------------------------------------------------------- error handling

  /**
   * MPI-3.1 §8.3: an error a call on this communicator detects goes to the
   * communicator's error handler. ERRORS_ARE_FATAL throws it; otherwise a
   * user function is called with it (once per error), and the call returns
   * it. What is not an MPI error (a bug in the program) and the job's end
   * (aborted, deadlocked) always throw: no call returns from those.
   */
  #raise(e: unknown): ErrorOutcome<H> {
    const h = this.#errhandler;
    if (h === ERRORS_ARE_FATAL || !(e instanceof MpiError) || e === this.proc.ch.failure) throw e;
    if (typeof h === "function" && !handled.has(e)) {
      handled.add(e);
      h(this, e);
    }
    return e as ErrorOutcome<H>;
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
    if (!isErrhandler(handler)) {
      throw new MpiError(
        "MPI_ERR_ARG",
        `${what} on rank ${this.rank}: ${
          String(handler)
        } is not an error handler (ERRORS_ARE_FATAL, ERRORS_RETURN or a function)`,
      );
    }
    this.#errhandler = handler;
    return this as unknown as Comm<E>;
  }

  /** `MPI_Comm_get_errhandler`: the communicator's error handler. */
  getErrhandler(): Errhandler {
    return this.#errhandler;
  }

  // ---------------------------------------------------------------- point to point

  /** `MPI_Send`: returns when `buf` may be reused (eager: at once; rendezvous: data delivered). */
  async send(buf: Buf, dest: number, tag = 0): Promise<void | ErrorOutcome<H>> {
    try {
      const req = await this.#isend(buf, dest, tag, false, "MPI_Isend");
      await this.#wait(req, `MPI_Send(dest ${dest}, tag ${tag})`);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Recv`: receive into `buf` from `source` (or ANY_SOURCE) with `tag` (or ANY_TAG). */
  async recv(
    buf: Buf,
    source: number = ANY_SOURCE,
    tag: number = ANY_TAG,
  ): Promise<Status | ErrorOutcome<H>> {
    try {
      const req = await this.#irecv(buf, source, tag, "MPI_Irecv");
      return await this.#wait(req, `MPI_Recv(source ${source}, tag ${tag})`);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Isend`: start a send; the request completes when `buf` may be reused. */
  async isend(buf: Buf, dest: number, tag = 0): Promise<Request | ErrorOutcome<H>> {
    try {
      return await this.#isend(buf, dest, tag, false, "MPI_Isend");
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Irecv`: post a receive. */
  async irecv(
    buf: Buf,
    source: number = ANY_SOURCE,
    tag: number = ANY_TAG,
  ): Promise<Request | ErrorOutcome<H>> {
    try {
      return await this.#irecv(buf, source, tag, "MPI_Irecv");
    } catch (e) {
      return this.#raise(e);
    }
  }

  #sendArgs(what: string, buf: Buf, dest: number, tag: number): Region {
    this.#check(what);
    this.#peer(what, dest, "destination", false);
    this.#tag(what, tag, false);
    return this.#region(buf, what).region;
  }

  #recvArgs(
    what: string,
    buf: Buf,
    source: number,
    tag: number,
  ): { region: Region; datatype: Datatype } {
    this.#check(what);
    this.#peer(what, source, "source", true);
    this.#tag(what, tag, true);
    return this.#region(buf, what);
  }

  async #isend(buf: Buf, dest: number, tag: number, sync: boolean, what: string): Promise<Request> {
    const region = this.#sendArgs(what, buf, dest, tag);
    if (dest === PROC_NULL) {
      return done(new Request("send", this.proc.rank, what), emptyStatus(PROC_NULL));
    }
    return await this.proc.p2p.isend(
      region,
      this.group[dest],
      this.rank,
      tag,
      2 * this.contextId,
      what,
      sync,
    );
  }

  async #irecv(buf: Buf, source: number, tag: number, what: string): Promise<Request> {
    const { region, datatype } = this.#recvArgs(what, buf, source, tag);
    if (source === PROC_NULL) {
      return done(new Request("recv", this.proc.rank, what), emptyStatus(PROC_NULL));
    }
    return await this.proc.p2p.irecv(region, datatype, source, tag, 2 * this.contextId, what);
  }

  /**
   * `MPI_Ssend`: returns once a receive on `dest` has matched the message
   * (MPI-3.1 §3.4), whatever its size: an eager one waits for the
   * receiver's acknowledgement.
   */
  async ssend(buf: Buf, dest: number, tag = 0): Promise<void | ErrorOutcome<H>> {
    try {
      const req = await this.#isend(buf, dest, tag, true, "MPI_Issend");
      await this.#wait(req, `MPI_Ssend(dest ${dest}, tag ${tag})`);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Issend`: start a synchronous send; the request completes once a receive matched it. */
  async issend(buf: Buf, dest: number, tag = 0): Promise<Request | ErrorOutcome<H>> {
    try {
      return await this.#isend(buf, dest, tag, true, "MPI_Issend");
    } catch (e) {
      return this.#raise(e);
    }
  }

  // ---------------------------------------------------------------- persistent requests

  /**
   * `MPI_Send_init` (MPI-3.1 §3.9): a persistent send of `buf` to `dest`
   * with `tag`, inactive until {@link start}. The arguments are checked now
   * and the buffer again at each start.
   */
  sendInit(buf: Buf, dest: number, tag = 0): PersistentRequest | ErrorOutcome<H> {
    try {
      return this.#sendInit(buf, dest, tag, false, "MPI_Send_init");
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Ssend_init`: a persistent synchronous send (each start is an `issend`). */
  ssendInit(buf: Buf, dest: number, tag = 0): PersistentRequest | ErrorOutcome<H> {
    try {
      return this.#sendInit(buf, dest, tag, true, "MPI_Ssend_init");
    } catch (e) {
      return this.#raise(e);
    }
  }

  #sendInit(buf: Buf, dest: number, tag: number, sync: boolean, what: string): PersistentRequest {
    this.#sendArgs(what, buf, dest, tag);
    return new PersistentRequest(
      "send",
      this.proc.rank,
      what,
      () => this.#isend(buf, dest, tag, sync, `MPI_Start(${what})`),
    );
  }

  /** `MPI_Recv_init`: a persistent receive into `buf`, inactive until {@link start}. */
  recvInit(
    buf: Buf,
    source: number = ANY_SOURCE,
    tag: number = ANY_TAG,
  ): PersistentRequest | ErrorOutcome<H> {
    const what = "MPI_Recv_init";
    try {
      this.#recvArgs(what, buf, source, tag);
      return new PersistentRequest(
        "recv",
        this.proc.rank,
        what,
        () => this.#irecv(buf, source, tag, `MPI_Start(${what})`),
      );
    } catch (e) {
      return this.#raise(e);
    }
  }

  #startable(req: Request, what: string): PersistentRequest {
    this.#own(req, what);
    if (!(req instanceof PersistentRequest)) {
      throw new MpiError(
        "MPI_ERR_REQUEST",
        `${what} on rank ${this.rank}: ${req.what}'s request is not persistent (make one with sendInit, ssendInit or recvInit)`,
      );
    }
    if (req.freed) {
      throw new MpiError(
        "MPI_ERR_REQUEST",
        `${what} on rank ${this.rank}: the ${req.what} request was freed`,
      );
    }
    // MPI-3.1 §3.9: "The request becomes active once the call is made"; starting
    // an active one is erroneous (MPICH: MPI_ERR_REQUEST).
    if (req.active) {
      throw new MpiError(
        "MPI_ERR_REQUEST",
        `${what} on rank ${this.rank}: the ${req.what} request is active (complete it with wait or test first)`,
      );
    }
    return req;
  }

  /**
   * `MPI_Start`: begin one operation of a persistent request (as `isend`,
   * `issend` or `irecv` with its arguments). Complete it with `wait`,
   * `test` or any completion call; it is inactive again afterwards.
   */
  async start(req: Request): Promise<void | ErrorOutcome<H>> {
    const what = "MPI_Start";
    try {
      this.#check(what);
      await this.#startable(req, what).begin();
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Startall`: start every request of `reqs`, in array order (so
   * messages between the same pair do not overtake each other in it). All
   * are checked before any starts.
   */
  async startall(reqs: readonly Request[]): Promise<void | ErrorOutcome<H>> {
    const what = "MPI_Startall";
    try {
      this.#check(what);
      const ps = reqs.map((r) => this.#startable(r, what));
      if (new Set(ps).size !== ps.length) {
        throw new MpiError(
          "MPI_ERR_REQUEST",
          `${what} on rank ${this.rank}: a request appears twice in the array`,
        );
      }
      for (const p of ps) await p.begin();
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Request_free` (MPI-3.1 §3.7.3): the request becomes
   * MPI_REQUEST_NULL; an operation under way is allowed to complete (a
   * send's buffer is in use until then, and nothing reports its outcome).
   * For a persistent request this is the only way to release it.
   */
  requestFree(req: Request): void | ErrorOutcome<H> {
    const what = "MPI_Request_free";
    try {
      this.#check(what);
      this.#own(req, what);
      if (isNull(req)) {
        throw new MpiError(
          "MPI_ERR_REQUEST",
          `${what} on rank ${this.rank}: the ${req.what} request is already MPI_REQUEST_NULL (completed by a wait or test, or freed)`,
        );
      }
      if (req instanceof PersistentRequest) req.release();
      else returned.add(req);
    } catch (e) {
      return this.#raise(e);
    }
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
   * not the request.
   */
  cancel(req: Request): void | ErrorOutcome<H> {
    const what = "MPI_Cancel";
    try {
      this.#check(what);
      this.#own(req, what);
      if (isNull(req)) {
        throw new MpiError(
          "MPI_ERR_REQUEST",
          `${what} on rank ${this.rank}: the ${req.what} request is MPI_REQUEST_NULL (completed by a wait or test, or freed)`,
        );
      }
      const op = req instanceof PersistentRequest ? (req.active ? req.op : undefined) : req;
      if (op) this.proc.p2p.cancel(op);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Wait`: the request's status (throws the error it completed with). */
  async wait(req: Request): Promise<Status | ErrorOutcome<H>> {
    try {
      this.#check("MPI_Wait");
      return await this.#wait(req, req instanceof Request ? `MPI_Wait(${req.what})` : "MPI_Wait");
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Waitall`: all statuses, in order (throws the first error). */
  async waitall(reqs: readonly Request[]): Promise<Status[] | ErrorOutcome<H>> {
    try {
      this.#check("MPI_Waitall");
      for (const r of reqs) this.#own(r, "MPI_Waitall");
      const out: Status[] = [], failed: MpiError[] = [];
      const label = `MPI_Waitall(${reqs.length} requests)`;
      const fatal = this.#errhandler === ERRORS_ARE_FATAL;
      for (const r of reqs) {
        out.push(fatal ? await this.#wait(r, label) : await this.#waitKeeping(r, label, failed));
      }
      if (failed.length > 0) throw inStatus("MPI_Waitall", this.rank, out, failed);
      return out;
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Waitany`: wait until one of `reqs` not yet returned by a completion
   * call completes; returns its index and status (`index` = UNDEFINED and
   * the empty status when every one has been returned already, MPI-3.1
   * §3.7.5: "If the array contains no active handles then the call returns
   * immediately with index = MPI_UNDEFINED, and an empty status").
   */
  async waitany(
    reqs: readonly Request[],
  ): Promise<{ index: number; status: Status } | ErrorOutcome<H>> {
    try {
      this.#check("MPI_Waitany");
      for (const r of reqs) this.#own(r, "MPI_Waitany");
      const live = () => reqs.findIndex((r) => isActive(r) && r.done);
      if (!reqs.some(isActive)) return { index: UNDEFINED, status: nullStatus() };
      if (live() < 0) {
        await this.proc.ch.waitFor(() => live() >= 0, `MPI_Waitany(${reqs.length} requests)`);
      }
      const index = live();
      return { index, status: await this.#wait(reqs[index], "MPI_Waitany") };
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Test`: make progress once; the status if the request is done. */
  async test(req: Request): Promise<Status | undefined | ErrorOutcome<H>> {
    try {
      this.#check("MPI_Test");
      this.#own(req, "MPI_Test");
      if (!req.done) await this.proc.ch.poll();
      if (!req.done) return undefined;
      return await this.#wait(req, "MPI_Test");
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Testall`: make progress once; all statuses if every request is done. */
  async testall(reqs: readonly Request[]): Promise<Status[] | undefined | ErrorOutcome<H>> {
    try {
      this.#check("MPI_Testall");
      for (const r of reqs) this.#own(r, "MPI_Testall");
      if (!reqs.every((r) => r.done)) await this.proc.ch.poll();
      if (!reqs.every((r) => r.done)) return undefined;
      return thrown(await this.waitall(reqs));
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Testany`: make progress once; the index and status of one
   * completed request of `reqs` not yet returned, or `undefined` when none
   * has completed (flag false). When no request is active (every one was
   * returned already, or `reqs` is empty): index UNDEFINED and the empty
   * status (MPI-3.1 §3.7.5).
   */
  async testany(
    reqs: readonly Request[],
  ): Promise<{ index: number; status: Status } | undefined | ErrorOutcome<H>> {
    try {
      const what = "MPI_Testany";
      this.#check(what);
      for (const r of reqs) this.#own(r, what);
      if (!reqs.some(isActive)) return { index: UNDEFINED, status: nullStatus() };
      const first = () => reqs.findIndex((r) => isActive(r) && r.done);
      if (first() < 0) await this.proc.ch.poll();
      const index = first();
      if (index < 0) return undefined;
      return { index, status: await this.#wait(reqs[index], what) };
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Waitsome`: wait until at least one request of `reqs` not yet
   * returned completes; returns every one that has, in index order
   * (`outcount` = UNDEFINED and nothing when no request is active, MPI-3.1
   * §3.7.5).
   */
  async waitsome(reqs: readonly Request[]): Promise<Some | ErrorOutcome<H>> {
    try {
      const what = "MPI_Waitsome";
      this.#check(what);
      for (const r of reqs) this.#own(r, what);
      if (!reqs.some(isActive)) return { outcount: UNDEFINED, indices: [], statuses: [] };
      const any = () => reqs.some((r) => isActive(r) && r.done);
      if (!any()) await this.proc.ch.waitFor(any, `MPI_Waitsome(${reqs.length} requests)`);
      return await this.#some(reqs, what);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Testsome`: make progress once; every request of `reqs` not yet
   * returned that has completed, in index order (`outcount` 0 when none
   * has; UNDEFINED when no request is active, MPI-3.1 §3.7.5).
   */
  async testsome(reqs: readonly Request[]): Promise<Some | ErrorOutcome<H>> {
    try {
      const what = "MPI_Testsome";
      this.#check(what);
      for (const r of reqs) this.#own(r, what);
      if (!reqs.some(isActive)) return { outcount: UNDEFINED, indices: [], statuses: [] };
      if (!reqs.some((r) => isActive(r) && r.done)) await this.proc.ch.poll();
      return await this.#some(reqs, what);
    } catch (e) {
      return this.#raise(e);
    }
  }

  async #some(reqs: readonly Request[], what: string): Promise<Some> {
    const indices: number[] = [], statuses: Status[] = [], failed: MpiError[] = [];
    const fatal = this.#errhandler === ERRORS_ARE_FATAL;
    for (const [i, r] of reqs.entries()) {
      if (!isActive(r) || !r.done) continue;
      statuses.push(fatal ? await this.#wait(r, what) : await this.#waitKeeping(r, what, failed));
      indices.push(i);
    }
    if (failed.length > 0) throw inStatus(what, this.rank, statuses, failed);
    return { outcount: indices.length, indices, statuses };
  }

  /**
   * One request of a multiple completion call under a handler that is not
   * ERRORS_ARE_FATAL: its error stays in its status and joins `failed`, so
   * that every request is completed and the call reports MPI_ERR_IN_STATUS
   * (MPI-3.1 §3.7.5: "the function MPI_WAITALL will return in such case the
   * error code MPI_ERR_IN_STATUS and will set the error field of each status
   * to a specific error code"). Under ERRORS_ARE_FATAL the first error is
   * thrown as it is.
   */
  async #waitKeeping(r: Request, label: string, failed: MpiError[]): Promise<Status> {
    try {
      return await this.#wait(r, label);
    } catch (e) {
      if (!(e instanceof MpiError) || e === this.proc.ch.failure || !r.status) throw e;
      failed.push(e);
      return r.status;
    }
  }

  /** `MPI_Sendrecv`: send and receive at once (no deadlock between two ranks swapping). */
  async sendrecv(
    sendbuf: Buf,
    dest: number,
    sendtag: number,
    recvbuf: Buf,
    source: number,
    recvtag: number,
  ): Promise<Status | ErrorOutcome<H>> {
    try {
      const r = thrown(await this.irecv(recvbuf, source, recvtag));
      const s = thrown(await this.isend(sendbuf, dest, sendtag));
      const label = `MPI_Sendrecv(dest ${dest}, source ${source})`;
      await this.#wait(s, label);
      return await this.#wait(r, label);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Probe`: wait for a matching message and return its status without receiving it. */
  async probe(
    source: number = ANY_SOURCE,
    tag: number = ANY_TAG,
  ): Promise<Status | ErrorOutcome<H>> {
    try {
      const what = "MPI_Probe";
      this.#check(what);
      this.#peer(what, source, "source", true);
      this.#tag(what, tag, true);
      if (source === PROC_NULL) return emptyStatus(PROC_NULL);
      const ctx = 2 * this.contextId;
      let st = this.proc.p2p.probe(ctx, source, tag);
      if (!st) {
        await this.proc.ch.waitFor(
          () => (st = this.proc.p2p.probe(ctx, source, tag)) !== undefined,
          `MPI_Probe(source ${source}, tag ${tag})`,
        );
      }
      return st!;
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Iprobe`: make progress once; the status of a matching message if one is there. */
  async iprobe(
    source: number = ANY_SOURCE,
    tag: number = ANY_TAG,
  ): Promise<Status | undefined | ErrorOutcome<H>> {
    try {
      const what = "MPI_Iprobe";
      this.#check(what);
      this.#peer(what, source, "source", true);
      this.#tag(what, tag, true);
      if (source === PROC_NULL) return emptyStatus(PROC_NULL);
      const ctx = 2 * this.contextId;
      const st = this.proc.p2p.probe(ctx, source, tag);
      if (st) return st;
      await this.proc.ch.poll();
      return this.proc.p2p.probe(ctx, source, tag);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Mprobe` (MPI-3.1 §3.8.2): wait for a matching message and take it
   * off the queue: no other receive or probe sees it; receive it with
   * {@link mrecv} or {@link imrecv}. `PROC_NULL` gives `MESSAGE_NO_PROC`.
   */
  async mprobe(
    source: number = ANY_SOURCE,
    tag: number = ANY_TAG,
  ): Promise<Matched | ErrorOutcome<H>> {
    try {
      const what = "MPI_Mprobe";
      this.#probeArgs(what, source, tag);
      if (source === PROC_NULL) return noProc();
      const ctx = 2 * this.contextId;
      let m = this.proc.p2p.mprobe(ctx, source, tag);
      if (!m) {
        await this.proc.ch.waitFor(
          () => (m = this.proc.p2p.mprobe(ctx, source, tag)) !== undefined,
          `MPI_Mprobe(source ${source}, tag ${tag})`,
        );
      }
      return { message: m!, status: m!.status };
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Improbe`: make progress once; a matching message, taken off the queue, if one is there. */
  async improbe(
    source: number = ANY_SOURCE,
    tag: number = ANY_TAG,
  ): Promise<Matched | undefined | ErrorOutcome<H>> {
    try {
      const what = "MPI_Improbe";
      this.#probeArgs(what, source, tag);
      if (source === PROC_NULL) return noProc();
      const ctx = 2 * this.contextId;
      let m = this.proc.p2p.mprobe(ctx, source, tag);
      if (!m) {
        await this.proc.ch.poll();
        m = this.proc.p2p.mprobe(ctx, source, tag);
      }
      return m ? { message: m, status: m.status } : undefined;
    } catch (e) {
      return this.#raise(e);
    }
  }

  #probeArgs(what: string, source: number, tag: number): void {
    this.#check(what);
    this.#peer(what, source, "source", true);
    this.#tag(what, tag, true);
  }

  /** `MPI_Mrecv` (MPI-3.1 §3.8.3): receive the message a matched probe returned into `buf`. */
  async mrecv(buf: Buf, message: Message): Promise<Status | ErrorOutcome<H>> {
    try {
      const req = thrown(await this.imrecv(buf, message));
      return await this.#wait(req, "MPI_Mrecv");
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Imrecv`: start receiving the message a matched probe returned. The
   * message handle is used up (MPI_MESSAGE_NULL) once this returns;
   * `MESSAGE_NO_PROC` gives a request that completes at once with the
   * status of a receive from PROC_NULL.
   */
  async imrecv(buf: Buf, message: Message): Promise<Request | ErrorOutcome<H>> {
    try {
      const what = "MPI_Imrecv";
      this.#check(what);
      const { region, datatype } = this.#region(buf, what);
      if (message === MESSAGE_NO_PROC) {
        return done(new Request("recv", this.proc.rank, what), emptyStatus(PROC_NULL));
      }
      if (!(message instanceof Message)) {
        throw new MpiError(
          "MPI_ERR_REQUEST",
          `${what} on rank ${this.rank}: not a message (give what mprobe or improbe returned)`,
        );
      }
      if (message.rank !== this.proc.rank) {
        throw new MpiError(
          "MPI_ERR_REQUEST",
          `${what} on rank ${this.rank}: the message was probed by rank ${message.rank}`,
        );
      }
      if (message.received) {
        throw new MpiError(
          "MPI_ERR_REQUEST",
          `${what} on rank ${this.rank}: the message was received already (it is MPI_MESSAGE_NULL)`,
        );
      }
      return await this.proc.p2p.mrecv(message.take(), region, datatype, what);
    } catch (e) {
      return this.#raise(e);
    }
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
    try {
      this.#check("MPI_Alloc_mem");
      const dt = (datatype ?? "uint8") as T;
      typeSize(dt);
      return MpiBuffer.allocate(this.proc.dom.memory, this.proc.rank, length, dt);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Free_mem`: free a buffer from {@link alloc}. Its pin-down cache
   * entries are invalidated (deregistered) first, as MVAPICH's free hook does.
   */
  async free(buf: MpiBuffer): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Free_mem";
      this.#check(what);
      if (!(buf instanceof MpiBuffer)) {
        throw new MpiError(
          "MPI_ERR_BUFFER",
          `${what} on rank ${this.rank}: not a buffer from comm.alloc`,
        );
      }
      const a = buf.allocation;
      const where = `${what} on rank ${this.rank}: buffer at 0x${buf.addr.toString(16)}`;
      if (a.rank !== this.proc.rank) {
        throw new MpiError("MPI_ERR_BUFFER", `${where} belongs to rank ${a.rank}`);
      }
      if (a.freed) throw new MpiError("MPI_ERR_BUFFER", `${where} was already freed`);
      if (buf.byteOffset !== 0) {
        throw new MpiError(
          "MPI_ERR_BUFFER",
          `${where} is a view; free the buffer comm.alloc returned`,
        );
      }
      if (a.pins > 0) {
        throw new MpiError("MPI_ERR_BUFFER", `${where} is in use by ${a.pins} pending request(s)`);
      }
      this.proc.cache.invalidate(a.addr, a.bytes);
      await this.proc.cache.flush();
      a.freed = true;
      this.proc.dom.memory.free(a.addr);
    } catch (e) {
      return this.#raise(e);
    }
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
  async compute(work: Work): Promise<number | ErrorOutcome<H>> {
    try {
      const what = "compute";
      this.#check(what);
      for (const k of ["flops", "bytes", "ns"] as const) {
        const v = work[k];
        if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v < 0)) {
          throw new MpiError(
            "MPI_ERR_ARG",
            `${what} on rank ${this.rank}: ${k} must be a number >= 0 (got ${v})`,
          );
        }
      }
      const p = this.proc.params;
      const ns = Math.max((work.flops ?? 0) / p.flopsPerNs, (work.bytes ?? 0) / p.memBytesPerNs) +
        (work.ns ?? 0);
      this.proc.computeNs += ns;
      this.proc.chargeCpu(ns);
      // Outside the MPI library: the progress engine does not poll until the rank is back.
      const ch = this.proc.ch;
      ch.pause();
      try {
        await ch.cpu.settle();
      } finally {
        ch.resume();
      }
      return ns;
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** Spend `ns` nanoseconds of virtual CPU time. */
  async charge(ns: number): Promise<void | ErrorOutcome<H>> {
    try {
      thrown(await this.compute({ ns }));
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** Counters of this rank's process (all communicators). */
  counters(): MpiCounters {
    return this.proc.counters();
  }

  // ---------------------------------------------------------------- communicators

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

  /** `MPI_Comm_dup`: same group, new contexts (collective). */
  async dup(): Promise<Comm<H> | ErrorOutcome<H>> {
    try {
      this.#check("MPI_Comm_dup");
      const id = await this.#newContext("MPI_Comm_dup", true);
      const c = new Comm<H>(
        this.proc,
        this.group,
        this.rank,
        id,
        `${this.name}.dup${++this.#dups}`,
      );
      // MPI-3.1 §6.4.2: MPI_COMM_DUP copies the error handler (§8.3.1: a new
      // communicator inherits its parent's).
      c.#errhandler = this.#errhandler;
      c.#algorithms = { ...this.#algorithms };
      return c;
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Comm_split`: ranks with the same `color` form a new communicator,
   * ordered by `key` then by rank here; color UNDEFINED gives `null` (collective).
   */
  async split(color: number, key = 0): Promise<Comm<H> | null | ErrorOutcome<H>> {
    try {
      const what = "MPI_Comm_split";
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
      const c = new Comm<H>(
        this.proc,
        group,
        members.findIndex((m) => m.r === this.rank),
        id,
        `${this.name}.split(${color})`,
      );
      c.#algorithms = { ...this.#algorithms };
      c.#errhandler = this.#errhandler;
      return c;
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
      const c = new Comm<H>(this.proc, group.members, group.rank, id, `${this.name}.create${n}`);
      c.#algorithms = { ...this.#algorithms };
      c.#errhandler = this.#errhandler;
      return c;
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Comm_free`: release the communicator's contexts (MPI_COMM_WORLD cannot be freed). */
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
      this.proc.markContext(this.contextId, false);
    } catch (e) {
      return this.#raise(e);
    }
  }

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

  // ---------------------------------------------------------------- collectives

  #pick(
    coll: Collective,
    opts: CollOptions<Collective> | undefined,
    c: Omit<CallShape, "n">,
  ): string {
    const a = opts?.algorithm ?? this.#algorithms[coll];
    const shape = { n: this.size, ...c };
    if (a !== undefined) {
      checkAlgorithm(coll, a);
      if (usable(coll, a, shape)) return a;
    }
    return defaultAlgorithm(coll, shape);
  }

  /** Run `body` with a collective environment; scratch memory is returned afterwards. */
  async #coll<T>(what: string, body: (env: CollEnv) => Promise<T>): Promise<T> {
    this.#check(what);
    const taken: DomRegion[] = [];
    const proc = this.proc;
    const ctx = 2 * this.contextId + 1;
    const label = `${what} on ${this.name}`;
    const env: CollEnv = {
      rank: this.rank,
      size: this.size,
      isend: (region, dest, tag) =>
        proc.p2p.isend(region, this.group[dest], this.rank, tag, ctx, what),
      irecv: (region, src, tag) => proc.p2p.irecv(region, "byte", src, tag, ctx, what),
      waitall: async (reqs) => {
        const out: Status[] = [];
        for (const r of reqs) out.push(await this.#wait(r, label));
        return out;
      },
      scratch: (bytes) => {
        const r = proc.takeScratch(bytes);
        taken.push(r);
        return r;
      },
      reduceLocal: (op, dt, inout, input, inputFirst) => {
        const a = inout.read(0, inout.bytes), b = input.read(0, input.bytes);
        // Operand order matters only to a non-commutative operation (MPI-3.1 §5.9.5).
        const swap = inputFirst === true && !isCommutative(op);
        let res: Uint8Array;
        try {
          res = swap ? reduceInto(op, dt, b.slice(), a) : reduceInto(op, dt, a, b);
        } catch (e) {
          if (e instanceof MpiError) throw e;
          throw new MpiError(
            "MPI_ERR_OTHER",
            `${what} on rank ${this.rank}: the user operation threw: ${(e as Error)?.message ?? e}`,
          );
        }
        if (inout instanceof DomRegion || swap) inout.write(0, res);
        const bytes = inout.bytes;
        const p = proc.params;
        proc.chargeCpu(
          Math.max(bytes / typeSize(dt) / p.flopsPerNs, (3 * bytes) / p.memBytesPerNs),
        );
      },
      copy: (dst, src) => {
        if (src.bytes === 0 || sameRegion(dst, src)) return;
        dst.write(0, src.read(0, src.bytes));
        proc.chargeCpu(src.bytes * proc.params.copyNsPerByte);
      },
    };
    try {
      return await body(env);
    } finally {
      for (const r of taken) proc.giveScratch(r);
    }
  }

  #sameType(what: string, a: Datatype, b: Datatype): void {
    if (a !== b && a !== "byte" && b !== "byte") {
      throw new MpiError(
        "MPI_ERR_TYPE",
        `${what} on rank ${this.rank}: send type ${a} and receive type ${b} differ`,
      );
    }
  }

  /**
   * The element type a reduction combines: the typed side's when the other
   * is untyped bytes (a DataView), so a `Float64Array` reduced into a
   * DataView still adds doubles (it added bytes at one end and doubles at
   * the other); the send buffer must hold whole elements of it.
   */
  #reduceType(
    what: string,
    src: { region: Region; datatype: Datatype },
    out: { datatype: Datatype } | undefined,
  ): Datatype {
    const dt = src.datatype === "byte" && out ? out.datatype : src.datatype;
    if (src.region.bytes % typeSize(dt) !== 0) {
      throw new MpiError(
        "MPI_ERR_COUNT",
        `${what} on rank ${this.rank}: ${src.region.bytes} bytes is not a whole number of ${dt} elements`,
      );
    }
    return dt;
  }

  /**
   * MPI-3.1 §2.3: "Unless specified otherwise, an argument of type OUT or
   * type INOUT cannot be aliased with any other argument passed to an MPI
   * procedure"; a collective reuses its receive buffer through MPI_IN_PLACE.
   * As MPICH (MPIR_ERRTEST_ALIAS_COLL), a send buffer that starts where the
   * receive buffer does is MPI_ERR_BUFFER.
   */
  #notAliased(what: string, send: Region, recv: Region): void {
    const n = Math.min(send.bytes, recv.bytes);
    if (this.size > 1 && n > 0 && sameRegion(send.sub(0, n), recv.sub(0, n))) {
      throw new MpiError(
        "MPI_ERR_BUFFER",
        `${what} on rank ${this.rank}: send and receive buffers are the same (use IN_PLACE)`,
      );
    }
  }

  #root(what: string, root: number): void {
    if (!Number.isInteger(root) || root < 0 || root >= this.size) {
      throw new MpiError(
        "MPI_ERR_ROOT",
        `${what} on rank ${this.rank}: root ${root} outside 0..${this.size - 1}`,
      );
    }
  }

  #fits(what: string, role: string, region: Region, bytes: number): void {
    if (region.bytes < bytes) {
      throw new MpiError(
        "MPI_ERR_COUNT",
        `${what} on rank ${this.rank}: ${role} holds ${region.bytes} bytes, needs ${bytes}`,
      );
    }
  }

  /** `MPI_Barrier`. */
  async barrier(opts?: CollOptions<"barrier">): Promise<void | ErrorOutcome<H>> {
    try {
      await this.#coll("MPI_Barrier", async (env) => {
        if (this.size === 1) return;
        if (this.#pick("barrier", opts, { bytes: 0 }) === "recursive_doubling") {
          await barrierRecursiveDoubling(env);
        } else await barrierDissemination(env);
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Bcast`: the root's `buf` to every rank's `buf` (same length everywhere). */
  async bcast(
    buf: Buf,
    root: number,
    opts?: CollOptions<"bcast">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Bcast";
      await this.#coll(what, async (env) => {
        this.#root(what, root);
        const { region } = this.#region(buf, what);
        if (this.size === 1 || region.bytes === 0) return;
        const a = this.#pick("bcast", opts, { bytes: region.bytes });
        const pow2 = (this.size & (this.size - 1)) === 0;
        if (a === "binomial") await bcastBinomial(env, region, root);
        else if (a === "scatter_doubling_allgather" && pow2) {
          await bcastScatterDoubling(env, region, root);
        } else await bcastScatterRing(env, region, root);
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Reduce`: combine every rank's `sendbuf` with `op` into `recvbuf` at
   * the root (`recvbuf` ignored elsewhere; `IN_PLACE` as sendbuf at the root).
   */
  async reduce(
    sendbuf: Buf | InPlace,
    recvbuf: Buf | null,
    op: ReductionOp,
    root: number,
    opts?: CollOptions<"reduce">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Reduce";
      await this.#coll(what, async (env) => {
        this.#root(what, root);
        const isRoot = this.rank === root;
        if (isInPlace(sendbuf) && !isRoot) {
          throw new MpiError(
            "MPI_ERR_BUFFER",
            `${what} on rank ${this.rank}: IN_PLACE is for the root only`,
          );
        }
        const out = isRoot ? this.#need(recvbuf, what, "receive buffer") : undefined;
        const src = isInPlace(sendbuf) ? out! : this.#region(sendbuf, what);
        if (out) this.#sameType(what, src.datatype, out.datatype);
        if (out && !isInPlace(sendbuf)) this.#notAliased(what, src.region, out.region);
        const dt = this.#reduceType(what, src, out);
        const es = typeSize(dt), bytes = src.region.bytes, count = bytes / es;
        checkOp(op, dt, count, what);
        if (out) this.#fits(what, "receive buffer", out.region, bytes);
        const red = { count, es, dt, op };
        const commutative = isCommutative(op);
        const algo = this.#pick("reduce", opts, { bytes, count, commutative });
        if (!commutative && root !== 0) {
          // MPICH's binomial reduce for a non-commutative operation: rooted at rank 0 (the
          // tree then combines in rank order), the result sent on to the root.
          const acc = env.scratch(bytes);
          env.copy(acc, src.region);
          await reduceBinomial(env, acc, 0, red);
          if (this.rank === 0) await collSend(env, acc, root, TAG.reduce);
          else if (isRoot) await collRecv(env, out!.region.sub(0, bytes), 0, TAG.reduce);
        } else if (algo === "rabenseifner" && this.size > 1) {
          const acc = env.scratch(bytes);
          env.copy(acc, src.region);
          await reduceRabenseifner(env, acc, out?.region.sub(0, bytes), root, red);
        } else {
          const acc = isRoot ? out!.region.sub(0, bytes) : env.scratch(bytes);
          env.copy(acc, src.region);
          await reduceBinomial(env, acc, root, red);
        }
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  #need(
    buf: Buf | null | undefined,
    what: string,
    role: string,
  ): { region: Region; datatype: Datatype } {
    if (buf === null || buf === undefined) {
      throw new MpiError("MPI_ERR_BUFFER", `${what} on rank ${this.rank}: ${role} missing`);
    }
    return this.#region(buf, what);
  }

  /** `MPI_Allreduce`: combine every rank's `sendbuf` with `op` into every `recvbuf`. */
  async allreduce(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    op: ReductionOp,
    opts?: CollOptions<"allreduce">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Allreduce";
      await this.#coll(what, async (env) => {
        const out = this.#region(recvbuf, what);
        const src = isInPlace(sendbuf) ? out : this.#region(sendbuf, what);
        this.#sameType(what, src.datatype, out.datatype);
        if (!isInPlace(sendbuf)) this.#notAliased(what, src.region, out.region);
        const dt = this.#reduceType(what, src, out);
        const es = typeSize(dt), bytes = src.region.bytes, count = bytes / es;
        checkOp(op, dt, count, what);
        this.#fits(what, "receive buffer", out.region, bytes);
        const acc = out.region.sub(0, bytes);
        env.copy(acc, src.region);
        if (this.size === 1 || bytes === 0) return;
        const red = { count, es, dt, op };
        const algo = this.#pick("allreduce", opts, {
          bytes,
          count,
          commutative: isCommutative(op),
        });
        if (algo === "ring") await allreduceRing(env, acc, red);
        else if (algo === "rabenseifner") await allreduceRabenseifner(env, acc, red);
        else await allreduceRecursiveDoubling(env, acc, red);
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Gather`: every rank's `sendbuf` to block `rank` of the root's
   * `recvbuf` (IN_PLACE as sendbuf at the root: its block is already there).
   */
  async gather(
    sendbuf: Buf | InPlace,
    recvbuf: Buf | null,
    root: number,
    opts?: CollOptions<"gather">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Gather";
      await this.#coll(what, async (env) => {
        this.#root(what, root);
        const isRoot = this.rank === root;
        const out = isRoot ? this.#need(recvbuf, what, "receive buffer") : undefined;
        if (isInPlace(sendbuf) && !isRoot) {
          throw new MpiError(
            "MPI_ERR_BUFFER",
            `${what} on rank ${this.rank}: IN_PLACE is for the root only`,
          );
        }
        let mine: Region;
        if (isInPlace(sendbuf)) {
          const bb = out!.region.bytes / this.size;
          if (!Number.isInteger(bb)) throw this.#blocks(what, out!.region.bytes);
          mine = out!.region.sub(root * bb, bb);
        } else {
          const s = this.#region(sendbuf, what);
          if (out) this.#sameType(what, s.datatype, out.datatype);
          if (out) this.#notAliased(what, s.region, out.region);
          mine = s.region;
        }
        if (out) this.#fits(what, "receive buffer", out.region, mine.bytes * this.size);
        const o = out?.region.sub(0, mine.bytes * this.size);
        if (this.#pick("gather", opts, { bytes: mine.bytes }) === "linear") {
          await gatherLinear(env, mine, o, root);
        } else await gatherBinomial(env, mine, o, root);
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  #blocks(what: string, bytes: number): MpiError {
    return new MpiError(
      "MPI_ERR_COUNT",
      `${what} on rank ${this.rank}: ${bytes} bytes is not ${this.size} equal blocks`,
    );
  }

  /**
   * `MPI_Scatter`: block `i` of the root's `sendbuf` to rank `i`'s `recvbuf`
   * (IN_PLACE as recvbuf at the root: it keeps its block where it is).
   */
  async scatter(
    sendbuf: Buf | null,
    recvbuf: Buf | InPlace,
    root: number,
    opts?: CollOptions<"scatter">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Scatter";
      await this.#coll(what, async (env) => {
        this.#root(what, root);
        const isRoot = this.rank === root;
        const src = isRoot ? this.#need(sendbuf, what, "send buffer") : undefined;
        if (isInPlace(recvbuf) && !isRoot) {
          throw new MpiError(
            "MPI_ERR_BUFFER",
            `${what} on rank ${this.rank}: IN_PLACE is for the root only`,
          );
        }
        let mine: Region;
        if (isInPlace(recvbuf)) {
          const bb = src!.region.bytes / this.size;
          if (!Number.isInteger(bb)) throw this.#blocks(what, src!.region.bytes);
          mine = src!.region.sub(root * bb, bb);
        } else {
          const r = this.#region(recvbuf, what);
          if (src) this.#sameType(what, src.datatype, r.datatype);
          if (src) this.#notAliased(what, src.region, r.region);
          mine = r.region;
        }
        if (src) this.#fits(what, "send buffer", src.region, mine.bytes * this.size);
        const s = src?.region.sub(0, mine.bytes * this.size);
        if (this.#pick("scatter", opts, { bytes: mine.bytes }) === "linear") {
          await scatterLinear(env, s, mine, root);
        } else await scatterBinomial(env, s, mine, root);
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Allgather`: every rank's `sendbuf` to block `rank` of every `recvbuf`. */
  async allgather(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    opts?: CollOptions<"allgather">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Allgather";
      await this.#coll(what, async (env) => {
        const out = this.#region(recvbuf, what);
        let bb: number;
        if (isInPlace(sendbuf)) {
          bb = out.region.bytes / this.size;
          if (!Number.isInteger(bb)) throw this.#blocks(what, out.region.bytes);
        } else {
          const s = this.#region(sendbuf, what);
          this.#sameType(what, s.datatype, out.datatype);
          this.#notAliased(what, s.region, out.region);
          bb = s.region.bytes;
          this.#fits(what, "receive buffer", out.region, bb * this.size);
          env.copy(out.region.sub(this.rank * bb, bb), s.region);
        }
        if (this.size === 1 || bb === 0) return;
        const o = out.region.sub(0, bb * this.size);
        const a = this.#pick("allgather", opts, { bytes: bb * this.size });
        const pow2 = (this.size & (this.size - 1)) === 0;
        if (a === "recursive_doubling" && pow2) await allgatherRecursiveDoubling(env, o, bb);
        else if (a === "ring") await allgatherRing(env, o, bb);
        else await allgatherBruck(env, o, bb);
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Alltoall`: block `j` of rank `i`'s `sendbuf` to block `i` of rank
   * `j`'s `recvbuf` (IN_PLACE as sendbuf on every rank: the blocks go out of
   * `recvbuf` and are replaced by the ones received).
   */
  async alltoall(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    opts?: CollOptions<"alltoall">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Alltoall";
      await this.#coll(what, async (env) => {
        const o = this.#region(recvbuf, what);
        const s = isInPlace(sendbuf) ? this.#sendCopy(env, o) : this.#region(sendbuf, what);
        this.#sameType(what, s.datatype, o.datatype);
        const bb = s.region.bytes / this.size;
        if (!Number.isInteger(bb)) throw this.#blocks(what, s.region.bytes);
        this.#fits(what, "receive buffer", o.region, s.region.bytes);
        this.#notAliased(what, s.region, o.region);
        const a = this.#pick("alltoall", opts, { bytes: bb });
        const blocks = equalBlocks(bb);
        if (a === "bruck") await alltoallBruck(env, s.region, o.region, bb);
        else if (a === "scattered") {
          await alltoallScattered(env, s.region, blocks, o.region, blocks);
        } else await alltoallPairwise(env, s.region, blocks, o.region, blocks);
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Alltoallv`: `sendcounts[j]` elements at `sdispls[j]` of `sendbuf`
   * to rank `j`, which receives them at `rdispls[i]` of its `recvbuf`
   * (`recvcounts[i]` elements); counts and displacements in elements.
   * IN_PLACE as sendbuf on every rank: `sendcounts` and `sdispls` are
   * ignored, block `j` of `recvbuf` goes to rank `j` and is replaced by what
   * rank `j` sends.
   */
  async alltoallv(
    sendbuf: Buf | InPlace,
    sendcounts: readonly number[],
    sdispls: readonly number[],
    recvbuf: Buf,
    recvcounts: readonly number[],
    rdispls: readonly number[],
    opts?: CollOptions<"alltoallv">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Alltoallv";
      await this.#coll(what, async (env) => {
        const o = this.#region(recvbuf, what);
        const inPlace = isInPlace(sendbuf);
        const s = inPlace ? this.#sendCopy(env, o) : this.#region(sendbuf, what);
        this.#sameType(what, s.datatype, o.datatype);
        const es = typeSize(s.datatype);
        if (!inPlace) this.#notAliased(what, s.region, o.region);
        if (!inPlace) this.#vector(what, "send", sendcounts, sdispls, s.region.bytes / es);
        this.#vector(what, "receive", recvcounts, rdispls, o.region.bytes / es);
        const rb = vBlocks(recvcounts, rdispls, es);
        const sb = inPlace ? rb : vBlocks(sendcounts, sdispls, es);
        if (this.#pick("alltoallv", opts, { bytes: 0 }) === "scattered") {
          await alltoallScattered(env, s.region, sb, o.region, rb, TAG.alltoallv);
        } else await alltoallPairwise(env, s.region, sb, o.region, rb, TAG.alltoallv);
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Gatherv`: rank i's `sendbuf` lands at element `displs[i]` of the
   * root's `recvbuf` (`recvcounts[i]` elements of the receive type).
   * `recvbuf`, `recvcounts` and `displs` are significant at the root only
   * (others may pass `null`, `[]`, `[]`). IN_PLACE as sendbuf at the root:
   * its block is already in place (MPI-3.1 §5.5).
   */
  async gatherv(
    sendbuf: Buf | InPlace,
    recvbuf: Buf | null,
    recvcounts: readonly number[],
    displs: readonly number[],
    root: number,
    opts?: CollOptions<"gatherv">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Gatherv";
      await this.#coll(what, async (env) => {
        this.#root(what, root);
        const isRoot = this.rank === root;
        this.#inPlaceAtRoot(what, isInPlace(sendbuf), isRoot);
        this.#pick("gatherv", opts, { bytes: 0 });
        if (!isRoot) {
          await gathervLinear(
            env,
            this.#region(sendbuf as Buf, what).region,
            undefined,
            undefined,
            root,
          );
          return;
        }
        const out = this.#need(recvbuf, what, "receive buffer");
        const es = typeSize(out.datatype);
        this.#vector(what, "receive", recvcounts, displs, out.region.bytes / es);
        const blocks = vBlocks(recvcounts, displs, es);
        const own = out.region.sub(blocks.off(root), blocks.len(root));
        const mine = isInPlace(sendbuf) ? own : this.#ownBlock(what, sendbuf, out, own, "send");
        await gathervLinear(env, mine, out.region, blocks, root);
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Scatterv`: `sendcounts[i]` elements at element `displs[i]` of the
   * root's `sendbuf` to rank i's `recvbuf`. `sendbuf`, `sendcounts` and
   * `displs` are significant at the root only (others may pass `null`, `[]`,
   * `[]`). IN_PLACE as recvbuf at the root: it keeps its block where it is
   * (MPI-3.1 §5.6).
   */
  async scatterv(
    sendbuf: Buf | null,
    sendcounts: readonly number[],
    displs: readonly number[],
    recvbuf: Buf | InPlace,
    root: number,
    opts?: CollOptions<"scatterv">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Scatterv";
      await this.#coll(what, async (env) => {
        this.#root(what, root);
        const isRoot = this.rank === root;
        this.#inPlaceAtRoot(what, isInPlace(recvbuf), isRoot);
        this.#pick("scatterv", opts, { bytes: 0 });
        if (!isRoot) {
          await scattervLinear(
            env,
            undefined,
            undefined,
            this.#region(recvbuf as Buf, what).region,
            root,
          );
          return;
        }
        const src = this.#need(sendbuf, what, "send buffer");
        const es = typeSize(src.datatype);
        this.#vector(what, "send", sendcounts, displs, src.region.bytes / es);
        const blocks = vBlocks(sendcounts, displs, es);
        const own = src.region.sub(blocks.off(root), blocks.len(root));
        const mine = isInPlace(recvbuf) ? own : this.#ownBlock(what, recvbuf, src, own, "receive");
        await scattervLinear(env, src.region, blocks, mine, root);
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Allgatherv`: every rank's `sendbuf` to element `displs[rank]` of
   * every `recvbuf` (`recvcounts[rank]` elements). IN_PLACE as sendbuf on
   * every rank: each rank's contribution is already at its block of
   * `recvbuf` (MPI-3.1 §5.7).
   */
  async allgatherv(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    recvcounts: readonly number[],
    displs: readonly number[],
    opts?: CollOptions<"allgatherv">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Allgatherv";
      await this.#coll(what, async (env) => {
        const out = this.#region(recvbuf, what);
        const es = typeSize(out.datatype);
        this.#vector(what, "receive", recvcounts, displs, out.region.bytes / es);
        const blocks = vBlocks(recvcounts, displs, es);
        const own = out.region.sub(blocks.off(this.rank), blocks.len(this.rank));
        if (!isInPlace(sendbuf)) {
          env.copy(own, this.#ownBlock(what, sendbuf, out, own, "send"));
        }
        let total = 0;
        for (let i = 0; i < this.size; i++) total += blocks.len(i);
        if (this.size === 1 || total === 0) return;
        const a = this.#pick("allgatherv", opts, { bytes: total });
        const pow2 = (this.size & (this.size - 1)) === 0;
        if (a === "recursive_doubling" && pow2) {
          await allgathervRecursiveDoubling(env, out.region, blocks);
        } else if (a === "ring") await allgathervRing(env, out.region, blocks, es);
        else await allgathervBruck(env, out.region, blocks);
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** MPI_IN_PLACE in a rooted collective is the root's only (MPI-3.1 §5.5, §5.6). */
  #inPlaceAtRoot(what: string, inPlace: boolean, isRoot: boolean): void {
    if (inPlace && !isRoot) {
      throw new MpiError(
        "MPI_ERR_BUFFER",
        `${what} on rank ${this.rank}: IN_PLACE is for the root only`,
      );
    }
  }

  /**
   * This rank's own block of a vector collective, given as a separate
   * buffer (`role`: the send buffer of gatherv/allgatherv, the receive
   * buffer of scatterv) against its block `own` of the vector buffer `v`:
   * same type, not aliased with the block (MPICH's MPIR_ERRTEST_ALIAS_COLL
   * against buf + displs[rank]), and the data fits where it goes
   * (MPI_ERR_TRUNCATE, as the local copy MPIR_Localcopy reports).
   */
  #ownBlock(
    what: string,
    buf: Buf,
    v: { region: Region; datatype: Datatype },
    own: Region,
    role: "send" | "receive",
  ): Region {
    const b = this.#region(buf, what);
    this.#sameType(
      what,
      role === "send" ? b.datatype : v.datatype,
      role === "send" ? v.datatype : b.datatype,
    );
    this.#notAliased(what, role === "send" ? b.region : own, role === "send" ? own : b.region);
    if (role === "send" && b.region.bytes > own.bytes) {
      throw new MpiError(
        "MPI_ERR_TRUNCATE",
        `${what} on rank ${this.rank}: ${b.region.bytes} bytes sent, its block holds ${own.bytes}`,
      );
    }
    if (role === "receive" && own.bytes > b.region.bytes) {
      throw new MpiError(
        "MPI_ERR_TRUNCATE",
        `${what} on rank ${this.rank}: its block is ${own.bytes} bytes, the receive buffer holds ${b.region.bytes}`,
      );
    }
    return role === "send" ? b.region : b.region.sub(0, own.bytes);
  }

  /**
   * `MPI_Reduce_scatter_block`: combine every rank's `sendbuf` (n blocks of
   * equal size) with `op`; block i of the result to rank i's `recvbuf`.
   * IN_PLACE as sendbuf: the input is `recvbuf` (n blocks), the result its
   * first block (MPI-3.1 §5.10.1).
   */
  async reduceScatterBlock(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    op: ReductionOp,
    opts?: CollOptions<"reduceScatterBlock">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Reduce_scatter_block";
      await this.#coll(what, async (env) => {
        const { dt, es, src, out } = this.#reduceArgs(env, what, sendbuf, recvbuf);
        const count = src.bytes / es;
        const per = count / this.size;
        if (!Number.isInteger(per)) {
          throw new MpiError(
            "MPI_ERR_COUNT",
            `${what} on rank ${this.rank}: ${count} elements is not ${this.size} equal blocks`,
          );
        }
        const counts = new Array<number>(this.size).fill(per);
        await this.#reduceScatter(env, "reduceScatterBlock", opts, src, out, counts, dt, op, what);
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Reduce_scatter`: combine every rank's `sendbuf` (Σ `recvcounts`
   * elements, block i of `recvcounts[i]` elements) with `op`; block i of the
   * result to rank i's `recvbuf`. `recvcounts` is the same on every rank.
   * IN_PLACE as sendbuf: the input is `recvbuf`, the result its first
   * `recvcounts[rank]` elements (MPI-3.1 §5.10.2).
   */
  async reduceScatter(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    recvcounts: readonly number[],
    op: ReductionOp,
    opts?: CollOptions<"reduceScatter">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Reduce_scatter";
      await this.#coll(what, async (env) => {
        const { dt, es, src, out } = this.#reduceArgs(env, what, sendbuf, recvbuf);
        const displs = [0];
        for (let i = 1; i < this.size; i++) displs.push(displs[i - 1] + (recvcounts[i - 1] ?? 0));
        this.#vector(what, "receive", recvcounts, displs, src.bytes / es);
        await this.#reduceScatter(
          env,
          "reduceScatter",
          opts,
          src.sub(0, (displs[this.size - 1] + recvcounts[this.size - 1]) * es),
          out,
          recvcounts,
          dt,
          op,
          what,
        );
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * The buffers of a reduction whose input and output differ in size
   * (reduce_scatter, reduce_scatter_block): same types, no aliasing, whole
   * elements; with IN_PLACE the input is the receive buffer, copied to
   * scratch first since the result overwrites its start.
   */
  #reduceArgs(
    env: CollEnv,
    what: string,
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
  ): { dt: Datatype; es: number; src: Region; out: { region: Region; datatype: Datatype } } {
    const out = this.#region(recvbuf, what);
    const src = isInPlace(sendbuf) ? out : this.#region(sendbuf, what);
    this.#sameType(what, src.datatype, out.datatype);
    if (!isInPlace(sendbuf)) this.#notAliased(what, src.region, out.region);
    const dt = this.#reduceType(what, src, out);
    const input = isInPlace(sendbuf) ? this.#sendCopy(env, out).region : src.region;
    return { dt, es: typeSize(dt), src: input, out };
  }

  async #reduceScatter(
    env: CollEnv,
    coll: "reduceScatter" | "reduceScatterBlock",
    opts: CollOptions<"reduceScatter" | "reduceScatterBlock"> | undefined,
    input: Region,
    out: { region: Region },
    counts: readonly number[],
    dt: Datatype,
    op: ReductionOp,
    what: string,
  ): Promise<void> {
    const es = typeSize(dt), count = input.bytes / es;
    checkOp(op, dt, count, what);
    const mine = counts[this.rank] * es;
    this.#fits(what, "receive buffer", out.region, mine);
    const src = input;
    const o = out.region.sub(0, mine);
    if (this.size === 1 || input.bytes === 0) return env.copy(o, src.sub(0, mine));
    const red = { count, es, dt, op };
    const a = this.#pick(coll, opts, {
      bytes: input.bytes,
      count,
      commutative: isCommutative(op),
      regular: counts.every((c) => c === counts[0]),
    });
    if (a === "pairwise") await reduceScatterPairwise(env, src, o, counts, red);
    else if (a === "noncommutative") await reduceScatterNoncommutative(env, src, o, counts, red);
    else if (a === "recursive_doubling") {
      await reduceScatterRecursiveDoubling(env, src, o, counts, red);
    } else await reduceScatterRecursiveHalving(env, src, o, counts, red);
  }

  /**
   * `MPI_Scan`: rank i's `recvbuf` gets the reduction with `op` of the
   * `sendbuf`s of ranks 0..i. IN_PLACE as sendbuf: the input is `recvbuf`
   * (MPI-3.1 §5.11.1).
   */
  async scan(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    op: ReductionOp,
    opts?: CollOptions<"scan">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Scan";
      await this.#coll(what, async (env) => {
        const { acc, red } = this.#prefixArgs(what, sendbuf, recvbuf, op);
        env.copy(acc, isInPlace(sendbuf) ? acc : this.#region(sendbuf, what).region);
        if (this.size === 1 || acc.bytes === 0) return;
        this.#pick("scan", opts, { bytes: acc.bytes, count: red.count });
        await scanRecursiveDoubling(env, acc, red);
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Exscan`: rank i's `recvbuf` gets the reduction with `op` of the
   * `sendbuf`s of ranks 0..i − 1; rank 0's is left as it was (MPI leaves it
   * undefined). IN_PLACE as sendbuf: the input is `recvbuf` (MPI-3.1
   * §5.11.2).
   */
  async exscan(
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    op: ReductionOp,
    opts?: CollOptions<"exscan">,
  ): Promise<void | ErrorOutcome<H>> {
    try {
      const what = "MPI_Exscan";
      await this.#coll(what, async (env) => {
        const { acc, red } = this.#prefixArgs(what, sendbuf, recvbuf, op);
        const mine = isInPlace(sendbuf) ? acc : this.#region(sendbuf, what).region;
        if (this.size === 1 || acc.bytes === 0) return;
        this.#pick("exscan", opts, { bytes: acc.bytes, count: red.count });
        await exscanRecursiveDoubling(env, mine, acc, red);
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** The checked buffers of a scan: the result region (the send buffer's size) and the reduction. */
  #prefixArgs(
    what: string,
    sendbuf: Buf | InPlace,
    recvbuf: Buf,
    op: ReductionOp,
  ): { acc: Region; red: { count: number; es: number; dt: Datatype; op: ReductionOp } } {
    const out = this.#region(recvbuf, what);
    const src = isInPlace(sendbuf) ? out : this.#region(sendbuf, what);
    this.#sameType(what, src.datatype, out.datatype);
    if (!isInPlace(sendbuf)) this.#notAliased(what, src.region, out.region);
    const dt = this.#reduceType(what, src, out);
    const es = typeSize(dt), bytes = src.region.bytes, count = bytes / es;
    checkOp(op, dt, count, what);
    this.#fits(what, "receive buffer", out.region, bytes);
    return { acc: out.region.sub(0, bytes), red: { count, es, dt, op } };
  }

  /**
   * MPI_IN_PLACE in alltoall and alltoallv (MPI-3.1 §5.8: "The data to be
   * sent is taken from the recvbuf and replaced by the received data"; in
   * alltoallv "sendcounts, sdispls and sendtype are ignored" and the amount
   * sent to process j is recvcounts[j]): what goes out is a copy of the
   * receive buffer, in scratch memory, taken before anything arrives.
   */
  #sendCopy(env: CollEnv, o: { region: Region; datatype: Datatype }): {
    region: Region;
    datatype: Datatype;
  } {
    const copy = env.scratch(o.region.bytes);
    env.copy(copy, o.region);
    return { region: copy, datatype: o.datatype };
  }

  #vector(
    what: string,
    role: string,
    counts: readonly number[],
    displs: readonly number[],
    cap: number,
  ): void {
    if (counts.length !== this.size || displs.length !== this.size) {
      throw new MpiError(
        "MPI_ERR_COUNT",
        `${what} on rank ${this.rank}: ${role} counts and displacements need ${this.size} entries each`,
      );
    }
    for (let i = 0; i < this.size; i++) {
      const c = counts[i], d = displs[i];
      if (!Number.isInteger(c) || c < 0) {
        throw new MpiError(
          "MPI_ERR_COUNT",
          `${what} on rank ${this.rank}: ${role} count[${i}] = ${c} is not >= 0`,
        );
      }
      if (!Number.isInteger(d) || d < 0 || d + c > cap) {
        throw new MpiError(
          "MPI_ERR_COUNT",
          `${what} on rank ${this.rank}: ${role} block ${i} (${c} at ${d}) exceeds the buffer's ${cap} elements`,
        );
      }
    }
  }

  /** The collectives and their algorithm names. */
  static get collectives(): typeof ALGORITHMS {
    return ALGORITHMS;
  }
}

/** Largest C int: the range of MPI's int arguments (split's color and key). */
const INT_MAX = 0x7fff_ffff;

/** Requests a completion call has returned: MPI_REQUEST_NULL from then on (MPI-3.1 §3.7.3). */
const returned = new WeakSet<Request>();

/** Errors a user error handler has been given already (a call returning another's error). */
const handled = new WeakSet<MpiError>();

/**
 * The result of a call made inside another: an error it returned (its
 * handler has seen it) is thrown on, for the outer call to raise.
 */
function thrown<T>(r: T): Exclude<T, MpiError> {
  if (r instanceof MpiError) throw r;
  return r as Exclude<T, MpiError>;
}

/** MPI_REQUEST_NULL: returned by a completion call, or freed. */
function isNull(r: Request): boolean {
  return r instanceof PersistentRequest ? r.freed : returned.has(r);
}

/**
 * Active (MPI-3.1 §3.7.5, §3.9): neither null nor an inactive persistent
 * request; completion calls treat the others as MPI_REQUEST_NULL.
 */
function isActive(r: Request): boolean {
  return r instanceof PersistentRequest ? !r.freed && r.active : !returned.has(r);
}

/** MPI_ERR_IN_STATUS for a multiple completion call: `statuses` carry the errors. */
function inStatus(what: string, rank: number, statuses: Status[], failed: MpiError[]): MpiError {
  return new InStatusError(
    `${what} on rank ${rank}: ${failed.length} of ${statuses.length} requests failed (see statuses); the first: ${
      failed[0].message
    }`,
    statuses,
  );
}

function isErrhandler(h: unknown): h is Errhandler {
  return h === ERRORS_ARE_FATAL || h === ERRORS_RETURN || typeof h === "function";
}

function noProc(): Matched {
  return { message: MESSAGE_NO_PROC, status: { ...MESSAGE_NO_PROC.status } };
}

/**
 * The empty status (MPI-3.1 §3.7.3): "source = MPI_ANY_SOURCE, tag =
 * MPI_ANY_TAG, ... MPI_GET_COUNT ... return count = 0".
 */
function nullStatus(): Status {
  return emptyStatus(ANY_SOURCE);
}

function done(req: Request, status: Status): Request {
  req.complete(status);
  return req;
}

/**
 * One-sided communication (MPI-3.1 chapter 11) over RDMA, as MVAPICH2
 * builds it on InfiniBand:
 *
 * - **Windows** (§11.2): `Win.create` exposes a rank's `MpiBuffer`,
 *   `Win.allocate` allocates one; both are collective. Each rank registers
 *   its window memory once, exactly its bytes (one memory region per
 *   window, never the pin-down cache), and the ranks exchange address,
 *   rkey, size and displacement unit with an allgather, as MVAPICH2 does at
 *   `MPI_Win_create` (`mv2_rma_win_create`). The window runs on a duplicate
 *   of the communicator (MPICH's `MPIR_Comm_dup_impl` in win_create), so
 *   its fences never meet the program's collectives.
 * - **Data movement by the HCA** (§11.3): `put` is an RDMA WRITE and `get`
 *   an RDMA READ between the origin buffer (registered through the pin-down
 *   cache, or a registered bounce buffer for a JS array) and the target's
 *   window, with the target's rkey: the target's CPU takes no part, and in a
 *   Xen-IB guest neither does the hypervisor or dom0 (VMM-bypass).
 * - **Accumulate** (§11.3.4) needs the target's CPU: an RDMA WRITE cannot
 *   combine, and the HCA's 8-byte atomics neither cover every operation and
 *   type nor are atomic with the CPU's updates. As MVAPICH2 does, the
 *   origin sends the data in packets and the target's progress engine
 *   applies the operation and acknowledges; `getAccumulate`,
 *   `fetchAndOp` and `compareAndSwap` answer with the old bytes. Element-wise
 *   atomicity with one another follows: one packet is applied in one go.
 * - **Synchronization** (§11.5): `fence` (active target) completes the
 *   origin's operations (RDMA completions, accumulate acknowledgements) and
 *   then barriers, so every target's memory holds them when it returns;
 *   `post`/`start`/`complete`/`wait` do the same between groups with
 *   POST and COMPLETE packets; `lock`/`unlock` (passive target, shared or
 *   exclusive) ask the target's lock manager with a packet and wait for its
 *   grant, `flush` completes a target's operations inside the epoch, and
 *   `lockAll`/`unlockAll` lock every rank shared. `test` is the
 *   non-blocking `wait`; `sync` is a memory barrier (one window copy: the
 *   unified model), valid inside a passive-target epoch.
 * - **Request-based operations** (MPI-4.0 §12.3.5): `rput`, `rget`,
 *   `raccumulate` and `rgetAccumulate` take the paths of their blocking
 *   twins and return a `Request` that completes at local completion (the
 *   RDMA completion, the accumulate's departure, every fetch's answer), for
 *   the communicator's `wait`, `test`, `waitall`, … Only in passive-target
 *   epochs.
 * - **Progress**: what needs the target's CPU — accumulates, lock grants,
 *   post and complete notices — is handled only when the target is inside
 *   an MPI call, as in MVAPICH2 without its asynchronous progress thread: a
 *   target that computes delays them. Puts and gets never wait for it.
 * - **Errors** go to the window's error handler (MPI 4.0 §9.3;
 *   ERRORS_ARE_FATAL, which throws, until `setErrhandler`): a freed
 *   window (MPI_ERR_WIN), an operation outside an epoch or an unlock
 *   without a lock (MPI_ERR_RMA_SYNC), a target range beyond the window
 *   (MPI_ERR_RMA_RANGE, checked at the origin, again at the target for what
 *   its CPU applies, and by the HCA's memory-region bounds for what it
 *   moves), ranks, displacements, lock types, asserts, operations, counts
 *   and types.
 *
 * @module
 */
import { Access, type Mr } from "../drivers/verbs/mod.ts";
import { type Buf, DomRegion, MpiBuffer, type Region, toRegion } from "./buffer.ts";
import type { InPacket, PacketHandler } from "./channel.ts";
import type { Comm, Errhandler, ErrorOutcome } from "./comm.ts";
import { ERRORS_ARE_FATAL, type ERRORS_RETURN, PROC_NULL } from "./constants.ts";
import { type Datatype, DATATYPES, isIntegerType, typeSize } from "./datatype.ts";
import { callErrhandler, checkErrhandler, raise, thrown } from "./errhandler.ts";
import { MpiError } from "./errors.ts";
import { Group } from "./group.ts";
import { checkOp, type Op, OPS, reduceInto, type ReductionOp } from "./ops.ts";
import type { MpiProcess } from "./process.ts";
import { emptyStatus, Request } from "./request.ts";
import { HEADER_BYTES, PacketType } from "./wire.ts";

/**
 * `MPI_LOCK_EXCLUSIVE` (MPI-3.1 §11.5.3): no other origin holds the lock.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LOCK_EXCLUSIVE } from "./rma.ts";
 * assert.equal(LOCK_EXCLUSIVE, "LOCK_EXCLUSIVE");
 * ```
 */
export const LOCK_EXCLUSIVE = "LOCK_EXCLUSIVE" as const;

/**
 * `MPI_LOCK_SHARED`: other origins may hold it shared at the same time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LOCK_SHARED } from "./rma.ts";
 * assert.equal(LOCK_SHARED, "LOCK_SHARED");
 * ```
 */
export const LOCK_SHARED = "LOCK_SHARED" as const;

/**
 * A lock type for `lock`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { LockType } from "./rma.ts";
 * const t: LockType = "LOCK_SHARED";
 * assert.equal(t, "LOCK_SHARED");
 * ```
 */
export type LockType = typeof LOCK_EXCLUSIVE | typeof LOCK_SHARED;

/**
 * The assert bits of the synchronization calls (MPI-3.1 §11.5.5), MPICH's
 * values. `MODE_NOSUCCEED` on a fence ends the active-target epoch (no RMA
 * may follow until the next fence); the others are hints this library may
 * ignore, as the standard allows. Each call takes only its own bits
 * (§11.5.5): fence NOSTORE, NOPUT, NOPRECEDE, NOSUCCEED; post NOCHECK,
 * NOSTORE, NOPUT; start, lock and lockAll NOCHECK; any other is
 * `MPI_ERR_ASSERT`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MODE } from "./rma.ts";
 * assert.equal(MODE.NOPRECEDE | MODE.NOSUCCEED, 24576);
 * ```
 */
export const MODE = Object.freeze({
  NOCHECK: 1024,
  NOSTORE: 2048,
  NOPUT: 4096,
  NOPRECEDE: 8192,
  NOSUCCEED: 16384,
});

/**
 * The assert bits each synchronization call takes: MPI-4.0 §12.5.5 lists
 * them per call (fence: NOSTORE, NOPUT, NOPRECEDE, NOSUCCEED; post:
 * NOCHECK, NOSTORE, NOPUT; start, lock and lock_all: NOCHECK), and MPICH
 * refuses any other bit (src/binding/c/rma_api.txt, the CHECKMASK lines of
 * MPI_Win_fence, MPI_Win_start, MPI_Win_lock and MPI_Win_lock_all).
 */
const ASSERT_BITS: Readonly<Record<string, readonly (keyof typeof MODE)[]>> = {
  MPI_Win_fence: ["NOSTORE", "NOPUT", "NOPRECEDE", "NOSUCCEED"],
  MPI_Win_post: ["NOCHECK", "NOSTORE", "NOPUT"],
  MPI_Win_start: ["NOCHECK"],
  MPI_Win_lock: ["NOCHECK"],
  MPI_Win_lock_all: ["NOCHECK"],
};

/**
 * What an accumulate combines with: a predefined operation, `REPLACE`
 * (`MPI_REPLACE`: the origin's data replaces the target's), and for the
 * fetching calls `NO_OP` (`MPI_NO_OP`: the target is only read).
 * User-defined operations are not allowed (MPI-3.1 §11.3.4).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AccOp } from "./rma.ts";
 * const ops: AccOp[] = ["SUM", "REPLACE", "NO_OP"];
 * assert.equal(ops.length, 3);
 * ```
 */
export type AccOp = Op | "REPLACE" | "NO_OP";

const ACC_OPS: readonly AccOp[] = [...OPS, "REPLACE", "NO_OP"];

/** What each rank of a window knows of every other's window. */
interface Remote {
  addr: number;
  rkey: number;
  bytes: number;
  dispUnit: number;
}

/**
 * A window's error handler function (`MPI_Win_create_errhandler`'s
 * MPI_Win_errhandler_function, MPI 4.0 §9.3.2): called with the window and
 * the error; the call that failed then returns the error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WinErrhandlerFunction } from "./rma.ts";
 * const seen: string[] = [];
 * const log: WinErrhandlerFunction = (win, e) => void seen.push(`${win.rank}: ${e.code}`);
 * assert.equal(typeof log, "function");
 * ```
 */
export type WinErrhandlerFunction = (win: Win<Datatype, WinErrhandler>, error: MpiError) => void;

/**
 * A window's error handler (MPI 4.0 §9.3): `ERRORS_ARE_FATAL` (every
 * window's at creation), `ERRORS_RETURN`, or a function.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ERRORS_RETURN } from "./constants.ts";
 * import type { WinErrhandler } from "./rma.ts";
 * const h: WinErrhandler = ERRORS_RETURN;
 * assert.equal(h, "ERRORS_RETURN");
 * ```
 */
export type WinErrhandler = typeof ERRORS_ARE_FATAL | typeof ERRORS_RETURN | WinErrhandlerFunction;

/**
 * What a window call may return besides its result under handler `H`:
 * nothing more under ERRORS_ARE_FATAL (the error is thrown), the
 * `MpiError` otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MpiError } from "./errors.ts";
 * import type { WinErrorOutcome } from "./rma.ts";
 * const e: WinErrorOutcome<"ERRORS_RETURN"> = new MpiError("MPI_ERR_WIN", "freed");
 * assert.equal(e.code, "MPI_ERR_WIN");
 * ```
 */
export type WinErrorOutcome<H extends WinErrhandler> = H extends typeof ERRORS_ARE_FATAL ? never
  : MpiError;

/** The windows of each process, by context id, and the packet handler routing to them. */
const engines = new WeakMap<MpiProcess, Map<number, Win>>();

function windowsOf(proc: MpiProcess): Map<number, Win> {
  let wins = engines.get(proc);
  if (!wins) {
    const map = new Map<number, Win>();
    wins = map;
    engines.set(proc, map);
    const handler: PacketHandler = {
      onPacket(peer: number, p: InPacket): void {
        const w = map.get(p.header.context);
        if (!w) {
          throw new MpiError(
            "MPI_ERR_INTERN",
            `rank ${proc.rank}: one-sided packet ${p.header.type} from rank ${peer} for no window (context ${p.header.context})`,
          );
        }
        w.onPacket(p);
      },
    };
    proc.p2p.rma = handler;
  }
  return wins;
}

/**
 * Window creation's errors go to the communicator's handler (MPICH's
 * win_create.c: MPIR_Err_return_comm on the communicator it was given).
 */
/** The checks of a call on `comm` (the job's state, then the communicator's), named `what`. */
function liveComm(comm: Comm<Errhandler>, what: string): void {
  comm.proc.check(what);
  if (comm.freed) {
    throw new MpiError("MPI_ERR_COMM", `${what} on rank ${comm.rank}: ${comm.name} was freed`);
  }
}

function raiseOn<H extends Errhandler>(comm: Comm<H>, e: unknown): ErrorOutcome<H> {
  return raise(
    comm.getErrhandler(),
    comm as Comm<Errhandler>,
    e,
    comm.proc.ch.failure,
  ) as ErrorOutcome<
    H
  >;
}

/** Add `delta` to `m`'s count for `key`. */
function count(m: Map<number, number>, key: number, delta: number): void {
  m.set(key, (m.get(key) ?? 0) + delta);
}

const WINDOW_ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;

/**
 * The local completion of one request-based operation (MPI-4.0 §12.3.5):
 * the parts still outstanding (an RDMA completion, a fetch response per
 * packet) plus the issuing call's own hold. The request completes when the
 * last is released — with the first error a part failed with — and its
 * status is the empty status with the target as source (PROC_NULL for a
 * PROC_NULL target, as §3.11 gives requests on PROC_NULL).
 */
class LocalCompletion {
  #left = 1;
  #error: MpiError | undefined;

  constructor(readonly req: Request, readonly target: number) {}

  /** One more part to wait for. */
  hold(): void {
    this.#left++;
  }

  /** A part (or the issuing call) is done; `error` if it failed. */
  release(error?: MpiError): void {
    this.#error ??= error;
    if (--this.#left > 0) return;
    const status = emptyStatus(this.target);
    if (this.#error) this.req.fail(this.#error, status);
    else this.req.complete(status);
  }
}

/**
 * An RMA window (`MPI_Win`): a piece of every member's memory the others
 * may put into, get from and accumulate into.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * import { Win } from "./rma.ts";
 * const job = await mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
 *   const win = await Win.allocate(comm, 4, "int32");
 *   await win.fence();
 *   // Each rank writes its rank into slot 1 of the other's window.
 *   await win.put(new Int32Array([comm.rank + 10]), 1 - comm.rank, 1);
 *   await win.fence();
 *   const mine = [...win.memory.get()];
 *   await win.free();
 *   return mine;
 * });
 * assert.deepEqual(job.results, [[0, 11, 0, 0], [0, 10, 0, 0]]);
 * ```
 */
export class Win<T extends Datatype = Datatype, H extends WinErrhandler = typeof ERRORS_ARE_FATAL> {
  /** The window's rank (its communicator's). */
  readonly rank: number;
  /** Ranks in the window. */
  readonly size: number;
  /** MPI 4.0 §9.3: a window's handler is ERRORS_ARE_FATAL until set, whatever its communicator's. */
  #errhandler: WinErrhandler = ERRORS_ARE_FATAL;
  #comm: Comm<typeof ERRORS_ARE_FATAL>;
  #proc: MpiProcess;
  #ctx: number;
  #mr: Mr | undefined;
  #remote: Remote[] = [];
  #freed = false;
  // ------------------------------------------------------------ epochs (as origin)
  /** A fence opened an active-target epoch (not closed by MODE_NOSUCCEED). */
  #fenceOpen = false;
  /** Operations issued since the last fence. */
  #fenceOps = 0;
  /** Targets this rank holds a lock of. */
  #locks = new Map<number, LockType>();
  #lockAll = false;
  /** Grants received and not yet taken by `lock`. */
  #granted = new Set<number>();
  /** Targets of the access epoch `start` opened. */
  #startGroup: number[] | undefined;
  /** Origins of the exposure epoch `post` opened. */
  #postGroup: number[] | undefined;
  /** POST notices received, by rank, not yet consumed by `start`. */
  #posts = new Map<number, number>();
  /** COMPLETE notices received, by rank, not yet consumed by `wait`. */
  #completes = new Map<number, number>();
  // ------------------------------------------------------------ completion
  /** Operations to each target not complete there yet. */
  #pending: number[];
  /** Operations to each target whose origin buffer is still in use. */
  #pendingLocal: number[];
  /** A failed operation, thrown by the next synchronization. */
  #error: MpiError | undefined;
  #fetches = new Map<
    number,
    { target: number; region: Region; off: number; request?: LocalCompletion }
  >();
  #nextFetch = 1;
  // ------------------------------------------------------------ the lock of this rank's window
  #exclusive: number | undefined;
  #shared = 0;
  #lockQueue: { rank: number; shared: boolean }[] = [];

  private constructor(
    comm: Comm<typeof ERRORS_ARE_FATAL>,
    /** This rank's window memory (the buffer given to `create`, or the one `allocate` made). */
    readonly memory: MpiBuffer<T>,
    /** Displacement unit in bytes: a target displacement counts these. */
    readonly dispUnit: number,
    /** `MPI_WIN_FLAVOR_CREATE` or `MPI_WIN_FLAVOR_ALLOCATE`. */
    readonly flavor: "create" | "allocate",
  ) {
    this.#comm = comm;
    this.#proc = comm.proc;
    this.#ctx = comm.contextId;
    this.rank = comm.rank;
    this.size = comm.size;
    this.#pending = new Array(comm.size).fill(0);
    this.#pendingLocal = new Array(comm.size).fill(0);
  }

  /**
   * `MPI_Win_create` (MPI-3.1 §11.2.1), collective over `comm`: expose
   * `memory` (an `MpiBuffer` of this rank; a JS array is outside the
   * simulated machine, where no HCA can reach it). `dispUnit` defaults to
   * the buffer's element size. Its errors go to `comm`'s handler (MPICH's
   * win_create.c), not to a window's.
   */
  static async create<T extends Datatype, H extends Errhandler = typeof ERRORS_ARE_FATAL>(
    comm: Comm<H>,
    memory: MpiBuffer<T>,
    opts: { dispUnit?: number } = {},
  ): Promise<Win<T> | ErrorOutcome<H>> {
    const what = "MPI_Win_create";
    try {
      liveComm(comm, what);
      if (!(memory instanceof MpiBuffer)) {
        throw new MpiError(
          "MPI_ERR_BUFFER",
          `${what} on rank ${comm.rank}: window memory must be an MpiBuffer from comm.alloc (a JS array is outside the simulated machine; no HCA can reach it)`,
        );
      }
      toRegion(memory, comm.proc.rank, what); // freed, another rank's
      return await Win.#make(comm, memory, opts.dispUnit ?? typeSize(memory.datatype), "create");
    } catch (e) {
      return raiseOn(comm, e);
    }
  }

  /**
   * `MPI_Win_allocate` (MPI-3.1 §11.2.2), collective: allocate `length`
   * elements of `datatype` in this rank's memory and expose them; `free`
   * releases them. Its errors, as `create`'s, go to `comm`'s handler.
   */
  static async allocate<
    T extends Datatype = "uint8",
    H extends Errhandler = typeof ERRORS_ARE_FATAL,
  >(
    comm: Comm<H>,
    length: number,
    datatype?: T,
    opts: { dispUnit?: number } = {},
  ): Promise<Win<T> | ErrorOutcome<H>> {
    const what = "MPI_Win_allocate";
    try {
      liveComm(comm, what);
      const dt = (datatype ?? "uint8") as T;
      if (!DATATYPES.includes(dt)) {
        throw new MpiError(
          "MPI_ERR_TYPE",
          `${what} on rank ${comm.rank}: unknown datatype '${String(dt)}' (known: ${
            DATATYPES.join(", ")
          })`,
        );
      }
      if (!Number.isInteger(length) || length < 0) {
        throw new MpiError(
          "MPI_ERR_SIZE",
          `${what} on rank ${comm.rank}: size ${length} must be a non-negative integer`,
        );
      }
      const memory = MpiBuffer.allocate(comm.proc.dom.memory, comm.proc.rank, length, dt);
      try {
        return await Win.#make(comm, memory, opts.dispUnit ?? typeSize(dt), "allocate");
      } catch (e) {
        comm.proc.dom.memory.free(memory.addr);
        memory.allocation.freed = true;
        throw e;
      }
    } catch (e) {
      return raiseOn(comm, e);
    }
  }

  static async #make<T extends Datatype, H extends Errhandler>(
    comm: Comm<H>,
    memory: MpiBuffer<T>,
    dispUnit: number,
    flavor: "create" | "allocate",
  ): Promise<Win<T>> {
    const what = flavor === "create" ? "MPI_Win_create" : "MPI_Win_allocate";
    if (!Number.isInteger(dispUnit) || dispUnit < 1) {
      throw new MpiError(
        "MPI_ERR_DISP",
        `${what} on rank ${comm.rank}: disp_unit ${dispUnit} must be a positive integer`,
      );
    }
    // The window's own communicator: its fences and exchanges never match the program's.
    const dup = thrown(await comm.dup()).setErrhandler(ERRORS_ARE_FATAL);
    const win = new Win(dup, memory, dispUnit, flavor);
    const proc = comm.proc;
    // Registered once for the window's life, exactly its bytes: the HCA's
    // R_Key check (IBTA vol. 1 §9.7.5.2 and §10.6.3: the request must lie
    // within the region; hca/responder.ts CHK_RKEY) then refuses any RDMA
    // beyond the window, whatever an origin asks.
    if (memory.byteLength > 0) {
      win.#mr = await proc.ch.pd.regMr(memory.addr, memory.byteLength, WINDOW_ACCESS);
    }
    windowsOf(proc).set(win.#ctx, win);
    const mine = new Float64Array([memory.addr, win.#mr?.rkey ?? 0, memory.byteLength, dispUnit]);
    const all = new Float64Array(4 * dup.size);
    await dup.allgather(mine, all);
    for (let r = 0; r < dup.size; r++) {
      win.#remote.push({
        addr: all[4 * r],
        rkey: all[4 * r + 1],
        bytes: all[4 * r + 2],
        dispUnit: all[4 * r + 3],
      });
    }
    // The memory cannot be freed while the window exposes it.
    memory.allocation.pins++;
    return win;
  }

  // ---------------------------------------------------------------- error handling

  /**
   * MPI 4.0 §9.3: an error a call on the window detects goes to the
   * window's error handler (errhandler.ts's rules: ERRORS_ARE_FATAL throws,
   * a function is called once, then the call returns the error; the job's
   * end and errors that are not MPI errors always throw).
   */
  #raise(e: unknown): WinErrorOutcome<H> {
    return raise(
      this.#errhandler,
      this as Win<Datatype, WinErrhandler>,
      e,
      this.#proc.ch.failure,
    ) as WinErrorOutcome<H>;
  }

  /**
   * `MPI_Win_set_errhandler` (MPI 4.0 §9.3.2): what calls on this window do
   * with the errors they detect, from now on. Returns the window itself,
   * typed for the handler: under anything but ERRORS_ARE_FATAL each call's
   * result may be an {@link MpiError}. A handler that is not one is
   * `MPI_ERR_ARG`, a freed window `MPI_ERR_WIN` (thrown).
   */
  setErrhandler<E extends WinErrhandler>(handler: E): Win<T, E> {
    const what = "MPI_Win_set_errhandler";
    this.#check(what);
    checkErrhandler(what, this.rank, handler);
    this.#errhandler = handler;
    return this as unknown as Win<T, E>;
  }

  /** `MPI_Win_get_errhandler`: the window's error handler. */
  getErrhandler(): WinErrhandler {
    return this.#errhandler;
  }

  /**
   * `MPI_Win_call_errhandler` (MPI 4.0 §9.5): give `error` to the window's
   * handler. ERRORS_ARE_FATAL throws it (the job ends); a function is
   * called with the window and the error; then, as under ERRORS_RETURN,
   * the call returns nothing (MPI_SUCCESS: MPICH's win_call_errhandler.c,
   * "MPI_ERRORS_RETURN should always return MPI_SUCCESS").
   */
  callErrhandler(error: MpiError): void {
    const what = "MPI_Win_call_errhandler";
    this.#check(what);
    callErrhandler(what, this.rank, this.#errhandler, this as Win<Datatype, WinErrhandler>, error);
  }

  // ---------------------------------------------------------------- checks

  #check(what: string): void {
    this.#proc.check(what);
    if (this.#freed) {
      throw new MpiError("MPI_ERR_WIN", `${what} on rank ${this.rank}: the window was freed`);
    }
  }

  #checkRank(what: string, target: number): void {
    if (target === PROC_NULL) return;
    if (!Number.isInteger(target) || target < 0 || target >= this.size) {
      throw new MpiError(
        "MPI_ERR_RANK",
        `${what} on rank ${this.rank}: target ${target} outside 0..${this.size - 1} of the window`,
      );
    }
  }

  /**
   * `assert` may combine only the bits `what` takes ({@link ASSERT_BITS}).
   * The class is the standard's own for it, MPI_ERR_ASSERT (MPI-4.0 §12.6.2),
   * as Open MPI's win_lock.c and win_fence.c raise; MPICH's generated
   * CHECKMASK says MPI_ERR_ARG (maint/local_python/binding_c.py).
   */
  #checkAssert(what: string, assert: number): void {
    const names = ASSERT_BITS[what];
    const mask = names.reduce((m, n) => m | MODE[n], 0);
    if (!Number.isInteger(assert) || assert < 0 || (assert & ~mask) !== 0) {
      throw new MpiError(
        "MPI_ERR_ASSERT",
        `${what} on rank ${this.rank}: assert ${assert} is not a combination of ${
          names.map((n) => `MODE.${n}`).join(", ")
        } (MPI-4.0 §12.5.5)`,
      );
    }
  }

  /**
   * MPI-3.1 §11.5: an RMA call needs an access epoch to its target. A
   * request-based one (`passive`) needs a passive-target epoch to it: MPI-4.0
   * §12.3.5, "request-based RMA operations are only valid within a passive
   * target epoch" (MPICH's ch3u_rma_reqops.c: MPI_ERR_RMA_SYNC otherwise; a
   * fence or start epoch is not one).
   */
  #checkEpoch(what: string, target: number, passive = false): void {
    if (passive) {
      if (this.#lockAll || this.#locks.has(target)) return;
      throw new MpiError(
        "MPI_ERR_RMA_SYNC",
        `${what} on rank ${this.rank}: no passive-target epoch to rank ${target} is open (request-based operations need lock or lockAll; MPI-4.0 §12.3.5)`,
      );
    }
    if (
      this.#fenceOpen || this.#lockAll || this.#locks.has(target) ||
      (this.#startGroup?.includes(target) ?? false)
    ) return;
    throw new MpiError(
      "MPI_ERR_RMA_SYNC",
      `${what} on rank ${this.rank}: no access epoch to rank ${target} is open (fence, lock, lockAll or start first; MPI-3.1 §11.5)`,
    );
  }

  /**
   * A data call's target checks, in MPICH's order: the displacement (the
   * call's argument check, MPIR_ERRTEST_DISP: MPI_ERR_DISP, made by `#begin`
   * before a PROC_NULL target returns), then the epoch
   * (`#checkEpoch`; MPIDIG_RMA_OP_CHECK_SYNC, the first thing MPIDIG_mpi_put
   * and its kin do), then MPI-3.1 §11.3 ("the target buffer … must fit in
   * the target window"). Returns the byte offset of `disp` units at
   * `target`. An operation of no bytes touches no memory: MPICH completes
   * it at once after the epoch check (`origin_data_sz == 0`), so its
   * displacement is not held against the window.
   */
  #targetRange(
    what: string,
    target: number,
    disp: number,
    bytes: number,
    passive = false,
  ): number {
    this.#checkEpoch(what, target, passive);
    const r = this.#remote[target];
    const off = disp * r.dispUnit;
    if (bytes > 0 && off + bytes > r.bytes) {
      throw new MpiError(
        "MPI_ERR_RMA_RANGE",
        `${what} on rank ${this.rank}: ${bytes} bytes at displacement ${disp} (byte ${off}) go beyond rank ${target}'s ${r.bytes}-byte window`,
      );
    }
    return off;
  }

  /**
   * Checks common to every data call, its arguments' own; returns the origin
   * region and its datatype. The displacement is one of them: MPICH's
   * MPI_Put and its kin validate it (MPIR_ERRTEST_DISP) before they return
   * early for a PROC_NULL target (the generated binding's
   * pt2pt_proc_null early return follows the argument checks).
   */
  #begin(
    what: string,
    origin: Buf,
    target: number,
    disp: number,
  ): { region: Region; datatype: Datatype } {
    this.#check(what);
    const o = toRegion(origin, this.#proc.rank, what);
    this.#checkRank(what, target);
    if (!Number.isInteger(disp) || disp < 0) {
      throw new MpiError(
        "MPI_ERR_DISP",
        `${what} on rank ${this.rank}: target displacement ${disp} must be a non-negative integer`,
      );
    }
    return { region: o.region, datatype: o.datatype };
  }

  /** An operation is issued: what every call does after its checks pass. */
  async #issue(): Promise<void> {
    const ch = this.#proc.ch;
    // An MPI call first catches up with its CPU time, then looks at arrivals.
    await ch.cpu.settle();
    ch.progress();
    ch.cpu.charge(this.#proc.params.sendOverheadNs);
    this.#fenceOps++;
  }

  // ---------------------------------------------------------------- put and get

  /**
   * `MPI_Put` (MPI-3.1 §11.3.1): write `origin` into `target`'s window
   * from displacement `targetDisp` (in the target's displacement units).
   * An RDMA WRITE posted at once; it completes at the next `fence`,
   * `flush`, `unlock` or `complete`, and `origin` must not change before.
   */
  async put(origin: Buf, target: number, targetDisp = 0): Promise<void | WinErrorOutcome<H>> {
    try {
      await this.#move("MPI_Put", origin, target, targetDisp, false);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Get` (MPI-3.1 §11.3.2): read `origin.byteLength` bytes of
   * `target`'s window from `targetDisp` into `origin`, by RDMA READ. The
   * data is there after the next synchronization.
   */
  async get(origin: Buf, target: number, targetDisp = 0): Promise<void | WinErrorOutcome<H>> {
    try {
      await this.#move("MPI_Get", origin, target, targetDisp, true);
    } catch (e) {
      return this.#raise(e);
    }
  }

  // ---------------------------------------------------------------- request-based operations

  /**
   * A request-based operation (MPI-4.0 §12.3.5): `issue` runs the blocking
   * call's own path with a {@link LocalCompletion}, which completes the
   * request once the operation is locally complete; the request goes to the
   * ordinary completion calls (`comm.wait`, `test`, `waitall`, …).
   */
  async #request(
    what: string,
    target: number,
    issue: (request: LocalCompletion) => Promise<void>,
  ): Promise<Request | WinErrorOutcome<H>> {
    try {
      const request = new LocalCompletion(new Request("rma", this.#proc.rank, what), target);
      await issue(request);
      request.release(); // the call's own hold: done now, unless a part is outstanding
      return request.req;
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Rput` (MPI-4.0 §12.3.5): `put`, returning a request. Only inside a
   * passive-target epoch to `target` (`lock` or `lockAll`), else
   * `MPI_ERR_RMA_SYNC`. The request completes when `origin` may be reused
   * (the RDMA WRITE has completed); the data is at the target only after a
   * `flush`, `unlock` or `unlockAll`. To PROC_NULL it is complete at once.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { LOCK_SHARED, Win } from "./rma.ts";
   * import { mpiexec } from "./launch.ts";
   * const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
   *   const win = await Win.allocate(comm, 2, "int32");
   *   if (comm.rank === 0) {
   *     await win.lock(LOCK_SHARED, 1);
   *     const req = await win.rput(new Int32Array([7, 8]), 1, 0);
   *     await comm.wait(req); // the origin buffer may be reused now
   *     await win.unlock(1); // and the data is in rank 1's window
   *   }
   *   await comm.barrier();
   *   const mine = [...win.memory.get()];
   *   await win.free();
   *   return mine;
   * });
   * assert.deepEqual(job.results[1], [7, 8]);
   * ```
   */
  async rput(
    origin: Buf,
    target: number,
    targetDisp = 0,
  ): Promise<Request | WinErrorOutcome<H>> {
    const what = "MPI_Rput";
    return await this.#request(
      what,
      target,
      (r) => this.#move(what, origin, target, targetDisp, false, r),
    );
  }

  /**
   * `MPI_Rget` (MPI-4.0 §12.3.5): `get`, returning a request that completes
   * when the data is in `origin` (no flush needed for that). Only inside a
   * passive-target epoch to `target`, else `MPI_ERR_RMA_SYNC`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { LOCK_SHARED, Win } from "./rma.ts";
   * import { mpiexec } from "./launch.ts";
   * const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
   *   const win = await Win.allocate(comm, 1, "float64");
   *   win.memory.set([comm.rank + 0.5]);
   *   await comm.barrier();
   *   const got = new Float64Array(1);
   *   await win.lock(LOCK_SHARED, 1 - comm.rank);
   *   await comm.wait(await win.rget(got, 1 - comm.rank, 0));
   *   await win.unlock(1 - comm.rank);
   *   await comm.barrier();
   *   await win.free();
   *   return got[0];
   * });
   * assert.deepEqual(job.results, [1.5, 0.5]);
   * ```
   */
  async rget(
    origin: Buf,
    target: number,
    targetDisp = 0,
  ): Promise<Request | WinErrorOutcome<H>> {
    const what = "MPI_Rget";
    return await this.#request(
      what,
      target,
      (r) => this.#move(what, origin, target, targetDisp, true, r),
    );
  }

  /**
   * A put (`read` false) or get, of `put`/`get` or, with `request` (the
   * request's completion), of `rput`/`rget`: one path for both.
   */
  async #move(
    what: string,
    origin: Buf,
    target: number,
    disp: number,
    read: boolean,
    request?: LocalCompletion,
  ): Promise<void> {
    const { region } = this.#begin(what, origin, target, disp);
    if (target === PROC_NULL) return;
    const off = this.#targetRange(what, target, disp, region.bytes, request !== undefined);
    await this.#issue();
    const bytes = region.bytes;
    if (bytes === 0) return;
    const proc = this.#proc;
    if (target === this.rank) {
      const mem = new DomRegion(this.memory.memory, this.memory.addr, this.memory.byteLength);
      if (read) region.write(0, mem.read(off, bytes));
      else mem.write(off, region.copy(0, bytes));
      proc.chargeCpu(bytes * proc.params.copyNsPerByte);
      return;
    }
    const buffer = await this.#localBuffer(region, !read);
    const r = this.#remote[target];
    this.#pending[target]++;
    this.#pendingLocal[target]++;
    // MPI-4.0 §12.3.5: an rput's request completes when its origin buffer may
    // be reused, an rget's when the data is in it: both at the RDMA completion
    // (the bounce buffer copied out first), which is what flushLocal waits for.
    request?.hold();
    proc.ch.rdma(this.#comm.group[target], {
      read,
      laddr: buffer.addr,
      len: bytes,
      lkey: buffer.lkey,
      raddr: r.addr + off,
      rkey: r.rkey,
      done: () => {
        buffer.finish();
        this.#pending[target]--;
        this.#pendingLocal[target]--;
        request?.release();
      },
    });
  }

  /**
   * The origin buffer as the HCA reaches it: domain memory registered
   * through the pin-down cache (zero-copy), or a JS array through a
   * registered bounce buffer (copied in for a put, out when a get lands).
   */
  async #localBuffer(
    region: Region,
    copyIn: boolean,
  ): Promise<{ addr: number; lkey: number; finish(): void }> {
    const proc = this.#proc;
    const bytes = region.bytes;
    if (region instanceof DomRegion) {
      const reg = await proc.cache.acquire(region.addr, bytes);
      const a = region.allocation;
      if (a) a.pins++;
      return {
        addr: region.addr,
        lkey: reg.lkey,
        finish: () => {
          reg.release();
          if (a) a.pins--;
        },
      };
    }
    const bounce = proc.takeScratch(bytes);
    const reg = await proc.cache.acquire(bounce.addr, bytes);
    if (copyIn) {
      bounce.write(0, region.read(0, bytes));
      proc.chargeCpu(bytes * proc.params.copyNsPerByte);
    }
    return {
      addr: bounce.addr,
      lkey: reg.lkey,
      finish: () => {
        if (!copyIn) {
          region.write(0, bounce.read(0, bytes));
          proc.chargeCpu(bytes * proc.params.copyNsPerByte);
        }
        reg.release();
        proc.giveScratch(bounce);
      },
    };
  }

  // ---------------------------------------------------------------- accumulate

  #checkAccOp(what: string, op: AccOp, datatype: Datatype, count: number, fetch: boolean): void {
    if (typeof op !== "string" || !ACC_OPS.includes(op)) {
      throw new MpiError(
        "MPI_ERR_OP",
        `${what} on rank ${this.rank}: ${
          typeof op === "string" ? `unknown operation '${op}'` : "a user-defined operation"
        } (MPI-3.1 §11.3.4: predefined operations and REPLACE${fetch ? ", NO_OP" : ""} only)`,
      );
    }
    if (op === "NO_OP" && !fetch) {
      throw new MpiError(
        "MPI_ERR_OP",
        `${what} on rank ${this.rank}: NO_OP belongs to the fetching calls (MPI-3.1 §11.3.4)`,
      );
    }
    if (op !== "REPLACE" && op !== "NO_OP") {
      checkOp(op as ReductionOp, datatype, count, `${what} on rank ${this.rank}`);
    }
  }

  /**
   * `MPI_Accumulate` (MPI-3.1 §11.3.4): combine `origin` into `target`'s
   * window at `targetDisp` with `op` (element by element, target ∘ origin;
   * `REPLACE` overwrites), atomically per element with respect to other
   * accumulates. The target's CPU applies it (see the module comment).
   */
  async accumulate(
    origin: Buf,
    target: number,
    targetDisp: number,
    op: AccOp,
  ): Promise<void | WinErrorOutcome<H>> {
    try {
      await this.#accumulateCall("MPI_Accumulate", false, origin, origin, target, targetDisp, op);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Get_accumulate` (MPI-3.1 §11.3.4): as `accumulate`, and `result`
   * (as long as `origin`, of its type) receives the target's bytes from
   * before, atomically. `NO_OP` only reads, and ignores `origin` (MPI-4.0
   * §12.3.4): `result` alone gives the type and length read.
   */
  async getAccumulate(
    origin: Buf,
    result: Buf,
    target: number,
    targetDisp: number,
    op: AccOp,
  ): Promise<void | WinErrorOutcome<H>> {
    try {
      await this.#accumulateCall(
        "MPI_Get_accumulate",
        true,
        origin,
        result,
        target,
        targetDisp,
        op,
      );
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Raccumulate` (MPI-4.0 §12.3.5): `accumulate`, returning a request.
   * Only inside a passive-target epoch to `target`, else `MPI_ERR_RMA_SYNC`.
   * The data leaves `origin` at the call (packets to the target's CPU), so
   * the request is complete at once; the sum is at the target after a
   * `flush`, `unlock` or `unlockAll`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Win } from "./rma.ts";
   * import { mpiexec } from "./launch.ts";
   * const job = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
   *   const win = await Win.allocate(comm, 1, "int32");
   *   await win.lockAll();
   *   const req = await win.raccumulate(new Int32Array([comm.rank + 1]), 0, 0, "SUM");
   *   await comm.wait(req);
   *   await win.unlockAll(); // every rank's addition is at rank 0
   *   await comm.barrier();
   *   const sum = win.memory.get()[0];
   *   await win.free();
   *   return sum;
   * });
   * assert.equal(job.results[0], 1 + 2 + 3);
   * ```
   */
  async raccumulate(
    origin: Buf,
    target: number,
    targetDisp: number,
    op: AccOp,
  ): Promise<Request | WinErrorOutcome<H>> {
    const what = "MPI_Raccumulate";
    return await this.#request(
      what,
      target,
      (r) => this.#accumulateCall(what, false, origin, origin, target, targetDisp, op, r),
    );
  }

  /**
   * `MPI_Rget_accumulate` (MPI-4.0 §12.3.5): `getAccumulate`, returning a
   * request that completes when `result` holds the target's old bytes
   * (every packet's answer has arrived). Only inside a passive-target epoch
   * to `target`, else `MPI_ERR_RMA_SYNC`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { LOCK_EXCLUSIVE, Win } from "./rma.ts";
   * import { mpiexec } from "./launch.ts";
   * const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
   *   const win = await Win.allocate(comm, 1, "int32");
   *   win.memory.set([100]);
   *   await comm.barrier();
   *   const old = new Int32Array(1);
   *   if (comm.rank === 0) {
   *     await win.lock(LOCK_EXCLUSIVE, 1);
   *     await comm.wait(await win.rgetAccumulate(new Int32Array([5]), old, 1, 0, "SUM"));
   *     await win.unlock(1);
   *   }
   *   await comm.barrier();
   *   const mine = win.memory.get()[0];
   *   await win.free();
   *   return [old[0], mine];
   * });
   * assert.deepEqual(job.results, [[100, 100], [0, 105]]);
   * ```
   */
  async rgetAccumulate(
    origin: Buf,
    result: Buf,
    target: number,
    targetDisp: number,
    op: AccOp,
  ): Promise<Request | WinErrorOutcome<H>> {
    const what = "MPI_Rget_accumulate";
    return await this.#request(
      what,
      target,
      (r) => this.#accumulateCall(what, true, origin, result, target, targetDisp, op, r),
    );
  }

  /**
   * `accumulate` and (`fetch`: into `result`) `getAccumulate`, and with
   * `request` their request-based forms: one set of checks, one issue.
   */
  async #accumulateCall(
    what: string,
    fetch: boolean,
    origin: Buf,
    result: Buf,
    target: number,
    targetDisp: number,
    op: AccOp,
    request?: LocalCompletion,
  ): Promise<void> {
    // MPI-4.0 §12.3.4: with NO_OP "the values in origin_addr, origin_count, and
    // origin_datatype are ignored" (MPICH lets origin_addr be NULL then): the
    // result buffer alone gives the type and count read.
    const noOp = fetch && op === "NO_OP";
    const { region, datatype } = this.#begin(
      what,
      noOp ? result : origin,
      target,
      targetDisp,
    );
    let into: Region | undefined;
    if (fetch) {
      const res = toRegion(result, this.#proc.rank, what);
      this.#sameShape(what, region, datatype, res.region, res.datatype, "result");
      into = res.region;
    }
    this.#checkAccOp(what, op, datatype, region.bytes / typeSize(datatype), fetch);
    if (target === PROC_NULL) return;
    const off = this.#targetRange(
      what,
      target,
      targetDisp,
      region.bytes,
      request !== undefined,
    );
    await this.#issue();
    this.#accumulate(region, datatype, target, off, op, into, request);
  }

  /**
   * `MPI_Fetch_and_op` (MPI-3.1 §11.3.4): `getAccumulate` of one element —
   * for MAXLOC and MINLOC one (value, index) pair, the element of a pair
   * type such as `MPI_2INT`. With `NO_OP` (an atomic read) `origin` is
   * ignored.
   */
  async fetchAndOp(
    origin: Buf,
    result: Buf,
    target: number,
    targetDisp: number,
    op: AccOp,
  ): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Fetch_and_op";
      this.#check(what);
      // NO_OP ignores the origin (MPI-4.0 §12.3.4; MPICH's MPI_Fetch_and_op
      // lets origin_addr be NULL then): the result holds the one element.
      const noOp = op === "NO_OP";
      const o = toRegion(noOp ? result : origin, this.#proc.rank, what);
      // MPI-3.1 §11.3.4 takes any predefined operation on one element of a
      // predefined datatype; MAXLOC's and MINLOC's are the pair types
      // (MPI_2INT, MPI_2DOUBLE_PRECISION, …: §5.9.4), which MPICH's
      // MPI_Fetch_and_op accepts (rma_api.txt: the type must be predefined).
      // Here a pair is two consecutive elements of one type, as in reductions.
      const pair = op === "MAXLOC" || op === "MINLOC";
      const size = typeSize(o.datatype);
      if (o.region.bytes !== (pair ? 2 : 1) * size) {
        throw new MpiError(
          "MPI_ERR_COUNT",
          `${what} on rank ${this.rank}: the ${
            noOp ? "result" : "origin"
          } buffer must hold exactly ${
            pair
              ? `one (value, index) pair of ${o.datatype} for ${op}`
              : `one ${o.datatype} element`
          }, not ${o.region.bytes / size} elements`,
        );
      }
      await this.#accumulateCall(what, true, origin, result, target, targetDisp, op);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Compare_and_swap` (MPI-3.1 §11.3.4): one element of an integer or
   * byte type; if `target`'s element at `targetDisp` equals `compare` it
   * becomes `origin`; `result` gets its old value, atomically.
   */
  async compareAndSwap(
    origin: Buf,
    compare: Buf,
    result: Buf,
    target: number,
    targetDisp: number,
  ): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Compare_and_swap";
      const { region, datatype } = this.#begin(what, origin, target, targetDisp);
      const cmp = toRegion(compare, this.#proc.rank, what);
      const res = toRegion(result, this.#proc.rank, what);
      if (!isIntegerType(datatype) && datatype !== "byte") {
        throw new MpiError(
          "MPI_ERR_TYPE",
          `${what} on rank ${this.rank}: ${datatype} is not an integer or byte type (MPI-3.1 §11.3.4)`,
        );
      }
      if (region.bytes !== typeSize(datatype)) {
        throw new MpiError(
          "MPI_ERR_COUNT",
          `${what} on rank ${this.rank}: the origin buffer must hold exactly one ${datatype} element`,
        );
      }
      this.#sameShape(what, region, datatype, cmp.region, cmp.datatype, "compare");
      this.#sameShape(what, region, datatype, res.region, res.datatype, "result");
      if (target === PROC_NULL) return;
      const off = this.#targetRange(what, target, targetDisp, region.bytes);
      await this.#issue();
      const payload = new Uint8Array(2 * region.bytes);
      payload.set(region.read(0, region.bytes));
      payload.set(cmp.region.read(0, region.bytes), region.bytes);
      if (target === this.rank) {
        res.region.write(0, this.#cas(off, datatype, payload));
        return;
      }
      const id = this.#nextFetch++;
      this.#fetches.set(id, { target, region: res.region, off: 0 });
      this.#pending[target]++;
      this.#pendingLocal[target]++;
      this.#proc.ch.send(this.#comm.group[target], {
        type: PacketType.RMA_CAS,
        fields: {
          context: this.#ctx,
          src: this.rank,
          size: DATATYPES.indexOf(datatype),
          addr: off,
          rreq: id,
        },
        payload,
      });
    } catch (e) {
      return this.#raise(e);
    }
  }

  #sameShape(
    what: string,
    a: Region,
    at: Datatype,
    b: Region,
    bt: Datatype,
    name: string,
  ): void {
    if (at !== bt) {
      throw new MpiError(
        "MPI_ERR_TYPE",
        `${what} on rank ${this.rank}: the ${name} buffer is ${bt}, the origin ${at}`,
      );
    }
    if (a.bytes !== b.bytes) {
      throw new MpiError(
        "MPI_ERR_COUNT",
        `${what} on rank ${this.rank}: the ${name} buffer holds ${b.bytes} bytes, the origin ${a.bytes}`,
      );
    }
  }

  /**
   * Send an accumulate (fetching into `result` when given) in packets of
   * whole elements; a fetching one's `request` waits for every packet's answer.
   */
  #accumulate(
    region: Region,
    datatype: Datatype,
    target: number,
    off: number,
    op: AccOp,
    result: Region | undefined,
    request?: LocalCompletion,
  ): void {
    const bytes = region.bytes;
    if (bytes === 0) return;
    const proc = this.#proc;
    const data = region.copy(0, bytes);
    if (target === this.rank) {
      const old = this.#apply(off, datatype, op, data);
      result?.write(0, old);
      return;
    }
    // The data leaves the origin buffer now (local completion at once, as an eager send).
    proc.chargeCpu(bytes * proc.params.copyNsPerByte);
    const pair = op === "MAXLOC" || op === "MINLOC" ? 2 : 1;
    const unit = typeSize(datatype) * pair;
    const chunk = Math.max(
      unit,
      Math.floor((proc.params.eagerThreshold - HEADER_BYTES) / unit) * unit,
    );
    for (let at = 0; at < bytes; at += chunk) {
      const len = Math.min(chunk, bytes - at);
      const fields = {
        context: this.#ctx,
        src: this.rank,
        tag: ACC_OPS.indexOf(op),
        size: DATATYPES.indexOf(datatype),
        addr: off + at,
        rreq: 0,
      };
      this.#pending[target]++;
      if (result) {
        fields.rreq = this.#nextFetch++;
        this.#fetches.set(fields.rreq, { target, region: result, off: at, request });
        this.#pendingLocal[target]++;
        request?.hold();
      }
      proc.ch.send(this.#comm.group[target], {
        type: result ? PacketType.RMA_GET_ACC : PacketType.RMA_ACC,
        fields,
        payload: data.subarray(at, at + len),
      });
    }
  }

  /** Apply `op` with `data` at byte `off` of this rank's window; returns the old bytes. */
  #apply(off: number, datatype: Datatype, op: AccOp, data: Uint8Array): Uint8Array {
    const mem = this.memory.memory, at = this.memory.addr + off;
    const old = mem.read(at, data.byteLength);
    const proc = this.#proc;
    if (op === "NO_OP") return old;
    if (op === "REPLACE") mem.write(at, data);
    else {
      const res = reduceInto(op, datatype, old.slice(), data.slice());
      mem.write(at, res);
      const p = proc.params, bytes = data.byteLength;
      proc.chargeCpu(
        Math.max(bytes / typeSize(datatype) / p.flopsPerNs, (3 * bytes) / p.memBytesPerNs),
      );
    }
    return old;
  }

  #cas(off: number, datatype: Datatype, payload: Uint8Array): Uint8Array {
    const n = typeSize(datatype);
    const mem = this.memory.memory, at = this.memory.addr + off;
    const old = mem.read(at, n);
    const cmp = payload.subarray(n, 2 * n);
    if (old.every((b, i) => b === cmp[i])) mem.write(at, payload.slice(0, n));
    return old;
  }

  /** Whether `[off, off + len)` lies in this rank's window (checked again here: a target never trusts). */
  #inWindow(off: number, len: number): boolean {
    return Number.isInteger(off) && off >= 0 && off + len <= this.memory.byteLength;
  }

  // ---------------------------------------------------------------- packets

  /** A one-sided packet for this window (from the channel, in order, inside progress). */
  onPacket(p: InPacket): void {
    const h = p.header;
    const from = h.src;
    const peer = this.#comm.group[from];
    const ch = this.#proc.ch;
    const reply = (type: number, fields: Record<string, number>, payload?: Uint8Array) =>
      ch.send(peer, { type, fields: { context: this.#ctx, src: this.rank, ...fields }, payload });
    switch (h.type) {
      case PacketType.RMA_LOCK:
        this.#lockRequest(from, h.length === 2);
        return;
      case PacketType.RMA_LOCK_GRANTED:
        this.#granted.add(from);
        return;
      case PacketType.RMA_UNLOCK:
        this.#unlockRequest(from);
        return;
      case PacketType.RMA_ACC:
      case PacketType.RMA_GET_ACC: {
        const data = p.payload();
        const op = ACC_OPS[h.tag], dt = DATATYPES[h.size];
        const ok = op !== undefined && dt !== undefined && this.#inWindow(h.addr, data.byteLength);
        const old = ok ? this.#apply(h.addr, dt, op, data) : undefined;
        if (h.type === PacketType.RMA_ACC) reply(PacketType.RMA_ACC_ACK, { length: ok ? 1 : 0 });
        else reply(PacketType.RMA_FETCH_RESP, { rreq: h.rreq, length: ok ? 1 : 0 }, old);
        return;
      }
      case PacketType.RMA_CAS: {
        const data = p.payload(), dt = DATATYPES[h.size];
        const ok = dt !== undefined && this.#inWindow(h.addr, data.byteLength / 2);
        const old = ok ? this.#cas(h.addr, dt, data) : undefined;
        reply(PacketType.RMA_FETCH_RESP, { rreq: h.rreq, length: ok ? 1 : 0 }, old);
        return;
      }
      case PacketType.RMA_ACC_ACK:
        this.#pending[from]--;
        if (h.length === 0) this.#rangeRefused(from);
        return;
      case PacketType.RMA_FETCH_RESP: {
        const f = this.#fetches.get(h.rreq);
        if (!f) {
          throw new MpiError(
            "MPI_ERR_INTERN",
            `rank ${this.rank}: RMA_FETCH_RESP for unknown operation ${h.rreq}`,
          );
        }
        this.#fetches.delete(h.rreq);
        let refused: MpiError | undefined;
        if (h.length === 0) refused = this.#rangeRefused(from);
        else {
          f.region.write(f.off, p.payload());
          this.#proc.chargeCpu(h.len * this.#proc.params.copyNsPerByte);
        }
        this.#pending[f.target]--;
        this.#pendingLocal[f.target]--;
        f.request?.release(refused);
        return;
      }
      case PacketType.RMA_POST:
        count(this.#posts, from, 1);
        return;
      case PacketType.RMA_COMPLETE:
        count(this.#completes, from, 1);
        return;
      default:
        throw new MpiError(
          "MPI_ERR_INTERN",
          `rank ${this.rank}: packet type ${h.type} from rank ${from}`,
        );
    }
  }

  /** A target refused an operation: the next synchronization reports it (and the request, if any). */
  #rangeRefused(target: number): MpiError {
    const e = new MpiError(
      "MPI_ERR_RMA_RANGE",
      `rank ${this.rank}: rank ${target} refused an accumulate outside its window`,
    );
    this.#error ??= e;
    return e;
  }

  // ---------------------------------------------------------------- the lock manager (as target)

  #compatible(shared: boolean): boolean {
    return this.#exclusive === undefined && (shared || this.#shared === 0);
  }

  #lockRequest(rank: number, shared: boolean): void {
    if (this.#lockQueue.length === 0 && this.#compatible(shared)) this.#grant(rank, shared);
    else this.#lockQueue.push({ rank, shared });
  }

  #grant(rank: number, shared: boolean): void {
    if (shared) this.#shared++;
    else this.#exclusive = rank;
    if (rank === this.rank) this.#granted.add(rank);
    else {
      this.#proc.ch.send(this.#comm.group[rank], {
        type: PacketType.RMA_LOCK_GRANTED,
        fields: { context: this.#ctx, src: this.rank },
      });
    }
  }

  #unlockRequest(rank: number): void {
    if (this.#exclusive === rank) this.#exclusive = undefined;
    else this.#shared--;
    // First come, first served: the head waits until it fits, the others behind it.
    while (this.#lockQueue.length > 0 && this.#compatible(this.#lockQueue[0].shared)) {
      const next = this.#lockQueue.shift()!;
      this.#grant(next.rank, next.shared);
    }
  }

  // ---------------------------------------------------------------- synchronization

  async #waitFor(done: () => boolean, label: string): Promise<void> {
    // A refused operation ends the wait: its epoch cannot complete as asked.
    await this.#proc.ch.waitFor(() => this.#error !== undefined || done(), label);
    this.#throwRefusal();
  }

  /** Throw (once) what a target refused since the last synchronization. */
  #throwRefusal(): void {
    const e = this.#error;
    if (e) {
      this.#error = undefined;
      throw e;
    }
  }

  /** Wait until the operations to `targets` are complete at the target (`local`: at the origin only). */
  async #complete(targets: readonly number[], what: string, local = false): Promise<void> {
    const counts = local ? this.#pendingLocal : this.#pending;
    await this.#waitFor(() => targets.every((t) => counts[t] === 0), `${what} (rank ${this.rank})`);
  }

  #all(): number[] {
    return Array.from({ length: this.size }, (_, i) => i);
  }

  /**
   * `MPI_Win_fence` (MPI-3.1 §11.5.1), collective: every operation issued
   * since the last fence is complete at origin and target when it returns;
   * it then opens the next active-target epoch, unless `assert` has
   * `MODE.NOSUCCEED`.
   */
  async fence(assert = 0): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_fence";
      this.#check(what);
      this.#checkAssert(what, assert);
      if (this.#locks.size > 0 || this.#lockAll || this.#startGroup || this.#postGroup) {
        throw new MpiError(
          "MPI_ERR_RMA_SYNC",
          `${what} on rank ${this.rank}: a ${
            this.#startGroup || this.#postGroup ? "post/start" : "lock"
          } epoch is open (MPI-3.1 §11.5: fence only between active-target epochs)`,
        );
      }
      await this.#complete(this.#all(), what);
      await this.#comm.barrier();
      this.#fenceOpen = (assert & MODE.NOSUCCEED) === 0;
      this.#fenceOps = 0;
    } catch (e) {
      return this.#raise(e);
    }
  }

  #checkNoFenceEpoch(what: string): void {
    if (this.#fenceOpen && this.#fenceOps > 0) {
      throw new MpiError(
        "MPI_ERR_RMA_SYNC",
        `${what} on rank ${this.rank}: operations since the last fence are not completed (call fence first; MPI-3.1 §11.5)`,
      );
    }
  }

  /**
   * MPI-4.0 §12.5: "distinct access epochs for win at the same process must
   * be disjoint", so no lock epoch inside the access epoch `start` opened
   * (MPICH's MPID_Win_lock and MPID_Win_lock_all, ch3u_rma_sync.c: an
   * access state other than none or fence is MPI_ERR_RMA_SYNC).
   */
  #checkNoStartEpoch(what: string): void {
    if (this.#startGroup) {
      throw new MpiError(
        "MPI_ERR_RMA_SYNC",
        `${what} on rank ${this.rank}: the access epoch start opened is still open (complete first; MPI-4.0 §12.5: a window's access epochs are disjoint)`,
      );
    }
  }

  /**
   * `MPI_Win_lock` (MPI-3.1 §11.5.3): begin a passive-target epoch to
   * `target`, holding its lock `lockType`. Returns once the target's lock
   * manager granted it, which needs the target inside an MPI call.
   */
  async lock(lockType: LockType, target: number, assert = 0): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_lock";
      this.#check(what);
      // MPI_ERR_LOCKTYPE, the standard's class for it (MPI-4.0 §12.6.2), checked
      // before the rank and the assert as Open MPI's win_lock.c does; MPICH's
      // generated CHECKENUM says MPI_ERR_ARG (MPICH 3.x: MPI_ERR_OTHER).
      if (lockType !== LOCK_EXCLUSIVE && lockType !== LOCK_SHARED) {
        throw new MpiError(
          "MPI_ERR_LOCKTYPE",
          `${what} on rank ${this.rank}: lock type '${
            String(lockType)
          }' (LOCK_EXCLUSIVE or LOCK_SHARED)`,
        );
      }
      this.#checkRank(what, target);
      this.#checkAssert(what, assert);
      if (target === PROC_NULL) return;
      if (this.#locks.has(target) || this.#lockAll) {
        throw new MpiError(
          "MPI_ERR_RMA_SYNC",
          `${what} on rank ${this.rank}: rank ${target} is locked already (MPI-3.1 §11.5.3)`,
        );
      }
      this.#checkNoStartEpoch(what);
      this.#checkNoFenceEpoch(what);
      await this.#lockOne(target, lockType === LOCK_SHARED, what);
      this.#fenceOpen = false;
      this.#locks.set(target, lockType);
    } catch (e) {
      return this.#raise(e);
    }
  }

  async #lockOne(target: number, shared: boolean, what: string): Promise<void> {
    const ch = this.#proc.ch;
    await ch.cpu.settle();
    ch.progress();
    ch.cpu.charge(this.#proc.params.sendOverheadNs);
    if (target === this.rank) this.#lockRequest(target, shared);
    else {
      ch.send(this.#comm.group[target], {
        type: PacketType.RMA_LOCK,
        fields: { context: this.#ctx, src: this.rank, length: shared ? 2 : 1 },
      });
    }
    await this.#waitFor(() => this.#granted.has(target), `${what} (rank ${target}'s grant)`);
    this.#granted.delete(target);
  }

  /**
   * `MPI_Win_unlock` (MPI-3.1 §11.5.3): complete every operation to
   * `target` (at the target too) and release its lock.
   */
  async unlock(target: number): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_unlock";
      this.#check(what);
      this.#checkRank(what, target);
      if (target === PROC_NULL) return;
      if (!this.#locks.has(target)) {
        throw new MpiError(
          "MPI_ERR_RMA_SYNC",
          `${what} on rank ${this.rank}: rank ${target} is not locked (MPI-3.1 §11.5.3)`,
        );
      }
      await this.#complete([target], what);
      this.#unlockOne(target);
      this.#locks.delete(target);
    } catch (e) {
      return this.#raise(e);
    }
  }

  #unlockOne(target: number): void {
    if (target === this.rank) this.#unlockRequest(target);
    else {
      // The channel keeps order: the UNLOCK reaches the target after the data it follows.
      this.#proc.ch.send(this.#comm.group[target], {
        type: PacketType.RMA_UNLOCK,
        fields: { context: this.#ctx, src: this.rank },
      });
    }
  }

  /** `MPI_Win_lock_all` (MPI-3.1 §11.5.3): a shared lock of every rank. */
  async lockAll(assert = 0): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_lock_all";
      this.#check(what);
      this.#checkAssert(what, assert);
      if (this.#lockAll || this.#locks.size > 0) {
        throw new MpiError(
          "MPI_ERR_RMA_SYNC",
          `${what} on rank ${this.rank}: a passive-target epoch is open already (MPI-3.1 §11.5.3)`,
        );
      }
      this.#checkNoStartEpoch(what);
      this.#checkNoFenceEpoch(what);
      for (const t of this.#all()) await this.#lockOne(t, true, what);
      this.#fenceOpen = false;
      this.#lockAll = true;
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Win_unlock_all`: complete every operation and release every lock `lockAll` took. */
  async unlockAll(): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_unlock_all";
      this.#check(what);
      if (!this.#lockAll) {
        throw new MpiError(
          "MPI_ERR_RMA_SYNC",
          `${what} on rank ${this.rank}: no lockAll epoch is open (MPI-3.1 §11.5.3)`,
        );
      }
      await this.#complete(this.#all(), what);
      for (const t of this.#all()) this.#unlockOne(t);
      this.#lockAll = false;
    } catch (e) {
      return this.#raise(e);
    }
  }

  #checkPassive(what: string, target: number): void {
    if (this.#lockAll || this.#locks.has(target)) return;
    throw new MpiError(
      "MPI_ERR_RMA_SYNC",
      `${what} on rank ${this.rank}: rank ${target} is not locked (flush belongs to a passive-target epoch; MPI-3.1 §11.5.4)`,
    );
  }

  #checkAnyPassive(what: string): void {
    if (this.#lockAll || this.#locks.size > 0) return;
    throw new MpiError(
      "MPI_ERR_RMA_SYNC",
      `${what} on rank ${this.rank}: no passive-target epoch is open (lock or lockAll first; MPI-3.1 §11.5.4)`,
    );
  }

  /**
   * `MPI_Win_flush` (MPI-3.1 §11.5.4): complete the operations to `target`
   * at origin and target, inside a passive-target epoch.
   */
  async flush(target: number): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_flush";
      this.#check(what);
      this.#checkRank(what, target);
      if (target === PROC_NULL) return;
      this.#checkPassive(what, target);
      await this.#complete([target], what);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Win_flush_all`: `flush` of every rank. */
  async flushAll(): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_flush_all";
      this.#check(what);
      this.#checkAnyPassive(what);
      await this.#complete([...(this.#lockAll ? this.#all() : this.#locks.keys())], what);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Win_flush_local` (MPI-3.1 §11.5.4): the origin buffers of the
   * operations to `target` may be reused (a put's RDMA WRITE has
   * completed, a get's data has landed; an accumulate's data left at once).
   */
  async flushLocal(target: number): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_flush_local";
      this.#check(what);
      this.#checkRank(what, target);
      if (target === PROC_NULL) return;
      this.#checkPassive(what, target);
      await this.#complete([target], what, true);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** `MPI_Win_flush_local_all`: `flushLocal` of every rank. */
  async flushLocalAll(): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_flush_local_all";
      this.#check(what);
      this.#checkAnyPassive(what);
      await this.#complete([...(this.#lockAll ? this.#all() : this.#locks.keys())], what, true);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Win_sync` (MPI-4.0 §12.5.4): synchronize the window's public and
   * private copies. This library's windows are in the unified memory model
   * (one copy, which RDMA and the CPU both reach), so it is a memory barrier
   * and nothing more, as MPICH's (MPL_atomic_read_write_barrier): no
   * communication, no progress, no virtual time, and it completes no
   * operation. It is local and returns at once. "All flush and sync
   * functions can be called only within passive target epochs" (MPI-3.1
   * §11.5.4; MPICH: MPI_ERR_RMA_SYNC otherwise): outside a `lock` or
   * `lockAll` epoch it is `MPI_ERR_RMA_SYNC`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ERRORS_RETURN } from "./constants.ts";
   * import { MpiError } from "./errors.ts";
   * import { LOCK_SHARED, Win } from "./rma.ts";
   * import { mpiexec } from "./launch.ts";
   * const job = await mpiexec({ np: 1, mode: "native" }, async (comm) => {
   *   const win = (await Win.allocate(comm, 1)).setErrhandler(ERRORS_RETURN);
   *   const outside = win.sync(); // no passive-target epoch
   *   await win.lock(LOCK_SHARED, 0);
   *   const inside = win.sync();
   *   await win.unlock(0);
   *   await win.free();
   *   return [outside instanceof MpiError ? outside.code : "ok", inside ?? "ok"];
   * });
   * assert.deepEqual(job.results[0], ["MPI_ERR_RMA_SYNC", "ok"]);
   * ```
   */
  sync(): void | WinErrorOutcome<H> {
    try {
      const what = "MPI_Win_sync";
      this.#check(what);
      this.#checkAnyPassive(what);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** The window ranks of a group's members (world ranks). */
  #ranksOf(what: string, group: Group): number[] {
    if (!(group instanceof Group) || group.holder !== this.#proc.rank) {
      throw new MpiError(
        "MPI_ERR_GROUP",
        `${what} on rank ${this.rank}: not a group of this process (give what getGroup and its operations return)`,
      );
    }
    return group.members.map((w) => {
      const r = this.#comm.group.indexOf(w);
      if (r < 0) {
        throw new MpiError(
          "MPI_ERR_GROUP",
          `${what} on rank ${this.rank}: world rank ${w} of the group is not in the window`,
        );
      }
      return r;
    });
  }

  /**
   * `MPI_Win_post` (MPI-3.1 §11.5.2): expose this rank's window to the
   * origins in `group` until `wait`. Tells each of them (a POST packet).
   */
  async post(group: Group, assert = 0): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_post";
      this.#check(what);
      this.#checkAssert(what, assert);
      const ranks = this.#ranksOf(what, group);
      if (this.#postGroup) {
        throw new MpiError(
          "MPI_ERR_RMA_SYNC",
          `${what} on rank ${this.rank}: an exposure epoch is open already (wait first)`,
        );
      }
      this.#checkNoFenceEpoch(what);
      this.#fenceOpen = false;
      this.#postGroup = ranks;
      const ch = this.#proc.ch;
      await ch.cpu.settle();
      ch.progress();
      this.#notify(ranks, PacketType.RMA_POST, this.#posts);
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** Wait for a notice (POST or COMPLETE, counted in `got`) from each of `ranks`, and take them. */
  async #awaitNotices(
    ranks: readonly number[],
    got: Map<number, number>,
    label: string,
  ): Promise<void> {
    await this.#waitFor(() => ranks.every((r) => (got.get(r) ?? 0) > 0), label);
    for (const r of ranks) count(got, r, -1);
  }

  /** Tell each of `ranks` (a POST or COMPLETE packet; to oneself, counted in `mine` at once). */
  #notify(ranks: readonly number[], type: number, mine: Map<number, number>): void {
    for (const r of ranks) {
      if (r === this.rank) count(mine, r, 1);
      else {
        this.#proc.ch.send(this.#comm.group[r], {
          type,
          fields: { context: this.#ctx, src: this.rank },
        });
      }
    }
  }

  /**
   * `MPI_Win_start` (MPI-3.1 §11.5.2): begin an access epoch to the
   * targets in `group`; returns once each has posted (the standard lets
   * start block so).
   */
  async start(group: Group, assert = 0): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_start";
      this.#check(what);
      this.#checkAssert(what, assert);
      const ranks = this.#ranksOf(what, group);
      if (this.#startGroup || this.#lockAll || this.#locks.size > 0) {
        throw new MpiError(
          "MPI_ERR_RMA_SYNC",
          `${what} on rank ${this.rank}: an access epoch is open already (complete or unlock first)`,
        );
      }
      this.#checkNoFenceEpoch(what);
      this.#fenceOpen = false;
      await this.#awaitNotices(ranks, this.#posts, `${what} (the targets' post)`);
      this.#startGroup = ranks;
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Win_complete` (MPI-3.1 §11.5.2): complete the access epoch
   * `start` began (its operations done at the targets) and tell each target.
   */
  async complete(): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_complete";
      this.#check(what);
      const ranks = this.#startGroup;
      if (!ranks) {
        throw new MpiError(
          "MPI_ERR_RMA_SYNC",
          `${what} on rank ${this.rank}: no access epoch from start is open`,
        );
      }
      await this.#complete(ranks, what);
      this.#notify(ranks, PacketType.RMA_COMPLETE, this.#completes);
      this.#startGroup = undefined;
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Win_wait` (MPI-3.1 §11.5.2): end the exposure epoch `post`
   * began, once every origin of its group has called `complete`.
   */
  async wait(): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_wait";
      const ranks = this.#exposure(what);
      await this.#awaitNotices(ranks, this.#completes, `${what} (the origins' complete)`);
      this.#postGroup = undefined;
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** The origins of the exposure epoch `post` opened, for `wait` and `test`. */
  #exposure(what: string): number[] {
    this.#check(what);
    const ranks = this.#postGroup;
    if (!ranks) {
      throw new MpiError(
        "MPI_ERR_RMA_SYNC",
        `${what} on rank ${this.rank}: no exposure epoch from post is open`,
      );
    }
    return ranks;
  }

  /**
   * `MPI_Win_test` (MPI-4.0 §12.5.2): the non-blocking `wait`. Makes
   * progress once; `true` when every origin of the exposure epoch has called
   * `complete`, and then the epoch has ended as `wait` would end it ("the
   * effect of return of MPI_WIN_TEST with flag = true is the same as the
   * effect of a return of MPI_WIN_WAIT"); `false` leaves it open ("the call
   * has no visible effect"). Only where `wait` may be called: outside an
   * exposure epoch (and after a `true`, until the next `post`) it is
   * `MPI_ERR_RMA_SYNC`, as MPICH's MPID_Win_test says.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Win } from "./rma.ts";
   * import { mpiexec } from "./launch.ts";
   * const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
   *   const win = await Win.allocate(comm, 1, "int32");
   *   const other = comm.getGroup().incl([1 - comm.rank]);
   *   let tests = 0;
   *   if (comm.rank === 1) {
   *     await win.post(other);
   *     while (!(await win.test())) tests++; // work could go here
   *   } else {
   *     await win.start(other);
   *     await win.put(new Int32Array([9]), 1, 0);
   *     await win.complete();
   *   }
   *   const mine = win.memory.get()[0];
   *   await win.free();
   *   return [mine, tests > 0];
   * });
   * assert.deepEqual(job.results[1], [9, true]);
   * ```
   */
  async test(): Promise<boolean | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_test";
      const ranks = this.#exposure(what);
      const all = () => ranks.every((r) => (this.#completes.get(r) ?? 0) > 0);
      if (!all()) await this.#proc.ch.poll();
      this.#throwRefusal();
      if (!all()) return false;
      for (const r of ranks) count(this.#completes, r, -1);
      this.#postGroup = undefined;
      return true;
    } catch (e) {
      return this.#raise(e);
    }
  }

  /**
   * `MPI_Win_free` (MPI-3.1 §11.2.5), collective: no epoch may be open.
   * Waits for everyone (nobody reaches this memory afterwards), then
   * deregisters it and, for `allocate`'s, frees it.
   */
  async free(): Promise<void | WinErrorOutcome<H>> {
    try {
      const what = "MPI_Win_free";
      this.#check(what);
      if (this.#locks.size > 0 || this.#lockAll || this.#startGroup || this.#postGroup) {
        throw new MpiError(
          "MPI_ERR_RMA_SYNC",
          `${what} on rank ${this.rank}: an epoch is open (unlock, complete or wait first; MPI-3.1 §11.2.5)`,
        );
      }
      this.#checkNoFenceEpoch(what);
      await this.#comm.barrier();
      this.#freed = true;
      await this.#mr?.dereg();
      windowsOf(this.#proc).delete(this.#ctx);
      this.memory.allocation.pins--;
      if (this.flavor === "allocate") await this.#comm.free(this.memory);
      this.#comm.freeComm();
    } catch (e) {
      return this.#raise(e);
    }
  }

  /** Whether `free` was called. */
  get freed(): boolean {
    return this.#freed;
  }

  /**
   * What this rank learnt of `target`'s window at creation: base address,
   * rkey, size in bytes and displacement unit (MPI_Win_get_attr's
   * MPI_WIN_BASE, MPI_WIN_SIZE, MPI_WIN_DISP_UNIT, and the key the HCA checks).
   */
  remote(
    target: number,
  ): { addr: number; rkey: number; bytes: number; dispUnit: number } | WinErrorOutcome<H> {
    try {
      this.#checkRank("MPI_Win_get_attr", target);
      return { ...this.#remote[target] };
    } catch (e) {
      return this.#raise(e);
    }
  }
}

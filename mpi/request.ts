/**
 * Requests and statuses (MPI-3.1 §3.7): a non-blocking send or receive
 * returns a {@link Request}; `comm.wait` and friends return its
 * {@link Status}. A request completes inside the library's progress engine;
 * it never completes by itself between MPI calls (MVAPICH's progress rule:
 * no asynchronous progress thread).
 *
 * @module
 */
import { PROC_NULL, UNDEFINED } from "./constants.ts";
import { type Datatype, typeSize } from "./datatype.ts";
import { MpiError } from "./errors.ts";

/**
 * What a completed receive (or probe) reports (`MPI_Status`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Status } from "./request.ts";
 * const s: Status = { source: 1, tag: 7, bytes: 64, count: 8 };
 * assert.equal(s.bytes / s.count, 8); // eight float64 elements
 * ```
 */
export interface Status {
  /** Rank of the sender in the communicator (`MPI_SOURCE`). */
  source: number;
  /** The message's tag (`MPI_TAG`). */
  tag: number;
  /** Bytes received (for a probe: bytes the message carries). */
  bytes: number;
  /**
   * Elements of the receive buffer's datatype received (`MPI_Get_count`; bytes for a probe);
   * `UNDEFINED` when the bytes are not a whole number of elements.
   */
  count: number;
  /** Set when the receive failed (e.g. MPI_ERR_TRUNCATE); blocking calls throw it instead. */
  error?: MpiError;
  /**
   * True when the operation was cancelled (`comm.cancel`); absent otherwise.
   * Read it with {@link testCancelled}.
   */
  cancelled?: boolean;
}

/**
 * `MPI_Test_cancelled` (MPI-3.1 §3.8.4): whether the operation that
 * returned `status` was cancelled. Only then are the other fields
 * meaningless ("If a receive is cancelled, then the receive buffer ... is
 * unchanged"; the status says nothing of a message).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyStatus, testCancelled } from "./request.ts";
 * assert.equal(testCancelled(emptyStatus(0)), false);
 * assert.equal(testCancelled({ ...emptyStatus(-1), cancelled: true }), true);
 * ```
 */
export function testCancelled(status: Status): boolean {
  return status.cancelled === true;
}

/**
 * `MPI_Get_count`: how many whole elements of `datatype` `bytes` hold, or
 * `UNDEFINED` when they are not a whole number of them (MPI-3.1 §3.2.5: "If
 * the number of entries received exceeds the limits of the count parameter,
 * ... or if the size of the datatype is not a divisor of the number of
 * bytes received, then MPI_GET_COUNT sets the value of count to
 * MPI_UNDEFINED").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PROC_NULL, UNDEFINED } from "./constants.ts";
 * import { getCount } from "./request.ts";
 * assert.equal(getCount(8, "int32"), 2);
 * assert.equal(getCount(6, "int32"), UNDEFINED); // one and a half int32s
 * ```
 */
export function getCount(bytes: number, datatype: Datatype): number {
  const size = typeSize(datatype);
  return bytes % size === 0 ? bytes / size : UNDEFINED;
}

/**
 * The status of a request on `MPI_PROC_NULL` or of a send (MPI-3.1 §3.11).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyStatus } from "./request.ts";
 * assert.deepEqual(emptyStatus(-2), { source: -2, tag: -1, bytes: 0, count: 0 });
 * ```
 */
export function emptyStatus(source: number): Status {
  return { source, tag: -1, bytes: 0, count: 0 };
}

/**
 * A non-blocking operation in progress.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Request } from "./request.ts";
 * const r = new Request("send", 0, "MPI_Isend");
 * assert.equal(r.done, false);
 * r.complete({ source: 0, tag: 1, bytes: 0, count: 0 });
 * assert.equal(r.done, true);
 * ```
 */
export class Request {
  /** Identifier carried in rendezvous packets (per process, so runs repeat byte for byte). */
  readonly id: number;
  #status: Status | undefined;
  #error: MpiError | undefined;
  #returned = false;

  /**
   * @param kind send, receive, a non-blocking collective (`coll`) or a request-based RMA operation (`rma`: `win.rput`, …)
   * @param rank world rank of the process that owns it
   * @param what the call that made it (for error messages)
   * @param id identifier in rendezvous packets (unique among the process's pending requests; 0: none)
   */
  constructor(
    readonly kind: "send" | "recv" | "coll" | "rma",
    readonly rank: number,
    readonly what: string,
    id = 0,
  ) {
    this.id = id;
  }

  /** Whether it has completed (successfully or not). */
  get done(): boolean {
    return this.#status !== undefined;
  }

  /** Its status once done. */
  get status(): Status | undefined {
    return this.#status;
  }

  /** @internal complete with `status` */
  complete(status: Status): void {
    if (this.#status) return;
    this.#status = status;
  }

  /** @internal complete with an error (the status carries it) */
  fail(error: MpiError, status: Status): void {
    if (this.#status) return;
    this.#error = error;
    this.#status = { ...status, error };
    // The first failure an error reports is the one whose status it carries (an error a
    // schedule passes on from one of its receives keeps that receive's).
    error.status ??= { ...status };
  }

  /** The error it completed with, if any. */
  get error(): MpiError | undefined {
    return this.#error;
  }

  /**
   * @internal A completion call returned it, or `requestFree` freed it: MPI_REQUEST_NULL from
   * then on (MPI-3.1 §3.7.3). A mark on the request, not a set of them beside it: a weak set
   * cost every completion an insertion and every collection its ephemeron table.
   */
  get returned(): boolean {
    return this.#returned;
  }

  /** @internal see {@link returned} */
  markReturned(): void {
    this.#returned = true;
  }
}

/**
 * A persistent request (MPI-3.1 §3.9): made once by `comm.sendInit`,
 * `comm.ssendInit` or `comm.recvInit` with every argument of the
 * communication, then started any number of times (`comm.start`,
 * `comm.startall`). Each start begins one operation; a completion call
 * (`wait`, `test`, …) that returns its status makes the request *inactive*
 * again, not MPI_REQUEST_NULL: it can be started again, and waiting on it
 * while inactive returns the empty status at once. `comm.requestFree`
 * releases it for good (an operation under way is allowed to finish).
 * `done` is true whenever nothing is pending (inactive, or its operation has
 * completed); `status` and `error` are those of the last operation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PersistentRequest, Request } from "./request.ts";
 * const p = new PersistentRequest("send", 0, "MPI_Send_init", () => {
 *   const r = new Request("send", 0, "MPI_Send_init");
 *   r.complete({ source: 0, tag: -1, bytes: 0, count: 0 });
 *   return Promise.resolve(r);
 * });
 * assert.equal(p.active, false);
 * await p.begin();
 * assert.equal(p.active && p.done, true);
 * p.deactivate();
 * assert.equal(p.active, false);
 * ```
 */
export class PersistentRequest extends Request {
  #op: Request | undefined;
  #active = false;
  #freed = false;

  /**
   * @param kind send or receive
   * @param rank world rank of the process that owns it
   * @param what the call that made it (for error messages)
   * @param post begins one operation with the request's arguments
   * @param onRelease called once by `comm.requestFree` (drops the request's hold on its communicator)
   */
  constructor(
    kind: "send" | "recv",
    rank: number,
    what: string,
    readonly post: () => Promise<Request>,
    onRelease?: () => void,
  ) {
    super(kind, rank, what);
    this.#onRelease = onRelease;
  }

  #onRelease: (() => void) | undefined;

  /** Whether an operation was started and its status not yet returned by a completion call. */
  get active(): boolean {
    return this.#active;
  }

  /** Whether `comm.requestFree` released it (it is MPI_REQUEST_NULL from then on). */
  get freed(): boolean {
    return this.#freed;
  }

  /** The operation of the current (or last) start. */
  get op(): Request | undefined {
    return this.#op;
  }

  /** Nothing pending: inactive, or its operation has completed. */
  override get done(): boolean {
    return !this.#active || (this.#op?.done ?? false);
  }

  /** The status of the last operation, once it completed. */
  override get status(): Status | undefined {
    return this.#op?.status;
  }

  /** The error the last operation completed with, if any. */
  override get error(): MpiError | undefined {
    return this.#op?.error;
  }

  /** @internal begin one operation (the caller checked it is inactive) */
  async begin(): Promise<void> {
    this.#active = true;
    this.#op = undefined;
    try {
      this.#op = await this.post();
    } catch (e) {
      this.#active = false;
      throw e;
    }
  }

  /** @internal a completion call returned its status: inactive again */
  deactivate(): void {
    this.#active = false;
  }

  /** @internal `comm.requestFree` */
  release(): void {
    this.#freed = true;
    this.#onRelease?.();
  }

  /** @internal operations are begun, never completed directly */
  override complete(_status: Status): void {
    throw new Error("a persistent request completes through its operation");
  }

  /** @internal operations are begun, never completed directly */
  override fail(_error: MpiError, _status: Status): void {
    throw new Error("a persistent request completes through its operation");
  }
}

/**
 * A message taken off the unexpected queue by a matched probe
 * (`comm.mprobe`, `comm.improbe`; MPI-3.1 §3.8.2): no other receive can
 * match it any more; `comm.mrecv` or `comm.imrecv` receives it, once.
 * `status` is what the probe returned (`count` in bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MESSAGE_NO_PROC, Message } from "./request.ts";
 * const m = new Message(0, { source: 1, tag: 3, bytes: 8, count: 8 }, "entry");
 * assert.equal(m.received, false);
 * assert.equal(m.take(), "entry");
 * assert.equal(m.received, true);
 * assert.equal(MESSAGE_NO_PROC.status.source, -2);
 * ```
 */
export class Message {
  #entry: unknown;
  #received = false;

  /**
   * @param rank world rank of the process that probed it (−1: MPI_MESSAGE_NO_PROC)
   * @param status what the probe returned
   * @param entry the matching engine's record of the message
   */
  constructor(readonly rank: number, readonly status: Status, entry?: unknown) {
    this.#entry = entry;
  }

  /** Whether `mrecv`/`imrecv` has received it (the handle is MPI_MESSAGE_NULL then). */
  get received(): boolean {
    return this.#received;
  }

  /** @internal the engine's record, once (MPI_MESSAGE_NULL afterwards) */
  take(): unknown {
    this.#received = true;
    const e = this.#entry;
    this.#entry = undefined;
    return e;
  }
}

/**
 * `MPI_MESSAGE_NO_PROC`: what a matched probe of `PROC_NULL` returns; a
 * matched receive of it completes at once with the status of a receive from
 * PROC_NULL (MPI-3.1 §3.8.2, §3.8.3). It can be received any number of times.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MESSAGE_NO_PROC } from "./request.ts";
 * assert.deepEqual(MESSAGE_NO_PROC.status, { source: -2, tag: -1, bytes: 0, count: 0 });
 * ```
 */
export const MESSAGE_NO_PROC: Message = new Message(-1, Object.freeze(emptyStatus(PROC_NULL)));

/**
 * `MPI_ERR_IN_STATUS` (MPI-3.1 §3.7.5): what `waitall`, `testall`,
 * `waitsome` and `testsome` raise, under an error handler other than
 * ERRORS_ARE_FATAL, when some of the requests they completed failed:
 * `statuses` has one status per request completed, in order, each failed
 * one with its error in `error`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MpiError } from "./errors.ts";
 * import { InStatusError } from "./request.ts";
 * const bad = new MpiError("MPI_ERR_TRUNCATE", "message of 8 bytes");
 * const e = new InStatusError("MPI_Waitall on rank 0: 1 of 2 requests failed", [
 *   { source: 1, tag: 0, bytes: 4, count: 1 },
 *   { source: 1, tag: 1, bytes: 4, count: 1, error: bad },
 * ]);
 * assert.equal(e.code, "MPI_ERR_IN_STATUS");
 * assert.ok(e instanceof MpiError);
 * assert.deepEqual(e.statuses.map((s) => s.error?.code), [undefined, "MPI_ERR_TRUNCATE"]);
 * ```
 */
export class InStatusError extends MpiError {
  /**
   * @param detail what failed (one line; the code is prefixed)
   * @param statuses the statuses of the requests completed, in order
   */
  constructor(detail: string, readonly statuses: readonly Status[]) {
    super("MPI_ERR_IN_STATUS", detail);
  }
}

/**
 * A receive as the matching engine sees it: the match triple and where the
 * data goes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsRegion } from "./buffer.ts";
 * import { Request } from "./request.ts";
 * import type { PostedRecv } from "./request.ts";
 * const p: PostedRecv = { req: new Request("recv", 0, "MPI_Irecv"), context: 0, source: -1, tag: 5,
 *   region: new JsRegion(new Uint8Array(8)), datatype: "uint8" };
 * assert.equal(p.source, -1);
 * ```
 */
export interface PostedRecv {
  /** The request to complete. */
  req: Request;
  /** Communicator context id. */
  context: number;
  /** Source rank in the communicator or ANY_SOURCE. */
  source: number;
  /** Tag or ANY_TAG. */
  tag: number;
  /** Where the data goes. */
  region: import("./buffer.ts").Region;
  /** Element type of the receive buffer (for `Status.count`). */
  datatype: Datatype;
}

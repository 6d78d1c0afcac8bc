/**
 * Requests and statuses (MPI-3.1 §3.7): a non-blocking send or receive
 * returns a {@link Request}; `comm.wait` and friends return its
 * {@link Status}. A request completes inside the library's progress engine;
 * it never completes by itself between MPI calls (MVAPICH's progress rule:
 * no asynchronous progress thread).
 *
 * @module
 */
import { UNDEFINED } from "./constants.ts";
import { type Datatype, typeSize } from "./datatype.ts";
import type { MpiError } from "./errors.ts";

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
 * import { UNDEFINED } from "./constants.ts";
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

  /**
   * @param kind send or receive
   * @param rank world rank of the process that owns it
   * @param what the call that made it (for error messages)
   * @param id identifier in rendezvous packets (unique among the process's pending requests; 0: none)
   */
  constructor(
    readonly kind: "send" | "recv",
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
  }

  /** The error it completed with, if any. */
  get error(): MpiError | undefined {
    return this.#error;
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

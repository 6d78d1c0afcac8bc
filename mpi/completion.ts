/**
 * Completing requests (MPI-3.1 §3.7.3–§3.7.5, §3.8.4, §3.9): wait and test
 * in their single, any, all and some forms, starting persistent requests,
 * freeing and cancelling. A request a completion call has returned is
 * MPI_REQUEST_NULL from then on; this module alone keeps that record.
 *
 * @module
 */
import type { CommCore } from "./comm_core.ts";
import { ANY_SOURCE, UNDEFINED } from "./constants.ts";
import { MpiError } from "./errors.ts";
import { emptyStatus, InStatusError, PersistentRequest, Request, type Status } from "./request.ts";

/**
 * What `waitsome` and `testsome` return: how many requests completed
 * (`outcount`; UNDEFINED when none was active), their indices in the array
 * and their statuses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Some } from "./completion.ts";
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
 * Wait for `req` (a request of this rank) and return its status, or throw
 * the error it completed with; the request is then MPI_REQUEST_NULL (a
 * persistent one inactive). `label` names the wait in a deadlock report.
 * The blocking calls and the collectives complete their requests with it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * // comm.wait is finish() behind the communicator's error handler.
 * const { results } = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   const v = new Int32Array([comm.rank]);
 *   const req = comm.rank === 0 ? await comm.isend(v, 1, 3) : await comm.irecv(v, 0, 3);
 *   const st = await comm.wait(req);
 *   const again = await comm.wait(req); // MPI_REQUEST_NULL now: the empty status
 *   return [st.source, again.source, v[0]];
 * });
 * assert.deepEqual(results[1], [0, -1, 0]);
 * ```
 */
export async function finish(
  c: CommCore,
  req: Request,
  label: string,
): Promise<Status> {
  own(c, req, label);
  // MPI-3.1 §3.7.3: a completion call that returns a request's status
  // deallocates it and sets the handle to MPI_REQUEST_NULL; "One is
  // allowed to call MPI_WAIT with a null or inactive request argument. In
  // this case the operation returns immediately with empty status."
  // §3.9: an inactive persistent request is treated the same way.
  if (!isActive(req)) return nullStatus();
  if (!req.done) await c.proc.ch.waitFor(() => req.done, label);
  if (req instanceof PersistentRequest) req.deactivate();
  else req.markReturned();
  if (req.error) throw req.error;
  return req.status!;
}

function own(c: CommCore, req: Request, label: string): void {
  if (!(req instanceof Request)) {
    throw new MpiError(
      "MPI_ERR_REQUEST",
      `${label} on rank ${c.rank}: not a request (give what isend or irecv returned)`,
    );
  }
  if (req.rank !== c.proc.rank) {
    throw new MpiError(
      "MPI_ERR_REQUEST",
      `${label} on rank ${c.rank}: the request belongs to rank ${req.rank}`,
    );
  }
}

function startable(c: CommCore, req: Request, what: string): PersistentRequest {
  own(c, req, what);
  if (!(req instanceof PersistentRequest)) {
    throw new MpiError(
      "MPI_ERR_REQUEST",
      `${what} on rank ${c.rank}: ${req.what}'s request is not persistent (make one with sendInit, ssendInit or recvInit)`,
    );
  }
  if (req.freed) {
    throw new MpiError(
      "MPI_ERR_REQUEST",
      `${what} on rank ${c.rank}: the ${req.what} request was freed`,
    );
  }
  // MPI-3.1 §3.9: "The request becomes active once the call is made"; starting
  // an active one is erroneous (MPICH: MPI_ERR_REQUEST).
  if (req.active) {
    throw new MpiError(
      "MPI_ERR_REQUEST",
      `${what} on rank ${c.rank}: the ${req.what} request is active (complete it with wait or test first)`,
    );
  }
  return req;
}

async function start<E extends MpiError>(c: CommCore<E>, req: Request): Promise<void | E> {
  const what = "MPI_Start";
  try {
    c.check(what);
    await startable(c, req, what).begin();
  } catch (e) {
    return c.raise(e);
  }
}

async function startall<E extends MpiError>(
  c: CommCore<E>,
  reqs: readonly Request[],
): Promise<void | E> {
  const what = "MPI_Startall";
  try {
    c.check(what);
    const ps = reqs.map((r) => startable(c, r, what));
    if (new Set(ps).size !== ps.length) {
      throw new MpiError(
        "MPI_ERR_REQUEST",
        `${what} on rank ${c.rank}: a request appears twice in the array`,
      );
    }
    for (const p of ps) await p.begin();
  } catch (e) {
    return c.raise(e);
  }
}

/** The checks of a call on one request of this communicator that must not be MPI_REQUEST_NULL. */
function notNull(c: CommCore, req: Request, what: string, is: "is" | "is already"): void {
  c.check(what);
  own(c, req, what);
  if (isNull(req)) {
    throw new MpiError(
      "MPI_ERR_REQUEST",
      `${what} on rank ${c.rank}: the ${req.what} request ${is} MPI_REQUEST_NULL (completed by a wait or test, or freed)`,
    );
  }
}

/**
 * MPI-3.1 §5.12 (MPI 4.0 §6.12): "It is erroneous to call MPI_REQUEST_FREE or
 * MPI_CANCEL for a request associated with a nonblocking collective
 * operation." The standard names no error class. MPICH's MPIR_Cancel_impl
 * (src/mpi/request/request_impl.c) reaches its default case for a COLL
 * request, MPI_ERR_INTERN "**cancelunknown"; that class means a fault of the
 * implementation, and this is the caller's misuse of a request, so it is
 * MPI_ERR_REQUEST here (as for RMA requests, {@link notRma}).
 */
function notCollective(c: CommCore, req: Request, what: string): void {
  if (req.kind === "coll") {
    throw new MpiError(
      "MPI_ERR_REQUEST",
      `${what} on rank ${c.rank}: the ${req.what} request is a non-blocking collective's (complete it with wait or test)`,
    );
  }
}

function requestFree<E extends MpiError>(c: CommCore<E>, req: Request): void | E {
  const what = "MPI_Request_free";
  try {
    notNull(c, req, what, "is already");
    notCollective(c, req, what);
    if (req instanceof PersistentRequest) req.release();
    else req.markReturned();
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * MPI_Cancel marks "a pending, nonblocking communication operation (send
 * or receive)" (MPI-3.1 §3.8.4); an RMA request's operation is neither, and
 * MPICH (MPIR_Cancel_impl: "**cancelunknown") and Open MPI's osc/ucx
 * (MPI_ERR_REQUEST) refuse it.
 */
function notRma(c: CommCore, req: Request, what: string): void {
  if (req.kind === "rma") {
    throw new MpiError(
      "MPI_ERR_REQUEST",
      `${what} on rank ${c.rank}: the ${req.what} request is a one-sided operation's, which cannot be cancelled (complete it with wait or test)`,
    );
  }
}

function cancel<E extends MpiError>(c: CommCore<E>, req: Request): void | E {
  const what = "MPI_Cancel";
  try {
    notNull(c, req, what, "is");
    notCollective(c, req, what);
    notRma(c, req, what);
    // MPI 4.0 §3.8.4: MPI_CANCEL marks "a pending, nonblocking communication operation"; an
    // inactive persistent request (never started, or its status already returned) has none.
    // MPICH refuses it: MPIR_Cancel_impl (src/mpi/request/request_impl.c), PREQUEST_SEND/RECV
    // with no real_request: MPI_ERR_REQUEST "**cancelinactive" ("Attempt to cancel an
    // inactive persistent request").
    if (req instanceof PersistentRequest && !req.active) {
      throw new MpiError(
        "MPI_ERR_REQUEST",
        `${what} on rank ${c.rank}: the ${req.what} request is inactive (start it first; only an operation under way can be cancelled)`,
      );
    }
    const op = req instanceof PersistentRequest ? req.op : req;
    if (op) c.proc.p2p.cancel(op);
  } catch (e) {
    return c.raise(e);
  }
}

async function wait<E extends MpiError>(c: CommCore<E>, req: Request): Promise<Status | E> {
  try {
    c.check("MPI_Wait");
    return await finish(c, req, req instanceof Request ? `MPI_Wait(${req.what})` : "MPI_Wait");
  } catch (e) {
    return c.raise(e);
  }
}

async function waitall<E extends MpiError>(
  c: CommCore<E>,
  reqs: readonly Request[],
): Promise<Status[] | E> {
  try {
    c.check("MPI_Waitall");
    for (const r of reqs) own(c, r, "MPI_Waitall");
    return await finishAll(c, reqs, "MPI_Waitall");
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * Complete every request of `reqs`, in order, for `what` (MPI_Waitall, or
 * MPI_Testall once all are done): their statuses, or MPI_ERR_IN_STATUS
 * naming `what` when any failed (under ERRORS_ARE_FATAL the first error).
 */
async function finishAll<E extends MpiError>(
  c: CommCore<E>,
  reqs: readonly Request[],
  what: string,
): Promise<Status[]> {
  const out: Status[] = [], failed: MpiError[] = [];
  const label = `${what}(${reqs.length} requests)`;
  const fatal = c.fatal();
  for (const r of reqs) {
    out.push(fatal ? await finish(c, r, label) : await finishKeeping(c, r, label, failed));
  }
  if (failed.length > 0) throw inStatus(what, c.rank, out, failed);
  return out;
}

/** {@link finish} of `reqs[index]` for waitany/testany: an error names the index (`MpiError.index`). */
async function finishAt(
  c: CommCore,
  reqs: readonly Request[],
  index: number,
  what: string,
): Promise<Status> {
  try {
    return await finish(c, reqs[index], what);
  } catch (e) {
    if (e instanceof MpiError) e.index = index;
    throw e;
  }
}

async function waitany<E extends MpiError>(
  c: CommCore<E>,
  reqs: readonly Request[],
): Promise<{ index: number; status: Status } | E> {
  try {
    c.check("MPI_Waitany");
    for (const r of reqs) own(c, r, "MPI_Waitany");
    const live = () => reqs.findIndex((r) => isActive(r) && r.done);
    if (!reqs.some(isActive)) return { index: UNDEFINED, status: nullStatus() };
    if (live() < 0) {
      await c.proc.ch.waitFor(() => live() >= 0, `MPI_Waitany(${reqs.length} requests)`);
    }
    const index = live();
    return { index, status: await finishAt(c, reqs, index, "MPI_Waitany") };
  } catch (e) {
    return c.raise(e);
  }
}

async function test<E extends MpiError>(
  c: CommCore<E>,
  req: Request,
): Promise<Status | undefined | E> {
  try {
    c.check("MPI_Test");
    own(c, req, "MPI_Test");
    // MPI 4.0 §3.7.3: "One is allowed to call MPI_TEST with a null or inactive request
    // argument. In such a case the operation returns with flag = true and empty status." A
    // request freed while its operation is still under way is null too (MPICH MPI_Test:
    // MPI_REQUEST_NULL or !MPIR_Request_is_active → flag 1, empty status); it was flag false.
    const pending = () => isActive(req) && !req.done;
    if (pending()) await c.proc.ch.poll();
    if (pending()) return undefined;
    return await finish(c, req, "MPI_Test");
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * `MPI_Request_get_status` (MPI 4.0 §3.7.3): "Sets flag = true if the operation is complete,
 * and, if so, returns in status the request status. However, unlike test or wait, it does
 * not deallocate or inactivate the request"; on a null or inactive request, flag = true and
 * the empty status. It makes progress once when the request is pending, as MPI_Test does
 * (MPICH: MPIR_Test). An operation that failed gives its error, the request kept as well.
 */
async function requestGetStatus<E extends MpiError>(
  c: CommCore<E>,
  req: Request,
): Promise<Status | undefined | E> {
  try {
    const what = "MPI_Request_get_status";
    c.check(what);
    own(c, req, what);
    if (!isActive(req)) return nullStatus();
    if (!req.done) await c.proc.ch.poll();
    if (!req.done) return undefined;
    if (req.error) throw req.error;
    return { ...req.status! };
  } catch (e) {
    return c.raise(e);
  }
}

async function testall<E extends MpiError>(
  c: CommCore<E>,
  reqs: readonly Request[],
): Promise<Status[] | undefined | E> {
  try {
    c.check("MPI_Testall");
    for (const r of reqs) own(c, r, "MPI_Testall");
    // MPI 4.0 §3.7.5: flag = true "if all communications associated with active handles in
    // the array have completed"; a request freed with its operation pending is null, not active.
    const pending = () => reqs.some((r) => isActive(r) && !r.done);
    if (pending()) await c.proc.ch.poll();
    if (pending()) return undefined;
    return await finishAll(c, reqs, "MPI_Testall");
  } catch (e) {
    return c.raise(e);
  }
}

async function testany<E extends MpiError>(
  c: CommCore<E>,
  reqs: readonly Request[],
): Promise<{ index: number; status: Status } | undefined | E> {
  try {
    const what = "MPI_Testany";
    c.check(what);
    for (const r of reqs) own(c, r, what);
    if (!reqs.some(isActive)) return { index: UNDEFINED, status: nullStatus() };
    const first = () => reqs.findIndex((r) => isActive(r) && r.done);
    if (first() < 0) await c.proc.ch.poll();
    const index = first();
    if (index < 0) return undefined;
    return { index, status: await finishAt(c, reqs, index, what) };
  } catch (e) {
    return c.raise(e);
  }
}

/** `MPI_Waitsome`, or `MPI_Testsome` when not `blocking`. */
async function waitsome<E extends MpiError>(
  c: CommCore<E>,
  reqs: readonly Request[],
  blocking: boolean,
): Promise<Some | E> {
  try {
    const what = blocking ? "MPI_Waitsome" : "MPI_Testsome";
    c.check(what);
    for (const r of reqs) own(c, r, what);
    if (!reqs.some(isActive)) return { outcount: UNDEFINED, indices: [], statuses: [] };
    const any = () => reqs.some((r) => isActive(r) && r.done);
    if (!any()) {
      if (blocking) await c.proc.ch.waitFor(any, `${what}(${reqs.length} requests)`);
      else await c.proc.ch.poll();
    }
    return await some(c, reqs, what);
  } catch (e) {
    return c.raise(e);
  }
}

async function some(c: CommCore, reqs: readonly Request[], what: string): Promise<Some> {
  const indices: number[] = [], statuses: Status[] = [], failed: MpiError[] = [];
  const fatal = c.fatal();
  for (const [i, r] of reqs.entries()) {
    if (!isActive(r) || !r.done) continue;
    statuses.push(fatal ? await finish(c, r, what) : await finishKeeping(c, r, what, failed));
    indices.push(i);
  }
  if (failed.length > 0) throw inStatus(what, c.rank, statuses, failed);
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
async function finishKeeping(
  c: CommCore,
  r: Request,
  label: string,
  failed: MpiError[],
): Promise<Status> {
  try {
    return await finish(c, r, label);
  } catch (e) {
    if (!(e instanceof MpiError) || e === c.proc.ch.failure || !r.status) throw e;
    failed.push(e);
    return r.status;
  }
}

/** MPI_REQUEST_NULL: returned by a completion call, or freed. */
function isNull(r: Request): boolean {
  return r instanceof PersistentRequest ? r.freed : r.returned;
}

/**
 * Active (MPI-3.1 §3.7.5, §3.9): neither null nor an inactive persistent
 * request; completion calls treat the others as MPI_REQUEST_NULL.
 */
function isActive(r: Request): boolean {
  return r instanceof PersistentRequest ? !r.freed && r.active : !r.returned;
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

/**
 * The empty status (MPI-3.1 §3.7.3): "source = MPI_ANY_SOURCE, tag =
 * MPI_ANY_TAG, ... MPI_GET_COUNT ... return count = 0".
 */
function nullStatus(): Status {
  return emptyStatus(ANY_SOURCE);
}

/**
 * The completion calls, as `Comm`'s methods of the same names forward to
 * them with the communicator's {@link CommCore}; `waitsome` serves
 * `testsome` too (`blocking` false).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UNDEFINED } from "./constants.ts";
 * import { mpiexec } from "./launch.ts";
 * const { results } = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   const v = new Int32Array([comm.rank]);
 *   const reqs = [comm.rank === 0 ? await comm.isend(v, 1) : await comm.irecv(v, 0)];
 *   const some = await comm.waitsome(reqs);
 *   const none = await comm.testsome(reqs); // every request returned already
 *   return [some.outcount, none.outcount === UNDEFINED];
 * });
 * assert.deepEqual(results, [[1, true], [1, true]]);
 * ```
 */
export const completion = {
  wait,
  waitall,
  waitany,
  waitsome,
  test,
  testall,
  testany,
  requestGetStatus,
  start,
  startall,
  requestFree,
  cancel,
} as const;

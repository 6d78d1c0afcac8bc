/**
 * The point-to-point calls that move a message (MPI-3.1 §3.4–§3.10):
 * sends in the four modes of MPI-4.0 §3.4 (standard, synchronous, buffered,
 * ready), receives, their non-blocking and persistent forms, and
 * `sendrecv`. They check the envelope and hand the message to the
 * process's engine (pt2pt.ts) on the communicator's point-to-point context,
 * 2·id, which no collective uses; a buffered send goes through the attached
 * buffer first (bsend.ts).
 *
 * @module
 */
import { bufferedSend } from "./bsend.ts";
import { type Buf, type Region, toRegion } from "./buffer.ts";
import { checkEnvelope, type CommCore } from "./comm_core.ts";
import { PROC_NULL } from "./constants.ts";
import type { Datatype } from "./datatype.ts";
import type { MpiError } from "./errors.ts";
import { finish } from "./completion.ts";
import { emptyStatus, PersistentRequest, Request, type Status } from "./request.ts";

/**
 * A request to or from PROC_NULL: complete at once, with the status of a
 * receive from PROC_NULL (MPI-3.1 §3.11).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PROC_NULL } from "./constants.ts";
 * import { procNullRequest } from "./send_recv.ts";
 * const r = procNullRequest("recv", 0, "MPI_Irecv");
 * assert.equal(r.done, true);
 * assert.deepEqual([r.status?.source, r.status?.bytes], [PROC_NULL, 0]);
 * ```
 */
export function procNullRequest(kind: "send" | "recv", rank: number, what: string): Request {
  const req = new Request(kind, rank, what);
  req.complete(emptyStatus(PROC_NULL));
  return req;
}

/**
 * MPI's send modes (MPI-4.0 §3.4). `ready` is sent as `standard`: a ready
 * send is correct only if the matching receive is already posted, and then
 * a standard send does the same; MPICH's ch4 device (`MPID_Irsend` is its
 * `MPID_Isend`) and MVAPICH2 over PSM send it so. Whether the receive was
 * posted is not checked (MPI-4.0 §3.4: "otherwise, the operation is
 * erroneous and its outcome is undefined").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { SendMode } from "./send_recv.ts";
 * const modes: SendMode[] = ["standard", "synchronous", "buffered", "ready"];
 * assert.equal(modes.length, 4);
 * ```
 */
export type SendMode = "standard" | "synchronous" | "buffered" | "ready";

/** The calls of each mode: blocking, non-blocking, persistent. */
const CALLS: Record<SendMode, readonly [string, string, string]> = {
  standard: ["MPI_Send", "MPI_Isend", "MPI_Send_init"],
  synchronous: ["MPI_Ssend", "MPI_Issend", "MPI_Ssend_init"],
  buffered: ["MPI_Bsend", "MPI_Ibsend", "MPI_Bsend_init"],
  ready: ["MPI_Rsend", "MPI_Irsend", "MPI_Rsend_init"],
};

function sendArgs(c: CommCore, what: string, buf: Buf, dest: number, tag: number): Region {
  checkEnvelope(c, what, dest, "destination", tag, false);
  return toRegion(buf, c.proc.rank, what).region;
}

function recvArgs(
  c: CommCore,
  what: string,
  buf: Buf,
  source: number,
  tag: number,
): { region: Region; datatype: Datatype } {
  checkEnvelope(c, what, source, "source", tag, true);
  return toRegion(buf, c.proc.rank, what);
}

async function startSend(
  c: CommCore,
  buf: Buf,
  dest: number,
  tag: number,
  mode: SendMode,
  what: string,
): Promise<Request> {
  const region = sendArgs(c, what, buf, dest, tag);
  // MPI-3.1 §3.11: to PROC_NULL every mode completes at once (MPICH returns
  // before looking for a bsend buffer: `.earlyreturn: pt2pt_proc_null`).
  if (dest === PROC_NULL) return procNullRequest("send", c.proc.rank, what);
  // A buffered send is a standard send of a copy in the attached buffer (bsend.ts).
  const buffered = mode === "buffered" ? bufferedSend(c, what) : undefined;
  try {
    const op = await c.proc.p2p.isend(
      region,
      c.group[dest],
      c.rank,
      tag,
      2 * c.contextId,
      what,
      mode === "synchronous",
      buffered?.stage,
    );
    return buffered ? buffered.sent(op) : op;
  } catch (e) {
    buffered?.failed();
    throw e;
  }
}

async function startRecv(
  c: CommCore,
  buf: Buf,
  source: number,
  tag: number,
  what: string,
): Promise<Request> {
  const { region, datatype } = recvArgs(c, what, buf, source, tag);
  if (source === PROC_NULL) return procNullRequest("recv", c.proc.rank, what);
  return await c.proc.p2p.irecv(region, datatype, source, tag, 2 * c.contextId, what);
}

/** `MPI_Send`, `MPI_Ssend`, `MPI_Bsend` or `MPI_Rsend`, by `mode`. */
async function send<E extends MpiError>(
  c: CommCore<E>,
  buf: Buf,
  dest: number,
  tag: number,
  mode: SendMode,
): Promise<void | E> {
  try {
    // An error names the call the program made (MPI_Ssend, not the
    // MPI_Issend it is built on; MPI_Recv below, MPI_Sendrecv, MPI_Mrecv in
    // probe.ts), as MPICH's does: its MPI_Send reports "MPI_Send(buf=...,
    // dest=5, ...) failed" (src/mpi/pt2pt/send.c, FCNAME "MPI_Send" and
    // "**mpi_send" in MPIR_Err_create_code), whatever it calls inside.
    const [blocking] = CALLS[mode];
    const req = await startSend(c, buf, dest, tag, mode, blocking);
    await finish(c, req, `${blocking}(dest ${dest}, tag ${tag})`);
  } catch (e) {
    return c.raise(e);
  }
}

async function recv<E extends MpiError>(
  c: CommCore<E>,
  buf: Buf,
  source: number,
  tag: number,
): Promise<Status | E> {
  try {
    const req = await startRecv(c, buf, source, tag, "MPI_Recv");
    return await finish(c, req, `MPI_Recv(source ${source}, tag ${tag})`);
  } catch (e) {
    return c.raise(e);
  }
}

/** `MPI_Isend`, `MPI_Issend`, `MPI_Ibsend` or `MPI_Irsend`, by `mode`. */
async function isend<E extends MpiError>(
  c: CommCore<E>,
  buf: Buf,
  dest: number,
  tag: number,
  mode: SendMode,
): Promise<Request | E> {
  try {
    return await startSend(c, buf, dest, tag, mode, CALLS[mode][1]);
  } catch (e) {
    return c.raise(e);
  }
}

async function irecv<E extends MpiError>(
  c: CommCore<E>,
  buf: Buf,
  source: number,
  tag: number,
): Promise<Request | E> {
  try {
    return await startRecv(c, buf, source, tag, "MPI_Irecv");
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * The communicator as a persistent request started later sees it: freeing the communicator
 * does not stop the request (MPI 4.1 §7.4.3: operations that use it, "whether active or
 * inactive at the time of this procedure call", continue to work; MPICH's persistent request
 * keeps a reference on it), so each start checks the process only.
 */
function holding<E extends MpiError>(c: CommCore<E>): CommCore<E> {
  return { ...c, check: (what) => c.proc.check(what) };
}

/**
 * `MPI_Send_init`, `MPI_Ssend_init`, `MPI_Bsend_init` or `MPI_Rsend_init`,
 * by `mode`: the arguments are checked now and the buffer again at each
 * start (MPI-3.1 §3.9); each start of a buffered one copies the message
 * into the attached buffer then (MPI-4.0 §3.9).
 */
function sendInit<E extends MpiError>(
  c: CommCore<E>,
  buf: Buf,
  dest: number,
  tag: number,
  mode: SendMode,
): PersistentRequest | E {
  const what = CALLS[mode][2];
  try {
    sendArgs(c, what, buf, dest, tag);
    const held = holding(c);
    return new PersistentRequest(
      "send",
      c.proc.rank,
      what,
      () => startSend(held, buf, dest, tag, mode, `MPI_Start(${what})`),
      c.proc.holdContext(c.contextId),
    );
  } catch (e) {
    return c.raise(e);
  }
}

function recvInit<E extends MpiError>(
  c: CommCore<E>,
  buf: Buf,
  source: number,
  tag: number,
): PersistentRequest | E {
  const what = "MPI_Recv_init";
  try {
    recvArgs(c, what, buf, source, tag);
    const held = holding(c);
    return new PersistentRequest(
      "recv",
      c.proc.rank,
      what,
      () => startRecv(held, buf, source, tag, `MPI_Start(${what})`),
      c.proc.holdContext(c.contextId),
    );
  } catch (e) {
    return c.raise(e);
  }
}

async function sendrecv<E extends MpiError>(
  c: CommCore<E>,
  sendbuf: Buf,
  dest: number,
  sendtag: number,
  recvbuf: Buf,
  source: number,
  recvtag: number,
): Promise<Status | E> {
  try {
    // Every argument of both halves is checked before the receive is
    // posted, as MPICH's MPI_Sendrecv checks the whole call (dest, source,
    // sendtag, recvtag, buffers: src/mpi/pt2pt/sendrecv.c's error-check
    // block, MPIR_ERRTEST_SEND_RANK … MPIR_ERRTEST_RECV_TAG) before its
    // MPID_Irecv: a bad destination found after the receive was posted left
    // a receive nobody waits for, which swallowed the next matching message
    // under ERRORS_RETURN.
    sendArgs(c, "MPI_Sendrecv", sendbuf, dest, sendtag);
    recvArgs(c, "MPI_Sendrecv", recvbuf, source, recvtag);
    const r = await startRecv(c, recvbuf, source, recvtag, "MPI_Sendrecv");
    const s = await startSend(c, sendbuf, dest, sendtag, "standard", "MPI_Sendrecv");
    const label = `MPI_Sendrecv(dest ${dest}, source ${source})`;
    await finish(c, s, label);
    return await finish(c, r, label);
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * The calls that send and receive, as `Comm`'s methods of the same names
 * forward to them with the communicator's {@link CommCore}; `send`,
 * `isend` and `sendInit` serve every send mode ({@link SendMode}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * const { results } = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   const out = new Int32Array([10 + comm.rank]), got = new Int32Array(1);
 *   const peer = 1 - comm.rank;
 *   const st = await comm.sendrecv(out, peer, 1, got, peer, 1);
 *   return [st.source, got[0]];
 * });
 * assert.deepEqual(results, [[1, 11], [0, 10]]);
 * ```
 */
export const sendRecv = {
  send,
  recv,
  isend,
  irecv,
  sendInit,
  recvInit,
  sendrecv,
} as const;

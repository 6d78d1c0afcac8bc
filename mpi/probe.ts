/**
 * Probing (MPI-3.1 §3.8): `probe` and `iprobe` look at a matching message
 * and leave it queued; `mprobe` and `improbe` take it off the queue as a
 * {@link Message} that only `mrecv` or `imrecv` can receive, so another
 * receive of the same rank cannot take it in between.
 *
 * @module
 */
import { type Buf, toRegion } from "./buffer.ts";
import { checkEnvelope, type CommCore } from "./comm_core.ts";
import { finish } from "./completion.ts";
import { PROC_NULL } from "./constants.ts";
import { MpiError } from "./errors.ts";
import { emptyStatus, Message, MESSAGE_NO_PROC, type Request, type Status } from "./request.ts";
import { procNullRequest } from "./send_recv.ts";

/**
 * What `mprobe` and `improbe` return: the message (to receive with `mrecv`
 * or `imrecv`) and its status (`count` in bytes, as `probe`'s).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Matched } from "./probe.ts";
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

function probeArgs(c: CommCore, what: string, source: number, tag: number): void {
  checkEnvelope(c, what, source, "source", tag, true);
}

async function probe<E extends MpiError>(
  c: CommCore<E>,
  source: number,
  tag: number,
): Promise<Status | E> {
  try {
    probeArgs(c, "MPI_Probe", source, tag);
    if (source === PROC_NULL) return emptyStatus(PROC_NULL);
    const ctx = 2 * c.contextId;
    let st = c.proc.p2p.probe(ctx, source, tag);
    if (!st) {
      await c.proc.ch.waitFor(
        () => (st = c.proc.p2p.probe(ctx, source, tag)) !== undefined,
        `MPI_Probe(source ${source}, tag ${tag})`,
      );
    }
    return st!;
  } catch (e) {
    return c.raise(e);
  }
}

async function iprobe<E extends MpiError>(
  c: CommCore<E>,
  source: number,
  tag: number,
): Promise<Status | undefined | E> {
  try {
    probeArgs(c, "MPI_Iprobe", source, tag);
    if (source === PROC_NULL) return emptyStatus(PROC_NULL);
    const ctx = 2 * c.contextId;
    const st = c.proc.p2p.probe(ctx, source, tag);
    if (st) return st;
    await c.proc.ch.poll();
    return c.proc.p2p.probe(ctx, source, tag);
  } catch (e) {
    return c.raise(e);
  }
}

async function mprobe<E extends MpiError>(
  c: CommCore<E>,
  source: number,
  tag: number,
): Promise<Matched | E> {
  try {
    probeArgs(c, "MPI_Mprobe", source, tag);
    if (source === PROC_NULL) return noProc();
    const ctx = 2 * c.contextId;
    let m = c.proc.p2p.mprobe(ctx, source, tag);
    if (!m) {
      await c.proc.ch.waitFor(
        () => (m = c.proc.p2p.mprobe(ctx, source, tag)) !== undefined,
        `MPI_Mprobe(source ${source}, tag ${tag})`,
      );
    }
    return { message: m!, status: m!.status };
  } catch (e) {
    return c.raise(e);
  }
}

async function improbe<E extends MpiError>(
  c: CommCore<E>,
  source: number,
  tag: number,
): Promise<Matched | undefined | E> {
  try {
    probeArgs(c, "MPI_Improbe", source, tag);
    if (source === PROC_NULL) return noProc();
    const ctx = 2 * c.contextId;
    let m = c.proc.p2p.mprobe(ctx, source, tag);
    if (!m) {
      await c.proc.ch.poll();
      m = c.proc.p2p.mprobe(ctx, source, tag);
    }
    return m ? { message: m, status: m.status } : undefined;
  } catch (e) {
    return c.raise(e);
  }
}

async function mrecv<E extends MpiError>(
  c: CommCore<E>,
  buf: Buf,
  message: Message,
): Promise<Status | E> {
  try {
    const req = await startMrecv(c, buf, message, "MPI_Mrecv");
    return await finish(c, req, "MPI_Mrecv");
  } catch (e) {
    return c.raise(e);
  }
}

async function imrecv<E extends MpiError>(
  c: CommCore<E>,
  buf: Buf,
  message: Message,
): Promise<Request | E> {
  try {
    return await startMrecv(c, buf, message, "MPI_Imrecv");
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * Start receiving `message` into `buf`; errors name `what`, the call the
 * program made (MPI_Mrecv or MPI_Imrecv).
 */
async function startMrecv(c: CommCore, buf: Buf, message: Message, what: string): Promise<Request> {
  c.check(what);
  const { region, datatype } = toRegion(buf, c.proc.rank, what);
  if (message === MESSAGE_NO_PROC) return procNullRequest("recv", c.proc.rank, what);
  if (!(message instanceof Message)) {
    throw new MpiError(
      "MPI_ERR_REQUEST",
      `${what} on rank ${c.rank}: not a message (give what mprobe or improbe returned)`,
    );
  }
  if (message.rank !== c.proc.rank) {
    throw new MpiError(
      "MPI_ERR_REQUEST",
      `${what} on rank ${c.rank}: the message was probed by rank ${message.rank}`,
    );
  }
  if (message.received) {
    throw new MpiError(
      "MPI_ERR_REQUEST",
      `${what} on rank ${c.rank}: the message was received already (it is MPI_MESSAGE_NULL)`,
    );
  }
  return await c.proc.p2p.mrecv(message.take(), region, datatype, what);
}

/** What a matched probe of PROC_NULL returns: MESSAGE_NO_PROC, with a status of its own. */
function noProc(): Matched {
  return { message: MESSAGE_NO_PROC, status: { ...MESSAGE_NO_PROC.status } };
}

/**
 * The probe calls, as `Comm`'s methods of the same names forward to them
 * with the communicator's {@link CommCore}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * const { results } = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   if (comm.rank === 0) return void await comm.send(new Float64Array([1.5, 2.5]), 1, 4);
 *   const { message, status } = await comm.mprobe(0, 4);
 *   const buf = new Float64Array(status.bytes / 8);
 *   await comm.mrecv(buf, message);
 *   return [...buf];
 * });
 * assert.deepEqual(results[1], [1.5, 2.5]);
 * ```
 */
export const probing = { probe, iprobe, mprobe, improbe, mrecv, imrecv } as const;

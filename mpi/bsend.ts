/**
 * Buffered mode (MPI-4.0 §3.4, §3.6): the buffer a process attaches
 * (`MPI_Buffer_attach`), the copy of each buffered message in it, and
 * `MPI_Buffer_detach`, which waits until the messages have left it.
 *
 * A buffered send (`bsend`, `ibsend`, a started `bsendInit`) copies the
 * message into the attached buffer, charged at the profile's memcpy rate
 * like every copy the library makes, and sends the copy with the standard
 * send path (pt2pt.ts): eager, rendezvous or to oneself as its size says.
 * The call is then complete (MPICH: "Ibsend is local-complete"); the space
 * is the message's until the send of the copy completes — at once for an
 * eager one, once its data has been transferred for a rendezvous one.
 *
 * The buffer is allocated as MPI-4.0 §3.6.2's model implementation does:
 * a circular queue of entries (`BSEND_OVERHEAD` bytes for the entry, then
 * the data), each placed right after the newest one, or at the start of the
 * buffer when too little is left at its end; space is reclaimed from the
 * oldest entry up to the first whose send has not completed. That is the
 * buffering §3.6.1 promises ("as if outgoing message data were buffered by
 * the sending process, in the specified buffer space, using a circular,
 * contiguous-space allocation policy"); MPICH's first-fit free list
 * (bsendutil.c) can place more around a slow message, a program cannot
 * count on that.
 *
 * @module
 */
import { type Buf, DomRegion, type Region, toRegion } from "./buffer.ts";
import type { CommCore } from "./comm_core.ts";
import { MpiError } from "./errors.ts";
import { emptyStatus, Request } from "./request.ts";

/**
 * `MPI_BSEND_OVERHEAD`: the bytes each buffered message takes in the
 * attached buffer beyond its data (MPI-4.0 §3.6.1: size the buffer as the
 * sum of each pending message's size plus this). 96 is MPICH's value on
 * 64-bit machines (and so MVAPICH2's): `mpi.h`'s MPI_BSEND_OVERHEAD is
 * `sizeof(MPII_Bsend_data_t)` (configure.ac; the struct is in
 * mpir_bsend.h), the header MPICH keeps in the buffer before each message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BSEND_OVERHEAD } from "./bsend.ts";
 * // A buffer for two pending 1 KiB messages.
 * assert.equal(2 * (1024 + BSEND_OVERHEAD), 2240);
 * ```
 */
export const BSEND_OVERHEAD = 96;

/** One buffered message: where its entry is and the send of its copy (undefined while posting). */
interface Entry {
  off: number;
  len: number;
  req?: Request;
}

/**
 * The buffer a process has attached (`MPI_Buffer_attach`): its bytes, and
 * the queue of buffered messages in it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsRegion } from "./buffer.ts";
 * import { AttachedBuffer, BSEND_OVERHEAD } from "./bsend.ts";
 * import { emptyStatus, Request } from "./request.ts";
 * const space = new Uint8Array(2 * (8 + BSEND_OVERHEAD));
 * const att = new AttachedBuffer(space, new JsRegion(space));
 * const staged = att.stage(new JsRegion(new Uint8Array(8).fill(5)), () => {});
 * assert.deepEqual([...space.subarray(BSEND_OVERHEAD, BSEND_OVERHEAD + 8)], Array(8).fill(5));
 * assert.equal(staged.copy.bytes, 8);
 * assert.equal(att.pending, 1); // until the send of the copy has completed
 * const sent = new Request("send", 0, "MPI_Isend");
 * staged.sending(sent);
 * sent.complete(emptyStatus(0));
 * assert.equal(att.pending, 0);
 * ```
 */
export class AttachedBuffer {
  #queue: Entry[] = [];

  /**
   * @param buf what the program attached (`bufferDetach` gives it back)
   * @param region its bytes
   */
  constructor(readonly buf: Buf, readonly region: Region) {}

  /** Bytes of the buffer. */
  get size(): number {
    return this.region.bytes;
  }

  /** Buffered messages whose space is not reclaimed yet. */
  get pending(): number {
    this.#reclaim();
    return this.#queue.length;
  }

  /**
   * MPI-4.0 §3.6.2: "Traverse sequentially the PME queue from head towards
   * the tail, deleting all entries for communications that have completed,
   * up to the first entry with an uncompleted request".
   */
  #reclaim(): void {
    while (this.#queue.length > 0 && this.#queue[0].req?.done) this.#queue.shift();
  }

  /**
   * Where an entry of `len` bytes goes, or undefined when it does not fit
   * (MPI-4.0 §3.6.2: "Find the next contiguous empty space of n bytes in
   * buffer (space following queue tail, or space at start of buffer if
   * queue tail is too close to end of buffer)").
   */
  #place(len: number): number | undefined {
    const q = this.#queue;
    if (q.length === 0) return len <= this.size ? 0 : undefined;
    const head = q[0].off, last = q[q.length - 1], tail = last.off + last.len;
    if (last.off >= head) {
      // Not wrapped: free space after the tail, then before the head.
      if (len <= this.size - tail) return tail;
      return len <= head ? 0 : undefined;
    }
    return len <= head - tail ? tail : undefined;
  }

  /**
   * Copy the message `src` into a new entry (calling `charge` with the
   * bytes copied). Returns the copy's region, from which it is sent, and
   * `sending`, to be given the request of that send: the entry's space is
   * reclaimed once it has completed.
   *
   * @throws MpiError MPI_ERR_BUFFER when the entry does not fit (`what`, `rank` name the call)
   */
  stage(
    src: Region,
    charge: (bytes: number) => void,
    what = "MPI_Ibsend",
    rank = 0,
  ): { copy: Region; sending(req: Request): void } {
    this.#reclaim();
    const bytes = src.bytes, len = bytes + BSEND_OVERHEAD;
    const off = this.#place(len);
    if (off === undefined) {
      // MPICH bsendutil.c: MPI_ERR_BUFFER ("**bufbsend") when no space is found.
      throw new MpiError(
        "MPI_ERR_BUFFER",
        `${what} on rank ${rank}: ${len} bytes (${bytes} + BSEND_OVERHEAD) do not fit the ${
          this.size - this.#used()
        } bytes free of the ${this.size}-byte attached buffer (${this.#queue.length} message(s) in it)`,
      );
    }
    const copy = this.region.sub(off + BSEND_OVERHEAD, bytes);
    copy.write(0, src.read(0, bytes));
    charge(bytes);
    const entry: Entry = { off, len };
    this.#queue.push(entry);
    return { copy, sending: (req) => void (entry.req = req) };
  }

  #used(): number {
    return this.#queue.reduce((n, e) => n + e.len, 0);
  }
}

function attach<E extends MpiError>(c: CommCore<E>, buf: Buf): void | E {
  const what = "MPI_Buffer_attach";
  try {
    c.check(what);
    const { region } = toRegion(buf, c.proc.rank, what);
    // MPICH ≤ 4.1 (and MVAPICH2, on MPICH 3) bsendutil.c: MPI_ERR_BUFFER for
    // a second buffer ("**bufexists"; MPI-4.0 §3.6.1: "Only one buffer can be
    // attached to a process at a time") and for one below MPI_BSEND_OVERHEAD
    // ("**bsendbufsmall").
    if (c.proc.attached) {
      throw new MpiError(
        "MPI_ERR_BUFFER",
        `${what} on rank ${c.rank}: a buffer is attached already (bufferDetach it first)`,
      );
    }
    if (region.bytes < BSEND_OVERHEAD) {
      throw new MpiError(
        "MPI_ERR_BUFFER",
        `${what} on rank ${c.rank}: ${region.bytes} bytes, less than BSEND_OVERHEAD (${BSEND_OVERHEAD})`,
      );
    }
    // In use until detached: comm.free refuses it meanwhile.
    if (region instanceof DomRegion && region.allocation) region.allocation.pins++;
    c.proc.attached = new AttachedBuffer(buf, region);
  } catch (e) {
    return c.raise(e);
  }
}

async function detach<E extends MpiError>(c: CommCore<E>): Promise<Buf | undefined | E> {
  const what = "MPI_Buffer_detach";
  try {
    c.check(what);
    const att = c.proc.attached;
    // MPICH's MPIR_Bsend_detach: nothing attached gives NULL and size 0.
    if (!att) return undefined;
    // MPI-4.0 §3.6.1: "The operation will block until all messages currently
    // in the buffer have been transmitted."
    if (att.pending > 0) {
      await c.proc.ch.waitFor(() => att.pending === 0, `${what} (${att.pending} message(s))`);
    }
    c.proc.attached = undefined;
    if (att.region instanceof DomRegion && att.region.allocation) att.region.allocation.pins--;
    return att.buf;
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * A buffered send's part (MPI-4.0 §3.4): the standard send path calls
 * `stage` in the send's turn, which copies the message into the attached
 * buffer and gives the copy to send instead; `sent` takes the request of
 * the copy's send and returns the buffered send's own, complete at once
 * (MPICH: "Ibsend is local-complete"); `failed` frees the entry of a send
 * that did not start.
 *
 * @throws MpiError MPI_ERR_BUFFER when no buffer is attached (and from `stage`, when the message does not fit)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * import { BSEND_OVERHEAD } from "./bsend.ts";
 * const { results } = await mpiexec({ np: 1, mode: "native" }, async (comm) => {
 *   comm.bufferAttach(new Uint8Array(4 + BSEND_OVERHEAD));
 *   const r = await comm.ibsend(new Int32Array([9]), 0, 1); // a bufferedSend
 *   const v = new Int32Array(1);
 *   await comm.recv(v, 0, 1);
 *   await comm.bufferDetach();
 *   return [r.done, v[0]];
 * });
 * assert.deepEqual(results, [[true, 9]]);
 * ```
 */
export function bufferedSend(c: CommCore, what: string): {
  stage(src: Region): Region;
  sent(op: Request): Request;
  failed(): void;
} {
  const p = c.proc, att = p.attached;
  if (!att) {
    // MPICH's MPIR_Bsend_isend: MPI_ERR_BUFFER ("**bufbsend") without a buffer.
    throw new MpiError(
      "MPI_ERR_BUFFER",
      `${what} on rank ${c.rank}: no buffer attached (bufferAttach one of the message's size + BSEND_OVERHEAD)`,
    );
  }
  const req = new Request("send", p.rank, what);
  req.complete(emptyStatus(c.rank));
  let sending: ((op: Request) => void) | undefined;
  return {
    stage: (src) => {
      const staged = att.stage(src, (n) => p.chargeCpu(n * p.params.copyNsPerByte), what, c.rank);
      sending = staged.sending;
      return staged.copy;
    },
    sent: (op) => {
      sending!(op);
      return req;
    },
    failed: () => sending?.(req), // the copy's send never started: its space is free
  };
}

/**
 * `MPI_Buffer_attach` and `MPI_Buffer_detach`, as `Comm`'s `bufferAttach`
 * and `bufferDetach` forward to them with the communicator's
 * {@link CommCore}. The buffer is the process's, whichever communicator
 * attached it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * import { BSEND_OVERHEAD } from "./bsend.ts";
 * const { results } = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   if (comm.rank === 1) return (await comm.recv(new Uint8Array(8), 0, 0)).bytes;
 *   const space = new Uint8Array(8 + BSEND_OVERHEAD);
 *   comm.bufferAttach(space);
 *   await comm.bsend(new Uint8Array(8), 1, 0);
 *   return (await comm.bufferDetach()) === space;
 * });
 * assert.deepEqual(results, [true, 8]);
 * ```
 */
export const buffering = { attach, detach } as const;

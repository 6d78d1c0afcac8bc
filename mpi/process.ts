/**
 * One MPI process (a rank of the job): its channel, point-to-point engine
 * and pin-down cache, the context ids its communicators use, scratch memory
 * for collectives, and its counters. Communicators are views of it.
 *
 * @module
 */
import type { Domain } from "../platform/mod.ts";
import type { AttachedBuffer } from "./bsend.ts";
import { DomRegion } from "./buffer.ts";
import type { Channel, ChannelCounters } from "./channel.ts";
import { MpiError } from "./errors.ts";
import type { MpiParams } from "./params.ts";
import type { MessageCounters, PointToPoint } from "./pt2pt.ts";
import type { RegCacheStats, RegistrationCache } from "./regcache.ts";
import { Schedules } from "./schedule.ts";

/**
 * Everything a process counts: messages by protocol, channel traffic and
 * credits, the pin-down cache, computation charged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   if (comm.rank === 0) await comm.send(new Uint8Array(100_000), 1, 0);
 *   else await comm.recv(new Uint8Array(100_000), 0, 0);
 * });
 * const c = job.counters[0];
 * assert.equal(c.rndvRput + c.rndvRget, 1);
 * assert.equal(c.bytesSent, 100_000);
 * ```
 */
export interface MpiCounters extends MessageCounters, ChannelCounters {
  /** The pin-down cache. */
  regCache: RegCacheStats;
  /** Virtual time charged by `compute`/`charge`, ns. */
  computeNs: number;
}

/** Context ids a process can hand out (each id makes a p2p and a collective context). */
const CONTEXT_IDS = 1024;

/**
 * Per-rank state shared by the rank's communicators.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * const job = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
 *   const sub = await comm.split(comm.rank === 0 ? 0 : 1);
 *   // Communicators are views of one process: same world rank, same counters.
 *   assert.equal(sub!.proc, comm.proc);
 *   return [comm.proc.rank, sub!.rank, comm.proc.takeScratch(100).bytes];
 * });
 * assert.deepEqual(job.results, [[0, 0, 100], [1, 0, 100], [2, 1, 100]]);
 * ```
 */
export class MpiProcess {
  /** Set by MPI_Finalize. */
  finalized = false;
  /** Virtual time charged by computation, ns. */
  computeNs = 0;
  /** The buffer for buffered sends (MPI_Buffer_attach: one per process), if any. */
  attached: AttachedBuffer | undefined;
  /** Non-blocking collectives in progress, advanced by the channel's progress engine. */
  readonly schedules: Schedules;
  #free = new Uint8Array(CONTEXT_IDS / 8).fill(0xff);
  /** Context ids of freed communicators whose operations were still pending. */
  #freeing = new Set<number>();
  /** Persistent requests not yet freed, by the context id of their communicator. */
  #held = new Map<number, number>();
  #scratch = new Map<number, DomRegion[]>();

  /**
   * @param dom the domain the rank runs in
   * @param rank world rank
   * @param size world size
   * @param params protocol parameters
   * @param ch its channel
   * @param p2p its point-to-point engine
   * @param cache its pin-down cache
   */
  constructor(
    readonly dom: Domain,
    readonly rank: number,
    readonly size: number,
    readonly params: MpiParams,
    readonly ch: Channel,
    readonly p2p: PointToPoint,
    readonly cache: RegistrationCache,
  ) {
    this.#free[0] &= ~1; // id 0: MPI_COMM_WORLD
    this.schedules = new Schedules(() => ch.kick());
    ch.work = this.schedules;
  }

  /** Throw if the process may not make MPI calls any more (finalized, aborted). */
  check(what: string): void {
    if (this.finalized) {
      throw new MpiError("MPI_ERR_OTHER", `${what} on rank ${this.rank} after MPI_Finalize`);
    }
    if (this.ch.failure) throw this.ch.failure;
  }

  /**
   * A copy of the free-context bitmask (bit set = id free here). The id of
   * a communicator freed with operations pending is free only once they
   * have completed ({@link releaseContext}).
   */
  contextMask(): Uint8Array {
    for (const id of this.#freeing) {
      if (this.#busy(id)) continue;
      this.#freeing.delete(id);
      this.markContext(id, false);
    }
    return this.#free.slice();
  }

  /**
   * MPI_Comm_free's release of context id `id` (MPI 4.0 §6.4.3: the
   * communicator is deallocated once its pending operations complete, as
   * MPICH releases the id when the last reference goes). While a receive
   * posted on its contexts or a non-blocking collective on it is pending,
   * the id stays taken: a new communicator with the same id would take its
   * messages (each communicator numbers its collectives' tags from 0), and
   * it theirs.
   */
  releaseContext(id: number): void {
    if (this.#busy(id)) this.#freeing.add(id);
    else this.markContext(id, false);
  }

  /**
   * A persistent request made on context id `id` holds it until `requestFree` (the returned
   * function, which releases once): MPI 4.1 §7.4.3, MPI_COMM_FREE: "Any operations that use the
   * communicator comm (whether active or inactive at the time of this procedure call) will
   * continue to work"; MPICH's psend_init (src/mpid/ch4/src/ch4_persist.c) takes a reference
   * on the communicator (MPIR_Comm_add_ref) that only the request's free drops.
   */
  holdContext(id: number): () => void {
    this.#held.set(id, (this.#held.get(id) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const n = this.#held.get(id)! - 1;
      if (n > 0) this.#held.set(id, n);
      else this.#held.delete(id);
    };
  }

  #busy(id: number): boolean {
    return this.schedules.runningOn(id) || this.p2p.postedOn(2 * id) ||
      this.p2p.postedOn(2 * id + 1) || this.#held.has(id);
  }

  /** Mark context id `id` used (`used` true) or free. */
  markContext(id: number, used: boolean): void {
    if (used) this.#free[id >> 3] &= ~(1 << (id & 7));
    else this.#free[id >> 3] |= 1 << (id & 7);
  }

  /** Scratch memory of at least `bytes` in domain memory (registered on first use, kept). */
  takeScratch(bytes: number): DomRegion {
    let cls = 4096;
    while (cls < bytes) cls *= 2;
    const list = this.#scratch.get(cls);
    const r = list?.pop();
    if (r) return r.sub(0, bytes);
    let addr: number;
    try {
      addr = this.dom.memory.alloc(cls, 4096);
    } catch (e) {
      throw new MpiError(
        "MPI_ERR_NO_MEM",
        `rank ${this.rank}: no memory for ${cls} bytes of collective scratch: ${
          (e as Error).message
        }`,
      );
    }
    return new DomRegion(this.dom.memory, addr, bytes);
  }

  /** Return scratch memory from {@link takeScratch}. */
  giveScratch(r: DomRegion): void {
    let cls = 4096;
    while (cls < r.bytes) cls *= 2;
    let list = this.#scratch.get(cls);
    if (!list) this.#scratch.set(cls, list = []);
    list.push(new DomRegion(r.memory, r.addr, cls));
  }

  /** Charge `ns` of CPU to the calling rank (paid at its next wait). */
  chargeCpu(ns: number): void {
    if (ns > 0) this.ch.cpu.charge(ns);
  }

  /** Everything counted so far. */
  counters(): MpiCounters {
    return {
      ...this.p2p.counters,
      ...this.ch.counters,
      regCache: this.cache.stats(),
      computeNs: this.computeNs,
    };
  }
}

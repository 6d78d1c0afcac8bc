/**
 * The device's DMA engine: timing of reads and writes across the host bus,
 * and the copy through MPT/MTT translation. Each direction of the bus is a
 * FIFO server of `profile.pci.bytesPerSec`; a read also waits the read
 * round trip (`dmaReadLatencyNs`), a write becomes visible
 * `dmaWriteLatencyNs` after its data crossed the bus.
 *
 * Why reads wait for earlier writes: PCI ordering forbids a read from
 * passing a posted write, so an RDMA READ or atomic that follows an RDMA
 * WRITE on the responder sees the written bytes (IBTA §9.5 ordering rules
 * rely on it).
 *
 * Reads overlap: many may be outstanding, only their data transfers
 * serialize. That is what lets a long RDMA WRITE stream at
 * min(bus, link) bandwidth: the read for packet n+1 runs while packet n is
 * on the wire.
 *
 * Per-byte and per-transaction costs are separate: a transfer of `n` bytes
 * holds its direction of the bus for `pci.transactionNs + n / pci.bytesPerSec`
 * (a PCI-X burst pays its address and attribute phases and a turnaround
 * whatever its length), so many small DMAs (small-MTU packets) move fewer
 * bytes per second than few large ones.
 *
 * With noise on, each transaction's latency gets an extra delay drawn from
 * the host's stream (memory and bridge contention); completions still
 * arrive in issue order.
 *
 * @module
 */

import type { Engine, EventLane } from "../sim/engine.ts";
import type { Profile } from "../sim/profiles/schema.ts";

/**
 * Bus timing for one HCA.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/pcix_sdr_2006.ts";
 * import { DmaBus } from "./dma.ts";
 * const pci = PCIX_SDR_2006.pci;
 * const bus = new DmaBus(new Engine(), pci);
 * const xfer = bus.transferNs(64);
 * const first = bus.readDoneAt(64), second = bus.readDoneAt(64);
 * assert.equal(first, 0 + pci.dmaReadLatencyNs + xfer); // latency plus transfer
 * assert.equal(second, xfer + pci.dmaReadLatencyNs + xfer); // the second waits for the bus
 * assert.equal(bus.bytesRead, 128);
 * ```
 */
export class DmaBus {
  #nsPerByte: number;
  #readFree = 0;
  #writeFree = 0;
  #lastVisible = 0;
  #lastRead = 0;
  /** Read completions come in issue order, as do write visibilities ({@link EventLane}). */
  #readLane: EventLane;
  #writeLane: EventLane;
  /** Bytes moved each way, for statistics. */
  bytesRead = 0;
  /** Bytes written to host memory by DMA. */
  bytesWritten = 0;

  /**
   * Create it (hardware state; the device builds these).
   * @param engine the engine (for the clock)
   * @param pci the profile's bus parameters
   * @param jitter extra latency of one transaction, ns (noise; absent = none)
   */
  constructor(
    private engine: Engine,
    private pci: Profile["pci"],
    private jitter?: () => number,
  ) {
    this.#nsPerByte = 1e9 / pci.bytesPerSec;
    this.#readLane = engine.lane();
    this.#writeLane = engine.lane();
  }

  /** Time by which every write issued so far is visible in host memory. */
  get lastVisible(): number {
    return this.#lastVisible;
  }

  /** ns of write traffic queued ahead of a write issued now. */
  writeBacklogNs(): number {
    const d = this.#writeFree - this.engine.now;
    return d > 0 ? d : 0;
  }

  /** Time on the bus for one transfer of `bytes` (its transaction overhead included). */
  transferNs(bytes: number): number {
    return this.pci.transactionNs + bytes * this.#nsPerByte;
  }

  /**
   * Claim the read direction for `bytes` starting `delayNs` from now (the
   * engine work before the request); returns the absolute time the data is
   * in the device.
   */
  readDoneAt(bytes: number, delayNs = 0): number {
    const now = this.engine.now + delayNs;
    const start = this.#readFree > now ? this.#readFree : now;
    const xfer = this.transferNs(bytes);
    this.#readFree = start + xfer;
    this.bytesRead += bytes;
    let done = start + this.pci.dmaReadLatencyNs + xfer;
    if (this.jitter) {
      // The device consumes read completions in the order it issued the reads.
      done += this.jitter();
      if (done < this.#lastRead) done = this.#lastRead;
      this.#lastRead = done;
    }
    return done > this.#lastVisible ? done : this.#lastVisible;
  }

  /**
   * Claim the write direction for `bytes` starting `delayNs` from now; returns the absolute
   * time the bytes are visible in host memory. Later writes are never
   * visible before earlier ones.
   */
  writeVisibleAt(bytes: number, delayNs = 0): number {
    const now = this.engine.now + delayNs;
    const start = this.#writeFree > now ? this.#writeFree : now;
    this.#writeFree = start + this.transferNs(bytes);
    this.bytesWritten += bytes;
    const vis = this.#writeFree + this.pci.dmaWriteLatencyNs + (this.jitter ? this.jitter() : 0);
    if (vis > this.#lastVisible) this.#lastVisible = vis;
    return this.#lastVisible;
  }

  /**
   * Run `fn` when a read of `bytes` issued now completes (sample host memory
   * in `fn`); returns that time (absolute ns).
   */
  read(bytes: number, fn: () => void, tag = 0, delayNs = 0): number {
    const at = this.readDoneAt(bytes, delayNs);
    this.#readLane.post(at - this.engine.now, fn, tag);
    return at;
  }

  /**
   * Run `fn` (which stores the bytes) when a write of `bytes` issued now becomes visible;
   * returns that time (absolute ns).
   */
  write(bytes: number, fn: () => void, tag = 0, delayNs = 0): number {
    const at = this.writeVisibleAt(bytes, delayNs);
    this.#writeLane.post(at - this.engine.now, fn, tag);
    return at;
  }

  /**
   * Run `fn` once the write that lands at `at` (what {@link write} returned), and every write
   * issued before it, has landed (their `fn`s have run; a later one may still be on its way), as
   * has every read done by then (a read's `fn` at `at` runs before, having been issued before):
   * what a command's completion waits for when it must follow the device's posted writes (PCI
   * orders posted writes before a later completion). Claims no bus time.
   */
  afterLanding(at: number, fn: () => void, tag = 0): void {
    const now = this.engine.now;
    // At the same time as that landing, after it (events of one time run in the order posted).
    this.#writeLane.post(at > now ? at - now : 0, fn, tag);
  }
}

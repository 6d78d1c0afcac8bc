/**
 * A process spinning on several memory locations at once — MVAPICH's
 * progress loop, which polls the head flag of each fast-path ring and the
 * completion queue in turn. In virtual time the spin costs nothing while it
 * waits: the process blocks until a write (the HCA's DMA, or another CPU)
 * touches one of the watched pages, then notices it at its next poll, as
 * `cq.pollUntil` and perftest's "poll the last byte" loop do (see the
 * domain memory's write watch).
 *
 * @module
 */
import type { Domain } from "../platform/mod.ts";
import { MpiError } from "./errors.ts";

const PAGE = 4096;

/**
 * Wait for a write to any of several byte ranges of a domain's memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../mod.ts";
 * import { SpinWait } from "./spin.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const dom = cluster.addHost({ name: "n0", hypervisor: false }).os;
 * await cluster.start();
 * const a = dom.memory.alloc(4096, 4096), b = dom.memory.alloc(4096, 4096);
 * const t = await cluster.run(async () => {
 *   const t0 = cluster.now;
 *   const writer = cluster.spawn("writer", async () => {
 *     await cluster.sleep(1000);
 *     dom.memory.write(b + 8, new Uint8Array([1]));
 *   });
 *   await new SpinWait(dom).wait([[a, 8], [b, 8]], "two flags");
 *   await writer;
 *   return cluster.now - t0;
 * });
 * assert.ok(t >= 1000 && t < 1100);
 * ```
 */
export class SpinWait {
  /** @param dom the domain whose memory is watched */
  constructor(readonly dom: Domain) {}

  /**
   * Block until something writes into one of `ranges` (`[addr, len]`), then
   * round the wake-up up to the next poll of a loop that started now
   * (period `cpu.emptyPollNs`). Wake-ups can be spurious: re-check.
   */
  async wait(ranges: readonly (readonly [number, number])[], label: string): Promise<void> {
    const mem = this.dom.memory;
    const machine = mem.machine;
    if (!machine) {
      throw new MpiError(
        "MPI_ERR_INTERN",
        `${this.dom.name}: memory has no write watch to spin on`,
      );
    }
    const frames: number[] = [];
    for (const [addr, len] of ranges) {
      for (const p of mem.space.pageRange(addr, Math.max(1, len))) {
        const mfn = Math.floor(mem.space.translate(p * PAGE) / PAGE);
        if (!frames.includes(mfn)) frames.push(mfn);
      }
    }
    const engine = this.dom.engine;
    const start = engine.now;
    await machine.waitWrite(frames, label);
    const period = Math.max(1, this.dom.profile.cpu.emptyPollNs);
    const since = engine.now - start;
    const wait = Math.ceil(since / period) * period - since;
    if (wait > 0) await engine.sleep(wait);
  }
}

/**
 * The management network of the cluster (the Ethernet between the hosts'
 * dom0s, apart from the InfiniBand fabric): what a live migration's page
 * stream crosses. Each host has one port; a transfer holds the sender's
 * transmit side and the receiver's receive side for its bytes at the
 * profile's `migration.netBytesPerSec`, after the ones queued before it,
 * and arrives `migration.netLatencyNs` after its last byte left. Two
 * migrations out of one host share its port.
 *
 * @module
 */
import type { Engine } from "../sim/engine.ts";
import type { Profile } from "../sim/profiles/mod.ts";

/**
 * Ports of the management network, by host name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, PCIX_SDR_2006 } from "../sim/mod.ts";
 * import { ManagementNetwork } from "./mgmt_net.ts";
 * const engine = new Engine();
 * const net = new ManagementNetwork(engine, PCIX_SDR_2006);
 * const t = await engine.run(async () => {
 *   await net.transfer("a", "b", 100e6); // 100 MB at 100 MB/s
 *   return engine.now;
 * });
 * assert.equal(t, 1e9 + 30_000); // one second on the wire, plus the latency
 * ```
 */
export class ManagementNetwork {
  #txFree = new Map<string, number>();
  #rxFree = new Map<string, number>();
  /** Bytes carried so far. */
  bytes = 0;

  /**
   * The hosts' management ports on `engine`, priced by `profile`.
   *
   * @param engine the cluster's engine
   * @param profile costs (`migration.netBytesPerSec`, `migration.netLatencyNs`)
   */
  constructor(private engine: Engine, private profile: Profile) {}

  /**
   * Send `bytes` from host `from` to host `to`; resolves (in virtual time)
   * when the last byte has arrived. `minNs` is the least the transfer takes
   * whatever the wire (the CPU work of the sender or receiver, overlapped
   * with it).
   */
  async transfer(from: string, to: string, bytes: number, minNs = 0): Promise<void> {
    const m = this.profile.migration;
    const now = this.engine.now;
    const start = Math.max(now, this.#txFree.get(from) ?? 0, this.#rxFree.get(to) ?? 0);
    const end = start + Math.max((bytes * 1e9) / m.netBytesPerSec, minNs);
    this.#txFree.set(from, end);
    this.#rxFree.set(to, end);
    this.bytes += bytes;
    await this.engine.sleep(end + m.netLatencyNs - now);
  }
}

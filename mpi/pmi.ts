/**
 * The out-of-band exchange at `MPI_Init`: a PMI-style key-value space kept
 * by the launcher (as `mpirun_rsh`'s PMI server is), reached over the
 * management Ethernet, priced by the profile (`mpi.pmiLatencyNs`,
 * `mpi.pmiBytesPerSec`). Each rank puts its connection data (LID, QP
 * numbers), then fences; when every rank has arrived, the server sends the
 * whole key-value space to each rank in turn over its one link, and the
 * ranks read what they need. It knows nothing of InfiniBand: values are bytes.
 *
 * @module
 */
import type { Engine } from "../sim/engine.ts";
import { MpiError } from "./errors.ts";

/**
 * The launcher's key-value space.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../mod.ts";
 * import { PmiServer } from "./pmi.ts";
 * const engine = new Engine();
 * const pmi = new PmiServer(engine, 2, 30_000, 0.1); // 30 µs, 100 MB/s
 * const got = await engine.run(async () => {
 *   const rank = async (r: number) => {
 *     await pmi.put(`rank${r}`, new Uint8Array([r]));
 *     await pmi.fence(`rank ${r}`);
 *     return pmi.get(`rank${1 - r}`)[0];
 *   };
 *   return await Promise.all([engine.spawn("r0", () => rank(0)), engine.spawn("r1", () => rank(1))]);
 * });
 * assert.deepEqual(got, [1, 0]);
 * assert.ok(engine.now > 90_000); // put, fence, answer: three trips
 * ```
 */
export class PmiServer {
  #kvs = new Map<string, Uint8Array>();
  #waiting: (() => void)[] = [];

  /**
   * @param engine the cluster's engine
   * @param np ranks taking part in each fence
   * @param latencyNs one management-network message, ns
   * @param bytesPerNs management-network bandwidth, bytes per ns
   */
  constructor(
    readonly engine: Engine,
    readonly np: number,
    readonly latencyNs: number,
    readonly bytesPerNs: number,
  ) {}

  /** Store `value` under `key` (one message to the server). */
  async put(key: string, value: Uint8Array): Promise<void> {
    await this.engine.sleep(this.latencyNs + (key.length + value.byteLength) / this.bytesPerNs);
    this.#kvs.set(key, value.slice());
  }

  /** Read `key` (valid after a fence that followed its put). */
  get(key: string): Uint8Array {
    const v = this.#kvs.get(key);
    if (!v) {
      throw new MpiError(
        "MPI_ERR_INTERN",
        `PMI: no key '${key}' (read before its put and a fence?)`,
      );
    }
    return v;
  }

  /**
   * Wait until all `np` ranks have fenced, then receive the key-value space
   * (the server sends it to the ranks one after another).
   */
  async fence(label: string): Promise<void> {
    await this.engine.sleep(this.latencyNs);
    const b = this.engine.block<void>(`PMI fence (${label})`);
    this.#waiting.push(() => b.resolve());
    if (this.#waiting.length === this.np) {
      let bytes = 0;
      for (const [k, v] of this.#kvs) bytes += k.length + v.byteLength;
      const each = bytes / this.bytesPerNs;
      const release = this.#waiting;
      this.#waiting = [];
      release.forEach((go, i) => this.engine.schedule(this.latencyNs + each * (i + 1), go));
    }
    await b.promise;
  }
}

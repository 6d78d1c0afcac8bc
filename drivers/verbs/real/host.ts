/**
 * `RealHost`: this machine as a `Domain`-shaped object (`memory`,
 * `openDevice`, `devices`), so a verbs program written as
 * `async (dom) => { … dom.memory.alloc … await dom.openDevice() … }` runs
 * unchanged on a simulated domain or on real hardware.
 *
 * @module
 */
import type { RealContext } from "./context.ts";
import { RealMemory } from "./memory.ts";
import { listRealDevices, openRealDevice, type RealOpenOptions } from "./open.ts";

/**
 * Options of {@link RealHost}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RealHost, type RealHostOptions } from "./host.ts";
 * const opts: RealHostOptions = { name: "bench", memoryBytes: 1 << 20 };
 * const host = new RealHost(opts);
 * assert.deepEqual([host.name, host.memory.size], ["bench", 1 << 20]);
 * ```
 */
export interface RealHostOptions extends RealOpenOptions {
  /** Name (default "real"). */
  name?: string;
  /** Bytes of {@link RealMemory} behind `memory` (default 16 MiB). */
  memoryBytes?: number;
}

/**
 * The local machine with its real RDMA devices.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RealHost } from "./host.ts";
 * const host = new RealHost({ memoryBytes: 1 << 20 }); // loads nothing yet
 * const addr = host.memory.alloc(4096, 4096); // a process address (needs --allow-ffi)
 * assert.equal(addr % 4096, 0);
 * host.memory.write(addr, new Uint8Array([1, 2, 3]));
 * assert.deepEqual(host.memory.read(addr, 3), new Uint8Array([1, 2, 3]));
 * assert.equal(host.name, "real");
 * ```
 */
export class RealHost {
  /** Name, for messages. */
  readonly name: string;
  #opts: RealHostOptions;
  #memory?: RealMemory;

  /**
   * Describe the local machine; nothing is loaded or allocated yet.
   *
   * @param opts name, memory size, library path
   */
  constructor(opts: RealHostOptions = {}) {
    this.name = opts.name ?? "real";
    this.#opts = opts;
  }

  /** Registrable memory, created on first use (it takes a buffer address: --allow-ffi). */
  get memory(): RealMemory {
    return this.#memory ??= new RealMemory(this.#opts.memoryBytes ?? 16 << 20);
  }

  /** Open a real device (see `openRealDevice`). */
  openDevice(name?: string): Promise<RealContext> {
    return openRealDevice(name, this.#opts);
  }

  /** Real device names (see `listRealDevices`). */
  devices(): string[] {
    return listRealDevices(this.#opts);
  }
}

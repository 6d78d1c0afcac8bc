/**
 * Process-wide (per isolate) counts of library loads and device-list calls.
 * They exist so tests can prove the binding releases what it takes: every
 * device list libibverbs hands out is freed, every dlopen is closed.
 *
 * @module
 */

/**
 * Snapshot of the binding's resource counters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type FfiCounters, ffiCounters } from "./counters.ts";
 * import { loadIbverbs } from "./library.ts";
 * const before: FfiCounters = ffiCounters();
 * assert.throws(() => loadIbverbs("/nonexistent/libibverbs.so.1"));
 * assert.equal(ffiCounters().libraryOpens, before.libraryOpens); // a failed dlopen holds nothing
 * ```
 */
export interface FfiCounters {
  /** Successful `Deno.dlopen` of libibverbs. */
  libraryOpens: number;
  /** `close()` of such a handle. */
  libraryCloses: number;
  /** Calls of `ibv_get_device_list`. */
  deviceListCalls: number;
  /** Of those, calls that returned a list (non-NULL) that must be freed. */
  deviceListsReturned: number;
  /** Calls of `ibv_free_device_list`. */
  deviceListsFreed: number;
}

const counts: FfiCounters = {
  libraryOpens: 0,
  libraryCloses: 0,
  deviceListCalls: 0,
  deviceListsReturned: 0,
  deviceListsFreed: 0,
};

/**
 * A copy of the counters now.
 *
 * @example
 * ```ts
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { ffiCounters } from "./counters.ts";
 * import { loadIbverbs } from "./library.ts";
 * const before = ffiCounters();
 * loadIbverbs().close();
 * const after = ffiCounters();
 * assert.equal(after.libraryOpens - before.libraryOpens, 1);
 * assert.equal(after.libraryCloses - before.libraryCloses, 1);
 * ```
 */
export function ffiCounters(): FfiCounters {
  return { ...counts };
}

/**
 * Add one to a counter (binding-internal).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bump, ffiCounters } from "./counters.ts";
 * const before = ffiCounters().deviceListCalls;
 * bump("deviceListCalls");
 * assert.equal(ffiCounters().deviceListCalls - before, 1);
 * ```
 */
export function bump(key: keyof FfiCounters): void {
  counts[key]++;
}

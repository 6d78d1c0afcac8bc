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
 * import { type FfiCounters, ffiCounters } from "./counters.ts";
 * const c: FfiCounters = ffiCounters();
 * console.log(c.deviceListsReturned - c.deviceListsFreed); // 0: no list held
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
 * import { ffiCounters } from "./counters.ts";
 * const c = ffiCounters();
 * console.log(c.libraryOpens - c.libraryCloses); // 0 when nothing is open
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
 * import { bump, ffiCounters } from "./counters.ts";
 * const before = ffiCounters().deviceListCalls;
 * bump("deviceListCalls");
 * console.log(ffiCounters().deviceListCalls - before); // 1
 * ```
 */
export function bump(key: keyof FfiCounters): void {
  counts[key]++;
}

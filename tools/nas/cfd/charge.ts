/**
 * How BT and LU charge the counted work of loop nests that run back to
 * back without communication: one `comm.compute` with their flops and
 * bytes summed (the work between two MPI calls is one piece of
 * computation, as in NPB). SP counts and flushes the same way through
 * its own state.
 *
 * @module
 */
import type { Comm } from "../../../mpi/mod.ts";

/**
 * The work of one loop-nest body at one point: flops (a division or square
 * root counted as one) and bytes of main-memory traffic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Work } from "./charge.ts";
 * const w: Work = { flops: 5, bytes: 120 };
 * assert.equal(w.flops, 5);
 * ```
 */
export type Work = { readonly flops: number; readonly bytes: number };

/**
 * Charge `nests` (each a work per point and a number of points; ≤ 0
 * points count nothing) as one `comm.compute` of the summed flops and
 * bytes; nothing at all is charged when both sums are 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chargeNests } from "./charge.ts";
 * const seen: unknown[] = [];
 * const comm = { compute: async (w: unknown) => { seen.push(w); return 0; } } as never;
 * await chargeNests(comm, [[{ flops: 2, bytes: 8 }, 3], [{ flops: 1, bytes: 1 }, -1], [{ flops: 0, bytes: 4 }, 2]]);
 * await chargeNests(comm, [[{ flops: 2, bytes: 8 }, 0]]);
 * assert.deepEqual(seen, [{ flops: 6, bytes: 32 }]);
 * ```
 */
export async function chargeNests(
  comm: Comm,
  nests: readonly (readonly [Work, number])[],
): Promise<void> {
  let flops = 0, bytes = 0;
  for (const [w, points] of nests) {
    if (points <= 0) continue;
    flops += w.flops * points;
    bytes += w.bytes * points;
  }
  if (flops > 0 || bytes > 0) await comm.compute({ flops, bytes });
}

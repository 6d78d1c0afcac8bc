/**
 * Computation in virtual time: a rank's work between MPI calls, charged to
 * its CPU at the profile's rates, so that benchmarks and kernels overlap
 * communication with computation as on the modelled machine.
 *
 * @module
 */
import type { CommCore } from "./comm_core.ts";
import { thrown } from "./errhandler.ts";
import { MpiError } from "./errors.ts";

/**
 * Work for `Comm.compute`: floating-point operations and bytes of
 * memory traffic (charged as the slower of the two at the profile's rates,
 * a roofline), plus any extra nanoseconds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Work } from "./compute.ts";
 * const axpy = (n: number): Work => ({ flops: 2 * n, bytes: 24 * n });
 * assert.deepEqual(axpy(10), { flops: 20, bytes: 240 });
 * ```
 */
export interface Work {
  /** Floating-point operations. */
  flops?: number;
  /** Bytes of memory traffic. */
  bytes?: number;
  /** Extra nanoseconds. */
  ns?: number;
}

async function compute<E extends MpiError>(c: CommCore<E>, work: Work): Promise<number | E> {
  try {
    const what = "compute";
    c.check(what);
    for (const k of ["flops", "bytes", "ns"] as const) {
      const v = work[k];
      if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v < 0)) {
        throw new MpiError(
          "MPI_ERR_ARG",
          `${what} on rank ${c.rank}: ${k} must be a number >= 0 (got ${v})`,
        );
      }
    }
    const p = c.proc.params;
    const ns = Math.max((work.flops ?? 0) / p.flopsPerNs, (work.bytes ?? 0) / p.memBytesPerNs) +
      (work.ns ?? 0);
    c.proc.computeNs += ns;
    c.proc.chargeCpu(ns);
    // Outside the MPI library: the progress engine does not poll until the rank is back.
    const ch = c.proc.ch;
    ch.pause();
    try {
      await ch.cpu.settle();
    } finally {
      ch.resume();
    }
    return ns;
  } catch (e) {
    return c.raise(e);
  }
}

async function charge<E extends MpiError>(c: CommCore<E>, ns: number): Promise<void | E> {
  try {
    thrown(await compute(c, { ns }));
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * `compute` and `charge`, as `Comm`'s methods of the same names forward to
 * them with the communicator's {@link CommCore}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * const { results } = await mpiexec({ np: 1, mode: "native" }, async (comm) => {
 *   const t0 = comm.wtime();
 *   await comm.charge(2_000);
 *   return Math.round((comm.wtime() - t0) * 1e9);
 * });
 * assert.deepEqual(results, [2000]);
 * ```
 */
export const computation = { compute, charge } as const;

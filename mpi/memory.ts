/**
 * Memory for messages (MPI-3.1 §8.2): `alloc` places a buffer in the rank's
 * domain memory, so that rendezvous transfers from and into it are
 * zero-copy; `free` returns it, after the pin-down cache has let go of it.
 *
 * @module
 */
import { MpiBuffer } from "./buffer.ts";
import type { CommCore } from "./comm_core.ts";
import { type Datatype, DATATYPES } from "./datatype.ts";
import { MpiError } from "./errors.ts";

function alloc<E extends MpiError, T extends Datatype>(
  c: CommCore<E>,
  length: number,
  datatype: T | undefined,
): MpiBuffer<T> | E {
  try {
    c.check("MPI_Alloc_mem");
    const dt = (datatype ?? "uint8") as T;
    if (!DATATYPES.includes(dt)) {
      throw new MpiError(
        "MPI_ERR_TYPE",
        `MPI_Alloc_mem on rank ${c.rank}: unknown datatype '${String(dt)}' (known: ${
          DATATYPES.join(", ")
        })`,
      );
    }
    return MpiBuffer.allocate(c.proc.dom.memory, c.proc.rank, length, dt);
  } catch (e) {
    return c.raise(e);
  }
}

async function free<E extends MpiError>(c: CommCore<E>, buf: MpiBuffer): Promise<void | E> {
  try {
    const what = "MPI_Free_mem";
    c.check(what);
    if (!(buf instanceof MpiBuffer)) {
      throw new MpiError(
        "MPI_ERR_BUFFER",
        `${what} on rank ${c.rank}: not a buffer from comm.alloc`,
      );
    }
    const a = buf.allocation;
    const where = `${what} on rank ${c.rank}: buffer at 0x${buf.addr.toString(16)}`;
    if (a.rank !== c.proc.rank) {
      throw new MpiError("MPI_ERR_BUFFER", `${where} belongs to rank ${a.rank}`);
    }
    if (a.freed) throw new MpiError("MPI_ERR_BUFFER", `${where} was already freed`);
    if (buf.byteOffset !== 0) {
      throw new MpiError(
        "MPI_ERR_BUFFER",
        `${where} is a view; free the buffer comm.alloc returned`,
      );
    }
    if (a.pins > 0) {
      throw new MpiError("MPI_ERR_BUFFER", `${where} is in use by ${a.pins} pending request(s)`);
    }
    // MVAPICH's free hook: a cached registration of freed memory would pin it.
    c.proc.cache.invalidate(a.addr, a.bytes);
    await c.proc.cache.flush();
    a.freed = true;
    c.proc.dom.memory.free(a.addr);
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * `MPI_Alloc_mem` and `MPI_Free_mem`, as `Comm`'s `alloc` and `free`
 * forward to them with the communicator's {@link CommCore}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * const { results } = await mpiexec({ np: 1, mode: "native" }, async (comm) => {
 *   const buf = comm.alloc(4, "float64");
 *   const zeroed = [...buf.get()].every((x) => x === 0);
 *   await comm.free(buf);
 *   return [buf.length, zeroed, buf.freed];
 * });
 * assert.deepEqual(results, [[4, true, true]]);
 * ```
 */
export const memory = { alloc, free } as const;

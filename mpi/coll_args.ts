/**
 * The argument checks that the collective calls share (coll_data.ts,
 * coll_vector.ts, coll_reduction.ts); a check that one family of calls
 * alone makes stays in its module.
 *
 * @module
 */
import { type Buf, type Region, toRegion } from "./buffer.ts";
import type { CommCore } from "./comm_core.ts";
import { type Datatype, DATATYPES, typeSize } from "./datatype.ts";
import { MpiError } from "./errors.ts";
import type { CollEnv } from "./coll/env.ts";
import { sameRegion } from "./coll/gather.ts";

type Who = Pick<CommCore, "rank" | "size">;

function sameType(c: Who, what: string, a: Datatype, b: Datatype): void {
  if (a !== b && a !== "byte" && b !== "byte") {
    throw new MpiError(
      "MPI_ERR_TYPE",
      `${what} on rank ${c.rank}: send type ${a} and receive type ${b} differ`,
    );
  }
}

/**
 * MPI-3.1 §2.3: "Unless specified otherwise, an argument of type OUT or
 * type INOUT cannot be aliased with any other argument passed to an MPI
 * procedure"; a collective reuses its receive buffer through MPI_IN_PLACE.
 * As MPICH (MPIR_ERRTEST_ALIAS_COLL), a send buffer that starts where the
 * receive buffer does is MPI_ERR_BUFFER.
 */
function notAliased(c: Who, what: string, send: Region, recv: Region): void {
  const n = Math.min(send.bytes, recv.bytes);
  if (c.size > 1 && n > 0 && sameRegion(send.sub(0, n), recv.sub(0, n))) {
    throw new MpiError(
      "MPI_ERR_BUFFER",
      `${what} on rank ${c.rank}: send and receive buffers are the same (use IN_PLACE)`,
    );
  }
}

function root(c: Who, what: string, r: number): void {
  if (!Number.isInteger(r) || r < 0 || r >= c.size) {
    throw new MpiError(
      "MPI_ERR_ROOT",
      `${what} on rank ${c.rank}: root ${r} outside 0..${c.size - 1}`,
    );
  }
}

function fits(c: Who, what: string, role: string, region: Region, bytes: number): void {
  if (region.bytes < bytes) {
    throw new MpiError(
      "MPI_ERR_COUNT",
      `${what} on rank ${c.rank}: ${role} holds ${region.bytes} bytes, needs ${bytes}`,
    );
  }
}

/** A buffer significant on this rank (the root's of a rooted collective): present. */
function need(
  c: Pick<CommCore, "rank" | "proc">,
  buf: Buf | null | undefined,
  what: string,
  role: string,
): { region: Region; datatype: Datatype } {
  if (buf === null || buf === undefined) {
    throw new MpiError("MPI_ERR_BUFFER", `${what} on rank ${c.rank}: ${role} missing`);
  }
  return toRegion(buf, c.proc.rank, what);
}

/** MPI_IN_PLACE in a rooted collective is the root's only (MPI-3.1 §5.5, §5.6, §5.9.1). */
function inPlaceAtRoot(c: Who, what: string, inPlace: boolean, isRoot: boolean): void {
  if (inPlace && !isRoot) {
    throw new MpiError(
      "MPI_ERR_BUFFER",
      `${what} on rank ${c.rank}: IN_PLACE is for the root only`,
    );
  }
}

/**
 * Counts and displacements of a vector call (`role`: "send" or "receive"):
 * one of each per rank, every block that is not empty inside the buffer's
 * `cap` elements.
 * With `types` (MPI_Alltoallw, MPI-4.0 §6.8), block i is `counts[i]`
 * elements of `types[i]` at byte `displs[i]` and `cap` is in bytes; as
 * MPICH's MPI_Alltoallw checks (MPIR_ERRTEST_DATATYPE under `counts[i] >
 * 0`), the type of an empty block is not looked at.
 */
function vector(
  c: Who,
  what: string,
  role: string,
  counts: readonly number[],
  displs: readonly number[],
  cap: number,
  types?: readonly Datatype[],
): void {
  if (counts.length !== c.size || displs.length !== c.size) {
    throw new MpiError(
      "MPI_ERR_COUNT",
      `${what} on rank ${c.rank}: ${role} counts and displacements need ${c.size} entries each`,
    );
  }
  if (types !== undefined && types.length !== c.size) {
    throw new MpiError(
      "MPI_ERR_TYPE",
      `${what} on rank ${c.rank}: ${role} types need ${c.size} entries`,
    );
  }
  for (let i = 0; i < c.size; i++) {
    const n = counts[i], d = displs[i];
    if (!Number.isInteger(n) || n < 0) {
      throw new MpiError(
        "MPI_ERR_COUNT",
        `${what} on rank ${c.rank}: ${role} count[${i}] = ${n} is not >= 0`,
      );
    }
    const t = types?.[i];
    if (types !== undefined && n > 0 && !DATATYPES.includes(t as Datatype)) {
      throw new MpiError(
        "MPI_ERR_TYPE",
        `${what} on rank ${c.rank}: ${role} type[${i}] '${t}' is not a datatype (known: ${
          DATATYPES.join(", ")
        })`,
      );
    }
    const size = types === undefined || n === 0 ? 1 : typeSize(t as Datatype);
    // A block of no elements touches no memory, so its displacement is not
    // held against the buffer: MPI-4.0 §6.8 asks only that the counts match
    // pairwise, and MPICH (MPI_Alltoallv and its kin) never looks at the
    // displacement of an empty block.
    if (!Number.isInteger(d) || d < 0 || (n > 0 && d + n * size > cap)) {
      throw new MpiError(
        "MPI_ERR_COUNT",
        `${what} on rank ${c.rank}: ${role} block ${i} (${
          types ? `${n} ${t} at byte ${d}` : `${n} at ${d}`
        }) exceeds the buffer's ${cap} ${types ? "bytes" : "elements"}`,
      );
    }
  }
}

/**
 * MPI_IN_PLACE where the input is the receive buffer and the result
 * overwrites it before the input is used up (alltoall, alltoallv, MPI-3.1
 * §5.8: "The data to be sent is taken from the recvbuf and replaced by the
 * received data"; reduce_scatter): the input is a copy of the receive
 * buffer in scratch memory, taken before anything arrives.
 */
function sendCopy(env: CollEnv, o: { region: Region; datatype: Datatype }): {
  region: Region;
  datatype: Datatype;
} {
  const copy = env.scratch(o.region.bytes);
  env.copy(copy, o.region);
  return { region: copy, datatype: o.datatype };
}

/**
 * The checks of collective arguments that the data-movement, vector and
 * reduction calls share. Each takes the communicator's rank (for the
 * message) and size as `CommCore` has them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { collArgs } from "./coll_args.ts";
 * const c = { rank: 1, size: 4 };
 * collArgs.root(c, "MPI_Bcast", 3);
 * assert.throws(() => collArgs.root(c, "MPI_Bcast", 4), /MPI_Bcast on rank 1: root 4 outside 0..3/);
 * collArgs.sameType(c, "MPI_Gather", "byte", "float64"); // untyped bytes match any type
 * assert.throws(() => collArgs.sameType(c, "MPI_Gather", "int32", "float64"), /differ/);
 * assert.throws(() => collArgs.inPlaceAtRoot(c, "MPI_Reduce", true, false), /root only/);
 * ```
 */
export const collArgs = {
  sameType,
  notAliased,
  root,
  fits,
  need,
  inPlaceAtRoot,
  sendCopy,
  vector,
} as const;

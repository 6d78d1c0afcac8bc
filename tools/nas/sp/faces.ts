/**
 * SP's ghost exchange (NPB 3.4 SP/copy_faces.f90): every cell's two
 * outermost layers of u go to the neighbouring cells in all six
 * directions at once (the diagonalised scheme's stencil is orthogonal, so
 * no staged copying is needed). The multi-partition makes the neighbouring
 * cells of all of a process's cells in one direction belong to one
 * process, so there are six messages: each direction's faces packed into
 * one part of `out_buffer` (west, east, south, north, bottom, top, sizes
 * from define.f90), six `MPI_Irecv` into `in_buffer`, six `MPI_Isend`, one
 * `MPI_Waitall`, on comm_rhs with tags EAST 2000, WEST 3000, NORTH 4000,
 * SOUTH 5000, BOTTOM 6000, TOP 7000 (the direction of travel). Then
 * compute_rhs. A single process has no faces to copy.
 *
 * @module
 */
import type { Request } from "../../../mpi/mod.ts";
import { SP_WORK, type SpCell, type SpState } from "./data.ts";
import { computeRhs } from "./rhs.ts";

const EAST = 2000, WEST = 3000, NORTH = 4000, SOUTH = 5000, BOTTOM = 6000, TOP = 7000;

/**
 * copy_faces.f90, then compute_rhs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../../mpi/mod.ts";
 * import { SpState } from "./data.ts";
 * import { copyFaces } from "./faces.ts";
 * import { makeSet } from "./params.ts";
 * // Four ranks, two cells each: every rank's east ghost layers hold its east neighbour's
 * // first two layers, here marked with the neighbour's rank.
 * const { results } = await mpiexec({ np: 4, mode: "native" }, async (comm) => {
 *   const g = new SpState({ n: 12, niter: 1, dt: 0.015 }, makeSet(12, 2, comm.rank), true, comm, comm, comm);
 *   for (const c of g.cells) c.u.fill(1 + comm.rank);
 *   await copyFaces(g);
 *   const c = g.cells.find((c) => c.coord[0] === 1)!;
 *   return c.u[5 * c.pt(c.size[0], 3, 3)] - 1;
 * });
 * assert.deepEqual(results, [1, 0, 3, 2]);
 * ```
 */
export async function copyFaces(g: SpState): Promise<void> {
  if (g.setup.size === 1) {
    computeRhs(g);
    return;
  }
  const comm = g.rhsComm, f = g.faces, nc = g.ncells;
  const [pw, ps, pb] = g.set.predecessor, [se, sn, st] = g.set.successor;
  const total = f.startTop + f.top;
  g.work(SP_WORK.pack, total);
  if (g.real) {
    const out = new Float64Array(total);
    const at = [f.startEast, f.startWest, f.startNorth, f.startSouth, f.startTop, f.startBottom];
    for (const c of g.cells) {
      const [x, y, z] = c.coord, [n1, n2, n3] = c.size;
      for (let m = 0; m < 5; m++) {
        const take = (
          part: number,
          i0: number,
          i1: number,
          j0: number,
          j1: number,
          k0: number,
          k1: number,
        ) => {
          for (let k = k0; k <= k1; k++) {
            for (let j = j0; j <= j1; j++) {
              for (let i = i0; i <= i1; i++) out[at[part]++] = c.u[5 * c.pt(i, j, k) + m];
            }
          }
        };
        if (x !== nc) take(0, n1 - 2, n1 - 1, 0, n2 - 1, 0, n3 - 1);
        if (x !== 1) take(1, 0, 1, 0, n2 - 1, 0, n3 - 1);
        if (y !== nc) take(2, 0, n1 - 1, n2 - 2, n2 - 1, 0, n3 - 1);
        if (y !== 1) take(3, 0, n1 - 1, 0, 1, 0, n3 - 1);
        if (z !== nc) take(4, 0, n1 - 1, 0, n2 - 1, n3 - 2, n3 - 1);
        if (z !== 1) take(5, 0, n1 - 1, 0, n2 - 1, 0, 1);
      }
    }
    g.outBuf.set(out, 0);
  }
  await g.flush();
  const inb = g.inBuf, outb = g.outBuf;
  const part = (b: typeof inb, start: number, size: number) => b.subarray(start, start + size);
  const reqs: Request[] = [
    await comm.irecv(part(inb, f.startEast, f.east), se, WEST),
    await comm.irecv(part(inb, f.startWest, f.west), pw, EAST),
    await comm.irecv(part(inb, f.startNorth, f.north), sn, SOUTH),
    await comm.irecv(part(inb, f.startSouth, f.south), ps, NORTH),
    await comm.irecv(part(inb, f.startTop, f.top), st, BOTTOM),
    await comm.irecv(part(inb, f.startBottom, f.bottom), pb, TOP),
    await comm.isend(part(outb, f.startEast, f.east), se, EAST),
    await comm.isend(part(outb, f.startWest, f.west), pw, WEST),
    await comm.isend(part(outb, f.startNorth, f.north), sn, NORTH),
    await comm.isend(part(outb, f.startSouth, f.south), ps, SOUTH),
    await comm.isend(part(outb, f.startTop, f.top), st, TOP),
    await comm.isend(part(outb, f.startBottom, f.bottom), pb, BOTTOM),
  ];
  await comm.waitall(reqs);
  g.work(SP_WORK.pack, total);
  if (g.real) {
    const got = inb.get(0, total) as Float64Array;
    const at = [f.startWest, f.startEast, f.startSouth, f.startNorth, f.startBottom, f.startTop];
    for (const c of g.cells) {
      const [x, y, z] = c.coord, [n1, n2, n3] = c.size;
      for (let m = 0; m < 5; m++) {
        const put = (
          part: number,
          i0: number,
          i1: number,
          j0: number,
          j1: number,
          k0: number,
          k1: number,
        ) => fill(c, m, got, at, part, i0, i1, j0, j1, k0, k1);
        if (x !== 1) put(0, -2, -1, 0, n2 - 1, 0, n3 - 1);
        if (x !== nc) put(1, n1, n1 + 1, 0, n2 - 1, 0, n3 - 1);
        if (y !== 1) put(2, 0, n1 - 1, -2, -1, 0, n3 - 1);
        if (y !== nc) put(3, 0, n1 - 1, n2, n2 + 1, 0, n3 - 1);
        if (z !== 1) put(4, 0, n1 - 1, 0, n2 - 1, -2, -1);
        if (z !== nc) put(5, 0, n1 - 1, 0, n2 - 1, n3, n3 + 1);
      }
    }
  }
  computeRhs(g);
}

/** u(i0..i1, j0..j1, k0..k1, m) of cell c ← the next values of part `part` of `got`. */
function fill(
  c: SpCell,
  m: number,
  got: Float64Array,
  at: number[],
  part: number,
  i0: number,
  i1: number,
  j0: number,
  j1: number,
  k0: number,
  k1: number,
): void {
  for (let k = k0; k <= k1; k++) {
    for (let j = j0; j <= j1; j++) {
      for (let i = i0; i <= i1; i++) c.u[5 * c.pt(i, j, k) + m] = got[at[part]++];
    }
  }
}

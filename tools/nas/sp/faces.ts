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
  const comm = g.rhsComm, f = g.faces;
  const [pw, ps, pb] = g.set.predecessor, [se, sn, st] = g.set.successor;
  const total = f.startTop + f.top;
  // The six parts in NPB's order (east, west, north, south, top, bottom): where each starts (the
  // same offset in out_buffer and in_buffer), its size, the neighbour, and the tags of what
  // arrives from it and of what goes to it (the direction of travel).
  const parts = [
    [f.startEast, f.east, se, WEST, EAST],
    [f.startWest, f.west, pw, EAST, WEST],
    [f.startNorth, f.north, sn, SOUTH, NORTH],
    [f.startSouth, f.south, ps, NORTH, SOUTH],
    [f.startTop, f.top, st, BOTTOM, TOP],
    [f.startBottom, f.bottom, pb, TOP, BOTTOM],
  ];
  const starts = parts.map(([start]) => start);
  g.work(SP_WORK.pack, total);
  if (g.real) {
    const out = new Float64Array(total), at = [...starts];
    forFaces(g, "send", (c, q, part) => void (out[at[part]++] = c.u[q]));
    g.outBuf.set(out, 0);
  }
  await g.flush();
  const reqs: Request[] = [];
  for (const [start, size, peer, tag] of parts) {
    reqs.push(await comm.irecv(g.inBuf.subarray(start, start + size), peer, tag));
  }
  for (const [start, size, peer, , tag] of parts) {
    reqs.push(await comm.isend(g.outBuf.subarray(start, start + size), peer, tag));
  }
  await comm.waitall(reqs);
  g.work(SP_WORK.pack, total);
  if (g.real) {
    const got = g.inBuf.get(0, total) as Float64Array, at = [...starts];
    forFaces(g, "recv", (c, q, part) => void (c.u[q] = got[at[part]++]));
  }
  computeRhs(g);
}

/**
 * Visit the points copy_faces packs (`"send"`: a cell's two outer layers
 * toward each neighbour) or unpacks (`"recv"`: its two ghost layers on
 * that side), in NPB's order — by cell, component, then k, j, i — with
 * the part (0 east, 1 west, 2 north, 3 south, 4 top, 5 bottom) each point
 * belongs to and its index `q` in u. A cell has a part where it has a
 * neighbouring cell (not at the grid's boundary on that side).
 */
function forFaces(
  g: SpState,
  side: "send" | "recv",
  fn: (c: SpCell, q: number, part: number) => void,
): void {
  const nc = g.ncells;
  for (const c of g.cells) {
    const [n1, n2, n3] = c.size;
    // Along direction d the part's two layers: toward the high side (east, north, top) the
    // cell's last two (send) or the ghosts beyond them (recv), toward the low side its first
    // two or the ghosts before them.
    const layers = (d: number, high: boolean): [number, number] =>
      high
        ? (side === "send" ? [c.size[d] - 2, c.size[d] - 1] : [c.size[d], c.size[d] + 1])
        : side === "send"
        ? [0, 1]
        : [-2, -1];
    for (let m = 0; m < 5; m++) {
      for (let part = 0; part < 6; part++) {
        const d = part >> 1, high = (part & 1) === 0;
        if (c.coord[d] === (high ? nc : 1)) continue;
        const r = [[0, n1 - 1], [0, n2 - 1], [0, n3 - 1]];
        r[d] = layers(d, high);
        for (let k = r[2][0]; k <= r[2][1]; k++) {
          for (let j = r[1][0]; j <= r[1][1]; j++) {
            for (let i = r[0][0]; i <= r[0][1]; i++) fn(c, 5 * c.pt(i, j, k) + m, part);
          }
        }
      }
    }
  }
}

/**
 * BT's ghost exchange (NPB 3.4 BT/copy_faces.f90): every cell's two
 * outermost planes of u on each side that has a neighbouring cell go to
 * the process holding that cell, all six directions at once — six
 * `MPI_Irecv`s (from the east, west, north, south, top and bottom
 * neighbours, in that order), six `MPI_Isend`s in the same order, one
 * `MPI_Waitall` — then the received planes become the cells' ghost
 * layers and compute_rhs runs. A single process only computes the rhs.
 * Each direction's message is the concatenation over the process's cells
 * (compute_buffer_size); the buffers are out_buffer (sends) and in_buffer
 * (receives), on comm_rhs.
 *
 * @module
 */
import type { Request } from "../../../mpi/mod.ts";
import { BT_WORK, type BtGrid, type CellFields } from "./grid.ts";
import { faceSizes } from "./params.ts";
import { computeRhs } from "./rhs.ts";
import { BT_TAGS } from "./solve.ts";

type Face = "east" | "west" | "north" | "south" | "top" | "bottom";

/** Per direction: the high side, the low side and their tags. */
const DIRS: readonly { hi: Face; lo: Face; hiTag: number; loTag: number }[] = [
  { hi: "east", lo: "west", hiTag: BT_TAGS.EAST, loTag: BT_TAGS.WEST },
  { hi: "north", lo: "south", hiTag: BT_TAGS.NORTH, loTag: BT_TAGS.SOUTH },
  { hi: "top", lo: "bottom", hiTag: BT_TAGS.TOP, loTag: BT_TAGS.BOTTOM },
];

/** Call f(point) for the points of cell c with index t0 or t0 + 1 along d, k outer, i inner. */
function forPlanes(c: CellFields, d: number, t0: number, f: (pt: number) => void): void {
  const lo = [0, 0, 0], hi = c.cell.size.map((s) => s - 1);
  lo[d] = t0;
  hi[d] = t0 + 1;
  for (let k = lo[2]; k <= hi[2]; k++) {
    for (let j = lo[1]; j <= hi[1]; j++) {
      for (let i = lo[0]; i <= hi[0]; i++) f(c.pt(i, j, k));
    }
  }
}

/**
 * copy_faces.f90, then compute_rhs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { copyFaces } from "./faces.ts";
 * assert.equal(typeof copyFaces, "function"); // messages checked by the BT tests
 * ```
 */
export async function copyFaces(g: BtGrid): Promise<void> {
  if (g.set.ncells === 1) {
    await computeRhs(g);
    return;
  }
  const comm = g.commRhs, nc = g.ncells;
  const { size, offset } = faceSizes(g.set);
  let total = 0;
  for (const f of Object.values(size)) total += f;
  if (g.real) {
    const out = new Float64Array(total);
    const ptr = { ...offset };
    for (const c of g.cells) {
      // NPB's order per cell: east, west, north, south, top, bottom.
      DIRS.forEach(({ hi, lo }, d) => {
        const put = (face: Face, t0: number) =>
          forPlanes(c, d, t0, (pt) => {
            out.set(c.u.subarray(5 * pt, 5 * pt + 5), ptr[face]);
            ptr[face] += 5;
          });
        if (c.cell.coord[d] !== nc) put(hi, c.cell.size[d] - 2);
        if (c.cell.coord[d] !== 1) put(lo, 0);
      });
    }
    g.outBuffer.set(out, 0);
  }
  await g.charge([[BT_WORK.copy, total]]);
  const reqs: Request[] = [];
  const part = (b: typeof g.inBuffer, face: Face) =>
    b.subarray(offset[face], offset[face] + size[face]);
  for (let d = 0; d < 3; d++) {
    const { hi, lo, hiTag, loTag } = DIRS[d];
    reqs.push(await comm.irecv(part(g.inBuffer, hi), g.set.successor[d], loTag) as Request);
    reqs.push(await comm.irecv(part(g.inBuffer, lo), g.set.predecessor[d], hiTag) as Request);
  }
  for (let d = 0; d < 3; d++) {
    const { hi, lo, hiTag, loTag } = DIRS[d];
    reqs.push(await comm.isend(part(g.outBuffer, hi), g.set.successor[d], hiTag) as Request);
    reqs.push(await comm.isend(part(g.outBuffer, lo), g.set.predecessor[d], loTag) as Request);
  }
  await comm.waitall(reqs);
  if (g.real) {
    const got = g.inBuffer.get(0, total);
    const ptr = { ...offset };
    for (const c of g.cells) {
      DIRS.forEach(({ hi, lo }, d) => {
        const take = (face: Face, t0: number) =>
          forPlanes(c, d, t0, (pt) => {
            c.u.set(got.subarray(ptr[face], ptr[face] + 5), 5 * pt);
            ptr[face] += 5;
          });
        // Low ghosts −2, −1 from the west (south, bottom) buffer; high ghosts from the east.
        if (c.cell.coord[d] !== 1) take(lo, -2);
        if (c.cell.coord[d] !== nc) take(hi, c.cell.size[d]);
      });
    }
  }
  await g.charge([[BT_WORK.copy, total]]);
  await computeRhs(g);
}

/**
 * MG's right-hand side (NPB 3.4 mg.f90, `zran3`): fill the finest grid with
 * NPB's random stream in global lexicographic order (each process jumps to
 * its brick's first point with a^k skips), find the ten largest and ten
 * smallest values of the whole grid, and put +1 at the largest, −1 at the
 * smallest and 0 elsewhere.
 *
 * The global search is NPB's: each process keeps its local ten of each
 * (insertion with `bubble`), then ten rounds of four `MPI_Allreduce`s — the
 * best remaining value (MAX, then MIN) and the rank and coordinates of who
 * holds it (4 integers, MAX) — between two barriers; a final `comm3`
 * fills the ghosts.
 *
 * @module
 */
import type { Comm } from "../../../mpi/mod.ts";
import type { ComputeMode } from "../kernel.ts";
import { NPB_A, NPB_SEED, randlc, skipAhead, vranlc } from "../randlc.ts";
import type { MgExchange } from "./comm3.ts";
import type { MgLayout } from "./setup.ts";
import { type Grid, zeroWork } from "./stencils.ts";

/**
 * Charges placed at the largest and at the smallest values (NPB's `mm`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MM } from "./zran3.ts";
 * assert.equal(MM, 10);
 * ```
 */
export const MM = 10;

/** Rough cost of one randlc step in flops (NPB's 23-bit split multiplication). */
const RANDLC_FLOPS = 12;

/**
 * The local candidates: positions (Fortran indices in the brick) of the ten
 * largest values (`hi`, ascending: index 0 is the smallest of them) and ten
 * smallest (`lo`, descending).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { localCandidates } from "./zran3.ts";
 * import { grid } from "./stencils.ts";
 * const z = grid(14, 3, 3);
 * for (let i = 1; i <= 12; i++) z.a[i + 14 * (1 + 3)] = i / 100; // interior row: 0.01 .. 0.12
 * const c = localCandidates(z);
 * assert.equal(c.hiVal[9], 0.12);
 * assert.equal(c.hiVal[0], 0.03);
 * assert.equal(c.loVal[9], 0.01);
 * assert.deepEqual(c.hiPos[9], [13, 2, 2]);
 * ```
 */
export function localCandidates(z: Grid): {
  hiVal: Float64Array;
  hiPos: [number, number, number][];
  loVal: Float64Array;
  loPos: [number, number, number][];
} {
  const hiVal = new Float64Array(MM).fill(0);
  const loVal = new Float64Array(MM).fill(1);
  const hiPos: [number, number, number][] = Array.from({ length: MM }, () => [0, 0, 0]);
  const loPos: [number, number, number][] = Array.from({ length: MM }, () => [0, 0, 0]);
  const { n1, n2, n3 } = z;
  // NPB's bubble: after replacing slot 0, move it up while out of order.
  const bubble = (val: Float64Array, pos: [number, number, number][], up: boolean) => {
    for (let i = 0; i < MM - 1; i++) {
      if (up ? val[i] > val[i + 1] : val[i] < val[i + 1]) {
        const t = val[i + 1];
        val[i + 1] = val[i];
        val[i] = t;
        const p = pos[i + 1];
        pos[i + 1] = pos[i];
        pos[i] = p;
      } else return;
    }
  };
  for (let i3 = 2; i3 <= n3 - 1; i3++) {
    for (let i2 = 2; i2 <= n2 - 1; i2++) {
      const c = (i2 - 1) * n1 + (i3 - 1) * n1 * n2 - 1;
      for (let i1 = 2; i1 <= n1 - 1; i1++) {
        const x = z.a[c + i1];
        if (x > hiVal[0]) {
          hiVal[0] = x;
          hiPos[0] = [i1, i2, i3];
          bubble(hiVal, hiPos, true);
        }
        if (x < loVal[0]) {
          loVal[0] = x;
          loPos[0] = [i1, i2, i3];
          bubble(loVal, loPos, false);
        }
      }
    }
  }
  return { hiVal, hiPos, loVal, loPos };
}

/**
 * `zran3`: initialise `z` (the finest brick) and exchange its ghosts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../../mpi/mod.ts";
 * import { MgExchange } from "./comm3.ts";
 * import { mgSetup } from "./setup.ts";
 * import { grid } from "./stencils.ts";
 * import { zran3 } from "./zran3.ts";
 * const { results } = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   const l = mgSetup(8, 3, 2, comm.rank);
 *   const x = new MgExchange(comm, l, "real");
 *   const z = grid(l.n1, l.n2, l.n3);
 *   await zran3(comm, l, x, z, 8, "real");
 *   await x.free();
 *   let plus = 0, minus = 0;
 *   for (let i3 = 2; i3 < l.n3; i3++) for (let i2 = 2; i2 < l.n2; i2++) for (let i1 = 2; i1 < l.n1; i1++) {
 *     const v = z.a[(i1 - 1) + l.n1 * ((i2 - 1) + l.n2 * (i3 - 1))];
 *     if (v === 1) plus++;
 *     if (v === -1) minus++;
 *   }
 *   return [plus, minus];
 * });
 * const total = results.reduce((a, b) => [a[0] + b[0], a[1] + b[1]]);
 * assert.deepEqual(total, [10, 10]);
 * ```
 */
export async function zran3(
  comm: Comm,
  layout: MgLayout,
  exchange: MgExchange,
  z: Grid,
  nx: number,
  mode: ComputeMode,
): Promise<void> {
  const real = mode === "real";
  const ny = nx;
  const { n1, n2, n3 } = z;
  const [is1, is2, is3] = layout.is;
  const [ie1, ie2, ie3] = layout.ie;
  const d1 = ie1 - is1 + 1, e2 = ie2 - is2 + 2, e3 = ie3 - is3 + 2;
  const randoms = d1 * (e2 - 1) * (e3 - 1);
  if (real) {
    z.a.fill(0);
    const a1 = skipAhead(NPB_A, nx);
    const a2 = skipAhead(NPB_A, nx * ny);
    // The stream position of this brick's first point: nx·(is2−2 + ny·(is3−2)) + is1−2.
    const ai = skipAhead(NPB_A, nx * (is2 - 2 + ny * (is3 - 2)) + is1 - 2);
    const x0 = { x: NPB_SEED };
    randlc(x0, ai);
    for (let i3 = 2; i3 <= e3; i3++) {
      const x1 = { x: x0.x };
      for (let i2 = 2; i2 <= e2; i2++) {
        const xx = { x: x1.x };
        vranlc(d1, xx, NPB_A, z.a, 1 + n1 * ((i2 - 1) + n2 * (i3 - 1)));
        randlc(x1, a1);
      }
      randlc(x0, a2);
    }
  }
  const interior = Math.max(0, n1 - 2) * Math.max(0, n2 - 2) * Math.max(0, n3 - 2);
  // Zeroing, the stream, then two comparisons per interior point.
  const w0 = zeroWork(n1, n2, n3);
  await comm.compute({
    flops: RANDLC_FLOPS * randoms + 2 * interior,
    bytes: (w0.bytes ?? 0) + 8 * randoms + 8 * interior,
  });
  const cand = real ? localCandidates(z) : undefined;

  await comm.barrier();
  // Which candidates are globally best? Ten rounds, largest and smallest in turn.
  const best = new Float64Array(1), temp = new Float64Array(1);
  const jg = new Int32Array(4), jgTemp = new Int32Array(4);
  const at = (p: [number, number, number]) => z.a[(p[0] - 1) + n1 * ((p[1] - 1) + n2 * (p[2] - 1))];
  let i1 = MM - 1, i0 = MM - 1;
  for (let i = MM - 1; i >= 0; i--) {
    for (const side of ["hi", "lo"] as const) {
      const idx = side === "hi" ? i1 : i0;
      const pos = cand ? (side === "hi" ? cand.hiPos : cand.loPos)[idx] : undefined;
      best[0] = pos ? at(pos) : 0;
      await comm.allreduce(best, temp, side === "hi" ? "MAX" : "MIN");
      if (pos && temp[0] === at(pos)) {
        jg.set([comm.rank, is1 - 2 + pos[0], is2 - 2 + pos[1], is3 - 2 + pos[2]]);
        if (side === "hi") i1--;
        else i0--;
      } else jg.fill(0);
      await comm.allreduce(jg, jgTemp, "MAX");
    }
  }
  const m1 = i1 + 1, m0 = i0 + 1;

  await comm.barrier();
  if (real && cand) {
    z.a.fill(0);
    for (let i = MM - 1; i >= m0; i--) {
      const p = cand.loPos[i];
      z.a[(p[0] - 1) + n1 * ((p[1] - 1) + n2 * (p[2] - 1))] = -1.0;
    }
    for (let i = MM - 1; i >= m1; i--) {
      const p = cand.hiPos[i];
      z.a[(p[0] - 1) + n1 * ((p[1] - 1) + n2 * (p[2] - 1))] = 1.0;
    }
  }
  await comm.compute(zeroWork(n1, n2, n3));
  await exchange.comm3(z, layout.lt);
}

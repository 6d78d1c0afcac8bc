/**
 * BT's norms and verification (NPB 3.4 BT/error.f90 `error_norm`,
 * `rhs_norm`; BT/verify.f90): the RMS norm of u − exact over every cell
 * point and of rhs over the interior, each an MPI_Allreduce of five sums
 * on comm_setup, and the comparison with NPB's reference values.
 *
 * @module
 */
import { rmsOfSums, verifyNorms } from "../cfd/verify.ts";
import type { NasClass } from "../kernel.ts";
import { BT_WORK, type BtGrid, interiorPoints } from "./grid.ts";
import { forInterior } from "./init.ts";
import { BT_EPSILON, BT_REFERENCE, type BtClassName } from "./params.ts";

/** Sum over processes, divide by (n − 2)³ as NPB does (direction by direction), take roots. */
async function rms(g: BtGrid, work: Float64Array): Promise<number[]> {
  const out = new Float64Array(5);
  await g.comm.allreduce(work, out, "SUM");
  return rmsOfSums(out, g.n);
}

/**
 * error_norm: the RMS norm of u − exact over every point of every cell.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorNorm } from "./verify.ts";
 * assert.equal(typeof errorNorm, "function"); // checked against NPB's reference values by the BT tests
 * ```
 */
export async function errorNorm(g: BtGrid): Promise<number[]> {
  const sum = new Float64Array(5), ex = new Float64Array(5);
  let points = 0;
  for (const c of g.cells) {
    const { low, high } = c.cell;
    points += c.cell.size[0] * c.cell.size[1] * c.cell.size[2];
    if (!g.real) continue;
    for (let k = low[2]; k <= high[2]; k++) {
      for (let j = low[1]; j <= high[1]; j++) {
        for (let i = low[0]; i <= high[0]; i++) {
          g.exact(i * g.dnm1, j * g.dnm1, k * g.dnm1, ex, 0);
          const q = 5 * c.pt(i - low[0], j - low[1], k - low[2]);
          for (let m = 0; m < 5; m++) {
            const add = c.u[q + m] - ex[m];
            sum[m] = sum[m] + add * add;
          }
        }
      }
    }
  }
  await g.charge([[BT_WORK.exact, points], [BT_WORK.norm, points]]);
  return await rms(g, sum);
}

/**
 * rhs_norm: the RMS norm of rhs over every cell's interior.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rhsNorm } from "./verify.ts";
 * assert.equal(typeof rhsNorm, "function"); // checked against NPB's reference values by the BT tests
 * ```
 */
export async function rhsNorm(g: BtGrid): Promise<number[]> {
  const sum = new Float64Array(5);
  let points = 0;
  for (const c of g.cells) {
    points += interiorPoints(c.cell);
    if (!g.real) continue;
    forInterior(c, (q) => {
      for (let m = 0; m < 5; m++) {
        const add = c.rhs[q + m];
        sum[m] = sum[m] + add * add;
      }
    });
  }
  await g.charge([[BT_WORK.norm, points]]);
  return await rms(g, sum);
}

/**
 * verify.f90's comparison on rank 0: the residual norms `xcr` (already
 * divided by dt) and error norms `xce` against NPB's values for `cls`
 * (relative difference ≤ 1e-8 each, NaN failing, and dt must be the
 * class's); the verdict and NPB's lines (formats 1990 … 2021).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BT_REFERENCE } from "./params.ts";
 * import { btVerify } from "./verify.ts";
 * const { xcr, xce } = BT_REFERENCE.S;
 * const ok = btVerify("S", [...xcr], [...xce], 0.01);
 * assert.equal(ok.verified, true);
 * assert.equal(ok.lines[1], " accuracy setting for epsilon =  0.1000000000000E-07");
 * const off = btVerify("S", [...xcr], xce.map((x, m) => m === 4 ? x * (1 + 2e-8) : x), 0.01);
 * assert.equal(off.verified, false);
 * assert.ok(off.lines.some((l) => l.startsWith(" FAILURE:  5")));
 * ```
 */
export function btVerify(
  cls: NasClass,
  xcr: readonly number[],
  xce: readonly number[],
  dt: number,
): { verified: boolean; lines: string[] } {
  return verifyNorms(cls, BT_REFERENCE[cls as BtClassName], xcr, xce, dt, BT_EPSILON);
}

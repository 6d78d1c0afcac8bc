/**
 * SP's norms and verification (NPB 3.4 SP/error.f90 `error_norm`,
 * `rhs_norm`, and verify.f90): RMS norms of the solution error against the
 * exact solution over every grid point and of the right-hand side over the
 * interior points (each an MPI_Allreduce of five sums on comm_setup), and
 * the comparison with NPB's reference values.
 *
 * @module
 */
import { rmsOfSums, verifyNorms } from "../cfd/verify.ts";
import type { NasClass } from "../kernel.ts";
import { SP_WORK, type SpState } from "./data.ts";
import { forInterior } from "./init.ts";
import { SP_CLASSES, SP_EPSILON, SP_REFERENCE } from "./params.ts";

/** rms(m) / (n − 2)³ (three divisions, as error.f90), square root. */
async function reduceNorm(g: SpState, work: Float64Array): Promise<number[]> {
  await g.flush();
  const rms = new Float64Array(5);
  await g.setup.allreduce(work, rms, "SUM");
  return rmsOfSums(rms, g.n);
}

/**
 * error.f90 `error_norm`: the RMS norm of u − exact over every point of
 * every cell.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorNorm } from "./verify.ts";
 * assert.equal(typeof errorNorm, "function"); // checked against NPB's reference values by the SP tests
 * ```
 */
export async function errorNorm(g: SpState): Promise<number[]> {
  const work = new Float64Array(5), ex = new Float64Array(5), dn = g.dnm1;
  for (const c of g.cells) {
    g.work(SP_WORK.exact, c.points());
    g.work(SP_WORK.norm, c.points());
    if (!g.real) continue;
    for (let k = 0; k < c.size[2]; k++) {
      const zeta = (k + c.low[2]) * dn;
      for (let j = 0; j < c.size[1]; j++) {
        const eta = (j + c.low[1]) * dn;
        for (let i = 0; i < c.size[0]; i++) {
          g.exact((i + c.low[0]) * dn, eta, zeta, ex, 0);
          const q = 5 * c.pt(i, j, k);
          for (let m = 0; m < 5; m++) {
            const add = c.u[q + m] - ex[m];
            work[m] = work[m] + add * add;
          }
        }
      }
    }
  }
  return await reduceNorm(g, work);
}

/**
 * error.f90 `rhs_norm`: the RMS norm of rhs over the interior points.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rhsNorm } from "./verify.ts";
 * assert.equal(typeof rhsNorm, "function"); // checked against NPB's reference values by the SP tests
 * ```
 */
export async function rhsNorm(g: SpState): Promise<number[]> {
  const work = new Float64Array(5);
  for (const c of g.cells) {
    g.work(SP_WORK.norm, c.interior());
    if (!g.real) continue;
    forInterior(c, (p) => {
      for (let m = 0; m < 5; m++) {
        const add = c.rhs[5 * p + m];
        work[m] = work[m] + add * add;
      }
    });
  }
  return await reduceNorm(g, work);
}

/**
 * verify.f90's comparison (rank 0): the residual norms `xcr` (already
 * divided by dt) and error norms `xce` against NPB's reference values of
 * `cls` (relative difference ≤ 1e-8 each, and dt within 1e-8 of the
 * reference's). Returns the verdict and NPB's lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SP_REFERENCE } from "./params.ts";
 * import { spVerify } from "./verify.ts";
 * const { xcr, xce } = SP_REFERENCE.S;
 * const ok = spVerify("S", xcr, xce, 0.015);
 * assert.equal(ok.verified, true);
 * assert.equal(ok.lines[0], " Verification being performed for class S");
 * const off = spVerify("S", xcr.map((x, m) => m === 2 ? x * (1 + 2e-8) : x), xce, 0.015);
 * assert.equal(off.verified, false);
 * assert.ok(off.lines.some((l) => l.startsWith(" FAILURE:  3")));
 * ```
 */
export function spVerify(
  cls: NasClass,
  xcr: readonly number[],
  xce: readonly number[],
  dt: number,
): { verified: boolean; lines: string[] } {
  const ref = SP_REFERENCE[cls as keyof typeof SP_REFERENCE];
  const known = ref && SP_CLASSES[cls as keyof typeof SP_CLASSES];
  return verifyNorms(cls, known ? ref : undefined, xcr, xce, dt, SP_EPSILON);
}

/**
 * LU's boundary and initial values (NPB 3.4 LU/setbv.f90, setiv.f90): u
 * takes the exact solution on the six faces of the global box and, inside,
 * the transfinite interpolation of the face values.
 *
 * @module
 */
import { LU_WORK, type LuGrid } from "./grid.ts";

/**
 * setbv.f90: the exact solution on the faces k = 1, nz (every process) and
 * on the j, i faces this process touches.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LuGrid } from "./grid.ts";
 * import { setbv } from "./init.ts";
 * import { subdomain } from "./params.ts";
 * const g = new LuGrid({ n: 12, itmax: 1, dt: 0.5 }, subdomain(12, 12, 12, 1, 1, 0), true, { compute: async () => 0 } as never);
 * await setbv(g);
 * const e = new Float64Array(5);
 * g.exact(1, 5, 7, e, 0);
 * assert.deepEqual([...g.u.subarray(g.at(1, 5, 7), g.at(1, 5, 7) + 5)], [...e]);
 * ```
 */
export async function setbv(g: LuGrid): Promise<void> {
  const { nx, ny, nz, sub, u } = g;
  const { ipt, jpt } = sub;
  let points = 2 * nx * ny;
  if (g.real) {
    for (let j = 1; j <= ny; j++) {
      for (let i = 1; i <= nx; i++) {
        g.exact(ipt + i, jpt + j, 1, u, g.at(i, j, 1));
        g.exact(ipt + i, jpt + j, nz, u, g.at(i, j, nz));
      }
    }
  }
  const face = (cond: boolean, n1: number, put: (t: number, k: number) => void) => {
    if (!cond) return;
    points += n1 * nz;
    if (!g.real) return;
    for (let k = 1; k <= nz; k++) for (let t = 1; t <= n1; t++) put(t, k);
  };
  face(sub.west === -1, nx, (i, k) => g.exact(ipt + i, 1, k, u, g.at(i, 1, k)));
  face(sub.east === -1, nx, (i, k) => g.exact(ipt + i, g.ny0, k, u, g.at(i, ny, k)));
  face(sub.north === -1, ny, (j, k) => g.exact(1, jpt + j, k, u, g.at(1, j, k)));
  face(sub.south === -1, ny, (j, k) => g.exact(g.nx0, jpt + j, k, u, g.at(nx, j, k)));
  await g.charge(LU_WORK.exact, points);
}

/**
 * setiv.f90: inside the global box, u blends the exact values on the six
 * faces (pξ + pη + pζ − pξpη − pηpζ − pζpξ + pξpηpζ).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LuGrid } from "./grid.ts";
 * import { setiv } from "./init.ts";
 * import { subdomain } from "./params.ts";
 * const g = new LuGrid({ n: 12, itmax: 1, dt: 0.5 }, subdomain(12, 12, 12, 1, 1, 0), true, { compute: async () => 0 } as never);
 * await setiv(g);
 * assert.ok(g.u[g.at(6, 6, 6)] > 0);
 * assert.equal(g.u[g.at(1, 6, 6)], 0); // a face point is setbv's
 * ```
 */
export async function setiv(g: LuGrid): Promise<void> {
  const { nx, ny, nz, sub, u, nx0, ny0 } = g;
  const { ipt, jpt } = sub;
  const e = new Float64Array(30);
  let points = 0;
  for (let k = 2; k <= nz - 1; k++) {
    const zeta = (k - 1) / (nz - 1);
    for (let j = 1; j <= ny; j++) {
      const jglob = jpt + j;
      if (jglob === 1 || jglob === ny0) continue;
      const eta = (jglob - 1) / (ny0 - 1);
      for (let i = 1; i <= nx; i++) {
        const iglob = ipt + i;
        if (iglob === 1 || iglob === nx0) continue;
        points++;
        if (!g.real) continue;
        const xi = (iglob - 1) / (nx0 - 1);
        g.exact(1, jglob, k, e, 0);
        g.exact(nx0, jglob, k, e, 5);
        g.exact(iglob, 1, k, e, 10);
        g.exact(iglob, ny0, k, e, 15);
        g.exact(iglob, jglob, 1, e, 20);
        g.exact(iglob, jglob, nz, e, 25);
        const q = g.at(i, j, k);
        for (let m = 0; m < 5; m++) {
          const pxi = (1 - xi) * e[m] + xi * e[5 + m];
          const peta = (1 - eta) * e[10 + m] + eta * e[15 + m];
          const pzeta = (1 - zeta) * e[20 + m] + zeta * e[25 + m];
          u[q + m] = pxi + peta + pzeta - pxi * peta - peta * pzeta - pzeta * pxi +
            pxi * peta * pzeta;
        }
      }
    }
  }
  await g.charge(LU_WORK.interpolate, points);
}

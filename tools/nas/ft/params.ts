/**
 * FT's problem classes, reference checksums and data decomposition, as NPB
 * 3.4-MPI defines them (FT/ft.f90 `setup`, `verify`; sys/setparams.c
 * `write_ft_info`).
 *
 * Decomposition (ft.f90 `setup`, no inputft.data): one process is the 0-D
 * layout; up to `nz` processes cut the grid into z-slabs (1-D layout, a
 * 1 × np processor array); more processes use pencils (2-D layout, an
 * nz × np/nz array). The number of processes must be a power of two
 * (`get_active_nprocs` kind 3 with NPB_NPROCS_STRICT's default).
 *
 * @module
 */
import type { NasClass } from "../kernel.ts";

/**
 * One FT class: grid and time steps (setparams.c `write_ft_info`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FT_CLASSES } from "./params.ts";
 * assert.deepEqual(FT_CLASSES.S, { nx: 64, ny: 64, nz: 64, niter: 6 });
 * ```
 */
export interface FtClass {
  nx: number;
  ny: number;
  nz: number;
  /** Time steps (`niter_default`). */
  niter: number;
}

/**
 * FT's classes S, W, A, B.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FT_CLASSES } from "./params.ts";
 * assert.equal(FT_CLASSES.B.niter, 20);
 * assert.equal(FT_CLASSES.A.nx * FT_CLASSES.A.ny * FT_CLASSES.A.nz, 256 * 256 * 128);
 * ```
 */
export const FT_CLASSES: Readonly<Record<"S" | "W" | "A" | "B", FtClass>> = {
  S: { nx: 64, ny: 64, nz: 64, niter: 6 },
  W: { nx: 128, ny: 128, nz: 32, niter: 6 },
  A: { nx: 256, ny: 256, nz: 128, niter: 6 },
  B: { nx: 512, ny: 256, nz: 256, niter: 20 },
};

/**
 * NPB's reference checksums (ft.f90 `verify`, `csum_ref`): per class, one
 * complex [re, im] per time step.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FT_CLASSES, FT_REFERENCE } from "./params.ts";
 * assert.equal(FT_REFERENCE.B.length, FT_CLASSES.B.niter);
 * assert.deepEqual(FT_REFERENCE.S[0], [5.546087004964e+02, 4.845363331978e+02]);
 * ```
 */
export const FT_REFERENCE: Readonly<Record<"S" | "W" | "A" | "B", readonly [number, number][]>> = {
  S: [
    [5.546087004964e+02, 4.845363331978e+02],
    [5.546385409189e+02, 4.865304269511e+02],
    [5.546148406171e+02, 4.883910722336e+02],
    [5.545423607415e+02, 4.901273169046e+02],
    [5.544255039624e+02, 4.917475857993e+02],
    [5.542683411902e+02, 4.932597244941e+02],
  ],
  W: [
    [5.673612178944e+02, 5.293246849175e+02],
    [5.631436885271e+02, 5.282149986629e+02],
    [5.594024089970e+02, 5.270996558037e+02],
    [5.560698047020e+02, 5.260027904925e+02],
    [5.530898991250e+02, 5.249400845633e+02],
    [5.504159734538e+02, 5.239212247086e+02],
  ],
  A: [
    [5.046735008193e+02, 5.114047905510e+02],
    [5.059412319734e+02, 5.098809666433e+02],
    [5.069376896287e+02, 5.098144042213e+02],
    [5.077892868474e+02, 5.101336130759e+02],
    [5.085233095391e+02, 5.104914655194e+02],
    [5.091487099959e+02, 5.107917842803e+02],
  ],
  B: [
    [5.177643571579e+02, 5.077803458597e+02],
    [5.154521291263e+02, 5.088249431599e+02],
    [5.146409228649e+02, 5.096208912659e+02],
    [5.142378756213e+02, 5.101023387619e+02],
    [5.139626667737e+02, 5.103976610617e+02],
    [5.137423460082e+02, 5.105948019802e+02],
    [5.135547056878e+02, 5.107404165783e+02],
    [5.133910925466e+02, 5.108576573661e+02],
    [5.132470705390e+02, 5.109577278523e+02],
    [5.131197729984e+02, 5.110460304483e+02],
    [5.130070319283e+02, 5.111252433800e+02],
    [5.129070537032e+02, 5.111968077718e+02],
    [5.128182883502e+02, 5.112616233064e+02],
    [5.127393733383e+02, 5.113203605551e+02],
    [5.126691062020e+02, 5.113735928093e+02],
    [5.126064276004e+02, 5.114218460548e+02],
    [5.125504076570e+02, 5.114656139760e+02],
    [5.125002331720e+02, 5.115053595966e+02],
    [5.124551951846e+02, 5.115415130407e+02],
    [5.124146770029e+02, 5.115744692211e+02],
  ],
};

/**
 * FT's verification tolerance (ft.f90 `verify`: epsilon = 1.0d-12).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FT_EPSILON } from "./params.ts";
 * assert.equal(FT_EPSILON, 1e-12);
 * ```
 */
export const FT_EPSILON = 1e-12;

/**
 * The data layouts of ft.f90 (`layout_0D`, `layout_1D`, `layout_2D`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { FtLayoutType } from "./params.ts";
 * const t: FtLayoutType = "1D";
 * assert.equal(t, "1D");
 * ```
 */
export type FtLayoutType = "0D" | "1D" | "2D";

/**
 * Where one process's data lies in each of the three stages of the FFT
 * (ft.f90 `setup`): `dims[s]` are the local array's extents in stage s
 * (0: x-y-z, 1: after the x transform, 2: after the y transform), and
 * `start[s]` the 1-based global x, y, z of its first element.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ftLayout } from "./params.ts";
 * const l = ftLayout({ nx: 64, ny: 64, nz: 64, niter: 6 }, 4, 1);
 * assert.equal(l.type, "1D");
 * assert.deepEqual(l.dims[0], [64, 64, 16]);
 * assert.deepEqual(l.dims[2], [64, 64, 16]); // z, x, y/np
 * assert.deepEqual(l.start[0], [1, 1, 17]);
 * assert.deepEqual(l.start[2], [1, 17, 1]);
 * ```
 */
export interface FtLayout {
  type: FtLayoutType;
  /** Processor array np1 × np2. */
  np1: number;
  np2: number;
  /** This process's coordinates: me1 = rank / np2, me2 = rank mod np2. */
  me1: number;
  me2: number;
  /** Local extents per stage, [d1, d2, d3]. */
  dims: [number, number, number][];
  /** 1-based global [x, y, z] start per stage. */
  start: [number, number, number][];
  /** 1-based global [x, y, z] end per stage. */
  end: [number, number, number][];
  /** Lines per FFT block (`fftblock`). */
  fftblock: number;
  /** Complex elements per process (`ntdivnp`). */
  ntdivnp: number;
}

/**
 * Why `np` processes cannot run FT class `cls` (undefined when they can).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ftCheckNp } from "./params.ts";
 * assert.equal(ftCheckNp(4, "S"), undefined);
 * assert.match(ftCheckNp(6, "S")!, /power-of-two/);
 * ```
 */
export function ftCheckNp(np: number, cls: NasClass): string | undefined {
  const c = FT_CLASSES[cls as keyof typeof FT_CLASSES];
  if (!c) return `FT has no class ${cls} here (S, W, A, B)`;
  if (!Number.isInteger(np) || np < 1 || (np & (np - 1)) !== 0) {
    return `FT needs a power-of-two number of processes (got ${np})`;
  }
  const { np1, np2 } = grid(c, np);
  if (c.ny % np1 !== 0 || c.nx % np1 !== 0 || c.nz % np2 !== 0 || c.ny % np2 !== 0) {
    return `FT class ${cls} cannot be split over ${np} processes (${np1} x ${np2} array)`;
  }
  return undefined;
}

function grid(c: FtClass, np: number): { np1: number; np2: number; type: FtLayoutType } {
  if (np === 1) return { np1: 1, np2: 1, type: "0D" };
  if (np <= c.nz) return { np1: 1, np2: np, type: "1D" };
  return { np1: c.nz, np2: np / c.nz, type: "2D" };
}

/**
 * The layout of process `rank` of `np` for class `c` (ft.f90 `setup`);
 * `np` must pass {@link ftCheckNp}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FT_CLASSES, ftLayout } from "./params.ts";
 * // 256 processes on class W (nz = 32): pencils, a 32 x 8 array
 * const l = ftLayout(FT_CLASSES.W, 256, 9);
 * assert.equal(l.type, "2D");
 * assert.deepEqual([l.np1, l.np2, l.me1, l.me2], [32, 8, 1, 1]);
 * assert.deepEqual(l.dims, [[128, 4, 4], [128, 4, 4], [32, 4, 16]]);
 * assert.equal(l.fftblock, 4);
 * ```
 */
export function ftLayout(c: FtClass, np: number, rank: number): FtLayout {
  const { np1, np2, type } = grid(c, np);
  const { nx, ny, nz } = c;
  const dims: [number, number, number][] = type === "0D"
    ? [[nx, ny, nz], [nx, ny, nz], [nx, ny, nz]]
    : type === "1D"
    ? [[nx, ny, nz], [nx, ny, nz], [nz, nx, ny]]
    : [[nx, ny, nz], [ny, nx, nz], [nz, nx, ny]];
  for (const d of dims) {
    d[1] /= np1;
    d[2] /= np2;
  }
  const me2 = rank % np2, me1 = Math.floor(rank / np2);
  const span = (n: number, parts: number, me: number): [number, number] => [
    1 + me * n / parts,
    (me + 1) * n / parts,
  ];
  let start: [number, number, number][], end: [number, number, number][];
  if (type === "0D") {
    start = [[1, 1, 1], [1, 1, 1], [1, 1, 1]];
    end = [[nx, ny, nz], [nx, ny, nz], [nx, ny, nz]];
  } else if (type === "1D") {
    const z = span(nz, np2, me2), y = span(ny, np2, me2);
    start = [[1, 1, z[0]], [1, 1, z[0]], [1, y[0], 1]];
    end = [[nx, ny, z[1]], [nx, ny, z[1]], [nx, y[1], nz]];
  } else {
    const y1 = span(ny, np1, me1), z1 = span(nz, np2, me2);
    const x2 = span(nx, np1, me1), y3 = span(ny, np2, me2);
    start = [[1, y1[0], z1[0]], [x2[0], 1, z1[0]], [x2[0], y3[0], 1]];
    end = [[nx, y1[1], z1[1]], [x2[1], ny, z1[1]], [x2[1], y3[1], nz]];
  }
  let fftblock = 16;
  if (type === "2D") fftblock = Math.min(fftblock, dims[0][1], dims[1][1], dims[2][1]);
  return {
    type,
    np1,
    np2,
    me1,
    me2,
    dims,
    start,
    end,
    fftblock,
    ntdivnp: (nx * ny / np) * nz,
  };
}

/**
 * MG's 3-D block decomposition (NPB 3.4 mg.f90: `setup` and `alloc_space`).
 *
 * A power-of-two number of processes forms a pi1 × pi2 × pi3 grid
 * (log2 np split as evenly as possible, the first axis getting the smallest
 * share); each process owns a brick of every level's grid plus one ghost
 * layer on each side. On coarse levels some processes own no points along
 * an axis ("dead": the brick has extent 2, ghosts only); their neighbours
 * then skip them (the neighbour stride doubles), and the level above
 * hands points to them and back through the expanding exchanges of
 * `comm3_ex` (`giveEx` / `takeEx`).
 *
 * Levels and axes are indexed as in NPB: level k = 1..lt (lt finest),
 * axis 0..2 for NPB's 1..3, direction −1 / +1.
 *
 * @module
 */

/**
 * One process's view of the decomposition.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mgSetup } from "./setup.ts";
 * const l = mgSetup(32, 5, 4, 3); // 4 ranks: a 1 × 2 × 2 grid
 * assert.deepEqual(l.pi, [1, 2, 2]);
 * assert.deepEqual([l.n1, l.n2, l.n3], [34, 18, 18]);
 * assert.equal(l.nbr(1, +1, 5), 2); // NPB axis 2: idi (0, 1, 1) → (0, 0, 1)
 * ```
 */
export interface MgLayout {
  /** Processes per axis. */
  pi: [number, number, number];
  /** This process's coordinates in the process grid. */
  idi: [number, number, number];
  /** Finest level. */
  lt: number;
  /** Brick extents per level including ghosts: m[axis][k]. */
  m: [number[], number[], number[]];
  /** Whether the process owns no points on level k. */
  dead: boolean[];
  /** Expanding exchange flags per axis and level: giveEx[axis][k], takeEx[axis][k]. */
  giveEx: [boolean[], boolean[], boolean[]];
  takeEx: [boolean[], boolean[], boolean[]];
  /** Global position of the first owned point on the finest level (NPB's is1..is3, 1-based) and the last. */
  is: [number, number, number];
  ie: [number, number, number];
  /** Finest-level extents with ghosts (n1, n2, n3). */
  n1: number;
  n2: number;
  n3: number;
  /** NPB's communication buffer length, doubles (`nm2` = 2·nm², nm = 2 + 2^lm). */
  nm2: number;
  /** Neighbour rank along `axis` in direction `dir` on level `k`. */
  nbr(axis: number, dir: -1 | 1, k: number): number;
}

const idiv = (a: number, b: number) => Math.trunc(a / b);

/**
 * log2 of the process count as NPB computes it (`log(float(nprocs)+0.0001)/log(2.0)`, truncated).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { logP } from "./setup.ts";
 * assert.equal(logP(16), 4);
 * assert.equal(logP(1), 0);
 * ```
 */
export function logP(np: number): number {
  return Math.trunc(Math.log(np + 0.0001) / Math.log(2.0));
}

/**
 * The process grid NPB's `setup` builds for `np` ranks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mgGrid } from "./setup.ts";
 * assert.deepEqual(mgGrid(16), [2, 2, 4]);
 * assert.deepEqual(mgGrid(8), [2, 2, 2]);
 * assert.deepEqual(mgGrid(2), [1, 1, 2]);
 * ```
 */
export function mgGrid(np: number): [number, number, number] {
  const lp = logP(np);
  const dx = idiv(lp, 3);
  const dy = idiv(lp - dx, 2);
  const p1 = 2 ** dx, p2 = 2 ** dy;
  return [p1, p2, idiv(np, p1 * p2)];
}

/**
 * Rank `me`'s layout for an nx³ grid with lt levels on `np` ranks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mgSetup } from "./setup.ts";
 * // 16 ranks on 32³: the 4 processes along axis 3 share 2 points on level 1.
 * const l = mgSetup(32, 5, 16, 0);
 * assert.equal(l.dead[1], true);
 * assert.equal(l.m[2][1], 2);
 * // Its +3 neighbour owns one: rank 0 takes that neighbour's points when level 2 is interpolated.
 * assert.equal(l.takeEx[2][2], true);
 * assert.equal(l.giveEx[2][2], false);
 * ```
 */
export function mgSetup(nx: number, lt: number, np: number, me: number): MgLayout {
  const ng: [number[], number[], number[]] = [[], [], []];
  for (let ax = 0; ax < 3; ax++) {
    ng[ax][lt] = nx;
    for (let k = lt - 1; k >= 1; k--) ng[ax][k] = idiv(ng[ax][k + 1], 2);
  }
  const pi = mgGrid(np);
  const idi: [number, number, number] = [
    me % pi[0],
    idiv(me, pi[0]) % pi[1],
    idiv(me, pi[0] * pi[1]),
  ];
  const next = [1, 1, 1];
  const m: [number[], number[], number[]] = [[], [], []];
  const dead: boolean[] = [];
  const giveEx: [boolean[], boolean[], boolean[]] = [[], [], []];
  const takeEx: [boolean[], boolean[], boolean[]] = [[], [], []];
  // nbrs[k][axis][0 for −1, 1 for +1]
  const nbrs: number[][][] = [];
  for (let k = lt; k >= 1; k--) {
    dead[k] = false;
    for (let ax = 0; ax < 3; ax++) {
      takeEx[ax][k] = false;
      giveEx[ax][k] = false;
      const g = ng[ax][k], p = pi[ax], i = idi[ax];
      const mi = 2 + idiv((i + 1) * g, p) - idiv(i * g, p);
      const mip = 2 + idiv((next[ax] + i + 1) * g, p) - idiv((next[ax] + i) * g, p);
      if (mip === 2 || mi === 2) next[ax] *= 2;
      if (k + 1 <= lt) {
        if (mip === 2 && mi === 3) giveEx[ax][k + 1] = true;
        if (mip === 3 && mi === 2) takeEx[ax][k + 1] = true;
      }
      m[ax][k] = mi;
    }
    if (m[0][k] === 2 || m[1][k] === 2 || m[2][k] === 2) dead[k] = true;
    // Fortran's mod keeps the dividend's sign, as JS's % does.
    const idin = (ax: number, dir: number) => (idi[ax] + dir * next[ax] + pi[ax]) % pi[ax];
    nbrs[k] = [0, 1, 2].map((ax) =>
      [-1, 1].map((dir) => {
        const c = [idi[0], idi[1], idi[2]];
        c[ax] = idin(ax, dir);
        return c[0] + pi[0] * (c[1] + pi[1] * c[2]);
      })
    );
  }
  const is: [number, number, number] = [0, 0, 0];
  const ie: [number, number, number] = [0, 0, 0];
  for (let ax = 0; ax < 3; ax++) {
    const g = ng[ax][lt];
    is[ax] = 2 + g - idiv((pi[ax] - idi[ax]) * g, pi[ax]);
    ie[ax] = 1 + g - idiv((pi[ax] - 1 - idi[ax]) * g, pi[ax]);
  }
  // alloc_space: the largest brick edge on a node bounds the exchange buffers.
  const lm = lt - idiv(logP(np), 3);
  const nm = 2 + 2 ** lm;
  return {
    pi,
    idi,
    lt,
    m,
    dead,
    giveEx,
    takeEx,
    is,
    ie,
    n1: 3 + ie[0] - is[0],
    n2: 3 + ie[1] - is[1],
    n3: 3 + ie[2] - is[2],
    nm2: 2 * nm * nm,
    nbr: (axis, dir, k) => nbrs[k][axis][dir < 0 ? 0 : 1],
  };
}

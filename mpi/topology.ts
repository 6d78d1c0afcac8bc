/**
 * Cartesian process topologies (MPI-4.0 §8.5): `dimsCreate`
 * (MPI_Dims_create), and the calls that read or check a communicator's
 * grid — MPI_Topo_test, MPI_Cartdim_get, MPI_Cart_get, MPI_Cart_rank,
 * MPI_Cart_coords, MPI_Cart_shift, MPI_Cart_map — as `Comm`'s methods of
 * the same names forward them with the communicator's {@link CommCore}.
 * Making a communicator with a grid (MPI_Cart_create, MPI_Cart_sub) is
 * comm.ts's, as every making of a communicator is: this module checks
 * their arguments and works out the grid, comm.ts makes the communicator
 * the way `create` and `split` do.
 *
 * Ranks are never reordered (MPICH's MPI_Cart_map keeps every rank, so its
 * `reorder` changes nothing either): rank r of a grid is the process that
 * was rank r of the communicator it was made from. Error classes are
 * MPICH's (src/binding/c/topo_api.txt, src/mpi/topo/topo_impl.c).
 *
 * @module
 */
import type { CartTopology, CommCore } from "./comm_core.ts";
import { CART, PROC_NULL, UNDEFINED } from "./constants.ts";
import { MpiError } from "./errors.ts";

/** Largest C int: MPI's int arguments (nnodes). */
const INT_MAX = 0x7fff_ffff;

/**
 * `cartGet`'s answer (MPI_Cart_get, MPI-4.0 §8.5.5): the grid's extent and
 * periodicity in each dimension and the calling process's coordinates.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CartInfo } from "./topology.ts";
 * const g: CartInfo = { dims: [2, 3], periods: [true, false], coords: [1, 2] };
 * assert.equal(g.coords[0] * g.dims[1] + g.coords[1], 5); // row-major: rank 5
 * ```
 */
export interface CartInfo {
  /** Processes along each dimension. */
  dims: number[];
  /** Whether each dimension is periodic. */
  periods: boolean[];
  /** The calling process's coordinates. */
  coords: number[];
}

/** "1 entry", "3 entries". */
function entries(n: number): string {
  return `${n} ${n === 1 ? "entry" : "entries"}`;
}

/**
 * `MPI_Dims_create` (MPI-4.0 §8.5.2): a grid of `nnodes` processes in
 * `dims.length` dimensions. Entries of `dims` that are positive are kept;
 * the zero entries are filled in, as close to each other as possible and in
 * non-increasing order. Returns a new array (`dims` is left as it was).
 *
 * "As close as possible" is MPICH's measure (after Träff and Lübbe,
 * "Specification Guideline Violations by MPI_Dims_create", EuroMPI 2015):
 * the smallest spread, largest minus smallest of the filled-in entries;
 * among grids that spread as little, the one whose smallest entries are
 * the largest (MPICH 4.0.2 gives the same answer on every input checked:
 * 1…300 processes in 1…5 dimensions and larger ones up to 2^31 − 2).
 *
 * Local, on no communicator: errors are thrown (as a group's are). Bad
 * input is `MPI_ERR_DIMS` — a negative or fractional entry, `nnodes` not a
 * multiple of the product of the non-zero entries (a multiple is enough,
 * as in MPICH and Open MPI), `nnodes` 0 (Open MPI's class; MPICH 4.0.2
 * never returns) — or `MPI_ERR_ARG` for an `nnodes` that is not a C int
 * of at least 0 and a `dims` that is not an array (MPICH's binding checks).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dimsCreate } from "./topology.ts";
 * // MPI-4.0 §8.5.2, Example 8.2.
 * assert.deepEqual(dimsCreate(6, [0, 0]), [3, 2]);
 * assert.deepEqual(dimsCreate(7, [0, 0]), [7, 1]);
 * assert.deepEqual(dimsCreate(6, [0, 3, 0]), [2, 3, 1]);
 * assert.throws(() => dimsCreate(7, [0, 3, 0]), /MPI_ERR_DIMS: .*not a multiple of 3/);
 * ```
 */
export function dimsCreate(nnodes: number, dims: readonly number[]): number[] {
  const what = "MPI_Dims_create";
  if (!Array.isArray(dims)) {
    throw new MpiError("MPI_ERR_ARG", `${what}: dims must be an array of integers`);
  }
  // MPICH's binding: nnodes is a non-negative int (MPIR_ERRTEST_ARGNEG, MPI_ERR_ARG).
  if (!Number.isInteger(nnodes) || nnodes < 0 || nnodes > INT_MAX) {
    throw new MpiError(
      "MPI_ERR_ARG",
      `${what}: nnodes ${nnodes} is not an integer in 0..${INT_MAX}`,
    );
  }
  if (nnodes === 0) {
    throw new MpiError("MPI_ERR_DIMS", `${what}: nnodes 0: a grid has at least one process`);
  }
  // MPI-4.0 §8.5.2: "Negative input values of dims[i] are erroneous" (MPICH: MPI_ERR_DIMS).
  let fixed = 1, free = 0;
  dims.forEach((d, i) => {
    if (!Number.isInteger(d)) {
      throw new MpiError("MPI_ERR_DIMS", `${what}: dims[${i}] = ${d} is not an integer`);
    }
    if (d < 0) throw new MpiError("MPI_ERR_DIMS", `${what}: dims[${i}] = ${d} is negative`);
    if (d === 0) free++;
    else fixed *= d;
  });
  // §8.5.2: "An error will occur if nnodes is not a multiple of" the product of the dims[i] ≠ 0.
  if (nnodes % fixed !== 0) {
    throw new MpiError(
      "MPI_ERR_DIMS",
      `${what}: nnodes ${nnodes} is not a multiple of ${fixed}, the product of the non-zero dims`,
    );
  }
  const fill = balanced(nnodes / fixed, free);
  let next = 0;
  return dims.map((d) => d === 0 ? fill[next++] : d);
}

/** The smallest x ≥ 1 with x^j ≥ r. */
function ceilRoot(r: number, j: number): number {
  let x = Math.max(1, Math.round(r ** (1 / j)));
  while (x ** j < r) x++;
  while (x > 1 && (x - 1) ** j >= r) x--;
  return x;
}

/**
 * `k` factors of `m`, non-increasing, with the smallest spread (first minus
 * last) and, among those, the largest last entry, then the one before it,
 * and so on: a depth-first search over non-decreasing factor sequences,
 * larger choices first, pruned by a lower bound on the spread.
 */
function balanced(m: number, k: number): number[] {
  if (k <= 1) return k === 0 ? [] : [m];
  const small: number[] = [], large: number[] = [];
  for (let d = 1; d * d <= m; d++) {
    if (m % d !== 0) continue;
    small.push(d);
    if (d * d !== m) large.push(m / d);
  }
  const divisors = [...small, ...large.reverse()]; // ascending
  let best: number[] = [];
  let bestSpread = Infinity;
  const seq: number[] = [];
  // The search visits whole sequences in decreasing lexicographic order, so the first one found
  // at a spread is the one whose small entries are largest: only a smaller spread replaces it.
  const search = (i: number, rest: number): void => {
    const left = k - i;
    if (left === 1) {
      if (rest - seq[0] < bestSpread) {
        best = [...seq, rest];
        bestSpread = rest - seq[0];
      }
      return;
    }
    const lo = i === 0 ? 1 : seq[i - 1];
    // The other entries are at least d, so d^left ≤ rest: start at the last divisor that allows.
    const top = ceilRoot(rest + 1, left) - 1;
    let first = 0;
    for (let hi = divisors.length - 1; first < hi;) {
      const mid = (first + hi + 1) >> 1;
      if (divisors[mid] <= top) first = mid;
      else hi = mid - 1;
    }
    for (let j = first; j >= 0; j--) {
      const d = divisors[j];
      if (d < lo) break;
      if (rest % d !== 0) continue;
      const min = i === 0 ? d : seq[0];
      // The largest entry is at least the `left - 1`-th root of what remains.
      if (Math.max(d, ceilRoot(rest / d, left - 1)) - min >= bestSpread) continue;
      seq.push(d);
      search(i + 1, rest / d);
      seq.pop();
    }
  };
  search(0, m);
  return best.reverse();
}

/**
 * The communicator's grid, or MPI_ERR_TOPOLOGY: MPI-4.0 §8.5.5–8.5.7 take
 * "a communicator with Cartesian structure" (MPICH's `**notcarttopo`).
 */
function grid<E extends MpiError>(c: CommCore<E>, what: string): CartTopology {
  c.check(what);
  const t = c.topology();
  if (t === undefined) {
    throw new MpiError(
      "MPI_ERR_TOPOLOGY",
      `${what} on rank ${c.rank}: ${c.name} has no Cartesian topology`,
    );
  }
  return t;
}

/** MPI-4.0 §8.5.5: coordinates of `rank` in row-major order (the last dimension varies fastest). */
function coordsOf(t: CartTopology, rank: number): number[] {
  const out = new Array<number>(t.dims.length);
  for (let i = t.dims.length - 1; i >= 0; i--) {
    out[i] = rank % t.dims[i];
    rank = Math.floor(rank / t.dims[i]);
  }
  return out;
}

/** The rank at `coords`, each already within its dimension. */
function rankAt(t: CartTopology, coords: readonly number[]): number {
  let r = 0;
  for (let i = 0; i < t.dims.length; i++) r = r * t.dims[i] + coords[i];
  return r;
}

/** `x` wrapped into 0..n−1. */
function wrap(x: number, n: number): number {
  return ((x % n) + n) % n;
}

/** An array of `n` booleans named `name`, or MPI_ERR_ARG. */
function checkFlags<E extends MpiError>(
  c: CommCore<E>,
  what: string,
  name: string,
  flags: readonly boolean[],
  n: number,
): void {
  if (!Array.isArray(flags)) {
    throw new MpiError(
      "MPI_ERR_ARG",
      `${what} on rank ${c.rank}: ${name} must be an array of booleans`,
    );
  }
  if (flags.length !== n) {
    throw new MpiError(
      "MPI_ERR_ARG",
      `${what} on rank ${c.rank}: ${name} has ${
        entries(flags.length)
      }, not ${n} (one per dimension)`,
    );
  }
  flags.forEach((f, i) => {
    if (typeof f !== "boolean") {
      throw new MpiError(
        "MPI_ERR_ARG",
        `${what} on rank ${c.rank}: ${name}[${i}] = ${f} is not true or false`,
      );
    }
  });
}

/**
 * The grid `dims`, `periods` describe, checked: each dimension a positive
 * integer (MPI_ERR_DIMS, "invalid dimension argument"; MPICH does not
 * check, and a zero there leaves every process out of the grid), `periods`
 * a boolean per dimension (MPI_ERR_ARG), and no more processes than the
 * communicator has: MPI_ERR_ARG for MPI_Cart_create, MPI_ERR_DIMS for
 * MPI_Cart_map (`tooLarge`: MPICH's classes, cart_create's `**cartdim` and
 * cart_map's `**topotoolarge`). Returns the grid and its number of processes.
 */
function checkGrid<E extends MpiError>(
  c: CommCore<E>,
  what: string,
  dims: readonly number[],
  periods: readonly boolean[],
  tooLarge: "MPI_ERR_ARG" | "MPI_ERR_DIMS",
): { topo: CartTopology; nnodes: number } {
  c.check(what);
  if (!Array.isArray(dims)) {
    throw new MpiError(
      "MPI_ERR_ARG",
      `${what} on rank ${c.rank}: dims must be an array of positive integers`,
    );
  }
  let nnodes = 1;
  dims.forEach((d, i) => {
    if (!Number.isInteger(d) || d < 1) {
      throw new MpiError(
        "MPI_ERR_DIMS",
        `${what} on rank ${c.rank}: dims[${i}] = ${d} is not a positive integer`,
      );
    }
    nnodes *= d;
  });
  checkFlags(c, what, "periods", periods, dims.length);
  // MPI-4.0 §8.5.1: "The call is erroneous if it specifies a grid that is larger than the group
  // size" (§8.5.8 the same of MPI_Cart_map).
  if (nnodes > c.size) {
    throw new MpiError(
      tooLarge,
      `${what} on rank ${c.rank}: the grid has ${nnodes} processes, ${c.name} ${c.size}`,
    );
  }
  return { topo: Object.freeze({ dims: [...dims], periods: [...periods] }), nnodes };
}

/** `MPI_Topo_test` (MPI-4.0 §8.5.5): CART for a communicator with a grid, UNDEFINED otherwise. */
function topoTest<E extends MpiError>(c: CommCore<E>): typeof CART | typeof UNDEFINED | E {
  try {
    c.check("MPI_Topo_test");
    return c.topology() === undefined ? UNDEFINED : CART;
  } catch (e) {
    return c.raise(e);
  }
}

/** `MPI_Cartdim_get` (§8.5.5): the grid's number of dimensions. */
function cartdimGet<E extends MpiError>(c: CommCore<E>): number | E {
  try {
    return grid(c, "MPI_Cartdim_get").dims.length;
  } catch (e) {
    return c.raise(e);
  }
}

/** `MPI_Cart_get` (§8.5.5). */
function cartGet<E extends MpiError>(c: CommCore<E>): CartInfo | E {
  try {
    const t = grid(c, "MPI_Cart_get");
    return { dims: [...t.dims], periods: [...t.periods], coords: coordsOf(t, c.rank) };
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * `MPI_Cart_rank` (§8.5.5): the rank at `coords`. "For a dimension i with
 * periods(i) = true, if the coordinate, coords(i), is out of range … it is
 * shifted back to the interval 0 ≤ coords(i) < dims(i) automatically. Out-
 * of-range coordinates are erroneous for non-periodic dimensions"
 * (MPICH: MPI_ERR_ARG, `**cartcoordinvalid`).
 */
function cartRank<E extends MpiError>(c: CommCore<E>, coords: readonly number[]): number | E {
  try {
    const what = "MPI_Cart_rank";
    const t = grid(c, what);
    const n = t.dims.length;
    if (!Array.isArray(coords) || coords.length !== n) {
      throw new MpiError(
        "MPI_ERR_ARG",
        `${what} on rank ${c.rank}: coords ${
          Array.isArray(coords) ? `has ${entries(coords.length)}` : "is not an array"
        }, not ${n} (one per dimension)`,
      );
    }
    const at = coords.map((x, i) => {
      if (!Number.isInteger(x)) {
        throw new MpiError(
          "MPI_ERR_ARG",
          `${what} on rank ${c.rank}: coords[${i}] = ${x} is not an integer`,
        );
      }
      if (t.periods[i]) return wrap(x, t.dims[i]);
      if (x < 0 || x >= t.dims[i]) {
        throw new MpiError(
          "MPI_ERR_ARG",
          `${what} on rank ${c.rank}: coords[${i}] = ${x} is outside 0..${
            t.dims[i] - 1
          } and dimension ${i} is not periodic`,
        );
      }
      return x;
    });
    return rankAt(t, at);
  } catch (e) {
    return c.raise(e);
  }
}

/** `MPI_Cart_coords` (§8.5.5): the coordinates of `rank` (MPICH checks it as a rank: MPI_ERR_RANK). */
function cartCoords<E extends MpiError>(c: CommCore<E>, rank: number): number[] | E {
  try {
    const what = "MPI_Cart_coords";
    const t = grid(c, what);
    if (!Number.isInteger(rank) || rank < 0 || rank >= c.size) {
      throw new MpiError(
        "MPI_ERR_RANK",
        `${what} on rank ${c.rank}: rank ${rank} outside 0..${c.size - 1} of ${c.name}`,
      );
    }
    return coordsOf(t, rank);
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * `MPI_Cart_shift` (MPI-4.0 §8.5.6): the ranks `disp` steps down (`source`)
 * and up (`dest`) along dimension `direction`; past the edge of a
 * non-periodic dimension, PROC_NULL ("in the case of an end-off shift,
 * the value MPI_PROC_NULL may be returned in rank_source or rank_dest,
 * indicating that the source or the destination for the shift is out of
 * range"); a periodic one wraps (a circular shift). MPICH's
 * classes: no grid, or a zero-dimensional one, MPI_ERR_TOPOLOGY
 * (`**dimszero`); a direction outside 0..ndims−1 MPI_ERR_ARG.
 */
function cartShift<E extends MpiError>(
  c: CommCore<E>,
  direction: number,
  disp: number,
): { source: number; dest: number } | E {
  try {
    const what = "MPI_Cart_shift";
    const t = grid(c, what);
    const n = t.dims.length;
    if (n === 0) {
      throw new MpiError(
        "MPI_ERR_TOPOLOGY",
        `${what} on rank ${c.rank}: ${c.name} is zero-dimensional: there is no direction to shift in`,
      );
    }
    if (!Number.isInteger(direction) || direction < 0 || direction >= n) {
      throw new MpiError(
        "MPI_ERR_ARG",
        `${what} on rank ${c.rank}: direction ${direction} outside 0..${
          n - 1
        } of the grid's dimensions`,
      );
    }
    if (!Number.isInteger(disp)) {
      throw new MpiError(
        "MPI_ERR_ARG",
        `${what} on rank ${c.rank}: disp ${disp} is not an integer`,
      );
    }
    const me = coordsOf(t, c.rank);
    const at = (step: number): number => {
      const x = me[direction] + step, d = t.dims[direction];
      if (!t.periods[direction] && (x < 0 || x >= d)) return PROC_NULL;
      const to = [...me];
      to[direction] = wrap(x, d);
      return rankAt(t, to);
    };
    return { source: at(-disp), dest: at(disp) };
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * `MPI_Cart_map` (MPI-4.0 §8.5.8): the rank this process would have in the
 * grid, UNDEFINED when it is outside it. No reordering: rank r stays r, as
 * in MPICH. Any communicator, with or without a topology.
 */
function cartMap<E extends MpiError>(
  c: CommCore<E>,
  dims: readonly number[],
  periods: readonly boolean[],
): number | E {
  try {
    const { nnodes } = checkGrid(c, "MPI_Cart_map", dims, periods, "MPI_ERR_DIMS");
    return c.rank < nnodes ? c.rank : UNDEFINED;
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * MPI_Cart_sub's plan (MPI-4.0 §8.5.7): the sub-grids keep the dimensions
 * `remainDims` marks true. Processes that share their coordinates in the
 * dropped dimensions form one sub-grid (`color`: those coordinates as one
 * number) and are ranked by their coordinates in the kept ones (`key`), as
 * MPICH's MPIR_Cart_sub_impl splits. With nothing kept, each process is a
 * zero-dimensional grid of its own ("If all entries in remain_dims are
 * false … newcomm is associated with a zero-dimensional Cartesian
 * topology").
 */
function subGrid<E extends MpiError>(
  c: CommCore<E>,
  what: string,
  remainDims: readonly boolean[],
): { color: number; key: number; topo: CartTopology } {
  const t = grid(c, what);
  checkFlags(c, what, "remainDims", remainDims, t.dims.length);
  const me = coordsOf(t, c.rank);
  let color = 0, key = 0;
  const dims: number[] = [], periods: boolean[] = [];
  t.dims.forEach((d, i) => {
    if (remainDims[i]) {
      key = key * d + me[i];
      dims.push(d);
      periods.push(t.periods[i]);
    } else color = color * d + me[i];
  });
  return { color, key, topo: Object.freeze({ dims, periods }) };
}

/**
 * The topology calls as `Comm` forwards them with its {@link CommCore},
 * and the checks and plans of the two that make communicators
 * (`checkGrid` for MPI_Cart_create, `subGrid` for MPI_Cart_sub).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CART, UNDEFINED } from "./constants.ts";
 * import { mpiexec } from "./launch.ts";
 * const { results } = await mpiexec({ np: 4, mode: "native" }, async (comm) => {
 *   const ring = await comm.cartCreate([3], [true]); // rank 3: null
 *   if (ring === null) return [comm.topoTest()];
 *   const { source, dest } = ring.cartShift(0, 1);
 *   return [ring.topoTest(), source, dest];
 * });
 * assert.deepEqual(results, [[CART, 2, 1], [CART, 0, 2], [CART, 1, 0], [UNDEFINED]]);
 * ```
 */
export const topology = {
  topoTest,
  cartdimGet,
  cartGet,
  cartRank,
  cartCoords,
  cartShift,
  cartMap,
  checkGrid,
  subGrid,
} as const;

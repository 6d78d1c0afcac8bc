/**
 * LU's boundary exchanges (NPB 3.4 LU/exchange_1.f90, exchange_3.f90,
 * exchange_4/5/6.f90), with NPB's messages: the same peers, tags, sizes
 * and order. Tags name where the data comes from (`from_s` = 1,
 * `from_n` = 2, `from_e` = 3, `from_w` = 4).
 *
 * - exchange_1: the wavefront of the SSOR sweeps, one k-plane at a time:
 *   blts receives the north and west edges of the plane, computes it and
 *   sends its south and east edges; buts runs the other way.
 * - exchange_3: the two-deep ghost layers of a whole field before the
 *   x-direction (north/south) and y-direction (west/east) parts of rhs.
 * - exchange_4/5/6: pintgr's surface values.
 *
 * In model mode the messages carry zeros (nothing is packed or unpacked).
 *
 * @module
 */
import type { LuGrid } from "./grid.ts";

const FROM_S = 1, FROM_N = 2, FROM_E = 3, FROM_W = 4;

/**
 * exchange_1.f90 for plane `k` of field `g`: `iex` 0 receives from north
 * and west, 1 from south and east; 2 sends to south and east, 3 to north
 * and west. Each message is one edge of the plane, 5·(jend−jst+1) or
 * 5·(iend−ist+1) doubles.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../../mpi/mod.ts";
 * import { exchange1 } from "./exchange.ts";
 * import { LuGrid } from "./grid.ts";
 * import { subdomain } from "./params.ts";
 * // Two ranks on a 2 x 1 grid: rank 0 sends its south edge of plane 2 to rank 1.
 * const { results } = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   const g = new LuGrid({ n: 12, itmax: 1, dt: 0.5 }, subdomain(12, 12, 12, 2, 1, comm.rank), true, comm);
 *   if (comm.rank === 0) {
 *     g.rsd.fill(7, g.at(6, 2, 2), g.at(6, 2, 2) + 5);
 *     await exchange1(g, g.rsd, 2, 2);
 *     return 0;
 *   }
 *   await exchange1(g, g.rsd, 2, 0);
 *   return g.rsd[g.at(0, 2, 2)];
 * });
 * assert.deepEqual(results, [0, 7]);
 * ```
 */
export async function exchange1(
  g: LuGrid,
  v: Float64Array,
  k: number,
  iex: 0 | 1 | 2 | 3,
): Promise<void> {
  const { comm, sub, real } = g;
  const { ist, iend, jst, jend, north, south, east, west } = sub;
  const nj = jend - jst + 1, ni = iend - ist + 1;
  // Edge at fixed i over j (rows to/from north-south) or fixed j over i (west-east).
  const getI = (i: number) => {
    const b = new Float64Array(5 * nj);
    if (real) {
      for (let j = jst; j <= jend; j++) {
        b.set(v.subarray(g.at(i, j, k), g.at(i, j, k) + 5), 5 * (j - jst));
      }
    }
    return b;
  };
  const getJ = (j: number) => {
    const b = new Float64Array(5 * ni);
    if (real) {
      for (let i = ist; i <= iend; i++) {
        b.set(v.subarray(g.at(i, j, k), g.at(i, j, k) + 5), 5 * (i - ist));
      }
    }
    return b;
  };
  const putI = (i: number, b: Float64Array) => {
    if (real) {
      for (let j = jst; j <= jend; j++) {
        v.set(b.subarray(5 * (j - jst), 5 * (j - jst) + 5), g.at(i, j, k));
      }
    }
  };
  const putJ = (j: number, b: Float64Array) => {
    if (real) {
      for (let i = ist; i <= iend; i++) {
        v.set(b.subarray(5 * (i - ist), 5 * (i - ist) + 5), g.at(i, j, k));
      }
    }
  };
  if (iex === 0) {
    if (north !== -1) {
      const b = new Float64Array(5 * nj);
      await comm.recv(b, north, FROM_N);
      putI(0, b);
    }
    if (west !== -1) {
      const b = new Float64Array(5 * ni);
      await comm.recv(b, west, FROM_W);
      putJ(0, b);
    }
  } else if (iex === 1) {
    if (south !== -1) {
      const b = new Float64Array(5 * nj);
      await comm.recv(b, south, FROM_S);
      putI(g.nx + 1, b);
    }
    if (east !== -1) {
      const b = new Float64Array(5 * ni);
      await comm.recv(b, east, FROM_E);
      putJ(g.ny + 1, b);
    }
  } else if (iex === 2) {
    if (south !== -1) await comm.send(getI(g.nx), south, FROM_N);
    if (east !== -1) await comm.send(getJ(g.ny), east, FROM_W);
  } else {
    if (north !== -1) await comm.send(getI(1), north, FROM_S);
    if (west !== -1) await comm.send(getJ(1), west, FROM_E);
  }
}

/**
 * exchange_3.f90: the two ghost layers of field `v` on all of its planes,
 * `iex` 0 with north and south (10·ny·nz doubles each way), 1 with west and
 * east (10·nx·nz). As NPB: post the receive from one side, send to the
 * other, wait; then the reverse direction. The buffers are the rank's
 * `buf` / `buf1` in its own memory (zero-copy for the rendezvous protocol).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../../mpi/mod.ts";
 * import { exchange3 } from "./exchange.ts";
 * import { LuGrid } from "./grid.ts";
 * import { subdomain } from "./params.ts";
 * const { results } = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   const g = new LuGrid({ n: 12, itmax: 1, dt: 0.5 }, subdomain(12, 12, 12, 1, 2, comm.rank), true, comm);
 *   g.u[g.at(3, comm.rank === 0 ? 6 : 1, 4) + 2] = 10 + comm.rank; // edge values
 *   await exchange3(g, g.u, 1);
 *   return comm.rank === 0 ? g.u[g.at(3, 7, 4) + 2] : g.u[g.at(3, 0, 4) + 2];
 * });
 * assert.deepEqual(results, [11, 10]);
 * ```
 */
export async function exchange3(g: LuGrid, v: Float64Array, iex: 0 | 1): Promise<void> {
  const { comm, sub, real, nx, ny, nz } = g;
  const { north, south, east, west } = sub;
  if (!g.buf) {
    g.buf = comm.alloc(10 * Math.max(nx, ny) * nz, "float64");
    g.buf1 = comm.alloc(10 * Math.max(nx, ny) * nz, "float64");
  }
  const buf = g.buf, buf1 = g.buf1!;
  // One direction: `lines` lines of points (j or i) per plane; `src(a)` the plane-local first
  // and second layer to send, `dst` the ghost layers to fill.
  const along = iex === 0 ? ny : nx;
  const count = 10 * along * nz;
  const point = (layer: number, t: number, k: number) =>
    iex === 0 ? g.at(layer, t, k) : g.at(t, layer, k);
  const pack = (first: number, second: number) => {
    if (!real) return;
    const out = new Float64Array(count);
    for (let k = 1; k <= nz; k++) {
      for (let t = 1; t <= along; t++) {
        const p1 = (k - 1) * along + t - 1, p2 = p1 + along * nz;
        out.set(v.subarray(point(first, t, k), point(first, t, k) + 5), 5 * p1);
        out.set(v.subarray(point(second, t, k), point(second, t, k) + 5), 5 * p2);
      }
    }
    buf.set(out);
  };
  const unpack = (first: number, second: number) => {
    if (!real) return;
    const got = buf1.get(0, count) as Float64Array;
    for (let k = 1; k <= nz; k++) {
      for (let t = 1; t <= along; t++) {
        const p1 = (k - 1) * along + t - 1, p2 = p1 + along * nz;
        v.set(got.subarray(5 * p1, 5 * p1 + 5), point(first, t, k));
        v.set(got.subarray(5 * p2, 5 * p2 + 5), point(second, t, k));
      }
    }
  };
  const n = iex === 0 ? nx : ny;
  const [lo, hi, fromLo, fromHi] = iex === 0
    ? [north, south, FROM_N, FROM_S]
    : [west, east, FROM_W, FROM_E];
  const sendbuf = buf.subarray(0, count), recvbuf = buf1.subarray(0, count);
  // Low side's layers −1, 0 come from its n−1, n; high side's n+2, n+1 from its 2, 1.
  let req;
  if (lo !== -1) req = await comm.irecv(recvbuf, lo, fromLo);
  if (hi !== -1) {
    pack(n - 1, n);
    await comm.send(sendbuf, hi, fromLo);
  }
  if (lo !== -1) {
    await comm.wait(req!);
    unpack(-1, 0);
  }
  if (hi !== -1) req = await comm.irecv(recvbuf, hi, fromHi);
  if (lo !== -1) {
    pack(2, 1);
    await comm.send(sendbuf, lo, fromHi);
  }
  if (hi !== -1) {
    await comm.wait(req!);
    unpack(n + 2, n + 1);
  }
}

/**
 * exchange_4.f90 (pintgr's first surface): receive `phi1`/`phi2` column
 * ny+1 from east when `jfin1 == ny`, send column 1 west when `jbeg == 1`
 * (2·nx doubles); receive row nx+1 from south when `ifin1 == nx`, send row 1
 * north when `ibeg == 1` (2·(ny+2) doubles). `phi(i, j)` at `i + w·j`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exchange4 } from "./exchange.ts";
 * assert.equal(typeof exchange4, "function"); // exercised by the LU tests (pintgr)
 * ```
 */
export async function exchange4(
  g: LuGrid,
  phi1: Float64Array,
  phi2: Float64Array,
  w: number,
  ibeg: number,
  ifin1: number,
  jbeg: number,
  jfin1: number,
): Promise<void> {
  const { comm, sub, real, nx, ny } = g;
  const ny2 = ny + 2;
  if (jfin1 === ny) {
    const dum = new Float64Array(2 * nx);
    await comm.recv(dum, sub.east, FROM_E);
    if (real) {
      for (let i = 1; i <= nx; i++) {
        phi1[i + w * (ny + 1)] = dum[i - 1];
        phi2[i + w * (ny + 1)] = dum[i - 1 + nx];
      }
    }
  }
  if (jbeg === 1) {
    const dum = new Float64Array(2 * nx);
    if (real) {
      for (let i = 1; i <= nx; i++) {
        dum[i - 1] = phi1[i + w];
        dum[i - 1 + nx] = phi2[i + w];
      }
    }
    await comm.send(dum, sub.west, FROM_E);
  }
  if (ifin1 === nx) {
    const dum = new Float64Array(2 * ny2);
    await comm.recv(dum, sub.south, FROM_S);
    if (real) {
      for (let j = 0; j <= ny + 1; j++) {
        phi1[nx + 1 + w * j] = dum[j];
        phi2[nx + 1 + w * j] = dum[j + ny2];
      }
    }
  }
  if (ibeg === 1) {
    const dum = new Float64Array(2 * ny2);
    if (real) {
      for (let j = 0; j <= ny + 1; j++) {
        dum[j] = phi1[1 + w * j];
        dum[j + ny2] = phi2[1 + w * j];
      }
    }
    await comm.send(dum, sub.north, FROM_S);
  }
}

/**
 * exchange_5.f90 / exchange_6.f90 (pintgr's other surfaces): receive the
 * line `phi(n+1, 1..nz)` from the south (`dir` "i") or east (`dir` "j")
 * neighbour when `fin1 == n`, send `phi(1, 1..nz)` north or west when
 * `beg == 1` (nz doubles). `phi(t, k)` at `t + w·k`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exchange56 } from "./exchange.ts";
 * assert.equal(typeof exchange56, "function"); // exercised by the LU tests (pintgr)
 * ```
 */
export async function exchange56(
  g: LuGrid,
  phi: Float64Array,
  w: number,
  dir: "i" | "j",
  beg: number,
  fin1: number,
): Promise<void> {
  const { comm, sub, real, nz } = g;
  const n = dir === "i" ? g.nx : g.ny;
  const [from, to, tag] = dir === "i"
    ? [sub.south, sub.north, FROM_S]
    : [sub.east, sub.west, FROM_E];
  if (fin1 === n) {
    const dum = new Float64Array(nz);
    await comm.recv(dum, from, tag);
    if (real) { for (let k = 1; k <= nz; k++) phi[n + 1 + w * k] = dum[k - 1]; }
  }
  if (beg === 1) {
    const dum = new Float64Array(nz);
    if (real) { for (let k = 1; k <= nz; k++) dum[k - 1] = phi[1 + w * k]; }
    await comm.send(dum, to, tag);
  }
}

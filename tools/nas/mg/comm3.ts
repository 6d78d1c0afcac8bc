/**
 * MG's ghost-cell exchanges (NPB 3.4 mg.f90: `comm3`, `comm3_ex`, `ready`,
 * `give3`, `take3`, `give3_ex`, `take3_ex`, `comm1p`, `comm1p_ex`).
 *
 * `comm3` refreshes the ghost layer of a brick axis by axis: for each axis it
 * posts two receives (`ready`, an `MPI_Irecv` of NPB's whole buffer length
 * `nm2` from the neighbour on the opposite side), packs and sends the last
 * owned plane to the + neighbour and the first to the − neighbour (`give3`,
 * blocking `MPI_Send`), then waits and unpacks (`take3`). Later axes include
 * the ghosts filled by earlier ones, so edges and corners arrive too.
 * `comm3_ex` is the variant after `interp` on levels where some processes
 * own no points: takers receive one plane and two planes, givers send them.
 * With one process the exchanges are periodic copies (`comm1p`).
 *
 * The four message buffers are NPB's `buff(nm2, 4)` in MPI memory
 * (`comm.alloc`): slot 2+dir sends towards dir, slot 3+dir receives from −dir.
 * Tags are NPB's `msg_type(axis, dir)` = 100·(dir + 2 + 10·axis).
 *
 * @module
 */
import type { Comm, MpiBuffer, Request } from "../../../mpi/mod.ts";
import type { ComputeMode } from "../kernel.ts";
import type { NasHooks } from "../kernel.ts";
import type { MgLayout } from "./setup.ts";
import { type Grid, zeroWork } from "./stencils.ts";

type Dir = -1 | 1;
type Box = [number, number, number, number, number, number];
type BoxKind = "give" | "take" | "giveEx" | "takeEx";

const F8 = 8;

/**
 * NPB's message tag for `axis` (0..2 for NPB's 1..3) and direction.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { msgType } from "./comm3.ts";
 * assert.equal(msgType(0, -1), 1100);
 * assert.equal(msgType(2, 1), 3300);
 * ```
 */
export function msgType(axis: number, dir: Dir): number {
  return 100 * (dir + 2 + 10 * (axis + 1));
}

/**
 * The planes a give/take of `axis` and `dir` packs or fills (1-based,
 * inclusive, [lo1, hi1, lo2, hi2, lo3, hi3]), traversed in Fortran order.
 * Axes before `axis` run over the whole extent, later ones over the interior
 * (the `_ex` variants: whole extents).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exchangeBox } from "./comm3.ts";
 * assert.deepEqual(exchangeBox("give", 0, 1, 10, 6, 6), [9, 9, 2, 5, 2, 5]);
 * assert.deepEqual(exchangeBox("take", 1, -1, 10, 6, 6), [1, 10, 6, 6, 2, 5]);
 * assert.deepEqual(exchangeBox("takeEx", 2, 1, 10, 6, 6), [1, 10, 1, 6, 1, 2]);
 * ```
 */
export function exchangeBox(
  kind: BoxKind,
  axis: number,
  dir: Dir,
  n1: number,
  n2: number,
  n3: number,
): Box {
  const n = [n1, n2, n3];
  const ex = kind === "giveEx" || kind === "takeEx";
  const box: number[] = [];
  for (let ax = 0; ax < 3; ax++) {
    if (ax !== axis) {
      if (ex || ax < axis) box.push(1, n[ax]);
      else box.push(2, n[ax] - 1);
      continue;
    }
    const e = n[ax];
    switch (kind) {
      case "give":
        box.push(...(dir < 0 ? [2, 2] : [e - 1, e - 1]));
        break;
      case "take":
        box.push(...(dir < 0 ? [e, e] : [1, 1]));
        break;
      case "giveEx":
        box.push(...(dir < 0 ? [2, 2] : [e - 1, e]));
        break;
      case "takeEx":
        box.push(...(dir < 0 ? [e, e] : [1, 2]));
        break;
    }
  }
  return box as Box;
}

function boxSize(b: Box): number {
  return Math.max(0, b[1] - b[0] + 1) * Math.max(0, b[3] - b[2] + 1) * Math.max(0, b[5] - b[4] + 1);
}

function pack(g: Grid, b: Box): Float64Array {
  const out = new Float64Array(boxSize(b));
  const { n1, n2 } = g;
  let k = 0;
  for (let i3 = b[4]; i3 <= b[5]; i3++) {
    for (let i2 = b[2]; i2 <= b[3]; i2++) {
      const c = (i2 - 1) * n1 + (i3 - 1) * n1 * n2 - 1;
      for (let i1 = b[0]; i1 <= b[1]; i1++) out[k++] = g.a[c + i1];
    }
  }
  return out;
}

function unpack(g: Grid, b: Box, data: Float64Array): void {
  const { n1, n2 } = g;
  let k = 0;
  for (let i3 = b[4]; i3 <= b[5]; i3++) {
    for (let i2 = b[2]; i2 <= b[3]; i2++) {
      const c = (i2 - 1) * n1 + (i3 - 1) * n1 * n2 - 1;
      for (let i1 = b[0]; i1 <= b[1]; i1++) g.a[c + i1] = data[k++];
    }
  }
}

/**
 * One rank's exchange engine: NPB's buffers, pending receives and the
 * exchanges of every level.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../../../mpi/mod.ts";
 * import { MgExchange } from "./comm3.ts";
 * import { mgSetup } from "./setup.ts";
 * import { grid } from "./stencils.ts";
 * const { results } = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   const l = mgSetup(4, 2, 2, comm.rank); // 4³ on 1 × 1 × 2: bricks of 4 × 4 × 2
 *   const x = new MgExchange(comm, l, "real");
 *   const u = grid(l.n1, l.n2, l.n3);
 *   u.a.fill(comm.rank + 1);
 *   await x.comm3(u, 2);
 *   await x.free();
 *   return u.a[0]; // a corner ghost: axis 3 brought the other rank's value
 * });
 * assert.deepEqual(results, [2, 1]);
 * ```
 */
export class MgExchange {
  readonly #buff: MpiBuffer;
  readonly #nm2: number;
  readonly #real: boolean;
  readonly #pending = new Map<string, Request>();
  readonly #hooks: NasHooks | undefined;
  /** The V-cycle running (0: initialisation and warm-up), for exchange hooks. */
  iteration = 0;

  /**
   * @param comm the benchmark's communicator
   * @param layout this rank's decomposition
   * @param mode real data movement or modelled (same messages, no packing)
   * @param hooks test hooks called when ghost planes have landed
   */
  constructor(
    readonly comm: Comm,
    readonly layout: MgLayout,
    mode: ComputeMode,
    hooks?: NasHooks,
  ) {
    this.#nm2 = layout.nm2;
    this.#real = mode === "real";
    this.#hooks = hooks;
    this.#buff = comm.alloc(4 * this.#nm2, "float64");
  }

  /** Release the buffers. */
  async free(): Promise<void> {
    await this.comm.free(this.#buff);
  }

  #slot(id: number) {
    return this.#buff.subarray((id - 1) * this.#nm2, id * this.#nm2);
  }

  async #work(bytes: number): Promise<void> {
    await this.comm.compute({ flops: 0, bytes });
  }

  /** `ready`: clear the receive slot (NPB zeroes all nm2 doubles) and post the receive. */
  async #ready(axis: number, dir: Dir, k: number): Promise<void> {
    // The clearing is charged; the data need not be, since a take reads only what arrived.
    await this.#work(F8 * this.#nm2);
    const req = await this.comm.irecv(
      this.#slot(3 + dir),
      this.layout.nbr(axis, dir < 0 ? 1 : -1, k),
      msgType(axis, dir),
    );
    this.#pending.set(`${axis}${dir}`, req);
  }

  /** `give3` / `give3_ex`: pack the planes and send them towards `dir`. */
  async #give(kind: "give" | "giveEx", axis: number, dir: Dir, u: Grid, k: number): Promise<void> {
    const b = exchangeBox(kind, axis, dir, u.n1, u.n2, u.n3);
    const len = boxSize(b);
    const slot = this.#slot(2 + dir);
    if (this.#real) slot.set(pack(u, b), 0);
    await this.#work(2 * F8 * len);
    await this.comm.send(slot.subarray(0, len), this.layout.nbr(axis, dir, k), msgType(axis, dir));
  }

  /** `take3` / `take3_ex`: wait for the receive from `−dir` and fill the ghost planes. */
  async #take(
    kind: "take" | "takeEx",
    axis: number,
    dir: Dir,
    u: Grid,
    k: number,
  ): Promise<void> {
    const key = `${axis}${dir}`;
    await this.comm.wait(this.#pending.get(key)!);
    this.#pending.delete(key);
    const b = exchangeBox(kind, axis, dir, u.n1, u.n2, u.n3);
    const len = boxSize(b);
    await this.#hooks?.afterExchange?.({
      comm: this.comm,
      step: kind === "take" ? "comm3" : "comm3_ex",
      iteration: this.iteration,
      buffer: this.#buff,
      blocks: [{
        peer: this.layout.nbr(axis, dir < 0 ? 1 : -1, k),
        offset: F8 * (2 + dir) * this.#nm2,
        bytes: F8 * len,
      }],
    });
    if (this.#real) unpack(u, b, this.#slot(3 + dir).get(0, len) as Float64Array);
    await this.#work(2 * F8 * len);
  }

  /** `comm3`: refresh the ghost layer of `u` on level `k` (zero it on a dead level). */
  async comm3(u: Grid, k: number): Promise<void> {
    if (this.layout.dead[k]) {
      if (this.#real) u.a.fill(0);
      await this.comm.compute(zeroWork(u.n1, u.n2, u.n3));
      return;
    }
    for (let axis = 0; axis < 3; axis++) {
      if (this.comm.size !== 1) {
        await this.#ready(axis, -1, k);
        await this.#ready(axis, 1, k);
        await this.#give("give", axis, 1, u, k);
        await this.#give("give", axis, -1, u, k);
        await this.#take("take", axis, -1, u, k);
        await this.#take("take", axis, 1, u, k);
      } else {
        await this.#comm1p(axis, u);
      }
    }
  }

  /** `comm3_ex`: the expanding exchange after `interp` on level `k`. */
  async comm3Ex(u: Grid, k: number): Promise<void> {
    const l = this.layout;
    for (let axis = 0; axis < 3; axis++) {
      if (this.comm.size !== 1) {
        if (l.takeEx[axis][k]) {
          await this.#ready(axis, -1, k);
          await this.#ready(axis, 1, k);
          await this.#take("takeEx", axis, -1, u, k);
          await this.#take("takeEx", axis, 1, u, k);
        }
        if (l.giveEx[axis][k]) {
          await this.#give("giveEx", axis, 1, u, k);
          await this.#give("giveEx", axis, -1, u, k);
        }
      } else {
        await this.#comm1pEx(axis, u, k);
      }
    }
  }

  /** `comm1p`: one process: the periodic copies, through NPB's buffers. */
  async #comm1p(axis: number, u: Grid): Promise<void> {
    const { n1, n2, n3 } = u;
    const gp = exchangeBox("give", axis, 1, n1, n2, n3);
    const gm = exchangeBox("give", axis, -1, n1, n2, n3);
    if (this.#real) {
      const plus = pack(u, gp), minus = pack(u, gm);
      unpack(u, exchangeBox("take", axis, -1, n1, n2, n3), minus);
      unpack(u, exchangeBox("take", axis, 1, n1, n2, n3), plus);
    }
    // Two buffers cleared, two packed, two copied (buff(·,4) = buff(·,3), …), two unpacked.
    const len = boxSize(gp) + boxSize(gm);
    await this.#work(2 * F8 * this.#nm2 + 2 * F8 * len + 2 * 2 * F8 * this.#nm2 + 2 * F8 * len);
  }

  /** `comm1p_ex`: one process: takers get zeros (NPB unpacks its cleared buffers). */
  async #comm1pEx(axis: number, u: Grid, k: number): Promise<void> {
    const { n1, n2, n3 } = u;
    let bytes = 2 * 2 * F8 * this.#nm2;
    if (this.layout.takeEx[axis][k]) {
      bytes += 2 * F8 * this.#nm2;
      for (const dir of [-1, 1] as const) {
        const b = exchangeBox("takeEx", axis, dir, n1, n2, n3);
        if (this.#real) unpack(u, b, new Float64Array(boxSize(b)));
        bytes += 2 * F8 * boxSize(b);
      }
    }
    if (this.layout.giveEx[axis][k]) {
      for (const dir of [1, -1] as const) {
        bytes += 2 * F8 * boxSize(exchangeBox("giveEx", axis, dir, n1, n2, n3));
      }
    }
    await this.#work(bytes);
  }
}

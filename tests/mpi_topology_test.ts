/**
 * Cartesian process topologies (MPI-4.0 §8.5): MPI_Dims_create against the
 * standard's examples and MPICH 4.0.2's answers, a grid's coordinates,
 * ranks and shifts (periodic and not), sub-grids, the ranks outside the
 * grid, what dup, split and create keep of a topology, a halo exchange on
 * the grid in every mode, and each error class through the error handler.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";

const { CART, dimsCreate, ERRORS_RETURN, MpiError, mpiexec, PROC_NULL, UNDEFINED } = mpi;

/** The message of what `f` throws. */
function thrown(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return "no error";
}

Deno.test("mpi topology: dimsCreate gives the standard's examples and MPICH's answers", () => {
  // MPI-4.0 §8.5.2, Example 8.2 (the table of dims before and after the call).
  assert.deepEqual(dimsCreate(6, [0, 0]), [3, 2]);
  assert.deepEqual(dimsCreate(7, [0, 0]), [7, 1]);
  assert.deepEqual(dimsCreate(6, [0, 3, 0]), [2, 3, 1]);
  assert.match(thrown(() => dimsCreate(7, [0, 3, 0])), /^MPI_ERR_DIMS: MPI_Dims_create: /);
  // MPICH 4.0.2's MPI_Dims_create on the same input (run as C against libmpich): ties of the
  // spread (largest − smallest) go to the grid whose smallest entries are the largest.
  const mpich: [number, number[], number[]][] = [
    [5040, [0, 0, 0], [21, 16, 15]], // [20, 18, 14] spreads as little
    [198, [0, 0, 0, 0, 0], [11, 3, 3, 2, 1]],
    [720, [0, 0, 0, 0], [6, 6, 5, 4]],
    [48, [2, 0, 0, 0], [2, 4, 3, 2]],
    [120, [0, 2, 0, 3, 0], [5, 2, 2, 3, 2]],
    [8, [2, 2], [2, 2]], // a multiple of the fixed product is enough (MPICH, Open MPI)
    [4, [], []],
    [92674, [0, 0, 0], [46337, 2, 1]],
    [735134400, [0, 0, 0, 0, 0, 0], [34, 33, 30, 30, 28, 26]],
    [735134400, new Array(10).fill(0), [17, 13, 11, 8, 7, 6, 6, 6, 5, 5]],
    [2 ** 30, new Array(20).fill(0), [...new Array(10).fill(4), ...new Array(10).fill(2)]],
    [2147483646, [0, 0, 0, 0, 0], [331, 151, 42, 33, 31]],
  ];
  for (const [n, dims, want] of mpich) assert.deepEqual(dimsCreate(n, dims), want, `${n} ${dims}`);
  const input = [0, 3, 0];
  dimsCreate(6, input);
  assert.deepEqual(input, [0, 3, 0], "the argument is not changed");
});

Deno.test("mpi topology: dimsCreate's grids are as balanced as any, in non-increasing order", () => {
  // Every non-increasing way to write n as k factors, by brute force.
  const ways = (n: number, k: number, max = n): number[][] =>
    k === 1 ? (n <= max ? [[n]] : []) : Array.from({ length: Math.min(n, max) }, (_, i) => i + 1)
      .filter((f) => n % f === 0)
      .flatMap((f) => ways(n / f, k - 1, f).map((rest) => [f, ...rest]));
  for (let k = 1; k <= 4; k++) {
    for (let n = 1; n <= 120; n++) {
      const d = dimsCreate(n, new Array(k).fill(0));
      assert.equal(d.reduce((a, b) => a * b, 1), n);
      assert.ok(d.every((x, i) => i === 0 || x <= d[i - 1]), `${n} in ${k}: ${d}`);
      const best = Math.min(...ways(n, k).map((w) => w[0] - w[k - 1]));
      assert.equal(d[0] - d[k - 1], best, `${n} in ${k}: ${d}`);
    }
  }
});

Deno.test("mpi topology: dimsCreate refuses bad input with MPICH's classes", () => {
  assert.equal(
    thrown(() => dimsCreate(7, [0, 3, 0])),
    "MPI_ERR_DIMS: MPI_Dims_create: nnodes 7 is not a multiple of 3, the product of the non-zero dims",
  );
  assert.equal(
    thrown(() => dimsCreate(4, [-1, 0])),
    "MPI_ERR_DIMS: MPI_Dims_create: dims[0] = -1 is negative",
  );
  assert.equal(
    thrown(() => dimsCreate(4, [0, 1.5])),
    "MPI_ERR_DIMS: MPI_Dims_create: dims[1] = 1.5 is not an integer",
  );
  assert.equal(
    thrown(() => dimsCreate(-4, [0, 0])),
    "MPI_ERR_ARG: MPI_Dims_create: nnodes -4 is not an integer in 0..2147483647",
  );
  assert.equal(
    thrown(() => dimsCreate(0, [0, 0])),
    "MPI_ERR_DIMS: MPI_Dims_create: nnodes 0: a grid has at least one process",
  );
  assert.equal(
    thrown(() => dimsCreate(4, 2 as never)),
    "MPI_ERR_ARG: MPI_Dims_create: dims must be an array of integers",
  );
  const e = (() => {
    try {
      dimsCreate(7, [2]);
    } catch (x) {
      return x;
    }
  })();
  assert.ok(e instanceof MpiError);
  assert.equal(e.errorClass, 11);
});

Deno.test("mpi topology: a 2×3 grid, periodic in its first dimension: coordinates, ranks, shifts, sub-grids; rank 6 is left out", async () => {
  const job = await mpiexec({ np: 7, mode: "native" }, async (world) => {
    const cart = await world.cartCreate([2, 3], [true, false]);
    if (cart === null) {
      await world.barrier();
      return { out: null, world: world.topoTest() };
    }
    const all = Array.from({ length: cart.size }, (_, r) => cart.cartCoords(r));
    const sub = await cart.cartSub([false, true]);
    const row = new Int32Array([world.rank]);
    await sub.allreduce(mpi.IN_PLACE, row, "SUM");
    const self = await cart.cartSub([false, false]);
    const dup = await cart.dup();
    const split = await cart.split(0);
    const created = await cart.create(cart.getGroup());
    await world.barrier();
    return {
      out: {
        rank: cart.rank,
        size: cart.size,
        topo: [world.topoTest(), cart.topoTest()],
        ndims: cart.cartdimGet(),
        get: cart.cartGet(),
        roundTrip: all.every((c, r) => cart.cartRank(c) === r),
        wrapped: [cart.cartRank([-1, 1]), cart.cartRank([5, 2])],
        shifts: [
          cart.cartShift(0, 1),
          cart.cartShift(1, 1),
          cart.cartShift(1, -4),
          cart.cartShift(0, 5),
        ]
          .map((s) => [s.source, s.dest]),
        zero: cart.cartShift(1, 0),
        sub: [sub.rank, sub.size, sub.cartGet(), row[0]],
        self: [self.size, self.topoTest(), self.cartdimGet()],
        dup: [dup.cartGet(), cart.compare(dup)],
        others: [split!.topoTest(), created!.topoTest()],
        map: [world.cartMap([4], [false]), world.cartMap([2, 3], [true, false])],
      },
      world: world.topoTest(),
    };
  });
  assert.deepEqual(job.results[6], { out: null, world: UNDEFINED });
  const P = PROC_NULL;
  // MPICH 4.0.2 on 7 processes, same grid: sources and destinations of each shift.
  const shifts = [
    [[3, 3], [P, 1], [P, P], [3, 3]],
    [[4, 4], [0, 2], [P, P], [4, 4]],
    [[5, 5], [1, P], [P, P], [5, 5]],
    [[0, 0], [P, 4], [P, P], [0, 0]],
    [[1, 1], [3, 5], [P, P], [1, 1]],
    [[2, 2], [4, P], [P, P], [2, 2]],
  ];
  for (let r = 0; r < 6; r++) {
    const o = job.results[r].out!;
    const coords = [Math.floor(r / 3), r % 3];
    assert.equal(o.rank, r);
    assert.equal(o.size, 6);
    assert.deepEqual(o.topo, [UNDEFINED, CART]);
    assert.equal(o.ndims, 2);
    assert.deepEqual(o.get, { dims: [2, 3], periods: [true, false], coords });
    assert.equal(o.roundTrip, true);
    assert.deepEqual(o.wrapped, [4, 5]);
    assert.deepEqual(o.shifts, shifts[r], `rank ${r}`);
    assert.deepEqual(o.zero, { source: r, dest: r });
    const rowSum = coords[0] === 0 ? 0 + 1 + 2 : 3 + 4 + 5;
    assert.deepEqual(o.sub, [
      r % 3,
      3,
      { dims: [3], periods: [false], coords: [r % 3] },
      rowSum,
    ]);
    assert.deepEqual(o.self, [1, CART, 0]);
    assert.deepEqual(o.dup, [o.get, mpi.CONGRUENT]);
    assert.deepEqual(o.others, [UNDEFINED, UNDEFINED]);
    assert.deepEqual(o.map, [r < 4 ? r : UNDEFINED, r]);
  }
});

Deno.test("mpi topology: a zero-dimensional grid is rank 0 alone", async () => {
  const job = await mpiexec({ np: 4, mode: "native" }, async (world) => {
    const c = await world.setErrhandler(ERRORS_RETURN).cartCreate([], []);
    if (c === null) return null;
    if (c instanceof MpiError) return c.message;
    const shift = c.cartShift(0, 1);
    return [c.size, c.topoTest(), c.cartdimGet(), c.cartGet(), c.cartRank([]), c.cartCoords(0), [
      shift instanceof MpiError ? shift.message : shift,
    ]];
  });
  assert.deepEqual(job.results, [
    [1, CART, 0, { dims: [], periods: [], coords: [] }, 0, [], [
      "MPI_ERR_TOPOLOGY: MPI_Cart_shift on rank 0: MPI_COMM_WORLD.cart1 is zero-dimensional: there is no direction to shift in",
    ]],
    null,
    null,
    null,
  ]);
});

for (const mode of ["native", "bypass", "split"] as const) {
  Deno.test(`mpi topology (${mode}): a halo exchange on a periodic 2×2 grid from dimsCreate`, async () => {
    const job = await mpiexec({ np: 4, mode }, async (world) => {
      const dims = dimsCreate(world.size, [0, 0]);
      const cart = (await world.cartCreate(dims, [true, true], true))!;
      const got: number[] = [];
      for (const dir of [0, 1]) {
        const { source, dest } = cart.cartShift(dir, 1);
        const v = new Int32Array(1);
        await cart.sendrecv(new Int32Array([cart.rank]), dest, dir, v, source, dir);
        got.push(v[0]);
      }
      return [dims, cart.cartGet().coords, got];
    });
    assert.deepEqual(job.results, [
      [[2, 2], [0, 0], [2, 1]],
      [[2, 2], [0, 1], [3, 0]],
      [[2, 2], [1, 0], [0, 3]],
      [[2, 2], [1, 1], [1, 2]],
    ]);
  });
}

Deno.test("mpi topology: each misuse is its MPI error class, through the communicator's error handler", async () => {
  const job = await mpiexec({ np: 7, mode: "native" }, async (world) => {
    const fatal = await world.cartCreate([3, 3], [false, false]).then(
      () => "no error",
      (e: Error) => e.message,
    );
    const seen: string[] = [];
    const w = world.setErrhandler((c, e) => void seen.push(`${c.name}: ${e.code}`));
    const msg = (x: unknown) => x instanceof MpiError ? x.message : x;
    const out = [
      msg(await w.cartCreate([3, 3], [false, false])),
      msg(await w.cartCreate([0, 3], [false, false])),
      msg(await w.cartCreate([2, -1], [false, false])),
      msg(await w.cartCreate([2, 3], [false])),
      msg(await w.cartCreate([2, 3], [false, 1 as never])),
      msg(await w.cartCreate([2, 3], [false, false], 1 as never)),
      msg(w.cartdimGet()),
      msg(w.cartGet()),
      msg(w.cartRank([0, 0])),
      msg(w.cartCoords(0)),
      msg(w.cartShift(0, 1)),
      msg(await w.cartSub([true])),
      msg(w.cartMap([3, 3], [false, false])),
      msg(w.cartMap([2, 0], [false, false])),
    ];
    const cart = await w.cartCreate([2, 3], [true, false]);
    if (cart instanceof MpiError) throw cart;
    if (cart !== null) {
      out.push(
        msg(cart.cartRank([0, 3])),
        msg(cart.cartRank([-1, -1])),
        msg(cart.cartRank([0])),
        msg(cart.cartCoords(6)),
        msg(cart.cartShift(2, 1)),
        msg(cart.cartShift(-1, 1)),
        msg(cart.cartShift(0, 0.5)),
        msg(await cart.cartSub([true])),
      );
      cart.freeComm();
      out.push(msg(cart.cartdimGet()));
    }
    await world.barrier();
    return { fatal, out, seen: seen.length };
  });
  const c = "MPI_COMM_WORLD.cart1";
  assert.deepEqual(job.results[0], {
    fatal: "MPI_ERR_ARG: MPI_Cart_create on rank 0: the grid has 9 processes, MPI_COMM_WORLD 7",
    out: [
      "MPI_ERR_ARG: MPI_Cart_create on rank 0: the grid has 9 processes, MPI_COMM_WORLD 7",
      "MPI_ERR_DIMS: MPI_Cart_create on rank 0: dims[0] = 0 is not a positive integer",
      "MPI_ERR_DIMS: MPI_Cart_create on rank 0: dims[1] = -1 is not a positive integer",
      "MPI_ERR_ARG: MPI_Cart_create on rank 0: periods has 1 entry, not 2 (one per dimension)",
      "MPI_ERR_ARG: MPI_Cart_create on rank 0: periods[1] = 1 is not true or false",
      "MPI_ERR_ARG: MPI_Cart_create on rank 0: reorder 1 is not true or false",
      "MPI_ERR_TOPOLOGY: MPI_Cartdim_get on rank 0: MPI_COMM_WORLD has no Cartesian topology",
      "MPI_ERR_TOPOLOGY: MPI_Cart_get on rank 0: MPI_COMM_WORLD has no Cartesian topology",
      "MPI_ERR_TOPOLOGY: MPI_Cart_rank on rank 0: MPI_COMM_WORLD has no Cartesian topology",
      "MPI_ERR_TOPOLOGY: MPI_Cart_coords on rank 0: MPI_COMM_WORLD has no Cartesian topology",
      "MPI_ERR_TOPOLOGY: MPI_Cart_shift on rank 0: MPI_COMM_WORLD has no Cartesian topology",
      "MPI_ERR_TOPOLOGY: MPI_Cart_sub on rank 0: MPI_COMM_WORLD has no Cartesian topology",
      "MPI_ERR_DIMS: MPI_Cart_map on rank 0: the grid has 9 processes, MPI_COMM_WORLD 7",
      "MPI_ERR_DIMS: MPI_Cart_map on rank 0: dims[1] = 0 is not a positive integer",
      `MPI_ERR_ARG: MPI_Cart_rank on rank 0: coords[1] = 3 is outside 0..2 and dimension 1 is not periodic`,
      `MPI_ERR_ARG: MPI_Cart_rank on rank 0: coords[1] = -1 is outside 0..2 and dimension 1 is not periodic`,
      `MPI_ERR_ARG: MPI_Cart_rank on rank 0: coords has 1 entry, not 2 (one per dimension)`,
      `MPI_ERR_RANK: MPI_Cart_coords on rank 0: rank 6 outside 0..5 of ${c}`,
      `MPI_ERR_ARG: MPI_Cart_shift on rank 0: direction 2 outside 0..1 of the grid's dimensions`,
      `MPI_ERR_ARG: MPI_Cart_shift on rank 0: direction -1 outside 0..1 of the grid's dimensions`,
      `MPI_ERR_ARG: MPI_Cart_shift on rank 0: disp 0.5 is not an integer`,
      `MPI_ERR_ARG: MPI_Cart_sub on rank 0: remainDims has 1 entry, not 2 (one per dimension)`,
      `MPI_ERR_COMM: MPI_Cartdim_get on rank 0: ${c} was freed`,
    ],
    seen: 23,
  });
  assert.deepEqual(
    [mpi.ERROR_CLASSES.MPI_ERR_TOPOLOGY, mpi.ERROR_CLASSES.MPI_ERR_DIMS],
    [10, 11],
  );
});

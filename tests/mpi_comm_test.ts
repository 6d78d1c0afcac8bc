/**
 * Communicators and reductions: split (colors, keys, UNDEFINED) and dup give
 * new contexts whose collectives and point-to-point never mix with the
 * parent's; every reduction operation over every datatype (BigInt types and
 * MAXLOC/MINLOC pairs included) against a sequential reference; MPI_IN_PLACE.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";

const { reduceArrays, IN_PLACE, UNDEFINED } = mpi;

Deno.test("mpi: split by color and key, dup, and collectives on the new communicators", async () => {
  const job = await mpi.mpiexec({ np: 7, mode: "native" }, async (comm) => {
    const me = comm.rank;
    // Colors 0/1/2 by rank mod 3, reversed order inside (key = -rank); rank 6 stays out.
    const sub = await comm.split(me === 6 ? UNDEFINED : me % 3, -me);
    if (me === 6) return { sub: null };
    const s = sub!;
    const sum = new Int32Array([me]);
    await s.allreduce(IN_PLACE, sum, "SUM");
    const dup = await s.dup();
    // A message on the parent and one on the dup with the same tag: contexts keep them apart.
    const fromLeft = new Int32Array(1), onDup = new Int32Array(1);
    if (s.size > 1) {
      const right = (s.rank + 1) % s.size, left = (s.rank + s.size - 1) % s.size;
      const r1 = await dup.irecv(onDup, left, 0);
      const r2 = await s.irecv(fromLeft, left, 0);
      await s.send(new Int32Array([me]), right, 0);
      await dup.send(new Int32Array([me * 100]), right, 0);
      await s.waitall([r1, r2]);
    }
    const roots = new Int32Array(1);
    if (s.rank === 0) roots[0] = me;
    await dup.bcast(roots, 0);
    dup.freeComm();
    return {
      sub: [s.rank, s.size, s.group.join(",")],
      sum: sum[0],
      neighbors: [fromLeft[0], onDup[0]],
      root: roots[0],
    };
  });
  const r = job.results;
  assert.equal(r[6].sub, null);
  // Color 0: world ranks 0, 3 (key -0, -3) → order 3, 0.
  assert.deepEqual(r[0], { sub: [1, 2, "3,0"], sum: 3, neighbors: [3, 300], root: 3 });
  assert.deepEqual(r[3], { sub: [0, 2, "3,0"], sum: 3, neighbors: [0, 0], root: 3 });
  // Color 1: 4, 1; color 2: 5, 2.
  assert.deepEqual(r[1], { sub: [1, 2, "4,1"], sum: 5, neighbors: [4, 400], root: 4 });
  assert.deepEqual(r[5], { sub: [0, 2, "5,2"], sum: 7, neighbors: [2, 200], root: 5 });
});

Deno.test("mpi: every reduction operation over every datatype matches the sequential reference", async () => {
  const ops: mpi.Op[] = ["SUM", "PROD", "MIN", "MAX", "LAND", "LOR", "LXOR", "BAND", "BOR", "BXOR"];
  const types: mpi.Datatype[] = [
    "float64",
    "float32",
    "int32",
    "uint32",
    "int16",
    "uint16",
    "int8",
    "uint8",
    "int64",
    "uint64",
  ];
  const data = (t: mpi.Datatype, r: number) => {
    const a = mpi.newArray(t, 6);
    for (let i = 0; i < 6; i++) {
      const v = ((r * 5 + i * 3) % 7) - (t.startsWith("u") ? 0 : 2) + (i === 2 ? 0 : 1);
      if (a instanceof BigInt64Array || a instanceof BigUint64Array) a[i] = BigInt(v);
      else a[i] = v;
    }
    return a;
  };
  const job = await mpi.mpiexec({ np: 5, mode: "native" }, async (comm) => {
    const fails: string[] = [];
    for (const t of types) {
      for (const op of ops) {
        // Bitwise and logical operations take integer types only (MPI-3.1 §5.9.2).
        if (/^[BL]/.test(op) && !mpi.isIntegerType(t)) {
          const code = await comm.allreduce(data(t, 0), mpi.newArray(t, 6), op).then(
            () => "accepted",
            (e: mpi.MpiError) => e.code,
          );
          if (code !== "MPI_ERR_OP") fails.push(`${op} ${t}: ${code}`);
          continue;
        }
        const out = mpi.newArray(t, 6);
        await comm.allreduce(data(t, comm.rank), out, op);
        const want = reduceArrays(op, Array.from({ length: comm.size }, (_, r) => data(t, r)));
        if (want.some((v, i) => v !== out[i])) fails.push(`${op} ${t}: got ${out} want ${want}`);
      }
    }
    // MAXLOC / MINLOC take MPI's same-type pair types only (MPI-3.1 §5.9.4): int32, float32,
    // float64 pairs.
    for (const t of types) {
      const code = await comm.allreduce(mpi.newArray(t, 2), mpi.newArray(t, 2), "MAXLOC").then(
        () => "accepted",
        (e: mpi.MpiError) => e.code,
      );
      const want = ["int32", "float32", "float64"].includes(t) ? "accepted" : "MPI_ERR_OP";
      if (code !== want) fails.push(`MAXLOC ${t}: ${code}`);
    }
    // MAXLOC / MINLOC on (value, index) pairs; ties go to the lower index.
    for (const op of ["MAXLOC", "MINLOC"] as const) {
      const pair = new Float64Array([comm.rank % 3, comm.rank, -comm.rank, comm.rank]);
      const out = new Float64Array(4);
      await comm.allreduce(pair, out, op);
      fails.push(
        ...(op === "MAXLOC"
          ? (out.join() === "2,2,0,0" ? [] : [`MAXLOC got ${out}`])
          : (out.join() === "0,0,-4,4" ? [] : [`MINLOC got ${out}`])),
      );
    }
    return fails;
  });
  assert.deepEqual(job.results.flat(), []);
});

Deno.test("mpi: IN_PLACE for reduce, gather, scatter and allgather", async () => {
  const job = await mpi.mpiexec({ np: 4, mode: "native" }, async (comm) => {
    const me = comm.rank, n = comm.size;
    const red = comm.alloc(3, "int32");
    red.set([me, me * 2, 1]);
    if (me === 1) await comm.reduce(IN_PLACE, red, "SUM", 1);
    else await comm.reduce(red, null, "SUM", 1);
    const gath = new Int32Array(n).fill(-1);
    gath[me] = me * 10;
    if (me === 2) await comm.gather(IN_PLACE, gath, 2);
    else await comm.gather(new Int32Array([me * 10]), null, 2);
    const scat = Int32Array.from({ length: n }, (_, i) => i + 100);
    const mine = new Int32Array(1);
    if (me === 0) await comm.scatter(scat, IN_PLACE, 0);
    else await comm.scatter(null, mine, 0);
    const ag = new Int32Array(n);
    ag[me] = me + 7;
    await comm.allgather(IN_PLACE, ag);
    return {
      red: [...red.get()],
      gath: [...gath],
      mine: me === 0 ? scat[0] : mine[0],
      ag: [...ag],
    };
  });
  assert.deepEqual(job.results[1].red, [6, 12, 4]);
  assert.deepEqual(job.results[2].gath, [0, 10, 20, 30]);
  assert.deepEqual(job.results.map((r) => r.mine), [100, 101, 102, 103]);
  for (const r of job.results) assert.deepEqual(r.ag, [7, 8, 9, 10]);
});

Deno.test("mpi: communicator argument errors", async () => {
  const e = await mpi.mpiexec({ np: 2, mode: "native" }, async (comm) => {
    await comm.split(-5);
  }).then(() => undefined, (err) => err);
  assert.match(
    e?.message,
    /MPI_ERR_ARG: MPI_Comm_split on rank \d: color -5 must be 0\.\.2147483647 or UNDEFINED/,
  );
  // Colors and keys are C ints: 2^31 wrapped in the exchange and left each rank out of its own
  // group (rank -1 of an empty communicator).
  for (
    const [color, key, msg] of [[2 ** 31, 0, /color 2147483648 must be/], [
      1,
      2 ** 32,
      /key 4294967296 is not an integer in -2147483648\.\.2147483647/,
    ]] as const
  ) {
    const w = await mpi.mpiexec({ np: 2, mode: "native" }, async (comm) => {
      await comm.split(color, key);
    }).then(() => undefined, (err) => err);
    assert.match(w?.message, new RegExp(`MPI_ERR_ARG: MPI_Comm_split on rank \\d: ${msg.source}`));
  }
  const v = await mpi.mpiexec({ np: 2, mode: "native" }, async (comm) => {
    await comm.alltoallv(new Int32Array(4), [1, -1], [0, 1], new Int32Array(4), [1, 1], [0, 1]);
  }).then(() => undefined, (err) => err);
  assert.match(
    v?.message,
    /MPI_ERR_COUNT: MPI_Alltoallv on rank \d: send count\[1\] = -1 is not >= 0/,
  );
});

Deno.test("mpi: MPI_BYTE takes BAND, BOR and BXOR only; a DataView reduced with a typed buffer takes its type (MPI-3.1 §5.9.2)", async () => {
  for (const mode of ["native", "bypass", "split"] as const) {
    const job = await mpi.mpiexec({ np: 3, mode }, async (comm) => {
      // Bytes combine bitwise.
      const bits = new DataView(new Uint8Array([1 << comm.rank, 0xf0]).buffer);
      await comm.allreduce(mpi.IN_PLACE, bits, "BOR");
      // A float64 reduction delivered into a DataView adds doubles (it added bytes).
      const out = new DataView(new ArrayBuffer(8));
      await comm.allreduce(new Float64Array([0.5 + comm.rank]), out, "SUM");
      const root = new DataView(new ArrayBuffer(8));
      await comm.reduce(
        new Float64Array([comm.rank]),
        comm.rank === 2 ? root : null,
        "MAX",
        2,
      );
      // Arithmetic on bytes is an error, not a sum of bytes.
      const err = await comm.allreduce(mpi.IN_PLACE, new DataView(new ArrayBuffer(4)), "SUM")
        .then(() => "no error", (e: Error) => e.message);
      return [
        bits.getUint8(0),
        bits.getUint8(1),
        out.getFloat64(0, true),
        root.getFloat64(0, true),
        err,
      ];
    });
    for (const [r, res] of job.results.entries()) {
      assert.deepEqual(res.slice(0, 3), [7, 0xf0, 4.5], mode);
      assert.equal(res[3], r === 2 ? 2 : 0, mode);
      assert.match(
        String(res[4]),
        /^MPI_ERR_OP: MPI_Allreduce on rank \d: SUM does not apply to byte \(MPI_BYTE takes BAND, BOR and BXOR only/,
      );
    }
  }
});

Deno.test("mpi: IN_PLACE for alltoall and alltoallv, every algorithm, 1, 3 and 5 ranks (MPI-3.1 §5.8)", async () => {
  for (const [np, mode] of [[1, "native"], [3, "bypass"], [5, "split"]] as const) {
    const job = await mpi.mpiexec({ np, mode }, async (comm) => {
      const me = comm.rank, n = comm.size;
      const out: Record<string, number[]> = {};
      for (const algorithm of mpi.ALGORITHMS.alltoall) {
        // Block j (two elements, one MpiBuffer and one typed array) goes to rank j.
        for (const k of [2, 3000]) {
          const buf = k > 2 ? comm.alloc(n * k, "int32") : new Int32Array(n * k);
          const v = buf instanceof Int32Array ? buf : buf.get();
          for (let j = 0; j < n; j++) v.fill(100 * me + j, j * k, (j + 1) * k);
          if (!(buf instanceof Int32Array)) buf.set(v);
          await comm.alltoall(IN_PLACE, buf, { algorithm });
          const got = buf instanceof Int32Array ? buf : buf.get();
          out[`${algorithm} ${k}`] = Array.from({ length: n }, (_, j) => got[j * k + k - 1]);
        }
      }
      for (const algorithm of mpi.ALGORITHMS.alltoallv) {
        // Rank i and rank j swap i + j + 1 elements; sendcounts/sdispls are ignored.
        const counts = Array.from({ length: n }, (_, j) => me + j + 1);
        const displs = counts.map((_, j) => counts.slice(0, j).reduce((a, b) => a + b, 0));
        const buf = new Float64Array(counts.reduce((a, b) => a + b, 0));
        for (let j = 0; j < n; j++) buf.fill(10 * me + j, displs[j], displs[j] + counts[j]);
        await comm.alltoallv(IN_PLACE, [], [], buf, counts, displs, { algorithm });
        out[`v ${algorithm}`] = [...buf];
      }
      return out;
    });
    for (const [me, res] of job.results.entries()) {
      for (const [name, got] of Object.entries(res)) {
        if (name.startsWith("v ")) {
          const want = Array.from({ length: np }, (_, j) => Array(me + j + 1).fill(10 * j + me))
            .flat();
          assert.deepEqual(got, want, `${np} ranks ${name} on rank ${me}`);
        } else {
          assert.deepEqual(
            got,
            Array.from({ length: np }, (_, j) => 100 * j + me),
            `${np} ranks ${name} on rank ${me}`,
          );
        }
      }
    }
  }
});

Deno.test("mpi: a collective's send buffer that is its receive buffer is MPI_ERR_BUFFER: IN_PLACE is the way (MPI-3.1 §2.3, MPICH's alias check)", async () => {
  const calls: [string, (c: mpi.Comm, b: Int32Array) => Promise<void>][] = [
    ["MPI_Allreduce", (c, b) => c.allreduce(b, b, "SUM")],
    ["MPI_Reduce", (c, b) => c.reduce(b, b, "SUM", 0)],
    ["MPI_Gather", (c, b) => c.gather(b.subarray(0, 1), b, 0)],
    ["MPI_Scatter", (c, b) => c.scatter(b, b.subarray(0, 1), 0)],
    ["MPI_Allgather", (c, b) => c.allgather(b.subarray(0, 1), b)],
    ["MPI_Alltoall", (c, b) => c.alltoall(b, b)],
    ["MPI_Alltoallv", (c, b) => c.alltoallv(b, [1, 1, 1], [0, 1, 2], b, [1, 1, 1], [0, 1, 2])],
    // MPICH checks alltoallw's buffers only when both sides name the same counts and types.
    [
      "MPI_Alltoallw",
      (c, b) => {
        const n = [1, 1, 1], t: mpi.Datatype[] = ["int32", "int32", "int32"];
        return c.alltoallw(b, n, [0, 4, 8], t, b, n, [0, 4, 8], t);
      },
    ],
  ];
  for (const mode of ["native", "split"] as const) {
    for (const [what, call] of calls) {
      const e = await mpi.mpiexec({ np: 3, mode }, async (comm) => {
        await call(comm, new Int32Array(3));
      }).then(() => undefined, (err) => err);
      assert.match(
        e?.message,
        new RegExp(
          // Every rank finds it; which one the job reports first is a matter of timing.
          `^rank (\\d): MPI_ERR_BUFFER: ${what} on rank \\1: send and receive buffers are the same \\(use IN_PLACE\\)$`,
        ),
        `${mode} ${what}`,
      );
    }
  }
  // One rank, and distinct views of one array, are fine.
  const job = await mpi.mpiexec({ np: 1, mode: "native" }, async (comm) => {
    const b = new Int32Array([5, 0]);
    await comm.allreduce(b, b, "SUM");
    await comm.allreduce(b.subarray(0, 1), b.subarray(1, 2), "SUM");
    return [...b];
  });
  assert.deepEqual(job.results, [[5, 5]]);
});

Deno.test("mpi: compare says IDENT, CONGRUENT, SIMILAR or UNEQUAL (MPI-3.1 §6.4.1)", async () => {
  for (const mode of ["native", "bypass", "split"] as const) {
    const job = await mpi.mpiexec({ np: 3, mode }, async (comm) => {
      const dup = await comm.dup();
      const reversed = (await comm.split(0, -comm.rank))!;
      const same = (await comm.split(0, comm.rank))!;
      const pair = await comm.split(comm.rank < 2 ? 0 : 1);
      const got = [
        comm.compare(comm),
        comm.compare(dup),
        dup.compare(comm),
        comm.compare(reversed),
        comm.compare(same),
        comm.compare(pair!),
        reversed.compare(reversed),
      ];
      dup.freeComm();
      const freed = (() => {
        try {
          comm.compare(dup);
          return "no error";
        } catch (e) {
          return (e as Error).message;
        }
      })();
      return [got, freed];
    });
    for (const [rank, [got, freed]] of job.results.entries()) {
      assert.deepEqual(
        got,
        [
          mpi.IDENT,
          mpi.CONGRUENT,
          mpi.CONGRUENT,
          mpi.SIMILAR,
          mpi.CONGRUENT,
          mpi.UNEQUAL,
          mpi.IDENT,
        ],
        mode,
      );
      assert.match(
        String(freed),
        new RegExp(
          `^MPI_ERR_COMM: MPI_Comm_compare on rank ${rank}: MPI_COMM_WORLD\\.dup1 was freed`,
        ),
      );
    }
  }
});

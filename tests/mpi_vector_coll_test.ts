/**
 * The vector collectives MPI_Gatherv, MPI_Scatterv and MPI_Allgatherv
 * (MPI-3.1 §5.5–§5.7), MPI_Alltoallw and MPI_Ialltoallw (MPI-4.0 §6.8,
 * §6.12.6: per-peer datatypes at byte displacements) and the reductions beyond reduce/allreduce
 * (MPI_Reduce_scatter(_block) §5.10, MPI_Scan and MPI_Exscan §5.11):
 * MPI_IN_PLACE, empty and reordered blocks, the same results in native,
 * bypass and split, and the argument errors with their MPI error classes.
 * (Every algorithm against a sequential reference is in mpi_coll_test.ts.)
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";
import { wLayout } from "./support/alltoallw.ts";

const { IN_PLACE } = mpi;

/** Gatherv, scatterv and allgatherv with IN_PLACE and without; returns what each rank got. */
async function program(comm: mpi.Comm): Promise<unknown> {
  const me = comm.rank, n = comm.size;
  // Rank r has r elements (rank 0 none), blocks in reverse rank order.
  const counts = Array.from({ length: n }, (_, r) => r);
  const displs = counts.map((_, i) => counts.slice(i + 1).reduce((a, b) => a + b, 0));
  const total = counts.reduce((a, b) => a + b, 0);
  const mine = Int32Array.from({ length: me }, (_, k) => me * 100 + k);
  const root = n - 1;

  const g = new Int32Array(total).fill(-1);
  if (me === root) {
    g.set(mine, displs[me]);
    await comm.gatherv(IN_PLACE, g, counts, displs, root);
  } else await comm.gatherv(mine, null, [], [], root);
  const g2 = comm.alloc(total, "int32");
  await comm.gatherv(mine, me === 0 ? g2 : null, counts, displs, 0);

  const s = me === root ? g.slice() : new Int32Array(me);
  if (me === root) await comm.scatterv(s, counts, displs, IN_PLACE, root);
  else await comm.scatterv(null, [], [], s, root);

  const a = comm.alloc(total, "int32");
  a.set(mine, displs[me]);
  await comm.allgatherv(IN_PLACE, a, counts, displs);
  const b = new Int32Array(total);
  await comm.allgatherv(mine, b, counts, displs, { algorithm: "ring" });
  return {
    g: me === root ? [...g] : null,
    g2: me === 0 ? [...g2.get()] : null,
    s: [...(me === root ? s.subarray(displs[me], displs[me] + me) : s)],
    a: [...a.get()],
    b: [...b],
  };
}

Deno.test("mpi: gatherv, scatterv and allgatherv with IN_PLACE give the same results in native, bypass and split", async () => {
  const runs: Record<string, unknown[]> = {};
  for (const mode of ["native", "bypass", "split"] as const) {
    const job = await mpi.mpiexec({ np: 4, mode }, program);
    runs[mode] = job.results;
    const res = job.results as {
      g: number[];
      g2: number[];
      s: number[];
      a: number[];
      b: number[];
    }[];
    // Blocks in reverse order: rank 3's three elements first, rank 0's none.
    const all = [300, 301, 302, 200, 201, 100];
    assert.deepEqual(res[3].g, all, mode);
    assert.deepEqual(res[0].g2, all, mode);
    for (const [r, x] of res.entries()) {
      assert.deepEqual(x.s, Array.from({ length: r }, (_, k) => r * 100 + k), `${mode} rank ${r}`);
      assert.deepEqual(x.a, all, `${mode} rank ${r}`);
      assert.deepEqual(x.b, all, `${mode} rank ${r}`);
    }
  }
  assert.deepEqual(runs.bypass, runs.native);
  assert.deepEqual(runs.split, runs.native);
});

/** The message a job fails with. */
async function failure(np: number, body: (comm: mpi.Comm) => Promise<unknown>): Promise<string> {
  return await mpi.mpiexec({ np, mode: "native" }, body).then(
    () => "no error",
    (e: Error) => e.message,
  );
}

Deno.test("mpi: vector collective argument errors carry MPI's error classes", async () => {
  const cases: [string, (c: mpi.Comm) => Promise<unknown>, RegExp][] = [
    [
      "IN_PLACE off the root (MPI-3.1 §5.5)",
      (c) => c.gatherv(IN_PLACE, new Int32Array(3), [1, 1, 1], [0, 1, 2], 0),
      /MPI_ERR_BUFFER: MPI_Gatherv on rank [12]: IN_PLACE is for the root only/,
    ],
    [
      "IN_PLACE off the root (MPI-3.1 §5.6)",
      (c) => c.scatterv(new Int32Array(3), [1, 1, 1], [0, 1, 2], IN_PLACE, 2),
      /MPI_ERR_BUFFER: MPI_Scatterv on rank [01]: IN_PLACE is for the root only/,
    ],
    [
      "a bad root",
      (c) => c.gatherv(new Int32Array(1), new Int32Array(3), [1, 1, 1], [0, 1, 2], 3),
      /MPI_ERR_ROOT: MPI_Gatherv on rank \d: root 3 outside 0\.\.2/,
    ],
    [
      "too few counts",
      (c) => c.allgatherv(new Int32Array(1), new Int32Array(3), [1, 1], [0, 1]),
      /MPI_ERR_COUNT: MPI_Allgatherv on rank \d: receive counts and displacements need 3 entries each/,
    ],
    [
      "a negative count",
      (c) => c.allgatherv(new Int32Array(1), new Int32Array(3), [1, -1, 1], [0, 1, 2]),
      /MPI_ERR_COUNT: MPI_Allgatherv on rank \d: receive count\[1\] = -1 is not >= 0/,
    ],
    [
      "a block past the end of the buffer",
      (c) => c.allgatherv(new Int32Array(1), new Int32Array(3), [1, 1, 1], [0, 1, 3]),
      /MPI_ERR_COUNT: MPI_Allgatherv on rank \d: receive block 2 \(1 at 3\) exceeds the buffer's 3 elements/,
    ],
    [
      "more sent than the block holds",
      (c) => c.allgatherv(new Int32Array(2), new Int32Array(3), [1, 1, 1], [0, 1, 2]),
      /MPI_ERR_TRUNCATE: MPI_Allgatherv on rank \d: 8 bytes sent, its block holds 4/,
    ],
    [
      "a root's receive buffer smaller than its block",
      (c) => c.scatterv(new Int32Array(6), [2, 2, 2], [0, 2, 4], new Int32Array(1), c.rank),
      /MPI_ERR_TRUNCATE: MPI_Scatterv on rank \d: its block is 8 bytes, the receive buffer holds 4/,
    ],
    [
      "different send and receive types",
      (c) => c.allgatherv(new Float64Array(1), new Int32Array(6), [2, 2, 2], [0, 2, 4]),
      /MPI_ERR_TYPE: MPI_Allgatherv on rank \d: send type float64 and receive type int32 differ/,
    ],
    [
      "the send buffer is the receive block (MPI-3.1 §2.3)",
      (c) => {
        const b = new Int32Array(3);
        return c.allgatherv(b.subarray(c.rank, c.rank + 1), b, [1, 1, 1], [0, 1, 2]);
      },
      /MPI_ERR_BUFFER: MPI_Allgatherv on rank \d: send and receive buffers are the same \(use IN_PLACE\)/,
    ],
    [
      "an unknown algorithm",
      (c) =>
        c.allgatherv(new Int32Array(1), new Int32Array(3), [1, 1, 1], [0, 1, 2], {
          algorithm: "binomial" as "ring",
        }),
      /MPI_ERR_ARG: allgatherv: unknown algorithm 'binomial' \(known: recursive_doubling, bruck, ring\)/,
    ],
  ];
  for (const [name, call, re] of cases) {
    const msg = await failure(3, async (comm) => {
      await call(comm);
    });
    assert.match(msg, re, name);
  }
});

Deno.test("mpi: a gatherv root checks its counts only; other ranks' counts are not significant (MPI-3.1 §5.5)", async () => {
  const job = await mpi.mpiexec({ np: 3, mode: "native" }, async (comm) => {
    const out = new Float64Array(3);
    // Garbage counts off the root are ignored, as MPI says they are not significant there.
    const counts = comm.rank === 0 ? [1, 1, 1] : [-7];
    await comm.gatherv(new Float64Array([comm.rank + 0.5]), comm.rank === 0 ? out : null, counts, [
      0,
      1,
      2,
    ], 0);
    const back = new Float64Array(1);
    await comm.scatterv(comm.rank === 0 ? out : null, counts, [2, 1, 0], back, 0);
    return [...(comm.rank === 0 ? out : back)];
  });
  assert.deepEqual(job.results, [[0.5, 1.5, 2.5], [1.5], [0.5]]);
});

/** Whether two byte arrays are equal, byte for byte. */
const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, k) => x === b[k]);

/**
 * MPI_Alltoallw and MPI_Ialltoallw on tests/support/alltoallw.ts's layouts:
 * typed arrays and MpiBuffers, every algorithm and the default, eager and
 * rendezvous blocks, and IN_PLACE; returns the cases whose receive buffer
 * is not byte for byte what the senders sent.
 */
async function alltoallwProgram(comm: mpi.Comm): Promise<string[]> {
  const n = comm.size, me = comm.rank;
  const fails: string[] = [];
  // 1 to 3 elements per block go eagerly; 1200 to 3600 (up to 28800 bytes) by rendezvous.
  for (const scale of [1, 1200]) {
    for (const algorithm of [undefined, ...mpi.ALGORITHMS.alltoallw]) {
      const js = wLayout(n, me, scale, { zeros: true });
      await comm.alltoallw(
        js.send,
        js.sendcounts,
        js.sdispls,
        js.sendtypes,
        js.recv,
        js.recvcounts,
        js.rdispls,
        js.recvtypes,
        { algorithm },
      );
      if (!sameBytes(js.recv, js.want)) fails.push(`alltoallw ${algorithm} ${scale}`);
      // Non-blocking, from and into domain memory (whose element type is not looked at).
      const d = wLayout(n, me, scale);
      const s = comm.alloc(d.send.length, "uint8"), r = comm.alloc(d.recv.length, "byte");
      s.set(d.send);
      r.set(d.recv);
      const req = await comm.ialltoallw(
        s,
        d.sendcounts,
        d.sdispls,
        d.sendtypes,
        r,
        d.recvcounts,
        d.rdispls,
        d.recvtypes,
        { algorithm },
      );
      await comm.wait(req);
      if (!sameBytes(r.get() as Uint8Array, d.want)) fails.push(`ialltoallw ${algorithm} ${scale}`);
    }
    // IN_PLACE: the send counts, displacements and types are not looked at.
    const p = wLayout(n, me, scale, { symmetric: true, zeros: true });
    await comm.alltoallw(IN_PLACE, [], [], [], p.send, p.recvcounts, p.rdispls, p.recvtypes);
    if (!sameBytes(p.send, p.want)) fails.push(`alltoallw IN_PLACE ${scale}`);
    const q = wLayout(n, me, scale, { symmetric: true });
    const b = comm.alloc(q.send.length, "byte");
    b.set(q.send);
    await comm.wait(
      await comm.ialltoallw(IN_PLACE, [], [], [], b, q.recvcounts, q.rdispls, q.recvtypes),
    );
    if (!sameBytes(b.get() as Uint8Array, q.want)) fails.push(`ialltoallw IN_PLACE ${scale}`);
  }
  return fails.map((f) => `rank ${me}: ${f}`);
}

Deno.test("mpi: alltoallw and ialltoallw move per-peer datatypes at byte displacements byte for byte, every algorithm, IN_PLACE, in native, bypass and split (MPI-4.0 §6.8)", async () => {
  for (const [np, mode] of [[4, "native"], [3, "native"], [4, "bypass"], [3, "split"]] as const) {
    const job = await mpi.mpiexec({ np, mode }, alltoallwProgram);
    assert.deepEqual(job.results.flat(), [], `${np} ranks ${mode}`);
  }
  // One rank: its own block only.
  const one = await mpi.mpiexec({ np: 1, mode: "native" }, alltoallwProgram);
  assert.deepEqual(one.results.flat(), []);
});

Deno.test("mpi: alltoallw argument errors carry MPI's error classes", async () => {
  const i32 = ["int32", "int32", "int32"] as mpi.Datatype[];
  const w = (
    c: mpi.Comm,
    sc: number[],
    st: mpi.Datatype[],
    rc: number[],
    rd = [0, 4, 8],
    rt = i32,
    opts?: mpi.CollOptions<"alltoallw">,
  ) => c.alltoallw(new Uint8Array(24), sc, [0, 8, 16], st, new Uint8Array(12), rc, rd, rt, opts);
  const cases: [string, (c: mpi.Comm) => Promise<unknown>, RegExp][] = [
    [
      "too few send types",
      (c) => w(c, [1, 1, 1], ["int32", "int32"], [1, 1, 1]),
      /MPI_ERR_TYPE: MPI_Alltoallw on rank \d: send types need 3 entries/,
    ],
    [
      "a type that is none of the library's",
      (c) => w(c, [1, 1, 1], ["int32", "char" as mpi.Datatype, "int32"], [1, 1, 1]),
      /MPI_ERR_TYPE: MPI_Alltoallw on rank \d: send type\[1\] 'char' is not a datatype \(known: byte, uint8, /,
    ],
    [
      "too few receive displacements",
      (c) => w(c, [1, 1, 1], i32, [1, 1, 1], [0, 4]),
      /MPI_ERR_COUNT: MPI_Alltoallw on rank \d: receive counts and displacements need 3 entries each/,
    ],
    [
      "a negative count",
      (c) => w(c, [1, -1, 1], i32, [1, 1, 1]),
      /MPI_ERR_COUNT: MPI_Alltoallw on rank \d: send count\[1\] = -1 is not >= 0/,
    ],
    [
      "a block past the end of the buffer, in bytes",
      (c) => w(c, [1, 1, 1], i32, [1, 1, 1], [0, 4, 9]),
      /MPI_ERR_COUNT: MPI_Alltoallw on rank \d: receive block 2 \(1 int32 at byte 9\) exceeds the buffer's 12 bytes/,
    ],
    [
      "more sent to itself than its block holds (MPIR_Localcopy)",
      (c) => w(c, [2, 2, 2], i32, [1, 1, 1]),
      /MPI_ERR_TRUNCATE: MPI_Alltoallw on rank \d: 8 bytes sent to itself, its block holds 4/,
    ],
    [
      "more sent to another rank than its block there holds",
      (c) => w(c, [1, 1, 1].map((_, j) => j === (c.rank + 1) % 3 ? 2 : 1), i32, [1, 1, 1]),
      /MPI_ERR_TRUNCATE: MPI_Alltoallw on rank \d: message of 8 bytes from rank \d \(tag \d+\) does not fit the 4-byte receive buffer/,
    ],
    [
      "its own block sent and received as different types",
      (c) => w(c, [1, 1, 1], i32.map((t, j) => j === c.rank ? "float32" : t), [1, 1, 1]),
      /MPI_ERR_TYPE: MPI_Alltoallw on rank \d: send type float32 and receive type int32 differ/,
    ],
    [
      "the same buffer, counts and types for send and receive (MPICH's alias check)",
      (c) => {
        const b = new Uint8Array(12), cnt = [1, 1, 1], d = [0, 4, 8];
        return c.alltoallw(b, cnt, d, i32, b, cnt, d, i32);
      },
      /MPI_ERR_BUFFER: MPI_Alltoallw on rank \d: send and receive buffers are the same \(use IN_PLACE\)/,
    ],
    [
      "an unknown algorithm",
      (c) =>
        w(c, [1, 1, 1], i32, [1, 1, 1], undefined, undefined, { algorithm: "bruck" as "pairwise" }),
      /MPI_ERR_ARG: alltoallw: unknown algorithm 'bruck' \(known: pairwise, scattered\)/,
    ],
    [
      "alltoallv: more sent to itself than its block holds, as alltoallw",
      (c) =>
        c.alltoallv(new Int32Array(6), [2, 2, 2], [0, 2, 4], new Int32Array(3), [1, 1, 1], [
          0,
          1,
          2,
        ]),
      /MPI_ERR_TRUNCATE: MPI_Alltoallv on rank \d: 8 bytes sent to itself, its block holds 4/,
    ],
  ];
  for (const [name, call, re] of cases) {
    const msg = await failure(3, async (comm) => {
      await call(comm);
    });
    assert.match(msg, re, name);
  }
});

Deno.test("mpi: alltoallw looks at a block's type only when its count is not 0, and one buffer with disjoint blocks is not aliased (MPICH's checks)", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, async (world) => {
    const comm = world.setErrhandler(mpi.ERRORS_RETURN);
    const me = comm.rank;
    // Bytes 0..7 go out (4 to each rank), bytes 8..15 come in; an empty block's type is garbage.
    const b = Uint8Array.from({ length: 16 }, (_, k) => k < 8 ? 10 * me + k : 0);
    const i16 = ["int16", "int16"] as mpi.Datatype[];
    const junk = ["junk", "junk"] as unknown as mpi.Datatype[];
    await comm.alltoallw(b, [2, 2], [0, 4], i16, b, [2, 2], [8, 12], ["int16", "int16"]);
    await comm.alltoallw(new Uint8Array(0), [0, 0], [0, 0], junk, new Uint8Array(0), [0, 0], [
      0,
      0,
    ], junk);
    // The non-blocking call returns an argument error itself, named as the call.
    const e = await comm.ialltoallw(b, [1, 1], [0, 2], junk, b, [1, 1], [8, 10], i16);
    return [[...b.subarray(8)], e instanceof mpi.MpiError ? e.message : e];
  });
  assert.deepEqual(job.results[0][0], [0, 1, 2, 3, 10, 11, 12, 13]);
  assert.deepEqual(job.results[1][0], [4, 5, 6, 7, 14, 15, 16, 17]);
  assert.match(
    String(job.results[0][1]),
    /^MPI_ERR_TYPE: MPI_Ialltoallw on rank 0: send type\[0\] 'junk' is not a datatype/,
  );
});

Deno.test("mpi: an empty block's displacement is not held against the buffer (it touches no memory): alltoallv, alltoallw, allgatherv, gatherv, scatterv, every algorithm", async () => {
  for (const mode of ["native", "bypass"] as const) {
    const job = await mpi.mpiexec({ np: 3, mode }, async (comm) => {
      const me = comm.rank, n = comm.size, far = 999;
      // Domain memory (the simulated machine's) and a JS array: neither is read past its end.
      const bufs = (len: number, fill: number) => {
        const d = comm.alloc(len, "int32");
        d.fill(fill);
        return [d, new Int32Array(len).fill(fill)] as const;
      };
      const out: string[] = [];
      for (const algorithm of ["pairwise", "scattered"] as const) {
        // Nothing to the next rank, nothing from the previous one, both at displacement 999.
        const sc = [1, 1, 1], sd = [0, 1, 2], rc = [1, 1, 1], rd = [0, 1, 2];
        sc[(me + 1) % n] = 0, sd[(me + 1) % n] = far, rc[(me + 2) % n] = 0, rd[(me + 2) % n] = far;
        const [sDom, sJs] = bufs(n, me), [rDom, rJs] = bufs(n, -1);
        await comm.alltoallv(sDom, sc, sd, rDom, rc, rd, { algorithm });
        const bytes = (d: number[]) => d.map((x) => 4 * x);
        const types = ["int32", "int32", "int32"] as mpi.Datatype[];
        await comm.alltoallw(sJs, sc, bytes(sd), types, rJs, rc, bytes(rd), types, { algorithm });
        out.push([...rDom.get()].join(","), [...rJs].join(","));
      }
      // Rank 1 gives nothing, and its block's displacement is past the end.
      const counts = [1, 0, 1], displs = [0, far, 1];
      for (const algorithm of ["recursive_doubling", "bruck", "ring"] as const) {
        const [rDom] = bufs(2, -1);
        await comm.allgatherv(new Int32Array(counts[me]).fill(me), rDom, counts, displs, {
          algorithm,
        });
        out.push([...rDom.get()].join(","));
      }
      const [g] = bufs(2, -1);
      await comm.gatherv(
        new Int32Array(counts[me]).fill(me),
        me === 0 ? g : null,
        counts,
        displs,
        0,
      );
      const r = new Int32Array(counts[me]).fill(-1);
      await comm.scatterv(me === 0 ? new Int32Array([50, 51]) : null, counts, displs, r, 0);
      out.push(me === 0 ? [...g.get()].join(",") : "", [...r].join(","));
      return out;
    });
    const a2a = (r: string) => [r, r, r, r];
    assert.deepEqual(job.results, [
      [...a2a("0,1,-1"), "0,2", "0,2", "0,2", "0,2", "50"],
      [...a2a("-1,1,2"), "0,2", "0,2", "0,2", "", ""],
      [...a2a("0,-1,2"), "0,2", "0,2", "0,2", "", "51"],
    ], mode);
  }
});

/** Reduce-scatter (block and vector), scan and exscan, with IN_PLACE and without. */
async function reductions(comm: mpi.Comm): Promise<number[][]> {
  const me = comm.rank, n = comm.size;
  const input = () => Int32Array.from({ length: 2 * n }, (_, i) => (me + 1) * (i + 1));
  const rsb = input();
  await comm.reduceScatterBlock(mpi.IN_PLACE, rsb, "SUM");
  const counts = Array.from({ length: n }, (_, r) => (r === 0 ? 2 * n : 0));
  const rs = new Int32Array(me === 0 ? 2 * n : 1).fill(-1);
  await comm.reduceScatter(input(), rs, counts, "MAX");
  const sc = new Float64Array([me + 0.5, 2]);
  await comm.scan(mpi.IN_PLACE, sc, "PROD");
  const ex = new Int32Array([me, 7]);
  await comm.exscan(mpi.IN_PLACE, ex, "SUM");
  return [[...rsb.subarray(0, 2)], [...rs], [...sc], [...ex]];
}

Deno.test("mpi: reduceScatterBlock, reduceScatter, scan and exscan with IN_PLACE give the same results in native, bypass and split (MPI-3.1 §5.10, §5.11)", async () => {
  const runs: Record<string, unknown[]> = {};
  for (const mode of ["native", "bypass", "split"] as const) {
    const job = await mpi.mpiexec({ np: 3, mode }, reductions);
    runs[mode] = job.results;
    const res = job.results as number[][][];
    // Σ (r + 1) = 6 times (i + 1); rank r's block is elements 2r, 2r + 1.
    assert.deepEqual(res.map((x) => x[0]), [[6, 12], [18, 24], [30, 36]], mode);
    // Everything to rank 0 (the others' blocks are empty: their buffers untouched).
    assert.deepEqual(res.map((x) => x[1]), [[3, 6, 9, 12, 15, 18], [-1], [-1]], mode);
    assert.deepEqual(res.map((x) => x[2]), [[0.5, 2], [0.75, 4], [1.875, 8]], mode);
    // Exscan: rank 0's buffer is left as it was.
    assert.deepEqual(res.map((x) => x[3]), [[0, 7], [0, 7], [1, 14]], mode);
  }
  assert.deepEqual(runs.bypass, runs.native);
  assert.deepEqual(runs.split, runs.native);
});

Deno.test("mpi: reduce-scatter and scan argument errors carry MPI's error classes", async () => {
  const cases: [string, (c: mpi.Comm) => Promise<unknown>, RegExp][] = [
    [
      "a block size that does not divide",
      (c) => c.reduceScatterBlock(new Int32Array(4), new Int32Array(2), "SUM"),
      /MPI_ERR_COUNT: MPI_Reduce_scatter_block on rank \d: 4 elements is not 3 equal blocks/,
    ],
    [
      "a receive buffer smaller than the block",
      (c) => c.reduceScatterBlock(new Int32Array(6), new Int32Array(1), "SUM"),
      /MPI_ERR_COUNT: MPI_Reduce_scatter_block on rank \d: receive buffer holds 4 bytes, needs 8/,
    ],
    [
      "counts beyond the input",
      (c) => c.reduceScatter(new Int32Array(3), new Int32Array(2), [1, 1, 2], "SUM"),
      /MPI_ERR_COUNT: MPI_Reduce_scatter on rank \d: receive block 2 \(2 at 2\) exceeds the buffer's 3 elements/,
    ],
    [
      "too few counts",
      (c) => c.reduceScatter(new Int32Array(3), new Int32Array(2), [1, 1], "SUM"),
      /MPI_ERR_COUNT: MPI_Reduce_scatter on rank \d: receive counts and displacements need 3 entries each/,
    ],
    [
      "an op that does not apply (MPI-3.1 §5.9.2)",
      (c) => c.scan(new Float64Array(2), new Float64Array(2), "BAND"),
      /MPI_ERR_OP: MPI_Scan on rank \d: BAND applies to integer types, not float64/,
    ],
    [
      "the send buffer is the receive buffer (MPI-3.1 §2.3)",
      (c) => {
        const b = new Int32Array(2);
        return c.exscan(b, b, "SUM");
      },
      /MPI_ERR_BUFFER: MPI_Exscan on rank \d: send and receive buffers are the same \(use IN_PLACE\)/,
    ],
    [
      "an unknown algorithm",
      (c) =>
        c.reduceScatterBlock(new Int32Array(3), new Int32Array(1), "SUM", {
          algorithm: "ring" as "pairwise",
        }),
      /MPI_ERR_ARG: reduceScatterBlock: unknown algorithm 'ring' \(known: recursive_halving, pairwise, recursive_doubling, noncommutative\)/,
    ],
  ];
  for (const [name, call, re] of cases) {
    const msg = await failure(3, async (comm) => {
      await call(comm);
    });
    assert.match(msg, re, name);
  }
});

Deno.test("mpi: user-defined operations: MPI_Op_free, MPI_Op_commutative and their errors (MPI-3.1 §5.9.5)", async () => {
  const first = mpi.opCreate((a, b) => (b as Int32Array).set(a as Int32Array), false);
  assert.equal(mpi.isCommutative(first), false);
  assert.equal(mpi.isCommutative("MAX"), true);
  assert.throws(() => mpi.opFree("SUM"), /^MpiError: MPI_ERR_OP: MPI_Op_free: SUM is predefined/);
  assert.throws(
    () => mpi.opCreate(42 as unknown as mpi.UserFunction, true),
    /MPI_ERR_ARG: MPI_Op_create: the user function is number, not a function/,
  );
  // "first" keeps rank 0's data, in every mode, and takes any datatype (MPI_BYTE too).
  for (const mode of ["native", "bypass", "split"] as const) {
    const job = await mpi.mpiexec({ np: 3, mode }, async (comm) => {
      const out = new Int32Array(2);
      await comm.allreduce(new Int32Array([comm.rank + 5, 9]), out, first);
      const bytes = new DataView(new Uint8Array([comm.rank + 1]).buffer);
      await comm.allreduce(mpi.IN_PLACE, bytes, first);
      return [...out, bytes.getUint8(0)];
    });
    assert.deepEqual(job.results, [[5, 9, 1], [5, 9, 1], [5, 9, 1]], mode);
  }
  const freed = mpi.opCreate((a, b) => (b as Int32Array).set(a as Int32Array), true);
  mpi.opFree(freed);
  assert.throws(
    () => mpi.opFree(freed),
    /MPI_ERR_OP: MPI_Op_free: the operation was freed already/,
  );
  assert.match(
    await failure(2, (c) => c.scan(new Int32Array(1), new Int32Array(1), freed)),
    /MPI_ERR_OP: MPI_Scan on rank \d: the operation was freed \(MPI_OP_NULL\)/,
  );
  const broken = mpi.opCreate(() => {
    throw new Error("no inverse");
  }, true);
  assert.match(
    await failure(2, (c) => c.allreduce(new Int32Array(1), new Int32Array(1), broken)),
    /MPI_ERR_OTHER: MPI_Allreduce on rank \d: the user operation threw: no inverse/,
  );
});

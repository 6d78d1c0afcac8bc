/**
 * Every collective algorithm against a sequential reference: each algorithm
 * named explicitly at a short (eager) and a long (rendezvous) size, and the
 * default choice at sizes across MPICH's switch points, on communicator sizes
 * 1, 2, 3, 4, 5, 7 and 8 (powers of two and not), for several roots.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";
import { wLayout } from "./support/alltoallw.ts";

const { ALGORITHMS, reduceArrays } = mpi;

/** Integer-valued data: sums are exact in any order. */
const val = (r: number, i: number) => ((r + 1) * 131 + i * 7) % 1009;
const series = (r: number, n: number) => Float64Array.from({ length: n }, (_, i) => val(r, i));

/** Run every collective with `algorithm` (or the default when undefined) at `count` float64s; returns failures. */
async function exercise(
  comm: mpi.Comm,
  count: number,
  only?: boolean,
  bcastAndReductionsOnly?: boolean,
): Promise<string[]> {
  const n = comm.size, me = comm.rank;
  const fails: string[] = [];
  const check = (what: string, got: ArrayLike<number>, want: ArrayLike<number>) => {
    for (let i = 0; i < want.length; i++) {
      if (got[i] !== want[i]) {
        fails.push(`n=${n} ${what} count ${count}: [${i}] got ${got[i]} want ${want[i]}`);
        return;
      }
    }
  };
  const all = (f: (r: number) => Float64Array) => Array.from({ length: n }, (_, r) => f(r));
  const concat = (parts: Float64Array[]) => {
    const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) out.set(p, (o += p.length) - p.length);
    return out;
  };
  const algos = <C extends mpi.Collective>(c: C): (mpi.AlgorithmOf<C> | undefined)[] =>
    only ? [undefined] : [...ALGORITHMS[c]];
  const roots = n > 2 ? [0, n - 2] : [0, n - 1];

  for (const algorithm of algos("bcast")) {
    for (const root of roots) {
      const b = comm.alloc(count, "float64");
      if (me === root) b.set(series(root, count));
      await comm.bcast(b, root, { algorithm });
      check(`bcast ${algorithm} root ${root}`, b.get(), series(root, count));
    }
  }
  for (const algorithm of algos("reduce")) {
    for (const root of roots) {
      const out = new Float64Array(count);
      await comm.reduce(series(me, count), me === root ? out : null, "SUM", root, { algorithm });
      if (me === root) {
        check(
          `reduce ${algorithm} root ${root}`,
          out,
          reduceArrays("SUM", all((r) => series(r, count))),
        );
      }
    }
  }
  for (const algorithm of algos("allreduce")) {
    const out = comm.alloc(count, "float64");
    await comm.allreduce(series(me, count), out, "SUM", { algorithm });
    check(`allreduce ${algorithm}`, out.get(), reduceArrays("SUM", all((r) => series(r, count))));
  }
  // Reduce-scatter: block i has `count` elements (block) or the vector counts below (v).
  const rsc = Array.from(
    { length: n },
    (_, r) => r === 1 ? 0 : ((r * 2) % 3) + Math.floor(count / 2),
  );
  const rsTotal = rsc.reduce((a, b) => a + b, 0);
  const rsAt = rsc.slice(0, me).reduce((a, b) => a + b, 0);
  for (const algorithm of algos("reduceScatterBlock")) {
    const out = comm.alloc(count, "float64");
    await comm.reduceScatterBlock(series(me, count * n), out, "SUM", { algorithm });
    const want = reduceArrays("SUM", all((r) => series(r, count * n)));
    check(
      `reduceScatterBlock ${algorithm}`,
      out.get(),
      want.subarray(me * count, (me + 1) * count),
    );
  }
  for (const algorithm of algos("reduceScatter")) {
    const out = new Float64Array(rsc[me] + 1).fill(-1);
    await comm.reduceScatter(series(me, rsTotal), out, rsc, "SUM", { algorithm });
    const want = reduceArrays("SUM", all((r) => series(r, rsTotal)));
    check(`reduceScatter ${algorithm}`, out, [...want.subarray(rsAt, rsAt + rsc[me]), -1]);
  }
  for (const algorithm of algos("scan")) {
    const out = comm.alloc(count, "float64");
    await comm.scan(series(me, count), out, "SUM", { algorithm });
    check(
      `scan ${algorithm}`,
      out.get(),
      reduceArrays("SUM", all((r) => series(r, count)).slice(0, me + 1)),
    );
  }
  for (const algorithm of algos("exscan")) {
    const out = new Float64Array(count).fill(-1);
    await comm.exscan(series(me, count), out, "MAX", { algorithm });
    const want = me === 0
      ? out.slice().fill(-1)
      : reduceArrays("MAX", all((r) => series(r, count)).slice(0, me));
    check(`exscan ${algorithm}`, out, want);
  }
  if (bcastAndReductionsOnly) return fails;
  for (const algorithm of algos("gather")) {
    for (const root of roots) {
      const out = new Float64Array(count * n);
      await comm.gather(series(me, count), me === root ? out : null, root, { algorithm });
      if (me === root) {
        check(
          `gather ${algorithm} root ${root}`,
          out,
          concat(all((r) => series(r, count))),
        );
      }
    }
  }
  for (const algorithm of algos("scatter")) {
    for (const root of roots) {
      const out = comm.alloc(count, "float64");
      await comm.scatter(me === root ? concat(all((r) => series(r, count))) : null, out, root, {
        algorithm,
      });
      check(`scatter ${algorithm} root ${root}`, out.get(), series(me, count));
    }
  }
  for (const algorithm of algos("allgather")) {
    const out = new Float64Array(count * n);
    await comm.allgather(series(me, count), out, { algorithm });
    check(`allgather ${algorithm}`, out, concat(all((r) => series(r, count))));
  }
  for (const algorithm of algos("alltoall")) {
    const src = Float64Array.from({ length: count * n }, (_, i) => me * 1_000_000 + i);
    const out = comm.alloc(count * n, "float64");
    await comm.alltoall(src, out, { algorithm });
    const want = new Float64Array(count * n);
    for (let r = 0; r < n; r++) {
      for (let i = 0; i < count; i++) want[r * count + i] = r * 1_000_000 + me * count + i;
    }
    check(`alltoall ${algorithm}`, out.get(), want);
  }
  for (const algorithm of algos("alltoallv")) {
    // Rank r sends (r + j) % 3 + count/2 elements to rank j.
    const cnt = (from: number, to: number) => ((from + to) % 3) + Math.floor(count / 2);
    const sc = Array.from({ length: n }, (_, j) => cnt(me, j));
    const rc = Array.from({ length: n }, (_, i) => cnt(i, me));
    const disp = (c: number[]) => c.map((_, i) => c.slice(0, i).reduce((a, b) => a + b, 0) + i);
    const sd = disp(sc), rd = disp(rc);
    const src = new Float64Array(sd[n - 1] + sc[n - 1]);
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < sc[j]; k++) src[sd[j] + k] = me * 1000 + j * 10 + k;
    }
    const out = new Float64Array(rd[n - 1] + rc[n - 1]).fill(-1);
    await comm.alltoallv(src, sc, sd, out, rc, rd, { algorithm });
    const want = out.slice().fill(-1);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < rc[i]; k++) want[rd[i] + k] = i * 1000 + me * 10 + k;
    }
    check(`alltoallv ${algorithm}`, out, want);
  }
  for (const algorithm of algos("alltoallw")) {
    // Per-peer datatypes at byte displacements, some blocks empty (tests/support/alltoallw.ts).
    const w = wLayout(n, me, Math.floor(count / 2) + 1, { zeros: true });
    const args = [w.send, w.sendcounts, w.sdispls, w.sendtypes, w.recv, w.recvcounts] as const;
    await comm.alltoallw(...args, w.rdispls, w.recvtypes, { algorithm });
    check(`alltoallw ${algorithm}`, w.recv, w.want);
  }
  // Vector collectives: rank r's block is (2r mod 3) + count/2 elements, rank 1's empty,
  // laid out back to front with a one-element gap between blocks.
  const vc = Array.from(
    { length: n },
    (_, r) => r === 1 ? 0 : ((r * 2) % 3) + Math.floor(count / 2),
  );
  const vd = vc.map((_, i) => vc.slice(i + 1).reduce((a, b) => a + b + 1, 0));
  const vlen = vd[0] + vc[0];
  const vwant = () => {
    const w = new Float64Array(vlen).fill(-1);
    for (let r = 0; r < n; r++) w.set(series(r, vc[r]), vd[r]);
    return w;
  };
  for (const algorithm of algos("gatherv")) {
    for (const root of roots) {
      const out = new Float64Array(vlen).fill(-1);
      await comm.gatherv(
        series(me, vc[me]),
        me === root ? out : null,
        me === root ? vc : [],
        me === root ? vd : [],
        root,
        {
          algorithm,
        },
      );
      if (me === root) check(`gatherv ${algorithm} root ${root}`, out, vwant());
    }
  }
  for (const algorithm of algos("scatterv")) {
    for (const root of roots) {
      const out = comm.alloc(vc[me], "float64");
      await comm.scatterv(me === root ? vwant() : null, vc, vd, out, root, { algorithm });
      check(`scatterv ${algorithm} root ${root}`, out.get(), series(me, vc[me]));
    }
  }
  for (const algorithm of algos("allgatherv")) {
    const out = comm.alloc(vlen, "float64");
    out.set(new Float64Array(vlen).fill(-1));
    await comm.allgatherv(series(me, vc[me]), out, vc, vd, { algorithm });
    check(`allgatherv ${algorithm}`, out.get(), vwant());
  }
  for (const algorithm of algos("barrier")) await comm.barrier({ algorithm });
  return fails;
}

for (const n of [1, 2, 3, 4, 5, 7, 8]) {
  Deno.test(`mpi: every collective algorithm matches the sequential reference on ${n} rank(s)`, async () => {
    const job = await mpi.mpiexec({ np: n, mode: "native" }, async (comm) => {
      const fails: string[] = [];
      // Short (eager) and long (rendezvous: 24 KB per block) data, every algorithm.
      for (const count of [3, 3000]) fails.push(...await exercise(comm, count));
      return fails;
    });
    assert.deepEqual(job.results.flat(), []);
  });
}

Deno.test("mpi: the default algorithm choice is right across the switch points (8 and 6 ranks)", async () => {
  for (const np of [8, 6]) {
    const job = await mpi.mpiexec({ np, mode: "native" }, async (comm) => {
      const fails: string[] = [];
      // 16 B, 2 KiB, 64 KiB of float64 per rank (per block): every size class but the
      // longest; 512 KiB for the operations whose long class starts there
      // (bcast scatter + ring allgather, Rabenseifner/ring allreduce).
      for (const count of [2, 256, 8192]) fails.push(...await exercise(comm, count, true));
      fails.push(...await exercise(comm, 65536, true, true));
      return fails;
    });
    assert.deepEqual(job.results.flat(), []);
  }
});

Deno.test("mpi: every collective algorithm on the communicators of a split (4 and 3 ranks)", async () => {
  const job = await mpi.mpiexec({ np: 7, mode: "native" }, async (comm) => {
    // Odd and even world ranks, in reverse order inside each part.
    const sub = (await comm.split(comm.rank % 2, comm.size - comm.rank))!;
    const fails: string[] = [];
    for (const count of [3, 3000]) fails.push(...await exercise(sub, count));
    return fails;
  });
  assert.deepEqual(job.results.flat(), []);
});

/**
 * Affine maps x ↦ m·x + c as (m, c) pairs of float64, composed in rank order
 * (MPI_User_function: inoutvec = invec ∘ inoutvec): associative, not
 * commutative, exact on these small integers.
 */
const compose = mpi.opCreate((a, b) => {
  const x = a as Float64Array, y = b as Float64Array;
  for (let i = 0; i + 1 < y.length; i += 2) {
    [y[i], y[i + 1]] = [x[i] * y[i], y[i] * x[i + 1] + y[i + 1]];
  }
}, false);
/** A user-defined sum: commutative, so every algorithm takes it. */
const userSum = mpi.opCreate((a, b) => {
  for (let i = 0; i < b.length; i++) (b as Float64Array)[i] += (a as Float64Array)[i];
}, true);
/** Rank r's pairs: m in {1, 2}, c small. */
const maps = (r: number, pairs: number) =>
  Float64Array.from(
    { length: 2 * pairs },
    (_, i) => i % 2 === 0 ? 1 + ((r + (i >> 1)) % 2) : (r * 7 + (i >> 1)) % 11,
  );

/** Every reduction collective with `op`, every algorithm (those that cannot take it fall back). */
async function reductions(comm: mpi.Comm, op: mpi.ReductionOp, pairs: number): Promise<string[]> {
  const n = comm.size, me = comm.rank, fails: string[] = [];
  const check = (what: string, got: ArrayLike<number>, want: ArrayLike<number>) => {
    for (let i = 0; i < want.length; i++) {
      if (got[i] !== want[i]) {
        fails.push(
          `n=${n} ${String(op)} ${what} pairs ${pairs}: [${i}] got ${got[i]} want ${want[i]}`,
        );
        return;
      }
    }
  };
  const inOrder = (len: number, upto = n) =>
    reduceArrays(op, Array.from({ length: upto }, (_, r) => maps(r, len)));
  for (const algorithm of ALGORITHMS.reduce) {
    for (const root of [0, n - 1]) {
      const out = new Float64Array(2 * pairs);
      await comm.reduce(maps(me, pairs), me === root ? out : null, op, root, { algorithm });
      if (me === root) check(`reduce ${algorithm} root ${root}`, out, inOrder(pairs));
    }
  }
  for (const algorithm of ALGORITHMS.allreduce) {
    const out = comm.alloc(2 * pairs, "float64");
    await comm.allreduce(maps(me, pairs), out, op, { algorithm });
    check(`allreduce ${algorithm}`, out.get(), inOrder(pairs));
  }
  const per = Math.max(1, Math.floor(pairs / n));
  for (const algorithm of ALGORITHMS.reduceScatterBlock) {
    const out = new Float64Array(2 * per);
    await comm.reduceScatterBlock(maps(me, per * n), out, op, { algorithm });
    check(
      `reduceScatterBlock ${algorithm}`,
      out,
      inOrder(per * n).subarray(2 * per * me, 2 * per * (me + 1)),
    );
  }
  // Uneven blocks (rank 1's empty) of whole pairs.
  const counts = Array.from({ length: n }, (_, r) => r === 1 ? 0 : 2 * (per + (r % 3)));
  const total = counts.reduce((a, b) => a + b, 0),
    at = counts.slice(0, me).reduce((a, b) => a + b, 0);
  for (const algorithm of ALGORITHMS.reduceScatter) {
    const out = new Float64Array(counts[me]);
    await comm.reduceScatter(maps(me, total / 2), out, counts, op, { algorithm });
    check(`reduceScatter ${algorithm}`, out, inOrder(total / 2).subarray(at, at + counts[me]));
  }
  const sc = comm.alloc(2 * pairs, "float64");
  await comm.scan(maps(me, pairs), sc, op);
  check("scan", sc.get(), inOrder(pairs, me + 1));
  const ex = new Float64Array(2 * pairs).fill(-1);
  await comm.exscan(maps(me, pairs), ex, op);
  check("exscan", ex, me === 0 ? ex.slice().fill(-1) : inOrder(pairs, me));
  return fails;
}

for (const n of [1, 2, 3, 4, 5, 6, 7, 8]) {
  Deno.test(`mpi: user-defined operations, commutative or not, in every reduction collective on ${n} rank(s) (MPI-3.1 §5.9.5)`, async () => {
    const job = await mpi.mpiexec({ np: n, mode: "native" }, async (comm) => {
      const fails: string[] = [];
      // Short and long (rendezvous) data.
      for (const pairs of [2, 2000]) {
        fails.push(...await reductions(comm, compose, pairs));
        fails.push(...await reductions(comm, userSum, pairs));
      }
      return fails;
    });
    assert.deepEqual(job.results.flat(), []);
  });
}

Deno.test("mpi: MPI_PROD of 32-bit integers is C's product modulo 2^32, locally and in allreduce", async () => {
  // MPI-3.1 §5.9.2; MPICH's MPIR_LPROD is `(a)*(b)` on the C type. 0xFFFFFFFF² is 1 modulo 2^32
  // (a double's product, 2^64 − 2^33 + 1, has lost that 1).
  const u = reduceArrays("PROD", [
    new Uint32Array([0xffffffff, 4294967295]),
    new Uint32Array([0xffffffff, 4294967294]),
  ]);
  assert.deepEqual([...u], [1, 2]);
  const i = reduceArrays("PROD", [
    new Int32Array([0x7fffffff, -3]),
    new Int32Array([0x7fffffff, 5]),
  ]);
  assert.deepEqual([...i], [1, -15]);
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const out = new Uint32Array(1);
    await comm.allreduce(new Uint32Array([0xffffffff]), out, "PROD");
    return out[0];
  });
  assert.deepEqual(job.results, [1, 1]);
});

Deno.test("mpi: a broadcast that brings fewer bytes than a rank's buffer is MPI_ERR_OTHER there", async () => {
  // MPI-3.1 §5.4: every rank's count and datatype must match the root's. MPICH's binomial
  // bcast checks what it received (`**collective_size_mismatch`, MPI_ERR_OTHER) after passing
  // it on; the root and a rank whose buffer matches see success.
  const job = await mpi.mpiexec({ np: 3, mode: "native" }, async (world) => {
    const comm = world.setErrhandler(mpi.ERRORS_RETURN);
    const b = new Int32Array(comm.rank === 2 ? 4 : 1).fill(comm.rank === 0 ? 7 : -1);
    const r = await comm.bcast(b, 0, { algorithm: "binomial" });
    return [r instanceof mpi.MpiError ? r.code : "ok", b[0]];
  });
  assert.deepEqual(job.results, [["ok", 7], ["ok", 7], ["MPI_ERR_OTHER", 7]]);
});

/**
 * An MPI program for `deno task mpirun`: a token goes around the ring of
 * ranks (each adds its rank), every rank then computes a partial sum of
 * squares in virtual time, and an allreduce combines them. Rank 0 prints
 * the results; every rank prints where it runs.
 *
 * ```sh
 * deno task mpirun -np 4 --mode bypass --hosts 2 --guests-per-host 2 tools/examples/mpi_ring.ts 1000
 * ```
 *
 * @module
 */
import { mpi } from "../../mod.ts";

/**
 * The program: `args[0]` is the number of terms of the sum (default 1000).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpi } from "../../mod.ts";
 * import { main } from "./mpi_ring.ts";
 * const job = await mpi.mpiexec({ np: 3, mode: "native", output: () => {} }, main);
 * assert.deepEqual(job.results[0], { token: 3, sum: 332833500 });
 * ```
 */
export async function main(
  comm: mpi.Comm,
  args: string[],
): Promise<{ token: number; sum: number }> {
  const n = Number(args[0] ?? 1000);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`terms must be a whole number >= 1, got '${args[0]}'`);
  }
  const { rank, size } = comm;
  console.log(`rank ${rank} of ${size} on ${comm.processorName()}`);

  // The ring: rank 0 starts the token, everyone adds its rank and passes it on.
  const token = new Int32Array(1);
  const next = (rank + 1) % size, prev = (rank - 1 + size) % size;
  if (rank === 0) {
    await comm.send(token, next, 0);
    await comm.recv(token, prev, 0);
  } else {
    await comm.recv(token, prev, 0);
    token[0] += rank;
    await comm.send(token, next, 0);
  }
  await comm.bcast(token, 0);

  // Each rank sums the squares of its share of 0..n-1 (a multiply-add each).
  let part = 0;
  for (let i = rank; i < n; i += size) part += i * i;
  await comm.compute({ flops: 2 * Math.ceil(n / size), bytes: 8 * Math.ceil(n / size) });
  const sum = new Float64Array([part]);
  await comm.allreduce(mpi.IN_PLACE, sum, "SUM");

  if (rank === 0) {
    console.log(`token after the ring: ${token[0]}`);
    console.log(
      `sum of squares below ${n}: ${sum[0]} (at ${
        (comm.wtime() * 1e6).toFixed(2)
      } µs of virtual time)`,
    );
  }
  return { token: token[0], sum: sum[0] };
}

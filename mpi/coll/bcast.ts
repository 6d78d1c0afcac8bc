/**
 * MPI_Bcast (MPICH's algorithms): a binomial tree for short messages or few
 * processes; for long ones van de Geijn's scatter + allgather — the root
 * scatters the buffer in n pieces down a binomial tree, then the pieces are
 * allgathered by recursive doubling (power-of-two n) or around a ring.
 *
 * @module
 */
import type { Region } from "../buffer.ts";
import { MpiError } from "../errors.ts";
import { type CollEnv, recv, send, sendrecv, TAG } from "./env.ts";

/**
 * A broadcast that brought this rank another number of bytes than its buffer holds: the
 * root's count and datatype did not match this rank's (erroneous, MPI-3.1 §5.4), which
 * MPICH's bcast algorithms detect (`**collective_size_mismatch`, MPI_ERR_OTHER) once the
 * data has been passed on.
 */
function sizeMismatch(env: CollEnv, got: number, want: number): MpiError {
  return new MpiError(
    "MPI_ERR_OTHER",
    `MPI_Bcast on rank ${env.rank}: ${got} bytes came from the root where this rank's buffer ` +
      `holds ${want} (every rank's count and datatype must match the root's, MPI-3.1 §5.4)`,
  );
}

/**
 * Binomial-tree broadcast: ⌈log2 n⌉ rounds, each receiver forwards to the
 * subtrees below it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 6, mode: "native" }, async (comm) => {
 *   const b = new Int32Array(10);
 *   if (comm.rank === 3) b.fill(9);
 *   await comm.bcast(b, 3, { algorithm: "binomial" });
 *   return b.every((x) => x === 9);
 * });
 * assert.deepEqual(job.results, [true, true, true, true, true, true]);
 * ```
 */
export async function bcastBinomial(env: CollEnv, buf: Region, root: number): Promise<void> {
  const { rank: r, size: n } = env;
  const rel = (r - root + n) % n;
  let got = buf.bytes;
  let mask = 1;
  while (mask < n) {
    if (rel & mask) {
      got = (await recv(env, buf, (r - mask + n) % n, TAG.bcast)).bytes;
      break;
    }
    mask <<= 1;
  }
  mask >>= 1;
  const reqs = [];
  while (mask > 0) {
    if (rel + mask < n) reqs.push(await env.isend(buf, (r + mask) % n, TAG.bcast));
    mask >>= 1;
  }
  await env.waitall(reqs);
  // MPIR_Bcast_intra_binomial: "check that we received as much as we expected".
  if (got !== buf.bytes) throw sizeMismatch(env, got, buf.bytes);
}

/** Binomial scatter of `buf` in pieces of ⌈bytes/n⌉; returns the bytes this rank holds. */
async function scatterForBcast(
  env: CollEnv,
  buf: Region,
  root: number,
  piece: number,
): Promise<number> {
  const { rank: r, size: n } = env;
  const bytes = buf.bytes;
  const rel = (r - root + n) % n;
  let cur = rel === 0 ? bytes : 0;
  let mask = 1;
  while (mask < n) {
    if (rel & mask) {
      const off = rel * piece;
      const want = Math.min(bytes - off, mask * piece);
      if (want > 0) {
        const st = await recv(env, buf.sub(off, want), (r - mask + n) % n, TAG.bcast);
        cur = st.bytes;
      }
      break;
    }
    mask <<= 1;
  }
  mask >>= 1;
  while (mask > 0) {
    if (rel + mask < n) {
      const give = cur - piece * mask;
      if (give > 0) {
        await send(env, buf.sub((rel + mask) * piece, give), (r + mask) % n, TAG.bcast);
        cur -= give;
      }
    }
    mask >>= 1;
  }
  return cur;
}

/** Bytes of piece `k` (possibly 0 at the end). */
function pieceLen(bytes: number, piece: number, k: number): number {
  return Math.max(0, Math.min(piece, bytes - k * piece));
}

/**
 * Scatter + recursive-doubling allgather (n must be a power of two).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 4, mode: "native" }, async (comm) => {
 *   const b = new Int32Array(1001);
 *   if (comm.rank === 1) b.fill(9);
 *   await comm.bcast(b, 1, { algorithm: "scatter_doubling_allgather" });
 *   return b.every((x) => x === 9);
 * });
 * assert.deepEqual(job.results, [true, true, true, true]);
 * ```
 */
export async function bcastScatterDoubling(env: CollEnv, buf: Region, root: number): Promise<void> {
  const { rank: r, size: n } = env;
  if (n === 1) return;
  const bytes = buf.bytes;
  const piece = Math.ceil(bytes / n);
  let cur = await scatterForBcast(env, buf, root, piece);
  const rel = (r - root + n) % n;
  for (let mask = 1, i = 0; mask < n; mask <<= 1, i++) {
    const relDst = rel ^ mask;
    const mine = (rel >> i) << i, theirs = (relDst >> i) << i;
    const sendOff = Math.min(mine * piece, bytes);
    const recvOff = Math.min(theirs * piece, bytes);
    const recvLen = Math.max(0, Math.min(mask * piece, bytes - recvOff));
    const st = await sendrecv(
      env,
      buf.sub(sendOff, Math.min(cur, bytes - sendOff)),
      (relDst + root) % n,
      buf.sub(recvOff, recvLen),
      (relDst + root) % n,
      TAG.bcast,
    );
    cur += st.bytes;
  }
  if (cur !== bytes) throw sizeMismatch(env, cur, bytes);
}

/**
 * Scatter + ring allgather (any n).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 6, mode: "native" }, async (comm) => {
 *   const b = new Int32Array(1001);
 *   if (comm.rank === 3) b.fill(9);
 *   await comm.bcast(b, 3, { algorithm: "scatter_ring_allgather" });
 *   return b.every((x) => x === 9);
 * });
 * assert.deepEqual(job.results, [true, true, true, true, true, true]);
 * ```
 */
export async function bcastScatterRing(env: CollEnv, buf: Region, root: number): Promise<void> {
  const { rank: r, size: n } = env;
  if (n === 1) return;
  const bytes = buf.bytes;
  const piece = Math.ceil(bytes / n);
  let cur = await scatterForBcast(env, buf, root, piece);
  const rel = (r - root + n) % n;
  const right = (r + 1) % n, left = (r - 1 + n) % n;
  for (let i = 1; i < n; i++) {
    const out = (rel - i + 1 + n) % n, inc = (rel - i + n) % n;
    cur += (await sendrecv(
      env,
      buf.sub(Math.min(out * piece, bytes), pieceLen(bytes, piece, out)),
      right,
      buf.sub(Math.min(inc * piece, bytes), pieceLen(bytes, piece, inc)),
      left,
      TAG.bcast,
    )).bytes;
  }
  if (cur !== bytes) throw sizeMismatch(env, cur, bytes);
}

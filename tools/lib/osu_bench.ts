/**
 * The OSU benchmarks as MPI programs (one `main` per benchmark, run on every
 * rank), with OSU 7.0's methods:
 *
 * - osu_latency: ping-pong of blocking send/recv between ranks 0 and 1;
 *   latency = half the round trip, averaged over the timed iterations.
 * - osu_bw: rank 0 posts a window of isends (rank 1 the matching irecvs),
 *   waits for all, then waits for a 4-byte ack; MB/s = size × window ×
 *   iterations / time (10^6 bytes).
 * - osu_multi_lat: np/2 pairs (rank i with i + np/2) ping-pong at once, a
 *   barrier before each round trip; rank 0's pair is reported.
 * - osu_bibw: both ranks post a window of irecvs and isends each way.
 * - osu_mbw_mr: `pairs` sender/receiver pairs (rank i with i + pairs) do
 *   osu_bw at once; aggregate MB/s and messages/s (optionally per window).
 * - osu_barrier, osu_bcast, osu_allreduce and osu_reduce (MPI_FLOAT,
 *   MPI_SUM, root 0), osu_alltoall, osu_alltoallv (equal counts), osu_alltoallw (equal counts
 *   of MPI_CHAR at byte displacements), osu_gather, osu_scatter (root 0),
 *   osu_allgather, osu_gatherv, osu_scatterv (root 0), osu_allgatherv (equal
 *   counts), osu_reduce_scatter (MPI_FLOAT, MPI_SUM, the size split as evenly
 *   as OMB splits it): each rank times the operation (a barrier between timed
 *   iterations except for osu_barrier; osu_reduce's comes before each call);
 *   avg/min/max over ranks of the mean.
 * - osu_ibarrier … osu_ialltoallw, osu_ireduce_scatter (the non-blocking collectives, with the
 *   blocking ones' buffers and calls): the collective alone (start, wait),
 *   then overlapped with OSU's dummy computation of that length (modelled
 *   compute_on_host units charged in virtual time, `-t` MPI_Test calls
 *   between pieces); overall, compute, pure communication and overlap
 *   averaged over ranks.
 *
 * Above LARGE_MESSAGE_SIZE (8 KiB) the large-message iteration counts apply.
 * Buffers come from `comm.alloc` (memory the HCA can reach, as malloc'd memory
 * is for MVAPICH); `-b multiple` allocates and frees window buffers per size.
 * `-c` fills buffers with OSU's validation patterns and checks what arrived (the
 * non-blocking collectives as OMB 7.0's osu_i*.c: before and after each iteration of both
 * loops).
 *
 * @module
 */
import type { mpi } from "../../mod.ts";
import { isNonBlocking, OSU_BENCHMARKS, OSU_DEFAULTS, type OsuConfig } from "./osu_args.ts";
import {
  collRow,
  mbwRow,
  nbcRow,
  type NbcStats,
  preamble,
  pt2ptRow,
  rateProfileHeader,
  variedRow,
} from "./osu_format.ts";

type Comm = mpi.Comm;
type MpiBuffer = mpi.MpiBuffer;

/**
 * One measured row.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { OsuRow } from "./osu_bench.ts";
 * const r: OsuRow = { size: 8, value: 4.9 };
 * assert.equal(r.value, 4.9);
 * ```
 */
export interface OsuRow {
  /** Message size in bytes (undefined for osu_barrier). */
  size?: number;
  /** Latency in µs (latency, collectives) or MB/s (bandwidth). */
  value: number;
  /** Messages per second (osu_mbw_mr). */
  rate?: number;
  /** Minimum over ranks (collectives). */
  min?: number;
  /** Maximum over ranks (collectives). */
  max?: number;
  /** Timed iterations. */
  iterations?: number;
  /** Validation result with `-c`. */
  pass?: boolean;
  /** osu_mbw_mr -V: MB/s per window size. */
  windows?: number[];
  /** Non-blocking collectives: every column, averaged over ranks (`value` is `overall`). */
  nbc?: NbcStats;
}

/**
 * What rank 0 of a benchmark reports.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { OsuOutput } from "./osu_bench.ts";
 * const o: OsuOutput = { lines: ["# OSU MPI Latency Test v7.0"], rows: [], failedSize: undefined };
 * assert.equal(o.lines.length, 1);
 * ```
 */
export interface OsuOutput {
  /** The output lines, as OSU prints them. */
  lines: string[];
  /** The measurements. */
  rows: OsuRow[];
  /** With `-c`: the first size whose data did not validate. */
  failedSize: number | undefined;
}

/** Message sizes of a benchmark: min..max doubling (0, then 1, for osu_latency). */
function sizes(min: number, max: number): number[] {
  const out = [];
  for (let s = min; s <= max; s = s ? s * 2 : 1) out.push(s);
  return out;
}

/** OSU's point-to-point validation byte: (7 (i+1) + size + iter) mod 256. */
function pattern(size: number, iter: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (7 * (i + 1) + size + iter) % 256;
  return b;
}

function same(a: ArrayLike<number | bigint>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (Number(a[i]) !== b[i]) return false;
  return true;
}

/**
 * The program for `cfg` on a job of `np` ranks; `emit` receives each output
 * line as rank 0 produces it. Rank 0's `main` returns the {@link OsuOutput}.
 *
 * @throws Error (before anything runs) when the rank count does not suit the benchmark
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpi } from "../../mod.ts";
 * import { parseOsuArgs } from "./osu_args.ts";
 * import { osuProgram } from "./osu_bench.ts";
 * const cfg = parseOsuArgs(["osu_latency", "-m", "8", "-i", "20", "-x", "5"]);
 * const job = await mpi.mpiexec({ np: 2, mode: "native" }, osuProgram(cfg, 2, () => {}));
 * const out = job.results[0]!;
 * assert.deepEqual(out.rows.map((r) => r.size), [0, 1, 2, 4, 8]);
 * assert.ok(out.rows.every((r) => r.value > 4 && r.value < 8));
 * ```
 */
export function osuProgram(
  cfg: OsuConfig,
  np: number,
  emit: (line: string) => void,
): (comm: Comm) => Promise<OsuOutput | undefined> {
  const kind = OSU_BENCHMARKS[cfg.name].kind;
  const need = requirement(cfg, np);
  if (need) throw new OsuUsageError(need);
  return async (comm: Comm) => {
    const out: OsuOutput = { lines: [], rows: [], failedSize: undefined };
    const say = (line: string) => {
      if (comm.rank !== 0) return;
      out.lines.push(line);
      emit(line);
    };
    for (const l of preamble(cfg, np)) say(l);
    switch (kind) {
      case "latency":
        await latency(comm, cfg, say, out);
        break;
      case "multi_lat":
        await multiLatency(comm, cfg, say, out);
        break;
      case "bw":
      case "bibw":
        await bandwidth(comm, cfg, say, out, kind === "bibw");
        break;
      case "mbw_mr":
        await mbwMr(comm, cfg, say, out);
        break;
      default:
        await collective(comm, cfg, say, out, kind);
    }
    return comm.rank === 0 ? out : undefined;
  };
}

/**
 * A benchmark cannot run as asked (OSU's "This test requires exactly two processes").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OsuUsageError } from "./osu_bench.ts";
 * assert.equal(new OsuUsageError("x").name, "UsageError");
 * ```
 */
export class OsuUsageError extends Error {
  /** @param message the message */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Why `np` ranks do not suit the benchmark, if they do not. */
function requirement(cfg: OsuConfig, np: number): string | undefined {
  const kind = OSU_BENCHMARKS[cfg.name].kind;
  if (kind === "latency" || kind === "bw" || kind === "bibw") {
    return np === 2
      ? undefined
      : `${cfg.name}: This test requires exactly two processes (got -np ${np})`;
  }
  if (np < 2) return `${cfg.name}: This test requires at least two processes (got -np ${np})`;
  if (kind === "multi_lat" && np % 2 !== 0) {
    // osu_multi_lat.c pairs rank i with i + np/2 and does not check: an odd
    // last rank would wait for a partner that never sends.
    return `${cfg.name}: This test requires an even number of processes (got -np ${np})`;
  }
  if (kind === "mbw_mr" && cfg.pairs !== undefined && cfg.pairs > Math.floor(np / 2)) {
    return `${cfg.name}: -p ${cfg.pairs} needs at least ${2 * cfg.pairs} processes (got -np ${np})`;
  }
  return undefined;
}

async function latency(
  comm: Comm,
  cfg: OsuConfig,
  say: (l: string) => void,
  out: OsuOutput,
): Promise<void> {
  const me = comm.rank;
  const max = Math.max(1, cfg.maxSize);
  let s: MpiBuffer | undefined, r: MpiBuffer | undefined;
  if (cfg.bufNum === "single") {
    s = comm.alloc(max);
    r = comm.alloc(max);
  }
  let iters = cfg.iterations, skip = cfg.skip;
  for (const size of sizes(cfg.minSize, cfg.maxSize)) {
    if (cfg.bufNum === "multiple") {
      s = comm.alloc(Math.max(1, size));
      r = comm.alloc(Math.max(1, size));
    }
    const sb = s!.subarray(0, size), rb = r!.subarray(0, size);
    sb.fill(97); // 'a'
    rb.fill(98); // 'b'
    if (size > OSU_DEFAULTS.LARGE_MESSAGE_SIZE) {
      iters = cfg.iterationsLarge;
      skip = cfg.skipLarge;
    }
    await comm.barrier();
    let total = 0, errors = 0;
    for (let i = 0; i < iters + skip; i++) {
      if (cfg.validate) {
        sb.set(pattern(size, i));
        rb.fill(0);
        await comm.barrier();
      }
      if (me === 0) {
        for (let j = 0; j <= cfg.warmupValidation; j++) {
          const timed = i >= skip && j === cfg.warmupValidation;
          const t0 = timed ? comm.wtime() : 0;
          await comm.send(sb, 1, 1);
          await comm.recv(rb, 1, 1);
          if (timed) total += comm.wtime() - t0;
        }
        if (cfg.validate) {
          const e = new Int32Array(1);
          await comm.recv(e, 1, 2);
          errors += e[0];
        }
      } else if (me === 1) {
        for (let j = 0; j <= cfg.warmupValidation; j++) {
          await comm.recv(rb, 0, 1);
          await comm.send(sb, 0, 1);
        }
        if (cfg.validate) {
          await comm.send(new Int32Array([same(rb.get(), pattern(size, i)) ? 0 : 1]), 0, 2);
        }
      }
    }
    if (me === 0) {
      const lat = (total * 1e6) / (2 * iters);
      const pass = cfg.validate ? errors === 0 : undefined;
      out.rows.push({ size, value: lat, iterations: iters, pass });
      say(pt2ptRow(size, lat, pass));
    }
    if (cfg.bufNum === "multiple") {
      await comm.free(s!);
      await comm.free(r!);
    }
    if (cfg.validate && await failed(comm, errors, size, out)) break;
  }
}

/**
 * osu_multi_lat.c: np/2 pairs (rank i with i + np/2) ping-pong at once, each
 * timed iteration entered through a barrier (and the sizes between two more);
 * rank 0 prints its own pair's half round trip. Buffers are allocated per size.
 */
async function multiLatency(
  comm: Comm,
  cfg: OsuConfig,
  say: (l: string) => void,
  out: OsuOutput,
): Promise<void> {
  const me = comm.rank, pairs = Math.floor(comm.size / 2);
  const partner = me < pairs ? me + pairs : me - pairs;
  let iters = cfg.iterations, skip = cfg.skip;
  // osu_multi_lat.c's main: a barrier between print_header and multi_latency, and one after it.
  await comm.barrier();
  for (const size of sizes(cfg.minSize, cfg.maxSize)) {
    const s = comm.alloc(Math.max(1, size)), r = comm.alloc(Math.max(1, size));
    const sb = s.subarray(0, size), rb = r.subarray(0, size);
    sb.fill(97); // 'a'
    rb.fill(98); // 'b'
    if (size > OSU_DEFAULTS.LARGE_MESSAGE_SIZE) {
      iters = cfg.iterationsLarge;
      skip = cfg.skipLarge;
    }
    await comm.barrier();
    let total = 0, errors = 0;
    for (let i = 0; i < iters + skip; i++) {
      if (cfg.validate) {
        sb.set(pattern(size, i));
        rb.fill(0);
      }
      for (let j = 0; j <= cfg.warmupValidation; j++) {
        await comm.barrier();
        if (me < pairs) {
          const timed = i >= skip && j === cfg.warmupValidation;
          const t0 = timed ? comm.wtime() : 0;
          await comm.send(sb, partner, 1);
          await comm.recv(rb, partner, 1);
          if (timed) total += comm.wtime() - t0;
        } else {
          await comm.recv(rb, partner, 1);
          await comm.send(sb, partner, 1);
        }
      }
      if (cfg.validate) {
        // Every rank checks what it received; rank 0 sums the counts.
        const e = new Int32Array(1);
        const bad = same(rb.get(), pattern(size, i)) ? 0 : 1;
        await comm.reduce(new Int32Array([bad]), e, "SUM", 0);
        errors += e[0];
      }
    }
    if (me === 0) {
      const lat = (total * 1e6) / (2 * iters);
      const pass = cfg.validate ? errors === 0 : undefined;
      out.rows.push({ size, value: lat, iterations: iters, pass });
      say(pt2ptRow(size, lat, pass));
    }
    await comm.free(s);
    await comm.free(r);
    if (cfg.validate && await failed(comm, errors, size, out)) break;
  }
  await comm.barrier();
}

/** Share rank 0's error count; true (and noted) if the size failed validation. */
async function failed(comm: Comm, errors: number, size: number, out: OsuOutput): Promise<boolean> {
  const e = new Int32Array([errors]);
  await comm.bcast(e, 0);
  if (e[0] !== 0) out.failedSize = size;
  return e[0] !== 0;
}

/** Window buffers: one pair (single) or one per window slot (multiple). */
function windowBuffers(
  comm: Comm,
  cfg: OsuConfig,
  window: number,
  size: number,
): [MpiBuffer[], MpiBuffer[]] {
  const n = cfg.bufNum === "single" ? 1 : window;
  const s = [], r = [];
  for (let i = 0; i < n; i++) {
    s.push(comm.alloc(Math.max(1, size)).subarray(0, size));
    r.push(comm.alloc(Math.max(1, size)).subarray(0, size));
  }
  return [s, r];
}

async function freeAll(comm: Comm, bufs: MpiBuffer[]): Promise<void> {
  // Views at offset 0 of their allocation: freeing one frees the allocation.
  for (const b of bufs) await comm.free(b);
}

async function bandwidth(
  comm: Comm,
  cfg: OsuConfig,
  say: (l: string) => void,
  out: OsuOutput,
  bidirectional: boolean,
): Promise<void> {
  const me = comm.rank;
  const window = cfg.windowSize;
  let single: [MpiBuffer[], MpiBuffer[]] | undefined;
  if (cfg.bufNum === "single") single = windowBuffers(comm, cfg, window, Math.max(1, cfg.maxSize));
  let iters = cfg.iterations, skip = cfg.skip;
  const ack = new Uint8Array(4);
  for (const size of sizes(cfg.minSize, cfg.maxSize)) {
    const [S, R] = single
      ? [single[0].map((b) => b.subarray(0, size)), single[1].map((b) => b.subarray(0, size))]
      : windowBuffers(comm, cfg, window, size);
    for (const b of S) b.fill(97);
    for (const b of R) b.fill(98);
    if (size > OSU_DEFAULTS.LARGE_MESSAGE_SIZE) {
      iters = cfg.iterationsLarge;
      skip = cfg.skipLarge;
    }
    const sbuf = (j: number) => S[cfg.bufNum === "single" ? 0 : j];
    const rbuf = (j: number) => R[cfg.bufNum === "single" ? 0 : j];
    await comm.barrier();
    let total = 0, errors = 0;
    for (let i = 0; i < iters + skip; i++) {
      if (cfg.validate) {
        for (const b of S) b.set(pattern(size, i));
        for (const b of R) b.fill(0);
        await comm.barrier();
      }
      for (let k = 0; k <= cfg.warmupValidation; k++) {
        const timed = me === 0 && i >= skip && k === cfg.warmupValidation;
        const t0 = timed ? comm.wtime() : 0;
        const peer = 1 - me;
        if (bidirectional) {
          const rr = [], sr = [];
          for (let j = 0; j < window; j++) {
            rr.push(await comm.irecv(rbuf(j), peer, me === 0 ? 10 : 100));
          }
          for (let j = 0; j < window; j++) {
            sr.push(await comm.isend(sbuf(j), peer, me === 0 ? 100 : 10));
          }
          // osu_bibw.c: rank 0 waits for its sends first, rank 1 for its receives.
          if (me === 0) {
            await comm.waitall(sr);
            await comm.waitall(rr);
          } else {
            await comm.waitall(rr);
            await comm.waitall(sr);
          }
        } else if (me === 0) {
          const reqs = [];
          for (let j = 0; j < window; j++) reqs.push(await comm.isend(sbuf(j), 1, 100));
          await comm.waitall(reqs);
          await comm.recv(ack, 1, 101);
        } else {
          const reqs = [];
          for (let j = 0; j < window; j++) reqs.push(await comm.irecv(rbuf(j), 0, 100));
          await comm.waitall(reqs);
          await comm.send(ack, 0, 101);
        }
        if (timed) total += comm.wtime() - t0;
      }
      if (cfg.validate) {
        const want = pattern(size, i);
        const bad = R.some((b) => !same(b.get(), want)) ? 1 : 0;
        if (bidirectional) errors += bad;
        else if (me === 1) await comm.send(new Int32Array([bad]), 0, 102);
        else {
          const e = new Int32Array(1);
          await comm.recv(e, 1, 102);
          errors += e[0];
        }
      }
    }
    if (me === 0) {
      const mbps = (size / 1e6 * iters * window * (bidirectional ? 2 : 1)) / total;
      const pass = cfg.validate ? errors === 0 : undefined;
      out.rows.push({ size, value: mbps, iterations: iters, pass });
      say(pt2ptRow(size, mbps, pass));
    }
    if (!single) await freeAll(comm, [...S, ...R]);
    if (cfg.validate && await failed(comm, errors, size, out)) break;
  }
}

async function mbwMr(
  comm: Comm,
  cfg: OsuConfig,
  say: (l: string) => void,
  out: OsuOutput,
): Promise<void> {
  const pairs = cfg.pairs ?? Math.floor(comm.size / 2);
  const me = comm.rank;
  const windows = cfg.windowVaried ? [...OSU_DEFAULTS.WINDOW_SIZES] : [cfg.windowSize];
  const maxWindow = Math.max(...windows);
  let single: [MpiBuffer[], MpiBuffer[]] | undefined;
  if (cfg.bufNum === "single") {
    single = windowBuffers(comm, cfg, maxWindow, Math.max(1, cfg.maxSize));
  }
  const ack = new Uint8Array(4);
  const all = sizes(cfg.minSize, cfg.maxSize);
  const table: number[][] = [];
  // -V: the first size whose windows counted errors (rank 0's sums).
  let variedFailure: number | undefined;
  for (const size of all) {
    const perWindow: number[] = [];
    let errorsAtSize = 0;
    for (const window of windows) {
      const [S, R] = single
        ? [single[0].map((b) => b.subarray(0, size)), single[1].map((b) => b.subarray(0, size))]
        : windowBuffers(comm, cfg, window, size);
      for (const b of S) b.fill(97);
      for (const b of R) b.fill(98);
      const sbuf = (j: number) => S[cfg.bufNum === "single" ? 0 : j];
      const rbuf = (j: number) => R[cfg.bufNum === "single" ? 0 : j];
      await comm.barrier();
      let t = 0;
      for (let i = 0; i < cfg.iterations + cfg.skip; i++) {
        if (cfg.validate) {
          for (const b of S) b.set(pattern(size, i));
          for (const b of R) b.fill(0);
        }
        await comm.barrier();
        let bad = 0;
        if (me < pairs) {
          for (let k = 0; k <= cfg.warmupValidation; k++) {
            const timed = i >= cfg.skip && k === cfg.warmupValidation;
            const t0 = timed ? comm.wtime() : 0;
            const reqs = [];
            for (let j = 0; j < window; j++) reqs.push(await comm.isend(sbuf(j), me + pairs, 100));
            await comm.waitall(reqs);
            await comm.recv(ack, me + pairs, 101);
            if (timed) t += comm.wtime() - t0;
          }
        } else if (me < 2 * pairs) {
          for (let k = 0; k <= cfg.warmupValidation; k++) {
            const reqs = [];
            for (let j = 0; j < window; j++) reqs.push(await comm.irecv(rbuf(j), me - pairs, 100));
            await comm.waitall(reqs);
            await comm.send(ack, me - pairs, 101);
          }
          if (cfg.validate) bad = R.some((b) => !same(b.get(), pattern(size, i))) ? 1 : 0;
        }
        if (cfg.validate) {
          const e = new Int32Array(1);
          await comm.reduce(new Int32Array([bad]), e, "SUM", 0);
          errorsAtSize += e[0];
        }
      }
      if (!single) await freeAll(comm, [...S, ...R]);
      if (me === 0) perWindow.push((size / 1e6 * pairs * cfg.iterations * window) / t);
    }
    if (me === 0) {
      table.push(perWindow);
      const pass = cfg.validate ? errorsAtSize === 0 : undefined;
      if (cfg.windowVaried) {
        if (cfg.validate && errorsAtSize !== 0) variedFailure ??= size;
        out.rows.push({ size, value: perWindow[perWindow.length - 1], windows: perWindow });
        say(variedRow(size, perWindow));
      } else {
        const rate = 1e6 * perWindow[0] / size;
        out.rows.push({ size, value: perWindow[0], rate, iterations: cfg.iterations, pass });
        say(mbwRow(size, perWindow[0], cfg.printRate ? rate : undefined, pass));
      }
    }
    // osu_mbw_mr.c (one window size): rank 0 broadcasts the reduced error
    // count and every rank stops at the first size that failed, which then
    // ends the run with DATA VALIDATION ERROR.
    if (cfg.validate && !cfg.windowVaried && await failed(comm, errorsAtSize, size, out)) break;
  }
  if (me === 0 && cfg.windowVaried && cfg.printRate) {
    for (const l of rateProfileHeader()) say(l);
    all.forEach((size, k) => say(variedRow(size, table[k].map((bw) => 1e6 * bw / size))));
  }
  // -V: calc_bw checks every window of every size as well, and main ends a run that counted
  // errors with DATA VALIDATION ERROR once the tables are printed (osu_mbw_mr.c), naming here
  // the first size that failed (OMB names the size after the last, where its loop stopped).
  if (me === 0 && variedFailure !== undefined) out.failedSize = variedFailure;
}

async function collective(
  comm: Comm,
  cfg: OsuConfig,
  say: (l: string) => void,
  out: OsuOutput,
  kind: string,
): Promise<void> {
  const n = comm.size, me = comm.rank;
  let max = cfg.maxSize;
  // check_mem_limit (OMB 7.0 c/util/osu_util_mpi.c): the subtypes GATHER
  // (osu_gather, osu_allgather), ALLTOALL and SCATTER need max × np within
  // -M; BCAST and REDUCE (osu_reduce, osu_allreduce) need max within it.
  // osu_gatherv and osu_allgatherv are GATHER, osu_scatterv SCATTER,
  // osu_reduce_scatter REDUCE_SCATTER (max within -M). The non-blocking
  // ones check as their blocking twins (NBC_GATHER, … NBC_REDUCE_SCATTER);
  // osu_ibarrier does not check.
  const twin = isNonBlocking(kind) ? kind.slice(1) : kind;
  const perRank = twin === "alltoall" || twin === "alltoallv" || twin === "alltoallw" ||
    twin === "gather" ||
    twin === "scatter" || twin === "allgather" || twin === "gatherv" || twin === "scatterv" ||
    twin === "allgatherv";
  const limited = perRank
    ? (max * n > cfg.memLimit ? Math.floor(cfg.memLimit / n) : max)
    : (twin === "bcast" || twin === "allreduce" || twin === "reduce" ||
        twin === "reduce_scatter") && max > cfg.memLimit
    ? cfg.memLimit
    : max;
  if (limited !== max) {
    max = limited;
    if (me === 0) {
      console.error(
        `Warning! Limiting max message size to: ${max}. Increase -M, --mem-limit for higher message sizes.`,
      );
    }
  }
  const stats = async (timer: number, iters: number) => {
    const lat = new Float64Array([(timer * 1e6) / iters]);
    const mn = new Float64Array(1), mx = new Float64Array(1), sum = new Float64Array(1);
    await comm.reduce(lat, mn, "MIN", 0);
    await comm.reduce(lat, mx, "MAX", 0);
    await comm.reduce(lat, sum, "SUM", 0);
    return { avg: sum[0] / n, min: mn[0], max: mx[0] };
  };
  if (kind === "ibarrier") {
    // osu_ibarrier.c: the large-message counts, no barrier between the timed calls of the
    // first loop.
    const { stats: st } = await nonBlocking(
      comm,
      cfg,
      NBC_SHAPES.osu_ibarrier,
      cfg.iterationsLarge,
      cfg.skipLarge,
      () => comm.ibarrier(),
    );
    if (me === 0) {
      out.rows.push({
        value: st.overall,
        min: st.min,
        max: st.max,
        iterations: cfg.iterationsLarge,
        nbc: st,
      });
      say(nbcRow(undefined, st, cfg.full));
    }
    return;
  }
  const nb = isNonBlocking(kind);
  if (nb) kind = kind.slice(1);
  if (kind === "barrier") {
    let timer = 0;
    for (let i = 0; i < cfg.iterations + cfg.skip; i++) {
      const t0 = comm.wtime();
      await comm.barrier();
      if (i >= cfg.skip) timer += comm.wtime() - t0;
    }
    await comm.barrier();
    const st = await stats(timer, cfg.iterations);
    if (me === 0) {
      out.rows.push({ value: st.avg, min: st.min, max: st.max, iterations: cfg.iterations });
      say(collRow({ ...st, iterations: cfg.iterations }, cfg.full));
    }
    return;
  }
  // Buffers as OSU allocates them: bcast one of max bytes; allreduce and
  // reduce two of max bytes as floats; alltoall two of max × np; gather max
  // to send and, at the root, max × np to receive; scatter the reverse;
  // allgather max to send and max × np to receive; the v variants as theirs;
  // reduce_scatter max bytes of floats to send, max / np / 4 + 1 floats to
  // receive.
  const float = kind === "allreduce" || kind === "reduce" || kind === "reduce_scatter";
  const es = float ? 4 : 1;
  const dt = float ? "float32" : "uint8";
  const elems = Math.max(1, Math.floor(max / es));
  const a2a = kind === "alltoall" || kind === "alltoallv" || kind === "alltoallw";
  const sendSpan = a2a || kind === "scatter" || kind === "scatterv" ? n : 1;
  const recvSpan = a2a || kind === "gather" || kind === "allgather" || kind === "gatherv" ||
      kind === "allgatherv"
    ? n
    : 1;
  const rootOnlySend = kind === "scatter" || kind === "scatterv";
  const rootOnlyRecv = kind === "gather" || kind === "gatherv";
  const sendbuf = rootOnlySend && me !== 0 ? undefined : comm.alloc(elems * sendSpan, dt);
  const recvbuf = kind === "bcast"
    ? sendbuf
    : rootOnlyRecv && me !== 0
    ? undefined
    : kind === "reduce_scatter"
    ? comm.alloc(Math.floor(max / n / es) + 1, dt)
    : comm.alloc(elems * recvSpan, dt);
  if (kind === "bcast") sendbuf!.fill(1);
  let iters = cfg.iterations, skip = cfg.skip;
  // osu_allreduce and osu_reduce count floats (from min/4, at least 1) and
  // compare that count with LARGE_MESSAGE_SIZE.
  const counts = float
    ? sizes(Math.max(1, Math.floor(cfg.minSize / 4)), Math.floor(max / 4))
    : sizes(cfg.minSize, max);
  let errors = 0;
  // osu_alltoallv.c has one more barrier, after the preamble (osu_alltoallw.c has not).
  if (kind === "alltoallv" && !nb) await comm.barrier();
  for (const count of counts) {
    const bytes = count * es;
    // osu_reduce_scatter.c: `count` floats split over the ranks, the first
    // count mod np one more (one each to the first `count` when fewer).
    const rsCounts = Array.from(
      { length: n },
      (_, i) => count < n ? (i < count ? 1 : 0) : Math.floor(count / n) + (i < count % n ? 1 : 0),
    );
    const sb = sendbuf?.subarray(0, count * sendSpan);
    const rb = kind === "reduce_scatter"
      ? recvbuf?.subarray(0, rsCounts[me])
      : recvbuf?.subarray(0, count * recvSpan);
    if (count > OSU_DEFAULTS.LARGE_MESSAGE_SIZE) {
      iters = cfg.iterationsLarge;
      skip = cfg.skipLarge;
    }
    // osu_alltoallv.c and osu_alltoallw.c: `size` bytes to and from every rank, packed (for
    // osu_alltoallw, `size` MPI_CHARs at byte displacements: the same numbers).
    const cnt = Array.from({ length: n }, () => count);
    const disp = cnt.map((_, i) => i * count);
    if (nb) {
      const [method, args] = collCall(kind, me, sb, rb, cnt, disp, rsCounts);
      const calls = comm as unknown as Record<string, (...a: unknown[]) => Promise<mpi.Request>>;
      const shape = NBC_SHAPES[cfg.name];
      const check = cfg.validate ? nbcValidation(kind, sb, rb, count, me, n, rsCounts) : undefined;
      const { stats: st, errors: e } = await nonBlocking(
        comm,
        cfg,
        shape,
        iters,
        shape.skipLargeAlways ? cfg.skipLarge : skip,
        () => calls[`i${method}`](...args),
        check,
      );
      const pass = cfg.validate ? e === 0 : undefined;
      if (me === 0) {
        out.rows.push({
          size: bytes,
          value: st.overall,
          min: st.min,
          max: st.max,
          iterations: iters,
          pass,
          nbc: st,
        });
        say(nbcRow(bytes, st, cfg.full, pass));
      }
      // The first size that fails ends the run (`if (0 != errors) break;`).
      if (e > 0) {
        out.failedSize = bytes;
        break;
      }
      continue;
    }
    // Where OMB 7.0 synchronizes around a size (c/mpi/collective/*.c):
    // every benchmark but osu_bcast enters the loop through a barrier and
    // leaves the size with one after printing; osu_bcast enters it straight
    // and, like osu_allgather, has a barrier between the loop and the
    // statistics.
    if (kind !== "bcast") await comm.barrier();
    // osu_gatherv.c, osu_scatterv.c, osu_allgatherv.c: one more after
    // setting the counts.
    const vector = kind === "gatherv" || kind === "scatterv" || kind === "allgatherv";
    if (vector) await comm.barrier();
    let timer = 0, local = 0;
    const [method, args] = collCall(kind, me, sb, rb, cnt, disp, rsCounts);
    const calls = comm as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const op = async () => {
      await calls[method](...args);
    };
    // Who checks the data (validate_data's callers): the root for
    // osu_reduce, osu_gather and osu_gatherv, the ranks that receive
    // something for osu_reduce_scatter, every rank elsewhere.
    const checks = kind === "reduce_scatter"
      ? rsCounts[me] !== 0
      : (kind !== "reduce" && kind !== "gather" && kind !== "gatherv") || me === 0;
    for (let i = 0; i < iters + skip; i++) {
      if (cfg.validate) {
        fillValidation(kind, sb, rb, count, i, me, n);
        for (let j = 0; j < cfg.warmupValidation; j++) {
          await comm.barrier();
          await op();
        }
        // osu_reduce.c's barrier is part of every iteration (below).
        if (kind !== "reduce") await comm.barrier();
      }
      // osu_reduce synchronizes before the timed call and not after it;
      // the others after it.
      if (kind === "reduce") await comm.barrier();
      const t0 = comm.wtime();
      await op();
      const t1 = comm.wtime();
      if (kind !== "reduce") await comm.barrier();
      if (cfg.validate && checks) {
        const ok = kind === "reduce_scatter"
          ? reduceScatterValid(rb!, rsCounts, i, me, n)
          : checkValidation(kind, sb, rb, count, i, me, n);
        local += ok ? 0 : 1;
      }
      if (i >= skip) timer += t1 - t0;
    }
    if (
      kind === "bcast" || kind === "allgather" || kind === "gatherv" || kind === "allgatherv"
    ) await comm.barrier();
    const st = await stats(timer, iters);
    let pass: boolean | undefined;
    if (cfg.validate) {
      const e = new Int32Array(1);
      await comm.allreduce(new Int32Array([local]), e, "SUM");
      // osu_allgather.c and osu_allgatherv.c print rank 0's own count
      // (print_stats_validate gets local_errors); the others print the sum
      // over ranks.
      pass = (kind === "allgather" || kind === "allgatherv" ? local : e[0]) === 0;
      errors += e[0];
    }
    if (me === 0) {
      out.rows.push({
        size: bytes,
        value: st.avg,
        min: st.min,
        max: st.max,
        iterations: iters,
        pass,
      });
      say(collRow({ size: bytes, ...st, iterations: iters, pass }, cfg.full));
    }
    if (kind !== "bcast") await comm.barrier();
    if (cfg.validate && errors > 0) {
      out.failedSize = bytes;
      break;
    }
  }
}

/**
 * compute_on_host (c/util/osu_util_mpi.c), the unit of OSU's dummy
 * computation: DIM × DIM (25 × 25) steps of `x[i] = x[i] + a[i][j] *
 * a[j][i] + y[j]`, three flops and three 4-byte loads each, charged in
 * virtual time at the profile's compute rates.
 */
const COMPUTE_ON_HOST = { flops: 3 * 25 * 25, bytes: 12 * 25 * 25 };

/**
 * do_compute_cpu: compute_on_host until at least `seconds` have passed
 * (the last unit overshoots, as OSU's loop does). The units are charged as
 * one computation after the first, which gives their length: the same
 * virtual time as one call per unit, without the calls.
 */
async function computeFor(comm: Comm, seconds: number): Promise<void> {
  if (seconds <= 0) return;
  const t0 = comm.wtime();
  await comm.compute(COMPUTE_ON_HOST);
  const unit = comm.wtime() - t0;
  const more = Math.ceil((seconds - unit) / unit);
  if (more > 0) {
    await comm.compute({
      flops: more * COMPUTE_ON_HOST.flops,
      bytes: more * COMPUTE_ON_HOST.bytes,
    });
  }
}

/**
 * dummy_compute (do_compute_and_probe): `seconds` of computation, in `-t`
 * pieces with an MPI_Test of `req` after each when `-t` is given; returns
 * the time the tests took.
 */
async function dummyCompute(comm: Comm, cfg: OsuConfig, seconds: number, req: mpi.Request) {
  if (cfg.probes === 0) {
    await computeFor(comm, seconds);
    return 0;
  }
  let tests = 0;
  for (let k = 0; k < cfg.probes; k++) {
    await computeFor(comm, seconds / cfg.probes);
    const t1 = comm.wtime();
    await comm.test(req);
    tests += comm.wtime() - t1;
  }
  return tests;
}

/**
 * Where each of OMB 7.0's c/mpi/collective/osu_i*.c synchronizes around a
 * size's two loops, and its warmup: the MPI calls every rank makes besides
 * the timed ones, which cost virtual time though they are not timed.
 */
interface NbcShape {
  /** MPI_Barrier calls before the first loop. */
  before: number;
  /** An MPI_Barrier after each call of the first loop (all but osu_ibarrier). */
  barrierPerCall: boolean;
  /** MPI_Barrier calls between the loops; with `-c`, the first loop's error sum follows the first. */
  between: number;
  /** `-c`: an MPI_Allreduce of the errors after the first loop too. */
  sumAfterFirstLoop: boolean;
  /** `-c`: the overlapped loop's MPI_Allreduce of the errors comes before its closing barrier. */
  sumBeforeBarrier: boolean;
  /** `options.skip = options.skip_large` at every size (an `else` branch), not only above 8 KiB. */
  skipLargeAlways: boolean;
}

const nbcShape = (before: number, between: number, more: Partial<NbcShape> = {}): NbcShape => ({
  before,
  barrierPerCall: true,
  between,
  sumAfterFirstLoop: false,
  sumBeforeBarrier: false,
  skipLargeAlways: false,
  ...more,
});

/**
 * Each benchmark's {@link NbcShape}, as OMB 7.0 (release/7.0) has it in
 * c/mpi/collective/osu_<name>.c: the barriers counted in the size loop
 * before the first `for (i = 0; i < options.iterations + options.skip; i++)`
 * and between the two; osu_igatherv.c and osu_iscatterv.c have
 * `else { options.skip = options.skip_large; }`.
 */
const NBC_SHAPES: Record<string, NbcShape> = {
  osu_ibarrier: nbcShape(0, 2, { barrierPerCall: false }),
  osu_ibcast: nbcShape(0, 2),
  osu_iallreduce: nbcShape(1, 2),
  osu_ireduce: nbcShape(1, 2),
  osu_iallgather: nbcShape(1, 2),
  osu_ialltoall: nbcShape(1, 2),
  osu_ialltoallv: nbcShape(1, 2),
  osu_ialltoallw: nbcShape(1, 2),
  osu_ireduce_scatter: nbcShape(1, 2),
  // No barrier before the first loop; the errors summed after it.
  osu_igather: nbcShape(0, 2, { sumAfterFirstLoop: true }),
  osu_iscatter: nbcShape(0, 2, { sumBeforeBarrier: true }),
  // A barrier on each side of setting the counts before the first loop; between the loops, a
  // barrier, the errors' sum, a barrier, the counts, a barrier.
  osu_igatherv: nbcShape(2, 3, {
    sumAfterFirstLoop: true,
    sumBeforeBarrier: true,
    skipLargeAlways: true,
  }),
  osu_iallgatherv: nbcShape(2, 2, { sumAfterFirstLoop: true, sumBeforeBarrier: true }),
  osu_iscatterv: nbcShape(1, 2, {
    sumAfterFirstLoop: true,
    sumBeforeBarrier: true,
    skipLargeAlways: true,
  }),
};

/**
 * One size of a non-blocking collective benchmark (osu_i*.c, OMB 7's
 * c/mpi/collective/non_blocking/), its barriers where `shape` puts them:
 * time start + wait alone; then each iteration starts the collective,
 * computes for that pure communication time (dummy_compute, with `-t`
 * MPI_Test calls), waits, and synchronizes; then calculate_and_print_stats'
 * reductions over ranks (the sums of the six times, the minimum and
 * maximum of the pure communication time) and its barrier.
 */
async function nonBlocking(
  comm: Comm,
  cfg: OsuConfig,
  shape: NbcShape,
  iters: number,
  skip: number,
  start: () => Promise<mpi.Request>,
  check?: NbcValidation,
): Promise<{ stats: NbcStats; errors: number }> {
  // -c: set_buffer_validation, then -u untimed rounds (each after a barrier), then a
  // barrier, before every iteration of both loops (osu_i*.c).
  const prepare = async (i: number) => {
    if (!check) return;
    check.fill(i);
    for (let j = 0; j < cfg.warmupValidation; j++) {
      await comm.barrier();
      await comm.wait(await start());
    }
    await comm.barrier();
  };
  let local = 0, errors = 0;
  const sumErrors = async () => {
    const e = new Int32Array(1);
    await comm.allreduce(new Int32Array([local]), e, "SUM");
    errors += e[0];
  };
  for (let b = 0; b < shape.before; b++) await comm.barrier();
  let timer = 0;
  for (let i = 0; i < iters + skip; i++) {
    await prepare(i);
    const t0 = comm.wtime();
    await comm.wait(await start());
    const t1 = comm.wtime();
    if (shape.barrierPerCall) await comm.barrier();
    if (check) local += check.errors(i, false);
    if (i >= skip) timer += t1 - t0;
  }
  for (let b = 0; b < shape.between; b++) {
    await comm.barrier();
    if (b === 0 && check && shape.sumAfterFirstLoop) await sumErrors();
  }
  const latency = timer / iters;
  let overall = 0, compute = 0, init = 0, test = 0, wait = 0;
  for (let i = 0; i < iters + skip; i++) {
    await prepare(i);
    const t0 = comm.wtime();
    const req = await start();
    const t1 = comm.wtime();
    const tests = await dummyCompute(comm, cfg, latency, req);
    const t2 = comm.wtime();
    await comm.wait(req);
    const t3 = comm.wtime();
    await comm.barrier();
    if (check) local += check.errors(i, true);
    if (i >= skip) {
      overall += t3 - t0;
      init += t1 - t0;
      compute += t2 - t1;
      test += tests;
      wait += t3 - t2;
    }
  }
  // After the loop: a barrier and, with -c, the MPI_Allreduce of the errors (osu_iscatter,
  // osu_iscatterv, osu_igatherv and osu_iallgatherv reduce the errors first).
  if (check && shape.sumBeforeBarrier) await sumErrors();
  await comm.barrier();
  if (check && !shape.sumBeforeBarrier) await sumErrors();
  const us = (t: number) => (t * 1e6) / iters;
  const sums = [us(test), latency * 1e6, us(overall), us(compute), us(wait), us(init)];
  for (const [k, v] of sums.entries()) {
    const r = new Float64Array(1);
    await comm.reduce(new Float64Array([v]), r, "SUM", 0);
    sums[k] = r[0] / comm.size;
  }
  const [mn, mx] = [new Float64Array(1), new Float64Array(1)];
  await comm.reduce(new Float64Array([latency * 1e6]), mn, "MIN", 0);
  await comm.reduce(new Float64Array([latency * 1e6]), mx, "MAX", 0);
  await comm.barrier();
  const [t, c, o, cp, w, ini] = sums;
  return {
    stats: {
      overall: o,
      compute: cp,
      init: ini,
      test: t,
      wait: w,
      comm: c,
      min: mn[0],
      max: mx[0],
    },
    errors,
  };
}

/** What `-c` does in a non-blocking collective benchmark (its buffers bound). */
interface NbcValidation {
  /** set_buffer_validation for iteration `iter`. */
  fill(iter: number): void;
  /** validate_data after iteration `iter` of the first loop or the overlapped one: 0 or 1. */
  errors(iter: number, overlapped: boolean): number;
}

/**
 * `-c` for a non-blocking collective as OMB 7.0's osu_i*.c does it: the
 * blocking twin's patterns (set_buffer_validation with the NBC_* subtype of
 * the same shape) and checks, by the ranks each benchmark checks on: the
 * root for osu_igather, osu_igatherv and osu_ireduce; for osu_ibcast the
 * root in the first loop and every rank in the overlapped one; the ranks
 * that get a block for osu_ireduce_scatter; every rank elsewhere. `kind`
 * is the blocking twin's.
 */
function nbcValidation(
  kind: string,
  sb: MpiBuffer | undefined,
  rb: MpiBuffer | undefined,
  count: number,
  me: number,
  n: number,
  rsCounts: number[],
): NbcValidation {
  const checks = (overlapped: boolean) => {
    switch (kind) {
      case "bcast":
        return overlapped || me === 0;
      case "gather":
      case "gatherv":
      case "reduce":
        return me === 0;
      case "reduce_scatter":
        return rsCounts[me] !== 0;
      default:
        return true;
    }
  };
  return {
    fill: (iter) => fillValidation(kind, sb, rb, count, iter, me, n),
    errors: (iter, overlapped) => {
      if (!checks(overlapped)) return 0;
      const ok = kind === "reduce_scatter"
        ? reduceScatterValid(rb!, rsCounts, iter, me, n)
        : checkValidation(kind, sb, rb, count, iter, me, n);
      return ok ? 0 : 1;
    },
  };
}

/**
 * The `Comm` method a collective benchmark calls and its arguments (OSU's:
 * MPI_SUM over floats, root 0; the v variants with `cnt` elements to and
 * from every rank at `disp`); the non-blocking benchmarks call the method
 * of the same name with an `i` in front.
 */
function collCall(
  kind: string,
  me: number,
  sb: MpiBuffer | undefined,
  rb: MpiBuffer | undefined,
  cnt: number[],
  disp: number[],
  rsCounts: number[],
): [string, unknown[]] {
  const atRoot = (b: MpiBuffer | undefined) => me === 0 ? b : null;
  switch (kind) {
    case "bcast":
      return ["bcast", [sb, 0]];
    case "allreduce":
      return ["allreduce", [sb, rb, "SUM"]];
    case "reduce":
      return ["reduce", [sb, atRoot(rb), "SUM", 0]];
    case "gather":
      return ["gather", [sb, atRoot(rb), 0]];
    case "scatter":
      return ["scatter", [atRoot(sb), rb, 0]];
    case "allgather":
      return ["allgather", [sb, rb]];
    case "alltoallv":
      return ["alltoallv", [sb, cnt, disp, rb, cnt, disp]];
    case "alltoallw": {
      // osu_alltoallw.c: stypes[i] = rtypes[i] = MPI_CHAR (the buffers' one-byte type here).
      const types = cnt.map(() => "uint8");
      return ["alltoallw", [sb, cnt, disp, types, rb, cnt, disp, types]];
    }
    case "gatherv":
      return ["gatherv", [sb, atRoot(rb), cnt, disp, 0]];
    case "scatterv":
      return ["scatterv", [atRoot(sb), cnt, disp, rb, 0]];
    case "allgatherv":
      return ["allgatherv", [sb, rb, cnt, disp]];
    case "reduce_scatter":
      return ["reduceScatter", [sb, rb, rsCounts, "SUM"]];
    default:
      return ["alltoall", [sb, rb]];
  }
}

/** One byte of set_buffer_char's pattern: block `i` of a sender whose "rank" is `r` among `p`. */
function charValue(r: number, p: number, i: number, iter: number): number {
  return (r * p + i + (iter + 1) * (r * p + 1) * (i + 1)) % 256;
}

/** OSU's collective validation patterns (set_buffer_validation: set_buffer_char, set_buffer_float). */
function fillValidation(
  kind: string,
  sb: MpiBuffer | undefined,
  rb: MpiBuffer | undefined,
  count: number,
  iter: number,
  me: number,
  n: number,
): void {
  const blocks = (r: number, p: number) => {
    const v = new Uint8Array(count * p);
    for (let i = 0; i < p; i++) v.fill(charValue(r, p, i, iter), i * count, (i + 1) * count);
    return v;
  };
  switch (kind) {
    case "bcast":
      // Root: set_buffer_char(s, 1, size, 1, 1): (1 + 2 (iter+1)) mod 256; others zero.
      sb!.fill(me === 0 ? charValue(1, 1, 0, iter) : 0);
      return;
    case "allreduce":
    case "reduce":
    case "reduce_scatter":
      sb!.set(Float32Array.from({ length: count }, (_, i) => ((i % 100) + 1) * (iter + 1)));
      rb?.fill(0);
      return;
    case "gather":
    case "allgather":
    case "gatherv":
    case "allgatherv":
      // GATHER (osu_allgather's subtype too): each rank sends the pattern of
      // "rank" me × np among 1; only rank 0's receive buffer is cleared.
      sb!.set(blocks(me * n, 1));
      if (me === 0) rb!.fill(0);
      return;
    case "scatter":
    case "scatterv":
      if (me === 0) sb!.set(blocks(0, n));
      rb!.fill(0);
      return;
    default: // alltoall, alltoallv, alltoallw (subtype ALLTOALL)
      sb!.set(blocks(me, n));
      rb!.fill(0);
  }
}

/** validate_data for a collective: what arrived is what the senders' patterns say. */
function checkValidation(
  kind: string,
  sb: MpiBuffer | undefined,
  rb: MpiBuffer | undefined,
  count: number,
  iter: number,
  me: number,
  n: number,
): boolean {
  // validate_collective(buf, size, value1, value2): block i holds
  // (i value2 + value1 + (iter+1)(value1+1)(i value2 + 1)) mod 256.
  const blocksAre = (got: ArrayLike<number>, value1: number, value2: number) => {
    for (let i = 0; i < value2; i++) {
      const want = (i * value2 + value1 + (iter + 1) * (value1 + 1) * (i * value2 + 1)) % 256;
      for (let j = 0; j < count; j++) if (got[i * count + j] !== want) return false;
    }
    return true;
  };
  switch (kind) {
    case "bcast":
      return blocksAre(sb!.get() as Uint8Array, 1, 1);
    case "allreduce":
    case "reduce": {
      // validate_reduction: within ERROR_DELTA of the pattern times np.
      const got = rb!.get() as Float32Array;
      for (let i = 0; i < count; i++) {
        if (Math.abs(got[i] - ((i % 100) + 1) * (iter + 1) * n) > 0.001) return false;
      }
      return true;
    }
    case "gather":
    case "allgather":
    case "gatherv":
    case "allgatherv":
      return blocksAre(rb!.get() as Uint8Array, 0, n);
    case "scatter":
    case "scatterv":
      return blocksAre(rb!.get() as Uint8Array, me, 1);
    default: // alltoall, alltoallv, alltoallw
      return blocksAre(rb!.get() as Uint8Array, me, n);
  }
}

/**
 * osu_reduce_scatter's check: this rank's block is the send pattern of its
 * elements (by their place in the whole vector) times np, within
 * ERROR_DELTA. (OMB 7.0's validate_reduce_scatter looks at rank 0's block
 * only, through an index slip, and compares with an integer `abs`.)
 */
function reduceScatterValid(
  rb: MpiBuffer,
  counts: readonly number[],
  iter: number,
  me: number,
  n: number,
): boolean {
  const got = rb.get() as Float32Array;
  const at = counts.slice(0, me).reduce((a, b) => a + b, 0);
  for (let j = 0; j < counts[me]; j++) {
    if (Math.abs(got[j] - (((at + j) % 100) + 1) * (iter + 1) * n) > 0.001) return false;
  }
  return true;
}

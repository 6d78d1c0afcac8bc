/**
 * IS, the integer sort kernel of the NAS Parallel Benchmarks (NPB 3.4-MPI
 * `IS/is.c`): 2^TOTAL_KEYS_LOG_2 keys from NPB's `create_seq` (each key
 * MAX_KEY/4 times the sum of four `randlc` deviates, so roughly Gaussian)
 * are ranked ten times by a bucketed counting sort across the processes.
 *
 * Decomposition and communication as NPB: every rank generates its own
 * contiguous part of the one key sequence (`find_my_seed` jumps the stream
 * ahead), counts its keys into 2^NUM_BUCKETS_LOG_2 buckets and sorts them by
 * bucket; then, per iteration, an MPI_Allreduce of the bucket sizes (with the
 * five partial-verification keys hidden in five extra slots), an
 * MPI_Alltoall of the send counts and an MPI_Alltoallv of the keys
 * redistribute whole buckets so that rank r holds the r-th run of buckets
 * holding about TOTAL_KEYS/np keys. The ranks are computed there by counting;
 * the partial verification compares five keys' ranks with NPB's published
 * values each iteration, and the full verification sorts the last ranking
 * and checks the order across rank boundaries (one key to the next rank).
 * Keys travel in buffers from `comm.alloc` (registered memory, as MVAPICH's
 * pin-down cache makes a malloc'd buffer), so large blocks go by zero-copy
 * rendezvous.
 *
 * Classes S, W, A, B (C's 2^27 keys do not fit one JS process); the
 * number of processes must be a power of two up
 * to 128 (class S) or 1024 (NPB aborts otherwise, unless NPB_NPROCS_STRICT
 * is off, which this port does not offer).
 *
 * Model mode: the keys are still generated (the redistribution counts depend
 * on them) and the bucket sizes are kept exactly, updating them for the two
 * keys NPB changes each iteration, so every message — the allreduce's
 * contents included — is what the real run sends; the bucket sort, the
 * ranking and the verification are charged but not done, and the alltoallv
 * carries unsorted keys of the same counts.
 *
 * @module
 */
import type { Comm, MpiBuffer } from "../../mpi/mod.ts";
import type { NasClass, NasKernel, NasResult, NasRunOptions } from "./kernel.ts";
import { jumpSeed, NPB_A, NPB_SEED, randlc, type RandState, vranlc } from "./randlc.ts";

/** Iterations of the ranking (NPB's MAX_ITERATIONS). */
export const IS_ITERATIONS = 10;
/** Keys checked by the partial verification. */
const TEST_ARRAY_SIZE = 5;

/**
 * Parameters of one class (`is.c`'s CLASS blocks and verification arrays).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IS_PARAMS } from "./is.ts";
 * assert.equal(IS_PARAMS.S?.totalKeysLog2, 16);
 * ```
 */
export interface IsParams {
  totalKeysLog2: number;
  maxKeyLog2: number;
  numBucketsLog2: number;
  /** Global indices of the partial-verification keys. */
  testIndex: readonly number[];
  /** Their ranks before the per-iteration adjustment. */
  testRank: readonly number[];
}

/**
 * NPB 3.4's classes and partial-verification values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IS_PARAMS } from "./is.ts";
 * assert.deepEqual(IS_PARAMS.A?.testRank, [104, 17523, 123928, 8288932, 8388264]);
 * ```
 */
export const IS_PARAMS: Readonly<Partial<Record<NasClass, IsParams>>> = {
  S: {
    totalKeysLog2: 16,
    maxKeyLog2: 11,
    numBucketsLog2: 9,
    testIndex: [48427, 17148, 23627, 62548, 4431],
    testRank: [0, 18, 346, 64917, 65463],
  },
  W: {
    totalKeysLog2: 20,
    maxKeyLog2: 16,
    numBucketsLog2: 10,
    testIndex: [357773, 934767, 875723, 898999, 404505],
    testRank: [1249, 11698, 1039987, 1043896, 1048018],
  },
  A: {
    totalKeysLog2: 23,
    maxKeyLog2: 19,
    numBucketsLog2: 10,
    testIndex: [2112377, 662041, 5336171, 3642833, 4250760],
    testRank: [104, 17523, 123928, 8288932, 8388264],
  },
  B: {
    totalKeysLog2: 25,
    maxKeyLog2: 21,
    numBucketsLog2: 10,
    testIndex: [41869, 812306, 5102857, 18232239, 26860214],
    testRank: [33422937, 10244, 59149, 33135281, 99],
  },
  C: {
    totalKeysLog2: 27,
    maxKeyLog2: 23,
    numBucketsLog2: 10,
    testIndex: [44172927, 72999161, 74326391, 129606274, 21736814],
    testRank: [61147, 882988, 266290, 133997595, 133525895],
  },
};

/**
 * The rank test key `i` must have in `iteration` (NPB shifts the published
 * rank by the iteration, differently per class, because each iteration
 * changes two keys).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isExpectedRank } from "./is.ts";
 * assert.equal(isExpectedRank("S", 1, 3), 21); // 18 + 3
 * assert.equal(isExpectedRank("S", 4, 3), 65460); // 65463 - 3
 * assert.equal(isExpectedRank("A", 0, 1), 104);
 * ```
 */
export function isExpectedRank(cls: NasClass, i: number, iteration: number): number {
  const p = IS_PARAMS[cls];
  if (!p) throw new Error(`IS has no class ${cls}`);
  const r = p.testRank[i];
  switch (cls) {
    case "S":
      return i <= 2 ? r + iteration : r - iteration;
    case "W":
      return i < 2 ? r + iteration - 2 : r - iteration;
    case "A":
      return i <= 2 ? r + iteration - 1 : r - (iteration - 1);
    case "B":
      return i === 1 || i === 2 || i === 4 ? r + iteration : r - iteration;
    case "C":
      return i <= 2 ? r + iteration : r - iteration;
  }
  return r;
}

/**
 * NPB's partial-verification test of one key: its computed rank against
 * {@link isExpectedRank}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPartialVerify } from "./is.ts";
 * assert.equal(isPartialVerify("S", 2, 5, 351), true);
 * assert.equal(isPartialVerify("S", 2, 5, 352), false);
 * ```
 */
export function isPartialVerify(
  cls: NasClass,
  i: number,
  iteration: number,
  keyRank: number,
): boolean {
  return keyRank === isExpectedRank(cls, i, iteration);
}

/**
 * `find_my_seed`: the seed of rank `kn`'s part of a stream of `nn` numbers
 * split over `np` ranks (seed · a^(kn·nn/np) mod 2^46, by binary powering).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findMySeed } from "./is.ts";
 * import { NPB_A, NPB_SEED, randlc } from "./randlc.ts";
 * const s = { x: NPB_SEED };
 * for (let i = 0; i < 8; i++) randlc(s, NPB_A);
 * assert.equal(findMySeed(1, 2, 16, NPB_SEED, NPB_A), s.x);
 * ```
 */
export function findMySeed(kn: number, np: number, nn: number, s: number, a: number): number {
  let nq = Math.floor(nn / np);
  let mq = 0;
  for (; nq > 1; mq++) nq = Math.floor(nq / 2);
  const t = { x: a };
  for (let i = 1; i <= mq; i++) randlc(t, t.x);
  return jumpSeed(s, t.x, kn);
}

/**
 * `create_seq`: `n` keys, each ⌊MAX_KEY/4 · (r1 + r2 + r3 + r4)⌋ of four
 * consecutive deviates from `seed`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSeq } from "./is.ts";
 * import { NPB_SEED } from "./randlc.ts";
 * const keys = createSeq(NPB_SEED, 1000, 2048);
 * assert.ok(keys.every((k) => k >= 0 && k < 2048));
 * ```
 */
export function createSeq(seed: number, n: number, maxKey: number, out?: Int32Array): Int32Array {
  const keys = out ?? new Int32Array(n);
  const k = maxKey / 4;
  const CHUNK = 1 << 14;
  const r = new Float64Array(4 * CHUNK);
  const st: RandState = { x: seed };
  for (let base = 0; base < n; base += CHUNK) {
    const c = Math.min(CHUNK, n - base);
    vranlc(4 * c, st, NPB_A, r);
    for (let i = 0; i < c; i++) {
      const x = r[4 * i] + r[4 * i + 1] + r[4 * i + 2] + r[4 * i + 3];
      keys[base + i] = Math.trunc(k * x);
    }
  }
  return keys;
}

// ----------------------------------------------------------------- the work charged

/** Operations of one key of `create_seq`: four `randlc` (19 each), three sums, a multiply, a truncation. */
const CREATE_OPS_PER_KEY = 4 * 19 + 5;

/**
 * The work IS charges, by loop nest of `rank()` and `full_verify()`
 * (operations as flops, bytes of memory traffic): what both compute modes
 * charge, given the sizes every rank knows after the allreduce.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isWork } from "./is.ts";
 * const w = isWork.bucketSort(1000, 512);
 * assert.deepEqual(w, { flops: 5 * 1000 + 3 * 517, bytes: 12 * 1000 + 16 * 517 });
 * ```
 */
export const isWork = {
  /** `create_seq` of `n` keys. */
  createSeq: (n: number) => ({ flops: n * CREATE_OPS_PER_KEY, bytes: 4 * n }),
  /**
   * Clearing the bucket arrays, counting `n` keys into `nb` buckets (shift +
   * increment; reads each key), the bucket pointers, and the scatter into
   * key_buff1 (shift, pointer bump, store; reads and writes each key).
   */
  bucketSort: (n: number, nb: number) => ({
    flops: 5 * n + 3 * (nb + TEST_ARRAY_SIZE),
    bytes: 12 * n + 16 * (nb + TEST_ARRAY_SIZE),
  }),
  /** The redistribution plan: one pass over the buckets. */
  plan: (nb: number) => ({ flops: 3 * nb, bytes: 8 * nb }),
  /**
   * Ranking `j` received keys over a key range of `range` values: clearing
   * the work array, the lesser-key and local-key sums over `nb` buckets, the
   * population count (read key, read-modify-write count) and the prefix sum.
   */
  rank: (j: number, range: number, nb: number) => ({
    flops: 2 * j + 2 * range + nb,
    bytes: 12 * j + 12 * range,
  }),
  /** `full_verify`: the final placement of `j` keys and the order check. */
  fullVerify: (j: number) => ({ flops: 3 * j, bytes: 20 * j }),
};

// ----------------------------------------------------------------- the kernel

interface IsState {
  cls: NasClass;
  p: IsParams;
  comm: Comm;
  real: boolean;
  opts: NasRunOptions;
  numKeys: number;
  maxKey: number;
  nb: number;
  shift: number;
  keyArray: Int32Array;
  /** Bucket sizes of keyArray (kept in model mode instead of counting). */
  hist: Int32Array;
  /** key_buff1 as the JS side fills it (real mode). */
  kb1: Int32Array;
  send: MpiBuffer;
  recv: MpiBuffer;
  bucketSize: Int32Array;
  totals: Int32Array;
  sendCount: Int32Array;
  recvCount: Int32Array;
  passed: number;
  /** What full_verify needs from the last iteration. */
  last?: { counts: Int32Array; min: number; keys: Int32Array; j: number };
  /** Ranks computed here for the test keys in the last iteration, by test key. */
  found: Record<string, number>;
}

async function rank(s: IsState, iteration: number): Promise<void> {
  const { comm, p, numKeys, nb, shift } = s;
  const me = comm.rank;
  const np = comm.size;

  // Iteration alteration of keys (rank 0 only).
  if (me === 0) {
    for (
      const [idx, v] of [[iteration, iteration], [iteration + IS_ITERATIONS, s.maxKey - iteration]]
    ) {
      s.hist[s.keyArray[idx] >> shift]--;
      s.keyArray[idx] = v;
      s.hist[v >> shift]++;
    }
  }

  const bs = s.bucketSize;
  bs.fill(0);
  s.totals.fill(0);
  for (let i = 0; i < TEST_ARRAY_SIZE; i++) {
    if (Math.floor(p.testIndex[i] / numKeys) === me) {
      bs[nb + i] = s.keyArray[p.testIndex[i] % numKeys];
    }
  }
  if (s.real) {
    const keys = s.keyArray;
    for (let i = 0; i < numKeys; i++) bs[keys[i] >> shift]++;
    const ptr = new Int32Array(nb);
    for (let i = 1; i < nb; i++) ptr[i] = ptr[i - 1] + bs[i - 1];
    const kb1 = s.kb1;
    for (let i = 0; i < numKeys; i++) {
      const key = keys[i];
      kb1[ptr[key >> shift]++] = key;
    }
    writeInt32(s.send, kb1, numKeys);
  } else {
    bs.set(s.hist);
  }
  await comm.compute(isWork.bucketSort(numKeys, nb));

  await comm.allreduce(bs, s.totals, "SUM");
  const totals = s.totals;

  // Redistribution: whole buckets to rank j until the running total passes (j+1)·numKeys.
  const sendCount = s.sendCount, sendDispl = new Array<number>(np).fill(0);
  const ptr1 = new Int32Array(np), ptr2 = new Int32Array(np);
  let acc = 0, local = 0, j = 0;
  for (let i = 0; i < nb; i++) {
    acc += totals[i];
    local += bs[i];
    if (acc >= (j + 1) * numKeys) {
      sendCount[j] = local;
      if (j !== 0) {
        sendDispl[j] = sendDispl[j - 1] + sendCount[j - 1];
        ptr1[j] = ptr2[j - 1] + 1;
      }
      ptr2[j++] = i;
      local = 0;
    }
  }
  // NPB: with np close to the number of buckets the last ranks may get none.
  while (j < np) {
    sendCount[j] = 0;
    ptr1[j] = 1;
    j++;
  }
  await comm.compute(isWork.plan(nb));

  await comm.alltoall(sendCount, s.recvCount);
  const recvCount = s.recvCount, recvDispl = new Array<number>(np).fill(0);
  for (let i = 1; i < np; i++) recvDispl[i] = recvDispl[i - 1] + recvCount[i - 1];
  await comm.alltoallv(
    s.send,
    [...sendCount],
    sendDispl,
    s.recv,
    [...recvCount],
    recvDispl,
  );
  if (s.opts.hooks?.afterExchange) {
    await s.opts.hooks.afterExchange({
      comm,
      step: "alltoallv keys",
      iteration,
      buffer: s.recv,
      blocks: Array.from({ length: np }, (_, peer) => ({
        peer,
        offset: 4 * recvDispl[peer],
        bytes: 4 * recvCount[peer],
      })),
    });
  }

  const minKey = ptr1[me] << shift;
  const maxKey = ((ptr2[me] + 1) << shift) - 1;
  const range = Math.max(0, maxKey - minKey + 1);
  let m = 0;
  for (let k = 0; k < me; k++) for (let i = ptr1[k]; i <= ptr2[k]; i++) m += totals[i];
  let total = 0;
  for (let i = ptr1[me]; i <= ptr2[me]; i++) total += totals[i];

  if (s.real) {
    const keys = readInt32(s.recv, total);
    const counts = new Int32Array(range);
    let outside = 0;
    for (let i = 0; i < total; i++) {
      const v = keys[i] - minKey;
      // A key outside this rank's buckets cannot come from a correct exchange
      // (NPB would index outside its work array); it is counted, not stored.
      if (v < 0 || v >= range) outside++;
      else counts[v]++;
    }
    for (let i = 0; i + 1 < range; i++) counts[i + 1] += counts[i];
    for (let i = 0; i < TEST_ARRAY_SIZE; i++) {
      const k = totals[nb + i];
      if (minKey <= k && k <= maxKey) {
        const keyRank = (k - 1 - minKey >= 0 ? counts[k - 1 - minKey] : 0) + m;
        if (iteration === IS_ITERATIONS) s.found[`testKey${i}Rank`] = keyRank;
        if (isPartialVerify(s.cls, i, iteration, keyRank)) s.passed++;
        else {
          s.opts.log?.(
            `Failed partial verification: iteration ${iteration}, processor ${me}, test key ${i}, key rank ${keyRank}`,
          );
        }
      }
    }
    if (outside > 0) {
      s.opts.log?.(
        `Processor ${me}: iteration ${iteration}: ${outside} received keys outside buckets ${
          ptr1[me]
        }..${ptr2[me]}`,
      );
    }
    if (iteration === IS_ITERATIONS) s.last = { counts, min: minKey, keys, j: total };
  } else if (iteration === IS_ITERATIONS) {
    s.last = { counts: new Int32Array(0), min: minKey, keys: new Int32Array(0), j: total };
  }
  await comm.compute(isWork.rank(total, range, nb));
}

/** full_verify: sort the last ranking, check the order here and across the boundary to rank − 1. */
async function fullVerify(s: IsState): Promise<void> {
  const { comm } = s;
  const me = comm.rank, np = comm.size;
  const last = s.last!;
  let errors = 0;
  const sorted = s.keyArray;
  if (s.real) {
    const { counts, min, keys, j } = last;
    for (let i = 0; i < j; i++) {
      const v = keys[i] - min;
      if (v < 0 || v >= counts.length) {
        errors++;
        continue;
      }
      sorted[--counts[v]] = keys[i];
    }
  }
  const lastLocal = last.j < 1 ? 0 : last.j - 1;
  const k = new Int32Array(1);
  const req = me > 0 ? await comm.irecv(k, me - 1, 1000) : undefined;
  if (me < np - 1) await comm.send(sorted.subarray(lastLocal, lastLocal + 1), me + 1, 1000);
  if (req) await comm.wait(req);
  if (s.real) {
    if (me > 0 && last.j > 0 && k[0] > sorted[0]) errors++;
    for (let i = 1; i < last.j; i++) if (sorted[i - 1] > sorted[i]) errors++;
    if (errors !== 0) {
      s.opts.log?.(`Processor ${me}:  Full_verify: number of keys out of sort: ${errors}`);
    } else s.passed++;
  }
  await comm.compute(isWork.fullVerify(last.j));
}

/** Store `n` keys into a buffer in domain memory (the application's own stores). */
function writeInt32(buf: MpiBuffer, a: Int32Array, n: number): void {
  buf.memory.write(buf.addr, new Uint8Array(a.buffer, a.byteOffset, 4 * n));
}

/** The first `n` keys of a buffer in domain memory. */
function readInt32(buf: MpiBuffer, n: number): Int32Array {
  if (n === 0) return new Int32Array(0);
  const b = buf.memory.read(buf.addr, 4 * n);
  return new Int32Array(b.buffer, b.byteOffset, n);
}

async function run(comm: Comm, opts: NasRunOptions): Promise<NasResult | undefined> {
  const cls = opts.cls;
  const p = IS_PARAMS[cls];
  if (!p) throw new Error(`IS has no class ${cls}`);
  // NPB: comm_work = MPI_Comm_dup(MPI_COMM_WORLD) when np is a power of two.
  const work = await comm.dup();
  const np = work.size, me = work.rank;
  const timeron = new Int32Array([0]);
  await work.bcast(timeron, 0);

  const totalKeys = 2 ** p.totalKeysLog2;
  const numKeys = totalKeys / np;
  const sizeOfBuffers = np < 256
    ? (3 * numKeys) / 2
    : np < 512
    ? (5 * numKeys) / 2
    : np < 1024
    ? 4 * numKeys
    : (13 * numKeys) / 2;
  const nb = 2 ** p.numBucketsLog2;
  const maxKey = 2 ** p.maxKeyLog2;
  const s: IsState = {
    cls,
    p,
    comm: work,
    real: opts.compute === "real",
    opts,
    numKeys,
    maxKey,
    nb,
    shift: p.maxKeyLog2 - p.numBucketsLog2,
    keyArray: new Int32Array(sizeOfBuffers),
    hist: new Int32Array(nb),
    kb1: new Int32Array(opts.compute === "real" ? sizeOfBuffers : 0),
    send: work.alloc(sizeOfBuffers, "int32"),
    recv: work.alloc(sizeOfBuffers, "int32"),
    bucketSize: new Int32Array(nb + TEST_ARRAY_SIZE),
    totals: new Int32Array(nb + TEST_ARRAY_SIZE),
    sendCount: new Int32Array(np),
    recvCount: new Int32Array(np),
    passed: 0,
    found: {},
  };

  // The keys: computed in both modes (the redistribution counts depend on them).
  const seed = findMySeed(me, np, 4 * totalKeys, NPB_SEED, NPB_A);
  createSeq(seed, numKeys, maxKey, s.keyArray);
  for (let i = 0; i < numKeys; i++) s.hist[s.keyArray[i] >> s.shift]++;
  await work.compute(isWork.createSeq(numKeys));

  // One untimed iteration, as NPB does, then the timed ten.
  await rank(s, 1);
  s.passed = 0;
  if (me === 0 && cls !== "S") {
    opts.log?.("");
    opts.log?.("   iteration");
  }
  const t0 = work.wtime();
  for (let it = 1; it <= IS_ITERATIONS; it++) {
    if (me === 0 && cls !== "S") opts.log?.(`        ${it}`);
    await rank(s, it);
  }
  const elapsed = new Float64Array([work.wtime() - t0]);
  const maxtime = new Float64Array(1);
  await work.reduce(elapsed, maxtime, "MAX", 0);

  await fullVerify(s);
  const passed = new Int32Array(1);
  await work.reduce(new Int32Array([s.passed]), passed, "SUM", 0);
  if (me !== 0) return undefined;

  const expected = TEST_ARRAY_SIZE * IS_ITERATIONS + np;
  const verified = s.real && passed[0] === expected;
  const t = maxtime[0];
  // NPB's IS prints nothing of its own here unless a check failed (those lines went to log).
  const details = s.real
    ? []
    : [" IS: ranking charged by the model (keys generated, counts exact); nothing to verify."];
  return {
    name: "IS",
    cls,
    size: String(totalKeys),
    iterations: IS_ITERATIONS,
    timeSec: t,
    mops: (IS_ITERATIONS * totalKeys) / t / 1e6,
    opType: "keys ranked",
    verified,
    compute: opts.compute,
    details,
    values: s.real ? { passedChecks: passed[0], keysOnRank0: s.last!.j, ...s.found } : undefined,
    activeProcs: np,
  };
}

/**
 * The IS kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernel } from "./is.ts";
 * assert.equal(kernel.checkNp(4, "S"), undefined);
 * assert.match(kernel.checkNp(6, "S")!, /power of two/);
 * assert.match(kernel.checkNp(256, "S")!, /at most 128/);
 * ```
 */
export const kernel: NasKernel = {
  name: "IS",
  title: "Integer Sort",
  language: "c",
  // Class C (2^27 keys, 1.5 GiB of key buffers) does not fit one JS process.
  classes: ["S", "W", "A", "B"],
  modelClasses: ["S", "W", "A", "B"],
  checkNp(np: number, cls: NasClass): string | undefined {
    // is.c: MIN_PROCS 1, MAX_PROCS 128 for class S and 1024 otherwise; comm_size a power of two.
    const max = cls === "S" ? 128 : 1024;
    if (np > max) return `IS class ${cls} runs on at most ${max} processes (NPB's MAX_PROCS)`;
    if ((np & (np - 1)) !== 0) {
      let pow = 1;
      while (pow * 2 <= np) pow *= 2;
      return `IS needs a power of two number of processes (${np} is not; try ${pow})`;
    }
    return undefined;
  },
  banner(cls: NasClass, np: number): string[] {
    const p = IS_PARAMS[cls];
    return [
      "",
      "",
      " NAS Parallel Benchmarks 3.4 -- IS Benchmark",
      "",
      ` Size:  ${p ? 2 ** p.totalKeysLog2 : 0}  (class ${cls})`,
      ` Iterations:   ${IS_ITERATIONS}`,
      ` Total number of processes:  ${np}`,
    ];
  },
  run,
};

/**
 * The protocol parameters of the library, read from the cost profile's `mpi`
 * group (MVAPICH's names in the comments) and checked for consistency.
 *
 * @module
 */
import type { Profile } from "../sim/profiles/mod.ts";
import { MpiError } from "./errors.ts";
import { HEADER_BYTES, TAIL_BYTES } from "./wire.ts";

/**
 * Parameters the protocol engine runs with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PCIX_SDR_2006 } from "../mod.ts";
 * import { mpiParams } from "./params.ts";
 * const p = mpiParams(PCIX_SDR_2006, 2);
 * assert.equal(p.eagerThreshold, 12288);
 * assert.equal(p.numRdmaBuffer, 64); // doubled for a 2-process job, as MVAPICH does
 * ```
 */
export interface MpiParams {
  /** MV2_IBA_EAGER_THRESHOLD: header + data up to this size go eagerly. */
  eagerThreshold: number;
  /** MV2_VBUF_TOTAL_SIZE. */
  vbufTotalSize: number;
  /** MV2_USE_RDMA_FAST_PATH. */
  rdmaFastPath: boolean;
  /** MV2_RDMA_FAST_PATH_BUF_SIZE: one ring slot. */
  fastPathBufSize: number;
  /** MV2_NUM_RDMA_BUFFER (after the 2-process rule): slots per ring. */
  numRdmaBuffer: number;
  /** MV2_RDMA_EAGER_LIMIT. */
  rdmaEagerLimit: number;
  /** MV2_POLLING_SET_LIMIT. */
  pollingSetLimit: number;
  /** MV2_RNDV_PROTOCOL. */
  rndvProtocol: "RPUT" | "RGET";
  /** MV2_PREPOST_DEPTH. */
  prepostDepth: number;
  /** rdma_prepost_noop_extra. */
  noopExtra: number;
  /** MV2_CREDIT_NOTIFY_THRESHOLD. */
  creditNotifyThreshold: number;
  /** MV2_DEFAULT_MAX_SEND_WQE. */
  maxSendWqe: number;
  /** MV2_MAX_INLINE_SIZE (capped by the HCA at connection time). */
  maxInline: number;
  /** MV2_USE_LAZY_MEM_UNREGISTER. */
  regCache: boolean;
  /** MV2_NDREG_ENTRIES. */
  dregEntries: number;
  /** MV2_DREG_CACHE_LIMIT (0 = none). */
  dregCacheLimit: number;
  /** Send vbufs in the pool (MV2_VBUF_POOL_SIZE = 512, at most 64 per peer here). */
  sendVbufs: number;
  /** ns per message started. */
  sendOverheadNs: number;
  /** ns per packet received. */
  recvOverheadNs: number;
  /** ns per byte of CPU copy. */
  copyNsPerByte: number;
  /** ns per empty poll. */
  emptyPollNs: number;
  /** ns per completion or ring slot read. */
  cqePollNs: number;
  /** PMI message latency, ns. */
  pmiLatencyNs: number;
  /** PMI bytes per ns. */
  pmiBytesPerNs: number;
  /** Flops per ns for `compute`. */
  flopsPerNs: number;
  /** Memory bytes per ns for `compute`. */
  memBytesPerNs: number;
}

/** MV2_VBUF_POOL_SIZE (MVAPICH2 ibv_param.c). */
const VBUF_POOL_SIZE = 512;

/**
 * The parameters for a job of `np` processes on `profile`.
 *
 * @throws MpiError MPI_ERR_ARG when the profile's values contradict each other
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MODERN_GEN5_NDR } from "../mod.ts";
 * import { mpiParams } from "./params.ts";
 * assert.equal(mpiParams(MODERN_GEN5_NDR, 16).rndvProtocol, "RGET");
 * ```
 */
export function mpiParams(profile: Profile, np: number): MpiParams {
  const m = profile.mpi;
  const bad = (msg: string) => {
    throw new MpiError("MPI_ERR_ARG", `profile ${profile.name}: ${msg}`);
  };
  if (m.eagerThreshold > m.vbufTotalSize) {
    bad(
      `mpi.eagerThreshold ${m.eagerThreshold} exceeds mpi.vbufTotalSize ${m.vbufTotalSize} (an eager message must fit one vbuf)`,
    );
  }
  if (m.vbufTotalSize < HEADER_BYTES + TAIL_BYTES) {
    bad(
      `mpi.vbufTotalSize ${m.vbufTotalSize} is below the ${HEADER_BYTES + TAIL_BYTES}-byte header`,
    );
  }
  if (m.eagerThreshold < HEADER_BYTES) {
    bad(`mpi.eagerThreshold ${m.eagerThreshold} is below the ${HEADER_BYTES}-byte header`);
  }
  if (m.fastPathBufSize < HEADER_BYTES + TAIL_BYTES) {
    bad(
      `mpi.fastPathBufSize ${m.fastPathBufSize} is below header + tail (${
        HEADER_BYTES + TAIL_BYTES
      } bytes)`,
    );
  }
  if (m.creditNotifyThreshold > m.prepostDepth) {
    bad(
      `mpi.creditNotifyThreshold ${m.creditNotifyThreshold} exceeds mpi.prepostDepth ${m.prepostDepth} (credits could never be returned)`,
    );
  }
  for (const k of ["rdmaFastPath", "rndvRdmaRead", "regCache"] as const) {
    if (m[k] !== 0 && m[k] !== 1) bad(`mpi.${k} must be 0 or 1 (got ${m[k]})`);
  }
  const perSec = (x: number) => x / 1e9;
  return {
    eagerThreshold: m.eagerThreshold,
    vbufTotalSize: m.vbufTotalSize,
    rdmaFastPath: m.rdmaFastPath === 1 && m.pollingSetLimit > 0,
    fastPathBufSize: m.fastPathBufSize,
    // ibv_param.c (rdma_get_user_parameters): "Ensure BW tests have enough RFP buffers".
    numRdmaBuffer: np === 2 ? Math.max(64, m.numRdmaBuffer) : m.numRdmaBuffer,
    rdmaEagerLimit: m.rdmaEagerLimit,
    pollingSetLimit: m.pollingSetLimit,
    rndvProtocol: m.rndvRdmaRead === 1 ? "RGET" : "RPUT",
    prepostDepth: m.prepostDepth,
    noopExtra: m.noopExtra,
    creditNotifyThreshold: m.creditNotifyThreshold,
    maxSendWqe: m.maxSendWqe,
    maxInline: Math.min(m.maxInline, profile.hca.maxInline),
    regCache: m.regCache === 1,
    dregEntries: m.dregEntries,
    dregCacheLimit: m.dregCacheLimit,
    sendVbufs: Math.max(1, Math.min(VBUF_POOL_SIZE, Math.max(1, np - 1) * m.maxSendWqe)),
    sendOverheadNs: m.sendOverheadNs,
    recvOverheadNs: m.recvOverheadNs,
    copyNsPerByte: 1e9 / profile.cpu.memcpyBytesPerSec,
    emptyPollNs: profile.cpu.emptyPollNs,
    cqePollNs: profile.cpu.cqePollNs,
    pmiLatencyNs: m.pmiLatencyNs,
    pmiBytesPerNs: perSec(m.pmiBytesPerSec),
    flopsPerNs: perSec(m.computeFlopsPerSec),
    memBytesPerNs: perSec(m.computeBytesPerSec),
  };
}

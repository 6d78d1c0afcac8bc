/**
 * MPI over the public verbs API, as MVAPICH is over InfiniBand verbs:
 * communicators, point-to-point with MPI's matching rules, eager (SEND/RECV
 * vbufs and an RDMA-write fast path) and rendezvous (RDMA WRITE or READ)
 * protocols with credit flow control and a pin-down registration cache,
 * collectives with MPICH's algorithms and switch points, computation in
 * virtual time, and a launcher that places ranks on native hosts or Xen
 * guests. It runs unchanged in native, bypass and split domains. The root
 * module exports it as the namespace `mpi`; see docs/mpi.md.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IN_PLACE, mpiexec } from "./mod.ts";
 * const { results } = await mpiexec({ np: 4, mode: "bypass", hosts: 2, guestsPerHost: 2 }, async (comm) => {
 *   const v = new Int32Array([comm.rank]);
 *   await comm.allreduce(IN_PLACE, v, "SUM");
 *   return v[0];
 * });
 * assert.deepEqual(results, [6, 6, 6, 6]);
 * ```
 *
 * @module
 */
export * from "./constants.ts";
export * from "./errors.ts";
export { Group } from "./group.ts";
export * from "./datatype.ts";
export { type Buf, MpiBuffer } from "./buffer.ts";
export { BSEND_OVERHEAD } from "./bsend.ts";
export {
  emptyStatus,
  getCount,
  InStatusError,
  Message,
  MESSAGE_NO_PROC,
  PersistentRequest,
  Request,
  type Status,
  testCancelled,
} from "./request.ts";
export {
  checkOp,
  isCommutative,
  type Op,
  opCreate,
  opFree,
  OPS,
  reduceArrays,
  reduceInto,
  type ReductionOp,
  type UserFunction,
  UserOp,
} from "./ops.ts";
export { Comm, type Errhandler, type ErrhandlerFunction, type ErrorOutcome } from "./comm.ts";
export type { Matched } from "./probe.ts";
export type { Some } from "./completion.ts";
export type { Work } from "./compute.ts";
export type { CollOptions } from "./coll_call.ts";
export { type CartInfo, dimsCreate } from "./topology.ts";
export {
  type AlgorithmOf,
  ALGORITHMS,
  type Collective,
  defaultAlgorithm,
  SWITCH_POINTS,
} from "./coll/tuning.ts";
export { type MpiParams, mpiParams } from "./params.ts";
export type { MpiCounters } from "./process.ts";
export {
  type AccOp,
  LOCK_EXCLUSIVE,
  LOCK_SHARED,
  type LockType,
  MODE,
  Win,
  type WinErrhandler,
  type WinErrhandlerFunction,
  type WinErrorOutcome,
} from "./rma.ts";
export type { MessageCounters } from "./pt2pt.ts";
export type { ChannelCounters } from "./channel.ts";
export type { RegCacheStats } from "./regcache.ts";
export {
  type JobOptions,
  type JobResult,
  MpiJobError,
  type MpiMain,
  type PlannedMigration,
  runJob,
} from "./job.ts";
export {
  launch,
  LAUNCH_LIMITS,
  type Launched,
  type LaunchOptions,
  mpiexec,
  placeRanks,
  type RankPlace,
} from "./launch.ts";

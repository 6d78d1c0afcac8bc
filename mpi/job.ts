/**
 * Running an MPI job on domains of a started cluster: one process per rank
 * (each in its domain), `MPI_Init` (open the HCA, register vbufs and rings,
 * create one RC QP per peer, exchange LIDs and QP numbers through the PMI
 * key-value space, connect, post receives, fence), the program's
 * `main(comm, args)`, and `MPI_Finalize` (barrier, release the device).
 *
 * QPs are connected all-to-all at init, as MVAPICH does below
 * MV2_ON_DEMAND_THRESHOLD (64 processes): connection setup stays out of the
 * timed part of a program, and the cost (n−1 QPs per rank) is small at the
 * sizes this simulator runs.
 *
 * When a rank fails (an MPI error or an exception in the program), the job
 * aborts: the other ranks' pending MPI calls fail too, and the first error is
 * reported with its rank. A job whose ranks all wait for each other reports
 * the deadlock with what each rank waited in.
 *
 * @module
 */
import type { Cluster, Domain, Host, MigrationResult } from "../platform/mod.ts";
import { Channel, type PeerInfo } from "./channel.ts";
import { Comm } from "./comm.ts";
import { MpiError } from "./errors.ts";
import { mpiParams } from "./params.ts";
import { PmiServer } from "./pmi.ts";
import { type MpiCounters, MpiProcess } from "./process.ts";
import { PointToPoint } from "./pt2pt.ts";
import { RegistrationCache } from "./regcache.ts";
import { Access } from "../drivers/verbs/mod.ts";

/**
 * A program: what every rank runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MpiMain } from "./job.ts";
 * import { mpiexec } from "./launch.ts";
 * const hello: MpiMain<string> = (comm, args) => `${args[0]} from ${comm.rank} of ${comm.size}`;
 * const job = await mpiexec({ np: 2, mode: "native", args: ["hi"] }, hello);
 * assert.deepEqual(job.results, ["hi from 0 of 2", "hi from 1 of 2"]);
 * ```
 */
export type MpiMain<T = unknown> = (comm: Comm, args: string[]) => Promise<T> | T;

/**
 * Options of {@link runJob}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { JobOptions } from "./job.ts";
 * const o: JobOptions = { args: ["-n", "10"] };
 * assert.deepEqual(o.args, ["-n", "10"]);
 * ```
 */
export interface JobOptions {
  /** Arguments passed to every rank's `main`. */
  args?: string[];
  /**
   * Receive what ranks print with `console.log`/`console.error` while the job
   * runs (the console is restored afterwards). Without it, output goes to the
   * console unchanged.
   */
  output?: (rank: number, stream: "out" | "err", text: string) => void;
  /**
   * A process run alongside the ranks in the same virtual time, from the
   * job's start (before `MPI_Init`): what happens to the job from outside
   * while it runs — live-migrating a rank's guest (`cluster.migrate`, with
   * the cluster's `nomad` layer on), injecting a fault, sampling counters.
   * It gets the job's cluster and the domain of each rank. The job ends
   * once it has ended too; its value is {@link JobResult.alongside}, and an
   * error it throws fails the job.
   */
  alongside?: (job: { cluster: Cluster; domains: readonly Domain[] }) => unknown;
  /**
   * Live migrations of ranks' guests while the job runs, each started
   * `atNs` after the job's start (`cluster.migrate(domains[rank], to)`);
   * their results are {@link JobResult.migrations}, in this order, and one
   * that fails fails the job. The cluster must run Nomad's layer.
   */
  migrations?: readonly PlannedMigration[];
}

/**
 * Check a list of moves (`{ rank, atNs }` each) of a job of `np` ranks:
 * MPI_ERR_ARG naming the entry of `field` that is wrong.
 *
 * @internal
 */
export function checkMoves<M extends { rank: number; atNs: number }>(
  moves: readonly M[] | undefined,
  np: number,
  field: string,
): readonly M[] {
  if (moves === undefined) return [];
  if (!Array.isArray(moves)) throw new MpiError("MPI_ERR_ARG", `${field} must be a list`);
  moves.forEach((m, i) => {
    const { rank, atNs } = m ?? {};
    if (typeof rank !== "number" || !Number.isInteger(rank) || rank < 0 || rank >= np) {
      throw new MpiError(
        "MPI_ERR_ARG",
        `${field}[${i}].rank must be a rank of the job, 0..${np - 1} (got ${String(rank)})`,
      );
    }
    if (typeof atNs !== "number" || !Number.isFinite(atNs) || atNs < 0) {
      throw new MpiError(
        "MPI_ERR_ARG",
        `${field}[${i}].atNs must be a finite time >= 0 ns (got ${String(atNs)})`,
      );
    }
  });
  return moves;
}

/**
 * A live migration of a rank's guest during a job ({@link JobOptions.migrations}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { launch } from "./launch.ts";
 * const l = await launch({ np: 2, mode: "bypass", migrate: [{ rank: 1, atNs: 5e6 }] });
 * const [m] = l.plannedMigrations;
 * assert.deepEqual([m.rank, m.atNs, m.to.name], [1, 5e6, "spare0"]); // a Xen host of its own
 * ```
 */
export interface PlannedMigration {
  /** The rank whose guest moves (with every rank in that guest). */
  rank: number;
  /** When, after the job's start, ns of virtual time. */
  atNs: number;
  /** The Xen host it moves to. */
  to: Host;
}

/**
 * What a job produced.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * const job = await mpiexec({ np: 2, mode: "native" }, (comm) => comm.compute({ ns: 1000 * (comm.rank + 1) }));
 * assert.deepEqual(job.results, [1000, 2000]);
 * assert.ok(Math.max(...job.mainNs) >= 2000 && job.elapsedNs > job.initNs);
 * ```
 */
export interface JobResult<T = unknown> {
  /** `main`'s return value per rank. */
  results: T[];
  /** Job start until the last rank finished MPI_Init, ns of virtual time. */
  initNs: number;
  /** Per rank: `main`'s duration, ns. */
  mainNs: number[];
  /** Job start until the last rank finished MPI_Finalize, ns. */
  elapsedNs: number;
  /** Per rank counters at the end of `main`. */
  counters: MpiCounters[];
  /** What {@link JobOptions.alongside} returned, if it was given. */
  alongside?: unknown;
  /** What each of {@link JobOptions.migrations} did and cost, if they were given. */
  migrations?: MigrationResult[];
}

/**
 * An error of the job, naming the rank it happened on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MpiJobError } from "./job.ts";
 * const e = new MpiJobError(2, new Error("boom"));
 * assert.equal(e.message, "rank 2: boom");
 * assert.equal(e.name, "MpiJobError");
 * ```
 */
export class MpiJobError extends Error {
  /**
   * @param rank world rank that failed (-1: the job as a whole, e.g. a deadlock)
   * @param cause what it threw
   */
  constructor(readonly rank: number, override readonly cause: unknown) {
    const msg = cause instanceof MpiError
      ? cause.message
      : cause instanceof Error
      ? (cause.name && cause.name !== "Error" ? `${cause.name}: ${cause.message}` : cause.message)
      : String(cause);
    super(rank >= 0 ? `rank ${rank}: ${msg}` : msg);
    this.name = "MpiJobError";
  }
}

/**
 * Run `main` on one rank per entry of `domains` (rank i in `domains[i]`;
 * several ranks may share a domain). The cluster must be started and not
 * running.
 *
 * @throws MpiJobError with the first failing rank, or the deadlock
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../mod.ts";
 * import { runJob } from "./job.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const hosts = [0, 1].map((i) => cluster.addHost({ name: `n${i}`, hypervisor: false }));
 * await cluster.start();
 * const job = await runJob(cluster, hosts.map((h) => h.os), async (comm) => {
 *   const x = new Int32Array([comm.rank]);
 *   if (comm.rank === 0) await comm.send(new Int32Array([42]), 1, 7);
 *   else await comm.recv(x, 0, 7);
 *   return x[0];
 * });
 * assert.deepEqual(job.results, [0, 42]);
 * // Something beside the ranks, in the same virtual time (a migration, a fault …).
 * const side = await runJob(cluster, hosts.map((h) => h.os), (comm) => comm.compute({ ns: 5_000 }), {
 *   alongside: async () => {
 *     await cluster.sleep(2_000);
 *     return cluster.now;
 *   },
 * });
 * assert.ok((side.alongside as number) > 2_000 && side.elapsedNs > 5_000);
 * ```
 */
export async function runJob<T>(
  cluster: Cluster,
  domains: readonly Domain[],
  main: MpiMain<T>,
  opts: JobOptions = {},
): Promise<JobResult<T>> {
  if (typeof main !== "function") {
    throw new MpiJobError(
      -1,
      new MpiError("MPI_ERR_ARG", `main must be a function (comm, args), got ${typeof main}`),
    );
  }
  const np = domains.length;
  if (!Number.isInteger(np) || np < 1) {
    throw new MpiJobError(-1, new MpiError("MPI_ERR_ARG", "a job needs at least one rank"));
  }
  try {
    checkMoves(opts.migrations, np, "migrations");
  } catch (e) {
    throw new MpiJobError(-1, e);
  }
  const params = mpiParams(cluster.profile, np);
  const engine = cluster.engine;
  const pmi = new PmiServer(engine, np, params.pmiLatencyNs, params.pmiBytesPerNs);
  const channels: (Channel | undefined)[] = new Array(np);
  const results: T[] = new Array(np);
  const mainNs = new Array<number>(np).fill(0);
  const counters: MpiCounters[] = new Array(np);
  const initAt = new Array<number>(np).fill(0);
  let first: MpiJobError | undefined;
  let aborting = false;
  const args = opts.args ?? [];

  const abort = (rank: number, e: unknown, what?: string) => {
    if (aborting) return;
    aborting = true;
    first = new MpiJobError(rank, e);
    if (what) first.message = `${what}: ${first.message}`;
    const why = new MpiError("MPI_ERR_OTHER", `job aborted: rank ${rank} failed`);
    for (const ch of channels) {
      if (!ch) continue;
      ch.failure ??= why;
      ch.kick();
    }
  };

  const rank = async (r: number): Promise<void> => {
    const dom = domains[r];
    let ch: Channel;
    try {
      ch = await Channel.open(dom, r, np, params);
      channels[r] = ch;
      if (aborting) throw new MpiError("MPI_ERR_OTHER", "job aborted");
      const cache = new RegistrationCache(ch.pd, {
        enabled: params.regCache,
        maxEntries: params.dregEntries,
        maxBytes: params.dregCacheLimit,
        access: Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ,
      });
      const p2p = new PointToPoint(ch, params, cache);
      const proc = new MpiProcess(dom, r, np, params, ch, p2p, cache);
      await pmi.put(`rank${r}`, encodeInfo(ch.info()));
      await pmi.fence(`MPI_Init, rank ${r}`);
      const peers: PeerInfo[] = [];
      for (let p = 0; p < np; p++) peers.push(decodeInfo(pmi.get(`rank${p}`)));
      await ch.connect(peers, p2p);
      // Every rank has posted its receives before anyone sends.
      await pmi.fence(`MPI_Init (connected), rank ${r}`);
      initAt[r] = engine.now;
      const world = new Comm(proc, Array.from({ length: np }, (_, i) => i), r, 0, "MPI_COMM_WORLD");
      const t0 = ch.cpu.busyUntil();
      results[r] = await main(world, [...args]);
      mainNs[r] = ch.cpu.busyUntil() - t0;
      counters[r] = proc.counters();
      // MPI_Finalize (its barrier's error is the job's, whatever handler the program set).
      const fin: unknown = await world.barrier();
      if (fin instanceof MpiError) throw fin;
      proc.finalized = true;
      await ch.close();
    } catch (e) {
      abort(r, e);
    }
  };

  const restore = opts.output ? captureConsole(engine, opts.output) : undefined;
  let elapsed = 0;
  let alongside: unknown;
  const moved: MigrationResult[] = [];
  try {
    await cluster.run(async () => {
      const t0 = engine.now;
      const side = opts.alongside;
      const beside = [];
      if (side) {
        beside.push(cluster.spawn("alongside the job", async () => {
          try {
            alongside = await side({ cluster, domains });
          } catch (e) {
            abort(-1, e, "alongside the job");
          }
        }));
      }
      (opts.migrations ?? []).forEach((m, i) => {
        const what = `migration of rank ${m.rank}'s guest to ${m.to?.name}`;
        beside.push(cluster.spawn(what, async () => {
          try {
            await cluster.sleep(m.atNs);
            moved[i] = await cluster.migrate(domains[m.rank], m.to);
          } catch (e) {
            abort(-1, e, what);
          }
        }));
      });
      await Promise.all(domains.map((_, r) => cluster.spawn(`rank ${r}`, () => rank(r))));
      elapsed = engine.now - t0;
      await Promise.all(beside);
      for (let r = 0; r < np; r++) initAt[r] -= t0;
    });
  } catch (e) {
    if (first) throw first;
    if (e instanceof Error && e.name === "DeadlockError") throw deadlock(e);
    throw e;
  } finally {
    restore?.();
  }
  if (first) throw first;
  const result: JobResult<T> = {
    results,
    initNs: Math.max(...initAt),
    mainNs,
    elapsedNs: elapsed,
    counters,
  };
  if (opts.alongside) result.alongside = alongside;
  if (opts.migrations?.length) result.migrations = moved;
  return result;
}

/** A deadlock, told by what each rank waits in. */
function deadlock(e: Error): MpiJobError {
  const waiters = (e as Error & { waiters?: { name: string; waitingOn: string }[] }).waiters ?? [];
  const ranks = waiters
    .filter((w) => /^rank \d+$/.test(w.name))
    .map((w) => `${w.name} in ${w.waitingOn.replace(/^memory write \((.*) on rank \d+\)$/, "$1")}`);
  const at = /t=(\d+)/.exec(e.message)?.[1];
  return new MpiJobError(
    -1,
    new MpiError(
      "MPI_ERR_OTHER",
      `deadlock at ${at ? (Number(at) / 1000).toFixed(2) + " µs" : "?"}: every rank waits: ${
        ranks.join("; ") || e.message
      }`,
    ),
  );
}

/** Route console output of rank processes to `out`; returns the restore function. */
function captureConsole(
  engine: Cluster["engine"],
  out: (rank: number, stream: "out" | "err", text: string) => void,
): () => void {
  const saved = { log: console.log, info: console.info, error: console.error, warn: console.warn };
  const who = (): number => {
    const m = /^rank (\d+)/.exec(engine.current()?.name ?? "");
    return m ? Number(m[1]) : -1;
  };
  const route = (stream: "out" | "err", orig: (...a: unknown[]) => void) => (...a: unknown[]) => {
    const r = who();
    if (r < 0) return orig(...a);
    out(r, stream, a.map((x) => (typeof x === "string" ? x : Deno.inspect(x))).join(" "));
  };
  console.log = route("out", saved.log);
  console.info = route("out", saved.info);
  console.error = route("err", saved.error);
  console.warn = route("err", saved.warn);
  return () => Object.assign(console, saved);
}

function encodeInfo(info: PeerInfo): Uint8Array {
  const b = new Uint8Array(4 + 4 * info.qpns.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, info.lid, true);
  info.qpns.forEach((q, i) => v.setUint32(4 + 4 * i, q, true));
  return b;
}

function decodeInfo(b: Uint8Array): PeerInfo {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const qpns = [];
  for (let o = 4; o < b.byteLength; o += 4) qpns.push(v.getUint32(o, true));
  return { lid: v.getUint32(0, true), qpns };
}

/**
 * The paper's application-level evaluation as independent points: an OSU
 * micro-benchmark (osu_latency, osu_bw: OMB 7.0's method through xenib's
 * MPI, `mpi/`) or a NAS Parallel Benchmarks kernel in one mode, each on a
 * cluster of its own built from the environment (profile, seed, noise).
 *
 * @module
 */
import { mpi } from "../../mod.ts";
import type { RunEnv } from "./metrics.ts";
import type { Mode } from "./perftest_args.ts";
import { parseOsuArgs } from "./osu_args.ts";
import { osuProgram } from "./osu_bench.ts";
import { runNas } from "./nas_run.ts";
import type { NasClass } from "../nas/kernel.ts";

/**
 * Where an MPI job runs: ranks, hosts, and (bypass, split) guests per host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jobLayout, type JobShape } from "./paper_app.ts";
 * const s: JobShape = { np: 16, hosts: 8, guestsPerHost: 2 };
 * assert.equal(jobLayout(s, "bypass"), "16 ranks on 8 Xen hosts × 2 bypass guests");
 * assert.equal(jobLayout(s, "native"), "16 ranks on 8 bare-metal hosts × 2 processes");
 * ```
 */
export interface JobShape {
  np: number;
  hosts: number;
  /** Guests per Xen host; on bare metal the same number of ranks share each host's OS. */
  guestsPerHost: number;
}

/**
 * The layout of a job in words.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jobLayout } from "./paper_app.ts";
 * assert.equal(jobLayout({ np: 2, hosts: 2, guestsPerHost: 1 }, "split"), "2 ranks on 2 Xen hosts × 1 split guest");
 * ```
 */
export function jobLayout(s: JobShape, mode: Mode): string {
  const g = s.guestsPerHost;
  return mode === "native"
    ? `${s.np} ranks on ${s.hosts} bare-metal hosts × ${g} process${g === 1 ? "" : "es"}`
    : `${s.np} ranks on ${s.hosts} Xen hosts × ${g} ${mode} guest${g === 1 ? "" : "s"}`;
}

/**
 * One OSU run's rows: message size and value (µs for osu_latency, MB/s =
 * 10^6 B/s for osu_bw, as OSU prints them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { OsuPoint } from "./paper_app.ts";
 * const p: OsuPoint = { size: 8, value: 5.53 };
 * assert.equal(p.size, 8);
 * ```
 */
export interface OsuPoint {
  size: number;
  value: number;
}

/**
 * Run an OSU benchmark (`args`: its name and OSU's flags) on two ranks, one
 * per host, in `mode`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { osuPoints } from "./paper_app.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const env = { profile: PCIX_SDR_2006, seed: 1, noise: "off" as const };
 * const args = ["osu_latency", "-m", "8:8", "-i", "50", "-x", "5"];
 * const native = await osuPoints(args, "native", env);
 * const bypass = await osuPoints(args, "bypass", env);
 * assert.deepEqual(native.map((p) => p.size), [8]);
 * assert.equal(bypass[0].value.toFixed(3), native[0].value.toFixed(3)); // the same fast path
 * ```
 */
export async function osuPoints(args: string[], mode: Mode, env: RunEnv): Promise<OsuPoint[]> {
  const cfg = parseOsuArgs(args);
  const main = osuProgram(cfg, 2, () => {});
  const job = await mpi.mpiexec(
    { np: 2, mode, profile: env.profile, seed: env.seed, noise: env.noise },
    main,
  );
  return job.results[0]!.rows.map((r) => ({ size: r.size ?? 0, value: r.value }));
}

/**
 * One NAS kernel's figures in one mode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NasPoint } from "./paper_app.ts";
 * const p: NasPoint = { kernel: "IS", cls: "S", timeSec: 0.0074, mops: 8.9, verified: true, compute: "real" };
 * assert.equal(p.kernel, "IS");
 * ```
 */
export interface NasPoint {
  kernel: string;
  cls: NasClass;
  /** NPB's timed section, virtual seconds. */
  timeSec: number;
  mops: number;
  /** Verification against NPB's reference values (model computation: not performed). */
  verified: boolean;
  compute: "real" | "model";
}

/**
 * Run a NAS kernel at `cls` with the job's shape in `mode` (computation
 * "auto": real for classes S and W, by the model for A and B where the
 * kernel can).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nasPoint } from "./paper_app.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const env = { profile: PCIX_SDR_2006, seed: 1, noise: "off" as const };
 * const shape = { np: 4, hosts: 2, guestsPerHost: 2 };
 * const p = await nasPoint("IS", "S", shape, "bypass", env);
 * assert.deepEqual([p.kernel, p.verified, p.compute], ["IS", true, "real"]);
 * assert.ok(p.timeSec > 0);
 * ```
 */
export async function nasPoint(
  kernel: string,
  cls: NasClass,
  shape: JobShape,
  mode: Mode,
  env: RunEnv,
): Promise<NasPoint> {
  const r = await runNas({
    kernel,
    cls,
    np: shape.np,
    mode,
    hosts: shape.hosts,
    guestsPerHost: mode === "native" ? undefined : shape.guestsPerHost,
    profile: env.profile,
    seed: env.seed,
    noise: env.noise,
  });
  return {
    kernel: r.name,
    cls: r.cls,
    timeSec: r.timeSec,
    mops: r.mops,
    verified: r.verified,
    compute: r.compute,
  };
}

/**
 * `runNas`: one NAS Parallel Benchmarks kernel on a simulated cluster, as
 * `mpirun -np N ./xx.C.N` would run it — the cluster built for the mode
 * (bare-metal hosts, or Xen hosts with bypass or split guests), the ranks
 * placed, the kernel's `run` on every rank, and NPB's output (banner,
 * progress lines, the kernel's own verification lines, the closing report)
 * returned as text with the figures. `deno task nas` and the paper report
 * call it.
 *
 * @module
 */
import { mpi, type Profile } from "../../mod.ts";
import type { ComputeMode, NasClass, NasHooks, NasKernel, NasResult } from "../nas/kernel.ts";
import { findKernel, KERNELS } from "../nas/registry.ts";
import { type NasPlatform, printResults } from "../nas/report.ts";
import { loadToolProfile, ToolError } from "./api.ts";
import { migrationLines } from "./mpi_run.ts";

/**
 * What to run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NasOptions } from "./nas_run.ts";
 * const o: NasOptions = { kernel: "IS", cls: "A", np: 16, mode: "bypass", hosts: 8, guestsPerHost: 2 };
 * assert.equal(o.np, 16);
 * ```
 */
export interface NasOptions {
  /** Kernel name ("EP", "IS", …; case-insensitive). */
  kernel: string;
  cls: NasClass;
  /**
   * The kernel's graph (DT: "BH", "WH" or "SH", case-insensitive); absent:
   * the kernel's default. A kernel that takes none refuses one.
   */
  graph?: string;
  np: number;
  mode: "native" | "bypass" | "split";
  /** Hosts (default: np for native, ⌈np / guestsPerHost⌉ otherwise). */
  hosts?: number;
  /** Guests per Xen host (bypass and split). */
  guestsPerHost?: number;
  /** Memory of each guest, MiB (bypass and split; default 512). */
  guestMemoryMiB?: number;
  map?: "block" | "cyclic";
  /** Built-in profile name, a `FILE.yaml` (resolved from where the user ran the task), or a Profile. */
  profile?: string | Profile;
  seed?: number;
  /** The profile's seeded noise model (default "off", the library's; the CLI's default is "on"). */
  noise?: "on" | "off";
  /** Live migrations of ranks' guests during the run (`mpi.LaunchOptions.migrate`). */
  migrate?: readonly { rank: number; atNs: number }[];
  /** "auto" (default): real for S and W, model for A and B where the kernel can. */
  compute?: ComputeMode | "auto";
  /** Lines as they are printed (banner, progress, any rank's messages), in order. */
  print?: (line: string) => void;
  /** Test hooks handed to the kernel. */
  hooks?: NasHooks;
  /** Called once the cluster is built and started, before the job (e.g. to attach a capture). */
  onLaunched?: (l: mpi.Launched) => void | Promise<void>;
}

/**
 * What a run gives: the kernel's result plus where it ran and NPB's text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NasRunResult } from "./nas_run.ts";
 * const ok = (r: NasRunResult) => r.verified && r.report.includes(" Verification    =               SUCCESSFUL");
 * assert.equal(typeof ok, "function");
 * ```
 */
export interface NasRunResult extends NasResult {
  /** Processes the job ran. */
  totalProcs: number;
  /** The graph the kernel ran (DT); absent for a kernel that takes none. */
  graph?: string;
  /** The simulated platform. */
  platform: NasPlatform;
  /** Everything NPB prints, in order: banner, progress lines, the kernel's lines, the report. */
  report: string[];
  /** Per-rank MPI counters at the end of the kernel. */
  counters: mpi.MpiCounters[];
  /** Per-rank virtual time of the kernel (ns). */
  mainNs: number[];
}

/**
 * The compute mode `auto` resolves to for `kernel` at `cls`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveCompute } from "./nas_run.ts";
 * import { kernel } from "../nas/ep.ts";
 * assert.equal(resolveCompute(kernel, "S", "auto"), "real");
 * assert.equal(resolveCompute(kernel, "A", "auto"), "model");
 * ```
 */
export function resolveCompute(
  kernel: NasKernel,
  cls: NasClass,
  compute: ComputeMode | "auto",
): ComputeMode {
  if (compute !== "auto") return compute;
  return (cls === "A" || cls === "B" || cls === "C") && kernel.modelClasses.includes(cls)
    ? "model"
    : "real";
}

/**
 * The kernel called `name`, or a one-line error naming the kernels there are.
 *
 * @throws ToolError naming the kernel and what is available
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernelByName } from "./nas_run.ts";
 * assert.equal(kernelByName("is").name, "IS");
 * assert.throws(() => kernelByName("QQ"), /unknown kernel 'QQ'/);
 * ```
 */
export function kernelByName(name: string): NasKernel {
  const k = findKernel(name);
  if (k) return k;
  const have = KERNELS.map((x) => x.name).join(", ");
  throw new ToolError(`unknown kernel '${name}' (have: ${have})`);
}

/**
 * Check a run's options against the kernel and NPB's rules.
 *
 * @throws ToolError naming what is wrong
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkNasOptions } from "./nas_run.ts";
 * assert.throws(() => checkNasOptions({ kernel: "IS", cls: "S", np: 3, mode: "native" }), /power of two/);
 * assert.equal(checkNasOptions({ kernel: "ep", cls: "S", np: 3, mode: "native" }).kernel.name, "EP");
 * ```
 */
export function checkNasOptions(
  o: NasOptions,
): { kernel: NasKernel; compute: ComputeMode; graph?: string } {
  const kernel = kernelByName(o.kernel);
  const graph = checkGraph(kernel, o.graph);
  return { kernel, compute: checkKernelOptions(kernel, { ...o, graph }), graph };
}

/**
 * The graph a run of `kernel` uses: `graph` upper-cased if the kernel takes
 * it, the kernel's default if absent; undefined for a kernel that takes none.
 *
 * @throws ToolError for a graph the kernel does not have, or any graph for a kernel that takes none
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkGraph } from "./nas_run.ts";
 * import { kernel as dt } from "../nas/dt.ts";
 * import { kernel as is } from "../nas/is.ts";
 * assert.equal(checkGraph(dt, undefined), "BH");
 * assert.equal(checkGraph(dt, "sh"), "SH");
 * assert.throws(() => checkGraph(dt, "XY"), { message: "--graph: 'XY' is not a DT graph (BH, WH, SH)" });
 * assert.throws(() => checkGraph(is, "BH"), /--graph: IS takes no graph/);
 * assert.equal(checkGraph(is, undefined), undefined);
 * ```
 */
export function checkGraph(kernel: NasKernel, graph: string | undefined): string | undefined {
  const graphs = kernel.graphs;
  if (!graphs?.length) {
    if (graph === undefined) return undefined;
    const takers = KERNELS.filter((k) => k.graphs?.length).map((k) => k.name).join(", ");
    throw new ToolError(`--graph: ${kernel.name} takes no graph (only ${takers} does)`);
  }
  if (graph === undefined) return graphs[0];
  const g = graph.toUpperCase();
  if (!graphs.includes(g)) {
    throw new ToolError(`--graph: '${graph}' is not a ${kernel.name} graph (${graphs.join(", ")})`);
  }
  return g;
}

/**
 * Check class, process count and compute mode against `kernel`; returns the
 * compute mode to use.
 *
 * @throws ToolError naming what is wrong
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkKernelOptions } from "./nas_run.ts";
 * import { kernel } from "../nas/ep.ts";
 * const only = { ...kernel, classes: ["S", "W"] as const, modelClasses: [] as const };
 * assert.throws(() => checkKernelOptions(only, { cls: "A", np: 2 }), /EP has no class A here \(classes: S, W\)/);
 * assert.throws(() => checkKernelOptions(only, { cls: "S", np: 2, compute: "model" }), /cannot charge/);
 * assert.equal(checkKernelOptions(kernel, { cls: "B", np: 16 }), "model");
 * ```
 */
export function checkKernelOptions(
  kernel: NasKernel,
  o: Pick<NasOptions, "cls" | "np" | "compute" | "graph">,
): ComputeMode {
  if (!kernel.classes.includes(o.cls)) {
    throw new ToolError(
      `${kernel.name} has no class ${o.cls} here (classes: ${kernel.classes.join(", ")})`,
    );
  }
  if (!Number.isInteger(o.np) || o.np < 1) {
    throw new ToolError(`--np must be a whole number >= 1 (got ${o.np})`);
  }
  const why = kernel.checkNp(o.np, o.cls, o.graph);
  if (why) throw new ToolError(`--np ${o.np}: ${why}`);
  const compute = resolveCompute(kernel, o.cls, o.compute ?? "auto");
  if (compute === "model" && !kernel.modelClasses.includes(o.cls)) {
    throw new ToolError(
      `${kernel.name} class ${o.cls} cannot charge its computation by the model (model classes: ${
        kernel.modelClasses.join(", ") || "none"
      }); use --compute real`,
    );
  }
  return compute;
}

/**
 * Run one kernel and return its result and NPB's text.
 *
 * @throws ToolError for bad options; MpiJobError if a rank fails
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runNas } from "./nas_run.ts";
 * const r = await runNas({ kernel: "IS", cls: "S", np: 2, mode: "native" });
 * assert.equal(r.verified, true);
 * assert.ok(r.report.includes(" IS Benchmark Completed"));
 * ```
 */
export async function runNas(o: NasOptions): Promise<NasRunResult> {
  const { kernel, compute, graph } = checkNasOptions(o);
  const profile = typeof o.profile === "object"
    ? o.profile
    : await userProfile(o.profile ?? "pcix-sdr-2006");
  const report: string[] = [];
  const say = (line: string) => {
    report.push(line);
    o.print?.(line);
  };
  const launched = await launchOrExplain({
    np: o.np,
    mode: o.mode,
    hosts: o.hosts,
    guestsPerHost: o.guestsPerHost,
    guestMemoryMiB: o.guestMemoryMiB,
    map: o.map,
    profile,
    seed: o.seed,
    noise: o.noise,
    migrate: o.migrate,
  });
  await o.onLaunched?.(launched);
  const params = mpi.mpiParams(profile, o.np);
  const platform: NasPlatform = {
    mode: o.mode,
    hosts: launched.hosts.length,
    guestsPerHost: o.mode === "native" ? undefined : o.guestsPerHost ?? 1,
    map: o.map ?? "block",
    profile: profile.name,
    seed: o.seed ?? 1,
    eagerThreshold: params.eagerThreshold,
    rendezvous: params.rndvProtocol,
  };
  for (const l of kernel.banner?.(o.cls, o.np, graph) ?? genericBanner(kernel.name, o.cls, o.np)) {
    say(l);
  }
  const job = await mpi.runJob(
    launched.cluster,
    launched.domains,
    (comm) => kernel.run(comm, { cls: o.cls, compute, graph, log: say, hooks: o.hooks }),
    { migrations: launched.plannedMigrations },
  );
  const r = job.results[0];
  if (!r) throw new ToolError(`${kernel.name}: rank 0 returned no result`);
  for (const l of r.details) say(l);
  for (const l of printResults(r, { language: kernel.language, totalProcs: o.np, platform })) {
    say(l);
  }
  for (const l of migrationLines({ ...job, ...launched })) say(` Live migration: ${l}`);
  return {
    ...r,
    totalProcs: o.np,
    ...(graph !== undefined ? { graph } : {}),
    platform,
    report,
    counters: job.counters,
    mainNs: job.mainNs,
  };
}

/** A banner for a kernel that brings none: NPB's first line and the run's shape. */
function genericBanner(name: string, cls: NasClass, np: number): string[] {
  return [
    "",
    ` NAS Parallel Benchmarks 3.4 -- ${name} Benchmark`,
    "",
    ` Class:  ${cls}`,
    ` Total number of processes:  ${np}`,
    "",
  ];
}

/** `--profile` as the user typed it (a name or a YAML file); errors are one-line tool errors. */
function userProfile(spec: string): Promise<Profile> {
  return loadToolProfile(spec);
}

/** `mpi.launch`, its argument errors as one-line tool errors. */
async function launchOrExplain(opts: mpi.LaunchOptions): Promise<mpi.Launched> {
  try {
    return await mpi.launch(opts);
  } catch (e) {
    if (e instanceof mpi.MpiError) throw new ToolError(e.message);
    throw e;
  }
}

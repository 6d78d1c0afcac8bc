/**
 * What `mpirun` (and `osu`) need around the MPI library: the profile and
 * the program loaded from a path the user typed, rank-prefixed output, and
 * the end-of-job summary (virtual time, what crossed each host's hypervisor
 * and HCA, the MPI library's own counters).
 *
 * @module
 */
import { pathToFileURL } from "node:url";
import type { mpi } from "../../mod.ts";
import { ToolError } from "./api.ts";
import { userFile } from "./cli.ts";

/**
 * Import a program file and return its exported `main(comm, args)`.
 *
 * @throws ToolError naming the file: missing, unreadable, not loadable, or without `main`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadProgram } from "./mpi_run.ts";
 * await assert.rejects(() => loadProgram("no/such/program.ts"), /no such file/);
 * await assert.rejects(() => loadProgram(""), { message: "the program: empty file name" });
 * ```
 */
export async function loadProgram(path: string): Promise<mpi.MpiMain> {
  const file = userFile(path, "the program");
  try {
    const st = await Deno.stat(file);
    if (!st.isFile) throw new ToolError(`${path}: not a file`);
  } catch (e) {
    if (e instanceof ToolError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new ToolError(`${path}: no such file (looked at ${file})`);
    }
    if (e instanceof Deno.errors.NotCapable) {
      const dir = file.slice(0, file.lastIndexOf("/")) || "/";
      throw new ToolError(
        `${path}: cannot read it: no read permission (deno task mpirun grants the program's ` +
          `directory; running the script by hand, add --allow-read=${dir})`,
      );
    }
    throw new ToolError(`${path}: cannot read (${(e as Error).message})`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
    const first = String((e as Error).message ?? e).split("\n")[0];
    throw new ToolError(`${path}: cannot load the program: ${first}`);
  }
  const main = mod.main;
  if (typeof main !== "function") {
    throw new ToolError(`${path}: exports no main(comm, args) function`);
  }
  return main as mpi.MpiMain;
}

/**
 * Prefix every line of `text` with the rank, as `mpirun` prints output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rankLines } from "./mpi_run.ts";
 * assert.deepEqual(rankLines(3, "a\nb"), ["[3] a", "[3] b"]);
 * ```
 */
export function rankLines(rank: number, text: string): string[] {
  return text.split("\n").map((l) => `[${rank}] ${l}`);
}

/**
 * One line per live migration a job ran (`--migrate`): whose guest, from
 * where to where, when, and what it cost the job.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpi } from "../../mod.ts";
 * import { migrationLines } from "./mpi_run.ts";
 * const job = await mpi.mpiexec(
 *   { np: 2, mode: "bypass", guestMemoryMiB: 16, migrate: [{ rank: 1, atNs: 1e6 }] },
 *   (comm) => comm.compute({ ns: 60e6 }),
 * );
 * const [line] = migrationLines(job);
 * assert.match(line, /^rank 1's guest node1-vm0 moved node1 → spare0 at 1\.00 ms: downtime [\d.]+ ms/);
 * ```
 */
export function migrationLines(job: mpi.JobResult & mpi.Launched): string[] {
  const ms = (ns: number) => `${(ns / 1e6).toFixed(2)} ms`;
  return (job.migrations ?? []).map((r, i) => {
    const plan = job.plannedMigrations[i];
    return `rank ${plan.rank}'s guest ${r.guest} moved ${r.from} → ${r.to} at ${ms(plan.atNs)}: ` +
      `downtime ${ms(r.downtimeNs)}, migration ${ms(r.totalNs)}, ${r.rounds.length} round(s), ` +
      `${r.connections} connection(s) moved`;
  });
}

/**
 * The end-of-job summary: layout, virtual times, and per host what crossed
 * its hypervisor and HCA during the whole job (MPI_Init included) with the
 * MPI counters of the ranks on it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpi } from "../../mod.ts";
 * import { summary } from "./mpi_run.ts";
 * const job = await mpi.mpiexec({ np: 2, mode: "native" }, () => 0);
 * const text = summary(job, { np: 2, mode: "native", map: "block", profile: "pcix-sdr-2006", seed: 1 }).join("\n");
 * assert.ok(text.includes("virtual time"));
 * assert.ok(text.includes("node1"));
 * ```
 */
export function summary(
  job: mpi.JobResult & mpi.Launched,
  o: {
    np: number;
    mode: string;
    map: string;
    profile: string;
    seed: number;
    guestsPerHost?: number;
  },
): string[] {
  const hosts = job.hosts;
  const layout = o.mode === "native"
    ? `${hosts.length} bare-metal host(s)`
    : `${hosts.length} Xen host(s) × ${o.guestsPerHost ?? 1} ${o.mode} guest(s)`;
  const us = (ns: number) => `${(ns / 1000).toFixed(2)} µs`;
  const lines = [
    `mpirun: ${o.np} rank(s) on ${layout}, map ${o.map}, profile ${job.cluster.profile.name}, seed ${o.seed}, noise ${job.cluster.noise}`,
    `mpirun: virtual time ${us(job.elapsedNs)} (MPI_Init ${us(job.initNs)}, main ${
      us(Math.max(...job.mainNs))
    } on the slowest rank)`,
    ...migrationLines(job).map((l) => `mpirun: ${l}`),
  ];
  const head = [
    "host",
    "ranks",
    "hypercalls",
    "evtchnSends",
    "backendRequests",
    "grantMaps",
    "dom0BusyNs",
    "packetsSent",
    "eager",
    "rdmaFastPath",
    "rndv",
    "regMr",
    "regCacheHits",
  ];
  const rows = hosts.map((h) => {
    const ranks = job.placement.filter((p) => p.host === h.name).map((p) => p.rank);
    const c = h.counters();
    const sum = (f: (m: mpi.MpiCounters) => number) =>
      ranks.reduce((s, r) => s + (job.counters[r] ? f(job.counters[r]) : 0), 0);
    return [
      h.name,
      ranges(ranks),
      String(c.hypercalls),
      String(c.evtchnSends),
      String(c.backendRequests),
      String(c.grantMaps),
      String(c.dom0BusyNs),
      String(h.hca.stats().packetsSent),
      String(sum((m) => m.eagerSend)),
      String(sum((m) => m.eagerRdma)),
      String(sum((m) => m.rndvRput + m.rndvRget)),
      String(sum((m) => m.regCache.registrations)),
      String(sum((m) => m.regCache.hits)),
    ];
  });
  const widths = head.map((x, i) => Math.max(x.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]) =>
    " " + cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  lines.push(
    "mpirun: per host over the whole job (MPI counters of the ranks on it, at the end of main):",
  );
  lines.push(fmt(head), ...rows.map(fmt));
  return lines;
}

/** `[0, 1, 2, 5]` → `"0-2,5"`. */
function ranges(xs: number[]): string {
  if (xs.length === 0) return "-";
  const out: string[] = [];
  let a = xs[0], b = xs[0];
  for (const x of [...xs.slice(1), NaN]) {
    if (x === b + 1) b = x;
    else {
      out.push(a === b ? `${a}` : `${a}-${b}`);
      a = b = x;
    }
  }
  return out.join(",");
}

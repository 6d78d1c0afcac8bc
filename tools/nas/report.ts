/**
 * NPB's closing report, laid out as NPB 3.4-MPI prints it: the Fortran
 * kernels' `print_results` (`common/print_results.f90`) and the C kernels'
 * `c_print_results` (`common/c_print_results.c`, IS and DT), field for field and
 * column for column. What NPB prints about the build (compile date, compiler
 * and flags) has no meaning here and is replaced, in the same layout, by the
 * run's computation mode and the simulated platform the run used; NPB's
 * closing request to mail results to the NPB team is left out (these are not
 * NPB's programs).
 *
 * A model-mode run computed no results: its verification line reads
 * `NOT PERFORMED`, as NPB prints it where a verification cannot be done.
 *
 * @module
 */
import { cD, cF, fortranA, fortranF, fortranI } from "./format.ts";
import type { NasResult } from "./kernel.ts";

/**
 * The NPB release the kernels follow, which `print_results` prints as
 * `Version` (its `npbversion` is setparams.c's VERSION, the release: "3.4.2";
 * the banners say "3.4", as NPB's kernels hard-code it). 3.4.2 it is: EP
 * verifies the pair count and sums |X|, |Y| (NPB's Changes.log, 3.4.2) and CG
 * prints ζ every iteration (3.4.3 prints iterations 1, 5, 10, … and niter).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NPB_VERSION } from "./report.ts";
 * assert.equal(NPB_VERSION, "3.4.2");
 * ```
 */
export const NPB_VERSION = "3.4.2";

/**
 * Where the run ran, for the lines that replace NPB's compile options.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NasPlatform } from "./report.ts";
 * const p: NasPlatform = { mode: "bypass", hosts: 8, guestsPerHost: 2, map: "block",
 *   profile: "pcix-sdr-2006", seed: 1, eagerThreshold: 12288, rendezvous: "RPUT" };
 * assert.equal(p.hosts * (p.guestsPerHost ?? 1), 16);
 * ```
 */
export interface NasPlatform {
  mode: "native" | "bypass" | "split";
  hosts: number;
  /** Guests per Xen host (bypass, split). */
  guestsPerHost?: number;
  map: "block" | "cyclic";
  /** Profile name. */
  profile: string;
  seed: number;
  /** MV2_IBA_EAGER_THRESHOLD of the profile. */
  eagerThreshold: number;
  /** The rendezvous protocol. */
  rendezvous: "RPUT" | "RGET";
}

/**
 * Options of {@link printResults}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ReportOptions } from "./report.ts";
 * const o: ReportOptions = { language: "c", totalProcs: 4 };
 * assert.equal(o.language, "c");
 * ```
 */
export interface ReportOptions {
  /** `print_results.f90` (default) or `c_print_results.c`. */
  language?: "fortran" | "c";
  /** Processes the job ran (NPB's `nprocs_total`). */
  totalProcs: number;
  /** The simulated platform; absent: no platform lines. */
  platform?: NasPlatform;
}

const MODE_TEXT = {
  native: "native (bare-metal hosts, verbs straight to the HCA)",
  bypass: "bypass (Xen-IB guests: control path through dom0, data path straight to the HCA)",
  split: "split (Xen guests whose every verbs call crosses dom0)",
} as const;

/**
 * NPB's `print_results` / `c_print_results` for `r`: the lines as NPB
 * writes them (two blank lines first).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { printResults } from "./report.ts";
 * const lines = printResults({
 *   name: "EP", cls: "S", size: "33554432", iterations: 0, timeSec: 0.3577, mops: 93.8,
 *   opType: "Random numbers generated", verified: true, compute: "real", details: [],
 * }, { totalProcs: 4 });
 * assert.equal(lines[2], " EP Benchmark Completed.");
 * assert.equal(lines[3], " Class           =                        S");
 * assert.equal(lines[4], " Size            =                 33554432");
 * assert.equal(lines.find((l) => l.startsWith(" Verification")), " Verification    =               SUCCESSFUL");
 * ```
 */
export function printResults(r: NasResult, o: ReportOptions): string[] {
  const c = o.language === "c";
  const active = r.activeProcs ?? o.totalProcs;
  const out: string[] = ["", ""];
  const name = r.reportName ?? r.name;
  out.push(c ? ` ${name} Benchmark Completed` : ` ${fortranA(name, 2)} Benchmark Completed.`);
  // Fortran: ' Class           = ', 12x, a12 — C: "=" then 24 spaces, %c; the same columns.
  out.push(` Class           = ${" ".repeat(12)}${fortranA(r.cls, 12)}`);
  out.push(sizeLine(r.size, c));
  out.push(
    ` Iterations      = ${" ".repeat(12)}${c ? cD(r.iterations, 12) : fortranI(r.iterations, 12)}`,
  );
  out.push(` Time in seconds = ${" ".repeat(12)}${num(r.timeSec, c)}`);
  out.push(
    ` Total processes = ${" ".repeat(12)}${c ? cD(o.totalProcs, 12) : fortranI(o.totalProcs, 12)}`,
  );
  if (active !== 0) {
    out.push(` Active processes= ${" ".repeat(12)}${c ? cD(active, 12) : fortranI(active, 12)}`);
  }
  out.push(` Mop/s total     = ${" ".repeat(12)}${num(r.mops, c)}`);
  out.push(` Mop/s/process   = ${" ".repeat(12)}${num(r.mops / o.totalProcs, c)}`);
  // Fortran a24 of a character*24 argument, C %24s: right-justified in 24 columns.
  out.push(` Operation type  = ${c ? r.opType.padStart(24) : fortranA(r.opType, 24)}`);
  // Fortran: ' Verification    = ', 12x, a with '  SUCCESSFUL' / 'UNSUCCESSFUL'; NPB's C
  // prints "=            NOT PERFORMED" where it cannot verify: all end in column 43.
  const verdict = r.compute === "model"
    ? "NOT PERFORMED"
    : r.verified
    ? "  SUCCESSFUL"
    : "UNSUCCESSFUL";
  out.push(` Verification    =${verdict.padStart(25)}`);
  out.push(` Version         = ${" ".repeat(12)}${fortranA(NPB_VERSION, 12)}`);
  // In place of " Compile date    =": how the computation was treated.
  out.push(` Computation     = ${" ".repeat(12)}${fortranA(r.compute, 12)}`);
  if (o.platform) {
    const p = o.platform;
    const hosts = p.mode === "native"
      ? `${p.hosts} bare-metal host(s), ${o.totalProcs} rank(s), map ${p.map}`
      : `${p.hosts} Xen host(s) x ${
        p.guestsPerHost ?? 1
      } guest(s), ${o.totalProcs} rank(s), map ${p.map}`;
    // In place of " Compile options:" and the compiler/flags lines, same layout.
    out.push(
      "",
      " Simulated platform:",
      `    MODE         = ${MODE_TEXT[p.mode]}`,
      `    HOSTS        = ${hosts}`,
      `    PROFILE      = ${p.profile}`,
      `    SEED         = ${p.seed}`,
      `    MPI          = xenib mpi/ over verbs: eager <= ${p.eagerThreshold} B, rendezvous ${
        p.rendezvous === "RPUT" ? "RDMA WRITE (RPUT)" : "RDMA READ (RGET)"
      }`,
      "    TIME         = virtual seconds (MPI_Wtime of the simulated cluster)",
    );
  }
  return out;
}

/** The size line: one number, or the grid as each language's format writes it. */
function sizeLine(size: string, c: boolean): string {
  const grid = /^\s*(\d+)\s*x\s*(\d+)\s*x\s*(\d+)\s*$/.exec(size);
  if (grid) {
    const [n1, n2, n3] = grid.slice(1).map(Number);
    // Fortran: ' Size            =  ', 9x, i4,'x',i4,'x',i4 — C: "=              %3dx %3dx %3d".
    return c
      ? ` Size            =              ${cD(n1, 3)}x ${cD(n2, 3)}x ${cD(n3, 3)}`
      : ` Size            =  ${" ".repeat(9)}${fortranI(n1, 4)}x${fortranI(n2, 4)}x${
        fortranI(n3, 4)
      }`;
  }
  // Fortran i12 after 12x (EP: f15.0 without its point, in a15 after 9x: the same columns);
  // C "%12ld" after 13 spaces: the same columns again.
  const digits = size.trim();
  return ` Size            = ${" ".repeat(12)}${c ? digits.padStart(12) : fortranA(digits, 12)}`;
}

/** f12.2 / %12.2f. */
function num(x: number, c: boolean): string {
  return c ? cF(x, 12, 2) : fortranF(x, 12, 2);
}

/**
 * What the main programs of NPB's BT, SP and LU share in what they print
 * and report (NPB 3.4-MPI BT/bt.f90, SP/sp.f90, LU/lu.f90 with
 * read_input.f90): the banner (formats 1000 … 1003) and the result handed
 * to print_results (size n×n×n, iterations, time, Mop/s, verification).
 *
 * @module
 */
import { fortranF, fortranI } from "../format.ts";
import type { NasClass, NasResult, NasRunOptions } from "../kernel.ts";

/**
 * The grid size as print_results writes it for an n³ grid: three I4
 * fields joined by x, without the leading blanks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cubeSize } from "./result.ts";
 * assert.equal(cubeSize(12), "12x  12x  12");
 * assert.equal(cubeSize(162), "162x 162x 162");
 * ```
 */
export function cubeSize(n: number): string {
  return `${fortranI(n, 4)}x${fortranI(n, 4)}x${fortranI(n, 4)}`.trimStart();
}

/**
 * NPB's banner of BT, SP and LU on rank 0 when there is no input file:
 * format 1000, then for BT and SP (`input` given) format 234 naming the
 * file, then 1001 (size), 1002 (iterations, with dt for BT and SP), 1003
 * (processes) and an empty list-directed write.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cfdBanner } from "./result.ts";
 * assert.deepEqual(cfdBanner("SP", "S", 12, 100, 4, { input: "inputsp.data", dt: 0.015 }), [
 *   "",
 *   "",
 *   " NAS Parallel Benchmarks 3.4 -- SP Benchmark",
 *   "",
 *   " No input file inputsp.data. Using compiled defaults",
 *   " Size:   12x  12x  12  (class S)",
 *   " Iterations:  100    dt:   0.0150000",
 *   " Total number of processes:      4",
 *   "",
 * ]);
 * assert.equal(cfdBanner("LU", "S", 12, 50, 4).length, 8);
 * ```
 */
export function cfdBanner(
  name: string,
  cls: NasClass,
  n: number,
  niter: number,
  np: number,
  withInput?: { input: string; dt: number },
): string[] {
  return [
    "",
    "",
    ` NAS Parallel Benchmarks 3.4 -- ${name} Benchmark`,
    "",
    ...withInput ? [` No input file ${withInput.input}. Using compiled defaults`] : [],
    ` Size: ${fortranI(n, 4)}x${fortranI(n, 4)}x${fortranI(n, 4)}  (class ${cls})`,
    ` Iterations: ${fortranI(niter, 4)}${
      withInput ? `    dt: ${fortranF(withInput.dt, 11, 7)}` : ""
    }`,
    ` Total number of processes: ${fortranI(np, 6)}`,
    "",
  ];
}

/**
 * The verification lines of a run whose computation the model charged
 * (no norms computed, nothing verified).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { modelCheck } from "./result.ts";
 * assert.equal(modelCheck("A").verified, false);
 * assert.match(modelCheck("A").lines[0], /charged by the model \(class A\)/);
 * ```
 */
export function modelCheck(cls: NasClass): { verified: boolean; lines: string[] } {
  return {
    verified: false,
    lines: [
      ` Computation charged by the model (class ${cls}): norms not computed, verification not performed`,
    ],
  };
}

/**
 * The NasResult of BT, SP or LU on rank 0: an n³ grid, `niter`
 * iterations in `timeSec` (Mop/s by the benchmark's formula), the
 * verification `check`, and with `norms` (BT, SP, real runs) the computed
 * xcr1…5 and xce1…5 as values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cfdResult, modelCheck } from "./result.ts";
 * const r = cfdResult("BT", { cls: "A", compute: "model" }, 64, 200, 2, 100, modelCheck("A"));
 * assert.equal(r.size, "64x  64x  64");
 * assert.equal(r.mops, 100);
 * assert.equal(r.verified, false);
 * assert.equal(r.values, undefined);
 * const v = cfdResult("SP", { cls: "S", compute: "real" }, 12, 100, 1, 5, { verified: true, lines: [] }, { xcr: [1], xce: [2] });
 * assert.deepEqual(v.values, { xcr1: 1, xce1: 2 });
 * ```
 */
export function cfdResult(
  name: string,
  opts: NasRunOptions,
  n: number,
  niter: number,
  timeSec: number,
  mops: number,
  check: { verified: boolean; lines: string[] },
  norms?: { xcr: readonly number[]; xce: readonly number[] },
): NasResult {
  const r: NasResult = {
    name,
    cls: opts.cls,
    size: cubeSize(n),
    iterations: niter,
    timeSec,
    mops,
    opType: "floating point",
    verified: check.verified,
    compute: opts.compute,
    details: check.lines,
  };
  if (norms) {
    r.values = Object.fromEntries([
      ...norms.xcr.map((x, m) => [`xcr${m + 1}`, x]),
      ...norms.xce.map((x, m) => [`xce${m + 1}`, x]),
    ]);
  }
  return r;
}

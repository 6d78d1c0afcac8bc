/**
 * The kernels `deno task nas` can run: one line per kernel in
 * {@link KERNELS}. A kernel module exports `kernel: NasKernel`; adding it
 * here is all it takes for the CLI, `runNas` and the paper report to know it.
 *
 * @module
 */
import type { NasKernel } from "./kernel.ts";
import { kernel as BT } from "./bt.ts";
import { kernel as CG } from "./cg.ts";
import { kernel as DT } from "./dt.ts";
import { kernel as EP } from "./ep.ts";
import { kernel as FT } from "./ft.ts";
import { kernel as IS } from "./is.ts";
import { kernel as LU } from "./lu.ts";
import { kernel as MG } from "./mg.ts";
import { kernel as SP } from "./sp.ts";

/**
 * Every kernel of this build: all nine of NPB 3.4-MPI (BT-IO, BT's I/O
 * variant, apart).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KERNELS } from "./registry.ts";
 * assert.ok(KERNELS.some((k) => k.name === "IS"));
 * ```
 */
export const KERNELS: readonly NasKernel[] = [
  BT,
  CG,
  DT,
  EP,
  FT,
  IS,
  LU,
  MG,
  SP,
];

/**
 * The kernel called `name` (case-insensitive), or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findKernel } from "./registry.ts";
 * assert.equal(findKernel("ep")?.name, "EP");
 * assert.equal(findKernel("XX"), undefined);
 * ```
 */
export function findKernel(name: string): NasKernel | undefined {
  const n = name.toUpperCase();
  return KERNELS.find((k) => k.name === n);
}

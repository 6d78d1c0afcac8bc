/**
 * How each virtualized figure moves when one Xen primitive's cost is
 * halved or doubled: the profile's other parameters unchanged, noise off
 * (every figure exact), each figure measured by the tools' core with a
 * short method (named in {@link SENSITIVITY_FIGURES}). A variant is one
 * independent point (a worker task): every figure of it on fresh clusters.
 *
 * @module
 */
import type { Profile } from "../../mod.ts";
import { metricOf, METRICS, pointRequest, type RunEnv } from "./metrics.ts";
import { measurePerftestPoint } from "./perftest_runner.ts";
import { registrationCost, setupCosts } from "./control_costs.ts";

/**
 * The Xen primitives varied, each a parameter of the profile's `xen` group.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XEN_PRIMITIVES } from "./paper_sensitivity.ts";
 * assert.deepEqual(XEN_PRIMITIVES.map((p) => p.param), [
 *   "hypercallNs",
 *   "upcallNs",
 *   "grantMapNs",
 *   "domainSwitchNs",
 * ]);
 * ```
 */
export const XEN_PRIMITIVES = [
  { param: "hypercallNs", name: "hypercall (every hypercall, EVTCHNOP_send included)" },
  { param: "upcallNs", name: "event-channel delivery (pending bit, virtual interrupt, upcall)" },
  { param: "grantMapNs", name: "grant map (GNTTABOP_map_grant_ref, per page)" },
  { param: "domainSwitchNs", name: "dom0 scheduling latency (switch to the target's vCPU)" },
] as const;

/**
 * A primitive's parameter name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { XenPrimitive } from "./paper_sensitivity.ts";
 * const p: XenPrimitive = "grantMapNs";
 * assert.equal(p, "grantMapNs");
 * ```
 */
export type XenPrimitive = (typeof XEN_PRIMITIVES)[number]["param"];

/**
 * The figures the table follows, with the method of each.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SENSITIVITY_FIGURES } from "./paper_sensitivity.ts";
 * assert.equal(SENSITIVITY_FIGURES[0].id, "bypass-lat");
 * assert.ok(SENSITIVITY_FIGURES.every((f) => f.method.length > 10));
 * ```
 */
export const SENSITIVITY_FIGURES = [
  {
    id: "bypass-lat",
    label: "bypass 2 B RDMA WRITE latency (µs)",
    method: "ib_write_lat -s 2 -n 100",
  },
  {
    id: "bypass-bw",
    label: "bypass 64 KiB RDMA WRITE bandwidth (MB/s)",
    method: "ib_write_bw -s 65536 -n 64",
  },
  {
    id: "split-lat",
    label: "split 2 B RDMA WRITE latency (µs)",
    method: "ib_write_lat -s 2 -n 100",
  },
  {
    id: "split-rate",
    label: "split 64 B message rate (Mmsg/s)",
    method: "ib_write_bw -s 64 -n 1000",
  },
  {
    id: "bypass-event",
    label: "bypass 64 B event-driven latency (µs)",
    method: "ib_send_lat -e -s 64 -n 100",
  },
  {
    id: "bypass-reg-1",
    label: "bypass regMr, 1 page (µs)",
    method: "one pd.regMr, no cache",
  },
  {
    id: "bypass-reg-256",
    label: "bypass regMr, 256 pages (µs)",
    method: "one pd.regMr, no cache",
  },
  {
    id: "bypass-create-qp",
    label: "bypass createQp (µs)",
    method: "one RC QP, 64/64 deep",
  },
] as const;

/**
 * A figure's id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { SensitivityFigure } from "./paper_sensitivity.ts";
 * const f: SensitivityFigure = "split-rate";
 * assert.equal(f, "split-rate");
 * ```
 */
export type SensitivityFigure = (typeof SENSITIVITY_FIGURES)[number]["id"];

/**
 * `base` with one Xen primitive scaled (rounded to whole ns).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scaledProfile } from "./paper_sensitivity.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const p = scaledProfile(PCIX_SDR_2006, "hypercallNs", 2);
 * assert.equal(p.xen.hypercallNs, 2 * PCIX_SDR_2006.xen.hypercallNs);
 * assert.equal(p.xen.upcallNs, PCIX_SDR_2006.xen.upcallNs); // the others unchanged
 * assert.equal(PCIX_SDR_2006.xen.hypercallNs, 400); // the base is not touched
 * ```
 */
export function scaledProfile(base: Profile, param: XenPrimitive, factor: number): Profile {
  const p = structuredClone(base) as Profile;
  (p.xen as Record<string, number>)[param] = Math.round(base.xen[param] * factor);
  return p;
}

/**
 * Every figure of {@link SENSITIVITY_FIGURES} with `param` scaled by
 * `factor` (no `param`: the base profile), noise off.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sensitivityFigures } from "./paper_sensitivity.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const base = await sensitivityFigures(PCIX_SDR_2006, undefined, 1, 1);
 * const slow = await sensitivityFigures(PCIX_SDR_2006, "domainSwitchNs", 2, 1);
 * assert.equal(slow["bypass-lat"], base["bypass-lat"]); // the fast path never meets dom0
 * // Each event crosses two domain switches (into dom0, into the guest): 2 × 3 µs more.
 * assert.equal((slow["bypass-event"] - base["bypass-event"]).toFixed(3), "6.000");
 * ```
 */
export async function sensitivityFigures(
  base: Profile,
  param: XenPrimitive | undefined,
  factor: number,
  seed: number,
): Promise<Record<SensitivityFigure, number>> {
  const profile = param ? scaledProfile(base, param, factor) : base;
  const env: RunEnv = { profile, seed, noise: "off" };
  const lat = METRICS["rdma-write-lat"], bw = METRICS["rdma-write-bw"];
  const rate = METRICS["msg-rate"], ev = METRICS["event-lat"];
  const value = async (
    m: typeof lat | typeof bw | typeof rate | typeof ev,
    args: string[],
    mode: "bypass" | "split",
  ) => metricOf({ ...m, args }, await measurePerftestPoint(pointRequest(args, mode, env))).value;
  const latArgs = ["ib_write_lat", "-s", "2", "-n", "100"];
  const [reg] = [await registrationCost(env, "bypass", [1, 256], { reps: 1 })];
  const setup = await setupCosts(env, "bypass", 1);
  return {
    "bypass-lat": await value(lat, latArgs, "bypass"),
    "bypass-bw": await value(bw, ["ib_write_bw", "-s", "65536", "-n", "64"], "bypass"),
    "split-lat": await value(lat, latArgs, "split"),
    "split-rate": await value(rate, ["ib_write_bw", "-s", "64", "-n", "1000"], "split"),
    "bypass-event": await value(ev, ["ib_send_lat", "-e", "-s", "64", "-n", "100"], "bypass"),
    "bypass-reg-1": reg[0].regUs,
    "bypass-reg-256": reg[1].regUs,
    "bypass-create-qp": setup.createQp,
  };
}

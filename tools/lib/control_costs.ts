/**
 * The control path's figures, measured one way for every tool (paper,
 * xenib-perf, the calibration test): memory registration against the
 * buffer's pages, with and without the registration cache, and the cost of
 * each resource setup operation. Each function builds its own one-host
 * cluster from the environment (profile, seed, noise), so it is an
 * independent point that can run on a worker.
 *
 * @module
 */
import { Access, connectQp, QpType } from "../../mod.ts";
import { Cluster, type Domain, modeError, ToolError } from "./api.ts";
import type { RunEnv } from "./metrics.ts";
import type { Mode } from "./perftest_args.ts";

/**
 * A domain of the given mode on a one-host cluster: the bare-metal OS, or a
 * guest of a Xen host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { controlDomain } from "./control_costs.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const { dom } = await controlDomain({ profile: PCIX_SDR_2006, seed: 1, noise: "off" }, "bypass");
 * assert.equal(dom.name, "vm0");
 * ```
 */
export async function controlDomain(
  env: RunEnv,
  mode: Mode,
): Promise<{ cluster: Cluster; dom: Domain }> {
  const cluster = new Cluster({ profile: env.profile, seed: env.seed, noise: env.noise });
  if (mode === "native") {
    const host = cluster.addHost({ name: "node0", hypervisor: false });
    await cluster.start();
    if (!host.os) throw new ToolError("the library's bare-metal Host has no 'os' domain");
    return { cluster, dom: host.os };
  }
  try {
    const host = cluster.addHost({ name: "node0", hypervisor: true });
    await cluster.start();
    const dom = await host.createGuest({ name: "vm0", memoryMiB: 64, driver: mode });
    return { cluster, dom };
  } catch (e) {
    throw modeError(mode, e);
  }
}

/**
 * Registration cost at one buffer size, µs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registrationCost, type RegCost } from "./control_costs.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const env = { profile: PCIX_SDR_2006, seed: 1, noise: "off" as const };
 * const [p]: RegCost[] = await registrationCost(env, "bypass", [16], { reps: 2, cacheUses: 4 });
 * assert.equal(p.pages, 16);
 * assert.ok(p.cold! > p.warm!); // the first use through the cache pays the whole path
 * ```
 */
export interface RegCost {
  /** 4 KiB pages registered. */
  pages: number;
  /** Mean `pd.regMr` time without the cache. */
  regUs: number;
  /** Mean `mr.dereg` time without the cache. */
  deregUs: number;
  /** With the cache: the first `regMr` of the buffer. */
  cold?: number;
  /** With the cache: mean `regMr` of the uses after the first. */
  warm?: number;
  /** With the cache: mean `regMr` over all uses, the first included (the cost per use). */
  perUse?: number;
  /** With the cache: mean `dereg` over all uses. */
  deregPerUse?: number;
}

/**
 * What the registration series measures.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RegOptions } from "./control_costs.ts";
 * const o: RegOptions = { reps: 10, cacheUses: 100 };
 * assert.equal(o.cacheUses, 100);
 * ```
 */
export interface RegOptions {
  /** Register/deregister pairs of the same buffer without the cache (mean). */
  reps: number;
  /** With the cache (`openDevice(name, { regCache: true })`): uses of the same buffer. */
  cacheUses?: number;
}

const ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;

/**
 * Registration cost for each page count in `mode`: `reps` registrations
 * and deregistrations of the same buffer with the registration cache off,
 * and, with `cacheUses`, that many uses (`regMr` then `dereg`) of another
 * buffer of the same size through a context with the cache on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registrationCost } from "./control_costs.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const env = { profile: PCIX_SDR_2006, seed: 1, noise: "off" as const };
 * const native = await registrationCost(env, "native", [1, 16], { reps: 2 });
 * const bypass = await registrationCost(env, "bypass", [1, 16], { reps: 2 });
 * assert.ok(bypass[0].regUs > native[0].regUs); // a guest registers through dom0's backend
 * // …which grants and maps every page: the cost grows with the pages far faster.
 * const perPage = (r: typeof native) => (r[1].regUs - r[0].regUs) / 15;
 * assert.ok(perPage(bypass) > 10 * perPage(native));
 * ```
 */
export async function registrationCost(
  env: RunEnv,
  mode: Mode,
  pages: number[],
  o: RegOptions,
): Promise<RegCost[]> {
  const { cluster, dom } = await controlDomain(env, mode);
  return await cluster.run(async () => {
    const plain = await dom.openDevice(undefined, { regCache: false });
    const pd = await plain.allocPd();
    const cached = o.cacheUses ? await dom.openDevice(undefined, { regCache: true }) : undefined;
    const cpd = cached ? await cached.allocPd() : undefined;
    const out: RegCost[] = [];
    for (const n of pages) {
      const len = n * 4096;
      const buf = dom.memory.alloc(len, 4096);
      // Touch the buffer as an application would before registering it.
      dom.memory.write(buf, new Uint8Array([1]));
      let reg = 0, dereg = 0;
      for (let r = 0; r < o.reps; r++) {
        const t0 = cluster.now;
        const mr = await pd.regMr(buf, len, ACCESS);
        const t1 = cluster.now;
        await mr.dereg();
        reg += t1 - t0;
        dereg += cluster.now - t1;
      }
      const p: RegCost = { pages: n, regUs: reg / o.reps / 1000, deregUs: dereg / o.reps / 1000 };
      if (cpd && o.cacheUses) {
        const cbuf = dom.memory.alloc(len, 4096);
        dom.memory.write(cbuf, new Uint8Array([1]));
        let creg = 0, cdereg = 0, first = 0;
        for (let u = 0; u < o.cacheUses; u++) {
          const t0 = cluster.now;
          const mr = await cpd.regMr(cbuf, len, ACCESS);
          const t1 = cluster.now;
          await mr.dereg();
          if (u === 0) first = t1 - t0;
          creg += t1 - t0;
          cdereg += cluster.now - t1;
        }
        p.cold = first / 1000;
        p.warm = o.cacheUses > 1 ? (creg - first) / (o.cacheUses - 1) / 1000 : first / 1000;
        p.perUse = creg / o.cacheUses / 1000;
        p.deregPerUse = cdereg / o.cacheUses / 1000;
      }
      out.push(p);
    }
    return out;
  });
}

/**
 * Mean time (µs) of `reps` `pd.regMr` calls on fresh buffers of `pages`
 * pages (a new buffer each time, no cache): `ibv_reg_mr` as a program that
 * registers each buffer once sees it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { freshRegistrationUs } from "./control_costs.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const env = { profile: PCIX_SDR_2006, seed: 1, noise: "off" as const };
 * const one = await freshRegistrationUs(env, "native", 1, 3);
 * assert.ok(one > 20 && one < 80); // two firmware commands of the 2006 HCA
 * ```
 */
export async function freshRegistrationUs(
  env: RunEnv,
  mode: Mode,
  pages: number,
  reps: number,
): Promise<number> {
  const { cluster, dom } = await controlDomain(env, mode);
  return await cluster.run(async () => {
    const ctx = await dom.openDevice(undefined, { regCache: false });
    const pd = await ctx.allocPd();
    let sum = 0;
    for (let i = 0; i < reps; i++) {
      const bytes = pages * 4096;
      const buf = dom.memory.alloc(bytes, 4096);
      const t0 = cluster.now;
      const mr = await pd.regMr(buf, bytes, ACCESS);
      sum += cluster.now - t0;
      await mr.dereg();
    }
    return sum / reps / 1000;
  });
}

/**
 * Names of the control operations timed by {@link setupCosts}, in display order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SETUP_OPS } from "./control_costs.ts";
 * assert.equal(SETUP_OPS[0], "openDevice");
 * assert.equal(SETUP_OPS.length, 8);
 * ```
 */
export const SETUP_OPS = [
  "openDevice",
  "allocPd",
  "createCq",
  "createQp",
  "modifyQp (RESET→RTS)",
  "regMr (1 page)",
  "destroyQp",
  "destroyCq",
] as const;

/**
 * One control operation of {@link SETUP_OPS}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { SetupOp } from "./control_costs.ts";
 * const op: SetupOp = "createQp";
 * assert.equal(op, "createQp");
 * ```
 */
export type SetupOp = (typeof SETUP_OPS)[number];

/**
 * Mean virtual time (µs) of each control operation over `reps` rounds of
 * open, allocate a PD, create a 256-entry CQ and an RC QP with 64-deep
 * queues, connect it (looped back), register a page, destroy the QP and
 * the CQ. The registration cache is off: every operation reaches the
 * driver (and, in a guest, dom0's backend).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setupCosts } from "./control_costs.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const env = { profile: PCIX_SDR_2006, seed: 1, noise: "off" as const };
 * const native = await setupCosts(env, "native", 1);
 * const bypass = await setupCosts(env, "bypass", 1);
 * // Control operations of a guest go to dom0's backend: each costs more.
 * assert.ok(bypass.createQp > native.createQp && bypass.createCq > native.createCq);
 * // Each takes at least one firmware command (hca.commandNs).
 * assert.ok(native.createCq >= PCIX_SDR_2006.hca.commandNs / 1000);
 * ```
 */
export async function setupCosts(
  env: RunEnv,
  mode: Mode,
  reps: number,
): Promise<Record<SetupOp, number>> {
  const { cluster, dom } = await controlDomain(env, mode);
  const sums = Object.fromEntries(SETUP_OPS.map((op) => [op, 0])) as Record<SetupOp, number>;
  await cluster.run(async () => {
    const page = dom.memory.alloc(4096, 4096);
    for (let r = 0; r < reps; r++) {
      let t = cluster.now;
      const lap = (op: SetupOp) => {
        sums[op] += cluster.now - t;
        t = cluster.now;
      };
      const ctx = await dom.openDevice(undefined, { regCache: false });
      lap("openDevice");
      const pd = await ctx.allocPd();
      lap("allocPd");
      const cq = await ctx.createCq(256);
      lap("createCq");
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 64, maxRecvWr: 64, maxSendSge: 1, maxRecvSge: 1 },
      });
      lap("createQp");
      const lid = Number(ctx.queryPort(1).lid ?? 0);
      t = cluster.now;
      // Looped back to itself: the three transitions cost the same whoever the peer is.
      await connectQp(qp, {
        remoteQpn: qp.qpNum,
        rqPsn: qp.initialPsn,
        dlid: lid,
        accessFlags: Access.REMOTE_WRITE,
      });
      lap("modifyQp (RESET→RTS)");
      const mr = await pd.regMr(page, 4096, Access.LOCAL_WRITE);
      lap("regMr (1 page)");
      await qp.destroy();
      lap("destroyQp");
      await cq.destroy();
      lap("destroyCq");
      await mr.dereg();
      await pd.dealloc();
      await ctx.close();
    }
  });
  for (const op of SETUP_OPS) sums[op] = sums[op] / reps / 1000;
  return sums;
}

/**
 * Protection domains, memory regions and address handles on a real HCA.
 * `regMr` registers memory of a {@link RealMemory} only: the kernel pins
 * those pages and writes their physical addresses into the HCA's
 * translation table, so the bytes must neither move nor be freed while the
 * MR exists — which Deno guarantees for a live `RealMemory`, and the MR
 * keeps its `RealMemory` alive.
 *
 * @module
 */
import {
  cUint,
  HEADER_CONSTANTS,
  IBV_AH,
  IBV_AH_ATTR,
  IBV_MR,
  IBV_PD,
  scratch,
  toPointer,
  viewOf,
} from "../../../hca/ffi/mod.ts";
import { VerbsError } from "../../uapi/errors.ts";
import type { AhAttr, SrqAttr, WorkCompletion } from "../../uapi/types.ts";
import { initAhFromWcWith } from "./ah_from_wc.ts";
import { encodeAh } from "./attrs.ts";
import { attach, destroyObject, pointerOf, type RealDevice } from "./device.ts";
import { verbs } from "./errors.ts";
import { RealMemory } from "./memory.ts";
import { RealQp, type RealQpInit, RealSrq } from "./qp.ts";

/**
 * A registered memory region (`struct ibv_mr`).
 *
 * Its methods are the model's verbs (API.md) on a real device;
 * `tests/ffi_fake_provider_test.ts` drives them through a stand-in provider.
 * The example uses a device where there is one; elsewhere opening one says why not.
 *
 * @example
 * ```ts
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { listRealDevices, openRealDevice } from "./open.ts";
 * import { Access } from "../../uapi/enums.ts";
 * import { RealHost } from "./host.ts";
 * import { RealMr } from "./pd.ts";
 * if (listRealDevices().length > 0) {
 *   const host = new RealHost({ memoryBytes: 1 << 16 });
 *   const ctx = await host.openDevice();
 *   const pd = await ctx.allocPd();
 *   const buf = host.memory.alloc(4096, 4096);
 *   const mr = await pd.regMr(buf, 4096, Access.LOCAL_WRITE);
 *   assert.ok(mr instanceof RealMr);
 *   assert.deepEqual([mr.addr, mr.length], [buf, 4096]);
 *   await mr.dereg();
 *   await ctx.close();
 * } else {
 *   // No RDMA device here: ENODEV saying why.
 *   await assert.rejects(openRealDevice(), { name: "VerbsError", code: "ENODEV" });
 * }
 * ```
 */
export class RealMr {
  /** Local key (SGEs). */
  readonly lkey: number;
  /** Remote key (RDMA and atomics from the peer). */
  readonly rkey: number;
  /** Kernel handle of the MR. */
  readonly handle: number;
  #dev: RealDevice;

  /** Made by `RealPd.regMr`. */
  constructor(
    dev: RealDevice,
    pd: Deno.PointerObject,
    readonly addr: number,
    readonly length: number,
    readonly access: number,
    /** The buffer the region lies in (kept alive by the MR). */
    readonly memory: RealMemory,
  ) {
    this.#dev = dev;
    const s = dev.lib.symbols;
    const at = toPointer(BigInt(addr));
    const optional = (BigInt(access) & HEADER_CONSTANTS.IBV_ACCESS_OPTIONAL_RANGE) !== 0n;
    const ptr = verbs(() => {
      // As verbs.h's ibv_reg_mr macro: optional access bits need the iova2 entry.
      if (!optional) {
        return dev.lib.must(s.ibv_reg_mr(pd, at, BigInt(length), access), "ibv_reg_mr");
      }
      if (!s.ibv_reg_mr_iova2) {
        throw new VerbsError("EOPNOTSUPP", "regMr: optional access flags need libibverbs >= 1.8");
      }
      return dev.lib.must(
        s.ibv_reg_mr_iova2(pd, at, BigInt(length), BigInt(addr), access),
        "ibv_reg_mr_iova2",
      );
    });
    this.lkey = cUint(ptr, IBV_MR.fields.lkey);
    this.rkey = cUint(ptr, IBV_MR.fields.rkey);
    this.handle = cUint(ptr, IBV_MR.fields.handle);
    attach(this, dev, "mr", ptr, () => this.#dereg());
  }

  #dereg(): void {
    destroyObject(
      this,
      this.#dev,
      "mr",
      "ibv_dereg_mr",
      (p) => this.#dev.lib.symbols.ibv_dereg_mr(p),
    );
  }

  /** `ibv_dereg_mr`. */
  dereg(): Promise<void> {
    return Promise.resolve().then(() => this.#dereg());
  }
}

/**
 * An address handle (`struct ibv_ah`) for UD sends.
 *
 * Its methods are the model's verbs (API.md) on a real device;
 * `tests/ffi_fake_provider_test.ts` drives them through a stand-in provider.
 * The example uses a device where there is one; elsewhere opening one says why not.
 *
 * @example
 * ```ts
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { listRealDevices, openRealDevice } from "./open.ts";
 * import { RealAh } from "./pd.ts";
 * if (listRealDevices().length > 0) {
 *   const ctx = await openRealDevice();
 *   const pd = await ctx.allocPd();
 *   const port = ctx.queryPort(1);
 *   // On RoCE an address needs a GRH: GID 0 of the port.
 *   const grh = port.lid === 0 ? { dgid: ctx.queryGid(1, 0), sgidIndex: 0 } : undefined;
 *   const ah = await pd.createAh({ dlid: port.lid, grh });
 *   assert.ok(ah instanceof RealAh);
 *   assert.equal(ah.attr.portNum, 1); // the default
 *   await ah.destroy();
 *   await ctx.close();
 * } else {
 *   // No RDMA device here: ENODEV saying why.
 *   await assert.rejects(openRealDevice(), { name: "VerbsError", code: "ENODEV" });
 * }
 * ```
 */
export class RealAh {
  /** Kernel handle of the AH. */
  readonly handle: number;
  /** The address vector, as given (port defaulted to 1). */
  readonly attr: AhAttr;
  #dev: RealDevice;

  /** Made by `RealPd.createAh`. */
  constructor(dev: RealDevice, pd: Deno.PointerObject, attr: AhAttr) {
    this.#dev = dev;
    const buf = scratch(IBV_AH_ATTR.sizeof);
    encodeAh(viewOf(buf), 0, attr, 1);
    this.attr = { ...attr, portNum: attr.portNum ?? 1 };
    const ptr = verbs(() => dev.lib.must(dev.lib.symbols.ibv_create_ah(pd, buf), "ibv_create_ah"));
    this.handle = cUint(ptr, IBV_AH.fields.handle);
    attach(this, dev, "ah", ptr, () => this.#destroy());
  }

  #destroy(): void {
    destroyObject(
      this,
      this.#dev,
      "ah",
      "ibv_destroy_ah",
      (p) => this.#dev.lib.symbols.ibv_destroy_ah(p),
    );
  }

  /** `ibv_destroy_ah`. */
  destroy(): Promise<void> {
    return Promise.resolve().then(() => this.#destroy());
  }
}

/**
 * A protection domain (`struct ibv_pd`).
 *
 * Its methods are the model's verbs (API.md) on a real device;
 * `tests/ffi_fake_provider_test.ts` drives them through a stand-in provider.
 * The example uses a device where there is one; elsewhere opening one says why not.
 *
 * @example
 * ```ts
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { listRealDevices, openRealDevice } from "./open.ts";
 * import { RealPd } from "./pd.ts";
 * if (listRealDevices().length > 0) {
 *   const ctx = await openRealDevice();
 *   const pd = await ctx.allocPd();
 *   assert.ok(pd instanceof RealPd);
 *   // Only memory of a RealMemory can be registered.
 *   await assert.rejects(pd.regMr(4096, 4096, 1), { code: "EFAULT" });
 *   await pd.dealloc();
 *   await ctx.close();
 * } else {
 *   // No RDMA device here: ENODEV saying why.
 *   await assert.rejects(openRealDevice(), { name: "VerbsError", code: "ENODEV" });
 * }
 * ```
 */
export class RealPd {
  /** Kernel handle of the PD. */
  readonly handle: number;
  #dev: RealDevice;

  /** Made by `RealContext.allocPd`. */
  constructor(dev: RealDevice) {
    this.#dev = dev;
    const ptr = verbs(() => dev.lib.must(dev.lib.symbols.ibv_alloc_pd(dev.ctx), "ibv_alloc_pd"));
    this.handle = cUint(ptr, IBV_PD.fields.handle);
    attach(this, dev, "pd", ptr, () => this.#dealloc());
  }

  #run<T>(body: (pd: Deno.PointerObject) => T): Promise<T> {
    return Promise.resolve().then(() => body(pointerOf(this, this.#dev, "pd")));
  }

  /**
   * Register `[addr, addr + length)`, which must lie in a live {@link RealMemory}.
   *
   * @throws VerbsError EFAULT for memory that is not a RealMemory's; the
   *   provider's errno otherwise (ENOMEM: locked-memory limit, see `ulimit -l`)
   */
  regMr(addr: number, length: number, access: number): Promise<RealMr> {
    return this.#run((pd) => {
      if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(length) || length <= 0) {
        throw new VerbsError("EINVAL", `regMr(${addr}, ${length}): bad address or length`);
      }
      // ibv_reg_mr takes int access (ibv_reg_mr_iova2 unsigned int): every IBV_ACCESS_* bit,
      // optional range included, lies below bit 31.
      if (!Number.isInteger(access) || access < 0 || access > 0x7fffffff) {
        throw new VerbsError("EINVAL", `regMr: access ${access} is not a set of Access flags`);
      }
      const mem = RealMemory.find(addr, length);
      if (!mem) {
        throw new VerbsError(
          "EFAULT",
          `regMr: [0x${addr.toString(16)}, +${length}) is not inside a RealMemory; on real ` +
            `hardware register only memory from RealMemory.alloc (Deno may move or free the rest)`,
        );
      }
      return new RealMr(this.#dev, pd, addr, length, access, mem);
    });
  }

  /** `ibv_create_qp`. */
  createQp(init: RealQpInit): Promise<RealQp> {
    return this.#run((pd) => new RealQp(this.#dev, pd, init));
  }

  /** `ibv_create_ah` (port 1 unless `portNum` says otherwise). */
  createAh(attr: AhAttr): Promise<RealAh> {
    return this.#run((pd) => new RealAh(this.#dev, pd, attr));
  }

  /**
   * `ibv_create_ah_from_wc`: libibverbs' `ibv_init_ah_from_wc` for the datagram `wc` completed
   * (`grh`: the 40 bytes at the head of its receive buffer), then `createAh`.
   */
  createAhFromWc(
    wc: WorkCompletion,
    grh: Uint8Array | undefined,
    portNum: number,
  ): Promise<RealAh> {
    return this.#run((pd) =>
      new RealAh(this.#dev, pd, initAhFromWcWith(this.#dev.lib, this.#dev.ctx, portNum, wc, grh))
    );
  }

  /** `ibv_create_srq`. */
  createSrq(attr: SrqAttr): Promise<RealSrq> {
    return this.#run((pd) => new RealSrq(this.#dev, pd, attr));
  }

  #dealloc(): void {
    destroyObject(
      this,
      this.#dev,
      "pd",
      "ibv_dealloc_pd",
      (p) => this.#dev.lib.symbols.ibv_dealloc_pd(p),
    );
  }

  /** `ibv_dealloc_pd` (EBUSY while it has MRs, QPs, AHs or SRQs). */
  dealloc(): Promise<void> {
    return Promise.resolve().then(() => this.#dealloc());
  }
}

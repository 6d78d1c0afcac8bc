/**
 * The firmware behind the command interface: validates each command's
 * parameters and applies it to the context tables — device setup, ports,
 * MPT/MTT, EQs, CQs, SRQs. QP transitions live in `qp_commands.ts`.
 * Every failure is a status with a message naming the field, as Tavor
 * firmware answers BAD_PARAM/BAD_INDEX/BAD_RES_STATE/… — never an exception.
 *
 * @module
 */

import {
  CmdOp,
  type CmdResult,
  CmdStatus,
  type DevLim,
  EqeType,
  keyToMptIndex,
  MPT_ACCESS_MASK,
  MptAccess,
  type PortInfo,
  PortInfoState,
  PortPhysState,
} from "./commands.ts";
import type { HcaCore } from "./core.ts";
import { PAGE_SIZE } from "../sim/memory.ts";
import { CompletionQueue } from "./cq.ts";
import { CQE_BYTES } from "./cqe.ts";
import { EventQueue } from "./eq.ts";
import { EQE_BYTES } from "./eqe.ts";
import { MAX_PAGE_SHIFT, MIN_PAGE_SHIFT, type MptEntry, pagesSpanned } from "./mpt.ts";
import { ibaMtuCode, MTU_CODE_MAX } from "./link.ts";
import type { McgTable } from "./mcg.ts";
import type { Port } from "./port.ts";
import { SharedReceiveQueue } from "./srq.ts";
import { DEFAULT_PKEY } from "./pkey.ts";
import type { Transport } from "./transport.ts";
import { RQ_STRIDE_MAX, RQ_STRIDE_MIN, SQ_STRIDE_MAX, SQ_STRIDE_MIN } from "./wqe.ts";

/**
 * Event queues the device has (Tavor: 64).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_EQ } from "./firmware.ts";
 * assert.equal(MAX_EQ, 64); // EQNs 0..63
 * ```
 */
export const MAX_EQ = 64;
/**
 * Reserved indices (QUERY_DEV_LIM reports them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RESERVED } from "./firmware.ts";
 * // QPN 0 and 1 are the special QPs; MPT index 0 makes key 0 mean "no key".
 * assert.deepEqual([RESERVED.qp, RESERVED.mpt], [2, 1]);
 * ```
 */
export const RESERVED = { qp: 2, mpt: 1, cq: 0, eq: 0, srq: 0, uar: 1 } as const;

/**
 * The device state the firmware works on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, CmdStatus } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * // The tables are the device's: INIT_HCA sets them up, CLOSE_HCA drops every context.
 * const [before, during, after] = await engine.run(async () => {
 *   const before = await hca.cmd.exec(CmdOp.QUERY_PORT, { port: 1 });
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   const during = await hca.cmd.exec(CmdOp.QUERY_PORT, { port: 1 });
 *   await hca.cmd.exec(CmdOp.CLOSE_HCA, {});
 *   return [before, during, await hca.cmd.exec(CmdOp.QUERY_PORT, { port: 1 })];
 * });
 * assert.deepEqual([before.status, during.status, after.status], [CmdStatus.BAD_SYS_STATE, CmdStatus.OK, CmdStatus.BAD_SYS_STATE]);
 * ```
 */
export interface DeviceTables {
  /** Device internals. */
  readonly core: HcaCore;
  /** Transport services. */
  readonly tp: Transport;
  /** CQ contexts by CQN. */
  readonly cqs: (CompletionQueue | undefined)[];
  /** EQ contexts by EQN. */
  readonly eqs: (EventQueue | undefined)[];
  /** SRQ contexts by SRQN. */
  readonly srqs: (SharedReceiveQueue | undefined)[];
  /** EQ each async event type goes to (MAP_EQ). */
  readonly eventMap: (EventQueue | undefined)[];
  /** The multicast group table (READ_MGM / WRITE_MGM / MGID_HASH). */
  readonly mcg: McgTable;
  /** INIT_HCA has run. */
  initialized: boolean;
  /** Number of ports. */
  readonly portCount: number;
  /** Port (1-based). */
  port(n: number): Port | undefined;
  /** Drop every context (CLOSE_HCA). */
  reset(): void;
  /**
   * The command executing now completes only when `wait` calls its `done`; the HCR takes no
   * other command before (`HcaCommandInterface.holdUntil`).
   */
  hold(wait: (done: () => void) => void): void;
}

/**
 * A failed command result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CmdStatus } from "./commands.ts";
 * import { fail } from "./firmware.ts";
 * const r = fail(CmdStatus.BAD_INDEX, "SW2HW_CQ: cqn out of range");
 * assert.deepEqual([r.ok, r.status], [false, 10]);
 * ```
 */
export function fail(status: number, message: string): CmdResult<never> {
  return { ok: false, status: status as Exclude<CmdStatus, 0>, message };
}

/**
 * A successful command result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ok } from "./firmware.ts";
 * assert.deepEqual(ok({ lid: 3 }), { ok: true, status: 0, out: { lid: 3 } });
 * ```
 */
export function ok<T>(out: T): CmdResult<T> {
  return { ok: true, status: CmdStatus.OK, out };
}

/**
 * Parameter object or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { obj } from "./firmware.ts";
 * assert.deepEqual([obj(null), obj({ cqn: 1 })], [undefined, { cqn: 1 }]);
 * ```
 */
export function obj(p: unknown): Record<string, unknown> | undefined {
  return typeof p === "object" && p !== null ? p as Record<string, unknown> : undefined;
}

/**
 * True for an integer in [lo, hi].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isInt } from "./firmware.ts";
 * assert.deepEqual([isInt(7, 0, 7), isInt(7.5, 0, 8), isInt("7", 0, 8)], [true, false, false]);
 * ```
 */
export function isInt(v: unknown, lo: number, hi: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi;
}

/**
 * True for a power of two ≥ 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPow2 } from "./firmware.ts";
 * assert.deepEqual([64, 96, 0, 1].map(isPow2), [ true, false, false, true ]);
 * ```
 */
export function isPow2(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 1 && (v & (v - 1)) === 0 &&
    v <= 2 ** 30;
}

/**
 * Look up a queue buffer key: HW-owned, the range inside, LOCAL_WRITE if the device writes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, MptAccess, mptKey } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine(), memory = new MachineMemory(16 << 20);
 * const hca = new Hca({ engine, memory, irq: new InterruptController(), profile: PCIX_SDR_2006,
 *   rng: new Prng(1), name: "hca0" });
 * // SW2HW_CQ/EQ/SRQ and RST2INIT check their queue with it: inside a HW-owned region,
 * // and one the device writes (CQ, EQ) needs LOCAL_WRITE.
 * const readOnly = { index: 1, key: mptKey(1), pd: 0, start: 0, length: 4096,
 *   access: MptAccess.LOCAL_READ, mttBase: 0, mttCount: 1, pageShift: 12 };
 * const eq = { eqn: 1, key: readOnly.key, addr: 0, logSize: 6, vector: 17, uarIndex: 0 };
 * const [noWrite, tooBig] = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   await hca.cmd.exec(CmdOp.WRITE_MTT, { base: 0, mfns: [memory.allocFrame("eq")] });
 *   await hca.cmd.exec(CmdOp.SW2HW_MPT, readOnly);
 *   const noWrite = await hca.cmd.exec(CmdOp.SW2HW_EQ, eq);
 *   return [noWrite, await hca.cmd.exec(CmdOp.SW2HW_SRQ, { srqn: 1, pd: 0, key: readOnly.key, addr: 0, logSize: 8, logStride: 5, uarIndex: 0 })];
 * });
 * assert.equal(noWrite.ok ? "" : noWrite.message, "SW2HW_EQ: region lacks LOCAL_WRITE");
 * assert.equal(tooBig.ok ? "" : tooBig.message, "SW2HW_SRQ: buffer [0, +8192) outside its region");
 * ```
 */
export function queueBuffer(
  t: DeviceTables,
  key: unknown,
  addr: unknown,
  bytes: number,
  write: boolean,
  what: string,
): MptEntry | CmdResult<never> {
  if (!isInt(key, 0, 0xffffffff)) return fail(CmdStatus.BAD_PARAM, `${what}: key must be a u32`);
  if (!isInt(addr, 0, Number.MAX_SAFE_INTEGER)) {
    return fail(CmdStatus.BAD_PARAM, `${what}: addr must be a non-negative integer`);
  }
  const e = t.core.tpt.lookup(key);
  if (!e) return fail(CmdStatus.BAD_RESOURCE, `${what}: key 0x${key.toString(16)} names no region`);
  if (addr < e.start || addr + bytes > e.start + e.length) {
    return fail(CmdStatus.BAD_PARAM, `${what}: buffer [${addr}, +${bytes}) outside its region`);
  }
  if (write && !(e.access & MptAccess.LOCAL_WRITE)) {
    return fail(CmdStatus.BAD_RESOURCE, `${what}: region lacks LOCAL_WRITE`);
  }
  return e;
}

/**
 * True if `v` is a command result (a failure returned by a lookup helper).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CmdStatus } from "./commands.ts";
 * import { fail, isResult } from "./firmware.ts";
 * assert.deepEqual([isResult(fail(CmdStatus.BAD_PARAM, "x")), isResult({ index: 1 })], [true, false]);
 * ```
 */
export function isResult(v: unknown): v is CmdResult<never> {
  return typeof v === "object" && v !== null && "ok" in v;
}

/**
 * The HW-owned entry of `table` that `params[field]` names (an index below
 * `count`), or BAD_INDEX / BAD_RES_STATE naming `noun`.
 */
function owned<T>(
  params: unknown,
  field: string,
  count: number,
  table: readonly (T | undefined)[],
  what: string,
  noun: string,
): T | CmdResult<never> {
  const n = obj(params)?.[field];
  if (!isInt(n, 0, count - 1)) return fail(CmdStatus.BAD_INDEX, `${what}: ${field} out of range`);
  return table[n] ?? fail(CmdStatus.BAD_RES_STATE, `${what}: ${noun} ${n} is not HW-owned`);
}

/**
 * The index `params[field]` for a SW2HW command: in `first..count-1` (below
 * `first` is reserved) and not yet HW-owned; or BAD_INDEX / BAD_RES_STATE.
 */
function unowned(
  params: unknown,
  field: string,
  first: number,
  count: number,
  table: readonly unknown[],
  what: string,
  noun: string,
): number | CmdResult<never> {
  const n = obj(params)?.[field];
  if (!isInt(n, first, count - 1)) {
    return fail(CmdStatus.BAD_INDEX, `${what}: ${field} out of range`);
  }
  if (table[n] !== undefined) {
    return fail(CmdStatus.BAD_RES_STATE, `${what}: ${noun} ${n} is already HW-owned`);
  }
  return n;
}

/**
 * QUERY_DEV_LIM output from the profile.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * import { MAX_EQ } from "./firmware.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * // QUERY_DEV_LIM answers with devLim(): the profile's limits and the fixed reservations.
 * const r = await engine.run(() => hca.cmd.exec(CmdOp.QUERY_DEV_LIM, {}));
 * assert.ok(r.ok);
 * assert.deepEqual([r.out.maxEq, r.out.maxQp, r.out.reservedUars], [MAX_EQ, PCIX_SDR_2006.hca.maxQp, 1]);
 * ```
 */
export function devLim(t: DeviceTables): DevLim {
  const h = t.core.profile.hca;
  return {
    maxQp: h.maxQp,
    maxCq: h.maxCq,
    maxEq: MAX_EQ,
    maxSrq: h.maxSrq,
    maxMpt: h.maxMr,
    maxMtt: h.maxMtt,
    maxUar: h.maxUar,
    maxPd: h.maxPd,
    maxAh: h.maxAh,
    maxQpWr: h.maxQpWr,
    maxSge: h.maxSge,
    maxCqe: h.maxCqe,
    maxInline: h.maxInline,
    maxRdAtomic: h.maxRdAtomic,
    maxDestRdAtomic: h.maxRdAtomic,
    reservedQps: RESERVED.qp,
    reservedMpts: RESERVED.mpt,
    reservedCqs: RESERVED.cq,
    reservedEqs: RESERVED.eq,
    reservedSrqs: RESERVED.srq,
    reservedUars: RESERVED.uar,
    ports: t.portCount,
    uarSize: PAGE_SIZE, // a UAR is one I/O page
    cqeSize: CQE_BYTES,
    eqeSize: EQE_BYTES,
    minWqeStride: SQ_STRIDE_MIN,
    maxWqeStride: SQ_STRIDE_MAX,
    maxMtu: ibaMtuCode(h.maxMtu) ?? MTU_CODE_MAX, // QUERY_DEV_LIM's max_mtu, the ports' MTUCap
    maxPkeys: t.core.profile.hca.maxPkeys,
    nodeGuid: t.port(1)?.node.nodeGuid ?? 0n,
    minPageShift: MIN_PAGE_SHIFT,
    maxPageShift: MAX_PAGE_SHIFT,
    maxMcg: t.mcg.total,
    numMgms: t.mcg.numMgms,
    qpPerMgm: t.mcg.qpPerMgm,
    localCaAckDelay: ackDelayCode(h.ackDelayNs),
  };
}

/**
 * The Local CA ACK delay code (IBTA vol 1 §9.7.6.1.3; QUERY_DEV_LIM's `local_ca_ack_delay`, which
 * mthca_query_device copies) of a responder that holds an ACK back by the profile's
 * `hca.ackDelayNs` coalescing window: the smallest `e` with 4.096 µs × 2^e ≥ `ns`, at most 31.
 * The MT23108's firmware answers a constant of its own; the model answers the delay it adds.
 */
function ackDelayCode(ns: number): number {
  let e = 0;
  while (e < 31 && 4096 * 2 ** e < ns) e++;
  return e;
}

/**
 * Port `p`'s P_Key table as the subnet manager set it (P_KeyTable, IBTA vol 1 §14.2.5.7), as
 * many entries as the device's `maxPkeys`, which QUERY_DEV_LIM reports and QP contexts are
 * checked against; 0 in an empty entry. A port not on a fabric has the power-on table: the
 * default P_Key at index 0.
 */
function pkeyTable(t: DeviceTables, p: Port | undefined): number[] {
  const table = new Array<number>(t.core.profile.hca.maxPkeys).fill(0);
  const set = p?.pkeys ?? [DEFAULT_PKEY];
  for (let i = 0; i < set.length && i < table.length; i++) table[i] = set[i];
  return table;
}

/**
 * PortInfo:VLCap of the MT23108's ports: VL0-VL7 (4). Solaris' tavor driver sets
 * TAVOR_MAX_VLCAP to 8 VLs, "the current Tavor device maximums" (tavor_misc.h); mthca reports the
 * firmware's VLCap as max_vl_num (mthca_query_port).
 */
const VL_CAP = 4;

/** QUERY_PORT output from the fabric port. */
function portInfo(t: DeviceTables, n: number): CmdResult<PortInfo> {
  if (!isInt(n, 1, t.portCount)) {
    return fail(CmdStatus.BAD_PARAM, `port ${n} outside 1..${t.portCount}`);
  }
  const p = t.port(n);
  const link = p?.link;
  return ok({
    port: n,
    state: p ? PortInfoState[p.state] : PortInfoState.DOWN,
    physState: !link
      ? PortPhysState.POLLING
      : p!.state === "DOWN"
      ? PortPhysState.DISABLED
      : PortPhysState.LINK_UP,
    lid: p?.lid ?? 0,
    lmc: p?.lmc ?? 0,
    smLid: p?.smLid ?? 0,
    smSl: 0,
    maxMtu: ibaMtuCode(p?.maxMtu ?? t.core.profile.hca.maxMtu) ?? MTU_CODE_MAX,
    // 0: no MTU yet (the port is not ACTIVE).
    activeMtu: ibaMtuCode(p?.activeMtu ?? 0) ?? 0,
    activeWidth: link?.params.width ?? 0,
    activeSpeedGbps: link ? (link.params.laneSignalBytesPerSec * 8) / 1e9 : 0,
    gidPrefix: p?.subnetPrefix ?? 0xfe80000000000000n,
    guid: p?.guid ?? 0n,
    pkeys: pkeyTable(t, p),
    // PortInfo:P_KeyViolations is 16 bits and stops at its maximum (IBTA vol 1 §14.2.5.6).
    pkeyViolations: Math.min(p?.counters.pkeyViolations ?? 0, 0xffff),
    qkeyViolations: Math.min(p?.counters.qkeyViolations ?? 0, 0xffff),
    capMask: 0,
    vlCap: VL_CAP,
    // mthca_query_port: subnet_timeout and init_type_reply are PortInfo's SubnetTimeOut and
    // InitTypeReply, as the SM set them. The SM sets no InitTypeReply (OpenSM does not either).
    subnetTimeout: p?.subnetTimeout ?? 0,
    initTypeReply: 0,
  });
}

/** INIT_IB / CLOSE_IB: enable or disable a port at the device (the link layer follows). */
function setPort(t: DeviceTables, n: unknown, up: boolean): CmdResult<void> {
  if (!isInt(n, 1, t.portCount)) {
    return fail(CmdStatus.BAD_PARAM, `port ${n} outside 1..${t.portCount}`);
  }
  const p = t.port(n);
  if (!p) return ok(undefined);
  if (!up) p.setState("DOWN");
  else if (p.state === "DOWN" && p.link) p.setState("INIT");
  return ok(undefined);
}

// ---- MPT / MTT ------------------------------------------------------------

/** WRITE_MTT. */
function writeMtt(t: DeviceTables, params: unknown): CmdResult<void> {
  const p = obj(params);
  const max = t.core.profile.hca.maxMtt;
  if (!p || !Array.isArray(p.mfns)) {
    return fail(CmdStatus.BAD_PARAM, "WRITE_MTT: mfns must be an array");
  }
  const mfns = p.mfns as unknown[];
  if (!isInt(p.base, 0, max) || p.base + mfns.length > max) {
    return fail(
      CmdStatus.BAD_SEG_PARAM,
      `WRITE_MTT: range base ${p.base} + ${mfns.length} outside 0..${max}`,
    );
  }
  const mem = t.core.memory;
  for (let i = 0; i < mfns.length; i++) {
    const m = mfns[i];
    // Only RAM frames: an MTT entry pointing at an I/O page (a UAR) would let DMA hit device registers.
    if (!isInt(m, 1, 0xffffffff) || !mem.isAllocated(m) || mem.isMmio(m)) {
      return fail(
        CmdStatus.BAD_PARAM,
        `WRITE_MTT: entry ${i} (${String(m)}) is not an allocated RAM frame`,
      );
    }
  }
  t.core.tpt.mtt.write(p.base, mfns as number[]);
  return ok(undefined);
}

/** SW2HW_MPT. */
function sw2hwMpt(t: DeviceTables, params: unknown): CmdResult<void> {
  const p = obj(params);
  const h = t.core.profile.hca;
  const tpt = t.core.tpt;
  if (!p) return fail(CmdStatus.BAD_PARAM, "SW2HW_MPT: parameters missing");
  if (!isInt(p.index, RESERVED.mpt, h.maxMr - 1)) {
    return fail(
      CmdStatus.BAD_INDEX,
      `SW2HW_MPT: index ${p.index} outside ${RESERVED.mpt}..${h.maxMr - 1}`,
    );
  }
  if (tpt.mpt[p.index]) {
    return fail(CmdStatus.BAD_RES_STATE, `SW2HW_MPT: entry ${p.index} is already HW-owned`);
  }
  if (!isInt(p.key, 0, 0xffffffff) || keyToMptIndex(p.key) !== p.index) {
    return fail(CmdStatus.BAD_PARAM, `SW2HW_MPT: key ${p.key} does not name index ${p.index}`);
  }
  if (!isInt(p.pd, 0, h.maxPd - 1)) {
    return fail(CmdStatus.BAD_PARAM, `SW2HW_MPT: pd ${p.pd} out of range`);
  }
  if (!isInt(p.start, 0, Number.MAX_SAFE_INTEGER) || !isInt(p.length, 0, Number.MAX_SAFE_INTEGER)) {
    return fail(CmdStatus.BAD_PARAM, "SW2HW_MPT: start and length must be non-negative integers");
  }
  if (!isInt(p.access, 0, MPT_ACCESS_MASK) || (p.access & ~MPT_ACCESS_MASK) !== 0) {
    return fail(CmdStatus.BAD_PARAM, "SW2HW_MPT: access must be MPT access flags");
  }
  // IBTA vol 1 §10.6.3: remote write or atomic access requires local write.
  if (
    (p.access & (MptAccess.REMOTE_WRITE | MptAccess.ATOMIC)) &&
    !(p.access & MptAccess.LOCAL_WRITE)
  ) {
    return fail(CmdStatus.BAD_PARAM, "SW2HW_MPT: REMOTE_WRITE/ATOMIC need LOCAL_WRITE");
  }
  if (!isInt(p.pageShift, MIN_PAGE_SHIFT, MAX_PAGE_SHIFT)) {
    return fail(CmdStatus.BAD_SEG_PARAM, `SW2HW_MPT: page shift ${p.pageShift}`);
  }
  if (!isInt(p.mttBase, 0, h.maxMtt) || !isInt(p.mttCount, 0, h.maxMtt - p.mttBase)) {
    return fail(CmdStatus.BAD_SEG_PARAM, "SW2HW_MPT: MTT range outside the table");
  }
  if (p.mttCount < pagesSpanned(p.start, p.length, p.pageShift)) {
    return fail(CmdStatus.BAD_SEG_PARAM, "SW2HW_MPT: region is larger than its MTT entries");
  }
  tpt.install({
    index: p.index,
    key: p.key,
    pd: p.pd,
    start: p.start,
    length: p.length,
    access: p.access,
    mttBase: p.mttBase,
    mttCount: p.mttCount,
    pageShift: p.pageShift,
    refs: 0,
  });
  return ok(undefined);
}

function ownedMpt(t: DeviceTables, params: unknown, what: string): MptEntry | CmdResult<never> {
  return owned(params, "index", t.core.profile.hca.maxMr, t.core.tpt.mpt, what, "entry");
}

/** HW2SW_MPT. */
function hw2swMpt(t: DeviceTables, params: unknown): CmdResult<void> {
  const e = ownedMpt(t, params, "HW2SW_MPT");
  if (isResult(e)) return e;
  if (e.refs > 0) {
    return fail(CmdStatus.RESOURCE_BUSY, `HW2SW_MPT: region is the buffer of ${e.refs} queue(s)`);
  }
  // From now on no key names the entry: a request checked later is refused. DMA writes
  // translated through it before are already on the bus; they land, and the command completes
  // only after them, so the driver unpins the frames (ib_umem_release after mthca_free_mr's
  // HW2SW_MPT returns, Linux drivers/infiniband/hw/mthca/mthca_mr.c) with nothing left on
  // its way to them. PCI orders the device's posted writes before the command's completion.
  const tpt = t.core.tpt;
  if (tpt.retire(e, t.core.engine.now)) {
    t.hold((done) =>
      t.core.bus.afterLanding(e.landsAt!, () => {
        tpt.drained(e);
        done();
      })
    );
  }
  return ok(undefined);
}

/** QUERY_MPT. */
function queryMpt(t: DeviceTables, params: unknown): CmdResult<unknown> {
  const e = ownedMpt(t, params, "QUERY_MPT");
  if (isResult(e)) return e;
  const { refs: _refs, landsAt: _landsAt, ...info } = e;
  return ok(info);
}

// ---- EQ -------------------------------------------------------------------

function ownedEq(t: DeviceTables, params: unknown, what: string): EventQueue | CmdResult<never> {
  return owned(params, "eqn", MAX_EQ, t.eqs, what, "EQ");
}

/** SW2HW_EQ. */
function sw2hwEq(t: DeviceTables, params: unknown): CmdResult<void> {
  const eqn = unowned(params, "eqn", RESERVED.eq, MAX_EQ, t.eqs, "SW2HW_EQ", "EQ");
  if (isResult(eqn)) return eqn;
  const p = obj(params)!;
  if (!isInt(p.logSize, 0, 22)) return fail(CmdStatus.BAD_SIZE, "SW2HW_EQ: logSize out of range");
  if (!isInt(p.vector, 0, 0xffff)) {
    return fail(CmdStatus.BAD_PARAM, "SW2HW_EQ: vector out of range");
  }
  if (!isInt(p.uarIndex, 0, t.core.profile.hca.maxUar - 1)) {
    return fail(CmdStatus.BAD_PARAM, "SW2HW_EQ: uarIndex");
  }
  const e = queueBuffer(t, p.key, p.addr, EQE_BYTES * 2 ** p.logSize, true, "SW2HW_EQ");
  if (isResult(e)) return e;
  e.refs++;
  t.eqs[eqn] = new EventQueue(
    t.core,
    eqn,
    e,
    p.addr as number,
    p.logSize,
    p.vector,
    p.uarIndex,
  );
  return ok(undefined);
}

/** HW2SW_EQ. */
function hw2swEq(t: DeviceTables, params: unknown): CmdResult<void> {
  const eq = ownedEq(t, params, "HW2SW_EQ");
  if (isResult(eq)) return eq;
  if (eq.refs > 0) {
    return fail(CmdStatus.RESOURCE_BUSY, `HW2SW_EQ: ${eq.refs} CQ(s) report to EQ ${eq.eqn}`);
  }
  for (let i = 0; i < t.eventMap.length; i++) if (t.eventMap[i] === eq) t.eventMap[i] = undefined;
  eq.mpt.refs--;
  t.eqs[eq.eqn] = undefined;
  // No event is posted to it from now on; an EQE already on its way lands first, and the command
  // completes only after it, before the driver frees the buffer (Linux mthca_eq.c
  // mthca_free_eq: HW2SW_EQ, then the buffer's mthca_free_mr and its pages).
  if (eq.writing) t.hold((done) => eq.afterWrites(done));
  return ok(undefined);
}

/** MAP_EQ. */
function mapEq(t: DeviceTables, params: unknown): CmdResult<void> {
  const eq = ownedEq(t, params, "MAP_EQ");
  if (isResult(eq)) return eq;
  const p = obj(params)!;
  if (!isInt(p.eventMask, 0, 0x7fffffff)) return fail(CmdStatus.BAD_PARAM, "MAP_EQ: eventMask");
  for (let type = 0; type < 31; type++) {
    if (!(p.eventMask & (1 << type))) continue;
    if (type === EqeType.COMPLETION) continue; // completions follow the CQ's EQ
    if (p.unmap) {
      if (t.eventMap[type] === eq) t.eventMap[type] = undefined;
    } else t.eventMap[type] = eq;
  }
  return ok(undefined);
}

/** QUERY_EQ. */
function queryEq(t: DeviceTables, params: unknown): CmdResult<unknown> {
  const eq = ownedEq(t, params, "QUERY_EQ");
  if (isResult(eq)) return eq;
  return ok({
    eqn: eq.eqn,
    key: eq.mpt.key,
    addr: eq.addr,
    logSize: eq.logSize,
    vector: eq.vector,
    uarIndex: eq.uarIndex,
    producerIndex: eq.producer,
    consumerIndex: eq.consumer,
    armed: eq.armed,
    overflowed: eq.overflowed,
  });
}

// ---- CQ -------------------------------------------------------------------

function ownedCq(
  t: DeviceTables,
  params: unknown,
  what: string,
): CompletionQueue | CmdResult<never> {
  return owned(params, "cqn", t.core.profile.hca.maxCq, t.cqs, what, "CQ");
}

function cqLogSizeOk(t: DeviceTables, v: unknown): v is number {
  // Entries up to max_cqe + 1 (a power of two; verbs reserves one).
  return isInt(v, 0, 30) && 2 ** v <= t.core.profile.hca.maxCqe + 1;
}

/** SW2HW_CQ. */
function sw2hwCq(t: DeviceTables, params: unknown): CmdResult<void> {
  const h = t.core.profile.hca;
  const cqn = unowned(params, "cqn", RESERVED.cq, h.maxCq, t.cqs, "SW2HW_CQ", "CQ");
  if (isResult(cqn)) return cqn;
  const p = obj(params)!;
  if (!cqLogSizeOk(t, p.logSize)) {
    return fail(CmdStatus.EXCEED_LIM, `SW2HW_CQ: 2^${p.logSize} entries above max_cqe`);
  }
  if (!isInt(p.uarIndex, 0, h.maxUar - 1)) {
    return fail(CmdStatus.BAD_PARAM, "SW2HW_CQ: uarIndex out of range");
  }
  const eq = isInt(p.eqn, 0, MAX_EQ - 1) ? t.eqs[p.eqn] : undefined;
  if (!eq) return fail(CmdStatus.BAD_RESOURCE, `SW2HW_CQ: EQ ${p.eqn} is not HW-owned`);
  const e = queueBuffer(t, p.key, p.addr, CQE_BYTES * 2 ** p.logSize, true, "SW2HW_CQ");
  if (isResult(e)) return e;
  e.refs++;
  eq.refs++;
  t.cqs[cqn] = new CompletionQueue(t.core, cqn, e, p.addr as number, p.logSize, eq, p.uarIndex);
  return ok(undefined);
}

/** HW2SW_CQ. */
function hw2swCq(t: DeviceTables, params: unknown): CmdResult<void> {
  const cq = ownedCq(t, params, "HW2SW_CQ");
  if (isResult(cq)) return cq;
  if (cq.refs > 0) {
    return fail(CmdStatus.RESOURCE_BUSY, `HW2SW_CQ: ${cq.refs} QP(s) use CQ ${cq.cqn}`);
  }
  cq.mpt.refs--;
  cq.eq.refs--;
  t.cqs[cq.cqn] = undefined;
  // A CQE already on its way lands first, and the command completes only after it, before the
  // driver frees the buffer (Linux mthca_cq.c mthca_free_cq: HW2SW_CQ, then the buffer's
  // mthca_free_mr and its pages); the region's own HW2SW_MPT, queued behind, finds it landed.
  if (cq.writing) t.hold((done) => cq.afterWrites(done));
  return ok(undefined);
}

/** RESIZE_CQ. */
function resizeCq(t: DeviceTables, params: unknown): CmdResult<void> {
  const cq = ownedCq(t, params, "RESIZE_CQ");
  if (isResult(cq)) return cq;
  const p = obj(params)!;
  if (!cqLogSizeOk(t, p.logSize)) {
    return fail(CmdStatus.EXCEED_LIM, "RESIZE_CQ: size above max_cqe");
  }
  if (cq.producer - cq.consumer > 2 ** p.logSize) {
    return fail(CmdStatus.BAD_SIZE, "RESIZE_CQ: new size cannot hold the unpolled CQEs");
  }
  const e = queueBuffer(t, p.key, p.addr, CQE_BYTES * 2 ** p.logSize, true, "RESIZE_CQ");
  if (isResult(e)) return e;
  cq.mpt.refs--;
  e.refs++;
  cq.mpt = e;
  cq.addr = p.addr as number;
  cq.logSize = p.logSize;
  return ok(undefined);
}

/** QUERY_CQ. */
function queryCq(t: DeviceTables, params: unknown): CmdResult<unknown> {
  const cq = ownedCq(t, params, "QUERY_CQ");
  if (isResult(cq)) return cq;
  return ok({
    cqn: cq.cqn,
    key: cq.mpt.key,
    addr: cq.addr,
    logSize: cq.logSize,
    eqn: cq.eq.eqn,
    uarIndex: cq.uarIndex,
    producerIndex: cq.producer,
    consumerIndex: cq.consumer,
    armed: cq.armed,
    error: cq.error,
  });
}

// ---- SRQ ------------------------------------------------------------------

function ownedSrq(
  t: DeviceTables,
  params: unknown,
  what: string,
): SharedReceiveQueue | CmdResult<never> {
  return owned(params, "srqn", t.core.profile.hca.maxSrq, t.srqs, what, "SRQ");
}

/** SW2HW_SRQ. */
function sw2hwSrq(t: DeviceTables, params: unknown): CmdResult<void> {
  const h = t.core.profile.hca;
  const srqn = unowned(params, "srqn", RESERVED.srq, h.maxSrq, t.srqs, "SW2HW_SRQ", "SRQ");
  if (isResult(srqn)) return srqn;
  const p = obj(params)!;
  if (!isInt(p.pd, 0, h.maxPd - 1)) return fail(CmdStatus.BAD_PARAM, "SW2HW_SRQ: pd out of range");
  if (!isInt(p.logSize, 0, 30) || 2 ** p.logSize > 2 * h.maxQpWr) {
    return fail(CmdStatus.EXCEED_LIM, "SW2HW_SRQ: size above max_qp_wr");
  }
  if (!isInt(p.logStride, Math.log2(RQ_STRIDE_MIN), Math.log2(RQ_STRIDE_MAX))) {
    return fail(
      CmdStatus.BAD_SIZE,
      `SW2HW_SRQ: stride must be ${RQ_STRIDE_MIN}..${RQ_STRIDE_MAX} bytes`,
    );
  }
  if (!isInt(p.uarIndex, 0, h.maxUar - 1)) {
    return fail(CmdStatus.BAD_PARAM, "SW2HW_SRQ: uarIndex out of range");
  }
  const e = queueBuffer(t, p.key, p.addr, 2 ** (p.logSize + p.logStride), false, "SW2HW_SRQ");
  if (isResult(e)) return e;
  e.refs++;
  t.srqs[srqn] = new SharedReceiveQueue(
    t.core,
    srqn,
    p.pd,
    e,
    p.addr as number,
    p.logSize,
    2 ** p.logStride,
    p.uarIndex,
  );
  return ok(undefined);
}

/** HW2SW_SRQ. */
function hw2swSrq(t: DeviceTables, params: unknown): CmdResult<void> {
  const s = ownedSrq(t, params, "HW2SW_SRQ");
  if (isResult(s)) return s;
  if (s.refs > 0) {
    return fail(CmdStatus.RESOURCE_BUSY, `HW2SW_SRQ: ${s.refs} QP(s) use SRQ ${s.srqn}`);
  }
  s.mpt.refs--;
  t.srqs[s.srqn] = undefined;
  return ok(undefined);
}

/** ARM_SRQ. */
function armSrq(t: DeviceTables, params: unknown): CmdResult<void> {
  const s = ownedSrq(t, params, "ARM_SRQ");
  if (isResult(s)) return s;
  const p = obj(params)!;
  if (!isInt(p.limit, 0, s.size)) {
    return fail(CmdStatus.BAD_PARAM, `ARM_SRQ: limit outside 0..${s.size}`);
  }
  s.limit = p.limit;
  return ok(undefined);
}

/** QUERY_SRQ. */
function querySrq(t: DeviceTables, params: unknown): CmdResult<unknown> {
  const s = ownedSrq(t, params, "QUERY_SRQ");
  if (isResult(s)) return s;
  return ok({
    srqn: s.srqn,
    pd: s.pd,
    key: s.mpt.key,
    addr: s.addr,
    logSize: s.logSize,
    logStride: Math.log2(s.stride),
    uarIndex: s.uarIndex,
    producerCounter: s.producer,
    consumerCounter: s.consumer,
    limit: s.limit,
  });
}

/**
 * A resource command's effect on the device tables.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, CmdStatus } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * import { RESOURCE_COMMANDS, type ResourceCommand } from "./firmware.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const writeMtt: ResourceCommand | undefined = RESOURCE_COMMANDS[CmdOp.WRITE_MTT];
 * assert.ok(writeMtt);
 * // A resource command answers malformed parameters with a status; it never throws.
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   return await hca.cmd.exec(CmdOp.WRITE_MTT, { base: 0, mfns: "3" } as never);
 * });
 * assert.equal(r.status, CmdStatus.BAD_PARAM);
 * ```
 */
export type ResourceCommand = (t: DeviceTables, params: unknown) => CmdResult<unknown>;

const port = (params: unknown) => obj(params)?.port;

/**
 * The resource commands (ports, MPT/MTT, EQ, CQ, SRQ) by opcode. Device
 * setup (QUERY_DEV_LIM, INIT_HCA, CLOSE_HCA) and the QP commands
 * (`qp_commands.ts`) are not here: they touch the device's own state.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RESOURCE_COMMANDS } from "./firmware.ts";
 * import { CmdOp } from "./commands.ts";
 * assert.deepEqual([CmdOp.SW2HW_CQ in RESOURCE_COMMANDS, CmdOp.INIT_HCA in RESOURCE_COMMANDS], [true, false]);
 * ```
 */
export const RESOURCE_COMMANDS: Readonly<Partial<Record<number, ResourceCommand>>> = {
  [CmdOp.INIT_IB]: (t, p) => setPort(t, port(p), true),
  [CmdOp.CLOSE_IB]: (t, p) => setPort(t, port(p), false),
  [CmdOp.QUERY_PORT]: (t, p) => portInfo(t, port(p) as number),
  [CmdOp.WRITE_MTT]: writeMtt,
  [CmdOp.SW2HW_MPT]: sw2hwMpt,
  [CmdOp.HW2SW_MPT]: hw2swMpt,
  [CmdOp.QUERY_MPT]: queryMpt,
  [CmdOp.SW2HW_EQ]: sw2hwEq,
  [CmdOp.HW2SW_EQ]: hw2swEq,
  [CmdOp.MAP_EQ]: mapEq,
  [CmdOp.QUERY_EQ]: queryEq,
  [CmdOp.SW2HW_CQ]: sw2hwCq,
  [CmdOp.HW2SW_CQ]: hw2swCq,
  [CmdOp.RESIZE_CQ]: resizeCq,
  [CmdOp.QUERY_CQ]: queryCq,
  [CmdOp.SW2HW_SRQ]: sw2hwSrq,
  [CmdOp.HW2SW_SRQ]: hw2swSrq,
  [CmdOp.ARM_SRQ]: armSrq,
  [CmdOp.QUERY_SRQ]: querySrq,
  [CmdOp.READ_MGM]: readMgm,
  [CmdOp.WRITE_MGM]: writeMgm,
  [CmdOp.MGID_HASH]: mgidHash,
};

// ---- multicast group table (Tavor READ_MGM / WRITE_MGM / MGID_HASH, as mthca_cmd.c issues them) ----

function gidParam(v: unknown): Uint8Array | undefined {
  return v instanceof Uint8Array && v.length === 16 ? v : undefined;
}

function mgmIndex(t: DeviceTables, v: unknown, what: string): number | CmdResult<never> {
  if (!isInt(v, 0, t.mcg.total - 1)) {
    return fail(CmdStatus.BAD_INDEX, `${what}: index ${String(v)} outside 0..${t.mcg.total - 1}`);
  }
  return v;
}

function readMgm(t: DeviceTables, params: unknown): CmdResult<unknown> {
  const index = mgmIndex(t, obj(params)?.index, "READ_MGM");
  if (isResult(index)) return index;
  return ok(t.mcg.read(index));
}

function writeMgm(t: DeviceTables, params: unknown): CmdResult<unknown> {
  const p = obj(params);
  const index = mgmIndex(t, p?.index, "WRITE_MGM");
  if (isResult(index)) return index;
  const e = obj(p?.entry);
  const gid = gidParam(e?.gid);
  if (!e || !gid) return fail(CmdStatus.BAD_PARAM, "WRITE_MGM: entry needs a 16-byte gid");
  if (!isInt(e.nextGidIndex, 0, t.mcg.total - 1)) {
    return fail(CmdStatus.BAD_PARAM, "WRITE_MGM: next_gid_index out of range");
  }
  const qp = e.qp;
  if (
    !Array.isArray(qp) || qp.length > t.mcg.qpPerMgm ||
    !qp.every((q) => isInt(q, 0, 0xffff_ffff))
  ) {
    return fail(CmdStatus.BAD_PARAM, `WRITE_MGM: qp must be up to ${t.mcg.qpPerMgm} slots`);
  }
  t.mcg.write(index, { nextGidIndex: e.nextGidIndex, gid, qp: qp as number[] });
  return ok(undefined);
}

function mgidHash(t: DeviceTables, params: unknown): CmdResult<unknown> {
  const gid = gidParam(obj(params)?.gid);
  if (!gid) return fail(CmdStatus.BAD_PARAM, "MGID_HASH: gid must be 16 bytes");
  return ok({ hash: t.mcg.hash(gid) });
}

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
  type CmdResult,
  CmdStatus,
  type DevLim,
  EqeType,
  HwAccess,
  keyToMptIndex,
  type PortInfo,
} from "./commands.ts";
import type { HcaCore } from "./core.ts";
import { CompletionQueue } from "./cq.ts";
import { CQE_BYTES } from "./cqe.ts";
import { EventQueue } from "./eq.ts";
import { EQE_BYTES } from "./eqe.ts";
import { type MptEntry, pagesSpanned } from "./mpt.ts";
import type { Port } from "./port.ts";
import { SharedReceiveQueue } from "./srq.ts";
import type { Transport } from "./transport.ts";

/** Event queues the device has (Tavor: 64). */
export const MAX_EQ = 64;
/** Reserved indices (QUERY_DEV_LIM reports them). */
export const RESERVED = { qp: 2, mpt: 1, cq: 0, eq: 0, srq: 0, uar: 1 } as const;

/** The device state the firmware works on. */
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
  /** INIT_HCA has run. */
  initialized: boolean;
  /** Number of ports. */
  readonly portCount: number;
  /** Port (1-based). */
  port(n: number): Port | undefined;
  /** Drop every context (CLOSE_HCA). */
  reset(): void;
}

/** A failed command result. */
export function fail(status: number, message: string): CmdResult<never> {
  return { ok: false, status: status as Exclude<CmdStatus, 0>, message };
}

/** A successful command result. */
export function ok<T>(out: T): CmdResult<T> {
  return { ok: true, status: CmdStatus.OK, out };
}

/** Parameter object or undefined. */
export function obj(p: unknown): Record<string, unknown> | undefined {
  return typeof p === "object" && p !== null ? p as Record<string, unknown> : undefined;
}

/** True for an integer in [lo, hi]. */
export function isInt(v: unknown, lo: number, hi: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi;
}

/** True for a power of two ≥ 1. */
export function isPow2(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 1 && (v & (v - 1)) === 0 &&
    v <= 2 ** 30;
}

/** Look up a queue buffer key: HW-owned, the range inside, LOCAL_WRITE if the device writes it. */
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
  if (write && !(e.access & HwAccess.LOCAL_WRITE)) {
    return fail(CmdStatus.BAD_RESOURCE, `${what}: region lacks LOCAL_WRITE`);
  }
  return e;
}

/** True if `v` is a command result (a failure returned by a lookup helper). */
export function isResult(v: unknown): v is CmdResult<never> {
  return typeof v === "object" && v !== null && "ok" in v;
}

/** QUERY_DEV_LIM output from the profile. */
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
    uarSize: 4096,
    cqeSize: CQE_BYTES,
    eqeSize: EQE_BYTES,
    minWqeStride: 64,
    maxWqeStride: 1024,
    maxMtu: 5,
    minPageShift: 12,
    maxPageShift: 30,
  };
}

const PORT_STATE = { DOWN: 1, INIT: 2, ARMED: 3, ACTIVE: 4 } as const;
const MTU_CODE: Record<number, number> = { 256: 1, 512: 2, 1024: 3, 2048: 4, 4096: 5 };

/** QUERY_PORT output from the fabric port. */
export function portInfo(t: DeviceTables, n: number): CmdResult<PortInfo> {
  if (!isInt(n, 1, t.portCount)) {
    return fail(CmdStatus.BAD_PARAM, `port ${n} outside 1..${t.portCount}`);
  }
  const p = t.port(n);
  const link = p?.link;
  return ok({
    port: n,
    state: p ? PORT_STATE[p.state] : 1,
    physState: !link ? 2 : p!.state === "DOWN" ? 3 : 5,
    lid: p?.lid ?? 0,
    lmc: p?.lmc ?? 0,
    smLid: 0,
    smSl: 0,
    maxMtu: MTU_CODE[p?.maxMtu ?? 4096] ?? 5,
    activeMtu: MTU_CODE[p?.activeMtu ?? 0] ?? 0,
    activeWidth: link?.params.width ?? 0,
    activeSpeedGbps: link ? (link.params.laneSignalBytesPerSec * 8) / 1e9 : 0,
    gidPrefix: p?.subnetPrefix ?? 0xfe80000000000000n,
    guid: p?.guid ?? 0n,
    pkeys: [0xffff],
    capMask: 0,
  });
}

/** INIT_IB / CLOSE_IB: enable or disable a port at the device (the link layer follows). */
export function setPort(t: DeviceTables, n: unknown, up: boolean): CmdResult<void> {
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
export function writeMtt(t: DeviceTables, params: unknown): CmdResult<void> {
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
export function sw2hwMpt(t: DeviceTables, params: unknown): CmdResult<void> {
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
  if (!isInt(p.access, 0, 0xff)) {
    return fail(CmdStatus.BAD_PARAM, "SW2HW_MPT: access must be a bit mask");
  }
  // IBTA vol 1 §10.6.3: remote write or atomic access requires local write.
  if (
    (p.access & (HwAccess.REMOTE_WRITE | HwAccess.REMOTE_ATOMIC)) &&
    !(p.access & HwAccess.LOCAL_WRITE)
  ) {
    return fail(CmdStatus.BAD_PARAM, "SW2HW_MPT: REMOTE_WRITE/ATOMIC need LOCAL_WRITE");
  }
  if (!isInt(p.pageShift, 12, 30)) {
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
  const p = obj(params);
  if (!p || !isInt(p.index, 0, t.core.profile.hca.maxMr - 1)) {
    return fail(CmdStatus.BAD_INDEX, `${what}: index out of range`);
  }
  const e = t.core.tpt.mpt[p.index];
  return e ?? fail(CmdStatus.BAD_RES_STATE, `${what}: entry ${p.index} is not HW-owned`);
}

/** HW2SW_MPT. */
export function hw2swMpt(t: DeviceTables, params: unknown): CmdResult<void> {
  const e = ownedMpt(t, params, "HW2SW_MPT");
  if (isResult(e)) return e;
  if (e.refs > 0) {
    return fail(CmdStatus.RESOURCE_BUSY, `HW2SW_MPT: region is the buffer of ${e.refs} queue(s)`);
  }
  t.core.tpt.remove(e.index);
  return ok(undefined);
}

/** QUERY_MPT. */
export function queryMpt(t: DeviceTables, params: unknown): CmdResult<unknown> {
  const e = ownedMpt(t, params, "QUERY_MPT");
  if (isResult(e)) return e;
  const { refs: _refs, ...info } = e;
  return ok(info);
}

// ---- EQ -------------------------------------------------------------------

function ownedEq(t: DeviceTables, params: unknown, what: string): EventQueue | CmdResult<never> {
  const p = obj(params);
  if (!p || !isInt(p.eqn, 0, MAX_EQ - 1)) {
    return fail(CmdStatus.BAD_INDEX, `${what}: eqn out of range`);
  }
  return t.eqs[p.eqn] ?? fail(CmdStatus.BAD_RES_STATE, `${what}: EQ ${p.eqn} is not HW-owned`);
}

/** SW2HW_EQ. */
export function sw2hwEq(t: DeviceTables, params: unknown): CmdResult<void> {
  const p = obj(params);
  if (!p || !isInt(p.eqn, RESERVED.eq, MAX_EQ - 1)) {
    return fail(CmdStatus.BAD_INDEX, "SW2HW_EQ: eqn out of range");
  }
  if (t.eqs[p.eqn]) {
    return fail(CmdStatus.BAD_RES_STATE, `SW2HW_EQ: EQ ${p.eqn} is already HW-owned`);
  }
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
  t.eqs[p.eqn] = new EventQueue(
    t.core,
    p.eqn,
    e,
    p.addr as number,
    p.logSize,
    p.vector,
    p.uarIndex,
  );
  return ok(undefined);
}

/** HW2SW_EQ. */
export function hw2swEq(t: DeviceTables, params: unknown): CmdResult<void> {
  const eq = ownedEq(t, params, "HW2SW_EQ");
  if (isResult(eq)) return eq;
  if (eq.refs > 0) {
    return fail(CmdStatus.RESOURCE_BUSY, `HW2SW_EQ: ${eq.refs} CQ(s) report to EQ ${eq.eqn}`);
  }
  for (let i = 0; i < t.eventMap.length; i++) if (t.eventMap[i] === eq) t.eventMap[i] = undefined;
  eq.mpt.refs--;
  t.eqs[eq.eqn] = undefined;
  return ok(undefined);
}

/** MAP_EQ. */
export function mapEq(t: DeviceTables, params: unknown): CmdResult<void> {
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
export function queryEq(t: DeviceTables, params: unknown): CmdResult<unknown> {
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
  const p = obj(params);
  if (!p || !isInt(p.cqn, 0, t.core.profile.hca.maxCq - 1)) {
    return fail(CmdStatus.BAD_INDEX, `${what}: cqn out of range`);
  }
  return t.cqs[p.cqn] ?? fail(CmdStatus.BAD_RES_STATE, `${what}: CQ ${p.cqn} is not HW-owned`);
}

function cqLogSizeOk(t: DeviceTables, v: unknown): v is number {
  // Entries up to max_cqe + 1 (a power of two; verbs reserves one).
  return isInt(v, 0, 30) && 2 ** v <= t.core.profile.hca.maxCqe + 1;
}

/** SW2HW_CQ. */
export function sw2hwCq(t: DeviceTables, params: unknown): CmdResult<void> {
  const p = obj(params);
  const h = t.core.profile.hca;
  if (!p || !isInt(p.cqn, RESERVED.cq, h.maxCq - 1)) {
    return fail(CmdStatus.BAD_INDEX, "SW2HW_CQ: cqn out of range");
  }
  if (t.cqs[p.cqn]) {
    return fail(CmdStatus.BAD_RES_STATE, `SW2HW_CQ: CQ ${p.cqn} is already HW-owned`);
  }
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
  t.cqs[p.cqn] = new CompletionQueue(t.core, p.cqn, e, p.addr as number, p.logSize, eq, p.uarIndex);
  return ok(undefined);
}

/** HW2SW_CQ. */
export function hw2swCq(t: DeviceTables, params: unknown): CmdResult<void> {
  const cq = ownedCq(t, params, "HW2SW_CQ");
  if (isResult(cq)) return cq;
  if (cq.refs > 0) {
    return fail(CmdStatus.RESOURCE_BUSY, `HW2SW_CQ: ${cq.refs} QP(s) use CQ ${cq.cqn}`);
  }
  cq.mpt.refs--;
  cq.eq.refs--;
  t.cqs[cq.cqn] = undefined;
  return ok(undefined);
}

/** RESIZE_CQ. */
export function resizeCq(t: DeviceTables, params: unknown): CmdResult<void> {
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
export function queryCq(t: DeviceTables, params: unknown): CmdResult<unknown> {
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
  const p = obj(params);
  if (!p || !isInt(p.srqn, 0, t.core.profile.hca.maxSrq - 1)) {
    return fail(CmdStatus.BAD_INDEX, `${what}: srqn out of range`);
  }
  return t.srqs[p.srqn] ?? fail(CmdStatus.BAD_RES_STATE, `${what}: SRQ ${p.srqn} is not HW-owned`);
}

/** SW2HW_SRQ. */
export function sw2hwSrq(t: DeviceTables, params: unknown): CmdResult<void> {
  const p = obj(params);
  const h = t.core.profile.hca;
  if (!p || !isInt(p.srqn, RESERVED.srq, h.maxSrq - 1)) {
    return fail(CmdStatus.BAD_INDEX, "SW2HW_SRQ: srqn out of range");
  }
  if (t.srqs[p.srqn]) {
    return fail(CmdStatus.BAD_RES_STATE, `SW2HW_SRQ: SRQ ${p.srqn} is already HW-owned`);
  }
  if (!isInt(p.pd, 0, h.maxPd - 1)) return fail(CmdStatus.BAD_PARAM, "SW2HW_SRQ: pd out of range");
  if (!isInt(p.logSize, 0, 30) || 2 ** p.logSize > 2 * h.maxQpWr) {
    return fail(CmdStatus.EXCEED_LIM, "SW2HW_SRQ: size above max_qp_wr");
  }
  if (!isInt(p.logStride, 4, 10)) {
    return fail(CmdStatus.BAD_SIZE, "SW2HW_SRQ: stride must be 16..1024 bytes");
  }
  if (!isInt(p.uarIndex, 0, h.maxUar - 1)) {
    return fail(CmdStatus.BAD_PARAM, "SW2HW_SRQ: uarIndex out of range");
  }
  const e = queueBuffer(t, p.key, p.addr, 2 ** (p.logSize + p.logStride), false, "SW2HW_SRQ");
  if (isResult(e)) return e;
  e.refs++;
  t.srqs[p.srqn] = new SharedReceiveQueue(
    t.core,
    p.srqn,
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
export function hw2swSrq(t: DeviceTables, params: unknown): CmdResult<void> {
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
export function armSrq(t: DeviceTables, params: unknown): CmdResult<void> {
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
export function querySrq(t: DeviceTables, params: unknown): CmdResult<unknown> {
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

/**
 * The checks the kernel makes of a uverbs command's arguments before any driver acts on them:
 * ib_uverbs (drivers/infiniband/core/uverbs_cmd.c), the core's verbs.c and mthca's own range
 * checks, as pure functions. Bare metal's kernel (`drivers/native/ucontext.ts`) runs them on its
 * calls; a guest's kernel (`drivers/front/file.ts`) runs the same ones on its requests before they
 * are encoded, so a bad argument gets the same answer in every mode; dom0 runs those that decide
 * a quota or a mapping before it charges or maps anything (`drivers/back/ops.ts`).
 *
 * @module
 */
import type { PathParams, QpContextParams } from "../../hca/commands.ts";
import { PAGE_SIZE } from "../../sim/memory.ts";
import { Access, mtuFromBytes, QpAttrMask as M, QpState as S, QpType } from "./enums.ts";
import { requestError, type VerbsError } from "./errors.ts";
import { absentAttrs, isQpState, modifyQpError } from "./qp_state.ts";
import type { AhAttr, QpAttr, QpCap } from "./types.ts";
import type { WqLayout } from "./uverbs.ts";
import { roundPow2 } from "./wq_layout.ts";

export function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * `device_cap_flags` as mthca_main.c sets them for every InfiniHost:
 * `IBV_DEVICE_CHANGE_PHY_PORT | PORT_ACTIVE_EVENT | SYS_IMAGE_GUID |
 * RC_RNR_NAK_GEN` (the firmware-dependent counters and automatic path
 * migration are not claimed; no `SRQ_RESIZE`: mthca_modify_srq refuses a
 * new max_wr, as this driver does).
 */
/**
 * GIDs per port: the model's port has one, its GUID under the subnet prefix
 * (query_port's gid_tbl_len; the bound of an address vector's sgid_index).
 */
export const GID_TABLE_LEN = 1;

export const MTHCA_DEVICE_CAP_FLAGS = (1 << 5) | (1 << 10) | (1 << 11) | (1 << 12);

/** `IB_UVERBS_ACCESS_OPTIONAL_RANGE`: bits 20..29, hints a device may ignore (`RELAXED_ORDERING`, …). */
export const ACCESS_OPTIONAL_RANGE = ((1 << 29) * 2 - 1) & ~((1 << 20) - 1);
/** `IB_ACCESS_FLUSH_GLOBAL` and `IB_ACCESS_FLUSH_PERSISTENT` (bits 8, 9): no FLUSH on this device. */
export const ACCESS_FLUSH = (1 << 8) | (1 << 9);
/** `IB_ACCESS_SUPPORTED`: bits 0..9 and the optional range. */
export const ACCESS_SUPPORTED = ((1 << 9) * 2 - 1) | ACCESS_OPTIONAL_RANGE;

/**
 * reg_mr's arguments as the kernel checks them before it pins a page
 * (ib_uverbs_reg_mr: `ib_check_mr_access` before the driver's
 * `reg_user_mr` calls `ib_umem_get`): the access flags ({@link checkMrAccess}),
 * then the length and the address; returns the flags the region gets.
 * A guest's kernel checks its own `REG_MR` with it before it looks at the
 * buffer's pages, so a bad argument is refused as on bare metal, not as an
 * unmapped page or a pin limit (see `VibFrontFile.regMr`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRegMr } from "./kernel_checks.ts";
 * assert.equal(checkRegMr({ addr: 0, length: 4096, access: 1 }), 1);
 * assert.throws(() => checkRegMr({ addr: 0, length: 2 ** 40, access: 0 }), /length must be/);
 * ```
 */
export function checkRegMr(req: { addr: number; length: number; access: number }): number {
  const access = checkMrAccess(req.access);
  checkRegMrExtent(req);
  return access;
}

/** reg_mr's extent as `ib_umem_get` checks it before it pins a page (the model's 4 GiB limit). */
export function checkRegMrExtent(req: { addr: number; length: number }): void {
  checkInt("reg_mr", "length", req.length, 1, 2 ** 32);
  // Address 0 is no special case: ib_umem_get finds no page there (EFAULT), as at any address
  // the process has not mapped.
  checkInt("reg_mr", "addr", req.addr, 0, Number.MAX_SAFE_INTEGER);
}

/**
 * reg_mr's access flags as the kernel checks them (`ib_check_mr_access`,
 * include/rdma/ib_verbs.h) and mthca takes them; returns the flags the
 * region gets. Remote write or atomic without local write is EINVAL (IBTA
 * §10.6.3.1, ibv_reg_mr(3)); a bit outside `IB_ACCESS_SUPPORTED` is EINVAL;
 * `ON_DEMAND` and the FLUSH flags the device has no capability for are
 * EOPNOTSUPP. The optional range (`RELAXED_ORDERING`, …) is a hint the
 * device may ignore (ibv_reg_mr(3): "A device that does not support the
 * requested flag may ignore it"; libibverbs' `ibv_reg_mr_iova2` strips
 * them for a kernel that does not take them): it is dropped. `MW_BIND` and
 * `HUGETLB` pass, as mthca's `convert_access` lets them (no memory windows
 * here to bind; huge pages are the application's promise). `ZERO_BASED`
 * is refused: mthca would ignore it and address the region by VA, which
 * the caller asked not to.
 */
export function checkMrAccess(access: number): number {
  if (!Number.isInteger(access) || access < 0 || access > 0xffffffff) {
    throw inval(`reg_mr: access must be an integer of 32 bits, got ${String(access)}`);
  }
  if ((access & (Access.REMOTE_WRITE | Access.REMOTE_ATOMIC)) && !(access & Access.LOCAL_WRITE)) {
    throw inval("reg_mr: REMOTE_WRITE/REMOTE_ATOMIC require LOCAL_WRITE");
  }
  if ((access & ~ACCESS_SUPPORTED) || (access & Access.ZERO_BASED)) {
    throw inval(`reg_mr: access flags 0x${(access >>> 0).toString(16)} not supported`);
  }
  if (access & (Access.ON_DEMAND | ACCESS_FLUSH)) {
    throw requestError(
      "EOPNOTSUPP",
      `reg_mr: access flags 0x${
        (access >>> 0).toString(16)
      }: no on-demand paging or FLUSH on this device`,
    );
  }
  return access & ~ACCESS_OPTIONAL_RANGE;
}

/** EINVAL about the caller's own request ({@link requestError}: a backend may pass its text on). */
export function inval(msg: string): VerbsError {
  return requestError("EINVAL", msg);
}

/**
 * A queue buffer (CQ, QP, SRQ) starts on a page: the library allocates it so
 * (libmthca's mthca_alloc_buf, page-aligned), and the queue's offsets count
 * from that page. Checked with the creation's other arguments, so that a
 * guest's buffer is held to it in every mode: dom0 registers a split guest's
 * shadow queue in its place, and used to accept any address, then copy the
 * guest's WQEs and CQEs at offsets from the page below it.
 */
export function queueAligned(what: string, addr: number): void {
  if (addr % PAGE_SIZE !== 0) {
    throw inval(`${what}: buffer 0x${addr.toString(16)} not page-aligned`);
  }
}

/**
 * A CQ's size as the kernel checks it before anything is allocated: `cqe`
 * in 1..max_cqe, and the ring the library laid out (2^`logSize` entries) no
 * larger than max_cqe + 1, the spare entry it adds. Linux refuses a size
 * above the device's limit with -EINVAL (mthca_provider.c `mthca_create_cq`
 * and `mthca_resize_cq`: `entries < 1 || entries > dev->limits.max_cqes`;
 * mlx4_ib_create_cq likewise; ibv_create_cq(3)), never ENOMEM: the device's
 * own refusal (SW2HW_CQ with EXCEED_LIM) or a quota is never reached. The
 * backend checks a guest's CREATE_CQ and RESIZE_CQ with it before its
 * quotas. Returns the ring's entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkCqSize } from "./kernel_checks.ts";
 * assert.equal(checkCqSize("create_cq", 131071, 17, 131071), 131072);
 * assert.throws(() => checkCqSize("create_cq", 1, 18, 131071), /EINVAL: .*above max_cqe 131071/);
 * ```
 */
export function checkCqSize(call: string, cqe: unknown, logSize: unknown, maxCqe: number): number {
  checkInt(call, "cqe", cqe, 1, maxCqe);
  const log = checkInt(call, "logSize", logSize, 1, 24);
  if (2 ** log > maxCqe + 1) {
    throw inval(`${call}: 2^${log} entries above max_cqe ${maxCqe} (at most ${maxCqe + 1})`);
  }
  return 2 ** log;
}

/**
 * An SRQ's size as the kernel checks it before anything is allocated:
 * `maxWr` in 0..max_srq_wr, and the ring the library laid out
 * (2^`logSize` entries) no larger than the one it lays out for max_srq_wr
 * itself (`srqLayout` rounds `maxWr` up to a power of two and keeps no
 * spare entry). Linux refuses a size above the device's limit with
 * -EINVAL (mthca_srq.c `mthca_alloc_srq`: `attr->max_wr >
 * dev->limits.max_srq_wqes` is -EINVAL; ibv_create_srq(3)), never ENOMEM:
 * the device's own refusal (SW2HW_SRQ with EXCEED_LIM) or a quota is never
 * reached. The backend checks a guest's CREATE_SRQ with it before its
 * quotas. Returns the ring's entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkSrqSize } from "./kernel_checks.ts";
 * assert.equal(checkSrqSize(16384, 14, 16384), 16384);
 * assert.throws(() => checkSrqSize(1, 15, 16384), /EINVAL: .*above max_srq_wr 16384/);
 * ```
 */
export function checkSrqSize(maxWr: unknown, logSize: unknown, maxSrqWr: number): number {
  checkInt("create_srq", "maxWr", maxWr, 0, maxSrqWr);
  const log = checkInt("create_srq", "logSize", logSize, 0, 24), ring = roundPow2(maxSrqWr);
  if (2 ** log > ring) {
    throw inval(`create_srq: 2^${log} entries above max_srq_wr ${maxSrqWr} (at most ${ring})`);
  }
  return 2 ** log;
}

/**
 * A QP's queue sizes as the kernel checks them before anything is
 * allocated: `maxSendWr` and `maxRecvWr` in 0..max_qp_wr, and each ring the
 * library laid out (`sqSize`, `rqSize` entries) no larger than the one it
 * lays out for max_qp_wr itself (`qpLayout` rounds up to a power of two).
 * Linux refuses a size above the device's limit with -EINVAL at creation
 * (mthca_qp.c `mthca_set_qp_size`, which `mthca_alloc_qp` calls before
 * `mthca_alloc_qp_common`: `cap->max_send_wr > dev->limits.max_wqes ||
 * cap->max_recv_wr > dev->limits.max_wqes` is -EINVAL; ibv_create_qp(3)):
 * no QP is made whose RST2INIT the device would refuse (EXCEED_LIM), nor
 * is a quota asked. The backend checks a guest's CREATE_QP with it before its
 * quotas. Returns the entries of both rings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkQpSize } from "./kernel_checks.ts";
 * const cap = { maxSendWr: 16384, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
 * assert.equal(checkQpSize(cap, { sqSize: 16384, rqSize: 1 }, 16384), 16385);
 * assert.throws(
 *   () => checkQpSize(cap, { sqSize: 32768, rqSize: 1 }, 16384),
 *   /EINVAL: create_qp: a send queue of 32768 entries above max_qp_wr 16384/,
 * );
 * ```
 */
export function checkQpSize(
  cap: QpCap,
  wq: Pick<WqLayout, "sqSize" | "rqSize">,
  maxQpWr: number,
): number {
  checkInt("create_qp", "maxSendWr", cap.maxSendWr, 0, maxQpWr);
  checkInt("create_qp", "maxRecvWr", cap.maxRecvWr, 0, maxQpWr);
  const ring = roundPow2(maxQpWr);
  let entries = 0;
  for (const [k, what] of [["sqSize", "send"], ["rqSize", "receive"]] as const) {
    const n = checkInt("create_qp", k, wq[k], 0, 0xffffffff);
    if (n > ring) {
      throw inval(
        `create_qp: a ${what} queue of ${n} entries above max_qp_wr ${maxQpWr} (at most ${ring})`,
      );
    }
    entries += n;
  }
  return entries;
}

export function mcastKey(gid: Uint8Array, mlid: number): string {
  return `${Array.from(gid, (b) => b.toString(16).padStart(2, "0")).join("")}/${mlid}`;
}

export function checkInt(call: string, name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    const got = typeof v === "string" ? JSON.stringify(v) : String(v);
    throw inval(`${call}: ${name} must be an integer in ${min}..${max}, got ${got}`);
  }
  return v;
}

/**
 * An optional field's value: `dflt` when absent. A `null` is no absence but a value, which no
 * `__u8` or `__u32` of `struct ib_uverbs_ah_attr` holds, so {@link checkInt} refuses it
 * (docs/api.md, Conventions: a value no C field could hold is EINVAL naming the field).
 */
function given(v: unknown, dflt: number): unknown {
  return v === undefined ? dflt : v;
}

/**
 * An address vector as the kernel checks it (an AH's, or a QP's path at
 * `modify_qp`): every field within the range ib_uverbs and mthca take
 * (`struct ib_uverbs_ah_attr`'s widths, `rdma_check_ah_attr`,
 * `mthca_path_set`'s sgid_index). A guest's kernel checks an AH's with it
 * before its `CREATE_AH` request is encoded, so a value the request
 * cannot carry is refused with the text bare metal gives (see
 * `VibFrontFile.createAh`). Returns the path the device takes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkAhAttr } from "./kernel_checks.ts";
 * assert.equal(checkAhAttr("create_ah", { dlid: 3 }).dlid, 3);
 * assert.throws(
 *   () => checkAhAttr("create_ah", { dlid: 70000 }),
 *   /EINVAL: create_ah: ah.dlid must be an integer in 0..65535, got 70000$/,
 * );
 * ```
 */
export function checkAhAttr(call: string, ah: AhAttr): PathParams {
  const p: PathParams = {
    // Any DLID a __u16 holds (struct ib_uverbs_ah_attr's dlid): neither the core
    // (ib_uverbs_create_ah, rdma_check_ah_attr, _ib_modify_qp) nor mthca (mthca_create_ah,
    // mthca_path_set) nor libmthca (mthca_alloc_av) looks at it, so the reserved LID 0, the
    // permissive LID 0xFFFF and a multicast LID without a GRH are taken, for an AH and a
    // connected QP's path alike. The fabric decides their packets' fate (docs/api.md, AhAttr).
    dlid: checkInt(call, "ah.dlid", ah.dlid, 0, 0xffff),
    sl: checkInt(call, "ah.sl", given(ah.sl, 0), 0, 15),
    srcPathBits: checkInt(call, "ah.srcPathBits", given(ah.srcPathBits, 0), 0, 127),
    // Fields the device does not check are still the uverbs ABI's widths (struct
    // ib_uverbs_ah_attr: static_rate and hop_limit __u8, flow_label __u32): a value none of
    // them holds could not have been passed, in any mode (a guest's request carries them so).
    staticRate: checkInt(call, "ah.staticRate", given(ah.staticRate, 0), 0, 0xff),
  };
  // A null `grh` is a C caller's is_global 0 (as a null SRQ or channel is none): no GRH.
  if (ah.grh !== undefined && ah.grh !== null) {
    if (!(ah.grh.dgid instanceof Uint8Array) || ah.grh.dgid.length !== 16) {
      throw inval(`${call}: ah.grh.dgid must be 16 bytes`);
    }
    p.grh = {
      dgid: ah.grh.dgid.slice(),
      // mthca_path_set: an sgid_index past the port's GID table fails with EINVAL.
      sgidIndex: checkInt(
        call,
        "ah.grh.sgidIndex",
        given(ah.grh.sgidIndex, 0),
        0,
        GID_TABLE_LEN - 1,
      ),
      flowLabel: checkInt(call, "ah.grh.flowLabel", given(ah.grh.flowLabel, 0), 0, 0xffffffff),
      // The hop limit as given, 0 when left unset as every other field: ib_uverbs_create_ah and
      // ib_uverbs_modify_qp (uverbs_cmd.c) pass grh.hop_limit on unchanged, and mthca_create_ah
      // and mthca_path_set copy it into the AV; no layer substitutes a default.
      hopLimit: checkInt(call, "ah.grh.hopLimit", given(ah.grh.hopLimit, 0), 0, 0xff),
      // struct ib_uverbs_global_route's traffic_class is a __u8, written into the GRH's TClass
      // (mthca_path_set puts it in sl_tclass_flowlabel; IBTA vol 1 §8.3.1).
      trafficClass: checkInt(call, "ah.grh.trafficClass", given(ah.grh.trafficClass, 0), 0, 0xff),
    };
  }
  return p;
}

/**
 * An address vector as the uverbs ABI carries it: a `null` `grh` is none
 * (is_global 0, as {@link checkAhAttr} reads it), left out. A guest's kernel
 * builds its `CREATE_AH` and `MODIFY_QP` requests from it, whose encoder
 * takes a GRH object or none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { abiAhAttr } from "./kernel_checks.ts";
 * // deno-lint-ignore no-explicit-any
 * assert.deepEqual(abiAhAttr({ dlid: 3, grh: null } as any), { dlid: 3 });
 * ```
 */
export function abiAhAttr(ah: AhAttr): AhAttr;
export function abiAhAttr(ah: AhAttr | undefined): AhAttr | undefined;
export function abiAhAttr(ah: AhAttr | undefined): AhAttr | undefined {
  if (typeof ah !== "object" || ah === null || ah.grh !== null) return ah;
  const { grh: _, ...rest } = ah;
  return rest;
}

/**
 * An AH's address vector as bare metal's kernel checks it at `create_ah`:
 * {@link checkAhAttr}, then a `portNum` given must be one of the device's
 * `ports` (ib_uverbs_create_ah → rdma_create_user_ah → rdma_check_ah_attr:
 * `rdma_is_port_valid`, else EINVAL). The native driver's `createAh` and a
 * guest's kernel before its `CREATE_AH` request is encoded both run it, so a
 * guest refuses a port no `__u8` holds with bare metal's text, not the ring
 * encoder's (`attr.portNum: 300 does not fit u8`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkCreateAhAttr } from "./kernel_checks.ts";
 * assert.equal(checkCreateAhAttr({ dlid: 3, portNum: 2 }, 2).dlid, 3);
 * assert.throws(
 *   () => checkCreateAhAttr({ dlid: 3, portNum: 300 }, 2),
 *   /EINVAL: create_ah: ah.portNum must be an integer in 1..2, got 300$/,
 * );
 * ```
 */
export function checkCreateAhAttr(ah: AhAttr, ports: number): PathParams {
  const p = checkAhAttr("create_ah", ah);
  if (ah.portNum !== undefined) checkInt("create_ah", "ah.portNum", ah.portNum, 1, ports);
  return p;
}

/**
 * What ib_uverbs' `modify_qp` (uverbs_cmd.c) checks and changes before the
 * driver sees a modify (the driver's `ib_modify_qp_is_ok` then checks the
 * attribute mask against the state table), in its order:
 *
 * - a port must be one of the device's `ports` (`rdma_is_port_valid`), the
 *   primary AV's and the alternate path's too;
 * - the primary AV's port at INIT->RTR must be the QP's own, `qpPort` (the
 *   one RESET->INIT set); elsewhere (SQD->SQD) it must be the port given
 *   with it, and an AV given without a port brings its port along: "if
 *   only IB_QP_AV was set, add in IB_QP_PORT as well … in SQD, if the
 *   primary AV is modified, the primary port should also be modified". An
 *   AV without `portNum` names the QP's port. (A UC QP takes no port at
 *   SQD->SQD, so the table then refuses the modify, as Linux does.)
 * - a `curState` or `state` past ERR is EINVAL (named with QP `qpn`, if given);
 * - a controlled Q_Key (bit 31 set) is EPERM: no consumer may give its QP
 *   one (IBTA vol 1 §3.5.3, as "RDMA/uverbs: Restrict usage of privileged
 *   QKEYs" quotes it; `qkey & IB_QP_SET_QKEY` is -EPERM unless the
 *   administrator allowed it, rdma_nl_get_privileged_qkey, off by default).
 *   Every program here runs as an ordinary user.
 *
 * Returns the attributes and mask the driver gets (the caller's untouched);
 * throws EINVAL or EPERM.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { uverbsModifyQp } from "./kernel_checks.ts";
 * import { QpAttrMask as M } from "../uapi/enums.ts";
 * const { attr, mask } = uverbsModifyQp({ ah: { dlid: 3, portNum: 2 } }, M.AV, 1, 2);
 * assert.equal(mask, M.AV | M.PORT);
 * assert.equal(attr.port, 2);
 * assert.throws(() => uverbsModifyQp({ qkey: 0x80000001 }, M.QKEY, 1, 2), /EPERM: modify_qp: qkey/);
 * assert.throws(() => uverbsModifyQp({ port: 3 }, M.PORT, 1, 2), /EINVAL: modify_qp: port/);
 * ```
 */
export function uverbsModifyQp(
  attr: QpAttr,
  mask: number,
  qpPort: number | undefined,
  ports: number,
  qpn?: number,
): { attr: QpAttr; mask: number } {
  const call = "modify_qp";
  if (mask & M.PORT) checkInt(call, "port", attr.port, 1, ports);
  const ah = mask & M.AV ? attr.ah : undefined;
  const avPort = ah?.portNum;
  if (avPort !== undefined) checkInt(call, "ah.portNum", avPort, 1, ports);
  let out = attr, outMask = mask;
  if (ah) {
    if (mask & M.STATE && attr.state === S.RTR) {
      if (avPort !== undefined && avPort !== qpPort) {
        // A QP that has not been through RESET->INIT has no port (mthca's qp->port 0).
        const own = qpPort === undefined ? "none (no RESET->INIT yet)" : String(qpPort);
        throw inval(`${call}: ah.portNum ${avPort} is not the QP's port, ${own}`);
      }
    } else if (mask & M.PORT) {
      if (avPort !== undefined && avPort !== attr.port) {
        throw inval(`${call}: ah.portNum ${avPort} is not the port given with it, ${attr.port}`);
      }
    } else {
      out = { ...attr, port: avPort ?? qpPort };
      outMask |= M.PORT;
    }
  }
  const altPort = mask & M.ALT_PATH ? attr.altPath?.portNum : undefined;
  if (altPort !== undefined) checkInt(call, "altPath.portNum", altPort, 1, ports);
  // ib_uverbs' modify_qp (core/uverbs_cmd.c) refuses a cur_qp_state or qp_state past
  // IB_QPS_ERR with EINVAL after the ports and before it looks at the Q_Key: such a request
  // is never EPERM for a controlled Q_Key it also carries.
  for (const [k, bit, tag] of [["curState", M.CUR_STATE, " (curState)"], ["state", M.STATE, ""]]) {
    const v = attr[k as "state" | "curState"];
    if (mask & (bit as number) && !isQpState(v)) {
      const got = typeof v === "string" ? JSON.stringify(v) : String(v);
      throw inval(`${call}${qpn === undefined ? "" : ` QP ${qpn}`}: no such QP state ${got}${tag}`);
    }
  }
  const qkey = attr.qkey;
  if (mask & M.QKEY && typeof qkey === "number" && qkey >>> 0 === qkey && qkey >= 0x80000000) {
    throw requestError(
      "EPERM",
      `${call}: qkey 0x${qkey.toString(16)} is a controlled Q_Key (bit 31 set), ` +
        "which an unprivileged process may not set",
    );
  }
  return { attr: out, mask: outMask };
}

/** verbs.h `IBV_QPT_RAW_PACKET`, `IBV_QPT_XRC_SEND`, `IBV_QPT_XRC_RECV`, `IBV_QPT_DRIVER`. */
export const QPT_RAW_PACKET = 8, QPT_XRC_SEND = 9, QPT_XRC_RECV = 10, QPT_DRIVER = 0xff;

/**
 * create_cq's completion vector as ib_uverbs checks it (uverbs_cmd.c
 * `create_cq`: `comp_vector >= num_comp_vectors` is EINVAL), before the
 * driver sees the size. A guest's kernel makes the same check before its
 * `CREATE_CQ` request is built (`VibFrontFile.createCq`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkCompVector } from "./kernel_checks.ts";
 * checkCompVector(0, 1);
 * assert.throws(() => checkCompVector(-1, 1), /compVector must be an integer in 0..0, got -1/);
 * ```
 */
export function checkCompVector(v: unknown, numCompVectors: number): void {
  checkInt("create_cq", "compVector", v, 0, numCompVectors - 1);
}

/**
 * modify_srq's `max_wr`: mthca_modify_srq refuses a resize (`IB_SRQ_MAX_WR`
 * is -EINVAL), whatever the value. A guest's kernel makes the same check
 * before its `MODIFY_SRQ` request is built (`VibFrontFile.modifySrq`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkSrqResize } from "./kernel_checks.ts";
 * checkSrqResize({});
 * assert.throws(() => checkSrqResize({ maxWr: 8 }), /resizing an SRQ is not supported/);
 * ```
 */
export function checkSrqResize(req: { maxWr?: unknown }): void {
  if (req.maxWr !== undefined) throw inval("modify_srq: resizing an SRQ is not supported");
}

/**
 * create_srq's `srq_limit`: the ABI carries it (a `__u32`), creation does
 * not use it (mthca_alloc_srq; ibv_create_srq(3): "irrelevant for
 * ibv_create_srq"), but a value no C field could hold is refused. A
 * guest's kernel makes the same check before its `CREATE_SRQ` request is
 * built (the library checked `maxWr` and `maxSge` before either kernel).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkCreateSrqLimit } from "./kernel_checks.ts";
 * checkCreateSrqLimit(0);
 * assert.throws(() => checkCreateSrqLimit(-1), /srqLimit must be an integer in 0..4294967295/);
 * ```
 */
export function checkCreateSrqLimit(v: unknown): void {
  checkInt("create_srq", "srqLimit", v, 0, 0xffffffff);
}

/**
 * modify_srq's limit: at most the SRQ's `max_wr` (mthca_modify_srq: `limit
 * > srq->max` is -EINVAL). A guest's kernel, which knows the size its SRQ
 * was granted, makes the same check before its `MODIFY_SRQ` request is built.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkSrqLimit } from "./kernel_checks.ts";
 * checkSrqLimit(4, 4);
 * assert.throws(() => checkSrqLimit(-1, 4), /srqLimit must be an integer in 0..4, got -1/);
 * ```
 */
export function checkSrqLimit(v: unknown, maxWr: number): void {
  checkInt("modify_srq", "srqLimit", v, 0, maxWr);
}

/**
 * create_qp's QP type as the kernel sorts it, before anything is looked up
 * or allocated. ib_uverbs' `create_qp` (uverbs_cmd.c): a raw packet QP
 * needs CAP_NET_RAW, which no program here has (EPERM, as for a controlled
 * Q_Key); RC, UC, UD, the two XRC types and the driver-specific type go
 * on; any other type — SMI and GSI among them, QP0 and QP1 being the
 * kernel's — is EINVAL. An XRC target names an XRC domain where a PD is
 * named, and a PD's handle is not one (EINVAL, as this model has no XRC
 * domains). mthca_create_qp takes RC, UC and UD and refuses the XRC
 * initiator and the driver type: "Don't support raw QPs", EOPNOTSUPP.
 */
export function checkQpType(type: unknown): void {
  if (type === QpType.RC || type === QpType.UC || type === QpType.UD) return;
  const t = typeof type === "string" ? JSON.stringify(type) : String(type);
  if (type === QPT_RAW_PACKET) {
    throw requestError(
      "EPERM",
      `create_qp: QP type ${t} (raw packet) needs CAP_NET_RAW, which this process lacks`,
    );
  }
  if (type === QPT_XRC_SEND || type === QPT_DRIVER) {
    throw requestError("EOPNOTSUPP", `create_qp: QP type ${t} is not supported by mthca`);
  }
  const why = type === QPT_XRC_RECV ? " (an XRC target needs an XRC domain)" : "";
  throw inval(`create_qp: QP type ${t} is not a QP type a process may create${why}`);
}

/**
 * What the kernel knows of its device that modify_qp's checks need: the
 * port count, the P_Key table's length, the largest MTU (an IBA MTU code, the
 * ports' MTUCap) and the RDMA READ / atomic depths (`max_qp_init_rd_atom`,
 * `max_qp_rd_atom`). Bare metal's kernel has them from QUERY_DEV_LIM; a
 * guest's from the device and port attributes dom0 answered it.
 */
export interface ModifyQpLimits {
  ports: number;
  maxPkeys: number;
  maxMtu: number;
  maxRdAtomic: number;
  maxDestRdAtomic: number;
}

/** The QP as its kernel knows it: number, type, cached state and port (RESET->INIT's). */
export interface ModifyQpTarget {
  qpn: number;
  type: number;
  state: number;
  port?: number;
}

/** `IB_QP_ATTR_STANDARD_BITS`: IB_QP_STATE (bit 0) .. IB_QP_DEST_QPN (bit 20). */
const MODIFY_QP_MASK_BITS = (M.DEST_QPN << 1) - 1;

/**
 * modify_qp's checks of the request alone, in bare metal's order: a mask bit
 * past IB_QP_DEST_QPN (EOPNOTSUPP, ib_uverbs_modify_qp), a mask bit
 * with no attribute behind it (ibv_modify_qp(3)), then ib_uverbs' port and
 * Q_Key checks ({@link uverbsModifyQp}), then the state table
 * (`ib_modify_qp_is_ok`, {@link modifyQpError}) from the QP's cached state or
 * the `curState` given. Returns what the driver gets and the transition; throws
 * EOPNOTSUPP, EINVAL or EPERM. A guest's kernel makes the same checks before its
 * `MODIFY_QP` request is built (`VibFrontFile.modifyQp`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkModifyQp } from "./kernel_checks.ts";
 * import { QpAttrMask as M, QpState, QpType } from "../uapi/enums.ts";
 * const qp = { qpn: 0x404, type: QpType.RC, state: QpState.RESET };
 * const init = { state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 };
 * const mask = M.STATE | M.PORT | M.PKEY_INDEX | M.ACCESS_FLAGS;
 * assert.equal(checkModifyQp(init, mask, qp, 2).next, QpState.INIT);
 * assert.throws(
 *   () => checkModifyQp({ ...init, qkey: 1.5 }, mask | M.QKEY, qp, 2),
 *   /EINVAL: modify_qp QP 1028: RESET->INIT on an RC QP does not take qkey/,
 * );
 * ```
 */
export function checkModifyQp(
  attr: QpAttr,
  mask: number,
  qp: ModifyQpTarget,
  ports: number,
): { attr: QpAttr; mask: number; cur: number; next: number } {
  // ib_uverbs_modify_qp (core/uverbs_cmd.c) refuses a mask bit past IB_QP_DEST_QPN
  // (`attr_mask & ~((IB_USER_LEGACY_LAST_QP_ATTR_MASK << 1) - 1)`) with EOPNOTSUPP before it
  // looks the QP up; ib_uverbs_ex_modify_qp lets bits up to IB_QP_RATE_LIMIT through, which
  // mthca_modify_qp then refuses (`attr_mask & ~IB_QP_ATTR_STANDARD_BITS`), EOPNOTSUPP too.
  // Only a request from a guest's ring can carry one (qp.modify derives its mask from names).
  const unsupported = mask & ~MODIFY_QP_MASK_BITS;
  if (unsupported !== 0) {
    throw requestError(
      "EOPNOTSUPP",
      `modify_qp QP ${qp.qpn}: attribute mask bits 0x${(unsupported >>> 0).toString(16)} ` +
        "are past IB_QP_DEST_QPN (bit 20), which modify_qp does not take",
    );
  }
  // A mask bit with no attribute behind it is refused before anything is
  // looked at (a guest's request can carry one; ibv_modify_qp(3)).
  const absent = absentAttrs(attr as Record<string, unknown>, mask);
  if (absent.length > 0) {
    throw inval(
      `modify_qp QP ${qp.qpn}: the attribute mask names ${absent.join(", ")} but no value is given`,
    );
  }
  const u = uverbsModifyQp(attr, mask, qp.port, ports, qp.qpn);
  const cur = u.mask & M.CUR_STATE ? u.attr.curState! : qp.state;
  const next = u.mask & M.STATE ? u.attr.state! : cur;
  const why = modifyQpError(cur, next, qp.type, u.mask);
  if (why) throw inval(`modify_qp QP ${qp.qpn}: ${why}`);
  return { ...u, cur, next };
}

/**
 * modify_qp's attribute values → QPC fields, refusing a value the kernel or
 * mthca_modify_qp refuses (EINVAL), in bare metal's order. Pure: it needs the
 * request and the device's limits only; `partition` is dom0's check of a
 * P_Key index against the guest's partitions (Xen-IB), run where bare metal's
 * kernel would look the index up. The remote rights (which need the QP's
 * attributes as last set) are not computed here. A guest's kernel makes the
 * same checks before its `MODIFY_QP` request is built.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkModifyQpValues } from "./kernel_checks.ts";
 * import { QpAttrMask as M } from "../uapi/enums.ts";
 * const lim = { ports: 2, maxPkeys: 64, maxMtu: 4, maxRdAtomic: 4, maxDestRdAtomic: 4 };
 * assert.equal(checkModifyQpValues({ pathMtu: 2048 }, M.PATH_MTU, lim).mtu, 4);
 * assert.throws(
 *   () => checkModifyQpValues({ pathMtu: 99999 }, M.PATH_MTU, lim),
 *   /EINVAL: modify_qp: pathMtu 99999 is not a supported MTU \(max 2048\)/,
 * );
 * ```
 */
export function checkModifyQpValues(
  a: QpAttr,
  mask: number,
  lim: ModifyQpLimits,
  partition?: (pkeyIndex: number) => void,
): Partial<QpContextParams> {
  const ctx: Partial<QpContextParams> = {};
  // The ports were checked as uverbs checks them (uverbsModifyQp).
  if (mask & M.PORT) ctx.port = a.port;
  if (mask & M.PKEY_INDEX) {
    // mthca_modify_qp: `attr->pkey_index >= dev->limits.pkey_table_len` → -EINVAL.
    const i = a.pkeyIndex;
    if (typeof i !== "number" || !Number.isInteger(i) || i < 0 || i >= lim.maxPkeys) {
      throw inval(
        `modify_qp: pkeyIndex ${
          String(i)
        } is outside the port's P_Key table (${lim.maxPkeys} entries)`,
      );
    }
    partition?.(i);
    ctx.pkeyIndex = i;
  }
  if (mask & M.QKEY) ctx.qkey = checkInt("modify_qp", "qkey", a.qkey, 0, 0xffffffff);
  // qp_access_flags is a __u32 (struct ib_uverbs_qp_attr) that neither the core nor the driver
  // checks: mthca's get_hw_access_flags (as mlx4's and mlx5's) takes the remote rights from it
  // and ignores every other bit.
  if (mask & M.ACCESS_FLAGS) checkInt("modify_qp", "accessFlags", a.accessFlags, 0, 0xffffffff);
  // path_mig_state is a __u8 the device here does not use (no automatic path migration).
  if (mask & M.PATH_MIG_STATE) {
    checkInt("modify_qp", "pathMigState", a.pathMigState, 0, 0xff);
  }
  if (mask & M.AV) ctx.path = checkAhAttr("modify_qp", a.ah!);
  if (mask & M.PATH_MTU) {
    const v = a.pathMtu!;
    // An `enum ibv_mtu` (1..5) or bytes: a fraction is neither, refused here as any value that
    // is no MTU (no C caller's enum holds one), not passed on for the device to refuse.
    const code = typeof v !== "number"
      ? undefined
      : Number.isInteger(v) && v >= 1 && v <= 5
      ? v
      : mtuFromBytes(v);
    if (code === undefined || code > lim.maxMtu) {
      const got = typeof v === "number" ? v : JSON.stringify(v);
      throw inval(
        `modify_qp: pathMtu ${got} is not a supported MTU (max ${256 << (lim.maxMtu - 1)})`,
      );
    }
    ctx.mtu = code;
  }
  if (mask & M.TIMEOUT) ctx.timeout = checkInt("modify_qp", "timeout", a.timeout, 0, 31);
  if (mask & M.RETRY_CNT) ctx.retryCnt = checkInt("modify_qp", "retryCnt", a.retryCnt, 0, 7);
  if (mask & M.RNR_RETRY) ctx.rnrRetry = checkInt("modify_qp", "rnrRetry", a.rnrRetry, 0, 7);
  // PSNs are 24 bits (IBTA vol 1 §9.7.1), given in a `__u32`: _ib_modify_qp (core/verbs.c)
  // masks a PSN past 24 bits to its low 24 ("rq_psn overflow, masking to 24 bits"), it does
  // not refuse it. A value no `__u32` holds could not have been passed: EINVAL.
  if (mask & M.RQ_PSN) ctx.rqPsn = psn24("rqPsn", a.rqPsn);
  if (mask & M.SQ_PSN) ctx.sqPsn = psn24("sqPsn", a.sqPsn);
  if (mask & M.MAX_QP_RD_ATOMIC) {
    ctx.maxRdAtomic = checkInt("modify_qp", "maxRdAtomic", a.maxRdAtomic, 0, lim.maxRdAtomic);
  }
  if (mask & M.MAX_DEST_RD_ATOMIC) {
    ctx.maxDestRdAtomic = checkInt(
      "modify_qp",
      "maxDestRdAtomic",
      a.maxDestRdAtomic,
      0,
      lim.maxDestRdAtomic,
    );
  }
  if (mask & M.MIN_RNR_TIMER) {
    ctx.minRnrTimer = checkInt("modify_qp", "minRnrTimer", a.minRnrTimer, 0, 31);
  }
  if (mask & M.DEST_QPN) {
    ctx.destQpn = checkInt("modify_qp", "destQpNum", a.destQpNum, 0, 0xffffff);
  }
  if (mask & M.EN_SQD_ASYNC_NOTIFY) ctx.sqdEvent = !!a.enSqdAsyncNotify;
  if (mask & M.ALT_PATH) checkAhAttr("modify_qp", a.altPath!); // validated, not used by the device
  if (mask & M.CAP) throw inval("modify_qp: resizing a QP (cap) is not supported");
  return ctx;
}

/** A PSN given to modify_qp: a `__u32`, masked to the 24 bits a PSN has (`_ib_modify_qp`). */
export function psn24(name: string, v: unknown): number {
  return checkInt("modify_qp", name, v, 0, 0xffffffff) & 0xffffff;
}

/** An index into a port's table of `len` entries (EINVAL beyond, naming the table's length). */
export function tableIndex(call: string, index: unknown, len: number, what: string): number {
  if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= len) {
    const got = typeof index === "string" ? JSON.stringify(index) : String(index);
    throw inval(
      `${call}: index ${got} is outside the port's ${what} table (${len} ${
        len === 1 ? "entry" : "entries"
      })`,
    );
  }
  return index;
}

/**
 * Work requests into `struct ibv_send_wr`/`ibv_recv_wr` chains and
 * `struct ibv_wc` back into `WorkCompletion`s, through the checked layouts.
 * A chain is one scratch buffer — the WRs, then all their SGEs — whose
 * `next`/`sg_list` pointers are addresses inside that same buffer; it only
 * has to live for the post call (the provider copies each WR into the queue).
 * Immediate data is a host-order number in the API and network order in C,
 * as verbs.h documents.
 *
 * @module
 */
import {
  addressOf,
  getU64,
  getUint,
  IBV_RECV_WR,
  IBV_SEND_WR,
  IBV_SGE,
  IBV_WC,
  put,
  scratch,
  viewOf,
} from "../../../hca/ffi/mod.ts";
import { QpType, SendFlags, WcFlags, WcOpcode, WrOpcode } from "../../uapi/enums.ts";
import { VerbsError } from "../../uapi/errors.ts";
import type { RecvWr, SendWr, Sge, WorkCompletion } from "../../uapi/types.ts";
import { RealMemory } from "./memory.ts";

/**
 * A WR chain ready for a post verb.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addressOf } from "../../../hca/ffi/mod.ts";
 * import { type EncodedChain, encodeRecvWrs, failedIndex } from "./wr.ts";
 * const wr = { wrId: 1n, sgList: [] };
 * const c: EncodedChain = encodeRecvWrs([wr, { ...wr, wrId: 2n }]);
 * assert.equal(c.base, addressOf(c.buf)); // the address passed to post_recv
 * assert.equal(failedIndex(c, c.base + BigInt(c.stride)), 1); // bad_wr → the second WR
 * ```
 */
export interface EncodedChain {
  /** The bytes C reads: pass as the `wr` argument. */
  readonly buf: Uint8Array<ArrayBuffer>;
  /** Address of the first WR (`buf`'s address). */
  readonly base: bigint;
  /** Bytes per WR, to turn `bad_wr` back into an index. */
  readonly stride: number;
}

const OPCODES = new Set<number>(Object.values(WrOpcode));
const OPCODE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(WrOpcode).map(([k, v]) => [v, k]),
);
const U32 = 0xffffffff;

function u32(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > U32) {
    throw new VerbsError("EINVAL", `${what} must be a 32-bit unsigned integer, got ${String(v)}`);
  }
  return v;
}

function u64(v: unknown, what: string): bigint {
  if (typeof v === "bigint" && v >= 0n && v < 1n << 64n) return v;
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new VerbsError("EINVAL", `${what} must be a 64-bit unsigned value, got ${String(v)}`);
}

/**
 * An atomic operand: any bigint, taken modulo 2^64 as C converts it to `uint64_t compare_add` /
 * `swap` (verbs.h wr.atomic) and as the model's WQE encoder does (hca/wqe.ts), so FETCH_AND_ADD
 * of -1n subtracts one; anything else is EINVAL, as wr_check's rule for the model.
 */
function operand(v: unknown, what: string): bigint {
  if (typeof v === "bigint") return BigInt.asUintN(64, v);
  throw new VerbsError("EINVAL", `${what} must be a bigint, got ${String(v)}`);
}

function sgesOf(wr: { sgList?: Sge[] }, i: number): Sge[] {
  const list = wr.sgList ?? [];
  if (!Array.isArray(list)) throw new VerbsError("EINVAL", `wr[${i}].sgList must be an array`);
  return list;
}

type WrLayout = typeof IBV_SEND_WR | typeof IBV_RECV_WR;

function chain(
  wrs: readonly { wrId: bigint; sgList?: Sge[] }[],
  L: WrLayout,
  fill: (v: DataView, off: number, i: number) => void,
): EncodedChain {
  const stride = L.sizeof;
  if (wrs.length === 0) throw new VerbsError("EINVAL", "post: no work request given");
  const nSge = wrs.reduce((n, wr, i) => n + sgesOf(wr, i).length, 0);
  const buf = scratch(wrs.length * stride + nSge * IBV_SGE.sizeof);
  const base = addressOf(buf);
  const v = viewOf(buf);
  const W = L.fields;
  let sgeOff = wrs.length * stride;
  wrs.forEach((wr, i) => {
    try {
      encodeOne(wr, i);
    } catch (e) {
      // Which WR was refused: the post verb posts those before it (API.md postSend, bad_wr).
      if (e instanceof VerbsError) e.badWr = i;
      throw e;
    }
  });
  return { buf, base, stride };

  function encodeOne(wr: { wrId: bigint; sgList?: Sge[] }, i: number): void {
    const off = i * stride;
    const sges = sgesOf(wr, i);
    put(v, W.wr_id, u64(wr.wrId, `wr[${i}].wrId`), off);
    put(v, W.next, i + 1 < wrs.length ? base + BigInt(off + stride) : 0n, off);
    put(v, W.sg_list, sges.length ? base + BigInt(sgeOff) : 0n, off);
    put(v, W.num_sge, sges.length, off);
    sges.forEach((s, j) => {
      put(v, IBV_SGE.fields.addr, u64(s.addr, `wr[${i}].sgList[${j}].addr`), sgeOff);
      put(v, IBV_SGE.fields.length, u32(s.length, `wr[${i}].sgList[${j}].length`), sgeOff);
      put(v, IBV_SGE.fields.lkey, u32(s.lkey, `wr[${i}].sgList[${j}].lkey`), sgeOff);
      sgeOff += IBV_SGE.sizeof;
    });
    fill(v, off, i);
  }
}

/**
 * Encode send WRs for `ops.post_send`.
 *
 * @param qpType the QP's type (UD sends need an address handle)
 * @param ahAddress the `struct ibv_ah *` of a WR's `ah` (validates it)
 * @throws VerbsError EINVAL for a malformed WR; EFAULT for an inline SGE
 *   outside every `RealMemory` (the provider would copy from that address)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getU64, IBV_SEND_WR, viewOf } from "../../../hca/ffi/mod.ts";
 * import { QpType, WrOpcode } from "../../uapi/enums.ts";
 * import { encodeSendWrs } from "./wr.ts";
 * const send = { wrId: 1n, opcode: WrOpcode.SEND, sgList: [] };
 * const c = encodeSendWrs([send, { ...send, wrId: 2n }], QpType.RC, () => 0n);
 * assert.equal(c.stride, IBV_SEND_WR.sizeof);
 * // WR 0's `next` points at WR 1, inside the same buffer:
 * assert.equal(getU64(viewOf(c.buf), IBV_SEND_WR.fields.next), c.base + BigInt(c.stride));
 * assert.throws(() => encodeSendWrs([send], QpType.UD, () => 0n), /a UD send needs ah/);
 * ```
 */
export function encodeSendWrs(
  wrs: readonly SendWr[],
  qpType: number,
  ahAddress: (ah: unknown) => bigint,
): EncodedChain {
  const F = IBV_SEND_WR.fields;
  return chain(wrs, IBV_SEND_WR, (v, off, i) => {
    const wr = wrs[i];
    if (!OPCODES.has(wr.opcode)) {
      throw new VerbsError("EINVAL", `wr[${i}].opcode ${wr.opcode} is not a WrOpcode`);
    }
    const flags = wr.sendFlags ?? 0;
    put(v, F.opcode, wr.opcode, off);
    put(v, F.send_flags, u32(flags, `wr[${i}].sendFlags`), off);
    if (flags & SendFlags.INLINE) {
      for (const s of wr.sgList ?? []) {
        if (!RealMemory.find(Number(s.addr), s.length)) {
          throw new VerbsError(
            "EFAULT",
            `wr[${i}]: inline SGE at 0x${
              s.addr.toString(16)
            } (+${s.length}) is not in a RealMemory`,
          );
        }
      }
    }
    // C has no "absent": a missing operand would reach the wire as 0. The model refuses these
    // WRs (drivers/verbs/provider.ts postSend), and so does this provider, naming the WR.
    if (
      (wr.opcode === WrOpcode.SEND_WITH_IMM || wr.opcode === WrOpcode.RDMA_WRITE_WITH_IMM) &&
      wr.immData === undefined
    ) {
      throw new VerbsError("EINVAL", `wr[${i}]: ${OPCODE_NAMES[wr.opcode]} needs immData`);
    }
    if (wr.immData !== undefined) {
      v.setUint32(off + F.imm_data.offset, u32(wr.immData, `wr[${i}].immData`), false);
    }
    if (
      wr.opcode === WrOpcode.ATOMIC_CMP_AND_SWP || wr.opcode === WrOpcode.ATOMIC_FETCH_AND_ADD
    ) {
      put(v, F["wr.atomic.remote_addr"], u64(wr.remoteAddr, `wr[${i}].remoteAddr`), off);
      put(v, F["wr.atomic.rkey"], u32(wr.rkey, `wr[${i}].rkey`), off);
      put(v, F["wr.atomic.compare_add"], operand(wr.compareAdd ?? 0n, `wr[${i}].compareAdd`), off);
      put(v, F["wr.atomic.swap"], operand(wr.swap ?? 0n, `wr[${i}].swap`), off);
    } else if (qpType === QpType.UD) {
      if (!wr.ah || wr.remoteQpn === undefined || wr.remoteQkey === undefined) {
        throw new VerbsError("EINVAL", `wr[${i}]: a UD send needs ah, remoteQpn and remoteQkey`);
      }
      put(v, F["wr.ud.ah"], ahAddress(wr.ah), off);
      put(v, F["wr.ud.remote_qpn"], u32(wr.remoteQpn, `wr[${i}].remoteQpn`), off);
      put(v, F["wr.ud.remote_qkey"], u32(wr.remoteQkey, `wr[${i}].remoteQkey`), off);
    } else if (wr.opcode !== WrOpcode.SEND && wr.opcode !== WrOpcode.SEND_WITH_IMM) {
      put(v, F["wr.rdma.remote_addr"], u64(wr.remoteAddr, `wr[${i}].remoteAddr`), off);
      put(v, F["wr.rdma.rkey"], u32(wr.rkey, `wr[${i}].rkey`), off);
    }
  });
}

/**
 * Encode receive WRs for `ops.post_recv` / `ops.post_srq_recv`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_RECV_WR, IBV_SGE } from "../../../hca/ffi/mod.ts";
 * import { encodeRecvWrs } from "./wr.ts";
 * const c = encodeRecvWrs([{ wrId: 2n, sgList: [{ addr: 4096, length: 64, lkey: 7 }] }]);
 * assert.equal(c.buf.byteLength, IBV_RECV_WR.sizeof + IBV_SGE.sizeof); // one WR, then its SGE
 * assert.throws(() => encodeRecvWrs([]), /no work request given/);
 * ```
 */
export function encodeRecvWrs(wrs: readonly RecvWr[]): EncodedChain {
  return chain(wrs, IBV_RECV_WR, () => {});
}

/**
 * Which WR of a chain `bad_wr` points at (-1 when it points at none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeRecvWrs, failedIndex } from "./wr.ts";
 * const c = encodeRecvWrs([{ wrId: 1n, sgList: [] }, { wrId: 2n, sgList: [] }, {
 *   wrId: 3n,
 *   sgList: [],
 * }]);
 * assert.equal(failedIndex(c, c.base + 2n * BigInt(c.stride)), 2);
 * assert.equal(failedIndex(c, 0n), -1); // bad_wr not set
 * ```
 */
export function failedIndex(c: EncodedChain, badWr: bigint): number {
  const d = badWr - c.base;
  return d >= 0n && d % BigInt(c.stride) === 0n ? Number(d / BigInt(c.stride)) : -1;
}

/**
 * Decode `n` completions written by `poll_cq`. Per verbs.h only `wrId`,
 * `status`, `qpNum` and `vendorErr` are meaningful on an error completion.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_WC, put, scratch, viewOf } from "../../../hca/ffi/mod.ts";
 * import { WcStatus } from "../../uapi/enums.ts";
 * import { decodeWcs } from "./wr.ts";
 * const buf = scratch(2 * IBV_WC.sizeof); // two completions, as poll_cq writes them
 * put(viewOf(buf), IBV_WC.fields.wr_id, 7n, IBV_WC.sizeof);
 * put(viewOf(buf), IBV_WC.fields.status, WcStatus.REM_ACCESS_ERR, IBV_WC.sizeof);
 * const [, wc] = decodeWcs(buf, 2);
 * assert.deepEqual([wc.wrId, wc.status], [7n, WcStatus.REM_ACCESS_ERR]);
 * ```
 */
export function decodeWcs(buf: Uint8Array, n: number): WorkCompletion[] {
  const F = IBV_WC.fields;
  const v = viewOf(buf);
  const out: WorkCompletion[] = [];
  for (let i = 0; i < n; i++) {
    const o = i * IBV_WC.sizeof;
    const wcFlags = getUint(v, F.wc_flags, o);
    const wc: WorkCompletion = {
      wrId: getU64(v, F.wr_id, o),
      status: getUint(v, F.status, o) as WorkCompletion["status"],
      opcode: getUint(v, F.opcode, o) as WorkCompletion["opcode"],
      vendorErr: getUint(v, F.vendor_err, o),
      byteLen: getUint(v, F.byte_len, o),
      qpNum: getUint(v, F.qp_num, o),
      srcQp: getUint(v, F.src_qp, o),
      wcFlags,
      slid: getUint(v, F.slid, o),
      sl: getUint(v, F.sl, o),
      pkeyIndex: getUint(v, F.pkey_index, o),
      dlidPathBits: getUint(v, F.dlid_path_bits, o),
    };
    // A send with immediate data completes WITH_IMM on the sender's side too, but its imm_data
    // is not filled in (libmthca's, mlx4's, rxe's poll): only a receive completion carries one.
    if (wcFlags & WcFlags.WITH_IMM && wc.opcode & WcOpcode.RECV) {
      wc.immData = v.getUint32(o + F.imm_data.offset, false);
    }
    out.push(wc);
  }
  return out;
}

/**
 * What the user-level provider makes of the device's CQEs, as libmthca does
 * in user space (rdma-core providers/mthca/cq.c, `mthca_poll_one` and
 * `handle_error_cqe`): an error CQE's syndrome becomes an `ibv_wc_status`
 * (an unknown one GENERAL_ERR), a send CQE's device opcode (`MTHCA_OPCODE_*`)
 * and a receive CQE's BTH opcode become an `ibv_wc_opcode`, and the CQE
 * flags become `ibv_wc_flags`. The device (`hca/`) writes only its own
 * terms (FORMATS.md §7); these tables are the one place they meet verbs.h.
 *
 * @module
 */
import { type Cqe, CqeFlags, CqeSyndrome, isErrorCqe } from "../../hca/cqe.ts";
import { opcodeInfo } from "../../hca/opcode.ts";
import { WqeOpcode } from "../../hca/wqe.ts";
import { WcFlags, WcOpcode, WcStatus, WrOpcode } from "../uapi/enums.ts";
import type { WorkCompletion } from "../uapi/types.ts";

const STATUS_OF_SYNDROME: Readonly<Record<number, WcStatus>> = {
  [CqeSyndrome.LOCAL_LENGTH_ERR]: WcStatus.LOC_LEN_ERR,
  [CqeSyndrome.LOCAL_QP_OP_ERR]: WcStatus.LOC_QP_OP_ERR,
  [CqeSyndrome.LOCAL_EEC_OP_ERR]: WcStatus.LOC_EEC_OP_ERR,
  [CqeSyndrome.LOCAL_PROT_ERR]: WcStatus.LOC_PROT_ERR,
  [CqeSyndrome.WR_FLUSH_ERR]: WcStatus.WR_FLUSH_ERR,
  [CqeSyndrome.MW_BIND_ERR]: WcStatus.MW_BIND_ERR,
  [CqeSyndrome.BAD_RESP_ERR]: WcStatus.BAD_RESP_ERR,
  [CqeSyndrome.LOCAL_ACCESS_ERR]: WcStatus.LOC_ACCESS_ERR,
  [CqeSyndrome.REMOTE_INVAL_REQ_ERR]: WcStatus.REM_INV_REQ_ERR,
  [CqeSyndrome.REMOTE_ACCESS_ERR]: WcStatus.REM_ACCESS_ERR,
  [CqeSyndrome.REMOTE_OP_ERR]: WcStatus.REM_OP_ERR,
  [CqeSyndrome.RETRY_EXC_ERR]: WcStatus.RETRY_EXC_ERR,
  [CqeSyndrome.RNR_RETRY_EXC_ERR]: WcStatus.RNR_RETRY_EXC_ERR,
  [CqeSyndrome.LOCAL_RDD_VIOL_ERR]: WcStatus.LOC_RDD_VIOL_ERR,
  [CqeSyndrome.REMOTE_INVAL_RD_REQ_ERR]: WcStatus.REM_INV_RD_REQ_ERR,
  [CqeSyndrome.REMOTE_ABORTED_ERR]: WcStatus.REM_ABORT_ERR,
  [CqeSyndrome.INVAL_EECN_ERR]: WcStatus.INV_EECN_ERR,
  [CqeSyndrome.INVAL_EEC_STATE_ERR]: WcStatus.INV_EEC_STATE_ERR,
};

/**
 * The `ibv_wc_status` of an error CQE's syndrome; a syndrome the device does
 * not define is GENERAL_ERR, as libmthca's `handle_error_cqe` answers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wcStatusOf } from "./cqe_map.ts";
 * import { CqeSyndrome } from "../../hca/cqe.ts";
 * import { WcStatus } from "../uapi/enums.ts";
 * assert.equal(wcStatusOf(CqeSyndrome.REMOTE_ACCESS_ERR), WcStatus.REM_ACCESS_ERR); // 0x13 → 10
 * assert.equal(wcStatusOf(0x7e), WcStatus.GENERAL_ERR);
 * ```
 */
export function wcStatusOf(syndrome: number): WcStatus {
  return STATUS_OF_SYNDROME[syndrome] ?? WcStatus.GENERAL_ERR;
}

const OPCODE_OF_SEND: Readonly<Record<number, WcOpcode>> = {
  [WqeOpcode.RDMA_WRITE]: WcOpcode.RDMA_WRITE,
  [WqeOpcode.RDMA_WRITE_IMM]: WcOpcode.RDMA_WRITE,
  [WqeOpcode.SEND]: WcOpcode.SEND,
  [WqeOpcode.SEND_IMM]: WcOpcode.SEND,
  [WqeOpcode.RDMA_READ]: WcOpcode.RDMA_READ,
  [WqeOpcode.ATOMIC_CS]: WcOpcode.COMP_SWAP,
  [WqeOpcode.ATOMIC_FA]: WcOpcode.FETCH_ADD,
};

/**
 * The `ibv_wc_opcode` of a successful send CQE's device opcode, or undefined
 * for one the device does not define (libmthca assumes a send; this
 * provider then reports the WR it posted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wcOpcodeOfSend } from "./cqe_map.ts";
 * import { WqeOpcode } from "../../hca/wqe.ts";
 * import { WcOpcode } from "../uapi/enums.ts";
 * assert.equal(wcOpcodeOfSend(WqeOpcode.RDMA_WRITE_IMM), WcOpcode.RDMA_WRITE);
 * assert.equal(wcOpcodeOfSend(0x3f), undefined);
 * ```
 */
export function wcOpcodeOfSend(opcode: number): WcOpcode | undefined {
  return OPCODE_OF_SEND[opcode];
}

/**
 * The `ibv_wc_opcode` of a successful receive CQE, from the BTH opcode of
 * the message's last packet: an RDMA WRITE with immediate data is
 * RECV_RDMA_WITH_IMM, anything else a RECV (libmthca reads the same from the
 * opcode's low five bits; the opcode table says it for every transport).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wcOpcodeOfRecv } from "./cqe_map.ts";
 * import { OP } from "../../hca/opcode.ts";
 * import { WcOpcode } from "../uapi/enums.ts";
 * assert.equal(wcOpcodeOfRecv(OP.UC_RDMA_WRITE_LAST_WITH_IMMEDIATE), WcOpcode.RECV_RDMA_WITH_IMM);
 * assert.equal(wcOpcodeOfRecv(OP.UD_SEND_ONLY_WITH_IMMEDIATE), WcOpcode.RECV);
 * ```
 */
export function wcOpcodeOfRecv(bthOpcode: number): WcOpcode {
  const info = opcodeInfo(bthOpcode);
  return info?.operation === "write" && info.hasImmediate
    ? WcOpcode.RECV_RDMA_WITH_IMM
    : WcOpcode.RECV;
}

const OPCODE_OF_WR: Readonly<Record<number, WcOpcode>> = {
  [WrOpcode.RDMA_WRITE]: WcOpcode.RDMA_WRITE,
  [WrOpcode.RDMA_WRITE_WITH_IMM]: WcOpcode.RDMA_WRITE,
  [WrOpcode.SEND]: WcOpcode.SEND,
  [WrOpcode.SEND_WITH_IMM]: WcOpcode.SEND,
  [WrOpcode.RDMA_READ]: WcOpcode.RDMA_READ,
  [WrOpcode.ATOMIC_CMP_AND_SWP]: WcOpcode.COMP_SWAP,
  [WrOpcode.ATOMIC_FETCH_AND_ADD]: WcOpcode.FETCH_ADD,
};

/**
 * The `ibv_wc_opcode` a send WR completes with — what the provider keeps per
 * send queue slot, because an error CQE carries no opcode (ibv_poll_cq(3):
 * only wr_id, status, qp_num and vendor_err are valid then; this provider
 * fills `opcode` with the WR's, as rxe does).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wcOpcodeOfWr } from "./cqe_map.ts";
 * import { WcOpcode, WrOpcode } from "../uapi/enums.ts";
 * assert.equal(wcOpcodeOfWr(WrOpcode.ATOMIC_FETCH_AND_ADD), WcOpcode.FETCH_ADD);
 * ```
 */
export function wcOpcodeOfWr(wrOpcode: number): WcOpcode {
  const op = OPCODE_OF_WR[wrOpcode];
  if (op === undefined) throw new RangeError(`no work completion opcode for WR opcode ${wrOpcode}`);
  return op;
}

/**
 * The `ibv_wc_flags` of a CQE's flags byte.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wcFlagsOf } from "./cqe_map.ts";
 * import { CqeFlags } from "../../hca/cqe.ts";
 * import { WcFlags } from "../uapi/enums.ts";
 * assert.equal(wcFlagsOf(CqeFlags.GRH | CqeFlags.SRQ | CqeFlags.SOLICITED), WcFlags.GRH);
 * ```
 */
export function wcFlagsOf(flags: number): number {
  return ((flags & CqeFlags.GRH) ? WcFlags.GRH : 0) |
    ((flags & CqeFlags.WITH_IMM) ? WcFlags.WITH_IMM : 0);
}

/**
 * The work completion of a CQE: status and opcode in verbs terms, the rest
 * as the device wrote it (a send with immediate data is flagged WITH_IMM). `sendOpcode` is the completion opcode of the send
 * WR at the CQE's slot (used for a send-queue error, which carries none); a
 * receive error reports RECV.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { workCompletionOf } from "./cqe_map.ts";
 * import { CqeFlags, CqeOpcode, CqeSyndrome, CqeVendorErr } from "../../hca/cqe.ts";
 * import { WcOpcode, WcStatus } from "../uapi/enums.ts";
 * const flushed = workCompletionOf({
 *   qpn: 0x41, imm: 0, byteLen: 0, slid: 0, sl: 0, dlidPathBits: 0, srcQp: 0, wqeCounter: 3,
 *   syndrome: CqeSyndrome.WR_FLUSH_ERR, vendorErr: CqeVendorErr.FLUSH,
 *   opcode: CqeOpcode.ERROR_SEND, flags: CqeFlags.SQ, pkeyIndex: 0,
 * }, 7n, WcOpcode.RDMA_READ);
 * assert.equal(flushed.status, WcStatus.WR_FLUSH_ERR);
 * assert.equal(flushed.opcode, WcOpcode.RDMA_READ);
 * assert.equal(flushed.vendorErr, CqeVendorErr.FLUSH);
 * ```
 */
export function workCompletionOf(cqe: Cqe, wrId: bigint, sendOpcode: WcOpcode): WorkCompletion {
  const send = (cqe.flags & CqeFlags.SQ) !== 0;
  let status: WcStatus = WcStatus.SUCCESS;
  let opcode: WcOpcode;
  let wcFlags = wcFlagsOf(cqe.flags);
  if (isErrorCqe(cqe.opcode)) {
    status = wcStatusOf(cqe.syndrome);
    opcode = send ? sendOpcode : WcOpcode.RECV;
  } else {
    opcode = send ? wcOpcodeOfSend(cqe.opcode) ?? sendOpcode : wcOpcodeOfRecv(cqe.opcode);
    // A send with immediate data completes WITH_IMM on the sender's side too (libmthca's
    // mthca_poll_one: MTHCA_OPCODE_SEND_IMM and _RDMA_WRITE_IMM; rxe and mlx4 the same); the
    // immediate itself is only reported to the receiver.
    if (send && (cqe.opcode === WqeOpcode.SEND_IMM || cqe.opcode === WqeOpcode.RDMA_WRITE_IMM)) {
      wcFlags |= WcFlags.WITH_IMM;
    }
  }
  const wc: WorkCompletion = {
    wrId,
    status,
    opcode,
    vendorErr: cqe.vendorErr,
    byteLen: cqe.byteLen,
    qpNum: cqe.qpn,
    srcQp: cqe.srcQp,
    wcFlags,
    slid: cqe.slid,
    sl: cqe.sl,
    pkeyIndex: cqe.pkeyIndex,
    dlidPathBits: cqe.dlidPathBits,
  };
  if (cqe.flags & CqeFlags.WITH_IMM) wc.immData = cqe.imm;
  return wc;
}

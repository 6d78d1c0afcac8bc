/**
 * The provider's reading of device CQEs (drivers/verbs/cqe_map.ts): every
 * syndrome, send opcode and receive opcode the device defines maps to the
 * `ibv_wc` value libmthca gives it, unknown values map to defined ones, and a
 * CQE the device writes turns into the work completion the verbs layer
 * promises.
 */
import assert from "node:assert/strict";
import {
  type Cqe,
  CqeFlags,
  CqeOpcode,
  CqeSyndrome,
  CqeVendorErr,
  decodeCqe,
  encodeCqe,
} from "../hca/cqe.ts";
import { OP, OPCODES } from "../hca/opcode.ts";
import { WqeOpcode } from "../hca/wqe.ts";
import {
  wcFlagsOf,
  wcOpcodeOfRecv,
  wcOpcodeOfSend,
  wcOpcodeOfWr,
  wcStatusOf,
  workCompletionOf,
} from "../drivers/verbs/cqe_map.ts";
import { WcFlags, WcOpcode, WcStatus, WrOpcode } from "../drivers/uapi/enums.ts";

Deno.test("cqe_map: every device syndrome has its own status, as libmthca's handle_error_cqe", () => {
  // The syndrome → status pairs of rdma-core providers/mthca/cq.c.
  const libmthca: Record<keyof typeof CqeSyndrome, number> = {
    LOCAL_LENGTH_ERR: WcStatus.LOC_LEN_ERR,
    LOCAL_QP_OP_ERR: WcStatus.LOC_QP_OP_ERR,
    LOCAL_EEC_OP_ERR: WcStatus.LOC_EEC_OP_ERR,
    LOCAL_PROT_ERR: WcStatus.LOC_PROT_ERR,
    WR_FLUSH_ERR: WcStatus.WR_FLUSH_ERR,
    MW_BIND_ERR: WcStatus.MW_BIND_ERR,
    BAD_RESP_ERR: WcStatus.BAD_RESP_ERR,
    LOCAL_ACCESS_ERR: WcStatus.LOC_ACCESS_ERR,
    REMOTE_INVAL_REQ_ERR: WcStatus.REM_INV_REQ_ERR,
    REMOTE_ACCESS_ERR: WcStatus.REM_ACCESS_ERR,
    REMOTE_OP_ERR: WcStatus.REM_OP_ERR,
    RETRY_EXC_ERR: WcStatus.RETRY_EXC_ERR,
    RNR_RETRY_EXC_ERR: WcStatus.RNR_RETRY_EXC_ERR,
    LOCAL_RDD_VIOL_ERR: WcStatus.LOC_RDD_VIOL_ERR,
    REMOTE_INVAL_RD_REQ_ERR: WcStatus.REM_INV_RD_REQ_ERR,
    REMOTE_ABORTED_ERR: WcStatus.REM_ABORT_ERR,
    INVAL_EECN_ERR: WcStatus.INV_EECN_ERR,
    INVAL_EEC_STATE_ERR: WcStatus.INV_EEC_STATE_ERR,
  };
  const seen = new Set<number>();
  for (const [name, syndrome] of Object.entries(CqeSyndrome)) {
    const status = wcStatusOf(syndrome);
    assert.equal(status, libmthca[name as keyof typeof CqeSyndrome], name);
    assert.notEqual(status, WcStatus.SUCCESS, name);
    assert.ok(!seen.has(status), `${name}: status ${status} given twice`);
    seen.add(status);
  }
});

Deno.test("cqe_map: a syndrome the device does not define is GENERAL_ERR, never success", () => {
  const defined = new Set<number>(Object.values(CqeSyndrome));
  for (let s = 0; s < 256; s++) {
    if (!defined.has(s)) assert.equal(wcStatusOf(s), WcStatus.GENERAL_ERR, `syndrome ${s}`);
  }
});

Deno.test("cqe_map: every device send opcode maps; with or without immediate, as libmthca", () => {
  const want: Record<keyof typeof WqeOpcode, number> = {
    RDMA_WRITE: WcOpcode.RDMA_WRITE,
    RDMA_WRITE_IMM: WcOpcode.RDMA_WRITE,
    SEND: WcOpcode.SEND,
    SEND_IMM: WcOpcode.SEND,
    RDMA_READ: WcOpcode.RDMA_READ,
    ATOMIC_CS: WcOpcode.COMP_SWAP,
    ATOMIC_FA: WcOpcode.FETCH_ADD,
  };
  for (const [name, op] of Object.entries(WqeOpcode)) {
    assert.equal(wcOpcodeOfSend(op), want[name as keyof typeof WqeOpcode], name);
  }
  const defined = new Set<number>(Object.values(WqeOpcode));
  for (let op = 0; op < 256; op++) {
    if (!defined.has(op)) {
      assert.equal(wcOpcodeOfSend(op), undefined, `opcode 0x${op.toString(16)}`);
    }
  }
});

Deno.test("cqe_map: every request opcode a receive can end with maps to RECV or RECV_RDMA_WITH_IMM", () => {
  let withImm = 0;
  for (const o of OPCODES) {
    if (!o.consumesRecvWqe || !o.isLast) continue;
    const expected = o.operation === "write" ? WcOpcode.RECV_RDMA_WITH_IMM : WcOpcode.RECV;
    assert.equal(wcOpcodeOfRecv(o.value), expected, o.name);
    if (expected === WcOpcode.RECV_RDMA_WITH_IMM) withImm++;
  }
  assert.equal(withImm, 4, "RC and UC, LAST and ONLY with immediate");
  // libmthca looks at the low five bits only: the UD opcodes agree with it.
  assert.equal(wcOpcodeOfRecv(OP.UD_SEND_ONLY), wcOpcodeOfRecv(OP.UD_SEND_ONLY & 0x1f));
  assert.equal(wcOpcodeOfRecv(0xc0), WcOpcode.RECV, "a vendor opcode is a plain receive");
});

Deno.test("cqe_map: each WR opcode has the completion opcode a provider reports for it", () => {
  for (const [name, wr] of Object.entries(WrOpcode)) {
    const wc = wcOpcodeOfWr(wr);
    assert.ok((Object.values(WcOpcode) as number[]).includes(wc), name);
    assert.ok(wc < WcOpcode.RECV, `${name} is a send-queue completion`);
  }
  assert.throws(() => wcOpcodeOfWr(99), RangeError);
});

Deno.test("cqe_map: CQE flags become wc_flags; queue and solicited bits do not leak", () => {
  assert.equal(wcFlagsOf(0), 0);
  assert.equal(wcFlagsOf(CqeFlags.GRH), WcFlags.GRH);
  assert.equal(wcFlagsOf(CqeFlags.WITH_IMM | CqeFlags.SQ), WcFlags.WITH_IMM);
  assert.equal(wcFlagsOf(0xff), WcFlags.GRH | WcFlags.WITH_IMM);
});

function cqe(fields: Partial<Cqe>): Cqe {
  const c: Cqe = {
    qpn: 0x41,
    imm: 0,
    byteLen: 0,
    slid: 0,
    sl: 0,
    dlidPathBits: 0,
    srcQp: 0,
    wqeCounter: 0,
    syndrome: 0,
    vendorErr: 0,
    opcode: 0,
    flags: 0,
    pkeyIndex: 0,
    ...fields,
  };
  // Through the bytes, as the provider reads it.
  const b = new Uint8Array(32);
  encodeCqe(c, 0, 4, b);
  return decodeCqe(b);
}

Deno.test("cqe_map: work completions of good and failed sends and receives", () => {
  const read = workCompletionOf(
    cqe({ byteLen: 4096, opcode: WqeOpcode.RDMA_READ, flags: CqeFlags.SQ }),
    1n,
    WcOpcode.RDMA_READ,
  );
  assert.deepEqual(read, {
    wrId: 1n,
    status: WcStatus.SUCCESS,
    opcode: WcOpcode.RDMA_READ,
    vendorErr: 0,
    byteLen: 4096,
    qpNum: 0x41,
    srcQp: 0,
    wcFlags: 0,
    slid: 0,
    sl: 0,
    pkeyIndex: 0,
    dlidPathBits: 0,
  });
  // libmthca's mthca_poll_one: a send or RDMA WRITE with immediate completes WITH_IMM on the
  // sender's side too, without the immediate (the receiver's to report).
  for (const op of [WqeOpcode.SEND_IMM, WqeOpcode.RDMA_WRITE_IMM]) {
    const sent = workCompletionOf(cqe({ byteLen: 64, opcode: op, flags: CqeFlags.SQ }), 6n, 0);
    assert.equal(sent.wcFlags, WcFlags.WITH_IMM);
    assert.equal("immData" in sent, false);
  }
  for (const op of [WqeOpcode.SEND, WqeOpcode.RDMA_WRITE]) {
    assert.equal(workCompletionOf(cqe({ opcode: op, flags: CqeFlags.SQ }), 7n, 0).wcFlags, 0);
  }
  const recv = workCompletionOf(
    cqe({
      byteLen: 1040,
      opcode: OP.UD_SEND_ONLY_WITH_IMMEDIATE,
      flags: CqeFlags.GRH | CqeFlags.WITH_IMM,
      imm: 0xabcd,
      slid: 7,
      sl: 3,
      srcQp: 0x90,
    }),
    2n,
    WcOpcode.SEND,
  );
  assert.equal(recv.status, WcStatus.SUCCESS);
  assert.equal(recv.opcode, WcOpcode.RECV);
  assert.equal(recv.wcFlags, WcFlags.GRH | WcFlags.WITH_IMM);
  assert.equal(recv.immData, 0xabcd);
  assert.deepEqual([recv.byteLen, recv.slid, recv.sl, recv.srcQp], [1040, 7, 3, 0x90]);
  const failed = workCompletionOf(
    cqe({
      syndrome: CqeSyndrome.REMOTE_ACCESS_ERR,
      vendorErr: CqeVendorErr.NAK_REMOTE_ACCESS,
      opcode: CqeOpcode.ERROR_SEND,
      flags: CqeFlags.SQ,
    }),
    3n,
    WcOpcode.RDMA_WRITE,
  );
  assert.equal(failed.status, WcStatus.REM_ACCESS_ERR);
  assert.equal(failed.opcode, WcOpcode.RDMA_WRITE, "the posted WR's opcode");
  assert.equal(failed.vendorErr, CqeVendorErr.NAK_REMOTE_ACCESS);
  assert.equal("immData" in failed, false);
  const flushed = workCompletionOf(
    cqe({
      syndrome: CqeSyndrome.WR_FLUSH_ERR,
      vendorErr: CqeVendorErr.FLUSH,
      opcode: CqeOpcode.ERROR_RECV,
      flags: CqeFlags.SRQ,
    }),
    4n,
    WcOpcode.SEND,
  );
  assert.equal(flushed.status, WcStatus.WR_FLUSH_ERR);
  assert.equal(flushed.opcode, WcOpcode.RECV);
  const unknown = workCompletionOf(
    cqe({ syndrome: 0x7e, opcode: CqeOpcode.ERROR_SEND, flags: CqeFlags.SQ }),
    5n,
    WcOpcode.SEND,
  );
  assert.equal(unknown.status, WcStatus.GENERAL_ERR);
});

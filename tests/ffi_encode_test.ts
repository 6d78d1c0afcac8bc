/**
 * The real provider's marshalling, without hardware: work requests, work
 * completions, QP/AH attributes and device/port attributes as bytes at the
 * offsets of verbs.h (the offsets themselves are checked against the header
 * by ffi_layout_test.ts). Needs --allow-ffi only to take buffer addresses.
 */
import assert from "node:assert/strict";
import {
  IBV_AH_ATTR,
  IBV_DEVICE_ATTR,
  IBV_PORT_ATTR,
  IBV_QP_ATTR,
  IBV_SEND_WR,
  IBV_SGE,
  IBV_WC,
} from "../hca/ffi/mod.ts";
import {
  Access,
  Mtu,
  QpAttrMask,
  QpState,
  QpType,
  SendFlags,
  WcFlags,
  WcOpcode,
  WrOpcode,
} from "../drivers/uapi/enums.ts";
import { VerbsError } from "../drivers/uapi/errors.ts";
import { decodeQpAttr, encodeQpAttr } from "../drivers/verbs/real/attrs.ts";
import { decodeDeviceAttr, decodePortAttr } from "../drivers/verbs/real/info.ts";
import { RealMemory } from "../drivers/verbs/real/memory.ts";
import { decodeWcs, encodeRecvWrs, encodeSendWrs, failedIndex } from "../drivers/verbs/real/wr.ts";

const S = IBV_SEND_WR.fields;
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const u64 = (b: Uint8Array, at: number) => view(b).getBigUint64(at, true);
const u32 = (b: Uint8Array, at: number) => view(b).getUint32(at, true);
const noAh = () => assert.fail("no AH expected");

const isCode = (code: string) => (e: unknown) => e instanceof VerbsError && e.code === code;

Deno.test("wr: an RDMA WRITE chain of two is linked through next and sg_list pointers", () => {
  const c = encodeSendWrs(
    [
      {
        wrId: 7n,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: 0x1000, length: 64, lkey: 0x11 }, { addr: 0x2000, length: 8, lkey: 0x12 }],
        remoteAddr: 0x7fff_0000_1000,
        rkey: 0xabcd,
      },
      { wrId: 8n, opcode: WrOpcode.SEND, sgList: [{ addr: 0x3000, length: 4, lkey: 0x13 }] },
    ],
    QpType.RC,
    noAh,
  );
  const b = c.buf, W = IBV_SEND_WR.sizeof, G = IBV_SGE.sizeof;
  assert.equal(b.byteLength, 2 * W + 3 * G);
  assert.equal(u64(b, S.wr_id.offset), 7n);
  assert.equal(u64(b, S.next.offset), c.base + BigInt(W));
  assert.equal(u64(b, S.sg_list.offset), c.base + BigInt(2 * W));
  assert.equal(u32(b, S.num_sge.offset), 2);
  assert.equal(u32(b, S.opcode.offset), WrOpcode.RDMA_WRITE);
  assert.equal(u32(b, S.send_flags.offset), SendFlags.SIGNALED);
  assert.equal(u64(b, S["wr.rdma.remote_addr"].offset), 0x7fff_0000_1000n);
  assert.equal(u32(b, S["wr.rdma.rkey"].offset), 0xabcd);
  assert.equal(u64(b, W + S.next.offset), 0n, "last WR ends the chain");
  assert.equal(u64(b, W + S.sg_list.offset), c.base + BigInt(2 * W + 2 * G));
  const sge2 = 2 * W + G;
  assert.deepEqual([u64(b, sge2), u32(b, sge2 + 8), u32(b, sge2 + 12)], [0x2000n, 8, 0x12]);
  assert.equal(failedIndex(c, c.base + BigInt(W)), 1);
  assert.equal(failedIndex(c, 0n), -1);
});

Deno.test("wr: atomics, UD and immediate data land in their union members, imm in network order", () => {
  const at = encodeSendWrs(
    [{
      wrId: 1n,
      opcode: WrOpcode.ATOMIC_CMP_AND_SWP,
      sgList: [],
      remoteAddr: 0x5000,
      rkey: 9,
      compareAdd: 0x1111_2222_3333_4444n,
      swap: 0xffff_ffff_ffff_ffffn,
    }],
    QpType.RC,
    noAh,
  ).buf;
  assert.equal(u64(at, S["wr.atomic.remote_addr"].offset), 0x5000n);
  assert.equal(u64(at, S["wr.atomic.compare_add"].offset), 0x1111_2222_3333_4444n);
  assert.equal(u64(at, S["wr.atomic.swap"].offset), 0xffff_ffff_ffff_ffffn);
  assert.equal(u32(at, S["wr.atomic.rkey"].offset), 9);
  assert.equal(u64(at, S.sg_list.offset), 0n, "no SGEs: NULL sg_list");

  const ah = { attr: { dlid: 3 } };
  const ud = encodeSendWrs(
    [{
      wrId: 2n,
      opcode: WrOpcode.SEND_WITH_IMM,
      sgList: [],
      immData: 0x01020304,
      ah,
      remoteQpn: 0x48,
      remoteQkey: 0x11111111,
    }],
    QpType.UD,
    (a) => (a === ah ? 0xdead_beef_0000n : assert.fail("wrong ah")),
  ).buf;
  assert.equal(u64(ud, S["wr.ud.ah"].offset), 0xdead_beef_0000n);
  assert.equal(u32(ud, S["wr.ud.remote_qpn"].offset), 0x48);
  assert.equal(u32(ud, S["wr.ud.remote_qkey"].offset), 0x11111111);
  const imm = S.imm_data.offset;
  assert.deepEqual([...ud.subarray(imm, imm + 4)], [1, 2, 3, 4]);
});

Deno.test("wr: an atomic operand is any bigint, converted to uint64_t as C (and the model) do", () => {
  // verbs.h wr.atomic: uint64_t compare_add, swap. The API takes any bigint (API.md: "an atomic
  // operand that is not a bigint" is the error) and the model wraps it (hca/wqe.ts asUintN):
  // FETCH_AND_ADD of -1n is a decrement.
  const F = encodeSendWrs(
    [{
      wrId: 1n,
      opcode: WrOpcode.ATOMIC_FETCH_AND_ADD,
      sgList: [],
      remoteAddr: 0x5000,
      rkey: 9,
      compareAdd: -1n,
      swap: (1n << 64n) + 5n,
    }],
    QpType.RC,
    noAh,
  ).buf;
  assert.equal(u64(F, S["wr.atomic.compare_add"].offset), 0xffff_ffff_ffff_ffffn);
  assert.equal(u64(F, S["wr.atomic.swap"].offset), 5n);
});

Deno.test("wr: malformed WRs are refused before C sees them", () => {
  const send = (wr: object, type: number = QpType.RC) => () =>
    encodeSendWrs([{ wrId: 1n, opcode: WrOpcode.SEND, sgList: [], ...wr }], type, noAh);
  assert.throws(send({ opcode: 99 }), isCode("EINVAL"));
  assert.throws(send({}, QpType.UD), isCode("EINVAL"), "UD send without ah");
  assert.throws(send({ sgList: [{ addr: -1, length: 1, lkey: 0 }] }), isCode("EINVAL"));
  assert.throws(send({ opcode: WrOpcode.RDMA_READ }), isCode("EINVAL"), "no remoteAddr");
  assert.throws(() => encodeRecvWrs([]), isCode("EINVAL"));
  // Inline data is copied by the provider from the address: only RealMemory is safe.
  const inline = { sendFlags: SendFlags.INLINE, sgList: [{ addr: 0x10, length: 8, lkey: 0 }] };
  assert.throws(send(inline), isCode("EFAULT"));
  const mem = new RealMemory(4096);
  const a = mem.alloc(8);
  assert.doesNotThrow(send({ ...inline, sgList: [{ addr: a, length: 8, lkey: 0 }] }));
});

Deno.test("wc: completions decode field by field; immData only with WITH_IMM", () => {
  const b = new Uint8Array(2 * IBV_WC.sizeof);
  const v = view(b);
  const F = IBV_WC.fields;
  v.setBigUint64(F.wr_id.offset, 42n, true);
  v.setUint32(F.opcode.offset, WcOpcode.RECV, true);
  v.setUint32(F.byte_len.offset, 512, true);
  v.setUint32(F.imm_data.offset, 0xcafe0001, false);
  v.setUint32(F.qp_num.offset, 0x99, true);
  v.setUint32(F.src_qp.offset, 0x77, true);
  v.setUint32(F.wc_flags.offset, WcFlags.WITH_IMM, true);
  v.setUint16(F.slid.offset, 5, true);
  const o = IBV_WC.sizeof;
  v.setBigUint64(o + F.wr_id.offset, 43n, true);
  v.setUint32(o + F.status.offset, 12, true);
  v.setUint32(o + F.imm_data.offset, 0xffffffff, false);
  const [a, z] = decodeWcs(b, 2);
  assert.deepEqual(
    [a.wrId, a.status, a.opcode, a.byteLen, a.qpNum, a.srcQp, a.immData, a.slid],
    [42n, 0, WcOpcode.RECV, 512, 0x99, 0x77, 0xcafe0001, 5],
  );
  assert.equal(z.wrId, 43n);
  assert.equal(z.status, 12);
  assert.equal(z.immData, undefined, "no WITH_IMM flag: imm_data is not reported");
  // A sender's completion of a SEND with immediate: WITH_IMM, but no immediate (the provider
  // does not fill imm_data on the send side).
  v.setUint32(o + F.status.offset, 0, true);
  v.setUint32(o + F.opcode.offset, WcOpcode.SEND, true);
  v.setUint32(o + F.wc_flags.offset, WcFlags.WITH_IMM, true);
  const [, sent] = decodeWcs(b, 2);
  assert.equal(sent.wcFlags, WcFlags.WITH_IMM);
  assert.equal(sent.immData, undefined);
});

Deno.test("qp attr: keys select the mask; pathMtu in bytes or Mtu; the address vector is embedded", () => {
  const { buf, mask } = encodeQpAttr({
    state: QpState.RTR,
    pathMtu: 2048,
    destQpNum: 0x1234,
    rqPsn: 0,
    ah: { dlid: 7 },
    maxDestRdAtomic: 1,
    minRnrTimer: 12,
  }, 2);
  const M = QpAttrMask;
  assert.equal(
    mask,
    M.STATE | M.PATH_MTU | M.DEST_QPN | M.RQ_PSN | M.AV | M.MAX_DEST_RD_ATOMIC | M.MIN_RNR_TIMER,
  );
  const Q = IBV_QP_ATTR.fields, A = IBV_AH_ATTR.fields, ah = Q.ah_attr.offset;
  assert.equal(u32(buf, Q.path_mtu.offset), Mtu.MTU_2048);
  assert.equal(u32(buf, Q.dest_qp_num.offset), 0x1234);
  assert.equal(view(buf).getUint16(ah + A.dlid.offset, true), 7);
  assert.equal(buf[ah + A.port_num.offset], 2, "port defaults to the QP's port");
  assert.equal(buf[Q.min_rnr_timer.offset], 12);
  const back = decodeQpAttr(buf);
  assert.deepEqual([back.state, back.pathMtu, back.destQpNum, back.ah.dlid], [2, 4, 0x1234, 7]);

  assert.equal(encodeQpAttr({ pathMtu: Mtu.MTU_4096 }, 1).buf[Q.path_mtu.offset], 5);
  assert.throws(() => encodeQpAttr({ pathMtu: 1000 }, 1), isCode("EINVAL"));
  assert.throws(() => encodeQpAttr({ destQpn: 1 } as never, 1), isCode("EINVAL"));
  assert.throws(() => encodeQpAttr(undefined as never, 1), isCode("EINVAL")); // not a TypeError
  assert.throws(() => encodeQpAttr({ timeout: 256 }, 1), isCode("EINVAL"));
  const init = encodeQpAttr({ state: QpState.INIT, accessFlags: Access.REMOTE_WRITE }, 1);
  assert.equal(init.mask, M.STATE | M.ACCESS_FLAGS);
});

Deno.test("qp attr: sq_draining is reported by query and ignored by modify, as the model's", () => {
  // verbs.h struct ibv_qp_attr `uint8_t sq_draining`; libibverbs cmd.c ibv_cmd_query_qp copies
  // resp.sq_draining into it, and ibv_modify_qp(3) calls it "irrelevant" (no attr_mask bit).
  const { buf, mask } = encodeQpAttr({ state: QpState.SQD }, 1);
  assert.equal(decodeQpAttr(buf).sqDraining, false);
  buf[IBV_QP_ATTR.fields.sq_draining.offset] = 1; // as ibv_query_qp fills it mid-drain
  assert.equal(decodeQpAttr(buf).sqDraining, true);
  // A queried attribute set given back to modify: sqDraining sets no bit and reaches no field.
  const again = encodeQpAttr({ state: QpState.SQD, sqDraining: true }, 1);
  assert.equal(again.mask, mask);
  assert.equal(again.buf[IBV_QP_ATTR.fields.sq_draining.offset], 0);
});

Deno.test("device and port attributes decode every field, GUIDs as 16 hex digits as the model's", () => {
  const d = new Uint8Array(IBV_DEVICE_ATTR.sizeof);
  const D = IBV_DEVICE_ATTR.fields;
  d.set(new TextEncoder().encode("16.35.2000"), D.fw_ver.offset);
  view(d).setBigUint64(D.node_guid.offset, 0x0002c90300012345n, false);
  view(d).setUint32(D.max_qp.offset, 131072, true);
  view(d).setBigUint64(D.max_mr_size.offset, 1n << 40n, true);
  d[D.phys_port_cnt.offset] = 2;
  const dev = decodeDeviceAttr(d);
  assert.equal(dev.fwVer, "16.35.2000");
  // API.md DeviceAttr: nodeGuid and sysImageGuid as 16 hex digits, in every mode (the model's
  // are; `BigInt("0x" + nodeGuid)` must work on both). The __be64 is read in network order.
  assert.equal(dev.nodeGuid, "0002c90300012345");
  assert.equal(dev.sysImageGuid, "0000000000000000");
  assert.equal(dev.maxQp, 131072);
  assert.equal(dev.maxMrSize, 2 ** 40);
  assert.equal(dev.physPortCnt, 2);
  assert.equal(
    Object.keys(dev).length,
    Object.keys(D).length + 1,
    "every field, plus maxInlineData",
  );

  const p = new Uint8Array(IBV_PORT_ATTR.sizeof);
  const P = IBV_PORT_ATTR.fields;
  view(p).setUint32(P.state.offset, 4, true);
  view(p).setUint32(P.active_mtu.offset, 5, true);
  view(p).setUint16(P.lid.offset, 0x1f, true);
  p[P.link_layer.offset] = 1;
  const port = decodePortAttr(p);
  assert.deepEqual([port.state, port.activeMtu, port.lid, port.linkLayer], [4, 5, 0x1f, 1]);
});

Deno.test("device/port attributes: verbs.h's int members decode as C ints, the rest unsigned", () => {
  // int max_qp, …, int gid_tbl_len (signedness checked against verbs.h by ffi_layout_test.ts):
  // the bytes ff ff ff ff are -1 there, and 0xffffffff in a uint32_t such as max_mr_size's peers.
  const d = new Uint8Array(IBV_DEVICE_ATTR.sizeof).fill(0xff);
  const dev = decodeDeviceAttr(d);
  assert.deepEqual([dev.maxQp, dev.maxSrq, dev.maxCqe], [-1, -1, -1]);
  assert.deepEqual([dev.vendorId, dev.deviceCapFlags, dev.maxPkeys], [
    0xffffffff,
    0xffffffff,
    0xffff,
  ]);
  const p = new Uint8Array(IBV_PORT_ATTR.sizeof).fill(0xff);
  const port = decodePortAttr(p);
  assert.deepEqual([port.gidTblLen, port.maxMsgSz, port.lid], [-1, 0xffffffff, 0xffff]);
});

/**
 * Address vectors as the kernel checks them, in every mode (native, bypass,
 * split: DESIGN §9, invariant 11), on hosts with two-port HCAs:
 *
 * 1. modify_qp's primary AV names a valid port, and the QP's own
 *    (ib_uverbs_modify_qp in drivers/infiniband/core/uverbs_cmd.c: at
 *    INIT->RTR the AV's port must be the one RESET->INIT set; at SQD->SQD the
 *    port given with it). Else EINVAL, the QP where it was. An AV given at
 *    SQD->SQD without a port brings its port along ("if only IB_QP_AV was
 *    set, add in IB_QP_PORT as well"): an RC QP moves to it, and a UC QP,
 *    which takes no port there (qp_state_table), is refused.
 * 2. The alternate path's port is a valid port (mthca_modify_qp: "Alternate
 *    port number (%u) is invalid").
 * 3. A GRH's sgid_index lies within the port's GID table, for modify_qp
 *    (mthca_path_set: "sgid_index (%u) too large") and create_ah
 *    (rdma_fill_sgid_attr).
 * 4. A GRH's traffic class (`struct ibv_global_route`'s traffic_class, a
 *    `__u8`) is the TClass of the packets' GRH (IBTA vol 1 §8.3.1;
 *    mthca_path_set puts it in the AV's sl_tclass_flowlabel), for an AH's
 *    datagrams and a connected QP's path alike; a value no `__u8` holds is
 *    EINVAL.
 * 5. A static rate below the port's (`enum ibv_rate`) spaces the packets sent
 *    on the path: each starts (IPD + 1) packet times after the one before,
 *    IPD 3 for 2.5 Gb/s and 1 for 5 Gb/s from a 4x SDR (10 Gb/s) port (IBTA
 *    vol 1 §9.11 static rate control; mthca_get_rate), for an AH's datagrams
 *    and a connected QP's path alike; the port's own rate or more, or 0, none.
 */
import assert from "node:assert/strict";
import {
  Cluster,
  connectAttrs,
  connectPair,
  connectQp,
  type Domain,
  QpState,
  QpType,
  SendFlags,
  WcFlags,
  WcStatus,
  WrOpcode,
} from "../../mod.ts";
import { CAP, CONNECT, MODES, rejects, side } from "./helpers.ts";

/** Two hosts with two-port HCAs, their domains in `mode`. */
async function twoPortDomains(mode: string): Promise<{ cluster: Cluster; a: Domain; b: Domain }> {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 7 });
  const xen = mode !== "native";
  const hosts = ["a", "b"].map((name) => cluster.addHost({ name, hypervisor: xen, ports: 2 }));
  await cluster.start();
  if (!xen) return { cluster, a: hosts[0].os, b: hosts[1].os };
  const driver = mode as "bypass" | "split";
  const a = await hosts[0].createGuest({ name: "vm0", memoryMiB: 64, driver });
  const b = await hosts[1].createGuest({ name: "vm1", memoryMiB: 64, driver });
  return { cluster, a, b };
}

const stateOf = async (qp: { query(): Promise<{ state: number }> }) => (await qp.query()).state;

for (const mode of MODES) {
  Deno.test(`address vectors (${mode}): modify_qp's AV port is valid and the QP's own`, async () => {
    const { cluster, a, b } = await twoPortDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      assert.equal((await x.ctx.queryDevice()).physPortCnt, 2);
      const peer = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap: CAP });
      const qp = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      const [init, rtr, rts] = connectAttrs(QpType.RC, {
        ...CONNECT,
        remoteQpn: peer.qpNum,
        dlid: y.lid,
      });
      await qp.modify(init); // port 1
      for (const portNum of [2, 3, 0]) {
        await rejects(() => qp.modify({ ...rtr, ah: { dlid: y.lid, portNum } }), "EINVAL");
        assert.equal(await stateOf(qp), QpState.INIT, `AV port ${portNum}: QP unchanged`);
      }
      await rejects(() => qp.modify({ ...rtr, altPath: { dlid: y.lid, portNum: 3 } }), "EINVAL");
      assert.equal(await stateOf(qp), QpState.INIT, "alternate port 3: QP unchanged");
      const dgid = new Uint8Array(16);
      dgid[0] = 0xfe;
      dgid[1] = 0x80;
      const grh = (sgidIndex: number) => ({ dlid: y.lid, grh: { dgid, sgidIndex } });
      await rejects(() => qp.modify({ ...rtr, ah: grh(1) }), "EINVAL");
      assert.equal(await stateOf(qp), QpState.INIT, "sgid_index past the GID table: unchanged");
      assert.equal(x.ctx.queryPort(1).gidTblLen, 1);
      // The QP's own port, said or implied, and a GID the table has, are taken.
      await qp.modify({ ...rtr, ah: { dlid: y.lid, portNum: 1 }, altPath: grh(0) });
      assert.equal(await stateOf(qp), QpState.RTR);
      await qp.modify(rts);
      await qp.modify({ state: QpState.SQD });
      // SQD->SQD: the AV's port is the port given with it (here the QP's 1, not 2).
      await rejects(
        () => qp.modify({ state: QpState.SQD, port: 1, ah: { dlid: y.lid, portNum: 2 } }),
        "EINVAL",
      );
      await qp.modify({ state: QpState.SQD, port: 1, ah: { dlid: y.lid, portNum: 1 } });
      assert.equal(await stateOf(qp), QpState.SQD);
      // An AV without a port: the QP moves to the AV's port.
      await qp.modify({ state: QpState.SQD, ah: { dlid: y.lid, portNum: 2 } });
      assert.deepEqual([(await qp.query()).port, await stateOf(qp)], [2, QpState.SQD]);
      // UC: the port uverbs adds is one the SQD->SQD entry does not take.
      const ucPeer = await y.pd.createQp({
        type: QpType.UC,
        sendCq: y.cq,
        recvCq: y.cq,
        cap: CAP,
      });
      const uc = await x.pd.createQp({ type: QpType.UC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      for (
        const attrs of connectAttrs(QpType.UC, { ...CONNECT, remoteQpn: ucPeer.qpNum, dlid: y.lid })
      ) {
        await uc.modify(attrs);
      }
      await uc.modify({ state: QpState.SQD });
      const msg = await rejects(
        () => uc.modify({ state: QpState.SQD, ah: { dlid: y.lid, portNum: 1 } }),
        "EINVAL",
      );
      assert.match(msg, /port/);
      assert.deepEqual([(await uc.query()).port, await stateOf(uc)], [1, QpState.SQD]);
    });
  });

  Deno.test(`address vectors (${mode}): create_ah's sgid_index lies in the GID table`, async () => {
    const { cluster, a, b } = await twoPortDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const dgid = new Uint8Array(16);
      dgid[0] = 0xfe;
      dgid[1] = 0x80;
      await rejects(() => x.pd.createAh({ dlid: y.lid, grh: { dgid, sgidIndex: 1 } }), "EINVAL");
      await rejects(() => x.pd.createAh({ dlid: y.lid, portNum: 3 }), "EINVAL");
      const ah = await x.pd.createAh({ dlid: y.lid, portNum: 2, grh: { dgid, sgidIndex: 0 } });
      await ah.destroy();
    });
  });

  Deno.test(`address vectors (${mode}): create_ah refuses a field no ib_uverbs_ah_attr holds with bare metal's text`, async () => {
    // A guest's kernel checks the AV as bare metal's does (rdma_check_ah_attr and the uverbs
    // ABI's widths) before its CREATE_AH request is encoded: the ring's encoder used to refuse
    // these first, as `CREATE_AH: attr.dlid: undefined does not fit u16`.
    const { cluster, a } = await twoPortDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const dgid = new Uint8Array(16);
      const cases: [Record<string, unknown>, string][] = [
        [{}, "ah.dlid must be an integer in 0..65535, got undefined"],
        [{ dlid: 70000 }, "ah.dlid must be an integer in 0..65535, got 70000"],
        [{ dlid: 1, sl: 300 }, "ah.sl must be an integer in 0..15, got 300"],
        [{ dlid: 1, srcPathBits: 1.5 }, "ah.srcPathBits must be an integer in 0..127, got 1.5"],
        [{ dlid: 1, staticRate: 300 }, "ah.staticRate must be an integer in 0..255, got 300"],
        [
          { dlid: 1, grh: { dgid, hopLimit: -1 } },
          "ah.grh.hopLimit must be an integer in 0..255, got -1",
        ],
        [
          { dlid: 1, grh: { dgid, flowLabel: 2 ** 32 } },
          "ah.grh.flowLabel must be an integer in 0..4294967295, got 4294967296",
        ],
        [{ dlid: 1, grh: { dgid: new Uint8Array(4) } }, "ah.grh.dgid must be 16 bytes"],
        // The port (rdma_check_ah_attr: rdma_is_port_valid), the device having two: a guest's
        // encoder said `CREATE_AH: attr.portNum: 300 does not fit u8` for those no __u8 holds.
        [{ dlid: 1, portNum: 3 }, "ah.portNum must be an integer in 1..2, got 3"],
        [{ dlid: 1, portNum: 300 }, "ah.portNum must be an integer in 1..2, got 300"],
        [{ dlid: 1, portNum: -1 }, "ah.portNum must be an integer in 1..2, got -1"],
        [{ dlid: 1, portNum: 1.5 }, "ah.portNum must be an integer in 1..2, got 1.5"],
      ];
      // Bare metal's kernel says `create_ah: …`; a guest's, as for any refused control call,
      // names its request first (docs/api.md, Conventions: Errors).
      const prefix = mode === "native" ? "" : "CREATE_AH: ";
      for (const [attr, why] of cases) {
        // deno-lint-ignore no-explicit-any
        const msg = await rejects(() => x.pd.createAh(attr as any), "EINVAL");
        assert.equal(msg, `EINVAL: ${prefix}create_ah: ${why}`, JSON.stringify(attr));
      }
    });
  });

  Deno.test(`address vectors (${mode}): a null AV field is no number; a null grh is no GRH`, async () => {
    // A `__u8` or `__u32` of struct ib_uverbs_ah_attr holds no null: EINVAL naming the field, as
    // any value none holds (docs/api.md, Conventions). Bare metal took null as the field's
    // default (0, hop limit 64) and a guest refused it with the ring encoder's text
    // (`CREATE_AH: attr.sl: null does not fit u8`). A null `grh` is a C caller's is_global 0:
    // no GRH, as a null `srq` or `channel` is none; a guest's encoder refused it
    // (`CREATE_AH: attr.grh: not an object`), bare metal took it.
    const { cluster, a, b } = await twoPortDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const dgid = await y.ctx.queryGid(1, 0);
      const prefix = (op: string) => mode === "native" ? "" : `${op}: `;
      const rc = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      await rc.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
      const [, rtr] = connectAttrs(QpType.RC, { ...CONNECT, remoteQpn: 1, dlid: y.lid });
      const cases: [Record<string, unknown>, string, string][] = [
        [{ dlid: y.lid, sl: null }, "ah.sl", "0..15"],
        [{ dlid: y.lid, srcPathBits: null }, "ah.srcPathBits", "0..127"],
        [{ dlid: y.lid, staticRate: null }, "ah.staticRate", "0..255"],
        [{ dlid: y.lid, grh: { dgid, sgidIndex: null } }, "ah.grh.sgidIndex", "0..0"],
        [{ dlid: y.lid, grh: { dgid, flowLabel: null } }, "ah.grh.flowLabel", "0..4294967295"],
        [{ dlid: y.lid, grh: { dgid, hopLimit: null } }, "ah.grh.hopLimit", "0..255"],
        [{ dlid: y.lid, grh: { dgid, trafficClass: null } }, "ah.grh.trafficClass", "0..255"],
      ];
      for (const [attr, field, range] of cases) {
        const why = `${field} must be an integer in ${range}, got null`;
        // deno-lint-ignore no-explicit-any
        const made = await rejects(() => x.pd.createAh(attr as any), "EINVAL");
        assert.equal(made, `EINVAL: ${prefix("CREATE_AH")}create_ah: ${why}`);
        // deno-lint-ignore no-explicit-any
        const moved = await rejects(() => rc.modify({ ...rtr, ah: attr as any }), "EINVAL");
        assert.equal(moved, `EINVAL: ${prefix("MODIFY_QP")}modify_qp: ${why}`);
      }
      assert.equal(await stateOf(rc), QpState.INIT);
      // grh: null, for an AH and a connected QP's path: no GRH.
      // deno-lint-ignore no-explicit-any
      const noGrh = { dlid: y.lid, grh: null } as any;
      await rc.modify({ ...rtr, ah: noGrh });
      assert.deepEqual([await stateOf(rc), (await rc.query()).ah?.grh], [QpState.RTR, undefined]);
      const ud = await Promise.all(
        [x, y].map((s) => s.pd.createQp({ type: QpType.UD, sendCq: s.cq, recvCq: s.cq, cap: CAP })),
      );
      for (const q of ud) await connectQp(q);
      const ah = await x.pd.createAh(noGrh);
      ud[1].postRecv({ wrId: 1n, sgList: [{ addr: y.buf, length: 256, lkey: y.mr.lkey }] });
      ud[0].postSend({
        wrId: 2n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 16, lkey: x.mr.lkey }],
        ah,
        remoteQpn: ud[1].qpNum,
        remoteQkey: 0x11111111,
      });
      await x.cq.pollUntil(1);
      const [got] = await y.cq.pollUntil(1);
      assert.deepEqual([got.status, got.wcFlags & WcFlags.GRH, got.byteLen], [
        WcStatus.SUCCESS,
        0,
        40 + 16,
      ]);
    });
  });

  Deno.test(`address vectors (${mode}): a GRH's traffic class is the packets' TClass`, async () => {
    const { cluster, a, b } = await twoPortDomains(mode);
    // The first two GRH words of every packet that carries one: IPVer, TClass, FlowLabel.
    const grhs: number[] = [];
    cluster.fabric.addCapture((r) => {
      // LRH:LNH (low two bits of byte 1) 3 = a GRH follows the 8-byte LRH.
      if (r.from.node.name !== "sw0" && (r.bytes[1] & 3) === 3) {
        grhs.push(new DataView(r.bytes.buffer, r.bytes.byteOffset).getUint32(8));
      }
    });
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const dgid = await y.ctx.queryGid(1, 0);
      const grh = { dgid, trafficClass: 0xa5, flowLabel: 0x12345, hopLimit: 9 };
      // A UD datagram: its GRH lands in the first 40 bytes of the receive buffer.
      const ud = await Promise.all(
        [x, y].map((s) => s.pd.createQp({ type: QpType.UD, sendCq: s.cq, recvCq: s.cq, cap: CAP })),
      );
      for (const q of ud) await connectQp(q);
      await rejects(
        () => x.pd.createAh({ dlid: y.lid, grh: { ...grh, trafficClass: 0x100 } }),
        "EINVAL",
      );
      const ah = await x.pd.createAh({ dlid: y.lid, grh });
      ud[1].postRecv({ wrId: 1n, sgList: [{ addr: y.buf, length: 256, lkey: y.mr.lkey }] });
      ud[0].postSend({
        wrId: 2n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 16, lkey: x.mr.lkey }],
        ah,
        remoteQpn: ud[1].qpNum,
        remoteQkey: 0x11111111,
      });
      assert.equal((await x.cq.pollUntil(1))[0].wrId, 2n);
      const [got] = await y.cq.pollUntil(1);
      assert.deepEqual([got.status, got.wcFlags & WcFlags.GRH], [WcStatus.SUCCESS, WcFlags.GRH]);
      const word0 = (6 << 28 | 0xa5 << 20 | 0x12345) >>> 0;
      assert.equal(
        new DataView(y.dom.memory.read(y.buf, 4).buffer).getUint32(0),
        word0,
        "IPVer 6, TClass 0xa5, FlowLabel 0x12345",
      );
      // A connected QP's path: query gives it back, and its packets carry it.
      const rc = await Promise.all(
        [x, y].map((s) => s.pd.createQp({ type: QpType.RC, sendCq: s.cq, recvCq: s.cq, cap: CAP })),
      );
      const toX = { dgid: await x.ctx.queryGid(1, 0), trafficClass: 0x3c };
      const bad = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      const [, rtr] = connectAttrs(QpType.RC, { ...CONNECT, remoteQpn: 1, dlid: y.lid });
      await bad.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
      await rejects(
        () => bad.modify({ ...rtr, ah: { dlid: y.lid, grh: { ...grh, trafficClass: -1 } } }),
        "EINVAL",
      );
      assert.equal(await stateOf(bad), QpState.INIT);
      grhs.length = 0;
      // Each end's `grh` is how its peer reaches it: x sends with TClass 0xa5, y with 0x3c.
      await connectPair(
        { qp: rc[0], lid: x.lid, grh: toX },
        { qp: rc[1], lid: y.lid, grh },
        CONNECT,
      );
      assert.equal((await rc[0].query()).ah?.grh?.trafficClass, 0xa5);
      rc[0].postSend({
        wrId: 3n,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 16, lkey: x.mr.lkey }],
        remoteAddr: y.buf,
        rkey: y.mr.rkey,
      });
      const [written] = await x.cq.pollUntil(1);
      assert.deepEqual([written.wrId, written.status], [3n, WcStatus.SUCCESS]);
      // The WRITE carries x's GRH (toward y: the TClass y's path gives), the ACK y's.
      const tclasses = [...new Set(grhs.map((w) => (w >>> 20) & 0xff))].sort((p, q) => p - q);
      assert.deepEqual(tclasses, [0x3c, 0xa5]);
    });
  });

  Deno.test(`address vectors (${mode}): a static rate below the port's spaces the packets`, async () => {
    const { cluster, a, b } = await twoPortDomains(mode);
    // When each data packet a's port sends starts, and its time on the wire.
    let sent: { at: number; wireNs: number }[] = [];
    cluster.fabric.addCapture((r) => {
      if (r.from.node.name.startsWith("a") && r.bytes.length > 1000) {
        sent.push({ at: r.timeNs, wireNs: r.bytes.length * r.link.nsPerByte });
      }
    });
    /** Start-to-start gaps of the packets sent, in packet times (the first left out). */
    // Each start-to-start gap in wire times of the packet before it (the IPD counts in the
    // time of the packet just sent: a WRITE's first, with its RETH, is longer than the rest).
    const gaps = () => sent.slice(1).map((s, i) => (s.at - sent[i].at) / sent[i].wireNs);
    await cluster.run(async () => {
      const x = await side(a, 64, 1 << 20), y = await side(b, 64, 1 << 20);
      const ud = await Promise.all(
        [x, y].map((s) => s.pd.createQp({ type: QpType.UD, sendCq: s.cq, recvCq: s.cq, cap: CAP })),
      );
      for (const q of ud) await connectQp(q);
      const datagrams = async (staticRate: number) => {
        const ah = await x.pd.createAh({ dlid: y.lid, staticRate });
        sent = [];
        for (let i = 0; i < 8; i++) {
          ud[1].postRecv({ wrId: 1n, sgList: [{ addr: y.buf, length: 4096, lkey: y.mr.lkey }] });
        }
        for (let i = 0; i < 8; i++) {
          ud[0].postSend({
            wrId: 2n,
            opcode: WrOpcode.SEND,
            sendFlags: SendFlags.SIGNALED,
            sgList: [{ addr: x.buf, length: 2048, lkey: x.mr.lkey }],
            ah,
            remoteQpn: ud[1].qpNum,
            remoteQkey: 0x11111111,
          });
        }
        await x.cq.pollUntil(8);
        await y.cq.pollUntil(8);
        assert.equal(sent.length, 8);
        return gaps();
      };
      const near = (got: number[], want: number, what: string) =>
        assert.ok(
          got.every((g) => Math.abs(g - want) < 0.01),
          `${what}: ${got.map((g) => g.toFixed(3))}`,
        );
      near(await datagrams(2), 4, "2.5 Gb/s: IPD 3"); // IBV_RATE_2_5_GBPS
      near(await datagrams(5), 2, "5 Gb/s: IPD 1"); // IBV_RATE_5_GBPS
      // The port's rate (IBV_RATE_10_GBPS) or IBV_RATE_MAX: as fast as the device goes, under
      // two packet times apart.
      for (const r of [3, 0]) {
        assert.ok((await datagrams(r)).every((g) => g < 1.9), `rate ${r}`);
      }
      // A connected QP's path: 64 KiB in 32 packets of 2048 bytes, 4 packet times apart.
      const rc = await Promise.all(
        [x, y].map((s) => s.pd.createQp({ type: QpType.RC, sendCq: s.cq, recvCq: s.cq, cap: CAP })),
      );
      const steps = [
        connectAttrs(QpType.RC, { ...CONNECT, remoteQpn: rc[1].qpNum, dlid: y.lid }),
        connectAttrs(QpType.RC, { ...CONNECT, remoteQpn: rc[0].qpNum, dlid: x.lid }),
      ];
      steps[0][1].ah = { ...steps[0][1].ah!, staticRate: 2 }; // x's path: IBV_RATE_2_5_GBPS
      for (const [i, q] of rc.entries()) for (const attr of steps[i]) await q.modify(attr);
      assert.equal((await rc[0].query()).ah?.staticRate, 2);
      sent = [];
      rc[0].postSend({
        wrId: 3n,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 65536, lkey: x.mr.lkey }],
        remoteAddr: y.buf,
        rkey: y.mr.rkey,
      });
      assert.equal((await x.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
      assert.equal(sent.length, 32);
      near(gaps(), 4, "RC at 2.5 Gb/s");
    });
  });
}

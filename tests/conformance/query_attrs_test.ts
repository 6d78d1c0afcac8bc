/**
 * What the query verbs answer, field by field, as Linux mthca fills them for the model's
 * MT23108, the same in every mode (native, bypass, split: DESIGN §9, invariant 11):
 *
 * 1. `ibv_query_device`'s `sys_image_guid` (ibv_query_device(3)) is NodeInfo:SystemImageGUID,
 *    which mthca_query_device copies from the device's NodeInfo (`out_mad->data + 4`); the device
 *    advertises it (`IBV_DEVICE_SYS_IMAGE_GUID`, bit 11 of `device_cap_flags`). A system of one
 *    node, as every model host is, names itself by that node's GUID (IBTA vol 1 §14.2.5.3: one
 *    SystemImageGUID for all the nodes of a system), so it is the `nodeGuid`. The identity
 *    fields are mthca's: `vendor_id` the IEEE OUI 0x02c9 (NodeInfo:VendorID, low 24 bits),
 *    `vendor_part_id` 23108 (NodeInfo:DeviceID), `hw_ver` 0xA1 (NodeInfo:Revision), `fw_ver`
 *    "major.minor.subminor" as libmthca prints it (`"%d.%d.%d"`).
 * 2. `ibv_query_port` answers the fields mthca_query_port reads from PortInfo and the core adds,
 *    not only some: `sm_sl` (PortInfo:MasterSMSL, `data[36] & 0xf`), `port_cap_flags`
 *    (PortInfo:CapabilityMask, `data + 20`), and `link_layer` InfiniBand (1: ib_uverbs_query_port
 *    asks rdma_port_get_link_layer, which answers IB_LINK_LAYER_INFINIBAND for a device of the IB
 *    transport without a get_link_layer of its own, as mthca is). The first two are the device's
 *    QUERY_PORT answer, in every mode; `active_speed` is verbs.h's code (1 SDR … 128 NDR).
 * 3. `ibv_query_device`, `ibv_query_port`, `ibv_query_gid` and `ibv_query_pkey` answer the same
 *    in every mode: a guest sees its host's device.
 * 4. `ibv_query_qp`'s `max_rd_atomic` and `max_dest_rd_atomic` are what the QP context holds:
 *    __mthca_modify_qp writes each depth as its log2 (`fls(depth - 1)`), and mthca_query_qp
 *    answers `1 << log`, so a depth is reported rounded up to a power of two, and a depth of 0
 *    (or one never set, from INIT on) as 1.
 * 5. A UD QP's `path_mtu` is reported from INIT on: mthca_query_qp reads the QP context's MTU,
 *    which __mthca_modify_qp sets for a UD QP at every transition (IB_MTU_2048, the largest an
 *    MT23108 port has), so a UD QP answers 2048 where an ibv_qp_attr never said it.
 * 6. `ibv_query_port`'s `subnet_timeout` and `init_type_reply` are PortInfo's SubnetTimeOut
 *    (`data[51] & 0x1f`) and InitTypeReply (`data[41] >> 4`) as the subnet manager set them
 *    (mthca_query_port): 18, OpenSM's default subnet_timeout, which its LID manager sets with the
 *    port's LID, and 0. `ibv_query_device`'s `local_ca_ack_delay` is the firmware's dev_lim value
 *    (mthca_query_device): the code of the profile's ACK coalescing window, 0 for none.
 * 7. `ibv_query_qp` reads every field from the QP context (mthca_query_qp), set or not, from INIT
 *    on: __mthca_modify_qp zeroes the context it hands RST2INIT, so a field no modify_qp gave
 *    (`timeout`, `retry_cnt`, `rnr_retry`, `min_rnr_timer`, `dest_qp_num`, `qkey`, the PSNs, an RC
 *    or UC QP's `path_mtu` before RTR) reads 0 and `path_mig_state` IB_MIG_MIGRATED (0). A RESET
 *    QP answers its state only (mthca_query_qp does not read the context).
 * 8. A connected QP's `ah_attr.static_rate` is the rate its path runs at, not the rate asked for
 *    (mthca_query_qp's to_rdma_ah_attr: `mthca_rate_to_ib` of the context's rate field): on the
 *    MT23108's 4x SDR port (10 Gb/s) 2.5 and 5 Gb/s read back as given, a path at the port's rate
 *    (0 or 10 Gb/s) or asked faster (20, 30 Gb/s) reads back 10 Gb/s (`IBV_RATE_10_GBPS`, 3).
 * 9. A connected QP's `ah_attr` has every address-vector field, as to_rdma_ah_attr reads the
 *    context's path: `port_num`, `sl`, `src_path_bits` and, with a GRH, `flow_label` (its 20
 *    bits), `sgid_index`, `hop_limit` and `traffic_class`, 0 for one the modify_qp left unset.
 * 10. A path's `port_num` is the port its context names (to_ib_ah_attr): the primary path's is the
 *    QP's own, which IB_QP_AV does not change, the alternate's `alt_port_num`.
 */
import assert from "node:assert/strict";
import { connectPair, Mtu, type QpAttr, QpState, QpType } from "../../mod.ts";
import { CAP, MODES, side, twoDomains } from "./helpers.ts";

const IBV_DEVICE_SYS_IMAGE_GUID = 1 << 11;
/** verbs.h `IBV_LINK_LAYER_INFINIBAND`. */
const IBV_LINK_LAYER_INFINIBAND = 1;

for (const mode of MODES) {
  Deno.test(`query attrs (${mode}): sys_image_guid and mthca's identity fields`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const d = x.ctx.queryDevice();
      assert.ok(d.deviceCapFlags & IBV_DEVICE_SYS_IMAGE_GUID, "the device advertises it");
      assert.match(d.sysImageGuid, /^[0-9a-f]{16}$/);
      assert.equal(d.sysImageGuid, d.nodeGuid);
      assert.notEqual(d.sysImageGuid, "0000000000000000");
      assert.deepEqual([d.vendorId, d.vendorPartId, d.hwVer], [0x02c9, 23108, 0xa1]);
      assert.match(d.fwVer, /^\d+\.\d+\.\d+$/);
      // The limits an MT23108 reports (ibv_devinfo -v; mthca_query_device: each table less its
      // reserved entries), not those less the reserved entries a second time.
      assert.deepEqual(
        [d.maxQp, d.maxCq, d.maxMr, d.maxPd, d.maxSrq, d.maxQpWr, d.maxCqe],
        [64512, 65408, 131056, 32764, 960, 16384, 131071],
      );
      // mthca_query_device never sets max_ah (the attributes are zeroed first), so an MT23108
      // reports 0, as ibv_devinfo -v prints it, whatever the size of its AH table.
      assert.equal(d.maxAh, 0);
    });
  });
}

for (const mode of MODES) {
  Deno.test(`query attrs (${mode}): query_port's sm_sl, port_cap_flags and link_layer`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      for (const p of [x.ctx.queryPort(1), await x.ctx.refreshPort(1)]) {
        assert.equal(p.linkLayer, IBV_LINK_LAYER_INFINIBAND);
        assert.equal(p.smSl, 0, "the subnet manager is reached on SL 0");
        assert.equal(typeof p.portCapFlags, "number", "PortInfo:CapabilityMask");
        assert.equal(p.activeSpeed, 1, "SDR");
      }
    });
  });
}

for (const mode of MODES) {
  Deno.test(`query attrs (${mode}): subnet_timeout, init_type_reply, local_ca_ack_delay`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      for (const p of [x.ctx.queryPort(1), await x.ctx.refreshPort(1)]) {
        assert.deepEqual([p.subnetTimeout, p.initTypeReply], [18, 0]);
      }
      assert.equal(x.ctx.queryDevice().localCaAckDelay, 0, "pcix-sdr-2006 has no ACK coalescing");
    });
  });
}

Deno.test("query attrs: every mode answers the device, port, GID and P_Key queries alike", async () => {
  const answers: string[] = [];
  for (const mode of MODES) {
    const { cluster, a } = await twoDomains(mode);
    answers.push(
      await cluster.run(async () => {
        const x = await side(a);
        const d = x.ctx.queryDevice();
        const p = await x.ctx.refreshPort(1);
        const gid = await x.ctx.queryGid(1, 0);
        const pkeys = [];
        for (let i = 0; i < p.pkeyTblLen; i++) pkeys.push(await x.ctx.queryPkey(1, i));
        const sorted = (o: object) => Object.fromEntries(Object.entries(o).sort());
        return JSON.stringify([sorted(d), sorted(p), Array.from(gid), pkeys]);
      }),
    );
  }
  assert.equal(answers[1], answers[0], "bypass answers as native");
  assert.equal(answers[2], answers[0], "split answers as native");
});

for (const mode of MODES) {
  Deno.test(`query attrs (${mode}): query_qp's RDMA READ depths are powers of two`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const got: [number, number, number][] = [];
      for (const depth of [0, 1, 2, 3, 4]) {
        const qp = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
        const lid = x.lid;
        await connectPair({ qp, lid }, { qp, lid }, {
          maxRdAtomic: depth,
          maxDestRdAtomic: depth,
        });
        const q = await qp.query();
        got.push([depth, q.maxRdAtomic!, q.maxDestRdAtomic!]);
        await qp.destroy();
      }
      assert.deepEqual(got, [[0, 1, 1], [1, 1, 1], [2, 2, 2], [3, 4, 4], [4, 4, 4]]);
      // Never set: the context's log is 0, reported as 1, from INIT on.
      const qp = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
      const q = await qp.query();
      assert.deepEqual([q.maxRdAtomic, q.maxDestRdAtomic], [1, 1]);
    });
  });
}

for (const mode of MODES) {
  Deno.test(`query attrs (${mode}): a UD QP reports its path MTU, 2048`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const qp = await x.pd.createQp({ type: QpType.UD, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      const mtus = [];
      await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, qkey: 0x11 });
      mtus.push((await qp.query()).pathMtu);
      await qp.modify({ state: QpState.RTR });
      await qp.modify({ state: QpState.RTS, sqPsn: 0 });
      const q = await qp.query();
      mtus.push(q.pathMtu);
      assert.deepEqual(mtus, [Mtu.MTU_2048, Mtu.MTU_2048]);
      assert.equal(q.qkey, 0x11);
    });
  });
}

/** The QP context fields mthca_query_qp reads whether or not a modify_qp set them. */
function contextFields(q: QpAttr) {
  return {
    timeout: q.timeout,
    retryCnt: q.retryCnt,
    rnrRetry: q.rnrRetry,
    minRnrTimer: q.minRnrTimer,
    sqPsn: q.sqPsn,
    rqPsn: q.rqPsn,
    destQpNum: q.destQpNum,
    qkey: q.qkey,
    pathMtu: q.pathMtu,
    pathMigState: q.pathMigState,
  };
}

const ZERO = {
  timeout: 0,
  retryCnt: 0,
  rnrRetry: 0,
  minRnrTimer: 0,
  sqPsn: 0,
  rqPsn: 0,
  destQpNum: 0,
  qkey: 0,
  pathMtu: 0,
  pathMigState: 0,
};

for (const mode of MODES) {
  Deno.test(`query attrs (${mode}): query_qp reads unset context fields as 0`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const init = { state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 };
      // RC: each field reads 0 until the transition that sets it, then what was set.
      const rc = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      await rc.modify(init);
      assert.deepEqual(contextFields(await rc.query()), ZERO);
      await rc.modify({
        state: QpState.RTR,
        pathMtu: Mtu.MTU_1024,
        destQpNum: rc.qpNum,
        rqPsn: 0x123,
        maxDestRdAtomic: 1,
        minRnrTimer: 12,
        ah: { dlid: x.lid, portNum: 1 },
      });
      const rtr = { ...ZERO, pathMtu: Mtu.MTU_1024, destQpNum: rc.qpNum, rqPsn: 0x123 };
      assert.deepEqual(contextFields(await rc.query()), { ...rtr, minRnrTimer: 12 });
      await rc.modify({
        state: QpState.RTS,
        sqPsn: 0x456,
        timeout: 14,
        retryCnt: 6,
        rnrRetry: 5,
        maxRdAtomic: 1,
      });
      assert.deepEqual(contextFields(await rc.query()), {
        ...rtr,
        minRnrTimer: 12,
        sqPsn: 0x456,
        timeout: 14,
        retryCnt: 6,
        rnrRetry: 5,
      });
      // UC: no transition takes a timeout, retry count or RNR timer; they stay 0 in RTS.
      const uc = await x.pd.createQp({ type: QpType.UC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      await uc.modify(init);
      await uc.modify({
        state: QpState.RTR,
        pathMtu: Mtu.MTU_2048,
        destQpNum: uc.qpNum,
        rqPsn: 7,
        ah: { dlid: x.lid, portNum: 1 },
      });
      await uc.modify({ state: QpState.RTS, sqPsn: 9 });
      assert.deepEqual(contextFields(await uc.query()), {
        ...ZERO,
        pathMtu: Mtu.MTU_2048,
        destQpNum: uc.qpNum,
        rqPsn: 7,
        sqPsn: 9,
      });
      // UD: the Q_Key and PSN it was given, no remote QP, and its MTU from INIT on.
      const ud = await x.pd.createQp({ type: QpType.UD, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      await ud.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, qkey: 0x11 });
      await ud.modify({ state: QpState.RTR });
      await ud.modify({ state: QpState.RTS, sqPsn: 3 });
      assert.deepEqual(contextFields(await ud.query()), {
        ...ZERO,
        qkey: 0x11,
        sqPsn: 3,
        pathMtu: Mtu.MTU_2048,
      });
      // Back in RESET: the state only, as mthca_query_qp answers without reading the context.
      await rc.modify({ state: QpState.RESET });
      const r = await rc.query();
      const absent = Object.fromEntries(Object.keys(ZERO).map((k) => [k, undefined]));
      assert.deepEqual(contextFields(r), absent);
      assert.equal(r.state, QpState.RESET);
    });
  });
}

for (const mode of MODES) {
  Deno.test(`query attrs (${mode}): query_qp's static_rate is the rate the path runs at`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const got: number[] = [];
      // verbs.h enum ibv_rate: 2 = 2.5, 5 = 5, 0 = the port's, 3 = 10, 6 = 20, 4 = 30 Gb/s.
      for (const staticRate of [2, 5, 0, 3, 6, 4]) {
        const qp = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
        await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
        await qp.modify({
          state: QpState.RTR,
          pathMtu: Mtu.MTU_1024,
          destQpNum: qp.qpNum,
          rqPsn: 0,
          maxDestRdAtomic: 1,
          minRnrTimer: 12,
          ah: { dlid: x.lid, portNum: 1, staticRate },
        });
        got.push((await qp.query()).ah!.staticRate!);
        await qp.destroy();
      }
      assert.deepEqual(got, [2, 5, 3, 3, 3, 3]);
    });
  });
}

for (const mode of MODES) {
  Deno.test(`query attrs (${mode}): query_qp's path reports every AV field, unset ones 0`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const dgid = await x.ctx.queryGid(1, 0);
      const qp = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
      await qp.modify({
        state: QpState.RTR,
        pathMtu: Mtu.MTU_1024,
        destQpNum: qp.qpNum,
        rqPsn: 0,
        maxDestRdAtomic: 1,
        minRnrTimer: 12,
        ah: { dlid: x.lid, grh: { dgid } },
      });
      // mthca_query_qp's to_rdma_ah_attr reads each from the context's primary path; the
      // context of a modify_qp that left one unset holds 0 there (a zeroed ibv_ah_attr).
      assert.deepEqual((await qp.query()).ah, {
        dlid: x.lid,
        sl: 0,
        srcPathBits: 0,
        staticRate: 3, // the port's own rate, 10 Gb/s (item 8)
        portNum: 1,
        grh: { dgid, flowLabel: 0, sgidIndex: 0, hopLimit: 0, trafficClass: 0 },
      });
    });
  });
}

for (const mode of MODES) {
  Deno.test(`query attrs (${mode}): query_qp reads a path back whole, its port included`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const qp = await x.pd.createQp({ type: QpType.UC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
      await qp.modify({
        state: QpState.RTR,
        pathMtu: Mtu.MTU_1024,
        destQpNum: qp.qpNum,
        rqPsn: 0,
        ah: { dlid: x.lid }, // no port, SL or path bits: the QP's port, 0 and 0
        altPath: { dlid: 7, sl: 3 },
      });
      const q = await qp.query();
      assert.deepEqual(q.ah, { dlid: x.lid, sl: 0, srcPathBits: 0, staticRate: 3, portNum: 1 });
      assert.deepEqual(q.altPath, { dlid: 7, sl: 3, srcPathBits: 0, staticRate: 3, portNum: 1 });
    });
  });
}

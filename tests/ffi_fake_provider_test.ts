/**
 * `drivers/verbs/real` end to end against a fake libibverbs/provider
 * (tests/ffi_fake_provider.ts): the fast path is called through function
 * pointers read from a real `struct ibv_context` at the verbs.h offsets, and
 * the fake reads the WRs back through raw pointers, as a provider does. What
 * this cannot show — a real HCA executing the WQEs — is listed in
 * docs/real-hardware.md.
 */
import assert from "node:assert/strict";
import { IBV_CONTEXT, IBV_WC, VERBS_CONTEXT } from "../hca/ffi/mod.ts";
import {
  Access,
  QpState,
  QpType,
  WcFlags,
  WcOpcode,
  WcStatus,
  WrOpcode,
} from "../drivers/uapi/enums.ts";
import { VerbsError } from "../drivers/uapi/errors.ts";
import { RealMemory } from "../drivers/verbs/real.ts";
import { FakeProvider } from "./ffi_fake_provider.ts";

const isCode = (code: string, re?: RegExp) => (e: unknown) =>
  e instanceof VerbsError && e.code === code && (!re || re.test(e.message));

function cqe(wrId: bigint, opcode: number, extra: (v: DataView) => void = () => {}) {
  const b = new Uint8Array(IBV_WC.sizeof);
  const v = new DataView(b.buffer);
  v.setBigUint64(IBV_WC.fields.wr_id.offset, wrId, true);
  v.setUint32(IBV_WC.fields.opcode.offset, opcode, true);
  extra(v);
  return b;
}

const cap = { maxSendWr: 10, maxRecvWr: 4, maxSendSge: 2, maxRecvSge: 1, maxInlineData: 0 };

Deno.test("fake provider: ibv_query_port uses verbs_context->query_port, else the compat symbol", () => {
  const ext = new FakeProvider({ extended: true });
  const old = new FakeProvider({ extended: false });
  try {
    const port = ext.open().queryPort(2);
    assert.equal(port.state, 4);
    assert.equal(port.lid, 0x12);
    assert.ok(ext.log.includes("query_port 2 52"), "called with sizeof(struct ibv_port_attr)");
    assert.throws(() => ext.open().queryPort(3), isCode("EINVAL", /ibv_query_port/));
    assert.equal(old.open().queryPort(1).state, 2);
    assert.deepEqual(old.log, ["compat query_port 1 52"]);
  } finally {
    ext.close();
    old.close();
  }
});

Deno.test("fake provider: numCompVectors is ibv_context.num_comp_vectors (ibv_devinfo -v)", () => {
  const fake = new FakeProvider();
  try {
    const at = VERBS_CONTEXT.fields.context.offset + IBV_CONTEXT.fields.num_comp_vectors.offset;
    new DataView(fake.vctx.buffer).setInt32(at, 63, true);
    assert.equal(fake.open().numCompVectors, 63);
  } finally {
    fake.close();
  }
});

Deno.test("fake provider: objects, the fast path through ctx->ops, and teardown order", async () => {
  const fake = new FakeProvider();
  try {
    const ctx = fake.open();
    const mem = new RealMemory(1 << 16);
    const buf = mem.alloc(8192, 4096);
    const pd = await ctx.allocPd();
    const mr = await pd.regMr(buf, 8192, Access.LOCAL_WRITE | Access.REMOTE_WRITE);
    assert.ok(fake.log.includes(`reg_mr ${buf} 8192 3`), "the process address was registered");
    assert.equal(mr.memory, mem);
    await assert.rejects(pd.regMr(0x1000, 64, 0), isCode("EFAULT", /RealMemory/));
    const cq = await ctx.createCq(15);
    assert.equal(cq.cqe, 16, "the provider's granted size");
    const cq2 = await ctx.createCq(8);
    const qp = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq2, cap });
    assert.equal(qp.cap.maxSendWr, 16, "caps granted by the provider are reported");
    assert.equal(qp.cap.maxInlineData, 64);
    // Booleans are booleans (int solicited_only, sq_sig_all, en_sqd_async_notify in C), not
    // JavaScript's truthiness: EINVAL naming the call, before any C call, as in the model.
    const calls = fake.log.length;
    await assert.rejects(
      pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq2, cap, sqSigAll: "x" as never }),
      isCode("EINVAL", /^EINVAL: create_qp: sqSigAll must be true or false, got "x"$/),
    );
    const init = { state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 };
    await assert.rejects(
      qp.modify({ ...init, enSqdAsyncNotify: 0 as never }),
      isCode("EINVAL", /^EINVAL: modify_qp: enSqdAsyncNotify must be true or false, got 0$/),
    );
    assert.equal(fake.log.length, calls, "no C call was made");
    await qp.modify(init);
    assert.equal(qp.state, QpState.INIT, "libibverbs' qp->state is read back");
    const srq = await pd.createSrq({ maxWr: 8, maxSge: 1 });
    assert.equal(srq.attr.maxWr, 15, "the size the provider granted, read back from C");
    const ah = await pd.createAh({ dlid: 9 });

    qp.postSend([
      {
        wrId: 1n,
        opcode: WrOpcode.RDMA_WRITE,
        sgList: [{ addr: buf, length: 64, lkey: mr.lkey }, {
          addr: buf + 64,
          length: 8,
          lkey: mr.lkey,
        }],
        remoteAddr: 0x7000,
        rkey: 5,
      },
      { wrId: 2n, opcode: WrOpcode.SEND_WITH_IMM, sgList: [], immData: 0xa0b0c0d0 },
    ]);
    assert.deepEqual(fake.sent, [
      {
        wrId: 1n,
        opcode: WrOpcode.RDMA_WRITE,
        imm: 0,
        remoteAddr: 0x7000n,
        sges: [[BigInt(buf), 64, mr.lkey], [BigInt(buf + 64), 8, mr.lkey]],
      },
      { wrId: 2n, opcode: WrOpcode.SEND_WITH_IMM, imm: 0xa0b0c0d0, remoteAddr: 0n, sges: [] },
    ]);
    assert.throws(
      () =>
        qp.postSend([{ wrId: 3n, opcode: WrOpcode.SEND, sgList: [] }, {
          wrId: 666n,
          opcode: WrOpcode.SEND,
          sgList: [],
        }]),
      isCode("ENOMEM", /wr\[1\] \(wrId 666\)/),
    );
    qp.postRecv({ wrId: 4n, sgList: [{ addr: buf, length: 4096, lkey: mr.lkey }] });
    srq.postRecv({ wrId: 5n, sgList: [] });
    assert.deepEqual(fake.recvd.map((w) => w.wrId), [4n, 5n]);

    fake.cqes.push(
      cqe(1n, WcOpcode.RDMA_WRITE),
      cqe(4n, WcOpcode.RECV, (v) => {
        v.setUint32(IBV_WC.fields.wc_flags.offset, WcFlags.WITH_IMM, true);
        v.setUint32(IBV_WC.fields.imm_data.offset, 0x01020304, false);
      }),
    );
    const wcs = cq.poll(1);
    assert.deepEqual(wcs.map((w) => w.wrId), [1n]);
    const [recv] = await cq.pollUntil(1);
    assert.equal(recv.immData, 0x01020304);
    await assert.rejects(
      cq.pollUntil(2, { maxPolls: 3 }),
      (e) => isCode("ETIMEDOUT")(e) && Array.isArray((e as { completions?: unknown }).completions),
    );
    cq.reqNotify(true);
    assert.ok(fake.log.includes("req_notify_cq 1"));
    assert.throws(
      () => cq.reqNotify("false" as never),
      isCode("EINVAL", /^EINVAL: req_notify_cq: solicitedOnly must be true or false, got "false"$/),
    );
    assert.equal(fake.log.filter((l) => l.startsWith("req_notify_cq")).length, 1, "not armed");

    await assert.rejects(cq.destroy(), isCode("EBUSY"), "a QP still uses the CQ");
    assert.deepEqual(cq.poll(4), [], "a refused destroy leaves the CQ usable");
    assert.equal(ah.attr.portNum, 1, "AH port defaults to 1");
    fake.log.length = 0;
    await ctx.close();
    assert.deepEqual(fake.log, [
      "destroy_qp",
      "destroy_srq",
      "destroy_ah",
      "dereg_mr",
      "dealloc_pd",
      "destroy_cq",
      "destroy_cq",
      "close_device",
      "dlclose",
    ]);
    assert.equal(ctx.closed, true);
    await assert.rejects(pd.createAh({ dlid: 1 }), isCode("EINVAL", /destroyed|closed/));
    assert.throws(() => qp.postRecv({ wrId: 9n, sgList: [] }), isCode("EINVAL"));
  } finally {
    fake.close();
  }
});

Deno.test("fake provider: completion events route to their CQ; destroy waits for their ack", async () => {
  const fake = new FakeProvider();
  try {
    const ctx = fake.open();
    const ch = ctx.createCompChannel();
    const cq = await ctx.createCq(4, { channel: ch });
    assert.equal(cq.channel, ch);
    cq.reqNotify(false);
    assert.equal(await ch.getEvent(), cq);
    assert.equal(await ch.getEvent(), cq);
    cq.ackEvents(1);
    assert.throws(() => cq.ackEvents(2), isCode("EINVAL", /1 event\(s\) unacknowledged/));
    await assert.rejects(
      cq.pollUntil(1, { timeoutNs: 1e6 }),
      isCode("ETIMEDOUT", /0 of 1 completions/),
    );
    // ibv_destroy_cq returns only once every event it reported is acknowledged.
    let destroyed = false;
    const destroying = cq.destroy().then(() => (destroyed = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(destroyed, false, "destroy returned with an event not acknowledged");
    assert.ok(!fake.log.includes("destroy_cq"), "ibv_destroy_cq would block the thread that acks");
    cq.ackEvents(1);
    await destroying;
    await ch.destroy();
    assert.deepEqual(fake.log.filter((l) => /cq_event|destroy/.test(l)), [
      "get_cq_event",
      "get_cq_event",
      "ack_cq_events 1",
      "ack_cq_events 1",
      "destroy_cq",
      "destroy_comp_channel",
    ]);
    await ctx.close();
  } finally {
    fake.close();
  }
});

Deno.test("getEvent with timeoutNs polls the channel fd: times out, then returns once readable", async () => {
  const fake = new FakeProvider();
  const pipe = fake.pipe();
  try {
    const ctx = fake.open();
    const ch = ctx.createCompChannel();
    const cq = await ctx.createCq(4, { channel: ch });
    await assert.rejects(ch.getEvent({ timeoutNs: 20e6 }), isCode("ETIMEDOUT", /20000000 ns/));
    assert.ok(!fake.log.includes("get_cq_event"), "the blocking verb was not entered");
    pipe.signal();
    assert.equal(await ch.getEvent({ timeoutNs: 5e9 }), cq);
    await assert.rejects(ch.getEvent({ timeoutNs: -1 }), isCode("EINVAL"));
    await ctx.close();
  } finally {
    pipe.close();
    fake.close();
  }
});

Deno.test("fake provider: NULL from a verb maps errno; objects of another context are refused", async () => {
  const a = new FakeProvider();
  const b = new FakeProvider();
  try {
    const ctxA = a.open("a0");
    const ctxB = b.open("b0");
    a.failNext = { verb: "alloc_pd", errno: 12 };
    await assert.rejects(ctxA.allocPd(), isCode("ENOMEM", /ibv_alloc_pd failed \(errno 12\)/));
    const pd = await ctxA.allocPd();
    const foreignCq = await ctxB.createCq(4);
    await assert.rejects(
      pd.createQp({ type: QpType.RC, sendCq: foreignCq, recvCq: foreignCq, cap }),
      isCode("EINVAL", /belongs to another device context/),
    );
    const cq = await ctxA.createCq(4);
    await assert.rejects(
      pd.createQp({ type: 9 as QpType, sendCq: cq, recvCq: cq, cap }),
      isCode("EINVAL", /type 9 is not RC/),
    );
    assert.equal(a.log.filter((l) => l === "create_qp").length, 0, "nothing reached C");
    await ctxA.close();
    await ctxB.close();
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("fake provider: attachMcast/detachMcast call ibv_attach_mcast/ibv_detach_mcast; errno as returned", async () => {
  const fake = new FakeProvider();
  try {
    const ctx = fake.open();
    const pd = await ctx.allocPd();
    const cq = await ctx.createCq(4);
    const qp = await pd.createQp({ type: QpType.UD, sendCq: cq, recvCq: cq, cap });
    const mgid = new Uint8Array(16);
    mgid[0] = 0xff;
    await qp.attachMcast(mgid, 0xc001);
    await qp.detachMcast(mgid, 0xc001);
    assert.deepEqual(fake.log.filter((l) => l.includes("mcast")), [
      "attach_mcast lid=49153",
      "detach_mcast lid=49153",
    ]);
    // The kernel's EINVAL for a unicast GID (ib_attach_mcast), returned as the errno value.
    await assert.rejects(
      qp.attachMcast(new Uint8Array(16), 0xc001),
      isCode("EINVAL", /ibv_attach_mcast/),
    );
    // What cannot be a union ibv_gid never reaches C.
    await assert.rejects(qp.attachMcast(mgid.subarray(0, 4), 0xc001), isCode("EINVAL", /16 bytes/));
    await ctx.close();
  } finally {
    fake.close();
  }
});

Deno.test("fake provider: an error completion shows none of an earlier completion's fields", async () => {
  const fake = new FakeProvider();
  try {
    const ctx = fake.open();
    const cq = await ctx.createCq(4);
    fake.cqes.push(
      cqe(1n, WcOpcode.RECV, (v) => {
        v.setUint32(IBV_WC.fields.byte_len.offset, 100, true);
        v.setUint32(IBV_WC.fields.src_qp.offset, 0x77, true);
        v.setUint16(IBV_WC.fields.slid.offset, 9, true);
      }),
    );
    assert.equal(cq.poll(1)[0].byteLen, 100);
    // A flushed receive, written as mlx5_parse_cqe writes an error CQE: only wr_id, status,
    // vendor_err, qp_num and wc_flags. ibv_poll_cq(3): "only the following attributes are
    // valid: wr_id, status, qp_num, and vendor_err"; the rest must not be the last poll's.
    fake.cqes.push((v) => {
      v.setBigUint64(IBV_WC.fields.wr_id.offset, 2n, true);
      v.setUint32(IBV_WC.fields.status.offset, WcStatus.WR_FLUSH_ERR, true);
      v.setUint32(IBV_WC.fields.vendor_err.offset, 0xf5, true);
      v.setUint32(IBV_WC.fields.qp_num.offset, 0x42, true);
      v.setUint32(IBV_WC.fields.wc_flags.offset, 0, true);
    });
    const [wc] = cq.poll(1);
    assert.deepEqual([wc.wrId, wc.status, wc.vendorErr, wc.qpNum], [2n, 5, 0xf5, 0x42]);
    assert.deepEqual([wc.opcode, wc.byteLen, wc.srcQp, wc.slid], [0, 0, 0, 0]);
    await ctx.close();
  } finally {
    fake.close();
  }
});

Deno.test("fake provider: a negative poll_cq result is a failure, not a negated errno", async () => {
  const fake = new FakeProvider();
  try {
    const ctx = fake.open();
    const cq = await ctx.createCq(4);
    // mlx4/mlx5/mthca return CQ_POLL_ERR (-2) and ibv_cmd_poll_cq -1: ibv_poll_cq(3) says only
    // "a negative value". Neither is -ENOENT or -EPERM.
    for (const rc of [-2, -1]) {
      fake.pollFailure = rc;
      assert.throws(() => cq.poll(1), isCode("EIO", new RegExp(`returned ${rc}`)));
    }
    assert.deepEqual(cq.poll(1), [], "the CQ is still usable");
    await ctx.close();
  } finally {
    fake.close();
  }
});

Deno.test("fake provider: arguments that C would truncate or Deno would refuse are EINVAL", async () => {
  const fake = new FakeProvider();
  try {
    const ctx = fake.open();
    // uint8_t port_num: 257 would reach C as port 1; int index: 2^31 does not fit.
    assert.throws(() => ctx.queryGid(257, 0), isCode("EINVAL", /queryGid: port 257/));
    assert.throws(() => ctx.queryGid(1, 2 ** 31), isCode("EINVAL", /queryGid: index/));
    assert.throws(() => ctx.queryGid(1, -1), isCode("EINVAL", /queryGid: index/));
    assert.ok(!fake.log.some((l) => l.startsWith("query_gid")), "nothing reached C");
    assert.equal(ctx.queryGid(2, 5)[15], 5);
    // ibv_query_gid returns -1 and leaves the reason in errno.
    assert.throws(() => ctx.queryGid(3, 0), isCode("EINVAL", /ibv_query_gid failed \(errno 22\)/));
    // ibv_query_pkey: the same C types; the __be16 comes back in host order.
    assert.throws(() => ctx.queryPkey(256, 0), isCode("EINVAL", /queryPkey: port 256/));
    assert.throws(() => ctx.queryPkey(1, -1), isCode("EINVAL", /queryPkey: index/));
    assert.ok(!fake.log.some((l) => l.startsWith("query_pkey")), "nothing reached C");
    assert.deepEqual([ctx.queryPkey(1, 0), ctx.queryPkey(2, 63)], [0xffff, 0]);
    assert.throws(
      () => ctx.queryPkey(1, 64),
      isCode("EINVAL", /ibv_query_pkey failed \(errno 22\)/),
    );
    await assert.rejects(ctx.createCq(4, { compVector: 1.5 }), isCode("EINVAL", /compVector/));
    await assert.rejects(ctx.createCq(4, { compVector: -1 }), isCode("EINVAL", /compVector/));
    const pd = await ctx.allocPd();
    const mem = new RealMemory(4096);
    await assert.rejects(pd.regMr(mem.base, 64, undefined as never), isCode("EINVAL", /access/));
    await assert.rejects(pd.regMr(mem.base, 64, 2 ** 32), isCode("EINVAL", /access/));
    // struct ibv_srq_attr: uint32_t max_wr, max_sge, srq_limit. 2^32 + 1 would reach C as 1,
    // -1 as 0xffffffff; 1.5 is no integer (not a RangeError from BigInt).
    for (const bad of [{ maxWr: 2 ** 32 + 1 }, { srqLimit: -1 }, { srqLimit: 1.5 }]) {
      const [k, v] = Object.entries(bad)[0];
      await assert.rejects(
        pd.createSrq({ maxWr: 4, maxSge: 1, ...bad }),
        isCode("EINVAL", new RegExp(`createSrq: ${k} must be an integer in .*, got ${v}$`)),
      );
    }
    await assert.rejects(pd.createSrq(undefined as never), isCode("EINVAL", /createSrq/));
    assert.ok(!fake.log.some((l) => /create_srq/.test(l)), "no SRQ reached C");
    // 0 entries or SGEs: the model grants them (API.md SrqAttr); here the provider decides.
    await pd.createSrq({ maxWr: 0, maxSge: 0 });
    assert.ok(fake.log.includes("create_srq"));
    assert.ok(!fake.log.some((l) => /create_cq|reg_mr/.test(l)), "nothing reached C");
    // A NULL send_cq/recv_cq: the kernel would read CQ handle 0, libmthca dereference it.
    const cq = await ctx.createCq(4);
    const qcap = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
    const cases: [string, object][] = [["sendCq", { recvCq: cq }], ["recvCq", { sendCq: cq }]];
    for (const [missing, init] of cases) {
      await assert.rejects(
        pd.createQp({ type: QpType.RC, cap: qcap, ...init } as never),
        isCode("EINVAL", new RegExp(`^EINVAL: create_qp: ${missing} is missing$`)),
      );
    }
    assert.ok(!fake.log.includes("create_qp"), "no QP was created");
    await ctx.close();
  } finally {
    fake.close();
  }
});

Deno.test("fake provider: a WR the encoder refuses is the list's badWr; those before it are posted", async () => {
  // API.md postSend: in a list, those before the refused WR are posted and none after it, as with
  // ibv_post_send's bad_wr, and the model requires immData for *_WITH_IMM and remoteQkey for UD
  // (drivers/verbs/provider.ts): C has no "absent", so nothing may default to 0 on the way there.
  const fake = new FakeProvider();
  try {
    const ctx = fake.open();
    const pd = await ctx.allocPd();
    const cq = await ctx.createCq(8);
    const rc = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
    const send = (wrId: bigint) => ({ wrId, opcode: WrOpcode.SEND, sgList: [] });
    const refused = (re: RegExp, badWr: number) => (e: unknown) =>
      isCode("EINVAL", re)(e) && (e as VerbsError).badWr === badWr;
    assert.throws(
      () =>
        rc.postSend([send(1n), { wrId: 2n, opcode: WrOpcode.RDMA_WRITE, sgList: [] }, send(3n)]),
      refused(/^EINVAL: post_send: wr\[1\]\.remoteAddr .*\(wr\[1\] of 3/, 1),
    );
    assert.deepEqual(fake.sent.map((w) => w.wrId), [1n], "the one before it posted, none after");
    assert.throws(
      () => rc.postSend([send(4n), { wrId: 5n, opcode: WrOpcode.SEND_WITH_IMM, sgList: [] }]),
      refused(/wr\[1\]: SEND_WITH_IMM needs immData/, 1),
    );
    assert.throws(
      () => rc.postSend({ wrId: 6n, opcode: WrOpcode.RDMA_WRITE_WITH_IMM, sgList: [] }),
      refused(/needs immData/, 0),
    );
    assert.deepEqual(fake.sent.map((w) => w.wrId), [1n, 4n]);
    const ud = await pd.createQp({ type: QpType.UD, sendCq: cq, recvCq: cq, cap });
    const ah = await pd.createAh({ dlid: 9 });
    assert.throws(
      () => ud.postSend({ ...send(7n), ah, remoteQpn: 0x48 }),
      refused(/a UD send needs ah, remoteQpn and remoteQkey/, 0),
    );
    ud.postSend({ ...send(8n), ah, remoteQpn: 0x48, remoteQkey: 0x11111111 });
    assert.deepEqual(fake.sent.map((w) => w.wrId), [1n, 4n, 8n]);
    await ctx.close();
  } finally {
    fake.close();
  }
});

Deno.test("fake provider: poll counts follow the model's rules, not JavaScript's or C's limits", async () => {
  // API.md cq.poll: n ≤ 0 polls nothing (ibv_poll_cq with num_entries ≤ 0: the `npolled < ne`
  // loop of libmlx4/libmlx5/libmthca); a non-integer is EINVAL. A count beyond C's int or
  // memory is asked of poll_cq as what the CQ can hold. pollUntil: a whole number ≥ 0.
  const fake = new FakeProvider();
  try {
    const ctx = fake.open();
    const cq = await ctx.createCq(3); // the fake grants cqe 4
    assert.deepEqual([cq.poll(0), cq.poll(-1)], [[], []]);
    fake.cqes.push(cqe(1n, WcOpcode.SEND), cqe(2n, WcOpcode.SEND));
    assert.deepEqual(cq.poll(2 ** 40).map((w) => w.wrId), [1n, 2n]);
    assert.throws(() => cq.poll(1.5), isCode("EINVAL", /poll_cq: n 1\.5 is not an integer/));
    assert.deepEqual(await cq.pollUntil(0), []);
    for (const n of [1.5, NaN, -1]) {
      await assert.rejects(cq.pollUntil(n), isCode("EINVAL", /not a whole number/), String(n));
      // maxPolls NaN never stopped the spin (no poll count is ≥ NaN).
      await assert.rejects(
        cq.pollUntil(1, { maxPolls: n }),
        isCode("EINVAL", /^EINVAL: pollUntil: maxPolls .* is not a whole number ≥ 0$/),
        `maxPolls ${n}`,
      );
    }
    await assert.rejects(cq.pollUntil(1, { maxPolls: 0 }), isCode("ETIMEDOUT", /after 0 polls/));
    await ctx.close();
  } finally {
    fake.close();
  }
});

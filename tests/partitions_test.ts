/**
 * Partitions (IBTA vol 1 §10.9) end to end: the subnet manager sets each port's P_Key table
 * (P_KeyTable §14.2.5.7) from `HostSpec.pkeys`; a QP's `pkey_index` picks the P_Key every packet
 * it sends carries in its BTH (ACKs and read responses: the responder's); a packet whose P_Key
 * does not match the receiving QP's is dropped and counted (rxe_recv.c `check_keys`); full and
 * limited members meet, two limited members do not; the kernel checks an index against the
 * table's length only (mthca_modify_qp), dom0 against the guest's partitions as well.
 */
import assert from "node:assert/strict";
import {
  Cluster,
  connectQp,
  type Domain,
  type Host,
  QpState,
  QpType,
  SendFlags,
  VerbsError,
  WcStatus,
  WrOpcode,
} from "../mod.ts";
import { connectInPartitions, type End, end, errnoOf, rdmaWrite } from "./xenib_support.ts";

/** Retries of an RC QP: a peer that drops everything sees the first try and these. */
const RETRIES = 1;

/** Two hosts of `kind` whose ports hold `pkeys` after 0xffff. */
async function twoHosts(xen: boolean, pkeys?: number[]): Promise<{ c: Cluster; h: Host[] }> {
  const c = new Cluster({ profile: "pcix-sdr-2006", seed: 5 });
  const h = [0, 1].map((i) => c.addHost({ name: `h${i}`, hypervisor: xen, pkeys }));
  await c.start();
  return { c, h };
}

/** An RDMA WRITE of 16 bytes from a to b: its completion status, and whether the bytes landed. */
async function write(a: End, b: End, fill: number): Promise<[number, boolean]> {
  a.dom.memory.write(a.buf, new Uint8Array(16).fill(fill));
  const status = await rdmaWrite(a, b, { length: 16 });
  return [status, b.dom.memory.read(b.buf, 16).every((x) => x === fill)];
}

Deno.test("partitions: the subnet manager sets each port's table; ibv_query_pkey reads it", async () => {
  const { c, h } = await twoHosts(false, [0x8001, 0x0002]);
  await c.run(async () => {
    const ctx = await h[0].os.openDevice();
    const t = [];
    for (let i = 0; i < 4; i++) t.push(await ctx.queryPkey(1, i));
    assert.deepEqual(t, [0xffff, 0x8001, 0x0002, 0]);
    assert.equal(await ctx.queryPkey(1, 63), 0);
  });
  // The default configuration leaves the power-on table: no P_KeyTable SMP, the same sweep.
  const plain = new Cluster({ profile: "pcix-sdr-2006", seed: 5 });
  const p = [0, 1].map((i) => plain.addHost({ name: `h${i}`, hypervisor: false }));
  await plain.start();
  const withKeys = c.engine.now, without = plain.engine.now;
  assert.ok(withKeys > without, "the partitions cost their P_KeyTable Sets");
  assert.deepEqual(p[0].hw.hca.pkeys!(1), [0xffff]);
  // Bad configurations are refused with one line naming what is wrong.
  const bad = new Cluster({ profile: "pcix-sdr-2006", seed: 5 });
  for (
    const [pkeys, why] of [
      [[0x8000], /addHost x: pkeys\[0\]: 0x8000 is the invalid P_Key/],
      [[0xffff], /0xffff is index 0's already/],
      [[0x8001, 0x8001], /0x8001 is listed twice/],
      [Array.from({ length: 64 }, (_, i) => 0x8001 + i), /exceed the P_Key table \(64 entries\)/],
    ] as const
  ) {
    assert.throws(
      () => bad.addHost({ name: "x", hypervisor: false, pkeys: [...pkeys] }),
      (e: Error) => e instanceof VerbsError && e.code === "EINVAL" && why.test(e.message),
    );
  }
});

Deno.test("partitions: a QP's pkey_index is the P_Key of its packets, the responder's in ACKs", async () => {
  const { c, h } = await twoHosts(false, [0x8001, 0x8002]);
  const seen: { from: string; pkey: number; opcode: number }[] = [];
  c.fabric.addCapture((r) => {
    const dv = new DataView(r.bytes.buffer, r.bytes.byteOffset);
    // LRH (8 bytes, no GRH here: LNH 2), then BTH: opcode, flags, P_Key.
    seen.push({ from: r.from.node.name, opcode: r.bytes[8], pkey: dv.getUint16(10) });
  });
  await c.run(async () => {
    const a = await end(h[0].os), b = await end(h[1].os);
    // Both in 0x8001, at index 1; then a READ (the response is b's).
    await connectInPartitions(a, 1, b, 1, RETRIES);
    assert.deepEqual(await write(a, b, 7), [WcStatus.SUCCESS, true]);
    a.qp.postSend({
      wrId: 2n,
      opcode: WrOpcode.RDMA_READ,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: a.buf + 64, length: 16, lkey: a.mr.lkey }],
      remoteAddr: b.buf,
      rkey: b.mr.rkey,
    });
    assert.equal((await a.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
  });
  const data = seen.filter((s) => s.from !== "sw0");
  assert.ok(data.length >= 4, `${data.length} packets`);
  assert.ok(data.every((s) => s.pkey === 0x8001), JSON.stringify(data));
  assert.ok(data.some((s) => s.from.startsWith("h1")), "the responder's ACK and READ response");
});

for (const kind of ["native", "bypass", "split"] as const) {
  Deno.test(`partitions (${kind}): same partition meets; another, or two limited members, do not`, async () => {
    const TABLE = [0x8001, 0x8002, 0x0003, 0x8003];
    const { c, h } = await twoHosts(kind !== "native", TABLE);
    // Where each end runs: the hosts' OSes, or a guest on each host given the partitions.
    const dom = async (i: number): Promise<Domain> =>
      kind === "native" ? h[i].os : await h[i].createGuest({
        name: `vm${i}`,
        driver: kind,
        pkeys: TABLE,
      });
    const [d0, d1] = [await dom(0), await dom(1)];
    await c.run(async () => {
      const cases: [number, number, boolean, string][] = [
        [1, 1, true, "0x8001 both full"],
        [1, 2, false, "0x8001 and 0x8002"],
        [3, 4, true, "0x0003 limited and 0x8003 full"],
        [3, 3, false, "0x0003 both limited"],
        [5, 5, false, "an empty entry: the invalid P_Key"],
      ];
      for (const [ia, ib, meet, what] of cases) {
        const a = await end(d0), b = await end(d1);
        const hca = h[1].hca;
        const before = hca.stats().counters.pkeyViolations;
        if (kind !== "native" && ia === 5) {
          // Dom0 refuses an empty entry to a guest (it is none of its partitions).
          assert.match(
            await errnoOf(
              a.qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 5, accessFlags: 0 }),
            ),
            /EINVAL/,
          );
          continue;
        }
        await connectInPartitions(a, ia, b, ib, RETRIES);
        const [status, landed] = await write(a, b, 0x40 + ia);
        assert.equal(status, meet ? WcStatus.SUCCESS : WcStatus.RETRY_EXC_ERR, what);
        assert.equal(landed, meet, what);
        const dropped = hca.stats().counters.pkeyViolations - before;
        assert.equal(dropped, meet ? 0 : 1 + RETRIES, what);
      }
    });
  });
}

Deno.test("partitions (native): the kernel checks only the table's length (mthca_modify_qp)", async () => {
  const { c, h } = await twoHosts(false, [0x8001]);
  await c.run(async () => {
    const a = await end(h[0].os);
    const init = { state: QpState.INIT, port: 1, accessFlags: 0 };
    assert.match(
      await errnoOf(a.qp.modify({ ...init, pkeyIndex: 64 })),
      /EINVAL.*outside the port's P_Key table \(64 entries\)/,
    );
    // Any entry, an empty one too (its packets carry the invalid P_Key, which nothing takes).
    await a.qp.modify({ ...init, pkeyIndex: 63 });
    await a.qp.modify({ state: QpState.INIT, pkeyIndex: 1 });
    assert.equal((await a.qp.query()).pkeyIndex, 1);
  });
});

Deno.test("partitions (Xen): a guest's partitions must be its host's; the default is 0xffff alone", async () => {
  const { c, h } = await twoHosts(true, [0x8001]);
  await assert.rejects(
    h[0].createGuest({ name: "vm", pkeys: [0x8002] }),
    {
      message:
        "EINVAL: createGuest vm: pkeys[0]: 0x8002 is not in h0's P_Key table (add it to the host's pkeys)",
    },
  );
  const vm = await h[0].createGuest({ name: "vm" });
  await c.run(async () => {
    const a = await end(vm);
    const init = { state: QpState.INIT, port: 1, accessFlags: 0 };
    assert.match(await errnoOf(a.qp.modify({ ...init, pkeyIndex: 1 })), /^EINVAL/);
    await a.qp.modify({ ...init, pkeyIndex: 0 });
  });
});

Deno.test("partitions: each QP attached to a multicast group checks its own P_Key", async () => {
  const { c, h } = await twoHosts(false, [0x8001]);
  await c.run(async () => {
    const tx = await end(h[0].os), rx = await end(h[1].os);
    const cap = { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 };
    const ud = (e: End) => e.pd.createQp({ type: QpType.UD, sendCq: e.cq, recvCq: e.cq, cap });
    const sender = await ud(tx), inPart = await ud(rx), outside = await ud(rx);
    await connectQp(sender, { pkeyIndex: 1 });
    await connectQp(inPart, { pkeyIndex: 1 });
    await connectQp(outside, { pkeyIndex: 0 }); // the default partition only
    const g = new Uint8Array([255, 1, 0, 0, 0, 2, 201, 133, 0, 0, 0, 0, 0, 0, 0, 9]);
    for (const [i, q] of [inPart, outside].entries()) {
      await q.attachMcast(g, 0xc000);
      q.postRecv({
        wrId: BigInt(i),
        sgList: [{ addr: rx.buf + 4096 * (i + 1), length: 4096, lkey: rx.mr.lkey }],
      });
    }
    const before = h[1].hca.stats().counters.pkeyViolations;
    const ah = await tx.pd.createAh({ dlid: 0xc000, grh: { dgid: g } });
    sender.postSend({
      wrId: 1n,
      opcode: WrOpcode.SEND,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: tx.buf, length: 64, lkey: tx.mr.lkey }],
      ah,
      remoteQpn: 0xffffff,
      remoteQkey: 0x11111111,
    });
    assert.equal((await tx.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
    const [wc] = await rx.cq.pollUntil(1);
    assert.equal(wc.qpNum, inPart.qpNum, "the member of the partition got it");
    await c.sleep(100_000);
    assert.deepEqual(rx.cq.poll(4), [], "the QP of the default partition did not");
    assert.equal(h[1].hca.stats().counters.pkeyViolations, before + 1);
  });
});

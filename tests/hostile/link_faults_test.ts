/**
 * Link faults under attack: the fabric drops, duplicates, corrupts and
 * delays packets while the attacker streams and then crashes mid-stream,
 * and the victim keeps writing to its peer. RC recovers the victim's
 * traffic (retransmission; duplicates are not executed twice), the
 * attacker's teardown still returns everything, and nothing the faults do
 * lets a byte cross from one guest to the other.
 */
import assert from "node:assert/strict";
import { SendFlags, WcStatus, WrOpcode } from "../../mod.ts";
import { connect, end } from "../xenib_support.ts";
import { checksum, scene, verdict, VICTIM_BYTE } from "./support.ts";

Deno.test("link faults: drops, duplicates, corruption and delay while the attacker crashes mid-stream", async () => {
  const s = await scene();
  const { evil, victim } = s;
  await s.cluster.run(async () => {
    const a = await end(evil, 1 << 16), peer = await end(s.bare.os, 1 << 16);
    await connect(a, peer);
    const f = s.cluster.fabric;
    const off = [
      f.addFault({ kind: "drop", probability: 0.03 }),
      f.addFault({ kind: "duplicate", probability: 0.03 }),
      f.addFault({ kind: "corrupt", probability: 0.02 }),
      f.addFault({ kind: "delay", probability: 0.05, delayNs: 3_000 }),
    ];
    // The attacker streams to its peer...
    for (let i = 0; i < 12; i++) {
      a.qp.postSend({
        wrId: BigInt(i),
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: a.buf, length: 1 << 16, lkey: a.mr.lkey }],
        remoteAddr: peer.buf,
        rkey: peer.mr.rkey,
      });
    }
    // ... while the victim writes 20 messages to its own (in its spare buffer, not its sum).
    const v = victim.end;
    const got: number[] = [];
    for (let i = 0; i < 20; i++) {
      v.qp.postSend({
        wrId: BigInt(i),
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: v.buf, length: 4096, lkey: v.mr.lkey }],
        remoteAddr: victim.peer.buf + 8192,
        rkey: victim.peer.mr.rkey,
      });
      if (i === 8) evil.crash(); // mid-stream, on a lossy fabric
      for (const wc of await v.cq.pollUntil(1)) got.push(wc.status);
    }
    await evil.whenDead();
    off.forEach((remove) => remove());
    assert.deepEqual(got, new Array(20).fill(WcStatus.SUCCESS), "RC recovered every message");
    assert.deepEqual(
      s.bare.os.memory.read(victim.peer.buf + 8192, 4096),
      victim.vm.memory.read(v.buf, 4096),
      "the victim's data, intact",
    );
    assert.ok(s.xen.hca.stats().counters.retransmits + s.bare.hca.stats().counters.retransmits > 0);
    assert.deepEqual(
      victim.vm.memory.read(v.buf, 4096),
      new Uint8Array(4096).fill(VICTIM_BYTE),
      "its buffer untouched",
    );
    victim.sum = checksum(victim.vm); // it was busy: its own CQ took 20 completions
    await peer.ctx.close();
    await verdict(s);
  });
});

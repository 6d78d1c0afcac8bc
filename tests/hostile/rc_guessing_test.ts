/**
 * Attack (issue 11, point 5; ReDMArk, USENIX Security 2021): an RC
 * responder ties a packet to a connection by its destination QPN and its
 * PSN alone, and an RDMA WRITE to memory by its rkey. An attacker on
 * another host that knows or guesses the three injects a write into a
 * victim guest's connection, and the honest peer's next write then
 * completes successfully but never lands (its PSN has become a duplicate).
 *
 * The attacker guesses the way a real one would: it runs the victim's
 * program on a host of its own (same software, same boot) and reads off its
 * own numbers. With the old predictable values (PSNs starting at 0, key
 * tags counting up) those are the victim's, and the attack works. With the
 * hardening (each QP's initial PSN and each key's tag drawn from seeded
 * streams) the prediction misses: the attacker is left with 2^24 PSNs
 * times 2^8 tags to try blind, and a right PSN with a wrong rkey breaks the
 * connection loudly. The optional source-LID check (profile
 * `hca.checkSourceLid`) stops even an attacker who knows all three.
 */
import assert from "node:assert/strict";
import {
  buildProfile,
  Cluster,
  connectPair,
  connectQp,
  PCIX_SDR_2006,
  QpState,
  QpType,
  SendFlags,
  WcStatus,
  WrOpcode,
  type XenGuest,
} from "../../mod.ts";
import { mptKeyTag } from "../../hca/commands.ts";
import { type End, end } from "../xenib_support.ts";
import { checksum } from "./support.ts";

/** Victim guest on a Xen host, its honest peer on bare metal, the attacker's own Xen host. */
async function world(hca: Record<string, number>, seed = 11) {
  const c = new Cluster({ profile: buildProfile({ hca }, PCIX_SDR_2006), seed });
  const hosts = {
    victim: c.addHost({ name: "h0", hypervisor: true }),
    honest: c.addHost({ name: "h1", hypervisor: false }),
    attacker: c.addHost({ name: "h2", hypervisor: true }),
  };
  await c.start();
  const vm = await hosts.victim.createGuest({ name: "victim", memoryMiB: 64 }) as XenGuest;
  const twin = await hosts.attacker.createGuest({ name: "victim", memoryMiB: 64 }) as XenGuest;
  return { c, hosts, vm, twin };
}

/** Every host's audit clean: the attack broke no isolation rule of the hosts. */
function audited(hosts: Record<string, { audit(): unknown[] }>): void {
  for (const [name, h] of Object.entries(hosts)) assert.deepEqual(h.audit(), [], `${name} audit`);
}

/** The victim's program: one registered buffer, one RC QP to its peer. */
async function victimProgram(dom: XenGuest, peer: End, fixedPsn: boolean): Promise<End> {
  const v = await end(dom);
  // The old default: both ends start at PSN 0.
  await connectPair(v, peer, fixedPsn ? { sqPsn: 0, rqPsn: 0 } : {});
  return v;
}

/**
 * What the attacker predicts: the victim's QPN, first expected PSN, rkey
 * and buffer address, read off its twin run on its own host (the twin's
 * peer is itself: only its own numbers matter).
 */
async function predict(twin: XenGuest, fixedPsn: boolean) {
  const t = await end(twin);
  const psn = fixedPsn ? 0 : t.qp.initialPsn;
  return { qpn: t.qp.qpNum, psn, rkey: t.mr.rkey, addr: t.buf, end: t };
}

/**
 * Inject: an RC QP of the attacker's connected to (victim LID, guessed QPN)
 * sending from the guessed PSN, `count` RDMA WRITEs of 64 bytes of 0x66 at
 * consecutive PSNs (a sweep of the window) with the guessed rkey. No ACK
 * ever comes back to it (the victim answers its own peer), so its WRs end
 * in error; what matters is what landed.
 */
async function inject(
  from: End,
  victimLid: number,
  guess: { qpn: number; psn: number; rkey: number; addr: number },
  count = 1,
): Promise<void> {
  const qp = await from.pd.createQp({
    type: QpType.RC,
    sendCq: from.cq,
    recvCq: from.cq,
    cap: { maxSendWr: 64, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
  });
  await connectQp(qp, {
    remoteQpn: guess.qpn,
    dlid: victimLid,
    sqPsn: guess.psn,
    rqPsn: 0,
    timeout: 4,
    retryCnt: 0,
  });
  from.dom.memory.write(from.buf, new Uint8Array(64).fill(0x66));
  for (let i = 0; i < count; i++) {
    qp.postSend({
      wrId: BigInt(i),
      opcode: WrOpcode.RDMA_WRITE,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: from.buf, length: 64, lkey: from.mr.lkey }],
      remoteAddr: guess.addr,
      rkey: guess.rkey,
    });
  }
  const wcs = await from.cq.pollUntil(count);
  assert.ok(wcs.every((w) => w.status !== WcStatus.SUCCESS), "no ACK reaches the attacker");
  await qp.destroy();
}

/** The honest peer writes 64 bytes of 0x11 into the victim's buffer; its status. */
async function honestWrite(peer: End, v: End): Promise<number> {
  peer.dom.memory.write(peer.buf, new Uint8Array(64).fill(0x11));
  peer.qp.postSend({
    wrId: 9n,
    opcode: WrOpcode.RDMA_WRITE,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: peer.buf, length: 64, lkey: peer.mr.lkey }],
    remoteAddr: v.buf,
    rkey: v.mr.rkey,
  });
  return (await peer.cq.pollUntil(1))[0].status;
}

Deno.test("RC guessing: with predictable PSNs and key tags the attacker's twin run predicts every number, and the write lands", async () => {
  const { c, hosts, vm, twin } = await world({ randomKeyTags: 0 });
  await c.run(async () => {
    const peer = await end(hosts.honest.os);
    const v = await victimProgram(vm, peer, true);
    const g = await predict(twin, true);
    assert.deepEqual(
      [g.qpn, g.psn, g.rkey, g.addr],
      [v.qp.qpNum, 0, v.mr.rkey, v.buf],
      "every number predicted",
    );
    await inject(g.end, v.lid, g);
    assert.deepEqual(vm.memory.read(v.buf, 64), new Uint8Array(64).fill(0x66), "injected");
    // The honest peer's next write reuses the PSN the attacker took: a duplicate, ACKed, dropped.
    assert.equal(await honestWrite(peer, v), WcStatus.SUCCESS);
    assert.deepEqual(vm.memory.read(v.buf, 64), new Uint8Array(64).fill(0x66), "never landed");
    audited(hosts);
  });
});

Deno.test("RC guessing: with random PSNs and key tags the prediction misses, a PSN sweep lands nothing, the honest peer is unaffected", async () => {
  const { c, hosts, vm, twin } = await world({});
  await c.run(async () => {
    const peer = await end(hosts.honest.os);
    const v = await victimProgram(vm, peer, false);
    vm.memory.write(v.buf, new Uint8Array(64).fill(0x5a));
    const sum = checksum(vm);
    const g = await predict(twin, false);
    assert.equal(g.qpn, v.qp.qpNum, "QPNs stay guessable (mthca hands them out in order)");
    assert.equal(g.addr, v.buf, "so does the buffer's address");
    assert.notEqual(g.psn, v.qp.initialPsn, "the PSN is not");
    assert.notEqual(g.rkey, v.mr.rkey, "nor the rkey");
    assert.equal(g.rkey >>> 8, v.mr.rkey >>> 8, "only its tag differs: the MPT index is guessable");
    // A sweep of 64 PSNs from the predicted one, with the predicted rkey.
    await inject(g.end, v.lid, g, 64);
    assert.equal(checksum(vm), sum, "victim memory unchanged");
    assert.equal((await v.qp.query()).state, QpState.RTS, "the connection is intact");
    assert.equal(await honestWrite(peer, v), WcStatus.SUCCESS);
    assert.deepEqual(vm.memory.read(v.buf, 64), new Uint8Array(64).fill(0x11), "it lands");
    audited(hosts);
  });
});

Deno.test("RC guessing: PSNs and key tags are spread over their whole space, per domain and host; a twin never matches", async () => {
  const { c, vm, twin } = await world({});
  await c.run(async () => {
    const draw = async (dom: XenGuest) => {
      const e = await end(dom, 4096, { regCache: false });
      const psns: number[] = [], tags: number[] = [];
      for (let i = 0; i < 48; i++) {
        const qp = await e.pd.createQp({
          type: QpType.RC,
          sendCq: e.cq,
          recvCq: e.cq,
          cap: { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
        });
        psns.push(qp.initialPsn);
        const mr = await e.pd.regMr(e.buf, 4096, 1);
        tags.push(mptKeyTag(mr.rkey));
        await mr.dereg(); // the next registration reuses the MPT entry: only the tag changes
        await qp.destroy();
      }
      return { psns, tags };
    };
    const mine = await draw(vm), theirs = await draw(twin);
    assert.equal(new Set(mine.psns).size, 48, "no PSN repeats");
    assert.ok(mine.psns.some((p) => p >= 1 << 23), "high half of the 24-bit space");
    assert.ok(mine.psns.some((p) => p < 1 << 23), "low half");
    assert.ok(new Set(mine.tags).size >= 36, `tags spread: ${new Set(mine.tags).size} of 48`);
    for (let i = 1; i < 48; i++) {
      assert.notEqual(mine.tags[i], mine.tags[i - 1], "a reused entry never keeps its last tag");
    }
    for (let i = 0; i < 48; i++) {
      assert.notEqual(theirs.psns[i], mine.psns[i], "the twin's PSNs are not the victim's");
    }
    const sameTags = theirs.tags.filter((t, i) => t === mine.tags[i]).length;
    assert.ok(sameTags <= 2, `the twin's tags match ${sameTags} of 48 times (chance: 1/256 each)`);
  });
});

Deno.test("RC guessing: the source-LID check drops packets from a LID that is not the connection's, even with every number right", async () => {
  const { c, hosts, vm, twin } = await world({ randomKeyTags: 0, checkSourceLid: 1 });
  await c.run(async () => {
    const peer = await end(hosts.honest.os);
    const v = await victimProgram(vm, peer, true);
    vm.memory.write(v.buf, new Uint8Array(64).fill(0x5a));
    const sum = checksum(vm);
    const g = await predict(twin, true);
    assert.deepEqual([g.qpn, g.psn, g.rkey], [v.qp.qpNum, 0, v.mr.rkey], "every number right");
    const drops = hosts.victim.hca.stats().counters.sourceLidDrops;
    await inject(g.end, v.lid, g);
    assert.ok(hosts.victim.hca.stats().counters.sourceLidDrops > drops, "dropped and counted");
    assert.equal(checksum(vm), sum, "victim memory unchanged");
    assert.equal(await honestWrite(peer, v), WcStatus.SUCCESS);
    assert.deepEqual(vm.memory.read(v.buf, 64), new Uint8Array(64).fill(0x11), "it lands");
    audited(hosts);
  });
});

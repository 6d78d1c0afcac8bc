// Nomad's handshake when the peer goes away (drivers/verbs/nomad_agent.ts): a peer that destroys
// its QP or closes its context before or during a move is not waited for, and the moved QP fails
// exactly as an RC QP whose peer vanished fails without a move; only a QP's peer may suspend it.
import assert from "node:assert/strict";
import {
  Cluster,
  type Host,
  type NomadMsg,
  QpState,
  SendFlags,
  WcStatus,
  WrOpcode,
  type XenGuest,
} from "../mod.ts";
import { connectStream, type StreamEnd, streamEnd } from "../tools/lib/migration_stream.ts";
import { connectPair } from "../drivers/verbs/connect.ts";
import type { XenPlatform } from "../platform/xen_host.ts";
import type { NativePlatform } from "../platform/native_host.ts";

const PROFILE = { base: "pcix-sdr-2006", migration: { netBytesPerSec: "1 GB/s" } };

async function world(driver: "bypass" | "split" = "bypass") {
  const cluster = new Cluster({ profile: PROFILE, seed: 7, nomad: true });
  const A = cluster.addHost({ name: "A", hypervisor: true });
  const B = cluster.addHost({ name: "B", hypervisor: true });
  const C = cluster.addHost({ name: "C", hypervisor: false });
  await cluster.start();
  const vm = await A.createGuest({ name: "vm0", memoryMiB: 16, driver }) as XenGuest;
  return { cluster, A, B, C, vm };
}

/** An 8-byte RDMA WRITE from `g` into `p`'s buffer, signaled. */
function write(g: StreamEnd, p: StreamEnd, wrId: bigint): void {
  g.qp.postSend({
    wrId,
    opcode: WrOpcode.RDMA_WRITE,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: g.buf, length: 8, lkey: g.mr.lkey }],
    remoteAddr: p.buf,
    rkey: p.mr.rkey,
  });
}

/** How an unmoved QP's next WRITE ends once its peer destroyed its QP, and after how long. */
async function vanishedPeer(driver: "bypass" | "split"): Promise<{ status: number; ns: number }> {
  const { cluster, C, vm } = await world(driver);
  return await cluster.run(async () => {
    const g = await streamEnd(vm, 8), p = await streamEnd(C.os, 8);
    await connectStream(g, p);
    await p.qp.destroy();
    const t0 = cluster.engine.now;
    write(g, p, 1n);
    const [wc] = await g.sendCq.pollUntil(1);
    return { status: wc.status, ns: cluster.engine.now - t0 };
  });
}

function checkAudits(hosts: Host[]) {
  for (const h of hosts) assert.deepEqual(h.audit(), [], `${h.name}: audit`);
}

type When = "before the move" | "mid-handshake" | "while the guest is between hosts";

async function peerGoes(when: When, how: "destroy" | "close", driver: "bypass" | "split") {
  const { cluster, A, B, C, vm } = await world(driver);
  const out = await cluster.run(async () => {
    const g = await streamEnd(vm, 8), p = await streamEnd(C.os, 8);
    const agent = vm.nomad!;
    await connectStream(g, p);
    const teardown = () => how === "destroy" ? p.qp.destroy() : p.ctx.close();
    if (when === "before the move") await teardown();
    const moving = cluster.migrate(vm, B);
    if (when === "mid-handshake") {
      // The peer's library has the suspend (one management-network latency) and is draining.
      while (agent.phase !== "suspending") await cluster.sleep(1_000);
      await cluster.sleep(40_000);
    } else if (when === "while the guest is between hosts") {
      while (agent.phase !== "suspended") await cluster.sleep(1_000);
    }
    const phase = agent.phase;
    if (when !== "before the move") await teardown();
    const r = await moving;
    const state = (await g.qp.query()).state;
    const t0 = cluster.engine.now;
    write(g, p, 1n);
    const [wc] = await g.sendCq.pollUntil(1);
    return {
      phase,
      r,
      state,
      status: wc.status,
      ns: cluster.engine.now - t0,
      after: (await g.qp.query()).state,
    };
  });
  checkAudits([A, B, C]);
  await vm.shutdown();
  return out;
}

Deno.test("nomad_agent: a peer that goes away at any point of a move is not waited for", async () => {
  const alone = { bypass: await vanishedPeer("bypass"), split: await vanishedPeer("split") };
  assert.equal(alone.bypass.status, WcStatus.RETRY_EXC_ERR);
  const cases: [When, "destroy" | "close", "bypass" | "split", string][] = [
    ["before the move", "destroy", "bypass", "running"],
    ["mid-handshake", "destroy", "bypass", "suspending"],
    ["while the guest is between hosts", "destroy", "bypass", "suspended"],
    ["mid-handshake", "close", "split", "suspending"],
  ];
  for (const [when, how, driver, phase] of cases) {
    const o = await peerGoes(when, how, driver);
    const what = `${driver} guest, peer's ${how} ${when}`;
    assert.equal(o.phase, phase, what);
    assert.equal(o.r.to, "B", what);
    assert.equal(o.r.connections, 1, what);
    // Re-established as it was: in RTS, and its next send fails as without the move, as late.
    assert.equal(o.state, QpState.RTS, what);
    assert.deepEqual([o.status, o.ns], [alone[driver].status, alone[driver].ns], what);
    assert.equal(o.after, QpState.ERR, what);
  }
});

Deno.test("nomad_agent: sends still out to a gone peer end the drain in the Error state, and the QP moves there", async () => {
  const { cluster, A, B, C, vm } = await world();
  const out = await cluster.run(async () => {
    const g = await streamEnd(vm, 8), p = await streamEnd(C.os, 8);
    await connectStream(g, p);
    await p.qp.destroy();
    for (let i = 0n; i < 4n; i++) write(g, p, i);
    // The retries of the first WRITE outlast the pre-copy: the drain waits them out.
    const r = await cluster.migrate(vm, B);
    const state = (await g.qp.query()).state;
    const wcs = await g.sendCq.pollUntil(4);
    write(g, p, 9n);
    const [late] = await g.sendCq.pollUntil(1);
    return { r, state, wcs: wcs.map((w) => [w.wrId, w.status]), late: [late.wrId, late.status] };
  });
  assert.equal(out.r.to, "B");
  assert.equal(out.state, QpState.ERR);
  assert.deepEqual(out.wcs, [
    [0n, WcStatus.RETRY_EXC_ERR],
    [1n, WcStatus.WR_FLUSH_ERR],
    [2n, WcStatus.WR_FLUSH_ERR],
    [3n, WcStatus.WR_FLUSH_ERR],
  ]);
  assert.deepEqual(out.late, [9n, WcStatus.WR_FLUSH_ERR]); // made again in Error, not revived
  checkAudits([A, B, C]);
});

Deno.test("nomad_agent: only a QP's peer may suspend it; anyone else is told the QP is gone", async () => {
  const { cluster, C, vm } = await world();
  const net = cluster.nomadNet!;
  const heard: NomadMsg[] = [];
  // A library on the management network that is not the connection's peer (a hostile guest's).
  const forgerNode = { name: "forger", deliver: (m: NomadMsg) => void heard.push(m) };
  const forger = net.join(forgerNode);
  const out = await cluster.run(async () => {
    const g = await streamEnd(vm, 8), p = await streamEnd(C.os, 8);
    await connectStream(g, p);
    const victim = vm.nomad!.id;
    net.send(
      forgerNode,
      { kind: "suspend", from: { agent: forger, vqpn: 7 }, to: g.qp.qpNum },
      victim,
    );
    net.send(
      forgerNode,
      { kind: "drained", from: { agent: forger, vqpn: 7 }, to: g.qp.qpNum },
      victim,
    );
    await cluster.sleep(200_000);
    // The connection was not held: a WRITE goes through at once.
    write(g, p, 1n);
    const [wc] = await g.sendCq.pollUntil(1);
    return { status: wc.status, phase: vm.nomad!.phase, qpn: g.qp.qpNum };
  });
  assert.equal(out.status, WcStatus.SUCCESS);
  assert.equal(out.phase, "running");
  assert.deepEqual(heard.map((m) => [m.kind, m.from.vqpn, m.to]), [
    ["gone", out.qpn, 7],
    ["gone", out.qpn, 7],
  ]);
});

async function failsMidDrain(driver: "bypass" | "split") {
  const { cluster, A, B, C, vm } = await world(driver);
  const out = await cluster.run(async () => {
    const g = await streamEnd(vm, 8), p = await streamEnd(C.os, 8);
    // One RNR retry after 655.36 ms (min_rnr_timer 0, IBTA Table 45): the SEND below, which
    // finds no receive posted, fails with RNR_RETRY_EXC_ERR while the move's drain waits for
    // SQ_DRAINED, which a QP that went to the Error state never reports (IBTA §10.3.1: only
    // SQD's drain does).
    await connectPair(
      { qp: g.qp, lid: g.ctx.queryPort(1).lid },
      { qp: p.qp, lid: p.ctx.queryPort(1).lid },
      { rnrRetry: 1, minRnrTimer: 0 },
    );
    g.qp.postSend({
      wrId: 5n,
      opcode: WrOpcode.SEND,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: g.buf, length: 8, lkey: g.mr.lkey }],
    });
    const t0 = cluster.engine.now;
    const r = await cluster.migrate(vm, B);
    const state = (await g.qp.query()).state;
    const [wc] = await g.sendCq.pollUntil(1);
    return { r, state, wc: [wc.wrId, wc.status], ms: (cluster.engine.now - t0) / 1e6 };
  });
  checkAudits([A, B, C]);
  await vm.shutdown();
  return out;
}

Deno.test("nomad_agent: a QP that fails mid-drain while its peer stays moves in the Error state", async () => {
  for (const driver of ["bypass", "split"] as const) {
    const out = await failsMidDrain(driver);
    assert.equal(out.r.to, "B", driver);
    assert.equal(out.state, QpState.ERR, driver);
    assert.deepEqual(out.wc, [5n, WcStatus.RNR_RETRY_EXC_ERR], driver);
    // Noticed within one local ACK timeout (4.096 µs × 2^14) of the failure at about 655 ms.
    assert.ok(out.ms > 655 && out.ms < 655 + 67 + 100, `${driver}: ${out.ms} ms`);
  }
});

/**
 * A hostile library tries to take, in the directory, the device QPs of a connection before they
 * exist (QPNs are handed out next-fit, so the next one on each HCA is predictable) and once they
 * do: the moving guest's QP on A and its peer's on C, which the guest's library must find by that
 * address to hand-shake with.
 */
async function squat(driver: "bypass" | "split", hostile: "guest on A" | "guest on B" | "os on D") {
  const cluster = new Cluster({ profile: PROFILE, seed: 7, nomad: true });
  const A = cluster.addHost({ name: "A", hypervisor: true });
  const B = cluster.addHost({ name: "B", hypervisor: true });
  const C = cluster.addHost({ name: "C", hypervisor: false });
  const D = cluster.addHost({ name: "D", hypervisor: false });
  await cluster.start();
  const vm = await A.createGuest({ name: "vm0", memoryMiB: 16, driver }) as XenGuest;
  const evil = hostile === "os on D"
    ? D.os
    : await (hostile === "guest on A" ? A : B).createGuest({ name: "evil", memoryMiB: 16, driver });
  const net = cluster.nomadNet!;
  // On the network, admitted by no domain, and answering nothing it is sent.
  const forgerNode = { name: "forger", deliver: () => {} };
  net.join(forgerNode);
  const code = (f: () => void) => {
    try {
      f();
      return "bound";
    } catch (e) {
      return (e as { code?: string }).code;
    }
  };
  const out = await cluster.run(async () => {
    // Earlier connections tell the next number each HCA hands out (a QP of A and one of C).
    const seenA = await streamEnd(vm, 8), seenC = await streamEnd(C.os, 8);
    const phys = [
      { lid: seenA.ctx.queryPort(1).lid, qpn: seenA.qp.qpNum + 1 },
      { lid: seenC.ctx.queryPort(1).lid, qpn: seenC.qp.qpNum + 1 },
    ];
    await evil.openDevice();
    const agent = evil.nomad!;
    const tryAll = () =>
      phys.flatMap((a, i) => [
        code(() => net.bind(forgerNode, 1 + i, a, { lid: a.lid, qpn: 0x7100 + i })),
        code(() => net.bind(agent, 0x7000 + i, a, { lid: a.lid, qpn: 0x7000 + i })),
      ]);
    const future = tryAll();
    const g = await streamEnd(vm, 8), p = await streamEnd(C.os, 8);
    // The device handed the predicted numbers to the victims' contexts (as the drivers record).
    const predicted = [
      (A.platform as XenPlatform).driver.qpOwner(phys[0].qpn) === vm.domid,
      (C.platform as NativePlatform).driver.qpOwner(phys[1].qpn) === 0,
    ];
    const current = tryAll();
    // The directory names the victims as the holders: what their peers pin at connect.
    const holders = phys.map((a) => net.byPhysical(a));
    const truth = [
      { agent: vm.nomad!.id, vqpn: g.qp.qpNum },
      { agent: C.os.nomad!.id, vqpn: p.qp.qpNum },
    ];
    await connectStream(g, p);
    const r = await cluster.migrate(vm, B);
    write(g, p, 1n);
    const [wc] = await g.sendCq.pollUntil(1);
    return {
      predicted,
      future,
      current,
      holders: holders.map((h, i) =>
        h !== undefined && h.agent === truth[i].agent && h.vqpn === truth[i].vqpn
      ),
      to: r.to,
      connections: r.connections,
      status: wc.status,
    };
  });
  checkAudits([A, B, C, D]);
  return out;
}

Deno.test("nomad_agent: a library binds only QPs its own domain holds; the victim's connection still moves", async () => {
  for (
    const [driver, hostile] of [
      ["bypass", "guest on A"],
      ["split", "guest on B"],
      ["bypass", "os on D"],
    ] as const
  ) {
    const o = await squat(driver, hostile);
    const what = `${driver} victim, hostile ${hostile}`;
    assert.deepEqual(o.predicted, [true, true], `${what}: the victims got the predicted QPNs`);
    // bind(2) of an address the host does not have: EADDRNOTAVAIL, before and after.
    const refused = Array(4).fill("EADDRNOTAVAIL");
    assert.deepEqual(o.future, refused, what);
    assert.deepEqual(o.current, refused, what);
    assert.deepEqual(o.holders, [true, true], `${what}: the directory names the victims`);
    assert.deepEqual([o.to, o.connections, o.status], ["B", 1, WcStatus.SUCCESS], what);
  }
});

// Forged Nomad handshake messages (drivers/verbs/nomad_net.ts, nomad_agent.ts): a hostile guest's
// library on the management network names the victim's peer as the sender of `gone`, `suspend`,
// `ready`, `rtr` or `drained`, mid-migration and outside one, or claims the peer's address in the
// directory. The network stamps the sender and binds an address for its holder only, so the
// victim's connection is held, reset or redirected by nobody but its real peer.
import assert from "node:assert/strict";
import {
  Cluster,
  type NomadMsg,
  type NomadNode,
  QpState,
  SendFlags,
  WcStatus,
  WrOpcode,
  type XenGuest,
} from "../../mod.ts";
import { connectStream, type StreamEnd, streamEnd } from "../../tools/lib/migration_stream.ts";

const PROFILE = { base: "pcix-sdr-2006", migration: { netBytesPerSec: "1 GB/s" } };

/** A victim guest on Xen host A connected to a bare-metal peer on C; B is where it may move. */
async function world() {
  const cluster = new Cluster({ profile: PROFILE, seed: 7, nomad: true });
  const A = cluster.addHost({ name: "A", hypervisor: true });
  const B = cluster.addHost({ name: "B", hypervisor: true });
  const C = cluster.addHost({ name: "C", hypervisor: false });
  await cluster.start();
  const vm = await A.createGuest({ name: "victim", memoryMiB: 16 }) as XenGuest;
  // A hostile guest beside it, whose own library its domain admitted to the directory.
  const bad = await A.createGuest({ name: "bad", memoryMiB: 16 }) as XenGuest;
  const net = cluster.nomadNet!;
  const heard: NomadMsg[] = [];
  // The attacker's library: a member of the management network like any guest's, admitted by
  // no domain, so it holds no QP the directory would bind for it.
  const evil: NomadNode = { name: "evil", deliver: (m) => void heard.push(m) };
  net.join(evil);
  return { cluster, hosts: [A, B, C], B, C, vm, bad, net, evil, heard };
}

/** One signaled 8-byte RDMA WRITE from `g` to `p`: its status and how long it took. */
async function write(g: StreamEnd, p: StreamEnd, now: () => number) {
  const t0 = now();
  g.qp.postSend({
    wrId: 1n,
    opcode: WrOpcode.RDMA_WRITE,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: g.buf, length: 8, lkey: g.mr.lkey }],
    remoteAddr: p.buf,
    rkey: p.mr.rkey,
  });
  const [wc] = await g.sendCq.pollUntil(1);
  return { status: wc.status, ns: now() - t0 };
}

Deno.test("hostile nomad: gone, ready and rtr forged in the peer's name mid-migration change nothing", async () => {
  const w = await world();
  const out = await w.cluster.run(async () => {
    const g = await streamEnd(w.vm, 8), p = await streamEnd(w.C.os, 8);
    await connectStream(g, p);
    const lid = (await p.ctx.queryPort(1)).lid;
    const peer = w.net.byPhysical({ lid, qpn: p.qp.qpNum })!;
    const victim = w.vm.nomad!.id;
    const moving = w.cluster.migrate(w.vm, w.B);
    while (w.vm.nomad!.phase !== "suspending") await w.cluster.sleep(1_000);
    const to = g.qp.qpNum;
    w.net.send(w.evil, { kind: "gone", from: peer, to }, victim);
    w.net.send(w.evil, {
      kind: "ready",
      from: peer,
      to,
      addr: { lid, qpn: 0x7ff },
      sqPsn: 0x123,
      keys: [],
    }, victim);
    w.net.send(w.evil, { kind: "rtr", from: peer, to }, victim);
    const r = await moving;
    const wr = await write(g, p, () => w.cluster.engine.now);
    return { to: r.to, wr, state: (await g.qp.query()).state };
  });
  assert.equal(out.to, "B");
  // The victim reconnected to its real peer (before: it took the forged `gone` and re-made its
  // QP toward the peer's old address, and its next send ended in RETRY_EXC_ERR, the QP in ERR).
  assert.equal(out.wr.status, WcStatus.SUCCESS);
  assert.equal(out.state, QpState.RTS);
  for (const h of w.hosts) assert.deepEqual(h.audit(), [], `${h.name}: audit`);
});

Deno.test("hostile nomad: a suspend or drained in the peer's name outside a migration is answered gone to the sender and holds nothing", async () => {
  const w = await world();
  const out = await w.cluster.run(async () => {
    const g = await streamEnd(w.vm, 8), p = await streamEnd(w.C.os, 8);
    await connectStream(g, p);
    const now = () => w.cluster.engine.now;
    const quiet = await write(g, p, now);
    const peer = w.net.byPhysical({ lid: (await p.ctx.queryPort(1)).lid, qpn: p.qp.qpNum })!;
    const victim = w.vm.nomad!.id;
    w.net.send(w.evil, { kind: "suspend", from: peer, to: g.qp.qpNum }, victim);
    w.net.send(w.evil, { kind: "drained", from: peer, to: g.qp.qpNum }, victim);
    await w.cluster.sleep(1_000);
    const during = await write(g, p, now);
    await w.cluster.sleep(200_000);
    const after = await write(g, p, now);
    return { quiet, during, after, phase: w.vm.nomad!.phase, qpn: g.qp.qpNum };
  });
  // Not held: each WRITE takes what it took before the forgery (before the fix the victim and
  // its real peer drained, reset and reconnected their QPs, holding the WRITE meanwhile).
  assert.deepEqual(out.during, out.quiet);
  assert.deepEqual(out.after, out.quiet);
  assert.equal(out.phase, "running");
  // The answers go to the sender the network saw, not to the peer it named.
  assert.deepEqual(w.heard.map((m) => [m.kind, m.from.vqpn]), [
    ["gone", out.qpn],
    ["gone", out.qpn],
  ]);
  for (const h of w.hosts) assert.deepEqual(h.audit(), [], `${h.name}: audit`);
});

Deno.test("hostile nomad: the directory binds an address for its holder only", async () => {
  const w = await world();
  await w.cluster.run(async () => {
    const g = await streamEnd(w.vm, 8), p = await streamEnd(w.C.os, 8);
    await connectStream(g, p);
    const lid = (await p.ctx.queryPort(1)).lid;
    const phys = { lid, qpn: p.qp.qpNum };
    const before = w.net.byPhysical(phys);
    // Claiming the peer's address (to pass for it and suspend the victim) is refused: it is no
    // QP of the claimer's domain. The victim's virtual address (to take connections made to it)
    // is refused even to a guest binding a QP of its own. Nothing changes.
    assert.throws(() => w.net.bind(w.evil, 9, phys, { lid: 99, qpn: 9 }), /EADDRNOTAVAIL/);
    const mine = await streamEnd(w.bad, 8);
    assert.throws(() => w.net.bind(w.bad.nomad!, 9, phys, { lid: 99, qpn: 9 }), /EADDRNOTAVAIL/);
    const vLid = (await g.ctx.queryPort(1)).lid;
    const own = { lid: (await mine.ctx.queryPort(1)).lid, qpn: mine.qp.qpNum };
    assert.throws(
      () => w.net.bind(w.bad.nomad!, mine.qp.qpNum, own, { lid: vLid, qpn: g.qp.qpNum }),
      /EADDRINUSE/,
    );
    assert.deepEqual(w.net.byPhysical(phys), before);
    assert.equal(w.net.movedTo({ lid: vLid, qpn: g.qp.qpNum }), undefined);
    // A library that never joined can neither send nor bind nor unbind.
    const stranger: NomadNode = { name: "stranger", deliver: () => {} };
    assert.throws(() => w.net.unbind(stranger, g.qp.qpNum, true), /EPERM/);
    assert.throws(
      () => w.net.send(stranger, { kind: "gone", from: before!, to: g.qp.qpNum }, 1),
      /EPERM/,
    );
    // The directory hands out names, never another library's object.
    assert.equal(w.net.nameOf(w.vm.nomad!.id), "victim");
    const wr = await write(g, p, () => w.cluster.engine.now);
    assert.equal(wr.status, WcStatus.SUCCESS);
  });
  for (const h of w.hosts) assert.deepEqual(h.audit(), [], `${h.name}: audit`);
});

Deno.test("hostile nomad: a library that takes a destroyed peer's address is not waited for by the victim's migration", async () => {
  const w = await world();
  const out = await w.cluster.run(async () => {
    const g = await streamEnd(w.vm, 8), p = await streamEnd(w.C.os, 8);
    await connectStream(g, p);
    const phys = { lid: (await p.ctx.queryPort(1)).lid, qpn: p.qp.qpNum };
    await p.qp.destroy();
    // The address is free once its QP is gone; the attacker cannot take it, to pass for the
    // peer (only the domain the device gives the number to next can).
    assert.throws(() => w.net.bind(w.evil, 77, phys, { lid: 0, qpn: 77 }), /EADDRNOTAVAIL/);
    const r = await w.cluster.migrate(w.vm, w.B);
    const wr = await write(g, p, () => w.cluster.engine.now);
    return { to: r.to, wr };
  });
  // Before, the victim sent its suspend to the attacker and waited for its `drained` for ever
  // (the run ended in a deadlock report). The peer is the end the QP was connected to, which is
  // gone: the move completes and the QP fails as an RC QP whose peer vanished.
  assert.equal(out.to, "B");
  assert.equal(out.wr.status, WcStatus.RETRY_EXC_ERR);
  assert.deepEqual(w.heard, [], "the attacker was not asked");
  for (const h of w.hosts) assert.deepEqual(h.audit(), [], `${h.name}: audit`);
});

Deno.test("hostile nomad: a crashed guest's library leaves the directory, its QPs gone as destroyed ones", async () => {
  const w = await world();
  const phys = await w.cluster.run(async () => {
    const g = await streamEnd(w.vm, 8), p = await streamEnd(w.C.os, 8);
    await connectStream(g, p);
    return { lid: (await g.ctx.queryPort(1)).lid, qpn: g.qp.qpNum };
  });
  const id = w.vm.nomad!.id;
  assert.equal(w.net.heldBy(phys), id);
  w.vm.crash();
  // Nothing speaks for the crashed guest's QP any more: its peer is told `gone` if it asks, and
  // the number is free for the next QP the device gives it to, and only for that one.
  assert.equal(w.net.heldBy(phys), undefined);
  assert.deepEqual(w.net.goneFrom(phys), { agent: id, vqpn: phys.qpn });
  assert.throws(() => w.net.bind(w.evil, 5, phys, { lid: 0, qpn: 5 }), /EADDRNOTAVAIL/);
  await w.cluster.run(() => w.vm.whenDead());
});

Deno.test("hostile nomad: a message is a copy; what its sender changes after sending does not reach the receiver", async () => {
  const w = await world();
  const got: NomadMsg[] = [];
  const rx = w.net.join({ name: "rx", deliver: (m) => void got.push(m) });
  const keys: [number, number][] = [[0x100, 0x200]];
  const addr = { lid: 3, qpn: 0x48 };
  await w.cluster.run(async () => {
    w.net.send(
      w.evil,
      { kind: "ready", from: { agent: 0, vqpn: 1 }, to: 2, addr, sqPsn: 5, keys },
      rx,
    );
    keys[0][1] = 0xbad;
    addr.qpn = 0xbad;
    await w.cluster.sleep(200_000);
  });
  assert.equal(got.length, 1);
  const m = got[0] as Extract<NomadMsg, { kind: "ready" }>;
  assert.deepEqual([m.keys, m.addr], [[[0x100, 0x200]], { lid: 3, qpn: 0x48 }]);
});

Deno.test("hostile nomad: a moving QP's virtual address stays its own between hosts, and nobody claims the numbers its next QPs get", async () => {
  const w = await world();
  const out = await w.cluster.run(async () => {
    const g = await streamEnd(w.vm, 8), p = await streamEnd(w.C.os, 8);
    await connectStream(g, p);
    const lid = (await g.ctx.queryPort(1)).lid;
    const virt = { lid, qpn: g.qp.qpNum };
    const mine = await streamEnd(w.bad, 8);
    const own = { lid: (await mine.ctx.queryPort(1)).lid, qpn: mine.qp.qpNum };
    const moving = w.cluster.migrate(w.vm, w.B);
    while (w.vm.nomad!.phase !== "suspended") await w.cluster.sleep(1_000);
    // Between hosts the QP is bound nowhere; its virtual address is still not the attacker's,
    // even with a QP of its own (before, it took it, and connections made to the victim by that
    // address came to it).
    assert.throws(() => w.net.bind(w.bad.nomad!, mine.qp.qpNum, own, virt), /EADDRINUSE/);
    const r = await moving;
    const now = w.net.movedTo(virt);
    // Numbers the victim's next QPs will get on B, claimed first by the attacker: refused, as
    // they are no QPs of its domain (before, the victim's QPs were then not in the directory).
    const bLid = now!.lid;
    const refused = new Set<string>();
    for (let q = 1; q < 0x80; q++) {
      if (w.net.heldBy({ lid: bLid, qpn: q }) !== undefined) continue;
      for (const lib of [w.evil, w.bad.nomad!]) {
        try {
          w.net.bind(lib, 0x1000 + q, { lid: bLid, qpn: q }, { lid: 0, qpn: q });
          refused.add("bound");
        } catch (e) {
          refused.add((e as { code?: string }).code ?? String(e));
        }
      }
    }
    const h = await streamEnd(w.vm, 8);
    const wr = await write(g, p, () => w.cluster.engine.now);
    const hAt = w.net.movedTo({ lid, qpn: h.qp.qpNum });
    return {
      to: r.to,
      now,
      moved: w.net.byPhysical(now!),
      vm: w.vm.nomad!.id,
      wr,
      refused: [...refused],
      h: hAt && w.net.byPhysical(hAt),
      hVqpn: h.qp.qpNum,
    };
  });
  assert.equal(out.to, "B");
  assert.deepEqual(out.moved?.agent, out.vm, "the victim's QP holds its new address");
  assert.equal(out.wr.status, WcStatus.SUCCESS);
  assert.deepEqual(out.refused, ["EADDRNOTAVAIL"]);
  assert.deepEqual(out.h, { agent: out.vm, vqpn: out.hVqpn }, "the victim's new QP is its own");
  for (const h of w.hosts) assert.deepEqual(h.audit(), [], `${h.name}: audit`);
});

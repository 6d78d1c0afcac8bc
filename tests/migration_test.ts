// Live migration of a guest with live RDMA connections (platform/migration.ts, Nomad's
// handshake in drivers/verbs/nomad_*.ts): a checked stream of RDMA WRITE, WRITE WITH IMM and
// SEND/RECV both ways keeps going across the move, exactly once, in order, byte for byte; the
// application's handles do not change; the source returns everything; a crashed destination
// leaves the guest where it was.
import assert from "node:assert/strict";
import {
  Access,
  Cluster,
  type CmId,
  connectPair,
  type Domain,
  type EventChannel,
  type GuestDomain,
  type Host,
  QpState,
  QpType,
  RdmaCmEvent,
  SendFlags,
  VerbsError,
  WcStatus,
  WrOpcode,
  type XenGuest,
} from "../mod.ts";
import {
  connectStream,
  startStream,
  type StreamEnd,
  streamEnd,
} from "../tools/lib/migration_stream.ts";
import type { XenPlatform } from "../platform/xen_host.ts";

type PeerKind = "native" | "bypass" | "split";

/** A fast management network keeps round 1 of a small guest short (virtual time). */
const PROFILE = { base: "pcix-sdr-2006", migration: { netBytesPerSec: "1 GB/s" } };
const BYTES = 100; // not a multiple of anything in sight
const INTERVAL_NS = 20_000;

function counts(h: Host) {
  const { used, free } = h.hca.stats();
  return { used, free, hv: h.hypervisor?.stats() };
}

/** What the application sees of one end: these must not change across a move. */
function handles(e: StreamEnd) {
  return { qpNum: e.qp.qpNum, lkey: e.mr.lkey, rkey: e.mr.rkey, lid: e.ctx.queryPort(1).lid };
}

/** The device's values under the virtual ones (they do change). */
function physical(e: StreamEnd) {
  return { qpn: e.qp.pqp.qpn, lkey: e.ctx.nomad!.physicalLkey(e.mr.lkey) };
}

async function world(peer: PeerKind, guestMode: "bypass" | "split", extraXen = 0) {
  const cluster = new Cluster({ profile: PROFILE, seed: 7, nomad: true });
  const A = cluster.addHost({ name: "A", hypervisor: true });
  const B = cluster.addHost({ name: "B", hypervisor: true });
  const C = cluster.addHost({ name: "C", hypervisor: peer !== "native" });
  const more = Array.from(
    { length: extraXen },
    (_, i) => cluster.addHost({ name: i === 0 ? "D" : `D${i}`, hypervisor: true }),
  );
  await cluster.start();
  const before = counts(A);
  // Something already on the destination, so the guest's objects get other numbers there.
  const squatter = await B.createGuest({ name: "squatter", memoryMiB: 16 });
  await cluster.run(async () => {
    const s = await streamEnd(squatter, 64);
    await s.ctx.createCq(8);
  });
  const vm = await A.createGuest({ name: "vm0", memoryMiB: 16, driver: guestMode });
  const peerDom: Domain = peer === "native"
    ? C.os
    : await C.createGuest({ name: "peer", memoryMiB: 16, driver: peer });
  return { cluster, A, B, C, more, vm, peerDom, before };
}

/** Let the stream run until both directions have checked a few iterations. */
async function warm(cluster: Cluster, s: { readonly checked: readonly number[] }) {
  while (Math.min(...s.checked) < 5) await cluster.sleep(20_000);
}

function checkAudits(hosts: Host[]) {
  for (const h of hosts) assert.deepEqual(h.audit(), [], `${h.name}: audit`);
}

async function moveMidStream(peer: PeerKind, guestMode: "bypass" | "split") {
  const w = await world(peer, guestMode);
  const { cluster, B, vm, peerDom } = w;
  const bBefore = counts(B);
  const out = await cluster.run(async () => {
    const g = await streamEnd(vm, BYTES), p = await streamEnd(peerDom, BYTES);
    await connectStream(g, p);
    const h0 = { g: handles(g), p: handles(p) }, p0 = physical(g);
    const s = startStream(cluster, g, p, { bytes: BYTES, intervalNs: INTERVAL_NS });
    await warm(cluster, s);
    const mid = [...s.checked];
    const r = await cluster.migrate(vm, B);
    const atMove = [...s.checked];
    await cluster.sleep(300_000);
    const report = await s.stop();
    return {
      r,
      report,
      h0,
      h1: { g: handles(g), p: handles(p) },
      p0,
      p1: physical(g),
      mid,
      atMove,
    };
  });
  return { ...w, ...out, bBefore };
}

for (
  const [peer, mode] of [
    ["native", "bypass"],
    ["bypass", "bypass"],
    ["split", "bypass"],
    ["bypass", "split"],
  ] as const
) {
  Deno.test(`migration: a ${mode} guest moves A → B mid-stream, ${peer} peer on C`, async () => {
    const w = await moveMidStream(peer, mode);
    const { r, report, A, B, C, vm } = w;
    assert.equal(r.from, "A");
    assert.equal(r.to, "B");
    assert.equal((vm as XenGuest).hostName, "B");
    assert.ok(A.guests.every((g) => g !== vm) && B.guests.includes(vm));
    // The stream went on before, across and after the move; every message was checked.
    for (const d of report.directions) {
      assert.ok(d.iterations > 30, `only ${d.iterations} iterations`);
      assert.equal(d.messages, 3 * d.iterations);
    }
    assert.ok(
      w.mid.every((n) => n > 0) && w.atMove.every((n, i) => n > w.mid[i]),
      `checked before ${w.mid}, at the move ${w.atMove}`,
    );
    // Identical handles for the application; other ones on the device.
    assert.deepEqual(w.h1, w.h0);
    assert.notEqual(w.p1.qpn, w.p0.qpn, "the QP got another number on B");
    assert.notEqual(w.p1.lkey, w.p0.lkey, "the MR got another key on B");
    // The pause the application saw is the migration's downtime, at most.
    const maxGap = Math.max(...report.directions.map((d) => d.maxGapNs));
    assert.ok(maxGap <= r.downtimeNs + 2 * INTERVAL_NS + 1_000_000, `gap ${maxGap} ns`);
    assert.ok(r.downtimeNs > 0 && r.downtimeNs < r.totalNs && r.vmPausedNs < r.downtimeNs);
    assert.equal(r.connections, 1);
    assert.ok(r.rounds.length >= 2 && r.rounds.at(-1)!.stopAndCopy);
    assert.equal(r.rounds[0].pages, 16 * 256); // round 1: every page of the guest
    // The source holds nothing of the guest any more.
    assert.deepEqual(counts(A), w.before);
    checkAudits([A, B, C]);
    // On B it is a guest like any other: its teardown there returns everything too.
    await vm.shutdown();
    assert.deepEqual(counts(B), w.bBefore);
    checkAudits([A, B, C]);
  });
}

Deno.test("migration: the guest and its peer move at the same time (A → B, C → D)", async () => {
  const w = await world("bypass", "bypass", 1);
  const { cluster, A, B, C, vm, peerDom } = w;
  const D = w.more[0];
  const cBefore = counts(C);
  const out = await cluster.run(async () => {
    const g = await streamEnd(vm, BYTES), p = await streamEnd(peerDom, BYTES);
    await connectStream(g, p);
    const h0 = { g: handles(g), p: handles(p) };
    const s = startStream(cluster, g, p, { bytes: BYTES, intervalNs: INTERVAL_NS });
    await warm(cluster, s);
    const [rg, rp] = await Promise.all([
      cluster.migrate(vm, B),
      cluster.migrate(peerDom as GuestDomain, D),
    ]);
    await cluster.sleep(300_000);
    const report = await s.stop();
    return { rg, rp, report, h0, h1: { g: handles(g), p: handles(p) } };
  });
  assert.equal(out.rg.to, "B");
  assert.equal(out.rp.to, "D");
  // Both ends suspended together and came back together: one handshake, moving at both ends.
  assert.equal(out.rg.nomad!.suspendStartNs, out.rp.nomad!.suspendStartNs);
  assert.equal(out.rg.nomad!.resumedNs, out.rp.nomad!.resumedNs);
  assert.deepEqual(out.h1, out.h0);
  for (const d of out.report.directions) assert.ok(d.iterations > 30);
  assert.deepEqual(counts(A), w.before);
  // The peer held nothing on C's HCA before its program ran; after it left, C holds nothing of it.
  const cNow = counts(C);
  assert.deepEqual([cNow.used, cNow.free], [cBefore.used, cBefore.free]);
  assert.equal(cNow.hv!.domains, cBefore.hv!.domains - 1);
  checkAudits([A, B, C, D]);
});

for (const phase of ["pre-copy", "stop-and-copy"] as const) {
  Deno.test(`migration: the destination crashes during ${phase}; the guest runs on`, async () => {
    const w = await world("native", "bypass");
    const { cluster, A, B, C, vm, peerDom } = w;
    const bBefore = counts(B);
    const backOnA = () => (A.platform as XenPlatform).backend!.instances().get(vm.domid!)!;
    const back0 = backOnA();
    const out = await cluster.run(async () => {
      const g = await streamEnd(vm, BYTES), p = await streamEnd(peerDom, BYTES);
      await connectStream(g, p);
      const h0 = handles(g);
      const s = startStream(cluster, g, p, { bytes: BYTES, intervalNs: INTERVAL_NS });
      await warm(cluster, s);
      const err = await cluster.migrate(vm, B, { crashDestination: phase }).then(
        () => undefined,
        (e) => e,
      );
      const atFail = [...s.checked];
      await cluster.sleep(300_000);
      const report = await s.stop();
      return { err, report, atFail, h0, h1: handles(g) };
    });
    assert.ok(out.err instanceof VerbsError, String(out.err));
    assert.equal(out.err.code, "ECONNRESET");
    assert.match(out.err.message, new RegExp(`crashed during ${phase}`));
    assert.equal((vm as XenGuest).hostName, "A");
    assert.ok(A.guests.includes(vm));
    // The connections kept working: traffic after the failure, all of it checked.
    for (const [i, d] of out.report.directions.entries()) {
      assert.ok(d.iterations > out.atFail[i] + 5, `${d.iterations} after ${out.atFail[i]}`);
    }
    assert.deepEqual(out.h1, out.h0);
    // A cancelled suspend keeps its devices (xc_domain_resume re-creates none): the backend
    // that served the guest, Closed since the suspend, served its frontend's re-probe.
    assert.equal(backOnA(), back0);
    assert.equal(back0.connections, phase === "stop-and-copy" ? 2 : 1);
    assert.equal(back0.connected, true);
    // Nothing of the half-made domain is left on the destination.
    assert.deepEqual(counts(B), bBefore);
    checkAudits([A, B, C]);
  });
}

Deno.test("migration: control verbs under way when the suspend begins finish first", async () => {
  // A task is frozen for suspend only outside a system call (Linux try_to_freeze at the
  // syscall boundary): a destroy or close the application issued during pre-copy completes,
  // and what moves is what is left; a connection half made by then refuses the move.
  const w = await world("native", "bypass");
  const { cluster, A, B, C, vm, peerDom, before } = w;
  const out = await cluster.run(async () => {
    const g = await streamEnd(vm, BYTES), p = await streamEnd(peerDom, BYTES);
    const g2 = await streamEnd(vm, BYTES), p2 = await streamEnd(peerDom, BYTES);
    await connectStream(g, p);
    await connectStream(g2, p2);
    const moving = cluster.migrate(vm, B);
    await g2.qp.destroy();
    await g2.ctx.close();
    const r = await moving;
    // The connection left carries a checked stream on B.
    const s = startStream(cluster, g, p, { bytes: BYTES, intervalNs: INTERVAL_NS });
    await warm(cluster, s);
    const report = await s.stop();
    // A connection in the middle of being made when the suspend begins: the move is refused.
    const g3 = await streamEnd(vm, BYTES), p3 = await streamEnd(peerDom, BYTES);
    const setup = connectStream(g3, p3);
    const refused = await cluster.migrate(vm, A).then(() => "moved", (e) => String(e));
    await setup;
    const again = await cluster.migrate(vm, A);
    return { r, report, refused, again };
  });
  assert.equal(out.r.connections, 1);
  for (const d of out.report.directions) assert.equal(d.messages, 3 * d.iterations);
  assert.match(out.refused, /EOPNOTSUPP: .*QP \d+ is in state [12] \(RESET or RTS can move\)/);
  assert.equal(out.again.connections, 2);
  assert.equal((vm as XenGuest).hostName, "A");
  checkAudits([A, B, C]);
  await vm.shutdown();
  assert.deepEqual(counts(A), before);
});

Deno.test("migration: refusals name what is wrong and change nothing", async () => {
  const cluster = new Cluster({ profile: PROFILE, seed: 7 });
  const A = cluster.addHost({ name: "A", hypervisor: true });
  const B = cluster.addHost({ name: "B", hypervisor: true });
  const N = cluster.addHost({ name: "N", hypervisor: false });
  await cluster.start();
  const vm = await A.createGuest({ name: "vm0", memoryMiB: 16 });
  const code = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      return `${(e as VerbsError).code}: ${(e as Error).message}`;
    }
    return "ok";
  };
  assert.match(await code(cluster.migrate(N.os, B)), /^EINVAL: .*not a Xen guest/);
  assert.match(await code(cluster.migrate(vm, A)), /^EINVAL: .*A already runs it/);
  assert.match(await code(cluster.migrate(vm, N)), /^EINVAL: .*N is a native host/);
  assert.match(
    await code(cluster.migrate(vm, B, { stopPages: -1 })),
    /^EINVAL: .*stopPages must be a positive integer/,
  );
  assert.match(
    await code(cluster.migrate(vm, B, { bogus: 1 } as never)),
    /^EINVAL: .*unknown option\(s\) bogus/,
  );
  // An open context without the Nomad layer cannot be re-created elsewhere.
  await cluster.run(async () => void await vm.openDevice());
  assert.match(await code(cluster.migrate(vm, B)), /^EOPNOTSUPP: .*nomad: true/);
  assert.equal((vm as XenGuest).hostName, "A");
  // Without contexts a guest moves with or without the layer.
  const idle = await A.createGuest({ name: "idle", memoryMiB: 16 });
  // A second move while the first is under way: busy, not unsupported; the first completes.
  const [r, again] = await cluster.run(() =>
    Promise.all([cluster.migrate(idle, B), code(cluster.migrate(idle, B))])
  );
  assert.match(again, /^EBUSY: .*idle is already being migrated/);
  assert.equal(r.connections, 0);
  assert.ok(B.guests.includes(idle));
  checkAudits([A, B, N]);
});

Deno.test("migration: a guest's own CPU writes during pre-copy and stop-and-copy all arrive", async () => {
  // Small writes within one frame take machine memory's single-frame path; each must reach the
  // log-dirty bitmap like any other write, or the last round would miss the page.
  const cluster = new Cluster({ profile: PROFILE, seed: 11 });
  const A = cluster.addHost({ name: "A", hypervisor: true });
  const B = cluster.addHost({ name: "B", hypervisor: true });
  await cluster.start();
  const vm = await A.createGuest({ name: "vm0", memoryMiB: 16 });
  const SIZE = 1 << 20;
  const shadow = new Uint8Array(SIZE);
  const { written, r, seen } = await cluster.run(async () => {
    const buf = vm.memory.alloc(SIZE, 4096);
    vm.memory.write(buf, shadow);
    let written = 0, done = false;
    const writer = cluster.spawn("cpu writer", async () => {
      for (let i = 1; !done; i++) {
        // 8 bytes at a stride that visits every page, in a different place each round.
        const off = (i * 40_961) % (SIZE - 8);
        const v = new Uint8Array(8).fill(i & 0xff);
        vm.memory.write(buf + off, v);
        shadow.set(v, off);
        written++;
        await cluster.sleep(2_000);
      }
    });
    const r = await cluster.migrate(vm, B);
    await cluster.sleep(50_000); // more writes on B
    done = true;
    await writer;
    return { written, r, seen: vm.memory.read(buf, SIZE) };
  });
  assert.equal((vm as XenGuest).hostName, "B");
  assert.ok(r.rounds.length >= 2, `${r.rounds.length} rounds`);
  assert.ok(written > 1_000, `only ${written} writes`);
  const wrong = seen.findIndex((b, i) => b !== shadow[i]);
  assert.equal(wrong, -1, `byte ${wrong} differs after the move`);
  checkAudits([A, B]);
});

Deno.test("migration: the registration cache is let go on the source and starts anew on the destination; quotas follow the guest", async () => {
  const cluster = new Cluster({ profile: PROFILE, seed: 7, nomad: true });
  const A = cluster.addHost({ name: "A", hypervisor: true });
  const B = cluster.addHost({ name: "B", hypervisor: true });
  await cluster.start();
  const aBefore = counts(A), bBefore = counts(B);
  const vm = await A.createGuest({ name: "vm0", memoryMiB: 16, quota: { pds: 3 } }) as XenGuest;
  const PAGES = 16, len = PAGES * 4096;
  const out = await cluster.run(async () => {
    const ctx = await vm.openDevice();
    const pd = await ctx.allocPd();
    const gone = vm.memory.alloc(len, 4096), kept = vm.memory.alloc(len, 4096);
    const old = await pd.regMr(gone, len, Access.LOCAL_WRITE);
    await old.dereg(); // its pages stay mapped by A's dom0: the cache
    const live = await pd.regMr(kept, len, Access.LOCAL_WRITE | Access.REMOTE_WRITE);
    const onA = vm.quotaUsage();
    const r = await cluster.migrate(vm, B);
    const onB = vm.quotaUsage();
    // On B the cache starts empty: registering the deregistered buffer maps its pages again;
    // once that region is gone too, the next registration of it maps none.
    const g0 = B.counters().grantMaps;
    const miss = await pd.regMr(gone, len, Access.LOCAL_WRITE);
    const g1 = B.counters().grantMaps;
    await miss.dereg();
    const hit = await pd.regMr(gone, len, Access.LOCAL_WRITE);
    const g2 = B.counters().grantMaps;
    await hit.dereg();
    await live.dereg();
    await ctx.close();
    return { r, onA, onB, miss: g1 - g0, hit: g2 - g1 };
  });
  assert.equal(out.r.to, "B");
  // A's dom0 let go of every cached mapping: A holds nothing of the guest.
  assert.deepEqual(counts(A), aBefore);
  // The guest's own limits came along; on B it holds only what Nomad made again.
  assert.equal(out.onA.pds.limit, 3);
  assert.equal(out.onB.pds.limit, 3);
  // On A dom0 mapped both regions' pages (and the two ring pages), the deregistered one's kept
  // idle in the cache; on B only the live region's.
  assert.equal(out.onA.persistentGrants.used, PAGES);
  assert.equal(out.onA.grantMaps.used, 2 * PAGES + 2);
  assert.equal(out.onB.persistentGrants.used, 0);
  assert.equal(out.onB.grantMaps.used, PAGES + 2);
  assert.equal(out.onB.mrs.used, 1);
  assert.ok(out.miss >= PAGES, `a miss on B mapped ${out.miss}`);
  assert.ok(out.hit < PAGES, `a hit on B mapped ${out.hit}`);
  checkAudits([A, B]);
  await vm.shutdown();
  assert.deepEqual(counts(B), bBefore);
  checkAudits([A, B]);
});

/** One end of the queued-sends test: a QP with a deep send queue and a large registered buffer. */
async function deepEnd(dom: Domain, bytes: number) {
  const ctx = await dom.openDevice();
  const pd = await ctx.allocPd();
  const buf = dom.memory.alloc(bytes, 4096);
  const mr = await pd.regMr(buf, bytes, Access.LOCAL_WRITE | Access.REMOTE_WRITE);
  const cq = await ctx.createCq(256);
  const cap = { maxSendWr: 64, maxRecvWr: 64, maxSendSge: 1, maxRecvSge: 1, maxInlineData: 64 };
  const qp = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
  return { dom, ctx, buf, mr, cq, qp, lid: () => ctx.queryPort(1).lid };
}

for (const [peer, mode] of [["native", "bypass"], ["bypass", "split"]] as const) {
  Deno.test(`migration: sends queued behind a long WRITE when the drain comes are posted again, once and in order (${mode} guest, ${peer} peer)`, async () => {
    // IBTA §10.3.1: SQD completes the messages in progress and begins no new one, so the
    // drain leaves the sends queued behind a 256 KiB WRITE on the queue; the move must post
    // them again on the new QP (inline ones with the bytes they had when posted).
    const w = await world(peer, mode);
    const { cluster, B, vm, peerDom } = w;
    const BIG = 256 * 1024, SMALL = 48, SENDS = 8;
    const pat = (seq: number) => Uint8Array.from({ length: SMALL }, (_, k) => (seq * 7 + k) & 0xff);
    const out = await cluster.run(async () => {
      const g = await deepEnd(vm, BIG + 64 * SMALL), p = await deepEnd(peerDom, BIG + 64 * SMALL);
      await connectPair({ qp: g.qp, lid: g.lid() }, { qp: p.qp, lid: p.lid() });
      const recvAt = (k: number) => p.buf + BIG + (k % 64) * SMALL;
      for (let k = 0; k < 64; k++) {
        p.qp.postRecv({
          wrId: BigInt(k),
          sgList: [{ addr: recvAt(k), length: SMALL, lkey: p.mr.lkey }],
        });
      }
      let moved = false, sent = 0, received = 0, postedRecv = 64;
      const move = cluster.spawn("move", async () => {
        await cluster.sleep(2_000_000);
        const r = await cluster.migrate(vm, B);
        moved = true;
        return r;
      });
      const receiver = cluster.spawn("receiver", async () => {
        for (;;) {
          const [wc] = await p.cq.pollUntil(1);
          assert.equal(wc.status, WcStatus.SUCCESS, `receive ${received}: status ${wc.status}`);
          assert.equal(
            wc.wrId,
            BigInt(received),
            `receive ${received}: wr_id ${wc.wrId} (lost or repeated)`,
          );
          assert.deepEqual(
            p.dom.memory.read(recvAt(received), SMALL),
            pat(received),
            `SEND ${received} data`,
          );
          received++;
          const k = postedRecv++;
          p.qp.postRecv({
            wrId: BigInt(k),
            sgList: [{ addr: recvAt(k), length: SMALL, lkey: p.mr.lkey }],
          });
          if (moved && received === sent) return;
        }
      });
      let iterations = 0;
      const stage = g.buf + BIG;
      while (!moved || iterations < 3) {
        // Unsignaled: retired by the signaled SENDs after it, as RC completes in order.
        g.qp.postSend({
          wrId: 1_000_000n + BigInt(iterations),
          opcode: WrOpcode.RDMA_WRITE,
          sgList: [{ addr: g.buf, length: BIG, lkey: g.mr.lkey }],
          remoteAddr: p.buf,
          rkey: p.mr.rkey,
        });
        for (let k = 0; k < SENDS; k++) {
          const seq = sent++, inline = k % 2 === 0;
          const at = stage + (seq % 64) * SMALL;
          g.dom.memory.write(at, pat(seq));
          g.qp.postSend({
            wrId: BigInt(seq),
            opcode: WrOpcode.SEND,
            sendFlags: SendFlags.SIGNALED | (inline ? SendFlags.INLINE : 0),
            sgList: [{ addr: at, length: SMALL, lkey: g.mr.lkey }],
          });
          // ibv_post_send(3): an inline buffer may be reused as soon as the call returns.
          if (inline) g.dom.memory.write(at, new Uint8Array(SMALL).fill(0xee));
        }
        const wcs = await g.cq.pollUntil(SENDS);
        wcs.forEach((wc, k) => {
          assert.equal(wc.status, WcStatus.SUCCESS);
          assert.equal(wc.wrId, BigInt(sent - SENDS + k), "send completions once each, in order");
        });
        iterations++;
      }
      const r = await move;
      await receiver;
      return { r, sent, received, iterations, extra: p.cq.poll(1).length + g.cq.poll(1).length };
    });
    assert.equal(out.r.to, "B");
    assert.ok(out.iterations > 10, `only ${out.iterations} iterations`);
    assert.equal(out.received, out.sent);
    assert.equal(out.extra, 0, "no completion after the last message");
  });
}

Deno.test("migration: an inline send posted while its connection is suspended carries the bytes it had when posted", async () => {
  // ibv_post_send(3): with IBV_SEND_INLINE the buffer may be reused as soon as the call returns,
  // so a send held for the move keeps a copy of its data, not a pointer to it.
  const w = await world("native", "bypass");
  const { cluster, B, vm, peerDom } = w;
  const out = await cluster.run(async () => {
    const g = await deepEnd(vm, 4096), p = await deepEnd(peerDom, 4096);
    await connectPair({ qp: g.qp, lid: g.lid() }, { qp: p.qp, lid: p.lid() });
    p.qp.postRecv({ wrId: 1n, sgList: [{ addr: p.buf, length: 16, lkey: p.mr.lkey }] });
    const move = cluster.migrate(vm, B);
    while (!g.qp.pqp.gate) await cluster.sleep(1_000); // the suspend has begun
    g.dom.memory.write(g.buf, new TextEncoder().encode("posted-in-pause!"));
    g.qp.postSend({
      wrId: 1n,
      opcode: WrOpcode.SEND,
      sendFlags: SendFlags.SIGNALED | SendFlags.INLINE,
      sgList: [{ addr: g.buf, length: 16, lkey: g.mr.lkey }],
    });
    const held = g.qp.pqp.gate!.sends.length;
    g.dom.memory.write(g.buf, new Uint8Array(16).fill(0x2a)); // reused at once
    await move;
    const [sent] = await g.cq.pollUntil(1);
    const [got] = await p.cq.pollUntil(1);
    return { held, sent, got, bytes: new TextDecoder().decode(p.dom.memory.read(p.buf, 16)) };
  });
  assert.equal(out.held, 1, "the send was held for the move");
  assert.equal(out.sent.status, WcStatus.SUCCESS);
  assert.equal(out.got.status, WcStatus.SUCCESS);
  assert.equal(out.bytes, "posted-in-pause!");
});

Deno.test("migration: a guest that dies on the source before the switch is not moved; the destination lets go", async () => {
  const cluster = new Cluster({ profile: PROFILE, seed: 7, nomad: true });
  const [A, B] = ["A", "B"].map((name) => cluster.addHost({ name, hypervisor: true }));
  await cluster.start();
  const before = counts(B);
  const vm = await A.createGuest({ name: "vm0", memoryMiB: 16, driver: "bypass" }) as XenGuest;
  await cluster.run(async () => {
    const src = vm.xen;
    const mig = cluster.migrate(vm, B).then(() => undefined, (e: unknown) => e);
    // Stop-and-copy pauses the source: the guest crashes there, before the switch.
    while (!src.paused) await cluster.sleep(10_000);
    vm.crash();
    const err = await mig;
    assert.ok(err instanceof VerbsError && err.code === "ECONNRESET", String(err));
    assert.match(err.message, /vm0 died on A .*before the switch; nothing was moved/);
    await vm.whenDead();
    assert.deepEqual(B.guests, []);
  });
  assert.deepEqual(counts(B), before, "the destination gave back its domain");
  for (const h of [A, B]) assert.deepEqual(h.audit(), []);
});

/** Fill `dom`'s device with RC QPs until it refuses one; returns them. */
async function fillQps(dom: Domain) {
  const ctx = await dom.openDevice();
  const pd = await ctx.allocPd();
  const cq = await ctx.createCq(4);
  const cap = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
  const qps = [];
  for (;;) {
    try {
      qps.push(await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap }));
    } catch (e) {
      assert.equal((e as VerbsError).code, "ENOMEM", String(e));
      return { ctx, qps };
    }
  }
}

for (const [when, mode] of [["at the call", "bypass"], ["during pre-copy", "split"]] as const) {
  Deno.test(`migration: a destination whose HCA has no room is refused ${when}; the guest runs on at the source (${mode})`, async () => {
    // The guest's library must make its QPs again on the destination: a device without room
    // there left the guest on B with its connection suspended for good (both ends' sends
    // waited forever). As Xen's toolstack refuses a destination without memory, the move is
    // refused before anything moves, or, when the room went during pre-copy, at the last
    // moment before the switch, the suspend cancelled (xc_domain_resume).
    const profile = { ...PROFILE, hca: { maxQp: 200 } };
    const cluster = new Cluster({ profile, seed: 7, nomad: true });
    const [A, B] = ["A", "B"].map((name) => cluster.addHost({ name, hypervisor: true }));
    const C = cluster.addHost({ name: "C", hypervisor: false });
    await cluster.start();
    const vm = await A.createGuest({ name: "vm0", memoryMiB: 16, driver: mode }) as XenGuest;
    const out = await cluster.run(async () => {
      const g = await streamEnd(vm, BYTES), p = await streamEnd(C.os, BYTES);
      await connectStream(g, p);
      const h0 = handles(g);
      let moving: Promise<unknown>;
      if (when === "at the call") {
        await fillQps(B.dom0!);
        moving = cluster.migrate(vm, B);
      } else {
        moving = cluster.migrate(vm, B);
        await cluster.sleep(1_000_000); // round 1 under way
        await fillQps(B.dom0!);
      }
      const err = await moving.then(() => undefined, (e) => e);
      const bNow = counts(B);
      const s = startStream(cluster, g, p, { bytes: BYTES, intervalNs: INTERVAL_NS });
      // Bounded: a connection left suspended for good would make `warm` wait forever.
      const until = cluster.now + 50_000_000;
      while (Math.min(...s.checked) < 5) {
        if (cluster.now > until) throw new Error(`the stream stopped: ${err}`);
        await cluster.sleep(20_000);
      }
      const report = await s.stop();
      return { err, report, h0, h1: handles(g), bNow };
    });
    assert.ok(out.err instanceof VerbsError, String(out.err));
    assert.equal(out.err.code, "ENOMEM");
    assert.match(
      out.err.message,
      when === "at the call"
        ? /^ENOMEM: migrate vm0 from A to B: B's HCA has no room for vm0's 1 qp \(\d+ free, 64 kept for dom0 and new guests\)$/
        : /^ENOMEM: migrate vm0 from A to B: B's HCA has no room for vm0's 1 qp .*; vm0 resumed on A$/,
    );
    assert.equal(out.err.message.split("\n").length, 1);
    assert.equal(vm.hostName, "A");
    for (const d of out.report.directions) assert.equal(d.messages, 3 * d.iterations);
    assert.deepEqual(out.h1, out.h0);
    assert.equal(out.bNow.hv!.domains, 1, "B made no domain, or gave it back");
    checkAudits([A, B, C]);
  });
}

Deno.test("migration: a destination that puts the guest's partition at another P_Key index is refused; nothing moves", async () => {
  // QPs name their partition by P_Key index (IBTA §10.9: the pkey_index of the QP context),
  // and Nomad's layer does not virtualize the index: moved as it was, the QP would send in
  // another partition (B's index 1 is 0x8002), its peer's packets dropped at the P_Key check.
  const cluster = new Cluster({ profile: PROFILE, seed: 7, nomad: true });
  const A = cluster.addHost({ name: "A", hypervisor: true, pkeys: [0x8001, 0x8002] });
  const B = cluster.addHost({ name: "B", hypervisor: true, pkeys: [0x8002, 0x8001] });
  const C = cluster.addHost({ name: "C", hypervisor: false, pkeys: [0x8001] });
  await cluster.start();
  const vm = await A.createGuest({ name: "vm0", memoryMiB: 16, pkeys: [0x8001] }) as XenGuest;
  const bBefore = counts(B);
  const out = await cluster.run(async () => {
    const g = await deepEnd(vm, 4096), p = await deepEnd(C.os, 4096);
    await connectPair({ qp: g.qp, lid: g.lid() }, { qp: p.qp, lid: p.lid() }, { pkeyIndex: 1 });
    const err = await cluster.migrate(vm, B).then(() => undefined, (e) => e);
    p.qp.postSend({
      wrId: 1n,
      opcode: WrOpcode.RDMA_WRITE,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: p.buf, length: 64, lkey: p.mr.lkey }],
      remoteAddr: g.buf,
      rkey: g.mr.rkey,
    });
    const [wc] = await p.cq.pollUntil(1);
    return { err, wc, pkey: await g.ctx.queryPkey(1, (await g.qp.query()).pkeyIndex!) };
  });
  assert.ok(out.err instanceof VerbsError, String(out.err));
  assert.equal(
    out.err.message,
    "EOPNOTSUPP: migrate vm0 from A to B: vm0's partition 0x8001 is at P_Key index 1 of port 1 " +
      "on A, B has 0x8002 there (QPs name partitions by index)",
  );
  assert.equal(vm.hostName, "A");
  assert.equal(out.wc.status, WcStatus.SUCCESS);
  assert.equal(out.pkey, 0x8001);
  assert.deepEqual(counts(B), bBefore);
  checkAudits([A, B, C]);
});

/** A guest's CQ overruns (3 entries, 6 receives completed unpolled); what does it then poll? */
async function overrun(mode: "bypass" | "split", move: boolean) {
  const cluster = new Cluster({ profile: PROFILE, seed: 7, nomad: true });
  const [A, B] = ["A", "B"].map((name) => cluster.addHost({ name, hypervisor: true }));
  const C = cluster.addHost({ name: "C", hypervisor: false });
  await cluster.start();
  const vm = await A.createGuest({ name: "vm0", memoryMiB: 16, driver: mode }) as XenGuest;
  return await cluster.run(async () => {
    const g = await deepEnd(vm, 4096), p = await deepEnd(C.os, 4096);
    const cq = await g.ctx.createCq(2);
    const cap = { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 };
    const qp = await (await g.ctx.allocPd()).createQp({
      type: QpType.RC,
      sendCq: cq,
      recvCq: cq,
      cap,
    });
    await connectPair({ qp, lid: g.lid() }, { qp: p.qp, lid: p.lid() });
    const n = cq.cqe + 3;
    // The receives are in the QP's PD, not the MR's: register there.
    const mr = await qp.pd.regMr(g.buf, 4096, Access.LOCAL_WRITE);
    for (let i = 0; i < n; i++) {
      qp.postRecv({
        wrId: BigInt(i),
        sgList: [{ addr: g.buf + 64 * i, length: 64, lkey: mr.lkey }],
      });
    }
    for (let i = 0; i < n; i++) {
      p.qp.postSend({
        wrId: BigInt(i),
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: p.buf, length: 64, lkey: p.mr.lkey }],
      });
    }
    const events: number[] = [];
    cluster.spawn("async events", async () => {
      for (;;) events.push((await g.ctx.getAsyncEvent()).type);
    });
    await cluster.sleep(200_000);
    if (move) await cluster.migrate(vm, B);
    await cluster.sleep(1_000_000);
    const seen = cq.poll(64).map((wc) => `${wc.wrId}:${wc.status}`);
    const peer = (await p.cq.pollUntil(n)).map((wc) => wc.status);
    return { seen, peer, events: events.slice(0, 2), host: vm.hostName };
  });
}

for (const mode of ["bypass", "split"] as const) {
  Deno.test(`migration: a CQ that overran before the move takes no completion after it (${mode})`, async () => {
    // ibv_get_async_event(3): IBV_EVENT_CQ_ERR, the CQ is in error (overrun) and takes nothing
    // more, not even the flushes of the QP it put in error. The CQ made again on B is a fresh
    // one: the QP moved in error flushed its receives into it, and the application polled
    // completions it would never have seen without the move.
    const stay = await overrun(mode, false), move = await overrun(mode, true);
    assert.equal(stay.host, "A");
    assert.equal(move.host, "B");
    assert.deepEqual(move.seen, stay.seen);
    assert.deepEqual(stay.seen, ["0:0", "1:0", "2:0", "3:0"]);
    assert.deepEqual(move.events, stay.events);
    assert.deepEqual(move.peer, stay.peer);
  });
}

for (const mode of ["bypass", "split"] as const) {
  Deno.test(`migration: a device opened while the guest is suspended opens on the destination (${mode})`, async () => {
    // A task is frozen for suspend outside a system call (Linux try_to_freeze): an
    // ibv_open_device issued during the move happens after the resume, on the device the guest
    // has then. It failed ENODEV ("no RDMA device (has the cluster been started?)").
    const w = await world("native", mode);
    const { cluster, A, B, C, vm, peerDom } = w;
    const out = await cluster.run(async () => {
      const g = await streamEnd(vm, BYTES), p = await streamEnd(peerDom, BYTES);
      await connectStream(g, p);
      const moving = cluster.migrate(vm, B);
      while (vm.devices().length > 0) await cluster.sleep(10_000); // the device is unplugged
      const ctx = await vm.openDevice();
      const at = (vm as XenGuest).hostName;
      const pd = await ctx.allocPd();
      const r = await moving;
      await pd.dealloc();
      await ctx.close();
      const s = startStream(cluster, g, p, { bytes: BYTES, intervalNs: INTERVAL_NS });
      await warm(cluster, s);
      return { at, r, report: await s.stop() };
    });
    assert.equal(out.at, "B");
    assert.equal(out.r.connections, 1);
    for (const d of out.report.directions) assert.equal(d.messages, 3 * d.iterations);
    checkAudits([A, B, C]);
  });
}

Deno.test("migration: rdma_cm address resolution when the move begins connects from the destination", async () => {
  // The kernel's rdma_cm opens the device on first use (its CM agent); that open raced the
  // suspend and failed (EIO, or ENODEV while unplugged), the address resolution ended in
  // ADDR_ERROR -ENETUNREACH, and the agent kept the failure: every later resolution failed too.
  const cluster = new Cluster({ profile: PROFILE, seed: 1, nomad: true });
  const [A, B] = ["A", "B"].map((name) => cluster.addHost({ name, hypervisor: true }));
  const C = cluster.addHost({ name: "C", hypervisor: false });
  await cluster.start();
  const vm = await A.createGuest({ name: "vm0", memoryMiB: 16 }) as XenGuest;
  const cap = { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 };
  const next = async (ch: EventChannel) => {
    const ev = await ch.getEvent();
    ev.ack();
    return `${ev.type}/${ev.status}`;
  };
  const qpFor = async (id: CmId) => {
    const cq = await id.verbs!.createCq(16);
    return await id.createQp(await id.verbs!.allocPd(), {
      type: QpType.RC,
      sendCq: cq,
      recvCq: cq,
      cap,
    });
  };
  const out = await cluster.run(async () => {
    const ch = C.os.rdmaCm.createEventChannel();
    const listener = await ch.createId();
    await listener.bindAddr({ ip: C.os.rdmaCm.ip, port: 7471 });
    await listener.listen(1);
    const server = cluster.spawn("server", async () => {
      const ev = await ch.getEvent();
      ev.ack();
      await qpFor(ev.id);
      await ev.id.accept({ responderResources: 1, initiatorDepth: 1 });
      return await next(ch);
    });
    const cch = vm.rdmaCm.createEventChannel();
    const id = await cch.createId();
    const moving = cluster.migrate(vm, B);
    await id.resolveAddr({ ip: C.os.rdmaCm.ip, port: 7471 });
    const events = [await next(cch)];
    await id.resolveRoute();
    events.push(await next(cch));
    await qpFor(id);
    await id.connect({ responderResources: 1, initiatorDepth: 1 });
    events.push(await next(cch));
    return { events, r: await moving, server: await server };
  });
  const ok = (t: number) => `${t}/0`;
  assert.deepEqual(out.events, [
    ok(RdmaCmEvent.ADDR_RESOLVED),
    ok(RdmaCmEvent.ROUTE_RESOLVED),
    ok(RdmaCmEvent.ESTABLISHED),
  ]);
  assert.equal(out.server, ok(RdmaCmEvent.ESTABLISHED));
  assert.equal(out.r.to, "B");
  assert.equal(vm.hostName, "B");
  checkAudits([A, B, C]);
});

for (const [peer, mode] of [["native", "bypass"], ["bypass", "split"]] as const) {
  Deno.test(`migration: a staying peer's ibv_query_qp during the handshake sees its QP as it left it (${mode} guest, ${peer} peer)`, async () => {
    // The layer drains, resets and reconnects the peer's device QP; the peer's application did
    // none of that. Its query saw SQD, RESET, INIT, RTR (and no destination in RESET), and its
    // provider, which takes the state from the answer, refused the next post with EINVAL ("QP
    // is not ready to send (state 0, needs RTS)") instead of holding it for the move.
    const w = await world(peer, mode);
    const { cluster, A, B, C, vm, peerDom } = w;
    const out = await cluster.run(async () => {
      const g = await deepEnd(vm, 4096), p = await deepEnd(peerDom, 4096);
      await connectPair({ qp: g.qp, lid: g.lid() }, { qp: p.qp, lid: p.lid() });
      const app = { state: p.qp.state, dest: g.qp.qpNum, dlid: g.lid() };
      g.qp.postRecv({ wrId: 7n, sgList: [{ addr: g.buf, length: 64, lkey: g.mr.lkey }] });
      const seen = new Set<string>();
      let posted = false, done = false;
      const watcher = cluster.spawn("peer's queries", async () => {
        while (!done) {
          const q = await p.qp.query();
          seen.add(JSON.stringify({ state: q.state, dest: q.destQpNum, dlid: q.ah?.dlid }));
          if (!posted && p.qp.pqp.gate && q.state !== QpState.SQD) {
            p.qp.postSend({
              wrId: 9n,
              opcode: WrOpcode.SEND,
              sendFlags: SendFlags.SIGNALED,
              sgList: [{ addr: p.buf, length: 64, lkey: p.mr.lkey }],
            });
            posted = true;
          }
          await cluster.sleep(20_000);
        }
      });
      await cluster.migrate(vm, B);
      done = true;
      await watcher;
      const [sent] = await p.cq.pollUntil(1);
      const [got] = await g.cq.pollUntil(1);
      return { app, seen: [...seen], posted, sent, got };
    });
    assert.ok(out.posted, "a send was posted during the handshake");
    assert.deepEqual(out.seen, [JSON.stringify(out.app)]);
    assert.deepEqual([out.sent.wrId, out.sent.status], [9n, WcStatus.SUCCESS]);
    assert.deepEqual([out.got.wrId, out.got.status, out.got.byteLen], [7n, WcStatus.SUCCESS, 64]);
    checkAudits([A, B, C]);
  });
}

Deno.test("migration: a guest whose kernel rdma_cm service runs is refused by that name; it stays", async () => {
  // The service is a UD QP with address handles on the guest's device, which Nomad does not
  // move; the refusal named "address handles" of a context the application never opened.
  const cluster = new Cluster({ profile: PROFILE, seed: 1, nomad: true });
  const [A, B] = ["A", "B"].map((name) => cluster.addHost({ name, hypervisor: true }));
  const C = cluster.addHost({ name: "C", hypervisor: false });
  await cluster.start();
  const vm = await A.createGuest({ name: "vm0", memoryMiB: 16 }) as XenGuest;
  const refusal = await cluster.run(async () => {
    const ch = vm.rdmaCm.createEventChannel();
    const id = await ch.createId();
    await id.resolveAddr({ ip: C.os.rdmaCm.ip, port: 7471 });
    (await ch.getEvent()).ack();
    return await cluster.migrate(vm, B).then(() => "moved", (e) => (e as Error).message);
  });
  assert.equal(
    refusal,
    "EOPNOTSUPP: migrate vm0 from A to B: vm0's kernel rdma_cm service holds a UD QP and " +
      "address handles on its device (a guest that has used rdma_cm does not move)",
  );
  assert.equal(vm.hostName, "A");
  checkAudits([A, B, C]);
});

/**
 * `mr.dereg()` means the same in every placement (issue 11, point 2; DESIGN
 * §9 invariant 11; IBTA 10.6.3.3 and ibv_dereg_mr(3): once deregistration
 * returns, the region's L_Key and R_Key are invalid). A program on bare
 * metal, in a bypass guest and in a split guest — each with its default
 * registration setting, which in a guest is the registration cache —
 * registers a buffer, deregisters it, and then:
 *
 * - a peer's RDMA WRITE with the old rkey completes with REM_ACCESS_ERR and
 *   the target is untouched;
 * - a local RDMA WRITE whose source names the old lkey completes with
 *   LOC_PROT_ERR and nothing reaches the peer;
 *
 * exactly as on bare metal, measured in the same test. In the guests dom0
 * meanwhile keeps the page's grant mapped (the cache), and registering the
 * buffer again costs no grant map and yields working keys.
 */
import assert from "node:assert/strict";
import {
  Access,
  Cluster,
  connectPair,
  type Domain,
  type Host,
  QpState,
  QpType,
  SendFlags,
  WcStatus,
  WrOpcode,
  type XenGuest,
} from "../mod.ts";
import { xenOf } from "./xenib_support.ts";
import { OP } from "../hca/opcode.ts";

const ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;
const LEN = 4096;

async function side(dom: Domain) {
  const ctx = await dom.openDevice();
  const pd = await ctx.allocPd();
  const cq = await ctx.createCq(16);
  const buf = dom.memory.alloc(2 * LEN, 4096);
  const src = await pd.regMr(buf + LEN, LEN, ACCESS); // a region that stays registered
  const newQp = () =>
    pd.createQp({
      type: QpType.RC,
      sendCq: cq,
      recvCq: cq,
      cap: { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 },
    });
  return { dom, ctx, pd, cq, buf, src, newQp, lid: ctx.queryPort(1).lid };
}

async function write(
  from: Awaited<ReturnType<typeof side>>,
  qp: Awaited<ReturnType<Awaited<ReturnType<typeof side>>["newQp"]>>,
  local: { addr: number; lkey: number },
  remote: { addr: number; rkey: number },
): Promise<number> {
  qp.postSend({
    wrId: 1n,
    opcode: WrOpcode.RDMA_WRITE,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: local.addr, length: 64, lkey: local.lkey }],
    remoteAddr: remote.addr,
    rkey: remote.rkey,
  });
  const [wc] = await from.cq.pollUntil(1);
  return wc.status;
}

/** What the old keys of a deregistered region do, seen from `dom` and a bare-metal peer. */
async function probe(dom: Domain, peerDom: Domain) {
  const me = await side(dom), peer = await side(peerDom);
  dom.memory.write(me.buf, new Uint8Array(LEN).fill(0x11));
  const mr = await me.pd.regMr(me.buf, LEN, ACCESS);
  const old = { addr: me.buf, lkey: mr.lkey, rkey: mr.rkey };
  await mr.dereg();

  // The peer writes through the old rkey: refused by the responder, target untouched.
  const [qa, qb] = [await me.newQp(), await peer.newQp()];
  await connectPair({ qp: qa, lid: me.lid }, { qp: qb, lid: peer.lid }, {
    accessFlags: Access.REMOTE_WRITE,
  });
  peerDom.memory.write(peer.buf + LEN, new Uint8Array(64).fill(0xee));
  const remote = await write(peer, qb, { addr: peer.buf + LEN, lkey: peer.src.lkey }, old);
  const untouched = dom.memory.read(me.buf, LEN).every((b) => b === 0x11);

  // A local RDMA WRITE whose source is the old lkey: a local protection error, nothing sent.
  const [qc, qd] = [await me.newQp(), await peer.newQp()];
  await connectPair({ qp: qc, lid: me.lid }, { qp: qd, lid: peer.lid }, {
    accessFlags: Access.REMOTE_WRITE,
  });
  peerDom.memory.write(peer.buf, new Uint8Array(64));
  const local = await write(me, qc, old, { addr: peer.buf, rkey: peer.src.rkey });
  const nothingSent = peerDom.memory.read(peer.buf, 64).every((b) => b === 0);
  return { me, remote, local, untouched, nothingSent };
}

/** A Xen host with a bypass and a split guest, a bare-metal host, and a bare-metal peer. */
async function world() {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 5 });
  const xen = cluster.addHost({ name: "xen0", hypervisor: true });
  const bare = cluster.addHost({ name: "bare0", hypervisor: false });
  const peerHost = cluster.addHost({ name: "bare1", hypervisor: false });
  await cluster.start();
  const bypass = await xen.createGuest({ name: "bypass", driver: "bypass" }) as XenGuest;
  const split = await xen.createGuest({ name: "split", driver: "split" }) as XenGuest;
  return { cluster, xen, bare, peerHost, bypass, split };
}

/**
 * Run `body` in each placement (bare metal, a bypass guest, a split guest), each against the
 * bare-metal peer, in one cluster run; then the guests shut down and the Xen host's audit must
 * find nothing.
 */
async function inEveryPlacement(
  body: (name: string, dom: Domain, cluster: Cluster, peerDom: Domain) => Promise<void>,
): Promise<void> {
  const { cluster, xen, bare, peerHost, bypass, split } = await world();
  await cluster.run(async () => {
    for (
      const [name, dom] of [["native", bare.os], ["bypass", bypass], ["split", split]] as const
    ) {
      await body(name, dom, cluster, peerHost.os);
    }
  });
  await bypass.shutdown();
  await split.shutdown();
  assert.deepEqual(xen.audit(), []);
}

Deno.test("dereg: the old lkey and rkey fail at once, in bypass and split guests exactly as on bare metal", async () => {
  const { cluster, xen, bare, peerHost, bypass, split } = await world();
  await cluster.run(async () => {
    const results: Record<string, Awaited<ReturnType<typeof probe>>> = {};
    for (
      const [name, dom] of [["native", bare.os], ["bypass", bypass], ["split", split]] as const
    ) {
      results[name] = await probe(dom, peerHost.os);
    }
    const native = results.native;
    assert.deepEqual([native.remote, native.local], [
      WcStatus.REM_ACCESS_ERR,
      WcStatus.LOC_PROT_ERR,
    ]);
    for (const name of ["native", "bypass", "split"]) {
      const r = results[name];
      assert.equal(r.remote, native.remote, `${name}: a peer's write with the old rkey`);
      assert.equal(r.local, native.local, `${name}: a local op with the old lkey`);
      assert.ok(r.untouched, `${name}: the deregistered buffer is untouched`);
      assert.ok(r.nothingSent, `${name}: nothing left through the old lkey`);
    }
    // The guests registered with the cache: dom0 still maps the deregistered page...
    for (const g of [bypass, split]) {
      const back = xenOf(xen).backend!.instances().get(g.domid!)!;
      assert.equal(back.grants.cachedIdle, 1, `${g.name}: dom0 keeps the grant mapped`);
      // ...and registering it again maps nothing: only the MTT and MPT are written, new keys.
      const maps = xen.counters().grantMaps;
      const me = results[g.mode];
      const again = await me.me.pd.regMr(me.me.buf, LEN, ACCESS);
      assert.equal(xen.counters().grantMaps, maps, `${g.name}: no grant map on re-registration`);
      assert.equal(back.grants.cachedIdle, 0);
      await again.dereg();
    }
  });
  await bypass.shutdown();
  await split.shutdown();
  assert.deepEqual(xen.audit(), []);
});

Deno.test("dereg: without the registration cache a guest's region gives its grants back at once", async () => {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 5 });
  const xen: Host = cluster.addHost({ name: "xen0", hypervisor: true });
  await cluster.start();
  const vm = await xen.createGuest({ name: "vm", driver: "bypass", regCache: false }) as XenGuest;
  await cluster.run(async () => {
    const ctx = await vm.openDevice();
    const pd = await ctx.allocPd();
    const buf = vm.memory.alloc(8 * 4096, 4096);
    const maps = xen.counters().grantMaps;
    const mr = await pd.regMr(buf, 8 * 4096, ACCESS);
    await mr.dereg();
    const back = xenOf(xen).backend!.instances().get(vm.domid!)!;
    assert.equal(back.grants.mapped, 2, "only the two ring pages stay mapped");
    assert.equal(vm.front.persistent.size, 0);
    await (await pd.regMr(buf, 8 * 4096, ACCESS)).dereg();
    assert.equal(xen.counters().grantMaps, maps + 16, "every registration maps every page");
  });
  await vm.shutdown();
  assert.deepEqual(xen.audit(), []);
});

/** Bytes of the transfers deregistered under way: 128 packets of the 2 KiB MTU. */
const BIG = 256 * 1024;

/**
 * A peer's RDMA WRITE into, or RDMA READ from, a region of `dom` that `dom`
 * deregisters once the transfer is seen under way (the first bytes landed
 * in the written buffer). Returns the peer's completion status and whether
 * the last bytes of the written buffer are still as they were.
 */
async function derefUnderWay(
  cluster: Cluster,
  dom: Domain,
  peerDom: Domain,
  op: typeof WrOpcode.RDMA_WRITE | typeof WrOpcode.RDMA_READ,
) {
  const me = await side(dom), peer = await side(peerDom);
  const mine = dom.memory.alloc(BIG, 4096);
  const theirs = peerDom.memory.alloc(BIG, 4096);
  dom.memory.write(mine, new Uint8Array(BIG).fill(0x11));
  peerDom.memory.write(theirs, new Uint8Array(BIG).fill(0x22));
  const mr = await me.pd.regMr(mine, BIG, ACCESS);
  const local = await peer.pd.regMr(theirs, BIG, ACCESS);
  const [qa, qb] = [await me.newQp(), await peer.newQp()];
  await connectPair({ qp: qa, lid: me.lid }, { qp: qb, lid: peer.lid }, {
    accessFlags: Access.REMOTE_WRITE | Access.REMOTE_READ,
    maxRdAtomic: 1,
    maxDestRdAtomic: 1,
  });
  // The buffer the transfer writes, and the byte that shows it is under way.
  const [landing, landingDom, before] = op === WrOpcode.RDMA_WRITE
    ? [mine, dom, 0x11]
    : [theirs, peerDom, 0x22];
  const owner = cluster.spawn("owner", async () => {
    while (landingDom.memory.read(landing, 1)[0] === before) await cluster.sleep(1_000);
    await mr.dereg();
  });
  qb.postSend({
    wrId: 7n,
    opcode: op,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: theirs, length: BIG, lkey: local.lkey }],
    remoteAddr: mine,
    rkey: mr.rkey,
  });
  const [wc] = await peer.cq.pollUntil(1);
  await owner;
  const tail = landingDom.memory.read(landing + BIG - 64, 64);
  return { status: wc.status, tailUntouched: tail.every((b) => b === before) };
}

Deno.test("dereg: a region deregistered while a peer's WRITE or READ is under way refuses the rest (REM_ACCESS_ERR) in every placement", async () => {
  // IBTA vol 1 §10.6.3.3: once deregistration returns the R_Key is invalid,
  // for the packets of a message already under way too (Linux rxe checks the
  // key for every packet of a WRITE and every response of a READ). Neither
  // side may report success for a transfer the region did not take part in.
  await inEveryPlacement(async (name, dom, cluster, peerDom) => {
    const w = await derefUnderWay(cluster, dom, peerDom, WrOpcode.RDMA_WRITE);
    assert.equal(w.status, WcStatus.REM_ACCESS_ERR, `${name}: WRITE into a deregistered region`);
    assert.ok(w.tailUntouched, `${name}: nothing written after deregistration`);
    const r = await derefUnderWay(cluster, dom, peerDom, WrOpcode.RDMA_READ);
    assert.equal(r.status, WcStatus.REM_ACCESS_ERR, `${name}: READ of a deregistered region`);
    assert.ok(r.tailUntouched, `${name}: no bytes read after deregistration`);
  });
});

/** One side of the sweeps: `side`'s device objects, buffer and QP maker. */
type Side = Awaited<ReturnType<typeof side>>;
/** A QP of {@link Side.newQp}. */
type SideQp = Awaited<ReturnType<Side["newQp"]>>;

/** A round of {@link aroundDereg}: what its post runs against. */
interface DeregRound {
  /** ns between the start of the deregistration and this round's post */
  d: number;
  /** the region being deregistered (`bytes` of `me.buf`) */
  mr: Awaited<ReturnType<Side["pd"]["regMr"]>>;
  /** `me`'s QP and the peer's, connected */
  qa: SideQp;
  qb: SideQp;
  /** the deregistration: settles when it returned, with the ns it took */
  owner: Promise<number>;
}

/**
 * The sweep the tests below share: for every `d` from 0 to 1 µs past how long deregistering
 * `bytes` of `me.buf` takes, in `step` ns, register that region again (`reset` first), connect a
 * fresh QP pair (`connect`), let `prepare` post what must be there before (receives), start the
 * deregistration (`returned` runs the moment it returns), and `d` ns later run `round`, which
 * posts, waits and reports; then both QPs go (`settled` runs after).
 */
async function aroundDereg<T>(
  cluster: Cluster,
  me: Side,
  peer: Side,
  o: {
    bytes: number;
    access: number;
    connect: Parameters<typeof connectPair>[2];
    step: number;
    reset?: () => void;
    prepare?: (mr: DeregRound["mr"], qa: SideQp, qb: SideQp) => void;
    returned?: () => void;
    settled?: () => void;
  },
  round: (r: DeregRound) => Promise<T>,
): Promise<{ seen: T[]; deregNs: number }> {
  const t0 = cluster.now;
  await (await me.pd.regMr(me.buf, o.bytes, o.access)).dereg();
  const deregNs = cluster.now - t0;
  const seen: T[] = [];
  for (let d = 0; d <= deregNs + 1_000; d += o.step) {
    o.reset?.();
    const mr = await me.pd.regMr(me.buf, o.bytes, o.access);
    const [qa, qb] = [await me.newQp(), await peer.newQp()];
    await connectPair({ qp: qa, lid: me.lid }, { qp: qb, lid: peer.lid }, o.connect);
    o.prepare?.(mr, qa, qb);
    const owner = cluster.spawn("owner", async () => {
      const t = cluster.now;
      await mr.dereg();
      o.returned?.();
      return cluster.now - t;
    });
    await cluster.sleep(d);
    seen.push(await round({ d, mr, qa, qb, owner }));
    await qa.destroy();
    await qb.destroy();
    o.settled?.();
  }
  return { seen, deregNs };
}

/** The step of the sweeps below, ns. */
const STEP = 100;

/**
 * A peer's atomic into a region of `dom`, posted `d` ns after `dom` started deregistering it,
 * for every `d` from 0 to past the deregistration's end in `step` ns: each one's status and
 * whether the target changed.
 */
async function atomicsAroundDereg(cluster: Cluster, dom: Domain, peerDom: Domain, step: number) {
  const me = await side(dom), peer = await side(peerDom);
  const { seen } = await aroundDereg(cluster, me, peer, {
    bytes: 64,
    access: ACCESS | Access.REMOTE_ATOMIC,
    connect: {
      accessFlags: Access.REMOTE_ATOMIC,
      maxRdAtomic: 1,
      maxDestRdAtomic: 1,
      timeout: 8,
      retryCnt: 1,
    },
    step,
    reset: () => dom.memory.write(me.buf, new Uint8Array(8)),
  }, async ({ d, mr, qb, owner }) => {
    qb.postSend({
      wrId: 9n,
      opcode: WrOpcode.ATOMIC_FETCH_AND_ADD,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: peer.buf + LEN, length: 8, lkey: peer.src.lkey }],
      remoteAddr: me.buf,
      rkey: mr.rkey,
      compareAdd: 1n,
    });
    const [wc] = await peer.cq.pollUntil(1);
    await owner;
    return { d, status: wc.status, changed: dom.memory.read(me.buf, 8)[0] !== 0 };
  });
  return seen;
}

Deno.test("dereg: a peer's atomic around the deregistration of its target either runs (SUCCESS) or is refused (REM_ACCESS_ERR), in every placement", async () => {
  // An atomic checked after HW2SW_MPT began is an R_Key violation (a Remote Access Error NAK,
  // the QP to error; Linux rxe_resp.c atomic_reply likewise); one checked before runs, its DMA
  // read translated at once, and the deregistration waits for it (mthca_free_mr's HW2SW_MPT).
  // Earlier the responder dropped a refused atomic and never answered: the requester retried
  // until RETRY_EXC_ERR, and the responder's later responses waited behind it for ever.
  await inEveryPlacement(async (name, dom, cluster, peerDom) => {
    const seen = await atomicsAroundDereg(cluster, dom, peerDom, STEP);
    for (const s of seen) {
      assert.ok(
        s.status === WcStatus.SUCCESS || s.status === WcStatus.REM_ACCESS_ERR,
        `${name}: the atomic posted ${s.d} ns into the deregistration completed ${s.status}`,
      );
      assert.equal(s.changed, s.status === WcStatus.SUCCESS, `${name}: ${s.d} ns`);
    }
    const statuses = new Set(seen.map((s) => s.status));
    assert.deepEqual(statuses, new Set([WcStatus.SUCCESS, WcStatus.REM_ACCESS_ERR]), name);
  });
});

/**
 * `dom`'s RDMA READ of `BIG` bytes from a peer into a region of its own that it deregisters
 * once the first bytes landed: the READ's completion, and whether the buffer's last bytes are
 * still as they were.
 */
async function localDerefUnderWay(cluster: Cluster, dom: Domain, peerDom: Domain) {
  const me = await side(dom), peer = await side(peerDom);
  const mine = dom.memory.alloc(BIG, 4096);
  const theirs = peerDom.memory.alloc(BIG, 4096);
  dom.memory.write(mine, new Uint8Array(BIG).fill(0x11));
  peerDom.memory.write(theirs, new Uint8Array(BIG).fill(0x22));
  const mr = await me.pd.regMr(mine, BIG, ACCESS);
  const remote = await peer.pd.regMr(theirs, BIG, ACCESS);
  const [qa, qb] = [await me.newQp(), await peer.newQp()];
  await connectPair({ qp: qa, lid: me.lid }, { qp: qb, lid: peer.lid }, {
    accessFlags: Access.REMOTE_READ,
    maxRdAtomic: 1,
    maxDestRdAtomic: 1,
  });
  const owner = cluster.spawn("owner", async () => {
    while (dom.memory.read(mine, 1)[0] === 0x11) await cluster.sleep(1_000);
    await mr.dereg();
  });
  qa.postSend({
    wrId: 8n,
    opcode: WrOpcode.RDMA_READ,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: mine, length: BIG, lkey: mr.lkey }],
    remoteAddr: theirs,
    rkey: remote.rkey,
  });
  const [wc] = await me.cq.pollUntil(1);
  await owner;
  const tail = dom.memory.read(mine + BIG - 64, 64);
  return { wc, tailUntouched: tail.every((b) => b === 0x11) };
}

Deno.test("dereg: an RDMA READ whose own region is deregistered while its responses arrive completes LOC_PROT_ERR, in every placement", async () => {
  // IBTA vol 1 §10.6.3.3: once deregistration returns the L_Key is invalid, for the responses
  // of a READ already under way too; Linux rxe_comp.c do_read places each response with
  // copy_data through the key and completes the WQE with LOC_PROT_ERR when that fails. Before,
  // the responses after the deregistration were dropped and the READ completed SUCCESS with
  // its whole length, its buffer's tail never written.
  await inEveryPlacement(async (name, dom, cluster, peerDom) => {
    const { wc, tailUntouched } = await localDerefUnderWay(cluster, dom, peerDom);
    assert.deepEqual([wc.wrId, wc.status], [8n, WcStatus.LOC_PROT_ERR], name);
    assert.ok(tailUntouched, `${name}: nothing placed after deregistration`);
  });
});

/**
 * `dom`'s atomic into a peer's region, its result buffer a region of `dom`'s that it started
 * deregistering `d` ns before posting, for every `d` from 0 to past the deregistration's end
 * in `step` ns: each one's status and whether the result buffer was written.
 */
async function atomicResultsAroundDereg(
  cluster: Cluster,
  dom: Domain,
  peerDom: Domain,
  step: number,
) {
  const me = await side(dom), peer = await side(peerDom);
  const target = await peer.pd.regMr(peer.buf, 64, ACCESS | Access.REMOTE_ATOMIC);
  const { seen } = await aroundDereg(cluster, me, peer, {
    bytes: 64,
    access: ACCESS,
    connect: { accessFlags: Access.REMOTE_ATOMIC, maxRdAtomic: 1, maxDestRdAtomic: 1 },
    step,
    reset: () => dom.memory.write(me.buf, new Uint8Array(8).fill(0xee)),
  }, async ({ d, mr, qa, owner }) => {
    qa.postSend({
      wrId: 10n,
      opcode: WrOpcode.ATOMIC_FETCH_AND_ADD,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: me.buf, length: 8, lkey: mr.lkey }],
      remoteAddr: peer.buf,
      rkey: target.rkey,
      compareAdd: 1n,
    });
    const [wc] = await me.cq.pollUntil(1);
    await owner;
    return { d, status: wc.status, written: dom.memory.read(me.buf, 1)[0] !== 0xee };
  });
  return seen;
}

Deno.test("dereg: an atomic whose own result region is deregistered before its answer completes LOC_PROT_ERR, in every placement", async () => {
  // As the READ above: Linux rxe_comp.c do_atomic writes the original value with copy_data
  // through the L_Key and completes LOC_PROT_ERR when that fails. Before, an answer arriving
  // after the deregistration was dropped and the atomic completed SUCCESS, its result never
  // written.
  await inEveryPlacement(async (name, dom, cluster, peerDom) => {
    const seen = await atomicResultsAroundDereg(cluster, dom, peerDom, STEP);
    for (const s of seen) {
      const at = `${name}: the atomic posted ${s.d} ns into the deregistration`;
      assert.ok(
        s.status === WcStatus.SUCCESS || s.status === WcStatus.LOC_PROT_ERR,
        `${at} completed ${s.status}`,
      );
      if (s.status === WcStatus.LOC_PROT_ERR) assert.ok(!s.written, `${at}: result written`);
    }
    // Never a SUCCESS without its result: an answer checked just before the key went lands
    // (the deregistration completes only after it). Before, one write's latency of answers
    // completed SUCCESS with the result dropped at landing (5.2 us on bare metal before that).
    const lost = seen.filter((s) => s.status === WcStatus.SUCCESS && !s.written);
    assert.deepEqual(lost.map((s) => s.d), [], `${name}: SUCCESS without the result`);
    const statuses = new Set(seen.map((s) => s.status));
    assert.deepEqual(statuses, new Set([WcStatus.SUCCESS, WcStatus.LOC_PROT_ERR]), name);
  });
});

Deno.test("dereg: a peer's READ asked again after the region was deregistered gets REM_ACCESS_ERR in every placement", async () => {
  // The READ is served once, its response lost, the region deregistered, the READ asked again: a
  // duplicate READ is executed again, R_Key check included (IBTA vol 1 §9.7.5.2.5; Linux rxe's
  // read_reply rechecks the key of a replay), so the peer gets a Remote Access Error, not
  // RETRY_EXC_ERR after retries the responder drops in silence.
  await inEveryPlacement(async (name, dom, cluster, peerDom) => {
    const me = await side(dom), peer = await side(peerDom);
    const mr = await me.pd.regMr(me.buf, LEN, ACCESS);
    const [qa, qb] = [await me.newQp(), await peer.newQp()];
    await connectPair({ qp: qa, lid: me.lid }, { qp: qb, lid: peer.lid }, {
      accessFlags: Access.REMOTE_READ,
      timeout: 10,
      retryCnt: 3,
    });
    const lose = cluster.fabric.addFault({
      kind: "drop",
      dlid: peer.lid,
      opcode: OP.RC_RDMA_READ_RESPONSE_ONLY,
      probability: 1,
      limit: 1,
    });
    qb.postSend({
      wrId: 9n,
      opcode: WrOpcode.RDMA_READ,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: peer.src.addr, length: 64, lkey: peer.src.lkey }],
      remoteAddr: me.buf,
      rkey: mr.rkey,
    });
    await cluster.sleep(100_000); // served once, the response lost
    lose();
    await mr.dereg();
    const [wc] = await peer.cq.pollUntil(1);
    assert.equal(wc.status, WcStatus.REM_ACCESS_ERR, `${name}: READ asked again`);
    assert.equal((await qa.query()).state, QpState.ERR, `${name}: the responder's QP`);
  });
});

/**
 * A peer's SEND into a receive buffer of `dom`'s (or its RDMA WRITE with immediate into a
 * region of `dom`'s), posted `d` ns after `dom` started deregistering that region, for every
 * `d` from 0 to past the deregistration's end in `step` ns: both completions, whether the bytes
 * landed, and whether they had landed when the deregistration returned.
 */
async function sendsAroundDereg(
  cluster: Cluster,
  dom: Domain,
  peerDom: Domain,
  op: typeof WrOpcode.SEND | typeof WrOpcode.RDMA_WRITE_WITH_IMM,
  step: number,
) {
  const N = 256;
  const me = await side(dom), peer = await side(peerDom);
  peerDom.memory.write(peer.buf + LEN, new Uint8Array(N).fill(0xee));
  const arrived = () => dom.memory.read(me.buf, N).every((b) => b === 0xee);
  let landedAtReturn = false;
  const { seen } = await aroundDereg(cluster, me, peer, {
    bytes: N,
    access: ACCESS,
    connect: { accessFlags: Access.REMOTE_WRITE },
    step,
    reset: () => dom.memory.write(me.buf, new Uint8Array(N).fill(0x11)),
    prepare: (mr, qa) => {
      landedAtReturn = false;
      qa.postRecv({
        wrId: 3n,
        sgList: op === WrOpcode.SEND
          ? [{ addr: me.buf, length: N, lkey: mr.lkey }]
          : [{ addr: me.buf + LEN, length: 64, lkey: me.src.lkey }],
      });
    },
    returned: () => (landedAtReturn = arrived()),
  }, async ({ d, mr, qb, owner }) => {
    qb.postSend({
      wrId: 4n,
      opcode: op,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: peer.buf + LEN, length: N, lkey: peer.src.lkey }],
      remoteAddr: me.buf,
      rkey: mr.rkey,
      immData: 0x1234,
    });
    const [sent] = await peer.cq.pollUntil(1);
    const [received] = await me.cq.pollUntil(1);
    await owner;
    return { d, sent: sent.status, received: received.status, landed: arrived(), landedAtReturn };
  });
  return seen;
}

Deno.test("dereg: a SEND or WRITE with immediate whose DMA write is under way when its region is deregistered lands before the deregistration returns, in every placement", async () => {
  // Linux mthca_free_mr issues HW2SW_MPT and unpins the pages (ib_umem_release) only after
  // the command returns; the firmware completes it once the HCA no longer uses the entry, and
  // the device's posted writes are ordered before the command's completion. So a write already
  // translated lands before ibv_dereg_mr returns, and a request arriving after the command
  // began is refused. Before, the model dropped such a write when it landed: a SEND completed
  // SUCCESS on both sides with the bytes never placed, and a WRITE with immediate completed
  // REM_ACCESS_ERR for the requester after the responder's receive completed SUCCESS.
  await inEveryPlacement(async (name, dom, cluster, peerDom) => {
    for (const op of [WrOpcode.SEND, WrOpcode.RDMA_WRITE_WITH_IMM] as const) {
      const seen = await sendsAroundDereg(cluster, dom, peerDom, op, STEP);
      for (const s of seen) {
        const at = `${name} op ${op} posted ${s.d} ns into the deregistration`;
        assert.equal(s.sent === WcStatus.SUCCESS, s.received === WcStatus.SUCCESS, at);
        assert.equal(s.received === WcStatus.SUCCESS, s.landed, `${at}: bytes placed`);
        assert.equal(s.landed, s.landedAtReturn, `${at}: placed before dereg returned`);
      }
      const ok = seen.filter((s) => s.sent === WcStatus.SUCCESS).length;
      assert.ok(ok > 0 && ok < seen.length, `${name} op ${op}: the sweep crosses the dereg`);
    }
  });
});

/**
 * A SEND or RDMA WRITE from a region of `dom`'s to a peer, posted `d` ns after `dom` started
 * deregistering that region, for every `d` from 0 to past the deregistration's end in `step`
 * ns: its completion, whether the peer got the bytes, and whether the payload had been read
 * (the peer had them) when the deregistration returned.
 */
async function sourcesAroundDereg(
  cluster: Cluster,
  dom: Domain,
  peerDom: Domain,
  op: typeof WrOpcode.SEND | typeof WrOpcode.RDMA_WRITE,
  step: number,
) {
  const N = 256;
  const me = await side(dom), peer = await side(peerDom);
  dom.memory.write(me.buf, new Uint8Array(N).fill(0x77));
  const target = peer.buf + LEN;
  const arrived = () => peerDom.memory.read(target, N).every((b) => b === 0x77);
  return await aroundDereg(cluster, me, peer, {
    bytes: N,
    access: ACCESS,
    connect: { accessFlags: Access.REMOTE_WRITE },
    step,
    reset: () => peerDom.memory.write(target, new Uint8Array(N)),
    prepare: (_mr, _qa, qb) => {
      if (op === WrOpcode.SEND) {
        qb.postRecv({ wrId: 3n, sgList: [{ addr: target, length: N, lkey: peer.src.lkey }] });
      }
    },
    settled: () => assert.deepEqual(peer.cq.poll(4), [], "no completion left at the peer"),
  }, async ({ d, mr, qa, owner }) => {
    qa.postSend({
      wrId: 4n,
      opcode: op,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: me.buf, length: N, lkey: mr.lkey }],
      remoteAddr: target,
      rkey: peer.src.rkey,
    });
    const [wc] = await me.cq.pollUntil(1);
    let peerOk = true;
    if (op === WrOpcode.SEND && wc.status === WcStatus.SUCCESS) {
      peerOk = (await peer.cq.pollUntil(1))[0].status === WcStatus.SUCCESS;
    }
    const took = await owner;
    return { d, status: wc.status, sent: arrived(), peerOk, took };
  });
}

Deno.test("dereg: a SEND or RDMA WRITE whose payload read is under way when its source region is deregistered is sent, the deregistration waiting for the read, in every placement", async () => {
  // The device translates the gather list as it issues the payload's DMA read; HW2SW_MPT
  // completes once the HCA no longer uses the entry, and Linux mthca_free_mr's caller unpins
  // the pages (ib_umem_release) only after the command returns. So a read issued before the
  // deregistration began is sent, SUCCESS; one issued after finds the L_Key gone (LOC_PROT_ERR,
  // nothing sent). Before, the requester re-checked the key when the read's data arrived and
  // failed such a WR with LOC_PROT_ERR although its read had been issued first.
  await inEveryPlacement(async (name, dom, cluster, peerDom) => {
    for (const op of [WrOpcode.SEND, WrOpcode.RDMA_WRITE] as const) {
      const { seen } = await sourcesAroundDereg(cluster, dom, peerDom, op, STEP);
      for (const s of seen) {
        const at = `${name} op ${op} posted ${s.d} ns into the deregistration`;
        assert.ok(
          s.status === WcStatus.SUCCESS || s.status === WcStatus.LOC_PROT_ERR,
          `${at}: status ${s.status}`,
        );
        assert.equal(s.status === WcStatus.SUCCESS, s.sent, `${at}: bytes sent`);
        assert.ok(s.peerOk, `${at}: the peer's receive`);
      }
      // Posted later is never better: SUCCESS up to a point, LOC_PROT_ERR after it.
      const firstErr = seen.findIndex((s) => s.status !== WcStatus.SUCCESS);
      assert.ok(firstErr > 0, `${name} op ${op}: the sweep crosses the dereg`);
      assert.ok(
        seen.slice(firstErr).every((s) => s.status === WcStatus.LOC_PROT_ERR),
        `${name} op ${op}: ${JSON.stringify(seen.map((s) => [s.d, s.status]))}`,
      );
      // The deregistration took longer than its least only for a WR whose read it waited for,
      // and such a WR exists. In split the guest's post and its dereg both pass dom0's
      // backend, which takes them one at a time: the read is done before HW2SW_MPT runs, or
      // issued after it; the backend's own work varies the time, so this is not checked there.
      if (name === "split") continue;
      const least = Math.min(...seen.map((s) => s.took));
      const waited = seen.filter((s) => s.took > least);
      const trace = JSON.stringify(seen.map((s) => [s.d, s.status, s.took]));
      assert.ok(waited.length > 0, `${name} op ${op}: the dereg never waited: ${trace}`);
      assert.ok(waited.every((s) => s.status === WcStatus.SUCCESS), `${name} op ${op}: ${trace}`);
    }
  });
});

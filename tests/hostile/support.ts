/**
 * Shared scaffolding of the hostile-guest suite (`tests/hostile/`, one file
 * per family of attacks; docs/security.md lists them).
 *
 * The freed-frame attacks (issue 11, point 1) use {@link world}: an attacker
 * guest on a Xen host with a peer on a bare-metal host, a victim guest that
 * boots after the attacker gave a registered page back, and the probes
 * every attack runs — the attacker's old lkey through local operations,
 * its peer through the old rkey, the victim's memory by checksum, the
 * teardowns, the counts and the audits.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type Cluster,
  type Context,
  type Domain,
  type Host,
  SendFlags,
  WcStatus,
  WrOpcode,
  type XenGuest,
} from "../../mod.ts";
import type { VibBack } from "../../drivers/back/vibback.ts";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import {
  cluster,
  connect,
  counts,
  type End,
  end,
  guest,
  rdmaWrite,
  xenOf,
} from "../xenib_support.ts";

/** What the attacker fills its page with before giving it back. */
export const ATTACKER_BYTE = 0xaa;
/** What the victim fills its memory with. */
export const VICTIM_BYTE = 0x5a;

/** A Xen host (h0) and a bare-metal host (h1), started, with h0's counts before any guest. */
export interface World {
  cluster: Cluster;
  xen: Host;
  bare: Host;
  /** `counts(xen)` and its allocated machine frames before any guest existed. */
  before: { counts: Record<string, unknown>; frames: number };
}

/** Build the {@link World}. */
export async function world(seed = 11): Promise<World> {
  const { cluster: c, hosts } = await cluster([true, false], seed);
  const xen = hosts[0];
  assert.deepEqual(xen.audit(), [], "clean after boot");
  return {
    cluster: c,
    xen,
    bare: hosts[1],
    before: { counts: counts(xen), frames: xen.hw.memory.allocated },
  };
}

/** The attacker: a bypass guest, one registered page `a.buf`, RC-connected to a bare-metal peer. */
export async function attacker(w: World): Promise<{ evil: XenGuest; a: End; peer: End }> {
  const evil = await guest(w.xen, "evil");
  const a = await end(evil, 4096);
  const peer = await end(w.bare.os);
  await connect(a, peer);
  evil.memory.write(a.buf, new Uint8Array(4096).fill(ATTACKER_BYTE));
  return { evil, a, peer };
}

/** Machine frame behind a domain's address. */
export function frameOf(dom: Domain, addr: number): number {
  return Math.floor(dom.space.translate(addr) / 4096);
}

/**
 * FNV-1a over every RAM page `dom` maps: its own memory and, for a guest,
 * its grant-table and shared-info frames (a frame handed out again lands
 * in any of them).
 */
export function checksum(dom: Domain): string {
  let h = 0x811c9dc5;
  const mem = dom.space.mem;
  const pages = [...dom.space.references()].filter((r) => !mem.isMmio(r.mfn))
    .sort((x, y) => x.pfn - y.pfn);
  for (const r of pages) {
    const f = mem.frame(r.mfn);
    h = Math.imul(h ^ r.pfn, 0x01000193);
    for (let i = 0; i < f.length; i++) h = Math.imul(h ^ f[i], 0x01000193);
  }
  return `${pages.length}:${(h >>> 0).toString(16)}`;
}

/**
 * The victim: a guest that boots after the attack, allocates `bytes`, fills
 * them with {@link VICTIM_BYTE} and opens its device. Asserts that none of
 * its frames is one the attacker still has registered.
 */
export async function victim(
  w: World,
  evil: XenGuest,
  kept: readonly number[],
  bytes = 1 << 20,
): Promise<{ vm: XenGuest; sum: string }> {
  const vm = await guest(w.xen, "victim");
  const ctx = await vm.openDevice();
  await ctx.allocPd();
  const buf = vm.memory.alloc(bytes, 4096);
  vm.memory.write(buf, new Uint8Array(bytes).fill(VICTIM_BYTE));
  const mine = new Set([...vm.space.references()].map((r) => r.mfn));
  for (const mfn of kept) {
    assert.equal(mine.has(mfn), false, `frame ${mfn} went to the victim while still registered`);
    assert.equal(
      w.xen.hw.memory.ownerOf(mfn),
      `dom${evil.domid}`,
      `frame ${mfn} is still the attacker's`,
    );
  }
  return { vm, sum: checksum(vm) };
}

/** One signaled RDMA operation from `from` (local buffer at `local` through `lkey`); its status. */
async function rdma(
  from: End,
  opcode: typeof WrOpcode.RDMA_WRITE | typeof WrOpcode.RDMA_READ,
  local: { addr: number; lkey: number },
  remote: { addr: number; rkey: number },
  length: number,
): Promise<number> {
  from.qp.postSend({
    wrId: 1n,
    opcode,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: local.addr, length, lkey: local.lkey }],
    remoteAddr: remote.addr,
    rkey: remote.rkey,
  });
  const [wc] = await from.cq.pollUntil(1);
  return wc.status;
}

/**
 * Everything the attacker's keys can reach after the page behind them was
 * given back: its old lkey in a local RDMA WRITE (the device reads the
 * page) and a local RDMA READ (the device writes it), its peer's RDMA WRITE
 * and READ with the old rkey. A key may still work (the region is still
 * registered) or fail with a protection error (it was deregistered); either
 * way no byte of the victim is
 * read or written: what the attacker's operations see is the old frame,
 * which is still the attacker's and is not the victim's.
 */
export async function probeOldKeys(
  w: World,
  atk: { a: End; peer: End },
  oldMfn: number,
  vic: { vm: Domain; sum: string },
): Promise<{ statuses: number[] }> {
  const { a, peer } = atk;
  const mem = w.xen.hw.memory;
  const bare = w.bare.os.memory;
  // A protection error moves the attacker's QP to error; a peer's request to it then goes
  // unanswered until the peer gives up (RETRY_EXC_ERR), as on a real HCA.
  const ok = (s: number) =>
    s === WcStatus.SUCCESS || s === WcStatus.LOC_PROT_ERR || s === WcStatus.REM_ACCESS_ERR ||
    s === WcStatus.WR_FLUSH_ERR || s === WcStatus.RETRY_EXC_ERR;
  const statuses: number[] = [];
  const len = 256;
  const old = { addr: a.buf, lkey: a.mr.lkey, rkey: a.mr.rkey };
  const theirs = { addr: peer.buf, lkey: peer.mr.lkey, rkey: peer.mr.rkey };
  const fill = (v: number) => new Uint8Array(len).fill(v);
  const step = (s: number, what: string) => {
    statuses.push(s);
    assert.ok(ok(s), `${what}: status ${s}`);
    return s === WcStatus.SUCCESS;
  };

  // 1. The device reads through the old lkey: what leaves is the attacker's own old bytes.
  bare.write(peer.buf, fill(0));
  const sent = step(
    await rdma(a, WrOpcode.RDMA_WRITE, old, theirs, len),
    "local read through the old lkey",
  );
  const got = bare.read(peer.buf, len);
  assert.ok(!got.includes(VICTIM_BYTE), "no byte of the victim left through the old lkey");
  if (sent) assert.deepEqual(got, fill(ATTACKER_BYTE));

  // 2. The device writes through the old lkey (an RDMA READ lands there).
  bare.write(peer.buf, fill(0x77));
  if (step(await rdma(a, WrOpcode.RDMA_READ, old, theirs, len), "local write, old lkey")) {
    assert.deepEqual(mem.read(oldMfn * 4096, len), fill(0x77));
  }
  assert.equal(checksum(vic.vm), vic.sum, "victim memory unchanged after the local write");

  // 3. The peer writes through the old rkey.
  bare.write(peer.buf, fill(0xee));
  if (step(await rdma(peer, WrOpcode.RDMA_WRITE, theirs, old, len), "remote write, old rkey")) {
    assert.deepEqual(mem.read(oldMfn * 4096, len), fill(0xee));
  }
  assert.equal(checksum(vic.vm), vic.sum, "victim memory unchanged after the remote write");

  // 4. The peer reads through the old rkey.
  const into = { ...theirs, addr: peer.buf + 4096 };
  bare.write(into.addr, fill(0));
  step(await rdma(peer, WrOpcode.RDMA_READ, into, old, len), "remote read, old rkey");
  const read = bare.read(into.addr, len);
  assert.ok(!read.includes(VICTIM_BYTE), "no byte of the victim read through the old rkey");
  assert.deepEqual(w.xen.audit(), [], "audit clean under attack");
  return { statuses };
}

/**
 * The end of every attack: the attacker goes (crash or clean shutdown)
 * without a fault, its kept frames go back to the heap once nothing
 * references them, the victim is untouched and shuts down, and the Xen
 * host is back to its counts before any guest existed, audit clean.
 */
export async function finish(
  w: World,
  evil: XenGuest,
  how: "crash" | "shutdown",
  kept: readonly number[],
  vic: { vm: XenGuest; sum: string },
): Promise<void> {
  const hv = xenOf(w.xen).hv;
  const mem = w.xen.hw.memory;
  if (how === "crash") evil.crash();
  else await evil.shutdown();
  await evil.whenDead();
  assert.equal(evil.xen.state, "dead");
  assert.equal(hv.counters().faults, 0, `no fault: ${hv.faultLog().join("; ")}`);
  assert.deepEqual(hv.hookErrors, [], "the backend's teardown threw nothing");
  for (const mfn of kept) {
    assert.notEqual(mem.ownerOf(mfn), `dom${evil.domid}`, `frame ${mfn} went back to the heap`);
  }
  assert.deepEqual(w.xen.audit(), [], "audit clean after the attacker is gone");
  assert.equal(checksum(vic.vm), vic.sum, "victim memory unchanged");
  await vic.vm.shutdown();
  assert.equal(vic.vm.xen.state, "dead");
  assert.equal(hv.counters().faults, 0);
  assert.deepEqual(counts(w.xen), w.before.counts, "every count back to before any guest");
  assert.equal(mem.allocated, w.before.frames, "every machine frame back");
  assert.deepEqual(w.xen.audit(), []);
  assert.deepEqual(w.bare.audit(), []);
}

// ---------------------------------------------------------------------------
// The scene every other family of attacks shares.

/**
 * A Xen host (h0) with a victim guest and an attacker guest, and a
 * bare-metal host (h1) with the victim's peer. The victim holds a
 * registered buffer (filled with {@link VICTIM_BYTE}) and a connected RC QP,
 * and stays idle while the attack runs, so its memory checksum must not
 * change. Built outside `cluster.run`; attacks run inside one.
 */
export interface Scene {
  cluster: Cluster;
  xen: Host;
  bare: Host;
  hv: Hypervisor;
  /** `counts(xen)` and allocated machine frames before any guest existed. */
  before: { counts: Record<string, unknown>; frames: number };
  victim: { vm: XenGuest; end: End; peer: End; sum: string };
  /** The attacker guest (bypass unless asked otherwise). */
  evil: XenGuest;
}

/** Build a {@link Scene}: the victim set up and connected, the attacker booted. */
export async function scene(
  o: {
    attacker?: "bypass" | "split";
    victim?: "bypass" | "split";
    seed?: number;
    /** Partitions of both hosts' ports, and the victim's and the attacker's (`pkeys`). */
    pkeys?: { hosts: number[]; victim: number[]; attacker: number[] };
  } = {},
): Promise<Scene> {
  const { cluster: c, hosts } = await cluster([true, false], o.seed ?? 11, o.pkeys?.hosts);
  const [xen, bare] = hosts;
  const before = { counts: counts(xen), frames: xen.hw.memory.allocated };
  const vm = await guest(xen, "victim", o.victim ?? "bypass", o.pkeys?.victim);
  const evil = await guest(xen, "evil", o.attacker ?? "bypass", o.pkeys?.attacker);
  const { e, peer } = await c.run(async () => {
    const e = await end(vm), peer = await end(bare.os);
    await connect(e, peer);
    vm.memory.write(e.buf, new Uint8Array(4096).fill(VICTIM_BYTE));
    return { e, peer };
  });
  assert.deepEqual(xen.audit(), [], "clean after setup");
  return {
    cluster: c,
    xen,
    bare,
    hv: xenOf(xen).hv,
    before,
    victim: { vm, end: e, peer, sum: checksum(vm) },
    evil,
  };
}

/** The frontend context id behind a guest's verbs context. */
export function ctxId(ctx: Context): number {
  const f = ctx.file as unknown as { inner?: { ctx: number }; ctx?: number };
  return f.inner?.ctx ?? f.ctx!;
}

/** A raw request from `vm`'s frontend (forged fields allowed); the backend's status. */
export async function raw(
  vm: XenGuest,
  a: {
    op: number;
    ctx: number;
    handle?: number;
    body?: Record<string, unknown>;
    segs?: number[];
    flags?: number;
    id?: number;
  },
  mutate?: (slot: DataView) => void,
): Promise<number | undefined> {
  const r = await vm.front.requestRaw({
    op: a.op,
    ctx: a.ctx,
    handle: a.handle ?? 0,
    body: a.body ?? {},
    segs: a.segs ?? [],
    flags: a.flags ?? 0,
    id: a.id,
  }, mutate);
  return r?.status;
}

/** The backend instance serving `vm`. */
export function backOf(s: Scene, vm: XenGuest): VibBack {
  return xenOf(s.xen).backend!.instances().get(vm.domid!)!;
}

/** `-errno` values the backend answers with. */
export const E = {
  EPERM: -1,
  ENOENT: -2,
  EIO: -5,
  E2BIG: -7,
  EBADF: -9,
  ENOMEM: -12,
  EACCES: -13,
  EFAULT: -14,
  EBUSY: -16,
  EEXIST: -17,
  EINVAL: -22,
  ENOSPC: -28,
  ENOSYS: -38,
  EOPNOTSUPP: -95,
} as const;

/**
 * Every case ends here. It asserts, in order: the victim's memory is
 * unchanged (checksum, taken while it was idle); the victim still
 * communicates both ways; dom0 still serves it (a control operation
 * succeeds); no hypervisor fault, no teardown-hook error, both audits clean;
 * then the attacker goes (crash or clean shutdown, or it is already dead),
 * the victim shuts down, and every count of the Xen host and every machine
 * frame is back to its value before any guest existed. Run inside
 * `cluster.run`. The attacker's own outcome (an errno, a disconnect) is the
 * case's to assert before.
 */
export async function verdict(
  s: Scene,
  o: { attacker?: "crash" | "shutdown" } = {},
): Promise<void> {
  const { victim: v, hv, xen } = s;
  assert.equal(checksum(v.vm), v.sum, "victim memory unchanged");
  // The victim still communicates: a write each way lands.
  v.vm.memory.write(v.end.buf + 8192, new Uint8Array(64).fill(0x21));
  assert.equal(
    await rdmaWrite({ ...v.end, buf: v.end.buf + 8192 }, v.peer, { length: 64 }),
    WcStatus.SUCCESS,
  );
  assert.deepEqual(s.bare.os.memory.read(v.peer.buf, 64), new Uint8Array(64).fill(0x21));
  s.bare.os.memory.write(v.peer.buf + 4096, new Uint8Array(64).fill(0x42));
  assert.equal(
    await rdmaWrite({ ...v.peer, buf: v.peer.buf + 4096 }, v.end, {
      length: 64,
      remoteAddr: v.end.buf + 4096,
    }),
    WcStatus.SUCCESS,
  );
  assert.deepEqual(v.vm.memory.read(v.end.buf + 4096, 64), new Uint8Array(64).fill(0x42));
  // dom0 still serves the victim's control path.
  const cq = await v.end.ctx.createCq(8);
  await cq.destroy();
  assert.equal(hv.counters().faults, 0, `no fault: ${hv.faultLog().join("; ")}`);
  assert.deepEqual(hv.hookErrors, [], "no teardown hook threw");
  assert.deepEqual(xen.audit(), [], "audit clean under attack");
  assert.deepEqual(s.bare.audit(), []);
  // The attacker goes; then the victim.
  if (s.evil.running) {
    if ((o.attacker ?? "crash") === "crash") s.evil.crash();
    else await s.evil.shutdown();
  }
  await s.evil.whenDead();
  assert.equal(s.evil.xen.state, "dead");
  assert.deepEqual(xen.audit(), [], "audit clean after the attacker is gone");
  await v.vm.shutdown();
  await v.peer.ctx.close();
  assert.equal(hv.counters().faults, 0);
  assert.deepEqual(hv.hookErrors, []);
  assert.deepEqual(counts(xen), s.before.counts, "every count back to before any guest");
  assert.equal(xen.hw.memory.allocated, s.before.frames, "every machine frame back");
  assert.deepEqual(xen.audit(), []);
  assert.deepEqual(s.bare.audit(), []);
}

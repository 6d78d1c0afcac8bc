/**
 * Shared setup of the freed-frame attacks (issue 11, point 1): an attacker
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
  type Domain,
  type Host,
  SendFlags,
  WcStatus,
  WrOpcode,
  type XenGuest,
} from "../../mod.ts";
import { cluster, connect, counts, type End, end, guest, xenOf } from "../xenib_support.ts";

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
 * registered, or kept by a registration cache) or fail with a protection
 * error (the keys were invalidated); either way no byte of the victim is
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
  const ok = (s: number) =>
    s === WcStatus.SUCCESS || s === WcStatus.LOC_PROT_ERR || s === WcStatus.REM_ACCESS_ERR ||
    s === WcStatus.WR_FLUSH_ERR;
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

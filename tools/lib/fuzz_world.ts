/**
 * The scene of a fuzz campaign (`deno task fuzz`): a Xen host with a victim
 * guest and two hostile guests (one bypass, one split), and a bare-metal
 * host where each guest's RC peer runs. The victim holds a registered
 * buffer and a connected QP and stays idle between checks, so any change to
 * its memory is someone else's doing.
 *
 * {@link FuzzWorld.check} is the full check the campaign runs every few
 * hundred attacks and at the end: no fault in the hypervisor, no error in a
 * teardown hook, the isolation audit of both hosts clean, the victim's
 * memory unchanged, the victim still communicating both ways and still
 * served by dom0. {@link FuzzWorld.finish} tears everything down and
 * requires every count back to its value before any guest existed.
 *
 * @module
 */
import {
  Access,
  Cluster,
  connectPair,
  type Context,
  type Cq,
  type Domain,
  type Host,
  type Mr,
  type Pd,
  type Qp,
  QpType,
  SendFlags,
  WcStatus,
  WrOpcode,
  type XenGuest,
  type XenPlatform,
} from "../../mod.ts";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import type { RequestArgs } from "../../drivers/front/vibfront.ts";
import { VIB_KEYS, type VibRequest } from "../../drivers/vib/mod.ts";
import { Prng } from "../../sim/prng.ts";
import { type Engine, WaitQueue } from "../../sim/engine.ts";

/** All remote rights and local write. */
const ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ |
  Access.REMOTE_ATOMIC;

/**
 * Run `fn` as a process and wait at most `ns` of virtual time for it.
 * `done` false means it is still running (and is left to run).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../../sim/engine.ts";
 * import { within } from "./fuzz_world.ts";
 * const e = new Engine();
 * const r = await e.run(() => within(e, 100, async () => { await e.sleep(500); return 1; }));
 * assert.deepEqual(r, { done: false });
 * ```
 */
export async function within<T>(
  engine: Engine,
  ns: number,
  fn: () => Promise<T>,
): Promise<{ done: true; value: T } | { done: false }> {
  const wq = new WaitQueue(engine, "fuzz: waiting for an answer");
  let out: { done: true; value: T } | undefined;
  let err: unknown;
  let failed = false;
  engine.spawn("fuzz request", fn).then(
    (value) => {
      out = { done: true, value };
      wq.notifyAll();
    },
    (e) => {
      failed = true;
      err = e;
      wq.notifyAll();
    },
  );
  const until = engine.now + ns;
  while (!out && !failed && engine.now < until) await wq.waitFor(until - engine.now);
  if (failed) throw err;
  return out ?? { done: false };
}

/**
 * A broken rule: what the campaign reports and stops at.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FuzzFailure } from "./fuzz_world.ts";
 * const e = new FuzzFailure("victim memory changed");
 * assert.equal(e.name, "FuzzFailure");
 * ```
 */
export class FuzzFailure extends Error {
  /** @param message the rule that broke, and how */
  constructor(message: string) {
    super(message);
    this.name = "FuzzFailure";
  }
}

/**
 * One end of an RC connection: a context, PD, CQ, registered buffer, QP.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FUZZ_BUF_BYTES, type FuzzEnd } from "./fuzz_world.ts";
 * const bufEnd = (e: FuzzEnd) => e.buf + FUZZ_BUF_BYTES;
 * assert.equal(bufEnd({ buf: 4096 } as FuzzEnd), 4096 + 16384);
 * ```
 */
export interface FuzzEnd {
  dom: Domain;
  ctx: Context;
  pd: Pd;
  cq: Cq;
  mr: Mr;
  buf: number;
  qp: Qp;
  lid: number;
}

/** An attacker's connection: short timeouts, few retries (its WQEs often go nowhere). */
const ATTACKER_CONNECT = {
  maxRdAtomic: 4,
  maxDestRdAtomic: 4,
  timeout: 8,
  retryCnt: 1,
  rnrRetry: 1,
  minRnrTimer: 1,
};

/** Virtual time a hostile guest has to die once it is crashed or shut down. */
const BURY_WITHIN_NS = 10_000_000_000;

/** Bytes of each end's registered buffer. */
export const FUZZ_BUF_BYTES = 16384;

async function openEnd(dom: Domain): Promise<FuzzEnd> {
  const ctx = await dom.openDevice(undefined, { regCache: false });
  const pd = await ctx.allocPd();
  const cq = await ctx.createCq(64);
  const buf = dom.memory.alloc(FUZZ_BUF_BYTES, 4096);
  const mr = await pd.regMr(buf, FUZZ_BUF_BYTES, ACCESS);
  const qp = await pd.createQp({
    type: QpType.RC,
    sendCq: cq,
    recvCq: cq,
    cap: { maxSendWr: 16, maxRecvWr: 16, maxSendSge: 2, maxRecvSge: 2, maxInlineData: 64 },
  });
  return { dom, ctx, pd, cq, mr, buf, qp, lid: ctx.queryPort(1).lid };
}

/** A signaled 64-byte RDMA WRITE of `byte`s from `from`'s buffer (at +8 KiB) to `to`'s; false unless it landed. */
export async function rdmaWrite(from: FuzzEnd, to: FuzzEnd, byte: number): Promise<boolean> {
  from.dom.memory.write(from.buf + 8192, new Uint8Array(64).fill(byte));
  from.qp.postSend({
    wrId: 1n,
    opcode: WrOpcode.RDMA_WRITE,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: from.buf + 8192, length: 64, lkey: from.mr.lkey }],
    remoteAddr: to.buf,
    rkey: to.mr.rkey,
  });
  const [wc] = await from.cq.pollUntil(1);
  return wc.status === WcStatus.SUCCESS &&
    to.dom.memory.read(to.buf, 64).every((b) => b === byte);
}

/** Close an end's context and free its buffer (a program on the bare-metal host exiting). */
async function closeEnd(e: FuzzEnd): Promise<void> {
  await e.ctx.close();
  e.dom.memory.free(e.buf);
}

/** A fresh QP pair between `a` and `b` (the old ones destroyed), in RTS. */
export async function reconnect(a: FuzzEnd, b: FuzzEnd): Promise<void> {
  for (const e of [a, b]) {
    await e.qp.destroy().catch(() => {});
    e.qp = await e.pd.createQp({
      type: QpType.RC,
      sendCq: e.cq,
      recvCq: e.cq,
      cap: { maxSendWr: 16, maxRecvWr: 16, maxSendSge: 2, maxRecvSge: 2, maxInlineData: 64 },
    });
    e.cq.poll(64);
  }
  await connectPair(a, b, ATTACKER_CONNECT);
}

/**
 * A hostile guest and its peer on the bare-metal host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { FuzzAttacker } from "./fuzz_world.ts";
 * const retired = (a: FuzzAttacker) => a.retire || a.tampered;
 * assert.ok(retired({ retire: true, tampered: false } as FuzzAttacker));
 * ```
 */
export interface FuzzAttacker {
  vm: XenGuest;
  mode: "bypass" | "split";
  /** Its end of the connection (device context opened without a registration cache). */
  end: FuzzEnd;
  /** Its peer, a program on the bare-metal host. */
  peer: FuzzEnd;
  /** The frontend's context id of `end.ctx`. */
  ctxId: number;
  /** Grant refs of its request ring and event ring (from its xenstore nodes). */
  ringRefs: number[];
  /** Valid requests it made while setting up (the `ring` kind mutates them). */
  templates: RequestArgs[];
  /** Its connection needs rebuilding before the next `wqe` attack. */
  broken: boolean;
  /**
   * It scribbled on its own ring's event indices, or closed its own end of
   * the device's event channel (which a later allocation of its own may
   * take back as an unbound port): the backend may never hear of its next
   * request, nor it of the response (its own doing; a request of its that
   * hangs is then no fault of dom0's).
   */
  tampered: boolean;
  /** Replace it before its next attack (it hung itself). */
  retire: boolean;
}

/** The frontend context id behind a verbs context. */
export function frontCtxId(ctx: Context): number {
  const f = ctx.file as unknown as { inner?: { ctx: number }; ctx?: number };
  return f.inner?.ctx ?? f.ctx ?? 0;
}

/** FNV-1a over every RAM page a domain maps (its own and its grant-table/shared-info frames). */
export function memorySum(dom: Domain): string {
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
 * What must come back after teardown: device usage, and on a Xen host the
 * hypervisor's counts and the machine frames in use (a bare-metal OS's
 * heap keeps the frames it grew to, so there only the device counts).
 */
function counts(h: Host): string {
  const s = h.hca.stats();
  const hv = (h.platform as Partial<XenPlatform>).hv;
  const xen = hv ? { hv: hv.stats(), frames: h.hw.memory.allocated } : {};
  return JSON.stringify({ used: s.used, free: s.free, ...xen });
}

/**
 * The campaign's scene.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FuzzWorld } from "./fuzz_world.ts";
 * const w = await FuzzWorld.build(3);
 * await w.cluster.run(async () => {
 *   await w.populate();
 *   assert.deepEqual(w.attackers.map((a) => a.mode), ["bypass", "split"]);
 *   await w.check("setup");
 *   await w.finish();
 * });
 * ```
 */
export class FuzzWorld {
  /** The campaign's own choices (what to attack with). */
  readonly rng: Prng;
  readonly hv: Hypervisor;
  victim!: { vm: XenGuest; end: FuzzEnd; peer: FuzzEnd; sum: string };
  attackers: FuzzAttacker[] = [];
  /** Hostile guests replaced (disconnected, dead, or rotated). */
  respawns = 0;
  /** Full checks passed. */
  checks = 0;
  #before: { xen: string; bare: string };
  #withVictim = "";
  #spawned = 0;

  private constructor(
    readonly cluster: Cluster,
    readonly xen: Host,
    readonly bare: Host,
    seed: number,
  ) {
    this.rng = Prng.derive(seed, "fuzz");
    this.hv = (xen.platform as XenPlatform).hv;
    this.#before = { xen: counts(xen), bare: counts(bare) };
  }

  /** A started cluster: Xen host `x0` and bare-metal host `b0`, no guest yet. */
  static async build(seed: number): Promise<FuzzWorld> {
    const c = new Cluster({ profile: "pcix-sdr-2006", seed });
    const xen = c.addHost({ name: "x0", hypervisor: true });
    const bare = c.addHost({ name: "b0", hypervisor: false });
    await c.start();
    return new FuzzWorld(c, xen, bare, seed);
  }

  /** Boot the victim and both attackers (inside `cluster.run`). */
  async populate(): Promise<void> {
    const vm = await this.xen.createGuest({ name: "victim", memoryMiB: 64 }) as XenGuest;
    const end = await openEnd(vm);
    const peer = await openEnd(this.bare.os);
    await connectPair(end, peer, { maxRdAtomic: 4, maxDestRdAtomic: 4 });
    vm.memory.write(end.buf, new Uint8Array(FUZZ_BUF_BYTES).fill(0x5a));
    this.victim = { vm, end, peer, sum: memorySum(vm) };
    this.#withVictim = counts(this.xen);
    this.attackers = [await this.#spawn("bypass"), await this.#spawn("split")];
  }

  async #spawn(mode: "bypass" | "split"): Promise<FuzzAttacker> {
    const vm = await this.xen.createGuest({
      name: `evil-${mode}-${this.#spawned++}`,
      memoryMiB: 32,
      driver: mode,
    }) as XenGuest;
    // Record every request the guest's driver makes while it sets up: valid ones, to mutate.
    const templates: RequestArgs[] = [];
    const ring = vm.front.ring as unknown as { pushRequest(r: VibRequest): void };
    const push = ring.pushRequest;
    ring.pushRequest = (r: VibRequest) => {
      const { id: _id, reserved: _r, nrSegsRaw: _n, ...args } = structuredClone(r);
      templates.push(args);
      push.call(ring, r);
    };
    let end: FuzzEnd, peer: FuzzEnd;
    try {
      end = await openEnd(vm);
      peer = await openEnd(this.bare.os);
      await connectPair(end, peer, ATTACKER_CONNECT);
      // One write each way and an armed CQ: the datapath's requests, for a split guest.
      end.cq.reqNotify(false);
      await rdmaWrite(end, peer, 0x33);
      await rdmaWrite(peer, end, 0x44);
    } finally {
      delete (ring as { pushRequest?: unknown }).pushRequest;
    }
    const xs = this.hv.xenstore;
    const fe = `/local/domain/${vm.domid}/device/vib/0`;
    const ringRefs = [VIB_KEYS.ringRef, VIB_KEYS.eventRingRef].map((k) => {
      try {
        return Number(xs.read(vm.domid!, `${fe}/${k}`));
      } catch {
        return 8;
      }
    });
    return {
      vm,
      mode,
      end,
      peer,
      ctxId: frontCtxId(end.ctx),
      ringRefs,
      templates,
      broken: false,
      tampered: false,
      retire: false,
    };
  }

  /** Whether the attacker lost its device or its life (then it is replaced). */
  gone(a: FuzzAttacker): boolean {
    return a.retire || !a.vm.running || a.vm.devices().length === 0 ||
      a.vm.front.deadReason !== undefined;
  }

  /** Replace attacker `i` by a fresh guest of the same mode. */
  async respawn(i: number): Promise<void> {
    const a = this.attackers[i];
    await this.#bury(a);
    this.respawns++;
    this.attackers[i] = await this.#spawn(a.mode);
  }

  /**
   * Replace both attackers, and require the host back at its counts with
   * only the victim: nothing the attackers did outlives them.
   */
  async rotate(): Promise<void> {
    for (const a of this.attackers) await this.#bury(a);
    this.respawns += this.attackers.length;
    const now = counts(this.xen);
    if (now !== this.#withVictim) {
      throw new FuzzFailure(`after the attackers' teardown: ${diff(this.#withVictim, now)}`);
    }
    this.attackers = [await this.#spawn("bypass"), await this.#spawn("split")];
  }

  async #bury(a: FuzzAttacker): Promise<void> {
    const vm = a.vm;
    if (vm.running) {
      // A crash or a clean shutdown, alternately: both must return everything.
      if (this.respawns % 2 === 0) vm.crash();
      else {
        try {
          await vm.shutdown();
        } catch {
          vm.crash();
        }
      }
    } else vm.crash();
    const dead = await within(this.cluster.engine, BURY_WITHIN_NS, () => vm.whenDead());
    if (!dead.done) {
      throw new FuzzFailure(`${vm.name} (dom${vm.domid}) never died: ${this.#holders(vm)}`);
    }
    await closeEnd(a.peer);
    this.#noFault("an attacker's teardown");
  }

  /** Who still holds a dying domain's frames (for the failure message). */
  #holders(vm: XenGuest): string {
    const mem = this.xen.hw.memory;
    const mine = mem.allocatedFrames().filter((f) => f.owner.endsWith(`dom${vm.domid}`));
    const pins = new Set(
      [...((this.xen.platform as XenPlatform).driver.pinnedFrames())].map((p) => p.mfn),
    );
    const grants = this.hv.grantsMappedFrom(vm.domid!);
    return `state ${vm.xen.state}, ${mine.length} frames kept (` +
      mine.slice(0, 6).map((f) =>
        `${f.mfn}: ${f.owner} count ${f.count}${f.allocated ? " allocated" : ""}${
          pins.has(f.mfn) ? " MTT-pinned" : ""
        }`
      ).join("; ") + `), ${grants} grant mappings of its pages`;
  }

  #noFault(when: string): void {
    const faults = this.hv.counters().faults;
    if (faults > 0) {
      throw new FuzzFailure(`${when}: hypervisor fault: ${this.hv.faultLog().join("; ")}`);
    }
    if (this.hv.hookErrors.length > 0) {
      throw new FuzzFailure(`${when}: teardown hook error: ${String(this.hv.hookErrors[0])}`);
    }
  }

  /** The audits of both hosts; throws on the first violation. */
  audit(when: string): void {
    for (const h of [this.xen, this.bare]) {
      const v = h.audit();
      if (v.length > 0) {
        throw new FuzzFailure(`${when}: audit of ${h.name}: ${JSON.stringify(v.slice(0, 3))}`);
      }
    }
  }

  /**
   * The full check: no fault, audits clean, the victim's memory unchanged,
   * the victim communicating both ways, and served by dom0.
   */
  async check(when: string): Promise<void> {
    this.#noFault(when);
    this.audit(when);
    const v = this.victim;
    const sum = memorySum(v.vm);
    if (sum !== v.sum) throw new FuzzFailure(`${when}: the victim's memory changed`);
    for (const [from, to, byte] of [[v.end, v.peer, 0x21], [v.peer, v.end, 0x5a]] as const) {
      if (!(await rdmaWrite(from, to, byte))) {
        throw new FuzzFailure(`${when}: the victim cannot communicate`);
      }
    }
    try {
      const pd = await v.end.ctx.allocPd();
      await pd.dealloc();
    } catch (e) {
      throw new FuzzFailure(`${when}: dom0 does not serve the victim: ${(e as Error).message}`);
    }
    v.sum = memorySum(v.vm);
    this.#noFault(when);
    this.checks++;
  }

  /**
   * Tear everything down: attackers, the victim, every peer; then every
   * count of both hosts must be back to its value before any guest, and
   * both audits clean.
   */
  async finish(): Promise<void> {
    for (const a of this.attackers) await this.#bury(a);
    this.attackers = [];
    const vm = this.victim.vm;
    const dead = await within(this.cluster.engine, BURY_WITHIN_NS, () => vm.shutdown());
    if (!dead.done) {
      throw new FuzzFailure(`the victim (dom${vm.domid}) never died: ${this.#holders(vm)}`);
    }
    await closeEnd(this.victim.peer);
    this.#noFault("teardown");
    this.audit("teardown");
    const after = { xen: counts(this.xen), bare: counts(this.bare) };
    for (const k of ["xen", "bare"] as const) {
      if (after[k] !== this.#before[k]) {
        throw new FuzzFailure(`teardown: ${k} host not back: ${diff(this.#before[k], after[k])}`);
      }
    }
  }
}

/** The first fields of two `counts` snapshots that differ, for the message. */
function diff(a: string, b: string): string {
  const flat = (s: string) => {
    const out = new Map<string, unknown>();
    const walk = (v: unknown, p: string) => {
      if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) walk(x, p ? `${p}.${k}` : k);
      } else out.set(p, v);
    };
    walk(JSON.parse(s), "");
    return out;
  };
  const x = flat(a), y = flat(b);
  const keys = new Set([...x.keys(), ...y.keys()]);
  return [...keys].filter((k) => x.get(k) !== y.get(k)).slice(0, 6)
    .map((k) => `${k} ${x.get(k)} -> ${y.get(k)}`).join(", ");
}

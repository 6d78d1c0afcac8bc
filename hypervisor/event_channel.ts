/**
 * Event channels with 2-level pending bits (`xen/event_channel.h`,
 * `struct shared_info` in `xen/xen.h`).
 *
 * Each domain has a port table and a shared-info page: a frame Xen owns and
 * maps into the guest, laid out as on x86-64 Xen —
 *
 * | offset | field |
 * | --- | --- |
 * | 0 | `vcpu_info[0]`: `evtchn_upcall_pending` (u8 @0), `evtchn_upcall_mask` (u8 @1), `evtchn_pending_sel` (u64 @8) |
 * | 2048 | `evtchn_pending[64]` (u64 each: 4096 port bits) |
 * | 2560 | `evtchn_mask[64]` |
 *
 * Port `p` is bit `p % 64` of word `p / 64`; little-endian, that is bit
 * `p % 8` of byte `p / 8`, so the bitmaps are handled byte-wise here and stay
 * byte-identical to what a C guest sees. Only vCPU 0 exists.
 *
 * Xen sets pending bits and reads mask bits; the guest sets mask bits itself
 * and clears pending bits when it handles them ({@link SharedInfo.takePending}).
 *
 * `evtchn_upcall_mask` is the vCPU's interrupt flag, as a PV x86 guest has
 * it: while the byte is non-zero Xen sets `evtchn_upcall_pending` and kicks
 * the vCPU but enters no handler (`test_guest_events` in
 * `xen/arch/x86/x86_64/entry.S` delivers only when the pending byte is set
 * and the mask byte is 0). The guest masks by writing 1 (Linux
 * `xen_irq_disable`); it unmasks by writing 0 and, if an upcall is pending,
 * making a hypercall whose return delivers it (Linux `xen_irq_enable` →
 * `xen_force_evtchn_callback`). Entering the handler masks upcalls, and the
 * handler's return restores the mask it interrupted (`create_bounce_frame`
 * with `TBF_INTERRUPT`, then `iret`).
 * The guest may write anything into this page: it can only confuse its own
 * event delivery, because the port table that says who is connected to whom
 * lives in the hypervisor, never in the page.
 *
 * As in Xen's `event_channel.c`: a send on an unbound port (no peer yet, or
 * the peer closed its end or died) succeeds and notifies no one
 * (`evtchn_send` drops it); a sender learns that its peer went away from
 * xenstore (`@releaseDomain`, the peer's xenbus state), as Linux drivers do.
 * Binding leaves the new local port pending (`evtchn_bind_interdomain`), so
 * a notification dropped before the bind is not lost.
 *
 * @module
 */
import { XenError } from "./errors.ts";
import { intArg, show } from "./args.ts";
import { emptyArray } from "../sim/queue.ts";

/**
 * 2-level ABI port count on 64-bit (`EVTCHN_2L_NR_CHANNELS`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NR_EVENT_CHANNELS } from "./event_channel.ts";
 * assert.equal(NR_EVENT_CHANNELS / 64, 64); // 64 pending words of 64 bits
 * ```
 */
export const NR_EVENT_CHANNELS = 4096;
/**
 * `XEN_LEGACY_MAX_VCPUS` (x86): `vcpu_info` slots in the shared-info page.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OFF_EVTCHN_PENDING, VCPU_INFO_SIZE, XEN_LEGACY_MAX_VCPUS } from "./event_channel.ts";
 * assert.equal(XEN_LEGACY_MAX_VCPUS * VCPU_INFO_SIZE, OFF_EVTCHN_PENDING); // vcpu_info comes first
 * ```
 */
export const XEN_LEGACY_MAX_VCPUS = 32;
/**
 * Bytes of one `struct vcpu_info` on x86.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OFF_PENDING_SEL, VCPU_INFO_SIZE } from "./event_channel.ts";
 * const selOfVcpu = (v: number) => v * VCPU_INFO_SIZE + OFF_PENDING_SEL;
 * assert.equal(selOfVcpu(1), 72);
 * ```
 */
export const VCPU_INFO_SIZE = 64;
/**
 * Offset of `evtchn_upcall_pending` in `vcpu_info`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OFF_UPCALL_PENDING, SharedInfo } from "./event_channel.ts";
 * const page = new Uint8Array(4096);
 * page[OFF_UPCALL_PENDING] = 1; // what Xen sets before it injects the upcall
 * assert.equal(new SharedInfo(page).upcallPending, true);
 * ```
 */
export const OFF_UPCALL_PENDING = 0;
/**
 * Offset of `evtchn_upcall_mask` in `vcpu_info`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OFF_UPCALL_MASK, OFF_UPCALL_PENDING } from "./event_channel.ts";
 * // struct vcpu_info: evtchn_upcall_pending, then evtchn_upcall_mask, one byte each
 * assert.equal(OFF_UPCALL_MASK, OFF_UPCALL_PENDING + 1);
 * ```
 */
export const OFF_UPCALL_MASK = 1;
/**
 * Offset of `evtchn_pending_sel` (a 64-bit word) in `vcpu_info`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OFF_PENDING_SEL, SharedInfo } from "./event_channel.ts";
 * const si = new SharedInfo(new Uint8Array(4096));
 * si.setPending(65); // word 1 of evtchn_pending
 * assert.equal(new DataView(si.page.buffer).getBigUint64(OFF_PENDING_SEL, true), 2n);
 * ```
 */
export const OFF_PENDING_SEL = 8;
/**
 * Offset of `evtchn_pending[]` in `struct shared_info`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OFF_EVTCHN_PENDING, SharedInfo } from "./event_channel.ts";
 * const si = new SharedInfo(new Uint8Array(4096));
 * si.setPending(3);
 * assert.equal(si.page[OFF_EVTCHN_PENDING], 8); // bit 3
 * ```
 */
export const OFF_EVTCHN_PENDING: number = XEN_LEGACY_MAX_VCPUS * VCPU_INFO_SIZE;
/**
 * Offset of `evtchn_mask[]` in `struct shared_info`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OFF_EVTCHN_MASK, SharedInfo } from "./event_channel.ts";
 * const si = new SharedInfo(new Uint8Array(4096));
 * si.mask(9);
 * assert.equal(si.page[OFF_EVTCHN_MASK + 1], 2); // bit 9
 * assert.equal(si.setPending(9), false); // a masked port raises no upcall
 * ```
 */
export const OFF_EVTCHN_MASK: number = OFF_EVTCHN_PENDING + NR_EVENT_CHANNELS / 8;
/**
 * Ports in one bucket of Xen's port table (`EVTCHNS_PER_BUCKET` in
 * `xen/include/xen/sched.h`: a page of 64-byte `struct evtchn`). A domain
 * starts with one bucket and gains one each time it takes a port past the
 * last; a port is valid (`port_is_valid`) while it is below the buckets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EVTCHNS_PER_BUCKET, NR_EVENT_CHANNELS } from "./event_channel.ts";
 * assert.equal(NR_EVENT_CHANNELS / EVTCHNS_PER_BUCKET, 64); // the 2-level ABI's 64 buckets
 * ```
 */
export const EVTCHNS_PER_BUCKET = 64;

/**
 * The virtual IRQs of `xen/xen.h` (`VIRQ_*`), by name: Xen's own events a
 * domain binds a port to with `EVTCHNOP_bind_virq`. Numbers 5, 14 and 15
 * have no name and may still be bound (global, as every VIRQ Xen does not
 * list as per-vCPU). `ARCH_0` is x86's `VIRQ_MCA` (`arch-x86/xen-mca.h`).
 * In the model only `DOM_EXC` is ever raised (see {@link EventChannels.raiseVirq});
 * the others bind, report and close as in Xen but never fire.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NR_VIRQS, VIRQ, virqIsGlobal } from "./event_channel.ts";
 * assert.equal(VIRQ.DOM_EXC, 3); // "G. (DOM0) Exceptional event for some domain"
 * assert.ok(Object.values(VIRQ).every((v) => v < NR_VIRQS));
 * assert.equal(virqIsGlobal(VIRQ.TIMER), false); // "V.": one per vCPU
 * ```
 */
export const VIRQ = {
  TIMER: 0,
  DEBUG: 1,
  CONSOLE: 2,
  DOM_EXC: 3,
  TBUF: 4,
  DEBUGGER: 6,
  XENOPROF: 7,
  CON_RING: 8,
  PCPU_STATE: 9,
  MEM_EVENT: 10,
  ARGO: 11,
  ENOMEM: 12,
  XENPMU: 13,
  ARCH_0: 16,
  ARCH_1: 17,
  ARCH_2: 18,
  ARCH_3: 19,
  ARCH_4: 20,
  ARCH_5: 21,
  ARCH_6: 22,
  ARCH_7: 23,
} as const;

/**
 * `NR_VIRQS` (`xen/xen.h`): VIRQ numbers are `0 … NR_VIRQS-1`; a bind of
 * any other is EINVAL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NR_VIRQS, VIRQ } from "./event_channel.ts";
 * assert.equal(NR_VIRQS, VIRQ.ARCH_7 + 1);
 * ```
 */
export const NR_VIRQS = 24;

/**
 * Whether `virq` is global — one binding per domain, on vCPU 0, movable with
 * `EVTCHNOP_bind_vcpu` — rather than per-vCPU (`virq_is_global` in
 * `xen/common/event_channel.c`, 4.17: `VIRQ_TIMER`, `VIRQ_DEBUG`,
 * `VIRQ_XENOPROF` and `VIRQ_XENPMU` are per-vCPU; the arch VIRQs are what
 * `arch_virq_is_global` says, on x86 global; every other is global).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VIRQ, virqIsGlobal } from "./event_channel.ts";
 * assert.deepEqual(
 *   [VIRQ.TIMER, VIRQ.DEBUG, VIRQ.DOM_EXC, VIRQ.XENPMU, VIRQ.ARCH_0, 5].map(virqIsGlobal),
 *   [false, false, true, false, true, true],
 * );
 * ```
 */
export function virqIsGlobal(virq: number): boolean {
  return virq !== VIRQ.TIMER && virq !== VIRQ.DEBUG && virq !== VIRQ.XENOPROF &&
    virq !== VIRQ.XENPMU;
}

/**
 * The event bits of one domain's shared-info page (vCPU 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SharedInfo } from "./event_channel.ts";
 * const si = new SharedInfo(new Uint8Array(4096));
 * assert.equal(si.setPending(70), true); // first event: the vCPU must be kicked
 * assert.equal(si.setPending(3), false); // an upcall is already pending
 * assert.deepEqual(si.takePending(), [3, 70]);
 * assert.equal(si.upcallPending, false);
 * ```
 */
export class SharedInfo {
  /**
   * A view; the bytes stay where they are (Xen and the guest share them).
   * @param page the 4096 bytes of the shared-info frame
   */
  constructor(readonly page: Uint8Array) {}

  #bit(off: number, port: number): boolean {
    return (this.page[off + (port >> 3)] & (1 << (port & 7))) !== 0;
  }

  #set(off: number, port: number): boolean {
    const i = off + (port >> 3), b = 1 << (port & 7);
    const was = (this.page[i] & b) !== 0;
    this.page[i] |= b;
    return was;
  }

  #clear(off: number, port: number): boolean {
    const i = off + (port >> 3), b = 1 << (port & 7);
    const was = (this.page[i] & b) !== 0;
    this.page[i] &= ~b;
    return was;
  }

  /** True if `port`'s pending bit is set. */
  isPending(port: number): boolean {
    return this.#bit(OFF_EVTCHN_PENDING, port);
  }

  /** True if `port`'s mask bit is set. */
  isMasked(port: number): boolean {
    return this.#bit(OFF_EVTCHN_MASK, port);
  }

  /** `vcpu_info[0].evtchn_upcall_pending` (any non-zero byte, as `test_guest_events` reads it). */
  get upcallPending(): boolean {
    return this.page[OFF_UPCALL_PENDING] !== 0;
  }

  /**
   * `vcpu_info[0].evtchn_upcall_mask`: while non-zero, Xen enters no upcall
   * handler (events still become pending and set `evtchn_upcall_pending`).
   */
  get upcallMasked(): boolean {
    return this.page[OFF_UPCALL_MASK] !== 0;
  }

  /**
   * Guest side: mask upcalls (Linux `xen_irq_disable`: a plain write of 1,
   * no hypercall).
   */
  maskUpcalls(): void {
    this.page[OFF_UPCALL_MASK] = 1;
  }

  /**
   * Guest side: unmask upcalls (the write of 0 in Linux `xen_irq_enable`).
   * Returns true if an upcall is pending: Xen delivers it only when the
   * vCPU next returns from Xen, so the guest must then make a hypercall
   * (`xen_force_evtchn_callback`; the kernel API does, see
   * `EventDispatcher.enableUpcalls`).
   */
  unmaskUpcalls(): boolean {
    this.page[OFF_UPCALL_MASK] = 0;
    return this.page[OFF_UPCALL_PENDING] !== 0;
  }

  /**
   * Guest side: mask `port` (a plain bit write, no hypercall, as in Xen).
   * Unmasking goes through `EVTCHNOP_unmask`, because an event that arrived
   * while masked must then be delivered (a PV guest may instead clear the
   * bit and raise the selector and upcall-pending bits itself, as Linux's
   * `evtchn_2l_unmask` does for a local port; its next return from Xen
   * delivers).
   */
  mask(port: number): void {
    this.#set(OFF_EVTCHN_MASK, port);
  }

  /** Clear `port`'s pending bit (guest acknowledges; Xen when the port is freed). */
  clearPending(port: number): void {
    this.#clear(OFF_EVTCHN_PENDING, port);
  }

  /**
   * Xen side (`evtchn_2l_set_pending`): mark `port` pending. Returns true if
   * the vCPU must be kicked: the bit went 0→1, the port is unmasked, its
   * selector bit went 0→1 and no upcall was pending yet.
   */
  setPending(port: number): boolean {
    if (this.#set(OFF_EVTCHN_PENDING, port)) return false;
    return !this.isMasked(port) && this.#markSelector(port);
  }

  /**
   * Xen side (`evtchn_2l_unmask`): clear the mask; returns true if an event
   * that arrived while masked now needs an upcall.
   */
  unmask(port: number): boolean {
    if (!this.#clear(OFF_EVTCHN_MASK, port)) return false;
    return this.isPending(port) && this.#markSelector(port);
  }

  #markSelector(port: number): boolean {
    if (this.#set(OFF_PENDING_SEL, port >> 6)) return false;
    // vcpu_mark_events_pending() (xen/arch/x86/domain.c): test_and_set_bit(0, upcall_pending),
    // kick only if bit 0 was clear. The kick is made whatever the upcall mask; delivery checks it.
    if (this.page[OFF_UPCALL_PENDING] & 1) return false;
    this.page[OFF_UPCALL_PENDING] |= 1;
    return true;
  }

  /**
   * Guest side, what the upcall handler runs (Linux `xen_evtchn_do_upcall`):
   * clear `evtchn_upcall_pending`, take and clear the selector word, and for
   * each selected 64-port word return the pending, unmasked ports in
   * ascending order, clearing their pending bits. Masked ports stay pending.
   * `out` (emptied first) takes them, if given: a handler that runs at every
   * upcall keeps one array.
   */
  takePending(out: number[] = []): number[] {
    const p = this.page;
    p[OFF_UPCALL_PENDING] = 0;
    emptyArray(out);
    for (let sb = 0; sb < 8; sb++) {
      const selByte = p[OFF_PENDING_SEL + sb];
      if (selByte === 0) continue;
      p[OFF_PENDING_SEL + sb] = 0;
      for (let sbit = 0; sbit < 8; sbit++) {
        if ((selByte & (1 << sbit)) === 0) continue;
        const word = sb * 8 + sbit;
        for (let byte = word * 8; byte < word * 8 + 8; byte++) {
          const ready = p[OFF_EVTCHN_PENDING + byte] & ~p[OFF_EVTCHN_MASK + byte];
          if (ready === 0) continue;
          p[OFF_EVTCHN_PENDING + byte] &= ~ready;
          for (let b = 0; b < 8; b++) if (ready & (1 << b)) out.push(byte * 8 + b);
        }
      }
    }
    return out;
  }
}

/**
 * `EVTCHNSTAT_*` names: what a port is bound to.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventChannels, type EvtchnState, SharedInfo } from "./event_channel.ts";
 * const ev = new EventChannels(() => {});
 * ev.addDomain(0, new SharedInfo(new Uint8Array(4096)));
 * ev.addDomain(1, new SharedInfo(new Uint8Array(4096)));
 * const port = ev.allocUnbound(0, 1);
 * const state: EvtchnState = ev.status(0, port).state;
 * assert.equal(state, "unbound");
 * assert.equal(ev.send(0, port), undefined); // not connected yet: dropped, as evtchn_send does
 * ```
 */
export type EvtchnState = "closed" | "unbound" | "interdomain" | "pirq" | "virq" | "ipi";

/**
 * Result of `EVTCHNOP_status`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(128 << 20), PCIX_SDR_2006, new Prng(1));
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   const port = await hv.evtchnAllocUnbound(hv.dom0, { remoteDom: vm.domid });
 *   assert.deepEqual(await hv.evtchnStatus(hv.dom0, { port }), {
 *     state: "unbound",
 *     vcpu: 0,
 *     remoteDomid: 1,
 *   });
 * });
 * ```
 */
export interface EvtchnStatus {
  /** What the port is bound to. */
  state: EvtchnState;
  /**
   * The vCPU notified (`evtchn_status.vcpu`, set in every state): always 0,
   * the only vCPU a domain's events reach here.
   */
  vcpu: number;
  /** unbound: the domain allowed to bind; interdomain: the peer domain. */
  remoteDomid?: number;
  /** interdomain: the peer's port. */
  remotePort?: number;
  /** pirq: the physical IRQ. */
  pirq?: number;
  /** virq: the virtual IRQ (`VIRQ_*`). */
  virq?: number;
}

interface Chan {
  state: "unbound" | "interdomain" | "pirq" | "virq" | "ipi";
  remoteDomid: number;
  remotePort: number;
  /** pirq: the physical IRQ; virq: the VIRQ (-1 otherwise). */
  irq: number;
}

interface PortTable {
  chans: (Chan | undefined)[];
  maxPorts: number;
  /** `d->valid_evtchns`: ports below it are valid (whole buckets, see EVTCHNS_PER_BUCKET). */
  valid: number;
  shared: SharedInfo;
  inUse: number;
  /** vCPU 0's `virq_to_evtchn[]`: the port bound to each VIRQ, 0 for none. */
  virqs: number[];
}

/**
 * Every domain's event-channel ports on one host, and the physical IRQs
 * bound to ports. Pure state: privilege checks, costs and upcall timing are
 * the hypervisor's; this class calls `kick(domid)` when a domain needs an
 * upcall.
 *
 * Ports are allocated from `1 … maxPorts-1` (ENOSPC past them); port 0 is
 * reserved and never bound, as in Xen. A port is valid while it is below
 * the buckets of {@link EVTCHNS_PER_BUCKET} ports the domain has allocated
 * so far (`port_is_valid`: one bucket at creation, whatever `maxPorts`, one
 * more each time a port past them is taken; they stay until the domain
 * dies). A port not valid gives EINVAL, and so does a valid one not in use
 * for the calls that need a channel (send, close, bind_vcpu, bind's remote
 * port); as in Xen's `event_channel.c`, status reports a valid free or
 * reserved port as closed and unmask clears the mask bit of any valid
 * port. A domain that does not exist is ESRCH. A dying domain (torn down,
 * {@link EventChannels.removeDomain}, but kept as a zombie while others
 * still hold its frames) has every port closed and takes no new one, as in
 * Xen, whose `evtchn_destroy()` closes the ports but keeps the buckets until
 * the domain is destroyed: its ports are still valid and report closed,
 * `alloc_unbound` in it and `bind_interdomain` to it are EINVAL, not ESRCH.
 *
 * Besides interdomain and pirq ports, a domain binds virtual IRQs
 * ({@link EventChannels.bindVirq}: Xen's own events, {@link VIRQ}; each VIRQ once per
 * domain, as vCPU 0 is the only vCPU) and IPI ports ({@link EventChannels.bindIpi}: a send
 * notifies the sender itself). Xen raises a VIRQ with {@link EventChannels.raiseVirq}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventChannels, SharedInfo } from "./event_channel.ts";
 * const kicked: number[] = [];
 * const ev = new EventChannels((d) => kicked.push(d));
 * ev.addDomain(0, new SharedInfo(new Uint8Array(4096)));
 * ev.addDomain(1, new SharedInfo(new Uint8Array(4096)));
 * const back = ev.allocUnbound(0, 1);
 * const front = ev.bindInterdomain(1, 0, back);
 * assert.deepEqual(kicked, [1]); // the new port starts pending, as in Xen
 * assert.deepEqual(ev.shared(1)!.takePending(), [front]);
 * ev.send(1, front);
 * assert.deepEqual(kicked, [1, 0]);
 * assert.deepEqual(ev.shared(0)!.takePending(), [back]);
 * ```
 */
export class EventChannels {
  #doms = new Map<number, PortTable>();
  /**
   * `valid_evtchns` of each dying domain: its ports stay valid, all free, until
   * {@link forget} (event_channel.c: evtchn_destroy() closes them; the buckets go in
   * evtchn_destroy_final(), from complete_domain_destroy()).
   */
  #dying = new Map<number, number>();
  #pirqs = new Map<number, { domid: number; port: number }>();
  #inUse = 0;

  /**
   * No domains yet: add them with {@link addDomain}.
   * @param kick called when a domain's vCPU must get an upcall
   * @param nrPirqs physical IRQs that can be bound (`0 … nrPirqs-1`)
   */
  constructor(private kick: (domid: number) => void, readonly nrPirqs = 256) {}

  /** Ports in use on the host (every state but closed). */
  get bound(): number {
    return this.#inUse;
  }

  /** Ports in use by `domid`. */
  boundBy(domid: number): number {
    return this.#doms.get(domid)?.inUse ?? 0;
  }

  /** True if `domid` has a port table (exists and is not being torn down). */
  has(domid: number): boolean {
    return this.#doms.has(domid);
  }

  /** The shared-info page of `domid`. */
  shared(domid: number): SharedInfo | undefined {
    return this.#doms.get(domid)?.shared;
  }

  /** Give `domid` a port table; `maxPorts` bounds its port numbers. */
  addDomain(domid: number, shared: SharedInfo, maxPorts = NR_EVENT_CHANNELS): void {
    if (this.#doms.has(domid)) throw new Error(`event channels: dom${domid} added twice`);
    const n = Math.max(2, Math.min(NR_EVENT_CHANNELS, Math.floor(maxPorts)));
    // evtchn_init(): the first bucket, whatever the limit (d->valid_evtchns = EVTCHNS_PER_BUCKET).
    this.#doms.set(domid, {
      chans: [],
      maxPorts: n,
      valid: EVTCHNS_PER_BUCKET,
      shared,
      inUse: 0,
      virqs: new Array(NR_VIRQS).fill(0),
    });
  }

  #table(domid: number, what: string): PortTable {
    const t = this.#doms.get(domid);
    if (!t) throw new XenError("ESRCH", `${what}: no domain ${domid}`);
    return t;
  }

  /**
   * `port` if it is valid in `t` (event.h `port_is_valid`: below
   * `d->valid_evtchns`, the buckets allocated so far, not the domain's port
   * limit), else EINVAL. Port 0 is valid (reserved).
   */
  #valid(t: PortTable, port: unknown, what: string): number {
    return intArg(port, 0, t.valid - 1, `${what}: port`);
  }

  /** The channel on valid `port`; EINVAL for an invalid, free or reserved one. */
  #chan(t: PortTable, port: unknown, what: string): Chan {
    const p = this.#valid(t, port, what);
    const c = t.chans[p];
    if (!c) throw new XenError("EINVAL", `${what}: port ${p} is not in use`);
    return c;
  }

  /** The lowest free port (`get_free_port` scans up from the reserved port 0), or ENOSPC. */
  #freePort(t: PortTable, what: string): number {
    for (let p = 1; p < t.maxPorts; p++) if (!t.chans[p]) return p;
    throw new XenError("ENOSPC", `${what}: all ${t.maxPorts - 1} ports in use`);
  }

  #alloc(t: PortTable, c: Chan, what: string): number {
    const p = this.#freePort(t, what);
    // evtchn_allocate_port(): a port past the buckets adds buckets up to it.
    if (p >= t.valid) t.valid = (Math.floor(p / EVTCHNS_PER_BUCKET) + 1) * EVTCHNS_PER_BUCKET;
    t.chans[p] = c;
    t.inUse++;
    this.#inUse++;
    // No bit is touched: the 2-level ABI has no evtchn_port_ops init (event_2l.c, Xen 4.17), and
    // evtchn_free() cleared the port's pending bit when it was last closed. One the guest set
    // itself on the free port stays set.
    return p;
  }

  /**
   * ENOSPC unless `domid` has a free port: Xen's `evtchn_alloc_unbound`
   * takes the port before it checks the caller's right to the domain.
   */
  needFreePort(domid: number, what: string): void {
    this.#notDying(domid, what);
    this.#freePort(this.#table(domid, what), what);
  }

  /** True if `domid` is a dying domain's: torn down, not yet forgotten. */
  isDying(domid: number): boolean {
    return this.#dying.has(domid);
  }

  /**
   * EINVAL for a dying domain: event_channel.c get_free_port(), "if ( d->is_dying ) return
   * -EINVAL", reached by every call that takes a new port in it (alloc_unbound, the binds).
   */
  #notDying(domid: number, what: string): void {
    if (this.#dying.has(domid)) {
      throw new XenError("EINVAL", `${what}: dom${domid} is dying, it takes no new port`);
    }
  }

  /**
   * `EVTCHNOP_alloc_unbound`: a port in `domid` that `remoteDomid` may bind.
   * `remoteDomid` need not exist (yet): Xen's `evtchn_alloc_unbound` records
   * it and checks it only when a domain binds.
   */
  allocUnbound(domid: number, remoteDomid: number): number {
    const what = "EVTCHNOP_alloc_unbound";
    this.#notDying(domid, what);
    const t = this.#table(domid, what);
    return this.#alloc(t, { state: "unbound", remoteDomid, remotePort: 0, irq: -1 }, what);
  }

  /**
   * `EVTCHNOP_bind_interdomain`: connect a new port of `domid` to
   * `remotePort` of `remoteDomid`, which must be unbound and offered to
   * `domid`. The new port starts pending, as in Xen (see the module doc).
   */
  bindInterdomain(domid: number, remoteDomid: number, remotePort: unknown): number {
    const what = "EVTCHNOP_bind_interdomain";
    const t = this.#table(domid, what);
    // evtchn_bind_interdomain(): a dying remote domain is found (rcu_lock_domain_by_any_id);
    // its ports are all free, so the remote port is "not ECS_UNBOUND": -EINVAL, after the local
    // port is taken (ENOSPC), as for any remote port not offered.
    const rt = this.#dying.has(remoteDomid) ? undefined : this.#table(remoteDomid, what);
    // evtchn_bind_interdomain takes the local port (ENOSPC) before it looks at the remote one.
    this.#freePort(t, what);
    if (!rt) {
      throw new XenError(
        "EINVAL",
        `${what}: dom${remoteDomid} is dying, its port ${show(remotePort)} is closed`,
      );
    }
    const rc = this.#chan(rt, remotePort, `${what}: remote`);
    if (rc.state !== "unbound" || rc.remoteDomid !== domid) {
      throw new XenError(
        "EINVAL",
        `${what}: dom${remoteDomid} port ${remotePort} is not an unbound port offered to dom${domid}`,
      );
    }
    const port = this.#alloc(
      t,
      { state: "interdomain", remoteDomid, remotePort: remotePort as number, irq: -1 },
      what,
    );
    rc.state = "interdomain";
    rc.remotePort = port;
    // event_channel.c evtchn_bind_interdomain: "We may have lost notifications on the remote
    // unbound port. Fix that up here by conservatively always setting a notification on the
    // local port."
    if (t.shared.setPending(port)) this.kick(domid);
    return port;
  }

  /** `EVTCHNOP_bind_pirq`: route physical IRQ `pirq` to a new port of `domid`. */
  bindPirq(domid: number, pirq: unknown): number {
    const what = "EVTCHNOP_bind_pirq";
    const t = this.#table(domid, what);
    const irq = intArg(pirq, 0, this.nrPirqs - 1, `${what}: pirq`);
    const owner = this.#pirqs.get(irq);
    if (owner) {
      throw new XenError(
        "EEXIST",
        `${what}: pirq ${irq} is bound to dom${owner.domid} port ${owner.port}`,
      );
    }
    const port = this.#alloc(t, { state: "pirq", remoteDomid: -1, remotePort: 0, irq }, what);
    this.#pirqs.set(irq, { domid, port });
    return port;
  }

  /**
   * `vcpu` if `domid` has that vCPU for events: a `uint32_t` (EINVAL
   * otherwise) that is 0, the only vCPU events reach here (`domain_vcpu()`
   * finds no other: ENOENT).
   */
  #vcpu(domid: number, vcpu: unknown, what: string): number {
    const v = intArg(vcpu, 0, 0xffff_ffff, `${what}: vcpu`);
    if (v !== 0) throw new XenError("ENOENT", `${what}: dom${domid} has no vCPU ${v}`);
    return v;
  }

  /**
   * `EVTCHNOP_bind_virq`: a new port of `domid` for virtual IRQ `virq`
   * (`VIRQ`) on vCPU `vcpu`. In `evtchn_bind_virq`'s order: a `virq` not
   * below {@link NR_VIRQS} is EINVAL; a global one (see {@link virqIsGlobal})
   * on a vCPU other than 0 EINVAL; a vCPU the domain lacks ENOENT; a VIRQ
   * the domain has bound already EEXIST; a full table ENOSPC. The port is
   * the lowest free one, as for every bind, and Xen sets no bit of it (one
   * the guest itself set while the port was free stays set).
   */
  bindVirq(domid: number, virq: unknown, vcpu: unknown): number {
    const what = "EVTCHNOP_bind_virq";
    const t = this.#table(domid, what);
    // evtchn_bind_virq.virq is a uint32_t read into an int: "virq < 0 || virq >= NR_VIRQS".
    const v = intArg(virq, 0, NR_VIRQS - 1, `${what}: virq`);
    const cpu = intArg(vcpu, 0, 0xffff_ffff, `${what}: vcpu`);
    if (virqIsGlobal(v) && cpu !== 0) {
      throw new XenError(
        "EINVAL",
        `${what}: VIRQ ${v} is global, bound on vCPU 0 only (not ${cpu})`,
      );
    }
    this.#vcpu(domid, cpu, what);
    if (t.virqs[v] !== 0) {
      throw new XenError(
        "EEXIST",
        `${what}: VIRQ ${v} of dom${domid} is bound to port ${t.virqs[v]}`,
      );
    }
    const port = this.#alloc(t, { state: "virq", remoteDomid: -1, remotePort: 0, irq: v }, what);
    t.virqs[v] = port;
    return port;
  }

  /**
   * `EVTCHNOP_bind_ipi`: a new port of `domid` that notifies its own vCPU
   * `vcpu` when the domain sends on it (`evtchn_bind_ipi`: ENOENT for a
   * vCPU it lacks, then ENOSPC for a full table).
   */
  bindIpi(domid: number, vcpu: unknown): number {
    const what = "EVTCHNOP_bind_ipi";
    const t = this.#table(domid, what);
    this.#vcpu(domid, vcpu, what);
    return this.#alloc(t, { state: "ipi", remoteDomid: -1, remotePort: 0, irq: -1 }, what);
  }

  /**
   * Xen raises virtual IRQ `virq` in `domid` (`send_guest_global_virq`,
   * `send_guest_vcpu_virq` for vCPU 0): the port bound to it becomes
   * pending. Returns false, and does nothing, when `domid` has not bound
   * `virq` (or does not exist).
   */
  raiseVirq(domid: number, virq: number): boolean {
    const t = this.#doms.get(domid);
    const port = t?.virqs[virq];
    if (!t || !port) return false;
    if (t.shared.setPending(port)) this.kick(domid);
    return true;
  }

  /**
   * `EVTCHNOP_send` on `port` of `domid`; returns the domain notified, or
   * undefined when the port is unbound (no peer yet, or the peer closed its
   * end): `evtchn_send` then drops the notification and succeeds. An IPI
   * port notifies `domid` itself. EINVAL for a pirq or virq port.
   */
  send(domid: number, port: unknown): number | undefined {
    const what = "EVTCHNOP_send";
    const t = this.#table(domid, what);
    const c = this.#chan(t, port, what);
    // event_channel.c evtchn_send(): "case ECS_UNBOUND: /* silently drop the notification */".
    if (c.state === "unbound") return undefined;
    // evtchn_send() ECS_IPI: the port itself goes pending, in the sender's own domain.
    if (c.state === "ipi") {
      if (t.shared.setPending(port as number)) this.kick(domid);
      return domid;
    }
    if (c.state !== "interdomain") {
      throw new XenError("EINVAL", `${what}: port ${port} of dom${domid} is a ${c.state} port`);
    }
    const rt = this.#doms.get(c.remoteDomid)!;
    if (rt.shared.setPending(c.remotePort)) this.kick(c.remoteDomid);
    return c.remoteDomid;
  }

  /**
   * `EVTCHNOP_close`: free `port`. An interdomain peer's port becomes
   * unbound (bindable again by this domain), as in Xen; a VIRQ's binding
   * goes, so the VIRQ may be bound again.
   */
  close(domid: number, port: unknown): void {
    const what = "EVTCHNOP_close";
    const t = this.#table(domid, what);
    const c = this.#chan(t, port, what);
    this.#free(domid, t, port as number, c);
  }

  #free(domid: number, t: PortTable, port: number, c: Chan): void {
    if (c.state === "interdomain") {
      const peer = this.#doms.get(c.remoteDomid)?.chans[c.remotePort];
      if (peer) {
        peer.state = "unbound";
        peer.remoteDomid = domid;
        peer.remotePort = 0;
      }
    } else if (c.state === "pirq") {
      this.#pirqs.delete(c.irq);
    } else if (c.state === "virq") {
      // evtchn_close() ECS_VIRQ: virq_to_evtchn[virq] = 0, the VIRQ may be bound again.
      t.virqs[c.irq] = 0;
    }
    t.chans[port] = undefined;
    t.inUse--;
    this.#inUse--;
    t.shared.clearPending(port);
  }

  /**
   * `EVTCHNOP_unmask`: clear the mask bit, delivering an event that arrived
   * meanwhile. Any valid port, bound or not (`evtchn_unmask` checks only
   * `port_is_valid`); a free port's pending bit was cleared when it was
   * freed, so nothing is delivered for it.
   */
  unmask(domid: number, port: unknown): void {
    const what = "EVTCHNOP_unmask";
    const t = this.#table(domid, what);
    const p = this.#valid(t, port, what);
    if (t.shared.unmask(p)) this.kick(domid);
  }

  /** `EVTCHNOP_status` of `port` in `domid`. */
  status(domid: number, port: unknown): EvtchnStatus {
    const what = "EVTCHNOP_status";
    // A dying domain's ports are valid as they were and all free (evtchn_destroy()).
    const valid = this.#dying.get(domid);
    if (valid !== undefined) {
      intArg(port, 0, valid - 1, `${what}: port`);
      return { state: "closed", vcpu: 0 };
    }
    const t = this.#table(domid, what);
    // evtchn_status(): a port not valid is -EINVAL; a valid free port, and port 0 (reserved), is
    // EVTCHNSTAT_closed (ECS_FREE, ECS_RESERVED).
    const p = this.#valid(t, port, what);
    const c = t.chans[p];
    // evtchn_status(): status->vcpu = chn->notify_vcpu_id in every state (0 once freed).
    if (!c) return { state: "closed", vcpu: 0 };
    if (c.state === "pirq") return { state: "pirq", vcpu: 0, pirq: c.irq };
    if (c.state === "virq") return { state: "virq", vcpu: 0, virq: c.irq };
    if (c.state === "ipi") return { state: "ipi", vcpu: 0 };
    if (c.state === "unbound") return { state: "unbound", vcpu: 0, remoteDomid: c.remoteDomid };
    return {
      state: "interdomain",
      vcpu: 0,
      remoteDomid: c.remoteDomid,
      remotePort: c.remotePort,
    };
  }

  /**
   * `EVTCHNOP_bind_vcpu`: notify `vcpu` of events on `port`. Each domain
   * has one vCPU for events here (vCPU 0): as `evtchn_bind_vcpu`, another
   * vCPU number is ENOENT (checked first, `domain_vcpu()` finds none), a
   * port not valid EINVAL, and a port not unbound, interdomain, pirq or a
   * global VIRQ's EINVAL: a free one, the reserved port 0, an IPI port and
   * a per-vCPU VIRQ's (they stay on the vCPU they were bound for). Binding
   * to vCPU 0 changes nothing.
   */
  bindVcpu(domid: number, port: unknown, vcpu: unknown): void {
    const what = "EVTCHNOP_bind_vcpu";
    const t = this.#table(domid, what);
    this.#vcpu(domid, vcpu, what);
    const p = this.#valid(t, port, what);
    const c = t.chans[p];
    if (!c) throw new XenError("EINVAL", `${what}: port ${p} is not in use`);
    // evtchn_bind_vcpu(): ECS_VIRQ only "if ( virq_is_global(chn->u.virq) )"; ECS_IPI is the
    // default case, -EINVAL.
    if (c.state === "ipi" || (c.state === "virq" && !virqIsGlobal(c.irq))) {
      const kind = c.state === "ipi" ? "an IPI" : `per-vCPU VIRQ ${c.irq}'s`;
      throw new XenError("EINVAL", `${what}: port ${p} is ${kind} port, fixed to its vCPU`);
    }
  }

  /**
   * A physical interrupt arrived: mark the bound port pending. Returns false
   * if no domain has bound `pirq`.
   */
  raisePirq(pirq: number): boolean {
    const b = this.#pirqs.get(pirq);
    if (!b) return false;
    if (this.#doms.get(b.domid)!.shared.setPending(b.port)) this.kick(b.domid);
    return true;
  }

  /**
   * `EVTCHNOP_reset` (`evtchn_reset`): close every port of `domid`, as
   * `EVTCHNOP_close` would each (interdomain peers become unbound, offered
   * back to `domid`; physical and virtual IRQs are unbound). The table stays: the
   * domain can bind again, from port 1.
   */
  reset(domid: number): void {
    if (this.#dying.has(domid)) return; // evtchn_reset(): no port of a dying domain is open
    const t = this.#table(domid, "EVTCHNOP_reset");
    t.chans.forEach((c, port) => {
      if (c) this.#free(domid, t, port, c);
    });
  }

  /**
   * Teardown: close every port of `domid` (peers become unbound) and drop its table; the
   * domain is dying until {@link forget} (see the class doc).
   */
  removeDomain(domid: number): void {
    const t = this.#doms.get(domid);
    if (!t) return;
    t.chans.forEach((c, port) => {
      if (c) this.#free(domid, t, port, c);
    });
    this.#doms.delete(domid);
    this.#dying.set(domid, t.valid);
  }

  /** A dying `domid` is gone for good (destroyed): its ports are no longer valid. */
  forget(domid: number): void {
    this.#dying.delete(domid);
  }
}

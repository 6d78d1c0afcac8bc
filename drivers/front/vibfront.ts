/**
 * The guest's virtual HCA driver ("vibfront"): registered in the guest
 * kernel as an IB device named after the physical one, it connects to
 * dom0's backend over xenbus and forwards every control operation as one
 * fixed-size request on the shared ring (`drivers/vib`).
 *
 * - Connect: allocate and grant the request ring page and the event ring
 *   page, allocate an unbound event channel for dom0, publish
 *   `ring-ref`, `event-ring-ref`, `event-channel`; Initialised; when the
 *   backend is Connected, Connected.
 * - A request: enter the guest kernel (`syscallNs`), marshal into the next
 *   slot (`ringMarshalNs`), publish, `EVTCHNOP_send` if the backend asked
 *   to be woken (`req_event`), sleep until the response's event (the
 *   backend's send, `upcallNs + domainSwitchNs` to reach this vCPU), copy
 *   the response out (`ringMarshalNs`).
 * - Events: the upcall drains the response ring and the event ring; CQ
 *   completion events and async events go to the open files' handlers
 *   (the verbs layer's completion channels and async queues).
 * - A datapath that crosses dom0 (the split baseline's provider) submits
 *   its requests without waiting ({@link VibFront.submit}, offered to it as
 *   a file's {@link FrontDatapath}), from the application's synchronous
 *   calls. The frontend knows nothing of what those requests mean.
 * - Identity: the device is registered under the physical device's name;
 *   in bypass mode it also exposes the physical PCI function (which the
 *   guest reaches through its UAR page), so the user-level library binds
 *   the same provider as on bare metal; in split mode it is a device of its
 *   own type ({@link VIB_SPLIT_DRIVER}), with no PCI function.
 *
 * The frontend trusts the backend no more than it must: responses are
 * copied out of the ring and matched by id, impossible response indices
 * break the ring (the device goes away, the guest keeps running).
 *
 * @module
 */
import type { Domain as XenDomain } from "../../hypervisor/domain.ts";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import { type Engine, WaitQueue } from "../../sim/engine.ts";
import type { Profile } from "../../sim/profiles/mod.ts";
import { takeFirst } from "../../sim/queue.ts";
import { Errno, type ErrnoCode, VerbsError } from "../uapi/errors.ts";
import type { AsyncEvent } from "../uapi/types.ts";
import type {
  DeviceIdentity,
  OpenFileOptions,
  UverbsDevice,
  UverbsEventHandlers,
  UverbsFile,
} from "../uapi/uverbs.ts";
import { EventDispatcher } from "../xen/evtchn.ts";
import type { GuestGrantTable } from "../xen/grant_table.ts";
import { FrontRing, RingError } from "../xen/ring.ts";
import { EventRingConsumer, type VibEvent, VibEventKind, VibEventObj } from "../vib/event_ring.ts";
import {
  opName,
  responseBody,
  segCapacity,
  VIB_KEYS,
  VibEncodeError,
  VibOp,
  type VibOpCode,
  VibProtocolError,
  type VibRequest,
  type VibRequestOf,
  type VibResponse,
  vibRingOptions,
  type VibRspBody,
} from "../vib/mod.ts";
import { XenbusDevice, XenbusState, xenbusStateName } from "../xen/xenbus.ts";
import { dropIndirect, packRefs, ungrant } from "./buffers.ts";
import { type PersistentGrant, PersistentGrants } from "./persistent.ts";

/**
 * Options of {@link VibFront}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { VibFrontOptions } from "./vibfront.ts";
 * import type { XenGuest } from "../../platform/xen_guest.ts";
 * const domid = (o: VibFrontOptions) => o.dom.domid;
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "split" }) as XenGuest;
 * assert.equal(domid(vm.front.o), vm.domid);
 * assert.equal(vm.front.o.mode, "split");
 * assert.equal(vm.front.o.paths.backend, `/local/domain/0/backend/vib/${vm.domid}/0`);
 * ```
 */
export interface VibFrontOptions {
  engine: Engine;
  profile: Profile;
  hv: Hypervisor;
  /** The guest domain this driver runs in. */
  dom: XenDomain;
  /** The guest kernel's grant-table client (one per domain). */
  grants: GuestGrantTable;
  paths: { frontend: string; backend: string };
  /** Datapath of the device ("bypass" or "split"). */
  mode: "bypass" | "split";
  /** Builds the file of an opened context (`file.ts`) from the `OPEN` response. */
  makeFile: (
    front: VibFront,
    r: VibRspBody<typeof VibOp.OPEN>,
    opts: OpenFileOptions,
  ) => FrontFile;
}

/**
 * What the frontend needs of an open file: where its events go, and how to
 * give back its grants when the device goes away.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { FrontFile } from "./vibfront.ts";
 * const f = { handlers: { onCompEvent() {}, onAsyncEvent() {} }, releaseGrants: async () => {} };
 * assert.ok((f satisfies Pick<FrontFile, "handlers" | "releaseGrants">) !== undefined);
 * ```
 */
export interface FrontFile extends UverbsFile {
  readonly handlers: UverbsEventHandlers;
  /** End every grant the file holds (dom0 has unmapped them). */
  releaseGrants(): Promise<void>;
}

/**
 * The driver type a vib device registers under: "vib" in bypass mode (with
 * the physical PCI function), "vib-split" in split mode (a paravirtual
 * device: the guest never reaches the hardware).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VIB_BYPASS_DRIVER, VIB_SPLIT_DRIVER } from "./vibfront.ts";
 * assert.notEqual(VIB_BYPASS_DRIVER, VIB_SPLIT_DRIVER);
 * ```
 */
export const VIB_BYPASS_DRIVER = "vib";
/** See {@link VIB_BYPASS_DRIVER}. */
export const VIB_SPLIT_DRIVER = "vib-split";

/** A strict `0x`-prefixed 16-bit hex id, as sysfs writes PCI ids. */
function parsePciId(v: string): number | undefined {
  return /^0x[0-9a-f]{4}$/.test(v) ? parseInt(v, 16) : undefined;
}

const CODE_OF = new Map<number, ErrnoCode>(
  Object.entries(Errno).map(([k, v]) => [v, k as ErrnoCode]),
);

/**
 * The errno name for a `-errno` status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { codeOfStatus } from "./vibfront.ts";
 * assert.equal(codeOfStatus(-22), "EINVAL");
 * assert.equal(codeOfStatus(-9999), "EIO"); // a status verbs does not know
 * ```
 */
export function codeOfStatus(status: number): ErrnoCode {
  return CODE_OF.get(-status) ?? "EIO";
}

/**
 * What a refusal's message says: the limit it hit, when the backend named one, else what was
 * wrong with the request, when the backend said it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refusal } from "./vibfront.ts";
 * assert.equal(refusal("pds"), "the backend refused the request: over the guest's pds quota");
 * assert.equal(refusal("dom0:uar"), "the backend refused the request: dom0 keeps the rest of its uar for itself and new guests");
 * assert.equal(refusal(undefined), "the backend refused the request");
 * assert.equal(refusal(undefined, "modify_qp QP 2: no such QP state 14"), "modify_qp QP 2: no such QP state 14");
 * ```
 */
export function refusal(limit: string | undefined, reason?: string): string {
  const base = "the backend refused the request";
  if (limit === undefined) return reason ?? base;
  if (limit.startsWith("dom0:")) {
    return `${base}: dom0 keeps the rest of its ${limit.slice(5)} for itself and new guests`;
  }
  return `${base}: over the guest's ${limit} quota`;
}

/**
 * A request as the caller gives it (the id is the driver's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenGuest } from "../../platform/xen_guest.ts";
 * import { VibOp } from "../vib/mod.ts";
 * import type { VibFrontFile } from "./file.ts";
 * import type { RequestArgs } from "./vibfront.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass" }) as XenGuest;
 * await cluster.run(async () => {
 *   const { ctx } = (await vm.openDevice()).file as VibFrontFile;
 *   const allocPd: RequestArgs = { op: VibOp.ALLOC_PD, flags: 0, ctx, handle: 0, body: {}, segs: [] };
 *   assert.equal((await vm.front.requestRaw(allocPd))?.status, 0);
 *   const bad: RequestArgs = { ...allocPd, ctx: ctx + 1 }; // no such context
 *   assert.equal((await vm.front.requestRaw(bad))?.status, -9); // -EBADF
 * });
 * ```
 */
export type RequestArgs = Omit<VibRequest, "id" | "reserved">;

/**
 * A request of op `O` as the caller gives it, its body typed by the op table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RequestArgsOf } from "./vibfront.ts";
 * import { VibOp } from "../vib/mod.ts";
 * const port: RequestArgsOf<typeof VibOp.QUERY_PORT> = {
 *   op: VibOp.QUERY_PORT, flags: 0, ctx: 1, handle: 0, body: { port: 1 }, segs: [],
 * };
 * assert.equal(port.body.port, 1);
 * ```
 */
export type RequestArgsOf<O extends VibOpCode> = Omit<VibRequestOf<O>, "id" | "reserved">;

/**
 * The frontend of one guest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenGuest } from "../../platform/xen_guest.ts";
 * import { VibOp } from "../vib/mod.ts";
 * import type { VibFrontFile } from "./file.ts";
 * import type { VibFront } from "./vibfront.ts";
 * async function pd(front: VibFront, ctx: number) {
 *   return await front.request({ op: VibOp.ALLOC_PD, flags: 0, ctx, handle: 0, body: {}, segs: [] });
 * }
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass" }) as XenGuest;
 * await cluster.run(async () => {
 *   const file = (await vm.openDevice()).file as VibFrontFile;
 *   const sent = vm.front.stats.requests;
 *   const { pdHandle } = await pd(vm.front, file.ctx);
 *   assert.equal(typeof pdHandle, "number");
 *   assert.equal(vm.front.stats.requests, sent + 1); // one request on the ring, one response
 * });
 * ```
 */
export class VibFront implements UverbsDevice {
  /** Device name (the physical device's, as the backend publishes it). */
  name = "vib";
  readonly xb: XenbusDevice;
  readonly mode: "bypass" | "split";
  /** Requests sent, upcalls taken, events delivered, responses with errors. */
  readonly stats = { requests: 0, upcalls: 0, events: 0, errors: 0 };
  readonly o: VibFrontOptions;
  /**
   * Persistent grants of memory regions (`persistent.ts`): the guest's half of
   * the registration cache, bounded by the backend's `max-persistent-grants`.
   */
  readonly persistent = new PersistentGrants(0);
  #ring: FrontRing<VibRequest, VibResponse> | undefined;
  #events: EventRingConsumer | undefined;
  #pages: { addr: number; ref: number }[] = [];
  #port = 0;
  #nextId = 1;
  #waiters = new Map<number, (r: VibResponse | undefined) => void>();
  #arrived = new Map<number, VibResponse>();
  #awaited = new Set<number>();
  #callbacks = new Map<number, (r: VibResponse) => void>();
  /**
   * Synchronous requests (the split datapath's doorbells and polls) by the
   * low bits of their ids (-1 where none), with their callbacks: one per
   * post and per poll, so no map entry each (a map that gains and loses its
   * few entries reallocates its table). An id whose place is taken goes to
   * {@link #callbacks}.
   */
  #slotId = new Float64Array(CALLBACK_SLOTS).fill(-1);
  #slotCb: ((r: VibResponse) => void)[] = new Array(CALLBACK_SLOTS).fill(ignoreResponse);
  #slotted = 0;
  #backlog: VibRequest[] = [];
  #slots: WaitQueue;
  #files = new Map<number, FrontFile>();
  #pci: { pciVendor: number; pciDevice: number } | undefined;
  #dead: string | undefined;
  #closing = false;
  /** The close the backend started (xenbus state Closing/Closed/gone), once it has. */
  #backendClose: Promise<void> | undefined;

  /** The kind of the event that sends a kick's notification ({@link Engine.tag}). */
  readonly #tagKick: number;

  /** @param o see {@link VibFrontOptions} */
  constructor(o: VibFrontOptions) {
    this.o = o;
    this.#tagKick = o.engine.tag("vib.front_kick");
    this.mode = o.mode;
    this.xb = new XenbusDevice({
      xs: o.hv.xenstore,
      domid: o.dom.domid,
      nodePath: o.paths.frontend,
      otherendDomid: 0,
      otherendPath: o.paths.backend,
    });
    this.#slots = new WaitQueue(o.engine, `vibfront dom${o.dom.domid} ring slot`);
  }

  /** The shared request ring (tests look at and forge it, as a hostile guest would). */
  get ring(): FrontRing<VibRequest, VibResponse> {
    this.#live();
    return this.#ring!;
  }

  /** Guest address of the event ring page (tests forge it, as a hostile guest would). */
  get eventRingAddr(): number {
    return this.#pages[1]?.addr ?? 0;
  }

  /** The guest's end of the event channel. */
  get port(): number {
    return this.#port;
  }

  /** Why the device went away, if it did. */
  get deadReason(): string | undefined {
    return this.#dead;
  }

  /** Files (contexts) open now, by context id. */
  get files(): ReadonlyMap<number, FrontFile> {
    return this.#files;
  }

  /** What the user-level library matches its providers against (see the module doc). */
  get identity(): DeviceIdentity {
    if (this.mode === "split") return { driver: VIB_SPLIT_DRIVER };
    return { driver: VIB_BYPASS_DRIVER, ...this.#pci };
  }

  #live(): void {
    if (this.#dead) {
      throw new VerbsError("EIO", `${this.name}: device disconnected (${this.#dead})`);
    }
  }

  /** The xenbus handshake (guest kernel, at boot). */
  async connect(): Promise<void> {
    const { hv, dom, engine } = this.o;
    const space = dom.memory;
    // A re-probe (the driver was bound to this device before and left it Closed): back to
    // Initialising, which a Linux backend takes as "prepare for reconnect" (xen-blkback and
    // xen-netback frontend_changed), from Closed to InitWait. A node the guest itself left
    // anywhere else is closed first: the backend serves a re-probe only from its Closed.
    const st = this.xb.state;
    if (st !== XenbusState.Initialising) {
      if (st !== XenbusState.Closed && st !== XenbusState.Unknown) {
        this.xb.switchState(XenbusState.Closed);
      }
      this.xb.switchState(XenbusState.Initialising);
    }
    const page = async () => {
      const addr = space.alloc(4096, 4096);
      const ref = await this.o.grants.grantAccess(0, addr / 4096, false);
      this.#pages.push({ addr, ref });
      return { addr, ref, bytes: hv.mem.frame(space.mfnOf(addr / 4096)!) };
    };
    const ring = await page();
    this.#ring = FrontRing.init(ring.bytes, vibRingOptions());
    const ev = await page();
    this.#events = new EventRingConsumer(ev.bytes);
    this.#events.init();
    this.#port = await hv.evtchnAllocUnbound(dom, { remoteDom: 0 });
    EventDispatcher.of(dom).bind(this.#port, () => this.#upcall());
    const d = dom.domid;
    // The rings are offered once the backend waits for them (netfront's and blkfront's
    // backend_changed talk to the backend on its InitWait, while they are Initialising).
    if (this.xb.peerState() !== XenbusState.InitWait) {
      const s = await this.xb.waitPeer(
        engine,
        (s) => s === XenbusState.InitWait || s === XenbusState.Closing || s === XenbusState.Unknown,
      );
      if (s !== XenbusState.InitWait) await this.#failConnect(s);
    }
    const xs = hv.xenstore, p = this.o.paths.frontend;
    xs.write(d, `${p}/${VIB_KEYS.ringRef}`, String(ring.ref));
    xs.write(d, `${p}/${VIB_KEYS.eventRingRef}`, String(ev.ref));
    xs.write(d, `${p}/${VIB_KEYS.eventChannel}`, String(this.#port));
    this.xb.switchState(XenbusState.Initialised);
    const s = await this.xb.waitPeer(
      engine,
      (s) =>
        s === XenbusState.Connected || s === XenbusState.Closing || s === XenbusState.Closed ||
        s === XenbusState.Unknown,
    );
    if (s !== XenbusState.Connected) await this.#failConnect(s);
    const backendKey = (k: string) => {
      try {
        return xs.read(d, `${this.o.paths.backend}/${k}`);
      } catch {
        return undefined;
      }
    };
    // Without a name the generic one stays; without PCI ids no provider binds the device.
    this.name = backendKey(VIB_KEYS.deviceName) ?? this.name;
    const vendor = parsePciId(backendKey(VIB_KEYS.pciVendor) ?? "");
    const device = parsePciId(backendKey(VIB_KEYS.pciDevice) ?? "");
    if (vendor !== undefined && device !== undefined) {
      this.#pci = { pciVendor: vendor, pciDevice: device };
    }
    // How many deregistered pages dom0 keeps mapped for us; without the key, none.
    const keep = backendKey(VIB_KEYS.maxPersistentGrants) ?? "";
    this.persistent.limit = /^(0|[1-9][0-9]{0,9})$/.test(keep) ? Number(keep) : 0;
    this.xb.switchState(XenbusState.Connected);
    this.xb.onPeerChange((st) => {
      if (st !== XenbusState.Connected && !this.#closing && !this.#backendClose) {
        this.#backendClose = this.o.engine.spawn(
          `vibfront dom${d} backend closed`,
          () => this.#backendGone(),
        );
      }
    });
  }

  /** The backend went `s` instead of connecting: give everything back, Closed, ENODEV. */
  async #failConnect(s: number): Promise<never> {
    const d = this.o.dom.domid;
    this.#closing = true;
    this.#dead = "backend did not connect";
    await this.#release();
    try {
      this.xb.switchState(XenbusState.Closed);
    } catch {
      // The guest's store is gone.
    }
    this.xb.dispose();
    const why = s === XenbusState.Unknown ? "its node is gone" : `it went ${xenbusStateName(s)}`;
    throw new VerbsError("ENODEV", `vibfront dom${d}: backend did not connect (${why})`);
  }

  /**
   * `ibv_open_device` on this device: a context in dom0 with its own UAR.
   * `regCache` (default on): the context registers memory with persistent grants.
   */
  async open(opts: OpenFileOptions = {}): Promise<UverbsFile> {
    const r = await this.request({
      op: VibOp.OPEN,
      flags: 0,
      ctx: 0,
      handle: 0,
      body: {},
      segs: [],
    });
    const file = this.o.makeFile(this, r, { regCache: opts.regCache ?? true });
    this.#files.set(r.ctx, file);
    // The UAR page may have landed where a cached grant's page was: that grant is not the
    // page's any more (the hypervisor replaced the frame), so it goes back now.
    if (r.uarAddr) await this.releasePersistent(this.persistent.takeIdleAt(r.uarAddr / 4096));
    return file;
  }

  /**
   * Give persistent grants back: ask dom0 to drop its cached mappings of
   * them (`RELEASE_GRANTS`; `gnttab_end_foreign_access` on a grant dom0 maps
   * would fail), then end them. With the device gone dom0 has unmapped
   * everything already: the grants are just ended.
   */
  async releasePersistent(grants: readonly PersistentGrant[]): Promise<void> {
    if (grants.length === 0) return;
    const { engine, profile } = this.o;
    const entryNs = profile.xen.grantEntryNs;
    const refs = grants.map((g) => g.ref);
    if (!this.#dead && this.o.dom.running) {
      for (let i = 0; i < refs.length; i += 16384) {
        const part = refs.slice(i, i + 16384);
        const g = await packRefs(engine, this.o, entryNs, part, segCapacity(VibOp.RELEASE_GRANTS));
        try {
          await this.request({
            op: VibOp.RELEASE_GRANTS,
            flags: g.flags,
            ctx: 0,
            handle: 0,
            body: { nrRefs: part.length },
            segs: g.segs,
          });
        } catch {
          // A refusal or a dead device: the grants dom0 still maps stay in use below.
        } finally {
          await dropIndirect(engine, this.o, entryNs, g);
        }
      }
    }
    this.persistent.stats.released += refs.length;
    await ungrant(engine, this.o, entryNs, refs);
  }

  /** @internal a file was closed */
  forgetFile(ctx: number): void {
    this.#files.delete(ctx);
  }

  /**
   * One control operation: marshal, publish, notify, wait for the response.
   * Rejects with the backend's errno, EINVAL for a value the protocol cannot
   * carry, EIO once the device is gone or for a response that does not
   * answer the request.
   */
  async request<O extends VibOpCode>(a: RequestArgsOf<O>): Promise<VibRspBody<O>> {
    const { engine, profile } = this.o;
    this.#live();
    await engine.sleep(profile.cpu.syscallNs);
    while (this.#drain() && this.#ring!.full) {
      this.#arm();
      await this.#slots.wait();
      this.#live();
    }
    this.#live();
    const id = this.#nextId;
    try {
      this.#ring!.pushRequest({ ...a, id });
    } catch (e) {
      if (e instanceof VibEncodeError) {
        throw new VerbsError("EINVAL", `${opName(a.op)}: ${e.message}`);
      }
      throw e;
    }
    this.#nextId = (id + 1) >>> 0 || 1;
    this.stats.requests++;
    this.#awaited.add(id);
    await engine.sleep(profile.xen.ringMarshalNs);
    if (this.#dead) {
      throw new VerbsError("EIO", `${this.name}: device disconnected (${this.#dead})`);
    }
    if (this.#ring!.pushRequestsAndCheckNotify()) await this.#notify();
    const r = this.#arrived.get(id) ?? await this.#wait(id, a.op);
    this.#arrived.delete(id);
    this.#awaited.delete(id);
    await engine.sleep(profile.xen.ringMarshalNs);
    if (!r) throw new VerbsError("EIO", `${opName(a.op)}: device disconnected (${this.#dead})`);
    if (r.status < 0) {
      this.stats.errors++;
      const code = codeOfStatus(r.status);
      throw new VerbsError(code, `${opName(a.op)}: ${refusal(r.limit, r.reason)}`);
    }
    try {
      return responseBody(a.op, r);
    } catch (e) {
      if (e instanceof VibProtocolError) {
        throw new VerbsError("EIO", `${opName(a.op)}: ${e.message}`);
      }
      throw e;
    }
  }

  /**
   * A request with no safety net, for hostile-guest experiments (tests,
   * tools): `id` overrides the driver's (a replay), `mutate` rewrites the
   * slot's bytes after encoding and before publishing (forged headers,
   * counts, refs). Resolves with the raw response (status included) or
   * undefined if the device went away.
   */
  async requestRaw(
    a: RequestArgs & { id?: number },
    mutate?: (slot: DataView) => void,
  ): Promise<VibResponse | undefined> {
    this.#live();
    const ring = this.#ring!;
    while (this.#drain() && ring.full) {
      this.#arm();
      await this.#slots.wait();
    }
    const id = a.id ?? this.#nextId;
    if (a.id === undefined) this.#nextId = (id + 1) >>> 0 || 1;
    const slot = ring.reqProdPvt;
    ring.pushRequest({ ...a, id });
    mutate?.(ring.shared.slotView(slot));
    const wantId = new DataView(
      ring.shared.page.buffer,
      ring.shared.page.byteOffset + ring.shared.slotOffset(slot),
    )
      .getUint32(0, true);
    this.#awaited.add(wantId);
    if (ring.pushRequestsAndCheckNotify()) await this.#notify();
    const r = this.#arrived.get(wantId) ?? await this.#wait(wantId, a.op);
    this.#arrived.delete(wantId);
    this.#awaited.delete(wantId);
    return r;
  }

  /**
   * Queue a request from a synchronous caller (the split datapath): it is
   * published at once if a slot is free, else when one frees up. Returns
   * whether the backend must be notified (the caller charges the hypercall
   * and calls {@link kick} when its CPU gets there). `onResponse`, if
   * given, gets the response from the upcall.
   */
  submit(a: RequestArgs, onResponse?: (r: VibResponse) => void): boolean {
    return this.#submit(a.op, a.flags, a.ctx, a.handle, a.body, a.segs, onResponse);
  }

  /**
   * {@link submit} of a datapath request of context `ctx` (no flags, no
   * handle, no segments), without an object for its arguments.
   */
  submitOp(
    op: VibOpCode,
    ctx: number,
    body: Record<string, unknown>,
    onResponse?: (r: VibResponse) => void,
  ): boolean {
    return this.#submit(op, 0, ctx, 0, body, NO_SEGS, onResponse);
  }

  #submit(
    op: number,
    flags: number,
    ctx: number,
    handle: number,
    body: Record<string, unknown>,
    segs: number[],
    onResponse: ((r: VibResponse) => void) | undefined,
  ): boolean {
    this.#live();
    const id = this.#nextId;
    this.#nextId = (id + 1) >>> 0 || 1;
    this.stats.requests++;
    const h = id & (CALLBACK_SLOTS - 1);
    if (this.#slotId[h] !== -1) this.#callbacks.set(id, onResponse ?? ignoreResponse);
    else {
      this.#slotId[h] = id;
      this.#slotCb[h] = onResponse ?? ignoreResponse;
      this.#slotted++;
    }
    this.#drain();
    if (this.#ring!.full || this.#backlog.length > 0) {
      this.#backlog.push({ id, op, flags, ctx, handle, body, segs });
      this.#arm();
      return false;
    }
    // Published at once: the ring encodes the request into its slot and keeps nothing of it.
    const req = this.#scratch;
    req.id = id;
    req.op = op;
    req.flags = flags;
    req.ctx = ctx;
    req.handle = handle;
    req.body = body;
    req.segs = segs;
    try {
      this.#ring!.pushRequest(req);
    } catch (e) {
      if (this.#slotId[h] === id) this.#unslot(h);
      else this.#callbacks.delete(id);
      if (e instanceof VibEncodeError) {
        throw new VerbsError("EINVAL", `${opName(op)}: ${e.message}`);
      }
      throw e;
    } finally {
      req.body = NO_BODY;
      req.segs = NO_SEGS;
    }
    if (onResponse) this.#arm();
    return this.#ring!.pushRequestsAndCheckNotify();
  }

  #scratch: VibRequest = { id: 0, op: 0, flags: 0, ctx: 0, handle: 0, body: {}, segs: [] };

  /**
   * Send the event channel notification `delayNs` from now. The guest
   * kernel's notifier makes the `EVTCHNOP_send` hypercalls one at a time,
   * in order: a kick due while one is under way waits for its end.
   */
  kick(delayNs: number): void {
    this.o.engine.post(Math.max(0, delayNs), this.#kicked, this.#tagKick);
  }

  /** Kicks due that wait for the notifier's hypercall under way. */
  #kicksDue = 0;
  #notifying = false;

  #kicked = (): void => {
    if (this.#notifying) this.#kicksDue++;
    else this.#sendKick();
  };

  /**
   * The notifier's hypercall as callbacks (`Hypervisor.evtchnSendThen`): the
   * same counters, trace mark and time (a guest's hypercall is an event of
   * its length) as a thread awaiting {@link #notify}, with nothing run in
   * between where that thread would have resumed (the kick's event and the
   * hypercall's end do nothing else), so every step keeps its instant and
   * its place in event order; no process is woken per notification.
   */
  #sendKick(): void {
    if (this.#dead) {
      this.#kicksDue = 0;
      return;
    }
    this.#notifying = true;
    this.o.hv.evtchnSendThen(this.o.dom, this.#port, this.name, this.#kickSent);
  }

  #kickSent = (e: Error | undefined): void => {
    if (e) this.#kill(`event channel: ${e.message}`);
    this.#notifying = false;
    if (this.#kicksDue > 0) {
      this.#kicksDue--;
      this.#sendKick();
    }
  };

  async #notify(): Promise<void> {
    try {
      await this.o.hv.evtchnSend(this.o.dom, this.#port);
    } catch (e) {
      this.#kill(`event channel: ${(e as Error).message}`);
    }
  }

  #wait(id: number, op: number): Promise<VibResponse | undefined> {
    const b = this.o.engine.block<VibResponse | undefined>(
      `${this.name} dom${this.o.dom.domid} ${opName(op)} response`,
    );
    this.#waiters.set(id, b.resolve);
    this.#arm();
    return b.promise;
  }

  /** Ask for an event at the next response while anyone waits for one (re-checking after). */
  #arm(): void {
    if (this.#dead || !this.#ring) return;
    try {
      while (this.#ring.finalCheckForResponses()) this.#drain();
    } catch (e) {
      if (e instanceof RingError) this.#kill(`response ring: ${e.message}`);
      else throw e;
    }
  }

  /** Take every published response; true if the device is still alive. */
  #drain(): boolean {
    if (this.#dead || !this.#ring) return false;
    let took = false;
    try {
      for (;;) {
        const r = this.#ring.takeResponse();
        if (!r) break;
        took = true;
        this.#deliver(r);
      }
    } catch (e) {
      if (e instanceof RingError) {
        this.#kill(`response ring: ${e.message}`);
        return false;
      }
      throw e;
    }
    if (took) this.#refill();
    return true;
  }

  #unslot(h: number): void {
    this.#slotId[h] = -1;
    this.#slotCb[h] = ignoreResponse;
    this.#slotted--;
  }

  #deliver(r: VibResponse): void {
    const w = this.#waiters.get(r.id);
    if (w) {
      this.#waiters.delete(r.id);
      w(r);
      return;
    }
    const h = r.id & (CALLBACK_SLOTS - 1);
    if (this.#slotId[h] === r.id) {
      const cb = this.#slotCb[h];
      this.#unslot(h);
      if (r.status < 0) this.stats.errors++;
      cb(r);
      return;
    }
    const cb = this.#callbacks.get(r.id);
    if (cb) {
      this.#callbacks.delete(r.id);
      if (r.status < 0) this.stats.errors++;
      cb(r);
      return;
    }
    // Published before its waiter got there (the notify hypercall was still running).
    if (this.#awaited.has(r.id)) this.#arrived.set(r.id, r);
  }

  /** Slots freed: queued synchronous requests go out, waiting callers retry. */
  #refill(): void {
    const ring = this.#ring!;
    let pushed = false;
    while (this.#backlog.length > 0 && !ring.full) {
      ring.pushRequest(takeFirst(this.#backlog)!);
      pushed = true;
    }
    if (pushed && ring.pushRequestsAndCheckNotify()) this.kick(0);
    this.#slots.notifyAll();
  }

  #upcall(): void {
    this.stats.upcalls++;
    this.#drain();
    if (
      this.#waiters.size > 0 || this.#callbacks.size > 0 || this.#slotted > 0 ||
      this.#backlog.length > 0
    ) this.#arm();
    const evs = this.#events?.take() ?? [];
    if (evs.length === 0 || this.#dead) return;
    // The guest kernel copies the events out before handing them on.
    this.o.engine.post(this.o.profile.xen.ringMarshalNs, () => {
      for (let i = 0; i < evs.length; i++) this.#dispatch(evs[i]);
    }, this.o.engine.tag("vib.front_events"));
  }

  #dispatch(e: VibEvent): void {
    const f = this.#files.get(e.ctx);
    if (!f) return;
    this.stats.events++;
    if (e.kind === VibEventKind.COMP) {
      f.handlers.onCompEvent(e.handle);
      return;
    }
    const ev: AsyncEvent = { type: e.type };
    if (e.obj === VibEventObj.QP) ev.qpHandle = e.handle;
    else if (e.obj === VibEventObj.CQ) ev.cqHandle = e.handle;
    else if (e.obj === VibEventObj.SRQ) ev.srqHandle = e.handle;
    else if (e.obj === VibEventObj.PORT) ev.portNum = e.handle;
    f.handlers.onAsyncEvent(ev);
  }

  /** The device is gone: every waiter gets EIO, every later call too. */
  #kill(reason: string): void {
    if (this.#dead) return;
    this.#dead = reason;
    for (const w of this.#waiters.values()) w(undefined);
    this.#waiters.clear();
    // Callers of submit() wait on their callbacks: tell them it is over (EIO).
    // In the order they were submitted: ids are handed out in order, and every one outstanding
    // is less than half the id space behind the next.
    const pending: [number, (r: VibResponse) => void][] = [...this.#callbacks];
    for (let h = 0; h < CALLBACK_SLOTS; h++) {
      if (this.#slotId[h] !== -1) pending.push([this.#slotId[h], this.#slotCb[h]]);
    }
    const next = this.#nextId;
    pending.sort(([a], [b]) => ((a - next) >>> 0) - ((b - next) >>> 0));
    this.#callbacks.clear();
    this.#slotId.fill(-1);
    this.#slotCb.fill(ignoreResponse);
    this.#slotted = 0;
    for (const [id, cb] of pending) cb({ id, op: 0, status: -Errno.EIO, body: {} });
    this.#backlog = [];
    this.#slots.notifyAll();
    this.onDead?.(reason);
  }

  /** Called once when the device goes away (the guest kernel unregisters it). */
  onDead: ((reason: string) => void) | undefined;

  /** The backend disconnected us: wait until it is Closed, then let go of our side. */
  async #backendGone(): Promise<void> {
    this.#kill(
      `backend ${this.xb.peerState() === XenbusState.Unknown ? "gone" : "closed the device"}`,
    );
    // The backend's Closing comes once it has unmapped everything (a Linux frontend closes on
    // it: xenbus_frontend_closed); Closed or gone, if it got there first.
    await this.xb.waitPeer(this.o.engine, backendDown);
    if (this.o.dom.running) await this.#release();
    try {
      this.xb.switchState(XenbusState.Closed);
    } catch {
      // The guest's store is gone.
    }
    this.xb.dispose();
  }

  /**
   * Clean disconnect (guest shutdown, driver unbound): Closing; the backend
   * tears everything down and goes Closing; end our grants, close the port,
   * Closed; the backend goes Closed.
   */
  disconnect(): Promise<void> {
    // The backend closed the device first: its close is under way, and it is ours too
    // (two closes racing would release twice and switch a disposed device). A close of ours
    // under way (a driver unbind when the guest shuts down) is the one the caller waits for.
    if (this.#backendClose) return this.#backendClose;
    if (this.#disconnecting) return this.#disconnecting;
    if (this.#closing || !this.o.dom.running) return Promise.resolve();
    this.#closing = true;
    return this.#disconnecting = this.#disconnect();
  }

  #disconnecting: Promise<void> | undefined;

  async #disconnect(): Promise<void> {
    try {
      this.xb.switchState(XenbusState.Closing);
    } catch {
      return;
    }
    await this.xb.waitPeer(this.o.engine, backendDown);
    this.#kill("device closed");
    if (this.#crashed) return;
    await this.#release();
    this.xb.switchState(XenbusState.Closed);
    // The backend answers the frontend's Closed with its own (frontend_changed, Closed).
    await this.xb.waitPeer(
      this.o.engine,
      (s) => s === XenbusState.Closed || s === XenbusState.Unknown,
    );
    this.xb.dispose();
  }

  /**
   * The guest died: nothing of it runs any more. A wait of the driver's on
   * the backend ends (its domain's watches are gone with it).
   */
  crashed(): void {
    this.#closing = true;
    this.#crashed = true;
    this.#kill("guest crashed");
    this.xb.dispose();
  }

  #crashed = false;

  /** End every grant, free the ring pages, close the port. */
  async #release(): Promise<void> {
    const { dom, hv } = this.o;
    for (const f of [...this.#files.values()]) await f.releaseGrants();
    this.#files.clear();
    // The backend has unmapped everything (it is Closed): end every persistent grant.
    await ungrant(
      this.o.engine,
      this.o,
      this.o.profile.xen.grantEntryNs,
      this.persistent.takeAll().map((g) => g.ref),
    );
    for (const p of this.#pages) {
      try {
        await this.o.grants.endAccess(p.ref);
        dom.memory.free(p.addr);
      } catch {
        // The backend still maps it (a broken backend): the page stays granted.
      }
    }
    this.#pages = [];
    if (this.#port) {
      EventDispatcher.of(dom).unbind(this.#port);
      await hv.evtchnClose(dom, this.#port).catch(() => {});
      this.#port = 0;
    }
  }
}

export { codeOfStatus as statusCode };
export type { VibEvent };

/** The backend has let go of the connection: Closing (after its teardown), Closed or gone. */
function backendDown(s: number): boolean {
  return s === XenbusState.Closing || s === XenbusState.Closed || s === XenbusState.Unknown;
}

/** The callback of a request whose response nobody reads. */
function ignoreResponse(): void {}

/** The segments of a request that has none (never written to). */
const NO_SEGS: number[] = [];
/** The body a published request's scratch object is left with (never written to). */
const NO_BODY: Record<string, unknown> = {};

/** Places for the ids of synchronous requests and their callbacks (a power of two). */
const CALLBACK_SLOTS = 1024;

/**
 * One backend instance ("vibback"), serving one guest's frontend from
 * dom0: the xenbus handshake, the request loop, event forwarding and the
 * teardown that returns everything.
 *
 * - Handshake: InitWait; when the frontend is Initialised (or already
 *   Connected), read its
 *   `ring-ref`, `event-ring-ref` and `event-channel` (strict decimal),
 *   map both pages, bind the event channel, Connected.
 * - Requests: the ring copies each request out of the shared page before
 *   it is decoded (`ring.ts`); the backend then checks it
 *   (`ops.checkRequest`, strictly increasing ids: a replay gets EINVAL),
 *   executes it against the native driver (`ops.execute`) and answers.
 *   Costs: `ringMarshalNs` to copy the request out and the response in,
 *   `backendOpNs` of lookup and validation, the driver's own costs, and a
 *   hypercall for the notification when the frontend asked for one.
 *   A frontend that keeps its ring full is served a ring's worth at a time,
 *   then the other backends run; one that publishes impossible ring
 *   indices is disconnected (xenbus Closing), its guest keeps running.
 * - Events: the native driver calls the context's handlers from dom0's
 *   interrupt path; an event thread writes them into the event ring
 *   (with a datapath through dom0: after it had its turn, e.g. copying the
 *   CQ's new entries to the guest) and notifies the guest — the dom0 hop
 *   of flow 3.
 * - Mode: the toolstack's `mode` key picks the device's datapath among
 *   those the backend driver was given (`datapath.ts`); a mode with none
 *   is bypass.
 * - Teardown (frontend Closing/Closed or gone, guest shut down or crashed,
 *   hostile frontend): every context is closed through the driver (device
 *   objects destroyed, UAR unmapped and freed), then every grant unmapped
 *   (which frees the frames of a dead guest), the ring pages unmapped, the
 *   port closed, Closing; Closed once the frontend is Closed.
 * - Re-probe: the instance outlives its connections. Closed, it serves a
 *   frontend that comes back to Initialising from InitWait again, as
 *   Linux's backends do; it ends (`device_unregister`) when the frontend is
 *   gone, or Closed while the toolstack's `online` node is not 1, or when
 *   the guest is torn down.
 *
 * @module
 */
import type { Domain as XenDomain } from "../../hypervisor/domain.ts";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import { type Engine, WaitQueue } from "../../sim/engine.ts";
import type { Profile } from "../../sim/profiles/mod.ts";
import type { HcaDriver } from "../native/driver.ts";
import { DEFAULT_PKEY, pkeyText } from "../../hca/pkey.ts";
import { Errno, type ErrnoCode, requestError } from "../uapi/errors.ts";
import type { Dom0Heap } from "./dom0_heap.ts";
import type { EventDispatcher } from "../xen/evtchn.ts";
import { BackRing, RingError } from "../xen/ring.ts";
import { EventRingProducer, type VibEvent, VibEventKind } from "../vib/event_ring.ts";
import {
  VIB_KEYS,
  VIB_OPS,
  type VibOpCode,
  type VibRequest,
  type VibRequestOf,
  type VibResponse,
  vibRingOptions,
} from "../vib/mod.ts";
import {
  parseXenbusState,
  XenbusDevice,
  XenbusReconfigureState,
  XenbusState,
  type XenbusStateValue,
} from "../xen/xenbus.ts";
import type { BackContext } from "./context.ts";
import { BackendGrants, type MappedBuffer } from "./grants.ts";
import type { BackendDatapath, OpEnv, StagedOp, StagedOps } from "./datapath.ts";
import type { Dom0Headroom } from "./headroom.ts";
import { checkRequest, closeContext, CONTROL_OPS, cqnOf, execute } from "./ops.ts";
import { type Quota, QUOTA_KINDS, QuotaLedger } from "./quota.ts";
import { refusalReason } from "./refusal.ts";

/**
 * Counters the host reports (`host.counters()`), shared by all backends of a host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenPlatform } from "../../platform/xen_host.ts";
 * import type { BackendStats } from "./vibback.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass" });
 * const stats: BackendStats = (xen.platform as XenPlatform).backend!.stats;
 * await cluster.run(async () => {
 *   await (await vm.openDevice()).allocPd();
 * });
 * assert.equal(stats.byKind.ALLOC_PD, 1);
 * assert.equal(stats.requests, xen.counters().backendRequests);
 * assert.ok(stats.busyNs > 0);
 * ```
 */
export interface BackendStats {
  requests: number;
  byKind: Record<string, number>;
  /** Virtual time dom0 spent serving requests and forwarding events. */
  busyNs: number;
  /** Requests refused at a guest's quota or dom0's headroom, by the limit's name. */
  refusedByLimit: Record<string, number>;
}

/**
 * What a backend instance needs from dom0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenPlatform } from "../../platform/xen_host.ts";
 * import type { BackendHost } from "./vibback.ts";
 * const served = (h: Pick<BackendHost, "stats">) => h.stats.requests;
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass" });
 * const driver = (xen.platform as XenPlatform).backend!; // its host's stats are the driver's
 * const before = served(driver);
 * await cluster.run(async () => {
 *   await vm.openDevice();
 * });
 * assert.equal(served(driver), before + 3); // OPEN, QUERY_DEVICE, QUERY_PORT
 * ```
 */
export interface BackendHost {
  engine: Engine;
  profile: Profile;
  hv: Hypervisor;
  driver: HcaDriver;
  heap: Dom0Heap;
  /** Dom0's event-channel dispatcher. */
  events: EventDispatcher;
  /** Datapaths through dom0 by device mode (the composition root supplies them). */
  datapaths: ReadonlyMap<string, BackendDatapath>;
  /** Dom0's headroom checks (shared by every instance). */
  headroom?: Dom0Headroom;
  stats: BackendStats;
}

/** The errno `e` is refused with: its own when it has a known one, else EIO. */
function codeOf(e: unknown): ErrnoCode {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" && code in Errno ? code as ErrnoCode : "EIO";
}

/** Request ids are 32-bit serial numbers: one more than half the space ahead is behind. */
const HALF_ID_SPACE = 0x7fffffff;

/**
 * What one call of the backend's request handler served: how many requests
 * (counting `next`), whether it found the ring empty, and a request it took
 * that the thread must serve.
 */
interface Served {
  served: number;
  empty?: boolean;
  next?: VibRequest;
  /** Where the loop's batch stands after a staged chain (which may have gone on into new ones). */
  batch?: number;
  /** The chain found the ring empty and waited for the frontend's event as the loop would. */
  woken?: boolean;
}
const SERVED_ONE: Served = { served: 1 };
/** Each op's name by op code (counted per request: an array index, not a map lookup). */
const OP_NAMES: string[] = [];
for (const [op, s] of VIB_OPS) OP_NAMES[op] = s.name;

/** The body of a response that has none (the codec only reads it). */
const NO_BODY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/**
 * The frontend has published its ring-ref and event-channel: it is
 * Initialised, or already Connected. Linux backends connect on either
 * (xen-blkback/xenbus.c frontend_changed: "Ensure we connect even when two
 * watches fire in close succession and we miss the intermediate value of
 * frontend_state"); a watch reports the current value only, and netfront
 * goes straight to Connected.
 */
function frontendPublished(s: XenbusStateValue): boolean {
  return s === XenbusState.Initialised || s === XenbusState.Connected;
}

/** io/xenbus.h XenbusStateReconfiguring (7) or XenbusStateReconfigured (8), as written. */
function reconfiguring(raw: string | undefined): boolean {
  return raw === String(XenbusReconfigureState.Reconfiguring) ||
    raw === String(XenbusReconfigureState.Reconfigured);
}

/** Strict non-negative decimal, as xenbus_scanf would accept it. */
function parseKey(v: string | undefined): number | undefined {
  return v !== undefined && /^(0|[1-9][0-9]{0,9})$/.test(v) ? Number(v) : undefined;
}

/**
 * A backend instance.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenPlatform } from "../../platform/xen_host.ts";
 * import type { VibBack } from "./vibback.ts";
 * const live = (b: VibBack) => !b.done && b.contextCount;
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass" });
 * const back = (xen.platform as XenPlatform).backend!.instances().get(vm.domid!)!;
 * assert.equal(live(back), 0); // connected, no context open
 * await cluster.run(async () => {
 *   await vm.openDevice();
 * });
 * assert.equal(live(back), 1);
 * await vm.shutdown();
 * assert.equal(live(back), false); // torn down with its guest
 * ```
 */
export class VibBack {
  readonly xb: XenbusDevice;
  /** The device's mode: "bypass", or the mode of its datapath through dom0. */
  readonly mode: string;
  readonly grants: BackendGrants;
  /** Why the backend disconnected (undefined while it has not). */
  closeReason: string | undefined;
  /** Requests refused, by errno name, and the last refusal's message. */
  readonly refused: Record<string, number> = {};
  lastRefusal: string | undefined;
  /** What the frontend holds against its guest's quotas (and the refusals by quota). */
  readonly ledger: QuotaLedger;
  /** Events dropped because the frontend's queue in dom0 was full (its `events` quota). */
  eventsDropped = 0;
  connected = false;
  /** Connections made so far (a frontend that closed and re-probed makes another). */
  connections = 0;
  #h: BackendHost;
  #dom0: XenDomain;
  #contexts = new Map<number, BackContext>();
  #wq: WaitQueue;
  #evWq: WaitQueue;
  #events: VibEvent[] = [];
  #ring: BackRing<VibRequest, VibResponse> | undefined;
  #evRing: EventRingProducer | undefined;
  #pages: MappedBuffer | undefined;
  #port = 0;
  #lastId: number | undefined;
  #closing = false;
  #finished: Promise<void>;
  #eventThread: Promise<void> | undefined;
  #env: OpEnv;
  #done = false;
  /** The device ends with the current connection (`device_unregister`). */
  #unregistered = false;
  /** Between a connection's teardown and the next connection. */
  #down = false;
  #downWaiters: (() => void)[] = [];

  /**
   * Start serving the frontend of `frontDomid` whose backend directory is
   * `paths.backend`; returns at once (the instance runs as dom0 processes).
   */
  constructor(
    host: BackendHost,
    readonly frontDomid: number,
    readonly paths: { frontend: string; backend: string },
  ) {
    this.#h = host;
    this.#dom0 = host.hv.dom0;
    const xs = host.hv.xenstore;
    const mode = (() => {
      try {
        return xs.read(0, `${paths.backend}/${VIB_KEYS.mode}`);
      } catch {
        return "bypass";
      }
    })();
    const datapath = host.datapaths.get(mode);
    this.mode = datapath ? mode : "bypass";
    this.xb = new XenbusDevice({
      xs,
      domid: 0,
      nodePath: paths.backend,
      otherendDomid: frontDomid,
      otherendPath: paths.frontend,
    });
    this.ledger = new QuotaLedger(readQuota(xs, paths.backend, host.profile.quota), frontDomid);
    const pkeys = readPkeys(xs, paths.backend);
    this.grants = new BackendGrants(host.hv, this.#dom0, frontDomid, {
      ledger: this.ledger,
      headroom: host.headroom,
    });
    this.#wq = new WaitQueue(host.engine, `vibback dom${frontDomid} requests`);
    this.#evWq = new WaitQueue(host.engine, `vibback dom${frontDomid} events`);
    this.#env = {
      engine: host.engine,
      profile: host.profile,
      hv: host.hv,
      dom0: this.#dom0,
      frontDomid,
      driver: host.driver,
      heap: host.heap,
      grants: this.grants,
      ledger: this.ledger,
      headroom: host.headroom,
      pkeys,
      datapath,
      handlers: { ...CONTROL_OPS, ...datapath?.ops },
      contexts: this.#contexts,
      queueEvent: (e) => this.#queueEvent(e),
      cpu: (ns) => this.#cpu(ns),
    };
    this.#finished = host.engine.spawn(`vibback dom${frontDomid}`, () => this.#run());
  }

  /** Resolves when the instance has torn everything down. */
  get finished(): Promise<void> {
    return this.#finished;
  }

  /** True once the instance has torn everything down. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Resolves when the connection is down: everything of it returned and the
   * backend Closing, or Closed (at once if it is now). The instance itself
   * may serve the frontend again after that; {@link finished} is its end.
   */
  whenDisconnected(): Promise<void> {
    if (this.#down) return Promise.resolve();
    const b = this.#h.engine.block<void>(`vibback dom${this.frontDomid} disconnect`);
    this.#downWaiters.push(b.resolve);
    return b.promise;
  }

  /** Contexts open now. */
  get contextCount(): number {
    return this.#contexts.size;
  }

  /** The contexts (tests and tools look at them; the backend owns them). */
  contexts(): ReadonlyMap<number, BackContext> {
    return this.#contexts;
  }

  /**
   * Ask the instance to disconnect its frontend and tear the connection
   * down (idempotent while it lasts): xenbus Closing, then Closed. The
   * device stays: a frontend that re-probes (Initialising) is served again.
   */
  close(reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.closeReason = reason;
    this.#wakeServer();
    this.#evWq.notifyAll();
  }

  /** Dom0 CPU work for this frontend: on dom0's VCPUs, in this frontend's account. */
  #cpu(ns: number): Promise<void> {
    return this.#h.hv.dom0Vcpus.run(ns, this.#owner);
  }

  /** The account this instance's work is charged to on dom0's VCPUs (one string, made once). */
  get #owner(): string {
    return this.#ownerName ??= `dom${this.frontDomid}`;
  }

  #ownerName: string | undefined;

  async #run(): Promise<void> {
    // This thread's hypercalls are this frontend's work too.
    this.#h.hv.dom0Vcpus.bind(this.#owner);
    const guest = this.#h.hv.domain(this.frontDomid);
    const unhook = guest?.onTeardown(() => {
      this.#unregister(`dom${this.frontDomid} was torn down`);
      return this.#finished;
    });
    try {
      if (!guest || !guest.running) {
        this.#unregister("guest is not running");
        return this.#endConnection();
      }
      this.xb.onPeerChange((s, raw) => this.#peerChanged(s, raw));
      try {
        const key = `${this.paths.backend}/${VIB_KEYS.maxPersistentGrants}`;
        this.#h.hv.xenstore.write(0, key, String(this.ledger.limit.persistentGrants));
      } catch {
        // The directory is gone: the frontend then keeps no grant after deregistration.
      }
      // One connection after another, for as long as the device is there: a frontend that
      // closed and comes back (its driver reloaded, a kexec, a cancelled suspend) is served anew.
      while (!this.#unregistered) {
        await this.#connection();
        if (!(await this.#awaitReprobe())) break;
        this.#rearm();
      }
    } finally {
      this.#switchClosed();
      this.xb.dispose();
      // The device is gone: its backend directory goes with it (the toolstack's job once the
      // guest is gone; for a guest that runs on, what Xen's xen-hotplug-cleanup does on the
      // backend device's removal), so a frontend that probes it again finds no backend.
      removeBackendNode(this.#h.hv, this.paths.backend);
      unhook?.();
      this.#done = true;
    }
  }

  /**
   * One connection: InitWait, the frontend's rings mapped, Connected, its
   * requests served until either end closes; then everything it held is
   * returned and the backend is Closed.
   */
  async #connection(): Promise<void> {
    try {
      this.xb.switchState(XenbusState.InitWait);
      while (!this.#closing && !frontendPublished(this.xb.peerState())) {
        await this.#wq.wait();
      }
      if (!this.#closing) await this.#connect();
      if (!this.#closing) {
        this.xb.switchState(XenbusState.Connected);
        this.connected = true;
        this.connections++;
        this.#eventThread = this.#h.engine.spawn(
          `vibback dom${this.frontDomid} events`,
          () => this.#forwardEvents(),
        );
        await this.#serve();
      }
    } catch (e) {
      this.close(`backend error: ${(e as Error).message}`);
    } finally {
      await this.#teardown();
      this.#endConnection();
    }
  }

  /**
   * The connection is down and the backend Closing: wait for the frontend.
   * As Linux's backends (xen-blkback/xenbus.c and xen-netback/xenbus.c
   * `frontend_changed`): the frontend's Closed makes the backend Closed, and
   * ends the device (`device_unregister`) unless it is `online`
   * (`xenbus_dev_is_online`: the toolstack's `online` node, 0 when absent);
   * a frontend that is gone (Unknown) ends it too; a frontend back in
   * Initialising is served again from InitWait ("prepare for reconnect"),
   * via Closed if the backend was still Closing (xen-netback's
   * set_backend_state). The frontend's state is read now as well as on each
   * change: what it did while the backend was tearing down is not missed.
   * @returns true if the frontend re-probed
   */
  async #awaitReprobe(): Promise<boolean> {
    for (;;) {
      if (this.#unregistered) return false;
      const raw = this.xb.peerRaw();
      const s = parseXenbusState(raw);
      if (s === XenbusState.Unknown && !reconfiguring(raw)) {
        this.#unregister("frontend gone");
        return false;
      }
      if (s === XenbusState.Closed || s === XenbusState.Initialising) this.#switchClosed();
      if (s === XenbusState.Initialising) return true;
      if (s === XenbusState.Closed && !this.#online()) {
        this.#unregister("frontend closed and the device is not online");
        return false;
      }
      await this.#wq.wait();
    }
  }

  #switchClosed(): void {
    try {
      this.xb.switchState(XenbusState.Closed);
    } catch {
      // The node is gone with dom0's permission to write it.
    }
  }

  /** `xenbus_dev_is_online`: the backend's `online` node reads 1 (absent or not a number: 0). */
  #online(): boolean {
    try {
      return parseKey(this.#h.hv.xenstore.read(0, `${this.paths.backend}/${VIB_KEYS.online}`)) ===
        1;
    } catch {
      return false;
    }
  }

  /** A new connection starts: nothing of the last one's is left but the counters. */
  #rearm(): void {
    this.#closing = false;
    this.closeReason = undefined;
    this.#lastId = undefined;
    this.#events = [];
    this.ledger.used.events = 0;
    this.#eventThread = undefined;
    this.#down = false;
  }

  /** The device ends with this connection (`device_unregister`): no re-probe is served. */
  #unregister(reason: string): void {
    this.#unregistered = true;
    this.close(reason);
    this.#wakeServer();
  }

  #endConnection(): void {
    this.#down = true;
    for (const w of this.#downWaiters.splice(0)) w();
  }

  #peerChanged(s: XenbusStateValue, raw: string | undefined): void {
    if (frontendPublished(s)) this.#wakeServer();
    // Reconfiguring and Reconfigured are states of io/xenbus.h that vib does not use: a protocol
    // error, as any state a Linux backend does not handle (xenbus_dev_fatal "saw state %d at
    // frontend", the device stays), not a frontend that is gone.
    else if (reconfiguring(raw)) this.close(`frontend in state ${raw}, which vib does not use`);
    // InitWait is a backend's state; Linux backends take it from a frontend as a protocol
    // error (xen-blkback/xenbus.c, xen-netback/xenbus.c frontend_changed, default case:
    // xenbus_dev_fatal "saw state %d at frontend", which closes the device).
    else if (s === XenbusState.InitWait) {
      this.close("frontend in state InitWait, a backend's state");
    } // A missing or garbage state node is a frontend that is gone or broken: the device ends.
    else if (s === XenbusState.Unknown) this.#unregister("frontend gone");
    else if (s === XenbusState.Closing || s === XenbusState.Closed) {
      this.close("frontend closed");
      // Closed: whether the device stays (online) is decided once the backend is Closed too.
      this.#wakeServer();
    } // Initialising: a re-probe, served once the backend is Closed (#awaitReprobe); while a
    // connection is up it changes nothing, as blkback ignores it unless it is Closed.
    else if (s === XenbusState.Initialising) this.#wakeServer();
  }

  async #connect(): Promise<void> {
    const xs = this.#h.hv.xenstore;
    const read = (k: string) => {
      try {
        return parseKey(xs.read(0, `${this.paths.frontend}/${k}`));
      } catch {
        return undefined;
      }
    };
    const ringRef = read(VIB_KEYS.ringRef);
    const evRef = read(VIB_KEYS.eventRingRef);
    const port = read(VIB_KEYS.eventChannel);
    if (ringRef === undefined || evRef === undefined || port === undefined) {
      return this.close("frontend published malformed ring-ref/event-ring-ref/event-channel");
    }
    try {
      this.#pages = await this.grants.mapBuffer({ flags: 0, segs: [ringRef, evRef] }, 2, false, {
        rings: true,
      });
      this.#port = await this.#h.hv.evtchnBindInterdomain(this.#dom0, {
        remoteDom: this.frontDomid,
        remotePort: port,
      });
    } catch (e) {
      return this.close(`connect: ${(e as Error).message}`);
    } finally {
      this.#h.headroom?.settle(this.frontDomid);
    }
    this.#h.events.bind(this.#port, () => this.#wakeServer());
    const mem = this.#h.hv.mem;
    this.#ring = BackRing.attach(mem.frame(this.#pages.mfns[0]), vibRingOptions());
    this.#evRing = new EventRingProducer(mem.frame(this.#pages.mfns[1]));
  }

  /**
   * The serving thread's wake-up (the frontend's event, a close, the
   * frontend initialised): it waits on {@link #wq}, or a staged chain waits
   * in its place ({@link #parked}) and is woken instead, at the same point.
   */
  #wakeServer(): void {
    const parked = this.#parked;
    if (!parked) {
      this.#wq.notifyAll();
      return;
    }
    this.#parked = undefined;
    parked();
  }

  /** Wakes the thread whose staged chain waits for the frontend's event in {@link #serve}'s place. */
  #parked: (() => void) | undefined;

  async #serve(): Promise<void> {
    const ring = this.#ring!;
    while (!this.#closing) {
      let n = 0;
      let woken = false;
      try {
        while (n < ring.size && !this.#closing) {
          const req = ring.takeRequest();
          if (!req) break;
          let r = await this.#handle(req, n);
          n = r.batch ?? n + r.served;
          // A request the staged chain took but cannot serve itself: this thread serves it.
          while (r.next) n += (r = await this.#handle(r.next, n - 1)).served - 1;
          if (r.empty) {
            woken = r.woken === true;
            break;
          }
        }
        if (this.#closing) break;
        // The chain has made the final check and waited (below) in this thread's place.
        if (woken) continue;
        // A full ring's worth: let the other backends run before the next batch.
        if (n === ring.size) {
          await this.#h.engine.sleep(0);
          continue;
        }
        if (ring.finalCheckForRequests()) continue;
      } catch (e) {
        if (e instanceof RingError) return this.close(`hostile frontend: ${e.message}`);
        throw e;
      }
      await this.#wq.wait();
    }
  }

  /**
   * Serve `req`, the ring's request number `n` of this batch; what was
   * served (more than `req` when a staged chain went on to the next ones).
   */
  async #handle(req: VibRequest, n: number): Promise<Served> {
    const h = this.#h, x = h.profile.xen;
    const t0 = h.engine.now;
    const kind = OP_NAMES[req.op] ?? "INVALID";
    h.stats.requests++;
    h.stats.byKind[kind] = (h.stats.byKind[kind] ?? 0) + 1;
    if (this.#stagedOf(req)) {
      return await this.#handleStaged(req, n);
    }
    await this.#cpu(x.ringMarshalNs + x.backendOpNs);
    let status = 0;
    let limit: string | undefined;
    let reason: string | undefined;
    let body: Record<string, unknown> = {};
    try {
      this.#checkId(req);
      checkRequest(this.#env, req);
      body = await execute(this.#env, req);
    } catch (e) {
      ({ status, limit, reason } = this.#refusal(kind, e));
      body = {};
    } finally {
      // What dom0's headroom let the request take is taken (or given back) now.
      h.headroom?.settle(this.frontDomid);
    }
    try {
      this.#ring!.pushResponse({ id: req.id, op: req.op, status, body, limit, reason });
      await this.#cpu(x.ringMarshalNs);
      if (this.#ring!.pushResponsesAndCheckNotify()) await this.#notify();
    } finally {
      h.stats.busyNs += h.engine.now - t0;
    }
    return SERVED_ONE;
  }

  /** The staged handler of `req`, if its op has one and the backend serves the op with it. */
  #stagedOf(req: VibRequest): StagedOp<VibOpCode> | undefined {
    const dp = this.#env.datapath;
    const all = dp?.staged;
    if (!all) return undefined;
    const op = req.op as VibOpCode;
    // The last op asked about (a run of doorbells): no lookups, while the datapath's table stands.
    if (op === this.#stagedOp && all === this.#stagedTable) return this.#staged;
    const staged = all[op] as StagedOp<VibOpCode> | undefined;
    const out = staged && this.#env.handlers[op] === dp!.ops[op] ? staged : undefined;
    this.#stagedOp = op;
    this.#stagedTable = all;
    this.#staged = out;
    return out;
  }

  #stagedOp = -1;
  #stagedTable: StagedOps | undefined;
  #staged: StagedOp<VibOpCode> | undefined;

  /**
   * Requests whose ops the datapath gives in two halves ({@link StagedOp}),
   * from `first` (the batch's request number `n`): the same steps at the
   * same instants as {@link #handle}'s and {@link #serve}'s, as callbacks
   * chained on dom0's VCPUs (`VcpuPool.runThen`, which continues where this
   * thread would). The chain goes on to the next request on the ring while
   * the loop would (the batch not full, not closing, the next op staged
   * too), so the thread is woken once per run of requests, not once per CPU
   * step; the event a response asks for is sent by the chain too
   * (`Hypervisor.evtchnSendThen`: {@link #notify}'s hypercall at the same
   * instants). The thread serves a request the chain took but cannot serve
   * itself (`next`).
   */
  async #handleStaged(first: VibRequest, n: number): Promise<Served> {
    const h = this.#h;
    const b = h.engine.block<void>(this.#chLabel);
    // The chain's state for this run (its steps, below, are made once per backend: the thread
    // runs one chain at a time, and a chain has nothing pending once it stops).
    this.#chRing = this.#ring!;
    this.#chEnv = this.#env;
    this.#chResolve = b.resolve;
    this.#chOut = undefined;
    this.#chThrown = undefined;
    this.#chServed = 0;
    this.#chBatch = n;
    this.#chT0 = 0;
    this.#chReq = first;
    this.#chStaged = this.#stagedOf(first)!;
    this.#chServe();
    await b.promise;
    this.#chResolve = undefined;
    this.#chBody = NO_BODY;
    this.#chCtx = undefined;
    const thrown = this.#chThrown, out = this.#chOut;
    this.#chThrown = this.#chOut = undefined;
    if (thrown !== undefined) {
      // The last request's time runs until the ring failed.
      h.stats.busyNs += h.engine.now - this.#chT0;
      throw thrown;
    }
    return out!;
  }

  // The staged chain: its state while it runs (requests served, the position in #serve's batch
  // of the one being served, when that one started, and what it has come to), and its steps.
  #chRing!: BackRing<VibRequest, VibResponse>;
  #chEnv!: OpEnv;
  #chResolve: (() => void) | undefined;
  #chOut: Served | undefined;
  #chThrown: unknown;
  #chServed = 0;
  #chBatch = 0;
  #chT0 = 0;
  #chReq!: VibRequest;
  #chStaged!: StagedOp<VibOpCode>;
  #chKind = "";
  #chStatus = 0;
  #chLimit: string | undefined;
  #chReason: string | undefined;
  #chBody: Record<string, unknown> = NO_BODY;
  #chCtx: BackContext | undefined;
  /** The response as the ring takes it: encoded into the slot at once, so one object serves all. */
  #chRsp: VibResponse = { id: 0, op: 0, status: 0, body: NO_BODY, limit: undefined };

  /** What the thread shows while its chain runs. */
  #chLabel = (): string => this.#parked ? this.#wq.label : `dom0 VCPU (${this.#owner})`;

  #chStop(o: Served, e?: unknown): void {
    this.#chOut = o;
    this.#chThrown = e;
    this.#chResolve!();
  }

  #chServe = (): void => {
    const h = this.#h, x = h.profile.xen, stats = h.stats, req = this.#chReq;
    const kind = this.#chKind = OP_NAMES[req.op];
    if (this.#chServed > 0) {
      // What #handle counts for each request (the first was counted there).
      stats.requests++;
      stats.byKind[kind] = (stats.byKind[kind] ?? 0) + 1;
    }
    this.#chT0 = h.engine.now;
    this.#chStatus = 0;
    this.#chLimit = undefined;
    this.#chReason = undefined;
    this.#chBody = NO_BODY;
    this.#chCtx = undefined;
    h.hv.dom0Vcpus.runThen(x.ringMarshalNs + x.backendOpNs, this.#owner, this.#chStarted);
  };

  #chStarted = (): void => {
    const env = this.#chEnv, req = this.#chReq;
    let ns: number;
    try {
      this.#checkId(req);
      checkRequest(env, req);
      const c = this.#chCtx = env.contexts.get(req.ctx);
      // As `execute` refuses it.
      if (!c) throw requestError("EBADF", `no context ${req.ctx} on this device`);
      ns = this.#chStaged.start(env, c, req as VibRequestOf<VibOpCode>);
    } catch (e) {
      ({ status: this.#chStatus, limit: this.#chLimit, reason: this.#chReason } = this.#refusal(
        this.#chKind,
        e,
      ));
      return this.#chRespond();
    }
    if (ns >= 0) this.#h.hv.dom0Vcpus.runThen(ns, this.#owner, this.#chFinish);
    else this.#chFinish();
  };

  #chFinish = (): void => {
    try {
      this.#chBody = this.#chStaged.finish(
        this.#chEnv,
        this.#chCtx!,
        this.#chReq as VibRequestOf<VibOpCode>,
      );
    } catch (e) {
      ({ status: this.#chStatus, limit: this.#chLimit, reason: this.#chReason } = this.#refusal(
        this.#chKind,
        e,
      ));
      this.#chBody = NO_BODY;
    }
    this.#chRespond();
  };

  #chRespond(): void {
    const rsp = this.#chRsp, req = this.#chReq;
    try {
      rsp.id = req.id;
      rsp.op = req.op;
      rsp.status = this.#chStatus;
      rsp.body = this.#chBody;
      rsp.limit = this.#chLimit;
      rsp.reason = this.#chReason;
      this.#chRing.pushResponse(rsp);
    } catch (e) {
      this.#chServed++;
      this.#chBatch++;
      // The thread throws it, as it would have.
      return this.#chStop({ served: this.#chServed, batch: this.#chBatch }, e);
    }
    this.#h.hv.dom0Vcpus.runThen(this.#h.profile.xen.ringMarshalNs, this.#owner, this.#chPublished);
  }

  #chPublished = (): void => {
    this.#chServed++;
    this.#chBatch++;
    let notify: boolean;
    try {
      notify = this.#chRing.pushResponsesAndCheckNotify();
    } catch (e) {
      return this.#chStop({ served: this.#chServed, batch: this.#chBatch }, e);
    }
    // The event's hypercall as #notify makes it, chained: the thread would continue after it.
    if (notify) this.#h.hv.evtchnSendThen(this.#dom0, this.#port, this.#owner, this.#chNotified);
    else this.#chOnward();
  };

  #chNotified = (e: unknown): void => {
    if (e) this.close("frontend's event channel is gone");
    this.#chOnward();
  };

  #chOnward(): void {
    const h = this.#h;
    h.stats.busyNs += h.engine.now - this.#chT0;
    this.#chT0 = h.engine.now; // counted: a failure taking the next adds nothing
    // #serve's loop, from here while it would run no other step.
    if (this.#closing) return this.#chStop({ served: this.#chServed, batch: this.#chBatch });
    // A full ring's worth: the loop lets the other backends run (a zero-time sleep, whose event
    // this is, in its place) before the next batch.
    if (this.#chBatch >= this.#chRing.size) {
      // The kind of the thread's own sleep, which this event stands for (the same trace).
      return void h.engine.post(0, this.#chNextBatch, h.engine.tag("sleep"));
    }
    this.#chTake();
  }

  #chNextBatch = (): void => {
    this.#chBatch = 0;
    if (this.#closing) return this.#chStop({ served: this.#chServed, batch: this.#chBatch });
    this.#chTake();
  };

  #chTake(): void {
    let next: VibRequest | undefined;
    try {
      next = this.#chRing.takeRequest();
    } catch (e) {
      return this.#chStop({ served: this.#chServed, batch: this.#chBatch }, e);
    }
    if (!next) return this.#chIdle();
    const s = this.#stagedOf(next);
    if (!s) return this.#chStop({ served: this.#chServed + 1, batch: this.#chBatch + 1, next });
    this.#chReq = next;
    this.#chStaged = s;
    this.#chServe();
  }

  // #serve's loop on an empty ring, from here: its final check (more requests: a new batch), or
  // its wait for the frontend's event, whose wake-up then wakes this thread (#wakeServer). The
  // chain's steps end their events (VcpuPool.runThen's `then`, the zero-time batch event), and
  // those events wake no process, so the thread would make the check and wait right here.
  #chIdle(): void {
    const served = this.#chServed, batch = this.#chBatch;
    if (this.#closing) return this.#chStop({ served, batch, empty: true });
    let more: boolean;
    try {
      more = this.#chRing.finalCheckForRequests();
    } catch (e) {
      return this.#chStop({ served, batch }, e);
    }
    if (!more) {
      this.#parked = this.#chParked;
      return;
    }
    this.#chBatch = 0;
    this.#chTake();
  }

  /** The frontend's event while the chain waits for it: the thread goes on. */
  #chParked = (): void =>
    this.#chStop({ served: this.#chServed, batch: this.#chBatch, empty: true, woken: true });

  /** Serial-number order on 32 bits (RFC 1982): the next id is ahead by less than half the space. */
  #checkId(req: VibRequest): void {
    const ahead = this.#lastId === undefined ? 1 : (req.id - this.#lastId) >>> 0;
    const replay = ahead === 0 || ahead > HALF_ID_SPACE;
    if (replay) {
      throw requestError("EINVAL", `request id ${req.id} replayed (last ${this.#lastId})`);
    }
    this.#lastId = req.id;
  }

  /** A refused request: its status, limit and reason, counted. */
  #refusal(
    kind: string,
    e: unknown,
  ): { status: number; limit: string | undefined; reason: string | undefined } {
    const h = this.#h;
    const code = codeOf(e);
    const limit = (e as { limit?: string }).limit;
    if (limit) h.stats.refusedByLimit[limit] = (h.stats.refusedByLimit[limit] ?? 0) + 1;
    const name = (e as { code?: string }).code ?? "EIO";
    this.refused[name] = (this.refused[name] ?? 0) + 1;
    // Dom0's own record keeps the whole message; the guest gets what refusal.ts allows.
    this.lastRefusal = `${kind}: ${(e as Error).message}`;
    return { status: -Errno[code], limit, reason: refusalReason(e, code, limit) };
  }

  async #notify(): Promise<void> {
    try {
      await this.#h.hv.evtchnSend(this.#dom0, this.#port);
    } catch {
      this.close("frontend's event channel is gone");
    }
  }

  #queueEvent(e: VibEvent): void {
    if (this.#closing || !this.connected) return;
    // The events quota bounds what dom0 keeps for a frontend that does not drain its ring.
    if (this.#events.length >= this.ledger.limit.events) {
      this.eventsDropped++;
      this.#evRing?.markLost();
      return;
    }
    this.#events.push(e);
    this.ledger.used.events = this.#events.length;
    this.#evWq.notifyOne();
  }

  async #forwardEvents(): Promise<void> {
    const h = this.#h;
    h.hv.dom0Vcpus.bind(this.#owner);
    while (!this.#closing) {
      if (this.#events.length === 0) {
        await this.#evWq.wait();
        continue;
      }
      const t0 = h.engine.now;
      const batch = this.#events.splice(0);
      this.ledger.used.events = 0;
      for (const e of batch) {
        const c = this.#contexts.get(e.ctx);
        if (!c) continue;
        if (c.datapath && e.kind === VibEventKind.COMP) {
          // The guest polls its own ring after the event: the datapath puts the entries there.
          const cqn = cqnOf(c, e.handle);
          if (cqn !== undefined) await c.datapath.beforeCompEvent(cqn);
        }
        try {
          this.#evRing!.push(e);
        } catch (err) {
          this.close(`hostile frontend: ${(err as Error).message}`);
          return;
        }
      }
      await this.#cpu(h.profile.xen.ringMarshalNs);
      if (!this.#closing) await this.#notify();
      h.stats.busyNs += h.engine.now - t0;
    }
  }

  async #teardown(): Promise<void> {
    this.#closing = true;
    this.#evWq.notifyAll();
    if (this.#eventThread) await this.#eventThread;
    const h = this.#h;
    const t0 = h.engine.now;
    for (const c of [...this.#contexts.values()]) {
      try {
        await closeContext(this.#env, c);
      } catch {
        // Keep going: every other context must still be returned.
      }
    }
    try {
      await this.grants.releaseAll();
    } catch {
      // Keep going: the ring pages and the port must still be returned.
    }
    if (this.#port) {
      h.events.unbind(this.#port);
      await h.hv.evtchnClose(this.#dom0, this.#port).catch(() => {});
      this.#port = 0;
    }
    if (this.#pages) {
      await this.grants.unmap(this.#pages);
      this.#pages = undefined;
    }
    this.#ring = undefined;
    this.#evRing = undefined;
    this.connected = false;
    h.headroom?.settle(this.frontDomid);
    // Closing, with nothing of the connection left: Closed follows the frontend's Closed
    // (xen-blkback and xen-netback frontend_changed switch Closed on the frontend's Closed),
    // in #awaitReprobe.
    try {
      this.xb.switchState(XenbusState.Closing);
    } catch {
      // Already there, or the node is gone with dom0's permission to write it.
    }
    h.stats.busyNs += h.engine.now - t0;
  }
}

/**
 * The guest's quotas: the toolstack's `quota/<name>` keys under the backend
 * directory (strict decimal; only dom0 can write there), the profile's
 * default for any it did not write.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readQuota } from "./vibback.ts";
 * import { XenStore } from "../../hypervisor/xenstore.ts";
 * import { PCIX_SDR_2006 } from "../../sim/profiles/mod.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(0, "Domain-0");
 * xs.write(0, "/be/quota/pds", "8");
 * const q = readQuota(xs, "/be", PCIX_SDR_2006.quota);
 * assert.deepEqual([q.pds, q.qps], [8, PCIX_SDR_2006.quota.qps]);
 * ```
 */
export function readQuota(
  xs: Pick<Hypervisor["xenstore"], "read">,
  backend: string,
  defaults: Quota,
): Quota {
  const out = { ...defaults };
  for (const k of QUOTA_KINDS) {
    let v: string | undefined;
    try {
      v = xs.read(0, `${backend}/${VIB_KEYS.quota}/${k}`);
    } catch {
      continue;
    }
    const n = parseKey(v);
    if (n !== undefined) out[k] = n;
  }
  return out;
}

/**
 * The guest's partitions: the toolstack's `pkeys` key under the backend directory (P_Keys in
 * `0x`-prefixed hex, space-separated; only dom0 can write there). Absent: the default partition
 * alone (0xffff), what mlx4 gives a virtual function by default (main.c `init_pkeys`: index 0
 * is the default P_Key, every other index an invalid entry). A value that does not parse gives
 * no partition at all (fail closed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readPkeys } from "./vibback.ts";
 * import { XenStore } from "../../hypervisor/xenstore.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(0, "Domain-0");
 * assert.deepEqual(readPkeys(xs, "/be"), [0xffff]);
 * xs.write(0, "/be/pkeys", "0x8001 0x0002");
 * assert.deepEqual(readPkeys(xs, "/be"), [0x8001, 0x0002]);
 * xs.write(0, "/be/pkeys", "0x8001 banana");
 * assert.deepEqual(readPkeys(xs, "/be"), []);
 * ```
 */
export function readPkeys(
  xs: Pick<Hypervisor["xenstore"], "read">,
  backend: string,
): number[] {
  let v: string;
  try {
    v = xs.read(0, `${backend}/${VIB_KEYS.pkeys}`);
  } catch {
    return [DEFAULT_PKEY];
  }
  const words = v.trim().split(/ +/);
  if (!words.every((w) => /^0x[0-9a-f]{4}$/.test(w))) return [];
  return words.map((w) => parseInt(w, 16));
}

/**
 * Format a list of P_Keys as the `pkeys` key holds it ({@link readPkeys}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pkeysKey } from "./vibback.ts";
 * assert.equal(pkeysKey([0x8001, 0x2]), "0x8001 0x0002");
 * ```
 */
export function pkeysKey(pkeys: readonly number[]): string {
  return pkeys.map(pkeyText).join(" ");
}

/**
 * Remove a backend directory (the toolstack's job once the guest is gone).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../../sim/mod.ts";
 * import { Hypervisor } from "../../hypervisor/mod.ts";
 * import { removeBackendNode } from "./vibback.ts";
 * const hv = new Hypervisor(new Engine(), new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * hv.xenstore.write(0, "/local/domain/0/backend/vib/3/0/state", "6");
 * removeBackendNode(hv, "/local/domain/0/backend/vib/3/0");
 * assert.deepEqual(hv.xenstore.directory(0, "/local/domain/0/backend/vib"), []); // .../vib/3 is gone
 * ```
 */
export function removeBackendNode(hv: Hypervisor, path: string): void {
  try {
    hv.xenstore.rm(0, path.slice(0, path.lastIndexOf("/")));
  } catch {
    // Already removed.
  }
}

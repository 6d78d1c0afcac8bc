/**
 * Xenbus: the connection state machine of a split device, kept in xenstore
 * (`xen/include/public/io/xenbus.h`). Each end publishes its state in
 * `<its node>/state` and watches the other end's:
 *
 * ```
 * backend   Initialising → InitWait ───────────────→ Connected → Closing → Closed
 * frontend  Initialising ──────────→ Initialised ───→ Connected → Closing → Closed
 *                 (frontend writes ring-ref and event-channel before Initialised)
 * ```
 *
 * A frontend re-probes from Closed: it goes Initialising, and a Closed
 * backend answers InitWait (the handshake again, on new rings).
 *
 * This module enforces the transitions an end may make of its own state
 * ({@link isLegalXenbusTransition}) and reads the other end's state without
 * trusting it: anything but a canonical "1".."6" is `Unknown`, and so is a
 * node that vanished (the peer's domain was destroyed). That is stricter than
 * Linux's `xenbus_read_driver_state`, which reads the node with `sscanf`
 * "%d" (there "04" and " 4" are Connected, "4x" too, and "9" is a state its
 * backends call fatal rather than a peer that is gone); an end here writes
 * its own state as Linux's `xenbus_switch_state` does ("%d": "4"). It does
 * not validate the peer's transitions: a watch reports the current value
 * only, so intermediate states can be missed, and the toolstack may force a
 * state.
 *
 * @module
 */
import type { Engine } from "../../sim/engine.ts";

/**
 * xenbus.h `enum xenbus_state`, the handshake's states (Reconfiguring and
 * Reconfigured are {@link XenbusReconfigureState}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenbusState } from "./xenbus.ts";
 * assert.equal(XenbusState.Connected, 4);
 * ```
 */
export const XenbusState = {
  Unknown: 0,
  Initialising: 1,
  InitWait: 2,
  Initialised: 3,
  Connected: 4,
  Closing: 5,
  Closed: 6,
} as const;

/**
 * xenbus.h's two states for reconfiguring a connected device
 * (`XenbusStateReconfiguring` 7, `XenbusStateReconfigured` 8): not part of
 * the vib handshake; a backend reads them as a protocol error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenbusReconfigureState } from "./xenbus.ts";
 * const reconfiguring = (raw: string) =>
 *   Object.values(XenbusReconfigureState).map(String).includes(raw);
 * assert.ok(reconfiguring("7") && reconfiguring("8") && !reconfiguring("4"));
 * ```
 */
export const XenbusReconfigureState = { Reconfiguring: 7, Reconfigured: 8 } as const;

/**
 * A xenbus state value (0 = Unknown, 1..6).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenbusState, type XenbusStateValue } from "./xenbus.ts";
 * const up = (s: XenbusStateValue) => s === XenbusState.Connected;
 * assert.ok(up(XenbusState.Connected) && !up(XenbusState.InitWait));
 * ```
 */
export type XenbusStateValue = (typeof XenbusState)[keyof typeof XenbusState];

const NAMES = [
  "Unknown",
  "Initialising",
  "InitWait",
  "Initialised",
  "Connected",
  "Closing",
  "Closed",
];

/**
 * The name of a state, for messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { xenbusStateName } from "./xenbus.ts";
 * assert.equal(xenbusStateName(2), "InitWait");
 * ```
 */
export function xenbusStateName(s: number): string {
  return NAMES[s] ?? `invalid(${s})`;
}

/**
 * Parse a state node's value as the other end wrote it. Only the canonical
 * decimal forms "1".."6" count; anything else (absent, empty, "04", "7",
 * "banana") is `Unknown`, which the caller treats as a broken peer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseXenbusState } from "./xenbus.ts";
 * assert.equal(parseXenbusState("4"), 4);
 * assert.equal(parseXenbusState(" 4"), 0); // not a state: Unknown
 * assert.equal(parseXenbusState(undefined), 0); // no node yet
 * ```
 */
export function parseXenbusState(raw: string | undefined): XenbusStateValue {
  return raw !== undefined && /^[1-6]$/.test(raw) ? (Number(raw) as XenbusStateValue) : 0;
}

const S = XenbusState;
/**
 * Legal moves of an end's own state. Closing and Closed are reachable from
 * every live state (an error or unplug may strike at any point; Linux
 * frontends go straight to Closed when the backend closes). Connected needs
 * the handshake: a backend reaches it from InitWait, a frontend from
 * Initialised. Closed may restart: Initialising (a frontend reconnecting)
 * or InitWait (a backend waiting for a new frontend).
 */
const LEGAL: Record<number, readonly number[]> = {
  [S.Unknown]: [S.Initialising],
  [S.Initialising]: [S.InitWait, S.Initialised, S.Closing, S.Closed],
  [S.InitWait]: [S.Initialised, S.Connected, S.Closing, S.Closed],
  [S.Initialised]: [S.Connected, S.Closing, S.Closed],
  [S.Connected]: [S.Closing, S.Closed],
  [S.Closing]: [S.Closed],
  [S.Closed]: [S.Initialising, S.InitWait],
};

/**
 * True if an end in state `from` may switch itself to `to` (a switch to the
 * current state is a no-op, not a transition, and is not legal here).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLegalXenbusTransition, XenbusState as S } from "./xenbus.ts";
 * assert.equal(isLegalXenbusTransition(S.InitWait, S.Connected), true);
 * assert.equal(isLegalXenbusTransition(S.Closing, S.Connected), false);
 * ```
 */
export function isLegalXenbusTransition(from: number, to: number): boolean {
  return LEGAL[from]?.includes(to) ?? false;
}

/**
 * A refused xenbus operation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenbusError } from "./xenbus.ts";
 * const e = new XenbusError("illegal-transition", "Closing -> Connected");
 * assert.equal(e.code, "illegal-transition");
 * ```
 */
export class XenbusError extends Error {
  /** What was refused. */
  readonly code: "illegal-transition" | "disposed";
  /**
   * @param code what was refused
   * @param message details
   */
  constructor(code: "illegal-transition" | "disposed", message: string) {
    super(message);
    this.name = "XenbusError";
    this.code = code;
  }
}

/**
 * The xenstore operations xenbus needs, as `hypervisor/xenstore.ts`
 * `XenStore` provides them: calls are named by the caller's domid, refusals
 * throw an error with an errno name in `code`, and a watch fires once when
 * registered and then on every change at or below its path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { XenStoreLike } from "./xenbus.ts";
 * import { XenStore } from "../../hypervisor/xenstore.ts";
 * const store = new XenStore();
 * store.introduceDomain(1, "guest");
 * const xs: XenStoreLike = store;
 * xs.write(1, "/local/domain/1/data/x", "1");
 * assert.equal(xs.read(1, "/local/domain/1/data/x"), "1");
 * ```
 */
export interface XenStoreLike {
  /** Value of `path`; throws (code ENOENT, EACCES, …) if absent or unreadable. */
  read(caller: number, path: string): string;
  /** Set `path`, creating it. */
  write(caller: number, path: string, value: string): void;
  /** Call `cb` now and on each change at or below `path`. */
  watch(
    caller: number,
    path: string,
    token: string,
    cb: (path: string, token: string) => void,
  ): void;
  /** Remove a watch. */
  unwatch(caller: number, path: string, token: string): void;
}

/**
 * Where one end of a device lives.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenStore } from "../../hypervisor/xenstore.ts";
 * import { createXenbusDevice, XenbusDevice, type XenbusDeviceOptions, XenbusState } from "./xenbus.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(0, "Domain-0");
 * xs.introduceDomain(1, "guest");
 * const p = createXenbusDevice(xs, { type: "vib", frontDomid: 1, backDomid: 0, devid: 0 });
 * const opts: XenbusDeviceOptions = {
 *   xs, domid: 1, nodePath: p.frontend, otherendDomid: 0, otherendPath: p.backend,
 * };
 * new XenbusDevice(opts).switchState(XenbusState.Initialised);
 * assert.equal(xs.read(1, `${p.frontend}/state`), "3");
 * ```
 */
export interface XenbusDeviceOptions {
  /** The store. */
  xs: XenStoreLike;
  /** The domain this end runs in (the xenstore caller). */
  domid: number;
  /** This end's directory, e.g. `/local/domain/1/device/vib/0`. */
  nodePath: string;
  /** The other end's domain. */
  otherendDomid: number;
  /** The other end's directory, e.g. `/local/domain/0/backend/vib/1/0`. */
  otherendPath: string;
}

/**
 * The conventional xenstore directories of device `devid` of type `type`
 * between frontend domain `frontDomid` and backend domain `backDomid`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { xenbusPaths } from "./xenbus.ts";
 * const p = xenbusPaths("vib", 3, 0, 0);
 * assert.equal(p.backend, "/local/domain/0/backend/vib/3/0");
 * assert.equal(p.frontend, "/local/domain/3/device/vib/0");
 * ```
 */
export function xenbusPaths(
  type: string,
  frontDomid: number,
  backDomid: number,
  devid: number,
): { frontend: string; backend: string } {
  return {
    frontend: `/local/domain/${frontDomid}/device/${type}/${devid}`,
    backend: `/local/domain/${backDomid}/backend/${type}/${frontDomid}/${devid}`,
  };
}

/** Errors from the store that mean "no usable value", not a bug in the model. */
function isStoreRefusal(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code: unknown = (e as Error & { code?: unknown }).code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code);
}

/**
 * Called with the peer's state whenever its state node changes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenStore } from "../../hypervisor/xenstore.ts";
 * import { createXenbusDevice, type PeerListener, XenbusDevice, xenbusStateName } from "./xenbus.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(0, "Domain-0");
 * xs.introduceDomain(1, "guest");
 * const p = createXenbusDevice(xs, { type: "vib", frontDomid: 1, backDomid: 0, devid: 0 });
 * const back = new XenbusDevice({ xs, domid: 0, nodePath: p.backend, otherendDomid: 1, otherendPath: p.frontend });
 * const seen: string[] = [];
 * const log: PeerListener = (state) => void seen.push(xenbusStateName(state));
 * back.onPeerChange(log); // called at once with the frontend's state now
 * xs.write(1, `${p.frontend}/state`, "3");
 * assert.deepEqual(seen, ["Initialising", "Initialised"]);
 * ```
 */
export type PeerListener = (state: XenbusStateValue, raw: string | undefined) => void;

/**
 * Watch tokens handed out so far, per store: a token names its watch among the
 * store's (Linux's drivers/xen/xenbus/xenbus_xs.c, register_xenbus_watch:
 * "Pointer in ascii is the token"); counted per store, it
 * depends only on that store's (that host's) history, not on what else ran
 * in the process before, so the same cluster and seed make the same calls.
 */
const tokenSeq = new WeakMap<XenStoreLike, number>();

/**
 * One end of a split device: its own state (cached, written through to
 * `<nodePath>/state`) and a view of the other end's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenStore } from "../../hypervisor/xenstore.ts";
 * import { XenbusDevice, XenbusState, xenbusPaths } from "./xenbus.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(0, "Domain-0");
 * xs.introduceDomain(1, "guest");
 * const p = xenbusPaths("vib", 1, 0, 0);
 * xs.write(0, `${p.backend}/state`, "1"); // the toolstack creates the node
 * const back = new XenbusDevice({ xs, domid: 0, nodePath: p.backend, otherendDomid: 1, otherendPath: p.frontend });
 * back.switchState(XenbusState.InitWait);
 * assert.equal(xs.read(0, `${p.backend}/state`), "2");
 * xs.rm(0, p.backend); // the device goes away: a switch does not bring its node back
 * back.switchState(XenbusState.Closing);
 * assert.equal(xs.exists(0, p.backend), false);
 * assert.equal(back.state, XenbusState.Closing);
 * ```
 */
export class XenbusDevice {
  /** The store. */
  readonly xs: XenStoreLike;
  /** The domain this end runs in. */
  readonly domid: number;
  /** This end's directory. */
  readonly nodePath: string;
  /** The other end's domain. */
  readonly otherendDomid: number;
  /** The other end's directory. */
  readonly otherendPath: string;
  #state: XenbusStateValue;
  #listeners = new Set<PeerListener>();
  #token: string | undefined;
  #disposed = false;

  /**
   * Attach to an end; its current state is read from `<nodePath>/state`
   * (Unknown if the toolstack has not created it).
   */
  constructor(opts: XenbusDeviceOptions) {
    this.xs = opts.xs;
    this.domid = opts.domid;
    this.nodePath = opts.nodePath;
    this.otherendDomid = opts.otherendDomid;
    this.otherendPath = opts.otherendPath;
    this.#state = parseXenbusState(this.#tryRead(this.domid, `${this.nodePath}/state`));
  }

  /** This end's state, as last switched (Linux `dev->state`). */
  get state(): XenbusStateValue {
    return this.#state;
  }

  /**
   * Switch this end to `to` and publish it. Switching to the current state
   * does nothing (no write, no watch event), as `xenbus_switch_state`; nor
   * does it write a state node that is gone: the device is being torn down,
   * and its directory is not resurrected (xenbus_client.c
   * `__xenbus_switch_state`, which then only changes its cached state).
   * @returns true if the state changed
   * @throws XenbusError `illegal-transition` (nothing is written)
   */
  switchState(to: XenbusStateValue): boolean {
    this.#live();
    if (to === this.#state) return false;
    if (!isLegalXenbusTransition(this.#state, to)) {
      throw new XenbusError(
        "illegal-transition",
        `${this.nodePath}: ${xenbusStateName(this.#state)} -> ${
          xenbusStateName(to)
        } is not a legal xenbus transition`,
      );
    }
    const path = `${this.nodePath}/state`;
    if (this.#tryRead(this.domid, path) !== undefined) this.xs.write(this.domid, path, String(to));
    this.#state = to;
    return true;
  }

  /** The other end's state as it is in the store now (see {@link parseXenbusState}). */
  peerState(): XenbusStateValue {
    return parseXenbusState(this.peerRaw());
  }

  /** The other end's raw state value, or undefined if absent or unreadable. */
  peerRaw(): string | undefined {
    return this.#tryRead(this.domid, `${this.otherendPath}/state`);
  }

  /**
   * Call `cb` with the peer's state now and whenever its state node changes
   * (also when it disappears: `Unknown`, raw undefined). Callbacks run
   * inside xenstore watch delivery: they must not block; wake a process for
   * real work.
   * @returns a function that removes the listener
   */
  onPeerChange(cb: PeerListener): () => void {
    this.#live();
    this.#listeners.add(cb);
    if (this.#token === undefined) {
      // One watch per device, shared by all listeners; it fires once now.
      const seq = (tokenSeq.get(this.xs) ?? 0) + 1;
      tokenSeq.set(this.xs, seq);
      this.#token = `xenbus-${seq}`;
      this.xs.watch(this.domid, `${this.otherendPath}/state`, this.#token, () => this.#dispatch());
    } else {
      const raw = this.peerRaw();
      cb(parseXenbusState(raw), raw);
    }
    return () => {
      this.#listeners.delete(cb);
    };
  }

  /**
   * Wait (as an engine process) until the peer's state satisfies `accept`;
   * resolves at once if it does already. Disposing of the device ends the
   * wait with `Unknown` (no more news of the peer will come: the domain
   * that waited is going away, and its watches with it).
   * @param engine the engine the caller runs in
   * @param accept which peer states end the wait
   * @returns the peer state that ended it
   */
  waitPeer(engine: Engine, accept: (s: XenbusStateValue) => boolean): Promise<XenbusStateValue> {
    this.#live();
    const now = this.peerState();
    if (accept(now)) return Promise.resolve(now);
    const b = engine.block<XenbusStateValue>(`xenbus ${this.otherendPath}/state`);
    const done = (s: XenbusStateValue) => {
      off();
      this.#waits.delete(done);
      b.resolve(s);
    };
    const off = this.onPeerChange((s) => {
      if (accept(s)) done(s);
    });
    this.#waits.add(done);
    return b.promise;
  }

  /** Pending {@link waitPeer}s, ended by {@link dispose}. */
  #waits = new Set<(s: XenbusStateValue) => void>();

  /**
   * Remove the watch and all listeners; the device can no longer be used.
   * Pending {@link waitPeer}s end with `Unknown`.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#listeners.clear();
    for (const done of [...this.#waits]) done(XenbusState.Unknown);
    if (this.#token !== undefined) {
      try {
        this.xs.unwatch(this.domid, `${this.otherendPath}/state`, this.#token);
      } catch (e) {
        // Our domain may be gone already, and its watches with it.
        if (!isStoreRefusal(e)) throw e;
      }
      this.#token = undefined;
    }
  }

  #dispatch(): void {
    const raw = this.peerRaw();
    const s = parseXenbusState(raw);
    for (const cb of [...this.#listeners]) cb(s, raw);
  }

  #tryRead(caller: number, path: string): string | undefined {
    try {
      return this.xs.read(caller, path);
    } catch (e) {
      if (isStoreRefusal(e)) return undefined;
      throw e;
    }
  }

  #live(): void {
    if (this.#disposed) throw new XenbusError("disposed", `${this.nodePath}: device disposed`);
  }
}

/**
 * Toolstack step (dom0): create both directories of a new device with the
 * usual permissions (each end owns its directory, the other end may read
 * it), cross-link them (`backend`, `backend-id`, `frontend`,
 * `frontend-id`) and set both states to Initialising.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenStore } from "../../hypervisor/xenstore.ts";
 * import { createXenbusDevice } from "./xenbus.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(0, "Domain-0");
 * xs.introduceDomain(1, "guest");
 * const p = createXenbusDevice(xs, { type: "vib", frontDomid: 1, backDomid: 0, devid: 0 });
 * assert.equal(xs.read(1, `${p.frontend}/backend-id`), "0");
 * assert.equal(xs.read(0, `${p.backend}/frontend-id`), "1");
 * ```
 */
export function createXenbusDevice(
  xs: XenStoreLike & {
    setPerms(
      caller: number,
      path: string,
      perms: { domid: number; perm: "n" | "r" | "w" | "b" }[],
    ): void;
  },
  dev: { type: string; frontDomid: number; backDomid: number; devid: number },
): { frontend: string; backend: string } {
  const p = xenbusPaths(dev.type, dev.frontDomid, dev.backDomid, dev.devid);
  const init = String(XenbusState.Initialising);
  const ends = [
    {
      dir: p.frontend,
      owner: dev.frontDomid,
      peer: dev.backDomid,
      other: p.backend,
      side: "backend",
    },
    {
      dir: p.backend,
      owner: dev.backDomid,
      peer: dev.frontDomid,
      other: p.frontend,
      side: "frontend",
    },
  ];
  for (const e of ends) {
    const entries: [string, string][] = [
      ["", ""],
      ["state", init],
      [e.side, e.other],
      [`${e.side}-id`, String(e.peer)],
    ];
    for (const [k, v] of entries) {
      const path = k ? `${e.dir}/${k}` : e.dir;
      xs.write(0, path, v);
      xs.setPerms(0, path, [{ domid: e.owner, perm: "n" }, { domid: e.peer, perm: "r" }]);
    }
  }
  return p;
}

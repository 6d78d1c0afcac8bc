/**
 * Shared setup for the verbs conformance tests: a two-host bare-metal
 * cluster, an open context per host, and connected QP pairs (through the
 * library's `connectPair`, so the tests connect exactly as users do).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  Access,
  type Ah,
  Cluster,
  type ConnectOptions,
  connectPair,
  type Context,
  type Cq,
  type Domain,
  type Host,
  type Mr,
  type Pd,
  type Qp,
  SendFlags,
  VerbsError,
  WrOpcode,
} from "../../mod.ts";
import type { QpCap } from "../../drivers/uapi/types.ts";

/** One side of a test: its domain, context, PD, CQ and a registered buffer. */
export interface Side {
  dom: Domain;
  ctx: Context;
  pd: Pd;
  cq: Cq;
  buf: number;
  mr: Mr;
  lid: number;
}

/** All remote and local rights, for test buffers. */
export const ALL_ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ |
  Access.REMOTE_ATOMIC;

/** A started two-host cluster. */
export async function twoHosts(
  profile = "pcix-sdr-2006",
): Promise<{ cluster: Cluster; a: Domain; b: Domain }> {
  const cluster = new Cluster({ profile, seed: 7 });
  const ha = cluster.addHost({ name: "a", hypervisor: false });
  const hb = cluster.addHost({ name: "b", hypervisor: false });
  await cluster.start();
  return { cluster, a: ha.os, b: hb.os };
}

/** Where a conformance test's programs run: bare metal, or Xen guests of either driver. */
export type Mode = "native" | "bypass" | "split";

/** Every mode, for tests that must hold in each (DESIGN §9, invariant 11). */
export const MODES: readonly Mode[] = ["native", "bypass", "split"];

/**
 * A started cluster of one Xen host (`x`) and one bare-metal host (`b`), and the domain that runs
 * in `mode`: `b`'s OS, or a guest `vm` of `x` with the bypass or split driver (seed 1).
 */
export async function oneDomain(
  mode: Mode,
): Promise<{ cluster: Cluster; xen: Host; d: Domain }> {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  const xen = cluster.addHost({ name: "x", hypervisor: true });
  const bare = cluster.addHost({ name: "b", hypervisor: false });
  await cluster.start();
  const d = mode === "native" ? bare.os : await xen.createGuest({ name: "vm", driver: mode });
  return { cluster, xen, d };
}

/**
 * A started two-host cluster whose two domains run in `mode`: the hosts' OS on
 * bare metal, or one guest per Xen host with the bypass or split driver. The
 * hosts' ports hold the partitions `pkeys` after 0xffff, and the guests may use
 * all of them.
 */
export async function twoDomains(
  mode: Mode,
  profile: string | Record<string, unknown> = "pcix-sdr-2006",
  pkeys?: number[],
): Promise<{ cluster: Cluster; a: Domain; b: Domain; hosts: Host[] }> {
  const cluster = new Cluster({ profile, seed: 7 });
  const xen = mode !== "native";
  const hosts = ["a", "b"].map((name) => cluster.addHost({ name, hypervisor: xen, pkeys }));
  await cluster.start();
  if (!xen) return { cluster, a: hosts[0].os, b: hosts[1].os, hosts };
  const driver = mode as "bypass" | "split";
  const guestPkeys = pkeys && [0xffff, ...pkeys];
  const a = await hosts[0].createGuest({ name: "vm0", memoryMiB: 64, driver, pkeys: guestPkeys });
  const b = await hosts[1].createGuest({ name: "vm1", memoryMiB: 64, driver, pkeys: guestPkeys });
  return { cluster, a, b, hosts };
}

/** Open the device, a PD, a CQ of `cqe` entries and a 64 KiB registered buffer. */
export async function side(dom: Domain, cqe = 64, bufBytes = 65536): Promise<Side> {
  const ctx = await dom.openDevice();
  const pd = await ctx.allocPd();
  const cq = await ctx.createCq(cqe);
  const buf = dom.memory.alloc(bufBytes, 4096);
  const mr = await pd.regMr(buf, bufBytes, ALL_ACCESS);
  return { dom, ctx, pd, cq, buf, mr, lid: ctx.queryPort(1).lid };
}

/** Default capacities for test QPs. */
export const CAP: QpCap = {
  maxSendWr: 16,
  maxRecvWr: 16,
  maxSendSge: 2,
  maxRecvSge: 2,
  maxInlineData: 64,
};

/**
 * How the tests connect QPs: PSNs away from 0 (so a PSN mix-up shows), four
 * RDMA READs/atomics each way, and the shortest RNR timer (RNR tests stay short).
 */
export const CONNECT: ConnectOptions = {
  sqPsn: 100,
  rqPsn: 100,
  maxRdAtomic: 4,
  maxDestRdAtomic: 4,
  minRnrTimer: 1,
};

/** A QP of `type` on each side, connected to each other and in RTS. */
export async function pair(
  x: Side,
  y: Side,
  type: number,
  cap: QpCap = CAP,
): Promise<[Qp, Qp]> {
  const qx = await x.pd.createQp({ type, sendCq: x.cq, recvCq: x.cq, cap });
  const qy = await y.pd.createQp({ type, sendCq: y.cq, recvCq: y.cq, cap });
  await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid }, CONNECT);
  return [qx, qy];
}

/** Run `fn`, expecting a VerbsError with `code`; returns its message. */
export async function rejects(fn: () => unknown, code: string): Promise<string> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof VerbsError && e.code === code) return e.message;
    throw new Error(`expected VerbsError ${code}, got ${e instanceof Error ? e.message : e}`);
  }
  throw new Error(`expected VerbsError ${code}, but the call succeeded`);
}

/** Bytes 0..n-1 shifted by `seed`. */
export function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

/**
 * Wait until `dom`'s memory at `addr` holds `want` (unreliable transports
 * complete the send before the data lands), at most `timeoutNs`.
 */
export async function waitBytes(
  dom: Domain,
  addr: number,
  want: Uint8Array,
  timeoutNs = 1_000_000,
): Promise<void> {
  const end = dom.engine.now + timeoutNs;
  const same = () => dom.memory.read(addr, want.length).every((v, i) => v === want[i]);
  while (!same()) {
    const left = end - dom.engine.now;
    if (left <= 0 || !(await dom.memory.waitWrite(addr, want.length, left))) {
      if (same()) return;
      throw new Error(
        `memory at 0x${addr.toString(16)} never got the expected ${want.length} bytes`,
      );
    }
  }
}

/** Post a signaled RDMA WRITE of `length` bytes from `x`'s buffer to the start of `y`'s. */
export function postWrite(qp: Qp, x: Side, y: Side, wrId: bigint, length = 64): void {
  qp.postSend({
    wrId,
    opcode: WrOpcode.RDMA_WRITE,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: x.buf, length, lkey: x.mr.lkey }],
    remoteAddr: y.buf,
    rkey: y.mr.rkey,
  });
}

/** Post a signaled SEND of `length` bytes from `x`'s buffer. */
export function postSendWr(qp: Qp, x: Side, wrId: bigint, length = 64): void {
  qp.postSend({
    wrId,
    opcode: WrOpcode.SEND,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: x.buf, length, lkey: x.mr.lkey }],
  });
}

/** The Q_Key the conformance tests' UD QPs take. */
const UD_QKEY = 0x11111111;

/** One signaled UD SEND of 16 bytes from `s`'s buffer through `ah`; its completion's status. */
export async function datagram(
  qp: Qp,
  s: Side,
  ah: Ah,
  remoteQpn: number,
): Promise<number> {
  qp.postSend({
    wrId: 1n,
    opcode: WrOpcode.SEND,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: s.buf, length: 16, lkey: s.mr.lkey }],
    ah,
    remoteQpn,
    remoteQkey: UD_QKEY,
  });
  const [wc] = await s.cq.pollUntil(1);
  return wc.status;
}

/**
 * An `assert.rejects` matcher: a one-line EINVAL of class `cls` (a `VerbsError` unless named)
 * whose message matches `re`.
 */
// deno-lint-ignore no-explicit-any
export function einval(re: RegExp, cls: new (...a: any[]) => Error = VerbsError) {
  return (e: unknown): true => {
    assert.ok(e instanceof cls, `${e}`);
    assert.equal((e as VerbsError).code, "EINVAL");
    assert.doesNotMatch((e as Error).message, /\n/);
    assert.match((e as Error).message, re);
    return true;
  };
}

/**
 * Shared setup for the Xen-IB tests: clusters of Xen hosts with guests,
 * connected RC QP pairs, and the counts invariant 6 compares.
 *
 * @module
 */
import {
  Access,
  Cluster,
  connectPair,
  connectQp,
  type Context,
  type Cq,
  type Domain,
  type Host,
  type Mr,
  type Pd,
  type Qp,
  QpType,
  SendFlags,
  VerbsError,
  WrOpcode,
  type XenGuest,
  type XenPlatform,
} from "../mod.ts";

/** All remote rights and local write. */
export const ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ |
  Access.REMOTE_ATOMIC;

/** One end of a test connection. */
export interface End {
  dom: Domain;
  ctx: Context;
  pd: Pd;
  cq: Cq;
  mr: Mr;
  buf: number;
  qp: Qp;
  lid: number;
}

/** The Xen platform of a host. */
export function xenOf(h: Host): XenPlatform {
  return h.platform as XenPlatform;
}

/** A started cluster of `kinds` hosts (true = Xen), every port in the partitions `pkeys`. */
export async function cluster(
  kinds: boolean[],
  seed = 3,
  pkeys?: number[],
): Promise<{ cluster: Cluster; hosts: Host[] }> {
  const c = new Cluster({ profile: "pcix-sdr-2006", seed });
  const hosts = kinds.map((x, i) => c.addHost({ name: `h${i}`, hypervisor: x, pkeys }));
  await c.start();
  return { cluster: c, hosts };
}

/** Open a device, a PD, a CQ, a registered buffer and an RC QP (in RESET). */
export async function end(
  dom: Domain,
  bufBytes = 65536,
  opts: { regCache?: boolean } = {},
): Promise<End> {
  const ctx = await dom.openDevice(undefined, opts);
  const pd = await ctx.allocPd();
  const cq = await ctx.createCq(64);
  const buf = dom.memory.alloc(bufBytes, 4096);
  const mr = await pd.regMr(buf, bufBytes, ACCESS);
  const qp = await pd.createQp({
    type: QpType.RC,
    sendCq: cq,
    recvCq: cq,
    cap: { maxSendWr: 32, maxRecvWr: 32, maxSendSge: 1, maxRecvSge: 1, maxInlineData: 64 },
  });
  return { dom, ctx, pd, cq, mr, buf, qp, lid: ctx.queryPort(1).lid };
}

/** Bring `a`'s and `b`'s QPs to RTS toward each other, four READs/atomics in flight. */
export function connect(a: End, b: End): Promise<void> {
  return connectPair(a, b, { maxRdAtomic: 4, maxDestRdAtomic: 4 });
}

/**
 * A signaled RDMA WRITE of `length` bytes (default 8) from `from`'s buffer
 * to `to`'s (or to `remoteAddr` with `rkey`); resolves with its completion status.
 */
export async function rdmaWrite(
  from: End,
  to: End,
  o: { length?: number; remoteAddr?: number; rkey?: number } = {},
): Promise<number> {
  from.qp.postSend({
    wrId: 1n,
    opcode: WrOpcode.RDMA_WRITE,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: from.buf, length: o.length ?? 8, lkey: from.mr.lkey }],
    remoteAddr: o.remoteAddr ?? to.buf,
    rkey: o.rkey ?? to.mr.rkey,
  });
  const [wc] = await from.cq.pollUntil(1);
  return wc.status;
}

/** Everything invariant 6 says must come back: device usage and the hypervisor's counts. */
export function counts(h: Host): Record<string, unknown> {
  const s = h.hca.stats();
  return { used: s.used, free: s.free, hv: xenOf(h).hv.stats() };
}

/** A guest of a Xen host (in the partitions `pkeys`, default the default one). */
export function guest(
  h: Host,
  name: string,
  driver: "bypass" | "split" = "bypass",
  pkeys?: number[],
): Promise<XenGuest> {
  return h.createGuest({ name, memoryMiB: 64, driver, pkeys }) as Promise<XenGuest>;
}

/** Wait until `dom`'s byte at `addr` is `v` (a CPU spinning on it). */
export async function spin(dom: Domain, addr: number, v: number): Promise<void> {
  while (dom.memory.read(addr, 1)[0] !== v) await dom.memory.waitWrite(addr, 1);
}

/**
 * Connect `a`'s and `b`'s RC QPs to each other on P_Key indices `ia` and `ib`, PSNs 0, with a
 * short ACK timer (4.096 µs × 2^8) and `retryCnt` retries, so that a peer that drops every
 * packet ends the WR with RETRY_EXC_ERR quickly.
 */
export async function connectInPartitions(
  a: End,
  ia: number,
  b: End,
  ib: number,
  retryCnt: number,
): Promise<void> {
  const o = { timeout: 8, retryCnt, sqPsn: 0, rqPsn: 0 };
  await connectQp(a.qp, { ...o, pkeyIndex: ia, remoteQpn: b.qp.qpNum, dlid: b.lid });
  await connectQp(b.qp, { ...o, pkeyIndex: ib, remoteQpn: a.qp.qpNum, dlid: a.lid });
}

/** `"ok"` if `p` resolves, `"<code>: <message>"` if it rejects with a `VerbsError`. */
export async function errnoOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof VerbsError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return "ok";
}

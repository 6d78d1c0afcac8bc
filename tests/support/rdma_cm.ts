/**
 * Helpers for rdma_cm tests: two domains on two hosts, in one of the three modes.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  Cluster,
  type CmEvent,
  type CmId,
  type Domain,
  type EventChannel,
  QpType,
} from "../../mod.ts";

/** How the two domains reach the HCA. */
export type Mode = "native" | "bypass" | "split";
/** All three, for tests that must hold in each. */
export const MODES: Mode[] = ["native", "bypass", "split"];

/**
 * A started two-host cluster (pcix-sdr-2006, seed 7) and a domain on each:
 * the hosts' OSes in native mode, a 64 MiB guest of each host otherwise.
 */
export async function pair(mode: Mode): Promise<{ cluster: Cluster; a: Domain; b: Domain }> {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 7 });
  const xen = mode !== "native";
  const h0 = cluster.addHost({ name: "n0", hypervisor: xen });
  const h1 = cluster.addHost({ name: "n1", hypervisor: xen });
  await cluster.start();
  if (!xen) return { cluster, a: h0.os, b: h1.os };
  const a = await h0.createGuest({ name: "vm0", memoryMiB: 64, driver: mode });
  const b = await h1.createGuest({ name: "vm1", memoryMiB: 64, driver: mode });
  return { cluster, a, b };
}

/** The channel's next event, which must be of type `want` (the message names what came instead). */
export async function next(ch: EventChannel, want: number): Promise<CmEvent> {
  const ev = await ch.getEvent();
  assert.equal(ev.type, want, `event ${ev.type} (status ${ev.status}), expected ${want}`);
  return ev;
}

/** A PD, a 16-entry CQ and an RC QP (8 deep, one SGE) on the id's device, made by `createQp`. */
export async function rcQp(id: CmId) {
  const ctx = id.verbs!;
  const pd = await ctx.allocPd();
  const cq = await ctx.createCq(16);
  const qp = await id.createQp(pd, {
    type: QpType.RC,
    sendCq: cq,
    recvCq: cq,
    cap: { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 },
  });
  return { pd, cq, qp };
}

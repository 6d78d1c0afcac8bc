/**
 * Live migration of a Xen guest between two Xen hosts of the cluster, with
 * its RDMA connections (`cluster.migrate`): Xen's pre-copy (Clark et al.,
 * "Live Migration of Virtual Machines", NSDI 2005; `xc_domain_save`), with
 * Nomad's handshake for the OS-bypass device (Huang et al., VEE 2007).
 *
 * 1. The destination's toolstack creates an empty domain of the same size,
 *    paused.
 * 2. Log-dirty mode on for the guest (`domctl:shadow_op`); round 1 sends
 *    every page of its memory over the management network, each later
 *    round the pages written meanwhile — by the guest's CPU or by the HCA's
 *    DMA (the device's writes are logged by machine frame and turned into
 *    the guest's pages through the M2P, `hypervisor/log_dirty.ts`). Xen's
 *    rules end pre-copy: a round that sent fewer than 50 pages, 29 rounds,
 *    or 3× the guest's pages sent in all.
 * 3. Suspend: the guest kernel's suspend path — the verbs library
 *    quiesces every connection with its peers and gives every device
 *    resource back (Nomad), the vib frontend disconnects, the domain
 *    suspends itself.
 * 4. Stop-and-copy: the pages written since the last round and the vCPU
 *    state; the destination restores the domain and unpauses it. The
 *    guest's memory is now the destination's (the switch).
 * 5. Resume on the destination: the frontend connects to that host's
 *    backend (the xenbus handshake again), the library re-creates its
 *    objects and reconnects (new QP numbers, keys, LID under the same
 *    virtual ones). The source destroys the old domain: its backend has
 *    nothing left to give back, the HCA and hypervisor counts of the source
 *    return to what they were before the guest came.
 *
 * A destination without room for what the guest's contexts hold on the
 * device (or that has a partition of the guest at another P_Key index) is
 * refused before anything moves, and again just before the switch.
 *
 * If the destination fails before the switch, the guest stays: log-dirty
 * off, and if it had already suspended, it resumes on the source (the
 * cancelled suspend of `xc_domain_resume`) and reconnects there, through
 * the same device: its backend, Closed since the suspend, serves the
 * frontend's re-probe.
 *
 * Costs (profile group `migration`): the stream at `netBytesPerSec` and
 * `netLatencyNs`, the dom0s' `pageSaveNs`/`pageRestoreNs` per page
 * (overlapped with the wire), `suspendNs`, `resumeNs`, the xenbus
 * re-handshake `xenbusReconnectNs`; everything else (the device's control
 * operations, grants, hypercalls) at its own cost.
 *
 * A modelling note: the guest's threads are engine processes that the
 * model does not deschedule while the domain is paused; they see the pause
 * through the verbs library (sends held, nothing to poll, control verbs
 * waiting). Pages such a thread writes after the last round was harvested
 * are copied at the switch and counted in `latePages`.
 *
 * @module
 */
import { PAGE_SIZE } from "../sim/memory.ts";
import type { AddressSpace } from "../sim/address_space.ts";
import type { Domain as XenDomain } from "../hypervisor/domain.ts";
import { VerbsError } from "../drivers/uapi/errors.ts";
import type { NomadTimeline } from "../drivers/verbs/nomad_agent.ts";
import type { ManagementNetwork } from "./mgmt_net.ts";
import type { XenPlatform } from "./xen_host.ts";
import type { XenGuest } from "./xen_guest.ts";
import { asVerbsError } from "./util.ts";

/**
 * Options of `cluster.migrate`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import type { MigrateOptions } from "./migration.ts";
 * import type { XenGuest } from "./xen_guest.ts";
 * const quick: MigrateOptions = { maxIterations: 5, stopPages: 100 };
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const from = cluster.addHost({ name: "xen0", hypervisor: true });
 * const to = cluster.addHost({ name: "xen1", hypervisor: true });
 * await cluster.start();
 * const vm = await from.createGuest({ name: "vm0", memoryMiB: 16, driver: "bypass" }) as XenGuest;
 * const r = await cluster.migrate(vm, to, quick);
 * assert.ok(r.rounds.length <= quick.maxIterations! + 1); // the stop-and-copy comes last
 * assert.deepEqual([vm.hostName, to.guests.length], ["xen1", 1]);
 * ```
 */
export interface MigrateOptions {
  /** Pre-copy rounds at most before the last one (Xen's DEF_MAX_ITERS: 29). */
  maxIterations?: number;
  /** A round that sent fewer pages than this is the last pre-copy round (Xen: 50). */
  stopPages?: number;
  /** Stop pre-copying once this many times the guest's pages were sent (DEF_MAX_FACTOR: 3). */
  maxFactor?: number;
  /**
   * Fault injection: the destination crashes during this phase — after the
   * first round ("pre-copy"), or after the guest suspended and its last
   * pages were sent ("stop-and-copy"). The migration fails; the guest keeps
   * running on the source.
   */
  crashDestination?: "pre-copy" | "stop-and-copy";
}

/**
 * One round of pages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import type { MigrationRound } from "./migration.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const from = cluster.addHost({ name: "xen0", hypervisor: true });
 * const to = cluster.addHost({ name: "xen1", hypervisor: true });
 * await cluster.start();
 * const vm = await from.createGuest({ name: "vm0", memoryMiB: 16, driver: "bypass" });
 * const [first]: MigrationRound[] = (await cluster.migrate(vm, to)).rounds;
 * assert.equal(first.pages, 16 * 256); // round 1 sends every page of the guest
 * assert.ok(first.bytes > first.pages * 4096); // and their frame list
 * assert.ok(!first.stopAndCopy);
 * ```
 */
export interface MigrationRound {
  /** 1-based; the last round is the stop-and-copy. */
  round: number;
  /** Pages sent (round 1: every page of the guest). */
  pages: number;
  /** Bytes on the management network (pages, their frame list, the vCPU state in the last). */
  bytes: number;
  /** When it started and how long it took (virtual ns). */
  startNs: number;
  /** How long the round took (ns). */
  durationNs: number;
  /** True for the stop-and-copy round (the guest suspended). */
  stopAndCopy: boolean;
}

/**
 * What a migration did and cost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import type { MigrationResult } from "./migration.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const from = cluster.addHost({ name: "xen0", hypervisor: true });
 * const to = cluster.addHost({ name: "xen1", hypervisor: true });
 * await cluster.start();
 * const vm = await from.createGuest({ name: "vm0", memoryMiB: 16, driver: "bypass" });
 * const r: MigrationResult = await cluster.migrate(vm, to);
 * assert.deepEqual([r.guest, r.from, r.to], ["vm0", "xen0", "xen1"]);
 * assert.ok(r.downtimeNs < r.totalNs); // pre-copy: the guest ran during most of it
 * assert.ok(r.rounds.at(-1)!.stopAndCopy);
 * ```
 */
export interface MigrationResult {
  /** The guest's name. */
  guest: string;
  /** The source host. */
  from: string;
  /** The destination host. */
  to: string;
  /** The guest's domain id on the destination. */
  domid: number;
  /** Virtual time the migration started (ns). */
  startNs: number;
  /** Virtual time it ended (ns). */
  endNs: number;
  /** From the call to the source's last resource returned. */
  totalNs: number;
  /**
   * The application-visible pause: from the moment the guest's connections
   * hold new sends (or its device goes away) to the moment they carry
   * traffic again on the destination.
   */
  downtimeNs: number;
  /** The domain was not running: suspended on the source until unpaused on the destination. */
  vmPausedNs: number;
  /**
   * Nomad's handshake: suspending the connections and giving the device
   * back, plus re-creating and reconnecting on the destination.
   */
  handshakeNs: number;
  /** Every round, the stop-and-copy last. */
  rounds: MigrationRound[];
  /** Sums over the rounds. */
  pagesSent: number;
  /** Bytes of pages sent. */
  bytesSent: number;
  /** Pages written by threads of the paused guest before the switch (see the module doc). */
  latePages: number;
  /** RC connections suspended and resumed. */
  connections: number;
  /** Nomad's timeline, when the guest's library runs it. */
  nomad?: NomadTimeline;
}

/** Bytes per page on the wire: the page and its entry in the batch's frame list. */
const PAGE_WIRE_BYTES = PAGE_SIZE + 8;
/** xc_domain_save's constants (tools/libxc/xc_domain_save.c). */
const DEF_MAX_ITERS = 29;
const DEF_MAX_FACTOR = 3;
const STOP_PAGES = 50;

function positiveInt(v: unknown, what: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || (v as number) < 1) {
    throw new VerbsError("EINVAL", `cluster.migrate: ${what} must be a positive integer, got ${v}`);
  }
  return v as number;
}

/**
 * Check a migration's options (one-line EINVAL naming the bad one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { migrateOptions } from "./migration.ts";
 * assert.equal(migrateOptions({}).maxIterations, 29);
 * assert.throws(() => migrateOptions({ stopPages: 0 }), /stopPages must be a positive integer/);
 * ```
 */
export function migrateOptions(
  o: MigrateOptions,
): Required<Omit<MigrateOptions, "crashDestination">> & {
  crashDestination?: MigrateOptions["crashDestination"];
} {
  if (o === null || typeof o !== "object") {
    throw new VerbsError("EINVAL", "cluster.migrate: options must be an object");
  }
  const known = ["maxIterations", "stopPages", "maxFactor", "crashDestination"];
  const extra = Object.keys(o).filter((k) => !known.includes(k));
  if (extra.length > 0) {
    throw new VerbsError(
      "EINVAL",
      `cluster.migrate: unknown option(s) ${extra.join(", ")} (known: ${known.join(", ")})`,
    );
  }
  const crash = o.crashDestination;
  if (crash !== undefined && crash !== "pre-copy" && crash !== "stop-and-copy") {
    throw new VerbsError(
      "EINVAL",
      `cluster.migrate: crashDestination must be "pre-copy" or "stop-and-copy", got ${
        JSON.stringify(crash)
      }`,
    );
  }
  return {
    maxIterations: positiveInt(o.maxIterations, "maxIterations", DEF_MAX_ITERS),
    stopPages: positiveInt(o.stopPages, "stopPages", STOP_PAGES),
    maxFactor: positiveInt(o.maxFactor, "maxFactor", DEF_MAX_FACTOR),
    crashDestination: crash,
  };
}

/** The two hosts and the management network between them. */
export interface MigrationEnds {
  src: XenPlatform;
  dst: XenPlatform;
  net: ManagementNetwork;
}

/**
 * Live-migrate `guest` from the host it runs on to `ends.dst` (see the
 * module doc). Call from a process (inside `cluster.run`).
 */
export async function migrateGuest(
  guest: XenGuest,
  ends: MigrationEnds,
  opts: MigrateOptions = {},
): Promise<MigrationResult> {
  const o = migrateOptions(opts);
  const { src, dst, net } = ends;
  const what = `migrate ${guest.name} from ${src.hw.name} to ${dst.hw.name}`;
  const why = guest.unmovable();
  // A move under way is a transient refusal (EBUSY, as a second `xl migrate` finds the domain's
  // save in progress); the others are what the guest holds, which no retry changes.
  if (why) throw new VerbsError(guest.migrating ? "EBUSY" : "EOPNOTSUPP", `${what}: ${why}`);
  if (dst.guests.some((g) => g.name === guest.name)) {
    throw new VerbsError("EEXIST", `${what}: the destination already runs a guest of that name`);
  }
  const noRoom = destinationRefuses(guest, src, dst);
  if (noRoom) throw new VerbsError(noRoom.code, `${what}: ${noRoom.why}`);
  const engine = src.hw.engine;
  const m = src.hw.profile.migration;
  const startNs = engine.now;
  const xdSrc = guest.xen;
  const srcSpace = xdSrc.memory;
  const pages = srcSpace.pages;
  guest.setMigrating(true);
  let xdDst: XenDomain | undefined;
  /** The guest died on the source before the switch: what the caller is told. */
  const diedOnSource = () =>
    new VerbsError(
      "ECONNRESET",
      `${what}: ${guest.name} died on ${src.hw.name} (its domain is ${xdSrc.state}) ` +
        "before the switch; nothing was moved",
    );
  try {
    try {
      xdDst = await dst.hv.createDomain(dst.hv.dom0, {
        name: guest.name,
        memoryBytes: pages * PAGE_SIZE,
        paused: true,
      });
    } catch (e) {
      throw asVerbsError(e, `${what}: creating the domain on the destination`);
    }
    const dstSpace = xdDst.memory;
    if (
      xdDst.sharedInfoAddr !== xdSrc.sharedInfoAddr ||
      xdDst.grantTableAddrs.join() !== xdSrc.grantTableAddrs.join()
    ) {
      throw new VerbsError("EINVAL", `${what}: the hosts lay out a domain's Xen pages differently`);
    }
    const rounds: MigrationRound[] = [];
    const copy = (pfn: number) => copyPage(srcSpace, dstSpace, pfn);
    const sendRound = async (
      pfns: number[] | "all",
      stopAndCopy: boolean,
    ): Promise<MigrationRound> => {
      const r0 = engine.now;
      let n: number;
      if (pfns === "all") {
        n = pages;
        for (const [pfn] of srcSpace.ownPages()) copy(pfn);
      } else {
        n = pfns.length;
        if (!stopAndCopy) { for (const pfn of pfns) copy(pfn); }
      }
      const bytes = n * PAGE_WIRE_BYTES + (stopAndCopy ? m.vcpuStateBytes : 0);
      const cpuNs = n * Math.max(m.pageSaveNs, m.pageRestoreNs);
      await net.transfer(src.hw.name, dst.hw.name, bytes, cpuNs);
      const r = {
        round: rounds.length + 1,
        pages: n,
        bytes,
        startNs: r0,
        durationNs: engine.now - r0,
        stopAndCopy,
      };
      rounds.push(r);
      return r;
    };
    const shadow = (op: "enable_logdirty" | "clean" | "peek" | "off") =>
      src.hv.shadowOp(src.hv.dom0, { domid: xdSrc.domid, op });

    // ---- pre-copy ----
    await shadow("enable_logdirty");
    let toSend: number[] | "all" = "all";
    let total = 0;
    for (let iter = 1;; iter++) {
      const r = await sendRound(toSend, false);
      total += r.pages;
      if (o.crashDestination === "pre-copy") {
        dst.hv.domainCrash(xdDst);
        await shadow("off");
        throw new VerbsError(
          "ECONNRESET",
          `${what}: the destination crashed during pre-copy; ${guest.name} keeps running on ${src.hw.name}`,
        );
      }
      if (r.pages < o.stopPages || iter >= o.maxIterations || total > o.maxFactor * pages) break;
      toSend = (await shadow("clean")).dirty!;
    }

    // ---- suspend, stop-and-copy ----
    const suspendNs = engine.now;
    try {
      await guest.suspendForMigration();
    } catch (e) {
      // A guest that cannot suspend (its connections changed during pre-copy) keeps running
      // here, and log-dirty mode goes off as xc_domain_save's error path turns it off
      // (XEN_DOMCTL_SHADOW_OP_OFF at its `out:` label): else no later migration could enable it.
      await shadow("off").catch(() => {});
      throw e;
    }
    const pausedNs = engine.now;
    // From here on a failure before the switch leaves the guest where it was: the
    // suspend is cancelled (xc_domain_resume) and its devices reconnect there.
    // A guest that died on the source meanwhile (it crashed while suspended) has nothing to
    // move or resume: the destination's domain goes (the catch below), not the guest to a
    // second life there.
    const sourceAlive = (): void => {
      if (!xdSrc.running) throw diedOnSource();
    };
    const resumeOnSource = async (
      why: string,
      code: "ECONNRESET" | "ENOMEM" | "EOPNOTSUPP" = "ECONNRESET",
    ): Promise<never> => {
      sourceAlive();
      if (xdDst!.state === "running") dst.hv.domainCrash(xdDst!);
      await shadow("off").catch(() => {});
      await src.hv.resumeDomain(src.hv.dom0, xdSrc.domid);
      guest.moveTo(src, xdSrc);
      // The device was never unplugged (xc_domain_resume re-creates none): its backend, Closed
      // since the suspend, serves the frontend's re-probe.
      await guest.resumeDevices(guest.front.o.paths);
      throw new VerbsError(code, `${what}: ${why}; ${guest.name} resumed on ${src.hw.name}`);
    };
    const last = (await shadow("clean")).dirty!;
    await sendRound(last, true);
    if (o.crashDestination === "stop-and-copy") {
      await resumeOnSource("the destination crashed during stop-and-copy");
    }
    if (foreignPages(srcSpace) !== foreignPages(dstSpace)) {
      await resumeOnSource("pages of the guest are still mapped from elsewhere");
    }
    // The last moment the move can still be called off: the guest is suspended, what it will
    // make again is final, and the destination may have given its room to others meanwhile.
    const gone = destinationRefuses(guest, src, dst);
    if (gone) await resumeOnSource(gone.why, gone.code);
    await engine.sleep(m.resumeNs);
    sourceAlive();

    // ---- the switch: the pages as they are now, the allocator, the frames ----
    const label = `dom${xdSrc.domid}`;
    const late = new Set<number>();
    for (const mfn of src.hw.memory.takeWriteLog(label)) {
      const pfn = srcSpace.pfnOf(mfn);
      if (pfn !== undefined) late.add(pfn);
    }
    for (const pfn of last) late.delete(pfn);
    for (const pfn of last) copy(pfn);
    for (const pfn of late) copy(pfn);
    dstSpace.adoptAllocatorState(srcSpace.allocatorState());
    const oldFrames = srcSpace.ownPages().map(([, mfn]) => mfn);
    guest.memory.rebind(dstSpace, dst.hw.memory);
    guest.nomad?.relocated();
    src.hw.memory.wake(oldFrames);
    src.forget(guest);
    dst.adopt(guest);
    guest.moveTo(dst, xdDst);
    await shadow("off");
    await dst.hv.unpauseDomain(dst.hv.dom0, xdDst.domid);
    const runningNs = engine.now;

    // ---- resume on the destination; the source lets go ----
    const oldDomid = xdSrc.domid;
    const sourceGone = engine.spawn(`${what}: source teardown`, async () => {
      await src.hv.destroyDomain(src.hv.dom0, oldDomid);
      await src.backendDone(oldDomid);
      await xdSrc.whenDead();
    });
    await guest.resumeDevices(
      dst.createVibDevice(xdDst.domid, guest.mode, guest.quota, guest.pkeys),
    );
    const resumedNs = engine.now;
    await sourceGone;
    const nomad = guest.nomad ? { ...guest.nomad.timeline } : undefined;
    const handshakeNs = nomad && nomad.suspendStartNs !== undefined
      ? (nomad.releasedNs! - nomad.suspendStartNs) + (nomad.resumedNs! - nomad.resumeStartNs!)
      : 0;
    return {
      guest: guest.name,
      from: src.hw.name,
      to: dst.hw.name,
      domid: xdDst.domid,
      startNs,
      endNs: engine.now,
      totalNs: engine.now - startNs,
      downtimeNs: resumedNs - suspendNs,
      vmPausedNs: runningNs - pausedNs,
      handshakeNs,
      rounds,
      pagesSent: rounds.reduce((a, r) => a + r.pages, 0) + late.size,
      bytesSent: rounds.reduce((a, r) => a + r.bytes, 0),
      latePages: late.size,
      connections: nomad?.connections ?? 0,
      nomad,
    };
  } catch (e) {
    const moved = guest.xen === xdDst;
    if (xdDst && xdDst.state !== "dead" && !moved) {
      dst.hv.domainCrash(xdDst);
      await xdDst.whenDead();
    }
    // Whatever call of the move its death made fail (a log-dirty op, a resume of a domain that
    // is gone), the caller learns that the guest died.
    if (!moved && !xdSrc.running) throw diedOnSource();
    throw e;
  } finally {
    guest.setMigrating(false);
  }
}

/**
 * Why `dst` cannot take `guest` from `src` now, or undefined: the guest's verbs library must be
 * able to make its contexts again there, so the destination's device must have room for what
 * it holds (counted as dom0's backend admits a guest's requests: free entries beyond dom0's
 * reserve, the first context's UAR excepted; `drivers/back/headroom.ts`), and every partition
 * of the guest must be at the same P_Key index of the destination's ports as of the source's:
 * QPs name their partition by index (`pkey_index`), and the index is not virtualized. As Xen's
 * toolstack refuses a destination without the memory, before anything moves; nothing is
 * reserved, so it is asked again just before the switch.
 */
function destinationRefuses(
  guest: XenGuest,
  src: XenPlatform,
  dst: XenPlatform,
): { code: "ENOMEM" | "EOPNOTSUPP"; why: string } | undefined {
  const keep = guest.pkeys ?? [0xffff];
  for (let port = 1; port <= src.driver.devLim.ports; port++) {
    for (let i = 0; i < src.driver.devLim.maxPkeys; i++) {
      const pkey = src.driver.cachedPkey(port, i), there = dst.driver.cachedPkey(port, i);
      if (!keep.includes(pkey) || there === pkey) continue;
      const hex = (k: number) =>
        k === 0 ? "an empty entry" : `0x${k.toString(16).padStart(4, "0")}`;
      return {
        code: "EOPNOTSUPP",
        why:
          `${guest.name}'s partition ${
            hex(pkey)
          } is at P_Key index ${i} of port ${port} on ${src.hw.name}, ` +
          `${dst.hw.name} has ${hex(there)} there (QPs name partitions by index)`,
      };
    }
  }
  const needs = guest.nomad?.deviceNeeds();
  const headroom = dst.backend?.headroom;
  if (!needs || !headroom) return undefined;
  const free = dst.driver.available();
  for (const kind of ["uar", "pd", "mr", "cq", "qp", "mtt"] as const) {
    const n = needs[kind];
    if (n === 0) continue;
    const left = free[kind] - headroom.claimed(kind);
    // A guest's first context may take a UAR from dom0's reserve (a new guest gets its device).
    const kept = kind === "uar" && n === 1 ? 0 : headroom.reserveOf(kind);
    if (left - n < kept) {
      return {
        code: "ENOMEM",
        why: `${dst.hw.name}'s HCA has no room for ${guest.name}'s ${n} ${kind} ` +
          `(${left} free, ${kept} kept for dom0 and new guests)`,
      };
    }
  }
  return undefined;
}

/** Copy page `pfn` of `src` into `dst` (nothing for a page the source never touched). */
function copyPage(src: AddressSpace, dst: AddressSpace, pfn: number): void {
  if (!src.owns(pfn)) return; // a Xen page (shared info, grant table) or never populated
  const smfn = src.mfnOf(pfn)!;
  const dmfn = dst.populatePage(pfn);
  if (dmfn === undefined) return;
  if (!src.mem.hasData(smfn) && !dst.mem.hasData(dmfn)) return; // both still zero
  dst.mem.write(dmfn * PAGE_SIZE, src.mem.read(smfn * PAGE_SIZE, PAGE_SIZE));
}

/**
 * The pages mapped from elsewhere (Xen's shared-info and grant-table pages;
 * a device page left behind would show here), to compare both ends.
 */
function foreignPages(s: AddressSpace): string {
  return [...s.references()].filter((r) => !r.owned).map((r) => r.pfn).sort((a, b) => a - b)
    .join();
}

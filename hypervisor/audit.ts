/**
 * The hypervisor's isolation audit (`hv.audit()`): the frame census of
 * `sim/frame_audit.ts` over every domain's memory, the frames Xen keeps
 * for domains and the references a device driver declares (its MTT pins),
 * plus the rules only the hypervisor can check:
 *
 * - `owner`: a frame belongs to a domain that still exists (running, or
 *   dying with frames others still reference), never to a dead one;
 * - `grant`: every grant mapping's mapper is running, its granter exists
 *   and owns the frame, and while the granter runs its active entry (Xen's
 *   record, not the shared entry in the granter's memory, which the guest
 *   may rewrite at will) names that frame and that mapper; the mapper's
 *   space maps that frame at that address;
 * - `mapping`: every foreign mapping of RAM in a domain's space is one the
 *   hypervisor made: a grant mapping of that domain's, or its own
 *   shared-info or grant-table frame;
 * - `io-page`: an I/O frame mapped into a guest is one dom0 had mapped
 *   there, into that guest alone; a guest maps no other I/O frame;
 * - `device`: a frame a device can reach (an MTT entry) belongs to dom0, or
 *   to a domain that granted it to dom0 and whose grant dom0 still maps;
 * - `domain-state` / `domain-count`: a dying domain still holds frames (else
 *   it would be dead); a running domain holds exactly its grant-table and
 *   shared-info frames, and at least the frames its space owns.
 *
 * Returns the violations found: empty means clean.
 *
 * @module
 */
import { auditFrames, type AuditViolation, type FrameReference } from "../sim/frame_audit.ts";
import { PAGE_SIZE } from "../sim/memory.ts";
import type { HostState } from "./host.ts";

/**
 * A reference held outside the hypervisor on a frame a device can reach:
 * what a driver pinned for an MTT entry it wrote.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DeviceReference } from "./audit.ts";
 * const pin: DeviceReference = { mfn: 4242, holder: "mthca0 MTT entry 96" };
 * assert.match(pin.holder, /MTT entry/);
 * ```
 */
export interface DeviceReference {
  /** The frame. */
  mfn: number;
  /** Who holds it, for messages. */
  holder: string;
}

/**
 * Options of {@link auditHost}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { HypervisorAuditOptions } from "./audit.ts";
 * const pins: HypervisorAuditOptions = { deviceReferences: [{ mfn: 77, holder: "MTT entry 0" }] };
 * assert.equal([...pins.deviceReferences!].length, 1);
 * ```
 */
export interface HypervisorAuditOptions {
  /**
   * Every reference a device driver holds (its MTT pins). Without them, a
   * frame a driver pinned reads as a reference count above the references
   * found; a host's audit passes its driver's.
   */
  deviceReferences?: Iterable<DeviceReference>;
}

/** `dom<N>` or `xen:<what>:dom<N>` → N; undefined for other labels. */
function domidOfLabel(label: string): number | undefined {
  const m = /^(?:xen:[a-z_]+:)?dom(\d+)$/.exec(label);
  return m ? Number(m[1]) : undefined;
}

/**
 * Audit one host's hypervisor state (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * import { encodeGrantEntry, GTF_permit_access } from "./grant_table.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   const page = vm.memory.alloc(4096, 4096), ref = 8;
 *   const entry = encodeGrantEntry({ flags: GTF_permit_access, domid: 0, frame: page / 4096 });
 *   hv.mem.write(hv.grantTableFrames(vm.domid)![0] * 4096 + 8 * ref, entry); // the guest's grant
 *   const m = await hv.grantMap(hv.dom0, { domid: vm.domid, ref });
 *   assert.deepEqual(hv.audit(), []); // dom0 maps a page the guest granted, counted once
 *   hv.mem.getPage(m.mfn); // a reference nobody accounts for
 *   assert.deepEqual(hv.audit().map((v) => v.rule), ["count-mismatch"]);
 * });
 * ```
 */
export function auditHost(h: HostState, o: HypervisorAuditOptions = {}): AuditViolation[] {
  const mem = h.mem;
  const domains = [...h.domains.values()].sort((a, b) => a.domid - b.domid);
  const refs: FrameReference[] = [];
  for (const [id, xf] of h.xenFrames) {
    const [, siLabel, gtLabel] = h.frameLabels(id);
    refs.push({
      mfn: xf.sharedInfo,
      kind: "allocation",
      holder: `xen shared_info of dom${id}`,
      owner: siLabel,
    });
    for (const mfn of h.grants.tableFrames(id) ?? []) {
      refs.push({ mfn, kind: "allocation", holder: `xen grant table of dom${id}`, owner: gtLabel });
    }
  }
  // A grant copy in flight holds a reference on each of its frames (gnttab_copy_claim_buf).
  for (const c of h.grants.copyHolds()) {
    const what = c.granter === undefined ? "a frame of its own" : `ref ${c.ref} of dom${c.granter}`;
    refs.push({ mfn: c.mfn, kind: "pin", holder: `dom${c.holder}'s grant copy of ${what}` });
  }
  const device = [...(o.deviceReferences ?? [])];
  for (const d of device) refs.push({ mfn: d.mfn, kind: "pin", holder: d.holder });
  const out = auditFrames(mem, { spaces: domains.map((d) => d.memory), references: refs });

  // owner: no frame of a dead domain.
  const dead = new Map<number, number>();
  for (const f of mem.allocatedFrames()) {
    const id = domidOfLabel(f.owner);
    if (id !== undefined && !h.domains.has(id)) dead.set(id, (dead.get(id) ?? 0) + 1);
  }
  for (const [id, n] of dead) {
    out.push({ rule: "owner", message: `dom${id} is dead, yet ${n} frame(s) still belong to it` });
  }

  // grant: each mapping as the hypervisor recorded it.
  const grantAt = new Map<string, number>(); // "<mapper>:<pfn>" → mfn
  const grantedToDom0 = new Set<number>(); // frames dom0 maps through a grant
  for (const m of h.grants.mappings()) {
    const what = `dom${m.mapper}'s grant handle ${m.handle} (ref ${m.ref} of dom${m.granter})`;
    grantAt.set(`${m.mapper}:${Math.floor(m.addr / PAGE_SIZE)}`, m.mfn);
    if (m.mapper === 0) grantedToDom0.add(m.mfn);
    const mapper = h.domains.get(m.mapper);
    if (!mapper?.running) {
      out.push({ rule: "grant", mfn: m.mfn, message: `${what}: the mapper is not running` });
    }
    const granter = h.domains.get(m.granter);
    if (!granter) {
      out.push({ rule: "grant", mfn: m.mfn, message: `${what}: the granter is dead` });
    }
    const owner = mem.ownerOf(m.mfn);
    if (owner !== h.frameLabels(m.granter)[0]) {
      out.push({
        rule: "grant",
        mfn: m.mfn,
        message: `${what}: frame ${m.mfn} belongs to ${owner ?? "nobody"}, not the granter`,
      });
    }
    if (granter?.running) {
      // The active entry is Xen's record of the mapping. The shared entry is the
      // granter's memory: a guest may scribble on it (clear GTF_reading/writing,
      // change the frame) at any time, which harms only itself, so it is no rule
      // of isolation (xen/common/grant_table.c trusts only the active entry).
      const act = h.grants.activeEntry(m.granter, m.ref);
      if (!act || act.mfn !== m.mfn || act.mapper !== m.mapper) {
        out.push({
          rule: "grant",
          mfn: m.mfn,
          message: `${what}: no active entry for frame ${m.mfn}`,
        });
      }
    }
    if (mapper && mapper.memory.mfnOf(Math.floor(m.addr / PAGE_SIZE)) !== m.mfn) {
      out.push({
        rule: "grant",
        mfn: m.mfn,
        message: `${what}: not mapped at 0x${m.addr.toString(16)} in the mapper's space`,
      });
    }
  }

  // io-page: the hypervisor's record of I/O frames in guests.
  const ioAt = new Map<string, number>(); // "<domid>:<pfn>" → mfn
  const ioHolder = new Map<number, number>();
  for (const m of h.io.mappings()) {
    ioAt.set(`${m.domid}:${Math.floor(m.addr / PAGE_SIZE)}`, m.mfn);
    ioHolder.set(m.mfn, m.domid);
    const d = h.domains.get(m.domid);
    if (!mem.isMmio(m.mfn)) {
      out.push({
        rule: "io-page",
        mfn: m.mfn,
        message: `frame ${m.mfn} mapped into dom${m.domid} as an I/O page is RAM`,
      });
    }
    if (!d?.running) {
      out.push({
        rule: "io-page",
        mfn: m.mfn,
        message: `I/O frame ${m.mfn} is still mapped into dom${m.domid}, which is not running`,
      });
    } else if (d.memory.mfnOf(Math.floor(m.addr / PAGE_SIZE)) !== m.mfn) {
      out.push({
        rule: "io-page",
        mfn: m.mfn,
        message: `I/O frame ${m.mfn} is not at 0x${m.addr.toString(16)} in dom${m.domid}`,
      });
    }
  }

  // mapping: every foreign mapping is one the hypervisor made.
  for (const d of domains) {
    const xenLabels = new Set(h.frameLabels(d.domid).slice(1));
    for (const r of d.memory.references()) {
      if (r.owned) continue;
      const at = `${d} page 0x${(r.pfn * PAGE_SIZE).toString(16)}`;
      if (mem.isMmio(r.mfn)) {
        const holder = ioHolder.get(r.mfn);
        if (!d.privileged && ioAt.get(`${d.domid}:${r.pfn}`) !== r.mfn) {
          out.push({
            rule: "io-page",
            mfn: r.mfn,
            message: `${at} maps I/O frame ${r.mfn}, which dom0 did not map there`,
          });
        } else if (d.privileged && holder !== undefined) {
          out.push({
            rule: "io-page",
            mfn: r.mfn,
            message: `${at} maps I/O frame ${r.mfn}, which is dom${holder}'s`,
          });
        }
        continue;
      }
      const owner = mem.ownerOf(r.mfn);
      if (owner !== undefined && xenLabels.has(owner)) continue;
      if (grantAt.get(`${d.domid}:${r.pfn}`) === r.mfn) continue;
      out.push({
        rule: "mapping",
        mfn: r.mfn,
        message: `${at} maps frame ${r.mfn} (${owner ?? "free"}) without a grant`,
      });
    }
  }

  // device: what a device reaches was granted to dom0, or is dom0's.
  for (const p of device) {
    const owner = mem.ownerOf(p.mfn);
    if (owner === undefined) continue; // the census reported it
    if (owner === h.frameLabels(0)[0]) continue;
    const id = domidOfLabel(owner);
    if (id !== undefined && h.domains.has(id) && grantedToDom0.has(p.mfn)) continue;
    out.push({
      rule: "device",
      mfn: p.mfn,
      message: `${p.holder} reaches frame ${p.mfn} of ${owner}, which dom0 does not hold granted`,
    });
  }

  // domain-state / domain-count.
  for (const d of domains) {
    const held = h.framesHeld(d.domid);
    if (d.state === "dying" && held === 0) {
      out.push({
        rule: "domain-state",
        message: `${d} is dying but holds no frame: it should be dead`,
      });
    }
    const xf = h.xenFrames.get(d.domid);
    if (!xf) continue;
    const [memLabel, siLabel, gtLabel] = h.frameLabels(d.domid);
    if (mem.ownedBy(siLabel) !== 1 || mem.ownedBy(gtLabel) !== xf.grantFrames) {
      out.push({
        rule: "domain-count",
        message: `${d} holds ${mem.ownedBy(siLabel)} shared-info and ${mem.ownedBy(gtLabel)} ` +
          `grant-table frame(s), expected 1 and ${xf.grantFrames}`,
      });
    }
    if (mem.ownedBy(memLabel) < d.memory.framesOwned) {
      out.push({
        rule: "domain-count",
        message: `${d}: its space owns ${d.memory.framesOwned} frames, machine memory counts ` +
          `${mem.ownedBy(memLabel)}`,
      });
    }
  }
  return out;
}

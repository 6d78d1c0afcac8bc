/**
 * The frame census: an audit of machine memory's reference counts against
 * the references every holder says it holds. Each holder — an address
 * space (its own pages' allocation references, its foreign mappings), a
 * hypervisor (the frames it keeps for domains), a driver (the frames it
 * pinned for MTT entries) — lists its references; the census checks,
 * frame by frame, that
 *
 * - no frame is both free and referenced (a use after free in waiting);
 * - a frame's reference count equals the references found (a count above
 *   them is a leak, below them a free to come while still in use);
 * - the allocation reference is held by exactly the frame's owner, and only
 *   while the owner has not given the frame back;
 * - no allocated frame is held by nobody (a leak);
 * - the per-owner counts of machine memory add up, and each space's count
 *   of owned frames matches its own pages.
 *
 * Cheap enough to run after every test: one pass over the references and
 * one over the allocated frames. Higher layers (the hypervisor's audit, a
 * host's) add their own rules on top and report in the same form.
 *
 * @module
 */
import type { AddressSpace } from "./address_space.ts";
import type { MachineMemory } from "./memory.ts";

/**
 * One broken rule, with a sentence that says what is wrong and where.
 * `rule` names the rule: `free-referenced`, `count-mismatch`,
 * `allocation`, `leak`, `owner-count`, `space-count` here; the hypervisor
 * and host audits add theirs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AuditViolation } from "./frame_audit.ts";
 * const v: AuditViolation = { rule: "leak", mfn: 7, message: "frame 7 (dom1) is held by nothing" };
 * assert.equal(`${v.rule}: ${v.message}`, "leak: frame 7 (dom1) is held by nothing");
 * ```
 */
export interface AuditViolation {
  /** The rule broken. */
  rule: string;
  /** What is wrong, naming frames, domains and holders. */
  message: string;
  /** The frame concerned, if one. */
  mfn?: number;
}

/**
 * A reference one holder says it holds on a frame.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { FrameReference } from "./frame_audit.ts";
 * const pin: FrameReference = { mfn: 42, kind: "pin", holder: "mthca0 MTT entry 128" };
 * assert.equal(pin.owner, undefined); // only allocation references name an owner
 * ```
 */
export interface FrameReference {
  /** The frame. */
  mfn: number;
  /**
   * `allocation`: the owner's own reference (a page of its space, a frame
   * Xen keeps for it); `mapping`: a foreign mapping in an address space;
   * `pin`: a device's (an MTT entry a driver wrote), or a grant copy's in flight.
   */
  kind: "allocation" | "mapping" | "pin";
  /** Who holds it, for messages. */
  holder: string;
  /** For `allocation`: the owner label the frame must carry. */
  owner?: string;
}

/**
 * The references an address space holds: the allocation reference of each
 * own page, one per foreign mapping.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressSpace, MachineMemory, Prng } from "./mod.ts";
 * import { spaceReferences } from "./frame_audit.ts";
 * const as = new AddressSpace(new MachineMemory(1 << 20), "dom1", 256 << 10, new Prng(1));
 * as.alloc(4096, 4096);
 * const refs = spaceReferences(as);
 * assert.equal(refs.length, 15); // pages 1..15: a chunk populated at once
 * assert.ok(refs.every((r) => r.kind === "allocation" && r.owner === "dom1"));
 * ```
 */
export function spaceReferences(space: AddressSpace): FrameReference[] {
  const out: FrameReference[] = [];
  for (const r of space.references()) {
    const at = `${space.owner} page 0x${(r.pfn * 4096).toString(16)}`;
    out.push(
      r.owned
        ? { mfn: r.mfn, kind: "allocation", holder: at, owner: space.owner }
        : { mfn: r.mfn, kind: "mapping", holder: at },
    );
  }
  return out;
}

function holders(refs: FrameReference[]): string {
  const shown = refs.slice(0, 4).map((r) => `${r.holder} (${r.kind})`).join(", ");
  return refs.length > 4 ? `${shown} and ${refs.length - 4} more` : shown;
}

/**
 * Run the census over `mem` with the references of `spaces` and `references`
 * (see the module doc). Returns the violations found; empty means clean.
 * Every holder of a reference on `mem` must be listed, or its frames read
 * as counts above the references found.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressSpace, MachineMemory, Prng } from "./mod.ts";
 * import { auditFrames } from "./frame_audit.ts";
 * const mem = new MachineMemory(1 << 20);
 * const as = new AddressSpace(mem, "dom1", 256 << 10, new Prng(1));
 * const a = as.alloc(4096, 4096);
 * assert.deepEqual(auditFrames(mem, { spaces: [as] }), []);
 * mem.getPage(as.mfnOf(a / 4096)!); // a reference nobody accounts for
 * assert.deepEqual(auditFrames(mem, { spaces: [as] }).map((v) => v.rule), ["count-mismatch"]);
 * ```
 */
export function auditFrames(
  mem: MachineMemory,
  o: { spaces?: Iterable<AddressSpace>; references?: Iterable<FrameReference> },
): AuditViolation[] {
  const out: AuditViolation[] = [];
  const byFrame = new Map<number, FrameReference[]>();
  const add = (r: FrameReference) => {
    const l = byFrame.get(r.mfn);
    if (l) l.push(r);
    else byFrame.set(r.mfn, [r]);
  };
  for (const space of o.spaces ?? []) {
    let own = 0;
    for (const r of spaceReferences(space)) {
      if (r.kind === "allocation") own++;
      add(r);
    }
    if (own !== space.framesOwned) {
      out.push({
        rule: "space-count",
        message: `${space.owner}: counts ${space.framesOwned} own frames but maps ${own} own pages`,
      });
    }
  }
  for (const r of o.references ?? []) add(r);

  for (const [mfn, refs] of [...byFrame].sort((a, b) => a[0] - b[0])) {
    if (mem.isMmio(mfn)) {
      const alloc = refs.filter((r) => r.kind === "allocation");
      if (alloc.length > 0) {
        out.push({
          rule: "allocation",
          mfn,
          message: `I/O frame ${mfn} is held as an own page by ${holders(alloc)}`,
        });
      }
      const count = mem.refCount(mfn);
      if (count !== refs.length) {
        out.push({
          rule: "count-mismatch",
          mfn,
          message: `I/O frame ${mfn}: reference count ${count}, but ${refs.length} ` +
            `reference(s) found: ${holders(refs)}`,
        });
      }
      continue;
    }
    const info = mem.frameInfo(mfn);
    if (!info) {
      out.push({
        rule: "free-referenced",
        mfn,
        message: `frame ${mfn} is free, yet referenced by ${holders(refs)}`,
      });
      continue;
    }
    const alloc = refs.filter((r) => r.kind === "allocation");
    if (alloc.length > 1) {
      out.push({
        rule: "allocation",
        mfn,
        message: `frame ${mfn} (${info.owner}) is held as an own page by ${alloc.length} ` +
          `holders: ${holders(alloc)}`,
      });
    } else if (alloc.length === 1 && alloc[0].owner !== info.owner) {
      out.push({
        rule: "allocation",
        mfn,
        message: `frame ${mfn} belongs to ${info.owner}, but ${alloc[0].holder} holds it ` +
          `as ${alloc[0].owner}'s own page`,
      });
    } else if (alloc.length === 1 && !info.allocated) {
      out.push({
        rule: "allocation",
        mfn,
        message: `frame ${mfn}: ${info.owner} gave it back, but ${alloc[0].holder} still ` +
          `holds it as an own page`,
      });
    } else if (alloc.length === 0 && info.allocated) {
      out.push({
        rule: "leak",
        mfn,
        message: `frame ${mfn} (${info.owner}) keeps its allocation reference, but no ` +
          `holder owns it (other references: ${holders(refs)})`,
      });
    }
    if (info.count !== refs.length) {
      out.push({
        rule: "count-mismatch",
        mfn,
        message: `frame ${mfn} (${info.owner}): reference count ${info.count}, but ` +
          `${refs.length} reference(s) found: ${holders(refs)}`,
      });
    }
  }

  const perOwner = new Map<string, number>();
  for (const f of mem.allocatedFrames()) {
    perOwner.set(f.owner, (perOwner.get(f.owner) ?? 0) + 1);
    if (byFrame.has(f.mfn)) continue;
    out.push({
      rule: "leak",
      mfn: f.mfn,
      message: `frame ${f.mfn} (${f.owner}, count ${f.count}${
        f.allocated ? "" : ", given back"
      }) is allocated, but nothing references it`,
    });
  }
  for (const { mfn, count } of mem.referencedIoFrames()) {
    if (byFrame.has(mfn)) continue;
    out.push({
      rule: "count-mismatch",
      mfn,
      message: `I/O frame ${mfn}: reference count ${count}, but no reference found`,
    });
  }
  for (const [owner, n] of perOwner) {
    if (mem.ownedBy(owner) !== n) {
      out.push({
        rule: "owner-count",
        message: `${owner}: machine memory counts ${mem.ownedBy(owner)} frames, ${n} found`,
      });
    }
  }
  return out;
}

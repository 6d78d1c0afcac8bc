/**
 * `GNTTABOP_copy` (`grant_table_op:copy`): the hypervisor copies bytes
 * between a grant and a frame of the caller's, or two grants, as
 * `xen/common/grant_table.c` gnttab_copy() does — per-op `GNTST_*` status,
 * the call returns 0, grants pinned (`GTF_reading`/`GTF_writing`) while the
 * copy runs, charged `hypercallNs` plus the bytes at `cpu.memcpyBytesPerSec`.
 */
import assert from "node:assert/strict";
import { grantsOf } from "./support/xen.ts";
import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
import {
  DOMID_SELF,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTPIN_MAX_MAPS,
  GNTST,
  type GrantCopyOp,
  GrantTableError,
  GTF_reading,
  GTF_writing,
  Hypervisor,
  MAX_ARG_LIST,
} from "../hypervisor/mod.ts";

const SRC = GNTCOPY_source_gref, DST = GNTCOPY_dest_gref;

function host() {
  const engine = new Engine();
  const hv = new Hypervisor(engine, new MachineMemory(256 << 20), PCIX_SDR_2006, new Prng(5));
  return { engine, hv };
}

/** Two guests: `a` grants pages to `b` (read-write and read-only), each has a page of its own. */
async function pair(hv: Hypervisor) {
  const a = await hv.createDomain(hv.dom0, { name: "a", memoryBytes: 16 << 20 });
  const b = await hv.createDomain(hv.dom0, { name: "b", memoryBytes: 16 << 20 });
  const aBuf = a.memory.alloc(3 * 4096, 4096), bBuf = b.memory.alloc(2 * 4096, 4096);
  a.memory.write(aBuf, new Uint8Array(4096).map((_, i) => i & 0xff));
  const ga = grantsOf(hv, a);
  const rw = await ga.grantAccess(b.domid, aBuf / 4096 + 1);
  const ro = await ga.grantAccess(b.domid, aBuf / 4096, true);
  const dom0Grant = await ga.grantAccess(0, aBuf / 4096 + 2);
  return { a, b, aBuf, bBuf, ga, rw, ro, dom0Grant };
}

const costOf = (len: number) => (len * 1e9) / PCIX_SDR_2006.cpu.memcpyBytesPerSec;

Deno.test("grant copy: a guest copies from a grant made for it into its own page, and back into a writable grant", async () => {
  const { engine, hv } = host();
  await engine.run(async () => {
    const { a, b, aBuf, bBuf, ro, rw } = await pair(hv);
    const t0 = engine.now;
    await hv.grantCopy(b, {
      source: { ref: ro, domid: a.domid, offset: 100 },
      dest: { gmfn: bBuf / 4096, domid: DOMID_SELF, offset: 8 },
      len: 300,
      flags: SRC,
    });
    // One hypercall: its entry plus 300 bytes of memcpy, from the profile's existing parameters.
    assert.equal(engine.now - t0, PCIX_SDR_2006.xen.hypercallNs + costOf(300));
    assert.deepEqual(b.memory.read(bBuf + 8, 300), a.memory.read(aBuf + 100, 300));
    assert.deepEqual(b.memory.read(bBuf, 8), new Uint8Array(8), "nothing before the offset");
    // Back into a's writable grant (dest gref), a whole page.
    b.memory.write(bBuf + 4096, new Uint8Array(4096).fill(0x77));
    await hv.grantCopy(b, {
      source: { gmfn: bBuf / 4096 + 1, domid: DOMID_SELF, offset: 0 },
      dest: { ref: rw, domid: a.domid, offset: 0 },
      len: 4096,
      flags: DST,
    });
    assert.deepEqual(a.memory.read(aBuf + 4096, 4096), new Uint8Array(4096).fill(0x77));
    // No pin is left: the grants can be ended, nothing is mapped, the audit is clean.
    for (const ref of [ro, rw]) assert.equal(grantsOf(hv, a).readEntry(ref).flags & 0x18, 0);
    assert.equal(hv.stats().grantsMapped, 0);
    assert.deepEqual(hv.audit(), []);
    assert.equal(hv.counters().byKind["grant_table_op:copy"], 2);
  });
});

Deno.test("grant copy: GTF_reading/GTF_writing are held while the copy runs; the granter cannot end the grant meanwhile", async () => {
  const { engine, hv } = host();
  await engine.run(async () => {
    const { a, b, ga, ro, rw } = await pair(hv);
    const t0 = engine.now;
    const copy = hv.grantCopy(b, {
      source: { ref: ro, domid: a.domid, offset: 0 },
      dest: { ref: rw, domid: a.domid, offset: 0 },
      len: 4096,
      flags: SRC | DST,
    });
    await engine.sleep(PCIX_SDR_2006.xen.hypercallNs + costOf(4096) / 2); // mid-copy
    assert.equal(ga.readEntry(ro).flags & (GTF_reading | GTF_writing), GTF_reading);
    assert.equal(ga.readEntry(rw).flags & (GTF_reading | GTF_writing), GTF_reading | GTF_writing);
    assert.deepEqual(
      [hv.grantCopyPins(a.domid, ro), hv.grantCopyPins(a.domid, rw)],
      [{ readers: 1, writers: 0 }, { readers: 0, writers: 1 }],
    );
    await assert.rejects(ga.endAccess(rw), { code: "EBUSY" });
    assert.deepEqual(hv.audit(), [], "the copy's frame references are accounted for");
    await copy;
    assert.equal(engine.now - t0, PCIX_SDR_2006.xen.hypercallNs + costOf(4096));
    assert.equal(ga.readEntry(ro).flags & (GTF_reading | GTF_writing), 0);
    assert.equal(ga.readEntry(rw).flags & (GTF_reading | GTF_writing), 0);
    assert.deepEqual(hv.grantCopyPins(a.domid, rw), { readers: 0, writers: 0 });
    await ga.endAccess(rw);
    await ga.endAccess(ro);
    assert.deepEqual(hv.audit(), []);
  });
});

Deno.test("grant copy: dropping a read-only pin leaves GTF_writing alone (reduce_status_for_pin)", async () => {
  const { engine, hv } = host();
  await engine.run(async () => {
    const { a, b, bBuf, ga, rw } = await pair(hv);
    // The granter sets GTF_writing in its own entry (a guest may write its table as it likes).
    const at = ga.entryAddr(rw);
    const flags = a.memory.read(at, 2)[0];
    a.memory.write(at, new Uint8Array([flags | GTF_writing, 0]));
    const self = { gmfn: bBuf / 4096, domid: DOMID_SELF, offset: 0 };
    // A copy out of the writable grant pins it for reading only: Xen clears GTF_reading when the
    // pin goes, and GTF_writing only when a writable pin goes.
    await hv.grantCopy(b, {
      source: { ref: rw, domid: a.domid, offset: 0 },
      dest: self,
      len: 8,
      flags: SRC,
    });
    assert.equal(ga.readEntry(rw).flags & (GTF_reading | GTF_writing), GTF_writing);
    // A copy into it pins it for writing: its release clears both.
    await hv.grantCopy(b, {
      source: self,
      dest: { ref: rw, domid: a.domid, offset: 0 },
      len: 8,
      flags: DST,
    });
    assert.equal(ga.readEntry(rw).flags & (GTF_reading | GTF_writing), 0);
  });
});

Deno.test("grant copy: each refused op gets Xen's GNTST_* and the errno, the call returns 0, nothing moves", async () => {
  const { engine, hv } = host();
  await engine.run(async () => {
    const { a, b, aBuf, bBuf, ga, rw, ro, dom0Grant } = await pair(hv);
    const other = await hv.createDomain(hv.dom0, { name: "other", memoryBytes: 16 << 20 });
    const never = 200; // a ref a never granted
    // dom0 maps a grant a made for it: pinned by another domain, for b.
    const mapped = await hv.grantMap(hv.dom0, { domid: a.domid, ref: dom0Grant });
    const forDom0 = await ga.grantAccess(0, aBuf / 4096 + 1); // not mapped
    const aForB = await ga.grantAccess(b.domid, aBuf / 4096 + 2);
    const self = { gmfn: bBuf / 4096, domid: DOMID_SELF, offset: 0 };
    const g = (ref: number, offset = 0, domid = a.domid) => ({ ref, domid, offset });
    const cases: [keyof typeof GNTST, string, GrantCopyOp][] = [
      ["okay", "-", { source: g(ro), dest: self, len: 16, flags: SRC }],
      // len 0: Xen 4.17's gnttab_copy_one checks and claims both sides as for any length (the
      // early okay is 4.19's): valid sides are okay, a bad one is refused.
      ["okay", "-", { source: g(ro), dest: self, len: 0, flags: SRC }],
      ["bad_domain", "ESRCH", { source: g(ro, 0, 999), dest: self, len: 0, flags: SRC }],
      ["bad_gntref", "EINVAL", { source: g(ga.size), dest: self, len: 0, flags: SRC }],
      // gnttab_copy_lock_domain: only DOMID_SELF may name a frame, the caller's own id included.
      ["permission_denied", "EPERM", {
        source: g(ro),
        dest: { ...self, domid: b.domid },
        len: 1,
        flags: SRC,
      }],
      ["permission_denied", "EPERM", {
        source: { gmfn: aBuf / 4096, domid: a.domid, offset: 0 },
        dest: self,
        len: 1,
      }],
      ["bad_domain", "ESRCH", { source: g(ro, 0, 999), dest: self, len: 1, flags: SRC }],
      ["bad_domain", "ESRCH", { source: g(ro, 0, 0x7ff5), dest: self, len: 1, flags: SRC }],
      ["bad_domain", "EINVAL", { source: g(ro, 0, 1 << 16), dest: self, len: 1, flags: SRC }],
      // acquire_grant_for_copy: the ref's bounds, then the entry (_set_status_v1), then the frame.
      ["bad_gntref", "EINVAL", { source: g(ga.size), dest: self, len: 1, flags: SRC }],
      ["bad_gntref", "EINVAL", { source: g(-1), dest: self, len: 1, flags: SRC }],
      ["general_error", "EINVAL", { source: g(never), dest: self, len: 1, flags: SRC }],
      ["general_error", "EPERM", { source: g(forDom0), dest: self, len: 1, flags: SRC }],
      ["general_error", "EBUSY", { source: g(dom0Grant), dest: self, len: 1, flags: SRC }], // dom0's
      ["general_error", "EPERM", { source: self, dest: g(ro), len: 1, flags: DST }], // read-only
      ["bad_page", "EINVAL", { source: { ...self, gmfn: 0xfffff }, dest: self, len: 1 }],
      // gnttab_copy_buf: within a page, checked once both sides are claimed.
      ["bad_copy_arg", "EINVAL", { source: g(ro, 4000), dest: self, len: 200, flags: SRC }],
      ["bad_copy_arg", "EINVAL", {
        source: g(ro),
        dest: { ...self, offset: 4095 },
        len: 2,
        flags: SRC,
      }],
      ["bad_gntref", "EINVAL", { source: g(ga.size, 4000), dest: self, len: 200, flags: SRC }],
      // Values no uint16_t field holds.
      ["bad_copy_arg", "EINVAL", { source: g(ro), dest: self, len: 1e9, flags: SRC }],
      ["bad_copy_arg", "EINVAL", { source: g(ro, -1), dest: self, len: 1, flags: SRC }],
      ["bad_copy_arg", "EINVAL", { source: g(ro, 70000), dest: self, len: 1, flags: SRC }],
      ["bad_copy_arg", "EINVAL", { source: g(ro), dest: self, len: 1, flags: -1 }],
      [
        "bad_copy_arg",
        "EINVAL",
        { source: 7, dest: self, len: 1, flags: SRC } as unknown as GrantCopyOp,
      ],
      ["okay", "-", { source: g(aForB), dest: self, len: 4096, flags: SRC }],
    ];
    const oBuf = other.memory.alloc(4096, 4096);
    other.memory.write(oBuf, new Uint8Array(4096).fill(0x3c));
    const sumA = a.memory.read(aBuf, 3 * 4096), sumOther = other.memory.read(oBuf, 4096);
    const before = hv.stats();
    const r = await hv.hypercall(b, "grant_table_op:copy", { ops: cases.map(([, , op]) => op) });
    assert.equal(r.rc, 0, r.error);
    const out = r.value as { status: number; code?: string; error?: string }[];
    assert.deepEqual(
      out.map((o) => o.status),
      cases.map(([s]) => GNTST[s]),
      JSON.stringify(out.map((o) => o.error ?? "ok")),
    );
    assert.deepEqual(out.map((o) => o.code ?? "-"), cases.map(([, c]) => c));
    for (const o of out.filter((o) => o.status !== 0)) assert.doesNotMatch(o.error!, /\n/);
    // The grant dom0 maps is pinned by dom0 only: b's refused op took no pin.
    assert.equal(hv.grantsMappedFrom(a.domid), 1);
    assert.deepEqual(a.memory.read(aBuf, 3 * 4096), sumA, "the refusals wrote nothing of a's");
    assert.deepEqual(other.memory.read(oBuf, 4096), sumOther);
    assert.deepEqual(hv.stats(), before);
    for (const ref of [ro, rw, aForB, forDom0]) {
      assert.equal(ga.readEntry(ref).flags & 0x18, 0, `${ref}`);
    }
    assert.deepEqual(hv.audit(), []);
    assert.equal(hv.counters().faults, 0);
    await hv.grantUnmap(hv.dom0, mapped.handle);
  });
});

Deno.test("grant copy: a dest refusal releases the source's pin; a batch's errors are errnos; the typed call throws one line", async () => {
  const { engine, hv } = host();
  await engine.run(async () => {
    const { a, b, bBuf, ga, ro } = await pair(hv);
    const self = { gmfn: bBuf / 4096, domid: DOMID_SELF, offset: 0 };
    const [res] = await hv.grantCopyBatch(b, [
      {
        source: { ref: ro, domid: a.domid, offset: 0 },
        dest: { ...self, gmfn: 0xfffff },
        len: 8,
        flags: SRC,
      },
    ]);
    assert.equal(res.status, GNTST.bad_page);
    assert.equal(ga.readEntry(ro).flags & GTF_reading, 0, "source pin released at once");
    assert.deepEqual(hv.grantCopyPins(a.domid, ro), { readers: 0, writers: 0 });
    const copy = (args: unknown) => hv.hypercall(b, "grant_table_op:copy", args);
    assert.deepEqual(await copy({ ops: [] }), { rc: 0, value: [] }); // count 0: nothing, 0
    assert.equal((await copy({ ops: new Array(MAX_ARG_LIST + 1).fill({}) })).rc, -22);
    assert.equal((await copy({ ops: "many" })).rc, -22);
    assert.equal((await copy({})).rc, -22);
    assert.equal((await copy(null)).rc, -14);
    // An op that is not a readable struct: EFAULT for the call, before any op is done.
    const ok = { source: { ref: ro, domid: a.domid, offset: 0 }, dest: self, len: 4, flags: SRC };
    b.memory.write(bBuf, new Uint8Array(4).fill(9));
    const bad = await copy({ ops: [ok, null] });
    assert.equal(bad.rc, -14);
    assert.match(bad.error!, /op 1/);
    assert.deepEqual(b.memory.read(bBuf, 4), new Uint8Array(4).fill(9), "op 0 was not done");
    // The typed call: a GrantTableError with the status, one line naming what was wrong.
    const e = await hv.grantCopy(b, { ...ok, len: 5000 }).catch((e) => e);
    assert.ok(e instanceof GrantTableError);
    assert.deepEqual([e.code, e.status], ["EINVAL", GNTST.bad_copy_arg]);
    assert.match(e.message, /^EINVAL: grant_table_op:copy: len 5000/);
    assert.doesNotMatch(e.message, /\n/);
    await assert.rejects(hv.grantCopyBatch(b, "x" as unknown as GrantCopyOp[]), {
      code: "EINVAL",
      message: /grant_table_op:copy: need a list of 0\.\.4096 ops/,
    });
    assert.equal(hv.counters().faults, 0);
  });
});

Deno.test("grant copy: a third party copies between two guests' grants; log-dirty sees the dest page", async () => {
  const { engine, hv } = host();
  await engine.run(async () => {
    const { a, aBuf, ga } = await pair(hv);
    const c = await hv.createDomain(hv.dom0, { name: "c", memoryBytes: 16 << 20 });
    const cBuf = c.memory.alloc(4096, 4096);
    const from = await ga.grantAccess(0, aBuf / 4096, true);
    const to = await grantsOf(hv, c).grantAccess(0, cBuf / 4096);
    await hv.shadowOp(hv.dom0, { domid: c.domid, op: "enable_logdirty" });
    await hv.shadowOp(hv.dom0, { domid: c.domid, op: "clean" });
    await hv.grantCopy(hv.dom0, {
      source: { ref: from, domid: a.domid, offset: 4 },
      dest: { ref: to, domid: c.domid, offset: 0 },
      len: 12,
      flags: SRC | DST,
    });
    assert.deepEqual(c.memory.read(cBuf, 12), a.memory.read(aBuf + 4, 12));
    const dirty = await hv.shadowOp(hv.dom0, { domid: c.domid, op: "clean" });
    assert.ok(dirty.dirty!.includes(cBuf / 4096), "gnttab_mark_dirty: the dest page is dirty");
    await hv.shadowOp(hv.dom0, { domid: c.domid, op: "off" });
  });
});

Deno.test("grant copy: the granter destroyed mid-copy stays a zombie until the copy ends; nothing leaks", async () => {
  const { engine, hv } = host();
  const before = hv.stats();
  await engine.run(async () => {
    const { a, b, bBuf, ro } = await pair(hv);
    const copy = hv.grantCopy(b, {
      source: { ref: ro, domid: a.domid, offset: 0 },
      dest: { gmfn: bBuf / 4096, domid: DOMID_SELF, offset: 0 },
      len: 4096,
      flags: SRC,
    });
    await engine.sleep(PCIX_SDR_2006.xen.hypercallNs + 10);
    await hv.destroyDomain(hv.dom0, a.domid);
    assert.equal(hv.stateOf(a.domid), "dying", "the copy holds a frame of a's");
    assert.deepEqual(hv.audit(), []);
    await copy;
    await a.whenDead();
    assert.deepEqual(hv.audit(), []);
    await hv.destroyDomain(hv.dom0, b.domid);
    await b.whenDead();
  });
  assert.deepEqual(hv.stats(), before);
});

Deno.test("grant copy: a grant whose read-only pin counter the copier has filled with 128 mappings is GNTST_general_error as a source", async () => {
  // acquire_grant_for_copy() checks act->pin as map_grant_ref() does: an 8-bit counter per kind
  // (GNTPIN_incr2oflow_mask). The other kind, and the same grant once a mapping goes, copy.
  const { engine, hv } = host();
  await engine.run(async () => {
    const { a, b, bBuf, ro, rw } = await pair(hv);
    const maps = await hv.grantMapBatch(
      b,
      Array.from({ length: GNTPIN_MAX_MAPS }, () => ({ domid: a.domid, ref: rw, readonly: true })),
    );
    assert.ok(maps.every((m) => m.status === GNTST.okay));
    const mine = { gmfn: bBuf / 4096, domid: DOMID_SELF, offset: 0 };
    const from = { source: { ref: rw, domid: a.domid, offset: 0 }, dest: mine, len: 8, flags: SRC };
    const [full] = await hv.grantCopyBatch(b, [from]);
    assert.equal(full.status, GNTST.general_error);
    assert.equal(full.code, "EOVERFLOW");
    // Into the grant (a writable pin: its own counter), and from another grant: copied.
    const into = { source: mine, dest: { ref: rw, domid: a.domid, offset: 0 }, len: 8, flags: DST };
    const fromRo = { ...from, source: { ref: ro, domid: a.domid, offset: 0 } };
    assert.deepEqual((await hv.grantCopyBatch(b, [into, fromRo])).map((r) => r.status), [0, 0]);
    await hv.grantUnmap(b, maps[0].handle!);
    await hv.grantCopy(b, from);
    for (const m of maps.slice(1)) await hv.grantUnmap(b, m.handle!);
    assert.equal(grantsOf(hv, a).readEntry(rw).flags & (GTF_reading | GTF_writing), 0);
    assert.deepEqual(hv.audit(), []);
  });
});

/**
 * ABI compatibility with real Xen: grant-table pages and the shared-info
 * event bits the TS model produces are read by C code compiled against the
 * installed `xen/grant_table.h` and `xen/xen.h` (Debian `libxen-dev`), and a
 * table built by C with the real `grant_entry_v1_t` and `GTF_*` macros is
 * honoured by the TS hypervisor.
 */
import assert from "node:assert/strict";
import { grantsOf } from "./support/xen.ts";
import { cTest } from "./support/cc.ts";
import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
import {
  decodeGnttabCopy,
  decodeGrantEntry,
  DOMID_SELF,
  encodeGnttabCopy,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_application_map,
  GNTMAP_contains_pte,
  GNTMAP_device_map,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST,
  GNTTAB_COPY_SIZE,
  GNTTAB_NR_RESERVED_ENTRIES,
  GRANT_ENTRY_V1_SIZE,
  type GrantCopyOp,
  type GrantMapOp,
  GTF_accept_transfer,
  GTF_invalid,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_sub_page,
  GTF_transitive,
  GTF_type_mask,
  GTF_writing,
  Hypervisor,
  OFF_EVTCHN_MASK,
  OFF_EVTCHN_PENDING,
  OFF_PENDING_SEL,
  OFF_UPCALL_PENDING,
  VCPU_INFO_SIZE,
  type XenError,
} from "../hypervisor/mod.ts";

const REQ = { headers: ["xen/xen.h", "xen/grant_table.h"], install: "libxen-dev" };

/** Reads `gnttab.bin` with the real struct; prints one line per non-empty entry. */
const READ_TABLE = `
#include <stdio.h>
#include <stdint.h>
#include <stddef.h>
#include <xen/xen.h>
#include <xen/grant_table.h>

int main(void) {
  static grant_entry_v1_t tbl[4096 / sizeof(grant_entry_v1_t)];
  FILE *f = fopen("gnttab.bin", "rb");
  if (!f || fread(tbl, 1, sizeof tbl, f) != sizeof tbl) return 2;
  fclose(f);
  printf("layout %zu %zu %zu %zu\\n", sizeof(grant_entry_v1_t),
         offsetof(grant_entry_v1_t, flags), offsetof(grant_entry_v1_t, domid),
         offsetof(grant_entry_v1_t, frame));
  printf("gtf %u %u %u %u %u\\n", GTF_permit_access, GTF_readonly, GTF_reading, GTF_writing,
         GTF_type_mask);
  for (size_t r = 0; r < sizeof tbl / sizeof tbl[0]; r++) {
    grant_entry_v1_t *e = &tbl[r];
    if (!e->flags && !e->domid && !e->frame) continue;
    printf("ref %zu flags %u domid %u frame %u permit %d ro %d reading %d writing %d\\n", r,
           e->flags, e->domid, e->frame,
           (e->flags & GTF_type_mask) == GTF_permit_access, !!(e->flags & GTF_readonly),
           !!(e->flags & GTF_reading), !!(e->flags & GTF_writing));
  }
  return 0;
}
`;

/** What READ_TABLE should print for a page, computed from the TS decoder. */
function expectedLines(image: Uint8Array): string[] {
  const out = [
    `layout ${GRANT_ENTRY_V1_SIZE} 0 2 4`,
    `gtf ${GTF_permit_access} ${GTF_readonly} ${GTF_reading} ${GTF_writing} ${GTF_type_mask}`,
  ];
  for (let r = 0; r < 4096 / GRANT_ENTRY_V1_SIZE; r++) {
    const e = decodeGrantEntry(image, r * GRANT_ENTRY_V1_SIZE);
    if (!e.flags && !e.domid && !e.frame) continue;
    const b = (m: number) => ((e.flags & m) !== 0 ? 1 : 0);
    out.push(
      `ref ${r} flags ${e.flags} domid ${e.domid} frame ${e.frame} permit ${
        (e.flags & GTF_type_mask) === GTF_permit_access ? 1 : 0
      } ro ${b(GTF_readonly)} reading ${b(GTF_reading)} writing ${b(GTF_writing)}`,
    );
  }
  return out;
}

function host() {
  const engine = new Engine();
  const mem = new MachineMemory(128 << 20);
  const hv = new Hypervisor(engine, mem, PCIX_SDR_2006, new Prng(8));
  return { engine, mem, hv, dom0: hv.dom0 };
}

await cTest(
  "grant ABI: table pages written by the TS guest and hypervisor read right with grant_entry_v1_t",
  REQ,
  async (c) => {
    const { engine, mem, hv, dom0 } = host();
    let image: Uint8Array = new Uint8Array();
    await engine.run(async () => {
      const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20, grantFrames: 1 });
      const buf = vm.memory.alloc(4 * 4096, 4096) / 4096;
      const rw = await grantsOf(hv, vm).grantAccess(0, buf, false);
      const ro = await grantsOf(hv, vm).grantAccess(0, buf + 1, true);
      const far = await grantsOf(hv, vm).grantAccess(0x7fef, 0xdeadbeef, false);
      const idle = await grantsOf(hv, vm).grantAccess(3, buf + 2, true);
      const ended = await grantsOf(hv, vm).grantAccess(0, buf + 3, false);
      await grantsOf(hv, vm).endAccess(ended);
      // A hostile raw entry, every flag bit set.
      vm.memory.write(
        grantsOf(hv, vm).entryAddr(300),
        new Uint8Array([0xff, 0xff, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12]),
      );
      await hv.grantMap(dom0, { domid: vm.domid, ref: rw });
      await hv.grantMap(dom0, { domid: vm.domid, ref: ro, readonly: true });
      image = mem.read(hv.grantTableFrames(vm.domid)![0] * 4096, 4096);
      assert.deepEqual([rw, ro, far, idle, ended], [8, 9, 10, 11, 12]);
    });
    const out = await c.run(READ_TABLE, { files: { "gnttab.bin": image } });
    const lines = out.trim().split("\n");
    assert.deepEqual(lines, expectedLines(image));
    // And what C saw is what the model meant.
    assert.match(out, /^ref 8 flags 25 domid 0 frame \d+ permit 1 ro 0 reading 1 writing 1$/m);
    assert.match(out, /^ref 9 flags 13 domid 0 frame \d+ permit 1 ro 1 reading 1 writing 0$/m);
    assert.match(
      out,
      /^ref 10 flags 1 domid 32751 frame 3735928559 permit 1 ro 0 reading 0 writing 0$/m,
    );
    assert.match(out, /^ref 11 flags 5 domid 3 frame \d+ permit 1 ro 1 reading 0 writing 0$/m);
    assert.match(out, /^ref 12 flags 0 domid 0 frame \d+ permit 0 ro 0 reading 0 writing 0$/m);
    assert.match(
      out,
      /^ref 300 flags 65535 domid 4660 frame 305419896 permit 0 ro 1 reading 1 writing 1$/m,
    );
  },
);

await cTest(
  "grant ABI: a table built in C with the real struct and GTF_* macros is honoured by the TS hypervisor",
  REQ,
  async (c) => {
    // C fills entries from argv (ref domid frame ro ...) and prints the page as hex.
    const build = `
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/grant_table.h>
int main(int argc, char **argv) {
  static grant_entry_v1_t tbl[4096 / sizeof(grant_entry_v1_t)];
  for (int i = 1; i + 3 < argc; i += 4) {
    grant_entry_v1_t *e = &tbl[atoi(argv[i])];
    e->domid = (domid_t)atoi(argv[i + 1]);
    e->frame = (uint32_t)strtoul(argv[i + 2], 0, 10);
    e->flags = GTF_permit_access | (atoi(argv[i + 3]) ? GTF_readonly : 0);
  }
  const unsigned char *p = (const unsigned char *)tbl;
  for (size_t i = 0; i < sizeof tbl; i++) printf("%02x", p[i]);
  return 0;
}`;
    const { engine, mem, hv, dom0 } = host();
    // The C programs run outside engine.run: virtual time must not wait on real I/O.
    const vm = await engine.run(() =>
      hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20, grantFrames: 1 })
    );
    const other = await engine.run(() =>
      hv.createDomain(dom0, { name: "other", memoryBytes: 16 << 20 })
    );
    const buf = vm.memory.alloc(3 * 4096, 4096);
    vm.memory.write(buf, new Uint8Array([0xc0, 0xde]));
    const pfn = buf / 4096;
    const args = [
      [20, 0, pfn, 0],
      [21, 0, pfn + 1, 1],
      [22, other.domid, pfn + 2, 0],
    ].flat().map(String);
    const hex = (await c.run(build, { args })).trim();
    assert.equal(hex.length, 8192);
    const page = Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
    vm.memory.write(grantsOf(hv, vm).entryAddr(0), page); // the guest installs the C-built table

    const image = await engine.run(async () => {
      const m20 = await hv.grantMap(dom0, { domid: vm.domid, ref: 20 });
      assert.deepEqual([...dom0.memory.read(m20.addr, 2)], [0xc0, 0xde]);
      await assert.rejects(
        hv.grantMap(dom0, { domid: vm.domid, ref: 21 }),
        (e: XenError) => e.code === "EPERM",
      );
      await hv.grantMap(dom0, { domid: vm.domid, ref: 21, readonly: true });
      await assert.rejects(
        hv.grantMap(dom0, { domid: vm.domid, ref: 22 }),
        (e: XenError) => e.code === "EPERM",
      );
      const m22 = await hv.grantMap(other, { domid: vm.domid, ref: 22 });
      assert.equal(m22.mfn, vm.memory.mfnOf(pfn + 2));
      return mem.read(hv.grantTableFrames(vm.domid)![0] * 4096, 4096);
    });

    // The status bits Xen set are where C looks for them.
    const out = await c.run(READ_TABLE, { files: { "gnttab.bin": image } });
    const want = [
      `ref 20 flags 25 domid 0 frame ${pfn} permit 1 ro 0 reading 1 writing 1`,
      `ref 21 flags 13 domid 0 frame ${pfn + 1} permit 1 ro 1 reading 1 writing 0`,
      `ref 22 flags 25 domid ${other.domid} frame ${pfn + 2} permit 1 ro 0 reading 1 writing 1`,
    ];
    assert.deepEqual(out.trim().split("\n").slice(2), want);
    assert.deepEqual(out.trim().split("\n"), expectedLines(image));
  },
);

await cTest(
  "shared-info ABI: event bits the TS model sets are where struct shared_info has them",
  REQ,
  async (c) => {
    const prog = `
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/event_channel.h>
int main(void) {
  static struct shared_info si;
  FILE *f = fopen("shared_info.bin", "rb");
  if (!f || fread(&si, 1, sizeof si, f) != sizeof si) return 2;
  fclose(f);
  printf("layout %zu %zu %zu %zu %zu %zu\\n", offsetof(struct shared_info, evtchn_pending),
         offsetof(struct shared_info, evtchn_mask), sizeof(struct vcpu_info),
         offsetof(struct vcpu_info, evtchn_upcall_pending),
         offsetof(struct vcpu_info, evtchn_pending_sel), (size_t)NR_EVENT_CHANNELS);
  printf("upcall %u sel %llx\\n", si.vcpu_info[0].evtchn_upcall_pending,
         (unsigned long long)si.vcpu_info[0].evtchn_pending_sel);
  printf("pending");
  for (unsigned w = 0; w < sizeof(xen_ulong_t) * 8; w++)
    for (unsigned b = 0; b < sizeof(xen_ulong_t) * 8; b++)
      if ((si.evtchn_pending[w] >> b) & 1) printf(" %u", w * 64 + b);
  printf("\\nmasked");
  for (unsigned w = 0; w < sizeof(xen_ulong_t) * 8; w++)
    for (unsigned b = 0; b < sizeof(xen_ulong_t) * 8; b++)
      if ((si.evtchn_mask[w] >> b) & 1) printf(" %u", w * 64 + b);
  printf("\\n");
  return 0;
}`;
    const { engine, mem, hv, dom0 } = host();
    let image: Uint8Array = new Uint8Array();
    const ports: number[] = [];
    await engine.run(async () => {
      const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
      const backs: number[] = [];
      for (let i = 0; i < 130; i++) {
        const back = await hv.evtchnAllocUnbound(dom0, { remoteDom: vm.domid });
        backs.push(back);
        ports.push(await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: back }));
      }
      // Each bind left its port pending (evtchn_bind_interdomain): the guest's scan takes them.
      assert.deepEqual(vm.sharedInfo.takePending(), ports);
      vm.sharedInfo.mask(ports[129]);
      for (const i of [0, 64, 129]) await hv.evtchnSend(dom0, backs[i]);
      image = mem.read(vm.memory.translate(vm.sharedInfoAddr), 4096);
    });
    const out = await c.run(prog, { files: { "shared_info.bin": image.slice(0, 3136) } });
    const [layout, upcall, pending, masked] = out.trim().split("\n");
    assert.equal(
      layout,
      `layout ${OFF_EVTCHN_PENDING} ${OFF_EVTCHN_MASK} ${VCPU_INFO_SIZE} ${OFF_UPCALL_PENDING} ${OFF_PENDING_SEL} 4096`,
    );
    // Ports 1, 65, 130: words 0 and 1 selected (130 is masked, so word 2 is not).
    assert.deepEqual([ports[0], ports[64], ports[129]], [1, 65, 130]);
    assert.equal(upcall, "upcall 1 sel 3");
    assert.equal(pending, "pending 1 65 130");
    assert.equal(masked, "masked 130");
  },
);

await cTest(
  "grant ABI: batched map and unmap report Xen's GNTST_* statuses, by the header's values",
  REQ,
  async (c) => {
    // Every GNTST_* the header defines, and GNTTABOP_error_msgs (one per status).
    const names = Object.keys(GNTST);
    const prog = `
#include <stdio.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/grant_table.h>
static const char *msgs[] = GNTTABOP_error_msgs;
int main(void) {
${names.map((n) => `  printf("${n} %d\\n", GNTST_${n});`).join("\n")}
  printf("msgs %zu\\n", sizeof msgs / sizeof msgs[0]);
  printf("ops %d %d %d %d\\n", GNTTABOP_map_grant_ref, GNTTABOP_unmap_grant_ref,
         GNTTABOP_setup_table, GNTTABOP_query_size);
  printf("reserved %d\\n", GNTTAB_NR_RESERVED_ENTRIES);
  printf("gtf %u %u %u %u\\n", GTF_invalid, GTF_accept_transfer, GTF_transitive, GTF_sub_page);
  printf("gntmap %u %u %u %u %u\\n", GNTMAP_device_map, GNTMAP_host_map, GNTMAP_readonly,
         GNTMAP_application_map, GNTMAP_contains_pte);
  return 0;
}`;
    const out = (await c.run(prog)).trim().split("\n");
    const header = new Map(out.map((l) => [l.split(" ")[0], l.slice(l.indexOf(" ") + 1)]));
    for (const n of names) {
      assert.equal(header.get(n), String(GNTST[n as keyof typeof GNTST]), `GNTST_${n}`);
    }
    assert.equal(header.get("msgs"), String(names.length), "a status the TS table lacks");
    assert.equal(header.get("ops"), "0 1 2 6");
    assert.equal(header.get("reserved"), String(GNTTAB_NR_RESERVED_ENTRIES));
    assert.equal(
      header.get("gtf"),
      `${GTF_invalid} ${GTF_accept_transfer} ${GTF_transitive} ${GTF_sub_page}`,
    );
    assert.equal(
      header.get("gntmap"),
      `${GNTMAP_device_map} ${GNTMAP_host_map} ${GNTMAP_readonly} ${GNTMAP_application_map} ` +
        `${GNTMAP_contains_pte}`,
    );
    const st = (n: string) => Number(header.get(n));

    // What grant_table.c map_grant_ref() / unmap_common() write into each op.
    const { engine, hv, dom0 } = host();
    await engine.run(async () => {
      const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
      const tiny = await hv.createDomain(dom0, {
        name: "tiny",
        memoryBytes: 16 << 20,
        maxMaptrack: 1,
      });
      const g = grantsOf(hv, vm);
      const pfn = vm.memory.alloc(2 * 4096, 4096) / 4096;
      const ok = await g.grantAccess(0, pfn);
      const ro = await g.grantAccess(0, pfn + 1, true);
      const other = await g.grantAccess(tiny.domid, pfn);
      const otherToo = await g.grantAccess(tiny.domid, pfn + 1);
      const notOwn = await g.grantAccess(0, 0xfffff); // beyond vm's memory
      const cases: [
        string,
        { domid: number; ref: unknown; readonly?: boolean; flags?: number },
      ][] = [
        ["okay", { domid: vm.domid, ref: ok }],
        ["bad_domain", { domid: 999, ref: ok }], // no such domain
        ["bad_domain", { domid: 0x7ff5, ref: ok }], // a reserved domid
        ["bad_domain", { domid: 0x7ff0, ref: ok }], // DOMID_SELF: looked up by id, none
        ["bad_gntref", { domid: vm.domid, ref: g.size }], // past the table
        ["bad_gntref", { domid: vm.domid, ref: -1 }],
        ["general_error", { domid: vm.domid, ref: 200 }], // never granted: GTF_invalid
        ["general_error", { domid: vm.domid, ref: other }], // granted to another domain
        ["general_error", { domid: vm.domid, ref: ro }], // write-pin of a read-only grant
        ["okay", { domid: vm.domid, ref: ro, readonly: true }],
        ["bad_gntref", { domid: vm.domid, ref: ok, flags: GNTMAP_readonly }], // no host/device map
        ["bad_gntref", { domid: 999, ref: ok, flags: 0 }], // the flags before the domain
        ["okay", { domid: vm.domid, ref: ro, flags: GNTMAP_host_map | GNTMAP_readonly }],
        ["bad_page", { domid: vm.domid, ref: notOwn }], // not a page of the granter's
      ];
      const res = await hv.grantMapBatch(dom0, cases.map(([, op]) => op) as GrantMapOp[]);
      assert.deepEqual(
        res.map((r) => r.status),
        cases.map(([n]) => st(n)),
        JSON.stringify(res.map((r) => r.error ?? "ok")),
      );
      // The errno the typed call throws for the same op is still there.
      assert.deepEqual(res.map((r) => r.code ?? "-"), [
        "-",
        "ESRCH",
        "ESRCH",
        "ESRCH",
        "EINVAL",
        "EINVAL",
        "EINVAL",
        "EPERM",
        "EPERM",
        "-",
        "EINVAL",
        "EINVAL",
        "-",
        "EINVAL",
      ]);
      // A full maptrack: no handle for the second map (checked before the ref, as in Xen).
      const full = await hv.grantMapBatch(tiny, [
        { domid: vm.domid, ref: other },
        { domid: vm.domid, ref: otherToo },
        { domid: vm.domid, ref: 1 << 30 },
      ]);
      assert.deepEqual(full.map((r) => r.status), [st("okay"), st("no_space"), st("no_space")]);
      // Unmap: a handle in use, then the same again, one past the maptrack, and garbage.
      const handles = [res[0].handle!, res[0].handle!, 1 << 20, -3];
      assert.deepEqual(await hv.grantUnmapBatch(dom0, handles as number[]), [
        st("okay"),
        st("bad_handle"),
        st("bad_handle"),
        st("bad_handle"),
      ]);
      // The hypercall itself succeeded; only the ops failed, as in Xen.
      const raw = await hv.hypercall(dom0, "grant_table_op:unmap_grant_ref", { handles: [77] });
      assert.deepEqual([raw.rc, raw.value], [0, [st("bad_handle")]]);
      // A count of 0 is a call that does nothing and returns 0 (the loops run zero times).
      const before = hv.stats();
      const empty: [string, unknown][] = [
        ["map_grant_ref", { ops: [] }],
        ["unmap_grant_ref", { handles: [] }],
      ];
      for (const [name, args] of empty) {
        const r = await hv.hypercall(dom0, `grant_table_op:${name}`, args);
        assert.deepEqual([r.rc, r.value], [0, []], name);
      }
      assert.deepEqual(hv.stats(), before);
    });
  },
);

await cTest(
  "grant ABI: query_size returns 0 and reports in the op, as gnttab_query_size with the header's GNTST_*",
  REQ,
  async (c) => {
    const out = (await c.run(`
#include <stdio.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/grant_table.h>
int main(void) {
  printf("%d %d %d %d\\n", GNTTABOP_query_size, GNTST_okay, GNTST_bad_domain,
         GNTST_permission_denied);
  return 0;
}`)).trim().split(" ").map(Number);
    const [op, okay, badDomain, denied] = out;
    assert.equal(op, 6);
    const { engine, hv, dom0 } = host();
    await engine.run(async () => {
      const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20, grantFrames: 2 });
      const q = (caller: typeof vm, args: unknown) =>
        hv.hypercall(caller, "grant_table_op:query_size", args);
      const rows: [typeof vm, unknown, number, number | undefined][] = [
        [vm, {}, okay, 2], // DOMID_SELF by default
        [dom0, { domid: vm.domid }, okay, 2], // dom0 may ask about any domain
        [vm, { domid: 0 }, denied, undefined], // xsm_grant_query_size: XSM_TARGET
        [dom0, { domid: 999 }, badDomain, undefined], // rcu_lock_domain_by_any_id: none
        [vm, { domid: 0x7ff5 }, badDomain, undefined], // a reserved domid names no domain
      ];
      for (const [caller, args, status, frames] of rows) {
        const r = await q(caller, args);
        const v = r.value as { status: number; nrFrames?: number; maxNrFrames?: number };
        assert.equal(r.rc, 0, `${JSON.stringify(args)}: the hypercall itself succeeds`);
        assert.equal(v.status, status, JSON.stringify(args));
        assert.equal(v.nrFrames, frames);
        assert.equal(v.maxNrFrames, frames);
      }
      // The typed call throws the same refusal, with its status.
      await assert.rejects(
        hv.grantQuerySize(vm, 0),
        (e: XenError & { status: number }) =>
          e.code === "EPERM" && e.status === denied && !e.message.startsWith("EPERM: EPERM"),
      );
      assert.deepEqual(await hv.grantQuerySize(vm), { nrFrames: 2, maxNrFrames: 2 });
    });
  },
);

await cTest(
  "grant ABI: struct gnttab_copy, GNTCOPY_* and GNTTABOP_copy are the header's; ops encoded either side read the same",
  REQ,
  async (c) => {
    // C prints the layout, then the fields of the struct TS encoded, then encodes one of its own.
    const prog = `
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/grant_table.h>
int main(void) {
  gnttab_copy_t op;
  FILE *f = fopen("op.bin", "rb");
  if (!f || fread(&op, 1, sizeof op, f) != sizeof op) return 2;
  fclose(f);
  printf("layout %zu %zu %zu %zu %zu %zu %zu %zu %zu %zu %zu\\n", sizeof(gnttab_copy_t),
         offsetof(gnttab_copy_t, source), offsetof(gnttab_copy_t, dest),
         offsetof(gnttab_copy_t, len), offsetof(gnttab_copy_t, flags),
         offsetof(gnttab_copy_t, status), sizeof(struct gnttab_copy_ptr),
         offsetof(struct gnttab_copy_ptr, u), offsetof(struct gnttab_copy_ptr, domid),
         offsetof(struct gnttab_copy_ptr, offset), sizeof(op.source.u));
  printf("consts %d %d %d\\n", GNTCOPY_source_gref, GNTCOPY_dest_gref, GNTTABOP_copy);
  printf("read %u %u %u %llu %u %u %u %u %d\\n", op.source.u.ref, op.source.domid,
         op.source.offset, (unsigned long long)op.dest.u.gmfn, op.dest.domid, op.dest.offset,
         op.len, op.flags, op.status);
  gnttab_copy_t mine = { 0 };
  mine.source.u.gmfn = 0x123456789aULL;
  mine.source.domid = DOMID_SELF;
  mine.source.offset = 4095;
  mine.dest.u.ref = 77;
  mine.dest.domid = 3;
  mine.dest.offset = 1;
  mine.len = 65535;
  mine.flags = GNTCOPY_dest_gref;
  mine.status = GNTST_bad_copy_arg;
  const unsigned char *p = (const unsigned char *)&mine;
  printf("bytes ");
  for (size_t i = 0; i < sizeof mine; i++) printf("%02x", p[i]);
  printf("\\n");
  return 0;
}`;
    const op: GrantCopyOp = {
      source: { ref: 0xfedcba98, domid: 7, offset: 12 },
      dest: { gmfn: 2 ** 40 + 5, domid: DOMID_SELF, offset: 4000 },
      len: 96,
      flags: GNTCOPY_source_gref,
    };
    const bytes = encodeGnttabCopy(op, GNTST.general_error);
    assert.equal(bytes.length, GNTTAB_COPY_SIZE);
    const out = await c.run(prog, { files: { "op.bin": bytes } });
    const lines = new Map(
      out.trim().split("\n").map((l) => [l.split(" ")[0], l.slice(l.indexOf(" ") + 1)]),
    );
    assert.equal(lines.get("layout"), `${GNTTAB_COPY_SIZE} 0 16 32 34 36 16 0 8 10 8`);
    assert.equal(lines.get("consts"), `${GNTCOPY_source_gref} ${GNTCOPY_dest_gref} 5`);
    assert.equal(lines.get("read"), `${0xfedcba98} 7 12 ${2 ** 40 + 5} ${DOMID_SELF} 4000 96 1 -1`);
    const theirs = Uint8Array.from(lines.get("bytes")!.match(/../g)!, (h) => parseInt(h, 16));
    assert.deepEqual(decodeGnttabCopy(theirs), {
      op: {
        source: { gmfn: 0x123456789a, domid: DOMID_SELF, offset: 4095 },
        dest: { ref: 77, domid: 3, offset: 1 },
        len: 65535,
        flags: GNTCOPY_dest_gref,
      },
      status: GNTST.bad_copy_arg,
    });
    // A decoded op goes to the hypervisor as it is: its dest names dom3, which is not there.
    const { engine, hv, dom0 } = host();
    const r = await engine.run(() =>
      hv.hypercall(dom0, "grant_table_op:copy", { ops: [decodeGnttabCopy(theirs).op] })
    );
    assert.equal(r.rc, 0);
    assert.equal((r.value as { status: number }[])[0].status, GNTST.bad_domain);
  },
);

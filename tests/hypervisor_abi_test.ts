/**
 * ABI compatibility with real Xen for the hypervisor's numbers and names:
 * the errno values a hypercall returns are Xen's (`xen/errno.h`), the
 * reserved domids are `xen/xen.h`'s, the event-channel constants match
 * `xen/xen.h` and `xen/event_channel.h` on x86-64, and every hypercall name
 * the dispatcher knows is a real Xen hypercall and sub-op (it compiles
 * against the headers), as are the log-dirty operations, and each argument
 * field stands for a member of the header's argument struct, whose width
 * bounds what the model takes. Checked with C compiled against Debian's
 * `libxen-dev`.
 */
import assert from "node:assert/strict";
import { cTest } from "./support/cc.ts";
import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
import {
  DOMID_FIRST_RESERVED,
  DOMID_SELF,
  type EvtchnState,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTST,
  GNTTAB_COPY_SIZE,
  GNTTAB_NR_RESERVED_ENTRIES,
  GRANT_ENTRY_V1_SIZE,
  GTF_accept_transfer,
  GTF_invalid,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_sub_page,
  GTF_transitive,
  GTF_type_mask,
  GTF_writing,
  type HypercallName,
  HYPERCALLS,
  Hypervisor,
  NR_EVENT_CHANNELS,
  NR_VIRQS,
  OFF_EVTCHN_MASK,
  OFF_EVTCHN_PENDING,
  OFF_PENDING_SEL,
  OFF_UPCALL_MASK,
  OFF_UPCALL_PENDING,
  SHADOW_OPS,
  SHUTDOWN_REASONS,
  VCPU_INFO_SIZE,
  VIRQ,
  virqIsGlobal,
  XEN_LEGACY_MAX_VCPUS,
  XenErrno,
  XENSTORE_ABS_PATH_MAX,
  XENSTORE_PAYLOAD_MAX,
  XENSTORE_REL_PATH_MAX,
} from "../hypervisor/mod.ts";

const INSTALL = "libxen-dev";

// The C tests below skip without a compiler; these are the same values, copied from Debian's
// libxen-dev 4.17 headers (/usr/include/xen/...) with their lines, so the suite checks them
// without one.
Deno.test("hypervisor ABI: the model's Xen constants hold the 4.17 public headers' values (no C compiler needed)", () => {
  // xen/errno.h, XEN_ERRNO(name, value), lines 62-116.
  assert.deepEqual({ ...XenErrno }, {
    EPERM: 1, // :62
    ENOENT: 2, // :63
    ESRCH: 3, // :64
    EIO: 5, // :68
    ENXIO: 6, // :69
    E2BIG: 7, // :70
    EBADF: 9, // :72
    EAGAIN: 11, // :74
    ENOMEM: 12, // :76
    EACCES: 13, // :77
    EFAULT: 14, // :78
    EBUSY: 16, // :79
    EEXIST: 17, // :80
    ENODEV: 19, // :82
    EINVAL: 22, // :85
    ENOSPC: 28, // :88
    ERANGE: 34, // :92
    ENOSYS: 38, // :97
    EOVERFLOW: 75, // :102
    EOPNOTSUPP: 95, // :109
    EADDRINUSE: 98, // :110
    EADDRNOTAVAIL: 99, // :111
    EISCONN: 106, // :113
    ENOTCONN: 107, // :114
    ETIMEDOUT: 110, // :115
    ECONNREFUSED: 111, // :116
  });
  // xen/grant_table.h: GNTST_* lines 626-639.
  assert.deepEqual({ ...GNTST }, {
    okay: 0,
    general_error: -1,
    bad_domain: -2,
    bad_gntref: -3,
    bad_handle: -4,
    bad_virt_addr: -5,
    bad_dev_addr: -6,
    no_device_space: -7,
    permission_denied: -8,
    bad_page: -9,
    bad_copy_arg: -10,
    address_too_big: -11,
    eagain: -12,
    no_space: -13,
  });
  // xen/grant_table.h: GTF_* lines 146-177, GNTCOPY_* 438-441, GNTTAB_NR_RESERVED_ENTRIES 133.
  assert.deepEqual(
    [GTF_invalid, GTF_permit_access, GTF_accept_transfer, GTF_transitive, GTF_type_mask],
    [0, 1, 2, 3, 3],
  );
  assert.deepEqual([GTF_readonly, GTF_reading, GTF_writing, GTF_sub_page], [4, 8, 16, 256]);
  assert.deepEqual([GNTCOPY_source_gref, GNTCOPY_dest_gref, GNTTAB_NR_RESERVED_ENTRIES], [1, 2, 8]);
  // sizeof(grant_entry_v1_t), sizeof(gnttab_copy_t) on x86-64 (gcc against those headers).
  assert.deepEqual([GRANT_ENTRY_V1_SIZE, GNTTAB_COPY_SIZE], [8, 40]);
  // xen/xen.h: DOMID_FIRST_RESERVED :562, DOMID_SELF :565, VIRQ_* :164-186, NR_VIRQS :189;
  // xen/arch-x86/xen.h: XEN_LEGACY_MAX_VCPUS :100.
  assert.deepEqual([DOMID_FIRST_RESERVED, DOMID_SELF], [0x7ff0, 0x7ff0]);
  assert.deepEqual({ ...VIRQ }, {
    TIMER: 0,
    DEBUG: 1,
    CONSOLE: 2,
    DOM_EXC: 3,
    TBUF: 4,
    DEBUGGER: 6,
    XENOPROF: 7,
    CON_RING: 8,
    PCPU_STATE: 9,
    MEM_EVENT: 10,
    ARGO: 11,
    ENOMEM: 12,
    XENPMU: 13,
    ARCH_0: 16,
    ARCH_1: 17,
    ARCH_2: 18,
    ARCH_3: 19,
    ARCH_4: 20,
    ARCH_5: 21,
    ARCH_6: 22,
    ARCH_7: 23,
  });
  assert.deepEqual([NR_VIRQS, XEN_LEGACY_MAX_VCPUS], [24, 32]);
  // struct shared_info / vcpu_info offsets on x86-64 (gcc against xen/xen.h): vcpu_info 64 bytes,
  // evtchn_upcall_mask at 1, evtchn_pending_sel at 8; evtchn_pending at 2048, evtchn_mask at 2560.
  assert.deepEqual(
    [VCPU_INFO_SIZE, OFF_UPCALL_PENDING, OFF_UPCALL_MASK, OFF_PENDING_SEL],
    [64, 0, 1, 8],
  );
  assert.deepEqual([OFF_EVTCHN_PENDING, OFF_EVTCHN_MASK, NR_EVENT_CHANNELS], [2048, 2560, 4096]);
  // xen/sched.h: SHUTDOWN_poweroff .. SHUTDOWN_soft_reset, lines 158-171 (SHUTDOWN_MAX 5, :172).
  assert.deepEqual(
    [...SHUTDOWN_REASONS],
    ["poweroff", "reboot", "suspend", "crash", "watchdog", "soft_reset"],
  );
  // xen/io/xs_wire.h: XENSTORE_PAYLOAD_MAX :116, XENSTORE_ABS_PATH_MAX :119, _REL_PATH_MAX :120.
  assert.deepEqual(
    [XENSTORE_PAYLOAD_MAX, XENSTORE_ABS_PATH_MAX, XENSTORE_REL_PATH_MAX],
    [4096, 3072, 2048],
  );
});

/** `name value` lines into a map. */
function table(out: string): Map<string, number> {
  return new Map(
    out.trim().split("\n").map((l) => {
      const [k, v] = l.split(" ");
      return [k, Number(v)];
    }),
  );
}

/** Every errno xen/errno.h gives guests, expanded through its own XEN_ERRNO X-macro. */
const ERRNO_PROG = `
#include <stdio.h>
int main(void) {
#define XEN_ERRNO(name, value) printf("%s %d\\n", #name, value);
#include <xen/errno.h>
  return 0;
}`;

await cTest(
  "hypervisor ABI: XenErrno holds xen/errno.h's names with its values, nothing Xen lacks",
  { headers: ["xen/errno.h"], install: INSTALL },
  async (c) => {
    const xen = table(await c.run(ERRNO_PROG));
    assert.ok(xen.size > 40, "the X-macro expanded the list");
    assert.equal(xen.has("EINTR"), false, "internal to Xen: not in a guest's list");
    for (const [name, value] of Object.entries(XenErrno)) {
      assert.equal(xen.get(name), value, `XEN_${name}`);
    }
  },
);

await cTest(
  "hypervisor ABI: a hostile guest's and dom0's raw hypercalls return 0 or -errno of xen/errno.h",
  { headers: ["xen/errno.h"], install: INSTALL },
  async (c) => {
    const xenValues = new Set(table(await c.run(ERRNO_PROG)).values());
    const engine = new Engine();
    const hv = new Hypervisor(engine, new MachineMemory(256 << 20), PCIX_SDR_2006, new Prng(3));
    const garbage: unknown[] = [
      undefined,
      null,
      "args",
      [],
      {},
      { domid: 0x7ff5, dom: -1, remoteDom: 1e9, port: 4096, ref: -1, handle: "x", pirq: 9999 },
      { domid: DOMID_SELF, dom: DOMID_SELF, remoteDom: DOMID_SELF, port: 0, ref: 0, handle: 0 },
      { domid: 1, dom: 1, remoteDom: 0, port: 1, ref: 8, handle: 1 << 30, ops: [{}, null, 7] },
      { handles: [0, -1, "x"], ops: new Array(5000).fill({}) },
      { domid: 1, op: "peek", mfn: -1, add: "yes", reason: "reboot", memoryBytes: -5 },
    ];
    const seen = new Map<number, string>();
    await engine.run(async () => {
      const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 16 << 20 });
      for (const caller of [vm, hv.dom0, 77]) {
        for (const name of [...HYPERCALLS, "no_such_op", "__proto__"]) {
          for (const args of garbage) {
            if (caller === hv.dom0 && /destroy|shutdown|pause/.test(name)) continue; // keep vm alive
            const r = await hv.hypercall(caller, name, args);
            if (r.rc === 0) continue;
            assert.ok(
              xenValues.has(-r.rc),
              `${name}(${JSON.stringify(args)}) returned ${r.rc}: not a xen/errno.h value`,
            );
            seen.set(-r.rc, name);
          }
        }
      }
    });
    // Not vacuous: the usual refusals all occurred.
    for (const e of [XenErrno.EPERM, XenErrno.ESRCH, XenErrno.EINVAL, XenErrno.EFAULT]) {
      assert.ok(seen.has(e), `no call returned -${e}`);
    }
    assert.equal(hv.counters().faults, 0, "no hostile argument reached a bug in the model");
  },
);

await cTest(
  "hypervisor ABI: reserved domids and event-channel constants equal xen/xen.h's on x86-64",
  { headers: ["xen/xen.h", "xen/event_channel.h"], install: INSTALL },
  async (c) => {
    const out = table(
      await c.run(`
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/event_channel.h>
int main(void) {
  printf("DOMID_SELF %d\\n", DOMID_SELF);
  printf("DOMID_FIRST_RESERVED %d\\n", DOMID_FIRST_RESERVED);
  printf("NR_EVENT_CHANNELS %zu\\n", (size_t)NR_EVENT_CHANNELS);
  printf("XEN_LEGACY_MAX_VCPUS %d\\n", XEN_LEGACY_MAX_VCPUS);
  printf("vcpu_info %zu\\n", sizeof(struct vcpu_info));
  printf("evtchn_upcall_mask %zu\\n", offsetof(struct vcpu_info, evtchn_upcall_mask));
  printf("vcpu_info_slots %zu\\n",
         sizeof(((struct shared_info *)0)->vcpu_info) / sizeof(struct vcpu_info));
  printf("evtchn_port_t %zu\\n", sizeof(evtchn_port_t));
  printf("evtchn_pending %zu\\n", offsetof(struct shared_info, evtchn_pending));
  printf("evtchn_pending_bytes %zu\\n", sizeof(((struct shared_info *)0)->evtchn_pending));
  printf("evtchn_mask %zu\\n", offsetof(struct shared_info, evtchn_mask));
  printf("evtchn_mask_bytes %zu\\n", sizeof(((struct shared_info *)0)->evtchn_mask));
  printf("evtchn_upcall_pending %zu\\n", offsetof(struct vcpu_info, evtchn_upcall_pending));
  printf("evtchn_pending_sel %zu\\n", offsetof(struct vcpu_info, evtchn_pending_sel));
  printf("evtchn_pending_words %zu\\n",
         sizeof(((struct shared_info *)0)->evtchn_pending) / sizeof(xen_ulong_t));
  printf("evtchn_pending_sel_bits %zu\\n", 8 * sizeof(((struct vcpu_info *)0)->evtchn_pending_sel));
  return 0;
}`),
    );
    assert.deepEqual(Object.fromEntries(out), {
      DOMID_SELF,
      DOMID_FIRST_RESERVED,
      NR_EVENT_CHANNELS,
      XEN_LEGACY_MAX_VCPUS,
      vcpu_info: VCPU_INFO_SIZE,
      evtchn_upcall_mask: OFF_UPCALL_MASK,
      vcpu_info_slots: XEN_LEGACY_MAX_VCPUS,
      evtchn_port_t: 4, // ports up to 2^32 - 1: the model's NR_EVENT_CHANNELS fits
      // The 2-level bitmaps: a bit a port, and a selector bit a 64-bit word of them.
      evtchn_pending: OFF_EVTCHN_PENDING,
      evtchn_pending_bytes: NR_EVENT_CHANNELS / 8,
      evtchn_mask: OFF_EVTCHN_MASK,
      evtchn_mask_bytes: NR_EVENT_CHANNELS / 8,
      evtchn_upcall_pending: OFF_UPCALL_PENDING,
      evtchn_pending_sel: OFF_PENDING_SEL,
      evtchn_pending_words: NR_EVENT_CHANNELS / 64, // each selected by a bit of the selector
      evtchn_pending_sel_bits: NR_EVENT_CHANNELS / 64,
    });
  },
);

/** Every state `EVTCHNOP_status` reports. */
const STATES = [
  "closed",
  "unbound",
  "interdomain",
  "pirq",
  "virq",
  "ipi",
] as const satisfies readonly EvtchnState[];

/** Each dispatcher name's hypercall and sub-op, as the headers spell them. */
const MACROS: Record<string, [string, string]> = {
  domctl: ["__HYPERVISOR_domctl", "XEN_DOMCTL_"],
  sched_op: ["__HYPERVISOR_sched_op", "SCHEDOP_"],
  grant_table_op: ["__HYPERVISOR_grant_table_op", "GNTTABOP_"],
  event_channel_op: ["__HYPERVISOR_event_channel_op", "EVTCHNOP_"],
  memory_op: ["__HYPERVISOR_memory_op", "XENMEM_"],
  xen_version: ["__HYPERVISOR_xen_version", "XENVER_"],
};

await cTest(
  "hypervisor ABI: every hypercall name is a real Xen hypercall and sub-op",
  // domctl.h is a tools-only header: probed through the program, built with __XEN_TOOLS__.
  { headers: ["xen/xen.h", "xen/sched.h", "xen/memory.h", "xen/version.h"], install: INSTALL },
  async (c) => {
    const lines = HYPERCALLS.map((name) => {
      const [call, sub] = name.split(":");
      const [hyp, prefix] = MACROS[call];
      assert.ok(hyp, `no Xen hypercall for ${name}`);
      return `  printf("${name} %d %d\\n", ${hyp}, ${prefix}${sub});`;
    });
    // A name the headers lack fails to compile, naming the macro.
    const out = await c.run(
      `
#include <stdio.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/domctl.h>
#include <xen/sched.h>
#include <xen/grant_table.h>
#include <xen/event_channel.h>
#include <xen/memory.h>
#include <xen/version.h>
int main(void) {
${lines.join("\n")}
  printf("evtchnstat${STATES.map(() => " %d").join("")}\\n", ${
        STATES.map((s) => `EVTCHNSTAT_${s}`).join(", ")
      });
  return 0;
}`,
      { cflags: ["-D__XEN_TOOLS__"] },
    );
    const got = out.trim().split("\n");
    assert.equal(got.length, HYPERCALLS.length + 1);
    // Spot checks of the numbers a guest would load into the hypercall registers.
    assert.ok(got.includes("grant_table_op:map_grant_ref 20 0"));
    assert.ok(got.includes("grant_table_op:copy 20 5"));
    assert.ok(got.includes("event_channel_op:send 32 4"));
    assert.ok(got.includes("memory_op:current_reservation 12 3"));
    assert.ok(got.includes("sched_op:shutdown 29 2"));
    assert.ok(got.includes("event_channel_op:bind_vcpu 32 8"));
    assert.ok(got.includes("event_channel_op:reset 32 10"));
    assert.ok(got.includes("event_channel_op:bind_virq 32 1"));
    assert.ok(got.includes("event_channel_op:bind_ipi 32 7"));
    assert.ok(got.includes("xen_version:version 17 0"));
    // EVTCHNOP_status's states are EVTCHNSTAT_* names, in the header's order.
    assert.ok(got.includes(`evtchnstat ${STATES.map((_, i) => i).join(" ")}`));
  },
);

await cTest(
  "hypervisor ABI: SCHEDOP_shutdown takes every SHUTDOWN_* of xen/sched.h, by name or value, and keeps it as the shutdown code",
  { headers: ["xen/xen.h", "xen/sched.h"], install: INSTALL },
  async (c) => {
    const names = SHUTDOWN_REASONS.map((r) => `SHUTDOWN_${r}`);
    const out = table(
      await c.run(`
#include <stdio.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/sched.h>
int main(void) {
${names.map((n) => `  printf("${n} %d\\n", ${n});`).join("\n")}
  printf("SHUTDOWN_MAX %d\\n", SHUTDOWN_MAX);
  return 0;
}`),
    );
    // The model's list is the header's, in value order, and nothing is missing at the end.
    for (const [i, n] of names.entries()) assert.equal(out.get(n), i, n);
    assert.equal(out.get("SHUTDOWN_MAX"), SHUTDOWN_REASONS.length - 1);

    // domain_shutdown() takes any reason; the domain keeps it (d->shutdown_code).
    const engine = new Engine();
    const hv = new Hypervisor(engine, new MachineMemory(256 << 20), PCIX_SDR_2006, new Prng(4), {
      autoDestroy: false,
    });
    await engine.run(async () => {
      for (const [value, reason] of SHUTDOWN_REASONS.entries()) {
        for (const how of ["self-by-value", "self-by-name", "remote-by-value"]) {
          const vm = await hv.createDomain(hv.dom0, {
            name: `${reason}-${how}`,
            memoryBytes: 1 << 20,
          });
          const arg = how.endsWith("value") ? value : reason;
          const r = how.startsWith("self")
            ? await hv.hypercall(vm, "sched_op:shutdown", { reason: arg })
            : await hv.hypercall(hv.dom0, "sched_op:remote_shutdown", {
              domid: vm.domid,
              reason: arg,
            });
          assert.equal(r.rc, 0, `${reason} ${how}: ${r.error}`);
          assert.equal(vm.shutdownCode, reason, `${reason} ${how}`);
          const want = reason === "crash"
            ? "crashed"
            : reason === "suspend"
            ? "running"
            : "shutdown";
          assert.equal(vm.state, want, `${reason} ${how}`);
          assert.equal(vm.suspended, reason === "suspend");
          // A second shutdown keeps the first code, as domain_shutdown() does.
          await hv.hypercall(hv.dom0, "sched_op:remote_shutdown", { domid: vm.domid, reason: 0 });
          assert.equal(vm.shutdownCode, reason);
          await hv.destroyDomain(hv.dom0, vm.domid);
        }
      }
    });
  },
);

await cTest(
  "hypervisor ABI: VIRQ holds xen/xen.h's VIRQ_* with their values, NR_VIRQS, and x86's VIRQ_MCA as ARCH_0",
  { headers: ["xen/xen.h", "xen/arch-x86/xen-mca.h"], install: INSTALL },
  async (c) => {
    const names = Object.keys(VIRQ);
    const out = table(
      await c.run(`
#include <stdio.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/arch-x86/xen-mca.h>
int main(void) {
${names.map((n) => `  printf("${n} %d\\n", VIRQ_${n});`).join("\n")}
  printf("NR_VIRQS %d\\n", NR_VIRQS);
  printf("MCA %d\\n", VIRQ_MCA);
  return 0;
}`),
    );
    // A name the header lacks fails to compile; each value is the header's.
    for (const n of names) assert.equal(out.get(n), VIRQ[n as keyof typeof VIRQ], `VIRQ_${n}`);
    assert.equal(out.get("NR_VIRQS"), NR_VIRQS);
    assert.equal(out.get("MCA"), VIRQ.ARCH_0);
    // xen.h marks each VIRQ "V." (per-vCPU) or "G." (global); the model's split is the same.
    // (The marks are comments, which the compiler drops: read from where Debian installs them.)
    const header = await Deno.readTextFile("/usr/include/xen/xen.h");
    for (const m of header.matchAll(/#define VIRQ_(\w+)\s+(\d+)\s*\/\*\s*([VG])\./g)) {
      assert.equal(virqIsGlobal(Number(m[2])), m[3] === "G", `VIRQ_${m[1]}`);
    }
    assert.ok([...header.matchAll(/#define VIRQ_\w+\s+\d+\s*\/\*\s*[VG]\./g)].length >= 13);
  },
);

await cTest(
  "hypervisor ABI: domctl:shadow_op's operations are XEN_DOMCTL_SHADOW_OP_*'s",
  // domctl.h is a tools-only header: probed through the program, built with __XEN_TOOLS__.
  { headers: ["xen/xen.h"], install: INSTALL },
  async (c) => {
    const out = table(
      await c.run(
        `
#include <stdio.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/domctl.h>
int main(void) {
${
          SHADOW_OPS.map((op) =>
            `  printf("${op} %d\\n", XEN_DOMCTL_SHADOW_OP_${op.toUpperCase()});`
          ).join("\n")
        }
  return 0;
}`,
        { cflags: ["-D__XEN_TOOLS__"] },
      ),
    );
    // A name the header lacks fails to compile; the values are the header's own.
    assert.deepEqual(Object.fromEntries(out), { enable_logdirty: 2, clean: 11, peek: 12, off: 0 });
  },
);

/**
 * Each hypercall's argument-block fields (and result fields) and the member of the header's
 * argument struct each stands for: `a` is the struct, declared in the C program as its type.
 */
const ARG_STRUCTS: Partial<
  Record<HypercallName, { type: string; fields: Record<string, string> }>
> = {
  "event_channel_op:alloc_unbound": {
    type: "struct evtchn_alloc_unbound",
    fields: { dom: "a.dom", remoteDom: "a.remote_dom", "=port": "a.port" },
  },
  "event_channel_op:bind_interdomain": {
    type: "struct evtchn_bind_interdomain",
    fields: { remoteDom: "a.remote_dom", remotePort: "a.remote_port", "=port": "a.local_port" },
  },
  "event_channel_op:bind_pirq": {
    type: "struct evtchn_bind_pirq",
    fields: { pirq: "a.pirq", "=port": "a.port" },
  },
  "event_channel_op:bind_virq": {
    type: "struct evtchn_bind_virq",
    fields: { virq: "a.virq", vcpu: "a.vcpu", "=port": "a.port" },
  },
  "event_channel_op:bind_ipi": {
    type: "struct evtchn_bind_ipi",
    fields: { vcpu: "a.vcpu", "=port": "a.port" },
  },
  "event_channel_op:send": { type: "struct evtchn_send", fields: { port: "a.port" } },
  "event_channel_op:close": { type: "struct evtchn_close", fields: { port: "a.port" } },
  "event_channel_op:unmask": { type: "struct evtchn_unmask", fields: { port: "a.port" } },
  "event_channel_op:status": {
    type: "struct evtchn_status",
    fields: {
      dom: "a.dom",
      port: "a.port",
      "=state": "a.status",
      "=vcpu": "a.vcpu",
      "=remoteDomid": "a.u.unbound.dom",
      "=remotePort": "a.u.interdomain.port",
      "=pirq": "a.u.pirq",
      "=virq": "a.u.virq",
    },
  },
  "event_channel_op:bind_vcpu": {
    type: "struct evtchn_bind_vcpu",
    fields: { port: "a.port", vcpu: "a.vcpu" },
  },
  "event_channel_op:reset": { type: "struct evtchn_reset", fields: { dom: "a.dom" } },
  "grant_table_op:map_grant_ref": {
    type: "struct gnttab_map_grant_ref",
    fields: {
      domid: "a.dom",
      ref: "a.ref",
      readonly: "a.flags", // GNTMAP_readonly
      flags: "a.flags", // GNTMAP_*
      "=handle": "a.handle",
      "=status": "a.status",
    },
  },
  "grant_table_op:unmap_grant_ref": {
    type: "struct gnttab_unmap_grant_ref",
    fields: { handle: "a.handle", "=status": "a.status" },
  },
  "grant_table_op:query_size": {
    type: "struct gnttab_query_size",
    fields: {
      domid: "a.dom",
      "=nrFrames": "a.nr_frames",
      "=maxNrFrames": "a.max_nr_frames",
      "=status": "a.status",
    },
  },
  "sched_op:shutdown": { type: "struct sched_shutdown", fields: { reason: "a.reason" } },
  "sched_op:remote_shutdown": {
    type: "struct sched_remote_shutdown",
    fields: { domid: "a.domain_id", reason: "a.reason" },
  },
  "memory_op:current_reservation": { type: "domid_t", fields: { domid: "a" } },
};

/**
 * What Xen 4.17 answers for the largest value C can pass in a field (else -EINVAL): a reserved
 * domid names no domain (ESRCH; `alloc_unbound` does not look its remote domid up); a vCPU the
 * domain lacks is ENOENT, but a global VIRQ on a vCPU other than 0 EINVAL first; a shutdown
 * reason is cast to `u8` and kept; `query_size` reports in its status.
 */
const AT_MAX: Record<string, string> = {
  "event_channel_op:alloc_unbound dom": "-ESRCH",
  "event_channel_op:alloc_unbound remoteDom": "0",
  "event_channel_op:bind_interdomain remoteDom": "-ESRCH",
  "event_channel_op:bind_ipi vcpu": "-ENOENT",
  "event_channel_op:bind_vcpu vcpu": "-ENOENT",
  "event_channel_op:status dom": "-ESRCH",
  "event_channel_op:reset dom": "-ESRCH",
  "grant_table_op:map_grant_ref domid": "-ESRCH",
  // Every GNTMAP_* bit: a host map, so the op gets as far as the entry (ref 8 granted nothing).
  "grant_table_op:map_grant_ref flags": "-EINVAL",
  "grant_table_op:query_size domid": "status -2",
  "sched_op:shutdown reason": "0",
  "sched_op:remote_shutdown domid": "-ESRCH",
  "sched_op:remote_shutdown reason": "0",
  "memory_op:current_reservation domid": "-ESRCH",
};

await cTest(
  "hypervisor ABI: each argument and result field of the modelled hypercalls is a member of the header's struct, of the width the model takes",
  { headers: ["xen/xen.h", "xen/sched.h", "xen/memory.h"], install: INSTALL },
  async (c) => {
    const entries = Object.entries(ARG_STRUCTS);
    const prints = entries.flatMap(([name, { type, fields }]) =>
      Object.entries(fields).map(([f, expr]) =>
        `  { ${type} a; memset(&a, 0, sizeof a); ` +
        `printf("${name} ${f} %zu %d\\n", sizeof(${expr}), (int)((__typeof__(${expr}))-1 < 0)); }`
      )
    );
    const out = await c.run(
      `
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/sched.h>
#include <xen/grant_table.h>
#include <xen/event_channel.h>
#include <xen/memory.h>
int main(void) {
${prints.join("\n")}
  printf("GNTMAP %d %d\\n", GNTMAP_host_map, GNTMAP_readonly);
  return 0;
}`,
      { cflags: ["-Wno-type-limits"] },
    );
    const widths = new Map<string, [number, boolean]>();
    for (const l of out.trim().split("\n")) {
      const [call, field, size, signed] = l.split(" ");
      widths.set(`${call} ${field}`, [Number(size), signed === "1"]);
    }
    // The widths the model's argument checks and results assume (docs/architecture.md, "Return
    // values"): domid_t 16 bits, ports, refs, handles, vCPUs, VIRQs and PIRQs 32, GNTST_* a
    // signed 16-bit status, EVTCHNOP_status's state a 32-bit EVTCHNSTAT_*.
    const want = (f: string): [number, boolean] => {
      if (/^(dom|domid|remoteDom|=remoteDomid)$/.test(f)) return [2, false];
      if (f === "=status") return [2, true];
      if (f === "readonly") return [4, false]; // the GNTMAP_* flags word
      return [4, false];
    };
    for (const [name, { fields }] of entries) {
      for (const f of Object.keys(fields)) {
        const got = widths.get(`${name} ${f}`);
        assert.ok(got, `${name} ${f}: not printed`);
        assert.deepEqual(got, want(f), `${name} ${f}`);
      }
    }
    assert.match(out, /^GNTMAP 2 4$/m);

    // The model refuses, naming it, a value one past what the C field holds (what a C caller
    // cannot pass), in each argument field, with every other field valid; and answers the
    // largest value C can pass as Xen does (AT_MAX).
    const engine = new Engine();
    const hv = new Hypervisor(engine, new MachineMemory(256 << 20), PCIX_SDR_2006, new Prng(5), {
      autoDestroy: false,
    });
    await engine.run(async () => {
      const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 16 << 20 });
      const base: Partial<Record<HypercallName, Record<string, unknown>>> = {
        "event_channel_op:alloc_unbound": { dom: DOMID_SELF, remoteDom: vm.domid },
        "event_channel_op:bind_interdomain": { remoteDom: vm.domid, remotePort: 1 },
        "event_channel_op:bind_pirq": { pirq: 1 },
        "event_channel_op:bind_virq": { virq: VIRQ.DOM_EXC, vcpu: 0 },
        "event_channel_op:bind_ipi": { vcpu: 0 },
        "event_channel_op:send": { port: 1 },
        "event_channel_op:close": { port: 1 },
        "event_channel_op:unmask": { port: 1 },
        "event_channel_op:status": { dom: DOMID_SELF, port: 1 },
        "event_channel_op:bind_vcpu": { port: 1, vcpu: 0 },
        "event_channel_op:reset": { dom: vm.domid },
        "grant_table_op:map_grant_ref": { domid: vm.domid, ref: 8 },
        "grant_table_op:unmap_grant_ref": { handle: 0 },
        "grant_table_op:query_size": { domid: vm.domid },
        "sched_op:shutdown": { reason: 0 },
        "sched_op:remote_shutdown": { domid: vm.domid, reason: 0 },
        "memory_op:current_reservation": { domid: vm.domid },
      };
      let checked = 0;
      for (const [name, { fields }] of entries) {
        for (const f of Object.keys(fields)) {
          if (f.startsWith("=") || f === "readonly") continue; // results; a boolean in the model
          const tooBig = 2 ** (8 * widths.get(`${name} ${f}`)![0]);
          const caller = name === "sched_op:shutdown" ? vm : hv.dom0;
          const name_ = name as HypercallName;
          const r = await hv.hypercall(caller, name_, { ...base[name_], [f]: tooBig });
          const v = r.value as { status?: number; error?: string } | undefined;
          const refused = r.rc === -XenErrno.EINVAL ? r.error : v?.error;
          assert.ok(
            refused?.includes(String(tooBig)),
            `${name} ${f}=${tooBig}: ${JSON.stringify(r)}`,
          );
          checked++;
          // The largest value C can pass gets what Xen 4.17 answers for it.
          const r2 = await hv.hypercall(caller, name_, { ...base[name_], [f]: tooBig - 1 });
          const v2 = r2.value as { status?: number } | undefined;
          const got = r2.rc !== 0
            ? `-${Object.entries(XenErrno).find(([, e]) => e === -r2.rc)?.[0]}`
            : v2?.status !== undefined && v2.status !== 0
            ? `status ${v2.status}`
            : "0";
          assert.equal(got, AT_MAX[`${name} ${f}`] ?? "-EINVAL", `${name} ${f}=${tooBig - 1}`);
        }
      }
      assert.equal(checked, 25);
    });
  },
);

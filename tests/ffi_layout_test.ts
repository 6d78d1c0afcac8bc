/**
 * The FFI binding's struct layouts and header constants, and the enum values
 * of drivers/uapi/enums.ts and hca/rate.ts, against the real `infiniband/verbs.h`: a C
 * program generated from the TypeScript tables prints `sizeof`/`offsetof`
 * (and signedness) of every struct and member the binding touches, and the values of every
 * constant, and the C type of every function it calls; the test compares. Needs `cc` and libibverbs-dev: skipped with a
 * message when either is missing, except with CI=true, where that fails.
 */
import assert from "node:assert/strict";
import {
  HEADER_CONSTANTS,
  IBV_SYMBOLS,
  LAYOUTS,
  POLL_CQ_FN,
  POST_FN,
  QUERY_PORT_FN,
  REQ_NOTIFY_CQ_FN,
} from "../hca/ffi/mod.ts";
import * as Tables from "../hca/ffi/layouts.ts";
import * as E from "../drivers/uapi/enums.ts";
import { IBV_RATE_GBPS } from "../hca/rate.ts";

const CI = Deno.env.get("CI") === "true";

async function run(cmd: string, args: string[], stdin?: string) {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** What is missing to build against verbs.h, or null. */
async function missingPrerequisite(): Promise<string | null> {
  try {
    await run("cc", ["--version"]);
  } catch {
    return "cc (a C compiler; Debian: apt-get install gcc libc6-dev)";
  }
  const pre = await run(
    "cc",
    ["-E", "-x", "c", "-o", "/dev/null", "-"],
    [
      "#include <infiniband/verbs.h>",
      "",
    ].join("\n"),
  );
  if (pre.code !== 0) {
    return "infiniband/verbs.h (Debian: apt-get install libibverbs-dev): " +
      pre.stderr.split("\n")[0];
  }
  return null;
}

const missing = await missingPrerequisite();
if (missing && !CI) console.log(`ffi_layout_test: skipping header checks, missing ${missing}`);

/** TS enum object → prefix of its C names in verbs.h. */
const ENUMS: [Record<string, number>, string][] = [
  [E.Access, "IBV_ACCESS_"],
  [E.QpType, "IBV_QPT_"],
  [E.QpState, "IBV_QPS_"],
  [E.WrOpcode, "IBV_WR_"],
  [E.SendFlags, "IBV_SEND_"],
  [E.WcStatus, "IBV_WC_"],
  [E.WcOpcode, "IBV_WC_"],
  [E.WcFlags, "IBV_WC_"],
  [E.PortState, "IBV_PORT_"],
  [E.Mtu, "IBV_"],
  [E.EventType, "IBV_EVENT_"],
  [E.QpAttrMask, "IBV_QP_"],
  [E.ReregMrFlags, "IBV_REREG_MR_"],
  // hca/rate.ts: `enum ibv_rate` value → Gb/s, named IBV_RATE_<Gb/s>_GBPS (2.5 is 2_5).
  [
    Object.fromEntries(
      Object.entries(IBV_RATE_GBPS).map(([v, g]) => [`${String(g).replace(".", "_")}_GBPS`, +v]),
    ),
    "IBV_RATE_",
  ],
];

/**
 * The C type of every function the binding calls, as the installed headers declare it: the
 * compiler checks each against the header (`__builtin_types_compatible_p` of the symbol's type,
 * or the function-pointer member's; a function-like macro such as `ibv_query_port` or `ibv_reg_mr`
 * is not expanded without its argument list, so the name is the exported symbol itself), and the
 * test derives the Deno FFI types from it.
 */
const PROTOTYPES: Record<string, { c: string; deno: Deno.ForeignFunction }> = {
  ...Object.fromEntries(
    Object.entries({
      ibv_get_device_list: "struct ibv_device **(int *)",
      ibv_free_device_list: "void (struct ibv_device **)",
      ibv_get_device_name: "const char *(struct ibv_device *)",
      ibv_open_device: "struct ibv_context *(struct ibv_device *)",
      ibv_close_device: "int (struct ibv_context *)",
      ibv_query_device: "int (struct ibv_context *, struct ibv_device_attr *)",
      ibv_query_port: "int (struct ibv_context *, uint8_t, struct _compat_ibv_port_attr *)",
      ibv_query_gid: "int (struct ibv_context *, uint8_t, int, union ibv_gid *)",
      ibv_query_pkey: "int (struct ibv_context *, uint8_t, int, __be16 *)",
      ibv_alloc_pd: "struct ibv_pd *(struct ibv_context *)",
      ibv_dealloc_pd: "int (struct ibv_pd *)",
      ibv_reg_mr: "struct ibv_mr *(struct ibv_pd *, void *, size_t, int)",
      ibv_reg_mr_iova2: "struct ibv_mr *(struct ibv_pd *, void *, size_t, uint64_t, unsigned int)",
      ibv_dereg_mr: "int (struct ibv_mr *)",
      ibv_create_comp_channel: "struct ibv_comp_channel *(struct ibv_context *)",
      ibv_destroy_comp_channel: "int (struct ibv_comp_channel *)",
      ibv_create_cq:
        "struct ibv_cq *(struct ibv_context *, int, void *, struct ibv_comp_channel *, int)",
      ibv_destroy_cq: "int (struct ibv_cq *)",
      ibv_get_cq_event: "int (struct ibv_comp_channel *, struct ibv_cq **, void **)",
      ibv_ack_cq_events: "void (struct ibv_cq *, unsigned int)",
      ibv_get_async_event: "int (struct ibv_context *, struct ibv_async_event *)",
      ibv_ack_async_event: "void (struct ibv_async_event *)",
      ibv_create_qp: "struct ibv_qp *(struct ibv_pd *, struct ibv_qp_init_attr *)",
      ibv_modify_qp: "int (struct ibv_qp *, struct ibv_qp_attr *, int)",
      ibv_query_qp: "int (struct ibv_qp *, struct ibv_qp_attr *, int, struct ibv_qp_init_attr *)",
      ibv_destroy_qp: "int (struct ibv_qp *)",
      ibv_attach_mcast: "int (struct ibv_qp *, const union ibv_gid *, uint16_t)",
      ibv_detach_mcast: "int (struct ibv_qp *, const union ibv_gid *, uint16_t)",
      ibv_create_ah: "struct ibv_ah *(struct ibv_pd *, struct ibv_ah_attr *)",
      ibv_init_ah_from_wc:
        "int (struct ibv_context *, uint8_t, struct ibv_wc *, struct ibv_grh *, struct ibv_ah_attr *)",
      ibv_destroy_ah: "int (struct ibv_ah *)",
      ibv_create_srq: "struct ibv_srq *(struct ibv_pd *, struct ibv_srq_init_attr *)",
      ibv_destroy_srq: "int (struct ibv_srq *)",
      ibv_destroy_qp_off_thread: "int (struct ibv_qp *)",
      ibv_destroy_cq_off_thread: "int (struct ibv_cq *)",
      ibv_destroy_srq_off_thread: "int (struct ibv_srq *)",
      __errno_location: "int *(void)",
      poll: "int (struct pollfd *, nfds_t, int)",
    }).map(([name, c]) => [
      name,
      { c, deno: IBV_SYMBOLS[name as keyof typeof IBV_SYMBOLS] as Deno.ForeignFunction },
    ]),
  ),
  // The static-inline verbs' targets: ibv_post_send(3) is qp->context->ops.post_send(…), etc.
  "((struct ibv_context *)0)->ops.post_send": {
    c: "int (struct ibv_qp *, struct ibv_send_wr *, struct ibv_send_wr **)",
    deno: POST_FN,
  },
  "((struct ibv_context *)0)->ops.post_recv": {
    c: "int (struct ibv_qp *, struct ibv_recv_wr *, struct ibv_recv_wr **)",
    deno: POST_FN,
  },
  "((struct ibv_context *)0)->ops.post_srq_recv": {
    c: "int (struct ibv_srq *, struct ibv_recv_wr *, struct ibv_recv_wr **)",
    deno: POST_FN,
  },
  "((struct ibv_context *)0)->ops.poll_cq": {
    c: "int (struct ibv_cq *, int, struct ibv_wc *)",
    deno: POLL_CQ_FN,
  },
  "((struct ibv_context *)0)->ops.req_notify_cq": {
    c: "int (struct ibv_cq *, int)",
    deno: REQ_NOTIFY_CQ_FN,
  },
  "((struct verbs_context *)0)->query_port": {
    c: "int (struct ibv_context *, uint8_t, struct ibv_port_attr *, size_t)",
    deno: QUERY_PORT_FN,
  },
};

/** C scalar type → Deno FFI type on x86-64 Linux (LP64); any pointer is an address. */
const SCALAR: Record<string, string> = {
  void: "void",
  int: "i32",
  "unsigned int": "u32",
  uint8_t: "u8",
  uint16_t: "u16",
  uint64_t: "u64",
  size_t: "usize",
  nfds_t: "u64", // unsigned long
};

function denoType(c: string): string {
  if (c.includes("*")) return "pointer";
  const t = SCALAR[c.trim()];
  if (t === undefined) throw new Error(`no FFI type for C type "${c}"`);
  return t;
}

/** Split "RET (ARGS)" into the Deno types it needs ("buffer" is passed as an address too). */
function denoSignature(c: string): { parameters: string[]; result: string } {
  const m = c.match(/^(.*?)\s*\((.*)\)$/);
  if (!m) throw new Error(`not a function type: ${c}`);
  const args = m[2] === "void" ? [] : m[2].split(",").map((a) => a.trim());
  return { parameters: args.map(denoType), result: denoType(m[1]) };
}

const asAddress = (t: unknown) => (t === "buffer" ? "pointer" : String(t));

/** Expected output lines, built from the TS tables; the C program prints the header's. */
function expected(): string[] {
  const lines: string[] = [];
  for (const [table, L] of Object.entries(LAYOUTS)) {
    lines.push(`${table} sizeof ${L.sizeof}`);
    for (const [f, { offset, size, signed }] of Object.entries(L.fields)) {
      lines.push(`${table} ${f} ${offset} ${size} ${signed ? "signed" : "unsigned"}`);
    }
  }
  for (const [name, v] of Object.entries(HEADER_CONSTANTS)) lines.push(`const ${name} ${v}`);
  for (const [expr, { c }] of Object.entries(PROTOTYPES)) lines.push(`sig ${expr} ${c} 1`);
  for (const [obj, prefix] of ENUMS) {
    for (const [k, v] of Object.entries(obj)) lines.push(`enum ${prefix}${k} ${v}`);
  }
  return lines;
}

function cSource(): string {
  const p: string[] = [];
  for (const [table, L] of Object.entries(LAYOUTS)) {
    p.push(`  printf("${table} sizeof %zu\\n", sizeof(${L.type}));`);
    for (const f of Object.keys(L.fields)) {
      p.push(
        `  printf("${table} ${f} %zu %zu %s\\n", offsetof(${L.type}, ${f}), ` +
          `sizeof(((${L.type} *)0)->${f}), SIGNEDNESS(((${L.type} *)0)->${f}));`,
      );
    }
  }
  for (const [expr, { c, deno }] of Object.entries(PROTOTYPES)) {
    // The function type itself (`*`): glibc's __attribute__((const)) on __errno_location
    // qualifies the pointer, not the function. A binding under another key (`name`) is checked
    // as the symbol it binds.
    const symbol = (deno as { name?: string }).name ?? expr;
    p.push(
      `  printf("sig ${expr} ${c} %d\\n", ` +
        `__builtin_types_compatible_p(__typeof__(*(${symbol})), ${c}));`,
    );
  }
  for (const name of Object.keys(HEADER_CONSTANTS)) {
    p.push(`  printf("const ${name} %llu\\n", (unsigned long long)(uintptr_t)(${name}));`);
  }
  for (const [obj, prefix] of ENUMS) {
    for (const k of Object.keys(obj)) {
      p.push(`  printf("enum ${prefix}${k} %lld\\n", (long long)(${prefix}${k}));`);
    }
  }
  return [
    "#include <stddef.h>",
    "#include <stdint.h>",
    "#include <stdio.h>",
    "#include <errno.h>",
    "#include <poll.h>",
    "#include <infiniband/verbs.h>",
    // A signed integer member; an enum (compatible with unsigned int unless it has negative
    // values), a pointer, an array or a struct is not.
    '#define SIGNEDNESS(m) _Generic((m), signed char: "signed", short: "signed", \\',
    '  int: "signed", long: "signed", long long: "signed", \\',
    '  char: ((char)-1 < 0 ? "signed" : "unsigned"), default: "unsigned")',
    "int main(void) {",
    ...p,
    "  return 0;",
    "}",
    "",
  ].join("\n");
}

let header: Promise<string[]> | undefined;

/** Compile and run the generated program once; its output lines. */
function headerFacts(): Promise<string[]> {
  header ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "xenib-ffi-layout-" });
    try {
      await Deno.writeTextFile(`${dir}/layout.c`, cSource());
      const cc = await run("cc", ["-std=gnu11", "-Wall", "-o", `${dir}/layout`, `${dir}/layout.c`]);
      assert.equal(cc.code, 0, `cc failed:\n${cc.stderr}`);
      const out = await run(`${dir}/layout`, []);
      assert.equal(out.code, 0, out.stderr);
      return out.stdout.trimEnd().split("\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  })();
  return header;
}

const onlyWith = (prefix: string, lines: string[]) => lines.filter((l) => l.startsWith(prefix));

Deno.test({
  name:
    "ffi layouts: sizeof, offsetof and signedness of every touched field match infiniband/verbs.h",
  ignore: missing !== null && !CI,
  async fn() {
    if (missing) assert.fail(`CI=true but a prerequisite is missing: ${missing}`);
    const got = (await headerFacts()).filter((l) => !/^(const|enum|sig) /.test(l));
    const want = expected().filter((l) => !/^(const|enum|sig) /.test(l));
    assert.equal(got.length, want.length, "the C program printed one line per table and field");
    assert.deepEqual(got, want);
  },
});

Deno.test({
  name: "ffi layouts: header constants, enums.ts values and the ibv_rate table equal verbs.h",
  ignore: missing !== null && !CI,
  async fn() {
    if (missing) assert.fail(`CI=true but a prerequisite is missing: ${missing}`);
    const lines = await headerFacts();
    assert.deepEqual(onlyWith("const ", lines), onlyWith("const ", expected()));
    assert.deepEqual(onlyWith("enum ", lines), onlyWith("enum ", expected()));
  },
});

Deno.test({
  name: "ffi signatures: every called function and ops pointer has the header's C type",
  ignore: missing !== null && !CI,
  async fn() {
    if (missing) assert.fail(`CI=true but a prerequisite is missing: ${missing}`);
    // 1 = the compiler finds the prototype written here compatible with the installed header's.
    assert.deepEqual(onlyWith("sig ", await headerFacts()), onlyWith("sig ", expected()));
  },
});

Deno.test("ffi signatures: the Deno FFI types are those of the C prototypes", () => {
  const exported = Object.keys(PROTOTYPES).filter((k) => !k.includes("->"));
  assert.deepEqual(
    exported.sort(),
    Object.keys(IBV_SYMBOLS).sort(),
    "every symbol has a prototype",
  );
  for (const [expr, { c, deno }] of Object.entries(PROTOTYPES)) {
    const want = denoSignature(c);
    assert.deepEqual(
      { parameters: deno.parameters.map(asAddress), result: asAddress(deno.result) },
      want,
      `${expr}: ${c}`,
    );
  }
});

Deno.test("ffi layouts: every field lies inside its struct and tables are complete", () => {
  const exported = Object.entries(Tables).filter(([, v]) =>
    typeof v === "object" && v !== null && "sizeof" in v && "fields" in v
  );
  for (const [name, v] of exported) assert.equal(LAYOUTS[name], v, `${name} missing from LAYOUTS`);
  assert.equal(exported.length, Object.keys(LAYOUTS).length);
  for (const [table, L] of Object.entries(LAYOUTS)) {
    assert.match(L.type, /^struct (ibv_\w+|verbs_context|pollfd)$/, table);
    for (const [f, { offset, size }] of Object.entries(L.fields)) {
      assert.ok(offset >= 0 && size > 0 && offset + size <= L.sizeof, `${table}.${f}`);
    }
  }
  // Nested tables embedded in others must agree with the embedding field's size.
  assert.equal(LAYOUTS.IBV_QP_ATTR.fields.ah_attr.size, LAYOUTS.IBV_AH_ATTR.sizeof);
  assert.equal(LAYOUTS.IBV_QP_ATTR.fields.cap.size, LAYOUTS.IBV_QP_CAP.sizeof);
  assert.equal(LAYOUTS.IBV_QP_INIT_ATTR.fields.cap.size, LAYOUTS.IBV_QP_CAP.sizeof);
  assert.equal(LAYOUTS.VERBS_CONTEXT.fields.context.size, LAYOUTS.IBV_CONTEXT.sizeof);
  assert.equal(
    LAYOUTS.VERBS_CONTEXT.fields.context.offset + LAYOUTS.IBV_CONTEXT.sizeof,
    LAYOUTS.VERBS_CONTEXT.sizeof,
    "ibv_context is the last member of verbs_context (container_of relies on it)",
  );
});

/**
 * The FFI binding's struct layouts and header constants, and the enum values
 * of drivers/uapi/enums.ts, against the real `infiniband/verbs.h`: a C
 * program generated from the TypeScript tables prints `sizeof`/`offsetof`
 * of every struct and member the binding touches, and the values of every
 * constant; the test compares. Needs `cc` and libibverbs-dev: skipped with a
 * message when either is missing, except with CI=true, where that fails.
 */
import assert from "node:assert/strict";
import { HEADER_CONSTANTS, LAYOUTS } from "../hca/ffi/mod.ts";
import * as Tables from "../hca/ffi/layouts.ts";
import * as E from "../drivers/uapi/enums.ts";

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
];

/** Expected output lines, built from the TS tables; the C program prints the header's. */
function expected(): string[] {
  const lines: string[] = [];
  for (const [table, L] of Object.entries(LAYOUTS)) {
    lines.push(`${table} sizeof ${L.sizeof}`);
    for (const [f, { offset, size }] of Object.entries(L.fields)) {
      lines.push(`${table} ${f} ${offset} ${size}`);
    }
  }
  for (const [name, v] of Object.entries(HEADER_CONSTANTS)) lines.push(`const ${name} ${v}`);
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
        `  printf("${table} ${f} %zu %zu\\n", offsetof(${L.type}, ${f}), ` +
          `sizeof(((${L.type} *)0)->${f}));`,
      );
    }
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
    "#include <poll.h>",
    "#include <infiniband/verbs.h>",
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
  name: "ffi layouts: sizeof and offsetof of every touched field match infiniband/verbs.h",
  ignore: missing !== null && !CI,
  async fn() {
    if (missing) assert.fail(`CI=true but a prerequisite is missing: ${missing}`);
    const got = (await headerFacts()).filter((l) => !/^(const|enum) /.test(l));
    const want = expected().filter((l) => !/^(const|enum) /.test(l));
    assert.equal(got.length, want.length, "the C program printed one line per table and field");
    assert.deepEqual(got, want);
  },
});

Deno.test({
  name: "ffi layouts: header constants and enums.ts values equal verbs.h",
  ignore: missing !== null && !CI,
  async fn() {
    if (missing) assert.fail(`CI=true but a prerequisite is missing: ${missing}`);
    const lines = await headerFacts();
    assert.deepEqual(onlyWith("const ", lines), onlyWith("const ", expected()));
    assert.deepEqual(onlyWith("enum ", lines), onlyWith("enum ", expected()));
  },
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

/**
 * docs/api.md is the public API contract, so it cannot list what mod.ts
 * does not export, it lists everything mod.ts exports, and it must carry every name the contract
 * fixes. Its
 * entries are the names in bold code (**`Name`**) and the code names in
 * `###` headings; `deno doc --json mod.ts` says what mod.ts exports (types
 * included).
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const API = "docs/api.md";

/** The names API.md fixes: clusters, hosts, domains, verbs, enums, errors, real hardware. */
const CONTRACT = [
  "Cluster",
  "Host",
  "Domain",
  "Context",
  "Pd",
  "Mr",
  "Cq",
  "CompChannel",
  "Qp",
  "Srq",
  "Ah",
  "Access",
  "QpType",
  "QpState",
  "WrOpcode",
  "SendFlags",
  "WcStatus",
  "WcOpcode",
  "PortState",
  "Mtu",
  "VerbsError",
  "XenError",
  "openRealDevice",
];

/** What the project added to the contract and the API page promises. */
const ADDED = [
  "connectQp",
  "connectPair",
  "connectAttrs",
  "XenDomain",
  "HostCounters",
  "ProfileError",
  "PROFILES",
  "resolveProfile",
  "PcapWriter",
  "decodePcap",
  "DeadlockError",
  "mpi",
  "RdmaCm",
  "EventChannel",
  "CmId",
  "RdmaCmEvent",
];

function listed(md: string): Set<string> {
  const names = new Set<string>();
  for (const line of md.split("\n")) {
    if (line.startsWith("### ")) {
      for (const m of line.matchAll(/`([A-Za-z_$][\w$]*)`/g)) names.add(m[1]);
    }
    for (const m of line.matchAll(/\*\*`([A-Za-z_$][\w$]*)`\*\*/g)) names.add(m[1]);
  }
  return names;
}

async function exported(): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", "mod.ts"],
    cwd: decodeURIComponent(root.pathname),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, `deno doc --json mod.ts failed: ${new TextDecoder().decode(out.stderr)}`);
  const doc = JSON.parse(new TextDecoder().decode(out.stdout));
  const mod = Object.entries(doc.nodes as Record<string, { symbols: { name: string }[] }>)
    .find(([url]) => url.endsWith("/mod.ts"));
  assert.ok(mod, "deno doc describes mod.ts");
  return new Set(mod[1].symbols.map((s) => s.name));
}

const names = listed(Deno.readTextFileSync(new URL(API, root)));

Deno.test("api.md lists only names mod.ts exports", async () => {
  const exports = await exported();
  assert.ok(
    names.size >= 60,
    `${names.size} entries found: is the entry format still **\`Name\`**?`,
  );
  const missing = [...names].filter((n) => !exports.has(n)).sort();
  assert.deepEqual(missing, [], `listed in ${API} but not exported by mod.ts`);
});

Deno.test("api.md lists every name mod.ts exports", async () => {
  const exports = await exported();
  const absent = [...exports].filter((n) => !names.has(n)).sort();
  assert.deepEqual(absent, [], `exported by mod.ts but not an entry of ${API}`);
});

Deno.test("api.md carries every name the contract fixes and the project added", () => {
  const absent = [...CONTRACT, ...ADDED].filter((n) => !names.has(n));
  assert.deepEqual(absent, [], `not listed as an entry in ${API}`);
});

Deno.test("deno doc --lint mod.ts is clean: every export and member documented, no private type named", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", "mod.ts"],
    cwd: decodeURIComponent(root.pathname),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(
    out.success,
    text.split("\n").filter((l) => /^error|-->/.test(l)).slice(0, 40).join("\n"),
  );
});

Deno.test("the generated reference is deno doc --html of mod.ts (deno task docs)", () => {
  const tasks = JSON.parse(Deno.readTextFileSync(new URL("deno.json", root))).tasks;
  assert.equal(tasks.docs, "mkdir -p out && deno doc --html --name=xenib --output=out/docs mod.ts");
  const ci = Deno.readTextFileSync(new URL(".ci/run", root));
  assert.match(ci, /^\$DENO task docs\b/m, ".ci/run builds the reference");
});

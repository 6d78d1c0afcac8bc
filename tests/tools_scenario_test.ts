import assert from "node:assert/strict";
import { parseScenario } from "../tools/lib/scenario.ts";
import { YamlInputError } from "../tools/lib/yaml_errors.ts";

const GOOD = `# two hosts, one guest
profile: pcix-sdr-2006
seed: 7
hosts:
  - name: node0
    hypervisor: true
  - name: node1
    hypervisor: false
guests:
  - name: vm0
    host: node0
    mode: bypass
    memoryMiB: 128
workload:
  - perftest: ib_write_lat
    between: [vm0, node1]
    sizes: [2, 64K]
    iterations: 100
  - perftest: ib_send_bw
    between: [node1, vm0]
    connection: UD
    events: true
    qps: 2
  - alltoall: [vm0, node1, node0]
    size: 4096
    iterations: 10
    opcode: RDMA_READ
`;

async function bad(text: string): Promise<YamlInputError> {
  try {
    await parseScenario(text, "s.yaml");
  } catch (e) {
    assert.ok(e instanceof YamlInputError, `expected YamlInputError, got ${e}`);
    return e;
  }
  assert.fail("expected the scenario to be rejected");
}

/** Line:col (1-based) where `needle` starts in `text` (it must occur once). */
function posOf(text: string, needle: string): string {
  assert.equal(text.split(needle).length, 2, `'${needle}' must occur once`);
  const before = text.slice(0, text.indexOf(needle)).split("\n");
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

/**
 * Replace `from` in GOOD by `to`, parse, and expect an error whose
 * file:line:col is where `at` starts in the new text and whose message
 * matches `re` (naming the key).
 */
async function expectAt(from: string, to: string, at: string, re: RegExp) {
  assert.equal(GOOD.split(from).length, 2, `'${from}' must occur once`);
  const text = GOOD.replace(from, to);
  const e = await bad(text);
  assert.equal(`${e.file}:${e.line}:${e.col}`, `s.yaml:${posOf(text, at)}`, e.message);
  assert.match(e.message, re);
}

Deno.test("scenario: a valid file resolves hosts, guests, perftest configs and all-to-all", async () => {
  const s = await parseScenario(GOOD, "s.yaml");
  assert.equal(s.seed, 7);
  assert.equal(s.profile.name, "pcix-sdr-2006");
  assert.deepEqual(s.hosts, [{ name: "node0", hypervisor: true }, {
    name: "node1",
    hypervisor: false,
  }]);
  assert.deepEqual(s.guests, [{ name: "vm0", host: "node0", mode: "bypass", memoryMiB: 128 }]);
  const [w0, w1, w2] = s.workload;
  assert.ok(w0.kind === "perftest" && w1.kind === "perftest" && w2.kind === "alltoall");
  assert.deepEqual(w0.between, ["vm0", "node1"]);
  assert.deepEqual(w0.config.sizes, [2, 65536]);
  assert.equal(w0.config.iters, 100);
  assert.equal(w0.config.seed, 7);
  assert.deepEqual([w1.config.connection, w1.config.events, w1.config.qps], ["UD", true, 2]);
  assert.deepEqual([w2.endpoints, w2.size, w2.opcode, w2.iterations], [
    ["vm0", "node1", "node0"],
    4096,
    "read",
    10,
  ]);
});

Deno.test("scenario: profiles by name, inline mapping with errors inside it", async () => {
  const inline = GOOD.replace(
    "profile: pcix-sdr-2006",
    "profile:\n  base: modern-gen5-ndr\n  pci:\n    mmioWriteNs: 1 us",
  );
  const s = await parseScenario(inline, "s.yaml");
  assert.equal(s.profile.pci.mmioWriteNs, 1000);
  assert.equal(s.profile.link.mtu, 4096);
  const e = await bad(inline.replace("mmioWriteNs: 1 us", "mmioWriteNs: 1 MB/s"));
  assert.equal(`${e.line}:${e.col}`, posOf(inline, "mmioWriteNs"));
  assert.match(e.message, /pci\.mmioWriteNs.*wrong unit 'MB\/s'/);
  const e2 = await bad(inline.replace("mmioWriteNs: 1 us", "bogusKey: 3"));
  assert.match(e2.message, /s\.yaml:5:5: profile\.pci\.bogusKey: unknown key \(known: mmioWriteNs/);
  await expectAt(
    "profile: pcix-sdr-2006",
    "profile: nope",
    "profile: nope",
    /profile: unknown profile 'nope'/,
  );
  await expectAt(
    "profile: pcix-sdr-2006",
    "profile: 12",
    "profile: 12",
    /profile: must be a profile name/,
  );
  const e3 = await bad(GOOD.replace("profile: pcix-sdr-2006", "profile: /nonexistent/p.yaml"));
  assert.equal(
    e3.message.split(" (")[0],
    "s.yaml:2:1: profile: cannot read /nonexistent/p.yaml",
    "the scenario's own key, not a flag it never had",
  );
  assert.match(e3.message, /\(No such file or directory/);
  // A directory, a file relative to the scenario: one line each, as YamlInputErrors.
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/d.yaml`);
  const e4 = await parseScenario(
    GOOD.replace("profile: pcix-sdr-2006", "profile: d.yaml"),
    "s.yaml",
    dir,
  ).catch((e) => e);
  assert.equal(e4.name, "YamlInputError");
  assert.match(e4.message, new RegExp(`^s\\.yaml:2:1: profile: cannot read ${dir}/d\\.yaml \\(`));
  assert.ok(!e4.message.includes("\n"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("scenario: top level, hosts and guests errors point at the key", async () => {
  await expectAt("seed: 7", "seed: 7\nfoo: 1", "foo: 1", /foo: unknown key 'foo'/);
  await expectAt("seed: 7", "seed: -2", "seed: -2", /seed: -2 is out of range/);
  await expectAt("seed: 7", "seed: lots", "seed: lots", /seed: must be a whole number/);
  await expectAt(
    "    hypervisor: false",
    "    hypervisor: maybe",
    "hypervisor: maybe",
    /hosts\[1\]\.hypervisor: must be true or false/,
  );
  {
    const text = GOOD.replace("  - name: node1", "  - name: node0");
    const e = await bad(text);
    const at = text.slice(0, text.lastIndexOf("name: node0")).split("\n");
    assert.equal(`${e.line}:${e.col}`, `${at.length}:${at[at.length - 1].length + 1}`);
    assert.match(e.message, /hosts\[1\]\.name: duplicate name 'node0'/);
  }
  await expectAt(
    "  - name: node1",
    "  - name: 1node",
    "name: 1node",
    /hosts\[1\]\.name: '1node' is not a valid name/,
  );
  await expectAt(
    "    hypervisor: false",
    "    hypervisor: false\n    cpus: 4",
    "cpus: 4",
    /hosts\[1\]\.cpus: unknown key/,
  );
  await expectAt(
    "    host: node0",
    "    host: node9",
    "host: node9",
    /guests\[0\]\.host: unknown host 'node9'/,
  );
  await expectAt(
    "    host: node0",
    "    host: node1",
    "host: node1",
    /guests\[0\]\.host: host 'node1' is bare metal/,
  );
  await expectAt(
    "    mode: bypass",
    "    mode: hvm",
    "mode: hvm",
    /guests\[0\]\.mode: 'hvm' is not a guest mode/,
  );
  await expectAt(
    "    memoryMiB: 128",
    "    memoryMiB: 1.5",
    "memoryMiB: 1.5",
    /guests\[0\]\.memoryMiB: must be a whole number/,
  );
  await expectAt(
    "    memoryMiB: 128",
    "    memoryMiB: 4",
    "memoryMiB: 4",
    /guests\[0\]\.memoryMiB: 4 is out of range/,
  );
  await expectAt(
    "  - name: vm0",
    "  - name: node1",
    "name: node1\n    host",
    /guests\[0\]\.name: duplicate name 'node1'/,
  );
  await expectAt("    mode: bypass\n", "", "name: vm0", /guests\[0\]: missing key 'mode'/);
  await expectAt(
    "guests:\n  - name: vm0\n    host: node0\n    mode: bypass\n    memoryMiB: 128\n",
    "guests: 3\n",
    "guests: 3",
    /guests: must be a list/,
  );
});

Deno.test("scenario: workload errors point at the key", async () => {
  await expectAt(
    "  - perftest: ib_write_lat",
    "  - perftest: ib_write_latency",
    "perftest: ib_write_latency",
    /workload\[0\]\.perftest: unknown test/,
  );
  await expectAt(
    "  - perftest: ib_write_lat",
    "  - perftest: constructor",
    "perftest: constructor",
    /workload\[0\]\.perftest: unknown test 'constructor'/,
  );
  await expectAt(
    "    between: [vm0, node1]",
    "    between: [vm0, vm7]",
    "vm7",
    /workload\[0\]\.between\[1\]: unknown endpoint 'vm7'/,
  );
  await expectAt(
    "    between: [vm0, node1]",
    "    between: [vm0]",
    "between: [vm0]",
    /workload\[0\]\.between: needs exactly two endpoints/,
  );
  await expectAt(
    "    between: [vm0, node1]",
    "    between: [vm0, vm0]",
    "vm0]\n    sizes",
    /must differ/,
  );
  await expectAt(
    "    sizes: [2, 64K]",
    "    sizes: [2, 64Q]",
    "64Q",
    /workload\[0\]\.sizes\[1\]: '64Q' is not a size/,
  );
  await expectAt(
    "    iterations: 100",
    "    iterations: 2",
    "iterations: 2\n",
    /workload\[0\]\.iterations: Iteration num should be between 5 and 100000000/,
  );
  await expectAt(
    "    iterations: 100",
    "    iterations: many",
    "iterations: many",
    /workload\[0\]\.iterations: must be a whole number/,
  );
  await expectAt(
    "    iterations: 100",
    "    iterations: 100\n    color: red",
    "color: red",
    /workload\[0\]\.color: unknown key 'color'/,
  );
  await expectAt(
    "    connection: UD",
    "    connection: XRC",
    "connection: XRC",
    /workload\[1\]\.connection: XRC: XRC is not modelled/,
  );
  await expectAt(
    "    events: true",
    "    events: yes please",
    "events: yes please",
    /workload\[1\]\.events: must be true or false/,
  );
  await expectAt(
    "    qps: 2",
    "    qps: 0",
    "qps: 0",
    /workload\[1\]\.qps: num of Qps should be between 1 and 16384/,
  );
  await expectAt(
    "    opcode: RDMA_READ",
    "    opcode: RDMA_PEEK",
    "opcode: RDMA_PEEK",
    /workload\[2\]\.opcode: 'RDMA_PEEK' is not an opcode/,
  );
  // Own keys of the opcode table only: 'toString' found Object.prototype's member and passed.
  for (const name of ["toString", "constructor", "__proto__"]) {
    await expectAt(
      "    opcode: RDMA_READ",
      `    opcode: ${name}`,
      `opcode: ${name}`,
      new RegExp(`workload\\[2\\]\\.opcode: '${name}' is not an opcode`),
    );
  }
  await expectAt(
    "  - alltoall: [vm0, node1, node0]",
    "  - alltoall: [vm0]",
    "alltoall: [vm0]",
    /workload\[2\]\.alltoall: needs at least two/,
  );
  await expectAt(
    "  - alltoall: [vm0, node1, node0]",
    "  - alltoall: [vm0, node1, vm0]",
    "vm0]\n    size",
    /workload\[2\]\.alltoall\[2\]: endpoint 'vm0' listed twice/,
  );
  await expectAt(
    "    size: 4096",
    "    size: big",
    "size: big",
    /workload\[2\]\.size: 'big' is not a size/,
  );
  await expectAt(
    "    iterations: 10\n",
    "    iterations: 0\n",
    "iterations: 0",
    /workload\[2\]\.iterations: 0 is out of range/,
  );
  await expectAt(
    "  - alltoall: [vm0, node1, node0]",
    "  - alltoall: [vm0, node1, node0]\n    perftest: ib_write_lat",
    "alltoall: [vm0, node1, node0]",
    /exactly one of 'perftest', 'alltoall' or 'migrate'/,
  );
});

Deno.test("scenario: perftest's rejected combinations are reported at the key", async () => {
  // UC with RDMA READ, UD with WRITE, events with WRITE, inline with READ, atomic size.
  const wl = (body: string) =>
    GOOD.replace(/workload:[\s\S]*$/, `workload:\n  - between: [vm0, node1]\n${body}`);
  const e1 = await bad(wl("    perftest: ib_read_lat\n    connection: UC\n"));
  assert.match(
    e1.message,
    /s\.yaml:17:5: workload\[0\]\.connection: UC: UC connection not possible in READ/,
  );
  const e2 = await bad(wl("    perftest: ib_write_bw\n    connection: UD\n"));
  assert.match(
    e2.message,
    /s\.yaml:17:5: workload\[0\]\.connection: .*UD connection only possible in SEND/,
  );
  const e3 = await bad(wl("    perftest: ib_write_lat\n    events: true\n"));
  assert.match(
    e3.message,
    /s\.yaml:17:5: workload\[0\]\.events: Events feature not available on WRITE/,
  );
  const e4 = await bad(wl("    perftest: ib_read_lat\n    inline: 64\n"));
  assert.match(e4.message, /s\.yaml:17:5: workload\[0\]\.inline: Inline feature not available/);
  const e5 = await bad(wl("    perftest: ib_atomic_lat\n    size: 64\n"));
  assert.match(e5.message, /s\.yaml:17:5: workload\[0\]\.size: Message size cannot be changed/);
  const e6 = await bad(wl("    perftest: ib_write_lat\n    mtu: 1000\n"));
  assert.match(e6.message, /s\.yaml:17:5: workload\[0\]\.mtu: invalid MTU 1000/);
});

/** A "billion laughs" document: nine levels, each nine aliases of the one before. */
function aliasBomb(): string {
  const lines = ["a: &a [x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 9; i++) {
    const [name, prev] = ["abcdefghi"[i], "abcdefghi"[i - 1]];
    lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(", ")}]`);
  }
  return lines.join("\n") + "\n";
}

Deno.test("scenario: structure and syntax errors", async () => {
  // YAML's .nan and .inf are named as written, never as null, NaN or Infinity.
  const special = [
    ["seed: .nan\nhosts:\n  - name: a\nworkload: []\n", "seed: must be a whole number (got .nan)"],
    [
      "hosts:\n  - {name: a, hypervisor: .inf}\nworkload: []\n",
      "hosts[0].hypervisor: must be true or false (got .inf)",
    ],
    [
      "hosts:\n  - name: a\n  - name: b\nworkload:\n  - alltoall: [a, b]\n    size: -.inf\n",
      "workload[0].size: must be a size in bytes (got -.inf)",
    ],
    [
      "hosts:\n  - name: a\n  - name: b\nworkload:\n  - perftest: ib_write_lat\n" +
      "    between: [a, b]\n    sizes: [.nan]\n",
      "workload[0].sizes[0]: must be a size in bytes (got .nan)",
    ],
  ];
  for (const [text, detail] of special) {
    assert.equal((await bad(text)).message.replace(/^s\.yaml:\d+:\d+: /, ""), detail);
  }
  // One document of plain data: a second '---' or a tag that builds another kind of object
  // (a Buffer, a Set) is named at its place, not read as a mapping with keys '0', '1', ….
  assert.equal(
    (await bad("hosts: []\n---\nb: 2\n")).message,
    "s.yaml:2:1: a second YAML document ('---'): the file must hold one",
  );
  assert.match((await bad("!!binary aGk=\n")).message, /^s\.yaml:1:1: tag '!!binary' is not taken/);
  assert.match((await bad("hosts: !!set {a}\n")).message, /^s\.yaml:1:8: tag '!!set' is not/);
  const laughs = await bad(aliasBomb());
  assert.equal([laughs.line, laughs.col].join(":"), "2:8");
  assert.match(laughs.message, /aliases expand too far/);
  const e = await bad("hosts: [\n");
  assert.equal(e.file, "s.yaml");
  assert.match((await bad("- 1\n")).message, /s\.yaml:1:1: \(top level\): must be a mapping/);
  assert.match((await bad("workload: []\n")).message, /missing key 'hosts'/);
  assert.match(
    (await bad("hosts:\n  - name: a\n  - name: b\nworkload: []\n")).message,
    /s\.yaml:4:1: workload: needs at least one entry/,
  );
  // One switch of 254 ports: the 255th host was unreachable (RETRY_EXC_ERR at run time).
  const many = (n: number) =>
    `hosts: [${Array.from({ length: n }, (_, i) => `{name: h${i}}`).join(", ")}]\n` +
    "workload: [{perftest: ib_write_lat, between: [h0, h1]}]\n";
  assert.equal((await parseScenario(many(254), "s.yaml")).hosts.length, 254);
  assert.match(
    (await bad(many(255))).message,
    /^s\.yaml:1:\d+: hosts\[254\]: at most 254 hosts \(one switch of 254 ports; got 255\)$/,
  );
  // Only an absent profile is the default: `profile: ~` was taken as pcix-sdr-2006.
  assert.equal(
    (await bad("profile:\nhosts: [{name: a}, {name: b}]\nworkload: [{alltoall: [a, b]}]\n"))
      .message,
    "s.yaml:1:1: profile: must be a profile name, a FILE.yaml, or a mapping of profile groups " +
      "(got null)",
  );
  // Names printed as headings are one line: a line break split the results (and the error).
  const hosts = "hosts: [{name: a}, {name: b}]\n";
  assert.equal(
    (await bad(
      hosts + 'workload: [{perftest: ib_write_lat, between: [a, b], name: "x\\ny"}]\n',
    )).message,
    `s.yaml:2:54: workload[0].name: must be one line (it holds "\\n", a control character)`,
  );
  assert.match(
    (await bad('name: "t\\tab"\n' + hosts + "workload: [{alltoall: [a, b]}]\n")).message,
    /^s\.yaml:1:1: name: must be one line \(it holds "\\t", a control character\)$/,
  );
  const dup = await bad("hosts:\n  - name: a\n    name: b\nworkload: []\n");
  assert.equal(dup.line, 3);
  // Nesting past the parser's stack was "Maximum call stack size exceeded" (V8's words, naming
  // nothing of the input); block mappings as flow lists.
  const deepBlock = Array.from({ length: 3000 }, (_, i) => `${"  ".repeat(i)}k:`).join("\n");
  for (const text of ["hosts: " + "[".repeat(3000) + "]".repeat(3000) + "\n", deepBlock + "\n"]) {
    assert.match(
      (await bad(text)).message,
      /^s\.yaml:\d+:\d+: lists and mappings nested too deep \(hundreds of levels\); refused$/,
    );
  }
});

Deno.test("scenario: migrate entries are checked where the guest is at that point", async () => {
  const base = `hosts:
  - {name: x0, hypervisor: true}
  - {name: x1, hypervisor: true}
  - {name: m}
guests:
  - {name: vm0, host: x0, mode: bypass}
workload:
`;
  const at = async (entries: string, needle: string, re: RegExp) => {
    const text = base + entries;
    const e = await bad(text);
    assert.equal(`${e.file}:${e.line}:${e.col}`, `s.yaml:${posOf(text, needle)}`, e.message);
    assert.match(e.message, re);
  };
  await at(
    "  - {migrate: vm9, to: x1}\n",
    "migrate: vm9",
    /workload\[0\]\.migrate: 'vm9' is not a guest/,
  );
  await at("  - {migrate: vm0}\n", "{migrate: vm0}", /workload\[0\]: missing key 'to'/);
  await at("  - {migrate: vm0, to: m}\n", "to: m}", /workload\[0\]\.to: host 'm' is bare metal/);
  await at("  - {migrate: vm0, to: x0}\n", "to: x0}", /'vm0' already runs on 'x0'/);
  // The second entry sees the guest where the first one put it.
  await at(
    "  - {migrate: vm0, to: x1}\n  - {migrate: vm0, to: x1, name: again}\n",
    "to: x1, name",
    /workload\[1\]\.to: 'vm0' already runs on 'x1'/,
  );
  await at(
    "  - {migrate: vm0, to: x1, rate: 5}\n",
    "rate: 5",
    /workload\[0\]\.rate: a stream needs 'with'/,
  );
  await at(
    "  - {migrate: vm0, to: x1, with: vm0}\n",
    "with: vm0}",
    /workload\[0\]\.with: the stream needs another endpoint/,
  );
  await at(
    "  - {migrate: vm0, to: x1, crashDestination: boot}\n",
    "crashDestination: boot",
    /workload\[0\]\.crashDestination: 'boot' is not a phase/,
  );
  // A migration the destination fails (as injected) leaves the guest where it was.
  const s = await parseScenario(
    base + "  - {migrate: vm0, to: x1, crashDestination: pre-copy}\n  - {migrate: vm0, to: x1}\n",
    "s.yaml",
  );
  assert.deepEqual(s.workload.map((w) => w.name), ["migrate vm0 x0->x1", "migrate vm0 x0->x1"]);
});

Deno.test("scenario: the example file of docs/tools.md is valid as shown", async () => {
  const md = Deno.readTextFileSync(new URL("../docs/tools.md", import.meta.url));
  const block = /\n```yaml\n(profile:[^]*?)\n```\n/.exec(md)?.[1];
  assert.ok(block, "docs/tools.md shows a scenario file");
  const s = await parseScenario(`${block}\n`, "tools.md.yaml");
  assert.deepEqual(s.workload.map((w) => w.kind), ["perftest", "alltoall", "migrate"]);
});

const PARTITIONED = `hosts: [{name: x0, hypervisor: true}, {name: x1, hypervisor: true}, {name: m}]
guests:
  - {name: a, host: x0, mode: bypass}
  - {name: b, host: x1, mode: split}
  - {name: c, host: x1, mode: bypass}
partitions:
  - {pkey: 0x0001, full: [a, b], limited: [m]}
  - {pkey: 2, limited: [c]}
workload:
  - {perftest: ib_write_lat, between: [a, b], size: 2, iterations: 10, pkeyIndex: 1}
`;

Deno.test("scenario: partitions give hosts their tables and guests their partitions", async () => {
  const s = await parseScenario(PARTITIONED, "s.yaml");
  assert.deepEqual(s.hosts.map((h) => h.pkeys), [[0x8001], [0x8001, 0x0002], [0x0001]]);
  assert.deepEqual(s.guests.map((g) => g.pkeys), [[0x8001], [0x8001], [0x0002]]);
  assert.equal((s.workload[0] as { config: { pkeyIndex: number } }).config.pkeyIndex, 1);
  // Without partitions nothing is added (the default partition only).
  const plain = await parseScenario(GOOD, "s.yaml");
  assert.ok(
    plain.hosts.every((h) => !("pkeys" in h)) && plain.guests.every((g) => !("pkeys" in g)),
  );
  // Mistakes are named where they are.
  const at = async (text: string) => (await bad(text)).message;
  const base = PARTITIONED.replace(/partitions:[^]*workload/, "partitions: PARTS\nworkload");
  assert.match(
    await at(base.replace("PARTS", "[{pkey: 0x8001, full: [a]}]")),
    /partitions\[0\]\.pkey: 0x8001 is out of range \(1\.\.32767\)/,
  );
  assert.match(
    await at(base.replace("PARTS", "[{pkey: 1, full: [zz]}]")),
    /partitions\[0\]\.full\[0\]: unknown member 'zz'/,
  );
  assert.match(
    await at(base.replace("PARTS", "[{pkey: 1, full: [a], limited: [a]}]")),
    /partitions\[0\]\.limited\[0\]: 'a' is listed twice in this partition/,
  );
  assert.match(
    await at(base.replace("PARTS", "[{pkey: 1, full: [a]}, {pkey: 1}]")),
    /partitions\[1\]\.pkey: partition 1 is listed twice/,
  );
  assert.match(
    await at(base.replace("PARTS", "[{pkey: 1, members: [a]}]")),
    /partitions\[0\]\.members: unknown key 'members' \(known: pkey, full, limited\)/,
  );
});

Deno.test("scenario: a perftest between two guests of one partition runs on its P_Key index", async () => {
  const { runScenario } = await import("../tools/lib/scenario_run.ts");
  const [r] = await runScenario(await parseScenario(PARTITIONED, "s.yaml"));
  assert.equal(r.kind, "perftest");
  // On index 0, the default partition, neither guest may be: dom0 refuses it.
  const off = PARTITIONED.replace(", pkeyIndex: 1", "");
  await assert.rejects(runScenario(await parseScenario(off, "s.yaml")), /EINVAL/);
});

// What a run refuses (perftest's UD size past the MTU, a P_Key index outside the partitions, a
// profile the hosts cannot boot with) was the bare message ("run: -s/--size 4096: …", "run: ENOMEM:
// mthca0: MPT table full"), naming neither the file nor the entry. Now file and entry, one line.
Deno.test("scenario: a workload the run refuses is named by file and entry", async () => {
  const { runScenario } = await import("../tools/lib/scenario_run.ts");
  const hosts = "hosts: [{name: a}, {name: b}]\n";
  const ud = hosts + "workload:\n  - {perftest: ib_write_lat, between: [a, b], iterations: 5}\n" +
    "  - {perftest: ib_send_lat, between: [a, b], connection: UD, size: 4096, iterations: 5}\n";
  await assert.rejects(runScenario(await parseScenario(ud, "s.yaml")), {
    name: "ToolError",
    message: "s.yaml: workload[1] (ib_send_lat a<->b): -s/--size 4096: Max message size in UD " +
      "cannot be greater than MTU (2048); Couldn't get context for the device",
  });
  const off = PARTITIONED.replace(", pkeyIndex: 1", "");
  await assert.rejects(runScenario(await parseScenario(off, "s.yaml")), {
    name: "ToolError",
    message: /^s\.yaml: workload\[0\] \([^)]*\): EINVAL: MODIFY_QP: /,
  });
  const mr = "profile: {hca: {maxMr: 2}}\n" + hosts +
    "workload: [{perftest: ib_write_lat, between: [a, b], iterations: 5}]\n";
  await assert.rejects(runScenario(await parseScenario(mr, "s.yaml")), {
    name: "ToolError",
    message: /^s\.yaml: the cluster could not start \(ENOMEM: [^\n]*\); nothing was run$/,
  });
});

// IBTA vol 1 §14.2.5.7: a port's P_Key table has hca.maxPkeys entries, 0xffff and the host's
// partitions. One more passed --check and failed at run time ("could not create it").
Deno.test("scenario: a host's partitions must fit its P_Key table, checked before the run", async () => {
  const head = "profile: {hca: {maxPkeys: 2}}\n" +
    "hosts: [{name: x0, hypervisor: true}, {name: x1, hypervisor: true}, {name: m}]\n" +
    "guests: [{name: vm0, host: x0, mode: bypass}]\n";
  const full = await bad(
    head + "partitions: [{pkey: 1, full: [vm0, m]}, {pkey: 2, full: [vm0]}]\n" +
      "workload: [{perftest: ib_write_lat, between: [vm0, m], pkeyIndex: 1}]\n",
  );
  assert.equal(
    full.message,
    "s.yaml:4:58: partitions[1].full[0]: host 'x0' would need 3 P_Keys with the default: its " +
      "P_Key table has 2 entries (profile hca.maxPkeys)",
  );
  // A guest that migrates takes its partitions to the destination's table.
  const moved = await bad(
    head + "partitions: [{pkey: 1, full: [vm0, m]}, {pkey: 2, full: [x1]}]\n" +
      "workload: [{migrate: vm0, to: x1}]\n",
  );
  assert.match(moved.message, /^s\.yaml:5:27: workload\[0\]\.to: host 'x1' would need 3 P_Keys/);
  // What fits is taken: 0xffff and one partition.
  const ok = await parseScenario(
    head + "partitions: [{pkey: 1, full: [vm0, m]}]\n" +
      "workload: [{perftest: ib_write_lat, between: [vm0, m], pkeyIndex: 1}]\n",
    "s.yaml",
  );
  assert.deepEqual(ok.hosts.map((h) => h.pkeys), [[0x8001], undefined, [0x8001]]);
});

// A scenario's hosts have 4096 MiB (Cluster.addHost's default): a guest of 8192 MiB passed
// --check and failed at run time with "more than the host's memory".
Deno.test("scenario: a guest's memory fits its host's 4096 MiB, checked before the run", async () => {
  const text = (mib: number) =>
    "hosts: [{name: x0, hypervisor: true}, {name: m}]\n" +
    `guests: [{name: vm0, host: x0, mode: bypass, memoryMiB: ${mib}}]\n` +
    "workload: [{perftest: ib_write_lat, between: [vm0, m]}]\n";
  assert.equal((await parseScenario(text(4096), "s.yaml")).guests[0].memoryMiB, 4096);
  assert.equal(
    (await bad(text(8192))).message,
    "s.yaml:2:46: guests[0].memoryMiB: 8192 is out of range (16..4096)",
  );
});

// A number past 2^53 is read as the nearest double: "seed: 9007199254740993" was reported as
// "9007199254740992 is out of range", a larger one as "1.2345678901234568e+29". Now as typed.
Deno.test("scenario: a number out of range is quoted as the file spells it", async () => {
  const rest = "hosts: [{name: a}, {name: b}]\nworkload: [{alltoall: [a, b]}]\n";
  for (const typed of ["9007199254740993", "123456789012345678901234567890", "0x100000000"]) {
    assert.equal(
      (await bad(`seed: ${typed}\n${rest}`)).message,
      `s.yaml:1:1: seed: ${typed} is out of range (0..4294967295)`,
    );
  }
  assert.equal(
    (await bad(`${rest}partitions: [{pkey: 0x8001, full: [a]}]\n`)).message,
    "s.yaml:3:15: partitions[0].pkey: 0x8001 is out of range (1..32767)",
  );
});

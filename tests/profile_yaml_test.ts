import assert from "node:assert/strict";
import { loadProfile, profileFromYaml } from "../tools/lib/profile_yaml.ts";
import { YamlInputError } from "../tools/lib/yaml_errors.ts";
import { PCIX_SDR_2006, PROFILE_SCHEMA, resolveProfile } from "../sim/profiles/mod.ts";
import { RESERVED } from "../hca/firmware.ts";

function err(text: string): YamlInputError {
  try {
    profileFromYaml(text, "p.yaml");
  } catch (e) {
    assert.ok(e instanceof YamlInputError, `expected YamlInputError, got ${e}`);
    return e;
  }
  assert.fail("expected an error");
}

Deno.test("profile YAML: units convert and unnamed keys keep the base value", () => {
  const p = profileFromYaml(
    "name: slow\nbase: modern-gen5-ndr\npci:\n  bytesPerSec: 500 MB/s\nxen:\n  hypercallNs: 1.5 us\n",
    "p.yaml",
  );
  assert.equal(p.name, "slow");
  assert.equal(p.pci.bytesPerSec, 500e6);
  assert.equal(p.xen.hypercallNs, 1500);
  assert.equal(p.link.mtu, 4096); // from the modern base
});

Deno.test("profile YAML: a profile that changes its base without a name is not called by the base's", () => {
  // Every tool's header names the profile its figures come from ("profile pcix-sdr-2006").
  assert.equal(
    profileFromYaml("pci:\n  bytesPerSec: 500 MB/s\n", "p.yaml").name,
    "pcix-sdr-2006 (modified)",
  );
  assert.equal(
    resolveProfile({ base: "modern-gen5-ndr", link: { mtu: 2048 } }).name,
    "modern-gen5-ndr (modified)",
  );
  assert.equal(
    profileFromYaml("name: mine\npci:\n  bytesPerSec: 500 MB/s\n", "p.yaml").name,
    "mine",
  );
  // Nothing changed: the base itself, by its name.
  assert.equal(
    profileFromYaml("base: modern-gen5-ndr\ndescription: as shipped\n", "p.yaml").name,
    "modern-gen5-ndr",
  );
});

Deno.test("profile YAML: default base is pcix-sdr-2006 and the built-in stays untouched", () => {
  const p = profileFromYaml("link:\n  mtu: 1 KiB\n", "p.yaml");
  assert.equal(p.link.mtu, 1024);
  assert.equal(PCIX_SDR_2006.link.mtu, 2048);
});

Deno.test("profile YAML: unknown key names file, line, column and key", () => {
  const e = err("pci:\n  mmioWriteNs: 100\n  bogus: 1\n");
  assert.equal(e.line, 3);
  assert.equal(e.col, 3);
  assert.match(e.message, /^p\.yaml:3:3: .*'pci\.bogus': unknown key/);
});

Deno.test("profile YAML: unknown group, wrong unit, negative, non-integer, bad base", () => {
  assert.match(err("gpu:\n  x: 1\n").message, /p\.yaml:1:1: .*'gpu': unknown group/);
  assert.match(err("hca:\n  commandNs: 5 MB/s\n").message, /p\.yaml:2:3: .*wrong unit 'MB\/s'/);
  assert.match(err("link:\n  propagationNs: -3\n").message, /must not be negative/);
  assert.match(err("hca:\n  maxQp: 10.5\n").message, /must be a whole number/);
  assert.match(err("pci:\n  bytesPerSec: 0\n").message, /greater than zero/);
  // A P_Key table is indexed by a 16-bit pkey_index.
  assert.match(err("hca:\n  maxPkeys: 65537\n").message, /p\.yaml:2:3: .*must be at most 65536/);
  assert.match(err("hca:\n  maxPkeys: 0\n").message, /greater than zero/);
  assert.match(err("base: nope\n").message, /unknown base profile 'nope'/);
  assert.match(err("- 1\n- 2\n").message, /must be a mapping/);
});

// A name Object.prototype has is no built-in profile: `base: constructor` reached
// structuredClone with the Object function (an internal DataCloneError with its stack), and
// `--profile toString` was refused as "got function".
Deno.test("profile: 'constructor', 'toString', '__proto__' are unknown profiles, as a base or by name", () => {
  for (const name of ["constructor", "toString", "__proto__"]) {
    assert.match(err(`base: ${name}\n`).message, new RegExp(`unknown base profile '${name}'$`));
    assert.throws(
      () => resolveProfile(name),
      { name: "ProfileError", message: new RegExp(`unknown profile '${name}' \\(built-in: `) },
    );
  }
});

// Groups, keys and units are looked up as own keys of the schema: `pci: {constructor: 1}` and
// `toString: {}` found Object.prototype's members and were accepted, `hasOwnProperty: {x: 1}` said
// "known: " with nothing after it, and "1 constructor" was "not a finite number" (a NaN scale).
Deno.test("profile YAML: 'constructor', 'toString', 'hasOwnProperty' are unknown groups, keys, units", () => {
  for (const name of ["constructor", "toString", "hasOwnProperty", "valueOf"]) {
    assert.equal(
      err(`pci:\n  ${name}: 1\n`).message,
      `p.yaml:2:3: profile key 'pci.${name}': unknown key (known: mmioWriteNs, ` +
        "dmaReadLatencyNs, dmaWriteLatencyNs, bytesPerSec, transactionNs)",
    );
    for (const body of ["{}", "{x: 1}"]) {
      assert.match(
        err(`${name}: ${body}\n`).message,
        new RegExp(`^p\\.yaml:1:1: profile key '${name}': unknown group \\(known: name, `),
      );
    }
    assert.match(
      err(`pci:\n  bytesPerSec: 1 ${name}\n`).message,
      new RegExp(`^p\\.yaml:2:3: profile key 'pci\\.bytesPerSec': wrong unit '${name}' for a rate`),
    );
  }
});

// Only an absent `base` is the default: `base: ~` (a key with no value) was taken as
// pcix-sdr-2006, and `base: 1` was "unknown base profile '1'".
Deno.test("profile YAML: base must be a name; a base with no value is refused", () => {
  const head = "p.yaml:1:1: profile key 'base': must be a built-in profile name " +
    "(pcix-sdr-2006, modern-gen5-ndr), got";
  assert.equal(err("base: ~\n").message, `${head} null (no value)`);
  assert.equal(err("base:\npci: {bytesPerSec: 1 GB/s}\n").message, `${head} null (no value)`);
  assert.equal(err("base: 1\n").message, `${head} number`);
  assert.equal(err("base: [a]\n").message, `${head} a list`);
  assert.equal(profileFromYaml("pci: {bytesPerSec: 1 GB/s}\n", "p.yaml").link.mtu, 2048);
});

// The profile's name heads every tool's output: a line break in it split the heading (and the
// error that quoted it). A description may end in one (a folded block).
Deno.test("profile YAML: the name is one line", () => {
  assert.equal(
    err('name: "slow\\nbus"\n').message,
    `p.yaml:1:1: profile key 'name': must be one line (it holds "\\n", a control character)`,
  );
  assert.equal(
    profileFromYaml("description: >\n  two\n  words\n", "p.yaml").description,
    "two words\n",
  );
  // An empty name headed the output as "profile ,".
  for (const name of ["''", "'  '"]) {
    assert.equal(
      err(`name: ${name}\n`).message,
      "p.yaml:1:1: profile key 'name': must not be empty",
    );
  }
});

// A key with no value (`~` or nothing) is null and `[1]` a list: "got object" named neither.
Deno.test("profile YAML: a null or list value is named as such", () => {
  const head =
    `p.yaml:1:7: profile key 'pci.bytesPerSec': expected a number or "<number> <unit>", got`;
  assert.equal(err("pci: {bytesPerSec: ~}\n").message, `${head} null (no value)`);
  assert.equal(err("pci: {bytesPerSec: [1]}\n").message, `${head} a list`);
  assert.equal(err("pci: {bytesPerSec: {a: 1}}\n").message, `${head} a mapping`);
});

// IBTA vol 1 §7.7.8: an MTU is 256, 512, 1024, 2048 or 4096 bytes. A link or HCA MTU of any
// other size was accepted and failed later inside the model with a stack trace.
Deno.test("profile YAML: an MTU must be an IBA MTU (link.mtu, hca.maxMtu)", () => {
  assert.match(
    err("link:\n  mtu: 3000\n").message,
    /^p\.yaml:2:3: .*'link\.mtu': must be one of 256, 512, 1024, 2048, 4096 \(got 3000\)$/,
  );
  assert.match(err("hca:\n  maxMtu: 8 KiB\n").message, /'hca\.maxMtu': must be one of/);
  assert.equal(profileFromYaml("hca:\n  maxMtu: 1 KiB\n", "p.yaml").hca.maxMtu, 1024);
  assert.equal(PCIX_SDR_2006.hca.maxMtu, 2048); // the MT23108's MTUCap
});

Deno.test("profile YAML: a value that overflows or that the model cannot run is refused at its key", () => {
  const at = (text: string) => {
    const e = err(text);
    return `${e.line}:${e.col} ${e.message.replace(/^p\.yaml:\d+:\d+: /, "")}`;
  };
  assert.equal(
    at("pci:\n  mmioWriteNs: 1e300 s\n"),
    "2:3 profile key 'pci.mmioWriteNs': not a finite number: '1e300 s'",
  );
  assert.equal(
    at("pci:\n  mmioWriteNs: 1e15\n"),
    "2:3 profile key 'pci.mmioWriteNs': must be at most 60 s of virtual time (got 1000000000000000)",
  );
  assert.equal(
    at("pci:\n  bytesPerSec: 1e-300\n"),
    "2:3 profile key 'pci.bytesPerSec': must be at least 1 KB/s (got 1e-300)",
  );
  assert.equal(
    at("mpi:\n  computeFlopsPerSec: 1e-300\n"),
    "2:3 profile key 'mpi.computeFlopsPerSec': must be at least 1000 (got 1e-300)",
  );
  for (
    const key of ["maxQp", "maxCq", "maxMr", "maxPd", "maxUar", "maxSrq", "maxAh", "maxMcastGrp"]
  ) {
    assert.equal(
      at(`hca:\n  ${key}: 1e15\n`),
      `2:3 profile key 'hca.${key}': must be at most 16777216 (got 1000000000000000)`,
    );
  }
  // A table smaller than its reserved entries plus one left a device reporting max_qp -1 to
  // bare metal and failing a guest's QUERY_DEVICE with EIO: refused here, with the reason.
  assert.equal(
    at("hca:\n  maxQp: 2\n"),
    "2:3 profile key 'hca.maxQp': must be at least 3 (got 2): QP0 and QP1 are the special QPs " +
      "(SMI and GSI), reserved by the firmware",
  );
  for (const key of ["maxMr", "maxPd", "maxUar"]) {
    assert.match(
      at(`hca:\n  ${key}: 1\n`),
      new RegExp(`'hca\\.${key}': must be at least 2 \\(got 1\\): `),
    );
  }
  // What the verbs ABI and the frontend/backend ring can carry (QUERY_DEVICE's fields).
  assert.equal(
    at("hca:\n  maxRdAtomic: 256\n"),
    "2:3 profile key 'hca.maxRdAtomic': must be at most 255 (got 256)",
  );
  // The device holds RDMA READ depths as log2 (mthca's QUERY_DEV_LIM and QP context).
  assert.match(
    at("hca:\n  maxRdAtomic: 5\n"),
    /^2:3 profile key 'hca\.maxRdAtomic': must be a power of two \(got 5\)/,
  );
  assert.equal(
    at("hca:\n  maxSge: 65536\n"),
    "2:3 profile key 'hca.maxSge': must be at most 65535 (got 65536)",
  );
  assert.match(
    at("hca:\n  maxMcastQpAttach: 1000000\n"),
    /^2:3 profile key 'hca\.maxMcastQpAttach': maxMcastGrp × maxMcastQpAttach \(8192 × 1000000\) must fit max_total_mcast_qp_attach, an int/,
  );
  // The bounds themselves are values a user may give.
  const p = profileFromYaml("pci:\n  mmioWriteNs: 60 s\n  bytesPerSec: 1 KB/s\n", "p.yaml");
  assert.deepEqual([p.pci.mmioWriteNs, p.pci.bytesPerSec], [60e9, 1e3]);
});

Deno.test("profile YAML: syntax errors carry a position", () => {
  const e = err("pci: [\n");
  assert.equal(e.file, "p.yaml");
  assert.ok(e.line >= 1);
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

Deno.test("profile YAML: an alias bomb is refused at its first alias, one line", () => {
  const e = err(aliasBomb());
  assert.equal(
    e.message,
    "p.yaml:2:8: aliases expand too far (an alias bomb: each level multiplies the one before); " +
      "refused",
  );
  // Tags that build other kinds of objects are refused where they stand.
  assert.equal(
    err("pci: !!omap [{mmioWriteNs: 1}]\n").message,
    "p.yaml:1:6: tag '!!omap' is not taken here (plain YAML only: mappings, lists, strings, " +
      "numbers, booleans)",
  );
  // Aliases used within reason still resolve.
  const p = profileFromYaml("pci:\n  mmioWriteNs: &t 0.5 us\n  dmaReadLatencyNs: *t\n", "p.yaml");
  assert.deepEqual([p.pci.mmioWriteNs, p.pci.dmaReadLatencyNs], [500, 500]);
});

Deno.test("loadProfile: built-in names, files and clear errors", async () => {
  assert.equal((await loadProfile("modern-gen5-ndr")).name, "modern-gen5-ndr");
  await assert.rejects(loadProfile("nope"), /unknown profile 'nope'/);
  await assert.rejects(loadProfile("/nonexistent/x.yaml"), {
    name: "ProfileError",
    message: /^profile: cannot read \/nonexistent\/x\.yaml \(No such file or directory/,
  });
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/p.yaml`, "name: mine\ncpu:\n  syscallNs: 1 us\n");
    const p = await loadProfile(`${dir}/p.yaml`);
    assert.equal(p.cpu.syscallNs, 1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("profile schema: a table's least size is the device's reserved entries plus one", () => {
  // The schema (sim/) states the minimums; the firmware (hca/) reserves the entries they count.
  const hca = PROFILE_SCHEMA.hca;
  assert.deepEqual(
    [hca.maxQp.min, hca.maxMr.min, hca.maxUar.min],
    [RESERVED.qp + 1, RESERVED.mpt + 1, RESERVED.uar + 1],
  );
});

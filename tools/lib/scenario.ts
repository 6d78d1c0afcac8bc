/**
 * Scenario files for `deno task run scenario.yaml`: hosts, guests, a cost
 * profile, a seed and a workload list (perftest-style tests between two
 * endpoints, all-to-all traffic among several). Every problem is reported
 * as `file:line:col: <key path>: <what is wrong>` pointing at the offending
 * key.
 *
 * ```yaml
 * profile: pcix-sdr-2006          # a built-in name, a FILE.yaml, or an inline mapping
 * seed: 7
 * hosts:
 *   - { name: node0, hypervisor: true }
 *   - { name: node1, hypervisor: false }
 * guests:
 *   - { name: vm0, host: node0, mode: bypass, memoryMiB: 64 }
 * workload:
 *   - perftest: ib_write_lat        # endpoints: guest names, or host names (bare-metal OS / dom0)
 *     between: [vm0, node1]
 *     size: 64
 *     iterations: 1000
 *   - alltoall: [vm0, node1]
 *     size: 4096
 *     iterations: 100
 *     opcode: write
 *   - migrate: vm0                  # live migration of a guest to another Xen host,
 *     to: node2                     # with a checked stream to `with` going on meanwhile
 *     with: node1
 *     rate: 10000                   # messages per second each way (size: bytes, default 64)
 * partitions:                       # optional (IBTA partitions; default: the default one only)
 *   - pkey: 0x0001                  # the partition number, 0x0001..0x7fff
 *     full: [vm0, node1]            # full members (P_Key 0x8001)
 *     limited: [vm1]                # limited members (P_Key 0x0001): they meet full ones only
 * ```
 *
 * @module
 */
import { isMap, isScalar } from "yaml";
import { IBA_MTUS } from "../../hca/link.ts";
import { type Profile, ProfileError, resolveProfile } from "../../mod.ts";
import { errorAt, type LocatedYaml, parseYaml, YamlInputError } from "./yaml_errors.ts";
import { loadProfile, ProfileReadError } from "./profile_yaml.ts";
import { userFile } from "./cli.ts";
import {
  LIMITS,
  parsePerftestArgs,
  parseSize,
  PERFTEST_TESTS,
  type PerftestConfig,
  type TestName,
  UsageError,
} from "./perftest_args.ts";

/**
 * A host of the scenario.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseScenario, type ScenarioHost } from "./scenario.ts";
 * const s = await parseScenario(
 *   "hosts: [{name: xen0, hypervisor: true}, {name: metal}]\n" +
 *     "workload: [{perftest: ib_write_lat, between: [xen0, metal]}]\n",
 *   "s.yaml",
 * );
 * const hosts: ScenarioHost[] = s.hosts;
 * assert.deepEqual(hosts, [
 *   { name: "xen0", hypervisor: true },
 *   { name: "metal", hypervisor: false }, // bare metal unless it says otherwise
 * ]);
 * ```
 */
export interface ScenarioHost {
  /** Unique name. */
  name: string;
  /** Xen host (dom0 + backend) or bare metal. */
  hypervisor: boolean;
  /**
   * Its ports' partitions after 0xffff (`HostSpec.pkeys`), from `partitions:`: its own and its
   * guests' memberships, in the order of the list; absent when it is in none.
   */
  pkeys?: number[];
}

/**
 * A guest of the scenario.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseScenario, type ScenarioGuest } from "./scenario.ts";
 * const s = await parseScenario(
 *   "hosts: [{name: xen0, hypervisor: true}]\n" +
 *     "guests: [{name: vm0, host: xen0, mode: split}, {name: vm1, host: xen0, mode: bypass}]\n" +
 *     "workload: [{perftest: ib_send_lat, between: [vm0, vm1]}]\n",
 *   "s.yaml",
 * );
 * const g: ScenarioGuest = s.guests[0];
 * // 64 MiB by default
 * assert.deepEqual(g, { name: "vm0", host: "xen0", mode: "split", memoryMiB: 64 });
 * ```
 */
export interface ScenarioGuest {
  /** Unique name. */
  name: string;
  /** Name of its (Xen) host. */
  host: string;
  /** Driver: Xen-IB bypass or the split baseline. */
  mode: "bypass" | "split";
  /** Memory, MiB. */
  memoryMiB: number;
  /**
   * The partitions dom0 lets it use (`GuestOptions.pkeys`), from `partitions:`; absent when it
   * is in none (the default partition).
   */
  pkeys?: number[];
}

/**
 * A perftest between two endpoints.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseScenario, type PerftestWorkload } from "./scenario.ts";
 * const s = await parseScenario(
 *   "seed: 7\nhosts: [{name: a}, {name: b}]\n" +
 *     "workload: [{perftest: ib_write_lat, between: [a, b], size: 64, iterations: 50}]\n",
 *   "s.yaml",
 * );
 * const w = s.workload[0] as PerftestWorkload;
 * assert.equal(w.name, "ib_write_lat a<->b"); // the default label
 * assert.deepEqual(w.between, ["a", "b"]); // a is perftest's client
 * // The keys became perftest flags, as `deno task perftest` would read them.
 * assert.equal(w.config.test, "ib_write_lat");
 * assert.deepEqual([w.config.sizes, w.config.iters, w.config.seed], [[64], 50, 7]);
 * ```
 */
export interface PerftestWorkload {
  kind: "perftest";
  /** Label (default `<test> a<->b`). */
  name: string;
  /** The two endpoints (guest or host names); the first is perftest's client. */
  between: [string, string];
  /** The test, as `deno task perftest` would run it. */
  config: PerftestConfig;
}

/**
 * All-to-all traffic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type AllToAllWorkload, parseScenario } from "./scenario.ts";
 * const s = await parseScenario(
 *   "hosts: [{name: a}, {name: b}, {name: c}]\nworkload: [{alltoall: [a, b, c], opcode: SEND}]\n",
 *   "s.yaml",
 * );
 * const w = s.workload[0] as AllToAllWorkload;
 * assert.deepEqual(w, {
 *   kind: "alltoall",
 *   name: "alltoall send a,b,c",
 *   endpoints: ["a", "b", "c"],
 *   size: 4096, // the defaults
 *   iterations: 100,
 *   opcode: "send", // verbs' name accepted too
 *   txDepth: 16,
 * });
 * ```
 */
export interface AllToAllWorkload {
  kind: "alltoall";
  /** Label. */
  name: string;
  /** Endpoints (at least two). */
  endpoints: string[];
  /** Message size, bytes. */
  size: number;
  /** Messages each endpoint sends to every other. */
  iterations: number;
  /** Operation. */
  opcode: "write" | "send" | "read";
  /** Outstanding WRs per connection. */
  txDepth: number;
}

/**
 * A live migration of a guest (`cluster.migrate`), optionally with a
 * checked stream of 64 B RDMA WRITE WITH IMM messages between the guest and
 * another endpoint going on across it. A scenario with a migration runs
 * the Nomad layer in every domain's verbs library (`Cluster` option
 * `nomad`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type MigrateWorkload, parseScenario } from "./scenario.ts";
 * const s = await parseScenario(
 *   "hosts: [{name: x0, hypervisor: true}, {name: x1, hypervisor: true}, {name: m}]\n" +
 *     "guests: [{name: vm0, host: x0, mode: bypass}]\n" +
 *     "workload: [{migrate: vm0, to: x1, with: m}, {migrate: vm0, to: x0}]\n",
 *   "s.yaml",
 * );
 * const w = s.workload[0] as MigrateWorkload;
 * assert.deepEqual(w, {
 *   kind: "migrate",
 *   name: "migrate vm0 x0->x1",
 *   guest: "vm0",
 *   from: "x0",
 *   to: "x1",
 *   with: "m",
 *   size: 64, // the defaults
 *   rate: 10000,
 * });
 * assert.equal(s.workload[1].name, "migrate vm0 x1->x0"); // and back
 * ```
 */
export interface MigrateWorkload {
  kind: "migrate";
  /** Label (default `migrate <guest> <from>-><to>`). */
  name: string;
  /** The guest, where it runs when this entry starts, and where it goes. */
  guest: string;
  from: string;
  to: string;
  /** The other end of a stream across the move (none: the guest is idle). */
  with?: string;
  /** Stream message size, bytes (1..4096). */
  size: number;
  /** Stream messages per second, each way. */
  rate: number;
  /** Fault injection: the destination crashes in this phase (the entry then reports the failure). */
  crashDestination?: "pre-copy" | "stop-and-copy";
}

/**
 * One workload entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseScenario, type Workload } from "./scenario.ts";
 * // `kind` tells them apart; each has its own fields.
 * const peers = (w: Workload) =>
 *   w.kind === "perftest" ? w.between : w.kind === "alltoall" ? w.endpoints : [w.guest];
 * const s = await parseScenario(
 *   "hosts: [{name: a}, {name: b}, {name: c}]\n" +
 *     "workload: [{perftest: ib_read_bw, between: [c, a]}, {alltoall: [a, b, c]}]\n",
 *   "s.yaml",
 * );
 * assert.deepEqual(s.workload.map(peers), [["c", "a"], ["a", "b", "c"]]);
 * ```
 */
export type Workload = PerftestWorkload | AllToAllWorkload | MigrateWorkload;

/**
 * A validated scenario.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseScenario, type Scenario } from "./scenario.ts";
 * const text =
 *   "hosts:\n  - name: a\n  - name: b\n" +
 *   "workload:\n  - perftest: ib_write_lat\n    between: [a, b]\n";
 * const s: Scenario = await parseScenario(text, "s.yaml");
 * assert.equal(s.file, "s.yaml");
 * assert.deepEqual(s.hosts.map((h) => h.name), ["a", "b"]);
 * assert.deepEqual(s.guests, []);
 * assert.equal(s.seed, 1); // the defaults: seed 1, noise on, the paper's profile
 * assert.equal(s.noise, "on");
 * assert.equal(s.profile.name, "pcix-sdr-2006");
 * ```
 */
export interface Scenario {
  /** The file it came from. */
  file: string;
  /** Resolved profile. */
  profile: Profile;
  /** Seed. */
  seed: number;
  /** The profile's seeded noise model: on (the tools' default) or off (exact). */
  noise: "on" | "off";
  /** Hosts. */
  hosts: ScenarioHost[];
  /** Guests. */
  guests: ScenarioGuest[];
  /** Workloads, run in order. */
  workload: Workload[];
}

type Path = (string | number)[];

function show(path: Path): string {
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s ? `.${p}` : p;
  return s || "(top level)";
}

/** A value as the user wrote it: YAML's spelling for what JSON has none for (`.nan`, `.inf`). */
function given(v: unknown): string {
  if (typeof v === "number" && !Number.isFinite(v)) {
    return Number.isNaN(v) ? ".nan" : v > 0 ? ".inf" : "-.inf";
  }
  return JSON.stringify(v) ?? String(v);
}

class V {
  constructor(readonly y: LocatedYaml) {}
  fail(path: Path, detail: string): never {
    throw errorAt(this.y, path, `${show(path)}: ${detail}`);
  }
  mapping(v: unknown, path: Path, what: string): Record<string, unknown> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      this.fail(path, `must be a mapping (${what})`);
    }
    return v as Record<string, unknown>;
  }
  keys(o: Record<string, unknown>, path: Path, known: string[]): void {
    for (const k of Object.keys(o)) {
      if (!known.includes(k)) {
        this.fail([...path, k], `unknown key '${k}' (known: ${known.join(", ")})`);
      }
    }
  }
  list(v: unknown, path: Path): unknown[] {
    if (!Array.isArray(v)) this.fail(path, "must be a list");
    return v;
  }
  str(v: unknown, path: Path): string {
    if (typeof v !== "string" || v === "") this.fail(path, `must be a non-empty string`);
    return v;
  }
  /** A label printed in the results' headings: one line. */
  label(v: unknown, path: Path): string {
    const s = this.str(v, path);
    // deno-lint-ignore no-control-regex
    const c = /[\u0000-\u001f\u007f]/.exec(s);
    if (c) {
      this.fail(path, `must be one line (it holds ${JSON.stringify(c[0])}, a control character)`);
    }
    return s;
  }
  name(v: unknown, path: Path): string {
    const s = this.str(v, path);
    if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(s)) {
      this.fail(
        path,
        `'${s}' is not a valid name (letters, digits, _ . -; starting with a letter)`,
      );
    }
    return s;
  }
  bool(v: unknown, path: Path): boolean {
    if (typeof v !== "boolean") this.fail(path, `must be true or false (got ${given(v)})`);
    return v;
  }
  int(v: unknown, path: Path, min: number, max: number): number {
    if (typeof v !== "number" || !Number.isInteger(v)) {
      this.fail(path, `must be a whole number (got ${given(v)})`);
    }
    if (v < min || v > max) {
      this.fail(path, `${this.typed(path, v)} is out of range (${min}..${max})`);
    }
    return v;
  }
  /**
   * A number as the file spells it: 9007199254740993 is read as the double 9007199254740992,
   * 123456789012345678901234567890 as 1.2345678901234568e+29; the message quotes what was typed.
   */
  typed(path: Path, v: number): string {
    const node = this.y.doc.getIn(path, true);
    const src = isScalar(node) ? (node as { source?: unknown }).source : undefined;
    return typeof src === "string" && src !== "" ? src : String(v);
  }
}

const TOP_KEYS = [
  "name",
  "description",
  "profile",
  "seed",
  "noise",
  "hosts",
  "guests",
  "workload",
  "partitions",
];
const PARTITION_KEYS = ["pkey", "full", "limited"];
const HOST_KEYS = ["name", "hypervisor"];
const GUEST_KEYS = ["name", "host", "mode", "memoryMiB"];
/** Memory of a scenario's host, MiB: `Cluster.addHost`'s default (a scenario does not set it). */
const HOST_MEMORY_MIB = 4096;
const PERFTEST_KEYS = [
  "perftest",
  "name",
  "between",
  "size",
  "sizes",
  "all",
  "iterations",
  "connection",
  "mtu",
  "inline",
  "events",
  "txDepth",
  "qps",
  "atomicType",
  "reportGbits",
  "pkeyIndex",
];
const ALLTOALL_KEYS = ["alltoall", "name", "size", "iterations", "opcode", "txDepth"];
const MIGRATE_KEYS = ["migrate", "name", "to", "with", "size", "rate", "crashDestination"];

/** perftest flag (as named in a UsageError) → scenario key. */
const FLAG_KEYS: [string, string][] = [
  ["-s/--size", "size"],
  ["-a/--all", "all"],
  ["-n/--iters", "iterations"],
  ["-c/--connection", "connection"],
  ["-m/--mtu", "mtu"],
  ["-I/--inline_size", "inline"],
  ["-e/--events", "events"],
  ["-t/--tx-depth", "txDepth"],
  ["-q/--qp", "qps"],
  ["-A/--atomic_type", "atomicType"],
  ["--pkey_index", "pkeyIndex"],
];

/**
 * Parse and validate a scenario from YAML text. `dir` resolves a relative
 * profile file. Profile files are read (so this is async).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseScenario } from "./scenario.ts";
 * const s = await parseScenario(
 *   "hosts:\n  - {name: a}\n  - {name: b}\n" +
 *     "workload:\n  - perftest: ib_write_lat\n    between: [a, b]\n",
 *   "s.yaml",
 * );
 * assert.equal(s.workload[0].kind, "perftest");
 * assert.equal(s.profile.name, "pcix-sdr-2006");
 * // A mistake is reported at its file:line:column, naming the key.
 * await assert.rejects(
 *   parseScenario("hosts:\n  - {name: a, hypervisor: yes}\nworkload: []\n", "s.yaml"),
 *   { message: 's.yaml:2:15: hosts[0].hypervisor: must be true or false (got "yes")' },
 * );
 * ```
 */
export async function parseScenario(text: string, file: string, dir = "."): Promise<Scenario> {
  const y = parseYaml(text, file);
  const v: V = new V(y);
  const top = v.mapping(y.value, [], "profile:, seed:, hosts:, guests:, workload:");
  v.keys(top, [], TOP_KEYS);
  if (top.name !== undefined) v.label(top.name, ["name"]);
  if (top.description !== undefined) v.str(top.description, ["description"]);

  // Profile.
  let profile: Profile;
  // Only an absent key means the default: `profile: ~` (or `profile:` with nothing) is a key
  // given no value, refused as every other key's null is.
  const p = top.profile === undefined ? "pcix-sdr-2006" : top.profile;
  if (typeof p === "string") {
    if (/\.ya?ml$/i.test(p)) {
      const path = normalize(p.startsWith("/") ? p : `${dir}/${p}`);
      try {
        profile = await loadProfile(path);
      } catch (e) {
        if (e instanceof YamlInputError) throw e; // already file:line:col in the profile file
        if (!(e instanceof ProfileError)) throw e;
        if (e instanceof ProfileReadError && e.noPermission) {
          // tools/launch.ts grants a scenario's own directory (and below), not what is above it.
          v.fail(
            ["profile"],
            `cannot read ${path}: deno task run may read the scenario's directory and below, not ` +
              `this; put the profile there, or run tools/run.ts by hand with --allow-read=${path}`,
          );
        }
        v.fail(["profile"], e.message.replace(/^profile: /, ""));
      }
    } else {
      try {
        profile = resolveProfile(p);
      } catch (e) {
        v.fail(["profile"], (e as Error).message.replace(/^profile: /, ""));
      }
    }
  } else if (isMap(y.doc.get("profile", true))) {
    try {
      profile = resolveProfile(p as Record<string, unknown>);
    } catch (e) {
      if (!(e instanceof ProfileError)) throw e;
      const sub = e.path ? e.path.split(".") : [];
      v.fail(["profile", ...sub], e.message.replace(/^profile key '[^']*': |^profile: /, ""));
    }
  } else {
    v.fail(
      ["profile"],
      `must be a profile name, a FILE.yaml, or a mapping of profile groups (got ${given(p)})`,
    );
  }

  const seed = top.seed === undefined ? 1 : v.int(top.seed, ["seed"], 0, 2 ** 32 - 1);
  let noise: "on" | "off" = "on";
  if (top.noise !== undefined) {
    // YAML 1.2 reads on/off as strings; true/false are taken as on/off too.
    const n = top.noise === true ? "on" : top.noise === false ? "off" : v.str(top.noise, ["noise"]);
    if (n !== "on" && n !== "off") v.fail(["noise"], `'${n}' is not on or off`);
    noise = n as "on" | "off";
  }

  // Hosts.
  if (top.hosts === undefined) v.fail([], "missing key 'hosts' (a list of {name, hypervisor})");
  const names = new Map<string, string>(); // name -> "host" | "guest"
  const hosts: ScenarioHost[] = [];
  v.list(top.hosts, ["hosts"]).forEach((h, i) => {
    const o = v.mapping(h, ["hosts", i], "name:, hypervisor:");
    v.keys(o, ["hosts", i], HOST_KEYS);
    if (o.name === undefined) v.fail(["hosts", i], "missing key 'name'");
    const name = v.name(o.name, ["hosts", i, "name"]);
    if (names.has(name)) v.fail(["hosts", i, "name"], `duplicate name '${name}'`);
    names.set(name, "host");
    const hypervisor = o.hypervisor === undefined
      ? false
      : v.bool(o.hypervisor, ["hosts", i, "hypervisor"]);
    hosts.push({ name, hypervisor });
  });
  if (hosts.length === 0) v.fail(["hosts"], "needs at least one host");
  // The cluster cables every host to one switch of 254 ports (IBTA vol 1 §14.2.5.10: LFT entry
  // 255 is "no port"); the 255th host was unreachable and its perftest failed with RETRY_EXC_ERR.
  if (hosts.length > 254) {
    v.fail(["hosts", 254], `at most 254 hosts (one switch of 254 ports; got ${hosts.length})`);
  }

  // Guests.
  const guests: ScenarioGuest[] = [];
  if (top.guests !== undefined) {
    v.list(top.guests, ["guests"]).forEach((g, i) => {
      const path: Path = ["guests", i];
      const o = v.mapping(g, path, "name:, host:, mode:, memoryMiB:");
      v.keys(o, path, GUEST_KEYS);
      for (const k of ["name", "host", "mode"]) {
        if (o[k] === undefined) v.fail(path, `missing key '${k}'`);
      }
      const name = v.name(o.name, [...path, "name"]);
      if (names.has(name)) v.fail([...path, "name"], `duplicate name '${name}'`);
      const host = v.str(o.host, [...path, "host"]);
      const h = hosts.find((x) => x.name === host);
      if (!h) {
        v.fail(
          [...path, "host"],
          `unknown host '${host}' (hosts: ${hosts.map((x) => x.name).join(", ")})`,
        );
      }
      if (!h.hypervisor) {
        v.fail(
          [...path, "host"],
          `host '${host}' is bare metal (hypervisor: false); guests need a Xen host`,
        );
      }
      const mode = v.str(o.mode, [...path, "mode"]);
      if (mode !== "bypass" && mode !== "split") {
        v.fail([...path, "mode"], `'${mode}' is not a guest mode (bypass or split)`);
      }
      const memoryMiB = o.memoryMiB === undefined
        ? 64
        // A scenario's hosts have Cluster.addHost's 4096 MiB: a larger guest passed --check and
        // failed at run time ("more than the host's memory").
        : v.int(o.memoryMiB, [...path, "memoryMiB"], 16, HOST_MEMORY_MIB);
      names.set(name, "guest");
      guests.push({ name, host, mode, memoryMiB });
    });
  }

  const endpoint = (x: unknown, path: Path): string => {
    const s = v.str(x, path);
    if (!names.has(s)) {
      v.fail(path, `unknown endpoint '${s}' (hosts and guests: ${[...names.keys()].join(", ")})`);
    }
    return s;
  };

  // Workload.
  if (top.workload === undefined) v.fail([], "missing key 'workload' (a list of tests)");
  const workload: Workload[] = [];
  // Where each guest runs as the entries are read (a migration moves it for the next ones).
  const at = new Map(guests.map((g) => [g.name, g.host]));
  v.list(top.workload, ["workload"]).forEach((w, i) => {
    const path: Path = ["workload", i];
    const o = v.mapping(w, path, "perftest: …, alltoall: … or migrate: …");
    const kinds = ["perftest", "alltoall", "migrate"].filter((k) => k in o);
    if (kinds.length !== 1) {
      v.fail(path, "each workload entry needs exactly one of 'perftest', 'alltoall' or 'migrate'");
    }
    if (kinds[0] === "perftest") workload.push(perftestEntry(v, o, path, endpoint, seed));
    else if (kinds[0] === "alltoall") workload.push(alltoallEntry(v, o, path, endpoint));
    else workload.push(migrateEntry(v, o, path, endpoint, hosts, at));
  });
  if (workload.length === 0) v.fail(["workload"], "needs at least one entry");
  if (top.partitions !== undefined) {
    partitions(v, top.partitions, hosts, guests, workload, profile.hca.maxPkeys);
  }
  return { file, profile: profile!, seed, noise, hosts, guests, workload };
}

/**
 * `partitions:` (IBTA vol 1 §10.9, as OpenSM's partitions.conf): each entry a partition number
 * and its full and limited members, hosts or guests. A guest gets the P_Keys of its
 * memberships as its partitions (and no others); a host's ports get, after 0xffff, those of its
 * own memberships and of its guests' (and of guests that migrate to it), in the list's order.
 */
function partitions(
  v: V,
  list: unknown,
  hosts: ScenarioHost[],
  guests: ScenarioGuest[],
  workload: Workload[],
  maxPkeys: number,
): void {
  const hostKeys = new Map<string, number[]>(hosts.map((h) => [h.name, []]));
  // A host's ports hold 0xffff and its partitions' P_Keys in one table of the profile's
  // hca.maxPkeys entries (IBTA vol 1 §14.2.5.7, P_KeyTable; NodeInfo:PartitionCap): more was
  // refused only at run time ("the library could not create it"), after --check said ok.
  const fits = (host: string, at: Path) => {
    const n = hostKeys.get(host)!.filter((k) => k !== 0xffff).length + 1;
    if (n > maxPkeys) {
      v.fail(
        at,
        `host '${host}' would need ${n} P_Keys with the default: its P_Key table has ` +
          `${maxPkeys} entries (profile hca.maxPkeys)`,
      );
    }
  };
  const guestKeys = new Map<string, number[]>();
  const add = (m: Map<string, number[]>, name: string, k: number) => {
    const l = m.get(name) ?? [];
    if (!l.includes(k)) l.push(k);
    m.set(name, l);
  };
  const seen = new Set<number>();
  v.list(list, ["partitions"]).forEach((p, i) => {
    const path: Path = ["partitions", i];
    const o = v.mapping(p, path, "pkey:, full:, limited:");
    v.keys(o, path, PARTITION_KEYS);
    if (o.pkey === undefined) {
      v.fail(path, "missing key 'pkey' (the partition number, 0x0001..0x7fff)");
    }
    const pkey = v.int(o.pkey, [...path, "pkey"], 1, 0x7fff);
    if (seen.has(pkey)) v.fail([...path, "pkey"], `partition ${pkey} is listed twice`);
    seen.add(pkey);
    const members = new Set<string>();
    for (const [key, bit] of [["full", 0x8000], ["limited", 0]] as const) {
      if (o[key] === undefined) continue;
      v.list(o[key], [...path, key]).forEach((x, k) => {
        const at: Path = [...path, key, k];
        const name = v.str(x, at);
        if (members.has(name)) v.fail(at, `'${name}' is listed twice in this partition`);
        members.add(name);
        const g = guests.find((y) => y.name === name);
        if (!g && !hostKeys.has(name)) {
          v.fail(
            at,
            `unknown member '${name}' (hosts and guests: ${
              [...hostKeys.keys(), ...guests.map((y) => y.name)].join(", ")
            })`,
          );
        }
        const P = pkey | bit;
        if (g) {
          add(guestKeys, name, P);
          add(hostKeys, g.host, P);
        } else add(hostKeys, name, P);
        fits(g ? g.host : name, at);
      });
    }
  });
  // A guest that moves takes its partitions along: the destination's ports need them too.
  workload.forEach((w, i) => {
    const keys = w.kind === "migrate" ? guestKeys.get(w.guest) : undefined;
    if (w.kind === "migrate" && keys) {
      for (const k of keys) add(hostKeys, w.to, k);
      fits(w.to, ["workload", i, "to"]);
    }
  });
  for (const h of hosts) {
    const keys = hostKeys.get(h.name)!.filter((k) => k !== 0xffff);
    if (keys.length > 0) h.pkeys = keys;
  }
  for (const g of guests) {
    const keys = guestKeys.get(g.name);
    if (keys) g.pkeys = keys;
  }
}

function perftestEntry(
  v: V,
  o: Record<string, unknown>,
  path: Path,
  endpoint: (x: unknown, p: Path) => string,
  seed: number,
): PerftestWorkload {
  v.keys(o, path, PERFTEST_KEYS);
  const test = v.str(o.perftest, [...path, "perftest"]);
  if (!Object.hasOwn(PERFTEST_TESTS, test)) {
    v.fail(
      [...path, "perftest"],
      `unknown test '${test}' (one of ${Object.keys(PERFTEST_TESTS).join(", ")})`,
    );
  }
  if (o.between === undefined) v.fail(path, "missing key 'between' (two endpoints)");
  const btw = v.list(o.between, [...path, "between"]);
  if (btw.length !== 2) {
    v.fail([...path, "between"], `needs exactly two endpoints (got ${btw.length})`);
  }
  const a = endpoint(btw[0], [...path, "between", 0]);
  const b = endpoint(btw[1], [...path, "between", 1]);
  if (a === b) v.fail([...path, "between", 1], `the two endpoints must differ (both '${a}')`);
  if (o.size !== undefined && o.sizes !== undefined) {
    v.fail([...path, "sizes"], "give either 'size' or 'sizes', not both");
  }
  const argv: string[] = [];
  const num = (k: string, flag: string) => {
    if (o[k] === undefined) return;
    if (typeof o[k] !== "number" || !Number.isInteger(o[k])) {
      v.fail([...path, k], `must be a whole number (got ${given(o[k])})`);
    }
    argv.push(flag, String(o[k]));
  };
  const flag = (k: string, f: string) => {
    if (o[k] !== undefined && v.bool(o[k], [...path, k])) argv.push(f);
  };
  if (o.size !== undefined) {
    if (typeof o.size !== "string" && !(typeof o.size === "number" && Number.isFinite(o.size))) {
      v.fail([...path, "size"], `must be a size in bytes (got ${given(o.size)})`);
    }
    argv.push("-s", String(strictSize(v, o.size, [...path, "size"])));
  }
  num("iterations", "-n");
  if (o.connection !== undefined) argv.push("-c", v.str(o.connection, [...path, "connection"]));
  num("mtu", "-m");
  if (o.mtu !== undefined && !IBA_MTUS.includes(o.mtu as number)) {
    // perftest would warn and run at the port's MTU; a scenario file says what it means.
    v.fail([...path, "mtu"], `invalid MTU ${o.mtu} (choose from ${IBA_MTUS.join(", ")})`);
  }
  num("inline", "-I");
  num("txDepth", "-t");
  num("qps", "-q");
  num("pkeyIndex", "--pkey_index");
  if (o.atomicType !== undefined) argv.push("-A", v.str(o.atomicType, [...path, "atomicType"]));
  flag("events", "-e");
  flag("all", "-a");
  flag("reportGbits", "--report_gbits");
  argv.push("--seed", String(seed));
  let config: PerftestConfig;
  try {
    config = parsePerftestArgs(argv, test as TestName);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    const hit = FLAG_KEYS.find(([f]) => e.message.startsWith(f));
    const key = hit?.[1] ?? "perftest";
    const detail = hit ? e.message.slice(hit[0].length).replace(/^:?\s*/, "") : e.message;
    v.fail([...path, key in o ? key : "perftest"], detail);
  }
  if (o.sizes !== undefined) {
    const list = v.list(o.sizes, [...path, "sizes"]);
    if (list.length === 0) v.fail([...path, "sizes"], "needs at least one size");
    if (o.all === true) v.fail([...path, "sizes"], "give either 'all' or 'sizes', not both");
    config.sizes = list.map((s, k) => {
      if (typeof s !== "string" && !(typeof s === "number" && Number.isFinite(s))) {
        v.fail([...path, "sizes", k], `must be a size in bytes (got ${given(s)})`);
      }
      try {
        const n = parseSize(String(strictSize(v, s, [...path, "sizes", k])));
        if (config.verb === "atomic" && n !== LIMITS.atomicSize) {
          throw new UsageError("message size cannot be changed for Atomic tests");
        }
        return n;
      } catch (e) {
        v.fail([...path, "sizes", k], (e as Error).message.replace(/^-s\/--size:\s*/, ""));
      }
    });
  }
  const name = o.name === undefined ? `${test} ${a}<->${b}` : v.label(o.name, [...path, "name"]);
  return { kind: "perftest", name, between: [a, b], config };
}

function alltoallEntry(
  v: V,
  o: Record<string, unknown>,
  path: Path,
  endpoint: (x: unknown, p: Path) => string,
): AllToAllWorkload {
  v.keys(o, path, ALLTOALL_KEYS);
  const eps = v.list(o.alltoall, [...path, "alltoall"]);
  if (eps.length < 2) {
    v.fail([...path, "alltoall"], `needs at least two endpoints (got ${eps.length})`);
  }
  const endpoints = eps.map((e, k) => endpoint(e, [...path, "alltoall", k]));
  endpoints.forEach((e, k) => {
    if (endpoints.indexOf(e) !== k) {
      v.fail([...path, "alltoall", k], `endpoint '${e}' listed twice`);
    }
  });
  let size = 4096;
  if (o.size !== undefined) {
    if (typeof o.size !== "string" && !(typeof o.size === "number" && Number.isFinite(o.size))) {
      v.fail([...path, "size"], `must be a size in bytes (got ${given(o.size)})`);
    }
    // strictSize fails at the key itself; only parseSize's message is given a place here.
    const raw = String(strictSize(v, o.size, [...path, "size"]));
    try {
      size = parseSize(raw);
    } catch (e) {
      v.fail([...path, "size"], (e as Error).message.replace(/^-s\/--size:\s*/, ""));
    }
    if (size > 64 * 1048576) {
      v.fail([...path, "size"], `${size} is too large for all-to-all (max 64M)`);
    }
  }
  const iterations = o.iterations === undefined
    ? 100
    : v.int(o.iterations, [...path, "iterations"], 1, 1_000_000);
  let opcode: AllToAllWorkload["opcode"] = "write";
  if (o.opcode !== undefined) {
    const s = v.str(o.opcode, [...path, "opcode"]);
    const map: Record<string, AllToAllWorkload["opcode"]> = {
      write: "write",
      RDMA_WRITE: "write",
      send: "send",
      SEND: "send",
      read: "read",
      RDMA_READ: "read",
    };
    // Own keys only: 'toString' or 'constructor' found Object.prototype's member and passed.
    if (!Object.hasOwn(map, s)) {
      v.fail([...path, "opcode"], `'${s}' is not an opcode (write, send or read)`);
    }
    opcode = map[s];
  }
  const txDepth = o.txDepth === undefined ? 16 : v.int(o.txDepth, [...path, "txDepth"], 1, 4096);
  const name = o.name === undefined
    ? `alltoall ${opcode} ${endpoints.join(",")}`
    : v.label(o.name, [...path, "name"]);
  return { kind: "alltoall", name, endpoints, size, iterations, opcode, txDepth };
}

function migrateEntry(
  v: V,
  o: Record<string, unknown>,
  path: Path,
  endpoint: (x: unknown, p: Path) => string,
  hosts: ScenarioHost[],
  at: Map<string, string>,
): MigrateWorkload {
  v.keys(o, path, MIGRATE_KEYS);
  const guest = v.str(o.migrate, [...path, "migrate"]);
  const from = at.get(guest);
  if (from === undefined) {
    v.fail(
      [...path, "migrate"],
      `'${guest}' is not a guest (guests: ${[...at.keys()].join(", ") || "none"})`,
    );
  }
  if (o.to === undefined) v.fail(path, "missing key 'to' (the Xen host to move it to)");
  const to = v.str(o.to, [...path, "to"]);
  const host = hosts.find((h) => h.name === to);
  if (!host) {
    v.fail([...path, "to"], `unknown host '${to}' (hosts: ${hosts.map((h) => h.name).join(", ")})`);
  }
  if (!host.hypervisor) {
    v.fail([...path, "to"], `host '${to}' is bare metal; guests move to Xen hosts`);
  }
  if (to === from) v.fail([...path, "to"], `'${guest}' already runs on '${to}' at this point`);
  let peer: string | undefined;
  if (o.with !== undefined) {
    peer = endpoint(o.with, [...path, "with"]);
    if (peer === guest) {
      v.fail([...path, "with"], "the stream needs another endpoint than the guest");
    }
  }
  const size = o.size === undefined ? 64 : v.int(o.size, [...path, "size"], 1, 4096);
  const rate = o.rate === undefined ? 10_000 : v.int(o.rate, [...path, "rate"], 1, 200_000);
  if ((o.size !== undefined || o.rate !== undefined) && peer === undefined) {
    v.fail(
      [...path, o.size !== undefined ? "size" : "rate"],
      "a stream needs 'with' (its other end)",
    );
  }
  let crash: MigrateWorkload["crashDestination"];
  if (o.crashDestination !== undefined) {
    const c = v.str(o.crashDestination, [...path, "crashDestination"]);
    if (c !== "pre-copy" && c !== "stop-and-copy") {
      v.fail([...path, "crashDestination"], `'${c}' is not a phase (pre-copy or stop-and-copy)`);
    }
    crash = c;
  } else at.set(guest, to);
  const name = o.name === undefined
    ? `migrate ${guest} ${from}->${to}`
    : v.label(o.name, [...path, "name"]);
  return {
    kind: "migrate",
    name,
    guest,
    from: from!,
    to,
    ...(peer === undefined ? {} : { with: peer }),
    size,
    rate,
    ...(crash === undefined ? {} : { crashDestination: crash }),
  };
}

/** An absolute path without its `.` and `..` parts (no file system access). */
function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/**
 * A size as a scenario file writes it: bytes, or with K or M (perftest's
 * strtol would read '64Q' as 64; a file should say what it means).
 */
function strictSize(v: V, x: unknown, path: Path): string | number {
  if (typeof x === "number" || (typeof x === "string" && /^\s*[0-9]+[KM]?\s*$/.test(x))) return x;
  return v.fail(path, `'${x}' is not a size (bytes, or with K or M)`);
}

/**
 * Read and validate a scenario file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadScenario } from "./scenario.ts";
 * // A relative name is read from where the user ran the task (INIT_CWD).
 * const s = await loadScenario(new URL("../examples/two_guests.yaml", import.meta.url).pathname);
 * assert.deepEqual(s.guests.map((g) => `${g.name}@${g.host} ${g.mode}`), [
 *   "vm0@xen0 bypass",
 *   "vm1@xen1 bypass",
 * ]);
 * assert.deepEqual(s.workload.map((w) => w.kind), ["perftest", "perftest", "alltoall"]);
 * await assert.rejects(loadScenario("/nonexistent/s.yaml"), {
 *   message: "/nonexistent/s.yaml: no such scenario file (looked for /nonexistent/s.yaml)",
 * });
 * await assert.rejects(loadScenario(""), { message: "the scenario: empty file name" });
 * ```
 */
export async function loadScenario(file: string): Promise<Scenario> {
  let text: string;
  // Relative to where the user ran the task; messages keep the name as given.
  const full = userFile(file, "the scenario");
  try {
    text = await Deno.readTextFile(full);
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) {
      throw new UsageError(
        `${file}: cannot read the scenario: no read permission (deno task run grants the file it is given; ` +
          `running the script by hand, add --allow-read=${full})`,
      );
    }
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(`${file}: no such scenario file (looked for ${full})`);
    }
    throw new UsageError(`${file}: cannot read the scenario (${(e as Error).message})`);
  }
  const dir = full.slice(0, full.lastIndexOf("/")) || "/";
  return await parseScenario(text, file, dir);
}

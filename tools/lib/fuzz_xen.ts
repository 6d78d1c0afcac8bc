/**
 * The hypervisor-facing kinds of `deno task fuzz`: what a hostile guest can
 * do to Xen and to its own shared structures.
 *
 * - `grant`: raw 8-byte writes into its own grant table (any ref, reserved
 *   ones and the live ring grants included; any flags, domid, frame), then
 *   a registration naming the forged entry, so dom0 maps it.
 * - `hypercall`: any hypercall name with random argument blocks built from
 *   numbers it can see or guess (domids, ports, refs, handles, frames, grant
 *   copy sides naming its own or the victim's refs and frames, VIRQs, vCPUs).
 * - `evtchn`: event-channel operations on guessed ports: sends and floods,
 *   closes, unmasks, binds to dom0's and the victim's ports, VIRQ binds, and
 *   an IPI port of its own with a flood of sends to itself.
 * - `xenstore`: reads, writes, removals, permission changes and watches on
 *   its own nodes (xenbus state, ring refs), dom0's, the victim's, and
 *   random paths.
 *
 * A refusal is an errno, never a JS exception, and the victim never notices
 * (DESIGN §9 invariants 5 and 7).
 *
 * @module
 */
import { DOMID_SELF } from "../../hypervisor/args.ts";
import {
  encodeGrantEntry,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_writing,
} from "../../hypervisor/grant_table.ts";
import { HYPERCALLS } from "../../hypervisor/hypervisor.ts";
import { VibOp } from "../../drivers/vib/mod.ts";
import type { Prng } from "../../sim/prng.ts";
import { exchange, interesting, statusLabel } from "./fuzz_ring.ts";
import { FUZZ_ACCESS } from "./fuzz_device.ts";
import type { FuzzAttacker, FuzzWorld } from "./fuzz_world.ts";

function pick<T>(rng: Prng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

/** The errno name of a refusal thrown by the hypervisor or xenstore (`XenError.code`). */
function codeOf(e: unknown): string {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === "string") return code;
  throw e;
}

/**
 * One `grant` attack.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FuzzWorld } from "./fuzz_world.ts";
 * import { grantAttack } from "./fuzz_xen.ts";
 * const w = await FuzzWorld.build(5);
 * const o = await w.cluster.run(async () => {
 *   await w.populate();
 *   return await grantAttack(w, w.attackers[0]);
 * });
 * assert.match(o, /^entry (written|refused)/);
 * ```
 */
export async function grantAttack(w: FuzzWorld, a: FuzzAttacker): Promise<string> {
  const rng = w.rng;
  const g = a.vm.grants;
  const ref = rng.chance(0.4) ? pick(rng, [...a.ringRefs, 8 + rng.int(48)]) : rng.int(g.size);
  const memPages = a.vm.space.pages;
  const ownPfn = Math.floor(a.end.buf / 4096) + rng.int(4);
  const frame = pick(rng, [
    ownPfn,
    rng.int(memPages),
    memPages + rng.int(1024),
    Math.floor(a.end.ctx.file.uarAddr / 4096),
    0,
    rng.nextU32(),
  ]);
  const flags = rng.chance(0.7)
    ? GTF_permit_access | (rng.chance(0.3) ? GTF_readonly : 0) |
      (rng.chance(0.1) ? GTF_reading : 0) | (rng.chance(0.1) ? GTF_writing : 0)
    : rng.int(1 << 16);
  const domid = pick(rng, [0, 0, 0, w.victim.vm.domid!, a.vm.domid!, rng.int(1 << 16)]);
  const entry = rng.chance(0.15)
    ? new Uint8Array(8).map(() => rng.int(256))
    : encodeGrantEntry({ flags, domid, frame });
  try {
    a.vm.memory.write(g.entryAddr(ref), entry);
  } catch (e) {
    return `entry refused by the guest's memory (${(e as Error).name})`;
  }
  if (rng.chance(0.3)) return "entry written";
  // Now have dom0 map it: a one-page registration naming the forged ref.
  const access = rng.chance(0.5) ? FUZZ_ACCESS : 0;
  const r = await exchange(w, a, {
    op: VibOp.REG_MR,
    flags: 0,
    ctx: a.ctxId,
    handle: a.end.pd.handle,
    body: { addr: ownPfn * 4096, length: 4096, access, nrPages: 1 },
    segs: [ref],
  });
  if (r?.status === 0) {
    // Registered over whatever frame the entry named (its own, or the map would have failed):
    // deregistered at once, so the campaign does not pile regions up.
    await exchange(w, a, {
      op: VibOp.DEREG_MR,
      flags: 0,
      ctx: a.ctxId,
      handle: Number(r.body.mrHandle),
      body: {},
      segs: [],
    });
  }
  return `entry written, REG_MR ${r ? statusLabel(r.status) : "disconnected"}`;
}

/** Numbers of the hypercall vocabulary, by argument name. */
function argValue(w: FuzzWorld, a: FuzzAttacker, rng: Prng, name: string): unknown {
  const me = a.vm.domid!, victim = w.victim.vm.domid!;
  switch (name) {
    case "domid":
    case "dom":
    case "remoteDom":
      return pick(rng, [DOMID_SELF, me, victim, 0, rng.int(1 << 15), -1, 1.5, "0", undefined]);
    case "port":
    case "remotePort":
      return pick(rng, [
        a.vm.front.port,
        w.victim.vm.front.port,
        1 + rng.int(64),
        rng.nextU32(),
        -1,
      ]);
    case "pirq":
      return rng.int(40);
    case "ref":
      return pick(rng, [...a.ringRefs, 8 + rng.int(64), rng.nextU32(), -3]);
    case "handle":
      return pick(rng, [rng.int(32), rng.nextU32(), -1, "1"]);
    case "handles":
      return rng.chance(0.2) ? "x" : Array.from({ length: 1 + rng.int(4) }, () => rng.int(64));
    case "ops":
      // Map ops, or copy ops (grant_table_op:copy reads `source`, `dest`, `len`, `flags`).
      return rng.chance(0.2) ? {} : Array.from({ length: 1 + rng.int(4) }, () => ({
        domid: argValue(w, a, rng, "domid"),
        ref: argValue(w, a, rng, "ref"),
        readonly: rng.chance(0.5),
        source: argValue(w, a, rng, "copySide"),
        dest: argValue(w, a, rng, "copySide"),
        len: pick(rng, [0, 1 + rng.int(4096), 4097, 65536, -1]),
        flags: rng.int(4),
      }));
    case "copySide":
      // One side of a gnttab_copy: a grant ref of its own, of the victim or guessed, or a
      // frame: its own, the victim's (named with either domid), or guessed.
      return {
        ref: argValue(w, a, rng, "ref"),
        gmfn: pick(rng, [
          Math.floor(a.end.buf / 4096),
          Math.floor(w.victim.end.buf / 4096),
          Math.floor(w.victim.vm.space.translate(w.victim.end.buf) / 4096),
          rng.nextU32(),
        ]),
        domid: argValue(w, a, rng, "domid"),
        offset: pick(rng, [0, rng.int(4096), 4095, 4096, -1]),
      };
    case "virq":
      // VIRQ_DOM_EXC (3) is the one the model raises; the rest of 0..23 and beyond.
      return pick(rng, [3, rng.int(24), 24, rng.nextU32(), -1]);
    case "vcpu":
      return pick(rng, [0, 0, 1, rng.nextU32(), -1]);
    case "mfn":
      return pick(rng, [
        w.xen.hw.hca.uarMfn(a.end.ctx.file.uarIndex),
        w.xen.hw.hca.uarMfn(w.victim.end.ctx.file.uarIndex),
        w.xen.hw.hca.uarMfn(0),
        Math.floor(w.victim.vm.space.translate(w.victim.end.buf) / 4096),
        rng.nextU32(),
      ]);
    case "add":
    case "readonly":
      return pick(rng, [true, false, 1, "yes"]);
    case "reason":
      return pick(rng, ["poweroff", "crash", "reboot", 3]);
    case "name":
    case "memoryBytes":
      return pick(rng, ["x", 1 << 20, -1]);
    default:
      return interesting(rng, 4);
  }
}

const ARG_NAMES = [
  "domid",
  "dom",
  "remoteDom",
  "port",
  "remotePort",
  "pirq",
  "ref",
  "handle",
  "handles",
  "ops",
  "mfn",
  "add",
  "readonly",
  "reason",
  "name",
  "memoryBytes",
  "virq",
  "vcpu",
];

/** A random argument block: mostly an object of vocabulary keys, sometimes not an object at all. */
function argBlock(w: FuzzWorld, a: FuzzAttacker, keys: readonly string[]): unknown {
  const rng = w.rng;
  if (rng.chance(0.05)) return pick(rng, [undefined, null, 7, "args", [1, 2]]);
  const out: Record<string, unknown> = {};
  for (const k of keys) if (rng.chance(0.7)) out[k] = argValue(w, a, rng, k);
  if (rng.chance(0.2)) out[pick(rng, ARG_NAMES)] = argValue(w, a, rng, pick(rng, ARG_NAMES));
  return out;
}

/**
 * Make hypercall `name` as attacker `a`; its outcome label (`rc OK`,
 * `rc EPERM`, …). A call that closed its own device channel marks it
 * `tampered` (see {@link closesOwnChannel}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FuzzWorld } from "./fuzz_world.ts";
 * import { attackerHypercall } from "./fuzz_xen.ts";
 * const w = await FuzzWorld.build(5);
 * await w.cluster.run(async () => {
 *   await w.populate();
 *   const a = w.attackers[0];
 *   assert.equal(await attackerHypercall(w, a, "event_channel_op:send", { port: 4095 }), "rc EINVAL");
 *   assert.equal(a.tampered, false);
 *   assert.equal(await attackerHypercall(w, a, "event_channel_op:close", { port: a.vm.front.port }), "rc OK");
 *   assert.equal(a.tampered, true);
 * });
 * ```
 */
export async function attackerHypercall(
  w: FuzzWorld,
  a: FuzzAttacker,
  name: string,
  args: unknown,
): Promise<string> {
  const r = await w.hv.hypercall(a.vm.xen, name, args);
  if (r.rc === 0 && closesOwnChannel(a, name, args)) a.tampered = true;
  if (r.rc === 0) return "rc OK";
  return `rc ${statusLabel(r.rc).replace("answered ", "")}`;
}

/**
 * Whether a hypercall that succeeded closed the attacker's own end of its
 * device channel (`EVTCHNOP_close` of the frontend's port, or
 * `EVTCHNOP_reset` of its own table). Sending on a closed port fails and
 * the frontend drops the device; but the port number is free again, and
 * Xen's `get_free_port` hands out the lowest free one, so a later
 * `EVTCHNOP_alloc_unbound` of its own takes the frontend's port back as an
 * unbound port: sends then succeed and go nowhere (`evtchn_send` drops
 * them), and its next request waits for a backend that is never told. That
 * hang is the guest's own doing, as when it scribbles on its ring's event
 * indices.
 */
function closesOwnChannel(a: FuzzAttacker, name: string, args: unknown): boolean {
  // A guest may reset only its own table (xsm_evtchn_reset): a reset that succeeded was its own.
  if (name === "event_channel_op:reset") return true;
  if (name !== "event_channel_op:close") return false;
  return (args as { port?: unknown } | undefined)?.port === a.vm.front.port;
}

/**
 * One `hypercall` attack.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FuzzWorld } from "./fuzz_world.ts";
 * import { hypercallAttack } from "./fuzz_xen.ts";
 * const w = await FuzzWorld.build(5);
 * const o = await w.cluster.run(async () => {
 *   await w.populate();
 *   return await hypercallAttack(w, w.attackers[0]);
 * });
 * assert.match(o, /^rc /);
 * ```
 */
export async function hypercallAttack(w: FuzzWorld, a: FuzzAttacker): Promise<string> {
  const rng = w.rng;
  let name: string = rng.chance(0.05)
    ? pick(rng, ["", "memory_op:increase", "x"])
    : pick(rng, HYPERCALLS);
  // Shutting itself down is its right; keep it rare, it costs a new guest.
  // So is closing all its ports at once (the device goes with its channel); as rare.
  if (
    (name === "sched_op:shutdown" || name === "event_channel_op:reset") && !rng.chance(0.1)
  ) name = "memory_op:current_reservation";
  return await attackerHypercall(
    w,
    a,
    name,
    argBlock(w, a, pick(rng, [ARG_NAMES, ["domid", "ref", "readonly"]])),
  );
}

/**
 * One `evtchn` attack.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FuzzWorld } from "./fuzz_world.ts";
 * import { evtchnAttack } from "./fuzz_xen.ts";
 * const w = await FuzzWorld.build(5);
 * const o = await w.cluster.run(async () => {
 *   await w.populate();
 *   return await evtchnAttack(w, w.attackers[0]);
 * });
 * assert.match(o, /: rc /);
 * ```
 */
export async function evtchnAttack(w: FuzzWorld, a: FuzzAttacker): Promise<string> {
  const rng = w.rng;
  const port = () => argValue(w, a, rng, "port");
  switch (rng.int(9)) {
    case 7:
      return `bind_virq: ${await attackerHypercall(w, a, "event_channel_op:bind_virq", {
        virq: argValue(w, a, rng, "virq"),
        vcpu: argValue(w, a, rng, "vcpu"),
      })}`;
    case 8: {
      // An IPI port of its own, then a flood of notifications to itself on it.
      const r = await w.hv.hypercall(a.vm.xen, "event_channel_op:bind_ipi", {
        vcpu: argValue(w, a, rng, "vcpu"),
      });
      if (r.rc !== 0) return `bind_ipi: rc ${statusLabel(r.rc).replace("answered ", "")}`;
      const p = r.value as number;
      let last = "";
      for (let i = 1 + rng.int(32); i > 0; i--) {
        last = await attackerHypercall(w, a, "event_channel_op:send", { port: p });
      }
      return `bind_ipi, self-send flood: ${last}`;
    }
    case 0: {
      // A flood of notifications to dom0 (or to whatever the port is).
      const n = 1 + rng.int(64);
      const p = rng.chance(0.7) ? a.vm.front.port : port();
      let last = "";
      for (let i = 0; i < n; i++) {
        last = await attackerHypercall(w, a, "event_channel_op:send", { port: p });
      }
      return `send flood: ${last}`;
    }
    case 1:
      return `send: ${await attackerHypercall(w, a, "event_channel_op:send", { port: port() })}`;
    case 2:
      // Closing its own backend channel is its right (the device goes); keep it rare.
      return `close: ${await attackerHypercall(w, a, "event_channel_op:close", {
        port: rng.chance(0.2) ? port() : 1000 + rng.int(1000),
      })}`;
    case 3:
      return `unmask: ${await attackerHypercall(w, a, "event_channel_op:unmask", {
        port: port(),
      })}`;
    case 4:
      return `status: ${await attackerHypercall(w, a, "event_channel_op:status", {
        dom: argValue(w, a, rng, "dom"),
        port: port(),
      })}`;
    case 5:
      return `bind_interdomain: ${await attackerHypercall(
        w,
        a,
        "event_channel_op:bind_interdomain",
        {
          remoteDom: pick(rng, [0, w.victim.vm.domid!, a.vm.domid!]),
          remotePort: port(),
        },
      )}`;
    default:
      return `alloc_unbound: ${await attackerHypercall(w, a, "event_channel_op:alloc_unbound", {
        dom: pick(rng, [DOMID_SELF, w.victim.vm.domid!, 0]),
        remoteDom: pick(rng, [0, w.victim.vm.domid!]),
      })}`;
  }
}

/**
 * One `xenstore` attack.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FuzzWorld } from "./fuzz_world.ts";
 * import { xenstoreAttack } from "./fuzz_xen.ts";
 * const w = await FuzzWorld.build(5);
 * const o = await w.cluster.run(async () => {
 *   await w.populate();
 *   return await xenstoreAttack(w, w.attackers[0]);
 * });
 * assert.match(o, /^(read|write|rm|mkdir|directory|setPerms|watch) /);
 * ```
 */
export async function xenstoreAttack(w: FuzzWorld, a: FuzzAttacker): Promise<string> {
  const rng = w.rng;
  const xs = w.hv.xenstore;
  const me = a.vm.domid!, victim = w.victim.vm.domid!;
  const targets: [string, string][] = [
    [
      "own frontend",
      `/local/domain/${me}/device/vib/0/${
        pick(rng, ["state", "ring-ref", "event-ring-ref", "event-channel", "x"])
      }`,
    ],
    ["own home", `/local/domain/${me}/${pick(rng, ["data", "name", "a/b/c"])}`],
    [
      "its backend",
      `/local/domain/0/backend/vib/${me}/0/${pick(rng, ["state", "mode", "device-name"])}`,
    ],
    ["the victim's", `/local/domain/${victim}/device/vib/0/${pick(rng, ["state", "ring-ref"])}`],
    ["the victim's backend", `/local/domain/0/backend/vib/${victim}/0/state`],
    ["dom0's", `/local/domain/0/${pick(rng, ["name", "x"])}`],
    [
      "elsewhere",
      pick(rng, [
        "/",
        "/tool",
        "//x",
        "/local/domain/../0",
        "rel/path",
        "/a\u0000b",
        `/x/${"y".repeat(rng.int(3000))}`,
      ]),
    ],
  ];
  const [where, path] = pick(rng, targets);
  // What a frontend would write to its nodes, and garbage.
  const value = pick(rng, [
    "1",
    "3",
    "4",
    "5",
    "6",
    "0",
    "-1",
    "abc",
    "99999999999",
    "x".repeat(rng.int(5000)),
  ]);
  const op = pick(rng, ["read", "write", "write", "rm", "mkdir", "directory", "setPerms", "watch"]);
  // Closing its own device is its right; keep it rare (a new guest each time).
  if (where === "own frontend" && op === "write" && /state$/.test(path) && !rng.chance(0.2)) {
    return `read ${where}: ${tryXs(() => xs.read(me, path))}`;
  }
  let r: string;
  switch (op) {
    case "read":
      r = tryXs(() => xs.read(me, path));
      break;
    case "write":
      r = tryXs(() => xs.write(me, path, value));
      break;
    case "rm":
      r = tryXs(() => xs.rm(me, path));
      break;
    case "mkdir":
      r = tryXs(() => xs.mkdir(me, path));
      break;
    case "directory":
      r = tryXs(() => xs.directory(me, path));
      break;
    case "setPerms":
      r = tryXs(() =>
        xs.setPerms(me, path, [{
          domid: pick(rng, [me, 0, victim]),
          perm: pick(rng, ["n", "r", "w", "b"]),
        }])
      );
      break;
    default:
      r = tryXs(() => xs.watch(me, path, `t${rng.int(1000)}`, () => {}));
  }
  // Let the backend react to whatever changed.
  await w.cluster.engine.sleep(50_000);
  return `${op} ${where}: ${r}`;
}

function tryXs(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    return codeOf(e);
  }
}

/**
 * What `mpirun` does before the program runs: build a cluster for the
 * chosen mode and place the ranks on domains.
 *
 * - `native`: bare-metal hosts; ranks run in each host's OS.
 * - `bypass` / `split`: Xen hosts with `guestsPerHost` guests each (driver
 *   `bypass` or `split`); ranks run in the guests.
 *
 * Ranks fill slots (host OSes, or guests in host order) by `block` (ranks
 * 0..k−1 on the first slot, as `mpirun_rsh` with a host file) or `cyclic`
 * (round robin over the hosts). Several ranks may share a slot.
 *
 * @module
 */
import { Cluster, type Domain, type Host } from "../platform/mod.ts";
import type { Profile } from "../sim/profiles/mod.ts";
import { MpiError } from "./errors.ts";
import {
  checkMoves,
  type JobOptions,
  type JobResult,
  type MpiMain,
  type PlannedMigration,
  runJob,
} from "./job.ts";

/**
 * How the job is laid out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { LaunchOptions } from "./launch.ts";
 * const o: LaunchOptions = { np: 16, mode: "bypass", hosts: 8, guestsPerHost: 2 };
 * assert.equal(o.np, 16);
 * ```
 */
export interface LaunchOptions {
  /** Number of ranks. */
  np: number;
  /** Where ranks run. */
  mode: "native" | "bypass" | "split";
  /** Hosts (default: np for native, ⌈np / guestsPerHost⌉ otherwise). */
  hosts?: number;
  /** Guests per Xen host (bypass and split; default 1). */
  guestsPerHost?: number;
  /** Rank placement over slots (default block). */
  map?: "block" | "cyclic";
  /** Cost profile: built-in name, a Profile, or overrides with `base` (default pcix-sdr-2006). */
  profile?: string | Profile | Record<string, unknown>;
  /** Seed of the cluster's PRNG (default 1). */
  seed?: number;
  /** Memory of each guest, MiB (default 512). */
  guestMemoryMiB?: number;
  /** The profile's seeded noise model: "off" (the library's default: exact) or "on". */
  noise?: "on" | "off";
  /**
   * Live-migrate rank `rank`'s guest `atNs` of virtual time after the job
   * starts, each move to a Xen host of its own added for it (`spare0`,
   * `spare1`, …); the cluster then runs Nomad's layer in every domain.
   * Bypass and split only (a bare-metal OS does not move).
   */
  migrate?: readonly { rank: number; atNs: number }[];
}

/**
 * Where one rank runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RankPlace } from "./launch.ts";
 * const p: RankPlace = { rank: 3, host: "node1", domain: "node1-vm1" };
 * assert.equal(p.host, "node1");
 * ```
 */
export interface RankPlace {
  /** World rank. */
  rank: number;
  /** Host name. */
  host: string;
  /** Domain name (host OS or guest). */
  domain: string;
}

/**
 * A built cluster with ranks placed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { launch } from "./launch.ts";
 * const l = await launch({ np: 3, mode: "native", hosts: 2, map: "cyclic" });
 * assert.deepEqual(l.hosts.map((h) => h.name), ["node0", "node1"]);
 * assert.deepEqual(l.placement.map((p) => p.host), ["node0", "node1", "node0"]);
 * ```
 */
export interface Launched {
  /** The started cluster. */
  cluster: Cluster;
  /** The hosts. */
  hosts: Host[];
  /** Domain of each rank. */
  domains: Domain[];
  /** Placement of each rank. */
  placement: RankPlace[];
  /** {@link LaunchOptions.migrate} with each move's destination (a spare host); for `runJob`. */
  plannedMigrations: PlannedMigration[];
}

/**
 * Slot index of each rank.
 *
 * @throws MpiError MPI_ERR_ARG for a bad count or map
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { placeRanks } from "./launch.ts";
 * assert.deepEqual(placeRanks(4, 2, "block"), [0, 0, 1, 1]);
 * assert.deepEqual(placeRanks(4, 2, "cyclic"), [0, 1, 0, 1]);
 * assert.deepEqual(placeRanks(3, 2, "block"), [0, 0, 1]);
 * ```
 */
export function placeRanks(np: number, slots: number, map: "block" | "cyclic"): number[] {
  if (map !== "block" && map !== "cyclic") {
    throw new MpiError("MPI_ERR_ARG", `map '${String(map)}' is not block or cyclic`);
  }
  const per = Math.ceil(np / slots);
  return Array.from({ length: np }, (_, r) => (map === "cyclic" ? r % slots : Math.floor(r / per)));
}

/** Ranks: an MPI rank and size are C `int`s (MPI_Comm_size's `int *size`). */
const MAX_RANKS = 2 ** 31 - 1;
/**
 * Hosts on the cluster's one switch: each takes a unicast LID of 0x0001–0xBFFF
 * (IBTA §4.1.3), the switch one more.
 */
const MAX_HOSTS = 0xbfff - 1;
/** Guests per Xen host: domids 1 … DOMID_FIRST_RESERVED - 1 (xen/include/public/xen.h). */
const MAX_GUESTS_PER_HOST = 0x7ff0 - 1;

/**
 * The most {@link launch} takes of each count (more is `MPI_ERR_ARG`): ranks (an MPI rank and
 * size are C `int`s), hosts (a unicast LID each, 0x0001–0xBFFF, and the switch's) and guests per
 * Xen host (domids below DOMID_FIRST_RESERVED), so that a tool can refuse a job shape before it
 * runs anything.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LAUNCH_LIMITS } from "./launch.ts";
 * assert.deepEqual(LAUNCH_LIMITS, { np: 2147483647, hosts: 49150, guestsPerHost: 32751 });
 * ```
 */
export const LAUNCH_LIMITS: {
  readonly np: number;
  readonly hosts: number;
  readonly guestsPerHost: number;
} = Object.freeze({ np: MAX_RANKS, hosts: MAX_HOSTS, guestsPerHost: MAX_GUESTS_PER_HOST });

function positive(name: string, v: unknown, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new MpiError("MPI_ERR_ARG", `${name} must be a whole number >= 1 (got ${String(v)})`);
  }
  if (v > max) {
    throw new MpiError("MPI_ERR_ARG", `${name} must be at most ${max} (got ${v})`);
  }
  return v;
}

/**
 * Build and start the cluster for `opts` and place the ranks.
 *
 * @throws MpiError MPI_ERR_ARG for inconsistent options
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { launch } from "./launch.ts";
 * const l = await launch({ np: 4, mode: "bypass", hosts: 2, guestsPerHost: 2 });
 * assert.deepEqual(l.placement.map((p) => p.domain), ["node0-vm0", "node0-vm1", "node1-vm0", "node1-vm1"]);
 * ```
 */
export async function launch(opts: LaunchOptions): Promise<Launched> {
  if (typeof opts !== "object" || opts === null) {
    throw new MpiError("MPI_ERR_ARG", `give the launch options { np, mode, … }, got ${opts}`);
  }
  const np = positive("np", opts.np, MAX_RANKS);
  const mode = opts.mode;
  if (mode !== "native" && mode !== "bypass" && mode !== "split") {
    throw new MpiError("MPI_ERR_ARG", `mode '${String(mode)}' is not native, bypass or split`);
  }
  if (mode === "native" && opts.guestsPerHost !== undefined) {
    throw new MpiError(
      "MPI_ERR_ARG",
      "guestsPerHost applies to bypass and split (native ranks run on the hosts)",
    );
  }
  const g = positive("guestsPerHost", opts.guestsPerHost ?? 1, MAX_GUESTS_PER_HOST);
  const nHosts = positive(
    opts.hosts !== undefined
      ? "hosts"
      : mode === "native"
      ? "hosts (one per rank: np)"
      : "hosts (np / guestsPerHost)",
    opts.hosts ?? (mode === "native" ? np : Math.ceil(np / g)),
    MAX_HOSTS,
  );
  const map = opts.map ?? "block";
  // A Xen host gets 1024 MiB of its own plus its guests' (hostMiB below), and a host's memory is
  // whole bytes in a double (at most 2^53, addHost's rule): the most one of g guests can have.
  const guestMiB = positive(
    "guestMemoryMiB",
    opts.guestMemoryMiB ?? 512,
    Math.floor(((Number.MAX_SAFE_INTEGER + 1) / 2 ** 20 - 1024) / g),
  );
  const moves = checkMigrate(opts.migrate, np, mode);
  const cluster = new Cluster({
    profile: opts.profile ?? "pcix-sdr-2006",
    seed: opts.seed ?? 1,
    noise: opts.noise ?? "off",
    ...(moves.length > 0 ? { nomad: true } : {}),
  });
  const virt = mode !== "native";
  const hosts: Host[] = [];
  const hostMiB = virt ? Math.max(4096, 1024 + g * guestMiB) : 4096;
  for (let h = 0; h < nHosts; h++) {
    hosts.push(cluster.addHost({ name: `node${h}`, hypervisor: virt, memoryMiB: hostMiB }));
  }
  // After the ranks' hosts, so that theirs keep their LIDs.
  const spares = moves.map((_, i) =>
    cluster.addHost({ name: `spare${i}`, hypervisor: true, memoryMiB: hostMiB })
  );
  await cluster.start();
  // Slots: host OSes, or guests in host order (block) / round robin over hosts (cyclic).
  const slots: Domain[] = [];
  const slotHost: string[] = [];
  if (!virt) {
    slots.push(...hosts.map((h) => h.os));
    slotHost.push(...hosts.map((h) => h.name));
  } else {
    const guests: Domain[][] = hosts.map(() => []);
    for (let h = 0; h < nHosts; h++) {
      for (let k = 0; k < g; k++) {
        guests[h].push(
          await hosts[h].createGuest({
            name: `node${h}-vm${k}`,
            memoryMiB: guestMiB,
            driver: mode,
          }),
        );
      }
    }
    const add = (h: number, k: number) => {
      slots.push(guests[h][k]);
      slotHost.push(hosts[h].name);
    };
    if (map === "cyclic") {
      for (let k = 0; k < g; k++) for (let h = 0; h < nHosts; h++) add(h, k);
    } else for (let h = 0; h < nHosts; h++) for (let k = 0; k < g; k++) add(h, k);
  }
  const at = placeRanks(np, slots.length, map);
  return {
    cluster,
    hosts,
    domains: at.map((s) => slots[s]),
    placement: at.map((s, rank) => ({ rank, host: slotHost[s], domain: slots[s].name })),
    plannedMigrations: moves.map((m, i) => ({ ...m, to: spares[i] })),
  };
}

/** {@link LaunchOptions.migrate}, checked: MPI_ERR_ARG naming the entry that is wrong. */
function checkMigrate(
  migrate: LaunchOptions["migrate"],
  np: number,
  mode: LaunchOptions["mode"],
): readonly { rank: number; atNs: number }[] {
  if (migrate?.length && mode === "native") {
    throw new MpiError(
      "MPI_ERR_ARG",
      "migrate: native ranks run on bare-metal hosts, which do not move (use bypass or split)",
    );
  }
  return checkMoves(migrate, np, "migrate");
}

/**
 * Launch and run `main` on every rank (`mpirun` as a function).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * const r = await mpiexec({ np: 2, mode: "split" }, (comm) => comm.processorName());
 * assert.deepEqual(r.results, ["node0-vm0", "node1-vm0"]);
 * ```
 */
export async function mpiexec<T>(
  opts: LaunchOptions & JobOptions,
  main: MpiMain<T>,
): Promise<JobResult<T> & Launched> {
  // Before a cluster is built for nothing.
  if (typeof main !== "function") {
    throw new MpiError("MPI_ERR_ARG", `main must be a function (comm, args), got ${typeof main}`);
  }
  const l = await launch(opts);
  const job = await runJob(l.cluster, l.domains, main, {
    ...opts,
    migrations: [...opts.migrations ?? [], ...l.plannedMigrations],
  });
  return { ...job, ...l };
}

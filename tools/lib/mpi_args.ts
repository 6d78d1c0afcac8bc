/**
 * The launch flags `mpirun`, `osu` and `nas` share: how many ranks, on what
 * kind of domain, how they are placed, with which cost profile and seed. Each
 * tool reads them with getoptLong (./getopt.ts) as extensions to its own
 * options ({@link launchOptionTable}, {@link takeLaunchOption}).
 *
 * @module
 */
import type { FoundOption, LongOption } from "./getopt.ts";
import { parseSeed, UsageError } from "./perftest_args.ts";

/**
 * The launch flags.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultLaunchFlags } from "./mpi_args.ts";
 * assert.equal(defaultLaunchFlags().mode, "native");
 * ```
 */
export interface LaunchFlags {
  /** `-np N`. */
  np?: number;
  /** `--mode native|bypass|split`. */
  mode: "native" | "bypass" | "split";
  /** `--hosts H`. */
  hosts?: number;
  /** `--guests-per-host G`. */
  guestsPerHost?: number;
  /** `--guest-memory MIB`. */
  guestMemoryMiB?: number;
  /** `--map block|cyclic`. */
  map: "block" | "cyclic";
  /** `--profile NAME|FILE.yaml`. */
  profile: string;
  /** `--seed S`. */
  seed: number;
  /** `--noise on|off`: the profile's seeded noise model (the tools' default: on). */
  noise: "on" | "off";
  /** `--migrate R@MS[,R@MS…]`: live-migrate rank R's guest MS ms of virtual time into the job. */
  migrate?: { rank: number; atNs: number }[];
}

/**
 * Defaults: native mode, block map, the 2006 profile, seed 1, noise on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultLaunchFlags } from "./mpi_args.ts";
 * assert.equal(defaultLaunchFlags().profile, "pcix-sdr-2006");
 * ```
 */
export function defaultLaunchFlags(): LaunchFlags {
  return { mode: "native", map: "block", profile: "pcix-sdr-2006", seed: 1, noise: "on" };
}

/** Flag name → what it sets and whether it takes a value. */
const FLAGS: Record<string, keyof LaunchFlags> = {
  "-np": "np",
  "--np": "np",
  "-n": "np",
  "--mode": "mode",
  "--hosts": "hosts",
  "--guests-per-host": "guestsPerHost",
  "--guest-memory": "guestMemoryMiB",
  "--map": "map",
  "--profile": "profile",
  "--seed": "seed",
  "--noise": "noise",
  "--migrate": "migrate",
};

/**
 * The long launch flags every MPI tool takes (mpirun, osu, nas), as their help texts must name
 * them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LAUNCH_LONG_FLAGS } from "./mpi_args.ts";
 * assert.ok(LAUNCH_LONG_FLAGS.includes("--guest-memory"));
 * assert.ok(!LAUNCH_LONG_FLAGS.includes("-np")); // the short spellings are not long flags
 * ```
 */
export const LAUNCH_LONG_FLAGS: readonly string[] = Object.freeze(
  Object.keys(FLAGS).filter((f) => f.startsWith("--")),
);

/**
 * The launch flags as getopt_long options (./getopt.ts) for a tool that reads its command line
 * with getoptLong: extensions to the tool's own table, each taking a value, `--np` also spelled
 * as the whole words `-np` and `-n`. Store what it finds with {@link takeLaunchOption}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getoptLong } from "./getopt.ts";
 * import { defaultLaunchFlags, launchOptionTable, takeLaunchOption } from "./mpi_args.ts";
 * const { options } = getoptLong(["-np", "4", "--mod=split"], launchOptionTable());
 * const f = defaultLaunchFlags();
 * for (const o of options) takeLaunchOption(o, f);
 * assert.deepEqual([f.np, f.mode], [4, "split"]);
 * ```
 */
export function launchOptionTable(): readonly LongOption[] {
  return LAUNCH_OPTIONS;
}

const LAUNCH_OPTIONS: readonly LongOption[] = [
  ...new Set(LAUNCH_LONG_FLAGS.map((f) => f.slice(2))),
].map((name) => {
  const words = Object.keys(FLAGS).filter((f) =>
    !f.startsWith("--") && FLAGS[f] === FLAGS[`--${name}`]
  );
  return { name, hasArg: true, extension: true, ...(words.length ? { words } : {}) };
});

function whole(flag: string, v: string, min: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min) {
    throw new UsageError(`${flag}: '${v}' is not a whole number >= ${min}`);
  }
  return exact(flag, v);
}

/**
 * A whole number typed as digits, as typed: beyond 2^53 a double no longer holds it (`-np
 * 9007199254740993` would go on as 9007199254740992), so it is refused here, in the flag's name,
 * rather than checked later under another value.
 */
function exact(flag: string, digits: string): number {
  const n = Number(digits);
  if (!Number.isSafeInteger(n)) {
    throw new UsageError(`${flag}: ${digits} is too large`);
  }
  return n;
}

/**
 * If `args[i]` is a launch flag (`--x v`, `--x=v` or `-np v`), store it in
 * `into` and return the index after it; otherwise return undefined.
 *
 * @throws UsageError for a missing or bad value
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultLaunchFlags, takeLaunchFlag } from "./mpi_args.ts";
 * const f = defaultLaunchFlags();
 * assert.equal(takeLaunchFlag(["-np", "4"], 0, f), 2);
 * assert.equal(takeLaunchFlag(["--mode=split"], 0, f), 1);
 * assert.deepEqual([f.np, f.mode], [4, "split"]);
 * assert.equal(takeLaunchFlag(["-x", "5"], 0, f), undefined);
 * assert.throws(() => takeLaunchFlag(["-np", "9007199254740993"], 0, f), {
 *   message: "-np: 9007199254740993 is too large",
 * });
 * ```
 */
export function takeLaunchFlag(
  args: readonly string[],
  i: number,
  into: LaunchFlags,
): number | undefined {
  const a = args[i];
  const eq = a.startsWith("--") ? a.indexOf("=") : -1;
  const name = eq > 0 ? a.slice(0, eq) : a;
  // Own keys only: an operand such as `toString` or `constructor` is no launch flag (it found
  // Object.prototype's member, so `toString 5` was taken and dropped without a word).
  const key = Object.hasOwn(FLAGS, name) ? FLAGS[name] : undefined;
  if (!key) return undefined;
  let value: string;
  let next = i + 1;
  if (eq > 0) value = a.slice(eq + 1);
  else {
    if (i + 1 >= args.length) throw new UsageError(`${name} needs a value`);
    value = args[i + 1];
    next = i + 2;
  }
  switch (key) {
    case "np":
      into.np = whole(name, value, 1);
      break;
    case "hosts":
      into.hosts = whole(name, value, 1);
      break;
    case "guestsPerHost":
      into.guestsPerHost = whole(name, value, 1);
      break;
    case "guestMemoryMiB":
      into.guestMemoryMiB = whole(name, value, 16);
      break;
    case "seed":
      into.seed = parseSeed(value);
      break;
    case "mode":
      if (value !== "native" && value !== "bypass" && value !== "split") {
        throw new UsageError(`--mode: '${value}' is not a mode (use native, bypass or split)`);
      }
      into.mode = value;
      break;
    case "map":
      if (value !== "block" && value !== "cyclic") {
        throw new UsageError(`--map: '${value}' is not block or cyclic`);
      }
      into.map = value;
      break;
    case "profile":
      if (!value) throw new UsageError("--profile needs a name or a FILE.yaml");
      into.profile = value;
      break;
    case "noise":
      if (value !== "on" && value !== "off") {
        throw new UsageError(`--noise: '${value}' is not on or off`);
      }
      into.noise = value;
      break;
    case "migrate":
      (into.migrate ??= []).push(...parseMigrate(value));
      break;
  }
  return next;
}

/**
 * If getoptLong found one of {@link launchOptionTable}'s options, store it in `into` and return
 * true; another option is the tool's own (false). A bad value is named as the user typed the
 * flag where that is its full name (`-np`, `-n`, `--np`), else by its full name (`--mo xen` is
 * `--mode: 'xen' …`).
 *
 * @throws UsageError for a bad value
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultLaunchFlags, takeLaunchOption } from "./mpi_args.ts";
 * const f = defaultLaunchFlags();
 * assert.equal(takeLaunchOption({ name: "mode", value: "split", spelled: "--mo" }, f), true);
 * assert.equal(takeLaunchOption({ name: "help", spelled: "-h" }, f), false);
 * assert.throws(() => takeLaunchOption({ name: "np", value: "0", spelled: "-np" }, f), {
 *   message: "-np: '0' is not a whole number >= 1",
 * });
 * assert.throws(() => takeLaunchOption({ name: "map", value: "x", spelled: "--ma" }, f), {
 *   message: "--map: 'x' is not block or cyclic",
 * });
 * ```
 */
export function takeLaunchOption(o: FoundOption, into: LaunchFlags): boolean {
  if (!LAUNCH_OPTIONS.some((l) => l.name === o.name)) return false;
  const typed = o.spelled === `--${o.name}` || !o.spelled.startsWith("--");
  takeLaunchFlag([typed ? o.spelled : `--${o.name}`, o.value ?? ""], 0, into);
  return true;
}

/**
 * `--migrate`'s value: `R@MS` moves, comma-separated (rank R's guest, MS ms of
 * virtual time after the job starts; MS may have a fraction).
 *
 * @throws UsageError naming the part that is wrong
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMigrate } from "./mpi_args.ts";
 * assert.deepEqual(parseMigrate("0@5,3@12.5"), [{ rank: 0, atNs: 5e6 }, { rank: 3, atNs: 12.5e6 }]);
 * assert.throws(() => parseMigrate("0@soon"), /--migrate: '0@soon' is not RANK@MS/);
 * assert.throws(() => parseMigrate("0@99999999999999999999"), /ms is too late/);
 * ```
 */
export function parseMigrate(value: string): { rank: number; atNs: number }[] {
  return value.split(",").map((part) => {
    const m = /^(\d+)@(\d+(?:\.\d+)?)$/.exec(part.trim());
    if (!m) {
      throw new UsageError(
        `--migrate: '${part}' is not RANK@MS (a rank, then when: ms of virtual time into the job)`,
      );
    }
    const rank = exact("--migrate: the rank", m[1]);
    // Virtual time is a whole number of ns in a double: exact up to 2^53 ns (about 104 days).
    const atNs = Math.round(Number(m[2]) * 1e6);
    if (!Number.isSafeInteger(atNs)) {
      throw new UsageError(
        `--migrate: '${part}': ${m[2]} ms is too late (virtual time counts whole ns up to 2^53, ` +
          `${Math.floor(Number.MAX_SAFE_INTEGER / 1e6)} ms)`,
      );
    }
    return { rank, atNs };
  });
}

/**
 * Check the flags that depend on each other (after parsing).
 *
 * @throws UsageError naming the flag
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkLaunchFlags, defaultLaunchFlags } from "./mpi_args.ts";
 * assert.throws(() => checkLaunchFlags({ ...defaultLaunchFlags(), guestsPerHost: 2 }), /--guests-per-host/);
 * ```
 */
export function checkLaunchFlags(f: LaunchFlags): void {
  if (f.migrate?.length && f.mode === "native") {
    throw new UsageError(
      "--migrate applies to --mode bypass and split (native ranks run on bare-metal hosts, which do not move)",
    );
  }
  for (const m of f.migrate ?? []) {
    if (f.np !== undefined && m.rank >= f.np) {
      throw new UsageError(
        `--migrate: rank ${m.rank} is not a rank of the job (-np ${f.np}: 0..${f.np - 1})`,
      );
    }
  }
  for (
    const [flag, v] of [["--guests-per-host", f.guestsPerHost], [
      "--guest-memory",
      f.guestMemoryMiB,
    ]] as const
  ) {
    if (f.mode === "native" && v !== undefined) {
      throw new UsageError(
        `${flag} applies to --mode bypass and split (native ranks run on the hosts' OS)`,
      );
    }
  }
}

/**
 * Flags of `tools/ibv_devinfo.ts`: ibv_devinfo's own (`-d`, `-i`, `-l`,
 * `-v`, `-h`) and xenib's (`--mode`, `--dom0`, `--profile`, `--seed`,
 * `--device real[:NAME]`).
 *
 * @module
 */
import {
  type Mode,
  parseDevice,
  parseFlags,
  parseMode,
  parseSeed,
  strtol,
  UsageError,
} from "./perftest_args.ts";

/**
 * A parsed ibv_devinfo command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type DevinfoConfig, parseDevinfoArgs } from "./devinfo_args.ts";
 * const c: DevinfoConfig = parseDevinfoArgs(["--mode", "split", "--dom0"]);
 * assert.deepEqual(c, {
 *   list: false,
 *   verbose: false,
 *   mode: "split", // a Xen host with a split-driver guest…
 *   dom0: true, // …seen from dom0
 *   profile: "pcix-sdr-2006",
 *   seed: 1,
 *   help: false,
 * });
 * ```
 */
export interface DevinfoConfig {
  /** `-d`: only this device. */
  ibDev?: string;
  /** `-i`: only this port. */
  ibPort?: number;
  /** `-l`: list device names only. */
  list: boolean;
  /** `-v`: all attributes. */
  verbose: boolean;
  /** Which domain's view: a bare-metal host (native) or a guest (bypass/split). */
  mode: Mode;
  /** Show dom0's view of a Xen host instead of a guest's. */
  dom0: boolean;
  /** Cost profile. */
  profile: string;
  /** Seed. */
  seed: number;
  /** Real hardware. */
  device?: { real: true; name?: string };
  /** `-h`. */
  help: boolean;
}

/**
 * `-i PORT` as ibv_devinfo reads it (rdma-core libibverbs/examples/devinfo.c, main):
 * `ib_port = strtol(optarg, NULL, 0)` into an int, and a port <= 0 is its usage error; so `0x1`
 * and `1st` are port 1. devinfo.c then passes it to print_hca_cap as a uint8_t, where 256 would
 * be port 0 (every port) and 257 port 1: xenib refuses a port above 255 instead.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePort } from "./devinfo_args.ts";
 * assert.deepEqual([parsePort("1"), parsePort("0x2"), parsePort("010"), parsePort("3rd")], [1, 2, 8, 3]);
 * assert.throws(() => parsePort("x"), {
 *   message: "-i/--ib-port: 'x' is not a port number (ibv_devinfo reads strtol's number; it must be > 0)",
 * });
 * assert.throws(() => parsePort("256"), /256 is above 255/);
 * ```
 */
export function parsePort(raw: string): number {
  const port = Number(BigInt.asIntN(32, strtol(raw).value));
  if (port <= 0) {
    throw new UsageError(
      `-i/--ib-port: '${raw}' is not a port number (ibv_devinfo reads strtol's number; it must be > 0)`,
    );
  }
  if (port > 255) {
    throw new UsageError(
      `-i/--ib-port: ${port} is above 255 (ibv_devinfo passes the port as a uint8_t, where it would be ${
        port & 255
      })`,
    );
  }
  return port;
}

/**
 * A command line getopt refuses in ibv_devinfo: an unknown option, or `-d`/`-i` without its
 * argument. devinfo.c main answers getopt's `'?'` in its `default:` case with
 * `usage(argv[0]); return -1;`, exit status 255 (a `-i` that is no port is its `return 1`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DevinfoOptionError, parseDevinfoArgs } from "./devinfo_args.ts";
 * assert.throws(() => parseDevinfoArgs(["-q"]), (e) => {
 *   assert.ok(e instanceof DevinfoOptionError);
 *   assert.deepEqual([e.status, e.message], [255, "unknown flag '-q' (see --help)"]);
 *   return true;
 * });
 * ```
 */
export class DevinfoOptionError extends UsageError {
  /** devinfo.c's exit status for it: `return -1`. */
  readonly status = 255;
}

/** ibv_devinfo's own options that take an argument (devinfo.c getopt string "d:i:lv"). */
const DEVINFO_ARG_OPTIONS = new Set(["-d", "--ib-dev", "-i", "--ib-port"]);

/** devinfo.c's long options (its `long_options` table). */
const DEVINFO_LONG = ["ib-dev", "ib-port", "list", "verbose"];
/** xenib's own long flags. */
const XENIB_LONG = ["mode", "dom0", "profile", "seed", "device", "help"];

/**
 * getopt_long takes an unambiguous prefix of a long option for the option (`--verb` is
 * `--verbose`, `--ib-p` is `--ib-port`); an ambiguous one (`--ib`) is its error. A prefix that
 * could also be one of xenib's own flags is left as typed (refused as unknown).
 */
function longName(a: string): string {
  if (!a.startsWith("--") || a === "--") return a;
  const eq = a.indexOf("=");
  const name = a.slice(2, eq < 0 ? undefined : eq);
  if (DEVINFO_LONG.includes(name) || XENIB_LONG.some((x) => x.startsWith(name))) return a;
  const hits = DEVINFO_LONG.filter((l) => l.startsWith(name));
  return hits.length === 1 ? `--${hits[0]}${eq < 0 ? "" : a.slice(eq)}` : a;
}

/**
 * The command line as far as devinfo.c's getopt loop reads ibv_devinfo's own options: `-l`
 * prints the list and returns inside that loop, so a `-d`, `-i` or `-v` after it is never
 * parsed (`ibv_devinfo -l -i 0` lists, status 0; `-i 0 -l` is the usage error). xenib's own
 * flags (`--mode`, `--dom0`, …) still choose whose devices are listed.
 */
function untilList(argv: string[]): string[] {
  const out: string[] = [];
  let listed = false;
  for (let i = 0; i < argv.length; i++) {
    const a = longName(argv[i]);
    if (a === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const name = a.startsWith("--") ? a.split("=")[0] : a.slice(0, 2);
    const own = /^-[dilv]/.test(a) ||
      ["--ib-dev", "--ib-port", "--list", "--verbose"].includes(name);
    // The option's argument: the next word unless glued (`-i1`, `--ib-port=1`).
    const takesNext = DEVINFO_ARG_OPTIONS.has(a) && i + 1 < argv.length;
    if (listed && own) {
      if (takesNext) i++;
      continue;
    }
    out.push(a);
    if (takesNext) out.push(argv[++i]);
    if (a === "-l" || a === "--list" || (/^-[lv]+$/.test(a) && a.includes("l"))) listed = true;
  }
  return out;
}

/**
 * Parse ibv_devinfo flags.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDevinfoArgs } from "./devinfo_args.ts";
 * const c = parseDevinfoArgs(["-v", "-d", "mthca0", "-i", "1", "--mode", "bypass"]);
 * assert.deepEqual([c.verbose, c.ibDev, c.ibPort, c.mode], [true, "mthca0", 1, "bypass"]);
 * assert.deepEqual(parseDevinfoArgs(["--device", "real:mlx5_0"]).device, {
 *   real: true,
 *   name: "mlx5_0",
 * });
 * assert.throws(() => parseDevinfoArgs(["--dom0"]), {
 *   name: "UsageError",
 *   message: "--dom0: only a Xen host has a dom0 (use --mode bypass or split)",
 * });
 * assert.throws(
 *   () => parseDevinfoArgs(["-i", "0"]),
 *   /-i\/--ib-port: '0' is not a port number/,
 * );
 * assert.equal(parseDevinfoArgs(["-i", "0x1"]).ibPort, 1); // strtol(…, 0), as ibv_devinfo
 * // getopt_long's unambiguous prefixes of devinfo.c's long options
 * const p = parseDevinfoArgs(["--verb", "--ib-p=2", "--ib-d", "mthca0"]);
 * assert.deepEqual([p.verbose, p.ibPort, p.ibDev], [true, 2, "mthca0"]);
 * assert.throws(() => parseDevinfoArgs(["--ib", "1"]), { name: "UsageError", message: /--ib/ });
 * ```
 */
export function parseDevinfoArgs(argv: string[]): DevinfoConfig {
  let flags;
  try {
    flags = parseFlags(untilList(argv), {
      "ib-dev": { type: "string", short: "d" },
      "ib-port": { type: "string", short: "i" },
      list: { type: "boolean", short: "l" },
      verbose: { type: "boolean", short: "v" },
      mode: { type: "string" },
      dom0: { type: "boolean" },
      profile: { type: "string" },
      seed: { type: "string" },
      device: { type: "string" },
      help: { type: "boolean", short: "h" },
    }, true);
  } catch (e) {
    if (e instanceof UsageError) throw new DevinfoOptionError(e.message, e.notices);
    throw e;
  }
  // getopt leaves a word that is no option to the program, which devinfo.c never reads; xenib
  // refuses it (status 1, its own usage error, not getopt's).
  if (flags.positionals.length) {
    throw new UsageError(`unexpected argument '${flags.positionals[0]}' (see --help)`);
  }
  const v = flags.values;
  const c: DevinfoConfig = {
    list: v.list ?? false,
    verbose: v.verbose ?? false,
    mode: "native",
    dom0: v.dom0 ?? false,
    profile: "pcix-sdr-2006",
    seed: 1,
    help: v.help ?? false,
  };
  if (c.help) return c;
  if (v["ib-dev"] !== undefined) c.ibDev = v["ib-dev"];
  if (v["ib-port"] !== undefined) c.ibPort = parsePort(v["ib-port"]);
  if (v.mode !== undefined) c.mode = parseMode(v.mode);
  if (c.dom0 && c.mode === "native") {
    throw new UsageError(`--dom0: only a Xen host has a dom0 (use --mode bypass or split)`);
  }
  // As the other tools say it (devinfo said "unknown profile ''", naming no flag).
  if (v.profile === "") throw new UsageError("--profile: empty value");
  if (v.profile !== undefined) c.profile = v.profile;
  if (v.seed !== undefined) c.seed = parseSeed(v.seed);
  if (v.device !== undefined) {
    c.device = parseDevice(v.device);
    if (c.ibDev !== undefined && c.device.name !== undefined && c.ibDev !== c.device.name) {
      throw new UsageError(
        `-d/--ib-dev ${c.ibDev}: --device real:${c.device.name} names another device`,
      );
    }
    if (v.mode !== undefined || c.dom0) {
      throw new UsageError(
        `--device real: shows the real device of this machine; drop --mode/--dom0`,
      );
    }
    // The profile and the seed build the simulated host; the real device is shown as it is.
    if (v.profile !== undefined || v.seed !== undefined) {
      throw new UsageError(
        `--device real: shows the real device of this machine; drop --profile/--seed`,
      );
    }
  }
  return c;
}

/**
 * Usage text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { devinfoUsage } from "./devinfo_args.ts";
 * const text = devinfoUsage();
 * assert.equal(text.split("\n")[0], "Usage: deno task devinfo [flags]");
 * // ibv_devinfo's own flags and xenib's
 * for (
 *   const flag of ["--ib-dev", "--ib-port", "--list", "--verbose", "--mode", "--dom0", "--device"]
 * ) {
 *   assert.ok(text.includes(flag), flag);
 * }
 * ```
 */
export function devinfoUsage(): string {
  return [
    "Usage: deno task devinfo [flags]",
    "",
    "Devices and ports as ibv_devinfo shows them, for a simulated host or domain.",
    "",
    "  -d, --ib-dev=<dev>     only this device (default: all)",
    "  -i, --ib-port=<port>   only this port (default: all)",
    "  -l, --list             list device names only",
    "  -v, --verbose          every device limit and port attribute",
    "      --mode=<native|bypass|split>  whose view: a bare-metal host (native, default)",
    "                         or a guest with that driver on a Xen host",
    "      --dom0             dom0's view of the Xen host (with --mode bypass|split)",
    "      --profile=<NAME|FILE.yaml>    cost profile (default pcix-sdr-2006)",
    "      --seed=<n>         PRNG seed (default 1)",
    "      --device=real[:NAME]  the real RDMA device of this machine (libibverbs via FFI)",
    "  -h, --help             this text",
  ].join("\n");
}

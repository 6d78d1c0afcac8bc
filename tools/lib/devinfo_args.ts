/**
 * Flags of `tools/ibv_devinfo.ts`: ibv_devinfo's own (`-d`, `-i`, `-l`,
 * `-v`) and xenib's (`--mode`, `--dom0`, `--profile`, `--seed`,
 * `--device real[:NAME]`, `-h`/`--help`), read by getoptLong (./getopt.ts).
 *
 * @module
 */
import { getoptHelp, getoptLong, type LongOption } from "./getopt.ts";
import {
  type Mode,
  parseDevice,
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
 * A command line getopt refuses in ibv_devinfo: an unknown or ambiguous option, `-d`/`-i`
 * without its argument, an argument given to an option that takes none. devinfo.c main answers
 * getopt's `'?'` in its `default:` case with `usage(argv[0]); return -1;`, exit status 255 (a
 * `-i` that is no port is its `return 1`). The message is glibc's, as perftest's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DevinfoOptionError, parseDevinfoArgs } from "./devinfo_args.ts";
 * assert.throws(() => parseDevinfoArgs(["-q"]), (e) => {
 *   assert.ok(e instanceof DevinfoOptionError);
 *   assert.deepEqual([e.status, e.message], [255, "invalid option -- 'q' (see --help)"]);
 *   return true;
 * });
 * ```
 */
export class DevinfoOptionError extends UsageError {
  /** devinfo.c's exit status for it: `return -1`. */
  readonly status = 255;
}

/** devinfo.c's own options: its `long_options` table and getopt string "d:i:lv". */
const DEVINFO_OPTIONS: readonly LongOption[] = [
  { name: "ib-dev", short: "d", hasArg: true },
  { name: "ib-port", short: "i", hasArg: true },
  { name: "list", short: "l", hasArg: false },
  { name: "verbose", short: "v", hasArg: false },
];
const OWN = new Set(DEVINFO_OPTIONS.map((o) => o.name));

/**
 * devinfo.c's options, then xenib's as extensions: they never make a prefix of devinfo.c's
 * ambiguous.
 */
const TABLE: readonly LongOption[] = [
  ...DEVINFO_OPTIONS,
  ...[
    { name: "mode", hasArg: true },
    { name: "dom0", hasArg: false },
    { name: "profile", hasArg: true },
    { name: "seed", hasArg: true },
    { name: "device", hasArg: true },
    // devinfo.c has no -h/--help (getopt's '?' there): xenib prints its usage.
    { name: "help", short: "h", hasArg: false },
  ].map((o) => ({ ...o, extension: true })),
];

/**
 * ibv_devinfo's getopt table as xenib reads it (devinfo.c's four options, xenib's own), for
 * tools that look at a devinfo command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { devinfoOptionTable } from "./devinfo_args.ts";
 * assert.deepEqual(devinfoOptionTable().find((o) => o.short === "i")?.name, "ib-port");
 * ```
 */
export function devinfoOptionTable(): readonly LongOption[] {
  return TABLE;
}

/**
 * Parse ibv_devinfo flags as devinfo.c's getopt_long loop reads them (tools/lib/getopt.ts):
 * unambiguous prefixes of long options (`--verb` is `--verbose`, `--ib-p` is `--ib-port`, `--ib`
 * is ambiguous), clusters (`-lv`), an argument glued on or the next word. `-l` prints the list
 * and returns inside that loop, so a `-d`, `-i` or `-v` after it is never read, nor is its
 * missing argument getopt's error (`ibv_devinfo -l -i 0` lists, status 0; `-i 0 -l` is the
 * usage error); xenib's own flags (`--mode`, `--dom0`, …) still choose whose devices are listed,
 * and an unknown option is still refused.
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
 * assert.throws(() => parseDevinfoArgs(["--ib", "1"]), {
 *   name: "UsageError",
 *   message: "option '--ib' is ambiguous; possibilities: '--ib-dev' '--ib-port' (see --help)",
 * });
 * // Each -i is checked, as devinfo.c's loop does; the last one is the port.
 * assert.throws(() => parseDevinfoArgs(["-i", "0", "-i", "1"]), /'0' is not a port number/);
 * assert.equal(parseDevinfoArgs(["-i", "2", "--ib-port=1"]).ibPort, 1);
 * // -l returns inside devinfo.c's option loop: the -i after it is never read.
 * assert.equal(parseDevinfoArgs(["-l", "-i", "0"]).ibPort, undefined);
 * ```
 */
export function parseDevinfoArgs(argv: string[]): DevinfoConfig {
  const found = getoptLong(argv, TABLE, { recordError: true });
  const listed = found.options.findIndex((o) => o.name === "list");
  const after = (i: number): boolean => listed >= 0 && i > listed;
  const e = found.error;
  // A refusal after -l about the argument of one of devinfo.c's options (`-l -i`, `-l
  // --verbose=1`) is never reached there. getoptLong records the first refusal only and reads on,
  // so one later on the line goes unreported too, as devinfo.c reports none after -l.
  if (e && !(after(e.before) && OWN.has(e.error.option ?? ""))) {
    throw new DevinfoOptionError(`${e.error.message} (see --help)`);
  }
  // getopt leaves a word that is no option to the program, which devinfo.c never reads; xenib
  // refuses it (status 1, its own usage error, not getopt's).
  if (found.positionals.length) {
    throw new UsageError(`unexpected argument '${found.positionals[0]}' (see --help)`);
  }
  // The last of each wins.
  const v: Record<string, string | true | undefined> = {};
  const ports: string[] = [];
  found.options.forEach((o, i) => {
    if (after(i) && OWN.has(o.name)) return;
    v[o.name] = o.value ?? true;
    if (o.name === "ib-port") ports.push(o.value!);
  });
  const str = (name: string): string | undefined => {
    const x = v[name];
    return typeof x === "string" ? x : undefined;
  };
  const c: DevinfoConfig = {
    list: v.list === true,
    verbose: v.verbose === true,
    mode: "native",
    dom0: v.dom0 === true,
    profile: "pcix-sdr-2006",
    seed: 1,
    help: v.help === true,
  };
  if (c.help) return c;
  const ibDev = str("ib-dev"), mode = str("mode");
  const profile = str("profile"), seed = str("seed"), device = str("device");
  if (ibDev !== undefined) c.ibDev = ibDev;
  // devinfo.c checks each -i as getopt returns it: `-i 0 -i 1` is its usage error, not port 1.
  for (const raw of ports) c.ibPort = parsePort(raw);
  if (mode !== undefined) c.mode = parseMode(mode);
  if (c.dom0 && c.mode === "native") {
    throw new UsageError(`--dom0: only a Xen host has a dom0 (use --mode bypass or split)`);
  }
  // As the other tools say it (devinfo said "unknown profile ''", naming no flag).
  if (profile === "") throw new UsageError("--profile: empty value");
  if (profile !== undefined) c.profile = profile;
  if (seed !== undefined) c.seed = parseSeed(seed);
  if (device !== undefined) {
    c.device = parseDevice(device);
    if (c.ibDev !== undefined && c.device.name !== undefined && c.ibDev !== c.device.name) {
      throw new UsageError(
        `-d/--ib-dev ${c.ibDev}: --device real:${c.device.name} names another device`,
      );
    }
    if (mode !== undefined || c.dom0) {
      throw new UsageError(
        `--device real: shows the real device of this machine; drop --mode/--dom0`,
      );
    }
    // The profile and the seed build the simulated host; the real device is shown as it is.
    if (profile !== undefined || seed !== undefined) {
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
    "",
    getoptHelp("--verb, --ib-p 1, --mod split"),
  ].join("\n");
}

/**
 * OSU Micro-Benchmarks 7.0's output, field by field: the title line
 * (`# OSU MPI Latency Test v7.0`), the column header (`%-10s%20s`), the rows
 * (`%-10d%20.2f`, FIELD_WIDTH 20, FLOAT_PRECISION 2), the collective
 * `-f` columns, osu_mbw_mr's pairs/window line and varied-window tables, and
 * the usage text (`c/util/osu_util.c`, `osu_util_mpi.c`).
 *
 * @module
 */
import {
  isCollective,
  isNonBlocking,
  OSU_BENCHMARKS,
  OSU_DEFAULTS,
  OSU_VERSION,
  type OsuConfig,
  type OsuName,
} from "./osu_args.ts";
import { cFixed } from "./c_format.ts";
import { getoptHelp } from "./getopt.ts";

/**
 * FIELD_WIDTH of osu_util.h: the width of every value column.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FIELD_WIDTH, pt2ptRow } from "./osu_format.ts";
 * assert.equal(pt2ptRow(1, 2).length, 10 + FIELD_WIDTH);
 * ```
 */
export const FIELD_WIDTH = 20;

/**
 * FLOAT_PRECISION of osu_util.h: decimals of every value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FLOAT_PRECISION, pt2ptRow } from "./osu_format.ts";
 * assert.equal(pt2ptRow(1, 2.345).trim().split(".")[1].length, FLOAT_PRECISION);
 * ```
 */
export const FLOAT_PRECISION = 2;

/**
 * `%-Nd`/`%-Ns`: left-justified in `w`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { left } from "./osu_format.ts";
 * assert.equal(left(8, 10), "8         ");
 * ```
 */
export function left(v: string | number, w: number): string {
  return String(v).padEnd(w);
}

/**
 * `%*s` / `%*.*f`: right-justified in `w` (numbers with `prec` decimals,
 * rounded as glibc's printf rounds them: the exact binary value, half to
 * even, so 2.125 prints as 2.12 where `toFixed` gives 2.13).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { right } from "./osu_format.ts";
 * assert.equal(right(4.5, 20, 2), "                4.50");
 * assert.equal(right(2.125, 6, 2), "  2.12");
 * assert.equal(right("Pass", 6), "  Pass");
 * ```
 */
export function right(v: string | number, w: number, prec?: number): string {
  return (typeof v === "number" && prec !== undefined ? cFixed(v, prec) : String(v)).padStart(w);
}

/**
 * The title line: `# OSU MPI Latency Test v7.0`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { title } from "./osu_format.ts";
 * assert.equal(title("osu_bw"), "# OSU MPI Bandwidth Test v7.0");
 * ```
 */
export function title(name: OsuName): string {
  return `# ${OSU_BENCHMARKS[name].title} v${OSU_VERSION}`;
}

/**
 * The lines before the first row.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOsuArgs } from "./osu_args.ts";
 * import { preamble } from "./osu_format.ts";
 * assert.deepEqual(preamble(parseOsuArgs(["osu_latency"]), 2), [
 *   "# OSU MPI Latency Test v7.0",
 *   "# Size            Latency (us)",
 * ]);
 * ```
 */
export function preamble(c: OsuConfig, np: number): string[] {
  const kind = OSU_BENCHMARKS[c.name].kind;
  const W = FIELD_WIDTH;
  const valid = c.validate ? right("Validation", W) : "";
  switch (kind) {
    case "latency":
    case "multi_lat":
      return [title(c.name), left("# Size", 10) + right("Latency (us)", W) + valid];
    case "bw":
    case "bibw":
      return [title(c.name), left("# Size", 10) + right("Bandwidth (MB/s)", W) + valid];
    case "mbw_mr": {
      const pairs = c.pairs ?? Math.floor(np / 2);
      if (c.windowVaried) {
        return [
          title(c.name),
          "",
          `# [ pairs: ${pairs} ] [ window size: varied ]`,
          "",
          "# Uni-directional Bandwidth (MB/sec)",
          "#      " + OSU_DEFAULTS.WINDOW_SIZES.map((w) => `  ${right(w, 10)}`).join(""),
        ];
      }
      return [
        title(c.name),
        "",
        `# [ pairs: ${pairs} ] [ window size: ${c.windowSize} ]`,
        left("# Size", 10) + right("MB/s", W) + (c.printRate ? right("Messages/s", W) : "") +
        (c.validate ? right("Validation", W) : ""),
      ];
    }
    default: {
      if (isNonBlocking(kind)) return nbcPreamble(c, kind !== "ibarrier");
      // print_preamble: a blank line, the title, the columns.
      const sized = kind !== "barrier";
      let head = sized ? left("# Size", 10) + right("Avg Latency(us)", W) : "# Avg Latency(us)";
      if (c.full) {
        head += right("Min Latency(us)", W) + right("Max Latency(us)", W) + right("Iterations", 12);
      }
      if (c.validate) head += right("Validation", W);
      return ["", title(c.name), head];
    }
  }
}

/**
 * One row of a point-to-point benchmark: size and latency or bandwidth.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pt2ptRow } from "./osu_format.ts";
 * assert.equal(pt2ptRow(8, 4.876), "8                         4.88");
 * assert.equal(pt2ptRow(8, 4.876, true), "8                         4.88                Pass");
 * ```
 */
export function pt2ptRow(size: number, value: number, pass?: boolean): string {
  return left(size, 10) + right(value, FIELD_WIDTH, FLOAT_PRECISION) +
    (pass === undefined ? "" : right(pass ? "Pass" : "Fail", FIELD_WIDTH));
}

/**
 * One row of osu_mbw_mr: size, MB/s and (with `-R 1`) messages per second.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mbwRow } from "./osu_format.ts";
 * assert.equal(mbwRow(1, 0.5, 500000), "1                         0.50           500000.00");
 * ```
 */
export function mbwRow(size: number, mbps: number, rate?: number, pass?: boolean): string {
  return left(size, 10) + right(mbps, FIELD_WIDTH, FLOAT_PRECISION) +
    (rate === undefined ? "" : right(rate, FIELD_WIDTH, FLOAT_PRECISION)) +
    (pass === undefined ? "" : right(pass ? "Pass" : "Fail", FIELD_WIDTH));
}

/**
 * One row of osu_mbw_mr's varied-window tables: `%-7d` then `  %10.2f` per window.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { variedRow } from "./osu_format.ts";
 * assert.equal(variedRow(4, [1.5, 2]), "4              1.50        2.00");
 * ```
 */
export function variedRow(size: number, values: readonly number[]): string {
  return left(size, 7) + values.map((v) => `  ${right(v, 10, 2)}`).join("");
}

/**
 * The "# Message Rate Profile" table header of osu_mbw_mr -V.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rateProfileHeader } from "./osu_format.ts";
 * assert.equal(rateProfileHeader()[1], "# Message Rate Profile");
 * ```
 */
export function rateProfileHeader(): string[] {
  return [
    "",
    "# Message Rate Profile",
    "#      " + OSU_DEFAULTS.WINDOW_SIZES.map((w) => `  ${right(w, 10)}`).join(""),
  ];
}

/**
 * One row of a collective (print_stats): size (not for barrier), average,
 * and with `-f` min, max and iterations.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { collRow } from "./osu_format.ts";
 * assert.equal(collRow({ size: 4, avg: 6.1, min: 6, max: 6.2, iterations: 1000 }, false), "4                         6.10");
 * assert.equal(collRow({ avg: 6.1, min: 6, max: 6.2, iterations: 1000 }, true),
 *   "             6.10                6.00                6.20        1000");
 * ```
 */
export function collRow(
  r: { size?: number; avg: number; min: number; max: number; iterations: number; pass?: boolean },
  full: boolean,
): string {
  let s = r.size === undefined
    ? right(r.avg, 17, 2)
    : left(r.size, 10) + right(r.avg, FIELD_WIDTH, 2);
  if (full) {
    s += right(r.min, FIELD_WIDTH, 2) + right(r.max, FIELD_WIDTH, 2) + right(r.iterations, 12);
  }
  if (r.pass !== undefined) s += right(r.pass ? "Pass" : "Fail", FIELD_WIDTH);
  return s;
}

/**
 * The preamble of a non-blocking collective (OMB 7.0's print_preamble_nbc,
 * c/util/osu_util_mpi.c): a blank line, the title, what "Overall" adds up,
 * a blank line, the columns (`-f`: with the initiation, MPI_Test and
 * MPI_Wait times and the spread of the pure communication time over ranks;
 * `-c`: then `Validation`). Without sizes (osu_ibarrier) the first column
 * is as wide as the others, `%*s` of FIELD_WIDTH (the `# Overall(us)` form
 * is 7.4's print_only_header_nbc).
 */
function nbcPreamble(c: OsuConfig, sized: boolean): string[] {
  const W = FIELD_WIDTH;
  let head = (sized ? left("# Size", 10) : "") + right("Overall(us)", W);
  head += c.full
    ? ["Compute(us)", "Coll. Init(us)", "MPI_Test(us)", "MPI_Wait(us)", "Pure Comm.(us)"]
      .concat(["Min Comm.(us)", "Max Comm.(us)", "Overlap(%)"]).map((h) => right(h, W)).join("")
    : right("Compute(us)", W) + right("Pure Comm.(us)", W) + right("Overlap(%)", W);
  if (c.validate) head += right("Validation", W);
  return ["", title(c.name), "# Overall = Coll. Init + Compute + MPI_Test + MPI_Wait", "", head];
}

/**
 * What a non-blocking collective benchmark reports for one size, averaged
 * over ranks (µs per iteration): the overlapped iteration (`overall`), the
 * dummy computation with its MPI_Test calls (`compute`), the start call
 * (`init`), the tests (`test`), the wait (`wait`), the collective alone
 * (`comm`, with its `min` and `max` over ranks).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NbcStats } from "./osu_format.ts";
 * const s: NbcStats = { overall: 9, compute: 5, init: 1, test: 0, wait: 3, comm: 5, min: 5, max: 5 };
 * assert.equal(s.overall - s.compute, 4);
 * ```
 */
export interface NbcStats {
  /** Start to completion of an overlapped iteration. */
  overall: number;
  /** The dummy computation, its MPI_Test calls included. */
  compute: number;
  /** The call that starts the collective. */
  init: number;
  /** The MPI_Test calls. */
  test: number;
  /** The MPI_Wait. */
  wait: number;
  /** The collective alone (start and wait), the average over ranks. */
  comm: number;
  /** Its minimum over ranks. */
  min: number;
  /** Its maximum over ranks. */
  max: number;
}

/**
 * Overlap (print_stats_nbc): the share of the pure communication time
 * hidden behind the computation, `100 − (overall − (compute − test)) /
 * comm × 100`, at least 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { overlap } from "./osu_format.ts";
 * assert.equal(overlap({ overall: 15, compute: 10, test: 0, comm: 10 }), 50); // half hidden
 * assert.equal(overlap({ overall: 25, compute: 10, test: 0, comm: 10 }), 0); // none
 * ```
 */
export function overlap(s: Pick<NbcStats, "overall" | "compute" | "test" | "comm">): number {
  return Math.max(0, 100 - ((s.overall - (s.compute - s.test)) / s.comm) * 100);
}

/**
 * One row of a non-blocking collective (print_stats_nbc): size (none for
 * osu_ibarrier), overall, compute (without the tests), pure communication
 * and overlap; with `full` also the start, test and wait times and the
 * minimum and maximum of the pure communication time; with `pass` (`-c`)
 * the Validation column, `Pass` or `Fail`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nbcRow } from "./osu_format.ts";
 * const s = { overall: 15, compute: 10, init: 1, test: 0, wait: 4, comm: 10, min: 9, max: 11 };
 * assert.equal(nbcRow(4, s, false),
 *   "4                        15.00               10.00               10.00               50.00");
 * assert.equal(nbcRow(undefined, s, false).slice(0, 20), "               15.00");
 * assert.equal(nbcRow(4, s, false, false).slice(-20), "                Fail");
 * ```
 */
export function nbcRow(
  size: number | undefined,
  s: NbcStats,
  full: boolean,
  pass?: boolean,
): string {
  const W = FIELD_WIDTH, P = FLOAT_PRECISION;
  // print_stats_nbc: the size (if any), then every value `%*.*f` of FIELD_WIDTH.
  let row = (size === undefined ? "" : left(size, 10)) + right(s.overall, W, P);
  const cols = full
    ? [s.compute - s.test, s.init, s.test, s.wait, s.comm, s.min, s.max, overlap(s)]
    : [s.compute - s.test, s.comm, overlap(s)];
  for (const v of cols) row += right(v, W, P);
  if (pass !== undefined) row += right(pass ? "Pass" : "Fail", W);
  return row;
}

/**
 * The `-m` lines of OMB 7.0's help texts (print_help_message, usage_mbw_mr, usage_one_sided in
 * c/util/osu_util_mpi.c), the same in each.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MESSAGE_SIZE_USAGE } from "./osu_format.ts";
 * assert.equal(MESSAGE_SIZE_USAGE.length, 5);
 * assert.match(MESSAGE_SIZE_USAGE[0], /^ {2}-m, --message-size {10}\[MIN:\]MAX/);
 * ```
 */
export const MESSAGE_SIZE_USAGE: readonly string[] = [
  "  -m, --message-size          [MIN:]MAX  set the minimum and/or the maximum message size to MIN and/or MAX",
  "                              bytes respectively. Examples:",
  "                              -m 128      // min = default, max = 128",
  "                              -m 2:128    // min = 2, max = 128",
  "                              -m 2:       // min = 2, max = default",
];

/**
 * The usage text (`-h`), OSU's wording for the options each benchmark takes,
 * followed by xenib's launch flags.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { usage } from "./osu_format.ts";
 * assert.ok(usage("osu_bw").includes("-W, --window-size SIZE"));
 * assert.ok(!usage("osu_latency").includes("--window-size"));
 * ```
 */
export function usage(name: OsuName): string {
  const kind = OSU_BENCHMARKS[name].kind;
  const coll = isCollective(kind);
  const L: string[] = [];
  if (kind === "mbw_mr") {
    L.push(
      "Usage: osu_mbw_mr [options]",
      "Options:",
      "  -R=<0,1>, --print-rate         Print uni-directional message rate (default 1)",
      "  -p=<pairs>, --num-pairs        Number of pairs involved (default np / 2)",
      "  -W=<window>, --window-size     Number of messages sent before acknowledgement (default 64)",
      "                                 [cannot be used with -v]",
      "  -V, --vary-window              Vary the window size (default no)",
      "                                 [cannot be used with -W]",
      "  -b, --buffer-num               Use different buffers to perform data transfer (default single)",
      "                                 Options: single, multiple",
      ...MESSAGE_SIZE_USAGE,
      "  -x, --warmup ITER           set number of warmup iterations to skip before timing (default 10)",
      "  -i, --iterations ITER       set iterations per message size to ITER (default 100)",
      "  -c, --validation               Enable or disable validation. Disabled by default. ",
      "  -h, --help                     Print this help",
      "",
      "  Note: This benchmark relies on block ordering of the ranks.  Please see",
      "        the README for more information.",
    );
  } else {
    L.push(`Usage: ${name} [options]`, "Options:");
    if (!coll) {
      L.push(
        "  -b, --buffer-num            Use different buffers to perform data transfer (default single)",
        "                              Options: single, multiple",
      );
    }
    // print_help_message lists -m and -M only with options.show_size: not for the barriers.
    // It lists -M for the point-to-point tests too, whose getopt strings lack M (process_options,
    // OMB 7.0 c/util/osu_util.c): they refuse it ("Invalid option [-M]"), so it is left out
    // there, as osu_mbw_mr's -M and osu_barrier's -c are.
    if (kind !== "barrier" && kind !== "ibarrier") {
      L.push(...MESSAGE_SIZE_USAGE);
      if (coll) {
        L.push(
          "  -M, --mem-limit SIZE        set per process maximum memory consumption to SIZE bytes",
          `                              (default ${OSU_DEFAULTS.MAX_MEM_LIMIT})`,
        );
      }
    }
    const D = OSU_DEFAULTS;
    const [it, itl, sk] = kind === "bw" || kind === "bibw"
      ? [D.BW_LOOP_SMALL, D.BW_LOOP_LARGE, D.BW_SKIP_SMALL]
      : coll
      // osu_ibarrier skips options.skip_large (osu_ibarrier.c): its real default.
      ? [
        D.COLL_LOOP_SMALL,
        D.COLL_LOOP_LARGE,
        kind === "ibarrier" ? D.COLL_SKIP_LARGE : D.COLL_SKIP_SMALL,
      ]
      : [D.LAT_LOOP_SMALL, D.LAT_LOOP_LARGE, D.LAT_SKIP_SMALL];
    L.push(
      `  -i, --iterations ITER       set iterations per message size to ITER (default ${it} for small`,
      `                              messages, ${itl} for large messages)`,
      `  -x, --warmup ITER           set number of warmup iterations to skip before timing (default ${sk})`,
    );
    if (kind === "bw" || kind === "bibw") {
      L.push(
        "  -W, --window-size SIZE      set number of messages to send before synchronization (default 64)",
      );
    }
    if (!coll) {
      L.push(
        "  -c, --validation            Enable or disable validation. Disabled by default. ",
        "  -u, --validation-warmup ITR Set number of warmup iterations to skip before timing when validation is enabled (default 5)",
      );
    } else {
      L.push(
        "  -f, --full                  print full format listing (MIN/MAX latency and ITERATIONS",
        "                              displayed in addition to AVERAGE latency)",
      );
      // print_help_message: -c and -u for every collective subtype but NBC (osu_ibarrier),
      // then -t for the non-blocking ones; osu_barrier's -c is left out, as it does not take it.
      if (kind !== "barrier" && kind !== "ibarrier") {
        L.push("  -c, --validation            Enable or disable validation. Disabled by default. ");
      }
      if (kind !== "ibarrier") {
        L.push(
          "  -u, --validation-warmup ITR Set number of warmup iterations to skip before timing when validation is enabled (default 5)",
        );
      }
      // -t for the NBC subtypes print_help_message names: not NBC_REDUCE_SCATTER, whose
      // osu_ireduce_scatter still takes it.
      if (isNonBlocking(kind) && kind !== "ireduce_scatter") {
        L.push(
          "  -t, --num-test-calls CALLS  set the number of MPI_Test() calls during the dummy computation,",
          "                              set CALLS to 100, 1000, or any number > 0.",
        );
      }
    }
    L.push(
      "  -h, --help                  print this help",
      "  -v, --version               print version info",
      "",
    );
  }
  L.push(
    "xenib's launch flags (the job runs in a simulated cluster, virtual time):",
    "  -np N, --np N               ranks (default 2)",
    "  --mode native|bypass|split  ranks on bare-metal hosts, Xen-IB guests, or split-driver guests (default native)",
    "  --hosts H                   hosts (default: np, or np / guests-per-host)",
    "  --guests-per-host G         guests per Xen host (bypass, split; default 1)",
    "  --guest-memory MIB          memory of each guest (bypass, split; default 512)",
    "  --map block|cyclic          rank placement over hosts/guests (default block)",
    "  --profile NAME|FILE.yaml    cost profile (default pcix-sdr-2006; also modern-gen5-ndr)",
    "  --seed S                    seed of the cluster's PRNG (default 1)",
    "  --noise on|off              the profile's seeded noise model (default on; off: exact)",
    "  --migrate R@MS[,R@MS…]      live-migrate rank R's guest MS ms into the run, each to a spare",
    "                              Xen host of its own (bypass, split; turns Nomad's layer on)",
    "",
    getoptHelp("--iter 100, --mo split"),
  );
  return L.join("\n");
}

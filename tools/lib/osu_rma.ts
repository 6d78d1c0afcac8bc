/**
 * OSU Micro-Benchmarks 7.0's one-sided tests (`c/mpi/one-sided/`) as MPI
 * programs on xenib's RMA (mpi/rma.ts): osu_put_latency, osu_get_latency,
 * osu_acc_latency, osu_fop_latency, osu_cas_latency, osu_put_bw, osu_get_bw
 * and osu_put_bibw, with OMB's options (`-w create|allocate`, `-s
 * lock|flush|flush_local|lock_all|pscw|fence`, `-m`, `-x`, `-i`, `-W` for the
 * bandwidth tests), methods and output (`# Window creation: …`,
 * `# Synchronization: …`, then OMB's `%-10d%20.2f` rows).
 *
 * Methods, per synchronization (rank 0 the origin, rank 1 the target):
 * flush — one lock, then per iteration the operation(s) and `flush`;
 * flush_local — the same with `flushLocal`; lock — `lock`, operation(s),
 * `unlock` per iteration; lock_all — `lockAll` … `unlockAll`; fence — rank 0
 * fences, operates, fences (latency: a third fence, while rank 1 answers
 * with its own operation; time / 2); pscw — start, operate, complete, post,
 * wait against the target's post, wait, start, operate, complete (latency:
 * time / 2). Bandwidth: a window of `-W` operations per iteration into
 * consecutive slots, MB/s = size × window × iterations / time (10^6 bytes);
 * osu_put_bibw does it both ways (fence or pscw) and doubles it. The
 * window is created (`-w create`: over a buffer from `comm.alloc`) or
 * allocated anew for each size, as OMB's `allocate_memory` does.
 *
 * @module
 */
import { mpi } from "../../mod.ts";
import { loadToolProfile } from "./api.ts";
import { checkLaunchFlags, defaultLaunchFlags } from "./mpi_args.ts";
import {
  applyOsuOption,
  OSU_DEFAULTS,
  OSU_VERSION,
  type OsuConfig,
  readOsuCommandLine,
} from "./osu_args.ts";
import { FIELD_WIDTH, left, MESSAGE_SIZE_USAGE, pt2ptRow, right } from "./osu_format.ts";
import { UsageError } from "./perftest_args.ts";
import { getoptHelp } from "./getopt.ts";
import { migrationLines } from "./mpi_run.ts";

type Comm = mpi.Comm;

/** OMB's synchronization options (`sync_info`), in `-s` spelling. */
const SYNC_INFO = {
  lock: "MPI_Win_lock/unlock",
  pscw: "MPI_Win_post/start/complete/wait",
  fence: "MPI_Win_fence",
  flush: "MPI_Win_flush",
  flush_local: "MPI_Win_flush_local",
  lock_all: "MPI_Win_lock_all/unlock_all",
} as const;

/**
 * A `-s` value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { OsuSync } from "./osu_rma.ts";
 * const s: OsuSync = "flush";
 * assert.equal(s, "flush");
 * ```
 */
export type OsuSync = keyof typeof SYNC_INFO;

const ALL_SYNC: readonly OsuSync[] = ["lock", "flush", "flush_local", "lock_all", "pscw", "fence"];
const ACTIVE_SYNC: readonly OsuSync[] = ["pscw", "fence"];

/** OMB's window creation options (`win_info`). */
const WIN_INFO = { create: "MPI_Win_create", allocate: "MPI_Win_allocate" } as const;

/**
 * The one-sided benchmarks: OMB 7.0's title, what they do, their
 * synchronizations and default.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OSU_RMA_BENCHMARKS } from "./osu_rma.ts";
 * assert.equal(OSU_RMA_BENCHMARKS.osu_put_latency.title, "OSU MPI_Put Latency Test");
 * assert.equal(OSU_RMA_BENCHMARKS.osu_put_bibw.defaultSync, "pscw");
 * ```
 */
export const OSU_RMA_BENCHMARKS = {
  osu_put_latency: {
    title: "OSU MPI_Put Latency Test",
    op: "put",
    bw: false,
    syncs: ALL_SYNC,
    defaultSync: "flush",
  },
  osu_get_latency: {
    title: "OSU MPI_Get latency Test",
    op: "get",
    bw: false,
    syncs: ALL_SYNC,
    defaultSync: "flush",
  },
  osu_acc_latency: {
    title: "OSU MPI_Accumulate latency Test",
    op: "acc",
    bw: false,
    syncs: ALL_SYNC,
    defaultSync: "flush",
  },
  osu_fop_latency: {
    title: "OSU MPI_Fetch_and_op latency Test",
    op: "fop",
    bw: false,
    syncs: ALL_SYNC,
    defaultSync: "flush",
  },
  osu_cas_latency: {
    title: "OSU MPI_Compare_and_swap latency Test",
    op: "cas",
    bw: false,
    syncs: ALL_SYNC,
    defaultSync: "flush",
  },
  osu_put_bw: {
    title: "OSU MPI_Put Bandwidth Test",
    op: "put",
    bw: true,
    syncs: ALL_SYNC,
    defaultSync: "flush",
  },
  osu_get_bw: {
    title: "OSU MPI_Get Bandwidth Test",
    op: "get",
    bw: true,
    syncs: ALL_SYNC,
    defaultSync: "flush",
  },
  osu_put_bibw: {
    title: "OSU MPI_Put Bi-directional Bandwidth Test",
    op: "put",
    bw: true,
    bibw: true,
    syncs: ACTIVE_SYNC,
    defaultSync: "pscw",
  },
} as const satisfies Record<
  string,
  {
    title: string;
    op: "put" | "get" | "acc" | "fop" | "cas";
    bw: boolean;
    bibw?: boolean;
    syncs: readonly OsuSync[];
    defaultSync: OsuSync;
  }
>;

/**
 * A one-sided benchmark's name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { OsuRmaName } from "./osu_rma.ts";
 * const n: OsuRmaName = "osu_get_bw";
 * assert.equal(n, "osu_get_bw");
 * ```
 */
export type OsuRmaName = keyof typeof OSU_RMA_BENCHMARKS;

/**
 * Whether `name` is one of the one-sided benchmarks (`tools/osu.ts` hands
 * those to this module).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isOsuRma } from "./osu_rma.ts";
 * assert.equal(isOsuRma("osu_put_bw"), true);
 * assert.equal(isOsuRma("osu_bw"), false);
 * ```
 */
export function isOsuRma(name: string | undefined): name is OsuRmaName {
  return name !== undefined && Object.hasOwn(OSU_RMA_BENCHMARKS, name);
}

/**
 * A parsed one-sided command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOsuRmaArgs } from "./osu_rma.ts";
 * const c = parseOsuRmaArgs(["osu_put_latency", "-s", "fence", "-w", "create"]);
 * assert.deepEqual([c.sync, c.win, c.minSize], ["fence", "create", 1]);
 * ```
 */
export interface OsuRmaConfig extends
  Pick<
    OsuConfig,
    | "help"
    | "version"
    | "minSize"
    | "maxSize"
    | "iterations"
    | "iterationsLarge"
    | "skip"
    | "skipLarge"
    | "windowSize"
    | "launch"
  > {
  /** Benchmark. */
  name: OsuRmaName;
  /** `-w`. */
  win: keyof typeof WIN_INFO;
  /** `-s`. */
  sync: OsuSync;
}

function bad(name: string, message: string, opt: string, arg?: string): UsageError {
  return new UsageError(
    `${name}: ${message} [-${opt}${arg !== undefined ? ` ${arg}` : ""}] (see --help)`,
  );
}

/**
 * Parse `osu NAME [flags]` for a one-sided benchmark: OMB 7.0's getopt
 * string (`+:w:s:hvm:x:i:`, and `W:` for the bandwidth tests), its long
 * options (OMB's one table, as the two-sided tests'), and the launch flags,
 * read by getopt_long's rules as the two-sided tests' (readOsuCommandLine,
 * tools/lib/osu_args.ts). `-w dynamic` (MPI_Win_create_dynamic),
 * `-G` (graphs) and `-P` (PAPI) are refused with a message, as is a `-s`
 * the benchmark does not offer (osu_put_bibw: pscw and fence, as OMB's).
 *
 * @throws UsageError naming the option
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOsuRmaArgs } from "./osu_rma.ts";
 * const c = parseOsuRmaArgs(["osu_put_bw", "-m", "64:4096", "-W", "16", "--mode", "bypass"]);
 * assert.deepEqual([c.minSize, c.maxSize, c.windowSize, c.sync, c.win], [64, 4096, 16, "flush", "allocate"]);
 * assert.throws(() => parseOsuRmaArgs(["osu_put_bibw", "-s", "lock"]), /not one of osu_put_bibw's/);
 * assert.throws(() => parseOsuRmaArgs(["osu_get_latency", "-w", "dynamic"]), /create_dynamic/);
 * ```
 */
export function parseOsuRmaArgs(argv: readonly string[]): OsuRmaConfig {
  const name = argv[0];
  if (!isOsuRma(name)) throw new UsageError(`not a one-sided benchmark: '${name}'`);
  const b = OSU_RMA_BENCHMARKS[name];
  const D = OSU_DEFAULTS;
  const c: OsuRmaConfig = {
    name,
    help: false,
    version: false,
    win: "allocate",
    sync: b.defaultSync,
    // process_options (OMB 7.0 c/util/osu_util.c) starts at 0 bytes for bench PT2PT only: the
    // one-sided tests (bench ONE_SIDED), latency and bandwidth alike, keep MIN_MESSAGE_SIZE.
    minSize: D.MIN_MESSAGE_SIZE,
    maxSize: D.MAX_MESSAGE_SIZE,
    iterations: b.bw ? D.BW_LOOP_SMALL : D.LAT_LOOP_SMALL,
    iterationsLarge: b.bw ? D.BW_LOOP_LARGE : D.LAT_LOOP_LARGE,
    skip: b.bw ? D.BW_SKIP_SMALL : D.LAT_SKIP_SMALL,
    skipLarge: b.bw ? D.BW_SKIP_LARGE : D.LAT_SKIP_LARGE,
    windowSize: D.WINDOW_SIZE_LARGE,
    launch: defaultLaunchFlags(),
  };
  // OMB 7.0's getopt string (`+:w:s:hvm:x:i:G:`, `W:` for the bandwidth tests; `d:`, `P:`
  // as configured) and long_options, read as the two-sided tests' (tools/lib/osu_args.ts).
  const read = readOsuCommandLine({
    name,
    launch: c.launch,
    option: (o, arg) => {
      apply(c, o, arg);
      // process_options returns at -h and -v: getopt never reads the rest of the line (`-hv` is
      // the help, `-vx` the version).
      return c.help || c.version;
    },
    operand: (a) => {
      throw new UsageError(`${name}: unexpected argument '${a}' (see --help)`);
    },
  }, argv.slice(1));
  if (!read) return c;
  // osu_fop_latency and osu_cas_latency time one 8-byte MPI_LONG_LONG whatever the minimum (their
  // run_* functions never read it: OMB 7.0 osu_fop_latency.c, osu_cas_latency.c), but their
  // window is the maximum's bytes (allocate_atomic_memory(…, options.max_message_size, …)): one
  // below 8 leaves the element outside the window, where OMB's MPI call fails.
  const atomic = b.op === "fop" || b.op === "cas";
  if (atomic && c.maxSize < 8) {
    throw new UsageError(
      `${name}: the window is the maximum message size, ${c.maxSize} bytes: too small for the 8-byte MPI_LONG_LONG it operates on [-m]`,
    );
  }
  if (c.minSize > c.maxSize && !atomic) {
    throw new UsageError(
      `${name}: minimum message size ${c.minSize} exceeds the maximum ${c.maxSize} [-m]`,
    );
  }
  checkLaunchFlags(c.launch);
  return c;
}

function apply(c: OsuRmaConfig, o: string, arg: string | undefined): void {
  const name = c.name;
  switch (o) {
    case "h":
      c.help = true;
      return;
    case "v":
      c.version = true;
      return;
    case "w": {
      const w = arg!.toLowerCase(); // strcasecmp in OMB
      if (w === "dynamic") {
        throw new UsageError(
          `${name}: xenib's MPI has no dynamic windows (MPI_Win_create_dynamic, -w dynamic); use -w create or -w allocate`,
        );
      }
      // process_options' message when process_one_sided_options refuses the value (OMB 7.0
      // c/util/osu_util.c).
      if (w !== "create" && w !== "allocate") {
        throw bad(name, "Invalid option or invalid argument", o, arg);
      }
      c.win = w;
      return;
    }
    case "s": {
      const s = arg!.toLowerCase() as OsuSync;
      if (!Object.hasOwn(SYNC_INFO, s)) {
        throw bad(name, "Invalid option or invalid argument", o, arg);
      }
      const offered = OSU_RMA_BENCHMARKS[name].syncs;
      if (!offered.includes(s)) {
        throw new UsageError(
          `${name}: -s ${s} is not one of ${name}'s synchronizations (${offered.join(", ")})`,
        );
      }
      c.sync = s;
      return;
    }
    case "m":
    case "i":
    case "x":
    case "W":
      // OSU's own checks and messages, as the two-sided tests have them: the fields they set
      // are OsuConfig's (`name` is only read for messages).
      applyOsuOption(c as unknown as OsuConfig, o, arg);
      return;
  }
}

/**
 * The lines before the first row: title, window creation, synchronization, column header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOsuRmaArgs, rmaPreamble } from "./osu_rma.ts";
 * assert.deepEqual(rmaPreamble(parseOsuRmaArgs(["osu_get_bw", "-s", "lock"])), [
 *   "# OSU MPI_Get Bandwidth Test v7.0",
 *   "# Window creation: MPI_Win_allocate",
 *   "# Synchronization: MPI_Win_lock/unlock",
 *   "# Size        Bandwidth (MB/s)",
 * ]);
 * ```
 */
export function rmaPreamble(c: OsuRmaConfig): string[] {
  const b = OSU_RMA_BENCHMARKS[c.name];
  return [
    rmaTitle(c.name),
    `# Window creation: ${WIN_INFO[c.win]}`,
    `# Synchronization: ${SYNC_INFO[c.sync]}`,
    left("# Size", 10) + right(b.bw ? "Bandwidth (MB/s)" : "Latency (us)", FIELD_WIDTH),
  ];
}

/**
 * The title line (`-v` prints it alone).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rmaTitle } from "./osu_rma.ts";
 * assert.equal(rmaTitle("osu_acc_latency"), "# OSU MPI_Accumulate latency Test v7.0");
 * ```
 */
export function rmaTitle(name: OsuRmaName): string {
  return `# ${OSU_RMA_BENCHMARKS[name].title} v${OSU_VERSION}`;
}

/** usage_one_sided's line for each synchronization, in its order (c/util/osu_util_mpi.c). */
const SYNC_USAGE: Record<OsuSync, string> = {
  pscw: "use Post/Start/Complete/Wait synchronization calls ",
  fence: "use MPI_Win_fence synchronization call",
  lock: "use MPI_Win_lock/unlock synchronizations calls",
  flush: "use MPI_Win_flush synchronization call",
  flush_local: "use MPI_Win_flush_local synchronization call",
  lock_all: "use MPI_Win_lock_all/unlock_all synchronization calls",
};

/**
 * The `-h` text: OMB 7.0's `usage_one_sided` (c/util/osu_util_mpi.c) for a host-memory build
 * with MPI 3, word for word, less what this port does not offer or the benchmark does not take
 * (`dynamic` windows; `-M` and `-G`, which the one-sided getopt string lacks or this port
 * refuses), the `-x`/`-i` defaults the benchmark's own (OMB prints 100 and 10000 for every
 * one), then xenib's launch flags.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rmaUsage } from "./osu_rma.ts";
 * assert.match(rmaUsage("osu_put_bw"), /-W, --window-size/);
 * assert.doesNotMatch(rmaUsage("osu_put_latency"), /window-size/);
 * assert.match(rmaUsage("osu_get_latency"), /timing\(default 100\)/);
 * ```
 */
export function rmaUsage(name: OsuRmaName): string {
  const b = OSU_RMA_BENCHMARKS[name];
  const D = OSU_DEFAULTS;
  const L = [
    `Usage: ${name} [options]`,
    "Options:",
    "",
    "  -w --win-option <win_option>",
    "            <win_option> can be any of the follows:",
    "            create            use MPI_Win_create to create an MPI Window object",
    "            allocate          use MPI_Win_allocate to create an MPI Window object",
    "",
    "  -s, --sync-option <sync_option>",
    "            <sync_option> can be any of the follows:",
    // pscw and fence, then (synctype ALL_SYNC) the passive ones.
    ...(Object.keys(SYNC_USAGE) as OsuSync[]).filter((s) => b.syncs.includes(s))
      .map((s) => `            ${s.padEnd(18)}${SYNC_USAGE[s]}`),
    "",
    ...MESSAGE_SIZE_USAGE,
    `  -x, --warmup ITER           number of warmup iterations to skip before timing(default ${
      b.bw ? D.BW_SKIP_SMALL : D.LAT_SKIP_SMALL
    })`,
  ];
  if (b.bw) {
    L.push(
      "  -W, --window-size SIZE      set number of messages to send before synchronization (default 64)",
    );
  }
  L.push(
    `  -i, --iterations ITER       number of iterations for timing (default ${
      b.bw ? D.BW_LOOP_SMALL : D.LAT_LOOP_SMALL
    })`,
    "  -h, --help                  print this help message",
    "  launch: --mode native|bypass|split, --hosts H, --guests-per-host G, --guest-memory MIB, --profile P, --seed S, --noise on|off,",
    "          --migrate R@MS[,R@MS…] (live-migrate rank R's guest MS ms into the run; bypass, split)",
    "",
    getoptHelp("--mes 8, --mo split"),
    "",
  );
  return L.join("\n");
}

/**
 * What rank 0 reports: the output lines and the measured rows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { OsuRmaOutput } from "./osu_rma.ts";
 * const o: OsuRmaOutput = { lines: [], rows: [{ size: 8, value: 9.1 }] };
 * assert.equal(o.rows[0].size, 8);
 * ```
 */
export interface OsuRmaOutput {
  /** The lines as OMB prints them. */
  lines: string[];
  /** Size and latency (µs) or bandwidth (MB/s). */
  rows: { size: number; value: number }[];
}

function sizes(min: number, max: number): number[] {
  const out = [];
  for (let s = min; s <= max; s = s ? s * 2 : 1) out.push(s);
  return out;
}

/**
 * The program for `cfg`; `emit` gets each output line as rank 0 makes it.
 * It needs exactly two ranks (OMB: "This test requires exactly two processes").
 *
 * @throws UsageError for another rank count
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpi } from "../../mod.ts";
 * import { osuRmaProgram, parseOsuRmaArgs } from "./osu_rma.ts";
 * const cfg = parseOsuRmaArgs(["osu_put_latency", "-m", "8", "-i", "20", "-x", "2"]);
 * const job = await mpi.mpiexec({ np: 2, mode: "bypass" }, osuRmaProgram(cfg, 2, () => {}));
 * const out = job.results[0]!;
 * assert.deepEqual(out.rows.map((r) => r.size), [1, 2, 4, 8]);
 * assert.ok(out.rows.every((r) => r.value > 5 && r.value < 15)); // a WRITE's round trip
 * ```
 */
export function osuRmaProgram(
  cfg: OsuRmaConfig,
  np: number,
  emit: (line: string) => void,
): (comm: Comm) => Promise<OsuRmaOutput | undefined> {
  if (np !== 2) {
    throw new UsageError(`${cfg.name}: This test requires exactly two processes (got -np ${np})`);
  }
  const b = OSU_RMA_BENCHMARKS[cfg.name];
  return async (comm: Comm) => {
    const out: OsuRmaOutput = { lines: [], rows: [] };
    const say = (line: string) => {
      if (comm.rank !== 0) return;
      out.lines.push(line);
      emit(line);
    };
    for (const l of rmaPreamble(cfg)) say(l);
    const atomic = b.op === "fop" || b.op === "cas";
    // osu_fop_latency and osu_cas_latency time one 8-byte (MPI_LONG_LONG) element.
    const list = atomic ? [8] : sizes(cfg.minSize, cfg.maxSize);
    let iters = cfg.iterations, skip = cfg.skip;
    for (const size of list) {
      if (size > OSU_DEFAULTS.LARGE_MESSAGE_SIZE) {
        iters = cfg.iterationsLarge;
        // osu_acc_latency.c's run_acc_with_lock sets options.skip = options.iterations_large
        // here (every other loop of OMB 7.0's c/mpi/one-sided/ takes skip_large): its warmup
        // above 8 KiB is as long as its timed loop.
        skip = b.op === "acc" && cfg.sync === "lock" ? cfg.iterationsLarge : cfg.skipLarge;
      }
      const value = await runSize(comm, cfg, size, iters, skip);
      if (comm.rank === 0) {
        out.rows.push({ size, value });
        say(pt2ptRow(size, value));
      }
    }
    return comm.rank === 0 ? out : undefined;
  };
}

/** One message size: allocate, run the synchronization's loop, free; rank 0 gets the figure. */
async function runSize(
  comm: Comm,
  cfg: OsuRmaConfig,
  size: number,
  iters: number,
  skip: number,
): Promise<number> {
  const b = OSU_RMA_BENCHMARKS[cfg.name];
  const me = comm.rank, peer = 1 - me;
  const count = b.bw ? cfg.windowSize : 1;
  const dt = b.op === "acc" ? "int8" : b.op === "fop" || b.op === "cas" ? "int64" : "uint8";
  const elem = dt === "int64" ? 8 : 1;
  const bytes = Math.max(elem, size * count);
  // The window: over a buffer of the program's (-w create) or allocated (-w allocate).
  let own: mpi.MpiBuffer | undefined;
  let win: mpi.Win;
  if (cfg.win === "create") {
    own = comm.alloc(bytes / elem, dt);
    win = await mpi.Win.create(comm, own);
  } else win = await mpi.Win.allocate(comm, bytes / elem, dt);
  const src = comm.alloc(bytes / elem, dt), res = comm.alloc(bytes / elem, dt);
  src.fill(dt === "int64" ? 1n : 97);
  const slot = (j: number) => [j * size / elem, (j + 1) * size / elem] as const;
  const cmp = comm.alloc(1, "int64");
  /** The operation(s) of one iteration toward `target`. */
  const operate = async (target: number) => {
    for (let j = 0; j < count; j++) {
      const [lo, hi] = slot(j);
      const disp = lo; // the window's displacement unit is its element size
      switch (b.op) {
        case "put":
          await win.put(src.subarray(lo, hi), target, disp);
          break;
        case "get":
          await win.get(res.subarray(lo, hi), target, disp);
          break;
        case "acc":
          await win.accumulate(src.subarray(lo, hi), target, disp, "SUM");
          break;
        case "fop":
          await win.fetchAndOp(src.subarray(0, 1), res.subarray(0, 1), target, 0, "SUM");
          break;
        case "cas":
          await win.compareAndSwap(src.subarray(0, 1), cmp, res.subarray(0, 1), target, 0);
          break;
      }
    }
  };
  const other = comm.getGroup().incl([peer]);
  let t0 = 0, t1 = 0, halve = false;
  const timing = (i: number) => {
    if (i === skip) t0 = comm.wtime();
  };
  switch (cfg.sync) {
    case "flush":
    case "flush_local":
      if (me === 0) {
        await win.lock(mpi.LOCK_SHARED, 1);
        for (let i = 0; i < skip + iters; i++) {
          timing(i);
          await operate(1);
          if (cfg.sync === "flush") await win.flush(1);
          else await win.flushLocal(1);
        }
        t1 = comm.wtime();
        await win.unlock(1);
      }
      break;
    case "lock":
    case "lock_all":
      if (me === 0) {
        for (let i = 0; i < skip + iters; i++) {
          timing(i);
          if (cfg.sync === "lock") await win.lock(mpi.LOCK_SHARED, 1);
          else await win.lockAll();
          await operate(1);
          if (cfg.sync === "lock") await win.unlock(1);
          else await win.unlockAll();
        }
        t1 = comm.wtime();
      }
      break;
    case "fence":
      await comm.barrier();
      if (b.bw) {
        // Bandwidth: rank 0 (and for bibw rank 1 too) operate between two fences.
        for (let i = 0; i < skip + iters; i++) {
          timing(i);
          await win.fence();
          if (me === 0 || "bibw" in b) await operate(peer);
          await win.fence();
        }
      } else {
        halve = true;
        for (let i = 0; i < skip + iters; i++) {
          timing(i);
          if (me === 0) {
            await win.fence();
            await operate(1);
            await win.fence();
            await win.fence();
          } else {
            await win.fence();
            await win.fence();
            await operate(0);
            await win.fence();
          }
        }
      }
      t1 = comm.wtime();
      break;
    case "pscw":
      // osu_get_latency.c's run_get_with_pscw synchronizes before `if (rank == 0)` and again in
      // each branch; the other pscw loops of OMB 7.0's c/mpi/one-sided/ once.
      if (b.op === "get" && !b.bw) await comm.barrier();
      await comm.barrier();
      if ("bibw" in b) {
        for (let i = 0; i < skip + iters; i++) {
          timing(i);
          await win.post(other);
          await win.start(other);
          await operate(peer);
          await win.complete();
          await win.wait();
        }
      } else if (b.bw) {
        for (let i = 0; i < skip + iters; i++) {
          if (me === 0) {
            await win.start(other);
            timing(i);
            await operate(1);
            await win.complete();
          } else {
            await win.post(other);
            await win.wait();
          }
        }
      } else {
        halve = true;
        for (let i = 0; i < skip + iters; i++) {
          if (me === 0) {
            await win.start(other);
            timing(i);
            await operate(1);
            await win.complete();
            await win.post(other);
            await win.wait();
          } else {
            await win.post(other);
            await win.wait();
            await win.start(other);
            await operate(0);
            await win.complete();
          }
        }
      }
      t1 = comm.wtime();
      break;
  }
  await comm.barrier();
  await win.free();
  if (own) await comm.free(own);
  await comm.free(src);
  await comm.free(res);
  await comm.free(cmp);
  const t = t1 - t0;
  if (b.bw) {
    const mb = (size / 1e6) * iters * count;
    return "bibw" in b ? (mb / t) * 2 : mb / t;
  }
  return (t * 1e6) / iters / (halve ? 2 : 1);
}

/**
 * `deno task osu` for a one-sided benchmark: parse, run on two ranks,
 * print; returns the exit status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { osuRmaMain } from "./osu_rma.ts";
 * const lines: string[] = [];
 * await osuRmaMain(["osu_get_bw", "-m", "4096:4096", "-i", "4", "-x", "1", "-W", "8"], (l) => lines.push(l));
 * assert.equal(lines[2], "# Synchronization: MPI_Win_flush");
 * assert.match(lines[4], /^4096\s+\d+\.\d\d$/);
 * ```
 */
export async function osuRmaMain(args: string[], print: (line: string) => void): Promise<number> {
  const cfg = parseOsuRmaArgs(args);
  if (cfg.help) {
    print(rmaUsage(cfg.name));
    return 0;
  }
  if (cfg.version) {
    print(rmaTitle(cfg.name));
    return 0;
  }
  const np = cfg.launch.np ?? 2;
  const main = osuRmaProgram(cfg, np, print);
  const profile = await loadToolProfile(cfg.launch.profile);
  const job = await mpi.mpiexec({ ...cfg.launch, np, profile }, main);
  for (const l of migrationLines(job)) print(`# Live migration: ${l}`);
  return 0;
}

/**
 * The deno tasks' launcher: runs a tool with the narrowest permissions that
 * let it do what this command line asks. It reads the files and writes the
 * outputs the user named (resolved from where the task was run, `INIT_CWD`)
 * and nothing else: read access to the repository and the named inputs,
 * write access to the named outputs only, the environment variables the
 * tools use, FFI only for the tools that can drive real hardware.
 *
 * `deno task perftest … --pcap /tmp/t.pcap` becomes
 * `deno run --allow-read=<repo> --allow-write=/tmp/t.pcap … tools/perftest.ts …`.
 *
 * @module
 */
import { devinfoOptionTable } from "./lib/devinfo_args.ts";
import { getoptLong, type LongOption } from "./lib/getopt.ts";
import { mpirunOptionTable } from "./lib/mpirun_args.ts";
import { nasOptionTable } from "./lib/nas_args.ts";
import { osuOptionTable } from "./lib/osu_args.ts";
import { perftestOptionTable } from "./lib/perftest_args.ts";

/** Where a tool's flags point at files. */
interface ToolSpec {
  script: string;
  ffi?: boolean;
  /** Long flags whose value is a file the tool reads. */
  read?: string[];
  /** Long flags whose value is a file or directory the tool writes. */
  write?: string[];
  /** Outputs written without a flag naming them: default path, unless a flag overrides it. */
  defaults?: { when?: string; unless?: string; path: string }[];
  /**
   * Positionals that are files the tool reads (their directories too: files they name):
   * the first (a program, then its arguments) or all of them (scenario files).
   */
  positionalRead?: "first" | "all";
  /** Flags with a value (for tools parsed with node:util, so values are not taken for files). */
  valued?: string[];
  /**
   * The getopt_long table the tool reads its command line with (tools/lib/getopt.ts), to read it
   * the same way (`--prof my.yaml` is --profile); `stopAtOperand`: the first operand ends the
   * options (getopt's "+", mpirun's program). A refusal is the tool's to report.
   */
  getopt?: { table: () => readonly LongOption[]; stopAtOperand?: boolean };
  short?: Record<string, string>;
  /** V8 flags the tool needs (`--v8-flags=…`), or a function of its arguments giving them. */
  v8Flags?: string[] | ((args: string[]) => string[]);
  /**
   * Leave V8's inlining budgets at their defaults (no {@link INLINING_FLAGS}): the tool runs many
   * short independent points, where compiling costs more than the larger budgets save.
   */
  defaultInlining?: boolean;
}

/**
 * V8's inlining budgets for the tools whose time goes to one long simulated loop (process-wide: a
 * tool's workers get them too). The model's per-packet handlers (a port's transmit, the
 * requester's emit, the receive pipeline) are larger than V8's defaults let TurboFan inline into
 * (460 bytecode bytes per callee, 920 in all per optimized function), so their callees stayed
 * calls. These budgets measured 5–10 % more simulated messages per second on the 64 B stream and
 * 5 % fewer seconds per simulated GB at 1 MiB, alternated with the defaults
 * (docs/performance-history.md, "V8's inlining budgets"). A tool that measures many short points
 * instead (`paper`, `xenib-perf`, `native-perf`: `defaultInlining` in the table below) spends more on
 * compiling larger functions, in every worker, than they give back: `paper` took 7.0–9.0 s of wall
 * time with V8's defaults against 7.4–10.1 s with these (five alternated runs), `xenib-perf`
 * 2.9–3.1 s against 3.4–4.1 s ("Short runs under V8's defaults"). They change no virtual-time
 * figure, only how the same code is compiled.
 */
export const INLINING_FLAGS: readonly string[] = [
  "--max-inlined-bytecode-size=1000",
  "--max-inlined-bytecode-size-cumulative=3000",
];

/** Sections of `bench` other than all-to-all (and "all", which names them). */
const BENCH_OTHERS = ["all", "engine", "rss", "stream", "fastpath"];

const TOOLS: Record<string, ToolSpec> = {
  perftest: {
    script: "tools/perftest.ts",
    ffi: true,
    read: ["profile", "mmap"],
    write: ["pcap", "out_json_file"],
    defaults: [{ when: "out_json", unless: "out_json_file", path: "perftest_out.json" }],
  },
  // A refusal is recorded, not thrown: devinfo lets one pass after -l (`-l --profile my.yaml
  // -i`), and otherwise reports it itself.
  devinfo: {
    script: "tools/ibv_devinfo.ts",
    ffi: true,
    read: ["profile"],
    getopt: { table: devinfoOptionTable },
  },
  paper: {
    script: "tools/paper.ts",
    read: ["profile"],
    write: ["out"],
    defaults: [{ unless: "out", path: "out/paper" }],
    defaultInlining: true,
  },
  run: {
    script: "tools/run.ts",
    write: ["pcap"],
    positionalRead: "all",
    valued: ["pcap-format", "noise", "jobs"],
  },
  "xenib-perf": {
    script: "tools/xenib_perf.ts",
    read: ["profile"],
    short: { p: "profile" },
    defaultInlining: true,
  },
  "native-perf": {
    script: "tools/native_perf.ts",
    read: ["profile"],
    short: { p: "profile" },
    defaultInlining: true,
  },
  // --expose-gc: the RSS figure is taken after a full collection. The all-to-all alone runs
  // with a 128 MiB young generation: its many QPs keep much in flight, and a larger nursery
  // lets more of what a message allocates die young (at 64 hosts, 20 writes per pair, 128 MiB
  // took about a fifth off the traffic's time against 64 and 256 nothing more; the full run
  // about 4 %: docs/performance-history.md). Not with the other sections: it would change
  // the RSS figure.
  bench: {
    script: "tools/bench.ts",
    v8Flags: (args) =>
      args.includes("all-to-all") && !args.some((a) => BENCH_OTHERS.includes(a))
        ? ["--expose-gc", "--max-semi-space-size=128"]
        : ["--expose-gc"],
  },
  // The program file (and its directory, for what it imports) is read: the first operand, which
  // ends mpirun's flags.
  mpirun: {
    script: "tools/mpirun.ts",
    read: ["profile"],
    positionalRead: "first",
    getopt: { table: mpirunOptionTable, stopAtOperand: true },
  },
  osu: { script: "tools/osu.ts", read: ["profile"] },
  nas: { script: "tools/nas.ts", read: ["profile"], getopt: { table: nasOptionTable } },
  migration: { script: "tools/migration.ts", read: ["profile"], short: { p: "profile" } },
  fuzz: { script: "tools/fuzz.ts" },
};

/** Whether the tool's flag `name` takes a value (a file it reads or writes, or a valued flag). */
function valuedName(spec: ToolSpec, name: string): boolean {
  return [...(spec.read ?? []), ...(spec.write ?? []), ...(spec.valued ?? [])].includes(name);
}

/**
 * Resolve `p` against `base` (no file system access).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveFrom } from "./launch.ts";
 * assert.deepEqual(resolveFrom("/home/u/x", "../t.pcap"), "/home/u/t.pcap");
 * ```
 */
export function resolveFrom(base: string, p: string): string {
  const parts = (p.startsWith("/") ? p : `${base}/${p}`).split("/");
  const out: string[] = [];
  for (const part of parts) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/**
 * The read and write paths a tool's command line names, resolved from `cwd`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pathsOf } from "./launch.ts";
 * const p = pathsOf("perftest", ["ib_send_lat", "--pcap", "t.pcap", "--out_json"], "/w");
 * assert.deepEqual(p.write, [ "/w/t.pcap", "/w/perftest_out.json" ]);
 * // A short flag's value glued on, as the tool's parseArgs takes it.
 * assert.deepEqual(pathsOf("native-perf", ["-pmine.yaml"], "/w").read, ["/w/mine.yaml"]);
 * // But mpirun's -np is the flag np, not -n with "p" glued on: its program is the file read.
 * assert.deepEqual(pathsOf("mpirun", ["-np", "2", "../p.ts"], "/w/s").read, ["/w/p.ts", "/w"]);
 * // --migrate's value is its value, not the program.
 * const m = pathsOf("mpirun", ["-np", "2", "--migrate", "0@5", "../p.ts"], "/w/s");
 * assert.deepEqual(m.read, ["/w/p.ts", "/w"]);
 * // mpirun's and nas's by getopt_long's rules too: the program ends mpirun's flags.
 * const g = pathsOf("mpirun", ["-n", "2", "--prof=p.yaml", "p.ts", "--profile", "q.yaml"], "/w");
 * assert.deepEqual(g.read, ["/w/p.yaml", "/w/p.ts", "/w"]);
 * assert.deepEqual(pathsOf("nas", ["is", "--pro", "p.yaml"], "/w").read, ["/w/p.yaml"]);
 * // devinfo's command line by getopt_long's rules, as the tool reads it.
 * assert.deepEqual(pathsOf("devinfo", ["-l", "--prof", "p.yaml", "-i"], "/w").read, ["/w/p.yaml"]);
 * // So is osu's, with the benchmark's table: a value is the next word, whatever it looks like.
 * assert.deepEqual(pathsOf("osu", ["osu_bw", "--prof", "p.yaml"], "/w").read, ["/w/p.yaml"]);
 * assert.deepEqual(pathsOf("osu", ["osu_bw", "-b", "--profile", "p.yaml"], "/w").read, []);
 * // `--` ends osu's options as every getopt tool's: a launch flag after it is an operand.
 * assert.deepEqual(pathsOf("osu", ["osu_bw", "--", "--profile", "p.yaml"], "/w").read, []);
 * ```
 */
export function pathsOf(
  tool: string,
  args: string[],
  cwd: string,
): { read: string[]; write: string[] } {
  const spec = TOOLS[tool];
  const read: string[] = [], write: string[] = [];
  if (!spec) return { read, write };
  const given = new Map<string, string | true>();
  const positionals: string[] = [];
  if (tool === "perftest") {
    try {
      const r = getoptLong(args, perftestOptionTable());
      for (const o of r.options) given.set(o.name, o.value ?? true);
      positionals.push(...r.positionals);
    } catch {
      // The tool itself reports the bad command line.
    }
  } else if (spec.getopt) {
    // Read as the tool reads it: devinfo, nas and mpirun (`--prof my.yaml` is --profile).
    const r = getoptLong(args, spec.getopt.table(), {
      recordError: true,
      stopAtOperand: spec.getopt.stopAtOperand,
    });
    for (const o of r.options) given.set(o.name, o.value ?? true);
    positionals.push(...r.positionals);
  } else if (tool === "osu") {
    // Read as the tool reads it (tools/lib/osu_args.ts, the benchmark's table): `--prof my.yaml`
    // is --profile, and `--` ends the options (a launch flag after it is an operand, which the
    // tool refuses). A refusal is the tool's to report.
    const r = getoptLong(args.slice(1), osuOptionTable(args[0] ?? ""), { recordError: true });
    for (const o of r.options) given.set(o.name, o.value ?? true);
  } else {
    const valued = new Set([...(spec.read ?? []), ...(spec.write ?? []), ...(spec.valued ?? [])]);
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      let name: string | undefined, value: string | undefined;
      // After `--` every argument is a positional, as node:util's parseArgs (the tools' parser)
      // reads it: `deno task run -- --odd.yaml` was granted nothing and refused as "no read
      // permission".
      if (a === "--") {
        positionals.push(...args.slice(i + 1));
        break;
      }
      if (a.startsWith("--")) {
        const eq = a.indexOf("=");
        name = eq < 0 ? a.slice(2) : a.slice(2, eq);
        if (eq >= 0) value = a.slice(eq + 1);
      } else if (/^-[A-Za-z]$/.test(a) && spec.short?.[a[1]]) name = spec.short[a[1]];
      // A short flag with its value glued on (`-pmy.yaml`), as node:util's parseArgs reads it.
      else if (/^-[A-Za-z]./.test(a) && spec.short?.[a[1]] && valuedName(spec, spec.short[a[1]])) {
        name = spec.short[a[1]];
        value = a.slice(2);
      } else if (!a.startsWith("-")) {
        positionals.push(a);
        continue;
      }
      if (name === undefined) continue;
      if (valued.has(name) && value === undefined && i + 1 < args.length) value = args[++i];
      given.set(name, value ?? true);
    }
  }
  const path = (
    v: string | true | undefined,
  ) => (typeof v === "string" && v !== "" ? v : undefined);
  for (const f of spec.read ?? []) {
    const v = path(given.get(f));
    // Built-in profile names are not files.
    if (v && (f !== "profile" || /\.ya?ml$/i.test(v))) read.push(resolveFrom(cwd, v));
  }
  for (const f of spec.write ?? []) {
    const v = path(given.get(f));
    if (v) write.push(resolveFrom(cwd, v));
  }
  for (const d of spec.defaults ?? []) {
    if (d.when && !given.has(d.when)) continue;
    if (d.unless && given.has(d.unless)) continue;
    write.push(resolveFrom(cwd, d.path));
  }
  const files = spec.positionalRead === "all"
    ? positionals
    : spec.positionalRead === "first"
    ? positionals.slice(0, 1)
    : [];
  for (const f of files) {
    const file = resolveFrom(cwd, f);
    read.push(file, file.slice(0, file.lastIndexOf("/")) || "/");
  }
  return { read, write };
}

/**
 * The `deno run` arguments for a tool and its command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { denoArgs } from "./launch.ts";
 * const a = denoArgs("paper", ["--out", "/tmp/p"], "/repo", "/home/u");
 * assert.deepEqual(a.includes("--allow-write=/tmp/p"), true);
 * // The long-running tools get V8's larger inlining budgets, the tools of many short points
 * // V8's defaults; the all-to-all bench alone also a larger young generation (with the RSS
 * // section it does not).
 * const flags = (tool: string, args: string[]) =>
 *   denoArgs(tool, args, "/repo", "/").filter((x) => x.startsWith("--v8")).join().split(",");
 * assert.deepEqual(flags("perftest", ["-a"]), ["--v8-flags=--max-inlined-bytecode-size=1000", "--max-inlined-bytecode-size-cumulative=3000"]);
 * assert.deepEqual(flags("paper", []), [""]); // no --v8-flags at all
 * assert.deepEqual(flags("xenib-perf", []), [""]);
 * assert.deepEqual(flags("bench", ["all-to-all", "--hosts", "8"]).slice(0, 2), ["--v8-flags=--expose-gc", "--max-semi-space-size=128"]);
 * assert.deepEqual(flags("bench", ["rss", "all-to-all"]).slice(0, 2), ["--v8-flags=--expose-gc", "--max-inlined-bytecode-size=1000"]);
 * ```
 */
export function denoArgs(tool: string, args: string[], repo: string, cwd: string): string[] {
  const spec = TOOLS[tool];
  const { read, write } = pathsOf(tool, args, cwd);
  const perms = [
    `--allow-read=${[repo, ...read].join(",")}`,
    "--allow-env=LOG_TOKENS,LOG_STREAM,INIT_CWD,NO_COLOR",
  ];
  if (write.length) perms.push(`--allow-write=${write.join(",")}`);
  if (spec.ffi) perms.push("--allow-ffi");
  const own = typeof spec.v8Flags === "function" ? spec.v8Flags(args) : spec.v8Flags ?? [];
  const v8 = spec.defaultInlining ? own : [...own, ...INLINING_FLAGS];
  if (v8.length) perms.push(`--v8-flags=${v8.join(",")}`);
  return ["run", "--quiet", ...perms, `${repo}/${spec.script}`, ...args];
}

if (import.meta.main) {
  const [tool, ...args] = Deno.args;
  if (!tool || !Object.hasOwn(TOOLS, tool)) {
    console.error(`launch: unknown tool '${tool ?? ""}' (one of ${Object.keys(TOOLS).join(", ")})`);
    Deno.exit(2);
  }
  const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const cwd = Deno.env.get("INIT_CWD") || Deno.cwd();
  const child = new Deno.Command("deno", {
    args: denoArgs(tool, args, repo, cwd),
    env: { INIT_CWD: cwd },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Ctrl-C reaches the child through the terminal's process group; wait for it.
  const status = await child.status;
  Deno.exit(status.signal ? 130 : status.code);
}

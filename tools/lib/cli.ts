/**
 * Shared CLI plumbing for the tools: user-facing errors become one line on
 * stderr and exit code 1 (never a stack trace); a progress bar on stderr.
 *
 * @module
 */

import { ToolError } from "./api.ts";

/** Error names whose message is meant for the user as it is. */
const USER_ERRORS = new Set([
  "UsageError",
  "ToolError",
  "CompletionError",
  "YamlInputError",
  "ProfileError",
  "VerbsError",
  "XenError",
  "DeadlockError",
  "MpiError",
  "MpiJobError",
]);

/**
 * Whether `e` is an error meant for the user as it is (a usage, input, verbs or MPI error),
 * not a bug, whose stack {@link describeError} keeps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isUserError } from "./cli.ts";
 * import { ToolError } from "./api.ts";
 * assert.equal(isUserError(new ToolError("--size: 0 is too small")), true);
 * assert.equal(isUserError(new TypeError("x is undefined")), false); // a bug
 * ```
 */
export function isUserError(e: unknown): e is Error {
  return e instanceof Error && USER_ERRORS.has(e.name);
}

/**
 * The line to print for an error thrown by a tool: its message for the
 * errors meant for users, the stack for anything else (a bug).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeError } from "./cli.ts";
 * import { UsageError } from "./perftest_args.ts";
 * assert.equal(
 *   describeError("perftest", new UsageError("unknown flag '--x'")),
 *   "perftest: unknown flag '--x'",
 * );
 * ```
 */
export function describeError(tool: string, e: unknown): string {
  if (isUserError(e)) return `${tool}: ${oneLine(e.message)}`;
  if (e instanceof Deno.errors.NotCapable || (e instanceof Error && e.name === "NotCapable")) {
    return `${tool}: ${oneLine((e as Error).message)}`;
  }
  return `${tool}: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`;
}

/**
 * A user error's message on one line: a control character it quotes from the input (a line
 * break in a name, `--profile $'a\nb'`) is shown escaped, as JSON writes it; a word of more than
 * 1000 characters (a huge value quoted back; paths are far shorter in practice) by its first 100
 * and its length.
 */
function oneLine(message: string): string {
  return message
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1))
    // A value quoted whole (a 100 000-character name or seed) made a line of that length: its
    // start is enough to recognise it.
    .replace(/\S{1001,}/g, (w) => `${w.slice(0, 100)}…(${w.length} characters)`);
}

/**
 * Run a tool's main function; print errors as {@link describeError} does and
 * exit 1 on failure; a number returned is the exit code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runMain } from "./cli.ts";
 * import { ToolError } from "./api.ts";
 * // Deno.exit and console.error stood in for, to watch what runMain does.
 * const exits: number[] = [], printed: string[] = [];
 * const [exit, error] = [Deno.exit, console.error];
 * Deno.exit = ((code?: number) => void exits.push(code ?? 0)) as typeof Deno.exit;
 * console.error = (line: string) => void printed.push(line);
 * try {
 *   await runMain("mytool", () => Promise.resolve()); // returns: exit code 0
 *   await runMain("mytool", () => Promise.resolve(3));
 *   await runMain("mytool", () => Promise.reject(new ToolError("--size: 0 is too small")));
 * } finally {
 *   [Deno.exit, console.error] = [exit, error];
 * }
 * assert.deepEqual(exits, [3, 1]);
 * assert.deepEqual(printed, ["mytool: --size: 0 is too small"]); // one line, no stack
 * ```
 */
export async function runMain(
  tool: string,
  main: () => Promise<void | number>,
): Promise<void> {
  let code = 0;
  try {
    code = (await main()) ?? 0;
  } catch (e) {
    console.error(describeError(tool, e));
    Deno.exit(1);
  }
  if (code !== 0) Deno.exit(code);
}

/**
 * Where the user ran the task: `INIT_CWD` (set by `deno task` and npm),
 * else the working directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { userCwd } from "./cli.ts";
 * const init = Deno.env.get("INIT_CWD");
 * try {
 *   Deno.env.set("INIT_CWD", "/home/ada/runs"); // as `deno task` sets it
 *   assert.equal(userCwd(), "/home/ada/runs");
 *   Deno.env.delete("INIT_CWD");
 *   assert.equal(userCwd(), Deno.cwd());
 * } finally {
 *   if (init !== undefined) Deno.env.set("INIT_CWD", init);
 * }
 * ```
 */
export function userCwd(): string {
  let init: string | undefined;
  try {
    init = Deno.env.get("INIT_CWD");
  } catch {
    init = undefined; // no env permission: the working directory it is
  }
  return init && init.startsWith("/") ? init : Deno.cwd();
}

/**
 * A path the user typed, resolved from where the task was run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { userPath } from "./cli.ts";
 * assert.equal(userPath("/tmp/x.pcap"), "/tmp/x.pcap");
 * const init = Deno.env.get("INIT_CWD");
 * try {
 *   Deno.env.set("INIT_CWD", "/home/ada/runs/");
 *   assert.equal(userPath("x.pcap"), "/home/ada/runs/x.pcap");
 *   assert.equal(userPath("../out/./x.pcap"), "/home/ada/out/x.pcap");
 * } finally {
 *   if (init === undefined) Deno.env.delete("INIT_CWD");
 *   else Deno.env.set("INIT_CWD", init);
 * }
 * ```
 */
export function userPath(p: string): string {
  if (p.startsWith("/")) return p;
  const base = userCwd().replace(/\/+$/, "");
  const parts = `${base}/${p}`.split("/");
  const out: string[] = [];
  for (const part of parts) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/**
 * A file the user named for `what` (a flag, or what the file is), resolved as
 * {@link userPath} does; an empty name is refused: resolved, it would be the
 * directory the task was run in, and the error would name that instead of
 * the empty value given.
 *
 * @throws ToolError `<what>: empty file name`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { userFile } from "./cli.ts";
 * assert.equal(userFile("/tmp/x.pcap", "--pcap"), "/tmp/x.pcap");
 * assert.throws(() => userFile("", "--mmap"), { name: "ToolError", message: "--mmap: empty file name" });
 * ```
 */
export function userFile(p: string, what: string): string {
  if (p === "") throw new ToolError(`${what}: empty file name`);
  return userPath(p);
}

/** A one-line reason for a failed file operation. */
function fileError(flag: string, path: string, e: unknown, verb: "read" | "write"): ToolError {
  const err = e as Error;
  if (err?.name === "NotCapable" || err?.name === "PermissionDenied") {
    const perm = verb === "read" ? "--allow-read" : "--allow-write";
    // Deno grants /dev, /proc and /sys only to --allow-all ("Requires all access"),
    // whatever --allow-read/--allow-write name.
    const why = err.name !== "NotCapable"
      ? `permission denied by the system`
      : /Requires all access/.test(err.message ?? "")
      ? `Deno reaches /dev, /proc and /sys only with --allow-all; choose another place`
      : `no ${verb} permission (run it through its deno task, or add ${perm}=${path})`;
    return new ToolError(`${flag} ${path}: cannot ${verb} it: ${why}`);
  }
  if (err?.name === "NotFound") {
    return new ToolError(
      `${flag} ${path}: ${verb === "read" ? "no such file" : "its directory does not exist"}`,
    );
  }
  return new ToolError(`${flag} ${path}: cannot ${verb} it (${err?.message ?? String(e)})`);
}

/**
 * Read a file the user named (relative to where the task was run).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readUserFile } from "./cli.ts";
 * import { ToolError } from "./api.ts";
 * const file = await Deno.makeTempFile();
 * await Deno.writeTextFile(file, "xenib");
 * assert.deepEqual(await readUserFile(file, "--mmap"), new TextEncoder().encode("xenib"));
 * await Deno.remove(file);
 * await assert.rejects(readUserFile("/nonexistent/x", "--mmap"), (e) => {
 *   assert.ok(e instanceof ToolError);
 *   assert.equal(e.message, "--mmap /nonexistent/x: no such file");
 *   return true;
 * });
 * ```
 */
export async function readUserFile(path: string, flag: string): Promise<Uint8Array> {
  const full = userFile(path, flag);
  try {
    return await Deno.readFile(full);
  } catch (e) {
    throw fileError(flag, full, e, "read");
  }
}

/**
 * Write a file the user named (relative to where the task was run); returns
 * the full path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeUserFile } from "./cli.ts";
 * const dir = await Deno.makeTempDir();
 * assert.equal(
 *   await writeUserFile(`${dir}/x.pcap`, new Uint8Array([1, 2]), "--pcap"),
 *   `${dir}/x.pcap`,
 * );
 * assert.deepEqual(await Deno.readFile(`${dir}/x.pcap`), new Uint8Array([1, 2]));
 * await assert.rejects(writeUserFile(`${dir}/no/x.pcap`, new Uint8Array(1), "--pcap"), {
 *   name: "ToolError",
 *   message: `--pcap ${dir}/no/x.pcap: its directory does not exist`,
 * });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeUserFile(path: string, data: Uint8Array, flag: string): Promise<string> {
  const full = userFile(path, flag);
  try {
    await Deno.writeFile(full, data);
  } catch (e) {
    throw fileError(flag, full, e, "write");
  }
  return full;
}

/**
 * Create the directory the user named as an output (and its parents), as
 * given to a tool's `flag`; a one-line {@link ToolError} names what stood in
 * the way. `full` is already resolved ({@link userPath}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeUserDir } from "./cli.ts";
 * const dir = await Deno.makeTempDir();
 * await makeUserDir(`${dir}/a/b`, "--out");
 * assert.ok((await Deno.stat(`${dir}/a/b`)).isDirectory);
 * await Deno.writeTextFile(`${dir}/f`, "");
 * await assert.rejects(makeUserDir(`${dir}/f/c`, "--out"), {
 *   name: "ToolError",
 *   message: new RegExp(`^--out ${dir}/f/c: cannot create the directory \\(`),
 * });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function makeUserDir(full: string, flag: string): Promise<void> {
  try {
    await Deno.mkdir(full, { recursive: true });
  } catch (e) {
    const err = e as Error;
    if (err?.name === "NotCapable" || err?.name === "PermissionDenied") {
      throw fileError(flag, full, e, "write");
    }
    throw new ToolError(`${flag} ${full}: cannot create the directory (${err?.message ?? e})`);
  }
}

/**
 * Check, before a run, that a file the user named as an output can be written (relative to
 * where the task was run), so that a missing directory or a directory given as the file fails
 * at once instead of after the whole run. Nothing is left behind: a file that was not there
 * is created and removed, one that was there is opened for writing and left as it was.
 * Returns the full path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkUserOutput } from "./cli.ts";
 * const dir = await Deno.makeTempDir();
 * assert.equal(await checkUserOutput(`${dir}/x.pcap`, "--pcap"), `${dir}/x.pcap`);
 * await assert.rejects(Deno.stat(`${dir}/x.pcap`), { name: "NotFound" }); // not left behind
 * await assert.rejects(checkUserOutput(`${dir}/no/x.pcap`, "--pcap"), {
 *   name: "ToolError",
 *   message: `--pcap ${dir}/no/x.pcap: its directory does not exist`,
 * });
 * await assert.rejects(checkUserOutput(dir, "--pcap"), { name: "ToolError" }); // a directory
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function checkUserOutput(path: string, flag: string): Promise<string> {
  const full = userFile(path, flag);
  try {
    (await Deno.open(full, { write: true, createNew: true })).close();
    await Deno.remove(full);
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw fileError(flag, full, e, "write");
    try {
      (await Deno.open(full, { write: true })).close();
    } catch (e2) {
      throw fileError(flag, full, e2, "write");
    }
  }
  return full;
}

/**
 * Progress within one measured size, on stderr: a bar redrawn in place on
 * a terminal, otherwise a line every few seconds of wall time (tools may
 * read the wall clock; the model never does).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SizeProgress } from "./cli.ts";
 * const lines: string[] = [];
 * const write = Deno.stderr.writeSync; // watched, to see what it draws
 * Deno.stderr.writeSync = (b) => lines.push(new TextDecoder().decode(b)) && b.length;
 * try {
 *   const quiet = new SizeProgress({ quiet: true });
 *   quiet.startSize(65536, 0, 1);
 *   quiet.update(100, 5000, 65536);
 *   quiet.end();
 *   assert.deepEqual(lines, []); // quiet draws nothing
 *   const p = new SizeProgress({ tty: false, intervalMs: 0 }); // a line per update off a terminal
 *   p.startSize(65536, 1, 3);
 *   p.update(1250, 5000, 65536);
 *   p.end();
 * } finally {
 *   Deno.stderr.writeSync = write;
 * }
 * assert.equal(lines.length, 1);
 * // …and the wall-clock seconds since the size began
 * assert.match(
 *   lines[0],
 *   /^progress: size 2\/3, 65536 bytes: 1250\/5000 messages \(25 %\), \d+ s\n$/,
 * );
 * ```
 */
export class SizeProgress {
  #tty: boolean;
  #quiet: boolean;
  #enc = new TextEncoder();
  #last = 0;
  #start = 0;
  #drawn = false;
  #intervalMs: number;
  #label = "";

  /** @param o `quiet` draws nothing; `intervalMs` between lines off a terminal (default 5000) */
  constructor(o: { quiet?: boolean; intervalMs?: number; tty?: boolean } = {}) {
    this.#quiet = o.quiet ?? false;
    this.#tty = o.tty ?? Deno.stderr.isTerminal();
    this.#intervalMs = o.intervalMs ?? 5000;
  }

  /** A size begins. */
  startSize(bytes: number, index: number, count: number): void {
    this.#start = performance.now();
    this.#last = this.#start;
    this.#label = count > 1 ? `size ${index + 1}/${count}, ${bytes} bytes` : `${bytes} bytes`;
  }

  /** Messages done of total (total 0: a -D run, counted up). */
  update(done: number, total: number, _bytes: number): void {
    if (this.#quiet) return;
    const now = performance.now();
    const secs = ((now - this.#start) / 1000).toFixed(0);
    if (this.#tty) {
      if (now - this.#last < 100) return;
      this.#last = now;
      const width = 30;
      const frac = total > 0 ? Math.min(1, done / total) : 0;
      const filled = Math.round(frac * width);
      const count = total > 0 ? `${done}/${total}` : `${done}`;
      const line = `[${"#".repeat(filled)}${
        ".".repeat(width - filled)
      }] ${this.#label}: ${count} messages, ${secs} s`;
      Deno.stderr.writeSync(this.#enc.encode(`\r\x1b[2K${line}`));
      this.#drawn = true;
      return;
    }
    if (now - this.#last < this.#intervalMs) return;
    this.#last = now;
    const pct = total > 0 ? ` (${Math.floor((100 * done) / total)} %)` : "";
    Deno.stderr.writeSync(
      this.#enc.encode(
        `progress: ${this.#label}: ${done}${
          total > 0 ? `/${total}` : ""
        } messages${pct}, ${secs} s\n`,
      ),
    );
  }

  /** Remove the bar before a row is printed. */
  clear(): void {
    if (this.#drawn && this.#tty) Deno.stderr.writeSync(this.#enc.encode("\r\x1b[2K"));
    this.#drawn = false;
  }

  /** Done. */
  end(): void {
    this.clear();
  }
}

/**
 * A progress bar on stderr (redrawn in place on a terminal, one line per step otherwise).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Progress } from "./cli.ts";
 * const lines: string[] = [];
 * const write = Deno.stderr.writeSync; // watched, to see what it draws
 * Deno.stderr.writeSync = (b) => lines.push(new TextDecoder().decode(b)) && b.length;
 * try {
 *   const quiet = new Progress(2, true);
 *   quiet.step("one");
 *   quiet.end();
 *   assert.deepEqual(lines, []); // quiet draws nothing
 *   const p = new Progress(4, false, false); // not a terminal: a line per step
 *   p.step("native write latency");
 *   p.draw("native write latency, 2 bytes"); // the same step, a new label
 *   p.end();
 * } finally {
 *   Deno.stderr.writeSync = write;
 * }
 * assert.deepEqual(lines, [
 *   "[########......................] 1/4 native write latency\n",
 *   "[########......................] 1/4 native write latency, 2 bytes\n",
 * ]);
 * ```
 */
export class Progress {
  #total: number;
  #done = 0;
  #tty: boolean;
  #enc = new TextEncoder();
  #quiet: boolean;

  /**
   * @param total number of steps
   * @param quiet print nothing
   * @param tty redraw in place (default: whether stderr is a terminal)
   */
  constructor(total: number, quiet = false, tty?: boolean) {
    this.#total = Math.max(1, total);
    this.#quiet = quiet;
    this.#tty = tty ?? Deno.stderr.isTerminal();
  }

  /**
   * Mark a step done and draw the bar with a label.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Progress } from "./cli.ts";
   * const lines: string[] = [];
   * const write = Deno.stderr.writeSync;
   * Deno.stderr.writeSync = (b) => lines.push(new TextDecoder().decode(b)) && b.length;
   * try {
   *   const p = new Progress(2, false, false);
   *   for (const label of ["a", "b", "c"]) p.step(label);
   * } finally {
   *   Deno.stderr.writeSync = write;
   * }
   * // A step past the total stays at the total.
   * assert.deepEqual(lines.map((l) => l.slice(33).trimEnd()), ["1/2 a", "2/2 b", "2/2 c"]);
   * ```
   */
  step(label: string): void {
    this.#done = Math.min(this.#total, this.#done + 1);
    this.draw(label);
  }

  /** Draw the bar for the current step count. */
  draw(label: string): void {
    if (this.#quiet) return;
    const width = 30;
    const filled = Math.round((this.#done / this.#total) * width);
    const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${
      String(this.#done).padStart(String(this.#total).length)
    }/${this.#total} ${label}`;
    if (this.#tty) Deno.stderr.writeSync(this.#enc.encode(`\r\x1b[2K${bar}`));
    else Deno.stderr.writeSync(this.#enc.encode(bar + "\n"));
  }

  /** Finish the bar (newline on a terminal). */
  end(): void {
    if (!this.#quiet && this.#tty) Deno.stderr.writeSync(this.#enc.encode("\n"));
  }
}

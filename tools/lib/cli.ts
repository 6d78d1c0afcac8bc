/**
 * Shared CLI plumbing for the tools: user-facing errors become one line on
 * stderr and exit code 1 (never a stack trace); a progress bar on stderr.
 *
 * @module
 */

/** Error names whose message is meant for the user as it is. */
const USER_ERRORS = new Set([
  "UsageError",
  "ToolError",
  "YamlInputError",
  "ProfileError",
  "VerbsError",
  "XenError",
  "DeadlockError",
]);

/**
 * The line to print for an error thrown by a tool: its message for the
 * errors meant for users, the stack for anything else (a bug).
 *
 * @example
 * ```ts
 * import { describeError } from "./cli.ts";
 * import { UsageError } from "./perftest_args.ts";
 * console.log(describeError("perftest", new UsageError("unknown flag '--x'"))); // perftest: unknown flag '--x'
 * ```
 */
export function describeError(tool: string, e: unknown): string {
  if (e instanceof Error && USER_ERRORS.has(e.name)) return `${tool}: ${e.message}`;
  if (e instanceof Deno.errors.NotCapable || (e instanceof Error && e.name === "NotCapable")) {
    return `${tool}: ${(e as Error).message}`;
  }
  return `${tool}: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`;
}

/**
 * Run a tool's main function; print errors as {@link describeError} does and
 * exit 1 on failure.
 *
 * @example
 * ```ts ignore
 * import { runMain } from "./cli.ts";
 * await runMain("mytool", async () => { console.log("hi"); });
 * ```
 */
export async function runMain(tool: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    console.error(describeError(tool, e));
    Deno.exit(1);
  }
}

/**
 * A progress bar on stderr (redrawn in place on a terminal, one line per step otherwise).
 *
 * @example
 * ```ts
 * import { Progress } from "./cli.ts";
 * const p = new Progress(2, true); // quiet: draws nothing
 * p.step("one");
 * p.step("two");
 * p.end();
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
   */
  constructor(total: number, quiet = false) {
    this.#total = Math.max(1, total);
    this.#quiet = quiet;
    this.#tty = Deno.stderr.isTerminal();
  }

  /**
   * Mark a step done and draw the bar with a label.
   *
   * @example
   * ```ts ignore
   * const p = new Progress(2); p.step("a"); p.step("b"); p.end();
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

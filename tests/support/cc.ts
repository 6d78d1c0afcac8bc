/**
 * Test helper: compile and run small C programs against system headers
 * (ABI-compatibility tests: Xen `io/ring.h`, `grant_table.h`,
 * `infiniband/verbs.h`, …).
 *
 * Skip policy: when a prerequisite (a C compiler, a header, a library) is
 * missing, the test is registered as ignored, with a name and a warning that
 * say what is missing and which package provides it. When the environment
 * has `CI=true`, a missing prerequisite is a failure instead: CI installs
 * them, so a skip there would hide a broken setup.
 *
 * Needs `--allow-run` (the compiler and the program), `--allow-env` (`CC`,
 * `CI`, `PATH`), `--allow-read` and `--allow-write` for the temporary
 * directory (under `/tmp`, which the project's test task allows).
 *
 * @example
 * Not run by `deno test --doc`: it registers a test, and a doc test cannot
 * register another.
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { cTest } from "./cc.ts"; // in a test under tests/: "./support/cc.ts"
 *
 * await cTest(
 *   "ring.h: RING_IDX is 4 bytes",
 *   { headers: ["xen/io/ring.h"], install: "libxen-dev" },
 *   async (c) => {
 *     const out = await c.run(`
 *       #include <stdio.h>
 *       #include <stdint.h>
 *       #include <xen/io/ring.h>
 *       int main(void) { printf("%zu\\n", sizeof(RING_IDX)); return 0; }
 *     `);
 *     assert.equal(out.trim(), "4");
 *   },
 * );
 * ```
 *
 * @module
 */

/**
 * What a C test needs.
 *
 * @example
 * ```ts
 * import type { CRequirements } from "./cc.ts";
 * const req: CRequirements = { headers: ["infiniband/verbs.h"], libs: ["ibverbs"], install: "libibverbs-dev" };
 * ```
 */
export interface CRequirements {
  /** Headers as written between `<>` in `#include`, e.g. `"xen/io/ring.h"`. */
  headers?: string[];
  /** Libraries to link, as given to `-l` (e.g. `"ibverbs"`). */
  libs?: string[];
  /** The package(s) that provide them, named in the skip message (e.g. `"libxen-dev"`). */
  install?: string;
}

/**
 * Options of {@link CToolchain.run}.
 *
 * @example
 * ```ts
 * import type { RunOptions } from "./cc.ts";
 * const opts: RunOptions = { args: ["page.bin"], files: { "page.bin": new Uint8Array(4096) } };
 * ```
 */
export interface RunOptions {
  /** Command-line arguments of the program. */
  args?: string[];
  /** Files written into the program's working directory before it runs. */
  files?: Record<string, Uint8Array | string>;
  /** Extra compiler flags (after the defaults, before the source). */
  cflags?: string[];
  /** Libraries to link, as given to `-l`. */
  libs?: string[];
  /** Kill the program after this long (default 30 s). */
  timeoutMs?: number;
}

/**
 * A usable C compiler.
 *
 * @example
 * ```ts
 * import { probeC } from "./cc.ts";
 * const p = await probeC({});
 * if (p.ok) console.log(await p.toolchain.run("int main(void){return 0;}")); // ""
 * ```
 */
export interface CToolchain {
  /** The compiler command and its leading arguments (from `$CC` or `PATH`). */
  readonly cc: readonly string[];
  /**
   * Compile `source` in a fresh temporary directory (`-std=gnu11 -Wall
   * -Wextra -Werror`), run it there, delete the directory, and return its
   * stdout.
   * @throws Error with the compiler's or program's stderr on failure
   */
  run(source: string, opts?: RunOptions): Promise<string>;
}

/**
 * Result of {@link probeC}.
 *
 * @example
 * ```ts
 * import { probeC } from "./cc.ts";
 * const p = await probeC({ headers: ["no/such/header.h"], install: "nothing" });
 * if (!p.ok) console.log(p.message); // <no/such/header.h> not found by cc … — install nothing
 * ```
 */
export type CProbe =
  | { ok: true; toolchain: CToolchain }
  | { ok: false; missing: string[]; message: string };

/**
 * True when the environment says it is CI (`CI=true`): missing prerequisites
 * fail instead of skipping.
 *
 * @example
 * ```ts
 * import { isCI } from "./cc.ts";
 * console.log(typeof isCI()); // boolean
 * ```
 */
export function isCI(): boolean {
  return Deno.env.get("CI") === "true";
}

const decoder = new TextDecoder();

function isExecutable(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && (st.mode === null || (st.mode & 0o111) !== 0);
  } catch {
    return false;
  }
}

function which(name: string): string | undefined {
  if (name.includes("/")) return isExecutable(name) ? name : undefined;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir !== "" && isExecutable(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

/**
 * `$CC` (split on blanks, so `CC="gcc -m32"` works), else the first of cc,
 * gcc, clang on `PATH`; or why none is usable.
 */
function findCompiler(): string[] | string {
  const env = Deno.env.get("CC")?.trim();
  if (env) {
    const [cmd, ...rest] = env.split(/\s+/);
    const path = which(cmd);
    return path ? [path, ...rest] : `$CC is '${env}', but '${cmd}' is not an executable`;
  }
  for (const name of ["cc", "gcc", "clang"]) {
    const path = which(name);
    if (path) return [path];
  }
  return "no C compiler found ($CC, or cc, gcc, clang on PATH)";
}

async function exec(
  cmd: readonly string[],
  opts: { cwd?: string; stdin?: string; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string; timedOut: boolean }> {
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, opts.timeoutMs ?? 30_000);
  try {
    const child = new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      cwd: opts.cwd,
      stdin: opts.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).spawn();
    if (opts.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(opts.stdin));
      await w.close();
    }
    const out = await child.output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
  }
}

const DEFAULT_CFLAGS = ["-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror"];

function toolchain(cc: string[]): CToolchain {
  return {
    cc,
    async run(source: string, opts: RunOptions = {}): Promise<string> {
      const dir = await Deno.makeTempDir({ prefix: "xenib-cc-" });
      try {
        await Deno.writeTextFile(`${dir}/prog.c`, source);
        for (const [name, data] of Object.entries(opts.files ?? {})) {
          if (name.includes("/")) throw new Error(`run: file name must be plain, got '${name}'`);
          if (typeof data === "string") await Deno.writeTextFile(`${dir}/${name}`, data);
          else await Deno.writeFile(`${dir}/${name}`, data);
        }
        const compile = await exec([
          ...cc,
          ...DEFAULT_CFLAGS,
          ...(opts.cflags ?? []),
          "-o",
          `${dir}/prog`,
          `${dir}/prog.c`,
          ...(opts.libs ?? []).map((l) => `-l${l}`),
        ]);
        if (compile.code !== 0) {
          throw new Error(`C compilation failed (${cc.join(" ")}):\n${compile.stderr}`);
        }
        const res = await exec([`${dir}/prog`, ...(opts.args ?? [])], {
          cwd: dir,
          timeoutMs: opts.timeoutMs,
        });
        if (res.timedOut) throw new Error(`C program timed out; stdout so far:\n${res.stdout}`);
        if (res.code !== 0) {
          throw new Error(
            `C program exited with ${res.code}:\n${res.stderr}\nstdout:\n${res.stdout}`,
          );
        }
        return res.stdout;
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
}

const probes = new Map<string, Promise<CProbe>>();

/**
 * Find a C compiler and check that every header and library in `req` is
 * usable by it (headers by preprocessing an `#include`, libraries with
 * `-print-file-name`). Results are cached per requirement set.
 *
 * @example
 * ```ts
 * import { probeC } from "./cc.ts";
 * const p = await probeC({ headers: ["xen/io/ring.h"], install: "libxen-dev" });
 * console.log(p.ok ? "ready" : p.message);
 * ```
 */
export function probeC(req: CRequirements): Promise<CProbe> {
  const key = JSON.stringify([req.headers ?? [], req.libs ?? [], req.install ?? ""]);
  let p = probes.get(key);
  if (!p) {
    p = doProbe(req);
    probes.set(key, p);
  }
  return p;
}

async function doProbe(req: CRequirements): Promise<CProbe> {
  const hint = req.install ? ` — install ${req.install}` : "";
  const cc = findCompiler();
  if (typeof cc === "string") return { ok: false, missing: ["cc"], message: `${cc} — install gcc` };
  const missing: string[] = [];
  const notes: string[] = [];
  for (const h of req.headers ?? []) {
    const r = await exec([...cc, "-E", "-x", "c", "-o", "/dev/null", "-"], {
      stdin: `#include <${h}>\n`,
    });
    if (r.code !== 0) {
      missing.push(h);
      notes.push(`<${h}> not found by ${cc.join(" ")} (e.g. /usr/include/${h})`);
    }
  }
  for (const l of req.libs ?? []) {
    const r = await exec([...cc, `-print-file-name=lib${l}.so`]);
    if (r.code !== 0 || !r.stdout.trim().includes("/")) {
      missing.push(`lib${l}`);
      notes.push(`library lib${l}.so not found by ${cc.join(" ")}`);
    }
  }
  if (missing.length > 0) return { ok: false, missing, message: notes.join("; ") + hint };
  return { ok: true, toolchain: toolchain(cc) };
}

/**
 * Register a `Deno.test` that needs a C toolchain, applying the skip policy
 * (see the module doc). Await it at the top level of a test module.
 *
 * @example
 * Not run by `deno test --doc`, for the reason the module doc gives.
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { cTest } from "./cc.ts";
 * await cTest("C int is 32-bit", {}, async (c) => {
 *   const out = await c.run(`#include <stdio.h>
 *     int main(void) { printf("%zu", sizeof(int)); return 0; }`);
 *   assert.equal(out, "4");
 * });
 * ```
 */
export async function cTest(
  name: string,
  req: CRequirements,
  fn: (c: CToolchain, t: Deno.TestContext) => Promise<void>,
): Promise<void> {
  const probe = await probeC(req);
  if (probe.ok) {
    Deno.test(name, (t) => fn(probe.toolchain, t));
  } else if (isCI()) {
    Deno.test(name, () => {
      throw new Error(`missing prerequisite (CI=true, so this fails): ${probe.message}`);
    });
  } else {
    console.warn(`skipped: ${name}: ${probe.message}`);
    Deno.test({ name: `${name} (skipped: ${probe.message})`, ignore: true, fn() {} });
  }
}

/**
 * Run a tool of `tools/` as a user's `deno task` does, as a subprocess with
 * the task's narrow permissions (read the repository, the launcher's
 * environment variables; write only where asked), without colour.
 *
 * @module
 */

/** The repository's root, as a path. */
export const ROOT: string = new URL("../..", import.meta.url).pathname;

/** What a tool run printed and how it ended. */
export interface ToolRun {
  code: number;
  out: string;
  err: string;
}

/**
 * Run `tools/<file>` with `args`; `write` is the one path it may write.
 */
export async function runTool(file: string, args: string[], write?: string): Promise<ToolRun> {
  const perms = [`--allow-read=${ROOT}`, "--allow-env=LOG_TOKENS,LOG_STREAM,INIT_CWD"];
  if (write) perms.push(`--allow-write=${write}`);
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...perms, `${ROOT}tools/${file}`, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

/**
 * `deno task -q <args…>` of this repository run from `cwd`, as a user in that directory would:
 * `INIT_CWD` is `cwd` (npx sets it; deno task keeps one it inherits).
 */
export async function taskIn(cwd: string, ...args: string[]): Promise<ToolRun> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "--config", `${ROOT}deno.json`, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", INIT_CWD: cwd },
  }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

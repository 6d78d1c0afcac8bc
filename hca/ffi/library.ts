/**
 * Loading libibverbs. Nothing happens at import time: the library is
 * dlopen'ed only by {@link loadIbverbs}, so importing xenib on a machine
 * without libibverbs (or without `--allow-ffi`) costs and breaks nothing.
 *
 * @module
 */
import { bump } from "./counters.ts";
import { FFI_ERRNO, FfiError } from "./errors.ts";
import { IBV_SYMBOLS } from "./symbols.ts";

/**
 * The soname a program linked with `-libverbs` loads (Debian package `libibverbs1`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_LIBRARY } from "./library.ts";
 * assert.equal(DEFAULT_LIBRARY, "libibverbs.so.1");
 * ```
 */
export const DEFAULT_LIBRARY = "libibverbs.so.1";

/**
 * The bound functions of one library handle.
 *
 * @example
 * ```ts
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { type IbvSymbols, loadIbverbs } from "./library.ts";
 * const lib = loadIbverbs();
 * const symbols: IbvSymbols = lib.symbols;
 * assert.equal(typeof symbols.ibv_get_device_list, "function");
 * lib.close();
 * assert.throws(() => lib.symbols, /is closed/); // no calls through a closed handle
 * ```
 */
export type IbvSymbols = Deno.DynamicLibrary<typeof IBV_SYMBOLS>["symbols"];

/**
 * How to get the library, appended to every "could not be loaded" message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { INSTALL_HINT, loadIbverbs } from "./library.ts";
 * assert.throws(
 *   () => loadIbverbs("/nonexistent/libibverbs.so.1"),
 *   (e) => e instanceof Error && e.message.endsWith(INSTALL_HINT),
 * );
 * ```
 */
export const INSTALL_HINT = "install libibverbs1 (Debian/Ubuntu: apt-get install libibverbs1 " +
  "ibverbs-providers; Fedora/RHEL: dnf install libibverbs), or pass the library's path; " +
  "the built-in device model (Cluster) needs no library";

/**
 * One dlopen handle of libibverbs. Each real device context owns one, so
 * closing a context closes its handle (the dynamic loader counts references).
 *
 * @example
 * ```ts
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { loadIbverbs } from "./library.ts";
 * const lib = loadIbverbs();
 * lib.check(0, "ibv_dealloc_pd"); // 0 is success
 * assert.throws(() => lib.check(16, "ibv_dealloc_pd"), {
 *   kind: "call",
 *   errno: 16,
 *   message: "ibv_dealloc_pd failed (errno 16)",
 * });
 * assert.throws(() => lib.check(-16, "ibv_dealloc_pd"), { errno: 16 }); // some return -errno
 * lib.close();
 * lib.close(); // idempotent
 * assert.equal(lib.closed, true);
 * ```
 */
export class Ibverbs {
  #lib: Deno.DynamicLibrary<typeof IBV_SYMBOLS> | null;
  #errnoPtr: Deno.PointerObject | null = null;

  /**
   * Wrap an open handle (use {@link loadIbverbs}).
   *
   * @param path what was passed to dlopen
   * @param lib the open handle
   */
  constructor(readonly path: string, lib: Deno.DynamicLibrary<typeof IBV_SYMBOLS>) {
    this.#lib = lib;
  }

  /** True after {@link close}. */
  get closed(): boolean {
    return this.#lib === null;
  }

  /** The bound functions; using a closed handle is a bug and throws. */
  get symbols(): IbvSymbols {
    if (!this.#lib) throw new FfiError("call", FFI_ERRNO.EINVAL, "dlsym", `${this.path} is closed`);
    return this.#lib.symbols;
  }

  /**
   * The calling thread's errno. Read it right after a verb returned NULL/-1:
   * the JS between the two FFI calls makes no libc call that fails.
   */
  errno(): number {
    this.#errnoPtr ??= this.symbols.__errno_location();
    return this.#errnoPtr ? new Deno.UnsafePointerView(this.#errnoPtr).getInt32(0) : 0;
  }

  /**
   * The object a verb returned, or an FfiError with errno when it returned NULL.
   *
   * @param ptr what the verb returned
   * @param call the verb, for the message
   */
  must(ptr: Deno.PointerValue, call: string): Deno.PointerObject {
    if (ptr) return ptr;
    const errno = this.errno() || FFI_ERRNO.EIO;
    throw new FfiError("call", errno, call, `${call} failed (errno ${errno})`);
  }

  /**
   * Throw unless a verb's int result is 0. Verbs return a positive errno,
   * some providers a negative one, and a few -1 with errno set: all three are read.
   *
   * @param rc what the verb returned
   * @param call the verb, for the message
   */
  check(rc: number, call: string): void {
    if (rc === 0) return;
    const errno = (rc === -1 ? this.errno() : Math.abs(rc)) || FFI_ERRNO.EIO;
    throw new FfiError("call", errno, call, `${call} failed (errno ${errno})`);
  }

  /** dlclose the handle (idempotent). */
  close(): void {
    if (!this.#lib) return;
    this.#lib.close();
    this.#lib = null;
    this.#errnoPtr = null;
    bump("libraryCloses");
  }
}

/**
 * dlopen libibverbs and bind {@link IBV_SYMBOLS}.
 *
 * @param path soname or file path, default {@link DEFAULT_LIBRARY}
 * @throws FfiError `no-library` (errno ENODEV) with the loader's reason and
 *   {@link INSTALL_HINT}; `no-permission` (EPERM) without `--allow-ffi`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadIbverbs } from "./library.ts";
 * assert.throws(() => loadIbverbs("/nonexistent/libibverbs.so.1"), {
 *   name: "FfiError",
 *   kind: "no-library",
 *   errno: 19,
 *   message: /^\/nonexistent\/libibverbs\.so\.1 could not be loaded \(.*\): install libibverbs1/,
 * });
 * ```
 */
export function loadIbverbs(path: string = DEFAULT_LIBRARY): Ibverbs {
  let lib: Deno.DynamicLibrary<typeof IBV_SYMBOLS>;
  try {
    lib = Deno.dlopen(path, IBV_SYMBOLS);
  } catch (e) {
    const reason = (e instanceof Error ? e.message : String(e))
      .replace(/^(Could not open library: )+/, "");
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new FfiError(
        "no-permission",
        FFI_ERRNO.EPERM,
        "dlopen",
        `${path} not loaded: real RDMA hardware needs deno run --allow-ffi (${reason})`,
      );
    }
    throw new FfiError(
      "no-library",
      FFI_ERRNO.ENODEV,
      "dlopen",
      `${path} could not be loaded (${reason}): ${INSTALL_HINT}`,
    );
  }
  bump("libraryOpens");
  return new Ibverbs(path, lib);
}

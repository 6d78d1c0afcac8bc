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
 * import { DEFAULT_LIBRARY } from "./library.ts";
 * console.log(DEFAULT_LIBRARY); // libibverbs.so.1
 * ```
 */
export const DEFAULT_LIBRARY = "libibverbs.so.1";

/**
 * The bound functions of one library handle.
 *
 * @example
 * ```ts
 * import type { IbvSymbols } from "./library.ts";
 * const free = (s: IbvSymbols, list: Deno.PointerValue) => s.ibv_free_device_list(list);
 * ```
 */
export type IbvSymbols = Deno.DynamicLibrary<typeof IBV_SYMBOLS>["symbols"];

/**
 * How to get the library, appended to every "could not be loaded" message.
 *
 * @example
 * ```ts
 * import { INSTALL_HINT } from "./library.ts";
 * console.log(INSTALL_HINT.startsWith("install libibverbs1")); // true
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
 * import { loadIbverbs } from "./library.ts";
 * const lib = loadIbverbs(); // throws FfiError (no-library) where it is absent
 * lib.close();
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
 * import { loadIbverbs } from "./library.ts";
 * try {
 *   loadIbverbs("/nonexistent/libibverbs.so.1");
 * } catch (e) {
 *   console.log((e as Error).message.startsWith("/nonexistent/libibverbs.so.1 could not be loaded")); // true
 * }
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

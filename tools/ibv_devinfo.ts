/**
 * `deno task devinfo`: devices and ports as `ibv_devinfo` prints them, for a
 * simulated bare-metal host, a bypass/split guest, dom0, or real hardware.
 *
 * @example
 * ```sh
 * deno task devinfo --mode bypass -v
 * ```
 *
 * @module
 */
import {
  type DevinfoConfig,
  DevinfoOptionError,
  devinfoUsage,
  parseDevinfoArgs,
} from "./lib/devinfo_args.ts";
import { type DevInfo, formatDevinfo } from "./lib/devinfo_format.ts";
import {
  Cluster,
  type Context,
  type Domain,
  loadToolProfile,
  modeError,
  openReal,
  ToolError,
} from "./lib/api.ts";
import { runMain } from "./lib/cli.ts";

async function writeAll(bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await Deno.stdout.write(bytes.subarray(at));
}

/** A failure ibv_devinfo reports with its own exit status (devinfo.c main, print_hca_cap). */
class DevinfoExit extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * One device's attributes, ports and GIDs: every entry of each port's GID table
 * (`gid_tbl_len`), by ibv_query_gid, as devinfo.c prints them (a simulated port's table has the
 * one entry, subnet prefix + port GUID).
 */
async function gather(ctx: Context, name: string, port?: number): Promise<DevInfo> {
  const device = ctx.queryDevice();
  const count = Number(device.physPortCnt ?? 1);
  if (port !== undefined && port > count) {
    // devinfo.c print_hca_cap: "Invalid port requested for device", status 4.
    throw new DevinfoExit(
      4,
      `-i/--ib-port ${port}: invalid port requested for ${name} (${count} port(s))`,
    );
  }
  const ports: Record<string, unknown>[] = [];
  const portNums: number[] = [];
  const gids: Uint8Array[][] = [];
  for (let p = 1; p <= count; p++) {
    if (port !== undefined && p !== port) continue;
    const attr = ctx.queryPort(p) as unknown as Record<string, unknown>;
    ports.push({ ...attr });
    portNums.push(p);
    const table: Uint8Array[] = [];
    // Synchronous on a real device, a kernel call (a Promise) on the model's.
    for (let i = 0; i < Number(attr.gidTblLen ?? 0); i++) table.push(await ctx.queryGid(p, i));
    gids.push(table);
  }
  const numCompVectors = (ctx as { numCompVectors?: number }).numCompVectors;
  await ctx.close();
  return { name, device: { ...device }, ports, portNums, gids, numCompVectors };
}

/** devinfo.c's `-l`: the count, each name after a tab, then an empty line. */
function printList(names: string[]): void {
  console.log(`${names.length} HCA${names.length === 1 ? "" : "s"} found:`);
  for (const n of names) console.log(`\t${n}`);
  console.log("");
}

/**
 * `--device real`: the names ibv_get_device_list returns. A NULL list is devinfo.c main's
 * `perror("Failed to get IB devices list")` and status -1 (255), with or without `-l`.
 */
async function realList(): Promise<string[]> {
  const ffi = await import("../hca/ffi/mod.ts");
  let lib;
  try {
    lib = ffi.loadIbverbs();
  } catch (e) {
    throw new ToolError(`--device real: ${(e as Error).message}`);
  }
  try {
    const listing = ffi.listDevices(lib);
    if (listing.errno !== 0) {
      throw new DevinfoExit(
        255,
        `--device real: Failed to get IB devices list: ${ffi.noDeviceMessage(listing)}`,
      );
    }
    return listing.names;
  } finally {
    lib.close();
  }
}

/**
 * The real devices' blocks, chosen from `names` (ibv_get_device_list's) as devinfo.c main
 * chooses: with `-d NAME` (or `--device real:NAME`) that device, "IB device '…' wasn't found"
 * (status 255) when it is not listed; else every device, "No IB devices found" (255) when there
 * is none. `hca_id` is each device's own name (print_hca_cap: ibv_get_device_name).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { realInfos } from "./ibv_devinfo.ts";
 * import { parseDevinfoArgs } from "./lib/devinfo_args.ts";
 * const open = () => Promise.reject(new Error("not opened"));
 * const c = parseDevinfoArgs(["--device", "real", "-d", "mlx5_1"]);
 * await assert.rejects(realInfos(c, ["mlx5_0"], open), {
 *   status: 255,
 *   message: "-d/--ib-dev: IB device 'mlx5_1' wasn't found (devices: mlx5_0)",
 * });
 * await assert.rejects(realInfos(parseDevinfoArgs(["--device", "real"]), [], open), {
 *   status: 255,
 *   message: "--device real: No IB devices found",
 * });
 * ```
 */
export async function realInfos(
  c: DevinfoConfig,
  names: string[],
  open: (name?: string) => Promise<Context>,
): Promise<DevInfo[]> {
  const wanted = c.ibDev ?? c.device?.name;
  if (wanted !== undefined && !names.includes(wanted)) {
    throw new DevinfoExit(
      255,
      `-d/--ib-dev: IB device '${wanted}' wasn't found (devices: ${names.join(", ") || "none"})`,
    );
  }
  if (!names.length) throw new DevinfoExit(255, "--device real: No IB devices found");
  const out: DevInfo[] = [];
  for (const n of names) {
    if (wanted !== undefined && n !== wanted) continue;
    const ctx = await open(n);
    out.push(await gather(ctx, (ctx as { deviceName?: string }).deviceName ?? n, c.ibPort));
  }
  return out;
}

async function main(args: string[]): Promise<number> {
  try {
    await show(args);
    return 0;
  } catch (e) {
    // devinfo.c main: getopt's '?' is usage(argv[0]) and `return -1`, status 255.
    if (e instanceof DevinfoOptionError) {
      console.error(`devinfo: ${e.message}`);
      return e.status;
    }
    if (!(e instanceof DevinfoExit)) throw e;
    console.error(`devinfo: ${e.message}`);
    return e.status;
  }
}

async function show(args: string[]): Promise<void> {
  const c = parseDevinfoArgs(args);
  if (c.help) {
    console.log(devinfoUsage());
    return;
  }
  const infos: DevInfo[] = [];
  if (c.device) {
    const names = await realList();
    if (c.list) {
      printList(names);
      return;
    }
    infos.push(...await realInfos(c, names, openReal));
  } else {
    const profile = await loadToolProfile(c.profile);
    const cluster = new Cluster({ profile, seed: c.seed });
    const xen = c.mode !== "native";
    let dom: Domain | undefined;
    try {
      const host = cluster.addHost({ name: "node0", hypervisor: xen });
      await cluster.start();
      dom = xen ? host.dom0 : host.os;
      if (xen && !c.dom0) {
        dom = await host.createGuest({
          name: "vm0",
          memoryMiB: 64,
          driver: c.mode as "bypass" | "split",
        });
      }
    } catch (e) {
      if (!xen) throw e;
      throw modeError(c.mode, e);
    }
    if (!dom) throw new ToolError("the library's Host has no domain to inspect");
    const d = dom;
    const names = d.devices();
    // devinfo.c prints the list and returns inside its option loop, before -d is looked up.
    if (c.list) {
      printList(names);
      return;
    }
    if (c.ibDev !== undefined && !names.includes(c.ibDev)) {
      // devinfo.c main: "IB device '%s' wasn't found", status -1 (255).
      throw new DevinfoExit(
        255,
        `-d/--ib-dev: IB device '${c.ibDev}' wasn't found in ${d.name} (devices: ${
          names.join(", ") || "none"
        })`,
      );
    }
    await cluster.run(async () => {
      for (const n of names) {
        if (c.ibDev !== undefined && n !== c.ibDev) continue;
        infos.push(
          await gather(await d.openDevice(n), n, c.ibPort),
        );
      }
    });
  }
  // Byte for byte what ibv_devinfo prints, the empty line after each port included.
  await writeAll(new TextEncoder().encode(formatDevinfo(infos, c.verbose)));
}

// Only as a program: importing the module (docs, tests) must not run it.
if (import.meta.main) await runMain("devinfo", () => main(Deno.args));

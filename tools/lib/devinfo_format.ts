/**
 * `ibv_devinfo`-style text from what `Context.queryDevice()` and
 * `Context.queryPort()` return (camelCase keys, verbs.h enum values).
 *
 * @module
 */

/**
 * One device as the tool gathered it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type DevInfo, formatDevinfo } from "./devinfo_format.ts";
 * // What Context.queryDevice() and queryPort(1) return, under the device's name.
 * const dev: DevInfo = { name: "mthca0", device: { physPortCnt: 1 }, ports: [{ state: 4 }] };
 * const lines = formatDevinfo([dev], false).split("\n");
 * assert.equal(lines[0], "hca_id:\tmthca0");
 * assert.ok(lines.includes("\t\tport:\t1")); // one block per entry of `ports`
 * assert.ok(lines.includes("\t\t\tstate:\t\t\tPORT_ACTIVE (4)"));
 * ```
 */
export interface DevInfo {
  /** `hca_id`. */
  name: string;
  /** `queryDevice()`. */
  device: Record<string, unknown>;
  /** `queryPort(n)` for n = 1..phys_port_cnt. */
  ports: Record<string, unknown>[];
}

const PORT_STATES: Record<number, string> = {
  0: "PORT_NOP",
  1: "PORT_DOWN",
  2: "PORT_INIT",
  3: "PORT_ARMED",
  4: "PORT_ACTIVE",
  5: "PORT_ACTIVE_DEFER",
};

const PHYS_STATES: Record<number, string> = {
  1: "SLEEP",
  2: "POLLING",
  3: "DISABLED",
  4: "PORT_CONFIGURATION_TRAINNING",
  5: "LINK_UP",
  6: "LINK_ERROR_RECOVERY",
  7: "PHY TEST",
};

/**
 * camelCase → snake_case (`maxQpWr` → `max_qp_wr`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { snake } from "./devinfo_format.ts";
 * assert.equal(snake("maxQpRdAtom"), "max_qp_rd_atom");
 * assert.equal(snake("maxSgeRd"), "max_sge_rd");
 * ```
 */
export function snake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

/**
 * A GUID as ibv_devinfo prints it: four groups of four hex digits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatGuid } from "./devinfo_format.ts";
 * assert.equal(formatGuid(0x0002c90200201234n), "0002:c902:0020:1234");
 * assert.equal(formatGuid("0002C90200201234"), "0002:c902:0020:1234");
 * assert.equal(formatGuid(undefined), "0000:0000:0000:0000"); // none reported
 * ```
 */
export function formatGuid(v: unknown): string {
  if (typeof v === "string") {
    const hex = v.replace(/^0x/i, "");
    return /^[0-9a-fA-F]{16}$/.test(hex) ? hex.toLowerCase().match(/.{4}/g)!.join(":") : v;
  }
  if (typeof v !== "bigint" && typeof v !== "number") return "0000:0000:0000:0000";
  const hex = BigInt(v).toString(16).padStart(16, "0").slice(-16);
  return hex.match(/.{4}/g)!.join(":");
}

/**
 * MTU as `2048 (4)`, from an `ibv_mtu` value or a byte count.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatMtu } from "./devinfo_format.ts";
 * assert.equal(formatMtu(4), "2048 (4)"); // IBV_MTU_2048
 * assert.equal(formatMtu(4096), "4096 (5)"); // bytes
 * assert.equal(formatMtu(0), "unknown");
 * ```
 */
export function formatMtu(v: unknown): string {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) return "unknown";
  const e = n <= 5 ? n : Math.log2(n / 256) + 1;
  const bytes = n <= 5 ? 256 << (n - 1) : n;
  return `${bytes} (${e})`;
}

function hex(v: unknown, width: number): string {
  const n = typeof v === "bigint" ? v : BigInt(Math.trunc(Number(v ?? 0)));
  return "0x" + n.toString(16).padStart(width, "0");
}

function get(o: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) if (o[k] !== undefined) return o[k];
  return undefined;
}

function valueText(v: unknown): string {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? "1" : "0";
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.map(valueText).join(", ");
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x));
}

const DEVICE_BASIC = new Set([
  "fwVer",
  "nodeGuid",
  "sysImageGuid",
  "vendorId",
  "vendorPartId",
  "hwVer",
  "physPortCnt",
  "transport",
  "boardId",
]);

const WIDTHS: Record<number, string> = { 1: "1X", 2: "4X", 4: "8X", 8: "12X", 16: "2X" };
const SPEEDS: Record<number, string> = {
  1: "2.5 Gbps",
  2: "5.0 Gbps",
  4: "10.0 Gbps",
  8: "10.0 Gbps",
  16: "14.0 Gbps",
  32: "25.0 Gbps",
  64: "50.0 Gbps",
  128: "100.0 Gbps",
};

const PORT_BASIC = new Set([
  "state",
  "maxMtu",
  "activeMtu",
  "smLid",
  "lid",
  "portLid",
  "lmc",
  "linkLayer",
  "physState",
]);

/**
 * Format devices like `ibv_devinfo` (`verbose` adds every device limit and
 * port attribute, as `-v`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatDevinfo } from "./devinfo_format.ts";
 * const devs = [{ name: "xhca0", device: { fwVer: "3.5.0", physPortCnt: 1, maxQp: 64512 },
 *   ports: [{ state: 4, maxMtu: 4, activeMtu: 4, smLid: 1, lid: 2, lmc: 0, physState: 5 }] }];
 * assert.deepEqual(formatDevinfo(devs, false).split("\n"), [
 *   "hca_id:\txhca0",
 *   "\ttransport:\t\t\tInfiniBand (0)",
 *   "\tfw_ver:\t\t\t\t3.5.0",
 *   "\tnode_guid:\t\t\t0000:0000:0000:0000",
 *   "\tsys_image_guid:\t\t\t0000:0000:0000:0000",
 *   "\tvendor_id:\t\t\t0x0000",
 *   "\tvendor_part_id:\t\t\t0",
 *   "\thw_ver:\t\t\t\t0x0",
 *   "\tphys_port_cnt:\t\t\t1",
 *   "\t\tport:\t1",
 *   "\t\t\tstate:\t\t\tPORT_ACTIVE (4)",
 *   "\t\t\tmax_mtu:\t\t2048 (4)",
 *   "\t\t\tactive_mtu:\t\t2048 (4)",
 *   "\t\t\tsm_lid:\t\t\t1",
 *   "\t\t\tport_lid:\t\t2",
 *   "\t\t\tport_lmc:\t\t0x00",
 *   "\t\t\tlink_layer:\t\tInfiniBand",
 *   "",
 * ]);
 * // -v adds the other limits and attributes, by their verbs.h names
 * const verbose = formatDevinfo(devs, true).split("\n");
 * assert.ok(verbose.includes("\tmax_qp:\t\t\t\t64512"));
 * assert.ok(verbose.includes("\t\t\tphys_state:\t\tLINK_UP (5)"));
 * ```
 */
export function formatDevinfo(devs: DevInfo[], verbose: boolean): string {
  const out: string[] = [];
  for (const d of devs) {
    const dv = d.device;
    out.push(`hca_id:\t${d.name}`);
    out.push(`\ttransport:\t\t\tInfiniBand (0)`);
    out.push(`\tfw_ver:\t\t\t\t${valueText(get(dv, "fwVer") ?? "0.0.0")}`);
    out.push(`\tnode_guid:\t\t\t${formatGuid(get(dv, "nodeGuid"))}`);
    out.push(`\tsys_image_guid:\t\t\t${formatGuid(get(dv, "sysImageGuid", "nodeGuid"))}`);
    out.push(`\tvendor_id:\t\t\t${hex(get(dv, "vendorId") ?? 0, 4)}`);
    out.push(`\tvendor_part_id:\t\t\t${valueText(get(dv, "vendorPartId") ?? 0)}`);
    out.push(`\thw_ver:\t\t\t\t${hex(get(dv, "hwVer") ?? 0, 1).toUpperCase().replace("0X", "0x")}`);
    if (get(dv, "boardId") !== undefined) out.push(`\tboard_id:\t\t\t${valueText(dv.boardId)}`);
    out.push(`\tphys_port_cnt:\t\t\t${valueText(get(dv, "physPortCnt") ?? d.ports.length)}`);
    if (verbose) {
      for (const [k, v] of Object.entries(dv)) {
        if (DEVICE_BASIC.has(k) || typeof v === "function") continue;
        const name = snake(k);
        out.push(`\t${name}:${tabsFor(name, 1)}${valueText(v)}`);
      }
    }
    d.ports.forEach((p, i) => {
      const state = Number(get(p, "state") ?? 0);
      out.push(`\t\tport:\t${i + 1}`);
      out.push(`\t\t\tstate:\t\t\t${PORT_STATES[state] ?? "PORT_UNKNOWN"} (${state})`);
      out.push(`\t\t\tmax_mtu:\t\t${formatMtu(get(p, "maxMtu"))}`);
      out.push(`\t\t\tactive_mtu:\t\t${formatMtu(get(p, "activeMtu"))}`);
      out.push(`\t\t\tsm_lid:\t\t\t${valueText(get(p, "smLid") ?? 0)}`);
      out.push(`\t\t\tport_lid:\t\t${valueText(get(p, "lid", "portLid") ?? 0)}`);
      out.push(`\t\t\tport_lmc:\t\t${hex(get(p, "lmc") ?? 0, 2)}`);
      out.push(`\t\t\tlink_layer:\t\t${valueText(get(p, "linkLayer") ?? "InfiniBand")}`);
      if (verbose) {
        const phys = get(p, "physState");
        if (phys !== undefined) {
          out.push(`\t\t\tphys_state:\t\t${PHYS_STATES[Number(phys)] ?? "UNKNOWN"} (${phys})`);
        }
        for (const [k, v] of Object.entries(p)) {
          if (PORT_BASIC.has(k) || typeof v === "function") continue;
          const name = snake(k);
          let text = valueText(v);
          if (k === "activeWidth" && WIDTHS[Number(v)]) text = `${WIDTHS[Number(v)]} (${v})`;
          if (k === "activeSpeed" && SPEEDS[Number(v)]) text = `${SPEEDS[Number(v)]} (${v})`;
          out.push(`\t\t\t${name}:${tabsFor(name, 2)}${text}`);
        }
      }
      out.push("");
    });
  }
  return out.join("\n").trimEnd() + "\n";
}

/** Tabs to align a value column the way ibv_devinfo roughly does. */
function tabsFor(name: string, depth: number): string {
  const col = depth === 1 ? 4 : 3; // tab stops after the name
  const used = Math.floor((name.length + 1) / 8);
  return "\t".repeat(Math.max(1, col - used));
}

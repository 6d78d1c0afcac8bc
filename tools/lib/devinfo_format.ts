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
  /** `queryPort(n)` for each port shown. */
  ports: Record<string, unknown>[];
  /** The number of each entry of `ports` (default 1, 2, …; `-i` shows one port). */
  portNums?: number[];
  /** Each port's GID table (`ibv_query_gid`), when the device answers it; `-v` lists them. */
  gids?: Uint8Array[][];
  /** `ibv_context.num_comp_vectors` (`-v`). */
  numCompVectors?: number;
}

// Names and formats below are those of rdma-core's libibverbs/examples/devinfo.c
// (port_state_str, port_phy_state_str, mtu_str, width_str, speed_str, vl_str,
// atomic_cap_str, link_layer_str, print_device_cap_flags): an unnamed value prints
// as that tool's "invalid …" text with the number, as it does.

const PORT_STATES: Record<number, string> = {
  1: "PORT_DOWN",
  2: "PORT_INIT",
  3: "PORT_ARMED",
  4: "PORT_ACTIVE",
};

const PHYS_STATES: Record<number, string> = {
  1: "SLEEP",
  2: "POLLING",
  3: "DISABLED",
  4: "PORT_CONFIGURATION TRAINNING",
  5: "LINK_UP",
  6: "LINK_ERROR_RECOVERY",
  7: "PHY TEST",
};

const TRANSPORTS: Record<number, string> = {
  0: "InfiniBand",
  1: "iWARP",
  2: "usNIC",
  3: "usNIC UDP",
  4: "unspecified",
};

const ATOMIC_CAPS: Record<number, string> = { 0: "ATOMIC_NONE", 1: "ATOMIC_HCA", 2: "ATOMIC_GLOB" };

const LINK_LAYERS: Record<number, string> = { 0: "Unspecified", 1: "InfiniBand", 2: "Ethernet" };

const VL_NUMS: Record<number, string> = { 1: "1", 2: "2", 3: "4", 4: "8", 5: "15" };

/** `enum ibv_device_cap_flags` bits ibv_devinfo names, in its order (verbs.h). */
const DEVICE_CAP_FLAGS: [number, string][] = [
  [1 << 0, "RESIZE_MAX_WR"],
  [1 << 1, "BAD_PKEY_CNTR"],
  [1 << 2, "BAD_QKEY_CNTR"],
  [1 << 3, "RAW_MULTI"],
  [1 << 4, "AUTO_PATH_MIG"],
  [1 << 5, "CHANGE_PHY_PORT"],
  [1 << 6, "UD_AV_PORT_ENFORCE"],
  [1 << 7, "CURR_QP_STATE_MOD"],
  [1 << 8, "SHUTDOWN_PORT"],
  [1 << 9, "INIT_TYPE"],
  [1 << 10, "PORT_ACTIVE_EVENT"],
  [1 << 11, "SYS_IMAGE_GUID"],
  [1 << 12, "RC_RNR_NAK_GEN"],
  [1 << 13, "SRQ_RESIZE"],
  [1 << 14, "N_NOTIFY_CQ"],
  [1 << 17, "MEM_WINDOW"],
  [1 << 18, "UD_IP_CSUM"],
  [1 << 20, "XRC"],
  [1 << 21, "MEM_MGT_EXTENSIONS"],
  [1 << 23, "MEM_WINDOW_TYPE_2A"],
  [1 << 24, "MEM_WINDOW_TYPE_2B"],
  [1 << 25, "RC_IP_CSUM"],
  [1 << 26, "RAW_IP_CSUM"],
  [1 << 29, "MANAGED_FLOW_STEERING"],
];

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
 * MTU as ibv_devinfo prints it (`2048 (4)`), from an `ibv_mtu` value or a
 * byte count; anything else is devinfo.c's `invalid MTU`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatMtu } from "./devinfo_format.ts";
 * assert.equal(formatMtu(4), "2048 (4)"); // IBV_MTU_2048
 * assert.equal(formatMtu(4096), "4096 (5)"); // bytes
 * assert.equal(formatMtu(0), "invalid MTU (0)"); // no MTU (a port that is not up)
 * ```
 */
export function formatMtu(v: unknown): string {
  const n = Number(v ?? 0);
  if (Number.isInteger(n) && n >= 1 && n <= 5) return `${256 << (n - 1)} (${n})`;
  const code = [256, 512, 1024, 2048, 4096].indexOf(n) + 1;
  if (code > 0) return `${n} (${code})`;
  return `invalid MTU (${Number.isFinite(n) ? n : 0})`;
}

/** An unsigned value as C's `%x`/`%X` print it, `width` digits at least. */
function hex(v: unknown, width: number, upper = false): string {
  let n: bigint;
  if (typeof v === "bigint") n = v;
  else {
    const x = Number(v ?? 0);
    n = Number.isFinite(x) ? BigInt(Math.trunc(x)) : 0n;
    // A u64 read into a JS number rounds ~0ull (the max_mr_size mthca_query_device, mlx4 and
    // mlx5 report) up to 2**64; C prints the u64 itself, 0xffffffffffffffff, never 17 digits.
    if (n >= 1n << 64n) n = (1n << 64n) - 1n;
  }
  if (n < 0n) n = BigInt.asUintN(64, n);
  const t = n.toString(16).padStart(width, "0");
  return "0x" + (upper ? t.toUpperCase() : t);
}

/** An integer field, 0 when the attributes do not carry it (a zeroed struct's value). */
function int(o: Record<string, unknown>, ...keys: string[]): number {
  const v = get(o, ...keys);
  const n = typeof v === "bigint" ? Number(v) : Number(v ?? 0);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

function valueText(v: unknown): string {
  if (v === null || v === undefined) return "";
  return typeof v === "string" ? v : String(v);
}

function get(o: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) if (o[k] !== undefined) return o[k];
  return undefined;
}

function named(table: Record<number, string>, n: number, invalid: string): string {
  return `${table[n] ?? invalid} (${n})`;
}

/** A GID as devinfo.c prints an IB one: eight groups of four hex digits. */
function gidText(g: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    parts.push(g[i].toString(16).padStart(2, "0") + g[i + 1].toString(16).padStart(2, "0"));
  }
  return parts.join(":");
}

/** print_device_cap_flags: one line per named bit, then the rest as unknown. */
function capFlagLines(flags: number): string[] {
  let known = 0;
  const out: string[] = [];
  for (const [bit, name] of DEVICE_CAP_FLAGS) {
    known |= bit;
    if (flags & bit) out.push(`\t\t\t\t\t${name}`);
  }
  const unknown = (flags & ~known) >>> 0;
  if (unknown) out.push(`\t\t\t\t\tUnknown flags: 0x${unknown.toString(16).toUpperCase()}`);
  return out;
}

/** The device part of `-v`, in devinfo.c's order and formats (print_hca_cap). */
function verboseDevice(dv: Record<string, unknown>, numCompVectors: number): string[] {
  const n = (...k: string[]) => int(dv, ...k);
  const out = [
    `\tmax_mr_size:\t\t\t${hex(get(dv, "maxMrSize"), 1)}`,
    `\tpage_size_cap:\t\t\t${hex(get(dv, "pageSizeCap"), 1)}`,
    `\tmax_qp:\t\t\t\t${n("maxQp")}`,
    `\tmax_qp_wr:\t\t\t${n("maxQpWr")}`,
    `\tdevice_cap_flags:\t\t${hex(n("deviceCapFlags") >>> 0, 8)}`,
    ...capFlagLines(n("deviceCapFlags") >>> 0),
    `\tmax_sge:\t\t\t${n("maxSge")}`,
    `\tmax_sge_rd:\t\t\t${n("maxSgeRd")}`,
    `\tmax_cq:\t\t\t\t${n("maxCq")}`,
    `\tmax_cqe:\t\t\t${n("maxCqe")}`,
    `\tmax_mr:\t\t\t\t${n("maxMr")}`,
    `\tmax_pd:\t\t\t\t${n("maxPd")}`,
    `\tmax_qp_rd_atom:\t\t\t${n("maxQpRdAtom")}`,
    `\tmax_ee_rd_atom:\t\t\t${n("maxEeRdAtom")}`,
    `\tmax_res_rd_atom:\t\t${n("maxResRdAtom")}`,
    `\tmax_qp_init_rd_atom:\t\t${n("maxQpInitRdAtom")}`,
    `\tmax_ee_init_rd_atom:\t\t${n("maxEeInitRdAtom")}`,
    `\tatomic_cap:\t\t\t${named(ATOMIC_CAPS, n("atomicCap"), "invalid atomic capability")}`,
    `\tmax_ee:\t\t\t\t${n("maxEe")}`,
    `\tmax_rdd:\t\t\t${n("maxRdd")}`,
    `\tmax_mw:\t\t\t\t${n("maxMw")}`,
    `\tmax_raw_ipv6_qp:\t\t${n("maxRawIpv6Qp")}`,
    `\tmax_raw_ethy_qp:\t\t${n("maxRawEthyQp")}`,
    `\tmax_mcast_grp:\t\t\t${n("maxMcastGrp")}`,
    `\tmax_mcast_qp_attach:\t\t${n("maxMcastQpAttach")}`,
    `\tmax_total_mcast_qp_attach:\t${n("maxTotalMcastQpAttach")}`,
    `\tmax_ah:\t\t\t\t${n("maxAh")}`,
    `\tmax_fmr:\t\t\t${n("maxFmr")}`,
  ];
  if (n("maxFmr")) out.push(`\tmax_map_per_fmr:\t\t${n("maxMapPerFmr")}`);
  out.push(`\tmax_srq:\t\t\t${n("maxSrq")}`);
  if (n("maxSrq")) {
    out.push(`\tmax_srq_wr:\t\t\t${n("maxSrqWr")}`, `\tmax_srq_sge:\t\t\t${n("maxSrqSge")}`);
  }
  out.push(
    `\tmax_pkeys:\t\t\t${n("maxPkeys")}`,
    `\tlocal_ca_ack_delay:\t\t${n("localCaAckDelay")}`,
    // ibv_query_device_ex's extensions: none of them on this device (an mthca HCA).
    "\tgeneral_odp_caps:",
    ...["rc", "uc", "ud", "xrc"].flatMap((t) => [`\t${t}_odp_caps:`, "\t\t\t\t\tNO SUPPORT"]),
    "\tcompletion_timestamp_mask not supported",
    "\tcore clock not supported",
    `\tdevice_cap_flags_ex:\t\t${hex(n("deviceCapFlags") >>> 0, 1, true)}`,
    "\ttso_caps:",
    "\t\tmax_tso:\t\t\t0",
    "\trss_caps:",
    "\t\tmax_rwq_indirection_tables:\t\t\t0",
    "\t\tmax_rwq_indirection_table_size:\t\t\t0",
    "\t\trx_hash_function:\t\t\t\t0x0",
    "\t\trx_hash_fields_mask:\t\t\t\t0x0",
    "\tmax_wq_type_rq:\t\t\t0",
    "\tpacket_pacing_caps:",
    "\t\tqp_rate_limit_min:\t0kbps",
    "\t\tqp_rate_limit_max:\t0kbps",
    "\ttag matching not supported",
    `\tnum_comp_vectors:\t\t${numCompVectors}`,
  );
  return out;
}

/** The port part of `-v`, in devinfo.c's order and formats. */
function verbosePort(
  p: Record<string, unknown>,
  gids: Uint8Array[] | undefined,
  transport: number,
): string[] {
  const n = (...k: string[]) => int(p, ...k);
  // rdma-core 44's devinfo.c prints ibv_port_attr.active_speed, a uint8_t (verbs.h has no
  // active_speed_ex yet), through speed_str, which names 1 … 128 (NDR) and no more.
  const speed = n("activeSpeed");
  const out = [
    `\t\t\tmax_msg_sz:\t\t${hex(get(p, "maxMsgSz"), 1)}`,
    `\t\t\tport_cap_flags:\t\t${hex(n("portCapFlags") >>> 0, 8)}`,
    `\t\t\tport_cap_flags2:\t${hex(n("portCapFlags2"), 4)}`,
    `\t\t\tmax_vl_num:\t\t${named(VL_NUMS, n("maxVlNum"), "invalid value")}`,
    `\t\t\tbad_pkey_cntr:\t\t${hex(n("badPkeyCntr"), 1)}`,
    `\t\t\tqkey_viol_cntr:\t\t${hex(n("qkeyViolCntr"), 1)}`,
    `\t\t\tsm_sl:\t\t\t${n("smSl")}`,
    `\t\t\tpkey_tbl_len:\t\t${n("pkeyTblLen")}`,
    `\t\t\tgid_tbl_len:\t\t${n("gidTblLen")}`,
    `\t\t\tsubnet_timeout:\t\t${n("subnetTimeout")}`,
    `\t\t\tinit_type_reply:\t${n("initTypeReply")}`,
    `\t\t\tactive_width:\t\t${WIDTHS[n("activeWidth")] ?? "invalid width"}X (${n("activeWidth")})`,
    `\t\t\tactive_speed:\t\t${SPEEDS[speed] ?? "invalid speed"} (${speed})`,
  ];
  // devinfo.c print_hca_cap prints phys_state only for a device of the IB transport
  // (`ib_dev->transport_type == IBV_TRANSPORT_IB`): an iWARP port has no IB physical state.
  if (transport === 0) {
    out.push(
      `\t\t\tphys_state:\t\t${named(PHYS_STATES, n("physState"), "invalid physical state")}`,
    );
  }
  (gids ?? []).forEach((g, i) => {
    // print_all_port_gids skips null GIDs (an empty interface ID); IB GIDs print in full.
    if (g.subarray(8).some((b) => b !== 0)) {
      out.push(`\t\t\tGID[${String(i).padStart(3)}]:\t\t${gidText(g)}`);
    }
  });
  return out;
}

const WIDTHS: Record<number, string> = { 1: "1", 2: "4", 4: "8", 8: "12", 16: "2" };
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

/**
 * Format devices as rdma-core's `ibv_devinfo` (libibverbs/examples/devinfo.c)
 * prints them: the same lines in the same order, labels, tabs and value
 * formats; `verbose` adds what `-v` adds. A field the attributes do not
 * carry prints as a zeroed `ibv_device_attr` would show it.
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
 *   "", // each port block ends with an empty line
 *   "",
 * ]);
 * // -v adds the limits and port attributes, in ibv_devinfo's order and formats
 * const verbose = formatDevinfo(devs, true).split("\n");
 * assert.ok(verbose.includes("\tmax_qp:\t\t\t\t64512"));
 * assert.ok(verbose.includes("\tatomic_cap:\t\t\tATOMIC_NONE (0)"));
 * assert.ok(verbose.includes("\t\t\tphys_state:\t\tLINK_UP (5)"));
 * ```
 */
export function formatDevinfo(devs: DevInfo[], verbose: boolean): string {
  const out: string[] = [];
  for (const d of devs) {
    const dv = d.device;
    const transport = int(dv, "transport");
    out.push(`hca_id:\t${d.name}`);
    out.push(`\ttransport:\t\t\t${named(TRANSPORTS, transport, "invalid transport")}`);
    const fw = valueText(get(dv, "fwVer"));
    if (fw.length) out.push(`\tfw_ver:\t\t\t\t${fw}`); // devinfo.c prints it only when set
    out.push(`\tnode_guid:\t\t\t${formatGuid(get(dv, "nodeGuid"))}`);
    out.push(`\tsys_image_guid:\t\t\t${formatGuid(get(dv, "sysImageGuid", "nodeGuid"))}`);
    out.push(`\tvendor_id:\t\t\t${hex(int(dv, "vendorId"), 4)}`);
    out.push(`\tvendor_part_id:\t\t\t${int(dv, "vendorPartId")}`);
    out.push(`\thw_ver:\t\t\t\t${hex(int(dv, "hwVer"), 1, true)}`);
    if (get(dv, "boardId") !== undefined) out.push(`\tboard_id:\t\t\t${valueText(dv.boardId)}`);
    out.push(`\tphys_port_cnt:\t\t\t${get(dv, "physPortCnt") ?? d.ports.length}`);
    if (verbose) out.push(...verboseDevice(dv, d.numCompVectors ?? 0));
    d.ports.forEach((p, i) => {
      const state = int(p, "state");
      const lidKey = p.lid !== undefined ? "lid" : "portLid";
      out.push(`\t\tport:\t${d.portNums?.[i] ?? i + 1}`);
      out.push(`\t\t\tstate:\t\t\t${named(PORT_STATES, state, "invalid state")}`);
      out.push(`\t\t\tmax_mtu:\t\t${formatMtu(get(p, "maxMtu"))}`);
      out.push(`\t\t\tactive_mtu:\t\t${formatMtu(get(p, "activeMtu"))}`);
      out.push(`\t\t\tsm_lid:\t\t\t${int(p, "smLid")}`);
      out.push(`\t\t\tport_lid:\t\t${int(p, lidKey)}`);
      out.push(`\t\t\tport_lmc:\t\t${hex(int(p, "lmc"), 2)}`);
      out.push(`\t\t\tlink_layer:\t\t${linkLayer(get(p, "linkLayer"))}`);
      if (verbose) out.push(...verbosePort(p, d.gids?.[i], transport));
      out.push("");
    });
  }
  return out.map((l) => l + "\n").join("");
}

/** link_layer_str, from `ibv_port_attr.link_layer` or a name. */
function linkLayer(v: unknown): string {
  if (v === undefined) return "InfiniBand"; // the model's ports are IB ports
  if (typeof v === "string") return v;
  return LINK_LAYERS[Number(v)] ?? "Unknown";
}

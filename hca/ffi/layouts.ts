/**
 * Struct layouts of `infiniband/verbs.h` (rdma-core, LP64 Linux) as offset
 * tables: for each struct the binding reads or writes, every field it touches
 * with its byte offset and size, plus `sizeof`. Field names are C member
 * designators (`wr.rdma.remote_addr`, `ops.poll_cq`), so a C program can
 * print `offsetof`/`sizeof` for exactly these names and
 * `tests/ffi_layout_test.ts` compares the two. Nothing here is guessed at run
 * time: a layout that disagrees with the header is a test failure, not a
 * corrupted WQE.
 *
 * @module
 */

/**
 * Where one C member lives inside its struct.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Field, getUint, IBV_QP, scratch, viewOf } from "./mod.ts";
 * const qpNum: Field = { offset: 52, size: 4 }; // struct ibv_qp, qp_num
 * assert.deepEqual(IBV_QP.fields.qp_num, qpNum);
 * const qp = scratch(IBV_QP.sizeof);
 * viewOf(qp).setUint32(52, 0x1234, true);
 * assert.equal(getUint(viewOf(qp), qpNum), 0x1234);
 * ```
 */
export interface Field {
  /** `offsetof(struct, member)` in bytes. */
  readonly offset: number;
  /** `sizeof(member)` in bytes. */
  readonly size: number;
  /** Present for a signed integer member (`int`, `short`): read it with `getInt`/`cInt`. */
  readonly signed?: true;
}

/**
 * One struct: its C type name, `sizeof`, and the fields the binding touches.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_SGE, type Layout } from "./layouts.ts";
 * const sge: Layout = IBV_SGE;
 * assert.deepEqual([sge.type, sge.sizeof], ["struct ibv_sge", 16]);
 * ```
 */
export interface Layout<F extends string = string> {
  /** C type, e.g. `struct ibv_wc`. */
  readonly type: string;
  /** `sizeof(type)`. */
  readonly sizeof: number;
  /** Member designator → offset and size. */
  readonly fields: { readonly [K in F]: Field };
}

/**
 * Build a {@link Layout} from `[offset, size]` pairs, `[offset, size, "signed"]` for a signed
 * integer member (compact to read next to the header).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { layout } from "./layouts.ts";
 * const L = layout("struct ibv_sge", 16, { addr: [0, 8], length: [8, 4], lkey: [12, 4] });
 * assert.deepEqual(L.fields.lkey, { offset: 12, size: 4 });
 * assert.ok(Object.isFrozen(L.fields.lkey));
 * const R = layout("struct ibv_recv_wr", 32, { num_sge: [24, 4, "signed"] }); // an int
 * assert.deepEqual(R.fields.num_sge, { offset: 24, size: 4, signed: true });
 * ```
 */
export function layout<F extends string>(
  type: string,
  sizeof: number,
  fields: Record<F, readonly [number, number] | readonly [number, number, "signed"]>,
): Layout<F> {
  const out = {} as Record<F, Field>;
  for (const k of Object.keys(fields) as F[]) {
    const [offset, size, sign] = fields[k];
    out[k] = Object.freeze(sign ? { offset, size, signed: true } : { offset, size });
  }
  return Object.freeze({ type, sizeof, fields: Object.freeze(out) });
}

/**
 * `struct ibv_device_attr` (all fields: `queryDevice` reports every one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_DEVICE_ATTR } from "./layouts.ts";
 * assert.deepEqual(IBV_DEVICE_ATTR.fields.phys_port_cnt, { offset: 227, size: 1 }); // a uint8_t
 * ```
 */
export const IBV_DEVICE_ATTR = layout("struct ibv_device_attr", 232, {
  fw_ver: [0, 64],
  node_guid: [64, 8],
  sys_image_guid: [72, 8],
  max_mr_size: [80, 8],
  page_size_cap: [88, 8],
  vendor_id: [96, 4],
  vendor_part_id: [100, 4],
  hw_ver: [104, 4],
  max_qp: [108, 4, "signed"],
  max_qp_wr: [112, 4, "signed"],
  device_cap_flags: [116, 4],
  max_sge: [120, 4, "signed"],
  max_sge_rd: [124, 4, "signed"],
  max_cq: [128, 4, "signed"],
  max_cqe: [132, 4, "signed"],
  max_mr: [136, 4, "signed"],
  max_pd: [140, 4, "signed"],
  max_qp_rd_atom: [144, 4, "signed"],
  max_ee_rd_atom: [148, 4, "signed"],
  max_res_rd_atom: [152, 4, "signed"],
  max_qp_init_rd_atom: [156, 4, "signed"],
  max_ee_init_rd_atom: [160, 4, "signed"],
  atomic_cap: [164, 4],
  max_ee: [168, 4, "signed"],
  max_rdd: [172, 4, "signed"],
  max_mw: [176, 4, "signed"],
  max_raw_ipv6_qp: [180, 4, "signed"],
  max_raw_ethy_qp: [184, 4, "signed"],
  max_mcast_grp: [188, 4, "signed"],
  max_mcast_qp_attach: [192, 4, "signed"],
  max_total_mcast_qp_attach: [196, 4, "signed"],
  max_ah: [200, 4, "signed"],
  max_fmr: [204, 4, "signed"],
  max_map_per_fmr: [208, 4, "signed"],
  max_srq: [212, 4, "signed"],
  max_srq_wr: [216, 4, "signed"],
  max_srq_sge: [220, 4, "signed"],
  max_pkeys: [224, 2],
  local_ca_ack_delay: [226, 1],
  phys_port_cnt: [227, 1],
});

/**
 * `struct ibv_port_attr` (the full, current one — not `_compat_ibv_port_attr`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_PORT_ATTR } from "./layouts.ts";
 * assert.deepEqual(IBV_PORT_ATTR.fields.lid, { offset: 34, size: 2 });
 * ```
 */
export const IBV_PORT_ATTR = layout("struct ibv_port_attr", 52, {
  state: [0, 4],
  max_mtu: [4, 4],
  active_mtu: [8, 4],
  gid_tbl_len: [12, 4, "signed"],
  port_cap_flags: [16, 4],
  max_msg_sz: [20, 4],
  bad_pkey_cntr: [24, 4],
  qkey_viol_cntr: [28, 4],
  pkey_tbl_len: [32, 2],
  lid: [34, 2],
  sm_lid: [36, 2],
  lmc: [38, 1],
  max_vl_num: [39, 1],
  sm_sl: [40, 1],
  subnet_timeout: [41, 1],
  init_type_reply: [42, 1],
  active_width: [43, 1],
  active_speed: [44, 1],
  phys_state: [45, 1],
  link_layer: [46, 1],
  flags: [47, 1],
  port_cap_flags2: [48, 2],
});

/**
 * `struct ibv_context`: the `ops` function pointers used by the inline verbs
 * (`ibv_post_send`, `ibv_poll_cq`, …) and `abi_compat` (extended-context marker).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_CONTEXT } from "./layouts.ts";
 * assert.equal(IBV_CONTEXT.fields["ops.poll_cq"].offset, 96);
 * ```
 */
export const IBV_CONTEXT = layout("struct ibv_context", 328, {
  device: [0, 8],
  "ops.poll_cq": [96, 8],
  "ops.req_notify_cq": [104, 8],
  "ops.post_srq_recv": [168, 8],
  "ops.post_send": [208, 8],
  "ops.post_recv": [216, 8],
  cmd_fd: [264, 4, "signed"],
  async_fd: [268, 4, "signed"],
  num_comp_vectors: [272, 4, "signed"],
  abi_compat: [320, 8],
});

/**
 * `struct verbs_context`, which embeds `ibv_context` as its last member; the
 * inline `ibv_query_port` reaches `query_port` through it (container_of).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_CONTEXT, VERBS_CONTEXT } from "./layouts.ts";
 * // struct verbs_context ends with the struct ibv_context the verbs see.
 * assert.equal(VERBS_CONTEXT.fields.context.offset, 320);
 * assert.equal(VERBS_CONTEXT.fields.context.offset + IBV_CONTEXT.sizeof, VERBS_CONTEXT.sizeof);
 * ```
 */
export const VERBS_CONTEXT = layout("struct verbs_context", 648, {
  query_port: [0, 8],
  sz: [312, 8],
  context: [320, 328],
});

/**
 * `struct ibv_pd` (`handle` is the kernel's id of the object).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_PD } from "./layouts.ts";
 * assert.equal(IBV_PD.fields.handle.offset, 8);
 * ```
 */
export const IBV_PD = layout("struct ibv_pd", 16, { handle: [8, 4] });

/**
 * `struct ibv_ah`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_AH } from "./layouts.ts";
 * assert.equal(IBV_AH.fields.handle.offset, 16);
 * ```
 */
export const IBV_AH = layout("struct ibv_ah", 24, { handle: [16, 4] });

/**
 * `struct ibv_srq`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_SRQ } from "./layouts.ts";
 * assert.equal(IBV_SRQ.fields.handle.offset, 24);
 * ```
 */
export const IBV_SRQ = layout("struct ibv_srq", 128, { handle: [24, 4] });

/**
 * `struct ibv_mr`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_MR } from "./layouts.ts";
 * assert.deepEqual([IBV_MR.fields.lkey.offset, IBV_MR.fields.rkey.offset], [36, 40]);
 * ```
 */
export const IBV_MR = layout("struct ibv_mr", 48, {
  addr: [16, 8],
  length: [24, 8],
  handle: [32, 4],
  lkey: [36, 4],
  rkey: [40, 4],
});

/**
 * `struct ibv_cq` (`cqe` is the size the provider actually allocated).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_CQ } from "./layouts.ts";
 * assert.equal(IBV_CQ.fields.cqe.offset, 28);
 * ```
 */
export const IBV_CQ = layout("struct ibv_cq", 128, {
  context: [0, 8],
  channel: [8, 8],
  handle: [24, 4],
  cqe: [28, 4, "signed"],
});

/**
 * `struct ibv_comp_channel` (`fd` is what a completion wait polls).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_COMP_CHANNEL } from "./layouts.ts";
 * assert.deepEqual(IBV_COMP_CHANNEL.fields.fd, { offset: 8, size: 4, signed: true }); // an int
 * ```
 */
export const IBV_COMP_CHANNEL = layout("struct ibv_comp_channel", 16, { fd: [8, 4, "signed"] });

/**
 * `struct ibv_async_event`: the union `element` names the object of an
 * affiliated event (`cq`, `qp`, `srq`, `wq`: all at offset 0) or the port of
 * a port event (`int port_num`); `event_type` follows it. libibverbs'
 * `ibv_ack_async_event` reads the same struct back, so each one is kept until acknowledged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_ASYNC_EVENT } from "./layouts.ts";
 * assert.equal(IBV_ASYNC_EVENT.fields["element.qp"].offset, 0); // a union: every member at 0
 * assert.deepEqual(IBV_ASYNC_EVENT.fields.event_type, { offset: 8, size: 4 }); // an enum
 * ```
 */
export const IBV_ASYNC_EVENT = layout("struct ibv_async_event", 16, {
  "element.cq": [0, 8],
  "element.qp": [0, 8],
  "element.srq": [0, 8],
  "element.wq": [0, 8],
  "element.port_num": [0, 4, "signed"],
  event_type: [8, 4],
});

/**
 * `struct pollfd` of `<poll.h>`: a completion wait with a timeout polls the
 * channel fd before `ibv_get_cq_event`, which itself can only block.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POLLFD } from "./layouts.ts";
 * assert.equal(POLLFD.sizeof, 8);
 * ```
 */
export const POLLFD = layout("struct pollfd", 8, {
  fd: [0, 4, "signed"],
  events: [4, 2, "signed"],
  revents: [6, 2, "signed"],
});

/**
 * `struct ibv_qp` (libibverbs keeps `state` current after a successful modify).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_QP } from "./layouts.ts";
 * assert.equal(IBV_QP.fields.qp_num.offset, 52);
 * ```
 */
export const IBV_QP = layout("struct ibv_qp", 160, {
  handle: [48, 4],
  qp_num: [52, 4],
  state: [56, 4],
  qp_type: [60, 4],
});

/**
 * `struct ibv_qp_cap`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_QP_CAP } from "./layouts.ts";
 * assert.equal(IBV_QP_CAP.sizeof, 20); // five uint32_t
 * ```
 */
export const IBV_QP_CAP = layout("struct ibv_qp_cap", 20, {
  max_send_wr: [0, 4],
  max_recv_wr: [4, 4],
  max_send_sge: [8, 4],
  max_recv_sge: [12, 4],
  max_inline_data: [16, 4],
});

/**
 * `struct ibv_qp_init_attr` (`cap` holds an {@link IBV_QP_CAP}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_QP_INIT_ATTR } from "./layouts.ts";
 * assert.equal(IBV_QP_INIT_ATTR.fields.cap.offset, 32);
 * ```
 */
export const IBV_QP_INIT_ATTR = layout("struct ibv_qp_init_attr", 64, {
  qp_context: [0, 8],
  send_cq: [8, 8],
  recv_cq: [16, 8],
  srq: [24, 8],
  cap: [32, 20],
  qp_type: [52, 4],
  sq_sig_all: [56, 4, "signed"],
});

/**
 * `struct ibv_qp_attr` (`cap` is an {@link IBV_QP_CAP}, `ah_attr` and
 * `alt_ah_attr` are {@link IBV_AH_ATTR}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_QP_ATTR } from "./layouts.ts";
 * assert.equal(IBV_QP_ATTR.fields.ah_attr.offset, 56);
 * ```
 */
export const IBV_QP_ATTR = layout("struct ibv_qp_attr", 144, {
  qp_state: [0, 4],
  cur_qp_state: [4, 4],
  path_mtu: [8, 4],
  path_mig_state: [12, 4],
  qkey: [16, 4],
  rq_psn: [20, 4],
  sq_psn: [24, 4],
  dest_qp_num: [28, 4],
  qp_access_flags: [32, 4],
  cap: [36, 20],
  ah_attr: [56, 32],
  alt_ah_attr: [88, 32],
  pkey_index: [120, 2],
  alt_pkey_index: [122, 2],
  en_sqd_async_notify: [124, 1],
  sq_draining: [125, 1],
  max_rd_atomic: [126, 1],
  max_dest_rd_atomic: [127, 1],
  min_rnr_timer: [128, 1],
  port_num: [129, 1],
  timeout: [130, 1],
  retry_cnt: [131, 1],
  rnr_retry: [132, 1],
  alt_port_num: [133, 1],
  alt_timeout: [134, 1],
  rate_limit: [136, 4],
});

/**
 * `struct ibv_ah_attr` with its embedded `struct ibv_global_route grh`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_AH_ATTR } from "./layouts.ts";
 * assert.equal(IBV_AH_ATTR.fields.dlid.offset, 24);
 * ```
 */
export const IBV_AH_ATTR = layout("struct ibv_ah_attr", 32, {
  "grh.dgid": [0, 16],
  "grh.flow_label": [16, 4],
  "grh.sgid_index": [20, 1],
  "grh.hop_limit": [21, 1],
  "grh.traffic_class": [22, 1],
  dlid: [24, 2],
  sl: [26, 1],
  src_path_bits: [27, 1],
  static_rate: [28, 1],
  is_global: [29, 1],
  port_num: [30, 1],
});

/**
 * `struct ibv_srq_init_attr` with its embedded `struct ibv_srq_attr attr`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_SRQ_INIT_ATTR } from "./layouts.ts";
 * assert.equal(IBV_SRQ_INIT_ATTR.fields["attr.max_wr"].offset, 8);
 * ```
 */
export const IBV_SRQ_INIT_ATTR = layout("struct ibv_srq_init_attr", 24, {
  srq_context: [0, 8],
  "attr.max_wr": [8, 4],
  "attr.max_sge": [12, 4],
  "attr.srq_limit": [16, 4],
});

/**
 * `struct ibv_sge`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_SGE } from "./layouts.ts";
 * assert.equal(IBV_SGE.sizeof, 16);
 * ```
 */
export const IBV_SGE = layout("struct ibv_sge", 16, {
  addr: [0, 8],
  length: [8, 4],
  lkey: [12, 4],
});

/**
 * `struct ibv_send_wr`; `wr.rdma`, `wr.atomic` and `wr.ud` share one union.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_SEND_WR } from "./layouts.ts";
 * assert.equal(IBV_SEND_WR.fields["wr.atomic.swap"].offset, 56);
 * ```
 */
export const IBV_SEND_WR = layout("struct ibv_send_wr", 128, {
  wr_id: [0, 8],
  next: [8, 8],
  sg_list: [16, 8],
  num_sge: [24, 4, "signed"],
  opcode: [28, 4],
  send_flags: [32, 4],
  imm_data: [36, 4],
  "wr.rdma.remote_addr": [40, 8],
  "wr.rdma.rkey": [48, 4],
  "wr.atomic.remote_addr": [40, 8],
  "wr.atomic.compare_add": [48, 8],
  "wr.atomic.swap": [56, 8],
  "wr.atomic.rkey": [64, 4],
  "wr.ud.ah": [40, 8],
  "wr.ud.remote_qpn": [48, 4],
  "wr.ud.remote_qkey": [52, 4],
});

/**
 * `struct ibv_recv_wr`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_RECV_WR } from "./layouts.ts";
 * assert.equal(IBV_RECV_WR.sizeof, 32);
 * ```
 */
export const IBV_RECV_WR = layout("struct ibv_recv_wr", 32, {
  wr_id: [0, 8],
  next: [8, 8],
  sg_list: [16, 8],
  num_sge: [24, 4, "signed"],
});

/**
 * `struct ibv_wc`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_WC } from "./layouts.ts";
 * assert.deepEqual([IBV_WC.sizeof, IBV_WC.fields.byte_len.offset], [48, 20]);
 * ```
 */
export const IBV_WC = layout("struct ibv_wc", 48, {
  wr_id: [0, 8],
  status: [8, 4],
  opcode: [12, 4],
  vendor_err: [16, 4],
  byte_len: [20, 4],
  imm_data: [24, 4],
  qp_num: [28, 4],
  src_qp: [32, 4],
  wc_flags: [36, 4],
  pkey_index: [40, 2],
  slid: [42, 2],
  sl: [44, 1],
  dlid_path_bits: [45, 1],
});

/**
 * Every layout above, by table name: what the layout test walks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_WC, LAYOUTS } from "./layouts.ts";
 * assert.equal(LAYOUTS.IBV_WC, IBV_WC);
 * ```
 */
export const LAYOUTS: Readonly<Record<string, Layout>> = Object.freeze({
  IBV_DEVICE_ATTR,
  IBV_PORT_ATTR,
  IBV_CONTEXT,
  VERBS_CONTEXT,
  IBV_PD,
  IBV_AH,
  IBV_SRQ,
  IBV_MR,
  IBV_CQ,
  IBV_COMP_CHANNEL,
  IBV_ASYNC_EVENT,
  POLLFD,
  IBV_QP,
  IBV_QP_CAP,
  IBV_QP_INIT_ATTR,
  IBV_QP_ATTR,
  IBV_AH_ATTR,
  IBV_SRQ_INIT_ATTR,
  IBV_SGE,
  IBV_SEND_WR,
  IBV_RECV_WR,
  IBV_WC,
});

/**
 * Macro values from verbs.h (and `<poll.h>`) the binding relies on (checked by the layout test
 * against the header, like the offsets). Values as unsigned integers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HEADER_CONSTANTS } from "./layouts.ts";
 * assert.equal(HEADER_CONSTANTS.IBV_ACCESS_OPTIONAL_RANGE, 0x3ff00000n);
 * ```
 */
export const HEADER_CONSTANTS = Object.freeze({
  /** Access bits that force `ibv_reg_mr_iova2` instead of `ibv_reg_mr` (the macro's test). */
  IBV_ACCESS_OPTIONAL_RANGE: 0x3ff00000n,
  /** `abi_compat` value marking an extended (`verbs_context`) context: `(void *)UINTPTR_MAX`. */
  __VERBS_ABI_IS_EXTENDED: 0xffffffffffffffffn,
  /** `<poll.h>`: data to read on the completion channel fd. */
  POLLIN: 1n,
});

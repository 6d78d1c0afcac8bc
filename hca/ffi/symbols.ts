/**
 * The C signatures the binding uses: exported libibverbs functions (for
 * `Deno.dlopen`) and the `ibv_context.ops` / `verbs_context` function
 * pointers behind the static-inline verbs of verbs.h (for
 * `Deno.UnsafeFnPointer`). Exported symbols resolve to their default version
 * (`@@IBVERBS_1.1` and later), the ones a C program compiled today links.
 *
 * @module
 */

/**
 * Exported functions. `ibv_query_port` here is the real symbol, which takes
 * the *compat* port struct; verbs.h hides it behind a macro — see `ops.ts`.
 * `__errno_location` and `poll` are libc's; dlsym on the libibverbs handle
 * finds them through the library's own dependencies, so one handle suffices.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_SYMBOLS } from "./symbols.ts";
 * assert.deepEqual(IBV_SYMBOLS.ibv_alloc_pd, { parameters: ["pointer"], result: "pointer" });
 * ```
 */
export const IBV_SYMBOLS = {
  ibv_get_device_list: { parameters: ["buffer"], result: "pointer" },
  ibv_free_device_list: { parameters: ["pointer"], result: "void" },
  ibv_get_device_name: { parameters: ["pointer"], result: "pointer" },
  ibv_open_device: { parameters: ["pointer"], result: "pointer" },
  ibv_close_device: { parameters: ["pointer"], result: "i32" },
  ibv_query_device: { parameters: ["pointer", "buffer"], result: "i32" },
  ibv_query_port: { parameters: ["pointer", "u8", "buffer"], result: "i32" },
  ibv_query_gid: { parameters: ["pointer", "u8", "i32", "buffer"], result: "i32" },
  ibv_query_pkey: { parameters: ["pointer", "u8", "i32", "buffer"], result: "i32" },
  ibv_alloc_pd: { parameters: ["pointer"], result: "pointer" },
  ibv_dealloc_pd: { parameters: ["pointer"], result: "i32" },
  ibv_reg_mr: { parameters: ["pointer", "pointer", "usize", "i32"], result: "pointer" },
  // rdma-core >= 20 (IBVERBS_1.8); only needed for optional access flags.
  ibv_reg_mr_iova2: {
    parameters: ["pointer", "pointer", "usize", "u64", "u32"],
    result: "pointer",
    optional: true,
  },
  ibv_dereg_mr: { parameters: ["pointer"], result: "i32" },
  ibv_create_comp_channel: { parameters: ["pointer"], result: "pointer" },
  ibv_destroy_comp_channel: { parameters: ["pointer"], result: "i32" },
  ibv_create_cq: {
    parameters: ["pointer", "i32", "pointer", "pointer", "i32"],
    result: "pointer",
  },
  ibv_destroy_cq: { parameters: ["pointer"], result: "i32" },
  // Blocks in read(2) on the channel fd: run it off the JS thread.
  ibv_get_cq_event: {
    parameters: ["pointer", "buffer", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  ibv_ack_cq_events: { parameters: ["pointer", "u32"], result: "void" },
  // Blocks in read(2) on the context's async_fd (device.c): run it off the JS thread.
  ibv_get_async_event: { parameters: ["pointer", "buffer"], result: "i32", nonblocking: true },
  ibv_ack_async_event: { parameters: ["buffer"], result: "void" },
  ibv_create_qp: { parameters: ["pointer", "buffer"], result: "pointer" },
  ibv_modify_qp: { parameters: ["pointer", "buffer", "i32"], result: "i32" },
  ibv_query_qp: { parameters: ["pointer", "buffer", "i32", "buffer"], result: "i32" },
  ibv_destroy_qp: { parameters: ["pointer"], result: "i32" },
  // int ibv_attach_mcast(struct ibv_qp *, const union ibv_gid *, uint16_t lid), and detach.
  ibv_attach_mcast: { parameters: ["pointer", "buffer", "u16"], result: "i32" },
  ibv_detach_mcast: { parameters: ["pointer", "buffer", "u16"], result: "i32" },
  ibv_create_ah: { parameters: ["pointer", "buffer"], result: "pointer" },
  // int ibv_init_ah_from_wc(struct ibv_context *, uint8_t port_num, struct ibv_wc *,
  //                         struct ibv_grh *, struct ibv_ah_attr *)
  ibv_init_ah_from_wc: {
    parameters: ["pointer", "u8", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  ibv_destroy_ah: { parameters: ["pointer"], result: "i32" },
  ibv_create_srq: { parameters: ["pointer", "buffer"], result: "pointer" },
  ibv_destroy_srq: { parameters: ["pointer"], result: "i32" },
  // The same three destroys run off the JS thread: used while an event read is in flight, whose
  // event (already counted by the kernel) would make the call wait for an ack from JS.
  ibv_destroy_qp_off_thread: {
    name: "ibv_destroy_qp",
    parameters: ["pointer"],
    result: "i32",
    nonblocking: true,
  },
  ibv_destroy_cq_off_thread: {
    name: "ibv_destroy_cq",
    parameters: ["pointer"],
    result: "i32",
    nonblocking: true,
  },
  ibv_destroy_srq_off_thread: {
    name: "ibv_destroy_srq",
    parameters: ["pointer"],
    result: "i32",
    nonblocking: true,
  },
  __errno_location: { parameters: [], result: "pointer" },
  // libc's poll(2), found the same way: a completion wait with a timeout.
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
} as const;

/**
 * `int (*post_send)(struct ibv_qp *, struct ibv_send_wr *, struct ibv_send_wr **)`;
 * `post_recv` and `post_srq_recv` have the same shape.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POST_FN } from "./symbols.ts";
 * assert.deepEqual(POST_FN.parameters, ["pointer", "buffer", "buffer"]); // qp, wr, &bad_wr
 * ```
 */
export const POST_FN = { parameters: ["pointer", "buffer", "buffer"], result: "i32" } as const;

/**
 * `int (*poll_cq)(struct ibv_cq *, int num_entries, struct ibv_wc *)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { POLL_CQ_FN } from "./symbols.ts";
 * assert.deepEqual(POLL_CQ_FN, { parameters: ["pointer", "i32", "buffer"], result: "i32" });
 * ```
 */
export const POLL_CQ_FN = { parameters: ["pointer", "i32", "buffer"], result: "i32" } as const;

/**
 * `int (*req_notify_cq)(struct ibv_cq *, int solicited_only)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { REQ_NOTIFY_CQ_FN } from "./symbols.ts";
 * assert.deepEqual(REQ_NOTIFY_CQ_FN.parameters, ["pointer", "i32"]); // cq, solicited_only
 * ```
 */
export const REQ_NOTIFY_CQ_FN = { parameters: ["pointer", "i32"], result: "i32" } as const;

/**
 * `int (*query_port)(struct ibv_context *, uint8_t, struct ibv_port_attr *, size_t)`
 * in `struct verbs_context`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QUERY_PORT_FN } from "./symbols.ts";
 * assert.equal(QUERY_PORT_FN.parameters[3], "usize"); // the caller's sizeof(struct ibv_port_attr)
 * ```
 */
export const QUERY_PORT_FN = {
  parameters: ["pointer", "u8", "buffer", "usize"],
  result: "i32",
} as const;

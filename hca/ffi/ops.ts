/**
 * The verbs that verbs.h defines `static inline` and so are not exported by
 * libibverbs: `ibv_post_send`, `ibv_post_recv`, `ibv_post_srq_recv`,
 * `ibv_poll_cq`, `ibv_req_notify_cq` (each a call through
 * `context->ops.<fn>`) and `ibv_query_port` (a macro over `___ibv_query_port`,
 * which prefers `verbs_context->query_port` over the exported compat symbol).
 * This is the fast path: the provider writes the WQE and rings the UAR
 * doorbell inside these calls, without entering the kernel.
 *
 * @module
 */
import { HEADER_CONSTANTS, IBV_CONTEXT, IBV_PORT_ATTR, VERBS_CONTEXT } from "./layouts.ts";
import type { Ibverbs } from "./library.ts";
import { POLL_CQ_FN, POST_FN, QUERY_PORT_FN, REQ_NOTIFY_CQ_FN } from "./symbols.ts";
import { scratch } from "./struct.ts";

/**
 * A `post_send`/`post_recv`/`post_srq_recv` function pointer, as {@link contextOps}
 * binds it.
 */
export type PostFn = Deno.UnsafeFnPointer<typeof POST_FN>;

/**
 * The provider's fast-path functions of one device context (made by
 * {@link contextOps}; its example calls one).
 */
export interface ContextOps {
  /** `ops.post_send(qp, wr, &bad_wr)`. */
  readonly postSend: PostFn | null;
  /** `ops.post_recv(qp, wr, &bad_wr)`. */
  readonly postRecv: PostFn | null;
  /** `ops.post_srq_recv(srq, wr, &bad_wr)`. */
  readonly postSrqRecv: PostFn | null;
  /** `ops.poll_cq(cq, n, wc)`. */
  readonly pollCq: Deno.UnsafeFnPointer<typeof POLL_CQ_FN> | null;
  /** `ops.req_notify_cq(cq, solicited_only)`. */
  readonly reqNotifyCq: Deno.UnsafeFnPointer<typeof REQ_NOTIFY_CQ_FN> | null;
}

function fn<D extends Deno.ForeignFunction>(
  ctx: Deno.PointerObject,
  field: keyof typeof IBV_CONTEXT.fields,
  def: D,
): Deno.UnsafeFnPointer<D> | null {
  const p = new Deno.UnsafePointerView(ctx).getPointer(IBV_CONTEXT.fields[field].offset);
  return p ? new Deno.UnsafeFnPointer(p as Deno.PointerObject<D>, def) : null;
}

/**
 * Bind the ops table of an open context. The provider fills `ops` once, when
 * the device is opened, and every CQ/QP/SRQ of the context points back to
 * it, so binding once per context gives the same functions the inline verbs
 * would load on each call (without a pointer read and a binding per post).
 * A null entry means the provider does not implement that verb.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { contextOps, IBV_CONTEXT, POLL_CQ_FN, put, scratch, viewOf } from "./mod.ts";
 * const ctx = scratch(IBV_CONTEXT.sizeof); // a struct ibv_context whose provider filled no ops
 * assert.equal(contextOps(Deno.UnsafePointer.of(ctx)!).pollCq, null);
 * // A provider's poll_cq that reports one completion per call.
 * const pollCq = new Deno.UnsafeCallback(POLL_CQ_FN, () => 1);
 * const fnAddr = Deno.UnsafePointer.value(pollCq.pointer);
 * put(viewOf(ctx), IBV_CONTEXT.fields["ops.poll_cq"], BigInt(fnAddr));
 * const ops = contextOps(Deno.UnsafePointer.of(ctx)!);
 * assert.equal(ops.pollCq!.call(null, 16, scratch(48 * 16)), 1); // the call goes to the provider
 * pollCq.close();
 * ```
 */
export function contextOps(ctx: Deno.PointerObject): ContextOps {
  return {
    postSend: fn(ctx, "ops.post_send", POST_FN),
    postRecv: fn(ctx, "ops.post_recv", POST_FN),
    postSrqRecv: fn(ctx, "ops.post_srq_recv", POST_FN),
    pollCq: fn(ctx, "ops.poll_cq", POLL_CQ_FN),
    reqNotifyCq: fn(ctx, "ops.req_notify_cq", REQ_NOTIFY_CQ_FN),
  };
}

/**
 * `verbs_get_ctx_op(ctx, query_port)`: the extended context's `query_port`,
 * or null when the context is not extended, too old to have the member, or
 * the provider left it unset.
 */
function extendedQueryPort(
  ctx: Deno.PointerObject,
): Deno.UnsafeFnPointer<typeof QUERY_PORT_FN> | null {
  const view = new Deno.UnsafePointerView(ctx);
  const compat = view.getBigUint64(IBV_CONTEXT.fields.abi_compat.offset);
  if (compat !== HEADER_CONSTANTS.__VERBS_ABI_IS_EXTENDED) return null;
  const vctx = Deno.UnsafePointer.offset(ctx, -VERBS_CONTEXT.fields.context.offset);
  if (!vctx) return null;
  const v = new Deno.UnsafePointerView(vctx);
  const sz = v.getBigUint64(VERBS_CONTEXT.fields.sz.offset);
  const need = BigInt(VERBS_CONTEXT.sizeof - VERBS_CONTEXT.fields.query_port.offset);
  const p = v.getPointer(VERBS_CONTEXT.fields.query_port.offset);
  if (sz < need || !p) return null;
  return new Deno.UnsafeFnPointer(p as Deno.PointerObject<typeof QUERY_PORT_FN>, QUERY_PORT_FN);
}

/**
 * `ibv_query_port(ctx, port, &attr)` exactly as the header's inline does it.
 *
 * @returns the verb's result (0 or an errno) and the filled `struct ibv_port_attr`
 * @example
 * ```ts
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { HEADER_CONSTANTS, IBV_CONTEXT, loadIbverbs, put, QUERY_PORT_FN } from "./mod.ts";
 * import { queryPort, scratch, VERBS_CONTEXT, viewOf } from "./mod.ts";
 * // An extended context (struct verbs_context) whose provider implements query_port:
 * const vctx = viewOf(scratch(VERBS_CONTEXT.sizeof));
 * const base = VERBS_CONTEXT.fields.context.offset; // the struct ibv_context inside it
 * put(vctx, IBV_CONTEXT.fields.abi_compat, HEADER_CONSTANTS.__VERBS_ABI_IS_EXTENDED, base);
 * put(vctx, VERBS_CONTEXT.fields.sz, VERBS_CONTEXT.sizeof);
 * const provider = new Deno.UnsafeCallback(QUERY_PORT_FN, (_ctx, _port, attr) => {
 *   new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(attr!, 1))[0] = 4; // state: ACTIVE
 *   return 0;
 * });
 * put(vctx, VERBS_CONTEXT.fields.query_port, Deno.UnsafePointer.value(provider.pointer));
 * const ctx = Deno.UnsafePointer.offset(Deno.UnsafePointer.of(vctx.buffer)!, base)!;
 * const lib = loadIbverbs(); // its compat ibv_query_port is not called for an extended context
 * const { rc, attr } = queryPort(lib, ctx, 1);
 * assert.deepEqual([rc, attr[0]], [0, 4]);
 * lib.close();
 * provider.close();
 * ```
 */
export function queryPort(
  lib: Ibverbs,
  ctx: Deno.PointerObject,
  port: number,
): { rc: number; attr: Uint8Array<ArrayBuffer> } {
  const attr = scratch(IBV_PORT_ATTR.sizeof); // zeroed, as the inline's memset
  const ext = extendedQueryPort(ctx);
  const rc = ext
    ? ext.call(ctx, port, attr, BigInt(IBV_PORT_ATTR.sizeof))
    : lib.symbols.ibv_query_port(ctx, port, attr);
  return { rc, attr };
}

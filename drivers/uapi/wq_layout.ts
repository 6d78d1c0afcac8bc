/**
 * Queue buffer layouts the user library chooses and the kernel checks
 * (FORMATS.md §5–§7): WQE stride per QP type and capacities, ring sizes,
 * CQ and SRQ buffer sizes. One formula on both sides of the kernel ABI, so
 * they agree — as libmthca and mthca agree on `mthca_alloc_qp_buf`.
 *
 * @module
 */
import { CQE_BYTES } from "../../hca/cqe.ts";
import { SEG_BYTES, UD_SEG_BYTES } from "../../hca/wqe.ts";
import { PAGE_SIZE } from "../../sim/memory.ts";
import { QpType } from "./enums.ts";
import type { QpCap } from "./types.ts";
import type { WqLayout } from "./uverbs.ts";

/**
 * Smallest power of two >= n (n >= 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { roundPow2 } from "./wq_layout.ts";
 * assert.equal(roundPow2(100), 128);
 * assert.equal(roundPow2(64), 64);
 * ```
 */
export function roundPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/**
 * Bytes of send WQE a QP of `type` needs for the given capacities: control
 * segment, the address segments the type's opcodes use, and the larger of
 * the gather list and the inline data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sendWqeBytes } from "./wq_layout.ts";
 * assert.equal(sendWqeBytes(2, 1, 0), 64); // RC: ctrl + raddr + atomic + 1 data segment
 * assert.equal(sendWqeBytes(2, 1, 64), 128); // 64 B inline data need 80 B
 * ```
 */
export function sendWqeBytes(type: number, maxSge: number, maxInline: number): number {
  let n = SEG_BYTES;
  if (type === QpType.RC) n += 2 * SEG_BYTES; // remote address + atomic operands
  else if (type === QpType.UC) n += SEG_BYTES; // remote address
  else n += UD_SEG_BYTES;
  const data = Math.max(maxSge * SEG_BYTES, maxInline > 0 ? (4 + maxInline + 15) & ~15 : 0);
  return n + data;
}

/**
 * Layout of a QP's work queue buffer: RQ first, then the SQ, the whole
 * rounded to pages (`bufAddr` is filled in by the allocator).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { qpLayout } from "./wq_layout.ts";
 * const l = qpLayout(2, { maxSendWr: 10, maxRecvWr: 10, maxSendSge: 1, maxRecvSge: 1 }, false);
 * assert.deepEqual([l.sqSize, l.sqStride, l.rqSize, l.rqStride], [16, 64, 16, 16]);
 * assert.equal(l.sqOffset, 256); // the RQ comes first
 * assert.equal(l.bufBytes, 4096);
 * ```
 */
export function qpLayout(type: number, cap: QpCap, srq: boolean): WqLayout {
  const sqStride = Math.max(
    64,
    roundPow2(sendWqeBytes(type, cap.maxSendSge, cap.maxInlineData ?? 0)),
  );
  const sqSize = roundPow2(cap.maxSendWr);
  const rqSize = srq ? 0 : roundPow2(cap.maxRecvWr);
  const rqStride = srq ? 0 : Math.max(16, roundPow2(cap.maxRecvSge * SEG_BYTES));
  const rqBytes = rqSize * rqStride;
  const sqOffset = Math.ceil(rqBytes / sqStride) * sqStride;
  const bufBytes = Math.ceil((sqOffset + sqSize * sqStride) / PAGE_SIZE) * PAGE_SIZE;
  return { bufAddr: 0, bufBytes, sqOffset, sqSize, sqStride, rqOffset: 0, rqSize, rqStride };
}

/**
 * What a QP of `type` whose queues are laid out as `wq` is granted: the
 * `struct ibv_qp_cap` that create_qp hands back and query_qp reports
 * (ibv_create_qp(3): "the values will be greater than or equal to the
 * values requested"). The device is an MT23108 (Tavor, not mem-free), so
 * the rules are Linux mthca's for Tavor:
 *
 * - work requests: exactly what was asked (mthca_set_qp_size: only
 *   mem-free HCAs round `max_send_wr`/`max_recv_wr` up to a power of two;
 *   libmthca's align_queue_size: "If device is Tavor, queue sizes can be
 *   arbitrary"); none on a receive queue the QP does not have (SRQ);
 * - scatter/gather entries and inline bytes: what the WQE stride holds
 *   (mthca_adjust_qp_caps: `max_data_size` is the stride less the non-data
 *   segments, `max_inline_data` that less the 4-byte inline header,
 *   `sq.max_gs`/`rq.max_gs` that in 16-byte data segments, each capped at
 *   the device's `max_sg`); here the non-data segments are those
 *   {@link sendWqeBytes} reserves for the type, and inline bytes are also
 *   capped at the device's `maxInline`.
 *
 * Asking for the granted values lays the queues out the same way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { qpGrant, qpLayout } from "./wq_layout.ts";
 * const cap = { maxSendWr: 10, maxRecvWr: 3, maxSendSge: 1, maxRecvSge: 3 };
 * const g = qpGrant(2, cap, qpLayout(2, cap, false), { maxSge: 30, maxInline: 400 });
 * // a 64-byte RC send WQE: 48 bytes of control, address and atomic segments, one data segment
 * assert.deepEqual(g, { maxSendWr: 10, maxRecvWr: 3, maxSendSge: 1, maxRecvSge: 4, maxInlineData: 12 });
 * ```
 */
export function qpGrant(
  type: number,
  cap: QpCap,
  wq: Pick<WqLayout, "sqStride" | "rqSize" | "rqStride">,
  limits: { maxSge: number; maxInline: number },
): Required<QpCap> {
  const data = wq.sqStride - sendWqeBytes(type, 0, 0);
  const srq = wq.rqSize === 0;
  return {
    maxSendWr: cap.maxSendWr,
    maxRecvWr: srq ? 0 : cap.maxRecvWr,
    maxSendSge: Math.max(0, Math.min(limits.maxSge, Math.floor(data / SEG_BYTES))),
    maxRecvSge: srq ? 0 : Math.min(limits.maxSge, Math.floor(wq.rqStride / SEG_BYTES)),
    // mthca_max_inline_data: max_data_size - MTHCA_INLINE_HEADER_SIZE (4).
    maxInlineData: Math.max(0, Math.min(limits.maxInline, data - 4)),
  };
}

/**
 * CQ ring for `cqe` entries: `(cqe + 1)` rounded up to a power of two
 * (mthca keeps one entry spare), in whole pages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cqLayout } from "./wq_layout.ts";
 * assert.deepEqual(cqLayout(256), { logSize: 9, bytes: 16384 }); // 257 entries round up to 512
 * ```
 */
export function cqLayout(cqe: number): { logSize: number; bytes: number } {
  const logSize = Math.max(1, Math.ceil(Math.log2(cqe + 1)));
  const bytes = Math.ceil(((1 << logSize) * CQE_BYTES) / PAGE_SIZE) * PAGE_SIZE;
  return { logSize, bytes };
}

/**
 * SRQ ring for `maxWr` WQEs of `maxSge` entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { srqLayout } from "./wq_layout.ts";
 * assert.deepEqual(srqLayout(100, 2), { logSize: 7, logStride: 5, bytes: 4096 });
 * ```
 */
export function srqLayout(maxWr: number, maxSge: number): {
  logSize: number;
  logStride: number;
  bytes: number;
} {
  const logSize = Math.ceil(Math.log2(Math.max(1, maxWr)));
  const logStride = Math.max(4, Math.ceil(Math.log2(Math.max(1, maxSge) * SEG_BYTES)));
  const bytes = Math.ceil(((1 << logSize) << logStride) / PAGE_SIZE) * PAGE_SIZE;
  return { logSize, logStride, bytes };
}

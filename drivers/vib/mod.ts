/**
 * The Xen-IB split-device protocol ("vib"): what a guest's frontend and
 * dom0's backend put in the slots of their shared request ring
 * (`ring.ts`, `io/ring.h` layout). Together with the xenbus states and the
 * xenstore keys ({@link VIB_KEYS}) this is the whole contract between the
 * two ends, as `blkif.h` is for block devices.
 *
 * Every message is a fixed-size little-endian struct in one
 * {@link VIB_SLOT_BYTES}-byte slot (16 slots in the 4 KiB ring page).
 *
 * Request (front → back):
 *
 * | offset | field |
 * | --- | --- |
 * | 0 | `u32 id` — strictly increasing per frontend; echoed in the response |
 * | 4 | `u8 op` — {@link VibOp} |
 * | 5 | `u8 flags` — {@link VIB_F_INDIRECT}: the segment refs name indirect pages; {@link VIB_F_PERSISTENT}: dom0 may keep the buffer's grant mappings cached |
 * | 6 | `u16 ctx` — context id (from `OPEN`), 0 for device-level ops |
 * | 8 | `u32 handle` — the object the op acts on (PD for creations) |
 * | 12 | `u16 nr_segs` — grant refs in the segment area |
 * | 14 | `u16 reserved` — must be 0 |
 * | 16 | payload: the op's fields ({@link VIB_OPS}), then the segment area (`u32` grant refs) |
 *
 * Response (back → front): `u32 id`, `u8 op`, `u8 limit` (with an error: the quota or dom0
 * headroom pool that refused it, {@link VIB_LIMITS}; else 0), `i16 status` (0 or `-errno`),
 * then from offset 8 the op's response fields, or with an error the reason: one line of UTF-8
 * naming what was wrong with the guest's own request, or a fixed one for the errno's class when
 * dom0 itself failed (`drivers/back/refusal.ts`), NUL-padded ({@link VIB_REASON_BYTES}).
 *
 * Within a payload, fields are packed in table order with no padding; a
 * message that has optional fields starts its payload with a 64-bit
 * presence map (bit i = the i-th optional field of the table is present),
 * so that `undefined` survives the trip (`qp.query()` returns exactly the
 * attributes that were set). Buffers (memory regions, CQ/QP/SRQ rings)
 * travel as one grant reference per page: in the segment area when they
 * fit ({@link segCapacity}), else the segment area holds the refs of
 * indirect pages, each a granted page of {@link REFS_PER_INDIRECT_PAGE}
 * `u32` refs (blkif's indirect descriptors).
 *
 * Encoding refuses values a field cannot hold (EINVAL, as the kernel would
 * refuse them); decoding never fails on content, only the backend's
 * validation decides what a value means.
 *
 * @module
 */

// The protocol is split by job (constants, xenstore keys, op table,
// layout, codec); this module re-exports exactly the public names it always
// had so that both ends and the tests keep one import path.
export {
  REFS_PER_INDIRECT_PAGE,
  VIB_F_INDIRECT,
  VIB_F_PERSISTENT,
  VIB_MAX_PAGES,
  VIB_REQ_HEADER,
  VIB_RSP_HEADER,
  VIB_SLOT_BYTES,
} from "./wire.ts";
export { VIB_KEYS } from "./keys.ts";
export { limitCode, limitName, VIB_LIMITS } from "./limits.ts";
export {
  type FieldSpec,
  type FieldType,
  opName,
  type OpSpec,
  VIB_OP_TABLE,
  VIB_OPS,
  VibOp,
  type VibOpCode,
  type VibReqBody,
  type VibRspBody,
} from "./ops.ts";
export { type ProtocolRow, protocolTable, segCapacity } from "./layout.ts";
export {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  knownRequest,
  type KnownVibRequest,
  responseBody,
  VIB_REASON_BYTES,
  VibEncodeError,
  VibProtocolError,
  type VibRequest,
  type VibRequestOf,
  type VibResponse,
  vibRingOptions,
} from "./codec.ts";

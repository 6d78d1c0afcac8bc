/**
 * Reading and writing C structs through the offset tables of `layouts.ts`:
 * in Deno-owned scratch buffers (passed to C as `buffer` arguments) and in
 * memory C owns (through `Deno.UnsafePointerView`). Integers are host order
 * (little-endian on every Linux target rdma-core supports here); 8-byte
 * fields are bigint so no address, key or GUID is rounded.
 *
 * @module
 */
import type { Field } from "./layouts.ts";

/**
 * A zeroed buffer whose bytes live outside the V8 heap, so its address stays
 * put while C holds it. Small `new Uint8Array(n)` may be allocated on the V8
 * heap (and moved by the GC); an explicit `ArrayBuffer` never is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scratch } from "./struct.ts";
 * const b = scratch(48);
 * assert.deepEqual([b.byteLength, b.every((x) => x === 0)], [48, true]); // zeroed, as memset
 * ```
 */
export function scratch(bytes: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new ArrayBuffer(Math.max(bytes, 8)), 0, bytes);
}

/**
 * The process address of a buffer's first byte, as C sees it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addressOf, scratch } from "./struct.ts";
 * const b = scratch(16);
 * assert.equal(addressOf(b.subarray(8)) - addressOf(b), 8n); // needs --allow-ffi
 * ```
 */
export function addressOf(buf: Uint8Array): bigint {
  return Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf));
}

/**
 * A pointer value from an address (null for 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pointerValue, toPointer } from "./struct.ts";
 * assert.equal(toPointer(0n), null);
 * assert.equal(pointerValue(toPointer(0x1000n)), 0x1000n);
 * ```
 */
export function toPointer(addr: bigint): Deno.PointerValue {
  return addr === 0n ? null : Deno.UnsafePointer.create(addr);
}

/**
 * The address of a pointer value (0 for null).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pointerValue } from "./struct.ts";
 * assert.equal(pointerValue(null), 0n); // NULL
 * ```
 */
export function pointerValue(p: Deno.PointerValue): bigint {
  return p === null ? 0n : Deno.UnsafePointer.value(p);
}

/**
 * A DataView over a whole buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scratch, viewOf } from "./struct.ts";
 * const b = scratch(16);
 * viewOf(b.subarray(8)).setUint8(0, 7); // the view covers exactly the bytes it was given
 * assert.deepEqual([viewOf(b).byteLength, b[8]], [16, 7]);
 * ```
 */
export function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Read an unsigned integer field (1, 2 or 4 bytes) at `base + field.offset`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getUint, scratch, viewOf } from "./struct.ts";
 * const v = viewOf(scratch(8));
 * v.setUint16(2, 7, true);
 * assert.equal(getUint(v, { offset: 2, size: 2 }), 7); // little-endian, as the C side
 * ```
 */
export function getUint(v: DataView, f: Field, base = 0): number {
  if (f.signed) throw new RangeError("getUint: a signed field (use getInt)");
  const o = base + f.offset;
  switch (f.size) {
    case 1:
      return v.getUint8(o);
    case 2:
      return v.getUint16(o, true);
    case 4:
      return v.getUint32(o, true);
  }
  throw new RangeError(`getUint: field of ${f.size} bytes (use getU64)`);
}

/**
 * Read a signed 32-bit field (C `int`, e.g. a poll or errno return in a struct).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getInt, getUint, scratch, viewOf } from "./struct.ts";
 * const v = viewOf(scratch(4));
 * v.setInt32(0, -1, true);
 * assert.equal(getInt(v, { offset: 0, size: 4 }), -1);
 * assert.equal(getUint(v, { offset: 0, size: 4 }), 0xffffffff);
 * ```
 */
export function getInt(v: DataView, f: Field, base = 0): number {
  if (f.size !== 4) throw new RangeError(`getInt: field of ${f.size} bytes`);
  return v.getInt32(base + f.offset, true);
}

/**
 * Read an 8-byte field (u64 or pointer) as bigint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getU64, scratch, viewOf } from "./struct.ts";
 * const v = viewOf(scratch(8));
 * v.setBigUint64(0, 5n, true);
 * assert.equal(getU64(v, { offset: 0, size: 8 }), 5n);
 * ```
 */
export function getU64(v: DataView, f: Field, base = 0): bigint {
  if (f.size !== 8) throw new RangeError(`getU64: field of ${f.size} bytes`);
  return v.getBigUint64(base + f.offset, true);
}

/**
 * Write an integer field of 1, 2, 4 or 8 bytes. Values are truncated to the
 * field width as C would (two's complement for negatives).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getU64, getUint, put, scratch, viewOf } from "./struct.ts";
 * const v = viewOf(scratch(8));
 * put(v, { offset: 0, size: 8 }, 9n);
 * assert.equal(getU64(v, { offset: 0, size: 8 }), 9n);
 * put(v, { offset: 0, size: 2 }, 0x12345); // truncated to the field, as a C store
 * assert.equal(getUint(v, { offset: 0, size: 2 }), 0x2345);
 * ```
 */
export function put(v: DataView, f: Field, value: number | bigint, base = 0): void {
  const o = base + f.offset;
  switch (f.size) {
    case 1:
      return v.setUint8(o, Number(value) & 0xff);
    case 2:
      return v.setUint16(o, Number(value) & 0xffff, true);
    case 4:
      return v.setUint32(o, Number(BigInt.asUintN(32, BigInt(value))), true);
    case 8:
      return v.setBigUint64(o, BigInt.asUintN(64, BigInt(value)), true);
  }
  throw new RangeError(`put: field of ${f.size} bytes`);
}

/**
 * Copy `size` bytes of a struct that C owns (at `ptr`) into a Deno buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { copyFromC, scratch } from "./struct.ts";
 * const src = scratch(4);
 * src[0] = 42;
 * const copy = copyFromC(Deno.UnsafePointer.of(src)!, 4);
 * src[0] = 0; // the copy does not follow later C writes
 * assert.equal(copy[0], 42);
 * ```
 */
export function copyFromC(ptr: Deno.PointerObject, size: number): Uint8Array<ArrayBuffer> {
  const out = scratch(size);
  Deno.UnsafePointerView.copyInto(ptr, out);
  return out;
}

/**
 * A NUL-terminated C string stored inline in a fixed `char[]` field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getCString, scratch } from "./struct.ts";
 * const b = scratch(8);
 * b.set([104, 105]); // "hi", NUL-terminated
 * assert.equal(getCString(b, { offset: 0, size: 8 }), "hi");
 * ```
 */
export function getCString(buf: Uint8Array, f: Field, base = 0): string {
  const bytes = buf.subarray(base + f.offset, base + f.offset + f.size);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/**
 * Read an unsigned field (1, 2 or 4 bytes) of a struct C owns, e.g. the
 * `lkey` of the `struct ibv_mr` that `ibv_reg_mr` returned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cUint, scratch } from "./struct.ts";
 * const b = scratch(8);
 * b[4] = 9;
 * assert.equal(cUint(Deno.UnsafePointer.of(b)!, { offset: 4, size: 4 }), 9);
 * ```
 */
export function cUint(ptr: Deno.PointerObject, f: Field): number {
  if (f.signed) throw new RangeError("cUint: a signed field (use cInt)");
  const v = new Deno.UnsafePointerView(ptr);
  switch (f.size) {
    case 1:
      return v.getUint8(f.offset);
    case 2:
      return v.getUint16(f.offset);
    case 4:
      return v.getUint32(f.offset);
  }
  throw new RangeError(`cUint: field of ${f.size} bytes`);
}

/**
 * Read a signed 32-bit field (C `int`) of a struct C owns, e.g. the `cqe`
 * of the `struct ibv_cq` that `ibv_create_cq` returned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cInt, scratch } from "./struct.ts";
 * const b = scratch(8);
 * new DataView(b.buffer).setInt32(4, -1, true);
 * assert.equal(cInt(Deno.UnsafePointer.of(b)!, { offset: 4, size: 4, signed: true }), -1);
 * ```
 */
export function cInt(ptr: Deno.PointerObject, f: Field): number {
  if (f.size !== 4) throw new RangeError(`cInt: field of ${f.size} bytes`);
  return new Deno.UnsafePointerView(ptr).getInt32(f.offset);
}

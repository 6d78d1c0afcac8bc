/**
 * Contiguous datatypes: the element types a buffer can hold, their sizes and
 * the JS typed arrays that carry them. A typed array names its own datatype
 * (a `Float64Array` is `"float64"`, MPI_DOUBLE); a buffer in domain memory
 * carries one chosen at allocation. Derived datatypes (vector, indexed,
 * struct) are not part of this library.
 *
 * @module
 */
import { MpiError } from "./errors.ts";

/**
 * An element type (with the MPI predefined datatype it stands for).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Datatype } from "./datatype.ts";
 * const t: Datatype = "float64"; // MPI_DOUBLE
 * assert.equal(t, "float64");
 * ```
 */
export type Datatype =
  | "byte" // MPI_BYTE
  | "uint8" // MPI_UINT8_T / MPI_UNSIGNED_CHAR
  | "int8" // MPI_INT8_T / MPI_SIGNED_CHAR
  | "uint16" // MPI_UINT16_T
  | "int16" // MPI_INT16_T / MPI_SHORT
  | "uint32" // MPI_UINT32_T / MPI_UNSIGNED
  | "int32" // MPI_INT32_T / MPI_INT
  | "int64" // MPI_INT64_T / MPI_LONG_LONG
  | "uint64" // MPI_UINT64_T
  | "float32" // MPI_FLOAT
  | "float64"; // MPI_DOUBLE

/**
 * A typed array (any of the element types above).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { TypedArray } from "./datatype.ts";
 * const a: TypedArray = new Float32Array(4);
 * assert.equal(a.length, 4);
 * ```
 */
export type TypedArray =
  | Uint8Array
  | Uint8ClampedArray
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/**
 * The typed array that holds elements of datatype `T`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ArrayOf } from "./datatype.ts";
 * const a: ArrayOf<"float32"> = new Float32Array(2);
 * assert.equal(a.BYTES_PER_ELEMENT, 4);
 * ```
 */
export type ArrayOf<T extends Datatype> = T extends "float64" ? Float64Array
  : T extends "float32" ? Float32Array
  : T extends "int32" ? Int32Array
  : T extends "uint32" ? Uint32Array
  : T extends "int16" ? Int16Array
  : T extends "uint16" ? Uint16Array
  : T extends "int8" ? Int8Array
  : T extends "int64" ? BigInt64Array
  : T extends "uint64" ? BigUint64Array
  : T extends "uint8" | "byte" ? Uint8Array
  : TypedArray;

/** What the library knows of each datatype. */
interface TypeInfo {
  size: number;
  ctor: {
    new (buf: ArrayBuffer, off: number, len: number): TypedArray;
    new (n: number): TypedArray;
  };
  bigint: boolean;
  integer: boolean;
  mpi: string;
}

const TYPES: Record<Datatype, TypeInfo> = {
  byte: { size: 1, ctor: Uint8Array, bigint: false, integer: true, mpi: "MPI_BYTE" },
  uint8: { size: 1, ctor: Uint8Array, bigint: false, integer: true, mpi: "MPI_UINT8_T" },
  int8: { size: 1, ctor: Int8Array, bigint: false, integer: true, mpi: "MPI_INT8_T" },
  uint16: { size: 2, ctor: Uint16Array, bigint: false, integer: true, mpi: "MPI_UINT16_T" },
  int16: { size: 2, ctor: Int16Array, bigint: false, integer: true, mpi: "MPI_INT16_T" },
  uint32: { size: 4, ctor: Uint32Array, bigint: false, integer: true, mpi: "MPI_UINT32_T" },
  int32: { size: 4, ctor: Int32Array, bigint: false, integer: true, mpi: "MPI_INT32_T" },
  int64: { size: 8, ctor: BigInt64Array, bigint: true, integer: true, mpi: "MPI_INT64_T" },
  uint64: { size: 8, ctor: BigUint64Array, bigint: true, integer: true, mpi: "MPI_UINT64_T" },
  float32: { size: 4, ctor: Float32Array, bigint: false, integer: false, mpi: "MPI_FLOAT" },
  float64: { size: 8, ctor: Float64Array, bigint: false, integer: false, mpi: "MPI_DOUBLE" },
};

/**
 * Every datatype name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DATATYPES } from "./datatype.ts";
 * assert.ok(DATATYPES.includes("int64"));
 * ```
 */
export const DATATYPES: readonly Datatype[] = Object.keys(TYPES) as Datatype[];

/**
 * Size of one element in bytes (`MPI_Type_size`).
 *
 * @throws MpiError MPI_ERR_TYPE for an unknown name
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { typeSize } from "./datatype.ts";
 * assert.equal(typeSize("float64"), 8);
 * assert.equal(typeSize("int16"), 2);
 * assert.throws(() => typeSize("toString" as "int16"), /MPI_ERR_TYPE: unknown datatype 'toString'/);
 * ```
 */
export function typeSize(t: Datatype): number {
  return info(t).size;
}

/**
 * The MPI name of a datatype (as `MPI_Type_get_name` prints it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiTypeName } from "./datatype.ts";
 * assert.equal(mpiTypeName("float32"), "MPI_FLOAT");
 * ```
 */
export function mpiTypeName(t: Datatype): string {
  return info(t).mpi;
}

/**
 * Whether elements are BigInts (`int64`, `uint64`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isBigIntType } from "./datatype.ts";
 * assert.equal(isBigIntType("int64"), true);
 * assert.equal(isBigIntType("int32"), false);
 * ```
 */
export function isBigIntType(t: Datatype): boolean {
  return info(t).bigint;
}

/**
 * Whether the type is an integer type (bitwise reductions apply).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isIntegerType } from "./datatype.ts";
 * assert.equal(isIntegerType("uint8"), true);
 * assert.equal(isIntegerType("float64"), false);
 * ```
 */
export function isIntegerType(t: Datatype): boolean {
  return info(t).integer;
}

function info(t: Datatype): TypeInfo {
  // An own key only: "toString" or "constructor" are inherited by every
  // object, not datatypes (MPICH: an invalid datatype is MPI_ERR_TYPE).
  const i = typeof t === "string" && Object.hasOwn(TYPES, t) ? TYPES[t] : undefined;
  if (!i) {
    throw new MpiError(
      "MPI_ERR_TYPE",
      `unknown datatype '${String(t)}' (known: ${DATATYPES.join(", ")})`,
    );
  }
  return i;
}

/**
 * The datatype a typed array carries; a DataView or plain ArrayBuffer view
 * is `"byte"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { datatypeOf } from "./datatype.ts";
 * assert.equal(datatypeOf(new Float64Array(2)), "float64");
 * assert.equal(datatypeOf(new BigInt64Array(2)), "int64");
 * assert.equal(datatypeOf(new DataView(new ArrayBuffer(4))), "byte");
 * ```
 */
export function datatypeOf(view: ArrayBufferView): Datatype {
  if (view instanceof Float64Array) return "float64";
  if (view instanceof Float32Array) return "float32";
  if (view instanceof Int32Array) return "int32";
  if (view instanceof Uint32Array) return "uint32";
  if (view instanceof Int16Array) return "int16";
  if (view instanceof Uint16Array) return "uint16";
  if (view instanceof Int8Array) return "int8";
  if (view instanceof Uint8Array || view instanceof Uint8ClampedArray) return "uint8";
  if (view instanceof BigInt64Array) return "int64";
  if (view instanceof BigUint64Array) return "uint64";
  return "byte";
}

/**
 * View `bytes` (whose length is a multiple of the element size) as the
 * typed array of `t`, sharing memory when the offset is aligned and copying
 * otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { viewAs } from "./datatype.ts";
 * const b = new Uint8Array(new Float64Array([1.5, 2.5]).buffer);
 * assert.deepEqual([...viewAs(b, "float64")], [1.5, 2.5]);
 * ```
 */
export function viewAs(bytes: Uint8Array, t: Datatype): TypedArray {
  const i = info(t);
  const n = Math.floor(bytes.byteLength / i.size);
  if (bytes.byteOffset % i.size === 0) {
    return new i.ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
  }
  const copy = bytes.slice(0, n * i.size);
  return new i.ctor(copy.buffer, 0, n);
}

/**
 * A new zero-filled typed array of `n` elements of `t`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newArray } from "./datatype.ts";
 * assert.ok(newArray("int32", 3) instanceof Int32Array);
 * ```
 */
export function newArray(t: Datatype, n: number): TypedArray {
  return new (info(t).ctor)(n);
}

/**
 * The bytes of a typed array view (shares memory).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesOf } from "./datatype.ts";
 * assert.equal(bytesOf(new Float32Array(3)).byteLength, 12);
 * ```
 */
export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * Predefined reduction operations (MPI-3.1 §5.9.2) over the contiguous
 * datatypes: SUM, PROD, MIN, MAX on every type; LAND, LOR, LXOR on integer
 * types (0 is false); BAND, BOR, BXOR on integer types; MAXLOC and MINLOC on
 * (value, index) pairs stored as consecutive elements of int32, float32 or
 * float64 (MPI's `MPI_2INT`, `MPI_2REAL`, `MPI_2DOUBLE_PRECISION`). All are
 * commutative.
 *
 * User-defined operations (MPI-3.1 §5.9.5, MPI_Op_create): a function
 * `(invec, inoutvec, datatype)` that sets `inoutvec[i] = invec[i] ∘
 * inoutvec[i]`, associative, commutative or not; the collectives apply a
 * non-commutative one in rank order.
 *
 * @module
 */
import {
  bytesOf,
  type Datatype,
  datatypeOf,
  isBigIntType,
  isIntegerType,
  type TypedArray,
  viewAs,
} from "./datatype.ts";
import { MpiError } from "./errors.ts";

/**
 * A predefined reduction operation's name (MPI-3.1 §5.9.2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Op } from "./ops.ts";
 * const op: Op = "SUM";
 * assert.equal(op, "SUM");
 * ```
 */
export type Op =
  | "SUM"
  | "PROD"
  | "MIN"
  | "MAX"
  | "LAND"
  | "LOR"
  | "LXOR"
  | "BAND"
  | "BOR"
  | "BXOR"
  | "MAXLOC"
  | "MINLOC";

/**
 * Every operation name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OPS } from "./ops.ts";
 * assert.equal(OPS.length, 12);
 * ```
 */
export const OPS: readonly Op[] = [
  "SUM",
  "PROD",
  "MIN",
  "MAX",
  "LAND",
  "LOR",
  "LXOR",
  "BAND",
  "BOR",
  "BXOR",
  "MAXLOC",
  "MINLOC",
];

/**
 * MPI_User_function: set `inoutvec[i] = invec[i] ∘ inoutvec[i]` for every
 * element (`invec` holds the lower ranks' data when the operation is not
 * commutative). The arrays are views of `datatype`; change `inoutvec` only.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { UserFunction } from "./ops.ts";
 * const sumOfSquares: UserFunction = (a, b) => {
 *   for (let i = 0; i < b.length; i++) (b as Float64Array)[i] += (a as Float64Array)[i] ** 2;
 * };
 * const b = new Float64Array([1]);
 * sumOfSquares(new Float64Array([3]), b, "float64");
 * assert.equal(b[0], 10);
 * ```
 */
export type UserFunction = (invec: TypedArray, inoutvec: TypedArray, datatype: Datatype) => void;

/**
 * A user-defined operation (MPI_Op), made by {@link opCreate}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { opCreate, UserOp } from "./ops.ts";
 * const op = opCreate((a, b) => (b as Int32Array).set(a as Int32Array), false); // "first": keep the lower rank's
 * assert.ok(op instanceof UserOp);
 * assert.equal(op.commute, false);
 * ```
 */
export class UserOp {
  #freed = false;

  /**
   * @param fn the function (MPI_User_function)
   * @param commute whether the operation is commutative
   */
  constructor(readonly fn: UserFunction, readonly commute: boolean) {}

  /** Whether {@link opFree} has freed it (it is MPI_OP_NULL from then on). */
  get freed(): boolean {
    return this.#freed;
  }

  /** Mark freed (MPI_Op_free). */
  free(): void {
    this.#freed = true;
  }

  /** How messages name it. */
  toString(): string {
    return `user operation (${this.commute ? "commutative" : "non-commutative"})`;
  }
}

/**
 * What a reduction collective takes: a predefined operation's name or a
 * user-defined operation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { opCreate, type ReductionOp } from "./ops.ts";
 * const ops: ReductionOp[] = ["MAX", opCreate((a, b) => (b as Int32Array).set(a as Int32Array), false)];
 * assert.equal(ops.length, 2);
 * ```
 */
export type ReductionOp = Op | UserOp;

/**
 * `MPI_Op_create` (MPI-3.1 §5.9.5): a reduction operation from `fn`,
 * usable in every reduction collective. The operation must be associative;
 * if `commute` is false the collectives combine in rank order ("in
 * ascending, process rank order, beginning with process zero").
 *
 * @throws MpiError MPI_ERR_ARG when `fn` is not a function
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * import { opCreate } from "./ops.ts";
 * // Affine maps x ↦ m·x + c as (m, c) pairs; composing them is associative, not commutative.
 * const compose = opCreate((a, b) => {
 *   const x = a as Float64Array, y = b as Float64Array;
 *   for (let i = 0; i + 1 < y.length; i += 2) [y[i], y[i + 1]] = [x[i] * y[i], y[i] * x[i + 1] + y[i + 1]];
 * }, false);
 * const job = await mpiexec({ np: 4, mode: "native" }, async (comm) => {
 *   const out = new Float64Array(2);
 *   await comm.allreduce(new Float64Array([2, comm.rank]), out, compose); // x ↦ 2x + rank
 *   return [...out];
 * });
 * // In rank order: 2(2(2(2x + 0) + 1) + 2) + 3 = 16x + 11 (backwards it would be 16x + 34).
 * assert.deepEqual(job.results[3], [16, 11]);
 * ```
 */
export function opCreate(fn: UserFunction, commute: boolean): UserOp {
  if (typeof fn !== "function") {
    throw new MpiError(
      "MPI_ERR_ARG",
      `MPI_Op_create: the user function is ${typeof fn}, not a function`,
    );
  }
  return new UserOp(fn, Boolean(commute));
}

/**
 * `MPI_Op_free`: the operation is MPI_OP_NULL from then on (a collective
 * given it fails with MPI_ERR_OP).
 *
 * @throws MpiError MPI_ERR_OP for a predefined or already freed operation
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkOp, opCreate, opFree } from "./ops.ts";
 * const op = opCreate((a, b) => (b as Int32Array).set(a as Int32Array), true);
 * opFree(op);
 * assert.throws(() => checkOp(op, "int32", 1, "MPI_Reduce"), /MPI_ERR_OP: MPI_Reduce: the operation was freed/);
 * assert.throws(() => opFree(op), /MPI_ERR_OP/);
 * ```
 */
export function opFree(op: ReductionOp): void {
  if (!(op instanceof UserOp)) {
    throw new MpiError("MPI_ERR_OP", `MPI_Op_free: ${String(op)} is predefined (MPI-3.1 §5.9.5)`);
  }
  if (op.freed) throw new MpiError("MPI_ERR_OP", "MPI_Op_free: the operation was freed already");
  op.free();
}

/**
 * `MPI_Op_commutative`: every predefined operation is; a user-defined one
 * as created.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isCommutative, opCreate } from "./ops.ts";
 * assert.equal(isCommutative("SUM"), true);
 * assert.equal(isCommutative(opCreate((a, b) => (b as Int32Array).set(a as Int32Array), false)), false);
 * ```
 */
export function isCommutative(op: ReductionOp): boolean {
  return op instanceof UserOp ? op.commute : true;
}

/** The element types of MPI's same-type pair types, which MAXLOC and MINLOC take. */
const PAIR_TYPES: readonly Datatype[] = ["int32", "float32", "float64"];

/**
 * Check that `op` applies to `datatype` with `count` elements. `what`
 * starts the message: the call and, on a communicator, the rank.
 *
 * @throws MpiError MPI_ERR_OP for an unknown op or one that does not apply
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkOp } from "./ops.ts";
 * checkOp("BAND", "int32", 4, "MPI_Allreduce");
 * assert.throws(() => checkOp("BAND", "float64", 4, "MPI_Allreduce"), /MPI_ERR_OP/);
 * assert.throws(() => checkOp("LAND", "float32", 4, "MPI_Allreduce"), /MPI_ERR_OP/);
 * checkOp("MAXLOC", "float64", 4, "MPI_Allreduce"); // two MPI_2DOUBLE_PRECISION pairs
 * assert.throws(() => checkOp("MAXLOC", "int16", 4, "MPI_Allreduce"), /MPI_ERR_OP/);
 * checkOp("BXOR", "byte", 4, "MPI_Allreduce");
 * assert.throws(() => checkOp("SUM", "byte", 4, "MPI_Allreduce"), /MPI_ERR_OP/);
 * ```
 */
export function checkOp(op: ReductionOp, datatype: Datatype, count: number, what: string): void {
  if (op instanceof UserOp) {
    // A user function takes every datatype (MPI-3.1 §5.9.5); MPI_OP_NULL none.
    if (op.freed) {
      throw new MpiError("MPI_ERR_OP", `${what}: the operation was freed (MPI_OP_NULL)`);
    }
    return;
  }
  if (!OPS.includes(op)) {
    throw new MpiError(
      "MPI_ERR_OP",
      `${what}: unknown operation '${String(op)}' (known: ${OPS.join(", ")})`,
    );
  }
  if ((op === "BAND" || op === "BOR" || op === "BXOR") && !isIntegerType(datatype)) {
    throw new MpiError("MPI_ERR_OP", `${what}: ${op} applies to integer types, not ${datatype}`);
  }
  // MPI-3.1 §5.9.2: MPI_LAND, MPI_LOR and MPI_LXOR take the
  // C integer and Logical categories, not Floating point; MPICH's
  // MPIR_op_dt_check (src/include/mpir_datatype.h) refuses a float or double
  // with them, MPI_ERR_OP.
  if ((op === "LAND" || op === "LOR" || op === "LXOR") && !isIntegerType(datatype)) {
    throw new MpiError(
      "MPI_ERR_OP",
      `${what}: ${op} applies to integer types, not ${datatype} (MPI-3.1 §5.9.2)`,
    );
  }
  // MPI-3.1 §5.9.2: the Byte category (MPI_BYTE: bytes, not numbers) goes
  // only with MPI_BAND, MPI_BOR and MPI_BXOR; MPICH refuses the others with
  // MPI_ERR_OP. uint8 (MPI_UINT8_T) is a C integer and takes every op.
  if (datatype === "byte" && op !== "BAND" && op !== "BOR" && op !== "BXOR") {
    throw new MpiError(
      "MPI_ERR_OP",
      `${what}: ${op} does not apply to byte (MPI_BYTE takes BAND, BOR and BXOR only; use uint8 for numbers)`,
    );
  }
  // MPI-3.1 §5.9.4: MAXLOC and MINLOC take the pair types only, and the ones
  // made of two elements of one type are MPI_2INT, MPI_2INTEGER (int32),
  // MPI_2REAL (float32) and MPI_2DOUBLE_PRECISION (float64); MPICH's
  // MPIR_op_dt_check (MPIR_Datatype_is_pairtype) refuses any other type with
  // them, MPI_ERR_OP.
  if ((op === "MAXLOC" || op === "MINLOC") && !PAIR_TYPES.includes(datatype)) {
    throw new MpiError(
      "MPI_ERR_OP",
      `${what}: ${op} takes (value, index) pairs of int32, float32 or float64 (MPI_2INT, MPI_2REAL, MPI_2DOUBLE_PRECISION; MPI-3.1 §5.9.4), not of ${datatype}`,
    );
  }
  if ((op === "MAXLOC" || op === "MINLOC") && count % 2 !== 0) {
    throw new MpiError(
      "MPI_ERR_OP",
      `${what}: ${op} works on (value, index) pairs; ${count} elements is not a whole number of pairs`,
    );
  }
}

/**
 * `inout[i] = inout[i] op input[i]` over the bytes of two equal-length
 * buffers of `datatype` (MPI_Reduce_local). `inout` is modified in place
 * when aligned, and the result is always returned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reduceInto } from "./ops.ts";
 * const a = new Float64Array([1, 5, 3]), b = new Float64Array([4, 2, 3]);
 * const r = reduceInto("MAX", "float64", new Uint8Array(a.buffer), new Uint8Array(b.buffer));
 * assert.deepEqual([...new Float64Array(r.buffer, r.byteOffset, 3)], [4, 5, 3]);
 * const p = new Int32Array([7, 0, 9, 1]), q = new Int32Array([7, 1, 8, 2]); // (value, index) pairs
 * const m = reduceInto("MAXLOC", "int32", new Uint8Array(p.buffer), new Uint8Array(q.buffer));
 * assert.deepEqual([...new Int32Array(m.buffer, m.byteOffset, 4)], [7, 0, 9, 1]);
 * ```
 */
export function reduceInto(
  op: ReductionOp,
  datatype: Datatype,
  inout: Uint8Array,
  input: Uint8Array,
): Uint8Array {
  if (op instanceof UserOp) {
    // The user function computes inoutvec = invec ∘ inoutvec: here inout ∘ input.
    const into = viewAs(input.slice(), datatype);
    op.fn(viewAs(inout, datatype), into, datatype);
    const res = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
    inout.set(res);
    return inout;
  }
  const a = viewAs(inout, datatype);
  const b = viewAs(input, datatype);
  // One kernel for number and BigInt elements: JS's operators work on both;
  // only the constants differ (0/1 against 0n/1n).
  const big = isBigIntType(datatype);
  reduceKernel(
    op,
    a as unknown as Elements,
    b as unknown as Elements,
    (big ? 0n : 0) as number,
    (big ? 1n : 1) as number,
  );
  const out = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (out.buffer !== inout.buffer || out.byteOffset !== inout.byteOffset) inout.set(out);
  return out;
}

/** Elements of a typed array, numbers or (at run time) BigInts. */
type Elements = { [i: number]: number; readonly length: number };

function reduceKernel(op: Op, a: Elements, b: Elements, Z: number, O: number): void {
  const n = a.length;
  switch (op) {
    case "SUM":
      for (let i = 0; i < n; i++) a[i] += b[i];
      return;
    case "PROD":
      // C's product of 32-bit integers is exact modulo 2^32 (MPICH's MPIR_LPROD is `(a)*(b)` on
      // the C type): a double product past 2^53 has lost its low bits before the store wraps
      // it, so 32-bit elements multiply as integers. Narrower ones are exact as doubles.
      if (a instanceof Int32Array || a instanceof Uint32Array) {
        for (let i = 0; i < n; i++) a[i] = Math.imul(a[i], b[i]);
        return;
      }
      for (let i = 0; i < n; i++) a[i] *= b[i];
      return;
    case "MIN":
      for (let i = 0; i < n; i++) if (b[i] < a[i] || Number.isNaN(b[i])) a[i] = b[i];
      return;
    case "MAX":
      for (let i = 0; i < n; i++) if (b[i] > a[i] || Number.isNaN(b[i])) a[i] = b[i];
      return;
    case "LAND":
      for (let i = 0; i < n; i++) a[i] = a[i] !== Z && b[i] !== Z ? O : Z;
      return;
    case "LOR":
      for (let i = 0; i < n; i++) a[i] = a[i] !== Z || b[i] !== Z ? O : Z;
      return;
    case "LXOR":
      for (let i = 0; i < n; i++) a[i] = (a[i] !== Z) !== (b[i] !== Z) ? O : Z;
      return;
    case "BAND":
      for (let i = 0; i < n; i++) a[i] = a[i] & b[i];
      return;
    case "BOR":
      for (let i = 0; i < n; i++) a[i] = a[i] | b[i];
      return;
    case "BXOR":
      for (let i = 0; i < n; i++) a[i] = a[i] ^ b[i];
      return;
    case "MAXLOC":
    case "MINLOC":
      for (let i = 0; i + 1 < n; i += 2) {
        const better = op === "MAXLOC" ? b[i] > a[i] : b[i] < a[i];
        // Equal values: the lower index wins (MPI-3.1 §5.9.4).
        if (better || (b[i] === a[i] && b[i + 1] < a[i + 1])) {
          a[i] = b[i];
          a[i + 1] = b[i + 1];
        }
      }
      return;
  }
}

/**
 * Reduce a list of equal-length typed arrays in order, `a[0] ∘ a[1] ∘ …`
 * (the sequential reference the collective tests compare against).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reduceArrays } from "./ops.ts";
 * const r = reduceArrays("SUM", [new Int32Array([1, 2]), new Int32Array([10, 20])]);
 * assert.deepEqual([...r], [11, 22]);
 * ```
 */
export function reduceArrays<T extends TypedArray>(op: ReductionOp, arrays: readonly T[]): T {
  const first = arrays[0];
  const out = first.slice() as T;
  const dt = datatypeOf(first);
  for (let k = 1; k < arrays.length; k++) {
    const b = arrays[k];
    reduceInto(op, dt, bytesOf(out), bytesOf(b));
  }
  return out;
}

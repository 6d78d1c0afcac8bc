/**
 * Message buffers. An {@link MpiBuffer} lives in the rank's domain memory
 * (`comm.alloc`, MPI_Alloc_mem): the HCA can reach it, so rendezvous
 * transfers from and into it are zero-copy, and its registrations stay in the
 * pin-down cache until `comm.free` (MPI_Free_mem) invalidates them. A plain
 * JS typed array is accepted too; it lives outside the simulated machine, so
 * its bytes are staged through pre-registered bounce buffers, each copy
 * charged at the profile's memcpy rate.
 *
 * Internally both become a {@link Region}: a byte range that can be read and
 * written, either in domain memory or in a JS array.
 *
 * @module
 */
import type { DomainMemory } from "../platform/mod.ts";
import {
  type ArrayOf,
  bytesOf,
  type Datatype,
  datatypeOf,
  isBigIntType,
  newArray,
  type TypedArray,
  typeSize,
  viewAs,
} from "./datatype.ts";
import { MpiError } from "./errors.ts";

/**
 * One allocation in domain memory, shared by every view of it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Allocation } from "./buffer.ts";
 * const a: Allocation = { addr: 0x10000, bytes: 4096, freed: false, rank: 0, pins: 0 };
 * assert.equal(a.freed, false);
 * ```
 */
export interface Allocation {
  /** Start address in the domain's memory. */
  readonly addr: number;
  /** Bytes allocated. */
  readonly bytes: number;
  /** Set by `comm.free`. */
  freed: boolean;
  /** World rank of the owner. */
  readonly rank: number;
  /** Transfers using it now (it cannot be freed meanwhile). */
  pins: number;
}

/**
 * A buffer in the rank's domain memory, typed like a typed array: `length`
 * elements of `datatype`. Reading and writing it (`get`, `set`, `fill`)
 * stands for the application's own loads and stores and costs no virtual
 * time; the library's copies into and out of it are charged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../mod.ts";
 * import { MpiBuffer } from "./buffer.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const dom = cluster.addHost({ name: "n0", hypervisor: false }).os;
 * await cluster.start();
 * const b = MpiBuffer.allocate(dom.memory, 0, 4, "float64");
 * b.set([1, 2, 3, 4]);
 * assert.deepEqual([...b.subarray(1, 3).get()], [2, 3]);
 * ```
 */
export class MpiBuffer<T extends Datatype = Datatype> {
  /**
   * @param memory the domain memory the allocation lives in
   * @param allocation the allocation
   * @param byteOffset offset of this view in the allocation
   * @param length elements
   * @param datatype element type
   */
  constructor(
    readonly memory: DomainMemory,
    readonly allocation: Allocation,
    readonly byteOffset: number,
    readonly length: number,
    readonly datatype: T,
  ) {}

  /**
   * Allocate `length` elements of `datatype` in `memory` for world rank `rank`.
   *
   * @throws MpiError MPI_ERR_ARG for a bad length, MPI_ERR_NO_MEM when the domain is full
   */
  static allocate<T extends Datatype>(
    memory: DomainMemory,
    rank: number,
    length: number,
    datatype: T,
  ): MpiBuffer<T> {
    // MPI_Alloc_mem's size is no count of a buffer: MPICH checks it with
    // MPIR_ERRTEST_ARGNEG (maint/local_python/binding_c.py, kind
    // ALLOC_MEM_NUM_BYTES), MPI_ERR_ARG "**argneg"; Open MPI's alloc_mem.c
    // says MPI_ERR_ARG too. A fraction is no whole size either.
    if (!Number.isInteger(length) || length < 0) {
      throw new MpiError(
        "MPI_ERR_ARG",
        `MPI_Alloc_mem on rank ${rank}: length ${length} is not a whole number >= 0`,
      );
    }
    const bytes = length * typeSize(datatype);
    let addr: number;
    try {
      addr = memory.alloc(Math.max(1, bytes), 64);
    } catch (e) {
      throw new MpiError(
        "MPI_ERR_NO_MEM",
        `MPI_Alloc_mem on rank ${rank}: ${bytes} bytes: ${(e as Error).message}`,
      );
    }
    // A reused allocation may hold old bytes: start from zero, as calloc.
    if (bytes > 0) memory.write(addr, new Uint8Array(bytes));
    return new MpiBuffer(memory, { addr, bytes, freed: false, rank, pins: 0 }, 0, length, datatype);
  }

  /** Address of the first element. */
  get addr(): number {
    return this.allocation.addr + this.byteOffset;
  }

  /** Bytes of this view. */
  get byteLength(): number {
    return this.length * typeSize(this.datatype);
  }

  /** Whether the allocation has been freed. */
  get freed(): boolean {
    return this.allocation.freed;
  }

  #live(what: string): void {
    if (this.allocation.freed) {
      throw new MpiError(
        "MPI_ERR_BUFFER",
        `${what} on rank ${this.allocation.rank}: buffer at 0x${this.addr.toString(16)} was freed`,
      );
    }
  }

  /** A view of elements `[begin, end)` sharing this memory (as `TypedArray.subarray`). */
  subarray(begin = 0, end = this.length): MpiBuffer<T> {
    this.#live("MpiBuffer.subarray");
    const b = clamp(begin, this.length), e = Math.max(b, clamp(end, this.length));
    return new MpiBuffer<T>(
      this.memory,
      this.allocation,
      this.byteOffset + b * typeSize(this.datatype),
      e - b,
      this.datatype,
    );
  }

  /** The same bytes seen as another element type (length rounds down). */
  as<U extends Datatype>(datatype: U): MpiBuffer<U> {
    this.#live("MpiBuffer.as");
    return new MpiBuffer<U>(
      this.memory,
      this.allocation,
      this.byteOffset,
      Math.floor(this.byteLength / typeSize(datatype)),
      datatype,
    );
  }

  /** Store elements starting at element `offset` (as `TypedArray.set`). */
  set(src: ArrayLike<number> | ArrayLike<bigint> | TypedArray, offset = 0): void {
    this.#live("MpiBuffer.set");
    if (!Number.isInteger(offset) || offset < 0 || offset + src.length > this.length) {
      throw new MpiError(
        "MPI_ERR_COUNT",
        `MpiBuffer.set: ${src.length} elements at offset ${offset} do not fit ${this.length}`,
      );
    }
    const arr = newArray(this.datatype, src.length);
    if (isBigIntType(this.datatype)) {
      for (let i = 0; i < src.length; i++) (arr as BigInt64Array)[i] = BigInt(src[i]);
    } else {
      for (let i = 0; i < src.length; i++) (arr as Float64Array)[i] = Number(src[i]);
    }
    if (arr.byteLength > 0) {
      this.memory.write(this.addr + offset * typeSize(this.datatype), bytesOf(arr));
    }
  }

  /** A copy of elements `[begin, end)` as a typed array of this datatype. */
  get(begin = 0, end = this.length): ArrayOf<T> {
    this.#live("MpiBuffer.get");
    const b = clamp(begin, this.length), e = Math.max(b, clamp(end, this.length));
    const size = typeSize(this.datatype);
    if (e === b) return newArray(this.datatype, 0) as ArrayOf<T>;
    return viewAs(this.memory.read(this.addr + b * size, (e - b) * size), this.datatype) as ArrayOf<
      T
    >;
  }

  /** Set every element to `value`. */
  fill(value: number | bigint): void {
    this.#live("MpiBuffer.fill");
    const arr = newArray(this.datatype, this.length);
    (arr as unknown as { fill(v: unknown): void }).fill(
      isBigIntType(this.datatype) ? BigInt(value) : Number(value),
    );
    if (arr.byteLength > 0) this.memory.write(this.addr, bytesOf(arr));
  }
}

function clamp(i: number, n: number): number {
  const x = Math.trunc(i);
  return x < 0 ? Math.max(0, n + x) : Math.min(x, n);
}

/**
 * What a message buffer argument may be: a buffer in domain memory or a JS
 * typed array (or DataView).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Buf } from "./buffer.ts";
 * const b: Buf = new Int32Array(8);
 * assert.equal(b.byteLength, 32);
 * ```
 */
export type Buf = MpiBuffer | ArrayBufferView;

/**
 * A byte range the protocol reads or writes: in domain memory (`dom`, the
 * HCA can reach it) or in a JS array (`js`, staged).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsRegion } from "./buffer.ts";
 * const r = new JsRegion(new Uint8Array([1, 2, 3, 4]));
 * assert.deepEqual([...r.sub(1, 2).read(0, 2)], [2, 3]);
 * ```
 */
export type Region = DomRegion | JsRegion;

/**
 * A byte range in domain memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../mod.ts";
 * import { DomRegion } from "./buffer.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const dom = cluster.addHost({ name: "n0", hypervisor: false }).os;
 * const r = new DomRegion(dom.memory, dom.memory.alloc(64), 64);
 * r.sub(8, 8).write(0, new Uint8Array([7, 8]));
 * assert.deepEqual([...r.read(8, 3)], [7, 8, 0]);
 * ```
 */
export class DomRegion {
  /** Discriminator. */
  readonly kind = "dom";
  /**
   * @param memory the domain's memory
   * @param addr start address
   * @param bytes length
   * @param allocation the allocation it belongs to (undefined for library-internal memory)
   */
  constructor(
    readonly memory: DomainMemory,
    readonly addr: number,
    readonly bytes: number,
    readonly allocation?: Allocation,
  ) {}

  /** `len` bytes at `off` (a copy). */
  read(off: number, len: number): Uint8Array {
    if (len === 0) return new Uint8Array(0);
    return this.memory.read(this.addr + off, len);
  }

  /** `len` bytes at `off`, a copy the caller owns ({@link read} already is one). */
  copy(off: number, len: number): Uint8Array {
    return this.read(off, len);
  }

  /** Store `data` at `off`. */
  write(off: number, data: Uint8Array): void {
    if (data.byteLength > 0) this.memory.write(this.addr + off, data);
  }

  /** The sub-range `[off, off+len)`. */
  sub(off: number, len: number): DomRegion {
    return new DomRegion(this.memory, this.addr + off, len, this.allocation);
  }
}

/**
 * A byte range in a JS array.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsRegion } from "./buffer.ts";
 * const r = new JsRegion(new Uint8Array(4));
 * r.write(2, new Uint8Array([9]));
 * assert.equal(r.u8[2], 9);
 * ```
 */
export class JsRegion {
  /** Discriminator. */
  readonly kind = "js";
  /** @param u8 the bytes */
  constructor(readonly u8: Uint8Array) {}

  /** Length in bytes. */
  get bytes(): number {
    return this.u8.byteLength;
  }

  /** `len` bytes at `off` (shares memory with the array). */
  read(off: number, len: number): Uint8Array {
    return this.u8.subarray(off, off + len);
  }

  /** `len` bytes at `off`, a copy the caller owns. */
  copy(off: number, len: number): Uint8Array {
    return this.u8.slice(off, off + len);
  }

  /** Store `data` at `off`. */
  write(off: number, data: Uint8Array): void {
    this.u8.set(data, off);
  }

  /** The sub-range `[off, off+len)`. */
  sub(off: number, len: number): JsRegion {
    return new JsRegion(this.u8.subarray(off, off + len));
  }
}

/**
 * A user buffer as a region plus its datatype, after checking that it is
 * usable by world rank `rank` (`what` names the call in errors).
 *
 * @throws MpiError MPI_ERR_BUFFER for a freed buffer, another rank's buffer or a non-buffer
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toRegion } from "./buffer.ts";
 * const { region, datatype } = toRegion(new Float64Array(4), 0, "MPI_Send");
 * assert.equal(region.bytes, 32);
 * assert.equal(datatype, "float64");
 * ```
 */
export function toRegion(
  buf: Buf,
  rank: number,
  what: string,
): { region: Region; datatype: Datatype } {
  if (buf instanceof MpiBuffer) {
    if (buf.allocation.freed) {
      throw new MpiError(
        "MPI_ERR_BUFFER",
        `${what} on rank ${rank}: buffer at 0x${buf.addr.toString(16)} was freed`,
      );
    }
    if (buf.allocation.rank !== rank) {
      throw new MpiError(
        "MPI_ERR_BUFFER",
        `${what} on rank ${rank}: the buffer belongs to rank ${buf.allocation.rank}`,
      );
    }
    return {
      region: new DomRegion(buf.memory, buf.addr, buf.byteLength, buf.allocation),
      datatype: buf.datatype,
    };
  }
  if (ArrayBuffer.isView(buf)) {
    return { region: new JsRegion(bytesOf(buf)), datatype: datatypeOf(buf) };
  }
  throw new MpiError(
    "MPI_ERR_BUFFER",
    `${what} on rank ${rank}: not a buffer (give an MpiBuffer from comm.alloc or a typed array)`,
  );
}

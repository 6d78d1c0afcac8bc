/**
 * What an address means on real hardware (a process address inside a
 * `RealMemory`), and the provider's guards that need no hardware: foreign
 * objects refused, binding errors mapped to `VerbsError`.
 */
import assert from "node:assert/strict";
import { FfiError } from "../hca/ffi/mod.ts";
import { VerbsError } from "../drivers/uapi/errors.ts";
import { RealHost, RealMemory } from "../drivers/verbs/real.ts";
import { pointerOf, type RealDevice } from "../drivers/verbs/real/device.ts";
import { toVerbsError } from "../drivers/verbs/real/errors.ts";

const isCode = (code: string) => (e: unknown) => e instanceof VerbsError && e.code === code;

/** Read a byte at a raw process address, as the HCA or a provider would. */
const peek = (addr: number) =>
  new Deno.UnsafePointerView(Deno.UnsafePointer.create(BigInt(addr))!).getUint8(0);

Deno.test("RealMemory: addresses are process addresses of the bytes read and written", () => {
  const mem = new RealMemory(10_000);
  assert.equal(mem.base % 4096, 0);
  assert.equal(mem.size, 12_288, "rounded up to pages");
  const a = mem.alloc(100, 4096);
  const b = mem.alloc(10);
  assert.equal(a % 4096, 0);
  assert.equal(b % 64, 0, "default alignment is a cache line");
  assert.ok(b >= a + 100);
  mem.write(b, new Uint8Array([0xa5, 0x5a]));
  assert.equal(peek(b), 0xa5);
  assert.equal(peek(b + 1), 0x5a);
  const copy = mem.read(b, 2);
  copy[0] = 0;
  assert.equal(mem.read(b, 1)[0], 0xa5, "read returns a copy");
  mem.view(b, 2)[0] = 7;
  assert.equal(peek(b), 7, "view is live");
});

Deno.test("RealMemory: bounds, exhaustion and lookup", () => {
  const m1 = new RealMemory(4096);
  const m2 = new RealMemory(4096);
  assert.throws(() => m1.read(m1.base + 4090, 16), isCode("EFAULT"));
  assert.throws(() => m1.write(m1.base - 1, new Uint8Array(1)), isCode("EFAULT"));
  assert.throws(() => m1.alloc(8192), isCode("ENOMEM"));
  assert.throws(() => m1.alloc(8, 3), isCode("EINVAL"));
  assert.throws(() => new RealMemory(0), isCode("EINVAL"));
  assert.equal(RealMemory.find(m2.base + 10, 100), m2);
  assert.equal(RealMemory.find(m1.base, 4096), m1);
  assert.equal(RealMemory.find(m1.base + 4000, 200), undefined, "range crossing the end");
  m1.alloc(4096);
  assert.throws(() => m1.alloc(1), isCode("ENOMEM"));
});

Deno.test("RealHost is Domain-shaped: memory.alloc/read/write, openDevice, devices", () => {
  const host = new RealHost({ memoryBytes: 8192 });
  assert.equal(host.name, "real");
  const addr = host.memory.alloc(16);
  host.memory.write(addr, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...host.memory.read(addr, 3)], [1, 2, 3]);
  assert.equal(host.memory, host.memory, "one memory per host");
  assert.equal(typeof host.openDevice, "function");
  assert.equal(typeof host.devices, "function");
});

Deno.test("real verbs refuse objects that are not live real-device objects", () => {
  const dev = {} as RealDevice;
  const simulatedCq = { cqe: 16, poll: () => [] };
  assert.throws(
    () => pointerOf(simulatedCq, dev, "sendCq"),
    (e) => isCode("EINVAL")(e) && /sendCq is not an object of a real device/.test(String(e)),
  );
  assert.throws(() => pointerOf(undefined, dev, "srq"), isCode("EINVAL"));
});

Deno.test("binding errors become VerbsErrors: setup failures ENODEV/EPERM, verbs their errno", () => {
  const map = (kind: ConstructorParameters<typeof FfiError>[0], errno: number) =>
    toVerbsError(new FfiError(kind, errno, "x", "why")) as VerbsError;
  assert.equal(map("no-library", 19).code, "ENODEV");
  assert.equal(map("no-device", 19).code, "ENODEV");
  assert.equal(map("no-permission", 1).code, "EPERM");
  assert.equal(map("call", 12).code, "ENOMEM");
  assert.equal(map("call", 16).message, "EBUSY: why");
  const odd = map("call", 61);
  assert.equal(odd.code, "EIO");
  assert.match(odd.message, /errno 61 has no name/);
  const other = new TypeError("not ours");
  assert.equal(toVerbsError(other), other);
});

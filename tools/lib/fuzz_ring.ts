/**
 * The `ring` kind of `deno task fuzz`: what a hostile guest can put in its
 * shared request ring. Valid requests (recorded while the guest set itself
 * up) mutated field by field — header, body fields at their slot offsets,
 * presence bits, grant refs — raw random slots, replayed ids, and index
 * abuse (producer jumps and rewinds, scribbled event indices, an impossible
 * event-ring consumer). Every request must be answered, or the frontend
 * disconnected (`docs/security.md`, invariant 5).
 *
 * @module
 */
import { Errno } from "../../drivers/uapi/errors.ts";
import type { RequestArgs } from "../../drivers/front/vibfront.ts";
import { requestLayout } from "../../drivers/vib/layout.ts";
import { segCapacity, VIB_SLOT_BYTES, type VibResponse } from "../../drivers/vib/mod.ts";
import type { Prng } from "../../sim/prng.ts";
import { type FuzzAttacker, FuzzFailure, type FuzzWorld, within } from "./fuzz_world.ts";

/** Virtual time a request may take before it counts as unanswered (a 64 MiB registration takes ~30 ms). */
const ANSWER_WITHIN_NS = 2_000_000_000;

const NAME_OF = new Map<number, string>(Object.entries(Errno).map(([k, v]) => [v, k]));

/**
 * The outcome label of a response status: `answered OK` or `answered EINVAL`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statusLabel } from "./fuzz_ring.ts";
 * assert.equal(statusLabel(-22), "answered EINVAL");
 * assert.equal(statusLabel(0), "answered OK");
 * ```
 */
export function statusLabel(status: number): string {
  return status === 0 ? "answered OK" : `answered ${NAME_OF.get(-status) ?? `errno ${-status}`}`;
}

/**
 * Send one raw request: the response (undefined once the frontend is
 * disconnected); a failure if it is neither answered nor disconnected.
 */
export async function exchange(
  w: FuzzWorld,
  a: FuzzAttacker,
  args: RequestArgs & { id?: number },
  mutate?: (slot: DataView) => void,
): Promise<VibResponse | undefined> {
  const engine = w.cluster.engine;
  const r = await within<VibResponse | undefined>(
    engine,
    ANSWER_WITHIN_NS,
    () => a.vm.front.requestRaw(args, mutate),
  );
  if (!r.done) {
    if (w.gone(a)) return undefined;
    if (a.tampered) {
      // It broke its own notifications (req_event/rsp_event): a hang of its own making.
      a.retire = true;
      return undefined;
    }
    throw new FuzzFailure(`a request was neither answered nor its frontend disconnected`);
  }
  return r.value;
}

/** {@link exchange}, as an outcome label. */
export async function sendRaw(
  w: FuzzWorld,
  a: FuzzAttacker,
  args: RequestArgs & { id?: number },
  mutate?: (slot: DataView) => void,
): Promise<string> {
  const r = await exchange(w, a, args, mutate);
  return r ? statusLabel(r.status) : "disconnected";
}

/** Values worth trying in a field of `bytes` bytes: edges, powers of two, and the guest's own numbers. */
export function interesting(rng: Prng, bytes: number, own: readonly number[] = []): number {
  const max = bytes >= 4 ? 0xffffffff : (1 << (8 * bytes)) - 1;
  switch (rng.int(8)) {
    case 0:
      return 0;
    case 1:
      return max;
    case 2:
      return Math.min(max, 1 + rng.int(8));
    case 3:
      return Math.min(max, 2 ** rng.int(8 * Math.min(bytes, 4)));
    case 4:
      return Math.max(0, Math.min(max, 2 ** rng.int(8 * Math.min(bytes, 4)) - 1));
    case 5:
      if (own.length > 0) return own[rng.int(own.length)] & max;
      return rng.int(max + 1);
    default:
      return bytes >= 4 ? rng.nextU32() : rng.int(max + 1);
  }
}

const HEADER_FIELDS: readonly { off: number; bytes: number }[] = [
  { off: 0, bytes: 4 }, // id
  { off: 4, bytes: 1 }, // op
  { off: 5, bytes: 1 }, // flags
  { off: 6, bytes: 2 }, // ctx
  { off: 8, bytes: 4 }, // handle
  { off: 12, bytes: 2 }, // nr_segs
  { off: 14, bytes: 2 }, // reserved
];

function put(dv: DataView, off: number, bytes: number, v: number): void {
  if (off + bytes > dv.byteLength) return;
  if (bytes === 1) dv.setUint8(off, v & 0xff);
  else if (bytes === 2) dv.setUint16(off, v & 0xffff, true);
  else if (bytes === 4) dv.setUint32(off, v >>> 0, true);
  else {
    dv.setUint32(off, v >>> 0, true);
    dv.setUint32(off + 4, bytes === 8 ? Math.floor(v / 2 ** 32) >>> 0 : 0, true);
  }
}

const FIELD_BYTES: Record<string, number> = {
  u8: 1,
  u16: 2,
  u32: 4,
  u64: 8,
  bool: 1,
  guid: 8,
  str16: 16,
  bytes16: 16,
  obj: 0,
};

/** Numbers this attacker has seen or can guess: its handles, contexts, refs, the victim's QPN… */
function ownNumbers(w: FuzzWorld, a: FuzzAttacker): number[] {
  const v = w.victim.end;
  return [
    a.ctxId,
    a.ctxId + 1,
    a.end.pd.handle,
    a.end.cq.handle,
    a.end.mr.handle,
    a.end.qp.handle,
    a.end.qp.qpNum,
    a.end.mr.lkey,
    ...a.ringRefs,
    v.qp.handle,
    v.qp.qpNum,
    v.mr.lkey,
    v.cq.handle,
    a.end.buf,
    v.buf,
    4096,
    16384,
  ];
}

/** One mutation of a slot already holding a valid request of `op`. */
function mutateSlot(rng: Prng, dv: DataView, op: number, own: readonly number[]): void {
  const layout = requestLayout(op);
  const pick = rng.int(10);
  if (pick < 3) {
    const h = HEADER_FIELDS[rng.int(HEADER_FIELDS.length)];
    put(dv, h.off, h.bytes, interesting(rng, h.bytes, own));
  } else if (pick < 7 && layout && layout.fields.length > 0) {
    const f = layout.fields[rng.int(layout.fields.length)];
    const bytes = FIELD_BYTES[f.type];
    if (bytes === 0 || rng.chance(0.2)) {
      // Flip a presence bit: a field present or absent against the mask.
      if (layout.hasPresence) {
        const bit = rng.int(64);
        const at = 16 + (bit >> 3);
        dv.setUint8(at, dv.getUint8(at) ^ (1 << (bit & 7)));
      }
    } else if (bytes > 8) {
      for (let i = 0; i < bytes; i++) put(dv, f.off + i, 1, rng.int(256));
    } else put(dv, f.off, bytes, interesting(rng, Math.min(bytes, 4), own));
  } else if (pick < 9 && segCapacity(op) > 0) {
    const start = layout ? (layout.end + 3) & ~3 : 16;
    const i = rng.int(segCapacity(op));
    put(dv, start + 4 * i, 4, interesting(rng, 4, own));
  } else {
    put(dv, rng.int(VIB_SLOT_BYTES), 1, rng.int(256));
  }
}

/**
 * One `ring` attack by attacker `a`; returns the outcome label.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FuzzWorld } from "./fuzz_world.ts";
 * import { ringAttack } from "./fuzz_ring.ts";
 * const w = await FuzzWorld.build(5);
 * const outcomes = await w.cluster.run(async () => {
 *   await w.populate();
 *   const out = [];
 *   for (let i = 0; i < 5; i++) out.push(await ringAttack(w, w.attackers[i % 2]));
 *   return out;
 * });
 * assert.ok(outcomes.every((o) => /^(answered|disconnected|index)/.test(o)), outcomes.join());
 * ```
 */
export async function ringAttack(w: FuzzWorld, a: FuzzAttacker): Promise<string> {
  const rng = w.rng;
  const own = ownNumbers(w, a);
  const roll = rng.int(100);
  if (roll < 4) return await indexAbuse(w, a);
  if (roll < 14) {
    // Random bytes in the whole slot, behind a plausible header or not.
    const keepHeader = rng.chance(0.5);
    return await sendRaw(
      w,
      a,
      { op: 3, flags: 0, ctx: a.ctxId, handle: 0, body: {}, segs: [] },
      (dv) => {
        for (let i = keepHeader ? 8 : 0; i < dv.byteLength; i++) dv.setUint8(i, rng.int(256));
      },
    );
  }
  const t = a.templates[rng.int(a.templates.length)];
  const args: RequestArgs & { id?: number } = { ...structuredClone(t), ctx: a.ctxId };
  if (roll < 18) {
    // A replay: the id the backend saw last.
    return await sendRaw(w, a, args, (dv) => dv.setUint32(0, dv.getUint32(0, true) - 1, true));
  }
  const n = 1 + rng.int(3);
  return await sendRaw(w, a, args, (dv) => {
    for (let i = 0; i < n; i++) mutateSlot(rng, dv, t.op, own);
  });
}

/** Scribble on the ring's shared indices or the event ring's consumer; see what the backend does. */
async function indexAbuse(w: FuzzWorld, a: FuzzAttacker): Promise<string> {
  const rng = w.rng;
  const front = a.vm.front;
  const shared = front.ring.shared;
  const what = rng.int(6);
  let label: string;
  if (what === 0) {
    shared.reqProd = (shared.reqProd + 2 + rng.int(1 << 20)) >>> 0;
    label = "req_prod ahead";
  } else if (what === 1) {
    shared.reqProd = (shared.reqProd - 1 - rng.int(64)) >>> 0;
    label = "req_prod behind";
  } else if (what === 2) {
    shared.reqEvent = rng.nextU32();
    a.tampered = true;
    label = "req_event";
  } else if (what === 3) {
    shared.rspEvent = rng.nextU32();
    a.tampered = true;
    label = "rsp_event";
  } else if (what === 4) {
    shared.rspProd = rng.nextU32();
    label = "rsp_prod";
  } else {
    const dv = new DataView(new ArrayBuffer(4));
    dv.setUint32(0, rng.nextU32(), true);
    a.vm.memory.write(front.eventRingAddr + 4, new Uint8Array(dv.buffer));
    label = "event ring cons";
  }
  // Wake the backend and let it look.
  await w.hv.evtchnSend(a.vm.xen, front.port).catch(() => {});
  await w.cluster.engine.sleep(100_000);
  if (w.gone(a)) return `index abuse (${label}): disconnected`;
  // A request now must still be answered (or the frontend go away).
  const o = await sendRaw(w, a, { op: 3, flags: 0, ctx: a.ctxId, handle: 0, body: {}, segs: [] });
  return `index abuse (${label}): ${o === "disconnected" ? "disconnected" : "no effect"}`;
}

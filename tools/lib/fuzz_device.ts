/**
 * The device-facing kinds of `deno task fuzz`: what a hostile guest can do
 * on the fast path without asking anyone.
 *
 * - `doorbell`: raw writes to its UAR page (bypass) — any offset, any
 *   length, doorbell words naming any QPN, CQN, SRQN or EQN (its own, the
 *   victim's, dom0's EQs, random) with any counter; through dom0 for a
 *   split guest (its DOORBELL requests). A doorbell naming a queue of
 *   another context must be dropped (DESIGN §9 invariant 1).
 * - `wqe`: a valid work request posted by the guest's own provider, whose
 *   WQE is then rewritten in the guest's send queue before the device (or
 *   dom0, for a split guest) fetches it: opcodes, sizes, keys, addresses,
 *   lengths, random bytes. The device must fail closed (invariant 3).
 *
 * @module
 */
import { cmdWord, doorbellBytes, sendDoorbellWord, UarOffset } from "../../hca/uar.ts";
import { Access, QpState, SendFlags, WcStatus, WrOpcode } from "../../drivers/uapi/enums.ts";
import { wcStatusName } from "../../drivers/uapi/strs.ts";
import type { SendWr } from "../../drivers/uapi/types.ts";
import { VibOp } from "../../drivers/vib/mod.ts";
import { interesting, sendRaw } from "./fuzz_ring.ts";
import { type FuzzAttacker, FuzzFailure, type FuzzWorld, reconnect } from "./fuzz_world.ts";

const OFFSETS = [UarOffset.CQ, UarOffset.SEND, UarOffset.RECV, UarOffset.SRQ, UarOffset.EQ];

/** Queue numbers a guest can see or guess: its own, the victim's, dom0's EQs, small and random ones. */
function queueNumbers(w: FuzzWorld, a: FuzzAttacker): { mine: number[]; theirs: number[] } {
  const v = w.victim.end;
  const vCq = (v.cq as unknown as { pcq?: { cqn?: number } }).pcq?.cqn ?? 0;
  const aCq = (a.end.cq as unknown as { pcq?: { cqn?: number } }).pcq?.cqn ?? 0;
  return {
    mine: [a.end.qp.qpNum, aCq],
    theirs: [v.qp.qpNum, vCq, w.victim.peer.qp.qpNum, 0, 1, 2],
  };
}

/**
 * One `doorbell` attack.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FuzzWorld } from "./fuzz_world.ts";
 * import { doorbellAttack } from "./fuzz_device.ts";
 * const w = await FuzzWorld.build(5);
 * const o = await w.cluster.run(async () => {
 *   await w.populate();
 *   return [await doorbellAttack(w, w.attackers[0]), await doorbellAttack(w, w.attackers[1])];
 * });
 * assert.ok(o.every((x) => x.length > 0));
 * ```
 */
export async function doorbellAttack(w: FuzzWorld, a: FuzzAttacker): Promise<string> {
  const rng = w.rng;
  const { mine, theirs } = queueNumbers(w, a);
  const pickQueue = () =>
    rng.chance(0.4)
      ? mine[rng.int(mine.length)]
      : rng.chance(0.7)
      ? theirs[rng.int(theirs.length)]
      : rng.int(1 << 24);
  const offset = OFFSETS[rng.int(OFFSETS.length)];
  const index = pickQueue();
  const word0 = offset === UarOffset.SEND
    ? sendDoorbellWord(index, rng.int(256))
    : cmdWord(rng.chance(0.8) ? 1 + rng.int(3) : rng.int(256), index);
  const word1 = interesting(rng, 4, [a.end.qp.qpNum, 1, 2, 16]);
  const namesOther = !mine.includes(index);
  if (a.mode === "split") {
    // The split guest's doorbells are requests dom0 executes on its behalf.
    const o = await sendRaw(w, a, {
      op: VibOp.DOORBELL,
      flags: 0,
      ctx: a.ctxId,
      handle: 0,
      body: { offset, word0, word1 },
      segs: [],
    });
    await w.cluster.engine.sleep(20_000);
    return `via dom0: ${o}`;
  }
  const hca = w.xen.hca.stats();
  const uar = a.end.ctx.file.uarAddr;
  let bytes: Uint8Array, at: number;
  if (rng.chance(0.8)) {
    bytes = doorbellBytes(word0, word1);
    at = uar + offset;
  } else {
    // Anything at any offset: partial, unaligned, off the doorbell registers.
    bytes = new Uint8Array(1 + rng.int(16)).map(() => rng.int(256));
    at = uar + rng.int(4096 - bytes.length);
  }
  try {
    a.vm.memory.write(at, bytes);
  } catch (e) {
    return `refused by the guest's memory (${(e as Error).name})`;
  }
  await w.cluster.engine.sleep(20_000);
  const after = w.xen.hca.stats();
  const reached = after.counters.doorbells - hca.counters.doorbells;
  const rejected = after.doorbellsRejected - hca.doorbellsRejected;
  if (reached === 0) return "ignored (no doorbell reached the device)";
  if (rejected > 0) return "dropped by the device";
  if (namesOther && at === uar + offset) {
    throw new FuzzFailure(
      `a doorbell at offset 0x${
        offset.toString(16)
      } naming queue ${index} of another context was accepted`,
    );
  }
  return "accepted (its own queue)";
}

/** A valid work request of the attacker to its peer. */
function validWr(w: FuzzWorld, a: FuzzAttacker): SendWr {
  const rng = w.rng;
  const { end, peer } = a;
  const len = 1 + rng.int(512);
  const local = { addr: end.buf + rng.int(4096), length: len, lkey: end.mr.lkey };
  const remote = { remoteAddr: peer.buf + 8 * rng.int(512), rkey: peer.mr.rkey };
  switch (rng.int(4)) {
    case 0:
      return {
        wrId: 1n,
        opcode: WrOpcode.RDMA_READ,
        sendFlags: SendFlags.SIGNALED,
        sgList: [local],
        ...remote,
      };
    case 1:
      return {
        wrId: 1n,
        opcode: WrOpcode.ATOMIC_FETCH_AND_ADD,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ ...local, addr: end.buf + 8 * rng.int(256), length: 8 }],
        compareAdd: 1n,
        ...remote,
      };
    case 2:
      return {
        wrId: 1n,
        opcode: WrOpcode.RDMA_WRITE_WITH_IMM,
        sendFlags: SendFlags.SIGNALED,
        immData: rng.nextU32(),
        sgList: [local],
        ...remote,
      };
    default:
      return {
        wrId: 1n,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [local],
        ...remote,
      };
  }
}

/**
 * One `wqe` attack.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FuzzWorld } from "./fuzz_world.ts";
 * import { wqeAttack } from "./fuzz_device.ts";
 * const w = await FuzzWorld.build(5);
 * const o = await w.cluster.run(async () => {
 *   await w.populate();
 *   return [await wqeAttack(w, w.attackers[0]), await wqeAttack(w, w.attackers[1])];
 * });
 * assert.ok(o.every((x) => /completion|no completion|refused/.test(x)), o.join());
 * ```
 */
export async function wqeAttack(w: FuzzWorld, a: FuzzAttacker): Promise<string> {
  const rng = w.rng;
  const engine = w.cluster.engine;
  if (a.end.qp.state !== QpState.RTS || a.broken) {
    try {
      await reconnect(a.end, a.peer);
    } catch (e) {
      // Its own forged requests took its PD or CQ away: a new guest next time.
      a.retire = true;
      return `cannot reconnect its own QP (${(e as { code?: string }).code ?? "error"})`;
    }
    a.broken = false;
  }
  const v = w.victim.end;
  const own = [
    a.end.mr.lkey,
    a.peer.mr.rkey,
    v.mr.lkey,
    v.mr.rkey,
    w.victim.peer.mr.rkey,
    a.end.buf,
    v.buf,
    a.peer.buf,
    w.victim.peer.buf,
    0x100,
  ];
  const wr = validWr(w, a);
  if (wr.opcode === WrOpcode.RDMA_WRITE_WITH_IMM) {
    a.peer.qp.postRecv({
      wrId: 2n,
      sgList: [{ addr: a.peer.buf, length: 64, lkey: a.peer.mr.lkey }],
    });
  }
  const pqp = a.end.qp.pqp as unknown as {
    sq?: { base: number; stride: number; size: number; head: number };
  };
  try {
    a.end.qp.postSend(wr);
  } catch (e) {
    a.broken = true;
    return `refused by the guest's provider (${(e as Error).name})`;
  }
  // Rewrite the WQE the provider just wrote, before the device (or dom0) fetches it.
  const sq = pqp.sq;
  if (sq) {
    const slot = (sq.head - 1) & (sq.size - 1);
    const base = sq.base + slot * sq.stride;
    const n = 1 + rng.int(4);
    for (let i = 0; i < n; i++) {
      if (rng.chance(0.15)) {
        const b = new Uint8Array(sq.stride).map(() => rng.int(256));
        a.vm.memory.write(base, b);
      } else {
        const off = 4 * rng.int(sq.stride / 4);
        const word = new Uint8Array(4);
        new DataView(word.buffer).setUint32(0, interesting(rng, 4, own) >>> 0, rng.chance(0.5));
        a.vm.memory.write(base + off, word);
      }
    }
    if (a.mode === "bypass" && rng.chance(0.2)) {
      // And a second doorbell for the same WQE, with a size of its own.
      a.vm.memory.write(
        a.end.ctx.file.uarAddr + UarOffset.SEND,
        doorbellBytes(sendDoorbellWord(a.end.qp.qpNum, rng.int(256)), sq.head),
      );
    }
  }
  const until = engine.now + 5_000_000;
  const got: number[] = [];
  while (got.length === 0 && engine.now < until) {
    await engine.sleep(20_000);
    for (const wc of a.end.cq.poll(16)) got.push(wc.status);
  }
  a.peer.cq.poll(16);
  if (got.length === 0) {
    a.broken = true;
    return "no completion";
  }
  if (got.some((s) => s !== WcStatus.SUCCESS)) a.broken = true;
  return `completion ${wcStatusName(got[0])}`;
}

/** Access rights of the buffers (exported for the grant kind's registrations). */
export const FUZZ_ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;

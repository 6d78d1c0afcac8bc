/**
 * Arguments outside their C types through the public verbs API (API.md,
 * "Errors": one line naming the call and what was wrong, nothing half
 * done): NaN, fractions, negative addresses, a number where a `bigint`
 * belongs and the reverse, counts no `int` holds, extents of 2^40 bytes.
 * In C the types make these impossible (`infiniband/verbs.h`); from JS
 * some used to go their own way — a bare RangeError or TypeError from
 * inside the library, a guest kernel pushing 2^28 page numbers before
 * refusing, a silent empty poll, a pollUntil that could spin without
 * letting virtual time move. Now each is a VerbsError with the same code
 * in native, bypass and split, the queues are as they were, and the
 * victim notices nothing.
 */
import assert from "node:assert/strict";
import {
  AddressSpaceError,
  type Domain,
  SendFlags,
  type SendWr,
  WcStatus,
  WrOpcode,
} from "../../mod.ts";
import { connect, end } from "../xenib_support.ts";
import { scene, verdict } from "./support.ts";

/** The code and message of what `fn` threw (or "ok"). */
async function refusal(fn: () => unknown): Promise<{ name: string; code: string; msg: string }> {
  try {
    await fn();
    return { name: "ok", code: "ok", msg: "" };
  } catch (e) {
    const err = e as { code?: string; message?: string; constructor: { name: string } };
    return { name: err.constructor.name, code: err.code ?? "none", msg: err.message ?? "" };
  }
}

/** Every bad call, on `dom`'s own connected QP; the codes by case. */
async function attack(dom: Domain, peer: Domain): Promise<Record<string, string>> {
  const e = await end(dom), n = await end(peer);
  await connect(e, n);
  const write = (o: Partial<SendWr> & { sge?: Record<string, unknown> }): SendWr => ({
    wrId: 7n,
    opcode: WrOpcode.RDMA_WRITE,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: e.buf, length: 8, lkey: e.mr.lkey, ...o.sge }],
    remoteAddr: n.buf,
    rkey: n.mr.rkey,
    ...o,
  });
  const bad = <T>(v: unknown) => v as T;
  const cases: [string, () => unknown, RegExp][] = [
    // The provider names a WR's field no C field could hold (drivers/verbs/wr_check.ts).
    ["sge addr NaN", () => e.qp.postSend(write({ sge: { addr: NaN } })), /sgList\[0\]\.addr NaN/],
    [
      "compareAdd number",
      () => e.qp.postSend(write({ opcode: WrOpcode.ATOMIC_FETCH_AND_ADD, compareAdd: bad(1) })),
      /compareAdd 1 is not a bigint/,
    ],
    // Fields C types them as uint32 or uint64: refused, not posted as something else.
    [
      "sge length NaN",
      () => e.qp.postSend(write({ sge: { length: NaN } })),
      /length NaN is not a uint32/,
    ],
    ["sge lkey -1", () => e.qp.postSend(write({ sge: { lkey: -1 } })), /lkey -1 is not a uint32/],
    ["wrId number", () => e.qp.postSend(write({ wrId: bad(1) })), /wrId 1 is not a uint64 bigint/],
    ["rkey 1.5", () => e.qp.postSend(write({ rkey: 1.5 })), /rkey 1.5 is not a uint32/],
    [
      "immData 2^32",
      () => e.qp.postSend(write({ opcode: WrOpcode.RDMA_WRITE_WITH_IMM, immData: 2 ** 32 })),
      /immData 4294967296 is not a uint32/,
    ],
    [
      "list with one bad WR",
      () =>
        e.qp.postRecv([{ wrId: 1n, sgList: [] }, {
          wrId: 2n,
          sgList: [{ addr: e.buf, length: -8, lkey: e.mr.lkey }],
        }]),
      /^EINVAL: post_recv QP \d+: sgList\[0\]\.length -8 is not a uint32 \(wr\[1\] of 2: the 1 before it were posted, none after it\)$/,
    ],
    [
      "recv addr NaN",
      () => e.qp.postRecv({ wrId: 1n, sgList: [{ addr: NaN, length: 8, lkey: e.mr.lkey }] }),
      /^EINVAL: post_recv QP \d+: sgList\[0\]\.addr NaN is not an address$/,
    ],
    // Counts no int holds: an error at once, not a silent empty poll or a spin that never ends.
    ["poll NaN", () => e.cq.poll(NaN), /^EINVAL: poll_cq CQ \d+: n NaN is not an integer$/],
    [
      "pollUntil undefined",
      () => e.cq.pollUntil(bad(undefined), { timeoutNs: 10_000 }),
      /n undefined is not a whole number ≥ 0/,
    ],
    ["pollUntil timeout NaN", () => e.cq.pollUntil(1, { timeoutNs: NaN }), /timeoutNs NaN/],
    ["resize 2^53", () => e.cq.resize(2 ** 53), /^EINVAL: resize_cq: cqe 9007199254740992/],
    ["queryPort 1n", () => e.ctx.queryPort(bad(1n)), /^EINVAL: query_port: no port 1 /],
    // An extent of 2^40 bytes: refused before a single page is listed.
    ["regMr 2^40 bytes", () => e.pd.regMr(e.buf, 2 ** 40, 1), /./],
  ];
  // The domain's memory too: a length no address space holds is EFAULT, in one line.
  const far = await refusal(() => dom.memory.read(e.buf, 2 ** 53));
  assert.deepEqual([far.name, far.code], ["AddressSpaceError", "EFAULT"], far.msg);
  assert.doesNotMatch(far.msg, /\n/);
  // The class mod.ts exports, with the Linux errno beside the code (API.md: `.errno`, `.code`).
  assert.throws(() => dom.memory.read(e.buf, 2 ** 53), { errno: 14 });
  assert.throws(() => dom.memory.read(e.buf, 2 ** 53), AddressSpaceError);
  assert.throws(() => dom.memory.alloc(64, 3), {
    name: "AddressSpaceError",
    code: "EINVAL",
    errno: 22,
  });
  const codes: Record<string, string> = {};
  for (const [what, fn, msg] of cases) {
    const r = await refusal(fn);
    assert.equal(r.name, "VerbsError", `${what}: ${r.name} ${r.msg}`);
    assert.match(r.msg, msg, what);
    assert.doesNotMatch(r.msg, /\n/, `${what}: one line`);
    codes[what] = r.code;
  }
  // Nothing was posted by the refused requests: one good write completes, and only it.
  e.qp.postSend(write({}));
  const [wc] = await e.cq.pollUntil(1);
  assert.deepEqual([wc.wrId, wc.status], [7n, WcStatus.SUCCESS]);
  assert.equal(e.cq.poll(4).length, 0, "no completion of a refused request");
  await e.ctx.close();
  await n.ctx.close();
  return codes;
}

Deno.test("bad arguments: every out-of-type argument is a one-line VerbsError, the same in native, bypass and split", async () => {
  const byMode: Record<string, Record<string, string>> = {};
  for (const mode of ["bypass", "split"] as const) {
    const s = await scene({ attacker: mode });
    await s.cluster.run(async () => {
      byMode[mode] = await attack(s.evil, s.bare.os);
      byMode.native ??= await attack(s.bare.os, s.evil);
      await verdict(s);
    });
  }
  assert.equal(byMode.native["regMr 2^40 bytes"], "EINVAL", "the native kernel's length check");
  // A guest's kernel checks reg_mr's length as bare metal's does before it counts the pages one
  // request can pin (it said ENOMEM for 2^40 bytes: drivers/front/file.ts, checkRegMr).
  const native = byMode.native;
  for (const mode of ["bypass", "split"]) {
    assert.deepEqual(byMode[mode], native, `${mode} refuses as native does`);
  }
  assert.ok(Object.values(native).every((c) => c === "EINVAL"), JSON.stringify(native));
});

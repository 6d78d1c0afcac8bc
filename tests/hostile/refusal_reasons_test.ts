/**
 * What a refusal tells the guest (`drivers/back/refusal.ts`): the text of
 * an error about the guest's own request, word for word as on bare metal;
 * for anything dom0 itself failed at while serving the request — the
 * hypervisor refusing dom0's mapping, dom0's heap — the errno and a fixed
 * reason, never the text, which may name another domain, a machine frame
 * or what the other guests hold. Dom0 keeps the whole message for itself.
 */
import assert from "node:assert/strict";
import { type Domain, QpState, QpType, VerbsError, type XenGuest } from "../../mod.ts";
import { genericReason } from "../../drivers/back/refusal.ts";
import { PAGE_SIZE } from "../../sim/memory.ts";
import { cluster, guest, xenOf } from "../xenib_support.ts";

async function refusalOf(p: Promise<unknown>): Promise<VerbsError> {
  const e = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(e instanceof VerbsError, `expected a VerbsError, got ${e}`);
  return e;
}

Deno.test("refusal reasons (bypass): dom0's failed mapping of the guest's UAR page reaches the guest as ENOMEM and a fixed reason, not the hypervisor's text", async () => {
  const { cluster: c, hosts: [host] } = await cluster([true]);
  const x = xenOf(host);
  const other = await guest(host, "other");
  const me = await guest(host, "me");
  await c.run(async () => {
    // Dom0's state goes wrong (as if a UAR index were handed out while its page is still mapped
    // into another guest): the frame the next OPEN takes is mapped into `other`. UAR indices are
    // handed out next-fit, so after taking and returning one the next OPEN gets the one after it.
    const probe = x.driver.allocUar();
    x.driver.freeUar(probe);
    const mfn = x.driver.hca.uarMfn(probe + 1);
    await x.hv.mapIoPage(x.hv.dom0, { domid: other.domid!, mfn });

    const e = await refusalOf(me.openDevice());
    const back = x.backend!.instances().get(me.domid!)!;
    // Dom0's own record has the hypervisor's text: this is the failure the test is about.
    assert.match(
      back.lastRefusal ?? "",
      new RegExp(`frame ${mfn} is mapped into dom${other.domid}`),
    );
    assert.equal(e.code, "ENOMEM");
    assert.equal(e.message, `ENOMEM: OPEN: ${genericReason("ENOMEM")}`);
    assert.ok(!e.message.includes(`dom${other.domid}`), e.message);
    assert.ok(!e.message.includes(String(mfn)), e.message);

    // Nothing was left half done: once dom0's state is right again the guest opens its device.
    await x.hv.unmapIoPage(x.hv.dom0, { domid: other.domid!, mfn });
    const ctx = await me.openDevice();
    await ctx.allocPd();
    await ctx.close();
  });
  assert.deepEqual(host.audit(), []);
});

Deno.test("refusal reasons (split): dom0's heap with no run long enough for a shadow queue is ENOMEM and a fixed reason, not dom0's heap state", async () => {
  const { cluster: c, hosts: [host] } = await cluster([true]);
  const x = xenOf(host);
  const me = await guest(host, "me", "split");
  await c.run(async () => {
    const ctx = await me.openDevice();
    const heap = x.heap;
    // Dom0's heap cut into single pages: plenty free, above dom0's reserve, no two pages adjacent.
    const taken: number[] = [];
    while (heap.pagesFree > 0) taken.push(heap.alloc(PAGE_SIZE));
    for (let i = 0; i < taken.length; i += 2) heap.free(taken[i]);
    assert.ok(heap.pagesFree * PAGE_SIZE > c.profile.dom0.reserveHeapBytes + 4 * PAGE_SIZE);

    // 512 CQEs of 32 bytes: a 4-page shadow CQ.
    const e = await refusalOf(ctx.createCq(256));
    const back = x.backend!.instances().get(me.domid!)!;
    assert.match(back.lastRefusal ?? "", /dom0 heap: no run of 4 pages \(\d+ free\)/);
    assert.equal(e.message, `ENOMEM: CREATE_CQ: ${genericReason("ENOMEM")}`);
    assert.ok(!/dom0 heap|free\)/.test(e.message), e.message);

    for (let i = 1; i < taken.length; i += 2) heap.free(taken[i]);
    const cq = await ctx.createCq(256); // the same request, with room: nothing was lost
    await cq.destroy();
    await ctx.close();
  });
  assert.deepEqual(host.audit(), []);
});

/** The message `dom` gets for each of a few mistakes about its own objects. */
async function ownMistakes(dom: Domain): Promise<string[]> {
  const ctx = await dom.openDevice();
  const pd = await ctx.allocPd();
  const cq = await ctx.createCq(4);
  const buf = dom.memory.alloc(4096, 4096);
  await pd.regMr(buf, 4096, 1);
  const qp = await pd.createQp({
    type: QpType.RC,
    sendCq: cq,
    recvCq: cq,
    cap: { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
  });
  const out: string[] = [];
  for (
    const f of [
      () => pd.regMr(buf, 4096, 2 /* REMOTE_WRITE alone */),
      () => qp.modify({ state: 14 as never }),
      () => qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 999, accessFlags: 0 }),
      // The table takes RTS->RTS; the device refuses it for the QP's state (RESET): its text too.
      () => qp.modify({ state: QpState.RTS, curState: QpState.RTS }),
      () => pd.dealloc(),
      () => cq.destroy(),
    ]
  ) out.push((await refusalOf(f())).message);
  // Object numbers are the device's, different in each domain.
  return out.map((m) => m.replace(/\b(PD|CQ|QP) \d+/g, "$1 #"));
}

Deno.test("refusal reasons: the guest's own mistakes read as on bare metal, with the request's name", async () => {
  const { cluster: c, hosts: [xen, bare] } = await cluster([true, false]);
  const bypass = await guest(xen, "bypass");
  const split = await guest(xen, "split", "split");
  await c.run(async () => {
    const native = await ownMistakes(bare.os);
    const ops = ["REG_MR", "MODIFY_QP", "MODIFY_QP", "MODIFY_QP", "DEALLOC_PD", "DESTROY_CQ"];
    // Each names the call (docs/api.md, Errors).
    for (const m of native) {
      assert.match(m, /^E[A-Z0-9]+: (reg_mr|modify_qp|dealloc_pd|destroy_cq)\b/);
    }
    // The guest's message is bare metal's with the backend request's name after the errno.
    const inGuest = native.map((m, i) => m.replace(/^(E[A-Z0-9]+): /, `$1: ${ops[i]}: `));
    assert.match(native[3], /^EINVAL: modify_qp QP #: RTS2RTS_QP failed with BAD_QP_STATE: /);
    assert.match(native[4], /^EBUSY: dealloc_pd: PD # still has \d+ object\(s\)$/);
    for (const vm of [bypass, split] as XenGuest[]) {
      assert.deepEqual(await ownMistakes(vm), inGuest, vm.name);
    }
  });
});

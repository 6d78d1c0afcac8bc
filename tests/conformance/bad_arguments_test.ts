/**
 * Arguments a C caller could not pass, in every mode (native, bypass, split):
 * a one-line EINVAL that names what was wrong, never a TypeError, and
 * nothing created or changed.
 *
 * - create_qp without a CQ or without capacities (ibv_create_qp(3): the
 *   init attributes name both CQs and carry `cap`).
 * - create_ah and modify_qp without their attribute structure.
 * - modify_qp with a `curState` past ERR (ib_uverbs_modify_qp:
 *   `cur_qp_state > IB_QPS_ERR` is EINVAL) or a `pathMtu` that is not a
 *   number.
 *
 * And one a C caller can pass: reg_mr at address 0 (NULL) is EFAULT, as at
 * any address the program has not mapped (ib_umem_get pins no page there),
 * not EINVAL.
 *
 * reg_mr of memory the program has not mapped (past what `memory.alloc`
 * populated: pages of a guest's memory included, which Xen would let the
 * guest's kernel grant) is EFAULT in every mode, as Linux's `ib_umem_get`
 * answers it (`pin_user_pages_fast` fails on an unmapped user address) and a
 * guest kernel's get_user_pages too: the frontend refuses it before any
 * request reaches dom0, and nothing gives those pages memory (`memory.read`
 * there stays EFAULT).
 */
import assert from "node:assert/strict";
import { AddressSpaceError, QpState, QpType } from "../../mod.ts";
import { MODES, rejects, side, twoDomains } from "./helpers.ts";

const CAP = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };

for (const mode of MODES) {
  Deno.test(`bad arguments (${mode}): EINVAL naming what is missing or wrong`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const { cq, pd } = x;
      const bad = (v: unknown) => v as never;
      assert.match(
        await rejects(
          () => pd.createQp(bad({ type: QpType.RC, sendCq: cq, recvCq: cq })),
          "EINVAL",
        ),
        /cap .*is missing/,
      );
      assert.match(
        await rejects(() => pd.createQp(bad({ type: QpType.RC, sendCq: cq, cap: CAP })), "EINVAL"),
        /recvCq is missing/,
      );
      assert.match(
        await rejects(() => pd.createQp(bad(undefined)), "EINVAL"),
        /create_qp: give/,
      );
      assert.match(
        await rejects(
          () =>
            pd.createQp(
              bad({ type: QpType.RC, sendCq: cq, recvCq: cq, cap: { ...CAP, maxSendWr: "4" } }),
            ),
          "EINVAL",
        ),
        /cap\.maxSendWr "4"/,
      );
      assert.match(await rejects(() => pd.createAh(bad(undefined)), "EINVAL"), /create_ah: give/);
      const qp = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap: CAP });
      assert.match(await rejects(() => qp.modify(bad(null)), "EINVAL"), /modify_qp: give/);
      const init = { state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 };
      await rejects(() => qp.modify({ ...init, curState: bad(9) }), "EINVAL");
      await qp.modify(init);
      const rtr = {
        state: QpState.RTR,
        ah: { dlid: x.lid },
        destQpNum: 1,
        rqPsn: 0,
        maxDestRdAtomic: 1,
        minRnrTimer: 1,
      };
      await rejects(() => qp.modify({ ...rtr, pathMtu: bad("4") }), "EINVAL");
      await rejects(() => qp.modify({ ...rtr, pathMtu: bad("2048") }), "EINVAL");
      // A state given as a string is named as given, quoted: "3" is not the state 3 (RTS).
      assert.match(await rejects(() => qp.modify({ state: bad("3") }), "EINVAL"), /"3"/);
      assert.equal((await qp.query()).state, QpState.INIT, "nothing was changed");
      assert.match(await rejects(() => pd.regMr(0, 4096, 1), "EFAULT"), /page 0x0 is not/);
      // Every mode's message names the value (a guest's kernel checks it as bare metal's does).
      assert.match(
        await rejects(() => qp.modify({ state: QpState.RTS, curState: bad(9) }), "EINVAL"),
        /no such QP state 9 \(curState\)$/,
      );
      assert.match(
        await rejects(() => qp.modify({ ...rtr, pathMtu: bad("2048") }), "EINVAL"),
        /modify_qp: pathMtu "2048" is not a supported MTU/,
      );
    });
  });
}

for (const mode of MODES) {
  Deno.test(`reg_mr of memory the program has not mapped is EFAULT, before any request to dom0 (${mode})`, async () => {
    const { cluster, a, hosts } = await twoDomains(mode);
    await cluster.run(async () => {
      const { pd, buf } = await side(a);
      const far = buf + (8 << 20); // inside a guest's 64 MiB, never allocated
      const unmapped = (f: () => unknown) =>
        assert.throws(f, (e) => e instanceof AddressSpaceError && e.code === "EFAULT");
      unmapped(() => a.memory.read(far, 4));
      const sent = hosts[0].counters().backendRequests;
      for (const [addr, len] of [[far, 4096], [far + 100, 64], [buf, far + 4096 - buf]]) {
        assert.match(
          await rejects(() => pd.regMr(addr, len, 1), "EFAULT"),
          /^EFAULT: (reg_mr|REG_MR): buffer 0x[0-9a-f]+\+\d+: page 0x[0-9a-f]+ is not mapped memory$/,
        );
      }
      assert.equal(hosts[0].counters().backendRequests, sent, "nothing reached dom0");
      unmapped(() => a.memory.read(far, 4));
      unmapped(() => a.memory.write(far, new Uint8Array(4)));
      const mr = await pd.regMr(buf, 4096, 1); // mapped memory still registers
      await mr.dereg();
    });
  });
}

for (const mode of MODES) {
  Deno.test(`reg_mr's arguments are checked before its pages, as ib_uverbs_reg_mr does (${mode})`, async () => {
    // ib_uverbs_reg_mr checks the access flags (ib_check_mr_access) before the driver's
    // reg_user_mr pins a page (ib_umem_get): bad access on an unmapped buffer is EINVAL, not
    // EFAULT, and a length past the device's is EINVAL, not a guest's pin limit (ENOMEM). A guest
    // used to look at the pages first. Its refusal names its request first (docs/api.md, Errors).
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const prefix = mode === "native" ? "" : "REG_MR: ";
      const cases: [number, number, unknown, string, string][] = [
        [0, 4096, 2, "EINVAL", "reg_mr: REMOTE_WRITE/REMOTE_ATOMIC require LOCAL_WRITE"],
        [0, 4096, 1 << 30, "EINVAL", "reg_mr: access flags 0x40000000 not supported"],
        [
          x.buf,
          2 ** 40,
          0,
          "EINVAL",
          "reg_mr: length must be an integer in 1..4294967296, got 1099511627776",
        ],
        [
          x.buf,
          4096,
          undefined,
          "EINVAL",
          "reg_mr: access must be an integer of 32 bits, got undefined",
        ],
        [x.buf, -1, 0, "EINVAL", "reg_mr: length must be an integer in 1..4294967296, got -1"],
        [-1, 4096, 0, "EINVAL", "reg_mr: addr must be an integer in 0..9007199254740991, got -1"],
      ];
      for (const [addr, length, access, code, why] of cases) {
        // deno-lint-ignore no-explicit-any
        const msg = await rejects(() => x.pd.regMr(addr, length, access as any), code);
        assert.equal(msg, `${code}: ${prefix}${why}`, `${addr} ${length} ${access}`);
      }
    });
  });
}

for (const mode of MODES) {
  Deno.test(`create_cq's vector, create_qp's type and create_srq's and modify_srq's limit are refused with bare metal's text (${mode})`, async () => {
    // ib_uverbs' create_cq (comp_vector), create_qp (the QP type) and mthca_modify_srq (no
    // resize; a limit within the SRQ) as bare metal's kernel checks them. A guest's kernel used
    // to leave values its request cannot carry to the ring encoder (`EINVAL: CREATE_QP: type: -1
    // does not fit u8`). A guest names its request first (docs/api.md, Errors).
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const srq = await x.pd.createSrq({ maxWr: 4, maxSge: 1 });
      const p = (op: string) => mode === "native" ? "" : `${op}: `;
      // deno-lint-ignore no-explicit-any
      const A = (v: unknown) => v as any;
      const cap = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
      const cases: [() => Promise<unknown>, string, string][] = [
        [
          () => x.ctx.createCq(4, { compVector: -1 }),
          "EINVAL",
          `${p("CREATE_CQ")}create_cq: compVector must be an integer in 0..0, got -1`,
        ],
        [
          () => x.pd.createQp({ type: A(-1), sendCq: x.cq, recvCq: x.cq, cap }),
          "EINVAL",
          `${p("CREATE_QP")}create_qp: QP type -1 is not a QP type a process may create`,
        ],
        [
          () => x.pd.createQp({ type: A("3"), sendCq: x.cq, recvCq: x.cq, cap }),
          "EINVAL",
          `${p("CREATE_QP")}create_qp: QP type "3" is not a QP type a process may create`,
        ],
        [
          () => x.pd.createSrq({ maxWr: 4, maxSge: 1, srqLimit: -1 }),
          "EINVAL",
          `${p("CREATE_SRQ")}create_srq: srqLimit must be an integer in 0..4294967295, got -1`,
        ],
        [
          () => srq.modify({ maxWr: -1 }),
          "EINVAL",
          `${p("MODIFY_SRQ")}modify_srq: resizing an SRQ is not supported`,
        ],
        [
          () => srq.modify({ srqLimit: -1 }),
          "EINVAL",
          `${p("MODIFY_SRQ")}modify_srq: srqLimit must be an integer in 0..4, got -1`,
        ],
        [
          () => srq.modify({ srqLimit: 2 ** 32 }),
          "EINVAL",
          `${p("MODIFY_SRQ")}modify_srq: srqLimit must be an integer in 0..4, got 4294967296`,
        ],
      ];
      for (const [call, code, why] of cases) {
        assert.equal(await rejects(call, code), `${code}: ${why}`);
      }
      assert.equal((await srq.query()).srqLimit, 0, "the SRQ is not armed");
    });
  });
}

// ib_uverbs' modify_qp (core/uverbs_cmd.c) checks the states (a cur_qp_state or qp_state past
// IB_QPS_ERR is EINVAL) before the Q_Key (a controlled one is EPERM): a request with both is EINVAL.
for (const mode of MODES) {
  Deno.test(`modify_qp: a state past ERR is EINVAL before a controlled Q_Key is EPERM (${mode})`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const qp = await x.pd.createQp({ type: QpType.UD, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      const init = { state: QpState.INIT, port: 1, pkeyIndex: 0, qkey: 0x80000001 };
      assert.match(
        await rejects(() => qp.modify({ ...init, state: 7 as never }), "EINVAL"),
        /no such QP state 7$/,
      );
      assert.match(
        await rejects(() => qp.modify({ ...init, curState: 9 as never }), "EINVAL"),
        /no such QP state 9 \(curState\)$/,
      );
      // A state the machine has: the Q_Key is what is refused.
      assert.match(await rejects(() => qp.modify(init), "EPERM"), /controlled Q_Key/);
      assert.equal((await qp.query()).state, QpState.RESET, "nothing was changed");
    });
  });
}

// modify_qp values a C caller could not pass, or that the state table or the device's limits
// refuse: a guest's kernel makes bare metal's checks (UContext.modifyQp: uverbsModifyQp, the
// state table, mthca_modify_qp's ranges) before its MODIFY_QP request is built, so every mode
// answers bare metal's text (a guest's names its request first), not the ring encoder's
// ('attr.port: 300 does not fit u8'), and nothing reaches dom0.
for (const mode of MODES) {
  Deno.test(`modify_qp: values the request cannot carry get bare metal's message (${mode})`, async () => {
    const { cluster, a, hosts } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const qp = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      const bad = (v: unknown) => v as never;
      const said = async (attr: unknown) =>
        (await rejects(() => qp.modify(bad(attr)), "EINVAL")).replace(
          /^EINVAL: (MODIFY_QP: )?/,
          "",
        );
      const sent = hosts[0].counters().backendRequests;
      const init = { state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 };
      const atInit: [unknown, string][] = [
        [{ ...init, port: 300 }, "modify_qp: port must be an integer in 1..1, got 300"],
        [
          { ...init, pkeyIndex: -1 },
          "modify_qp: pkeyIndex -1 is outside the port's P_Key table (64 entries)",
        ],
        [
          { ...init, accessFlags: 2 ** 32 },
          "modify_qp: accessFlags must be an integer in 0..4294967295, got 4294967296",
        ],
        [
          { ...init, qkey: 1.5 },
          `modify_qp QP ${qp.qpNum}: RESET->INIT on an RC QP does not take qkey`,
        ],
        // ib_uverbs compares an RTR's AV port with the QP's before the state table: a QP never
        // taken to INIT has none, which the message says (not "port undefined").
        [
          { state: QpState.RTR, ah: { dlid: 1, portNum: 1 } },
          "modify_qp: ah.portNum 1 is not the QP's port, none (no RESET->INIT yet)",
        ],
      ];
      for (const [attr, msg] of atInit) assert.equal(await said(attr), msg);
      assert.equal(hosts[0].counters().backendRequests, sent, "nothing reached dom0");
      await qp.modify(init);
      const rtr = {
        state: QpState.RTR,
        ah: { dlid: x.lid },
        destQpNum: 1,
        rqPsn: 0,
        maxDestRdAtomic: 1,
        minRnrTimer: 1,
        pathMtu: 2048,
      };
      const atRtr: [unknown, string][] = [
        [{ ...rtr, pathMtu: 99999 }, "modify_qp: pathMtu 99999 is not a supported MTU (max 2048)"],
        // No enum ibv_mtu is a fraction: the kernel's text, not the device's or the encoder's.
        [{ ...rtr, pathMtu: 2.5 }, "modify_qp: pathMtu 2.5 is not a supported MTU (max 2048)"],
        [{ ...rtr, rqPsn: -1 }, "modify_qp: rqPsn must be an integer in 0..4294967295, got -1"],
        [
          { ...rtr, maxDestRdAtomic: 300 },
          "modify_qp: maxDestRdAtomic must be an integer in 0..4, got 300",
        ],
        [
          { ...rtr, minRnrTimer: 1.5 },
          "modify_qp: minRnrTimer must be an integer in 0..31, got 1.5",
        ],
        [{ ...rtr, ah: { dlid: -1 } }, "modify_qp: ah.dlid must be an integer in 0..65535, got -1"],
        [
          { ...rtr, ah: { dlid: x.lid, sl: 300 } },
          "modify_qp: ah.sl must be an integer in 0..15, got 300",
        ],
      ];
      const before = hosts[0].counters().backendRequests;
      for (const [attr, msg] of atRtr) assert.equal(await said(attr), msg);
      assert.equal(hosts[0].counters().backendRequests, before, "nothing reached dom0");
      assert.equal((await qp.query()).state, QpState.INIT, "nothing was changed");
      await qp.modify(rtr); // the guest's kernel follows the QP's state: RTR is taken
      assert.equal((await qp.query()).state, QpState.RTR);
    });
  });
}

// rdma_cm conformance (drivers/verbs/rdma_cm.ts): librdmacm's event order, private data,
// rejects, disconnects and errors, the same in native, bypass and split domains.
import assert from "node:assert/strict";
import {
  Access,
  Cluster,
  type CmId,
  type Domain,
  type EventChannel,
  type Qp,
  QpState,
  RDMA_MAX_INIT_DEPTH,
  RDMA_MAX_RESP_RES,
  RdmaCmEvent,
  rdmaEventStr,
  SendFlags,
  VerbsError,
  WcStatus,
  WrOpcode,
} from "../mod.ts";
import { type CmReq, decodeCm, encodeCm } from "../drivers/verbs/cm_mad.ts";
import { parseIpv4 } from "../drivers/verbs/ipoib.ts";
import { OP } from "../hca/opcode.ts";
import { decodePacket } from "../hca/packet.ts";
import { MODES, next, pair, rcQp } from "./support/rdma_cm.ts";

const PORT = 18515;

/** The CM messages (256-byte MADs) the fabric carries from now on, or only those of `kind`. */
function captureCm(cluster: Cluster, kind?: string): NonNullable<ReturnType<typeof decodeCm>>[] {
  const got: NonNullable<ReturnType<typeof decodeCm>>[] = [];
  cluster.fabric.addCapture((r) => {
    const d = decodePacket(r.bytes);
    const m = d.ok && d.packet.payload.length === 256 ? decodeCm(d.packet.payload) : undefined;
    if (m && (kind === undefined || m.kind === kind)) got.push(m);
  });
  return got;
}

async function listen(b: Domain): Promise<{ ch: EventChannel; listener: CmId }> {
  const ch = b.rdmaCm.createEventChannel();
  const listener = await ch.createId();
  await listener.bindAddr({ ip: b.rdmaCm.ip, port: PORT });
  await listener.listen(4);
  return { ch, listener };
}

/** Passive side: take the next request, give it a QP, accept with `param`, ack the event. */
async function acceptOne(sch: EventChannel, param: Parameters<CmId["accept"]>[0] = {}) {
  const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
  const r = await rcQp(req.id);
  await req.id.accept(param);
  req.ack();
  return { req, ...r };
}

/** Active side up to a QP on a resolved route; returns the id and the events it saw. */
async function resolve(a: Domain, ip: string, port = PORT) {
  const ch = a.rdmaCm.createEventChannel();
  const id = await ch.createId();
  await id.resolveAddr({ ip, port });
  const e1 = await next(ch, RdmaCmEvent.ADDR_RESOLVED);
  e1.ack();
  await id.resolveRoute();
  const e2 = await next(ch, RdmaCmEvent.ROUTE_RESOLVED);
  e2.ack();
  return { ch, id, res: await rcQp(id) };
}

for (const mode of MODES) {
  Deno.test(`rdma_cm ${mode}: events in librdmacm's order, private data both ways, QPs in RTS that carry data`, async () => {
    const { cluster, a, b } = await pair(mode);
    await cluster.run(async () => {
      const { ch: sch } = await listen(b);
      const server = cluster.spawn("server", async () => {
        const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
        // The REQ's 92 bytes less the 36-byte CMA header: 56, zero-padded.
        assert.equal(req.param.privateData!.length, 56);
        assert.equal(new TextDecoder().decode(req.param.privateData!.subarray(0, 5)), "hello");
        assert.equal(req.param.responderResources, 2); // the active side's initiator depth
        assert.equal(req.param.initiatorDepth, 1); // its responder resources
        assert.equal(req.id.state, "req_rcvd");
        const r = await rcQp(req.id);
        const mr = await r.pd.regMr(b.memory.alloc(4096, 4096), 4096, Access.LOCAL_WRITE);
        r.qp.postRecv({ wrId: 5n, sgList: [{ addr: mr.addr, length: 64, lkey: mr.lkey }] });
        await req.id.accept({
          privateData: new Uint8Array(196).fill(7),
          responderResources: 1,
          initiatorDepth: 1,
          retryCount: 7,
          rnrRetryCount: 7,
        });
        assert.equal(r.qp.state, QpState.RTS); // the cma moved it before sending the REP
        req.ack();
        const est = await next(sch, RdmaCmEvent.ESTABLISHED); // the RTU came
        est.ack();
        const [wc] = await r.cq.pollUntil(1);
        assert.deepEqual([wc.status, wc.byteLen, wc.wrId], [WcStatus.SUCCESS, 8, 5n]);
        assert.equal(new TextDecoder().decode(b.memory.read(mr.addr, 8)), "rdma_cm!");
        return req.id;
      });
      const { ch, id, res } = await resolve(a, b.rdmaCm.ip);
      assert.equal(id.route!.mtu, 4); // the SA's answer: 2048-byte path MTU (code 4)
      assert.equal(res.qp.state, QpState.INIT); // rdma_create_qp leaves it in INIT
      await id.connect({
        privateData: new TextEncoder().encode("hello"),
        responderResources: 1,
        initiatorDepth: 2,
        retryCount: 7,
        rnrRetryCount: 7,
      });
      const est = await next(ch, RdmaCmEvent.ESTABLISHED);
      assert.deepEqual(est.param.privateData, new Uint8Array(196).fill(7));
      assert.equal(est.status, 0);
      est.ack();
      assert.equal(res.qp.state, QpState.RTS);
      const mr = await res.pd.regMr(a.memory.alloc(4096, 4096), 4096, Access.LOCAL_WRITE);
      a.memory.write(mr.addr, new TextEncoder().encode("rdma_cm!"));
      res.qp.postSend({
        wrId: 1n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: mr.addr, length: 8, lkey: mr.lkey }],
      });
      const [wc] = await res.cq.pollUntil(1);
      assert.equal(wc.status, WcStatus.SUCCESS);
      const sid = await server;
      // Each side's QP points at the other's, with the PSNs the REQ and REP carried.
      assert.equal(sid.qp!.qpNum !== res.qp.qpNum || a !== b, true);
    });
  });

  Deno.test(`rdma_cm ${mode}: no listener on the port: REJECTED with reason 8 (invalid service ID)`, async () => {
    const { cluster, a, b } = await pair(mode);
    await cluster.run(async () => {
      const { ch, id, res } = await resolve(a, b.rdmaCm.ip, 4242);
      await id.connect({});
      const ev = await next(ch, RdmaCmEvent.REJECTED);
      assert.equal(ev.status, 8);
      ev.ack();
      assert.equal(res.qp.state, QpState.ERR); // cma_modify_qp_err on the REJ
    });
  });

  Deno.test(`rdma_cm ${mode}: rdma_reject: REJECTED with reason 28 and the reject's private data`, async () => {
    const { cluster, a, b } = await pair(mode);
    await cluster.run(async () => {
      const { ch: sch } = await listen(b);
      const server = cluster.spawn("server", async () => {
        const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
        await assert.rejects(
          () => req.id.reject(new Uint8Array(149)),
          /at most 148/,
        );
        await req.id.reject(new TextEncoder().encode("busy"));
        req.ack();
        await req.id.destroy();
      });
      const { ch, id } = await resolve(a, b.rdmaCm.ip);
      await id.connect({});
      const ev = await next(ch, RdmaCmEvent.REJECTED);
      assert.equal(ev.status, 28);
      assert.equal(ev.param.privateData!.length, 148);
      assert.equal(new TextDecoder().decode(ev.param.privateData!.subarray(0, 4)), "busy");
      ev.ack();
      await server;
    });
  });

  Deno.test(`rdma_cm ${mode}: rdma_disconnect: DISCONNECTED on both sides, QPs in ERR`, async () => {
    const { cluster, a, b } = await pair(mode);
    await cluster.run(async () => {
      const { ch: sch } = await listen(b);
      const server = cluster.spawn("server", async () => {
        const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
        const r = await rcQp(req.id);
        await req.id.accept({});
        req.ack();
        (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
        const d = await next(sch, RdmaCmEvent.DISCONNECTED); // the DREQ came
        d.ack();
        await req.id.disconnect(); // the DREP
        assert.equal(r.qp.state, QpState.ERR);
        await req.id.destroyQp();
        await req.id.destroy();
      });
      const { ch, id, res } = await resolve(a, b.rdmaCm.ip);
      await id.connect({});
      (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
      await id.disconnect();
      assert.equal(res.qp.state, QpState.ERR);
      const d = await next(ch, RdmaCmEvent.DISCONNECTED);
      assert.equal(d.status, 0); // the DREP, not the timeout
      d.ack();
      await server;
      await id.destroyQp();
      await id.destroy();
      ch.destroy();
    });
  });
}

Deno.test("rdma_cm: misuse gets one-line errors; unknown addresses end in ADDR_ERROR", async () => {
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const { listener } = await listen(b);
    const ch2 = b.rdmaCm.createEventChannel();
    const other = await ch2.createId();
    await assert.rejects(
      () => other.bindAddr({ ip: b.rdmaCm.ip, port: PORT }),
      (e) => e instanceof VerbsError && e.code === "EADDRINUSE",
    );
    // cma_check_port: a taken port is EADDRNOTAVAIL when either bind is a wildcard or loopback
    // address (cma_any_addr), EADDRINUSE only for the same address (just above).
    for (const ip of ["0.0.0.0", "127.0.0.1"]) {
      await assert.rejects(
        () => other.bindAddr({ ip, port: PORT }),
        (e) => e instanceof VerbsError && e.code === "EADDRNOTAVAIL",
        ip,
      );
    }
    const wild = await ch2.createId();
    await wild.bindAddr({ ip: "0.0.0.0", port: PORT + 1 });
    await assert.rejects(
      () => other.bindAddr({ ip: b.rdmaCm.ip, port: PORT + 1 }),
      (e) => e instanceof VerbsError && e.code === "EADDRNOTAVAIL",
    );
    await wild.destroy();
    await assert.rejects(
      () => other.bindAddr({ ip: a.rdmaCm.ip, port: 1 }),
      (e) => e instanceof VerbsError && e.code === "EADDRNOTAVAIL",
    );
    await assert.rejects(() => other.bindAddr({ ip: "10.0.0.999", port: 1 }), /not an IPv4/);
    await assert.rejects(
      () => ch2.createId(0x0111),
      (e) => e instanceof VerbsError && e.code === "EOPNOTSUPP" && /RDMA_PS_TCP/.test(e.message),
    );
    // ucma_get_qp_type: no port space at all is EINVAL.
    await assert.rejects(
      () => ch2.createId(0x1234),
      (e) => e instanceof VerbsError && e.code === "EINVAL" && /not a port space/.test(e.message),
    );
    assert.throws(() => ch2.destroy(), /still use it/);
    await assert.rejects(() => listener.connect({}), /not valid in state listen/);

    const { ch, id } = await resolve(a, b.rdmaCm.ip);
    await assert.rejects(
      () => id.connect({ privateData: new Uint8Array(57) }),
      /57 bytes of private data \(at most 56\)/,
    );
    await assert.rejects(() => id.connect({ responderResources: 99 }), /responderResources 99/);
    // An address nobody holds: no ARP reply; ADDR_ERROR with -ETIMEDOUT after the timeout.
    const lone = await ch.createId();
    const t0 = cluster.now;
    await lone.resolveAddr({ ip: "10.0.9.9", port: 1 }, { timeoutMs: 50 });
    const ev = await next(ch, RdmaCmEvent.ADDR_ERROR);
    assert.equal(ev.status, -110);
    assert.ok(cluster.now - t0 >= 50e6);
    assert.equal(lone.unacked, 1);
    // rdma_destroy_id tears the id down, then waits for the events it handed out to be acked.
    let gone = -1;
    const destroying = lone.destroy().then(() => gone = cluster.now);
    await cluster.sleep(1_000_000);
    assert.equal(gone, -1);
    assert.equal(lone.state, "destroyed");
    const acked = cluster.now;
    ev.ack();
    assert.throws(() => ev.ack(), /already acked/);
    await destroying;
    assert.equal(gone, acked + a.profile.cpu.wakeupNs);
    assert.equal(lone.unacked, 0);
  });
});

Deno.test("rdma_cm bypass: the peer's domain gone after the route: UNREACHABLE (-ETIMEDOUT) after the CM retries", async () => {
  const { cluster, a, b } = await pair("bypass");
  await cluster.run(async () => {
    await listen(b);
    const { ch, id, res } = await resolve(a, b.rdmaCm.ip);
    (b as unknown as { crash(): void }).crash();
    const t0 = cluster.now;
    await id.connect({});
    const ev = await next(ch, RdmaCmEvent.UNREACHABLE);
    assert.equal(ev.status, -110);
    // cma_ib_handler (IB_CM_REQ_ERROR) leaves the QP alone: still in INIT.
    assert.equal(res.qp.state, QpState.INIT);
    // 16 sends of the REQ (CMA_MAX_CM_RETRIES 15), each waiting ib_send_cm_req's timeout_ms:
    // twice the path's packet lifetime (18: 2^10 ms) plus CMA_CM_RESPONSE_TIMEOUT (20: 2^12
    // ms), in cm_convert_to_ms's milliseconds: 6144 ms.
    const took = cluster.now - t0;
    assert.ok(took >= 16 * 6144e6 && took < 16 * 6144e6 + 1e6, `${took} ns`);
    ev.ack();
  });
});

Deno.test("rdma_cm: a connection costs what its messages cost: the same seed gives the same times", async () => {
  const times: number[] = [];
  for (let i = 0; i < 2; i++) {
    const { cluster, a, b } = await pair("native");
    times.push(
      await cluster.run(async () => {
        const { ch: sch } = await listen(b);
        const server = cluster.spawn("server", async () => {
          await acceptOne(sch);
        });
        const t0 = cluster.now;
        const { ch, id } = await resolve(a, b.rdmaCm.ip);
        await id.connect({});
        (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
        await server;
        const agent = await a.rdmaCm.agent();
        // ARP request, PathRecord query and the SA's answer (a is the SM's node: its
        // service answers itself), REQ, RTU.
        assert.equal(agent.sent, 5);
        return cluster.now - t0;
      }),
    );
  }
  assert.equal(times[0], times[1]);
  assert.ok(times[0] > 50_000, `${times[0]} ns`); // three CM MAD handlings of 10 µs, the SA's 30 µs …
});

for (const mode of MODES) {
  Deno.test(`rdma_cm ${mode}: the QPs get ib_cm's attributes: the peer's message decides READ access, depths, RNR retries and PSNs`, async () => {
    const { cluster, a, b } = await pair(mode);
    await cluster.run(async () => {
      const { ch: sch } = await listen(b);
      const attrs = async (qp: Qp) => {
        const q = await qp.query();
        return [
          q.accessFlags,
          q.maxDestRdAtomic,
          q.maxRdAtomic,
          q.retryCnt,
          q.rnrRetry,
          q.sqPsn,
          q.rqPsn,
        ];
      };
      const accepts = [
        { responderResources: 3, initiatorDepth: 2 },
        {},
        { responderResources: RDMA_MAX_RESP_RES, initiatorDepth: RDMA_MAX_INIT_DEPTH },
      ];
      const server = cluster.spawn("server", async () => {
        const seen = [];
        for (const param of accepts) {
          const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
          const r = await rcQp(req.id);
          await req.id.accept(param);
          req.ack();
          (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
          seen.push({ psn: r.qp.initialPsn, qp: await attrs(r.qp), ev: req.param });
        }
        return seen;
      });
      const connects = [
        { responderResources: 1, initiatorDepth: 4, retryCount: 5, rnrRetryCount: 6 },
        { responderResources: 1, initiatorDepth: 1 },
        undefined, // librdmacm's NULL: the device's limits, 7 retries
      ];
      const dev = (await a.rdmaCm.context()).queryDevice();
      const got = [];
      for (const param of connects) {
        const { ch, id, res } = await resolve(a, b.rdmaCm.ip);
        await id.connect(param);
        const est = await next(ch, RdmaCmEvent.ESTABLISHED);
        est.ack();
        got.push({ psn: res.qp.initialPsn, qp: await attrs(res.qp), ev: est.param });
      }
      const srv = await server;
      const W = Access.REMOTE_WRITE, RWA = W | Access.REMOTE_READ | Access.REMOTE_ATOMIC;
      // 1: the passive side's INIT access follows the REQ's initiator depth (4), its RTR and
      //    RTS depths are what it accepted (3, 2: not capped by the REQ's 1), its retries the
      //    REQ's (5, 6); the active side's depths are the REP's (2, 3), its RNR retries the
      //    REP's (0). Each side sends with the PSN the other announced and receives with its own.
      //    query_qp reports a depth of 3 as 4: mthca's QP context holds each depth as a power of
      //    two (fls(depth - 1)), and mthca_query_qp answers `1 << log`.
      assert.deepEqual(srv[0].qp, [RWA, 4, 2, 5, 6, got[0].psn, srv[0].psn]);
      assert.deepEqual(got[0].qp, [RWA, 2, 4, 5, 0, srv[0].psn, got[0].psn]);
      assert.deepEqual([got[0].ev.responderResources, got[0].ev.initiatorDepth], [2, 3]);
      // 2: accept({}) grants nothing: the active side may not be read from (no REMOTE_READ).
      //    The passive side, asked for an initiator depth of 1, gave READ access at INIT, but
      //    accepted 0 responder resources: a QP with max_dest_rd_atomic 0 keeps only
      //    REMOTE_WRITE of its rights (mthca's get_hw_access_flags), as query_qp reads them;
      //    query_qp reports a depth of 0 as 1 (`1 << 0`: mthca_query_qp).
      assert.deepEqual(srv[1].qp.slice(0, 3), [W, 1, 1]);
      assert.deepEqual(got[1].qp.slice(0, 3), [W, 1, 1]);
      // 3: connect() asks for the device's limits with 7 retries; accepting with the
      //    "maximum" markers takes what was asked, up to the device's limits.
      assert.deepEqual(
        [srv[2].ev.responderResources, srv[2].ev.initiatorDepth, srv[2].ev.retryCount],
        [dev.maxQpInitRdAtom, dev.maxQpRdAtom, 7],
      );
      assert.deepEqual(
        srv[2].qp.slice(0, 5),
        [RWA, Math.min(dev.maxQpInitRdAtom, dev.maxQpRdAtom), dev.maxQpInitRdAtom, 7, 7],
      );
      // The active side's depths are the REP's; its RNR retries too (accept's default, 0).
      const granted = Math.min(dev.maxQpInitRdAtom, dev.maxQpRdAtom);
      assert.deepEqual(got[2].qp.slice(1, 5), [granted, dev.maxQpInitRdAtom, 7, 0]);
    });
  });
}

Deno.test("rdma_cm: rdma_disconnect fails only without a connection; on a connection already down it only moves the QP to ERR", async () => {
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const server = cluster.spawn("server", async () => {
      const { req } = await acceptOne(sch);
      (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
      (await next(sch, RdmaCmEvent.DISCONNECTED)).ack();
      await req.id.disconnect(); // the DREP
      await req.id.disconnect(); // again: nothing to send, no error
      const rej = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
      await rej.id.reject();
      rej.ack();
    });
    const { ch, id } = await resolve(a, b.rdmaCm.ip);
    const fresh = await ch.createId();
    await assert.rejects(
      () => fresh.disconnect(),
      (e) => e instanceof VerbsError && e.code === "EINVAL",
    );
    // An id with a device and a QP, never connected: librdmacm's rdma_disconnect moves the QP
    // to ERR (ucma_shutdown) before the kernel's EINVAL (cma.c: no ib_cm id).
    const spare = await resolve(a, b.rdmaCm.ip);
    await assert.rejects(
      () => spare.id.disconnect(),
      (e) => e instanceof VerbsError && e.code === "EINVAL",
    );
    assert.equal(spare.res.qp.state, QpState.ERR);
    await id.connect({});
    (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
    await id.disconnect();
    (await next(ch, RdmaCmEvent.DISCONNECTED)).ack();
    const agent = await a.rdmaCm.agent();
    const sent = agent.sent;
    await id.disconnect(); // the usual "disconnect on DISCONNECTED" of the side that started it
    assert.equal(agent.sent, sent, "no second DREQ");
    const r = await resolve(a, b.rdmaCm.ip);
    await r.id.connect({});
    (await next(r.ch, RdmaCmEvent.REJECTED)).ack();
    await r.id.disconnect(); // after a reject too
    assert.equal(r.res.qp.state, QpState.ERR);
    await server;
  });
});

Deno.test("rdma_cm: accept with more private data than a REP carries rejects the connection", async () => {
  // ib_send_cm_rep refuses more than 196 bytes (-EINVAL); the kernel's rdma_accept then moves the
  // QP to ERR and rejects (IB_CM_REJ_CONSUMER_DEFINED), and librdmacm's returns the error.
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const server = cluster.spawn("server", async () => {
      const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
      const { qp } = await rcQp(req.id);
      const msg = await req.id.accept({ privateData: new Uint8Array(197) }).then(
        () => "accepted",
        (e: unknown) => e instanceof VerbsError ? `${e.code}` : String(e),
      );
      assert.equal(msg, "EINVAL");
      assert.deepEqual([req.id.state, qp.state], ["rejected", QpState.ERR]);
      // Nothing left to accept.
      await assert.rejects(
        () => req.id.accept({}),
        (e) => e instanceof VerbsError && e.code === "EINVAL",
      );
      req.ack();
    });
    const { ch, id } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    const rej = await next(ch, RdmaCmEvent.REJECTED);
    assert.equal(rej.status, 28);
    rej.ack();
    await server;
  });
});

Deno.test("rdma_cm: createQp moves a passive id's QP to INIT with the REQ's rights, an active one's with none", async () => {
  // rdma_init_qp_attr(INIT): ib_cm's cm_init_qp_init_attr on the passive side (REMOTE_WRITE,
  // with READ and ATOMIC for a REQ's initiator depth above 0; the device shows REMOTE_WRITE
  // alone until responder resources come at RTR), cma_ib_init_qp_attr's 0 on the active side.
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const server = cluster.spawn("server", async () => {
      const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
      const { qp } = await rcQp(req.id);
      const q = await qp.query();
      assert.deepEqual([q.state, q.accessFlags], [QpState.INIT, Access.REMOTE_WRITE]);
      await req.id.accept({});
      req.ack();
    });
    const { ch, id, res } = await resolve(a, b.rdmaCm.ip);
    const q = await res.qp.query();
    assert.deepEqual([q.state, q.accessFlags], [QpState.INIT, 0]);
    await id.connect({});
    (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
    await server;
  });
});

Deno.test("rdma_cm: a CONNECT_REQUEST is the listener's event: the new id may be destroyed before it is acked", async () => {
  // ucma_connect_event_handler makes the event on the listener's context and librdmacm's
  // rdma_ack_cm_event completes it there: rdma_destroy_id(event->id) waits for nothing.
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const { ch: sch, listener } = await listen(b);
    const server = cluster.spawn("server", async () => {
      const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
      assert.deepEqual([req.id.unacked, listener.unacked], [0, 1]);
      await req.id.reject();
      await req.id.destroy(); // returns: nothing of the new id's is unacked
      req.ack();
      assert.equal(listener.unacked, 0);
    });
    const { ch, id } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    (await next(ch, RdmaCmEvent.REJECTED)).ack();
    await server;
  });
});

Deno.test("rdma_cm: rdma_destroy_id frees events not yet read; a listener's unread requests are rejected; a REQ abandoned is rejected with reason 4", async () => {
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const { ch: sch, listener } = await listen(b);
    // 1. A DISCONNECTED the program never read does not hold up the destroy.
    const server = cluster.spawn("server", async () => {
      const { req } = await acceptOne(sch);
      (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
      await req.id.disconnect();
      await cluster.sleep(1e6); // the DREP is in: DISCONNECTED is queued, unread
      assert.equal(sch.pending, 1);
      assert.equal(req.id.unacked, 0);
      await req.id.destroyQp();
      await req.id.destroy();
      assert.equal(sch.pending, 0);
    });
    const { ch, id } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
    (await next(ch, RdmaCmEvent.DISCONNECTED)).ack();
    await id.disconnect(); // the DREP
    await server;
    // 2. A connection request the listener never handed out is rejected when it goes
    //    (ucma_free_ctx destroys the new id: REJ "consumer reject").
    const r = await resolve(a, b.rdmaCm.ip);
    await r.id.connect({});
    await cluster.sleep(1e6);
    assert.equal(sch.pending, 1);
    await listener.destroy();
    assert.equal(sch.pending, 0);
    const ev = await next(r.ch, RdmaCmEvent.REJECTED);
    assert.equal(ev.status, 28);
    ev.ack();
    // 3. An active side destroyed while its REQ is out: the passive side, which had the
    //    request, gets REJECTED with reason 4 (cm_destroy_id: IB_CM_REJ_TIMEOUT).
    const l2 = await sch.createId();
    await l2.bindAddr({ ip: b.rdmaCm.ip, port: PORT + 1 });
    await l2.listen(1);
    const s = await resolve(a, b.rdmaCm.ip, PORT + 1);
    await s.id.connect({});
    const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
    await s.id.destroyQp();
    await s.id.destroy();
    const rej = await next(sch, RdmaCmEvent.REJECTED);
    assert.equal(rej.id, req.id);
    assert.equal(rej.status, 4);
    rej.ack();
    req.ack();
  });
});

for (const mode of MODES) {
  Deno.test(`rdma_cm ${mode}: the REQ and REP carry their device's node GUID as LocalCAGUID (IBTA vol. 1 tables 106, 108)`, async () => {
    const { cluster, a, b } = await pair(mode);
    const cms = captureCm(cluster);
    await cluster.run(async () => {
      const { ch: sch } = await listen(b);
      const server = cluster.spawn("server", () => acceptOne(sch));
      const { ch, id } = await resolve(a, b.rdmaCm.ip);
      await id.connect({});
      (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
      await server;
    });
    const guid = async (d: Domain) => {
      const ctx = await d.openDevice();
      return BigInt(`0x${ctx.queryDevice().nodeGuid}`);
    };
    const req = cms.find((m) => m?.kind === "REQ"), rep = cms.find((m) => m?.kind === "REP");
    assert.ok(req?.kind === "REQ" && rep?.kind === "REP", "a REQ and a REP on the wire");
    const [ga, gb] = await cluster.run(async () => [await guid(a), await guid(b)]);
    assert.ok(ga !== 0n && ga !== gb);
    assert.deepEqual([req.localCaGuid, rep.localCaGuid], [ga, gb]);
  });
}

for (const mode of MODES) {
  Deno.test(`rdma_cm ${mode}: the REQ carries the path's rate; the passive side's route has it (cm_format_path_from_req)`, async () => {
    const { cluster, a, b } = await pair(mode);
    const reqs = captureCm(cluster, "REQ");
    await cluster.run(async () => {
      const { ch: sch } = await listen(b);
      const server = cluster.spawn("server", () => acceptOne(sch));
      const { ch, id } = await resolve(a, b.rdmaCm.ip);
      await id.connect({});
      (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
      const { req } = await server;
      assert.equal(id.route!.rate, 3); // the SA's answer: 4x SDR, 10 Gb/s
      const rates = reqs.map((m) => m.kind === "REQ" && m.packetRate);
      assert.ok(rates.length > 0 && rates.every((r) => r === 3), `REQ rates ${rates}`); // every hop
      assert.equal(req.id.route!.rate, 3);
    });
  });
}

// ib_cm's timewait (drivers/infiniband/core/cm.c: cm_enter_timewait, cm_timewait_handler)
// lasts cm_convert_to_ms(av.timeout): the path's packet lifetime (OpenSM's 18) + 1 = 19,
// 2^(19-8) = 2048 ms; cma_ib_handler reports its end as TIMEWAIT_EXIT.
const TIMEWAIT_NS = 2048e6;

for (const mode of MODES) {
  Deno.test(`rdma_cm ${mode}: TIMEWAIT_EXIT on both sides after DISCONNECTED, one local ACK timeout (2048 ms) after each entered timewait`, async () => {
    const { cluster, a, b } = await pair(mode);
    await cluster.run(async () => {
      const { ch: sch } = await listen(b);
      const server = cluster.spawn("server", async () => {
        const { req } = await acceptOne(sch);
        (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
        (await next(sch, RdmaCmEvent.DISCONNECTED)).ack();
        const before = cluster.now;
        await req.id.disconnect(); // the DREP: this side enters timewait (cm_send_drep_locked)
        const after = cluster.now;
        assert.equal(req.id.state, "timewait");
        const ev = await next(sch, RdmaCmEvent.TIMEWAIT_EXIT);
        const waited = [cluster.now - after, cluster.now - before];
        assert.ok(waited[1] >= TIMEWAIT_NS && waited[0] < TIMEWAIT_NS + 1e6, `${waited} ns`);
        assert.equal(ev.status, 0);
        assert.equal(ev.id, req.id);
        assert.equal(req.id.state, "disconnected");
        ev.ack();
        await req.id.disconnect(); // still allowed: QP to ERR, nothing sent
        await req.id.destroyQp();
        await req.id.destroy();
      });
      const { ch, id } = await resolve(a, b.rdmaCm.ip);
      await id.connect({});
      (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
      await id.disconnect();
      const d = await next(ch, RdmaCmEvent.DISCONNECTED); // the DREP: timewait began with it
      const t0 = cluster.now;
      assert.equal(id.state, "timewait");
      d.ack();
      const ev = await next(ch, RdmaCmEvent.TIMEWAIT_EXIT);
      assert.equal(cluster.now - t0, TIMEWAIT_NS);
      assert.equal(ev.status, 0);
      assert.equal(ev.id, id);
      assert.equal(id.state, "disconnected");
      ev.ack();
      await server;
      assert.equal(ch.pending, 0);
      await id.destroyQp();
      await id.destroy();
      ch.destroy();
    });
  });
}

Deno.test("rdma_cm: no TIMEWAIT_EXIT for an id destroyed in timewait, nor after REJECTED or on a side that never answered the DREQ", async () => {
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    // 1. Both ids destroyed during their timewait: the timers are cancelled.
    const server = cluster.spawn("server", async () => {
      const { req } = await acceptOne(sch);
      (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
      (await next(sch, RdmaCmEvent.DISCONNECTED)).ack();
      await req.id.disconnect();
      await cluster.sleep(TIMEWAIT_NS / 2);
      await req.id.destroyQp();
      await req.id.destroy();
    });
    const { ch, id } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
    await id.disconnect();
    (await next(ch, RdmaCmEvent.DISCONNECTED)).ack();
    await id.destroyQp();
    await id.destroy();
    await server;
    await cluster.sleep(2 * TIMEWAIT_NS);
    assert.equal(ch.pending, 0);
    assert.equal(sch.pending, 0);
    // 2. A rejected connection never reported DISCONNECTED: no TIMEWAIT_EXIT
    //    (cma_ib_handler passes it on only in RDMA_CM_DISCONNECT).
    const rejecter = cluster.spawn("rejecter", async () => {
      const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
      await req.id.reject();
      req.ack();
    });
    const r = await resolve(a, b.rdmaCm.ip);
    await r.id.connect({});
    (await next(r.ch, RdmaCmEvent.REJECTED)).ack();
    await rejecter;
    // Reason 28 on a REQ: cm_rej_handler resets the connection to idle, no timewait.
    assert.equal(r.id.state, "rejected");
    await assert.rejects(
      () => r.ch.getEvent({ timeoutNs: 2 * TIMEWAIT_NS }),
      (e) => e instanceof VerbsError && e.code === "ETIMEDOUT",
    );
    // 3. A passive side that got the DREQ but never answered it is not in timewait.
    const quiet = cluster.spawn("quiet", async () => {
      const { req } = await acceptOne(sch);
      (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
      (await next(sch, RdmaCmEvent.DISCONNECTED)).ack();
      await assert.rejects(
        () => sch.getEvent({ timeoutNs: 2 * TIMEWAIT_NS }),
        (e) => e instanceof VerbsError && e.code === "ETIMEDOUT",
      );
      assert.equal(req.id.state, "dreq_rcvd");
      await req.id.destroy(); // the DREP now
    });
    const q = await resolve(a, b.rdmaCm.ip);
    await q.id.connect({});
    (await next(q.ch, RdmaCmEvent.ESTABLISHED)).ack();
    await q.id.disconnect();
    await quiet;
    (await next(q.ch, RdmaCmEvent.DISCONNECTED)).ack(); // the destroy's DREP
    (await next(q.ch, RdmaCmEvent.TIMEWAIT_EXIT)).ack();
  });
});

Deno.test("rdma_cm: both sides disconnect at once: DISCONNECTED, then TIMEWAIT_EXIT, on each", async () => {
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const { ch, id } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    const { req } = await acceptOne(sch);
    (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
    (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
    const other = cluster.spawn("server disconnect", () => req.id.disconnect());
    await id.disconnect();
    await other;
    for (const c of [ch, sch]) {
      const d = await next(c, RdmaCmEvent.DISCONNECTED);
      assert.equal(d.status, 0);
      d.ack();
    }
    for (const [c, i] of [[ch, id], [sch, req.id]] as const) {
      const ev = await next(c, RdmaCmEvent.TIMEWAIT_EXIT);
      assert.equal(ev.id, i);
      ev.ack();
    }
  });
});

// ib_cm answers a DREQ for a connection it no longer has with a DREP of its own (cm_dreq_handler
// → cm_issue_drep, drivers/infiniband/core/cm.c) whose LocalCommID is the DREQ's RemoteCommID and
// RemoteCommID the DREQ's LocalCommID, so the sender's cm_drep_handler finds its connection by both
// IDs. A peer that destroyed its id (its own DREQ lost on the way) answers so: this side gets
// DISCONNECTED with status 0 at once, not -ETIMEDOUT after every retry of its DREQ.
for (const mode of MODES) {
  Deno.test(`rdma_cm ${mode}: a DREQ for a connection the peer destroyed gets the peer CM's DREP naming both IDs (cm_issue_drep): DISCONNECTED 0`, async () => {
    const { cluster, a, b } = await pair(mode);
    const dreps = captureCm(cluster, "DREP");
    await cluster.run(async () => {
      const { ch: sch } = await listen(b);
      const { ch, id } = await resolve(a, b.rdmaCm.ip);
      await id.connect({});
      const { req } = await acceptOne(sch);
      (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
      (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
      const passiveId = req.id.localCommId;
      // The server destroys its id; its DREQ is lost, so the client still has the connection.
      const aLid = id.verbs!.queryPort(1).lid;
      cluster.fabric.addFault({
        dlid: aLid,
        opcode: OP.UD_SEND_ONLY,
        probability: 1,
        kind: "drop",
        limit: 1,
      });
      await req.id.destroy();
      await cluster.sleep(1e6);
      assert.equal(id.state, "established");
      const t0 = cluster.now;
      await id.disconnect();
      const d = await next(ch, RdmaCmEvent.DISCONNECTED);
      assert.equal(d.status, 0);
      assert.ok(cluster.now - t0 < 10e6, `DISCONNECTED after ${cluster.now - t0} ns`);
      d.ack();
      const issued = dreps.find((m) => m.kind === "DREP" && m.remoteCommId === id.localCommId);
      assert.ok(issued, "the peer's CM answered the DREQ");
      assert.equal(issued!.localCommId, passiveId, "LocalCommID: the DREQ's RemoteCommID");
      (await next(ch, RdmaCmEvent.TIMEWAIT_EXIT)).ack();
    });
  });
}

Deno.test("rdma_cm bypass: a DREQ never answered: DISCONNECTED (-ETIMEDOUT) after the retries, TIMEWAIT_EXIT 2048 ms later", async () => {
  const { cluster, a, b } = await pair("bypass");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const { ch, id } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    await acceptOne(sch);
    (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
    (b as unknown as { crash(): void }).crash();
    await id.disconnect();
    const d = await next(ch, RdmaCmEvent.DISCONNECTED);
    assert.equal(d.status, -110);
    const t0 = cluster.now;
    d.ack();
    const ev = await next(ch, RdmaCmEvent.TIMEWAIT_EXIT);
    assert.equal(cluster.now - t0, TIMEWAIT_NS);
    assert.equal(ev.status, 0);
    ev.ack();
  });
});

for (const mode of ["bypass", "split"] as const) {
  Deno.test(`rdma_cm ${mode}: two guests of one host (one LID, both numbering connections from 1) connect to one server: both ESTABLISHED`, async () => {
    const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 7 });
    const h0 = cluster.addHost({ name: "n0", hypervisor: true });
    const h1 = cluster.addHost({ name: "n1", hypervisor: true });
    await cluster.start();
    const g = [
      await h0.createGuest({ name: "vm0", memoryMiB: 64, driver: mode }),
      await h0.createGuest({ name: "vm2", memoryMiB: 64, driver: mode }),
    ];
    const b = await h1.createGuest({ name: "vm1", memoryMiB: 64, driver: mode });
    await cluster.run(async () => {
      const { ch: sch } = await listen(b);
      const server = cluster.spawn("server", async () => {
        // Each request is accepted as it comes; the ESTABLISHED events come between.
        const seen = [];
        while (seen.filter((t) => t === RdmaCmEvent.ESTABLISHED).length < 2) {
          const ev = await sch.getEvent();
          seen.push(ev.type);
          if (ev.type === RdmaCmEvent.CONNECT_REQUEST) {
            await rcQp(ev.id);
            await ev.id.accept({});
          }
          ev.ack();
        }
        assert.equal(seen.filter((t) => t === RdmaCmEvent.CONNECT_REQUEST).length, 2);
      });
      const ends = [];
      for (const d of g) {
        const e = await resolve(d, b.rdmaCm.ip);
        await e.id.connect({});
        ends.push(e);
      }
      const [x, y] = await Promise.all(g.map((d) => d.rdmaCm.agentAddress()));
      assert.equal(x.lid, y.lid);
      assert.equal(ends[0].id.localCommId, ends[1].id.localCommId);
      for (const e of ends) {
        const ev = await e.ch.getEvent();
        assert.equal(rdmaEventStr(ev.type), "RDMA_CM_EVENT_ESTABLISHED", `status ${ev.status}`);
        ev.ack();
      }
      await server;
    });
  });
}

Deno.test("rdma_cm: a DREQ from the peer naming another QP than this side's is dropped (cm_dreq_handler)", async () => {
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const { ch, id, res } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    const { req } = await acceptOne(sch);
    (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
    (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
    // The peer's own service, the right communication IDs, a wrong RemoteQPN.
    const agent = await b.rdmaCm.agent();
    const ids = { localCommId: req.id.localCommId, remoteCommId: id.localCommId };
    const to = await a.rdmaCm.agentAddress();
    await agent.send(to, encodeCm({ kind: "DREQ", ...ids, remoteQpn: res.qp.qpNum + 1 }, 99n));
    await cluster.sleep(1e6);
    assert.equal(ch.pending, 0);
    assert.equal(id.state, "established");
    // With this side's QP number it is a disconnect.
    await agent.send(to, encodeCm({ kind: "DREQ", ...ids, remoteQpn: res.qp.qpNum }, 100n));
    (await next(ch, RdmaCmEvent.DISCONNECTED)).ack();
    assert.equal(id.state, "dreq_rcvd");
  });
});

Deno.test("rdma_cm: a REJ of a request handed to the program carries this side's ID and MessageRejected REQ (cm_format_rej, IB_CM_MRA_REQ_SENT)", async () => {
  // The cma arms its delayed MRA once it has queued CONNECT_REQUEST (CMA_CM_MRA_SETTING), which
  // moves ib_cm to IB_CM_MRA_REQ_SENT: cm_format_rej then sets LocalCommID to the id's own.
  const { cluster, a, b } = await pair("native");
  const rejs = captureCm(cluster, "REJ");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const ids: [number, number][] = [];
    for (const how of ["reject", "destroy"] as const) {
      const { ch, id } = await resolve(a, b.rdmaCm.ip);
      await id.connect({});
      const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
      req.ack();
      if (how === "reject") await req.id.reject();
      else await req.id.destroy();
      const ev = await next(ch, RdmaCmEvent.REJECTED);
      assert.equal(ev.status, 28);
      ev.ack();
      ids.push([req.id.localCommId, id.localCommId]);
    }
    // (the capture sees each packet at every link it crosses)
    const seen = new Set(
      rejs.map((m) => m?.kind === "REJ" && `${[m.localCommId, m.remoteCommId, m.messageRejected]}`),
    );
    assert.deepEqual([...seen], ids.map(([own, peer]) => `${[own, peer, 0]}`));
    assert.ok(ids.every(([own]) => own !== 0));
  });
});

Deno.test("rdma_cm: a REJ crossing this side's DREQ ends it at once as REJECTED, then timewait (cm_rej_handler, IB_CM_DREQ_SENT)", async () => {
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const { ch, id } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    const { req } = await acceptOne(sch);
    (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
    (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
    await id.disconnect();
    (await next(sch, RdmaCmEvent.DISCONNECTED)).ack();
    assert.equal(id.state, "dreq_sent");
    // The peer's service rejects the connection instead of answering the DREQ.
    const agent = await b.rdmaCm.agent();
    await agent.send(
      await a.rdmaCm.agentAddress(),
      encodeCm({
        kind: "REJ",
        localCommId: req.id.localCommId,
        remoteCommId: id.localCommId,
        messageRejected: 2,
        reason: 28,
      }, 7n),
    );
    const ev = await ch.getEvent({ timeoutNs: 1e9 });
    assert.equal(ev.type, RdmaCmEvent.REJECTED);
    assert.equal(ev.status, 28);
    // cm_rej_handler in IB_CM_DREQ_SENT: the connection enters timewait, whatever the reason.
    assert.equal(id.state, "timewait");
    ev.ack();
    await cluster.sleep(TIMEWAIT_NS + 1e6);
    assert.equal(id.state, "rejected");
    assert.equal(ch.pending, 0, "no TIMEWAIT_EXIT after REJECTED");
  });
});

Deno.test("rdma_cm: a REQ abandoned by rdma_destroy_id is rejected with reason 4 and the CA GUID as ARI (cm_destroy_id)", async () => {
  const { cluster, a, b } = await pair("native");
  const rejs = captureCm(cluster, "REJ");
  const guid = await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const { id } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
    const g = id.verbs!.queryDevice().nodeGuid;
    await id.destroyQp();
    await id.destroy();
    (await next(sch, RdmaCmEvent.REJECTED)).ack();
    req.ack();
    return g;
  });
  const rej = rejs[0];
  assert.ok(rej?.kind === "REJ" && rej.reason === 4);
  assert.equal(
    [...rej.ari!].map((x) => x.toString(16).padStart(2, "0")).join(""),
    guid.replace(/:/g, "").padStart(16, "0"),
  );
});

Deno.test("rdma_cm bypass: a REP never answered: the passive side gets UNREACHABLE after the REQ's retries, its QP still in RTS", async () => {
  const { cluster, a, b } = await pair("bypass");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const { id } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
    const r = await rcQp(req.id);
    (a as unknown as { crash(): void }).crash();
    const t0 = cluster.now;
    await req.id.accept({});
    req.ack();
    const ev = await next(sch, RdmaCmEvent.UNREACHABLE);
    assert.equal(ev.status, -110);
    // 16 sends of the REP, each waiting the REQ's CM response timeout (20: 4096 ms).
    const took = cluster.now - t0;
    assert.ok(took >= 16 * 4096e6 && took < 16 * 4096e6 + 1e6, `${took} ns`);
    assert.equal(r.qp.state, QpState.RTS); // cma_ib_handler (IB_CM_REP_ERROR) leaves it
    assert.equal(req.id.state, "unreachable");
    ev.ack();
  });
});

Deno.test("rdma_cm: a REP sent again after the connection is up gets the RTU again (cm_dup_rep_handler)", async () => {
  const { cluster, a, b } = await pair("native");
  const rtus = captureCm(cluster, "RTU");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const { ch, id } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    const { req, qp } = await acceptOne(sch);
    (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
    (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
    const before = new Set(rtus.map((m) => m?.tid)).size;
    assert.equal(before, 1);
    // The passive side's service sends its REP again, as its retry would when the RTU is lost.
    const agent = await b.rdmaCm.agent();
    const rep = encodeCm({
      kind: "REP",
      localCommId: req.id.localCommId,
      remoteCommId: id.localCommId,
      localQpn: qp.qpNum,
      startingPsn: qp.initialPsn,
      responderResources: 0,
      initiatorDepth: 0,
      targetAckDelay: 0,
      rnrRetryCount: 7,
      localCaGuid: 0n,
      privateData: new Uint8Array(196),
    }, 77n);
    await agent.send(await a.rdmaCm.agentAddress(), rep);
    await cluster.sleep(1e6);
    const again = rtus.filter((m) => m?.tid === 77n);
    assert.ok(again.length > 0, "an RTU answers the REP");
    assert.ok(again[0]?.kind === "RTU" && again[0].localCommId === id.localCommId);
    assert.equal(ch.pending, 0); // no second ESTABLISHED
    assert.equal(id.state, "established");
  });
});

Deno.test("rdma_cm: ESTABLISHED carries the REP's parameters on the active side, none on the passive side (cma_ib_handler: RTU)", async () => {
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const { ch, id } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    const { qp } = await acceptOne(sch);
    const active = await next(ch, RdmaCmEvent.ESTABLISHED);
    assert.equal(active.param.qpNum, qp.qpNum);
    active.ack();
    const passive = await next(sch, RdmaCmEvent.ESTABLISHED);
    assert.deepEqual(passive.param, {});
    passive.ack();
  });
});

/**
 * A REQ as `id`'s cma builds one (its addresses, route and port), from QP `qpn` with
 * communication ID `commId`: what a peer that lost its connection and reuses the QP sends.
 */
function reqLike(id: CmId, qpn: number, commId: number): CmReq {
  const pdata = new Uint8Array(92); // the cma header, then the program's private data
  const hv = new DataView(pdata.buffer);
  hv.setUint8(1, 4 << 4); // IPv4
  hv.setUint16(2, id.localAddr!.port);
  hv.setUint32(16, parseIpv4(id.localAddr!.ip)!);
  hv.setUint32(32, parseIpv4(id.remoteAddr!.ip)!);
  const p = id.route!;
  return {
    kind: "REQ",
    localCommId: commId,
    serviceId: 0x0000000001060000n | BigInt(id.remoteAddr!.port),
    localCaGuid: 0n,
    localQpn: qpn,
    responderResources: 0,
    initiatorDepth: 0,
    remoteCmResponseTimeout: 20,
    transportType: 0,
    startingPsn: 1,
    localCmResponseTimeout: 20,
    retryCount: 7,
    pkey: 0xffff,
    pathMtu: p.mtu,
    rnrRetryCount: 7,
    maxCmRetries: 15,
    primaryLocalLid: p.slid,
    primaryRemoteLid: p.dlid,
    primaryLocalGid: p.sgid,
    primaryRemoteGid: p.dgid,
    packetRate: p.rate,
    trafficClass: 0,
    hopLimit: 0,
    sl: p.sl,
    localAckTimeout: p.packetLifeTime + 1,
    privateData: pdata,
  };
}

for (const mode of MODES) {
  Deno.test(`rdma_cm ${mode}: a REQ from a QP still connected here is rejected "stale connection" (10) and the old connection gets a DREQ (cm_match_req)`, async () => {
    // IBTA vol. 1 §12.9.8.3.1: a REQ naming a remote QPN the CM already considers connected
    // shows a stale connection: REJ the REQ, then DREQ the old connection until the DREP.
    const { cluster, a, b } = await pair(mode);
    const rejs = captureCm(cluster, "REJ");
    await cluster.run(async () => {
      const { ch: sch } = await listen(b);
      const { ch, id, res } = await resolve(a, b.rdmaCm.ip);
      await id.connect({});
      const { req, qp } = await acceptOne(sch);
      (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
      (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
      // The active side's kernel lost the connection and its QP number came round again:
      // a REQ from its service, a new communication ID, the same QP.
      const agent = await a.rdmaCm.agent();
      const stale = reqLike(id, res.qp.qpNum, id.localCommId + 1000);
      await agent.send(await b.rdmaCm.agentAddress(), encodeCm(stale, 500n));
      const ev = await ch.getEvent({ timeoutNs: 1e9 }); // the passive side's DREQ
      assert.equal(rdmaEventStr(ev.type), "RDMA_CM_EVENT_DISCONNECTED");
      ev.ack();
      assert.equal(req.id.state, "dreq_sent");
      assert.equal(qp.state, QpState.RTS); // ib_cm's DREQ leaves the QP to the program
      assert.equal(sch.pending, 0, "no CONNECT_REQUEST for the stale REQ");
      await id.disconnect(); // the DREP
      const done = await sch.getEvent({ timeoutNs: 1e9 });
      assert.deepEqual([done.type, done.status], [RdmaCmEvent.DISCONNECTED, 0]);
      done.ack();
    });
    const rej = rejs.find((m) => m.tid === 500n);
    assert.ok(rej?.kind === "REJ", "the stale REQ is answered with a REJ");
    // cm_issue_rej: LocalCommID the REQ's (zero) field, MessageRejected REQ.
    assert.deepEqual([rej.reason, rej.localCommId, rej.messageRejected], [10, 0, 0]);
  });
}

Deno.test('rdma_cm: a REQ again for a connection in timewait is rejected "stale connection" (cm_dup_req_handler)', async () => {
  const { cluster, a, b } = await pair("native");
  const rejs = captureCm(cluster, "REJ");
  const ids = await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const { ch, id, res } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    const { req } = await acceptOne(sch);
    (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
    (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
    await req.id.disconnect();
    (await next(ch, RdmaCmEvent.DISCONNECTED)).ack();
    await id.disconnect(); // the DREP: the passive side enters timewait
    (await next(sch, RdmaCmEvent.DISCONNECTED)).ack();
    assert.equal(req.id.state, "timewait");
    // The connection's REQ again (same service, communication ID and QP).
    const agent = await a.rdmaCm.agent();
    await agent.send(
      await b.rdmaCm.agentAddress(),
      encodeCm(reqLike(id, res.qp.qpNum, id.localCommId), 600n),
    );
    await cluster.sleep(1e6);
    assert.equal(sch.pending, 0);
    return { active: id.localCommId, passive: req.id.localCommId };
  });
  const rej = rejs.find((m) => m.tid === 600n);
  assert.ok(rej?.kind === "REJ", "the REQ in timewait is answered with a REJ");
  // cm_format_rej in IB_CM_TIMEWAIT: this side's ID, MessageRejected "other".
  assert.deepEqual(
    [rej.reason, rej.localCommId, rej.remoteCommId, rej.messageRejected],
    [10, ids.passive, ids.active, 2],
  );
});

Deno.test('rdma_cm: a REP from a QP still connected here is rejected "stale connection" and dropped; the old connection gets a DREQ (cm_rep_handler)', async () => {
  const { cluster, a, b } = await pair("native");
  const rejs = captureCm(cluster, "REJ");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const first = await resolve(a, b.rdmaCm.ip);
    await first.id.connect({});
    const { req, qp } = await acceptOne(sch);
    (await next(first.ch, RdmaCmEvent.ESTABLISHED)).ack();
    (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
    // A second connection's REQ; the passive side's kernel answers with a REP from the QP
    // the first connection still uses (it lost that connection and reuses the QP).
    const second = await resolve(a, b.rdmaCm.ip);
    await second.id.connect({});
    const req2 = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
    req2.ack();
    const agent = await b.rdmaCm.agent();
    const rep = encodeCm({
      kind: "REP",
      localCommId: req2.id.localCommId,
      remoteCommId: second.id.localCommId,
      localQpn: qp.qpNum,
      startingPsn: qp.initialPsn,
      responderResources: 0,
      initiatorDepth: 0,
      targetAckDelay: 0,
      rnrRetryCount: 7,
      localCaGuid: 0n,
      privateData: new Uint8Array(196),
    }, 700n);
    await agent.send(await a.rdmaCm.agentAddress(), rep);
    // The passive side hears the REJ on the request and the DREQ on the old connection.
    const got = [];
    for (let i = 0; i < 2; i++) {
      const ev = await sch.getEvent({ timeoutNs: 1e9 });
      got.push([ev.id === req2.id ? "req2" : ev.id === req.id ? "req1" : "?", ev.type, ev.status]);
      ev.ack();
    }
    assert.deepEqual(got, [
      ["req2", RdmaCmEvent.REJECTED, 10],
      ["req1", RdmaCmEvent.DISCONNECTED, 0],
    ]);
    assert.equal(second.ch.pending, 0, "the REP did not establish the second connection");
    assert.equal(second.id.state, "req_sent"); // the REQ stays outstanding (cm_rep_handler)
    assert.equal(second.res.qp.state, QpState.INIT);
    assert.equal(first.id.state, "dreq_sent");
    await req.id.disconnect(); // the DREP
    (await next(first.ch, RdmaCmEvent.DISCONNECTED)).ack();
    await second.id.destroy();
  });
  const rej = rejs.find((m) => m.tid === 700n);
  assert.ok(rej?.kind === "REJ", "the stale REP is answered with a REJ");
  assert.deepEqual([rej.reason, rej.messageRejected], [10, 1]); // MessageRejected REP
});

for (const mode of MODES) {
  Deno.test(`rdma_cm ${mode}: a request the program answers late: the REQ's retry gets an MRA (24), and the active side waits for the answer past its 16 × 6144 ms (cm_dup_req_handler, cm_mra_handler)`, async () => {
    const { cluster, a, b } = await pair(mode);
    const mras = captureCm(cluster, "MRA");
    await cluster.run(async () => {
      const { ch: sch } = await listen(b);
      const { ch, id } = await resolve(a, b.rdmaCm.ip);
      const t0 = cluster.now;
      await id.connect({});
      const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
      req.ack();
      // The server answers after 120 s: past the 98.3 s the REQ's retries alone would last.
      await cluster.sleep(120e9);
      assert.equal(id.state, "req_sent");
      assert.equal(ch.pending, 0, "no UNREACHABLE while the peer holds the request");
      await rcQp(req.id);
      await req.id.accept({});
      const ev = await ch.getEvent({ timeoutNs: 100e9 });
      assert.equal(rdmaEventStr(ev.type), "RDMA_CM_EVENT_ESTABLISHED");
      ev.ack();
      // The one MRA answered the first retry (6144 ms in): the next try came 67584 ms later.
      assert.ok(cluster.now - t0 > 120e9);
    });
    const mra = mras[0];
    assert.ok(mra?.kind === "MRA", "the retransmitted REQ is answered with an MRA");
    assert.deepEqual([mra.messageMraed, mra.serviceTimeout], [0, 24]);
  });
}

Deno.test("rdma_cm: a request never answered: UNREACHABLE after the first try and 15 tries stretched by the MRA to 67584 ms each", async () => {
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const { ch, id } = await resolve(a, b.rdmaCm.ip);
    const t0 = cluster.now;
    await id.connect({});
    (await next(sch, RdmaCmEvent.CONNECT_REQUEST)).ack(); // and never answered
    const ev = await ch.getEvent({ timeoutNs: 2000e9 });
    assert.equal(rdmaEventStr(ev.type), "RDMA_CM_EVENT_UNREACHABLE");
    assert.equal(ev.status, -110);
    ev.ack();
    // 6144 ms for the first try; the MRA answering the first retry makes it and every later
    // one wait 65536 ms (service timeout 24) + 2048 ms (the local ACK timeout, 19).
    const took = cluster.now - t0;
    const want = 6144e6 + 15 * 67584e6;
    assert.ok(took >= want && took < want + 1e6, `${took} ns, expected ${want}`);
    assert.equal(id.state, "unreachable");
  });
});

Deno.test("rdma_cm: an MRA stretches the REP's wait on the passive side; a second MRA is a duplicate (cm_mra_handler, IB_CM_REP_SENT)", async () => {
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const { id } = await resolve(a, b.rdmaCm.ip);
    // The active side's service loses every REP (as a full receive queue drops datagrams).
    const agent = await a.rdmaCm.agent();
    const deliver = agent.onCm!;
    agent.onCm = async (m, from) => {
      if (m.kind !== "REP") await deliver(m, from);
    };
    await id.connect({});
    const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
    await rcQp(req.id);
    await req.id.accept({});
    req.ack();
    // An MRA for the REP: its try and each resend now wait 65536 + 2048 ms, not the REQ's
    // 4096 ms; a second MRA, asking for far longer, is a duplicate and changes nothing.
    const to = await b.rdmaCm.agentAddress();
    const mra = (serviceTimeout: number) =>
      encodeCm({
        kind: "MRA",
        localCommId: id.localCommId,
        remoteCommId: req.id.localCommId,
        messageMraed: 1,
        serviceTimeout,
      }, 9n);
    const t0 = cluster.now;
    await agent.send(to, mra(24));
    await cluster.sleep(1e9);
    await agent.send(to, mra(31));
    const ev = await sch.getEvent({ timeoutNs: 2000e9 });
    assert.equal(rdmaEventStr(ev.type), "RDMA_CM_EVENT_UNREACHABLE");
    ev.ack();
    const took = cluster.now - t0;
    const want = 16 * 67584e6;
    assert.ok(took >= want && took < want + 1e6, `${took} ns, expected ${want}`);
  });
});

Deno.test("rdma_cm: rdma_reject takes back an accept whose RTU has not come (cm_send_rej_locked, IB_CM_REP_SENT); after ESTABLISHED it is EINVAL", async () => {
  const { cluster, a, b } = await pair("native");
  const rejs = captureCm(cluster, "REJ");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const { ch, id } = await resolve(a, b.rdmaCm.ip);
    // The active side's service loses the REP, so the passive side stays in REP_SENT.
    const agent = await a.rdmaCm.agent();
    const deliver = agent.onCm!;
    agent.onCm = async (m, from) => {
      if (m.kind !== "REP") await deliver(m, from);
    };
    await id.connect({});
    const { req, qp } = await acceptOne(sch);
    assert.equal(req.id.state, "rep_sent");
    await req.id.reject(new TextEncoder().encode("no"));
    // cm_send_rej_locked from IB_CM_REP_SENT enters timewait (from REQ_RCVD it resets to idle).
    assert.equal(req.id.state, "timewait");
    assert.equal(qp.state, QpState.RTS); // librdmacm's rdma_reject leaves the QP alone
    const ev = await ch.getEvent({ timeoutNs: 1e9 });
    assert.deepEqual([ev.type, ev.status], [RdmaCmEvent.REJECTED, 28]);
    assert.equal(new TextDecoder().decode(ev.param.privateData!.subarray(0, 2)), "no");
    ev.ack();
    await cluster.sleep(TIMEWAIT_NS);
    assert.equal(req.id.state, "rejected");
    // The REP's resends stopped with the REJ: nothing more comes to the passive side (and no
    // TIMEWAIT_EXIT: the cma passes it on only after DISCONNECTED).
    await cluster.sleep(20e9);
    assert.equal(sch.pending, 0);
    // An established connection cannot be rejected.
    agent.onCm = deliver;
    const r = await resolve(a, b.rdmaCm.ip);
    await r.id.connect({});
    const est = await acceptOne(sch);
    (await next(r.ch, RdmaCmEvent.ESTABLISHED)).ack();
    (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
    await assert.rejects(
      () => est.req.id.reject(),
      (e) => e instanceof VerbsError && e.code === "EINVAL",
    );
  });
  const rej = rejs.find((m) => m.kind === "REJ" && m.reason === 28);
  assert.ok(rej?.kind === "REJ");
  assert.equal(rej.messageRejected, 2); // cm_format_rej in IB_CM_REP_SENT: "other"
});

Deno.test("rdma_cm: a REQ no listener of the port takes (its cma header not IPv4 or for another address, or not RC) is rejected 28 by the cma; a port nobody listens on gets 8", async () => {
  // cma_ib_id_from_event (cma_match_private_data, cma_get_net_dev) finds no listener: the
  // cma's REQ handler fails and ib_cm's cm_destroy_id rejects from IB_CM_REQ_RCVD (REJ 28,
  // LocalCommID 0); cm_match_req rejects a service ID nobody listens on (REJ 8).
  const { cluster, a, b } = await pair("native");
  const rejs = captureCm(cluster, "REJ");
  await cluster.run(async () => {
    const specific = await listen(b); // bound to b's address
    const anyCh = b.rdmaCm.createEventChannel();
    const wildcard = await anyCh.createId();
    await wildcard.bindAddr({ ip: "0.0.0.0", port: PORT + 1 });
    await wildcard.listen(4);
    const { id, res } = await resolve(a, b.rdmaCm.ip);
    const agent = await a.rdmaCm.agent();
    const to = await b.rdmaCm.agentAddress();
    const send = async (tid: bigint, port: number, edit: (hv: DataView) => void) => {
      const req = reqLike(id, res.qp.qpNum + Number(tid), 3000 + Number(tid));
      req.serviceId = 0x0000000001060000n | BigInt(port);
      edit(new DataView(req.privateData.buffer));
      await agent.send(to, encodeCm(req, tid));
    };
    const elsewhere = (hv: DataView) => hv.setUint32(32, parseIpv4("10.0.9.9")!);
    const ipv6 = (hv: DataView) => hv.setUint8(1, 6 << 4);
    await send(1n, PORT, elsewhere);
    await send(2n, PORT, ipv6);
    await send(3n, PORT + 1, elsewhere);
    await send(4n, PORT + 1, ipv6);
    await send(5n, PORT + 2, () => {}); // nobody listens
    // An unreliable-connection (UC) request to an RDMA_PS_TCP listener.
    const uc = reqLike(id, res.qp.qpNum + 6, 3006);
    uc.transportType = 1;
    await agent.send(to, encodeCm(uc, 6n));
    await cluster.sleep(1e6);
    assert.equal(specific.ch.pending, 0);
    assert.equal(anyCh.pending, 0);
  });
  const got = [1n, 2n, 3n, 4n, 5n, 6n].map((tid) => {
    const m = rejs.find((r) => r.tid === tid);
    return m?.kind === "REJ" ? [m.reason, m.localCommId, m.messageRejected] : undefined;
  });
  assert.deepEqual(got, [[28, 0, 0], [28, 0, 0], [28, 0, 0], [28, 0, 0], [8, 0, 0], [28, 0, 0]]);
});

Deno.test("rdma_cm: rdma_listen with a negative backlog listens with ucma's max_backlog (1024), as with 0", async () => {
  // ucma_listen: rdma_ucm_listen's backlog is a __u32 and "backlog <= 0 || backlog >
  // max_backlog" becomes max_backlog; only a non-integer is refused.
  const { cluster, b } = await pair("native");
  await cluster.run(async () => {
    const ch = b.rdmaCm.createEventChannel();
    for (const backlog of [-1, 0, 5000]) {
      const l = await ch.createId();
      await l.listen(backlog);
      assert.equal(l.state, "listen");
      let held = 0;
      while (l.takeBacklog()) held++;
      assert.equal(held, 1024, `backlog ${backlog}`);
      await l.destroy();
    }
    const l = await ch.createId();
    await assert.rejects(() => l.listen(1.5), /not an integer/);
  });
});

Deno.test("rdma_cm: rdma_bind_addr to the domain's address binds the id to its device; to 0.0.0.0 it does not (rdma_bind_addr(3))", async () => {
  const { cluster, a } = await pair("native");
  await cluster.run(async () => {
    const ch = a.rdmaCm.createEventChannel();
    const specific = await ch.createId();
    await specific.bindAddr({ ip: a.rdmaCm.ip, port: 0 });
    assert.ok(specific.verbs, "bound to a specific address: id->verbs is set");
    assert.equal(specific.verbs, await a.rdmaCm.context());
    const wildcard = await ch.createId();
    await wildcard.bindAddr({ ip: "0.0.0.0", port: 0 });
    assert.equal(wildcard.verbs, undefined);
  });
});

// rdma_bind_addr (drivers/infiniband/core/cma.c) copies the address given into the id's source
// address, so rdma_get_local_addr(3) of an id bound to INADDR_ANY — a listener on every address,
// or an active id before its resolution — reads 0.0.0.0; addr_handler puts the resolved source in
// its place at ADDR_RESOLVED (and restores the zero address on ADDR_ERROR), after which a bind of
// that address and port is EADDRINUSE (cma_check_port compares the current source addresses).
for (const mode of MODES) {
  Deno.test(`rdma_cm ${mode}: an id bound to 0.0.0.0 reads 0.0.0.0 as its local address until the address resolves (rdma_bind_addr, addr_handler)`, async () => {
    const { cluster, a, b } = await pair(mode);
    await cluster.run(async () => {
      const sch = b.rdmaCm.createEventChannel();
      const listener = await sch.createId();
      await listener.bindAddr({ ip: "0.0.0.0", port: PORT });
      await listener.listen(1);
      assert.deepEqual(listener.localAddr, { ip: "0.0.0.0", port: PORT });
      const auto = await sch.createId();
      await auto.listen(1); // rdma_listen on an idle id binds it to the zero address
      assert.deepEqual(auto.localAddr, { ip: "0.0.0.0", port: 32768 });
      const ch = a.rdmaCm.createEventChannel();
      const id = await ch.createId();
      await id.bindAddr({ ip: "0.0.0.0", port: 0 });
      const port = id.localAddr!.port;
      assert.deepEqual(id.localAddr, { ip: "0.0.0.0", port });
      // An address nobody holds: ADDR_ERROR, and the id's source is the zero address again.
      await id.resolveAddr({ ip: "10.0.0.99", port: PORT }, { timeoutMs: 100 });
      assert.equal(id.localAddr!.ip, "0.0.0.0");
      (await next(ch, RdmaCmEvent.ADDR_ERROR)).ack();
      assert.deepEqual(id.localAddr, { ip: "0.0.0.0", port });
      await id.resolveAddr({ ip: b.rdmaCm.ip, port: PORT });
      (await next(ch, RdmaCmEvent.ADDR_RESOLVED)).ack();
      assert.deepEqual(id.localAddr, { ip: a.rdmaCm.ip, port }, "the route's source");
      // rdma_resolve_addr on an idle id binds it to the zero address first (cma_bind_addr), then
      // the same: 0.0.0.0 while the query runs and after ADDR_ERROR, the source once resolved.
      const other = await ch.createId();
      const idle = await ch.createId();
      await idle.resolveAddr({ ip: "10.0.0.99", port: PORT }, { timeoutMs: 100 });
      const idlePort = idle.localAddr!.port;
      assert.deepEqual(idle.localAddr, { ip: "0.0.0.0", port: idlePort });
      await assert.rejects( // cma_check_port: a bound zero address takes the port from all
        () => other.bindAddr({ ip: a.rdmaCm.ip, port: idlePort }),
        (e: VerbsError) => e.code === "EADDRNOTAVAIL",
      );
      (await next(ch, RdmaCmEvent.ADDR_ERROR)).ack();
      assert.deepEqual(idle.localAddr, { ip: "0.0.0.0", port: idlePort });
      await idle.resolveAddr({ ip: b.rdmaCm.ip, port: PORT });
      (await next(ch, RdmaCmEvent.ADDR_RESOLVED)).ack();
      assert.deepEqual(idle.localAddr, { ip: a.rdmaCm.ip, port: idlePort });
      await idle.destroy();
      await assert.rejects(
        () => other.bindAddr({ ip: a.rdmaCm.ip, port }),
        (e: VerbsError) => e.code === "EADDRINUSE",
      );
      await id.resolveRoute();
      (await next(ch, RdmaCmEvent.ROUTE_RESOLVED)).ack();
      await rcQp(id);
      await id.connect({});
      const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
      // The REQ's cma header carries the resolved source; the new id's addresses are the REQ's.
      assert.deepEqual(req.id.localAddr, { ip: b.rdmaCm.ip, port: PORT });
      assert.deepEqual(req.id.remoteAddr, { ip: a.rdmaCm.ip, port });
      req.ack();
    });
  });
}

// librdmacm processes the REP in user space (librdmacm/cma.c): the kernel reports
// RDMA_CM_EVENT_CONNECT_RESPONSE for a user-space id (cma_ib_handler, IB_CM_REP_RECEIVED: the
// kernel id has no QP), and rdma_get_cm_event, for an id with a QP, runs
// ucma_process_conn_resp — QP to RTR, RTS, then UCMA_CMD_ACCEPT, whose rdma_accept →
// cma_rep_recv → ib_send_cm_rtu sends the RTU — and hands the program ESTABLISHED. Until the
// program reads the event, no RTU goes out and the QP stays in INIT.
for (const mode of MODES) {
  Deno.test(`rdma_cm ${mode}: the active side's RTU goes out when the program reads the REP's event (ucma_process_conn_resp), not before`, async () => {
    const { cluster, a, b } = await pair(mode);
    const rtus = captureCm(cluster, "RTU");
    await cluster.run(async () => {
      const { ch: sch } = await listen(b);
      const { ch, id, res } = await resolve(a, b.rdmaCm.ip);
      await id.connect({});
      await acceptOne(sch);
      await cluster.sleep(1e9); // the program does other things; the REP came long ago
      assert.equal(id.state, "rep_rcvd");
      assert.equal(res.qp.state, QpState.INIT, "librdmacm moves the QP when it reads the event");
      assert.equal(rtus.length, 0, "no RTU before the program reads the event");
      assert.equal(sch.pending, 0, "the passive side is not established yet");
      const t0 = cluster.now;
      const ev = await next(ch, RdmaCmEvent.ESTABLISHED);
      assert.equal(ev.status, 0);
      ev.ack();
      assert.equal(res.qp.state, QpState.RTS);
      assert.equal(id.state, "established");
      const est = await next(sch, RdmaCmEvent.ESTABLISHED);
      est.ack();
      assert.ok(cluster.now - t0 < 1e6, "the passive side is established right after");
      // (the capture sees a packet at each port it leaves: count RTUs by transaction)
      assert.equal(new Set(rtus.map((m) => m.tid)).size, 1, "the RTU went out as it was read");
    });
  });
}

Deno.test("rdma_cm: a REP repeated while the program has not read the REP's event gets an MRA for the REP (cm_dup_rep_handler, IB_CM_MRA_REP_SENT)", async () => {
  const { cluster, a, b } = await pair("native");
  const mras = captureCm(cluster, "MRA");
  const rtus = captureCm(cluster, "RTU");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const { ch, id } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    const { req } = await acceptOne(sch);
    // The passive side resends its REP after the REQ's response time (4096 ms); the active
    // side's ib_cm is in MRA_REP_SENT (the cma's delayed MRA, CMA_CM_MRA_SETTING) and answers
    // with the MRA: the passive side then waits 65536 + 2048 ms for each try.
    await cluster.sleep(10e9);
    assert.equal(id.state, "rep_rcvd");
    assert.equal(req.id.state, "rep_sent");
    assert.equal(rtus.length, 0);
    const mra = mras[0];
    assert.ok(mra?.kind === "MRA", "the repeated REP is answered with an MRA");
    assert.deepEqual(
      [mra.messageMraed, mra.serviceTimeout, mra.localCommId, mra.remoteCommId],
      [1, 24, id.localCommId, req.id.localCommId],
    );
    (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
    (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
    assert.equal(new Set(rtus.map((m) => m.tid)).size, 1);
  });
});

Deno.test("rdma_cm: a QP that cannot follow the REP: CONNECT_ERROR when the event is read, no RTU; rdma_destroy_id then rejects the REP (28, MessageRejected REP)", async () => {
  const { cluster, a, b } = await pair("native");
  const rejs = captureCm(cluster, "REJ");
  const rtus = captureCm(cluster, "RTU");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    const { ch, id, res } = await resolve(a, b.rdmaCm.ip);
    await id.connect({});
    const { req } = await acceptOne(sch);
    await cluster.sleep(1e6);
    assert.equal(id.state, "rep_rcvd");
    // rdma_disconnect now: librdmacm moves the QP to ERR; the kernel's DREQ and DREP both
    // fail in IB_CM_MRA_REP_SENT, so nothing is sent.
    await id.disconnect();
    assert.equal(res.qp.state, QpState.ERR);
    const ev = await ch.getEvent();
    // ucma_process_conn_resp: the QP cannot go to RTR: CONNECT_ERROR, no UCMA_CMD_ACCEPT.
    assert.equal(rdmaEventStr(ev.type), "RDMA_CM_EVENT_CONNECT_ERROR");
    assert.ok(ev.status < 0);
    ev.ack();
    await cluster.sleep(1e6);
    assert.equal(rtus.length, 0);
    assert.equal(rejs.length, 0, "librdmacm sends no REJ of its own");
    await id.destroyQp();
    await id.destroy(); // cm_destroy_id in IB_CM_MRA_REP_SENT: REJ "consumer defined"
    const rej = await next(sch, RdmaCmEvent.REJECTED);
    assert.equal(rej.status, 28);
    assert.equal(rej.id, req.id);
    rej.ack();
    const r = rejs[0];
    assert.ok(r?.kind === "REJ");
    // cm_format_rej in IB_CM_MRA_REP_SENT: this side's ID, MessageRejected REP.
    assert.deepEqual([r.reason, r.messageRejected, r.localCommId], [28, 1, id.localCommId]);
  });
});

/** A REJ "stale connection" (10) from `from`'s connection manager to `to`'s, as cm_issue_rej sends. */
async function sendRej(
  from: Domain,
  to: Domain,
  f: { localCommId: number; remoteCommId: number; messageRejected: number },
): Promise<void> {
  const agent = await from.rdmaCm.agent();
  await agent.send(await to.rdmaCm.agentAddress(), encodeCm({ kind: "REJ", ...f, reason: 10 }, 5n));
}

// cm_rej_handler (drivers/infiniband/core/cm.c): a REJ with reason "stale connection" (10)
// puts the connection in timewait (cm_enter_timewait) where any other reason, before the
// connection is up, resets it to idle; once a REP was taken (REP_RCVD, MRA_REP_SENT), or the
// connection is established or its DREQ out, any REJ puts it in timewait. IBTA vol. 1
// §12.9.8.3.1: the QP the stale connection used waits out timewait before it is used again.
for (const mode of MODES) {
  Deno.test(`rdma_cm ${mode}: a REJ "stale connection" (10) puts the rejected side in timewait for one local ACK timeout (cm_rej_handler)`, async () => {
    const { cluster, a, b } = await pair(mode);
    await cluster.run(async () => {
      const { ch: sch } = await listen(b);
      const { ch, id, res } = await resolve(a, b.rdmaCm.ip);
      await id.connect({});
      const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
      req.ack();
      // The passive side's connection manager finds the REQ's QP stale (cm_match_req) and
      // answers as cm_issue_rej does: LocalCommID 0, MessageRejected REQ, reason 10.
      await sendRej(b, a, { localCommId: 0, remoteCommId: id.localCommId, messageRejected: 0 });
      const ev = await next(ch, RdmaCmEvent.REJECTED);
      const t0 = cluster.now;
      assert.equal(ev.status, 10);
      ev.ack();
      assert.equal(id.state, "timewait");
      assert.equal(res.qp.state, QpState.ERR);
      await cluster.sleep(TIMEWAIT_NS - 1e6);
      assert.equal(id.state, "timewait");
      await cluster.sleep(2e6);
      assert.equal(id.state, "rejected", "timewait over");
      assert.ok(cluster.now - t0 >= TIMEWAIT_NS);
      // No TIMEWAIT_EXIT: the cma passes it on only in RDMA_CM_DISCONNECT.
      assert.equal(ch.pending, 0);
      await req.id.destroy();
      await id.destroy();
    });
  });
}

Deno.test('rdma_cm: a passive side rejected "stale connection" (10) enters timewait too (cm_rej_handler, IB_CM_MRA_REQ_SENT)', async () => {
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const { ch: sch } = await listen(b);
    // Reason 10 on a request handed to the passive side's program (IB_CM_MRA_REQ_SENT): timewait.
    const s = await resolve(a, b.rdmaCm.ip);
    await s.id.connect({});
    const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
    req.ack();
    const ids = { localCommId: s.id.localCommId, remoteCommId: req.id.localCommId };
    await sendRej(a, b, { ...ids, messageRejected: 1 });
    const ev = await next(sch, RdmaCmEvent.REJECTED);
    assert.equal(ev.status, 10);
    ev.ack();
    assert.equal(req.id.state, "timewait");
    await cluster.sleep(TIMEWAIT_NS + 1e6);
    assert.equal(req.id.state, "rejected");
  });
});

Deno.test("rdma_cm: an SA answer with an error status (no path) ends rdma_resolve_route in ROUTE_ERROR -EINVAL (ib_sa's recv_handler)", async () => {
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const ch = a.rdmaCm.createEventChannel();
    const id = await ch.createId();
    await id.resolveAddr({ ip: b.rdmaCm.ip, port: PORT });
    (await next(ch, RdmaCmEvent.ADDR_RESOLVED)).ack();
    // The subnet administrator finds no path between the two ports (as OpenSM answers a
    // PathRecord Get it has no record for: MAD status ERR_NO_RECORDS).
    cluster.ipoib.pathResolver = () => undefined;
    await id.resolveRoute();
    const ev = await next(ch, RdmaCmEvent.ROUTE_ERROR);
    // drivers/infiniband/core/sa_query.c recv_handler: a response whose MAD status is not 0
    // reaches the query's callback as -EINVAL, which cma_query_handler reports as the status.
    assert.equal(ev.status, -22);
    ev.ack();
    assert.equal(id.state, "addr_resolved"); // ROUTE_QUERY → ADDR_RESOLVED: the route may be asked again
    assert.equal(id.route, undefined);
  });
});

Deno.test("rdma_cm: port 0 takes a free port of 32768..60999, wrapping; none free is EADDRNOTAVAIL (cma_alloc_any_port)", async () => {
  const { cluster, a } = await pair("native");
  await cluster.run(async () => {
    const ch = a.rdmaCm.createEventChannel();
    const taken = await ch.createId();
    await taken.bindAddr({ ip: a.rdmaCm.ip, port: 40000 }); // a port of the range bound by number
    const ids: CmId[] = [];
    for (let i = 0; i < 60999 - 32768; i++) {
      const id = await ch.createId();
      await id.bindAddr({ ip: a.rdmaCm.ip, port: 0 });
      ids.push(id);
    }
    const ports = ids.map((id) => id.localAddr!.port);
    assert.deepEqual([ports[0], Math.min(...ports), Math.max(...ports)], [32768, 32768, 60999]);
    assert.equal(new Set(ports).size, ports.length);
    assert.ok(!ports.includes(40000));
    const extra = await ch.createId();
    await assert.rejects(
      () => extra.bindAddr({ ip: a.rdmaCm.ip, port: 0 }),
      (e) =>
        e instanceof VerbsError && e.code === "EADDRNOTAVAIL" && /32768\.\.60999/.test(e.message),
    );
    assert.equal(extra.state, "idle");
    // A port given back is found again: the search wraps to the range's start.
    await ids[5].destroy();
    await extra.bindAddr({ ip: a.rdmaCm.ip, port: 0 });
    assert.equal(extra.localAddr!.port, 32773);
  });
});

Deno.test("rdma_cm: rdma_disconnect on a listener: 0 when bound to an address (its ib_cm listen id), EINVAL on 0.0.0.0 (no device)", async () => {
  const { cluster, b } = await pair("native");
  await cluster.run(async () => {
    const { ch, listener } = await listen(b); // bound to b's address: id->verbs set
    await listener.disconnect(); // cma.c rdma_disconnect: a DREQ, then a DREP, refused; 0
    assert.equal(listener.state, "listen");
    const wild = await ch.createId();
    await wild.bindAddr({ ip: "0.0.0.0", port: PORT + 1 });
    await wild.listen(1);
    await assert.rejects(
      () => wild.disconnect(),
      (e) => e instanceof VerbsError && e.code === "EINVAL",
    );
  });
});

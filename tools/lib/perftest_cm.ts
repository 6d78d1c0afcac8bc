/**
 * perftest's rdma_cm paths (perftest 4.5, `perftest_communication.c`) over
 * the model's connection manager (`drivers/verbs/rdma_cm.ts`):
 *
 * - `-z` (and `-R`): the connection data (`struct pingpong_dest`, 56 bytes)
 *   goes over an rdma_cm RC connection instead of a TCP socket: the
 *   server (the second endpoint) binds the port and listens, the client
 *   resolves the address and route and connects, each side with one QP
 *   of depth 1 (`create_comm_struct`, `rdma_server_connect`,
 *   `rdma_client_connect`); `ctx_hand_shake` is then a SEND each way per
 *   test QP (`rdma_write_keys`/`rdma_read_keys`).
 * - `-R`: the test's QPs themselves are connected by rdma_cm
 *   (`create_rdma_cm_connection`): one id per QP; the client resolves
 *   every address, then on each `ROUTE_RESOLVED` creates the QP and
 *   connects; the server creates the QP and accepts on each
 *   `CONNECT_REQUEST`, and then sets the RC QP's minimum RNR timer to 12
 *   as perftest does. `-T` sets the ids' TOS after the address resolves.
 *
 * @module
 */
import {
  type CmEvent,
  type CmId,
  type Context,
  type Domain,
  type EventChannel,
  type Pd,
  type Qp,
  QpState,
  QpType,
  RdmaCmEvent,
  rdmaEventStr,
  SendFlags,
  WcStatus,
  WrOpcode,
} from "../../mod.ts";
import type { QpInitAttr } from "../../drivers/verbs/pd.ts";
import { ToolError } from "./api.ts";
import type { PerftestConfig } from "./perftest_args.ts";

/**
 * `sizeof(struct pingpong_dest)` on x86-64: lid, out_reads, qpn, psn, rkey,
 * (pad), vaddr, gid[16], srqn, gid_index.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PINGPONG_DEST_BYTES } from "./perftest_cm.ts";
 * assert.equal(PINGPONG_DEST_BYTES, 56);
 * ```
 */
export const PINGPONG_DEST_BYTES = 56;

/**
 * perftest's `struct pingpong_dest`, the fields xenib uses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeDest, type PingpongDest } from "./perftest_cm.ts";
 * const d: PingpongDest = { lid: 1, outReads: 1, qpn: 0x48, psn: 7, rkey: 0x100, vaddr: 0x1000n };
 * assert.equal(encodeDest(d)[8], 0x48);
 * ```
 */
export interface PingpongDest {
  lid: number;
  outReads: number;
  qpn: number;
  psn: number;
  rkey: number;
  vaddr: bigint;
}

/**
 * The struct's bytes as perftest sends them (host order, little-endian).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeDest, encodeDest } from "./perftest_cm.ts";
 * const d = { lid: 3, outReads: 1, qpn: 0x4a, psn: 0xabcdef, rkey: 0x2000, vaddr: 0x7f000n };
 * assert.deepEqual(decodeDest(encodeDest(d)), d);
 * ```
 */
export function encodeDest(d: PingpongDest): Uint8Array {
  const out = new Uint8Array(PINGPONG_DEST_BYTES);
  const v = new DataView(out.buffer);
  v.setInt32(0, d.lid, true);
  v.setInt32(4, d.outReads, true);
  v.setInt32(8, d.qpn, true);
  v.setInt32(12, d.psn, true);
  v.setUint32(16, d.rkey, true);
  v.setBigUint64(24, d.vaddr, true);
  return out;
}

/**
 * The struct from its bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeDest } from "./perftest_cm.ts";
 * assert.equal(decodeDest(new Uint8Array(56)).qpn, 0);
 * ```
 */
export function decodeDest(b: Uint8Array): PingpongDest {
  const v = new DataView(b.buffer, b.byteOffset, PINGPONG_DEST_BYTES);
  return {
    lid: v.getInt32(0, true),
    outReads: v.getInt32(4, true),
    qpn: v.getInt32(8, true),
    psn: v.getInt32(12, true),
    rkey: v.getUint32(16, true),
    vaddr: v.getBigUint64(24, true),
  };
}

function cmFail(what: string, ev?: CmEvent): never {
  const detail = ev
    ? `RDMA CM event error: Event: ${rdmaEventStr(ev.type)}; error: ${ev.status}. `
    : "";
  throw new ToolError(`rdma_cm: ${detail}${what}`);
}

async function expect(ch: EventChannel, type: number, what: string): Promise<CmEvent> {
  const ev = await ch.getEvent();
  if (ev.type !== type) {
    ev.ack();
    cmFail(what, ev);
  }
  return ev;
}

/** One side of the comm connection. */
interface CommEnd {
  ch: EventChannel;
  id: CmId;
  pd: Pd;
  qp: Qp;
  buf: number;
  lkey: number;
  release: () => Promise<void>;
}

async function commEnd(id: CmId, ctx: Context, dom: Domain): Promise<Omit<CommEnd, "ch" | "id">> {
  const pd = await ctx.allocPd();
  const buf = dom.memory.alloc(4096, 4096);
  const mr = await pd.regMr(buf, 4096, 1 /* LOCAL_WRITE */);
  const cq = await ctx.createCq(2);
  const qp = await id.createQp(pd, {
    type: QpType.RC,
    sendCq: cq,
    recvCq: cq,
    cap: { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
  });
  // post_one_recv_wqe: the first message's receive is up before the connection.
  qp.postRecv({ wrId: 0n, sgList: [{ addr: buf, length: PINGPONG_DEST_BYTES, lkey: mr.lkey }] });
  return {
    pd,
    qp,
    buf,
    lkey: mr.lkey,
    release: async () => {
      await id.destroyQp();
      await cq.destroy();
      await mr.dereg();
      await pd.dealloc();
      dom.memory.free(buf);
    },
  };
}

/**
 * The `-z`/`-R` data exchange channel between the client `a` and the server
 * `b`: an rdma_cm RC connection of one QP each.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CommChannel } from "./perftest_cm.ts";
 * const closed: string[] = [];
 * const fake: CommChannel = {
 *   exchange: (c, s) => Promise.resolve([s, c]),
 *   close: () => Promise.resolve(void closed.push("closed")),
 * };
 * await fake.close();
 * assert.deepEqual(closed, ["closed"]);
 * ```
 */
export interface CommChannel {
  /**
   * `ctx_hand_shake` for one QP: the client sends its dest and reads the
   * server's; returns [what the client got, what the server got].
   */
  exchange(client: PingpongDest, server: PingpongDest): Promise<[PingpongDest, PingpongDest]>;
  close(): Promise<void>;
}

/**
 * Open the exchange channel (`create_comm_struct` + `establish_connection`
 * with `use_rdma_cm`): the server listens on `c.port`, the client connects.
 * Run inside the cluster's `run`; `spawn` starts the server's thread.
 */
export async function openCommChannel(
  c: PerftestConfig,
  a: Domain,
  b: Domain,
  spawn: <T>(name: string, f: () => Promise<T>) => Promise<T>,
): Promise<CommChannel> {
  const sch = b.rdmaCm.createEventChannel();
  const listener = await sch.createId();
  await listener.bindAddr({ ip: b.rdmaCm.ip, port: c.port });
  await listener.listen(c.qps);
  const server = spawn(`${b.name} rdma_server_connect`, async (): Promise<CommEnd> => {
    const ev = await expect(
      sch,
      RdmaCmEvent.CONNECT_REQUEST,
      "bad event waiting for connect request",
    );
    const end = await commEnd(ev.id, ev.id.verbs!, b);
    await ev.id.accept({ retryCount: c.retryCount, rnrRetryCount: 7 });
    ev.ack();
    (await expect(sch, RdmaCmEvent.ESTABLISHED, "Unable to perform rdma_server function")).ack();
    await listener.destroy();
    return { ch: sch, id: ev.id, ...end };
  });
  const ch = a.rdmaCm.createEventChannel();
  const id = await ch.createId();
  await id.resolveAddr({ ip: b.rdmaCm.ip, port: c.port }, { timeoutMs: 2000 });
  (await expect(ch, RdmaCmEvent.ADDR_RESOLVED, "rdma_resolve_addr failed")).ack();
  await id.resolveRoute(2000);
  (await expect(ch, RdmaCmEvent.ROUTE_RESOLVED, "rdma_resolve_route failed")).ack();
  const end = await commEnd(id, id.verbs!, a);
  await id.connect({ retryCount: c.retryCount, rnrRetryCount: 7 });
  (await expect(ch, RdmaCmEvent.ESTABLISHED, "Unable to perform rdma_client function")).ack();
  const client: CommEnd = { ch, id, ...end };
  const srv = await server;
  const send = async (from: CommEnd, dom: Domain, bytes: Uint8Array) => {
    dom.memory.write(from.buf + 2048, bytes);
    from.qp.postSend({
      wrId: 1n,
      opcode: WrOpcode.SEND,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: from.buf + 2048, length: bytes.length, lkey: from.lkey }],
    });
    const [wc] = await from.qp.sendCq.pollUntil(1);
    if (wc.status !== WcStatus.SUCCESS) cmFail(`Bad wc status ${wc.status}`);
  };
  const recv = async (to: CommEnd, dom: Domain): Promise<PingpongDest> => {
    const [wc] = await to.qp.recvCq.pollUntil(1);
    if (wc.status !== WcStatus.SUCCESS) cmFail(`Bad wc status -- ${wc.status} -- ${wc.wrId}`);
    const d = decodeDest(dom.memory.read(to.buf, PINGPONG_DEST_BYTES));
    to.qp.postRecv({
      wrId: 0n,
      sgList: [{ addr: to.buf, length: PINGPONG_DEST_BYTES, lkey: to.lkey }],
    });
    return d;
  };
  return {
    async exchange(cd, sd) {
      // The client writes first, then reads (ctx_hand_shake with a servername).
      await send(client, a, encodeDest(cd));
      const atServer = await recv(srv, b);
      await send(srv, b, encodeDest(sd));
      const atClient = await recv(client, a);
      return [atClient, atServer];
    },
    async close() {
      await client.id.disconnect();
      (await expect(srv.ch, RdmaCmEvent.DISCONNECTED, "Failed to disconnect")).ack();
      await srv.id.disconnect();
      (await expect(client.ch, RdmaCmEvent.DISCONNECTED, "Failed to disconnect")).ack();
      for (const e of [client, srv]) {
        await e.release();
        await e.id.destroy();
        e.ch.destroy();
      }
    },
  };
}

/**
 * What `-R` needs of a side: the PD and the QP attributes its test QPs are
 * created with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CmSide } from "./perftest_cm.ts";
 * const n = (s: Pick<CmSide, "qps">) => s.qps.length;
 * assert.equal(n({ qps: [] }), 0); // filled as the ids connect
 * ```
 */
export interface CmSide {
  dom: Domain;
  pd: Pd;
  init: QpInitAttr;
  /** The created QPs, in id order. */
  qps: Qp[];
}

/**
 * The test's QPs connected by rdma_cm (`-R`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CmQps } from "./perftest_cm.ts";
 * const n = (x: Pick<CmQps, "clientIds">) => x.clientIds.length;
 * assert.equal(n({ clientIds: [] }), 0);
 * ```
 */
export interface CmQps {
  clientIds: CmId[];
  serverIds: CmId[];
  /**
   * `rdma_cm_disconnect_nodes`: the client disconnects every id and waits
   * for each DISCONNECTED; the server answers (the DREPs) and destroys.
   */
  close(): Promise<void>;
}

/**
 * `create_rdma_cm_connection` for `-R`: `client.qps` and `server.qps` are
 * filled with QPs the connection manager brought to RTS. Run inside the
 * cluster's `run`.
 */
export async function connectWithRdmaCm(
  c: PerftestConfig,
  client: CmSide,
  server: CmSide,
  spawn: <T>(name: string, f: () => Promise<T>) => Promise<T>,
  outReads: number,
): Promise<CmQps> {
  const param = (outReads: number) => ({
    responderResources: c.verb === "read" || c.verb === "atomic" ? outReads : 0,
    initiatorDepth: c.verb === "read" || c.verb === "atomic" ? outReads : 0,
    retryCount: c.retryCount,
    rnrRetryCount: c.retryCount,
  });
  const sch = server.dom.rdmaCm.createEventChannel();
  const listener = await sch.createId();
  await listener.bindAddr({ ip: server.dom.rdmaCm.ip, port: c.port });
  await listener.listen(c.qps);
  const serverIds: CmId[] = [];
  const srv = spawn(`${server.dom.name} rdma_cm_server_connection`, async () => {
    while (serverIds.length < c.qps) {
      const ev = await expect(sch, RdmaCmEvent.CONNECT_REQUEST, "Failed to handle RDMA CM event.");
      const qp = await ev.id.createQp(server.pd, server.init);
      server.qps.push(qp);
      await ev.id.accept(param(outReads));
      // perftest: ibv_modify_qp(qp, {.min_rnr_timer = MIN_RNR_TIMER}, IBV_QP_MIN_RNR_TIMER).
      await qp.modify({ state: QpState.RTS, minRnrTimer: 12 });
      serverIds.push(ev.id);
      ev.ack();
    }
    await listener.destroy();
  });
  const ch = client.dom.rdmaCm.createEventChannel();
  const clientIds: CmId[] = [];
  for (let i = 0; i < c.qps; i++) {
    const id = await ch.createId();
    clientIds.push(id);
    await id.resolveAddr({ ip: server.dom.rdmaCm.ip, port: c.port }, { timeoutMs: 2000 });
  }
  // rdma_cm_connect_events: every event is handled as it comes, in order.
  const byId = new Map(clientIds.map((id, i) => [id, i]));
  const qps: (Qp | undefined)[] = [];
  let connectsLeft = c.qps;
  while (connectsLeft > 0) {
    const ev = await ch.getEvent();
    const i = byId.get(ev.id)!;
    switch (ev.type) {
      case RdmaCmEvent.ADDR_RESOLVED:
        if (c.tos !== undefined) await ev.id.setTos(c.tos);
        await ev.id.resolveRoute(2000);
        break;
      case RdmaCmEvent.ROUTE_RESOLVED:
        qps[i] = await ev.id.createQp(client.pd, client.init);
        await ev.id.connect(param(outReads));
        break;
      case RdmaCmEvent.ESTABLISHED:
        connectsLeft--;
        break;
      default:
        ev.ack();
        cmFail("Failed to create RDMA CM connection.", ev);
    }
    ev.ack();
  }
  await srv;
  client.qps.push(...(qps as Qp[]));
  return {
    clientIds,
    serverIds,
    async close() {
      for (const id of clientIds) await id.disconnect();
      // The server never waited for its ESTABLISHED events (perftest counts a
      // connection at CONNECT_REQUEST there): they come before the DISCONNECTEDs.
      for (let n = 0; n < c.qps;) {
        const ev = await sch.getEvent();
        ev.ack();
        if (ev.type === RdmaCmEvent.DISCONNECTED) n++;
        else if (ev.type !== RdmaCmEvent.ESTABLISHED) cmFail("Failed to disconnect", ev);
      }
      for (const id of serverIds) {
        await id.disconnect();
        await id.destroyQp();
        await id.destroy();
      }
      sch.destroy();
      for (let n = 0; n < c.qps; n++) {
        (await expect(ch, RdmaCmEvent.DISCONNECTED, "Failed to disconnect")).ack();
      }
      for (const id of clientIds) {
        await id.destroyQp();
        await id.destroy();
      }
      ch.destroy();
    },
  };
}

/**
 * A stand-in for libibverbs and a provider, for testing `drivers/verbs/real`
 * without an RDMA device. The exported verbs are JS functions; the context
 * is a real `struct verbs_context` in memory whose `ops` and `query_port`
 * slots hold C-callable trampolines (`Deno.UnsafeCallback`), so the fast
 * path runs exactly as on hardware: the binding loads function pointers
 * from the context at the verbs.h offsets and calls them with C structs,
 * which the fake reads back through raw pointers as a provider would.
 */
import {
  IBV_ASYNC_EVENT,
  IBV_COMP_CHANNEL,
  IBV_CONTEXT,
  IBV_CQ,
  IBV_MR,
  IBV_QP,
  IBV_QP_INIT_ATTR,
  IBV_RECV_WR,
  IBV_SEND_WR,
  IBV_SGE,
  IBV_SRQ_INIT_ATTR,
  IBV_WC,
  Ibverbs,
  pointerValue,
  VERBS_CONTEXT,
} from "../hca/ffi/mod.ts";
import { RealContext } from "../drivers/verbs/real.ts";
import { affiliatedKind } from "../drivers/verbs/real/async_events.ts";
import { RealDevice } from "../drivers/verbs/real/device.ts";

type P = Deno.PointerObject;
const LIBC = {
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  pipe: { parameters: ["buffer"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const;
const mem = (p: P, len: number) => new DataView(Deno.UnsafePointerView.getArrayBuffer(p, len));

/** A WR as the provider saw it in memory. */
export interface SeenWr {
  wrId: bigint;
  opcode?: number;
  imm?: number;
  remoteAddr?: bigint;
  sges: [bigint, number, number][];
}

/** The fake library + provider of one device context. */
export class FakeProvider {
  /** Verb calls, in order. */
  readonly log: string[] = [];
  /** WRs posted through ops.post_send / post_recv. */
  readonly sent: SeenWr[] = [];
  /** WRs posted through ops.post_recv / post_srq_recv. */
  readonly recvd: SeenWr[] = [];
  /**
   * Completions poll_cq hands out next: a whole 48-byte `struct ibv_wc`, or
   * a function that writes only some fields into the caller's entry, as a
   * provider does for an error CQE (mlx5_parse_cqe sets wr_id, status,
   * vendor_err, qp_num and wc_flags and leaves the rest as it was).
   */
  readonly cqes: (Uint8Array | ((wc: DataView) => void))[] = [];
  /** What the next poll_cq returns instead of completions (CQ_POLL_ERR is -2), once. */
  pollFailure: number | null = null;
  /** The fd a created completion channel reports (-1: none). */
  channelFd = -1;
  /** `struct ibv_cq *` of every CQ created, in order. */
  readonly cqs: P[] = [];
  /** `struct ibv_qp *` of every QP created, in order. */
  readonly qps: P[] = [];
  /** `struct ibv_srq *` of every SRQ created, in order. */
  readonly srqs: P[] = [];
  /** Async events raised and not yet read, oldest first: the kernel's async event file. */
  readonly asyncQueue: { type: number; element: bigint }[] = [];
  /** Per object pointer: async events handed out, and acknowledged (libibverbs' counts). */
  readonly asyncCounts = new Map<bigint, { reported: number; completed: number }>();
  #asyncReader: (() => void) | null = null;
  /**
   * false (default): `ibv_get_cq_event` returns the first CQ at once. true: it blocks until
   * {@link raiseCqEvent}, as a read(2) on the channel fd does, taking the event the moment it is
   * raised (the kernel counts it as reported then: `comp_events_reported`).
   */
  cqEventsBlock = false;
  /** Completion events raised and not yet read, oldest first: the channel's event file. */
  readonly cqQueue: bigint[] = [];
  /** Per CQ pointer: completion events handed out, and acknowledged (libibverbs' counts). */
  readonly compCounts = new Map<bigint, { reported: number; completed: number }>();
  /** True while an `ibv_get_cq_event` call is blocked (in C, on a worker thread). */
  cqReadInC = false;
  #cqReader: (() => void) | null = null;
  #acked: (() => void)[] = [];
  #asyncPipe: Int32Array | null = null;
  /** errno the next failing verb leaves behind; a verb named here fails once. */
  failNext: { verb: string; errno: number } | null = null;
  #keep: Uint8Array[] = [];
  #callbacks: { close(): void }[] = [];
  #libcHandle?: Deno.DynamicLibrary<typeof LIBC>;
  #errno = this.#struct(8);
  #next = 1;
  /** The `struct verbs_context` the fake provider "allocated". */
  readonly vctx: Uint8Array;
  /** Its embedded `struct ibv_context *`, what the binding is given. */
  readonly ctx: P;

  /** @param opts.extended false: a context without `verbs_context` (old provider) */
  constructor(opts: { extended?: boolean } = {}) {
    this.vctx = new Uint8Array(new ArrayBuffer(VERBS_CONTEXT.sizeof));
    this.ctx = Deno.UnsafePointer.offset(
      Deno.UnsafePointer.of(this.vctx)!,
      VERBS_CONTEXT.fields.context.offset,
    )!;
    const v = new DataView(this.vctx.buffer);
    const C = IBV_CONTEXT.fields, base = VERBS_CONTEXT.fields.context.offset;
    // No async fd until the first event is raised: poll(2) ignores a negative fd (a timeout).
    v.setInt32(base + C.async_fd.offset, -1, true);
    const slot = (off: number, cb: { pointer: P; close(): void }) => {
      this.#callbacks.push(cb);
      v.setBigUint64(off, pointerValue(cb.pointer), true);
    };
    const post = (log: SeenWr[], L: typeof IBV_SEND_WR | typeof IBV_RECV_WR, verb: string) =>
      new Deno.UnsafeCallback(
        { parameters: ["pointer", "pointer", "pointer"], result: "i32" } as const,
        (_qp, wr, bad) => this.#post(log, L, verb, wr!, bad!),
      );
    slot(base + C["ops.post_send"].offset, post(this.sent, IBV_SEND_WR, "post_send"));
    slot(base + C["ops.post_recv"].offset, post(this.recvd, IBV_RECV_WR, "post_recv"));
    slot(base + C["ops.post_srq_recv"].offset, post(this.recvd, IBV_RECV_WR, "post_srq_recv"));
    slot(
      base + C["ops.poll_cq"].offset,
      new Deno.UnsafeCallback(
        { parameters: ["pointer", "i32", "pointer"], result: "i32" } as const,
        (_cq, n, wc) => {
          if (this.pollFailure !== null) {
            const rc = this.pollFailure;
            this.pollFailure = null;
            return rc;
          }
          const got = this.cqes.splice(0, n);
          const out = Deno.UnsafePointerView.getArrayBuffer(wc!, n * IBV_WC.sizeof);
          got.forEach((c, i) => {
            if (c instanceof Uint8Array) new Uint8Array(out).set(c, i * IBV_WC.sizeof);
            else c(new DataView(out, i * IBV_WC.sizeof, IBV_WC.sizeof));
          });
          return got.length;
        },
      ),
    );
    slot(
      base + C["ops.req_notify_cq"].offset,
      new Deno.UnsafeCallback(
        { parameters: ["pointer", "i32"], result: "i32" } as const,
        (_, s) => {
          this.log.push(`req_notify_cq ${s}`);
          return 0;
        },
      ),
    );
    if (opts.extended ?? true) {
      v.setBigUint64(base + C.abi_compat.offset, 0xffffffffffffffffn, true);
      v.setBigUint64(VERBS_CONTEXT.fields.sz.offset, BigInt(VERBS_CONTEXT.sizeof), true);
      slot(
        VERBS_CONTEXT.fields.query_port.offset,
        new Deno.UnsafeCallback(
          { parameters: ["pointer", "u8", "pointer", "usize"], result: "i32" } as const,
          (_, port, attr, size) => {
            this.log.push(`query_port ${port} ${size}`);
            const a = mem(attr!, Number(size));
            a.setUint32(0, 4, true); // ACTIVE
            a.setUint16(34, 0x10 + port, true); // lid
            return port > 2 ? 22 : 0;
          },
        ),
      );
    }
  }

  #struct(size: number): Uint8Array {
    const b = new Uint8Array(new ArrayBuffer(size));
    this.#keep.push(b);
    return b;
  }

  #object(name: string, size: number, fill?: (v: DataView) => void): P | null {
    if (this.failNext?.verb === name) {
      new DataView(this.#errno.buffer).setInt32(0, this.failNext.errno, true);
      this.failNext = null;
      this.log.push(`${name} -> NULL`);
      return null;
    }
    const b = this.#struct(size);
    fill?.(new DataView(b.buffer));
    this.log.push(name);
    return Deno.UnsafePointer.of(b);
  }

  #post(log: SeenWr[], L: typeof IBV_SEND_WR | typeof IBV_RECV_WR, verb: string, wr: P, bad: P) {
    for (
      let p: P | null = wr;
      p;
      p = new Deno.UnsafePointerView(p).getPointer(L.fields.next.offset)
    ) {
      const w = mem(p, L.sizeof);
      const seen: SeenWr = { wrId: w.getBigUint64(L.fields.wr_id.offset, true), sges: [] };
      const sg = new Deno.UnsafePointerView(p).getPointer(L.fields.sg_list.offset);
      for (let i = 0; i < w.getInt32(L.fields.num_sge.offset, true); i++) {
        const s = mem(Deno.UnsafePointer.offset(sg!, i * IBV_SGE.sizeof)!, IBV_SGE.sizeof);
        seen.sges.push([s.getBigUint64(0, true), s.getUint32(8, true), s.getUint32(12, true)]);
      }
      if (L === IBV_SEND_WR) {
        const F = IBV_SEND_WR.fields;
        seen.opcode = w.getUint32(F.opcode.offset, true);
        seen.imm = w.getUint32(F.imm_data.offset, false);
        seen.remoteAddr = w.getBigUint64(F["wr.rdma.remote_addr"].offset, true);
      }
      if (seen.wrId === 666n) {
        mem(bad, 8).setBigUint64(0, pointerValue(p), true);
        return 12;
      }
      log.push(seen);
    }
    this.log.push(verb);
    return 0;
  }

  /**
   * A real pipe whose read end becomes the fd of the next completion
   * channel: `signal()` makes it readable, as an event does a channel fd.
   */
  pipe(): { signal(): void; close(): void } {
    const fds = new Int32Array(new ArrayBuffer(8));
    if (this.#libc().symbols.pipe(fds) !== 0) throw new Error("pipe(2) failed");
    this.channelFd = fds[0];
    const libc = this.#libc().symbols;
    return {
      signal: () => void libc.write(fds[1], new Uint8Array([1]), 1n),
      close: () => void (libc.close(fds[0]), libc.close(fds[1])),
    };
  }

  /**
   * Raise an async event, as the device would: on a QP, CQ or SRQ (its
   * `struct ibv_*` pointer) or a port (its number). The context's async_fd
   * becomes readable and a waiting `ibv_get_async_event` returns it.
   */
  raiseAsyncEvent(type: number, on: P | number): void {
    const element = typeof on === "number" ? BigInt(on) : pointerValue(on);
    this.asyncQueue.push({ type, element });
    const fds = this.#asyncFds();
    this.#libc().symbols.write(fds[1], new Uint8Array([1]), 1n);
    const r = this.#asyncReader;
    this.#asyncReader = null;
    r?.();
  }

  /**
   * A completion event on a CQ (its `struct ibv_cq *`): a blocked `ibv_get_cq_event` takes it
   * at once (with {@link cqEventsBlock}).
   */
  raiseCqEvent(cq: P): void {
    this.cqQueue.push(pointerValue(cq));
    const r = this.#cqReader;
    this.#cqReader = null;
    r?.();
  }

  /** ib_uverbs_event_read on the channel: the oldest event into `cqOut`, counted as reported. */
  #takeCq(cqOut: Uint8Array): void {
    const cq = this.cqQueue.shift()!;
    new DataView(cqOut.buffer).setBigUint64(cqOut.byteOffset, cq, true);
    const c = this.compCounts.get(cq);
    if (c) c.reported++;
    this.log.push("get_cq_event");
  }

  /** ib_uverbs_event_read: the oldest event into the reader's struct, counted as reported. */
  #takeAsync(ev: Uint8Array): void {
    const e = this.asyncQueue.shift()!;
    this.#drainAsync(1);
    const v = new DataView(ev.buffer, ev.byteOffset, IBV_ASYNC_EVENT.sizeof);
    v.setBigUint64(0, e.element, true);
    v.setUint32(IBV_ASYNC_EVENT.fields.event_type.offset, e.type, true);
    const c = this.asyncCounts.get(e.element);
    if (c) c.reported++; // the uobject's events_reported
    this.log.push(`get_async_event ${e.type}`);
  }

  /** The async event pipe, made on first use; its read end is the context's async_fd. */
  #asyncFds(): Int32Array {
    if (this.#asyncPipe) return this.#asyncPipe;
    const fds = new Int32Array(new ArrayBuffer(8));
    if (this.#libc().symbols.pipe(fds) !== 0) throw new Error("pipe(2) failed");
    const at = VERBS_CONTEXT.fields.context.offset + IBV_CONTEXT.fields.async_fd.offset;
    new DataView(this.vctx.buffer).setInt32(at, fds[0], true);
    return this.#asyncPipe = fds;
  }

  #drainAsync(n: number): void {
    const fds = this.#asyncFds();
    for (let i = 0; i < n; i++) this.#libc().symbols.read(fds[0], new Uint8Array(1), 1n);
  }

  /**
   * What the kernel and libibverbs do at ibv_destroy_*: the object's unread events go
   * (ib_uverbs_release_uevent), and the call blocks until every event reported for it is
   * acknowledged (ibv_cmd_destroy_*). A JS caller here must never reach that block: it
   * would hang the thread that has to acknowledge, so the fake throws instead.
   */
  #destroyed(call: string, obj: P): void {
    const addr = pointerValue(obj);
    const c = this.asyncCounts.get(addr);
    if (c && c.reported !== c.completed) {
      throw new Error(`${call} would block: ${c.reported - c.completed} async event(s) unacked`);
    }
    const comp = this.compCounts.get(addr);
    if (comp && comp.reported !== comp.completed) {
      throw new Error(
        `${call} would block: ${comp.reported - comp.completed} completion event(s) unacked`,
      );
    }
    this.cqQueue.splice(0, this.cqQueue.length, ...this.cqQueue.filter((e) => e !== addr));
    this.compCounts.delete(addr);
    const before = this.asyncQueue.length;
    const keep = this.asyncQueue.filter((e) => e.element !== addr);
    this.asyncQueue.splice(0, before, ...keep);
    this.#drainAsync(before - keep.length);
    this.asyncCounts.delete(addr);
  }

  /** Until every event reported for `obj` is acknowledged (libibverbs ibv_cmd_destroy_*). */
  async #acksOf(obj: P, verb: string): Promise<void> {
    for (;;) {
      const c = this.asyncCounts.get(pointerValue(obj));
      const comp = this.compCounts.get(pointerValue(obj));
      const left = (c ? c.reported - c.completed : 0) + (comp ? comp.reported - comp.completed : 0);
      if (left === 0) return;
      this.log.push(`${verb} waits for ${left} ack(s)`);
      await new Promise<void>((r) => this.#acked.push(r));
    }
  }

  #libc() {
    return this.#libcHandle ??= Deno.dlopen("libc.so.6", LIBC);
  }

  /** The exported verbs, as JS. */
  #symbols() {
    const ok = (name: string) => () => (this.log.push(name), 0);
    const liveQpCqs = new Map<bigint, bigint[]>();
    const syms = {
      __errno_location: () => Deno.UnsafePointer.of(this.#errno),
      // ibv_close_device frees the context a blocked ibv_get_cq_event still reads through its
      // channel (the channel's fd goes with it): the test fails rather than reach that.
      ibv_close_device: () => {
        if (this.cqReadInC) throw new Error("ibv_close_device under a blocked ibv_get_cq_event");
        this.log.push("close_device");
        return 0;
      },
      ibv_query_port: (_: P, port: number, attr: Uint8Array) => {
        this.log.push(`compat query_port ${port} ${attr.byteLength}`);
        attr[0] = 2; // INIT
        return 0;
      },
      // ibv_query_gid(3): 0, or -1 with errno set (verbs.c returns -1 whatever
      // __ibv_query_gid_ex reported). Two ports of 16 GIDs here; GID i is fe80::i.
      ibv_query_gid: (_: P, port: number, index: number, gid: Uint8Array) => {
        this.log.push(`query_gid ${port} ${index}`);
        if (port < 1 || port > 2 || index < 0 || index >= 16) {
          new DataView(this.#errno.buffer).setInt32(0, 22, true);
          return -1;
        }
        gid.set([0xfe, 0x80], 0);
        gid[15] = index;
        return 0;
      },
      // ibv_query_pkey(3): 0, or -1 with errno set (verbs.c's sysfs read of ports/N/pkeys/I).
      // 64 entries per port here: the default partition at index 0, the rest empty.
      ibv_query_pkey: (_: P, port: number, index: number, pkey: Uint8Array) => {
        this.log.push(`query_pkey ${port} ${index}`);
        if (port < 1 || port > 2 || index < 0 || index >= 64) {
          new DataView(this.#errno.buffer).setInt32(0, 22, true);
          return -1;
        }
        new DataView(pkey.buffer, pkey.byteOffset, 2).setUint16(0, index === 0 ? 0xffff : 0);
        return 0;
      },
      ibv_alloc_pd: () => this.#object("alloc_pd", 16),
      ibv_dealloc_pd: ok("dealloc_pd"),
      ibv_reg_mr: (_: P, addr: P, len: bigint, access: number) =>
        this.#object(`reg_mr ${pointerValue(addr)} ${len} ${access}`, IBV_MR.sizeof, (v) => {
          v.setUint32(IBV_MR.fields.lkey.offset, 0x1000 + this.#next, true);
          v.setUint32(IBV_MR.fields.rkey.offset, 0x2000 + this.#next++, true);
        }),
      ibv_dereg_mr: ok("dereg_mr"),
      ibv_create_cq: (_: P, cqe: number) => {
        const cq = this.#object(
          "create_cq",
          IBV_CQ.sizeof,
          (v) => v.setInt32(IBV_CQ.fields.cqe.offset, cqe + 1, true),
        );
        if (cq) {
          this.cqs.push(cq);
          this.asyncCounts.set(pointerValue(cq), { reported: 0, completed: 0 });
          this.compCounts.set(pointerValue(cq), { reported: 0, completed: 0 });
        }
        return cq;
      },
      ibv_create_comp_channel: () =>
        this.#object(
          "create_comp_channel",
          IBV_COMP_CHANNEL.sizeof,
          (v) => v.setInt32(IBV_COMP_CHANNEL.fields.fd.offset, this.channelFd, true),
        ),
      // The real poll(2): a completion wait with a timeout polls the channel's real fd.
      poll: (fds: Uint8Array, n: bigint, ms: number) => this.#libc().symbols.poll(fds, n, ms),
      ibv_destroy_comp_channel: ok("destroy_comp_channel"),
      // Without cqEventsBlock: the first CQ created, at once (what an armed CQ's interrupt
      // would report). With it: blocks in "read(2)" until raiseCqEvent.
      ibv_get_cq_event: async (_: P, cqOut: Uint8Array) => {
        if (!this.cqEventsBlock) this.cqQueue.push(pointerValue(this.cqs[0]));
        if (this.cqQueue.length === 0) {
          this.cqReadInC = true;
          try {
            await new Promise<void>((r) => this.#cqReader = () => (this.#takeCq(cqOut), r()));
          } finally {
            this.cqReadInC = false;
          }
        } else this.#takeCq(cqOut);
        return 0;
      },
      // libibverbs/device.c ibv_ack_cq_events: comp_events_completed += n, waking a destroy.
      ibv_ack_cq_events: (cq: P, n: number) => {
        const c = this.compCounts.get(pointerValue(cq));
        if (c) c.completed += n;
        this.log.push(`ack_cq_events ${n}`);
        for (const w of this.#acked.splice(0)) w();
      },
      // libibverbs/device.c: read(2) one event from async_fd (blocking), fill the struct; 0, or
      // -1 with errno. The pipe's bytes mirror the queue, so poll(2) on async_fd sees an event.
      ibv_get_async_event: async (_: P, ev: Uint8Array) => {
        if (this.failNext?.verb === "get_async_event") {
          new DataView(this.#errno.buffer).setInt32(0, this.failNext.errno, true);
          this.failNext = null;
          return -1;
        }
        // A reader blocked in read(2) takes the event the moment it is raised: the kernel counts
        // it as reported then, before the caller's thread runs again.
        if (this.asyncQueue.length === 0) {
          await new Promise<void>((r) => this.#asyncReader = () => (this.#takeAsync(ev), r()));
        } else this.#takeAsync(ev);
        return 0;
      },
      // libibverbs/device.c: events_completed++ of the element the struct names (none for a
      // port event), waking a destroy waiting for it.
      ibv_ack_async_event: (ev: Uint8Array) => {
        const v = new DataView(ev.buffer, ev.byteOffset, IBV_ASYNC_EVENT.sizeof);
        const type = v.getUint32(IBV_ASYNC_EVENT.fields.event_type.offset, true);
        // A port or device event names no object: nothing to count.
        const c = affiliatedKind(type) ? this.asyncCounts.get(v.getBigUint64(0, true)) : undefined;
        if (c) c.completed++;
        this.log.push(`ack_async_event ${type}`);
        for (const w of this.#acked.splice(0)) w();
      },
      ibv_destroy_cq: (cq: P) => {
        const busy = [...liveQpCqs.values()].some((cqs) => cqs.includes(pointerValue(cq)));
        this.log.push(busy ? "destroy_cq EBUSY" : "destroy_cq");
        if (!busy) this.#destroyed("ibv_destroy_cq", cq);
        return busy ? 16 : 0;
      },
      ibv_create_qp: (_: P, init: Uint8Array) => {
        const v = new DataView(init.buffer), I = IBV_QP_INIT_ATTR.fields;
        const cap = I.cap.offset;
        v.setUint32(cap, 2 ** Math.ceil(Math.log2(v.getUint32(cap, true))), true); // granted
        v.setUint32(cap + 16, 64, true);
        const qp = this.#object(
          "create_qp",
          IBV_QP.sizeof,
          (q) => q.setUint32(IBV_QP.fields.qp_num.offset, 0x100 + this.#next++, true),
        );
        if (qp) {
          this.qps.push(qp);
          this.asyncCounts.set(pointerValue(qp), { reported: 0, completed: 0 });
          const cqs = [
            v.getBigUint64(I.send_cq.offset, true),
            v.getBigUint64(I.recv_cq.offset, true),
          ];
          liveQpCqs.set(pointerValue(qp), cqs);
        }
        return qp;
      },
      ibv_modify_qp: (qp: P, attr: Uint8Array, mask: number) => {
        const state = new DataView(attr.buffer).getUint32(0, true);
        this.log.push(`modify_qp mask=${mask} state=${state}`);
        if (mask & 1) mem(qp, IBV_QP.sizeof).setUint32(IBV_QP.fields.state.offset, state, true);
        return 0;
      },
      ibv_destroy_qp: (qp: P) => {
        this.#destroyed("ibv_destroy_qp", qp);
        liveQpCqs.delete(pointerValue(qp));
        this.log.push("destroy_qp");
        return 0;
      },
      ibv_attach_mcast: (_qp: P, gid: Uint8Array, lid: number) =>
        // ibv_attach_mcast(3) returns the errno value itself (ibv_cmd_attach_mcast's), positive.
        gid[0] === 0xff && lid >= 0xc000 ? (this.log.push(`attach_mcast lid=${lid}`), 0) : 22,
      ibv_detach_mcast: (_qp: P, _gid: Uint8Array, lid: number) => (
        this.log.push(`detach_mcast lid=${lid}`), 0
      ),
      // The provider writes what it granted back into srq_init_attr->attr, as mlx5_create_srq
      // (max_wr = its power-of-two queue size - 1).
      ibv_create_srq: (_: P, init: Uint8Array) => {
        const v = new DataView(init.buffer, init.byteOffset), at = IBV_SRQ_INIT_ATTR.fields;
        const want = v.getUint32(at["attr.max_wr"].offset, true);
        v.setUint32(at["attr.max_wr"].offset, 2 ** Math.ceil(Math.log2(want + 1)) - 1, true);
        const srq = this.#object("create_srq", 128);
        if (srq) {
          this.srqs.push(srq);
          this.asyncCounts.set(pointerValue(srq), { reported: 0, completed: 0 });
        }
        return srq;
      },
      ibv_destroy_srq: (srq: P) => {
        this.#destroyed("ibv_destroy_srq", srq);
        this.log.push("destroy_srq");
        return 0;
      },
      ibv_create_ah: () => this.#object("create_ah", 24),
      ibv_destroy_ah: ok("destroy_ah"),
      // The same destroys on a worker thread: there, ibv_cmd_destroy_* may wait for the acks.
      ibv_destroy_qp_off_thread: async (qp: P) => {
        await this.#acksOf(qp, "destroy_qp");
        return syms.ibv_destroy_qp(qp);
      },
      ibv_destroy_cq_off_thread: async (cq: P) => {
        await this.#acksOf(cq, "destroy_cq");
        return syms.ibv_destroy_cq(cq);
      },
      ibv_destroy_srq_off_thread: async (srq: P) => {
        await this.#acksOf(srq, "destroy_srq");
        return syms.ibv_destroy_srq(srq);
      },
    };
    return syms;
  }

  /** A `RealContext` over this fake. */
  open(name = "fake0"): RealContext {
    const dylib = { symbols: this.#symbols(), close: () => this.log.push("dlclose") };
    const lib = new Ibverbs("fake", dylib as unknown as ConstructorParameters<typeof Ibverbs>[1]);
    return new RealContext(new RealDevice(lib, name, this.ctx));
  }

  /** Release the trampolines. */
  close(): void {
    if (this.#asyncPipe) {
      this.#libc().symbols.close(this.#asyncPipe[0]);
      this.#libc().symbols.close(this.#asyncPipe[1]);
    }
    this.#libcHandle?.close();
    for (const cb of this.#callbacks) cb.close();
  }
}

/**
 * A minimal driver for device-level tests of `hca/`: allocates contexts
 * through commands, writes WQEs with the format helpers into host memory,
 * rings doorbells by writing the UAR I/O frame through MachineMemory, and
 * reads CQEs back from memory — no verbs layer.
 *
 * @module
 */

import {
  AddressSpace,
  Engine,
  InterruptController,
  MachineMemory,
  PAGE_SIZE,
  PCIX_SDR_2006,
  Prng,
  type Profile,
} from "../../sim/mod.ts";
import { Hca } from "../../hca/device.ts";
import { Fabric } from "../../hca/fabric.ts";
import { SubnetManager } from "../../hca/subnet_manager.ts";
import {
  type CmdIn,
  CmdOp,
  type CmdOut,
  type CmdResult,
  EqeType,
  MptAccess,
  mptKey,
  QpAccess,
  type QpContextParams,
  QpServiceType,
} from "../../hca/commands.ts";
import { type Cqe, CQE_BYTES, cqeReady, decodeCqe } from "../../hca/cqe.ts";
import { decodeEqe, type Eqe, EQE_BYTES, eqeReady } from "../../hca/eqe.ts";
import {
  type DataSeg,
  encodeRecvWqe,
  encodeSendWqe,
  SEG_BYTES,
  type SendWqe,
  WQE_NEXT_SIZE_OFFSET,
} from "../../hca/wqe.ts";
import {
  cmdWord,
  CqDbCmd,
  doorbellBytes,
  EqDbCmd,
  sendDoorbellWord,
  UarOffset,
} from "../../hca/uar.ts";

/** All MPT access rights. */
export const ALL_ACCESS = MptAccess.LOCAL_READ | MptAccess.LOCAL_WRITE | MptAccess.REMOTE_WRITE |
  MptAccess.REMOTE_READ | MptAccess.ATOMIC;

/** Every remote operation a QP may enable. */
export const ALL_QP_ACCESS = QpAccess.REMOTE_WRITE | QpAccess.REMOTE_READ |
  QpAccess.REMOTE_ATOMIC;

/** A registered region. */
export interface Mr {
  addr: number;
  length: number;
  key: number;
  index: number;
}

/** A CQ as the harness tracks it. */
export interface HCq {
  cqn: number;
  addr: number;
  logSize: number;
  ci: number;
  uar: number;
}

/** A QP as the harness tracks it. */
export interface HQp {
  qpn: number;
  type: number;
  sqAddr: number;
  rqAddr: number;
  sqSize: number;
  sqStride: number;
  rqSize: number;
  rqStride: number;
  sqPc: number;
  /** Size (16-byte units) of the send WQE in each slot, for doorbells and links. */
  sqSizes: number[];
  /** Send producer counter of the last send doorbell rung. */
  sqRung: number;
  rqPc: number;
  uar: number;
  sendCq: HCq;
  recvCq: HCq;
  srqn: number;
}

/** An SRQ as the harness tracks it. */
export interface HSrq {
  srqn: number;
  addr: number;
  logSize: number;
  stride: number;
  pc: number;
  uar: number;
}

/** Throw with the command's message if it failed. */
export function must<T>(r: CmdResult<T>): T {
  if (!r.ok) throw new Error(`command failed: status 0x${r.status.toString(16)}: ${r.message}`);
  return r.out;
}

/** One host: memory, an address space for "the process", the HCA and a tiny driver. */
export class Host {
  readonly memory: MachineMemory;
  readonly irq = new InterruptController();
  readonly as: AddressSpace;
  readonly hca: Hca;
  /** Interrupt vectors raised, in order. */
  readonly interrupts: number[] = [];
  /** Async/completion events read from the EQ. */
  readonly events: Eqe[] = [];
  #nextMpt = 1;
  #nextMtt = 0;
  #nextQpn = 0x40;
  #nextCqn = 1;
  #nextSrqn = 1;
  eq!: { eqn: number; addr: number; logSize: number; ci: number };

  constructor(
    readonly engine: Engine,
    readonly name: string,
    readonly profile: Profile,
    rng: Prng,
    fabric?: Fabric,
  ) {
    this.memory = new MachineMemory(256 << 20);
    this.as = new AddressSpace(this.memory, name, 128 << 20, rng.fork());
    this.hca = new Hca({
      engine,
      memory: this.memory,
      irq: this.irq,
      profile,
      rng: rng.fork(),
      name,
      fabric,
    });
    this.irq.connect((v) => {
      this.interrupts.push(v);
      this.drainEq();
    });
  }

  /** Run a command. */
  exec<O extends CmdOp>(op: O, p: CmdIn<O>): Promise<CmdResult<CmdOut<O>>> {
    return this.hca.cmd.exec(op, p);
  }

  /** INIT_HCA, one EQ on vector 5 for everything. */
  async init(): Promise<void> {
    must(await this.exec(CmdOp.INIT_HCA, {}));
    const logSize = 8;
    const addr = this.as.alloc(EQE_BYTES << logSize, PAGE_SIZE);
    const mr = await this.regMr(addr, EQE_BYTES << logSize, MptAccess.LOCAL_WRITE, 0);
    must(
      await this.exec(CmdOp.SW2HW_EQ, {
        eqn: 0,
        key: mr.key,
        addr,
        logSize,
        vector: 5,
        uarIndex: 0,
      }),
    );
    let mask = 0;
    for (const t of Object.values(EqeType)) if (t !== EqeType.COMPLETION) mask |= 1 << t;
    must(await this.exec(CmdOp.MAP_EQ, { eqn: 0, eventMask: mask }));
    this.eq = { eqn: 0, addr, logSize, ci: 0 };
  }

  /** Read every ready EQE, then re-arm (what the driver's interrupt handler does). */
  drainEq(): void {
    const q = this.eq;
    for (;;) {
      const off = (q.ci % (1 << q.logSize)) * EQE_BYTES;
      const b = this.as.read(q.addr + off, EQE_BYTES);
      if (!eqeReady(b, 0, q.ci, q.logSize)) break;
      this.events.push(decodeEqe(b));
      q.ci++;
    }
    this.ring(0, UarOffset.EQ, cmdWord(EqDbCmd.SET_CI_ARM, q.eqn), q.ci);
  }

  /** Write a doorbell on UAR `uar`. */
  ring(uar: number, offset: number, w0: number, w1: number): void {
    this.memory.write(this.hca.uarMfn(uar) * PAGE_SIZE + offset, doorbellBytes(w0, w1));
  }

  /** Register [addr, addr+length) of the address space. */
  async regMr(addr: number, length: number, access: number, pd: number): Promise<Mr> {
    const pages = this.as.pageRange(addr, Math.max(1, length));
    const mfns = pages.map((p) => this.as.mfnOf(p)!);
    const base = this.#nextMtt;
    this.#nextMtt += mfns.length;
    must(await this.exec(CmdOp.WRITE_MTT, { base, mfns }));
    const index = this.#nextMpt++;
    const key = mptKey(index, 0x5a);
    must(
      await this.exec(CmdOp.SW2HW_MPT, {
        index,
        key,
        pd,
        start: addr,
        length,
        access,
        mttBase: base,
        mttCount: mfns.length,
        pageShift: 12,
      }),
    );
    return { addr, length, key, index };
  }

  /** Allocate and register a buffer. */
  async buffer(length: number, access = ALL_ACCESS, pd = 1, align = 64): Promise<Mr> {
    const addr = this.as.alloc(length, align);
    return await this.regMr(addr, length, access, pd);
  }

  /** A CQ of 2^logSize entries. */
  async createCq(logSize = 8, uar = 1): Promise<HCq> {
    const addr = this.as.alloc(CQE_BYTES << logSize, PAGE_SIZE);
    const mr = await this.regMr(addr, CQE_BYTES << logSize, MptAccess.LOCAL_WRITE, 0);
    const cqn = this.#nextCqn++;
    must(
      await this.exec(CmdOp.SW2HW_CQ, { cqn, key: mr.key, addr, logSize, eqn: 0, uarIndex: uar }),
    );
    return { cqn, addr, logSize, ci: 0, uar };
  }

  /** An SRQ. */
  async createSrq(logSize = 6, logStride = 5, uar = 1, pd = 1): Promise<HSrq> {
    const bytes = 1 << (logSize + logStride);
    const addr = this.as.alloc(bytes, PAGE_SIZE);
    const mr = await this.regMr(addr, bytes, 0, pd);
    const srqn = this.#nextSrqn++;
    must(
      await this.exec(CmdOp.SW2HW_SRQ, {
        srqn,
        pd,
        key: mr.key,
        addr,
        logSize,
        logStride,
        uarIndex: uar,
      }),
    );
    return { srqn, addr, logSize, stride: 1 << logStride, pc: 0, uar };
  }

  /** A QP in INIT. */
  async createQp(
    o: {
      type?: number;
      pd?: number;
      sendCq: HCq;
      recvCq?: HCq;
      sqSize?: number;
      rqSize?: number;
      sqStride?: number;
      rqStride?: number;
      uar?: number;
      srq?: HSrq;
      access?: number;
      qkey?: number;
      qpn?: number;
    },
  ): Promise<HQp> {
    const sqSize = o.sqSize ?? 64, rqSize = o.srq ? 0 : (o.rqSize ?? 64);
    const sqStride = o.sqStride ?? 128, rqStride = o.rqStride ?? 32;
    const bytes = sqSize * sqStride + rqSize * rqStride;
    const addr = this.as.alloc(bytes, PAGE_SIZE);
    const pd = o.pd ?? 1;
    const mr = await this.regMr(addr, bytes, 0, pd);
    const qpn = o.qpn ?? this.#nextQpn++;
    const uar = o.uar ?? 1;
    const ctx: Partial<QpContextParams> = {
      type: (o.type ?? QpServiceType.RC) as QpContextParams["type"],
      pd,
      sendCqn: o.sendCq.cqn,
      recvCqn: (o.recvCq ?? o.sendCq).cqn,
      srqn: o.srq?.srqn ?? -1,
      uarIndex: uar,
      wqKey: mr.key,
      sqAddr: addr,
      sqSize,
      sqStride,
      rqAddr: addr + sqSize * sqStride,
      rqSize,
      rqStride,
      port: 1,
      accessFlags: o.access ?? ALL_QP_ACCESS,
      qkey: o.qkey ?? 0x11111111,
    };
    must(await this.exec(CmdOp.RST2INIT_QP, { qpn, ctx }));
    return {
      qpn,
      type: ctx.type!,
      sqAddr: addr,
      rqAddr: addr + sqSize * sqStride,
      sqSize,
      sqStride,
      rqSize,
      rqStride,
      sqPc: 0,
      sqSizes: new Array(sqSize).fill(0),
      sqRung: 0,
      rqPc: 0,
      uar,
      sendCq: o.sendCq,
      recvCq: o.recvCq ?? o.sendCq,
      srqn: o.srq?.srqn ?? -1,
    };
  }

  /** LID of port 1. */
  get lid(): number {
    return this.hca.port(1)!.lid;
  }

  /** Bring `qp` to RTS towards `remoteQpn` at `dlid` (UD: no path). */
  async toRts(
    qp: HQp,
    remoteQpn: number,
    dlid: number,
    o: Partial<QpContextParams> = {},
  ): Promise<void> {
    const rtr: Partial<QpContextParams> = qp.type === QpServiceType.UD ? {} : {
      destQpn: remoteQpn,
      rqPsn: o.rqPsn ?? 0,
      mtu: o.mtu ?? 4,
      path: o.path ?? { dlid, sl: 0, srcPathBits: 0 },
      maxDestRdAtomic: o.maxDestRdAtomic ?? 4,
      minRnrTimer: o.minRnrTimer ?? 1,
    };
    must(await this.exec(CmdOp.INIT2RTR_QP, { qpn: qp.qpn, ctx: rtr }));
    must(
      await this.exec(CmdOp.RTR2RTS_QP, {
        qpn: qp.qpn,
        ctx: {
          sqPsn: o.sqPsn ?? 0,
          timeout: o.timeout ?? 14,
          retryCnt: o.retryCnt ?? 7,
          rnrRetry: o.rnrRetry ?? 7,
          maxRdAtomic: o.maxRdAtomic ?? 4,
        },
      }),
    );
  }

  /**
   * Write a send WQE at the producer slot, link the previous WQE to it
   * (FORMATS.md §5) and ring the send doorbell (on `uar`, default the QP's).
   */
  postSend(qp: HQp, w: SendWqe, uar = qp.uar, ring = true): number {
    const buf = new Uint8Array(qp.sqStride);
    const size = encodeSendWqe(w, buf) / SEG_BYTES;
    const slot = qp.sqPc % qp.sqSize;
    this.as.write(qp.sqAddr + slot * qp.sqStride, buf);
    qp.sqSizes[slot] = size;
    if (qp.sqPc > 0) {
      const prev = (qp.sqPc - 1) % qp.sqSize;
      this.as.write(qp.sqAddr + prev * qp.sqStride + WQE_NEXT_SIZE_OFFSET, new Uint8Array([size]));
    }
    const counter = qp.sqPc++;
    if (ring) this.ringSend(qp, uar);
    return counter;
  }

  /**
   * Ring the send doorbell for everything posted: the producer counter and
   * the size of the first WQE not announced yet (`first`, default the WQE
   * after the last doorbell rung).
   */
  ringSend(qp: HQp, uar = qp.uar, first = qp.sqRung): void {
    const size = qp.sqSizes[first % qp.sqSize];
    qp.sqRung = qp.sqPc;
    this.ring(uar, UarOffset.SEND, sendDoorbellWord(qp.qpn, size), qp.sqPc);
  }

  /** Post a receive WQE and ring the receive doorbell. */
  postRecv(qp: HQp, sgl: DataSeg[], uar = qp.uar): number {
    const buf = new Uint8Array(qp.rqStride);
    encodeRecvWqe(sgl, buf);
    this.as.write(qp.rqAddr + (qp.rqPc % qp.rqSize) * qp.rqStride, buf);
    const counter = qp.rqPc++;
    this.ring(uar, UarOffset.RECV, qp.qpn, qp.rqPc);
    return counter;
  }

  /** Post to an SRQ. */
  postSrq(srq: HSrq, sgl: DataSeg[]): number {
    const buf = new Uint8Array(srq.stride);
    encodeRecvWqe(sgl, buf);
    this.as.write(srq.addr + (srq.pc % (1 << srq.logSize)) * srq.stride, buf);
    const c = srq.pc++;
    this.ring(srq.uar, UarOffset.SRQ, srq.srqn, srq.pc);
    return c;
  }

  /** Poll one CQE (and update the device's consumer index). */
  poll(cq: HCq): Cqe | undefined {
    const off = (cq.ci % (1 << cq.logSize)) * CQE_BYTES;
    const b = this.as.read(cq.addr + off, CQE_BYTES);
    if (!cqeReady(b, 0, cq.ci, cq.logSize)) return undefined;
    cq.ci++;
    this.ring(cq.uar, UarOffset.CQ, cmdWord(CqDbCmd.SET_CI, cq.cqn), cq.ci);
    return decodeCqe(b);
  }

  /** Arm a CQ. */
  arm(cq: HCq, solicitedOnly = false): void {
    const cmd = solicitedOnly ? CqDbCmd.REQ_NOTIFY_SOLICITED : CqDbCmd.REQ_NOTIFY_NEXT;
    this.ring(cq.uar, UarOffset.CQ, cmdWord(cmd, cq.cqn), cq.ci);
  }

  /** Busy-poll until `n` CQEs arrived or `timeoutNs` passed. */
  async waitCqes(cq: HCq, n: number, timeoutNs = 50_000_000, stepNs = 500): Promise<Cqe[]> {
    const out: Cqe[] = [];
    const end = this.engine.now + timeoutNs;
    while (out.length < n) {
      const c = this.poll(cq);
      if (c) {
        out.push(c);
        continue;
      }
      if (this.engine.now >= end) break;
      await this.engine.sleep(stepNs);
    }
    return out;
  }

  /** Read bytes from the address space. */
  read(addr: number, len: number): Uint8Array {
    return this.as.read(addr, len);
  }

  /** Write bytes into the address space. */
  write(addr: number, bytes: Uint8Array): void {
    this.as.write(addr, bytes);
  }

  /** The 64-bit value at `addr`, host (little-endian) order, as atomics see it. */
  readU64(addr: number): bigint {
    return new DataView(this.as.read(addr, 8).buffer).getBigUint64(0, true);
  }

  /** Store a 64-bit value at `addr` in host (little-endian) order. */
  writeU64(addr: number, v: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    this.as.write(addr, b);
  }
}

/** Two hosts through a switch, ports ACTIVE, both HCAs initialized. */
export interface Pair {
  engine: Engine;
  fabric: Fabric;
  a: Host;
  b: Host;
}

/** Options for {@link makePair}. */
export interface PairOptions {
  profile?: Profile;
  seed?: number;
  /** Connect directly instead of through a switch. */
  direct?: boolean;
}

/** Build two hosts on a fabric (not yet initialized: call `setup` inside `engine.run`). */
export function makePair(o: PairOptions = {}): Pair & { setup(): Promise<void> } {
  const engine = new Engine();
  const profile = o.profile ?? PCIX_SDR_2006;
  const rng = new Prng(o.seed ?? 1);
  const fabric = new Fabric(engine, { profile, prng: rng.fork() });
  const a = new Host(engine, "a", profile, rng, fabric);
  const b = new Host(engine, "b", profile, rng, fabric);
  if (o.direct) fabric.connect(a.hca.port(1)!, b.hca.port(1)!);
  else {
    const sw = fabric.addSwitch("sw", { ports: 4 });
    fabric.connect(a.hca.port(1)!, sw.port(1));
    fabric.connect(b.hca.port(1)!, sw.port(2));
  }
  return {
    engine,
    fabric,
    a,
    b,
    async setup() {
      await a.init();
      await b.init();
      new SubnetManager(fabric).sweepNow();
    },
  };
}

/**
 * Build a pair, set it up and run `fn` on it in virtual time (the usual
 * opening of a device-level test).
 */
export function withPair<T>(o: PairOptions, fn: (p: Pair) => Promise<T>): Promise<T> {
  const p = makePair(o);
  return p.engine.run(async () => {
    await p.setup();
    return await fn(p);
  });
}

/** An RC (or UC) pair of connected QPs with a CQ each. */
export async function connectedQps(
  p: Pair,
  o: {
    type?: number;
    qa?: Partial<QpContextParams>;
    qb?: Partial<QpContextParams>;
    rqSize?: number;
  } = {},
): Promise<{ qa: HQp; qb: HQp; cqa: HCq; cqb: HCq }> {
  const cqa = await p.a.createCq();
  const cqb = await p.b.createCq();
  const qa = await p.a.createQp({ type: o.type, sendCq: cqa, rqSize: o.rqSize });
  const qb = await p.b.createQp({ type: o.type, sendCq: cqb, rqSize: o.rqSize });
  await p.a.toRts(qa, qb.qpn, p.b.lid, o.qa);
  await p.b.toRts(qb, qa.qpn, p.a.lid, o.qb);
  return { qa, qb, cqa, cqb };
}

/** Bytes 0..n-1 times a seed, for payload checks. */
export function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

/** Index of the first differing byte, or -1 if equal (fast; assert.deepEqual is slow on MiBs). */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** True if every byte is zero. */
export function allZero(a: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) return false;
  return true;
}

import assert from "node:assert/strict";
import zlib from "node:zlib";
import { crc16, crc32, crc32Byte, crc32Update } from "../hca/crc.ts";
import {
  BTH_BYTES,
  EXT_HEADER_BYTES,
  OP,
  opcodeByName,
  type OpcodeInfo,
  opcodeInfo,
  OPCODES,
  pickOpcode,
} from "../hca/opcode.ts";
import {
  aethSyndrome,
  decodePacket,
  encodePacket,
  type Packet,
  type PacketInit,
  peek,
  wireLength,
  WirePacket,
} from "../hca/packet.ts";
import { Prng } from "../sim/prng.ts";

// ---- independent references (different algorithms from hca/crc.ts) -------

/** ICRC the long way: copy, overwrite the variant fields with ones, zlib's CRC-32. */
function refIcrc(bytes: Uint8Array): number {
  const end = bytes.length - 6;
  const m = bytes.slice(0, end);
  let bth: number;
  if ((m[1] & 3) === 3) {
    m.fill(0xff, 0, 8); // whole LRH
    m[8] |= 0x0f; // TClass high nibble
    m[9] = m[10] = m[11] = 0xff; // TClass low nibble, FlowLabel
    m[15] = 0xff; // HopLmt
    bth = 48;
  } else {
    m[0] |= 0xf0; // VL
    bth = 8;
  }
  m[bth + 4] = 0xff; // Resv8a
  return zlib.crc32(m) >>> 0;
}

function reverseBits(v: number, width: number): number {
  let r = 0;
  for (let i = 0; i < width; i++) r = (r << 1) | ((v >>> i) & 1);
  return r;
}

/** CRC-16/0x100B bit by bit, MSB-first on bit-reversed bytes (the unreflected form). */
function refCrc16(bytes: Uint8Array, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = 0; i < end; i++) {
    const r = reverseBits(bytes[i], 8);
    for (let k = 7; k >= 0; k--) {
      const fb = ((crc >>> 15) & 1) ^ ((r >>> k) & 1);
      crc = (crc << 1) & 0xffff;
      if (fb) crc ^= 0x100b;
    }
  }
  return (reverseBits(crc, 16) ^ 0xffff) & 0xffff;
}

/** The ICRC decodePacket computes, observed through its verdict on a VCRC-fixed copy. */
function crcOfEncoder(m: Uint8Array): number {
  const c = m.slice();
  const dv = new DataView(c.buffer);
  dv.setUint16(c.length - 2, refCrc16(c, c.length - 2), true);
  const r = decodePacket(c);
  // Accepted ⇒ the decoder's ICRC equals the carried one.
  return r.ok ? dv.getUint32(c.length - 6, true) : -1;
}

/** Rewrite ICRC and VCRC after a test mutated header bytes. */
function fixCrcs(b: Uint8Array): Uint8Array {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  dv.setUint32(b.length - 6, refIcrc(b), true);
  dv.setUint16(b.length - 2, refCrc16(b, b.length - 2), true);
  return b;
}

function hexBytes(s: string): Uint8Array {
  return Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((h) => parseInt(h, 16)));
}

// ---- builders ---------------------------------------------------------

function gid(last: number): Uint8Array {
  const g = new Uint8Array(16);
  g[0] = 0xfe;
  g[1] = 0x80;
  g[15] = last;
  return g;
}

function u64(rng: Prng): bigint {
  return (BigInt(rng.nextU32()) << 32n) | BigInt(rng.nextU32());
}

function initFor(info: OpcodeInfo, rng: Prng, payloadLen: number, global: boolean): PacketInit {
  const p: PacketInit = {
    lrh: { dlid: 1 + rng.int(0xbffe), slid: 1 + rng.int(0xbffe), vl: rng.int(15), sl: rng.int(16) },
    bth: {
      opcode: info.value,
      destQp: rng.int(1 << 24),
      psn: rng.int(1 << 24),
      pkey: rng.int(0x10000),
      se: rng.chance(0.5),
      m: rng.chance(0.5),
      ackReq: rng.chance(0.5),
      fecn: rng.chance(0.5),
      becn: rng.chance(0.5),
    },
  };
  if (global) {
    p.grh = {
      sgid: gid(rng.int(256)),
      dgid: gid(rng.int(256)),
      tClass: rng.int(256),
      flowLabel: rng.int(1 << 20),
      hopLmt: rng.int(256),
    };
  }
  for (const h of info.headers) {
    if (h === "deth") p.deth = { qkey: rng.nextU32(), srcQp: rng.int(1 << 24) };
    if (h === "reth") p.reth = { va: u64(rng), rkey: rng.nextU32(), dmaLen: rng.nextU32() };
    if (h === "atomicEth") {
      p.atomicEth = { va: u64(rng), rkey: rng.nextU32(), swapAdd: u64(rng), compare: u64(rng) };
    }
    if (h === "aeth") p.aeth = { syndrome: rng.int(256), msn: rng.int(1 << 24) };
    if (h === "atomicAckEth") p.atomicAckEth = { origRemData: u64(rng) };
    if (h === "immDt") p.immDt = rng.nextU32();
  }
  if (info.hasPayload) {
    const pl = new Uint8Array(payloadLen);
    for (let i = 0; i < payloadLen; i++) pl[i] = rng.int(256);
    p.payload = pl;
  }
  return p;
}

function sendOnly(payload = new Uint8Array([1, 2, 3, 4, 5])): Uint8Array {
  return encodePacket({
    lrh: { dlid: 2, slid: 1 },
    bth: { opcode: OP.RC_SEND_ONLY, destQp: 0x12, psn: 5 },
    payload,
  });
}

// ---- opcode table -----------------------------------------------------

Deno.test("opcode table: values are IBTA table 38's, headers and lengths as §9.3 defines", () => {
  // Spot values straight from IBTA vol. 1 table 38.
  const expected: [string, number, string[]][] = [
    ["RC_SEND_FIRST", 0x00, []],
    ["RC_SEND_LAST_WITH_IMMEDIATE", 0x03, ["immDt"]],
    ["RC_RDMA_WRITE_FIRST", 0x06, ["reth"]],
    ["RC_RDMA_WRITE_MIDDLE", 0x07, []],
    ["RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE", 0x0b, ["reth", "immDt"]],
    ["RC_RDMA_READ_REQUEST", 0x0c, ["reth"]],
    ["RC_RDMA_READ_RESPONSE_FIRST", 0x0d, ["aeth"]],
    ["RC_RDMA_READ_RESPONSE_MIDDLE", 0x0e, []],
    ["RC_RDMA_READ_RESPONSE_LAST", 0x0f, ["aeth"]],
    ["RC_RDMA_READ_RESPONSE_ONLY", 0x10, ["aeth"]],
    ["RC_ACKNOWLEDGE", 0x11, ["aeth"]],
    ["RC_ATOMIC_ACKNOWLEDGE", 0x12, ["aeth", "atomicAckEth"]],
    ["RC_COMPARE_SWAP", 0x13, ["atomicEth"]],
    ["RC_FETCH_ADD", 0x14, ["atomicEth"]],
    ["UC_SEND_FIRST", 0x20, []],
    ["UC_RDMA_WRITE_ONLY_WITH_IMMEDIATE", 0x2b, ["reth", "immDt"]],
    ["UD_SEND_ONLY", 0x64, ["deth"]],
    ["UD_SEND_ONLY_WITH_IMMEDIATE", 0x65, ["deth", "immDt"]],
  ];
  for (const [name, value, headers] of expected) {
    const o = opcodeByName(name);
    assert.equal(o.value, value, name);
    assert.deepEqual([...o.headers], headers, name);
    assert.equal(opcodeInfo(value), o);
  }
  assert.deepEqual(
    { ...EXT_HEADER_BYTES },
    { deth: 8, reth: 16, atomicEth: 28, aeth: 4, atomicAckEth: 8, immDt: 4 },
  );
  assert.equal(OPCODES.length, 21 + 12 + 2);
  assert.equal(new Set(OPCODES.map((o) => o.value)).size, OPCODES.length);
  // Everything in OP is in the table under the same name, and vice versa.
  for (const [name, v] of Object.entries(OP)) assert.equal(opcodeInfo(v)?.name, name);
  for (const o of OPCODES) assert.equal((OP as Record<string, number>)[o.name], o.value);
  // Unimplemented values: reserved 0x15, RD (0x40..), UD RDMA, CNP.
  for (const v of [0x15, 0x18, 0x2c, 0x40, 0x44, 0x60, 0x66, 0x81, 0xff]) {
    assert.equal(opcodeInfo(v), undefined, `0x${v.toString(16)}`);
  }
  // Offsets follow the wire order and start right after the BTH.
  const wImm = opcodeInfo(OP.RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE)!;
  assert.deepEqual({ ...wImm.offsets }, { reth: BTH_BYTES, immDt: BTH_BYTES + 16 });
  const udImm = opcodeInfo(OP.UD_SEND_ONLY_WITH_IMMEDIATE)!;
  assert.deepEqual({ ...udImm.offsets }, { deth: BTH_BYTES, immDt: BTH_BYTES + 8 });
});

Deno.test("opcode table: flags", () => {
  const f = (v: number) => opcodeInfo(v)!;
  assert.ok(f(OP.RC_SEND_FIRST).requiresAck && f(OP.RC_SEND_FIRST).isRequest);
  assert.ok(!f(OP.UC_SEND_ONLY).requiresAck && !f(OP.UD_SEND_ONLY).requiresAck);
  assert.ok(f(OP.RC_ACKNOWLEDGE).isResponse && !f(OP.RC_ACKNOWLEDGE).hasPayload);
  assert.ok(f(OP.RC_RDMA_READ_RESPONSE_MIDDLE).isResponse);
  assert.ok(f(OP.RC_RDMA_READ_RESPONSE_MIDDLE).hasPayload);
  assert.ok(f(OP.RC_RDMA_READ_REQUEST).isRead && !f(OP.RC_RDMA_READ_REQUEST).hasPayload);
  assert.ok(f(OP.RC_RDMA_READ_REQUEST).requiresAck);
  assert.ok(f(OP.RC_FETCH_ADD).isAtomic && f(OP.RC_ATOMIC_ACKNOWLEDGE).isAtomic);
  assert.ok(!f(OP.RC_FETCH_ADD).hasPayload);
  assert.ok(f(OP.RC_SEND_FIRST).consumesRecvWqe && !f(OP.RC_SEND_MIDDLE).consumesRecvWqe);
  assert.ok(f(OP.RC_RDMA_WRITE_LAST_WITH_IMMEDIATE).consumesRecvWqe);
  assert.ok(!f(OP.RC_RDMA_WRITE_ONLY).consumesRecvWqe);
  assert.ok(f(OP.RC_SEND_ONLY).isFirst && f(OP.RC_SEND_ONLY).isLast);
  assert.ok(f(OP.RC_SEND_MIDDLE).position === "middle" && !f(OP.RC_SEND_MIDDLE).isLast);
  assert.equal(pickOpcode("RC", "send", "first", true), OP.RC_SEND_FIRST);
  assert.equal(pickOpcode("RC", "send", "last", true), OP.RC_SEND_LAST_WITH_IMMEDIATE);
  assert.equal(pickOpcode("UC", "write", "only", false), OP.UC_RDMA_WRITE_ONLY);
  assert.equal(pickOpcode("UD", "send", "only", true), OP.UD_SEND_ONLY_WITH_IMMEDIATE);
  assert.throws(() => pickOpcode("UD", "write", "only", false), RangeError);
  assert.throws(() => pickOpcode("UD", "send", "first", false), RangeError);
});

// ---- round trips ------------------------------------------------------

Deno.test("every opcode round-trips, local and global, with every pad count", () => {
  const rng = new Prng(0x1b);
  let n = 0;
  for (const info of OPCODES) {
    for (const global of [false, true]) {
      const sizes = info.hasPayload ? [0, 1, 2, 3, 4, 255, 2048, 4096] : [0];
      for (const size of sizes) {
        const init = initFor(info, rng, size, global);
        const bytes = encodePacket(init);
        assert.equal(bytes.length, wireLength(info.value, size, global));
        assert.equal(bytes.length % 4, 2, "LRH..ICRC is whole words, then the 2-byte VCRC");
        const r = decodePacket(bytes);
        if (!r.ok) throw new Error(`${info.name} size ${size}: ${r.reason}`);
        const p = r.packet;
        assert.equal(p.info, info);
        assert.deepEqual(
          { dlid: p.lrh.dlid, slid: p.lrh.slid, vl: p.lrh.vl, sl: p.lrh.sl, lver: p.lrh.lver },
          { ...init.lrh, lver: 0 },
        );
        assert.equal(p.lrh.lnh, global ? 3 : 2);
        assert.equal(p.lrh.pktLen * 4 + 2, bytes.length);
        const { padCnt, tver, ...bth } = p.bth;
        assert.deepEqual(bth, init.bth);
        assert.equal(padCnt, (4 - (size % 4)) % 4);
        assert.equal(tver, 0);
        if (global) {
          const g = p.grh!;
          assert.deepEqual(
            [g.sgid, g.dgid, g.tClass, g.flowLabel, g.hopLmt],
            [
              init.grh!.sgid,
              init.grh!.dgid,
              init.grh!.tClass,
              init.grh!.flowLabel,
              init.grh!.hopLmt,
            ],
          );
          assert.equal(g.ipVer, 6);
          assert.equal(g.nxtHdr, 0x1b);
          assert.equal(g.payLen, bytes.length - 2 - 48);
        } else assert.equal(p.grh, undefined);
        assert.deepEqual(p.deth, init.deth);
        assert.deepEqual(p.reth, init.reth);
        assert.deepEqual(p.atomicEth, init.atomicEth);
        assert.deepEqual(p.aeth, init.aeth);
        assert.deepEqual(p.atomicAckEth, init.atomicAckEth);
        assert.equal(p.immDt, init.immDt);
        assert.deepEqual(p.payload, init.payload ?? new Uint8Array(0));
        // Raw positions a dissector relies on.
        const o = global ? 48 : 8;
        assert.equal(bytes[o], info.value);
        assert.equal(peek.opcode(bytes), info.value);
        assert.equal(peek.dlid(bytes), init.lrh.dlid);
        assert.equal(peek.vl(bytes), init.lrh.vl);
        n++;
      }
    }
  }
  assert.ok(n > 200);
});

Deno.test("encode refuses what the opcode table forbids", () => {
  assert.throws(
    () => encodePacket({ lrh: { dlid: 1, slid: 2 }, bth: { opcode: 0x15, destQp: 1, psn: 0 } }),
    /unknown opcode/,
  );
  assert.throws(
    () =>
      encodePacket({
        lrh: { dlid: 1, slid: 2 },
        bth: { opcode: OP.RC_RDMA_WRITE_ONLY, destQp: 1, psn: 0 },
      }),
    /needs reth/,
  );
  assert.throws(
    () =>
      encodePacket({
        lrh: { dlid: 1, slid: 2 },
        bth: { opcode: OP.RC_SEND_ONLY, destQp: 1, psn: 0 },
        immDt: 5,
      }),
    /carries no immDt/,
  );
  assert.throws(
    () =>
      encodePacket({
        lrh: { dlid: 1, slid: 2 },
        bth: { opcode: OP.RC_ACKNOWLEDGE, destQp: 1, psn: 0 },
        aeth: { syndrome: 0, msn: 0 },
        payload: new Uint8Array(4),
      }),
    /carries no payload/,
  );
  assert.throws(() => sendOnly(new Uint8Array(8200)), /PktLen/);
});

Deno.test("fields sit at the IBTA bit positions", () => {
  const b = encodePacket({
    lrh: { dlid: 0x1234, slid: 0x5678, vl: 0xa, sl: 0x3 },
    bth: {
      opcode: OP.RC_SEND_ONLY,
      destQp: 0xabcdef,
      psn: 0x123456,
      pkey: 0x8001,
      se: true,
      ackReq: true,
    },
    payload: new Uint8Array([9]),
  });
  // LRH: VL|LVer, SL|rsv|LNH, DLID, rsv|PktLen, SLID.
  assert.deepEqual([...b.subarray(0, 8)], [0xa0, 0x32, 0x12, 0x34, 0x00, 0x07, 0x56, 0x78]);
  // BTH: opcode, SE|M|Pad|TVer, P_Key, resv8a, DestQP, A|rsv7, PSN.
  assert.deepEqual(
    [...b.subarray(8, 20)],
    [0x04, 0xb0, 0x80, 0x01, 0x00, 0xab, 0xcd, 0xef, 0x80, 0x12, 0x34, 0x56],
  );
  assert.deepEqual([...b.subarray(20, 24)], [9, 0, 0, 0]); // payload + 3 pad bytes
  assert.equal(b.length, 30);
});

Deno.test("AETH syndrome helpers encode IBTA table 44", () => {
  assert.equal(aethSyndrome.ack(aethSyndrome.CREDITS_INVALID), 0x1f);
  assert.equal(aethSyndrome.rnrNak(14), 0x2e);
  assert.equal(aethSyndrome.nak(aethSyndrome.NAK_PSN_SEQUENCE), 0x60);
  assert.deepEqual(aethSyndrome.parse(0x63), { kind: "nak", value: 3 });
  assert.deepEqual(aethSyndrome.parse(0x2e), { kind: "rnrNak", value: 14 });
  assert.deepEqual(aethSyndrome.parse(0x45), { kind: "reserved", value: 5 });
});

// ---- CRCs -------------------------------------------------------------

Deno.test("CRC-32 check value and a real ConnectX-4 Lx ICRC (known answers)", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  // A RoCEv2 CNP captured on a ConnectX-4 Lx (published in scapy's RoCE tests).
  // RoCE computes the ICRC as IBA does for a global packet, with 8 bytes of
  // ones for the absent LRH and the IP/UDP variant fields as ones.
  const frame = hexBytes(`
    e41d 2dab 2bc2 7cfe 9064 3b32 0800 45c2 003c 718c 4000 4011 9161 0a00
    1101 0a00 1201 0000 12b7 0028 0000 8100 ffff 4000 0118 0000 0000 0000
    0000 0000 0000 0000 0000 0000 0000 82fd 002a`);
  const ip = 14, udp = ip + 20, bth = udp + 8, end = frame.length - 4;
  const masked = new Set([ip + 1, ip + 8, ip + 10, ip + 11, udp + 6, udp + 7, bth + 4]);
  let c = 0xffffffff;
  for (let i = 0; i < 8; i++) c = crc32Byte(c, 0xff);
  for (let i = ip; i < bth; i++) c = crc32Byte(c, masked.has(i) ? 0xff : frame[i]);
  c = crc32Update(c, frame, bth, bth + 4);
  c = crc32Byte(c, 0xff);
  c = crc32Update(c, frame, bth + 5, end);
  const icrc = (c ^ 0xffffffff) >>> 0;
  // Stored least-significant byte first, as encodePacket stores it.
  assert.equal(new DataView(frame.buffer).getUint32(end, true), icrc);
  assert.equal(icrc, 0x2a00fd82);
});

Deno.test("CRC-16 (VCRC) agrees with a bit-serial unreflected implementation", () => {
  const rng = new Prng(7);
  for (const n of [0, 1, 2, 7, 8, 9, 15, 16, 17, 100, 4222]) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = rng.int(256);
    assert.equal(crc16(b), refCrc16(b), `length ${n}`);
  }
});

Deno.test("ICRC/VCRC of encoded packets match the references; ICRC ignores only variant fields", () => {
  const rng = new Prng(99);
  for (const info of [opcodeByName("RC_SEND_ONLY"), opcodeByName("UD_SEND_ONLY")]) {
    for (const global of [false, true]) {
      for (const size of [0, 3, 100, 1500]) {
        const b = encodePacket(initFor(info, rng, size, global));
        const dv = new DataView(b.buffer);
        assert.equal(dv.getUint32(b.length - 6, true), refIcrc(b));
        assert.equal(dv.getUint16(b.length - 2, true), refCrc16(b, b.length - 2));
        const icrc = dv.getUint32(b.length - 6, true);
        // Variant fields: the ICRC does not move, the packet still decodes after a VCRC fix.
        // [byte, bits]: LRH:VL (or, global, the whole LRH), GRH:TClass/FlowLabel/HopLmt, BTH:Resv8a.
        // [byte, bits]: LRH:VL (global: the whole LRH), GRH:TClass/FlowLabel/HopLmt, BTH:Resv8a.
        const globalVariant: [number, number][] = [
          [0, 0xf0],
          [1, 0xf0],
          [2, 0xff],
          [3, 0xff],
          [6, 0xff],
          [7, 0xff],
          [8, 0x0f],
          [9, 0xff],
          [10, 0xff],
          [11, 0xff],
          [15, 0xff],
          [52, 0xff],
        ];
        const localVariant: [number, number][] = [[0, 0xf0], [12, 0xff]];
        for (const [at, bits] of global ? globalVariant : localVariant) {
          const m = b.slice();
          m[at] ^= bits;
          assert.equal(refIcrc(m), icrc, `variant byte ${at} (global ${global})`);
          assert.equal(crcOfEncoder(m), icrc, `decoder agrees, byte ${at}`);
        }
        if (global) {
          // LVer, reserved bits and PktLen are masked too (decode rejects them for other reasons).
          for (const [at, bits] of [[0, 0x0f], [1, 0x0c], [4, 0xff], [5, 0xff]]) {
            const m = b.slice();
            m[at] ^= bits;
            assert.equal(refIcrc(m), icrc, `global LRH byte ${at}`);
          }
        }
        // Invariant fields: DLID (local only), PSN, last payload byte → ICRC changes.
        const o = global ? 48 : 8;
        const invariant = [o + 11, b.length - 7, ...(global ? [16, 47, 13] : [3, 1])];
        for (const at of invariant) {
          const m = b.slice();
          m[at] ^= at === 1 ? 0x10 : 0x01;
          assert.notEqual(refIcrc(m), icrc, `invariant byte ${at} (global ${global})`);
          const r = decodePacket(m);
          assert.ok(!r.ok);
        }
      }
    }
  }
});

Deno.test("a switch-style VL rewrite keeps the ICRC; decode accepts it after VCRC is redone", () => {
  const b = sendOnly();
  b[0] = (b[0] & 0x0f) | (7 << 4);
  const dv = new DataView(b.buffer);
  assert.equal(decodePacket(b.slice()).ok, false); // VCRC now wrong
  dv.setUint16(b.length - 2, refCrc16(b, b.length - 2), true);
  const r = decodePacket(b);
  assert.ok(r.ok);
  assert.equal(r.packet.lrh.vl, 7);
});

// ---- malformed input --------------------------------------------------

Deno.test("malformed packets give a reason, never an exception", () => {
  const good = sendOnly();
  const cases: [string, Uint8Array][] = [];
  cases.push(["short", new Uint8Array(10)]);
  cases.push(["short", new Uint8Array(0)]);
  cases.push(["length", good.subarray(0, good.length - 4)]);
  {
    const b = good.slice();
    b[12] ^= 1;
    cases.push(["vcrc", b]);
  }
  {
    const b = good.slice();
    b[20] ^= 0x80; // payload
    new DataView(b.buffer).setUint16(b.length - 2, refCrc16(b, b.length - 2), true);
    cases.push(["icrc", b]);
  }
  {
    const b = good.slice();
    b[8] = 0x15; // reserved RC opcode
    cases.push(["opcode", fixCrcs(b)]);
  }
  {
    const b = good.slice();
    b[0] |= 1; // LVer 1
    cases.push(["lver", fixCrcs(b)]);
  }
  {
    const b = good.slice();
    b[1] &= ~3; // LNH raw
    cases.push(["lnh", fixCrcs(b)]);
  }
  {
    const b = good.slice();
    b[9] |= 1; // TVer 1
    cases.push(["tver", fixCrcs(b)]);
  }
  {
    const g = encodePacket({
      lrh: { dlid: 2, slid: 1 },
      grh: { sgid: gid(1), dgid: gid(2) },
      bth: { opcode: OP.UD_SEND_ONLY, destQp: 1, psn: 1 },
      deth: { qkey: 1, srcQp: 2 },
    });
    const b1 = g.slice();
    b1[8] = (b1[8] & 0x0f) | 0x40; // IPVer 4
    cases.push(["grh", fixCrcs(b1)]);
    const b2 = g.slice();
    b2[14] = 0x11; // NxtHdr UDP
    cases.push(["grh", fixCrcs(b2)]);
    const b3 = g.slice();
    b3[13] += 4; // PayLen
    cases.push(["grh", fixCrcs(b3)]);
  }
  {
    // An ACK (no payload) with 4 extra bytes and PktLen to match.
    const ack = encodePacket({
      lrh: { dlid: 2, slid: 1 },
      bth: { opcode: OP.RC_ACKNOWLEDGE, destQp: 1, psn: 1 },
      aeth: { syndrome: 0, msn: 1 },
    });
    const b = new Uint8Array(ack.length + 4);
    b.set(ack.subarray(0, ack.length - 6));
    b[5] += 1;
    cases.push(["pad", fixCrcs(b)]);
  }
  {
    // RDMA WRITE ONLY cut off inside its RETH, PktLen consistent.
    const w = encodePacket({
      lrh: { dlid: 2, slid: 1 },
      bth: { opcode: OP.RC_RDMA_WRITE_ONLY, destQp: 1, psn: 1 },
      reth: { va: 0n, rkey: 1, dmaLen: 0 },
    });
    const b = new Uint8Array(8 + 12 + 8 + 6);
    b.set(w.subarray(0, 28));
    b[5] = (b.length - 2) / 4;
    cases.push(["length", fixCrcs(b)]);
  }
  for (const [code, bytes] of cases) {
    const r = decodePacket(bytes);
    assert.equal(r.ok, false, code);
    if (!r.ok) {
      assert.equal(r.code, code, r.reason);
      assert.ok(r.reason.length > 10);
    }
  }
  // With CRC checking off, a payload bit flip passes (the option does what it says).
  const b = good.slice();
  b[20] ^= 1;
  assert.equal(decodePacket(b, { checkCrc: false }).ok, true);
});

Deno.test("fuzz: random bytes and truncations never throw", () => {
  const rng = new Prng(2024);
  const base = encodePacket({
    lrh: { dlid: 3, slid: 4 },
    grh: { sgid: gid(3), dgid: gid(4) },
    bth: { opcode: OP.RC_RDMA_WRITE_FIRST, destQp: 9, psn: 1 },
    reth: { va: 1n, rkey: 2, dmaLen: 64 },
    payload: new Uint8Array(64),
  });
  let rejected = 0;
  for (let i = 0; i < 3000; i++) {
    let b: Uint8Array;
    if (i % 3 === 0) {
      b = new Uint8Array(rng.int(200));
      for (let k = 0; k < b.length; k++) b[k] = rng.int(256);
      if (b.length > 6) b[5] = (b.length - 2) >>> 2; // plausible PktLen half the time
    } else if (i % 3 === 1) {
      b = base.subarray(0, rng.int(base.length));
    } else {
      b = base.slice();
      b[rng.int(b.length)] ^= 1 << rng.int(8);
    }
    const r = decodePacket(b);
    if (!r.ok) rejected++;
  }
  assert.equal(rejected, 3000); // no random or damaged packet is accepted
});

/** Every field a receiver reads, the CRCs included (a getter on a packet read from headers). */
function fields(p: Packet) {
  return {
    lrh: p.lrh,
    grh: p.grh,
    bth: p.bth,
    payload: [...p.payload],
    info: p.info.name,
    icrc: p.icrc,
    vcrc: p.vcrc,
    deth: p.deth,
    reth: p.reth,
    atomicEth: p.atomicEth,
    aeth: p.aeth,
    atomicAckEth: p.atomicAckEth,
    immDt: p.immDt,
  };
}

Deno.test("WirePacket: decoding without bytes gives what decoding the bytes gives, for every opcode", () => {
  const rng = new Prng(0x3c);
  let n = 0;
  for (const info of OPCODES) {
    for (const global of [false, true]) {
      for (const size of info.hasPayload ? [0, 1, 3, 4, 255, 2048] : [0]) {
        const init = initFor(info, rng, size, global);
        // Values wider than their fields: the bytes keep only the low bits.
        init.lrh.dlid += 0x10000;
        init.bth.psn += 0x1000000;
        init.bth.destQp += 0x3000000;
        const w = new WirePacket(init);
        assert.equal(w.length, wireLength(info.value, size, global));
        assert.equal(w.dlid, init.lrh.dlid & 0xffff);
        assert.equal(w.vl, init.lrh.vl);
        assert.equal(w.opcode, info.value);
        const r = w.decode();
        if (!r.ok) throw new Error(`${info.name} size ${size}: ${r.reason}`);
        // A local packet is answered from its headers; the bytes are not built for it.
        assert.equal(w.encoded, global, `${info.name}: encoded only when global`);
        const want = decodePacket(encodePacket(init));
        assert.ok(want.ok);
        assert.deepEqual(fields(r.packet), fields(want.packet), `${info.name} size ${size}`);
        assert.deepEqual(w.bytes, encodePacket(init));
        n++;
      }
    }
  }
  assert.ok(n > 150);
});

Deno.test("WirePacket: the payload is the sender's at the time the packet was made", () => {
  const payload = new Uint8Array([1, 2, 3, 4, 5]);
  const init: PacketInit = {
    lrh: { dlid: 2, slid: 1 },
    bth: { opcode: OP.RC_SEND_ONLY, destQp: 5, psn: 0 },
    payload,
  };
  const w = new WirePacket(init);
  const before = encodePacket(init);
  payload.fill(9); // the sender's buffer changes while the packet is in flight
  const r = w.decode();
  assert.ok(r.ok);
  assert.deepEqual([...r.packet.payload], [1, 2, 3, 4, 5]);
  assert.deepEqual(w.bytes, before);
});

Deno.test("WirePacket: payload copies whose space is given back and reused never touch packets still held", () => {
  // Many MTU-sized payloads (several slabs' worth), every other one released as soon as it
  // is made, so released space is reused while the held packets are still in flight.
  const held: { w: WirePacket; fill: number; n: number }[] = [];
  for (let i = 0; i < 400; i++) {
    const n = [2048, 4096, 256, 4100, 1][i % 5]; // 4100: above the largest MTU
    const fill = (i * 7 + 1) & 0xff;
    const w = new WirePacket({
      lrh: { dlid: 2, slid: 1 },
      bth: { opcode: OP.RC_RDMA_WRITE_MIDDLE, destQp: 5, psn: i },
      payload: new Uint8Array(n).fill(fill),
    });
    if (i % 2 === 1) w.release();
    else held.push({ w, fill, n });
    if (i % 50 === 49) {
      // Release the older half of what is held, in order, as a receiver's DMA writes would.
      for (const h of held.splice(0, held.length >> 1)) {
        const r = h.w.decode();
        assert.ok(r.ok);
        assert.equal(r.packet.payload.length, h.n);
        assert.ok(r.packet.payload.every((b) => b === h.fill), `packet of ${h.n} B changed`);
        h.w.release();
      }
    }
  }
  for (const h of held) {
    const r = h.w.decode();
    assert.ok(r.ok);
    assert.equal(r.packet.payload.length, h.n);
    assert.ok(r.packet.payload.every((b) => b === h.fill), `packet of ${h.n} B changed`);
  }
});

Deno.test("WirePacket: refuses what encodePacket refuses, when made", () => {
  assert.throws(
    () => new WirePacket({ lrh: { dlid: 1, slid: 2 }, bth: { opcode: 0x15, destQp: 1, psn: 0 } }),
    /unknown opcode/,
  );
  assert.throws(
    () =>
      new WirePacket({
        lrh: { dlid: 1, slid: 2 },
        bth: { opcode: OP.RC_RDMA_WRITE_ONLY, destQp: 1, psn: 0 },
      }),
    /needs reth/,
  );
  // Bytes given as such are taken as they are, and checked on decode.
  const bad = new WirePacket(new Uint8Array(10));
  const r = bad.decode();
  assert.equal(r.ok ? "ok" : r.code, "short");
});

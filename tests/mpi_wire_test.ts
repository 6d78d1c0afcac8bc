/**
 * The MPI channel's header and tail layout (`mpi/wire.ts`), checked against
 * an encoder written with DataView's little-endian stores: the byte layout
 * is the wire contract between ranks.
 */
import assert from "node:assert/strict";
import {
  decodeHeader,
  encodeHeader,
  type Header,
  HEADER_BYTES,
  TAIL_BYTES,
  TAIL_MAGIC,
  tailFor,
  tailMatches,
  writeTail,
} from "../mpi/wire.ts";
import { Prng } from "../sim/prng.ts";

function reference(h: Header): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  const v = new DataView(out.buffer);
  v.setUint8(0, h.type);
  v.setUint16(2, Math.min(h.vbufCredits, 0xffff), true);
  v.setUint32(4, h.seq >>> 0, true);
  v.setUint16(8, Math.min(h.ringCredits, 0xffff), true);
  v.setUint32(12, h.context >>> 0, true);
  v.setInt32(16, h.src, true);
  v.setInt32(20, h.tag, true);
  v.setUint32(24, h.size >>> 0, true);
  v.setUint32(28, h.len >>> 0, true);
  v.setUint32(32, h.sreq >>> 0, true);
  v.setUint32(36, h.rreq >>> 0, true);
  v.setUint32(40, h.rkey >>> 0, true);
  v.setUint32(44, Math.floor(h.addr / 0x1_0000_0000) >>> 0, true);
  v.setUint32(48, h.addr >>> 0, true);
  v.setUint32(52, h.length >>> 0, true);
  return out;
}

Deno.test("headers: the bytes of DataView's little-endian layout, and back", () => {
  const rng = new Prng(14);
  const u32 = () => rng.nextU32();
  const cases: Header[] = [
    // Extremes: negative source and tag (MPI_ANY_*), the largest address, saturated credits.
    {
      type: 255,
      vbufCredits: 70_000,
      seq: 0xffff_ffff,
      ringCredits: 0xffff,
      context: 0xffff_ffff,
      src: -1,
      tag: -2_147_483_648,
      size: 0xffff_ffff,
      len: 0,
      sreq: 0,
      rreq: 0xffff_ffff,
      rkey: 0x8000_0000,
      addr: Number.MAX_SAFE_INTEGER,
      length: 1,
    },
  ];
  for (let i = 0; i < 200; i++) {
    cases.push({
      type: rng.int(256),
      vbufCredits: rng.int(0x10000),
      seq: u32(),
      ringCredits: rng.int(0x10000),
      context: u32(),
      src: u32() | 0,
      tag: u32() | 0,
      size: u32(),
      len: u32(),
      sreq: u32(),
      rreq: u32(),
      rkey: u32(),
      addr: u32() * 0x20_0000 + rng.int(0x20_0000),
      length: u32(),
    });
  }
  for (const h of cases) {
    const out = new Uint8Array(HEADER_BYTES + 3).fill(0xee);
    encodeHeader(out, h);
    assert.deepEqual(out.subarray(0, HEADER_BYTES), reference(h));
    assert.deepEqual([...out.subarray(HEADER_BYTES)], [0xee, 0xee, 0xee]); // nothing past the header
    const back = decodeHeader(out);
    assert.deepEqual(back, {
      ...h,
      vbufCredits: Math.min(h.vbufCredits, 0xffff),
      ringCredits: Math.min(h.ringCredits, 0xffff),
    });
  }
  assert.throws(
    () => decodeHeader(new Uint8Array(HEADER_BYTES - 1)),
    /decodeHeader: 55 bytes, a header has 56/,
  );
  assert.throws(
    () => encodeHeader(new Uint8Array(HEADER_BYTES - 1), cases[0]),
    /encodeHeader: 55 bytes, a header has 56/,
  );
});

Deno.test("tails: (seq, seq ^ magic) little-endian, written in place, matched exactly", () => {
  for (const seq of [0, 1, 41, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]) {
    const t = tailFor(seq);
    const v = new DataView(t.buffer);
    assert.equal(v.getUint32(0, true), seq >>> 0);
    assert.equal(v.getUint32(4, true), (seq ^ TAIL_MAGIC) >>> 0);
    const slot = new Uint8Array(5 + TAIL_BYTES);
    writeTail(slot, 5, seq);
    assert.deepEqual(slot.subarray(5), t);
    assert.equal(tailMatches(t, seq), true);
    assert.equal(tailMatches(t, seq + 1), false);
    const torn = t.slice();
    torn[7] ^= 1; // the tail's last byte not yet written
    assert.equal(tailMatches(torn, seq), false);
  }
  assert.equal(tailMatches(new Uint8Array(TAIL_BYTES - 1), 0), false);
});

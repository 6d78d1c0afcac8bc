import assert from "node:assert/strict";
import { decodeCm, encodeCm, encodePathRecord, type PathRecord } from "../drivers/verbs/cm_mad.ts";

const record: PathRecord = {
  dgid: new Uint8Array(16),
  sgid: new Uint8Array(16),
  dlid: 2,
  slid: 1,
  trafficClass: 0,
  pkey: 0xffff,
  qosClass: 0,
  sl: 0,
  mtu: 4,
  rate: 3,
  packetLifeTime: 18,
};

Deno.test("cm_mad: a PathRecord query's ComponentMask names the fields it sets (IBTA §15.2.1.1)", () => {
  const q = encodePathRecord(record, 1n, false);
  const v = new DataView(q.buffer);
  // Linux ib_sa.h: IB_SA_PATH_REC_DGID 2, SGID 3, DLID 4, SLID 5, REVERSIBLE 11, NUMB_PATH 12,
  // PKEY 13, QOS_CLASS 14.
  assert.equal(v.getBigUint64(48), 0x783cn);
  assert.equal(v.getUint16(44), 0); // AttributeOffset is for answers
});

Deno.test("cm_mad: a PathRecord answer's AttributeOffset is the record's 8 words (IBTA §15.2.1.1)", () => {
  const a = encodePathRecord(record, 1n, true);
  const v = new DataView(a.buffer);
  assert.equal(v.getUint16(44), 8);
  assert.equal(v.getBigUint64(48), 0n);
});

Deno.test("cm_mad: a REJ's ARI sits at byte 12 with its length in the high 7 bits of byte 9 (IBTA table 108)", () => {
  const ari = Uint8Array.of(0x00, 0x02, 0xc9, 0x03, 0x00, 0x00, 0x00, 0x01);
  const mad = encodeCm({
    kind: "REJ",
    localCommId: 5,
    remoteCommId: 0,
    messageRejected: 2,
    reason: 4,
    ari,
  }, 1n);
  assert.equal(mad[24 + 9], 8 << 1);
  assert.deepEqual(mad.slice(24 + 12, 24 + 20), ari);
  const back = decodeCm(mad);
  assert.ok(back?.kind === "REJ");
  assert.deepEqual(back.ari, ari);
  assert.throws(
    () =>
      encodeCm({
        kind: "REJ",
        localCommId: 5,
        remoteCommId: 0,
        messageRejected: 2,
        reason: 4,
        ari: new Uint8Array(73),
      }, 1n),
    /ARI 73 > 72/,
  );
});

Deno.test("cm_mad: an MRA's MessageMRAed and ServiceTimeout sit in the high bits of bytes 8 and 9, its private data at 10 (IBTA table 107)", () => {
  const mad = encodeCm({
    kind: "MRA",
    localCommId: 3,
    remoteCommId: 4,
    messageMraed: 1,
    serviceTimeout: 24,
    privateData: new Uint8Array(222).fill(5),
  }, 2n);
  assert.deepEqual([mad[17], mad[24 + 8], mad[24 + 9], mad[24 + 10]], [0x11, 1 << 6, 24 << 3, 5]);
  const back = decodeCm(mad);
  assert.ok(back?.kind === "MRA");
  assert.deepEqual(
    [back.localCommId, back.remoteCommId, back.messageMraed, back.serviceTimeout, back.tid],
    [3, 4, 1, 24, 2n],
  );
  assert.throws(
    () =>
      encodeCm({
        kind: "MRA",
        localCommId: 3,
        remoteCommId: 4,
        messageMraed: 0,
        serviceTimeout: 24,
        privateData: new Uint8Array(223),
      }, 1n),
    /223 > 222/,
  );
});

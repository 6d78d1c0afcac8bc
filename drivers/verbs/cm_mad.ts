/**
 * The management datagrams the connection manager exchanges, byte for byte
 * as the IBTA lays them out: the 24-byte common MAD header (vol. 1
 * §13.4.3), the communication management messages of chapter 12 (REQ,
 * REP, RTU, REJ, DREQ, DREP: tables 106–113, offsets as Linux's
 * `include/rdma/ibta_vol1_c12.h` has them), and the subnet administrator's
 * PathRecord query and answer (§15.2.5.16, class 0x03). Every MAD is 256
 * bytes on the wire, whatever it carries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeCm, encodeCm, MAD_BYTES } from "./cm_mad.ts";
 * const rtu = encodeCm({ kind: "RTU", localCommId: 7, remoteCommId: 9 }, 1n);
 * assert.equal(rtu.length, MAD_BYTES);
 * assert.deepEqual(decodeCm(rtu)?.kind, "RTU");
 * ```
 *
 * @module
 */

/**
 * Every MAD is 256 bytes (IBTA vol. 1 §13.4.2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeCm, MAD_BYTES } from "./cm_mad.ts";
 * assert.equal(MAD_BYTES, 256);
 * assert.equal(encodeCm({ kind: "RTU", localCommId: 1, remoteCommId: 2 }, 1n).length, MAD_BYTES);
 * ```
 */
export const MAD_BYTES = 256;
/** The common MAD header (IBTA vol. 1 §13.4.3, figure 145). */
export const MAD_HEADER_BYTES = 24;
/** Management class of communication management (IBTA vol. 1 table 102). */
export const MGMT_CLASS_CM = 0x07;
/** Management class of subnet administration (IBTA vol. 1 table 102). */
export const MGMT_CLASS_SA = 0x03;
const CM_CLASS_VERSION = 2;
const SA_CLASS_VERSION = 2;
const METHOD_GET = 0x01;
const METHOD_SEND = 0x03;
const METHOD_GET_RESP = 0x81;
const ATTR_PATH_RECORD = 0x0035;

/**
 * The CM messages' attribute IDs (IBTA vol. 1 table 104).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CM_ATTR } from "./cm_mad.ts";
 * assert.equal(CM_ATTR.REQ, 0x0010);
 * ```
 */
export const CM_ATTR = {
  REQ: 0x0010,
  MRA: 0x0011,
  REJ: 0x0012,
  REP: 0x0013,
  RTU: 0x0014,
  DREQ: 0x0015,
  DREP: 0x0016,
} as const;

/**
 * Private data each message carries (IBTA vol. 1 tables 106–113). Over
 * IP-based rdma_cm the CMA header takes the first 36 bytes of a REQ's, so
 * `rdma_connect` takes at most 56 (rdma_connect(3)).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PRIVATE_DATA_BYTES } from "./cm_mad.ts";
 * assert.deepEqual([PRIVATE_DATA_BYTES.REQ, PRIVATE_DATA_BYTES.REP], [92, 196]);
 * ```
 */
export const PRIVATE_DATA_BYTES = {
  REQ: 92,
  MRA: 222,
  REP: 196,
  RTU: 224,
  REJ: 148,
  DREQ: 220,
  DREP: 224,
} as const;

/**
 * REJ reasons used here (IBTA vol. 1 table 109).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RejReason } from "./cm_mad.ts";
 * assert.equal(RejReason.INVALID_SERVICE_ID, 8); // no listener on the port
 * ```
 */
export const RejReason = {
  NO_QP: 1,
  NO_RESOURCES: 3,
  TIMEOUT: 4,
  INVALID_COMM_ID: 6,
  INVALID_SERVICE_ID: 8,
  STALE_CONN: 10,
  CONSUMER_REJECT: 28,
} as const;

/**
 * The REQ's fields (IBTA vol. 1 table 106; alternate path unused, zero).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CM_ATTR, type CmReq } from "./cm_mad.ts";
 * const kind: CmReq["kind"] = "REQ";
 * assert.equal(CM_ATTR[kind], 0x10);
 * ```
 */
export interface CmReq {
  /** The message. */
  kind: "REQ";
  /** The sender's communication ID. */
  localCommId: number;
  /** The service the REQ asks for (rdma_cm: port space and port). */
  serviceId: bigint;
  /** The sender's CA (node) GUID. */
  localCaGuid: bigint;
  /** The sender's QP number. */
  localQpn: number;
  /** RDMA READs/atomics the sender accepts as responder. */
  responderResources: number;
  /** RDMA READs/atomics the sender keeps outstanding. */
  initiatorDepth: number;
  /** 4.096 µs × 2^n the sender waits for an answer. */
  remoteCmResponseTimeout: number;
  /** 0 RC, 1 UC, 3 UD (table 106's transport service type). */
  transportType: number;
  /** The first PSN the sender sends. */
  startingPsn: number;
  /** How long the sender takes to answer (4.096 µs × 2^value). */
  localCmResponseTimeout: number;
  /** Transport retries 0..7. */
  retryCount: number;
  /** Partition key. */
  pkey: number;
  /** IBTA MTU code (1 = 256 … 5 = 4096). */
  pathMtu: number;
  /** RNR retries 0..7 (7: infinite). */
  rnrRetryCount: number;
  /** Times a CM message is sent again without an answer. */
  maxCmRetries: number;
  /** The path's source LID. */
  primaryLocalLid: number;
  /** The path's destination LID. */
  primaryRemoteLid: number;
  /** The path's source GID (16 bytes). */
  primaryLocalGid: Uint8Array;
  /** The path's destination GID (16 bytes). */
  primaryRemoteGid: Uint8Array;
  /** PrimaryPacketRate: the path's IBTA rate code (2 = 2.5 Gb/s, 3 = 10 Gb/s, …). */
  packetRate: number;
  /** Traffic class. */
  trafficClass: number;
  /** Hop limit. */
  hopLimit: number;
  /** Service level. */
  sl: number;
  /** Transport ACK timeout (4.096 µs × 2^value). */
  localAckTimeout: number;
  /** The message's private data (zero-padded to its field). */
  privateData: Uint8Array;
}

/**
 * The REP's fields (IBTA vol. 1 table 110).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CM_ATTR, type CmRep } from "./cm_mad.ts";
 * const kind: CmRep["kind"] = "REP";
 * assert.equal(CM_ATTR[kind], 0x13);
 * ```
 */
export interface CmRep {
  /** The message. */
  kind: "REP";
  /** The sender's communication ID. */
  localCommId: number;
  /** The receiver's communication ID (its `localCommId`). */
  remoteCommId: number;
  /** The sender's QP number. */
  localQpn: number;
  /** The first PSN the sender sends. */
  startingPsn: number;
  /** RDMA READs/atomics the sender accepts as responder. */
  responderResources: number;
  /** RDMA READs/atomics the sender keeps outstanding. */
  initiatorDepth: number;
  /** ACK delay the receiver adds (4.096 µs × 2^value). */
  targetAckDelay: number;
  /** RNR retries 0..7 (7: infinite). */
  rnrRetryCount: number;
  /** The sender's CA (node) GUID. */
  localCaGuid: bigint;
  /** The message's private data (zero-padded to its field). */
  privateData: Uint8Array;
}

/**
 * RTU, DREP (tables 111, 113): the two communication IDs and private data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CmIdsOnly, decodeCm, encodeCm } from "./cm_mad.ts";
 * const drep: CmIdsOnly = { kind: "DREP", localCommId: 4, remoteCommId: 3 };
 * assert.equal(decodeCm(encodeCm(drep, 2n))?.kind, "DREP");
 * ```
 */
export interface CmIdsOnly {
  /** The message. */
  kind: "RTU" | "DREP";
  /** The sender's communication ID. */
  localCommId: number;
  /** The receiver's communication ID (its `localCommId`). */
  remoteCommId: number;
  /** The message's private data (zero-padded to its field). */
  privateData?: Uint8Array;
}

/**
 * The REJ's fields (IBTA vol. 1 table 108).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CmRej, RejReason } from "./cm_mad.ts";
 * const rej: CmRej = { kind: "REJ", localCommId: 0, remoteCommId: 9, messageRejected: 0, reason: 28 };
 * assert.equal(rej.reason, RejReason.CONSUMER_REJECT);
 * ```
 */
export interface CmRej {
  /** The message. */
  kind: "REJ";
  /** The sender's communication ID. */
  localCommId: number;
  /** The receiver's communication ID (its `localCommId`). */
  remoteCommId: number;
  /** 0 REQ, 1 REP, 2 other. */
  messageRejected: number;
  /** The REJ reason (`RejReason`). */
  reason: number;
  /**
   * Additional Rejection Information, up to 72 bytes (its length is the
   * RejectedInfoLength field); for reason 4 ("timeout") the CA GUID of the
   * CM that timed out (IBTA vol. 1 table 109; Linux `cm_destroy_id`).
   */
  ari?: Uint8Array;
  /** The message's private data (zero-padded to its field). */
  privateData?: Uint8Array;
}

/** The REJ's Additional Rejection Information field (IBTA vol. 1 table 108). */
const REJ_ARI_BYTES = 72;

/**
 * The DREQ's fields (IBTA vol. 1 table 112).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CmDreq, decodeCm, encodeCm } from "./cm_mad.ts";
 * const dreq: CmDreq = { kind: "DREQ", localCommId: 1, remoteCommId: 2, remoteQpn: 0x48 };
 * const back = decodeCm(encodeCm(dreq, 1n));
 * assert.equal(back?.kind === "DREQ" && back.remoteQpn, 0x48);
 * ```
 */
export interface CmDreq {
  /** The message. */
  kind: "DREQ";
  /** The sender's communication ID. */
  localCommId: number;
  /** The receiver's communication ID (its `localCommId`). */
  remoteCommId: number;
  /** The receiver's QP number (the connection to end). */
  remoteQpn: number;
  /** The message's private data (zero-padded to its field). */
  privateData?: Uint8Array;
}

/**
 * The MRA's fields (IBTA vol. 1 table 107): "message received, answer
 * later" — the sender needs up to `serviceTimeout` before it answers the
 * message `messageMraed` names, and the receiver waits that long (plus a
 * packet lifetime) before it sends the message again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CmMra, decodeCm, encodeCm } from "./cm_mad.ts";
 * const mra: CmMra = { kind: "MRA", localCommId: 2, remoteCommId: 1, messageMraed: 0, serviceTimeout: 24 };
 * const back = decodeCm(encodeCm(mra, 1n));
 * assert.equal(back?.kind === "MRA" && back.serviceTimeout, 24);
 * ```
 */
export interface CmMra {
  /** The message. */
  kind: "MRA";
  /** The sender's communication ID. */
  localCommId: number;
  /** The receiver's communication ID (its `localCommId`). */
  remoteCommId: number;
  /** The message answered later: 0 REQ, 1 REP, 2 other (LAP). */
  messageMraed: number;
  /** How long the sender needs to answer: 4.096 µs × 2^value (5 bits). */
  serviceTimeout: number;
  /** The message's private data (zero-padded to its field). */
  privateData?: Uint8Array;
}

/**
 * A CM message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CmMsg, decodeCm, encodeCm } from "./cm_mad.ts";
 * const rej: CmMsg = { kind: "REJ", localCommId: 0, remoteCommId: 5, messageRejected: 0, reason: 8 };
 * const back = decodeCm(encodeCm(rej, 1n));
 * assert.equal(back?.kind === "REJ" && back.reason, 8);
 * ```
 */
export type CmMsg = CmReq | CmRep | CmIdsOnly | CmRej | CmDreq | CmMra;

const put24 = (v: DataView, at: number, x: number) => {
  v.setUint8(at, (x >>> 16) & 0xff);
  v.setUint16(at + 1, x & 0xffff);
};
const get24 = (v: DataView, at: number) => (v.getUint8(at) << 16) | v.getUint16(at + 1);

function header(
  v: DataView,
  mgmtClass: number,
  classVersion: number,
  method: number,
  tid: bigint,
  attrId: number,
): void {
  v.setUint8(0, 1); // BaseVersion
  v.setUint8(1, mgmtClass);
  v.setUint8(2, classVersion);
  v.setUint8(3, method);
  v.setBigUint64(8, tid);
  v.setUint16(16, attrId);
}

function privateData(out: Uint8Array, at: number, max: number, data?: Uint8Array): void {
  if (!data) return;
  if (data.length > max) throw new RangeError(`private data ${data.length} > ${max} bytes`);
  out.set(data, at);
}

/**
 * A CM message as its 256-byte MAD (method Send, class version 2).
 *
 * @throws RangeError when the private data is longer than the message holds
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeCm, MGMT_CLASS_CM } from "./cm_mad.ts";
 * const m = encodeCm({ kind: "DREP", localCommId: 1, remoteCommId: 2 }, 5n);
 * assert.deepEqual([m[1], m[17]], [MGMT_CLASS_CM, 0x16]); // class CM, attribute DREP
 * ```
 */
export function encodeCm(msg: CmMsg, tid: bigint): Uint8Array {
  const out = new Uint8Array(MAD_BYTES);
  const v = new DataView(out.buffer);
  header(v, MGMT_CLASS_CM, CM_CLASS_VERSION, METHOD_SEND, tid, CM_ATTR[msg.kind]);
  const b = MAD_HEADER_BYTES; // message fields start after the header
  v.setUint32(b, msg.localCommId >>> 0);
  switch (msg.kind) {
    case "REQ":
      v.setBigUint64(b + 8, msg.serviceId);
      v.setBigUint64(b + 16, msg.localCaGuid);
      put24(v, b + 32, msg.localQpn);
      v.setUint8(b + 35, msg.responderResources);
      v.setUint8(b + 39, msg.initiatorDepth);
      v.setUint8(b + 43, (msg.remoteCmResponseTimeout << 3) | (msg.transportType << 1));
      put24(v, b + 44, msg.startingPsn);
      v.setUint8(b + 47, (msg.localCmResponseTimeout << 3) | msg.retryCount);
      v.setUint16(b + 48, msg.pkey);
      v.setUint8(b + 50, (msg.pathMtu << 4) | msg.rnrRetryCount);
      v.setUint8(b + 51, msg.maxCmRetries << 4);
      v.setUint16(b + 52, msg.primaryLocalLid);
      v.setUint16(b + 54, msg.primaryRemoteLid);
      out.set(msg.primaryLocalGid.subarray(0, 16), b + 56);
      out.set(msg.primaryRemoteGid.subarray(0, 16), b + 72);
      v.setUint8(b + 91, msg.packetRate & 0x3f); // after FlowLabel (20 bits) and 6 reserved
      v.setUint8(b + 92, msg.trafficClass);
      v.setUint8(b + 93, msg.hopLimit);
      v.setUint8(b + 94, (msg.sl << 4) | 0x08); // subnet local
      v.setUint8(b + 95, msg.localAckTimeout << 3);
      privateData(out, b + 140, PRIVATE_DATA_BYTES.REQ, msg.privateData);
      break;
    case "REP":
      v.setUint32(b + 4, msg.remoteCommId >>> 0);
      put24(v, b + 12, msg.localQpn);
      put24(v, b + 20, msg.startingPsn);
      v.setUint8(b + 24, msg.responderResources);
      v.setUint8(b + 25, msg.initiatorDepth);
      v.setUint8(b + 26, msg.targetAckDelay << 3);
      v.setUint8(b + 27, msg.rnrRetryCount << 5);
      v.setBigUint64(b + 28, msg.localCaGuid);
      privateData(out, b + 36, PRIVATE_DATA_BYTES.REP, msg.privateData);
      break;
    case "RTU":
    case "DREP":
      v.setUint32(b + 4, msg.remoteCommId >>> 0);
      privateData(out, b + 8, PRIVATE_DATA_BYTES[msg.kind], msg.privateData);
      break;
    case "REJ":
      v.setUint32(b + 4, msg.remoteCommId >>> 0);
      v.setUint8(b + 8, msg.messageRejected << 6);
      v.setUint16(b + 10, msg.reason);
      if (msg.ari) {
        if (msg.ari.length > REJ_ARI_BYTES) {
          throw new RangeError(`REJ ARI ${msg.ari.length} > ${REJ_ARI_BYTES} bytes`);
        }
        // RejectedInfoLength: the high 7 bits of byte 9 (ibta_vol1_c12.h).
        v.setUint8(b + 9, msg.ari.length << 1);
        out.set(msg.ari, b + 12);
      }
      privateData(out, b + 84, PRIVATE_DATA_BYTES.REJ, msg.privateData);
      break;
    case "DREQ":
      v.setUint32(b + 4, msg.remoteCommId >>> 0);
      put24(v, b + 8, msg.remoteQpn);
      privateData(out, b + 12, PRIVATE_DATA_BYTES.DREQ, msg.privateData);
      break;
    case "MRA":
      // ibta_vol1_c12.h: MessageMRAed the high 2 bits of byte 8, ServiceTimeout the high 5
      // bits of byte 9, private data from byte 10.
      v.setUint32(b + 4, msg.remoteCommId >>> 0);
      v.setUint8(b + 8, (msg.messageMraed & 3) << 6);
      v.setUint8(b + 9, (msg.serviceTimeout & 0x1f) << 3);
      privateData(out, b + 10, PRIVATE_DATA_BYTES.MRA, msg.privateData);
      break;
  }
  return out;
}

/**
 * The CM message in a MAD, with its transaction ID; undefined when the MAD
 * is not a CM Send this module knows (LAP, APR, SIDR…).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeCm, encodeCm } from "./cm_mad.ts";
 * const m = decodeCm(encodeCm({ kind: "DREQ", localCommId: 3, remoteCommId: 4, remoteQpn: 0x48 }, 9n));
 * assert.deepEqual([m?.kind, m?.tid], ["DREQ", 9n]);
 * ```
 */
export function decodeCm(mad: Uint8Array): (CmMsg & { tid: bigint }) | undefined {
  if (mad.length !== MAD_BYTES || mad[1] !== MGMT_CLASS_CM || mad[3] !== METHOD_SEND) {
    return undefined;
  }
  const v = new DataView(mad.buffer, mad.byteOffset, MAD_BYTES);
  const tid = v.getBigUint64(8);
  const attr = v.getUint16(16);
  const b = MAD_HEADER_BYTES;
  const localCommId = v.getUint32(b);
  const remoteCommId = v.getUint32(b + 4);
  const pd = (at: number, n: number) => mad.slice(b + at, b + at + n);
  switch (attr) {
    case CM_ATTR.REQ:
      return {
        kind: "REQ",
        tid,
        localCommId,
        serviceId: v.getBigUint64(b + 8),
        localCaGuid: v.getBigUint64(b + 16),
        localQpn: get24(v, b + 32),
        responderResources: v.getUint8(b + 35),
        initiatorDepth: v.getUint8(b + 39),
        remoteCmResponseTimeout: v.getUint8(b + 43) >> 3,
        transportType: (v.getUint8(b + 43) >> 1) & 3,
        startingPsn: get24(v, b + 44),
        localCmResponseTimeout: v.getUint8(b + 47) >> 3,
        retryCount: v.getUint8(b + 47) & 7,
        pkey: v.getUint16(b + 48),
        pathMtu: v.getUint8(b + 50) >> 4,
        rnrRetryCount: v.getUint8(b + 50) & 7,
        maxCmRetries: v.getUint8(b + 51) >> 4,
        primaryLocalLid: v.getUint16(b + 52),
        primaryRemoteLid: v.getUint16(b + 54),
        primaryLocalGid: pd(56, 16),
        primaryRemoteGid: pd(72, 16),
        packetRate: v.getUint8(b + 91) & 0x3f,
        trafficClass: v.getUint8(b + 92),
        hopLimit: v.getUint8(b + 93),
        sl: v.getUint8(b + 94) >> 4,
        localAckTimeout: v.getUint8(b + 95) >> 3,
        privateData: pd(140, PRIVATE_DATA_BYTES.REQ),
      };
    case CM_ATTR.REP:
      return {
        kind: "REP",
        tid,
        localCommId,
        remoteCommId,
        localQpn: get24(v, b + 12),
        startingPsn: get24(v, b + 20),
        responderResources: v.getUint8(b + 24),
        initiatorDepth: v.getUint8(b + 25),
        targetAckDelay: v.getUint8(b + 26) >> 3,
        rnrRetryCount: v.getUint8(b + 27) >> 5,
        localCaGuid: v.getBigUint64(b + 28),
        privateData: pd(36, PRIVATE_DATA_BYTES.REP),
      };
    case CM_ATTR.RTU:
      return { kind: "RTU", tid, localCommId, remoteCommId, privateData: pd(8, 224) };
    case CM_ATTR.DREP:
      return { kind: "DREP", tid, localCommId, remoteCommId, privateData: pd(8, 224) };
    case CM_ATTR.REJ:
      return {
        kind: "REJ",
        tid,
        localCommId,
        remoteCommId,
        messageRejected: v.getUint8(b + 8) >> 6,
        reason: v.getUint16(b + 10),
        ari: pd(12, Math.min(v.getUint8(b + 9) >> 1, REJ_ARI_BYTES)),
        privateData: pd(84, PRIVATE_DATA_BYTES.REJ),
      };
    case CM_ATTR.DREQ:
      return {
        kind: "DREQ",
        tid,
        localCommId,
        remoteCommId,
        remoteQpn: get24(v, b + 8),
        privateData: pd(12, PRIVATE_DATA_BYTES.DREQ),
      };
    case CM_ATTR.MRA:
      return {
        kind: "MRA",
        tid,
        localCommId,
        remoteCommId,
        messageMraed: v.getUint8(b + 8) >> 6,
        serviceTimeout: v.getUint8(b + 9) >> 3,
        privateData: pd(10, PRIVATE_DATA_BYTES.MRA),
      };
    default:
      return undefined;
  }
}

/**
 * A PathRecord (IBTA vol. 1 §15.2.5.16): what the subnet administrator
 * answers about the path between two ports.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PathRecord } from "./cm_mad.ts";
 * const p: PathRecord = {
 *   dgid: new Uint8Array(16), sgid: new Uint8Array(16), dlid: 2, slid: 1, trafficClass: 0,
 *   pkey: 0xffff, qosClass: 0, sl: 0, mtu: 4, rate: 3, packetLifeTime: 18,
 * };
 * assert.equal(256 << (p.mtu - 1), 2048); // MTU code 4 is 2048 bytes
 * ```
 */
export interface PathRecord {
  /** Destination GID (16 bytes). */
  dgid: Uint8Array;
  /** Source GID (16 bytes). */
  sgid: Uint8Array;
  /** Destination LID. */
  dlid: number;
  /** Source LID. */
  slid: number;
  /** Traffic class. */
  trafficClass: number;
  /** P_Key. */
  pkey: number;
  /** 12-bit QoS class (rdma_cm puts an IPv4 id's TOS here). */
  qosClass: number;
  /** Service level. */
  sl: number;
  /** IBTA MTU code (1 = 256 … 5 = 4096). */
  mtu: number;
  /** IBTA rate code (2 = 2.5 Gb/s, 3 = 10 Gb/s, …). */
  rate: number;
  /** 4.096 µs × 2^n. */
  packetLifeTime: number;
}

/** Where a PathRecord sits in an SA MAD: after the MAD, RMPP and SA headers (IBTA §15.2.1.1). */
const SA_DATA = 56;
/** SA header: AttributeOffset (u16) and ComponentMask (u64) (IBTA §15.2.1.1). */
const SA_ATTR_OFFSET = 44;
const SA_COMPONENT_MASK = 48;
/**
 * PathRecord ComponentMask bits of the fields a query sets (IBTA §15.2.5.16; Linux
 * `include/rdma/ib_sa.h` IB_SA_PATH_REC_*): DGID 2, SGID 3, DLID 4, SLID 5, Reversible 11,
 * NumbPath 12, P_Key 13, QoSClass 14. An SA matches only the components the mask names.
 */
const PATH_REC_QUERY_MASK = [2, 3, 4, 5, 11, 12, 13, 14].reduce(
  (m, b) => m | (1n << BigInt(b)),
  0n,
);
/** PathRecord's size in 8-byte words, the AttributeOffset of an answer (OpenSM's osm_sa_respond). */
const PATH_REC_WORDS = 64 / 8;

/**
 * An SA MAD carrying a PathRecord: a SubnAdmGet query (`response` false;
 * its ComponentMask names the fields a query sets: DGID, SGID, DLID, SLID,
 * Reversible, NumbPath, P_Key, QoSClass) or its GetResp (AttributeOffset 8,
 * the record's size in 8-byte words).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePathRecord, encodePathRecord, MGMT_CLASS_SA } from "./cm_mad.ts";
 * const p = {
 *   dgid: new Uint8Array(16), sgid: new Uint8Array(16), dlid: 2, slid: 1, trafficClass: 0,
 *   pkey: 0xffff, qosClass: 5, sl: 0, mtu: 4, rate: 3, packetLifeTime: 18,
 * };
 * const mad = encodePathRecord(p, 1n, true);
 * assert.equal(mad[1], MGMT_CLASS_SA);
 * assert.deepEqual(decodePathRecord(mad)?.record, p);
 * ```
 */
export function encodePathRecord(p: PathRecord, tid: bigint, response: boolean): Uint8Array {
  const out = new Uint8Array(MAD_BYTES);
  const v = new DataView(out.buffer);
  header(
    v,
    MGMT_CLASS_SA,
    SA_CLASS_VERSION,
    response ? METHOD_GET_RESP : METHOD_GET,
    tid,
    ATTR_PATH_RECORD,
  );
  if (response) v.setUint16(SA_ATTR_OFFSET, PATH_REC_WORDS);
  else v.setBigUint64(SA_COMPONENT_MASK, PATH_REC_QUERY_MASK);
  const d = SA_DATA;
  out.set(p.dgid.subarray(0, 16), d + 8);
  out.set(p.sgid.subarray(0, 16), d + 24);
  v.setUint16(d + 40, p.dlid);
  v.setUint16(d + 42, p.slid);
  v.setUint8(d + 48, p.trafficClass);
  v.setUint8(d + 49, 0x80 | 1); // reversible, one path
  v.setUint16(d + 50, p.pkey);
  v.setUint16(d + 52, ((p.qosClass & 0xfff) << 4) | (p.sl & 0xf));
  v.setUint8(d + 54, 0x80 | p.mtu); // selector "exactly"
  v.setUint8(d + 55, 0x80 | p.rate);
  v.setUint8(d + 56, 0x80 | p.packetLifeTime);
  return out;
}

/**
 * The PathRecord in an SA MAD and whether it is the answer; undefined when
 * the MAD is not a PathRecord Get or GetResp.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePathRecord } from "./cm_mad.ts";
 * assert.equal(decodePathRecord(new Uint8Array(256)), undefined);
 * ```
 */
export function decodePathRecord(
  mad: Uint8Array,
): { record: PathRecord; response: boolean; tid: bigint } | undefined {
  if (mad.length !== MAD_BYTES || mad[1] !== MGMT_CLASS_SA) return undefined;
  const v = new DataView(mad.buffer, mad.byteOffset, MAD_BYTES);
  if (v.getUint16(16) !== ATTR_PATH_RECORD) return undefined;
  const method = mad[3];
  if (method !== METHOD_GET && method !== METHOD_GET_RESP) return undefined;
  const d = SA_DATA;
  const qs = v.getUint16(d + 52);
  return {
    tid: v.getBigUint64(8),
    response: method === METHOD_GET_RESP,
    record: {
      dgid: mad.slice(d + 8, d + 24),
      sgid: mad.slice(d + 24, d + 40),
      dlid: v.getUint16(d + 40),
      slid: v.getUint16(d + 42),
      trafficClass: v.getUint8(d + 48),
      pkey: v.getUint16(d + 50),
      qosClass: qs >> 4,
      sl: qs & 0xf,
      mtu: v.getUint8(d + 54) & 0x3f,
      rate: v.getUint8(d + 55) & 0x3f,
      packetLifeTime: v.getUint8(d + 56) & 0x3f,
    },
  };
}

/**
 * The MAD status of an SA answer that found no path (IBTA vol. 1 table 176:
 * ERR_NO_RECORDS is 3 in the class-specific bits 8..10).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SA_ERR_NO_RECORDS } from "./cm_mad.ts";
 * assert.equal(SA_ERR_NO_RECORDS, 0x0300);
 * ```
 */
export const SA_ERR_NO_RECORDS = 0x0300;

/**
 * The status field of a MAD (IBTA vol. 1 §13.4.7).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { madStatus } from "./cm_mad.ts";
 * assert.equal(madStatus(new Uint8Array(256)), 0);
 * ```
 */
export function madStatus(mad: Uint8Array): number {
  return (mad[4] << 8) | mad[5];
}

/**
 * Set a MAD's status field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { madStatus, SA_ERR_NO_RECORDS, setMadStatus } from "./cm_mad.ts";
 * const m = new Uint8Array(256);
 * setMadStatus(m, SA_ERR_NO_RECORDS);
 * assert.equal(madStatus(m), 0x0300);
 * ```
 */
export function setMadStatus(mad: Uint8Array, status: number): void {
  mad[4] = status >> 8;
  mad[5] = status & 0xff;
}

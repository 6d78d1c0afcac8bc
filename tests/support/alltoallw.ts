/**
 * An MPI_Alltoallw layout for tests (MPI-4.0 §6.8): rank `from` sends rank
 * `to` a block of its own count and datatype (both ends name the same
 * ones), at byte displacements that leave odd gaps (so blocks of 2-, 4- and
 * 8-byte types start at unaligned offsets), send blocks back to front; and
 * the receive buffer each rank must hold afterwards, byte for byte, gaps
 * untouched.
 */
import { mpi } from "../../mod.ts";

/** The datatypes the blocks cycle through. */
const TYPES: readonly mpi.Datatype[] = ["float64", "int32", "uint8", "int16", "int64"];

/** One rank's arguments and the bytes it must end with. */
export interface WLayout {
  sendcounts: number[];
  sdispls: number[];
  sendtypes: mpi.Datatype[];
  recvcounts: number[];
  rdispls: number[];
  recvtypes: mpi.Datatype[];
  /** This rank's send buffer. */
  send: Uint8Array;
  /** This rank's receive buffer before the call (gaps 0xEE). */
  recv: Uint8Array;
  /** What the receive buffer holds after the call (`send`'s, IN_PLACE: see wLayout). */
  want: Uint8Array;
}

/** A sender's byte at offset k of its send buffer. */
const sent = (from: number, k: number) => (from * 37 + k * 11 + 5) % 256;

/**
 * The layout on rank `me` of `n`: block from `from` to `to` has
 * `count(from, to)` elements (`zeros`: the pair (from + to) % 3 == 1 sends
 * nothing) of a type depending on both ends; `symmetric` makes count and
 * type depend on the pair only (what MPI_IN_PLACE needs): the send layout
 * then is the receive one, and `want` is what an IN_PLACE call leaves in
 * `send` (its gaps keep this rank's own bytes).
 */
export function wLayout(
  n: number,
  me: number,
  scale: number,
  opts: { symmetric?: boolean; zeros?: boolean } = {},
): WLayout {
  const key = (from: number, to: number) => opts.symmetric ? from + to : from + 2 * to;
  const type = (from: number, to: number) => TYPES[key(from, to) % TYPES.length];
  const count = (from: number, to: number) =>
    opts.zeros && (from + to) % 3 === 1 ? 0 : ((key(from, to) % 3) + 1) * scale;
  const bytes = (from: number, to: number) => count(from, to) * mpi.typeSize(type(from, to));
  // Byte displacements: `order` of the peers, each block after a gap of `gap` bytes.
  const place = (len: (p: number) => number, order: number[], gap: number) => {
    const d = new Array<number>(n);
    let at = 0;
    for (const p of order) (at += gap, d[p] = at, at += len(p));
    return { d, total: at + gap };
  };
  const peers = Array.from({ length: n }, (_, p) => p);
  const recvLayout = (r: number) => place((i) => bytes(i, r), peers, 3);
  const sendLayout = (s: number) =>
    opts.symmetric ? recvLayout(s) : place((j) => bytes(s, j), [...peers].reverse(), 5);
  const s = sendLayout(me), r = recvLayout(me);
  const send = Uint8Array.from({ length: s.total }, (_, k) => sent(me, k));
  const recv = new Uint8Array(r.total).fill(0xee);
  const want = opts.symmetric ? send.slice() : recv.slice();
  for (let i = 0; i < n; i++) {
    const from = sendLayout(i).d[me];
    for (let k = 0; k < bytes(i, me); k++) want[r.d[i] + k] = sent(i, from + k);
  }
  return {
    sendcounts: peers.map((j) => count(me, j)),
    sdispls: s.d,
    sendtypes: peers.map((j) => type(me, j)),
    recvcounts: peers.map((i) => count(i, me)),
    rdispls: r.d,
    recvtypes: peers.map((i) => type(i, me)),
    send,
    recv,
    want,
  };
}

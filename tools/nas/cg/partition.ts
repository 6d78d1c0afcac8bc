/**
 * CG's data decomposition (NPB 3.4 cg.f90, `setup_proc_info` and
 * `setup_submatrix_info`): the matrix is cut into a 2-D grid of
 * `nprows × npcols` blocks (npcols = nprows, or 2·nprows when the process
 * count is not a square), rank `me` owning block (me / npcols, me mod npcols).
 * Its rows firstrow..lastrow and columns firstcol..lastcol (1-based, global)
 * follow, and so does the communication schedule of the matrix-vector
 * product: partial sums are combined across a process row in log2(npcols)
 * recursive-halving exchanges with `reduceExchProc[i]`, then the result is
 * swapped with the transpose process `exchProc`.
 *
 * Index conventions follow the Fortran so that the schedule can be checked
 * against it line by line: starts are 1-based positions into the local
 * vectors; arrays indexed by stage `i` hold Fortran's `(i+1)`.
 *
 * @module
 */

/**
 * The process grid for `np` ranks (NPB's `get_active_nprocs` with kind 3: a
 * power of two split as npcols = 2^⌈log2 np / 2⌉, nprows = 2^⌊log2 np / 2⌋).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cgGrid } from "./partition.ts";
 * assert.deepEqual(cgGrid(8), { npcols: 4, nprows: 2 });
 * assert.deepEqual(cgGrid(16), { npcols: 4, nprows: 4 });
 * assert.deepEqual(cgGrid(1), { npcols: 1, nprows: 1 });
 * ```
 */
export function cgGrid(np: number): { npcols: number; nprows: number } {
  const log2 = Math.round(Math.log2(np));
  const rowsLog = Math.floor(log2 / 2);
  return { npcols: 2 ** (log2 - rowsLog), nprows: 2 ** rowsLog };
}

/**
 * What rank `me` owns and whom it talks to.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cgPartition } from "./partition.ts";
 * const p = cgPartition(1400, 4, 1);
 * assert.deepEqual([p.firstrow, p.lastrow, p.firstcol, p.lastcol], [1, 700, 701, 1400]);
 * assert.equal(p.exchProc, 2);
 * assert.deepEqual(p.reduceExchProc, [0]);
 * ```
 */
export interface CgPartition {
  npcols: number;
  nprows: number;
  procRow: number;
  procCol: number;
  /** Global rows (1-based, inclusive) of this rank's block. */
  firstrow: number;
  lastrow: number;
  /** Global columns (1-based, inclusive). */
  firstcol: number;
  lastcol: number;
  /** The part of the summed row vector this rank sends to its transpose partner (1-based start). */
  sendStart: number;
  sendLen: number;
  /** Transpose partner. */
  exchProc: number;
  /** Elements received from it (= this rank's column count). */
  exchRecvLength: number;
  /** log2(npcols): stages of the row reduction. */
  l2npcols: number;
  /** Per stage: partner, what is sent (1-based start, length) and received. */
  reduceExchProc: number[];
  reduceSendStarts: number[];
  reduceSendLengths: number[];
  reduceRecvStarts: number[];
  reduceRecvLengths: number[];
}

const idiv = (a: number, b: number) => Math.trunc(a / b);

/** Part `idx` of 1..n cut into `parts` blocks, the first n mod parts one longer (1-based, inclusive). */
function evenSplit(n: number, parts: number, idx: number): [number, number] {
  const rem = n - idiv(n, parts) * parts;
  const size = idx < rem ? idiv(n, parts) + 1 : idiv(n, parts);
  const first = idx < rem ? idx * size + 1 : rem * (size + 1) + (idx - rem) * size + 1;
  return [first, first - 1 + size];
}

/**
 * Rank `me`'s block and schedule for order `na` (cg.f90's
 * `setup_submatrix_info`, including its handling of orders that do not
 * divide evenly and of non-square grids).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cgPartition } from "./partition.ts";
 * const p = cgPartition(1400, 8, 5); // 2 × 4 grid: row 1, column 1
 * assert.deepEqual([p.procRow, p.procCol], [1, 1]);
 * assert.deepEqual([p.firstrow, p.lastrow, p.firstcol, p.lastcol], [701, 1400, 351, 700]);
 * assert.deepEqual(p.reduceExchProc, [7, 4]);
 * ```
 */
export function cgPartition(na: number, np: number, me: number): CgPartition {
  const { npcols, nprows } = cgGrid(np);
  const procRow = idiv(me, npcols);
  const procCol = me - procRow * npcols;
  // Rows, then columns; when na does not divide evenly over a non-square grid, each column
  // block of the square half-grid is halved between an even and an odd rank.
  const [firstrow, lastrow] = evenSplit(na, nprows, procRow);
  let firstcol: number, lastcol: number;
  if (idiv(na, npcols) * npcols === na || npcols === nprows) {
    [firstcol, lastcol] = evenSplit(na, npcols, procCol);
  } else {
    const [f, l] = evenSplit(na, npcols / 2, idiv(procCol, 2));
    const colSize = l - f + 1;
    if (me % 2 === 0) {
      firstcol = f;
      lastcol = f - 1 + idiv(colSize - 1, 2) + 1;
    } else {
      firstcol = f + idiv(colSize - 1, 2) + 1;
      lastcol = firstcol - 1 + idiv(colSize, 2);
    }
  }

  const rows = lastrow - firstrow + 1;
  let sendStart: number, sendLen: number;
  if (npcols === nprows) {
    sendStart = 1;
    sendLen = rows;
  } else if (me % 2 === 0) {
    sendStart = 1;
    sendLen = idiv(1 + rows, 2);
  } else {
    sendStart = idiv(1 + rows, 2) + 1;
    sendLen = idiv(rows, 2);
  }

  const exchProc = npcols === nprows
    ? (me % nprows) * nprows + idiv(me, nprows)
    : 2 * ((idiv(me, 2) % nprows) * nprows + idiv(idiv(me, 2), nprows)) + (me % 2);

  let l2npcols = 0;
  for (let i = idiv(npcols, 2); i > 0; i = idiv(i, 2)) l2npcols++;

  const reduceExchProc: number[] = [];
  let divFactor = npcols;
  for (let i = 0; i < l2npcols; i++) {
    const j = ((procCol + idiv(divFactor, 2)) % divFactor) + idiv(procCol, divFactor) * divFactor;
    reduceExchProc.push(procRow * npcols + j);
    divFactor = idiv(divFactor, 2);
  }
  const reduceSendStarts = new Array<number>(l2npcols);
  const reduceSendLengths = new Array<number>(l2npcols);
  const reduceRecvStarts = new Array<number>(l2npcols);
  const reduceRecvLengths = new Array<number>(l2npcols);
  for (let i = l2npcols - 1; i >= 0; i--) {
    if (nprows === npcols) {
      reduceSendStarts[i] = sendStart;
      reduceSendLengths[i] = sendLen;
      reduceRecvLengths[i] = rows;
    } else {
      reduceRecvLengths[i] = sendLen;
      if (i === l2npcols - 1) {
        reduceSendLengths[i] = rows - sendLen;
        reduceSendStarts[i] = me % 2 === 0 ? sendStart + sendLen : 1;
      } else {
        reduceSendLengths[i] = sendLen;
        reduceSendStarts[i] = sendStart;
      }
    }
    reduceRecvStarts[i] = sendStart;
  }

  return {
    npcols,
    nprows,
    procRow,
    procCol,
    firstrow,
    lastrow,
    firstcol,
    lastcol,
    sendStart,
    sendLen,
    exchProc,
    exchRecvLength: lastcol - firstcol + 1,
    l2npcols,
    reduceExchProc,
    reduceSendStarts,
    reduceSendLengths,
    reduceRecvStarts,
    reduceRecvLengths,
  };
}

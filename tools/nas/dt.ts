/**
 * DT, the "data traffic" benchmark of the NAS Parallel Benchmarks (NPB
 * 3.4-MPI `DT/dt.c`, `DT/DGraph.c`, `DT/README`): feature arrays flow along
 * the arcs of a communication graph — BH (black hole), WH (white hole) or SH
 * (shuffle), NPB's command-line argument — from source nodes that generate
 * them, through comparator nodes that merge their inputs by a window
 * filter, to sink nodes that reduce them to checksums; rank 0 adds the
 * sinks' checksums and compares the total with NPB's published value.
 *
 * As NPB: node i runs on process i (the graph needs at least as many
 * processes as nodes; the rest idle); every arc carries two blocking
 * `MPI_Send`s tagged with the arc's number — the array's length (one int)
 * and the array (doubles) — received in the order the node's in-arcs were
 * attached; each sink sends its checksum to rank 0 with tag numArcs + its
 * number. The arrays travel in buffers from `comm.alloc` (registered
 * memory, as MVAPICH's pin-down cache makes NPB's malloc'd arrays), so they
 * go by zero-copy rendezvous; a received array is freed where NPB frees it
 * (when `WindowFilter` resamples it to a longer one), the others are kept,
 * as NPB never frees them.
 *
 * Timing (dt.c's `main`): rank 0 alone times, from after its banner to the
 * end of its share of `ProcessNodes` (its own node and the receipt of every
 * sink's checksum), with no barrier and no reduction. Mop/s is NPB's
 * "bytes transmitted" figure: NUM_SAMPLES · 4 · numArcs / 2^20 / time (a
 * count of doubles in units of 2^20, as dt.c computes it).
 *
 * Classes S, W, A, B; model mode (every class) generates and filters
 * nothing and sends arrays of the lengths the real run sends (they follow
 * from the sources' lengths alone), charging the same work.
 *
 * @module
 */
import type { Comm, MpiBuffer } from "../../mpi/mod.ts";
import { cF } from "./format.ts";
import type { NasClass, NasHooks, NasKernel, NasResult, NasRunOptions } from "./kernel.ts";
import {
  combinedLength,
  combineEnd,
  DT_WORK,
  featureSamples,
  FIELD_DIM,
  filterWork,
  randomFeatures,
  reduceFeatures,
  sinkChecksum,
  windowFilter,
} from "./dt/features.ts";
import {
  buildGraph,
  DT_GRAPHS,
  DT_PARAMS,
  type DtGraph,
  type DtGraphName,
  type DtNode,
  graphNodes,
} from "./dt/graph.ts";

export { buildGraph, DT_GRAPHS, DT_PARAMS, type DtGraphName, graphNodes } from "./dt/graph.ts";

/**
 * NPB 3.4's verification values (dt.c's `verify`): the sum of the sinks'
 * checksums per class and graph. (NPB gives none for C and D.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DT_REFERENCE } from "./dt.ts";
 * assert.equal(DT_REFERENCE.S?.BH, 30892725);
 * ```
 */
export const DT_REFERENCE: Readonly<Partial<Record<NasClass, Record<DtGraphName, number>>>> = {
  S: { BH: 30892725.0, WH: 67349758.0, SH: 58875767.0 },
  W: { BH: 4102461.0, WH: 204280762.0, SH: 186944764.0 },
  A: { BH: 17809491.0, WH: 1289925229.0, SH: 610856482.0 },
  B: { BH: 4317114.0, WH: 7877279917.0, SH: 1836863082.0 },
};

/** dt.c's `epsilon`: an absolute tolerance on the checksum. */
const EPSILON = 1.0e-8;

/**
 * dt.c's `verify`: the checksum within 1e-8 of NPB's value, and the lines
 * NPB writes (to stderr) about it. (NPB's class B branch never sets its
 * flag from "no verification" to a comparison — a misplaced
 * `verified = 0` — so NPB's own class B runs print "No verification was
 * performed"; here class B is compared with its published value like the
 * others.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dtVerify } from "./dt.ts";
 * assert.deepEqual(dtVerify("S", "BH", "DT_BH.S", 30892725), {
 *   verified: true,
 *   lines: [" DT_BH.S L2 Norm = 30892725.000000", " Deviation = 0.000000"],
 * });
 * assert.equal(dtVerify("S", "BH", "DT_BH.S", 30892726).verified, false);
 * assert.equal(dtVerify("S", "BH", "DT_BH.S", NaN).verified, false);
 * ```
 */
export function dtVerify(
  cls: NasClass,
  graph: DtGraphName,
  name: string,
  checksum: number,
): { verified: boolean; lines: string[] } {
  const ref = DT_REFERENCE[cls]?.[graph];
  const lines = [` ${name} L2 Norm = ${cF(checksum, 0, 6)}`];
  if (ref === undefined) {
    lines.push(" No verification was performed.");
    return { verified: false, lines };
  }
  const d = checksum - ref;
  if (d < EPSILON && d > -EPSILON) {
    lines.push(` Deviation = ${cF(d, 0, 6)}`);
    return { verified: true, lines };
  }
  lines.push(
    ` The correct verification value = ${cF(ref, 0, 6)}`,
    ` Got value = ${cF(checksum, 0, 6)}`,
  );
  return { verified: false, lines };
}

/**
 * The graph name a run uses: `graph` upper-cased, or BH — NPB's `make suite`
 * builds `dt` without one (it is a run-time argument), and dt.c's usage
 * line and DT/README name BH first.
 */
function graphOf(graph: string | undefined): DtGraphName | undefined {
  const g = (graph ?? DT_GRAPHS[0]).toUpperCase();
  return (DT_GRAPHS as readonly string[]).includes(g) ? g as DtGraphName : undefined;
}

/**
 * Why DT cannot run graph `graph` of class `cls` on `np` processes: dt.c
 * refuses fewer processes than the graph has nodes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkDtNp } from "./dt.ts";
 * assert.equal(checkDtNp(5, "S", "BH"), undefined);
 * assert.equal(
 *   checkDtNp(4, "S", "BH"),
 *   "DT_BH.S has 5 nodes, one per process: at least 5 processes (NPB: The number of MPI processes should not be less than the number of nodes in the graph)",
 * );
 * assert.match(checkDtNp(12, "S", "XX")!, /no graph 'XX'/);
 * ```
 */
export function checkDtNp(np: number, cls: NasClass, graph?: string): string | undefined {
  const g = graphOf(graph);
  if (!g) return `DT has no graph '${graph}' (${DT_GRAPHS.join(", ")})`;
  if (!DT_PARAMS[cls]) return `DT has no class ${cls}`;
  const nodes = graphNodes(g, cls);
  if (np < nodes) {
    return `DT_${g}.${cls} has ${nodes} nodes, one per process: at least ${nodes} processes (NPB: The number of MPI processes should not be less than the number of nodes in the graph)`;
  }
  return undefined;
}

/** An array as a rank holds it: its length, and its values in a real run. */
interface Feat {
  len: number;
  val?: Float64Array;
}

/** What one rank needs while it runs its node. */
interface Ctx {
  comm: Comm;
  g: DtGraph;
  cls: NasClass;
  real: boolean;
  hooks?: NasHooks;
}

/**
 * Receive the array on arc `arcId` (dt.c: MPI_Recv of the length, then of
 * the doubles); the `afterExchange` hook sees it (step `arc N`) before the
 * node reads it.
 */
async function receive(c: Ctx, arcId: number): Promise<{ buf: MpiBuffer<"float64">; f: Feat }> {
  const arc = c.g.arcs[arcId];
  const len = new Int32Array(1);
  await c.comm.recv(len, arc.tail, arc.id);
  const buf = c.comm.alloc(len[0], "float64");
  await c.comm.recv(buf, arc.tail, arc.id);
  await c.hooks?.afterExchange?.({
    comm: c.comm,
    step: `arc ${arc.id}`,
    iteration: 1,
    buffer: buf,
    blocks: [{ peer: arc.tail, offset: 0, bytes: buf.byteLength }],
  });
  return { buf, f: { len: len[0], val: c.real ? buf.get() : undefined } };
}

/** dt.c's `SendResults`: the array down every out-arc, length first, in one buffer. */
async function sendResults(c: Ctx, nd: DtNode, f: Feat): Promise<void> {
  if (nd.outArcs.length === 0) return;
  const buf = c.comm.alloc(f.len, "float64");
  if (f.val) buf.set(f.val);
  for (const a of nd.outArcs) {
    const arc = c.g.arcs[a];
    await c.comm.send(new Int32Array([f.len]), arc.head, arc.id);
    await c.comm.send(buf, arc.head, arc.id);
  }
}

/** A source: RandomFeatures, then SendResults. */
async function source(c: Ctx, nd: DtNode): Promise<void> {
  const p = DT_PARAMS[c.cls]!;
  const val = c.real ? randomFeatures(nd.id, p) : undefined;
  const f: Feat = { len: featureSamples(nd.id, p) * FIELD_DIM, val };
  await c.comm.compute(DT_WORK.features(f.len));
  await sendResults(c, nd, f);
}

/** A comparator: CombineStreams (WindowFilter per in-arc, then the integer division), then SendResults. */
async function comparator(c: Ctx, nd: DtNode): Promise<void> {
  const p = DT_PARAMS[c.cls]!;
  let acc: Feat = { len: p.numSamples * FIELD_DIM };
  // NPB's resfeat is malloc'd, never written before the first filter: fresh memory, zeros.
  if (c.real) acc.val = new Float64Array(acc.len);
  for (const a of nd.inArcs) {
    const { buf, f } = await receive(c, a);
    const len = combinedLength(p, [acc.len, f.len]);
    await c.comm.compute(filterWork(acc.len, f.len));
    if (acc.val && f.val) acc = { len, val: windowFilter(acc.val, f.val, nd.id) };
    else acc = { len };
    // WindowFilter's Resample(b, …) frees a shorter received array (and with it its registration).
    if (f.len < len) await c.comm.free(buf);
  }
  await c.comm.compute(DT_WORK.combineEnd(acc.len));
  if (acc.val) combineEnd(acc.val, nd.inArcs.length);
  await sendResults(c, nd, acc);
}

/** A sink: ReduceStreams, then its checksum to rank 0 (tag numArcs + id). */
async function sink(c: Ctx, nd: DtNode): Promise<void> {
  let csum = 0;
  for (const a of nd.inArcs) {
    const { f } = await receive(c, a);
    await c.comm.compute(DT_WORK.reduce(f.len));
    if (f.val) csum += reduceFeatures(f.val, nd.id + 1);
  }
  const chk = sinkChecksum(csum, nd.inArcs.length, nd.id);
  await c.comm.send(new Float64Array([chk]), 0, c.g.arcs.length + nd.id);
}

async function run(comm: Comm, opts: NasRunOptions): Promise<NasResult | undefined> {
  const cls = opts.cls;
  const p = DT_PARAMS[cls];
  if (!p) throw new Error(`DT has no class ${cls}`);
  const gname = graphOf(opts.graph);
  if (!gname) throw new Error(`DT has no graph '${opts.graph}'`);
  const g = buildGraph(gname, cls);
  const why = checkDtNp(comm.size, cls, gname);
  if (why) throw new Error(why);
  const me = comm.rank;
  const c: Ctx = { comm, g, cls, real: opts.compute === "real", hooks: opts.hooks };

  const t0 = comm.wtime(); // rank 0's timer_start(0), after the banner
  const nd = g.nodes[me]; // node i runs on process i; processes beyond the graph idle
  if (nd?.kind === "source") await source(c, nd);
  else if (nd?.kind === "comparator") await comparator(c, nd);
  else if (nd?.kind === "sink") await sink(c, nd);
  if (me !== 0) return undefined;

  // Rank 0 reports: each sink's checksum, in node order.
  let checksum = 0;
  const r = new Float64Array(1);
  for (const s of g.nodes) {
    if (s.kind !== "sink") continue;
    await comm.recv(r, s.id, g.arcs.length + s.id);
    checksum += r[0];
  }
  const t = comm.wtime() - t0;

  const v = c.real ? dtVerify(cls, gname, g.name, checksum) : undefined;
  const featnum = p.numSamples * FIELD_DIM;
  return {
    name: "DT",
    reportName: g.name,
    cls,
    size: String(featnum),
    iterations: g.nodes.length,
    timeSec: t,
    mops: featnum * g.arcs.length / 1048576 / t,
    opType: "bytes transmitted",
    verified: v?.verified ?? false,
    compute: opts.compute,
    details: v?.lines ??
      [" DT: computation charged by the model (array lengths exact); nothing to verify."],
    values: v ? { checksum } : undefined,
    // dt.c passes 0 where c_print_results takes nprocs_active: no "Active processes" line.
    activeProcs: 0,
  };
}

/**
 * The DT kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernel } from "./dt.ts";
 * assert.deepEqual(kernel.graphs, ["BH", "WH", "SH"]);
 * assert.equal(kernel.checkNp(5, "S"), undefined); // BH by default
 * assert.match(kernel.checkNp(5, "S", "SH")!, /DT_SH\.S has 12 nodes/);
 * assert.equal(kernel.banner!("S", 5, "WH")[4], " 0.DT_WH.S: (5,4)");
 * ```
 */
export const kernel: NasKernel = {
  name: "DT",
  title: "Data Traffic",
  language: "c",
  classes: ["S", "W", "A", "B"],
  modelClasses: ["S", "W", "A", "B"],
  graphs: DT_GRAPHS,
  checkNp: checkDtNp,
  banner(cls: NasClass, _np: number, graph?: string): string[] {
    const g = buildGraph(graphOf(graph) ?? "BH", cls);
    // printf("\n\n NAS Parallel Benchmarks 3.4 -- DT Benchmark\n\n"), then graphShow(dg, 0)
    // on stderr: " %d.%s: (%d,%d)" of the graph's id (never set; 0 from fresh memory), name,
    // nodes and arcs.
    return [
      "",
      "",
      " NAS Parallel Benchmarks 3.4 -- DT Benchmark",
      "",
      ` 0.${g.name}: (${g.nodes.length},${g.arcs.length})`,
    ];
  },
  run,
};

/**
 * DT's communication graphs (NPB 3.4-MPI `DT/dt.c`: `buildBH`, `buildWH`,
 * `buildSH`; `DT/DGraph.c`: `AttachNode`, `AttachArc`), built node by node
 * and arc by arc in NPB's order, because that order is the program's
 * behaviour: node i runs on process i, an arc's number is the tag of the two
 * messages that cross it, and a node receives its in-arcs and sends on its
 * out-arcs in the order they were attached.
 *
 * - BH, "black hole": the sources feed comparators of in-degree at most 4,
 *   layer after layer, until at most 4 nodes feed one sink.
 * - WH, "white hole": the mirror image — one source feeds layers of
 *   comparators of out-degree at most 4 that fan out to `numSources` sinks;
 *   NPB builds it sinks first and then reverses the node list ("topological
 *   sorting ... to avoid MPI deadlock"), which renumbers every node.
 * - SH, "shuffle": `numSources` sources, log2(numSources) − 1 layers of
 *   `numSources` comparators and `numSources` sinks, each node fed by the two
 *   nodes of the layer before whose numbers differ in one bit (a butterfly).
 *
 * @module
 */
import type { NasClass } from "../kernel.ts";

/**
 * The graph names NPB's `dt` takes as its argument (`mpirun -np N dt.S.x BH`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DT_GRAPHS } from "./graph.ts";
 * assert.deepEqual([...DT_GRAPHS], ["BH", "WH", "SH"]);
 * ```
 */
export const DT_GRAPHS = ["BH", "WH", "SH"] as const;

/** One of {@link DT_GRAPHS}. */
export type DtGraphName = typeof DT_GRAPHS[number];

/**
 * DT's parameters of one class (NPB's `sys/setparams.c`, `write_dt_info`):
 * NUM_SAMPLES (the mean number of 4-double samples of a feature array),
 * STD_DEVIATION (the spread of the sources' sample counts around it) and
 * NUM_SOURCES (the graph's width).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DT_PARAMS } from "./graph.ts";
 * assert.deepEqual(DT_PARAMS.A, { numSamples: 110592, stdDeviation: 512, numSources: 16 });
 * ```
 */
export interface DtParams {
  numSamples: number;
  stdDeviation: number;
  numSources: number;
}

/**
 * {@link DtParams} of the classes this build runs. NPB defines C and D too
 * but publishes no verification values for them (`DT/README`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DT_PARAMS } from "./graph.ts";
 * assert.equal(DT_PARAMS.S?.numSamples, 1728);
 * assert.equal(DT_PARAMS.C, undefined);
 * ```
 */
export const DT_PARAMS: Readonly<Partial<Record<NasClass, DtParams>>> = {
  S: { numSamples: 1728, stdDeviation: 128, numSources: 4 },
  W: { numSamples: 1728 * 8, stdDeviation: 128 * 2, numSources: 4 * 2 },
  A: { numSamples: 1728 * 64, stdDeviation: 128 * 4, numSources: 4 * 4 },
  B: { numSamples: 1728 * 512, stdDeviation: 128 * 8, numSources: 4 * 8 },
};

/**
 * A node: its number (= the process that runs it), NPB's name
 * ("Source.3", "Comparator.0", "Sink"), and its arcs in attachment order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DtNode } from "./graph.ts";
 * const n: DtNode = { id: 4, name: "Sink", kind: "sink", inArcs: [0, 1, 2, 3], outArcs: [] };
 * assert.equal(n.inArcs.length, 4);
 * ```
 */
export interface DtNode {
  id: number;
  name: string;
  /** What `ProcessNodes` does with it, from its name (`strstr(nd->name, "Source")`, …). */
  kind: "source" | "comparator" | "sink";
  /** Numbers of the arcs into it, in attachment order. */
  inArcs: number[];
  /** Numbers of the arcs out of it, in attachment order. */
  outArcs: number[];
}

/**
 * An arc from node `tail` to node `head`; `id` is its number (NPB's message tag).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DtArc } from "./graph.ts";
 * const a: DtArc = { id: 0, tail: 0, head: 4 };
 * assert.equal(a.head, 4);
 * ```
 */
export interface DtArc {
  id: number;
  tail: number;
  head: number;
}

/**
 * A built graph: NPB's name ("DT_BH.S"), its nodes in process order and its arcs by number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildGraph } from "./graph.ts";
 * const g = buildGraph("BH", "S");
 * assert.equal(g.name, "DT_BH.S");
 * assert.deepEqual([g.nodes.length, g.arcs.length], [5, 4]);
 * ```
 */
export interface DtGraph {
  name: string;
  nodes: DtNode[];
  arcs: DtArc[];
}

/** NPB's `maxInDeg` of BH and WH. */
const MAX_IN_DEG = 4;

/** The graph being built: nodes as objects, so that WH's renumbering moves them with their arcs. */
class Builder {
  readonly nodes: { name: string; inArcs: number[]; outArcs: number[] }[] = [];
  readonly arcs: { tail: Builder["nodes"][number]; head: Builder["nodes"][number] }[] = [];

  /**
   * AttachNode: a node named like one already there would merge into it
   * (DGraph.c); NPB's builders never repeat a name (SH's comparators are
   * numbered i + j·firstLayerNode, distinct across layers), so each call appends.
   */
  node(name: string): number {
    this.nodes.push({ name, inArcs: [], outArcs: [] });
    return this.nodes.length - 1;
  }

  /**
   * AttachArc: numbered in order, appended to the tail's out-arcs and the
   * head's in-arcs. (A second arc between the same two nodes would be
   * dropped; no DT graph has one.)
   */
  arc(tail: number, head: number): void {
    const t = this.nodes[tail], h = this.nodes[head];
    const id = this.arcs.length;
    this.arcs.push({ tail: t, head: h });
    t.outArcs.push(id);
    h.inArcs.push(id);
  }

  done(name: string): DtGraph {
    const index = new Map(this.nodes.map((n, i) => [n, i]));
    return {
      name,
      nodes: this.nodes.map((n, id) => ({
        id,
        name: n.name,
        kind: n.name.includes("Source")
          ? "source"
          : n.name.includes("Sink")
          ? "sink"
          : "comparator",
        inArcs: n.inArcs,
        outArcs: n.outArcs,
      })),
      arcs: this.arcs.map((a, id) => ({ id, tail: index.get(a.tail)!, head: index.get(a.head)! })),
    };
  }
}

/**
 * The layers of comparators BH and WH put between their `numSources` wide
 * end and their single node: each layer ⌈previous / 4⌉ wide, while the
 * previous layer is wider than 4 (dt.c's `while(numLayerNodes>maxInDeg)`).
 */
function funnelLayers(numSources: number): number[] {
  const layers: number[] = [];
  let prev = numSources;
  while (prev > MAX_IN_DEG) {
    const n = Math.ceil(prev / MAX_IN_DEG);
    layers.push(n);
    prev = n;
  }
  return layers;
}

/**
 * BH and WH: `numSources` nodes named `wide`.i, the comparator layers
 * (each comparator joined to up to 4 consecutive nodes of the layer before),
 * then the one node `narrow` joined to the last layer; every arc points
 * toward the narrow end (BH: dt.c's newArc(snd, comparator)) or away from it
 * (WH: newArc(comparator, snd)).
 */
function funnel(b: Builder, numSources: number, wide: string, narrow: string, inward: boolean) {
  const join = (outer: number, inner: number) => inward ? b.arc(outer, inner) : b.arc(inner, outer);
  for (let i = 0; i < numSources; i++) b.node(`${wide}.${i}`);
  let first = 0, prev = numSources, comparators = 0;
  for (const width of funnelLayers(numSources)) {
    for (let i = 0; i < width; i++) {
      const id = b.node(`Comparator.${comparators++}`);
      for (let j = 0; j < MAX_IN_DEG && i * MAX_IN_DEG + j < prev; j++) {
        join(first + i * MAX_IN_DEG + j, id);
      }
    }
    first += prev;
    prev = width;
  }
  const end = b.node(narrow);
  for (let i = 0; i < prev; i++) join(first + i, end);
}

function buildBH(cls: NasClass, numSources: number): DtGraph {
  const b = new Builder();
  funnel(b, numSources, "Source", "Sink", true);
  return b.done(`DT_BH.${cls}`);
}

function buildWH(cls: NasClass, numSources: number): DtGraph {
  const b = new Builder();
  funnel(b, numSources, "Sink", "Source", false);
  // NPB's "topological sorting": the node list reversed, every node renumbered.
  b.nodes.reverse();
  return b.done(`DT_WH.${cls}`);
}

function buildSH(cls: NasClass, numSources: number): DtGraph {
  const b = new Builder();
  const layers = Math.log2(numSources) - 1;
  for (let i = 0; i < numSources; i++) b.node(`Source.${i}`);
  // Each node of a layer takes the two nodes of the layer before that differ from it in bit j.
  const feed = (first: number, mask: number, i: number, id: number) => {
    const lo = i & ~mask;
    b.arc(first + lo, id);
    b.arc(first + lo + mask, id);
  };
  let first = 0;
  for (let j = 0; j < layers; j++) {
    for (let i = 0; i < numSources; i++) {
      // NPB's name: i + j·firstLayerNode (0…n−1, n…2n−1, 4n…, 9n…: distinct).
      feed(first, 1 << j, i, b.node(`Comparator.${i + j * first}`));
    }
    first += numSources;
  }
  for (let i = 0; i < numSources; i++) feed(first, 1 << layers, i, b.node(`Sink.${i}`));
  return b.done(`DT_SH.${cls}`);
}

/**
 * Build graph `graph` of class `cls` as NPB does.
 *
 * @throws Error for a class DT does not have here
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildGraph } from "./graph.ts";
 * // DT/README's table: nodes of BH and WH, and of SH, per class.
 * assert.equal(buildGraph("WH", "A").nodes.length, 21);
 * assert.equal(buildGraph("SH", "W").nodes.length, 32);
 * const wh = buildGraph("WH", "S");
 * assert.equal(wh.nodes[0].name, "Source"); // WH's reversal puts the source first
 * assert.deepEqual(wh.nodes[0].outArcs.map((a) => wh.arcs[a].head), [4, 3, 2, 1]);
 * ```
 */
export function buildGraph(graph: DtGraphName, cls: NasClass): DtGraph {
  const p = DT_PARAMS[cls];
  if (!p) throw new Error(`DT has no class ${cls}`);
  switch (graph) {
    case "BH":
      return buildBH(cls, p.numSources);
    case "WH":
      return buildWH(cls, p.numSources);
    case "SH":
      return buildSH(cls, p.numSources);
  }
}

/**
 * Nodes of graph `graph` at class `cls` without building it (DT/README's
 * table): BH and WH 4 + ⌈…⌉ comparators + 1, SH numSources · (log2 numSources + 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { graphNodes } from "./graph.ts";
 * assert.deepEqual(["S", "W", "A", "B"].map((c) => graphNodes("BH", c as "S")), [5, 11, 21, 43]);
 * assert.deepEqual(["S", "W", "A", "B"].map((c) => graphNodes("SH", c as "S")), [12, 32, 80, 192]);
 * ```
 */
export function graphNodes(graph: DtGraphName, cls: NasClass): number {
  const p = DT_PARAMS[cls];
  if (!p) throw new Error(`DT has no class ${cls}`);
  const n = p.numSources;
  if (graph === "SH") return n * (Math.log2(n) + 1);
  return n + funnelLayers(n).reduce((s, w) => s + w, 0) + 1;
}

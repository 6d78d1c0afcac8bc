/**
 * DT (NPB 3.4-MPI DT/dt.c): its three graphs as NPB builds them; class S
 * verifies against NPB's checksums in native, bypass and split, one graph
 * each, with NPB's report (c_print_results, the graph's name, no "Active
 * processes" line); the messages are NPB's (two per arc, tagged with the
 * arc's number, and one checksum per sink to rank 0); a model run takes the
 * same virtual time and sends the same messages as a real one; a corrupted
 * array fails the verification; a bad graph or too few processes is a
 * one-line error.
 */
import assert from "node:assert/strict";
import { checkNasOptions, runNas } from "../tools/lib/nas_run.ts";
import { ToolError } from "../tools/lib/api.ts";
import { buildGraph, DT_REFERENCE, dtVerify, graphNodes, kernel } from "../tools/nas/dt.ts";
import { featureSamples } from "../tools/nas/dt/features.ts";
import { DT_PARAMS } from "../tools/nas/dt/graph.ts";

type Run = Awaited<ReturnType<typeof runNas>>;

Deno.test("nas DT: the graphs are NPB's (DT/README's node counts, arc order, WH's renumbering, SH's butterfly)", () => {
  for (
    const [cls, bh, sh] of [["S", 5, 12], ["W", 11, 32], ["A", 21, 80], ["B", 43, 192]] as const
  ) {
    for (const g of ["BH", "WH", "SH"] as const) {
      const built = buildGraph(g, cls);
      assert.equal(built.nodes.length, g === "SH" ? sh : bh, `${g} ${cls}`);
      assert.equal(graphNodes(g, cls), built.nodes.length);
      assert.equal(built.name, `DT_${g}.${cls}`);
      // Every arc goes from a lower-numbered node to a higher one (NPB's order avoids deadlock).
      for (const a of built.arcs) assert.ok(a.tail < a.head, `${g} ${cls} arc ${a.id}`);
    }
  }
  // BH, class W: 8 sources, 2 comparators of 4 inputs, one sink; arcs numbered as attached.
  const bh = buildGraph("BH", "W");
  assert.deepEqual(bh.nodes.map((n) => n.name).slice(7), [
    "Source.7",
    "Comparator.0",
    "Comparator.1",
    "Sink",
  ]);
  assert.deepEqual(bh.nodes[9].inArcs, [4, 5, 6, 7]);
  assert.deepEqual(bh.nodes[10].inArcs.map((a) => bh.arcs[a].tail), [8, 9]);
  // WH is BH's mirror, renumbered by the reversal: the source is node 0, Sink.0 the last node.
  const wh = buildGraph("WH", "W");
  assert.deepEqual([wh.nodes[0].name, wh.nodes[10].name], ["Source", "Sink.0"]);
  assert.deepEqual(wh.nodes[0].outArcs.map((a) => wh.arcs[a].head), [2, 1]);
  assert.deepEqual(wh.nodes[2].outArcs.map((a) => wh.arcs[a].head), [10, 9, 8, 7]);
  // SH, class S: each comparator and sink takes the two nodes of the layer before that differ
  // from it in bit 0 (comparators), bit 1 (sinks).
  const sh = buildGraph("SH", "S");
  assert.deepEqual(sh.nodes[6].inArcs.map((a) => sh.arcs[a].tail), [2, 3]);
  assert.deepEqual(sh.nodes[9].inArcs.map((a) => sh.arcs[a].tail), [5, 7]);
  assert.equal(sh.arcs.length, 16);
});

Deno.test("nas DT: class S verifies with NPB's checksums in native, bypass and split", async () => {
  const runs: [string, Run][] = [];
  for (
    const [graph, np, mode] of [["BH", 5, "native"], ["WH", 6, "bypass"], [
      "SH",
      12,
      "split",
    ]] as const
  ) {
    const r = await runNas({ kernel: "DT", cls: "S", graph, np, mode, compute: "real" });
    runs.push([graph, r]);
    assert.equal(r.verified, true, graph);
    assert.equal(r.values?.checksum, DT_REFERENCE.S![graph], graph);
    assert.equal(r.graph, graph);
    const lines = r.report;
    const g = buildGraph(graph, "S");
    assert.ok(lines.includes(` 0.DT_${graph}.S: (${g.nodes.length},${g.arcs.length})`), graph);
    assert.ok(lines.includes(` DT_${graph}.S Benchmark Completed`), graph);
    assert.ok(lines.includes(" Verification    =               SUCCESSFUL"), graph);
    assert.ok(lines.includes(" Size            =                     6912"));
    assert.ok(lines.includes(` Total processes =             ${String(np).padStart(12)}`));
    assert.ok(lines.includes(" Operation type  =        bytes transmitted"));
    // dt.c passes 0 for c_print_results' nprocs_active: it prints no such line.
    assert.ok(!lines.some((l) => l.startsWith(" Active processes")), graph);
    assert.ok(lines.includes(" Deviation = 0.000000"), graph);
  }
  // Mop/s is NPB's: NUM_SAMPLES · 4 · arcs / 2^20 / time.
  const [, bh] = runs[0];
  assert.ok(Math.abs(bh.mops - 6912 * 4 / 1048576 / bh.timeSec) < 1e-9);
  // WH on 6 processes: node i on process i, process 5 idles (no message, no work).
  const [, wh] = runs[1];
  assert.deepEqual([wh.counters[5].messages, wh.counters[5].computeNs], [0, 0]);
});

Deno.test("nas DT: the messages are NPB's: length and array down every arc, one checksum per sink", async () => {
  const r = await runNas({ kernel: "DT", cls: "S", graph: "BH", np: 5, mode: "native" });
  const p = DT_PARAMS.S!;
  // Sources 0…3 send their length (4 bytes, eager) and their array (rendezvous) to the sink.
  for (let id = 0; id < 4; id++) {
    const c = r.counters[id];
    assert.equal(c.bytesSent, 4 + 8 * 4 * featureSamples(id, p), `source ${id}`);
    assert.equal(c.rndvRput + c.rndvRget, 1, `source ${id}`);
  }
  // The sink sends one double, its checksum, to rank 0.
  assert.equal(r.counters[4].bytesSent, 8);
});

Deno.test("nas DT: model and real runs take the same virtual time and send the same messages", async () => {
  const o = { kernel: "DT", cls: "S", graph: "SH", np: 12, mode: "bypass" } as const;
  const real = await runNas({ ...o, compute: "real" });
  const model = await runNas({ ...o, compute: "model" });
  assert.equal(model.timeSec, real.timeSec);
  assert.deepEqual(model.mainNs, real.mainNs);
  // Per rank: the same messages, bytes, protocols, registrations and computation charged.
  assert.deepEqual(model.counters, real.counters);
  assert.ok(real.counters[4].computeNs > 0);
  assert.equal(model.verified, false);
  assert.equal(model.values, undefined);
  assert.ok(model.report.includes(" Verification    =            NOT PERFORMED"));
  // auto: real at S and W, the model at A and B.
  assert.equal(
    checkNasOptions({ kernel: "dt", cls: "A", np: 21, mode: "native" }).compute,
    "model",
  );
  assert.equal(checkNasOptions({ kernel: "dt", cls: "W", np: 11, mode: "native" }).compute, "real");
});

Deno.test("nas DT: a corrupted array fails the verification; dtVerify's tolerance is NPB's 1e-8", async () => {
  const r = await runNas({
    kernel: "DT",
    cls: "S",
    np: 5,
    mode: "bypass",
    compute: "real",
    hooks: {
      // One coordinate of Source.2's array, as it landed in the sink's memory, moved by 1000.
      afterExchange: (e) => {
        if (e.step !== "arc 2") return;
        const v = e.buffer.as("float64");
        v.set([v.get(100, 101)[0] + 1000], 100);
      },
    },
  });
  assert.equal(r.verified, false);
  assert.ok(r.report.includes(" Verification    =             UNSUCCESSFUL"));
  assert.ok(r.report.includes(" The correct verification value = 30892725.000000"));
  assert.ok(r.report.some((l) => /^ Got value = \d+\.000000$/.test(l)));
  const ref = DT_REFERENCE.W!.SH;
  assert.equal(dtVerify("W", "SH", "DT_SH.W", ref).verified, true);
  assert.equal(dtVerify("W", "SH", "DT_SH.W", ref + 1e-7).verified, false);
  assert.equal(dtVerify("W", "BH", "DT_BH.W", ref).verified, false);
});

Deno.test("nas DT: a bad graph, a graph for another kernel and too few processes are one-line errors", () => {
  const err = (o: Parameters<typeof checkNasOptions>[0], msg: string) =>
    assert.throws(() => checkNasOptions(o), (e: Error) => {
      assert.ok(e instanceof ToolError);
      assert.equal(e.message, msg);
      assert.ok(!e.message.includes("\n"));
      return true;
    });
  err(
    { kernel: "DT", cls: "S", graph: "XH", np: 5, mode: "native" },
    "--graph: 'XH' is not a DT graph (BH, WH, SH)",
  );
  err(
    { kernel: "IS", cls: "S", graph: "BH", np: 4, mode: "native" },
    "--graph: IS takes no graph (only DT does)",
  );
  err(
    { kernel: "DT", cls: "S", np: 4, mode: "native" },
    "--np 4: DT_BH.S has 5 nodes, one per process: at least 5 processes (NPB: The number of MPI processes should not be less than the number of nodes in the graph)",
  );
  err(
    { kernel: "DT", cls: "A", graph: "sh", np: 64, mode: "native" },
    "--np 64: DT_SH.A has 80 nodes, one per process: at least 80 processes (NPB: The number of MPI processes should not be less than the number of nodes in the graph)",
  );
  assert.equal(kernel.checkNp(43, "B", "WH"), undefined);
  assert.match(kernel.checkNp(8, "C")!, /DT has no class C/);
});

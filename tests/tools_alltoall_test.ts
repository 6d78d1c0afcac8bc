import assert from "node:assert/strict";
import type { AllToAllWorkload } from "../tools/lib/scenario.ts";
import { runAllToAll } from "../tools/lib/alltoall.ts";
import { Cluster } from "../tools/lib/api.ts";

/** Where the runner puts each endpoint's buffer (its one allocation of 2 × 3 regions of 1024 B). */
function spyBuffers(eps: { dom: { memory: { alloc(b: number, a?: number): number } } }[]) {
  const bases: number[] = [];
  eps.forEach((ep, i) => {
    const mem = ep.dom.memory, alloc = mem.alloc.bind(mem);
    mem.alloc = (bytes: number, align?: number) => {
      const at = alloc(bytes, align);
      if (bytes === 6 * 1024) bases[i] = at;
      return at;
    };
  });
  return bases;
}

async function endpoints() {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  const hosts = ["a", "b", "c"].map((name) => cluster.addHost({ name, hypervisor: false }));
  await cluster.start();
  return { cluster, eps: hosts.map((h) => ({ name: h.name, mode: "native", dom: h.os })) };
}

function workload(opcode: "write" | "send" | "read"): AllToAllWorkload {
  return {
    kind: "alltoall",
    name: "x",
    endpoints: ["a", "b", "c"],
    size: 1000,
    iterations: 3,
    opcode,
    txDepth: 2,
  };
}

Deno.test("alltoall: every source holds data and every pair's data lands whole, in each opcode", async () => {
  for (const opcode of ["write", "send", "read"] as const) {
    const { cluster, eps } = await endpoints();
    const bases = spyBuffers(eps);
    const r = await runAllToAll(cluster, eps, workload(opcode));
    assert.equal(r.endpoints.length, 3, opcode);
    // a's source for b (the second region of 1024 B) is data, not zeros.
    const source = eps[0].dom.memory.read(bases[0] + 1024, 1000);
    assert.ok(source.some((b) => b !== 0), opcode);
  }
});

Deno.test("alltoall: a destination that does not hold its source's bytes fails the run, naming the pair", async () => {
  const { cluster, eps } = await endpoints();
  const bases = spyBuffers(eps);
  // b's receive area for a is region n + 0 = 3 (1024 B regions); spoil one byte once it landed.
  await assert.rejects(
    runAllToAll(cluster, eps, workload("write"), {
      trafficEnd: () => {
        const at = bases[1] + 3 * 1024 + 7;
        const b = eps[1].dom.memory.read(at, 1);
        eps[1].dom.memory.write(at, new Uint8Array([b[0] ^ 0xff]));
      },
    }),
    /^ToolError: x: a → b: byte 7 of the data that landed is \d+, its source's is \d+$/,
  );
});

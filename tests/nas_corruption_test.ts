/**
 * Issue 15, must-show 2 (second half): corrupting ONE rendezvous transfer
 * makes NPB's verification fail.
 *
 * IS at class S on 4 ranks moves about 16 KiB from each rank to each other
 * rank per iteration, above the 12 KiB eager threshold of the 2006 profile,
 * so every such block goes by rendezvous: the receiver answers the RTS with
 * its buffer's address and the sender RDMA-WRITEs the keys straight into it
 * (RPUT). The test watches the wire into rank 0's host (a fabric capture,
 * public API) for RDMA WRITE packets carrying a RETH, and, through the
 * kernel's `afterExchange` hook — after the alltoallv has returned on rank 0,
 * before the ranking reads the keys — flips one bit of one key in the range
 * one of those RDMA WRITEs landed in, in rank 0's domain memory. Nothing in
 * mpi/ is touched. The same run without the flip verifies.
 *
 * NPB's IS verification is partial by design: it checks the ranks of five
 * keys per iteration and the final order, so a flip that keeps a key between
 * the same test keys and inside the rank's buckets (bits 0–4 of the key 90
 * flipped here) passes it. Bit 8 (90 → 346) moves the key across two test
 * keys; bit 20 throws it out of rank 0's key range.
 */
import assert from "node:assert/strict";
import { decodePacket } from "../hca/packet.ts";
import { OP } from "../hca/opcode.ts";
import type { ExchangeEvent } from "../tools/nas/kernel.ts";
import { runNas } from "../tools/lib/nas_run.ts";

interface Landed {
  va: number;
  bytes: number;
}

/** Run IS class S on 4 bypass guests; flip `bit` of the first key of one RDMA WRITE into rank 0 at `iteration` (no flip if undefined). */
async function isWithFlip(iteration: number | undefined, bit: number) {
  const writes: Landed[] = [];
  const flipped: { peer: number; offset: number; bytes: number; before: number; after: number }[] =
    [];
  const lines: string[] = [];
  const r = await runNas({
    kernel: "IS",
    cls: "S",
    np: 4,
    mode: "bypass",
    compute: "real",
    print: (l) => lines.push(l),
    onLaunched: (l) => {
      // The fabric port of rank 0's host ("node0/hca0" port 1).
      const node = l.cluster.fabric.hcas().find((h) =>
        h.name.startsWith(`${l.placement[0].host}/`)
      );
      const port = node!.port(1);
      l.cluster.fabric.addCapture((rec) => {
        if (rec.to !== port) return;
        const d = decodePacket(rec.bytes);
        if (!d.ok) return;
        const op = d.packet.bth.opcode;
        if (op !== OP.RC_RDMA_WRITE_FIRST && op !== OP.RC_RDMA_WRITE_ONLY) return;
        const reth = d.packet.reth!;
        writes.push({ va: Number(reth.va), bytes: reth.dmaLen });
      }, { port });
    },
    hooks: {
      afterExchange(ev: ExchangeEvent) {
        if (ev.comm.rank !== 0) return;
        const landed = writes.splice(0);
        if (ev.iteration !== iteration || flipped.length > 0) return;
        const buf = ev.buffer;
        // A block from another rank that arrived by one RDMA WRITE, exactly.
        const block = ev.blocks.find((b) =>
          b.peer !== 0 && b.bytes > 0 &&
          landed.some((w) => w.va === buf.addr + b.offset && w.bytes === b.bytes)
        );
        assert.ok(block, "a block of this exchange landed by RDMA WRITE (rendezvous)");
        const at = buf.addr + block.offset;
        const word = new DataView(buf.memory.read(at, 4).buffer).getInt32(0, true);
        const bad = word ^ (1 << bit);
        const b4 = new Uint8Array(4);
        new DataView(b4.buffer).setInt32(0, bad, true);
        buf.memory.write(at, b4);
        flipped.push({ ...block, before: word, after: bad });
      },
    },
  });
  return { r, flipped, lines };
}

Deno.test("nas IS: one bit flipped in one rendezvous transfer makes verification UNSUCCESSFUL", async () => {
  const clean = await isWithFlip(undefined, 8);
  assert.equal(clean.r.verified, true);
  assert.ok(clean.r.report.includes(" Verification    =               SUCCESSFUL"));

  for (const [iteration, bit] of [[3, 8], [10, 20]]) {
    const hit = await isWithFlip(iteration, bit);
    assert.equal(hit.flipped.length, 1, "exactly one transfer corrupted");
    assert.ok(hit.flipped[0].bytes > 12288, "the corrupted block exceeds the eager threshold");
    assert.equal(hit.flipped[0].after, hit.flipped[0].before ^ (1 << bit));
    assert.equal(hit.r.verified, false, `bit ${bit} at iteration ${iteration}`);
    assert.ok(hit.r.report.includes(" Verification    =             UNSUCCESSFUL"));
    // NPB's own message names the iteration, the processor and the test key.
    assert.ok(
      hit.lines.some((l) =>
        l.startsWith(`Failed partial verification: iteration ${iteration}, processor 0, test key`)
      ),
      hit.lines.join("\n"),
    );
  }
});

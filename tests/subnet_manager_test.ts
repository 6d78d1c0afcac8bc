import assert from "node:assert/strict";
import { Engine } from "../sim/engine.ts";
import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
import { Fabric } from "../hca/fabric.ts";
import { SubnetManager } from "../hca/subnet_manager.ts";

function star(n: number) {
  const fabric = new Fabric(new Engine(), { profile: PCIX_SDR_2006 });
  const sw = fabric.addSwitch("sw", { ports: n });
  const hcas = Array.from({ length: n }, (_, i) => {
    const h = fabric.addHca(`h${i}`, { receive() {} });
    fabric.connect(h.port(1), sw.port(i + 1));
    return h;
  });
  return { fabric, sw, hcas };
}

Deno.test("SubnetManager: a port with LMC gets an aligned block of 2^LMC LIDs, all routed (IBTA §7.11.1)", () => {
  const { fabric, sw, hcas: [a, b, c] } = star(3);
  b.port(1).lmc = 2;
  new SubnetManager(fabric).sweepNow();
  // a: 1, switch: 2, b: the next base with its two low bits 0 (4), c: after b's block (8).
  assert.deepEqual([a.port(1).lid, sw.lid, b.port(1).lid, c.port(1).lid], [1, 2, 4, 8]);
  for (let lid = 4; lid < 8; lid++) assert.equal(sw.route(lid), 2, `LID ${lid} routes to b`);
  assert.equal(sw.route(8), 3);
});

Deno.test("SubnetManager: LIDs stay unicast (0x0001-0xBFFF, IBTA §4.1.3)", () => {
  const { fabric, sw, hcas: [a, b] } = star(2);
  a.port(1).lid = 0xbfff; // the highest unicast LID is taken
  new SubnetManager(fabric).sweepNow();
  // The next LIDs wrap to the lowest free ones instead of entering the multicast range.
  assert.deepEqual([a.port(1).lid, sw.lid, b.port(1).lid], [0xbfff, 1, 2]);
  assert.equal(sw.route(0xbfff), 1);
  assert.equal(b.port(1).state, "ACTIVE");
});

Deno.test("SubnetManager: running out of unicast LIDs is a clear RangeError", () => {
  // 384 ports with LMC 7 need 384 blocks of 128 LIDs; 0x0001-0xBFFF holds 383 such blocks.
  const { fabric, hcas } = star(384);
  for (const h of hcas) h.port(1).lmc = 7;
  assert.throws(
    () => new SubnetManager(fabric).sweepNow(),
    /^RangeError: SubnetManager: no free block of 128 unicast LIDs left in 0x0001-0xBFFF$/,
  );
});

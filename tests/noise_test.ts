import assert from "node:assert/strict";
import { Engine } from "../sim/engine.ts";
import { CpuNoise } from "../sim/noise.ts";
import { Prng } from "../sim/prng.ts";
import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";

const P = PCIX_SDR_2006.noise;

Deno.test("noise: a timeline first asked about after a long idle stretch answers as one asked all along, without keeping the stretch", async () => {
  // 2e14 ns (about 55 hours) of a 4 ms tick and a 10 ms detour process is some 70 million
  // detours: kept, they went past what an array holds (a live migration that late failed with
  // RangeError inside the destination's event channel bind).
  const late = 2e14;
  const engine = new Engine();
  const once = new CpuNoise(engine, P, new Prng(7));
  const along = new CpuNoise(engine, P, new Prng(7));
  const got: number[][] = [];
  await engine.run(async () => {
    for (let t = 0; t < late; t += late / 8) {
      await engine.sleep(late / 8 - (engine.now % (late / 8)));
      along.finish(engine.now, 1000);
    }
    await engine.sleep(late - engine.now + 123);
    for (const cpu of [once, along]) {
      const now = engine.now;
      got.push([cpu.finish(now, 0), cpu.finish(now, 50_000_000), cpu.finish(now + 9_000_000, 10)]);
    }
  });
  assert.deepEqual(got[0], got[1]);
  // The answers are about the late time, and 50 ms of work met ticks there.
  assert.ok(got[0][0] >= late && got[0][1] >= late + 50_000_000 + 12 * P.osTickNs);
});

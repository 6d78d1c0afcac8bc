/**
 * The native path against the figures it is calibrated to: every target a
 * built-in profile lists (`profile.calibration`: metric, method, target,
 * band, source) is measured through the public API with noise off and must
 * land in its band. The failure message names the measured value, the band
 * and the source. Only the native path is calibrated; virtualized figures
 * come out of the structure.
 */
import assert from "node:assert/strict";
import {
  type CalibrationMetric,
  type CalibrationTarget,
  Cluster,
  MODERN_GEN5_NDR,
  PCIX_SDR_2006,
  type Profile,
  resolveProfile,
} from "../mod.ts";
import { median, nativePair, pingPong, regMrUs, writeStream } from "./support/measure.ts";

/** Median half round trip (µs) of a 2-byte inline ping-pong. */
const halfRtt = async (profile: string, op: "write" | "send") =>
  median(
    await pingPong(await nativePair({ profile, maxInline: 64 }), {
      op,
      size: 2,
      iters: 50,
      inline: true,
    }),
  ) / 1000;

/** How each metric is measured (what `method` says in words). */
const MEASURE: Record<CalibrationMetric, (profile: string) => Promise<number>> = {
  "rdma-write-lat": (profile) => halfRtt(profile, "write"),
  "send-lat": (profile) => halfRtt(profile, "send"),
  "rdma-write-bw": async (profile) =>
    (await writeStream(await nativePair({ profile, bufBytes: 1 << 20 }), {
      size: 1 << 20,
      iters: 32,
      window: 16,
    })).bytesPerSec / 1e6,
  "rdma-write-rate": async (profile) =>
    (await writeStream(await nativePair({ profile, maxInline: 64, depth: 64 }), {
      size: 2,
      iters: 2000,
      window: 64,
      inline: true,
    })).msgsPerSec / 1e6,
  "reg-mr-1-page": (profile) => regMrUs(profile, 1),
  "reg-mr-1024-pages": (profile) => regMrUs(profile, 1024),
};

function check(p: Profile, t: CalibrationTarget, v: number): void {
  const [lo, hi] = t.band;
  assert.ok(
    v >= lo && v <= hi,
    `${p.name} ${t.metric}: measured ${v.toFixed(3)} ${t.unit}, outside the band [${lo}, ${hi}] ` +
      `around ${t.target} (${t.method}); source: ${t.source}`,
  );
}

for (const p of [PCIX_SDR_2006, MODERN_GEN5_NDR]) {
  for (const t of p.calibration) {
    Deno.test(`calibration: ${p.name} ${t.metric} in [${t.band[0]}, ${t.band[1]}] ${t.unit}`, async () => {
      check(p, t, await MEASURE[t.metric](p.name));
    });
  }
}

Deno.test("calibration: each built-in profile has sourced targets for latency and bandwidth", () => {
  for (const p of [PCIX_SDR_2006, MODERN_GEN5_NDR]) {
    const metrics = p.calibration.map((t) => t.metric);
    assert.ok(metrics.includes("rdma-write-lat") && metrics.includes("rdma-write-bw"), p.name);
    for (const t of p.calibration) {
      assert.ok(t.band[0] <= t.target && t.target <= t.band[1], `${p.name} ${t.metric}: target`);
      assert.ok(t.source.length > 20 && t.method.length > 20, `${p.name} ${t.metric}: sourced`);
    }
  }
  // The paper's class names its SEND/RECV latency and registration cost too.
  assert.ok(PCIX_SDR_2006.calibration.some((t) => t.metric === "send-lat"));
  assert.ok(PCIX_SDR_2006.calibration.some((t) => t.metric === "reg-mr-1-page"));
});

Deno.test("calibration: a failing measurement names the value, the band and the source", () => {
  const t = PCIX_SDR_2006.calibration[0];
  assert.throws(
    () => check(PCIX_SDR_2006, t, t.band[1] * 2),
    (e: Error) =>
      e.message.includes(`measured ${(t.band[1] * 2).toFixed(3)} ${t.unit}`) &&
      e.message.includes(t.source),
  );
});

Deno.test("calibration: a profile's own targets are checked like every other key; noise takes on/off", () => {
  const ok = {
    metric: "send-lat",
    method: "my ping-pong",
    target: 3,
    band: [2, 4],
    source: "my lab, 2024",
  };
  const p = resolveProfile({ base: "pcix-sdr-2006", calibration: [ok] });
  assert.deepEqual(p.calibration, [{ ...ok, unit: "us" }]);
  const bad: [unknown, RegExp][] = [
    [{ ...ok, metric: "latency" }, /calibration\[0\]\.metric.*unknown metric "latency"/],
    [{ ...ok, target: 9 }, /calibration\[0\]\.target.*inside the band \[2, 4\]/],
    [{ ...ok, band: [2] }, /calibration\[0\]\.band/],
    [{ ...ok, unit: "ms" }, /send-lat is measured in us, not ms/],
    [{ ...ok, source: "" }, /calibration\[0\]\.source.*non-empty/],
    [{ ...ok, colour: "red" }, /calibration\[0\]\.colour.*unknown key/],
  ];
  for (const [entry, re] of bad) {
    assert.throws(() => resolveProfile({ calibration: [entry] }), re);
  }
  assert.throws(() => resolveProfile({ calibration: "none" }), /must be a list/);
  assert.throws(
    () => new Cluster({ profile: "pcix-sdr-2006", seed: 1, noise: "loud" as "on" }),
    /Cluster: noise must be "on" or "off", got "loud"/,
  );
  assert.equal(new Cluster({ profile: "pcix-sdr-2006", seed: 1 }).noise, "off");
});

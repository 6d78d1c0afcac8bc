/**
 * The native path against the figures it is calibrated to: every target a
 * built-in profile lists (`profile.calibration`: metric, method, target,
 * band, source) is measured by the tools' one measurement core (the metric
 * of the same name: perftest's loop and statistics; the control path's
 * registration) with noise off and must land in its band. The failure
 * message names the measured value, the band and the source. Only the
 * native path is calibrated; virtualized figures come out of the structure.
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
import { measureMetric, type RunEnv } from "../tools/lib/metrics.ts";
import { freshRegistrationUs } from "../tools/lib/control_costs.ts";

const env = (name: string): RunEnv => ({ profile: resolveProfile(name), seed: 1, noise: "off" });

/** How each metric is measured: the core's metric of that name (what `method` says). */
const MEASURE: Record<CalibrationMetric, (profile: string) => Promise<number>> = {
  "rdma-write-lat": async (p) => (await measureMetric("rdma-write-lat", "native", env(p))).value,
  "send-lat": async (p) => (await measureMetric("send-lat", "native", env(p))).value,
  "rdma-write-bw": async (p) => (await measureMetric("rdma-write-bw", "native", env(p))).value,
  "rdma-write-rate": async (p) => (await measureMetric("rdma-write-rate", "native", env(p))).value,
  "reg-mr-1-page": (p) => freshRegistrationUs(env(p), "native", 1, 3),
  "reg-mr-1024-pages": (p) => freshRegistrationUs(env(p), "native", 1024, 3),
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
    [{ ...ok, metric: "toString" }, /calibration\[0\]\.metric.*unknown metric "toString"/],
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

import process from "node:process";
import { runPaper } from "./tools/lib/paper_run.ts";
import { PCIX_SDR_2006 } from "./mod.ts";
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
let last = cpu();
const by: Record<string, number> = {};
await runPaper({
  scale: "default",
  profile: PCIX_SDR_2006,
  seed: 1,
  noise: "on",
  modes: ["native", "bypass", "split"],
  jobs: 1,
  onStep: (_d, _t, label) => {
    const now = cpu();
    const dt = now - last;
    last = now;
    console.log(dt.toFixed(0).padStart(6), label);
    const g = label.replace(/ (native|bypass|split)$/, "").replace(/^sensitivity.*/, "sensitivity");
    by[g] = (by[g] ?? 0) + dt;
  },
});
console.log(
  Object.entries(by).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v.toFixed(0).padStart(6)} ${k}`)
    .join("\n"),
);

/**
 * A fuzz campaign (`deno task fuzz`): the loop that draws a kind and a
 * hostile guest, runs one attack, tallies its outcome, replaces a guest
 * that lost its device, runs the full check every `checkEvery` attacks,
 * rotates both hostile guests every `rotateEvery` (requiring the host back
 * at its counts with only the victim), and at the end tears everything
 * down. It stops at the first broken rule and reports it.
 *
 * @module
 */
import { FUZZ_KINDS, type FuzzKind } from "./fuzz_args.ts";
import { doorbellAttack, wqeAttack } from "./fuzz_device.ts";
import { ringAttack } from "./fuzz_ring.ts";
import { type FuzzAttacker, FuzzFailure, FuzzWorld, within } from "./fuzz_world.ts";
import { evtchnAttack, grantAttack, hypercallAttack, xenstoreAttack } from "./fuzz_xen.ts";

/** Virtual time one attack may take (a request's own limit is shorter). */
const ATTACK_WITHIN_NS = 4_000_000_000;

/** One attack: its outcome label. */
type Attack = (w: FuzzWorld, a: FuzzAttacker) => Promise<string>;

const ATTACKS: Record<FuzzKind, Attack> = {
  ring: ringAttack,
  doorbell: doorbellAttack,
  wqe: wqeAttack,
  grant: grantAttack,
  hypercall: hypercallAttack,
  evtchn: evtchnAttack,
  xenstore: xenstoreAttack,
};

/**
 * What a campaign did.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { FuzzReport } from "./fuzz_run.ts";
 * const clean = (r: FuzzReport) => r.failure === undefined;
 * const r: FuzzReport = {
 *   seed: 1, iterations: 1, done: 1, kinds: ["ring"], respawns: 0, checks: 2, virtualNs: 0,
 *   byKind: { ring: { runs: 1, disconnects: 0, outcomes: { "answered ENOSYS": 1 } } },
 * };
 * assert.ok(clean(r));
 * assert.ok(!clean({ ...r, failure: { iteration: 1, kind: "ring", message: "x" } }));
 * ```
 */
export interface FuzzReport {
  seed: number;
  /** Iterations asked for. */
  iterations: number;
  /** Iterations run (less than asked when a rule broke). */
  done: number;
  kinds: FuzzKind[];
  /** Per kind: attacks, attackers that lost their device, and outcome labels with counts. */
  byKind: Record<string, { runs: number; disconnects: number; outcomes: Record<string, number> }>;
  /** Hostile guests replaced. */
  respawns: number;
  /** Full checks passed. */
  checks: number;
  /** Virtual time of the campaign (ns). */
  virtualNs: number;
  /** The broken rule, when one broke. */
  failure?: { iteration: number; kind: string; message: string };
}

/**
 * Options of {@link runFuzz}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { FuzzOptions } from "./fuzz_run.ts";
 * const short: FuzzOptions = { iterations: 200, seed: 1, kinds: ["ring"], checkEvery: 50 };
 * assert.equal(short.iterations / short.checkEvery!, 4); // four full checks, then the last
 * ```
 */
export interface FuzzOptions {
  iterations: number;
  seed: number;
  kinds: readonly FuzzKind[];
  /** Iterations between full checks (default 250). */
  checkEvery?: number;
  /** Iterations between rotations of the hostile guests (default 2000). */
  rotateEvery?: number;
  /** Called with the iterations done, every 1000 and at the end. */
  onProgress?: (done: number) => void;
}

/**
 * The label of what the attacker's own code ran into: a refusal of its own
 * kernel (its verbs layer, its grant client), or a fault of its own program
 * (it touched a page it no longer maps, e.g. the UAR of a context it closed
 * with a forged request). Anything else escaping an attack is a failure.
 */
function guestRefusal(e: unknown): string | undefined {
  const name = (e as { name?: string })?.name;
  const code = (e as { code?: string })?.code;
  if ((name === "VerbsError" || name === "XenError") && typeof code === "string") {
    return `refused by the guest's own kernel (${code})`;
  }
  if (name === "AddressSpaceError") return `its own program faulted (${code})`;
  return undefined;
}

/**
 * Run a campaign.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runFuzz } from "./fuzz_run.ts";
 * const r = await runFuzz({ iterations: 60, seed: 2, kinds: ["ring", "hypercall"], checkEvery: 30 });
 * assert.equal(r.failure, undefined);
 * assert.equal(r.done, 60);
 * assert.equal(r.byKind.ring.runs + r.byKind.hypercall.runs, 60);
 * assert.ok(r.checks >= 3); // setup, two in the loop, the end
 * ```
 */
export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const kinds = FUZZ_KINDS.filter((k) => o.kinds.includes(k));
  const checkEvery = o.checkEvery ?? 250;
  const rotateEvery = o.rotateEvery ?? 2000;
  const report: FuzzReport = {
    seed: o.seed,
    iterations: o.iterations,
    done: 0,
    kinds,
    byKind: Object.fromEntries(kinds.map((k) => [k, { runs: 0, disconnects: 0, outcomes: {} }])),
    respawns: 0,
    checks: 0,
    virtualNs: 0,
  };
  let kind = "setup";
  let w: FuzzWorld | undefined;
  try {
    w = await FuzzWorld.build(o.seed);
    const world = w;
    await world.cluster.run(async () => {
      await world.populate();
      await world.check("setup");
      for (let i = 0; i < o.iterations; i++) {
        kind = kinds[world.rng.int(kinds.length)];
        const ai = world.rng.int(world.attackers.length);
        if (world.gone(world.attackers[ai])) await world.respawn(ai);
        const a = world.attackers[ai];
        let label: string;
        try {
          const r = await within(
            world.cluster.engine,
            ATTACK_WITHIN_NS,
            () => ATTACKS[kind as FuzzKind](world, a),
          );
          if (r.done) label = r.value;
          else if (a.tampered || world.gone(a)) {
            // Its own verbs calls hang on notifications it suppressed itself.
            label = "hung on its own event indices";
            a.retire = true;
          } else throw new FuzzFailure(`the attack did not finish and the guest is still served`);
        } catch (e) {
          const own = guestRefusal(e);
          if (own === undefined || e instanceof FuzzFailure) throw e;
          label = own;
          a.broken = true;
        }
        const k = report.byKind[kind];
        k.runs++;
        k.outcomes[label] = (k.outcomes[label] ?? 0) + 1;
        if (world.gone(a)) k.disconnects++;
        report.done = i + 1;
        if ((i + 1) % checkEvery === 0) await world.check(`after iteration ${i + 1} (${kind})`);
        if ((i + 1) % rotateEvery === 0 && i + 1 < o.iterations) await world.rotate();
        if ((i + 1) % 1000 === 0) o.onProgress?.(i + 1);
      }
      kind = "end";
      await world.check("end");
      await world.finish();
    });
  } catch (e) {
    const message = e instanceof FuzzFailure
      ? e.message
      : `uncaught ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
    report.failure = { iteration: report.done, kind, message };
  }
  if (w) {
    report.respawns = w.respawns;
    report.checks = w.checks;
    report.virtualNs = w.cluster.now;
  }
  o.onProgress?.(report.done);
  return report;
}

/**
 * The report as the tool prints it: the campaign, one block per kind with
 * its outcomes (most frequent first), the checks, and the verdict.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatFuzzReport } from "./fuzz_run.ts";
 * const text = formatFuzzReport({
 *   seed: 1, iterations: 3, done: 3, kinds: ["ring"], respawns: 0, checks: 2, virtualNs: 2e6,
 *   byKind: { ring: { runs: 3, disconnects: 0, outcomes: { "answered EINVAL": 2, "answered OK": 1 } } },
 * });
 * assert.match(text, /^fuzz: 3 iterations, seed 1, kinds ring/);
 * assert.match(text, /ring +3 +0 +answered EINVAL +2/);
 * assert.match(text, /result: clean/);
 * ```
 */
export function formatFuzzReport(r: FuzzReport): string {
  const lines = [
    `fuzz: ${r.done} iterations, seed ${r.seed}, kinds ${r.kinds.join(",")} ` +
    `(virtual time ${(r.virtualNs / 1e9).toFixed(3)} s)`,
    "",
    `${"kind".padEnd(10)} ${"runs".padStart(7)} ${"lost dev".padStart(8)}  ${
      "outcome".padEnd(58)
    } ${"count".padStart(7)}`,
  ];
  for (const k of r.kinds) {
    const s = r.byKind[k];
    const rows = Object.entries(s.outcomes).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    rows.forEach(([label, n], i) => {
      const head = i === 0
        ? `${k.padEnd(10)} ${String(s.runs).padStart(7)} ${String(s.disconnects).padStart(8)}`
        : " ".repeat(27);
      const l = label.length > 58 ? `${label.slice(0, 55)}...` : label;
      lines.push(`${head}  ${l.padEnd(58)} ${String(n).padStart(7)}`);
    });
    if (rows.length === 0) lines.push(`${k.padEnd(10)} ${"0".padStart(7)} ${"0".padStart(8)}`);
  }
  lines.push(
    "",
    `checks passed: ${r.checks} (no hypervisor fault, audits clean, victim memory unchanged, ` +
      `victim communicates, dom0 serves)`,
    `hostile guests replaced: ${r.respawns}`,
  );
  if (r.failure) {
    lines.push(
      `result: FAILED at iteration ${r.failure.iteration} (${r.failure.kind}): ${r.failure.message}`,
    );
  } else {
    lines.push(
      "result: clean (every request answered or its frontend disconnected; " +
        "after teardown every count of both hosts is back)",
    );
  }
  return lines.join("\n");
}

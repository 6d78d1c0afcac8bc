/**
 * `deno task bench`: the engine's raw speed — simple events per second and
 * process wake-ups per second — on this machine. Figures, not pass/fail:
 * the target (>= 3 M simple events/s on one core) is read off the output.
 *
 * @module
 */
import { Engine, WaitQueue } from "../sim/mod.ts";

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(1)} k`;
}

/** Simple events: each callback schedules the next, 4 chains in flight. */
async function simpleEvents(n: number): Promise<number> {
  const e = new Engine();
  let left = n;
  const tick = () => {
    if (--left > 0) e.schedule(10, tick);
  };
  const t0 = performance.now();
  await e.run(async () => {
    for (let i = 0; i < 4; i++) e.schedule(i, tick);
    const wq = new WaitQueue(e, "bench end");
    const poll = () => (left > 0 ? e.schedule(1_000_000, poll) : wq.notifyAll());
    e.schedule(1_000_000, poll);
    await wq.wait();
  });
  return e.eventsRun / ((performance.now() - t0) / 1000);
}

/** Process wake-ups: two processes sleeping in turn. */
async function wakeups(n: number): Promise<number> {
  const e = new Engine();
  const t0 = performance.now();
  await e.run(async () => {
    const worker = async () => {
      for (let i = 0; i < n / 2; i++) await e.sleep(100);
    };
    await Promise.all([e.spawn("a", worker), e.spawn("b", worker)]);
  });
  return e.wakeups / ((performance.now() - t0) / 1000);
}

const HELP = `usage: deno task bench

Measures the discrete-event engine on this machine (wall clock) and prints:
  simple events/s     callbacks that each schedule the next (target >= 3 M/s on one core)
  process wake-ups/s  two processes sleeping in turn (async continuation per wake-up)
No flags besides -h/--help; figures vary with machine load, run it twice.`;
if (Deno.args.includes("-h") || Deno.args.includes("--help")) {
  console.log(HELP);
  Deno.exit(0);
}
if (Deno.args.length > 0) {
  console.error(`bench: unknown argument '${Deno.args[0]}' (see --help)`);
  Deno.exit(1);
}

const N = 3_000_000;
await simpleEvents(200_000); // warm-up
const ev = await simpleEvents(N);
await wakeups(100_000);
const wk = await wakeups(1_000_000);
console.log(`engine: ${fmt(ev)} simple events/s   (target >= 3 M/s; ${N} events)`);
console.log(`engine: ${fmt(wk)} process wake-ups/s (1,000,000 sleeps by 2 processes)`);

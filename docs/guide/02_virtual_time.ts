// Virtual time: the simulation's own clock, advanced by the engine, never by your wall clock.
import { Cluster } from "../xenib/mod.ts";

const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
const host = cluster.addHost({ name: "node0", hypervisor: false }); // bare metal: host.os
console.log(`before start: ${cluster.now} ns`);
await cluster.start();
console.log(`after start: ${cluster.now} ns`);

// Outside cluster.run nothing advances virtual time, so a call that waits cannot finish.
try {
  await host.os.openDevice();
} catch (e) {
  console.log((e as Error).message);
}

const lid = await cluster.run(async () => {
  let t0 = cluster.now;
  const ctx = await host.os.openDevice();
  console.log(`openDevice took ${cluster.now - t0} ns`);
  t0 = cluster.now;
  // Two threads of the program: spawn starts one, Promise.all waits for both.
  const thread = async (name: string, ns: number) => {
    await cluster.sleep(ns);
    return `${name} woke at +${cluster.now - t0} ns`;
  };
  const woke = await Promise.all([
    cluster.spawn("a", () => thread("a", 5_000)),
    cluster.spawn("b", () => thread("b", 2_000)),
  ]);
  console.log(woke.join(", "));
  const { lid } = ctx.queryPort(1); // before close: a closed context answers nothing (EBADF)
  await ctx.close();
  return lid;
});
console.log(`run() resolved with ${lid} (the port's LID) at ${cluster.now} ns`);

await cluster.run(() => cluster.sleep(3_600e9)); // an hour of virtual time, at once
console.log(`an hour later: ${cluster.now / 1e9} s`);

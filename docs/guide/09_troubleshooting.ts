// The mistakes a first program makes, and the one-line errors they get.
import { Cluster, VerbsError } from "../xenib/mod.ts";

const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
const host = cluster.addHost({ name: "node0", hypervisor: false });

async function attempt(what: string, fn: () => Promise<unknown>) {
  try {
    await fn();
    console.log(`${what}: ok`);
  } catch (e) {
    // A VerbsError's message starts with its code (e.code: "EINVAL"; e.errno: 22).
    const kind = e instanceof VerbsError ? `VerbsError errno ${e.errno}` : (e as Error).name;
    console.log(`${what}: ${kind}: ${(e as Error).message}`);
  }
}

await attempt("openDevice before start", () => cluster.run(() => host.os.openDevice()));
await cluster.start();
await attempt("openDevice outside run", () => host.os.openDevice());
await attempt("run inside run", () =>
  cluster.run(async () => {
    await cluster.run(async () => {}); // a second thread is cluster.spawn, not another run
  }));
await attempt("a wait nothing will end", () =>
  cluster.run(async () => {
    const ctx = await host.os.openDevice();
    const cq = await ctx.createCq(4);
    await cq.pollUntil(1); // nothing was posted: no completion will ever come
  }));

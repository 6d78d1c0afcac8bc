// Cost profiles: built-in ones, one number overridden, one loaded from YAML; what each changes.
// A YAML parser from npm, named inline: this directory needs no deno.json.
// deno-lint-ignore no-import-prefix
import { parse } from "npm:yaml@^2.8.1";
import {
  Access,
  Cluster,
  type ClusterOptions,
  connectPair,
  type Domain,
  ProfileError,
  PROFILES,
  QpType,
  resolveProfile,
  SendFlags,
  WrOpcode,
} from "../xenib/mod.ts";

for (const [name, p] of Object.entries(PROFILES)) console.log(`${name}: ${p.description}`);

/** Create-QP time (control path), a 64 B and a 1 MiB RDMA WRITE (fast path), bypass guests. */
async function measure(profile: ClusterOptions["profile"]) {
  const cluster = new Cluster({ profile, seed: 1 });
  const hosts = [0, 1].map((i) => cluster.addHost({ name: `node${i}`, hypervisor: true }));
  await cluster.start();
  const vms: Domain[] = [];
  for (const h of hosts) vms.push(await h.createGuest({ name: `vm-${h.name}`, driver: "bypass" }));
  return await cluster.run(async () => {
    const ends = [];
    let createQpNs = 0;
    for (const vm of vms) {
      const ctx = await vm.openDevice();
      const pd = await ctx.allocPd();
      const buf = vm.memory.alloc(1 << 20, 4096);
      const mr = await pd.regMr(buf, 1 << 20, Access.LOCAL_WRITE | Access.REMOTE_WRITE);
      const cq = await ctx.createCq(16);
      const t0 = cluster.now;
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 16, maxRecvWr: 16, maxSendSge: 1, maxRecvSge: 1 },
      });
      createQpNs = cluster.now - t0;
      ends.push({ buf, mr, cq, qp, lid: ctx.queryPort(1).lid });
    }
    const [a, b] = ends;
    await connectPair(a, b);
    const write = async (length: number) => {
      const t0 = cluster.now;
      a.qp.postSend({
        wrId: 1n,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: a.buf, length, lkey: a.mr.lkey }],
        remoteAddr: b.buf,
        rkey: b.mr.rkey,
      });
      await a.cq.pollUntil(1);
      return cluster.now - t0;
    };
    const smallNs = await write(64);
    const bigNs = await write(1 << 20);
    console.log(
      `${cluster.profile.name.padEnd(17)} create QP ${(createQpNs / 1000).toFixed(1)} µs, ` +
        `64 B write ${(smallNs / 1000).toFixed(2)} µs, ` +
        `1 MiB write ${(bigNs / 1000).toFixed(1)} µs (${
          ((1 << 20) / bigNs * 1000).toFixed(1)
        } MB/s)`,
    );
  });
}

await measure("pcix-sdr-2006");
await measure("modern-gen5-ndr");
// One number overridden: a plain object names its base and what differs (units are checked).
await measure({ base: "pcix-sdr-2006", name: "slow-hypercalls", xen: { hypercallNs: "4 us" } });
// The same from a YAML file next to this program.
const yaml = await Deno.readTextFile(new URL("./06_slow_bus.yaml", import.meta.url));
await measure(resolveProfile(parse(yaml)));

try {
  resolveProfile({ base: "pcix-sdr-2006", pci: { bytesPerSec: "440 MB" } });
} catch (e) {
  if (!(e instanceof ProfileError)) throw e;
  console.log(e.message);
}

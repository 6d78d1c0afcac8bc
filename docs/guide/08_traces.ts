// Traces: the packets on the wire as a pcap file, and the engine's trace hash.
import {
  Access,
  Cluster,
  connectPair,
  decodePcap,
  type Domain,
  LINKTYPE_WIRESHARK_UPPER_PDU,
  QpType,
  SendFlags,
  WrOpcode,
} from "../xenib/mod.ts";

/** Two bypass guests, one RDMA WRITE of `length` bytes; packets captured from the start of it. */
async function writeOnce(length: number) {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  const hosts = [0, 1].map((i) => cluster.addHost({ name: `node${i}`, hypervisor: true }));
  await cluster.start();
  const vms: Domain[] = [];
  for (const h of hosts) vms.push(await h.createGuest({ name: `vm-${h.name}`, driver: "bypass" }));
  let capture;
  await cluster.run(async () => {
    const ends = [];
    for (const vm of vms) {
      const ctx = await vm.openDevice();
      const pd = await ctx.allocPd();
      const buf = vm.memory.alloc(8192, 4096);
      const mr = await pd.regMr(buf, 8192, Access.LOCAL_WRITE | Access.REMOTE_WRITE);
      const cq = await ctx.createCq(16);
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 16, maxRecvWr: 16, maxSendSge: 1, maxRecvSge: 1 },
      });
      ends.push({ buf, mr, cq, qp, lid: ctx.queryPort(1).lid });
    }
    const [a, b] = ends;
    await connectPair(a, b);
    // Every packet on every link from now on, framed so that stock Wireshark/tshark dissect it.
    capture = cluster.fabric.capturePcap({}, { linkType: LINKTYPE_WIRESHARK_UPPER_PDU });
    a.qp.postSend({
      wrId: 1n,
      opcode: WrOpcode.RDMA_WRITE,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: a.buf, length, lkey: a.mr.lkey }],
      remoteAddr: b.buf,
      rkey: b.mr.rkey,
    });
    await a.cq.pollUntil(1);
  });
  capture!.stop();
  return { pcap: capture!.writer.bytes(), hash: cluster.engine.traceHash() };
}

const first = await writeOnce(3000);
await Deno.writeFile("rdma_write.pcap", first.pcap);
console.log(`wrote rdma_write.pcap: ${first.pcap.length} bytes`);

// Bytes 0-7 of each packet are the LRH; byte 8 is the BTH opcode (IBTA 9.2).
const OPCODES: Record<number, string> = {
  0x06: "RC RDMA WRITE First",
  0x08: "RC RDMA WRITE Last",
  0x0a: "RC RDMA WRITE Only",
  0x11: "RC Acknowledge",
};
const t0 = decodePcap(first.pcap)[0].timeNs;
for (const { timeNs, bytes } of decodePcap(first.pcap)) {
  const dlid = (bytes[2] << 8) | bytes[3], slid = (bytes[6] << 8) | bytes[7];
  console.log(
    `+${String(timeNs - t0).padStart(5)} ns  LID ${slid} → ${dlid}  ${
      String(bytes.length).padStart(4)
    } B  ${OPCODES[bytes[8]] ?? `opcode 0x${bytes[8].toString(16)}`}`,
  );
}

// Same program, same seed: the same trace. Another program: another trace.
const again = await writeOnce(3000);
const other = await writeOnce(3001);
console.log(`trace hash: ${first.hash.length} hex digits`);
console.log(`same program again, same hash: ${again.hash === first.hash}`);
console.log(`3001 bytes instead of 3000, same hash: ${other.hash === first.hash}`);

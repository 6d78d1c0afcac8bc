import assert from "node:assert/strict";
import {
  Cluster,
  connectPair,
  type HostSpec,
  QpType,
  registerHostPlatform,
  SendFlags,
  VerbsError,
  WcStatus,
  WrOpcode,
  zeroCounters,
} from "../mod.ts";
import {
  CAP,
  CONNECT,
  pair,
  postWrite,
  rejects,
  side,
  twoDomains,
  twoHosts,
} from "./conformance/helpers.ts";

Deno.test("cluster: bare-metal hosts get LIDs and ACTIVE ports; counters are zero", async () => {
  const { cluster, a, b } = await twoHosts();
  const [ha, hb] = cluster.hosts;
  assert.deepEqual(ha.counters(), zeroCounters());
  assert.equal(ha.hypervisor, undefined);
  assert.deepEqual(hb.guests, []);
  assert.deepEqual(a.devices(), ["mthca0"]);
  await rejects(() => ha.createGuest({ name: "vm" }), "EOPNOTSUPP");
  assert.throws(() => ha.dom0, /no dom0/);
  await cluster.run(async () => {
    await rejects(() => b.openDevice("mlx5_0"), "ENODEV");
    const ctx = await a.openDevice();
    const port = ctx.queryPort(1);
    assert.equal(port.state, 4);
    assert.ok(port.lid > 0);
    assert.equal(ctx.queryDevice().maxQpWr, cluster.profile.hca.maxQpWr);
    // Sync verbs run up CPU debt; the next await pays it.
    const t = cluster.now;
    await cluster.sleep(0);
    assert.equal(cluster.now, t);
  });
  assert.throws(() => cluster.addHost({ name: "late", hypervisor: false }), VerbsError);
});

Deno.test("cluster: Xen hosts come from the platform registered for them (the extension point)", () => {
  const c = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  // mod.ts brings in drivers/xen, which registers the "xen" platform.
  assert.equal(c.addHost({ name: "x0", hypervisor: true }).platform.kind, "xen");
  let built = "";
  const restore = registerHostPlatform("xen", (hw, spec) => {
    built = `${spec.name}:${hw.hca.name}`;
    return { kind: "toy-xen", guests: [], start: async () => {}, counters: zeroCounters };
  });
  try {
    const h = c.addHost({ name: "x", hypervisor: true });
    assert.equal(built, "x:x/hca0");
    assert.equal(h.platform.kind, "toy-xen");
    assert.throws(() => h.os, /no bare-metal os/);
  } finally {
    restore();
  }
  assert.equal(c.addHost({ name: "y", hypervisor: true }).platform.kind, "xen", "restored");
});

Deno.test("same seed, same run: identical trace hash and timing", async () => {
  const once = async () => {
    const { cluster, a, b } = await twoHosts();
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [qx] = await pair(x, y, QpType.RC);
      for (let i = 0n; i < 4n; i++) {
        qx.postSend({
          wrId: i,
          opcode: WrOpcode.RDMA_WRITE,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: x.buf, length: 5000, lkey: x.mr.lkey }],
          remoteAddr: y.buf,
          rkey: y.mr.rkey,
        });
      }
      await x.cq.pollUntil(4);
    });
    return [cluster.now, cluster.engine.traceHash()];
  };
  assert.deepEqual(await once(), await once());
});

Deno.test("resize_cq keeps unpolled completions; query_qp reports the attributes", async () => {
  const { cluster, a, b } = await twoHosts();
  await cluster.run(async () => {
    const x = await side(a, 4), y = await side(b);
    const [qx] = await pair(x, y, QpType.RC);
    for (let i = 0n; i < 3n; i++) {
      qx.postSend({
        wrId: 10n + i,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
        remoteAddr: y.buf,
        rkey: y.mr.rkey,
      });
    }
    await cluster.sleep(30_000);
    const first = x.cq.poll(1);
    assert.equal(first[0].wrId, 10n);
    await x.cq.resize(40);
    assert.equal(x.cq.cqe, 63);
    const rest = await x.cq.pollUntil(2);
    assert.deepEqual(rest.map((w) => w.wrId), [11n, 12n]);
    assert.ok(rest.every((w) => w.status === WcStatus.SUCCESS));
    const q = await qx.query();
    assert.equal(q.state, 3);
    assert.equal(q.destQpNum !== undefined, true);
    assert.equal(q.cap.maxSendWr, 16);
    assert.equal(q.port, 1);
  });
});

Deno.test("calls that wait in virtual time, outside cluster.run, fail at once with one line saying so", async () => {
  const c = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  const bare = c.addHost({ name: "n0", hypervisor: false });
  const xen = c.addHost({ name: "x0", hypervisor: true });
  await c.start();
  const vm = await xen.createGuest({ name: "vm0", memoryMiB: 64, driver: "bypass" });
  const outside = async (what: RegExp, call: () => Promise<unknown>) => {
    const e = await call().then(() => undefined, (err) => err);
    assert.ok(e instanceof VerbsError, `${what}: rejected with a VerbsError`);
    assert.equal(e.code, "EINVAL");
    assert.match(e.message, what);
    assert.match(e.message, /called outside cluster\.run\(\)/);
    assert.ok(!e.message.includes("\n"), "one line");
  };
  await outside(/^EINVAL: n0: openDevice\(\)/, () => bare.os.openDevice());
  await outside(/^EINVAL: vm0: openDevice\(\)/, () => vm.openDevice());
  await outside(/cluster\.sleep\(\)/, () => c.sleep(1_000));
  await outside(
    /cluster\.spawn\('worker'\)/,
    () => Promise.try(() => c.spawn("worker", () => c.sleep(1))),
  );
  // Nothing was half-done: the same calls work inside run.
  const t = c.now;
  const lids = await c.run(async () => {
    const got = await Promise.all([bare.os.openDevice(), vm.openDevice()]);
    await c.spawn("worker", () => c.sleep(1_000));
    return got.map((ctx) => ctx.queryPort(1).lid);
  });
  assert.ok(lids.every((l) => l > 0));
  assert.ok(c.now >= t + 1_000);
});

Deno.test("a cluster without a profile, or with one of the wrong kind, is refused in one line", () => {
  const refused = (opts: unknown, code: string, message: RegExp) =>
    assert.throws(
      () => new Cluster(opts as ConstructorParameters<typeof Cluster>[0]),
      (e: Error) => {
        assert.equal((e as VerbsError).code ?? e.name, code);
        assert.match(e.message, message);
        assert.ok(!e.message.includes("\n"), "one line");
        return true;
      },
    );
  refused(
    { seed: 1 },
    "EINVAL",
    /^EINVAL: Cluster: profile is missing \(a built-in name: pcix-sdr-2006, modern-gen5-ndr; a Profile; or an object with base and overrides\)$/,
  );
  refused(undefined, "EINVAL", /^EINVAL: Cluster: options \{ profile, seed \} are required$/);
  refused(
    { profile: null, seed: 1 },
    "ProfileError",
    /^profile: must be a built-in name .*\(got null\)$/,
  );
  refused({ profile: 7, seed: 1 }, "ProfileError", /\(got number\)$/);
  refused({ profile: "fast", seed: 1 }, "ProfileError", /unknown profile 'fast'/);
  refused(
    { profile: "pcix-sdr-2006" },
    "EINVAL",
    /^EINVAL: Cluster: seed must be a whole number 0\.\.4294967295, got undefined$/,
  );
  // The PRNG's seeds are 32-bit: a seed outside would have run as another (-1 as 0, 2^32 as 1).
  for (const seed of [-1, 2 ** 32, 2 ** 32 + 1, 1.5, NaN, Infinity, "1" as unknown as number]) {
    refused(
      { profile: "pcix-sdr-2006", seed },
      "EINVAL",
      new RegExp(`^EINVAL: Cluster: seed must be a whole number 0\\.\\.4294967295, got ${seed}$`),
    );
  }
  for (const seed of [0, 4294967295]) {
    assert.equal(new Cluster({ profile: "pcix-sdr-2006", seed }).seed, seed);
  }
});

Deno.test("addHost: hypervisor is a boolean, given; anything else is EINVAL naming it (no silent Xen host)", () => {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  for (const hypervisor of [undefined, "false", 1, null]) {
    assert.throws(
      () => cluster.addHost({ name: "h", hypervisor } as unknown as HostSpec),
      {
        name: "VerbsError",
        code: "EINVAL",
        message: /^EINVAL: addHost h: hypervisor must be true/,
      },
    );
  }
  assert.throws(() => cluster.addHost(undefined as unknown as HostSpec), {
    code: "EINVAL",
    message: /^EINVAL: addHost: give a HostSpec/,
  });
  assert.equal(cluster.hosts.length, 0, "nothing was added");
  assert.equal(cluster.addHost({ name: "h", hypervisor: true }).isXen, true);
});

Deno.test("guests: a dead guest's openDevice is ENODEV saying why; a hypervisor refusal names its code once", async () => {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  const xen = cluster.addHost({ name: "x", hypervisor: true });
  await cluster.start();
  const down = await xen.createGuest({ name: "down" });
  await down.shutdown();
  const dead = await xen.createGuest({ name: "dead" });
  dead.crash();
  await cluster.run(async () => {
    await assert.rejects(down.openDevice(), {
      code: "ENODEV",
      message: "ENODEV: down: the guest was shut down: it has no RDMA device",
    });
    await assert.rejects(dead.openDevice(), {
      code: "ENODEV",
      message: /^ENODEV: dead: the guest/,
    });
  });
  // The crashed domain still holds its name until its teardown ends: EEXIST, the code once.
  await assert.rejects(xen.createGuest({ name: "dead" }), {
    code: "EEXIST",
    message: /^EEXIST: createGuest dead: domctl:createdomain: /,
  });
});

// Every HCA port is cabled to one switch of 254 ports (IBTA vol 1 §14.2.5.10: LFT entry 255 is
// "no port"): a 255th port was given that number, its LID routed nowhere, its peers' QPs ended in
// RETRY_EXC_ERR. The host that would need it is refused.
Deno.test("cluster: one switch of 254 ports: a host past them is refused at addHost", () => {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  for (let i = 0; i < 127; i++) cluster.addHost({ name: `h${i}`, hypervisor: false, ports: 2 });
  assert.throws(() => cluster.addHost({ name: "one-more", hypervisor: false }), {
    name: "VerbsError",
    message: "EINVAL: addHost one-more: the cluster's switch has 254 ports (IBTA: port 255 is no " +
      "port) and 254 are cabled; this host's HCA would need 1 more",
  });
  const almost = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  for (let i = 0; i < 253; i++) almost.addHost({ name: `h${i}`, hypervisor: false });
  assert.throws(() => almost.addHost({ name: "dual", hypervisor: false, ports: 2 }), /need 2 more/);
  almost.addHost({ name: "last", hypervisor: false }); // the 254th port
});

Deno.test("cluster: a dual-port host reports two ACTIVE ports with their own LIDs, and port 2 carries its QPs' traffic, in every mode", async () => {
  assert.throws(
    () =>
      new Cluster({ profile: "pcix-sdr-2006", seed: 1 }).addHost({
        name: "x",
        hypervisor: false,
        ports: 3 as 2,
      }),
    /ports must be 1 or 2/,
  );
  for (const mode of ["native", "bypass", "split"] as const) {
    const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 3 });
    const xen = mode !== "native";
    const hosts = ["a", "b"].map((name) => cluster.addHost({ name, hypervisor: xen, ports: 2 }));
    await cluster.start();
    const [da, db] = xen
      ? [
        await hosts[0].createGuest({ name: "vm0", memoryMiB: 64, driver: mode }),
        await hosts[1].createGuest({ name: "vm1", memoryMiB: 64, driver: mode }),
      ]
      : [hosts[0].os, hosts[1].os];
    await cluster.run(async () => {
      const [x, y] = [await side(da), await side(db)];
      assert.equal(x.ctx.queryDevice().physPortCnt, 2, mode);
      const p2 = [x, y].map((s) => s.ctx.queryPort(2));
      assert.ok(p2.every((p) => p.state === 4 && p.lid > 0), mode);
      const lids = new Set([x.lid, y.lid, ...p2.map((p) => p.lid)]);
      assert.equal(lids.size, 4, `${mode}: four ports, four LIDs`);
      const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap: CAP });
      await connectPair({ qp: qx, lid: p2[0].lid }, { qp: qy, lid: p2[1].lid }, {
        ...CONNECT,
        port: 2,
      });
      const port = (n: number) => cluster.fabric.portByLid(n === 1 ? x.lid : p2[0].lid)!;
      const before = [1, 2].map((n) => port(n).counters.xmitPkts);
      postWrite(qx, x, y, 1n, 4096);
      const [wc] = await x.cq.pollUntil(1);
      assert.equal(wc.status, WcStatus.SUCCESS, mode);
      const sent = [1, 2].map((n, i) => port(n).counters.xmitPkts - before[i]);
      assert.deepEqual(sent, [0, 2], `${mode}: 4 KiB at MTU 2048 leave through port 2 only`);
    });
  }
});

// Linux mthca_query_device (drivers/infiniband/hw/mthca/mthca_provider.c): max_sge_rd is the
// device's max_sg, max_res_rd_atom is max_qp_rd_atom * max_qp; a guest's frontend reports what
// dom0's driver does (ibv_devinfo -v shows both).
Deno.test("cluster: queryDevice reports mthca's max_sge_rd and max_res_rd_atom in every mode", async () => {
  for (const mode of ["native", "bypass", "split"] as const) {
    const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
    const host = cluster.addHost({ name: "a", hypervisor: mode !== "native" });
    await cluster.start();
    const dom = mode === "native"
      ? host.os
      : await host.createGuest({ name: "vm0", memoryMiB: 64, driver: mode });
    await cluster.run(async () => {
      const d = (await dom.openDevice()).queryDevice();
      assert.equal(d.maxSgeRd, d.maxSge, mode);
      assert.equal(d.maxResRdAtom, d.maxQpRdAtom * d.maxQp, mode);
      assert.ok(d.maxResRdAtom > 0, mode);
    });
  }
});

// The MT23108's ports support MTUs up to 2048 (PortInfo:MTUCap 4): Linux mthca refuses a path
// MTU above IB_MTU_2048 (mthca_qp.c __mthca_modify_qp, "path MTU (%u) is invalid"), Solaris'
// tavor driver caps TAVOR_MAX_MTU at 0x4 (tavor_misc.h). The profile's hca.maxMtu says so;
// modern-gen5-ndr's HCA has 4096.
Deno.test("cluster: max_mtu is the HCA's MTUCap (2048 on an MT23108), a larger path MTU is EINVAL, max_vl_num is VL0-7, active_speed is the link's, in every mode", async () => {
  for (const mode of ["native", "bypass", "split"] as const) {
    for (const [profile, max] of [["pcix-sdr-2006", 4], ["modern-gen5-ndr", 5]] as const) {
      const { cluster, a, b } = await twoDomains(mode, profile);
      const doms = [a, b];
      await cluster.run(async () => {
        const [x, y] = [await side(doms[0]), await side(doms[1])];
        const port = x.ctx.queryPort(1);
        assert.deepEqual([port.maxMtu, port.activeMtu], [max, max], `${profile} ${mode}`);
        // max_vl_num: PortInfo:VLCap, VL0-VL7 on the Tavor (TAVOR_MAX_VLCAP 8, tavor_misc.h).
        assert.equal(port.maxVlNum, 4, `${profile} ${mode}`);
        // active_speed (verbs.h IBV_SPEED_*): SDR's 2.5 Gb/s lanes are 1, NDR's 106.25 Gb/s 128
        // (it was 0, "invalid speed", for every speed above QDR).
        assert.equal(port.activeSpeed, max === 4 ? 1 : 128, `${profile} ${mode}`);
        const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
        const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap: CAP });
        const connect = () =>
          connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid }, {
            ...CONNECT,
            pathMtu: 4096,
          });
        if (max === 4) await rejects(connect, "EINVAL");
        else await connect();
      });
    }
  }
});

// ibv_query_device's node_guid is the HCA's NodeInfo:NodeGUID (mthca_init_node_data), unique
// per node (IBTA vol 1 §4.1.1); the fabric gives port n the GUID NodeGUID + n. Every device
// reported the same constant 0002c90200000000.
Deno.test("cluster: queryDevice's nodeGuid is the HCA's NodeGUID, one per host, in every mode", async () => {
  for (const mode of ["native", "bypass", "split"] as const) {
    const { cluster, a, b } = await twoDomains(mode);
    const doms = [a, b];
    await cluster.run(async () => {
      const guids = [];
      for (const d of doms) {
        const ctx = await d.openDevice();
        const port = cluster.fabric.portByLid(ctx.queryPort(1).lid)!;
        const guid = ctx.queryDevice().nodeGuid;
        assert.equal(BigInt(`0x${guid}`), port.guid - 1n, mode);
        guids.push(guid);
      }
      assert.notEqual(guids[0], guids[1], mode);
    });
  }
});

// IBTA PortInfo:LinkWidthActive as verbs.h encodes active_width: a 2x link (HDR100, NDR200) is
// 16; it was 0, "invalid width".
Deno.test("cluster: queryPort's activeWidth of a 2x link is 16", async () => {
  const cluster = new Cluster({
    profile: { base: "modern-gen5-ndr", link: { width: 2 } },
    seed: 1,
  });
  const host = cluster.addHost({ name: "a", hypervisor: false });
  await cluster.start();
  await cluster.run(async () => {
    assert.equal((await host.os.openDevice()).queryPort(1).activeWidth, 16);
  });
});

Deno.test("cluster: a host's and a guest's memoryMiB are checked in one line; a 2 GiB guest boots", async () => {
  for (const memoryMiB of [-1, 0, 1.5, NaN, "512", 2 ** 33 + 1]) {
    const c = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
    assert.throws(
      () => c.addHost({ name: "a", hypervisor: true, memoryMiB: memoryMiB as number }),
      (e: Error) => {
        assert.equal((e as VerbsError).code, "EINVAL");
        assert.match(e.message, /^EINVAL: addHost a: memoryMiB must be a whole number of MiB/);
        return true;
      },
    );
  }
  const c = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  const host = c.addHost({ name: "xen0", hypervisor: true, memoryMiB: 16384 });
  await c.start();
  // 2048 MiB and up: the byte count no longer wraps around 32 bits.
  for (const memoryMiB of [2048, 4096]) {
    const vm = await host.createGuest({ name: `vm${memoryMiB}`, memoryMiB });
    assert.equal(vm.name, `vm${memoryMiB}`);
  }
  for (const memoryMiB of [0, -4, NaN]) {
    await assert.rejects(host.createGuest({ name: "bad", memoryMiB }), {
      message:
        `EINVAL: createGuest bad: memoryMiB must be a positive number of MiB, got ${memoryMiB}`,
    });
  }
});

/**
 * Misuse of the public API (API.md, docs/api.md "Errors": every message is one line naming the
 * call and what was wrong), in native, bypass and split mode: a missing or wrong options object,
 * a non-function given to `cluster.run`/`spawn`, bytes that are not a `Uint8Array`, a host name
 * that is not a string are refused with EINVAL naming them, never a TypeError from inside the
 * model (`Cannot read properties of undefined`) or a silent write of zeros; a closed context
 * answers no query (EBADF), as every other call on it.
 */
import assert from "node:assert/strict";
import { einval, MODES, oneDomain } from "./conformance/helpers.ts";
import { AddressSpaceError, Cluster, connectQp, QpState, QpType, VerbsError } from "../mod.ts";

const setup = oneDomain;

for (const mode of MODES) {
  Deno.test(`missing or wrong option objects are EINVAL naming the call (${mode})`, async () => {
    const { cluster, xen, d } = await setup(mode);
    await assert.rejects(cluster.run(undefined as never), einval(/^EINVAL: cluster\.run: give/));
    await assert.rejects(
      xen.createGuest(undefined as never),
      einval(/^EINVAL: createGuest on x: give GuestOptions/),
    );
    await cluster.run(async () => {
      await assert.rejects(
        cluster.spawn("t", undefined as never),
        einval(/^EINVAL: cluster\.spawn\('t'\): give an async function/),
      );
      const ctx = await d.openDevice();
      const pd = await ctx.allocPd();
      const cq = await ctx.createCq(4, null as never); // a NULL channel: no options
      await assert.rejects(ctx.createCq(4, 5 as never), einval(/^EINVAL: create_cq: opts/));
      await assert.rejects(
        ctx.createCq(4, { channel: {} as never }),
        einval(/^EINVAL: create_cq: channel is not a completion channel$/),
      );
      await assert.rejects(pd.createSrq(undefined as never), einval(/^EINVAL: create_srq: give/));
      const srq = await pd.createSrq({ maxWr: 4, maxSge: 1 });
      await assert.rejects(srq.modify(undefined as never), einval(/^EINVAL: modify_srq: give/));
      await assert.rejects(
        pd.createQp({
          type: QpType.RC,
          sendCq: cq,
          recvCq: cq,
          srq: {} as never,
          cap: { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
        }),
        einval(/^EINVAL: create_qp: srq is not an SRQ/),
      );
      const addr = d.memory.alloc(4096, 4096);
      d.memory.write(addr, new Uint8Array([7]));
      for (const bytes of ["x", [1, 2], null]) {
        assert.throws(
          () => d.memory.write(addr, bytes as never),
          einval(/^write: bytes must be a Uint8Array, got /, AddressSpaceError),
        );
      }
      assert.deepEqual(d.memory.read(addr, 1), new Uint8Array([7])); // nothing written
      await ctx.close();
      // A closed context answers no query, as every other call on it.
      assert.throws(() => ctx.queryPort(1), /EBADF: mthca0: context is closed$/);
      assert.throws(() => ctx.queryDevice(), /EBADF: mthca0: context is closed$/);
    });
  });
}

Deno.test("addHost refuses a host name that is not a string", () => {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  assert.throws(
    () => cluster.addHost({ name: 5 as never, hypervisor: false }),
    einval(/^EINVAL: addHost: host name must be a string, got number 5$/),
  );
  assert.equal(cluster.hosts.length, 0);
});

Deno.test("cluster.sleep refuses a time that is not a number ≥ 0 or would pass 2^53 ns", async () => {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  cluster.addHost({ name: "b", hypervisor: false });
  await cluster.start();
  await cluster.run(async () => {
    const before = cluster.now;
    for (const ns of [NaN, -1, Infinity, 1e300, "5"]) {
      await assert.rejects(
        cluster.sleep(ns as number),
        einval(
          /^EINVAL: cluster\.sleep: ns must be a number ≥ 0 that keeps the clock below 2\^53 ns/,
        ),
      );
    }
    assert.equal(cluster.now, before); // no time passed, the clock is whole
    await cluster.sleep(1_000);
    assert.equal(cluster.now, before + 1_000);
  });
});

Deno.test("lower-level exports refuse values they cannot take", async () => {
  const { Prng, mtuBytes, PcapWriter, connectAttrs, QpType: T } = await import("../mod.ts");
  // A NaN seed used to make a generator whose `seed` was NaN; a string was taken as one.
  for (const seed of [NaN, Infinity, "x"]) {
    assert.throws(
      () => new Prng(seed as number),
      /^RangeError: Prng: seed must be a finite number/,
    );
  }
  assert.equal(new Prng(7).nextU32(), new Prng(7).nextU32()); // valid seeds as before
  // mtuBytes(9) used to be 65536 and mtuBytes(NaN) 256.
  for (const mtu of [0, 6, 9, NaN]) {
    assert.throws(
      () => mtuBytes(mtu as 1),
      /^RangeError: mtuBytes: .* is not an ibv_mtu \(1\.\.5\)$/,
    );
  }
  assert.throws(
    () => new PcapWriter().add(undefined as never),
    /^TypeError: PcapWriter: a record is \{ timeNs, bytes: Uint8Array \}$/,
  );
  assert.throws(
    () => connectAttrs(T.RC, null as never),
    einval(/^EINVAL: connectQp: give the peer/),
  );
});

Deno.test("cluster.run and cluster.spawn refuse by rejecting, never by throwing", async () => {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  cluster.addHost({ name: "b", hypervisor: false });
  await cluster.start();
  // Outside run: spawn rejects at once (docs/api.md, Conventions), as sleep and openDevice do.
  const outside = cluster.spawn("w", () => Promise.resolve(1));
  await assert.rejects(outside, einval(/^EINVAL: cluster\.spawn\('w'\) called outside/));
  await cluster.run(async () => {
    const nested = cluster.run(() => Promise.resolve(1)); // not re-entrant: a rejected promise
    await assert.rejects(nested, einval(/^EINVAL: cluster\.run: already running/));
  });
});

Deno.test("two calls that run in virtual time by themselves, at once outside run: the second is EINVAL", async () => {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  const xen = cluster.addHost({ name: "x", hypervisor: true });
  await cluster.start();
  // It used to be the engine's own `Error: Engine.run: already running (nested run)`.
  const [a, b] = await Promise.allSettled([
    xen.createGuest({ name: "a" }),
    xen.createGuest({ name: "b" }),
  ]);
  assert.equal(a.status, "fulfilled");
  assert.equal(b.status, "rejected");
  einval(/^EINVAL: create b: the cluster is busy in virtual time with 'create a'/)(
    (b as PromiseRejectedResult).reason,
  );
  const run = cluster.run(() => cluster.sleep(1));
  await assert.rejects(xen.createGuest({ name: "c" }), einval(/busy in virtual time with 'main'/));
  await run;
  // Nothing half-done: b was never created, and inside run both can be made at once.
  assert.deepEqual(xen.guests.map((g) => g.name), ["a"]);
  const made = await cluster.run(() =>
    Promise.all([xen.createGuest({ name: "b" }), xen.createGuest({ name: "c" })])
  );
  assert.deepEqual(made.map((g) => g.name), ["b", "c"]);
});

for (const mode of MODES) {
  Deno.test(`destroying a CQ in use says how it is used, not a count of QPs that is wrong (${mode})`, async () => {
    const { cluster, d } = await setup(mode);
    await cluster.run(async () => {
      const ctx = await d.openDevice();
      const pd = await ctx.allocPd();
      const cq = await ctx.createCq(4);
      // One QP whose send and receive queues both complete into the CQ: it used to say "2 QP(s)".
      await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
      });
      await assert.rejects(cq.destroy(), (e: unknown) => {
        assert.ok(e instanceof VerbsError);
        assert.equal(e.code, "EBUSY");
        assert.match(
          e.message,
          /destroy_cq: CQ \d+ is in use \(2 QP queue\(s\) complete into it\)$/,
        );
        return true;
      });
      await ctx.close();
    });
  });
}

Deno.test("cq.ackEvents of something that is not a count says so", async () => {
  const { cluster, d } = await setup("native");
  await cluster.run(async () => {
    const ctx = await d.openDevice();
    const cq = await ctx.createCq(4);
    // It used to say "-1 more than the 0 unacknowledged".
    for (const n of [-1, NaN, 1.5, "2"]) {
      assert.throws(
        () => cq.ackEvents(n as number),
        einval(/^EINVAL: ack_cq_events: \S+ is not a count of events$/),
      );
    }
    assert.throws(() => cq.ackEvents(1), einval(/^EINVAL: ack_cq_events: 1 more than the 0/));
    cq.ackEvents(0);
    await ctx.close();
  });
});

Deno.test("cq.pollUntil of a negative count says it is no whole number ≥ 0, not 'not an integer'", async () => {
  const { cluster, d } = await setup("native");
  await cluster.run(async () => {
    const ctx = await d.openDevice();
    const cq = await ctx.createCq(4);
    await assert.rejects(
      cq.pollUntil(-1),
      einval(/^EINVAL: poll_cq CQ \d+: n -1 is not a whole number ≥ 0$/),
    );
    await assert.rejects(
      cq.pollUntil(1.5),
      einval(/^EINVAL: poll_cq CQ \d+: n 1\.5 is not a whole number ≥ 0$/),
    );
    await ctx.close();
  });
});

Deno.test("the built-in profiles are frozen: changing one cluster's costs never changes another's", async () => {
  const { PCIX_SDR_2006, MODERN_GEN5_NDR, resolveProfile } = await import("../mod.ts");
  const a = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  const wake = PCIX_SDR_2006.cpu.wakeupNs;
  // It used to change PCIX_SDR_2006 itself, so every later cluster of the process.
  assert.throws(() => {
    (a.profile.cpu as { wakeupNs: number }).wakeupNs = 1;
  }, TypeError);
  assert.throws(() => {
    (MODERN_GEN5_NDR.calibration as unknown[]).length = 0;
  }, TypeError);
  assert.equal(new Cluster({ profile: "pcix-sdr-2006", seed: 1 }).profile.cpu.wakeupNs, wake);
  // A profile of one's own is a copy, and can be changed.
  const own = resolveProfile({ base: "pcix-sdr-2006", cpu: { wakeupNs: 1 } });
  (own.cpu as { wakeupNs: number }).wakeupNs = 2;
  assert.equal(own.cpu.wakeupNs, 2);
  assert.equal(PCIX_SDR_2006.cpu.wakeupNs, wake);
});

for (const mode of MODES) {
  Deno.test(`openDevice's options: null is none, anything else must be { regCache?: boolean } (${mode})`, async () => {
    const { cluster, d } = await setup(mode);
    await cluster.run(async () => {
      // null used to be a TypeError (reading 'regCache'), and regCache "no" turned the cache on.
      await (await d.openDevice(undefined, null as never)).close();
      await assert.rejects(
        d.openDevice(undefined, "x" as never),
        einval(/^EINVAL: \S+: openDevice: opts must be \{ regCache\? \}$/),
      );
      await assert.rejects(
        d.openDevice(undefined, { regCache: "no" as never }),
        einval(/^EINVAL: \S+: openDevice: regCache must be true or false, got "no"$/),
      );
      await (await d.openDevice(undefined, { regCache: false })).close();
    });
  });
}

for (const mode of MODES) {
  Deno.test(`boolean options are true or false, not JavaScript's truthiness: EINVAL naming the call (${mode})`, async () => {
    const { cluster, xen, d } = await setup(mode);
    const host = mode === "native" ? cluster.hosts.find((h) => h.name === "b")! : xen;
    await cluster.run(async () => {
      const ctx = await d.openDevice();
      const pd = await ctx.allocPd();
      const ch = ctx.createCompChannel();
      const cq = await ctx.createCq(4, { channel: ch });
      const cap = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
      // `int solicited_only` (ibv_req_notify_cq): "false" and "x" used to arm solicited-only.
      for (const [v, shown] of [["x", '"x"'], ["false", '"false"'], [1, "1"], [null, "null"]]) {
        assert.throws(
          () => cq.reqNotify(v as never),
          einval(
            new RegExp(
              `^EINVAL: req_notify_cq: solicitedOnly must be true or false, got ${shown}$`,
            ),
          ),
        );
      }
      cq.reqNotify();
      cq.reqNotify(true);
      // `int sq_sig_all` (struct ibv_qp_init_attr): "x" used to signal every send WR.
      const qps = host.hca.stats().used.qp;
      await assert.rejects(
        pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap, sqSigAll: "x" as never }),
        einval(/^EINVAL: create_qp: sqSigAll must be true or false, got "x"$/),
      );
      assert.equal(host.hca.stats().used.qp, qps, "no QP was made");
      // `int en_sqd_async_notify` (struct ibv_qp_attr), where the transition takes it.
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap,
        sqSigAll: false,
      });
      await connectQp(qp, {
        remoteQpn: qp.qpNum,
        rqPsn: qp.initialPsn,
        dlid: ctx.queryPort(1).lid,
      });
      await assert.rejects(
        qp.modify({ state: QpState.SQD, enSqdAsyncNotify: "yes" as never }),
        einval(/^EINVAL: modify_qp: enSqdAsyncNotify must be true or false, got "yes"$/),
      );
      assert.equal((await qp.query()).state, QpState.RTS, "the QP stayed in RTS");
      await qp.modify({ state: QpState.SQD, enSqdAsyncNotify: false });
      assert.equal((await qp.query()).state, QpState.SQD);
      assert.equal(ch.pending, 0);
      await ctx.close();
    });
  });
}

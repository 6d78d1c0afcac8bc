// `deno task bench`: its command line (sections, flags, one-line errors) and
// that each section runs. The figures it prints are wall clock, never asserted.
import assert from "node:assert/strict";
import { benchUsage, parseBenchArgs } from "../tools/bench.ts";
import { payloadCopies } from "../tools/lib/bench_copy.ts";
import { TRAIN_FLOOR_VARIANTS, trainFloor } from "../tools/lib/bench_train.ts";
import { MODERN_GEN5_NDR, PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
import { allToAll, clusterRss, WriteStream } from "../tools/lib/bench_model.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("bench: sections and flags parse; defaults leave the large cases out", () => {
  const d = parseBenchArgs([])!;
  const defaults = ["engine", "rss", "stream", "events", "copy", "train", "fastpath"];
  assert.deepEqual(d.sections, defaults);
  assert.deepEqual([d.repeats, d.quick, d.profile], [5, false, "pcix-sdr-2006"]);
  assert.deepEqual(d.modes, ["native", "bypass", "split"]);
  const all = parseBenchArgs(["all", "--quick"])!;
  assert.deepEqual(all.sections, defaults);
  assert.equal(all.repeats, 3);
  const a2a = parseBenchArgs([
    "all-to-all",
    "rss",
    "engine",
    "--hosts",
    "8,16,32,64",
    "--messages=50",
  ])!;
  assert.deepEqual(a2a.sections, ["engine", "rss", "all-to-all"], "a fixed order, engine first");
  assert.deepEqual([a2a.hosts, a2a.messages, a2a.guests], [[8, 16, 32, 64], 50, 4]);
  assert.equal(a2a.byKind, false);
  assert.equal(parseBenchArgs(["all-to-all", "--by-kind"])!.byKind, true);
  assert.deepEqual(parseBenchArgs(["stream", "--modes", "split,native"])!.modes, [
    "split",
    "native",
  ]);
  assert.equal(parseBenchArgs(["-h"]), undefined);
  assert.match(benchUsage(), /all-to-all/);
});

Deno.test("bench: bad sections and values are one-line errors naming them", async () => {
  const bad: [string[], RegExp][] = [
    [["enigne"], /unknown section 'enigne'/],
    [["--modes", "native,kvm"], /--modes: unknown mode 'kvm'/],
    [["--repeats", "0"], /--repeats/],
    [["--hosts", "8,x"], /--hosts: 'x' is not a whole number/],
    [["--sizes", "0"], /--sizes/],
    [["--profile", "fast"], /--profile: unknown profile 'fast'/],
    [["--frobnicate"], /frobnicate/],
  ];
  for (const [args, re] of bad) {
    assert.throws(
      () => parseBenchArgs(args),
      (e: Error) => e.name === "UsageError" && re.test(e.message),
      args.join(" "),
    );
  }
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "bench", "enigne"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const err = new TextDecoder().decode(r.stderr).trim();
  assert.equal(r.code, 1);
  assert.match(err, /^bench: unknown section 'enigne'/);
  assert.equal(err.split("\n").length, 1, err);
});

Deno.test("bench: the stream writes every message; the same stream is the same run", async () => {
  for (const mode of ["native", "bypass", "split"] as const) {
    const [[a, sa], [b]] = await Promise.all([1, 2].map(async () => {
      const s = await WriteStream.create("pcix-sdr-2006", mode, 4096);
      return [await s.run(100), s] as const;
    }));
    assert.equal(a.messages, 100);
    // The source is data, not zeros, and the destination ends up holding it.
    const src = sa.a.dom.memory.read(sa.a.buf, 4096);
    assert.ok(src.some((x) => x !== 0) && src.some((x, i) => x !== src[i ^ 1]), mode);
    assert.deepEqual(sa.b.dom.memory.read(sa.b.buf, 4096), src, mode);
    // Deterministic model: equal streams take equal virtual time and events.
    assert.deepEqual([b.virtualNs, b.events, b.wakeups], [a.virtualNs, a.events, a.wakeups], mode);
    // 100 × 4 KiB cannot cross a 10 Gb/s link in less than 100 × 4096 B / 1.25 GB/s.
    assert.ok(a.virtualNs > (100 * 4096) / 1.25, `${mode}: ${a.virtualNs} ns`);
  }
});

Deno.test("bench: events counted by kind add up to the events run, in every mode", async () => {
  for (const mode of ["native", "bypass", "split"] as const) {
    const s = await WriteStream.create("pcix-sdr-2006", mode, 4096, { countEvents: true });
    const r = await s.run(32);
    const kinds = r.byKind!;
    assert.equal(Object.values(kinds).reduce((a, b) => a + b, 0), r.events, mode);
    // Every message crosses the switch and lands at the peer: 2 packets and an ACK each.
    assert.equal(kinds["switch.arrival"], 3 * 32, mode);
    assert.equal(kinds["port.arrival"], 3 * 32, mode);
    assert.equal(kinds["event"], undefined, `${mode}: an event without a kind`);
  }
  const plain = await WriteStream.create("pcix-sdr-2006", "bypass", 64);
  assert.equal((await plain.run(16)).byKind, undefined);
  const a = await allToAll(2, 1, 4096, 2, { countEvents: true });
  assert.equal(Object.values(a.byKind!).reduce((x, y) => x + y, 0), a.events);
});

Deno.test("bench: the rss and all-to-all builders make what they report", async () => {
  const r = await clusterRss(2, 2, 64);
  assert.deepEqual([r.guests, r.hosts, r.pairs, r.guestMiB], [4, 2, 2, 64]);
  assert.ok(r.heapUsedBytes > 0 && r.buildMs >= 0);
  const a = await allToAll(2, 2, 4096, 3);
  assert.deepEqual([a.guests, a.qps, a.messages], [4, 12, 36]);
  assert.ok(a.events > a.messages, `${a.events} events for ${a.messages} messages`);
  assert.ok(a.makespanUs > 3 * 3 * 4096 / 1000, `makespan ${a.makespanUs} µs`);
});

Deno.test("bench: the copy floor moves every byte it counts, in IB MTU packets of whole frames", () => {
  for (const mtu of [256, 2048, 4096]) {
    for (const copies of [1, 2] as const) {
      const r = payloadCopies(8192, mtu, copies, 3);
      assert.equal(r.bytes, 3 * 8192, `${mtu} B, ${copies} copies`);
    }
  }
  assert.throws(() => payloadCopies(0, 2048, 1, 1), /buffer of 0 bytes/);
  assert.throws(() => payloadCopies(6144, 2048, 1, 1), /6144 bytes is not a multiple of 4096/);
  assert.throws(() => payloadCopies(4096, 3000, 2, 1), /3000 bytes: not an IB MTU/);
});

Deno.test("bench: the train floor runs every packet's steps, one timing for every variant", async () => {
  for (const profile of [PCIX_SDR_2006, MODERN_GEN5_NDR]) {
    const mtu = profile.link.mtu;
    const runs = [];
    for (const v of TRAIN_FLOOR_VARIANTS) runs.push(await trainFloor(profile, v, 1 << 17, 3));
    const packets = 3 * (1 << 17) / mtu;
    assert.deepEqual(runs.map((r) => r.packets), [packets, packets, packets, packets]);
    assert.deepEqual(runs.map((r) => r.steps / packets), [6, 6, 1, 6], profile.name);
    // The same arithmetic in other orders of steps, or on the engine: the same virtual time.
    const [exact, unrecorded, fused, events] = runs;
    assert.ok(exact.virtualNs > 0, profile.name);
    assert.deepEqual(
      [unrecorded.virtualNs, fused.virtualNs, events.virtualNs],
      [exact.virtualNs, exact.virtualNs, exact.virtualNs],
      profile.name,
    );
    // Recorded steps hash as the engine's trace does: the same run, the same hash.
    assert.match(exact.trace, /^[0-9a-f]{16}$/);
    assert.equal((await trainFloor(profile, "exact", 1 << 17, 3)).trace, exact.trace);
    assert.equal((await trainFloor(profile, "events", 1 << 17, 3)).trace, events.trace);
    assert.notEqual(fused.trace, exact.trace);
    assert.equal(unrecorded.trace, "");
  }
  // The profile's figures set the pace: 1 MiB messages stream at about the model's rate (790.8
  // per virtual s in `bench stream`, whose messages also fetch WQEs and are acknowledged).
  const r = await trainFloor(PCIX_SDR_2006, "exact", 1 << 20, 4);
  const perSecond = 4 / (r.virtualNs / 1e9);
  assert.ok(perSecond > 770 && perSecond < 830, `${perSecond} messages per virtual s`);
  await assert.rejects(trainFloor(PCIX_SDR_2006, "exact", 6144, 1), /6144 bytes is not a multiple/);
  await assert.rejects(
    trainFloor(PCIX_SDR_2006, "fused", 1 << 20, 0),
    /0 messages: not a positive/,
  );
  await assert.rejects(trainFloor(PCIX_SDR_2006, "events", 1 << 20, 1.5), /1.5 messages/);
});

/**
 * `deno task migration`: live migration of a Xen guest with a live RDMA
 * connection (Xen pre-copy, Nomad's handshake; docs/migration.md), measured
 * in virtual time:
 *
 * 1. Total time, downtime (the pause the application sees), the time the
 *    domain was paused, the handshake's share, rounds and bytes sent, for
 *    guests of 64, 256 and 1024 MiB, idle and under a 64 B stream.
 * 2. Downtime against the message rate (a 64 MiB guest).
 * 3. Downtime against the memory the guest registered (the stop-and-copy
 *    round carries it, the handshake registers it again).
 * 4. The fast-path cost of Nomad's handle translation: RDMA WRITE latency
 *    between two bypass guests with the translation off and on.
 *
 * The migrating guest (bypass) on host A has one RC connection to a
 * bare-metal peer on host C and moves to host B; under load both ends send
 * 64 B RDMA WRITEs WITH IMM at the rate, every one checked (exactly once,
 * in order, byte for byte).
 *
 * @example
 * ```sh
 * deno task migration --quick
 * ```
 *
 * @module
 */
import { Cluster, type MigrationResult } from "../mod.ts";
import { runMain } from "./lib/cli.ts";
import { loadToolProfile } from "./lib/api.ts";
import { parseFlags, parseIntFlag, UsageError } from "./lib/perftest_args.ts";
import { connectStream, startStream, streamEnd } from "./lib/migration_stream.ts";
import { writeLatency } from "./native_perf.ts";

/**
 * A built-in profile's name, or a plain object of overrides on a `base`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveProfile } from "../mod.ts";
 * import type { ProfileSpec } from "./migration.ts";
 * const fastNet: ProfileSpec = { base: "pcix-sdr-2006", migration: { netBytesPerSec: "1 GB/s" } };
 * assert.equal(resolveProfile(fastNet).migration.netBytesPerSec, 1e9);
 * ```
 */
export type ProfileSpec = string | Record<string, unknown>;

/** Slots of 64 B each end writes into by default: 512 KiB (a new page every 64 messages). */
const WINDOW = 8_192;

/**
 * One migration measured.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MigrationPoint } from "./migration.ts";
 * // The pause a receiver saw, against the one the migration reports.
 * const seen = (p: MigrationPoint) => p.appGapNs / p.result.downtimeNs;
 * const p = { memoryMiB: 64, rate: 1000, appGapNs: 6.1e6, result: { downtimeNs: 6.6e6 } };
 * assert.ok(seen(p as MigrationPoint) < 1); // the receiver waited less than the whole pause
 * ```
 */
export interface MigrationPoint {
  memoryMiB: number;
  /** Messages per second each end sent (0: idle). */
  rate: number;
  /** Bytes the guest registered with write access (its stream buffer). */
  registeredBytes: number;
  result: MigrationResult;
  /** Messages checked over the whole run, both directions. */
  messages: number;
  /** The longest time a receiver waited between two messages (ns): the pause it saw. */
  appGapNs: number;
}

/**
 * Migrate a bypass guest of `memoryMiB` from A to B while its RC
 * connection to a bare-metal peer carries `rate` 64 B messages per second
 * each way (0: idle), each end writing into `window` slots of the other's
 * registered buffer; measured from its public result and the stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { migrationPoint } from "./migration.ts";
 * const fast = { base: "pcix-sdr-2006", migration: { netBytesPerSec: "1 GB/s" } };
 * const p = await migrationPoint(fast, 16, 20_000);
 * assert.equal(p.result.rounds[0].pages, 16 * 256); // round 1 sends every page
 * assert.ok(p.messages > 0 && p.appGapNs <= p.result.downtimeNs + 100_000);
 * ```
 */
export async function migrationPoint(
  profile: ProfileSpec,
  memoryMiB: number,
  rate: number,
  window = WINDOW,
): Promise<MigrationPoint> {
  const cluster = new Cluster({ profile, seed: 1, nomad: true });
  const A = cluster.addHost({ name: "A", hypervisor: true });
  const B = cluster.addHost({ name: "B", hypervisor: true });
  const C = cluster.addHost({ name: "C", hypervisor: false });
  await cluster.start();
  const vm = await A.createGuest({ name: "vm0", memoryMiB, driver: "bypass" });
  return await cluster.run(async () => {
    const g = await streamEnd(vm, 64, window), p = await streamEnd(C.os, 64, window);
    await connectStream(g, p);
    const s = rate > 0
      ? startStream(cluster, g, p, { bytes: 64, intervalNs: 1e9 / rate, ops: ["writeImm"] })
      : undefined;
    await cluster.sleep(1_000_000);
    const result = await cluster.migrate(vm, B);
    await cluster.sleep(1_000_000);
    const report = await s?.stop();
    const dirs = report?.directions ?? [];
    return {
      memoryMiB,
      rate,
      registeredBytes: g.mr.length,
      result,
      messages: dirs.reduce((n, d) => n + d.messages, 0),
      appGapNs: Math.max(0, ...dirs.map((d) => d.maxGapNs)),
    };
  });
}

/**
 * The fast-path cost of the translation, one message size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { TranslationCost } from "./migration.ts";
 * const t: TranslationCost = { size: 2, offUs: 4.615, onUs: 4.640, deltaNs: 25, deltaPct: 0.54 };
 * assert.ok(t.deltaPct < 2 && t.onUs > t.offUs);
 * ```
 */
export interface TranslationCost {
  size: number;
  /** Half round trip of an RDMA WRITE ping-pong between two bypass guests, µs. */
  offUs: number;
  onUs: number;
  deltaNs: number;
  deltaPct: number;
}

/**
 * RDMA WRITE latency between two bypass guests without and with Nomad's
 * translation (the unmodified ping-pong of `native_perf.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { translationCost } from "./migration.ts";
 * const [t] = await translationCost("pcix-sdr-2006", [2], 20);
 * assert.ok(t.deltaNs > 0 && t.deltaPct < 2); // a few lookups on the path
 * ```
 */
export async function translationCost(
  profile: ProfileSpec,
  sizes: number[],
  iters: number,
): Promise<TranslationCost[]> {
  const out: TranslationCost[] = [];
  for (const size of sizes) {
    const off = await writeLatency(profile, { size, iters, placement: "bypass" });
    const on = await writeLatency(profile, { size, iters, placement: "bypass", nomad: true });
    const deltaNs = (on.typicalUs - off.typicalUs) * 1000;
    out.push({
      size,
      offUs: off.typicalUs,
      onUs: on.typicalUs,
      deltaNs,
      deltaPct: (on.typicalUs / off.typicalUs - 1) * 100,
    });
  }
  return out;
}

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => String(c).padStart(widths[i])).join("  ");
}

const ms = (ns: number) => (ns / 1e6).toFixed(3);

/**
 * Usage text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { migrationUsage } from "./migration.ts";
 * assert.equal(migrationUsage().split("\n")[0], "Usage: deno task migration [flags]");
 * ```
 */
export function migrationUsage(): string {
  return [
    "Usage: deno task migration [flags]",
    "",
    "Live migration of a Xen guest with a live RC connection (Xen pre-copy, Nomad's handshake),",
    "in virtual time: total time, downtime, rounds and bytes by guest memory and load; downtime",
    "by message rate and by registered memory; the fast-path cost of the handle translation.",
    "",
    "  -p, --profile=<NAME|FILE.yaml>  cost profile: pcix-sdr-2006 (default), modern-gen5-ndr, or a YAML file",
    "      --sizes=<MiB,...>  guest memory sizes, 16..4096 MiB each (default 64,256,1024)",
    "      --rate=<msg/s>     the load of section 1, 64 B messages per second each way (default 10000)",
    "      --quick            a smaller run (64 and 256 MiB, shorter rate sweep, fewer latency rounds)",
    "  -h, --help             this text",
  ].join("\n");
}

/**
 * The task's entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "./migration.ts";
 * await assert.rejects(main(["--sizes=8"]), { message: "--sizes: 8 is out of range (16..4096)" });
 * await assert.rejects(main(["--sizes=64,,256"]), {
 *   message: "--sizes: '' is not a whole number (16..4096)",
 * });
 * ```
 */
export async function main(args: string[]): Promise<void> {
  const { values } = parseFlags(args, {
    profile: { type: "string", short: "p" },
    sizes: { type: "string" },
    rate: { type: "string" },
    quick: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(migrationUsage());
    return;
  }
  const sizes = values.sizes === undefined
    ? (values.quick ? [64, 256] : [64, 256, 1024])
    : values.sizes.split(",").map((v) => {
      // One range, in the words of every other flag ('x' is not a whole number (16..4096)).
      const n = parseIntFlag("--sizes", v, 16, 4096);
      return n;
    });
  const rate = values.rate === undefined ? 10_000 : parseIntFlag("--rate", values.rate, 1, 200_000);
  if (values.profile === "") throw new UsageError("--profile: empty value");
  const loaded = await loadToolProfile(values.profile ?? "pcix-sdr-2006");
  const profile = loaded as unknown as ProfileSpec;
  const m = loaded.migration;
  console.log(`migration — profile ${loaded.name}: ${loaded.description} (virtual time)`);
  console.log(
    `   management network ${(m.netBytesPerSec / 1e6).toFixed(0)} MB/s, ${
      m.netLatencyNs / 1000
    } µs one way; suspend ${ms(m.suspendNs)} ms, resume ${ms(m.resumeNs)} ms, ` +
      `xenbus re-handshake ${ms(m.xenbusReconnectNs)} ms\n`,
  );

  console.log(
    `1. A bypass guest with one RC connection to a bare-metal peer moves A → B (idle, and ${rate} ` +
      "msg/s of 64 B each way)",
  );
  const w = [8, 10, 6, 9, 9, 11, 9, 12, 10, 11];
  console.log(
    row([
      "memory",
      "load",
      "rounds",
      "MB sent",
      "total ms",
      "downtime ms",
      "paused ms",
      "handshake ms",
      "last pages",
      "app gap ms",
    ], w),
  );
  for (const mib of sizes) {
    for (const r of [0, rate]) {
      const p = await migrationPoint(profile, mib, r);
      const res = p.result;
      console.log(
        row([
          `${mib} MiB`,
          r === 0 ? "idle" : `${r}/s`,
          res.rounds.length,
          (res.bytesSent / 1e6).toFixed(1),
          ms(res.totalNs),
          ms(res.downtimeNs),
          ms(res.vmPausedNs),
          ms(res.handshakeNs),
          res.rounds.at(-1)!.pages,
          r === 0 ? "-" : ms(p.appGapNs),
        ], w),
      );
    }
  }
  console.log(
    "   total: from the call until the source gave back the guest's last frame; downtime: from\n" +
      "   the connections holding new sends to their carrying traffic on B; paused: the domain\n" +
      "   not running (stop-and-copy and restore); handshake: Nomad's suspend and reconnect;\n" +
      "   last pages: the stop-and-copy round; app gap: the longest wait a receiver saw.\n",
  );

  const rates = values.quick ? [1_000, 20_000] : [1_000, 10_000, 50_000];
  const sweepMiB = sizes.includes(64) ? 64 : sizes[0];
  console.log(`2. Downtime against the message rate (${sweepMiB} MiB guest, 64 B each way)`);
  const w2 = [10, 8, 11, 11, 12, 10, 10];
  console.log(
    row(
      ["rate msg/s", "rounds", "dirty/rnd", "downtime ms", "handshake ms", "total ms", "msgs"],
      w2,
    ),
  );
  for (const r of rates) {
    const p = await migrationPoint(profile, sweepMiB, r);
    const res = p.result;
    const pre = res.rounds.filter((x) => !x.stopAndCopy).slice(1);
    const dirty = pre.length ? pre.reduce((a, x) => a + x.pages, 0) / pre.length : 0;
    console.log(
      row([
        r,
        res.rounds.length,
        dirty.toFixed(0),
        ms(res.downtimeNs),
        ms(res.handshakeNs),
        ms(res.totalNs),
        p.messages,
      ], w2),
    );
  }
  console.log(
    "   dirty/rnd: pages sent per pre-copy round after the first (written by the CPU or by the\n" +
      "   HCA's DMA meanwhile).\n",
  );

  console.log(`3. Downtime against the memory the guest registered (${sweepMiB} MiB guest, idle)`);
  const w4 = [14, 11, 12, 11, 12];
  console.log(
    row(["registered KiB", "last pages", "downtime ms", "paused ms", "handshake ms"], w4),
  );
  const windows = values.quick ? [512, 16_384] : [512, 8_192, 65_536, 262_144];
  for (const win of windows) {
    const p = await migrationPoint(profile, sweepMiB, 0, win);
    const res = p.result;
    console.log(
      row([
        (p.registeredBytes / 1024).toFixed(0),
        res.rounds.at(-1)!.pages,
        ms(res.downtimeNs),
        ms(res.vmPausedNs),
        ms(res.handshakeNs),
      ], w4),
    );
  }
  console.log(
    "   the stop-and-copy round carries every page the guest registered writable: the backend's\n" +
      "   grant unmaps at release mark them dirty (Xen's gnttab_mark_dirty), and the handshake\n" +
      "   re-registers them on the destination.\n",
  );

  console.log("4. Fast-path cost of the handle translation (RDMA WRITE ping-pong, bypass guests)");
  const iters = values.quick ? 200 : 1000;
  const w3 = [6, 12, 12, 10, 9];
  console.log(row(["size", "off µs", "Nomad µs", "delta ns", "delta"], w3));
  for (const t of await translationCost(profile, [2, 64, 4096], iters)) {
    console.log(
      row([
        `${t.size} B`,
        t.offUs.toFixed(3),
        t.onUs.toFixed(3),
        t.deltaNs.toFixed(0),
        `${t.deltaPct.toFixed(3)} %`,
      ], w3),
    );
  }
  console.log(
    `   a lookup of ${loaded.cpu.handleLookupNs} ns (cpu.handleLookupNs) per key posted and per ` +
      "completion polled: well under 2 %.",
  );
}

if (import.meta.main) await runMain("migration", () => main(Deno.args));

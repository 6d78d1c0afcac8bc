/**
 * xenib's perftest statistics and row formatting against an independent
 * implementation of perftest 4.5's report code written here, from
 * src/perftest_parameters.c (4.5-0.17): `print_report_lat` (sort, drop
 * LAT_MEASURE_TAIL, get_median, the int-truncated stdev, ceil(n*0.99)),
 * `print_report_bw` (the peak loop over posts and signaled completions in
 * unsigned 64-bit cycles, format_factor), `print_full_bw_report` (the
 * remote report added, inc_accuracy from the local average) and the
 * REPORT_FMT* rows, printed with a printf written here over exact binary
 * values (BigInt rationals). The same synthetic samples go to both; every
 * printed field must agree.
 */
import assert from "node:assert/strict";
import { Prng } from "../sim/prng.ts";
import { bandwidthReport, latencyReport } from "../tools/lib/perftest_stats.ts";
import { bwRowLine, latRowLine, sumBwRows } from "../tools/lib/perftest_format.ts";

// ---- an independent printf ------------------------------------------------

/** The exact value of a double as numerator / 2^shift (BigInts). */
function exact(x: number): { num: bigint; shift: bigint } {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  const bits = dv.getBigUint64(0);
  const sign = bits >> 63n ? -1n : 1n;
  const expBits = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let exp: number;
  if (expBits === 0) exp = -1074;
  else {
    mant |= 1n << 52n;
    exp = expBits - 1075;
  }
  if (exp >= 0) return { num: sign * (mant << BigInt(exp)), shift: 0n };
  return { num: sign * mant, shift: BigInt(-exp) };
}

/** `%.Nf`: exact value, rounded half to even (glibc). */
function fmtF(x: number, n: number): string {
  const { num, shift } = exact(x);
  const neg = num < 0n;
  const scaled = (neg ? -num : num) * 10n ** BigInt(n);
  const den = 1n << shift;
  let q = scaled / den;
  const r2 = (scaled % den) * 2n;
  if (r2 > den || (r2 === den && q % 2n === 1n)) q += 1n;
  let s = q.toString().padStart(n + 1, "0");
  if (n > 0) s = `${s.slice(0, s.length - n)}.${s.slice(s.length - n)}`;
  return (neg ? "-" : "") + s;
}

function left(s: string, w: number): string {
  return s.length >= w ? s : s + " ".repeat(w - s.length);
}

// ---- perftest's report code, again -----------------------------------------

const TAIL = 2;
const MHZ = 1000; // the virtual cycle counter: 1 cycle per ns

/** print_report_lat's REPORT_FMT_LAT line for timestamps `tposted` (cycles). */
function perftestLatLine(size: number, tposted: bigint[], rtt: number, cycles: boolean): string {
  const iters = tposted.length;
  let measure = iters - 1;
  const delta: bigint[] = [];
  for (let i = 0; i < measure; i++) delta.push(tposted[i + 1] - tposted[i]);
  delta.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  measure -= TAIL;
  const median = (measure - 1) % 2
    ? (delta[measure / 2] + delta[measure / 2 - 1]) / 2n
    : delta[Math.floor(measure / 2)];
  const q = (cycles ? 1 : MHZ) * rtt;
  let avgSum = 0;
  for (let i = 0; i < measure; i++) avgSum += Number(delta[i]) / q;
  const avg = avgSum / measure;
  let stdevSum = 0;
  for (let i = 0; i < measure; i++) {
    const tempVar = Math.trunc(avg - Number(delta[i]) / q); // int
    const powVar = Math.trunc(Math.pow(tempVar, 2)); // int
    stdevSum += powVar;
  }
  const i99 = Math.ceil(measure * 0.99), i999 = Math.ceil(measure * 0.999);
  const f = (v: number) => left(fmtF(v, 2), 7);
  return " " + left(String(size), 7) + " " + String(iters) + "          " +
    f(Number(delta[0]) / q) + "        " + f(Number(delta[measure]) / q) + "      " +
    f(Number(median) / q) + "  \t       " + f(avg) + "     \t" +
    f(Math.sqrt(stdevSum / measure)) + "\t\t" + f(Number(delta[i99]) / q) + " \t\t" +
    f(Number(delta[i999]) / q);
}

interface PerftestBw {
  peak: number;
  avg: number;
  rate: number;
  iters: number;
}

/** print_report_bw's numbers (cycles_t unsigned). */
function perftestBw(
  size: number,
  tposted: bigint[],
  tcompleted: bigint[],
  iters: number,
  qps: number,
  cqMod: number,
  postList: number,
  noPeak: boolean,
  gbits: boolean,
): PerftestBw {
  const U64 = (1n << 64n) - 1n;
  const n = iters * qps;
  let opt = (tcompleted[0] - tposted[0]) & U64;
  const roundUp = (v: number, a: number) => (v % a === 0 ? v : a * (Math.floor(v / a) + 1));
  if (!noPeak) {
    for (let i = 0; i < n; i += postList) {
      for (let j = roundUp(i + 1, cqMod) - 1; j < n; j += cqMod) {
        const t = ((tcompleted[j] - tposted[i]) & U64) / BigInt(j - i + 1);
        if (t < opt) opt = t;
      }
      if (n % cqMod) {
        const j = n - 1;
        const t = ((tcompleted[j] - tposted[i]) & U64) / BigInt(j - i + 1);
        if (t < opt) opt = t;
      }
    }
  }
  const ctu = MHZ * 1000000;
  const ff = gbits ? 125000000 : 0x100000;
  const loc = noPeak ? 0 : n - 1;
  const sum = Number(tcompleted[loc] - tposted[0]);
  const avg = (size * n * ctu) / (sum * ff);
  const rate = (n * ctu) / (sum * 1000000);
  const peakUp = noPeak ? 0n : BigInt(size) * BigInt(ctu);
  const peakDown = opt * BigInt(ff);
  return { peak: Number(peakUp) / Number(peakDown), avg, rate, iters: n };
}

/** print_full_bw_report's row (with the remote report added). */
function perftestBwLine(
  size: number,
  mine: PerftestBw,
  rem: PerftestBw | undefined,
  gbits: boolean,
) {
  const inc = mine.avg < 0.1 && gbits;
  const peak = mine.peak + (rem?.peak ?? 0);
  const avg = mine.avg + (rem?.avg ?? 0);
  const rate = mine.rate + (rem?.rate ?? 0);
  if (inc) {
    return " " + left(String(size), 7) + "    " + String(mine.iters) + "           " +
      left(fmtF(peak, 6), 7) + "            " + left(fmtF(avg, 6), 7) + "            " +
      left(fmtF(rate, 6), 7);
  }
  return " " + left(String(size), 7) + "    " + left(String(mine.iters), 10) + "       " +
    left(fmtF(peak, 2), 7) + "            " + left(fmtF(avg, 2), 7) + "\t\t   " +
    left(fmtF(rate, 6), 7);
}

// ---- synthetic samples -----------------------------------------------------

/** Post timestamps of a latency run: a base round trip with jitter and rare outliers. */
function latTimestamps(rng: Prng, iters: number, base: number, spread: number): number[] {
  const t: number[] = [0];
  for (let i = 1; i < iters; i++) {
    let d = base + rng.int(spread + 1);
    if (rng.chance(0.01)) d += rng.int(100 * base);
    t.push(t[i - 1] + d);
  }
  return t;
}

Deno.test("perftest report: latency rows agree field by field with perftest's print_report_lat", () => {
  const rng = new Prng(13);
  let cases = 0;
  for (const iters of [5, 6, 7, 10, 11, 100, 101, 1000, 1001, 4999]) {
    for (const [base, spread] of [[9000, 0], [10380, 7], [4250, 3], [123457, 5000], [1, 2]]) {
      for (const rtt of [1, 2] as const) {
        for (const cycles of [false, true]) {
          const t = latTimestamps(rng, iters, base, spread);
          const ours = latencyReport(64, t, { rttFactor: rtt, cycles });
          const want = perftestLatLine(64, t.map(BigInt), rtt, cycles);
          const got = latRowLine(ours);
          assert.equal(
            got,
            want,
            `iters ${iters} base ${base}±${spread} rtt ${rtt} cycles ${cycles}`,
          );
          cases++;
        }
      }
    }
  }
  assert.equal(cases, 200);
  // The fields perftest is known for, spelled out once: 2 dropped, t_max the
  // second largest, the median of an odd count the middle one, the
  // percentile index ceil(n*0.99) of the kept samples.
  const t = [0];
  for (const d of [10, 10, 10, 10, 11, 12, 13, 50, 60]) t.push(t.at(-1)! + d * 1000);
  const r = latencyReport(2, t, { rttFactor: 1 });
  assert.deepEqual([r.tMin, r.tMax, r.tTypical, r.p99, r.iterations], [10, 50, 10, 50, 10]);
});

Deno.test("perftest report: bandwidth rows agree field by field with perftest's print_report_bw", () => {
  const rng = new Prng(29);
  let cases = 0;
  for (const iters of [5, 8, 100, 150, 1000]) {
    for (const qps of [1, 3]) {
      for (const cqMod of [1, 4, 100]) {
        for (const postList of [1, 4]) {
          if (postList > 1 && postList % Math.min(cqMod, postList) !== 0) continue;
          for (const size of [2, 4096, 65536]) {
            for (const gbits of [false, true]) {
              for (const noPeak of [false, true]) {
                const n = iters * qps;
                const cm = Math.min(cqMod, n);
                // Posts every ~size/4 ns; signaled completions at cq_mod boundaries.
                const per = Math.max(3, Math.floor(size / 4));
                const tposted = new Array<number>(n).fill(0);
                const tcompleted = new Array<number>(n).fill(0);
                let now = 1000;
                for (let k = 0; k < n; k += postList) {
                  tposted[k] = now;
                  now += per * postList + rng.int(50);
                }
                for (let k = cm - 1; k < n; k += cm) {
                  tcompleted[k] = tposted[k - (k % postList)] + 5000 + rng.int(400);
                }
                tcompleted[n - 1] = now + 6000;
                const tp = noPeak ? [tposted[0]] : tposted;
                const tc = noPeak ? [tcompleted[n - 1]] : tcompleted;
                const opts = { size, iters, qps, cqMod: cm, postList, noPeak };
                const ours = bandwidthReport(tp, tc, opts);
                const theirs = perftestBw(
                  size,
                  tp.map(BigInt),
                  tc.map(BigInt),
                  iters,
                  qps,
                  cm,
                  postList,
                  noPeak,
                  gbits,
                );
                const got = bwRowLine(ours, gbits);
                const want = perftestBwLine(size, theirs, undefined, gbits);
                assert.equal(got, want, JSON.stringify({ ...opts, gbits }));
                cases++;
              }
            }
          }
        }
      }
    }
  }
  assert.ok(cases > 300, `${cases} cases`);
});

Deno.test("perftest report: bidirectional sums and the 6-decimal Gb/sec row below 0.1", () => {
  // A slow 2-byte stream: average far below 0.1 Gb/sec.
  const tposted = [0, 1_000_000, 2_000_000, 3_000_000, 4_000_000];
  const tcompleted = [2_000_000, 3_000_000, 4_000_000, 5_000_000, 6_000_000];
  const a = bandwidthReport(tposted, tcompleted, { size: 2, iters: 5 });
  const b = bandwidthReport(tposted, tcompleted.map((x) => x + 7), { size: 2, iters: 5 });
  const pa = perftestBw(2, tposted.map(BigInt), tcompleted.map(BigInt), 5, 1, 1, 1, false, true);
  const pb = perftestBw(
    2,
    tposted.map(BigInt),
    tcompleted.map((x) => BigInt(x + 7)),
    5,
    1,
    1,
    1,
    false,
    true,
  );
  const want = perftestBwLine(2, pa, pb, true);
  assert.equal(bwRowLine(sumBwRows(a, b), true, false, a.inUnits.avgGb), want);
  assert.match(want, / 0\.0000\d\d /); // six decimals, as perftest's REPORT_FMT_EXT
  // In MB/sec the same run keeps two decimals.
  assert.equal(
    bwRowLine(a, false),
    perftestBwLine(
      2,
      perftestBw(2, tposted.map(BigInt), tcompleted.map(BigInt), 5, 1, 1, 1, false, false),
      undefined,
      false,
    ),
  );
});

Deno.test("perftest report: the independent printf is glibc's (exact ties go to even)", () => {
  assert.equal(fmtF(2.125, 2), "2.12");
  assert.equal(fmtF(2.375, 2), "2.38");
  assert.equal(fmtF(0.5, 0), "0");
  assert.equal(fmtF(1.5, 0), "2");
  assert.equal(fmtF(5.1955, 2), "5.20"); // 5.1955 is above the tie in binary
  assert.equal(fmtF(1e-7, 6), "0.000000");
});

/**
 * `deno task perftest <test> [flags]`: perftest 4.5 (ib_write_lat,
 * ib_write_bw, ib_read_lat, ib_read_bw, ib_send_lat, ib_send_bw,
 * ib_atomic_lat, ib_atomic_bw) on a simulated cluster — native, Xen-IB
 * bypass or split guests — or on real hardware with `--device real`.
 * Output is perftest's, row by row as each size finishes; progress within
 * a long size goes to stderr; `--pcap FILE` writes every packet.
 *
 * @example
 * ```sh
 * deno task perftest ib_write_lat -s 64 -n 1000 --mode bypass
 * ```
 *
 * @module
 */
import {
  parsePerftestArgs,
  PARSER_FAILED,
  PERFTEST_VERSION,
  perftestUsage,
  UsageError,
} from "./lib/perftest_args.ts";
import {
  formatPreamble,
  formatRow,
  RESULT_LINE,
  resultLine,
  resultToJson,
} from "./lib/perftest_format.ts";
import { runIterExitCode, runPerftest } from "./lib/perftest_runner.ts";
import { formatOutJson } from "./lib/perftest_out_json.ts";
import {
  checkUserOutput,
  describeError,
  readUserFile,
  runMain,
  SizeProgress,
  writeUserFile,
} from "./lib/cli.ts";
import { ToolError } from "./lib/api.ts";
import type { PerftestResult } from "./lib/perftest_stats.ts";

async function main(args: string[]): Promise<number> {
  let config: ReturnType<typeof parsePerftestArgs>;
  try {
    config = parsePerftestArgs(args);
  } catch (e) {
    // What perftest had printed before the check that stopped it, then the error.
    if (!(e instanceof UsageError)) throw e;
    for (const n of e.notices) {
      if (n.resultLine) console.log(RESULT_LINE);
      (n.stream === "stdout" ? console.log : console.error)(n.text);
    }
    if (e.resultLine) console.log(RESULT_LINE); // force_dependecies' printf(RESULT_LINE)
    console.error(describeError("perftest", e));
    // After a parser() failure perftest's main() adds its line, and returns FAILURE (1).
    if (e.parserFailed) console.error(PARSER_FAILED);
    return 1;
  }
  if (config.help) {
    const named = args.find((a) => a.startsWith("ib_"));
    console.log(perftestUsage(config.test && named ? config.test : undefined));
    return 1; // perftest: HELP_EXIT is a failure exit
  }
  if (config.version) {
    console.log(`Version: ${PERFTEST_VERSION}`);
    return 1;
  }
  // Outputs checked before the run: a bad path fails now, not after every size was measured.
  if (config.pcap !== undefined) await checkUserOutput(config.pcap, "--pcap");
  if (config.outJson) await checkUserOutput(config.outJsonFile, "--out_json_file");
  const mmapBytes = config.mmapFile !== undefined
    ? await readMmap(config.mmapFile, config.mmapOffset)
    : undefined;
  const progress = config.json ? undefined : new SizeProgress();
  const enc = new TextEncoder();
  const out = (s: string) => Deno.stdout.writeSync(enc.encode(s + "\n"));
  const streaming = !config.json;
  let streamedRows = 0;
  // The closing dashes: printed once the last size is measured, before --wait_destroy's line
  // (perftest prints them, then destroy_ctx says it waits).
  let info: PerftestResult["info"];
  let closed = false;
  const close = () => {
    if (!closed && streaming && info?.output === "full") out(resultLine(info));
    closed = true;
  };
  let result: Awaited<ReturnType<typeof runPerftest>>;
  try {
    result = await runPerftest(config, {
      mmapBytes,
      capture: config.pcap !== undefined
        ? { format: config.pcapFormat, ipv6: config.ipv6 }
        : undefined,
      onPreamble: (r) => {
        info = r.info;
        if (!streaming) return;
        const p = formatPreamble(r);
        if (p) out(p);
      },
      onSize: (bytes, i, count) => progress?.startSize(bytes, i, count),
      onProgress: (done, total, bytes) => progress?.update(done, total, bytes),
      onRow: (r, i) => {
        info = r.info;
        progress?.clear();
        if (streaming) {
          out(rowText(r, i));
          streamedRows++;
        }
        if (config.outJson) {
          // perftest rewrites the file at every report: it keeps the last size.
          const text = formatOutJson(r, i);
          pendingJson = text;
        }
      },
      onMeasured: close,
      onLine: (line) => streaming && out(line),
    });
  } catch (e) {
    // A failed run_iter: the program's own exit status (17 where its main() sets it).
    if (!(e instanceof Error) || e.name !== "CompletionError") throw e;
    progress?.end();
    console.error(describeError("perftest", e));
    return runIterExitCode(config);
  }
  progress?.end();
  if (streaming) {
    info ??= result.info;
    close();
  } else {
    out(JSON.stringify(resultToJson(result), null, 2));
  }
  if (config.pcap !== undefined && result.pcap) {
    const path = await writeUserFile(config.pcap, result.pcap, "--pcap");
    console.error(`perftest: wrote ${result.pcap.length} bytes to ${path} (${config.pcapFormat})`);
  }
  if (config.outJson && pendingJson !== undefined) {
    await writeUserFile(config.outJsonFile, enc.encode(pendingJson), "--out_json_file");
  }
  if (streamedRows === 0 && streaming && result.lat.length + result.bw.length === 0) {
    throw new ToolError("no size was measured");
  }
  return limitsFailed(config, result) ? 1 : 0;
}

let pendingJson: string | undefined;

/** mmap(2)'s offset unit: the host's page size (sysconf(_SC_PAGESIZE), 4 KiB on x86). */
const MMAP_PAGE_SIZE = 4096;

/**
 * The text of row `i`: the row, and `-W`'s counter lines after each report (perftest's
 * counters_print after every print_full_bw_report or latency report). Each shows what changed
 * since the last read: the run's traffic after the first, nothing after `--report-both`'s Local
 * and Remote rows (the reports travel over the out-of-band channel, not the port).
 */
function rowText(r: PerftestResult, i: number): string {
  const row = r.kind === "lat" ? r.lat[i] : r.bw[i];
  const counters = r.counters?.[i];
  const after = (k: number) =>
    counters ? [...counters.map((c) => `\t${c.name}=${k === 0 ? c.value : 0}`), ""] : [];
  return formatRow(r, row, r.bwRemote?.[i], after);
}

/** perftest's `-w`/`-y` verdict (it checks `-y` only when `-w` is given). */
function limitsFailed(
  c: ReturnType<typeof parsePerftestArgs>,
  r: PerftestResult,
): boolean {
  if (c.limitBw === undefined || r.kind !== "bw") return false;
  if (c.bidirectional && !r.bwRemote) {
    // send_bw.c with -b -D prints its own report only, and print_full_bw_report judges the
    // limits only on -b's summed report: none is judged, so perftest always says this.
    console.error("Error: BW result is below bw limit");
    return true;
  }
  const avg = (i: number) => {
    const row = r.bw[i], rem = r.bwRemote?.[i];
    const u = c.reportGbits ? "avgGb" : "avgMB";
    return row.inUnits[u] + (rem ? rem.inUnits[u] : 0);
  };
  const rate = (i: number) => r.bw[i].msgRateMpps + (r.bwRemote?.[i]?.msgRateMpps ?? 0);
  const idx = r.bw.map((_, i) => i);
  if (!idx.some((i) => !(c.limitBw! > avg(i)))) {
    console.error("Error: BW result is below bw limit");
    return true;
  }
  if (c.limitMsgRate !== undefined && !idx.some((i) => !(c.limitMsgRate! > rate(i)))) {
    console.error("Error: Msg rate  is below msg_rate limit");
    return true;
  }
  return false;
}

/** `--mmap FILE`: the bytes the buffers start with, from `offset`. */
async function readMmap(file: string, offset: number): Promise<Uint8Array> {
  // perftest_resources.c pp_init_mmap (4.5-0.17): open(2) first, then mmap(2) at the offset; a
  // failure of either prints its line, then create_single_mr "Couldn't allocate work buf." and
  // the program's main " Couldn't create IB resources".
  const failed = "; Couldn't allocate work buf.; Couldn't create IB resources";
  let bytes: Uint8Array;
  try {
    bytes = await readUserFile(file, "--mmap");
  } catch (e) {
    // open(2)'s ENOENT; Deno's own permission refusals keep their message.
    if (!(e instanceof ToolError) || !/: no such file$/.test(e.message)) throw e;
    throw new ToolError(
      `--mmap ${file}: Unable to open '${file}': No such file or directory${failed}`,
    );
  }
  if (offset % MMAP_PAGE_SIZE !== 0) {
    // mmap(2) fails with EINVAL for an offset that is not a multiple of the page size.
    throw new ToolError(
      `--mmap-offset ${offset}: Unable to mmap '${file}': Invalid argument (not a multiple of the ${MMAP_PAGE_SIZE}-byte page)${failed}`,
    );
  }
  if (offset > bytes.length) {
    throw new ToolError(
      `--mmap-offset ${offset}: beyond the end of ${file} (${bytes.length} bytes)`,
    );
  }
  return bytes.subarray(offset);
}

// Only as a program: importing the module (docs, tests) must not run it.
if (import.meta.main) await runMain("perftest", () => main(Deno.args));

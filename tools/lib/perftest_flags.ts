/**
 * The 86 flags the eight perftest 4.5 programs show in `--help` (perftest
 * 4.5-0.17, the Debian build: with DC streams, AES-XTS, ODP and PCIe
 * relaxed ordering), each with perftest's meaning and what it does in
 * xenib. `docs/tools.md` shows this table; a test keeps the two equal.
 *
 * Status:
 * - `works`: perftest's meaning, checks and limits, on the simulated fabric.
 * - `noop`: accepted and checked as perftest does; there is nothing for it
 *   to do in one process (no TCP exchange, no host page allocator).
 * - `perftest-refuses`: perftest 4.5 itself refuses it in these eight
 *   programs (outside rdma_cm, Raw Ethernet, DC or AES-XTS runs); xenib
 *   gives perftest's message.
 * - `refused`: needs something the simulation does not have; the message
 *   says what.
 *
 * @module
 */
import type { TestKind, Verb } from "./perftest_types.ts";

/**
 * What a flag does in xenib.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type FlagStatus, PERFTEST_FLAGS } from "./perftest_flags.ts";
 * const status = (long: string): FlagStatus => PERFTEST_FLAGS.find((f) => f.long === long)!.status;
 * assert.equal(status("size"), "works");
 * assert.equal(status("port"), "noop"); // no TCP exchange in one process
 * assert.equal(status("tos"), "works"); // with -R, on the model's rdma_cm
 * assert.equal(status("kek_path"), "perftest-refuses"); // perftest 4.5 refuses it too
 * assert.equal(status("odp"), "refused"); // the model pins every registration: no ODP
 * ```
 */
export type FlagStatus = "works" | "noop" | "perftest-refuses" | "refused";

/**
 * One perftest flag.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PERFTEST_FLAGS } from "./perftest_flags.ts";
 * const size = PERFTEST_FLAGS.find((f) => f.long === "size")!;
 * assert.deepEqual([size.short, size.status], ["s", "works"]);
 * ```
 */
export interface FlagSpec {
  /** Long name as perftest's getopt table spells it. */
  long: string;
  /** Short letter. */
  short?: string;
  /** Value placeholder when the flag takes one. */
  arg?: string;
  /** Long name as `--help` prints it when it differs from the table (perftest's typos). */
  helpLong?: string;
  /** Programs whose `--help` lists it. */
  shown: (verb: Verb, kind: TestKind) => boolean;
  /** perftest's meaning (its help text, shortened). */
  perftest: string;
  /** What it does here. */
  status: FlagStatus;
  /** What xenib does with it. */
  here: string;
}

const all = () => true;
const bw = (_v: Verb, k: TestKind) => k === "bw";
const lat = (_v: Verb, k: TestKind) => k === "lat";
const send = (v: Verb) => v === "send";
const notWrite = (v: Verb) => v !== "write";
const readAtomic = (v: Verb) => v === "read" || v === "atomic";
const notReadAtomic = (v: Verb) => !readAtomic(v);
const notAtomic = (v: Verb) => v !== "atomic";

/**
 * The 86 flags, in the order of perftest's `--help`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PERFTEST_FLAGS } from "./perftest_flags.ts";
 * assert.deepEqual(PERFTEST_FLAGS.length, 86);
 * ```
 */
export const PERFTEST_FLAGS: readonly FlagSpec[] = [
  {
    long: "all",
    short: "a",
    shown: notAtomic,
    perftest: "run sizes from 2 till 2^23",
    status: "works",
    here: "every size 2 … 2^23 (UD: up to the MTU), one row per size as it finishes",
  },
  {
    long: "atomic_type",
    short: "A",
    arg: "type",
    shown: (v) => v === "atomic",
    perftest: "CMP_AND_SWAP or FETCH_AND_ADD (default FETCH_AND_ADD)",
    status: "works",
    here: "as perftest; refused outside the atomic tests with perftest's message",
  },
  {
    long: "bidirectional",
    short: "b",
    shown: bw,
    perftest: "measure bidirectional bandwidth",
    status: "works",
    here:
      "both endpoints stream at once; the row is the sum of both sides, as perftest adds the remote report",
  },
  {
    long: "connection",
    short: "c",
    arg: "RC/XRC/UC/UD/DC/SRD",
    shown: all,
    perftest: "connection type (default RC)",
    status: "works",
    here:
      "RC, UC, UD with perftest's rules; XRC, DC and SRD are refused: the HCA model has no XRC domains, DC targets or SRD",
  },
  {
    long: "log_dci_streams",
    arg: "n",
    shown: all,
    perftest: "DC initiator streams",
    status: "perftest-refuses",
    here: "perftest: 'log_dci_streams supported only on DC' (and DC is not modelled)",
  },
  {
    long: "log_active_dci_streams",
    arg: "n",
    shown: all,
    perftest: "active DC initiator streams",
    status: "perftest-refuses",
    here: "perftest: 'log_active_dci_streams supported only on DC'",
  },
  {
    long: "aes_xts",
    shown: all,
    perftest: "traffic with AES-XTS encryption (mlx5 crypto)",
    status: "refused",
    here:
      "perftest's checks in its order (RC only, key paths, not --use_old_post_send, not -R, not write_lat, no inline), then refused: the HCA model has no crypto engine",
  },
  {
    long: "encrypt_on_tx",
    shown: all,
    perftest: "encrypt on transmit",
    status: "perftest-refuses",
    here: "perftest: 'encrypt_on_tx supported only when enc/dec traffic' (needs --aes_xts)",
  },
  {
    long: "sig_before",
    shown: all,
    perftest: "signature before encryption",
    status: "perftest-refuses",
    here: "perftest: 'sig_before supported only when enc/dec traffic' (needs --aes_xts)",
  },
  {
    long: "aes_block_size",
    arg: "512,520,4048,4096,4160",
    shown: all,
    perftest: "AES-XTS block size",
    status: "noop",
    here: "parsed as perftest (16 bits); used only with --aes_xts",
  },
  {
    long: "data_enc_keys_number",
    arg: "n",
    shown: all,
    perftest: "number of data encryption keys",
    status: "noop",
    here: "parsed as perftest (16 bits); used only with --aes_xts",
  },
  {
    long: "kek_path",
    arg: "file",
    shown: all,
    perftest: "key encryption key file",
    status: "perftest-refuses",
    here: "perftest: 'giving kek path supported only with enc/dec traffic'",
  },
  {
    long: "credentials_path",
    arg: "file",
    shown: all,
    perftest: "credentials file",
    status: "perftest-refuses",
    here: "perftest: 'giving credentials path supported only with enc/dec traffic'",
  },
  {
    long: "data_enc_key_app_path",
    arg: "file",
    shown: all,
    perftest: "data encryption key application",
    status: "perftest-refuses",
    here: "perftest: 'giving kek path supported only with enc/dec traffic' (its message)",
  },
  {
    long: "report-cycles",
    short: "C",
    shown: lat,
    perftest: "report times in cpu cycle units",
    status: "works",
    here: "times in cycles of the virtual clock (1 cycle = 1 ns: cpu_mhz 1000)",
  },
  {
    long: "ib-dev",
    short: "d",
    arg: "dev",
    shown: all,
    perftest: "use IB device <dev>",
    status: "works",
    here:
      "the device of each endpoint's domain (`mthca0`); another name fails as perftest: 'Unable to find the Infiniband/RoCE device'",
  },
  {
    long: "duration",
    short: "D",
    arg: "seconds",
    shown: all,
    perftest: "run for a number of seconds",
    status: "works",
    here:
      "virtual seconds, with perftest's margins (warm-up and cool-down of --margin, default D/4) and its duration report",
  },
  {
    long: "events",
    short: "e",
    shown: notWrite,
    perftest: "sleep on CQ events",
    status: "works",
    here: "completion channel: in a guest every event crosses dom0, as the paper measures",
  },
  {
    long: "vector",
    short: "X",
    arg: "vector",
    shown: notWrite,
    perftest: "completion vector for events",
    status: "works",
    here: "checked against the device's completion vectors (one); needs -e as perftest",
  },
  {
    long: "margin",
    short: "f",
    arg: "seconds",
    shown: all,
    perftest: "measure results within margins (duration mode)",
    status: "works",
    here:
      "virtual seconds excluded at the start and end of a -D run; perftest's DURATION > 2*MARGIN check",
  },
  {
    long: "CPU-freq",
    short: "F",
    shown: all,
    perftest: "no warning about cpufreq",
    status: "works",
    here: "accepted; the virtual clock has no frequency scaling to warn about",
  },
  {
    long: "mcg",
    short: "g",
    shown: send,
    perftest: "send to a multicast group",
    status: "works",
    here:
      "UD SENDs to a group the server's QP is attached to (SA join, MLID, switch MFT), as perftest; see Multicast below",
  },
  {
    long: "help",
    short: "h",
    shown: all,
    perftest: "this help",
    status: "works",
    here:
      "the flags perftest's usage() lists for the test, with its defaults; exit code 1 as perftest",
  },
  {
    long: "report-histogrm",
    helpLong: "report-histogram",
    short: "H",
    shown: lat,
    perftest: "print out all results",
    status: "works",
    here:
      "every sample after the row, as perftest (perftest's option table spells the long form --report-histogrm; so does xenib)",
  },
  {
    long: "ib-port",
    short: "i",
    arg: "port",
    shown: all,
    perftest: "use port <port> (default 1)",
    status: "works",
    here:
      "the port; the HCAs have one, so -i 2 fails as perftest: 'Unable to query port 2 attributes'",
  },
  {
    long: "inline_size",
    short: "I",
    arg: "size",
    shown: notReadAtomic,
    perftest: "max size of message sent inline",
    status: "works",
    here:
      "0 … 912 as perftest; UD capped at 884 with perftest's message; above the device's limit QP creation fails",
  },
  {
    long: "inline_recv",
    arg: "size",
    shown: notWrite,
    perftest: "max size of message received inline",
    status: "noop",
    here: "parsed as perftest 4.5-0.17 does, which never uses it",
  },
  {
    long: "post_list",
    short: "l",
    arg: "list size",
    shown: bw,
    perftest: "post lists of send WRs",
    status: "works",
    here:
      "WRs posted back to back per post call, one signaled per list, CQ moderation = list size; perftest's multiple-of checks; longer than -t: refused (perftest hangs)",
  },
  {
    long: "recv_post_list",
    arg: "list size",
    shown: bw,
    perftest: "post lists of receive WRs",
    status: "works",
    here:
      "receives reposted in lists of this size (send tests); perftest's checks; a list no rx depth holds: refused (perftest hangs)",
  },
  {
    long: "hop_limit",
    short: "L",
    arg: "hop_limit",
    shown: all,
    perftest: "hop limit (Raw Ethernet)",
    status: "perftest-refuses",
    here:
      "0 … 255 accepted; any value but the default 64 refused as perftest: 'Hop limit only valid for RawEth QP'",
  },
  {
    long: "mtu",
    short: "m",
    arg: "mtu",
    shown: all,
    perftest: "MTU 256 - 4096 (default port mtu)",
    status: "works",
    here:
      "path MTU; an invalid value is warned about and replaced by the active MTU, a larger one lowered, as perftest",
  },
  {
    long: "MGID",
    short: "M",
    arg: "multicast_gid",
    shown: send,
    perftest: "multicast group GID",
    status: "works",
    here:
      "with -g, the group's MGID, 16 numbers separated by ':' read as perftest's strtoll; unread without -g, as perftest",
  },
  {
    long: "iters",
    short: "n",
    arg: "iters",
    shown: all,
    perftest: "number of exchanges (5 … 100000000)",
    status: "works",
    here: "as perftest; default 1000, 5000 for write_bw",
  },
  {
    long: "noPeak",
    short: "N",
    shown: bw,
    perftest: "cancel peak-bw calculation",
    status: "works",
    here: "BW peak 0.00, as perftest (which also does so above 20000 iterations)",
  },
  {
    long: "outs",
    short: "o",
    arg: "num",
    shown: readAtomic,
    perftest: "outstanding reads/atomics (default device max)",
    status: "works",
    here:
      "max_rd_atomic of the QPs; above the device's max_qp_rd_atom lowered with perftest's message",
  },
  {
    long: "dualport",
    short: "O",
    shown: bw,
    perftest: "dual-port mode",
    status: "works",
    here:
      "both ports of each HCA cabled, each with its LID; -q doubled, the second half of the QPs on port 2 (perftest's checks and port-2 messages)",
  },
  {
    long: "port",
    short: "p",
    arg: "port",
    shown: all,
    perftest: "TCP port of the exchange",
    status: "noop",
    here: "checked as a number; the rdma_cm port with -R/-z, else no TCP exchange in one process",
  },
  {
    long: "qp",
    short: "q",
    arg: "num of qp's",
    shown: bw,
    perftest: "number of QPs",
    status: "works",
    here: "as perftest (bw tests, 1 … 16384)",
  },
  {
    long: "cq-mod",
    short: "Q",
    arg: "n",
    shown: bw,
    perftest: "a CQE every n completions",
    status: "works",
    here: "1 … 1024 as perftest; perftest's large-message and post-list rules",
  },
  {
    long: "rx-depth",
    short: "r",
    arg: "dep",
    shown: send,
    perftest: "receive queue size (default 512)",
    status: "works",
    here: "receives kept posted; perftest's limits and its odd-depth workaround",
  },
  {
    long: "rdma_cm",
    short: "R",
    shown: all,
    perftest: "connect QPs with rdma_cm",
    status: "works",
    here:
      "the test's RC QPs connected by each domain's rdma_cm (ARP over IPoIB, SA PathRecord, REQ/REP/RTU); UC refused as perftest; UD refused (no SIDR)",
  },
  {
    long: "size",
    short: "s",
    arg: "size",
    shown: notAtomic,
    perftest: "message size",
    status: "works",
    here: "as perftest's strtol: decimal, 0x hex, 0 octal, K/M suffix, last -s wins",
  },
  {
    long: "sl",
    short: "S",
    arg: "sl",
    shown: all,
    perftest: "service level",
    status: "works",
    here: "the path's SL (LRH:SL of every packet)",
  },
  {
    long: "tx-depth",
    short: "t",
    arg: "dep",
    shown: bw,
    perftest: "size of tx queue",
    status: "works",
    here: "send queue depth; never above -n, as perftest",
  },
  {
    long: "tos",
    short: "T",
    arg: "tos value",
    shown: all,
    perftest: "TOS for rdma_cm QPs",
    status: "works",
    here:
      "with -R: the ids' TOS, sent as the PathRecord's QoS class (the SA has no QoS policy: SL 0); without -R perftest's 'TOS only valid for rdma_cm based QP and RawEth QP'",
  },
  {
    long: "qp-timeout",
    short: "u",
    arg: "timeout",
    shown: all,
    perftest: "QP timeout 4 µs × 2^timeout",
    status: "works",
    here: "the RC local ACK timeout of the QPs",
  },
  {
    long: "report-unsorted",
    short: "U",
    shown: lat,
    perftest: "print out unsorted results",
    status: "works",
    here: "every sample in order, as perftest",
  },
  {
    long: "version",
    short: "V",
    shown: all,
    perftest: "display version",
    status: "works",
    here: "'Version: 6.06' (perftest 4.5-0.17), exit 1 as perftest",
  },
  {
    long: "limit_bw",
    short: "w",
    arg: "value",
    shown: bw,
    perftest: "verifier limit for bandwidth",
    status: "works",
    here: "the run fails (exit 1) when BW average is below it, as perftest",
  },
  {
    long: "report-counters",
    short: "W",
    arg: "list",
    shown: all,
    perftest: "report performance counter changes",
    status: "works",
    here: "port and host counters by name (counters/port_xmit_packets, … xen/hypercalls, …)",
  },
  {
    long: "gid-index",
    short: "x",
    arg: "index",
    shown: all,
    perftest: "use GID index (a GRH on every packet)",
    status: "works",
    here: "a GRH on every packet, from the port's GID at that index; the GID lines printed",
  },
  {
    long: "limit_msgrate",
    short: "y",
    arg: "value",
    shown: bw,
    perftest: "verifier limit for message rate",
    status: "works",
    here: "the run fails when the message rate is below it",
  },
  {
    long: "comm_rdma_cm",
    helpLong: "com_rdma_cm",
    short: "z",
    shown: all,
    perftest: "exchange data with rdma_cm",
    status: "works",
    here:
      "each QP's address, PSN, R_Key and buffer go over an rdma_cm RC connection (a SEND each way), then the QPs connect as usual",
  },
  {
    long: "out_json",
    shown: all,
    perftest: "save the report in a json file",
    status: "works",
    here: "perftest's JSON-like report file (perftest_out.json where the task was run)",
  },
  {
    long: "out_json_file",
    arg: "file",
    shown: all,
    perftest: "name of the json file",
    status: "works",
    here: "relative to where the task was run",
  },
  {
    long: "cpu_util",
    shown: all,
    perftest: "show CPU utilization (duration mode)",
    status: "works",
    here:
      "share of the sampled virtual time the test's process was not asleep on a completion channel",
  },
  {
    long: "dlid",
    arg: "lid",
    shown: all,
    perftest: "destination LID instead of the peer's",
    status: "works",
    here: "used as the path's DLID; a wrong one makes the run fail as on a fabric",
  },
  {
    long: "dont_xchg_versions",
    shown: all,
    perftest: "do not exchange versions and MTU",
    status: "noop",
    here: "nothing is exchanged in one process",
  },
  {
    long: "force-link",
    arg: "IB|Ethernet",
    shown: all,
    perftest: "force the link type",
    status: "works",
    here: "IB; Ethernet is refused: the simulated links are InfiniBand",
  },
  {
    long: "use-srq",
    shown: send,
    perftest: "use a shared receive queue",
    status: "works",
    here: "receives through an SRQ of --rx-depth",
  },
  {
    long: "ipv6",
    shown: all,
    perftest: "use an IPv6 GID",
    status: "works",
    here: "no GID type on IB (as perftest); with --pcap-format rocev2 the capture uses IPv6",
  },
  {
    long: "source_ip",
    arg: "ip",
    shown: all,
    perftest: "source IP of the connection exchange",
    status: "noop",
    here:
      "checked as an IPv4 address as perftest 4.5 does (its getopt table routes it to the Raw Ethernet -j); no exchange",
  },
  {
    long: "latency_gap",
    arg: "usec",
    shown: lat,
    perftest: "delay between posts",
    status: "works",
    here: "µs of virtual time spun before each post",
  },
  {
    long: "mmap",
    arg: "file",
    shown: all,
    perftest: "use an mmap'd file as the buffer",
    status: "works",
    here:
      "the buffers start with the file's bytes (a copy in the domain's memory); perftest's 'allocated mmap buffer of size … at …' line",
  },
  {
    long: "mmap-offset",
    arg: "offset",
    shown: all,
    perftest: "offset in the mmap'd file",
    status: "works",
    here:
      "where in the file the buffers start; not a multiple of the 4 KiB page: perftest's mmap(2) failure (Invalid argument)",
  },
  {
    long: "mr_per_qp",
    shown: bw,
    perftest: "a memory region per QP",
    status: "works",
    here: "one MR per QP",
  },
  {
    long: "odp",
    shown: all,
    perftest: "on demand paging",
    status: "refused",
    here:
      "refused as perftest on an HCA without ODP capabilities: the model pins every registration",
  },
  {
    long: "output",
    arg: "units",
    shown: all,
    perftest: "print only bandwidth, message_rate or latency",
    status: "works",
    here: "as perftest: one number per size",
  },
  {
    long: "use_old_post_send",
    shown: all,
    perftest: "ibv_post_send instead of ibv_wr_*",
    status: "noop",
    here:
      "the provider has only ibv_post_send ('ibv_wr* API : OFF', as perftest on a non-mlx5 device)",
  },
  {
    long: "perform_warm_up",
    shown: all,
    perftest: "warm-up iterations (read, write, atomic bw)",
    status: "works",
    here: "a tx-depth of WRs before measuring",
  },
  {
    long: "pkey_index",
    arg: "index",
    shown: all,
    perftest: "P_Key index of the QPs",
    status: "works",
    here: "the QPs' pkey index; above the device's max_pkeys reset to 0 with perftest's message",
  },
  {
    long: "report-both",
    shown: bw,
    perftest: "report RX and TX separately (bidirectional)",
    status: "works",
    here: "both sides' rows, then the sum",
  },
  {
    long: "report_gbits",
    shown: bw,
    perftest: "bandwidth in Gbit/sec",
    status: "works",
    here: "Gb/sec (10^9 bit/s); below 0.1 with 6 decimals as perftest",
  },
  {
    long: "report-per-port",
    shown: bw,
    perftest: "per-port BW (dual-port + duration)",
    status: "works",
    here:
      "perftest's wide table: each port's BW and message rate from its QPs' completions while sampling (needs -O and -D, perftest's message otherwise)",
  },
  {
    long: "reversed",
    shown: bw,
    perftest: "server sends to client",
    status: "works",
    here: "the second endpoint streams to the first",
  },
  {
    long: "run_infinitely",
    shown: bw,
    perftest: "run forever, a row every -D seconds",
    status: "works",
    here: "a row every -D virtual seconds until interrupted (Ctrl-C)",
  },
  {
    long: "retry_count",
    arg: "value",
    shown: all,
    perftest: "retry count in rdma_cm mode",
    status: "noop",
    here: "checked (>= 0) and unused outside rdma_cm, as perftest",
  },
  {
    long: "tclass",
    arg: "value",
    shown: all,
    perftest: "traffic class in the GRH",
    status: "works",
    here: "the GRH traffic class asked of the QPs (with -x)",
  },
  {
    long: "use_hugepages",
    shown: all,
    perftest: "hugepage buffers",
    status: "noop",
    here: "the model's memory is 4 KiB frames; buffers are allocated as always",
  },
  {
    long: "wait_destroy",
    arg: "seconds",
    shown: bw,
    perftest: "wait before destroying resources",
    status: "works",
    here: "virtual seconds before teardown, with perftest's message",
  },
  {
    long: "disable_pcie_relaxed",
    shown: bw,
    perftest: "disable PCIe relaxed ordering",
    status: "works",
    here: "the 'PCIe relax order' row says OFF",
  },
  {
    long: "burst_size",
    arg: "size",
    shown: bw,
    perftest: "messages per burst of the rate limiter",
    status: "works",
    here: "as perftest's SW rate limiter",
  },
  {
    long: "typical_pkt_size",
    arg: "bytes",
    shown: bw,
    perftest: "packet size of the PP rate limiter",
    status: "perftest-refuses",
    here: "perftest: 'Typical packet size only supports PP rate limiter' (PP is Raw Ethernet only)",
  },
  {
    long: "rate_limit",
    arg: "rate",
    shown: bw,
    perftest: "maximum rate",
    status: "works",
    here:
      "SW rate limiter in virtual time; the HW limiter (static rate) is refused: the model does not enforce it",
  },
  {
    long: "rate_units",
    arg: "M|g|p",
    shown: bw,
    perftest: "units of the rate limit",
    status: "works",
    here: "as perftest",
  },
  {
    long: "rate_limit_type",
    arg: "HW|SW|PP",
    shown: bw,
    perftest: "which rate limiter",
    status: "works",
    here: "SW; HW refused (not modelled); PP refused as perftest (Raw Ethernet only)",
  },
];

/**
 * Options perftest's getopt table has besides the 86 (Raw Ethernet
 * programs only); recognised so the message can say so.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RAW_ETH_OPTIONS } from "./perftest_flags.ts";
 * assert.deepEqual(RAW_ETH_OPTIONS.some((o) => o.name === "source_mac"), true);
 * // getopt's optstring has no Y or G: --ethertype and --use_rss are long options only.
 * assert.equal(RAW_ETH_OPTIONS.find((o) => o.name === "use_rss")?.short, undefined);
 * ```
 */
export const RAW_ETH_OPTIONS: readonly { name: string; short?: string; hasArg: boolean }[] = [
  { name: "source_mac", short: "B", hasArg: true },
  { name: "dest_mac", short: "E", hasArg: true },
  { name: "dest_ip", short: "J", hasArg: true },
  { name: "dest_port", short: "K", hasArg: true },
  { name: "source_port", short: "k", hasArg: true },
  // No -Y and no -G: the table gives them those letters (and usage_raw_ethernet prints them), but
  // parser()'s getopt_long optstring ("w:y:p:…:W:aFegzRvhbNVCHUOZP", perftest_parameters.c, every
  // release) has neither, so glibc refuses `-Y`/`-G` as invalid options; only the long forms work.
  { name: "ethertype", hasArg: true },
  { name: "server", short: "Z", hasArg: false },
  { name: "client", short: "P", hasArg: false },
  { name: "mac_fwd", short: "v", hasArg: false },
  { name: "use_rss", hasArg: false },
  { name: "remote_mac", hasArg: true },
  { name: "local_mac", hasArg: true },
  { name: "remote_ip", hasArg: true },
  { name: "local_ip", hasArg: true },
  { name: "remote_port", hasArg: true },
  { name: "local_port", hasArg: true },
  { name: "tcp", hasArg: false },
  { name: "flow_label", hasArg: true },
  { name: "promiscuous", hasArg: false },
  { name: "raw_mcast", hasArg: false },
  { name: "flows", hasArg: true },
  { name: "flows_burst", hasArg: true },
  { name: "reply_every", hasArg: true },
  { name: "vlan_en", hasArg: false },
  { name: "vlan_pcp", hasArg: true },
  { name: "raw_ipv6", hasArg: false },
  { name: "sniffer", hasArg: false },
];

/**
 * Counts of the table by status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flagCounts } from "./perftest_flags.ts";
 * const c = flagCounts();
 * assert.deepEqual(c.works + c.noop + c["perftest-refuses"] + c.refused, 86);
 * ```
 */
export function flagCounts(): Record<FlagStatus, number> {
  const c: Record<FlagStatus, number> = {
    works: 0,
    noop: 0,
    "perftest-refuses": 0,
    refused: 0,
  };
  for (const f of PERFTEST_FLAGS) c[f.status]++;
  return c;
}

const STATUS_TEXT: Record<FlagStatus, string> = {
  works: "✅ perftest's meaning",
  noop: "✅ accepted, nothing to do",
  "perftest-refuses": "✅ as perftest: refused",
  refused: "❌ refused",
};

/**
 * The markdown table of docs/tools.md.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flagTableMarkdown } from "./perftest_flags.ts";
 * assert.equal(flagTableMarkdown().split("\n").length, 88); // head, rule, 86 rows
 * ```
 */
export function flagTableMarkdown(): string {
  const rows = PERFTEST_FLAGS.map((f) => {
    const name = `${f.short ? `\`-${f.short}\`, ` : ""}\`--${f.helpLong ?? f.long}${
      f.arg ? `=<${f.arg}>` : ""
    }\``;
    // A pipe in a cell is escaped (GFM tables), code spans included.
    const cell = (x: string) => x.replaceAll("|", "\\|");
    return `| ${cell(name)} | ${cell(f.perftest)} | ${STATUS_TEXT[f.status]} | ${cell(f.here)} |`;
  });
  return ["| flag | perftest 4.5 | here | what xenib does |", "| --- | --- | --- | --- |", ...rows]
    .join("\n");
}

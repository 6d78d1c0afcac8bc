/**
 * Cost-profile schema: every delay or capacity the model charges is a named
 * parameter with a unit. Built-in profiles are typed objects
 * ({@link Profile}); user profiles arrive as plain objects (from YAML, see
 * `tools/profile_yaml.ts`) and go through {@link buildProfile}, which
 * rejects unknown keys, wrong units and negative values with a message that
 * names the key.
 *
 * Values are stored in canonical units: nanoseconds, bytes per second,
 * bytes, plain counts. A user value may be a bare number (in the canonical
 * unit) or a string with a unit (`"0.25 us"`, `"1064 MB/s"`, `"2 KiB"`,
 * `"10 Gb/s"`).
 *
 * @module
 */

/**
 * What a parameter measures, which decides the units it accepts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseQuantity, type UnitKind } from "./schema.ts";
 * const time: UnitKind = "time";
 * assert.equal(parseQuantity("2 us", time, "x"), 2000); // the unit decides what "2 us" means
 * assert.throws(() => parseQuantity("2 us", "rate", "x"), /wrong unit 'us' for a rate parameter/);
 * ```
 */
export type UnitKind = "time" | "rate" | "size" | "count";

/**
 * One parameter's unit and meaning.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ParamSpec, PROFILE_SCHEMA } from "./schema.ts";
 * const spec: ParamSpec = PROFILE_SCHEMA.hca.maxQp;
 * assert.deepEqual([spec.unit, spec.integer, spec.positive], ["count", true, true]);
 * ```
 */
export interface ParamSpec {
  /** What it measures. */
  unit: UnitKind;
  /** One-line meaning (shown by tools and in errors). */
  doc: string;
  /** Must be a whole number. */
  integer?: boolean;
  /** Must be > 0 (not just >= 0). */
  positive?: boolean;
  /** Smallest non-zero value the model can run with (a rate counted in units, not bytes). */
  min?: number;
  /** Why {@link min} is the least (said in the error). */
  minWhy?: string;
  /** Largest value the model can represent (e.g. a table indexed by a 16-bit field). */
  max?: number;
  /** The only values allowed (e.g. the IBA MTUs). */
  oneOf?: readonly number[];
}

/**
 * Largest HCA object table (QPs, CQs, MRs, PDs, UARs, SRQs, AHs): 2^24, the IBA's 24-bit
 * object numbers (a QPN is BTH:DestQP's 24 bits; an L_Key/R_Key is a 24-bit index and an 8-bit
 * key). The model allocates each table at its size: a larger one cannot be built.
 */
const OBJECT_TABLE_MAX = 2 ** 24;

/** Largest time parameter, in ns (one minute of virtual time per operation). */
const MAX_TIME_NS = 60e9;
/** Smallest non-zero rate parameter, in B/s (1 KB/s: a 4 KiB page in about 4 s). */
const MIN_RATE_BYTES_PER_SEC = 1e3;

/**
 * IBA MTUs in bytes, indexed by their code minus one (IBTA vol 1 §7.7.8;
 * PortInfo NeighborMTU/MTUCap and the QP context use the codes 1..5,
 * `ibv_mtu` has the same values): what an MTU parameter may be. The one MTU
 * table of the model (the HCA's `link.ts` takes it from here).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBA_MTUS } from "./schema.ts";
 * assert.deepEqual(IBA_MTUS, [256, 512, 1024, 2048, 4096]);
 * ```
 */
export const IBA_MTUS: readonly number[] = Object.freeze([256, 512, 1024, 2048, 4096]);

/**
 * The parameter groups, by the component that charges them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PROFILE_SCHEMA } from "./schema.ts";
 * assert.equal(PROFILE_SCHEMA.xen.grantMapNs.unit, "time");
 * assert.match(PROFILE_SCHEMA.xen.grantMapNs.doc, /GNTTABOP_map_grant_ref/);
 * ```
 */
export const PROFILE_SCHEMA = {
  cpu: {
    wqeBuildNs: { unit: "time", doc: "user-level provider formats one WQE in host memory" },
    cqePollNs: { unit: "time", doc: "user-level provider reads and consumes one CQE" },
    emptyPollNs: { unit: "time", doc: "one poll of an empty CQ" },
    memcpyBytesPerSec: { unit: "rate", doc: "CPU memory copy bandwidth", positive: true },
    syscallNs: { unit: "time", doc: "kernel entry and exit (ioctl/write to the verbs device)" },
    kernelVerbsNs: { unit: "time", doc: "kernel verbs layer work per control operation" },
    interruptNs: { unit: "time", doc: "interrupt entry to handler on bare metal or in dom0" },
    wakeupNs: { unit: "time", doc: "wake a thread blocked in the kernel and switch to it" },
    handleLookupNs: {
      unit: "time",
      doc: "one lookup in the verbs library's handle translation table (Nomad, when on)",
    },
  },
  pci: {
    mmioWriteNs: { unit: "time", doc: "posted MMIO write (doorbell) until the device sees it" },
    dmaReadLatencyNs: { unit: "time", doc: "device DMA read request until the data arrives" },
    dmaWriteLatencyNs: {
      unit: "time",
      doc: "device DMA write until it is visible in host memory",
    },
    bytesPerSec: {
      unit: "rate",
      doc: "per-byte DMA rate per direction (data phases; the per-transaction cost is separate)",
      positive: true,
    },
    transactionNs: {
      unit: "time",
      doc:
        "bus time per DMA transaction on top of its bytes (address/attribute phases, turnaround)",
    },
  },
  hca: {
    commandNs: { unit: "time", doc: "firmware command (context write/transition, MPT/MTT write)" },
    commandPerMttNs: { unit: "time", doc: "extra command time per MTT entry written" },
    wqeProcessNs: { unit: "time", doc: "engine work to start one WQE after it is fetched" },
    txPacketNs: {
      unit: "time",
      doc: "send engine time per packet (header build, DMA request), one packet at a time per HCA",
    },
    packetProcessNs: {
      unit: "time",
      doc: "receive pipeline latency per packet before its DMA (header, QP context, PSN checks)",
    },
    rxPacketNs: {
      unit: "time",
      doc:
        "receive engine time per packet: packets overlap in the pipeline, one starts per rxPacketNs",
    },
    cqeWriteNs: { unit: "time", doc: "engine work to build a CQE (DMA time is separate)" },
    eqeNs: { unit: "time", doc: "engine work to write an EQE and raise the interrupt" },
    ackDelayNs: { unit: "time", doc: "responder delay before an ACK leaves (coalescing window)" },
    maxQp: {
      unit: "count",
      doc: "queue pairs",
      integer: true,
      positive: true,
      min: 3,
      minWhy: "QP0 and QP1 are the special QPs (SMI and GSI), reserved by the firmware",
      max: OBJECT_TABLE_MAX,
    },
    maxCq: {
      unit: "count",
      doc: "completion queues",
      integer: true,
      positive: true,
      max: OBJECT_TABLE_MAX,
    },
    maxMr: {
      unit: "count",
      doc: "memory regions (MPT entries)",
      integer: true,
      positive: true,
      min: 2,
      minWhy: "MPT entry 0 is reserved by the firmware",
      max: OBJECT_TABLE_MAX,
    },
    maxMtt: { unit: "count", doc: "MTT entries (translated pages)", integer: true, positive: true },
    maxPd: {
      unit: "count",
      doc: "protection domains",
      integer: true,
      positive: true,
      min: 2,
      minWhy: "PD 0 is the kernel driver's own",
      max: OBJECT_TABLE_MAX,
    },
    maxUar: {
      unit: "count",
      doc: "UAR pages",
      integer: true,
      positive: true,
      min: 2,
      minWhy: "UAR 0 is the kernel driver's own",
      max: OBJECT_TABLE_MAX,
    },
    maxSrq: {
      unit: "count",
      doc: "shared receive queues",
      integer: true,
      positive: true,
      max: OBJECT_TABLE_MAX,
    },
    maxAh: {
      unit: "count",
      doc: "address handles",
      integer: true,
      positive: true,
      max: OBJECT_TABLE_MAX,
    },
    maxQpWr: { unit: "count", doc: "work requests per queue", integer: true, positive: true },
    maxSge: {
      unit: "count",
      doc: "scatter/gather entries per WR",
      integer: true,
      positive: true,
      max: 0xffff, // QUERY_DEVICE's maxSge is a u16 on the frontend/backend ring
    },
    maxCqe: { unit: "count", doc: "entries per CQ", integer: true, positive: true },
    maxInline: {
      unit: "size",
      doc: "inline data per send WR",
      integer: true,
      max: 0xffff, // QUERY_DEVICE's maxInlineData is a u16 on the frontend/backend ring
    },
    maxRdAtomic: {
      unit: "count",
      doc: "outstanding RDMA READ/atomic per QP (a power of two)",
      integer: true,
      max: 0xff, // struct ibv_qp_attr's max_rd_atomic and max_dest_rd_atomic are uint8_t (verbs.h)
    },
    checkSourceLid: {
      unit: "count",
      doc:
        "1: an RC/UC QP drops packets whose source LID is not its path's remote LID (InfiniBand does not check it: 0)",
      integer: true,
    },
    randomKeyTags: {
      unit: "count",
      doc:
        "1: the driver draws each memory key's 8-bit tag at random (seeded); 0: it advances by one per reuse of the MPT entry",
      integer: true,
    },
    maxPkeys: {
      unit: "count",
      doc: "P_Key table entries per port (max_pkeys; a QP's pkey_index must be below it)",
      integer: true,
      positive: true,
      max: 65536, // pkey_index is 16 bits (struct ibv_qp_attr, IBTA PortInfo:PartitionCap)
    },
    maxMcastGrp: {
      unit: "count",
      doc:
        "multicast groups the device's MGM table holds (max_mcast_grp); half hash entries, half overflow (AMGM)",
      integer: true,
      positive: true,
      max: OBJECT_TABLE_MAX, // a table the model allocates at its size, as the others
    },
    maxMcastQpAttach: {
      unit: "count",
      doc: "QPs one multicast group entry holds (max_mcast_qp_attach)",
      integer: true,
      positive: true,
    },
    maxMtu: {
      unit: "size",
      doc:
        "largest MTU the HCA's ports support (PortInfo:MTUCap, ibv_devinfo's max_mtu; 256, 512, 1024, 2048 or 4096): the active MTU and a QP's path MTU stay at or below it",
      integer: true,
      positive: true,
      oneOf: IBA_MTUS,
    },
  },
  link: {
    width: { unit: "count", doc: "lanes (1, 4, 8, 12)", integer: true, positive: true },
    laneSignalBytesPerSec: {
      unit: "rate",
      doc: "signalling rate per lane, raw before encoding (write it as e.g. '2.5 Gb/s')",
      positive: true,
    },
    encodingEfficiency: {
      unit: "count",
      doc: "payload bits per signalled bit (8b/10b = 0.8, 64b/66b = 0.9697)",
      positive: true,
    },
    mtu: {
      unit: "size",
      doc: "active path MTU (256, 512, 1024, 2048 or 4096)",
      integer: true,
      positive: true,
      oneOf: IBA_MTUS,
    },
    propagationNs: { unit: "time", doc: "cable propagation, one way" },
    switchHopNs: { unit: "time", doc: "switch cut-through latency per hop" },
  },
  xen: {
    hypercallNs: { unit: "time", doc: "guest/dom0 hypercall entry and exit" },
    upcallNs: { unit: "time", doc: "event delivered: virtual interrupt into a domain's handler" },
    domainSwitchNs: { unit: "time", doc: "scheduling another domain's vCPU on the pCPU" },
    grantMapNs: { unit: "time", doc: "hypervisor work per grant mapped (GNTTABOP_map_grant_ref)" },
    grantUnmapNs: { unit: "time", doc: "hypervisor work per grant unmapped" },
    grantEntryNs: { unit: "time", doc: "guest writes one grant table entry" },
    ringMarshalNs: {
      unit: "time",
      doc: "frontend or backend builds/parses one ring request or response",
    },
    backendOpNs: { unit: "time", doc: "backend bookkeeping per request (lookup, validation)" },
  },
  // Dom0's share of the host: the VCPUs its backends, interrupt handler and event forwarding run
  // on, and the capacity it keeps back from guests so that dom0 and a newly booted guest always
  // get what they need (DESIGN §9 invariants 9 and 10).
  dom0: {
    vcpus: {
      unit: "count",
      doc: "dom0's virtual CPUs (backends, IRQ handler)",
      integer: true,
      positive: true,
    },
    sliceNs: {
      unit: "time",
      doc: "longest stretch of one dom0 thread's work before another runnable one gets the VCPU",
      positive: true,
    },
    reserveUars: {
      unit: "count",
      doc: "UARs no guest may take (dom0, new guests' first context)",
      integer: true,
    },
    reservePds: { unit: "count", doc: "PDs no guest may take", integer: true },
    reserveMrs: {
      unit: "count",
      doc: "MPT entries (memory regions) no guest may take",
      integer: true,
    },
    reserveMtts: { unit: "count", doc: "MTT entries no guest may take", integer: true },
    reserveCqs: { unit: "count", doc: "CQs no guest may take", integer: true },
    reserveQps: { unit: "count", doc: "QPs no guest may take", integer: true },
    reserveSrqs: { unit: "count", doc: "SRQs no guest may take", integer: true },
    reserveAhs: { unit: "count", doc: "address handles no guest may take", integer: true },
    reserveGrantMaps: {
      unit: "count",
      doc: "entries of dom0's grant-map table (maptrack) kept for rings of new guests",
      integer: true,
    },
    reserveHeapBytes: {
      unit: "size",
      doc: "dom0 backend heap (split shadow queues) no guest may take",
      integer: true,
    },
  },
  // Per-guest limits dom0's backend enforces on what one frontend may hold at once (the
  // defaults; `createGuest({ quota })` overrides them per guest). A request beyond one is
  // refused: object counts with EAGAIN (as the rdma cgroup's rdmacg_try_charge), pages and
  // memory with ENOMEM (as ib_umem_get against RLIMIT_MEMLOCK).
  quota: {
    contexts: { unit: "count", doc: "open device contexts (each holds a UAR)", integer: true },
    pds: { unit: "count", doc: "protection domains", integer: true },
    mrs: { unit: "count", doc: "memory regions", integer: true },
    mrPages: {
      unit: "count",
      doc: "pages of registered memory regions (MTT entries)",
      integer: true,
    },
    grantMaps: {
      unit: "count",
      doc: "grant mappings dom0 holds of the guest's pages, cached ones included",
      integer: true,
    },
    persistentGrants: {
      unit: "count",
      doc: "grant mappings dom0 keeps cached after deregistration (persistent grants)",
      integer: true,
    },
    cqs: { unit: "count", doc: "completion queues", integer: true },
    cqes: { unit: "count", doc: "CQ entries over all CQs", integer: true },
    qps: { unit: "count", doc: "queue pairs", integer: true },
    wqes: { unit: "count", doc: "work queue entries over all QPs and SRQs", integer: true },
    srqs: { unit: "count", doc: "shared receive queues", integer: true },
    ahs: { unit: "count", doc: "address handles", integer: true },
    mcastAttachments: {
      unit: "count",
      doc: "QP-to-multicast-group attachments (ibv_attach_mcast) over all the guest's QPs",
      integer: true,
    },
    mcastGroupQps: {
      unit: "count",
      doc: "the guest's QPs attached to any one multicast group (of its MGM entry's " +
        "max_mcast_qp_attach slots, which every domain on the host shares)",
      integer: true,
    },
    events: {
      unit: "count",
      doc: "events dom0 queues for the guest's event ring (beyond: dropped, counted lost)",
      integer: true,
      positive: true,
    },
    shadowBytes: {
      unit: "size",
      doc: "dom0 heap for the guest's split-mode shadow queues",
      integer: true,
    },
  },
  // The MPI library (mpi/): MVAPICH's protocol parameters, named in docs/mpi.md by their
  // MV2_* environment variables, plus the library's own software costs and the computation
  // rate that comm.compute() charges.
  mpi: {
    eagerThreshold: {
      unit: "size",
      doc: "largest message (header + data) sent eagerly (MV2_IBA_EAGER_THRESHOLD)",
      integer: true,
      positive: true,
    },
    vbufTotalSize: {
      unit: "size",
      doc: "size of one pre-registered send/receive buffer, vbuf (MV2_VBUF_TOTAL_SIZE)",
      integer: true,
      positive: true,
    },
    rdmaFastPath: {
      unit: "count",
      doc: "1: RDMA-write eager fast path with receiver polling (MV2_USE_RDMA_FAST_PATH)",
      integer: true,
    },
    fastPathBufSize: {
      unit: "size",
      doc: "one slot of a per-peer fast-path ring (MV2_RDMA_FAST_PATH_BUF_SIZE)",
      integer: true,
      positive: true,
    },
    numRdmaBuffer: {
      unit: "count",
      doc: "slots per fast-path ring; doubled for 2-process jobs (MV2_NUM_RDMA_BUFFER)",
      integer: true,
      positive: true,
    },
    rdmaEagerLimit: {
      unit: "count",
      doc: "eager messages from a peer before its fast path is set up (MV2_RDMA_EAGER_LIMIT)",
      integer: true,
    },
    pollingSetLimit: {
      unit: "count",
      doc: "peers whose fast-path rings a process polls (MV2_POLLING_SET_LIMIT)",
      integer: true,
    },
    rndvRdmaRead: {
      unit: "count",
      doc: "rendezvous data by RDMA READ, RGET (1) or RDMA WRITE, RPUT (0) (MV2_RNDV_PROTOCOL)",
      integer: true,
    },
    prepostDepth: {
      unit: "count",
      doc: "receive vbufs posted per connection = send credits (MV2_PREPOST_DEPTH)",
      integer: true,
      positive: true,
    },
    noopExtra: {
      unit: "count",
      doc:
        "extra receive vbufs per connection for explicit credit updates (rdma_prepost_noop_extra)",
      integer: true,
      positive: true,
    },
    creditNotifyThreshold: {
      unit: "count",
      doc: "credits owed before an explicit credit update is sent (MV2_CREDIT_NOTIFY_THRESHOLD)",
      integer: true,
      positive: true,
    },
    maxSendWqe: {
      unit: "count",
      doc: "send work requests outstanding per connection (MV2_DEFAULT_MAX_SEND_WQE)",
      integer: true,
      positive: true,
    },
    maxInline: {
      unit: "size",
      doc: "largest packet posted inline (MV2_MAX_INLINE_SIZE)",
      integer: true,
    },
    regCache: {
      unit: "count",
      doc: "1: keep registrations in a pin-down cache (MV2_USE_LAZY_MEM_UNREGISTER)",
      integer: true,
    },
    dregEntries: {
      unit: "count",
      doc: "registrations the pin-down cache keeps (MV2_NDREG_ENTRIES)",
      integer: true,
      positive: true,
    },
    dregCacheLimit: {
      unit: "size",
      doc: "bytes the pin-down cache keeps registered, 0 = no limit (MV2_DREG_CACHE_LIMIT)",
      integer: true,
    },
    sendOverheadNs: {
      unit: "time",
      doc: "library work to start one message (request, header, protocol choice)",
    },
    recvOverheadNs: {
      unit: "time",
      doc: "library work per arriving packet (header decode, matching)",
    },
    pmiLatencyNs: {
      unit: "time",
      doc: "one message on the management network (PMI key-value exchange at MPI_Init)",
    },
    pmiBytesPerSec: {
      unit: "rate",
      doc: "management network bandwidth (PMI key-value exchange)",
      positive: true,
    },
    computeFlopsPerSec: {
      unit: "count",
      doc: "floating-point operations per second that comm.compute() charges (one core)",
      positive: true,
      min: 1e3, // as the byte rates' 1 KB/s: slower, one compute() outlasts what a run can hold
    },
    computeBytesPerSec: {
      unit: "rate",
      doc: "memory traffic per second that comm.compute() charges (one core, STREAM-like)",
      positive: true,
    },
  },
  // Xen live migration between hosts (platform/migration.ts) and the Nomad handshake over the
  // management network (drivers/verbs/nomad_net.ts).
  migration: {
    netBytesPerSec: {
      unit: "rate",
      doc: "management network payload rate the migration stream gets (TCP between the dom0s)",
      positive: true,
    },
    netLatencyNs: {
      unit: "time",
      doc: "one-way latency of a message on the management network (stream, Nomad handshake)",
    },
    pageSaveNs: {
      unit: "time",
      doc: "source dom0 CPU per page sent (map the guest's page, copy it to the socket)",
    },
    pageRestoreNs: {
      unit: "time",
      doc: "destination dom0 CPU per page received (populate the frame, copy the page in)",
    },
    suspendNs: {
      unit: "time",
      doc: "guest suspend: control/shutdown watch, the kernel's suspend path, SCHEDOP_shutdown",
    },
    resumeNs: {
      unit: "time",
      doc: "restore the vCPU state, rebuild the P2M and unpause the domain on the destination",
    },
    xenbusReconnectNs: {
      unit: "time",
      doc: "one device's xenbus re-handshake on resume (xenstore reads, writes, watch firings)",
    },
    vcpuStateBytes: {
      unit: "size",
      doc: "vCPU context and shared-info page sent after the last round of pages",
      integer: true,
    },
  },
  // The connection manager in each domain's kernel (drivers/verbs/rdma_cm.ts, cm_agent.ts) and
  // the subnet administrator that answers its PathRecord queries.
  cm: {
    madProcessNs: {
      unit: "time",
      doc: "kernel CM and MAD layer per CM message received (parse, state machine, next step)",
    },
    saProcessNs: {
      unit: "time",
      doc: "subnet administrator: answer one PathRecord query (OpenSM's SA on the SM's node)",
    },
    arpProcessNs: {
      unit: "time",
      doc: "IPoIB: handle one ARP packet (neighbour table lookup or update, reply)",
    },
  },
  noise: {
    dmaJitterNs: {
      unit: "time",
      doc: "mean extra latency of one DMA transaction (exponential; with noise on)",
    },
    osTickPeriodNs: { unit: "time", doc: "timer interrupt period of every kernel (0 = none)" },
    osTickNs: { unit: "time", doc: "CPU time one timer interrupt takes from the program" },
    osDetourIntervalNs: {
      unit: "time",
      doc: "mean interval between random detours: daemons, softirqs (Poisson; 0 = none)",
    },
    osDetourNs: { unit: "time", doc: "mean length of a random detour (exponential)" },
  },
} as const satisfies Record<string, Record<string, ParamSpec>>;

/**
 * What a calibration target measures, and in which unit. The calibration
 * test (`tests/calibration_test.ts`) knows how to measure each through the
 * public API; `method` in a target says it in words.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CALIBRATION_METRICS } from "./schema.ts";
 * assert.equal(CALIBRATION_METRICS["rdma-write-lat"], "us");
 * assert.equal(CALIBRATION_METRICS["rdma-write-bw"], "MB/s"); // 10^6 bytes per second
 * ```
 */
export const CALIBRATION_METRICS = {
  /** 2-byte RDMA WRITE ping-pong, memory polled: half round trip. */
  "rdma-write-lat": "us",
  /** 2-byte SEND/RECV ping-pong, CQ polled: half round trip. */
  "send-lat": "us",
  /** 1 MiB RDMA WRITE stream: bytes per second (10^6). */
  "rdma-write-bw": "MB/s",
  /** 2-byte RDMA WRITE stream on one QP: messages per second (10^6). */
  "rdma-write-rate": "Mmsg/s",
  /** ibv_reg_mr of one 4 KiB page. */
  "reg-mr-1-page": "us",
  /** ibv_reg_mr of 1024 pages (4 MiB). */
  "reg-mr-1024-pages": "us",
} as const;

/**
 * A name of {@link CALIBRATION_METRICS}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CALIBRATION_METRICS, type CalibrationMetric } from "./schema.ts";
 * const m: CalibrationMetric = "send-lat";
 * assert.equal(CALIBRATION_METRICS[m], "us");
 * ```
 */
export type CalibrationMetric = keyof typeof CALIBRATION_METRICS;

/**
 * One published figure the native path is calibrated to: where the model's
 * measurement (noise off) must land, and where the figure comes from. A
 * `source` that starts with "estimate:" says that no published figure was
 * found and how the number was derived.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PCIX_SDR_2006 } from "./pcix_sdr_2006.ts";
 * const t = PCIX_SDR_2006.calibration.find((c) => c.metric === "rdma-write-bw")!;
 * assert.ok(t.band[0] <= t.target && t.target <= t.band[1]);
 * assert.equal(t.unit, "MB/s");
 * ```
 */
export interface CalibrationTarget {
  /** What is measured. */
  metric: CalibrationMetric;
  /** How, in words: benchmark, size, polling, what is averaged, the unit's convention. */
  method: string;
  /** The published (or estimated) figure. */
  target: number;
  /** The tolerance band [low, high] the model must land in. */
  band: readonly [number, number];
  /** Unit of target and band (the metric's). */
  unit: string;
  /** Title, venue, year and the figure/table, or "estimate: …". */
  source: string;
}

/**
 * A complete cost profile, values in canonical units (ns, bytes/s, bytes, counts).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linkBytesPerSec, type Profile } from "./schema.ts";
 * import { PCIX_SDR_2006 } from "./pcix_sdr_2006.ts";
 * const ddr: Profile = {
 *   ...PCIX_SDR_2006,
 *   name: "pcix-ddr",
 *   link: { ...PCIX_SDR_2006.link, laneSignalBytesPerSec: 5e9 / 8 },
 * };
 * assert.equal(linkBytesPerSec(ddr), 2 * linkBytesPerSec(PCIX_SDR_2006));
 * ```
 */
export type Profile =
  & { name: string; description: string }
  & {
    [G in keyof typeof PROFILE_SCHEMA]: { [P in keyof (typeof PROFILE_SCHEMA)[G]]: number };
  }
  & {
    /** Published figures of the native path with tolerance bands (checked by tests). */
    calibration: readonly CalibrationTarget[];
  };

/**
 * Error from {@link buildProfile} or {@link parseQuantity}; `path` names the key.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildProfile, ProfileError } from "./schema.ts";
 * import { PCIX_SDR_2006 } from "./pcix_sdr_2006.ts";
 * assert.throws(
 *   () => buildProfile({ pci: { mmioWriteNs: "5 MB/s" } }, PCIX_SDR_2006),
 *   (e) => e instanceof ProfileError && e.path === "pci.mmioWriteNs",
 * );
 * ```
 */
export class ProfileError extends Error {
  /**
   * A profile error at `path` (the dotted key).
   *
   * @param path dotted key path, e.g. `pci.mmioWriteNs`
   * @param message what is wrong
   */
  constructor(readonly path: string, message: string) {
    super(path ? `profile key '${path}': ${message}` : `profile: ${message}`);
    this.name = "ProfileError";
  }
}

const UNITS: Record<UnitKind, Record<string, number>> = {
  time: { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9 },
  rate: {
    "B/s": 1,
    "KB/s": 1e3,
    "MB/s": 1e6,
    "GB/s": 1e9,
    "KiB/s": 1024,
    "MiB/s": 1048576,
    "GiB/s": 1073741824,
    "b/s": 1 / 8,
    "Kb/s": 1e3 / 8,
    "Mb/s": 1e6 / 8,
    "Gb/s": 1e9 / 8,
  },
  size: { B: 1, bytes: 1, KiB: 1024, MiB: 1048576, KB: 1e3, MB: 1e6 },
  count: {},
};

const CANONICAL: Record<UnitKind, string> = { time: "ns", rate: "B/s", size: "B", count: "" };

/**
 * Parse a number or a `"<number> <unit>"` string into the canonical unit of
 * `kind`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseQuantity } from "./schema.ts";
 * assert.equal(parseQuantity("1.5 us", "time", "x"), 1500);
 * assert.equal(parseQuantity("10 Gb/s", "rate", "x"), 1.25e9);
 * assert.equal(parseQuantity(7, "count", "x"), 7); // a bare number is already canonical
 * assert.throws(() => parseQuantity("1e300 s", "time", "pci.mmioWriteNs"), {
 *   message: "profile key 'pci.mmioWriteNs': not a finite number: '1e300 s'",
 * });
 * ```
 */
export function parseQuantity(value: unknown, kind: UnitKind, path: string): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new ProfileError(path, `not a finite number: ${value}`);
    return value;
  }
  if (typeof value !== "string") {
    // YAML's `~` or an empty value is null, `[1]` a list: say so, not "object".
    const got = value === null
      ? "null (no value)"
      : Array.isArray(value)
      ? "a list"
      : typeof value === "object"
      ? "a mapping"
      : typeof value;
    throw new ProfileError(path, `expected a number or "<number> <unit>", got ${got}`);
  }
  const m = /^\s*(-?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµ/]*)\s*$/.exec(value);
  if (!m) throw new ProfileError(path, `cannot read '${value}' as "<number> <unit>"`);
  const n = Number(m[1]);
  const unit = m[2];
  // Own keys only: "1 constructor" names Object.prototype's member, no unit (it gave NaN).
  const scale = unit === "" ? 1 : Object.hasOwn(UNITS[kind], unit) ? UNITS[kind][unit] : undefined;
  if (scale === undefined) {
    const allowed = Object.keys(UNITS[kind]);
    const hint = allowed.length
      ? `use one of ${allowed.join(", ")}`
      : "this parameter is a plain number";
    throw new ProfileError(
      path,
      `wrong unit '${unit}' for a ${kind} parameter (canonical ${
        CANONICAL[kind] || "count"
      }): ${hint}`,
    );
  }
  // "1e400" or "1e300 s" overflow a double: refused here, where the key is known.
  const v = n * scale;
  if (!Number.isFinite(v)) throw new ProfileError(path, `not a finite number: '${value}'`);
  return v;
}

/**
 * Build a full profile from a plain object: start from `base` (all fields),
 * override what `input` names. Rejects unknown groups and keys, wrong units,
 * negative values, non-integers where counts are whole.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildProfile } from "./schema.ts";
 * import { PCIX_SDR_2006 } from "./pcix_sdr_2006.ts";
 * const p = buildProfile({ name: "slow-bus", pci: { bytesPerSec: "500 MB/s" } }, PCIX_SDR_2006);
 * assert.equal(p.pci.bytesPerSec, 500e6);
 * assert.equal(p.pci.mmioWriteNs, PCIX_SDR_2006.pci.mmioWriteNs); // the rest from the base
 * assert.throws(() => buildProfile({ pci: { bytesPerSec: -1 } }, PCIX_SDR_2006), /negative/);
 * ```
 */
export function buildProfile(input: unknown, base: Profile): Profile {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new ProfileError("", "a profile must be a mapping of groups");
  }
  const out = structuredClone(base) as Profile;
  // A profile that changes its base's costs without naming itself is not its base: every tool's
  // header says which profile a figure comes from, and the base's name there claimed stock
  // figures for changed ones. It is named after its base, marked changed, unless it names itself.
  const changes = Object.keys(input).some((g) =>
    g !== "name" && g !== "description" && g !== "base"
  );
  if (changes && !Object.hasOwn(input, "name")) out.name = `${base.name} (modified)`;
  const groups = PROFILE_SCHEMA as Record<string, Record<string, ParamSpec>>;
  for (const [g, body] of Object.entries(input as Record<string, unknown>)) {
    if (g === "name" || g === "description") {
      if (typeof body !== "string") throw new ProfileError(g, "must be a string");
      // The name heads every tool's output ("profile <name>"): one line. (A description may be
      // a folded block, ending in a line break.)
      // deno-lint-ignore no-control-regex
      const c = g === "name" ? /[\u0000-\u001f\u007f]/.exec(body) : null;
      // An empty name printed "profile ," where the name belongs.
      if (g === "name" && body.trim() === "") throw new ProfileError(g, "must not be empty");
      if (c) {
        throw new ProfileError(
          g,
          `must be one line (it holds ${JSON.stringify(c[0])}, a control character)`,
        );
      }
      (out as Record<string, unknown>)[g] = body;
      continue;
    }
    if (g === "base") continue; // resolved by the caller
    if (g === "calibration") {
      out.calibration = parseCalibration(body);
      continue;
    }
    // Own keys only: a group or key named 'constructor', 'toString' or 'hasOwnProperty' found
    // Object.prototype's member, and was taken (silently, or with "known: " listing nothing).
    const spec = Object.hasOwn(groups, g) ? groups[g] : undefined;
    if (!spec) {
      throw new ProfileError(
        g,
        `unknown group (known: name, description, base, calibration, ${
          Object.keys(groups).join(", ")
        })`,
      );
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new ProfileError(g, "must be a mapping of parameters");
    }
    const target = (out as unknown as Record<string, Record<string, number>>)[g];
    for (const [k, raw] of Object.entries(body as Record<string, unknown>)) {
      const path = `${g}.${k}`;
      const ps = Object.hasOwn(spec, k) ? spec[k] : undefined;
      if (!ps) throw new ProfileError(path, `unknown key (known: ${Object.keys(spec).join(", ")})`);
      const v = parseQuantity(raw, ps.unit, path);
      if (v < 0) throw new ProfileError(path, `must not be negative (got ${raw})`);
      if (ps.positive && v === 0) throw new ProfileError(path, "must be greater than zero");
      if (ps.integer && !Number.isInteger(v)) {
        throw new ProfileError(path, `must be a whole number (got ${raw})`);
      }
      if (ps.min !== undefined && v > 0 && v < ps.min) {
        const why = ps.minWhy === undefined ? "" : `: ${ps.minWhy}`;
        throw new ProfileError(path, `must be at least ${ps.min} (got ${raw})${why}`);
      }
      if (ps.max !== undefined && v > ps.max) {
        throw new ProfileError(path, `must be at most ${ps.max} (got ${raw})`);
      }
      // The model charges these per operation in virtual ns; past a minute per operation (or a
      // rate that makes a page take longer) a run's noise and event horizons no longer fit memory.
      if (ps.unit === "time" && v > MAX_TIME_NS) {
        throw new ProfileError(path, `must be at most 60 s of virtual time (got ${raw})`);
      }
      if (ps.unit === "rate" && v > 0 && v < MIN_RATE_BYTES_PER_SEC) {
        throw new ProfileError(path, `must be at least 1 KB/s (got ${raw})`);
      }
      if (ps.oneOf && !ps.oneOf.includes(v)) {
        throw new ProfileError(path, `must be one of ${ps.oneOf.join(", ")} (got ${raw})`);
      }
      target[k] = v;
    }
  }
  // struct ibv_device_attr's max_res_rd_atom and max_total_mcast_qp_attach are ints (verbs.h):
  // the products the device reports for them must fit one.
  const hca = out.hca;
  if (hca.maxMcastGrp * hca.maxMcastQpAttach > INT_MAX) {
    throw new ProfileError(
      "hca.maxMcastQpAttach",
      `maxMcastGrp × maxMcastQpAttach (${hca.maxMcastGrp} × ${hca.maxMcastQpAttach}) must fit ` +
        `max_total_mcast_qp_attach, an int (at most ${INT_MAX})`,
    );
  }
  // QUERY_DEV_LIM gives the depths as log2 (mthca_QUERY_DEV_LIM: max_requester_per_qp =
  // 1 << field; max_qp_rd_atom is 1 << rdb_shift), and a QP context holds a depth as its log2
  // (__mthca_modify_qp: fls(depth - 1)): the device's limit is a power of two.
  if (!Number.isInteger(Math.log2(hca.maxRdAtomic))) {
    throw new ProfileError(
      "hca.maxRdAtomic",
      `must be a power of two (got ${hca.maxRdAtomic}): the device holds RDMA READ/atomic ` +
        `depths as log2, as mthca's QUERY_DEV_LIM and QP context do`,
    );
  }
  if (hca.maxQp * hca.maxRdAtomic > INT_MAX) {
    throw new ProfileError(
      "hca.maxRdAtomic",
      `maxQp × maxRdAtomic (${hca.maxQp} × ${hca.maxRdAtomic}) must fit max_res_rd_atom, an int ` +
        `(at most ${INT_MAX})`,
    );
  }
  return out;
}

/** Largest C `int`. */
const INT_MAX = 2 ** 31 - 1;

/** Check a user's `calibration` list (each entry as {@link CalibrationTarget}). */
function parseCalibration(body: unknown): CalibrationTarget[] {
  if (!Array.isArray(body)) throw new ProfileError("calibration", "must be a list of targets");
  return body.map((raw, i) => {
    const path = `calibration[${i}]`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new ProfileError(path, "must be a mapping");
    }
    const e = raw as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (!["metric", "method", "target", "band", "unit", "source"].includes(k)) {
        throw new ProfileError(
          `${path}.${k}`,
          "unknown key (known: metric, method, target, band, unit, source)",
        );
      }
    }
    const metric = e.metric;
    if (typeof metric !== "string" || !Object.hasOwn(CALIBRATION_METRICS, metric)) {
      throw new ProfileError(
        `${path}.metric`,
        `unknown metric ${JSON.stringify(metric)} (known: ${
          Object.keys(CALIBRATION_METRICS).join(", ")
        })`,
      );
    }
    const unit = CALIBRATION_METRICS[metric as CalibrationMetric];
    if (e.unit !== undefined && e.unit !== unit) {
      throw new ProfileError(`${path}.unit`, `${metric} is measured in ${unit}, not ${e.unit}`);
    }
    for (const k of ["method", "source"]) {
      if (typeof e[k] !== "string" || (e[k] as string).trim() === "") {
        throw new ProfileError(`${path}.${k}`, "must be a non-empty string");
      }
    }
    const band = e.band;
    const num = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v >= 0;
    if (!Array.isArray(band) || band.length !== 2 || !num(band[0]) || !num(band[1])) {
      throw new ProfileError(`${path}.band`, "must be [low, high], two non-negative numbers");
    }
    if (!num(e.target) || band[0] > (e.target as number) || (e.target as number) > band[1]) {
      throw new ProfileError(
        `${path}.target`,
        `must be a number inside the band [${band[0]}, ${band[1]}]`,
      );
    }
    return {
      metric: metric as CalibrationMetric,
      method: e.method as string,
      target: e.target as number,
      band: [band[0], band[1]] as const,
      unit,
      source: e.source as string,
    };
  });
}

/**
 * Payload bandwidth of a link in bytes/s (lanes × rate × encoding).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linkBytesPerSec } from "./schema.ts";
 * import { PCIX_SDR_2006 } from "./pcix_sdr_2006.ts";
 * assert.equal(linkBytesPerSec(PCIX_SDR_2006), 1e9); // 4 lanes × 2.5 Gb/s × 8b/10b
 * ```
 */
export function linkBytesPerSec(p: Profile): number {
  return p.link.width * p.link.laneSignalBytesPerSec * p.link.encodingEfficiency;
}

/**
 * `pcix-sdr-2006`: the paper's class of testbed — Xeon 3 GHz hosts, Mellanox
 * MT23108 (InfiniHost) HCAs on 64-bit/133 MHz PCI-X, 4x SDR (10 Gb/s) links
 * through an InfiniScale III switch, Xen 3.0.
 *
 * Only the native path is calibrated: `calibration` lists each published
 * figure with its source and tolerance band (RDMA WRITE and SEND/RECV
 * latency, PCI-X-bound bandwidth, registration), and
 * `tests/calibration_test.ts` measures each. The Xen numbers are costs of single primitives
 * (a hypercall, an upcall, a grant map); what a virtualized flow costs is
 * the sum of the crossings it makes, never a per-mode factor.
 *
 * @module
 */
import type { Profile } from "./schema.ts";
import { deepFreeze } from "./freeze.ts";

/**
 * The 2006 PCI-X / SDR profile.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PCIX_SDR_2006 } from "./pcix_sdr_2006.ts";
 * assert.equal(PCIX_SDR_2006.link.mtu, 2048);
 * ```
 */
export const PCIX_SDR_2006: Profile = deepFreeze({
  name: "pcix-sdr-2006",
  description: "MT23108 HCA, 64-bit/133 MHz PCI-X, 4x SDR InfiniBand, Xeon 3 GHz, Xen 3.0",
  cpu: {
    // mthca userspace post_send on a 3 GHz Xeon: a few hundred instructions (libmthca source, Liu et al. 2006 §5).
    wqeBuildNs: 150,
    // mthca poll_cq per CQE incl. the uncached read of the CQE owner bit.
    cqePollNs: 100,
    // Empty-CQ poll: one cached miss on the next CQE's owner bit.
    emptyPollNs: 40,
    // memcpy on a 2006 Xeon with DDR2-400 (STREAM copy ~ 2 GB/s).
    memcpyBytesPerSec: 2e9,
    // Linux 2.6 syscall round trip on a 3 GHz Pentium 4 Xeon (lmbench null syscall ~ 0.3 µs).
    syscallNs: 300,
    // uverbs ioctl path: copy-in, idr lookup, object allocation (Linux 2.6.16 ib_uverbs).
    kernelVerbsNs: 2_000,
    // Interrupt entry to driver handler on a P4 Xeon (APIC, irq_enter, handler dispatch).
    interruptNs: 1_500,
    // try_to_wake_up + context switch on Linux 2.6 / P4 (lmbench ctx switch ~ 3 µs).
    wakeupNs: 3_000,
    // estimate: one probe of a small hash table that hits L1/L2 on a 3 GHz Xeon (~30 cycles);
    // charged only when the Nomad translation layer is on (Huang et al., VEE 2007).
    handleLookupNs: 10,
  },
  pci: {
    // Posted PCI-X write through the host bridge (ServerWorks GC-LE class chipset).
    mmioWriteNs: 250,
    // PCI-X 133 MHz read round trip through the bridge to DDR2 (~0.9 µs measured for MT23108 WQE fetch).
    dmaReadLatencyNs: 900,
    // Posted write from device to memory controller.
    dmaWriteLatencyNs: 300,
    // 64-bit × 133 MHz = 1064 MB/s of data phases (PCI-X 1.0); the HCA's DMA moved less
    // (split-read latency, bridge). Calibrated: with transactionNs below, a 1 MiB RDMA WRITE
    // at 2 KiB MTU lands mid-band of the measured PCI-X-bound peak (780–880 MB/s, see calibration).
    bytesPerSec: 850e6,
    // Estimate: 8 PCI-X clocks at 133 MHz per DMA transaction — address and attribute phases,
    // target response and turnaround of the split request and of its split completion (PCI-X 1.0
    // protocol phases); no measured figure for the MT23108.
    transactionNs: 60,
  },
  hca: {
    // MT23108 firmware command (SW2HW_MPT/CQ, RST2INIT_QPE…): tens of µs (mthca_cmd.c timeouts, measured ~ 20 µs).
    commandNs: 20_000,
    // WRITE_MTT: each entry is 8 bytes of mailbox DMA plus firmware work.
    commandPerMttNs: 60,
    // InfiniHost ran its transport in InfiniRISC firmware, not fixed logic:
    // µs-scale send and receive steps. wqeProcessNs and packetProcessNs are the
    // calibration knobs of the native path's latency: with them the 2-byte RDMA
    // WRITE half round trip lands in its band (calibration below). Per WQE, once.
    wqeProcessNs: 1_150,
    // Estimate: send engine time per packet (header, DMA request). No per-packet figure is
    // published for the MT23108; 250 ns keeps one port's 4x SDR wire rate at the smallest
    // MTU (a 256-byte packet takes 282 ns on the wire), the "full wire speed" design point.
    txPacketNs: 250,
    // Receive pipeline latency per packet (firmware: header check, QP lookup, PSN check),
    // a latency calibration knob; packets overlap in it (rxPacketNs is the occupancy).
    packetProcessNs: 1_150,
    // Estimate: receive engine time per packet, as txPacketNs (packet-rate limit, not latency).
    rxPacketNs: 250,
    // CQE build before its DMA write: CQ context and MTT lookup in the HCA's attached memory,
    // InfiniRISC firmware. The calibration knob of SEND/RECV latency (the completion is on
    // its path, not on RDMA WRITE's memory-polled one): lands 2-byte SEND/RECV in its band.
    cqeWriteNs: 900,
    // EQE build and MSI-X/INTx assertion.
    eqeNs: 200,
    // ACK coalescing window of the responder.
    ackDelayNs: 0,
    // Limits: the device's tables, sized so that ibv_query_device reports what ibv_devinfo -v
    // reports for MT23108 (firmware 3.x), field named per line. mthca_query_device reports a
    // table less its reserved entries (max_qp = num_qps - reserved_qps, max_mr = num_mpts -
    // reserved_mrws, max_pd = num_pds - reserved_pds); the model's device reserves QP0 and QP1,
    // MPT 0 and the kernel's PD (hca/firmware.ts RESERVED, drivers/native KERNEL_PD).
    maxQp: 64512 + 2, // max_qp 64512
    maxCq: 65408, // max_cq
    maxMr: 131056 + 1, // max_mr 131056
    // mthca's default num_mtt (1 << 20); ibv_devinfo does not report MTT entries
    maxMtt: 1_048_576,
    maxPd: 32764 + 1, // max_pd 32764
    // model's choice of UAR pages; ibv_devinfo does not report them
    maxUar: 1024,
    maxSrq: 960, // max_srq
    maxAh: 65536, // AH table (mthca_query_device leaves max_ah 0: ibv_devinfo prints 0)
    maxQpWr: 16384, // max_qp_wr
    maxSge: 30, // max_sge
    maxCqe: 131071, // max_cqe
    // model's choice of inline bytes; ibv_devinfo does not report them
    maxInline: 400,
    maxRdAtomic: 4, // max_qp_rd_atom
    // Real HCAs tie a packet to a connection by destination QPN and PSN alone and never check
    // its source LID (ReDMArk, Rothenberger et al., USENIX Security 2021): off, as on hardware.
    checkSourceLid: 0,
    // Model's choice (a driver matter): unpredictable key tags, ReDMArk's mitigation against
    // guessed rkeys. mthca/mlx4 rotate the tag and mlx5 counts it: predictable (0).
    randomKeyTags: 1,
    maxPkeys: 64, // max_pkeys (Tavor's P_Key table per port, from QUERY_DEV_LIM)
    // ibv_devinfo -v on an MT23108: max_mcast_grp 8192, max_mcast_qp_attach 8,
    // max_total_mcast_qp_attach 65536. mthca's default profile has num_mcg = 1 << 13
    // (mthca_main.c), split by mthca_profile.c into num_mgms = 4096 hash entries and 4096 AMGM
    // overflow entries; MTHCA_QP_PER_MGM = 4 * (64-byte MGM entry / 16 - 2) = 8 (mthca_dev.h).
    maxMcastGrp: 8192, // max_mcast_grp
    maxMcastQpAttach: 8, // max_mcast_qp_attach
    // max_mtu 2048 (4): the MT23108's ports support MTUs up to 2 KiB. Linux mthca refuses a
    // path MTU above IB_MTU_2048 (mthca_qp.c __mthca_modify_qp: "path MTU (%u) is invalid")
    // and gives UD QPs IB_MTU_2048; Solaris' tavor driver caps TAVOR_MAX_MTU at 0x4, "the
    // current Tavor device maximums" (tavor_misc.h).
    maxMtu: 2048,
  },
  link: {
    // 4x link.
    width: 4,
    // SDR: 2.5 Gb/s per lane (IBTA vol. 2, ch. 6).
    laneSignalBytesPerSec: 2.5e9 / 8,
    // 8b/10b encoding.
    encodingEfficiency: 0.8,
    // MT23108 active MTU in MVAPICH deployments of the time.
    mtu: 2048,
    // ~2 m copper cable, ~5 ns/m.
    propagationNs: 10,
    // InfiniScale III cut-through latency (Mellanox product brief: < 200 ns).
    switchHopNs: 200,
  },
  xen: {
    // Xen 3.0 hypercall round trip on a P4 Xeon (Menon et al., VEE 2005: ~ 0.4 µs).
    hypercallNs: 400,
    // Event delivery: evtchn pending bit, virtual interrupt injection, guest handler entry.
    upcallNs: 1_500,
    // Xen 3.0 credit scheduler switch to the target domain's vCPU (incl. cache/TLB refill).
    domainSwitchNs: 3_000,
    // GNTTABOP_map_grant_ref per op: page-table update and ownership checks.
    grantMapNs: 1_500,
    // GNTTABOP_unmap_grant_ref per op: page-table update and TLB flush.
    grantUnmapNs: 2_000,
    // Guest fills one grant entry (write + barrier).
    grantEntryNs: 50,
    // Copy one fixed-size request or response in or out of the shared ring.
    ringMarshalNs: 300,
    // Backend lookup and validation per request.
    backendOpNs: 1_000,
  },
  dom0: {
    // Xen tuning guides dedicate one or two pinned VCPUs to dom0 (dom0_max_vcpus=1
    // dom0_vcpus_pin); one is the default here, as issue 11 asks.
    vcpus: 1,
    // Preemption granularity of dom0 work: Xen checks hypercall_preempt_check() between the ops
    // of a grant batch (xen/common/grant_table.c) and a preemptible dom0 kernel switches threads
    // there, so a thread runs about one grant unmap (2 µs here) before another gets the VCPU.
    sliceNs: 2_000,
    // Estimate: dom0's own context plus the first context of 15 guests booting at once.
    reserveUars: 16,
    // Estimate: dom0's own verbs programs (subnet manager, tools) need a handful of each.
    reservePds: 64,
    // Estimate: as above, with room for dom0 programs' registrations.
    reserveMrs: 1_024,
    // Estimate: 64 MiB of registrations by dom0 itself.
    reserveMtts: 16_384,
    // Estimate: as reservePds.
    reserveCqs: 64,
    // Estimate: as reservePds.
    reserveQps: 64,
    // Estimate: a few SRQs for dom0 programs.
    reserveSrqs: 16,
    // Estimate: as reservePds.
    reserveAhs: 64,
    // Two ring pages per guest: enough for 512 guests to connect with every other entry taken.
    reserveGrantMaps: 1_024,
    // Estimate: shadow queues for a few split guests booting while others hold their quota.
    reserveHeapBytes: 2_097_152,
  },
  quota: {
    // The cap the backend always had: a context per process of the guest (MPI ranks).
    contexts: 64,
    // Estimate: 1/32 of the device's max_pd; a program needs one or a few.
    pds: 1_024,
    // Estimate: twice MVAPICH's pin-down cache (MV2_NDREG_ENTRIES = 8192, ibv_param.h).
    mrs: 16_384,
    // 256 MiB registered: 1/16 of mthca's default num_mtt (1 << 20), as RLIMIT_MEMLOCK bounds a process.
    mrPages: 65_536,
    // Three quarters of a guest's own grant table (32 frames of 512 entries, Xen 3.0's
    // max_grant_frames), leaving it entries for rings, indirect pages and other devices.
    grantMaps: 12_288,
    // Estimate: 16 MiB of deregistered pages kept mapped (blkback keeps 1056 persistent grants
    // of 4 KiB I/Os per ring, max_persistent_grants; registrations are larger).
    persistentGrants: 4_096,
    // Estimate: a CQ or two per process and context.
    cqs: 1_024,
    // Estimate: 8 MiB of 32-byte CQEs.
    cqes: 262_144,
    // Estimate: an RC QP to each of 1023 peers.
    qps: 1_024,
    // Estimate: 256 WQEs for each of 1024 QPs.
    wqes: 262_144,
    // Estimate: 1/15 of the device's max_srq (960).
    srqs: 64,
    // Estimate: a UD address handle per peer of a large job.
    ahs: 4_096,
    // Estimate: IPoIB's broadcast and all-nodes groups plus a few application groups for each of
    // a handful of UD QPs; 1/1024 of the device's 65536 attachments.
    mcastAttachments: 64,
    // Half of a group's MGM entry (hca.maxMcastQpAttach = 8 QPs): no one guest fills a group that
    // other guests' and dom0's QPs share.
    mcastGroupQps: 4,
    // One event ring's worth (EVENT_RING_SIZE = 128) waiting in dom0 behind a full ring.
    events: 128,
    // A quarter of dom0's 16 MiB backend heap (split shadow queues).
    shadowBytes: 4_194_304,
  },
  mpi: {
    // MVAPICH2 ibv_param.c, MV2_HCA_MLX_PCI_X (InfiniHost on PCI-X), small cluster: vbuf 12 KiB,
    // eager threshold = vbuf size.
    eagerThreshold: 12_288,
    // MV2_VBUF_TOTAL_SIZE for MV2_HCA_MLX_PCI_X (ibv_param.c), equal to the eager threshold.
    vbufTotalSize: 12_288,
    // MV2_USE_RDMA_FAST_PATH: adaptive RDMA fast path on by default (ibv_param.c).
    rdmaFastPath: 1,
    // rdma_fp_buffer_size = 4 KiB (ibv_param.c, RDMA_FP_DEFAULT_BUF_SIZE).
    fastPathBufSize: 4_096,
    // num_rdma_buffer for MV2_HCA_MLX_PCI_X, small cluster (ibv_param.c); 64 when np = 2.
    numRdmaBuffer: 32,
    // rdma_eager_limit = 32 (ibv_param.c): fast path after 32 eager messages from a peer.
    rdmaEagerLimit: 32,
    // RDMA_DEFAULT_POLLING_SET_LIMIT = 64 (ibv_param.h).
    pollingSetLimit: 64,
    // MVAPICH of 2006 (0.9.x) used RDMA WRITE rendezvous (RPUT); MVAPICH2 2.3 defaults to RGET.
    rndvRdmaRead: 0,
    // RDMA_PREPOST_DEPTH = 64 (ibv_param.h); InfiniHost PCI-X has no SRQ in MVAPICH2.
    prepostDepth: 64,
    // rdma_prepost_noop_extra = 6 (ibv_param.c).
    noopExtra: 6,
    // rdma_credit_notify_threshold = 10 (ibv_param.c).
    creditNotifyThreshold: 10,
    // RDMA_DEFAULT_MAX_SEND_WQE = 64 (ibv_param.h).
    maxSendWqe: 64,
    // rdma_max_inline_size = 128 for Mellanox HCAs (ibv_param.c).
    maxInline: 128,
    // MV2_USE_LAZY_MEM_UNREGISTER = 1: the pin-down (dreg) cache is on by default.
    regCache: 1,
    // RDMA_NDREG_ENTRIES = 8192 (ibv_param.h).
    dregEntries: 8_192,
    // rdma_dreg_cache_limit = 0: no byte limit (ibv_param.c).
    dregCacheLimit: 0,
    // A few hundred instructions per message on a 3 GHz Xeon (request, header, protocol choice):
    // MVAPICH's MPI latency was within ~0.5 µs of raw RDMA WRITE latency on InfiniHost
    // (Liu, Wu, Panda, ICS 2003, RDMA fast path).
    sendOverheadNs: 250,
    // Header decode and matching per arriving packet (same source).
    recvOverheadNs: 250,
    // Gigabit Ethernet TCP one-way message through mpirun_rsh's PMI server, Linux 2.6 (~30 µs).
    pmiLatencyNs: 30_000,
    // Gigabit Ethernet payload rate (~100 MB/s).
    pmiBytesPerSec: 100e6,
    // Sustained flop rate of one 3 GHz Netburst Xeon core on NPB-like code (SSE2 peak 6 GFLOPS).
    computeFlopsPerSec: 1e9,
    // STREAM-like memory rate of one core with DDR2-400 (as cpu.memcpyBytesPerSec).
    computeBytesPerSec: 2e9,
  },
  migration: {
    // Gigabit Ethernet TCP payload rate (~100 MB/s): the migration network of Clark et al.
    // (NSDI 2005, "Live Migration of Virtual Machines") and of the paper's cluster.
    netBytesPerSec: 100e6,
    // Gigabit Ethernet TCP one-way message between dom0 daemons, Linux 2.6 (~30 µs).
    netLatencyNs: 30_000,
    // estimate: xc_domain_save maps pages in batches of 1024 (MAX_BATCH_SIZE, one hypercall,
    // ~0.5 µs a page) and copies each 4 KiB page into the socket at memcpy rate (~2 µs).
    pageSaveNs: 2_500,
    // estimate: xc_domain_restore's populate_physmap batch plus a 4 KiB copy per page.
    pageRestoreNs: 2_500,
    // estimate: xend writes control/shutdown, the guest's watch runs its suspend path
    // (device suspend, SCHEDOP_shutdown), xend sees the domain suspended (Xen 3.0: ms).
    suspendNs: 2_000_000,
    // estimate: vCPU context load, P2M/M2P update for the restored frames, unpause.
    resumeNs: 2_000_000,
    // estimate: ~10 xenstore accesses and watch firings through the user-space xenstored.
    xenbusReconnectNs: 1_000_000,
    // x86 vCPU context (~5 KiB) plus the shared-info page, rounded to pages.
    vcpuStateBytes: 12_288,
  },
  cm: {
    // estimate: ib_cm + ib_mad receive path per message (MAD completion, cm_work, the state
    // machine and the next MAD's send) on a 3 GHz Xeon, Linux 2.6.16; librdmacm connection setup
    // takes hundreds of µs end to end on InfiniHost-era clusters, most of it in these steps.
    madProcessNs: 10_000,
    // estimate: OpenSM's SA answers a PathRecord query from its in-memory tables (tens of µs
    // including umad receive and send on 2006 hardware).
    saProcessNs: 30_000,
    // estimate: IPoIB ARP handling in the network stack (neighbour lookup, reply build).
    arpProcessNs: 5_000,
  },
  noise: {
    // Estimate: DDR2-400 page misses and refresh, and PCI-X bridge arbitration, add tens of
    // ns to some DMA transactions; exponential with this mean.
    dmaJitterNs: 20,
    // Linux 2.6 timer interrupt, CONFIG_HZ=250 (the 2.6.13+ default; XenLinux 2.6.16 too).
    osTickPeriodNs: 4_000_000,
    // Estimate: a timer interrupt's detour on a 3 GHz P4 Xeon, a few µs (the magnitude Petrini
    // et al., SC 2003, and Hoefler et al., SC 2010, report for Linux kernel ticks).
    osTickNs: 5_000,
    // Estimate: other detours (daemons, softirqs, kernel threads) as a Poisson process, one
    // every 10 ms on average, tens of µs long (the daemon detours of Petrini et al., SC 2003).
    osDetourIntervalNs: 10_000_000,
    // Estimate: their mean length (exponential).
    osDetourNs: 30_000,
  },
  // What the native path is calibrated to (tests/calibration_test.ts measures each, noise off).
  calibration: [
    {
      metric: "rdma-write-lat",
      method: "ib_write_lat -s 2, inline: ping-pong of 2-byte RDMA WRITEs between two bare-metal " +
        "hosts through one switch, each side spinning on the last byte of its buffer; half a " +
        "round trip, median",
      target: 4.6,
      band: [4.2, 5.0],
      unit: "us",
      source: "Liu, Mamidala, Vishnu, Panda, 'Performance Evaluation of InfiniBand with PCI " +
        "Express', Hot Interconnects 12 (HotI 2004), abstract: 5.0 us small-message latency of " +
        "the MT23108 on 64-bit/133 MHz PCI-X (3.8 us on PCI Express); the paper's class (Liu, " +
        "Huang, Abali, Panda, USENIX ATC 2006, native baseline) about 4.2 us as issue 12 reads " +
        "it. The band spans the two.",
    },
    {
      metric: "send-lat",
      method: "ib_send_lat -s 2, inline: ping-pong of 2-byte SENDs between two bare-metal hosts " +
        "through one switch, each side polling its CQ for the receive; half a round trip, median",
      target: 6.6,
      band: [6.0, 7.2],
      unit: "us",
      source: "the paper's class, about 6.6 us, as issue 12 reports it (Liu et al., USENIX ATC " +
        "2006, native verbs SEND/RECV); the figure was not re-read from the paper here, hence " +
        "a band of +-9 %. Calibrated with hca.cqeWriteNs (the completion is on this path only).",
    },
    {
      metric: "rdma-write-bw",
      method:
        "ib_write_bw -s 1048576 -n 16: 1 MiB RDMA WRITEs, 16 outstanding, each signaled; bytes " +
        "/ (last completion - first post); MB/s = 10^6 B/s (perftest's 2^20 'MB/sec' is 4.6 % " +
        "lower)",
      target: 830,
      band: [780, 880],
      unit: "MB/s",
      source: "HotI 2004 (above), abstract: one PCI Express port gives 968 MB/s, 1.24 times the " +
        "PCI-X peak, i.e. about 781 MB/s on PCI-X; Liu et al., 'Evaluating InfiniBand " +
        "Performance with PCI Express', IEEE Micro 25(1), 2005, abstract: 700-900 MB/s for " +
        "InfiniBand products of the time; about 880 MB/s for the paper's class (issue 12). " +
        "PCI-X bound: calibrated with pci.bytesPerSec.",
    },
    {
      metric: "reg-mr-1-page",
      method: "ibv_reg_mr of a fresh 4 KiB buffer on bare metal, no registration cache: the " +
        "call's time, mean of 3",
      target: 40,
      band: [20, 80],
      unit: "us",
      source: "estimate: Mietke et al., 'Analysis of the Memory Registration Process in the " +
        "Mellanox InfiniBand Software Stack', Euro-Par 2006 (LNCS 4128), measured this path " +
        "on MT23108/PCI-X but its figures were not available here. The band brackets a " +
        "syscall (~0.3 us), the uverbs work (~2 us), page pinning and two firmware commands " +
        "of tens of us each (WRITE_MTT, SW2HW_MPT; mthca_cmd.c).",
    },
    {
      metric: "reg-mr-1024-pages",
      method: "ibv_reg_mr of a fresh 4 MiB (1024-page) buffer on bare metal, no registration " +
        "cache: the call's time, mean of 3",
      target: 100,
      band: [60, 200],
      unit: "us",
      source: "estimate, as for one page (Mietke et al., Euro-Par 2006, not available here): " +
        "the same commands plus 1024 8-byte MTT entries through the command mailbox at tens " +
        "of ns each.",
    },
  ],
});

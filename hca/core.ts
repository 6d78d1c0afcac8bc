/**
 * What every part of the device shares: the platform (engine, memory,
 * interrupts, profile), the DMA bus, the memory translation tables, the
 * counters and the async-event router. The device builds one; contexts and
 * transport engines receive it instead of the whole device, so each file
 * depends only on what it uses.
 *
 * @module
 */

import type { Engine } from "../sim/engine.ts";
import type { InterruptController } from "../sim/irq.ts";
import type { MachineMemory } from "../sim/memory.ts";
import type { Prng } from "../sim/prng.ts";
import type { Profile } from "../sim/profiles/schema.ts";
import type { DmaBus } from "./dma.ts";
import type { MemoryTranslation } from "./mpt.ts";

/**
 * Cumulative device counters (part of `hca.stats()`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type HcaCounters, newCounters } from "./core.ts";
 * const c: HcaCounters = newCounters();
 * c.retransmits += 3;
 * const lossy = (x: HcaCounters) => x.retransmits + x.timeouts > 0;
 * assert.equal(lossy(c), true);
 * ```
 */
export interface HcaCounters {
  /** Doorbells that reached the device. */
  doorbells: number;
  /** Doorbells dropped (wrong UAR, free context, malformed). */
  doorbellsRejected: number;
  /** Packets the ports took for transmission. */
  packetsSent: number;
  /** Packets decoded (good CRCs). */
  packetsReceived: number;
  /** Received packets dropped (bad QPN, wrong state, bad Q_Key, PSN out of window, …). */
  packetsDropped: number;
  /** Go-back-N restarts of the requester. */
  retransmits: number;
  /** RNR NAKs the responder sent. */
  rnrNaksSent: number;
  /** RNR NAKs the requester received. */
  rnrNaksReceived: number;
  /** PSN sequence error NAKs sent. */
  seqNaksSent: number;
  /** Retransmission timer expiries. */
  timeouts: number;
  /** CQEs written to host memory. */
  cqesWritten: number;
  /** EQEs written to host memory. */
  eqesWritten: number;
  /** CQ overruns (CQ_ERROR raised). */
  cqOverruns: number;
  /** Events lost to full EQs. */
  eqOverruns: number;
  /** Interrupts raised. */
  interrupts: number;
  /** UD datagrams longer than the posted receive buffer, dropped (the QP stays usable). */
  udLengthDrops: number;
  /** RC/UC packets from a LID that is not the QP's path (profile `hca.checkSourceLid`), dropped. */
  sourceLidDrops: number;
  /**
   * Packets whose BTH P_Key did not match the receiving QP's partition (IBTA vol 1 §10.9),
   * dropped; the ports' PortInfo:P_KeyViolations summed.
   */
  pkeyViolations: number;
  /**
   * UD datagrams whose Q_Key did not match the receiving QP's (IBTA vol 1 §10.2.4), dropped; the
   * ports' PortInfo:Q_KeyViolations summed.
   */
  qkeyViolations: number;
  /**
   * Unicast packets with a GRH whose DGID is none of the receiving port's GIDs, dropped before
   * any QP looks at them (Linux rxe_recv.c `rxe_chk_dgid`).
   */
  dgidDrops: number;
}

/**
 * A fresh set of zero counters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newCounters } from "./core.ts";
 * assert.ok(Object.values(newCounters()).every((v) => v === 0));
 * ```
 */
export function newCounters(): HcaCounters {
  return {
    doorbells: 0,
    doorbellsRejected: 0,
    packetsSent: 0,
    packetsReceived: 0,
    packetsDropped: 0,
    retransmits: 0,
    rnrNaksSent: 0,
    rnrNaksReceived: 0,
    seqNaksSent: 0,
    timeouts: 0,
    cqesWritten: 0,
    eqesWritten: 0,
    cqOverruns: 0,
    eqOverruns: 0,
    interrupts: 0,
    udLengthDrops: 0,
    sourceLidDrops: 0,
    pkeyViolations: 0,
    qkeyViolations: 0,
    dgidDrops: 0,
  };
}

/**
 * The shared internals of one HCA.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import type { HcaCore } from "./core.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const core: HcaCore = hca.core;
 * assert.deepEqual([core.name, core.profile.name], ["hca0", "pcix-sdr-2006"]);
 * assert.equal(core.counters.doorbells, 0);
 * ```
 */
export interface HcaCore {
  /** Device name. */
  readonly name: string;
  /** The simulation engine. */
  readonly engine: Engine;
  /** Host machine memory. */
  readonly memory: MachineMemory;
  /** Host interrupt controller. */
  readonly irq: InterruptController;
  /** Cost profile. */
  readonly profile: Profile;
  /** Seeded random source. */
  readonly rng: Prng;
  /** DMA timing. */
  readonly bus: DmaBus;
  /** MPT/MTT tables. */
  readonly tpt: MemoryTranslation;
  /** Cumulative counters. */
  readonly counters: HcaCounters;
  /** Route an affiliated/unaffiliated async event to the EQ MAP_EQ chose (dropped if none). */
  asyncEvent(type: number, subtype: number, index: number, cause?: number): void;
}

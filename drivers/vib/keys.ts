/**
 * Xenstore keys of a vib device. They are the handshake half of the
 * contract (the ring is the other half) and are read by the toolstack and
 * watcher code that has no business with the wire codec.
 *
 * @module
 */

/**
 * Xenstore keys of a vib device (under each end's directory).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VIB_KEYS } from "./mod.ts";
 * assert.equal(VIB_KEYS.ringRef, "ring-ref");
 * ```
 */
export const VIB_KEYS = {
  /** Frontend: grant ref of the request/response ring page. */
  ringRef: "ring-ref",
  /** Frontend: grant ref of the event ring page. */
  eventRingRef: "event-ring-ref",
  /** Frontend: its unbound event-channel port offered to the backend. */
  eventChannel: "event-channel",
  /** Backend: the physical device's name (what the guest registers its device as). */
  deviceName: "device-name",
  /**
   * Backend: the PCI vendor and device id of the physical function, `0x`-prefixed hex as
   * sysfs shows them; a bypass guest's device exposes them (its fast path is that function).
   */
  pciVendor: "pci-vendor",
  pciDevice: "pci-device",
  /** Backend: "bypass" or "split" (what the toolstack asked for). */
  mode: "mode",
  /**
   * Backend: how many deregistered pages it keeps mapped for the frontend (persistent grants,
   * as blkback's `max_persistent_grants`); the frontend keeps no more grants than that idle.
   */
  maxPersistentGrants: "max-persistent-grants",
  /**
   * Backend directory the toolstack writes the guest's quotas into, one key per quota
   * (`quota/pds`, …; only dom0 may write them).
   */
  quota: "quota",
  /**
   * Backend: the partitions the guest's QPs may use, P_Keys as `0x`-prefixed hex separated by
   * spaces (`0x8001 0x0002`; only dom0 may write it). Absent: the default partition, full
   * member (0xffff), alone.
   */
  pkeys: "pkeys",
  /**
   * Backend: the toolstack's `online` flag (1 while the device is plugged; Linux's
   * `xenbus_dev_is_online`, absent reads 0). A frontend that closes an online device may
   * re-probe it and is served again; closing one that is not online ends the backend's
   * instance.
   */
  online: "online",
} as const;

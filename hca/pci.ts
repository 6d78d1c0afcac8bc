/**
 * The HCA's identity as the host sees it: its PCI function's vendor and
 * device ids (config space offsets 0 and 2, what `lspci -n` and sysfs
 * `device/vendor`, `device/device` show, and what a user-level library's
 * match table names: libmthca's `hca_table` lists
 * `PCI_VENDOR_ID_MELLANOX, PCI_DEVICE_ID_MELLANOX_TAVOR`), and the IEEE OUI
 * the device reports as its vendor in `ibv_query_device` (`vendor_id`;
 * `vendor_part_id` is the PCI device id). The model is one device, the
 * paper's MT23108 (Tavor); only its costs change with the profile.
 *
 * @module
 */

/**
 * PCI vendor id of Mellanox (`PCI_VENDOR_ID_MELLANOX`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PCI_VENDOR_MELLANOX } from "./pci.ts";
 * assert.equal(PCI_VENDOR_MELLANOX.toString(16), "15b3");
 * ```
 */
export const PCI_VENDOR_MELLANOX = 0x15b3;

/**
 * PCI device id of the MT23108 InfiniHost (Tavor), `PCI_DEVICE_ID_MELLANOX_TAVOR`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PCI_DEVICE_MT23108 } from "./pci.ts";
 * assert.equal(PCI_DEVICE_MT23108, 23108); // ibv_devinfo's vendor_part_id
 * ```
 */
export const PCI_DEVICE_MT23108 = 0x5a44;

/**
 * Mellanox's IEEE OUI: `vendor_id` in `ibv_query_device`, and the top 24
 * bits of its GUIDs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MELLANOX_OUI } from "./pci.ts";
 * assert.equal(MELLANOX_OUI, 0x02c9);
 * ```
 */
export const MELLANOX_OUI = 0x0002c9;

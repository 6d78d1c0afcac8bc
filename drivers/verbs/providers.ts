/**
 * Which user-level provider drives a device, decided the way libibverbs
 * decides it: every provider registers a table of the devices it drives
 * (`verbs_register_driver` with `verbs_match_ent` entries), and a device is
 * bound to the first registered provider with an entry its identity
 * matches ({@link DeviceIdentity}: what sysfs shows — a PCI function's
 * vendor and device ids, or the name of the kernel driver's device type).
 * The kernel never hands a provider over; it only says what the device is.
 *
 * Built in: the mthca-style provider of `provider.ts`, matching the HCA's
 * PCI function (libmthca's `VERBS_PCI_MATCH(PCI_VENDOR_ID_MELLANOX,
 * PCI_DEVICE_ID_MELLANOX_TAVOR)`). A bare-metal process and a Xen-IB
 * (bypass) guest reach that function alike — the guest through the UAR
 * page dom0 mapped into it — so both bind the very same module: the
 * paper's "unmodified user-level library". Other datapaths (the split
 * baseline) register their own provider for their own device type.
 *
 * @module
 */
import { PCI_DEVICE_MT23108, PCI_VENDOR_MELLANOX } from "../../hca/pci.ts";
import { VerbsError } from "../uapi/errors.ts";
import type { DeviceIdentity, UverbsDevice, UverbsFile } from "../uapi/uverbs.ts";
import { Context, type VerbsEnv } from "./context.ts";
import { Provider, type ProviderEnv } from "./provider.ts";
import type { NomadAgent } from "./nomad_agent.ts";
import { NomadFile } from "./nomad_file.ts";

/**
 * One entry of a provider's match table: every field given must equal the
 * device's (a PCI entry names vendor and device; a name entry the driver).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matches, type ProviderMatch } from "./providers.ts";
 * const byName: ProviderMatch = { driver: "rxe" };
 * assert.ok(matches(byName, { driver: "rxe" }));
 * assert.ok(!matches(byName, { driver: "mthca", pciVendor: 0x15b3, pciDevice: 0x5a44 }));
 * ```
 */
export interface ProviderMatch {
  /** `VERBS_NAME_MATCH`: the kernel driver's device type. */
  readonly driver?: string;
  /** `VERBS_PCI_MATCH`: vendor and device id of the PCI function. */
  readonly pciVendor?: number;
  /** PCI device id. */
  readonly pciDevice?: number;
}

/**
 * A user-level provider as it registers itself (`struct verbs_device_ops`):
 * its name, the devices it drives, and how it builds the fast path of a
 * context opened on one of them (`alloc_context`). `file` is the kernel
 * file of that context, before any layer of the library wraps it: a
 * provider may talk to its own kernel driver through it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Provider } from "./provider.ts";
 * import type { ProviderDriver } from "./providers.ts";
 * const plain: ProviderDriver = {
 *   name: "plain",
 *   match: [{ driver: "plain" }],
 *   create: (env) => new Provider(env),
 * };
 * assert.equal(plain.match.length, 1);
 * ```
 */
export interface ProviderDriver {
  /** The provider's name (`mthca`). */
  readonly name: string;
  /** The devices it drives. */
  readonly match: readonly ProviderMatch[];
  /** The fast path of a context opened on `file`. */
  create(env: ProviderEnv, file: UverbsFile): Provider;
}

/**
 * The built-in provider: the mthca-style fast path (`provider.ts`) for the
 * HCA's PCI function.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MTHCA_PROVIDER } from "./providers.ts";
 * assert.deepEqual(MTHCA_PROVIDER.match, [{ pciVendor: 0x15b3, pciDevice: 0x5a44 }]);
 * ```
 */
export const MTHCA_PROVIDER: ProviderDriver = {
  name: "mthca",
  match: [{ pciVendor: PCI_VENDOR_MELLANOX, pciDevice: PCI_DEVICE_MT23108 }],
  create: (env) => new Provider(env),
};

const REGISTERED: ProviderDriver[] = [MTHCA_PROVIDER];

/**
 * True if `id` satisfies entry `m` (every field `m` names is equal; an
 * entry naming nothing matches nothing).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matches } from "./providers.ts";
 * assert.ok(matches({ pciVendor: 0x15b3, pciDevice: 0x5a44 }, { driver: "vib", pciVendor: 0x15b3, pciDevice: 0x5a44 }));
 * assert.ok(!matches({}, { driver: "vib" }));
 * ```
 */
export function matches(m: ProviderMatch, id: DeviceIdentity): boolean {
  const keys = (["driver", "pciVendor", "pciDevice"] as const).filter((k) => m[k] !== undefined);
  return keys.length > 0 && keys.every((k) => m[k] === id[k]);
}

/**
 * Register a provider (`verbs_register_driver`); it is consulted after the
 * ones registered before it. Returns a function that undoes this call: it
 * unregisters the provider if this call registered it (registering one
 * twice changes nothing, and undoing the second call keeps the first).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Provider } from "./provider.ts";
 * import { matchProvider, type ProviderDriver, registerProvider } from "./providers.ts";
 * const toy: ProviderDriver = { name: "toy", match: [{ driver: "toy" }], create: (env) => new Provider(env) };
 * const drop = registerProvider(toy);
 * registerProvider(toy)(); // a second registration, undone: the first stands
 * assert.equal(matchProvider({ driver: "toy" }), toy);
 * drop();
 * assert.equal(matchProvider({ driver: "toy" }), undefined);
 * ```
 */
export function registerProvider(d: ProviderDriver): () => void {
  if (REGISTERED.includes(d)) return () => {};
  REGISTERED.push(d);
  return () => void unregisterProvider(d);
}

/**
 * Take a provider out of the table, whoever registered it; false if it was
 * not registered. Devices it would have driven then have no provider
 * (opening them is ENODEV) until it is registered again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MTHCA_PROVIDER, registerProvider, unregisterProvider } from "./providers.ts";
 * assert.ok(unregisterProvider(MTHCA_PROVIDER));
 * assert.ok(!unregisterProvider(MTHCA_PROVIDER));
 * registerProvider(MTHCA_PROVIDER); // put the built-in back
 * ```
 */
export function unregisterProvider(d: ProviderDriver): boolean {
  const i = REGISTERED.indexOf(d);
  if (i < 0) return false;
  REGISTERED.splice(i, 1);
  return true;
}

/**
 * The provider that drives a device of this identity: the first registered
 * one with a matching entry, or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matchProvider } from "./providers.ts";
 * assert.equal(matchProvider({ driver: "mthca", pciVendor: 0x15b3, pciDevice: 0x5a44 })?.name, "mthca");
 * assert.equal(matchProvider({ driver: "unknown" }), undefined);
 * ```
 */
export function matchProvider(id: DeviceIdentity): ProviderDriver | undefined {
  return REGISTERED.find((d) => d.match.some((m) => matches(m, id)));
}

function describe(id: DeviceIdentity): string {
  const hex = (n: number) => n.toString(16).padStart(4, "0");
  return id.pciVendor !== undefined && id.pciDevice !== undefined
    ? `driver ${id.driver}, PCI ${hex(id.pciVendor)}:${hex(id.pciDevice)}`
    : `driver ${id.driver}`;
}

/**
 * `ibv_open_device`: bind the device to its provider, open it (one kernel
 * call; `regCache` is passed to the kernel, whose registration cache — a
 * guest frontend's persistent grants — keeps verbs semantics), optionally
 * put Nomad's namespace virtualization (`nomad_file.ts`, with the domain's
 * agent) in front of the kernel file, and build the context. ENODEV, before
 * anything is opened, for a device no registered provider drives.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { UverbsDevice } from "../uapi/uverbs.ts";
 * import { openContext } from "./providers.ts";
 * const odd: UverbsDevice = { name: "odd0", identity: { driver: "odd" }, open: () => Promise.reject() };
 * await assert.rejects(openContext(odd, {} as never), /ENODEV: odd0: no user-level provider/);
 * ```
 */
export async function openContext(
  dev: UverbsDevice,
  env: VerbsEnv,
  opts: { regCache?: boolean; nomad?: NomadAgent } = {},
): Promise<Context> {
  const driver = matchProvider(dev.identity);
  if (!driver) {
    throw new VerbsError(
      "ENODEV",
      `${dev.name}: no user-level provider drives this device (${describe(dev.identity)})`,
    );
  }
  const openOpts = opts.regCache === undefined ? undefined : { regCache: opts.regCache };
  const file = await dev.open(openOpts);
  // Nomad's namespace virtualization sits right on the kernel file (a move opens the new
  // one the same way: the same registration cache).
  const nomad = opts.nomad ? new NomadFile(file, opts.nomad, openOpts) : undefined;
  const ctx = await Context.open(nomad ?? file, env, (penv) => driver.create(penv, file));
  if (nomad) {
    nomad.attach(ctx.provider);
    ctx.nomad = nomad;
    nomad.opening = false;
    opts.nomad!.adopt(nomad);
  }
  return ctx;
}

/**
 * XenStore: the tree of small string nodes through which domains agree on
 * devices (`/local/domain/<domid>/device/vib/0/state`, …), with per-node
 * permissions and watches, as `xenstored` serves it.
 *
 * Calls are synchronous and named by the caller's domid (the connection),
 * e.g. `xs.write(1, "device/vib/0/state", "1")`; a path not starting with
 * `/` is relative to the caller's home `/local/domain/<domid>`. Refusals
 * throw {@link XenError} with xenstored's errno: EINVAL (malformed path or
 * value), ENOENT (no such node, when the caller may read — or, to change
 * it, write — the nearest node above: else EACCES as for an existing node,
 * so a refusal never tells whether a node exists), EACCES (permissions),
 * EEXIST (duplicate watch), ENOSPC (node quota, a node record of
 * `maxEntryBytes` or more, more than 5 permission entries), E2BIG (watch
 * quota, or a message longer than `XENSTORE_PAYLOAD_MAX`), ESRCH
 * (caller not connected: no such domain), EPERM (an unprivileged caller
 * giving a node away).
 *
 * Permissions (`XS_PERM_*`): a node's list is `[{owner, default}, {domid,
 * perm}…]`. Dom0 may do anything; the owner may do anything; another domain
 * gets its own entry's right if listed, else the default. A node created by
 * a write inherits its parent's list, with the owner replaced by the
 * creating domain if that domain is unprivileged; creating needs write
 * access to the nearest existing ancestor.
 *
 * Watches fire on a change to the watched node or anything below it (write,
 * mkdir, rm, set_perms), and once when registered, as xenstored does; the
 * callback gets the changed path and the watch's token. Removing a subtree
 * fires each removed node, children first, to the watches on exactly it,
 * then the removed node to the watches on it and above (`rm_node`,
 * `delnode_sub`); a watch inside the subtree where there was no node hears
 * nothing. A watcher hears of a change only if it may read the node, the
 * node's permissions before a set_perms, or the node's parent
 * (`watch_permitted`). `@introduceDomain` and
 * `@releaseDomain` fire when the hypervisor introduces or releases a domain;
 * a released domain's home goes, and, as xenstored's `domain_tree_remove`,
 * every node it owns elsewhere and its entries in other nodes' permissions.
 * As in xenstored (`xenstored_watch.c` `check_watch_path`), any domain may
 * watch any `@…` path of at most `XENSTORE_REL_PATH_MAX` bytes and gets the
 * registration's event; later special events reach only those the special
 * node's permissions let read it, which by default (`set_dom_perms_default`)
 * is dom0 alone; dom0 (or an owner it named) may change them with
 * `set_perms` (`set_perms_special`: EACCES for anyone else, EINVAL for
 * another `@` name), and a watch on `/` hears them too (`is_child`). Callbacks run synchronously, but never inside another
 * callback: events raised while callbacks run are queued and delivered in
 * order after them, so a callback may itself write to the store. A callback
 * should wake a process (WaitQueue, Mailbox) for work that takes time.
 *
 * The tree starts as xenstored's `setup_structure` leaves it (`/tool/xenstored`)
 * plus the toolstack's `/local/domain`. `XS_DIRECTORY` lists a node's
 * children oldest first, as C xenstored keeps them.
 *
 * Not modelled: transactions, the ring protocol and its costs.
 *
 * @module
 */
import { XenError } from "./errors.ts";
import { DOMID_FIRST_RESERVED, intArg, show } from "./args.ts";

/**
 * A permission letter: none, read, write, both.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenStore, type XsPermLetter } from "./xenstore.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(0, "Domain-0");
 * xs.introduceDomain(5, "vm");
 * const path = "/local/domain/0/backend/vib/5/0/state";
 * xs.write(0, path, "1");
 * const let5 = (perm: XsPermLetter) =>
 *   xs.setPerms(0, path, [{ domid: 0, perm: "n" }, { domid: 5, perm }]);
 * let5("w"); // write-only: dom5 may not read it
 * assert.throws(() => xs.read(5, path), { code: "EACCES" });
 * let5("b"); // both
 * assert.equal(xs.read(5, path), "1");
 * ```
 */
export type XsPermLetter = "n" | "r" | "w" | "b";

/**
 * One entry of a node's permission list.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenStore, type XsPerm } from "./xenstore.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(0, "Domain-0");
 * xs.introduceDomain(5, "vm");
 * xs.write(0, "/local/domain/0/backend/vib/5/0/state", "1");
 * const perms: XsPerm[] = [{ domid: 0, perm: "n" }, { domid: 5, perm: "r" }];
 * xs.setPerms(0, "/local/domain/0/backend/vib/5/0/state", perms);
 * assert.equal(xs.read(5, "/local/domain/0/backend/vib/5/0/state"), "1");
 * assert.throws(() => xs.write(5, "/local/domain/0/backend/vib/5/0/state", "6"), {
 *   code: "EACCES",
 * });
 * ```
 */
export interface XsPerm {
  /** Domain the entry is about (the owner for the first entry). */
  domid: number;
  /** What it may do (the default for everyone else, in the first entry). */
  perm: XsPermLetter;
}

/**
 * Called when a watch fires.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenStore, type XsWatchCallback } from "./xenstore.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(0, "Domain-0");
 * const events: string[] = [];
 * const log: XsWatchCallback = (path, token) => events.push(`${token} ${path}`);
 * xs.watch(0, "/vm", "t", log); // fires once at registration
 * xs.write(0, "/vm/state", "4");
 * assert.deepEqual(events, ["t /vm", "t /vm/state"]);
 * ```
 */
export type XsWatchCallback = (path: string, token: string) => void;

/**
 * Limits, as xenstored's quotas.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenStore, type XenStoreOptions } from "./xenstore.ts";
 * const opts: XenStoreOptions = { maxNodesPerDomain: 16, maxEntryBytes: 97 };
 * const xs = new XenStore(opts);
 * xs.introduceDomain(1, "vm");
 * // A record: 24-byte header, 8 bytes per permission (data/* has one), the value.
 * xs.write(1, "data/small", "x".repeat(64)); // 96 bytes
 * assert.throws(() => xs.write(1, "data/big", "x".repeat(65)), { code: "ENOSPC" });
 * ```
 */
export interface XenStoreOptions {
  /** Nodes an unprivileged domain may own (xenstored `-E`, default 1000). */
  maxNodesPerDomain?: number;
  /**
   * `quota_nb_watch_per_domain` (xenstored `-W`, default 128). As xenstored 4.17 (to 4.19)
   * `do_watch` checks it, "if (domain_watch(conn) > quota_nb_watch_per_domain) return E2BIG",
   * against the watches the domain already holds, a domain may hold one more than this: the
   * watch past that is E2BIG.
   */
  maxWatchesPerDomain?: number;
  /**
   * `quota_max_entry_size` (xenstored `-S`, default 2048): an unprivileged
   * domain's write, mkdir or set_perms is ENOSPC when it would leave a node's
   * record this many bytes or more — the 24-byte header
   * (`struct xs_tdb_record_hdr`), 8 bytes per permission entry, the value,
   * and each child's name with its NUL (`write_node_raw`).
   */
  maxEntryBytes?: number;
  /**
   * Receives exceptions thrown by dom0's watch callbacks; default rethrows them asynchronously.
   * A guest's callback failing is counted (`guestWatchErrors`), never reported here.
   */
  onWatchError?: (err: unknown) => void;
}

/**
 * Max length of an absolute path (`XENSTORE_ABS_PATH_MAX`). xenstored's own
 * limit is shorter (`is_valid_nodename`): {@link XENSTORE_REL_PATH_MAX}
 * bytes past a leading `/local/domain/<domid>/`, or past `/` elsewhere.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenStore, XENSTORE_ABS_PATH_MAX } from "./xenstore.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(0, "Domain-0");
 * assert.throws(() => xs.write(0, "/" + "x".repeat(XENSTORE_ABS_PATH_MAX), "v"), {
 *   name: "XenError",
 *   code: "EINVAL",
 * });
 * ```
 */
export const XENSTORE_ABS_PATH_MAX = 3072;
/**
 * Max length of a relative path (`XENSTORE_REL_PATH_MAX`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenStore, XENSTORE_REL_PATH_MAX } from "./xenstore.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(0, "Domain-0");
 * xs.introduceDomain(1, "vm");
 * const name = (n: number) => "data/" + "x".repeat(n - "data/".length); // relative to its home
 * xs.write(0, `/local/domain/1/${name(XENSTORE_REL_PATH_MAX)}`, "v"); // dom0: no record quota
 * assert.equal(xs.read(1, name(XENSTORE_REL_PATH_MAX)), "v");
 * assert.throws(() => xs.write(1, name(XENSTORE_REL_PATH_MAX + 1), "v"), { code: "EINVAL" });
 * ```
 */
export const XENSTORE_REL_PATH_MAX = 2048;

/**
 * The most bytes one xenstore message may carry (`XENSTORE_PAYLOAD_MAX`,
 * `io/xs_wire.h`): a request's `path\0` and what follows it — an XS_WRITE's
 * value, an XS_WATCH's or XS_UNWATCH's `token\0`, an XS_SET_PERMS's
 * `<letter><domid>\0` per entry. libxenstore refuses a longer request with
 * E2BIG before sending it (`xs_talkv`), so before xenstored looks at its
 * path, and xenstored drops a client that sends one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenStore, XENSTORE_PAYLOAD_MAX } from "./xenstore.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(1, "vm");
 * const token = "t".repeat(XENSTORE_PAYLOAD_MAX); // with the path, more than one message holds
 * assert.throws(() => xs.watch(1, "data", token, () => {}), { code: "E2BIG" });
 * assert.equal(xs.watchesOf(1), 0); // nothing kept
 * ```
 */
export const XENSTORE_PAYLOAD_MAX = 4096;

const UTF8 = new TextEncoder();

/** UTF-8 bytes of `parts`, each followed by `nuls[i]` NULs; past the limit, a lower bound. */
function payloadBytes(parts: readonly string[], nuls: readonly number[]): number {
  let n = 0;
  for (let i = 0; i < parts.length; i++) {
    // A string of more UTF-16 units than the limit has more bytes than the limit.
    const p = parts[i];
    n += (p.length > XENSTORE_PAYLOAD_MAX ? p.length : UTF8.encode(p).length) + nuls[i];
    if (n > XENSTORE_PAYLOAD_MAX) return n;
  }
  return n;
}
/**
 * Special watch path fired when a domain is introduced.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenStore, XS_INTRODUCE_DOMAIN } from "./xenstore.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(0, "Domain-0");
 * const events: string[] = [];
 * xs.watch(0, XS_INTRODUCE_DOMAIN, "new", (path) => events.push(path)); // fires once now
 * xs.introduceDomain(7, "vm7");
 * assert.deepEqual(events, ["@introduceDomain", "@introduceDomain"]);
 * ```
 */
export const XS_INTRODUCE_DOMAIN = "@introduceDomain";
/**
 * Special watch path fired when a domain is released.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenStore, XS_RELEASE_DOMAIN } from "./xenstore.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(0, "Domain-0");
 * xs.introduceDomain(7, "vm7");
 * let released = 0;
 * xs.watch(0, XS_RELEASE_DOMAIN, "gone", () => released++); // fires once now
 * xs.releaseDomain(7); // the backend's cue to clean up
 * assert.equal(released, 2);
 * assert.equal(xs.isConnected(7), false);
 * ```
 */
export const XS_RELEASE_DOMAIN = "@releaseDomain";

const VALID = /^[A-Za-z0-9\-/_@]*$/;
/** What xenstored's `sscanf(node, "/local/domain/%5u/%n")` matches (five characters, a sign included). */
const LOCAL_PREFIX = /^\/local\/domain\/(?:[+-]\d{1,4}|\d{1,5})\//;
/** `quota_nb_perms_per_node`: the most entries an unprivileged set_perms may give a node. */
const MAX_PERMS_PER_NODE = 5;
const R = 1, W = 2;

interface Node {
  value: string;
  perms: XsPerm[];
  children: Set<string>;
}

interface Watch {
  domid: number;
  path: string;
  token: string;
  cb: XsWatchCallback;
  relative: boolean;
}

/** `perms` without the entries after the owner's that name `domid` (the same list if none). */
function withoutEntries(perms: XsPerm[], domid: number): XsPerm[] {
  if (!perms.some((x, i) => i > 0 && x.domid === domid)) return perms;
  return perms.filter((x, i) => i === 0 || x.domid !== domid);
}

/**
 * The store.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenStore } from "./xenstore.ts";
 * const xs = new XenStore();
 * xs.introduceDomain(0, "Domain-0");
 * xs.introduceDomain(1, "vm0");
 * const seen: string[] = [];
 * xs.watch(0, "/local/domain/1/device", "tok", (p) => seen.push(p));
 * xs.write(1, "device/vib/0/state", "1"); // dom1 writes under its home, relatively
 * assert.deepEqual(seen, ["/local/domain/1/device", "/local/domain/1/device/vib/0/state"]);
 * assert.equal(xs.read(0, "/local/domain/1/device/vib/0/state"), "1");
 * ```
 */
export class XenStore {
  #nodes = new Map<string, Node>();
  #owned = new Map<number, number>();
  #watches: Watch[] = [];
  #conns = new Set<number>();
  #queue: { w: Watch; path: string }[] = [];
  #delivering = false;
  /**
   * The permissions of the special nodes (xenstored_domain.c `dom_release_perms`,
   * `dom_introduce_perms`): dom0's, none for anyone else, until dom0 sets others.
   */
  #special = new Map<string, XsPerm[]>([
    [XS_INTRODUCE_DOMAIN, [{ domid: 0, perm: "n" }]],
    [XS_RELEASE_DOMAIN, [{ domid: 0, perm: "n" }]],
  ]);
  readonly #maxNodes: number;
  readonly #maxWatches: number;
  readonly #maxEntry: number;
  readonly #onWatchError: (err: unknown) => void;
  /** Watch events delivered. */
  watchEvents = 0;
  /** Watch events whose guest (not dom0) handler threw or rejected: the guest's own failure. */
  guestWatchErrors = 0;
  #guestWatchFailed = (): void => {
    this.guestWatchErrors++;
  };

  /**
   * An empty tree (`/`, `/local`, `/local/domain`); connect domains with
   * {@link introduceDomain}.
   * @param opts quotas and error handling
   */
  constructor(opts: XenStoreOptions = {}) {
    this.#maxNodes = opts.maxNodesPerDomain ?? 1000;
    this.#maxWatches = opts.maxWatchesPerDomain ?? 128;
    this.#maxEntry = opts.maxEntryBytes ?? 2048;
    this.#onWatchError = opts.onWatchError ?? ((err) =>
      queueMicrotask(() => {
        throw err;
      }));
    // xenstored's setup_structure() makes /, /tool and /tool/xenstored; the toolstack /local/domain.
    for (const p of ["/", "/tool", "/tool/xenstored", "/local", "/local/domain"]) {
      this.#put(p, "", [{ domid: 0, perm: "n" }]);
    }
  }

  /** Nodes in the store. */
  get size(): number {
    return this.#nodes.size;
  }

  /** Watches registered. */
  get watchCount(): number {
    return this.#watches.length;
  }

  /** Nodes owned by `domid`. */
  nodesOwnedBy(domid: number): number {
    return this.#owned.get(domid) ?? 0;
  }

  /** Watches registered by `domid`. */
  watchesOf(domid: number): number {
    return this.#watches.filter((w) => w.domid === domid).length;
  }

  /** True if `domid` is connected (introduced and not released). */
  isConnected(domid: number): boolean {
    return this.#conns.has(domid);
  }

  // ---- domain lifecycle (the hypervisor/toolstack calls these) ----

  /**
   * Connect `domid` and create its home `/local/domain/<domid>` (read-only
   * to it, with `name` and `domid`), and its writable `device`, `control`
   * and `data` directories; fires `@introduceDomain`.
   */
  introduceDomain(domid: number, name: string): void {
    intArg(domid, 0, DOMID_FIRST_RESERVED - 1, "introduce: domid");
    if (this.#conns.has(domid)) throw new XenError("EEXIST", `introduce: dom${domid} is connected`);
    this.#conns.add(domid);
    const home = `/local/domain/${domid}`;
    const ro: XsPerm[] = [{ domid: 0, perm: "n" }, { domid, perm: "r" }];
    const rw: XsPerm[] = [{ domid, perm: "n" }];
    this.#put(home, "", ro);
    this.#put(`${home}/name`, name, ro);
    this.#put(`${home}/domid`, String(domid), ro);
    for (const d of ["device", "control", "data"]) this.#put(`${home}/${d}`, "", rw);
    this.#fireSpecial(XS_INTRODUCE_DOMAIN);
  }

  /**
   * Disconnect `domid`: drop its watches, remove its home subtree (firing
   * watches on it, as the toolstack's `xs_rm` does), then what xenstored's
   * `destroy_domain` does: remove every other node it owns with its subtree
   * (firing watches), drop its entries from every other node's permissions
   * and the special nodes' (`domain_tree_remove`), fire `@releaseDomain`.
   */
  releaseDomain(domid: number): void {
    if (!this.#conns.delete(domid)) return;
    this.#watches = this.#watches.filter((w) => w.domid !== domid);
    this.#queue = this.#queue.filter((e) => e.w.domid !== domid);
    const home = `/local/domain/${domid}`;
    if (this.#nodes.has(home)) this.#remove(home);
    this.#forget(domid);
    this.#fireSpecial(XS_RELEASE_DOMAIN);
  }

  /**
   * xenstored's `domain_tree_remove` (`domain_tree_remove_sub`, keep_orphans off; Xen 4.17
   * tools/xenstore/xenstored_domain.c, tools/xenstored/domain.c now): walk the tree from `/`;
   * a node `domid` owns is removed with everything below it (rm_node: watches fire) and its
   * children are not visited; the special nodes lose its entries (`remove_domid_from_perm`).
   * Any other node loses the entries naming `domid` too (no watch fires), as xenstored does
   * since 4.22 ("remove permissions related to dead domain"); 4.17 kept them in the list but
   * marked them ignored (`domain_adjust_node_perms`, `XS_PERM_IGNORE`: they grant nothing,
   * get_perms still shows them). Either way a domain introduced later with the same domid
   * inherits nothing of the dead one's.
   */
  #forget(domid: number): void {
    const walk = (p: string) => {
      const n = this.#nodes.get(p)!;
      if (n.perms[0].domid === domid) {
        this.#remove(p);
        return;
      }
      n.perms = withoutEntries(n.perms, domid);
      for (const c of [...n.children]) walk(`${p === "/" ? "" : p}/${c}`);
    };
    walk("/");
    for (const [p, perms] of this.#special) {
      // Deviation: a special node the dead domain owned (dom0 gave it away) goes back to dom0,
      // where xenstored's rm_node of a special node would not apply.
      const list = withoutEntries(perms, domid);
      this.#special.set(
        p,
        list[0].domid === domid ? [{ ...list[0], domid: 0 }, ...list.slice(1)] : list,
      );
    }
  }

  // ---- operations ----

  /** `XS_READ`: the value of `path`. */
  read(caller: number, path: string): string {
    const p = this.#path(caller, path, "read");
    return this.#need(caller, p, R, "read").value;
  }

  /** True if `path` exists (EACCES if it exists and the caller may not read it). */
  exists(caller: number, path: string): boolean {
    const p = this.#path(caller, path, "exists");
    if (!this.#nodes.has(p)) {
      const e = this.#absent(caller, p, R, "exists");
      if (e.code === "ENOENT") return false;
      throw e;
    }
    this.#need(caller, p, R, "exists");
    return true;
  }

  /** `XS_WRITE`: set `path` to `value`, creating it and missing parents. */
  write(caller: number, path: string, value: string): void {
    // XS_WRITE is path\0 then the value, no NUL (xs_write).
    const msg = typeof value === "string" ? [value] : [];
    const p = this.#path(caller, path, "write", false, msg, [0]);
    if (typeof value !== "string") {
      throw new XenError("EINVAL", `write ${p}: value ${show(value)} is not a string`);
    }
    const n = this.#nodes.get(p);
    // Permission before size, as xenstored checks them (get_node with XS_PERM_WRITE, then the
    // quota when the node is written): a domain learns nothing of nodes it may not write.
    this.#need(caller, n ? p : this.#nearest(p), W, "write");
    if (n) {
      this.#fitsEntry(caller, "write", p, n.perms, value, n.children);
      n.value = value;
    } else {
      this.#create(caller, p, value, "write");
    }
    this.#fire(p, this.#nodes.get(p)!.perms);
  }

  /**
   * `XS_MKDIR`: create `path` with an empty value; no-op if it exists and the
   * caller may write it (EACCES otherwise, as xenstored's `do_mkdir` looks
   * the node up for writing: no existence oracle for other domains' nodes).
   */
  mkdir(caller: number, path: string): void {
    const p = this.#path(caller, path, "mkdir");
    if (this.#nodes.has(p)) {
      this.#need(caller, p, W, "mkdir");
      return;
    }
    this.#create(caller, p, "", "mkdir");
    this.#fire(p, this.#nodes.get(p)!.perms);
  }

  /**
   * `XS_RM`: remove `path` and everything below it. Removing a node that
   * does not exist succeeds if its parent exists (ENOENT otherwise).
   */
  rm(caller: number, path: string): void {
    const p = this.#path(caller, path, "rm");
    if (!this.#nodes.has(p)) {
      // xenstored's do_rm: the lookup fails first (EACCES where the nearest node above is not
      // the caller's to write, so no existence oracle), and only an ENOENT is then forgiven.
      const e = this.#absent(caller, p, W, "rm");
      if (e.code !== "ENOENT") throw e;
      if (this.#nodes.has(parentOf(p))) return;
      throw new XenError("ENOENT", `rm ${p}: no such node or parent`);
    }
    this.#need(caller, p, W, "rm");
    // do_rm(): "/" is refused once the lookup with XS_PERM_WRITE has passed (EACCES first).
    if (p === "/") throw new XenError("EINVAL", "rm: cannot remove /");
    this.#remove(p);
  }

  /**
   * `XS_DIRECTORY`: names of the children of `path`, oldest first, as C
   * xenstored keeps them (`add_child` in `tools/xenstored/core.c` appends a
   * new child to the parent's list, `delete_child` removes it in place: a
   * child made again comes last), and `send_directory` returns the list.
   */
  directory(caller: number, path: string): string[] {
    const p = this.#path(caller, path, "directory");
    return [...this.#need(caller, p, R, "directory").children];
  }

  /** `XS_GET_PERMS`: a copy of the permission list of `path`. */
  getPerms(caller: number, path: string): XsPerm[] {
    const p = this.#path(caller, path, "get_perms");
    return this.#need(caller, p, R, "get_perms").perms.map((x) => ({ ...x }));
  }

  /**
   * `XS_SET_PERMS`: replace the permission list of `path`. Only its owner
   * or dom0 may; only dom0 may give the node to another owner. `path` may be
   * a special node, `@introduceDomain` or `@releaseDomain`: its list decides
   * who hears its events.
   */
  setPerms(caller: number, path: string, perms: XsPerm[]): void {
    // xs_set_permissions(): each entry becomes a string (EINVAL for one it cannot write) before
    // the message, path\0 then "<letter><domid>\0" per entry, is sized and sent.
    this.#connected(caller, "set_perms");
    const list = checkPerms(perms, typeof path === "string" ? path.slice(0, 64) : show(path));
    const strs = list.map((x) => `${x.perm}${x.domid}`);
    const nuls = strs.map(() => 1);
    if (typeof path === "string") {
      this.#fits("set_perms", path, payloadBytes([path, ...strs], [1, ...nuls]));
    }
    // do_set_perms() (xenstored 4.17): the quota before the node's name is checked (EINVAL)
    // or looked up (so it is no oracle).
    if (caller !== 0 && list.length > MAX_PERMS_PER_NODE) {
      throw new XenError(
        "ENOSPC",
        `set_perms ${String(path).slice(0, 64)}: ${list.length} permissions, more than ` +
          `${MAX_PERMS_PER_NODE} a node may have`,
      );
    }
    const p = this.#path(caller, path, "set_perms", true, strs, nuls);
    if (p.startsWith("@")) {
      this.#setSpecialPerms(caller, p, list);
      return;
    }
    const n = this.#need(caller, p, W, "set_perms");
    if (caller !== 0 && n.perms[0].domid !== caller) {
      throw new XenError("EACCES", `set_perms ${p}: dom${caller} does not own the node`);
    }
    if (caller !== 0 && list[0].domid !== caller) {
      throw new XenError("EPERM", `set_perms ${p}: dom${caller} may not give the node away`);
    }
    this.#fitsEntry(caller, "set_perms", p, list, n.value, n.children);
    this.#count(n.perms[0].domid, -1);
    this.#count(list[0].domid, +1);
    const old = n.perms;
    n.perms = list;
    this.#fire(p, list, old);
  }

  /**
   * `XS_SET_PERMS` of a special node (xenstored 4.17 `do_set_perms` → `set_perms_special`,
   * `tools/xenstore/xenstored_domain.c`): EINVAL for an `@` path other than
   * `@introduceDomain` and `@releaseDomain`; EACCES unless the caller has
   * `XS_PERM_WRITE | XS_PERM_OWNER` on the node (dom0, or the owner dom0 gave it to). The new
   * list decides who hears the node's later events (`check_perms_special`); no watch fires.
   */
  #setSpecialPerms(caller: number, p: string, list: XsPerm[]): void {
    const old = this.#special.get(p);
    if (!old) {
      throw new XenError(
        "EINVAL",
        `set_perms ${p.slice(0, 64)}: no such special node ` +
          `(${XS_INTRODUCE_DOMAIN}, ${XS_RELEASE_DOMAIN})`,
      );
    }
    if (caller !== 0 && old[0].domid !== caller) {
      throw new XenError("EACCES", `set_perms ${p}: dom${caller} does not own the node`);
    }
    this.#special.set(p, list);
  }

  /**
   * `XS_WATCH`: call `cb(path, token)` on changes at or below `path`, and
   * once now. A relative `path` gets relative event paths.
   */
  watch(caller: number, path: string, token: string, cb: XsWatchCallback): void {
    // XS_WATCH is path\0 token\0 (xs_watch). The token is kept as long as the watch: without
    // the message's limit a guest's 129 watches could hold gigabytes of dom0's memory.
    const p = this.#path(caller, path, "watch", true, typeof token === "string" ? [token] : [], [
      1,
    ]);
    if (typeof token !== "string" || typeof cb !== "function") {
      throw new XenError("EINVAL", `watch ${p}: token must be a string and cb a function`);
    }
    if (this.#watches.some((w) => w.domid === caller && w.path === p && w.token === token)) {
      throw new XenError("EEXIST", `watch ${p}: dom${caller} already watches it with that token`);
    }
    // xenstored 4.17 xenstored_watch.c do_watch(): "domain_watch(conn) > quota_nb_watch_per_domain"
    // (the count before this watch is added): quota + 1 watches fit.
    if (caller !== 0 && this.watchesOf(caller) > this.#maxWatches) {
      throw new XenError(
        "E2BIG",
        `watch ${p}: dom${caller} has ${this.watchesOf(caller)} watches, past its quota of ` +
          `${this.#maxWatches}`,
      );
    }
    const w: Watch = { domid: caller, path: p, token, cb, relative: !path.startsWith("/") };
    this.#watches.push(w);
    this.#queue.push({ w, path: p });
    this.#deliver();
  }

  /** `XS_UNWATCH`: remove a watch registered with the same path and token. */
  unwatch(caller: number, path: string, token: string): void {
    const p = this.#path(
      caller,
      path,
      "unwatch",
      true,
      typeof token === "string" ? [token] : [],
      [1],
    );
    const i = this.#watches.findIndex((w) =>
      w.domid === caller && w.path === p && w.token === token
    );
    if (i < 0) throw new XenError("ENOENT", `unwatch ${p}: no such watch for dom${caller}`);
    const [w] = this.#watches.splice(i, 1);
    this.#queue = this.#queue.filter((e) => e.w !== w);
  }

  // ---- internals ----

  /** ESRCH unless `caller` is a connected domain. */
  #connected(caller: number, op: string): void {
    if (!this.#conns.has(caller)) {
      throw new XenError("ESRCH", `${op}: caller ${show(caller)} is not a connected domain`);
    }
  }

  /**
   * The canonical `path` of an `op` by `caller`, whose message is `path\0` and then `msg[i]`
   * with `nuls[i]` NULs each: ESRCH for a caller not connected, E2BIG for a message longer than
   * {@link XENSTORE_PAYLOAD_MAX}, then EINVAL for a path xenstored refuses. The size comes
   * first: libxenstore's `xs_talkv` (and Linux's, `drivers/xen/xenbus/xenbus_xs.c`) refuse such
   * a message before it is sent, whatever it says.
   */
  #path(
    caller: number,
    path: string,
    op: string,
    special = false,
    msg: readonly string[] = [],
    nuls: readonly number[] = [],
  ): string {
    this.#connected(caller, op);
    if (typeof path !== "string" || path.length === 0) {
      throw new XenError("EINVAL", `${op}: path ${show(path)} is not a non-empty string`);
    }
    this.#fits(op, path, payloadBytes([path, ...msg], [1, ...nuls]));
    if (path.startsWith("@")) {
      // xenstored check_watch_path: a watch may name any "@…" event up to
      // XENSTORE_REL_PATH_MAX bytes; other operations need a "/" path.
      if (special && path.length <= XENSTORE_REL_PATH_MAX) return path;
      throw new XenError("EINVAL", `${op}: ${show(path)} is not a valid special path here`);
    }
    const full = path.startsWith("/") ? path : `/local/domain/${caller}/${path}`;
    // xenstored is_valid_nodename(): past a leading "/local/domain/<domid>/" (sscanf
    // "%5u/"), or past "/" elsewhere, at most quota_max_path_len = XENSTORE_REL_PATH_MAX
    // bytes, for an absolute path as for a relative one.
    const local = LOCAL_PREFIX.exec(full)?.[0].length ?? 0;
    if (full.length > local + XENSTORE_REL_PATH_MAX) {
      throw new XenError(
        "EINVAL",
        `${op}: path longer than ${XENSTORE_REL_PATH_MAX} bytes past ${
          local ? full.slice(0, local) : "/"
        }`,
      );
    }
    if (
      full.length > XENSTORE_ABS_PATH_MAX || !VALID.test(full) || full.includes("//") ||
      (full.length > 1 && full.endsWith("/"))
    ) {
      throw new XenError("EINVAL", `${op}: malformed path ${show(path)}`);
    }
    return full;
  }

  #fits(op: string, p: string, bytes: number): void {
    if (bytes > XENSTORE_PAYLOAD_MAX) {
      throw new XenError(
        "E2BIG",
        `${op} ${p.slice(0, 64)}: the message is longer than XENSTORE_PAYLOAD_MAX ` +
          `(${XENSTORE_PAYLOAD_MAX} bytes)`,
      );
    }
  }

  #rights(caller: number, n: Node): number {
    return this.#permRights(caller, n.perms);
  }

  /** What `caller` may do under permission list `perms` (xenstored perm_for_conn). */
  #permRights(caller: number, perms: XsPerm[]): number {
    if (caller === 0 || perms[0].domid === caller) return R | W;
    const own = perms.find((x, i) => i > 0 && x.domid === caller);
    const letter = (own ?? perms[0]).perm;
    return letter === "b" ? R | W : letter === "r" ? R : letter === "w" ? W : 0;
  }

  #need(caller: number, p: string, right: number, op: string): Node {
    const n = this.#nodes.get(p);
    if (!n) throw this.#absent(caller, p, right, op);
    if ((this.#rights(caller, n!) & right) === 0) throw this.#denied(caller, p, right, op);
    return n!;
  }

  /**
   * The refusal for a `p` that does not exist: ENOENT only if the nearest node above it grants the caller `right`,
   * else the EACCES an existing node would give. This is xenstored's `errno_from_parents`
   * (`tools/xenstore/xenstored_core.c`: "If it's going to fail, however, we don't want the
   * errno to indicate any information about the node"): without it, ENOENT against EACCES
   * tells a guest which domains, devices and backend nodes exist under paths it may not read.
   */
  #absent(caller: number, p: string, right: number, op: string): XenError {
    const anc = this.#nodes.get(this.#nearest(p))!;
    if ((this.#rights(caller, anc) & right) === 0) return this.#denied(caller, p, right, op);
    return new XenError("ENOENT", `${op} ${p}: no such node`);
  }

  #denied(caller: number, p: string, right: number, op: string): XenError {
    return new XenError(
      "EACCES",
      `${op} ${p}: dom${caller} may not ${right === R ? "read" : "write"} it`,
    );
  }

  /** The nearest existing node at or above `p`. */
  #nearest(p: string): string {
    let anc = p;
    while (!this.#nodes.has(anc)) anc = parentOf(anc);
    return anc;
  }

  #create(caller: number, p: string, value: string, op: string): void {
    const missing: string[] = [];
    let anc = p;
    while (!this.#nodes.has(anc)) {
      missing.push(anc);
      anc = parentOf(anc);
    }
    const base = this.#need(caller, anc, W, op);
    if (caller !== 0 && this.nodesOwnedBy(caller) + missing.length > this.#maxNodes) {
      throw new XenError("ENOSPC", `${op} ${p}: dom${caller} would exceed ${this.#maxNodes} nodes`);
    }
    const perms = base.perms.map((x) => ({ ...x }));
    if (caller !== 0) perms[0] = { domid: caller, perm: perms[0].perm };
    // create_node() writes each new node (the new leaf with the value, each new parent with its
    // one child's name) and the existing ancestor that gains a child: each within the quota.
    const name = (q: string) => q.slice(q.lastIndexOf("/") + 1);
    for (let i = 0; i < missing.length; i++) {
      this.#fitsEntry(
        caller,
        op,
        p,
        perms,
        i === 0 ? value : "",
        i === 0 ? [] : [
          name(missing[i - 1]),
        ],
      );
    }
    this.#fitsEntry(caller, op, p, base.perms, base.value, [
      ...base.children,
      name(missing[missing.length - 1]),
    ]);
    for (let i = missing.length - 1; i >= 0; i--) {
      this.#put(missing[i], i === 0 ? value : "", perms.map((x) => ({ ...x })));
    }
  }

  /**
   * ENOSPC if an unprivileged `caller` would leave a node record (perms,
   * value, children) of `quota_max_entry_size` bytes or more
   * (`write_node_raw`: `sizeof(struct xs_tdb_record_hdr)` is 24, a
   * `struct xs_permissions` 8, each child name ends in a NUL).
   */
  #fitsEntry(
    caller: number,
    op: string,
    p: string,
    perms: readonly XsPerm[],
    value: string,
    children: Iterable<string>,
  ): void {
    if (caller === 0) return;
    let bytes = 24 + 8 * perms.length + UTF8.encode(value).length;
    for (const c of children) bytes += c.length + 1; // names are ASCII (VALID)
    if (bytes >= this.#maxEntry) {
      throw new XenError(
        "ENOSPC",
        `${op} ${
          p.slice(0, 64)
        }: a node record of ${bytes} bytes; the quota is under ${this.#maxEntry}`,
      );
    }
  }

  #put(p: string, value: string, perms: XsPerm[]): void {
    const old = this.#nodes.get(p);
    if (old) {
      this.#count(old.perms[0].domid, -1);
      old.value = value;
      old.perms = perms;
    } else {
      this.#nodes.set(p, { value, perms, children: new Set() });
      if (p !== "/") this.#nodes.get(parentOf(p))!.children.add(p.slice(p.lastIndexOf("/") + 1));
    }
    this.#count(perms[0].domid, +1);
  }

  #count(domid: number, d: number): void {
    const n = (this.#owned.get(domid) ?? 0) + d;
    if (n === 0) this.#owned.delete(domid);
    else this.#owned.set(domid, n);
  }

  #remove(p: string): void {
    // xenstored rm_node(): walk_node_tree with .exit = delnode_sub deletes the subtree children
    // first, firing each node as it goes (while its permissions and parent can still be read):
    // a node below `p` only to a watch on exactly it (watch_exact), `p` to any watch on it or
    // above. A watch inside the subtree where there is no node hears nothing.
    const removed: [string, Node][] = [];
    const walk = (q: string, node: Node) => {
      for (const c of node.children) {
        const child = `${q === "/" ? "" : q}/${c}`;
        walk(child, this.#nodes.get(child)!);
      }
      removed.push([q, node]);
    };
    walk(p, this.#nodes.get(p)!);
    for (const [q, node] of removed) this.#queueEvents(q, node.perms, undefined, q !== p);
    for (const [q, node] of removed) {
      this.#nodes.delete(q);
      this.#count(node.perms[0].domid, -1);
    }
    this.#nodes.get(parentOf(p))?.children.delete(p.slice(p.lastIndexOf("/") + 1));
    this.#deliver();
  }

  /** A change to node `p` (its permissions `perms`; before a set_perms, `old`): its events, delivered. */
  #fire(p: string, perms: XsPerm[], old?: XsPerm[]): void {
    this.#queueEvents(p, perms, old, false);
    this.#deliver();
  }

  /**
   * Queue the events of a change to node `p` (xenstored fire_watches): to each
   * watch on `p` or above it (only on `p` itself when `exact`) of a domain
   * that may read the node's old permissions, the node, or its parent
   * (xenstored_watch.c watch_permitted).
   */
  #queueEvents(p: string, perms: XsPerm[], old: XsPerm[] | undefined, exact: boolean): void {
    const parent = p === "/" ? undefined : this.#nodes.get(parentOf(p));
    const reads = (domid: number, list: XsPerm[] | undefined) =>
      list !== undefined && (this.#permRights(domid, list) & R) !== 0;
    for (const w of this.#watches) {
      if (w.path.startsWith("@")) continue;
      const on = exact
        ? w.path === p
        : w.path === p || w.path === "/" || p.startsWith(w.path + "/");
      if (!on) continue;
      if (!reads(w.domid, old) && !reads(w.domid, perms) && !reads(w.domid, parent?.perms)) {
        continue;
      }
      this.#queue.push({ w, path: p });
    }
  }

  #fireSpecial(path: string): void {
    // xenstored_watch.c fire_watches(): a special event reaches a connection only if the
    // special node's permissions let it read (check_perms_special; dom0 alone by default,
    // others as dom0's set_perms gave), and then each of its watches on the node or on "/"
    // (is_child: "/" is the parent of every path, "@…" ones included).
    const perms = this.#special.get(path)!;
    for (const w of this.#watches) {
      if (w.path !== path && w.path !== "/") continue;
      if ((this.#permRights(w.domid, perms) & R) === 0) continue;
      this.#queue.push({ w, path });
    }
    this.#deliver();
  }

  #deliver(): void {
    if (this.#delivering) return;
    this.#delivering = true;
    try {
      let e;
      while ((e = this.#queue.shift())) {
        const home = `/local/domain/${e.w.domid}/`;
        const path = e.w.relative && e.path.startsWith(home) ? e.path.slice(home.length) : e.path;
        this.watchEvents++;
        // xenstored sends a guest its watch event as a message on the guest's own connection:
        // whatever the guest's handler does with it (throw, reject) stays in that guest. Only
        // dom0's handlers (the toolstack's and the backends' own code) report to onWatchError.
        const guest = e.w.domid !== 0;
        try {
          const r: unknown = e.w.cb(path, e.w.token);
          if (guest && r instanceof Promise) r.catch(this.#guestWatchFailed);
        } catch (err) {
          if (guest) this.#guestWatchFailed();
          else this.#onWatchError(err);
        }
      }
    } finally {
      this.#delivering = false;
    }
  }
}

function parentOf(p: string): string {
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}

/**
 * The caller's permission list, copied: every length and field is read once, so what is
 * checked is what is kept (xenstored parses the request it copied off the ring; the caller's
 * list here could be an object whose reads change between a check and the copy).
 */
function checkPerms(perms: unknown, p: string): XsPerm[] {
  const n = Array.isArray(perms) ? perms.length : 0;
  if (!(n >= 1 && n <= 64)) {
    throw new XenError("EINVAL", `set_perms ${p}: need a list of 1..64 permissions`);
  }
  const out: XsPerm[] = [];
  for (let i = 0; i < n; i++) {
    const x = (perms as unknown[])[i];
    const e = (typeof x === "object" && x !== null ? x : {}) as Record<string, unknown>;
    const domid = intArg(e.domid, 0, DOMID_FIRST_RESERVED - 1, `set_perms ${p}: domid`);
    const perm = e.perm;
    if (perm !== "n" && perm !== "r" && perm !== "w" && perm !== "b") {
      throw new XenError("EINVAL", `set_perms ${p}: perm ${show(perm)} is not n/r/w/b`);
    }
    out.push({ domid, perm });
  }
  return out;
}

import assert from "node:assert/strict";
import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
import {
  Hypervisor,
  XenError,
  XenStore,
  XENSTORE_ABS_PATH_MAX,
  XENSTORE_PAYLOAD_MAX,
  XENSTORE_REL_PATH_MAX,
  XS_INTRODUCE_DOMAIN,
  XS_RELEASE_DOMAIN,
  type XsPerm,
} from "../hypervisor/mod.ts";
import { throwsXen } from "./support/xen.ts";
import { cTest } from "./support/cc.ts";

/** A store with dom0, dom1, dom2 connected. */
function store(opts = {}): XenStore {
  const xs = new XenStore(opts);
  xs.introduceDomain(0, "Domain-0");
  xs.introduceDomain(1, "vm1");
  xs.introduceDomain(2, "vm2");
  return xs;
}

function recorder(): { log: string[]; cb: (p: string, t: string) => void } {
  const log: string[] = [];
  return { log, cb: (p, t) => log.push(`${t}:${p}`) };
}

Deno.test("xenstore: a domain's home exists from creation and goes at teardown", async () => {
  const engine = new Engine();
  const hv = new Hypervisor(engine, new MachineMemory(128 << 20), PCIX_SDR_2006, new Prng(3));
  const xs = hv.xenstore;
  const events = recorder();
  xs.watch(0, XS_INTRODUCE_DOMAIN, "intro", events.cb);
  xs.watch(0, XS_RELEASE_DOMAIN, "rel", events.cb);
  await engine.run(async () => {
    const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 16 << 20 });
    const home = `/local/domain/${vm.domid}`;
    assert.equal(xs.read(vm.domid, "name"), "vm");
    assert.equal(xs.read(0, `${home}/domid`), String(vm.domid));
    assert.deepEqual(xs.directory(0, home), ["name", "domid", "device", "control", "data"]);
    throwsXen(() => xs.write(vm.domid, "name", "evil"), "EACCES");
    throwsXen(() => xs.write(vm.domid, "newtop", "x"), "EACCES");
    xs.write(vm.domid, "device/vib/0/state", "1");
    assert.equal(xs.read(0, `${home}/device/vib/0/state`), "1");
    xs.watch(vm.domid, "device", "mine", () => {});
    assert.equal(xs.watchesOf(vm.domid), 1);
    await hv.destroyDomain(hv.dom0, vm.domid);
    assert.equal(xs.exists(0, home), false);
    assert.equal(xs.watchesOf(vm.domid), 0);
    assert.equal(xs.nodesOwnedBy(vm.domid), 0);
    throwsXen(() => xs.read(vm.domid, "name"), "ESRCH");
  });
  assert.deepEqual(events.log, [
    `intro:${XS_INTRODUCE_DOMAIN}`,
    `rel:${XS_RELEASE_DOMAIN}`,
    `intro:${XS_INTRODUCE_DOMAIN}`,
    `rel:${XS_RELEASE_DOMAIN}`,
  ]);
});

Deno.test("xenstore: permissions — owner, default, per-domain entries, dom0 sees all", () => {
  const xs = store();
  xs.write(1, "data/secret", "s");
  throwsXen(() => xs.read(2, "/local/domain/1/data/secret"), "EACCES");
  throwsXen(() => xs.directory(2, "/local/domain/1/data"), "EACCES");
  throwsXen(() => xs.write(2, "/local/domain/1/data/secret", "x"), "EACCES");
  throwsXen(() => xs.rm(2, "/local/domain/1/data/secret"), "EACCES");
  assert.equal(xs.read(0, "/local/domain/1/data/secret"), "s");
  // The creator owns what it created, inheriting the rest of its parent's list.
  assert.deepEqual(xs.getPerms(1, "data/secret"), [{ domid: 1, perm: "n" }]);

  xs.setPerms(1, "data/secret", [{ domid: 1, perm: "n" }, { domid: 2, perm: "r" }]);
  assert.equal(xs.read(2, "/local/domain/1/data/secret"), "s");
  throwsXen(() => xs.write(2, "/local/domain/1/data/secret", "x"), "EACCES");
  xs.setPerms(1, "data/secret", [{ domid: 1, perm: "b" }]);
  xs.write(2, "/local/domain/1/data/secret", "from2"); // default b
  assert.equal(xs.read(1, "data/secret"), "from2");
  throwsXen(
    () => xs.setPerms(2, "/local/domain/1/data/secret", [{ domid: 2, perm: "n" }]),
    "EACCES",
  );
  throwsXen(() => xs.setPerms(1, "data/secret", [{ domid: 2, perm: "n" }]), "EPERM");
  throwsXen(() => xs.setPerms(1, "data/secret", []), "EINVAL");
  throwsXen(() => xs.setPerms(1, "data/secret", [{ domid: 1, perm: "x" as "n" }]), "EINVAL");
  throwsXen(() => xs.setPerms(1, "data/secret", [{ domid: -1, perm: "n" }]), "EINVAL");
  throwsXen(() => xs.setPerms(1, "data/nope", [{ domid: 1, perm: "n" }]), "ENOENT");
  // dom0 may give a node away.
  xs.setPerms(0, "/local/domain/1/data/secret", [{ domid: 2, perm: "n" }]);
  assert.equal(xs.nodesOwnedBy(2), 3 + 1, "its own three directories and the gift");
  throwsXen(() => xs.read(1, "data/secret"), "EACCES");
  assert.equal(xs.read(2, "/local/domain/1/data/secret"), "from2");
});

Deno.test("xenstore: backend-style layout — dom0 writes, then shares read access with the frontend", () => {
  const xs = store();
  const be = "/local/domain/0/backend/vib/1/0";
  xs.write(0, `${be}/state`, "1");
  throwsXen(() => xs.read(1, `${be}/state`), "EACCES");
  xs.setPerms(0, be, [{ domid: 0, perm: "n" }, { domid: 1, perm: "r" }]);
  xs.setPerms(0, `${be}/state`, [{ domid: 0, perm: "n" }, { domid: 1, perm: "r" }]);
  assert.equal(xs.read(1, `${be}/state`), "1");
  assert.deepEqual(xs.directory(1, be), ["state"]);
  // New nodes dom0 creates under it inherit the parent's list.
  xs.write(0, `${be}/uar-mfn`, "4242");
  assert.equal(xs.read(1, `${be}/uar-mfn`), "4242");
  throwsXen(() => xs.write(1, `${be}/state`, "6"), "EACCES");
});

Deno.test("xenstore: watches fire on registration, on the node and below, and on removal", () => {
  const xs = store();
  const w = recorder();
  xs.watch(0, "/local/domain/1/device", "dev", w.cb);
  assert.deepEqual(w.log, ["dev:/local/domain/1/device"], "fires once when set");
  xs.write(1, "device/vib/0/state", "1");
  xs.write(1, "data/other", "x"); // sibling: no event
  xs.mkdir(1, "device/vib/1");
  xs.mkdir(1, "device/vib/1"); // exists: no event
  assert.deepEqual(w.log.slice(1), [
    "dev:/local/domain/1/device/vib/0/state",
    "dev:/local/domain/1/device/vib/1",
  ]);

  const inner = recorder();
  xs.watch(0, "/local/domain/1/device/vib/0/state", "st", inner.cb);
  w.log.length = 0;
  inner.log.length = 0;
  xs.rm(1, "device/vib");
  assert.deepEqual(w.log, ["dev:/local/domain/1/device/vib"]);
  assert.deepEqual(
    inner.log,
    ["st:/local/domain/1/device/vib/0/state"],
    "watch inside the subtree fires",
  );
  assert.equal(xs.exists(0, "/local/domain/1/device/vib/0"), false);
  xs.rm(1, "device/vib"); // already gone, parent exists: ok
  throwsXen(() => xs.rm(1, "device/vib/0/state"), "ENOENT");

  xs.unwatch(0, "/local/domain/1/device", "dev");
  w.log.length = 0;
  xs.write(1, "device/x", "1");
  assert.deepEqual(w.log, []);
  throwsXen(() => xs.unwatch(0, "/local/domain/1/device", "dev"), "ENOENT");
});

Deno.test("xenstore: relative watches get relative paths; unreadable nodes are not reported", () => {
  const xs = store();
  const mine = recorder();
  xs.watch(1, "device", "t", mine.cb);
  xs.write(1, "device/a", "1");
  assert.deepEqual(mine.log, ["t:device", "t:device/a"]);

  const spy = recorder();
  xs.watch(2, "/local/domain/1", "spy", spy.cb); // registration succeeds and fires
  xs.write(1, "data/secret", "s");
  assert.deepEqual(spy.log, ["spy:/local/domain/1"], "dom2 cannot read dom1's data: no event");
  xs.setPerms(1, "data/secret", [{ domid: 1, perm: "n" }, { domid: 2, perm: "r" }]);
  assert.deepEqual(spy.log.slice(1), ["spy:/local/domain/1/data/secret"]);
});

Deno.test("xenstore: callbacks may write; their events are queued and delivered in order", () => {
  const xs = store();
  const order: string[] = [];
  xs.watch(0, "/local/domain/1/device/state", "fe", (p) => {
    order.push(`fe ${p}`);
    if (xs.exists(0, p) && xs.read(0, p) === "1") {
      xs.write(0, "/local/domain/0/backend/state", "2");
      order.push("fe-cb done");
    }
  });
  xs.watch(0, "/local/domain/0/backend/state", "be", (p) => order.push(`be ${p}`));
  order.length = 0;
  xs.write(1, "device/state", "1");
  assert.deepEqual(order, [
    "fe /local/domain/1/device/state",
    "fe-cb done",
    "be /local/domain/0/backend/state",
  ]);
});

Deno.test("xenstore: callback exceptions go to onWatchError and do not break the writer", () => {
  const errors: unknown[] = [];
  const xs = store({ onWatchError: (e: unknown) => errors.push(e) });
  xs.watch(0, "/local/domain/1/data", "boom", (p) => {
    if (p.endsWith("/x")) throw new Error("bug in a watcher");
  });
  xs.write(1, "data/x", "1");
  assert.equal(xs.read(1, "data/x"), "1");
  assert.equal(errors.length, 1);
});

Deno.test("xenstore: refusals — paths, missing nodes, connections, quotas, duplicates", () => {
  const xs = store({ maxNodesPerDomain: 10, maxWatchesPerDomain: 2, maxEntryBytes: 49 });
  for (const bad of ["", "/a//b", "/a/", "/a b", "/a.b", "@other", "/" + "x".repeat(3100)]) {
    throwsXen(() => xs.write(1, bad, "v"), "EINVAL");
  }
  // Relative paths have their own, shorter limit (xenstore's XENSTORE_REL_PATH_MAX).
  throwsXen(() => xs.write(1, "x".repeat(XENSTORE_REL_PATH_MAX + 1), "v"), "EINVAL");
  throwsXen(() => xs.read(1, 42 as unknown as string), "EINVAL");
  throwsXen(() => xs.write(1, "data/v", 7 as unknown as string), "EINVAL");
  throwsXen(() => xs.read(1, "data/missing"), "ENOENT");
  throwsXen(() => xs.directory(1, "data/missing"), "ENOENT");
  throwsXen(() => xs.rm(0, "/"), "EINVAL");
  // do_rm(): the node is looked up with XS_PERM_WRITE first; only then is "/" refused.
  throwsXen(() => xs.rm(1, "/"), "EACCES");
  throwsXen(() => xs.read(7, "/local"), "ESRCH");
  throwsXen(() => xs.write(1, "data/big", "x".repeat(17)), "ENOSPC");
  xs.write(0, "/tool/big", "x".repeat(17)); // dom0 is not subject to quotas
  // dom1 owns device, control, data: 7 more nodes fit, the 8th does not.
  xs.write(1, "data/a/b/c/d/e/f/g", "1");
  throwsXen(() => xs.write(1, "data/h", "1"), "ENOSPC");
  xs.rm(1, "data/a");
  xs.write(1, "data/h", "1");

  xs.watch(1, "data", "t1", () => {});
  throwsXen(() => xs.watch(1, "data", "t1", () => {}), "EEXIST");
  xs.watch(1, "data", "t2", () => {});
  // xenstored 4.17 do_watch(): "domain_watch(conn) > quota_nb_watch_per_domain" is checked with
  // the watches held before this one: at the quota (2) one more fits, the next is E2BIG.
  xs.watch(1, "data", "t3", () => {});
  assert.equal(xs.watchesOf(1), 3);
  throwsXen(() => xs.watch(1, "data", "t4", () => {}), "E2BIG");
  assert.equal(xs.watchesOf(1), 3, "nothing kept");
  xs.unwatch(1, "data", "t2");
  xs.unwatch(1, "data", "t3");
  // Any domain may watch a special path (xenstored check_watch_path): it gets the
  // registration's event, and no later one (the special node's default permissions).
  const guestSeen: string[] = [];
  xs.watch(1, XS_RELEASE_DOMAIN, "r", (path) => guestSeen.push(path));
  xs.introduceDomain(9, "vm9");
  xs.releaseDomain(9);
  assert.deepEqual(guestSeen, [XS_RELEASE_DOMAIN]);
  xs.watch(0, "@bogus", "r", () => {}); // accepted, never fires
  throwsXen(() => xs.watch(0, "@" + "x".repeat(XENSTORE_REL_PATH_MAX), "r", () => {}), "EINVAL");
  throwsXen(() => xs.read(0, "@bogus"), "EINVAL");
  throwsXen(() => xs.watch(0, "/x", 5 as unknown as string, () => {}), "EINVAL");
  throwsXen(() => xs.introduceDomain(1, "again"), "EEXIST");
});

Deno.test("xenstore: another domain's nodes give EACCES for mkdir and oversized writes — no existence or size oracle", () => {
  const xs = store({ maxEntryBytes: 49 });
  xs.write(2, "data/secret", "v");
  // Regression (found by deno task fuzz): mkdir of an existing node was a silent success for
  // anyone, and a write's size was checked before its permission.
  throwsXen(() => xs.mkdir(1, "/local/domain/2/data/secret"), "EACCES");
  throwsXen(() => xs.write(1, "/local/domain/2/data/secret", "x".repeat(17)), "EACCES");
  throwsXen(() => xs.write(1, "/local/domain/2/data/new", "x".repeat(17)), "EACCES");
  xs.mkdir(2, "data/secret"); // its owner may: a no-op
  throwsXen(() => xs.write(2, "data/secret", "x".repeat(17)), "ENOSPC");
  assert.equal(xs.read(2, "data/secret"), "v");
});

Deno.test("xenstore: write creates missing parents; directory lists children oldest first; rm keeps counts right", () => {
  const xs = store();
  const before = xs.size;
  xs.write(1, "device/vib/0/ring-ref", "8");
  xs.write(1, "device/vib/0/event-channel", "3");
  xs.write(1, "device/vib/0/a", "");
  // C xenstored: add_child appends to the parent's child list, delete_child removes in place,
  // send_directory returns the list as it stands. Rewriting a node keeps its place.
  assert.deepEqual(xs.directory(1, "device/vib/0"), ["ring-ref", "event-channel", "a"]);
  xs.write(1, "device/vib/0/ring-ref", "9");
  xs.rm(1, "device/vib/0/event-channel");
  xs.write(1, "device/vib/0/event-channel", "4");
  xs.mkdir(1, "device/vib/0/0");
  assert.deepEqual(xs.directory(1, "device/vib/0"), ["ring-ref", "a", "event-channel", "0"]);
  // The daemon's own nodes first (setup_structure), then the toolstack's.
  assert.deepEqual(xs.directory(0, "/"), ["tool", "local"]);
  assert.deepEqual(xs.directory(0, "/tool"), ["xenstored"]);
  assert.equal(xs.read(1, "device/vib"), "");
  assert.equal(xs.size, before + 6);
  assert.equal(xs.nodesOwnedBy(1), 3 + 6);
  xs.rm(1, "device/vib");
  assert.equal(xs.size, before);
  assert.equal(xs.nodesOwnedBy(1), 3);
});

await cTest(
  "xenstore ABI: path limits equal xs_wire.h's, and every refusal to a connected domain is in xsd_errors",
  { headers: ["xen/io/xs_wire.h"], install: "libxen-dev" },
  async (c) => {
    const out = await c.run(String.raw`
#include <stdio.h>
#include <stdint.h>
#include <errno.h>
#include <xen/io/xs_wire.h>
int main(void) {
  printf("%d %d %d\n", XENSTORE_ABS_PATH_MAX, XENSTORE_REL_PATH_MAX, XENSTORE_PAYLOAD_MAX);
  for (size_t i = 0; i < sizeof xsd_errors / sizeof xsd_errors[0]; i++)
    printf("%s %d\n", xsd_errors[i].errstring, xsd_errors[i].errnum);
  return 0;
}`);
    const [limits, ...errs] = out.trim().split("\n");
    assert.equal(limits, `${XENSTORE_ABS_PATH_MAX} ${XENSTORE_REL_PATH_MAX} 4096`);
    const wire = new Map(errs.map((l) => [l.split(" ")[0], Number(l.split(" ")[1])]));
    assert.ok(wire.has("EINVAL") && wire.has("EACCES"));

    // Hostile arguments from a guest (and dom0), every operation: what comes back
    // must be an error xenstored can put on the wire, with the same number.
    const xs = store({ maxNodesPerDomain: 8, maxWatchesPerDomain: 2, maxEntryBytes: 49 });
    xs.write(2, "data/secret", "v");
    xs.setPerms(2, "data/secret", [{ domid: 2, perm: "n" }]);
    const paths: unknown[] = [
      "",
      "/",
      "/a//b",
      "/a/",
      "/a b",
      "@x",
      "@introduceDomain",
      "data", // the caller's own: giving it away is EPERM
      "/local/domain/2/data/secret",
      "/local/domain/2/data/missing/deeper",
      "data/" + "x".repeat(XENSTORE_REL_PATH_MAX),
      "/" + "x".repeat(XENSTORE_ABS_PATH_MAX),
      42,
      null,
    ];
    const values: unknown[] = ["v", "x".repeat(17), 7, undefined];
    const perms: unknown[] = [[], [{ domid: 2, perm: "b" }], [{ domid: 1, perm: "q" }], "perm"];
    const seen = new Set<string>();
    const attempt = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        assert.ok(e instanceof XenError, String(e));
        assert.equal(wire.get(e.code), e.errno, `${e.message}: not an xsd_errors entry`);
        seen.add(e.code);
      }
    };
    for (const caller of [1, 0]) {
      for (const p of paths as string[]) {
        attempt(() => xs.read(caller, p));
        attempt(() => xs.exists(caller, p));
        attempt(() => xs.directory(caller, p));
        attempt(() => xs.getPerms(caller, p));
        attempt(() => xs.mkdir(caller, p));
        for (const v of values) attempt(() => xs.write(caller, p, v as string));
        for (const q of perms) attempt(() => xs.setPerms(caller, p, q as XsPerm[]));
        for (let i = 0; i < 3; i++) attempt(() => xs.watch(caller, p, "t", () => {}));
        attempt(() => xs.watch(caller, p, 5 as unknown as string, () => {}));
        attempt(() => xs.unwatch(caller, p, "nope"));
        attempt(() => xs.rm(caller, p));
      }
      for (let i = 0; i < 10; i++) attempt(() => xs.write(caller, `data/n${i}`, "v"));
    }
    // Not vacuous: the refusals of the module doc occurred.
    for (const code of ["EINVAL", "ENOENT", "EACCES", "EEXIST", "ENOSPC", "E2BIG", "EPERM"]) {
      assert.ok(seen.has(code), `no ${code} seen`);
    }
  },
);

Deno.test("xenstore: a watch event reaches a domain that may read the node, its old permissions or its parent (watch_permitted)", () => {
  // xenstored_watch.c watch_permitted(): the event is sent if the watcher may read the node's old
  // permissions (set_perms passes them: "a watcher losing permissions to access a node should
  // receive the watch event, too"), the node, or the node's parent.
  const xs = store();
  const w = recorder();
  xs.watch(1, "data", "mine", w.cb); // dom1 owns its data directory
  xs.write(0, "/local/domain/1/data/secret", "v");
  xs.setPerms(0, "/local/domain/1/data/secret", [{ domid: 0, perm: "n" }]);
  throwsXen(() => xs.read(1, "data/secret"), "EACCES");
  w.log.length = 0;
  xs.write(0, "/local/domain/1/data/secret", "w"); // the node is not dom1's to read; its parent is
  assert.deepEqual(w.log, ["mine:data/secret"]);
  w.log.length = 0;
  xs.write(0, "/local/domain/1/data/secret/deeper", "x"); // neither node nor parent readable
  assert.deepEqual(w.log, []);

  const spy = recorder();
  xs.write(0, "/x/a", "1");
  xs.setPerms(0, "/x/a", [{ domid: 0, perm: "n" }, { domid: 2, perm: "r" }]);
  xs.watch(2, "/x/a", "t", spy.cb);
  xs.setPerms(0, "/x/a", [{ domid: 0, perm: "n" }]); // dom2 loses read access: it hears of it
  xs.write(0, "/x/a", "2"); // now it may not read it, nor /x
  assert.deepEqual(spy.log, ["t:/x/a", "t:/x/a"]);
});

Deno.test("xenstore: removing a subtree fires each removed node's exact watches, children first, then the node's and its ancestors'", () => {
  // xenstored_core.c rm_node(): walk_node_tree with .exit = delnode_sub, which fires each node as
  // it is deleted (children before their parent) with watch_exact for every node but the one
  // removed; a watch on a path inside the subtree where no node is gets nothing.
  const xs = store();
  xs.write(1, "device/vib/0/state", "1");
  xs.write(1, "device/vib/1", "");
  const log: string[] = [];
  const cb = (p: string, t: string) => log.push(`${t}:${p}`);
  xs.watch(0, "/local/domain/1/device/vib/0/state", "state", cb);
  xs.watch(0, "/local/domain/1/device/vib/1", "one", cb);
  xs.watch(0, "/local/domain/1/device/vib/2", "absent", cb);
  xs.watch(0, "/local/domain/1/device", "above", cb);
  log.length = 0;
  xs.rm(1, "device/vib");
  assert.deepEqual(log, [
    "state:/local/domain/1/device/vib/0/state",
    "one:/local/domain/1/device/vib/1",
    "above:/local/domain/1/device/vib",
  ]);
});

Deno.test("xenstore: a path may be XENSTORE_REL_PATH_MAX bytes past /local/domain/<domid>/, or past / elsewhere (is_valid_nodename)", () => {
  // xenstored_core.c is_valid_nodename(): local_off is the length of a leading
  // "/local/domain/%5u/", 0 otherwise; strlen(node) > local_off + quota_max_path_len
  // (XENSTORE_REL_PATH_MAX) is EINVAL, for every connection, absolute or relative path alike.
  const xs = store();
  const home = "/local/domain/1/";
  const tail = (n: number) => "data/" + "x".repeat(n - "data/".length);
  // Written by dom0: a guest's data record could not take a child name that long (its quota).
  xs.write(0, home + tail(XENSTORE_REL_PATH_MAX), "v"); // the node the relative path names
  assert.equal(xs.read(1, tail(XENSTORE_REL_PATH_MAX)), "v");
  throwsXen(() => xs.write(1, home + tail(XENSTORE_REL_PATH_MAX + 1), "v"), "EINVAL");
  throwsXen(() => xs.read(0, home + tail(XENSTORE_REL_PATH_MAX + 1)), "EINVAL");
  const other = (n: number) => "/tool/" + "y".repeat(n - "/tool/".length);
  xs.write(0, other(XENSTORE_REL_PATH_MAX), "v");
  throwsXen(() => xs.write(0, other(XENSTORE_REL_PATH_MAX + 1), "v"), "EINVAL");
  throwsXen(() => xs.read(1, other(XENSTORE_REL_PATH_MAX + 1)), "EINVAL");
  throwsXen(() => xs.watch(1, other(XENSTORE_REL_PATH_MAX + 1), "t", () => {}), "EINVAL");
});

Deno.test("xenstore: an unprivileged set_perms of more than 5 entries is ENOSPC, before the node is looked at (quota_nb_perms_per_node)", () => {
  // xenstored_core.c do_set_perms(): "domain_is_unprivileged(conn) && perms.num >
  // quota_nb_perms_per_node" (default 5) is ENOSPC, checked before get_node; dom0 has no quota.
  const xs = store();
  xs.write(1, "data/n", "v");
  const list = (n: number): XsPerm[] =>
    Array.from({ length: n }, (_, i) => ({ domid: i === 0 ? 1 : i + 1, perm: "r" as const }));
  xs.setPerms(1, "data/n", list(5));
  throwsXen(() => xs.setPerms(1, "data/n", list(6)), "ENOSPC");
  throwsXen(() => xs.setPerms(1, "/local/domain/2/data/none", list(6)), "ENOSPC");
  // Before the name is checked too (get_node_canonicalized comes after the quota; a special
  // name goes to set_perms_special after it): a malformed path, a path too long, "@" names.
  for (const bad of ["//x", "data/", "/x/" + "y".repeat(XENSTORE_REL_PATH_MAX), "@bogus"]) {
    throwsXen(() => xs.setPerms(1, bad, list(6)), "ENOSPC");
    throwsXen(() => xs.setPerms(1, bad, list(5)), "EINVAL");
  }
  throwsXen(() => xs.setPerms(1, XS_RELEASE_DOMAIN, list(6)), "ENOSPC");
  assert.equal(xs.getPerms(1, "data/n").length, 5);
  xs.setPerms(0, "/local/domain/1/data/n", list(6));
  assert.equal(xs.getPerms(1, "data/n").length, 6);
});

Deno.test("xenstore: a guest's node record (header, permissions, value, children's names) must stay under quota_max_entry_size", () => {
  // xenstored_core.c write_node_raw(): dsize = sizeof(struct xs_tdb_record_hdr) (24) + 8 per
  // permission + datalen + childlen (each child's name and its NUL); an unprivileged connection
  // gets ENOSPC when dsize >= quota_max_entry_size (2048). create_node() writes the new nodes and
  // the existing parent that gains a child; do_set_perms() writes the node with its new list.
  const xs = store();
  const fits = 2048 - 24 - 8 - 1; // one permission entry, as data/* inherits from data
  xs.write(1, "data/v", "x".repeat(fits));
  throwsXen(() => xs.write(1, "data/v", "x".repeat(fits + 1)), "ENOSPC");
  throwsXen(() => xs.write(1, "data/w", "x".repeat(fits + 1)), "ENOSPC");
  throwsXen(() => xs.read(1, "data/w"), "ENOENT");
  xs.write(1, "data/v", "x".repeat(fits - 8));
  xs.setPerms(1, "data/v", [{ domid: 1, perm: "n" }, { domid: 2, perm: "r" }]);
  throwsXen(() => xs.write(1, "data/v", "x".repeat(fits - 7)), "ENOSPC"); // 8 bytes more of perms
  // A parent gains a child's name ("c" and its NUL).
  xs.write(1, "data/p", "x".repeat(fits - 1));
  throwsXen(() => xs.write(1, "data/p/c", "1"), "ENOSPC");
  throwsXen(() => xs.mkdir(1, "data/p/c"), "ENOSPC");
  throwsXen(() => xs.read(1, "data/p/c"), "ENOENT");
  xs.write(1, "data/q", "x".repeat(fits - 2));
  xs.write(1, "data/q/c", "1");
  // set_perms that grows the record past the quota.
  xs.write(1, "data/r", "x".repeat(fits - 4));
  throwsXen(
    () => xs.setPerms(1, "data/r", [{ domid: 1, perm: "n" }, { domid: 2, perm: "r" }]),
    "ENOSPC",
  );
  assert.equal(xs.getPerms(1, "data/r").length, 1);
  // Dom0 has no quota.
  xs.write(0, "/local/domain/1/data/big", "x".repeat(4000));
});

await cTest(
  "xenstore ABI: the permission letters mean what libxenstore's xs_strings_to_perms makes of them (XS_PERM_READ, XS_PERM_WRITE)",
  { headers: ["xenstore_lib.h", "xen/io/xs_wire.h"], libs: ["xenstore"], install: "libxen-dev" },
  async (c) => {
    const letters = ["n", "r", "w", "b", "q", "N", ""];
    const out = await c.run(
      String.raw`
#include <stdbool.h>
#include <stdio.h>
#include <xenstore_lib.h>
int main(int argc, char **argv) {
  printf("bits %d %d %d\n", XS_PERM_NONE, XS_PERM_READ, XS_PERM_WRITE);
  for (int i = 1; i < argc; i++) {
    struct xs_permissions p = { 0, 0 };
    bool ok = xs_strings_to_perms(&p, 1, argv[i]);
    printf("%s %d %u %u\n", argv[i], ok, p.id, ok ? p.perms : 0);
  }
  return 0;
}`,
      { args: letters.map((l) => `${l}5`), libs: ["xenstore"] },
    );
    const [bits, ...rows] = out.trim().split("\n");
    const [none, rd, wr] = bits.split(" ").slice(1).map(Number);
    assert.deepEqual([none, rd, wr], [0, 1, 2]);
    for (const [i, row] of rows.entries()) {
      const [, ok, id, perms] = row.split(" ").map(Number);
      const letter = letters[i];
      // The model: dom5's entry on a node dom0 owns, then what dom5 may do there.
      const xs = store();
      xs.introduceDomain(5, "vm5");
      xs.write(0, "/t", "v");
      let accepted = true;
      try {
        xs.setPerms(0, "/t", [{ domid: 0, perm: "n" }, { domid: 5, perm: letter as "n" }]);
      } catch (e) {
        assert.ok(e instanceof XenError && e.code === "EINVAL", String(e));
        accepted = false;
      }
      assert.equal(accepted, ok === 1, `letter ${JSON.stringify(letter)}`);
      if (!accepted) continue;
      assert.equal(id, 5);
      const can = (fn: () => unknown) => {
        try {
          fn();
          return true;
        } catch (e) {
          assert.ok(e instanceof XenError && e.code === "EACCES", String(e));
          return false;
        }
      };
      const reads = can(() => xs.read(5, "/t"));
      const writes = can(() => xs.write(5, "/t", "w"));
      assert.equal(reads, (perms & rd) !== 0, `${letter}: read`);
      assert.equal(writes, (perms & wr) !== 0, `${letter}: write`);
    }
    assert.ok(
      rows.length === letters.length && rows.filter((r) => r.split(" ")[1] === "1").length === 4,
    );
  },
);

/** Each XenStore operation and the xs_wire.h message type it stands for. */
const XS_OPS: Record<string, string> = {
  read: "XS_READ",
  write: "XS_WRITE",
  mkdir: "XS_MKDIR",
  rm: "XS_RM",
  directory: "XS_DIRECTORY",
  getPerms: "XS_GET_PERMS",
  setPerms: "XS_SET_PERMS",
  watch: "XS_WATCH",
  unwatch: "XS_UNWATCH",
  introduceDomain: "XS_INTRODUCE",
  releaseDomain: "XS_RELEASE",
};

await cTest(
  "xenstore ABI: every operation is an xsd_sockmsg_type, and XS_WRITE / XS_WATCH are E2BIG exactly past XENSTORE_PAYLOAD_MAX as libxenstore lays them out",
  { headers: ["xen/io/xs_wire.h"], install: "libxen-dev" },
  async (c) => {
    for (const op of Object.keys(XS_OPS)) {
      assert.equal(
        typeof (XenStore.prototype as unknown as Record<string, unknown>)[op],
        "function",
        op,
      );
    }
    // A name the header lacks fails to compile.
    const out = await c.run(String.raw`
#include <stdio.h>
#include <stdint.h>
#include <stddef.h>
#include <xen/io/xs_wire.h>
int main(void) {
${Object.values(XS_OPS).map((t) => `  printf("${t} %d\\n", ${t});`).join("\n")}
  printf("XS_WATCH_EVENT %d\n", XS_WATCH_EVENT);
  printf("watch_fields %d %d\n", XS_WATCH_PATH, XS_WATCH_TOKEN);
  printf("sockmsg %zu %zu %zu %zu %zu\n", sizeof(struct xsd_sockmsg),
         offsetof(struct xsd_sockmsg, type), offsetof(struct xsd_sockmsg, req_id),
         offsetof(struct xsd_sockmsg, tx_id), offsetof(struct xsd_sockmsg, len));
  printf("max %d\n", XENSTORE_PAYLOAD_MAX);
  return 0;
}`);
    const t = new Map(
      out.trim().split("\n").map((l) => [l.split(" ")[0], l.slice(l.indexOf(" ") + 1)]),
    );
    assert.equal(t.get("XS_WRITE"), "11");
    assert.equal(t.get("XS_WATCH_EVENT"), "15");
    assert.equal(t.get("watch_fields"), "0 1", "a watch event is path, then token");
    assert.equal(t.get("sockmsg"), "16 0 4 8 12");
    const max = Number(t.get("max"));
    assert.equal(max, XENSTORE_PAYLOAD_MAX);

    // xs_write sends path\0 then the value (no NUL); xs_watch sends path\0 token\0; xs_talkv
    // refuses a sum of more than XENSTORE_PAYLOAD_MAX with E2BIG. The model cuts at the same byte.
    const xs = store();
    const path = "/local/domain/1/data/x"; // dom0 writes here: no record quota
    const fits = max - (path.length + 1);
    xs.write(0, path, "v".repeat(fits));
    throwsXen(() => xs.write(0, path, "v".repeat(fits + 1)), "E2BIG");
    const wide = "é".repeat(Math.floor(fits / 2)) + "v".repeat(fits % 2); // UTF-8 bytes count
    xs.write(0, path, wide);
    throwsXen(() => xs.write(0, path, wide + "v"), "E2BIG");
    const tokenFits = max - (path.length + 1) - 1;
    const events: string[] = [];
    xs.watch(0, path, "t".repeat(tokenFits), (p, tok) => events.push(`${p} ${tok.length}`));
    throwsXen(() => xs.watch(0, path, "t".repeat(tokenFits + 1), () => {}), "E2BIG");
    assert.deepEqual(events, [`${path} ${tokenFits}`]); // (path, token): XS_WATCH_PATH, XS_WATCH_TOKEN
  },
);

Deno.test("xenstore: special nodes' permissions are dom0's to set; they decide who hears @introduceDomain and @releaseDomain, and a watch on / hears them", () => {
  // xenstored 4.17 do_set_perms → set_perms_special (xenstored_domain.c): a guest is EACCES
  // (it lacks XS_PERM_WRITE|XS_PERM_OWNER on the node), another "@" name EINVAL; dom0's list
  // then decides who hears the events (check_perms_special), and fire_watches' is_child makes
  // "/" a parent of "@…" too. set_perms of a special node used to be EINVAL for everyone.
  const xs = store();
  const g1 = recorder(), g2 = recorder(), root = recorder();
  xs.watch(1, XS_RELEASE_DOMAIN, "g1", g1.cb);
  xs.watch(2, XS_RELEASE_DOMAIN, "g2", g2.cb);
  xs.watch(0, "/", "root", root.cb);
  const only0: XsPerm[] = [{ domid: 0, perm: "n" }];
  throwsXen(() => xs.setPerms(1, XS_RELEASE_DOMAIN, [{ domid: 1, perm: "r" }]), "EACCES");
  throwsXen(() => xs.setPerms(1, XS_INTRODUCE_DOMAIN, only0), "EACCES");
  throwsXen(() => xs.setPerms(0, "@bogus", only0), "EINVAL");
  throwsXen(() => xs.setPerms(1, "@bogus", only0), "EINVAL");
  throwsXen(() => xs.getPerms(0, XS_RELEASE_DOMAIN), "EINVAL"); // 4.17: not a node name
  // Dom0 lets dom1 (and not dom2) hear domains go, as a driver domain's toolstack would.
  xs.setPerms(0, XS_RELEASE_DOMAIN, [{ domid: 0, perm: "n" }, { domid: 1, perm: "r" }]);
  // Dom1 may read the node now, not change its permissions: it is not the owner.
  throwsXen(() => xs.setPerms(1, XS_RELEASE_DOMAIN, [{ domid: 1, perm: "r" }]), "EACCES");
  xs.introduceDomain(9, "vm9");
  xs.releaseDomain(9);
  assert.deepEqual(g1.log, [`g1:${XS_RELEASE_DOMAIN}`, `g1:${XS_RELEASE_DOMAIN}`]);
  assert.deepEqual(g2.log, [`g2:${XS_RELEASE_DOMAIN}`], "dom2: the registration's event only");
  assert.deepEqual(root.log.filter((e) => e.includes("@")), [
    `root:${XS_INTRODUCE_DOMAIN}`,
    `root:${XS_RELEASE_DOMAIN}`,
  ]);
  // A guest's watch on "/" hears no special event the node's permissions do not give it.
  const g2root = recorder();
  xs.watch(2, "/", "g2root", g2root.cb);
  xs.introduceDomain(10, "vm10");
  xs.releaseDomain(10);
  assert.deepEqual(g2root.log.filter((e) => e.includes("@")), []);
});

Deno.test("xenstore: a released domain's nodes anywhere go, and its entries leave every other node's permissions (domain_tree_remove)", () => {
  // xenstored destroy_domain() → domain_tree_remove(): every node the domain owns is removed
  // with its subtree (rm_node, firing watches), the domain's entries are dropped from the
  // permissions of @introduceDomain/@releaseDomain and (since 4.22; 4.17 ignored them in place)
  // of every other node — so a domain later introduced with the same domid inherits no access.
  const xs = store();
  // Dom0 lets dom1 create under /shared, and shares its backend node with dom1.
  xs.write(0, "/shared", "");
  xs.setPerms(0, "/shared", [{ domid: 0, perm: "n" }, { domid: 1, perm: "w" }]);
  xs.write(1, "/shared/x/y", "mine"); // owned by dom1 (an unprivileged creator owns its nodes)
  xs.write(0, "/shared/z", "dom0's");
  const be = "/local/domain/0/backend/vib/1/0";
  xs.mkdir(0, be);
  xs.setPerms(0, be, [{ domid: 0, perm: "n" }, { domid: 1, perm: "r" }, { domid: 2, perm: "r" }]);
  xs.write(0, `${be}/state`, "4"); // with the directory's permissions
  xs.setPerms(0, XS_RELEASE_DOMAIN, [{ domid: 0, perm: "n" }, { domid: 1, perm: "r" }]);
  assert.equal(xs.nodesOwnedBy(1), 5, "device, control, data in its home; /shared/x, /x/y");
  const w = recorder();
  xs.watch(0, "/shared", "w", w.cb);
  w.log.length = 0;

  xs.releaseDomain(1);
  assert.equal(xs.nodesOwnedBy(1), 0);
  assert.equal(xs.exists(0, "/shared/x"), false);
  assert.equal(xs.read(0, "/shared/z"), "dom0's");
  assert.deepEqual(w.log, ["w:/shared/x"], "removed as rm_node removes it");
  for (const p of [be, `${be}/state`]) {
    assert.deepEqual(xs.getPerms(0, p), [{ domid: 0, perm: "n" }, { domid: 2, perm: "r" }], p);
  }
  assert.deepEqual(xs.getPerms(0, "/shared"), [{ domid: 0, perm: "n" }]);

  // A new domain given domid 1 gets none of the old one's rights.
  xs.introduceDomain(1, "again");
  throwsXen(() => xs.read(1, `${be}/state`), "EACCES");
  throwsXen(() => xs.write(1, "/shared/new", "x"), "EACCES");
  const g = recorder();
  xs.watch(1, XS_RELEASE_DOMAIN, "g", g.cb);
  xs.introduceDomain(9, "vm9");
  xs.releaseDomain(9);
  assert.deepEqual(g.log, [`g:${XS_RELEASE_DOMAIN}`], "the registration's event only");
  assert.equal(xs.read(2, `${be}/state`), "4", "dom2's entry stays");
});

Deno.test("xenstore: every request longer than XENSTORE_PAYLOAD_MAX is E2BIG before its path is looked at, as xs_talkv refuses it", () => {
  // tools/libs/store/xs.c xs_talkv (and Linux's xenbus_xs.c): the message — path\0, then the
  // value (XS_WRITE), the token\0 (XS_WATCH, XS_UNWATCH) or each "<letter><domid>\0"
  // (XS_SET_PERMS, xs_set_permissions) — is E2BIG past XENSTORE_PAYLOAD_MAX and never sent.
  // Only XS_WRITE and XS_WATCH were sized, and after the path: a long path was EINVAL.
  const xs = store();
  const max = XENSTORE_PAYLOAD_MAX;
  const path = (bytes: number) => "data/" + "x".repeat(bytes - "data/".length);
  const ops: [string, (p: string) => unknown][] = [
    ["read", (p) => xs.read(1, p)],
    ["exists", (p) => xs.exists(1, p)],
    ["mkdir", (p) => xs.mkdir(1, p)],
    ["rm", (p) => xs.rm(1, p)],
    ["directory", (p) => xs.directory(1, p)],
    ["get_perms", (p) => xs.getPerms(1, p)],
    ["unwatch", (p) => xs.unwatch(1, p, "")],
  ];
  for (const [name, op] of ops) {
    // path\0 of 4096 bytes is sent (and refused by xenstored: too long a path); one more is not.
    const extra = name === "unwatch" ? 1 : 0; // the empty token's NUL
    throwsXen(() => op(path(max - 1 - extra)), "EINVAL");
    throwsXen(() => op(path(max - extra)), "E2BIG");
  }
  // XS_WRITE: path\0value; XS_WATCH: path\0token\0 — with a path xenstored would refuse.
  throwsXen(() => xs.write(1, path(3000), "v".repeat(max - 3001)), "EINVAL");
  throwsXen(() => xs.write(1, path(3000), "v".repeat(max - 3000)), "E2BIG");
  throwsXen(() => xs.watch(1, path(3000), "t".repeat(max - 3002), () => {}), "EINVAL");
  throwsXen(() => xs.watch(1, path(3000), "t".repeat(max - 3001), () => {}), "E2BIG");
  // XS_SET_PERMS: "n1\0" and "r2\0", 3 bytes each.
  const perms: XsPerm[] = [{ domid: 1, perm: "n" }, { domid: 2, perm: "r" }];
  throwsXen(() => xs.setPerms(1, path(max - 7), perms), "EINVAL");
  throwsXen(() => xs.setPerms(1, path(max - 6), perms), "E2BIG");
  // An entry libxenstore cannot write is EINVAL before the message is sized; a caller that is
  // not connected is ESRCH first.
  throwsXen(() => xs.setPerms(1, path(max), [{ domid: 1, perm: "q" as "n" }]), "EINVAL");
  throwsXen(() => xs.read(7, path(max)), "ESRCH");
  assert.equal(xs.watchesOf(1), 0);
});

/**
 * ibv_query_gid(3) and ibv_query_pkey(3) on the model, in every mode: each entry of a port's
 * GID and P_Key tables as `queryPort` sizes them (`gidTblLen`, `pkeyTblLen`), EINVAL past them
 * (Linux core/cache.c: rdma_query_gid and ib_get_cached_pkey refuse an index outside the
 * table) and for a port the device lacks.
 */
import assert from "node:assert/strict";
import { Cluster, type Domain } from "../../mod.ts";
import { type Mode, MODES, rejects } from "./helpers.ts";

async function dualPort(mode: Mode): Promise<{ cluster: Cluster; dom: Domain }> {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 3 });
  const host = cluster.addHost({ name: "h", hypervisor: mode !== "native", ports: 2 });
  await cluster.start();
  const dom = mode === "native"
    ? host.os
    : await host.createGuest({ name: "vm", driver: mode as "bypass" | "split" });
  return { cluster, dom };
}

for (const mode of MODES) {
  Deno.test(`port tables (${mode}): query_gid and query_pkey within the tables, EINVAL past them`, async () => {
    const { cluster, dom } = await dualPort(mode);
    await cluster.run(async () => {
      const ctx = await dom.openDevice();
      for (const port of [1, 2]) {
        const attr = ctx.queryPort(port);
        assert.equal(attr.gidTblLen, 1);
        // GID 0: the subnet prefix and the port's GUID (IBTA vol 1 §4.1.1), as the fabric
        // knows the port.
        const gid = await ctx.queryGid(port, 0);
        assert.deepEqual(gid, cluster.fabric.portByLid(attr.lid)!.gid);
        assert.deepEqual([...gid.subarray(0, 8)], [0xfe, 0x80, 0, 0, 0, 0, 0, 0]);
        const msg = await rejects(() => ctx.queryGid(port, attr.gidTblLen), "EINVAL");
        assert.match(msg, /query_gid: index 1 is outside the port's GID table \(1 entry\)/);
        // The P_Key table: the default partition (full member) at 0, the rest empty.
        assert.equal(attr.pkeyTblLen, ctx.queryDevice().maxPkeys);
        assert.equal(await ctx.queryPkey(port, 0), 0xffff);
        assert.equal(await ctx.queryPkey(port, 1), 0);
        assert.equal(await ctx.queryPkey(port, attr.pkeyTblLen - 1), 0);
        const pk = await rejects(() => ctx.queryPkey(port, attr.pkeyTblLen), "EINVAL");
        assert.match(pk, /query_pkey: index 64 is outside the port's P_Key table \(64 entries\)/);
      }
      // Two ports, two GUIDs.
      assert.notDeepEqual(await ctx.queryGid(1, 0), await ctx.queryGid(2, 0));
      // A port the device lacks; values C's uint8_t port_num and int index cannot hold.
      await rejects(() => ctx.queryGid(3, 0), "EINVAL");
      await rejects(() => ctx.queryPkey(3, 0), "EINVAL");
      for (const [p, i] of [[0, 0], [256, 0], [1, -1], [1, 2 ** 31], [1, 0.5], [NaN, 0]]) {
        await rejects(() => ctx.queryGid(p, i), "EINVAL");
        await rejects(() => ctx.queryPkey(p, i), "EINVAL");
      }
      await ctx.close();
      await rejects(() => ctx.queryGid(1, 0), "EBADF");
    });
  });
}

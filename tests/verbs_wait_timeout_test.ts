/**
 * A wait given a `timeoutNs` that is not a number ≥ 0 (`NaN`, negative, a string) is refused with
 * EINVAL naming the call, before anything waits, in native, bypass and split mode. Before the
 * check, `channel.getEvent` and `memory.waitWrite` registered a sleeping reader and then failed
 * inside the engine (`RangeError: schedule: delay must be …`): the reader stayed behind, so the
 * channel could not be destroyed (EBUSY) and the run ended in a deadlock.
 */
import assert from "node:assert/strict";
import { einval, MODES, oneDomain } from "./conformance/helpers.ts";
import { AddressSpaceError, VerbsError } from "../mod.ts";

const setup = oneDomain;

for (const mode of MODES) {
  Deno.test(`a bad timeout of a wait is EINVAL and leaves no sleeper behind (${mode})`, async () => {
    const { cluster, d } = await setup(mode);
    await cluster.run(async () => {
      const ctx = await d.openDevice();
      const ch = ctx.createCompChannel();
      for (const t of [NaN, -1, "10"]) {
        await assert.rejects(
          ch.getEvent({ timeoutNs: t as number }),
          einval(/^EINVAL: get_cq_event: timeoutNs .* is not a number of ns ≥ 0$/, VerbsError),
        );
      }
      const addr = d.memory.alloc(4096, 4096);
      await assert.rejects(
        d.memory.waitWrite(addr, 4, NaN),
        einval(/^waitWrite: timeoutNs NaN is not a number of ns ≥ 0$/, AddressSpaceError),
      );
      await assert.rejects(
        d.memory.waitWrite(NaN, 4, 10),
        einval(/^waitWrite: bad range addr=NaN len=4$/, AddressSpaceError),
      );
      // Nothing sleeps on the channel: it can be destroyed, and the run ends (no deadlock).
      await ch.destroy();
      const rdma = d.rdmaCm.createEventChannel();
      await assert.rejects(
        rdma.getEvent({ timeoutNs: NaN }),
        einval(/^EINVAL: rdma_get_cm_event: timeoutNs NaN is not a number of ns ≥ 0$/, VerbsError),
      );
      await rdma.destroy();
      await ctx.close();
    });
  });
}

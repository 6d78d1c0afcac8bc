/**
 * The native driver's conversions between verbs values and the device's
 * (drivers/native/hw_map.ts): every verbs QP type the device serves has its
 * own service type, every QP state QUERY_QP can report maps back, and access
 * flags survive the trip through the QPC and into the MPT as mthca's
 * `convert_access` puts them.
 */
import assert from "node:assert/strict";
import {
  HwQpState,
  MPT_ACCESS_MASK,
  MptAccess,
  QP_ACCESS_MASK,
  QpAccess,
  QpServiceType,
} from "../hca/commands.ts";
import {
  fromHwQpState,
  fromQpAccess,
  toHwServiceType,
  toMptAccess,
  toQpAccess,
} from "../drivers/native/hw_map.ts";
import { Access, QpState, QpType } from "../drivers/uapi/enums.ts";

Deno.test("hw_map: verbs QP types map to the device's service types (mthca to_mthca_st)", () => {
  assert.deepEqual(
    [QpType.RC, QpType.UC, QpType.UD].map(toHwServiceType),
    [QpServiceType.RC, QpServiceType.UC, QpServiceType.UD],
  );
  const hw = new Set(Object.values(QpType).map(toHwServiceType));
  assert.equal(hw.size, Object.values(QpServiceType).length, "one device type each, none missing");
  for (const t of [0, 1, 5, 8, -1]) assert.equal(toHwServiceType(t), undefined, `type ${t}`);
});

Deno.test("hw_map: every device QP state maps to its verbs state (mthca to_ib_qp_state)", () => {
  for (const [name, hw] of Object.entries(HwQpState)) {
    assert.equal(fromHwQpState(hw), QpState[name as keyof typeof QpState], name);
  }
  // The two orders differ where it matters: SQE and SQD are swapped.
  assert.equal(fromHwQpState(HwQpState.SQE), QpState.SQE);
  assert.notEqual(HwQpState.SQE, QpState.SQE);
  for (const bad of [7, 8, -1, 0.5]) assert.throws(() => fromHwQpState(bad), RangeError);
});

Deno.test("hw_map: QP remote access flags become QPC enables and come back", () => {
  const remote = [Access.REMOTE_WRITE, Access.REMOTE_READ, Access.REMOTE_ATOMIC];
  for (let m = 0; m < 1 << remote.length; m++) {
    let access = 0;
    remote.forEach((bit, i) => (m & (1 << i)) && (access |= bit));
    const bits = toQpAccess(access | Access.LOCAL_WRITE);
    assert.equal(bits & ~QP_ACCESS_MASK, 0, "only QPC enable bits");
    assert.equal(fromQpAccess(bits), access, `access 0x${access.toString(16)}`);
  }
  assert.equal(toQpAccess(Access.REMOTE_READ), QpAccess.REMOTE_READ);
  assert.throws(() => fromQpAccess(1), RangeError);
});

Deno.test("hw_map: MR access becomes MPT flags, local read always granted (mthca convert_access)", () => {
  const pairs: [number, number][] = [
    [Access.LOCAL_WRITE, MptAccess.LOCAL_WRITE],
    [Access.REMOTE_WRITE, MptAccess.REMOTE_WRITE],
    [Access.REMOTE_READ, MptAccess.REMOTE_READ],
    [Access.REMOTE_ATOMIC, MptAccess.ATOMIC],
  ];
  for (let m = 0; m < 1 << pairs.length; m++) {
    let access = 0;
    let want: number = MptAccess.LOCAL_READ;
    pairs.forEach(([verbs, hw], i) => {
      if (m & (1 << i)) {
        access |= verbs;
        want |= hw;
      }
    });
    const flags = toMptAccess(access);
    assert.equal(flags, want, `access 0x${access.toString(16)}`);
    assert.equal(flags & ~MPT_ACCESS_MASK, 0);
  }
});

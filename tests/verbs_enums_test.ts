/**
 * The device model keeps its own copies of the verbs.h numbers it writes
 * (`hca/` may not import `drivers/`, DESIGN.md §2), and the provider passes
 * them through unchanged. This holds the copies to the verbs enums, which
 * `ffi_layout_test.ts` holds to the real header: same name, same value.
 */
import assert from "node:assert/strict";
import { HwAccess, HwQpState, QpServiceType } from "../hca/commands.ts";
import { WcOpcode as HwWcOpcode, WcStatus as HwWcStatus } from "../hca/transport.ts";
import { Access, QpState, QpType, WcOpcode, WcStatus } from "../drivers/verbs/enums.ts";

const MIRRORS: [string, Record<string, number>, Record<string, number>][] = [
  ["hca WcStatus", HwWcStatus, WcStatus],
  ["hca WcOpcode", HwWcOpcode, WcOpcode],
  ["hca QpServiceType", QpServiceType, QpType],
  ["hca HwQpState", HwQpState, QpState],
  ["hca HwAccess", HwAccess, Access],
];

Deno.test("the device model's copies of verbs.h values equal the verbs enums", () => {
  for (const [what, hw, api] of MIRRORS) {
    for (const [name, value] of Object.entries(hw)) {
      assert.equal(api[name], value, `${what}.${name}`);
    }
  }
});

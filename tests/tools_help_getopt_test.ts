// Every tool that reads its line with getoptLong (tools/lib/getopt.ts) states getopt_long's rules
// in its --help in the same words (getoptHelp: prefixes, `=VALUE` or the next word, `--`), and
// the prefixes it gives as examples are ones its own table takes.
import assert from "node:assert/strict";
import { getoptLong, type LongOption } from "../tools/lib/getopt.ts";
import { devinfoOptionTable, devinfoUsage } from "../tools/lib/devinfo_args.ts";
import { MPIRUN_USAGE, mpirunOptionTable } from "../tools/lib/mpirun_args.ts";
import { nasOptionTable, nasUsage } from "../tools/lib/nas_args.ts";
import { osuOptionTable } from "../tools/lib/osu_args.ts";
import { usage as osuUsage } from "../tools/lib/osu_format.ts";
import { rmaUsage } from "../tools/lib/osu_rma.ts";
import { perftestOptionTable, perftestUsage } from "../tools/lib/perftest_args.ts";

Deno.test("tools: every getopt tool's --help states the rules in the same words", () => {
  const helps: [string, string, readonly LongOption[]][] = [
    ["perftest", perftestUsage("ib_write_lat"), perftestOptionTable()],
    ["devinfo", devinfoUsage(), devinfoOptionTable()],
    ["osu", osuUsage("osu_latency"), osuOptionTable("osu_latency")],
    ["osu one-sided", rmaUsage("osu_put_latency"), osuOptionTable("osu_put_latency")],
    ["nas", nasUsage([{ name: "EP", classes: ["S"], modelClasses: [] }]), nasOptionTable()],
    ["mpirun", MPIRUN_USAGE, mpirunOptionTable()],
  ];
  const rule =
    /Flags are read by getopt_long's rules(?:, [^:]+)?: a long flag may be any unambiguous prefix \(([^)]+)\), its value the next word or after '='; '--' ends the flags\./;
  for (const [tool, text, table] of helps) {
    const m = rule.exec(text.replace(/\s+/g, " "));
    assert.ok(m, `${tool}'s help does not state getopt_long's rules`);
    for (const example of m[1].split(", ")) {
      const words = example.split(" ");
      const r = getoptLong(words, table, { recordError: true });
      assert.equal(r.error, undefined, `${tool}: ${example}: ${r.error?.error.message}`);
      assert.equal(r.options.length, 1, `${tool}: ${example}`);
      assert.notEqual(`--${r.options[0].name}`, words[0], `${tool}: ${example} is no prefix`);
    }
  }
});

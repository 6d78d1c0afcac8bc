/**
 * `deno task mpirun`: the example program in every mode with rank-prefixed
 * output and the summary; paths resolved from where the user ran the task;
 * one-line errors for bad flags, missing files, programs without `main`, and
 * a failing rank.
 */
import assert from "node:assert/strict";
import { mpirunMain } from "../tools/mpirun.ts";
import { parseMpirunArgs } from "../tools/lib/mpirun_args.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** `deno task mpirun` as run from `cwd` (npm and `deno task` pass it on as INIT_CWD). */
async function task(
  cwd: string,
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "mpirun", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", INIT_CWD: cwd },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test("mpirun: the example program on Xen guests, output prefixed by rank, then the summary", async () => {
  const out: string[] = [], err: string[] = [];
  await mpirunMain(
    [
      "-np",
      "4",
      "--mode",
      "bypass",
      "--hosts",
      "2",
      "--guests-per-host",
      "2",
      "tools/examples/mpi_ring.ts",
      "100",
    ],
    (l) => out.push(...l.split("\n")),
    (l) => err.push(l),
  );
  assert.deepEqual(err, []);
  const ranks = out.filter((l) => l.startsWith("["));
  assert.deepEqual(ranks.slice(0, 4).sort(), [
    "[0] rank 0 of 4 on node0-vm0",
    "[1] rank 1 of 4 on node0-vm1",
    "[2] rank 2 of 4 on node1-vm0",
    "[3] rank 3 of 4 on node1-vm1",
  ]);
  assert.ok(ranks.includes("[0] token after the ring: 6"));
  assert.ok(ranks.some((l) => /^\[0\] sum of squares below 100: 328350 \(at /.test(l)));
  const summary = out.filter((l) => !l.startsWith("["));
  assert.equal(
    summary[0],
    "mpirun: 4 rank(s) on 2 Xen host(s) × 2 bypass guest(s), map block, profile pcix-sdr-2006, seed 1, noise on",
  );
  assert.match(
    summary[1],
    /^mpirun: virtual time [\d.]+ µs \(MPI_Init [\d.]+ µs, main [\d.]+ µs on the slowest rank\)$/,
  );
  const hosts = summary.filter((l) => /^ node\d/.test(l));
  assert.equal(hosts.length, 2);
  // Xen hosts: the control path (MPI_Init) crossed the hypervisor.
  for (const h of hosts) assert.ok(Number(h.trim().split(/\s+/)[2]) > 0, h);
});

Deno.test("mpirun: as users run it, from a subdirectory (paths from INIT_CWD), native and split", async () => {
  const [native, split] = await Promise.all([
    task(`${ROOT}tools`, "-np", "3", "examples/mpi_ring.ts", "10"),
    task(
      ROOT,
      "-np",
      "2",
      "--mode",
      "split",
      "--map",
      "cyclic",
      "--quiet",
      "tools/examples/mpi_ring.ts",
    ),
  ]);
  assert.equal(native.code, 0, native.err);
  assert.match(native.out, /^\[0\] token after the ring: 3$/m);
  assert.match(native.out, /^mpirun: 3 rank\(s\) on 3 bare-metal host\(s\)/m);
  assert.equal(split.code, 0, split.err);
  assert.match(split.out, /^\[1\] rank 1 of 2 on node1-vm0$/m);
  assert.doesNotMatch(split.out, /mpirun:/);
});

Deno.test("mpirun: one-line errors for flags, files, programs and failing ranks", async () => {
  const dir = await Deno.makeTempDir({ prefix: "xenib_mpirun_" });
  try {
    await Deno.writeTextFile(`${dir}/nomain.ts`, "export const x = 1;\n");
    await Deno.writeTextFile(`${dir}/broken.ts`, "export function main( {\n");
    await Deno.writeTextFile(
      `${dir}/fails.ts`,
      "export async function main(comm) {\n  if (comm.rank === 1) await comm.recv(new Uint8Array(2), 0, 1);\n  else await comm.send(new Uint8Array(9), 1, 1);\n}\n",
    );
    const cases: [string[], RegExp][] = [
      [["prog.ts"], /^mpirun: -np N: say how many ranks to run$/],
      [["-np", "2"], /^mpirun: give the program to run/],
      [["-np", "0", "x.ts"], /^mpirun: -np: '0' is not a whole number >= 1$/],
      [["-np", "2", "--mode", "kvm", "x.ts"], /^mpirun: --mode: 'kvm' is not a mode/],
      [["-np", "2", "--frob", "x.ts"], /^mpirun: unrecognized option '--frob' \(see --help\)$/],
      [["-np"], /^mpirun: option '-np' requires an argument \(see --help\)$/],
      [["-np", "2", "--quiet=1", "x.ts"], /^mpirun: option '--quiet' doesn't allow an argument/],
      [
        ["-np", "2", "--guests-per-host", "2", "x.ts"],
        /^mpirun: --guests-per-host applies to --mode bypass and split/,
      ],
      [
        ["-np", "2", "--migrate", "1@5", "x.ts"],
        /^mpirun: --migrate applies to --mode bypass and split \(native ranks run on bare-metal hosts/,
      ],
      [
        ["-np", "2", "--mode", "split", "--migrate", "2@5", "x.ts"],
        /^mpirun: --migrate: rank 2 is not a rank of the job \(-np 2: 0\.\.1\)$/,
      ],
      [
        ["-np", "2", "--mode", "split", "--migrate", "1@later", "x.ts"],
        /^mpirun: --migrate: '1@later' is not RANK@MS/,
      ],
      [
        ["-np", "2", "no/such.ts"],
        /^mpirun: no\/such\.ts: no such file \(looked at .*no\/such\.ts\)$/,
      ],
      [
        ["-np", "2", `${dir}/nomain.ts`],
        /^mpirun: .*nomain\.ts: exports no main\(comm, args\) function$/,
      ],
      [["-np", "2", `${dir}/broken.ts`], /^mpirun: .*broken\.ts: cannot load the program: /],
      [
        ["-np", "2", "--profile", "nope.yaml", "tools/examples/mpi_ring.ts"],
        /^mpirun: --profile .*nope\.yaml: cannot read the file/,
      ],
      // Sizes past what the authorities allow fail at once, before any host is built.
      [
        ["-np", "99999999", "tools/examples/mpi_ring.ts"],
        /^mpirun: MPI_ERR_ARG: hosts \(one per rank: np\) must be at most 49150 \(got 99999999\)$/,
      ],
      [
        [
          "-np",
          "2",
          "--mode",
          "bypass",
          "--guests-per-host",
          "99999999",
          "tools/examples/mpi_ring.ts",
        ],
        /^mpirun: MPI_ERR_ARG: guestsPerHost must be at most 32751 \(got 99999999\)$/,
      ],
      [
        ["-np", "2", "--seed", "99999999999999999999999", "tools/examples/mpi_ring.ts"],
        /^mpirun: --seed: 99999999999999999999999 is out of range \(0\.\.4294967295\)$/,
      ],
      [
        ["-np", "2", `${dir}/fails.ts`],
        /^mpirun: rank 1: MPI_ERR_TRUNCATE: MPI_Recv on rank 1: message of 9 bytes from rank 0 \(tag 1\) does not fit the 2-byte receive buffer$/,
      ],
    ];
    const results = await Promise.all(cases.map(([args]) => task(ROOT, ...args)));
    results.forEach((r, i) => {
      const [args, re] = cases[i];
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.out}${r.err}`);
      const err = r.err.trim();
      assert.match(err, re, args.join(" "));
      assert.equal(err.split("\n").length, 1, err);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mpirun: --migrate moves a rank's guest mid-job and the summary says what it cost", async () => {
  const out: string[] = [], err: string[] = [];
  const args = ["-np", "2", "--mode", "split", "--guest-memory", "16", "--migrate", "1@0.5"];
  await mpirunMain(
    [...args, "tools/examples/mpi_ring.ts", "100"],
    (l) => out.push(...l.split("\n")),
    (l) => err.push(l),
  );
  assert.deepEqual(err, []);
  assert.ok(out.includes("[0] token after the ring: 1"), out.join("\n"));
  assert.ok(
    out.some((l) =>
      /^mpirun: rank 1's guest node1-vm0 moved node1 → spare0 at 0\.50 ms: downtime [\d.]+ ms, migration [\d.]+ ms, \d+ round\(s\), [01] connection\(s\) moved$/
        .test(l)
    ),
    out.join("\n"),
  );
});

Deno.test("mpirun: flags are read by getopt_long's rules up to the program, which gets the rest", () => {
  // Unambiguous prefixes and `=VALUE`, the launch flags as osu and nas take them.
  const c = parseMpirunArgs(["-np", "3", "--mo", "split", "--ma=cyclic", "--qu", "p.ts", "1"]);
  assert.deepEqual(
    [c.launch.np, c.launch.mode, c.launch.map, c.quiet, c.program, c.args],
    [3, "split", "cyclic", true, "p.ts", ["1"]],
  );
  // The first operand ends the flags (getopt's "+"): what follows is the program's own.
  const p = parseMpirunArgs(["-n", "2", "p.ts", "--mode", "kvm", "-np", "x", "--frob"]);
  assert.deepEqual([p.launch.np, p.launch.mode, p.args], [2, "native", [
    "--mode",
    "kvm",
    "-np",
    "x",
    "--frob",
  ]]);
  // `--` ends them too, so a program may start with a dash.
  assert.equal(parseMpirunArgs(["-np", "2", "--", "-odd.ts"]).program, "-odd.ts");
  // mpirun's own flags: -q, -h; --h is --help (the launch flags' --hosts is an extension).
  assert.deepEqual([parseMpirunArgs(["-qh"]).quiet, parseMpirunArgs(["-qh"]).help], [true, true]);
  assert.equal(parseMpirunArgs(["--h"]).help, true);
  assert.throws(() => parseMpirunArgs(["-np", "2", "--m", "split", "p.ts"]), {
    message: "option '--m' is ambiguous; possibilities: '--mode' '--map' '--migrate' (see --help)",
  });
  // A bad value is named by the flag's full name, or as typed where that is one.
  assert.throws(() => parseMpirunArgs(["--no", "loud", "p.ts"]), {
    message: "--noise: 'loud' is not on or off",
  });
  // In command-line order: -h before a refused word still refuses it, as before.
  assert.throws(() => parseMpirunArgs(["-h", "--frob"]), /unrecognized option '--frob'/);
});

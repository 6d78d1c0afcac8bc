/**
 * The NAS report as NPB 3.4-MPI prints it: the C kernels' c_print_results
 * (its printf formats, applied here by a small printf) and the Fortran
 * kernels' print_results (its FORMAT statements, spelled out item by item),
 * compared line by line with what `printResults` writes; the kernels'
 * banners; and the Fortran edit descriptors the kernels' own lines use.
 */
import assert from "node:assert/strict";
import { kernel as ep } from "../tools/nas/ep.ts";
import { fortranE, fortranF, fortranI } from "../tools/nas/format.ts";
import { kernel as ft } from "../tools/nas/ft.ts";
import { kernel as is } from "../tools/nas/is.ts";
import { kernel as lu } from "../tools/nas/lu.ts";
import type { NasResult } from "../tools/nas/kernel.ts";
import { printResults } from "../tools/nas/report.ts";

/** printf with the conversions c_print_results uses. */
function printf(fmt: string, ...args: (string | number)[]): string {
  let k = 0;
  return fmt.replace(/%(\d*)(?:\.(\d+))?(ld|d|f|s|c)/g, (_, w, p, conv) => {
    const a = args[k++];
    const s = conv === "f" ? Number(a).toFixed(Number(p ?? 6)) : String(a);
    return s.padStart(Number(w || 0));
  });
}

const base: NasResult = {
  name: "IS",
  cls: "S",
  size: "65536",
  iterations: 10,
  timeSec: 0.004180566,
  mops: 156.76346217234698,
  opType: "keys ranked",
  verified: true,
  compute: "real",
  details: [],
  activeProcs: 4,
};

Deno.test("nas report: c_print_results's layout (IS)", () => {
  const got = printResults(base, { language: "c", totalProcs: 4 });
  // The format strings of NPB3.4-MPI/common/c_print_results.c, in order.
  const want = [
    ...printf("\n\n %s Benchmark Completed", "IS").split("\n"),
    printf(" Class           =                        %c", "S"),
    printf(" Size            =             %12ld", 65536),
    printf(" Iterations      =             %12d", 10),
    printf(" Time in seconds =             %12.2f", base.timeSec),
    printf(" Total processes =             %12d", 4),
    printf(" Active processes=             %12d", 4),
    printf(" Mop/s total     =             %12.2f", base.mops),
    printf(" Mop/s/process   =             %12.2f", base.mops / 4),
    printf(" Operation type  = %24s", "keys ranked"),
    " Verification    =               SUCCESSFUL",
    // c_print_results's npbversion is setparams.c's VERSION, the release.
    printf(" Version         =             %12s", "3.4.2"),
  ];
  assert.deepEqual(got.slice(0, want.length), want);
  // " Compile date" becomes the compute mode, in the same columns.
  assert.equal(got[want.length], printf(" Computation     =             %12s", "real"));
  const failed = printResults({ ...base, verified: false }, { language: "c", totalProcs: 4 });
  assert.ok(failed.includes(" Verification    =             UNSUCCESSFUL"));
  const grid = printResults({ ...base, size: "64x64x64" }, { language: "c", totalProcs: 4 });
  assert.equal(grid[4], printf(" Size            =              %3dx %3dx %3d", 64, 64, 64));
});

Deno.test("nas report: print_results.f90's layout (EP and a grid kernel)", () => {
  const r: NasResult = {
    ...base,
    name: "EP",
    size: "33554432",
    iterations: 0,
    timeSec: 0.357717536,
    mops: 93.80147357383117,
    opType: "Random numbers generated",
  };
  const got = printResults(r, { totalProcs: 4 });
  const x = (n: number) => " ".repeat(n);
  // FORMAT statements 2, 3, 42, 5, 6, 7, 8, 9, 10, 11, 12, 13 of NPB3.4-MPI/common/print_results.f90.
  const want = [
    "",
    "",
    " " + "EP" + " Benchmark Completed.",
    " Class           = " + x(12) + "S".padStart(12),
    // EP: write(size,'(f15.0)') 2.d0**n1, the point stripped, then a15 after 9x.
    " Size            = " + x(9) + "      33554432".padStart(15),
    " Iterations      = " + x(12) + fortranI(0, 12),
    " Time in seconds = " + x(12) + fortranF(r.timeSec, 12, 2),
    " Total processes = " + x(12) + fortranI(4, 12),
    " Active processes= " + x(12) + fortranI(4, 12),
    " Mop/s total     = " + x(12) + fortranF(r.mops, 12, 2),
    " Mop/s/process   = " + x(12) + fortranF(r.mops / 4, 12, 2),
    " Operation type  = " + "Random numbers generated",
    " Verification    = " + x(12) + "  SUCCESSFUL",
    // FORMAT 13, a12 of npbversion (setparams.c's VERSION: "3.4.2").
    " Version         = " + x(12) + "3.4.2".padStart(12),
  ];
  assert.deepEqual(got.slice(0, want.length), want);
  assert.equal(got[4], " Size            =                 33554432");
  assert.equal(got[6], " Time in seconds =                     0.36");
  // FORMAT 4: ' Size            =  ', 9x, i4,'x',i4,'x',i4.
  const mg = printResults({ ...r, name: "MG", size: "32x 32x 32" }, { totalProcs: 4 });
  assert.equal(mg[4], " Size            =  " + x(9) + "  32x  32x  32");
  // FORMAT 11 with a padded character*24 argument, as the Fortran kernels pass it.
  const cg = printResults({ ...r, name: "CG", opType: "          floating point" }, {
    totalProcs: 4,
  });
  assert.equal(cg[11], " Operation type  =           floating point");
  const model = printResults({ ...r, compute: "model", verified: false }, { totalProcs: 4 });
  assert.ok(model.includes(" Verification    =            NOT PERFORMED"));
  assert.ok(model.includes(" Computation     =                    model"));
});

Deno.test("nas report: the simulated platform replaces the compile options", () => {
  const got = printResults(base, {
    language: "c",
    totalProcs: 16,
    platform: {
      mode: "bypass",
      hosts: 8,
      guestsPerHost: 2,
      map: "block",
      profile: "pcix-sdr-2006",
      seed: 7,
      eagerThreshold: 12288,
      rendezvous: "RPUT",
    },
  });
  const i = got.indexOf(" Simulated platform:");
  assert.ok(i > 0 && got[i - 1] === "");
  assert.match(got[i + 1], /^ {4}MODE {9}= bypass \(Xen-IB guests/);
  assert.equal(got[i + 2], "    HOSTS        = 8 Xen host(s) x 2 guest(s), 16 rank(s), map block");
  assert.equal(got[i + 4], "    SEED         = 7");
  assert.match(got[i + 5], /eager <= 12288 B, rendezvous RDMA WRITE \(RPUT\)/);
  assert.ok(!got.some((l) => /npb@nas\.nasa\.gov/.test(l)), "no request to mail NPB");
});

Deno.test("nas report: the kernels' banners as NPB prints them", () => {
  assert.deepEqual(is.banner!("S", 4), [
    ...printf("\n\n NAS Parallel Benchmarks 3.4 -- IS Benchmark\n").split("\n"),
    printf(" Size:  %ld  (class %c)", 65536, "S"),
    printf(" Iterations:   %d", 10),
    printf(" Total number of processes:  %d", 4),
  ]);
  // ep.f90 formats 1000, 1001 (a15 of the 14-character size), 1003 (2x, i13, then /).
  assert.deepEqual(ep.banner!("A", 16), [
    "",
    " NAS Parallel Benchmarks 3.4 -- EP Benchmark",
    "",
    " Number of random numbers generated: " + " " + "     536870912" + "  (class A)",
    " Total number of processes:          " + "  " + fortranI(16, 13),
    "",
  ]);
});

Deno.test("nas report: FT's and LU's banners as ft.f90's setup and read_input.f90 print them", () => {
  const x = (n: number) => " ".repeat(n);
  // ft.f90 setup, no inputft.data: formats 1000, 234, 1001, 1002, 1004, 1005 and 1010.
  const ftWant = (
    cls: string,
    grid: number[],
    niter: number,
    np: number,
    arr: number[],
    t: string,
  ) => [
    "",
    "",
    " NAS Parallel Benchmarks 3.4 -- FT Benchmark",
    "",
    " No input file inputft.data. Using compiled defaults",
    " Size                : " + grid.map((n) => fortranI(n, 4)).join("x") + "  (class " + cls + ")",
    " Iterations          : " + x(7) + fortranI(niter, 7),
    " Number of processes : " + x(7) + fortranI(np, 7),
    " Processor array     : " + x(5) + fortranI(arr[0], 4) + "x" + fortranI(arr[1], 4),
    " Layout type         : " + x(9) + t.padStart(5),
  ];
  assert.deepEqual(ft.banner!("S", 4), ftWant("S", [64, 64, 64], 6, 4, [1, 4], "1D"));
  assert.deepEqual(ft.banner!("W", 1), ftWant("W", [128, 128, 32], 6, 1, [1, 1], "0D"));
  // More processes than nz: pencils, an nz x np/nz array.
  assert.deepEqual(ft.banner!("B", 1024), ftWant("B", [512, 256, 256], 20, 1024, [256, 4], "2D"));
  // read_input.f90: formats 1000, 1001, 1002, 1003, then write(*,*); proc_grid.f90's format
  // 2100 (' Proc_grid for nprocs =',i6,':',i5,' x',i5/) for 6, which is not a power of two.
  const luHead = [
    "",
    "",
    " NAS Parallel Benchmarks 3.4 -- LU Benchmark",
    "",
    " Size: " + fortranI(33, 4) + "x" + fortranI(33, 4) + "x" + fortranI(33, 4) + "  (class W)",
    " Iterations: " + fortranI(300, 4),
  ];
  assert.deepEqual(lu.banner!("W", 6), [
    ...luHead,
    " Total number of processes: " + fortranI(6, 6),
    "",
    " Proc_grid for nprocs =" + fortranI(6, 6) + ":" + fortranI(3, 5) + " x" + fortranI(2, 5),
    "",
  ]);
  assert.deepEqual(lu.banner!("W", 8), [
    ...luHead,
    " Total number of processes: " + fortranI(8, 6),
    "",
  ]);
});

Deno.test("nas report: Fortran edit descriptors", () => {
  assert.equal(fortranI(-42, 5), "  -42");
  assert.equal(fortranI(1e6, 4), "****");
  assert.equal(fortranF(1.005, 10, 3), "     1.005");
  assert.equal(fortranF(-0.0001, 8, 2), "   -0.00");
  assert.equal(fortranF(6140517, 15, 0), "       6140517.");
  assert.equal(fortranF(123456.789, 8, 2), "********");
  assert.equal(fortranE(-10515171.31857480, 25, 15, 1, "D"), "   -1.051517131857480D+07");
  assert.equal(fortranE(0, 12, 4, 1, "D"), "  0.0000D+00");
  assert.equal(fortranE(1.7130235054029e+01, 20, 13, 1, "E"), " 1.7130235054029E+01");
  assert.equal(fortranE(0.171302350540e+02, 20, 12, 0, "E"), "  0.171302350540E+02");
  assert.equal(fortranE(1e-120, 12, 3, 1, "E"), "   1.000-120");
});

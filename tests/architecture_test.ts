/**
 * The import directions of DESIGN §2, checked on the source: every
 * `import`/`export … from` (including `import type` and dynamic `import()`)
 * of every `.ts` file under sim/ hypervisor/ hca/ drivers/ platform/ mpi/
 * tools/ and mod.ts is parsed, resolved to the folder it lands in, and
 * checked against {@link ALLOWED}, the one table of who may import whom
 * (docs/architecture.md prints the same table). Independently of the table,
 * no folder may import a folder that imports it back (a cycle among
 * folders, found as a strongly connected component of the folder graph), so
 * a rule added carelessly to the table cannot let a circle in either.
 *
 * @module
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * A unit of the layout: a top-level folder, `mod.ts`, or one folder inside
 * drivers/ (the boxes of the paper's figure are these).
 */
type Unit = string;

/** The folders whose imports the design constrains. */
const SCANNED = ["sim", "hypervisor", "hca", "drivers", "platform", "mpi", "tools", "mod.ts"];

const DRIVERS = [
  "drivers/uapi",
  "drivers/verbs",
  "drivers/native",
  "drivers/vib",
  "drivers/xen",
  "drivers/front",
  "drivers/back",
  "drivers/split",
];

/**
 * Who may import whom (a unit may always import itself). DESIGN §2:
 * platform → drivers, hypervisor, hca, sim; drivers → hypervisor, hca, sim;
 * hca → sim; hypervisor → sim; sim → nothing; mpi → the public API (the
 * modules mod.ts re-exports, see {@link PUBLIC_ENTRY_ONLY}). Inside drivers/
 * the rows name the sub-folders each may use, and take from the hypervisor,
 * the device and sim only what they need (the kernel ABI and the user-level
 * library never see the hypervisor). Nothing imports platform/ but tools,
 * tests and mod.ts.
 */
export const ALLOWED: Readonly<Record<Unit, readonly Unit[]>> = {
  "sim": [],
  "hypervisor": ["sim"],
  "hca": ["sim"],
  // The uverbs ABI: knows no provider and no driver.
  "drivers/uapi": ["sim", "hca"],
  // The user-level library and its provider: the ABI below, the device's formats.
  "drivers/verbs": ["drivers/uapi", "sim", "hca"],
  // The HCA kernel driver: the ABI it implements, the device it drives.
  "drivers/native": ["drivers/uapi", "sim", "hca"],
  // The frontend/backend protocol sits on io/ring.h, as blkif.h does.
  "drivers/vib": ["drivers/xen", "sim"],
  // Guest and dom0 kernel Xen layers: ring, xenbus, event-channel and grant-table clients.
  "drivers/xen": ["sim", "hypervisor"],
  "drivers/front": ["drivers/uapi", "drivers/vib", "drivers/xen", "sim", "hca", "hypervisor"],
  "drivers/back": [
    "drivers/uapi",
    "drivers/vib",
    "drivers/xen",
    "drivers/native",
    "sim",
    "hca",
    "hypervisor",
  ],
  // The split baseline plugs into hooks front/ and back/ expose; they never import it.
  "drivers/split": [
    "drivers/front",
    "drivers/back",
    "drivers/verbs",
    "drivers/uapi",
    "drivers/vib",
    "drivers/xen",
    "sim",
    "hca",
    "hypervisor",
  ],
  // The composition root.
  "platform": [...DRIVERS, "hypervisor", "hca", "sim"],
  "mod.ts": ["platform", ...DRIVERS, "hypervisor", "hca", "sim", "mpi"],
  // MPI is a user of the public API only (the folder may not exist yet): the
  // folders whose public entry modules mod.ts re-exports; which files exactly
  // is checked by PUBLIC_ENTRY_ONLY. It cannot import mod.ts itself, which
  // re-exports it (that would be a cycle).
  "mpi": ["platform", "drivers/verbs", "sim"],
  "tools": ["mod.ts", "platform", ...DRIVERS, "hypervisor", "hca", "sim", "mpi"],
};

/**
 * Units that may import only the modules mod.ts re-exports (the public API),
 * whatever folder those live in.
 */
export const PUBLIC_ENTRY_ONLY: ReadonlySet<Unit> = new Set(["mpi"]);

/** The repository paths mod.ts re-exports from (`export … from "./x"`). */
export function publicEntries(modSrc: string): Set<string> {
  return new Set(
    importsOf("mod.ts", modSrc).map((r) => normalize(r.spec).replaceAll("\\", "/")),
  );
}

/**
 * Library folders import nothing but relative paths and Node built-ins, so
 * that a URL import of mod.ts works anywhere (DESIGN §10).
 */
const LIBRARY = new Set(["sim", "hypervisor", "hca", ...DRIVERS, "platform", "mpi", "mod.ts"]);

/** The unit a repository path (with `/` separators) belongs to, or undefined outside the layout. */
export function unitOf(path: string): Unit | undefined {
  if (path === "mod.ts") return "mod.ts";
  const parts = path.split("/");
  if (parts[0] === "drivers") return parts.length > 2 ? `drivers/${parts[1]}` : "drivers";
  return parts.length > 1 ? parts[0] : undefined;
}

/** One import statement: the importing file, the specifier, and its line. */
export interface ImportRef {
  file: string;
  spec: string;
  line: number;
}

/**
 * Every module specifier `src` imports: static imports and re-exports (type
 * ones too), side-effect imports and dynamic `import("…")`. Statements start
 * a line, so examples inside JSDoc (` * import …`) are not code and are not
 * counted.
 */
export function importsOf(file: string, src: string): ImportRef[] {
  const out: ImportRef[] = [];
  const lineAt = (i: number) => src.slice(0, i).split("\n").length;
  const patterns = [
    // import x, { a, b } from "…" / import type { … } from "…" / export * as n from "…"
    /^(?:import|export)(?:\s+type)?\s*(?:[\w$]+\s*,\s*)?(?:\{[^}]*\}|\*(?:\s+as\s+[\w$]+)?|[\w$]+)\s*from\s*["']([^"']+)["']/gm,
    // import "…" (side effects)
    /^import\s*["']([^"']+)["']/gm,
    // import("…")
    /(?<![\w$.])import\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) {
    for (const m of src.matchAll(re)) {
      const before = src.slice(src.lastIndexOf("\n", m.index!) + 1, m.index!);
      if (/^\s*(\*|\/\/)/.test(before)) continue; // inside a comment
      out.push({ file, spec: m[1], line: lineAt(m.index!) });
    }
  }
  return out;
}

/** An import the design forbids, with why. */
export interface Violation {
  file: string;
  line: number;
  spec: string;
  why: string;
}

/**
 * Check `files` (repository path → source): every import against
 * {@link ALLOWED}, library imports against {@link LIBRARY}'s rule, and the
 * folder graph for cycles. Returns what is wrong (empty when nothing is).
 */
export function check(files: ReadonlyMap<string, string>): Violation[] {
  const bad: Violation[] = [];
  const edges = new Map<Unit, Map<Unit, ImportRef>>();
  const entries = publicEntries(files.get("mod.ts") ?? "");
  for (const [file, src] of files) {
    const from = unitOf(file);
    if (!from) continue;
    for (const ref of importsOf(file, src)) {
      if (!ref.spec.startsWith(".")) {
        if (LIBRARY.has(from) && !ref.spec.startsWith("node:")) {
          bad.push({ ...ref, why: `${from} is library code: only relative and node: imports` });
        }
        continue;
      }
      const target = normalize(join(dirname(file), ref.spec)).replaceAll("\\", "/");
      const to = unitOf(target);
      if (!to) {
        bad.push({ ...ref, why: `imports ${target}, outside the layout` });
        continue;
      }
      if (to === from) continue;
      const allowed = ALLOWED[from];
      if (!allowed) {
        bad.push({ ...ref, why: `${from} is not a folder of the layout (add it to ALLOWED)` });
      } else if (!allowed.includes(to)) {
        bad.push({ ...ref, why: `${from} may not import ${to} (allowed: ${allowed.join(", ")})` });
      } else if (PUBLIC_ENTRY_ONLY.has(from) && !entries.has(target)) {
        bad.push({
          ...ref,
          why: `${from} uses the public API only: ${target} is not a module mod.ts re-exports`,
        });
      }
      if (!edges.has(from)) edges.set(from, new Map());
      if (!edges.get(from)!.has(to)) edges.get(from)!.set(to, ref);
    }
  }
  for (const cycle of folderCycles(edges)) {
    const ref = edges.get(cycle[0])!.get(cycle[1])!;
    const path = cycle.map((u, i) => {
      const next = cycle[(i + 1) % cycle.length];
      const e = edges.get(u)!.get(next)!;
      return `${u} → ${next} (${e.file}:${e.line})`;
    });
    bad.push({ ...ref, why: `folder cycle: ${path.join(", ")}` });
  }
  return bad;
}

/**
 * Each strongly connected component of more than one folder (Tarjan), as
 * one cycle through it: these are folders that import each other, directly
 * or around a circle.
 */
function folderCycles(edges: ReadonlyMap<Unit, ReadonlyMap<Unit, unknown>>): Unit[][] {
  const index = new Map<Unit, number>(), low = new Map<Unit, number>();
  const stack: Unit[] = [], on = new Set<Unit>(), out: Unit[][] = [];
  let next = 0;
  const visit = (v: Unit) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: Unit[] = [];
    for (let w = stack.pop()!;; w = stack.pop()!) {
      on.delete(w);
      scc.push(w);
      if (w === v) break;
    }
    if (scc.length > 1) out.push(cycleIn(new Set(scc), edges));
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

/** A cycle inside a strongly connected set (breadth-first back to the start). */
function cycleIn(scc: ReadonlySet<Unit>, edges: ReadonlyMap<Unit, ReadonlyMap<Unit, unknown>>) {
  const start = [...scc].sort()[0];
  const prev = new Map<Unit, Unit>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of [...(edges.get(v)?.keys() ?? [])].sort()) {
      if (!scc.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(prev.get(path[0])!);
        return path;
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...scc];
}

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), ".."));

async function sources(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(join(ROOT, dir))) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.isFile && e.name.endsWith(".ts")) {
        files.set(p, await Deno.readTextFile(join(ROOT, p)));
      }
    }
  };
  for (const top of SCANNED) {
    const stat = await Deno.stat(join(ROOT, top)).catch(() => undefined);
    if (!stat) continue; // mpi/ may not exist yet
    if (stat.isFile) files.set(top, await Deno.readTextFile(join(ROOT, top)));
    else await walk(top);
  }
  return files;
}

function show(vs: Violation[]): string {
  return vs.map((v) => `${v.file}:${v.line} imports "${v.spec}": ${v.why}`).join("\n");
}

Deno.test("architecture: every import follows the table and no folders import each other", async () => {
  const files = await sources();
  assert.ok(files.size > 100, `read ${files.size} files from ${relative(Deno.cwd(), ROOT) || "."}`);
  for (const f of files.keys()) {
    assert.ok(unitOf(f) === "drivers" ? false : ALLOWED[unitOf(f)!], `${f}: no row in ALLOWED`);
  }
  const vs = check(files);
  assert.equal(vs.length, 0, `\n${show(vs)}`);
});

Deno.test("architecture: the parser sees every form of import and none in comments", () => {
  const src = [
    'import { a } from "./a.ts";',
    'import type { B } from "../b/b.ts";',
    "import {",
    "  c,",
    "  type D,",
    '} from "./c.ts";',
    'import * as e from "./e.ts";',
    'import f, { g } from "./f.ts";',
    'export * from "./h.ts";',
    'export { i } from "./i.ts";',
    'export type * from "./j.ts";',
    'import "./k.ts";',
    'const l = await import("./l.ts");',
    "/**",
    ' * import { hidden } from "../../platform/mod.ts";',
    " */",
    '// import { alsoHidden } from "../../platform/mod.ts";',
    'export const m = "not an import from \\"./n.ts\\"";',
  ].join("\n");
  assert.deepEqual(
    importsOf("x.ts", src).map((r) => r.spec).sort(),
    [
      "../b/b.ts",
      "./a.ts",
      "./c.ts",
      "./e.ts",
      "./f.ts",
      "./h.ts",
      "./i.ts",
      "./j.ts",
      "./k.ts",
      "./l.ts",
    ],
  );
});

Deno.test("architecture: a forbidden import, a cycle and a dependency are reported", () => {
  const files = new Map([
    ["drivers/front/file.ts", 'import { SplitProvider } from "../split/front.ts";\n'],
    ["drivers/split/front.ts", 'import { VibFront } from "../front/vibfront.ts";\n'],
    ["drivers/front/vibfront.ts", ""],
    ["hca/device.ts", 'import type { Domain } from "../hypervisor/domain.ts";\n'],
    ["sim/engine.ts", 'import yaml from "npm:yaml";\n'],
    ["drivers/verbs/a.ts", 'import { b } from "../native/b.ts";\n'],
    ["drivers/native/b.ts", 'import { a } from "../verbs/a.ts";\n'],
    ["mod.ts", 'export * from "./drivers/verbs/mod.ts";\nexport * as mpi from "./mpi/mod.ts";\n'],
    ["mpi/mod.ts", 'import { Qp } from "../drivers/verbs/qp.ts";\n'],
    ["mpi/ok.ts", 'import { Qp } from "../drivers/verbs/mod.ts";\n'],
  ]);
  const why = check(files).map((v) => `${v.file}: ${v.why}`);
  assert.ok(
    why.some((w) =>
      w.startsWith("drivers/front/file.ts: drivers/front may not import drivers/split")
    ),
  );
  assert.ok(why.some((w) => w.startsWith("hca/device.ts: hca may not import hypervisor")));
  assert.ok(why.some((w) => w.startsWith("sim/engine.ts: sim is library code")));
  assert.ok(
    why.some((w) => w.startsWith("mpi/mod.ts: mpi uses the public API only")),
    why.join("\n"),
  );
  assert.ok(!why.some((w) => w.startsWith("mpi/ok.ts")), why.join("\n"));
  assert.ok(
    why.some((w) => /folder cycle: drivers\/front → drivers\/split/.test(w)),
    why.join("\n"),
  );
  assert.ok(
    why.some((w) => /folder cycle: drivers\/native → drivers\/verbs/.test(w)),
    why.join("\n"),
  );
});

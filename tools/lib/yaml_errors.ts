/**
 * Locate a key path in a parsed YAML document, so that errors from
 * validation can name the file, line and column of the offending key.
 *
 * @module
 */
import { type Document, isAlias, isMap, isScalar, LineCounter, parseDocument, visit } from "yaml";

/**
 * A YAML document with the line counter needed to turn offsets into positions.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LocatedYaml, parseYaml } from "./yaml_errors.ts";
 * const y: LocatedYaml = parseYaml("seed: 1\nhosts: []\n", "s.yaml");
 * assert.equal(y.file, "s.yaml");
 * assert.deepEqual(y.value, { seed: 1, hosts: [] });
 * assert.deepEqual(y.lines.linePos(8), { line: 2, col: 1 }); // offset of "hosts"
 * ```
 */
export interface LocatedYaml {
  /** The parsed document. */
  doc: Document;
  /** The document as plain data (aliases resolved). */
  value: unknown;
  /** Offsets → line/column. */
  lines: LineCounter;
  /** File name used in messages. */
  file: string;
}

/**
 * Error in a YAML input file: message starts with `file:line:col:`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { YamlInputError } from "./yaml_errors.ts";
 * const e = new YamlInputError("s.yaml", 3, 5, "unknown key 'x'");
 * assert.equal(e.message, "s.yaml:3:5: unknown key 'x'"); // as compilers print it
 * assert.deepEqual([e.name, e.file, e.line, e.col], ["YamlInputError", "s.yaml", 3, 5]);
 * ```
 */
export class YamlInputError extends Error {
  /**
   * @param file file name
   * @param line 1-based line
   * @param col 1-based column
   * @param detail what is wrong
   */
  constructor(readonly file: string, readonly line: number, readonly col: number, detail: string) {
    super(`${file}:${line}:${col}: ${detail}`);
    this.name = "YamlInputError";
  }
}

/**
 * The yaml package's budget for alias expansion (its default, made explicit): an anchor's uses
 * times the aliases inside it may not exceed it.
 */
const MAX_ALIAS_COUNT = 100;

/**
 * Lists and mappings nested past what the parser's recursion takes: the yaml package reports
 * it as RESOURCE_EXHAUSTION with V8's "Maximum call stack size exceeded", which names no input.
 */
const TOO_DEEP = "lists and mappings nested too deep (hundreds of levels); refused";

/**
 * Parse YAML text; syntax errors become {@link YamlInputError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseYaml } from "./yaml_errors.ts";
 * assert.deepEqual(parseYaml("a: 1\n", "x.yaml").value, { a: 1 });
 * assert.throws(() => parseYaml("a: 1\na: 2\n", "x.yaml"), {
 *   name: "YamlInputError",
 *   message: "x.yaml:2:1: Map keys must be unique",
 * });
 * // One document, plain data: no second '---', no tags that make other kinds of objects.
 * assert.throws(() => parseYaml("a: 1\n---\nb: 2\n", "x.yaml"), {
 *   message: "x.yaml:2:1: a second YAML document ('---'): the file must hold one",
 * });
 * assert.throws(() => parseYaml("a: !!binary aGk=\n", "x.yaml"), {
 *   message: "x.yaml:1:4: tag '!!binary' is not taken here " +
 *     "(plain YAML only: mappings, lists, strings, numbers, booleans)",
 * });
 * // Aliases that multiply (a "billion laughs" document) are refused at the first alias.
 * const bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"];
 * for (const [i, name] of ["b", "c", "d", "e", "f"].entries()) {
 *   const prev = "abcde"[i];
 *   bomb.push(`${name}: &${name} [${Array(9).fill("*" + prev).join(", ")}]`);
 * }
 * assert.throws(() => parseYaml(bomb.join("\n") + "\n", "x.yaml"), {
 *   name: "YamlInputError",
 *   message: "x.yaml:2:8: aliases expand too far (an alias bomb: each level multiplies the " +
 *     "one before); refused",
 * });
 * // So is nesting deeper than the parser's stack (V8's own words named no input).
 * assert.throws(() => parseYaml("a: " + "[".repeat(5000) + "]".repeat(5000) + "\n", "x.yaml"), {
 *   name: "YamlInputError",
 *   message: /^x\.yaml:1:\d+: lists and mappings nested too deep \(hundreds of levels\); refused$/,
 * });
 * ```
 */
export function parseYaml(text: string, file: string): LocatedYaml {
  const lines = new LineCounter();
  // resolveKnownTags off: YAML 1.1's !!binary, !!set, !!omap, !!timestamp would become a
  // Buffer, Set, Map or Date, which no key of these files takes; they stay unknown tags.
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    resolveKnownTags: false,
  });
  const problem = doc.errors[0] ?? doc.warnings.find((w) => w.code === "TAG_RESOLVE_FAILED");
  if (problem) {
    const pos = lines.linePos(problem.pos[0]);
    const detail = problem.code === "MULTIPLE_DOCS"
      ? "a second YAML document ('---'): the file must hold one"
      : problem.code === "RESOURCE_EXHAUSTION" && /call stack/i.test(problem.message)
      ? TOO_DEEP
      : problem.code === "TAG_RESOLVE_FAILED"
      ? `tag '${tagName(problem.message)}' is not taken here (plain YAML only: mappings, lists, ` +
        "strings, numbers, booleans)"
      : problem.message.split("\n")[0];
    throw new YamlInputError(file, pos.line, pos.col, detail);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    // The yaml package's guard against exponential alias expansion ("billion laughs") throws
    // a ReferenceError while resolving; name the first alias as where the document goes wrong.
    // Nesting the parser took but resolving does not (a RangeError, the stack) is refused too.
    if (e instanceof RangeError && /call stack/i.test(e.message)) {
      throw new YamlInputError(file, 1, 1, TOO_DEEP);
    }
    if (!(e instanceof ReferenceError)) throw e;
    let offset = 0;
    visit(doc, {
      Alias(_key, node) {
        if (!isAlias(node)) return;
        offset = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    const pos = lines.linePos(offset);
    const detail = /excessive alias count/i.test(e.message)
      ? "aliases expand too far (an alias bomb: each level multiplies the one before); refused"
      : e.message.split("\n")[0];
    throw new YamlInputError(file, pos.line, pos.col, detail);
  }
  return { doc, value, lines, file };
}

/** The tag of the yaml package's "Unresolved tag: …" warning, as a file spells it (`!!binary`). */
function tagName(message: string): string {
  return message.split("\n")[0].replace(/^Unresolved tag: /, "").replace(
    /^tag:yaml\.org,2002:/,
    "!!",
  );
}

/**
 * Build an error pointing at the key at `path` (dotted or array), or at the
 * nearest ancestor that exists.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorAt, parseYaml } from "./yaml_errors.ts";
 * const y = parseYaml("pci:\n  bogus: 1\nhosts:\n  - name: a\n  - name: 7\n", "p.yaml");
 * assert.equal(errorAt(y, "pci.bogus", "unknown key").message, "p.yaml:2:3: unknown key");
 * assert.equal(errorAt(y, ["hosts", 1, "name"], "not a name").message, "p.yaml:5:5: not a name");
 * // A key that is not there: its nearest ancestor that is.
 * assert.equal(errorAt(y, "pci.mtu", "missing").message, "p.yaml:1:1: missing");
 * ```
 */
export function errorAt(y: LocatedYaml, path: string | (string | number)[], detail: string) {
  const parts = typeof path === "string" ? (path ? path.split(".") : []) : path;
  let node: unknown = y.doc.contents;
  let offset = (node as { range?: number[] })?.range?.[0] ?? 0;
  for (const part of parts) {
    if (!isMap(node) && !(node && typeof node === "object" && "items" in node)) break;
    const items = (node as { items: unknown[] }).items;
    let found: unknown = undefined;
    if (isMap(node)) {
      for (const pair of node.items) {
        if (isScalar(pair.key) && String(pair.key.value) === String(part)) {
          offset = pair.key.range?.[0] ?? offset;
          found = pair.value;
          break;
        }
      }
    } else if (typeof part === "number" && items[part]) {
      found = items[part];
      offset = (found as { range?: number[] }).range?.[0] ?? offset;
    }
    if (found === undefined) break;
    node = found;
  }
  const pos = y.lines.linePos(offset);
  return new YamlInputError(y.file, pos.line, pos.col, detail);
}

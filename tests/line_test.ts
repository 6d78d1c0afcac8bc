import assert from "node:assert/strict";
import { Line, LINE_COMPACT_AT } from "../sim/line.ts";

Deno.test("a line that is never empty keeps its order and does not grow", () => {
  const objs: { n: number }[] = [], nums: number[] = [];
  const line = new Line([objs], [nums]);
  const add = (n: number) => {
    const i = line.add();
    objs[i] = { n };
    nums[i] = n * 10;
  };
  add(0);
  add(1);
  let next = 0;
  for (let n = 2; n < 10 * LINE_COMPACT_AT; n++) {
    add(n);
    // Always two entries still waiting after the one taken, as a stream's DMA.
    assert.deepEqual([objs[line.head].n, nums[line.head]], [next, next * 10]);
    line.drop();
    next++;
    assert.equal(line.length, 2);
    assert.ok(line.tail <= LINE_COMPACT_AT + 2, `tail ${line.tail} at entry ${n}`);
  }
  assert.ok(objs.length <= LINE_COMPACT_AT + 2, `${objs.length} slots`);
  // Every slot outside the live part holds nothing (nothing kept alive).
  for (let i = 0; i < objs.length; i++) {
    if (i < line.head || i >= line.tail) assert.equal(objs[i], undefined, `slot ${i}`);
  }
  while (line.length > 0) {
    assert.equal(objs[line.head].n, next++);
    line.drop();
  }
  assert.deepEqual([line.head, line.tail], [0, 0]);
});

Deno.test("a line with a long backlog moves it only when the consumed part outweighs it", () => {
  const objs: number[][] = [];
  const line = new Line([objs]);
  const backlog = 3 * LINE_COMPACT_AT;
  let added = 0, next = 0, maxHead = 0;
  for (; added < backlog; added++) objs[line.add()] = [added];
  for (let round = 0; round < 4 * backlog; round++) {
    objs[line.add()] = [added++];
    assert.equal(objs[line.head][0], next++);
    line.drop();
    maxHead = Math.max(maxHead, line.head);
    assert.equal(line.length, backlog);
    // The arrays stay within twice the live part (plus the entry being added).
    assert.ok(line.tail <= 2 * backlog + 1, `tail ${line.tail} in round ${round}`);
  }
  // Not moved every LINE_COMPACT_AT entries (a copy of the whole backlog each time).
  assert.ok(maxHead >= backlog, `moved at head ${maxHead}`);
  for (let i = 0; i < line.head; i++) assert.equal(objs[i], undefined, `slot ${i}`);
});

Deno.test("a line clears each of up to three object fields and refuses a fourth", () => {
  const a: object[] = [], b: object[] = [], c: object[] = [], n: number[] = [];
  const line = new Line([a, b, c], [n]);
  for (let k = 0; k < 3; k++) {
    const i = line.add();
    [a[i], b[i], c[i], n[i]] = [{ k }, { k }, { k }, k];
  }
  line.drop();
  line.drop();
  // The dropped entries' objects are let go in every field; the live one is kept.
  assert.deepEqual([a[0], b[0], c[0], a[1], b[1], c[1]], Array(6).fill(undefined));
  assert.deepEqual([a[2], b[2], c[2], n[line.head]], [{ k: 2 }, { k: 2 }, { k: 2 }, 2]);
  assert.throws(() => new Line([a, b, c, []]), /Line: 4 object fields \(at most 3\)/);
});

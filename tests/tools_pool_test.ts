/**
 * `tools/lib/pool.ts`: a run on workers ends as the same run in order in one
 * thread, also when a task fails, and a task's arguments are its own.
 */
import assert from "node:assert/strict";
import { runTasks, type Task, task } from "../tools/lib/pool.ts";

const TASKS = new URL("./support/pool_tasks.ts", import.meta.url);

/** The results streamed to `onResult` and how the run ended. */
async function outcome(tasks: Task[], jobs: number) {
  const streamed: [number, unknown][] = [];
  try {
    const all = await runTasks(tasks, { jobs, onResult: (i, v) => streamed.push([i, v]) });
    return { streamed, all, error: undefined };
  } catch (e) {
    const err = e as Error;
    return { streamed, all: undefined, error: `${err.name}: ${err.message}` };
  }
}

Deno.test("pool: a failing run ends with the first failure in task order, as in one thread", async () => {
  // Task 2 is started first (its cost) and fails at once; task 1 fails later; task 0 is slow.
  // In order, task 0 finishes, task 1 fails and task 2 never runs.
  const tasks: Task[] = [
    task(TASKS, "after", 400, "zero"),
    task(TASKS, "failAfter", 100, "one failed"),
    { ...task(TASKS, "failAfter", 0, "two failed"), cost: 10 },
    task(TASKS, "after", 0, "three"),
  ];
  const inOrder = await outcome(tasks, 1);
  assert.deepEqual(inOrder, {
    streamed: [[0, "zero"]],
    all: undefined,
    error: "RangeError: one failed",
  });
  for (const jobs of [2, 3, 8]) {
    assert.deepEqual(await outcome(tasks, jobs), inOrder, `${jobs} jobs`);
  }
});

Deno.test("pool: a task's arguments are copies, in one thread as on workers", async () => {
  const seen = { tags: [] as string[] };
  const tasks = ["a", "b", "c"].map((t) => task(TASKS, "tag", seen, t));
  const inOrder = await runTasks(tasks, { jobs: 1 });
  assert.deepEqual(inOrder, [1, 1, 1], "no task saw another's change");
  assert.deepEqual(await runTasks(tasks, { jobs: 2 }), inOrder);
  assert.deepEqual(seen.tags, [], "the caller's object is untouched");
});

Deno.test("pool: a result is plain data in one thread as on workers", async () => {
  const tasks = [task(TASKS, "count", 1), task(TASKS, "count", 2)];
  const inOrder = await runTasks<{ n: number; twice?: number }>(tasks, { jobs: 1 });
  assert.deepEqual(inOrder, [{ n: 1 }, { n: 2 }]);
  assert.equal(inOrder[0].twice, undefined, "no getter from the task's class");
  assert.deepEqual(await runTasks(tasks, { jobs: 2 }), inOrder);
});

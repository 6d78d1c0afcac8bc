/**
 * `mpi.mpiexec`, `mpi.launch` and `mpi.runJob` given options that are no object or a `main` that
 * is no function refuse with MPI_ERR_ARG before anything is built (docs/mpi.md, Launching): it used
 * to be a TypeError from inside (`Cannot read properties of undefined (reading 'np')`), or a job
 * whose every rank failed with `TypeError: main is not a function`.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";

const argErr = (re: RegExp) => (e: unknown) => {
  assert.ok(e instanceof mpi.MpiError, `${e}`);
  assert.equal(e.code, "MPI_ERR_ARG");
  assert.match(e.message, re);
  return true;
};

Deno.test("mpiexec, launch and runJob refuse options and programs they cannot take", async () => {
  await assert.rejects(
    mpi.mpiexec(undefined as never, () => 0),
    argErr(/give the launch options \{ np, mode, … \}, got undefined/),
  );
  await assert.rejects(
    mpi.launch(null as never),
    argErr(/give the launch options \{ np, mode, … \}, got null/),
  );
  await assert.rejects(
    mpi.mpiexec({ np: 2, mode: "native" }, undefined as never),
    argErr(/main must be a function \(comm, args\), got undefined/),
  );
  const l = await mpi.launch({ np: 1, mode: "native" });
  await assert.rejects(mpi.runJob(l.cluster, l.domains, "x" as never), (e: unknown) => {
    assert.ok(e instanceof mpi.MpiJobError, `${e}`);
    assert.match((e as Error).message, /main must be a function \(comm, args\), got string/);
    return true;
  });
});

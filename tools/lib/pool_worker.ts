/**
 * The Web Worker of `pool.ts`: receives `{ id, module, fn, args }`, calls
 * the task as `callTask` does in the main thread, and posts back the result
 * or the error's name and message.
 *
 * @module
 */
import { callTask } from "./pool.ts";

/** The worker's global scope, as much of it as this module uses. */
interface WorkerScope {
  onmessage: ((ev: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
}

const scope = self as unknown as WorkerScope;

scope.onmessage = async (ev: MessageEvent) => {
  const { id, module, fn, args } = ev.data as {
    id: number;
    module: string;
    fn: string;
    args: unknown[];
  };
  try {
    const value = await callTask({ module, fn, args });
    scope.postMessage({ id, ok: true, value });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    scope.postMessage({
      id,
      ok: false,
      error: { name: err.name, message: err.message, stack: err.stack },
    });
  }
};

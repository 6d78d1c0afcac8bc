/**
 * Interrupt lines: a device raises a numbered vector; whoever owns the
 * platform (a bare-metal OS or the hypervisor) registers the handler. The
 * device knows vectors, not who handles them.
 *
 * @module
 */

/**
 * Handler for a raised vector.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InterruptController, type IrqHandler } from "./irq.ts";
 * const seen: number[] = [];
 * const handler: IrqHandler = (vector) => seen.push(vector);
 * const pic = new InterruptController();
 * pic.connect(handler);
 * pic.raise(5);
 * assert.deepEqual(seen, [5]);
 * ```
 */
export type IrqHandler = (vector: number) => void;

/**
 * A host's interrupt controller.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InterruptController } from "./irq.ts";
 * const pic = new InterruptController();
 * pic.raise(3); // nobody has connected a handler yet
 * assert.equal(pic.lost, 1);
 * let seen = -1;
 * pic.connect((v) => (seen = v));
 * pic.raise(3);
 * assert.equal(seen, 3);
 * assert.equal(pic.raised.get(3), 2); // both raises are counted
 * ```
 */
export class InterruptController {
  #handler: IrqHandler | undefined;
  /** Interrupts raised, per vector. */
  readonly raised = new Map<number, number>();
  /** Interrupts raised with no handler connected. */
  lost = 0;

  /** Install the platform's handler (replaces any earlier one). */
  connect(handler: IrqHandler): void {
    this.#handler = handler;
  }

  /** Raise `vector`. */
  raise(vector: number): void {
    this.raised.set(vector, (this.raised.get(vector) ?? 0) + 1);
    if (this.#handler) this.#handler(vector);
    else this.lost++;
  }
}

/**
 * One guest context as dom0's backend holds it: the kernel verbs state
 * (a `UContext` of the native driver, with the context's own handle
 * tables — DESIGN §9 invariant 4: a handle from this frontend resolves
 * only here), the UAR, and every grant mapping and device queue the
 * context's objects use, so that closing it returns all of them.
 *
 * @module
 */
import type { UContext } from "../native/ucontext.ts";
import type { ContextDatapath } from "./datapath.ts";
import type { GrantedMemory } from "./granted_memory.ts";
import type { MappedBuffer } from "./grants.ts";

/**
 * What one object (MR, CQ, QP, SRQ) holds besides its device state.
 *
 * @example
 * ```ts
 * import type { ObjectBacking } from "./context.ts";
 * const pages = (o: ObjectBacking) => o.buf.mfns.length; // the frames the device may reach
 * ```
 */
export interface ObjectBacking {
  /** The guest pages, mapped in dom0. */
  buf: MappedBuffer;
  /** With a datapath through dom0: the dom0 queue registered with the device instead. */
  queue?: number;
  /** QPN / CQN / SRQN (a datapath through dom0 routes doorbells by number). */
  num?: number;
}

/**
 * A context of a frontend.
 *
 * @example
 * ```ts
 * import type { BackContext } from "./context.ts";
 * const pinned = (c: BackContext) =>
 *   [...c.objects.values()].reduce((n, o) => n + o.buf.handles.length, 0);
 * ```
 */
export interface BackContext {
  /** Context id (the `ctx` of requests). */
  id: number;
  /** The kernel verbs state. */
  uctx: UContext;
  /** The frames of the buffer being registered by the call in progress. */
  memory: GrantedMemory;
  /** UAR page index and where it is mapped (guest address in bypass mode, dom0's in split). */
  uarIndex: number;
  uarAddr: number;
  /** Backing of each object, by `"<kind>:<handle>"`. */
  objects: Map<string, ObjectBacking>;
  /** The context's datapath through dom0, if the device has one (split mode). */
  datapath?: ContextDatapath;
}

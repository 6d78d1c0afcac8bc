/**
 * Process groups (MPI-3.1 §6.3): an ordered set of processes, named here by
 * their ranks in MPI_COMM_WORLD. `comm.getGroup()` gives a communicator's
 * (MPI_Comm_group); the operations below make new groups locally, without
 * communication; `comm.create(group)` makes a communicator of one.
 *
 * Misuse throws an {@link MpiError} (a group belongs to no communicator, so
 * no communicator's error handler applies to it).
 *
 * @module
 */
import { IDENT, PROC_NULL, SIMILAR, UNDEFINED, UNEQUAL } from "./constants.ts";
import { MpiError } from "./errors.ts";

/**
 * A group of processes, seen by one process (for {@link Group.rank}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Group } from "./group.ts";
 * const world = new Group([0, 1, 2, 3, 4], 2); // seen by world rank 2
 * const odd = world.incl([1, 3]);
 * assert.deepEqual([odd.size, odd.rank], [2, -32766]); // rank 2 is not in it: UNDEFINED
 * assert.deepEqual(world.excl([0, 1]).members, [2, 3, 4]);
 * assert.deepEqual(world.translateRanks([1, 3], odd), [0, 1]);
 * ```
 */
export class Group {
  readonly #members: readonly number[];
  readonly #me: number;

  /**
   * @param members world ranks of the members, in group rank order
   * @param me world rank of the process that holds this group
   */
  constructor(members: readonly number[], me: number) {
    this.#members = Object.freeze([...members]);
    this.#me = me;
  }

  /** World ranks of the members, in group rank order. */
  get members(): readonly number[] {
    return this.#members;
  }

  /** `MPI_Group_size`. */
  get size(): number {
    return this.#members.length;
  }

  /** `MPI_Group_rank`: the holding process's rank in the group, or UNDEFINED if not a member. */
  get rank(): number {
    const r = this.#members.indexOf(this.#me);
    return r < 0 ? UNDEFINED : r;
  }

  /** World rank of the process holding the group. */
  get holder(): number {
    return this.#me;
  }

  #ranks(what: string, ranks: readonly number[]): void {
    if (!Array.isArray(ranks)) {
      throw new MpiError("MPI_ERR_ARG", `${what}: ranks must be an array of group ranks`);
    }
    const seen = new Set<number>();
    for (const r of ranks) {
      if (!Number.isInteger(r) || r < 0 || r >= this.size) {
        throw new MpiError(
          "MPI_ERR_RANK",
          `${what}: rank ${r} outside 0..${this.size - 1} of the group`,
        );
      }
      // MPI-3.1 §6.3.2: "All elements of ranks must be distinct".
      if (seen.has(r)) throw new MpiError("MPI_ERR_RANK", `${what}: rank ${r} appears twice`);
      seen.add(r);
    }
  }

  #other(what: string, g: Group): void {
    if (!(g instanceof Group)) throw new MpiError("MPI_ERR_GROUP", `${what}: not a group`);
    if (g.#me !== this.#me) {
      throw new MpiError(
        "MPI_ERR_GROUP",
        `${what}: the other group belongs to rank ${g.#me}, not ${this.#me}`,
      );
    }
  }

  /** `MPI_Group_incl`: members `ranks[0]`, `ranks[1]`, … of this group, in that order. */
  incl(ranks: readonly number[]): Group {
    this.#ranks("MPI_Group_incl", ranks);
    return new Group(ranks.map((r) => this.#members[r]), this.#me);
  }

  /** `MPI_Group_excl`: this group without members `ranks`, the others in their order. */
  excl(ranks: readonly number[]): Group {
    this.#ranks("MPI_Group_excl", ranks);
    const out = new Set(ranks);
    return new Group(this.#members.filter((_, r) => !out.has(r)), this.#me);
  }

  /**
   * `MPI_Group_translate_ranks`: the rank in `other` of each member
   * `ranks[i]` of this group (UNDEFINED when it is not in `other`;
   * PROC_NULL stays PROC_NULL, MPI-3.1 §6.3.1).
   */
  translateRanks(ranks: readonly number[], other: Group): number[] {
    const what = "MPI_Group_translate_ranks";
    this.#other(what, other);
    if (!Array.isArray(ranks)) {
      throw new MpiError("MPI_ERR_ARG", `${what}: ranks must be an array of group ranks`);
    }
    return ranks.map((r) => {
      if (r === PROC_NULL) return PROC_NULL;
      if (!Number.isInteger(r) || r < 0 || r >= this.size) {
        throw new MpiError(
          "MPI_ERR_RANK",
          `${what}: rank ${r} outside 0..${this.size - 1} of the group`,
        );
      }
      const t = other.#members.indexOf(this.#members[r]);
      return t < 0 ? UNDEFINED : t;
    });
  }

  /**
   * `MPI_Group_compare` (MPI-3.1 §6.3.1): IDENT when the members and their
   * order are the same, SIMILAR when only the members are, UNEQUAL otherwise.
   */
  compare(other: Group): typeof IDENT | typeof SIMILAR | typeof UNEQUAL {
    this.#other("MPI_Group_compare", other);
    const a = this.#members, b = other.#members;
    if (a.length !== b.length) return UNEQUAL;
    if (a.every((w, i) => w === b[i])) return IDENT;
    const mine = new Set(a);
    return b.every((w) => mine.has(w)) ? SIMILAR : UNEQUAL;
  }

  /** `MPI_Group_union`: this group's members, then `other`'s not in it. */
  union(other: Group): Group {
    this.#other("MPI_Group_union", other);
    const mine = new Set(this.#members);
    return new Group(
      [...this.#members, ...other.#members.filter((w) => !mine.has(w))],
      this.#me,
    );
  }

  /** `MPI_Group_intersection`: this group's members that are in `other`, in this group's order. */
  intersection(other: Group): Group {
    this.#other("MPI_Group_intersection", other);
    const theirs = new Set(other.#members);
    return new Group(this.#members.filter((w) => theirs.has(w)), this.#me);
  }

  /** `MPI_Group_difference`: this group's members that are not in `other`, in this group's order. */
  difference(other: Group): Group {
    this.#other("MPI_Group_difference", other);
    const theirs = new Set(other.#members);
    return new Group(this.#members.filter((w) => !theirs.has(w)), this.#me);
  }
}

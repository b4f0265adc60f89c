/**
 * Guesses where a runtime that hides descriptors (Deno) put a new socket, so that finding it is
 * a handful of system calls instead of a scan of every open descriptor. Pure bookkeeping: every
 * guess is verified by address before use, so a wrong guess costs time, never safety.
 *
 * The guesses follow from POSIX: a new descriptor is the lowest one free. So it is most likely a
 * descriptor a managed connection just released, or just above the highest one seen so far; and
 * a socket looked up before is most likely where it was (a caller setting options again, or a
 * new socket reusing the number of one that closed).
 *
 * @module
 */

import type { Descriptor } from "../ffi/types.ts";

/** Remembered descriptors and how lookups went. */
export class DescriptorHints {
  #released: Descriptor[] = [];
  #recent: Descriptor[] = [];
  #highest = -1;
  /** What {@linkcode DescriptorHints.guesses} returns until a guess changes; made on demand. */
  #guesses: readonly Descriptor[] | undefined;
  readonly #lookahead: number;
  readonly #maxReleased: number;
  /** Lookups answered by a guess. */
  hits = 0;
  /** Lookups that needed a full scan. */
  scans = 0;

  /** `lookahead` guesses above the highest descriptor seen; at most `maxReleased` remembered. */
  constructor(lookahead = 8, maxReleased = 64) {
    this.#lookahead = lookahead;
    this.#maxReleased = maxReleased;
  }

  /**
   * Guesses, best first: descriptors found lately (most recent first), released descriptors
   * (lowest first), then just above the highest. One frozen array, made again only once a
   * guess changed: a lookup of the socket found last (the usual case) allocates nothing.
   */
  guesses(): readonly Descriptor[] {
    if (this.#guesses) return this.#guesses;
    const out = this.#recent.concat(this.#released);
    for (let k = 1; k <= this.#lookahead; k++) out.push(this.#highest + k);
    return this.#guesses = Object.freeze(out);
  }

  /** Records the descriptor a lookup verified, and whether a scan was needed to find it. */
  found(fd: Descriptor, scanned: boolean): void {
    if (scanned) this.scans++;
    else this.hits++;
    // The usual case (the same socket again, or a new one on the number just released and
    // found already): nothing to move.
    if (this.#recent[0] === fd && this.#released.length === 0 && fd <= this.#highest) return;
    this.#guesses = undefined;
    if (fd > this.#highest) this.#highest = fd;
    const i = this.#released.indexOf(fd);
    if (i >= 0) this.#released.splice(i, 1);
    const j = this.#recent.indexOf(fd);
    if (j >= 0) this.#recent.splice(j, 1);
    this.#recent.unshift(fd);
    if (this.#recent.length > this.#lookahead) this.#recent.pop();
  }

  /** Forgets every guess (the counters stay). */
  clear(): void {
    this.#guesses = undefined;
    this.#released = [];
    this.#recent = [];
    this.#highest = -1;
  }

  /** Records that a managed connection closed its descriptor, which is now free for reuse. */
  released(fd: Descriptor): void {
    const list = this.#released;
    // Keep the lowest: the kernel hands out the lowest free descriptor first. One above all of
    // a full list would be dropped again at once (thousands closing together: a cable pulled).
    if (list.length >= this.#maxReleased && fd > list[list.length - 1]!) return;
    let at = list.length;
    while (at > 0 && list[at - 1]! >= fd) at--;
    if (list[at] === fd) return;
    this.#guesses = undefined;
    list.splice(at, 0, fd);
    if (list.length > this.#maxReleased) list.pop();
  }
}

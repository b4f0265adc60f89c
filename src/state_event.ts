/**
 * {@linkcode StateChangeEvent}: what a connection dispatches on each transition of its state.
 *
 * @module
 */

import type { CloseInfo, ConnectionState, Transition } from "./state.ts";

/**
 * The event a `LiveConnection` dispatches on each transition.
 *
 * @example
 * ```ts
 * import { connect, type StateChangeEvent } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * const conn = connect({ port: 7000 });
 * const seen: StateChangeEvent[] = [];
 * conn.addEventListener("statechange", (e) => seen.push(e));
 * await conn.close(); // before it opened
 * const [event] = seen;
 * assert.deepEqual([event.type, event.from, event.to], ["statechange", "connecting", "closed-gracefully"]);
 * assert.equal(event.info?.by, "local"); // `info` comes with a terminal state
 * ```
 */
export class StateChangeEvent extends Event {
  /** The state left. */
  readonly from: ConnectionState;
  /** The state entered. */
  readonly to: ConnectionState;
  /** When, in ms since the epoch. */
  readonly at: number;
  /** How the connection ended, when `to` is terminal. */
  readonly info?: CloseInfo;

  /** @internal Made by the connection, from a transition of its state machine. */
  constructor(transition: Transition) {
    super("statechange");
    this.from = transition.from;
    this.to = transition.to;
    this.at = transition.at;
    if (transition.info) this.info = transition.info;
  }
}

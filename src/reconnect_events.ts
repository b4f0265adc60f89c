/**
 * The events a reconnecting client dispatches: `attempt`, `connection`, `statechange` (a
 * connection's, forwarded) and `giveup`.
 *
 * @module
 */

import type { LiveConnection, StateChangeEvent } from "./connection.ts";
import type { CloseInfo, ConnectionState } from "./state.ts";

/**
 * Dispatched before each attempt.
 *
 * @example
 * ```ts
 * import { type ReconnectAttemptEvent, reconnecting } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * const client = reconnecting({ port: 7000 });
 * const attempts: Array<[number, number]> = [];
 * client.addEventListener("attempt", (e: ReconnectAttemptEvent) => attempts.push([e.attempt, e.delay]));
 * await client.close();
 * assert.deepEqual(attempts, [[1, 0]]); // the first attempt, made at once
 * ```
 */
export class ReconnectAttemptEvent extends Event {
  /** 1 for the first attempt after the start or after a connection that opened, then 2, ... */
  readonly attempt: number;
  /** How long was waited before this attempt, in ms (0 for the very first one). */
  readonly delay: number;

  /** @internal Made by the client. */
  constructor(attempt: number, delay: number) {
    super("attempt");
    this.attempt = attempt;
    this.delay = delay;
  }
}

/**
 * Dispatched when a connection has opened.
 *
 * @example
 * ```ts ignore
 * import { reconnecting } from "@sockalive/sockalive";
 * const client = reconnecting({ port: 7000 });
 * client.addEventListener("connection", (e) => console.log("open after attempt", e.attempt));
 * ```
 */
export class ReconnectConnectionEvent extends Event {
  /** The open connection. */
  readonly connection: LiveConnection;
  /** Which attempt opened it (see {@linkcode ReconnectAttemptEvent.attempt}). */
  readonly attempt: number;

  /** @internal Made by the client. */
  constructor(connection: LiveConnection, attempt: number) {
    super("connection");
    this.connection = connection;
    this.attempt = attempt;
  }
}

/**
 * A `statechange` of one of the client's connections, forwarded with the connection.
 *
 * @example
 * ```ts ignore
 * import { reconnecting } from "@sockalive/sockalive";
 * const client = reconnecting({ port: 7000 });
 * client.addEventListener("statechange", (e) => console.log(e.from, "->", e.to, e.info?.code));
 * ```
 */
export class ReconnectStateChangeEvent extends Event {
  /** The connection that changed state. */
  readonly connection: LiveConnection;
  /** The state left. */
  readonly from: ConnectionState;
  /** The state entered. */
  readonly to: ConnectionState;
  /** When, in ms since the epoch. */
  readonly at: number;
  /** How the connection ended, when `to` is terminal. */
  readonly info?: CloseInfo;

  /** @internal Made by the client, from the connection's own. */
  constructor(connection: LiveConnection, event: StateChangeEvent) {
    super("statechange");
    this.connection = connection;
    this.from = event.from;
    this.to = event.to;
    this.at = event.at;
    if (event.info) this.info = event.info;
  }
}

/**
 * Dispatched once when `maxAttempts` attempts in a row have failed to open; the client stops.
 *
 * @example
 * ```ts ignore
 * import { reconnecting } from "@sockalive/sockalive";
 * const client = reconnecting({ port: 7000, reconnect: { maxAttempts: 3 } });
 * client.addEventListener("giveup", (e) => console.log(e.attempts, "attempts, the last:", e.last.code));
 * console.log((await client.stopped).reason); // "giveup", if nothing listens on port 7000
 * ```
 */
export class ReconnectGiveUpEvent extends Event {
  /** Attempts made. */
  readonly attempts: number;
  /** How the last attempt ended. */
  readonly last: CloseInfo;

  /** @internal Made by the client. */
  constructor(attempts: number, last: CloseInfo) {
    super("giveup");
    this.attempts = attempts;
    this.last = last;
  }
}

/**
 * The events of a {@linkcode ReconnectingClient}, by type.
 *
 * @example
 * ```ts
 * import { type ReconnectingEventMap } from "@sockalive/sockalive";
 * type AttemptEvent = ReconnectingEventMap["attempt"];
 * const describe = (e: AttemptEvent) => `attempt ${e.attempt} after ${e.delay} ms`;
 * console.log(typeof describe); // function
 * ```
 */
export interface ReconnectingEventMap {
  /** Before each attempt. */
  attempt: ReconnectAttemptEvent;
  /** A connection opened. */
  connection: ReconnectConnectionEvent;
  /** A connection changed state. */
  statechange: ReconnectStateChangeEvent;
  /** `maxAttempts` attempts in a row failed. */
  giveup: ReconnectGiveUpEvent;
}

/**
 * A listener for event type `K`: a function or an object with `handleEvent`.
 *
 * @example
 * ```ts
 * import { type ReconnectingListener } from "@sockalive/sockalive";
 * const onGiveUp: ReconnectingListener<"giveup"> = (e) => console.error("gave up", e.attempts);
 * console.log(typeof onGiveUp); // function
 * ```
 */
export type ReconnectingListener<K extends keyof ReconnectingEventMap> =
  | ((event: ReconnectingEventMap[K]) => void)
  | { handleEvent(event: ReconnectingEventMap[K]): void };

/**
 * {@linkcode IdleDeadline}: ends a connection whose peer has sent nothing for `idleTimeout` ms,
 * the case keepalive cannot see: a peer that is reachable (its kernel answers probes) but hung.
 *
 * One timer per connection, set for the earliest moment the deadline could pass and moved on
 * when it fires early; nothing runs per byte received (the read side only notes the time of
 * each chunk).
 *
 * @module
 */

/** What the deadline needs of its connection. */
export interface IdleHost {
  /** When data last arrived, ms since the epoch; `undefined` if none has. */
  lastReceivedAt(): number | undefined;
  /**
   * Whether the connection stopped taking bytes from the kernel itself (backpressure: nobody
   * reads): then silence says nothing of the peer, and the deadline waits.
   */
  holdsBack(): boolean;
  /** The deadline (`idleTimeout` ms) passed: `silentMs` since data last arrived (or the start). */
  expired(silentMs: number, idleTimeout: number): void;
}

/**
 * The deadline of one open connection.
 *
 * @example
 * ```ts
 * import { IdleDeadline } from "./idle.ts";
 * import assert from "node:assert/strict";
 * let silent: number | undefined;
 * const deadline = new IdleDeadline(20, {
 *   lastReceivedAt: () => undefined,
 *   holdsBack: () => false,
 *   expired: (ms) => (silent = ms),
 * }, Date.now());
 * await new Promise((resolve) => setTimeout(resolve, 60));
 * assert.ok(silent !== undefined && silent >= 20);
 * deadline.stop();
 * ```
 */
export class IdleDeadline {
  readonly #ms: number;
  readonly #host: IdleHost;
  readonly #since: number;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Starts counting `ms` from `since` (ms since the epoch: when the connection opened). */
  constructor(ms: number, host: IdleHost, since: number) {
    this.#ms = ms;
    this.#host = host;
    this.#since = since;
    this.#arm(ms);
  }

  /** Stops the deadline (the connection ended). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(() => this.#check(), delay);
  }

  #check(): void {
    this.#timer = undefined;
    const now = Date.now();
    if (this.#host.holdsBack()) {
      this.#arm(this.#ms);
      return;
    }
    const silent = now - (this.#host.lastReceivedAt() ?? this.#since);
    // Timers may fire a millisecond early by the wall clock: only a full idleTimeout counts.
    if (silent >= this.#ms) this.#host.expired(silent, this.#ms);
    else this.#arm(this.#ms - silent);
  }
}

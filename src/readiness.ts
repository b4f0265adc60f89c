/**
 * {@linkcode ReadinessMonitor}: one wait for every idle connection instead of one pending read
 * each.
 *
 * A runtime that can only learn of a FIN or an error by reading (Deno) must otherwise keep a read
 * pending on every connection, and in Deno one pending read costs about 3.5 KB per connection
 * (BENCHMARKS.md, memory). With the monitor, an idle connection is one entry in a map and one
 * one-shot watch in the kernel; it reads only once the kernel says there is something to read
 * (bytes, a FIN or an error), and then reads until the socket is drained.
 *
 * @module
 */

import type { Descriptor, ReadinessPoller } from "../ffi/types.ts";

/** A connection watched by a {@linkcode ReadinessMonitor}. */
export interface ReadinessListener {
  /**
   * The socket has bytes, a FIN or an error; `error`: the kernel holds an error for it (perhaps
   * behind bytes still to read). The watch is now disarmed until re-armed.
   */
  ready(error: boolean): void;
  /** The monitor stopped working: read the old way (a pending read) from now on. */
  fallback(): void;
}

/** Failed waits in a row after which the monitor gives up and every listener falls back. */
const MAX_FAILED_WAITS = 5;

/**
 * Dispatches one {@linkcode ReadinessPoller}'s reports to listeners. The wait runs only while at
 * least one socket is watched, so it never keeps a process alive on its own.
 *
 * @example
 * ```ts
 * import { ReadinessMonitor } from "./readiness.ts";
 * import type { ReadinessPoller, ReadinessReport } from "../ffi/types.ts";
 * import assert from "node:assert/strict";
 * // A poller that reports token 1 once, as epoll would when socket 7 gets bytes.
 * let report: ((reports: ReadinessReport[]) => void) | undefined;
 * const poller: ReadinessPoller = {
 *   watch: () => 0,
 *   quiet: () => 0,
 *   unwatch: () => 0,
 *   readable: () => false,
 *   wait: () => new Promise((resolve) => (report = resolve)),
 *   wake: () => report?.([]),
 * };
 * const monitor = new ReadinessMonitor(poller);
 * let readies = 0;
 * const token = monitor.add(7, { ready: () => readies++, fallback: () => {} });
 * assert.equal(token, 1);
 * report!([{ token: 1, error: false }]);
 * await new Promise((resolve) => setTimeout(resolve, 0));
 * assert.equal(readies, 1);
 * monitor.remove(7, token!); // the last one: the wait ends
 * ```
 */
export class ReadinessMonitor {
  readonly #poller: ReadinessPoller;
  readonly #listeners = new Map<number, ReadinessListener>();
  #nextToken = 1;
  // Whether #loop runs, set and cleared by #loop itself in the same turn as its last check of
  // #listeners, so a watch added at any moment either is seen by that check or starts a new loop.
  #running = false;
  // The poller's wait in flight, if any: what a removed socket's release waits for.
  #waiting: Promise<unknown> | undefined;
  #failed = false;

  /** Takes over `poller`: nothing else may call its `wait`. */
  constructor(poller: ReadinessPoller) {
    this.#poller = poller;
  }

  /** How many sockets are watched. */
  get size(): number {
    return this.#listeners.size;
  }

  /**
   * Watches `fd` (verified by the caller just before) and arms it; returns the token to re-arm
   * and remove it with, or `undefined` if the monitor cannot take it (read the old way then).
   */
  add(fd: Descriptor, listener: ReadinessListener): number | undefined {
    if (this.#failed) return undefined;
    const token = this.#token();
    if (this.#poller.watch(fd, token, false) !== 0) return undefined;
    this.#listeners.set(token, listener);
    this.#run();
    return token;
  }

  /**
   * Arms the one-shot watch again (`detached`: put `fd` back in the wait first, after
   * {@linkcode ReadinessMonitor.detach}); false if it cannot be (read the old way then).
   */
  rearm(fd: Descriptor, token: number, detached = false): boolean {
    return !this.#failed && this.#listeners.has(token) &&
      this.#poller.watch(fd, token, !detached) === 0;
  }

  /**
   * Takes `fd` out of the wait while the caller reads it straight through, keeping its token:
   * a socket in an epoll set, even quieted, costs the kernel a callback into that set for every
   * packet that arrives. {@linkcode ReadinessMonitor.rearm} with `detached` puts it back.
   */
  detach(fd: Descriptor, token: number): void {
    if (!this.#failed && this.#listeners.has(token)) this.#poller.unwatch(fd);
  }

  /** Quiets the watch while the caller reads `fd` directly (see ReadinessPoller.quiet). */
  quiet(fd: Descriptor, token: number): void {
    if (!this.#failed && this.#listeners.has(token)) this.#poller.quiet(fd, token);
  }

  /** Whether a read on `fd` would return at once (bytes, FIN or error). */
  readable(fd: Descriptor): boolean {
    return this.#poller.readable(fd);
  }

  /**
   * Stops watching `fd`; call before the socket is closed. `closing`: the caller closes the
   * descriptor next, and the kernel takes a socket out of every epoll set once its last
   * descriptor is closed, so no `EPOLL_CTL_DEL` is made (1.5 µs a connection, when thousands
   * break at once); a report still in flight for its token finds no listener. When it was the
   * last one, the wait in flight is woken, and the returned promise resolves once that wait has
   * returned (a socket watched meanwhile gets a wait of its own, which this does not wait for).
   */
  remove(fd: Descriptor, token: number, closing = false): Promise<void> | undefined {
    if (!this.#listeners.delete(token)) return undefined;
    if (!closing) this.#poller.unwatch(fd);
    if (this.#listeners.size > 0 || !this.#waiting) return undefined;
    // Nothing left to wait for: end the wait, so it does not keep the process alive.
    this.#poller.wake();
    return this.#waiting.then(ignore, ignore);
  }

  #token(): number {
    // Tokens are 32-bit and never 0 (the poller's own); after a wrap, skip any still in use.
    for (;;) {
      const token = this.#nextToken;
      this.#nextToken = token >= 0xffff_ffff ? 1 : token + 1;
      if (!this.#listeners.has(token)) return token;
    }
  }

  #run(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#loop();
  }

  async #loop(): Promise<void> {
    let failures = 0;
    try {
      while (this.#listeners.size > 0) {
        const waiting = this.#waiting = this.#poller.wait();
        const reports = await waiting;
        this.#waiting = undefined;
        if (reports === undefined) {
          // errno is lost on the worker thread; EINTR is the usual cause and worth a retry.
          if (++failures >= MAX_FAILED_WAITS) return this.#fail();
          continue;
        }
        failures = 0;
        for (const { token, error } of reports) {
          const listener = this.#listeners.get(token);
          try {
            listener?.ready(error);
          } catch {
            // A listener's failure is its connection's business, never the monitor's.
          }
        }
      }
    } catch {
      // wait() does not throw; if it ever does, the connections read the old way.
      this.#fail();
    } finally {
      this.#waiting = undefined;
      this.#running = false;
    }
  }

  #fail(): void {
    this.#failed = true;
    const listeners = [...this.#listeners.values()];
    this.#listeners.clear();
    for (const listener of listeners) {
      try {
        listener.fallback();
      } catch {
        // As in #run.
      }
    }
  }
}

function ignore(): void {}

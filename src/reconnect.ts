/**
 * {@linkcode reconnecting}: a client that keeps one {@linkcode LiveConnection} to a peer, dialing
 * again with exponential backoff and full jitter whenever the previous one ends, until it is
 * closed, aborted, or gives up.
 *
 * @module
 */

import type { ConnectOptions, LiveConnection } from "./connection.ts";
import { checkReconnectingOptions } from "./checks.ts";
import { PERMANENT_CODES } from "./errors.ts";
import { describe } from "./options.ts";
import {
  backoffDelay,
  type BackoffOptions,
  resolveBackoff,
  type ResolvedBackoff,
} from "./backoff.ts";
import {
  ReconnectAttemptEvent,
  ReconnectConnectionEvent,
  ReconnectGiveUpEvent,
  type ReconnectingEventMap,
  type ReconnectingListener,
  ReconnectStateChangeEvent,
} from "./reconnect_events.ts";
import {
  addListener,
  clearListeners,
  dispatchTo,
  type Listener,
  type Listeners,
  removeListener,
} from "./listeners.ts";
import type { CloseInfo } from "./state.ts";

/**
 * Options of {@linkcode reconnecting}: those of `connect`, plus the backoff.
 *
 * @example
 * ```ts
 * import { type ReconnectingOptions } from "@sockalive/sockalive";
 * const options: ReconnectingOptions = {
 *   port: 7000,
 *   keepAlive: { idle: 1000, interval: 1000, count: 3 },
 *   reconnect: { initialDelay: 500, maxAttempts: 10 },
 * };
 * console.log(options.reconnect?.maxAttempts); // 10
 * ```
 */
export interface ReconnectingOptions extends ConnectOptions {
  /** How to wait between attempts. */
  reconnect?: BackoffOptions;
  /**
   * Stops the client: no further attempts, and the current connection is closed (as with
   * {@linkcode ReconnectingClient.close}).
   */
  signal?: AbortSignal;
}

/**
 * Opens one connection; {@linkcode reconnecting} calls it for every attempt.
 *
 * @example
 * ```ts
 * import { connect, type ConnectFunction } from "@sockalive/sockalive";
 * // Every attempt goes through this function: here it only adds a connect timeout.
 * const dial: ConnectFunction = (options) => connect({ ...options, connectTimeout: 2000 });
 * console.log(typeof dial); // function
 * ```
 */
export type ConnectFunction = (options: ConnectOptions) => LiveConnection;

/**
 * Why a {@linkcode ReconnectingClient} stopped; the value `stopped` resolves to.
 *
 * @example
 * ```ts
 * import { type ReconnectingStopInfo } from "@sockalive/sockalive";
 * const info: ReconnectingStopInfo = { reason: "close", attempts: 0 };
 * console.log(info.reason); // close
 * ```
 */
export interface ReconnectingStopInfo {
  /**
   * `"close"`: {@linkcode ReconnectingClient.close} was called (or the iteration was left);
   * `"abort"`: the signal aborted; `"local"`: you closed a connection it gave you;
   * `"giveup"`: `maxAttempts` attempts in a row failed to open; `"permanent"`: a connection
   * ended with a failure no retry can fix (`ERR_FFI_PERMISSION`, `ERR_FFI_UNAVAILABLE`,
   * `ERR_NET_PERMISSION`, `ERR_UNSUPPORTED_PLATFORM`; `last` and `error` say which); `"error"`:
   * the connect function threw.
   */
  reason: "close" | "abort" | "local" | "giveup" | "permanent" | "error";
  /** Attempts made since the last connection opened (or since the start). */
  attempts: number;
  /** How the last connection ended, if one ended. */
  last?: CloseInfo;
  /** What the connect function threw, for `"error"`; the failure, for `"permanent"`. */
  error?: unknown;
}

/**
 * Keeps a {@linkcode LiveConnection} to one peer: dials, and when the connection ends (broken, or
 * closed by the peer) dials again after a backoff. Created by {@linkcode reconnecting}.
 *
 * It is an async iterable of connections, each yielded once open; the next one is dialed only
 * after the previous has ended. A connection that ended before the loop asked for it is skipped.
 * Closing a connection yourself (`conn.close()`) stops the client; leaving the loop (`break`)
 * closes the client and the current connection.
 *
 * A connection's reads and writes fail with {@linkcode ConnectionClosedError} once it breaks (a
 * reset, a keepalive timeout): catch it where you read, or it ends your loop, and the client with
 * it. The client has already noticed the break, and dials again.
 *
 * @example
 * ```ts ignore
 * import { ConnectionClosedError, reconnecting } from "@sockalive/sockalive";
 * await using client = reconnecting({ port: 7000, keepAlive: { idle: 1000, interval: 1000, count: 3 } });
 * client.addEventListener("attempt", (e) => console.log("attempt", e.attempt, "after", e.delay, "ms"));
 * for await (const conn of client) {
 *   try {
 *     for await (const line of conn.readable.pipeThrough(new TextDecoderStream())) console.log(line);
 *   } catch (error) {
 *     if (!(error instanceof ConnectionClosedError)) throw error; // the break: the loop goes on
 *   }
 *   const info = await conn.closed;
 *   console.log("ended:", info.state, info.code ?? `by ${info.by}`);
 * }
 * ```
 */
export class ReconnectingClient implements AsyncIterable<LiveConnection>, AsyncDisposable {
  readonly #options: ConnectOptions;
  readonly #backoff: ResolvedBackoff;
  readonly #connect: ConnectFunction;
  readonly #onListenerError: (error: unknown) => void;
  readonly #listeners = new Map<string, Listeners<Event>>();
  readonly #stopped: Promise<ReconnectingStopInfo>;
  #resolveStopped!: (info: ReconnectingStopInfo) => void;
  #stopInfo: ReconnectingStopInfo | undefined;
  /** Stopped, and the current connection closed: nothing is dispatched any more. */
  #finished = false;
  /** Events emitted while the constructor runs, delivered once listeners could be added. */
  #held: Event[] | undefined = [];
  #current: LiveConnection | undefined;
  #latest: LiveConnection | undefined;
  #seq = 0;
  /** Attempts since the start or since the last connection opened. */
  #attempt = 0;
  #changed = Promise.withResolvers<void>();
  #cancelWait: (() => void) | undefined;
  #removeAbortListener: (() => void) | undefined;

  /** @internal Use {@linkcode reconnecting}. */
  constructor(options: ReconnectingOptions, connectFn: ConnectFunction) {
    checkReconnectingOptions(options);
    if (typeof connectFn !== "function") {
      throw new TypeError(
        `Cannot reconnect: the connect function must be a function, got ${describe(connectFn)}`,
      );
    }
    const { reconnect, signal, ...connectOptions } = options;
    this.#backoff = resolveBackoff(reconnect);
    // The client owns each connection's lifetime; the signal stops the client, which then closes
    // the connection, so it is not handed to each connection as well.
    this.#options = connectOptions;
    this.#connect = connectFn;
    this.#onListenerError = options.onListenerError ?? reportListenerError;
    this.#stopped = new Promise((resolve) => (this.#resolveStopped = resolve));

    // Listeners are added after this returns; what happens until then reaches them a microtask
    // later. Scheduled first, so it runs before anything the first attempt queues.
    queueMicrotask(() => {
      const held = this.#held ?? [];
      this.#held = undefined;
      for (const event of held) this.#dispatch(event);
      if (this.#finished) this.#clearListeners();
    });
    if (signal?.aborted) {
      this.#stop({ reason: "abort", attempts: 0 });
      return;
    }
    // The first attempt is made now, so that what only `connect` can check (keepAlive against
    // the platform's limits) throws from here rather than later, in the background.
    const first = this.#dial(1, 0, true);
    if (!first) return;
    if (signal) {
      const onAbort = () => this.#stop({ reason: "abort", attempts: this.#attempt });
      signal.addEventListener("abort", onAbort, { once: true });
      this.#removeAbortListener = () => signal.removeEventListener("abort", onAbort);
    }
    void this.#run(first);
  }

  /** The connection being dialed or in use, if any. */
  get connection(): LiveConnection | undefined {
    return this.#current;
  }

  /** Resolves once the client has stopped, with why. Never rejects. */
  get stopped(): Promise<ReconnectingStopInfo> {
    return this.#stopped;
  }

  /** The backoff in force, with defaults filled in. */
  get backoff(): ResolvedBackoff {
    return this.#backoff;
  }

  /**
   * Stops the client: no further attempts; a wait in progress ends at once; the current
   * connection is closed (`closed-gracefully`, by `"local"`). Resolves once stopped.
   */
  async close(): Promise<ReconnectingStopInfo> {
    this.#stop({ reason: "close", attempts: this.#attempt });
    return await this.#stopped;
  }

  /** Closes the client, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Each connection once open; ends when the client stops. Leaving the loop closes the client. */
  [Symbol.asyncIterator](): AsyncIterableIterator<LiveConnection> {
    let yielded = 0;
    const iterator: AsyncIterableIterator<LiveConnection> = {
      next: async (): Promise<IteratorResult<LiveConnection>> => {
        while (true) {
          const latest = this.#latest;
          if (latest && this.#seq > yielded && latest.state === "open") {
            yielded = this.#seq;
            return { value: latest, done: false };
          }
          if (this.#stopInfo) return { value: undefined, done: true };
          await this.#changed.promise;
        }
      },
      return: async (): Promise<IteratorResult<LiveConnection>> => {
        await this.close();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Adds a listener; `once` and `signal` work as with `EventTarget`. */
  addEventListener<K extends keyof ReconnectingEventMap>(
    type: K,
    listener: ReconnectingListener<K> | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    if (!listener) return;
    // A finished client dispatches nothing more; a listener kept now would only hold on to its
    // signal.
    if (this.#finished && !this.#held) return;
    const forType = addListener(this.#listeners.get(type), listener as Listener<Event>, options);
    if (forType) this.#listeners.set(type, forType);
  }

  /** Removes a listener. */
  removeEventListener<K extends keyof ReconnectingEventMap>(
    type: K,
    listener: ReconnectingListener<K> | null,
  ): void {
    const forType = this.#listeners.get(type);
    if (listener && forType) removeListener(forType, listener as Listener<Event>);
  }

  async #run(first: LiveConnection): Promise<void> {
    let conn = first;
    // Waits since the start or since the last connection opened: the backoff's exponent.
    let retry = 0;
    while (true) {
      const opened = await conn.opened.then(() => true, () => false);
      if (this.#stopInfo) return;
      if (opened) {
        const attempt = this.#attempt;
        this.#attempt = 0;
        retry = 0;
        this.#latest = conn;
        this.#seq++;
        this.#emit(new ReconnectConnectionEvent(conn, attempt));
        this.#notify();
      }
      const last = await conn.closed;
      if (this.#stopInfo) return;
      if (last.state === "closed-gracefully" && last.by === "local") {
        // Whoever holds the connection closed it: that is a decision, not a failure.
        this.#stop({ reason: "local", attempts: this.#attempt, last });
        return;
      }
      if (last.state === "broken" && PERMANENT_CODES.has(last.code ?? "")) {
        // No permission, no FFI, an unsupported OS: every retry would fail the same way.
        this.#emit(new ReconnectGiveUpEvent(this.#attempt, last));
        this.#stop({ reason: "permanent", attempts: this.#attempt, last, error: last.error });
        return;
      }
      if (!opened && this.#attempt >= this.#backoff.maxAttempts) {
        this.#emit(new ReconnectGiveUpEvent(this.#attempt, last));
        this.#stop({ reason: "giveup", attempts: this.#attempt, last });
        return;
      }
      let delay: number;
      try {
        delay = backoffDelay(retry++, this.#backoff);
      } catch (error) {
        // An injected random source that returns nonsense must not become an unhandled rejection.
        this.#stop({ reason: "error", attempts: this.#attempt, error, last });
        return;
      }
      if (!(await this.#wait(delay))) return;
      const next = this.#dial(this.#attempt + 1, delay, false, last);
      if (!next) return;
      conn = next;
    }
  }

  /** Emits `attempt`, then dials; returns undefined if the client stopped instead. */
  #dial(
    attempt: number,
    delay: number,
    first: boolean,
    last?: CloseInfo,
  ): LiveConnection | undefined {
    this.#attempt = attempt;
    this.#emit(new ReconnectAttemptEvent(attempt, delay));
    if (this.#stopInfo) return undefined; // an attempt listener closed the client
    let conn: LiveConnection;
    try {
      conn = this.#connect(this.#options);
    } catch (error) {
      if (first) throw error;
      this.#stop({ reason: "error", attempts: attempt, error, ...(last ? { last } : {}) });
      return undefined;
    }
    this.#current = conn;
    conn.addEventListener("statechange", (event) => {
      this.#emit(new ReconnectStateChangeEvent(conn, event));
    });
    return conn;
  }

  /** Resolves true after `ms`, or false as soon as the client stops. */
  #wait(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#cancelWait = undefined;
        resolve(true);
      }, ms);
      this.#cancelWait = () => {
        clearTimeout(timer);
        resolve(false);
      };
    });
  }

  #stop(info: ReconnectingStopInfo): void {
    if (this.#stopInfo) return;
    this.#stopInfo = info;
    this.#removeAbortListener?.();
    this.#cancelWait?.();
    this.#cancelWait = undefined;
    const current = this.#current;
    const done = () => {
      this.#resolveStopped(info);
      this.#notify();
      this.#finished = true;
      // Events held for listeners not yet added are still to be delivered, then this runs.
      if (!this.#held) this.#clearListeners();
    };
    if (current) current.close().then(done, done);
    else done();
  }

  #notify(): void {
    const changed = this.#changed;
    this.#changed = Promise.withResolvers<void>();
    changed.resolve();
  }

  #emit(event: Event): void {
    if (this.#held) this.#held.push(event);
    else this.#dispatch(event);
  }

  #dispatch(event: Event): void {
    const forType = this.#listeners.get(event.type);
    if (forType) dispatchTo(forType, this, event, this.#onListenerError);
  }

  /** Removes every listener, and what each added to its signal. */
  #clearListeners(): void {
    for (const forType of this.#listeners.values()) clearListeners(forType);
    this.#listeners.clear();
  }
}

function reportListenerError(error: unknown): void {
  console.error("sockalive: a reconnecting listener threw; the client goes on:", error);
}

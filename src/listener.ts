/**
 * {@linkcode LiveListener}: accepted sockets as {@linkcode LiveConnection}s, each with keepalive
 * applied before its first read and the same state machine as a connecting one.
 *
 * @module
 */

import type { SocketAddress } from "./address.ts";
import { type ConnectOptions, keepAliveRequest, LiveConnection } from "./connection.ts";
import type { Runtime, Transport } from "./transport.ts";

/**
 * Options of `listen`.
 *
 * @example
 * ```ts
 * import { listen, type ListenOptions } from "../mod.ts";
 * import assert from "node:assert/strict";
 * const options: ListenOptions = {
 *   hostname: "127.0.0.1",
 *   port: 0, // any free port
 *   keepAlive: { idle: 1000, interval: 1000, count: 3 },
 * };
 * await using server = listen(options);
 * assert.ok(server.addr.port > 0);
 * ```
 */
export interface ListenOptions
  extends Pick<ConnectOptions, "keepAlive" | "maxBufferedBytes" | "onListenerError"> {
  /** Address to bind; default `"127.0.0.1"`. */
  hostname?: string;
  /** Port to bind; 0 picks a free one (see {@linkcode LiveListener.addr}). */
  port: number;
  /** Aborting closes the listener. */
  signal?: AbortSignal;
}

/** What a runtime adapter provides for listening. */
export interface AcceptSource {
  /** The bound address. */
  readonly addr: SocketAddress;
  /** Starts accepting; each accepted socket goes to `accepted`. */
  start(accepted: (transport: Transport) => void, failed: (error: unknown) => void): void;
  /** Stops accepting and releases the listening socket. */
  close(): void;
}

/**
 * A TCP listener whose accepted connections are monitored. Iterate it for each connection once
 * keepalive is applied; closing it (or aborting its signal) ends the iteration; connections
 * already accepted stay open.
 *
 * @example
 * ```ts ignore
 * import { listen } from "@sockalive/sockalive";
 * await using server = listen({ port: 7000, keepAlive: { idle: 1000, interval: 1000, count: 3 } });
 * for await (const conn of server) {
 *   conn.closed.then((info) => console.log(conn.remoteAddr, info.state, info.code));
 * }
 * ```
 */
export class LiveListener implements AsyncIterable<LiveConnection>, AsyncDisposable {
  readonly #source: AcceptSource;
  readonly #queue: LiveConnection[] = [];
  readonly #waiters: Array<{
    resolve: (r: IteratorResult<LiveConnection>) => void;
    reject: (e: unknown) => void;
  }> = [];
  #closed = false;
  #error: unknown;
  #removeAbortListener: (() => void) | undefined;

  /** @internal Use `listen`. */
  constructor(runtime: Runtime, source: AcceptSource, options: ListenOptions) {
    // Checked once, up front, so a bad option is an error here and not on every accept.
    keepAliveRequest(options.keepAlive, runtime.platform().limits);
    this.#source = source;
    const { keepAlive, maxBufferedBytes, onListenerError, signal } = options;
    source.start((transport) => {
      if (this.#closed) return transport.close();
      // The accepted socket is the "dial": the connection applies keepalive, then reads.
      const accepted: Runtime = { ...runtime, dial: () => Promise.resolve(transport) };
      const conn = new LiveConnection(accepted, {
        hostname: transport.remoteAddr.hostname,
        port: transport.remoteAddr.port,
        keepAlive,
        maxBufferedBytes,
        onListenerError,
      });
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve({ value: conn, done: false });
      else this.#queue.push(conn);
    }, (error) => {
      this.#error = error;
      this.close();
    });
    if (signal?.aborted) {
      this.close();
    } else if (signal) {
      const onAbort = () => this.close();
      signal.addEventListener("abort", onAbort, { once: true });
      // A signal can outlive many listeners: a closed one takes its abort listener off it.
      this.#removeAbortListener = () => signal.removeEventListener("abort", onAbort);
    }
  }

  /** The bound address (with the port chosen when 0 was asked for). */
  get addr(): SocketAddress {
    return this.#source.addr;
  }

  /** Stops accepting; iteration ends once the connections already accepted are taken. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#removeAbortListener?.();
    this.#removeAbortListener = undefined;
    this.#source.close();
    for (const w of this.#waiters.splice(0)) {
      if (this.#error) w.reject(this.#error);
      else w.resolve({ value: undefined, done: true });
    }
  }

  /** Closes the listener, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /** Each accepted connection, as soon as it is accepted (its `opened` tells when it is open). */
  [Symbol.asyncIterator](): AsyncIterator<LiveConnection> {
    return {
      next: () => {
        const conn = this.#queue.shift();
        if (conn) return Promise.resolve({ value: conn, done: false });
        if (this.#closed) {
          return this.#error
            ? Promise.reject(this.#error)
            : Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

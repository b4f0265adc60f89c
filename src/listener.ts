/**
 * {@linkcode LiveListener}: accepted sockets as {@linkcode LiveConnection}s, each with keepalive
 * applied before its first read and the same state machine as a connecting one.
 *
 * @module
 */

import type { SocketAddress } from "./address.ts";
import type { CheckedListenOptions } from "./checks.ts";
import { type ConnectOptions, LiveConnection } from "./connection.ts";
import { errorCode } from "./errors.ts";
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
  /**
   * Starts accepting; each accepted socket goes to `accepted`. When an accept fails, `failed`
   * returns how long to wait, in ms, before accepting again (0: at once).
   */
  start(accepted: (transport: Transport) => void, failed: (error: unknown) => number): void;
  /** Stops accepting and releases the listening socket. */
  close(): void;
}

/** The accept errors that are one client's (it left before it was accepted), not the server's. */
const CLIENT_GONE: ReadonlySet<string> = new Set([
  "ECONNABORTED",
  "ECONNRESET",
  "ENOTCONN",
  "EPROTO",
  "EPERM", // a firewall rule refused this one
  "ETIMEDOUT",
  // Linux passes a new socket's pending network error as accept's own (accept(2), "Error
  // handling"): the next client is not affected.
  "ENETDOWN",
  "ENOPROTOOPT",
  "EHOSTDOWN",
  "ENONET",
  "EHOSTUNREACH",
  "EOPNOTSUPP",
  "ENETUNREACH",
]);

/**
 * A TCP listener whose accepted connections are monitored. Iterate it for each connection once
 * keepalive is applied; closing it (or aborting its signal) ends the iteration; connections
 * already accepted stay open. No client ends it: one that resets before it is accepted is
 * skipped.
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

  /** @internal Use `listen`, which checks the options before binding. */
  constructor(runtime: Runtime, source: AcceptSource, options: CheckedListenOptions) {
    this.#source = source;
    const { accepted: connectionOptions, signal } = options;
    source.start((transport) => {
      if (this.#closed) return transport.close();
      // The accepted socket is the "dial": the connection applies keepalive, then reads. A socket
      // already dead by then ends as a broken connection, like any other that breaks.
      const accepted: Runtime = { ...runtime, dial: () => Promise.resolve(transport) };
      const conn = new LiveConnection(accepted, connectionOptions);
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve({ value: conn, done: false });
      else this.#queue.push(conn);
    }, (error) => {
      if (CLIENT_GONE.has(errorCode(error))) return 0;
      this.#error = error;
      this.close();
      return 0;
    });
    if (signal?.aborted) this.close();
    else signal?.addEventListener("abort", () => this.close(), { once: true });
  }

  /** The bound address (with the port chosen when 0 was asked for). */
  get addr(): SocketAddress {
    return this.#source.addr;
  }

  /** Stops accepting; iteration ends once the connections already accepted are taken. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
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

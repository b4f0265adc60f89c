/**
 * {@linkcode LiveListener}: accepted sockets as {@linkcode LiveConnection}s, each with keepalive
 * applied before its first read and the same state machine as a connecting one.
 *
 * @module
 */

import type { SocketAddress } from "./address.ts";
import type { CheckedListenOptions } from "./checks.ts";
import { LiveConnection } from "./connection.ts";

export type { ListenOptions } from "./connect_options.ts";
import { errorCode } from "./errors.ts";
import type { AcceptSource, Runtime } from "./transport.ts";

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
const FIRST_ACCEPT_DELAY_MS = 10;
const MAX_ACCEPT_DELAY_MS = 1000;

/**
 * A TCP listener whose accepted connections are monitored. Iterate it for each connection once
 * keepalive is applied; closing it (or aborting its signal) ends the iteration; connections
 * already accepted stay open. No client ends it: one that resets before it is accepted is
 * skipped, and when the server runs out of descriptors accepting pauses and resumes (see
 * {@linkcode ListenOptions.onAcceptError}).
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
  readonly #waiters: Array<(r: IteratorResult<LiveConnection>) => void> = [];
  #closed = false;
  #removeAbortListener: (() => void) | undefined;
  /** The wait after the last failed accept, in ms; 0 after an accept succeeded. */
  #acceptDelay = 0;

  /** @internal Use `listen`, which checks the options before binding. */
  constructor(runtime: Runtime, source: AcceptSource, options: CheckedListenOptions) {
    this.#source = source;
    const { accepted: connectionOptions, signal } = options;
    const onAcceptError = options.onAcceptError ?? reportAcceptError;
    const onListenerError = connectionOptions.onListenerError ?? reportThrownAcceptError;
    source.start((transport) => {
      this.#acceptDelay = 0;
      if (this.#closed) return transport.close();
      // The connection applies keepalive to the accepted socket, then reads. A socket already
      // dead by then ends as a broken connection, like any other that breaks.
      const conn = new LiveConnection(runtime, connectionOptions, transport);
      const waiter = this.#waiters.shift();
      if (waiter) waiter({ value: conn, done: false });
      else this.#queue.push(conn);
    }, (error) => {
      if (CLIENT_GONE.has(errorCode(error))) return 0;
      // The server's own shortage, which retrying at once would not end (it would only spin):
      // wait, longer each time while it lasts, as mature servers do.
      const delay = this.#acceptDelay = Math.min(
        MAX_ACCEPT_DELAY_MS,
        this.#acceptDelay * 2 || FIRST_ACCEPT_DELAY_MS,
      );
      try {
        onAcceptError(error instanceof Error ? error : new Error(String(error)), delay);
      } catch (thrown) {
        onListenerError(thrown);
      }
      return delay;
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
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
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
        if (this.#closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

function reportAcceptError(error: Error, delay: number): void {
  console.error(`sockalive: accepting failed; the listener accepts again in ${delay} ms:`, error);
}

function reportThrownAcceptError(error: unknown): void {
  console.error("sockalive: onAcceptError threw; the listener goes on:", error);
}

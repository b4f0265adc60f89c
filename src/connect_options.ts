/**
 * The options of `connect` and `listen`, as callers write them; src/checks.ts checks them.
 *
 * @module
 */

import type { KeepAliveOptions } from "./options.ts";
import type { ClientTlsOptions, ServerTlsOptions } from "./tls_options.ts";

/**
 * Options of `connect`.
 *
 * @example
 * ```ts
 * import { connect, type ConnectOptions } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * const options: ConnectOptions = {
 *   hostname: "127.0.0.1",
 *   port: 7000,
 *   keepAlive: { idle: 1000, interval: 1000, count: 3 },
 *   connectTimeout: 5000,
 * };
 * // Every option is checked before anything touches the network:
 * assert.throws(() => connect({ ...options, port: 70_000 }), RangeError);
 * assert.throws(() => connect({ ...options, keepAlive: { count: 0 } }), RangeError);
 * // A signal aborted before the start ends the connection at once, without dialing:
 * const conn = connect({ ...options, signal: AbortSignal.abort() });
 * assert.equal((await conn.closed).code, "ABORTED");
 * ```
 */
export interface ConnectOptions {
  /** Host name or literal address; default `"127.0.0.1"`. */
  hostname?: string;
  /** TCP port. */
  port: number;
  /**
   * Keepalive to apply before the connection is reported open. Keys left out take
   * {@linkcode DEFAULT_KEEPALIVE}; `true` takes all the defaults; `false` turns keepalive off.
   */
  keepAlive?: KeepAliveOptions | boolean;
  /**
   * Bytes held for a consumer that is not reading before sockalive stops taking bytes from the
   * kernel (default 1 MiB). See "When nobody reads" in the README.
   */
  maxBufferedBytes?: number;
  /** Give up connecting after this many ms: state `broken`, code `"ETIMEDOUT"`. */
  connectTimeout?: number;
  /**
   * End the open connection, `broken` with code `"IDLE_TIMEOUT"`, once no byte has been
   * received for this many ms (counted from the last byte, or from the open): the peer that
   * keepalive cannot catch, reachable but hung. Never fires while bytes keep arriving, nor while
   * the connection holds bytes back because nobody reads (`maxBufferedBytes`). Absent: no limit.
   */
  idleTimeout?: number;
  /**
   * Aborting while connecting ends in `broken` with code `"ABORTED"`; aborting an open
   * connection closes it (`closed-gracefully`, by `"local"`).
   */
  signal?: AbortSignal;
  /** Receives what a `statechange` listener throws (default: `console.error`). */
  onListenerError?: (error: unknown) => void;
  /**
   * TLS over the connection: `true` verifies the server against the runtime's default roots,
   * under the name `hostname`; an object says more (see {@linkcode ClientTlsOptions}); `false` or
   * absent, plain TCP. Keepalive is set on the TCP socket under TLS, before the handshake;
   * `opened` resolves once the handshake has completed and the certificate verified. A handshake
   * that fails, for whatever reason, ends the connection `broken` with code
   * `"ERR_TLS_HANDSHAKE"`, the runtime's error as `error`.
   */
  tls?: boolean | ClientTlsOptions;
}

/**
 * Options of `listen`.
 *
 * @example
 * ```ts
 * import { listen, type ListenOptions } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * const options: ListenOptions = {
 *   hostname: "127.0.0.1",
 *   port: 0, // any free port
 *   keepAlive: { idle: 1000, interval: 1000, count: 3 },
 *   onAcceptError: (error, delay) => console.warn(error.message, "- accepting again in", delay, "ms"),
 * };
 * await using server = listen(options);
 * assert.ok(server.addr.port > 0);
 * ```
 */
export interface ListenOptions
  extends
    Pick<ConnectOptions, "keepAlive" | "maxBufferedBytes" | "idleTimeout" | "onListenerError"> {
  /** Address to bind; default `"127.0.0.1"`. */
  hostname?: string;
  /** Port to bind; 0 picks a free one (see `LiveListener.addr`). */
  port: number;
  /** Aborting closes the listener. */
  signal?: AbortSignal;
  /**
   * Told each time accepting fails for a reason that is not one client's — out of descriptors
   * (`EMFILE`, `ENFILE`) or memory (`ENOBUFS`, `ENOMEM`), say — with the runtime's error and the
   * `delay`, in ms, before the listener accepts again: 10 ms, doubling up to 1 s while the
   * failures go on, and 10 ms again after a connection is accepted. Clients wait in the kernel's
   * backlog meanwhile. A client that resets before it is accepted (`ECONNABORTED`, `ENOTCONN`,
   * `ECONNRESET`, `EPROTO`, ...) is skipped without a report: the listener goes on at once.
   * Default: `console.error`; what it throws goes to `onListenerError`. Bun does not report its
   * accept errors: there, this is never called (Bun retries by itself).
   */
  onAcceptError?: (error: Error, delay: number) => void;
  /**
   * Serve TLS with this certificate and key (see {@linkcode ServerTlsOptions}); absent or
   * `false`, plain TCP. Each accepted connection has keepalive set on its TCP socket before the
   * handshake, and opens once the handshake has completed; a client whose handshake fails is
   * handed out `broken`, with code `"ERR_TLS_HANDSHAKE"`.
   */
  tls?: false | ServerTlsOptions;
}

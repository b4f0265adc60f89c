/**
 * {@linkcode LiveConnection}: a TCP connection that applies keepalive as it opens, always keeps a
 * read pending so a dead peer is noticed even when nobody reads, and reports exactly one
 * terminal state.
 *
 * @module
 */

import type { SocketAddress } from "./address.ts";
import type { KeepAliveInfo, KeepAliveOptions } from "./options.ts";
import type { TcpHealth } from "./health.ts";
import { checkConnectOptions, CheckedConnectOptions } from "./checks.ts";
import type { ConnectOptions } from "./connect_options.ts";

export type { ConnectOptions } from "./connect_options.ts";
import { type CloseInfo, type ConnectionState, isTerminal } from "./state.ts";
import type { Runtime, Transport } from "./transport.ts";
import { addListener, type Listener, removeListener } from "./listeners.ts";
import { ConnectionContext } from "./context.ts";
import type { StateChangeEvent } from "./state_event.ts";

export { StateChangeEvent } from "./state_event.ts";

/**
 * A `statechange` listener: a function or an object with `handleEvent`.
 *
 * @example
 * ```ts
 * import { connect, type StateChangeListener } from "@sockalive/sockalive";
 * import assert from "node:assert/strict";
 * const log: string[] = [];
 * const onChange: StateChangeListener = {
 *   handleEvent: (e) => log.push(`${e.from} -> ${e.to}`),
 * };
 * const conn = connect({ port: 7000 });
 * conn.addEventListener("statechange", onChange);
 * await conn.close(); // before it opened
 * assert.deepEqual(log, ["connecting -> closed-gracefully"]);
 * ```
 */
export type StateChangeListener =
  | ((event: StateChangeEvent) => void)
  | { handleEvent(event: StateChangeEvent): void };

/**
 * A monitored TCP connection. Created by {@linkcode connect}.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@sockalive/sockalive";
 * await using conn = connect({ hostname: "127.0.0.1", port: 7000, keepAlive: { idle: 1000, interval: 1000, count: 3 } });
 * conn.addEventListener("statechange", (e) => console.log(e.from, "->", e.to, e.info?.code));
 * await conn.opened;
 * console.log(conn.keepAlive); // read back from the kernel
 * ```
 */
export class LiveConnection implements AsyncDisposable {
  // A thin owner: each part of the connection is an object of its own, behind the context.
  readonly #c: ConnectionContext;

  /**
   * @internal Use {@linkcode connect} (or `listen`, whose accepted sockets come as `accepted`).
   * `options` already checked (a {@linkcode CheckedConnectOptions}) are taken as they are: a
   * listener checks its options once, not on every accept.
   */
  constructor(
    runtime: Runtime,
    options: ConnectOptions | CheckedConnectOptions,
    accepted?: Transport,
  ) {
    // Everything is checked before anything touches the network.
    const checked = options instanceof CheckedConnectOptions
      ? options
      : checkConnectOptions(options, runtime.platform().limits);
    this.#c = new ConnectionContext(this, runtime, checked, accepted);
  }

  /** The current state. */
  get state(): ConnectionState {
    return this.#c.machine.state;
  }

  /** Resolves once open; rejects if the connection fails or is closed first. */
  get opened(): Promise<void> {
    return this.#c.opened;
  }

  /**
   * Resolves once terminal, with how it ended, and the socket's resources released. Never
   * rejects.
   */
  get closed(): Promise<CloseInfo> {
    return this.#c.closed;
  }

  /**
   * The keepalive values in force, read back from the kernel when the connection opened (and
   * after each {@linkcode LiveConnection.setKeepAlive}). `undefined` until open, and on a
   * connection opened with `keepAlive: false` where the FFI is not available (Deno without
   * `--allow-ffi`): nothing was set on its socket, and nothing could be read back. Frozen, and
   * shared by connections whose values are the same.
   */
  get keepAlive(): Readonly<KeepAliveInfo> | undefined {
    return this.#c.keepAlive;
  }

  /**
   * Over TLS, once open: the application protocol ALPN chose (one of `tls.alpnProtocols`), or
   * `null` if none was. `undefined` before open and without TLS.
   */
  get alpnProtocol(): string | null | undefined {
    return this.#c.alpnProtocol;
  }

  /** Our address, once open. */
  get localAddr(): SocketAddress | undefined {
    return this.#c.transport?.localAddr;
  }

  /** The peer's address, once open. */
  get remoteAddr(): SocketAddress | undefined {
    return this.#c.transport?.remoteAddr;
  }

  /** Bytes received so far (including any dropped after `readable` was cancelled). */
  get bytesRead(): number {
    return this.#c.bytesRead;
  }

  /**
   * Bytes handed to the kernel so far, counted as the kernel takes them: a large write in
   * progress, or one that failed midway, counts the part that went out.
   */
  get bytesWritten(): number {
    return this.#c.bytesWritten;
  }

  /**
   * The bytes the peer sends. Every byte received before a FIN or a break is delivered; after a
   * FIN the stream closes, after a break it errors with {@linkcode ConnectionClosedError} once
   * the bytes before it have been read. Cancelling it drops further bytes but keeps the
   * connection monitored.
   *
   * `getReader({ mode: "byob" })` reads into your own buffer, which can be reused from read to
   * read; where the runtime reads by call (Deno), the socket is read straight into it, with no
   * copy and no new memory per chunk. Until then it is a default stream (each chunk handed on
   * as it came, without a byte stream's transfer of its buffer); from the first BYOB reader on,
   * every way of reading it goes through the byte stream made then.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@sockalive/sockalive";
   * const conn = connect({ port: 7000 });
   * const reader = conn.readable.getReader({ mode: "byob" });
   * let buffer = new ArrayBuffer(64 * 1024);
   * for (;;) {
   *   const { value, done } = await reader.read(new Uint8Array(buffer));
   *   if (done) break;
   *   console.log(value.byteLength, "bytes");
   *   buffer = value.buffer; // the same memory, handed back for the next read
   * }
   * ```
   */
  get readable(): ReadableStream<Uint8Array> {
    return this.#c.reader.readable;
  }

  /**
   * Reads into `buffer`, as `Deno.Conn.read` does: resolves with the number of bytes read (at
   * least 1), or `null` once the peer has sent FIN or the connection was closed locally; after
   * a break it rejects with {@linkcode ConnectionClosedError}, once every byte before the break
   * has been read. One read at a time. Where the runtime reads by call (Deno), the socket is read
   * straight into `buffer`: the fastest way to receive, with one buffer reused. A connection is
   * read either with `read()` or through `readable`, not both.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@sockalive/sockalive";
   * const conn = connect({ port: 7000 });
   * const buffer = new Uint8Array(64 * 1024);
   * for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
   *   console.log(n, "bytes");
   * }
   * ```
   */
  read(buffer: Uint8Array): Promise<number | null> {
    return this.#c.reader.read(buffer);
  }

  /** A stream view of {@linkcode LiveConnection.write}; closing it half-closes (sends FIN). */
  get writable(): WritableStream<Uint8Array> {
    return this.#c.writer.writable;
  }

  /**
   * Sends `bytes`; resolves once the kernel has all of them. Writes are sent in call order.
   * Waits for the connection to open; rejects with {@linkcode ConnectionClosedError} if it
   * ends first.
   */
  write(bytes: Uint8Array): Promise<void> {
    return this.#c.writer.write(bytes);
  }

  /** Sends FIN after everything written so far; the connection stays open for reading. */
  closeWrite(): Promise<void> {
    return this.#c.writer.closeWrite();
  }

  /**
   * Closes the connection now (`closed-gracefully`, by `"local"`): bytes already handed to the
   * kernel are still sent, then FIN; a write still waiting rejects. Resolves with the close info.
   */
  close(): Promise<CloseInfo> {
    this.#c.machine.send({ type: "close" });
    return this.#c.closed;
  }

  /** Closes the connection, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Changes keepalive on the open connection; returns the values read back from the kernel
   * (frozen: they are what {@linkcode LiveConnection.keepAlive} gives from now on). Throws
   * `SocketOptionError` (`ERR_FFI_PERMISSION`) on a `keepAlive: false` connection opened
   * without the FFI, and {@linkcode ConnectionClosedError} once it is not open.
   */
  setKeepAlive(options: KeepAliveOptions): Readonly<KeepAliveInfo> {
    return this.#c.setKeepAlive(options);
  }

  /** Reads the keepalive values in force from the kernel now. */
  getKeepAlive(): KeepAliveInfo {
    return this.#c.requireSock("read keepalive").getKeepAlive();
  }

  /**
   * What the kernel knows of the connection now, read in one system call (Linux `TCP_INFO`,
   * macOS `TCP_CONNECTION_INFO`, Windows `SIO_TCP_INFO`): round-trip time, bytes unacknowledged,
   * retransmissions, keepalive probes unanswered (`probes`), time since data last arrived
   * (`lastReceived`), in ms, bytes and counts; a field the OS does not report is absent.
   * `undefined` unless the connection is open. See {@linkcode TcpHealth}. Throws
   * `SocketOptionError` where it cannot be read: `ERR_UNSUPPORTED_PLATFORM` on an OS with no such
   * record, `ERR_FFI_PERMISSION` on a `keepAlive: false` connection opened without the FFI.
   *
   * @example
   * ```ts ignore
   * import { connect } from "@sockalive/sockalive";
   * const conn = connect({ hostname: "198.18.0.2", port: 7000, keepAlive: { idle: 1000, interval: 1000, count: 3 } });
   * await conn.opened;
   * setInterval(() => {
   *   const h = conn.health();
   *   if (h) console.log(`rtt ${h.rtt} ms, probes ${h.probes}/3, silent ${h.lastReceived} ms`);
   * }, 1000);
   * ```
   */
  health(): TcpHealth | undefined {
    return this.#c.health();
  }

  /** Adds a `statechange` listener; `once` and `signal` work as with `EventTarget`. */
  addEventListener(
    type: "statechange",
    listener: StateChangeListener | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    if (type !== "statechange" || !listener) return;
    // An ended connection dispatches nothing more; a listener kept now would only hold on to
    // its signal.
    if (isTerminal(this.#c.machine.state)) return;
    this.#c.listeners = addListener(this.#c.listeners, listener as Listener<Event>, options);
  }

  /** Removes a `statechange` listener. */
  removeEventListener(type: "statechange", listener: StateChangeListener | null): void {
    const listeners = this.#c.listeners;
    if (type === "statechange" && listener && listeners) {
      removeListener(listeners, listener as Listener<Event>);
    }
  }
}

/**
 * {@linkcode LiveConnection}: a TCP connection that applies keepalive as it opens, always keeps a
 * read pending so a dead peer is noticed even when nobody reads, and reports exactly one
 * terminal state.
 *
 * @module
 */

import type { SocketAddress } from "./address.ts";
import { ConnectionClosedError, errorCode, SocketOptionError } from "./errors.ts";
import type { KeepAliveInfo, KeepAliveOptions } from "./options.ts";
import { checkConnectOptions, CheckedConnectOptions, type ValidKeepAlive } from "./checks.ts";
import {
  applyKeepAlive,
  applyValidKeepAlive,
  endpoints,
  matches,
  type ResolvedTarget,
  resolveTarget,
  reverify,
  type SocketTarget,
} from "./sockopt.ts";
import {
  type CloseInfo,
  type ConnectionState,
  ConnectionStateMachine,
  isTerminal,
  reportObserverError,
  type Transition,
  type TransitionHandler,
} from "./state.ts";
import type { Runtime, Transport, TransportSink, WriteProgress } from "./transport.ts";
import {
  addListener,
  clearListeners,
  dispatchTo,
  type Listeners,
  removeListener,
} from "./listeners.ts";
import type { Descriptor } from "../ffi/types.ts";

/**
 * Options of {@linkcode connect}.
 *
 * @example
 * ```ts
 * import { connect, type ConnectOptions } from "../mod.ts";
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
   * Aborting while connecting ends in `broken` with code `"ABORTED"`; aborting an open
   * connection closes it (`closed-gracefully`, by `"local"`).
   */
  signal?: AbortSignal;
  /** Receives what a `statechange` listener throws (default: `console.error`). */
  onListenerError?: (error: unknown) => void;
}

/**
 * The event a {@linkcode LiveConnection} dispatches on each transition.
 *
 * @example
 * ```ts
 * import { ConnectionStateMachine, StateChangeEvent } from "../mod.ts";
 * import assert from "node:assert/strict";
 * // A LiveConnection dispatches these; one made by hand from a machine transition:
 * const machine = new ConnectionStateMachine();
 * const event = new StateChangeEvent(machine.send({ type: "opened" })!);
 * assert.equal(event.type, "statechange");
 * assert.deepEqual([event.from, event.to, event.info], ["connecting", "open", undefined]);
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

  /** Creates the event from a machine transition. */
  constructor(transition: Transition) {
    super("statechange");
    this.from = transition.from;
    this.to = transition.to;
    this.at = transition.at;
    if (transition.info) this.info = transition.info;
  }
}

/**
 * A `statechange` listener: a function or an object with `handleEvent`.
 *
 * @example
 * ```ts
 * import { ConnectionStateMachine, StateChangeEvent, type StateChangeListener } from "../mod.ts";
 * import assert from "node:assert/strict";
 * const log: string[] = [];
 * const onChange: StateChangeListener = {
 *   handleEvent: (e) => log.push(`${e.from} -> ${e.to}`),
 * };
 * // `conn.addEventListener("statechange", onChange)` delivers these; here, one made by hand:
 * const machine = new ConnectionStateMachine();
 * onChange.handleEvent(new StateChangeEvent(machine.send({ type: "opened" })!));
 * assert.deepEqual(log, ["connecting -> open"]);
 * ```
 */
export type StateChangeListener =
  | ((event: StateChangeEvent) => void)
  | { handleEvent(event: StateChangeEvent): void };

/** The private handlers {@linkcode Sink} calls; set by LiveConnection's static block. */
let sinkTarget: {
  data(conn: LiveConnection, chunk: Uint8Array): void;
  end(conn: LiveConnection): void;
  error(conn: LiveConnection, error: unknown): void;
  destination(conn: LiveConnection): Uint8Array | undefined;
  filled(conn: LiveConnection, n: number): void;
  sent(conn: LiveConnection, n: number): void;
  transition(conn: LiveConnection, t: Transition): void;
};
/** How long a socket that could not be found is given to report that the kernel failed it. */
const FAILURE_WAIT_MS = 100;
/** How often a paused connection checks, without reading, whether the peer ended or failed. */
const PAUSED_CHECK_MS = 100;

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
  // Memory per idle connection is a target (BENCHMARKS.md), and most connections are idle most
  // of the time: the promises, the readable stream, the listener map and the write chain are
  // created on first use, resolvers are dropped once used, and the transport's callbacks go
  // through one small object (Sink) rather than a closure each. State only some connections
  // need lives in two objects made on first use (#c while connecting, #x after), behind private
  // accessors below; an idle open connection has neither.
  readonly #runtime: Runtime;
  readonly #machine: ConnectionStateMachine;
  readonly #onListenerError: (error: unknown) => void;
  #opened: Promise<void> | undefined;
  #transport: Transport | undefined;
  // Only the descriptor is kept; the addresses it must carry are the transport's, converted
  // again when it is re-verified (rarely), rather than held per connection.
  #fd: Descriptor | undefined;
  #keepAlive: KeepAliveInfo | undefined;
  #readableDone = false;
  #paused = false;
  #bytesRead = 0;
  #bytesWritten = 0;
  readonly #maxBuffered: number;
  readonly #sink: Sink;
  #c: Connecting | undefined;
  #x: Extras | undefined;

  // Setting a value that is already the default makes nothing; anything else makes the holder.
  #setExtra<K extends keyof Extras>(key: K, value: Extras[K]): void {
    if (this.#x || value !== NO_EXTRAS[key]) (this.#x ??= new Extras())[key] = value;
  }

  #setConnecting<K extends keyof Connecting>(key: K, value: Connecting[K]): void {
    if (this.#c || value !== NOT_CONNECTING[key]) (this.#c ??= new Connecting())[key] = value;
  }

  get #listeners(): Listeners<StateChangeEvent> | undefined {
    return (this.#x ?? NO_EXTRAS).listeners;
  }
  set #listeners(value: Listeners<StateChangeEvent> | undefined) {
    this.#setExtra("listeners", value);
  }
  get #closed(): Promise<CloseInfo> | undefined {
    return (this.#x ?? NO_EXTRAS).closed;
  }
  set #closed(value: Promise<CloseInfo> | undefined) {
    this.#setExtra("closed", value);
  }
  get #resolveClosed(): ((info: CloseInfo) => void) | undefined {
    return (this.#x ?? NO_EXTRAS).resolveClosed;
  }
  set #resolveClosed(value: ((info: CloseInfo) => void) | undefined) {
    this.#setExtra("resolveClosed", value);
  }
  get #releasing(): Promise<void> | undefined {
    return (this.#x ?? NO_EXTRAS).releasing;
  }
  set #releasing(value: Promise<void> | undefined) {
    this.#setExtra("releasing", value);
  }
  get #controller(): ReadableByteStreamController | undefined {
    return (this.#x ?? NO_EXTRAS).controller;
  }
  set #controller(value: ReadableByteStreamController | undefined) {
    this.#setExtra("controller", value);
  }
  get #readable(): ReadableStream<Uint8Array> | undefined {
    return (this.#x ?? NO_EXTRAS).readable;
  }
  set #readable(value: ReadableStream<Uint8Array> | undefined) {
    this.#setExtra("readable", value);
  }
  get #early(): Uint8Array[] | undefined {
    return (this.#x ?? NO_EXTRAS).early;
  }
  set #early(value: Uint8Array[] | undefined) {
    this.#setExtra("early", value);
  }
  get #earlyBytes(): number {
    return (this.#x ?? NO_EXTRAS).earlyBytes;
  }
  set #earlyBytes(value: number) {
    this.#setExtra("earlyBytes", value);
  }
  get #endedEarly(): boolean {
    return (this.#x ?? NO_EXTRAS).endedEarly;
  }
  set #endedEarly(value: boolean) {
    this.#setExtra("endedEarly", value);
  }
  get #writable(): WritableStream<Uint8Array> | undefined {
    return (this.#x ?? NO_EXTRAS).writable;
  }
  set #writable(value: WritableStream<Uint8Array> | undefined) {
    this.#setExtra("writable", value);
  }
  get #discard(): boolean {
    return (this.#x ?? NO_EXTRAS).discard;
  }
  set #discard(value: boolean) {
    this.#setExtra("discard", value);
  }
  get #pendingError(): Error | undefined {
    return (this.#x ?? NO_EXTRAS).pendingError;
  }
  set #pendingError(value: Error | undefined) {
    this.#setExtra("pendingError", value);
  }
  get #direct(): DirectRead | undefined {
    return (this.#x ?? NO_EXTRAS).direct;
  }
  set #direct(value: DirectRead | undefined) {
    // Set and cleared on every read(): a named store, which stays fast, where #setExtra's store
    // by key is shared by every field and so slow (4 KiB reads in Deno: 0.17 µs a read).
    if (this.#x || value !== undefined) (this.#x ??= new Extras()).direct = value;
  }
  get #directUsed(): boolean {
    return (this.#x ?? NO_EXTRAS).directUsed;
  }
  set #directUsed(value: boolean) {
    this.#setExtra("directUsed", value);
  }
  get #overflow(): boolean {
    return (this.#x ?? NO_EXTRAS).overflow;
  }
  set #overflow(value: boolean) {
    this.#setExtra("overflow", value);
  }
  get #pausedTimer(): ReturnType<typeof setInterval> | undefined {
    return (this.#x ?? NO_EXTRAS).pausedTimer;
  }
  set #pausedTimer(value: ReturnType<typeof setInterval> | undefined) {
    this.#setExtra("pausedTimer", value);
  }
  get #writeChain(): Promise<void> | undefined {
    return (this.#x ?? NO_EXTRAS).writeChain;
  }
  set #writeChain(value: Promise<void> | undefined) {
    this.#setExtra("writeChain", value);
  }
  get #removeAbortListener(): (() => void) | undefined {
    return (this.#x ?? NO_EXTRAS).removeAbortListener;
  }
  set #removeAbortListener(value: (() => void) | undefined) {
    this.#setExtra("removeAbortListener", value);
  }
  get #dialAbort(): AbortController | undefined {
    return (this.#c ?? NOT_CONNECTING).dialAbort;
  }
  set #dialAbort(value: AbortController | undefined) {
    this.#setConnecting("dialAbort", value);
  }
  get #dialing(): Promise<void> | undefined {
    return (this.#c ?? NOT_CONNECTING).dialing;
  }
  set #dialing(value: Promise<void> | undefined) {
    this.#setConnecting("dialing", value);
  }
  get #settleOpened(): { resolve(): void; reject(error: unknown): void } | undefined {
    return (this.#c ?? NOT_CONNECTING).settleOpened;
  }
  set #settleOpened(value: { resolve(): void; reject(error: unknown): void } | undefined) {
    this.#setConnecting("settleOpened", value);
  }
  get #connectTimer(): ReturnType<typeof setTimeout> | undefined {
    return (this.#c ?? NOT_CONNECTING).connectTimer;
  }
  set #connectTimer(value: ReturnType<typeof setTimeout> | undefined) {
    this.#setConnecting("connectTimer", value);
  }

  /**
   * @internal Use {@linkcode connect}. `options` already checked (a {@linkcode
   * CheckedConnectOptions}) are taken as they are: a listener checks its options once, not on
   * every accept.
   */
  constructor(runtime: Runtime, options: ConnectOptions | CheckedConnectOptions) {
    // Everything is checked before anything touches the network.
    const checked = options instanceof CheckedConnectOptions
      ? options
      : checkConnectOptions(options, runtime.platform().limits);
    const { hostname, port, keepAlive: wanted, bestEffort, connectTimeout, signal } = checked;

    this.#runtime = runtime;
    this.#maxBuffered = checked.maxBufferedBytes;
    this.#onListenerError = checked.onListenerError ?? reportObserverError;
    // The Sink observes the machine too: one object per connection rather than a closure.
    this.#sink = new Sink(this);
    this.#machine = new ConnectionStateMachine({
      onObserverError: this.#onListenerError,
      observer: this.#sink,
    });
    // Aborts the dial when the connection is closed, aborted or timed out while connecting.
    this.#dialAbort = new AbortController();

    if (signal?.aborted) {
      this.#fail("ABORTED", abortError(signal));
      return;
    }
    if (signal) {
      const onAbort = () => {
        if (this.#machine.state === "connecting") this.#fail("ABORTED", abortError(signal));
        else void this.close();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#removeAbortListener = () => signal.removeEventListener("abort", onAbort);
    }
    if (connectTimeout !== undefined) {
      this.#connectTimer = setTimeout(() => {
        // Issue 5: the timer is for connecting only; it used to break an open connection with
        // ETIMEDOUT once connectTimeout had passed (it is also cleared on open, below).
        if (this.#machine.state !== "connecting") return;
        const error = new Error(`Connect timed out after ${connectTimeout} ms`);
        this.#fail("ETIMEDOUT", Object.assign(error, { code: "ETIMEDOUT" }));
      }, connectTimeout);
    }
    this.#dialing = this.#open({ hostname, port }, wanted, bestEffort);
  }

  /** The current state. */
  get state(): ConnectionState {
    return this.#machine.state;
  }

  /** Resolves once open; rejects if the connection fails or is closed first. */
  get opened(): Promise<void> {
    if (this.#opened) return this.#opened;
    let opened: Promise<void>;
    if (this.#machine.state === "connecting") {
      opened = new Promise((resolve, reject) => (this.#settleOpened = { resolve, reject }));
    } else if (this.#machine.openedAt !== undefined) {
      opened = Promise.resolve();
    } else {
      opened = Promise.reject(this.#openError(this.#machine.info!));
    }
    // Nobody has to await `opened`: a failed connect is also reported through `closed`.
    opened.catch(() => {});
    return this.#opened = opened;
  }

  /**
   * Resolves once terminal, with how it ended, and the socket's resources released. Never
   * rejects.
   */
  get closed(): Promise<CloseInfo> {
    const info = this.#machine.info;
    return this.#closed ??= !info
      ? new Promise((resolve) => (this.#resolveClosed = resolve))
      : this.#releasing
      ? this.#releasing.then(() => info)
      : Promise.resolve(info);
  }

  /** The keepalive values in force, read back from the kernel when the connection opened. */
  get keepAlive(): KeepAliveInfo | undefined {
    return this.#keepAlive;
  }

  /** Our address, once open. */
  get localAddr(): SocketAddress | undefined {
    return this.#transport?.localAddr;
  }

  /** The peer's address, once open. */
  get remoteAddr(): SocketAddress | undefined {
    return this.#transport?.remoteAddr;
  }

  /** Bytes received so far (including any dropped after `readable` was cancelled). */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /**
   * Bytes handed to the kernel so far, counted as the kernel takes them: a large write in
   * progress, or one that failed midway, counts the part that went out.
   */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /**
   * The bytes the peer sends. Every byte received before a FIN or a break is delivered; after a
   * FIN the stream closes, after a break it errors with {@linkcode ConnectionClosedError} once
   * the bytes before it have been read. Cancelling it drops further bytes but keeps the
   * connection monitored.
   *
   * A byte stream: `getReader({ mode: "byob" })` reads into your own buffer, which can be reused
   * from read to read; where the runtime reads by call (Deno), the socket is read straight into
   * it, with no copy and no new memory per chunk.
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
    if (this.#directUsed && !this.#readable) {
      throw new TypeError("Cannot use readable: the connection is read with read()");
    }
    return this.#readable ??= new ReadableStream({
      type: "bytes",
      start: (controller) => {
        this.#controller = controller;
        const early = this.#early;
        this.#early = undefined;
        this.#earlyBytes = 0;
        if (early) { for (const chunk of early) controller.enqueue(chunk); }
        if (this.#endedEarly) controller.close();
      },
      pull: () => this.#onPull(),
      cancel: () => {
        // The consumer lost interest in the bytes, not in the connection: keep monitoring it
        // so a dead peer is still noticed, and drop what arrives.
        this.#discard = true;
        this.#readableDone = true;
        this.#unpause();
      },
    }, { highWaterMark: this.#maxBuffered });
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
    if (!(buffer instanceof Uint8Array)) {
      return Promise.reject(new TypeError("Cannot read: expected a Uint8Array"));
    }
    if (this.#readable) {
      return Promise.reject(
        new TypeError("Cannot read: the connection is read through readable"),
      );
    }
    if (this.#direct) {
      return Promise.reject(new TypeError("Cannot read: another read is still waiting"));
    }
    if (!this.#directUsed) this.#directUsed = true;
    if (buffer.byteLength === 0) return Promise.resolve(0);
    const n = this.#takeEarly(buffer);
    if (n > 0) return Promise.resolve(n);
    if (this.#pendingError) return Promise.reject(this.#pendingError);
    if (this.#endedEarly || this.#readableDone) return Promise.resolve(null);
    const waiting = new Promise<number | null>((resolve, reject) =>
      this.#direct = { view: buffer, resolve, reject }
    );
    this.#transport?.wanted?.();
    return waiting;
  }

  /** Moves bytes received before read() asked into `buffer`; returns how many. */
  #takeEarly(buffer: Uint8Array): number {
    const early = this.#early;
    if (!early) return 0;
    let n = 0;
    while (early.length > 0 && n < buffer.byteLength) {
      const chunk = early[0];
      const take = Math.min(chunk.byteLength, buffer.byteLength - n);
      buffer.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take), n);
      n += take;
      if (take === chunk.byteLength) early.shift();
      else early[0] = chunk.subarray(take);
    }
    this.#earlyBytes -= n;
    if (early.length === 0) this.#early = undefined;
    // Room again below the limit: take bytes from the kernel again.
    if (this.#earlyBytes < this.#maxBuffered) this.#unpause();
    return n;
  }

  /** A stream view of {@linkcode LiveConnection.write}; closing it half-closes (sends FIN). */
  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream<Uint8Array>({
      write: (chunk) => this.write(chunk),
      close: () => this.closeWrite(),
    });
  }

  /**
   * Sends `bytes`; resolves once the kernel has all of them. Writes are sent in call order.
   * Waits for the connection to open; rejects with {@linkcode ConnectionClosedError} if it
   * ends first.
   */
  write(bytes: Uint8Array): Promise<void> {
    if (!(bytes instanceof Uint8Array)) {
      return Promise.reject(new TypeError("Cannot write: expected a Uint8Array"));
    }
    const run = async () => {
      if (this.#machine.state === "connecting") await this.opened.catch(() => {});
      const transport = this.#transport;
      if (this.#machine.state !== "open" || !transport) throw this.#closedError("write");
      try {
        // The transport counts the bytes as the kernel takes them (Sink.sent), so a write that
        // fails midway, or is still in progress, has counted what already went out.
        await transport.write(bytes, this.#sink);
      } catch (error) {
        if (this.#machine.state === "open") this.#fail(errorCode(error), error);
        throw this.#closedError("write", error);
      }
    };
    const result = this.#writeChain ? this.#writeChain.then(run) : run();
    this.#writeChain = result.catch(() => {});
    return result;
  }

  /** Sends FIN after everything written so far; the connection stays open for reading. */
  closeWrite(): Promise<void> {
    const result = (this.#writeChain ?? Promise.resolve()).then(async () => {
      if (this.#machine.state === "connecting") await this.opened.catch(() => {});
      if (this.#machine.state !== "open" || !this.#transport) throw this.#closedError("close");
      await this.#transport.closeWrite();
    });
    this.#writeChain = result.catch(() => {});
    return result;
  }

  /**
   * Closes the connection now (`closed-gracefully`, by `"local"`): bytes already handed to the
   * kernel are still sent, then FIN; a write still waiting rejects. Resolves with the close info.
   */
  close(): Promise<CloseInfo> {
    this.#machine.send({ type: "close" });
    return this.closed;
  }

  /** Closes the connection, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Changes keepalive on the open connection; returns the values read back from the kernel. */
  setKeepAlive(options: KeepAliveOptions): KeepAliveInfo {
    const target = this.#requireTarget("set keepalive");
    const calls = this.#runtime.calls();
    const platform = this.#runtime.platform();
    this.#keepAlive = applyKeepAlive(
      platform,
      calls,
      () => reverify(platform, calls, target),
      options,
    );
    return this.#keepAlive;
  }

  /** Reads the keepalive values in force from the kernel now. */
  getKeepAlive(): KeepAliveInfo {
    const target = this.#requireTarget("read keepalive");
    const calls = this.#runtime.calls();
    const platform = this.#runtime.platform();
    return platform.getKeepAlive(calls, reverify(platform, calls, target));
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
    if (isTerminal(this.#machine.state)) return;
    addListener(this.#listeners ??= new Map(), listener, options);
  }

  /** Removes a `statechange` listener. */
  removeEventListener(type: "statechange", listener: StateChangeListener | null): void {
    if (type === "statechange" && listener && this.#listeners) {
      removeListener(this.#listeners, listener);
    }
  }

  #open(
    where: { hostname: string; port: number },
    wanted: ValidKeepAlive,
    bestEffort: ReadonlySet<keyof KeepAliveOptions>,
  ): Promise<void> {
    // Not one async function: what waits for the dial is kept to the two values it needs, as
    // thousands of connections may be waiting at once (memory per connection is a target).
    return this.#runtime.dial(where, this.#dialAbort!.signal).then(
      (transport) => this.#dialed(transport, wanted, bestEffort),
      (error) => this.#fail(errorCode(error), error),
    );
  }

  #dialed(
    transport: Transport,
    wanted: ValidKeepAlive,
    bestEffort: ReadonlySet<keyof KeepAliveOptions>,
  ): void {
    if (this.#machine.state !== "connecting") {
      // Closed, aborted or timed out while the handshake was in progress.
      transport.close();
      return;
    }
    this.#transport = transport;
    try {
      const calls = this.#runtime.calls();
      const platform = this.#runtime.platform();
      const target = resolveTarget(platform, calls, new TransportTarget(transport));
      this.#fd = target.fd;
      // `wanted` was validated by the constructor: applied as is.
      this.#keepAlive = applyValidKeepAlive(
        platform,
        calls,
        reverify(platform, calls, target),
        wanted,
        bestEffort,
      );
    } catch (error) {
      // A connection we cannot monitor is not handed out as if we could.
      const code = error instanceof SocketOptionError ? error.code : errorCode(error);
      // A socket the kernel already failed has no peer address left to be found by: report what
      // the kernel says (ECONNRESET) rather than the lookup that could not succeed.
      const lost = code === "ERR_SOCKET_NOT_FOUND" || error instanceof TypeError;
      if (lost && transport.failure) {
        void transport.failure(FAILURE_WAIT_MS).then((failure) =>
          failure === undefined ? this.#fail(code, error) : this.#fail(errorCode(failure), failure)
        );
      } else {
        this.#fail(code, error);
      }
      return;
    }
    if (this.#machine.send({ type: "opened" }) === undefined) return;
    transport.start(this.#sink);
  }

  static {
    // Sink reaches the private handlers through this, so they stay out of the public API.
    sinkTarget = {
      data: (conn, chunk) => conn.#onData(chunk),
      end: (conn) => conn.#onEnd(),
      error: (conn, error) => conn.#fail(errorCode(error), error),
      destination: (conn) => conn.#destination(),
      filled: (conn, n) => conn.#filled(n),
      sent: (conn, n) => {
        conn.#bytesWritten += n;
      },
      transition: (conn, t) => conn.#onTransition(t),
    };
  }

  /** The buffer of a read() or BYOB read the consumer is waiting on, if any. */
  #destination(): Uint8Array | undefined {
    if (this.#direct) return this.#direct.view;
    if (this.#discard || this.#readableDone) return undefined;
    const view = this.#controller?.byobRequest?.view;
    return view ? view as Uint8Array : undefined;
  }

  #filled(n: number): void {
    this.#bytesRead += n;
    const direct = this.#direct;
    if (direct) {
      this.#direct = undefined;
      direct.resolve(n);
      return;
    }
    // The consumer may have cancelled meanwhile: then the read is no longer wanted.
    if (this.#discard || this.#readableDone) return;
    this.#controller?.byobRequest?.respond(n);
  }

  #onData(chunk: Uint8Array): void {
    this.#bytesRead += chunk.byteLength;
    if (this.#discard || this.#readableDone || chunk.byteLength === 0) return;
    const direct = this.#direct;
    if (direct) {
      // A read() is waiting: fill it; what does not fit waits for the next read().
      const take = Math.min(chunk.byteLength, direct.view.byteLength);
      direct.view.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take));
      this.#direct = undefined;
      direct.resolve(take);
      if (take === chunk.byteLength) return;
      chunk = chunk.subarray(take);
    }
    let room: number;
    if (this.#controller) {
      this.#controller.enqueue(chunk);
      room = this.#controller.desiredSize ?? 1;
    } else {
      (this.#early ??= []).push(chunk);
      this.#earlyBytes += chunk.byteLength;
      room = this.#maxBuffered - this.#earlyBytes;
    }
    if (!this.#overflow && !this.#paused && room <= 0) {
      this.#paused = true;
      this.#transport?.pause();
      this.#pausedTimer = setInterval(() => this.#checkWhilePaused(), PAUSED_CHECK_MS);
    }
  }

  #onPull(): void {
    const controller = this.#controller;
    if (this.#pendingError && !this.#readableDone) {
      // Only error once everything received before the break has been read: controller.error()
      // would throw away what is still queued. Without a stream yet, `readable` does this when
      // it is made (its first pull).
      // desiredSize = maxBufferedBytes - queued bytes: equal means nothing is queued.
      if (controller?.desiredSize === this.#maxBuffered) {
        this.#readableDone = true;
        controller.error(this.#pendingError);
      }
      return;
    }
    this.#unpause();
    if (controller?.byobRequest) this.#transport?.wanted?.();
  }

  #unpause(): void {
    if (!this.#paused) return;
    this.#paused = false;
    clearInterval(this.#pausedTimer);
    this.#pausedTimer = undefined;
    if (this.#machine.state === "open") this.#transport?.resume();
  }

  #checkWhilePaused(): void {
    const target = this.#resolved();
    if (!target || this.#machine.state !== "open") return;
    let ended: boolean;
    try {
      const calls = this.#runtime.calls();
      const platform = this.#runtime.platform();
      ended = !matches(platform, calls, target.fd, target.local, target.remote) ||
        platform.peek(calls, target.fd) === "ended";
    } catch {
      ended = true;
    }
    if (!ended) return;
    // The peer sent FIN or the kernel holds an error. Read again, past the buffer limit: what is
    // left is bounded by the kernel's receive buffer, and the read then returns EOF or the error,
    // so the outcome is reported even though the consumer is not reading.
    this.#overflow = true;
    this.#unpause();
  }

  #onEnd(): void {
    this.#endReadable();
    this.#machine.send({ type: "eof" });
  }

  /** Closes `readable` after what it holds; before it exists, makes it so when it is made. */
  #endReadable(): void {
    if (this.#readableDone) return;
    this.#readableDone = true;
    // A read() waits only when nothing is queued: it gets the end now.
    this.#direct?.resolve(null);
    this.#direct = undefined;
    if (this.#controller) {
      this.#controller.close();
      // A BYOB read still waiting learns of the end only through this (Streams spec).
      this.#controller.byobRequest?.respond(0);
    } else {
      this.#endedEarly = true;
    }
  }

  #fail(code: string, error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    this.#machine.send({ type: "error", code, error: err });
  }

  #onTransition(t: Transition): void {
    if (t.to === "open") {
      clearTimeout(this.#connectTimer); // Issue 5: see the connect timer in the constructor.
      this.#connectTimer = undefined;
      this.#dialAbort = undefined;
      this.#settleOpened?.resolve();
      this.#c = undefined; // nothing of the connect phase is needed any more
      // Settled: `opened` makes a resolved promise when asked again rather than keeping this one.
      this.#opened = undefined;
    }
    if (isTerminal(t.to)) this.#finish(t.info!);
    const listeners = this.#listeners;
    if (!listeners) return;
    dispatchTo(listeners, this, new StateChangeEvent(t), this.#onListenerError);
    if (isTerminal(t.to)) {
      // Nothing follows a terminal state: what the listeners added to their signals goes now.
      clearListeners(listeners);
      this.#listeners = undefined;
    }
  }

  #finish(info: CloseInfo): void {
    clearTimeout(this.#connectTimer);
    clearInterval(this.#pausedTimer);
    this.#removeAbortListener?.();
    this.#dialAbort?.abort();
    this.#dialAbort = undefined;
    // In Deno on Linux, closing the last watched connection ends the shared wait a moment later;
    // `closed` settles after that, so a test that awaits it leaves no operation behind. A dial
    // still in progress was aborted just above: `closed` settles once it has let go of its
    // socket, which the runtimes do promptly (see Runtime.dial), so nothing of the connection
    // is left by then.
    const released = this.#transport?.close() ?? this.#dialing;
    if (released) {
      const done = () => void (this.#releasing = undefined);
      this.#releasing = released.then(done, done);
    }
    this.#settleOpened?.reject(this.#openError(info));
    this.#c = undefined;
    if (info.state === "broken") {
      if (!this.#readableDone) {
        this.#pendingError = brokenError(info);
        // A read() waits only when nothing is queued: it gets the break now.
        this.#direct?.reject(this.#pendingError);
        this.#direct = undefined;
        this.#onPull();
      }
    } else {
      this.#endReadable();
    }
    const resolve = this.#resolveClosed;
    this.#resolveClosed = undefined;
    if (resolve && this.#releasing) void this.#releasing.then(() => resolve(info));
    else resolve?.(info);
  }

  /** What `opened` rejects with when the connection ended without opening. */
  #openError(info: CloseInfo): unknown {
    return info.state === "broken" ? info.error ?? brokenError(info) : this.#closedError("open");
  }

  #closedError(action: string, cause?: unknown): ConnectionClosedError {
    const info = this.#machine.info;
    if (info?.state === "broken") {
      return new ConnectionClosedError(
        `Cannot ${action}: the connection is broken (${info.code})`,
        info.code ?? "EIO",
        { cause: info.error ?? cause },
      );
    }
    return new ConnectionClosedError(
      `Cannot ${action}: the connection is ${info ? `closed-gracefully by ${info.by}` : "closed"}`,
      "ERR_CONNECTION_CLOSED",
      cause === undefined ? undefined : { cause },
    );
  }

  #requireTarget(action: string): ResolvedTarget {
    const target = this.#machine.state === "open" ? this.#resolved() : undefined;
    if (!target) {
      throw new ConnectionClosedError(
        `Cannot ${action}: the connection is ${this.#machine.state}`,
        this.#machine.info?.code ?? "ERR_CONNECTION_CLOSED",
      );
    }
    return target;
  }

  /** The descriptor with the addresses it must carry, once found. */
  #resolved(): ResolvedTarget | undefined {
    const transport = this.#transport;
    return this.#fd === undefined || !transport ? undefined : {
      ...endpoints({ local: transport.localAddr, remote: transport.remoteAddr }),
      fd: this.#fd,
    };
  }
}

/** A LiveConnection's state that only some connections need, made on first use. */
class Extras {
  listeners: Listeners<StateChangeEvent> | undefined = undefined;
  closed: Promise<CloseInfo> | undefined = undefined;
  resolveClosed: ((info: CloseInfo) => void) | undefined = undefined;
  releasing: Promise<void> | undefined = undefined;
  controller: ReadableByteStreamController | undefined = undefined;
  readable: ReadableStream<Uint8Array> | undefined = undefined;
  early: Uint8Array[] | undefined = undefined;
  earlyBytes: number = 0;
  endedEarly: boolean = false;
  writable: WritableStream<Uint8Array> | undefined = undefined;
  discard: boolean = false;
  pendingError: Error | undefined = undefined;
  direct: DirectRead | undefined = undefined;
  directUsed: boolean = false;
  overflow: boolean = false;
  pausedTimer: ReturnType<typeof setInterval> | undefined = undefined;
  writeChain: Promise<void> | undefined = undefined;
  removeAbortListener: (() => void) | undefined = undefined;
}

/** A LiveConnection's state while it connects; dropped once it opens or ends. */
class Connecting {
  dialAbort: AbortController | undefined = undefined;
  /** Settles once the dial has (its outcome handled). */
  dialing: Promise<void> | undefined = undefined;
  settleOpened: { resolve(): void; reject(error: unknown): void } | undefined = undefined;
  connectTimer: ReturnType<typeof setTimeout> | undefined = undefined;
}

/** What a connection without extras reads: every field at its default. */
const NO_EXTRAS: Readonly<Extras> = Object.freeze(new Extras());
/** What a connection not (or no longer) connecting reads. */
const NOT_CONNECTING: Readonly<Connecting> = Object.freeze(new Connecting());

/** A transport as the target of a lookup: one object, no closures (this runs for every open). */
class TransportTarget implements SocketTarget {
  readonly #transport: Transport;
  constructor(transport: Transport) {
    this.#transport = transport;
  }
  get local(): SocketAddress {
    return this.#transport.localAddr;
  }
  get remote(): SocketAddress {
    return this.#transport.remoteAddr;
  }
  hints(): Iterable<Descriptor> {
    return this.#transport.hints();
  }
  scan(): Iterable<Descriptor> {
    // A transport without scan names its descriptor: nothing else may be tried.
    return this.#transport.scan?.() ?? [];
  }
  found(fd: Descriptor): void {
    this.#transport.found?.(fd);
  }
}

/** A read() waiting for bytes. */
interface DirectRead {
  view: Uint8Array;
  resolve(n: number | null): void;
  reject(error: unknown): void;
}

/**
 * The transport's view of a connection: one small object per connection instead of a closure per
 * callback (memory per idle connection is a target).
 */
class Sink implements TransportSink, WriteProgress, TransitionHandler {
  readonly #conn: LiveConnection;
  constructor(conn: LiveConnection) {
    this.#conn = conn;
  }
  data(chunk: Uint8Array): void {
    sinkTarget.data(this.#conn, chunk);
  }
  end(): void {
    sinkTarget.end(this.#conn);
  }
  error(error: unknown): void {
    sinkTarget.error(this.#conn, error);
  }
  destination(): Uint8Array | undefined {
    return sinkTarget.destination(this.#conn);
  }
  filled(n: number): void {
    sinkTarget.filled(this.#conn, n);
  }
  sent(n: number): void {
    sinkTarget.sent(this.#conn, n);
  }
  onTransition(t: Transition): void {
    sinkTarget.transition(this.#conn, t);
  }
}

function brokenError(info: CloseInfo): ConnectionClosedError {
  return new ConnectionClosedError(
    `The connection is broken (${info.code})${info.error ? `: ${info.error.message}` : ""}`,
    info.code ?? "EIO",
    { cause: info.error },
  );
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  const error = reason instanceof Error ? reason : new Error("The connect was aborted");
  return error;
}

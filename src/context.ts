/**
 * {@linkcode ConnectionContext}: the working parts behind one `LiveConnection`, and the one place
 * that decides what each transition does to them. The state machine (state.ts) says which
 * transition happens; this reacts: opening hands the transport to the read side, a terminal
 * state ends the connect phase, the read side and the transport, and settles `closed`.
 *
 * @module
 */

import { ConnectionClosedError, errorCode, kernelError, SocketOptionError } from "./errors.ts";
import {
  budgetUserTimeout,
  type KeepAliveInfo,
  type KeepAliveOptions,
  sharedKeepAliveInfo,
  validateKeepAlive,
} from "./options.ts";
import type { CheckedConnectOptions } from "./checks.ts";
import { TLS_HANDSHAKE_CODE } from "./tls_options.ts";
import {
  type CloseInfo,
  ConnectionStateMachine,
  isTerminal,
  type Transition,
  type TransitionHandler,
} from "./state.ts";
import type { Runtime, Transport, TransportSink } from "./transport.ts";
import { clearListeners, dispatchTo, type Listeners } from "./listeners.ts";
import { type ConnectHost, ConnectPhase } from "./connecting.ts";
import { brokenError, type ReadHost, ReadSide } from "./reader.ts";
import { type WriteHost, WriteSide } from "./writer.ts";
import { SockRef } from "./sockref.ts";
import { StateChangeEvent } from "./state_event.ts";
import { IdleDeadline, type IdleHost } from "./idle.ts";
import type { TcpHealth } from "./health.ts";

/** How long a socket that could not be found is given to report that the kernel failed it. */
const FAILURE_WAIT_MS = 100;

/**
 * What a connection without keepalive may open without: the FFI itself cannot be had (Deno
 * without `--allow-ffi`). Nothing is to be set on its socket, and reading notices a FIN or a
 * reset without it.
 */
const FFI_MISSING: ReadonlySet<string> = new Set(["ERR_FFI_PERMISSION", "ERR_FFI_UNAVAILABLE"]);

/** The code of a connection ended by `idleTimeout`. */
export const IDLE_TIMEOUT_CODE = "IDLE_TIMEOUT";

/**
 * What needs no slot of its own on every connection: rarely there (a signal's listener, the
 * reason a connection opened without FFI has no socket), kept aside by connection.
 */
const REMOVE_ABORT_LISTENER = new WeakMap<ConnectionContext, () => void>();
const UNREACHABLE = new WeakMap<ConnectionContext, SocketOptionError>();

/** A connection's parts: machine, connect phase, socket, read and write sides, listeners. */
export class ConnectionContext
  implements ReadHost, WriteHost, ConnectHost, TransitionHandler, IdleHost, TransportSink {
  readonly machine: ConnectionStateMachine;
  readonly #runtime: Runtime;
  /** `this` for the listeners, and what their events are made with. */
  readonly #owner: object;
  readonly #maxBuffered: number;
  #idle: IdleDeadline | undefined;
  /** What the connect phase needs of the options (keepalive, then `idleTimeout`); dropped at open. */
  #plan: Pick<CheckedConnectOptions, "keepAlive" | "bestEffort" | "idleTimeout"> | undefined;
  #phase: ConnectPhase | undefined;
  transport: Transport | undefined;
  sock: SockRef | undefined;
  /** The keepalive values in force, as last read back from the kernel (frozen, shared). */
  keepAlive: Readonly<KeepAliveInfo> | undefined;
  /** Over TLS, once open: the protocol ALPN chose, or `null`. */
  alpnProtocol: string | null | undefined;
  #reader: ReadSide | undefined;
  #writer: WriteSide | undefined;
  listeners: Listeners<Event> | undefined;
  #opened: Promise<void> | undefined;
  #closed: Promise<CloseInfo> | undefined;
  #resolveClosed: ((info: CloseInfo) => void) | undefined;
  /** What must be let go of (the transport, or a dial) before `closed` settles. */
  #releasing: Promise<void> | undefined;

  /**
   * Starts the connection: with `accepted`, over a socket a listener accepted; otherwise by
   * dialing `options.hostname:port` through `runtime`.
   */
  constructor(
    owner: object,
    runtime: Runtime,
    options: CheckedConnectOptions,
    accepted?: Transport,
  ) {
    this.#owner = owner;
    this.#runtime = runtime;
    this.#maxBuffered = options.maxBufferedBytes;
    this.#plan = options;
    this.machine = new ConnectionStateMachine({
      onObserverError: options.onListenerError,
      observer: this,
    });
    const signal = options.signal;
    if (signal?.aborted) {
      this.machine.fail("ABORTED", abortError(signal));
      return;
    }
    if (signal) {
      const onAbort = () => {
        if (this.machine.state === "connecting") this.machine.fail("ABORTED", abortError(signal));
        else this.machine.send({ type: "close" });
      };
      signal.addEventListener("abort", onAbort, { once: true });
      REMOVE_ABORT_LISTENER.set(this, () => signal.removeEventListener("abort", onAbort));
    }
    const where = { hostname: options.hostname, port: options.port, tls: options.tls };
    this.#phase = new ConnectPhase(
      this,
      accepted ? () => Promise.resolve(accepted) : (abort) => runtime.dial(where, abort),
      options.connectTimeout,
    );
  }

  /** The read side, made on first need (ended at once if the connection already has). */
  get reader(): ReadSide {
    if (this.#reader) return this.#reader;
    const reader = this.#reader = new ReadSide(this, this.#maxBuffered);
    const info = this.machine.info;
    if (info) reader.finish(info);
    return reader;
  }

  /** The write side, made on first need. */
  get writer(): WriteSide {
    return this.#writer ??= new WriteSide(this);
  }

  /** Bytes handed to the kernel so far. */
  get bytesWritten(): number {
    return this.#writer?.bytesWritten ?? 0;
  }

  /** Bytes received so far. */
  get bytesRead(): number {
    return this.#reader?.bytesRead ?? 0;
  }

  /** See `LiveConnection.opened`. */
  get opened(): Promise<void> {
    if (this.#opened) return this.#opened;
    let opened: Promise<void>;
    if (this.#phase) opened = this.#phase.opened();
    else if (this.machine.openedAt !== undefined) opened = Promise.resolve();
    else opened = Promise.reject(this.#openError(this.machine.info!));
    // Nobody has to await `opened`: a failed connect is also reported through `closed`.
    opened.catch(() => {});
    // Kept only while it can still change; once settled a new one is made when asked.
    if (this.#phase) this.#opened = opened;
    return opened;
  }

  /** See `LiveConnection.closed`. */
  get closed(): Promise<CloseInfo> {
    const info = this.machine.info;
    return this.#closed ??= !info
      ? new Promise((resolve) => (this.#resolveClosed = resolve))
      : this.#releasing
      ? this.#releasing.then(() => info)
      : Promise.resolve(info);
  }

  /** Resolves once the connection has opened or ended. */
  settled(): Promise<void> {
    return this.opened.catch(() => {});
  }

  /** The socket, for `action`, on an open connection; throws `ConnectionClosedError` if not. */
  requireSock(action: string): SockRef {
    const open = this.machine.state === "open";
    const sock = open ? this.sock : undefined;
    if (sock) return sock;
    const unreachable = open ? UNREACHABLE.get(this) : undefined;
    if (unreachable) throw unreachable;
    throw new ConnectionClosedError(
      `Cannot ${action}: the connection is ${this.machine.state}`,
      this.machine.info?.code ?? "ERR_CONNECTION_CLOSED",
    );
  }

  dialed(transport: Transport): void {
    const plan = this.#plan;
    if (this.machine.state !== "connecting" || !plan || this.transport) {
      // Closed, aborted or timed out while the handshake was in progress.
      transport.close();
      return;
    }
    this.transport = transport;
    try {
      const opened = SockRef.open(this.#runtime, transport, plan.keepAlive, plan.bestEffort);
      this.sock = opened.sock;
      this.keepAlive = sharedKeepAliveInfo(opened.keepAlive);
    } catch (error) {
      if (plan.keepAlive.enabled || !ffiMissing(error)) {
        this.#lost(transport, error);
        return;
      }
      // Keepalive off asks nothing of the socket: without the FFI the connection opens all the
      // same, watched by reading, with nothing read back (`keepAlive` stays undefined).
      // (Why an open connection has no SockRef: what needs the socket throws this.)
      UNREACHABLE.set(this, error as SocketOptionError);
    }
    // Over TLS the connection opens only once the handshake is done: keepalive is already on the
    // TCP socket, so a peer lost mid-handshake ends it too. Whatever ends the handshake is one
    // outcome, whatever the runtime calls it (an untrusted certificate, a name mismatch, an
    // alert, a peer that closes or resets, or speaks no TLS): ERR_TLS_HANDSHAKE, the runtime's
    // error kept as `error`. A close, an abort or connectTimeout meanwhile ends the connection
    // first; the handshake's outcome then changes nothing.
    const handshake = transport.handshake?.();
    if (!handshake) return this.#open(transport);
    handshake.then((alpnProtocol) => {
      if (this.machine.state !== "connecting") return;
      this.alpnProtocol = alpnProtocol;
      this.#open(transport);
    }, (error) => void this.machine.fail(TLS_HANDSHAKE_CODE, error));
  }

  #open(transport: Transport): void {
    const idle = this.#plan?.idleTimeout;
    this.#plan = undefined;
    if (this.machine.send({ type: "opened" }) === undefined) return;
    // A statechange listener may have closed it already.
    if (idle !== undefined && this.machine.state === "open") {
      this.#idle = new IdleDeadline(idle, this, this.machine.openedAt!);
    }
    // The context is the transport's sink, so the read side is made only once a byte arrives
    // or the consumer reads: an idle connection nobody reads from holds none.
    transport.start(this);
  }

  data(chunk: Uint8Array): void {
    this.reader.data(chunk);
  }

  end(): void {
    // Without a read side, the FIN needs no more than the machine: one made later is ended.
    if (this.#reader) this.#reader.end();
    else this.machine.send({ type: "eof" });
  }

  error(error: unknown): void {
    this.machine.fail(errorCode(error), error);
  }

  failedInKernel(): boolean {
    const code = this.sock?.takeError();
    if (code === undefined) return false;
    this.machine.fail(code, kernelError(code));
    return true;
  }

  destination(): Uint8Array | undefined {
    return this.#reader?.destination();
  }

  filled(n: number): void {
    // A destination came from the read side, so it exists.
    this.#reader!.filled(n);
  }

  readsNow(): boolean {
    return this.#reader?.readsNow() ?? false;
  }

  lastReceivedAt(): number | undefined {
    return this.#reader?.lastReceivedAt;
  }

  holdsBack(): boolean {
    return this.#reader?.paused ?? false;
  }

  expired(silentMs: number, idleTimeout: number): void {
    this.machine.fail(
      IDLE_TIMEOUT_CODE,
      new Error(`No byte received for ${silentMs} ms (idleTimeout ${idleTimeout} ms)`),
    );
  }

  /**
   * The kernel's record of the connection while it is open; `undefined` otherwise. Throws the
   * FFI's error on a connection opened without it.
   */
  health(): TcpHealth | undefined {
    if (this.machine.state !== "open") return undefined;
    return this.requireSock("read health").health();
  }

  /**
   * Keepalive could not be applied: a connection we cannot monitor is not handed out as if we
   * could. A socket the kernel already failed has no peer address left to be found by: then
   * what the kernel says (ECONNRESET) is reported, rather than the lookup that could not succeed.
   */
  #lost(transport: Transport, error: unknown): void {
    const code = error instanceof SocketOptionError ? error.code : errorCode(error);
    const unfound = code === "ERR_SOCKET_NOT_FOUND" || error instanceof TypeError;
    if (!unfound || !transport.failure) {
      this.machine.fail(code, error);
      return;
    }
    void transport.failure(FAILURE_WAIT_MS).then((failure) =>
      failure === undefined
        ? this.machine.fail(code, error)
        : this.machine.fail(errorCode(failure), failure)
    );
  }

  onTransition(t: Transition): void {
    if (t.to === "open") {
      this.#phase?.open();
      this.#phase = undefined; // nothing of the connect phase is needed any more
      this.#opened = undefined;
    }
    const terminal = isTerminal(t.to);
    if (terminal) this.#finish(t.info!);
    const listeners = this.listeners;
    if (!listeners) return;
    dispatchTo(listeners, this.#owner, new StateChangeEvent(t), this.machine.onObserverError);
    if (terminal) {
      // Nothing follows a terminal state: what the listeners added to their signals goes now.
      clearListeners(listeners);
      this.listeners = undefined;
    }
  }

  #finish(info: CloseInfo): void {
    this.#idle?.stop();
    this.#idle = undefined;
    REMOVE_ABORT_LISTENER.get(this)?.();
    REMOVE_ABORT_LISTENER.delete(this);
    this.#plan = undefined;
    // In Deno on Linux, closing the last watched connection ends the shared wait a moment later;
    // `closed` settles after that, so a test that awaits it leaves no operation behind. A dial
    // still in progress is aborted here: `closed` settles once it has let go of its socket, so
    // nothing of the connection is left by then.
    const dialing = this.#phase?.end(this.#openError(info));
    this.#phase = undefined;
    const released = this.transport?.close() ?? dialing;
    this.#opened = undefined;
    if (released) {
      const done = () => void (this.#releasing = undefined);
      this.#releasing = released.then(done, done);
    }
    this.#reader?.finish(info);
    const resolve = this.#resolveClosed;
    this.#resolveClosed = undefined;
    if (resolve && this.#releasing) void this.#releasing.then(() => resolve(info));
    else resolve?.(info);
  }

  /** What `opened` rejects with when the connection ended without opening. */
  #openError(info: CloseInfo): unknown {
    return info.state === "broken" ? info.error ?? brokenError(info) : this.closedError("open");
  }

  closedError(action: string, cause?: unknown): ConnectionClosedError {
    const info = this.machine.info;
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

  /**
   * Applies `options` on the open connection; what the kernel then reports is kept. A
   * `userTimeout` that was the detection budget (`idle + interval × count`, as `connect` derives
   * it) follows the new budget when the times change and `options` says nothing of it: left as
   * it was, it would hold the old budget (Linux drops at the first probe at or past it).
   */
  setKeepAlive(options: KeepAliveOptions): Readonly<KeepAliveInfo> {
    const sock = this.requireSock("set keepalive");
    return this.keepAlive = sharedKeepAliveInfo(sock.setKeepAlive(this.#withBudget(options)));
  }

  #withBudget(options: KeepAliveOptions): KeepAliveOptions {
    const now = this.keepAlive;
    if (
      options.userTimeout !== undefined || !now?.enabled || options.enabled === false ||
      (options.idle === undefined && options.interval === undefined && options.count === undefined)
    ) return options;
    const limits = this.#runtime.platform().limits;
    if (now.userTimeout !== budgetUserTimeout(now, limits)) return options;
    // The new times as the OS will store them (validated again, and refused there if invalid).
    const next = { ...now, ...validateKeepAlive(options, limits) };
    return { ...options, userTimeout: budgetUserTimeout(next, limits) };
  }
}

function ffiMissing(error: unknown): error is SocketOptionError {
  return error instanceof SocketOptionError && FFI_MISSING.has(error.code);
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  return reason instanceof Error ? reason : new Error("The connect was aborted");
}

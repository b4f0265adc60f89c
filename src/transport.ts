/**
 * The contract each runtime adapter fulfils (in the manner of hono's adapters): a small object
 * that turns the runtime's native socket into calls on a {@linkcode TransportSink}, plus the
 * lazily opened FFI and the OS. Everything above it is runtime-agnostic.
 *
 * @module
 */

import type { Endpoint, SocketAddress } from "./address.ts";
import type { Descriptor, SocketCalls } from "../ffi/types.ts";
import type { Platform } from "./os/platform.ts";
import type { SocketTarget } from "./sockopt.ts";
import type { ClientTls, ServerTls } from "./tls_options.ts";

/** Receives what happens on a transport, in order; after `end` or `error` nothing more comes. */
export interface TransportSink {
  /** Bytes arrived. The transport does not reuse `chunk`. */
  data(chunk: Uint8Array): void;
  /** The peer sent FIN: no more bytes will arrive. */
  end(): void;
  /** The socket failed (the runtime's error, carrying an errno `code`). */
  error(error: unknown): void;
  /**
   * A buffer the consumer is waiting to have filled (a BYOB read), if any. A transport that
   * reads by call may read straight into it and then call {@linkcode TransportSink.filled};
   * others simply call `data`, and the bytes are copied into it.
   */
  destination(): Uint8Array | undefined;
  /** `n` (> 0) bytes were read into the buffer {@linkcode TransportSink.destination} gave. */
  filled(n: number): void;
  /**
   * Whether the consumer reads with `read()`, whose reads go through
   * {@linkcode Transport.readNow} whenever nothing else reads the socket.
   */
  readsNow?(): boolean;
  /**
   * The transport's wait saw the kernel report an error on the socket. If the kernel has ended
   * the connection and nothing waits to be read before its error, the connection ends with that
   * error now, without a read (which in Deno costs an error object of the runtime's per break),
   * and this returns true; false if a read must tell.
   */
  failedInKernel?(): boolean;
}

/**
 * Told how a write goes: one object per connection, passed to every
 * {@linkcode Transport.write}, so a write in progress costs no closure and no allocation.
 */
export interface WriteProgress {
  /** `n` (> 0) more bytes of the write in progress were handed to the kernel. */
  sent(n: number): void;
}

/** One connected socket, as the core needs it. */
export interface Transport {
  /** Our end. */
  readonly localAddr: SocketAddress;
  /** The peer's end. */
  readonly remoteAddr: SocketAddress;
  /** Likely descriptors of this socket, best first; each is verified before use. */
  hints(): Iterable<Descriptor>;
  /** Every descriptor to search when no hint verifies; absent where none may be tried. */
  scan?(): Iterable<Descriptor>;
  /**
   * True where {@linkcode Transport.hints} gives the descriptor the runtime holds for this
   * socket, read from it when asked, and none once the runtime has closed it (Bun's `fd`): it
   * is then verified by what it is, not by address (see `SocketTarget.named`).
   */
  readonly named?: boolean;
  /**
   * Told which descriptor carries the socket once it is verified, with its addresses as the
   * kernel gave them.
   */
  found?(fd: Descriptor, local: Endpoint, remote: Endpoint): void;
  /**
   * True where the transport waits for readiness rather than keeping a read pending, and may
   * ask {@linkcode TransportSink.failedInKernel} when the wait reports an error.
   */
  readonly waitsForReadiness?: boolean;
  /**
   * Before {@linkcode Transport.start}, when the socket could not be found: whether the kernel
   * has already failed it (a reset right after accept leaves it without a peer address).
   * Resolves with the runtime's error if the socket fails now or within `waitMs`, else with
   * `undefined`; may take bytes from the socket, which is closed next either way.
   */
  failure?(waitMs: number): Promise<unknown>;
  /**
   * For a TLS transport, runs the handshake: called once keepalive is set on the TCP socket and
   * before {@linkcode Transport.start}, so a peer lost mid-handshake is noticed too. Resolves,
   * once the handshake has completed and the peer's certificate verified, with the application
   * protocol ALPN chose (`null`: none); rejects with the runtime's error. Returns `undefined` for
   * a plain TCP transport. A transport closed meanwhile may leave the promise pending.
   */
  handshake?(): Promise<string | null> | undefined;
  /** Starts reading; keeps a read pending until paused, ended, failed or closed. */
  start(sink: TransportSink): void;
  /**
   * The consumer now waits with a buffer of its own ({@linkcode TransportSink.destination}). A
   * transport that waits for readiness rather than keeping a read pending may start reading into
   * it at once, so the reply it waits for does not go through the readiness wait first.
   */
  wanted?(): void;
  /**
   * Reads straight into the consumer's buffer when nothing else reads the socket now: returns
   * the runtime's own read, or `undefined` to say "wait through the sink" (a read or drain is
   * already under way, the transport is paused or keeps a read pending anyway). The caller calls
   * {@linkcode Transport.readSettled} first thing when it settles, before its consumer runs.
   */
  readNow?(into: Uint8Array): Promise<number | null> | undefined;
  /** A read from {@linkcode Transport.readNow} settled. */
  readSettled?(): void;
  /** Stops taking bytes from the kernel (backpressure). */
  pause(): void;
  /** Takes bytes from the kernel again. */
  resume(): void;
  /**
   * Hands all of `bytes` to the kernel; rejects with the runtime's error. Each time the kernel
   * takes part of them, and before the promise settles, the transport calls `progress.sent` with
   * how many bytes it took, so that a large write counts as it goes and one that fails midway
   * has counted what the kernel had already taken. The parts add up to `bytes.byteLength` when
   * the write resolves, and to at most that when it rejects.
   */
  write(bytes: Uint8Array, progress: WriteProgress): Promise<void>;
  /**
   * Where the runtime writes without waiting (Bun): hands as much of `bytes` to the kernel as it
   * takes now, when no write is pending, and returns how many bytes that was (counted through
   * `progress.sent`, as {@linkcode Transport.write}); -1 if it cannot write now (a write pending,
   * the socket closed), for {@linkcode Transport.write} to do, or fail, the usual way.
   */
  tryWrite?(bytes: Uint8Array, progress: WriteProgress): number;
  /** Sends FIN after what was written (half-close); reading goes on. */
  closeWrite(): Promise<void>;
  /**
   * Releases the socket now; a pending read or write ends without reaching the sink. Returns a
   * promise where something the socket held is released a moment later (the shared wait, when
   * this was the last watched socket); the core settles `closed` after it.
   */
  close(): void | Promise<void>;
}

/** Where to connect. */
export interface DialOptions {
  /** Host name or literal address; default `"127.0.0.1"`. */
  hostname: string;
  /** TCP port. */
  port: number;
  /** TLS to run over the TCP connection once it is made, if any. */
  tls?: ClientTls;
}

/** A listening socket, as a runtime adapter provides it. */
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

/** Where to listen. */
export interface BindOptions {
  /** Address to bind. */
  hostname: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** The certificate and key to serve TLS with, if any. */
  tls?: ServerTls;
}

/**
 * How the core ends a dial it no longer wants (see {@linkcode Runtime.dial}): an abort flag and
 * reason, one listener, and a standard `AbortSignal` made only for a runtime connect that must
 * be handed one.
 */
export interface DialSignal {
  /** Whether the dial was aborted. */
  readonly aborted: boolean;
  /** Why, once aborted: what the dial rejects with. */
  readonly reason: unknown;
  /** Sets the one function called on abort (`undefined` clears it). */
  listen(onAbort: (() => void) | undefined): void;
  /** An `AbortSignal` that aborts with this one, for a runtime's own connect. */
  abortSignal(): AbortSignal;
}

/** What a connection needs of its runtime. */
export interface Runtime {
  /** Short name for messages: `"Deno"` or `"Bun"`. */
  readonly name: string;
  /** The OS implementation; throws `ERR_UNSUPPORTED_PLATFORM` where there is none. */
  platform(): Platform;
  /** The FFI, opened on first call; throws `SocketOptionError` if it cannot be. */
  calls(): SocketCalls;
  /**
   * Opens a TCP connection; rejects with the runtime's error (code `ECONNREFUSED`, ...). With
   * `options.tls`, resolves with a transport whose {@linkcode Transport.handshake} runs TLS over
   * it: the dial itself is the TCP connect only. Once
   * `signal` aborts, it settles promptly, and where it can, only after the socket is gone.
   */
  dial(options: DialOptions, signal: DialSignal): Promise<Transport>;
}

/**
 * What a runtime adapter gives the API: the runtime, and how to listen and to describe a socket
 * the program opened itself (of kind `S`) for `setKeepAlive`.
 */
export interface Adapter<S> extends Runtime {
  /** Binds a listening socket; throws the runtime's error (address in use, ...). */
  listen(options: BindOptions): AcceptSource;
  /**
   * Describes `socket` for the lookup of its descriptor; `TypeError` for anything that is not a
   * socket of this runtime, `SocketOptionError` for one that is closed or not connected yet.
   */
  target(socket: S): SocketTarget;
  /** How this runtime's connect functions are watched for {@linkcode ConnectHooks}. */
  connectHooks: ConnectHooks<S>;
}

/** The API that opened a connection, as a default keepalive policy is told. */
export type ConnectionApi =
  | "node:net"
  | "node:tls"
  | "Deno.connect"
  | "Deno.connectTls"
  | "Bun.connect";

/** A new outgoing TCP connection, as a connect hook reports it. */
export interface OpenedSocket<S> {
  /** The socket, as its opener hands it out. */
  socket: S;
  /** Which API opened it. */
  api: ConnectionApi;
  /** The host as the caller asked for it: a name or a literal address. */
  hostname: string;
  /** Whether TLS runs over it. */
  tls: boolean;
}

/**
 * Watches the runtime's connect functions. Installed only while a default keepalive policy is
 * active: nothing is patched before, and everything is put back after.
 */
export interface ConnectHooks<S> {
  /**
   * Patches the connect functions so that `opened` hears of each outgoing TCP connection the
   * program opens (not sockalive's own), as it connects and before its owner's code does.
   * Returns the function that puts every patched function back as it was.
   */
  install(opened: (connection: OpenedSocket<S>) => void): () => void;
}

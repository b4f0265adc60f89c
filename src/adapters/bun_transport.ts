/**
 * {@linkcode BunTransport}: one Bun socket as a {@linkcode Transport}, driven by Bun's event
 * loop through one handler table shared by every connection.
 *
 * @module
 */

import { type Endpoint, ipv4Text, type SocketAddress } from "../address.ts";
import type { Descriptor } from "../../ffi/types.ts";
import type { Transport, TransportSink, WriteProgress } from "../transport.ts";

/**
 * The subset of a Bun TCP `Socket` sockalive uses: one from `Bun.connect` or `Bun.listen`, plain
 * or TLS (`tls: ...`; the descriptor is the TCP socket's either way).
 *
 * @example
 * ```ts ignore
 * // Bun only.
 * import { setKeepAlive } from "@sockalive/sockalive/bun";
 * const socket = await Bun.connect({ hostname: "127.0.0.1", port: 7000, socket: { data() {} } });
 * console.log(socket.fd, setKeepAlive(socket, { idle: 5000, interval: 1000, count: 3 }));
 * ```
 */
export interface BunSocketLike {
  /** The OS descriptor (a SOCKET handle on Windows); -1 once closed. */
  readonly fd: number;
  /** Our address. */
  readonly localAddress?: string;
  /** Our port. */
  readonly localPort: number;
  /** The peer's address. */
  readonly remoteAddress: string;
  /** The peer's port. */
  readonly remotePort: number;
}

/** A Bun socket, as far as sockalive uses it; `data` is its transport. */
export interface BunSocket<T> extends BunSocketLike {
  data: T;
  /** Over TLS: the protocol ALPN chose once the handshake is done; `false` or `null` if none. */
  readonly alpnProtocol?: string | false | null;
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
  end(): void;
  shutdown(halfClose?: boolean): void;
  pause(): unknown;
  resume(): unknown;
}

/** Bun's TLS options, as far as sockalive uses them. */
export interface BunTlsOptions {
  rejectUnauthorized?: boolean;
  serverName?: string;
  ca?: string[];
  cert?: string;
  key?: string;
  /** The ALPN list in its wire form: each name behind its length byte. */
  ALPNProtocols?: Uint8Array;
}

/** What `Bun.connect` and `Bun.listen` take, as far as sockalive uses it. */
export interface BunConnectOptions<T> {
  hostname: string;
  port: number;
  data: T;
  binaryType: "uint8array";
  tls?: BunTlsOptions;
  socket: {
    open?(socket: BunSocket<T>): void;
    data?(socket: BunSocket<T>, chunk: Uint8Array): void;
    drain?(socket: BunSocket<T>): void;
    end?(socket: BunSocket<T>): void;
    close?(socket: BunSocket<T>, error?: Error): void;
    error?(socket: BunSocket<T>, error: Error): void;
    connectError?(socket: BunSocket<T>, error: Error): void;
    handshake?(socket: BunSocket<T>, success: boolean, authorizationError: Error | null): void;
  };
}

interface PendingHandshake {
  readonly promise: Promise<string | null>;
  /** Resolves the promise with `alpn` when `error` is undefined, else rejects it. */
  readonly settle: (error: unknown, alpn?: string | null) => void;
  settled: boolean;
}

interface PendingWrite {
  bytes: Uint8Array;
  offset: number;
  progress: WriteProgress;
  resolve(): void;
  reject(error: unknown): void;
}

/** A connection's two addresses as text, where the kernel's are kept (IPv4). */
interface HostPair {
  readonly local: string | undefined;
  readonly remote: string | undefined;
}

/** Pairs by local text, then remote text: a process's connections share few pairs. */
const HOST_PAIRS = new Map<string | undefined, Map<string | undefined, HostPair>>();
const MAX_HOST_PAIRS = 256;

/** One frozen pair per two addresses (the texts are {@linkcode ipv4Text}'s, shared already). */
function hostPair(local: string | undefined, remote: string | undefined): HostPair {
  let byRemote = HOST_PAIRS.get(local);
  if (byRemote === undefined) {
    if (HOST_PAIRS.size >= MAX_HOST_PAIRS) HOST_PAIRS.clear();
    HOST_PAIRS.set(local, byRemote = new Map());
  }
  let pair = byRemote.get(remote);
  if (pair === undefined) {
    if (byRemote.size >= MAX_HOST_PAIRS) byRemote.clear();
    byRemote.set(remote, pair = Object.freeze({ local, remote }));
  }
  return pair;
}

/** One Bun socket as a {@linkcode Transport}; also the socket's `data`, so handlers are shared. */
export class BunTransport implements Transport {
  // Memory per idle connection is a target (BENCHMARKS.md): 8 fields at most (80 bytes in
  // JavaScriptCore; 9 take 112), and the queues are created only when something waits in them.
  /** The socket, kept once closed: it still answers for the addresses it was asked before. */
  #socket: BunSocket<BunTransport> | undefined;
  /** Where events go: the connection once started, until then an {@linkcode EarlyEvents}. */
  #sink: TransportSink | EarlyEvents | undefined;
  #writes: PendingWrite[] | undefined;
  #state: typeof OPEN | typeof ENDED | typeof CLOSED = OPEN;
  /** Over TLS: the handshake's outcome, settled by Bun's handshake event or the socket's end. */
  #tls: PendingHandshake | undefined;
  // The ports as the kernel gave them when the socket was found (Bun forgets them once the
  // socket closes), local × 65536 + remote, and the two addresses as text for IPv4 (one pair
  // shared by every connection between the same two addresses); IPv6 ones are left to Bun.
  #ports: number | undefined;
  #hosts: HostPair | undefined;

  /** `tls`: the socket runs TLS (its handshake is reported by {@linkcode onHandshake}). */
  constructor(tls = false) {
    if (!tls) return;
    let settle!: PendingHandshake["settle"];
    const promise = new Promise<string | null>((resolve, reject) => {
      settle = (error, alpn) => error === undefined ? resolve(alpn ?? null) : reject(error);
    });
    // The outcome may come before anyone asks (or nobody may: closed first): never unhandled.
    promise.catch(() => {});
    this.#tls = { promise, settle, settled: false };
  }

  handshake(): Promise<string | null> | undefined {
    return this.#tls?.promise;
  }

  /**
   * Bun's handshake event. `success` is Bun's verdict under `rejectUnauthorized: true`: the
   * chain and the name verified (a server that asks for no client certificate reports success,
   * with "no certificate" as `authorizationError`, which then means nothing).
   */
  onHandshake(success: boolean, authorizationError: Error | null, alpn: unknown): void {
    if (success) this.#settleHandshake(undefined, typeof alpn === "string" ? alpn : null);
    else this.#settleHandshake(authorizationError ?? new Error("The TLS handshake failed"));
  }

  #settleHandshake(error: unknown, alpn?: string | null): void {
    const tls = this.#tls;
    if (!tls || tls.settled) return;
    tls.settled = true;
    tls.settle(error, alpn);
  }

  attach(socket: BunSocket<BunTransport>): void {
    this.#socket = socket;
  }

  get localAddr(): SocketAddress {
    const socket = this.#socket, ports = this.#ports;
    return {
      hostname: this.#hosts?.local ?? socket?.localAddress ?? "",
      port: ports === undefined ? socket?.localPort ?? 0 : Math.floor(ports / 65536),
    };
  }

  get remoteAddr(): SocketAddress {
    const socket = this.#socket, ports = this.#ports;
    return {
      hostname: this.#hosts?.remote ?? socket?.remoteAddress ?? "",
      port: ports === undefined ? socket?.remotePort ?? 0 : ports % 65536,
    };
  }

  /** The socket is Bun's, and Bun's `fd` is -1 from its close on: see `Transport.named`. */
  get named(): boolean {
    return true;
  }

  hints(): Iterable<Descriptor> {
    const fd = this.#state === CLOSED ? undefined : this.#socket?.fd;
    return typeof fd === "number" && fd >= 0 ? [fd] : [];
  }

  found(_fd: Descriptor, local: Endpoint, remote: Endpoint): void {
    this.#ports = local.port * 65536 + remote.port;
    const hosts = this.#hosts = hostPair(ipv4Text(local), ipv4Text(remote));
    // Bun answers for its address strings once closed only if they were asked before: an IPv6
    // one is Bun's, asked now (a system call, and a string kept on the socket).
    if (hosts.local === undefined) this.#socket?.localAddress;
    if (hosts.remote === undefined) this.#socket?.remoteAddress;
  }

  start(sink: TransportSink): void {
    const early = this.#sink;
    this.#sink = sink;
    if (early instanceof EarlyEvents) early.replay(sink);
  }

  /** Where an event goes now: the connection, or the queue kept until it starts. */
  #target(): TransportSink | EarlyEvents {
    return this.#sink ??= new EarlyEvents();
  }

  onData(chunk: Uint8Array): void {
    if (this.#state !== OPEN) return;
    this.#target().data(chunk);
  }

  onEnd(): void {
    if (this.#state !== OPEN) return;
    this.#state = ENDED;
    this.#settleHandshake(new Error("The peer closed the connection during the TLS handshake"));
    this.#target().end();
    this.#failWrites(new Error("The peer closed the connection"));
  }

  /** The error the socket failed with before {@linkcode start}, if it did. */
  #failedEarly(): unknown {
    const sink = this.#sink;
    return sink instanceof EarlyEvents ? sink.failed : undefined;
  }

  failure(waitMs: number): Promise<unknown> {
    if (this.#state !== OPEN) return Promise.resolve(this.#failedEarly());
    const early = this.#target();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, waitMs, undefined);
      // Once started, the connection hears of the end itself: only the wait is left.
      if (!(early instanceof EarlyEvents)) return;
      early.whenDone(() => {
        clearTimeout(timer);
        resolve(this.#failedEarly());
      });
    });
  }

  onError(error: unknown): void {
    if (this.#state !== OPEN) return;
    this.#state = ENDED;
    this.#settleHandshake(error);
    this.#target().error(error);
    this.#failWrites(error);
  }

  onClose(error?: Error): void {
    // Bun reports ETIMEDOUT and ECONNRESET through close(socket, error); a close without an
    // error that we did not ask for is the end of the stream.
    if (error) this.onError(error);
    else this.onEnd();
  }

  onDrain(): void {
    this.#flush();
  }

  pause(): void {
    if (this.#state !== CLOSED) this.#socket?.pause();
  }

  resume(): void {
    if (this.#state !== CLOSED) this.#socket?.resume();
  }

  write(bytes: Uint8Array, progress: WriteProgress): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#state !== OPEN || !this.#socket) {
        reject(new Error("The socket is closed"));
        return;
      }
      const writes = this.#writes ??= [];
      writes.push({ bytes, offset: 0, progress, resolve, reject });
      if (writes.length === 1) this.#flush();
    });
  }

  tryWrite(bytes: Uint8Array, progress: WriteProgress): number {
    const socket = this.#socket;
    if (this.#state !== OPEN || !socket || this.#writes?.length) return -1;
    const length = bytes.byteLength;
    const n = length === 0 ? 0 : socket.write(bytes, 0, length);
    if (n > 0) progress.sent(n);
    return n;
  }

  #flush(): void {
    const socket = this.#state === CLOSED ? undefined : this.#socket;
    const writes = this.#writes;
    if (!socket || !writes) return;
    for (let w = writes[0]; w !== undefined; w = writes[0]) {
      const left = w.bytes.byteLength - w.offset;
      const n = left === 0 ? 0 : socket.write(w.bytes, w.offset, left);
      if (n < 0) {
        // Bun has closed the socket, and its close event, which carries the reason (ETIMEDOUT,
        // ECONNRESET), is on its way: the writes fail with that reason, not with a guess (EIO).
        // If no event comes
        // within a second, they fail anyway. That timer is only a safety net, so it is unref'd:
        // once the event has come it would otherwise keep a finished program running for up to
        // a second.
        const timer = setTimeout(() => this.#failWrites(new Error("The socket is closed")), 1000);
        (timer as unknown as { unref(): void }).unref();
        return;
      }
      w.offset += n;
      if (n > 0) w.progress.sent(n);
      if (w.offset < w.bytes.byteLength) return; // the kernel is full: wait for drain
      writes.shift();
      w.resolve();
    }
  }

  #failWrites(error: unknown): void {
    const writes = this.#writes;
    this.#writes = undefined;
    if (writes) { for (const w of writes) w.reject(error); }
  }

  closeWrite(): Promise<void> {
    if (this.#state !== CLOSED) this.#socket?.shutdown();
    return Promise.resolve();
  }

  close(): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#settleHandshake(new Error("The connection was closed during the TLS handshake"));
    this.#failWrites(new Error("The connection was closed locally"));
    this.#socket?.end();
  }
}

const OPEN = 0, ENDED = 1, CLOSED = 2;

/**
 * What happens to a socket before its connection starts (between Bun's open and
 * {@linkcode BunTransport.start}), kept in order to be replayed; and who waits for its end.
 */
class EarlyEvents {
  readonly #events: Array<(sink: TransportSink) => void> = [];
  #waiters: Array<() => void> | undefined;
  /** The error the socket failed with, if it did. */
  failed: unknown;

  data(chunk: Uint8Array): void {
    this.#events.push((sink) => sink.data(chunk));
  }

  end(): void {
    this.#events.push((sink) => sink.end());
    this.#wake();
  }

  error(error: unknown): void {
    this.failed = error;
    this.#events.push((sink) => sink.error(error));
    this.#wake();
  }

  whenDone(wake: () => void): void {
    (this.#waiters ??= []).push(wake);
  }

  replay(sink: TransportSink): void {
    for (const event of this.#events) event(sink);
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = undefined;
    if (waiters) { for (const wake of waiters) wake(); }
  }
}

// One handler table for every connection: per-connection state lives in socket.data.
export const handlers: BunConnectOptions<BunTransport>["socket"] = {
  data: (socket, chunk) => socket.data.onData(chunk),
  drain: (socket) => socket.data.onDrain(),
  end: (socket) => socket.data.onEnd(),
  close: (socket, error) => socket.data.onClose(error),
  error: (socket, error) => socket.data.onError(error),
  // Called for TLS sockets only. With this handler, Bun calls `open` (where the listener makes an
  // accepted socket's transport) at the TCP accept, before the handshake, and leaves verdict
  // and timing to sockalive: keepalive is set first, the connection opens after.
  handshake: (socket, success, error) =>
    socket.data.onHandshake(success, error, socket.alpnProtocol),
};

/** The Bun runtime for the core. */

/**
 * {@linkcode BunTransport}: one Bun socket as a {@linkcode Transport}, driven by Bun's event
 * loop through one handler table shared by every connection.
 *
 * @module
 */

import type { SocketAddress } from "../address.ts";
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
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
  end(): void;
  shutdown(halfClose?: boolean): void;
  pause(): unknown;
  resume(): unknown;
}

/** What `Bun.connect` and `Bun.listen` take, as far as sockalive uses it. */
export interface BunConnectOptions<T> {
  hostname: string;
  port: number;
  data: T;
  binaryType: "uint8array";
  socket: {
    open?(socket: BunSocket<T>): void;
    data?(socket: BunSocket<T>, chunk: Uint8Array): void;
    drain?(socket: BunSocket<T>): void;
    end?(socket: BunSocket<T>): void;
    close?(socket: BunSocket<T>, error?: Error): void;
    error?(socket: BunSocket<T>, error: Error): void;
    connectError?(socket: BunSocket<T>, error: Error): void;
  };
}

interface PendingWrite {
  bytes: Uint8Array;
  offset: number;
  progress: WriteProgress;
  resolve(): void;
  reject(error: unknown): void;
}

/** One Bun socket as a {@linkcode Transport}; also the socket's `data`, so handlers are shared. */
export class BunTransport implements Transport {
  // Memory per idle connection is a target (BENCHMARKS.md): the queues below are created only
  // when something waits in them.
  #socket: BunSocket<BunTransport> | undefined;
  #sink: TransportSink | undefined;
  // Events that arrive between Bun's open and start(): replayed in order.
  #early: Array<(sink: TransportSink) => void> | undefined;
  #writes: PendingWrite[] | undefined;
  #done = false;
  localAddr: SocketAddress = { hostname: "", port: 0 };
  remoteAddr: SocketAddress = { hostname: "", port: 0 };

  attach(socket: BunSocket<BunTransport>): void {
    this.#socket = socket;
    this.localAddr = { hostname: socket.localAddress ?? "", port: socket.localPort };
    this.remoteAddr = { hostname: socket.remoteAddress, port: socket.remotePort };
  }

  hints(): Iterable<Descriptor> {
    const fd = this.#socket?.fd;
    return typeof fd === "number" && fd >= 0 ? [fd] : [];
  }

  start(sink: TransportSink): void {
    this.#sink = sink;
    const early = this.#early;
    this.#early = undefined;
    if (early) { for (const event of early) event(sink); }
  }

  #emit(event: (sink: TransportSink) => void): void {
    if (this.#sink) event(this.#sink);
    else (this.#early ??= []).push(event);
  }

  onData(chunk: Uint8Array): void {
    if (this.#done) return;
    // The common case without a closure per chunk: this runs for every chunk received.
    if (this.#sink) this.#sink.data(chunk);
    else this.#emit((sink) => sink.data(chunk));
  }

  onEnd(): void {
    if (this.#done) return;
    this.#done = true;
    this.#wakeWaiters();
    this.#emit((sink) => sink.end());
    this.#failWrites(new Error("The peer closed the connection"));
  }

  /** The error the socket failed with before {@linkcode start}, if it did. */
  failedEarly: unknown;
  #whenDone: Array<() => void> | undefined;

  #wakeWaiters(): void {
    const waiters = this.#whenDone;
    this.#whenDone = undefined;
    if (waiters) { for (const wake of waiters) wake(); }
  }

  /** Resolves once the socket has ended or failed: with its error, if it failed. */
  ended(): Promise<unknown> {
    if (this.#done) return Promise.resolve(this.failedEarly);
    return new Promise((resolve) => (this.#whenDone ??= []).push(() => resolve(this.failedEarly)));
  }

  failure(waitMs: number): Promise<unknown> {
    if (this.#done) return Promise.resolve(this.failedEarly);
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, waitMs, undefined);
      void this.ended().then((error) => {
        clearTimeout(timer);
        resolve(error);
      });
    });
  }

  onError(error: unknown): void {
    if (this.#done) return;
    this.#done = true;
    if (!this.#sink) this.failedEarly = error;
    this.#wakeWaiters();
    this.#emit((sink) => sink.error(error));
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
    this.#socket?.pause();
  }

  resume(): void {
    this.#socket?.resume();
  }

  write(bytes: Uint8Array, progress: WriteProgress): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#done || !this.#socket) {
        reject(new Error("The socket is closed"));
        return;
      }
      const writes = this.#writes ??= [];
      writes.push({ bytes, offset: 0, progress, resolve, reject });
      if (writes.length === 1) this.#flush();
    });
  }

  #flush(): void {
    const socket = this.#socket;
    const writes = this.#writes;
    while (socket && writes && writes.length > 0) {
      const w = writes[0];
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
    this.#socket?.shutdown();
    return Promise.resolve();
  }

  close(): void {
    if (this.#done && !this.#socket) return;
    this.#done = true;
    this.#failWrites(new Error("The connection was closed locally"));
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.end();
  }
}

// One handler table for every connection: per-connection state lives in socket.data.
export const handlers: BunConnectOptions<BunTransport>["socket"] = {
  data: (socket, chunk) => socket.data.onData(chunk),
  drain: (socket) => socket.data.onDrain(),
  end: (socket) => socket.data.onEnd(),
  close: (socket, error) => socket.data.onClose(error),
  error: (socket, error) => socket.data.onError(error),
};

/** The Bun runtime for the core. */

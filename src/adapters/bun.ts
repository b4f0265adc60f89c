/**
 * The Bun adapter: `Bun.connect` for I/O, `bun:ffi` for socket options. Bun exposes the
 * descriptor (`socket.fd`), which is still verified by its addresses before use.
 *
 * Nothing here refers to `Bun` or `bun:ffi` until called, so Deno can load (and type-check)
 * this file; the types below describe the small part of Bun's API that sockalive uses.
 *
 * @module
 */

import { type BoundPosix, type BoundWinsock, posixCalls, winsockCalls } from "../../ffi/calls.ts";
import {
  bsdErrnoSymbols,
  linuxErrnoSymbols,
  posixSymbols,
  winsockSymbols,
} from "../../ffi/symbols.ts";
import type { SocketAddress } from "../address.ts";
import { SocketOptionError } from "../errors.ts";
import type { Descriptor, SocketCalls } from "../../ffi/types.ts";
import type { Platform } from "../os/platform.ts";
import { platformFor, systemFor } from "../os/systems.ts";
import type { SocketTarget } from "../sockopt.ts";
import { type Dialer, dialUntil } from "../dial.ts";
import type {
  AcceptSource,
  Adapter,
  BindOptions,
  Transport,
  TransportSink,
  WriteProgress,
} from "../transport.ts";

/**
 * The subset of a Bun TCP `Socket` sockalive uses.
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

/**
 * The subset of a `node:net` `Socket` in Bun that sockalive uses.
 *
 * @example
 * ```ts ignore
 * // Bun only.
 * import net from "node:net";
 * import { setKeepAlive } from "@sockalive/sockalive/bun";
 * const socket = net.connect({ host: "127.0.0.1", port: 7000 }, () => {
 *   console.log(setKeepAlive(socket, { idle: 5000, interval: 1000, count: 3 }));
 * });
 * ```
 */
export interface NodeSocketLike {
  /** Bun's native socket behind the node:net wrapper. */
  readonly _handle?: { readonly fd?: number } | null;
  /** Whether a connect is under way (no descriptor yet: Bun's is -1 until then). */
  readonly connecting?: boolean;
  /** Whether the socket has been destroyed (closed, or its connect failed). */
  readonly destroyed?: boolean;
  /** Our address. */
  readonly localAddress?: string;
  /** Our port. */
  readonly localPort?: number;
  /** The peer's address. */
  readonly remoteAddress?: string;
  /** The peer's port. */
  readonly remotePort?: number;
}

interface BunSocket<T> extends BunSocketLike {
  data: T;
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
  end(): void;
  shutdown(halfClose?: boolean): void;
  pause(): unknown;
  resume(): unknown;
}

interface BunConnectOptions<T> {
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

interface BunGlobal {
  connect<T>(options: BunConnectOptions<T>): Promise<BunSocket<T>>;
  listen<T>(
    options: Omit<BunConnectOptions<T>, "data">,
  ): { hostname: string; port: number; stop(closeActive?: boolean): void };
}

interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: readonly string[]; returns: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown> };
  read: { i32(pointer: number, offset?: number): number };
  CString: new (pointer: number, byteOffset?: number) => { toString(): string };
}

function bun(): BunGlobal {
  return (globalThis as unknown as { Bun: BunGlobal }).Bun;
}

/** Deno's FFI type names, as written in ffi/symbols.ts, to bun:ffi's. */
const BUN_TYPES: Readonly<Record<string, string>> = {
  i32: "i32",
  u32: "u32",
  usize: "usize",
  buffer: "ptr",
  pointer: "ptr",
};

let calls: SocketCalls | undefined;

function loadFfi(): BunFfi {
  try {
    // import.meta.require is Bun's synchronous loader; it keeps bun:ffi out of Deno's module graph.
    return (import.meta as unknown as { require(id: string): BunFfi }).require("bun:ffi");
  } catch (error) {
    throw new SocketOptionError(
      `Cannot use socket options: bun:ffi is not available (${(error as Error).message})`,
      { code: "ERR_FFI_UNAVAILABLE", syscall: "dlopen", option: "socket", cause: error },
    );
  }
}

/** Opens `path` with the symbols of ffi/symbols.ts, their types translated to bun:ffi's. */
function dlopen(
  ffi: BunFfi,
  path: string,
  symbols: Record<string, { parameters: readonly string[]; result: string }>,
): Record<string, (...args: unknown[]) => unknown> {
  const table: Record<string, { args: string[]; returns: string }> = {};
  for (const [name, def] of Object.entries(symbols)) {
    table[name] = { args: def.parameters.map((t) => BUN_TYPES[t]), returns: BUN_TYPES[def.result] };
  }
  try {
    return ffi.dlopen(path, table).symbols;
  } catch (error) {
    throw new SocketOptionError(
      `Cannot use socket options: could not open ${path}: ${(error as Error).message}`,
      { code: "ERR_FFI_UNAVAILABLE", syscall: "dlopen", option: "socket", cause: error },
    );
  }
}

/** The socket calls through `bun:ffi`: libc or ws2_32.dll, opened once on first use. */
export function bunCalls(): SocketCalls {
  if (calls) return calls;
  const os = (globalThis as unknown as { process: { platform: string } }).process.platform;
  const { library } = systemFor(os);
  const ffi = loadFfi();
  if (library.kind === "winsock") {
    calls = winsockCalls(dlopen(ffi, library.path, winsockSymbols) as unknown as BoundWinsock);
    return calls;
  }
  const errnoSymbols = library.errnoSymbol === "__error" ? bsdErrnoSymbols : linuxErrnoSymbols;
  const c = dlopen(ffi, library.path, { ...posixSymbols, ...errnoSymbols });
  const bound = { ...c, errnoLocation: c[library.errnoSymbol] } as unknown as BoundPosix<
    number | null
  >;
  calls = posixCalls<number | null>(bound, {
    i32: (pointer) => ffi.read.i32(pointer, 0),
    cstring: (pointer, offset) => new ffi.CString(pointer, offset).toString(),
  }, library);
  return calls;
}

function platform(): Platform {
  return platformFor((globalThis as unknown as { process: { platform: string } }).process.platform);
}

interface PendingWrite {
  bytes: Uint8Array;
  offset: number;
  progress: WriteProgress;
  resolve(): void;
  reject(error: unknown): void;
}

/** One Bun socket as a {@linkcode Transport}; also the socket's `data`, so handlers are shared. */
class BunTransport implements Transport {
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

  /** The error the socket failed with before {@linkcode start}, if it did (issue 5). */
  failedEarly: unknown;
  #whenDone: Array<() => void> | undefined;

  #wakeWaiters(): void {
    const waiters = this.#whenDone;
    this.#whenDone = undefined;
    if (waiters) { for (const wake of waiters) wake(); }
  }

  /** Resolves once the socket has ended or failed: with its error, if it failed (issue 5). */
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
        // ECONNRESET), is on its way: the writes fail with that reason, not with a guess (a
        // write racing the event used to break the connection as EIO). If no event comes
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
const handlers: BunConnectOptions<BunTransport>["socket"] = {
  data: (socket, chunk) => socket.data.onData(chunk),
  drain: (socket) => socket.data.onDrain(),
  end: (socket) => socket.data.onEnd(),
  close: (socket, error) => socket.data.onClose(error),
  error: (socket, error) => socket.data.onError(error),
};

/** The Bun runtime for the core. */
export const bunRuntime: Adapter<BunSocketLike | NodeSocketLike> = {
  name: "Bun",
  platform,
  calls: bunCalls,
  listen: (options) => bunListen(options),
  target: targetOf,
  async dial({ hostname, port }, signal) {
    const transport = new BunTransport();
    let calls: SocketCalls | undefined;
    try {
      calls = bunCalls();
    } catch {
      calls = undefined; // no FFI: the connection fails when keepalive is applied
    }
    // Bun cannot cancel a connect: dialUntil ends one that never completes.
    const dialer: Dialer<BunSocket<BunTransport>> = {
      start: () =>
        bun().connect<BunTransport>({
          hostname,
          port,
          data: transport,
          binaryType: "uint8array",
          socket: handlers,
        }),
      release: (socket) => socket.end(),
    };
    const free = calls?.lowestFreeDescriptor();
    const socket = await dialUntil(dialer, { hostname, port }, signal, platform(), calls, free);
    // Issue 5: a peer that resets right after accepting can kill the socket before this point;
    // Bun then has no peer address (getpeername fails) and the lookup crashed on it (broken with
    // code EIO and an internal TypeError). The connect failed: wait for Bun to report how (its
    // close event follows), and fail with that error, e.g. ECONNRESET.
    if (transport.failedEarly === undefined && typeof socket.remoteAddress !== "string") {
      await transport.ended();
    }
    if (transport.failedEarly !== undefined || typeof socket.remoteAddress !== "string") {
      transport.close();
      socket.end();
      throw transport.failedEarly ??
        Object.assign(new Error("The connection ended before it opened"), { code: "ENOTCONN" });
    }
    transport.attach(socket);
    if (signal.aborted) {
      transport.close();
      throw signal.reason;
    }
    return transport;
  },
};

function targetOf(socket: BunSocketLike | NodeSocketLike): SocketTarget {
  if (typeof socket !== "object" || socket === null) {
    throw new TypeError("Cannot find the socket: expected a Bun Socket or a node:net Socket");
  }
  const fd = "fd" in socket && typeof socket.fd === "number"
    ? socket.fd
    : (socket as NodeSocketLike)._handle?.fd;
  const { localAddress, localPort, remoteAddress, remotePort } = socket;
  // A node:net socket has no descriptor before it connects (Bun's handle says -1 while
  // connecting, and there is none before connect() is called), just as after it closes: the two
  // are told apart by `connecting` and `destroyed`, so the caller learns to wait, not to give up.
  if ("_handle" in socket) {
    const node = socket as NodeSocketLike;
    if (node.connecting === true || (!node._handle && node.destroyed !== true)) {
      throw new SocketOptionError(
        "Cannot find the socket: it is not connected yet; call this from the 'connect' event",
        { code: "ERR_SOCKET_NOT_CONNECTED", syscall: "lookup", option: "socket" },
      );
    }
  }
  // Issue 5: only a negative fd means closed (Bun sets -1 and keeps the addresses). An open socket
  // without IP addresses (a Unix socket) was reported as "closed"; it now gets the TypeError below.
  // A destroyed node:net socket has dropped its native handle (`_handle` is null).
  const destroyed = "_handle" in socket && !(socket as NodeSocketLike)._handle;
  if ((typeof fd === "number" && fd < 0) || destroyed) {
    // Bun clears the descriptor once a socket closes.
    throw new SocketOptionError("Cannot find the socket: it is closed", {
      code: "ERR_SOCKET_NOT_FOUND",
      syscall: "lookup",
      option: "socket",
    });
  }
  if (
    typeof fd !== "number" || typeof localAddress !== "string" ||
    typeof remoteAddress !== "string" || typeof localPort !== "number" ||
    typeof remotePort !== "number"
  ) {
    throw new TypeError(
      "Cannot find the socket: expected a connected Bun Socket or node:net Socket " +
        "(with fd, localAddress, localPort, remoteAddress and remotePort)",
    );
  }
  return {
    local: { hostname: localAddress, port: localPort },
    remote: { hostname: remoteAddress, port: remotePort },
    hints: () => (fd >= 0 ? [fd] : []),
  };
}

/** Accepts with `Bun.listen`; each accepted socket gets its transport in `open`. */
function bunListen({ hostname, port }: BindOptions): AcceptSource {
  let onAccepted: ((transport: Transport) => void) | undefined;
  const pending: Transport[] = [];
  const server = bun().listen<BunTransport>({
    hostname,
    port,
    binaryType: "uint8array",
    socket: {
      ...handlers,
      open(socket) {
        // Accepted sockets get their transport here; the shared handlers then route to it.
        const transport = new BunTransport();
        socket.data = transport;
        // A client that reset before it was accepted has no peer address any more: it is gone,
        // and skipped, as Deno's accept skips it.
        if (typeof socket.remoteAddress !== "string") {
          transport.close();
          socket.end();
          return;
        }
        transport.attach(socket);
        if (onAccepted) onAccepted(transport);
        else pending.push(transport);
      },
    },
  });
  const source: AcceptSource = {
    addr: { hostname: server.hostname, port: server.port },
    start(accepted) {
      onAccepted = accepted;
      for (const t of pending.splice(0)) accepted(t);
    },
    close() {
      // Stop accepting; connections already accepted are the caller's to close.
      server.stop(false);
    },
  };
  return source;
}

/**
 * The Bun adapter: `Bun.connect` for I/O, `bun:ffi` for socket options. Bun exposes the
 * descriptor (`socket.fd`), which is still verified by its addresses before use.
 *
 * Nothing here refers to `Bun` or `bun:ffi` until called, so Deno can load (and type-check)
 * this file; the types below describe the small part of Bun's API that sockalive uses.
 *
 * @module
 */

import { DIRENT_NAME_OFFSET, FD_DIRECTORY, LIBC } from "../../ffi/linux.ts";
import { linuxErrnoSymbols, posixSymbols } from "../../ffi/symbols.ts";
import type { SocketAddress } from "../address.ts";
import { type ConnectOptions, LiveConnection } from "../connection.ts";
import { SocketOptionError } from "../errors.ts";
import type { Descriptor, SocketCalls } from "../native.ts";
import type { KeepAliveInfo, KeepAliveOptions } from "../options.ts";
import type { Platform } from "../platform.ts";
import { platformFor } from "../platforms.ts";
import { getKeepAliveOn, setKeepAliveOn, type SocketTarget } from "../sockopt.ts";
import type { Runtime, Transport, TransportSink } from "../transport.ts";

/** The subset of a Bun TCP `Socket` sockalive uses. */
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

/** The subset of a `node:net` `Socket` in Bun that sockalive uses. */
export interface NodeSocketLike {
  /** Bun's native socket behind the node:net wrapper. */
  readonly _handle?: { readonly fd?: number } | null;
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

function loadFfi(): { ffi: BunFfi; c: Record<string, (...args: unknown[]) => unknown> } {
  let ffi: BunFfi;
  try {
    // import.meta.require is Bun's synchronous loader; it keeps bun:ffi out of Deno's module graph.
    ffi = (import.meta as unknown as { require(id: string): BunFfi }).require("bun:ffi");
  } catch (error) {
    throw new SocketOptionError(
      `Cannot use socket options: bun:ffi is not available (${(error as Error).message})`,
      { code: "ERR_FFI_UNAVAILABLE", syscall: "dlopen", option: "socket", cause: error },
    );
  }
  const table: Record<string, { args: string[]; returns: string }> = {};
  for (const [name, def] of Object.entries({ ...posixSymbols, ...linuxErrnoSymbols })) {
    table[name] = {
      args: def.parameters.map((t) => BUN_TYPES[t]),
      returns: BUN_TYPES[def.result],
    };
  }
  try {
    return { ffi, c: ffi.dlopen(LIBC, table).symbols };
  } catch (error) {
    throw new SocketOptionError(
      `Cannot use socket options: could not open ${LIBC}: ${(error as Error).message}`,
      { code: "ERR_FFI_UNAVAILABLE", syscall: "dlopen", option: "socket", cause: error },
    );
  }
}

/** The socket calls through `bun:ffi`, opened once on first use. */
export function bunCalls(): SocketCalls {
  if (calls) return calls;
  const { ffi, c } = loadFfi();
  const errno = () => ffi.read.i32(c.__errno_location() as number, 0);
  const length = new Uint32Array(1);
  const addressCall = (name: "getsockname" | "getpeername", fd: number, out: Uint8Array) => {
    length[0] = out.byteLength;
    return c[name](fd, out, length) === 0 ? length[0] : -errno();
  };
  const pollfd = new Int32Array(2);
  const dir = new TextEncoder().encode(`${FD_DIRECTORY}\0`);
  calls = {
    setsockopt: (fd, level, name, value) =>
      c.setsockopt(fd, level, name, value, value.byteLength) === 0 ? 0 : errno(),
    getsockopt(fd, level, name, value) {
      length[0] = value.byteLength;
      return c.getsockopt(fd, level, name, value, length) === 0 ? length[0] : -errno();
    },
    getsockname: (fd, out) => addressCall("getsockname", fd, out),
    getpeername: (fd, out) => addressCall("getpeername", fd, out),
    poll(fd, events) {
      // struct pollfd { int fd; short events; short revents; }
      pollfd[0] = fd;
      pollfd[1] = events & 0xffff;
      const n = c.poll(pollfd, 1, 0) as number;
      return n < 0 ? -errno() : n === 0 ? 0 : pollfd[1] >>> 16;
    },
    lowestFreeDescriptor() {
      // dup() returns the lowest free number; closing our own duplicate at once frees it again.
      for (const std of [0, 1, 2]) {
        const fd = c.dup(std) as number;
        if (fd >= 0) {
          c.close(fd);
          return fd;
        }
      }
      return undefined;
    },
    listDescriptors() {
      const handle = c.opendir(dir) as number | null;
      if (!handle) return [];
      const out: Descriptor[] = [];
      try {
        for (
          let entry = c.readdir(handle) as number | null;
          entry;
          entry = c.readdir(handle) as number | null
        ) {
          const name = new ffi.CString(entry, DIRENT_NAME_OFFSET).toString();
          if (name !== "." && name !== "..") out.push(Number(name));
        }
      } finally {
        c.closedir(handle);
      }
      return out;
    },
  };
  return calls;
}

function platform(): Platform {
  return platformFor((globalThis as unknown as { process: { platform: string } }).process.platform);
}

interface PendingWrite {
  bytes: Uint8Array;
  offset: number;
  resolve(): void;
  reject(error: unknown): void;
}

/** One Bun socket as a {@linkcode Transport}; also the socket's `data`, so handlers are shared. */
class BunTransport implements Transport {
  #socket: BunSocket<BunTransport> | undefined;
  #sink: TransportSink | undefined;
  // Events that arrive between Bun's open and start(): replayed in order.
  #early: Array<(sink: TransportSink) => void> = [];
  #writes: PendingWrite[] = [];
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
    for (const event of this.#early.splice(0)) event(sink);
  }

  #emit(event: (sink: TransportSink) => void): void {
    if (this.#sink) event(this.#sink);
    else this.#early.push(event);
  }

  onData(chunk: Uint8Array): void {
    if (!this.#done) this.#emit((sink) => sink.data(chunk));
  }

  onEnd(): void {
    if (this.#done) return;
    this.#done = true;
    this.#emit((sink) => sink.end());
    this.#failWrites(new Error("The peer closed the connection"));
  }

  onError(error: unknown): void {
    if (this.#done) return;
    this.#done = true;
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

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#done || !this.#socket) {
        reject(new Error("The socket is closed"));
        return;
      }
      this.#writes.push({ bytes, offset: 0, resolve, reject });
      if (this.#writes.length === 1) this.#flush();
    });
  }

  #flush(): void {
    const socket = this.#socket;
    while (socket && this.#writes.length > 0) {
      const w = this.#writes[0];
      const left = w.bytes.byteLength - w.offset;
      const n = left === 0 ? 0 : socket.write(w.bytes, w.offset, left);
      if (n < 0) {
        this.#failWrites(new Error("The socket is closed"));
        return;
      }
      w.offset += n;
      if (w.offset < w.bytes.byteLength) return; // the kernel is full: wait for drain
      this.#writes.shift();
      w.resolve();
    }
  }

  #failWrites(error: unknown): void {
    for (const w of this.#writes.splice(0)) w.reject(error);
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
export const bunRuntime: Runtime = {
  name: "Bun",
  platform,
  calls: bunCalls,
  async dial({ hostname, port }, signal) {
    const transport = new BunTransport();
    const socket = await bun().connect<BunTransport>({
      hostname,
      port,
      data: transport,
      binaryType: "uint8array",
      socket: handlers,
    });
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
  if (typeof fd === "number" && (fd < 0 || typeof remoteAddress !== "string")) {
    // Bun clears the descriptor and addresses once a socket closes.
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

/**
 * Opens a monitored TCP connection: keepalive is applied before it is reported open.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@sockalive/sockalive/bun";
 * const conn = connect({ hostname: "127.0.0.1", port: 7000, keepAlive: { idle: 1000, interval: 1000, count: 3 } });
 * await conn.opened;
 * console.log(conn.state, conn.keepAlive);
 * ```
 */
export function connect(options: ConnectOptions): LiveConnection {
  return new LiveConnection(bunRuntime, options);
}

/**
 * Sets keepalive on a Bun `Socket` (from `Bun.connect`/`Bun.listen`) or a `node:net` `Socket`;
 * keys left out are not touched. Returns the values read back from the kernel.
 *
 * @example
 * ```ts ignore
 * import { setKeepAlive } from "@sockalive/sockalive/bun";
 * const socket = await Bun.connect({ hostname: "127.0.0.1", port: 7000, socket: { data() {} } });
 * console.log(setKeepAlive(socket, { idle: 5000, interval: 1000, count: 3 }));
 * ```
 */
export function setKeepAlive(
  socket: BunSocketLike | NodeSocketLike,
  options: KeepAliveOptions,
): KeepAliveInfo {
  return setKeepAliveOn(platform(), bunCalls, () => targetOf(socket), options);
}

/**
 * Reads keepalive from the kernel for a Bun `Socket` or `node:net` `Socket`.
 *
 * @example
 * ```ts ignore
 * import { getKeepAlive } from "@sockalive/sockalive/bun";
 * const socket = await Bun.connect({ hostname: "127.0.0.1", port: 7000, socket: { data() {} } });
 * console.log(getKeepAlive(socket).enabled);
 * ```
 */
export function getKeepAlive(socket: BunSocketLike | NodeSocketLike): KeepAliveInfo {
  return getKeepAliveOn(platform(), bunCalls, () => targetOf(socket));
}

/**
 * The Deno adapter: `Deno.connect` for I/O, `Deno.dlopen` for socket options. Deno does not
 * expose a connection's descriptor, so the socket is found by its addresses (see
 * {@linkcode denoHints}).
 *
 * @module
 */

import { libraryFor, posixCalls, winsockCalls } from "../../ffi/calls.ts";
import {
  bsdErrnoSymbols,
  linuxErrnoSymbols,
  posixSymbols,
  winsockSymbols,
} from "../../ffi/symbols.ts";
import type { SocketAddress } from "../address.ts";
import { type ConnectOptions, LiveConnection } from "../connection.ts";
import { SocketOptionError } from "../errors.ts";
import type { Descriptor, SocketCalls } from "../native.ts";
import type { KeepAliveInfo, KeepAliveOptions } from "../options.ts";
import type { Platform } from "../platform.ts";
import { platformFor } from "../platforms.ts";
import { getKeepAliveOn, setKeepAliveOn, type SocketTarget } from "../sockopt.ts";
import type { Runtime, Transport, TransportSink } from "../transport.ts";
import { DescriptorHints } from "../hints.ts";
import { type AcceptSource, type ListenOptions, LiveListener } from "../listener.ts";

let calls: SocketCalls | undefined;

function dlopen<S extends Deno.ForeignLibraryInterface>(
  path: string,
  symbols: S,
): Deno.DynamicLibrary<S> {
  try {
    return Deno.dlopen(path, symbols);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      throw new SocketOptionError(
        `Cannot use socket options: FFI access is not allowed; run Deno with --allow-ffi (or -A)`,
        { code: "ERR_FFI_PERMISSION", syscall: "dlopen", option: "socket", cause: error },
      );
    }
    throw new SocketOptionError(
      `Cannot use socket options: could not open ${path}: ${(error as Error).message}`,
      { code: "ERR_FFI_UNAVAILABLE", syscall: "dlopen", option: "socket", cause: error },
    );
  }
}

/** The socket calls through `Deno.dlopen`: libc or ws2_32.dll, opened once on first use. */
export function denoCalls(): SocketCalls {
  if (calls) return calls;
  const library = libraryFor(Deno.build.os);
  if (!library) return platformFor(Deno.build.os) as never; // throws ERR_UNSUPPORTED_PLATFORM
  if (library.kind === "winsock") {
    const { symbols: w } = dlopen(library.path, winsockSymbols);
    calls = winsockCalls(w);
    return calls;
  }
  const errnoSymbols = library.errnoSymbol === "__error" ? bsdErrnoSymbols : linuxErrnoSymbols;
  const { symbols: c } = dlopen(library.path, { ...posixSymbols, ...errnoSymbols });
  const errnoLocation = "__error" in c
    ? (c as unknown as { __error(): Deno.PointerValue }).__error
    : (c as unknown as { __errno_location(): Deno.PointerValue }).__errno_location;
  calls = posixCalls<Deno.PointerValue>(
    { ...c, errnoLocation },
    {
      i32: (pointer) => new Deno.UnsafePointerView(pointer).getInt32(),
      cstring: (pointer, offset) => Deno.UnsafePointerView.getCString(pointer, offset),
    },
    library,
  );
  return calls;
}

function platform(): Platform {
  return platformFor(Deno.build.os);
}

/**
 * Where Deno's sockets are likely to be. Deno keeps the descriptor private, so sockalive guesses
 * (see {@linkcode DescriptorHints}) and falls back to scanning every open descriptor; either way
 * each candidate is verified by its addresses before anything is set on it.
 */
export const denoHints: DescriptorHints = new DescriptorHints();

/**
 * The lookup side of a target for a Deno connection. `first` is the best guess where there is
 * one (the lowest free descriptor just before the socket was created); `onFound` learns the
 * descriptor.
 */
function denoLookup(
  first?: Descriptor,
  onFound?: (fd: Descriptor) => void,
): Pick<SocketTarget, "hints" | "scan" | "found"> {
  let scanned = false;
  return {
    hints: () => first === undefined ? denoHints.guesses() : [first, ...denoHints.guesses()],
    scan: () => {
      scanned = true;
      return denoCalls().listDescriptors();
    },
    found: (fd) => {
      denoHints.found(fd, scanned);
      onFound?.(fd);
    },
  };
}

function netAddr(addr: Deno.Addr): SocketAddress {
  const a = addr as Deno.NetAddr;
  return { hostname: a.hostname, port: a.port };
}

/**
 * The subset of `Deno.TcpConn` sockalive uses.
 *
 * @example
 * ```ts ignore
 * import type { DenoTcpConnLike } from "@sockalive/sockalive";
 * import { getKeepAlive } from "@sockalive/sockalive/deno";
 * const conn: DenoTcpConnLike = await Deno.connect({ hostname: "127.0.0.1", port: 7000 });
 * console.log(getKeepAlive(conn));
 * ```
 */
export interface DenoTcpConnLike {
  /** Our end. */
  readonly localAddr: Deno.Addr;
  /** The peer's end. */
  readonly remoteAddr: Deno.Addr;
}

function targetOf(conn: DenoTcpConnLike): SocketTarget {
  if (
    typeof conn !== "object" || conn === null || !conn.localAddr || !conn.remoteAddr ||
    conn.localAddr.transport !== "tcp"
  ) {
    throw new TypeError("Cannot find the socket: expected a Deno.TcpConn");
  }
  return {
    local: netAddr(conn.localAddr),
    remote: netAddr(conn.remoteAddr),
    ...denoLookup(),
  };
}

class DenoTransport implements Transport {
  readonly #conn: Deno.TcpConn;
  readonly localAddr: SocketAddress;
  readonly remoteAddr: SocketAddress;
  #paused = false;
  #readSize = MIN_READ_SIZE;
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(conn: Deno.TcpConn, lowestFree?: Descriptor) {
    this.#lookup = denoLookup(lowestFree, (fd) => (this.#fd = fd));
    this.hints = this.#lookup.hints;
    this.scan = this.#lookup.scan;
    this.found = this.#lookup.found;
    this.#conn = conn;
    this.localAddr = netAddr(conn.localAddr);
    this.remoteAddr = netAddr(conn.remoteAddr);
  }

  #fd: Descriptor | undefined;
  readonly #lookup: Pick<SocketTarget, "hints" | "scan" | "found">;
  readonly hints: SocketTarget["hints"];
  readonly scan: SocketTarget["scan"];
  readonly found: SocketTarget["found"];

  start(sink: TransportSink): void {
    void this.#pump(sink);
  }

  async #pump(sink: TransportSink): Promise<void> {
    try {
      while (!this.#closed) {
        if (this.#paused) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          continue;
        }
        // The pending read holds its buffer for as long as the peer is silent, so an idle
        // connection reads into a small one; a read that fills it doubles the next (bulk
        // transfer reaches full size within a few reads), and a small read halves it again.
        const size = this.#readSize;
        const buffer = new Uint8Array(size);
        const n = await this.#conn.read(buffer);
        if (this.#closed) return;
        if (n === null) return sink.end();
        if (n === size) this.#readSize = Math.min(size * 2, MAX_READ_SIZE);
        else if (n < size / 4) this.#readSize = Math.max(size / 2, MIN_READ_SIZE);
        // Small reads are copied so a large buffer is not kept alive by a few bytes.
        sink.data(n < size / 4 ? buffer.slice(0, n) : buffer.subarray(0, n));
      }
    } catch (error) {
      if (!this.#closed) sink.error(error);
    }
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#wake?.();
    this.#wake = undefined;
  }

  async write(bytes: Uint8Array): Promise<void> {
    for (let offset = 0; offset < bytes.byteLength;) {
      offset += await this.#conn.write(bytes.subarray(offset));
    }
  }

  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.resume();
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime.
    }
    // The descriptor is free now; the next socket Deno opens is likely to get it.
    if (this.#fd !== undefined) denoHints.released(this.#fd);
  }
}

const MIN_READ_SIZE = 512;
const MAX_READ_SIZE = 256 * 1024;

/** The Deno runtime for the core. */
export const denoRuntime: Runtime = {
  name: "Deno",
  platform,
  calls: denoCalls,
  async dial({ hostname, port }, signal) {
    // Deno's connect creates the socket at once, taking the lowest free descriptor: note it now
    // as the best guess. Without FFI there is no guess; the error comes when keepalive is applied.
    let lowestFree: Descriptor | undefined;
    try {
      lowestFree = denoCalls().lowestFreeDescriptor();
    } catch {
      lowestFree = undefined;
    }
    const conn = await Deno.connect({ hostname, port, signal });
    return new DenoTransport(conn, lowestFree);
  },
};

/**
 * Opens a monitored TCP connection: keepalive is applied before it is reported open.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@sockalive/sockalive/deno";
 * const conn = connect({ hostname: "127.0.0.1", port: 7000, keepAlive: { idle: 1000, interval: 1000, count: 3 } });
 * await conn.opened;
 * console.log(conn.state, conn.keepAlive);
 * console.log(await conn.closed);
 * ```
 */
export function connect(options: ConnectOptions): LiveConnection {
  return new LiveConnection(denoRuntime, options);
}

/**
 * Sets keepalive on a `Deno.TcpConn` you opened yourself; keys left out are not touched. Returns
 * the values read back from the kernel.
 *
 * @example
 * ```ts ignore
 * import { setKeepAlive } from "@sockalive/sockalive/deno";
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 7000 });
 * console.log(setKeepAlive(conn, { idle: 5000, interval: 1000, count: 3 }));
 * ```
 */
export function setKeepAlive(conn: DenoTcpConnLike, options: KeepAliveOptions): KeepAliveInfo {
  return setKeepAliveOn(platform(), denoCalls, () => targetOf(conn), options);
}

/**
 * Reads keepalive from the kernel for a `Deno.TcpConn`.
 *
 * @example
 * ```ts ignore
 * import { getKeepAlive } from "@sockalive/sockalive/deno";
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 7000 });
 * console.log(getKeepAlive(conn).enabled);
 * ```
 */
export function getKeepAlive(conn: DenoTcpConnLike): KeepAliveInfo {
  return getKeepAliveOn(platform(), denoCalls, () => targetOf(conn));
}

/**
 * Listens for TCP connections; each accepted one is a monitored {@linkcode LiveConnection} with
 * keepalive applied before its first read.
 *
 * @example
 * ```ts ignore
 * import { listen } from "@sockalive/sockalive/deno";
 * const server = listen({ port: 7000, keepAlive: { idle: 1000, interval: 1000, count: 3 } });
 * for await (const conn of server) console.log(conn.state);
 * ```
 */
export function listen(options: ListenOptions): LiveListener {
  const listener = Deno.listen({ hostname: options.hostname ?? "127.0.0.1", port: options.port });
  let closed = false;
  const source: AcceptSource = {
    addr: netAddr(listener.addr),
    start(accepted, failed) {
      void (async () => {
        while (!closed) {
          // The accepted socket takes the lowest free descriptor: note it as the best guess.
          let lowestFree: Descriptor | undefined;
          try {
            lowestFree = denoCalls().lowestFreeDescriptor();
          } catch {
            lowestFree = undefined;
          }
          let conn: Deno.TcpConn;
          try {
            conn = await listener.accept();
          } catch (error) {
            if (!closed) failed(error);
            return;
          }
          accepted(new DenoTransport(conn, lowestFree));
        }
      })();
    },
    close() {
      closed = true;
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    },
  };
  return new LiveListener(denoRuntime, source, options);
}

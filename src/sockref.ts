/**
 * {@linkcode SockRef}: a connection's socket as the kernel knows it, found once and verified
 * before every use, with the options as methods (in the manner of socket2's `SockRef`).
 *
 * @module
 */

import type { Descriptor } from "../ffi/types.ts";
import type { Endpoint } from "./address.ts";
import type { KeepAliveInfo, KeepAliveOptions } from "./options.ts";
import type { ValidKeepAlive } from "./checks.ts";
import {
  applyKeepAlive,
  applyValidKeepAlive,
  descriptorGone,
  endpoints,
  resolveTarget,
  type SocketTarget,
  verify,
} from "./sockopt.ts";
import { type KnownKeepAlive, NOTHING_READ } from "./os/platform.ts";
import type { Runtime, Transport } from "./transport.ts";
import { noHealth, type TcpHealth } from "./health.ts";

/**
 * The socket under one transport. Only the descriptor is kept: the addresses it must carry are
 * the transport's, brought to comparable form again when it is verified (rarely: on a call, or
 * while reading is paused), rather than held by every connection.
 */
export class SockRef {
  readonly #runtime: Runtime;
  readonly #transport: Transport;
  readonly #fd: Descriptor;
  /**
   * Where the transport waits for readiness: the socket's cookie, read once it was verified.
   * It still names the socket once the kernel has ended it, when the peer's address is gone.
   */
  readonly #cookie: number | bigint | undefined;

  private constructor(
    runtime: Runtime,
    transport: Transport,
    fd: Descriptor,
    cookie: bigint | undefined,
  ) {
    this.#runtime = runtime;
    this.#transport = transport;
    this.#fd = fd;
    // A small number, as cookies are (a counter since boot), takes no memory of its own.
    const small = Number(cookie);
    this.#cookie = Number.isSafeInteger(small) ? small : cookie;
  }

  /**
   * Finds the transport's socket (its hints, then a scan) and applies `keepAlive` on it in the
   * same synchronous turn as the lookup verified it; returns the reference and the values read
   * back. Throws `SocketOptionError` (`ERR_SOCKET_NOT_FOUND`, `ERR_SOCKET_AMBIGUOUS`, an errno)
   * or, for a socket without IP addresses, `TypeError`.
   */
  static open(
    runtime: Runtime,
    transport: Transport,
    keepAlive: ValidKeepAlive,
    bestEffort: ReadonlySet<keyof KeepAliveOptions>,
  ): { sock: SockRef; keepAlive: KeepAliveInfo } {
    const calls = runtime.calls();
    const platform = runtime.platform();
    const { fd, read } = resolveTarget(platform, calls, new TransportTarget(transport));
    // Verified just now, and no JS runs in between that could close it.
    const info = applyValidKeepAlive(platform, calls, fd, keepAlive, bestEffort, read);
    const cookie = transport.waitsForReadiness && platform.takeError
      ? platform.cookie(calls, fd)
      : undefined;
    return { sock: new SockRef(runtime, transport, fd, cookie), keepAlive: info };
  }

  /**
   * Once the transport's wait saw the kernel report an error: the errno name of the error the
   * kernel ended the connection with (`"ETIMEDOUT"`, `"ECONNRESET"`, ...), taken without a read,
   * if no byte or FIN waits before it; `undefined` if they do, or if the OS or transport cannot
   * tell this way (a read then tells). The socket is verified by its cookie: the kernel forgets
   * the peer's address of a connection it has ended.
   */
  takeError(): string | undefined {
    const platform = this.#runtime.platform();
    if (this.#cookie === undefined || !platform.takeError) return undefined;
    try {
      const calls = this.#runtime.calls();
      const cookie = platform.cookie(calls, this.#fd);
      if (cookie === undefined || cookie !== BigInt(this.#cookie)) return undefined;
      const errno = platform.takeError(calls, this.#fd);
      return errno === undefined ? undefined : platform.errnoNames[errno] ?? `E${errno}`;
    } catch {
      return undefined;
    }
  }

  /** Validates `options`, then applies them; returns the values read back from the kernel. */
  setKeepAlive(options: KeepAliveOptions): KeepAliveInfo {
    const calls = this.#runtime.calls();
    const platform = this.#runtime.platform();
    return applyKeepAlive(platform, calls, () => ({ fd: this.#fd, read: this.#check() }), options);
  }

  /** Reads the keepalive values in force from the kernel. */
  getKeepAlive(): KeepAliveInfo {
    const read = this.#check();
    return this.#runtime.platform().getKeepAlive(this.#runtime.calls(), this.#fd, read);
  }

  /**
   * The kernel's record of the connection, read in one system call (see
   * {@linkcode TcpHealth}). Throws `SocketOptionError` `ERR_UNSUPPORTED_PLATFORM` where the OS
   * has no such record, or with the errno if the call fails.
   */
  health(): TcpHealth {
    const platform = this.#runtime.platform();
    if (!platform.health) throw noHealth();
    return platform.health(this.#runtime.calls(), this.#verified());
  }

  /**
   * Without reading: whether the peer has sent FIN or the kernel holds an error (or the
   * descriptor no longer carries this socket, which means it is gone).
   */
  ended(): boolean {
    try {
      const calls = this.#runtime.calls();
      const platform = this.#runtime.platform();
      return !this.#carried() || platform.peek(calls, this.#fd) === "ended";
    } catch {
      return true;
    }
  }

  /** The descriptor, verified immediately before use; throws `ERR_SOCKET_NOT_FOUND` if not. */
  #verified(): Descriptor {
    this.#check();
    return this.#fd;
  }

  /**
   * Verifies the descriptor immediately before use: what the check read of its options (the
   * OS's `tcpSocket`); throws `ERR_SOCKET_NOT_FOUND` if it no longer carries this socket.
   */
  #check(): KnownKeepAlive {
    const read = this.#carried();
    if (read) return read;
    throw descriptorGone(this.#fd);
  }

  /**
   * If the descriptor still carries this socket, right now, what the check read of its options:
   * for a named transport (see `Transport.named`), nothing, as the check is whether the runtime
   * still gives the one verified when it was found (no system call); else whether it still has
   * the transport's addresses and is a TCP socket. `undefined` if it does not carry it.
   */
  #carried(): KnownKeepAlive | undefined {
    if (this.#transport.named) {
      for (const fd of this.#transport.hints()) return fd === this.#fd ? NOTHING_READ : undefined;
      return undefined;
    }
    const { local, remote } = this.#endpoints();
    return verify(this.#runtime.platform(), this.#runtime.calls(), this.#fd, local, remote);
  }

  #endpoints() {
    return endpoints({ local: this.#transport.localAddr, remote: this.#transport.remoteAddr });
  }
}

/**
 * A transport as the target of a lookup: one object, no closures (this runs for every open). It
 * has a scan only where the transport has one: a transport without names its descriptor, and
 * nothing else may be tried.
 */
class TransportTarget implements SocketTarget {
  readonly transport: Transport;
  readonly scan?: () => Iterable<Descriptor>;
  constructor(transport: Transport) {
    this.transport = transport;
    if (transport.scan) this.scan = scanTransport;
  }
  get local() {
    return this.transport.localAddr;
  }
  get remote() {
    return this.transport.remoteAddr;
  }
  hints(): Iterable<Descriptor> {
    return this.transport.hints();
  }
  get named(): boolean | undefined {
    return this.transport.named;
  }
  found(fd: Descriptor, local: Endpoint, remote: Endpoint): void {
    this.transport.found?.(fd, local, remote);
  }
}

function scanTransport(this: TransportTarget): Iterable<Descriptor> {
  return this.transport.scan!();
}

/**
 * The public API, defined once over any runtime's {@linkcode Adapter}: each entry point (`mod.ts`,
 * `deno.ts`, `bun.ts`) exports what {@linkcode sockalive} makes of its runtime's adapter.
 *
 * @module
 */

import type { KeepAliveInfo, KeepAliveOptions } from "./options.ts";
import { type ConnectOptions, LiveConnection } from "./connection.ts";
import { checkListenOptions } from "./checks.ts";
import { type ListenOptions, LiveListener } from "./listener.ts";
import { type ConnectFunction, ReconnectingClient, type ReconnectingOptions } from "./reconnect.ts";
import { getHealthOn, getKeepAliveOn, setKeepAliveOn } from "./sockopt.ts";
import type { TcpHealth } from "./health.ts";
import {
  type DefaultKeepAliveOptions,
  type KeepAlivePolicy,
  setDefaultKeepAliveOn,
} from "./policy.ts";
import type { Adapter } from "./transport.ts";

/** What sockalive offers on one runtime; `S` is the kind of socket it can set options on. */
export interface Sockalive<S> {
  /**
   * Opens a monitored TCP connection: keepalive is applied before it is reported open. Every
   * option is checked first (`TypeError` / `RangeError`, nothing touched). See
   * {@linkcode LiveConnection}.
   */
  connect(options: ConnectOptions): LiveConnection;
  /**
   * Listens for TCP connections; each accepted one is a monitored {@linkcode LiveConnection}
   * with keepalive applied before its first read. The options are checked before binding, and
   * so is the FFI that keepalive needs: without it (Deno without `--allow-ffi`) or on an
   * unsupported OS, `listen` throws `SocketOptionError` (`ERR_FFI_PERMISSION`,
   * `ERR_FFI_UNAVAILABLE`, `ERR_UNSUPPORTED_PLATFORM`) and binds nothing. With
   * `keepAlive: false` no FFI is needed.
   */
  listen(options: ListenOptions): LiveListener;
  /**
   * Sets keepalive on a socket the program opened itself; keys left out are not touched. The
   * socket is found and verified before anything is set on it. Returns the values read back
   * from the kernel.
   */
  setKeepAlive(socket: S, options: KeepAliveOptions): KeepAliveInfo;
  /** Reads a socket's keepalive values from the kernel (as {@linkcode Sockalive.setKeepAlive}). */
  getKeepAlive(socket: S): KeepAliveInfo;
  /**
   * Reads the kernel's record of a socket the program opened itself (any socket
   * {@linkcode Sockalive.setKeepAlive} takes), in one system call once the socket is found and
   * verified: round-trip time, bytes unacknowledged, retransmissions, keepalive probes
   * unanswered, time since data last arrived... (see {@linkcode TcpHealth}).
   */
  getHealth(socket: S): TcpHealth;
  /**
   * Keeps one monitored connection to a peer, dialing again with backoff whenever it ends;
   * `connect` (default: {@linkcode Sockalive.connect}) opens each attempt. See
   * {@linkcode ReconnectingClient}.
   */
  reconnecting(options: ReconnectingOptions, connect?: ConnectFunction): ReconnectingClient;
  /**
   * Applies `options` to every outgoing TCP connection the program opens from now on, whoever
   * opens it (`node:net` / `node:tls`, and `Deno.connect` / `Deno.connectTls` or `Bun.connect`),
   * reconnections included, as soon as it connects: through the same path as
   * {@linkcode Sockalive.setKeepAlive}, on the socket found and verified. `policy.match` chooses
   * the connections (default: all); the newest policy that matches applies. A later call of the
   * runtime's own `setKeepAlive` on such a socket (a driver's `socket.setKeepAlive(true, ms)`)
   * runs, and the options are then applied again (`policy.onOverride` is told). Options are
   * checked here as `setKeepAlive` checks them. Nothing is patched until the first call, and
   * everything is put back when the last policy returned is disposed. Connections sockalive
   * opens itself keep their own options.
   */
  setDefaultKeepAlive(options: KeepAliveOptions, policy?: DefaultKeepAliveOptions): KeepAlivePolicy;
}

/** The API over a runtime's adapter. */
export function sockalive<S>(runtime: Adapter<S>): Sockalive<S> {
  const connect = (options: ConnectOptions) => new LiveConnection(runtime, options);
  const targetOf = (socket: S) => runtime.target(socket);
  return {
    connect,
    listen(options) {
      // Checked before binding: a bad option must not leave the port taken.
      const checked = checkListenOptions(options, runtime.platform().limits);
      // A server that could not set keepalive would hand out every client broken, and the
      // clients would be dropped in silence: the missing FFI is the caller's error, here.
      if (checked.accepted.keepAlive.enabled) runtime.calls();
      return new LiveListener(runtime, runtime.listen(checked), checked);
    },
    setKeepAlive: (socket, options) =>
      setKeepAliveOn(runtime.platform(), runtime.calls, targetOf, socket, options),
    getKeepAlive: (socket) => getKeepAliveOn(runtime.platform(), runtime.calls, targetOf, socket),
    getHealth: (socket) => getHealthOn(runtime.platform(), runtime.calls, targetOf, socket),
    reconnecting: (options, connectFn = connect) => new ReconnectingClient(options, connectFn),
    setDefaultKeepAlive: (options, policy) => setDefaultKeepAliveOn(runtime, options, policy),
  };
}

/**
 * The Deno adapter: `Deno.connect` for I/O (`Deno.startTls` over it, `Deno.listenTls` to serve
 * TLS), `Deno.dlopen` for socket options. Deno does not expose a connection's descriptor, so a
 * socket (a `Deno.TcpConn`, a `Deno.TlsConn`, or a `node:net` / `node:tls` socket of Deno's Node
 * compatibility) is found by its addresses (see
 * {@linkcode denoHints}).
 *
 * @module
 */

import type { Descriptor, SocketCalls } from "../../ffi/types.ts";
import type { SocketAddress } from "../address.ts";
import type { SocketTarget } from "../sockopt.ts";
import {
  describeValue,
  isNodeSocket,
  nodeSocketAddresses,
  type NodeSocketLike,
  notASocket,
} from "../sockets.ts";
import type { AcceptSource, Adapter, BindOptions } from "../transport.ts";
import { type Dialer, dialUntil } from "../dial.ts";
import { errorCode } from "../errors.ts";
import { denoCalls, denoHints, platform } from "./deno_ffi.ts";
import { ACCEPTED_TLS, DenoTransport, netAddr } from "./deno_transport.ts";
import { denoConnectHooks } from "./deno_hooks.ts";
import { ownDial } from "./hooks.ts";
// Deno's API through declarations of its own, so that projects without Deno's types check this.
import * as Deno from "./deno_api.ts";

export { denoCalls, denoHints, useReadinessMonitor, watchedConnections } from "./deno_ffi.ts";
export type { NodeSocketLike } from "../sockets.ts";

/**
 * A socket the caller opened, as the target of a lookup: its addresses, and the descriptors to
 * try (guesses, then every one). One object per call, no closures: this runs for every apply.
 */
class HeldTarget implements SocketTarget {
  readonly local: SocketAddress;
  readonly remote: SocketAddress;
  #scanned = false;
  constructor(local: SocketAddress, remote: SocketAddress) {
    this.local = local;
    this.remote = remote;
  }
  hints(): Iterable<Descriptor> {
    return denoHints.guesses();
  }
  scan(): Iterable<Descriptor> {
    this.#scanned = true;
    return denoCalls().listDescriptors();
  }
  found(fd: Descriptor): void {
    denoHints.found(fd, this.#scanned);
  }
}

/**
 * The subset of a `Deno.TcpConn` or `Deno.TlsConn` sockalive uses: its two addresses (a
 * `Deno.TlsConn`'s are those of the TCP connection under it, whether it came from
 * `Deno.connectTls`, `Deno.listenTls` or `Deno.startTls`). Deno hides the descriptor, so the
 * socket is found by these addresses, and verified, before anything is set on it.
 *
 * @example
 * ```ts ignore
 * import type { DenoTcpConnLike } from "@sockalive/sockalive";
 * import { getKeepAlive } from "@sockalive/sockalive/deno";
 * const conn: DenoTcpConnLike = await Deno.connectTls({ hostname: "example.com", port: 443 });
 * console.log(getKeepAlive(conn));
 * ```
 */
export interface DenoTcpConnLike {
  /** Our end: a `Deno.Addr`, of which a TCP address has a hostname and a port. */
  readonly localAddr: {
    readonly transport?: string;
    readonly hostname?: string;
    readonly port?: number;
  };
  /** The peer's end, as {@linkcode DenoTcpConnLike.localAddr}. */
  readonly remoteAddr: {
    readonly transport?: string;
    readonly hostname?: string;
    readonly port?: number;
  };
}

/**
 * A socket the program holds that sockalive can set options on in Deno: a `Deno.TcpConn`, a
 * `Deno.TlsConn`, a `node:net` `Socket` or a `node:tls` `TLSSocket`.
 */
export type DenoHeldSocket = DenoTcpConnLike | NodeSocketLike;

const EXPECTED = "a Deno.TcpConn, a Deno.TlsConn, a node:net Socket or a node:tls TLSSocket";

/**
 * An IP address of a `Deno.Conn` whose transport was checked (a connection's two addresses
 * share one). Each property is read once: Deno's address objects have no prototype, and every
 * read of one is a dictionary lookup (~0.4 µs on a connection just opened).
 */
function ipAddress(addr: unknown): SocketAddress | undefined {
  if (typeof addr !== "object" || addr === null) return undefined;
  const { hostname, port } = addr as { hostname?: unknown; port?: unknown };
  return typeof hostname === "string" && typeof port === "number" ? { hostname, port } : undefined;
}

/** A `Deno.Conn` address's transport: `"tcp"`, `"unix"`, ...; `Deno.startTls` gives none. */
function transportOf(addr: unknown): unknown {
  return typeof addr === "object" && addr !== null
    ? (addr as { transport?: unknown }).transport
    : undefined;
}

function targetOf(socket: DenoHeldSocket): SocketTarget {
  if (typeof socket === "object" && socket !== null) {
    // node:net and node:tls sockets (every npm driver's) have addresses, no descriptor, in Deno.
    if (isNodeSocket(socket)) {
      const { local, remote } = nodeSocketAddresses(socket, EXPECTED);
      return new HeldTarget(local, remote);
    }
    if ("localAddr" in socket && "remoteAddr" in socket) {
      const localAddr = socket.localAddr;
      const transport = transportOf(localAddr);
      if (transport === undefined || transport === "tcp") {
        const local = ipAddress(localAddr);
        const remote = ipAddress(socket.remoteAddr);
        if (local && remote) return new HeldTarget(local, remote);
      }
      throw notASocket(
        EXPECTED,
        socket,
        typeof transport === "string"
          ? `${describeValue(socket)} (transport "${transport}", not TCP)`
          : undefined,
      );
    }
  }
  throw notASocket(EXPECTED, socket);
}

/**
 * Deno's connect reads the new socket's addresses once connected; a peer that resets in between
 * leaves none (getpeername: ENOTCONN), and the connect rejects with that. The kernel's reason,
 * which Deno does not pass on, is the reset: reported as ECONNRESET, the original kept as cause.
 */
function lostAsItOpened(error: unknown): never {
  if (errorCode(error) !== "ENOTCONN") throw error;
  const reset = new Error("The peer reset the connection as it opened", { cause: error });
  throw Object.assign(reset, { code: "ECONNRESET" });
}

function denoDialer(hostname: string, port: number): Dialer<Deno.TcpConn> {
  return {
    // Marked as sockalive's own: a default keepalive policy leaves it to its own options.
    start: (signal) => ownDial(() => Deno.connect({ hostname, port, signal })),
    release: (conn) => conn.close(),
  };
}

/** The Deno runtime for the core. */
export const denoRuntime: Adapter<DenoHeldSocket> = {
  name: "Deno",
  platform,
  calls: denoCalls,
  listen: (options) => denoListen(options),
  target: targetOf,
  connectHooks: denoConnectHooks,
  dial({ hostname, port, tls }, signal) {
    // Deno's connect creates the socket at once, taking the lowest free descriptor: note it now
    // as the best guess. Without FFI there is no guess; the error comes when keepalive is applied.
    let calls: SocketCalls | undefined;
    try {
      calls = denoCalls();
    } catch {
      calls = undefined;
    }
    const lowestFree = calls?.lowestFreeDescriptor();
    // A callback rather than an async function: less is kept per connection while it connects.
    return dialUntil(
      denoDialer(hostname, port),
      { hostname, port },
      signal,
      platform(),
      calls,
      lowestFree,
    ).then((conn) => new DenoTransport(conn, lowestFree, tls), lostAsItOpened);
  },
};

/**
 * Accepts with `Deno.listen` (`Deno.listenTls` for TLS: each accepted `TlsConn` runs its
 * handshake in its own connection, not here, so a slow client holds up no other); a failed
 * accept waits as the listener says, then goes on.
 */
function denoListen({ hostname, port, tls }: BindOptions): AcceptSource {
  const listener: Deno.Listener<Deno.TcpConn | Deno.TlsConn> = tls
    ? Deno.listenTls({
      hostname,
      port,
      cert: tls.cert,
      key: tls.key,
      alpnProtocols: tls.alpnProtocols.length > 0 ? [...tls.alpnProtocols] : undefined,
    })
    : Deno.listen({ hostname, port });
  let closed = false;
  let wake: (() => void) | undefined;
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
          let conn: Deno.TcpConn | Deno.TlsConn;
          try {
            conn = await listener.accept();
          } catch (error) {
            if (closed) return;
            const delay = failed(error);
            if (delay > 0) {
              await new Promise<void>((resolve) => {
                const timer = setTimeout(resolve, delay);
                wake = () => {
                  clearTimeout(timer);
                  resolve();
                };
              });
              wake = undefined;
            }
            continue;
          }
          accepted(new DenoTransport(conn, lowestFree, tls && ACCEPTED_TLS));
        }
      })();
    },
    close() {
      closed = true;
      wake?.(); // a pause after a failed accept ends now, leaving no timer behind
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    },
  };
  return source;
}

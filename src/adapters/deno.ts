/**
 * The Deno adapter: `Deno.connect` for I/O (`Deno.startTls` over it, `Deno.listenTls` to serve
 * TLS), `Deno.dlopen` for socket options. Deno does not
 * expose a connection's descriptor, so the socket is found by its addresses (see
 * {@linkcode denoHints}).
 *
 * @module
 */

import type { Descriptor, SocketCalls } from "../../ffi/types.ts";
import type { SocketTarget } from "../sockopt.ts";
import type { AcceptSource, Adapter, BindOptions } from "../transport.ts";
import { type Dialer, dialUntil } from "../dial.ts";
import { denoCalls, denoHints, platform } from "./deno_ffi.ts";
import { ACCEPTED_TLS, DenoTransport, netAddr } from "./deno_transport.ts";

export { denoCalls, denoHints, useReadinessMonitor, watchedConnections } from "./deno_ffi.ts";

/** The lookup side of a target for a `Deno.TcpConn` the caller opened (no guess of its own). */
function denoLookup(): Pick<SocketTarget, "hints" | "scan" | "found"> {
  let scanned = false;
  return {
    hints: () => denoHints.guesses(),
    scan: () => {
      scanned = true;
      return denoCalls().listDescriptors();
    },
    found: (fd) => denoHints.found(fd, scanned),
  };
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

function denoDialer(hostname: string, port: number): Dialer<Deno.TcpConn> {
  return {
    start: (signal) => Deno.connect({ hostname, port, signal }),
    release: (conn) => conn.close(),
  };
}

/** The Deno runtime for the core. */
export const denoRuntime: Adapter<DenoTcpConnLike> = {
  name: "Deno",
  platform,
  calls: denoCalls,
  listen: (options) => denoListen(options),
  target: targetOf,
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
    ).then((conn) => new DenoTransport(conn, lowestFree, tls));
  },
};

/**
 * Accepts with `Deno.listen` (`Deno.listenTls` for TLS: each accepted `TlsConn` runs its
 * handshake in its own connection, not here, so a slow client holds up no other); a failed
 * accept waits as the listener says, then goes on.
 */
function denoListen({ hostname, port, tls }: BindOptions): AcceptSource {
  const listener: Deno.Listener<Deno.TcpConn | Deno.TlsConn, Deno.NetAddr> = tls
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

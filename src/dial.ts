/**
 * {@linkcode dialUntil}: a runtime's connect that an abort ends for good, leaving no socket.
 *
 * @module
 */

import { toEndpoint } from "./address.ts";
import type { Descriptor, SocketCalls } from "../ffi/types.ts";
import type { Platform } from "./os/platform.ts";
import { noteConnecting, stillConnecting } from "./sockopt.ts";
import type { DialOptions, DialSignal } from "./transport.ts";

/** How an adapter starts its runtime's connect, and lets go of one it no longer wants. */
export interface Dialer<T> {
  /**
   * Starts the connect. For a literal address both runtimes make the socket inside this call, at
   * the lowest free descriptor. `signal` is given only where sockalive cannot end the connect
   * itself: the runtime should then honour it.
   */
  start(signal: AbortSignal | undefined): Promise<T>;
  /** Closes a connection that completed after it was abandoned. */
  release(connection: T): void;
}

/**
 * Connects with `dialer`, ended by `signal`. Where the OS tells a connecting socket's peer
 * (Linux: `SO_PEERNAME`), the socket made for a literal address is noted right after the call:
 * the descriptor `free` just before, and the local address the connect bound it to. On abort it
 * is verified (a stream socket connecting to this very address from that local address) and
 * shut down (not closed: the runtime owns it), so the runtime's connect fails and closes it; the
 * promise settles only then, and nothing of the attempt is left. A runtime's own cancelling is
 * avoided where this works: Deno's, aborted as the connect completes, drops the new connection
 * without closing it.
 *
 * Elsewhere (a host name, for which the runtime makes its sockets later; another OS; no FFI)
 * the runtime gets `signal`'s `AbortSignal`, the promise rejects at once on abort, and a
 * connection that still completes is released.
 */
export function dialUntil<T>(
  dialer: Dialer<T>,
  where: DialOptions,
  signal: DialSignal,
  platform: Platform,
  calls: SocketCalls | undefined,
  free: Descriptor | undefined,
): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  const remote = platform.connectingPeer && calls && free !== undefined
    ? toEndpoint(where)
    : undefined;
  const connecting = dialer.start(remote ? undefined : signal.abortSignal());
  const target = remote && noteConnecting(platform, calls!, free!, remote);
  return new Promise((resolve, reject) => {
    let abandoned = false;
    const onAbort = () => {
      // Checked again first: once the connect has ended, the runtime may have closed the
      // descriptor, and the number may carry another socket by now.
      if (
        target && stillConnecting(platform, calls!, target) && calls!.shutdown?.(target.fd) === 0
      ) {
        return; // the runtime now fails the connect, after closing the socket
      }
      abandoned = true;
      reject(signal.reason);
    };
    signal.listen(onAbort);
    connecting.then((connection) => {
      signal.listen(undefined);
      if (abandoned) dialer.release(connection);
      else if (signal.aborted) {
        // The connect completed as the abort came: the connection is ours to close.
        dialer.release(connection);
        reject(signal.reason);
      } else resolve(connection);
    }, (error) => {
      signal.listen(undefined);
      reject(signal.aborted ? signal.reason : error);
    });
  });
}

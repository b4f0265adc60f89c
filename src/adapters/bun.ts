/**
 * The Bun adapter: `Bun.connect` for I/O (with its `tls` option for TLS), `bun:ffi` for socket
 * options. Bun exposes the
 * descriptor (`socket.fd`), which is still verified by its addresses before use.
 *
 * Nothing here refers to `Bun` or `bun:ffi` until called, so Deno can load (and type-check)
 * this file; the types below describe the small part of Bun's API that sockalive uses.
 *
 * @module
 */

import { SocketOptionError } from "../errors.ts";
import type { ClientTls, ServerTls } from "../checks.ts";
import type { SocketCalls } from "../../ffi/types.ts";
import type { SocketTarget } from "../sockopt.ts";
import { type Dialer, dialUntil } from "../dial.ts";
import type { AcceptSource, Adapter, BindOptions, Transport } from "../transport.ts";
import { bunCalls, platform } from "./bun_ffi.ts";
import {
  type BunConnectOptions,
  type BunSocket,
  type BunSocketLike,
  type BunTlsOptions,
  BunTransport,
  handlers,
} from "./bun_transport.ts";

export type { BunSocketLike } from "./bun_transport.ts";

export { bunCalls } from "./bun_ffi.ts";

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

interface BunGlobal {
  connect<T>(options: BunConnectOptions<T>): Promise<BunSocket<T>>;
  listen<T>(
    options: Omit<BunConnectOptions<T>, "data">,
  ): { hostname: string; port: number; stop(closeActive?: boolean): void };
}

function bun(): BunGlobal {
  return (globalThis as unknown as { Bun: BunGlobal }).Bun;
}

/** The Bun runtime for the core. */
export const bunRuntime: Adapter<BunSocketLike | NodeSocketLike> = {
  name: "Bun",
  platform,
  calls: bunCalls,
  listen: (options) => bunListen(options),
  target: targetOf,
  async dial({ hostname, port, tls }, signal) {
    const transport = new BunTransport(tls !== undefined);
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
          ...(tls ? { tls: clientTls(tls, hostname) } : {}),
          socket: handlers,
        }),
      release: (socket) => socket.end(),
    };
    const free = calls?.lowestFreeDescriptor();
    const socket = await dialUntil(dialer, { hostname, port }, signal, platform(), calls, free);
    // A peer that resets right after accepting can kill the socket before this point: Bun then
    // has no peer address, and nothing could be looked up. The connect failed: wait for Bun to
    // report how (its close event follows), and fail with that error, e.g. ECONNRESET.
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
  // Only a negative fd means closed (Bun sets -1 and keeps the addresses); an open socket without
  // IP addresses (a Unix socket) gets the TypeError below. A destroyed node:net socket has dropped
  // its native handle (`_handle` is null).
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

/**
 * Bun's TLS options for a client. `rejectUnauthorized` is always set: Bun's default follows
 * `$NODE_TLS_REJECT_UNAUTHORIZED`, and an environment variable must not turn verification off.
 * Bun's `ca` replaces its default roots where Deno's `caCerts` adds to them: the roots are passed
 * along, so `caCerts` means the same in both runtimes.
 */
function clientTls(tls: ClientTls, hostname: string): BunTlsOptions {
  const options: BunTlsOptions = { rejectUnauthorized: true };
  // Bun verifies for the host dialed by default; a name is sent (SNI) only when it is another.
  if (tls.serverName !== hostname) options.serverName = tls.serverName;
  if (tls.caCerts.length > 0) options.ca = [...defaultRoots(), ...tls.caCerts];
  if (tls.alpnProtocols.length > 0) options.ALPNProtocols = alpnWire(tls.alpnProtocols);
  return options;
}

function serverTls(tls: ServerTls): BunTlsOptions {
  const options: BunTlsOptions = { cert: tls.cert, key: tls.key };
  if (tls.alpnProtocols.length > 0) options.ALPNProtocols = alpnWire(tls.alpnProtocols);
  return options;
}

/** The ALPN list as Bun takes it: each name's UTF-8 bytes behind their length (RFC 7301). */
function alpnWire(protocols: readonly string[]): Uint8Array {
  const names = protocols.map((p) => new TextEncoder().encode(p));
  const wire = new Uint8Array(names.reduce((n, name) => n + 1 + name.byteLength, 0));
  let offset = 0;
  for (const name of names) {
    wire[offset] = name.byteLength;
    wire.set(name, offset + 1);
    offset += 1 + name.byteLength;
  }
  return wire;
}

let roots: readonly string[] | undefined;

/** Bun's default roots (node:tls `rootCertificates`), loaded on first use. */
function defaultRoots(): readonly string[] {
  // import.meta.require is Bun's synchronous loader: node:tls stays out of Deno's module graph.
  return roots ??= (import.meta as unknown as {
    require(id: string): { rootCertificates: readonly string[] };
  }).require("node:tls").rootCertificates;
}

/**
 * Accepts with `Bun.listen`; each accepted socket gets its transport in `open`, which for TLS is
 * the TCP accept: the handshake follows in the connection (see `handlers.handshake`).
 */
function bunListen({ hostname, port, tls }: BindOptions): AcceptSource {
  let onAccepted: ((transport: Transport) => void) | undefined;
  const pending: Transport[] = [];
  const server = bun().listen<BunTransport>({
    hostname,
    port,
    binaryType: "uint8array",
    ...(tls ? { tls: serverTls(tls) } : {}),
    socket: {
      ...handlers,
      open(socket) {
        // Accepted sockets get their transport here; the shared handlers then route to it.
        const transport = new BunTransport(tls !== undefined);
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

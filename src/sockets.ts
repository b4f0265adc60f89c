/**
 * Sockets a program holds but did not get from sockalive, described the same way in every
 * runtime: a `node:net` `Socket` (a `node:tls` `TLSSocket` is one, so every npm database, cache
 * and broker driver's socket is one), and, for anything that is not a socket, what it is, so
 * the `TypeError` can say what was passed.
 *
 * @module
 */

import type { SocketAddress } from "./address.ts";
import { SocketOptionError } from "./errors.ts";

/**
 * The subset of a `node:net` `Socket` (or `node:tls` `TLSSocket`) sockalive uses, in Deno and
 * in Bun. A `net.Socket` or `tls.TLSSocket` is one as typed: no cast is needed.
 *
 * In Bun its descriptor (`_handle.fd`, Bun's own) is used once verified by address; in Deno,
 * which hides descriptors, the socket is found by its addresses. Either way it must be connected:
 * `ERR_SOCKET_NOT_CONNECTED` before its `'connect'` event, `ERR_SOCKET_NOT_FOUND` once destroyed.
 *
 * @example
 * ```ts ignore
 * import net from "node:net";
 * import { setKeepAlive } from "@sockalive/sockalive";
 * const socket = net.connect({ host: "127.0.0.1", port: 7000 }, () => {
 *   console.log(setKeepAlive(socket, { idle: 5000, interval: 1000, count: 3 }));
 * });
 * ```
 */
export interface NodeSocketLike {
  /** Whether a connect is under way. */
  readonly connecting: boolean;
  /** Whether the socket has been destroyed (closed, or its connect failed). */
  readonly destroyed: boolean;
  /** Whether it is not connected yet: connecting, or `connect()` not called. */
  readonly pending?: boolean;
  /** Our address. */
  readonly localAddress?: string;
  /** Our port. */
  readonly localPort?: number;
  /** The peer's address. */
  readonly remoteAddress?: string;
  /** The peer's port. */
  readonly remotePort?: number;
}

/**
 * Both ends of a socket that reports them as `localAddress`/`localPort` and
 * `remoteAddress`/`remotePort` (a `node:net` socket, a Bun socket), or `undefined` unless all
 * four are there.
 */
export function ipAddresses(socket: {
  readonly localAddress?: unknown;
  readonly localPort?: unknown;
  readonly remoteAddress?: unknown;
  readonly remotePort?: unknown;
}): { local: SocketAddress; remote: SocketAddress } | undefined {
  const { localAddress, localPort, remoteAddress, remotePort } = socket;
  if (
    typeof localAddress !== "string" || typeof localPort !== "number" ||
    typeof remoteAddress !== "string" || typeof remotePort !== "number"
  ) return undefined;
  return {
    local: { hostname: localAddress, port: localPort },
    remote: { hostname: remoteAddress, port: remotePort },
  };
}

/** Whether `value` has the shape of a `node:net` `Socket` (a `node:tls` `TLSSocket` is one). */
export function isNodeSocket(value: object): value is NodeSocketLike {
  const v = value as { connecting?: unknown; destroyed?: unknown };
  return typeof v.connecting === "boolean" && typeof v.destroyed === "boolean";
}

/**
 * The addresses of a connected `node:net` socket. `SocketOptionError` `ERR_SOCKET_NOT_CONNECTED`
 * if it has not connected yet, `ERR_SOCKET_NOT_FOUND` if it is closed; a `TypeError` (naming
 * `expected`) if it is connected but not over IP (a Unix socket).
 */
export function nodeSocketAddresses(
  socket: NodeSocketLike,
  expected: string,
): { local: SocketAddress; remote: SocketAddress } {
  // Destroyed first: Node's `pending` is also true once the handle is gone.
  if (socket.destroyed) throw socketClosed();
  if (socket.connecting || socket.pending === true) throw notConnected();
  const addresses = ipAddresses(socket);
  if (addresses) return addresses;
  const { remoteAddress, remotePort } = socket;
  // The peer's address is kept after the socket is gone, ours is not (Deno and Bun alike): a
  // socket that knows its peer but not itself has closed underneath, before `destroyed` is set.
  if (typeof remoteAddress === "string" && typeof remotePort === "number") throw socketClosed();
  const kind = socket.constructor?.name === "TLSSocket" ? "node:tls TLSSocket" : "node:net Socket";
  throw notASocket(expected, socket, `a ${kind} with no IP addresses (a Unix socket?)`);
}

/** `ERR_SOCKET_NOT_CONNECTED`: the same error for every kind of socket, in every runtime. */
export function notConnected(): SocketOptionError {
  return new SocketOptionError(
    "Cannot find the socket: it is not connected yet; call this from the 'connect' event",
    { code: "ERR_SOCKET_NOT_CONNECTED", syscall: "lookup", option: "socket" },
  );
}

/** `ERR_SOCKET_NOT_FOUND` for a socket its runtime reports closed. */
export function socketClosed(): SocketOptionError {
  return new SocketOptionError("Cannot find the socket: it is closed", {
    code: "ERR_SOCKET_NOT_FOUND",
    syscall: "lookup",
    option: "socket",
  });
}

/**
 * The `TypeError` for something that is not a socket this runtime can set options on:
 * `Cannot find the socket: expected <expected>; got <what>`, where `what` says what was passed
 * (by default {@linkcode describeValue}'s words for it).
 */
export function notASocket(
  expected: string,
  value: unknown,
  what: string = describeValue(value),
): TypeError {
  return new TypeError(`Cannot find the socket: expected ${expected}; got ${what}`);
}

/**
 * What `value` is, in a few words: `null`, `the number 3`, `a Listener`, `an empty object`,
 * `an object with keys a, b`, `a node:dgram Socket (UDP)`. Never throws.
 */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "undefined":
      return "undefined";
    case "string": {
      const text = value.length > 40 ? `${value.slice(0, 40)}…` : value;
      return `the string ${JSON.stringify(text)}`;
    }
    case "number":
    case "boolean":
    case "bigint":
      return `the ${typeof value} ${String(value)}`;
    case "symbol":
      return "a symbol";
    case "function":
      return value.name ? `a function (${value.name})` : "a function";
  }
  try {
    const v = value as { type?: unknown; constructor?: { name?: unknown } };
    if (Array.isArray(value)) return "an array";
    // node:dgram's Socket shares its class name with node:net's: tell them apart.
    if (v.type === "udp4" || v.type === "udp6") return "a node:dgram Socket (UDP)";
    const name = Object.getPrototypeOf(value) === null ? undefined : v.constructor?.name;
    if (typeof name === "string" && name !== "" && name !== "Object") {
      // "a" before U: a UnixConn, a Uint8Array, a URL.
      return `${/^[AEIO]/.test(name) ? "an" : "a"} ${name}`;
    }
    const keys = Object.keys(value as object);
    if (keys.length === 0) return "an empty object";
    const shown = keys.slice(0, 5).join(", ");
    return `an object with keys ${shown}${keys.length > 5 ? ", …" : ""}`;
  } catch {
    return "an object";
  }
}

/**
 * sockalive: know, quickly and truthfully, whether a long-lived TCP connection is still alive.
 *
 * Sets TCP keepalive's idle time, probe interval and probe count, and the user timeout, per
 * socket (all in milliseconds), by calling `setsockopt` through the runtime's FFI on the
 * runtime's own socket; and runs a state machine (`connecting`, `open`, `closed-gracefully`,
 * `broken`) on top. The same import works in Deno and in Bun: this module picks the adapter;
 * `@sockalive/sockalive/deno` and `@sockalive/sockalive/bun` name one directly.
 *
 * @example Detection budget
 * ```ts
 * import { detectionTime } from "@sockalive/sockalive";
 * console.log(detectionTime({ idle: 1000, interval: 1000, count: 3 })); // 4000
 * ```
 *
 * @example A monitored connection
 * ```ts ignore
 * import { connect } from "@sockalive/sockalive";
 * const conn = connect({ hostname: "198.18.0.2", port: 7000, keepAlive: { idle: 1000, interval: 1000, count: 3, userTimeout: 5000 } });
 * conn.addEventListener("statechange", (e) => console.log(e.from, "->", e.to, e.info?.code));
 * await conn.opened;
 * for await (const chunk of conn.readable) console.log(chunk.byteLength);
 * console.log(await conn.closed);
 * ```
 *
 * @module
 */

import * as bunAdapter from "./src/adapters/bun.ts";
import * as denoAdapter from "./src/adapters/deno.ts";
import type { ConnectOptions, LiveConnection } from "./src/connection.ts";
import type { ListenOptions, LiveListener } from "./src/listener.ts";
import type { KeepAliveInfo, KeepAliveOptions } from "./src/options.ts";

export type { BunSocketLike, NodeSocketLike } from "./src/adapters/bun.ts";
export type { DenoTcpConnLike } from "./src/adapters/deno.ts";
export * from "./src/common.ts";

/**
 * A socket {@linkcode setKeepAlive} accepts: a `Deno.TcpConn`, a Bun `Socket`, or a Bun
 * `node:net` `Socket`.
 *
 * @example
 * ```ts ignore
 * import { type NativeConnection, setKeepAlive } from "@sockalive/sockalive";
 * // A Deno.TcpConn here; in Bun, a Bun `Socket` or a `node:net` `Socket`.
 * const socket: NativeConnection = await Deno.connect({ hostname: "127.0.0.1", port: 7000 });
 * console.log(setKeepAlive(socket, { idle: 5000, interval: 1000, count: 3 }));
 * ```
 */
export type NativeConnection =
  | denoAdapter.DenoTcpConnLike
  | bunAdapter.BunSocketLike
  | bunAdapter.NodeSocketLike;

const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

/**
 * Opens a monitored TCP connection in Deno or Bun; keepalive is applied before it is reported
 * open. See {@linkcode LiveConnection}.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@sockalive/sockalive";
 * const conn = connect({ port: 7000, keepAlive: { idle: 1000, interval: 1000, count: 3 } });
 * await conn.opened;
 * console.log(conn.keepAlive);
 * await conn.close();
 * ```
 */
export function connect(options: ConnectOptions): LiveConnection {
  return isBun ? bunAdapter.connect(options) : denoAdapter.connect(options);
}

/**
 * Listens for TCP connections in Deno or Bun; each accepted one is a monitored
 * {@linkcode LiveConnection}, with keepalive applied before its first read.
 *
 * @example
 * ```ts ignore
 * import { listen } from "@sockalive/sockalive";
 * await using server = listen({ port: 7000, keepAlive: { idle: 1000, interval: 1000, count: 3 } });
 * for await (const conn of server) conn.closed.then((info) => console.log(info.state, info.code));
 * ```
 */
export function listen(options: ListenOptions): LiveListener {
  return isBun ? bunAdapter.listen(options) : denoAdapter.listen(options);
}

/**
 * Sets keepalive on a socket you opened yourself (`Deno.TcpConn` in Deno; Bun `Socket` or
 * `node:net` `Socket` in Bun). Keys left out are not touched. Returns the effective values,
 * read back from the kernel.
 *
 * @example
 * ```ts ignore
 * import { setKeepAlive } from "@sockalive/sockalive";
 * const conn = await Deno.connect({ port: 7000 });
 * console.log(setKeepAlive(conn, { idle: 5000, interval: 1000, count: 3 }));
 * ```
 */
export function setKeepAlive(socket: NativeConnection, options: KeepAliveOptions): KeepAliveInfo {
  return isBun
    ? bunAdapter.setKeepAlive(socket as bunAdapter.BunSocketLike, options)
    : denoAdapter.setKeepAlive(socket as denoAdapter.DenoTcpConnLike, options);
}

/**
 * Reads a socket's keepalive values from the kernel (same shape as {@linkcode setKeepAlive}).
 *
 * @example
 * ```ts ignore
 * import { getKeepAlive } from "@sockalive/sockalive";
 * const conn = await Deno.connect({ port: 7000 });
 * console.log(getKeepAlive(conn));
 * ```
 */
export function getKeepAlive(socket: NativeConnection): KeepAliveInfo {
  return isBun
    ? bunAdapter.getKeepAlive(socket as bunAdapter.BunSocketLike)
    : denoAdapter.getKeepAlive(socket as denoAdapter.DenoTcpConnLike);
}

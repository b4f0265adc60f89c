/**
 * sockalive for Deno: `connect`, `listen`, `reconnecting`, `setKeepAlive` and `getKeepAlive` on a
 * `Deno.TcpConn`, a `Deno.TlsConn`, or a `node:net` / `node:tls` socket, through `Deno.dlopen`
 * (run with `--allow-ffi`).
 *
 * @example
 * ```ts ignore
 * import { connect } from "@sockalive/sockalive/deno";
 * const conn = connect({ hostname: "127.0.0.1", port: 7000, keepAlive: { idle: 1000, interval: 1000, count: 3 } });
 * await conn.opened;
 * console.log(conn.keepAlive);
 * ```
 *
 * @module
 */

import { type DenoHeldSocket, denoRuntime } from "./src/adapters/deno.ts";
import { type Sockalive, sockalive } from "./src/api.ts";

export type { DenoHeldSocket, DenoTcpConnLike, NodeSocketLike } from "./src/adapters/deno.ts";
export * from "./src/common.ts";

const api: Sockalive<DenoHeldSocket> = sockalive(denoRuntime);

/** Opens a monitored TCP connection in Deno: see {@linkcode Sockalive.connect}. */
export const connect: Sockalive<DenoHeldSocket>["connect"] = api.connect;
/** Listens for monitored TCP connections in Deno: see {@linkcode Sockalive.listen}. */
export const listen: Sockalive<DenoHeldSocket>["listen"] = api.listen;
/** Sets keepalive on a socket the program holds in Deno: see {@linkcode Sockalive.setKeepAlive}. */
export const setKeepAlive: Sockalive<DenoHeldSocket>["setKeepAlive"] = api.setKeepAlive;
/** Reads a socket's keepalive from the kernel in Deno: see {@linkcode Sockalive.getKeepAlive}. */
export const getKeepAlive: Sockalive<DenoHeldSocket>["getKeepAlive"] = api.getKeepAlive;
/** Reads a socket's TCP health from the kernel in Deno: see {@linkcode Sockalive.getHealth}. */
export const getHealth: Sockalive<DenoHeldSocket>["getHealth"] = api.getHealth;
/** Keeps one monitored connection to a peer in Deno: see {@linkcode Sockalive.reconnecting}. */
export const reconnecting: Sockalive<DenoHeldSocket>["reconnecting"] = api.reconnecting;
/**
 * Applies keepalive options to every outgoing TCP connection the program opens in Deno, until
 * disposed: see {@linkcode Sockalive.setDefaultKeepAlive}.
 */
export const setDefaultKeepAlive: Sockalive<DenoHeldSocket>["setDefaultKeepAlive"] =
  api.setDefaultKeepAlive;

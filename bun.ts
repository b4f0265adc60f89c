/**
 * sockalive for Bun: `connect`, `listen`, `reconnecting`, `setKeepAlive` and `getKeepAlive` on Bun
 * sockets (plain or TLS) and `node:net` / `node:tls` sockets, through `bun:ffi`.
 *
 * @example
 * ```ts ignore
 * import { connect } from "@sockalive/sockalive/bun";
 * const conn = connect({ hostname: "127.0.0.1", port: 7000, keepAlive: { idle: 1000, interval: 1000, count: 3 } });
 * await conn.opened;
 * console.log(conn.keepAlive);
 * ```
 *
 * @module
 */

import { type BunHeldSocket, bunRuntime } from "./src/adapters/bun.ts";
import { type Sockalive, sockalive } from "./src/api.ts";

export type { BunHeldSocket, BunSocketLike, NodeSocketLike } from "./src/adapters/bun.ts";
export * from "./src/common.ts";

const api: Sockalive<BunHeldSocket> = sockalive(bunRuntime);

/** Opens a monitored TCP connection in Bun: see {@linkcode Sockalive.connect}. */
export const connect: Sockalive<BunHeldSocket>["connect"] = api.connect;
/** Listens for monitored TCP connections in Bun: see {@linkcode Sockalive.listen}. */
export const listen: Sockalive<BunHeldSocket>["listen"] = api.listen;
/** Sets keepalive on a socket the program holds in Bun: see {@linkcode Sockalive.setKeepAlive}. */
export const setKeepAlive: Sockalive<BunHeldSocket>["setKeepAlive"] = api.setKeepAlive;
/** Reads a socket's keepalive from the kernel in Bun: see {@linkcode Sockalive.getKeepAlive}. */
export const getKeepAlive: Sockalive<BunHeldSocket>["getKeepAlive"] = api.getKeepAlive;
/** Reads a socket's TCP health from the kernel in Bun: see {@linkcode Sockalive.getHealth}. */
export const getHealth: Sockalive<BunHeldSocket>["getHealth"] = api.getHealth;
/** Keeps one monitored connection to a peer in Bun: see {@linkcode Sockalive.reconnecting}. */
export const reconnecting: Sockalive<BunHeldSocket>["reconnecting"] = api.reconnecting;
/**
 * Applies keepalive options to every outgoing TCP connection the program opens in Bun, until
 * disposed: see {@linkcode Sockalive.setDefaultKeepAlive}.
 */
export const setDefaultKeepAlive: Sockalive<BunHeldSocket>["setDefaultKeepAlive"] =
  api.setDefaultKeepAlive;

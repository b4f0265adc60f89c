/**
 * sockalive for Bun: `connect`, `setKeepAlive` and `getKeepAlive` on Bun sockets and `node:net`
 * sockets, through `bun:ffi`.
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

export {
  type BunSocketLike,
  connect,
  getKeepAlive,
  listen,
  type NodeSocketLike,
  setKeepAlive,
} from "./src/adapters/bun.ts";
export * from "./src/common.ts";

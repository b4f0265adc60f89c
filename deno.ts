/**
 * sockalive for Deno: `connect`, `setKeepAlive` and `getKeepAlive` on `Deno.TcpConn`, through
 * `Deno.dlopen` (run with `--allow-ffi`).
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

export {
  connect,
  type DenoTcpConnLike,
  getKeepAlive,
  listen,
  setKeepAlive,
} from "./src/adapters/deno.ts";
export * from "./src/common.ts";

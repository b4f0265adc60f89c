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
 * import { connect, ConnectionClosedError } from "@sockalive/sockalive";
 * const conn = connect({ hostname: "198.18.0.2", port: 7000, keepAlive: { idle: 1000, interval: 1000, count: 3, userTimeout: 5000 } });
 * conn.addEventListener("statechange", (e) => console.log(e.from, "->", e.to, e.info?.code));
 * await conn.opened;
 * try {
 *   for await (const chunk of conn.readable) console.log(chunk.byteLength);
 * } catch (error) {
 *   if (!(error instanceof ConnectionClosedError)) throw error; // a break ends the read with it
 * }
 * console.log(await conn.closed); // how it ended (never rejects)
 * ```
 *
 * @module
 */

export {
  connect,
  getHealth,
  getKeepAlive,
  listen,
  type NativeConnection,
  reconnecting,
  setDefaultKeepAlive,
  setKeepAlive,
} from "./src/adapters/auto.ts";
export type { BunSocketLike, NodeSocketLike } from "./src/adapters/bun.ts";
export type { DenoTcpConnLike } from "./src/adapters/deno.ts";
export * from "./src/common.ts";

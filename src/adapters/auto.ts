/**
 * The API of whichever runtime runs this, Deno or Bun, for the `@sockalive/sockalive` entry.
 *
 * @module
 */

import { bunRuntime, type BunSocketLike } from "./bun.ts";
import { denoRuntime, type DenoTcpConnLike } from "./deno.ts";
import { type Sockalive, sockalive } from "../api.ts";
import type { NodeSocketLike } from "../sockets.ts";

/**
 * A socket {@linkcode setKeepAlive} accepts. In Deno: a `Deno.TcpConn`, a `Deno.TlsConn`, or a
 * `node:net` `Socket` / `node:tls` `TLSSocket` (found by its addresses). In Bun: a Bun `Socket`
 * (plain or TLS), or a `node:net` `Socket` / `node:tls` `TLSSocket` (by its descriptor, verified
 * by its addresses). So the socket of any npm driver (`pg`, `ioredis`, `mqtt`, ...) type-checks
 * as it is.
 *
 * @example
 * ```ts ignore
 * import net from "node:net";
 * import { type NativeConnection, setKeepAlive } from "@sockalive/sockalive";
 * const socket = net.connect({ host: "127.0.0.1", port: 7000 });
 * socket.once("connect", () => {
 *   const held: NativeConnection = socket; // no cast: a net.Socket is one
 *   console.log(setKeepAlive(held, { idle: 5000, interval: 1000, count: 3 }));
 * });
 * ```
 */
export type NativeConnection = DenoTcpConnLike | BunSocketLike | NodeSocketLike;

const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
const api: Sockalive<NativeConnection> = isBun ? sockalive(bunRuntime) : sockalive(denoRuntime);

/** Opens a monitored TCP connection in Deno or Bun: see {@linkcode Sockalive.connect}. */
export const connect: Sockalive<NativeConnection>["connect"] = api.connect;
/** Listens for monitored TCP connections in Deno or Bun: see {@linkcode Sockalive.listen}. */
export const listen: Sockalive<NativeConnection>["listen"] = api.listen;
/** Sets keepalive on a socket the program holds: see {@linkcode Sockalive.setKeepAlive}. */
export const setKeepAlive: Sockalive<NativeConnection>["setKeepAlive"] = api.setKeepAlive;
/** Reads a socket's keepalive from the kernel: see {@linkcode Sockalive.getKeepAlive}. */
export const getKeepAlive: Sockalive<NativeConnection>["getKeepAlive"] = api.getKeepAlive;
/** Reads a socket's TCP health from the kernel: see {@linkcode Sockalive.getHealth}. */
export const getHealth: Sockalive<NativeConnection>["getHealth"] = api.getHealth;
/**
 * Keeps a monitored connection to one peer, dialing again with exponential backoff and full
 * jitter whenever it ends, until closed, aborted, or `maxAttempts` attempts in a row fail.
 * Options are those of `connect` plus `reconnect` (see {@linkcode BackoffOptions}); all are
 * checked here, before anything touches the network. `connectFn` defaults to `connect`
 * (Deno or Bun, detected).
 *
 * @example
 * ```ts ignore
 * import { reconnecting } from "@sockalive/sockalive";
 * const controller = new AbortController();
 * const client = reconnecting({
 *   port: 7000,
 *   keepAlive: { idle: 1000, interval: 1000, count: 3 },
 *   reconnect: { initialDelay: 500, maxDelay: 10_000, maxAttempts: 20 }, // milliseconds
 *   signal: controller.signal,
 * });
 * client.addEventListener("statechange", (e) => console.log(e.from, "->", e.to, e.info?.code));
 * client.addEventListener("giveup", (e) => console.error("gave up after", e.attempts, e.last.code));
 * for await (const conn of client) {
 *   // A write fails (ConnectionClosedError) if this connection broke meanwhile; the client goes on.
 *   await conn.write(new TextEncoder().encode("hello\n")).catch((error) => console.warn(error.message));
 *   await conn.closed; // the next connection is dialed after this one ends
 * }
 * console.log(await client.stopped); // { reason: "abort" | "giveup" | ..., attempts, last? }
 * ```
 */
export const reconnecting: Sockalive<NativeConnection>["reconnecting"] = api.reconnecting;
/**
 * Applies keepalive options to every outgoing TCP connection the program opens from now on,
 * whoever opens it — `node:net` / `node:tls` (every npm driver), `Deno.connect` /
 * `Deno.connectTls` in Deno, `Bun.connect` (plain or TLS) in Bun — reconnections included, as
 * soon as it connects and before the code that opened it sees it. Returns a
 * {@linkcode KeepAlivePolicy}, a `Disposable`: disposing it stops it for new connections.
 *
 * - `options` are checked as `setKeepAlive` checks them (`TypeError` / `RangeError` here), and
 *   applied through the same path: the socket found and verified by its addresses first.
 * - `policy.match(connection)` chooses the connections (default: all); it gets a
 *   {@linkcode ConnectionInfo}: `api`, `hostname` as asked, `port`, `remoteAddress`, `tls`, ...
 *   When several policies are in force, the newest that matches applies, alone.
 * - A connection that cannot be given the options is left as it is, and reported to
 *   `policy.onError(error, connection)` (default `console.error`); so is a `match` that throws
 *   (it then counts as no match). Nothing is thrown into the code that opened the connection.
 * - When the runtime's own `setKeepAlive` is called on a socket the policy applied to (drivers
 *   call `socket.setKeepAlive(true, ms)`, which resets `idle`, and in Bun `interval` and
 *   `count`), that call runs, and if it changed what the kernel holds the options are applied
 *   again: the policy wins, and `policy.onOverride(override)` is told what the call did.
 * - Connections sockalive opens itself (`connect`, `reconnecting`) keep their own options.
 * - Nothing is patched until the first call; when the last policy is disposed, every patched
 *   function (`net.Socket.prototype.connect`, `Deno.connect`, `Deno.connectTls`, `Bun.connect`)
 *   is put back as it was.
 *
 * @example
 * ```ts ignore
 * import { setDefaultKeepAlive } from "@sockalive/sockalive";
 * using policy = setDefaultKeepAlive(
 *   { idle: 1000, interval: 1000, count: 3, userTimeout: 3000 },
 *   {
 *     match: ({ port }) => port === 6379 || port === 5432,
 *     onOverride: ({ api, hostname, call }) => console.warn(api, hostname, "setKeepAlive", call),
 *   },
 * );
 * // Every Redis and Postgres connection opened from here on, by any driver, is noticed
 * // broken within 4 s of a silent peer.
 * ```
 */
export const setDefaultKeepAlive: Sockalive<NativeConnection>["setDefaultKeepAlive"] =
  api.setDefaultKeepAlive;

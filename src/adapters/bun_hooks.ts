/**
 * The connect hooks of Bun, for default keepalive policies: `Bun.connect` (its `open` handler,
 * plain and TLS) and `node:net` (whose sockets Bun opens without the global `Bun.connect`).
 *
 * @module
 */

import type { NodeSocketLike } from "../sockets.ts";
import type { ConnectHooks, OpenedSocket } from "../transport.ts";
import type { BunSocketLike } from "./bun_transport.ts";
import { hookNodeNet, isOwnDial, replace } from "./hooks.ts";

type BunOpened = (connection: OpenedSocket<BunSocketLike | NodeSocketLike>) => void;

interface ConnectOptions {
  hostname?: unknown;
  unix?: unknown;
  tls?: unknown;
  socket?: unknown;
}

interface BunConnector {
  connect(options: ConnectOptions): Promise<unknown>;
}

/**
 * Wraps each TCP `Bun.connect` call's `open` handler (on a copy of its `socket` option, which
 * inherits every other handler from it): the policy is applied as the socket opens, before the
 * caller's own `open` runs.
 */
function hookBun(opened: BunOpened): () => void {
  const bun = (globalThis as unknown as { Bun: BunConnector }).Bun;
  return replace(
    bun,
    "connect",
    (original, live) =>
      function connect(this: unknown, options: ConnectOptions) {
        const handlers = options?.socket;
        if (
          !live() || isOwnDial() || options?.unix !== undefined || typeof handlers !== "object" ||
          handlers === null
        ) {
          return Reflect.apply(original, this, [options]);
        }
        const hostname = typeof options.hostname === "string" ? options.hostname : "localhost";
        const tls = options.tls !== undefined && options.tls !== false && options.tls !== null;
        const theirs = (handlers as { open?: unknown }).open;
        const open = function open(this: unknown, socket: BunSocketLike, ...rest: unknown[]) {
          opened({ socket, api: "Bun.connect", hostname, tls });
          return typeof theirs === "function"
            ? Reflect.apply(theirs, this, [socket, ...rest])
            : undefined;
        };
        const socket = Object.create(handlers, {
          open: { value: open, enumerable: true, writable: true, configurable: true },
        });
        return Reflect.apply(original, this, [{ ...options, socket }]);
      },
  );
}

/** Bun's hooks: `Bun.connect`, and `node:net` / `node:tls`. */
export const bunConnectHooks: ConnectHooks<BunSocketLike | NodeSocketLike> = {
  install(opened) {
    const restore = [hookNodeNet(opened), hookBun(opened)];
    return () => {
      for (const put of restore.reverse()) put();
    };
  },
};

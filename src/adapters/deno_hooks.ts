/**
 * The connect hooks of Deno, for default keepalive policies: `Deno.connect`, `Deno.connectTls`
 * and `node:net` (whose sockets Deno opens without `Deno.connect`).
 *
 * @module
 */

import type { NodeSocketLike } from "../sockets.ts";
import type { ConnectHooks, ConnectionApi, OpenedSocket } from "../transport.ts";
import { hookNodeNet, isOwnDial, replace } from "./hooks.ts";
// Deno's API through declarations of its own, so that projects without Deno's types check this.
import { namespace, type TcpConn, type TlsConn } from "./deno_api.ts";

type DenoSocket = TcpConn | TlsConn | NodeSocketLike;

type Connect = (options: { hostname?: unknown; transport?: unknown }) => Promise<DenoSocket>;

interface DenoConnectors {
  connect: Connect;
  connectTls: Connect;
}

/** Hears of each `Deno.connect` / `Deno.connectTls` TCP connection before its caller gets it. */
function hookDeno(
  api: keyof DenoConnectors,
  opened: (connection: OpenedSocket<DenoSocket>) => void,
): () => void {
  const denoConnectors = namespace() as unknown as DenoConnectors;
  const name: ConnectionApi = api === "connect" ? "Deno.connect" : "Deno.connectTls";
  return replace(denoConnectors, api, (original, live) =>
    function connect(this: unknown, options) {
      const connecting = Reflect.apply(original, this, [options]);
      // Unix and vsock connections are not TCP; sockalive's own dials have their own options.
      const transport = options?.transport;
      if (!live() || isOwnDial() || (transport !== undefined && transport !== "tcp")) {
        return connecting;
      }
      const hostname = typeof options?.hostname === "string" ? options.hostname : "127.0.0.1";
      const tls = api === "connectTls";
      return connecting.then((socket) => {
        opened({ socket, api: name, hostname, tls });
        return socket;
      });
    });
}

/** Deno's hooks: `Deno.connect`, `Deno.connectTls`, and `node:net` / `node:tls`. */
export const denoConnectHooks: ConnectHooks<DenoSocket> = {
  install(opened) {
    const restore = [
      hookNodeNet(opened),
      hookDeno("connect", opened),
      hookDeno("connectTls", opened),
    ];
    return () => {
      for (const put of restore.reverse()) put();
    };
  },
};

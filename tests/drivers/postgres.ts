import { once } from "node:events";
import net from "node:net";
import { type KeepAliveOptions, setKeepAlive } from "@sockalive/sockalive";

/**
 * A postgres.js `socket` option: connects, sets `keepAlive`, and hands over the connected socket.
 * postgres.js calls it for every connection it opens, the first and each new one.
 */
export function keepAliveSocket(
  keepAlive: KeepAliveOptions,
): (options: { host: string[]; port: number[] }) => Promise<net.Socket> {
  return async ({ host: [host], port: [port] }) => {
    const socket = net.connect({ host, port });
    await once(socket, "connect");
    setKeepAlive(socket, keepAlive);
    return socket;
  };
}

// const sql = postgres({ host, keep_alive: null, socket: keepAliveSocket(keepAlive) });
// keep_alive: null, or postgres.js then sets idle to its keep_alive (default 60 s) on the socket.

import type net from "node:net";
import type pg from "pg";
import { type KeepAliveOptions, setKeepAlive } from "@sockalive/sockalive";

/** Sets `keepAlive` on the socket of every client the pool connects, the first and each new one. */
export function keepAlivePool(pool: pg.Pool, keepAlive: KeepAliveOptions): pg.Pool {
  return pool.on("connect", (client) => {
    // The client's Connection holds its socket (the TLSSocket once ssl has started), undocumented.
    const { stream } = (client as unknown as pg.Client).connection;
    setKeepAlive(stream as net.Socket, keepAlive);
  });
}

// const pool = keepAlivePool(new pg.Pool({ host, user, idleTimeoutMillis: 0 }), keepAlive);

import type net from "node:net";
import type { Redis } from "ioredis";
import { type KeepAliveOptions, setKeepAlive } from "@sockalive/sockalive";

/** Sets `keepAlive` on the client's socket each time it connects (first connect, reconnects). */
export function keepAliveRedis(redis: Redis, keepAlive: KeepAliveOptions): Redis {
  // "connect" comes after ioredis's own stream.setKeepAlive(true, 30000), which ours overrides.
  return redis.on("connect", () => setKeepAlive(redis.stream as net.Socket, keepAlive));
}

// const redis = keepAliveRedis(new Redis({ host, maxRetriesPerRequest: 0 }), keepAlive);

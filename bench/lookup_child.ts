/**
 * The cost of applying keepalive to one new connection while N other sockets are open, in Deno
 * or Bun: sockalive's `setKeepAlive` on the runtime's own socket (Deno: find the descriptor by
 * its addresses, then setsockopt; Bun: `socket.fd`, verified, then setsockopt), and a naive
 * procfs scan (find the socket's inode in /proc/self/net/tcp, then readlink every entry of
 * /proc/self/fd until "socket:[inode]").
 *
 * Argument: JSON { hostname, port, ns: number[], minSamples, maxSamples, budgetMs, scanSamples }.
 * The N other sockets are connections to a `hold` peer in another process. Prints
 * {"type":"progress"} while opening and {"type":"result","n",...} per N (times in µs).
 *
 * @module
 */

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { setKeepAlive } from "../mod.ts";
import {
  args,
  bunConnect,
  type BunRawSocket,
  emit,
  isBun,
  procNetTcpAddress,
  summarize,
} from "./common.ts";

const config = JSON.parse(args()[0]) as {
  hostname: string;
  port: number;
  ns: number[];
  minSamples: number;
  maxSamples: number;
  budgetMs: number;
  scanSamples: number;
};
const KEEPALIVE = { idle: 1000, interval: 1000, count: 3 };
// Bun's JIT was still tiering up the path after 300 (the first N measured read 1.5-2x the next);
// a long-lived service applies thousands: 3000 is a fraction of a second.
const WARM_UP = 3000;

interface Opened {
  native: Deno.TcpConn | BunRawSocket;
  local: { hostname: string; port: number };
  remote: { hostname: string; port: number };
  close(): void;
}

async function open(): Promise<Opened> {
  if (isBun) {
    const s = await bunConnect(config.hostname, config.port, { data() {}, error() {} });
    return {
      native: s,
      local: { hostname: s.localAddress ?? "", port: s.localPort },
      remote: { hostname: s.remoteAddress, port: s.remotePort },
      close: () => s.terminate(),
    };
  }
  const c = await Deno.connect({ hostname: config.hostname, port: config.port });
  const l = c.localAddr as Deno.NetAddr;
  const r = c.remoteAddr as Deno.NetAddr;
  return {
    native: c,
    local: { hostname: l.hostname, port: l.port },
    remote: { hostname: r.hostname, port: r.port },
    close: () => c.close(),
  };
}

/** What a naive implementation does: inode from /proc/net/tcp, then readlink every fd. */
function naiveScan(o: Opened): { fd: number; inodeUs: number } {
  const t0 = performance.now();
  const local = procNetTcpAddress(o.local.hostname, o.local.port);
  const remote = procNetTcpAddress(o.remote.hostname, o.remote.port);
  let inode = "";
  for (const line of readFileSync("/proc/self/net/tcp", "latin1").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[2] === remote) {
      inode = f[9];
      break;
    }
  }
  const inodeUs = (performance.now() - t0) * 1000;
  if (!inode) throw new Error(`naive scan: ${local} -> ${remote} not in /proc/self/net/tcp`);
  const want = `socket:[${inode}]`;
  for (const name of readdirSync("/proc/self/fd")) {
    let link: string;
    try {
      link = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue;
    }
    if (link === want) return { fd: Number(name), inodeUs };
  }
  throw new Error("naive scan: descriptor not found");
}

async function sample(
  measure: (o: Opened) => number,
  min: number,
  max: number,
  budgetMs: number,
): Promise<number[]> {
  const times: number[] = [];
  const start = performance.now();
  while (times.length < max && (times.length < min || performance.now() - start < budgetMs)) {
    const o = await open();
    try {
      times.push(measure(o));
    } finally {
      o.close();
    }
  }
  return times;
}

const others: Opened[] = [];
// Warm up: FFI opened, code compiled and tiered up. 20 calls left the first N (100) measuring
// the JIT too: 30.9 µs p50 there against 13.6 µs at N = 1,000 in one run.
{
  const warm = await sample(
    (o) => {
      const t = performance.now();
      setKeepAlive(o.native as Deno.TcpConn, KEEPALIVE);
      return performance.now() - t;
    },
    WARM_UP,
    WARM_UP,
    0,
  );
  void warm;
}
for (const n of config.ns) {
  while (others.length < n) {
    const batch = Math.min(200, n - others.length);
    others.push(...await Promise.all(Array.from({ length: batch }, open)));
    if (others.length % 2000 === 0) emit({ type: "progress", n, opened: others.length });
  }
  const sockalive = await sample(
    (o) => {
      const t = performance.now();
      const got = setKeepAlive(o.native as Deno.TcpConn, KEEPALIVE);
      const us = (performance.now() - t) * 1000;
      if (got.idle !== 1000 || !got.enabled) throw new Error("keepalive not applied");
      return us;
    },
    config.minSamples,
    config.maxSamples,
    config.budgetMs,
  );
  const inodeParts: number[] = [];
  const scan = await sample(
    (o) => {
      const t = performance.now();
      const { inodeUs } = naiveScan(o);
      inodeParts.push(inodeUs);
      return (performance.now() - t) * 1000;
    },
    Math.min(5, config.scanSamples),
    config.scanSamples,
    config.budgetMs,
  );
  const descriptors = readdirSync("/proc/self/fd").length;
  emit({
    type: "result",
    n,
    descriptors,
    sockalive: summarize(sockalive),
    scan: summarize(scan),
    scanInodePart: summarize(inodeParts),
  });
}
for (const o of others) o.close();
emit({ type: "done" });

/**
 * The system calls sockalive makes to open one watched connection, and to apply keepalive to a
 * runtime's socket, on Linux, made bare through the runtime's own FFI with no library code
 * around them: the floor under sockalive's time to open and apply cost, as long as it makes
 * these calls (each is there for the rule that a descriptor is verified before any option is
 * set on it, for the options themselves, or for the watch).
 *
 * An open, as `strace -f` shows one (Deno 2.9, Bun 1.4):
 * - before the connect: the lowest free descriptor (`dup`, `close`), where the runtime will put
 *   the new socket;
 * - right after the runtime's connect call returns: `getsockname` of that descriptor (the
 *   connecting socket noted, so that an abort can verify it before shutting it down);
 * - once open: `getsockname`, `getpeername`, `TCP_USER_TIMEOUT` (the descriptor verified: only a
 *   TCP socket answers a TCP option), Deno also `SO_NETNS_COOKIE` (its namespace: Deno's
 *   descriptor is found, not named); five `setsockopt`
 *   (`TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`, `TCP_USER_TIMEOUT`, `SO_KEEPALIVE`);
 * - Deno only: `SO_COOKIE` (the socket's identity for the break path) and `epoll_ctl` (the shared
 *   watch, where Bun's own event loop watches the socket).
 *
 * `setKeepAlive(socket, { idle, interval, count })` (bench 8's system call count): the
 * verification as above and four `setsockopt` (the three and `SO_KEEPALIVE`): the one value not
 * set, `TCP_USER_TIMEOUT`, is what the verification read; the set ones are known (see
 * src/os/linux.ts).
 *
 * Run in a child of the benchmark (Deno with --allow-ffi, or Bun); Linux x86_64 only.
 *
 * @module
 */

import {
  EPOLL_CTL_ADD,
  EPOLLIN,
  EPOLLONESHOT,
  EPOLLRDHUP,
  IPPROTO_TCP,
  SO_COOKIE,
  SO_KEEPALIVE,
  SO_NETNS_COOKIE,
  SOL_SOCKET,
  TCP_KEEPCNT,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
  TCP_USER_TIMEOUT,
} from "../ffi/linux.ts";
import { epollSymbols, posixSymbols } from "../ffi/symbols.ts";
import type { BoundFunctions } from "../ffi/types.ts";
import { isBun } from "./common.ts";

/** The C functions of ffi/symbols.ts the floor calls: the same table sockalive binds. */
const SYMBOLS = {
  dup: posixSymbols.dup,
  close: posixSymbols.close,
  getsockname: posixSymbols.getsockname,
  getpeername: posixSymbols.getpeername,
  getsockopt: posixSymbols.getsockopt,
  setsockopt: posixSymbols.setsockopt,
  epoll_create1: epollSymbols.epoll_create1,
  epoll_ctl: epollSymbols.epoll_ctl,
} as const;

type Libc = BoundFunctions<typeof SYMBOLS, unknown>;

function bind(): Libc {
  if (!isBun) return Deno.dlopen("libc.so.6", SYMBOLS).symbols as unknown as Libc;
  type BunFfi = {
    dlopen(path: string, symbols: Record<string, { args: string[]; returns: string }>): {
      symbols: Libc;
    };
  };
  const ffi = (import.meta as unknown as { require(id: string): BunFfi }).require("bun:ffi");
  // The table names types as Deno does; of those used here only `buffer` is named otherwise.
  const bunType = (type: string) => type === "buffer" ? "ptr" : type;
  const bunSymbols = Object.fromEntries(
    Object.entries(SYMBOLS).map(([name, s]) => [name, {
      args: s.parameters.map(bunType),
      returns: bunType(s.result),
    }]),
  );
  return ffi.dlopen("libc.so.6", bunSymbols).symbols;
}

/**
 * Whether both of a Deno connection's addresses have a host and a port: what sockalive reads of
 * them to find the socket (Deno does not name its descriptor), read here too.
 */
export function addressed(conn: Deno.Conn): boolean {
  const local = conn.localAddr as Deno.NetAddr, remote = conn.remoteAddr as Deno.NetAddr;
  return local.hostname !== "" && local.port > 0 && remote.hostname !== "" && remote.port > 0;
}

/** The calls of one open or apply, in the order sockalive makes them. */
export interface BareCalls {
  /** Before the runtime's connect: the lowest free descriptor. */
  lowestFree(): number;
  /** Right after the connect call: the connecting socket at `fd` noted. */
  note(fd: number): void;
  /** Once open: verify the socket at `fd`, set the five options, and (Deno) watch it. */
  opened(fd: number): void;
  /** `setKeepAlive` on the socket at `fd`: verify it, set the options, read the rest back. */
  applied(fd: number): void;
}

/**
 * Binds libc once; `found`: the descriptor is found, not named (Deno): also its namespace, and
 * for an open the cookie and the epoll watch.
 */
export function bareCalls(found: boolean): BareCalls {
  const c = bind();
  const address = new Uint8Array(128);
  const length = new Uint32Array(1);
  const value = new Int32Array(2);
  const valueBytes = new Uint8Array(value.buffer);
  const valueLength = new Uint32Array(1);
  const event = new Uint8Array(12);
  const epoll = found ? c.epoll_create1(0) : -1;
  new DataView(event.buffer).setUint32(0, EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, true);
  const name = (fd: number, call: "getsockname" | "getpeername") => {
    length[0] = address.byteLength;
    return c[call](fd, address, length);
  };
  const get = (fd: number, level: number, option: number, size: number) => {
    valueLength[0] = size;
    return c.getsockopt(fd, level, option, valueBytes, valueLength);
  };
  const set = (fd: number, level: number, option: number, to: number) => {
    value[0] = to;
    return c.setsockopt(fd, level, option, valueBytes, 4);
  };
  const verify = (fd: number) => {
    name(fd, "getsockname");
    name(fd, "getpeername");
    get(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 4);
    if (found) get(fd, SOL_SOCKET, SO_NETNS_COOKIE, 8);
  };
  return {
    lowestFree() {
      const fd = c.dup(0);
      c.close(fd);
      return fd;
    },
    note(fd) {
      name(fd, "getsockname");
    },
    opened(fd) {
      verify(fd);
      set(fd, IPPROTO_TCP, TCP_KEEPIDLE, 3600);
      set(fd, IPPROTO_TCP, TCP_KEEPINTVL, 1);
      set(fd, IPPROTO_TCP, TCP_KEEPCNT, 3);
      set(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 3_603_000);
      set(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
      if (found) {
        get(fd, SOL_SOCKET, SO_COOKIE, 8);
        c.epoll_ctl(epoll, EPOLL_CTL_ADD, fd, event);
      }
    },
    applied(fd) {
      verify(fd);
      set(fd, IPPROTO_TCP, TCP_KEEPIDLE, 1);
      set(fd, IPPROTO_TCP, TCP_KEEPINTVL, 1);
      set(fd, IPPROTO_TCP, TCP_KEEPCNT, 3);
      set(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
    },
  };
}

/**
 * FreeBSD numbers, from sys/sys/socket.h and sys/netinet/tcp.h. Untested: no FreeBSD machine or
 * emulator runs here; the recording-fake unit tests pin the calls. FreeBSD has no user timeout.
 *
 * @module
 */

import type { PosixLibrary } from "./types.ts";

export {
  AF_INET,
  ERRNO_NAMES,
  IPPROTO_TCP,
  POLLERR,
  POLLHUP,
  POLLNVAL,
  SO_KEEPALIVE,
  SO_TYPE,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./macos.ts";

/** The C library opened with `dlopen`. */
export const LIBC = "libc.so.7";
/** The function that returns errno's address. */
export const ERRNO_SYMBOL = "__error";
/** `IPPROTO_TCP`: seconds of idleness before the first probe. */
export const TCP_KEEPIDLE = 256;
/** `IPPROTO_TCP`: seconds between probes. */
export const TCP_KEEPINTVL = 512;
/** `IPPROTO_TCP`: unanswered probes before the drop. */
export const TCP_KEEPCNT = 1024;
/** The kernel stores these in ticks in an int; stay far below its overflow. */
export const MAX_DURATION_SECONDS = 2147483;
/** FreeBSD's AF_INET6. */
export const AF_INET6 = 28;
/** BSD sockaddrs begin with `sin_len`. */
export const SOCKADDR_HAS_LENGTH_BYTE = true;
/** `getrlimit` resource: the most descriptors the process may hold (sys/resource.h). */
export const RLIMIT_NOFILE = 8;
/** Where a process's open descriptors are listed (needs fdescfs for more than 0-2). */
export const FD_DIRECTORY = "/dev/fd";
/** Offset of `d_name` in FreeBSD 12+'s `struct dirent` (fileno 8, off 8, reclen 2, type 1, pad 1, namlen 2, pad 2). */
export const DIRENT_NAME_OFFSET = 24;

/** The C library as sockalive opens it: where it is and how to read errno and descriptors. */
export const LIBRARY: PosixLibrary = {
  kind: "posix",
  path: LIBC,
  errnoSymbol: "__error",
  fdDirectory: FD_DIRECTORY,
  direntNameOffset: DIRENT_NAME_OFFSET,
  rlimitNofile: RLIMIT_NOFILE,
};

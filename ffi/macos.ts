/**
 * macOS (Darwin) numbers, from xnu's bsd/sys/socket.h, bsd/netinet/tcp.h, bsd/sys/errno.h and
 * bsd/sys/poll.h. Durations are whole seconds. sockaddrs start with a length byte (`sin_len`).
 *
 * @module
 */

import type { PosixLibrary } from "./types.ts";

/** The C library opened with `dlopen`. */
export const LIBC = "libSystem.B.dylib";
/** The function that returns errno's address. */
export const ERRNO_SYMBOL = "__error";
/** Option level for socket-wide options. */
export const SOL_SOCKET = 0xffff;
/** `SOL_SOCKET`: keepalive on or off (int). */
export const SO_KEEPALIVE = 0x0008;
/** `SOL_SOCKET`: the socket type (int). */
export const SO_TYPE = 0x1008;
/** `SO_TYPE` of a TCP socket. */
export const SOCK_STREAM = 1;
/** Level for TCP options. */
export const IPPROTO_TCP = 6;
/** `IPPROTO_TCP`: seconds of idleness before the first probe (macOS's name for TCP_KEEPIDLE). */
export const TCP_KEEPALIVE = 0x10;
/** `IPPROTO_TCP`: seconds between probes. */
export const TCP_KEEPINTVL = 0x101;
/** `IPPROTO_TCP`: unanswered probes before the drop. */
export const TCP_KEEPCNT = 0x102;
/** `IPPROTO_TCP`: seconds retransmissions may go on before the connection is dropped. */
export const TCP_RXT_CONNDROPTIME = 0x80;
/** xnu refuses durations above UINT32_MAX / TCP_RETRANSHZ (1000) seconds. */
export const MAX_DURATION_SECONDS = Math.floor(0xffffffff / 1000);
/** Address families. */
export const AF_INET = 2;
/** See {@linkcode AF_INET}. */
export const AF_INET6 = 30;
/** BSD sockaddrs begin with `sin_len`, then a one-byte family. */
export const SOCKADDR_HAS_LENGTH_BYTE = true;
/** `poll` events. macOS has no POLLRDHUP: a FIN is seen only by reading. */
export const POLLERR = 0x0008;
/** See {@linkcode POLLERR}. */
export const POLLHUP = 0x0010;
/** See {@linkcode POLLERR}. */
export const POLLNVAL = 0x0020;
/** `getrlimit` resource: the most descriptors the process may hold (sys/resource.h). */
export const RLIMIT_NOFILE = 8;
/** Where a process's open descriptors are listed. */
export const FD_DIRECTORY = "/dev/fd";
/** Offset of `d_name` in the 64-bit-inode `struct dirent` (ino 8, seekoff 8, reclen 2, namlen 2, type 1). */
export const DIRENT_NAME_OFFSET = 21;

/** errno numbers to names (BSD numbering). */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  9: "EBADF",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  22: "EINVAL",
  24: "EMFILE",
  32: "EPIPE",
  35: "EAGAIN",
  38: "ENOTSOCK",
  42: "ENOPROTOOPT",
  43: "EPROTONOSUPPORT",
  45: "ENOTSUP",
  47: "EAFNOSUPPORT",
  50: "ENETDOWN",
  51: "ENETUNREACH",
  53: "ECONNABORTED",
  54: "ECONNRESET",
  55: "ENOBUFS",
  57: "ENOTCONN",
  60: "ETIMEDOUT",
  61: "ECONNREFUSED",
  65: "EHOSTUNREACH",
  102: "EOPNOTSUPP",
};

/** The C library as sockalive opens it: where it is and how to read errno and descriptors. */
export const LIBRARY: PosixLibrary = {
  kind: "posix",
  path: LIBC,
  errnoSymbol: "__error",
  fdDirectory: FD_DIRECTORY,
  direntNameOffset: DIRENT_NAME_OFFSET,
  rlimitNofile: RLIMIT_NOFILE,
};

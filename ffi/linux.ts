/**
 * Linux numbers: libraries, socket option levels and names, limits, sockaddr and dirent layouts,
 * and errno names. Values are from the kernel's UAPI headers (asm-generic/socket.h, netinet/tcp.h,
 * asm-generic/errno*.h) and hold on x86_64 and aarch64.
 *
 * @module
 */

import type { PosixLibrary } from "./types.ts";

/** The C library opened with `dlopen`. */
export const LIBC = "libc.so.6";

/** Option levels and names for `setsockopt`/`getsockopt`. */
export const SOL_SOCKET = 1;
/** `SOL_SOCKET`: turn keepalive probing on or off (int 0/1). */
export const SO_KEEPALIVE = 9;
/** `SOL_SOCKET`: `struct linger { int l_onoff; int l_linger; }`; used by tests to send an RST. */
export const SO_LINGER = 13;
/** `SOL_SOCKET`: the pending socket error (int); reading it clears it. */
export const SO_ERROR = 4;
/** `SOL_SOCKET`: the socket type (int); `SOCK_STREAM` for TCP. */
export const SO_TYPE = 3;
/** `SOL_SOCKET`: a 64-bit number unique to the socket for the kernel's lifetime (Linux 4.12+). */
export const SO_COOKIE = 57;
/**
 * `SOL_SOCKET`: a 64-bit number unique to the socket's network namespace for the kernel's
 * lifetime (Linux 5.14+).
 */
export const SO_NETNS_COOKIE = 71;
/**
 * `SOL_SOCKET`: the peer's sockaddr. Unlike `getpeername` it answers while a connect is still in
 * progress, and only for a buffer no longer than the address (else `EINVAL`).
 */
export const SO_PEERNAME = 28;
/** Sizes of `struct sockaddr_in` and `struct sockaddr_in6`. */
export const SOCKADDR_IN_SIZE = 16;
/** See {@linkcode SOCKADDR_IN_SIZE}. */
export const SOCKADDR_IN6_SIZE = 28;
/** `SOL_SOCKET`: the socket protocol (int), `IPPROTO_TCP` for TCP. */
export const SO_PROTOCOL = 38;
/** `SOCK_STREAM` as answered by `SO_TYPE`. */
export const SOCK_STREAM = 1;
/** `SOCK_DGRAM`, for `socket()`. */
export const SOCK_DGRAM = 2;
/** `socket()` flag: close on exec (= O_CLOEXEC). */
export const SOCK_CLOEXEC = 0o2000000;
/** Level for TCP options. */
export const IPPROTO_TCP = 6;
/** `IPPROTO_TCP`: seconds of idleness before the first probe (int). */
export const TCP_KEEPIDLE = 4;
/** `IPPROTO_TCP`: seconds between probes (int). */
export const TCP_KEEPINTVL = 5;
/** `IPPROTO_TCP`: unanswered probes before the connection is dropped (int). */
export const TCP_KEEPCNT = 6;
/** `IPPROTO_TCP`: milliseconds transmitted data may stay unacknowledged (unsigned int, 0 = off). */
export const TCP_USER_TIMEOUT = 18;

/** Limits the kernel enforces (net/ipv4/tcp.c: MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT). */
export const MAX_TCP_KEEPIDLE_SECONDS = 32767;
/** See {@linkcode MAX_TCP_KEEPIDLE_SECONDS}. */
export const MAX_TCP_KEEPINTVL_SECONDS = 32767;
/** See {@linkcode MAX_TCP_KEEPIDLE_SECONDS}. */
export const MAX_TCP_KEEPCNT = 127;
/** TCP_USER_TIMEOUT is an unsigned int, but the kernel rejects values above INT_MAX. */
export const MAX_TCP_USER_TIMEOUT_MS = 2 ** 31 - 1;

/** Address families as found in the first bytes of a sockaddr. */
export const AF_INET = 2;
/** See {@linkcode AF_INET}. */
export const AF_INET6 = 10;
/** Linux sockaddrs begin with a 16-bit host-order family (no length byte, unlike BSD). */
export const SOCKADDR_HAS_LENGTH_BYTE = false;
/** Large enough for `struct sockaddr_in6` (28 bytes); `sockaddr_storage` is 128. */
export const SOCKADDR_STORAGE_SIZE = 128;

/** `poll` events: data to read, peer shut down its write side, error, hang-up. */
export const POLLIN = 0x001;
/** See {@linkcode POLLIN}. */
export const POLLERR = 0x008;
/** See {@linkcode POLLIN}. */
export const POLLHUP = 0x010;
/** See {@linkcode POLLIN}. */
export const POLLNVAL = 0x020;
/** Linux-only: the peer sent FIN. */
export const POLLRDHUP = 0x2000;

/** `epoll_ctl` operations (sys/epoll.h). */
export const EPOLL_CTL_ADD = 1;
/** See {@linkcode EPOLL_CTL_ADD}. */
export const EPOLL_CTL_DEL = 2;
/** See {@linkcode EPOLL_CTL_ADD}. */
export const EPOLL_CTL_MOD = 3;
/** epoll events: the same bits as `poll`'s, plus flags that change how a watch behaves. */
export const EPOLLIN = 0x001;
/** See {@linkcode EPOLLIN}. Always reported, whatever was asked. */
export const EPOLLERR = 0x008;
/** See {@linkcode EPOLLIN}. Always reported, whatever was asked. */
export const EPOLLHUP = 0x010;
/** See {@linkcode EPOLLIN}: the peer sent FIN. */
export const EPOLLRDHUP = 0x2000;
/** Report once, then stay quiet until re-armed with `EPOLL_CTL_MOD`. */
export const EPOLLONESHOT = 1 << 30;
/** `epoll_create1` flag: close on exec (= O_CLOEXEC). */
export const EPOLL_CLOEXEC = 0o2000000;
/** `eventfd` flags: close on exec, non-blocking (= O_CLOEXEC, O_NONBLOCK). */
export const EFD_CLOEXEC = 0o2000000;
/** See {@linkcode EFD_CLOEXEC}. */
export const EFD_NONBLOCK = 0o4000;

/**
 * `struct epoll_event { uint32_t events; epoll_data_t data; }`: packed on x86_64 (12 bytes, data
 * at 4), naturally aligned elsewhere (16 bytes, data at 8).
 */
export function epollEventLayout(arch: string): { size: number; dataOffset: number } {
  return arch === "x86_64" || arch === "x64"
    ? { size: 12, dataOffset: 4 }
    : { size: 16, dataOffset: 8 };
}

/** `getrlimit` resource: the most descriptors the process may hold (sys/resource.h). */
export const RLIMIT_NOFILE = 7;
/** Where a process's open descriptors are listed, one entry per descriptor number. */
export const FD_DIRECTORY = "/proc/self/fd";
/** Offset of `d_name` in glibc's `struct dirent` (ino 8 + off 8 + reclen 2 + type 1). */
export const DIRENT_NAME_OFFSET = 19;

/** errno numbers to names, for the ones a socket call can return. */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  22: "EINVAL",
  24: "EMFILE",
  32: "EPIPE",
  88: "ENOTSOCK",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  105: "ENOBUFS",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
};

/** The C library as sockalive opens it: where it is and how to read errno and descriptors. */
export const LIBRARY: PosixLibrary = {
  kind: "posix",
  path: LIBC,
  errnoSymbol: "__errno_location",
  fdDirectory: FD_DIRECTORY,
  direntNameOffset: DIRENT_NAME_OFFSET,
  rlimitNofile: RLIMIT_NOFILE,
};

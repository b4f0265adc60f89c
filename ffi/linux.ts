/**
 * Linux numbers: libraries, socket option levels and names, limits, sockaddr and dirent layouts,
 * and errno names. Values are from the kernel's UAPI headers (asm-generic/socket.h, netinet/tcp.h,
 * asm-generic/errno*.h) and hold on x86_64 and aarch64.
 *
 * @module
 */

import type { LibraryPath, PosixLibrary, StructLayout } from "./types.ts";

/** The C library opened with `dlopen`. */
export const LIBC = "libc.so.6";

/**
 * Where distributions keep glibc, most common first. On a merged-/usr system `/lib` is `/usr/lib`,
 * but Deno's permission check compares the path string, so both spellings are listed.
 */
export const LIBC_PATHS: readonly LibraryPath[] = [
  // Debian, Ubuntu and their derivatives (multiarch directories)
  { path: "/lib/x86_64-linux-gnu/libc.so.6", arch: "x86_64" },
  { path: "/usr/lib/x86_64-linux-gnu/libc.so.6", arch: "x86_64" },
  { path: "/lib/aarch64-linux-gnu/libc.so.6", arch: "aarch64" },
  { path: "/usr/lib/aarch64-linux-gnu/libc.so.6", arch: "aarch64" },
  // Fedora, RHEL, openSUSE
  { path: "/lib64/libc.so.6" },
  { path: "/usr/lib64/libc.so.6" },
  // Arch Linux
  { path: "/usr/lib/libc.so.6" },
];

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

/** `IPPROTO_TCP`: the kernel's record of the connection, a `struct tcp_info` (read only). */
export const TCP_INFO = 11;

/**
 * `tcpi_state` values by their RFC 793 names: the kernel's `enum { TCP_ESTABLISHED = 1, ... }`
 * (include/net/tcp_states.h; netinet/tcp.h repeats it). 12 (`TCP_NEW_SYN_RECV`) and 13
 * (`TCP_BOUND_INACTIVE`) are the kernel's own and never describe a connected socket.
 */
export const TCP_STATE_NAMES: Readonly<Record<number, string>> = {
  1: "ESTABLISHED", // TCP_ESTABLISHED
  2: "SYN_SENT", // TCP_SYN_SENT
  3: "SYN_RECEIVED", // TCP_SYN_RECV
  4: "FIN_WAIT_1", // TCP_FIN_WAIT1
  5: "FIN_WAIT_2", // TCP_FIN_WAIT2
  6: "TIME_WAIT", // TCP_TIME_WAIT
  7: "CLOSED", // TCP_CLOSE
  8: "CLOSE_WAIT", // TCP_CLOSE_WAIT
  9: "LAST_ACK", // TCP_LAST_ACK
  10: "LISTEN", // TCP_LISTEN
  11: "CLOSING", // TCP_CLOSING
};

/**
 * The fields sockalive reads from `struct tcp_info`, as include/uapi/linux/tcp.h declares it in
 * Linux 6.7 to 6.17 (6.18 appends Accurate ECN counters after `tcpi_total_rto_time`, 280 bytes in
 * all; they are not read). The declaration below is the header's, its comments written with
 * `//`, each field's offset and the Linux version it came in (where newer than 2.6) added. The
 * offsets are the C layout on every 64-bit Linux ABI (natural alignment, which leaves no padding
 * anywhere in this struct); they were checked with `offsetof` against the header. The kernel
 * copies `min(optlen, sizeof(struct tcp_info))` bytes and reports how many: an older kernel fills
 * a shorter prefix, and the fields past it are not there.
 *
 * ```c
 * struct tcp_info {                      // offset, then [Linux version] where newer than 2.6
 *   __u8  tcpi_state;                    //   0
 *   __u8  tcpi_ca_state;                 //   1
 *   __u8  tcpi_retransmits;              //   2
 *   __u8  tcpi_probes;                   //   3
 *   __u8  tcpi_backoff;                  //   4
 *   __u8  tcpi_options;                  //   5
 *   __u8  tcpi_snd_wscale : 4, tcpi_rcv_wscale : 4;           //   6: bits 0-3 and 4-7
 *   __u8  tcpi_delivery_rate_app_limited:1, tcpi_fastopen_client_fail:2;  // 7: bits 0, 1-2
 *
 *   __u32 tcpi_rto;                      //   8  microseconds
 *   __u32 tcpi_ato;                      //  12
 *   __u32 tcpi_snd_mss;                  //  16
 *   __u32 tcpi_rcv_mss;                  //  20
 *
 *   __u32 tcpi_unacked;                  //  24  segments (a listener: its accept queue)
 *   __u32 tcpi_sacked;                   //  28
 *   __u32 tcpi_lost;                     //  32
 *   __u32 tcpi_retrans;                  //  36
 *   __u32 tcpi_fackets;                  //  40
 *
 *   // Times.                            //      milliseconds
 *   __u32 tcpi_last_data_sent;           //  44
 *   __u32 tcpi_last_ack_sent;            //  48  "Not remembered, sorry."
 *   __u32 tcpi_last_data_recv;           //  52
 *   __u32 tcpi_last_ack_recv;            //  56
 *
 *   // Metrics.
 *   __u32 tcpi_pmtu;                     //  60
 *   __u32 tcpi_rcv_ssthresh;             //  64
 *   __u32 tcpi_rtt;                      //  68  microseconds, smoothed
 *   __u32 tcpi_rttvar;                   //  72  microseconds
 *   __u32 tcpi_snd_ssthresh;             //  76
 *   __u32 tcpi_snd_cwnd;                 //  80  segments
 *   __u32 tcpi_advmss;                   //  84
 *   __u32 tcpi_reordering;               //  88
 *
 *   __u32 tcpi_rcv_rtt;                  //  92
 *   __u32 tcpi_rcv_space;                //  96
 *
 *   __u32 tcpi_total_retrans;            // 100  (104 bytes up to here)
 *
 *   __u64 tcpi_pacing_rate;              // 104  [3.15]
 *   __u64 tcpi_max_pacing_rate;          // 112
 *   __u64 tcpi_bytes_acked;              // 120  [4.1] RFC4898 tcpEStatsAppHCThruOctetsAcked
 *   __u64 tcpi_bytes_received;           // 128  RFC4898 tcpEStatsAppHCThruOctetsReceived
 *   __u32 tcpi_segs_out;                 // 136  [4.2] RFC4898 tcpEStatsPerfSegsOut
 *   __u32 tcpi_segs_in;                  // 140  RFC4898 tcpEStatsPerfSegsIn
 *
 *   __u32 tcpi_notsent_bytes;            // 144  [4.6]
 *   __u32 tcpi_min_rtt;                  // 148  microseconds; ~0U before the first sample
 *   __u32 tcpi_data_segs_in;             // 152  RFC4898 tcpEStatsDataSegsIn
 *   __u32 tcpi_data_segs_out;            // 156  RFC4898 tcpEStatsDataSegsOut
 *
 *   __u64 tcpi_delivery_rate;            // 160  [4.9]
 *
 *   __u64 tcpi_busy_time;                // 168  [4.10] Time (usec) busy sending data
 *   __u64 tcpi_rwnd_limited;             // 176  Time (usec) limited by receive window
 *   __u64 tcpi_sndbuf_limited;           // 184  Time (usec) limited by send buffer
 *
 *   __u32 tcpi_delivered;                // 192  [4.18]
 *   __u32 tcpi_delivered_ce;             // 196
 *
 *   __u64 tcpi_bytes_sent;               // 200  [4.19] RFC4898 tcpEStatsPerfHCDataOctetsOut
 *   __u64 tcpi_bytes_retrans;            // 208  RFC4898 tcpEStatsPerfOctetsRetrans
 *   __u32 tcpi_dsack_dups;               // 216  RFC4898 tcpEStatsStackDSACKDups
 *   __u32 tcpi_reord_seen;               // 220  reordering events seen
 *
 *   __u32 tcpi_rcv_ooopack;              // 224  [5.4] Out-of-order packets received
 *
 *   __u32 tcpi_snd_wnd;                  // 228  [5.4] peer's advertised receive window after
 *                                        //      scaling (bytes)
 *   __u32 tcpi_rcv_wnd;                  // 232  [6.2] local advertised receive window after
 *                                        //      scaling (bytes)
 *
 *   __u32 tcpi_rehash;                   // 236  PLB or timeout triggered rehash attempts
 *
 *   __u16 tcpi_total_rto;                // 240  [6.7] Total number of RTO timeouts, including
 *                                        //      SYN/SYN-ACK and recurring timeouts.
 *   __u16 tcpi_total_rto_recoveries;     // 242  Total number of RTO recoveries, including
 *                                        //      any unfinished recovery.
 *   __u32 tcpi_total_rto_time;           // 244  Total time spent in RTO recoveries in
 *                                        //      milliseconds, including any unfinished recovery.
 * };                                     // 248 = sizeof
 * ```
 */
export const TCP_INFO_LAYOUT = {
  size: 248,
  fields: {
    tcpi_state: { offset: 0, width: 1 },
    tcpi_retransmits: { offset: 2, width: 1 },
    tcpi_probes: { offset: 3, width: 1 },
    tcpi_rto: { offset: 8, width: 4 },
    tcpi_snd_mss: { offset: 16, width: 4 },
    tcpi_unacked: { offset: 24, width: 4 },
    tcpi_lost: { offset: 32, width: 4 },
    tcpi_last_data_sent: { offset: 44, width: 4 },
    tcpi_last_data_recv: { offset: 52, width: 4 },
    tcpi_last_ack_recv: { offset: 56, width: 4 },
    tcpi_rtt: { offset: 68, width: 4 },
    tcpi_rttvar: { offset: 72, width: 4 },
    tcpi_snd_cwnd: { offset: 80, width: 4 },
    tcpi_total_retrans: { offset: 100, width: 4 },
    tcpi_bytes_acked: { offset: 120, width: 8 },
    tcpi_bytes_received: { offset: 128, width: 8 },
    tcpi_min_rtt: { offset: 148, width: 4 },
    tcpi_bytes_sent: { offset: 200, width: 8 },
    tcpi_bytes_retrans: { offset: 208, width: 8 },
    tcpi_snd_wnd: { offset: 228, width: 4 },
    tcpi_total_rto: { offset: 240, width: 2 },
  },
} as const satisfies StructLayout<string>;

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

/** `recv` flags: look without taking (`MSG_PEEK`), never wait (`MSG_DONTWAIT`) (sys/socket.h). */
export const MSG_PEEK = 0x2;
/** See {@linkcode MSG_PEEK}. */
export const MSG_DONTWAIT = 0x40;
/** `getrlimit` resource: the most descriptors the process may hold (sys/resource.h). */
export const RLIMIT_NOFILE = 7;
/** Where a process's open descriptors are listed, one entry per descriptor number. */
export const FD_DIRECTORY = "/proc/self/fd";
/** Offset of `d_name` in glibc's `struct dirent` (ino 8 + off 8 + reclen 2 + type 1). */
export const DIRENT_NAME_OFFSET = 19;

/** errno: interrupted; try again (errno.h). */
export const EINTR = 4;
/** errno: nothing yet, and the call was asked not to wait (errno.h). */
export const EAGAIN = 11;
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
  fullPaths: LIBC_PATHS,
  errnoSymbol: "__errno_location",
  fdDirectory: FD_DIRECTORY,
  direntNameOffset: DIRENT_NAME_OFFSET,
  rlimitNofile: RLIMIT_NOFILE,
  peekNow: MSG_PEEK | MSG_DONTWAIT,
};

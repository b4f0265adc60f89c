/**
 * macOS (Darwin) numbers, from xnu's bsd/sys/socket.h, bsd/netinet/tcp.h, bsd/sys/errno.h and
 * bsd/sys/poll.h. Durations are whole seconds. sockaddrs start with a length byte (`sin_len`).
 *
 * @module
 */

import type { PosixLibrary, StructLayout } from "./types.ts";

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
/** `IPPROTO_TCP`: the kernel's record of the connection, a `struct tcp_connection_info`. */
export const TCP_CONNECTION_INFO = 0x106;

/**
 * TCP states by their RFC 793 names: the `TCPS_*` numbers of bsd/netinet/tcp_fsm.h (FreeBSD's
 * sys/netinet/tcp_fsm.h has the same), which `tcpi_state` reports.
 */
export const TCP_STATE_NAMES: Readonly<Record<number, string>> = {
  0: "CLOSED", // TCPS_CLOSED
  1: "LISTEN", // TCPS_LISTEN
  2: "SYN_SENT", // TCPS_SYN_SENT
  3: "SYN_RECEIVED", // TCPS_SYN_RECEIVED
  4: "ESTABLISHED", // TCPS_ESTABLISHED
  5: "CLOSE_WAIT", // TCPS_CLOSE_WAIT
  6: "FIN_WAIT_1", // TCPS_FIN_WAIT_1
  7: "CLOSING", // TCPS_CLOSING
  8: "LAST_ACK", // TCPS_LAST_ACK
  9: "FIN_WAIT_2", // TCPS_FIN_WAIT_2
  10: "TIME_WAIT", // TCPS_TIME_WAIT
};

/**
 * The fields sockalive reads from `struct tcp_connection_info`, as xnu's bsd/netinet/tcp.h
 * declares it (the public header; `tcpi_txretransmitpackets` was added last, so an older system
 * may fill only 104 bytes). The declaration below is the header's, its comments
 * written with `//` and each field's offset added; the 64-bit counters are `aligned(8)`, which
 * changes nothing here (56 is already a multiple of 8). xnu fills only `tcpi_state` for a socket
 * that is closed or listening, and reports `tcpi_rto` only while the retransmission timer runs
 * (0 otherwise). Times are in milliseconds (xnu's TCP clock runs at 1000 Hz).
 *
 * ```c
 * struct tcp_connection_info {
 *   u_int8_t  tcpi_state;              //   0  connection state
 *   u_int8_t  tcpi_snd_wscale;         //   1  Window scale for send window
 *   u_int8_t  tcpi_rcv_wscale;         //   2  Window scale for receive window
 *   u_int8_t  __pad1;                  //   3
 *   u_int32_t tcpi_options;            //   4  TCP options supported
 *   u_int32_t tcpi_flags;              //   8  flags
 *   u_int32_t tcpi_rto;                //  12  retransmit timeout in ms
 *   u_int32_t tcpi_maxseg;             //  16  maximum segment size supported
 *   u_int32_t tcpi_snd_ssthresh;       //  20  slow start threshold in bytes
 *   u_int32_t tcpi_snd_cwnd;           //  24  send congestion window in bytes
 *   u_int32_t tcpi_snd_wnd;            //  28  send widnow in bytes
 *   u_int32_t tcpi_snd_sbbytes;        //  32  bytes in send socket buffer, including
 *                                      //      in-flight data
 *   u_int32_t tcpi_rcv_wnd;            //  36  receive window in bytes
 *   u_int32_t tcpi_rttcur;             //  40  most recent RTT in ms
 *   u_int32_t tcpi_srtt;               //  44  average RTT in ms
 *   u_int32_t tcpi_rttvar;             //  48  RTT variance
 *   u_int32_t tcpi_tfo_cookie_req:1,   //  52  15 one-bit TCP Fast Open flags, bits 0-14:
 *             ...                      //      tcpi_tfo_cookie_rcv:1 ... tcpi_tfo_onebyte_proxy:1,
 *             __pad2:17;               //      then 17 bits of padding
 *   u_int64_t tcpi_txpackets __attribute__((aligned(8)));           //  56
 *   u_int64_t tcpi_txbytes __attribute__((aligned(8)));             //  64
 *   u_int64_t tcpi_txretransmitbytes __attribute__((aligned(8)));   //  72
 *   u_int64_t tcpi_rxpackets __attribute__((aligned(8)));           //  80
 *   u_int64_t tcpi_rxbytes __attribute__((aligned(8)));             //  88
 *   u_int64_t tcpi_rxoutoforderbytes __attribute__((aligned(8)));   //  96
 *   u_int64_t tcpi_txretransmitpackets __attribute__((aligned(8))); // 104
 * };                                                                // 112 = sizeof
 * ```
 */
export const TCP_CONNECTION_INFO_LAYOUT = {
  size: 112,
  fields: {
    tcpi_state: { offset: 0, width: 1 },
    tcpi_rto: { offset: 12, width: 4 },
    tcpi_maxseg: { offset: 16, width: 4 },
    tcpi_snd_cwnd: { offset: 24, width: 4 },
    tcpi_snd_wnd: { offset: 28, width: 4 },
    tcpi_snd_sbbytes: { offset: 32, width: 4 },
    tcpi_srtt: { offset: 44, width: 4 },
    tcpi_rttvar: { offset: 48, width: 4 },
    tcpi_txbytes: { offset: 64, width: 8 },
    tcpi_txretransmitbytes: { offset: 72, width: 8 },
    tcpi_rxbytes: { offset: 88, width: 8 },
    tcpi_txretransmitpackets: { offset: 104, width: 8 },
  },
} as const satisfies StructLayout<string>;

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
/** `recv` flags: look without taking (`MSG_PEEK`), never wait (`MSG_DONTWAIT`) (sys/socket.h). */
export const MSG_PEEK = 0x2;
/** See {@linkcode MSG_PEEK}. */
export const MSG_DONTWAIT = 0x80;
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
  // In the dyld shared cache since macOS 11: dlopen finds it by this path, though no file is there.
  fullPaths: [{ path: `/usr/lib/${LIBC}` }],
  errnoSymbol: "__error",
  fdDirectory: FD_DIRECTORY,
  direntNameOffset: DIRENT_NAME_OFFSET,
  rlimitNofile: RLIMIT_NOFILE,
  peekNow: MSG_PEEK | MSG_DONTWAIT,
};

/**
 * FreeBSD numbers, from sys/sys/socket.h and sys/netinet/tcp.h. Untested: no FreeBSD machine or
 * emulator runs here; the recording-fake unit tests pin the calls. FreeBSD has no user timeout.
 *
 * @module
 */

import type { PosixLibrary, StructLayout } from "./types.ts";

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
  TCP_STATE_NAMES,
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
/** `IPPROTO_TCP`: the kernel's record of the connection, FreeBSD's own `struct tcp_info`. */
export const TCP_INFO = 0x20;

/**
 * The fields sockalive reads from FreeBSD's `struct tcp_info`, as sys/netinet/tcp.h declares it:
 * the same names and order as Linux's where the field exists, `__`-prefixed placeholders where it
 * does not, then FreeBSD's own fields and padding. The declaration below is FreeBSD 14's, its
 * comments written with `//` and each field's offset added. Everything up to `tcpi_snd_zerowin`
 * is as in earlier releases, where `u_int32_t __tcpi_pad[26]` followed (236 bytes); FreeBSD 14
 * turned part of that padding into the fields after it, none of which is read here, and its
 * `u_int64_t` makes the struct 240 bytes on 64-bit. The kernel copies `min(optlen, sizeof ti)`.
 * Its tcp_fill_info() reports times in microseconds, `tcpi_snd_cwnd` in bytes, and states as
 * `TCPS_*` numbers; `tcpi_last_data_recv` is the time since the last segment of any kind arrived
 * (`ticks - t_rcvtime`, which tcp_input() resets for every segment, a bare ACK included), not
 * only data.
 *
 * ```c
 * struct tcp_info {
 *   u_int8_t  tcpi_state;              //   0  TCP FSM state.
 *   u_int8_t  __tcpi_ca_state;         //   1
 *   u_int8_t  __tcpi_retransmits;      //   2
 *   u_int8_t  __tcpi_probes;           //   3
 *   u_int8_t  __tcpi_backoff;          //   4
 *   u_int8_t  tcpi_options;            //   5  Options enabled on conn.
 *   u_int8_t  tcpi_snd_wscale:4,       //   6  RFC1323 send shift value (bits 0-3).
 *             tcpi_rcv_wscale:4;       //      RFC1323 recv shift value (bits 4-7).
 *                                      //   7  (padding)
 *   u_int32_t tcpi_rto;                //   8  Retransmission timeout (usec).
 *   u_int32_t __tcpi_ato;              //  12
 *   u_int32_t tcpi_snd_mss;            //  16  Max segment size for send.
 *   u_int32_t tcpi_rcv_mss;            //  20  Max segment size for receive.
 *
 *   u_int32_t __tcpi_unacked;          //  24
 *   u_int32_t __tcpi_sacked;           //  28
 *   u_int32_t __tcpi_lost;             //  32
 *   u_int32_t __tcpi_retrans;          //  36
 *   u_int32_t __tcpi_fackets;          //  40
 *
 *   // Times; measurements in usecs.
 *   u_int32_t __tcpi_last_data_sent;   //  44
 *   u_int32_t __tcpi_last_ack_sent;    //  48  Also unimpl. on Linux?
 *   u_int32_t tcpi_last_data_recv;     //  52  Time since last recv data.
 *   u_int32_t __tcpi_last_ack_recv;    //  56
 *
 *   // Metrics; variable units.
 *   u_int32_t __tcpi_pmtu;             //  60
 *   u_int32_t __tcpi_rcv_ssthresh;     //  64
 *   u_int32_t tcpi_rtt;                //  68  Smoothed RTT in usecs.
 *   u_int32_t tcpi_rttvar;             //  72  RTT variance in usecs.
 *   u_int32_t tcpi_snd_ssthresh;       //  76  Slow start threshold.
 *   u_int32_t tcpi_snd_cwnd;           //  80  Send congestion window.
 *   u_int32_t __tcpi_advmss;           //  84
 *   u_int32_t __tcpi_reordering;       //  88
 *
 *   u_int32_t __tcpi_rcv_rtt;          //  92
 *   u_int32_t tcpi_rcv_space;          //  96  Advertised recv window.
 *
 *   // FreeBSD extensions to tcp_info.
 *   u_int32_t tcpi_snd_wnd;            // 100  Advertised send window.
 *   u_int32_t tcpi_snd_bwnd;           // 104  No longer used.
 *   u_int32_t tcpi_snd_nxt;            // 108  Next egress seqno
 *   u_int32_t tcpi_rcv_nxt;            // 112  Next ingress seqno
 *   u_int32_t tcpi_toe_tid;            // 116  HWTID for TOE endpoints
 *   u_int32_t tcpi_snd_rexmitpack;     // 120  Retransmitted packets
 *   u_int32_t tcpi_rcv_ooopack;        // 124  Out-of-order packets
 *   u_int32_t tcpi_snd_zerowin;        // 128  Zero-sized windows sent
 *
 *   // Accurate ECN counters.
 *   u_int32_t tcpi_delivered_ce;       // 132
 *   u_int32_t tcpi_received_ce;        // 136  # of CE marks received
 *   u_int32_t __tcpi_delivered_e1_bytes; // 140
 *   u_int32_t __tcpi_delivered_e0_bytes; // 144
 *   u_int32_t __tcpi_delivered_ce_bytes; // 148
 *   u_int32_t __tcpi_received_e1_bytes;  // 152
 *   u_int32_t __tcpi_received_e0_bytes;  // 156
 *   u_int32_t __tcpi_received_ce_bytes;  // 160
 *
 *   u_int32_t tcpi_total_tlp;          // 164  tail loss probes sent
 *   u_int64_t tcpi_total_tlp_bytes;    // 168  tail loss probe bytes sent
 *
 *   u_int32_t tcpi_snd_una;            // 176  Unacked seqno sent
 *   u_int32_t tcpi_snd_max;            // 180  Highest seqno sent
 *   u_int32_t tcpi_rcv_numsacks;       // 184  Distinct SACK blks present
 *   u_int32_t tcpi_rcv_adv;            // 188  Peer advertised window
 *   u_int32_t tcpi_dupacks;            // 192  Consecutive dup ACKs recvd
 *
 *   // Padding to grow without breaking ABI.
 *   u_int32_t __tcpi_pad[10];          // 196  Padding.
 * };                                   // 240 = sizeof (236 + 4 to align the u_int64_t)
 * ```
 */
export const TCP_INFO_LAYOUT = {
  size: 240,
  fields: {
    tcpi_state: { offset: 0, width: 1 },
    tcpi_rto: { offset: 8, width: 4 },
    tcpi_snd_mss: { offset: 16, width: 4 },
    tcpi_last_data_recv: { offset: 52, width: 4 },
    tcpi_rtt: { offset: 68, width: 4 },
    tcpi_rttvar: { offset: 72, width: 4 },
    tcpi_snd_cwnd: { offset: 80, width: 4 },
    tcpi_snd_wnd: { offset: 100, width: 4 },
    tcpi_snd_rexmitpack: { offset: 120, width: 4 },
  },
} as const satisfies StructLayout<string>;

/** The kernel stores these in ticks in an int; stay far below its overflow. */
export const MAX_DURATION_SECONDS = 2147483;
/** FreeBSD's AF_INET6. */
export const AF_INET6 = 28;
/** BSD sockaddrs begin with `sin_len`. */
export const SOCKADDR_HAS_LENGTH_BYTE = true;
/** `recv` flags: look without taking (`MSG_PEEK`), never wait (`MSG_DONTWAIT`) (sys/socket.h). */
export const MSG_PEEK = 0x2;
/** See {@linkcode MSG_PEEK}. */
export const MSG_DONTWAIT = 0x80;
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
  fullPaths: [{ path: `/lib/${LIBC}` }],
  errnoSymbol: "__error",
  fdDirectory: FD_DIRECTORY,
  direntNameOffset: DIRENT_NAME_OFFSET,
  rlimitNofile: RLIMIT_NOFILE,
  peekNow: MSG_PEEK | MSG_DONTWAIT,
};

/**
 * Windows (Winsock 2) numbers, from winsock2.h, ws2def.h, ws2ipdef.h, mstcpip.h and
 * winerror.h. `SOCKET` handles are pointer-sized; errors come from `WSAGetLastError`.
 *
 * @module
 */

import type { StructLayout, WinsockLibrary } from "./types.ts";

/** The library opened with `dlopen`. */
export const WINSOCK = "ws2_32.dll";
/** Option level for socket-wide options. */
export const SOL_SOCKET = 0xffff;
/** `SOL_SOCKET`: keepalive on or off (BOOL; Wine answers with one byte). */
export const SO_KEEPALIVE = 0x0008;
/** `SOL_SOCKET`: the socket type (int). */
export const SO_TYPE = 0x1008;
/** `SO_TYPE` of a TCP socket. */
export const SOCK_STREAM = 1;
/** Level for TCP options. */
export const IPPROTO_TCP = 6;
/** `IPPROTO_TCP`: seconds retransmissions may go on before the drop (-1 = forever). */
export const TCP_MAXRT = 5;
/** `IPPROTO_TCP`: unanswered probes before the drop (Windows 10 1703 and later). */
export const TCP_KEEPCNT = 16;
/** The probe count Windows uses when TCP_KEEPCNT cannot be set. */
export const FIXED_KEEPALIVE_COUNT = 10;
/** Windows' own keepalive defaults, used for a time the caller leaves out (see windows.ts). */
export const DEFAULT_KEEPALIVE_TIME_MS = 7_200_000;
/** See {@linkcode DEFAULT_KEEPALIVE_TIME_MS}. */
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 1_000;
/** `WSAIoctl` code: `_WSAIOW(IOC_VENDOR, 4)`; input `struct tcp_keepalive`. */
export const SIO_KEEPALIVE_VALS = 0x98000004;
/** `struct tcp_keepalive { ULONG onoff; ULONG keepalivetime; ULONG keepaliveinterval; }`, ms. */
export const TCP_KEEPALIVE_STRUCT_SIZE = 12;
/**
 * `WSAIoctl` code: `_WSAIORW(IOC_VENDOR, 39)` (IOC_INOUT 0xC0000000 | IOC_VENDOR 0x18000000 | 39);
 * input a DWORD version (0: `TCP_INFO_v0`), output the `TCP_INFO_v0`. Windows 10 1703 and later.
 */
export const SIO_TCP_INFO = 0xd8000027;
/** The input of {@linkcode SIO_TCP_INFO}: a DWORD, the version of the struct asked for. */
export const TCP_INFO_VERSION_SIZE = 4;

/**
 * TCP states by name: mstcpip.h's `typedef enum _TCPSTATE { TCPSTATE_CLOSED, ... }`, numbered
 * from 0 in this order.
 */
export const TCP_STATE_NAMES: Readonly<Record<number, string>> = {
  0: "CLOSED", // TCPSTATE_CLOSED
  1: "LISTEN", // TCPSTATE_LISTEN
  2: "SYN_SENT", // TCPSTATE_SYN_SENT
  3: "SYN_RECEIVED", // TCPSTATE_SYN_RCVD
  4: "ESTABLISHED", // TCPSTATE_ESTABLISHED
  5: "FIN_WAIT_1", // TCPSTATE_FIN_WAIT_1
  6: "FIN_WAIT_2", // TCPSTATE_FIN_WAIT_2
  7: "CLOSE_WAIT", // TCPSTATE_CLOSE_WAIT
  8: "CLOSING", // TCPSTATE_CLOSING
  9: "LAST_ACK", // TCPSTATE_LAST_ACK
  10: "TIME_WAIT", // TCPSTATE_TIME_WAIT
};

/**
 * The fields sockalive reads from `TCP_INFO_v0`, as mstcpip.h declares it (under
 * `NTDDI_VERSION >= NTDDI_WIN10_RS2`, that is Windows 10 1703). x64 layout: `TCPSTATE` is an
 * enum (4 bytes), `BOOLEAN` and `UCHAR` one byte, `ULONG` 4 bytes, `ULONG64` 8 bytes aligned to
 * 8; the declaration below is the header's with each field's offset added.
 *
 * ```c
 * typedef struct _TCP_INFO_v0 {
 *     TCPSTATE State;              //  0
 *     ULONG Mss;                   //  4
 *     ULONG64 ConnectionTimeMs;    //  8
 *     BOOLEAN TimestampsEnabled;   // 16  (then 3 bytes of padding)
 *     ULONG RttUs;                 // 20
 *     ULONG MinRttUs;              // 24
 *     ULONG BytesInFlight;         // 28
 *     ULONG Cwnd;                  // 32
 *     ULONG SndWnd;                // 36
 *     ULONG RcvWnd;                // 40
 *     ULONG RcvBuf;                // 44
 *     ULONG64 BytesOut;            // 48
 *     ULONG64 BytesIn;             // 56
 *     ULONG BytesReordered;        // 64
 *     ULONG BytesRetrans;          // 68
 *     ULONG FastRetrans;           // 72
 *     ULONG DupAcksIn;             // 76
 *     ULONG TimeoutEpisodes;       // 80
 *     UCHAR SynRetrans;            // 84  (then 3 bytes of padding)
 * } TCP_INFO_v0, *PTCP_INFO_v0;    // 88 = sizeof
 * ```
 */
export const TCP_INFO_V0_LAYOUT = {
  size: 88,
  fields: {
    State: { offset: 0, width: 4 },
    Mss: { offset: 4, width: 4 },
    RttUs: { offset: 20, width: 4 },
    MinRttUs: { offset: 24, width: 4 },
    BytesInFlight: { offset: 28, width: 4 },
    Cwnd: { offset: 32, width: 4 },
    SndWnd: { offset: 36, width: 4 },
    BytesOut: { offset: 48, width: 8 },
    BytesIn: { offset: 56, width: 8 },
    BytesRetrans: { offset: 68, width: 4 },
    TimeoutEpisodes: { offset: 80, width: 4 },
  },
} as const satisfies StructLayout<string>;

/** Address families. */
export const AF_INET = 2;
/** See {@linkcode AF_INET}. */
export const AF_INET6 = 23;
/** Windows sockaddrs start with a 16-bit family, like Linux. */
export const SOCKADDR_HAS_LENGTH_BYTE = false;
/** `WSAPoll` events: POLLRDNORM; POLLERR, POLLHUP, POLLNVAL are reported whatever was asked. */
export const POLLRDNORM = 0x0100;
/** See {@linkcode POLLRDNORM}. */
export const POLLERR = 0x0001;
/** See {@linkcode POLLRDNORM}. */
export const POLLHUP = 0x0002;
/** See {@linkcode POLLRDNORM}. */
export const POLLNVAL = 0x0004;
/** `struct WSAPOLLFD { SOCKET fd; SHORT events; SHORT revents; }` is 16 bytes on x64. */
export const WSAPOLLFD_SIZE = 16;
/** SOCKET handles are multiples of 4; the Deno lookup scans up to this many of them. */
export const MAX_SCANNED_HANDLE = 0x20000;

/** Winsock error numbers to names. */
export const WSA_ERROR_NAMES: Readonly<Record<number, string>> = {
  10004: "WSAEINTR",
  10009: "WSAEBADF",
  10013: "WSAEACCES",
  10014: "WSAEFAULT",
  10022: "WSAEINVAL",
  10024: "WSAEMFILE",
  10035: "WSAEWOULDBLOCK",
  10038: "WSAENOTSOCK",
  10042: "WSAENOPROTOOPT",
  10043: "WSAEPROTONOSUPPORT",
  10045: "WSAEOPNOTSUPP",
  10047: "WSAEAFNOSUPPORT",
  10050: "WSAENETDOWN",
  10051: "WSAENETUNREACH",
  10053: "WSAECONNABORTED",
  10054: "WSAECONNRESET",
  10055: "WSAENOBUFS",
  10057: "WSAENOTCONN",
  10058: "WSAESHUTDOWN",
  10060: "WSAETIMEDOUT",
  10061: "WSAECONNREFUSED",
  10065: "WSAEHOSTUNREACH",
  10093: "WSANOTINITIALISED",
};

/** Winsock as sockalive opens it. */
export const LIBRARY: WinsockLibrary = {
  kind: "winsock",
  path: WINSOCK,
  fullPaths: [{ path: `C:\\Windows\\System32\\${WINSOCK}` }],
};

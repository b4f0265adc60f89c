/**
 * Windows (Winsock 2) numbers, from winsock2.h, ws2def.h, ws2ipdef.h, mstcpip.h and
 * winerror.h. `SOCKET` handles are pointer-sized; errors come from `WSAGetLastError`.
 *
 * @module
 */

import type { WinsockLibrary } from "./types.ts";

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
export const LIBRARY: WinsockLibrary = { kind: "winsock", path: WINSOCK };

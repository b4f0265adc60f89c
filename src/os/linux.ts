/**
 * Keepalive on Linux: `SO_KEEPALIVE`, then `TCP_KEEPIDLE`, `TCP_KEEPINTVL` and `TCP_KEEPCNT`
 * (whole seconds and a count), and `TCP_USER_TIMEOUT` (milliseconds), all as C ints.
 *
 * @module
 */

import {
  AF_INET,
  AF_INET6,
  EAGAIN,
  EINTR,
  ERRNO_NAMES,
  IPPROTO_TCP,
  MAX_TCP_KEEPCNT,
  MAX_TCP_KEEPIDLE_SECONDS,
  MAX_TCP_KEEPINTVL_SECONDS,
  MAX_TCP_USER_TIMEOUT_MS,
  POLLERR,
  POLLHUP,
  POLLNVAL,
  POLLRDHUP,
  SO_COOKIE,
  SO_KEEPALIVE,
  SO_NETNS_COOKIE,
  SO_PEERNAME,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCKADDR_IN6_SIZE,
  SOCKADDR_IN_SIZE,
  SOL_SOCKET,
  TCP_INFO,
  TCP_INFO_LAYOUT,
  TCP_KEEPCNT,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
  TCP_STATE_NAMES,
  TCP_USER_TIMEOUT,
} from "../../ffi/linux.ts";
import {
  healthError,
  measured,
  put,
  structReader,
  type TcpHealth,
  tcpState,
  usToMs,
} from "../health.ts";
import type { KeepAliveInfo, KeepAliveLimits } from "../options.ts";
import { toMillis, toSeconds } from "../options.ts";
import type { Descriptor, SocketCalls } from "../../ffi/types.ts";
import { applyEach, getInt, type KnownKeepAlive, type Platform, setInt } from "./platform.ts";

const NONE: KnownKeepAlive = Object.freeze({});

/**
 * What Linux accepts, in ms: whole seconds for `idle` and `interval`.
 *
 * @example
 * ```ts
 * import { LINUX_LIMITS } from "./linux.ts";
 * import assert from "node:assert/strict";
 * assert.equal(LINUX_LIMITS.durationUnit, 1000); // idle and interval are whole seconds
 * assert.deepEqual(LINUX_LIMITS.idle, [1000, 32_767_000]);
 * assert.deepEqual(LINUX_LIMITS.count, [1, 127]);
 * ```
 */
export const LINUX_LIMITS: KeepAliveLimits = Object.freeze({
  os: "Linux",
  durationUnit: 1000,
  idle: [1000, toMillis(MAX_TCP_KEEPIDLE_SECONDS)] as const,
  interval: [1000, toMillis(MAX_TCP_KEEPINTVL_SECONDS)] as const,
  count: [1, MAX_TCP_KEEPCNT] as const,
  userTimeout: [0, MAX_TCP_USER_TIMEOUT_MS] as const,
});

/** Linux's implementation of each option. */
export const linux: Platform = {
  limits: LINUX_LIMITS,
  errnoNames: ERRNO_NAMES,
  families: { inet: AF_INET, inet6: AF_INET6, lengthByte: false },

  setEnabled(calls: SocketCalls, fd: Descriptor, on: boolean): void {
    setInt(this, calls, fd, SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0, "enabled");
  },
  setIdle(calls: SocketCalls, fd: Descriptor, ms: number): void {
    setInt(this, calls, fd, IPPROTO_TCP, TCP_KEEPIDLE, toSeconds(ms), "idle");
  },
  setInterval(calls: SocketCalls, fd: Descriptor, ms: number): void {
    setInt(this, calls, fd, IPPROTO_TCP, TCP_KEEPINTVL, toSeconds(ms), "interval");
  },
  setCount(calls: SocketCalls, fd: Descriptor, count: number): void {
    setInt(this, calls, fd, IPPROTO_TCP, TCP_KEEPCNT, count, "count");
  },
  setUserTimeout(calls: SocketCalls, fd: Descriptor, ms: number): void {
    setInt(this, calls, fd, IPPROTO_TCP, TCP_USER_TIMEOUT, ms, "userTimeout");
  },
  apply(calls, fd, options, bestEffort, read): KnownKeepAlive {
    // Linux stores each of these exactly as given once setsockopt succeeds (net/ipv4/tcp.c:
    // keepalive_time = val * HZ, keepalive_intvl = val * HZ, keepalive_probes = val,
    // user_timeout = val; sock_valbool_flag for SO_KEEPALIVE), none of them changes another,
    // and nothing else in the process runs before the read-back: reading them again would
    // return what was just set, or what the check read (`read`, the user timeout) before.
    // tests/loopback.test.ts proves both value by value against the kernel.
    return applyEach(this, calls, fd, options, bestEffort, read);
  },
  getKeepAlive(calls: SocketCalls, fd: Descriptor, known: KnownKeepAlive = NONE): KeepAliveInfo {
    return {
      enabled: known.enabled ??
        getInt(this, calls, fd, SOL_SOCKET, SO_KEEPALIVE, "enabled") !== 0,
      idle: known.idle ?? toMillis(getInt(this, calls, fd, IPPROTO_TCP, TCP_KEEPIDLE, "idle")),
      interval: known.interval ??
        toMillis(getInt(this, calls, fd, IPPROTO_TCP, TCP_KEEPINTVL, "interval")),
      count: known.count ?? getInt(this, calls, fd, IPPROTO_TCP, TCP_KEEPCNT, "count"),
      // An unsigned int in the kernel; read as such so nothing can come back negative.
      userTimeout: known.userTimeout ??
        getInt(this, calls, fd, IPPROTO_TCP, TCP_USER_TIMEOUT, "userTimeout") >>> 0,
    };
  },
  tcpSocket(calls: SocketCalls, fd: Descriptor): KnownKeepAlive | undefined {
    // Only a TCP socket answers a TCP-level option: UDP and raw sockets refuse it (ip_getsockopt:
    // ENOPROTOOPT), so the read is the check, one system call where SO_TYPE would be a second.
    // Scratch shared by every call (synchronous; see platform.ts's INT for why).
    TCP_INT[0] = 0;
    if (calls.getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, TCP_INT_BYTES) !== 4) return undefined;
    // An unsigned int in the kernel; read as such so nothing can come back negative.
    return { userTimeout: TCP_INT[0]! >>> 0 };
  },
  cookie(calls: SocketCalls, fd: Descriptor): bigint | undefined {
    return getU64(calls, fd, SO_COOKIE);
  },
  namespace(calls: SocketCalls, fd: Descriptor): bigint | undefined {
    if (!readU64(calls, fd, SO_NETNS_COOKIE)) return undefined;
    // Nearly every socket is in the namespace read last: that bigint again, rather than a new
    // one made from the bytes (an allocation on every lookup of a guessed descriptor).
    if (U64_HALVES[0] !== LAST_NAMESPACE_HALVES[0] || U64_HALVES[1] !== LAST_NAMESPACE_HALVES[1]) {
      lastNamespace = U64[0]!;
      LAST_NAMESPACE_HALVES.set(U64_HALVES);
    }
    return lastNamespace;
  },
  homeNamespace(calls: SocketCalls): bigint | undefined {
    const fd = calls.socket?.(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0) ?? -1;
    if (fd < 0) return undefined;
    try {
      return getU64(calls, fd, SO_NETNS_COOKIE);
    } finally {
      calls.close?.(fd);
    }
  },
  peek(calls: SocketCalls, fd: Descriptor): "open" | "ended" {
    // POLLRDHUP: the peer sent FIN; POLLERR: the kernel holds an error (ETIMEDOUT, ECONNRESET);
    // POLLHUP: both directions are shut. poll never consumes data or clears the error.
    const revents = calls.poll(fd, POLLRDHUP);
    if (revents < 0) return "ended";
    return revents & (POLLRDHUP | POLLERR | POLLHUP | POLLNVAL) ? "ended" : "open";
  },
  takeError(calls: SocketCalls, fd: Descriptor): number | undefined {
    const n = calls.recvPeek?.(fd) ?? 0;
    // 1: bytes come first; 0: a FIN does; EAGAIN: nothing yet; EINTR: a read will tell.
    return n < 0 && n !== -EAGAIN && n !== -EINTR ? -n : undefined;
  },
  connectingPeer(calls: SocketCalls, fd: Descriptor, out: Uint8Array, inet6: boolean): number {
    // getpeername answers once connected: then the connect is no longer in progress.
    if (calls.getpeername(fd, out) >= 0) return -1;
    return calls.getsockopt(
      fd,
      SOL_SOCKET,
      SO_PEERNAME,
      out.subarray(0, inet6 ? SOCKADDR_IN6_SIZE : SOCKADDR_IN_SIZE),
    );
  },
  health(calls: SocketCalls, fd: Descriptor): TcpHealth {
    const length = calls.getsockopt(fd, IPPROTO_TCP, TCP_INFO, TCP_INFO_BYTES.fill(0));
    if (length < 0) {
      throw healthError(ERRNO_NAMES, "getsockopt", "getsockopt(TCP_INFO)", -length);
    }
    return decodeTcpInfo(TCP_INFO_BYTES, length);
  },
};

// Scratch for TCP_INFO (synchronous; see platform.ts's INT for why it is shared).
const TCP_INFO_BYTES = new Uint8Array(TCP_INFO_LAYOUT.size);

/**
 * Linux's `struct tcp_info` (ffi/linux.ts {@linkcode TCP_INFO_LAYOUT}) of which the kernel filled
 * `length` bytes, as {@linkcode TcpHealth}: µs to ms for the round-trip times and the RTO, the
 * congestion window from segments to bytes. A listener reports its state only (the kernel fills
 * little else for one, and `tcpi_unacked` is then its accept queue).
 */
export function decodeTcpInfo(bytes: Uint8Array, length: number): TcpHealth {
  const f = TCP_INFO_LAYOUT.fields;
  const read = structReader(bytes, length);
  const health: TcpHealth = {};
  const state = read(f.tcpi_state);
  put(health, "state", tcpState(state, TCP_STATE_NAMES));
  if (health.state === "LISTEN") return health;
  // srtt_us is 0 until the first round trip is measured; rttvar then holds an initial guess.
  const rtt = measured(read(f.tcpi_rtt));
  if (rtt !== undefined) {
    health.rtt = usToMs(rtt);
    put(health, "rttVariance", usToMs(read(f.tcpi_rttvar)));
  }
  put(health, "minRtt", usToMs(measured(read(f.tcpi_min_rtt))));
  put(health, "rto", usToMs(read(f.tcpi_rto)));
  put(health, "unacked", read(f.tcpi_unacked));
  put(health, "retransmits", read(f.tcpi_retransmits));
  put(health, "totalRetransmits", read(f.tcpi_total_retrans));
  put(health, "timeouts", read(f.tcpi_total_rto));
  put(health, "probes", read(f.tcpi_probes));
  put(health, "lost", read(f.tcpi_lost));
  put(health, "lastReceived", read(f.tcpi_last_data_recv));
  put(health, "lastSent", read(f.tcpi_last_data_sent));
  put(health, "lastAckReceived", read(f.tcpi_last_ack_recv));
  const cwnd = read(f.tcpi_snd_cwnd), mss = read(f.tcpi_snd_mss);
  put(health, "mss", mss);
  if (cwnd !== undefined && mss !== undefined) health.congestionWindow = cwnd * mss;
  put(health, "sendWindow", read(f.tcpi_snd_wnd));
  put(health, "bytesSent", read(f.tcpi_bytes_sent));
  put(health, "bytesAcked", read(f.tcpi_bytes_acked));
  put(health, "bytesReceived", read(f.tcpi_bytes_received));
  put(health, "bytesRetransmitted", read(f.tcpi_bytes_retrans));
  return health;
}

/** A 64-bit `SOL_SOCKET` option (the cookies), or `undefined` if it cannot be read. */
function getU64(calls: SocketCalls, fd: Descriptor, name: number): bigint | undefined {
  return readU64(calls, fd, name) ? U64[0] : undefined;
}

/** Reads a 64-bit `SOL_SOCKET` option into `U64`; whether the kernel gave all 8 bytes. */
function readU64(calls: SocketCalls, fd: Descriptor, name: number): boolean {
  U64[0] = 0n;
  return calls.getsockopt(fd, SOL_SOCKET, name, U64_BYTES) === 8;
}

const U64 = new BigUint64Array(1);
const U64_BYTES = new Uint8Array(U64.buffer);
const U64_HALVES = new Uint32Array(U64.buffer);
/** The namespace cookie read last, and its two halves. */
let lastNamespace = 0n;
const LAST_NAMESPACE_HALVES = new Uint32Array(2);
const TCP_INT = new Int32Array(1);
const TCP_INT_BYTES = new Uint8Array(TCP_INT.buffer);

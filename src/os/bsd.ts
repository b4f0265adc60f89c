/**
 * Keepalive on macOS and FreeBSD: `SO_KEEPALIVE`, then the idle time (`TCP_KEEPALIVE` on macOS,
 * `TCP_KEEPIDLE` on FreeBSD), `TCP_KEEPINTVL` and `TCP_KEEPCNT`, in whole seconds and a count,
 * all C ints. The user timeout is `TCP_RXT_CONNDROPTIME` (whole seconds) on macOS; FreeBSD has
 * none. No POLLRDHUP: while paused, only an error (not a FIN) is seen without reading.
 *
 * @module
 */

import * as freebsdNumbers from "../../ffi/freebsd.ts";
import * as macosNumbers from "../../ffi/macos.ts";
import type { KeepAliveInfo, KeepAliveLimits } from "../options.ts";
import { toMillis, toSeconds } from "../options.ts";
import type { Descriptor, SocketCalls } from "../../ffi/types.ts";
import {
  applyEach,
  getInt,
  type KnownKeepAlive,
  NOTHING_READ,
  type Platform,
  setInt,
} from "./platform.ts";
import {
  healthError,
  measured,
  put,
  structReader,
  type TcpHealth,
  tcpState,
  usToMs,
} from "../health.ts";

interface BsdNumbers {
  os: string;
  errnoNames: Readonly<Record<number, string>>;
  SOL_SOCKET: number;
  SO_KEEPALIVE: number;
  SO_TYPE: number;
  SOCK_STREAM: number;
  IPPROTO_TCP: number;
  idleOption: number;
  TCP_KEEPINTVL: number;
  TCP_KEEPCNT: number;
  userTimeoutOption: number | undefined;
  maxSeconds: number;
  AF_INET: number;
  AF_INET6: number;
  POLLERR: number;
  POLLHUP: number;
  POLLNVAL: number;
  /** The kernel's record of the connection: its option, its size, and how to decode it. */
  info: {
    name: string;
    option: number;
    size: number;
    decode(bytes: Uint8Array, length: number): TcpHealth;
  };
}

function bsd(n: BsdNumbers): Platform {
  const limits: KeepAliveLimits = Object.freeze({
    os: n.os,
    durationUnit: 1000,
    idle: [1000, toMillis(n.maxSeconds)] as const,
    interval: [1000, toMillis(n.maxSeconds)] as const,
    count: [1, 2 ** 31 - 1] as const,
    // FreeBSD has no user timeout: only 0 ("the system's default") is accepted.
    userTimeout: [0, n.userTimeoutOption === undefined ? 0 : toMillis(n.maxSeconds)] as const,
  });
  return {
    limits,
    errnoNames: n.errnoNames,
    families: { inet: n.AF_INET, inet6: n.AF_INET6, lengthByte: true },
    setEnabled(calls: SocketCalls, fd: Descriptor, on: boolean): void {
      setInt(this, calls, fd, n.SOL_SOCKET, n.SO_KEEPALIVE, on ? 1 : 0, "enabled");
    },
    setIdle(calls: SocketCalls, fd: Descriptor, ms: number): void {
      setInt(this, calls, fd, n.IPPROTO_TCP, n.idleOption, toSeconds(ms), "idle");
    },
    setInterval(calls: SocketCalls, fd: Descriptor, ms: number): void {
      setInt(this, calls, fd, n.IPPROTO_TCP, n.TCP_KEEPINTVL, toSeconds(ms), "interval");
    },
    setCount(calls: SocketCalls, fd: Descriptor, count: number): void {
      setInt(this, calls, fd, n.IPPROTO_TCP, n.TCP_KEEPCNT, count, "count");
    },
    setUserTimeout(calls: SocketCalls, fd: Descriptor, ms: number): void {
      if (n.userTimeoutOption === undefined) return; // only 0 passes validation here
      setInt(this, calls, fd, n.IPPROTO_TCP, n.userTimeoutOption, toSeconds(ms), "userTimeout");
    },
    apply(calls, fd, options, bestEffort): void {
      applyEach(this, calls, fd, options, bestEffort);
    },
    getKeepAlive(calls: SocketCalls, fd: Descriptor): KeepAliveInfo {
      return {
        enabled: getInt(this, calls, fd, n.SOL_SOCKET, n.SO_KEEPALIVE, "enabled") !== 0,
        idle: toMillis(getInt(this, calls, fd, n.IPPROTO_TCP, n.idleOption, "idle")),
        interval: toMillis(getInt(this, calls, fd, n.IPPROTO_TCP, n.TCP_KEEPINTVL, "interval")),
        count: getInt(this, calls, fd, n.IPPROTO_TCP, n.TCP_KEEPCNT, "count"),
        userTimeout: n.userTimeoutOption === undefined
          ? 0
          : toMillis(getInt(this, calls, fd, n.IPPROTO_TCP, n.userTimeoutOption, "userTimeout")),
      };
    },
    tcpSocket(calls: SocketCalls, fd: Descriptor): KnownKeepAlive | undefined {
      const buf = new Uint8Array(4);
      return calls.getsockopt(fd, n.SOL_SOCKET, n.SO_TYPE, buf) === 4 &&
          new Int32Array(buf.buffer)[0] === n.SOCK_STREAM
        ? NOTHING_READ
        : undefined;
    },
    cookie: () => undefined,
    peek(calls: SocketCalls, fd: Descriptor): "open" | "ended" {
      const revents = calls.poll(fd, 0);
      if (revents < 0) return "ended";
      return revents & (n.POLLERR | n.POLLHUP | n.POLLNVAL) ? "ended" : "open";
    },
    health(calls: SocketCalls, fd: Descriptor): TcpHealth {
      const bytes = new Uint8Array(n.info.size);
      const length = calls.getsockopt(fd, n.IPPROTO_TCP, n.info.option, bytes);
      if (length < 0) {
        throw healthError(n.errnoNames, "getsockopt", `getsockopt(${n.info.name})`, -length);
      }
      return n.info.decode(bytes, length);
    },
  };
}

/**
 * macOS's `struct tcp_connection_info` (ffi/macos.ts {@linkcode macosNumbers.TCP_CONNECTION_INFO_LAYOUT})
 * of which the kernel filled `length` bytes, as {@linkcode TcpHealth}. xnu counts in
 * milliseconds and bytes. It fills nothing but the state for a closed or listening socket, and
 * reports the RTO only while the retransmission timer runs (0, so absent, otherwise). No
 * keepalive probe count, no unacknowledged segments, no time since the last arrival.
 */
export function decodeTcpConnectionInfo(bytes: Uint8Array, length: number): TcpHealth {
  const f = macosNumbers.TCP_CONNECTION_INFO_LAYOUT.fields;
  const read = structReader(bytes, length);
  const health: TcpHealth = {};
  const state = read(f.tcpi_state);
  put(
    health,
    "state",
    tcpState(state, macosNumbers.TCP_STATE_NAMES),
  );
  if (health.state === undefined || health.state === "CLOSED" || health.state === "LISTEN") {
    return health;
  }
  const rtt = measured(read(f.tcpi_srtt));
  if (rtt !== undefined) {
    health.rtt = rtt;
    put(health, "rttVariance", read(f.tcpi_rttvar));
  }
  put(health, "rto", measured(read(f.tcpi_rto)));
  put(health, "sendQueue", read(f.tcpi_snd_sbbytes));
  put(health, "totalRetransmits", read(f.tcpi_txretransmitpackets));
  put(health, "congestionWindow", read(f.tcpi_snd_cwnd));
  put(health, "mss", read(f.tcpi_maxseg));
  put(health, "sendWindow", read(f.tcpi_snd_wnd));
  put(health, "bytesSent", read(f.tcpi_txbytes));
  put(health, "bytesReceived", read(f.tcpi_rxbytes));
  put(health, "bytesRetransmitted", read(f.tcpi_txretransmitbytes));
  return health;
}

/**
 * FreeBSD's `struct tcp_info` (ffi/freebsd.ts {@linkcode freebsdNumbers.TCP_INFO_LAYOUT}) of which
 * the kernel filled `length` bytes, as {@linkcode TcpHealth}: µs to ms for the times. FreeBSD's
 * `tcpi_last_data_recv` is the time since any segment arrived, so it is `lastAckReceived` here.
 * No keepalive probe count and no unacknowledged count (those fields are placeholders).
 */
export function decodeFreebsdTcpInfo(bytes: Uint8Array, length: number): TcpHealth {
  const f = freebsdNumbers.TCP_INFO_LAYOUT.fields;
  const read = structReader(bytes, length);
  const health: TcpHealth = {};
  const state = read(f.tcpi_state);
  put(
    health,
    "state",
    tcpState(state, freebsdNumbers.TCP_STATE_NAMES),
  );
  if (health.state === "LISTEN") return health;
  // t_srtt is 0 (TCPTV_SRTTBASE) until the first round trip is measured.
  const rtt = measured(read(f.tcpi_rtt));
  if (rtt !== undefined) {
    health.rtt = usToMs(rtt);
    put(health, "rttVariance", usToMs(read(f.tcpi_rttvar)));
  }
  put(health, "rto", usToMs(read(f.tcpi_rto)));
  put(health, "totalRetransmits", read(f.tcpi_snd_rexmitpack));
  put(health, "lastAckReceived", usToMs(read(f.tcpi_last_data_recv)));
  put(health, "congestionWindow", read(f.tcpi_snd_cwnd));
  put(health, "mss", read(f.tcpi_snd_mss));
  put(health, "sendWindow", read(f.tcpi_snd_wnd));
  return health;
}

/** macOS. */
export const macos: Platform = bsd({
  os: "macOS",
  errnoNames: macosNumbers.ERRNO_NAMES,
  SOL_SOCKET: macosNumbers.SOL_SOCKET,
  SO_KEEPALIVE: macosNumbers.SO_KEEPALIVE,
  SO_TYPE: macosNumbers.SO_TYPE,
  SOCK_STREAM: macosNumbers.SOCK_STREAM,
  IPPROTO_TCP: macosNumbers.IPPROTO_TCP,
  idleOption: macosNumbers.TCP_KEEPALIVE,
  TCP_KEEPINTVL: macosNumbers.TCP_KEEPINTVL,
  TCP_KEEPCNT: macosNumbers.TCP_KEEPCNT,
  userTimeoutOption: macosNumbers.TCP_RXT_CONNDROPTIME,
  maxSeconds: macosNumbers.MAX_DURATION_SECONDS,
  AF_INET: macosNumbers.AF_INET,
  AF_INET6: macosNumbers.AF_INET6,
  POLLERR: macosNumbers.POLLERR,
  POLLHUP: macosNumbers.POLLHUP,
  POLLNVAL: macosNumbers.POLLNVAL,
  info: {
    name: "TCP_CONNECTION_INFO",
    option: macosNumbers.TCP_CONNECTION_INFO,
    size: macosNumbers.TCP_CONNECTION_INFO_LAYOUT.size,
    decode: decodeTcpConnectionInfo,
  },
});

/** FreeBSD. */
export const freebsd: Platform = bsd({
  os: "FreeBSD",
  errnoNames: freebsdNumbers.ERRNO_NAMES,
  SOL_SOCKET: freebsdNumbers.SOL_SOCKET,
  SO_KEEPALIVE: freebsdNumbers.SO_KEEPALIVE,
  SO_TYPE: freebsdNumbers.SO_TYPE,
  SOCK_STREAM: freebsdNumbers.SOCK_STREAM,
  IPPROTO_TCP: freebsdNumbers.IPPROTO_TCP,
  idleOption: freebsdNumbers.TCP_KEEPIDLE,
  TCP_KEEPINTVL: freebsdNumbers.TCP_KEEPINTVL,
  TCP_KEEPCNT: freebsdNumbers.TCP_KEEPCNT,
  userTimeoutOption: undefined,
  maxSeconds: freebsdNumbers.MAX_DURATION_SECONDS,
  AF_INET: freebsdNumbers.AF_INET,
  AF_INET6: freebsdNumbers.AF_INET6,
  POLLERR: freebsdNumbers.POLLERR,
  POLLHUP: freebsdNumbers.POLLHUP,
  POLLNVAL: freebsdNumbers.POLLNVAL,
  info: {
    name: "TCP_INFO",
    option: freebsdNumbers.TCP_INFO,
    size: freebsdNumbers.TCP_INFO_LAYOUT.size,
    decode: decodeFreebsdTcpInfo,
  },
});
